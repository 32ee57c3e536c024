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
 * next order. `lib` is where BurstParser and FlowKeys come from (another build of the package,
 * for protocols-ab.mjs); by default @vnf-sdk/protocols.
 */
export function measureParse({ pool, bursts, packets }, { seconds = 0.5, orders = null, lib = null } = {}) {
  const parser = new (lib?.BurstParser ?? BurstParser)(pool);
  const outer = new (lib?.FlowKeys ?? FlowKeys)(pool, 32);
  const inner = new (lib?.FlowKeys ?? FlowKeys)(pool, 32);
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

/** Bytes per packet and level in keyRecords (and in parse_bench --keys-dump). */
export const KEY_RECORD = 38;

/**
 * The self-check of the C++ peer: the outer and inner keys that parser.parse(burst, outer,
 * inner) stores for every packet of the capture, in capture order, one burst after another
 * (the C++ peer prints the digest of the same records as keys-digest and writes them with
 * --keys-dump). Per packet, outer then inner, KEY_RECORD bytes each: version, protocol,
 * srcPort and dstPort (big-endian), the four src words then the four dst words (each
 * big-endian). The addresses of a version-0 entry count as zero: FlowKeys leaves them as they
 * were. Returns the records and each packet's ptype (for the report of a mismatch).
 */
export function keyRecords({ pool, bursts, packets }) {
  const parser = new BurstParser(pool);
  const outer = new FlowKeys(pool, 32);
  const inner = new FlowKeys(pool, 32);
  const records = Buffer.alloc(packets * 2 * KEY_RECORD);
  const ptypes = new Uint32Array(packets);
  let o = 0;
  const put = (keys, j) => {
    const v = keys.version[j];
    records[o] = v;
    records[o + 1] = keys.protocol[j];
    records.writeUInt16BE(keys.srcPort[j], o + 2);
    records.writeUInt16BE(keys.dstPort[j], o + 4);
    if (v !== 0) {
      for (let w = 0; w < 4; w++) {
        records.writeUInt32BE(keys.src[4 * j + w], o + 6 + 4 * w);
        records.writeUInt32BE(keys.dst[4 * j + w], o + 22 + 4 * w);
      }
    }
    o += KEY_RECORD;
  };
  let p = 0;
  for (const burst of bursts) {
    parser.parse(burst, outer, inner);
    for (let j = 0; j < burst.count; j++) {
      put(outer, j);
      put(inner, j);
      ptypes[p++] = pool.meta.ptype[burst.ids[j]];
    }
  }
  return { records, ptypes };
}

/** FNV-1a 64 of the bytes, as 16 hex digits (parse_bench's keys-digest). */
export function fnv1a64(bytes) {
  let h = 0xcbf29ce484222325n;
  for (const c of bytes) h = ((h ^ BigInt(c)) * 0x100000001b3n) & 0xffffffffffffffffn;
  return h.toString(16).padStart(16, '0');
}

/**
 * Compares the JS keys (keyRecords) with another program's records of the same capture;
 * returns null when they are equal, else a description of the first differences.
 */
export function diffKeyRecords({ records, ptypes }, other, max = 5) {
  if (other.length !== records.length) {
    return `${other.length / (2 * KEY_RECORD)} packets of keys against ${records.length / (2 * KEY_RECORD)} in JS`;
  }
  const lines = [];
  let count = 0;
  for (let o = 0; o < records.length; o += KEY_RECORD) {
    const a = records.subarray(o, o + KEY_RECORD);
    const b = other.subarray(o, o + KEY_RECORD);
    if (a.equals(b)) continue;
    if (count++ < max) {
      const r = o / KEY_RECORD;
      lines.push(
        `packet ${r >> 1} ${r & 1 ? 'inner' : 'outer'} keys (JS ptype 0x${ptypes[r >> 1].toString(16)}):`,
        `  JS:    ${describeKeyRecord(a)}`,
        `  other: ${describeKeyRecord(b)}`,
      );
    }
  }
  return count === 0 ? null : `${count} of ${records.length / KEY_RECORD} key records differ; first ones:\n${lines.join('\n')}`;
}

/** One KEY_RECORD-byte record, readable. */
export function describeKeyRecord(r) {
  const words = (at) => Array.from({ length: 4 }, (_, w) => r.readUInt32BE(at + 4 * w).toString(16)).join(':');
  return `v${r[0]} proto ${r[1]} ${words(6)} port ${r.readUInt16BE(2)} -> ${words(22)} port ${r.readUInt16BE(4)}`;
}
