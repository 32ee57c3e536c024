import { type ConntrackStats, type ConntrackTableOptions, NativeConntrackTable, VnfError } from '@vnf-sdk/core';

export type { ConntrackStats, ConntrackTableOptions, ConntrackTimeouts } from '@vnf-sdk/core';

/**
 * A session table shared by every worker of a process. Create it on the main thread, give
 * {@link id} to the pipeline's options, and let each worker's {@link ConntrackStage} read it.
 *
 * ```ts
 * const table = ConntrackTable.create({ capacity: 1 << 20, timeouts: { established: 3600 } });
 * console.log(table.stats()); // inUse, created, refusedFull, memoryBytes, ...
 * ```
 */
export class ConntrackTable {
  private constructor(private readonly native: NativeConntrackTable) {}

  /** A new, empty table. Throws VNF_CONFIG on a bad configuration. */
  static create(options: ConntrackTableOptions): ConntrackTable {
    if (!options || typeof options !== 'object') throw new VnfError('VNF_CONFIG', 'ConntrackTable.create: options are required');
    try {
      return new ConntrackTable(NativeConntrackTable.create(options));
    } catch (err) {
      throw new VnfError('VNF_CONFIG', `ConntrackTable.create: ${(err as Error).message}`);
    }
  }

  /** Another handle on table `id`, e.g. in a worker, to read its stats. */
  static attach(id: number): ConntrackTable {
    return new ConntrackTable(NativeConntrackTable.attach(id));
  }

  /** Process-wide id: what {@link ConntrackStage} needs. */
  get id(): number {
    return this.native.id;
  }

  /** Counters over every worker, sessions in use, capacity, memory. */
  stats(): ConntrackStats {
    return this.native.stats();
  }

  /**
   * Frees expired sessions among up to `budget` slots (stages already do a little of this on
   * every burst; a timer may call it when traffic is idle). Returns how many were freed.
   * `now` (ms) is for tables whose stages have a `clock`: give the same clock's time.
   */
  expire(budget = 4096, now?: number): number {
    return this.native.expire(budget, now);
  }

  /** Drops this handle; readers keep the table alive until they close. */
  close(): void {
    this.native.close();
  }
}
