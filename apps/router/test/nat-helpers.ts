// The NAT44 differential test's traffic and dissection: the same flows through a NAT in rt
// (Linux nftables masquerade, or vnf-router's nat stage), captured on h1 (inside) and h2
// (outside) with tcpdump, read back with tshark, and checked for what RFC 4787 (UDP), RFC 5382
// (TCP), RFC 5508 (ICMP) and RFC 1624/768/793 (checksums) fix. Port numbers are recorded, not
// compared: Linux keeps the source port when it is free, ours may choose otherwise.
import { ADDRS, type Capture, run, type Topology, waitForOutput } from '@vnf-sdk/netns';

/** The address the NAT translates to: rt p1's own address, as `nat.pool` gives it. */
export const POOL = ADDRS.rtP1;

/** The flows: fixed ports, so each packet in a capture says which flow it belongs to. */
export const FLOWS = {
  udpSrc: [40001, 40002, 40003],
  udpDst: [5001, 5002, 5003],
  tcp: { port: 8000, localPort: 41000, chunks: ['natpeer tcp chunk one|', 'chunk two, a little longer|', 'three'] },
  icmp: { ids: [0x1234, 0x2345, 0x3456], seqs: [1, 2] },
  closed: { srcPort: 42000, dstPort: 5999 },
} as const;

/** The `nat` block of vnf-router's config for this topology (inside p0, outside p1, rt p1's address). */
export function natBlock(): Record<string, unknown> {
  return {
    inside: ['p0'],
    outside: ['p1'],
    pool: [`${POOL}/32`],
    ports: '1024-65535',
    filtering: 'address-dependent',
    sessions: 65536,
  };
}

/** Linux's peer: rt forwards (kernel mode) and masquerades what leaves through p1. */
export const NFT_MASQUERADE = 'table ip nat {\n chain post {\n  type nat hook postrouting priority srcnat;\n  oifname "p1" masquerade\n }\n}\n';

// h2: a UDP echo on each udpDst port ("echo:" + datagram) and a TCP echo on tcp.port.
const SERVERS = `
const dgram = require('node:dgram'), net = require('node:net');
const p = JSON.parse(process.argv[1]);
let ready = 0;
const up = () => { if (++ready === p.udp.length + 1) console.log('ready'); };
for (const port of p.udp) {
  const s = dgram.createSocket('udp4');
  s.on('message', (m, r) => s.send(Buffer.concat([Buffer.from('echo:'), m]), r.port, r.address));
  s.bind(port, up);
}
net.createServer((c) => { c.on('data', (d) => c.write(d)); c.on('end', () => c.end()); c.on('error', () => {}); }).listen(p.tcp, up);
`;

// h1: every UDP source port to every UDP destination (waiting for each echo), one TCP
// connection (connect, the chunks 50 ms apart, half-close, read to the end), then one datagram
// to a closed port (h2's kernel answers port unreachable). One JSON line.
const CLIENT = `
const dgram = require('node:dgram'), net = require('node:net');
const p = JSON.parse(process.argv[1]);
const out = { udp: [], tcp: null, closed: null };
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
function udpOne(sock, d, payload) {
  return new Promise((resolve) => {
    const on = (m, r) => { if (r.port === d) { clearTimeout(t); sock.off('message', on); resolve(m.toString()); } };
    const t = setTimeout(() => { sock.off('message', on); resolve(null); }, 2000);
    sock.on('message', on);
    sock.send(payload, d, p.h2);
  });
}
(async () => {
  for (const s of p.udpSrc) {
    const sock = dgram.createSocket('udp4');
    await new Promise((r) => sock.bind(s, r));
    for (const d of p.udpDst) {
      const payload = 'udp ' + s + '->' + d;
      out.udp.push({ s, d, payload, reply: await udpOne(sock, d, payload) });
    }
    sock.close();
  }
  out.tcp = await new Promise((resolve) => {
    let got = '';
    const c = net.connect({ host: p.h2, port: p.tcp.port, localPort: p.tcp.localPort });
    const t = setTimeout(() => { c.destroy(); resolve({ error: 'timeout', got }); }, 5000);
    c.on('connect', async () => { for (const ch of p.tcp.chunks) { c.write(ch); await sleep(50); } c.end(); });
    c.on('data', (d) => { got += d; });
    c.on('close', () => { clearTimeout(t); resolve({ error: null, got }); });
    c.on('error', (e) => { clearTimeout(t); resolve({ error: e.code, got }); });
  });
  out.closed = await new Promise((resolve) => {
    const sock = dgram.createSocket('udp4');
    sock.bind(p.closed.srcPort, () => sock.connect(p.closed.dstPort, p.h2, () => {
      const done = (error) => { clearTimeout(t); sock.close(); resolve({ error }); };
      const t = setTimeout(() => done(null), 1500);
      sock.on('error', (e) => done(e.code));
      sock.send('closed port probe');
    }));
  });
  await sleep(300); // let the last packets reach the captures
  console.log(JSON.stringify(out));
})();
`;

// h1: ICMP echo requests with chosen identifiers on a raw socket (ping picks its own).
const ICMP_ECHO = `
import json, socket, struct, sys, time
dst = sys.argv[1]; ids = json.loads(sys.argv[2]); seqs = json.loads(sys.argv[3])
def csum(b):
    if len(b) % 2: b += b'\\0'
    t = sum(struct.unpack('!%dH' % (len(b) // 2), b)); t = (t >> 16) + (t & 0xffff); t += t >> 16
    return ~t & 0xffff
s = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP); s.settimeout(0.2)
want = 0
for i in ids:
    for q in seqs:
        data = ('natpeer icmp id %d seq %d' % (i, q)).encode()
        c = csum(struct.pack('!BBHHH', 8, 0, 0, i, q) + data)
        s.sendto(struct.pack('!BBHHH', 8, 0, c, i, q) + data, (dst, 0)); want += 1
        time.sleep(0.02)
got = {}
deadline = time.time() + 3
while len(got) < want and time.time() < deadline:
    try: pkt, addr = s.recvfrom(2048)
    except socket.timeout: continue
    ihl = (pkt[0] & 15) * 4
    t, code, _, i, q = struct.unpack('!BBHHH', pkt[ihl:ihl + 8])
    if t == 0 and addr[0] == dst: got['%d/%d' % (i, q)] = pkt[ihl + 8:].decode(errors='replace')
print(json.dumps({'sent': want, 'replies': got}))
`;

/** What h1's programs saw. */
export interface ClientResult {
  udp: Array<{ s: number; d: number; payload: string; reply: string | null }>;
  tcp: { error: string | null; got: string };
  closed: { error: string | null };
  icmp: { sent: number; replies: Record<string, string> };
}

/** One packet as tshark dissected it: every occurrence of each field (quoted headers are the later ones). */
export type Row = Record<string, string[]>;

const FIELDS = [
  'frame.number',
  'ip.src',
  'ip.dst',
  'ip.proto',
  'ip.checksum.status',
  'udp.srcport',
  'udp.dstport',
  'udp.checksum.status',
  'udp.payload',
  'tcp.srcport',
  'tcp.dstport',
  'tcp.flags.syn',
  'tcp.flags.fin',
  'tcp.flags.reset',
  'tcp.checksum.status',
  'tcp.payload',
  'icmp.type',
  'icmp.code',
  'icmp.ident',
  'icmp.seq',
  'icmp.checksum.status',
  'data.data',
] as const;

/**
 * Every IPv4 packet of a capture, each field with all its occurrences (`-E occurrence=a`),
 * with tshark validating the IPv4, UDP and TCP checksums (ICMP's always is): a `*.checksum.status`
 * reads 1 (good), 0 (bad) or 2 (not verified).
 */
export async function dissect(path: string): Promise<Row[]> {
  const args = ['-r', path, '-n', '-Y', 'ip', '-T', 'fields', '-E', 'separator=\t', '-E', 'occurrence=a', '-E', 'aggregator=~'];
  for (const proto of ['ip', 'udp', 'tcp']) args.push('-o', `${proto}.check_checksum:TRUE`);
  for (const f of FIELDS) args.push('-e', f);
  const { stdout } = await run('tshark', args);
  return stdout
    .split('\n')
    .filter((l) => l.length > 0)
    .map((line) => {
      const cells = line.split('\t');
      const row: Row = {};
      FIELDS.forEach((f, i) => {
        const c = cells[i] ?? '';
        row[f] = c === '' ? [] : c.split('~');
      });
      return row;
    });
}

/** tshark prints bytes fields as hex (with or without colons): the text they hold. */
export const text = (hex: string | undefined): string => (hex ? Buffer.from(hex.replace(/:/g, ''), 'hex').toString('latin1') : '');
const first = (r: Row, f: string): string | undefined => r[f]?.[0];
const num = (r: Row, f: string, i = 0): number => Number(r[f]?.[i]);

/** What one NAT did to the flows, as seen on both sides. */
export interface NatObservation {
  kind: string;
  client: ClientResult;
  inside: Row[];
  outside: Row[];
  /** UDP: h1 source port -> h2 port -> the source port h2 saw. */
  udpMap: Record<number, Record<number, number[]>>;
  /** TCP: the source ports h2 saw for the connection. */
  tcpPorts: number[];
  /** ICMP echo: h1's identifier -> the identifiers h2 saw. */
  icmpMap: Record<number, number[]>;
  /** The closed-port datagram's source port as h2 saw it. */
  closedPorts: number[];
}

const uniq = <T>(a: T[]): T[] => [...new Set(a)];

/**
 * Runs the flows through the topology's NAT (already set up) with captures on h1 and h2, and
 * returns what both sides saw.
 */
export async function observe(topo: Topology, kind: string): Promise<NatObservation> {
  const servers = topo.spawn('h2', process.execPath, ['-e', SERVERS, JSON.stringify({ udp: FLOWS.udpDst, tcp: FLOWS.tcp.port })]);
  await waitForOutput(servers, /ready/, 10_000, 'the UDP/TCP echo servers in h2');
  // Neighbours first, so no flow waits on ARP (ARP is not captured: `ip` only).
  await topo.ping('h1', ADDRS.h2, { count: 1 });
  const caps: Capture[] = [await topo.capture('h1', 'eth0', { filter: 'ip' }), await topo.capture('h2', 'eth0', { filter: 'ip' })];
  let client: ClientResult;
  try {
    const params = { h2: ADDRS.h2, udpSrc: FLOWS.udpSrc, udpDst: FLOWS.udpDst, tcp: FLOWS.tcp, closed: FLOWS.closed };
    const c = await topo.exec('h1', process.execPath, ['-e', CLIENT, JSON.stringify(params)], { timeoutMs: 60_000 });
    const icmp = await topo.exec('h1', 'python3', ['-c', ICMP_ECHO, ADDRS.h2, JSON.stringify(FLOWS.icmp.ids), JSON.stringify(FLOWS.icmp.seqs)]);
    await new Promise((r) => setTimeout(r, 300));
    client = { ...JSON.parse(c.stdout.trim().split('\n').pop()!), icmp: JSON.parse(icmp.stdout.trim()) };
  } finally {
    for (const cap of caps) await cap.stop();
    servers.kill('SIGTERM');
  }
  const inside = await dissect(caps[0]!.path);
  const outside = await dissect(caps[1]!.path);

  const udpMap: NatObservation['udpMap'] = {};
  for (const s of FLOWS.udpSrc) {
    udpMap[s] = {};
    for (const d of FLOWS.udpDst) {
      const want = `udp ${s}->${d}`;
      udpMap[s][d] = uniq(
        outside.filter((r) => first(r, 'ip.proto') === '17' && num(r, 'udp.dstport') === d && text(first(r, 'udp.payload')) === want).map((r) => num(r, 'udp.srcport')),
      );
    }
  }
  const tcpPorts = uniq(outside.filter((r) => num(r, 'tcp.dstport') === FLOWS.tcp.port).map((r) => num(r, 'tcp.srcport')));
  const icmpMap: NatObservation['icmpMap'] = {};
  for (const id of FLOWS.icmp.ids) {
    icmpMap[id] = uniq(
      outside
        .filter((r) => first(r, 'icmp.type') === '8' && text(first(r, 'data.data')).startsWith(`natpeer icmp id ${id} `))
        .map((r) => num(r, 'icmp.ident')),
    );
  }
  const closedPorts = uniq(
    outside.filter((r) => first(r, 'ip.proto') === '17' && num(r, 'udp.dstport') === FLOWS.closed.dstPort).map((r) => num(r, 'udp.srcport')),
  );
  return { kind, client, inside, outside, udpMap, tcpPorts, icmpMap, closedPorts };
}

/**
 * Every checksum of a packet that is not "good", as `field=status` (0 bad, 2 not verified,
 * `missing` when tshark reported none): one IPv4 status per IPv4 header (quoted ones too) and
 * one UDP/TCP/ICMP status per header of that protocol.
 */
function badChecksums(r: Row): string[] {
  const out: string[] = [];
  const protos = r['ip.proto'] ?? [];
  const want: Record<string, number> = {
    'ip.checksum.status': (r['ip.src'] ?? []).length,
    'udp.checksum.status': protos.filter((p) => p === '17').length,
    'tcp.checksum.status': protos.filter((p) => p === '6').length,
    'icmp.checksum.status': protos.filter((p) => p === '1').length,
  };
  for (const [f, n] of Object.entries(want)) {
    const st = r[f] ?? [];
    if (st.length < n) out.push(`${f}=missing`);
    for (const s of st) if (s !== '1') out.push(`${f}=${s}`);
  }
  return out;
}

const where = (side: string, r: Row) => `${side} frame ${first(r, 'frame.number')} (${r['ip.src']?.join('/')} -> ${r['ip.dst']?.join('/')})`;

/**
 * The RFC properties of one NAT's observation; returns the violations (empty when it behaves).
 *
 * - outside, h1's address never appears (not even in a quoted header); every packet from
 *   the inside leaves with the pool address (RFC 3022)
 * - every checksum good, on both sides, quoted headers included when tshark verifies them
 * - UDP: endpoint-independent mapping, one h1 port gets one external port toward every
 *   destination, distinct h1 ports distinct external ports (RFC 4787 REQ-1); every echo
 *   returns to h1 intact, to h1's own port
 * - TCP: one external port for the connection, SYN and FIN both ways, the byte stream intact
 *   both ways (RFC 5382)
 * - ICMP echo: each identifier translated to one external identifier, distinct ones stay
 *   distinct, replies reach h1 with the original identifier and data (RFC 5508 REQ-1)
 * - ICMP error: h2's port unreachable reaches h1 with the quoted packet restored, h1's own
 *   address and port, and valid checksums (RFC 5508 REQ-3/4)
 */
export function violations(o: NatObservation): string[] {
  const v: string[] = [];
  const h1 = ADDRS.h1;
  const h2 = ADDRS.h2;
  // Addresses outside.
  for (const r of o.outside) {
    if ((r['ip.src'] ?? []).includes(h1) || (r['ip.dst'] ?? []).includes(h1)) v.push(`${where('outside', r)}: the inside address leaked`);
    const src = first(r, 'ip.src');
    if (src !== h2 && src !== POOL) v.push(`${where('outside', r)}: source is neither h2 nor the pool address ${POOL}`);
  }
  // Checksums, quoted headers included (tshark verifies the quoted IPv4 and UDP headers).
  for (const [side, rows] of [
    ['inside', o.inside],
    ['outside', o.outside],
  ] as const) {
    for (const r of rows) {
      const bad = badChecksums(r);
      if (bad.length > 0) v.push(`${where(side, r)}: checksum ${bad.join(', ')}`);
    }
  }
  // UDP.
  const extOf: Record<number, number> = {};
  for (const s of FLOWS.udpSrc) {
    const ports = uniq(Object.values(o.udpMap[s] ?? {}).flat());
    for (const d of FLOWS.udpDst) if ((o.udpMap[s]?.[d] ?? []).length !== 1) v.push(`udp ${s}->${d}: seen outside with source ports [${o.udpMap[s]?.[d]}], expected exactly one`);
    if (ports.length !== 1) v.push(`udp from h1 port ${s}: external ports [${ports}] toward the ${FLOWS.udpDst.length} destinations; endpoint-independent mapping wants one`);
    else extOf[s] = ports[0]!;
  }
  const exts = Object.values(extOf);
  if (uniq(exts).length !== exts.length) v.push(`udp: distinct h1 ports share external ports ${JSON.stringify(extOf)}`);
  for (const u of o.client.udp) {
    if (u.reply !== `echo:${u.payload}`) v.push(`udp ${u.s}->${u.d}: h1 got ${JSON.stringify(u.reply)}, expected the echo`);
    const back = o.inside.filter((r) => num(r, 'udp.srcport') === u.d && first(r, 'ip.src') === h2 && text(first(r, 'udp.payload')) === `echo:${u.payload}`);
    if (back.length !== 1) v.push(`udp ${u.s}->${u.d}: ${back.length} echoes inside, expected 1`);
    else if (first(back[0]!, 'ip.dst') !== h1 || num(back[0]!, 'udp.dstport') !== u.s) v.push(`${where('inside', back[0]!)}: the echo is not restored to ${h1}:${u.s}`);
  }
  // TCP.
  const tcpOut = o.outside.filter((r) => num(r, 'tcp.dstport') === FLOWS.tcp.port || num(r, 'tcp.srcport') === FLOWS.tcp.port);
  const tcpIn = o.inside.filter((r) => num(r, 'tcp.dstport') === FLOWS.tcp.port || num(r, 'tcp.srcport') === FLOWS.tcp.port);
  if (o.tcpPorts.length !== 1) v.push(`tcp: external source ports [${o.tcpPorts}], expected one`);
  const want = FLOWS.tcp.chunks.join('');
  if (o.client.tcp.error !== null || o.client.tcp.got !== want) v.push(`tcp: h1 got ${JSON.stringify(o.client.tcp)}, expected the echo of ${JSON.stringify(want)}`);
  for (const [side, rows, addr, port] of [
    ['outside', tcpOut, POOL, o.tcpPorts[0]],
    ['inside', tcpIn, h1, FLOWS.tcp.localPort],
  ] as const) {
    const up = rows.filter((r) => num(r, 'tcp.dstport') === FLOWS.tcp.port);
    const down = rows.filter((r) => num(r, 'tcp.srcport') === FLOWS.tcp.port);
    const stream = (rs: Row[]) => rs.map((r) => text(first(r, 'tcp.payload'))).join('');
    if (stream(up) !== want || stream(down) !== want) v.push(`tcp ${side}: streams ${JSON.stringify(stream(up))} / ${JSON.stringify(stream(down))}, expected ${JSON.stringify(want)} both ways`);
    for (const [dir, rs] of [
      ['h1->h2', up],
      ['h2->h1', down],
    ] as const) {
      if (!rs.some((r) => first(r, 'tcp.flags.syn') === '1' || first(r, 'tcp.flags.syn') === 'True')) v.push(`tcp ${side} ${dir}: no SYN`);
      if (!rs.some((r) => first(r, 'tcp.flags.fin') === '1' || first(r, 'tcp.flags.fin') === 'True')) v.push(`tcp ${side} ${dir}: no FIN`);
    }
    for (const r of up) if (first(r, 'ip.src') !== addr || num(r, 'tcp.srcport') !== port) v.push(`${where(side, r)}: tcp from ${first(r, 'ip.src')}:${first(r, 'tcp.srcport')}, expected ${addr}:${port}`);
    for (const r of down) if (first(r, 'ip.dst') !== addr || num(r, 'tcp.dstport') !== port) v.push(`${where(side, r)}: tcp to ${first(r, 'ip.dst')}:${first(r, 'tcp.dstport')}, expected ${addr}:${port}`);
  }
  // ICMP echo.
  const icmpExt: number[] = [];
  for (const id of FLOWS.icmp.ids) {
    const e = o.icmpMap[id] ?? [];
    if (e.length !== 1) v.push(`icmp id ${id}: external identifiers [${e}], expected one`);
    else icmpExt.push(e[0]!);
    for (const q of FLOWS.icmp.seqs) {
      const data = `natpeer icmp id ${id} seq ${q}`;
      if (o.client.icmp.replies[`${id}/${q}`] !== data) v.push(`icmp id ${id} seq ${q}: h1 got ${JSON.stringify(o.client.icmp.replies[`${id}/${q}`])}`);
      const back = o.inside.filter((r) => first(r, 'icmp.type') === '0' && text(first(r, 'data.data')) === data);
      if (back.length !== 1) v.push(`icmp id ${id} seq ${q}: ${back.length} replies inside, expected 1`);
      else if (num(back[0]!, 'icmp.ident') !== id || num(back[0]!, 'icmp.seq') !== q || first(back[0]!, 'ip.dst') !== h1) v.push(`${where('inside', back[0]!)}: echo reply not restored to id ${id} seq ${q}`);
    }
  }
  if (uniq(icmpExt).length !== icmpExt.length) v.push(`icmp: distinct identifiers share external identifiers [${icmpExt}]`);
  // ICMP error (port unreachable from h2 for the closed-port datagram).
  if (o.closedPorts.length !== 1) v.push(`closed port: external source ports [${o.closedPorts}], expected one`);
  const isErr = (r: Row) => first(r, 'icmp.type') === '3' && first(r, 'icmp.code') === '3' && num(r, 'udp.dstport') === FLOWS.closed.dstPort;
  const errOut = o.outside.filter(isErr);
  const errIn = o.inside.filter(isErr);
  if (errOut.length !== 1) v.push(`icmp error: ${errOut.length} port unreachable outside, expected 1`);
  else {
    const r = errOut[0]!;
    if (r['ip.src']?.[1] !== POOL || num(r, 'udp.srcport') !== o.closedPorts[0]) v.push(`${where('outside', r)}: quotes ${r['ip.src']?.[1]}:${first(r, 'udp.srcport')}, expected the translated ${POOL}:${o.closedPorts[0]}`);
  }
  if (errIn.length !== 1) v.push(`icmp error: ${errIn.length} port unreachable reached h1, expected 1`);
  else {
    const r = errIn[0]!;
    const [outerSrc, innerSrc] = r['ip.src'] ?? [];
    const [outerDst, innerDst] = r['ip.dst'] ?? [];
    if (outerSrc !== h2 || outerDst !== h1) v.push(`${where('inside', r)}: outer header ${outerSrc} -> ${outerDst}, expected ${h2} -> ${h1}`);
    if (innerSrc !== h1 || innerDst !== h2) v.push(`${where('inside', r)}: quoted ${innerSrc} -> ${innerDst}, expected the original ${h1} -> ${h2}`);
    if (num(r, 'udp.srcport') !== FLOWS.closed.srcPort) v.push(`${where('inside', r)}: quoted source port ${first(r, 'udp.srcport')}, expected the original ${FLOWS.closed.srcPort}`);
    if ((r['ip.checksum.status'] ?? []).length !== 2 || (r['ip.checksum.status'] ?? []).some((s) => s !== '1')) v.push(`${where('inside', r)}: IPv4 checksums (outer, quoted) ${r['ip.checksum.status']}`);
    if (first(r, 'icmp.checksum.status') !== '1') v.push(`${where('inside', r)}: ICMP checksum status ${first(r, 'icmp.checksum.status')}`);
    if (first(r, 'udp.checksum.status') !== '1') v.push(`${where('inside', r)}: quoted UDP checksum status ${first(r, 'udp.checksum.status')}`);
  }
  if (o.client.closed.error !== 'ECONNREFUSED') v.push(`closed port: h1's socket got ${o.client.closed.error}, expected ECONNREFUSED (the error matched its socket)`);
  return v;
}

/** What the RFCs leave free and the two NATs may do differently: printed, never asserted. */
export function portTable(a: NatObservation, b: NatObservation): string {
  const lines = [`flow                     ${a.kind.padEnd(28)} ${b.kind.padEnd(28)} same`];
  const row = (flow: string, x: unknown, y: unknown) => lines.push(`${flow.padEnd(24)} ${String(x).padEnd(28)} ${String(y).padEnd(28)} ${JSON.stringify(x) === JSON.stringify(y) ? 'yes' : 'no'}`);
  for (const s of FLOWS.udpSrc) row(`udp h1:${s}`, uniq(Object.values(a.udpMap[s] ?? {}).flat()), uniq(Object.values(b.udpMap[s] ?? {}).flat()));
  row(`tcp h1:${FLOWS.tcp.localPort}`, a.tcpPorts, b.tcpPorts);
  for (const id of FLOWS.icmp.ids) row(`icmp id ${id}`, a.icmpMap[id], b.icmpMap[id]);
  row(`udp h1:${FLOWS.closed.srcPort} (closed)`, a.closedPorts, b.closedPorts);
  return lines.join('\n');
}

/** The payloads h2 received, flow by flow (what must be identical through both NATs). */
export function outsidePayloads(o: NatObservation): Record<string, string> {
  const p: Record<string, string> = {};
  for (const r of o.outside) {
    const key =
      first(r, 'ip.proto') === '17' && (r['ip.src'] ?? []).length === 1
        ? `udp ${first(r, 'ip.src') === ADDRS.h2 ? 'from' : 'to'} h2:${first(r, first(r, 'ip.src') === ADDRS.h2 ? 'udp.srcport' : 'udp.dstport')}`
        : first(r, 'ip.proto') === '6'
          ? `tcp ${first(r, 'ip.src') === ADDRS.h2 ? 'from' : 'to'} h2`
          : first(r, 'ip.proto') === '1' && (r['ip.src'] ?? []).length === 1
            ? `icmp type ${first(r, 'icmp.type')}`
            : null;
    if (key === null) continue;
    p[key] = (p[key] ?? '') + text(first(r, first(r, 'ip.proto') === '17' ? 'udp.payload' : first(r, 'ip.proto') === '6' ? 'tcp.payload' : 'data.data'));
  }
  return p;
}
