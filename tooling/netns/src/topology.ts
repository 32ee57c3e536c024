// h1 -- rt -- h2: three network namespaces joined by two veth pairs, with the traffic helpers
// the port and appliance tests need. Everything runs inside the namespaces; nothing touches
// the host's interfaces, addresses or routes.
import { type ChildProcess, type SpawnOptions, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DEFAULT_PREFIX, deleteNetnsSync, listNetns, sweepStale, track, untrack } from './cleanup.js';
import {
  type IfStats,
  type Iperf3Result,
  type LinkInfo,
  type PingResult,
  parseIperf3,
  parseLinkInfo,
  parseLinkStats,
  parsePing,
  parseProcNetDev,
} from './parse.js';
import { CommandError, type ExecOptions, type ExecResult, run } from './run.js';
import { UDP_FLOOD_SCRIPT } from './udp-flood.js';

/** The three namespaces. */
export type Role = 'h1' | 'rt' | 'h2';
export const ROLES: readonly Role[] = ['h1', 'rt', 'h2'];

/**
 * `kernel`: rt holds 10.231.1.1 and 10.231.2.1 and the kernel forwards (ip_forward=1), the
 * reference the appliances are compared with. `appliance`: rt has no addresses and does not
 * forward; a user-space router attached to p0/p1 must do everything, ARP included.
 */
export type RouterMode = 'kernel' | 'appliance';

/**
 * How h1 and h2 are joined to rt. `veth`: two veth pairs, h1:eth0 <-> rt:p0 and
 * rt:p1 <-> h2:eth0. `tap`: no veths; the appliance in rt creates two TAP devices and
 * {@link Topology.adoptTap} moves each into h1 or h2 as its eth0 (the TAP's file descriptor,
 * held by the appliance, stays valid across namespaces), so the appliance's TAP ports *are*
 * the hosts' links.
 */
export type Wiring = 'veth' | 'tap';

/** Interface names inside the namespaces. */
export const IFNAMES = { h1: 'eth0', rtP0: 'p0', rtP1: 'p1', h2: 'eth0' } as const;

/** Fixed MAC addresses (locally administered; 0a:e7 = 10.231). */
export const MACS = {
  h1: '02:00:0a:e7:01:02',
  rtP0: '02:00:0a:e7:01:01',
  rtP1: '02:00:0a:e7:02:01',
  h2: '02:00:0a:e7:02:02',
} as const;

/** IPv4 addresses, all /24: h1 and rt:p0 on 10.231.1.0/24, rt:p1 and h2 on 10.231.2.0/24. */
export const ADDRS = {
  h1: '10.231.1.2',
  rtP0: '10.231.1.1',
  rtP1: '10.231.2.1',
  h2: '10.231.2.2',
  prefixLen: 24,
} as const;

/** IPv6 addresses (/64), used only with `ipv6: true`. */
export const ADDRS6 = {
  h1: 'fd00:e7:1::2',
  rtP0: 'fd00:e7:1::1',
  rtP1: 'fd00:e7:2::1',
  h2: 'fd00:e7:2::2',
  prefixLen: 64,
} as const;

/** Options of {@link Topology.create}. */
export interface TopologyOptions {
  /** Who routes in rt. Default `kernel`. */
  router?: RouterMode;
  /** MTU of every veth end. Default 1500. */
  mtu?: number;
  /** Bring `lo` up in each namespace. Default true. */
  loopback?: boolean;
  /**
   * Default false: IPv6 disabled in all three namespaces (no router solicitations, MLD or
   * DAD probes in captures and counters). True: enabled on h1/h2 (and rt in kernel mode,
   * with forwarding) with DAD off and the {@link ADDRS6} addresses; rt stays IPv6-free in
   * appliance mode.
   */
  ipv6?: boolean;
  /**
   * Default false: every offload the veths let us change is turned off (see
   * {@link disableOffloads}). True keeps the kernel's defaults (TSO/GSO/GRO, checksum offload).
   */
  offloads?: boolean;
  /**
   * Install permanent neighbour entries on h1 and h2 for their gateway (rt:p0, rt:p1 MACs),
   * so a user-space router that does not answer ARP yet can still be tested. Default false.
   */
  staticGatewayNeighbours?: boolean;
  /** Put rt's p0 and p1 in promiscuous mode. Default false (a port may set it itself). */
  promisc?: boolean;
  /**
   * `veth` (default) or `tap` (appliance mode only): see {@link Wiring}. With `tap`, h1 and
   * h2 have only `lo` until {@link Topology.adoptTap} gives them their eth0.
   */
  wiring?: Wiring;
  /** Namespace name prefix. Default `vnft`; names are `<prefix><pid>-<n>-<role>`. */
  prefix?: string;
  /** Remove stale namespaces of the prefix first ({@link sweepStale}). Default true. */
  sweep?: boolean;
}

/** A capture running in a namespace (tcpdump writing a pcap file). */
export interface Capture {
  /** The pcap file being written. */
  readonly path: string;
  /** Resolves with {@link path} when tcpdump ended: `count` packets captured, or stopped. */
  readonly done: Promise<string>;
  /** Stops tcpdump (SIGINT, which flushes the file) and resolves with {@link path}. */
  stop(): Promise<string>;
}

/** Options of {@link Topology.capture}. */
export interface CaptureOptions {
  /** A pcap (BPF) filter, e.g. `udp and dst port 9`. */
  filter?: string;
  /** Stop after this many packets. */
  count?: number;
  /** Only packets in this direction. Default both. */
  direction?: 'in' | 'out' | 'inout';
  /** Bytes kept of each packet. Default 262144 (all). */
  snaplen?: number;
  /** Where to write; default a file in the topology's work directory (removed at destroy). */
  path?: string;
}

/** Options of {@link Topology.iperf3}. */
export interface Iperf3Options {
  protocol?: 'tcp' | 'udp';
  /** Length of the run. Default 2. */
  seconds?: number;
  /** Server port. Default 5201. */
  port?: number;
  /** Target rate (`-b`), e.g. `100M`; `0` is unlimited. iperf3's default: TCP unlimited, UDP 1 Mbit/s. */
  bitrate?: string;
  /** Write length (`-l`): the UDP payload size, or the TCP write size. */
  length?: number;
  /** Parallel streams (`-P`). */
  parallel?: number;
  /** Server to client (`-R`). */
  reverse?: boolean;
  /** Address the client connects to; default the server namespace's address toward the client. */
  serverAddr?: string;
}

/** Options of {@link Topology.udpFlood}: give `packets` or `seconds` (default 1000 packets). */
export interface UdpFloodOptions {
  packets?: number;
  seconds?: number;
  /** UDP payload bytes. Default 18, which makes a 60-byte frame (64 on a wire with the FCS). */
  size?: number;
  /** Source port; default an ephemeral one. */
  srcPort?: number;
}

/** What {@link Topology.udpFlood} sent. */
export interface UdpFloodResult {
  /** Datagrams the kernel accepted (send callback without error). */
  sent: number;
  /** Sends that failed (e.g. ENOBUFS); not retried. */
  errors: number;
  /** Payload bytes sent. */
  bytes: number;
  seconds: number;
  pps: number;
}

let serial = 0;

function exited(child: ChildProcess): boolean {
  return child.exitCode !== null || child.signalCode !== null;
}

function waitExit(child: ChildProcess, ms: number): Promise<boolean> {
  if (exited(child)) return Promise.resolve(true);
  return new Promise((resolve) => {
    const t = setTimeout(() => resolve(false), ms);
    child.once('exit', () => {
      clearTimeout(t);
      resolve(true);
    });
  });
}

/**
 * Turns off every offload of a veth end that can be changed: checksum offload (tx, rx),
 * segmentation (TSO, GSO, UFO/USO, the tunnel and SCTP variants, GSO lists), GRO/LRO and
 * VLAN tag insertion/stripping.
 *
 * Why: with the kernel's defaults a veth hands packets between namespaces as the sender built
 * them. TCP and UDP checksums are left as CHECKSUM_PARTIAL (only the pseudo-header sum is in
 * the packet, the rest is "for the hardware"), TCP/UDP sends become 64 KB GSO super-frames,
 * and VLAN tags travel as metadata instead of in the frame. The kernel's own forwarding copes
 * with all of that; a user-space router reading p0 through AF_PACKET or AF_XDP would see wrong
 * checksums, frames larger than the MTU and missing tags, and would be "fixing" packets no
 * real NIC delivers. With everything off, every frame on a veth is a real, MTU-sized frame
 * with its checksums computed and its tags in place. (Throughput drops, the kernel reference
 * included, which keeps the comparison fair.)
 */
export async function disableOffloads(netns: string, ifname: string): Promise<void> {
  const inNs = (args: string[], opts?: ExecOptions) => run('ip', ['netns', 'exec', netns, 'ethtool', ...args], opts);
  const { stdout } = await inNs(['-k', ifname]);
  const wanted = /segmentation|gso|gro|lro|checksum|fraglist|vlan/;
  const changes: string[] = ['tx', 'off', 'rx', 'off', 'tso', 'off', 'gso', 'off', 'gro', 'off'];
  for (const line of stdout.split('\n')) {
    const m = /^\s*([a-z0-9_-]+): on\s*$/.exec(line); // "[fixed]" features cannot change
    if (m && wanted.test(m[1]!)) changes.push(m[1]!, 'off');
  }
  // ethtool exits 0 with "Actual changes" or "Could not change any device features" (status 0
  // on current versions, 1 on some older ones); what matters is checked below.
  await inNs(['-K', ifname, ...changes], { okCodes: [0, 1] });
  const after = (await inNs(['-k', ifname])).stdout;
  const stillOn = ['tx-checksumming', 'tcp-segmentation-offload', 'generic-segmentation-offload', 'generic-receive-offload'].filter(
    (f) => new RegExp(`^${f}: on`, 'm').test(after),
  );
  if (stillOn.length > 0) throw new Error(`cannot turn off ${stillOn.join(', ')} on ${ifname} in ${netns}`);
}

/**
 * The h1 -- rt -- h2 topology: three namespaces, veths h1:eth0 <-> rt:p0 and rt:p1 <-> h2:eth0.
 * Make it with {@link Topology.create}, end it with {@link Topology.destroy} (also done
 * synchronously at process exit, on SIGINT/SIGTERM/SIGHUP, and by the next `create` after a
 * SIGKILL, see `sweepStale`).
 */
export class Topology {
  /** The namespace names, e.g. `{ h1: 'vnft4242-0-h1', ... }`. */
  readonly names: Readonly<Record<Role, string>>;
  /** A private directory for captures and scripts, removed at destroy. */
  readonly workDir: string;
  private readonly children = new Set<ChildProcess>();
  /** One `sleep infinity` per namespace: /proc/<its pid>/net/dev is that namespace's table. */
  private readonly sentinels = new Map<Role, ChildProcess>();
  private destroying: Promise<void> | undefined;
  private dead = false;

  private constructor(
    readonly options: Required<Omit<TopologyOptions, 'prefix' | 'sweep'>> & { prefix: string },
    names: Record<Role, string>,
  ) {
    this.names = Object.freeze(names);
    this.workDir = mkdtempSync(join(tmpdir(), `vnf-netns-${process.pid}-`));
  }

  /** Creates the namespaces, veths, addresses and routes; see {@link TopologyOptions}. */
  static async create(opts: TopologyOptions = {}): Promise<Topology> {
    const prefix = opts.prefix ?? DEFAULT_PREFIX;
    if (!/^[a-z][a-z0-9]*$/.test(prefix)) throw new Error(`netns prefix must be lowercase letters and digits: ${prefix}`);
    if (opts.sweep ?? true) sweepStale(prefix);
    const n = serial++;
    const names = { h1: '', rt: '', h2: '' } as Record<Role, string>;
    for (const r of ROLES) names[r] = `${prefix}${process.pid}-${n}-${r}`;
    const topo = new Topology(
      {
        router: opts.router ?? 'kernel',
        mtu: opts.mtu ?? 1500,
        loopback: opts.loopback ?? true,
        ipv6: opts.ipv6 ?? false,
        offloads: opts.offloads ?? false,
        staticGatewayNeighbours: opts.staticGatewayNeighbours ?? false,
        promisc: opts.promisc ?? false,
        wiring: opts.wiring ?? 'veth',
        prefix,
      },
      names,
    );
    // Tracked before the first namespace exists, so a failure halfway still cleans up.
    track(topo);
    try {
      await topo.build();
    } catch (e) {
      await topo.destroy();
      throw e;
    }
    return topo;
  }

  private async build(): Promise<void> {
    const o = this.options;
    const N = this.names;
    const kernel = o.router === 'kernel';
    const ip = (args: string[]) => run('ip', args);
    for (const r of ROLES) {
      await ip(['netns', 'add', N[r]]);
      // New interfaces take the namespace's "default" settings, so set them before the veths.
      const v6off = !o.ipv6 || (r === 'rt' && !kernel);
      const sysctls = v6off
        ? ['net.ipv6.conf.all.disable_ipv6=1', 'net.ipv6.conf.default.disable_ipv6=1']
        : ['net.ipv6.conf.all.accept_dad=0', 'net.ipv6.conf.default.accept_dad=0', 'net.ipv6.conf.default.dad_transmits=0'];
      if (r === 'rt') {
        const fwd = kernel ? '1' : '0';
        sysctls.push(`net.ipv4.ip_forward=${fwd}`);
        if (!v6off) sysctls.push(`net.ipv6.conf.all.forwarding=${fwd}`);
      }
      await this.exec(r, 'sysctl', ['-qw', ...sysctls]);
      if (o.loopback) await ip(['-n', N[r], 'link', 'set', 'lo', 'up']);
      await this.startSentinel(r);
    }
    if (o.wiring === 'tap') {
      if (kernel) throw new Error("wiring 'tap' needs router 'appliance': the TAP devices belong to the appliance in rt");
      return; // h1 and h2 get their eth0 from adoptTap
    }
    // Created directly inside the namespaces: the names never exist in the host namespace,
    // so parallel topologies (and the host's own eth0) do not collide.
    await ip(['link', 'add', IFNAMES.h1, 'netns', N.h1, 'address', MACS.h1, 'type', 'veth', 'peer', 'name', IFNAMES.rtP0, 'netns', N.rt, 'address', MACS.rtP0]);
    await ip(['link', 'add', IFNAMES.h2, 'netns', N.h2, 'address', MACS.h2, 'type', 'veth', 'peer', 'name', IFNAMES.rtP1, 'netns', N.rt, 'address', MACS.rtP1]);
    const ends: Array<[Role, string]> = [
      ['h1', IFNAMES.h1],
      ['rt', IFNAMES.rtP0],
      ['rt', IFNAMES.rtP1],
      ['h2', IFNAMES.h2],
    ];
    for (const [r, ifn] of ends) {
      await ip(['-n', N[r], 'link', 'set', 'dev', ifn, 'mtu', String(o.mtu)]);
      if (!o.offloads) await disableOffloads(N[r], ifn);
      if (r === 'rt' && o.promisc) await ip(['-n', N[r], 'link', 'set', 'dev', ifn, 'promisc', 'on']);
      await ip(['-n', N[r], 'link', 'set', 'dev', ifn, 'up']);
    }
    const len = `/${ADDRS.prefixLen}`;
    await this.configureHost('h1');
    await this.configureHost('h2');
    if (kernel) {
      await ip(['-n', N.rt, 'addr', 'add', ADDRS.rtP0 + len, 'dev', IFNAMES.rtP0]);
      await ip(['-n', N.rt, 'addr', 'add', ADDRS.rtP1 + len, 'dev', IFNAMES.rtP1]);
    }
    if (o.ipv6 && kernel) {
      const len6 = `/${ADDRS6.prefixLen}`;
      await ip(['-n', N.rt, 'addr', 'add', ADDRS6.rtP0 + len6, 'dev', IFNAMES.rtP0, 'nodad']);
      await ip(['-n', N.rt, 'addr', 'add', ADDRS6.rtP1 + len6, 'dev', IFNAMES.rtP1, 'nodad']);
    }
  }

  /** A host's eth0 (already up): its addresses, default routes and static gateway neighbour. */
  private async configureHost(role: 'h1' | 'h2'): Promise<void> {
    const o = this.options;
    const ns = this.names[role];
    const gw = role === 'h1' ? ADDRS.rtP0 : ADDRS.rtP1;
    const ifn = IFNAMES[role];
    await run('ip', ['-n', ns, 'addr', 'add', `${ADDRS[role]}/${ADDRS.prefixLen}`, 'dev', ifn]);
    await run('ip', ['-n', ns, 'route', 'add', 'default', 'via', gw]);
    if (o.ipv6) {
      await run('ip', ['-n', ns, 'addr', 'add', `${ADDRS6[role]}/${ADDRS6.prefixLen}`, 'dev', ifn, 'nodad']);
      await run('ip', ['-n', ns, '-6', 'route', 'add', 'default', 'via', role === 'h1' ? ADDRS6.rtP0 : ADDRS6.rtP1]);
    }
    if (o.staticGatewayNeighbours) {
      await run('ip', ['-n', ns, 'neigh', 'replace', gw, 'lladdr', role === 'h1' ? MACS.rtP0 : MACS.rtP1, 'dev', ifn, 'nud', 'permanent']);
    }
  }

  /**
   * `wiring: 'tap'`: moves the TAP device `tap` (made in rt by the appliance, which keeps its
   * file descriptor) into `role` and makes it that host's eth0, as the veth wiring would:
   * renamed `eth0`, the host's MAC ({@link MACS}), the topology's MTU, offloads off, up,
   * the host's address and default route via rt. When the appliance closes the TAP (or dies)
   * the device disappears, wherever it is.
   */
  async adoptTap(role: 'h1' | 'h2', tap: string): Promise<void> {
    this.check();
    if (this.options.wiring !== 'tap') throw new Error("adoptTap needs a topology made with wiring: 'tap'");
    const o = this.options;
    const ns = this.names[role];
    const ifn = IFNAMES[role];
    await run('ip', ['-n', this.names.rt, 'link', 'set', 'dev', tap, 'netns', ns]);
    // Moving a device brings it down; it keeps its name, which may clash only with eth0.
    await run('ip', ['-n', ns, 'link', 'set', 'dev', tap, 'name', ifn]);
    await run('ip', ['-n', ns, 'link', 'set', 'dev', ifn, 'address', MACS[role], 'mtu', String(o.mtu)]);
    if (!o.offloads) await disableOffloads(ns, ifn);
    await run('ip', ['-n', ns, 'link', 'set', 'dev', ifn, 'up']);
    await this.configureHost(role);
  }

  private async startSentinel(role: Role): Promise<void> {
    // Not in `children`, and unref'ed: it must not keep a script's event loop alive; the
    // exit handlers and destroy kill it with everything else inside the namespace.
    const child = spawn('ip', ['netns', 'exec', this.names[role], 'sleep', 'infinity'], { stdio: 'ignore' });
    child.unref();
    child.on('error', () => {});
    this.sentinels.set(role, child);
    const want = statSync(`/run/netns/${this.names[role]}`).ino;
    for (let i = 0; i < 200; i++) {
      try {
        if (statSync(`/proc/${child.pid}/ns/net`).ino === want) return;
      } catch {
        // not started yet
      }
      if (exited(child)) break;
      await new Promise((r) => setTimeout(r, 10));
    }
    throw new Error(`cannot start a process in ${this.names[role]}`);
  }

  /**
   * Counters of an interface read synchronously from /proc/PID/net/dev of a process kept
   * inside the namespace: no process is started, so two reads are microseconds apart (what
   * {@link forwardingRate} needs). Same counters as {@link ifStats}.
   */
  ifStatsSync(role: Role, ifname: string): IfStats {
    this.check();
    const pid = this.sentinels.get(role)?.pid;
    if (pid === undefined) throw new Error(`no process in ${this.names[role]} to read counters through`);
    return parseProcNetDev(readFileSync(`/proc/${pid}/net/dev`, 'utf8'), ifname);
  }

  /** The netns name of a role (for `ip netns exec`, `ip -n`, or a port opened inside it). */
  ns(role: Role): string {
    return this.names[role];
  }

  /** The IPv4 address a role is reached at from the other side (rt: its p0 address). */
  addr(role: Role): string {
    return role === 'h1' ? ADDRS.h1 : role === 'h2' ? ADDRS.h2 : ADDRS.rtP0;
  }

  /** Whether {@link destroy} has run (or is running). */
  get destroyed(): boolean {
    return this.dead;
  }

  /** Processes started by {@link spawn} that are still running. */
  get processes(): ReadonlySet<ChildProcess> {
    return this.children;
  }

  private check(): void {
    if (this.dead) throw new Error(`topology ${this.names.h1.replace(/-h1$/, '')} is destroyed`);
  }

  /**
   * Runs `cmd args` inside a namespace (`ip netns exec`) and resolves with its output;
   * rejects with a {@link CommandError} naming the command, the exit code and stderr.
   */
  exec(role: Role, cmd: string, args: readonly string[] = [], opts: ExecOptions = {}): Promise<ExecResult> {
    this.check();
    return run('ip', ['netns', 'exec', this.names[role], cmd, ...args], opts);
  }

  /**
   * Starts `cmd args` inside a namespace and returns the ChildProcess, tracked: killed at
   * {@link destroy} (SIGTERM, then SIGKILL) and at process exit. `ip netns exec` execs the
   * command, so the child's pid is the command's. stdio defaults to
   * `['ignore', 'pipe', 'pipe']`: read (or resume) stdout/stderr, or a chatty child blocks
   * when the pipe fills.
   */
  spawn(role: Role, cmd: string, args: readonly string[] = [], opts: SpawnOptions = {}): ChildProcess {
    this.check();
    const child = spawn('ip', ['netns', 'exec', this.names[role], cmd, ...args], { stdio: ['ignore', 'pipe', 'pipe'], ...opts });
    this.children.add(child);
    child.once('exit', () => this.children.delete(child));
    child.on('error', () => this.children.delete(child));
    return child;
  }

  /** Counters of an interface, read over netlink inside the namespace (`ip -n NS -s -j link`). */
  async ifStats(role: Role, ifname: string): Promise<IfStats> {
    this.check();
    return parseLinkStats((await run('ip', ['-n', this.names[role], '-s', '-j', 'link', 'show', 'dev', ifname])).stdout);
  }

  /** State, MTU, MAC and addresses of an interface (`ip -n NS -j addr show dev IF`). */
  async link(role: Role, ifname: string): Promise<LinkInfo> {
    this.check();
    return parseLinkInfo((await run('ip', ['-n', this.names[role], '-j', 'addr', 'show', 'dev', ifname])).stdout);
  }

  /**
   * Pings `toAddr` from a namespace. Resolves also when nothing answers (received 0, loss
   * 100): rejects only when ping itself fails (exit code 2: bad address, no route...).
   */
  async ping(from: Role, toAddr: string, opts: { count?: number; interval?: number; waitSeconds?: number } = {}): Promise<PingResult> {
    const count = opts.count ?? 3;
    const interval = opts.interval ?? 0.2;
    const wait = opts.waitSeconds ?? 1;
    // No -w deadline: with one, ping keeps sending until `count` replies arrive, so an
    // unanswered ping would send far more than `count` probes.
    const args = ['-n', '-c', String(count), '-i', String(interval), '-W', String(wait), toAddr];
    const timeoutMs = (count * interval + wait + 10) * 1000;
    const r = await this.exec(from, 'ping', args, { okCodes: [0, 1], timeoutMs });
    return parsePing(r.stdout);
  }

  /**
   * One iperf3 test: a server (`iperf3 -s -1`, one test then exit) in `server`, the client
   * in `client` with `--json`. TCP by default; see {@link Iperf3Options}.
   */
  async iperf3(client: Role, server: Role, opts: Iperf3Options = {}): Promise<Iperf3Result> {
    const port = String(opts.port ?? 5201);
    const seconds = opts.seconds ?? 2;
    const srv = this.spawn(server, 'iperf3', ['-s', '-1', '-p', port, '--forceflush']);
    try {
      await waitForOutput(srv, /Server listening on/, 10_000, `iperf3 server in ${this.names[server]}`);
      const args = ['-c', opts.serverAddr ?? this.serverAddr(client, server), '-p', port, '-t', String(seconds), '--json'];
      if (opts.protocol === 'udp') args.push('-u');
      if (opts.bitrate !== undefined) args.push('-b', opts.bitrate);
      if (opts.length !== undefined) args.push('-l', String(opts.length));
      if (opts.parallel !== undefined) args.push('-P', String(opts.parallel));
      if (opts.reverse) args.push('-R');
      // iperf3 exits 1 on errors but still prints a JSON report with "error": keep its text.
      const r = await this.exec(client, 'iperf3', args, { okCodes: [0, 1], timeoutMs: (seconds + 30) * 1000 });
      return parseIperf3(r.stdout);
    } finally {
      if (!(await waitExit(srv, 5000))) srv.kill('SIGKILL');
    }
  }

  private serverAddr(client: Role, server: Role): string {
    if (server !== 'rt') return this.addr(server);
    return client === 'h2' ? ADDRS.rtP1 : ADDRS.rtP0;
  }

  /**
   * Starts tcpdump on an interface inside a namespace and resolves once it is capturing
   * (tcpdump said "listening on"). Packets are written unbuffered (`-U --immediate-mode`), so
   * the file is complete when {@link Capture.done} resolves.
   */
  async capture(role: Role, ifname: string, opts: CaptureOptions = {}): Promise<Capture> {
    const path = opts.path ?? join(this.workDir, `${role}-${ifname}-${Date.now()}-${serial++}.pcap`);
    // -Z root: tcpdump otherwise drops to user "tcpdump" before opening the output file.
    const args = ['-i', ifname, '-w', path, '-U', '--immediate-mode', '-n', '-Z', 'root', '-s', String(opts.snaplen ?? 262144)];
    if (opts.count !== undefined) args.push('-c', String(opts.count));
    if (opts.direction) args.push('-Q', opts.direction);
    if (opts.filter) args.push(opts.filter);
    const child = this.spawn(role, 'tcpdump', args);
    let stderr = '';
    child.stderr!.setEncoding('utf8').on('data', (d: string) => {
      stderr += d;
    });
    child.stdout!.resume();
    const done = new Promise<string>((resolve, reject) => {
      child.once('exit', (code, signal) => {
        if (code === 0 || signal === 'SIGINT' || signal === 'SIGTERM') resolve(path);
        else reject(new Error(`tcpdump on ${ifname} in ${this.names[role]} ended with ${code ?? signal}: ${stderr.trim()}`));
      });
    });
    done.catch(() => {}); // reported through waitForOutput or to whoever awaits done
    await waitForOutput(child, /listening on/, 10_000, `tcpdump on ${ifname} in ${this.names[role]}`, 'stderr');
    return {
      path,
      done,
      stop: async () => {
        if (!exited(child)) child.kill('SIGINT');
        if (!(await waitExit(child, 5000))) child.kill('SIGKILL');
        return done;
      },
    };
  }

  /**
   * Sends UDP datagrams from a namespace with a small Node script (one `send` at a time,
   * each awaited: correct counts, modest rate, tens of thousands of packets per second). Each
   * payload starts with a 32-bit big-endian sequence number when `size` is 4 or more.
   */
  async udpFlood(from: Role, toAddr: string, port: number, opts: UdpFloodOptions = {}): Promise<UdpFloodResult> {
    const params = {
      addr: toAddr,
      port,
      packets: opts.seconds === undefined ? (opts.packets ?? 1000) : (opts.packets ?? null),
      seconds: opts.seconds ?? null,
      size: opts.size ?? 18,
      srcPort: opts.srcPort ?? 0,
    };
    const timeoutMs = ((opts.seconds ?? 0) + 60) * 1000 + (params.packets ?? 0) / 5;
    const r = await this.exec(from, process.execPath, ['-e', UDP_FLOOD_SCRIPT, JSON.stringify(params)], { timeoutMs });
    return JSON.parse(r.stdout) as UdpFloodResult;
  }

  /**
   * Tears everything down: tracked processes get SIGTERM, then SIGKILL after `killTimeoutMs`;
   * any other process left inside a namespace is SIGKILLed; the namespaces are deleted
   * (which deletes their veths); the work directory is removed. Idempotent; concurrent
   * calls share one teardown.
   */
  destroy(killTimeoutMs = 2000): Promise<void> {
    this.destroying ??= this.teardown(killTimeoutMs);
    return this.destroying;
  }

  private async teardown(killTimeoutMs: number): Promise<void> {
    this.dead = true;
    const kids = [...this.children];
    for (const c of kids) if (!exited(c)) c.kill('SIGTERM');
    await Promise.all(
      kids.map(async (c) => {
        if (!(await waitExit(c, killTimeoutMs))) {
          c.kill('SIGKILL');
          await waitExit(c, killTimeoutMs);
        }
      }),
    );
    this.destroySync();
    const left = listNetns().filter((n) => Object.values(this.names).includes(n));
    if (left.length > 0) throw new Error(`cannot delete network namespaces ${left.join(', ')}`);
  }

  /**
   * Synchronous teardown for process-exit handlers: SIGKILL to tracked processes and to
   * everything inside the namespaces, then `ip netns del`. Prefer {@link destroy}.
   */
  destroySync(): void {
    this.dead = true;
    for (const c of this.children) {
      if (!exited(c)) {
        try {
          c.kill('SIGKILL');
        } catch {
          // gone
        }
      }
    }
    for (const r of ROLES) deleteNetnsSync(this.names[r]);
    rmSync(this.workDir, { recursive: true, force: true });
    untrack(this);
  }
}

/** Resolves when `child` printed something matching `re`; rejects if it exits first or after `ms`. */
export function waitForOutput(
  child: ChildProcess,
  re: RegExp,
  ms: number,
  what: string,
  stream: 'stdout' | 'stderr' = 'stdout',
): Promise<void> {
  return new Promise((resolve, reject) => {
    let seen = '';
    let other = '';
    const src = child[stream]!;
    const alt = child[stream === 'stdout' ? 'stderr' : 'stdout'];
    const onAlt = (d: Buffer | string) => {
      other += d.toString();
    };
    const finish = (err?: Error) => {
      clearTimeout(timer);
      src.off('data', onData);
      alt?.off('data', onAlt);
      child.off('exit', onExit);
      // Keep draining so the child never blocks on a full pipe.
      src.resume();
      alt?.resume();
      if (err) reject(err);
      else resolve();
    };
    const onData = (d: Buffer | string) => {
      seen += d.toString();
      if (re.test(seen)) finish();
    };
    const onExit = (code: number | null, signal: string | null) =>
      finish(new CommandError(`${what} exited (${code ?? signal}) before it was ready: ${(seen + other).trim().slice(-1000)}`, []));
    const timer = setTimeout(() => finish(new Error(`${what} not ready after ${ms} ms: ${(seen + other).trim().slice(-1000)}`)), ms);
    src.on('data', onData);
    alt?.on('data', onAlt);
    child.on('exit', onExit);
  });
}
