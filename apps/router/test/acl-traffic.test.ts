// The router with an ACL (a firewall) and real traffic over AF_PACKET: the Linux stacks of h1
// and h2 are the peers. A rejected TCP connection is refused by the router's RST although h2
// listens; a rejected UDP datagram gets ICMP "communication administratively prohibited",
// which h1's kernel turns into EHOSTUNREACH; a denied flood never reaches h2 and is counted
// as 'acl:deny'; and rule sets swapped with SIGHUP while a flood flows lose no packet.
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ADDRS, netnsUnavailable, Topology } from '@vnf-sdk/netns';
import { itWhen } from '@vnf-sdk/test-support';
import { afterAll, beforeAll, describe, expect } from 'vitest';
import { CLI, RouterProcess, routerConfig } from './router-process.js';

const reason = netnsUnavailable(['python3']) ?? (existsSync(CLI) ? null : 'dist/cli.js is not built (npm run build)');
const SLACK = 4; // ARP frames that may cross a link during a measured window

/** The rules, and a second version (more rules, same verdict for the traffic sent) for swaps. */
function rules(extra: number): string {
  const lines = ['reject proto tcp dport 23', 'deny proto udp dport 9999', 'reject proto udp dport 7777'];
  for (let i = 0; i < extra; i++) lines.push(`deny src 172.${16 + (i >> 8)}.${i & 255}.0/24 proto tcp dport ${1000 + (i % 500)}`);
  lines.push('permit');
  return `${lines.join('\n')}\n`;
}

// A TCP listener in h2 and connects from h1, in Python (the kernel's sockets, no extra tool).
const LISTEN = 'import socket,sys\ns=socket.socket()\ns.setsockopt(socket.SOL_SOCKET,socket.SO_REUSEADDR,1)\ns.bind(("0.0.0.0",int(sys.argv[1])))\ns.listen(8)\nprint("listening",flush=True)\nwhile True:\n  c,_=s.accept()\n  c.close()\n';
const CONNECT = 'import socket,sys\ns=socket.socket()\ns.settimeout(3)\ntry:\n  s.connect((sys.argv[1],int(sys.argv[2])))\n  print("connected")\nexcept Exception as e:\n  print(type(e).__name__)\n';
const UDP_SEND = 'import socket,sys,time\ns=socket.socket(socket.AF_INET,socket.SOCK_DGRAM)\ns.connect((sys.argv[1],int(sys.argv[2])))\ns.settimeout(3)\ns.send(b"x")\ntime.sleep(0.5)\ntry:\n  s.send(b"x")\n  s.recv(10)\n  print("answered")\nexcept Exception as e:\n  print(type(e).__name__)\n';

describe('vnf-router with an ACL, real traffic over AF_PACKET', () => {
  let topo: Topology;
  let router: RouterProcess;
  let rulesPath: string;

  beforeAll(async () => {
    if (reason !== null) return;
    topo = await Topology.create({ router: 'appliance', promisc: true });
    rulesPath = join(topo.workDir, 'fw.rules');
    writeFileSync(rulesPath, rules(0));
    router = await RouterProcess.start(topo, routerConfig('afPacket', { acl: { rules: rulesPath, noMatch: 'deny' } }));
    for (const port of [23, 2323]) {
      const l = topo.spawn('h2', 'python3', ['-c', LISTEN, String(port)]);
      await new Promise<void>((resolve) => l.stdout!.once('data', () => resolve()));
    }
  }, 60_000);

  afterAll(async () => {
    await topo?.destroy();
  });

  itWhen(reason, 'permits ping and TCP to an allowed port; rejects TCP to port 23 with a RST from the router', async () => {
    expect((await topo.ping('h1', ADDRS.h2, { count: 2 })).received).toBe(2);
    const ok = await topo.exec('h1', 'python3', ['-c', CONNECT, ADDRS.h2, '2323']);
    expect(ok.stdout.trim()).toBe('connected');
    const refused = await topo.exec('h1', 'python3', ['-c', CONNECT, ADDRS.h2, '23']);
    expect(refused.stdout.trim()).toBe('ConnectionRefusedError'); // h2 listens: only the router's RST refuses
    const s = await router.settledStats();
    expect(s.drops['acl:reject']).toBeGreaterThanOrEqual(1);
  });

  itWhen(reason, "rejects UDP to port 7777 with ICMP administratively prohibited (h1's kernel: EHOSTUNREACH)", async () => {
    const r = await topo.exec('h1', 'python3', ['-c', UDP_SEND, ADDRS.h2, '7777']);
    expect(r.stdout.trim()).toBe('OSError'); // errno EHOSTUNREACH, from ICMP type 3 code 13
    const cap = await topo.exec('h1', 'python3', ['-c', `${UDP_SEND.replace('print(type(e).__name__)', 'print(e.errno)')}`, ADDRS.h2, '7777']);
    expect(cap.stdout.trim()).toBe('113');
  });

  itWhen(reason, "a UDP flood to a denied port never reaches h2 and is counted as 'acl:deny'", async () => {
    await topo.ping('h1', ADDRS.h2, { count: 1 });
    const r0 = await router.settledStats();
    const h2a = topo.ifStatsSync('h2', 'eth0');
    const sent = await topo.udpFlood('h1', ADDRS.h2, 9999, { packets: 2000 });
    const r1 = await router.settledStats();
    const h2b = topo.ifStatsSync('h2', 'eth0');
    expect(sent).toMatchObject({ sent: 2000, errors: 0 });
    expect((r1.drops['acl:deny'] ?? 0) - (r0.drops['acl:deny'] ?? 0)).toBe(2000);
    expect(h2b.rxPackets - h2a.rxPackets).toBeLessThanOrEqual(SLACK);
  });

  itWhen(reason, 'rule sets swapped with SIGHUP while a flood flows: every permitted packet arrives', async () => {
    await topo.ping('h1', ADDRS.h2, { count: 1 });
    const r0 = await router.settledStats();
    const h2a = topo.ifStatsSync('h2', 'eth0');
    let floodDone = false;
    const flood = topo.udpFlood('h1', ADDRS.h2, 9, { seconds: 6 }).finally(() => {
      floodDone = true;
    });
    await new Promise((r) => setTimeout(r, 300));
    // Alternate a 4-rule set and a 3004-rule set (built in milliseconds, off the data path),
    // every reload done while the flood still runs.
    let reloads = 0;
    for (let i = 1; i <= 8; i++) {
      writeFileSync(rulesPath, rules(i % 2 ? 3000 : 0));
      const before = (router.stdout.match(/acl reloaded/g) ?? []).length;
      router.child.kill('SIGHUP');
      const deadline = Date.now() + 5000;
      while ((router.stdout.match(/acl reloaded/g) ?? []).length === before && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
      if (!floodDone) reloads++;
      await new Promise((r) => setTimeout(r, 150));
    }
    const sent = await flood;
    const r1 = await router.settledStats();
    const h2b = topo.ifStatsSync('h2', 'eth0');
    const h2rx = h2b.rxPackets - h2a.rxPackets;
    console.log(`ACL swaps during a UDP flood: ${sent.sent} datagrams at ${sent.pps.toFixed(0)} pps, ${reloads} reloads while it ran, h2 rx ${h2rx}`);
    expect(reloads).toBeGreaterThanOrEqual(6); // a loaded machine may finish the last ones after the flood
    expect(router.stdout.match(/acl reloaded: 3004 rules/g)?.length).toBe(4);
    expect(sent.errors).toBe(0);
    expect(h2rx).toBeGreaterThanOrEqual(sent.sent);
    expect(h2rx).toBeLessThanOrEqual(sent.sent + SLACK);
    const moved = Object.entries(r1.drops).filter(([k, n]) => !k.startsWith('arp:') && n !== (r0.drops[k] ?? 0));
    expect(moved, 'no drop counter moved').toEqual([]);
    expect(r1.ports.p0!.rxDrops).toBe(r0.ports.p0!.rxDrops);
  });

  itWhen(reason, 'a bad rule file on SIGHUP is reported with its line and column, and the rules in use stay', async () => {
    writeFileSync(rulesPath, 'permit\ndeny proto tcp dport 90-80\n');
    router.child.kill('SIGHUP');
    const deadline = Date.now() + 10_000;
    while (!/acl not reloaded/.test(router.stderr) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    expect(router.stderr).toMatch(/acl not reloaded \(the previous rules stay\): .*fw\.rules:2:\d+: .*inverted range 90-80/);
    const refused = await topo.exec('h1', 'python3', ['-c', CONNECT, ADDRS.h2, '23']);
    expect(refused.stdout.trim()).toBe('ConnectionRefusedError');
  });
});
