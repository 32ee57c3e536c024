// A Linux guest in QEMU (TCG) whose virtio-net-pci device sits on a vhost-user netdev: the
// reference virtio driver our vhost-user back-end must satisfy, and a guest that answers ARP
// and ping and runs commands the test sends on its serial console.
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseSysfsFeatures } from './features.js';
import {
  BUSYBOX,
  type GuestConfig,
  type GuestKernel,
  guestKernelVersion,
  isStaticElf,
  kernelCached,
  MARK,
  prepareGuestKernel,
  writeInitramfs,
} from './guest-image.js';
import { exited, hasTool, OutputLog, PeerError, removePaths, terminate, track, tryExec, untrack, waitExit } from './proc.js';

/** Options of {@link QemuGuest.boot}: the vhost-user connection, the device and the guest's behaviour. */
export interface QemuGuestOptions extends GuestConfig {
  /** UNIX socket of the vhost-user connection. */
  socket: string;
  /**
   * QEMU listens on the socket (`server=on,wait=off`) and the back-end connects. Default
   * false: QEMU connects, so the back-end must already listen.
   */
  server?: boolean;
  /** Client side: reconnect every N seconds when the back-end goes away (`reconnect=N`). */
  reconnect?: number;
  /** Queue pairs (`queues=N` on the netdev; `mq=on` on the device when above 1). Default 1. */
  queues?: number;
  /** The device's MAC. Default `52:54:00:12:34:56`. */
  mac?: string;
  /** `mrg_rxbuf=on|off` on the device (QEMU's default: on). */
  mrgRxbuf?: boolean;
  /** `packed=on`: offer the packed ring. */
  packed?: boolean;
  /** Extra `virtio-net-pci` properties (`csum=off`, `rx_queue_size=1024`, ...). */
  deviceProps?: readonly string[];
  /** Guest RAM in MiB, a shared memfd (what a vhost-user back-end maps). Default 256. */
  memoryMb?: number;
  /** `-cpu`. Default `qemu64`. */
  cpu?: string;
  /**
   * vCPUs (`-smp`). Default 1. Linux's virtio_net enables min(vCPUs, queue pairs) queue
   * pairs at probe, so a multi-queue guest needs as many vCPUs as pairs to use them all.
   */
  cpus?: number;
  /** Extra kernel command line. Default `quiet loglevel=4`. */
  append?: string;
  /** The kernel; default {@link prepareGuestKernel}() (downloads it into the cache the first time). */
  kernel?: GuestKernel;
  /** Extra QEMU arguments. */
  qemuArgs?: readonly string[];
}

let serial = 0;

/** Why QEMU guests cannot run here, or null. Made for `itWhen(reason, ...)`. */
export function qemuUnavailable(): string | null {
  if (!hasTool('qemu-system-x86_64')) return 'needs qemu-system-x86_64 (apt-get install qemu-system-x86)';
  if (!isStaticElf(BUSYBOX)) return `needs a static ${BUSYBOX} for the guest's initramfs (apt-get install busybox-static)`;
  const version = guestKernelVersion();
  if (!version) return 'no guest kernel: apt-cache knows no linux-image-amd64 (a Debian apt source) and none is cached under $VNF_CACHE_DIR';
  if (kernelCached(version)) return null;
  for (const t of ['apt-get', 'apt-cache', 'dpkg-deb', 'tar']) if (!hasTool(t)) return `needs ${t} to fetch the guest kernel linux-image-${version}`;
  if (!tryExec('apt-cache', ['show', `linux-image-${version}`])) return `kernel package linux-image-${version} is not downloadable (apt-get update?)`;
  return null;
}

/** QEMU's arguments for `opts`, booting `vmlinuz` with `initrd`. */
export function qemuArgs(opts: QemuGuestOptions, vmlinuz: string, initrd: string): string[] {
  const mem = opts.memoryMb ?? 256;
  const q = opts.queues ?? 1;
  const chardev = [`socket,id=chr0,path=${opts.socket}`];
  if (opts.server) chardev.push('server=on', 'wait=off');
  else if (opts.reconnect) chardev.push(`reconnect=${opts.reconnect}`);
  // vectors=0 (no MSI-X, INTx): QEMU 7.2 under TCG segfaults in
  // vhost_net_start -> msix_set_vector_notifiers otherwise.
  const dev = ['virtio-net-pci', 'netdev=net0', `mac=${opts.mac ?? '52:54:00:12:34:56'}`, 'vectors=0'];
  if (q > 1) dev.push('mq=on');
  if (opts.mrgRxbuf !== undefined) dev.push(`mrg_rxbuf=${opts.mrgRxbuf ? 'on' : 'off'}`);
  if (opts.packed) dev.push('packed=on');
  dev.push(...(opts.deviceProps ?? []));
  return [
    '-M',
    'q35',
    '-accel',
    'tcg',
    '-cpu',
    opts.cpu ?? 'qemu64',
    '-m',
    `${mem}M`,
    '-smp',
    String(opts.cpus ?? 1),
    // -nographic without the monitor multiplexed on stdio: stdin goes to the serial port only.
    '-display',
    'none',
    '-nodefaults',
    '-serial',
    'stdio',
    '-monitor',
    'none',
    '-no-reboot',
    '-kernel',
    vmlinuz,
    '-initrd',
    initrd,
    '-append',
    `console=ttyS0 panic=-1 ${opts.append ?? 'quiet loglevel=4'}`,
    // The back-end maps guest memory from the fds QEMU sends: it must be a shared memfd.
    '-object',
    `memory-backend-memfd,id=mem,size=${mem}M,share=on`,
    '-numa',
    'node,memdev=mem',
    '-chardev',
    chardev.join(','),
    '-netdev',
    `vhost-user,id=net0,chardev=chr0,queues=${q}`,
    '-device',
    dev.join(','),
    ...(opts.qemuArgs ?? []),
  ];
}

/** What a command run in the guest printed and its exit code. */
export interface GuestExecResult {
  output: string;
  code: number;
}

/** A running QEMU guest. Create with {@link QemuGuest.boot}; always {@link QemuGuest.stop}. */
export class QemuGuest {
  readonly log: OutputLog;
  private cmdSerial = 0;
  private stopped = false;
  private queue: Promise<unknown> = Promise.resolve();

  private constructor(
    readonly opts: QemuGuestOptions,
    readonly child: ChildProcess,
    readonly workDir: string,
    readonly args: string[],
    /** Kernel modules the init script loads, in order. */
    readonly modules: string[],
    readonly kernel: GuestKernel,
  ) {
    this.log = new OutputLog(child, `qemu-system-x86_64 (${opts.socket})`, (s) => s.replace(/\r/g, ''));
    child.stdin?.on('error', () => {});
    track(this);
  }

  /**
   * Writes the initramfs and starts QEMU. The guest boots in the background (5-10 s under
   * TCG): {@link waitFor} its markers. The kernel is fetched first if it is not cached
   * (synchronous: do it before starting busy peers, or call {@link prepareGuestKernel}).
   */
  static boot(opts: QemuGuestOptions): QemuGuest {
    const reason = qemuUnavailable();
    if (reason) throw new PeerError(reason);
    const kernel = opts.kernel ?? prepareGuestKernel();
    const workDir = mkdtempSync(join(tmpdir(), `vnf-qemu-${process.pid}-${serial++}-`));
    try {
      const initrd = join(workDir, 'initrd.cpio');
      const modules = writeInitramfs(initrd, kernel, opts);
      if (opts.server) removePaths([opts.socket]);
      const args = qemuArgs(opts, kernel.vmlinuz, initrd);
      const child = spawn('qemu-system-x86_64', args, { stdio: ['pipe', 'pipe', 'pipe'] });
      return new QemuGuest(opts, child, workDir, args, modules, kernel);
    } catch (e) {
      removePaths([workDir]);
      throw e;
    }
  }

  get pid(): number | undefined {
    return this.child.pid;
  }

  /** The serial console (and QEMU's own messages) so far, without carriage returns. */
  get console(): string {
    return this.log.text;
  }

  /** First match of `re` in the console (from character offset `from`); rejects on timeout or exit. */
  waitFor(re: RegExp, timeoutMs = 60_000, from = 0): Promise<RegExpExecArray> {
    return this.log.waitFor(re, timeoutMs, from);
  }

  /**
   * Waits for the init script's marker `VNF-GUEST: <event>` (`init`, `features`, `link`,
   * `script-end`, `ready`, ...); resolves with the rest of its line.
   */
  async waitMarker(event: string, timeoutMs = 60_000): Promise<string> {
    const esc = event.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
    // The whole line: a console chunk may end in the middle of it (then `$` would match early).
    const m = await this.log.waitFor(new RegExp(`^${MARK} ${esc}(?: ([^\r\n]*))?\r?\n`, 'm'), timeoutMs);
    return m[1] ?? '';
  }

  /** The virtio feature bits the guest driver negotiated (from sysfs, printed at boot). */
  async features(timeoutMs = 60_000): Promise<bigint> {
    return parseSysfsFeatures(await this.waitMarker('features', timeoutMs));
  }

  /**
   * Runs a shell command in the guest (after `ready`) and resolves with its output (stdout
   * and stderr) and exit code. Commands are serialised.
   */
  exec(command: string, timeoutMs = 30_000): Promise<GuestExecResult> {
    if (/[\n\r]/.test(command)) throw new PeerError('guest commands are one line');
    const run = async () => {
      await this.waitMarker('ready', timeoutMs);
      if (exited(this.child)) throw new PeerError(`QEMU ${this.log.exit}; cannot run ${command}`);
      const id = `c${++this.cmdSerial}`;
      const from = this.log.text.length;
      this.child.stdin!.write(`${id} ${command}\n`);
      const begin = await this.log.waitFor(new RegExp(`^${MARK} begin ${id}\r?\n`, 'm'), timeoutMs, from);
      const end = await this.log.waitFor(new RegExp(`^${MARK} end ${id} rc=(\\d+)\r?\n`, 'm'), timeoutMs, begin.index);
      const output = this.log.text.slice(begin.index + begin[0].length, end.index);
      return { output, code: Number(end[1]) };
    };
    const p = this.queue.then(run, run);
    this.queue = p.catch(() => {});
    return p;
  }

  /**
   * Powers the guest off (`poweroff` on the console), SIGTERM after `timeoutMs`, SIGKILL;
   * removes the work directory (the initramfs) and, when QEMU listened, the socket.
   * Idempotent; never rejects.
   */
  async stop(timeoutMs = 5000): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    try {
      if (!exited(this.child)) {
        this.child.stdin!.write('poweroff\n');
        if (!(await waitExit(this.child, timeoutMs))) await terminate(this.child, timeoutMs);
      }
    } finally {
      this.cleanupFiles();
      untrack(this);
    }
  }

  private cleanupFiles(): void {
    removePaths([this.workDir]);
    if (this.opts.server) removePaths([this.opts.socket]);
  }

  /** The exit handlers' version of {@link stop}. */
  destroySync(): void {
    if (!exited(this.child)) this.child.kill('SIGKILL');
    this.cleanupFiles();
    this.stopped = true;
  }
}
