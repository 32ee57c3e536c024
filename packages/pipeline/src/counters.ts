import { PORT_COUNTERS } from '@vnf-sdk/core';
import { type PortStats, statsOf } from '@vnf-sdk/ports';
import { MAX_PORTS, MAX_STAGES, MAX_STEPS } from './graph.js';

// One worker's counters, in a SharedArrayBuffer the main thread reads at any time without
// a message: the worker writes plain doubles (its stages' counts directly, its ports' counts
// copied at every yield, about once a millisecond); a reader may see them a moment old.
export const HEADER = 8;
export const H_ITERATIONS = 0;
export const H_IDLE_WAITS = 1;
export const H_RX_PACKETS = 2;
export const H_UPDATED_MS = 3;
export const STEP_BASE = HEADER;
export const STAGE_BASE = STEP_BASE + MAX_STEPS;
export const STAGE_FIELDS = 3; // calls, packets, nanoseconds (when timing is on)
export const PORT_BASE = STAGE_BASE + MAX_STAGES * STAGE_FIELDS;
export const COUNTERS_LENGTH = PORT_BASE + MAX_PORTS * PORT_COUNTERS;

/** Names that give the counters their meaning; sent by the worker when they change. */
export interface CounterSchema {
  steps: string[];
  stages: string[];
  ports: string[];
}

/** Counters of one stage. */
export interface StageStats {
  /** Bursts processed. */
  calls: number;
  /** Packets processed. */
  packets: number;
  /** Packets dropped, by reason. */
  drops: Record<string, number>;
  /** Time spent in process(), when the pipeline runs with `timing: true`. */
  nanoseconds: number;
}

/** Counters of one worker, or summed over all. */
export interface WorkerStats {
  /** Loop iterations (one poll of every receive queue each). */
  iterations: number;
  /** Times the loop backed off because there was no traffic. */
  idleWaits: number;
  rxPackets: number;
  stages: Record<string, StageStats>;
  ports: Record<string, PortStats>;
  /** Every drop, as 'stage:reason' (the runtime's own are 'runtime:...'). */
  drops: Record<string, number>;
  /** Packets handed to each next step: 'port:p1', 'stage:route', 'drop:ip4:no-route'. */
  steps: Record<string, number>;
}

export function readStats(c: Float64Array, schema: CounterSchema): WorkerStats {
  const stages: Record<string, StageStats> = {};
  schema.stages.forEach((name, i) => {
    const b = STAGE_BASE + i * STAGE_FIELDS;
    stages[name] = { calls: c[b], packets: c[b + 1], nanoseconds: c[b + 2], drops: {} };
  });
  const drops: Record<string, number> = {};
  const steps: Record<string, number> = {};
  schema.steps.forEach((name, i) => {
    const n = c[STEP_BASE + i];
    steps[name] = n;
    if (name.startsWith('drop:')) {
      const [, stage, ...rest] = name.split(':');
      const reason = rest.join(':');
      drops[`${stage}:${reason}`] = n;
      if (stages[stage]) stages[stage].drops[reason] = n;
    }
  });
  const ports: Record<string, PortStats> = {};
  schema.ports.forEach((name, i) => {
    ports[name] = statsOf(c.subarray(PORT_BASE + i * PORT_COUNTERS, PORT_BASE + (i + 1) * PORT_COUNTERS));
  });
  return { iterations: c[H_ITERATIONS], idleWaits: c[H_IDLE_WAITS], rxPackets: c[H_RX_PACKETS], stages, ports, drops, steps };
}

/** Sums workers' stats (counters add up; names are the union). */
export function sumStats(list: WorkerStats[]): WorkerStats {
  const total: WorkerStats = { iterations: 0, idleWaits: 0, rxPackets: 0, stages: {}, ports: {}, drops: {}, steps: {} };
  for (const w of list) {
    total.iterations += w.iterations;
    total.idleWaits += w.idleWaits;
    total.rxPackets += w.rxPackets;
    for (const [k, v] of Object.entries(w.drops)) total.drops[k] = (total.drops[k] ?? 0) + v;
    for (const [k, v] of Object.entries(w.steps)) total.steps[k] = (total.steps[k] ?? 0) + v;
    for (const [k, s] of Object.entries(w.stages)) {
      total.stages[k] ??= { calls: 0, packets: 0, nanoseconds: 0, drops: {} };
      const t = total.stages[k];
      t.calls += s.calls;
      t.packets += s.packets;
      t.nanoseconds += s.nanoseconds;
      for (const [r, v] of Object.entries(s.drops)) t.drops[r] = (t.drops[r] ?? 0) + v;
    }
    for (const [k, p] of Object.entries(w.ports)) {
      total.ports[k] ??= { rxPackets: 0, rxBytes: 0, rxDrops: 0, rxErrors: 0, txPackets: 0, txBytes: 0, txDrops: 0, txErrors: 0 };
      const t = total.ports[k];
      for (const f of Object.keys(t) as Array<keyof PortStats>) t[f] += p[f];
    }
  }
  return total;
}
