// The router with a virtual machine on one port: our vhost-user device (a `vhostUser` port of
// the router) serving a Linux guest in QEMU (Debian's kernel, its virtio_net driver, a busybox
// initramfs), and a network namespace on the other port (AF_PACKET on a veth).
//
//   h1 (10.231.1.2) eth0 ── veth ── p0 (afPacket, 10.231.1.1)  vnf-router in rt
//                                   vm (vhostUser, 10.0.2.1) ── vm.sock ── QEMU: guest eth0 (10.0.2.2, default via 10.0.2.1)
//
// The router starts first, with no frontend on its socket: the port's link is down and the
// router runs anyway. Then, for each ring layout in turn, a guest boots on the same socket;
// its link must come up, h1 and the guest ping each other through the router (each side's ARP
// crossing our device: the router resolves the guest, the guest resolves the router), and the
// counters of the router's vm port must equal what the guest's kernel counted on its eth0.
// The guest then powers off (the frontend goes away): the router keeps running and answers h1,
// and the next layout's guest attaches to the same port.
//
// Under TCG a boot takes 5-30 s depending on the machine's load; the guest's console is printed
// when a test fails.
import type { ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { ADDRS, MACS, netnsUnavailable, Topology } from '@vnf-sdk/netns';
import { itWhen } from '@vnf-sdk/test-support';
import { BUSYBOX, featureNames, hasFeature, prepareGuestKernel, QemuGuest, qemuUnavailable, VIRTIO_NET_F } from '@vnf-sdk/virtio-peers';
import { afterAll, beforeAll, describe, expect, onTestFailed } from 'vitest';
import { CLI, RouterProcess, type RouterStats } from './router-process.js';

const reason = netnsUnavailable(['ping', 'ss']) ?? qemuUnavailable() ?? (existsSync(CLI) ? null : 'dist/cli.js is not built (npm run build)');

/** The VM's network, behind the router's `vm` port. */
const VM = { router: '10.0.2.1', guest: '10.0.2.2', prefixLen: 24, routerMac: '02:00:0a:00:02:01', guestMac: '52:54:00:0a:00:02' } as const;
/** ARP (and other control frames) that may cross a link during a measured window. */
const SLACK = 4;
const PINGS = 5;
/** The TCP transfer from the guest to h1: size and port. */
const BLOB_KIB = 4096;
const TCP_PORT = 5001;

/** eth0's packet counters as the guest's kernel counts them. */
interface GuestCounters {
  rx: number;
  tx: number;
}

async function guestCounters(guest: QemuGuest): Promise<GuestCounters> {
  const r = await guest.exec('cat /sys/class/net/eth0/statistics/rx_packets /sys/class/net/eth0/statistics/tx_packets');
  const [rx, tx] = r.output.trim().split(/\s+/).map(Number);
  if (r.code !== 0 || !Number.isInteger(rx) || !Number.isInteger(tx)) throw new Error(`cannot read the guest's eth0 counters: ${r.output}`);
  return { rx: rx!, tx: tx! };
}

/** busybox ping's summary: `N packets transmitted, M packets received`, and the TTLs of the replies. */
function busyboxPing(output: string): { transmitted: number; received: number; ttls: number[] } {
  const m = /(\d+) packets transmitted, (\d+) packets received/.exec(output);
  return { transmitted: Number(m?.[1] ?? -1), received: Number(m?.[2] ?? -1), ttls: [...output.matchAll(/ttl=(\d+)/g)].map((x) => Number(x[1])) };
}

/** What a listener received: its length and MD5, once it exited (the connection closed). */
function received(child: ChildProcess, timeoutMs: number): Promise<{ bytes: number; md5: string; code: number | null }> {
  const hash = createHash('md5');
  let bytes = 0;
  child.stdout!.on('data', (d: Buffer) => {
    hash.update(d);
    bytes += d.length;
  });
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`the listener did not finish within ${timeoutMs} ms (${bytes} bytes so far)`)), timeoutMs);
    // 'close', not 'exit': every byte of stdout has been read by then.
    child.once('close', (code) => {
      clearTimeout(timer);
      resolve({ bytes, md5: hash.digest('hex'), code });
    });
  });
}

const portDelta = (after: RouterStats, before: RouterStats, port: string, field: 'rxPackets' | 'txPackets') => after.ports[port]![field] - before.ports[port]![field];

/** The router's config: p0 on rt's veth toward h1, vm a vhost-user device on `socket`. */
function routerConfig(socket: string, vm: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    ports: [
      { name: 'p0', driver: 'afPacket', ifname: 'p0', mac: MACS.rtP0, address: `${ADDRS.rtP0}/${ADDRS.prefixLen}` },
      { name: 'vm', driver: 'vhostUser', path: socket, mac: VM.routerMac, address: `${VM.router}/${VM.prefixLen}`, ...vm },
    ],
  };
}

/** The guest's config: eth0 at 10.0.2.2/24, the default route via the router. */
const GUEST = { mac: VM.guestMac, ip: `${VM.guest}/${VM.prefixLen}`, gateway: VM.router, timeoutSeconds: 300 } as const;

/** A topology, the router in rt and a guest (one at a time); {@link close} ends whatever exists. */
class Fixture {
  topo: Topology | undefined;
  router: RouterProcess | undefined;
  guest: QemuGuest | undefined;
  socket = '';

  /** Builds h1 -- rt (h2 is left unused) and the socket's path; the kernel is fetched first (synchronous, 70 MB once). */
  async create(): Promise<Topology> {
    prepareGuestKernel();
    this.topo = await Topology.create({ router: 'appliance', promisc: true });
    this.socket = join(this.topo.workDir, 'vm.sock');
    return this.topo;
  }

  /** On failure: the guest's console and the router's output (under TCG the assertion alone says little). */
  showOnFailure(): void {
    onTestFailed(() => {
      const g = this.guest;
      if (g) console.log(`guest console (${g.opts.packed ? 'packed' : 'split'} ring):\n${g.console.slice(-8000)}`);
      const r = this.router;
      if (r) {
        const last = r.stats.at(-1);
        const drops = Object.fromEntries(Object.entries(last?.drops ?? {}).filter(([, n]) => n > 0));
        const text = r.stdout
          .split('\n')
          .filter((l) => !l.startsWith('{"vnfRouterStats"'))
          .join('\n');
        console.log(`vnf-router:\n${text}\nlast counters: ports ${JSON.stringify(last?.ports)}, drops ${JSON.stringify(drops)}\nstderr:\n${r.stderr}`);
      }
    });
  }

  async close(): Promise<void> {
    await this.guest?.stop();
    const r = this.router;
    if (r && r.child.exitCode === null && r.child.signalCode === null) await r.stop();
    await this.topo?.destroy();
  }
}

/** The vm port counted no error or drop, and took every frame the router sent it since `before`. */
function expectVmClean(after: RouterStats, before: RouterStats): void {
  const vm = after.ports.vm!;
  expect(vm.rxErrors + vm.txErrors + vm.rxDrops + vm.txDrops, 'vm port errors and drops').toBe(0);
  expect(after.drops['runtime:tx-full:vm'] ?? 0, 'frames the vm port did not take').toBe(before.drops['runtime:tx-full:vm'] ?? 0);
}

/**
 * Sends `kib` KiB of random data from the guest to h1 over one TCP connection (busybox nc on
 * both ends, h1 listening on `port`) and returns what the guest sent (its MD5), what h1 got,
 * and the router's counters around the transfer.
 */
async function tcpToH1(f: Fixture, kib: number, port: number) {
  const guest = f.guest!;
  const made = await guest.exec(`dd if=/dev/urandom of=/tmp/blob bs=1024 count=${kib} 2>/dev/null && md5sum /tmp/blob`, 60_000);
  const md5 = /^([0-9a-f]{32})\s/m.exec(made.output)?.[1];
  if (!md5) throw new Error(`no MD5 from the guest: ${made.output}`);
  // stdin stays open (a pipe never written): busybox nc half-closes the connection at EOF on
  // stdin, and the guest's nc would stop sending when it sees that.
  const listener = f.topo!.spawn('h1', BUSYBOX, ['nc', '-l', '-p', String(port)], { stdio: ['pipe', 'pipe', 'pipe'] });
  try {
    const got = received(listener, 150_000);
    for (let i = 0; i < 50; i++) {
      if ((await f.topo!.exec('h1', 'ss', ['-Hltn', `sport = :${port}`])).stdout.trim()) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    const before = await f.router!.settledStats();
    const guestBefore = await guestCounters(guest);
    const t0 = Date.now();
    const send = await guest.exec(`nc ${ADDRS.h1} ${port} < /tmp/blob`, 150_000);
    const h1 = await got;
    const seconds = (Date.now() - t0) / 1000;
    const guestAfter = await guestCounters(guest);
    return { md5, h1, send, seconds, before, after: await f.router!.settledStats(), guestTx: guestAfter.tx - guestBefore.tx };
  } finally {
    listener.stdin!.end();
    if (listener.exitCode === null && listener.signalCode === null) listener.kill('SIGKILL');
  }
}

describe('vnf-router with a Linux guest in QEMU on its vhost-user port', () => {
  const f = new Fixture();

  beforeAll(async () => {
    if (reason !== null) return;
    const topo = await f.create();
    f.router = await RouterProcess.start(topo, routerConfig(f.socket));
  }, 120_000);

  afterAll(() => f.close(), 60_000);

  itWhen(reason, 'runs with no frontend on its vhost-user socket (the link is down)', async () => {
    f.showOnFailure();
    // The worker prints the line as it opens the port; a worker's console reaches stdout late.
    for (let i = 0; i < 50 && !/port vm: vhost-user/.test(f.router!.stdout); i++) await new Promise((r) => setTimeout(r, 100));
    expect(f.router!.stdout).toMatch(/port vm: vhost-user device on .*vm\.sock \(listening\), link down until a frontend attaches/);
    expect(existsSync(f.socket)).toBe(true);
    const p = await f.topo!.ping('h1', ADDRS.rtP0, { count: 2 });
    expect(p, p.output).toMatchObject({ received: 2, ttl: 64 });
  });

  for (const packed of [false, true]) {
    const ring = packed ? 'packed' : 'split';

    itWhen(
      reason,
      `${ring} ring: a guest boots on the socket and its link comes up`,
      async () => {
        f.showOnFailure();
        const guest = QemuGuest.boot({ socket: f.socket, packed, ...GUEST });
        f.guest = guest;
        expect(await guest.waitMarker('link', 120_000)).toBe('operstate=up carrier=1');
        const features = await guest.features();
        console.log(`[vm-guest] ${ring} ring: guest driver features ${featureNames(features).join(' ')}`);
        expect(hasFeature(features, VIRTIO_NET_F.VERSION_1!)).toBe(true);
        expect(hasFeature(features, VIRTIO_NET_F.RING_PACKED!)).toBe(packed);
        await guest.waitMarker('ready', 30_000);
      },
      180_000,
    );

    itWhen(reason, `${ring} ring: h1 pings the guest (the router resolves it by ARP through our device)`, async () => {
      f.showOnFailure();
      const p = await f.topo!.ping('h1', VM.guest, { count: 3, waitSeconds: 3 });
      expect(p, p.output).toMatchObject({ transmitted: 3, received: 3, ttl: 63 });
      // The guest learnt the router's MAC from the router's ARP request (or asked for it).
      const arp = await f.guest!.exec('cat /proc/net/arp');
      expect(arp.output).toMatch(new RegExp(`^${VM.router.replace(/\./g, '\\.')}\\s.*${VM.routerMac}`, 'm'));
    }, 60_000);

    itWhen(reason, `${ring} ring: the guest pings h1 and the router`, async () => {
      f.showOnFailure();
      const h1 = busyboxPing((await f.guest!.exec(`ping -c 3 -W 3 ${ADDRS.h1}`, 60_000)).output);
      expect(h1).toEqual({ transmitted: 3, received: 3, ttls: [63, 63, 63] });
      const rt = busyboxPing((await f.guest!.exec(`ping -c 2 -W 3 ${VM.router}`, 60_000)).output);
      expect(rt).toEqual({ transmitted: 2, received: 2, ttls: [64, 64] });
    }, 120_000);

    itWhen(reason, `${ring} ring: the router's vm port counts exactly what the guest sent and received`, async () => {
      f.showOnFailure();
      const g0 = await guestCounters(f.guest!);
      const r0 = await f.router!.settledStats();
      const h1a = f.topo!.ifStatsSync('h1', 'eth0');
      const out = busyboxPing((await f.guest!.exec(`ping -c ${PINGS} -W 3 ${ADDRS.h1}`, 60_000)).output);
      const r1 = await f.router!.settledStats();
      const g1 = await guestCounters(f.guest!);
      const h1b = f.topo!.ifStatsSync('h1', 'eth0');
      expect(out.received).toBe(PINGS);
      const vmRx = portDelta(r1, r0, 'vm', 'rxPackets');
      const vmTx = portDelta(r1, r0, 'vm', 'txPackets');
      console.log(
        `[vm-guest] ${ring} ring: ${PINGS} pings: guest tx ${g1.tx - g0.tx} rx ${g1.rx - g0.rx}; router vm rx ${vmRx} tx ${vmTx}, ` +
          `p0 tx ${portDelta(r1, r0, 'p0', 'txPackets')} rx ${portDelta(r1, r0, 'p0', 'rxPackets')}; h1 rx ${h1b.rxPackets - h1a.rxPackets} tx ${h1b.txPackets - h1a.txPackets}`,
      );
      // Our device received every frame the guest's driver handed over and delivered every
      // frame the router sent to the guest: the two sides of the rings agree exactly.
      expect(vmRx).toBe(g1.tx - g0.tx);
      expect(vmTx).toBe(g1.rx - g0.rx);
      expect(vmTx).toBe(r1.steps['port:vm']! - r0.steps['port:vm']!);
      // ... and that is the echo requests and replies, plus at most a few ARP frames.
      for (const n of [vmRx, vmTx]) {
        expect(n).toBeGreaterThanOrEqual(PINGS);
        expect(n).toBeLessThanOrEqual(PINGS + SLACK);
      }
      expect(portDelta(r1, r0, 'p0', 'txPackets')).toBe(h1b.rxPackets - h1a.rxPackets);
      expect(portDelta(r1, r0, 'p0', 'rxPackets')).toBe(h1b.txPackets - h1a.txPackets);
      expectVmClean(r1, r0);
    }, 120_000);

    itWhen(reason, `${ring} ring: ${BLOB_KIB} KiB over TCP from the guest (busybox nc) reach h1 intact`, async () => {
      f.showOnFailure();
      const t = await tcpToH1(f, BLOB_KIB, TCP_PORT);
      console.log(
        `[vm-guest] ${ring} ring: ${BLOB_KIB} KiB guest -> h1 over TCP in ${t.seconds.toFixed(1)} s (${((BLOB_KIB * 8192) / t.seconds / 1e6).toFixed(1)} Mbit/s under TCG); ` +
          `guest tx ${t.guestTx} frames, router vm rx ${portDelta(t.after, t.before, 'vm', 'rxPackets')} tx ${portDelta(t.after, t.before, 'vm', 'txPackets')}`,
      );
      expect(t.send.code, t.send.output).toBe(0);
      expect(t.h1).toEqual({ bytes: BLOB_KIB * 1024, md5: t.md5, code: 0 });
      // The device offers CSUM and HOST_TSO4 (the default): the guest hands it TCP super-frames
      // with partial checksums, which it cuts into frames within the MTU before the router sees
      // them (h1 got every byte through a 1500-byte link). So the router received more frames
      // than the guest's driver transmitted.
      const features = await f.guest!.features();
      expect(hasFeature(features, VIRTIO_NET_F.CSUM!)).toBe(true);
      expect(hasFeature(features, VIRTIO_NET_F.HOST_TSO4!)).toBe(true);
      const vmRx = portDelta(t.after, t.before, 'vm', 'rxPackets');
      expect(vmRx).toBeGreaterThan((BLOB_KIB * 1024) / 1500);
      expect(vmRx).toBeGreaterThan(t.guestTx);
      expectVmClean(t.after, t.before);
    }, 240_000);

    itWhen(reason, `${ring} ring: the guest powers off; the router keeps running and answers h1`, async () => {
      f.showOnFailure();
      const g = f.guest!;
      await g.stop();
      f.guest = undefined;
      expect(g.child.exitCode).toBe(0); // powered off, not killed
      // Still there, still counting, and the socket still listens for the next frontend.
      await f.router!.nextStats();
      expect(f.router!.child.exitCode).toBeNull();
      expect(existsSync(f.socket)).toBe(true);
      const p = await f.topo!.ping('h1', ADDRS.rtP0, { count: 2 });
      expect(p, p.output).toMatchObject({ received: 2, ttl: 64 });
      // Nothing reaches the guest now: the router's frames for it are dropped, not queued.
      const before = await f.router!.settledStats();
      const gone = await f.topo!.ping('h1', VM.guest, { count: 2, waitSeconds: 1 });
      expect(gone.received).toBe(0);
      const after = await f.router!.settledStats();
      expect((after.drops['runtime:tx-full:vm'] ?? 0) - (before.drops['runtime:tx-full:vm'] ?? 0)).toBeGreaterThanOrEqual(2);
    }, 60_000);
  }

  itWhen(reason, 'stops on SIGTERM with its final counters', async () => {
    f.showOnFailure();
    const { code, signal } = await f.router!.stop('SIGTERM');
    expect({ code, signal }).toEqual({ code: 0, signal: null });
    expect(f.router!.stats.at(-1)!.final).toBe(true);
    expect(f.topo!.processes.size).toBe(0);
    expect(existsSync(f.socket), 'the listening socket goes with the port').toBe(false);
  });
});

describe('vnf-router connecting to a listening QEMU (vhostUser client)', () => {
  const f = new Fixture();
  afterAll(() => f.close(), 60_000);

  itWhen(
    reason,
    'QEMU listens, the router connects: the link comes up and h1 and the guest ping each other',
    async () => {
      f.showOnFailure();
      const topo = await f.create();
      // QEMU first (server=on, wait=off: the guest boots while QEMU waits for a back-end),
      // then the router, whose port connects within its 5 s.
      f.guest = QemuGuest.boot({ socket: f.socket, server: true, ...GUEST });
      f.router = await RouterProcess.start(topo, routerConfig(f.socket, { client: true }));
      expect(await f.guest.waitMarker('link', 120_000)).toBe('operstate=up carrier=1');
      const p = await topo.ping('h1', VM.guest, { count: 3, waitSeconds: 3 });
      expect(p, p.output).toMatchObject({ transmitted: 3, received: 3, ttl: 63 });
      const back = busyboxPing((await f.guest.exec(`ping -c 3 -W 3 ${ADDRS.h1}`, 60_000)).output);
      expect(back).toEqual({ transmitted: 3, received: 3, ttls: [63, 63, 63] });
    },
    240_000,
  );
});

describe('vnf-router with a two-queue-pair guest (vhostUser queues: 2)', () => {
  const f = new Fixture();
  afterAll(() => f.close(), 60_000);

  itWhen(
    reason,
    'the guest runs both queue pairs; pings both ways and TCP connections spread over its transmit queues arrive intact',
    async () => {
      f.showOnFailure();
      const topo = await f.create();
      f.router = await RouterProcess.start(topo, routerConfig(f.socket, { queues: 2 }));
      // Two vCPUs: Linux enables min(vCPUs, queue pairs) pairs.
      f.guest = QemuGuest.boot({ socket: f.socket, queues: 2, cpus: 2, ...GUEST });
      expect(await f.guest.waitMarker('link', 120_000)).toBe('operstate=up carrier=1');
      expect(hasFeature(await f.guest.features(), VIRTIO_NET_F.MQ!)).toBe(true);
      // Both pairs in use: the guest transmits on the queue of the sending vCPU (XPS), so the
      // router must poll both receive queues of its port to see every flow.
      expect((await f.guest.exec('ls /sys/class/net/eth0/queues')).output.split(/\s+/).filter(Boolean).sort()).toEqual(['rx-0', 'rx-1', 'tx-0', 'tx-1']);
      const p = await topo.ping('h1', VM.guest, { count: 3, waitSeconds: 3 });
      expect(p, p.output).toMatchObject({ transmitted: 3, received: 3, ttl: 63 });
      const back = busyboxPing((await f.guest.exec(`ping -c 3 -W 3 ${ADDRS.h1}`, 60_000)).output);
      expect(back).toEqual({ transmitted: 3, received: 3, ttls: [63, 63, 63] });
      // Several connections: the guest's nc runs on either vCPU, and XPS sends from that
      // vCPU's queue. (Which queue each used is not observable here: the guest's busybox has
      // no ethtool -S, and the router counts per port.)
      for (let i = 0; i < 6; i++) {
        const t = await tcpToH1(f, 256, TCP_PORT + i);
        expect(t.send.code, t.send.output).toBe(0);
        expect(t.h1, `connection ${i}`).toEqual({ bytes: 256 * 1024, md5: t.md5, code: 0 });
        expectVmClean(t.after, t.before);
      }
    },
    300_000,
  );
});
