/**
 * The friendly builder, the inverse of {@link decode}: an array of layer objects, outermost
 * first, becomes the bytes of one packet, with every length, "next protocol" field and
 * checksum the layers imply filled in. For tools, tests and control-plane replies (see
 * `replies.ts`); the data path rewrites packets in place instead.
 *
 * Rules:
 * - A layer spec is the {@link decode} layer of the same `type` with every field optional
 *   (`checksumValid` is not an input). What is given is written as given, even when it is
 *   wrong (a bad checksum, a length that does not match): that is how tests make malformed
 *   packets. What is omitted is computed or defaulted.
 * - Computed when omitted: Ethernet / VLAN `etherType`, GRE / Geneve `protocol`, IPv4
 *   `protocol`, IPv6 and extension header `nextHeader` (from the next layer); IPv4 `ihl` and
 *   `totalLength`, IPv6 `payloadLength`, UDP `length`, GTP-U `length`, TCP `dataOffset`,
 *   Geneve `optionsLength`, MPLS `bottom` (no MPLS layer follows); every checksum: IPv4
 *   header, TCP / UDP / ICMPv6 over the pseudo-header of the nearest enclosing IP header
 *   (for IPv6 with extension headers the pseudo-header carries the upper-layer protocol,
 *   and with a Routing header that has segments left the final destination, as
 *   {@link decode} checks it), ICMP, GRE (when present) and the SCTP CRC32c. A computed UDP
 *   checksum of 0 is sent as 0xffff; an explicit `checksum: 0` means "no checksum" (legal
 *   over IPv4 only). Each layer extends to the end of the packet (there are no trailers),
 *   so lengths count everything after the layer's start.
 * - Required (a `VNF_PACKET_FORMAT` error names the missing field): IPv4 / IPv6 / ARP
 *   addresses and TCP / UDP / SCTP ports, except that a UDP layer directly followed by a
 *   tunnel defaults both ports to the tunnel's: VXLAN 4789, GTP-U 2152, Geneve 6081,
 *   GRE-in-UDP 4754, MPLS-in-UDP 6635. Also required: a next-protocol field when the next
 *   layer does not determine it (a `payload` layer, or nothing after an Ethernet, VLAN, GRE
 *   or Geneve header; nothing after an IP header means 59, "no next header").
 * - Defaults: MACs 00:00:00:00:00:00; VLAN `tpid` 0x8100 (stack VLAN layers for QinQ and
 *   give the outer one `tpid: 0x88a8`); TTL / hop limit / MPLS TTL 64; ARP Ethernet/IPv4
 *   request (hardware 1, protocol 0x0800, operation 1); TCP flags SYN (0x02), window 65535;
 *   ICMP echo request (8, or 128 for ICMPv6); VXLAN flags 0x08 (VNI valid); GTP-U version 1
 *   (PT 1), message type 255 (G-PDU); everything else 0 / false / empty.
 * - Addresses are text: MACs as six hex pairs separated by ':' or '-'; IPv4 as a dotted
 *   quad (no leading zeros); IPv6 in RFC 4291 text form (`::`, a dotted IPv4 tail).
 * - Bad input (bad address text, a number out of its field's range, options too long, a
 *   packet longer than a length field can say, a transport with no IP header around it)
 *   throws `VnfError` `VNF_PACKET_FORMAT` naming the layer (index and type) and field.
 * @module
 */
import { VnfError } from '@vnf-sdk/core';
import { checksum, onesSum, pseudoV4 } from './checksum.js';
import type {
  ArpLayer,
  EthernetLayer,
  GeneveLayer,
  GreLayer,
  GtpuLayer,
  IcmpLayer,
  Ipv4Layer,
  Ipv6ExtensionLayer,
  Ipv6FragmentLayer,
  Ipv6Layer,
  MplsLayer,
  PayloadLayer,
  SctpLayer,
  TcpLayer,
  UdpLayer,
  VlanLayer,
  VxlanLayer,
} from './decode.js';

/** A decode layer as builder input: `type` plus any of its fields (minus outputs like `checksumValid`). */
type Spec<L extends { type: string }, Omitted extends keyof L = never> = { type: L['type'] } & Partial<Omit<L, 'type' | Omitted>>;

/** `etherType` (Ethernet II) or `length` (IEEE 802.3) is written as given; else the EtherType comes from the next layer. */
export type EthernetSpec = Spec<EthernetLayer>;
export type VlanSpec = Spec<VlanLayer>;
export type MplsSpec = Spec<MplsLayer>;
export type ArpSpec = Spec<ArpLayer>;
export type Ipv4Spec = Spec<Ipv4Layer, 'checksumValid'>;
export type Ipv6Spec = Spec<Ipv6Layer>;
/**
 * Hop-by-hop, routing, destination options or AH, written opaquely: next header, the length
 * byte, then `data` (the bytes after those two) padded with zeros to `length` (zero bytes are
 * Pad1 options in hop-by-hop and destination headers). `length` (whole header, bytes)
 * defaults to `2 + data.length` rounded up to 8, at least 8 (16 for AH: next header, length,
 * reserved, SPI, sequence number, a 4-byte ICV); it must be a multiple of 8 (of 4 for AH).
 */
export type Ipv6ExtensionSpec = Spec<Ipv6ExtensionLayer> & { data?: Uint8Array };
/** `fragmentOffset` in bytes, a multiple of 8. */
export type Ipv6FragmentSpec = Spec<Ipv6FragmentLayer>;
/** Options are written in order (kinds 0 and 1 as one byte, others as kind, length, data) and padded with EOL (0) to 4 bytes. */
export type TcpSpec = Spec<TcpLayer, 'checksumValid'>;
export type UdpSpec = Spec<UdpLayer, 'checksumValid'>;
/** The message body (echo data, a quoted packet) is the layers that follow. */
export type IcmpSpec = Spec<IcmpLayer, 'checksumValid'>;
/** `checksum` given is written big-endian as given (as decode reads it); omitted, the CRC32c is computed. */
export type SctpSpec = Spec<SctpLayer>;
/** `checksumPresent` / `keyPresent` / `sequencePresent` default to whether `checksum` / `key` / `sequence` is given. */
export type GreSpec = Spec<GreLayer> & { checksum?: number };
export type VxlanSpec = Spec<VxlanLayer>;
/** `options` (raw TLVs) are padded with zeros to 4 bytes; `optionsLength` (bytes) and `protocol` are computed. */
export type GeneveSpec = Spec<GeneveLayer> & { options?: Uint8Array };
/** One GTP-U extension header: `content` is padded with zeros so that the header is a multiple of 4 bytes. */
export interface GtpuExtension {
  type: number;
  content?: Uint8Array;
}
/** `extensions`: types (with 2 zero content bytes) or {@link GtpuExtension}s, in order. */
export type GtpuSpec = Spec<GtpuLayer, 'extensions'> & { extensions?: (number | GtpuExtension)[] };
export type PayloadSpec = Spec<PayloadLayer>;

/** One layer given to {@link build}. */
export type LayerSpec =
  | EthernetSpec
  | VlanSpec
  | MplsSpec
  | ArpSpec
  | Ipv4Spec
  | Ipv6Spec
  | Ipv6ExtensionSpec
  | Ipv6FragmentSpec
  | TcpSpec
  | UdpSpec
  | IcmpSpec
  | SctpSpec
  | GreSpec
  | VxlanSpec
  | GeneveSpec
  | GtpuSpec
  | PayloadSpec;

/** Something that fills a layer's lengths and checksums once the whole packet is laid out. */
type Fixup = (b: Uint8Array, at: number, end: number, offsetOf: (layer: number) => number) => void;

interface Part {
  bytes: Uint8Array;
  fix?: Fixup;
}

/** Where a layer sits, for error messages. */
class Where {
  constructor(
    readonly index: number,
    readonly type: string,
  ) {}
  fail(field: string, what: string): never {
    throw new VnfError('VNF_PACKET_FORMAT', `build: layer ${this.index} (${this.type}): ${field}: ${what}`);
  }
  /** An integer field in 0..max, or its default. */
  int(field: string, value: number | undefined, max: number, dflt?: number, why = 'is required'): number {
    if (value === undefined) {
      if (dflt === undefined) this.fail(field, why);
      return dflt;
    }
    if (typeof value !== 'number' || !Number.isInteger(value) || value < 0 || value > max) {
      this.fail(field, `${String(value)} is not an integer in 0..${max}`);
    }
    return value;
  }
  bytes(field: string, value: Uint8Array | undefined): Uint8Array {
    if (value === undefined) return new Uint8Array(0);
    if (!(value instanceof Uint8Array)) this.fail(field, 'is not a Uint8Array');
    return value;
  }
  mac(field: string, value: string | undefined): Uint8Array {
    if (value === undefined) return new Uint8Array(6);
    const b = typeof value === 'string' ? parseMac(value) : null;
    if (!b) this.fail(field, `bad MAC address ${JSON.stringify(value)}`);
    return b;
  }
  ipv4(field: string, value: string | undefined): Uint8Array {
    if (value === undefined) this.fail(field, 'is required');
    const b = typeof value === 'string' ? parseIpv4(value) : null;
    if (!b) this.fail(field, `bad IPv4 address ${JSON.stringify(value)}`);
    return b;
  }
  ipv6(field: string, value: string | undefined): Uint8Array {
    if (value === undefined) this.fail(field, 'is required');
    const b = typeof value === 'string' ? parseIpv6(value) : null;
    if (!b) this.fail(field, `bad IPv6 address ${JSON.stringify(value)}`);
    return b;
  }
}

/** Parses "aa:bb:cc:dd:ee:ff" (or with '-'), or returns null. */
export function parseMac(text: string): Uint8Array | null {
  if (!/^[0-9a-f]{2}([:-])[0-9a-f]{2}(\1[0-9a-f]{2}){4}$/i.test(text)) return null;
  return Uint8Array.from(text.split(/[:-]/), (h) => Number.parseInt(h, 16));
}

/** Parses a dotted quad (decimal, no leading zeros), or returns null. */
export function parseIpv4(text: string): Uint8Array | null {
  const m = /^(0|[1-9]\d{0,2})\.(0|[1-9]\d{0,2})\.(0|[1-9]\d{0,2})\.(0|[1-9]\d{0,2})$/.exec(text);
  if (!m) return null;
  const b = m.slice(1).map(Number);
  return b.every((v) => v <= 255) ? Uint8Array.from(b) : null;
}

/** Parses IPv6 text (RFC 4291 2.2: hex groups, one `::`, optional dotted IPv4 tail), or returns null. */
export function parseIpv6(text: string): Uint8Array | null {
  let s = text;
  let tail: Uint8Array | null = null;
  if (s.includes('.')) {
    const colon = s.lastIndexOf(':');
    tail = parseIpv4(s.slice(colon + 1));
    if (colon < 0 || !tail) return null;
    s = `${s.slice(0, colon + 1)}0:0`;
  }
  const group = /^[0-9a-f]{1,4}$/i;
  const split = (p: string): string[] | null => {
    if (p === '') return [];
    const g = p.split(':');
    return g.every((x) => group.test(x)) ? g : null;
  };
  let groups: string[];
  const dbl = s.indexOf('::');
  if (dbl < 0) {
    const g = split(s);
    if (g?.length !== 8) return null;
    groups = g;
  } else {
    if (s.indexOf('::', dbl + 1) >= 0) return null;
    const head = split(s.slice(0, dbl));
    const rest = split(s.slice(dbl + 2));
    if (!head || !rest || head.length + rest.length > 7) return null;
    groups = [...head, ...new Array<string>(8 - head.length - rest.length).fill('0'), ...rest];
  }
  const b = new Uint8Array(16);
  groups.forEach((g, i) => {
    const v = Number.parseInt(g, 16);
    b[2 * i] = v >> 8;
    b[2 * i + 1] = v & 0xff;
  });
  if (tail) b.set(tail, 12);
  return b;
}

let crcTable: Uint32Array | undefined;

/** CRC32c (Castagnoli, reflected, as SCTP uses it, RFC 9260 appendix A) of `b[start..end)`. */
export function crc32c(b: Uint8Array, start = 0, end = b.length): number {
  if (!crcTable) {
    crcTable = new Uint32Array(256);
    for (let n = 0; n < 256; n++) {
      let c = n;
      for (let k = 0; k < 8; k++) c = c & 1 ? 0x82f63b78 ^ (c >>> 1) : c >>> 1;
      crcTable[n] = c >>> 0;
    }
  }
  let c = 0xffffffff;
  for (let i = start; i < end; i++) c = crcTable[(c ^ b[i]!) & 0xff]! ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

const put16 = (b: Uint8Array, at: number, v: number) => {
  b[at] = (v >>> 8) & 0xff;
  b[at + 1] = v & 0xff;
};
const put32 = (b: Uint8Array, at: number, v: number) => {
  b[at] = (v >>> 24) & 0xff;
  b[at + 1] = (v >>> 16) & 0xff;
  b[at + 2] = (v >>> 8) & 0xff;
  b[at + 3] = v & 0xff;
};
const pad = (n: number, to: number) => Math.ceil(n / to) * to;

/** The EtherType announcing `next`, or undefined when it cannot be told. */
function etherTypeOf(next: LayerSpec | undefined): number | undefined {
  switch (next?.type) {
    case 'ipv4':
      return 0x0800;
    case 'ipv6':
      return 0x86dd;
    case 'arp':
      return 0x0806;
    case 'mpls':
      return 0x8847;
    case 'vlan':
      return next.tpid ?? 0x8100;
    default:
      return undefined;
  }
}

/** The IP protocol / IPv6 next header announcing `next`: 59 (no next header) for nothing, undefined when it cannot be told. */
function ipProtocolOf(next: LayerSpec | undefined): number | undefined {
  switch (next?.type) {
    case undefined:
      return 59;
    case 'tcp':
      return 6;
    case 'udp':
      return 17;
    case 'icmp':
      return 1;
    case 'icmpv6':
      return 58;
    case 'sctp':
      return 132;
    case 'gre':
      return 47;
    case 'ipv4':
      return 4;
    case 'ipv6':
      return 41;
    case 'ipv6-hop-by-hop':
      return 0;
    case 'ipv6-routing':
      return 43;
    case 'ipv6-fragment':
      return 44;
    case 'ipv6-destination':
      return 60;
    case 'ipv6-ah':
      return 51;
    case 'mpls':
      return 137; // MPLS-in-IP, RFC 4023
    default:
      return undefined;
  }
}

/**
 * Builds one packet from its layers, outermost first (see the module notes for what is
 * computed, defaulted and required). The result is a new buffer.
 *
 * @example
 * ```ts
 * const frame = build([
 *   { type: 'ethernet', src: '02:00:00:00:00:01', dst: '02:00:00:00:00:02' },
 *   { type: 'ipv4', src: '10.0.0.1', dst: '10.0.0.2' },
 *   { type: 'udp', srcPort: 5000, dstPort: 53 },
 *   { type: 'payload', data: new TextEncoder().encode('hi') },
 * ]);
 * ```
 * @throws VnfError `VNF_PACKET_FORMAT` naming the layer and field that cannot be built.
 */
export function build(layers: readonly LayerSpec[]): Uint8Array {
  if (!Array.isArray(layers)) throw new VnfError('VNF_PACKET_FORMAT', 'build: layers must be an array');
  // Pass 1: every header, with what does not depend on the layout.
  const parts = layers.map((_, i) => header(layers, i));
  const offsets: number[] = [];
  let total = 0;
  for (const p of parts) {
    offsets.push(total);
    total += p.bytes.length;
  }
  const out = new Uint8Array(total);
  parts.forEach((p, i) => {
    out.set(p.bytes, offsets[i]!);
  });
  // Pass 2, innermost first: lengths and checksums, so outer checksums cover final inner bytes.
  const offsetOf = (j: number) => offsets[j]!;
  for (let i = parts.length - 1; i >= 0; i--) parts[i]!.fix?.(out, offsets[i]!, total, offsetOf);
  return out;
}

function header(layers: readonly LayerSpec[], i: number): Part {
  const l = layers[i]!;
  if (typeof l !== 'object' || l === null) throw new VnfError('VNF_PACKET_FORMAT', `build: layer ${i} is not a layer object`);
  const next = layers[i + 1];
  const w = new Where(i, String(l.type));
  // The nearest IP header around this layer (for pseudo-headers), searched outward.
  const ipAround = (): { index: number; v6: boolean } | undefined => {
    for (let j = i - 1; j >= 0; j--) {
      const t = layers[j]!.type;
      if (t === 'ipv4' || t === 'ipv6') return { index: j, v6: t === 'ipv6' };
    }
    return undefined;
  };
  switch (l.type) {
    case 'ethernet': {
      const b = new Uint8Array(14);
      b.set(w.mac('dst', l.dst), 0);
      b.set(w.mac('src', l.src), 6);
      if (l.etherType === undefined && l.length !== undefined) put16(b, 12, w.int('length', l.length, 0xffff));
      else put16(b, 12, w.int('etherType', l.etherType, 0xffff, etherTypeOf(next), nextRequired(next)));
      return { bytes: b };
    }
    case 'vlan': {
      const b = new Uint8Array(4);
      w.int('tpid', l.tpid, 0xffff, 0x8100);
      const tci = (w.int('pcp', l.pcp, 7, 0) << 13) | (l.dei ? 0x1000 : 0) | w.int('id', l.id, 0xfff, 0);
      put16(b, 0, tci);
      put16(b, 2, w.int('etherType', l.etherType, 0xffff, etherTypeOf(next), nextRequired(next)));
      return { bytes: b };
    }
    case 'mpls': {
      const b = new Uint8Array(4);
      const bottom = l.bottom ?? next?.type !== 'mpls';
      const v = w.int('label', l.label, 0xfffff, 0) * 4096 + ((w.int('tc', l.tc, 7, 0) << 9) | (bottom ? 0x100 : 0) | w.int('ttl', l.ttl, 255, 64));
      put32(b, 0, v);
      return { bytes: b };
    }
    case 'arp': {
      const b = new Uint8Array(28);
      put16(b, 0, w.int('hardwareType', l.hardwareType, 0xffff, 1));
      put16(b, 2, w.int('protocolType', l.protocolType, 0xffff, 0x0800));
      b[4] = 6;
      b[5] = 4;
      put16(b, 6, w.int('operation', l.operation, 0xffff, 1));
      b.set(w.mac('senderMac', l.senderMac), 8);
      b.set(w.ipv4('senderIp', l.senderIp), 14);
      b.set(w.mac('targetMac', l.targetMac), 18);
      b.set(w.ipv4('targetIp', l.targetIp), 24);
      return { bytes: b };
    }
    case 'ipv4':
      return ipv4(l, next, w);
    case 'ipv6': {
      const b = new Uint8Array(40);
      const first = (6 * 2 ** 28 + w.int('trafficClass', l.trafficClass, 255, 0) * 2 ** 20 + w.int('flowLabel', l.flowLabel, 0xfffff, 0)) >>> 0;
      put32(b, 0, first);
      const plen = l.payloadLength === undefined ? undefined : w.int('payloadLength', l.payloadLength, 0xffff);
      b[6] = nextProto(w, 'nextHeader', l.nextHeader, next);
      b[7] = w.int('hopLimit', l.hopLimit, 255, 64);
      b.set(w.ipv6('src', l.src), 8);
      b.set(w.ipv6('dst', l.dst), 24);
      return {
        bytes: b,
        fix: (out, at, end) => {
          const n = plen ?? end - at - 40;
          if (n > 0xffff) w.fail('payloadLength', `${n} bytes do not fit (jumbograms are not built)`);
          put16(out, at + 4, n);
        },
      };
    }
    case 'ipv6-hop-by-hop':
    case 'ipv6-routing':
    case 'ipv6-destination':
    case 'ipv6-ah': {
      const ah = l.type === 'ipv6-ah';
      const data = w.bytes('data', l.data);
      const unit = ah ? 4 : 8;
      const length = w.int('length', l.length, ah ? 1028 : 2048, Math.max(ah ? 16 : 8, pad(2 + data.length, 8)));
      if (length % unit !== 0 || length < 8) w.fail('length', `${length} is not a multiple of ${unit} of at least 8`);
      if (2 + data.length > length) w.fail('data', `${data.length} bytes do not fit in a ${length}-byte header`);
      const b = new Uint8Array(length);
      b[0] = nextProto(w, 'nextHeader', l.nextHeader, next);
      b[1] = ah ? length / 4 - 2 : length / 8 - 1;
      b.set(data, 2);
      return { bytes: b };
    }
    case 'ipv6-fragment': {
      const b = new Uint8Array(8);
      b[0] = nextProto(w, 'nextHeader', l.nextHeader, next);
      const off = w.int('fragmentOffset', l.fragmentOffset, 0xfff8, 0);
      if (off % 8 !== 0) w.fail('fragmentOffset', `${off} is not a multiple of 8`);
      put16(b, 2, off | (l.moreFragments ? 1 : 0));
      put32(b, 4, w.int('id', l.id, 0xffffffff, 0));
      return { bytes: b };
    }
    case 'tcp':
      return tcp(l, w, ipAround(), layers);
    case 'udp': {
      const b = new Uint8Array(8);
      const tunnel = next ? TUNNEL_PORTS[next.type] : undefined;
      put16(b, 0, w.int('srcPort', l.srcPort, 0xffff, tunnel));
      put16(b, 2, w.int('dstPort', l.dstPort, 0xffff, tunnel));
      const len = l.length === undefined ? undefined : w.int('length', l.length, 0xffff);
      const ck = l.checksum === undefined ? undefined : w.int('checksum', l.checksum, 0xffff);
      const ip = ipAround();
      if (!ip && ck === undefined) w.fail('checksum', 'UDP outside an IP header: give the checksum');
      return {
        bytes: b,
        fix: (out, at, end, offsetOf) => {
          const n = len ?? end - at;
          if (n > 0xffff) w.fail('length', `${n} bytes do not fit`);
          put16(out, at + 4, n);
          if (ck !== undefined) return put16(out, at + 6, ck);
          // Over the datagram as long as its length field says (what receivers check).
          const covered = Math.min(n, end - at);
          const l3 = offsetOf(ip!.index);
          const pseudo = ip!.v6 ? pseudoV6(out, layers, ip!.index, i, offsetOf, 17, n) : pseudoV4(out, l3, 17, n);
          put16(out, at + 6, checksum(out, at, at + covered, pseudo) || 0xffff);
        },
      };
    }
    case 'icmp':
    case 'icmpv6': {
      const v6 = l.type === 'icmpv6';
      const b = new Uint8Array(8);
      b[0] = w.int('icmpType', l.icmpType, 255, v6 ? 128 : 8);
      b[1] = w.int('code', l.code, 255, 0);
      put32(b, 4, w.int('rest', l.rest, 0xffffffff, 0));
      const ck = l.checksum === undefined ? undefined : w.int('checksum', l.checksum, 0xffff);
      const ip = ipAround();
      if (v6 && ck === undefined && !ip?.v6) w.fail('checksum', 'ICMPv6 needs an IPv6 header around it for its checksum: give the checksum');
      return {
        bytes: b,
        fix: (out, at, end, offsetOf) => {
          if (ck !== undefined) return put16(out, at + 2, ck);
          const pseudo = v6 ? pseudoV6(out, layers, ip!.index, i, offsetOf, 58, end - at) : 0;
          put16(out, at + 2, checksum(out, at, end, pseudo));
        },
      };
    }
    case 'sctp': {
      const b = new Uint8Array(12);
      put16(b, 0, w.int('srcPort', l.srcPort, 0xffff));
      put16(b, 2, w.int('dstPort', l.dstPort, 0xffff));
      put32(b, 4, w.int('verificationTag', l.verificationTag, 0xffffffff, 0));
      const ck = l.checksum === undefined ? undefined : w.int('checksum', l.checksum, 0xffffffff);
      return {
        bytes: b,
        fix: (out, at, end) => {
          if (ck !== undefined) return put32(out, at + 8, ck);
          const c = crc32c(out, at, end);
          // The CRC goes on the wire least significant byte first (RFC 9260 appendix A).
          out[at + 8] = c & 0xff;
          out[at + 9] = (c >>> 8) & 0xff;
          out[at + 10] = (c >>> 16) & 0xff;
          out[at + 11] = c >>> 24;
        },
      };
    }
    case 'gre': {
      const csumPresent = l.checksumPresent ?? l.checksum !== undefined;
      const keyPresent = l.keyPresent ?? l.key !== undefined;
      const seqPresent = l.sequencePresent ?? l.sequence !== undefined;
      const b = new Uint8Array(4 + (csumPresent ? 4 : 0) + (keyPresent ? 4 : 0) + (seqPresent ? 4 : 0));
      b[0] = (csumPresent ? 0x80 : 0) | (keyPresent ? 0x20 : 0) | (seqPresent ? 0x10 : 0);
      b[1] = w.int('version', l.version, 7, 0);
      const proto = next?.type === 'ethernet' ? 0x6558 : etherTypeOf(next);
      put16(b, 2, w.int('protocol', l.protocol, 0xffff, proto, nextRequired(next)));
      let p = csumPresent ? 8 : 4;
      if (keyPresent) {
        put32(b, p, w.int('key', l.key, 0xffffffff, 0));
        p += 4;
      }
      if (seqPresent) put32(b, p, w.int('sequence', l.sequence, 0xffffffff, 0));
      const ck = l.checksum === undefined ? undefined : w.int('checksum', l.checksum, 0xffff);
      return {
        bytes: b,
        fix: csumPresent ? (out, at, end) => put16(out, at + 4, ck ?? checksum(out, at, end)) : undefined,
      };
    }
    case 'geneve': {
      const options = w.bytes('options', l.options);
      const optionsLength = w.int('optionsLength', l.optionsLength, 252, pad(options.length, 4));
      if (optionsLength % 4 !== 0) w.fail('optionsLength', `${optionsLength} is not a multiple of 4`);
      if (options.length > 252) w.fail('options', `${options.length} bytes are more than 252`);
      const b = new Uint8Array(8 + pad(options.length, 4));
      b[0] = (w.int('version', l.version, 3, 0) << 6) | (optionsLength / 4);
      put16(b, 2, w.int('protocol', l.protocol, 0xffff, next?.type === 'ethernet' ? 0x6558 : etherTypeOf(next), nextRequired(next)));
      put32(b, 4, w.int('vni', l.vni, 0xffffff, 0) * 256);
      b.set(options, 8);
      return { bytes: b };
    }
    case 'vxlan': {
      const b = new Uint8Array(8);
      b[0] = w.int('flags', l.flags, 255, 0x08);
      put32(b, 4, w.int('vni', l.vni, 0xffffff, 0) * 256);
      return { bytes: b };
    }
    case 'gtpu':
      return gtpu(l, w);
    case 'payload':
      return { bytes: w.bytes('data', l.data).slice() };
    default:
      return w.fail('type', `unknown layer type ${JSON.stringify((l as { type: unknown }).type)}`);
  }
}

const nextRequired = (next: LayerSpec | undefined) => `is required: ${next ? `a ${next.type} layer` : 'nothing'} follows, which does not say what to put`;

/** UDP ports of tunnels, used for both ports when omitted. */
const TUNNEL_PORTS: Partial<Record<string, number>> = { vxlan: 4789, gtpu: 2152, geneve: 6081, gre: 4754, mpls: 6635 };

/**
 * The unfolded IPv6 pseudo-header sum (RFC 8200 8.1) for the upper layer `self` under the
 * IPv6 header `ipIndex`. With a Routing header that has segments left, the destination is
 * the final one, found as {@link decode} finds it: the last address of a type 0 header,
 * segment 0 of a segment routing (type 4) header.
 */
function pseudoV6(out: Uint8Array, layers: readonly LayerSpec[], ipIndex: number, self: number, offsetOf: (j: number) => number, proto: number, length: number): number {
  const l3 = offsetOf(ipIndex);
  let dstAt = l3 + 24;
  for (let j = ipIndex + 1; j < self; j++) {
    if (layers[j]!.type !== 'ipv6-routing') continue;
    const p = offsetOf(j);
    const len = (out[p + 1]! + 1) * 8;
    if (out[p + 3] === 0 || len < 24) continue;
    if (out[p + 2] === 0) dstAt = p + len - 16;
    if (out[p + 2] === 4) dstAt = p + 8;
  }
  return onesSum(out, l3 + 8, l3 + 24) + onesSum(out, dstAt, dstAt + 16) + (length >>> 16) + (length & 0xffff) + proto;
}

/** A next-protocol byte: given, or from the next layer. */
function nextProto(w: Where, field: string, given: number | undefined, next: LayerSpec | undefined): number {
  return w.int(field, given, 255, ipProtocolOf(next), nextRequired(next));
}

function ipv4(l: Ipv4Spec, next: LayerSpec | undefined, w: Where): Part {
  const options = w.bytes('options', l.options);
  if (options.length > 40) w.fail('options', `${options.length} bytes are more than 40`);
  const hlen = 20 + pad(options.length, 4);
  const b = new Uint8Array(hlen);
  b[0] = 0x40 | w.int('ihl', l.ihl, 15, hlen / 4);
  b[1] = (w.int('dscp', l.dscp, 63, 0) << 2) | w.int('ecn', l.ecn, 3, 0);
  const total = l.totalLength === undefined ? undefined : w.int('totalLength', l.totalLength, 0xffff);
  put16(b, 4, w.int('id', l.id, 0xffff, 0));
  const off = w.int('fragmentOffset', l.fragmentOffset, 0xfff8, 0);
  if (off % 8 !== 0) w.fail('fragmentOffset', `${off} is not a multiple of 8`);
  put16(b, 6, (l.dontFragment ? 0x4000 : 0) | (l.moreFragments ? 0x2000 : 0) | (off / 8));
  b[8] = w.int('ttl', l.ttl, 255, 64);
  const proto = ipProtocolOf(next);
  b[9] = w.int('protocol', l.protocol, 255, proto, nextRequired(next));
  b.set(w.ipv4('src', l.src), 12);
  b.set(w.ipv4('dst', l.dst), 16);
  b.set(options, 20);
  const ck = l.checksum === undefined ? undefined : w.int('checksum', l.checksum, 0xffff);
  return {
    bytes: b,
    fix: (out, at, end) => {
      const n = total ?? end - at;
      if (n > 0xffff) w.fail('totalLength', `${n} bytes do not fit`);
      put16(out, at + 2, n);
      put16(out, at + 10, ck ?? checksum(out, at, at + hlen));
    },
  };
}

function tcp(l: TcpSpec, w: Where, ip: { index: number; v6: boolean } | undefined, layers: readonly LayerSpec[]): Part {
  const opts: number[] = [];
  for (const [k, o] of (l.options ?? []).entries()) {
    const kind = w.int(`options[${k}].kind`, o.kind, 255);
    const data = w.bytes(`options[${k}].data`, o.data);
    if (kind <= 1) {
      if (data.length > 0) w.fail(`options[${k}].data`, `option kind ${kind} is one byte and has no data`);
      opts.push(kind);
    } else {
      if (data.length > 38) w.fail(`options[${k}].data`, `${data.length} bytes do not fit`);
      opts.push(kind, data.length + 2, ...data);
    }
  }
  if (opts.length > 40) w.fail('options', `${opts.length} bytes are more than 40`);
  const hlen = 20 + pad(opts.length, 4);
  const b = new Uint8Array(hlen);
  put16(b, 0, w.int('srcPort', l.srcPort, 0xffff));
  put16(b, 2, w.int('dstPort', l.dstPort, 0xffff));
  put32(b, 4, w.int('seq', l.seq, 0xffffffff, 0));
  put32(b, 8, w.int('ack', l.ack, 0xffffffff, 0));
  const flags = w.int('flags', l.flags, 0x1ff, 0x02);
  b[12] = (w.int('dataOffset', l.dataOffset, 15, hlen / 4) << 4) | (flags >> 8);
  b[13] = flags & 0xff;
  put16(b, 14, w.int('window', l.window, 0xffff, 65535));
  put16(b, 18, w.int('urgentPointer', l.urgentPointer, 0xffff, 0));
  b.set(opts, 20);
  const ck = l.checksum === undefined ? undefined : w.int('checksum', l.checksum, 0xffff);
  if (!ip && ck === undefined) w.fail('checksum', 'TCP outside an IP header: give the checksum');
  return {
    bytes: b,
    fix: (out, at, end, offsetOf) => {
      if (ck !== undefined) return put16(out, at + 16, ck);
      const l3 = offsetOf(ip!.index);
      const pseudo = ip!.v6 ? pseudoV6(out, layers, ip!.index, w.index, offsetOf, 6, end - at) : pseudoV4(out, l3, 6, end - at);
      put16(out, at + 16, checksum(out, at, end, pseudo));
    },
  };
}

function gtpu(l: GtpuSpec, w: Where): Part {
  const exts = (l.extensions ?? []).map((e, k) => {
    const type = w.int(`extensions[${k}].type`, typeof e === 'number' ? e : e.type, 255);
    if (type === 0) w.fail(`extensions[${k}].type`, '0 means "no more extension headers"');
    const content = typeof e === 'number' ? new Uint8Array(2) : w.bytes(`extensions[${k}].content`, e.content);
    const len = pad(content.length + 2, 4);
    if (len > 255 * 4) w.fail(`extensions[${k}].content`, `${content.length} bytes do not fit`);
    return { type, content, len };
  });
  const seq = l.sequence === undefined ? undefined : w.int('sequence', l.sequence, 0xffff);
  const optional = seq !== undefined || exts.length > 0;
  const size = 8 + (optional ? 4 : 0) + exts.reduce((s, e) => s + e.len, 0);
  const b = new Uint8Array(size);
  b[0] = (w.int('version', l.version, 7, 1) << 5) | 0x10 | (exts.length > 0 ? 4 : 0) | (seq !== undefined ? 2 : 0);
  b[1] = w.int('messageType', l.messageType, 255, 255);
  put32(b, 4, w.int('teid', l.teid, 0xffffffff, 0));
  if (optional) {
    put16(b, 8, seq ?? 0);
    b[11] = exts[0]?.type ?? 0;
  }
  let p = 12;
  exts.forEach((e, k) => {
    b[p] = e.len / 4;
    b.set(e.content, p + 1);
    b[p + e.len - 1] = exts[k + 1]?.type ?? 0;
    p += e.len;
  });
  const len = l.length === undefined ? undefined : w.int('length', l.length, 0xffff);
  return {
    bytes: b,
    fix: (out, at, end) => {
      const n = len ?? end - at - 8;
      if (n > 0xffff) w.fail('length', `${n} bytes do not fit`);
      put16(out, at + 2, n);
    },
  };
}
