// Burst-parse benchmark in plain C++: the "machine's limit" next to which the TypeScript parser
// (packages/protocols, parseBurst) and Go gopacket (tooling/bench/gopacket) are measured.
//
//   native/build-bench/parse_bench ../shared/testdata/bench/mix.pcap
//
// Loads a little-endian microsecond pcap into one buffer laid out like our mempool (packet i at
// i*2048 + 256, lengths in a u16 array), then, over all packets in bursts of 32, packet by
// packet, as BurstParser.parse(burst, outerKeys, innerKeys) does in one pass:
//   1. parses the packet as parseBurst does, writing the packet type bits (the PTYPE bits of
//      packages/protocols/src/ptype.ts) and six u16 header offsets relative to the packet start
//      (l2, l3, l4, innerL2, innerL3, innerL4) into structure-of-arrays metadata indexed by buffer;
//   2. right away, stores the outer and inner keys (IP version, L4 protocol, ports, addresses)
//      at the packet's burst position into structure-of-arrays buffers laid out and filled as
//      FlowKeys (packages/protocols/src/flow-keys.ts) is, reused burst after burst.
// After each burst it reads three of the keys, as the JS loop does (printed as checksum).
// It is a straightforward branchy parser, one packet at a time, with every read bounds-checked
// against the packet length: no SIMD, no prefetching, no tricks.
//
// What is parsed: Ethernet; up to 8 VLAN tags (0x8100, 0x88a8, 0x9100); MPLS (up to 8 labels,
// then IPv4/IPv6 guessed from the first nibble); ARP; IPv4 (IHL, options, total length,
// fragments); IPv6 (hop-by-hop, routing, fragment, destination options, AH; at most 8 extension
// headers); TCP, UDP, ICMP, ICMPv6, SCTP, GRE (C/K/S flags; carries Ethernet 0x6558, IPv4, IPv6);
// VXLAN (UDP dst 4789; inner Ethernet, one inner 0x8100 tag) and GTP-U (UDP dst 2152; version 1,
// E/S/PN optional fields, extension header chain, inner IPv4/IPv6 for G-PDU, message type 255).
// Conventions (to be kept in line with parseBurst):
// - l4Off is where the upper-layer header starts, for any protocol number, except for non-first
//   fragments and IPv6 "no next header" (59); it stays 0 when not found. So do the inner offsets.
// - The end of an IP packet is its total/payload length (Ethernet padding is ignored); a tunnel's
//   end is its UDP length (GTP-U: its own length field). IPv6 payload length 0 (a jumbogram)
//   ends at the end of the packet (or tunnel).
// - First fragments (offset 0, MF) get FRAG and their L4 header is parsed, without the UDP length
//   check (it covers the whole datagram) and without tunnel parsing; later fragments get no L4.
// - A malformed packet keeps the bits and offsets found before the error, and gets MALFORMED
//   with a reason in bits 24-30. Truncations inside a tunnel payload are TRUNCATED_INNER; other
//   inner errors (bad IHL, bad lengths) use the same reasons as outside.
// - Inner IP fragments get no bit of their own (there is no INNER_FRAG); non-first ones no inner L4.
//
// Usage: parse_bench [--shuffled] [--selftest] [--keys-dump OUT] FILE.pcap
// Output (stdout, JSON lines): {"name":"parse-mix-cpp","unit":"Mpps","value":...} is the MEDIAN
// of 5 repetitions of ~0.2 s each (about 1 s in all after a 0.3 s warm-up), each repetition a
// whole number of passes over all packets in order; parse-mix-cpp-best is the best of the 5,
// parse-mix-cpp-ns is ns per packet at the median. stderr: keys-digest, an FNV-1a 64 of the
// stored keys of every packet (an untimed pass; the records are those of keyRecords in
// tooling/bench/protocols-js.mjs, which the suite compares; `--keys-dump OUT` writes them to OUT
// and exits), the packet type histogram, a digest of the extracted 5-tuples (same definition
// as tooling/bench/gopacket, so the two can be compared) and the checksum. A built-in self-test of hand-made packets (IPv4
// options, fragments, IPv6 extension headers, QinQ, GRE, GTP-U extension headers, truncations)
// runs first; the program exits 1 if it fails. `--selftest` runs only that.
// `--shuffled` adds parse-mix-cpp-shuffled (and -best): the same loop with the packets of each
// burst visited in one of 16 other orders, pass after pass. The in-order figure repeats one
// 4096-packet sequence, which the branch predictor partly learns; on this machine the shuffled
// figure came out about 2.4x lower (~33 vs ~80 Mpps, quiet machine).
#include <time.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <string>
#include <vector>

namespace {

// ------------------------------------------------------------------ packet type bits (ptype.ts)
namespace pt {
constexpr uint32_t ETHER = 1u << 0, VLAN = 1u << 1, QINQ = 1u << 2, ARP = 1u << 3, MPLS = 1u << 4,
                   IPV4 = 1u << 5, IPV6 = 1u << 6, IP_EXT = 1u << 7, FRAG = 1u << 8, TCP = 1u << 9,
                   UDP = 1u << 10, ICMP = 1u << 11, ICMPV6 = 1u << 12, SCTP = 1u << 13,
                   GRE = 1u << 14, VXLAN = 1u << 15, GTPU = 1u << 16, INNER_ETHER = 1u << 17,
                   INNER_IPV4 = 1u << 18, INNER_IPV6 = 1u << 19, INNER_TCP = 1u << 20,
                   INNER_UDP = 1u << 21, INNER_ICMP = 1u << 22, MALFORMED = 1u << 31;
}  // namespace pt

enum Reason : uint32_t {
  NONE = 0,
  TRUNCATED_L2 = 1,
  TRUNCATED_VLAN = 2,
  TRUNCATED_MPLS = 3,
  TRUNCATED_ARP = 4,
  TRUNCATED_IPV4 = 5,
  BAD_IP_VERSION = 6,
  BAD_IHL = 7,
  BAD_TOTAL_LENGTH = 8,
  TRUNCATED_IPV6 = 9,
  BAD_PAYLOAD_LENGTH = 10,
  TRUNCATED_EXT_HEADER = 11,
  HEADER_CHAIN_TOO_LONG = 12,
  TRUNCATED_TCP = 13,
  BAD_TCP_OFFSET = 14,
  TRUNCATED_UDP = 15,
  BAD_UDP_LENGTH = 16,
  TRUNCATED_ICMP = 17,
  TRUNCATED_SCTP = 18,
  TRUNCATED_GRE = 19,
  TRUNCATED_TUNNEL = 20,
  TRUNCATED_INNER = 21,
  TOO_MANY_TAGS = 22,
};

const char* const kBitNames[23] = {"ether", "vlan", "qinq", "arp", "mpls", "ipv4", "ipv6", "ip_ext",
                                   "frag", "tcp", "udp", "icmp", "icmpv6", "sctp", "gre", "vxlan",
                                   "gtpu", "inner_ether", "inner_ipv4", "inner_ipv6", "inner_tcp",
                                   "inner_udp", "inner_icmp"};
const char* const kReasonNames[23] = {
    "none", "truncated l2", "truncated vlan", "truncated mpls", "truncated arp", "truncated ipv4",
    "bad ip version", "bad ihl", "bad total length", "truncated ipv6", "bad payload length",
    "truncated ext header", "header chain too long", "truncated tcp", "bad tcp offset",
    "truncated udp", "bad udp length", "truncated icmp", "truncated sctp", "truncated gre",
    "truncated tunnel", "truncated inner", "too many tags"};

constexpr uint32_t kMaxVlanTags = 8;  // MAX_CHAIN in parse.ts
constexpr uint32_t kMaxMplsLabels = 8;
constexpr uint32_t kMaxIp6Ext = 8;
constexpr uint32_t kMaxGtpExt = 8;
constexpr uint16_t kVxlanPort = 4789;
constexpr uint16_t kGtpuPort = 2152;

constexpr uint32_t kStride = 2048;
constexpr uint32_t kHeadroom = 256;
constexpr uint32_t kBurst = 32;

inline uint16_t Rd16(const uint8_t* p) {
  uint16_t v;
  std::memcpy(&v, p, 2);
  return __builtin_bswap16(v);
}
inline uint32_t Rd32(const uint8_t* p) {
  uint32_t v;
  std::memcpy(&v, p, 4);
  return __builtin_bswap32(v);
}
inline uint64_t Ld64(const uint8_t* p) {
  uint64_t v;
  std::memcpy(&v, p, 8);
  return v;
}

// ------------------------------------------------------------------ metadata (structure of arrays)
struct Meta {
  std::vector<uint32_t> ptype;
  std::vector<uint16_t> l2, l3, l4, il2, il3, il4;
  explicit Meta(size_t n) : ptype(n), l2(n), l3(n), l4(n), il2(n), il3(n), il4(n) {}
};

// Offsets of one packet while it is being parsed (written to the arrays once, at the end).
struct Offs {
  uint32_t l3 = 0, l4 = 0, il2 = 0, il3 = 0, il4 = 0;
};

// Result of an IP header walk.
struct IpInfo {
  uint32_t l4;   // offset of the upper-layer header (valid when proto >= 0)
  uint32_t end;  // end of the IP packet (total / payload length)
  int proto;     // upper-layer protocol, -1 when there is none to parse (later fragment, 59)
  bool frag;     // a fragment (first or later)
};

// Per-level flavour: outer headers set the outer bits and reasons; inner ones (kInner) set the
// INNER_* bits and report truncation as TRUNCATED_INNER.
template <bool kInner>
constexpr uint32_t Trunc(uint32_t outer_reason) {
  return kInner ? uint32_t(TRUNCATED_INNER) : outer_reason;
}

// IPv4 header at `off`, packet bytes up to `lim`. Returns a reason (0 = ok).
template <bool kInner>
inline uint32_t ParseIpv4(const uint8_t* p, uint32_t off, uint32_t lim, uint32_t& bits, IpInfo& ip) {
  if (off + 20 > lim) return Trunc<kInner>(TRUNCATED_IPV4);
  const uint8_t vihl = p[off];
  if ((vihl >> 4) != 4) return BAD_IP_VERSION;
  bits |= kInner ? pt::INNER_IPV4 : pt::IPV4;
  const uint32_t hl = uint32_t(vihl & 15) * 4;
  if (hl < 20) return BAD_IHL;
  if (off + hl > lim) return Trunc<kInner>(TRUNCATED_IPV4);
  const uint32_t tot = Rd16(p + off + 2);
  if (tot < hl || off + tot > lim) return BAD_TOTAL_LENGTH;
  if (!kInner && hl > 20) bits |= pt::IP_EXT;
  const uint16_t fo = Rd16(p + off + 6);
  ip.end = off + tot;
  ip.l4 = off + hl;
  ip.frag = (fo & 0x3fff) != 0;  // MF or a non-zero offset
  if (ip.frag && !kInner) bits |= pt::FRAG;
  ip.proto = (fo & 0x1fff) ? -1 : p[off + 9];
  return 0;
}

// IPv6 header and extension headers at `off`.
template <bool kInner>
inline uint32_t ParseIpv6(const uint8_t* p, uint32_t off, uint32_t lim, uint32_t& bits, IpInfo& ip) {
  if (off + 40 > lim) return Trunc<kInner>(TRUNCATED_IPV6);
  if ((p[off] >> 4) != 6) return BAD_IP_VERSION;
  bits |= kInner ? pt::INNER_IPV6 : pt::IPV6;
  const uint32_t plen = Rd16(p + off + 4);
  // Payload length 0 is a jumbogram (or a capture of one): take what is there, as parseIp does.
  const uint32_t end = plen == 0 ? lim : off + 40 + plen;
  if (end > lim) return BAD_PAYLOAD_LENGTH;
  ip.end = end;
  ip.frag = false;
  uint32_t nh = p[off + 6];
  uint32_t h = off + 40;
  for (uint32_t n = 0;; n++) {
    uint32_t hl;
    switch (nh) {
      case 0:   // hop-by-hop options
      case 43:  // routing
      case 60:  // destination options
        if (h + 8 > end) return Trunc<kInner>(TRUNCATED_EXT_HEADER);
        hl = (uint32_t(p[h + 1]) + 1) * 8;
        break;
      case 51:  // AH: length in 4-byte units, minus 2
        if (h + 12 > end) return Trunc<kInner>(TRUNCATED_EXT_HEADER);
        hl = (uint32_t(p[h + 1]) + 2) * 4;
        break;
      case 44: {  // fragment
        if (h + 8 > end) return Trunc<kInner>(TRUNCATED_EXT_HEADER);
        const uint16_t fo = Rd16(p + h + 2);
        if (!kInner) bits |= pt::IP_EXT;
        if (fo & 0xfff9) {  // offset or M: a real fragment (not an atomic one)
          ip.frag = true;
          if (!kInner) bits |= pt::FRAG;
          if (fo & 0xfff8) {  // not the first: no upper-layer header here
            ip.proto = -1;
            ip.l4 = h + 8;
            return 0;
          }
        }
        hl = 8;
        break;
      }
      case 59:  // no next header
        ip.proto = -1;
        ip.l4 = h;
        return 0;
      default:
        ip.proto = int(nh);
        ip.l4 = h;
        return 0;
    }
    if (n >= kMaxIp6Ext) return HEADER_CHAIN_TOO_LONG;
    if (h + hl > end) return Trunc<kInner>(TRUNCATED_EXT_HEADER);
    if (!kInner) bits |= pt::IP_EXT;
    nh = p[h];
    h += hl;
  }
}

// Where a tunnel's inner packet starts and what it is.
struct Inner {
  enum Kind { NONE, ETHER, IPV4, IPV6 } kind = NONE;
  uint32_t off = 0, end = 0;
};

// Upper-layer header at ip.l4 (ip.proto >= 0). Sets l4 bits; for the outer level also finds a
// tunnel payload (VXLAN, GTP-U, GRE) in `in`.
template <bool kInner>
inline uint32_t ParseL4(const uint8_t* p, const IpInfo& ip, uint32_t& bits, Inner& in) {
  const uint32_t o = ip.l4, end = ip.end;
  switch (ip.proto) {
    case 6: {  // TCP
      if (o + 20 > end) return Trunc<kInner>(TRUNCATED_TCP);
      bits |= kInner ? pt::INNER_TCP : pt::TCP;
      const uint32_t doff = uint32_t(p[o + 12] >> 4) * 4;
      if (doff < 20) return BAD_TCP_OFFSET;
      if (o + doff > end) return Trunc<kInner>(TRUNCATED_TCP);
      return 0;
    }
    case 17: {  // UDP
      if (o + 8 > end) return Trunc<kInner>(TRUNCATED_UDP);
      bits |= kInner ? pt::INNER_UDP : pt::UDP;
      if (ip.frag) return 0;  // the UDP length covers the whole datagram; no tunnel either
      const uint32_t ulen = Rd16(p + o + 4);
      if (ulen < 8 || o + ulen > end) return BAD_UDP_LENGTH;
      if (kInner) return 0;
      const uint16_t dport = Rd16(p + o + 2);
      const uint32_t t = o + 8, tend = o + ulen;
      if (dport == kVxlanPort) {
        if (t + 8 > tend) return TRUNCATED_TUNNEL;
        bits |= pt::VXLAN;
        in.kind = Inner::ETHER;
        in.off = t + 8;
        in.end = tend;
      } else if (dport == kGtpuPort) {
        if (t + 8 > tend) return TRUNCATED_TUNNEL;
        const uint8_t flags = p[t];
        if ((flags & 0xf0) != 0x30) return 0;  // not GTPv1 with PT=1 (GTP'): plain UDP
        bits |= pt::GTPU;
        const uint32_t gend = t + 8 + Rd16(p + t + 2);
        if (gend > tend) return TRUNCATED_TUNNEL;
        uint32_t h = t + 8;
        if (flags & 0x07) {  // E, S or PN: sequence number, N-PDU number, next extension type
          if (h + 4 > gend) return TRUNCATED_TUNNEL;
          uint32_t next = p[h + 3];
          h += 4;
          if (flags & 0x04) {
            for (uint32_t n = 0; next != 0; n++) {
              if (n >= kMaxGtpExt) return HEADER_CHAIN_TOO_LONG;
              if (h + 4 > gend) return TRUNCATED_TUNNEL;
              const uint32_t el = uint32_t(p[h]) * 4;
              if (el == 0 || h + el > gend) return TRUNCATED_TUNNEL;
              next = p[h + el - 1];
              h += el;
            }
          }
        }
        if (p[t + 1] == 255 && h < gend) {  // G-PDU carrying IP
          const uint8_t v = p[h] >> 4;
          if (v == 4 || v == 6) {
            in.kind = v == 4 ? Inner::IPV4 : Inner::IPV6;
            in.off = h;
            in.end = gend;
          }
        }
      }
      return 0;
    }
    case 1:  // ICMP (4 bytes, as parseIp asks)
      if (o + 4 > end) return Trunc<kInner>(TRUNCATED_ICMP);
      bits |= kInner ? pt::INNER_ICMP : pt::ICMP;
      return 0;
    case 58:  // ICMPv6
      if (o + 4 > end) return Trunc<kInner>(TRUNCATED_ICMP);
      bits |= kInner ? pt::INNER_ICMP : pt::ICMPV6;
      return 0;
    case 132:  // SCTP common header
      if (kInner) return 0;
      if (o + 12 > end) return TRUNCATED_SCTP;
      bits |= pt::SCTP;
      return 0;
    case 47: {  // GRE
      if (kInner) return 0;
      if (o + 4 > end) return TRUNCATED_GRE;
      bits |= pt::GRE;
      if (ip.frag) return 0;  // a fragment does not hold a whole tunnelled packet (parseEthernet)
      const uint16_t fl = Rd16(p + o);
      const uint32_t hl = 4 + ((fl & 0x8000) ? 4 : 0) + ((fl & 0x2000) ? 4 : 0) + ((fl & 0x1000) ? 4 : 0);
      if (o + hl > end) return TRUNCATED_GRE;
      if ((fl & 0x4007) != 0) return 0;  // routing present or version != 0 (PPTP): no inner parse
      const uint16_t proto = Rd16(p + o + 2);
      in.off = o + hl;
      in.end = end;
      if (proto == 0x6558) in.kind = Inner::ETHER;
      else if (proto == 0x0800) in.kind = Inner::IPV4;
      else if (proto == 0x86dd) in.kind = Inner::IPV6;
      return 0;
    }
    default:
      return 0;
  }
}

// Parses one packet; returns its ptype and fills `o`.
inline uint32_t ParseOne(const uint8_t* p, uint32_t len, Offs& o) {
  uint32_t bits = 0, r = 0;
  IpInfo ip;
  Inner in;
  uint32_t off, et;
  if (len < 14) { r = TRUNCATED_L2; goto fail; }
  bits = pt::ETHER;
  off = 12;
  et = Rd16(p + 12);
  if (et == 0x8100 || et == 0x88a8 || et == 0x9100) {
    uint32_t tags = 0;
    do {
      if (++tags > kMaxVlanTags) { r = TOO_MANY_TAGS; goto fail; }
      if (off + 6 > len) { r = TRUNCATED_VLAN; goto fail; }
      off += 4;
      et = Rd16(p + off);
    } while (et == 0x8100 || et == 0x88a8 || et == 0x9100);
    bits |= tags > 1 ? (pt::VLAN | pt::QINQ) : pt::VLAN;
  }
  off += 2;
  switch (et) {
    case 0x0800:
      o.l3 = off;
      if ((r = ParseIpv4<false>(p, off, len, bits, ip))) goto fail;
      break;
    case 0x86dd:
      o.l3 = off;
      if ((r = ParseIpv6<false>(p, off, len, bits, ip))) goto fail;
      break;
    case 0x0806:
      o.l3 = off;
      if (off + 28 > len) { r = TRUNCATED_ARP; goto fail; }
      return bits | pt::ARP;
    case 0x8847:
    case 0x8848: {
      bits |= pt::MPLS;
      for (uint32_t n = 0;; n++) {
        if (n >= kMaxMplsLabels) { r = TOO_MANY_TAGS; goto fail; }
        if (off + 4 > len) { r = TRUNCATED_MPLS; goto fail; }
        const bool bos = p[off + 2] & 1;
        off += 4;
        if (bos) break;
      }
      if (off >= len) return bits;
      o.l3 = off;
      const uint8_t v = p[off] >> 4;
      if (v == 4) {
        if ((r = ParseIpv4<false>(p, off, len, bits, ip))) goto fail;
      } else if (v == 6) {
        if ((r = ParseIpv6<false>(p, off, len, bits, ip))) goto fail;
      } else {
        o.l3 = 0;
        return bits;
      }
      break;
    }
    default:
      return bits;
  }
  if (ip.proto < 0) return bits;
  o.l4 = ip.l4;
  if ((r = ParseL4<false>(p, ip, bits, in))) goto fail;
  if (in.kind == Inner::NONE) return bits;

  // Tunnel payload.
  off = in.off;
  if (in.kind == Inner::ETHER) {
    if (off + 14 > in.end) { r = TRUNCATED_INNER; goto fail; }
    bits |= pt::INNER_ETHER;
    o.il2 = off;
    off += 12;
    et = Rd16(p + off);
    // As parseUdpTunnel and parseGre: one 0x8100 tag behind VXLAN, none behind GRE (TEB); a
    // frame with more is not parsed further.
    if (et == 0x8100 && (bits & pt::VXLAN)) {
      if (off + 6 > in.end) { r = TRUNCATED_INNER; goto fail; }
      off += 4;
      et = Rd16(p + off);
    }
    off += 2;
    if (et == 0x0800) in.kind = Inner::IPV4;
    else if (et == 0x86dd) in.kind = Inner::IPV6;
    else return bits;
  }
  o.il3 = off;
  if (in.kind == Inner::IPV4) {
    if ((r = ParseIpv4<true>(p, off, in.end, bits, ip))) goto fail;
  } else {
    if ((r = ParseIpv6<true>(p, off, in.end, bits, ip))) goto fail;
  }
  if (ip.proto < 0) return bits;
  o.il4 = ip.l4;
  if ((r = ParseL4<true>(p, ip, bits, in))) goto fail;
  return bits;
fail:
  return bits | pt::MALFORMED | (r << 24);
}

// The parse step of a burst: packets [first, first + n) of the pool, or with kIdx the packets
// idx[first .. first + n) (the --shuffled measurement).
template <bool kIdx = false>
__attribute__((noinline)) void ParseBurst(const uint8_t* pool, const uint16_t* lens, uint32_t first,
                                          uint32_t n, Meta& m, const uint32_t* idx = nullptr) {
  for (uint32_t j = first; j < first + n; j++) {
    const uint32_t i = kIdx ? idx[j] : j;
    Offs o;
    const uint32_t t = ParseOne(pool + size_t(i) * kStride + kHeadroom, lens[i], o);
    m.ptype[i] = t;
    m.l2[i] = 0;
    m.l3[i] = uint16_t(o.l3);
    m.l4[i] = uint16_t(o.l4);
    m.il2[i] = uint16_t(o.il2);
    m.il3[i] = uint16_t(o.il3);
    m.il4[i] = uint16_t(o.il4);
  }
}

// ------------------------------------------------------------------ 5-tuple extraction
// L4 protocol number from the ptype bits; 0 when none of them is set (read from the IP header).
inline uint32_t OuterProto(uint32_t t) {
  if (t & pt::TCP) return 6;
  if (t & pt::UDP) return 17;
  if (t & pt::ICMP) return 1;
  if (t & pt::ICMPV6) return 58;
  if (t & pt::SCTP) return 132;
  if (t & pt::GRE) return 47;
  return 0;
}
inline uint32_t InnerProto(uint32_t t) {
  if (t & pt::INNER_TCP) return 6;
  if (t & pt::INNER_UDP) return 17;
  if (t & pt::INNER_ICMP) return (t & pt::INNER_IPV6) ? 58 : 1;
  return 0;
}

// A 5-tuple, addresses as 16 bytes (IPv4 in the first 4, the rest zero), for the digest.
struct Tuple {
  uint8_t ver = 0, proto = 0;
  uint8_t src[16] = {}, dst[16] = {};
  uint16_t sport = 0, dport = 0;
};

// ------------------------------------------------------------------ FlowKeys
// The keys of one burst as packages/protocols/src/flow-keys.ts lays them out (structure of
// arrays, entry j for burst position j, reused burst after burst): version (4, 6, or 0 without
// (inner) IP), protocol, ports (0 without TCP, UDP or SCTP), and the addresses as four 32-bit
// words most significant first, an IPv4 address in word 3 with words 0-2 zero. Like FlowKeys,
// an entry with version 0 keeps whatever addresses it held before.
struct Keys {
  std::vector<uint8_t> version, protocol;
  std::vector<uint16_t> src_port, dst_port;
  std::vector<uint32_t> src, dst;
  explicit Keys(size_t cap)
      : version(cap), protocol(cap), src_port(cap), dst_port(cap), src(cap * 4), dst(cap * 4) {}
};

// The arrays as plain pointers (as the JS loop takes the typed arrays into locals).
struct KeysOut {
  uint8_t* version;
  uint8_t* protocol;
  uint16_t* src_port;
  uint16_t* dst_port;
  uint32_t* src;
  uint32_t* dst;
  explicit KeysOut(Keys& k)
      : version(k.version.data()), protocol(k.protocol.data()), src_port(k.src_port.data()),
        dst_port(k.dst_port.data()), src(k.src.data()), dst(k.dst.data()) {}
};

// Stores entry j of the outer (or, with kInner, inner) keys of a packet parsed as ptype `t` with
// the given L3/L4 offsets: the values FlowKeys.extractOne gives. The JS parser's ptype of a
// malformed packet has no layer bits, so a malformed packet gets no keys (version 0, zeros);
// ours keeps the bits found before the error, hence the MALFORMED test. The protocol is the IP
// header's (the fixed IPv6 header's next header, even with extension headers), except when the
// parser found TCP/UDP/SCTP (then 6/17/132 with the ports) or ICMP/ICMPv6 (then 1 over IPv4, 58
// over IPv6), as flow-keys.ts does.
template <bool kInner>
inline void StoreKeys(const uint8_t* p, uint32_t t, uint32_t l3, uint32_t l4, const KeysOut& k, uint32_t j) {
  constexpr uint32_t kV4 = kInner ? pt::INNER_IPV4 : pt::IPV4;
  constexpr uint32_t kV6 = kInner ? pt::INNER_IPV6 : pt::IPV6;
  constexpr uint32_t kTcp = kInner ? pt::INNER_TCP : pt::TCP;
  constexpr uint32_t kUdp = kInner ? pt::INNER_UDP : pt::UDP;
  constexpr uint32_t kL4 = kInner ? (pt::INNER_TCP | pt::INNER_UDP) : (pt::TCP | pt::UDP | pt::SCTP);
  constexpr uint32_t kIcmp = kInner ? pt::INNER_ICMP : (pt::ICMP | pt::ICMPV6);
  if ((t & pt::MALFORMED) || !(t & (kV4 | kV6))) {
    k.version[j] = 0;
    k.protocol[j] = 0;
    k.src_port[j] = 0;
    k.dst_port[j] = 0;
    return;
  }
  const uint8_t* ip = p + l3;
  uint32_t* const s = k.src + 4 * j;
  uint32_t* const d = k.dst + 4 * j;
  uint32_t proto;
  const bool v4 = t & kV4;
  if (v4) {
    proto = ip[9];
    s[0] = 0;
    s[1] = 0;
    s[2] = 0;
    s[3] = Rd32(ip + 12);
    d[0] = 0;
    d[1] = 0;
    d[2] = 0;
    d[3] = Rd32(ip + 16);
  } else {
    proto = ip[6];
    for (int w = 0; w < 4; w++) {
      s[w] = Rd32(ip + 8 + 4 * w);
      d[w] = Rd32(ip + 24 + 4 * w);
    }
  }
  k.version[j] = v4 ? 4 : 6;
  if (t & kL4) {
    k.src_port[j] = Rd16(p + l4);
    k.dst_port[j] = Rd16(p + l4 + 2);
    proto = (t & kTcp) ? 6 : (t & kUdp) ? 17 : 132;
  } else {
    k.src_port[j] = 0;
    k.dst_port[j] = 0;
    if (t & kIcmp) proto = v4 ? 1 : 58;
  }
  k.protocol[j] = uint8_t(proto);
}

// The benchmark's step, as BurstParser.parse(burst, keys, innerKeys) does it: each packet of the
// burst (pool packets [first, first + n), or with kIdx the packets idx[first .. first + n)) is
// parsed (ptype and offsets written as ParseBurst does) and its outer and inner keys are stored
// right away, in the same pass, at its position in the burst (entry j for the burst's j-th
// packet), from the offsets just found.
template <bool kIdx = false>
__attribute__((noinline)) void ParseKeysBurst(const uint8_t* pool, const uint16_t* lens, uint32_t first, uint32_t n,
                                              Meta& m, const KeysOut& ok, const KeysOut& ik,
                                              const uint32_t* idx = nullptr) {
  uint32_t* const ptype = m.ptype.data();
  uint16_t* const l2 = m.l2.data();
  uint16_t* const l3 = m.l3.data();
  uint16_t* const l4 = m.l4.data();
  uint16_t* const il2 = m.il2.data();
  uint16_t* const il3 = m.il3.data();
  uint16_t* const il4 = m.il4.data();
  for (uint32_t j = 0; j < n; j++) {
    const uint32_t i = kIdx ? idx[first + j] : first + j;
    const uint8_t* p = pool + size_t(i) * kStride + kHeadroom;
    Offs o;
    const uint32_t t = ParseOne(p, lens[i], o);
    ptype[i] = t;
    l2[i] = 0;
    l3[i] = uint16_t(o.l3);
    l4[i] = uint16_t(o.l4);
    il2[i] = uint16_t(o.il2);
    il3[i] = uint16_t(o.il3);
    il4[i] = uint16_t(o.il4);
    StoreKeys<false>(p, t, o.l3, o.l4, ok, j);
    StoreKeys<true>(p, t, o.il3, o.il4, ik, j);
  }
}

// One packet's keys as a record for the cross-language check (tooling/bench/protocols-js.mjs
// builds the same from its FlowKeys): per level (outer, then inner) 38 bytes: version,
// protocol, srcPort and dstPort (big-endian), src and dst words (each big-endian). The addresses
// of a version-0 entry count as zero (FlowKeys leaves them stale).
constexpr size_t kKeyRecord = 38;
void AppendKeyRecord(const Keys& k, uint32_t j, std::vector<uint8_t>& out) {
  uint8_t b[kKeyRecord] = {};
  b[0] = k.version[j];
  b[1] = k.protocol[j];
  b[2] = uint8_t(k.src_port[j] >> 8);
  b[3] = uint8_t(k.src_port[j]);
  b[4] = uint8_t(k.dst_port[j] >> 8);
  b[5] = uint8_t(k.dst_port[j]);
  if (k.version[j] != 0) {
    for (int w = 0; w < 4; w++) {
      const uint32_t s = k.src[4 * j + w], d = k.dst[4 * j + w];
      for (int c = 0; c < 4; c++) {
        b[6 + 4 * w + c] = uint8_t(s >> (24 - 8 * c));
        b[22 + 4 * w + c] = uint8_t(d >> (24 - 8 * c));
      }
    }
  }
  out.insert(out.end(), b, b + kKeyRecord);
}

uint64_t Fnv1a64(const std::vector<uint8_t>& v) {
  uint64_t h = 0xcbf29ce484222325ull;
  for (uint8_t c : v) h = (h ^ c) * 0x100000001b3ull;
  return h;
}

// The same tuples as plain records (outside the timed loop), for the cross-language digest.
void TuplesOf(const uint8_t* p, uint32_t t, const Meta& m, uint32_t i, Tuple& out, Tuple& inner) {
  out = Tuple{};
  inner = Tuple{};
  if (t & pt::MALFORMED) return;
  auto ip = [&](Tuple& u, uint32_t l3, bool v4, uint32_t proto, bool l4ports, uint32_t l4) {
    const uint8_t* h = p + l3;
    u.ver = v4 ? 4 : 6;
    if (v4) {
      u.proto = h[9];
      std::memcpy(u.src, h + 12, 4);
      std::memcpy(u.dst, h + 16, 4);
    } else {
      u.proto = uint8_t(proto ? proto : h[6]);
      std::memcpy(u.src, h + 8, 16);
      std::memcpy(u.dst, h + 24, 16);
    }
    if (l4ports) {
      u.sport = Rd16(p + l4);
      u.dport = Rd16(p + l4 + 2);
    }
  };
  if (!(t & (pt::IPV4 | pt::IPV6))) return;
  ip(out, m.l3[i], t & pt::IPV4, OuterProto(t), t & (pt::TCP | pt::UDP | pt::SCTP), m.l4[i]);
  if (t & (pt::INNER_IPV4 | pt::INNER_IPV6))
    ip(inner, m.il3[i], t & pt::INNER_IPV4, InnerProto(t), t & (pt::INNER_TCP | pt::INNER_UDP), m.il4[i]);
}

// FNV-1a 64 over each packet's two records, 38 bytes each: ver, proto, src[16], dst[16],
// sport (BE), dport (BE). tooling/bench/gopacket computes the same.
uint64_t TupleDigest(const uint8_t* pool, uint32_t n, const Meta& m) {
  uint64_t h = 0xcbf29ce484222325ull;
  auto eat = [&](const Tuple& u) {
    uint8_t b[38];
    b[0] = u.ver;
    b[1] = u.proto;
    std::memcpy(b + 2, u.src, 16);
    std::memcpy(b + 18, u.dst, 16);
    b[34] = uint8_t(u.sport >> 8);
    b[35] = uint8_t(u.sport);
    b[36] = uint8_t(u.dport >> 8);
    b[37] = uint8_t(u.dport);
    for (uint8_t c : b) h = (h ^ c) * 0x100000001b3ull;
  };
  for (uint32_t i = 0; i < n; i++) {
    Tuple o, in;
    TuplesOf(pool + size_t(i) * kStride + kHeadroom, m.ptype[i], m, i, o, in);
    eat(o);
    eat(in);
  }
  return h;
}

std::string PtypeName(uint32_t t) {
  std::string s;
  auto add = [&s](const char* w) {
    if (!s.empty()) s += '|';
    s += w;
  };
  for (int b = 0; b < 23; b++)
    if (t & (1u << b)) add(kBitNames[b]);
  if (t & pt::MALFORMED) {
    const uint32_t r = (t >> 24) & 0x7f;
    add("MALFORMED(");
    s += r < 23 ? kReasonNames[r] : "?";
    s += ')';
  }
  return s.empty() ? "none" : s;
}

// ------------------------------------------------------------------ pcap loading
bool LoadPcap(const char* path, std::vector<std::vector<uint8_t>>& pkts) {
  FILE* f = std::fopen(path, "rb");
  if (!f) return false;
  std::vector<uint8_t> d;
  uint8_t chunk[65536];
  size_t got;
  while ((got = std::fread(chunk, 1, sizeof chunk, f)) > 0) d.insert(d.end(), chunk, chunk + got);
  std::fclose(f);
  uint32_t magic;
  if (d.size() < 24 || (std::memcpy(&magic, d.data(), 4), magic != 0xa1b2c3d4u)) {
    std::fprintf(stderr, "%s: not a little-endian microsecond pcap\n", path);
    return false;
  }
  for (size_t o = 24; o + 16 <= d.size();) {
    uint32_t incl;
    std::memcpy(&incl, d.data() + o + 8, 4);
    o += 16;
    if (o + incl > d.size()) break;
    if (incl <= kStride - kHeadroom) pkts.emplace_back(d.begin() + o, d.begin() + o + incl);
    o += incl;
  }
  return true;
}

double NowSec() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return double(ts.tv_sec) + double(ts.tv_nsec) * 1e-9;
}

// ------------------------------------------------------------------ self-test
struct Case {
  const char* name;
  std::vector<uint8_t> pkt;
  uint32_t ptype;
  uint32_t l3, l4, il2, il3, il4;
};

void Put16(std::vector<uint8_t>& v, size_t at, uint32_t x) {
  v[at] = uint8_t(x >> 8);
  v[at + 1] = uint8_t(x);
}
std::vector<uint8_t> Eth(uint32_t et) {
  std::vector<uint8_t> v(14, 0x11);
  Put16(v, 12, et);
  return v;
}
void Append(std::vector<uint8_t>& v, const std::vector<uint8_t>& w) { v.insert(v.end(), w.begin(), w.end()); }
std::vector<uint8_t> Vlan(uint32_t et) { return {0x00, 0x05, uint8_t(et >> 8), uint8_t(et)}; }
// IPv4 header with `opt` option bytes; total length = header + payload.
std::vector<uint8_t> Ip4(uint8_t proto, uint32_t payload, uint32_t opt = 0, uint16_t frag = 0) {
  const uint32_t hl = 20 + opt;
  std::vector<uint8_t> v(hl, 0x01);
  v[0] = uint8_t(0x40 | (hl / 4));
  Put16(v, 2, hl + payload);
  Put16(v, 6, frag);
  v[9] = proto;
  for (int i = 12; i < 20; i++) v[i] = uint8_t(i);
  return v;
}
std::vector<uint8_t> Ip6(uint8_t nh, uint32_t payload) {
  std::vector<uint8_t> v(40, 0x22);
  v[0] = 0x60;
  Put16(v, 4, payload);
  v[6] = nh;
  return v;
}
std::vector<uint8_t> Ext(uint8_t nh, uint32_t len8) {  // generic 8*(len8+1) byte extension
  std::vector<uint8_t> v((len8 + 1) * 8, 0);
  v[0] = nh;
  v[1] = uint8_t(len8);
  return v;
}
std::vector<uint8_t> Tcp(uint32_t doff = 5) {
  std::vector<uint8_t> v(doff * 4, 0);
  Put16(v, 0, 1234);
  Put16(v, 2, 80);
  v[12] = uint8_t(doff << 4);
  return v;
}
std::vector<uint8_t> Udp(uint16_t dport, uint32_t payload) {
  std::vector<uint8_t> v(8, 0);
  Put16(v, 0, 5555);
  Put16(v, 2, dport);
  Put16(v, 4, 8 + payload);
  return v;
}

bool SelfTest() {
  using namespace pt;
  std::vector<Case> cases;
  auto add = [&](const char* name, std::vector<uint8_t> pkt, uint32_t t, uint32_t l3, uint32_t l4,
                 uint32_t il2 = 0, uint32_t il3 = 0, uint32_t il4 = 0) {
    cases.push_back({name, std::move(pkt), t, l3, l4, il2, il3, il4});
  };
  auto mal = [](uint32_t r) { return MALFORMED | (r << 24); };
  std::vector<uint8_t> v;

  v = Eth(0x0800); Append(v, Ip4(6, 20)); Append(v, Tcp()); v.resize(64, 0);  // with padding
  add("ipv4/tcp padded", v, ETHER | IPV4 | TCP, 14, 34);
  v = Eth(0x0800); Append(v, Ip4(6, 32, 8)); Append(v, Tcp(8));
  add("ipv4 options/tcp options", v, ETHER | IPV4 | IP_EXT | TCP, 14, 42);
  v = Eth(0x0800); Append(v, Ip4(17, 16, 0, 0x2000)); Append(v, Udp(53, 100)); v.resize(v.size() + 8);
  add("ipv4 first fragment/udp", v, ETHER | IPV4 | FRAG | UDP, 14, 34);
  v = Eth(0x0800); Append(v, Ip4(17, 16, 0, 0x0010)); v.resize(v.size() + 16);
  add("ipv4 later fragment", v, ETHER | IPV4 | FRAG, 14, 0);
  v = Eth(0x0800); Append(v, Ip4(6, 20)); v[14] = 0x44;
  add("ipv4 bad ihl", v, ETHER | IPV4 | mal(BAD_IHL), 14, 0);
  v = Eth(0x0800); Append(v, Ip4(6, 20));
  add("ipv4 total length past end", v, ETHER | IPV4 | mal(BAD_TOTAL_LENGTH), 14, 0);
  v = Eth(0x0800); Append(v, Ip4(6, 20)); Append(v, Tcp(8)); v.resize(v.size() - 12); Put16(v, 16, 40);
  add("tcp offset past end", v, ETHER | IPV4 | TCP | mal(TRUNCATED_TCP), 14, 34);
  v = Eth(0x0800); v.resize(20);
  add("truncated ipv4", v, ETHER | mal(TRUNCATED_IPV4), 14, 0);
  v = Eth(0x0800); v.resize(10);
  add("truncated l2", v, mal(TRUNCATED_L2), 0, 0);
  v = Eth(0x8100); Append(v, Vlan(0x8100)); Append(v, Vlan(0x0800)); Append(v, Ip4(17, 8)); Append(v, Udp(9, 0));
  add("qinq/ipv4/udp", v, ETHER | VLAN | QINQ | IPV4 | UDP, 22, 42);
  v = Eth(0x88a8);
  for (int k = 0; k < 8; k++) Append(v, Vlan(0x8100));
  Append(v, Vlan(0x0800));
  add("nine tags", v, ETHER | mal(TOO_MANY_TAGS), 0, 0);
  v = Eth(0x88a8); Append(v, Vlan(0x8100)); Append(v, Vlan(0x8100)); Append(v, Vlan(0x0800)); Append(v, Ip4(17, 8)); Append(v, Udp(9, 0));
  add("three tags/ipv4/udp", v, ETHER | VLAN | QINQ | IPV4 | UDP, 26, 46);
  v = Eth(0x8100); v.resize(16);
  add("truncated vlan", v, ETHER | mal(TRUNCATED_VLAN), 0, 0);
  v = Eth(0x0806); v.resize(42);
  add("arp", v, ETHER | ARP, 14, 0);
  {  // IPv6: HBH(8) + routing(24) + fragment first(8) + dest(8) + AH(16) + TCP(20)
    std::vector<uint8_t> e;
    Append(e, Ext(43, 0)); Append(e, Ext(44, 2));
    std::vector<uint8_t> fr(8, 0); fr[0] = 60; Put16(fr, 2, 0x0001); Append(e, fr);
    Append(e, Ext(51, 0));
    std::vector<uint8_t> ah(16, 0); ah[0] = 6; ah[1] = 2; Append(e, ah);
    v = Eth(0x86dd); Append(v, Ip6(0, uint32_t(e.size()) + 20)); Append(v, e); Append(v, Tcp());
    add("ipv6 hbh/rt/frag/dst/ah/tcp", v, ETHER | IPV6 | IP_EXT | FRAG | TCP, 14, 54 + 64);
  }
  {
    std::vector<uint8_t> fr(8, 0); fr[0] = 17; Put16(fr, 2, 0x0100);
    v = Eth(0x86dd); Append(v, Ip6(44, 24)); Append(v, fr); v.resize(v.size() + 16);
    add("ipv6 later fragment", v, ETHER | IPV6 | IP_EXT | FRAG, 14, 0);
    fr[0] = 58; Put16(fr, 2, 0);  // atomic fragment: not a fragment
    v = Eth(0x86dd); Append(v, Ip6(44, 16)); Append(v, fr); v.resize(v.size() + 8);
    add("ipv6 atomic fragment/icmpv6", v, ETHER | IPV6 | IP_EXT | ICMPV6, 14, 62);
  }
  v = Eth(0x86dd); Append(v, Ip6(0, 16)); Append(v, Ext(6, 2)); v.resize(v.size() - 8);
  add("ipv6 truncated ext", v, ETHER | IPV6 | mal(TRUNCATED_EXT_HEADER), 14, 0);
  v = Eth(0x86dd); Append(v, Ip6(60, 80));
  for (int i = 0; i < 9; i++) Append(v, Ext(60, 0));
  v.resize(v.size() + 8);
  add("ipv6 long chain", v, ETHER | IPV6 | IP_EXT | mal(HEADER_CHAIN_TOO_LONG), 14, 0);
  v = Eth(0x86dd); Append(v, Ip6(6, 100)); v.resize(v.size() + 20);
  add("ipv6 bad payload length", v, ETHER | IPV6 | mal(BAD_PAYLOAD_LENGTH), 14, 0);
  v = Eth(0x0800); Append(v, Ip4(132, 12)); v.resize(v.size() + 12);
  add("sctp", v, ETHER | IPV4 | SCTP, 14, 34);
  v = Eth(0x0800); Append(v, Ip4(17, 8)); Append(v, Udp(53, 4)); v.resize(v.size() + 4); Put16(v, 38, 40);
  add("udp length past end", v, ETHER | IPV4 | UDP | mal(BAD_UDP_LENGTH), 14, 34);
  {  // VXLAN / Ethernet / VLAN / IPv4 / TCP
    std::vector<uint8_t> in = Eth(0x8100); Append(in, Vlan(0x0800)); Append(in, Ip4(6, 20)); Append(in, Tcp());
    std::vector<uint8_t> vx(8, 0); vx[0] = 0x08;
    v = Eth(0x0800); Append(v, Ip4(17, uint32_t(16 + in.size()))); Append(v, Udp(4789, uint32_t(8 + in.size())));
    Append(v, vx); Append(v, in);
    add("vxlan/eth/vlan/ipv4/tcp", v, ETHER | IPV4 | UDP | VXLAN | INNER_ETHER | INNER_IPV4 | INNER_TCP, 14, 34, 50, 68, 88);
    v.resize(v.size() - 30);
    Put16(v, 16, uint32_t(v.size() - 14)); Put16(v, 38, uint32_t(v.size() - 34));
    add("vxlan truncated inner ipv4", v, ETHER | IPV4 | UDP | VXLAN | INNER_ETHER | mal(TRUNCATED_INNER), 14, 34, 50, 68, 0);
  }
  {  // GTP-U with S and E flags, one PDU session container extension, inner IPv6/UDP
    std::vector<uint8_t> in = Ip6(17, 8); Append(in, Udp(2152, 0));
    std::vector<uint8_t> g = {0x36, 0xff, 0, 0, 1, 2, 3, 4, 0, 7, 0, 0x85, 1, 0x10, 0x05, 0x00};
    Put16(g, 2, uint32_t(8 + in.size()));
    v = Eth(0x0800); Append(v, Ip4(17, uint32_t(8 + g.size() + in.size()))); Append(v, Udp(2152, uint32_t(g.size() + in.size())));
    Append(v, g); Append(v, in);
    add("gtpu S+E ext/ipv6/udp", v, ETHER | IPV4 | UDP | GTPU | INNER_IPV6 | INNER_UDP, 14, 34, 0, 58, 98);
    v[58 - 4] = 0;  // extension length 0
    add("gtpu zero-length ext", v, ETHER | IPV4 | UDP | GTPU | mal(TRUNCATED_TUNNEL), 14, 34);
  }
  {  // GTP-U echo request (no inner), GTP-U plain G-PDU with inner IPv4/ICMP
    std::vector<uint8_t> g = {0x30, 0x01, 0, 0, 0, 0, 0, 1};
    v = Eth(0x0800); Append(v, Ip4(17, 16)); Append(v, Udp(2152, 8)); Append(v, g);
    add("gtpu echo", v, ETHER | IPV4 | UDP | GTPU, 14, 34);
    std::vector<uint8_t> in = Ip4(1, 8); in.resize(28);
    g = {0x30, 0xff, 0, 28, 0, 0, 0, 1};
    v = Eth(0x0800); Append(v, Ip4(17, 44)); Append(v, Udp(2152, 36)); Append(v, g); Append(v, in);
    add("gtpu/ipv4/icmp", v, ETHER | IPV4 | UDP | GTPU | INNER_IPV4 | INNER_ICMP, 14, 34, 0, 50, 70);
  }
  {  // GRE with key carrying Ethernet (TEB) / IPv6 / TCP
    std::vector<uint8_t> in = Eth(0x86dd); Append(in, Ip6(6, 20)); Append(in, Tcp());
    std::vector<uint8_t> gre = {0x20, 0x00, 0x65, 0x58, 0, 0, 0, 9};
    v = Eth(0x0800); Append(v, Ip4(47, uint32_t(gre.size() + in.size()))); Append(v, gre); Append(v, in);
    add("gre key/teb/ipv6/tcp", v, ETHER | IPV4 | GRE | INNER_ETHER | INNER_IPV6 | INNER_TCP, 14, 34, 42, 56, 96);
  }
  {  // MPLS two labels / IPv4 / UDP
    std::vector<uint8_t> lab = {0, 0x01, 0x00, 64, 0, 0x02, 0x01, 64};
    v = Eth(0x8847); Append(v, lab); Append(v, Ip4(17, 8)); Append(v, Udp(7, 0));
    add("mpls/ipv4/udp", v, ETHER | MPLS | IPV4 | UDP, 22, 42);
  }

  bool ok = true;
  const uint32_t n = uint32_t(cases.size());
  std::vector<uint8_t> pool(size_t(n) * kStride, 0xee);  // junk past each packet: over-reads show
  std::vector<uint16_t> lens(n);
  for (uint32_t i = 0; i < n; i++) {
    std::memcpy(pool.data() + size_t(i) * kStride + kHeadroom, cases[i].pkt.data(), cases[i].pkt.size());
    lens[i] = uint16_t(cases[i].pkt.size());
  }
  Meta m(n);
  ParseBurst(pool.data(), lens.data(), 0, n, m);
  for (uint32_t i = 0; i < n; i++) {
    const Case& c = cases[i];
    const uint32_t got[6] = {m.ptype[i], m.l3[i], m.l4[i], m.il2[i], m.il3[i], m.il4[i]};
    const uint32_t want[6] = {c.ptype, c.l3, c.l4, c.il2, c.il3, c.il4};
    if (std::memcmp(got, want, sizeof got) != 0) {
      ok = false;
      std::fprintf(stderr, "selftest FAIL %s: ptype %s l3 %u l4 %u il2 %u il3 %u il4 %u; want %s %u %u %u %u %u\n",
                   c.name, PtypeName(got[0]).c_str(), got[1], got[2], got[3], got[4], got[5],
                   PtypeName(want[0]).c_str(), want[1], want[2], want[3], want[4], want[5]);
    }
  }
  std::fprintf(stderr, "selftest: %zu cases, %s\n", cases.size(), ok ? "ok" : "FAILED");
  return ok;
}

}  // namespace

int main(int argc, char** argv) {
  if (!SelfTest()) return 1;
  const char* path = "../shared/testdata/bench/mix.pcap";  // from the repository root
  bool shuffled = false;
  const char* keys_dump = nullptr;
  for (int a = 1; a < argc; a++) {
    if (std::strcmp(argv[a], "--selftest") == 0) return 0;
    if (std::strcmp(argv[a], "--shuffled") == 0) shuffled = true;
    else if (std::strcmp(argv[a], "--keys-dump") == 0 && a + 1 < argc) keys_dump = argv[++a];
    else path = argv[a];
  }
  std::vector<std::vector<uint8_t>> pkts;
  if (!LoadPcap(path, pkts) || pkts.empty()) {
    std::fprintf(stderr, "cannot load packets from %s\n", path);
    return 1;
  }
  const uint32_t n = uint32_t(pkts.size());

  // The pool: one 64-byte-aligned buffer array, packet i at i*2048 + 256.
  uint8_t* pool = static_cast<uint8_t*>(std::aligned_alloc(64, size_t(n) * kStride));
  std::memset(pool, 0, size_t(n) * kStride);
  std::vector<uint16_t> lens(n);
  for (uint32_t i = 0; i < n; i++) {
    std::memcpy(pool + size_t(i) * kStride + kHeadroom, pkts[i].data(), pkts[i].size());
    lens[i] = uint16_t(pkts[i].size());
  }
  Meta m(n);
  // The outer and inner keys of one burst, reused burst after burst (FlowKeys(pool, 32) twice).
  Keys outer(kBurst), inner(kBurst);
  const KeysOut ok(outer), ik(inner);

  // After each burst, as the JS loop does (acc + outer.src[3] + outer.dstPort[count - 1] +
  // inner.dst[3]), a few of the keys are read; the compiler barrier says the keys arrays (and the
  // buffers) are read and may change, so no store into them can be dropped.
  uint32_t sum = 0;
  auto after_burst = [&](uint32_t k) {
    asm volatile("" : : "r"(ok.src), "r"(ik.src) : "memory");
    sum += ok.src[3] + ok.dst_port[k - 1] + ik.dst[3];
  };
  auto pass = [&]() {
    asm volatile("" : : "r"(pool) : "memory");  // the buffers may have changed: parse them again
    for (uint32_t b = 0; b < n; b += kBurst) {
      const uint32_t k = std::min(kBurst, n - b);
      ParseKeysBurst(pool, lens.data(), b, k, m, ok, ik);
      after_burst(k);
    }
  };

  // Check pass (not timed): the same loop, each burst's keys appended as records right after it;
  // keys-digest is compared with the JS parser's keys over the same capture by the suite
  // (tooling/bench/protocols-suite.mjs), which can also ask for the records themselves.
  std::vector<uint8_t> records;
  records.reserve(size_t(n) * 2 * kKeyRecord);
  for (uint32_t b = 0; b < n; b += kBurst) {
    const uint32_t k = std::min(kBurst, n - b);
    ParseKeysBurst(pool, lens.data(), b, k, m, ok, ik);
    for (uint32_t j = 0; j < k; j++) {
      AppendKeyRecord(outer, j, records);
      AppendKeyRecord(inner, j, records);
    }
  }
  std::fprintf(stderr, "keys-digest=%016llx (%u packets, outer and inner FlowKeys records)\n",
               (unsigned long long)Fnv1a64(records), n);
  if (keys_dump) {
    FILE* f = std::fopen(keys_dump, "wb");
    if (!f || std::fwrite(records.data(), 1, records.size(), f) != records.size() || std::fclose(f) != 0) {
      std::fprintf(stderr, "cannot write %s\n", keys_dump);
      return 1;
    }
    std::fprintf(stderr, "keys records written to %s\n", keys_dump);
    std::free(pool);
    return 0;
  }

  // Sanity: histogram of packet types and the tuple digest, from the check pass.
  std::map<uint32_t, uint32_t> hist;
  for (uint32_t i = 0; i < n; i++) hist[m.ptype[i]]++;
  std::vector<std::pair<uint32_t, uint32_t>> hv(hist.begin(), hist.end());
  std::sort(hv.begin(), hv.end(), [](auto& a, auto& b) { return a.second > b.second; });
  std::fprintf(stderr, "%u packets from %s; packet types:\n", n, path);
  for (auto& [t, c] : hv) std::fprintf(stderr, "  %6u %5.1f%%  0x%08x %s\n", c, 100.0 * c / n, t, PtypeName(t).c_str());
  std::fprintf(stderr, "tuple-digest=%016llx\n", (unsigned long long)TupleDigest(pool, n, m));

  // Warm-up, then 5 repetitions of ~0.2 s; returns {median, best} Mpps.
  auto measure = [&](auto&& one_pass, const char* what) {
    const double t0 = NowSec();
    uint64_t warm = 0;
    while (NowSec() - t0 < 0.3) { one_pass(); warm++; }
    const double per_pass = (NowSec() - t0) / double(warm);
    const uint64_t passes = std::max<uint64_t>(1, uint64_t(0.2 / per_pass));
    std::vector<double> mpps;
    for (int rep = 0; rep < 5; rep++) {
      const double s = NowSec();
      for (uint64_t k = 0; k < passes; k++) one_pass();
      const double el = NowSec() - s;
      mpps.push_back(double(passes) * n / el / 1e6);
      std::fprintf(stderr, "  %s rep %d: %llu passes, %.3f s, %.2f Mpps\n", what, rep, (unsigned long long)passes, el, mpps.back());
    }
    std::sort(mpps.begin(), mpps.end());
    return std::pair<double, double>(mpps[mpps.size() / 2], mpps.back());
  };
  const auto [med, best] = measure(pass, "in order");
  std::printf("{\"name\":\"parse-mix-cpp\",\"unit\":\"Mpps\",\"value\":%.4g}\n", med);
  std::printf("{\"name\":\"parse-mix-cpp-best\",\"unit\":\"Mpps\",\"value\":%.4g}\n", best);
  std::printf("{\"name\":\"parse-mix-cpp-ns\",\"unit\":\"ns/packet\",\"value\":%.4g}\n", 1e3 / med);
  std::fflush(stdout);

  if (shuffled) {
    // The same work, but each pass visits the packets of every burst in another order (16
    // precomputed orders, shuffled within each burst of 32, so memory locality is unchanged): the
    // branch predictor can no longer learn the fixed 4096-packet sequence that the in-order
    // passes repeat.
    constexpr uint32_t kOrders = 16;
    std::vector<uint32_t> idx(size_t(n) * kOrders);
    uint64_t x = 0x9e3779b97f4a7c15ull;
    for (uint32_t k = 0; k < kOrders; k++) {
      uint32_t* a = idx.data() + size_t(k) * n;
      for (uint32_t i = 0; i < n; i++) a[i] = i;
      for (uint32_t b = 0; b < n; b += kBurst) {
        for (uint32_t i = std::min(kBurst, n - b) - 1; i > 0; i--) {
          x ^= x << 13, x ^= x >> 7, x ^= x << 17;
          std::swap(a[b + i], a[b + x % (i + 1)]);
        }
      }
    }
    uint32_t cur = 0;
    auto shuffled_pass = [&]() {
      asm volatile("" : : "r"(pool) : "memory");
      const uint32_t* order = idx.data() + size_t(cur) * n;
      cur = (cur + 1) % kOrders;
      for (uint32_t b = 0; b < n; b += kBurst) {
        const uint32_t k = std::min(kBurst, n - b);
        ParseKeysBurst<true>(pool, lens.data(), b, k, m, ok, ik, order);
        after_burst(k);
      }
    };
    const auto [smed, sbest] = measure(shuffled_pass, "shuffled");
    std::printf("{\"name\":\"parse-mix-cpp-shuffled\",\"unit\":\"Mpps\",\"value\":%.4g}\n", smed);
    std::printf("{\"name\":\"parse-mix-cpp-shuffled-best\",\"unit\":\"Mpps\",\"value\":%.4g}\n", sbest);
  }
  std::fprintf(stderr, "checksum=%08x (median of 5 repetitions reported)\n", sum);
  std::free(pool);
  return 0;
}
