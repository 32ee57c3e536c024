// The friendly path: one packet to plain objects, a layer at a time. For tools, tests and
// control-plane code; the data path uses BurstParser and PacketFields instead.
import { LINKTYPE } from './capture/linktype.js';
import { ipv4HeaderOk, l4Ok } from './checksum.js';

export interface EthernetLayer {
  type: 'ethernet';
  dst: string;
  src: string;
  /** Ethernet II type; absent for an IEEE 802.3 frame, which has `length` instead. */
  etherType?: number;
  length?: number;
}
export interface VlanLayer {
  type: 'vlan';
  /** The EtherType that announced this tag: 0x8100 (802.1Q) or 0x88a8 / 0x9100 (QinQ). */
  tpid: number;
  pcp: number;
  dei: boolean;
  id: number;
  etherType: number;
}
export interface MplsLayer {
  type: 'mpls';
  label: number;
  tc: number;
  bottom: boolean;
  ttl: number;
}
/** PPP (link type 9, or inside PPTP's GRE); protocol is a PPP protocol number. */
export interface PppLayer {
  type: 'ppp';
  protocol: number;
}
/** Linux cooked capture header (SLL or SLL2); protocol is an EtherType. */
export interface CookedLayer {
  type: 'linux-sll';
  packetType: number;
  protocol: number;
}
export interface ArpLayer {
  type: 'arp';
  hardwareType: number;
  protocolType: number;
  operation: number;
  senderMac: string;
  senderIp: string;
  targetMac: string;
  targetIp: string;
}
export interface Ipv4Layer {
  type: 'ipv4';
  ihl: number;
  dscp: number;
  ecn: number;
  totalLength: number;
  id: number;
  dontFragment: boolean;
  moreFragments: boolean;
  /** In bytes. */
  fragmentOffset: number;
  ttl: number;
  protocol: number;
  checksum: number;
  checksumValid: boolean;
  src: string;
  dst: string;
  options: Uint8Array;
}
export interface Ipv6Layer {
  type: 'ipv6';
  trafficClass: number;
  flowLabel: number;
  payloadLength: number;
  nextHeader: number;
  hopLimit: number;
  src: string;
  dst: string;
}
export interface Ipv6ExtensionLayer {
  type: 'ipv6-hop-by-hop' | 'ipv6-routing' | 'ipv6-destination' | 'ipv6-ah';
  nextHeader: number;
  /** Whole header in bytes. */
  length: number;
}
export interface Ipv6FragmentLayer {
  type: 'ipv6-fragment';
  nextHeader: number;
  /** In bytes. */
  fragmentOffset: number;
  moreFragments: boolean;
  id: number;
}
export interface TcpOption {
  kind: number;
  data: Uint8Array;
}
export interface TcpLayer {
  type: 'tcp';
  srcPort: number;
  dstPort: number;
  seq: number;
  ack: number;
  dataOffset: number;
  /**
   * The 12 flag bits: FIN 0x01, SYN 0x02, RST 0x04, PSH 0x08, ACK 0x10, URG 0x20, ECE 0x40,
   * CWR 0x80, AE (formerly NS) 0x100, and the three reserved bits 0x200-0x800.
   */
  flags: number;
  window: number;
  checksum: number;
  /** Null when the packet is a fragment and the checksum cannot be verified. */
  checksumValid: boolean | null;
  urgentPointer: number;
  options: TcpOption[];
}
export interface UdpLayer {
  type: 'udp';
  srcPort: number;
  dstPort: number;
  length: number;
  checksum: number;
  /** Null for checksum 0 over IPv4 ("none") or when the packet is a fragment. */
  checksumValid: boolean | null;
}
export interface IcmpLayer {
  type: 'icmp' | 'icmpv6';
  icmpType: number;
  code: number;
  checksum: number;
  checksumValid: boolean | null;
  /** The 4 bytes after the checksum (echo id and sequence, MTU, pointer, ...). */
  rest: number;
}
export interface SctpLayer {
  type: 'sctp';
  srcPort: number;
  dstPort: number;
  verificationTag: number;
  checksum: number;
}
export interface GreLayer {
  type: 'gre';
  checksumPresent: boolean;
  keyPresent: boolean;
  sequencePresent: boolean;
  version: number;
  protocol: number;
  key?: number;
  sequence?: number;
}
export interface GeneveLayer {
  type: 'geneve';
  version: number;
  /** Bytes of options. */
  optionsLength: number;
  protocol: number;
  vni: number;
}
export interface VxlanLayer {
  type: 'vxlan';
  flags: number;
  vni: number;
}
export interface GtpuLayer {
  type: 'gtpu';
  version: number;
  messageType: number;
  length: number;
  teid: number;
  sequence?: number;
  /** Extension header types, in order. */
  extensions: number[];
}
export interface PayloadLayer {
  type: 'payload';
  data: Uint8Array;
}

export type Layer =
  | EthernetLayer
  | VlanLayer
  | MplsLayer
  | CookedLayer
  | PppLayer
  | ArpLayer
  | Ipv4Layer
  | Ipv6Layer
  | Ipv6ExtensionLayer
  | Ipv6FragmentLayer
  | TcpLayer
  | UdpLayer
  | IcmpLayer
  | SctpLayer
  | GreLayer
  | VxlanLayer
  | GeneveLayer
  | GtpuLayer
  | PayloadLayer;

/**
 * What was wrong with a packet, in which layer, at which byte. Decoding stops at a header
 * that is cut short; a length field that claims more bytes than are present (a truncated
 * capture, or a lie) is reported and decoding goes on with the bytes that are there, as
 * Wireshark does.
 */
export interface DecodeError {
  layer: string;
  offset: number;
  reason: string;
}

export interface Decoded {
  /** Every layer that could be decoded. */
  layers: Layer[];
  /** The first problem found, when the packet is malformed or truncated. */
  error?: DecodeError;
}

/**
 * Decodes one packet into its layers, outermost first. Never throws on packet contents:
 * a malformed packet gives the layers before the problem and an `error` naming it.
 * `linkType` is a pcap link type (Ethernet, raw IP, Linux cooked v1/v2, BSD loopback).
 */
export function decode(bytes: Uint8Array, linkType: number = LINKTYPE.ETHERNET): Decoded {
  const d = new Decoder(bytes);
  try {
    d.link(linkType);
  } catch (e) {
    if (!(e instanceof Stop)) throw e;
    d.note(e.layer, e.offset, e.reason);
  }
  const out: Decoded = { layers: d.layers };
  if (d.error) out.error = d.error;
  return out;
}

/** First layer of a given type, typed. */
export function findLayer<T extends Layer['type']>(decoded: Decoded, type: T, nth = 0): Extract<Layer, { type: T }> | undefined {
  let seen = 0;
  for (const l of decoded.layers) if (l.type === type && seen++ === nth) return l as Extract<Layer, { type: T }>;
  return undefined;
}

class Stop {
  constructor(
    readonly layer: string,
    readonly offset: number,
    readonly reason: string,
  ) {}
}

const hex2 = (v: number) => v.toString(16).padStart(2, '0');

/** Formats 6 bytes as aa:bb:cc:dd:ee:ff. */
export function formatMac(b: Uint8Array, at: number): string {
  return [0, 1, 2, 3, 4, 5].map((i) => hex2(b[at + i])).join(':');
}

/** Formats 4 bytes as a dotted quad. */
export function formatIpv4(b: Uint8Array, at: number): string {
  return `${b[at]}.${b[at + 1]}.${b[at + 2]}.${b[at + 3]}`;
}

/** Formats 16 bytes as an IPv6 address, RFC 5952 (lowercase, longest zero run as ::). */
export function formatIpv6(b: Uint8Array, at: number): string {
  const words: number[] = [];
  for (let i = 0; i < 8; i++) words.push((b[at + 2 * i] << 8) | b[at + 2 * i + 1]);
  let bestStart = -1;
  let bestLen = 1; // a single zero word is not compressed
  for (let i = 0; i < 8; ) {
    if (words[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && words[j] === 0) j++;
    if (j - i > bestLen) {
      bestStart = i;
      bestLen = j - i;
    }
    i = j;
  }
  const hex = words.map((w) => w.toString(16));
  // IPv4-mapped addresses print their last 32 bits as a dotted quad, as inet_ntop does.
  if (bestStart === 0 && bestLen === 5 && words[5] === 0xffff) return `::ffff:${formatIpv4(b, at + 12)}`;
  if (bestStart < 0) return hex.join(':');
  return `${hex.slice(0, bestStart).join(':')}::${hex.slice(bestStart + bestLen).join(':')}`;
}

const ETHERTYPE_TPIDS = new Set([0x8100, 0x88a8, 0x9100]);

class Decoder {
  layers: Layer[] = [];
  error?: DecodeError;
  private tunnelled = false;

  constructor(private readonly b: Uint8Array) {}

  /** Records a problem (the first one wins) without stopping. */
  note(layer: string, offset: number, reason: string): void {
    if (!this.error) this.error = { layer, offset, reason };
  }

  private u16(at: number): number {
    return (this.b[at] << 8) | this.b[at + 1];
  }
  private u32(at: number): number {
    return ((this.b[at] << 24) | (this.b[at + 1] << 16) | (this.b[at + 2] << 8) | this.b[at + 3]) >>> 0;
  }
  private need(layer: string, at: number, n: number, end = this.b.length): void {
    if (at + n > end) throw new Stop(layer, at, `truncated ${layer} header: needs ${n} bytes, ${Math.max(0, end - at)} left`);
  }
  private payload(at: number, end = this.b.length): void {
    if (at < end) this.layers.push({ type: 'payload', data: this.b.subarray(at, end) });
  }

  link(linkType: number): void {
    const b = this.b;
    switch (linkType) {
      case LINKTYPE.ETHERNET:
        return this.ethernet(0);
      case LINKTYPE.RAW:
      case LINKTYPE.IPV4:
      case LINKTYPE.IPV6:
        return this.ipByVersion(0, b.length);
      case LINKTYPE.LINUX_SLL:
        this.need('linux-sll', 0, 16);
        this.layers.push({ type: 'linux-sll', packetType: this.u16(0), protocol: this.u16(14) });
        return this.etherType(this.u16(14), 16, b.length);
      case LINKTYPE.LINUX_SLL2:
        this.need('linux-sll', 0, 20);
        this.layers.push({ type: 'linux-sll', packetType: b[10], protocol: this.u16(0) });
        return this.etherType(this.u16(0), 20, b.length);
      case 9: // PPP
        return this.ppp(0, b.length);
      case LINKTYPE.NULL: {
        this.need('loopback', 0, 4);
        // The family is in the capturing host's byte order: 2 is IPv4; 24, 28, 30 are IPv6.
        return this.ipByVersion(4, b.length);
      }
      default:
        throw new Stop('link', 0, `link type ${linkType} is not decoded`);
    }
  }

  private ethernet(at: number, end = this.b.length): void {
    this.need('ethernet', at, 14, end);
    const typeOrLength = this.u16(at + 12);
    const dst = formatMac(this.b, at);
    const src = formatMac(this.b, at + 6);
    // Values up to 1500 are an IEEE 802.3 length (an LLC frame follows), not an EtherType.
    if (typeOrLength <= 1500) {
      this.layers.push({ type: 'ethernet', dst, src, length: typeOrLength });
      return this.payload(at + 14, end);
    }
    this.layers.push({ type: 'ethernet', dst, src, etherType: typeOrLength });
    this.etherType(typeOrLength, at + 14, end);
  }

  private ppp(at: number, end: number): void {
    // Address and control (0xff 0x03) may be present or compressed away.
    if (at + 2 <= end && this.b[at] === 0xff && this.b[at + 1] === 0x03) at += 2;
    this.need('ppp', at, 2, end);
    const protocol = this.u16(at);
    this.layers.push({ type: 'ppp', protocol });
    at += 2;
    if (protocol === 0x0021) return this.ipv4(at, end);
    if (protocol === 0x0057) return this.ipv6(at, end);
    if (protocol === 0x0281 || protocol === 0x0283) return this.mpls(at, end);
    this.payload(at, end);
  }

  private etherType(type: number, at: number, end: number): void {
    let tags = 0;
    while (ETHERTYPE_TPIDS.has(type)) {
      if (++tags > 8) throw new Stop('vlan', at, 'more than 8 VLAN tags');
      this.need('vlan', at, 4, end);
      const tci = this.u16(at);
      const next = this.u16(at + 2);
      this.layers.push({ type: 'vlan', tpid: type, pcp: tci >> 13, dei: (tci & 0x1000) !== 0, id: tci & 0xfff, etherType: next });
      type = next;
      at += 4;
    }
    switch (type) {
      case 0x0800:
        return this.ipv4(at, end);
      case 0x86dd:
        return this.ipv6(at, end);
      case 0x0806:
        return this.arp(at, end);
      case 0x8847:
      case 0x8848:
        return this.mpls(at, end);
      default:
        return this.payload(at, end);
    }
  }

  private mpls(at: number, end: number): void {
    for (let labels = 0; ; labels++) {
      if (labels >= 8) throw new Stop('mpls', at, 'more than 8 MPLS labels');
      this.need('mpls', at, 4, end);
      const v = this.u32(at);
      const bottom = (v & 0x100) !== 0;
      this.layers.push({ type: 'mpls', label: v >>> 12, tc: (v >> 9) & 7, bottom, ttl: v & 0xff });
      at += 4;
      if (bottom) break;
    }
    this.ipByVersion(at, end);
  }

  private ipByVersion(at: number, end: number): void {
    if (at >= end) return;
    const v = this.b[at] >> 4;
    if (v === 4) return this.ipv4(at, end);
    if (v === 6) return this.ipv6(at, end);
    this.payload(at, end);
  }

  private arp(at: number, end: number): void {
    this.need('arp', at, 28, end);
    const b = this.b;
    this.layers.push({
      type: 'arp',
      hardwareType: this.u16(at),
      protocolType: this.u16(at + 2),
      operation: this.u16(at + 6),
      senderMac: formatMac(b, at + 8),
      senderIp: formatIpv4(b, at + 14),
      targetMac: formatMac(b, at + 18),
      targetIp: formatIpv4(b, at + 24),
    });
  }

  private ipv4(at: number, end: number): void {
    const b = this.b;
    this.need('ipv4', at, 20, end);
    if (b[at] >> 4 !== 4) throw new Stop('ipv4', at, `IP version ${b[at] >> 4} in an IPv4 header`);
    const ihl = (b[at] & 15) * 4;
    if (ihl < 20) throw new Stop('ipv4', at, `bad IHL ${ihl / 4} (under 5)`);
    this.need('ipv4', at, ihl, end);
    let total = this.u16(at + 2);
    if (total === 0) {
      // Segmentation offload hands captures IPv4 packets with length 0: take what is there.
      this.note('ipv4', at, 'total length 0 (segmentation offload?)');
      total = end - at;
    }
    if (total < ihl) throw new Stop('ipv4', at, `bad total length ${total} (under the header's ${ihl})`);
    const stop = Math.min(at + total, end);
    const frag = this.u16(at + 6);
    const layer: Ipv4Layer = {
      type: 'ipv4',
      ihl: ihl / 4,
      dscp: b[at + 1] >> 2,
      ecn: b[at + 1] & 3,
      totalLength: total,
      id: this.u16(at + 4),
      dontFragment: (frag & 0x4000) !== 0,
      moreFragments: (frag & 0x2000) !== 0,
      fragmentOffset: (frag & 0x1fff) * 8,
      ttl: b[at + 8],
      protocol: b[at + 9],
      checksum: this.u16(at + 10),
      checksumValid: ipv4HeaderOk(b, at),
      src: formatIpv4(b, at + 12),
      dst: formatIpv4(b, at + 16),
      options: b.subarray(at + 20, at + ihl),
    };
    this.layers.push(layer);
    if (at + total > end) this.note('ipv4', at, `total length ${total} but ${end - at} bytes present`);
    const fragment = layer.moreFragments || layer.fragmentOffset !== 0;
    if (layer.fragmentOffset !== 0) return this.payload(at + ihl, stop);
    // A truncated packet's checksum cannot be verified either.
    this.transport(layer.protocol, at, at + ihl, stop, false, fragment || stop < at + total);
  }

  private ipv6(at: number, end: number): void {
    const b = this.b;
    this.need('ipv6', at, 40, end);
    if (b[at] >> 4 !== 6) throw new Stop('ipv6', at, `IP version ${b[at] >> 4} in an IPv6 header`);
    const plen = this.u16(at + 4);
    const claimed = plen === 0 ? end : at + 40 + plen;
    const stop = Math.min(claimed, end);
    const first = (b[at] << 24) | (b[at + 1] << 16) | (b[at + 2] << 8) | b[at + 3];
    let next = b[at + 6];
    this.layers.push({
      type: 'ipv6',
      trafficClass: (first >>> 20) & 0xff,
      flowLabel: first & 0xfffff,
      payloadLength: plen,
      nextHeader: next,
      hopLimit: b[at + 7],
      src: formatIpv6(b, at + 8),
      dst: formatIpv6(b, at + 24),
    });
    if (claimed > end) this.note('ipv6', at, `payload length ${plen} but ${end - at - 40} bytes present`);
    let p = at + 40;
    let fragment = claimed > end; // truncated: checksums cannot be verified
    let dstAt = at + 24;
    for (let n = 0; ; n++) {
      if (n > 8) throw new Stop('ipv6', p, 'more than 8 extension headers');
      if (next === 44) {
        this.need('ipv6-fragment', p, 8, stop);
        const off = this.u16(p + 2);
        const layer: Ipv6FragmentLayer = { type: 'ipv6-fragment', nextHeader: b[p], fragmentOffset: off & 0xfff8, moreFragments: (off & 1) !== 0, id: this.u32(p + 4) };
        this.layers.push(layer);
        next = b[p];
        p += 8;
        // An atomic fragment (offset 0, no more) holds the whole packet (RFC 6946).
        if (layer.fragmentOffset !== 0 || layer.moreFragments) fragment = true;
        if (layer.fragmentOffset !== 0) return this.payload(p, stop);
        continue;
      }
      const kind = next === 0 ? 'ipv6-hop-by-hop' : next === 43 ? 'ipv6-routing' : next === 60 ? 'ipv6-destination' : next === 51 ? 'ipv6-ah' : null;
      if (kind === null) break;
      this.need(kind, p, 8, stop);
      const len = next === 51 ? (b[p + 1] + 2) * 4 : (b[p + 1] + 1) * 8;
      this.need(kind, p, len, stop);
      this.layers.push({ type: kind, nextHeader: b[p], length: len });
      if (kind === 'ipv6-routing' && b[p + 3] > 0) {
        // Segments left: the pseudo-header's destination is the last hop. Type 0 lists the
        // addresses in order (the final one last); segment routing (type 4) keeps the final
        // destination as segment 0.
        const routingType = b[p + 2];
        if (routingType === 0 && len >= 24) dstAt = p + len - 16;
        if (routingType === 4 && len >= 24) dstAt = p + 8;
      }
      next = b[p];
      p += len;
    }
    this.transport(next, at, p, stop, true, fragment, dstAt);
  }

  // `fragment`: only part of the layer-4 data is here (an IP fragment, a truncated capture),
  // so its checksum cannot be verified.
  private transport(proto: number, l3: number, at: number, end: number, v6: boolean, fragment: boolean, dstAt = l3 + 24): void {
    const b = this.b;
    switch (proto) {
      case 6: {
        this.need('tcp', at, 20, end);
        const doff = (b[at + 12] >> 4) * 4;
        if (doff < 20) throw new Stop('tcp', at, `bad data offset ${doff / 4} (under 5)`);
        // Options cut short (a first fragment, a truncated capture): the fixed header is
        // still worth reporting.
        const optEnd = Math.min(at + doff, end);
        if (at + doff > end) {
          this.note('tcp', at, `data offset ${doff / 4} but ${end - at} bytes present`);
          fragment = true;
        }
        const options: TcpOption[] = [];
        for (let o = at + 20; o < optEnd; ) {
          const kind = b[o];
          if (kind === 0) break; // end of options
          if (kind === 1) {
            o++; // no-op padding
            continue;
          }
          const len = o + 1 < optEnd ? b[o + 1] : 0;
          if (len < 2 || o + len > optEnd) {
            this.note('tcp', o, `bad length ${len} of TCP option ${kind}`);
            break;
          }
          options.push({ kind, data: b.subarray(o + 2, o + len) });
          o += len;
        }
        this.layers.push({
          type: 'tcp',
          srcPort: this.u16(at),
          dstPort: this.u16(at + 2),
          seq: this.u32(at + 4),
          ack: this.u32(at + 8),
          dataOffset: doff / 4,
          flags: ((b[at + 12] & 0x0f) << 8) | b[at + 13],
          window: this.u16(at + 14),
          checksum: this.u16(at + 16),
          checksumValid: fragment ? null : l4Ok(b, l3, at, end, v6, proto, dstAt),
          urgentPointer: this.u16(at + 18),
          options,
        });
        return this.payload(optEnd, end);
      }
      case 17: {
        this.need('udp', at, 8, end);
        let len = this.u16(at + 4);
        if (len < 8) throw new Stop('udp', at, `bad length ${len} (under 8)`);
        if (at + len > end) {
          // A first fragment or a truncated capture holds part of the datagram.
          if (!fragment) this.note('udp', at, `length ${len} but ${end - at} bytes present`);
          len = end - at;
          fragment = true;
        }
        const checksum = this.u16(at + 6);
        this.layers.push({
          type: 'udp',
          srcPort: this.u16(at),
          dstPort: this.u16(at + 2),
          length: this.u16(at + 4),
          checksum,
          checksumValid: fragment || (checksum === 0 && !v6) ? null : l4Ok(b, l3, at, at + len, v6, proto, dstAt),
        });
        const dport = this.u16(at + 2);
        if (!this.tunnelled && dport === 4789) return this.vxlan(at + 8, at + len);
        if (!this.tunnelled && dport === 2152) return this.gtpu(at + 8, at + len);
        if (!this.tunnelled && dport === 6081) return this.geneve(at + 8, at + len);
        if (!this.tunnelled && dport === 4754) return this.gre(at + 8, at + len); // GRE-in-UDP, RFC 8086
        if (!this.tunnelled && dport === 6635) {
          this.tunnelled = true; // MPLS-in-UDP, RFC 7510
          return this.mpls(at + 8, at + len);
        }
        return this.payload(at + 8, at + len);
      }
      case 1:
      case 58: {
        const type = proto === 1 ? 'icmp' : 'icmpv6';
        this.need(type, at, 4, end);
        this.layers.push({
          type,
          icmpType: b[at],
          code: b[at + 1],
          checksum: this.u16(at + 2),
          checksumValid: fragment ? null : l4Ok(b, l3, at, end, v6, proto, dstAt),
          rest: at + 8 <= end ? this.u32(at + 4) : 0,
        });
        return this.payload(Math.min(at + 8, end), end);
      }
      case 132:
        this.need('sctp', at, 12, end);
        this.layers.push({ type: 'sctp', srcPort: this.u16(at), dstPort: this.u16(at + 2), verificationTag: this.u32(at + 4), checksum: this.u32(at + 8) });
        return this.payload(at + 12, end);
      case 47:
        return this.gre(at, end);
      case 4: // IP in IP
      case 41: // IPv6 in IP
        if (this.tunnelled) return this.payload(at, end);
        this.tunnelled = true;
        return proto === 4 ? this.ipv4(at, end) : this.ipv6(at, end);
      default:
        return this.payload(at, end);
    }
  }

  private gre(at: number, end: number): void {
    const b = this.b;
    this.need('gre', at, 4, end);
    const flags = b[at];
    const layer: GreLayer = {
      type: 'gre',
      checksumPresent: (flags & 0x80) !== 0,
      keyPresent: (flags & 0x20) !== 0,
      sequencePresent: (flags & 0x10) !== 0,
      version: b[at + 1] & 7,
      protocol: this.u16(at + 2),
    };
    let p = at + 4 + (layer.checksumPresent ? 4 : 0);
    if (layer.keyPresent) {
      this.need('gre', p, 4, end);
      layer.key = this.u32(p);
      p += 4;
    }
    if (layer.sequencePresent) {
      this.need('gre', p, 4, end);
      layer.sequence = this.u32(p);
      p += 4;
    }
    this.need('gre', at, p - at, end);
    this.layers.push(layer);
    if (this.tunnelled) return this.payload(p, end);
    this.tunnelled = true;
    if (layer.protocol === 0x6558) return this.ethernet(p, end);
    this.etherType(layer.protocol, p, end);
  }

  private geneve(at: number, end: number): void {
    this.need('geneve', at, 8, end);
    const optionsLength = (this.b[at] & 0x3f) * 4;
    this.need('geneve', at, 8 + optionsLength, end);
    const protocol = this.u16(at + 2);
    this.layers.push({ type: 'geneve', version: this.b[at] >> 6, optionsLength, protocol, vni: this.u32(at + 4) >>> 8 });
    this.tunnelled = true;
    if (protocol === 0x6558) return this.ethernet(at + 8 + optionsLength, end);
    this.etherType(protocol, at + 8 + optionsLength, end);
  }

  private vxlan(at: number, end: number): void {
    this.need('vxlan', at, 8, end);
    this.layers.push({ type: 'vxlan', flags: this.b[at], vni: this.u32(at + 4) >>> 8 });
    this.tunnelled = true;
    this.ethernet(at + 8, end);
  }

  private gtpu(at: number, end: number): void {
    const b = this.b;
    this.need('gtpu', at, 8, end);
    const flags = b[at];
    const layer: GtpuLayer = { type: 'gtpu', version: flags >> 5, messageType: b[at + 1], length: this.u16(at + 2), teid: this.u32(at + 4), extensions: [] };
    let p = at + 8;
    if (flags & 7) {
      this.need('gtpu', at, 12, end);
      if (flags & 2) layer.sequence = this.u16(at + 8);
      let next = flags & 4 ? b[at + 11] : 0;
      p = at + 12;
      while (next !== 0) {
        if (layer.extensions.length >= 8) throw new Stop('gtpu', p, 'more than 8 extension headers');
        this.need('gtpu', p, 1, end);
        const len = b[p] * 4;
        if (len === 0) throw new Stop('gtpu', p, 'extension header of length 0');
        this.need('gtpu', p, len, end);
        layer.extensions.push(next);
        next = b[p + len - 1];
        p += len;
      }
    }
    this.layers.push(layer);
    this.tunnelled = true;
    if (layer.version === 1 && layer.messageType === 255) return this.ipByVersion(p, end);
    this.payload(p, end);
  }
}
