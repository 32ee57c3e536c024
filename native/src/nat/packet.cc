// IPv4 classification and in-place NAT rewriting (see packet.h).
//
// Bounds: Classify first establishes total <= len and then reads only inside [ip, ip + total),
// checking each header's extent before touching it. The rewrites re-check the extents they use
// against len instead of trusting `c`, so a Classified that does not belong to the buffer can
// make them return false but never read or write outside it.
//
// Checksums: every update is RFC 1624 eqn 3, HC' = ~(~HC + ~m + m'), done as one's complement
// additions with end-around carry. Applied to a checksum that was correct, the result equals a
// from-scratch recomputation bit for bit (the one's complement sum of a header that contains a
// nonzero word is never +0, so eqn 3 never produces the 0xffff-vs-0 ambiguity of eqn 2).
#include "nat/packet.h"

namespace vnf::nat {

namespace {

constexpr uint32_t kIpMinHdr = 20;
constexpr uint32_t kTcpMinHdr = 20;
constexpr uint32_t kUdpHdr = 8;
constexpr uint32_t kIcmpHdr = 8;   // type, code, checksum, then 4 bytes (id+seq, or unused/MTU)
constexpr uint32_t kQuotedL4 = 8;  // RFC 792: an error quotes the IP header + 64 bits of data

// Field offsets inside the IPv4 header.
constexpr uint32_t kIpTotalOff = 2, kIpIdOff = 4, kIpFragOff = 6, kIpProtoOff = 9, kIpCsumOff = 10,
                   kIpSrcOff = 12, kIpDstOff = 16;
constexpr uint16_t kIpMf = 0x2000, kIpOffMask = 0x1fff;

// Checksum offsets inside the L4 header.
constexpr uint32_t kTcpCsumOff = 16, kUdpCsumOff = 6, kIcmpCsumOff = 2, kIcmpIdOff = 4;

uint16_t Load16(const uint8_t* p) { return uint16_t(p[0] << 8 | p[1]); }
uint32_t Load32(const uint8_t* p) {
  return uint32_t(p[0]) << 24 | uint32_t(p[1]) << 16 | uint32_t(p[2]) << 8 | p[3];
}
void Store16(uint8_t* p, uint16_t v) { p[0] = uint8_t(v >> 8), p[1] = uint8_t(v); }
void Store32(uint8_t* p, uint32_t v) {
  p[0] = uint8_t(v >> 24), p[1] = uint8_t(v >> 16), p[2] = uint8_t(v >> 8), p[3] = uint8_t(v);
}

// Query types: echo reply/request, timestamp, information, address mask (request and reply).
bool IsIcmpQuery(uint8_t type) {
  return type == 0 || type == 8 || (type >= 13 && type <= 18);
}
// Error types RFC 5508 asks a NAT to translate.
bool IsIcmpError(uint8_t type) {
  return type == 3 || type == 4 || type == 5 || type == 11 || type == 12;
}

// One's complement sum of the 16-bit words of a changed field's old and new values, to be added
// to ~HC (eqn 3). Accumulating several fields before folding is the same as chaining updates.
struct Delta {
  uint64_t acc = 0;
  void Add16(uint16_t old_w, uint16_t new_w) { acc += uint16_t(~old_w) + uint32_t(new_w); }
  void Add32(uint32_t old_w, uint32_t new_w) {
    Add16(uint16_t(old_w >> 16), uint16_t(new_w >> 16));
    Add16(uint16_t(old_w), uint16_t(new_w));
  }
};

uint16_t Fold(uint64_t s) {
  while (s >> 16) s = (s & 0xffff) + (s >> 16);
  return uint16_t(s);
}

uint16_t ApplyDelta(uint16_t csum, const Delta& d) {
  return uint16_t(~Fold(uint64_t(uint16_t(~csum)) + d.acc));
}

// Updates the checksum field at p by d. UDP (udp = true): a 0 field means "no checksum" and is
// left alone; a result of 0 is sent as 0xffff (RFC 768), the other representation of zero.
void PatchCsum(uint8_t* p, const Delta& d, bool udp) {
  const uint16_t old = Load16(p);
  if (udp && old == 0) return;
  uint16_t v = ApplyDelta(old, d);
  if (udp && v == 0) v = 0xffff;
  Store16(p, v);
}

// Rewrites the source and destination addresses of the IPv4 header at h (IP checksum updated)
// and returns the change, which TCP/UDP also fold into their checksums (pseudo header).
Delta RewriteAddrs(uint8_t* h, uint32_t src, uint32_t dst) {
  Delta d;
  d.Add32(Load32(h + kIpSrcOff), src);
  d.Add32(Load32(h + kIpDstOff), dst);
  Store32(h + kIpSrcOff, src);
  Store32(h + kIpDstOff, dst);
  PatchCsum(h + kIpCsumOff, d, false);
  return d;
}

// Rewrites the L4 header at l4 (l4_len bytes of it present, at least the minimum this protocol
// needs for ports/id: 8) of protocol proto: ports (TCP/UDP) or ICMP query id, and the L4
// checksum when its field is inside l4_len. addr_delta is the pseudo-header change (TCP/UDP).
void RewriteL4(uint8_t* l4, uint32_t l4_len, uint8_t proto, const Delta& addr_delta,
               uint16_t sport, uint16_t dport) {
  if (proto == conntrack::kProtoTcp || proto == conntrack::kProtoUdp) {
    Delta d = addr_delta;
    d.Add16(Load16(l4), sport);
    d.Add16(Load16(l4 + 2), dport);
    Store16(l4, sport);
    Store16(l4 + 2, dport);
    if (proto == conntrack::kProtoUdp) {
      PatchCsum(l4 + kUdpCsumOff, d, true);  // always inside: callers guarantee 8 bytes
    } else if (l4_len >= kTcpCsumOff + 2) {
      PatchCsum(l4 + kTcpCsumOff, d, false);
    }
  } else if (proto == conntrack::kProtoIcmp) {
    // ICMP has no pseudo header: only the identifier enters its checksum.
    Delta d;
    d.Add16(Load16(l4 + kIcmpIdOff), sport);
    Store16(l4 + kIcmpIdOff, sport);
    PatchCsum(l4 + kIcmpCsumOff, d, false);
  }
}

// Bytes of L4 header Classify required for proto (what RewriteL4 may touch), 0 for others.
uint32_t L4Need(uint8_t proto) {
  switch (proto) {
    case conntrack::kProtoTcp: return kTcpMinHdr;
    case conntrack::kProtoUdp: return kUdpHdr;
    case conntrack::kProtoIcmp: return kIcmpHdr;
    default: return 0;
  }
}

// Parses the packet quoted by an ICMP error: q points at the quoted IP header, n bytes of quote.
Kind ClassifyQuoted(const uint8_t* q, uint32_t n, Tuple* quoted) {
  if (n < kIpMinHdr) return Kind::kTruncated;
  // A quoted header that is not a plausible IPv4 header makes the error unusable (the outer
  // packet is fine, so this is the ICMP error's fault, not kBadHeader).
  if ((q[0] >> 4) != 4 || (q[0] & 0xf) < 5) return Kind::kBadIcmpError;
  const uint32_t qihl = uint32_t(q[0] & 0xf) * 4;
  if (n < qihl + kQuotedL4) return Kind::kTruncated;
  // A non-first fragment carries no L4 header, so the quote holds no ports to map back.
  if ((Load16(q + kIpFragOff) & kIpOffMask) != 0) return Kind::kBadIcmpError;
  const uint8_t proto = q[kIpProtoOff];
  const uint32_t src = Load32(q + kIpSrcOff), dst = Load32(q + kIpDstOff);
  const uint8_t* l4 = q + qihl;
  if (proto == conntrack::kProtoTcp || proto == conntrack::kProtoUdp) {
    *quoted = conntrack::MakeTuple(src, dst, Load16(l4), Load16(l4 + 2), proto);
    return Kind::kIcmpError;
  }
  // Errors about errors are never sent (RFC 1122 3.2.2); an unknown quoted ICMP type or another
  // protocol has no tuple NAT can map.
  if (proto == conntrack::kProtoIcmp && IsIcmpQuery(l4[0])) {
    *quoted = conntrack::IcmpQuery(src, dst, Load16(l4 + kIcmpIdOff));
    return Kind::kIcmpError;
  }
  return Kind::kBadIcmpError;
}

}  // namespace

const char* KindName(Kind k) {
  switch (k) {
    case Kind::kWhole: return "whole";
    case Kind::kFirstFragment: return "first_fragment";
    case Kind::kLaterFragment: return "later_fragment";
    case Kind::kIcmpError: return "icmp_error";
    case Kind::kTruncated: return "truncated";
    case Kind::kBadHeader: return "bad_header";
    case Kind::kBadIcmpError: return "bad_icmp_error";
    case Kind::kUnsupportedIcmp: return "unsupported_icmp";
  }
  return "unknown";
}

uint16_t Sum16(const uint8_t* p, uint32_t n, uint32_t initial) {
  uint64_t s = initial;
  uint32_t i = 0;
  for (; i + 1 < n; i += 2) s += uint32_t(p[i]) << 8 | p[i + 1];
  if (i < n) s += uint32_t(p[i]) << 8;  // odd length: pad with a zero byte
  return Fold(s);
}

uint16_t CsumUpdate16(uint16_t csum, uint16_t old_w, uint16_t new_w) {
  Delta d;
  d.Add16(old_w, new_w);
  return ApplyDelta(csum, d);
}

uint16_t CsumUpdate32(uint16_t csum, uint32_t old_w, uint32_t new_w) {
  Delta d;
  d.Add32(old_w, new_w);
  return ApplyDelta(csum, d);
}

Kind Classify(const uint8_t* ip, uint32_t len, Classified* out) {
  *out = Classified{};
  if (len < kIpMinHdr) return Kind::kTruncated;
  if ((ip[0] >> 4) != 4 || (ip[0] & 0xf) < 5) return Kind::kBadHeader;
  const uint32_t ihl = uint32_t(ip[0] & 0xf) * 4;
  const uint32_t total = Load16(ip + kIpTotalOff);
  out->ihl = uint16_t(ihl);
  out->total = uint16_t(total);
  if (ihl > len) return Kind::kTruncated;
  if (total < ihl) return Kind::kBadHeader;
  if (total > len) return Kind::kTruncated;
  // From here on every read is inside [ip, ip + total), total <= len.

  const uint8_t proto = ip[kIpProtoOff];
  const uint32_t src = Load32(ip + kIpSrcOff), dst = Load32(ip + kIpDstOff);
  const uint16_t frag = Load16(ip + kIpFragOff);
  const bool more = frag & kIpMf;
  const uint16_t offset = frag & kIpOffMask;
  out->tuple = conntrack::MakeTuple(src, dst, 0, 0, proto);
  out->meta.bytes = uint16_t(total);
  if (more || offset != 0) out->frag = Fragment{Load16(ip + kIpIdOff), offset, more};
  if (offset != 0) return Kind::kLaterFragment;
  const Kind whole = more ? Kind::kFirstFragment : Kind::kWhole;

  const uint8_t* l4 = ip + ihl;
  const uint32_t l4_len = total - ihl;
  switch (proto) {
    case conntrack::kProtoTcp: {
      if (l4_len < kTcpMinHdr) return Kind::kTruncated;
      const uint32_t doff = uint32_t(l4[12] >> 4) * 4;
      if (doff < kTcpMinHdr) return Kind::kBadHeader;
      if (doff > l4_len) return Kind::kTruncated;  // options cut short
      out->tuple.sport = Load16(l4);
      out->tuple.dport = Load16(l4 + 2);
      out->meta.tcp_flags = l4[13];
      return whole;
    }
    case conntrack::kProtoUdp:
      if (l4_len < kUdpHdr) return Kind::kTruncated;
      out->tuple.sport = Load16(l4);
      out->tuple.dport = Load16(l4 + 2);
      return whole;
    case conntrack::kProtoIcmp: {
      if (l4_len < kIcmpHdr) return Kind::kTruncated;
      const uint8_t type = l4[0];
      out->meta.icmp_type = type;
      if (IsIcmpQuery(type)) {
        out->tuple = conntrack::IcmpQuery(src, dst, Load16(l4 + kIcmpIdOff));
        return whole;
      }
      if (!IsIcmpError(type)) return Kind::kUnsupportedIcmp;
      // A fragmented error would need reassembly before its quote could be rewritten and its
      // checksum (over the whole message) recomputed.
      if (more) return Kind::kBadIcmpError;
      return ClassifyQuoted(l4 + kIcmpHdr, l4_len - kIcmpHdr, &out->quoted);
    }
    default:
      return whole;  // other protocols: addresses only
  }
}

bool Rewrite(uint8_t* ip, uint32_t len, Kind kind, const Classified& c, const Tuple& to) {
  if (kind != Kind::kWhole && kind != Kind::kFirstFragment && kind != Kind::kLaterFragment) {
    return false;
  }
  if (c.ihl < kIpMinHdr || c.total < c.ihl || c.total > len) return false;
  // c and kind must describe these bytes: a mismatched proto, or ports written into a later
  // fragment's payload, would corrupt the packet (in bounds, but silently).
  const bool has_l4 = kind != Kind::kLaterFragment;
  const bool later = (Load16(ip + kIpFragOff) & kIpOffMask) != 0;
  if (uint32_t(ip[0] & 0xf) * 4 != c.ihl || Load16(ip + kIpTotalOff) != c.total ||
      ip[kIpProtoOff] != c.tuple.proto || later == has_l4) {
    return false;
  }
  const uint8_t proto = c.tuple.proto;
  if (has_l4 && uint32_t(c.total - c.ihl) < L4Need(proto)) return false;

  const Delta addr = RewriteAddrs(ip, to.src, to.dst);
  // The L4 checksum covers the whole datagram, but its field is in the first fragment, and
  // the incremental update needs only the changed words: the first fragment carries all of it.
  if (has_l4) RewriteL4(ip + c.ihl, c.total - c.ihl, proto, addr, to.sport, to.dport);
  return true;
}

bool RewriteIcmpError(uint8_t* ip, uint32_t len, const Classified& c, uint32_t outer_src,
                      uint32_t outer_dst, const Tuple& quoted_to) {
  // The signature carries no Kind, so the kind is established here by classifying the bytes
  // again (errors are rare; this is cheap next to the checksum recomputation below). A `c` that
  // does not describe these bytes (stale, or another packet's) is refused rather than trusted.
  Classified now;
  if (Classify(ip, len, &now) != Kind::kIcmpError) return false;
  if (now.ihl != c.ihl || now.total != c.total || !(now.quoted == c.quoted)) return false;
  uint8_t* icmp = ip + c.ihl;
  const uint32_t icmp_len = c.total - c.ihl;
  uint8_t* q = icmp + kIcmpHdr;
  const uint32_t q_len = icmp_len - kIcmpHdr;
  const uint32_t qihl = uint32_t(q[0] & 0xf) * 4;  // Classify checked qihl + 8 <= q_len

  RewriteAddrs(ip, outer_src, outer_dst);
  const Delta qaddr = RewriteAddrs(q, quoted_to.src, quoted_to.dst);
  RewriteL4(q + qihl, q_len - qihl, q[kIpProtoOff], qaddr, quoted_to.sport, quoted_to.dport);

  // The error's own checksum covers the quote, which changed in several places: recompute it.
  Store16(icmp + kIcmpCsumOff, 0);
  Store16(icmp + kIcmpCsumOff, uint16_t(~Sum16(icmp, icmp_len)));
  return true;
}

}  // namespace vnf::nat
