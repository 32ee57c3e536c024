// Loads the native core, sharp-style: one loader, a fixed search order, and one error that
// lists what to do when every candidate fails. Never a bare "module not found".
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { VnfError } from './errors.js';
import type { MempoolStats } from './mempool.js';

/** Shape of the raw binding (native/src/addon.cc). Internal: use the classes instead. */
export interface NativeBinding {
  scratch: Uint32Array;
  setErrorClass(ctor: unknown): void;
  poolCreate(options: object): NativePoolInfo;
  poolAttach(id: number): NativePoolInfo;
  poolClose(handle: number, detachViews?: boolean): boolean;
  poolStats(handle: number): MempoolStats;
  poolGet(pool: number, burst: number, start: number, n: number): number;
  poolAlloc(pool: number, burst: number, start: number, n: number): number;
  poolPut(pool: number, burst: number, start: number, n: number): number;
  poolOwns(pool: number, index: number): number;
  ringCreate(options: object): NativeRingInfo;
  ringAttach(id: number): NativeRingInfo;
  ringClose(handle: number): boolean;
  ringEnqueueBulk(ring: number, burst: number, start: number, n: number): number;
  ringEnqueueBurst(ring: number, burst: number, start: number, n: number): number;
  ringDequeueBulk(ring: number, burst: number, start: number, n: number): number;
  ringDequeueBurst(ring: number, burst: number, start: number, n: number): number;
  ringCount(ring: number): number;
  burstCreate(capacity: number): { handle: number; ids: Uint32Array };
  noop(): void;
  portRx(port: number, queue: number, burst: number, start: number, max: number): number;
  portTx(port: number, queue: number, burst: number, start: number, n: number): number;
  portClose(port: number): boolean;
  portRefresh(port: number): { linkUp: boolean };
  portError(port: number): string;
  portCounterCount: number;
  waitReadable(fds: Int32Array, timeoutMs: number): number;
  portOpenAfPacket?(pool: number, options: object): NativePortInfo;
  portOpenTap?(pool: number, options: object): NativePortInfo;
  portOpenAfXdp?(pool: number, options: object): NativePortInfo;
  portOpenVirtioUser?(pool: number, options: object): NativePortInfo;
  portOpenVhostUser?(pool: number, options: object): NativePortInfo;
  aclTableCreate(): { handle: number; id: number };
  aclTableAttach(id: number): number;
  aclTableClose(handle: number): boolean;
  aclTableLoad(handle: number, records: Uint32Array, options: object): Promise<import('./native-acl.js').AclSetStats>;
  aclTableStats(handle: number): import('./native-acl.js').AclSetStats | null;
  aclTableCounters(handle: number): { generation: number; counters: Float64Array } | null;
  aclReaderCreate(tableId: number, pool: number, steps: Uint16Array, capacity: number, zones?: Uint16Array): { handle: number; match: Uint32Array };
  aclReaderClose(handle: number): boolean;
  aclClassify(reader: number, burst: number, start: number, n: number): number;
  ctTableCreate(options: object): { handle: number; id: number };
  ctTableAttach(id: number): number;
  ctTableClose(handle: number): boolean;
  ctTableStats(handle: number): import('./native-conntrack.js').ConntrackStats;
  ctTableExpire(handle: number, budget: number, now?: number): number;
  ctReaderCreate(tableId: number, pool: number, steps: Uint16Array, mode: string): number;
  ctReaderClose(handle: number): boolean;
  ctProcess(reader: number, burst: number, start: number, n: number, now?: number): number;
  natCreate(options: object): { handle: number; id: number };
  natAttach(id: number): number;
  natClose(handle: number): boolean;
  natStats(handle: number): import('./native-nat.js').NativeNatStats;
  natDrain(handle: number, max: number): import('./native-nat.js').NativeNatEvent[];
  natExpire(handle: number, budget: number): number;
  natReaderCreate(natId: number, pool: number, steps: Uint16Array, outsidePorts: number[]): number;
  natReaderClose(handle: number): boolean;
  natProcess(reader: number, burst: number, start: number, n: number): number;
  natActions: string[];
  /** True when built with AddressSanitizer (native/build-asan). */
  sanitized: boolean;
}

export interface NativeMetaField {
  /** Exactly this field's array: count * width bytes. */
  buffer: ArrayBuffer;
  width: number;
  /** Offset of the array in the region. */
  offset: number;
}

export interface NativePoolInfo {
  handle: number;
  id: number;
  name: string;
  count: number;
  bufferSize: number;
  headroom: number;
  cacheSize: number;
  debug: boolean;
  hugepages: boolean;
  pageNote: string;
  pageSize: number;
  fd: number;
  regionSize: number;
  buffersSize: number;
  buffers: ArrayBuffer;
  meta: Record<string, NativeMetaField>;
  layoutOffset: number;
  overheadPerBuffer: number;
}

/** What a port driver's open function returns; drivers add their own fields. */
export interface NativePortInfo {
  handle: number;
  name: string;
  queues: number;
  fds: number[];
  counters: Float64Array;
  linkUp: boolean;
  [extra: string]: unknown;
}

export interface NativeRingInfo {
  handle: number;
  id: number;
  name: string;
  size: number;
  capacity: number;
  singleProducer: boolean;
  singleConsumer: boolean;
  exact: boolean;
  bytes: number;
}

const ADDON = 'vnf_core.node';

/** Where the loader looks, in order. Exported for the error message and for tests. */
export function nativeCandidates(): string[] {
  const here = dirname(fileURLToPath(import.meta.url));
  const pkg = join(here, '..');
  const list: string[] = [];
  if (process.env.VNF_NATIVE_PATH) list.push(process.env.VNF_NATIVE_PATH);
  // In the monorepo: the addon freshly built from native/ (src/ and dist/ sit at one depth).
  list.push(join(pkg, '..', '..', 'native', 'build', 'Release', ADDON));
  // In a published package: the binary shipped for this platform.
  list.push(join(pkg, 'prebuilds', `${process.platform}-${process.arch}`, ADDON));
  return list;
}

function load(): NativeBinding {
  const require = createRequire(import.meta.url);
  const tried: string[] = [];
  for (const path of nativeCandidates()) {
    if (!existsSync(path)) {
      tried.push(`  ${path}: not found`);
      continue;
    }
    try {
      return require(path) as NativeBinding;
    } catch (err) {
      tried.push(`  ${path}: ${(err as Error).message}`);
    }
  }
  throw new VnfError(
    'VNF_NATIVE_LOAD',
    [
      `@vnf-sdk/core: could not load the native core for ${process.platform}-${process.arch} (Node ${process.versions.node}).`,
      'Tried:',
      ...tried,
      'Possible fixes:',
      '  - in the vnf-sdk repository: run `npm run build` (builds native/ with node-gyp);',
      `  - this package ships a prebuilt binary for linux-x64 only; on other platforms build native/ and set VNF_NATIVE_PATH to the .node file;`,
      '  - Node.js must be >= 20 (N-API 8).',
    ].join('\n'),
  );
}

/** The loaded binding, shared by every module of the package. */
export const native: NativeBinding = load();
native.setErrorClass(VnfError);
