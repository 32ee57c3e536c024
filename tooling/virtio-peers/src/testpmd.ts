// DPDK's dpdk-testpmd as a vhost-user peer: a net_vhost back-end or a virtio_user front-end,
// interactive (commands on a pipe), without hugepages, its own file prefix, and cleanup of
// the process, the socket it made and its runtime directory even when a test fails.
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { type NegotiatedFeatures, type ForwardStats, type PortStats, parseForwardStats, parseLinkStatus, parseNegotiatedFeatures, parsePortStats, linesInsidePrompt, TESTPMD_PROMPT } from './parse.js';
import { exited, hasTool, OutputLog, PeerError, removePaths, terminate, track, untrack, waitExit, whichTool } from './proc.js';

/** testpmd forwarding modes the tests use (any other mode name is passed through). */
export type ForwardMode = 'io' | 'rxonly' | 'txonly' | 'icmpecho' | 'macswap' | 'mac' | 'flowgen' | (string & {});

/** Options common to both roles. */
interface TestpmdCommon {
  /** UNIX socket path of the vhost-user connection. */
  socket: string;
  /** Queue pairs (devarg `queues`, and `--rxq/--txq`). Default 1. */
  queues?: number;
  /** Forwarding mode. Default `io`. */
  forwardMode?: ForwardMode;
  /** txonly/flowgen packet length(s) in bytes (`--txpkts`, segments when several). Default 64. */
  txpkts?: number | readonly number[];
  /** Packets per burst (`--burst`). Default 32. */
  burst?: number;
  /** Descriptors per queue requested by testpmd (`--rxd`/`--txd`). Default 1024. */
  descriptors?: number;
  /**
   * EAL `--lcores`: the main lcore (commands) and the forwarding lcore(s). Default
   * `0@<cpu>,1@<cpu>`: both on one CPU, only lcore 1 busy-polls.
   */
  lcores?: string;
  /** CPU of the default `lcores`. Default 0. */
  cpu?: number;
  /** `-m` megabytes of (non-huge, memfd-backed) memory. Default 512. */
  memoryMb?: number;
  /** `--total-num-mbufs`. Default 16384 (the default pool does not fit in 512 MB without hugepages). */
  totalNumMbufs?: number;
  /** Start forwarding at once (`--auto-start`). Default true. */
  autoStart?: boolean;
  /** Extra devargs appended to the vdev string (`key=value`). */
  devargs?: readonly string[];
  /** Extra `--log-level` values (e.g. `pmd.net.vhost:debug`). */
  logLevels?: readonly string[];
  /** Extra EAL arguments (before `--`). */
  ealArgs?: readonly string[];
  /** Extra testpmd arguments (after `--`). */
  appArgs?: readonly string[];
  /** Environment of testpmd. */
  env?: NodeJS.ProcessEnv;
}

/** A net_vhost back-end (`--vdev net_vhost0,iface=<socket>,...`). */
export interface VhostOptions extends TestpmdCommon {
  role: 'vhost';
  /** `client=1`: testpmd connects to a socket the front-end listens on. Default false (it listens). */
  client?: boolean;
  /** `dequeue-zero-copy`-like knobs etc.: use `devargs`. */
}

/** A virtio_user front-end (`--vdev virtio_user0,path=<socket>,...`). */
export interface VirtioUserOptions extends TestpmdCommon {
  role: 'virtio-user';
  /** `server=1`: testpmd listens, the back-end connects. Default false (it connects). */
  server?: boolean;
  /** Ring size of each virtqueue (`queue_size`). Default 1024. */
  queueSize?: number;
  /** `packed_vq=1`: the packed ring layout. Default false (split). */
  packed?: boolean;
  /** `in_order=0|1`; omitted: DPDK's default (1). */
  inOrder?: boolean;
  /** `mrg_rxbuf=0|1`; omitted: DPDK's default (1). */
  mrgRxbuf?: boolean;
  /** `mac=`: the port's MAC; omitted: random. */
  mac?: string;
}

export type TestpmdOptions = VhostOptions | VirtioUserOptions;

let serial = 0;
const PREFIX = 'vnfvp';

/** The vdev string of `opts`. */
export function vdevString(opts: TestpmdOptions): string {
  const q = opts.queues ?? 1;
  const parts: string[] = [];
  if (opts.role === 'vhost') {
    parts.push('net_vhost0', `iface=${opts.socket}`, `queues=${q}`);
    if (opts.client) parts.push('client=1');
  } else {
    parts.push('virtio_user0', `path=${opts.socket}`, `queues=${q}`, `queue_size=${opts.queueSize ?? 1024}`);
    if (opts.server) parts.push('server=1');
    if (opts.packed) parts.push('packed_vq=1');
    if (opts.inOrder !== undefined) parts.push(`in_order=${opts.inOrder ? 1 : 0}`);
    if (opts.mrgRxbuf !== undefined) parts.push(`mrg_rxbuf=${opts.mrgRxbuf ? 1 : 0}`);
    if (opts.mac) parts.push(`mac=${opts.mac}`);
  }
  parts.push(...(opts.devargs ?? []));
  return parts.join(',');
}

/** testpmd's arguments for `opts` with this file prefix (EAL, `--`, application). */
export function testpmdArgs(opts: TestpmdOptions, filePrefix: string): string[] {
  const cpu = opts.cpu ?? 0;
  const q = opts.queues ?? 1;
  // The vhost library logs the negotiated words at INFO; the virtio PMD's are init DEBUG lines.
  // With --no-huge, memory is 4 KiB pages and two DEBUG logs print one line per page: never
  // lib.vhost.config:debug (SET_MEM_TABLE stalls until the front-end gives up) nor
  // pmd.net.virtio.driver:debug (update_memory_region() per page: seconds to minutes of start-up).
  const levels = opts.role === 'virtio-user' ? ['pmd.net.virtio.init:debug'] : [];
  const eal = [
    '--lcores',
    opts.lcores ?? `0@${cpu},1@${cpu}`,
    '--no-huge',
    '-m',
    String(opts.memoryMb ?? 512),
    '--no-pci',
    '--file-prefix',
    filePrefix,
    ...[...levels, ...(opts.logLevels ?? [])].map((l) => `--log-level=${l}`),
    '--vdev',
    vdevString(opts),
    ...(opts.ealArgs ?? []),
  ];
  const txpkts = opts.txpkts ?? 64;
  const d = opts.descriptors ?? 1024;
  const app = [
    '-i',
    '--nb-cores=1',
    `--rxq=${q}`,
    `--txq=${q}`,
    `--total-num-mbufs=${opts.totalNumMbufs ?? 16384}`,
    `--rxd=${d}`,
    `--txd=${d}`,
    `--burst=${opts.burst ?? 32}`,
    `--forward-mode=${opts.forwardMode ?? 'io'}`,
    `--txpkts=${typeof txpkts === 'number' ? txpkts : txpkts.join(',')}`,
    // Without it testpmd waits (up to 9 s) for the link before its prompt; waitLinkUp polls instead.
    '--disable-link-check',
    ...((opts.autoStart ?? true) ? ['--auto-start'] : []),
    ...(opts.appArgs ?? []),
  ];
  return [...eal, '--', ...app];
}

/** Where EAL keeps a file prefix's runtime files (config, fbarrays, the mp socket). */
export function runtimeDirs(filePrefix: string): string[] {
  const bases = ['/var/run/dpdk', join(process.env.XDG_RUNTIME_DIR ?? '/tmp', 'dpdk')];
  return bases.map((b) => join(b, filePrefix));
}

/**
 * Removes runtime directories of testpmd instances this package started in processes that
 * are gone (a runner killed with SIGKILL leaves them). Returns what it removed.
 */
export function sweepStaleRuntimeDirs(): string[] {
  const removed: string[] = [];
  for (const base of ['/var/run/dpdk', join(process.env.XDG_RUNTIME_DIR ?? '/tmp', 'dpdk')]) {
    let names: string[];
    try {
      names = readdirSync(base);
    } catch {
      continue;
    }
    for (const n of names) {
      const m = new RegExp(`^${PREFIX}(\\d+)-`).exec(n);
      if (!m) continue;
      try {
        process.kill(Number(m[1]), 0);
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code === 'ESRCH') {
          removePaths([join(base, n)]);
          removed.push(join(base, n));
        }
      }
    }
  }
  return removed;
}

/**
 * Why testpmd peers cannot run here, or null when they can. Made for `itWhen(reason, ...)`.
 * (`--no-huge` needs neither hugepages nor, with IOVA as VA, root.)
 */
export function testpmdUnavailable(): string | null {
  if (!hasTool('dpdk-testpmd')) return 'needs dpdk-testpmd (apt-get install dpdk)';
  return null;
}

/** What {@link Testpmd.stop} collected before the process ended. */
export interface TestpmdStopResult {
  /** The forward statistics `stop` printed (empty when forwarding was not running or it did not answer). */
  forward: ForwardStats[];
  /** How the process ended: 'quit', 'SIGTERM' or 'SIGKILL'. */
  ended: 'quit' | 'SIGTERM' | 'SIGKILL' | 'already';
}

/** A running dpdk-testpmd. Create with {@link Testpmd.start}; always {@link Testpmd.stop}. */
export class Testpmd {
  readonly filePrefix: string;
  readonly args: string[];
  readonly log: OutputLog;
  private queue: Promise<unknown> = Promise.resolve();
  private stopped = false;

  private constructor(
    readonly opts: TestpmdOptions,
    readonly child: ChildProcess,
    filePrefix: string,
    args: string[],
  ) {
    this.filePrefix = filePrefix;
    this.args = args;
    this.log = new OutputLog(child, `dpdk-testpmd (${opts.role}, ${opts.socket})`);
    child.stdin?.on('error', () => {});
    track(this);
  }

  /** Whether this instance creates (listens on) the socket. */
  get listens(): boolean {
    return this.opts.role === 'vhost' ? !this.opts.client : !!this.opts.server;
  }

  /**
   * Starts testpmd. It is running but maybe not ready: await {@link waitReady}. Under `stdbuf
   * -oL` when available: testpmd's printf output is block-buffered on a pipe otherwise, and
   * command output would only arrive at exit.
   */
  static start(opts: TestpmdOptions): Testpmd {
    const reason = testpmdUnavailable();
    if (reason) throw new PeerError(reason);
    if (serial === 0) sweepStaleRuntimeDirs(); // leftovers of runners killed with SIGKILL
    const prefix = `${PREFIX}${process.pid}-${serial++}`;
    removePaths(runtimeDirs(prefix));
    const listens = opts.role === 'vhost' ? !opts.client : !!opts.server;
    if (listens) removePaths([opts.socket]); // a stale socket file makes the bind fail
    const args = testpmdArgs(opts, prefix);
    const stdbuf = whichTool('stdbuf');
    const [cmd, argv] = stdbuf ? [stdbuf, ['-oL', '-eL', 'dpdk-testpmd', ...args]] : ['dpdk-testpmd', args];
    const child = spawn(cmd, argv, { stdio: ['pipe', 'pipe', 'pipe'], env: opts.env ?? process.env });
    return new Testpmd(opts, child, prefix, args);
  }

  /** Starts testpmd and waits until it is ready ({@link waitReady}). Stops it when that fails. */
  static async create(opts: TestpmdOptions, timeoutMs = 20_000): Promise<Testpmd> {
    const t = Testpmd.start(opts);
    try {
      await t.waitReady(timeoutMs);
    } catch (e) {
      await t.stop();
      throw e;
    }
    return t;
  }

  get pid(): number | undefined {
    return this.child.pid;
  }

  /** Everything testpmd printed so far. */
  get output(): string {
    return this.log.text;
  }

  /**
   * Resolves when the listening side's socket exists (start the peer then). A virtio_user
   * with `server=1` blocks in its probe until a back-end connects, so it shows no prompt
   * before that: wait for this, start the back-end, then {@link waitReady} both.
   */
  async waitListening(timeoutMs = 20_000): Promise<void> {
    if (!this.listens) throw new PeerError(`${this.log.what} does not listen (it connects)`);
    const t0 = Date.now();
    while (!existsSync(this.opts.socket)) {
      if (this.log.exit !== null) throw new PeerError(`${this.log.what} ${this.log.exit} before creating its socket; output:\n${this.log.tail()}`);
      if (Date.now() - t0 > timeoutMs) throw new PeerError(`${this.log.what}: socket not created within ${timeoutMs} ms; output:\n${this.log.tail()}`);
      await sleep(50);
    }
  }

  /**
   * Resolves when testpmd shows its prompt: ports configured and, with `--auto-start`,
   * forwarding started (the link may still be down: {@link waitLinkUp}).
   */
  async waitReady(timeoutMs = 20_000): Promise<void> {
    await this.log.waitFor(TESTPMD_PROMPT, timeoutMs);
  }

  /**
   * Sends one command line and resolves with what testpmd printed until its next prompt,
   * including lines that landed inside that prompt (such as the command's own "Error: ...").
   * Commands are serialised.
   */
  command(text: string, timeoutMs = 10_000): Promise<string> {
    const run = async () => {
      if (exited(this.child)) throw new PeerError(`${this.log.what} ${this.log.exit ?? 'has exited'}; cannot run "${text}"`);
      const from = this.log.text.length;
      this.child.stdin!.write(`${text}\n`);
      const m = await this.log.waitFor(TESTPMD_PROMPT, timeoutMs, from);
      return this.log.text.slice(from, m.index) + linesInsidePrompt(m[0]);
    };
    const p = this.queue.then(run, run);
    this.queue = p.catch(() => {});
    return p;
  }

  /** `show port stats all`: every port's counters (the pps figures are since the previous call). */
  async allStats(): Promise<PortStats[]> {
    return parsePortStats(await this.command('show port stats all'));
  }

  /** Port `port`'s counters from `show port stats all`. */
  async stats(port = 0): Promise<PortStats> {
    const s = (await this.allStats()).find((p) => p.port === port);
    if (!s) throw new PeerError(`${this.log.what}: no statistics for port ${port}; output:\n${this.log.tail()}`);
    return s;
  }

  /** Whether port `port`'s link is up (`show port info`). */
  async linkUp(port = 0): Promise<boolean> {
    return parseLinkStatus(await this.command(`show port info ${port}`)) === true;
  }

  /** Polls {@link linkUp} until it is true; rejects after `timeoutMs`. */
  async waitLinkUp(timeoutMs = 15_000, port = 0): Promise<void> {
    const t0 = Date.now();
    while (!(await this.linkUp(port))) {
      if (Date.now() - t0 > timeoutMs) throw new PeerError(`${this.log.what}: port ${port} link not up within ${timeoutMs} ms; output:\n${this.log.tail()}`);
      await sleep(200);
    }
  }

  /** `start`: starts forwarding (when not auto-started, or after {@link stopForwarding}). */
  async startForwarding(): Promise<void> {
    await this.command('start');
  }

  /**
   * `stop`: ends forwarding but keeps the port (and so the vhost-user device) open, and
   * returns the forward statistics it printed. Stop the sender this way, let the receiver
   * drain the ring, then compare: quitting at once closes the device, and whatever was still
   * in the ring is lost.
   */
  async stopForwarding(): Promise<ForwardStats[]> {
    return parseForwardStats(await this.command('stop'));
  }

  /** The feature words negotiated so far, from the log ({@link parseNegotiatedFeatures}). */
  features(): NegotiatedFeatures {
    return parseNegotiatedFeatures(this.log.text);
  }

  /**
   * Ends testpmd: `stop` (forwarding; its statistics are returned), `quit`, SIGTERM after
   * `timeoutMs`, SIGKILL after as long again; then removes its runtime directory and, when it
   * listened, its socket file. Idempotent; never rejects.
   */
  async stop(timeoutMs = 5000): Promise<TestpmdStopResult> {
    if (this.stopped) return { forward: [], ended: 'already' };
    this.stopped = true;
    let forward: ForwardStats[] = [];
    let ended: TestpmdStopResult['ended'] = 'already';
    try {
      if (!exited(this.child)) {
        try {
          forward = parseForwardStats(await this.command('stop', timeoutMs));
        } catch {
          // not answering: killed below
        }
        ended = 'quit';
        if (!exited(this.child)) this.child.stdin!.write('quit\n');
        if (!(await waitExit(this.child, timeoutMs))) {
          ended = 'SIGTERM';
          this.child.kill('SIGTERM');
          if (!(await waitExit(this.child, timeoutMs))) {
            ended = 'SIGKILL';
            await terminate(this.child, 0);
          }
        }
      }
    } finally {
      this.cleanupFiles();
      untrack(this);
    }
    return { forward, ended };
  }

  private cleanupFiles(): void {
    removePaths(runtimeDirs(this.filePrefix));
    if (this.listens) removePaths([this.opts.socket]);
  }

  /** The exit handlers' version of {@link stop}: SIGKILL and remove the files. */
  destroySync(): void {
    if (!exited(this.child)) this.child.kill('SIGKILL');
    this.cleanupFiles();
    this.stopped = true;
  }
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
