// Session table benchmark, one core: for each table size, creation rate (new TCP sessions per
// second through Process, SYNs in bursts of 64), then lookup rates over established flows in
// random order and random direction (Lookup alone, and Process = Lookup + Track of an ACK), in
// bursts of 32 and 64; memory per session; the 1M/10K lookup cost ratio; an idle expiry sweep.
//
//   conntrack_bench [--sizes 10000,1000000] [--runs R] [--trace N] [--no-huge]
// Output: one JSON object per line, e.g. {"name":"lookup-mpps-1000000-b64","unit":"Mpps","value":20.1}.
// Rates are medians of R runs (default 5), runs of the sizes interleaved; each run passes over the
// trace (N keys, default 4M) at least once and for at least 0.2 s of this thread's CPU time
// (CLOCK_THREAD_CPUTIME_ID: on a shared machine, time given to other jobs is not counted; cache
// pollution by them still is). The cost ratio is the median of the run-by-run ratios. Table
// capacity = size (the index at its full 90% load).
#include <sched.h>
#include <time.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <string>
#include <vector>

#include "bench_util.h"
#include "conntrack/conntrack.h"

using namespace vnf::conntrack;

using vnf::bench::CpuNow;
using vnf::bench::Median;
using vnf::bench::Print;

namespace {

uint64_t AnonHugeBytes() {
  std::ifstream f("/proc/self/smaps_rollup");
  std::string k;
  uint64_t v = 0;
  while (f >> k) {
    if (k == "AnonHugePages:") {
      f >> v;
      return v * 1024;
    }
  }
  return 0;
}

// Reserved hugetlb pages in use (HugePages_Total - HugePages_Free), in bytes of 2 MiB pages.
uint64_t HugeTlbBytes() {
  std::ifstream f("/proc/meminfo");
  std::string k;
  uint64_t total = 0, free = 0, v = 0;
  while (f >> k >> v) {
    if (k == "HugePages_Total:") total = v;
    if (k == "HugePages_Free:") free = v;
    f.ignore(256, '\n');
  }
  return (total - free) << 21;
}

uint64_t RssBytes() {
  std::ifstream f("/proc/self/statm");
  uint64_t size = 0, rss = 0;
  f >> size >> rss;
  return rss * 4096;
}

struct Rng {
  uint64_t s;
  explicit Rng(uint64_t seed) : s(seed * 0x9E3779B97F4A7C15ull + 1) {}
  uint64_t Next() {
    s ^= s >> 12, s ^= s << 25, s ^= s >> 27;
    return s * 2685821657736338717ull;
  }
  uint32_t Below(uint32_t n) { return uint32_t((Next() >> 32) % n); }
};

}  // namespace

int main(int argc, char** argv) {
  std::vector<uint32_t> sizes = {10000, 1000000};
  uint32_t runs = 5;
  size_t trace_len = 4u << 20;
  bool huge = true;
  for (int i = 1; i < argc; i++) {
    const std::string a = argv[i];
    auto val = [&]() -> const char* {
      if (i + 1 >= argc) {
        std::fprintf(stderr, "%s needs a value\n", a.c_str());
        std::exit(2);
      }
      return argv[++i];
    };
    if (a == "--sizes") {
      sizes.clear();
      std::string s = val();
      for (size_t p = 0; p < s.size();) {
        const size_t q = s.find(',', p);
        sizes.push_back(uint32_t(std::strtoul(s.substr(p, q - p).c_str(), nullptr, 0)));
        if (q == std::string::npos) break;
        p = q + 1;
      }
    } else if (a == "--runs") {
      runs = uint32_t(std::strtoul(val(), nullptr, 0));
    } else if (a == "--trace") {
      trace_len = std::strtoull(val(), nullptr, 0);
    } else if (a == "--no-huge") {
      huge = false;
    } else {
      std::fprintf(stderr, "unknown option %s\n", a.c_str());
      return 2;
    }
  }
  cpu_set_t set;
  CPU_ZERO(&set);
  CPU_SET(0, &set);
  if (sched_setaffinity(0, sizeof(set), &set) != 0) std::perror("sched_setaffinity (continuing)");

  // Set-up per size: table, flows created (timed), handshakes completed, trace.
  struct Setup {
    uint32_t n;
    std::string sz;
    std::unique_ptr<Table> t;
    std::vector<Tuple> trace;
    std::vector<PacketMeta> meta;
    std::vector<Verdict> out;
  };
  std::vector<Setup> setups;
  const uint64_t now = 1000;
  for (uint32_t n : sizes) {
    Setup su;
    su.n = n;
    su.sz = std::to_string(n);
    Config cfg;
    cfg.capacity = n;
    cfg.hugepages = huge;
    cfg.seed = 12345;
    const uint64_t rss0 = RssBytes(), huge0 = AnonHugeBytes(), tlb0 = HugeTlbBytes();
    std::string err;
    su.t = Table::Create(cfg, &err);
    if (!su.t) {
      std::fprintf(stderr, "create: %s\n", err.c_str());
      return 1;
    }
    Table& t = *su.t;
    // Flows: distinct client tuples towards a few servers.
    std::vector<Tuple> flows(n);
    Rng rng(n);
    for (uint32_t i = 0; i < n; i++) {
      flows[i] = MakeTuple(0x0a000000u + (i >> 6), 0xc0000200u + rng.Below(256), uint16_t(1024 + (i & 63) * 997 % 60000),
                           uint16_t(rng.Below(2) ? 443 : 80), kProtoTcp);
    }
    constexpr uint32_t kB = 64;
    std::vector<PacketMeta> syn(kB), synack(kB), ack(kB);
    for (uint32_t j = 0; j < kB; j++) {
      syn[j].tcp_flags = kTcpSyn, synack[j].tcp_flags = kTcpSyn | kTcpAck, ack[j].tcp_flags = kTcpAck;
      syn[j].bytes = synack[j].bytes = ack[j].bytes = 60;
    }
    std::vector<Verdict> v(kB);
    std::vector<Tuple> rev(kB);
    // Creation rate: SYN bursts through Process (lookup miss + one writer lock per burst).
    uint64_t created = 0;
    const double c0 = CpuNow();
    for (uint32_t off = 0; off < n; off += kB) {
      const uint32_t m = std::min(kB, n - off);
      t.Process(&flows[off], syn.data(), m, now, v.data());
      for (uint32_t j = 0; j < m; j++) created += v[j].result == Result::kCreated;
    }
    const double c1 = CpuNow();
    if (created != n) {
      std::fprintf(stderr, "created %llu of %u\n", (unsigned long long)created, n);
      return 1;
    }
    Print("inserts-per-sec-" + su.sz, "sessions/s", double(n) / (c1 - c0));
    // Complete the handshakes: every flow ESTABLISHED and assured.
    for (uint32_t off = 0; off < n; off += kB) {
      const uint32_t m = std::min(kB, n - off);
      for (uint32_t j = 0; j < m; j++) rev[j] = Inverse(flows[off + j]);
      t.Process(rev.data(), synack.data(), m, now, v.data());
      t.Process(&flows[off], ack.data(), m, now, v.data());
      for (uint32_t j = 0; j < m; j++) {
        if (v[j].state != kTcpEstablished) {
          std::fprintf(stderr, "flow %u not established\n", off + j);
          return 1;
        }
      }
    }
    Print("memory-bytes-per-session-" + su.sz, "B", double(t.MemoryBytes()) / n);
    Print("memory-total-" + su.sz, "B", double(t.MemoryBytes()));
    Print("rss-delta-" + su.sz, "B", double(RssBytes() - rss0));
    Print("anon-huge-delta-" + su.sz, "B", double(AnonHugeBytes() - huge0));
    Print("hugetlb-delta-" + su.sz, "B", double(HugeTlbBytes() - tlb0));  // reserved pages taken
    Print("index-buckets-" + su.sz, "buckets", t.buckets());
    Print("index-secondary-fraction-" + su.sz, "fraction",
          double(t.DebugSecondaryEntries()) / (2.0 * double(t.stats().in_use)));
    // Trace: random flows, random direction.
    su.trace.resize(trace_len);
    su.meta.resize(trace_len);
    su.out.resize(trace_len);
    for (size_t i = 0; i < trace_len; i++) {
      const Tuple& f = flows[rng.Below(n)];
      su.trace[i] = rng.Below(2) ? Inverse(f) : f;
      su.meta[i].tcp_flags = kTcpAck;
      su.meta[i].bytes = 1500;
    }
    setups.push_back(std::move(su));
  }
  // Rates, runs interleaved across sizes (so the ratio compares runs taken side by side).
  // key: "lookup-<size>-b<burst>" -> per-run Mpps
  std::vector<std::string> names;
  std::vector<std::vector<double>> vals;
  auto record = [&](const std::string& name, double v) {
    for (size_t i = 0; i < names.size(); i++) {
      if (names[i] == name) {
        vals[i].push_back(v);
        return;
      }
    }
    names.push_back(name);
    vals.push_back({v});
  };
  for (uint32_t r = 0; r <= runs; r++) {  // run 0 warms up and checks the answers
    for (Setup& su : setups) {
      for (uint32_t burst : {32u, 64u}) {
        for (int mode = 0; mode < 2; mode++) {  // 0: Lookup, 1: Process (Lookup + Track)
          const size_t len = su.trace.size();
          auto pass = [&]() {
            for (size_t off = 0; off < len; off += burst) {
              const uint32_t m = uint32_t(std::min<size_t>(burst, len - off));
              if (mode == 0) {
                su.t->Lookup(&su.trace[off], m, now, &su.out[off]);
              } else {
                su.t->Process(&su.trace[off], &su.meta[off], m, now, &su.out[off]);
              }
            }
          };
          if (r == 0) {
            pass();
            size_t hits = 0;
            for (const Verdict& x : su.out) hits += x.result == (mode == 0 ? Result::kHit : Result::kTracked);
            if (hits != len) {
              std::fprintf(stderr, "only %zu of %zu hits\n", hits, len);
              return 1;
            }
            continue;
          }
          const double t0 = CpuNow();
          size_t done = 0;
          double t1;
          do {
            pass();
            done += len;
            t1 = CpuNow();
          } while (t1 - t0 < 0.2);
          record(std::string(mode == 0 ? "lookup" : "process") + "-mpps-" + su.sz + "-b" + std::to_string(burst),
                 double(done) / (t1 - t0) / 1e6);
        }
      }
    }
  }
  for (size_t i = 0; i < names.size(); i++) Print(names[i], "Mpps", Median(vals[i]));
  // Lookup cost of each size relative to the first, run by run, median.
  for (size_t si = 1; si < setups.size(); si++) {
    for (const char* b : {"-b32", "-b64"}) {
      const std::string base = "lookup-mpps-" + setups[0].sz + b, big = "lookup-mpps-" + setups[si].sz + b;
      std::vector<double> ratios;
      for (size_t i = 0; i < names.size(); i++) {
        if (names[i] != base) continue;
        for (size_t j = 0; j < names.size(); j++) {
          if (names[j] != big) continue;
          for (size_t k = 0; k < vals[i].size(); k++) ratios.push_back(vals[i][k] / vals[j][k]);
        }
      }
      if (!ratios.empty()) Print("lookup-cost-ratio-" + setups[si].sz + "-vs-" + setups[0].sz + b, "ratio", Median(ratios));
    }
  }
  // Idle expiry sweep (nothing due): cost per visited slot.
  for (Setup& su : setups) {
    const double t0 = CpuNow();
    uint64_t visited = 0;
    do {
      su.t->Expire(now, 4096);
      visited += std::min<uint32_t>(4096, su.n);
    } while (CpuNow() - t0 < 0.1);
    Print("expire-scan-ns-per-slot-" + su.sz, "ns", (CpuNow() - t0) * 1e9 / double(visited));
  }
  return 0;
}
