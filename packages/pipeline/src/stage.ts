import type { Burst, Mempool } from '@vnf-sdk/core';

/**
 * What a stage learns when it joins a graph: the pool, and the numbers of the next steps it
 * may send packets to. Look steps up once, in {@link Stage.init}, keep the numbers, and
 * write them into `pool.meta.next[b]` in {@link Stage.process}.
 */
export interface StageContext {
  readonly pool: Mempool;
  /** This worker's index (0-based) and the number of workers. */
  readonly worker: number;
  readonly workers: number;
  /** Step that transmits on the named port. Throws VNF_CONFIG naming the stage when there is none. */
  port(name: string): number;
  /** Step that hands packets to the named stage. */
  stage(name: string): number;
  /**
   * Step that drops packets, counted under `reason` (e.g. 'ttl-exceeded', 'no-route').
   * Reasons are counted per stage: the same reason from two stages is two counters.
   */
  drop(reason: string): number;
  /** Names of the graph's ports, in port-id order (the id in `meta.port`). */
  readonly portNames: readonly string[];
}

/**
 * One step of a pipeline. The runtime calls `process` with a burst of up to 256 packets;
 * the stage looks at them, may rewrite them, and sets `pool.meta.next[b]` of every buffer
 * `b` to a step number obtained from its {@link StageContext}. The runtime then splits the
 * burst by next step (VPP-style): drops are counted by reason and freed, port steps are
 * transmitted, stage steps are processed next. A packet whose next step the stage did not
 * set is dropped as 'no-verdict'.
 *
 * A stage must not keep buffer indices after `process` returns, free buffers itself, or
 * allocate per packet. To emit new packets (replies), take buffers with
 * `pool.alloc(burst, k)` appending them to the burst it was given, with their next step
 * set: the runtime gives every stage a burst with room for at least as many packets again
 * as it holds (capacity 512, bursts of at most 256).
 */
export interface Stage {
  /** Unique within a graph; used in counters, traces and errors. */
  readonly name: string;
  /** Called once when the stage joins a graph (also when it replaces another). */
  init?(ctx: StageContext): void;
  process(burst: Burst): void;
  /** Called when the stage leaves the graph (stop, or replaced). */
  close?(): void;
}
