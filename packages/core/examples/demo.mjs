// A small tour of @vnf-sdk/core, run by `npm start` at the repository root.
//
//   worker "gen" --(ring, SP/SC)--> main thread: rewrite TTL in place, count, free
//
// The generator thread allocates bursts from a shared mempool and writes UDP/IPv4 frames
// straight into packet memory; the main thread dequeues bursts of indices, edits the
// packets zero-copy and returns the buffers. No packet is ever copied or allocated in JS.
import { isMainThread, parentPort, Worker, workerData } from 'node:worker_threads';
import { Burst, Mempool, Ring } from '@vnf-sdk/core';

const PACKETS = Number(process.env.DEMO_PACKETS ?? 5_000_000);
const FRAME = [
  // Ethernet: dst, src, IPv4
  0x02, 0, 0, 0, 0, 0x02, 0x02, 0, 0, 0, 0, 0x01, 0x08, 0x00,
  // IPv4: 20-byte header, 46 bytes total, TTL 64, UDP, 10.0.0.1 -> 10.0.0.2
  0x45, 0, 0, 46, 0, 0, 0x40, 0, 64, 17, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2,
  // UDP: 1024 -> 9, 26 bytes, no checksum, 18 bytes of payload
  0x04, 0x00, 0x00, 0x09, 0, 26, 0, 0, ...new Array(18).fill(0x61),
];

if (isMainThread) {
  const pool = Mempool.create({ count: 16384, name: 'demo' });
  const ring = Ring.create({ size: 4096, producer: 'single', consumer: 'single', name: 'gen->main' });
  console.log(`mempool '${pool.name}': ${pool.count} buffers of ${pool.bufferSize} B, region ${(pool.region.size / 2 ** 20).toFixed(1)} MiB on ${pool.region.pageNote}`);
  console.log(`  memfd ${pool.region.fd}, ${pool.region.overheadPerBuffer.toFixed(1)} bytes of metadata and free list per buffer`);
  console.log(`ring '${ring.name}': capacity ${ring.capacity}, single producer, single consumer`);

  const gen = new Worker(new URL(import.meta.url), { workerData: { pool: pool.share(), ring: ring.share() } });
  const burst = new Burst(32);
  const { bytes, meta } = pool;
  const bufferSize = pool.bufferSize;
  let received = 0;
  let ttlSum = 0;
  const t0 = process.hrtime.bigint();
  while (received < PACKETS) {
    if (ring.dequeueBurst(burst) === 0) continue; // busy polling, as a data plane does
    for (let i = 0; i < burst.count; i++) {
      const b = burst.ids[i];
      const ip = b * bufferSize + meta.dataOff[b] + meta.l3Off[b];
      bytes[ip + 8]--; // TTL, rewritten in place
      ttlSum += bytes[ip + 8];
    }
    received += burst.count;
    pool.put(burst);
  }
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  await new Promise((r) => gen.once('exit', r));
  const s = pool.stats();
  console.log(`moved ${received} packets between two threads in ${seconds.toFixed(2)} s: ${(received / seconds / 1e6).toFixed(1)} Mpps (every TTL now ${ttlSum / received})`);
  console.log(`pool after: ${s.free}/${s.count} free, ${s.inUse} in use, cache hits ${s.cacheHits}, misses ${s.cacheMisses}`);
  ring.close();
  pool.close();
  if (s.inUse !== 0) process.exit(1);
} else {
  const pool = Mempool.attach(workerData.pool);
  const ring = Ring.attach(workerData.ring);
  const burst = new Burst(32);
  const { bytes, meta } = pool;
  const frame = Uint8Array.from(FRAME);
  let sent = 0;
  while (sent < PACKETS) {
    if (burst.count === 0) {
      if (pool.alloc(burst, Math.min(32, PACKETS - sent)) === 0) continue;
      for (let i = 0; i < burst.count; i++) {
        const b = burst.ids[i];
        bytes.set(frame, b * pool.bufferSize + meta.dataOff[b]);
        meta.dataLen[b] = frame.length;
        meta.l3Off[b] = 14;
        meta.l4Off[b] = 34;
      }
    }
    sent += ring.enqueueBurst(burst);
  }
  ring.close();
  pool.close();
  parentPort.close();
}
