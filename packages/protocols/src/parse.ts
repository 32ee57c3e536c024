import type { Burst } from '@vnf-sdk/core';
import { PoolViews } from './pool-views.js';
import { malformed, PTYPE, Reason, type ReasonCode } from './ptype.js';

// EtherTypes and IP protocol numbers the fast path knows.
const ETH_IPV4 = 0x0800;
const ETH_ARP = 0x0806;
const ETH_VLAN = 0x8100;
const ETH_QINQ = 0x88a8;
const ETH_QINQ_OLD = 0x9100;
const ETH_IPV6 = 0x86dd;
const ETH_MPLS = 0x8847;
const ETH_MPLS_MC = 0x8848;
const ETH_TEB = 0x6558; // GRE: transparent Ethernet bridging
const IP_ICMP = 1;
const IP_TCP = 6;
const IP_UDP = 17;
const IP_GRE = 47;
const IP_ICMPV6 = 58;
const IP_SCTP = 132;
const IP6_HOP = 0;
const IP6_ROUTING = 43;
const IP6_FRAGMENT = 44;
const IP6_AH = 51;
const IP6_DSTOPTS = 60;
const UDP_VXLAN = 4789;
const UDP_GTPU = 2152;

/** Most VLAN tags, MPLS labels or IPv6 extension headers walked before giving up. */
export const MAX_CHAIN = 8;

/**
 * Parses bursts in place: for each packet it writes the packet type bits (`meta.ptype`,
 * see {@link PTYPE}) and the header offsets (`l2Off`, `l3Off`, `l4Off` and, in tunnels,
 * `innerL2Off`, `innerL3Off`, `innerL4Off`), relative to the packet's data start. It
 * allocates nothing, never reads outside a packet's `dataLen` bytes and never throws on
 * packet contents: a malformed packet gets {@link PTYPE.MALFORMED} and a reason code.
 *
 * Make one per pool (and per thread) and reuse it: it holds the pool's views.
 */
export class BurstParser extends PoolViews {
  // Out-parameters of the per-layer helpers (no allocation for multiple results).
  private l3 = 0;
  private l4 = 0;
  private l4End = 0; // end of the layer-4 data: UDP length, or the IP packet's end


  /** Parses every packet of the burst. */
  parse(burst: Burst): void {
    const ids = burst.ids;
    // `| 0`: buffer indices are far below 2^31; as int32 the offset arithmetic stays integer.
    for (let i = 0; i < burst.count; i++) this.parseOne(ids[i] | 0);
  }

  /**
   * Parses one buffer; returns its ptype (also stored in `meta.ptype`). `l2Off` is always
   * 0 (the Ethernet header starts the data); the other offsets are valid only when their
   * layer's ptype bit is set.
   */
  parseOne(b: number): number {
    const base = b * this.bufferSize + this.dataOff[b];
    const len = this.dataLen[b];
    // Offsets are written only for the layers found: a reader checks the ptype bit first
    // (an offset without its bit is stale), which saves six stores per packet.
    const fast = this.parseCommon(b, base, len);
    const t = (fast !== 0 ? fast : this.parseEthernet(b, base, len)) >>> 0;
    this.ptype[b] = t;
    return t;
  }

  /** @internal The general path alone, for the test that holds both paths equal. */
  parseOneGeneral(b: number): number {
    const base = b * this.bufferSize + this.dataOff[b];
    const t = this.parseEthernet(b, base, this.dataLen[b]) >>> 0;
    this.ptype[b] = t;
    return t;
  }

  /**
   * The common case in one flat function, because V8 will not inline the general per-layer
   * methods: Ethernet II with at most one VLAN tag, IPv4 without options or fragmentation
   * or IPv6 without extension headers, then TCP, UDP (VXLAN and GTP-U handed straight to the
   * tunnel parser) or ICMP, with every length consistent. Returns the ptype, or 0 to hand the packet to the general path,
   * which gives the same answer for everything this accepts (a test holds them equal).
   */
  private parseCommon(b: number, base: number, len: number): number {
    const x = this.bytes;
    if (len < 34) return 0;
    let t = PTYPE.ETHER;
    let off = 14;
    let type = (x[base + 12] << 8) | x[base + 13];
    if (type === ETH_VLAN) {
      type = (x[base + 16] << 8) | x[base + 17];
      off = 18;
      t |= PTYPE.VLAN;
    }
    const p = base + off;
    let l4: number;
    let end: number;
    let proto: number;
    if (type === ETH_IPV4) {
      if (x[p] !== 0x45 || off + 20 > len) return 0;
      const total = (x[p + 2] << 8) | x[p + 3];
      if (total < 20 || off + total > len || ((x[p + 6] << 8) | x[p + 7]) & 0x3fff) return 0;
      t |= PTYPE.IPV4;
      proto = x[p + 9];
      l4 = off + 20;
      end = off + total;
    } else if (type === ETH_IPV6) {
      if (x[p] >> 4 !== 6 || off + 40 > len) return 0;
      const plen = (x[p + 4] << 8) | x[p + 5];
      if (plen === 0 || off + 40 + plen > len) return 0;
      t |= PTYPE.IPV6;
      proto = x[p + 6];
      l4 = off + 40;
      end = off + 40 + plen;
    } else {
      return 0;
    }
    const q = base + l4;
    const room = end - l4;
    if (proto === IP_TCP) {
      if (room < 20) return 0;
      const doff = (x[q + 12] >> 4) << 2;
      if (doff < 20 || doff > room) return 0;
      t |= PTYPE.TCP;
    } else if (proto === IP_UDP) {
      if (room < 8) return 0;
      const ulen = (x[q + 4] << 8) | x[q + 5];
      if (ulen < 8 || ulen > room) return 0;
      t |= PTYPE.UDP;
      const port = (x[q + 2] << 8) | x[q + 3];
      if (port === UDP_VXLAN || port === UDP_GTPU) {
        // Tunnels are common enough to skip the general path for the outer headers too.
        this.l2Off[b] = 0;
        this.l3Off[b] = off;
        this.l4Off[b] = l4;
        this.l4End = l4 + ulen;
        return this.parseUdpTunnel(b, base, t);
      }
    } else if (proto === IP_ICMP && type === ETH_IPV4) {
      if (room < 4) return 0;
      t |= PTYPE.ICMP;
    } else {
      return 0;
    }
    this.l2Off[b] = 0;
    this.l3Off[b] = off;
    this.l4Off[b] = l4;
    return t;
  }

  private parseEthernet(b: number, base: number, len: number): number {
    const bytes = this.bytes;
    this.l2Off[b] = 0;
    if (len < 14) return malformed(Reason.TRUNCATED_L2);
    let t: number = PTYPE.ETHER;
    let off = 14;
    let type = (bytes[base + 12] << 8) | bytes[base + 13];
    let tags = 0;
    while (type === ETH_VLAN || type === ETH_QINQ || type === ETH_QINQ_OLD) {
      if (++tags > MAX_CHAIN) return malformed(Reason.TOO_MANY_TAGS);
      if (off + 4 > len) return malformed(Reason.TRUNCATED_VLAN);
      t |= tags === 1 ? PTYPE.VLAN : PTYPE.QINQ;
      type = (bytes[base + off + 2] << 8) | bytes[base + off + 3];
      off += 4;
    }
    if (type === ETH_MPLS || type === ETH_MPLS_MC) {
      t |= PTYPE.MPLS;
      let labels = 0;
      for (;;) {
        if (++labels > MAX_CHAIN) return malformed(Reason.HEADER_CHAIN_TOO_LONG);
        if (off + 4 > len) return malformed(Reason.TRUNCATED_MPLS);
        const bottom = bytes[base + off + 2] & 1;
        off += 4;
        if (bottom) break;
      }
      // MPLS does not say what it carries: the first nibble of an IP header does.
      if (off >= len) return t;
      const v = bytes[base + off] >> 4;
      type = v === 4 ? ETH_IPV4 : v === 6 ? ETH_IPV6 : 0;
    }
    if (type === ETH_ARP) {
      if (off + 28 > len) return malformed(Reason.TRUNCATED_ARP);
      this.l3Off[b] = off;
      return t | PTYPE.ARP;
    }
    if (type !== ETH_IPV4 && type !== ETH_IPV6) return t;
    const r = this.parseIp(base, off, len, type === ETH_IPV6, false);
    if (r < 0) return malformed(-r as ReasonCode);
    this.l3Off[b] = this.l3;
    if (r & L4_FOUND) this.l4Off[b] = this.l4;
    t |= r & ~L4_FOUND;
    // Tunnels: VXLAN and GTP-U over UDP, GRE; the inner packet's offsets too.
    // A fragment does not hold a whole tunnelled packet: no tunnel parsing.
    if (t & PTYPE.FRAG) return t;
    if (t & PTYPE.UDP) return this.parseUdpTunnel(b, base, t);
    if (t & PTYPE.GRE) return this.parseGre(b, base, t);
    return t;
  }

  /**
   * Parses an IP header at `off` and the layer-4 header behind it. Returns the ptype bits
   * (outer or inner ones), with L4_FOUND when this.l4 is valid, or a negative reason.
   * Sets this.l3 and this.l4 (offsets from base).
   */
  private parseIp(base: number, off: number, len: number, v6: boolean, inner: boolean): number {
    const bytes = this.bytes;
    const p = base + off;
    this.l3 = off;
    let t = 0;
    let proto: number;
    let l4: number;
    let end: number;
    // The first fragment of a datagram: its UDP length covers all fragments, not this one.
    let firstFragment = false;
    if (!v6) {
      if (off + 20 > len) return -Reason.TRUNCATED_IPV4;
      if (bytes[p] >> 4 !== 4) return -Reason.BAD_IP_VERSION;
      const ihl = (bytes[p] & 15) << 2;
      if (ihl < 20) return -Reason.BAD_IHL;
      if (off + ihl > len) return -Reason.TRUNCATED_IPV4;
      const total = (bytes[p + 2] << 8) | bytes[p + 3];
      // Ethernet may pad short frames: the capture can be longer than the IP packet.
      if (total < ihl || off + total > len) return -Reason.BAD_TOTAL_LENGTH;
      t = inner ? PTYPE.INNER_IPV4 : PTYPE.IPV4;
      if (ihl > 20 && !inner) t |= PTYPE.IP_EXT;
      const frag = (bytes[p + 6] << 8) | bytes[p + 7];
      if (frag & 0x3fff) {
        if (!inner) t |= PTYPE.FRAG;
        // A later fragment carries no layer-4 header.
        if (frag & 0x1fff) return t;
        firstFragment = true;
      }
      proto = bytes[p + 9];
      l4 = off + ihl;
      end = off + total;
    } else {
      if (off + 40 > len) return -Reason.TRUNCATED_IPV6;
      if (bytes[p] >> 4 !== 6) return -Reason.BAD_IP_VERSION;
      const plen = (bytes[p + 4] << 8) | bytes[p + 5];
      // Payload length 0 is a jumbogram (or a capture of one): take what is there.
      end = plen === 0 ? len : off + 40 + plen;
      if (end > len) return -Reason.BAD_PAYLOAD_LENGTH;
      t = inner ? PTYPE.INNER_IPV6 : PTYPE.IPV6;
      proto = bytes[p + 6];
      l4 = off + 40;
      let headers = 0;
      while (proto === IP6_HOP || proto === IP6_ROUTING || proto === IP6_FRAGMENT || proto === IP6_DSTOPTS || proto === IP6_AH) {
        if (++headers > MAX_CHAIN) return -Reason.HEADER_CHAIN_TOO_LONG;
        if (l4 + 8 > end) return -Reason.TRUNCATED_EXT_HEADER;
        const q = base + l4;
        if (!inner) t |= PTYPE.IP_EXT;
        if (proto === IP6_FRAGMENT) {
          const field = (bytes[q + 2] << 8) | bytes[q + 3];
          proto = bytes[q];
          l4 += 8;
          // An atomic fragment (offset 0, no more) is a whole packet (RFC 6946).
          if (field & 0xfff9) {
            if (!inner) t |= PTYPE.FRAG;
            if (field & 0xfff8) return t; // a later fragment
            firstFragment = true;
          }
          continue;
        }
        const size = proto === IP6_AH ? (bytes[q + 1] + 2) << 2 : (bytes[q + 1] + 1) << 3;
        if (l4 + size > end) return -Reason.TRUNCATED_EXT_HEADER;
        proto = bytes[q];
        l4 += size;
      }
    }
    this.l4 = l4;
    this.l4End = end;
    const q = base + l4;
    const room = end - l4;
    switch (proto) {
      case IP_TCP: {
        if (room < 20) return -Reason.TRUNCATED_TCP;
        const doff = (bytes[q + 12] >> 4) << 2;
        if (doff < 20) return -Reason.BAD_TCP_OFFSET;
        if (doff > room) return -Reason.TRUNCATED_TCP;
        return t | (inner ? PTYPE.INNER_TCP : PTYPE.TCP) | L4_FOUND;
      }
      case IP_UDP: {
        if (room < 8) return -Reason.TRUNCATED_UDP;
        const ulen = (bytes[q + 4] << 8) | bytes[q + 5];
        if (ulen < 8 || (ulen > room && !firstFragment)) return -Reason.BAD_UDP_LENGTH;
        this.l4End = firstFragment ? end : l4 + ulen;
        return t | (inner ? PTYPE.INNER_UDP : PTYPE.UDP) | L4_FOUND;
      }
      case IP_ICMP:
      case IP_ICMPV6:
        if (room < 4) return -Reason.TRUNCATED_ICMP;
        if (inner) return t | PTYPE.INNER_ICMP | L4_FOUND;
        return t | (proto === IP_ICMP ? PTYPE.ICMP : PTYPE.ICMPV6) | L4_FOUND;
      case IP_SCTP:
        if (room < 12) return -Reason.TRUNCATED_SCTP;
        return inner ? t : t | PTYPE.SCTP | L4_FOUND;
      case IP_GRE:
        if (room < 4) return -Reason.TRUNCATED_GRE;
        return inner ? t : t | PTYPE.GRE | L4_FOUND;
      default:
        return t;
    }
  }

  private parseUdpTunnel(b: number, base: number, t: number): number {
    const bytes = this.bytes;
    const udp = this.l4Off[b];
    const port = (bytes[base + udp + 2] << 8) | bytes[base + udp + 3];
    const end = this.l4End;
    if (port === UDP_VXLAN) {
      // 8-byte VXLAN header (I flag, 24-bit VNI), then an Ethernet frame.
      const eth = udp + 16;
      if (eth + 14 > end) return malformed(Reason.TRUNCATED_TUNNEL);
      t |= PTYPE.VXLAN | PTYPE.INNER_ETHER;
      this.innerL2Off[b] = eth;
      let type = (bytes[base + eth + 12] << 8) | bytes[base + eth + 13];
      let off = eth + 14;
      if (type === ETH_VLAN) {
        if (off + 4 > end) return malformed(Reason.TRUNCATED_INNER);
        type = (bytes[base + off + 2] << 8) | bytes[base + off + 3];
        off += 4;
      }
      if (type !== ETH_IPV4 && type !== ETH_IPV6) return t;
      return this.parseInner(b, base, off, end, type === ETH_IPV6, t);
    }
    if (port === UDP_GTPU) {
      const g = udp + 8;
      if (g + 8 > end) return malformed(Reason.TRUNCATED_TUNNEL);
      const flags = bytes[base + g];
      t |= PTYPE.GTPU;
      // Only version 1 G-PDUs (message type 255) carry a user packet.
      if (flags >> 5 !== 1 || bytes[base + g + 1] !== 255) return t;
      let hdr = 8;
      if (flags & 0x07) {
        // E, S or PN: the 4 optional bytes are present; with E, extension headers follow,
        // each a multiple of 4 bytes whose last byte names the next one.
        hdr = 12;
        if (g + hdr > end) return malformed(Reason.TRUNCATED_TUNNEL);
        let next = flags & 0x04 ? bytes[base + g + 11] : 0;
        let exts = 0;
        while (next !== 0) {
          if (++exts > MAX_CHAIN) return malformed(Reason.HEADER_CHAIN_TOO_LONG);
          if (g + hdr + 1 > end) return malformed(Reason.TRUNCATED_TUNNEL);
          const size = bytes[base + g + hdr] << 2;
          if (size === 0 || g + hdr + size > end) return malformed(Reason.TRUNCATED_TUNNEL);
          next = bytes[base + g + hdr + size - 1];
          hdr += size;
        }
      }
      const ip = g + hdr;
      if (ip >= end) return t;
      const v = bytes[base + ip] >> 4;
      if (v !== 4 && v !== 6) return t;
      return this.parseInner(b, base, ip, end, v === 6, t);
    }
    return t;
  }

  private parseGre(b: number, base: number, t: number): number {
    const bytes = this.bytes;
    const gre = this.l4Off[b];
    const len = this.l4End;
    const flags = bytes[base + gre];
    // Checksum (C), key (K) and sequence (S) each add 4 bytes to the 4-byte base header.
    const hdr = 4 + (flags & 0x80 ? 4 : 0) + (flags & 0x20 ? 4 : 0) + (flags & 0x10 ? 4 : 0);
    if (gre + hdr > len) return malformed(Reason.TRUNCATED_GRE);
    const type = (bytes[base + gre + 2] << 8) | bytes[base + gre + 3];
    let off = gre + hdr;
    if (type === ETH_TEB) {
      if (off + 14 > len) return malformed(Reason.TRUNCATED_INNER);
      this.innerL2Off[b] = off;
      t |= PTYPE.INNER_ETHER;
      const inner = (bytes[base + off + 12] << 8) | bytes[base + off + 13];
      off += 14;
      if (inner !== ETH_IPV4 && inner !== ETH_IPV6) return t;
      return this.parseInner(b, base, off, len, inner === ETH_IPV6, t);
    }
    if (type !== ETH_IPV4 && type !== ETH_IPV6) return t;
    return this.parseInner(b, base, off, len, type === ETH_IPV6, t);
  }

  private parseInner(b: number, base: number, off: number, end: number, v6: boolean, t: number): number {
    const r = this.parseIp(base, off, end, v6, true);
    // A malformed inner packet: the outer one is fine, but the packet cannot be handled as a
    // tunnelled packet, so it is dropped with its own reason.
    if (r < 0) return malformed(-r as ReasonCode);
    this.innerL3Off[b] = this.l3;
    if (r & L4_FOUND) this.innerL4Off[b] = this.l4;
    return t | (r & ~L4_FOUND);
  }
}

// Internal flag of parseIp's result: the layer-4 offset is valid. Bit 23 is unused by PTYPE.
const L4_FOUND = 1 << 23;
