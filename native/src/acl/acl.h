// Packet classifier: a rule list compiled off the data path into an immutable decision forest
// (see docs/acl.md), classified a burst of keys at a time.
//
//   std::vector<acl::Rule> rules = ...;                 // index = rule id; priority decides
//   acl::BuildResult r = acl::Classifier::Build(rules);  // r.error names rule and field
//   r.classifier->Classify(&keys, n, match);             // match[i] = rule index or kNoMatch
//
// A Classifier never changes after Build, so the data path may hold a plain pointer to it and a
// control thread can publish a new one with one atomic pointer store (and free the old one once
// no worker can still be inside Classify: an RCU-style quiescent point, the pipeline's job).
//
// Byte order: every address and port here is in host order (the parser converts).
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

namespace vnf::acl {

constexpr uint32_t kNoMatch = 0xffffffffu;
constexpr uint16_t kNoVlan = 0xffff;  // key value of an untagged packet
constexpr uint16_t kMaxVlanId = 4095;

// kAny: the rule restricts neither address, so it applies to IPv4 and IPv6 packets alike.
enum class Family : uint8_t { kAny = 0, kIpv4 = 4, kIpv6 = 6 };

// One rule. Every field defaults to "any". Ranges are inclusive.
struct Rule {
  Family family = Family::kIpv4;
  // Prefixes. IPv4 uses word 0; IPv6 words 0..3 (most significant first). Host bits below the
  // prefix length are ignored (ClassBench files carry them), not an error.
  uint32_t src[4] = {0, 0, 0, 0};
  uint32_t dst[4] = {0, 0, 0, 0};
  uint8_t src_len = 0;
  uint8_t dst_len = 0;
  // Port ranges. For ICMP (proto 1) and ICMPv6 (58) the key's sport carries the type and dport
  // the code, as DPDK does; SetIcmp() fills them.
  uint16_t sport_lo = 0, sport_hi = 0xffff;
  uint16_t dport_lo = 0, dport_hi = 0xffff;
  // Value under mask: matches when (key & mask) == value. Mask 0 = any.
  uint8_t proto = 0, proto_mask = 0;
  uint8_t tcp_flags = 0, tcp_flags_mask = 0;
  // VLAN id range (0..4095), or [kNoVlan, kNoVlan] for untagged only; default: any.
  uint16_t vlan_lo = 0, vlan_hi = 0xffff;
  // Input port or zone id range; default: any.
  uint16_t in_port_lo = 0, in_port_hi = 0xffff;
  // Lower wins; equal priorities are ordered by rule index (ClassBench: priority = line order).
  uint32_t priority = 0;
};

// ICMP type/code onto the port fields (type or code -1: any). Sets proto to `proto` (1 or 58).
void SetIcmp(Rule* r, int type, int code, uint8_t proto = 1);

// Empty string if the rule is valid, otherwise "rule <index>: <field>: <what is wrong>".
std::string ValidateRule(const Rule& r, uint32_t index);

// A burst of packet keys, structure of arrays. src..proto are required; the others may be null
// (tcp_flags: 0, vlan: kNoVlan, in_port: 0).
//
// Address families: `version` (may be null: every packet is IPv4) selects, per packet, IPv4
// (4: src[i], dst[i]) or IPv6 (6: src6[4*i..4*i+3], dst6[...], most significant word first,
// host order); any other version matches no rule. src/dst may be null when every packet is
// IPv6, src6/dst6 when none is.
struct Keys {
  const uint8_t* version = nullptr;
  const uint32_t* src = nullptr;
  const uint32_t* dst = nullptr;
  const uint32_t* src6 = nullptr;
  const uint32_t* dst6 = nullptr;
  const uint16_t* sport = nullptr;
  const uint16_t* dport = nullptr;
  const uint8_t* proto = nullptr;
  const uint8_t* tcp_flags = nullptr;
  const uint16_t* vlan = nullptr;
  const uint16_t* in_port = nullptr;
};

struct BuildOptions {
  uint32_t leaf_size = 8;      // a node with at most this many rules becomes a leaf
  uint32_t space_factor = 8;   // a cut may copy a node's rules at most this many times (with its children)
  uint32_t max_cut_bits = 12;  // at most 2^this children per node
  uint32_t small_prefix = 16;  // a prefix at least this long is "small" (partitioning)
  bool partition = true;       // split rules into subsets by small/large addresses (EffiCuts/CutSplit)
  bool simd = true;            // use the AVX-512 data path when the CPU has it (else portable C++)
  size_t max_memory_bytes = size_t(64) << 20;  // past this, stop cutting: every further node is a leaf
};

struct ClassifierStats {
  uint32_t rules = 0;
  uint32_t trees = 0;
  uint32_t nodes = 0;        // cut nodes
  uint32_t leaves = 0;       // distinct leaves
  uint32_t leaf_records = 0; // rule copies held in distinct leaves
  bool simd = false;         // AVX-512 data path in use
  bool budget_hit = false;   // max_memory_bytes was reached: some leaves are larger than leaf_size
  uint32_t max_depth = 0;
  uint32_t max_leaf = 0;     // rules in the largest leaf
  size_t memory_bytes = 0;   // everything Classify reads
  double build_seconds = 0;
};

class Classifier;

struct BuildResult {
  std::unique_ptr<Classifier> classifier;  // null on error
  std::string error;                       // "rule 3: sport: inverted range 80-20"
};

class Classifier {
 public:
  // Validates every rule, then compiles. Never throws on bad rules (only std::bad_alloc).
  static BuildResult Build(std::span<const Rule> rules, const BuildOptions& opt = {});

  // match[i] = index (in the rule list given to Build) of the best matching rule, or kNoMatch.
  // n may be any size; keys and match must hold n elements. Thread-safe (read-only).
  void Classify(const Keys* keys, uint32_t n, uint32_t* match) const;

  const ClassifierStats& stats() const { return stats_; }
  size_t MemoryBytes() const { return stats_.memory_bytes; }

  ~Classifier();
  Classifier(const Classifier&) = delete;
  Classifier& operator=(const Classifier&) = delete;

  struct Impl;

 private:
  Classifier();
  std::unique_ptr<Impl> impl_;
  ClassifierStats stats_;
};

// Plain linear first-match reference over the rules as given (priority, then index), any family.
class LinearClassifier {
 public:
  explicit LinearClassifier(std::span<const Rule> rules);
  void Classify(const Keys* keys, uint32_t n, uint32_t* match) const;

 private:
  struct R {
    uint32_t src_lo, src_hi, dst_lo, dst_hi;
    uint16_t sp_lo, sp_hi, dp_lo, dp_hi;
    uint8_t proto, proto_mask, flags, flags_mask;
    uint16_t vlan_lo, vlan_hi, port_lo, port_hi;
    uint32_t index;
    Family family;
    uint32_t val6[8], mask6[8];  // IPv6: src words 0..3, dst words 0..3
  };
  std::vector<R> rules_;
};

}  // namespace vnf::acl
