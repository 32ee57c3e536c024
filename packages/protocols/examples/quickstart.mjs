// The example from this package's README. Run: node examples/quickstart.mjs
// Builds a few packets, writes them to a capture file, reads it back into a mempool,
// parses the burst in place, and looks at what was found.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Burst, Mempool } from '@vnf-sdk/core';
import { BurstParser, build, CaptureReader, CaptureWriter, decode, FlowKeys, PacketFields, PTYPE, reasonName, reasonOf } from '@vnf-sdk/protocols';

// 1. Packets from objects: lengths, next-protocol fields and checksums are filled in.
const eth = { type: 'ethernet', src: '02:00:00:00:00:01', dst: '02:00:00:00:00:02' };
const packets = [
  build([eth, { type: 'ipv4', src: '10.0.0.1', dst: '10.0.0.2' }, { type: 'tcp', srcPort: 40000, dstPort: 443 }]),
  build([eth, { type: 'ipv6', src: '2001:db8::1', dst: '2001:db8::2' }, { type: 'udp', srcPort: 5353, dstPort: 53 }]),
  build([
    eth,
    { type: 'ipv4', src: '192.0.2.1', dst: '192.0.2.2' },
    { type: 'udp', srcPort: 49152 },
    { type: 'vxlan', vni: 42 },
    eth,
    { type: 'ipv4', src: '172.16.0.1', dst: '172.16.0.2' },
    { type: 'tcp', srcPort: 1234, dstPort: 80 },
  ]),
  Uint8Array.of(1, 2, 3), // a runt frame
];

// 2. A capture file, written and read back (streaming: a big file is never loaded whole).
const dir = mkdtempSync(join(tmpdir(), 'vnf-'));
const file = join(dir, 'example.pcap');
const writer = CaptureWriter.open(file);
for (const p of packets) writer.write(p, BigInt(Date.now()) * 1_000_000n);
writer.close();

const pool = Mempool.create({ count: 64, name: 'example' });
const burst = new Burst(32);
const reader = CaptureReader.open(file);
for (const p of reader) {
  pool.alloc(burst, 1);
  pool.write(burst.ids[burst.count - 1], p.data);
}
reader.close();
rmSync(dir, { recursive: true });

// 3. The fast path: parse the whole burst in place, then read fields at the offsets.
new BurstParser(pool).parse(burst);
const keys = new FlowKeys(pool, 32);
keys.extract(burst);
const inner = new FlowKeys(pool, 32);
inner.extract(burst, true);
const fields = new PacketFields(pool);
for (let i = 0; i < burst.count; i++) {
  const b = burst.ids[i];
  const t = pool.meta.ptype[b];
  const kinds = Object.entries(PTYPE)
    .filter(([name, bit]) => name !== 'MALFORMED' && t & bit)
    .map(([name]) => name.toLowerCase());
  if (t & PTYPE.MALFORMED) {
    console.log(`packet ${i}: dropped, ${reasonName(reasonOf(t))}`);
    continue;
  }
  let line = `packet ${i}: ${kinds.join('|')}, protocol ${keys.protocol[i]}, ports ${keys.srcPort[i]} -> ${keys.dstPort[i]}, TTL ${fields.ttl(b)}`;
  if (t & PTYPE.VXLAN) line += `, VNI ${fields.vni(b)}, inner ports ${inner.srcPort[i]} -> ${inner.dstPort[i]}`;
  console.log(line);
}

// 4. The friendly path, for tools: one packet as plain objects.
console.log(decode(pool.read(burst.ids[0])).layers.map((l) => l.type).join(' / '));
pool.put(burst);
pool.close();
