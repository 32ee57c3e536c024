// Classifier benchmark on one ClassBench rule file: build time, memory, and classification
// rate over a generated trace (bursts of --burst keys per Classify call, one core).
//
//   acl_bench RULES [--packets N] [--seed S] [--hit F] [--burst B] [--runs R]
//             [--trace-out PATH] [--matches-out PATH] [--leaf N] [--space N] [--bits N]
//             [--small N] [--no-partition] [--no-time]
// Output: one JSON object per line, e.g. {"name":"mpps","unit":"Mpps","value":25.1}. Rates and
// build times are medians of R runs; each rate run classifies the whole trace at least twice
// and for at least 0.2 s. --trace-out writes the trace in dpdk-test-acl's format,
// --matches-out one line per packet (rule index or -1), for tooling/bench/acl/dpdk-diff.mjs.
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

using namespace vnf::acl;

namespace {

double Now() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return double(ts.tv_sec) + double(ts.tv_nsec) * 1e-9;
}

double Median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  const size_t m = v.size() / 2;
  return v.size() % 2 ? v[m] : (v[m - 1] + v[m]) / 2;
}

void Print(const char* name, const char* unit, double v) {
  std::printf("{\"name\":\"%s\",\"unit\":\"%s\",\"value\":%.6g}\n", name, unit, v);
}

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
  CPU_SET(0, &set);
  if (sched_setaffinity(0, sizeof(set), &set) != 0) std::perror("sched_setaffinity (continuing)");

  std::vector<Rule> rules;
  const std::string err = LoadClassBench(rules_path, &rules);
  if (!err.empty()) {
    std::fprintf(stderr, "%s\n", err.c_str());
    return 1;
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

  const Trace t = GenerateTrace(rules, packets, seed, hit);
  if (!trace_out.empty()) {
    std::ofstream o(trace_out, std::ios::binary);
    o << FormatTrace(t);
    if (!o) {
      std::fprintf(stderr, "%s: write failed\n", trace_out.c_str());
      return 1;
    }
  }
  std::vector<uint32_t> match(packets);
  auto pass = [&]() {
    for (size_t off = 0; off < packets; off += burst) {
      const Keys k = t.keys(off);
      c->Classify(&k, uint32_t(std::min<size_t>(burst, packets - off)), match.data() + off);
    }
  };
  pass();
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
    std::vector<double> mpps;
    for (uint32_t r = 0; r < runs; r++) {
      const double t0 = Now();
      size_t done = 0;
      double t1;
      do {
        pass();
        done += packets;
        t1 = Now();
      } while (done < 2 * packets || t1 - t0 < 0.2);
      mpps.push_back(double(done) / (t1 - t0) / 1e6);
    }
    Print("mpps", "Mpps", Median(mpps));
  }
  return 0;
}
