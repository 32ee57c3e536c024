// The JavaScript side of the parse benchmark: mix.pcap loaded into a mempool, parsed a
// burst of 32 at a time with BurstParser, and the outer and inner 5-tuples extracted with
// FlowKeys, as a stage that hashes or classifies flows would.
import { Burst, Mempool } from '@vnf-sdk/core';
import { BurstParser, CaptureReader, FlowKeys } from '@vnf-sdk/protocols';

/** Loads a capture into a fresh pool; returns the pool and bursts of 32 covering it. */
export function loadCapture(path) {
  const packets = [];
  const reader = CaptureReader.open(path);
  for (const p of reader) packets.push(p.data.slice());
  reader.close();
  const pool = Mempool.create({ count: packets.length + 64, name: 'parse-bench' });
  const bursts = [];
  for (let i = 0; i < packets.length; i += 32) {
    const b = new Burst(32);
    pool.alloc(b, Math.min(32, packets.length - i));
    for (let k = 0; k < b.count; k++) pool.write(b.ids[k], packets[i + k]);
    bursts.push(b);
  }
  return { pool, bursts, packets: packets.length };
}

/** Mpps of parse + 5-tuple extraction over the loaded capture (one measurement). */
export function measureParse({ pool, bursts, packets }, seconds = 0.5) {
  const parser = new BurstParser(pool);
  const outer = new FlowKeys(pool, 32);
  const inner = new FlowKeys(pool, 32);
  let acc = 0;
  // Parse, then the outer and inner 5-tuples of every packet, as a flow-hashing stage would.
  const pass = () => {
    for (let k = 0; k < bursts.length; k++) {
      const burst = bursts[k];
      parser.parse(burst);
      outer.extract(burst);
      inner.extract(burst, true);
      acc = (acc + outer.src[3] + outer.dstPort[burst.count - 1] + inner.dst[3]) | 0;
    }
  };
  for (let i = 0; i < 50; i++) pass(); // warm up the JIT
  let passes = 0;
  const t0 = process.hrtime.bigint();
  let ns = 0;
  while (ns < seconds * 1e9) {
    pass();
    passes++;
    ns = Number(process.hrtime.bigint() - t0);
  }
  return { mpps: (passes * packets) / ns * 1e3, checksum: acc };
}
