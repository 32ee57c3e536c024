import { Burst, type Mempool, PortCounter, VnfError } from '@vnf-sdk/core';
import { type CapturedPacket, CaptureReader, CaptureWriter, LINKTYPE } from '@vnf-sdk/protocols';
import { checkPortId, JsPort } from './port.js';

/** Options of {@link PcapPort}. */
export interface PcapPortOptions {
  name?: string;
  /** Port id (0..65534), written into each received buffer's `meta.port`. */
  id?: number;
  /** Capture file (pcap or pcapng, Ethernet) that rxBurst reads. */
  rxPath?: string;
  /** pcap file that txBurst writes (created or truncated). */
  txPath?: string;
  /**
   * 'fast' (default): as fast as the pipeline polls. 'capture': each packet is released
   * when as much time has passed since the first as in the capture.
   */
  timing?: 'fast' | 'capture';
  /** Times to read the file (default 1); `Infinity` repeats it for ever. */
  loop?: number;
  /** Write nanosecond timestamps. Default false (microseconds, what every tool reads). */
  nanosecond?: boolean;
}

/**
 * A capture file as a port: receive reads packets from a pcap or pcapng file into pool
 * buffers (streaming: the file is never loaded whole); transmit writes packets to a pcap
 * file with the time they were sent and frees the buffers. With both paths, a pipeline runs
 * over a capture with no NIC and no privilege: the golden tests and the README's demo.
 *
 * Packets longer than a buffer's room, or of another link type than Ethernet, are counted in
 * rxErrors and skipped.
 */
export class PcapPort extends JsPort {
  readonly kind = 'pcap';
  readonly rxPath?: string;
  readonly txPath?: string;
  private reader: CaptureReader | null = null;
  private writer: CaptureWriter | null = null;
  private readonly timing: 'fast' | 'capture';
  private loopsLeft: number;
  /** Buffers taken from the pool in one call and handed out one by one. */
  private readonly spare: Burst;
  private pending = -1; // a buffer read ahead (capture timing) and not yet due
  private pendingDueNs = 0;
  private firstNs = -1n;
  private startNs = 0n;
  private done = false;
  /** Whether the current round of the file gave a packet: a file with none must not loop for ever. */
  private usableThisRound = false;
  private readonly epochOffsetNs = BigInt(Date.now()) * 1_000_000n - process.hrtime.bigint();

  constructor(pool: Mempool, options: PcapPortOptions) {
    const where = `PcapPort${options?.name ? ` '${options.name}'` : ''}`;
    if (options === null || typeof options !== 'object') {
      throw new VnfError('VNF_INVALID_ARGUMENT', `${where}: options must be an object`);
    }
    super(options.name ?? options.rxPath ?? options.txPath ?? 'pcap', pool, checkPortId(options.id, where));
    if (!options.rxPath && !options.txPath) {
      throw new VnfError('VNF_INVALID_ARGUMENT', `${where}: give rxPath, txPath or both`);
    }
    const timing = options.timing ?? 'fast';
    if (timing !== 'fast' && timing !== 'capture') {
      throw new VnfError('VNF_INVALID_ARGUMENT', `${where}: timing must be 'fast' or 'capture', got '${String(timing)}'`);
    }
    this.timing = timing;
    const loop = options.loop ?? 1;
    if (!(loop === Number.POSITIVE_INFINITY || (Number.isInteger(loop) && loop >= 1))) {
      throw new VnfError('VNF_INVALID_ARGUMENT', `${where}: loop must be a positive integer or Infinity, got ${String(loop)}`);
    }
    this.loopsLeft = loop;
    this.spare = new Burst(64);
    this.rxPath = options.rxPath;
    this.txPath = options.txPath;
    if (options.rxPath) {
      this.reader = CaptureReader.open(options.rxPath);
      const lt = this.reader.linkType;
      if (lt !== LINKTYPE.ETHERNET) {
        this.reader.close();
        throw new VnfError(
          'VNF_CAPTURE_FORMAT',
          `${where}: ${options.rxPath} has link type ${lt}; only Ethernet (${LINKTYPE.ETHERNET}) captures can be replayed into a pipeline`,
        );
      }
    } else {
      this.done = true;
    }
    if (options.txPath) {
      try {
        this.writer = CaptureWriter.open(options.txPath, { nanosecond: options.nanosecond ?? false });
      } catch (err) {
        this.reader?.close();
        throw err;
      }
    }
  }

  rxBurst(burst: Burst): number {
    if (this.done) return 0;
    const start = burst.count;
    const meta = this.pool.meta;
    while (burst.count < burst.capacity) {
      if (this.pending >= 0) {
        // Before the first packet of a round the clock has not started: it is due at once.
        const nowNs = this.startNs !== 0n ? Number(process.hrtime.bigint() - this.startNs) : 0;
        if (this.pendingDueNs > nowNs) break;
        burst.ids[burst.count++] = this.pending;
        this.pending = -1;
        continue;
      }
      const p = this.nextPacket();
      if (p === null) break;
      const room = this.pool.bufferSize - this.pool.headroom;
      if (p.data.length > room || p.linkType !== LINKTYPE.ETHERNET) {
        this.counters[PortCounter.rxErrors]++;
        continue;
      }
      this.usableThisRound = true;
      const b = this.takeBuffer();
      if (b < 0) {
        this.counters[PortCounter.rxDrops]++;
        break;
      }
      this.pool.bytes.set(p.data, b * this.pool.bufferSize + meta.dataOff[b]);
      meta.dataLen[b] = p.data.length;
      meta.port[b] = this.id;
      if (this.timing === 'capture') {
        if (this.firstNs < 0n) {
          this.firstNs = p.timestampNs;
          this.startNs = process.hrtime.bigint();
        }
        this.pending = b;
        this.pendingDueNs = Number(p.timestampNs - this.firstNs);
        continue;
      }
      burst.ids[burst.count++] = b;
    }
    const n = burst.count - start;
    let bytes = 0;
    for (let i = start; i < burst.count; i++) bytes += meta.dataLen[burst.ids[i]];
    this.counters[PortCounter.rxPackets] += n;
    this.counters[PortCounter.rxBytes] += bytes;
    return n;
  }

  txBurst(burst: Burst): number {
    const n = burst.count;
    if (n === 0) return 0;
    if (!this.writer) return 0; // receive-only: nothing is taken
    const ts = this.epochOffsetNs + process.hrtime.bigint();
    const meta = this.pool.meta;
    const bytes = this.pool.bytes;
    let total = 0;
    for (let i = 0; i < n; i++) {
      const b = burst.ids[i];
      const at = b * this.pool.bufferSize + meta.dataOff[b];
      this.writer.write(bytes.subarray(at, at + meta.dataLen[b]), ts);
      total += meta.dataLen[b];
    }
    this.pool.put(burst);
    this.counters[PortCounter.txPackets] += n;
    this.counters[PortCounter.txBytes] += total;
    return n;
  }

  override finished(): boolean {
    return this.done && this.pending < 0;
  }

  /** Writes buffered output to the file (close does it too). */
  flush(): void {
    this.writer?.flush();
  }

  override close(): void {
    if (this.pending >= 0) this.spare.ids[this.spare.count++] = this.pending;
    this.pending = -1;
    if (this.spare.count > 0) this.pool.put(this.spare);
    this.reader?.close();
    this.reader = null;
    this.writer?.close();
    this.writer = null;
    this.done = true;
  }

  private nextPacket(): CapturedPacket | null {
    for (;;) {
      const p = this.reader?.next() ?? null;
      if (p !== null) return p;
      this.loopsLeft--;
      const useless = !this.usableThisRound;
      this.usableThisRound = false;
      if (this.loopsLeft <= 0 || !this.rxPath || useless) {
        this.reader?.close();
        this.reader = null;
        this.done = true;
        return null;
      }
      // Next round: reopen, and keep capture timing continuous across rounds.
      this.reader?.close();
      this.reader = CaptureReader.open(this.rxPath);
      this.firstNs = -1n;
      this.startNs = 0n;
    }
  }

  private takeBuffer(): number {
    if (this.spare.count === 0 && this.pool.alloc(this.spare) === 0 && this.pool.alloc(this.spare, 1) === 0) return -1;
    return this.spare.ids[--this.spare.count];
  }
}
