// What the QEMU guest boots: a Debian kernel package downloaded with apt-get and unpacked
// (not installed) into a cache, and a busybox initramfs written here (newc cpio, no cpio
// tool) whose init loads the virtio modules of that kernel, configures eth0, prints markers
// on the serial console and runs the commands the host sends on it.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { hasTool, PeerError, removePaths, tryExec } from './proc.js';

/** Where downloads are cached: `$VNF_CACHE_DIR`, else `~/.cache/vnf-sdk`. */
export function cacheDir(): string {
  return process.env.VNF_CACHE_DIR ?? join(process.env.XDG_CACHE_HOME ?? join(homedir(), '.cache'), 'vnf-sdk');
}

/**
 * The Debian kernel ABI to boot (`6.1.0-56-amd64`): `$VNF_GUEST_KERNEL`, else what the
 * `linux-image-amd64` meta-package depends on (apt's current Debian 12 kernel), else the
 * newest one already in the cache. Null when none can be found.
 */
export function guestKernelVersion(): string | null {
  if (process.env.VNF_GUEST_KERNEL) return process.env.VNF_GUEST_KERNEL;
  const deps = tryExec('apt-cache', ['depends', 'linux-image-amd64']);
  const m = deps ? /Depends: linux-image-(\d\S*-amd64)/.exec(deps) : null;
  if (m) return m[1]!;
  const cached = cachedKernels();
  return cached.length ? cached[cached.length - 1]! : null;
}

function kernelsDir(): string {
  return join(cacheDir(), 'guest-kernel');
}

function cachedKernels(): string[] {
  try {
    return readdirSync(kernelsDir())
      .filter((v) => existsSync(join(kernelsDir(), v, '.complete')))
      .sort((a, b) => a.localeCompare(b, undefined, { numeric: true }));
  } catch {
    return [];
  }
}

/** An unpacked kernel: the bzImage and the module directory. */
export interface GuestKernel {
  version: string;
  /** `boot/vmlinuz-<version>`. */
  vmlinuz: string;
  /** `lib/modules/<version>`. */
  modulesDir: string;
}

function kernelPaths(version: string): GuestKernel {
  const root = join(kernelsDir(), version);
  return { version, vmlinuz: join(root, 'boot', `vmlinuz-${version}`), modulesDir: join(root, 'lib', 'modules', version) };
}

/** Whether this kernel is already unpacked in the cache. */
export function kernelCached(version: string): boolean {
  return existsSync(join(kernelsDir(), version, '.complete'));
}

/**
 * Makes sure kernel `version` is unpacked in the cache: `apt-get download
 * linux-image-<version>` (about 70 MB, a few seconds) and `dpkg-deb --fsys-tarfile | tar`
 * of the bzImage and the module trees the virtio-net driver needs; the .deb is then deleted.
 * Safe against a half-done earlier attempt (unpacks into a temporary directory, renamed).
 */
export function prepareGuestKernel(version = guestKernelVersion()): GuestKernel {
  if (!version) throw new PeerError('no guest kernel: apt-cache knows no linux-image-amd64 and none is cached (set VNF_GUEST_KERNEL)');
  const paths = kernelPaths(version);
  if (kernelCached(version)) return paths;
  for (const t of ['apt-get', 'dpkg-deb', 'tar']) if (!hasTool(t)) throw new PeerError(`needs ${t} to fetch the guest kernel (Debian's apt and dpkg)`);
  mkdirSync(kernelsDir(), { recursive: true });
  const tmp = mkdtempSync(join(kernelsDir(), `.${version}-`));
  try {
    try {
      execFileSync('apt-get', ['download', `linux-image-${version}`], { cwd: tmp, stdio: ['ignore', 'pipe', 'pipe'], timeout: 300_000 });
    } catch (e) {
      const err = e as { stderr?: Buffer };
      throw new PeerError(`apt-get download linux-image-${version} failed: ${err.stderr?.toString().trim() ?? String(e)}`);
    }
    const deb = readdirSync(tmp).find((f) => f.endsWith('.deb'));
    if (!deb) throw new PeerError(`apt-get download linux-image-${version} left no .deb`);
    const m = `./lib/modules/${version}`;
    const wanted = [`./boot/vmlinuz-${version}`, `${m}/modules.builtin`, `${m}/modules.order`, `${m}/kernel/drivers/virtio`, `${m}/kernel/drivers/net`, `${m}/kernel/net/core`];
    const unpack = 'deb="$1"; dir="$2"; shift 2; dpkg-deb --fsys-tarfile "$deb" | tar -x -C "$dir" "$@"';
    try {
      execFileSync('sh', ['-c', unpack, 'sh', join(tmp, deb), tmp, ...wanted], { stdio: ['ignore', 'pipe', 'pipe'], timeout: 300_000 });
    } catch (e) {
      const err = e as { stderr?: Buffer };
      throw new PeerError(`unpacking ${deb} failed: ${err.stderr?.toString().trim() ?? String(e)}`);
    }
    removePaths([join(tmp, deb)]);
    writeFileSync(join(tmp, '.complete'), `${deb}\n`);
    removePaths([join(kernelsDir(), version)]);
    renameSync(tmp, join(kernelsDir(), version));
  } catch (e) {
    removePaths([tmp]);
    throw e;
  }
  return paths;
}

/** The `depends=` of a kernel module's .modinfo (module names, `-` as `_`). */
export function moduleDepends(ko: Buffer): string[] {
  const i = ko.indexOf('depends=');
  if (i < 0) return [];
  const end = ko.indexOf(0, i);
  const list = ko.toString('latin1', i + 'depends='.length, end < 0 ? undefined : end);
  return list
    .split(',')
    .map((s) => s.trim().replace(/-/g, '_'))
    .filter(Boolean);
}

/**
 * The module files to load, in order (dependencies first), for `targets` in a kernel's
 * module directory; modules built into the kernel are left out. Debian's package ships no
 * modules.dep (depmod makes it at install), so dependencies come from each .ko's modinfo.
 */
export function resolveModules(modulesDir: string, targets: readonly string[]): { name: string; path: string }[] {
  const builtin = new Set<string>();
  try {
    for (const line of readFileSync(join(modulesDir, 'modules.builtin'), 'utf8').split('\n')) {
      const m = /([^/]+)\.ko$/.exec(line.trim());
      if (m) builtin.add(m[1]!.replace(/-/g, '_'));
    }
  } catch {
    // no list: assume nothing is built in
  }
  const files = new Map<string, string>();
  const walk = (dir: string) => {
    let entries: import('node:fs').Dirent[];
    try {
      entries = readdirSync(dir, { withFileTypes: true });
    } catch {
      return;
    }
    for (const e of entries) {
      const p = join(dir, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.name.endsWith('.ko')) files.set(e.name.slice(0, -3).replace(/-/g, '_'), p);
      else if (/\.ko\.(xz|zst|gz)$/.test(e.name)) files.set(e.name.replace(/\.ko\..*$/, '').replace(/-/g, '_'), p);
    }
  };
  walk(join(modulesDir, 'kernel'));
  const order: { name: string; path: string }[] = [];
  const seen = new Set<string>();
  const visit = (name: string, chain: string[]) => {
    const n = name.replace(/-/g, '_');
    if (seen.has(n) || builtin.has(n)) return;
    const path = files.get(n);
    if (!path) throw new PeerError(`kernel module ${n} (needed by ${chain.join(' <- ') || 'the guest'}) not found under ${modulesDir}`);
    if (!path.endsWith('.ko')) throw new PeerError(`kernel module ${path} is compressed; busybox insmod needs plain .ko files`);
    seen.add(n);
    for (const d of moduleDepends(readFileSync(path))) visit(d, [n, ...chain]);
    order.push({ name: n, path });
  };
  for (const t of targets) visit(t, []);
  return order;
}

/** The modules the guest loads: the virtio PCI transport and the virtio-net driver. */
export const GUEST_MODULES = ['virtio_pci', 'virtio_net'] as const;

// ---------------------------------------------------------------------------------------
// newc cpio

/** One entry of a cpio archive. */
export interface CpioEntry {
  path: string;
  type: 'file' | 'dir' | 'symlink';
  /** Permission bits. Default 0o755 for directories and files, 0o777 for symlinks. */
  mode?: number;
  /** File contents, or the symlink's target. */
  data?: Buffer | string;
}

function hex8(n: number): string {
  return n.toString(16).padStart(8, '0');
}

/** A newc ("070701") cpio archive of `entries`, ended by the trailer, as the kernel unpacks it. */
export function cpioNewc(entries: readonly CpioEntry[]): Buffer {
  const parts: Buffer[] = [];
  let size = 0;
  let ino = 1;
  const push = (b: Buffer) => {
    parts.push(b);
    size += b.length;
  };
  const pad4 = () => {
    const r = size % 4;
    if (r) push(Buffer.alloc(4 - r));
  };
  const entry = (name: string, mode: number, data: Buffer, nlink: number) => {
    const nameBuf = Buffer.from(`${name}\0`, 'utf8');
    const header =
      '070701' +
      hex8(ino++) +
      hex8(mode) +
      hex8(0) + // uid
      hex8(0) + // gid
      hex8(nlink) +
      hex8(0) + // mtime
      hex8(data.length) +
      hex8(0) + // devmajor
      hex8(0) +
      hex8(0) + // rdevmajor
      hex8(0) +
      hex8(nameBuf.length) +
      hex8(0); // check
    push(Buffer.from(header, 'ascii'));
    push(nameBuf);
    pad4();
    if (data.length) {
      push(data);
      pad4();
    }
  };
  for (const e of entries) {
    const data = e.data === undefined ? Buffer.alloc(0) : typeof e.data === 'string' ? Buffer.from(e.data, 'utf8') : e.data;
    const name = e.path.replace(/^\/+/, '');
    if (e.type === 'dir') entry(name, 0o040000 | (e.mode ?? 0o755), Buffer.alloc(0), 2);
    else if (e.type === 'symlink') entry(name, 0o120000 | (e.mode ?? 0o777), data, 1);
    else entry(name, 0o100000 | (e.mode ?? 0o755), data, 1);
  }
  entry('TRAILER!!!', 0, Buffer.alloc(0), 1);
  return Buffer.concat(parts);
}

// ---------------------------------------------------------------------------------------
// the initramfs

/** The busybox the initramfs runs: busybox-static's (a dynamic one would need its libraries). */
export const BUSYBOX = '/bin/busybox';

/** Whether `path` is a statically linked executable (an ELF file with no PT_INTERP). */
export function isStaticElf(path: string): boolean {
  let b: Buffer;
  try {
    b = readFileSync(path);
  } catch {
    return false;
  }
  if (b.length < 64 || b.readUInt32BE(0) !== 0x7f454c46 || b[4] !== 2) return false; // ELF64 only
  const phoff = Number(b.readBigUInt64LE(32));
  const phentsize = b.readUInt16LE(54);
  const phnum = b.readUInt16LE(56);
  for (let i = 0; i < phnum; i++) if (b.readUInt32LE(phoff + i * phentsize) === 3) return false; // PT_INTERP
  return true;
}

/** Marker prefix of every line the init script prints for the host. */
export const MARK = 'VNF-GUEST:';

/** Guest network configuration and behaviour baked into the initramfs. */
export interface GuestConfig {
  /** eth0's address with prefix length. Default `10.99.0.2/24`. */
  ip?: string;
  /** Default route via this address (optional). */
  gateway?: string;
  /** MTU of eth0 (optional). */
  mtu?: number;
  /** Shell script run once eth0 is up (`sh /test.sh`), between `script-begin` and `script-end rc=N` markers. */
  script?: string;
  /** The guest powers itself off after this many seconds whatever happens. Default 120. */
  timeoutSeconds?: number;
  /** Wait this long (seconds) for carrier on eth0 before reporting `link-timeout`. Default 20. */
  linkWaitSeconds?: number;
}

/** The init script (PID 1) of the initramfs, for `config` and the modules in load order. */
export function initScript(config: GuestConfig, modules: readonly string[]): string {
  const ip = config.ip ?? '10.99.0.2/24';
  const q = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;
  return `#!/bin/sh
# vnf-sdk virtio-peers guest init: markers "${MARK} <event>" on the serial console.
export PATH=/bin
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
stty -echo 2>/dev/null
(sleep ${config.timeoutSeconds ?? 120}; echo "${MARK} timeout"; poweroff -f) &
echo "${MARK} init kernel=$(uname -r)"
for m in ${modules.join(' ')}; do insmod /mods/$m.ko || echo "${MARK} insmod-failed $m"; done
i=0
while [ ! -e /sys/class/net/eth0 ]; do
  i=$((i+1)); [ $i -gt 100 ] && { echo "${MARK} no-eth0"; break; }; sleep 0.1
done
echo "${MARK} features $(cat /sys/class/net/eth0/device/features 2>/dev/null)"
echo "${MARK} mac $(cat /sys/class/net/eth0/address 2>/dev/null)"
ip link set lo up
${config.mtu ? `ip link set eth0 mtu ${config.mtu}\n` : ''}ip addr add ${q(ip)} dev eth0
ip link set eth0 up
${config.gateway ? `ip route add default via ${q(config.gateway)}\n` : ''}i=0
# carrier first, then operstate (linkwatch sets it up to a second later)
while [ "$(cat /sys/class/net/eth0/carrier 2>/dev/null)" != 1 ] || [ "$(cat /sys/class/net/eth0/operstate)" != up ]; do
  i=$((i+1)); [ $i -gt ${(config.linkWaitSeconds ?? 20) * 10} ] && { echo "${MARK} link-timeout"; break; }; sleep 0.1
done
echo "${MARK} link operstate=$(cat /sys/class/net/eth0/operstate) carrier=$(cat /sys/class/net/eth0/carrier 2>/dev/null)"
if [ -f /test.sh ]; then
  echo "${MARK} script-begin"
  sh /test.sh
  echo "${MARK} script-end rc=$?"
fi
echo "${MARK} ready"
# Commands from the host, one a line: "<id> <shell command>" or "poweroff".
while read -r id cmd; do
  case "$id" in
    poweroff) echo "${MARK} poweroff"; poweroff -f ;;
    "") ;;
    *) echo "${MARK} begin $id"; sh -c "$cmd" 2>&1; echo "${MARK} end $id rc=$?" ;;
  esac
done
echo "${MARK} console-closed"
poweroff -f
`;
}

/**
 * The busybox part of the initramfs (busybox, its applet links, the mount points),
 * cached: it depends only on the busybox binary.
 */
function busyboxEntries(): CpioEntry[] {
  if (!isStaticElf(BUSYBOX)) throw new PeerError(`${BUSYBOX} is not a static busybox (apt-get install busybox-static)`);
  const list = execFileSync(BUSYBOX, ['--list'], { encoding: 'utf8' })
    .split('\n')
    .map((s) => s.trim())
    .filter((s) => s && s !== 'busybox');
  const entries: CpioEntry[] = ['bin', 'proc', 'sys', 'dev', 'mods', 'tmp', 'etc'].map((d) => ({ path: d, type: 'dir' as const }));
  entries.push({ path: 'bin/busybox', type: 'file', data: readFileSync(BUSYBOX) });
  for (const a of list) entries.push({ path: `bin/${a}`, type: 'symlink', data: 'busybox' });
  return entries;
}

/**
 * Writes the initramfs for one boot to `path`: busybox, the kernel's virtio modules, the
 * init script for `config` and the test's script. Returns the module load order.
 */
export function writeInitramfs(path: string, kernel: GuestKernel, config: GuestConfig = {}): string[] {
  const mods = resolveModules(kernel.modulesDir, GUEST_MODULES);
  const entries = busyboxEntries();
  for (const m of mods) entries.push({ path: `mods/${m.name}.ko`, type: 'file', mode: 0o644, data: readFileSync(m.path) });
  entries.push({ path: 'init', type: 'file', data: initScript(config, mods.map((m) => m.name)) });
  if (config.script !== undefined) entries.push({ path: 'test.sh', type: 'file', data: config.script });
  // Uncompressed: the kernel copies it as is, faster under TCG than inflating a gzip.
  writeFileSync(path, cpioNewc(entries));
  return mods.map((m) => m.name);
}
