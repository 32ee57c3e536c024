// Appliance mode: rt is an empty box with two up interfaces and no kernel routing, waiting
// for a user-space router on p0/p1. Without one nothing crosses, and rt's kernel stays silent.
import { itWhen } from '@vnf-sdk/test-support';
import { afterAll, beforeAll, describe, expect } from 'vitest';
import { ADDRS, MACS, pcapFields, Topology } from '../src/index.js';
import { netnsReason } from './helpers.js';

describe('appliance mode', () => {
  let topo: Topology;
  beforeAll(async () => {
    if (netnsReason !== null) return;
    topo = await Topology.create({ router: 'appliance' });
  });
  afterAll(async () => {
    await topo?.destroy();
  });

  itWhen(netnsReason, "rt's interfaces are up with no addresses, IPv6 off and forwarding off", async () => {
    for (const ifn of ['p0', 'p1']) {
      const l = await topo.link('rt', ifn);
      expect(l, ifn).toMatchObject({ up: true, lowerUp: true, operstate: 'UP', ipv4: [], ipv6: [], promisc: false });
      expect((await topo.exec('rt', 'sysctl', ['-n', `net.ipv6.conf.${ifn}.disable_ipv6`])).stdout.trim()).toBe('1');
    }
    expect((await topo.link('rt', 'p0')).mac).toBe(MACS.rtP0);
    expect((await topo.exec('rt', 'sysctl', ['-n', 'net.ipv4.ip_forward'])).stdout.trim()).toBe('0');
    expect((await topo.exec('rt', 'ip', ['-4', 'route', 'show'])).stdout.trim()).toBe('');
    // The hosts are configured as in kernel mode.
    expect((await topo.link('h1', 'eth0')).ipv4).toEqual(['10.231.1.2/24']);
    expect((await topo.link('h2', 'eth0')).ipv4).toEqual(['10.231.2.2/24']);
  });

  itWhen(netnsReason, 'ping h1 -> h2 fails: nothing forwards, and the kernel in rt answers nothing (not even ARP)', async () => {
    const p0 = await topo.ifStats('rt', 'p0');
    const h2 = await topo.ifStats('h2', 'eth0');
    const r = await topo.ping('h1', ADDRS.h2, { count: 2, interval: 0.2, waitSeconds: 1 });
    expect(r).toMatchObject({ received: 0, lossPercent: 100 });
    const p0After = await topo.ifStats('rt', 'p0');
    expect(p0After.rxPackets - p0.rxPackets).toBeGreaterThan(0); // h1's ARP requests reached rt
    expect(p0After.txPackets - p0.txPackets).toBe(0); // and nobody there answered
    expect((await topo.ifStats('h2', 'eth0')).rxPackets - h2.rxPackets).toBe(0);
  });
});

describe('appliance mode with static gateway neighbours and promiscuous ports', () => {
  let topo: Topology;
  beforeAll(async () => {
    if (netnsReason !== null) return;
    topo = await Topology.create({ router: 'appliance', staticGatewayNeighbours: true, promisc: true });
  });
  afterAll(async () => {
    await topo?.destroy();
  });

  itWhen(netnsReason, 'h1 sends IPv4 straight to p0 without ARP, and it stops there', async () => {
    expect((await topo.link('rt', 'p0')).promisc).toBe(true);
    expect((await topo.exec('h1', 'ip', ['neigh', 'show', ADDRS.rtP0])).stdout).toContain(`lladdr ${MACS.rtP0} PERMANENT`);
    const cap = await topo.capture('rt', 'p0', { direction: 'in' });
    const r = await topo.ping('h1', ADDRS.h2, { count: 3, interval: 0.2, waitSeconds: 1 });
    expect(r).toMatchObject({ transmitted: 3, received: 0 });
    const path = await cap.stop();
    const rows = await pcapFields(path, ['eth.dst', '_ws.col.Protocol']);
    expect(rows).toEqual([
      [MACS.rtP0, 'ICMP'],
      [MACS.rtP0, 'ICMP'],
      [MACS.rtP0, 'ICMP'],
    ]);
  });
});
