// Tests of src/acl: hand-written rule sets, validation and parser errors, and differential
// tests against the linear first-match reference (ClassBench sets with generated traces, and
// random small rule sets exercising every field).
#include <algorithm>
#include <cstdlib>
#include <string>
#include <vector>

#include "acl/acl.h"
#include "acl/classbench.h"
#include "harness.h"
#include "test_util.h"

using namespace vnf::acl;
using vt::Rng;

namespace {

uint32_t Ip(uint32_t a, uint32_t b, uint32_t c, uint32_t d) { return a << 24 | b << 16 | c << 8 | d; }

// One packet, classified alone (through the burst API).
struct Pkt {
  uint32_t src, dst;
  uint16_t sport, dport;
  uint8_t proto, flags = 0;
  uint16_t vlan = kNoVlan, in_port = 0;
};

uint32_t One(const Classifier& c, const Pkt& p) {
  Keys k;
  k.src = &p.src;
  k.dst = &p.dst;
  k.sport = &p.sport;
  k.dport = &p.dport;
  k.proto = &p.proto;
  k.tcp_flags = &p.flags;
  k.vlan = &p.vlan;
  k.in_port = &p.in_port;
  uint32_t m = 7;
  c.Classify(&k, 1, &m);
  return m;
}

std::unique_ptr<Classifier> MustBuild(const std::vector<Rule>& rules, const BuildOptions& o = {}) {
  BuildResult r = Classifier::Build(rules, o);
  if (!CHECK(r.classifier != nullptr)) std::printf("    build error: %s\n", r.error.c_str());
  return std::move(r.classifier);
}

bool Contains(const std::string& s, const char* part) { return s.find(part) != std::string::npos; }

std::string ClassBenchDir() {
  const char* e = std::getenv("VNF_CLASSBENCH_DIR");
  return e ? e : "../../shared/testdata/classbench/neurocuts";
}

}  // namespace

// VNF_REQUIRE_ALL=1 (set by CI) turns a skipped case into a failure, as in the JS suites.
static bool RequireAll() {
  const char* v = std::getenv("VNF_REQUIRE_ALL");
  return v != nullptr && std::string(v) == "1";
}

TEST(acl_hand_written_rules) {
  std::vector<Rule> rules(6);
  // 0: 10.0.0.0/8 -> any, TCP dport 22, SYN only (flags 0x02 under mask 0x12)
  rules[0].src[0] = Ip(10, 0, 0, 0);
  rules[0].src_len = 8;
  rules[0].dport_lo = rules[0].dport_hi = 22;
  rules[0].proto = 6;
  rules[0].proto_mask = 0xff;
  rules[0].tcp_flags = 0x02;
  rules[0].tcp_flags_mask = 0x12;
  // 1: any -> 192.168.1.0/24 UDP sport 1000-2000 on VLAN 100-199
  rules[1].dst[0] = Ip(192, 168, 1, 77);  // host bits ignored
  rules[1].dst_len = 24;
  rules[1].sport_lo = 1000;
  rules[1].sport_hi = 2000;
  rules[1].proto = 17;
  rules[1].proto_mask = 0xff;
  rules[1].vlan_lo = 100;
  rules[1].vlan_hi = 199;
  // 2: ICMP echo request (type 8, any code) from zone 3
  SetIcmp(&rules[2], 8, -1);
  rules[2].in_port_lo = rules[2].in_port_hi = 3;
  // 3: 10.1.2.3/32 anything, but lower priority than 0 (priority order, not index order)
  rules[3].src[0] = Ip(10, 1, 2, 3);
  rules[3].src_len = 32;
  rules[3].priority = 0;
  for (int i = 0; i < 6; i++) if (i != 3) rules[i].priority = uint32_t(i + 1);
  // 4: untagged only, proto with a partial mask (odd protocol numbers)
  rules[4].vlan_lo = rules[4].vlan_hi = kNoVlan;
  rules[4].proto = 1;
  rules[4].proto_mask = 1;
  // 5: catch-all
  auto c = MustBuild(rules);
  if (!c) return;
  // Rule 3 has priority 0: it beats rule 0 for 10.1.2.3.
  CHECK_EQ(One(*c, {Ip(10, 1, 2, 3), Ip(1, 1, 1, 1), 5555, 22, 6, 0x02}), 3u);
  CHECK_EQ(One(*c, {Ip(10, 9, 9, 9), Ip(1, 1, 1, 1), 5555, 22, 6, 0x02}), 0u);
  CHECK_EQ(One(*c, {Ip(10, 9, 9, 9), Ip(1, 1, 1, 1), 5555, 22, 6, 0x12}), 5u);  // SYN+ACK: not 0
  CHECK_EQ(One(*c, {Ip(10, 9, 9, 9), Ip(1, 1, 1, 1), 5555, 23, 6, 0x02}), 5u);
  CHECK_EQ(One(*c, {Ip(11, 0, 0, 0), Ip(1, 1, 1, 1), 5555, 22, 6, 0x02}), 5u);
  Pkt u{Ip(1, 2, 3, 4), Ip(192, 168, 1, 255), 1500, 53, 17};
  u.vlan = 150;
  CHECK_EQ(One(*c, u), 1u);
  u.vlan = 200;
  CHECK_EQ(One(*c, u), 5u);
  u.vlan = kNoVlan;
  CHECK_EQ(One(*c, u), 4u);  // untagged, proto 17 is odd
  u.vlan = 150;
  u.dst = Ip(192, 168, 2, 0);
  CHECK_EQ(One(*c, u), 5u);
  Pkt icmp{Ip(1, 2, 3, 4), Ip(5, 6, 7, 8), 8, 0, 1};
  icmp.in_port = 3;
  icmp.vlan = 7;
  CHECK_EQ(One(*c, icmp), 2u);
  icmp.in_port = 4;
  CHECK_EQ(One(*c, icmp), 5u);
  icmp.vlan = kNoVlan;
  CHECK_EQ(One(*c, icmp), 4u);

  // Without the catch-all, unmatched packets get kNoMatch.
  rules.pop_back();
  auto c2 = MustBuild(rules);
  if (!c2) return;
  CHECK_EQ(One(*c2, {Ip(11, 0, 0, 0), Ip(1, 1, 1, 1), 5555, 22, 6, 0x02}), kNoMatch);
  // An empty rule list matches nothing.
  auto c3 = MustBuild({});
  if (c3) CHECK_EQ(One(*c3, {1, 2, 3, 4, 6}), kNoMatch);
}

TEST(acl_validation_names_rule_and_field) {
  auto err = [](Rule r) {
    std::vector<Rule> rules(3);
    rules[2] = r;
    BuildResult b = Classifier::Build(rules);
    CHECK(b.classifier == nullptr);
    return b.error;
  };
  Rule r;
  r.sport_lo = 80;
  r.sport_hi = 20;
  std::string e = err(r);
  CHECK(Contains(e, "rule 2: sport: inverted range 80-20"));
  r = Rule();
  r.dport_lo = 9;
  r.dport_hi = 8;
  CHECK(Contains(err(r), "rule 2: dport: inverted range"));
  r = Rule();
  r.src_len = 33;
  e = err(r);
  CHECK(Contains(e, "rule 2: src: prefix length 33 is longer than the 32-bit address"));
  r = Rule();
  r.dst_len = 40;
  CHECK(Contains(err(r), "rule 2: dst: prefix length 40"));
  r = Rule();
  r.proto = 6;
  r.proto_mask = 0xf0;
  CHECK(Contains(err(r), "rule 2: proto: value 0x06 has bits outside its mask 0xf0"));
  r = Rule();
  r.tcp_flags = 3;
  CHECK(Contains(err(r), "rule 2: tcp_flags:"));
  r = Rule();
  r.vlan_lo = 10;
  r.vlan_hi = 5000;
  CHECK(Contains(err(r), "rule 2: vlan: range 10-5000 goes past VLAN id 4095"));
  r = Rule();
  r.in_port_lo = 3;
  r.in_port_hi = 2;
  CHECK(Contains(err(r), "rule 2: in_port: inverted range 3-2"));
  r = Rule();
  SetIcmp(&r, 3, 1);
  r.sport_hi = 300;
  CHECK(Contains(err(r), "rule 2: sport: ICMP type range 3-300"));
  r = Rule();
  r.family = Family::kIpv6;
  r.src_len = 129;
  CHECK(Contains(err(r), "rule 2: src: prefix length 129 is longer than the 128-bit address"));
  r.src_len = 128;
  r.dst_len = 200;
  CHECK(Contains(err(r), "rule 2: dst: prefix length 200 is longer than the 128-bit address"));
  r.dst_len = 128;
  CHECK(Classifier::Build(std::vector<Rule>{r}).classifier != nullptr);  // /128 is fine
  r = Rule();
  r.family = Family::kAny;
  r.src_len = 8;
  CHECK(Contains(err(r), "rule 2: src: prefix length 8 in a rule of any address family"));
  r.src_len = 0;
  r.dst_len = 1;
  CHECK(Contains(err(r), "rule 2: dst: prefix length 1 in a rule of any address family"));
  r.dst_len = 0;
  r.dport_lo = 5;
  r.dport_hi = 4;
  CHECK(Contains(err(r), "rule 2: dport: inverted range 5-4"));  // kAny rules get every other check
  r = Rule();
  r.family = Family(9);
  CHECK(Contains(err(r), "rule 2: family: unknown address family 9"));
  BuildOptions o;
  o.max_cut_bits = 17;
  CHECK(Contains(Classifier::Build(std::vector<Rule>(1), o).error, "max_cut_bits"));
}

TEST(acl_classbench_parser) {
  std::vector<Rule> rules;
  std::string e = ParseClassBench(
      "@176.19.181.33/32\t90.145.23.162/32\t0 : 65535\t1550 : 1550\t0x06/0xFF\t0x0000/0x0200\t\n"
      "\n"
      "@10.1.2.3/8 0.0.0.0/0 1 : 2 3 : 4 0x00/0x00\n",
      &rules);
  CHECK_EQ(e, std::string());
  if (!CHECK_EQ(rules.size(), 2u)) return;
  CHECK_EQ(rules[0].src[0], Ip(176, 19, 181, 33));
  CHECK_EQ(rules[0].src_len, 32);
  CHECK_EQ(rules[0].dport_lo, 1550);
  CHECK_EQ(rules[0].proto, 6);
  CHECK_EQ(rules[0].proto_mask, 0xff);
  CHECK_EQ(rules[1].priority, 1u);
  CHECK_EQ(rules[1].src_len, 8);
  CHECK_EQ(rules[1].sport_hi, 2);
  CHECK_EQ(rules[1].proto_mask, 0);

  struct Bad {
    const char* text;
    const char* want;
  } bad[] = {
      {"@1.2.3.4/33 0.0.0.0/0 0 : 1 0 : 1 0x06/0xFF\n", "line 1, column 10: source address prefix length 33"},
      {"\n@1.2.3.4/32 0.0.0.0/0 5 : 1 0 : 1 0x06/0xFF\n", "line 2, column 27: source port range 5 : 1 is inverted"},
      {"@1.2.3.400/32 0.0.0.0/0 0 : 1 0 : 1 0x06/0xFF\n", "line 1, column 8: source address out of range"},
      {"1.2.3.4/32 0.0.0.0/0 0 : 1 0 : 1 0x06/0xFF\n", "line 1, column 1: expected '@'"},
      {"@1.2.3.4/32 0.0.0.0/0 0 : 1 0 : 1 0x06/0xFF 0/0 junk\n", "unexpected text"},
      {"@1.2.3.4/32 0.0.0.0/0 0 : 1 0 : 70000 0x06/0xFF\n", "destination port out of range"},
      {"@1.2.3.4/32 0.0.0.0/0 0 : 1 0 : 1 0x06/0xF0\n", "protocol value has bits outside its mask"},
  };
  for (const Bad& b : bad) {
    std::vector<Rule> out(1);
    e = ParseClassBench(b.text, &out);
    if (!CHECK(Contains(e, b.want))) std::printf("    got: %s\n", e.c_str());
    CHECK_EQ(out.size(), 1u);
  }
  CHECK(Contains(LoadClassBench("/nonexistent/acl", &rules), "/nonexistent/acl: cannot open"));
}

TEST(acl_trace_is_deterministic) {
  std::vector<Rule> rules;
  ParseClassBench("@10.0.0.0/8 20.0.0.0/16 100 : 200 300 : 300 0x11/0xFF\n", &rules);
  Trace a = GenerateTrace(rules, 1000, 42, 1.0), b = GenerateTrace(rules, 1000, 42, 1.0);
  CHECK(a.src == b.src && a.dport == b.dport && a.proto == b.proto);
  for (size_t i = 0; i < a.size(); i++) {
    if (!CHECK_EQ(a.src[i] >> 24, 10u)) break;
    if (!CHECK_EQ(a.dst[i] >> 16, (20u << 8))) break;
    if (!CHECK(a.sport[i] >= 100 && a.sport[i] <= 200)) break;
    if (!CHECK_EQ(a.dport[i], 300)) break;
    if (!CHECK_EQ(a.proto[i], 17)) break;
  }
  Trace c = GenerateTrace(rules, 1000, 43, 1.0);
  CHECK(a.src != c.src);
  CHECK_EQ(FormatTrace(GenerateTrace(rules, 2, 1, 1.0)).size() > 10, true);
}

// Every packet of a generated trace gets the linear reference's answer, on all six sets.
TEST(acl_classbench_differential) {
  const char* sets[] = {"acl1_1k", "fw1_1k", "ipc1_1k", "acl1_10k", "fw1_10k", "ipc1_10k"};
  for (const char* name : sets) {
    std::vector<Rule> rules;
    const std::string e = LoadClassBench(ClassBenchDir() + "/" + name, &rules);
    if (!e.empty()) {
      std::printf("    skipped %s (%s; set VNF_CLASSBENCH_DIR)\n", name, e.c_str());
      CHECK(!RequireAll());  // CI (VNF_REQUIRE_ALL=1): a skip is a failure
      continue;
    }
    BuildOptions portable;
    portable.simd = false;
    auto c = MustBuild(rules);
    auto cp = MustBuild(rules, portable);
    if (!c || !cp) continue;
    const ClassifierStats& s = c->stats();
    std::printf("    %-9s %5u rules: %u trees, %u nodes, %u leaves, %u records, depth %u, max leaf %u, %.2f MB, %.0f ms%s\n",
                name, s.rules, s.trees, s.nodes, s.leaves, s.leaf_records, s.max_depth, s.max_leaf,
                double(s.memory_bytes) / 1e6, s.build_seconds * 1e3, s.simd ? ", avx-512" : "");
    const size_t n = 20000;
    const Trace t = GenerateTrace(rules, n, 1, 0.75);
    std::vector<uint32_t> got(n), want(n), got_portable(n);
    const Keys k = t.keys();
    // Odd burst sizes cover the partial groups.
    for (size_t off = 0, b = 1; off < n; off += b, b = b % 97 + 7) {
      const size_t m = std::min(b, n - off);
      const Keys kk = t.keys(off);
      c->Classify(&kk, uint32_t(m), got.data() + off);
    }
    cp->Classify(&k, uint32_t(n), got_portable.data());
    CHECK(got_portable == got);
    LinearClassifier(rules).Classify(&k, uint32_t(n), want.data());
    size_t bad = 0, hits = 0;
    for (size_t i = 0; i < n; i++) {
      hits += want[i] != kNoMatch;
      if (got[i] != want[i] && bad++ < 5) {
        std::printf("    %s packet %zu: %u %u %u %u %u -> %u, linear %u\n", name, i, t.src[i], t.dst[i],
                    unsigned(t.sport[i]), unsigned(t.dport[i]), unsigned(t.proto[i]), got[i], want[i]);
      }
    }
    CHECK_EQ(bad, 0u);
    CHECK(hits > n / 2);  // the trace exercises rules, not just the miss path
  }
}

// More than 2^15 rules: leaf best ranks are stored shifted (a conservative bound), and the
// rule count limit is reported.
TEST(acl_large_rule_set) {
  std::vector<Rule> rules;
  for (const char* name : {"acl1_10k", "fw1_10k", "ipc1_10k", "acl1_10k"}) {
    if (!LoadClassBench(ClassBenchDir() + "/" + name, &rules).empty()) {
      std::printf("    skipped (no ClassBench files; set VNF_CLASSBENCH_DIR)\n");
      CHECK(!RequireAll());  // CI (VNF_REQUIRE_ALL=1): a skip is a failure
      return;
    }
  }
  auto c = MustBuild(rules);
  if (!c) return;
  const uint32_t n = 5000;
  const Trace t = GenerateTrace(rules, n, 3, 0.9);
  std::vector<uint32_t> got(n), want(n);
  const Keys k = t.keys();
  c->Classify(&k, n, got.data());
  LinearClassifier(rules).Classify(&k, n, want.data());
  size_t bad = 0;
  for (uint32_t i = 0; i < n; i++) bad += got[i] != want[i];
  CHECK_EQ(bad, 0u);
  CHECK(Contains(Classifier::Build(std::vector<Rule>((1u << 18) + 1)).error, "too many rules: 262145 (at most 262144)"));
}

// Random small rule sets over every field, several build options, random packets near rules.
TEST(acl_random_differential) {
  Rng rng(7);
  auto pick = [&](std::initializer_list<uint32_t> v) { return *(v.begin() + rng.Below(uint32_t(v.size()))); };
  const uint32_t pool_ip[] = {Ip(10, 0, 0, 0), Ip(10, 1, 0, 0), Ip(10, 1, 2, 0), Ip(192, 168, 0, 0), Ip(0, 0, 0, 0),
                              Ip(255, 255, 255, 255)};
  size_t checked = 0;
  for (int iter = 0; iter < 300; iter++) {
    const uint32_t nrules = 1 + rng.Below(iter < 200 ? 40 : 300);
    std::vector<Rule> rules(nrules);
    for (Rule& r : rules) {
      r.src[0] = pool_ip[rng.Below(6)] | (rng.Below(4) ? 0 : uint32_t(rng.Next()));
      r.dst[0] = pool_ip[rng.Below(6)] | (rng.Below(4) ? 0 : uint32_t(rng.Next()));
      r.src_len = uint8_t(pick({0, 8, 16, 24, 32, 12, 30}));
      r.dst_len = uint8_t(pick({0, 8, 16, 24, 32, 1, 31}));
      if (rng.Below(2)) {
        r.sport_lo = uint16_t(pick({0, 80, 1024, 65535, rng.Below(65536)}));
        r.sport_hi = uint16_t(r.sport_lo + rng.Below(65536 - r.sport_lo));
      }
      if (rng.Below(2)) {
        r.dport_lo = uint16_t(pick({0, 22, 53, 443, rng.Below(65536)}));
        r.dport_hi = uint16_t(std::min<uint32_t>(65535, r.dport_lo + pick({0, 0, 1, 100, 65535})));
      }
      const uint32_t pm = pick({0, 0xff, 0xff, 0x0f, 1});
      r.proto_mask = uint8_t(pm);
      r.proto = uint8_t(pick({6, 17, 1, 0}) & pm);
      if (rng.Below(4) == 0) {
        r.tcp_flags_mask = uint8_t(rng.Below(256));
        r.tcp_flags = uint8_t(rng.Below(256) & r.tcp_flags_mask);
      }
      if (rng.Below(5) == 0) {
        if (rng.Below(3) == 0) {
          r.vlan_lo = r.vlan_hi = kNoVlan;
        } else {
          r.vlan_lo = uint16_t(rng.Below(4096));
          r.vlan_hi = uint16_t(r.vlan_lo + rng.Below(4096 - r.vlan_lo));
        }
      }
      if (rng.Below(5) == 0) {
        r.in_port_lo = uint16_t(rng.Below(4));
        r.in_port_hi = uint16_t(r.in_port_lo + rng.Below(3));
      }
      if (r.proto_mask == 0xff && r.proto == 1) SetIcmp(&r, rng.Below(3) ? int(rng.Below(20)) : -1, rng.Below(2) ? int(rng.Below(4)) : -1);
      r.priority = pick({0, 1, 2, rng.Below(1000)});  // ties: index order
    }
    BuildOptions o;
    o.leaf_size = pick({1, 2, 4, 8, 16});
    o.space_factor = pick({1, 2, 4, 8});
    o.max_cut_bits = pick({1, 3, 8, 16});
    o.small_prefix = pick({8, 16, 24});
    o.partition = rng.Below(4) != 0;
    o.simd = rng.Below(2) != 0;
    if (rng.Below(8) == 0) o.max_memory_bytes = rng.Below(3) * 2048;  // budget hit: big leaves
    auto c = MustBuild(rules, o);
    if (!c) return;
    const uint32_t n = 200;
    std::vector<uint32_t> src(n), dst(n), got(n), want(n);
    std::vector<uint16_t> sp(n), dp(n), vlan(n), port(n);
    std::vector<uint8_t> proto(n), flags(n);
    for (uint32_t i = 0; i < n; i++) {
      const Rule& r = rules[rng.Below(nrules)];
      const bool near = rng.Below(4) != 0;
      auto jitter = [&](uint32_t base, uint32_t len) {
        const uint32_t m = len ? ~0u << (32 - len) : 0;
        uint32_t v = (base & m) | (uint32_t(rng.Next()) & ~m);
        if (rng.Below(8) == 0) v ^= 1u << rng.Below(32);
        return v;
      };
      src[i] = near ? jitter(r.src[0], r.src_len) : uint32_t(rng.Next());
      dst[i] = near ? jitter(r.dst[0], r.dst_len) : uint32_t(rng.Next());
      sp[i] = near ? uint16_t(pick({r.sport_lo, r.sport_hi, uint32_t(r.sport_lo - 1), uint32_t(r.sport_hi + 1)})) : uint16_t(rng.Next());
      dp[i] = near ? uint16_t(pick({r.dport_lo, r.dport_hi, uint32_t(r.dport_lo - 1), uint32_t(r.dport_hi + 1)})) : uint16_t(rng.Next());
      proto[i] = uint8_t(pick({6, 17, 1, 0, 7, r.proto}));
      flags[i] = uint8_t(rng.Below(2) ? r.tcp_flags : rng.Below(256));
      vlan[i] = uint16_t(pick({kNoVlan, r.vlan_lo, r.vlan_hi, rng.Below(4096)}));
      port[i] = uint16_t(pick({0, 1, 2, 3, 4, r.in_port_lo}));
    }
    Keys k;
    k.src = src.data();
    k.dst = dst.data();
    k.sport = sp.data();
    k.dport = dp.data();
    k.proto = proto.data();
    k.tcp_flags = flags.data();
    k.vlan = vlan.data();
    k.in_port = port.data();
    c->Classify(&k, n, got.data());
    LinearClassifier(rules).Classify(&k, n, want.data());
    for (uint32_t i = 0; i < n; i++) {
      if (!CHECK_EQ(got[i], want[i])) {
        std::printf("    iter %d packet %u (%u rules, leaf %u space %u bits %u part %d)\n", iter, i, nrules,
                    o.leaf_size, o.space_factor, o.max_cut_bits, int(o.partition));
        return;
      }
    }
    checked += n;
  }
  CHECK_EQ(checked, 300u * 200u);
}

// ---- IPv6 and kAny rules ----

namespace {

// A burst of mixed-family packets, structure of arrays (as Keys reads them).
struct Burst {
  std::vector<uint8_t> version, proto, flags;
  std::vector<uint32_t> src, dst, src6, dst6;
  std::vector<uint16_t> sport, dport, vlan, port;
  explicit Burst(size_t n)
      : version(n), proto(n), flags(n), src(n), dst(n), src6(4 * n), dst6(4 * n), sport(n), dport(n),
        vlan(n, kNoVlan), port(n) {}
  Keys keys(size_t off = 0) const {
    Keys k;
    k.version = version.data() + off;
    k.src = src.data() + off;
    k.dst = dst.data() + off;
    k.src6 = src6.data() + 4 * off;
    k.dst6 = dst6.data() + 4 * off;
    k.sport = sport.data() + off;
    k.dport = dport.data() + off;
    k.proto = proto.data() + off;
    k.tcp_flags = flags.data() + off;
    k.vlan = vlan.data() + off;
    k.in_port = port.data() + off;
    return k;
  }
};

// Classifies in odd burst sizes (partial groups, version lists split unevenly).
std::vector<uint32_t> ClassifyOdd(const Classifier& c, const Burst& b, size_t n, size_t step0 = 1) {
  std::vector<uint32_t> got(n, 12345);
  for (size_t off = 0, s = step0; off < n; off += s, s = s % 131 + 5) {
    const Keys k = b.keys(off);
    c.Classify(&k, uint32_t(std::min(s, n - off)), got.data() + off);
  }
  return got;
}

// 2001:db8:a:b::c style: words of an IPv6 address.
struct V6 {
  uint32_t w[4];
};

Rule Rule6(V6 s, uint8_t slen, V6 d, uint8_t dlen, uint32_t prio) {
  Rule r;
  r.family = Family::kIpv6;
  for (int i = 0; i < 4; i++) {
    r.src[i] = s.w[i];
    r.dst[i] = d.w[i];
  }
  r.src_len = slen;
  r.dst_len = dlen;
  r.priority = prio;
  return r;
}

}  // namespace

TEST(acl_ipv6_hand_written_mixed) {
  const V6 net{{0x20010db8, 0, 0, 0}}, host{{0x20010db8, 0x11112222, 0x33334444, 0x55556666}};
  const V6 any6{{0, 0, 0, 0}};
  std::vector<Rule> rules;
  rules.push_back(Rule6(host, 128, any6, 0, 0));        // 0: one IPv6 host, best
  rules.push_back(Rule6(net, 32, any6, 0, 3));          // 1: 2001:db8::/32 -> any
  Rule r4;                                               // 2: IPv4 10/8
  r4.src[0] = Ip(10, 0, 0, 0);
  r4.src_len = 8;
  r4.priority = 2;
  rules.push_back(r4);
  Rule ssh;                                              // 3: any family, TCP dport 22
  ssh.family = Family::kAny;
  ssh.proto = 6;
  ssh.proto_mask = 0xff;
  ssh.dport_lo = ssh.dport_hi = 22;
  ssh.priority = 1;
  rules.push_back(ssh);
  Rule udp6 = Rule6(any6, 0, V6{{0xff020000, 0, 0, 0}}, 16, 2);  // 4: IPv6 UDP to ff02::/16
  udp6.proto = 17;
  udp6.proto_mask = 0xff;
  rules.push_back(udp6);
  Rule all;                                              // 5: any family catch-all, last
  all.family = Family::kAny;
  all.priority = 100;
  rules.push_back(all);
  Rule mid = Rule6(V6{{0x20010db8, 0x11112222, 0x33330000, 0}}, 80, any6, 0, 2);  // 6: /80, not on a word boundary
  mid.vlan_lo = 10;
  mid.vlan_hi = 20;
  rules.push_back(mid);

  for (bool simd : {true, false}) {
    BuildOptions o;
    o.simd = simd;
    auto c = MustBuild(rules, o);
    if (!c) return;
    Burst b(12);
    auto set6 = [&](size_t i, V6 s, V6 d, uint16_t dport, uint8_t proto) {
      b.version[i] = 6;
      for (int w = 0; w < 4; w++) {
        b.src6[4 * i + w] = s.w[w];
        b.dst6[4 * i + w] = d.w[w];
      }
      b.dport[i] = dport;
      b.proto[i] = proto;
    };
    auto set4 = [&](size_t i, uint32_t s, uint32_t d, uint16_t dport, uint8_t proto) {
      b.version[i] = 4;
      b.src[i] = s;
      b.dst[i] = d;
      b.dport[i] = dport;
      b.proto[i] = proto;
    };
    set6(0, host, any6, 22, 6);                                              // 0 beats ssh
    set6(1, V6{{0x20010db8, 0x11112222, 0x33334444, 0x55556667}}, any6, 22, 6);  // ssh (1) beats /32 (3)
    set6(2, V6{{0x20010db8, 9, 9, 9}}, any6, 80, 6);                         // /32
    set6(3, V6{{0x20010db9, 9, 9, 9}}, V6{{0xff020000, 0, 0, 1}}, 53, 17);   // udp6
    set6(4, V6{{0x20010db9, 9, 9, 9}}, V6{{0xff030000, 0, 0, 1}}, 53, 17);   // catch-all
    set4(5, Ip(10, 1, 1, 1), Ip(1, 1, 1, 1), 80, 6);                          // 10/8
    set4(6, Ip(11, 1, 1, 1), Ip(1, 1, 1, 1), 22, 6);                          // ssh
    set4(7, Ip(11, 1, 1, 1), Ip(1, 1, 1, 1), 53, 17);                         // catch-all
    set6(8, V6{{0x20010db8, 0x11112222, 0x3333ffff, 1}}, any6, 80, 6);        // /80 on VLAN 15
    b.vlan[8] = 15;
    set4(9, Ip(10, 1, 1, 1), Ip(1, 1, 1, 1), 22, 6);
    b.version[9] = 0;                                                          // not IP: nothing
    set6(10, host, any6, 22, 6);
    b.version[10] = 5;                                                         // unknown: nothing
    set6(11, V6{{0x20010db8, 0x11112222, 0x33340000, 1}}, any6, 80, 6);       // outside the /80: /32
    b.vlan[11] = 15;
    const std::vector<uint32_t> want = {0, 3, 1, 4, 5, 2, 3, 5, 6, kNoMatch, kNoMatch, 1};
    std::vector<uint32_t> got(12, 7), lin(12, 7);
    const Keys k = b.keys();
    c->Classify(&k, 12, got.data());
    LinearClassifier(rules).Classify(&k, 12, lin.data());
    for (size_t i = 0; i < 12; i++) {
      if (!CHECK_EQ(got[i], want[i])) std::printf("    packet %zu (simd %d)\n", i, int(simd));
      if (!CHECK_EQ(lin[i], want[i])) std::printf("    linear, packet %zu\n", i);
    }
    // All IPv6, src/dst null; all IPv4 with a version array, src6/dst6 null.
    Keys k6 = b.keys(0);
    k6.src = k6.dst = nullptr;
    uint32_t m[2];
    c->Classify(&k6, 2, m);
    CHECK_EQ(m[0], 0u);
    CHECK_EQ(m[1], 3u);
    Keys k4 = b.keys(5);
    k4.src6 = k4.dst6 = nullptr;
    c->Classify(&k4, 2, m);
    CHECK_EQ(m[0], 2u);
    CHECK_EQ(m[1], 3u);
  }
  // Only IPv4 rules: IPv6 packets match nothing; only kAny rules: both families match.
  std::vector<Rule> only4{r4};
  auto c4 = MustBuild(only4);
  std::vector<Rule> only_any{ssh, all};
  auto ca = MustBuild(only_any);
  if (!c4 || !ca) return;
  Burst b(2);
  b.version = {6, 4};
  b.src[1] = Ip(10, 0, 0, 1);
  b.dport[0] = 22;
  b.proto[0] = 6;
  uint32_t m[2];
  const Keys k = b.keys();
  c4->Classify(&k, 2, m);
  CHECK_EQ(m[0], kNoMatch);
  CHECK_EQ(m[1], 0u);
  ca->Classify(&k, 2, m);
  CHECK_EQ(m[0], 0u);
  CHECK_EQ(m[1], 1u);
}

// Random rule sets of every family and shape (prefixes /0../128 on and off word boundaries,
// ports, protocol, flags, VLAN, in_port, kAny at any priority), random and rule-derived mixed
// bursts (IPv4, IPv6, version 0 and others), against the linear reference; AVX-512 and
// portable paths compared too.
TEST(acl_ipv6_random_differential) {
  Rng rng(61);
  auto pick = [&](std::initializer_list<uint32_t> v) { return *(v.begin() + rng.Below(uint32_t(v.size()))); };
  const V6 pool6[] = {{{0x20010db8, 0, 0, 0}}, {{0x20010db8, 0x00010000, 0, 0}}, {{0x20010db8, 0x00010002, 0xabcd0000, 0}},
                      {{0xfe800000, 0, 0x02000000, 1}}, {{0, 0, 0, 0}}, {{0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff}},
                      {{0x20010db8, 0x00010000, 0x1, 0x80000000}}};
  const uint32_t pool4[] = {Ip(10, 0, 0, 0), Ip(10, 1, 0, 0), Ip(192, 168, 0, 0), 0, 0xffffffff};
  size_t checked = 0, hits = 0;
  for (int iter = 0; iter < 250; iter++) {
    const uint32_t nrules = 1 + rng.Below(iter < 150 ? 40 : 400);
    std::vector<Rule> rules(nrules);
    for (Rule& r : rules) {
      const uint32_t fam = rng.Below(10);
      r.family = fam < 6 ? Family::kIpv6 : fam < 8 ? Family::kIpv4 : Family::kAny;
      if (r.family == Family::kIpv6) {
        for (uint32_t* a : {r.src, r.dst}) {
          const V6& p = pool6[rng.Below(7)];
          for (int w = 0; w < 4; w++) a[w] = p.w[w] ^ (rng.Below(5) ? 0 : uint32_t(rng.Next()));
        }
        r.src_len = uint8_t(pick({0, 1, 16, 31, 32, 33, 48, 63, 64, 65, 80, 96, 97, 127, 128, rng.Below(129)}));
        r.dst_len = uint8_t(pick({0, 8, 32, 40, 64, 96, 120, 128, rng.Below(129)}));
      } else if (r.family == Family::kIpv4) {
        r.src[0] = pool4[rng.Below(5)] | (rng.Below(3) ? 0 : uint32_t(rng.Next()));
        r.dst[0] = pool4[rng.Below(5)] | (rng.Below(3) ? 0 : uint32_t(rng.Next()));
        r.src_len = uint8_t(pick({0, 8, 16, 24, 32, 12}));
        r.dst_len = uint8_t(pick({0, 8, 16, 24, 32, 1}));
      }
      if (rng.Below(3) == 0) {
        r.sport_lo = uint16_t(pick({0, 80, 1024, rng.Below(65536)}));
        r.sport_hi = uint16_t(r.sport_lo + rng.Below(65536 - r.sport_lo));
      }
      if (rng.Below(2)) {
        r.dport_lo = uint16_t(pick({0, 22, 53, 443, rng.Below(65536)}));
        r.dport_hi = uint16_t(std::min<uint32_t>(65535, r.dport_lo + pick({0, 0, 1, 100, 65535})));
      }
      const uint32_t pm = pick({0, 0xff, 0xff, 0x0f});
      r.proto_mask = uint8_t(pm);
      r.proto = uint8_t(pick({6, 17, 58, 0}) & pm);
      if (rng.Below(5) == 0) {
        r.tcp_flags_mask = uint8_t(rng.Below(256));
        r.tcp_flags = uint8_t(rng.Below(256) & r.tcp_flags_mask);
      }
      if (rng.Below(6) == 0) {
        if (rng.Below(3) == 0) {
          r.vlan_lo = r.vlan_hi = kNoVlan;
        } else {
          r.vlan_lo = uint16_t(rng.Below(4096));
          r.vlan_hi = uint16_t(r.vlan_lo + rng.Below(4096 - r.vlan_lo));
        }
      }
      if (rng.Below(6) == 0) {
        r.in_port_lo = uint16_t(rng.Below(4));
        r.in_port_hi = uint16_t(r.in_port_lo + rng.Below(3));
      }
      if (r.proto_mask == 0xff && r.proto == 58) SetIcmp(&r, rng.Below(3) ? int(rng.Below(20)) : -1, rng.Below(2) ? int(rng.Below(4)) : -1, 58);
      r.priority = pick({0, 1, 2, rng.Below(1000)});
    }
    BuildOptions o;
    o.leaf_size = pick({1, 2, 4, 8, 16});
    o.space_factor = pick({1, 2, 4, 8});
    o.max_cut_bits = pick({1, 3, 8, 16});
    o.small_prefix = pick({8, 16, 24});
    o.partition = rng.Below(4) != 0;
    if (rng.Below(8) == 0) o.max_memory_bytes = rng.Below(3) * 2048;
    o.simd = true;
    auto c = MustBuild(rules, o);
    o.simd = false;
    auto cp = MustBuild(rules, o);
    if (!c || !cp) return;
    const uint32_t n = 240;
    Burst b(n);
    for (uint32_t i = 0; i < n; i++) {
      const Rule& r = rules[rng.Below(nrules)];
      const bool near = rng.Below(5) != 0;
      uint8_t ver = r.family == Family::kIpv4 ? 4 : r.family == Family::kIpv6 ? 6 : uint8_t(pick({4, 6}));
      if (rng.Below(10) == 0) ver = uint8_t(pick({0, 4, 6, 5, 255}));
      b.version[i] = ver;
      auto jitter = [&](uint32_t base, uint32_t len) {  // len: bits of this word in the prefix
        const uint32_t m = len ? ~0u << (32 - len) : 0;
        return (base & m) | (uint32_t(rng.Next()) & ~m);
      };
      auto wl = [](uint32_t len, uint32_t w) { return len <= 32 * w ? 0 : len >= 32 * w + 32 ? 32 : len - 32 * w; };
      for (int w = 0; w < 4; w++) {
        b.src6[4 * i + w] = near ? jitter(r.src[w], wl(r.src_len, w)) : rng.Below(2) ? uint32_t(rng.Next()) : pool6[rng.Below(7)].w[w];
        b.dst6[4 * i + w] = near ? jitter(r.dst[w], wl(r.dst_len, w)) : rng.Below(2) ? uint32_t(rng.Next()) : pool6[rng.Below(7)].w[w];
      }
      if (near && rng.Below(6) == 0) b.src6[4 * i + rng.Below(4)] ^= 1u << rng.Below(32);  // just outside
      if (near && rng.Below(6) == 0) b.dst6[4 * i + rng.Below(4)] ^= 1u << rng.Below(32);
      b.src[i] = near ? jitter(r.src[0], wl(r.src_len, 0)) : uint32_t(rng.Next());
      b.dst[i] = near ? jitter(r.dst[0], wl(r.dst_len, 0)) : uint32_t(rng.Next());
      b.sport[i] = near ? uint16_t(pick({r.sport_lo, r.sport_hi, uint32_t(r.sport_lo - 1)})) : uint16_t(rng.Next());
      b.dport[i] = near ? uint16_t(pick({r.dport_lo, r.dport_hi, uint32_t(r.dport_hi + 1)})) : uint16_t(rng.Next());
      b.proto[i] = uint8_t(pick({6, 17, 58, 0, 7, r.proto}));
      b.flags[i] = uint8_t(rng.Below(2) ? r.tcp_flags : rng.Below(256));
      b.vlan[i] = uint16_t(pick({kNoVlan, r.vlan_lo, r.vlan_hi, rng.Below(4096)}));
      b.port[i] = uint16_t(pick({0, 1, 2, 3, 4, r.in_port_lo}));
    }
    const std::vector<uint32_t> got = ClassifyOdd(*c, b, n, iter % 7 + 1);
    const std::vector<uint32_t> got_p = ClassifyOdd(*cp, b, n, iter % 5 + 1);
    std::vector<uint32_t> want(n);
    const Keys k = b.keys();
    LinearClassifier(rules).Classify(&k, n, want.data());
    for (uint32_t i = 0; i < n; i++) {
      hits += want[i] != kNoMatch;
      if (!CHECK_EQ(got[i], want[i]) || !CHECK_EQ(got_p[i], want[i])) {
        std::printf("    iter %d packet %u version %u (%u rules, leaf %u space %u bits %u part %d)\n", iter, i,
                    unsigned(b.version[i]), nrules, o.leaf_size, o.space_factor, o.max_cut_bits, int(o.partition));
        return;
      }
    }
    checked += n;
  }
  CHECK_EQ(checked, 250u * 240u);
  CHECK(hits > checked / 3);
  std::printf("    %zu packets, %zu matched\n", checked, hits);
}

// ClassBench sets mapped into IPv6 (the IPv4 address in one word, fixed words above it, random
// words below): the IPv6 classifier must give every mapped packet the IPv4 set's answer, and
// a classifier holding both (IPv4 rules, then the IPv6 copies) must answer mixed bursts alike.
TEST(acl_ipv6_classbench_mapped) {
  const char* sets[] = {"acl1_1k", "fw1_1k", "ipc1_1k", "acl1_10k", "fw1_10k", "ipc1_10k"};
  const Ipv6Map maps[] = {{1, 1}, {0, 2}, {3, 1}};
  int mi = 0;
  for (const char* name : sets) {
    std::vector<Rule> rules;
    const std::string e = LoadClassBench(ClassBenchDir() + "/" + name, &rules);
    if (!e.empty()) {
      std::printf("    skipped %s (%s; set VNF_CLASSBENCH_DIR)\n", name, e.c_str());
      CHECK(!RequireAll());
      continue;
    }
    const Ipv6Map m = maps[mi++ % 3];
    const std::vector<Rule> rules6 = MapRulesToIpv6(rules, m);
    BuildOptions portable;
    portable.simd = false;
    auto c4 = MustBuild(rules);
    auto c6 = MustBuild(rules6);
    auto c6p = MustBuild(rules6, portable);
    std::vector<Rule> both = rules;
    both.insert(both.end(), rules6.begin(), rules6.end());
    auto cb = MustBuild(both);
    if (!c4 || !c6 || !c6p || !cb) continue;
    const ClassifierStats& s4 = c4->stats();
    const ClassifierStats& s = c6->stats();
    std::printf("    %-9s IPv6 (words %u/%u): %u trees, %u nodes, %u leaves, %u records, depth %u, %.2f MB (IPv4 %.2f), %.0f ms;"
                " both: %.2f MB\n", name, m.src_word, m.dst_word, s.trees, s.nodes, s.leaves, s.leaf_records,
                s.max_depth, double(s.memory_bytes) / 1e6, double(s4.memory_bytes) / 1e6, s.build_seconds * 1e3,
                double(cb->stats().memory_bytes) / 1e6);
    const size_t n = 20000;
    const Trace t4 = GenerateTrace(rules, n, 5, 0.75);
    const Trace t6 = MapTraceToIpv6(t4, 9, m);
    std::vector<uint32_t> want(n), got(n), got_p(n);
    const Keys k4 = t4.keys(), k6 = t6.keys();
    c4->Classify(&k4, uint32_t(n), want.data());
    for (size_t off = 0, b = 3; off < n; off += b, b = b % 89 + 11) {
      const Keys kk = t6.keys(off);
      c6->Classify(&kk, uint32_t(std::min(b, n - off)), got.data() + off);
    }
    c6p->Classify(&k6, uint32_t(n), got_p.data());
    size_t bad = 0;
    for (size_t i = 0; i < n; i++) {
      if ((got[i] != want[i] || got_p[i] != want[i]) && bad++ < 5) {
        std::printf("    %s packet %zu: IPv6 %u (portable %u), IPv4 %u\n", name, i, got[i], got_p[i], want[i]);
      }
    }
    CHECK_EQ(bad, 0u);
    // Mixed: packet i is IPv4 or IPv6 (or, now and then, neither), both classifiers' rules in one.
    Burst mb(n);
    const uint32_t nr = uint32_t(rules.size());
    std::vector<uint32_t> want_b(n);
    for (size_t i = 0; i < n; i++) {
      const uint32_t kind = uint32_t((i * 2654435761u) >> 7) % 11;
      mb.version[i] = kind < 5 ? 4 : kind < 10 ? 6 : 0;
      mb.src[i] = t4.src[i];
      mb.dst[i] = t4.dst[i];
      for (int w = 0; w < 4; w++) {
        mb.src6[4 * i + w] = t6.src6[4 * i + w];
        mb.dst6[4 * i + w] = t6.dst6[4 * i + w];
      }
      mb.sport[i] = t4.sport[i];
      mb.dport[i] = t4.dport[i];
      mb.proto[i] = t4.proto[i];
      want_b[i] = kind == 10 || want[i] == kNoMatch ? (kind == 10 ? kNoMatch : want[i]) : want[i] + (kind < 5 ? 0 : nr);
    }
    const std::vector<uint32_t> got_b = ClassifyOdd(*cb, mb, n);
    bad = 0;
    for (size_t i = 0; i < n; i++) {
      if (got_b[i] != want_b[i] && bad++ < 5) {
        std::printf("    %s mixed packet %zu (version %u): %u, want %u\n", name, i, unsigned(mb.version[i]), got_b[i], want_b[i]);
      }
    }
    CHECK_EQ(bad, 0u);
  }
}
