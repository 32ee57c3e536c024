// What a random cache line costs on this machine, by working-set size: the figures behind the
// session table's layout (docs/conntrack.md, "Layout and memory"). For each size: an array in
// hugetlb pages (else 4 KiB pages), then
//   throughput  random lines read in groups of 64, all 64 prefetched before any is read (as the
//               table's staged lookup does): ns per line, best of 5 passes over 4M lines
//   latency     a dependent chain through every line in random order: ns per step
// Usage: build-bench/memory_lines_bench [--mib 1,8,10,18,82] (sizes round up to 2 MiB)
// Output: JSON lines, e.g. {"name":"random-line-ns-82MiB","unit":"ns","value":6.5}.
#include <sys/mman.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <utility>
#include <vector>

#include "bench_util.h"

namespace {

constexpr size_t kLine = 64, kHuge = size_t(1) << 21;

struct Xorshift {
  uint64_t s = 88172645463325252ull;
  uint64_t Next() {
    s ^= s << 13, s ^= s >> 7, s ^= s << 17;
    return s;
  }
};

struct Region {
  uint64_t* words = nullptr;
  size_t bytes = 0;
  bool huge = false;
};

Region Map(size_t mib) {
  Region r;
  r.bytes = std::max(kHuge, ((mib << 20) + kHuge - 1) / kHuge * kHuge);  // whole huge pages
  void* p = mmap(nullptr, r.bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_HUGETLB, -1, 0);
  r.huge = p != MAP_FAILED;
  if (!r.huge) p = mmap(nullptr, r.bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED) {
    std::perror("mmap");
    std::exit(1);
  }
  r.words = static_cast<uint64_t*>(p);
  for (size_t i = 0; i < r.bytes / 8; i++) r.words[i] = i;  // touch every page
  return r;
}

double ThroughputNs(const Region& r, Xorshift& rng) {
  const size_t lines = r.bytes / kLine, n = size_t(1) << 22, kGroup = 64;
  std::vector<uint32_t> idx(n);
  for (auto& x : idx) x = uint32_t(rng.Next() % lines);
  const uint64_t* w = r.words;
  uint64_t sum = 0;
  double best = 1e9;
  for (int pass = 0; pass < 5; pass++) {
    const double t0 = vnf::bench::CpuNow();
    for (size_t i = 0; i < n; i += kGroup) {
      for (size_t j = 0; j < kGroup; j++) __builtin_prefetch(&w[idx[i + j] * (kLine / 8)]);
      for (size_t j = 0; j < kGroup; j++) sum += w[idx[i + j] * (kLine / 8)];
    }
    best = std::min(best, (vnf::bench::CpuNow() - t0) / double(n) * 1e9);
  }
  if (sum == 1) std::fprintf(stderr, "-");  // keeps the loads
  return best;
}

double LatencyNs(const Region& r, Xorshift& rng) {
  const size_t lines = r.bytes / kLine;
  std::vector<uint32_t> order(lines);
  for (size_t i = 0; i < lines; i++) order[i] = uint32_t(i);
  for (size_t i = lines - 1; i > 0; i--) std::swap(order[i], order[rng.Next() % (i + 1)]);
  uint64_t* w = r.words;
  for (size_t i = 0; i < lines; i++) w[order[i] * (kLine / 8)] = order[(i + 1) % lines];
  const size_t steps = size_t(1) << 21;
  uint64_t cur = order[0];
  const double t0 = vnf::bench::CpuNow();
  for (size_t i = 0; i < steps; i++) cur = w[cur * (kLine / 8)];
  const double ns = (vnf::bench::CpuNow() - t0) / double(steps) * 1e9;
  if (cur == ~uint64_t(0)) std::fprintf(stderr, "-");
  return ns;
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<size_t> sizes = {1, 8, 10, 18, 82};
  for (int i = 1; i + 1 < argc; i += 2) {
    if (std::string(argv[i]) != "--mib") continue;
    sizes.clear();
    for (char* s = argv[i + 1]; *s;) {
      sizes.push_back(std::strtoul(s, &s, 10));
      if (*s == ',') s++;
    }
  }
  Xorshift rng;
  for (size_t mib : sizes) {
    const Region r = Map(mib);
    const std::string tag = std::to_string(r.bytes >> 20) + "MiB";
    vnf::bench::Print("random-line-ns-" + tag, "ns", ThroughputNs(r, rng));
    vnf::bench::Print("dependent-line-ns-" + tag, "ns", LatencyNs(r, rng));
    vnf::bench::Print("hugetlb-" + tag, "bool", r.huge ? 1 : 0);
    munmap(r.words, r.bytes);
  }
  return 0;
}
