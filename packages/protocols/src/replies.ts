/**
 * Replies appliances send on their own: ARP replies, ICMP / ICMPv6 echo replies and errors,
 * TCP resets. Each helper takes the received Ethernet frame and returns a new Ethernet frame
 * built with {@link build}, or `null` when the rules say not to answer.
 *
 * Common to all of them:
 * - The received frame is an Ethernet frame; 802.1Q / QinQ tags right after the Ethernet
 *   header are kept on the reply (same TPIDs, PCP, DEI and IDs). The packet being answered
 *   must sit directly after them (no MPLS, no tunnel): anything else gives `null`.
 * - Ethernet addresses are swapped: the reply goes to the sender's MAC from the address the
 *   frame was sent to (ARP replies excepted: they come from `myMac`). So frames sent to a
 *   group (broadcast / multicast) MAC are not answered, except ARP requests.
 * - IP replies carry no options or extension headers, TTL / hop limit 64, IPv4 ID 0 with
 *   DF set (atomic datagrams, RFC 6864). Malformed input (bad IPv4 header checksum, bad
 *   transport checksum, truncation) is not answered: a host or router would drop it.
 * - Frames are not padded to the Ethernet minimum of 60 bytes; the driver or NIC pads.
 * @module
 */
import { VnfError } from '@vnf-sdk/core';
import { build, type LayerSpec } from './build.js';
import { type DecodeError, decode, type EthernetLayer, type IcmpLayer, type Ipv4Layer, type Layer, type TcpLayer, type VlanLayer } from './decode.js';

/** Options of {@link icmpError} and {@link icmpv6Error}. */
export interface IcmpErrorOptions {
  /** ICMP: 3 destination unreachable, 11 time exceeded, 12 parameter problem. ICMPv6: 1 destination unreachable, 2 packet too big, 3 time exceeded, 4 parameter problem. */
  type: number;
  code: number;
  /** The address the error comes from (the router's own address on the incoming interface). */
  src: string;
  /** Next-hop MTU: required for ICMP 3 code 4 (fragmentation needed, RFC 1191) and ICMPv6 2 (packet too big). */
  mtu?: number;
  /** Parameter problem pointer (ICMP 12: byte offset 0..255; ICMPv6 4: 32-bit offset). Default 0. */
  pointer?: number;
  /**
   * The reply's Ethernet source. Default: the offending frame's destination MAC. Frames sent
   * to a group MAC (an ICMPv6 packet too big about a multicast packet) are only answered
   * when it is given.
   */
  mac?: string;
}

/** The Ethernet header, its VLAN tags and the layer after them, of a decoded frame. */
interface Framed {
  eth: EthernetLayer;
  vlans: VlanLayer[];
  layers: Layer[];
  /** Index in `layers` of the first layer after the VLAN tags. */
  l3: number;
  /** Byte offset of that layer in the frame. */
  l3At: number;
  /** Whether decoding found a problem (see {@link decode}). */
  error?: DecodeError;
}

function frame(bytes: Uint8Array): Framed | null {
  const { layers, error } = decode(bytes);
  const eth = layers[0];
  if (eth?.type !== 'ethernet') return null;
  const vlans: VlanLayer[] = [];
  let i = 1;
  while (layers[i]?.type === 'vlan') vlans.push(layers[i++] as VlanLayer);
  if (i >= layers.length) return null;
  return { eth, vlans, layers, l3: i, l3At: 14 + 4 * vlans.length, error };
}

/** The reply's Ethernet header (addresses swapped unless `src` is given) and the same VLAN tags. */
function replyL2(f: Framed, src: string = f.eth.dst): LayerSpec[] {
  return [
    { type: 'ethernet', dst: f.eth.src, src },
    ...f.vlans.map((v): LayerSpec => ({ type: 'vlan', tpid: v.tpid, pcp: v.pcp, dei: v.dei, id: v.id })),
  ];
}

/** Whether a MAC (text) is a group address (broadcast or multicast): I/G bit set. */
const groupMac = (mac: string) => (Number.parseInt(mac.slice(0, 2), 16) & 1) === 1;

/** IPv4 destinations that are not one host: limited broadcast, multicast 224/4, reserved 240/4. */
const v4NotUnicastDst = (b: Uint8Array, at: number) => b[at]! >= 224;
/** IPv4 sources that do not name one host: 0/8 "this network", 127/8 loopback, 224/4, 240/4. */
const v4BadSrc = (b: Uint8Array, at: number) => b[at] === 0 || b[at] === 127 || b[at]! >= 224;
/** IPv6 multicast ff00::/8. */
const v6Multicast = (b: Uint8Array, at: number) => b[at] === 0xff;
/** IPv6 unspecified address ::. */
const v6Unspecified = (b: Uint8Array, at: number) => b.subarray(at, at + 16).every((x) => x === 0);

/** Whether the link or IP header itself is malformed (a problem further in still deserves an ICMP error). */
const l3Broken = (f: Framed) => f.error !== undefined && (f.error.offset <= f.l3At || f.error.layer === 'ipv4' || f.error.layer === 'ipv6');

const isV4Fragment = (ip: Ipv4Layer) => ip.moreFragments || ip.fragmentOffset !== 0;

/** The layers after an IPv6 header and its extension headers: the upper layer's index, and whether a fragment header was seen. */
function v6Upper(layers: Layer[], ipIndex: number): { index: number; fragment: boolean } {
  let i = ipIndex + 1;
  let fragment = false;
  for (;;) {
    const t = layers[i]?.type;
    if (t === 'ipv6-fragment') fragment = true;
    else if (t !== 'ipv6-hop-by-hop' && t !== 'ipv6-routing' && t !== 'ipv6-destination' && t !== 'ipv6-ah') break;
    i++;
  }
  return { index: i, fragment };
}

const payloadAt = (layers: Layer[], i: number): Uint8Array => {
  const l = layers[i];
  return l?.type === 'payload' ? l.data : new Uint8Array(0);
};

/**
 * Answers an ARP request (operation 1, Ethernet / IPv4) as `myMac`: operation 2, sender
 * `myMac` with the requested IP, target the requester. It does not check that the requested
 * address is ours; the caller decides that (`findLayer(decode(frame), 'arp')?.targetIp`).
 *
 * @returns the reply frame, or null when `request` is not an Ethernet / IPv4 ARP request.
 * @throws VnfError `VNF_PACKET_FORMAT` when `myMac` is not a MAC address.
 */
export function arpReply(request: Uint8Array, myMac: string): Uint8Array | null {
  const f = frame(request);
  const arp = f?.layers[f.l3];
  if (!f || f.error || arp?.type !== 'arp' || arp.operation !== 1 || arp.hardwareType !== 1 || arp.protocolType !== 0x0800) return null;
  return build([
    ...replyL2(f, myMac),
    { type: 'arp', operation: 2, senderMac: myMac, senderIp: arp.targetIp, targetMac: arp.senderMac, targetIp: arp.senderIp },
  ]);
}

/**
 * Answers an ICMP echo request (type 8) with an echo reply (type 0), or an ICMPv6 echo
 * request (128) with an echo reply (129): addresses swapped, same identifier, sequence
 * number and data, fresh checksums, TTL / hop limit 64.
 *
 * @returns the reply frame, or null when the frame is not an intact, unfragmented echo
 * request to a unicast address (a multicast or broadcast destination cannot become the
 * reply's source; a fragment needs reassembling first).
 */
export function icmpEchoReply(request: Uint8Array): Uint8Array | null {
  const f = frame(request);
  if (!f || f.error || groupMac(f.eth.dst)) return null;
  const { layers, l3, l3At } = f;
  const ip = layers[l3]!;
  if (ip.type === 'ipv4') {
    const icmp = layers[l3 + 1];
    if (!ip.checksumValid || isV4Fragment(ip) || icmp?.type !== 'icmp' || icmp.icmpType !== 8 || icmp.checksumValid !== true) return null;
    if (ip.totalLength - ip.ihl * 4 < 8 || v4NotUnicastDst(request, l3At + 16) || v4BadSrc(request, l3At + 12)) return null;
    return build([
      ...replyL2(f),
      { type: 'ipv4', src: ip.dst, dst: ip.src, ttl: 64, dscp: ip.dscp, dontFragment: true },
      { type: 'icmp', icmpType: 0, code: 0, rest: icmp.rest },
      { type: 'payload', data: payloadAt(layers, l3 + 2) },
    ]);
  }
  if (ip.type === 'ipv6') {
    const up = v6Upper(layers, l3);
    const icmp = layers[up.index];
    if (up.fragment || icmp?.type !== 'icmpv6' || icmp.icmpType !== 128 || icmp.checksumValid !== true) return null;
    const l4Length = ip.payloadLength - (upperOffset(layers, l3, up.index) - 40);
    if (l4Length < 8 || v6Multicast(request, l3At + 24) || v6Multicast(request, l3At + 8) || v6Unspecified(request, l3At + 8)) return null;
    return build([
      ...replyL2(f),
      { type: 'ipv6', src: ip.dst, dst: ip.src, hopLimit: 64, trafficClass: ip.trafficClass },
      { type: 'icmpv6', icmpType: 129, code: 0, rest: icmp.rest },
      { type: 'payload', data: payloadAt(layers, up.index + 1) },
    ]);
  }
  return null;
}

/** Bytes from the IPv6 header to the upper layer at `upper` (40 plus the extension headers). */
function upperOffset(layers: Layer[], ipIndex: number, upper: number): number {
  let n = 40;
  for (let i = ipIndex + 1; i < upper; i++) {
    const l = layers[i]!;
    if (l.type === 'ipv6-fragment') n += 8;
    else if (l.type === 'ipv6-hop-by-hop' || l.type === 'ipv6-routing' || l.type === 'ipv6-destination' || l.type === 'ipv6-ah') n += l.length;
  }
  return n;
}

/** ICMP types that are errors (RFC 1122 3.2.2): never answered with another error. */
const ICMP_ERRORS = new Set([3, 4, 5, 11, 12]);

function checkArg(ok: boolean, what: string): void {
  if (!ok) throw new VnfError('VNF_INVALID_ARGUMENT', what);
}
const isInt = (v: unknown, max: number): v is number => typeof v === 'number' && Number.isInteger(v) && v >= 0 && v <= max;

/**
 * An ICMP (IPv4) error about `offending`, from `src` to the offending packet's source:
 * destination unreachable (3; code 4 "fragmentation needed" puts `mtu` in the low 16 bits of
 * the word after the checksum, RFC 1191), time exceeded (11) or parameter problem (12,
 * `pointer` in the top byte). It quotes the offending IP datagram from its header on, as
 * much as fits in a 576-byte reply (RFC 1812 4.3.2.3), so always the header and at least 8
 * bytes of data when the datagram has them. The reply's DSCP is CS6 (IP precedence 6,
 * RFC 1812 4.3.2.5).
 *
 * @returns the reply frame, or null when RFC 1812 4.3.2.7 / RFC 1122 3.2.2 forbid an error:
 * the offending packet is itself an ICMP error (or an unreadable ICMP message), a fragment
 * other than the first, sent to a link-layer group address or an IP broadcast / multicast /
 * class E address, from an address that does not name one host (0/8, 127/8, 224/4, 240/4),
 * or it is not an intact IPv4 packet (bad header checksum, truncated).
 * @throws VnfError `VNF_INVALID_ARGUMENT` for an unsupported type, a bad code, a missing or
 * bad `mtu` / `pointer`; `VNF_PACKET_FORMAT` when `src` is not an IPv4 address.
 */
export function icmpError(offending: Uint8Array, options: IcmpErrorOptions): Uint8Array | null {
  const { type, code, src, mtu, pointer = 0, mac } = options;
  checkArg(type === 3 || type === 11 || type === 12, `icmpError: type ${type} is not 3 (destination unreachable), 11 (time exceeded) or 12 (parameter problem)`);
  checkArg(isInt(code, 255), `icmpError: code ${code} is not an integer in 0..255`);
  let rest = 0;
  if (type === 3 && code === 4) {
    checkArg(isInt(mtu, 0xffff), `icmpError: fragmentation needed (3/4) needs the next-hop mtu (0..65535), got ${mtu}`);
    rest = mtu!;
  } else if (type === 12) {
    checkArg(isInt(pointer, 255), `icmpError: pointer ${pointer} is not an integer in 0..255`);
    rest = pointer * 2 ** 24;
  }
  const f = frame(offending);
  if (!f || l3Broken(f) || groupMac(f.eth.dst)) return null;
  const ip = f.layers[f.l3]!;
  if (ip.type !== 'ipv4' || !ip.checksumValid || ip.fragmentOffset !== 0) return null;
  if (v4NotUnicastDst(offending, f.l3At + 16) || v4BadSrc(offending, f.l3At + 12)) return null;
  if (ip.protocol === 1) {
    const icmp = f.layers[f.l3 + 1];
    if (icmp?.type !== 'icmp' || ICMP_ERRORS.has(icmp.icmpType)) return null;
  }
  const quote = offending.subarray(f.l3At, f.l3At + Math.min(ip.totalLength, 576 - 20 - 8));
  return build([
    ...replyL2(f, mac),
    { type: 'ipv4', src, dst: ip.src, ttl: 64, dscp: 48, dontFragment: true },
    { type: 'icmp', icmpType: type, code, rest },
    { type: 'payload', data: quote },
  ]);
}

/** ICMPv6 types that are errors (below 128) or redirects: never answered with an error (RFC 4443 2.4(e)). */
const isIcmpv6ErrorOrRedirect = (l: IcmpLayer) => l.icmpType < 128 || l.icmpType === 137;

/**
 * An ICMPv6 error about `offending`, from `src` to the offending packet's source:
 * destination unreachable (1), packet too big (2, `mtu` in the word after the checksum),
 * time exceeded (3) or parameter problem (4, `pointer` there). It quotes as much of the
 * offending packet as fits in a 1280-byte reply (RFC 4443 2.4(c)).
 *
 * @returns the reply frame, or null when RFC 4443 2.4(e) forbids an error: the offending
 * packet is an ICMPv6 error or redirect; it was sent to a multicast address or a link-layer
 * group address, unless the error is packet too big or parameter problem code 2 (an
 * unrecognised option asking for a report); its source is :: or multicast; or it is not an
 * intact IPv6 packet.
 * @throws VnfError `VNF_INVALID_ARGUMENT` for an unsupported type, a bad code, a missing or
 * bad `mtu` / `pointer`; `VNF_PACKET_FORMAT` when `src` is not an IPv6 address.
 */
export function icmpv6Error(offending: Uint8Array, options: IcmpErrorOptions): Uint8Array | null {
  const { type, code, src, mtu, pointer = 0, mac } = options;
  checkArg(type >= 1 && type <= 4 && Number.isInteger(type), `icmpv6Error: type ${type} is not 1, 2, 3 or 4`);
  checkArg(isInt(code, 255), `icmpv6Error: code ${code} is not an integer in 0..255`);
  let rest = 0;
  if (type === 2) {
    checkArg(isInt(mtu, 0xffffffff), `icmpv6Error: packet too big (2) needs the mtu (32 bits), got ${mtu}`);
    rest = mtu!;
  } else if (type === 4) {
    checkArg(isInt(pointer, 0xffffffff), `icmpv6Error: pointer ${pointer} is not a 32-bit integer`);
    rest = pointer;
  }
  const f = frame(offending);
  if (!f || l3Broken(f)) return null;
  const ip = f.layers[f.l3]!;
  if (ip.type !== 'ipv6') return null;
  const mayAnswerGroup = type === 2 || (type === 4 && code === 2);
  if (!mayAnswerGroup && (groupMac(f.eth.dst) || v6Multicast(offending, f.l3At + 24))) return null;
  if (groupMac(f.eth.dst) && mac === undefined) return null;
  if (v6Multicast(offending, f.l3At + 8) || v6Unspecified(offending, f.l3At + 8)) return null;
  const upper = f.layers[v6Upper(f.layers, f.l3).index];
  if (upper?.type === 'icmpv6' && isIcmpv6ErrorOrRedirect(upper)) return null;
  const length = ip.payloadLength === 0 ? offending.length - f.l3At : 40 + ip.payloadLength;
  const quote = offending.subarray(f.l3At, f.l3At + Math.min(length, 1280 - 40 - 8));
  return build([
    ...replyL2(f, mac),
    { type: 'ipv6', src, dst: ip.src, hopLimit: 64 },
    { type: 'icmpv6', icmpType: type, code, rest },
    { type: 'payload', data: quote },
  ]);
}

const FIN = 0x01;
const SYN = 0x02;
const RST = 0x04;
const ACK = 0x10;

/**
 * A TCP reset answering `segment` (RFC 9293 3.10.7.1, "if the connection does not exist"):
 * if the segment has ACK, `<SEQ=SEG.ACK><CTL=RST>`; otherwise
 * `<SEQ=0><ACK=SEG.SEQ+SEG.LEN><CTL=RST,ACK>`, where SEG.LEN counts the data bytes plus one
 * for SYN and one for FIN (mod 2^32). Ports and addresses swapped, window 0, no options;
 * IPv4 or IPv6.
 *
 * @returns the reset frame, or null when the segment must not be answered: it is a RST
 * itself; it is not TCP directly over IP; it is a fragment; its IPv4 header or TCP checksum
 * is bad; it was sent to a link-layer group address or an IP multicast / broadcast address,
 * or comes from an address that does not name one host.
 */
export function tcpRst(segment: Uint8Array): Uint8Array | null {
  const f = frame(segment);
  if (!f || f.error || groupMac(f.eth.dst)) return null;
  const { layers, l3, l3At } = f;
  const ip = layers[l3]!;
  let tcpIndex: number;
  let l3Spec: LayerSpec;
  if (ip.type === 'ipv4') {
    if (!ip.checksumValid || isV4Fragment(ip) || v4NotUnicastDst(segment, l3At + 16) || v4BadSrc(segment, l3At + 12)) return null;
    tcpIndex = l3 + 1;
    l3Spec = { type: 'ipv4', src: ip.dst, dst: ip.src, ttl: 64, dontFragment: true };
  } else if (ip.type === 'ipv6') {
    const up = v6Upper(layers, l3);
    if (up.fragment || v6Multicast(segment, l3At + 24) || v6Multicast(segment, l3At + 8) || v6Unspecified(segment, l3At + 8)) return null;
    tcpIndex = up.index;
    l3Spec = { type: 'ipv6', src: ip.dst, dst: ip.src, hopLimit: 64 };
  } else {
    return null;
  }
  const tcp = layers[tcpIndex];
  if (tcp?.type !== 'tcp' || tcp.checksumValid !== true || (tcp.flags & RST) !== 0) return null;
  return build([...replyL2(f), l3Spec, rstFor(tcp, payloadAt(layers, tcpIndex + 1).length)]);
}

function rstFor(seg: TcpLayer, dataLength: number): LayerSpec {
  const base = { type: 'tcp' as const, srcPort: seg.dstPort, dstPort: seg.srcPort, window: 0 };
  if (seg.flags & ACK) return { ...base, seq: seg.ack, ack: 0, flags: RST };
  const len = dataLength + (seg.flags & SYN ? 1 : 0) + (seg.flags & FIN ? 1 : 0);
  return { ...base, seq: 0, ack: (seg.seq + len) >>> 0, flags: RST | ACK };
}
