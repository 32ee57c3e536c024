// A fake StageContext and a ten-line "runtime" (split a burst by next step, VPP-style), so
// the stages are tested as the pipeline will run them, before the runtime exists.
import { Burst, Mempool } from '@vnf-sdk/core';
import type { Stage, StageContext } from '@vnf-sdk/pipeline';
import { build, type LayerSpec } from '@vnf-sdk/protocols';
import { parseConfig, type RouterConfig } from '../src/config.js';
import { Router } from '../src/router.js';

export const P0_MAC = '02:00:00:00:01:01';
export const P1_MAC = '02:00:00:00:02:01';
export const HOST_A_MAC = '02:00:00:00:01:0a'; // 10.0.1.10 on p0
export const GW_MAC = '02:00:00:00:02:02'; // 10.0.2.2 on p1, static
export const HOST_C_MAC = '02:00:00:00:02:03'; // 10.0.2.3 on p1, learned by ARP

export const testConfigJson = () => ({
  ports: [
    { name: 'p0', driver: 'pcap', rx: 'in.pcap', tx: 'out-p0.pcap', mac: P0_MAC, address: '10.0.1.1/24' },
    { name: 'p1', driver: 'pcap', tx: 'out-p1.pcap', mac: P1_MAC, address: '10.0.2.1/24', mtu: 1400 },
  ],
  routes: [{ prefix: '10.9.0.0/16', gateway: '10.0.2.2' }],
  neighbours: { static: [{ port: 'p1', address: '10.0.2.2', mac: GW_MAC }], retryMs: 1000, maxRetries: 3, reachableMs: 30000 },
  icmp: { ratePerSecond: 10, burst: 5 },
});

export const testConfig = (): RouterConfig => parseConfig(testConfigJson(), '/tmp');

/** A controllable clock, in milliseconds. */
export class Clock {
  t = 1000;
  readonly now = () => this.t;
}

export class FakeContext implements StageContext {
  readonly worker = 0;
  readonly workers = 1;
  /** Label of each step: 'port:p0', 'stage:arp', 'drop:<stage>:<reason>'. */
  readonly steps: string[] = ['unset'];
  stageName = '?';
  constructor(
    readonly pool: Mempool,
    readonly portNames: readonly string[] = ['p0', 'p1'],
  ) {}
  private step(label: string): number {
    const i = this.steps.indexOf(label);
    if (i >= 0) return i;
    this.steps.push(label);
    return this.steps.length - 1;
  }
  port(name: string): number {
    if (!this.portNames.includes(name)) throw new Error(`no port ${name}`);
    return this.step(`port:${name}`);
  }
  stage(name: string): number {
    return this.step(`stage:${name}`);
  }
  drop(reason: string): number {
    return this.step(`drop:${reason}`);
  }
}

let shared: Mempool | null = null;
export function testPool(): Mempool {
  shared ??= Mempool.create({ count: 4096, name: 'router-test' });
  return shared;
}

/** A burst holding copies of `frames`, received on port id `port`. */
export function burstOf(pool: Mempool, frames: Uint8Array[], port = 0, capacity = 256): Burst {
  const burst = new Burst(capacity);
  if (pool.alloc(burst, frames.length) !== frames.length) throw new Error('pool empty');
  frames.forEach((f, i) => {
    const b = burst.ids[i]!;
    pool.write(b, f);
    pool.meta.port[b] = port;
  });
  return burst;
}

/** Each buffer's frame and step label. */
export function contents(pool: Mempool, ctx: FakeContext, burst: Burst): { frame: Uint8Array; step: string }[] {
  return Array.from(burst.ids.subarray(0, burst.count), (b) => ({ frame: pool.read(b), step: ctx.steps[pool.meta.next[b]!]! }));
}

export const frame = (...layers: LayerSpec[]) => build(layers);

/** Ethernet from host A to the router's p0. */
export const fromA = (...layers: LayerSpec[]) => build([{ type: 'ethernet', src: HOST_A_MAC, dst: P0_MAC }, ...layers]);

export const udp = (src: string, dst: string, ttl = 64, extra: Partial<{ size: number; df: boolean }> = {}): LayerSpec[] => [
  { type: 'ipv4', src, dst, ttl, dontFragment: extra.df ?? false, id: 7 },
  { type: 'udp', srcPort: 5000, dstPort: 53 },
  { type: 'payload', data: new Uint8Array(extra.size ?? 18).fill(0x61) },
];

/** The router's stages initialised on a fake context. */
export function setup(options: { config?: RouterConfig; clock?: Clock; pool?: Mempool } = {}) {
  const pool = options.pool ?? testPool();
  const clock = options.clock ?? new Clock();
  const router = new Router(options.config ?? testConfig(), { now: clock.now, tbl8Groups: 16 });
  const ctx = new FakeContext(pool);
  const stages = router.stages();
  for (const s of [stages.input, stages.arp, stages.ip4]) s.init(ctx);
  return { pool, clock, router, ctx, ...stages };
}

export interface RunResult {
  /** Frames sent, by port name, in order. */
  out: Record<string, Uint8Array[]>;
  drops: Record<string, number>;
}

/**
 * Runs bursts through the graph input -> {arp, ip4} -> ports as the runtime will: each
 * stage's output split by next step; port steps collected, drops counted; every buffer
 * freed at the end.
 */
export function run(s: ReturnType<typeof setup>, bursts: Burst[], result: RunResult = { out: {}, drops: {} }): RunResult {
  const stages: Record<string, Stage> = { input: s.input, arp: s.arp, ip4: s.ip4 };
  const queue: Array<[Stage, Burst]> = bursts.map((b) => [s.input, b]);
  while (queue.length > 0) {
    const [stage, burst] = queue.shift()!;
    stage.process(burst);
    const byStep = new Map<number, number[]>();
    for (let i = 0; i < burst.count; i++) {
      const b = burst.ids[i]!;
      const step = s.pool.meta.next[b]!;
      if (!byStep.has(step)) byStep.set(step, []);
      byStep.get(step)!.push(b);
    }
    for (const [step, ids] of byStep) {
      const label = s.ctx.steps[step] ?? 'unset';
      if (label.startsWith('stage:')) {
        const nb = new Burst(256);
        for (const b of ids) nb.ids[nb.count++] = b;
        queue.push([stages[label.slice(6)]!, nb]);
        continue;
      }
      if (label.startsWith('port:')) {
        const name = label.slice(5);
        result.out[name] ??= [];
        for (const b of ids) result.out[name].push(s.pool.read(b));
      } else {
        const reason = label === 'unset' ? 'no-verdict' : label.slice(5);
        result.drops[reason] = (result.drops[reason] ?? 0) + ids.length;
      }
      const free = new Burst(256);
      for (const b of ids) free.ids[free.count++] = b;
      s.pool.put(free);
    }
  }
  return result;
}
