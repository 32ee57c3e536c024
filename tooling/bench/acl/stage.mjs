// The ACL as a pipeline stage sees it: real frames in a mempool, parsed once by BurstParser,
// then classified burst after burst through NativeAclReader (one N-API call per burst: keys
// read from the packets, both rule lists, next step, mark, counters). Used by ../acl-suite.mjs
// next to the classifier core (acl_bench) and rte_acl on the same ClassBench set and trace.
//
// The frames are the trace's first packets that a real packet can carry as the trace says:
// TCP, UDP and SCTP (ClassBench traces put arbitrary 16-bit "ports" on ICMP and other
// protocols). Each classified packet's rule is checked against acl_bench's match for the
// same trace line, so the timed path is also a correctness check of the whole binding.
import { readFileSync } from 'node:fs';
import { AclTable, parseClassBench } from '@vnf-sdk/acl';
import { ACL_VERDICTS, Burst, Mempool, NativeAclReader } from '@vnf-sdk/core';
import { BurstParser, build } from '@vnf-sdk/protocols';

const L4 = { 6: 'tcp', 17: 'udp', 132: 'sctp' };
const ip = (n) => `${n >>> 24}.${(n >>> 16) & 255}.${(n >>> 8) & 255}.${n & 255}`;

/** Prepares the frames and the table; `run(seconds)` then measures Mpps. Call `close()` after. */
export async function stageBench(rulesPath, tracePath, matchesPath, { packets = 65_536, burst = 64 } = {}) {
  const rules = parseClassBench(readFileSync(rulesPath, 'utf8'), rulesPath);
  const table = await AclTable.create(rules, { noMatch: 'deny' });
  const trace = readFileSync(tracePath, 'utf8').split('\n');
  const want = readFileSync(matchesPath, 'utf8').split('\n');
  const frames = [];
  const expected = [];
  for (let i = 0; i < trace.length && frames.length < packets; i++) {
    const [src, dst, sport, dport, proto] = trace[i].split(' ').map(Number);
    if (!L4[proto]) continue;
    frames.push(
      build([
        { type: 'ethernet', src: '02:00:00:00:00:01', dst: '02:00:00:00:00:02' },
        { type: 'ipv4', src: ip(src), dst: ip(dst) },
        { type: L4[proto], srcPort: sport, dstPort: dport },
      ]),
    );
    expected.push(Number(want[i]));
  }
  const pool = Mempool.create({ count: frames.length + 1024, name: 'acl-stage-bench' });
  const parser = new BurstParser(pool);
  const bursts = [];
  for (let at = 0; at < frames.length; at += burst) {
    const b = new Burst(burst);
    const n = Math.min(burst, frames.length - at);
    if (pool.alloc(b, n) !== n) throw new Error('acl stage bench: pool too small');
    for (let i = 0; i < n; i++) pool.write(b.ids[i], frames[at + i]);
    parser.parse(b);
    bursts.push(b);
  }
  const reader = new NativeAclReader(table.id, pool, Uint16Array.from({ length: ACL_VERDICTS }, (_, i) => i), burst);
  // Correctness first: every packet's rule equals acl_bench's (itself equal to rte_acl's).
  let mismatches = 0;
  bursts.forEach((b, k) => {
    reader.classify(b);
    for (let i = 0; i < b.count; i++) {
      const got = reader.match[i] === 0xffffffff ? -1 : reader.match[i];
      if (got !== expected[k * burst + i]) mismatches++;
    }
  });
  return {
    packets: frames.length,
    mismatches,
    rules: table.stats(),
    /** Classifies every burst again and again for about `seconds`; returns Mpps. */
    run(seconds = 0.5) {
      let n = 0;
      const t0 = process.hrtime.bigint();
      const end = t0 + BigInt(Math.round(seconds * 1e9));
      let now = t0;
      while (now < end) {
        for (const b of bursts) {
          reader.classify(b);
          n += b.count;
        }
        now = process.hrtime.bigint();
      }
      return n / (Number(now - t0) / 1e3);
    },
    close() {
      reader.close();
      for (const b of bursts) pool.put(b);
      pool.close();
      table.close();
    },
  };
}
