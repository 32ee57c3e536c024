import type { Burst, Mempool } from '@vnf-sdk/core';
import { PortCounter } from '@vnf-sdk/core';
import { checkPortId, JsPort } from './port.js';

/** Options of {@link NullPort}. */
export interface NullPortOptions {
  name?: string;
  /** Port id (0..65534). */
  id?: number;
}

/**
 * A sink: receives nothing, and every transmitted buffer is counted and freed at once.
 * The end of a benchmark pipeline, like DPDK's net_null.
 */
export class NullPort extends JsPort {
  readonly kind = 'null';

  constructor(pool: Mempool, options: NullPortOptions = {}) {
    super(options.name ?? 'null', pool, checkPortId(options.id, 'NullPort'));
  }

  rxBurst(_burst: Burst): number {
    return 0;
  }

  /** A sink never receives. */
  override finished(): boolean {
    return true;
  }

  txBurst(burst: Burst): number {
    const n = burst.count;
    if (n === 0) return 0;
    const len = this.pool.meta.dataLen;
    const ids = burst.ids;
    let bytes = 0;
    for (let i = 0; i < n; i++) bytes += len[ids[i]];
    this.pool.put(burst);
    this.counters[PortCounter.txPackets] += n;
    this.counters[PortCounter.txBytes] += bytes;
    return n;
  }
}
