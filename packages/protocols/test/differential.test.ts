// Our decoder against Wireshark's (tshark), field by field, on every shared capture.
// Prints the agreement per field. Every disagreement is either fixed or explained in
// KNOWN below; an unexplained one fails the test.
import { readdirSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { describe, expect } from 'vitest';
import { CaptureReader, type Decoded, decode, type Layer } from '../src/index.js';
import { itWhen, SHARED_TESTDATA, sharedMissing } from '@vnf-sdk/test-support';
import { dissectMany, type TsharkPacket, tsharkAvailable } from './tshark/tshark.js';

type Fields = Omit<TsharkPacket, 'frame' | 'protocols' | 'malformed' | 'malformedIn' | 'outerVlanCount'>;

const FIELDS = ['ethertype', 'vlanIds', 'ipVersion', 'src', 'dst', 'protocol', 'ttl', 'fragOffset', 'moreFragments', 'srcPort', 'dstPort', 'tcpFlags', 'seq', 'ack', 'icmpType', 'icmpCode', 'vni', 'teid', 'inner', 'checksum.ip', 'checksum.tcp', 'checksum.udp', 'checksum.icmp'] as const;
type Field = (typeof FIELDS)[number];

/**
 * Disagreements we accept, each with its reason: files (relative to pcaps/) and fields.
 * Everything else must agree.
 */
const KNOWN: Array<{ file: RegExp; fields: Field[] | 'all'; reason: string }> = [
  {
    file: /(bad-ipv4-version-pgm-heapoverflow|gre-heapoverflow-1|ip_printroute_asan|ipv4_invalid_hdr_length|ipv4_invalid_length|ipv4_invalid_total_length_2|ipv6_39_byte_header|ipv6_invalid_length|ip4-trunc|ip6-trunc|ipv4-truncated-broken-header|tcp_header_heapoverflow|udp-length-heapoverflow)\.pcap$/,
    fields: 'all',
    reason: 'a header cut short or with an impossible length (IHL, version, total or UDP length): we report the error and give no fields for that layer; tshark shows whatever fields it could read',
  },
  {
    file: /(ipv6-rthdr-oobr|ipv6-srh-tlv-pad1-padn-5-trunc|ipv6_frag6_negative_len|ipv6_missing_jumbo_payload_option)\.pcap$/,
    fields: ['protocol', 'fragOffset', 'moreFragments'],
    reason: 'a broken IPv6 extension header chain: tshark stops at another header than we do',
  },
  { file: /icmpv6-length-zero\.pcapng$/, fields: 'all', reason: 'IPv6 payload length 0 without a jumbo option: we decode the bytes present (the jumbogram rule), tshark stops' },
  {
    file: /(icmp-cksum-oobr-1\.pcap|ipv4_invalid_total_length\.pcap|ipv6_invalid_length_2\.pcap)$/,
    fields: ['checksum.icmp', 'checksum.udp'],
    reason: 'IP length and captured length disagree: we call the layer-4 checksum unverifiable (null), tshark checks it over the bytes it chose',
  },
  { file: /various_gre\.pcap$/, fields: ['inner'], reason: 'GRE payloads other than IPv4, IPv6 and Ethernet (PPTP PPP, WCCP) and GRE inside GRE are not decoded' },
  { file: /ipv6-mobility-dst-opts\.pcap$/, fields: 'all', reason: 'the Mobility header (135) is not decoded; tshark walks a different chain' },
  { file: /gre-erspan3-dot1q\.pcap$/, fields: ['vlanIds', 'inner'], reason: 'ERSPAN is not decoded' },
  { file: /gtp_create_pdp_ctx\.pcap$/, fields: ['teid'], reason: 'GTP-C (UDP 2123) is not decoded; tshark reports its TEID too' },
];

function capturesUnder(dir: string): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) out.push(...capturesUnder(p));
    else if (/\.(pcap|pcapng|cap)$/.test(name)) out.push(p);
  }
  return out.sort();
}

const IP_TYPES = new Set(['ipv4', 'ipv6']);
// Layers after the outer IP that carry another IP packet (MPLS: MPLS-in-UDP).
const TUNNELS = new Set(['vxlan', 'gtpu', 'gre', 'geneve', 'mpls']);

/** Our decode, reduced to the fields tshark gives. */
export function ours(d: Decoded): Fields {
  const L = d.layers;
  const f: Fields = { vlanIds: [], checksums: {} };
  const eth = L.find((l) => l.type === 'ethernet');
  if (eth?.type === 'ethernet') f.ethertype = eth.etherType;
  for (const l of L) if (l.type === 'vlan') f.vlanIds.push(l.id);
  const ipAt = L.findIndex((l) => IP_TYPES.has(l.type));
  if (ipAt >= 0) {
    const ip = L[ipAt];
    let upper: Layer | undefined;
    let k = ipAt + 1;
    if (ip.type === 'ipv4') {
      Object.assign(f, { ipVersion: 4, src: ip.src, dst: ip.dst, protocol: ip.protocol, ttl: ip.ttl, fragOffset: ip.fragmentOffset, moreFragments: ip.moreFragments });
      if (ip.checksumValid !== undefined) f.checksums.ip = ip.checksumValid;
    } else if (ip.type === 'ipv6') {
      Object.assign(f, { ipVersion: 6, src: ip.src, dst: ip.dst, ttl: ip.hopLimit, protocol: ip.nextHeader });
      while (k < L.length && L[k].type.startsWith('ipv6-')) {
        const e = L[k];
        if (e.type === 'ipv6-fragment') Object.assign(f, { fragOffset: e.fragmentOffset, moreFragments: e.moreFragments });
        if ('nextHeader' in e && e.type !== 'ipv6-ah') f.protocol = e.nextHeader;
        k++;
      }
    }
    upper = L[k];
    if (upper?.type === 'tcp') {
      Object.assign(f, { srcPort: upper.srcPort, dstPort: upper.dstPort, tcpFlags: upper.flags, seq: upper.seq, ack: upper.ack });
      if (upper.checksumValid !== null) f.checksums.tcp = upper.checksumValid;
    } else if (upper?.type === 'udp') {
      Object.assign(f, { srcPort: upper.srcPort, dstPort: upper.dstPort });
      if (upper.checksumValid !== null) f.checksums.udp = upper.checksumValid;
    } else if (upper?.type === 'sctp') {
      Object.assign(f, { srcPort: upper.srcPort, dstPort: upper.dstPort });
    } else if (upper?.type === 'icmp' || upper?.type === 'icmpv6') {
      Object.assign(f, { icmpType: upper.icmpType, icmpCode: upper.code });
      if (upper.checksumValid !== null) f.checksums.icmp = upper.checksumValid;
    }
    // The first IP layer after a tunnel header is the inner packet.
    let t = L.findIndex((l, i) => i > ipAt && TUNNELS.has(l.type));
    if (t < 0 && L[k] && IP_TYPES.has(L[k].type)) t = k - 1; // IP in IP
    if (t >= 0) {
      const innerAt = L.findIndex((l, i) => i > t && IP_TYPES.has(l.type));
      if (innerAt >= 0) {
        const ii = L[innerAt];
        const inner: NonNullable<Fields['inner']> = {};
        if (ii.type === 'ipv4') Object.assign(inner, { ipVersion: 4, src: ii.src, dst: ii.dst, protocol: ii.protocol });
        if (ii.type === 'ipv6') Object.assign(inner, { ipVersion: 6, src: ii.src, dst: ii.dst, protocol: ii.nextHeader });
        let j = innerAt + 1;
        while (j < L.length && L[j].type.startsWith('ipv6-')) {
          const e = L[j];
          if ('nextHeader' in e && e.type !== 'ipv6-ah') inner.protocol = e.nextHeader;
          j++;
        }
        const u = L[j];
        if (u && (u.type === 'tcp' || u.type === 'udp' || u.type === 'sctp')) Object.assign(inner, { srcPort: u.srcPort, dstPort: u.dstPort });
        f.inner = inner;
      }
    }
  }
  const vx = L.find((l) => l.type === 'vxlan');
  if (vx?.type === 'vxlan') f.vni = vx.vni;
  const gt = L.find((l) => l.type === 'gtpu');
  if (gt?.type === 'gtpu') f.teid = gt.teid;
  return f;
}

function value(f: Fields, field: Field): unknown {
  if (field.startsWith('checksum.')) return f.checksums[field.slice(9) as keyof Fields['checksums']];
  if (field === 'inner') {
    if (!f.inner) return undefined;
    const { checksums: _drop, ...rest } = f.inner as Record<string, unknown>;
    return rest;
  }
  return f[field as keyof Fields];
}

const tshark = tsharkAvailable();
const why = sharedMissing ?? (tshark ? null : 'tshark is not installed (apt-get install tshark)');

describe('decode agrees with tshark', () => {
  itWhen(
    why,
    'on every shared capture, field by field',
    () => {
      const files = [...capturesUnder(join(SHARED_TESTDATA, 'pcaps')), join(SHARED_TESTDATA, 'bench', 'mix.pcap')];
      const reference = dissectMany(files);
      const agree = new Map<Field, number>();
      const differ = new Map<Field, number>();
      const unexplained: string[] = [];
      let frames = 0;
      for (const file of files) {
        const ref = reference.get(file);
        if (!Array.isArray(ref)) throw new Error(`tshark could not dissect ${file}: ${String(ref)}`);
        const name = relative(join(SHARED_TESTDATA, 'pcaps'), file);
        const reader = CaptureReader.open(file);
        let i = 0;
        for (const p of reader) {
          const t = ref[i++];
          frames++;
          const o = ours(decode(p.data, p.linkType));
          for (const field of FIELDS) {
            const theirs = value(t as unknown as Fields, field);
            const mine = value(o, field);
            // A field only one side has is compared too, except where tshark gives nothing
            // (it dissected less than we did) and we decoded a value: counted, not judged.
            if (theirs === undefined && mine === undefined) continue;
            const same = JSON.stringify(theirs) === JSON.stringify(mine);
            if (same) {
              agree.set(field, (agree.get(field) ?? 0) + 1);
              continue;
            }
            differ.set(field, (differ.get(field) ?? 0) + 1);
            const known = KNOWN.find((k) => k.file.test(name) && (k.fields === 'all' || k.fields.includes(field)));
            if (!known) unexplained.push(`${name} frame ${i} ${field}: tshark ${JSON.stringify(theirs)}, ours ${JSON.stringify(mine)}`);
          }
        }
        reader.close();
        expect(i, `${name}: frames read by us vs tshark`).toBe(ref.length);
      }
      const rows = FIELDS.map((f) => {
        const a = agree.get(f) ?? 0;
        const d = differ.get(f) ?? 0;
        return `${f.padEnd(15)} ${String(a).padStart(6)} agree ${String(d).padStart(5)} differ  ${a + d ? ((100 * a) / (a + d)).toFixed(2) : '-'}%`;
      });
      console.log(`tshark ${tshark}: ${files.length} captures, ${frames} frames\n${rows.join('\n')}`);
      console.log(`explained disagreements:\n${KNOWN.map((k) => `  ${k.file.source}: ${k.reason}`).join('\n')}`);
      if (unexplained.length) console.log(`unexplained disagreements (${unexplained.length}):\n${unexplained.join("\n")}`);
      expect(unexplained).toEqual([]);
    },
    300_000,
  );
});
