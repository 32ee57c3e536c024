import { type Burst, type Mempool, PortCounter, VnfError } from '@vnf-sdk/core';
import { build, parseIpv4, parseMac } from '@vnf-sdk/protocols';
import { checkPortId, JsPort } from './port.js';

/** Options of {@link GeneratorPort}. */
export interface GeneratorPortOptions {
  name?: string;
  /** Port id (0..65534), written into each generated buffer's `meta.port`. */
  id?: number;
  /**
   * Frames to send, used round-robin. When given, the flow options below are ignored.
   * Each must fit in a pool buffer.
   */
  frames?: Uint8Array[];
  /** Frame length without FCS: one size, or a list used round-robin (IMIX). Default 60 (a 64-byte frame on the wire). */
  size?: number | number[];
  /** Number of flows: source address and source port step by one per flow. Default 1. */
  flows?: number;
  /** 'udp' (default) or 'tcp' (SYN segments). */
  protocol?: 'udp' | 'tcp';
  srcMac?: string;
  dstMac?: string;
  /** First source address; flow k uses srcIp + k. Default 10.0.0.1. */
  srcIp?: string;
  dstIp?: string;
  srcPort?: number;
  dstPort?: number;
  /** IPv4 TTL. Default 64. */
  ttl?: number;
  /** Packets per second; 0 (default) means as fast as the caller polls. */
  rate?: number;
  /** Total packets to generate; then the port is finished. Default: no limit. */
  count?: number;
}

const DEFAULTS = {
  srcMac: '02:00:00:00:00:01',
  dstMac: '02:00:00:00:00:02',
  srcIp: '10.0.0.1',
  dstIp: '10.0.1.1',
  srcPort: 1024,
  dstPort: 9,
};

/**
 * Synthetic traffic, like DPDK's txonly mode: every rxBurst fills fresh pool buffers with
 * prepared frames (per flow and size), at a given rate or as fast as it is polled.
 * Transmitted buffers are counted and freed (the generator is also a sink).
 *
 * The frames are built once; each packet costs one copy of its bytes into the buffer, done
 * as 32-bit words for small frames.
 */
export class GeneratorPort extends JsPort {
  readonly kind = 'generator';
  /** The frames it cycles through. */
  readonly frames: readonly Uint8Array[];
  private readonly words: Uint32Array[];
  private readonly wordView: Uint32Array;
  private next = 0;
  private sent = 0;
  private readonly limit: number;
  private readonly rate: number;
  private readonly start = performance.now();

  constructor(pool: Mempool, options: GeneratorPortOptions = {}) {
    super(options.name ?? 'generator', pool, checkPortId(options.id, 'GeneratorPort'));
    const where = `GeneratorPort '${this.name}'`;
    this.frames = options.frames ?? buildFrames(options, where);
    if (this.frames.length === 0) throw new VnfError('VNF_INVALID_ARGUMENT', `${where}: frames must not be empty`);
    const room = pool.bufferSize - pool.headroom;
    this.frames.forEach((f, i) => {
      if (!(f instanceof Uint8Array) || f.length < 1 || f.length > room) {
        throw new VnfError(
          'VNF_INVALID_ARGUMENT',
          `${where}: frame ${i} must be a Uint8Array of 1 to ${room} bytes (the pool's buffer room), got ${f?.length}`,
        );
      }
    });
    this.rate = checkNumber(options.rate ?? 0, 0, 1e9, `${where}: rate`);
    this.limit = options.count === undefined ? Number.POSITIVE_INFINITY : checkNumber(options.count, 0, 2 ** 53, `${where}: count`);
    if (!Number.isInteger(this.limit) && this.limit !== Number.POSITIVE_INFINITY) {
      throw new VnfError('VNF_INVALID_ARGUMENT', `${where}: count must be an integer, got ${this.limit}`);
    }
    // Frames padded to whole words, copied word by word into word-aligned buffer data.
    this.words = this.frames.map((f) => {
      const w = new Uint32Array(Math.ceil(f.length / 4));
      new Uint8Array(w.buffer).set(f);
      return w;
    });
    if (pool.headroom % 4 !== 0) throw new VnfError('VNF_INVALID_ARGUMENT', `${where}: the pool's headroom must be a multiple of 4`);
    this.wordView = new Uint32Array(pool.bytes.buffer, pool.bytes.byteOffset, pool.bytes.byteLength >>> 2);
  }

  rxBurst(burst: Burst): number {
    let want = burst.capacity - burst.count;
    if (this.sent + want > this.limit) want = this.limit - this.sent;
    if (this.rate > 0) {
      const due = Math.floor(((performance.now() - this.start) * this.rate) / 1000) - this.sent;
      if (due < want) want = due;
    }
    if (want <= 0) return 0;
    const start = burst.count;
    if (this.pool.alloc(burst, want) === 0) {
      // No free buffers: like a NIC without descriptors, these packets are lost (and counted).
      this.counters[PortCounter.rxDrops] += want;
      this.sent += want;
      return 0;
    }
    const ids = burst.ids;
    const meta = this.pool.meta;
    const bufWords = this.pool.bufferSize >>> 2;
    const headWords = this.pool.headroom >>> 2;
    const frames = this.frames;
    const words = this.words;
    const view = this.wordView;
    const id = this.id;
    let k = this.next;
    let bytes = 0;
    for (let i = start; i < start + want; i++) {
      const b = ids[i];
      const w = words[k];
      const at = b * bufWords + headWords;
      for (let j = 0; j < w.length; j++) view[at + j] = w[j];
      const len = frames[k].length;
      meta.dataLen[b] = len;
      meta.port[b] = id;
      bytes += len;
      k = k + 1 === frames.length ? 0 : k + 1;
    }
    this.next = k;
    this.sent += want;
    this.counters[PortCounter.rxPackets] += want;
    this.counters[PortCounter.rxBytes] += bytes;
    return want;
  }

  txBurst(burst: Burst): number {
    const n = burst.count;
    if (n === 0) return 0;
    let bytes = 0;
    for (let i = 0; i < n; i++) bytes += this.pool.meta.dataLen[burst.ids[i]];
    this.pool.put(burst);
    this.counters[PortCounter.txPackets] += n;
    this.counters[PortCounter.txBytes] += bytes;
    return n;
  }

  override finished(): boolean {
    return this.sent >= this.limit;
  }
}

function checkNumber(v: unknown, min: number, max: number, what: string): number {
  if (typeof v !== 'number' || !Number.isFinite(v) || v < min || v > max) {
    throw new VnfError('VNF_INVALID_ARGUMENT', `${what} must be a number from ${min} to ${max}, got ${String(v)}`);
  }
  return v;
}

function buildFrames(o: GeneratorPortOptions, where: string): Uint8Array[] {
  const sizes = Array.isArray(o.size) ? o.size : [o.size ?? 60];
  const flows = checkNumber(o.flows ?? 1, 1, 65536, `${where}: flows`);
  if (!Number.isInteger(flows)) throw new VnfError('VNF_INVALID_ARGUMENT', `${where}: flows must be an integer`);
  const protocol = o.protocol ?? 'udp';
  if (protocol !== 'udp' && protocol !== 'tcp') {
    throw new VnfError('VNF_INVALID_ARGUMENT', `${where}: protocol must be 'udp' or 'tcp', got '${String(protocol)}'`);
  }
  const headers = 14 + 20 + (protocol === 'udp' ? 8 : 20);
  for (const s of sizes) checkNumber(s, headers, 9000, `${where}: size (at least the ${headers} bytes of headers)`);
  const src = o.srcMac ?? DEFAULTS.srcMac;
  const dst = o.dstMac ?? DEFAULTS.dstMac;
  for (const [k, v] of [['srcMac', src], ['dstMac', dst]]) {
    if (!parseMac(v)) throw new VnfError('VNF_INVALID_ARGUMENT', `${where}: ${k} '${v}' is not a MAC address`);
  }
  const srcIp = ipToInt(o.srcIp ?? DEFAULTS.srcIp, `${where}: srcIp`);
  ipToInt(o.dstIp ?? DEFAULTS.dstIp, `${where}: dstIp`);
  const srcPort = checkNumber(o.srcPort ?? DEFAULTS.srcPort, 0, 65535, `${where}: srcPort`);
  const dstPort = checkNumber(o.dstPort ?? DEFAULTS.dstPort, 0, 65535, `${where}: dstPort`);
  const ttl = checkNumber(o.ttl ?? 64, 1, 255, `${where}: ttl`);
  const frames: Uint8Array[] = [];
  // Sizes vary fastest, so an IMIX mix is spread over every flow.
  for (let f = 0; f < flows; f++) {
    for (const size of sizes) {
      const l4 =
        protocol === 'udp'
          ? { type: 'udp' as const, srcPort: (srcPort + f) & 0xffff, dstPort }
          : { type: 'tcp' as const, srcPort: (srcPort + f) & 0xffff, dstPort, flags: 0x02 };
      frames.push(
        build([
          { type: 'ethernet', src, dst },
          { type: 'ipv4', src: intToIp((srcIp + f) >>> 0), dst: o.dstIp ?? DEFAULTS.dstIp, ttl },
          l4,
          { type: 'payload', data: new Uint8Array(size - headers) },
        ]),
      );
    }
  }
  return frames;
}

function ipToInt(s: string, what: string): number {
  const b = typeof s === 'string' ? parseIpv4(s) : null;
  if (!b) throw new VnfError('VNF_INVALID_ARGUMENT', `${what} '${String(s)}' is not an IPv4 address`);
  return ((b[0] << 24) | (b[1] << 16) | (b[2] << 8) | b[3]) >>> 0;
}

function intToIp(v: number): string {
  return `${v >>> 24}.${(v >>> 16) & 255}.${(v >>> 8) & 255}.${v & 255}`;
}
