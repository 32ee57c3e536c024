// Helpers of the AF_XDP tests: veth pairs that are always deleted, and an independent peer
// (a raw AF_PACKET socket in Debian's python3) that sends and captures frames.
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { build } from '@vnf-sdk/protocols';

const PYTHON = existsSync('/usr/bin/python3') ? '/usr/bin/python3' : 'python3';

function sh(cmd: string, args: string[]): string {
  return execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

/** Why the AF_XDP tests cannot run here, or null. */
export function afXdpMissing(): string | null {
  if (typeof process.getuid !== 'function' || process.getuid() !== 0) return 'needs root (veth pairs, AF_XDP sockets, XDP programs)';
  if (spawnSync('ip', ['-V']).status !== 0) return 'needs iproute2 (ip)';
  if (spawnSync(PYTHON, ['-c', 'import socket; socket.AF_PACKET']).status !== 0) return 'needs python3 (the AF_PACKET peer)';
  return null;
}

const live = new Set<string>();
let seq = 0;

export interface Veth {
  /** The side the port under test opens. */
  a: string;
  /** The peer. */
  b: string;
  del(): void;
}

/**
 * A veth pair in the root namespace, both ends up, no addresses, IPv6 off (so the kernel
 * sends nothing of its own on it), offloads off. Names carry the pid: tests in parallel
 * processes cannot collide.
 */
export function makeVeth(queues = 1): Veth {
  const tag = `${process.pid}${String.fromCharCode(97 + (seq++ % 26))}`;
  const a = `vxa${tag}`;
  const b = `vxb${tag}`;
  const q = queues > 1 ? ['numrxqueues', String(queues), 'numtxqueues', String(queues)] : [];
  sh('ip', ['link', 'add', a, ...q, 'type', 'veth', 'peer', 'name', b, ...q]);
  live.add(a);
  for (const i of [a, b]) {
    spawnSync('sysctl', ['-qw', `net.ipv6.conf.${i}.disable_ipv6=1`]);
    spawnSync('ethtool', ['-K', i, 'tx', 'off', 'tso', 'off', 'gso', 'off', 'gro', 'off'], { stdio: 'ignore' });
    sh('ip', ['link', 'set', i, 'up']);
  }
  return {
    a,
    b,
    del() {
      deleteVeth(a);
    },
  };
}

function deleteVeth(a: string): void {
  if (!live.delete(a)) return;
  spawnSync('ip', ['link', 'del', a], { stdio: 'ignore' });
}

/** Deletes every pair still alive (afterAll). */
export function deleteAllVeths(): void {
  for (const a of [...live]) deleteVeth(a);
}

/** `ip link show` of an interface: has an XDP program when it mentions `xdp`. */
export function linkShow(name: string): string {
  return sh('ip', ['link', 'show', 'dev', name]);
}

export const MAC_A = '02:00:00:00:0a:01';
export const MAC_B = '02:00:00:00:0b:01';

/** A UDP frame of exactly `size` bytes (at least 42), payload bytes derived from `seed`. */
export function udpFrame(size: number, seed: number, src = MAC_B, dst = MAC_A): Uint8Array {
  const data = new Uint8Array(size - 42);
  for (let i = 0; i < data.length; i++) data[i] = (seed * 31 + i * 7) & 0xff;
  return build([
    { type: 'ethernet', src, dst },
    { type: 'ipv4', src: '10.9.0.2', dst: '10.9.0.1' },
    { type: 'udp', srcPort: 1000 + (seed % 1000), dstPort: 9000 },
    { type: 'payload', data },
  ]);
}

const SEND = `
import socket, sys
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
s.bind((sys.argv[1], 0))
for line in sys.stdin:
    line = line.strip()
    if line:
        s.send(bytes.fromhex(line))
`;

/** Sends frames out of `ifname` through an AF_PACKET socket (the kernel's own path). */
export function peerSend(ifname: string, frames: readonly Uint8Array[]): void {
  const input = frames.map((f) => Buffer.from(f).toString('hex')).join('\n');
  const r = spawnSync(PYTHON, ['-c', SEND, ifname], { input, encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`peerSend on ${ifname} failed: ${r.stderr}`);
}

const CAPTURE = `
import select, socket, sys, time
ifname, count, timeout, mac = sys.argv[1], int(sys.argv[2]), float(sys.argv[3]), bytes.fromhex(sys.argv[4])
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(3))
s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8 << 20)
s.bind((ifname, 0))
print('ready', flush=True)
end = time.time() + timeout
got = 0
while got < count:
    left = end - time.time()
    if left <= 0 or not select.select([s], [], [], left)[0]:
        break
    data, addr = s.recvfrom(65535)
    if addr[2] == socket.PACKET_OUTGOING or data[6:12] != mac:
        continue
    print(data.hex(), flush=True)
    got += 1
`;

/**
 * Starts capturing on `ifname` the frames whose source MAC is `srcMac`, until `count` of
 * them or `timeoutS`. Resolves once the socket is bound; `done` resolves with the frames.
 */
export async function peerCapture(
  ifname: string,
  count: number,
  srcMac: string,
  timeoutS = 5,
): Promise<{ done: Promise<Uint8Array[]> }> {
  const child = spawn(PYTHON, ['-c', CAPTURE, ifname, String(count), String(timeoutS), srcMac.replaceAll(':', '')], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  child.stderr.on('data', (d) => {
    err += d;
  });
  const done = new Promise<Uint8Array[]>((resolve, reject) => {
    child.on('close', (code) => {
      if (code !== 0) reject(new Error(`peerCapture on ${ifname} failed (${code}): ${err}`));
      else resolve(out.split('\n').slice(1).filter(Boolean).map((h) => new Uint8Array(Buffer.from(h, 'hex'))));
    });
  });
  await new Promise<void>((resolve, reject) => {
    child.stdout.on('data', (d) => {
      const had = out.includes('ready\n');
      out += d;
      if (!had && out.includes('ready\n')) resolve();
    });
    child.on('close', () => reject(new Error(`peerCapture on ${ifname} ended before it was ready: ${err}`)));
  });
  return { done };
}
