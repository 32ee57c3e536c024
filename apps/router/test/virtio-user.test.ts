// The router's `virtioUser` port (our virtio-net driver) attached to DPDK's vhost-user back-end,
// `dpdk-testpmd --vdev net_vhost0` in icmpecho mode, which answers any ARP request and echo
// request it receives: h1 pings an address behind the port, the router resolves it by ARP
// through our driver and forwards the echo requests, testpmd's replies come back to h1. Split
// and packed rings.
//
//   h1 (10.231.1.2) eth0 ── veth ── p0 (afPacket, 10.231.1.1)  vnf-router in rt
//                                   sw (virtioUser, 10.0.3.1) ── vhost.sock ── testpmd net_vhost (answers for 10.0.3.2)
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { ADDRS, MACS, netnsUnavailable, Topology } from '@vnf-sdk/netns';
import { itWhen } from '@vnf-sdk/test-support';
import { Testpmd, testpmdUnavailable } from '@vnf-sdk/virtio-peers';
import { afterEach, describe, expect, onTestFailed } from 'vitest';
import { CLI, RouterProcess } from './router-process.js';

const reason = netnsUnavailable(['ping']) ?? testpmdUnavailable() ?? (existsSync(CLI) ? null : 'dist/cli.js is not built (npm run build)');

/** The address testpmd answers for (any address on sw's network would do). */
const BEHIND = '10.0.3.2';

describe('vnf-router with a virtioUser port on DPDK net_vhost (testpmd icmpecho)', () => {
  let topo: Topology | undefined;
  let router: RouterProcess | undefined;
  let vhost: Testpmd | undefined;

  afterEach(async () => {
    if (router && router.child.exitCode === null && router.child.signalCode === null) await router.stop();
    await vhost?.stop();
    await topo?.destroy();
    router = vhost = topo = undefined;
  }, 60_000);

  for (const packed of [false, true]) {
    const ring = packed ? 'packed' : 'split';
    itWhen(
      reason,
      `${ring} ring: h1 pings an address behind the port; the router's and testpmd's counters agree`,
      async () => {
        onTestFailed(() => console.log(`vnf-router stdout:\n${router?.stdout.split('\n').filter((l) => !l.startsWith('{')).join('\n')}\nstderr:\n${router?.stderr}\ntestpmd:\n${vhost?.output.slice(-4000)}`));
        topo = await Topology.create({ router: 'appliance', promisc: true });
        const socket = join(topo.workDir, 'vhost.sock');
        vhost = Testpmd.start({ role: 'vhost', socket, forwardMode: 'icmpecho', cpu: 0 });
        await vhost.waitListening();
        await vhost.waitReady();
        router = await RouterProcess.start(topo, {
          ports: [
            { name: 'p0', driver: 'afPacket', ifname: 'p0', mac: MACS.rtP0, address: `${ADDRS.rtP0}/${ADDRS.prefixLen}` },
            { name: 'sw', driver: 'virtioUser', path: socket, packed, mac: '02:00:0a:00:03:01', address: '10.0.3.1/24' },
          ],
        });
        // The worker prints what was negotiated as it opens the port.
        for (let i = 0; i < 50 && !/port sw: virtio-user/.test(router.stdout); i++) await new Promise((r) => setTimeout(r, 100));
        expect(router.stdout).toMatch(new RegExp(`port sw: virtio-user on .*vhost\\.sock, features .*VERSION_1${packed ? '.*RING_PACKED' : ''}`));

        const p = await topo.ping('h1', BEHIND, { count: 3, waitSeconds: 3 });
        // testpmd echoes without touching the TTL: 64, minus the router twice.
        expect(p, p.output).toMatchObject({ transmitted: 3, received: 3, ttl: 62 });
        const r = await router.settledStats();
        const t = await vhost.stats();
        console.log(`[virtio-user] ${ring} ring: router sw tx ${r.ports.sw!.txPackets} rx ${r.ports.sw!.rxPackets}; testpmd rx ${t.rxPackets} tx ${t.txPackets}`);
        // An ARP request and 3 echo requests at least, each answered; nothing lost either way.
        expect(r.ports.sw!.txPackets).toBeGreaterThanOrEqual(4);
        expect(t.rxPackets).toBe(r.ports.sw!.txPackets);
        expect(r.ports.sw!.rxPackets).toBe(t.txPackets);
        const sw = r.ports.sw!;
        expect(sw.rxErrors + sw.txErrors + sw.rxDrops + sw.txDrops, 'sw port errors and drops').toBe(0);
      },
      120_000,
    );
  }
});
