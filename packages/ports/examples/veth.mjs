// The example from this package's README. Run as root: node examples/veth.mjs
// Makes a veth pair, sends a burst of UDP frames from one end with an AfPacketPort and
// receives them on the other end with a second one, then removes the pair.
import { execSync } from 'node:child_process';
import { Burst, Mempool } from '@vnf-sdk/core';
import { AfPacketPort } from '@vnf-sdk/ports';
import { build, decode, findLayer } from '@vnf-sdk/protocols';

const [a, b] = [`vxa${process.pid}`, `vxb${process.pid}`];
execSync(`ip link add ${a} type veth peer name ${b}`);
try {
  for (const n of [a, b]) {
    // No IPv6 chatter; no checksum offload or GSO (veth would pass partial checksums and 64 KiB frames).
    execSync(`sysctl -qw net.ipv6.conf.${n}.disable_ipv6=1; ethtool -K ${n} tx off gso off tso off >/dev/null; ip link set ${n} up`);
  }
  const pool = Mempool.create({ count: 1024, name: 'example' });
  const tx = new AfPacketPort(pool, { interface: a, id: 0 });
  const rx = new AfPacketPort(pool, { interface: b, id: 1 });

  const burst = new Burst(32);
  pool.alloc(burst, 32);
  for (let i = 0; i < 32; i++) {
    pool.write(burst.ids[i], build([
      { type: 'ethernet', src: tx.mac, dst: rx.mac },
      { type: 'ipv4', src: '192.0.2.1', dst: '192.0.2.2' },
      { type: 'udp', srcPort: 10000 + i, dstPort: 9 },
      { type: 'payload', data: new Uint8Array(18) },
    ]));
  }
  console.log(`sent ${tx.txBurst(burst)} frames on ${a}`);

  const got = new Burst(32);
  const until = Date.now() + 1000;
  while (got.count < 32 && Date.now() < until) rx.rxBurst(got);
  const first = decode(pool.read(got.ids[0]));
  console.log(`received ${got.count} frames on ${b}, port ${pool.meta.port[got.ids[0]]}, first from UDP port ${findLayer(first, 'udp')?.srcPort}`);
  console.log('rx stats', rx.stats());
  pool.put(got);
  tx.close();
  rx.close();
  console.log(`pool in use after close: ${pool.stats().inUse}`);
  pool.close();
} finally {
  execSync(`ip link del ${a}`);
}
