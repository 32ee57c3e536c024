// The JavaScript side of the parse benchmark: mix.pcap loaded into a mempool, parsed a
// burst of 32 at a time with BurstParser, with the outer and inner 5-tuples filled into
// FlowKeys in the same pass (parser.parse(burst, outer, inner)), as a stage that hashes or
// classifies flows would.
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

/**
 * Orders in which the shuffled measurement visits each burst's packets: 16 permutations
 * within each burst of 32, as the C++ peer does, so the branch predictor cannot learn the
 * capture's fixed sequence while memory locality stays the same.
 */
export function shuffledBursts({ pool, bursts }, orders = 16) {
  let x = 0x9e3779b9;
  const rnd = () => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return x >>> 0;
  };
  const out = [];
  for (let k = 0; k < orders; k++) {
    out.push(
      bursts.map((b) => {
        const s = new Burst(32);
        s.ids.set(b.ids.subarray(0, b.count));
        s.count = b.count;
        for (let i = s.count - 1; i > 0; i--) {
          const j = rnd() % (i + 1);
          const t = s.ids[i];
          s.ids[i] = s.ids[j];
          s.ids[j] = t;
        }
        return s;
      }),
    );
  }
  void pool;
  return out;
}

/**
 * Mpps of parse + outer and inner 5-tuple extraction over the loaded capture (one
 * measurement of about `seconds`). With `orders` (from shuffledBursts) each pass uses the
 * next order.
 */
export function measureParse({ pool, bursts, packets }, { seconds = 0.5, orders = null } = {}) {
  const parser = new BurstParser(pool);
  const outer = new FlowKeys(pool, 32);
  const inner = new FlowKeys(pool, 32);
  let acc = 0;
  let cur = 0;
  // Parse, with the outer and inner 5-tuples of every packet filled in the same pass, as a
  // flow-hashing stage would (parse_bench.cc's ParseKeysBurst does the same).
  const pass = () => {
    const list = orders === null ? bursts : orders[cur];
    if (orders !== null) cur = (cur + 1) % orders.length;
    for (let k = 0; k < list.length; k++) {
      const burst = list[k];
      parser.parse(burst, outer, inner);
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
