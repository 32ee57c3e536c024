// Tests of src/virtio/offload: TCP segmentation of GSO super-frames compared byte for byte with
// segments built from scratch here (IPv4 with options and VLAN tags, IPv6; checksums by the
// naive reference of nat_packets.h), flags and sequence numbers across segments, every
// truncation and bad header refused (exact-size heap buffers: ASan catches an over-read), and
// partial checksums completed over buffer chains split at every odd and even offset.
#include <cstring>
#include <memory>
#include <vector>

#include "harness.h"
#include "nat_packets.h"
#include "test_util.h"
#include "virtio/offload.h"

namespace vio = vnf::virtio;
using Bytes = std::vector<uint8_t>;
using vt::Get16;
using vt::Get32;
using vt::Put16;
using vt::Put32;

namespace {

constexpr uint8_t kSyn = 0x02, kFin = 0x01, kPsh = 0x08, kAck = 0x10, kCwr = 0x80;

Bytes Ethernet(uint16_t ether, int vlans) {
  Bytes e = {2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1};
  for (int v = 0; v < vlans; v++) e.insert(e.end(), {uint8_t(v == 0 && vlans == 2 ? 0x88 : 0x81), uint8_t(v == 0 && vlans == 2 ? 0xa8 : 0x00), 0, uint8_t(10 + v)});
  e.push_back(uint8_t(ether >> 8));
  e.push_back(uint8_t(ether));
  return e;
}

Bytes TcpHeader(uint32_t seq, uint8_t flags, size_t options) {
  Bytes t(20 + options, 0);
  Put16(t, 0, 40000);
  Put16(t, 2, 5201);
  Put32(t, 4, seq);
  Put32(t, 8, 0x01020304);
  t[12] = uint8_t((20 + options) / 4 << 4);
  t[13] = flags;
  Put16(t, 14, 502);
  for (size_t i = 0; i < options; i++) t[20 + i] = 1;  // NOPs
  return t;
}

Bytes Payload(size_t n, uint32_t seed) {
  Bytes p(n);
  vt::Rng r(seed);
  for (auto& b : p) b = uint8_t(r.Next());
  return p;
}

// An IPv4 TCP packet (header options of `ipopt` bytes), checksums filled by the reference.
Bytes Ipv4Tcp(uint16_t id, const Bytes& tcp, const Bytes& payload, size_t ipopt) {
  Bytes p(20 + ipopt, 0);
  p[0] = uint8_t(0x40 | (20 + ipopt) / 4);
  Put16(p, 4, id);
  p[6] = 0x40;  // DF
  p[8] = 64;
  p[9] = 6;
  Put32(p, 12, vt::Ip(10, 0, 2, 2));
  Put32(p, 16, vt::Ip(10, 0, 1, 2));
  for (size_t i = 0; i < ipopt; i++) p[20 + i] = 1;
  p.insert(p.end(), tcp.begin(), tcp.end());
  p.insert(p.end(), payload.begin(), payload.end());
  Put16(p, 2, uint16_t(p.size()));
  vt::FixChecksums(p);
  return p;
}

// An IPv6 TCP packet with its checksum from the naive reference.
Bytes Ipv6Tcp(const Bytes& tcp, const Bytes& payload) {
  Bytes p(40, 0);
  p[0] = 0x60;
  p[6] = 6;
  p[7] = 64;
  for (int i = 0; i < 16; i++) p[8 + i] = uint8_t(0x20 + i), p[24 + i] = uint8_t(0x40 + i);
  p.insert(p.end(), tcp.begin(), tcp.end());
  p.insert(p.end(), payload.begin(), payload.end());
  const uint32_t l4 = uint32_t(p.size() - 40);
  Put16(p, 4, uint16_t(l4));
  Put16(p, 40 + 16, 0);
  uint32_t sum = vt::SumOf(p, 8, 32) + 6 + l4;
  sum = vt::SumOf(p, 40, l4, sum);
  while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
  Put16(p, 40 + 16, uint16_t(~sum));
  return p;
}

Bytes Concat(Bytes a, const Bytes& b) {
  a.insert(a.end(), b.begin(), b.end());
  return a;
}

vio::NetHdr GsoHdr(uint8_t type, uint16_t mss) {
  vio::NetHdr h{};
  h.flags = vio::kNetHdrNeedsCsum;
  h.gso_type = type;
  h.gso_size = mss;
  return h;
}

// Segments `frame` with the module and checks every segment against `expect(i)`.
template <typename Expect>
void CheckSegments(const Bytes& frame, const vio::NetHdr& h, uint32_t want_count, Expect expect) {
  vio::TcpSegments plan;
  const char* e = vio::PlanTcpSegments(frame.data(), uint32_t(frame.size()), h, &plan);
  CHECK(e == nullptr);
  if (e) {
    std::printf("    plan refused: %s\n", e);
    return;
  }
  CHECK_EQ(plan.count, want_count);
  for (uint32_t i = 0; i < plan.count; i++) {
    auto out = std::make_unique<uint8_t[]>(plan.Length(i));  // exact size: ASan sees an overrun
    const uint32_t n = vio::WriteTcpSegment(frame.data(), plan, i, out.get());
    const Bytes want = expect(i);
    CHECK_EQ(n, want.size());
    if (n == want.size()) CHECK(std::memcmp(out.get(), want.data(), n) == 0);
  }
}

}  // namespace

TEST(offload_tso_ipv4_matches_segments_built_from_scratch) {
  for (int vlans = 0; vlans <= 2; vlans++) {
    for (size_t ipopt : {size_t(0), size_t(8)}) {
      for (uint32_t total : {1u, 1448u, 1449u, 20000u, 65000u - 80u}) {
        const uint32_t mss = 1448;
        const Bytes data = Payload(total, total + vlans);
        const Bytes eth = Ethernet(0x0800, vlans);
        // The super-frame as Linux hands it: one header, all the data, PSH|FIN|CWR set.
        const uint8_t flags = kAck | kPsh | kFin | kCwr;
        Bytes super = Concat(eth, Ipv4Tcp(0x1000, TcpHeader(7777, flags, 12), data, ipopt));
        Put16(super, eth.size() + 10, 0xdead);   // junk where the sender left checksums to us
        Put16(super, eth.size() + 20 + ipopt + 16, 0xbeef);
        const uint32_t count = (total + mss - 1) / mss;
        CheckSegments(super, GsoHdr(vio::kGsoTcpV4, uint16_t(mss)), count, [&](uint32_t i) {
          const uint32_t off = i * mss;
          const Bytes slice(data.begin() + off, data.begin() + std::min(total, off + mss));
          uint8_t f = kAck;
          if (i == 0) f |= kCwr;
          if (i + 1 == count) f |= kPsh | kFin;
          return Concat(eth, Ipv4Tcp(uint16_t(0x1000 + i), TcpHeader(7777 + off, f, 12), slice, ipopt));
        });
      }
    }
  }
}

TEST(offload_tso_ipv6_and_ecn_flag) {
  const uint32_t mss = 1220, total = 9000;
  const Bytes data = Payload(total, 6);
  const Bytes eth = Ethernet(0x86dd, 1);
  const Bytes super = Concat(eth, Ipv6Tcp(TcpHeader(0xfffff000, kAck | kPsh, 0), data));  // the sequence wraps
  const uint32_t count = (total + mss - 1) / mss;
  CheckSegments(super, GsoHdr(vio::kGsoTcpV6 | vio::kGsoEcn, uint16_t(mss)), count, [&](uint32_t i) {
    const uint32_t off = i * mss;
    const Bytes slice(data.begin() + off, data.begin() + std::min(total, off + mss));
    return Concat(eth, Ipv6Tcp(TcpHeader(0xfffff000 + off, uint8_t(i + 1 == count ? kAck | kPsh : kAck), 0), slice));
  });
}

TEST(offload_tso_refuses_what_it_cannot_segment) {
  const Bytes data = Payload(3000, 1);
  const Bytes v4 = Concat(Ethernet(0x0800, 0), Ipv4Tcp(1, TcpHeader(1, kAck, 0), data, 0));
  const Bytes v6 = Concat(Ethernet(0x86dd, 0), Ipv6Tcp(TcpHeader(1, kAck, 0), data));
  vio::TcpSegments plan;
  auto refused = [&](const Bytes& f, const vio::NetHdr& h, const char* why) {
    auto copy = std::make_unique<uint8_t[]>(f.size());
    std::memcpy(copy.get(), f.data(), f.size());
    const char* e = vio::PlanTcpSegments(copy.get(), uint32_t(f.size()), h, &plan);
    CHECK(e != nullptr);
    if (e && std::strstr(e, why) == nullptr) {
      std::printf("    reason '%s' does not name '%s'\n", e, why);
      CHECK(false);
    }
  };
  refused(v4, GsoHdr(vio::kGsoTcpV6, 1000), "not IPv6");
  refused(v6, GsoHdr(vio::kGsoTcpV4, 1000), "not IPv4");
  refused(v4, GsoHdr(vio::kGsoUdp, 1000), "gso_type");
  refused(v4, GsoHdr(vio::kGsoTcpV4, 0), "gso_size is 0");
  Bytes frag = v4;
  Put16(frag, 14 + 6, 0x2000);  // MF
  refused(frag, GsoHdr(vio::kGsoTcpV4, 1000), "fragment");
  Bytes udp = v4;
  udp[14 + 9] = 17;
  refused(udp, GsoHdr(vio::kGsoTcpV4, 1000), "not TCP");
  Bytes ext = v6;
  ext[14 + 6] = 0;  // hop-by-hop options first
  refused(ext, GsoHdr(vio::kGsoTcpV6, 1000), "extension headers");
  Bytes doff = v4;
  doff[14 + 20 + 12] = 0x40;
  refused(doff, GsoHdr(vio::kGsoTcpV4, 1000), "data offset");
  // Every truncation of the headers is refused without reading past the end.
  for (const Bytes* f : {&v4, &v6}) {
    const uint32_t headers = f == &v4 ? 14 + 20 + 20 : 14 + 40 + 20;
    for (uint32_t len = 0; len < headers; len++) {
      auto copy = std::make_unique<uint8_t[]>(len + 1);
      std::memcpy(copy.get(), f->data(), len);
      CHECK(vio::PlanTcpSegments(copy.get(), len, GsoHdr(f == &v4 ? vio::kGsoTcpV4 : vio::kGsoTcpV6, 1000), &plan) != nullptr);
    }
  }
}

TEST(offload_partial_checksum_over_buffer_chains) {
  // A UDP/IPv4 frame whose checksum field holds the pseudo-header sum only, split over pool
  // buffers at every cut point (odd and even): the completed checksum equals the reference.
  const Bytes data = Payload(301, 9);
  Bytes ip = vt::Ipv4(vt::Ip(10, 0, 0, 1), vt::Ip(10, 0, 0, 2), 17, 8 + data.size());
  Put16(ip, 20, 5000), Put16(ip, 22, 53), Put16(ip, 24, uint16_t(8 + data.size()));
  std::copy(data.begin(), data.end(), ip.begin() + 28);
  vt::FixChecksums(ip);
  const Bytes eth = Ethernet(0x0800, 0);
  const Bytes want = Concat(eth, ip);
  Bytes partial = want;
  const uint32_t pseudo = vt::PseudoSum(ip, 17, uint32_t(8 + data.size()));
  Put16(partial, 14 + 26, uint16_t((pseudo & 0xffff) + (pseudo >> 16)));
  const uint32_t buf_size = 1024;
  for (uint32_t cut = 14 + 28; cut < partial.size(); cut++) {
    for (uint32_t cut2 : {cut + 1, cut + 2, uint32_t(partial.size())}) {
      if (cut2 > partial.size()) continue;
      // Buffers 2 -> 0 -> 1 (out of order on purpose), data at offset 64.
      std::vector<uint8_t> mem(3 * buf_size);
      uint16_t off[3] = {64, 64, 64}, len[3];
      uint32_t chain[3];
      const uint32_t order[3] = {2, 0, 1};
      const uint32_t from[4] = {0, cut, cut2, uint32_t(partial.size())};
      for (int k = 0; k < 3; k++) {
        const uint32_t b = order[k];
        len[b] = uint16_t(from[k + 1] - from[k]);
        std::memcpy(mem.data() + b * buf_size + 64, partial.data() + from[k], len[b]);
        chain[b] = k < 2 ? order[k + 1] : vio::BufferChain::kChainEnd;
      }
      const vio::BufferChain v{mem.data(), buf_size, off, len, chain, 3};
      CHECK(vio::CompletePartialChecksum(v, 2, 14 + 20, 6) == nullptr);
      Bytes got;
      for (int k = 0; k < 3; k++) got.insert(got.end(), mem.begin() + order[k] * buf_size + 64, mem.begin() + order[k] * buf_size + 64 + len[order[k]]);
      CHECK(got == want);
    }
  }
  // A field past the first buffer, a start past the end and a looping chain are refused.
  std::vector<uint8_t> mem(2 * buf_size);
  uint16_t off[2] = {0, 0}, len[2] = {20, 20};
  uint32_t chain[2] = {1, vio::BufferChain::kChainEnd};
  vio::BufferChain v{mem.data(), buf_size, off, len, chain, 2};
  CHECK(vio::CompletePartialChecksum(v, 0, 14, 6) != nullptr);
  CHECK(vio::CompletePartialChecksum(v, 0, 60, 0) != nullptr);
  chain[1] = 0;
  CHECK(vio::CompletePartialChecksum(v, 0, 0, 6) != nullptr);
}
