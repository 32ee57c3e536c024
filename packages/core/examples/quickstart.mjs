// The example from this package's README. Run: node examples/quickstart.mjs
import { Burst, Mempool, Ring } from '@vnf-sdk/core';

// 8192 buffers of 2 KiB in one memfd region (2 MiB hugepages if enough are free).
const pool = Mempool.create({ count: 8192, name: 'rx' });
const ring = Ring.create({ size: 1024, producer: 'single', consumer: 'single' });
const burst = new Burst(32); // reusable: make it once, outside the loop

pool.alloc(burst, 32); // 32 buffers, metadata reset, appended to the burst
for (let i = 0; i < burst.count; i++) {
  const b = burst.ids[i];
  pool.write(b, Uint8Array.of(0xde, 0xad, 0xbe, 0xef)); // a copy, for tools and tests
  pool.meta.mark[b] = i; // metadata is a typed array per field, indexed by buffer
}
ring.enqueueBurst(burst); // the buffers move to the ring and leave the burst
ring.dequeueBurst(burst); // ... and come back
const first = burst.ids[0];
// Zero copy: the packet's bytes are a window on the pool's memory.
const data = pool.bytes.subarray(pool.dataOffset(first), pool.dataOffset(first) + pool.meta.dataLen[first]);
console.log(`buffer ${first}: mark ${pool.meta.mark[first]}, data ${Buffer.from(data).toString('hex')}`);
pool.put(burst); // how a burst is freed
console.log(pool.stats());
ring.close();
pool.close();
