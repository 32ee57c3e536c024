import type { Burst } from './burst.js';
import { STATUS, VnfError } from './errors.js';
import { type NativeRingInfo, native } from './native.js';

/** Options of {@link Ring.create}. */
export interface RingOptions {
  /**
   * Slots: a power of two (usable capacity `size - 1`, as `rte_ring`), or with `exact`
   * any count, which is then the exact capacity.
   */
  size: number;
  /** `'single'` when only one thread ever enqueues (faster); default `'multi'`. */
  producer?: 'single' | 'multi';
  /** `'single'` when only one thread ever dequeues (faster); default `'multi'`. */
  consumer?: 'single' | 'multi';
  /** Capacity is exactly `size` (rounded up internally), as `RING_F_EXACT_SZ`. */
  exact?: boolean;
  name?: string;
}

/** What {@link Ring.share} returns: post it to a worker and call {@link Ring.attach}. */
export interface SharedRing {
  kind: 'vnf-ring';
  id: number;
}

const finalizer = new FinalizationRegistry<number>((handle) => native.ringClose(handle));

/**
 * A lock-free ring of 32-bit buffer indices with `rte_ring` semantics. Bulk calls move all
 * or nothing; burst calls move as many as possible. Enqueue takes buffers out of a burst,
 * dequeue appends to one. Usable from any worker thread ({@link Ring.share}).
 */
export class Ring {
  readonly name: string;
  /** Slots (a power of two). */
  readonly size: number;
  /** Most entries the ring holds at once. */
  readonly capacity: number;
  readonly singleProducer: boolean;
  readonly singleConsumer: boolean;
  /** Free slots left after the last enqueue call on this handle. */
  freeSpace = 0;
  /** Entries left after the last dequeue call on this handle. */
  available = 0;
  private handle: number;
  private readonly id: number;
  private readonly scratch: Uint32Array;

  private constructor(info: NativeRingInfo) {
    this.handle = info.handle;
    this.id = info.id;
    this.name = info.name;
    this.size = info.size;
    this.capacity = info.capacity;
    this.singleProducer = info.singleProducer;
    this.singleConsumer = info.singleConsumer;
    this.freeSpace = info.capacity;
    this.scratch = native.scratch;
    finalizer.register(this, this.handle, this);
  }

  /** Creates a ring. Throws VNF_INVALID_ARGUMENT for a size that is not a power of two. */
  static create(options: RingOptions): Ring {
    if (options === null || typeof options !== 'object') {
      throw new VnfError('VNF_INVALID_ARGUMENT', 'Ring.create: options must be an object');
    }
    for (const key of ['producer', 'consumer'] as const) {
      const v = options[key];
      if (v !== undefined && v !== 'single' && v !== 'multi') {
        throw new VnfError('VNF_INVALID_ARGUMENT', `Ring.create: ${key} must be 'single' or 'multi', got ${String(v)}`);
      }
    }
    return new Ring(
      native.ringCreate({
        name: options.name,
        size: options.size,
        exact: options.exact,
        singleProducer: options.producer === 'single',
        singleConsumer: options.consumer === 'single',
      }),
    );
  }

  /** Opens, in this thread, a ring shared by another thread with {@link Ring.share}. */
  static attach(shared: SharedRing): Ring {
    if (shared?.kind !== 'vnf-ring' || !Number.isInteger(shared.id)) {
      throw new VnfError('VNF_INVALID_ARGUMENT', 'Ring.attach: expected the object returned by Ring.share()');
    }
    return new Ring(native.ringAttach(shared.id));
  }

  /** A plain object that can be posted to a worker thread. */
  share(): SharedRing {
    return { kind: 'vnf-ring', id: this.id };
  }

  /**
   * Enqueues the burst's buffers, all or nothing. Returns how many were enqueued (the
   * burst's count or 0) and removes them from the burst. {@link Ring.freeSpace} is updated.
   */
  enqueueBulk(burst: Burst): number {
    const r = native.ringEnqueueBulk(this.handle, burst.handle, 0, burst.count);
    if (r < 0) throw this.error(r, 'enqueueBulk', burst);
    this.freeSpace = this.scratch[0];
    if (r > 0) burst.count = 0;
    return r;
  }

  /**
   * Enqueues as many of the burst's buffers as fit. Returns how many; those leave the burst
   * and the rest stay in it, at the front. {@link Ring.freeSpace} is updated.
   */
  enqueueBurst(burst: Burst): number {
    const r = native.ringEnqueueBurst(this.handle, burst.handle, 0, burst.count);
    if (r < 0) throw this.error(r, 'enqueueBurst', burst);
    this.freeSpace = this.scratch[0];
    burst.consume(r);
    return r;
  }

  /**
   * Dequeues exactly `n` entries (default: the burst's room) or none, appending them to the
   * burst. Returns `n` or 0. {@link Ring.available} is updated.
   */
  dequeueBulk(burst: Burst, n: number = burst.capacity - burst.count): number {
    const r = native.ringDequeueBulk(this.handle, burst.handle, burst.count, n);
    if (r < 0) throw this.error(r, 'dequeueBulk', burst);
    this.available = this.scratch[0];
    burst.count += r;
    return r;
  }

  /** Dequeues up to `n` entries (default: the burst's room), appending them. Returns how many. */
  dequeueBurst(burst: Burst, n: number = burst.capacity - burst.count): number {
    const r = native.ringDequeueBurst(this.handle, burst.handle, burst.count, n);
    if (r < 0) throw this.error(r, 'dequeueBurst', burst);
    this.available = this.scratch[0];
    burst.count += r;
    return r;
  }

  /** Entries in the ring now. */
  count(): number {
    const r = native.ringCount(this.handle);
    if (r < 0) throw this.error(r, 'count');
    return r;
  }

  /** Free slots now. */
  freeCount(): number {
    return this.capacity - this.count();
  }

  isEmpty(): boolean {
    return this.count() === 0;
  }

  isFull(): boolean {
    return this.count() === this.capacity;
  }

  /** Closes this thread's handle; the ring is freed when every handle is closed. */
  close(): void {
    if (native.ringClose(this.handle)) finalizer.unregister(this);
  }

  private error(status: number, op: string, burst?: Burst): VnfError {
    const code = STATUS[status] ?? 'VNF_SYSTEM';
    const where = `ring '${this.name}'.${op}`;
    if (code === 'VNF_CLOSED') return new VnfError(code, `${where}: the ring handle is closed`);
    if (code === 'VNF_BURST_CAPACITY') {
      return new VnfError(code, `${where}: request does not fit a burst of capacity ${burst?.capacity} holding ${burst?.count}`);
    }
    if (code === 'VNF_BAD_HANDLE') return new VnfError(code, `${where}: the burst was not created on this thread`);
    if (code === 'VNF_INVALID_ARGUMENT') {
      return new VnfError(code, `${where}: burst.count = ${burst?.count} and n must be integers within the burst's capacity ${burst?.capacity}`);
    }
    return new VnfError(code, `${where}: failed with ${code}`);
  }
}
