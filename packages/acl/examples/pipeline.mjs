// The pipeline example from this package's README. Run: node examples/pipeline.mjs
// An ACL table on the main thread, a pipeline worker classifying 400 000 generated packets
// through it, a new rule set swapped in while the worker runs, then the counters.
import { AclTable, parseRuleFile } from '@vnf-sdk/acl';
import { Mempool } from '@vnf-sdk/core';
import { Pipeline } from '@vnf-sdk/pipeline';

const v1 = parseRuleFile(
  `permit proto tcp dport 443
reject proto tcp dport 23
permit proto udp dport 53`,
  'v1.acl',
); // anything else: no match, denied
const table = await AclTable.create(v1, { noMatch: 'deny' });
const s1 = table.stats();
console.log(`v1: ${s1.rules} rules, built in ${s1.buildSeconds < 0.1 ? '< 0.1' : s1.buildSeconds.toFixed(2)} s, ${s1.memoryBytes > 0 ? 'memory reported' : '?'}`);

const pool = Mempool.create({ count: 8192, name: 'acl-example' });
const pipeline = await Pipeline.start({
  graph: new URL('./pipeline-graph.mjs', import.meta.url), // runs in the worker
  workers: 1,
  pool,
  options: { table: table.id, count: 400_000, rate: 1_000_000 }, // the worker's AclStage reads the table by id
  untilFinished: true,
});

// While the worker classifies: a second set, compiled off the JS thread and swapped in
// between two bursts. No burst sees half of it.
const v2 = parseRuleFile('permit proto tcp dport 443\nreject proto tcp dport 23\npermit proto udp', 'v2.acl');
const s2 = await table.load(v2, { noMatch: 'deny' });
console.log(`v2: generation ${s2.generation}, ${s2.rules} rules`);

const final = await pipeline.finished;
const d = final.total.drops;
const sent = final.total.ports.out.txPackets;
console.log(`classified ${final.total.rxPackets}: out ${sent + (d['acl:reject'] ?? 0) + (d['acl:no-match'] ?? 0) === final.total.rxPackets ? 'and drops add up' : 'MISMATCH'}`);
console.log(`telnet rejected: ${d['acl:reject']}`); // 1 packet in 4, under both sets
for (const r of table.counters().rules) console.log(`${r.origin}: ${r.action} ${r.packets > 0 ? 'matched' : 'unmatched'}`);
console.log(`pool in use after stop: ${pool.stats().inUse}`);
table.close();
pool.close();
