// The README's example: a TCP handshake tracked through a ConntrackStage, by packet bytes.
import { Burst, Mempool } from '@vnf-sdk/core';
import { BurstParser, build } from '@vnf-sdk/protocols';
import { ConntrackStage, ConntrackTable } from '@vnf-sdk/conntrack';

const table = ConntrackTable.create({ capacity: 1 << 16, timeouts: { established: 3600 } });
const pool = Mempool.create({ count: 256, name: 'ct-quickstart' });
const names = ['port:out', 'drop:invalid', 'drop:table-full', 'drop:malformed'];
const stage = new ConntrackStage({ table: table.id, mode: 'track', next: 'port:out' });
stage.init({ pool, port: (n) => names.indexOf(`port:${n}`), stage: () => 99, drop: (r) => names.indexOf(`drop:${r}`) });

const tcp = (src, sport, dst, dport, flags) =>
  build([{ type: 'ethernet' }, { type: 'ipv4', src, dst }, { type: 'tcp', srcPort: sport, dstPort: dport, flags }]);
const packets = [
  ['SYN', tcp('10.0.0.1', 40000, '192.0.2.80', 80, 0x02)],
  ['SYN-ACK', tcp('192.0.2.80', 80, '10.0.0.1', 40000, 0x12)],
  ['ACK', tcp('10.0.0.1', 40000, '192.0.2.80', 80, 0x10)],
  ['SYN+FIN', tcp('10.0.0.1', 40001, '192.0.2.80', 80, 0x03)],
];
const burst = new Burst(1);
const parser = new BurstParser(pool);
for (const [what, frame] of packets) {
  pool.alloc(burst, 1);
  pool.write(burst.ids[0], frame);
  parser.parse(burst);
  stage.process(burst);
  console.log(`${what}: ${names[pool.meta.next[burst.ids[0]]]}`);
  pool.put(burst);
}
const s = table.stats();
console.log(`sessions: ${s.inUse}, created: ${s.created}, invalid: ${s.invalid}`);
stage.close();
table.close();
pool.close();
