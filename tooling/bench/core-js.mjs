// The JavaScript side of the core benchmark: what a data-path loop written against the
// public API achieves, and what one boundary crossing costs.
import { Burst, Mempool, nativeNoop, Ring } from '@vnf-sdk/core';

const now = () => process.hrtime.bigint();

function timeNs(iterations, body) {
  const t0 = now();
  body(iterations);
  return Number(now() - t0);
}

/**
 * One measurement of each figure. The loop is the one the issue names: get 32 buffers,
 * enqueue them, dequeue them, put them back.
 */
export function measureCoreJs({ burstSize = 32, iterations = 2_000_000 } = {}) {
  const pool = Mempool.create({ count: 8192, name: 'bench' });
  const ring = Ring.create({ size: 1024, producer: 'single', consumer: 'single' });
  const burst = new Burst(burstSize);

  const roundTrip = (n) => {
    for (let i = 0; i < n; i++) {
      pool.get(burst, burstSize);
      ring.enqueueBulk(burst);
      ring.dequeueBulk(burst, burstSize);
      pool.put(burst);
    }
  };
  const getPut = (n) => {
    for (let i = 0; i < n; i++) {
      pool.get(burst, burstSize);
      pool.put(burst);
    }
  };
  const noop = (n) => {
    for (let i = 0; i < n; i++) nativeNoop();
  };
  // Warm up so that every function is optimised before timing.
  roundTrip(200_000);
  getPut(200_000);
  noop(1_000_000);

  const rtNs = timeNs(iterations, roundTrip);
  const gpNs = timeNs(iterations, getPut);
  const noopNs = timeNs(iterations * 4, noop);
  const stats = pool.stats();
  if (stats.inUse !== 0) throw new Error(`bench leaked ${stats.inUse} buffers`);
  ring.close();
  pool.close();
  return {
    roundTripMpps: (iterations * burstSize) / rtNs * 1e3,
    roundTripNsPerBurst: rtNs / iterations,
    getPutNsPerBurst: gpNs / iterations,
    noopNs: noopNs / (iterations * 4),
  };
}
