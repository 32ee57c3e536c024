// Classifier benchmark on one ClassBench rule file: build time, memory, and classification
// rate over a generated trace (bursts of --burst keys per Classify call, one core).
//
//   acl_bench RULES [--packets N] [--seed S] [--hit F] [--burst B] [--runs R]
//             [--trace-out PATH] [--matches-out PATH] [--leaf N] [--space N] [--bits N]
//             [--small N] [--no-partition] [--no-time] [--ipv6 | --mixed | --versions] [--cpu N]
// Output: one JSON object per line, e.g. {"name":"mpps","unit":"Mpps","value":25.1}. Rates and
// build times are medians of R runs; each rate run classifies the whole trace at least twice
// and for at least 0.2 s. --trace-out writes the trace in dpdk-test-acl's format,
// --matches-out one line per packet (rule index or -1), for tooling/bench/acl/dpdk-diff.mjs.
// Address families (the ClassBench set mapped into IPv6: MapRulesToIpv6, 2001:db8:0:0::/32 +
// the IPv4 address in word 1): --ipv6 classifies the mapped rules with the mapped trace (every
// packet IPv6); --mixed builds the IPv4 rules and their IPv6 copies into one classifier and
// classifies a trace where packet i is IPv4 or IPv6 at random (half each); --versions keeps the
// IPv4 rules and trace but passes a version array (all 4), i.e. the split-by-version path.
// Matches are reported as IPv4 rule indices in every mode. --cpu: the CPU to pin to (default 0).
// Built with -DVNF_ACL_PROFILE it also prints per-packet counters of the data path (trees
// entered, descent steps, leaves and blocks scanned).
#include <sched.h>
#include <time.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <string>
#include <vector>

#include "acl/acl.h"
#include "acl/classbench.h"
#include "bench_util.h"

using namespace vnf::acl;

#ifdef VNF_ACL_PROFILE  // profiling build (-DVNF_ACL_PROFILE): per-packet counters of the data path
namespace vnf::acl {
extern uint64_t g_prof_steps, g_prof_blocks, g_prof_leaves, g_prof_trees;
}
#endif

using vnf::bench::CpuNow;
using vnf::bench::Median;
using vnf::bench::Now;
using vnf::bench::Print;

namespace {

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: acl_bench RULES [options] (see the source)\n");
    return 2;
  }
  std::string rules_path = argv[1], trace_out, matches_out;
  size_t packets = 1000000;
  uint64_t seed = 1;
  double hit = 0.75;
  uint32_t burst = 64, runs = 5;
  bool time_it = true;
  int cpu = 0;
  enum { kV4, kV6, kMixed, kVersions } mode = kV4;
  BuildOptions opt;
  for (int i = 2; i < argc; i++) {
    auto val = [&]() -> const char* {
      if (i + 1 >= argc) {
        std::fprintf(stderr, "%s needs a value\n", argv[i]);
        std::exit(2);
      }
      return argv[++i];
    };
    const std::string a = argv[i];
    if (a == "--packets") packets = std::strtoull(val(), nullptr, 0);
    else if (a == "--seed") seed = std::strtoull(val(), nullptr, 0);
    else if (a == "--hit") hit = std::strtod(val(), nullptr);
    else if (a == "--burst") burst = uint32_t(std::strtoul(val(), nullptr, 0));
    else if (a == "--runs") runs = uint32_t(std::strtoul(val(), nullptr, 0));
    else if (a == "--trace-out") trace_out = val();
    else if (a == "--matches-out") matches_out = val();
    else if (a == "--leaf") opt.leaf_size = uint32_t(std::strtoul(val(), nullptr, 0));
    else if (a == "--space") opt.space_factor = uint32_t(std::strtoul(val(), nullptr, 0));
    else if (a == "--bits") opt.max_cut_bits = uint32_t(std::strtoul(val(), nullptr, 0));
    else if (a == "--small") opt.small_prefix = uint32_t(std::strtoul(val(), nullptr, 0));
    else if (a == "--no-partition") opt.partition = false;
    else if (a == "--no-time") time_it = false;
    else if (a == "--cpu") cpu = int(std::strtol(val(), nullptr, 0));
    else if (a == "--ipv6") mode = kV6;
    else if (a == "--mixed") mode = kMixed;
    else if (a == "--versions") mode = kVersions;
    else {
      std::fprintf(stderr, "unknown option %s\n", a.c_str());
      return 2;
    }
  }
  if (burst == 0 || runs == 0 || packets == 0) {
    std::fprintf(stderr, "--burst, --runs and --packets must be > 0\n");
    return 2;
  }
  cpu_set_t set;
  CPU_ZERO(&set);
  CPU_SET(cpu, &set);
  if (sched_setaffinity(0, sizeof(set), &set) != 0) std::perror("sched_setaffinity (continuing)");

  std::vector<Rule> rules;
  const std::string err = LoadClassBench(rules_path, &rules);
  if (!err.empty()) {
    std::fprintf(stderr, "%s\n", err.c_str());
    return 1;
  }
  const size_t nrules4 = rules.size();
  const std::vector<Rule> rules4 = rules;
  if (mode == kV6) rules = MapRulesToIpv6(rules4);
  if (mode == kMixed) {
    const std::vector<Rule> r6 = MapRulesToIpv6(rules4);
    rules.insert(rules.end(), r6.begin(), r6.end());
  }
  std::vector<double> build_s;
  std::unique_ptr<Classifier> c;
  for (uint32_t r = 0; r < (time_it ? runs : 1); r++) {
    BuildResult b = Classifier::Build(rules, opt);
    if (!b.classifier) {
      std::fprintf(stderr, "build failed: %s\n", b.error.c_str());
      return 1;
    }
    build_s.push_back(b.classifier->stats().build_seconds);
    c = std::move(b.classifier);
  }
  const ClassifierStats& st = c->stats();
  Print("rules", "rules", st.rules);
  Print("build-seconds", "s", Median(build_s));
  Print("memory-bytes", "B", double(st.memory_bytes));
  Print("trees", "trees", st.trees);
  Print("nodes", "nodes", st.nodes);
  Print("leaves", "leaves", st.leaves);
  Print("leaf-records", "records", st.leaf_records);
  Print("max-depth", "levels", st.max_depth);
  Print("max-leaf", "rules", st.max_leaf);

  Trace t = GenerateTrace(rules4, packets, seed, hit);
  if (!trace_out.empty()) {
    if (mode != kV4 && mode != kVersions) {
      std::fprintf(stderr, "--trace-out writes IPv4 traces only\n");
      return 2;
    }
    std::ofstream o(trace_out, std::ios::binary);
    o << FormatTrace(t);
    if (!o) {
      std::fprintf(stderr, "%s: write failed\n", trace_out.c_str());
      return 1;
    }
  }
  if (mode == kVersions) t.version.assign(packets, 4);
  if (mode == kV6) t = MapTraceToIpv6(t, seed + 1);
  if (mode == kMixed) {  // IPv4 trace plus the IPv6 copy; each packet one or the other
    const Trace t6 = MapTraceToIpv6(t, seed + 1);
    t.src6 = t6.src6;
    t.dst6 = t6.dst6;
    t.version.resize(packets);
    uint64_t x = seed * 0x9E3779B97F4A7C15ull + 1;
    for (size_t i = 0; i < packets; i++) {
      x ^= x << 13, x ^= x >> 7, x ^= x << 17;
      t.version[i] = (x >> 20) & 1 ? 6 : 4;
    }
  }
  std::vector<uint32_t> match(packets);
  auto pass = [&]() {
    for (size_t off = 0; off < packets; off += burst) {
      const Keys k = t.keys(off);
      c->Classify(&k, uint32_t(std::min<size_t>(burst, packets - off)), match.data() + off);
    }
  };
#ifdef VNF_ACL_PROFILE
  g_prof_steps = g_prof_blocks = g_prof_leaves = g_prof_trees = 0;
#endif
  pass();
#ifdef VNF_ACL_PROFILE
  Print("prof-trees-per-packet", "trees", double(g_prof_trees) / double(packets));
  Print("prof-steps-per-packet", "steps", double(g_prof_steps) / double(packets));
  Print("prof-leaves-per-packet", "leaves", double(g_prof_leaves) / double(packets));
  Print("prof-blocks-per-packet", "blocks", double(g_prof_blocks) / double(packets));
#endif
  if (mode == kMixed) {
    for (uint32_t& m : match) m = m != kNoMatch && m >= nrules4 ? m - uint32_t(nrules4) : m;
  }
  if (!matches_out.empty()) {
    std::string s;
    s.reserve(packets * 6);
    for (uint32_t m : match) s += m == kNoMatch ? "-1\n" : std::to_string(m) + "\n";
    std::ofstream o(matches_out, std::ios::binary);
    o << s;
    if (!o) {
      std::fprintf(stderr, "%s: write failed\n", matches_out.c_str());
      return 1;
    }
  }
  size_t hits = 0;
  for (uint32_t m : match) hits += m != kNoMatch;
  Print("matched-fraction", "fraction", double(hits) / double(packets));
  if (time_it) {
    std::vector<double> mpps, mpps_cpu;
    for (uint32_t r = 0; r < runs; r++) {
      const double c0 = CpuNow();
      const double t0 = Now();
      size_t done = 0;
      double t1;
      do {
        pass();
        done += packets;
        t1 = Now();
      } while (done < 2 * packets || t1 - t0 < 0.2);
      mpps.push_back(double(done) / (t1 - t0) / 1e6);
      mpps_cpu.push_back(double(done) / (CpuNow() - c0) / 1e6);
    }
    Print("mpps", "Mpps", Median(mpps));
    Print("mpps-best", "Mpps", *std::max_element(mpps.begin(), mpps.end()));  // least disturbed run
    Print("mpps-cpu", "Mpps", Median(mpps_cpu));  // by this thread's CPU time (a busy machine's time slices excluded)
  }
  return 0;
}
