// The router as a stateful firewall (acl + conntrack) with real traffic over AF_PACKET: the
// Linux stacks of h1 and h2 are the peers. One rule, `permit-and-track src 10.231.1.0/24`, and
// no match denies: connections h1 opens (TCP, UDP, ping) work both ways because their return
// traffic belongs to a session (ct-lookup hits, the ACL never sees it), while h2's unsolicited
// TCP connects and UDP datagrams miss the table and are denied ('acl:no-match'), and so is a
// UDP answer that comes after its session expired (udp timeouts of 2 s).
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ADDRS, netnsUnavailable, Topology } from '@vnf-sdk/netns';
import { itWhen } from '@vnf-sdk/test-support';
import { afterAll, beforeAll, describe, expect } from 'vitest';
import { CLI, RouterProcess, type RouterStats, routerConfig } from './router-process.js';

const reason = netnsUnavailable(['python3']) ?? (existsSync(CLI) ? null : 'dist/cli.js is not built (npm run build)');
const UDP_TIMEOUT = 2; // seconds, for replied and unreplied UDP sessions

// Python on the kernel's sockets (no extra tool). A TCP server answering each connection's
// first data with the same bytes, and printing each connection it accepted.
const TCP_ECHO = 'import socket,sys\ns=socket.socket()\ns.setsockopt(socket.SOL_SOCKET,socket.SO_REUSEADDR,1)\ns.bind(("0.0.0.0",int(sys.argv[1])))\ns.listen(8)\nprint("listening",flush=True)\nwhile True:\n  c,a=s.accept()\n  print("accepted",a[0],flush=True)\n  c.settimeout(3)\n  try:\n    d=c.recv(100)\n    c.sendall(d)\n  except Exception:\n    pass\n  c.close()\n';
const TCP_CONNECT =
  'import socket,sys\ns=socket.socket()\ns.settimeout(float(sys.argv[3]))\ntry:\n  s.connect((sys.argv[1],int(sys.argv[2])))\n  s.sendall(b"hello through the firewall")\n  print("echo",s.recv(100).decode())\nexcept socket.timeout:\n  print("timeout")\nexcept Exception as e:\n  print(type(e).__name__)\n';
// A UDP server that answers each datagram (a delay in seconds) after that delay, printing "sent".
const UDP_ECHO =
  'import socket,sys,time\ns=socket.socket(socket.AF_INET,socket.SOCK_DGRAM)\ns.bind(("0.0.0.0",int(sys.argv[1])))\nprint("listening",flush=True)\nwhile True:\n  d,a=s.recvfrom(100)\n  time.sleep(float(d))\n  s.sendto(b"answer "+d,a)\n  print("sent",d.decode(),flush=True)\n';
// Sends argv[3] (the answer's delay) and waits argv[4] seconds for the answer.
const UDP_ASK =
  'import socket,sys\ns=socket.socket(socket.AF_INET,socket.SOCK_DGRAM)\ns.settimeout(float(sys.argv[4]))\ns.sendto(sys.argv[3].encode(),(sys.argv[1],int(sys.argv[2])))\ntry:\n  print(s.recv(100).decode())\nexcept socket.timeout:\n  print("timeout")\n';
// Sends argv[3] datagrams, 50 ms apart.
const UDP_SEND = 'import socket,sys,time\ns=socket.socket(socket.AF_INET,socket.SOCK_DGRAM)\nfor i in range(int(sys.argv[3])):\n  s.sendto(b"unsolicited",(sys.argv[1],int(sys.argv[2])))\n  time.sleep(0.05)\nprint("sent")\n';
// Prints every datagram it receives.
const UDP_LISTEN = 'import socket,sys\ns=socket.socket(socket.AF_INET,socket.SOCK_DGRAM)\ns.bind(("0.0.0.0",int(sys.argv[1])))\nprint("listening",flush=True)\nwhile True:\n  d,a=s.recvfrom(100)\n  print("got",a[0],flush=True)\n';

/**
 * Counter deltas between two stats lines: drops by reason, packets each stage handled, and
 * the drop counters that moved (not ARP's, nor 'ip4:arp-held': a packet copied into a
 * neighbour's queue while its MAC is resolved, sent afterwards).
 */
function delta(a: RouterStats, b: RouterStats) {
  const drop = (k: string) => (b.drops[k] ?? 0) - (a.drops[k] ?? 0);
  const stage = (k: string) => (b.stages[k]?.packets ?? 0) - (a.stages[k]?.packets ?? 0);
  const moved = Object.keys(b.drops).filter((k) => !k.startsWith('arp:') && k !== 'ip4:arp-held' && drop(k) !== 0);
  return { drop, stage, moved: Object.fromEntries(moved.map((k) => [k, drop(k)])) };
}

describe('vnf-router as a stateful firewall (acl + conntrack), real traffic over AF_PACKET', () => {
  let topo: Topology;
  let router: RouterProcess;
  let udpEcho: { out: string };
  let h1Listener: { out: string };
  let h1Tcp: { out: string };

  /** A server in `role` that prints "listening" first; its output accumulates in `out`. */
  async function server(role: 'h1' | 'h2', script: string, port: number) {
    const child = topo.spawn(role, 'python3', ['-c', script, String(port)]);
    const s = { out: '' };
    child.stdout!.setEncoding('utf8').on('data', (d: string) => {
      s.out += d;
    });
    const deadline = Date.now() + 10_000;
    while (!s.out.includes('listening') && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    if (!s.out.includes('listening')) throw new Error(`the ${role} server on port ${port} did not start`);
    return s;
  }

  beforeAll(async () => {
    if (reason !== null) return;
    topo = await Topology.create({ router: 'appliance', promisc: true });
    const rules = join(topo.workDir, 'stateful.rules');
    writeFileSync(rules, '# connections from h1\'s network are admitted and tracked; nothing else\npermit-and-track src 10.231.1.0/24\n');
    const config = routerConfig('afPacket', {
      acl: { rules, noMatch: 'deny' },
      conntrack: { sessions: 1024, timeouts: { udpUnreplied: UDP_TIMEOUT, udpReplied: UDP_TIMEOUT } },
    });
    router = await RouterProcess.start(topo, config);
    await server('h2', TCP_ECHO, 2323);
    udpEcho = await server('h2', UDP_ECHO, 5353);
    h1Tcp = await server('h1', TCP_ECHO, 2424);
    h1Listener = await server('h1', UDP_LISTEN, 5454);
  }, 60_000);

  afterAll(async () => {
    await topo?.destroy();
  });

  itWhen(reason, 'h1 -> h2: ping, a TCP connection with data both ways, and a UDP request and its answer pass', async () => {
    const r0 = await router.settledStats();
    expect((await topo.ping('h1', ADDRS.h2, { count: 3 })).received).toBe(3);
    const tcp = await topo.exec('h1', 'python3', ['-c', TCP_CONNECT, ADDRS.h2, '2323', '3']);
    expect(tcp.stdout.trim()).toBe('echo hello through the firewall');
    const udp = await topo.exec('h1', 'python3', ['-c', UDP_ASK, ADDRS.h2, '5353', '0', '3']);
    expect(udp.stdout.trim()).toBe('answer 0');
    const r1 = await router.settledStats();
    const d = delta(r0, r1);
    // Nothing dropped: the replies (echo replies, SYN-ACK, data, UDP answer) matched sessions.
    expect(d.moved, 'drop counters that moved').toEqual({});
    // The ACL saw only what opened the three sessions (echo request, SYN, first datagram; a
    // retransmitted SYN on a loaded machine at most), and every one of those went on to ct-track.
    expect(d.stage('acl')).toBeGreaterThanOrEqual(3);
    expect(d.stage('acl')).toBeLessThanOrEqual(5);
    expect(d.stage('ct-track')).toBe(d.stage('acl'));
    // Everything else (h1's further packets, and all of h2's) passed on a session.
    expect(d.stage('ct-lookup')).toBeGreaterThanOrEqual(d.stage('acl') + 3 + 4 + 1);
  });

  itWhen(reason, "h2 -> h1: unsolicited TCP connects and UDP datagrams are dropped ('acl:no-match'), and h1 never sees them", async () => {
    const r0 = await router.settledStats();
    const tcp = await topo.exec('h2', 'python3', ['-c', TCP_CONNECT, ADDRS.h1, '2424', '2']);
    expect(tcp.stdout.trim()).toBe('timeout'); // h1 listens: only the firewall keeps the SYN away
    const udp = await topo.exec('h2', 'python3', ['-c', UDP_SEND, ADDRS.h1, '5454', '5']);
    expect(udp.stdout.trim()).toBe('sent');
    expect((await topo.ping('h2', ADDRS.h1, { count: 2 })).received).toBe(0);
    const r1 = await router.settledStats();
    const d = delta(r0, r1);
    expect(h1Tcp.out).not.toContain('accepted');
    expect(h1Listener.out).not.toContain('got');
    expect(d.drop('acl:no-match')).toBeGreaterThanOrEqual(1 + 5 + 2); // SYN(s), datagrams, echo requests
    expect(d.drop('acl:no-match')).toBeLessThanOrEqual(3 + 5 + 2); // the SYN retransmitted within 2 s at most twice
    expect(Object.keys(d.moved)).toEqual(['acl:no-match']);
    expect(d.stage('ct-track')).toBe(0);
  });

  itWhen(reason, `a UDP answer sent after the session expired (udp timeout ${UDP_TIMEOUT} s) is dropped`, async () => {
    const sentBefore = (udpEcho.out.match(/^sent/gm) ?? []).length;
    const r0 = await router.settledStats();
    const late = String(UDP_TIMEOUT + 1.5);
    const udp = await topo.exec('h1', 'python3', ['-c', UDP_ASK, ADDRS.h2, '5353', late, String(UDP_TIMEOUT + 4)]);
    expect(udp.stdout.trim()).toBe('timeout');
    expect((udpEcho.out.match(/^sent/gm) ?? []).length).toBe(sentBefore + 1); // h2 did answer
    const r1 = await router.settledStats();
    const d = delta(r0, r1);
    expect(d.moved).toEqual({ 'acl:no-match': 1 });
    expect(d.stage('ct-track')).toBe(1); // the request opened a session, which was gone for the answer
    // The same exchange inside the timeout still works.
    const again = await topo.exec('h1', 'python3', ['-c', UDP_ASK, ADDRS.h2, '5353', '0.5', '3']);
    expect(again.stdout.trim()).toBe('answer 0.5');
  }, 20_000);
});
