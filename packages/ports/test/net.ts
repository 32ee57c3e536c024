// Test helpers: veth pairs and TAPs made and removed by the tests, a kernel-side sender
// (a Python AF_PACKET socket, independent of our driver), a tcpdump capture, and a child
// process without capabilities.
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Burst, Mempool } from '@vnf-sdk/core';
import { CaptureReader, type decode } from '@vnf-sdk/protocols';
import { isRoot } from '@vnf-sdk/test-support';

export function sh(cmd: string): string {
  return execFileSync('sh', ['-c', cmd], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

const has = (tool: string) => spawnSync('sh', ['-c', `command -v ${tool}`]).status === 0;

/** Why the kernel-port tests cannot run here, or null. */
export const netMissing: string | null = !isRoot
  ? 'needs root (CAP_NET_RAW/CAP_NET_ADMIN) to make veth pairs and TAPs'
  : !has('ip') || !has('ethtool') || !has('python3') || !has('tcpdump') || !has('setpriv')
    ? 'needs ip, ethtool, python3, tcpdump and setpriv (apt-get install iproute2 ethtool python3 tcpdump util-linux)'
    : null;

/** Quietens an interface: no IPv6 (no router solicitations, MLD), offloads off. */
function quiet(name: string): void {
  sh(`sysctl -qw net.ipv6.conf.${name}.disable_ipv6=1 || true`);
  // Without this, veth would hand AF_PACKET frames with partial checksums and 64 KiB GSO frames.
  sh(`ethtool -K ${name} tx off tso off gso off gro off rxvlan off txvlan off >/dev/null 2>&1 || true`);
}

/** A veth pair a <-> b, both up, no addresses: traffic stays on the pair. */
export function makeVeth(a: string, b: string, up = true): void {
  deleteLink(a);
  sh(`ip link add ${a} type veth peer name ${b}`);
  quiet(a);
  quiet(b);
  if (up) {
    sh(`ip link set ${a} up && ip link set ${b} up`);
    waitFor(() => readFileSync(`/sys/class/net/${a}/operstate`, 'utf8').trim() === 'up', `${a} up`);
  }
}

export function deleteLink(name: string): void {
  if (existsSync(`/sys/class/net/${name}`)) sh(`ip link del ${name} 2>/dev/null || true`);
}

export function waitFor(cond: () => boolean, what: string, ms = 3000): void {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 10);
  }
}

/** Sends frames from `ifname` with a plain AF_PACKET socket of Python's (not our driver). */
export function kernelSend(ifname: string, frames: readonly Uint8Array[]): void {
  const hex = frames.map((f) => Buffer.from(f).toString('hex')).join('\n');
  execFileSync(
    'python3',
    ['-c', 'import socket,sys\ns=socket.socket(socket.AF_PACKET,socket.SOCK_RAW)\ns.bind((sys.argv[1],0))\nfor l in sys.stdin.read().split():\n    s.send(bytes.fromhex(l))', ifname],
    { input: hex },
  );
}

/** Receives on `queue` until `want` packets arrived or `ms` passed; returns the burst's count. */
export async function rxUntil(port: { rxBurst(b: Burst, q?: number): number }, burst: Burst, want: number, queue = 0, ms = 2000): Promise<number> {
  const end = Date.now() + ms;
  while (burst.count < want && Date.now() < end) {
    if (port.rxBurst(burst, queue) === 0) await new Promise((r) => setTimeout(r, 5));
  }
  return burst.count;
}

/** Copies out the burst's packets. */
export function frames(pool: Mempool, burst: Burst): Uint8Array[] {
  return Array.from(burst.ids.subarray(0, burst.count), (id) => pool.read(id));
}

/** Captures `count` frames matching `filter` on `ifname` with tcpdump while `during` runs. */
export async function capture(ifname: string, filter: string, count: number, during: () => void | Promise<void>): Promise<Uint8Array[]> {
  const dir = mkdtempSync(join(tmpdir(), 'vnf-cap-'));
  const file = join(dir, 'c.pcap');
  const p = spawn('tcpdump', ['-i', ifname, '-U', '-n', '-c', String(count), '-w', file, filter], { stdio: ['ignore', 'ignore', 'pipe'] });
  try {
    await new Promise<void>((resolve, reject) => {
      let err = '';
      p.stderr.on('data', (d) => {
        err += d;
        if (err.includes('listening on')) resolve();
      });
      p.on('exit', () => reject(new Error(`tcpdump exited: ${err}`)));
    });
    await during();
    await new Promise<void>((resolve) => {
      const t = setTimeout(() => {
        p.kill('SIGINT');
      }, 3000);
      p.on('exit', () => {
        clearTimeout(t);
        resolve();
      });
      if (p.exitCode !== null) resolve();
    });
    const r = CaptureReader.open(file);
    const out = Array.from(r, (pkt) => Uint8Array.from(pkt.data));
    r.close();
    return out;
  } finally {
    if (p.exitCode === null) p.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * Runs `code` (an ES module body that may use `Mempool`, `AfPacketPort`, `TapPort`) in a
 * child process with every capability dropped; returns what it printed as JSON.
 */
export function withoutCaps(code: string): { code?: string; message?: string; ok?: boolean } {
  const body = `import { Mempool } from '@vnf-sdk/core';
import { AfPacketPort, TapPort } from '@vnf-sdk/ports';
try { ${code}; console.log(JSON.stringify({ ok: true })); }
catch (e) { console.log(JSON.stringify({ code: e.code, message: e.message })); }`;
  const out = execFileSync(
    'setpriv',
    ['--inh-caps=-all', '--bounding-set=-all', process.execPath, '--input-type=module', '-e', body],
    { cwd: join(import.meta.dirname, '..'), encoding: 'utf8', env: process.env },
  );
  return JSON.parse(out.trim().split('\n').pop() as string);
}

/** The ICMP type of a decoded packet, or undefined. */
export function icmpType(d: ReturnType<typeof decode>): number | undefined {
  const l = d.layers.find((x) => x.type === 'icmp');
  return l && 'icmpType' in l ? l.icmpType : undefined;
}
