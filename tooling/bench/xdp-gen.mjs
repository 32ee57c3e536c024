#!/usr/bin/env node
// A UDP traffic generator on an AF_XDP port, for the forwarding benchmarks: the sender must
// not be what limits the device under test. Run it inside the sender's namespace:
//
//   ip netns exec h1 node tooling/bench/xdp-gen.mjs --interface v1h --dst-mac 02:..:01 \
//       --dst-ip 10.0.2.2 --flows 64 --seconds 5
//
// Prints one JSON line: {"txPps":..., "txPackets":..., "seconds":..., ...}.
//
// How it goes fast: the pool belongs to the generator alone and every buffer is written
// once, at start-up, with a complete frame (flow = buffer index % flows) and its metadata.
// The kernel only reads a buffer it transmits, so a buffer that comes back through the
// completion ring still holds its frame: the loop is pool.get -> txBurst, no copy per packet.
// The port never calls rxBurst (that would put received frames in the pool), and lends the
// kernel as few receive buffers as it can (fillSize 64).
import { Burst, Mempool } from '@vnf-sdk/core';
import { AfXdpPort } from '@vnf-sdk/ports';
import { build } from '@vnf-sdk/protocols';

const HELP = `usage: xdp-gen.mjs --interface IF [options]
  --interface IF      interface to send on (required)
  --seconds S         how long to send (default 5)
  --flows N           UDP flows, by source port (default 16)
  --size B            frame size in bytes without FCS, 60 to 1514 (default 64)
  --dst-mac MAC       (default 02:00:00:00:00:02)   --src-mac MAC (default: 02:00:00:00:00:01)
  --dst-ip IP         (default 10.0.2.2)            --src-ip IP   (default 10.0.1.2)
  --dst-port P        (default 9)                   --src-port P  first source port (default 1024)
  --burst N           buffers per txBurst (default 256)
  --buffers N         pool size (default 16384)     --tx-ring N   TX/completion ring size (default 4096)
  --queue Q           interface queue id (default 0)
  --xdp-mode M        native | generic | auto (default auto; the port must attach a program)
  --cycle-flows 1     rewrite each frame's source port as it is sent, round-robin over --flows: every
                      flow is sent whichever buffers the pool's cache hands out (without it, flow =
                      buffer index % flows, and a LIFO cache may reuse only a few hundred buffers)
  --new-sources N     every packet from a new (source address, source port): ports --src-port..65535,
                      then the next of N addresses from --src-ip up (its last byte; default 0: off,
                      --flows decides). Each frame's address, port and checksums are rewritten as it
                      is sent; the tuples repeat after N * (65536 - src-port) packets.`;

function parseArgs(argv) {
  const o = {
    interface: '',
    seconds: 5,
    flows: 16,
    size: 64,
    dstMac: '02:00:00:00:00:02',
    srcMac: '02:00:00:00:00:01',
    dstIp: '10.0.2.2',
    srcIp: '10.0.1.2',
    dstPort: 9,
    srcPort: 1024,
    burst: 256,
    buffers: 16384,
    txRing: 4096,
    queue: 0,
    xdpMode: 'auto',
    newSources: 0,
    cycleFlows: 0,
  };
  const numeric = new Set(['seconds', 'flows', 'size', 'dstPort', 'srcPort', 'burst', 'buffers', 'txRing', 'queue', 'newSources', 'cycleFlows']);
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === '--help' || arg === '-h') {
      console.log(HELP);
      process.exit(0);
    }
    const key = arg.replace(/^--/, '').replace(/-([a-z])/g, (_, c) => c.toUpperCase());
    if (!arg.startsWith('--') || !(key in o) || i + 1 >= argv.length) {
      console.error(`xdp-gen: bad argument '${arg}'\n${HELP}`);
      process.exit(2);
    }
    const value = argv[++i];
    o[key] = numeric.has(key) ? Number(value) : value;
    if (numeric.has(key) && !(Number.isFinite(o[key]) && o[key] >= 0)) {
      console.error(`xdp-gen: --${arg.slice(2)} must be a non-negative number, got '${value}'`);
      process.exit(2);
    }
  }
  if (!o.interface) {
    console.error(`xdp-gen: --interface is required\n${HELP}`);
    process.exit(2);
  }
  if (o.size < 60 || o.size > 1514) {
    console.error('xdp-gen: --size must be from 60 to 1514');
    process.exit(2);
  }
  if (o.newSources > 0 && Number(o.srcIp.split('.')[3]) + o.newSources > 255) {
    console.error('xdp-gen: --src-ip plus --new-sources addresses must stay within the last byte (up to .255)');
    process.exit(2);
  }
  return o;
}

const o = parseArgs(process.argv.slice(2));
const frames = Array.from({ length: o.flows }, (_, f) =>
  build([
    { type: 'ethernet', src: o.srcMac, dst: o.dstMac },
    { type: 'ipv4', src: o.srcIp, dst: o.dstIp },
    { type: 'udp', srcPort: (o.srcPort + f) & 0xffff, dstPort: o.dstPort },
    { type: 'payload', data: new Uint8Array(o.size - 42) },
  ]),
);

const pool = Mempool.create({ count: o.buffers, name: 'xdp-gen' });
// Write every buffer once: frame, data offset and length.
const all = new Burst(Math.min(o.buffers, 4096));
const written = [];
for (;;) {
  const n = pool.get(all, Math.min(all.capacity, pool.stats().free));
  if (n === 0) break;
  for (let i = 0; i < all.count; i++) {
    const id = all.ids[i];
    pool.meta.dataOff[id] = pool.headroom;
    pool.meta.chain[id] = 0xffffffff;
    pool.write(id, frames[id % o.flows]);
  }
  written.push(Uint32Array.from(all.ids.subarray(0, all.count)));
  all.count = 0;
  if (pool.stats().free === 0) break;
}
for (const ids of written) {
  all.ids.set(ids);
  all.count = ids.length;
  pool.put(all);
}

const port = new AfXdpPort(pool, {
  interface: o.interface,
  queues: [o.queue],
  xdpMode: o.xdpMode,
  fillSize: 64,
  rxSize: 64,
  txSize: o.txRing,
  completionSize: o.txRing,
});

// --new-sources / --cycle-flows: the frames are flow 0's; each buffer gets a fresh (address, port) as it is
// taken for sending, and its IPv4 and UDP checksums from sums precomputed without those words.
const fold = (x) => {
  while (x > 0xffff) x = (x & 0xffff) + (x >>> 16);
  return x;
};
const words = (b, from, to) => {
  let s = 0;
  for (let i = from; i < to; i += 2) s += (b[i] << 8) | (b[i + 1] ?? 0);
  return s;
};
const IP = 14;
const UDP = 34;
const f0 = frames[0];
const srcHigh = (f0[IP + 12] << 8) | f0[IP + 13];
const srcLowBase = (f0[IP + 14] << 8) | f0[IP + 15];
// IPv4 header sum without the checksum and the source address's low word.
const ipBase = words(f0, IP, IP + 20) - ((f0[IP + 10] << 8) | f0[IP + 11]) - srcLowBase;
// UDP: pseudo header (source high word, destination, protocol, length) + header and payload
// without the checksum and the source port.
const udpLen = f0.length - UDP;
const udpBase = srcHigh + words(f0, IP + 16, IP + 20) + 17 + udpLen + words(f0, UDP, f0.length) - ((f0[UDP + 6] << 8) | f0[UDP + 7]) - ((f0[UDP] << 8) | f0[UDP + 1]);
const bytes = pool.bytes;
let nextPort = o.srcPort;
let nextHost = 0;
function stamp(id) {
  const at = pool.dataOffset(id);
  const low = srcLowBase + nextHost;
  const port = nextPort;
  if (o.newSources === 0) {
    if (++nextPort >= o.srcPort + o.flows || nextPort > 0xffff) nextPort = o.srcPort;
  } else if (++nextPort > 0xffff) {
    nextPort = o.srcPort;
    if (++nextHost >= o.newSources) nextHost = 0;
  }
  const ipSum = ~fold(ipBase + low) & 0xffff;
  let udpSum = ~fold(udpBase + low + port) & 0xffff;
  if (udpSum === 0) udpSum = 0xffff;
  bytes[at + IP + 14] = low >> 8;
  bytes[at + IP + 15] = low & 0xff;
  bytes[at + IP + 10] = ipSum >> 8;
  bytes[at + IP + 11] = ipSum & 0xff;
  bytes[at + UDP] = port >> 8;
  bytes[at + UDP + 1] = port & 0xff;
  bytes[at + UDP + 6] = udpSum >> 8;
  bytes[at + UDP + 7] = udpSum & 0xff;
}

const burst = new Burst(o.burst);
const counters = port.counters; // queue 0 of the port: txPackets at index 4
const TX_PACKETS = 4;
const start = process.hrtime.bigint();
const endNs = start + BigInt(Math.round(o.seconds * 1e9));
let now = start;
let loops = 0;
while (now < endNs) {
  if (burst.count < burst.capacity) {
    const had = burst.count;
    pool.get(burst, burst.capacity - burst.count);
    if (o.newSources > 0 || o.cycleFlows > 0) for (let i = had; i < burst.count; i++) stamp(burst.ids[i]);
  }
  port.txBurst(burst); // what the TX ring had no room for stays in the burst for next time
  if ((++loops & 63) === 0) now = process.hrtime.bigint();
}
const seconds = Number(process.hrtime.bigint() - start) / 1e9;
const txPackets = counters[TX_PACKETS];
pool.put(burst);
const stats = port.stats();
port.close();
const leaked = pool.count - pool.stats().free;
pool.close();
console.log(
  JSON.stringify({
    txPps: Math.round(txPackets / seconds),
    txPackets,
    seconds: Number(seconds.toFixed(3)),
    frameSize: o.size,
    flows: o.flows,
    newSources: o.newSources,
    cycleFlows: o.cycleFlows,
    interface: o.interface,
    mode: port.mode,
    xdpMode: port.xdpMode,
    txErrors: stats.txErrors,
    leaked,
  }),
);
