// Tests of src/nat/nat: what the packet-level tests (packages/nat/test/rfc.test.ts) cannot
// drive: time (RFC 4787/5382/5508 timeouts, with `now` in the test's hands), what expiry gives
// back (mappings, ports, blocks, the log), memory per session at 1M sessions, and threads.
#include <atomic>
#include <memory>
#include <thread>
#include <vector>

#include "harness.h"
#include "nat/nat.h"
#include "nat_packets.h"
#include "test_util.h"

using namespace vnf::nat;
using vt::Ip;

namespace {

std::unique_ptr<Nat> Make(Config c) {
  c.seed = 7;
  c.hugepages = false;
  std::string err;
  std::unique_ptr<Nat> n = Nat::Create(c, &err);
  if (!CHECK(n != nullptr)) std::printf("    create error: %s\n", err.c_str());
  return n;
}

Config OneAddress() {
  Config c;
  c.pool = {{Ip(198, 51, 100, 1), Ip(198, 51, 100, 1)}};
  c.sessions = 1024;
  return c;
}

// One packet through Translate; returns the action (the packet is rewritten in place).
Action Send(Nat& n, std::vector<uint8_t>& pkt, Side side, uint64_t now) {
  Packet p;
  p.ip = pkt.data();
  p.len = uint32_t(pkt.size());
  p.side = side;
  Action a = Action::kCount;
  n.Translate(&p, 1, now, &a);
  return a;
}

const uint32_t kA = Ip(10, 0, 0, 2), kR = Ip(203, 0, 113, 1), kR2 = Ip(203, 0, 113, 2);
constexpr uint64_t kSec = 1000;  // ticks per second (ms)

}  // namespace

TEST(nat_udp_mapping_lives_at_least_two_minutes_rfc4787_req5) {
  auto n = Make(OneAddress());
  auto out = vt::Udp(kA, kR, 5000, 53);
  CHECK(Send(*n, out, kInside, 0) == Action::kToOutside);
  const uint32_t ext = vt::Src(out);
  const uint16_t port = vt::SrcPort(out);
  // Unreplied: still there at 119 s (expiry run just before), so the answer gets in.
  n->Expire(119 * kSec, 1 << 20, false);
  auto in = vt::Udp(kR, ext, 53, port);
  CHECK(Send(*n, in, kOutside, 119 * kSec) == Action::kToInside);
  CHECK_EQ(vt::Dst(in), kA);
  // Replied: 300 s from the last packet; gone after, and its port with it.
  n->Expire(119 * kSec + 299 * kSec, 1 << 20, false);
  CHECK_EQ(n->stats().mappings, 1u);
  n->Expire(119 * kSec + 301 * kSec, 1 << 20, false);
  CHECK_EQ(n->stats().mappings, 0u);
  auto late = vt::Udp(kR, ext, 53, port);
  CHECK(Send(*n, late, kOutside, 421 * kSec) == Action::kNoMapping);
}

TEST(nat_tcp_established_lives_two_hours_four_minutes_rfc5382_req5) {
  auto n = Make(OneAddress());
  auto syn = vt::Tcp(kA, kR, 40000, 80, 0x02);
  CHECK(Send(*n, syn, kInside, 0) == Action::kToOutside);
  const uint32_t ext = vt::Src(syn);
  const uint16_t port = vt::SrcPort(syn);
  auto synack = vt::Tcp(kR, ext, 80, port, 0x12);
  CHECK(Send(*n, synack, kOutside, kSec) == Action::kToInside);
  auto ack = vt::Tcp(kA, kR, 40000, 80, 0x10);
  CHECK(Send(*n, ack, kInside, 2 * kSec) == Action::kToOutside);
  const uint64_t idle = 2 * kSec + 7440 * kSec;
  n->Expire(idle - 1, 1 << 20, false);
  auto data = vt::Tcp(kR, ext, 80, port, 0x18);
  CHECK(Send(*n, data, kOutside, idle - 1) == Action::kToInside);
  // A connection that never completed (transitory): at least 4 minutes.
  auto syn2 = vt::Tcp(kA, kR2, 40001, 80, 0x02);
  CHECK(Send(*n, syn2, kInside, 0) == Action::kToOutside);
  n->Expire(239 * kSec, 1 << 20, false);
  auto synack2 = vt::Tcp(kR2, vt::Src(syn2), 80, vt::SrcPort(syn2), 0x12);
  CHECK(Send(*n, synack2, kOutside, 239 * kSec) == Action::kToInside);
}

TEST(nat_icmp_query_mapping_lives_sixty_seconds_rfc5508_req1) {
  auto n = Make(OneAddress());
  auto req = vt::Echo(kA, kR, 0x4242, 8);
  CHECK(Send(*n, req, kInside, 0) == Action::kToOutside);
  n->Expire(59 * kSec, 1 << 20, false);
  auto rep = vt::Echo(kR, vt::Src(req), vt::EchoId(req), 0);
  CHECK(Send(*n, rep, kOutside, 59 * kSec) == Action::kToInside);
  CHECK_EQ(vt::EchoId(rep), 0x4242);
}

TEST(nat_expiry_gives_back_ports_blocks_and_logs_them) {
  Config c = OneAddress();
  c.port_first = 1024, c.port_last = 1024 + 127;
  c.block_size = 32;
  c.max_blocks = 2;
  c.log_mappings = true;
  auto n = Make(c);
  for (uint16_t p = 0; p < 40; p++) {  // 40 mappings: two blocks
    auto u = vt::Udp(kA, kR, uint16_t(5000 + p), 53);
    CHECK(Send(*n, u, kInside, 0) == Action::kToOutside);
  }
  auto more = vt::Udp(kA, kR, 6000, 53);
  for (uint16_t p = 40; p < 64; p++) {
    auto u = vt::Udp(kA, kR, uint16_t(5000 + p), 53);
    CHECK(Send(*n, u, kInside, 0) == Action::kToOutside);
  }
  CHECK(Send(*n, more, kInside, 0) == Action::kPoolExhausted);  // 2 blocks of 32, full
  Stats s = n->stats();
  CHECK_EQ(s.blocks, 2u);
  CHECK_EQ(s.mappings, 64u);
  n->Expire(1000 * kSec, 1 << 20, false);
  s = n->stats();
  CHECK_EQ(s.mappings, 0u);
  CHECK_EQ(s.blocks, 0u);
  CHECK_EQ(s.hosts, 0u);
  std::vector<Event> ev(1000);
  const uint32_t k = n->Drain(ev.data(), 1000);
  uint32_t created = 0, removed = 0, balloc = 0, brel = 0;
  for (uint32_t i = 0; i < k; i++) {
    created += ev[i].type == EventType::kMappingCreated;
    removed += ev[i].type == EventType::kMappingRemoved;
    balloc += ev[i].type == EventType::kBlockAllocated;
    brel += ev[i].type == EventType::kBlockReleased;
  }
  CHECK_EQ(created, 64u);
  CHECK_EQ(removed, 64u);
  CHECK_EQ(balloc, 2u);
  CHECK_EQ(brel, 2u);
  // Everything is free again: a new host gets ports.
  auto again = vt::Udp(Ip(10, 0, 0, 9), kR, 5000, 53);
  CHECK(Send(*n, again, kInside, 1001 * kSec) == Action::kToOutside);
}

TEST(nat_bad_config_is_refused_with_a_reason) {
  std::string err;
  Config c;
  CHECK(Nat::Create(c, &err) == nullptr);
  CHECK(err.find("pool: empty") != std::string::npos);
  c.pool = {{Ip(1, 0, 0, 0), Ip(1, 0, 0, 9)}, {Ip(1, 0, 0, 5), Ip(1, 0, 0, 20)}};
  CHECK(Nat::Create(c, &err) == nullptr);
  CHECK(err.find("overlaps pool[0]") != std::string::npos);
  c.pool = {{Ip(1, 0, 0, 1), Ip(1, 0, 0, 1)}};
  c.port_first = 0;
  CHECK(Nat::Create(c, &err) == nullptr);
  CHECK(err.find("1-65535") != std::string::npos);
  c.port_first = 2000, c.port_last = 1000;
  CHECK(Nat::Create(c, &err) == nullptr);
}

TEST(nat_memory_per_session_at_one_million) {
  Config c;
  c.pool = {{Ip(198, 51, 100, 0), Ip(198, 51, 100, 255)}};
  c.sessions = 1u << 20;
  for (Filtering f : {Filtering::kEndpointIndependent, Filtering::kAddressDependent}) {
    c.filtering = f;
    auto n = Make(c);
    const double per = double(n->MemoryBytes()) / c.sessions;
    std::printf("    %s filtering: %.1f bytes per session (%.1f MiB for 2^20)\n",
                f == Filtering::kAddressDependent ? "address-dependent" : "endpoint-independent", per,
                double(n->MemoryBytes()) / (1 << 20));
    CHECK(per <= 128.0);
  }
}

TEST(nat_threads_translate_and_expire_concurrently) {
  Config c;
  c.pool = {{Ip(198, 51, 100, 1), Ip(198, 51, 100, 4)}};
  c.sessions = 4096;
  c.timeouts.udp_unreplied = 1;
  c.timeouts.udp_replied = 1;
  auto n = Make(c);
  std::atomic<uint64_t> bad{0}, translated{0};
  auto worker = [&](uint32_t id) {
    vt::Rng rng(id + 1);
    std::vector<std::vector<uint8_t>> pkts(32);
    Packet p[32];
    Action a[32];
    for (uint64_t now = 0; now < 20000; now += 5) {
      for (int i = 0; i < 32; i++) {
        pkts[i] = vt::Udp(Ip(10, 1, uint8_t(id), uint8_t(rng.Below(64))), kR, uint16_t(1000 + rng.Below(256)), 53);
        p[i].ip = pkts[i].data();
        p[i].len = uint32_t(pkts[i].size());
        p[i].side = kInside;
      }
      n->Translate(p, 32, now, a);
      for (int i = 0; i < 32; i++) {
        if (a[i] == Action::kToOutside) translated++;
        else if (a[i] != Action::kTableFull && a[i] != Action::kPoolExhausted) bad++;
        if (a[i] == Action::kToOutside && !vt::ChecksumsValid(pkts[i])) bad++;
      }
      n->Expire(now, 64, true);
    }
  };
  std::thread t1(worker, 1), t2(worker, 2);
  t1.join();
  t2.join();
  CHECK_EQ(bad.load(), 0u);
  CHECK(translated.load() > 0);
  n->Expire(1u << 30, 1 << 20, false);
  const Stats s = n->stats();
  CHECK_EQ(s.mappings, 0u);
  CHECK_EQ(s.hosts, 0u);
  CHECK_EQ(s.conntrack.in_use, 0u);
}
