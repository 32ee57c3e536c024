// wiring: 'tap': no veths; a TAP made in rt (by the appliance, here by `ip tuntap`) becomes a
// host's eth0 through adoptTap, configured as the veth wiring would configure it.
import { itWhen } from '@vnf-sdk/test-support';
import { afterAll, beforeAll, describe, expect } from 'vitest';
import { MACS, Topology } from '../src/index.js';
import { netnsReason } from './helpers.js';

describe("wiring: 'tap'", () => {
  let topo: Topology;
  beforeAll(async () => {
    if (netnsReason !== null) return;
    topo = await Topology.create({ router: 'appliance', wiring: 'tap' });
  });
  afterAll(async () => {
    await topo?.destroy();
  });

  itWhen(netnsReason, 'makes no veths; adoptTap turns a TAP of rt into a configured eth0 of h1', async () => {
    for (const r of ['h1', 'rt', 'h2'] as const) expect((await topo.exec(r, 'ip', ['-o', 'link', 'show'])).stdout.trim().split('\n')).toHaveLength(1); // lo
    await topo.exec('rt', 'ip', ['tuntap', 'add', 'dev', 'p0', 'mode', 'tap']);
    await topo.adoptTap('h1', 'p0');
    expect((await topo.exec('rt', 'ip', ['-o', 'link', 'show'])).stdout).not.toMatch(/p0/);
    const l = await topo.link('h1', 'eth0');
    expect(l).toMatchObject({ up: true, mac: MACS.h1, mtu: 1500, ipv4: ['10.231.1.2/24'] });
    expect((await topo.exec('h1', 'ip', ['route', 'show', 'default'])).stdout).toContain('default via 10.231.1.1 dev eth0');
    expect((await topo.exec('h1', 'ethtool', ['-k', 'eth0'])).stdout).toMatch(/^tx-checksumming: off/m);
  });

  itWhen(netnsReason, "refuses the kernel router and adoptTap on a veth topology", async () => {
    await expect(Topology.create({ router: 'kernel', wiring: 'tap' })).rejects.toThrow(/wiring 'tap' needs router 'appliance'/);
    const veth = await Topology.create({ router: 'appliance' });
    try {
      await expect(veth.adoptTap('h1', 'p0')).rejects.toThrow(/wiring: 'tap'/);
    } finally {
      await veth.destroy();
    }
  });
});
