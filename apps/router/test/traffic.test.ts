// The router with real traffic, for each live port driver: `vnf-router` runs inside rt (the
// harness's appliance mode: rt's kernel has no addresses and does not forward) and h1 and h2
// are real Linux stacks. Ping both ways and to the router itself, TCP with iperf3 both ways,
// a UDP flood whose counts must add up on h1, the router and h2, tshark's verdict on TTL and
// checksums of what reaches h2, ICMP time exceeded and net unreachable, and a teardown that
// leaves nothing behind.
//
// AF_PACKET and AF_XDP ports open rt's veths p0 and p1. AF_XDP runs in copy mode (veth has no
// zero-copy) with the XDP program attached natively (veth has native XDP; `xdpMode: 'native'`
// makes the test fail rather than fall back to generic). TAP: the router creates TAP devices
// p0 and p1 in rt, and the harness (`wiring: 'tap'`, `adoptTap`) moves them into h1 and h2 as
// their eth0: the router's TAP ports are the hosts' links.
import { existsSync } from 'node:fs';
import { ADDRS, CHECKSUM_STATUS, type Capture, listNetns, MACS, netnsUnavailable, pcapFields, Topology } from '@vnf-sdk/netns';
import { itWhen } from '@vnf-sdk/test-support';
import { afterAll, beforeAll, describe, expect } from 'vitest';
import { CLI, type Driver, RouterProcess, type RouterStats, routerConfig } from './router-process.js';

const reason = netnsUnavailable(['ping', 'iperf3', 'tcpdump', 'tshark']) ?? (existsSync(CLI) ? null : 'dist/cli.js is not built (npm run build)');

const GOOD = CHECKSUM_STATUS.good;
const FLOOD = 2000;
/** ARP (or other control frames) that may cross a link during a measured window. */
const SLACK = 4;

interface Case {
  title: string;
  driver: Driver;
  xdpMode?: 'native';
}

const CASES: Case[] = [
  { title: 'AF_PACKET', driver: 'afPacket' },
  { title: 'AF_XDP (copy mode, native XDP)', driver: 'afXdp', xdpMode: 'native' },
  { title: 'TAP', driver: 'tap' },
];

/** Every namespace any topology of this file made, and every router pid: checked at the end. */
const made: string[] = [];
const pids: number[] = [];

/** Resolves when the capture ended by itself (its `count`), or stops it after `ms`. */
async function captured(cap: Capture, ms: number): Promise<string> {
  const timer = setTimeout(() => void cap.stop(), ms);
  try {
    return await cap.done;
  } finally {
    clearTimeout(timer);
  }
}

const delta = (after: RouterStats, before: RouterStats, port: string, field: 'rxPackets' | 'txPackets') =>
  after.ports[port]![field] - before.ports[port]![field];

for (const c of CASES) {
  describe(`vnf-router with real traffic: ${c.title}`, () => {
    let topo: Topology;
    let router: RouterProcess;
    const tap = c.driver === 'tap';

    beforeAll(async () => {
      if (reason !== null) return;
      topo = await Topology.create({ router: 'appliance', promisc: !tap, wiring: tap ? 'tap' : 'veth' });
      made.push(...Object.values(topo.names));
      router = await RouterProcess.start(topo, routerConfig(c.driver, {}, c.xdpMode));
      pids.push(router.child.pid!);
      if (tap) {
        await topo.adoptTap('h1', 'p0');
        await topo.adoptTap('h2', 'p1');
      }
    }, 60_000);

    afterAll(async () => {
      await topo?.destroy();
    });

    if (c.driver === 'afXdp') {
      itWhen(reason, 'reports copy mode with the program attached natively, on both ports', async () => {
        // The worker prints one line per AF_XDP port as it opens it.
        for (let i = 0; i < 50 && (router.stdout.match(/AF_XDP on/g) ?? []).length < 2; i++) await new Promise((r) => setTimeout(r, 100));
        expect(router.stdout).toMatch(/port p0: AF_XDP on p0 queue 0, copy mode, native XDP/);
        expect(router.stdout).toMatch(/port p1: AF_XDP on p1 queue 0, copy mode, native XDP/);
        for (const ifn of ['p0', 'p1']) expect((await topo.exec('rt', 'ip', ['link', 'show', 'dev', ifn])).stdout).toMatch(/ xdp /);
      });
    }

    itWhen(reason, 'ping h1 -> h2 and h2 -> h1: every reply, one hop (TTL 63)', async () => {
      const a = await topo.ping('h1', ADDRS.h2, { count: 3 });
      expect(a, a.output).toMatchObject({ transmitted: 3, received: 3, ttl: 63 });
      const b = await topo.ping('h2', ADDRS.h1, { count: 3 });
      expect(b, b.output).toMatchObject({ transmitted: 3, received: 3, ttl: 63 });
    });

    itWhen(reason, "the router answers ARP and ping for its own addresses (rt's kernel has none)", async () => {
      // rt's kernel holds no address: only the router's ARP and ICMP echo code can answer.
      expect((await topo.exec('rt', 'ip', ['-4', 'addr', 'show'])).stdout).not.toMatch(/10\.231\./);
      const p0 = await topo.ping('h1', ADDRS.rtP0, { count: 3 });
      expect(p0, p0.output).toMatchObject({ received: 3, ttl: 64 });
      const p1 = await topo.ping('h2', ADDRS.rtP1, { count: 3 });
      expect(p1, p1.output).toMatchObject({ received: 3, ttl: 64 });
      // The far address answers from the near port, not decremented.
      const far = await topo.ping('h1', ADDRS.rtP1, { count: 2 });
      expect(far, far.output).toMatchObject({ received: 2, ttl: 64 });
      expect((await topo.exec('h1', 'ip', ['neigh', 'show', ADDRS.rtP0])).stdout).toContain(`lladdr ${MACS.rtP0}`);
      expect((await topo.exec('h2', 'ip', ['neigh', 'show', ADDRS.rtP1])).stdout).toContain(`lladdr ${MACS.rtP1}`);
    });

    itWhen(reason, 'TCP with iperf3 both ways completes; what h2 receives has TTL 63 and good IP and TCP checksums', async () => {
      const cap = await topo.capture('h2', 'eth0', { filter: `tcp and src host ${ADDRS.h1}`, direction: 'in', count: 300 });
      const up = await topo.iperf3('h1', 'h2', { seconds: 2 });
      const down = await topo.iperf3('h1', 'h2', { seconds: 2, reverse: true });
      console.log(`${c.title}: iperf3 TCP h1 -> h2 ${(up.bitsPerSecond / 1e6).toFixed(0)} Mbit/s (retransmits ${up.retransmits}), h2 -> h1 ${(down.bitsPerSecond / 1e6).toFixed(0)} Mbit/s (retransmits ${down.retransmits})`);
      expect(up.bitsPerSecond).toBeGreaterThan(0);
      expect(down.bitsPerSecond).toBeGreaterThan(0);
      const rows = await pcapFields(await captured(cap, 5000), ['ip.ttl', 'ip.checksum.status', 'tcp.checksum.status']);
      expect(rows.length).toBe(300);
      for (const r of rows) expect(r).toEqual(['63', GOOD, GOOD]);
    });

    itWhen(reason, "a UDP flood arrives whole: h1's tx, the router's rx and tx and h2's rx agree; TTL 63, good checksums", async () => {
      await topo.ping('h1', ADDRS.h2, { count: 1 }); // neighbours fresh on every hop
      const cap = await topo.capture('h2', 'eth0', { filter: 'udp and dst port 9', direction: 'in', count: FLOOD });
      const r0 = await router.settledStats();
      const h1a = topo.ifStatsSync('h1', 'eth0');
      const h2a = topo.ifStatsSync('h2', 'eth0');
      const sent = await topo.udpFlood('h1', ADDRS.h2, 9, { packets: FLOOD });
      const rows = await pcapFields(await captured(cap, 10_000), ['ip.ttl', 'ip.checksum.status', 'udp.checksum.status', 'ip.src']);
      const r1 = await router.settledStats();
      const h1b = topo.ifStatsSync('h1', 'eth0');
      const h2b = topo.ifStatsSync('h2', 'eth0');
      expect(sent).toMatchObject({ sent: FLOOD, errors: 0 });
      const h1tx = h1b.txPackets - h1a.txPackets;
      const h2rx = h2b.rxPackets - h2a.rxPackets;
      console.log(
        `${c.title}: UDP flood of ${FLOOD} (${sent.pps.toFixed(0)} pps): h1 tx ${h1tx}, router p0 rx ${delta(r1, r0, 'p0', 'rxPackets')}, ` +
          `p1 tx ${delta(r1, r0, 'p1', 'txPackets')}, h2 rx ${h2rx}, captured ${rows.length}`,
      );
      // Each hop counts exactly what the previous one sent (ARP included), and that is the flood
      // plus at most a few ARP frames.
      expect(h1tx).toBeGreaterThanOrEqual(FLOOD);
      expect(h1tx).toBeLessThanOrEqual(FLOOD + SLACK);
      expect(delta(r1, r0, 'p0', 'rxPackets')).toBe(h1tx);
      expect(delta(r1, r0, 'p1', 'txPackets')).toBe(h2rx);
      expect(h2rx).toBeGreaterThanOrEqual(FLOOD);
      expect(h2rx).toBeLessThanOrEqual(FLOOD + SLACK);
      expect(r1.steps['port:p1']! - r0.steps['port:p1']!).toBe(h2rx);
      for (const port of ['p0', 'p1']) {
        expect(r1.ports[port]!.rxDrops, `${port} rxDrops`).toBe(r0.ports[port]!.rxDrops);
        expect(r1.ports[port]!.txDrops + r1.ports[port]!.txErrors, `${port} tx drops and errors`).toBe(r0.ports[port]!.txDrops + r0.ports[port]!.txErrors);
      }
      const dropped = Object.entries(r1.drops).filter(([k, n]) => !k.startsWith('arp:') && n !== r0.drops[k]);
      expect(dropped, 'no drop counter moved (ARP aside)').toEqual([]);
      // What reached h2: every datagram, forwarded once, checksums intact.
      expect(rows.length).toBe(FLOOD);
      for (const r of rows) expect(r).toEqual(['63', GOOD, GOOD, ADDRS.h1]);
    });

    itWhen(reason, 'TTL 1 gets ICMP time exceeded from 10.231.1.1; no route gets ICMP net unreachable', async () => {
      const ttl = await topo.exec('h1', 'ping', ['-n', '-c', '1', '-t', '1', '-W', '2', ADDRS.h2], { okCodes: [1] });
      expect(ttl.stdout).toMatch(/From 10\.231\.1\.1 icmp_seq=1 Time to live exceeded/);
      const back = await topo.exec('h2', 'ping', ['-n', '-c', '1', '-t', '1', '-W', '2', ADDRS.h1], { okCodes: [1] });
      expect(back.stdout).toMatch(/From 10\.231\.2\.1 icmp_seq=1 Time to live exceeded/);
      const none = await topo.exec('h1', 'ping', ['-n', '-c', '1', '-W', '2', '10.99.0.1'], { okCodes: [1] });
      expect(none.stdout).toMatch(/From 10\.231\.1\.1 icmp_seq=1 Destination Net Unreachable/);
      const s = await router.settledStats();
      expect(s.drops['ip4:ttl-exceeded']).toBeGreaterThanOrEqual(2);
      expect(s.drops['ip4:no-route']).toBeGreaterThanOrEqual(1);
    });

    itWhen(reason, 'stops on SIGTERM with its final counters, and leaves no program or device behind', async () => {
      const { code, signal } = await router.stop('SIGTERM');
      expect({ code, signal }).toEqual({ code: 0, signal: null });
      expect(router.stats.at(-1)!.final).toBe(true);
      expect(topo.processes.size).toBe(0);
      if (c.driver === 'afXdp') {
        for (const ifn of ['p0', 'p1']) expect((await topo.exec('rt', 'ip', ['link', 'show', 'dev', ifn])).stdout).not.toMatch(/ xdp /);
      }
      if (tap) {
        // The TAP devices went with the router's file descriptors, from inside h1 and h2.
        for (const h of ['h1', 'h2'] as const) expect((await topo.exec(h, 'ip', ['-o', 'link', 'show'])).stdout).not.toMatch(/eth0/);
      }
    });

    if (c.driver === 'afXdp') {
      itWhen(reason, 'a router killed with SIGKILL leaves no XDP program attached', async () => {
        const again = await RouterProcess.start(topo, routerConfig(c.driver, {}, c.xdpMode));
        pids.push(again.child.pid!);
        expect((await topo.exec('rt', 'ip', ['link', 'show', 'dev', 'p0'])).stdout).toMatch(/ xdp /);
        await again.stop('SIGKILL');
        // The program is held only by the BPF link's descriptor, closed with the process.
        for (let i = 0; i < 50; i++) {
          if (!/ xdp /.test((await topo.exec('rt', 'ip', ['link', 'show', 'dev', 'p0'])).stdout)) break;
          await new Promise((r) => setTimeout(r, 100));
        }
        for (const ifn of ['p0', 'p1']) expect((await topo.exec('rt', 'ip', ['link', 'show', 'dev', ifn])).stdout).not.toMatch(/ xdp /);
      });
    }
  });
}

describe('after the traffic tests', () => {
  itWhen(reason, 'no namespace and no router process is left', () => {
    expect(made.length).toBeGreaterThan(0);
    expect(listNetns().filter((n) => made.includes(n))).toEqual([]);
    for (const pid of pids) expect(() => process.kill(pid, 0), `router pid ${pid}`).toThrow();
  });
});
