import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Mempool } from '@vnf-sdk/core';
import { GeneratorPort, NullPort, type Port } from '@vnf-sdk/ports';
import { CaptureReader, decode, findLayer, type Ipv4Layer } from '@vnf-sdk/protocols';
import { afterAll, describe, expect, it } from 'vitest';
import { Pipeline, type Stage } from '../src/index.js';
// @ts-expect-error plain JS fixture
import { ParseStage, SplitStage, TtlStage } from './fixtures/stages.mjs';

const GRAPH = join(import.meta.dirname, 'fixtures', 'graph.mjs');
const dir = mkdtempSync(join(tmpdir(), 'vnf-pipeline-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const poolOptions = { count: 4096, name: 'pipeline-test' };

/** Every packet generated is accounted for: sent on a port or dropped with a reason. */
function expectConserved(stats: Awaited<ReturnType<Pipeline['stop']>>): void {
  const t = stats.total;
  const sent = t.ports.a.txPackets + t.ports.b.txPackets;
  const dropped = Object.values(t.drops).reduce((a, b) => a + b, 0);
  expect(sent + dropped).toBe(t.ports.gen.rxPackets);
}

describe('Pipeline in this thread', () => {
  it('runs a generator through three stages to two ports and stops when the source is done', async () => {
    const pool = Mempool.create(poolOptions);
    const p = await Pipeline.start({ graph: GRAPH, workers: 0, pool, options: { count: 10_000 }, untilFinished: true });
    const stats = await p.finished;
    expect(stats.total.ports.gen.rxPackets).toBe(10_000);
    expect(stats.total.ports.a.txPackets).toBe(5_000); // 16 flows, source ports alternate parity
    expect(stats.total.ports.b.txPackets).toBe(5_000);
    expect(stats.total.stages.parse.packets).toBe(10_000);
    expect(stats.total.stages.ttl.packets).toBe(10_000);
    expect(stats.total.steps['port:a']).toBe(5_000);
    expectConserved(stats);
    expect(pool.stats().inUse).toBe(0);
    pool.close();
  });

  it('counts drops by stage and reason, and a stage that throws drops only its burst', async () => {
    const pool = Mempool.create(poolOptions);
    const events: unknown[] = [];
    const frames = [
      new Uint8Array([1, 2, 3]), // runt: malformed
      ...new GeneratorPort(pool, { flows: 2, ttl: 1 }).frames, // TTL 1: expires
      ...new GeneratorPort(pool, { flows: 4, srcPort: 5000 }).frames, // 5000..5003; 5001 makes split throw
    ];
    const p = await Pipeline.start({
      workers: 0,
      pool,
      untilFinished: true,
      runner: { burstSize: 1 },
      graph: (ctx) => ({
        ports: {
          gen: new GeneratorPort(ctx.pool, { frames, count: frames.length * 10 }),
          a: new NullPort(ctx.pool, { name: 'a', id: 1 }),
          b: new NullPort(ctx.pool, { name: 'b', id: 2 }),
        },
        stages: [new ParseStage(), new TtlStage(), new SplitStage('parity', 5001)],
      }),
    });
    p.on('stage-error', (e) => events.push(e));
    const stats = await p.finished;
    expect(stats.total.drops['parse:truncated l2']).toBe(10);
    expect(stats.total.drops['ttl:ttl-expired']).toBe(20);
    expect(stats.total.drops['runtime:stage-error:split']).toBe(10);
    expect(stats.total.ports.a.txPackets + stats.total.ports.b.txPackets).toBe(30);
    expect(events.length).toBe(10);
    expect(events[0]).toMatchObject({ stage: 'split', message: 'split: told to fail on port 5001' });
    expectConserved(stats);
    expect(pool.stats().inUse).toBe(0);
    pool.close();
  });

  it('keeps running when a port fails, and reports it', async () => {
    const pool = Mempool.create(poolOptions);
    const broken = (ctx: { pool: Mempool }): Port =>
      Object.assign(new NullPort(ctx.pool, { name: 'broken', id: 3 }), {
        rxBurst(): number {
          throw Object.assign(new Error('broken: link went away'), { code: 'VNF_PORT' });
        },
      });
    const failures: unknown[] = [];
    const p = await Pipeline.start({
      workers: 0,
      pool,
      untilFinished: true,
      graph: (ctx) => ({
        ports: {
          gen: new GeneratorPort(ctx.pool, { count: 1000, flows: 2 }),
          a: new NullPort(ctx.pool, { name: 'a', id: 1 }),
          b: new NullPort(ctx.pool, { name: 'b', id: 2 }),
          broken: broken(ctx),
        },
        stages: [new ParseStage(), new TtlStage(), new SplitStage()],
        rx: [{ port: 'gen' }, { port: 'broken' }],
      }),
    });
    p.on('port-failed', (e) => failures.push(e));
    const stats = await p.finished;
    expect(failures).toEqual([{ worker: 0, type: 'port-failed', port: 'broken', code: 'VNF_PORT', message: 'broken: link went away' }]);
    expect(stats.total.ports.a.txPackets + stats.total.ports.b.txPackets).toBe(1000);
    pool.close();
  });

  it('rejects a bad graph before any traffic, leaking nothing', async () => {
    const pool = Mempool.create(poolOptions);
    await expect(Pipeline.start({ graph: join(import.meta.dirname, 'fixtures', 'bad-graph.mjs'), workers: 0, pool })).rejects.toMatchObject({
      code: 'VNF_CONFIG',
      message: expect.stringContaining("stage 'parse': no stage named 'ttl'"),
    });
    await expect(
      Pipeline.start({ workers: 0, pool, graph: (ctx) => ({ ports: { a: new NullPort(ctx.pool) }, stages: [new TtlStage()], rx: [{ port: 'x' }] }) }),
    ).rejects.toMatchObject({ code: 'VNF_CONFIG', message: expect.stringContaining("graph.rx[0].port: no port named 'x'") });
    await expect(Pipeline.start({ workers: 2, pool, graph: () => ({ ports: {}, stages: [] }) })).rejects.toMatchObject({
      code: 'VNF_CONFIG',
      message: expect.stringContaining('only with workers: 0'),
    });
    await expect(Pipeline.start({ workers: 1, pool, graph: '/nonexistent/graph.mjs' })).rejects.toMatchObject({ code: 'VNF_CONFIG' });
    expect(pool.stats().inUse).toBe(0);
    pool.close();
  });

  it('backs off when idle instead of spinning', async () => {
    const pool = Mempool.create(poolOptions);
    const p = await Pipeline.start({ graph: GRAPH, workers: 0, pool, options: { rate: 100 }, runner: { idle: { polls: 64, waitMs: 2 } } });
    const cpu0 = process.cpuUsage();
    const t0 = performance.now();
    await new Promise((r) => setTimeout(r, 500));
    const cpu = process.cpuUsage(cpu0);
    const wall = performance.now() - t0;
    const stats = await p.stop();
    // 100 packets per second: about 50 in the window, each answered within the back-off.
    expect(stats.total.ports.gen.rxPackets).toBeGreaterThan(30);
    expect(stats.total.idleWaits).toBeGreaterThan(100);
    expect((cpu.user + cpu.system) / 1000 / wall).toBeLessThan(0.5);
    expect(pool.stats().inUse).toBe(0);
    pool.close();
  });
});

describe('Pipeline failure paths', () => {
  it('a capture point that cannot write stops alone; traffic and the pool are fine', async () => {
    const pool = Mempool.create(poolOptions);
    const p = await Pipeline.start({ graph: GRAPH, workers: 0, pool, options: { rate: 50_000 } });
    const failed: unknown[] = [];
    p.on('capture-failed', (e) => failed.push(e));
    await p.capture({ stage: 'ttl', path: '/dev/full' });
    for (let i = 0; i < 200 && failed.length === 0; i++) await new Promise((r) => setTimeout(r, 10));
    expect(failed[0]).toMatchObject({ stage: 'ttl', path: '/dev/full', code: 'VNF_IO' });
    const before = p.stats().total.ports.a.txPackets;
    await new Promise((r) => setTimeout(r, 50));
    expect(p.stats().total.ports.a.txPackets).toBeGreaterThan(before);
    await p.stop();
    expect(pool.stats().inUse).toBe(0);
    pool.close();
  });

  it('refuses control requests once stopped, in this thread and on workers', async () => {
    for (const workers of [0, 1]) {
      const pool = Mempool.create(poolOptions);
      const p = await Pipeline.start({ graph: GRAPH, workers, pool, options: { rate: 1000 } });
      await p.stop();
      await expect(p.replaceStage('split', {})).rejects.toMatchObject({ code: 'VNF_CLOSED' });
      await expect(p.capture({ stage: 'ttl', path: join(dir, 'never.pcap') })).rejects.toMatchObject({ code: 'VNF_CLOSED' });
      expect(pool.stats().inUse).toBe(0);
      pool.close();
    }
  });

  it('rejects bad loop options before building anything', async () => {
    const pool = Mempool.create(poolOptions);
    let built = false;
    const graph = () => {
      built = true;
      return { ports: {}, stages: [] };
    };
    await expect(Pipeline.start({ workers: 0, pool, graph, runner: { burstSize: 1000 } })).rejects.toMatchObject({
      code: 'VNF_CONFIG',
      message: expect.stringContaining('runner.burstSize must be an integer from 1 to 256, got 1000'),
    });
    expect(built).toBe(false);
    pool.close();
  });

  it('hands a stage at most 256 packets, so each has room to append replies', async () => {
    const pool = Mempool.create(poolOptions);
    const seen: Array<[number, number]> = [];
    // Three stages in a row, each appending one reply per packet (a ping answered, say).
    const doubler = (name: string, next: string): Stage => {
      let to = 0;
      return {
        name,
        init(ctx) {
          to = next === 'out' ? ctx.port('out') : ctx.stage(next);
        },
        process(burst) {
          seen.push([burst.count, burst.capacity - burst.count]);
          const n = burst.count;
          pool.alloc(burst, n);
          for (let i = 0; i < burst.count; i++) pool.meta.next[burst.ids[i]] = to;
        },
      };
    };
    const p = await Pipeline.start({
      workers: 0,
      pool,
      untilFinished: true,
      runner: { burstSize: 256 },
      graph: (ctx) => ({
        ports: { gen: new GeneratorPort(ctx.pool, { count: 256 }), out: new NullPort(ctx.pool, { id: 1, name: 'out' }) },
        stages: [doubler('s1', 's2'), doubler('s2', 's3'), doubler('s3', 'out')],
        rx: [{ port: 'gen' }],
      }),
    });
    const stats = await p.finished;
    expect(stats.total.ports.out.txPackets).toBe(256 * 8);
    for (const [count, room] of seen) expect(room).toBeGreaterThanOrEqual(count);
    expect(pool.stats().inUse).toBe(0);
    pool.close();
  });
});

describe('Pipeline on worker threads', () => {
  for (const workers of [1, 2]) {
    it(`${workers} worker(s): live counters, stage replacement with no loss, graceful stop with a full pool`, async () => {
      const pool = Mempool.create(poolOptions);
      const p = await Pipeline.start({ graph: GRAPH, workers, pool });
      // Counters move while traffic flows, read from the main thread without a message.
      let live = p.stats();
      // Until traffic flows on every worker (one may start later on a busy machine).
      const flowing = () => live.total.ports.gen.rxPackets >= 50_000 && live.workers.every((w) => w.rxPackets > 0);
      for (let i = 0; i < 500 && !flowing(); i++) {
        await new Promise((r) => setTimeout(r, 10));
        live = p.stats();
      }
      expect(live.total.ports.gen.rxPackets).toBeGreaterThan(50_000);
      expect(live.workers.length).toBe(workers);
      for (const w of live.workers) expect(w.rxPackets).toBeGreaterThan(0);
      const bBefore = p.stats().total.ports.b.txPackets;
      await p.replaceStage('split', { mode: 'all-a' });
      // Port counters are published at each yield: let the one after the swap land.
      await new Promise((r) => setTimeout(r, 30));
      const bAfterSwap = p.stats().total.ports.b.txPackets;
      await new Promise((r) => setTimeout(r, 100));
      // After the swap every packet goes to a: b stops growing.
      expect(p.stats().total.ports.b.txPackets).toBe(bAfterSwap);
      expect(bAfterSwap).toBeGreaterThanOrEqual(bBefore);
      const stats = await p.stop();
      expectConserved(stats);
      expect(stats.total.drops['split:no-verdict'] ?? 0).toBe(0);
      expect(pool.stats().inUse).toBe(0);
      pool.close();
    });
  }

  it('traces packets through every stage with the fields each changed, and captures a stage input', async () => {
    const pool = Mempool.create(poolOptions);
    const p = await Pipeline.start({ graph: GRAPH, workers: 1, pool, options: { rate: 20_000 } });
    const records = await p.trace({ count: 5, filter: { srcPort: 1025 } });
    expect(records.length).toBe(5);
    for (const r of records) {
      expect(r.port).toBe('gen');
      expect(r.layers).toBe('ethernet/ipv4/udp/payload');
      expect(r.hops.map((h) => h.stage)).toEqual(['parse', 'ttl', 'split']);
      expect(r.hops[0].verdict).toBe('stage:ttl');
      expect(r.hops[0].changed).toEqual({});
      expect(r.hops[1].changed['ipv4.ttl']).toEqual([64, 63]);
      expect(r.hops[1].changed['ipv4.checksum']).toBeDefined();
      expect(r.hops[2].verdict).toBe('port:b'); // source port 1025 is odd
      expect(r.result).toBe('port:b');
    }
    const path = join(dir, 'ttl-in.pcap');
    await p.capture({ stage: 'ttl', path, count: 20 });
    for (let i = 0; i < 100; i++) {
      await new Promise((r) => setTimeout(r, 10));
      if (p.stats().total.ports.gen.rxPackets > 2000) break;
    }
    await p.stopCapture('ttl');
    await p.stop();
    const reader = CaptureReader.open(path);
    const packets = [...reader].map((x) => decode(x.data.slice()));
    reader.close();
    expect(packets.length).toBe(20);
    // Captured at the input of 'ttl': before the decrement.
    for (const d of packets) expect((findLayer(d, 'ipv4') as Ipv4Layer).ttl).toBe(64);
    expect(pool.stats().inUse).toBe(0);
    pool.close();
  });

  it('a stage replacement that fails leaves the old stage running', async () => {
    const pool = Mempool.create(poolOptions);
    const p = await Pipeline.start({ graph: GRAPH, workers: 1, pool, options: { rate: 10_000 } });
    await expect(p.replaceStage('ttl', {})).rejects.toMatchObject({ message: 'cannot create stage ttl' });
    const before = p.stats().total.ports.a.txPackets;
    await new Promise((r) => setTimeout(r, 100));
    expect(p.stats().total.ports.a.txPackets).toBeGreaterThan(before);
    await p.stop();
    expect(pool.stats().inUse).toBe(0);
    pool.close();
  });
});

// Keeps the Stage type import used for readers of this file: fixtures implement it.
export type { Stage };
