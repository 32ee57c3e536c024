// Reference dissector for differential tests: runs Wireshark's tshark (Debian package
// `tshark`, developed against 4.0.17) over a capture and normalises what it reports into one
// flat record per frame, comparable with our own decoder.
//
// How tshark is run (see TSHARK_ARGS below):
//   tshark -r FILE -n -T fields -E header=n -E separator=/t -E quote=n -E occurrence=a -E aggregator=,
//          -o ip.check_checksum:TRUE -o tcp.check_checksum:TRUE -o udp.check_checksum:TRUE
//          -o tcp.relative_sequence_numbers:FALSE -o tcp.analyze_sequence_numbers:FALSE
//          -o tcp.desegment_tcp_streams:FALSE -o ip.defragment:FALSE -o ipv6.defragment:FALSE
//          -d udp.port==4789,vxlan -d udp.port==2152,gtp  -e frame.number -e frame.protocols -e ...
// with WIRESHARK_CONFIG_DIR pointing at a directory that does not exist, so a personal
// preferences file cannot change the output, and LC_ALL=C.
//   -n                       no name resolution (addresses and ports stay numeric; also faster).
//   -T fields, occurrence=a  every occurrence of a field, joined with ','; fields are tab separated.
//                            Only numeric fields, addresses and frame.protocols are split on ',',
//                            none of which can contain ',' or a tab.
//   *.check_checksum:TRUE    IPv4 header, TCP and UDP checksums are verified (tshark 4.0 default:
//                            off). ICMP and ICMPv6 checksums are always verified by tshark.
//   relative_sequence_numbers:FALSE, and we read tcp.seq_raw / tcp.ack_raw anyway.
//   analyze_sequence_numbers / desegment / defragment all FALSE: every frame is dissected on its
//                            own, as a per-packet decoder sees it. With defragmentation on, tshark
//                            would show the reassembled datagram's upper layers in the LAST
//                            fragment only. With it off, the first fragment (offset 0) is still
//                            handed to the upper-layer dissector; later fragments show as `data`.
//   -d ... vxlan / gtp       UDP 4789 -> VXLAN and UDP 2152 -> GTP (GTP-U) are tshark 4.0 defaults
//                            (`tshark -G decodes`); stated explicitly so a preference cannot
//                            remove them. GRE-over-UDP 4754, MPLS-over-UDP 6635 and Geneve 6081
//                            are also tshark defaults and are left alone.
//
// Normalisation (what each TsharkPacket field means; tshark field names in brackets):
//   Layers are located with frame.protocols (e.g. "eth:ethertype:vlan:ethertype:ip:udp:vxlan:
//   eth:ethertype:ip:tcp"). The k-th occurrence of a protocol name in that list is matched with
//   the k-th occurrence of that protocol's fields (each dissected layer emits its header fields
//   once; a truncated layer may emit fewer, but it is then the last layer of the frame).
//   - "ip" followed by "ipv6" with no IPv4 header fields is tshark's IPv4 dissector passing a
//     version-6 packet on (raw-IPv4 link type or ethertype 0x0800 carrying IPv6 bytes): that
//     is ONE IPv6 header, not 6in4, so ipVersion is 6 there. A real 6in4 has the IPv4 fields.
//   - ethertype: [eth.type] of the first Ethernet header, only when it is Ethernet II (the
//     frame starts "eth:ethertype"). So 0x8100 / 0x88a8 for tagged frames, absent for 802.3/LLC,
//     Linux cooked (sll), PPP, raw IP and other link types.
//   - vlanIds: every 802.1Q tag [vlan.id] and 802.1ad S-tag [ieee8021ad.id] in frame order,
//     outer first, INCLUDING tags inside tunnels (ERSPAN / VXLAN inner Ethernet);
//     outerVlanCount says how many of them come before the outermost IP header.
//   - ipVersion/src/dst/ttl/protocol/fragOffset/moreFragments: the outermost "ip" or "ipv6"
//     layer. Addresses: IPv4 as tshark prints it (dotted quad); IPv6 re-formatted with Node's
//     net.SocketAddress (lowercase, longest zero run compressed, IPv4-mapped/compatible with a
//     dotted tail, e.g. "::ffff:1.2.3.4", "::1.2.3.4"), which is what Node prints.
//     protocol: IPv4 [ip.proto]; IPv6 the Next Header of the LAST extension header tshark
//     dissected right after the fixed header ([ipv6.hopopts.nxt], [ipv6.routing.nxt],
//     [ipv6.fraghdr.nxt], [ipv6.dstopts.nxt]), else [ipv6.nxt]. tshark 4.0 has no single
//     "upper-layer protocol" field. Headers tshark treats as upper layers (AH, ESP, Mobility
//     135, Shim6) end the walk, so for them `protocol` is their own number.
//     ttl: [ip.ttl] / [ipv6.hlim].
//     fragOffset: in BYTES. tshark 4.0 prints [ip.frag_offset] and [ipv6.fraghdr.offset] in
//     8-octet units (raw field value); we multiply by 8. IPv4 always has it (0 when not a
//     fragment); IPv6 only when a Fragment header is present (absent otherwise, as is
//     moreFragments). moreFragments: [ip.flags.mf] / [ipv6.fraghdr.more].
//   - srcPort/dstPort/tcpFlags/seq/ack/icmpType/icmpCode: only the layer DIRECTLY carried by the
//     outermost IP header (after its IPv6 extension headers): tcp, udp, sctp, icmp or icmpv6.
//     Nothing for tunnels' inner transports (see `inner`) and nothing for the quoted packet
//     inside an ICMP error. tcpFlags: [tcp.flags] as tshark gives it, the 12 bits after the data
//     offset (FIN 0x01 .. CWR 0x80, AE/NS 0x100, reserved 0x200-0x800 kept as they are).
//     seq/ack: [tcp.seq_raw] / [tcp.ack_raw], the raw 32-bit numbers (ack is reported even
//     without the ACK flag).
//   - vni: first [vxlan.vni] (outermost VXLAN). teid: first [gtp.teid] (the GTPv1 header TEID;
//     also set for GTP-C on 2123; GTPv2's [gtpv2.teid] is not used).
//   - inner: the next "ip"/"ipv6" layer after the outermost one, when no icmp/icmpv6 layer lies
//     between them (a packet quoted in an ICMP error is not a tunnel). That covers VXLAN,
//     GTP-U, GRE (incl. ERSPAN, GRE over UDP), Geneve, MPLS, IP-in-IP (4in4/6in4/4in6/6in6).
//     Same field meanings as the outer ones; its own checksums (a TsharkPacket extension).
//   - checksums: from the [*.checksum.status] of the outer IPv4 header and of the outer
//     transport above (icmp also covers icmpv6): tshark status 1 (good) -> true, 0 (bad) ->
//     false; 2 (unverified), 3 (not present, e.g. UDP checksum 0 over IPv4) and 4 (illegal)
//     -> absent. IPv6 has no header checksum, so `ip` is absent for IPv6. The transport
//     checksum of a first fragment cannot be verified and is absent too.
//   - malformed: tshark added [_ws.malformed] (a dissector ran out of bytes) or an expert item
//     of group Malformed (0x07000000) with severity Error (0x00800000). This includes
//     application-layer complaints (e.g. random UDP payload on port 53 is a malformed DNS
//     message); malformedIn lists the protocol names tshark gives, when it gives them.
//   - protocols: frame.protocols split on ':' as is ("eth", "ethertype", "vlan", "ip", "ipv6",
//     "ipv6.hopopts", "ipv6.fraghdr", "udp", "vxlan", "gtp", "data", ...).
import { execFile, execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { SocketAddress } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface TsharkInner {
  src?: string;
  dst?: string;
  protocol?: number;
  srcPort?: number;
  dstPort?: number;
  ipVersion?: 4 | 6;
  /** Extension: the inner IP/transport checksum status, same rules as the outer ones. */
  checksums?: TsharkChecksums;
}

export interface TsharkChecksums {
  ip?: boolean;
  tcp?: boolean;
  udp?: boolean;
  icmp?: boolean;
}

export interface TsharkPacket {
  /** 1-based frame number within the capture. */
  frame: number;
  /** frame.protocols split on ':'. */
  protocols: string[];
  /** Outermost Ethernet II type (eth.type). */
  ethertype?: number;
  /** All 802.1Q (vlan.id) and 802.1ad (ieee8021ad.id) tags in frame order, outer first. */
  vlanIds: number[];
  /** Extension: how many of vlanIds come before the outermost IP header (all of them when there is no IP). */
  outerVlanCount: number;
  ipVersion?: 4 | 6;
  src?: string;
  dst?: string;
  protocol?: number;
  ttl?: number;
  /** Fragment offset in bytes. */
  fragOffset?: number;
  moreFragments?: boolean;
  srcPort?: number;
  dstPort?: number;
  tcpFlags?: number;
  seq?: number;
  ack?: number;
  icmpType?: number;
  icmpCode?: number;
  vni?: number;
  teid?: number;
  inner?: TsharkInner;
  checksums: TsharkChecksums;
  malformed: boolean;
  /**
   * Extension: the protocols tshark names in its "[Malformed Packet: X]" items ("IPv6
   * Destination", "DNS", ...), so a comparison can ignore application-layer complaints.
   */
  malformedIn: string[];
}

/** The fields asked of tshark, in output column order. */
export const TSHARK_FIELDS = [
  'frame.number',
  'frame.protocols',
  'eth.type',
  'vlan.id',
  'ieee8021ad.id',
  'ip.hdr_len',
  'ip.src',
  'ip.dst',
  'ip.proto',
  'ip.ttl',
  'ip.frag_offset',
  'ip.flags.mf',
  'ip.checksum.status',
  'ipv6.src',
  'ipv6.dst',
  'ipv6.nxt',
  'ipv6.hlim',
  'ipv6.hopopts.nxt',
  'ipv6.routing.nxt',
  'ipv6.dstopts.nxt',
  'ipv6.fraghdr.nxt',
  'ipv6.fraghdr.offset',
  'ipv6.fraghdr.more',
  'tcp.srcport',
  'tcp.dstport',
  'tcp.flags',
  'tcp.seq_raw',
  'tcp.ack_raw',
  'tcp.checksum.status',
  'udp.srcport',
  'udp.dstport',
  'udp.checksum.status',
  'sctp.srcport',
  'sctp.dstport',
  'icmp.type',
  'icmp.code',
  'icmp.checksum.status',
  'icmpv6.type',
  'icmpv6.code',
  'icmpv6.checksum.status',
  'vxlan.vni',
  'gtp.teid',
  '_ws.malformed',
  '_ws.expert.group',
  '_ws.expert.severity',
] as const;

type Field = (typeof TSHARK_FIELDS)[number];

/** Everything on tshark's command line except `-r FILE`. */
export const TSHARK_ARGS: readonly string[] = [
  '-n',
  '-T',
  'fields',
  '-E',
  'header=n',
  '-E',
  'separator=/t',
  '-E',
  'quote=n',
  '-E',
  'occurrence=a',
  '-E',
  'aggregator=,',
  '-o',
  'ip.check_checksum:TRUE',
  '-o',
  'tcp.check_checksum:TRUE',
  '-o',
  'udp.check_checksum:TRUE',
  '-o',
  'tcp.relative_sequence_numbers:FALSE',
  '-o',
  'tcp.analyze_sequence_numbers:FALSE',
  '-o',
  'tcp.desegment_tcp_streams:FALSE',
  '-o',
  'ip.defragment:FALSE',
  '-o',
  'ipv6.defragment:FALSE',
  '-d',
  'udp.port==4789,vxlan',
  '-d',
  'udp.port==2152,gtp',
  ...TSHARK_FIELDS.flatMap((f) => ['-e', f]),
];

/** Default time limit of one tshark run. */
export const TSHARK_TIMEOUT_MS = 120_000;

const MAX_OUTPUT = 1 << 30;

// A configuration directory that does not exist: tshark then reads no personal preferences,
// "recent" or decode-as files, whatever the user running the tests has configured.
const tsharkEnv = (): NodeJS.ProcessEnv => ({
  ...process.env,
  LC_ALL: 'C',
  WIRESHARK_CONFIG_DIR: join(tmpdir(), 'vnf-sdk-tshark-no-config-dir'),
});

let versionCache: string | null | undefined;

/**
 * tshark's version ("4.0.17 (Git v4.0.17 packaged as 4.0.17-0+deb12u3)"), or null when
 * `tshark` is not on PATH or does not run. Cached for the process.
 */
export function tsharkAvailable(): string | null {
  if (versionCache !== undefined) return versionCache;
  try {
    const out = execFileSync('tshark', ['--version'], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'ignore'],
      timeout: 30_000,
      env: tsharkEnv(),
    });
    const first = out.split('\n')[0]?.trim() ?? '';
    versionCache = first.replace(/^TShark \(Wireshark\)\s*/, '').replace(/\.$/, '') || null;
  } catch {
    versionCache = null;
  }
  return versionCache;
}

/** Thrown when tshark cannot read a capture or fails. */
export class TsharkError extends Error {
  constructor(
    message: string,
    readonly file: string,
    readonly stderr: string,
  ) {
    super(message);
    this.name = 'TsharkError';
  }
}

/** tshark's stderr minus its harmless "Running as user root" warning. */
function cleanStderr(s: string): string {
  return s
    .split('\n')
    .filter((l) => l.trim() !== '' && !l.startsWith('Running as user'))
    .join('\n');
}

/**
 * Dissects `pcapPath` (pcap or pcapng, any link type tshark knows) with one tshark run and
 * returns one normalised record per frame, in frame order. Throws TsharkError when tshark
 * fails (unreadable file, timeout). A capture cut short mid-packet makes tshark exit non-zero
 * after printing the frames it read; that is reported as an error too.
 */
export function dissect(pcapPath: string, timeoutMs = TSHARK_TIMEOUT_MS): TsharkPacket[] {
  let out: string;
  try {
    out = execFileSync('tshark', ['-r', pcapPath, ...TSHARK_ARGS], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'pipe'],
      timeout: timeoutMs,
      maxBuffer: MAX_OUTPUT,
      env: tsharkEnv(),
    });
  } catch (e) {
    const err = e as { stderr?: string | Buffer; signal?: string; message?: string };
    const stderr = cleanStderr(String(err.stderr ?? ''));
    const why = err.signal ? `killed by ${err.signal} (timeout ${timeoutMs} ms?)` : stderr || err.message;
    throw new TsharkError(`tshark failed on ${pcapPath}: ${why}`, pcapPath, stderr);
  }
  return parseFieldsOutput(out);
}

/** Same as {@link dissect} without blocking the event loop (for running several at once). */
export function dissectAsync(pcapPath: string, timeoutMs = TSHARK_TIMEOUT_MS): Promise<TsharkPacket[]> {
  return new Promise((resolve, reject) => {
    execFile(
      'tshark',
      ['-r', pcapPath, ...TSHARK_ARGS],
      { encoding: 'utf8', timeout: timeoutMs, maxBuffer: MAX_OUTPUT, env: tsharkEnv() },
      (error, stdout, stderr) => {
        if (error) {
          const why = error.signal ? `killed by ${error.signal} (timeout ${timeoutMs} ms?)` : cleanStderr(stderr);
          reject(new TsharkError(`tshark failed on ${pcapPath}: ${why || error.message}`, pcapPath, cleanStderr(stderr)));
          return;
        }
        resolve(parseFieldsOutput(stdout));
      },
    );
  });
}

/** Frame count of each capture by `capinfos -c` (one run for all files), or null without capinfos. */
export function capinfosCounts(paths: readonly string[]): Map<string, number> | null {
  if (paths.length === 0) return new Map();
  let out: string;
  try {
    // -T table, -r no header row, -M exact counts: "file<TAB>count" per line.
    out = execFileSync('capinfos', ['-c', '-M', '-T', '-r', ...paths], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'pipe'],
      timeout: 60_000,
      maxBuffer: MAX_OUTPUT,
      env: tsharkEnv(),
    });
  } catch {
    return null;
  }
  const counts = new Map<string, number>();
  for (const line of out.split('\n')) {
    const tab = line.lastIndexOf('\t');
    if (tab < 0) continue;
    const n = Number(line.slice(tab + 1));
    if (Number.isInteger(n)) counts.set(line.slice(0, tab), n);
  }
  return counts;
}

/**
 * Dissects many captures with ONE tshark run: `mergecap -a` concatenates them (into
 * a pcapng in a temporary directory, each input keeping its own link type) for one tshark run; the
 * frames are split back by `capinfos -c` counts and renumbered from 1 per file. tshark's
 * start-up costs ~0.7 s of CPU here, so this is ~50x faster than {@link dissect} per file on
 * the test corpus. Because all dissection options above turn off cross-frame state (TCP
 * analysis, reassembly), the records equal per-file dissection; the test checks that on a
 * sample. Files capinfos cannot read are not merged: they are dissected one by one, and their
 * entry holds the TsharkError.
 */
export function dissectMany(
  paths: readonly string[],
  timeoutMs = TSHARK_TIMEOUT_MS,
): Map<string, TsharkPacket[] | TsharkError> {
  const result = new Map<string, TsharkPacket[] | TsharkError>();
  const counts = capinfosCounts(paths);
  const mergeable = counts ? paths.filter((p) => counts.has(p) && (counts.get(p) ?? 0) > 0) : [];
  for (const p of paths) {
    if (counts?.get(p) === 0) result.set(p, []);
  }
  if (mergeable.length > 0) {
    let merged: TsharkPacket[] | null = null;
    // tshark refuses a socket as stdin (which is what Node gives a child), so the merged
    // capture goes to a private temporary directory (never in the repository), removed at once.
    const dir = mkdtempSync(join(tmpdir(), 'vnf-sdk-tshark-'));
    try {
      const mergedFile = join(dir, 'merged.pcapng');
      execFileSync('mergecap', ['-a', '-F', 'pcapng', '-w', mergedFile, ...mergeable], {
        stdio: ['ignore', 'ignore', 'pipe'],
        timeout: timeoutMs,
        env: tsharkEnv(),
      });
      merged = dissect(mergedFile, timeoutMs);
      const total = mergeable.reduce((s, p) => s + (counts?.get(p) ?? 0), 0);
      if (merged.length !== total) merged = null;
    } catch {
      merged = null;
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
    if (merged) {
      let at = 0;
      for (const p of mergeable) {
        const n = counts?.get(p) ?? 0;
        const base = at;
        result.set(
          p,
          merged.slice(at, at + n).map((r) => ({ ...r, frame: r.frame - base })),
        );
        at += n;
      }
    }
  }
  for (const p of paths) {
    if (result.has(p)) continue;
    try {
      result.set(p, dissect(p, timeoutMs));
    } catch (e) {
      result.set(p, e instanceof TsharkError ? e : new TsharkError(String(e), p, ''));
    }
  }
  return result;
}

// ---------------------------------------------------------------------------------------
// Parsing of the -T fields output.

const PI_MALFORMED = 0x07000000;
const PI_ERROR = 0x00800000;
const IPV6_EXT = new Set(['ipv6.hopopts', 'ipv6.routing', 'ipv6.fraghdr', 'ipv6.dstopts']);
const IPV6_EXT_NXT: Record<string, Field> = {
  'ipv6.hopopts': 'ipv6.hopopts.nxt',
  'ipv6.routing': 'ipv6.routing.nxt',
  'ipv6.fraghdr': 'ipv6.fraghdr.nxt',
  'ipv6.dstopts': 'ipv6.dstopts.nxt',
};

/** Parses tshark's `-T fields` output made with {@link TSHARK_ARGS}. */
export function parseFieldsOutput(text: string): TsharkPacket[] {
  const packets: TsharkPacket[] = [];
  for (const line of text.split('\n')) {
    if (line === '') continue;
    const cols = line.replace(/\r$/, '').split('\t');
    if (cols.length !== TSHARK_FIELDS.length) {
      throw new Error(`tshark line has ${cols.length} columns, expected ${TSHARK_FIELDS.length}: ${line}`);
    }
    packets.push(parseLine(cols));
  }
  return packets;
}

/** A tshark integer: decimal or 0x-hex. */
function int(s: string | undefined): number | undefined {
  if (s === undefined || s === '') return undefined;
  const n = /^0x/i.test(s) ? Number.parseInt(s.slice(2), 16) : Number(s);
  return Number.isFinite(n) ? n : undefined;
}

function bool(s: string | undefined): boolean | undefined {
  if (s === undefined || s === '') return undefined;
  return s === '1' || s.toLowerCase() === 'true';
}

/** tshark checksum status: 0 bad, 1 good, 2 unverified, 3 not present, 4 illegal. */
function status(s: string | undefined): boolean | undefined {
  const n = int(s);
  return n === 1 ? true : n === 0 ? false : undefined;
}

/** Canonical IPv6 text as Node prints it (lowercase, RFC 5952 compression, dotted IPv4 tail where inet_ntop uses one). */
export function normaliseIpv6(a: string): string {
  try {
    return new SocketAddress({ address: a, family: 'ipv6' }).address;
  } catch {
    return a.toLowerCase();
  }
}

function parseLine(cols: string[]): TsharkPacket {
  const values = new Map<Field, string[]>();
  TSHARK_FIELDS.forEach((f, i) => {
    const c = cols[i] ?? '';
    values.set(f, f === 'frame.protocols' || f === '_ws.malformed' ? [c] : c === '' ? [] : c.split(','));
  });
  const get = (f: Field, k = 0): string | undefined => values.get(f)?.[k];
  const all = (f: Field): string[] => values.get(f) ?? [];

  const protocols = (get('frame.protocols') ?? '').split(':').filter((p) => p !== '');
  // tshark's IPv4 dissector hands a packet whose version nibble is 6 to the IPv6 dissector:
  // frame.protocols then shows "ip:ipv6" for a single IPv6 header, and that "ip" entry emits
  // no IPv4 header fields. Such an entry is renamed (here only) so the IPv6 header is the layer
  // and "ip" occurrences stay aligned. Recognised as: an "ip" directly followed by "ipv6" while
  // the frame has fewer IPv4 header-length fields than "ip" entries.
  const layers = [...protocols];
  let deficit = protocols.filter((p) => p === 'ip').length - all('ip.hdr_len').length;
  for (let i = 0; i < layers.length - 1 && deficit > 0; i++) {
    if (layers[i] === 'ip' && layers[i + 1] === 'ipv6') {
      layers[i] = 'ip(version 6)';
      deficit--;
    }
  }
  // occ[i]: how many earlier layers have the same name as layer i (its field occurrence index).
  const seen = new Map<string, number>();
  const occ = layers.map((p) => {
    const k = seen.get(p) ?? 0;
    seen.set(p, k + 1);
    return k;
  });

  const pkt: TsharkPacket = {
    frame: int(get('frame.number')) ?? 0,
    protocols,
    vlanIds: [],
    outerVlanCount: 0,
    checksums: {},
    malformed: false,
    malformedIn: [],
  };

  if (layers[0] === 'eth' && layers[1] === 'ethertype') pkt.ethertype = int(get('eth.type', 0));

  const outerIp = layers.findIndex((p) => p === 'ip' || p === 'ipv6');
  layers.forEach((p, i) => {
    const id = p === 'vlan' ? int(get('vlan.id', occ[i])) : p === 'ieee8021ad' ? int(get('ieee8021ad.id', occ[i])) : undefined;
    if (id === undefined) return;
    pkt.vlanIds.push(id);
    if (outerIp < 0 || i < outerIp) pkt.outerVlanCount++;
  });

  // One IP layer at index i of protocols and the layer it carries.
  const ipLayer = (i: number) => {
    const v6 = layers[i] === 'ipv6';
    const k = occ[i];
    const r: {
      ipVersion: 4 | 6;
      src?: string;
      dst?: string;
      protocol?: number;
      ttl?: number;
      fragOffset?: number;
      moreFragments?: boolean;
      checksums: TsharkChecksums;
      l4: number;
    } = { ipVersion: v6 ? 6 : 4, checksums: {}, l4: i + 1 };
    if (!v6) {
      r.src = get('ip.src', k);
      r.dst = get('ip.dst', k);
      r.protocol = int(get('ip.proto', k));
      r.ttl = int(get('ip.ttl', k));
      const off = int(get('ip.frag_offset', k));
      if (off !== undefined) r.fragOffset = off * 8; // tshark: 8-octet units
      r.moreFragments = bool(get('ip.flags.mf', k));
      const ck = status(get('ip.checksum.status', k));
      if (ck !== undefined) r.checksums.ip = ck;
    } else {
      const s = get('ipv6.src', k);
      const d = get('ipv6.dst', k);
      if (s !== undefined) r.src = normaliseIpv6(s);
      if (d !== undefined) r.dst = normaliseIpv6(d);
      r.protocol = int(get('ipv6.nxt', k));
      r.ttl = int(get('ipv6.hlim', k));
      let j = i + 1;
      while (j < layers.length && IPV6_EXT.has(layers[j])) {
        const name = layers[j];
        const nxt = int(get(IPV6_EXT_NXT[name], occ[j]));
        if (nxt !== undefined) r.protocol = nxt;
        if (name === 'ipv6.fraghdr') {
          const off = int(get('ipv6.fraghdr.offset', occ[j]));
          if (off !== undefined) r.fragOffset = off * 8; // tshark: 8-octet units
          r.moreFragments = bool(get('ipv6.fraghdr.more', occ[j]));
        }
        j++;
      }
      r.l4 = j;
    }
    // Transport directly above this IP header.
    const l4 = layers[r.l4];
    const kk = occ[r.l4];
    if (l4 === 'tcp' || l4 === 'udp') {
      const ck = status(get(`${l4}.checksum.status`, kk));
      if (ck !== undefined) r.checksums[l4] = ck;
    } else if (l4 === 'icmp' || l4 === 'icmpv6') {
      const ck = status(get(`${l4}.checksum.status`, kk));
      if (ck !== undefined) r.checksums.icmp = ck;
    }
    return r;
  };

  const ports = (i: number): { srcPort?: number; dstPort?: number } => {
    const p = layers[i];
    if (p !== 'tcp' && p !== 'udp' && p !== 'sctp') return {};
    return { srcPort: int(get(`${p}.srcport`, occ[i])), dstPort: int(get(`${p}.dstport`, occ[i])) };
  };

  if (outerIp >= 0) {
    const o = ipLayer(outerIp);
    pkt.ipVersion = o.ipVersion;
    setIf(pkt, 'src', o.src);
    setIf(pkt, 'dst', o.dst);
    setIf(pkt, 'protocol', o.protocol);
    setIf(pkt, 'ttl', o.ttl);
    setIf(pkt, 'fragOffset', o.fragOffset);
    setIf(pkt, 'moreFragments', o.moreFragments);
    pkt.checksums = o.checksums;
    const l4 = layers[o.l4];
    const k = occ[o.l4];
    const pp = ports(o.l4);
    setIf(pkt, 'srcPort', pp.srcPort);
    setIf(pkt, 'dstPort', pp.dstPort);
    if (l4 === 'tcp') {
      setIf(pkt, 'tcpFlags', int(get('tcp.flags', k)));
      setIf(pkt, 'seq', int(get('tcp.seq_raw', k)));
      setIf(pkt, 'ack', int(get('tcp.ack_raw', k)));
    } else if (l4 === 'icmp' || l4 === 'icmpv6') {
      setIf(pkt, 'icmpType', int(get(`${l4}.type`, k)));
      setIf(pkt, 'icmpCode', int(get(`${l4}.code`, k)));
    }

    // The tunnelled packet: next IP layer, unless an ICMP error quotes it.
    for (let j = outerIp + 1; j < layers.length; j++) {
      const p = layers[j];
      if (p === 'icmp' || p === 'icmpv6') break;
      if (p !== 'ip' && p !== 'ipv6') continue;
      const n = ipLayer(j);
      const inner: TsharkInner = { ipVersion: n.ipVersion };
      setIf(inner, 'src', n.src);
      setIf(inner, 'dst', n.dst);
      setIf(inner, 'protocol', n.protocol);
      const ip = ports(n.l4);
      setIf(inner, 'srcPort', ip.srcPort);
      setIf(inner, 'dstPort', ip.dstPort);
      inner.checksums = n.checksums;
      pkt.inner = inner;
      break;
    }
  }

  setIf(pkt, 'vni', int(get('vxlan.vni', 0)));
  setIf(pkt, 'teid', int(get('gtp.teid', 0)));

  for (const m of (get('_ws.malformed') ?? '').matchAll(/\[Malformed Packet: ([^\]]+)\]/g)) {
    if (!pkt.malformedIn.includes(m[1])) pkt.malformedIn.push(m[1]);
  }
  const groups = all('_ws.expert.group').map(int);
  const severities = all('_ws.expert.severity').map(int);
  pkt.malformed =
    (get('_ws.malformed') ?? '') !== '' || groups.some((g, i) => g === PI_MALFORMED && severities[i] === PI_ERROR);
  return pkt;
}

function setIf<T extends object, K extends keyof T>(o: T, k: K, v: T[K] | undefined): void {
  if (v !== undefined) o[k] = v;
}
