import { VnfError } from './errors.js';
import { native } from './native.js';

/** Largest burst a {@link Burst} can hold. DPDK and VPP data paths use 32 to 256. */
export const MAX_BURST = 4096;

/**
 * A reusable holder of buffer indices: `ids[0 .. count)` are the buffers it owns.
 *
 * The index array lives in native memory registered once with the core, so each pool or
 * ring call passes two small integers instead of an array. Create bursts once, at start-up,
 * and reuse them: that is what keeps the data path free of allocations.
 *
 * Calls that take buffers out of a pool or ring append after `count`; calls that hand
 * buffers over (put, enqueue) remove them from the burst, leaving what was not taken at
 * the front. A burst belongs to the thread that created it.
 */
export class Burst {
  /** Buffer indices; only the first `count` are meaningful. */
  readonly ids: Uint32Array;
  /** Number of buffers the burst holds. */
  count = 0;
  /** Maximum number of buffers. */
  readonly capacity: number;
  /** @internal Native handle. */
  readonly handle: number;

  constructor(capacity = 32) {
    if (!Number.isInteger(capacity) || capacity < 1 || capacity > MAX_BURST) {
      throw new VnfError(
        'VNF_INVALID_ARGUMENT',
        `Burst capacity ${capacity} must be an integer from 1 to ${MAX_BURST}`,
      );
    }
    const b = native.burstCreate(capacity);
    this.handle = b.handle;
    this.ids = b.ids;
    this.capacity = capacity;
  }

  /** Room left: how many more buffers fit. */
  get room(): number {
    return this.capacity - this.count;
  }

  /**
   * Drops the first `n` buffers from the burst (they have been handed elsewhere) and moves
   * the rest to the front.
   */
  consume(n: number): void {
    if (n >= this.count) {
      this.count = 0;
      return;
    }
    if (n > 0) {
      this.ids.copyWithin(0, n, this.count);
      this.count -= n;
    }
  }
}
