import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
import { Mempool } from '@vnf-sdk/core';
import { describe, expect, it } from 'vitest';
import { ConntrackTable } from '../src/index.js';

const WORKER = join(import.meta.dirname, 'fixtures', 'track-worker.mjs');

describe('a conntrack table shared by worker threads', () => {
  it('sessions created by two workers are all found, by each worker, and counted once', async () => {
    const pool = Mempool.create({ count: 2048, name: 'ct-workers' });
    const table = ConntrackTable.create({ capacity: 4096 });
    const flows = 256;
    const rounds = 50;
    const workers = [0, 1].map((index) => new Worker(WORKER, { workerData: { pool: pool.share(), tableId: table.id, index, flows, rounds } }));
    const results = await Promise.all(
      workers.map(
        (w) =>
          new Promise<{ passed: number; other: number }>((resolve, reject) => {
            w.on('message', resolve);
            w.on('error', reject);
            w.on('exit', (code) => reject(new Error(`worker exited with ${code} before reporting`)));
          }),
      ),
    );
    for (const r of results) expect(r).toEqual({ passed: 2 * flows * rounds, other: 0 });
    const st = table.stats();
    expect(st.created).toBe(2 * flows);
    expect(st.inUse).toBe(2 * flows);
    table.close();
    pool.close();
  }, 60_000);
});
