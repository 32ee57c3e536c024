// The README's example: a UDP query from an inside host, its answer and an unsolicited packet
// through a NatStage, by packet bytes; then the log of the mapping it created.
import { Burst, Mempool } from '@vnf-sdk/core';
import { Nat, NatStage } from '@vnf-sdk/nat';
import { BurstParser, build, decode } from '@vnf-sdk/protocols';

const nat = Nat.create({ pool: ['198.51.100.1'], filtering: 'address-dependent', log: { mappings: true } });
const pool = Mempool.create({ count: 256, name: 'nat-quickstart' });
const names = [];
const id = (s) => (names.includes(s) ? names.indexOf(s) : names.push(s) - 1);
const stage = new NatStage({ nat: nat.id, outside: ['wan'], next: 'stage:route' });
stage.init({ pool, port: (n) => id(`port:${n}`), stage: (n) => id(`stage:${n}`), drop: (r) => id(`drop:${r}`), portNames: ['lan', 'wan'] });

const udp = (src, sport, dst, dport) =>
  build([{ type: 'ethernet' }, { type: 'ipv4', src, dst }, { type: 'udp', srcPort: sport, dstPort: dport }, { type: 'payload', data: new Uint8Array(4) }]);
const show = (bytes) => {
  const [, ip, u] = decode(bytes).layers;
  return `${ip.src}:${u.srcPort} -> ${ip.dst}:${u.dstPort}`;
};
const burst = new Burst(8);
const parser = new BurstParser(pool);
const send = (what, port, frame) => {
  pool.alloc(burst, 1);
  pool.write(burst.ids[0], frame);
  pool.meta.port[burst.ids[0]] = port; // 0: lan (inside), 1: wan (outside)
  parser.parse(burst);
  stage.process(burst);
  const b = burst.ids[0];
  console.log(`${what}: ${names[pool.meta.next[b]]} ${show(pool.read(b))}`);
  pool.put(burst);
};
send('query', 0, udp('10.0.0.2', 5000, '203.0.113.53', 53));
send('answer', 1, udp('203.0.113.53', 53, '198.51.100.1', 5000));
send('unsolicited', 1, udp('192.0.2.66', 53, '198.51.100.1', 5000));
for (const e of nat.drainLog()) console.log(Nat.formatEvent(e).replace(/^\S+/, '<time>'));
const s = nat.stats();
console.log(`sessions: ${s.sessions}, mappings: ${s.mappings}, filtered: ${s.actions.filtered}`);
stage.close();
nat.close();
pool.close();
