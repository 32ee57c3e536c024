import { type Mempool, VnfError } from '@vnf-sdk/core';
import { checkPortId, KernelPort } from './port.js';

/** Options of {@link AfXdpPort}. */
export interface AfXdpPortOptions {
  /** Interface name, e.g. `'eth0'` or a veth. Required. */
  interface: string;
  /** Port id written into each received buffer's `meta.port`. Default 0. */
  id?: number;
  /**
   * Receive/transmit queue ids of the interface, one AF_XDP socket each; port queue `i` is
   * interface queue `queues[i]`. Default `[0]`. Give this or `queueCount`, not both.
   */
  queues?: readonly number[];
  /** Shorthand for `queues: [0 .. queueCount)`. */
  queueCount?: number;
  /**
   * `'copy'`: the kernel copies frames between its buffers and the pool (works on every
   * interface). `'zerocopy'`: the driver works in the pool's memory directly, or open fails
   * (VNF_INVALID_ARGUMENT naming the driver: veth, for one, has no zero-copy support).
   * `'auto'` (default): zero-copy when the driver supports it, else copy (see
   * {@link AfXdpPort.modeNote}).
   */
  mode?: 'auto' | 'copy' | 'zerocopy';
  /**
   * How the redirect program is attached: `'native'` (in the driver, XDP_FLAGS_DRV_MODE),
   * `'generic'` (after the kernel built an skb, XDP_FLAGS_SKB_MODE, slower, works
   * everywhere) or `'auto'` (default: native, else generic).
   */
  xdpMode?: 'auto' | 'native' | 'generic';
  /** Use the need_wakeup protocol: kick the kernel only when it asks. Default true. */
  needWakeup?: boolean;
  /** Receive ring descriptors per queue: a power of two from 64 to 32768. Default 1024. */
  rxSize?: number;
  /** Transmit ring descriptors per queue: a power of two from 64 to 32768. Default 1024. */
  txSize?: number;
  /**
   * Fill ring entries per queue (a power of two from 64 to 32768, default 1024). The port
   * keeps it full: that many pool buffers per queue are lent to the kernel while it is open.
   */
  fillSize?: number;
  /** Completion ring entries per queue: a power of two from 64 to 32768. Default 1024. */
  completionSize?: number;
}

const RING_OPTIONS = ['rxSize', 'txSize', 'fillSize', 'completionSize'] as const;
const KNOWN = new Set(['interface', 'id', 'queues', 'queueCount', 'mode', 'xdpMode', 'needWakeup', ...RING_OPTIONS]);

function bad(message: string): never {
  throw new VnfError('VNF_INVALID_ARGUMENT', `AfXdpPort: ${message}`);
}

function checkOptions(options: AfXdpPortOptions): void {
  if (options === null || typeof options !== 'object') bad('options must be an object');
  for (const key of Object.keys(options)) if (!KNOWN.has(key)) bad(`unknown option '${key}'`);
  const name = options.interface;
  if (typeof name !== 'string' || name.length === 0 || name.length > 15) {
    bad(`interface must be an interface name of 1 to 15 characters, got ${JSON.stringify(name)}`);
  }
  if (options.queues !== undefined) {
    if (options.queueCount !== undefined) bad(`${name}: give queues or queueCount, not both`);
    if (!Array.isArray(options.queues) || options.queues.length === 0 || options.queues.length > 64) {
      bad(`${name}: queues must be an array of 1 to 64 queue ids`);
    }
    const seen = new Set<number>();
    for (const q of options.queues) {
      if (!Number.isInteger(q) || q < 0 || q > 65535) bad(`${name}: queues must hold integers from 0 to 65535, got ${String(q)}`);
      if (seen.has(q)) bad(`${name}: queue id ${q} is listed twice in queues`);
      seen.add(q);
    }
  }
  const qc = options.queueCount;
  if (qc !== undefined && (!Number.isInteger(qc) || qc < 1 || qc > 64)) {
    bad(`${name}: queueCount must be an integer from 1 to 64, got ${String(qc)}`);
  }
  if (options.mode !== undefined && !['auto', 'copy', 'zerocopy'].includes(options.mode)) {
    bad(`${name}: mode must be 'auto', 'copy' or 'zerocopy', got ${JSON.stringify(options.mode)}`);
  }
  if (options.xdpMode !== undefined && !['auto', 'native', 'generic'].includes(options.xdpMode)) {
    bad(`${name}: xdpMode must be 'auto', 'native' or 'generic', got ${JSON.stringify(options.xdpMode)}`);
  }
  if (options.needWakeup !== undefined && typeof options.needWakeup !== 'boolean') {
    bad(`${name}: needWakeup must be a boolean, got ${JSON.stringify(options.needWakeup)}`);
  }
  for (const key of RING_OPTIONS) {
    const v = options[key];
    if (v === undefined) continue;
    if (!Number.isInteger(v) || v < 64 || v > 32768 || (v & (v - 1)) !== 0) {
      bad(`${name}: ${key} must be a power of two from 64 to 32768, got ${String(v)}`);
    }
  }
}

/**
 * An AF_XDP port: the pool's buffers are registered as the UMEM, so receive hands out the
 * very buffers the kernel wrote into and transmit sends buffers from where they lie.
 *
 * ```
 *            fill ring ->                 <- completion ring
 *   pool  ====================  kernel  ======================  pool
 *            <- RX ring                   TX ring ->
 * ```
 *
 * One AF_XDP socket per queue id, sharing the UMEM; an XDP program (loaded with the raw
 * `bpf()` system call, no libbpf) redirects each receive queue to its socket and is
 * attached through a BPF link, so it goes away when the port closes or the process dies.
 * Needs CAP_NET_RAW, CAP_NET_ADMIN and CAP_BPF (or root). See docs/ports-afxdp.md.
 *
 * Counters: rx/tx packets and bytes (tx counted when handed to the kernel); `rxDrops` from
 * the kernel's socket statistics (RX ring full, fill ring empty because the pool ran short),
 * read by `stats()`; `txErrors` for frames that cannot be sent (over MTU + 14 bytes, bad
 * length, multi-buffer), which are freed.
 */
export class AfXdpPort extends KernelPort {
  readonly kind = 'afXdp';
  /** `'copy'` or `'zerocopy'`: what the kernel granted. */
  readonly mode: 'copy' | 'zerocopy';
  /** `'native'` or `'generic'`: how the XDP program is attached. */
  readonly xdpMode: 'native' | 'generic';
  /** Why the port is not in the mode `'auto'` would prefer (empty when it is). */
  readonly modeNote: string;
  /** Interface queue id of each port queue. */
  readonly queueIds: readonly number[];
  readonly ifindex: number;
  /** Kernel driver of the interface (e.g. `'veth'`). */
  readonly driver: string;
  readonly mtu: number;

  constructor(pool: Mempool, options: AfXdpPortOptions) {
    checkOptions(options);
    const id = checkPortId(options.id, `AfXdpPort ${options.interface}`);
    const { id: _id, ...rest } = options;
    super('afXdp', pool, id, rest);
    const info = this.native.info;
    this.mode = info.mode as 'copy' | 'zerocopy';
    this.xdpMode = info.xdpMode as 'native' | 'generic';
    this.modeNote = String(info.modeNote ?? '');
    this.queueIds = info.queueIds as number[];
    this.ifindex = info.ifindex as number;
    this.driver = String(info.driver ?? '');
    this.mtu = info.mtu as number;
  }
}
