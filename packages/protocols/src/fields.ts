import { decHopLimit, decTtl, setIcmpId, setIpv4Dst, setIpv4Src, setL4DstPort, setL4SrcPort } from './checksum.js';
import { crc32c } from './build.js';
import { PoolViews } from './pool-views.js';
import { PTYPE } from './ptype.js';

// Outer layer-4 headers whose checksum covers the IPv4 pseudo-header.
const L4_WITH_PSEUDO = PTYPE.TCP | PTYPE.UDP;

/**
 * Reads header fields of parsed packets in place, at the offsets {@link BurstParser} wrote,
 * without allocating. `b` is a buffer index; `inner` selects the tunnelled packet (VXLAN,
 * GTP-U, GRE). Call a field's reader only when the packet's ptype says the layer is there
 * (e.g. `srcPort` for TCP, UDP or SCTP); otherwise the result is meaningless.
 *
 * Make one per pool and reuse it.
 */
export class PacketFields extends PoolViews {

  /** Index in `pool.bytes` of the packet's first byte. */
  start(b: number): number {
    return b * this.bufferSize + this.dataOff[b];
  }

  /** Index in `pool.bytes` of the (inner) IP header. */
  l3(b: number, inner = false): number {
    return this.start(b) + (inner ? this.innerL3Off[b] : this.l3Off[b]);
  }

  /** Index in `pool.bytes` of the (inner) layer-4 header. */
  l4(b: number, inner = false): number {
    return this.start(b) + (inner ? this.innerL4Off[b] : this.l4Off[b]);
  }

  /** 4, 6, or 0 when there is no (inner) IP header. */
  ipVersion(b: number, inner = false): number {
    const t = this.ptype[b];
    if (inner) return t & PTYPE.INNER_IPV4 ? 4 : t & PTYPE.INNER_IPV6 ? 6 : 0;
    return t & PTYPE.IPV4 ? 4 : t & PTYPE.IPV6 ? 6 : 0;
  }

  /** IPv4 source address as an unsigned 32-bit number. */
  ipv4Src(b: number, inner = false): number {
    return this.u32(this.l3(b, inner) + 12);
  }

  /** IPv4 destination address as an unsigned 32-bit number. */
  ipv4Dst(b: number, inner = false): number {
    return this.u32(this.l3(b, inner) + 16);
  }

  /** Word `i` (0-3, most significant first) of the IPv6 source address. */
  ipv6SrcWord(b: number, i: number, inner = false): number {
    return this.u32(this.l3(b, inner) + 8 + 4 * i);
  }

  /** Word `i` (0-3, most significant first) of the IPv6 destination address. */
  ipv6DstWord(b: number, i: number, inner = false): number {
    return this.u32(this.l3(b, inner) + 24 + 4 * i);
  }

  /**
   * The upper-layer protocol: IPv4's protocol field; for IPv6 the header after the
   * extension headers when the parser found a layer-4 header, else the Next Header field.
   */
  protocol(b: number, inner = false): number {
    const l3 = this.l3(b, inner);
    if (this.ipVersion(b, inner) === 4) return this.bytes[l3 + 9];
    const t = this.ptype[b];
    if (inner) {
      if (t & PTYPE.INNER_TCP) return 6;
      if (t & PTYPE.INNER_UDP) return 17;
      if (t & PTYPE.INNER_ICMP) return 58;
    } else {
      if (t & PTYPE.TCP) return 6;
      if (t & PTYPE.UDP) return 17;
      if (t & PTYPE.ICMPV6) return 58;
      if (t & PTYPE.SCTP) return 132;
      if (t & PTYPE.GRE) return 47;
    }
    return this.bytes[l3 + 6];
  }

  /** IPv4 TTL or IPv6 hop limit. */
  ttl(b: number, inner = false): number {
    const l3 = this.l3(b, inner);
    return this.bytes[l3 + (this.ipVersion(b, inner) === 4 ? 8 : 7)];
  }

  /** TCP, UDP or SCTP source port. */
  srcPort(b: number, inner = false): number {
    return this.u16(this.l4(b, inner));
  }

  /** TCP, UDP or SCTP destination port. */
  dstPort(b: number, inner = false): number {
    return this.u16(this.l4(b, inner) + 2);
  }

  /** TCP flags (FIN 0x01 ... CWR 0x80, and NS as 0x100). */
  tcpFlags(b: number, inner = false): number {
    const l4 = this.l4(b, inner);
    return ((this.bytes[l4 + 12] & 1) << 8) | this.bytes[l4 + 13];
  }

  /** TCP sequence number (unsigned). */
  tcpSeq(b: number, inner = false): number {
    return this.u32(this.l4(b, inner) + 4);
  }

  /** TCP acknowledgement number (unsigned). */
  tcpAck(b: number, inner = false): number {
    return this.u32(this.l4(b, inner) + 8);
  }

  /** ICMP or ICMPv6 type. */
  icmpType(b: number, inner = false): number {
    return this.bytes[this.l4(b, inner)];
  }

  /** ICMP or ICMPv6 code. */
  icmpCode(b: number, inner = false): number {
    return this.bytes[this.l4(b, inner) + 1];
  }

  /** VXLAN network identifier (24 bits). */
  vni(b: number): number {
    const v = this.l4(b) + 8;
    return (this.bytes[v + 4] << 16) | (this.bytes[v + 5] << 8) | this.bytes[v + 6];
  }

  /** GTP-U tunnel endpoint identifier. */
  teid(b: number): number {
    return this.u32(this.l4(b) + 12);
  }

  // Writers, for NAT and load balancing: each rewrites a field of the outer headers in place
  // and fixes every checksum that covers it, incrementally (RFC 1624).

  /** Rewrites the IPv4 source address; fixes the IPv4 and TCP/UDP checksums. */
  setIpv4Src(b: number, addr: number): void {
    setIpv4Src(this.bytes, this.l3(b), this.l4OrNone(b), this.bytes[this.l3(b) + 9], addr);
  }

  /** Rewrites the IPv4 destination address; fixes the IPv4 and TCP/UDP checksums. */
  setIpv4Dst(b: number, addr: number): void {
    setIpv4Dst(this.bytes, this.l3(b), this.l4OrNone(b), this.bytes[this.l3(b) + 9], addr);
  }

  /** Rewrites the TCP, UDP or SCTP source port; fixes the checksum (SCTP: its CRC32c). */
  setSrcPort(b: number, port: number): void {
    const proto = this.l4Protocol(b);
    setL4SrcPort(this.bytes, this.l4(b), proto, port);
    if (proto === 132) this.fixSctp(b);
  }

  /** Rewrites the TCP, UDP or SCTP destination port; fixes the checksum (SCTP: its CRC32c). */
  setDstPort(b: number, port: number): void {
    const proto = this.l4Protocol(b);
    setL4DstPort(this.bytes, this.l4(b), proto, port);
    if (proto === 132) this.fixSctp(b);
  }

  /**
   * Rewrites an ICMP or ICMPv6 echo identifier and fixes the checksum. Returns false, and
   * writes nothing, when the ICMP header is shorter than the 8 bytes that hold the id.
   */
  setIcmpId(b: number, id: number): boolean {
    if (this.l4Off[b] + 8 > this.dataLen[b]) return false;
    setIcmpId(this.bytes, this.l4(b), id);
    return true;
  }

  /**
   * Decrements the IPv4 TTL (fixing the header checksum) or the IPv6 hop limit. Returns the
   * new value: 0 means the packet has expired.
   */
  decTtl(b: number): number {
    return this.ipVersion(b) === 4 ? decTtl(this.bytes, this.l3(b)) : decHopLimit(this.bytes, this.l3(b));
  }

  private l4Protocol(b: number): number {
    const t = this.ptype[b];
    return t & PTYPE.TCP ? 6 : t & PTYPE.UDP ? 17 : 132;
  }

  // SCTP's checksum is a CRC32c over the whole packet, stored little-endian: recomputed.
  private fixSctp(b: number): void {
    const l4 = this.l4(b);
    const l3 = this.l3(b);
    const x = this.bytes;
    const end = this.ipVersion(b) === 4 ? l3 + ((x[l3 + 2] << 8) | x[l3 + 3]) : l3 + 40 + ((x[l3 + 4] << 8) | x[l3 + 5]);
    x[l4 + 8] = x[l4 + 9] = x[l4 + 10] = x[l4 + 11] = 0;
    const crc = crc32c(x, l4, end);
    x[l4 + 8] = crc & 0xff;
    x[l4 + 9] = (crc >>> 8) & 0xff;
    x[l4 + 10] = (crc >>> 16) & 0xff;
    x[l4 + 11] = crc >>> 24;
  }

  // The L4 offset when its checksum covers the addresses, else -1 (ICMP, later fragments).
  private l4OrNone(b: number): number {
    return this.ptype[b] & L4_WITH_PSEUDO ? this.l4(b) : -1;
  }

  private u16(at: number): number {
    return (this.bytes[at] << 8) | this.bytes[at + 1];
  }

  private u32(at: number): number {
    const x = this.bytes;
    return ((x[at] << 24) | (x[at + 1] << 16) | (x[at + 2] << 8) | x[at + 3]) >>> 0;
  }
}
