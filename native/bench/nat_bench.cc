// NAT44 benchmark (src/nat/nat), one core, for each size in --sizes (sessions):
//   new sessions/s    an empty translator filled with that many UDP flows from the inside, in
//                     bursts of 32 (mapping, port, session, rewrite per packet)
//   translation Mpps  established flows, random flow per packet, bursts of 32, outbound: each
//                     packet's tuple written into a 64-byte frame slot (as a NIC would have
//                     delivered it), then Translate rewrites it in place (lookup, state,
//                     the other direction's tuple, incremental checksums)
//   lookup Mpps       conntrack Lookup alone on the translator's table with the same flows'
//                     keys, bursts of 64, both directions (what the 1M-vs-10K target is about)
//   memory            translator bytes (sessions, both directions' index entries, mappings and
//                     their two indexes, filters) per session at that capacity
// JSON lines on stdout (bench_util.h), medians of --runs runs; CPU time of this thread.
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "bench_util.h"
#include "nat/nat.h"

namespace {

using namespace vnf::nat;
namespace bench = vnf::bench;
namespace ct = vnf::conntrack;

constexpr uint32_t kBurst = 32;
constexpr uint32_t kR = 0xCB007101;  // 203.0.113.1

// Flow i: inside 10.x.y.z:port -> 203.0.113.1:53, 1000 ports per inside address.
inline uint32_t InsideAddr(uint32_t i) { return 0x0A000000u + 1 + i / 1000; }
inline uint16_t InsidePort(uint32_t i) { return uint16_t(10000 + i % 1000); }

// Writes flow i's IPv4/UDP header into a 64-byte slot (checksums arbitrary: NAT adjusts them).
inline void WriteFlow(uint8_t* p, uint32_t i) {
  static const uint8_t kTemplate[28] = {0x45, 0, 0, 28 + 8, 0x12, 0x34, 0, 0, 64, 17, 0x55, 0xaa, 0, 0, 0, 0,
                                        0,    0, 0, 0,      0,    0,    0, 0, 0,  16, 0x12, 0x34};
  std::memcpy(p, kTemplate, 28);
  const uint32_t s = InsideAddr(i);
  p[12] = uint8_t(s >> 24), p[13] = uint8_t(s >> 16), p[14] = uint8_t(s >> 8), p[15] = uint8_t(s);
  p[16] = uint8_t(kR >> 24), p[17] = uint8_t(kR >> 16), p[18] = uint8_t(kR >> 8), p[19] = uint8_t(kR);
  const uint16_t sp = InsidePort(i);
  p[20] = uint8_t(sp >> 8), p[21] = uint8_t(sp);
  p[22] = 0, p[23] = 53;
}

struct Rng {
  uint64_t s;
  uint32_t Below(uint32_t n) {
    s ^= s >> 12, s ^= s << 25, s ^= s >> 27;
    return uint32_t(((s * 2685821657736338717ull) >> 32) * n >> 32);
  }
};

struct Result {
  double new_per_sec = 0, translate_mpps = 0, lookup_mpps = 0, bytes_per_session = 0, total = 0;
};

Result RunOnce(uint32_t n, uint64_t seed) {
  Config c;
  c.pool = {{0xC6336400u, 0xC63364FFu}};  // 198.51.100.0/24: 256 addresses
  c.sessions = n;
  c.filtering = Filtering::kAddressDependent;
  c.seed = seed;
  std::string err;
  std::unique_ptr<Nat> nat = Nat::Create(c, &err);
  if (!nat) {
    std::fprintf(stderr, "nat_bench: %s\n", err.c_str());
    std::exit(1);
  }
  Result r;
  r.total = double(nat->MemoryBytes());
  r.bytes_per_session = r.total / n;
  alignas(64) uint8_t slots[kBurst][64];
  Packet pk[kBurst];
  Action act[kBurst];
  for (uint32_t k = 0; k < kBurst; k++) {
    pk[k].ip = slots[k];
    pk[k].len = 36;
    pk[k].side = kInside;
  }
  // New sessions: every flow once, in order.
  uint64_t created = 0;
  double t0 = bench::CpuNow();
  for (uint32_t i = 0; i < n; i += kBurst) {
    const uint32_t m = std::min(kBurst, n - i);
    for (uint32_t k = 0; k < m; k++) WriteFlow(slots[k], i + k);
    nat->Translate(pk, m, 1, act);
    for (uint32_t k = 0; k < m; k++) created += act[k] == Action::kToOutside;
  }
  r.new_per_sec = double(created) / (bench::CpuNow() - t0);
  if (created != n) std::fprintf(stderr, "nat_bench: %llu of %u flows created\n", (unsigned long long)created, n);
  // Established traffic, random flows.
  Rng rng{seed * 0x9E3779B97F4A7C15ull + 1};
  const uint32_t packets = std::max<uint32_t>(4u << 20, n * 2);
  uint64_t ok = 0;
  t0 = bench::CpuNow();
  for (uint32_t i = 0; i < packets; i += kBurst) {
    for (uint32_t k = 0; k < kBurst; k++) WriteFlow(slots[k], rng.Below(n));
    nat->Translate(pk, kBurst, 2, act);
    for (uint32_t k = 0; k < kBurst; k++) ok += act[k] == Action::kToOutside;
  }
  r.translate_mpps = double(packets) / (bench::CpuNow() - t0) / 1e6;
  if (ok != packets) std::fprintf(stderr, "nat_bench: %llu of %u packets translated\n", (unsigned long long)ok, packets);
  // Lookups alone: the sessions' two tuples (inside original, outside reply) in random order.
  std::vector<ct::Tuple> keys(1u << 16);
  ct::Table& t = nat->conntrack();
  for (auto& k : keys) {
    const uint32_t i = rng.Below(n);
    k = ct::MakeTuple(InsideAddr(i), kR, InsidePort(i), 53, 17);
  }
  // Reply tuples come from the table itself (what NAT chose).
  std::vector<ct::Verdict> v(64);
  for (size_t j = 0; j < keys.size(); j += 2) {
    t.Lookup(&keys[j], 1, 2, v.data());
    ct::Tuple o;
    if (v[0].result == ct::Result::kHit && t.Other(v[0].session, v[0].gen, v[0].dir, &o)) keys[j] = o;
  }
  const uint32_t rounds = std::max<uint32_t>(64, (8u << 20) / uint32_t(keys.size()));
  uint64_t hits = 0;
  t0 = bench::CpuNow();
  for (uint32_t round = 0; round < rounds; round++) {
    for (size_t j = 0; j < keys.size(); j += 64) {
      t.Lookup(&keys[j], 64, 2, v.data());
      for (uint32_t k = 0; k < 64; k++) hits += v[k].result == ct::Result::kHit;
    }
  }
  r.lookup_mpps = double(rounds) * double(keys.size()) / (bench::CpuNow() - t0) / 1e6;
  if (hits != uint64_t(rounds) * keys.size()) std::fprintf(stderr, "nat_bench: lookups missed\n");
  return r;
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<uint32_t> sizes = {10000, 1000000};
  int runs = 3;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string a = argv[i];
    if (a == "--runs") runs = std::atoi(argv[i + 1]);
    if (a == "--sizes") {
      sizes.clear();
      for (char* s = argv[i + 1]; *s;) {
        sizes.push_back(uint32_t(std::strtoul(s, &s, 10)));
        if (*s == ',') s++;
      }
    }
  }
  std::vector<std::vector<Result>> all(sizes.size());
  // Sizes interleaved within each run, so load changes on a shared machine hit both alike.
  for (int run = 0; run < runs; run++) {
    for (size_t s = 0; s < sizes.size(); s++) all[s].push_back(RunOnce(sizes[s], uint64_t(run + 1)));
  }
  std::vector<double> lookup_ratio;
  for (int run = 0; run < runs && sizes.size() >= 2; run++) lookup_ratio.push_back(all[0][run].lookup_mpps / all.back()[run].lookup_mpps);
  for (size_t s = 0; s < sizes.size(); s++) {
    const std::string n = std::to_string(sizes[s]);
    auto med = [&](double Result::*f) {
      std::vector<double> v;
      for (const Result& r : all[s]) v.push_back(r.*f);
      return bench::Median(v);
    };
    bench::Print("new-sessions-per-sec-" + n, "1/s", med(&Result::new_per_sec));
    bench::Print("translate-mpps-" + n, "Mpps", med(&Result::translate_mpps));
    bench::Print("lookup-mpps-" + n, "Mpps", med(&Result::lookup_mpps));
    bench::Print("memory-bytes-per-session-" + n, "B", med(&Result::bytes_per_session));
    bench::Print("memory-total-" + n, "B", med(&Result::total));
  }
  if (!lookup_ratio.empty()) {
    bench::Print("lookup-cost-ratio-" + std::to_string(sizes.back()) + "-vs-" + std::to_string(sizes[0]), "x",
                 bench::Median(lookup_ratio));
  }
  return 0;
}
