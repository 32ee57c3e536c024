#!/usr/bin/env node
// Writes the bundled captures of the sample router (config/sample.json):
//   data/sample.pcap     what arrives on p0 (10.0.1.1/24): ARP, pings, traffic through the
//                        router, TTL 1, no route, too big, malformed, IPv6, local UDP
//   data/sample-p1.pcap  what arrives on p1 (10.0.2.1/24): the ARP reply of 10.0.2.3, the
//                        attached host the traffic of sample.pcap is sent to
// Deterministic (fixed timestamps): running it again gives the same bytes.
// Usage: node scripts/make-sample.mjs   (needs @vnf-sdk/protocols built: npm run build at the root)
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build, CaptureWriter } from '@vnf-sdk/protocols';

const here = dirname(fileURLToPath(import.meta.url));
const P0 = '02:00:00:00:01:01';
const P1 = '02:00:00:00:02:01';
const A = { mac: '02:00:00:00:01:0a', ip: '10.0.1.10' };
const B = { mac: '02:00:00:00:01:14', ip: '10.0.1.20' };
const C = { mac: '02:00:00:00:02:03', ip: '10.0.2.3' };
const BROADCAST = 'ff:ff:ff:ff:ff:ff';

const eth = (from, to = P0) => ({ type: 'ethernet', src: from.mac, dst: to });
const arpRequest = (from, targetIp) => build([eth(from, BROADCAST), { type: 'arp', operation: 1, senderMac: from.mac, senderIp: from.ip, targetIp }]);
const ping = (from, dst, seq) =>
  build([
    eth(from),
    { type: 'ipv4', src: from.ip, dst, id: 100 + seq },
    { type: 'icmp', icmpType: 8, code: 0, rest: (0x4242 << 16) | seq },
    { type: 'payload', data: new Uint8Array(56).map((_, i) => i) },
  ]);
const udp = (from, dst, { ttl = 64, size = 32, df = true, dstPort = 53, id = 1 } = {}) =>
  build([
    eth(from),
    { type: 'ipv4', src: from.ip, dst, ttl, dontFragment: df, id },
    { type: 'udp', srcPort: 40000 + id, dstPort },
    { type: 'payload', data: new Uint8Array(size).fill(0x61 + (id % 26)) },
  ]);
const tcp = (from, dst, { ttl = 64, id = 1 } = {}) =>
  build([eth(from), { type: 'ipv4', src: from.ip, dst, ttl, dontFragment: true, id }, { type: 'tcp', srcPort: 50000 + id, dstPort: 443, seq: 1000 * id }]);

const p0 = [
  // Hosts on p0 resolve the router.
  arpRequest(A, '10.0.1.1'),
  arpRequest(B, '10.0.1.1'),
  arpRequest(A, '10.0.1.99'), // another host: not answered
  // Pings to the router's two addresses.
  ping(A, '10.0.1.1', 1),
  ping(A, '10.0.1.1', 2),
  ping(B, '10.0.1.1', 3),
  ping(A, '10.0.2.1', 4),
  // Through the router to the routed network 10.9.0.0/16 (gateway 10.0.2.2, a static neighbour).
  udp(A, '10.9.1.5', { id: 1 }),
  udp(A, '10.9.1.5', { id: 2 }),
  udp(B, '10.9.1.5', { id: 3 }),
  udp(B, '10.9.200.9', { id: 4, size: 200 }),
  tcp(A, '10.9.3.7', { id: 5 }),
  tcp(A, '10.9.3.7', { id: 6 }),
  tcp(B, '10.9.3.7', { id: 7 }),
  tcp(B, '10.9.3.8', { id: 8 }),
  // To the attached network of p1: 10.0.2.3, resolved by ARP (its reply is in sample-p1.pcap).
  udp(A, C.ip, { id: 9, dstPort: 9000 }),
  udp(A, C.ip, { id: 10, dstPort: 9000 }),
  tcp(B, C.ip, { id: 11 }),
  // TTL 1: time exceeded.
  udp(A, '10.9.1.5', { ttl: 1, id: 12 }),
  udp(B, C.ip, { ttl: 1, id: 13 }),
  tcp(A, '10.9.3.7', { ttl: 1, id: 14 }),
  // No route: net unreachable.
  udp(A, '192.168.7.7', { id: 15 }),
  tcp(A, '172.16.1.1', { id: 16 }),
  // Over p1's MTU (1400) with DF: fragmentation needed.
  udp(A, '10.9.1.5', { id: 17, size: 1450 }),
  // Malformed: cut inside the IPv4 header; a bad header checksum; a bad IHL.
  udp(A, '10.9.1.5', { id: 18 }).subarray(0, 30),
  (() => {
    const f = udp(A, '10.9.1.5', { id: 19 });
    f[14 + 10] ^= 0x5a;
    return f;
  })(),
  (() => {
    const f = udp(A, '10.9.1.5', { id: 20 });
    f[14] = 0x43; // IHL 3
    return f;
  })(),
  // IPv6: not routed.
  build([eth(A), { type: 'ipv6', src: '2001:db8::a', dst: '2001:db8:9::5' }, { type: 'udp', srcPort: 40021, dstPort: 53 }, { type: 'payload', data: new Uint8Array(16) }]),
  // UDP to the router itself: not handled.
  udp(A, '10.0.1.1', { id: 22, dstPort: 161 }),
];

const p1 = [build([{ type: 'ethernet', src: C.mac, dst: P1 }, { type: 'arp', operation: 2, senderMac: C.mac, senderIp: C.ip, targetMac: P1, targetIp: '10.0.2.1' }])];

function write(name, frames) {
  const w = CaptureWriter.open(join(here, '..', 'data', name));
  const t0 = 1_700_000_000_000_000_000n;
  for (const [i, f] of frames.entries()) w.write(f, t0 + BigInt(i) * 1_000_000n);
  w.close();
  console.log(`data/${name}: ${frames.length} packets`);
}

write('sample.pcap', p0);
write('sample-p1.pcap', p1);
