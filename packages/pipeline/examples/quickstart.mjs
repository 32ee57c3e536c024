// The example from this package's README. Run: node examples/quickstart.mjs
// A generator feeds 100 000 packets through two stages (decrement TTL, split by source
// port) to two null ports, on one worker thread; then the counters, a trace, and the stop.
import { Mempool } from '@vnf-sdk/core';
import { Pipeline } from '@vnf-sdk/pipeline';

const pool = Mempool.create({ count: 8192, name: 'quickstart' });
const pipeline = await Pipeline.start({
  graph: new URL('./quickstart-graph.mjs', import.meta.url), // runs in the worker
  workers: 1,
  pool,
  options: { rate: 200_000 }, // packets per second from the generator
});

await new Promise((r) => setTimeout(r, 300));
const live = pipeline.stats().total; // shared memory: no message to the worker
console.log(`after 300 ms: ${live.ports.gen.rxPackets} generated, ${live.ports.even.txPackets} even, ${live.ports.odd.txPackets} odd`);

const [record] = await pipeline.trace({ count: 1, filter: { srcPort: 1025 } });
for (const hop of record.hops) console.log(`trace: ${hop.stage} -> ${hop.verdict}`, JSON.stringify(hop.changed));
console.log(`trace: left by ${record.result}`);

const final = await pipeline.stop(); // in-flight buffers back to the pool, ports closed
console.log(`stopped: ${final.total.rxPackets} packets, drops ${JSON.stringify(final.total.drops['ttl:expired'] ?? 0)}, pool in use ${pool.stats().inUse}`);
pool.close();
