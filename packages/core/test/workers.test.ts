import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
import { describe, expect, it } from 'vitest';
import { Mempool, Ring } from '../src/index.js';

const WORKER = join(import.meta.dirname, 'fixtures', 'ring-worker.mjs');
const TOTAL = 10_000_000;

interface Result {
  received?: number;
  duplicates?: number;
}

function run(worker: Worker): Promise<Result> {
  return new Promise((resolve, reject) => {
    let result: Result = {};
    worker.on('message', (m: Result & { closed?: boolean }) => {
      if (!m.closed) result = m;
    });
    worker.on('error', reject);
    worker.on('exit', (code) => (code === 0 ? resolve(result) : reject(new Error(`worker exited with ${code}`))));
  });
}

function popcount(words: Int32Array): number {
  let n = 0;
  for (let w of words) {
    w >>>= 0;
    while (w) {
      w &= w - 1;
      n++;
    }
  }
  return n;
}

async function pushThrough(producers: number, consumers: number, burstMode: boolean) {
  const pool = Mempool.create({ count: 8192, name: 'workers' });
  const ring = Ring.create({
    size: 1024,
    producer: producers === 1 ? 'single' : 'multi',
    consumer: consumers === 1 ? 'single' : 'multi',
  });
  const perProducer = TOTAL / producers;
  const seen = Array.from({ length: producers }, () => new SharedArrayBuffer(Math.ceil(perProducer / 32) * 4));
  const progress = new SharedArrayBuffer(8);
  const common = { pool: pool.share(), ring: ring.share(), seen, progress, expected: TOTAL, burstMode };
  const started = Date.now();
  const workers = [
    ...Array.from({ length: producers }, (_, producerId) =>
      new Worker(WORKER, { workerData: { ...common, role: 'producer', producerId, total: perProducer } }),
    ),
    ...Array.from({ length: consumers }, () => new Worker(WORKER, { workerData: { ...common, role: 'consumer' } })),
  ];
  const results = await Promise.all(workers.map(run));
  const seconds = (Date.now() - started) / 1000;
  const received = results.reduce((a, r) => a + (r.received ?? 0), 0);
  const duplicates = results.reduce((a, r) => a + (r.duplicates ?? 0), 0);
  // Every sequence number of every producer seen exactly once.
  const distinct = seen.reduce((a, sab) => a + popcount(new Int32Array(sab)), 0);
  console.log(
    `${producers}P/${consumers}C ${burstMode ? 'burst' : 'bulk'}: ${received} buffers in ${seconds.toFixed(2)} s (${(received / seconds / 1e6).toFixed(1)} M/s), ${distinct} distinct, ${duplicates} duplicates`,
  );
  expect(received).toBe(TOTAL);
  expect(duplicates).toBe(0);
  expect(distinct).toBe(TOTAL);
  expect(ring.count()).toBe(0);
  expect(pool.stats()).toMatchObject({ count: 8192, inUse: 0, free: 8192 });
  ring.close();
  pool.close();
}

describe('pool and ring across worker threads', () => {
  it('moves 10M buffers through an SP/SC ring between two workers, none lost or duplicated', async () => {
    await pushThrough(1, 1, true);
  });

  it('moves 10M buffers through an MP/MC ring, two producers and two consumers', async () => {
    await pushThrough(2, 2, true);
  });

  it('moves 10M buffers through an MP/MC ring with bulk calls', async () => {
    await pushThrough(2, 2, false);
  });
});

describe('a worker that exits without closing its handle', () => {
  it('hands the buffers in its cache back to the pool', async () => {
    const pool = Mempool.create({ count: 4096, name: 'exit' });
    const code = `
      const { workerData } = require('node:worker_threads');
      import(workerData.dist).then(({ Mempool, Burst }) => {
        const pool = Mempool.attach(workerData.pool);
        const b = new Burst(64);
        for (let i = 0; i < 10; i++) { pool.get(b, 64); pool.put(b); }
        // exits here: the cache holds hundreds of buffers and nobody calls close()
      });`;
    const dist = join(import.meta.dirname, '..', 'dist', 'index.js');
    await run(new Worker(code, { eval: true, workerData: { pool: pool.share(), dist } }));
    expect(pool.stats()).toMatchObject({ inUse: 0, free: 4096, freeInCaches: 0 });
    pool.close();
  });
});
