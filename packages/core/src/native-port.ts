import type { Burst } from './burst.js';
import { STATUS, VnfError } from './errors.js';
import { Mempool } from './mempool.js';
import { type NativePortInfo, native } from './native.js';

/** Kernel-facing port drivers built into the native core. */
export type NativePortKind = 'afPacket' | 'tap' | 'afXdp' | 'virtioUser' | 'vhostUser';

/** Index of each per-queue counter in {@link NativePort.counters} (`queue * PORT_COUNTERS + i`). */
export const PortCounter = {
  rxPackets: 0,
  rxBytes: 1,
  /** Dropped before the port saw them: kernel ring full, or no free buffer in the pool. */
  rxDrops: 2,
  /** Frames the port could not take: truncated, or too big for a buffer. */
  rxErrors: 3,
  txPackets: 4,
  txBytes: 5,
  /** Taken by txBurst but not sent (the kernel refused them); counted and freed. */
  txDrops: 6,
  /** Not sendable: over the MTU, or a chain too long; counted and freed. */
  txErrors: 7,
} as const;
/** Counters per queue. */
export const PORT_COUNTERS = 8;

const finalizer = new FinalizationRegistry<number>((handle) => native.portClose(handle));

/**
 * A port driver of the native core, bound to one pool: the low-level layer under
 * `@vnf-sdk/ports` (use that package's `Port` classes in applications).
 *
 * Receive takes fresh buffers from the pool and appends them to a burst; transmit hands
 * a prefix of a burst to the kernel, and those buffers return to the pool once sent. One
 * native call per burst. A port belongs to the thread that opened it.
 */
export class NativePort {
  readonly name: string;
  readonly queues: number;
  /** Per queue: a descriptor that polls readable when there is something to receive. */
  readonly fds: readonly number[];
  /** Live counters, {@link PORT_COUNTERS} per queue, indexed by {@link PortCounter}. */
  readonly counters: Float64Array;
  /** What the driver reported at open (MAC address, MTU, mode, ...). */
  readonly info: Readonly<NativePortInfo>;
  private handle: number;

  private constructor(info: NativePortInfo) {
    this.handle = info.handle;
    this.name = info.name;
    this.queues = info.queues;
    this.fds = info.fds;
    this.counters = info.counters;
    this.info = info;
    finalizer.register(this, this.handle, this);
  }

  /**
   * Opens a port with a driver of the native core. Throws a VnfError naming the interface
   * and the cause (VNF_NO_DEVICE, VNF_PERMISSION, VNF_LINK_DOWN, VNF_INVALID_ARGUMENT ...).
   */
  static open(kind: NativePortKind, pool: Mempool, options: object): NativePort {
    const fn = {
      afPacket: native.portOpenAfPacket,
      tap: native.portOpenTap,
      afXdp: native.portOpenAfXdp,
      virtioUser: native.portOpenVirtioUser,
      vhostUser: native.portOpenVhostUser,
    }[kind];
    if (typeof fn !== 'function') {
      throw new VnfError('VNF_INVALID_ARGUMENT', `NativePort.open: this build of the native core has no '${kind}' driver`);
    }
    return new NativePort(fn(Mempool.handleOf(pool), options));
  }

  /**
   * Receives up to `max` packets (default: the burst's room) on `queue`, appending their
   * buffers after `burst.count`. Returns how many. Throws VNF_PORT (or another code) when
   * the port failed; the message names the interface and the cause.
   */
  rx(burst: Burst, queue = 0, max: number = burst.capacity - burst.count): number {
    const r = native.portRx(this.handle, queue, burst.handle, burst.count, max);
    if (r < 0) throw this.error(r, 'rx', queue);
    burst.count += r;
    return r;
  }

  /**
   * Transmits the burst's buffers from the front on `queue`; the ones taken are removed
   * from the burst (they belong to the port, then to the pool), the rest stay at its front.
   * Returns how many were taken.
   */
  tx(burst: Burst, queue = 0, n: number = burst.count): number {
    const r = native.portTx(this.handle, queue, burst.handle, 0, n);
    if (r < 0) throw this.error(r, 'tx', queue);
    burst.consume(r);
    return r;
  }

  /** Updates kernel-side counters (ring drops) and returns the link state. */
  refresh(): { linkUp: boolean } {
    return native.portRefresh(this.handle);
  }

  /**
   * The last failure the driver recorded, naming the interface: a refused frame ("eth0:
   * frame of 1600 bytes exceeds MTU 1500"), a failed kick; '' when there was none.
   */
  lastError(): string {
    return native.portError(this.handle);
  }

  /** Closes the port; buffers it held go back to the pool. Closing twice is fine. */
  close(): void {
    if (native.portClose(this.handle)) finalizer.unregister(this);
  }

  private error(status: number, op: string, queue: number): VnfError {
    const code = STATUS[status] ?? 'VNF_PORT';
    if (code === 'VNF_CLOSED') return new VnfError(code, `port '${this.name}'.${op}: the port or its pool is closed`);
    if (code === 'VNF_INVALID_ARGUMENT')
      return new VnfError(code, `port '${this.name}'.${op}: queue ${queue} must be an integer below ${this.queues}`);
    if (code === 'VNF_INDEX_RANGE')
      return new VnfError(
        code,
        `port '${this.name}'.${op}: buffer index ${native.scratch[1]} at burst position ${native.scratch[2]} is not a buffer of the port's pool`,
      );
    if (code === 'VNF_BAD_HANDLE') return new VnfError(code, `port '${this.name}'.${op}: the burst was not created on this thread`);
    if (code === 'VNF_BURST_CAPACITY') return new VnfError(code, `port '${this.name}'.${op}: the burst has no room`);
    const why = native.portError(this.handle);
    return new VnfError(code, why || `port '${this.name}'.${op} failed with ${code}`);
  }
}

/**
 * Blocks the calling thread until one of `fds` is readable or `timeoutMs` passes; returns
 * how many are readable. The idle back-off of a worker loop: call it when a poll found
 * nothing, never on the main thread of a server.
 */
export function waitReadable(fds: Int32Array, timeoutMs: number): number {
  return native.waitReadable(fds, timeoutMs);
}
