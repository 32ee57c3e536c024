import { type Burst, type Mempool, NativePort, type NativePortKind, PORT_COUNTERS, PortCounter, VnfError } from '@vnf-sdk/core';

/** Packet and byte counters of a port or of one of its queues. */
export interface PortStats {
  rxPackets: number;
  rxBytes: number;
  /** Dropped before the port saw them: kernel ring full, or no free buffer in the pool. */
  rxDrops: number;
  /** Frames the port could not take: truncated, or too big for a buffer. */
  rxErrors: number;
  txPackets: number;
  txBytes: number;
  /** Taken by txBurst but not sent; counted and freed. */
  txDrops: number;
  /** Not sendable (over the MTU, ...); counted and freed. */
  txErrors: number;
}

/**
 * One packet I/O port: a device, file or ring that bursts of buffers are received from and
 * transmitted to. Every port is bound to one pool: received buffers come from it, sent
 * ones go back to it. A port object belongs to the thread that opened it.
 *
 * - `rxBurst(burst, queue)` appends up to `burst.room` received buffers after `burst.count`
 *   and returns how many.
 * - `txBurst(burst, queue)` sends buffers from the front of the burst, removes the ones it
 *   took and returns how many: those belong to the port now; the unsent ones stay at the
 *   front of the burst, the caller's (to retry or to free).
 */
export interface Port {
  /** Interface or file name, used in errors and counters. */
  readonly name: string;
  /** Driver: 'afPacket', 'afXdp', 'tap', 'pcap', 'ring', 'generator', 'null'. */
  readonly kind: string;
  /** Written into each received buffer's `meta.port`. */
  readonly id: number;
  /** Queues this port object owns (in this thread). */
  readonly queues: number;
  readonly pool: Mempool;
  /** Live counters: {@link PORT_COUNTERS} per queue, indexed by `PortCounter`. */
  readonly counters: Float64Array;
  /** Descriptors that poll readable when a queue has packets; empty when the port has none. */
  readonly waitFds: readonly number[];
  rxBurst(burst: Burst, queue?: number): number;
  txBurst(burst: Burst, queue?: number): number;
  /** Totals over the port's queues. */
  stats(): PortStats;
  queueStats(queue: number): PortStats;
  /** Whether the link is up (always true for files, rings and generators). */
  linkUp(): boolean;
  /**
   * True once the port will never receive again (a capture file read to its end, a
   * generator that sent its count). Live interfaces never finish.
   */
  finished(): boolean;
  /** Releases the port; buffers it still holds go back to the pool. Closing twice is fine. */
  close(): void;
}

/** Reads a {@link PortStats} out of a counters array, for one queue or summed over all. */
export function statsOf(counters: Float64Array, queue?: number): PortStats {
  const s: PortStats = { rxPackets: 0, rxBytes: 0, rxDrops: 0, rxErrors: 0, txPackets: 0, txBytes: 0, txDrops: 0, txErrors: 0 };
  const first = queue ?? 0;
  const last = queue === undefined ? counters.length / PORT_COUNTERS : queue + 1;
  for (let q = first; q < last; q++) {
    const b = q * PORT_COUNTERS;
    s.rxPackets += counters[b + PortCounter.rxPackets];
    s.rxBytes += counters[b + PortCounter.rxBytes];
    s.rxDrops += counters[b + PortCounter.rxDrops];
    s.rxErrors += counters[b + PortCounter.rxErrors];
    s.txPackets += counters[b + PortCounter.txPackets];
    s.txBytes += counters[b + PortCounter.txBytes];
    s.txDrops += counters[b + PortCounter.txDrops];
    s.txErrors += counters[b + PortCounter.txErrors];
  }
  return s;
}

/** Checks a port id: an integer 0..65534 (65535 means "no port" in metadata). */
export function checkPortId(id: unknown, where: string): number {
  if (id === undefined) return 0;
  if (typeof id !== 'number' || !Number.isInteger(id) || id < 0 || id > 0xfffe) {
    throw new VnfError('VNF_INVALID_ARGUMENT', `${where}: id must be an integer from 0 to 65534, got ${String(id)}`);
  }
  return id;
}

/**
 * Base of the ports implemented in TypeScript (pcap, ring, generator, null): counters in a
 * plain Float64Array with the native ports' layout, so every port reads the same way.
 */
export abstract class JsPort implements Port {
  abstract readonly kind: string;
  readonly counters: Float64Array;
  readonly waitFds: readonly number[] = [];

  constructor(
    readonly name: string,
    readonly pool: Mempool,
    readonly id: number,
    readonly queues = 1,
  ) {
    this.counters = new Float64Array(PORT_COUNTERS * queues);
  }

  abstract rxBurst(burst: Burst, queue?: number): number;
  abstract txBurst(burst: Burst, queue?: number): number;

  stats(): PortStats {
    return statsOf(this.counters);
  }
  queueStats(queue: number): PortStats {
    return statsOf(this.counters, queue);
  }
  linkUp(): boolean {
    return true;
  }
  finished(): boolean {
    return false;
  }
  close(): void {}
}

/**
 * Base of the ports whose driver is in the native core (AF_PACKET, TAP, AF_XDP): one
 * native call per burst, counters kept by the driver and read through a view.
 */
export abstract class KernelPort implements Port {
  abstract readonly kind: string;
  readonly name: string;
  readonly queues: number;
  readonly counters: Float64Array;
  readonly waitFds: readonly number[];
  protected readonly native: NativePort;

  protected constructor(
    kind: NativePortKind,
    readonly pool: Mempool,
    readonly id: number,
    options: object,
  ) {
    this.native = NativePort.open(kind, pool, { ...options, id });
    this.name = this.native.name;
    this.queues = this.native.queues;
    this.counters = this.native.counters;
    this.waitFds = this.native.fds.filter((fd) => fd >= 0);
  }

  rxBurst(burst: Burst, queue = 0): number {
    return this.native.rx(burst, queue);
  }
  txBurst(burst: Burst, queue = 0): number {
    return this.native.tx(burst, queue);
  }
  /** Totals; kernel-side drop counters are read first. */
  stats(): PortStats {
    this.native.refresh();
    return statsOf(this.counters);
  }
  queueStats(queue: number): PortStats {
    this.native.refresh();
    return statsOf(this.counters, queue);
  }
  linkUp(): boolean {
    return this.native.refresh().linkUp;
  }
  finished(): boolean {
    return false;
  }
  /**
   * The last failure the driver recorded, naming the interface and the cause (a frame
   * counted in txErrors: "eth0: frame of 1600 bytes exceeds MTU 1500"); '' when none.
   */
  lastError(): string {
    return this.native.lastError();
  }
  close(): void {
    this.native.close();
  }
}
