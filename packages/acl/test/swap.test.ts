import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
import { Mempool } from '@vnf-sdk/core';
import { describe, expect, it } from 'vitest';
import { AclTable, parseRuleFile } from '../src/index.js';

const WORKER = join(import.meta.dirname, 'fixtures', 'swap-worker.mjs');

interface Seen {
  bursts: number;
  mixed: number;
  lost: number;
  seen: Record<string, number>;
}

describe('AclTable.load while traffic flows', () => {
  it('swaps rule sets atomically: every burst of two workers is classified by exactly one set', async () => {
    const pool = Mempool.create({ count: 2048, name: 'acl-swap' });
    // Two sets of the same shape that mark differently, each large enough that a build
    // takes a while (the window in which a half-built set could show).
    const set = (mark: number) => {
      const lines = [];
      for (let i = 0; i < 3000; i++) lines.push(`deny src 172.${i >> 8}.${i & 255}.0/24 proto tcp dport ${i % 1000}`);
      lines.push(`mark ${mark} proto udp`);
      return parseRuleFile(lines.join('\n'), `set${mark}`);
    };
    const a = set(1);
    const b = set(2);
    const table = await AclTable.create(a);
    const stop = new SharedArrayBuffer(4);
    const progress = new SharedArrayBuffer(8);
    const done = new Int32Array(progress);
    const workers = [0, 1].map(
      (index) => new Worker(WORKER, { workerData: { pool: pool.share(), tableId: table.id, stop, frames: 256, progress, index } }),
    );
    // Each set must have classified bursts in both workers: wait for a new burst from each
    // after every load (and before the first).
    const nextBursts = async () => {
      const seen = [done[0], done[1]];
      const deadline = Date.now() + 20_000;
      while ((Atomics.load(done, 0) <= seen[0] || Atomics.load(done, 1) <= seen[1]) && Date.now() < deadline) {
        await new Promise((r) => setTimeout(r, 1));
      }
    };
    const exits = workers.map((w) => new Promise((r) => w.once('exit', r)));
    const results = workers.map(
      (w) =>
        new Promise<Seen>((resolve, reject) => {
          w.on('message', resolve);
          w.on('error', reject);
          w.on('exit', (code) => reject(new Error(`swap worker exited with ${code} before reporting`)));
        }),
    );
    try {
      let generation = 1;
      await nextBursts();
      for (let i = 0; i < 30; i++) {
        const s = await table.load(i % 2 ? a : b);
        expect(s.generation).toBe(++generation);
        await nextBursts();
      }
    } finally {
      Atomics.store(new Int32Array(stop), 0, 1);
    }
    const seen = await Promise.all(results);
    await Promise.all(exits);
    for (const s of seen) {
      expect(s.mixed).toBe(0);
      expect(s.lost).toBe(0);
      expect(s.bursts).toBeGreaterThan(10);
      expect(Object.keys(s.seen).sort()).toEqual(['1', '2']); // bursts classified by both sets
    }
    // Counters of the final set: every packet classified since it was loaded is counted once.
    const c = table.counters();
    expect(c.rules[3000].packets % 256).toBe(0);
    table.close();
    pool.close();
  }, 60_000);
});
