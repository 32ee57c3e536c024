// Sanity checks of the tshark reference dissector (./tshark.ts) over every shared capture:
// frame counts against capinfos, one-tshark-run-for-all (dissectMany) against per-file
// dissect() on a sample, hand-verified field values, and a per-file summary table.
// Skips with a visible reason when tshark or ../shared is missing; with
// VNF_REQUIRE_ALL=1 such a skip is a failure instead.
import { existsSync, readdirSync } from 'node:fs';
import { join, relative } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { itWhen, SHARED_TESTDATA } from '@vnf-sdk/test-support';
import {
  capinfosCounts,
  dissect,
  dissectAsync,
  dissectMany,
  parseFieldsOutput,
  TSHARK_FIELDS,
  TsharkError,
  type TsharkPacket,
  tsharkAvailable,
} from './tshark.js';

const SHARED = SHARED_TESTDATA;
const PCAPS = join(SHARED, 'pcaps');
const MIX = join(SHARED, 'bench', 'mix.pcap');



const version = tsharkAvailable();
const skipReason = !version
  ? 'tshark is not on PATH (Debian: apt-get install tshark)'
  : !existsSync(PCAPS)
    ? `${PCAPS} is absent (shared test captures not mounted)`
    : !existsSync(MIX)
      ? `${MIX} is absent`
      : null;

const CAPTURE_EXTENSION = /\.(pcap|pcapng|cap)$/i;

function captureFiles(): string[] {
  const files = readdirSync(PCAPS, { recursive: true, withFileTypes: true })
    .filter((e) => e.isFile() && CAPTURE_EXTENSION.test(e.name))
    .map((e) => join(e.parentPath, e.name))
    .sort();
  return [...files, MIX];
}

const short = (p: string) => (p === MIX ? 'bench/mix.pcap' : relative(PCAPS, p));

describe('parseFieldsOutput (no tshark needed)', () => {
  // One synthetic VXLAN-in-802.1Q line with tshark's value formats (hex eth.type, hex tcp.flags).
  const row: Partial<Record<(typeof TSHARK_FIELDS)[number], string>> = {
    'frame.number': '7',
    'frame.protocols': 'eth:ethertype:vlan:ethertype:ip:udp:vxlan:eth:ethertype:ip:tcp',
    'eth.type': '0x8100,0x0800',
    'vlan.id': '100',
    'ip.src': '10.0.0.1,192.168.0.1',
    'ip.dst': '10.0.0.2,192.168.0.2',
    'ip.proto': '17,6',
    'ip.ttl': '64,63',
    'ip.frag_offset': '0,0',
    'ip.flags.mf': '0,0',
    'ip.checksum.status': '1,0',
    'tcp.srcport': '1234',
    'tcp.dstport': '80',
    'tcp.flags': '0x0012',
    'tcp.seq_raw': '4294967295',
    'tcp.ack_raw': '1',
    'tcp.checksum.status': '2',
    'udp.srcport': '50000',
    'udp.dstport': '4789',
    'udp.checksum.status': '3',
    'vxlan.vni': '42',
  };
  it('takes the outermost layer for top-level fields and the next IP for inner', () => {
    const line = TSHARK_FIELDS.map((f) => row[f] ?? '').join('\t');
    const [p] = parseFieldsOutput(`${line}\n`);
    expect(p).toMatchObject({
      frame: 7,
      ethertype: 0x8100,
      vlanIds: [100],
      outerVlanCount: 1,
      ipVersion: 4,
      src: '10.0.0.1',
      protocol: 17,
      ttl: 64,
      fragOffset: 0,
      moreFragments: false,
      srcPort: 50000,
      dstPort: 4789,
      vni: 42,
      checksums: { ip: true },
      inner: { ipVersion: 4, src: '192.168.0.1', dst: '192.168.0.2', protocol: 6, srcPort: 1234, dstPort: 80, checksums: { ip: false } },
      malformed: false,
    });
    expect(p.tcpFlags).toBeUndefined(); // the TCP is inside the tunnel
  });
});

describe(`tshark reference dissector (${version ?? 'tshark absent'})`, () => {
  let files: string[] = [];
  let all = new Map<string, TsharkPacket[] | TsharkError>();
  let counts: Map<string, number> | null = null;
  let mergedMs = 0;
  const rec = (suffix: string): TsharkPacket[] => {
    const key = [...all.keys()].find((k) => k.endsWith(suffix));
    const v = key === undefined ? undefined : all.get(key);
    if (!Array.isArray(v)) throw new Error(`no dissection for ${suffix}: ${String(v)}`);
    return v;
  };
  const frame = (suffix: string, n: number): TsharkPacket => {
    const p = rec(suffix)[n - 1];
    expect(p?.frame).toBe(n);
    return p;
  };

  beforeAll(() => {
    if (skipReason) return;
    files = captureFiles();
    counts = capinfosCounts(files);
    const t0 = performance.now();
    all = dissectMany(files);
    mergedMs = performance.now() - t0;
  }, 120_000);

  itWhen(skipReason, 'tshark reads every capture; record counts equal capinfos -c', () => {
    expect(files.length).toBeGreaterThan(100);
    const unreadable = [...all].filter(([, v]) => v instanceof TsharkError).map(([k, v]) => `${short(k)}: ${(v as Error).message}`);
    expect(unreadable).toEqual([]);
    expect(counts).not.toBeNull();
    for (const f of files) {
      const v = all.get(f) as TsharkPacket[];
      expect(v.length, short(f)).toBe(counts?.get(f));
      // Frames numbered 1..n in order.
      expect(v.every((p, i) => p.frame === i + 1), short(f)).toBe(true);
    }
    expect(rec('bench/mix.pcap')).toHaveLength(4096);
    console.log(`[tshark] ${version}: ${files.length} captures dissected in one run in ${mergedMs.toFixed(0)} ms`);
  });

  itWhen(
    skipReason,
    'one tshark run per file gives exactly the same records as the merged run (sample)',
    async () => {
      // A sample covering each link type (Ethernet, Linux cooked, PPP, raw IPv4/IPv6), tunnels,
      // fragments, extension headers, QinQ and pcapng; dissected two at a time.
      const sample = [
        MIX,
        'zeek/traces/tunnels/gtp/gtp_ext_header.pcap',
        'zeek/traces/tunnels/vxlan-triple-v2.pcap',
        'zeek/traces/ipv6-fragmented-dns.pcap',
        'zeek/traces/ipv4/fragmented-1.pcap',
        'tcpdump/802.1ad_QinQ.pcap',
        'tcpdump/mptcp-v1.pcap',
        'tcpdump/mpls-traceroute.pcap',
        'tcpdump/LINKTYPE_RAW_ipv6.pcap',
        'tcpdump/icmpv6-length-zero.pcapng',
      ].map((s) => (s === MIX ? MIX : join(PCAPS, s)));
      for (const f of sample) expect(files, f).toContain(f);
      const t0 = performance.now();
      const per = new Map<string, TsharkPacket[]>();
      for (let i = 0; i < sample.length; i += 2) {
        const pair = sample.slice(i, i + 2);
        const got = await Promise.all(pair.map((f) => dissectAsync(f)));
        pair.forEach((f, j) => {
          per.set(f, got[j]);
        });
      }
      // The synchronous entry point too (one small file).
      per.set(sample[3], dissect(sample[3]));
      for (const f of sample) {
        expect(per.get(f), short(f)).toEqual(all.get(f));
        expect(per.get(f)?.length, short(f)).toBe(counts?.get(f));
      }
      console.log(`[tshark] ${sample.length + 1} per-file runs: ${(performance.now() - t0).toFixed(0)} ms`);
    },
    120_000,
  );

  itWhen(skipReason, 'a file that is not a capture is a TsharkError naming tshark\'s complaint', () => {
    const notCapture = join(PCAPS, 'zeek', 'INDEX.tsv');
    expect(() => dissect(notCapture)).toThrow(TsharkError);
    expect(() => dissect(notCapture)).toThrow(/isn't a capture file|doesn't exist|unknown/i);
    expect(all.size).toBe(files.length);
  });

  itWhen(skipReason, 'hand-verified values (checked against the raw bytes)', () => {
    // mix.pcap frame 5: VXLAN, VNI bytes 87 c5 37 at offset 0x2e; inner 10.78.251.224:80 -> 10.157.153.118:32249 TCP.
    expect(frame('bench/mix.pcap', 5)).toMatchObject({
      ethertype: 0x0800,
      ipVersion: 4,
      src: '10.184.12.60',
      dst: '10.230.95.167',
      protocol: 17,
      srcPort: 58061,
      dstPort: 4789,
      vni: 0x87c537,
      inner: { ipVersion: 4, src: '10.78.251.224', dst: '10.157.153.118', protocol: 6, srcPort: 80, dstPort: 32249 },
      checksums: { ip: true, udp: true },
      malformed: false,
    });
    // mix.pcap frame 6: GTP-U (flags 0x30, type 0xff), TEID a4 25 a0 23; inner IPv4/UDP.
    expect(frame('bench/mix.pcap', 6)).toMatchObject({
      srcPort: 2152,
      dstPort: 2152,
      teid: 0xa425a023,
      inner: { ipVersion: 4, src: '10.213.139.208', dst: '10.181.65.3', protocol: 17, srcPort: 49398, dstPort: 56367 },
    });
    // mix.pcap frame 20: 802.1Q TCI c3 a3 -> VLAN 931 (priority 6).
    expect(frame('bench/mix.pcap', 20)).toMatchObject({ ethertype: 0x8100, vlanIds: [931], outerVlanCount: 1, protocol: 17 });
    // mix.pcap frame 1: IPv6/TCP SYN, raw seq/ack.
    expect(frame('bench/mix.pcap', 1)).toMatchObject({
      ethertype: 0x86dd,
      ipVersion: 6,
      src: '2001:db8:b1ea:4fdd::67b9',
      dst: '2001:db8:9eda:535a::a2b',
      protocol: 6,
      ttl: 64,
      tcpFlags: 0x002,
      seq: 3462059616,
      ack: 3385658518,
      checksums: { tcp: true },
    });
    expect(frame('bench/mix.pcap', 1).fragOffset).toBeUndefined();

    // QinQ with two 0x8100 tags: 00 0d, 00 0a.
    expect(frame('zeek/traces/q-in-q.pcap', 1)).toMatchObject({ ethertype: 0x8100, vlanIds: [13, 10], outerVlanCount: 2, dstPort: 47808 });
    // 802.1ad S-tag 00 c8 then C-tag 07 d1, ARP.
    expect(frame('tcpdump/802.1ad_QinQ.pcap', 1)).toMatchObject({ ethertype: 0x88a8, vlanIds: [200, 2001] });
    expect(frame('tcpdump/802.1ad_QinQ.pcap', 1).ipVersion).toBeUndefined();
    // Three 802.1Q tags 30, 20, 10.
    expect(frame('zeek/traces/vlan-qinqinq.pcap', 1)).toMatchObject({ vlanIds: [30, 20, 10], tcpFlags: 0x002, dstPort: 80 });
    // ERSPAN III carrying a VLAN-tagged frame: the tag is inside the tunnel.
    expect(frame('zeek/traces/tunnels/gre-erspan3-dot1q.pcap', 1)).toMatchObject({ vlanIds: [10], outerVlanCount: 0, protocol: 47, inner: { protocol: 1 } });

    // GTP-U with an extension header: TEID 00 10 06 57 from UDP 9000 -> 2152; outer IPv4 is a first fragment.
    expect(frame('gtp/gtp_ext_header.pcap', 1)).toMatchObject({
      teid: 0x00100657,
      srcPort: 9000,
      dstPort: 2152,
      fragOffset: 0,
      moreFragments: true,
      inner: { src: '10.155.182.202', dst: '10.155.186.57', protocol: 6, srcPort: 41511, dstPort: 6005 },
    });
    expect(frame('gtp/gtp_ext_header.pcap', 2)).toMatchObject({ fragOffset: 1480, moreFragments: false, protocol: 17 });
    expect(frame('gtp/gtp_ext_header.pcap', 2).srcPort).toBeUndefined();

    // IPv6 fragments: offset field 05 99 -> 179 * 8 = 1432 bytes, M=1; the last at 2864.
    expect(frame('ipv6-fragmented-dns.pcap', 6)).toMatchObject({ protocol: 17, fragOffset: 0, moreFragments: true, srcPort: 53 });
    expect(frame('ipv6-fragmented-dns.pcap', 7)).toMatchObject({ protocol: 17, fragOffset: 1432, moreFragments: true });
    expect(frame('ipv6-fragmented-dns.pcap', 8)).toMatchObject({ fragOffset: 2864, moreFragments: false });
    expect(frame('ipv6-fragmented-dns.pcap', 7).srcPort).toBeUndefined();
    // IPv4 fragment: flags/offset 00 06 -> 48 bytes.
    expect(frame('ipv4/fragmented-1.pcap', 2)).toMatchObject({ fragOffset: 48, moreFragments: false, protocol: 17 });

    // IPv6 upper layer past Hop-by-Hop + Routing headers.
    expect(frame('ipv6-hbh-routing0.pcap', 1)).toMatchObject({ protocol: 17, srcPort: 53, dstPort: 53 });

    // Checksums: good/bad pairs.
    expect(frame('chksums/ip4-bad-chksum.pcap', 1).checksums).toEqual({ ip: false, udp: true });
    expect(frame('chksums/ip4-tcp-bad-chksum.pcap', 1).checksums).toEqual({ ip: true, tcp: false });
    expect(frame('chksums/ip4-tcp-good-chksum.pcap', 1).checksums).toEqual({ ip: true, tcp: true });
    expect(frame('chksums/ip4-udp-bad-chksum.pcap', 1).checksums).toEqual({ ip: true, udp: false });
    expect(frame('chksums/ip4-icmp-bad-chksum.pcap', 1).checksums).toEqual({ ip: true, icmp: false });
    expect(frame('chksums/ip6-udp-bad-chksum.pcap', 1).checksums).toEqual({ udp: false });
    expect(frame('chksums/ip6-icmp6-good-chksum.pcap', 1).checksums).toEqual({ icmp: true });
    expect(frame('chksums/ip6-route0-tcp-good-chksum.pcap', 1).checksums).toEqual({ tcp: true });
    expect(frame('chksums/ip6-route0-tcp-bad-chksum.pcap', 1).checksums).toEqual({ tcp: false });
    // VXLAN (VNI 42) whose inner TCP checksum is bad; the outer ones are good.
    expect(frame('tunnels/vxlan-inner-tcp-bad-checksum.pcap', 1)).toMatchObject({
      vni: 42,
      checksums: { ip: true, udp: true },
      inner: { src: '10.0.0.1', dst: '10.0.0.2', srcPort: 12345, dstPort: 80, checksums: { ip: true, tcp: false } },
    });
    // Triple VXLAN: VNI and inner are the outermost/next level only.
    expect(frame('tunnels/vxlan-triple-v2.pcap', 1)).toMatchObject({ vni: 1, src: '1.1.1.1', inner: { src: '2.2.2.2', protocol: 17, dstPort: 4789 } });

    // IP-in-IP, both ways.
    expect(frame('tunnels/6in4.pcap', 1)).toMatchObject({ ipVersion: 4, protocol: 41, inner: { ipVersion: 6, src: 'dead::beef', dst: 'cafe::babe', protocol: 17 } });
    expect(frame('tunnels/4in6.pcap', 1)).toMatchObject({ ipVersion: 6, protocol: 4, inner: { ipVersion: 4, src: '70.55.213.211', protocol: 6, dstPort: 80 } });
    // An ICMP error quoting IP/UDP is not a tunnel and its quoted ports are not top-level.
    const unreach = frame('icmp/icmp-destunreach-udp.pcap', 1);
    expect(unreach).toMatchObject({ protocol: 1, icmpType: 3, icmpCode: 3, checksums: { ip: true, icmp: true } });
    expect(unreach.inner).toBeUndefined();
    expect(unreach.srcPort).toBeUndefined();

    // Raw-IPv4 link type carrying IPv6 bytes: tshark dissects one IPv6 header ("ip:ipv6"), not 6in4.
    const v6onV4 = frame('tcpdump/LINKTYPE_IPV4_invalid.pcap', 1);
    expect(v6onV4).toMatchObject({ protocols: ['ip', 'ipv6', 'udp', 'dns'], ipVersion: 6, src: '2001:db8::1', dst: '2620:fe::9', protocol: 17, dstPort: 53 });
    expect(v6onV4.inner).toBeUndefined();
    // Link types without Ethernet: no ethertype, IP still found.
    expect(frame('tcpdump/LINKTYPE_RAW_ipv6.pcap', 1)).toMatchObject({ ipVersion: 6, protocol: 17 });
    expect(frame('tcpdump/LINKTYPE_RAW_ipv6.pcap', 1).ethertype).toBeUndefined();

    // Malformed: IPv6 Fragment header with a negative length (fuzzer find).
    expect(frame('tcpdump/ipv6_frag6_negative_len.pcap', 1)).toMatchObject({ malformed: true, malformedIn: ['IPv6 Fragment'] });
    expect(frame('tcpdump/ipv4_invalid_length.pcap', 1)).toMatchObject({ malformed: true, malformedIn: ['IPv4'] });
  });

  itWhen(skipReason, 'summary: per file, frames and how many carry each field', () => {
    const cols: [string, (p: TsharkPacket) => boolean][] = [
      ['eth', (p) => p.ethertype !== undefined],
      ['vlan', (p) => p.vlanIds.length > 0],
      ['ip4', (p) => p.ipVersion === 4],
      ['ip6', (p) => p.ipVersion === 6],
      ['frag', (p) => (p.fragOffset ?? 0) > 0 || p.moreFragments === true],
      ['ports', (p) => p.srcPort !== undefined],
      ['tcp', (p) => p.tcpFlags !== undefined],
      ['icmp', (p) => p.icmpType !== undefined],
      ['vni', (p) => p.vni !== undefined],
      ['teid', (p) => p.teid !== undefined],
      ['inner', (p) => p.inner !== undefined],
      ['ck+', (p) => Object.values(p.checksums).some((v) => v === true)],
      ['ck-', (p) => Object.values(p.checksums).some((v) => v === false) || Object.values(p.inner?.checksums ?? {}).some((v) => v === false)],
      ['malf', (p) => p.malformed],
    ];
    const width = Math.max(...files.map((f) => short(f).length));
    const lines = [['file'.padEnd(width), 'frames'.padStart(6), ...cols.map(([n]) => n.padStart(5))].join(' ')];
    const totals = new Array<number>(cols.length + 1).fill(0);
    for (const f of files) {
      const v = all.get(f) as TsharkPacket[];
      const c = cols.map(([, pred]) => v.filter(pred).length);
      totals[0] += v.length;
      c.forEach((n, i) => {
        totals[i + 1] += n;
      });
      lines.push([short(f).padEnd(width), String(v.length).padStart(6), ...c.map((n) => String(n).padStart(5))].join(' '));
    }
    lines.push([`TOTAL (${files.length} files)`.padEnd(width), ...totals.map((n, i) => String(n).padStart(i === 0 ? 6 : 5))].join(' '));
    console.log(`[tshark] ${version}\n${lines.join('\n')}`);
    expect(totals[0]).toBeGreaterThan(4096);
  });
});
