// Tests of src/nat/packet: classification of hand-built IPv4 packets (TCP, UDP, ICMP queries,
// other protocols, fragments, ICMP errors with their quotes), every prefix of each kind (run
// under ASan by `make test-sanitize`, from exact-size heap buffers so an over-read is caught),
// bad headers, and the rewrites: after each one every checksum is compared with a from-scratch
// recomputation done here by an independent byte-wise reference (never nat::Sum16), and in the
// randomized test the rewritten packet must equal, byte for byte, the same packet built from
// scratch with the new tuple.
#include <algorithm>
#include <cstring>
#include <memory>
#include <utility>
#include <vector>

#include "harness.h"
#include "nat/packet.h"
#include "test_util.h"

using namespace vnf::nat;
using vnf::conntrack::IcmpQuery;
using vnf::conntrack::kProtoIcmp;
using vnf::conntrack::kProtoTcp;
using vnf::conntrack::kProtoUdp;
using vnf::conntrack::MakeTuple;
using vt::Rng;

namespace {

using Bytes = std::vector<uint8_t>;

uint32_t Ip(uint32_t a, uint32_t b, uint32_t c, uint32_t d) { return a << 24 | b << 16 | c << 8 | d; }

uint16_t Get16(const Bytes& b, size_t off) { return uint16_t(b[off] << 8 | b[off + 1]); }
uint32_t Get32(const Bytes& b, size_t off) { return uint32_t(Get16(b, off)) << 16 | Get16(b, off + 2); }
void Put16(Bytes& b, size_t off, uint16_t v) { b[off] = uint8_t(v >> 8), b[off + 1] = uint8_t(v); }
void Put32(Bytes& b, size_t off, uint32_t v) { Put16(b, off, uint16_t(v >> 16)), Put16(b, off + 2, uint16_t(v)); }

// ---- Reference checksum, deliberately naive: byte by byte, even offsets are the high byte.

uint32_t RefAdd(const uint8_t* p, size_t n, uint32_t s) {
  for (size_t i = 0; i < n; i++) s += (i % 2 == 0) ? uint32_t(p[i]) << 8 : p[i];
  return s;
}
uint16_t RefFold(uint32_t s) {
  while (s > 0xffff) s = (s & 0xffff) + (s >> 16);
  return uint16_t(s);
}
// Checksum of b[off, off+n) with the field at csum_off (absolute) taken as zero, plus `extra`.
uint16_t RefCsum(const Bytes& b, size_t off, size_t n, size_t csum_off, uint32_t extra = 0) {
  Bytes copy(b.begin() + off, b.begin() + off + n);
  copy[csum_off - off] = copy[csum_off - off + 1] = 0;
  return uint16_t(~RefFold(RefAdd(copy.data(), copy.size(), extra)));
}
uint32_t PseudoSum(uint32_t src, uint32_t dst, uint8_t proto, uint32_t l4_len) {
  return (src >> 16) + (src & 0xffff) + (dst >> 16) + (dst & 0xffff) + proto + l4_len;
}

size_t Ihl(const Bytes& p) { return size_t(p[0] & 0xf) * 4; }
size_t Total(const Bytes& p) { return Get16(p, 2); }

uint16_t RefIpCsum(const Bytes& p, size_t at = 0) {
  return RefCsum(p, at, size_t(p[at] & 0xf) * 4, at + 10);
}
size_t L4CsumOff(uint8_t proto) { return proto == kProtoTcp ? 16 : proto == kProtoUdp ? 6 : 2; }
// Checksum of the L4 segment of the (unfragmented) packet at p[at..], segment_len bytes of it,
// with the pseudo header for TCP/UDP; UDP's computed 0 is sent as 0xffff.
uint16_t RefL4Csum(const Bytes& p, size_t at, size_t segment_len) {
  const size_t ihl = size_t(p[at] & 0xf) * 4;
  const uint8_t proto = p[at + 9];
  uint32_t pseudo = 0;
  if (proto != kProtoIcmp) pseudo = PseudoSum(Get32(p, at + 12), Get32(p, at + 16), proto, uint32_t(segment_len));
  uint16_t c = RefCsum(p, at + ihl, segment_len, at + ihl + L4CsumOff(proto), pseudo);
  if (proto == kProtoUdp && c == 0) c = 0xffff;
  return c;
}

// ---- Packet builders: whole packets with every checksum computed from scratch.

struct Hdr {
  uint32_t src = Ip(10, 0, 0, 1), dst = Ip(192, 0, 2, 7);
  uint16_t id = 0x4d2;
  uint8_t ttl = 64, tos = 0;
  bool df = false;
  Bytes options;  // multiple of 4, at most 40
};

Bytes BuildIp(const Hdr& h, uint8_t proto, const Bytes& payload) {
  const size_t ihl = 20 + h.options.size();
  Bytes p(ihl + payload.size());
  p[0] = uint8_t(0x40 | ihl / 4);
  p[1] = h.tos;
  Put16(p, 2, uint16_t(p.size()));
  Put16(p, 4, h.id);
  Put16(p, 6, h.df ? 0x4000 : 0);
  p[8] = h.ttl;
  p[9] = proto;
  Put32(p, 12, h.src);
  Put32(p, 16, h.dst);
  std::copy(h.options.begin(), h.options.end(), p.begin() + 20);
  std::copy(payload.begin(), payload.end(), p.begin() + long(ihl));
  Put16(p, 10, RefIpCsum(p));
  return p;
}

void FillL4Csum(Bytes& p) {
  const size_t ihl = Ihl(p), off = ihl + L4CsumOff(p[9]);
  Put16(p, off, RefL4Csum(p, 0, Total(p) - ihl));
}

Bytes Tcp(const Hdr& h, uint16_t sport, uint16_t dport, const Bytes& data, uint8_t flags = 0x10,
          const Bytes& opts = {}) {
  Bytes seg(20 + opts.size());
  Put16(seg, 0, sport);
  Put16(seg, 2, dport);
  Put32(seg, 4, 0x01020304);
  Put32(seg, 8, 0x0a0b0c0d);
  seg[12] = uint8_t((5 + opts.size() / 4) << 4);
  seg[13] = flags;
  Put16(seg, 14, 0xffff);  // window
  Put16(seg, 18, 0);       // urgent pointer
  std::copy(opts.begin(), opts.end(), seg.begin() + 20);
  seg.insert(seg.end(), data.begin(), data.end());
  Bytes p = BuildIp(h, kProtoTcp, seg);
  FillL4Csum(p);
  return p;
}

Bytes Udp(const Hdr& h, uint16_t sport, uint16_t dport, const Bytes& data, bool no_csum = false) {
  Bytes seg(8);
  Put16(seg, 0, sport);
  Put16(seg, 2, dport);
  Put16(seg, 4, uint16_t(8 + data.size()));
  seg.insert(seg.end(), data.begin(), data.end());
  Bytes p = BuildIp(h, kProtoUdp, seg);
  if (!no_csum) FillL4Csum(p);
  return p;
}

// ICMP message: type, code, checksum, 4 bytes `rest` (id/seq for queries, unused for errors).
Bytes Icmp(const Hdr& h, uint8_t type, uint8_t code, uint32_t rest, const Bytes& data) {
  Bytes msg(8);
  msg[0] = type;
  msg[1] = code;
  Put32(msg, 4, rest);
  msg.insert(msg.end(), data.begin(), data.end());
  Bytes p = BuildIp(h, kProtoIcmp, msg);
  FillL4Csum(p);
  return p;
}
Bytes Echo(const Hdr& h, uint16_t id, uint16_t seq, const Bytes& data, uint8_t type = 8) {
  return Icmp(h, type, 0, uint32_t(id) << 16 | seq, data);
}
Bytes IcmpErr(const Hdr& h, const Bytes& quote, uint8_t type = 3, uint8_t code = 3) {
  return Icmp(h, type, code, 0, quote);
}
Bytes Prefix(const Bytes& b, size_t n) { return Bytes(b.begin(), b.begin() + long(n)); }

Bytes Data(size_t n, uint8_t seed = 1) {
  Bytes d(n);
  for (size_t i = 0; i < n; i++) d[i] = uint8_t(seed + i * 7);
  return d;
}

// Splits an unfragmented datagram after first_payload bytes of its payload (a multiple of 8).
std::pair<Bytes, Bytes> Split(const Bytes& whole, size_t first_payload) {
  const size_t ihl = Ihl(whole);
  Bytes a(whole.begin(), whole.begin() + long(ihl + first_payload));
  Bytes b(whole.begin(), whole.begin() + long(ihl));
  b.insert(b.end(), whole.begin() + long(ihl + first_payload), whole.end());
  Put16(a, 2, uint16_t(a.size()));
  Put16(a, 6, uint16_t(Get16(whole, 6) | 0x2000));
  Put16(b, 2, uint16_t(b.size()));
  Put16(b, 6, uint16_t((Get16(whole, 6) & 0xe000) | first_payload / 8));
  Put16(a, 10, RefIpCsum(a));
  Put16(b, 10, RefIpCsum(b));
  return {a, b};
}

// Reassembles the two fragments Split made (header from the first, MF cleared).
Bytes Reassemble(const Bytes& first, const Bytes& later) {
  Bytes p = first;
  p.insert(p.end(), later.begin() + long(Ihl(later)), later.end());
  Put16(p, 2, uint16_t(p.size()));
  Put16(p, 6, uint16_t(Get16(p, 6) & ~0x3fff));
  Put16(p, 10, RefIpCsum(p));
  return p;
}

// Checks every checksum of an unfragmented packet against a from-scratch recomputation: IP,
// the L4 one (UDP 0 accepted as "no checksum"), and for ICMP errors the quoted IP header.
bool ChecksumsOk(const Bytes& p) {
  bool ok = CHECK_EQ(Get16(p, 10), RefIpCsum(p));
  const size_t ihl = Ihl(p), l4_len = Total(p) - ihl;
  const uint8_t proto = p[9];
  if (proto == kProtoTcp || proto == kProtoIcmp || (proto == kProtoUdp && Get16(p, ihl + 6) != 0)) {
    ok &= CHECK_EQ(Get16(p, ihl + L4CsumOff(proto)), RefL4Csum(p, 0, l4_len));
  }
  const uint8_t t = proto == kProtoIcmp ? p[ihl] : 0;
  if (t == 3 || t == 4 || t == 5 || t == 11 || t == 12) {
    ok &= CHECK_EQ(Get16(p, ihl + 8 + 10), RefIpCsum(p, ihl + 8));
  }
  return ok;
}

// The quoted packet of an ICMP error, as a standalone packet (only meaningful for full quotes).
Bytes Quote(const Bytes& err) { return Bytes(err.begin() + long(Ihl(err) + 8), err.begin() + long(Total(err))); }

// Classify, then Rewrite; returns the kind.
Kind ClassifyRewrite(Bytes& p, const Tuple& to, Classified* c_out = nullptr) {
  Classified c;
  const Kind k = Classify(p.data(), uint32_t(p.size()), &c);
  CHECK(Rewrite(p.data(), uint32_t(p.size()), k, c, to));
  if (c_out) *c_out = c;
  return k;
}

const uint32_t kPub = Ip(203, 0, 113, 9);

}  // namespace

TEST(nat_checksum_helpers) {
  // RFC 1624 section 4: eqn 3 gives 0x0000 where eqn 2 would give 0xffff.
  CHECK_EQ(CsumUpdate16(0xdd2f, 0x5555, 0x3285), 0x0000);
  Rng rng(7);
  for (int i = 0; i < 2000; i++) {
    Bytes d(rng.Below(80) + 2);
    for (auto& b : d) b = uint8_t(rng.Next());
    const uint32_t init = rng.Below(3) == 0 ? uint32_t(rng.Next()) & 0xfffff : 0;
    if (!CHECK_EQ(Sum16(d.data(), uint32_t(d.size()), init), RefFold(RefAdd(d.data(), d.size(), init)))) break;
    // Change one aligned 16-bit word and one aligned 32-bit word; the incremental result must
    // equal the from-scratch checksum (the data has a nonzero pseudo word so the sum is not 0).
    d[0] = 0x45;
    const uint16_t before = uint16_t(~RefFold(RefAdd(d.data(), d.size(), 0)));
    const size_t w = 2 * rng.Below(uint32_t(d.size() / 2));
    const uint16_t old16 = Get16(d, w);
    Put16(d, w, uint16_t(rng.Next()));
    d[0] = 0x45;  // keep the nonzero word (w may have been 0)
    const uint16_t after16 = uint16_t(~RefFold(RefAdd(d.data(), d.size(), 0)));
    if (!CHECK_EQ(CsumUpdate16(before, old16, Get16(d, w)), after16)) break;
    if (d.size() >= 8) {
      const size_t w4 = 4 + 2 * rng.Below(uint32_t((d.size() - 4) / 2 - 1));
      const uint32_t old32 = Get32(d, w4), new32 = uint32_t(rng.Next());
      Put32(d, w4, new32);
      const uint16_t after32 = uint16_t(~RefFold(RefAdd(d.data(), d.size(), 0)));
      if (!CHECK_EQ(CsumUpdate32(after16, old32, new32), after32)) break;
    }
  }
  const uint8_t odd[3] = {0x12, 0x34, 0x56};
  CHECK_EQ(Sum16(odd, 3), 0x1234 + 0x5600);
}

TEST(nat_classify_tcp_udp_echo_other) {
  Hdr h;
  Classified c;
  Bytes t = Tcp(h, 40000, 80, Data(10), 0x02);
  CHECK(Classify(t.data(), uint32_t(t.size()), &c) == Kind::kWhole);
  CHECK(c.tuple == MakeTuple(h.src, h.dst, 40000, 80, kProtoTcp));
  CHECK_EQ(c.meta.tcp_flags, 0x02);
  CHECK_EQ(c.meta.bytes, t.size());
  CHECK_EQ(c.ihl, 20);
  CHECK_EQ(c.total, t.size());
  CHECK_EQ(c.frag.id, 0);
  CHECK(!c.frag.more);

  Bytes u = Udp(h, 5000, 53, Data(3));
  CHECK(Classify(u.data(), uint32_t(u.size()), &c) == Kind::kWhole);
  CHECK(c.tuple == MakeTuple(h.src, h.dst, 5000, 53, kProtoUdp));

  for (uint8_t type : {0, 8, 13, 14, 15, 16, 17, 18}) {
    Bytes e = Echo(h, 0x1234, 7, Data(4), type);
    CHECK(Classify(e.data(), uint32_t(e.size()), &c) == Kind::kWhole);
    CHECK(c.tuple == IcmpQuery(h.src, h.dst, 0x1234));
    CHECK_EQ(c.meta.icmp_type, type);
  }
  for (uint8_t type : {1, 2, 6, 7, 9, 10, 19, 30, 42, 255}) {
    Bytes e = Echo(h, 0x1234, 7, Data(4), type);
    CHECK(Classify(e.data(), uint32_t(e.size()), &c) == Kind::kUnsupportedIcmp);
  }

  Bytes g = BuildIp(h, 47, Data(24));
  CHECK(Classify(g.data(), uint32_t(g.size()), &c) == Kind::kWhole);
  CHECK(c.tuple == MakeTuple(h.src, h.dst, 0, 0, 47));
  CHECK_EQ(c.meta.bytes, g.size());

  // IP options, and Ethernet padding after the total length.
  Hdr ho;
  ho.options = Bytes(12, 1);
  Bytes to = Tcp(ho, 1, 2, Data(1), 0x11, Bytes{2, 4, 5, 0xb4});
  to.resize(to.size() + 9, 0xee);
  CHECK(Classify(to.data(), uint32_t(to.size()), &c) == Kind::kWhole);
  CHECK(c.tuple == MakeTuple(ho.src, ho.dst, 1, 2, kProtoTcp));
  CHECK_EQ(c.ihl, 32);
  CHECK_EQ(c.total, to.size() - 9);
  CHECK_EQ(c.meta.bytes, to.size() - 9);
}

TEST(nat_rewrite_tcp) {
  Hdr h;
  h.options = Bytes{1, 1, 1, 0};  // NOPs + EOL: the IP checksum covers options too
  Bytes p = Tcp(h, 40000, 80, Data(33), 0x18, Bytes{1, 1, 8, 10, 1, 2, 3, 4, 5, 6, 7, 8});
  const Bytes orig = p;
  const Tuple to = MakeTuple(kPub, h.dst, 61000, 80, kProtoTcp);
  CHECK(ClassifyRewrite(p, to) == Kind::kWhole);
  CHECK(p != orig);
  CHECK_EQ(Get32(p, 12), kPub);
  CHECK_EQ(Get16(p, 24), 61000);  // IP options: L4 at 24
  ChecksumsOk(p);
  Classified c;
  CHECK(Classify(p.data(), uint32_t(p.size()), &c) == Kind::kWhole);
  CHECK(c.tuple == to);
  // Only the address, port and checksum bytes changed.
  size_t diffs = 0;
  for (size_t i = 0; i < p.size(); i++) diffs += p[i] != orig[i];
  CHECK(diffs <= 4 + 2 + 2 + 2);

  // Destination side too (the reply direction of a DNAT), both ports.
  const Tuple back = MakeTuple(Ip(198, 51, 100, 1), Ip(10, 9, 8, 7), 443, 1025, kProtoTcp);
  CHECK(ClassifyRewrite(p, back) == Kind::kWhole);
  ChecksumsOk(p);
  CHECK(Classify(p.data(), uint32_t(p.size()), &c) == Kind::kWhole);
  CHECK(c.tuple == back);
}

TEST(nat_rewrite_udp) {
  Hdr h;
  Bytes p = Udp(h, 5000, 53, Data(37));  // odd length: checksum pads with a zero byte
  const Tuple to = MakeTuple(kPub, Ip(8, 8, 8, 8), 1024, 5353, kProtoUdp);
  CHECK(ClassifyRewrite(p, to) == Kind::kWhole);
  ChecksumsOk(p);
  CHECK(p == Udp([&] { Hdr x = h; x.src = to.src, x.dst = to.dst; return x; }(), 1024, 5353, Data(37)));
}

TEST(nat_rewrite_udp_zero_checksum_stays_zero) {
  Hdr h;
  Bytes p = Udp(h, 5000, 53, Data(20), /*no_csum=*/true);
  CHECK_EQ(Get16(p, 26), 0);
  const Tuple to = MakeTuple(kPub, h.dst, 1234, 53, kProtoUdp);
  CHECK(ClassifyRewrite(p, to) == Kind::kWhole);
  CHECK_EQ(Get16(p, 26), 0);
  CHECK_EQ(Get16(p, 20), 1234);
  CHECK_EQ(Get16(p, 10), RefIpCsum(p));
}

TEST(nat_rewrite_udp_result_zero_becomes_ffff) {
  // Pick the last payload word so that the rewritten packet's checksum computes to 0.
  Hdr h, n = h;
  n.src = kPub;
  const Tuple to = MakeTuple(kPub, h.dst, 3000, 53, kProtoUdp);
  Bytes data = Data(16);
  Put16(data, 14, 0);
  Bytes target = Udp(n, to.sport, to.dport, data, true);
  const uint32_t s = RefFold(RefAdd(target.data() + 20, target.size() - 20,
                                    PseudoSum(n.src, n.dst, kProtoUdp, uint32_t(target.size() - 20))));
  Put16(data, 14, uint16_t(0xffff - s));  // the sum becomes 0xffff, so ~sum = 0
  target = Udp(n, to.sport, to.dport, data, true);
  CHECK_EQ(RefCsum(target, 20, target.size() - 20, 26,
                   PseudoSum(n.src, n.dst, kProtoUdp, uint32_t(target.size() - 20))), 0);

  Bytes p = Udp(h, 5000, 53, data);
  CHECK(Get16(p, 26) != 0 && Get16(p, 26) != 0xffff);
  CHECK(ClassifyRewrite(p, to) == Kind::kWhole);
  CHECK_EQ(Get16(p, 26), 0xffff);
  ChecksumsOk(p);
  // And back: a 0xffff checksum (the other zero) is updated correctly, not taken as "none".
  const Tuple orig = MakeTuple(h.src, h.dst, 5000, 53, kProtoUdp);
  CHECK(ClassifyRewrite(p, orig) == Kind::kWhole);
  CHECK(p == Udp(h, 5000, 53, data));
}

TEST(nat_rewrite_icmp_echo) {
  Hdr h;
  Bytes p = Echo(h, 0x1234, 9, Data(56));
  // dport differs from sport on purpose: an ICMP query has one identifier, taken from sport.
  const Tuple to = MakeTuple(kPub, h.dst, 0xbeef, 0x1111, kProtoIcmp);
  CHECK(ClassifyRewrite(p, to) == Kind::kWhole);
  CHECK_EQ(Get16(p, 24), 0xbeef);
  CHECK_EQ(Get16(p, 26), 9);  // sequence untouched
  ChecksumsOk(p);
  Hdr n = h;
  n.src = kPub;
  CHECK(p == Echo(n, 0xbeef, 9, Data(56)));
}

TEST(nat_rewrite_other_protocol) {
  Hdr h;
  Bytes p = BuildIp(h, 47, Data(40));  // GRE: addresses only
  const Tuple to = MakeTuple(kPub, Ip(1, 2, 3, 4), 77, 88, 47);
  CHECK(ClassifyRewrite(p, to) == Kind::kWhole);
  Hdr n = h;
  n.src = kPub, n.dst = Ip(1, 2, 3, 4);
  CHECK(p == BuildIp(n, 47, Data(40)));
  CHECK_EQ(Get16(p, 10), RefIpCsum(p));
}

TEST(nat_fragments_rewrite_and_reassemble) {
  Hdr h;
  h.id = 0x7777;
  h.options = Bytes(8, 1);
  for (uint8_t proto : {kProtoTcp, kProtoUdp, kProtoIcmp}) {
    Bytes whole = proto == kProtoTcp ? Tcp(h, 40000, 80, Data(131))
                : proto == kProtoUdp ? Udp(h, 5000, 53, Data(131))
                                     : Echo(h, 0x4242, 1, Data(131));
    auto [first, later] = Split(whole, 32);
    Classified c1, c2;
    CHECK(Classify(first.data(), uint32_t(first.size()), &c1) == Kind::kFirstFragment);
    CHECK(Classify(later.data(), uint32_t(later.size()), &c2) == Kind::kLaterFragment);
    CHECK(c1.tuple == (proto == kProtoIcmp ? IcmpQuery(h.src, h.dst, 0x4242)
                                           : MakeTuple(h.src, h.dst, proto == kProtoTcp ? 40000 : 5000,
                                                       proto == kProtoTcp ? 80 : 53, proto)));
    CHECK_EQ(c1.frag.id, 0x7777);
    CHECK(c1.frag.more);
    CHECK_EQ(c1.frag.offset, 0);
    CHECK_EQ(c2.frag.id, 0x7777);
    CHECK(!c2.frag.more);
    CHECK_EQ(c2.frag.offset, 4);
    CHECK(c2.tuple == MakeTuple(h.src, h.dst, 0, 0, proto));
    CHECK_EQ(c2.meta.bytes, later.size());

    const Tuple to = proto == kProtoIcmp ? IcmpQuery(kPub, h.dst, 0x9999)
                                         : MakeTuple(kPub, h.dst, 33333, 4444, proto);
    CHECK(Rewrite(first.data(), uint32_t(first.size()), Kind::kFirstFragment, c1, to));
    CHECK(Rewrite(later.data(), uint32_t(later.size()), Kind::kLaterFragment, c2, to));
    CHECK_EQ(Get16(first, 10), RefIpCsum(first));
    CHECK_EQ(Get16(later, 10), RefIpCsum(later));
    CHECK_EQ(Get32(later, 12), kPub);
    // The L4 checksum (in the first fragment) must be right for the whole reassembled datagram.
    const Bytes re = Reassemble(first, later);
    ChecksumsOk(re);
    Classified c;
    CHECK(Classify(re.data(), uint32_t(re.size()), &c) == Kind::kWhole);
    CHECK(c.tuple == to);
  }
  // The first fragment must hold the L4 header: 8 bytes of a TCP header are not enough.
  auto [tiny, rest] = Split(Tcp(h, 1, 2, Data(40)), 8);
  Classified c;
  CHECK(Classify(tiny.data(), uint32_t(tiny.size()), &c) == Kind::kTruncated);
  CHECK(Classify(rest.data(), uint32_t(rest.size()), &c) == Kind::kLaterFragment);
  // ...while 8 bytes of UDP are.
  auto [u8, urest] = Split(Udp(h, 1, 2, Data(40)), 8);
  CHECK(Classify(u8.data(), uint32_t(u8.size()), &c) == Kind::kFirstFragment);
  CHECK(c.tuple == MakeTuple(h.src, h.dst, 1, 2, kProtoUdp));
}

TEST(nat_icmp_error_quoting_udp) {
  Hdr inner;  // the original packet, as it left the NAT (translated source)
  inner.src = kPub;
  const Bytes orig = Udp(inner, 1024, 53, Data(21));
  Hdr router;
  router.src = Ip(198, 51, 100, 254);
  router.dst = kPub;
  const Tuple qto = MakeTuple(Ip(10, 0, 0, 1), inner.dst, 5000, 53, kProtoUdp);
  const uint32_t new_dst = Ip(10, 0, 0, 1);
  for (size_t qlen : {size_t(28), size_t(33), orig.size()}) {
    Bytes p = IcmpErr(router, Prefix(orig, qlen));
    Classified c;
    CHECK(Classify(p.data(), uint32_t(p.size()), &c) == Kind::kIcmpError);
    CHECK(c.tuple == MakeTuple(router.src, router.dst, 0, 0, kProtoIcmp));
    CHECK(c.quoted == MakeTuple(kPub, inner.dst, 1024, 53, kProtoUdp));
    CHECK_EQ(c.meta.icmp_type, 3);
    CHECK(RewriteIcmpError(p.data(), uint32_t(p.size()), c, router.src, new_dst, qto));
    ChecksumsOk(p);
    CHECK_EQ(Get32(p, 16), new_dst);
    // The quoted UDP checksum must be that of the whole original packet translated back.
    Hdr in2 = inner;
    in2.src = qto.src;
    const Bytes back = Udp(in2, qto.sport, qto.dport, Data(21));
    CHECK(Quote(p) == Prefix(back, qlen));
    if (qlen == orig.size()) ChecksumsOk(Quote(p));
    CHECK(Classify(p.data(), uint32_t(p.size()), &c) == Kind::kIcmpError);
    CHECK(c.quoted == qto);
  }
  // Quoted UDP without a checksum keeps 0.
  Bytes p = IcmpErr(router, Udp(inner, 1024, 53, Data(4), true));
  Classified c;
  CHECK(Classify(p.data(), uint32_t(p.size()), &c) == Kind::kIcmpError);
  CHECK(RewriteIcmpError(p.data(), uint32_t(p.size()), c, router.src, new_dst, qto));
  CHECK_EQ(Get16(p, 28 + 20 + 6), 0);
  CHECK_EQ(Get16(p, 28 + 20), 5000);
  ChecksumsOk(p);
}

TEST(nat_icmp_error_quoting_tcp) {
  Hdr inner;
  inner.src = kPub;
  const Bytes orig = Tcp(inner, 61000, 443, Data(30), 0x18);
  Hdr router;
  router.src = Ip(198, 51, 100, 254);
  router.dst = kPub;
  const Tuple qto = MakeTuple(Ip(10, 0, 0, 1), inner.dst, 40000, 443, kProtoTcp);
  Hdr in2 = inner;
  in2.src = qto.src;
  const Bytes back = Tcp(in2, qto.sport, qto.dport, Data(30), 0x18);
  for (size_t qlen : {size_t(28), size_t(37), size_t(38), size_t(40), orig.size()}) {
    Bytes p = IcmpErr(router, Prefix(orig, qlen), 11, 0);
    Classified c;
    CHECK(Classify(p.data(), uint32_t(p.size()), &c) == Kind::kIcmpError);
    CHECK(c.quoted == MakeTuple(kPub, inner.dst, 61000, 443, kProtoTcp));
    CHECK(RewriteIcmpError(p.data(), uint32_t(p.size()), c, router.src, qto.src, qto));
    ChecksumsOk(p);
    const Bytes q = Quote(p);
    CHECK_EQ(Get16(q, 20), 40000);
    CHECK_EQ(Get32(q, 12), qto.src);
    if (qlen < 38) {
      // The checksum is not (wholly) in the quote: left as it was, ports changed anyway.
      Bytes want = Prefix(back, qlen);
      for (size_t i = 36; i < qlen; i++) want[i] = orig[i];
      CHECK(q == want);
    } else {
      CHECK(q == Prefix(back, qlen));
    }
    if (qlen == orig.size()) ChecksumsOk(q);  // from scratch over the quoted segment
  }
}

TEST(nat_icmp_error_quoting_echo) {
  Hdr inner;
  inner.src = kPub;
  const Bytes orig = Echo(inner, 0x5555, 3, Data(12));
  Hdr router;
  router.src = Ip(198, 51, 100, 254);
  router.dst = kPub;
  const Tuple qto = IcmpQuery(Ip(10, 0, 0, 1), inner.dst, 0x1234);
  Hdr in2 = inner;
  in2.src = qto.src;
  for (size_t qlen : {size_t(28), orig.size()}) {
    Bytes p = IcmpErr(router, Prefix(orig, qlen));
    Classified c;
    CHECK(Classify(p.data(), uint32_t(p.size()), &c) == Kind::kIcmpError);
    CHECK(c.quoted == IcmpQuery(kPub, inner.dst, 0x5555));
    CHECK(RewriteIcmpError(p.data(), uint32_t(p.size()), c, router.src, qto.src, qto));
    ChecksumsOk(p);
    CHECK(Quote(p) == Prefix(Echo(in2, 0x1234, 3, Data(12)), qlen));
    if (qlen == orig.size()) ChecksumsOk(Quote(p));
  }
}

TEST(nat_icmp_error_bad) {
  Hdr h, r;
  r.src = Ip(198, 51, 100, 254);
  Classified c;
  auto kind = [&](const Bytes& p) { return Classify(p.data(), uint32_t(p.size()), &c); };
  const Bytes udp = Udp(h, 1, 2, Data(30));
  CHECK(kind(IcmpErr(r, udp)) == Kind::kIcmpError);
  for (uint8_t type : {3, 4, 5, 11, 12}) CHECK(kind(IcmpErr(r, udp, type, 0)) == Kind::kIcmpError);
  // Quotes a non-first fragment; a first fragment is fine.
  auto [f1, f2] = Split(udp, 16);
  CHECK(kind(IcmpErr(r, f2)) == Kind::kBadIcmpError);
  CHECK(kind(IcmpErr(r, f1)) == Kind::kIcmpError);
  // Quotes an ICMP error, an unsupported ICMP type, another protocol, a non-IPv4 header.
  CHECK(kind(IcmpErr(r, IcmpErr(h, udp))) == Kind::kBadIcmpError);
  CHECK(kind(IcmpErr(r, Echo(h, 1, 1, {}, 9))) == Kind::kBadIcmpError);
  CHECK(kind(IcmpErr(r, BuildIp(h, 47, Data(8)))) == Kind::kBadIcmpError);
  Bytes v6 = udp;
  v6[0] = 0x65;
  CHECK(kind(IcmpErr(r, v6)) == Kind::kBadIcmpError);
  Bytes ihl4 = udp;
  ihl4[0] = 0x44;
  CHECK(kind(IcmpErr(r, ihl4)) == Kind::kBadIcmpError);
  // The error itself fragmented (first fragment; a later one is just a later fragment).
  auto [e1, e2] = Split(IcmpErr(r, udp), 48);
  CHECK(kind(e1) == Kind::kBadIcmpError);
  CHECK(kind(e2) == Kind::kLaterFragment);
  // Quote too short: less than the quoted IP header + 8 bytes (IP options count).
  CHECK(kind(IcmpErr(r, Prefix(udp, 27))) == Kind::kTruncated);
  CHECK(kind(IcmpErr(r, Prefix(udp, 19))) == Kind::kTruncated);
  CHECK(kind(IcmpErr(r, {})) == Kind::kTruncated);
  Hdr ho = h;
  ho.options = Bytes(4, 1);
  CHECK(kind(IcmpErr(r, Prefix(Udp(ho, 1, 2, {}), 31))) == Kind::kTruncated);
  CHECK(kind(IcmpErr(r, Prefix(Udp(ho, 1, 2, {}), 32))) == Kind::kIcmpError);
}

TEST(nat_bad_headers) {
  Hdr h;
  Classified c;
  auto kind = [&](const Bytes& p) { return Classify(p.data(), uint32_t(p.size()), &c); };
  const Bytes t = Tcp(h, 1, 2, Data(5));
  Bytes v6 = t;
  v6[0] = 0x65;
  CHECK(kind(v6) == Kind::kBadHeader);
  for (uint8_t ihl = 0; ihl < 5; ihl++) {
    Bytes b = t;
    b[0] = uint8_t(0x40 | ihl);
    CHECK(kind(b) == Kind::kBadHeader);
  }
  Bytes small_total = t;
  Put16(small_total, 2, 19);
  CHECK(kind(small_total) == Kind::kBadHeader);
  Bytes zero_total = t;
  Put16(zero_total, 2, 0);
  CHECK(kind(zero_total) == Kind::kBadHeader);
  Bytes big_total = t;
  Put16(big_total, 2, uint16_t(t.size() + 1));
  CHECK(kind(big_total) == Kind::kTruncated);
  Bytes ihl15 = t;  // IHL 60 bytes > the 45 bytes there
  ihl15[0] = 0x4f;
  CHECK(kind(ihl15) == Kind::kTruncated);
  for (uint8_t doff = 0; doff < 5; doff++) {
    Bytes b = t;
    b[32] = uint8_t(doff << 4);
    CHECK(kind(b) == Kind::kBadHeader);
  }
  Bytes long_doff = t;  // data offset 24 bytes, only 25 bytes of segment: fine; 28: cut short
  long_doff[32] = 6 << 4;
  CHECK(kind(long_doff) == Kind::kWhole);
  long_doff[32] = 7 << 4;
  CHECK(kind(long_doff) == Kind::kTruncated);
}

TEST(nat_rewrite_refuses) {
  Hdr h;
  Bytes t = Tcp(h, 1, 2, Data(5));
  const Bytes orig = t;
  Classified c;
  CHECK(Classify(t.data(), uint32_t(t.size()), &c) == Kind::kWhole);
  const Tuple to = MakeTuple(kPub, h.dst, 9, 9, kProtoTcp);
  for (Kind k : {Kind::kIcmpError, Kind::kTruncated, Kind::kBadHeader, Kind::kBadIcmpError,
                 Kind::kUnsupportedIcmp}) {
    CHECK(!Rewrite(t.data(), uint32_t(t.size()), k, c, to));
  }
  CHECK(!RewriteIcmpError(t.data(), uint32_t(t.size()), c, kPub, kPub, to));
  CHECK(!Rewrite(t.data(), uint32_t(t.size() - 1), Kind::kWhole, c, to));  // c.total > len
  Classified wrong = c;
  wrong.tuple.proto = kProtoUdp;  // a Classified of another packet
  CHECK(!Rewrite(t.data(), uint32_t(t.size()), Kind::kWhole, wrong, to));
  CHECK(!Rewrite(t.data(), uint32_t(t.size()), Kind::kLaterFragment, c, to));  // not a later one
  auto [f1, f2] = Split(Tcp(h, 1, 2, Data(40)), 24);
  const Bytes f2orig = f2;
  CHECK(Classify(f2.data(), uint32_t(f2.size()), &c) == Kind::kLaterFragment);
  CHECK(!Rewrite(f2.data(), uint32_t(f2.size()), Kind::kWhole, c, to));  // no ports in there
  CHECK(f2 == f2orig);
  CHECK(Classify(t.data(), uint32_t(t.size()), &c) == Kind::kWhole);
  CHECK(t == orig);

  Hdr r;
  Bytes e = IcmpErr(r, t);
  const Bytes eorig = e;
  CHECK(Classify(e.data(), uint32_t(e.size()), &c) == Kind::kIcmpError);
  CHECK(!Rewrite(e.data(), uint32_t(e.size()), Kind::kIcmpError, c, to));
  Classified stale = c;
  stale.quoted.sport++;
  CHECK(!RewriteIcmpError(e.data(), uint32_t(e.size()), stale, kPub, kPub, to));
  CHECK(!RewriteIcmpError(e.data(), uint32_t(e.size() - 1), c, kPub, kPub, to));
  CHECK(e == eorig);
}

TEST(nat_kind_names) {
  CHECK(std::strcmp(KindName(Kind::kWhole), "whole") == 0);
  CHECK(std::strcmp(KindName(Kind::kUnsupportedIcmp), "unsupported_icmp") == 0);
}

namespace {

// A valid packet of each kind, and the smallest total length at which it is not kTruncated.
struct Sample {
  const char* name;
  Bytes p;
  size_t need;
  Kind kind;
};

std::vector<Sample> Samples() {
  Hdr h, ho;
  ho.options = Bytes(8, 1);
  std::vector<Sample> s;
  s.push_back({"tcp", Tcp(h, 1, 2, Data(9)), 40, Kind::kWhole});
  s.push_back({"tcp_opts", Tcp(ho, 1, 2, Data(9), 0x02, Bytes(12, 1)), 28 + 32, Kind::kWhole});
  s.push_back({"udp", Udp(ho, 1, 2, Data(9)), 28 + 8, Kind::kWhole});
  s.push_back({"echo", Echo(h, 7, 1, Data(9)), 28, Kind::kWhole});
  s.push_back({"gre", BuildIp(ho, 47, Data(9)), 28, Kind::kWhole});
  s.push_back({"first_frag", Split(Tcp(h, 1, 2, Data(60)), 32).first, 40, Kind::kFirstFragment});
  s.push_back({"later_frag", Split(Tcp(ho, 1, 2, Data(60)), 32).second, 28, Kind::kLaterFragment});
  s.push_back({"err_udp", IcmpErr(h, Udp(ho, 1, 2, Data(5))), 28 + 28 + 8, Kind::kIcmpError});
  s.push_back({"err_tcp", IcmpErr(ho, Tcp(h, 1, 2, Data(5))), 36 + 28, Kind::kIcmpError});
  s.push_back({"err_echo", IcmpErr(h, Echo(h, 1, 2, Data(5))), 28 + 28, Kind::kIcmpError});
  return s;
}

}  // namespace

TEST(nat_truncation_every_prefix) {
  for (const Sample& s : Samples()) {
    Classified c;
    CHECK(Classify(s.p.data(), uint32_t(s.p.size()), &c) == s.kind);
    for (size_t n = 0; n <= s.p.size(); n++) {
      // Exact-size heap copy: ASan flags any read past ip + len.
      std::unique_ptr<uint8_t[]> buf(new uint8_t[n]);
      std::memcpy(buf.get(), s.p.data(), n);
      const Kind k = Classify(buf.get(), uint32_t(n), &c);
      if (n < s.p.size()) {
        if (!CHECK(k == Kind::kTruncated)) std::printf("    %s prefix %zu: %s\n", s.name, n, KindName(k));
      }
      // The same prefix presented as a complete packet (total length = n): truncated exactly
      // when the headers do not fit, and then the rewrites stay inside the buffer too.
      if (n < 20) continue;
      Bytes cut = Prefix(s.p, n);
      Put16(cut, 2, uint16_t(n));
      if (n >= Ihl(cut)) Put16(cut, 10, RefIpCsum(cut));
      std::unique_ptr<uint8_t[]> b2(new uint8_t[n]);
      std::memcpy(b2.get(), cut.data(), n);
      const Kind k2 = Classify(b2.get(), uint32_t(n), &c);
      const Kind want = n < s.need ? Kind::kTruncated : s.kind;
      if (!CHECK(k2 == want)) std::printf("    %s total %zu: %s\n", s.name, n, KindName(k2));
      const Tuple to = MakeTuple(kPub, 1, 2, 3, c.tuple.proto);
      if (k2 == Kind::kIcmpError) {
        CHECK(RewriteIcmpError(b2.get(), uint32_t(n), c, kPub, 5, to));
        Bytes out(b2.get(), b2.get() + n);
        CHECK_EQ(Get16(out, 10), RefIpCsum(out));
        CHECK_EQ(Get16(out, Ihl(out) + 2), RefL4Csum(out, 0, n - Ihl(out)));
      } else if (k2 != Kind::kTruncated) {
        CHECK(Rewrite(b2.get(), uint32_t(n), k2, c, to));
      }
    }
  }
}

namespace {

// ---- Randomized: random packets, random translations; the rewritten packet must equal the
// packet built from scratch with the new tuple.

struct Gen {
  Rng& r;
  uint32_t Addr() { return uint32_t(r.Next()); }
  uint16_t Port() { return uint16_t(r.Next()); }
  Hdr RandHdr() {
    Hdr h;
    h.src = Addr(), h.dst = Addr();
    h.id = Port();
    h.ttl = uint8_t(r.Next());
    h.tos = uint8_t(r.Next());
    h.df = r.Below(2);
    h.options = Bytes(4 * r.Below(4), 1);
    for (auto& b : h.options) b = uint8_t(r.Next());
    return h;
  }
  Bytes RandData(uint32_t max) {
    Bytes d(r.Below(max + 1));
    for (auto& b : d) b = uint8_t(r.Next());
    return d;
  }
};

// The L4 part of a random packet, rebuildable with another tuple.
struct L4Spec {
  uint8_t proto;  // TCP, UDP, ICMP (query), or another
  uint8_t icmp_type = 8, tcp_flags = 0;
  bool no_csum = false;
  uint16_t seq = 0;
  Bytes data, tcp_opts;

  Bytes Build(const Hdr& h, const Tuple& t) const {
    switch (proto) {
      case kProtoTcp: return Tcp(h, t.sport, t.dport, data, tcp_flags, tcp_opts);
      case kProtoUdp: return Udp(h, t.sport, t.dport, data, no_csum);
      case kProtoIcmp: return Echo(h, t.sport, seq, data, icmp_type);
      default: return BuildIp(h, proto, data);
    }
  }
  Tuple Key(const Hdr& h, uint16_t sport, uint16_t dport) const {
    if (proto == kProtoIcmp) return IcmpQuery(h.src, h.dst, sport);
    if (proto != kProtoTcp && proto != kProtoUdp) return MakeTuple(h.src, h.dst, 0, 0, proto);
    return MakeTuple(h.src, h.dst, sport, dport, proto);
  }
};

L4Spec RandL4(Gen& g) {
  L4Spec s;
  const uint8_t queries[] = {0, 8, 13, 14, 15, 16, 17, 18};
  switch (g.r.Below(5)) {
    case 0: s.proto = kProtoTcp; break;
    case 1: case 2: s.proto = kProtoUdp; break;
    case 3: s.proto = kProtoIcmp; break;
    default: {
      const uint8_t others[] = {47, 50, 41, 132, 0, 255};
      s.proto = others[g.r.Below(6)];
    }
  }
  s.icmp_type = queries[g.r.Below(8)];
  s.tcp_flags = uint8_t(g.r.Next());
  s.no_csum = g.r.Below(4) == 0;
  s.seq = g.Port();
  s.data = g.RandData(g.r.Below(8) == 0 ? 1400 : 64);
  s.tcp_opts = Bytes(4 * g.r.Below(11), 1);
  for (auto& b : s.tcp_opts) b = uint8_t(g.r.Next());
  return s;
}

Hdr WithAddrs(Hdr h, uint32_t src, uint32_t dst) {
  h.src = src, h.dst = dst;
  return h;
}

}  // namespace

TEST(nat_random_rewrites) {
  Rng rng(2024);
  Gen g{rng};
  int counts[3] = {0, 0, 0};
  for (int iter = 0; iter < 10000; iter++) {
    const Hdr h = g.RandHdr();
    const L4Spec l4 = RandL4(g);
    const uint16_t sp = g.Port(), dp = g.Port();
    const Bytes orig = l4.Build(h, l4.Key(h, sp, dp));
    const Tuple to = l4.Key(WithAddrs(h, g.Addr(), g.Addr()), g.Port(), g.Port());
    const Bytes want = l4.Build(WithAddrs(h, to.src, to.dst), to);
    const uint32_t mode = rng.Below(3);
    bool ok = true;
    if (mode == 0) {
      // Whole packet.
      Bytes p = orig;
      Classified c;
      ok &= CHECK(Classify(p.data(), uint32_t(p.size()), &c) == Kind::kWhole);
      ok &= CHECK(c.tuple == l4.Key(h, sp, dp));
      ok &= CHECK(Rewrite(p.data(), uint32_t(p.size()), Kind::kWhole, c, to));
      ok &= ChecksumsOk(p);
      ok &= CHECK(p == want);
    } else if (mode == 1) {
      // Fragmented in two: each rewritten alone must match the fragments of the translated
      // datagram (so the reassembly, with its L4 checksum, is right too).
      const size_t ihl = Ihl(orig), pay = orig.size() - ihl;
      const size_t l4min = l4.proto == kProtoTcp ? 20 + l4.tcp_opts.size()
                         : (l4.proto == kProtoUdp || l4.proto == kProtoIcmp) ? 8 : 0;
      // Cut at a multiple of 8 that leaves the L4 header in the first fragment and at least
      // one byte for the later one.
      if (pay < 2) continue;
      const size_t lo = std::max<size_t>(1, (l4min + 7) / 8), hi = (pay - 1) / 8;
      if (lo > hi) continue;
      const size_t cut = 8 * (lo + rng.Below(uint32_t(hi - lo + 1)));
      auto [a, b] = Split(orig, cut);
      auto [wa, wb] = Split(want, cut);
      Classified ca, cb;
      ok &= CHECK(Classify(a.data(), uint32_t(a.size()), &ca) == Kind::kFirstFragment);
      ok &= CHECK(Classify(b.data(), uint32_t(b.size()), &cb) == Kind::kLaterFragment);
      ok &= CHECK(Rewrite(a.data(), uint32_t(a.size()), Kind::kFirstFragment, ca, to));
      ok &= CHECK(Rewrite(b.data(), uint32_t(b.size()), Kind::kLaterFragment, cb, to));
      ok &= CHECK(a == wa);
      ok &= CHECK(b == wb);
      ok &= ChecksumsOk(Reassemble(a, b));
    } else {
      // An ICMP error quoting the packet (a prefix of at least IP header + 8, or all of it).
      if (l4.proto != kProtoTcp && l4.proto != kProtoUdp && l4.proto != kProtoIcmp) continue;
      const size_t min_q = Ihl(orig) + 8;
      const size_t qlen = rng.Below(3) == 0 ? orig.size()
                                            : min_q + rng.Below(uint32_t(orig.size() - min_q + 1));
      const uint8_t errs[] = {3, 4, 5, 11, 12};
      const uint8_t et = errs[rng.Below(5)], code = uint8_t(rng.Below(16));
      Hdr r = g.RandHdr();
      Bytes p = IcmpErr(r, Prefix(orig, qlen), et, code);
      const uint32_t osrc = g.Addr(), odst = g.Addr();
      Bytes wq = Prefix(want, qlen);
      // A TCP checksum not wholly inside the quote is left alone.
      if (l4.proto == kProtoTcp && qlen < Ihl(orig) + 18) {
        for (size_t i = Ihl(orig) + 16; i < qlen; i++) wq[i] = orig[i];
      }
      const Bytes wp = IcmpErr(WithAddrs(r, osrc, odst), wq, et, code);
      Classified c;
      ok &= CHECK(Classify(p.data(), uint32_t(p.size()), &c) == Kind::kIcmpError);
      ok &= CHECK(c.quoted == l4.Key(h, sp, dp));
      ok &= CHECK(RewriteIcmpError(p.data(), uint32_t(p.size()), c, osrc, odst, to));
      ok &= ChecksumsOk(p);
      if (qlen == orig.size()) ok &= ChecksumsOk(Quote(p));
      ok &= CHECK(p == wp);
    }
    counts[mode]++;
    if (!ok) {
      std::printf("    iteration %d mode %u proto %u len %zu\n", iter, mode, l4.proto, orig.size());
      break;
    }
  }
  // Every mode must actually have run a good share of the iterations.
  CHECK(counts[0] > 2500 && counts[1] > 1500 && counts[2] > 1500);
}

TEST(nat_random_garbage_stays_in_bounds) {
  // Mutated and cut valid packets: whatever Classify says, it and the rewrites it allows must
  // stay inside the buffer (checked by ASan), and the rewrites must accept what Classify passed.
  Rng rng(99);
  Gen g{rng};
  std::vector<Bytes> seeds;
  for (const Sample& s : Samples()) seeds.push_back(s.p);
  int rewritten = 0;
  for (int iter = 0; iter < 20000; iter++) {
    Bytes p = seeds[rng.Below(uint32_t(seeds.size()))];
    const uint32_t flips = rng.Below(4);
    for (uint32_t i = 0; i < flips; i++) p[rng.Below(uint32_t(p.size()))] = uint8_t(rng.Next());
    if (rng.Below(4) == 0) Put16(p, 2, uint16_t(rng.Below(uint32_t(p.size()) + 8)));
    const size_t n = rng.Below(4) == 0 ? rng.Below(uint32_t(p.size()) + 1) : p.size();
    std::unique_ptr<uint8_t[]> buf(new uint8_t[n]);
    std::memcpy(buf.get(), p.data(), n);
    Classified c;
    const Kind k = Classify(buf.get(), uint32_t(n), &c);
    const Tuple to = MakeTuple(g.Addr(), g.Addr(), g.Port(), g.Port(), c.tuple.proto);
    if (k == Kind::kWhole || k == Kind::kFirstFragment || k == Kind::kLaterFragment) {
      CHECK(c.total <= n);
      CHECK(Rewrite(buf.get(), uint32_t(n), k, c, to));
      rewritten++;
    } else if (k == Kind::kIcmpError) {
      CHECK(RewriteIcmpError(buf.get(), uint32_t(n), c, g.Addr(), g.Addr(), to));
      rewritten++;
    }
  }
  CHECK(rewritten > 1000);
}
