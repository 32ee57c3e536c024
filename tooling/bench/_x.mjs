import { isMainThread, Worker, workerData } from 'node:worker_threads';
import { Burst, Mempool, Ring } from '@vnf-sdk/core';
const N = 5e6, TOUCH = process.env.TOUCH === '1';
if (isMainThread) {
  const pool = Mempool.create({ count: 16384 }); const ring = Ring.create({ size: 4096, producer: 'single', consumer: 'single' });
  const w = new Worker(new URL(import.meta.url), { workerData: { pool: pool.share(), ring: ring.share() } });
  const b = new Burst(32); let got = 0, x = 0; const t0 = process.hrtime.bigint();
  while (got < N) { if (ring.dequeueBurst(b) === 0) continue; if (TOUCH) for (let i = 0; i < b.count; i++) x += pool.meta.dataLen[b.ids[i]]; got += b.count; pool.put(b); }
  console.log('touch', TOUCH, (N / Number(process.hrtime.bigint() - t0) * 1e3).toFixed(1), 'Mpps', x > 0);
  await new Promise(r => w.once('exit', r));
} else {
  const pool = Mempool.attach(workerData.pool), ring = Ring.attach(workerData.ring), b = new Burst(32); let sent = 0;
  while (sent < N) { if (b.count === 0) { if (pool.get(b, 32) === 0) continue; if (TOUCH) for (let i = 0; i < b.count; i++) pool.meta.dataLen[b.ids[i]] = 60; } sent += ring.enqueueBurst(b); }
  pool.close(); ring.close();
}
