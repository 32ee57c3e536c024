// Rule validation and the off-data-path compiler (see acl_pvt.h for the layout, docs/acl.md for
// the algorithm): rules partitioned by address size, one cutting tree per subset (HiCuts-style
// equal cuts on one field per node of a region compacted to its rules, chosen to minimise the
// expected child size under a space budget), covered rules dropped, identical leaves and equal
// sibling subtrees shared.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <map>

#include "acl/acl_pvt.h"

namespace vnf::acl {

namespace {

std::string Fmt(const char* fmt, auto... args) {
  char buf[256];
  std::snprintf(buf, sizeof buf, fmt, args...);
  return buf;
}

bool CpuHasAvx512() {
#if defined(__x86_64__)
  __builtin_cpu_init();
  return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
         __builtin_cpu_supports("avx512vl");
#else
  return false;
#endif
}

uint32_t PrefixMask(uint32_t len) { return len == 0 ? 0 : ~0u << (32 - len); }
// Bits of a prefix of length len that fall in 32-bit word w (0 = most significant).
uint32_t WordLen(uint32_t len, uint32_t w) {
  return len <= 32 * w ? 0 : len >= 32 * w + 32 ? 32 : len - 32 * w;
}

// A rule as the builder sees it: an inclusive box in every tree dimension.
struct BRule {
  uint64_t lo[kDims], hi[kDims];
  bool exact;  // the box is the whole rule (no proto/flags mask a box cannot express), addresses aside
  bool addr6;  // IPv6 prefix restricting words the trees do not cut: the box alone is not the rule
  uint8_t proto, proto_mask, flags, flags_mask;
};

struct Box {
  uint64_t lo[kDims];
  uint8_t w[kDims];  // region in dim d: [lo, lo + 2^w - 1], lo aligned to 2^w
  uint64_t Hi(uint32_t d) const { return lo[d] + ((uint64_t(1) << w[d]) - 1); }
};

class Builder {
 public:
  // base_bytes: memory already used by the other forest (the budget is for the classifier).
  // full6: every rule's IPv6 prefixes as Addr6 (by rank), for rules with BRule::addr6.
  Builder(const BuildOptions& opt, const std::vector<BRule>& rules, const std::vector<Addr6>* full6, Forest* out,
          uint32_t leaf_rank_shift, size_t base_bytes, ClassifierStats* st)
      : opt_(opt), rules_(rules), full6_(full6), out_(out), leaf_rank_shift_(leaf_rank_shift), base_bytes_(base_bytes),
        st_(st) {}

  Ref Build(std::vector<uint32_t> ids, const Box& region, uint32_t depth) {
    Box box = region;
    st_->max_depth = std::max(st_->max_depth, depth);
    // A rule covering the whole region hides every later rule (IPv6 rules with address words
    // outside the box: every later rule whose addresses lie within its prefixes).
    for (size_t k = 0; k < ids.size(); k++) {
      if (Covers(rules_[ids[k]], box)) {
        if (!rules_[ids[k]].addr6) {
          ids.resize(k + 1);
          break;
        }
        const Addr6& c = (*full6_)[ids[k]];
        size_t keep = k + 1;
        for (size_t q = k + 1; q < ids.size(); q++) {
          if (!Within((*full6_)[ids[q]], c)) ids[keep++] = ids[q];
        }
        ids.resize(keep);
      }
    }
    if (ids.empty()) return Ref{kRefEmpty, 0};
    const uint32_t n = uint32_t(ids.size());
    if (n <= opt_.leaf_size) return Leaf(ids);
    // Replication compounds level over level; past the memory budget every node is a leaf
    // (bigger leaves, slower lookups, bounded memory and build time).
    if (base_bytes_ + out_->refs.size() * sizeof(Ref) + out_->blocks.size() * sizeof(Block) > opt_.max_memory_bytes) {
      st_->budget_hit = true;
      return Leaf(ids);
    }

    Compact(ids, &box);
    // Pick the cut. The cost of a cut is the expected size of the child a packet lands in when
    // packets aim at the rules: sum over children of copies^2 / copies (a rule copy is as
    // likely a target as any other). Per dimension, more bits are taken while each one lowers
    // that cost by at least 20% (within the space budget), then the dimension with the lowest
    // cost wins. (Minimising the fullest child instead left big clusters of specific rules to
    // many narrow levels: acl1_10k descended 3.7 levels and scanned 1.42 blocks per packet,
    // 1.24 blocks now.)
    int best_d = -1;
    uint32_t best_bits = 0;
    double best_cost = 0;
    const uint64_t budget = uint64_t(opt_.space_factor) * n;
    for (uint32_t d = 0; d < kDims; d++) {
      if (box.w[d] == 0) continue;
      bool useful = false;
      for (uint32_t id : ids) {
        if (rules_[id].lo[d] > box.lo[d] || rules_[id].hi[d] < box.Hi(d)) { useful = true; break; }
      }
      if (!useful) continue;
      const uint32_t maxb = std::min<uint32_t>(box.w[d], opt_.max_cut_bits);
      uint32_t cand_bits = 0, cand_max = n;
      double cand_cost = 0;
      for (uint32_t b = 1; b <= maxb; b++) {
        const uint64_t children = uint64_t(1) << b;
        if (children > budget) break;
        uint64_t total = 0, sq = 0;
        uint32_t mx = 0;
        Count(ids, box, d, b, &total, &mx, &sq);
        if (total + children > budget && b > 1) break;
        const double cost = double(sq) / double(total);
        if (cand_bits == 0 || cost < 0.8 * cand_cost) {
          cand_bits = b; cand_max = mx; cand_cost = cost;
        }
      }
      if (cand_bits == 0 || cand_max >= n) continue;
      if (best_d < 0 || cand_cost < best_cost) {
        best_d = int(d); best_bits = cand_bits; best_cost = cand_cost;
      }
    }
    if (best_d < 0) return Leaf(ids);  // nothing separates these rules further

    const uint32_t d = uint32_t(best_d), b = best_bits;
    const uint32_t shift = box.w[d] - b;
    const uint32_t children = 1u << b;
    std::vector<std::vector<uint32_t>> lists(children);
    std::vector<uint8_t> partial(children, 0);
    for (uint32_t id : ids) {
      uint32_t a, c;
      bool pa, pc;
      Span(rules_[id], box, d, shift, &a, &c, &pa, &pc);
      for (uint32_t i = a; i <= c; i++) lists[i].push_back(id);
      if (pa) partial[a] = 1;
      if (pc) partial[c] = 1;
    }
    const uint32_t base = uint32_t(out_->refs.size());
    out_->refs.resize(base + children);
    st_->nodes++;
    Box child = box;
    child.w[d] = uint8_t(box.w[d] - b);
    for (uint32_t i = 0; i < children; i++) {
      // Siblings with the same rules, each rule spanning both whole, see identical geometry:
      // one subtree serves both.
      if (i > 0 && !partial[i] && !partial[i - 1] && lists[i] == lists[i - 1]) {
        out_->refs[base + i] = out_->refs[base + i - 1];
        continue;
      }
      child.lo[d] = box.lo[d] + (uint64_t(i) << shift);
      const Ref r = Build(lists[i], child, depth + 1);
      out_->refs[base + i] = r;
      if (i > 0) std::vector<uint32_t>().swap(lists[i - 1]);
    }
    return MakeCut(d, shift, b, base, ids.front());
  }

 private:
  // Every address matching prefixes q also matches prefixes c, in the words the trees do not
  // cut (in the cut words, the region c covers decides).
  bool Within(const Addr6& q, const Addr6& c) const {
    for (uint32_t w = 0; w < 8; w++) {
      if (w == out_->src_word || w == 4u + out_->dst_word) continue;
      if ((q.mask[w] & c.mask[w]) != c.mask[w] || (q.val[w] & c.mask[w]) != c.val[w]) return false;
    }
    return true;
  }

  // Region compaction: in every dimension, the smallest aligned power-of-two region holding
  // every rule's part of the box. Keys outside it match none of these rules (the leaves check
  // every field), so the subtree may send them anywhere; cuts then split the bits in which the
  // rules differ instead of a common prefix.
  void Compact(const std::vector<uint32_t>& ids, Box* box) const {
    for (uint32_t d = 0; d < kDims; d++) {
      if (box->w[d] == 0) continue;
      uint64_t lo = ~uint64_t(0), hi = 0;
      for (uint32_t id : ids) {
        lo = std::min(lo, std::max(rules_[id].lo[d], box->lo[d]));
        hi = std::max(hi, std::min(rules_[id].hi[d], box->Hi(d)));
      }
      const uint32_t w = lo == hi ? 0 : 64 - uint32_t(__builtin_clzll(lo ^ hi));
      box->w[d] = uint8_t(w);
      box->lo[d] = w == 64 ? 0 : lo & ~((uint64_t(1) << w) - 1);
    }
  }

  bool Covers(const BRule& r, const Box& box) const {
    if (!r.exact) return false;
    for (uint32_t d = 0; d < kDims; d++) {
      if (r.lo[d] > box.lo[d] || r.hi[d] < box.Hi(d)) return false;
    }
    return true;
  }

  // Child span [a, c] of rule r when dim d of box is cut at `shift`; pa/pc: the first/last
  // child is only partly covered.
  static void Span(const BRule& r, const Box& box, uint32_t d, uint32_t shift, uint32_t* a,
                   uint32_t* c, bool* pa, bool* pc) {
    const uint64_t lo = std::max(r.lo[d], box.lo[d]);
    const uint64_t hi = std::min(r.hi[d], box.Hi(d));
    *a = uint32_t((lo - box.lo[d]) >> shift);
    *c = uint32_t((hi - box.lo[d]) >> shift);
    const uint64_t step = uint64_t(1) << shift;
    *pa = ((lo - box.lo[d]) & (step - 1)) != 0 || (*a == *c && ((hi - box.lo[d] + 1) & (step - 1)) != 0);
    *pc = ((hi - box.lo[d] + 1) & (step - 1)) != 0 || (*a == *c && *pa);
  }

  void Count(const std::vector<uint32_t>& ids, const Box& box, uint32_t d, uint32_t b,
             uint64_t* total, uint32_t* mx, uint64_t* sq) {
    const uint32_t children = 1u << b;
    const uint32_t shift = box.w[d] - b;
    diff_.assign(children + 1, 0);
    for (uint32_t id : ids) {
      uint32_t a, c;
      bool pa, pc;
      Span(rules_[id], box, d, shift, &a, &c, &pa, &pc);
      diff_[a]++;
      diff_[c + 1]--;
    }
    int64_t run = 0;
    uint64_t t = 0, q = 0;
    uint32_t m = 0;
    for (uint32_t i = 0; i < children; i++) {
      run += diff_[i];
      t += uint64_t(run);
      q += uint64_t(run) * uint64_t(run);
      m = std::max(m, uint32_t(run));
    }
    *total = t;
    *mx = m;
    *sq = q;
  }

  Ref Leaf(const std::vector<uint32_t>& ids) {
    const uint32_t nblocks = uint32_t((ids.size() + kBlockLanes - 1) / kBlockLanes);
    auto it = leaves_.find(ids);
    if (it != leaves_.end()) return MakeLeaf(nblocks, it->second, ids.front(), leaf_rank_shift_);
    const uint32_t base = uint32_t(out_->blocks.size());
    out_->blocks.resize(base + nblocks);
    for (uint32_t k = 0; k < nblocks * kBlockLanes; k++) {
      Block& bl = out_->blocks[base + k / kBlockLanes];
      const uint32_t l = k % kBlockLanes;
      if (k >= ids.size()) {  // never matches: (proto & 0) == 1 fails
        bl.src_lo[l] = bl.dst_lo[l] = bl.port_lo[l] = bl.port_span[l] = 0;
        bl.pf[l] = 1;
        bl.rank_sh[l] = kLaneRankMask;
        continue;
      }
      const BRule& r = rules_[ids[k]];
      // Prefixes in both address dimensions: hi - lo = 2^(32 - len) - 1.
      const uint32_t src_sh = 32 - uint32_t(__builtin_popcount(~uint32_t(r.hi[kDimSrc] - r.lo[kDimSrc])));
      const uint32_t dst_sh = 32 - uint32_t(__builtin_popcount(~uint32_t(r.hi[kDimDst] - r.lo[kDimDst])));
      bl.src_lo[l] = uint32_t(r.lo[kDimSrc]);
      bl.dst_lo[l] = uint32_t(r.lo[kDimDst]);
      bl.port_lo[l] = uint32_t(r.lo[kDimSport]) | uint32_t(r.lo[kDimDport]) << 16;
      bl.port_span[l] = uint32_t(r.hi[kDimSport] - r.lo[kDimSport]) | uint32_t(r.hi[kDimDport] - r.lo[kDimDport]) << 16;
      bl.pf[l] = uint32_t(r.proto) | uint32_t(r.flags) << 8 | uint32_t(r.proto_mask) << 16 | uint32_t(r.flags_mask) << 24;
      bl.rank_sh[l] = ids[k] | dst_sh << kLaneDstShift | src_sh << kLaneSrcShift;
    }
    leaves_.emplace(ids, base);
    st_->leaves++;
    st_->leaf_records += uint32_t(ids.size());
    st_->max_leaf = std::max<uint32_t>(st_->max_leaf, uint32_t(ids.size()));
    return MakeLeaf(nblocks, base, ids.front(), leaf_rank_shift_);
  }

  const BuildOptions& opt_;
  const std::vector<BRule>& rules_;
  const std::vector<Addr6>* full6_;
  Forest* out_;
  uint32_t leaf_rank_shift_;
  size_t base_bytes_;
  ClassifierStats* st_;
  std::vector<int64_t> diff_;
  std::map<std::vector<uint32_t>, uint32_t> leaves_;
};

}  // namespace

void SetIcmp(Rule* r, int type, int code, uint8_t proto) {
  r->proto = proto;
  r->proto_mask = 0xff;
  r->sport_lo = type < 0 ? 0 : uint16_t(type);
  r->sport_hi = type < 0 ? 255 : uint16_t(type);
  r->dport_lo = code < 0 ? 0 : uint16_t(code);
  r->dport_hi = code < 0 ? 255 : uint16_t(code);
}

std::string ValidateRule(const Rule& r, uint32_t index) {
  auto err = [&](const char* field, const std::string& what) {
    return Fmt("rule %u: %s: %s", index, field, what.c_str());
  };
  if (r.family != Family::kIpv4 && r.family != Family::kIpv6 && r.family != Family::kAny) {
    return err("family", Fmt("unknown address family %u", unsigned(r.family)));
  }
  if (r.family == Family::kAny && r.src_len != 0) {
    return err("src", Fmt("prefix length %u in a rule of any address family (a prefix needs IPv4 or IPv6)", unsigned(r.src_len)));
  }
  if (r.family == Family::kAny && r.dst_len != 0) {
    return err("dst", Fmt("prefix length %u in a rule of any address family (a prefix needs IPv4 or IPv6)", unsigned(r.dst_len)));
  }
  const unsigned bits = r.family == Family::kIpv6 ? 128 : 32;
  if (r.src_len > bits) return err("src", Fmt("prefix length %u is longer than the %u-bit address", unsigned(r.src_len), bits));
  if (r.dst_len > bits) return err("dst", Fmt("prefix length %u is longer than the %u-bit address", unsigned(r.dst_len), bits));
  if (r.sport_lo > r.sport_hi) return err("sport", Fmt("inverted range %u-%u", unsigned(r.sport_lo), unsigned(r.sport_hi)));
  if (r.dport_lo > r.dport_hi) return err("dport", Fmt("inverted range %u-%u", unsigned(r.dport_lo), unsigned(r.dport_hi)));
  if (r.proto & ~r.proto_mask) {
    return err("proto", Fmt("value 0x%02x has bits outside its mask 0x%02x", unsigned(r.proto), unsigned(r.proto_mask)));
  }
  if (r.tcp_flags & ~r.tcp_flags_mask) {
    return err("tcp_flags", Fmt("value 0x%02x has bits outside its mask 0x%02x", unsigned(r.tcp_flags), unsigned(r.tcp_flags_mask)));
  }
  if (r.vlan_lo > r.vlan_hi) return err("vlan", Fmt("inverted range %u-%u", unsigned(r.vlan_lo), unsigned(r.vlan_hi)));
  const bool vlan_any = r.vlan_lo == 0 && r.vlan_hi == 0xffff;
  const bool vlan_untagged = r.vlan_lo == kNoVlan && r.vlan_hi == kNoVlan;
  if (!vlan_any && !vlan_untagged && r.vlan_hi > kMaxVlanId) {
    return err("vlan", Fmt("range %u-%u goes past VLAN id %u (untagged only: %u-%u)", unsigned(r.vlan_lo),
                           unsigned(r.vlan_hi), unsigned(kMaxVlanId), unsigned(kNoVlan), unsigned(kNoVlan)));
  }
  if (r.in_port_lo > r.in_port_hi) return err("in_port", Fmt("inverted range %u-%u", unsigned(r.in_port_lo), unsigned(r.in_port_hi)));
  const bool icmp = r.proto_mask == 0xff && (r.proto == 1 || r.proto == 58);
  if (icmp && (r.sport_hi > 255 && !(r.sport_lo == 0 && r.sport_hi == 0xffff))) {
    return err("sport", Fmt("ICMP type range %u-%u goes past 255", unsigned(r.sport_lo), unsigned(r.sport_hi)));
  }
  if (icmp && (r.dport_hi > 255 && !(r.dport_lo == 0 && r.dport_hi == 0xffff))) {
    return err("dport", Fmt("ICMP code range %u-%u goes past 255", unsigned(r.dport_lo), unsigned(r.dport_hi)));
  }
  return {};
}

Classifier::Classifier() : impl_(std::make_unique<Impl>()) {}
Classifier::~Classifier() = default;

BuildResult Classifier::Build(std::span<const Rule> rules, const BuildOptions& opt) {
  BuildResult res;
  const auto t0 = std::chrono::steady_clock::now();
  if (rules.size() > kMaxRules) {
    res.error = "too many rules: " + std::to_string(rules.size()) + " (at most " + std::to_string(kMaxRules) + ")";
    return res;
  }
  for (size_t i = 0; i < rules.size(); i++) {
    std::string e = ValidateRule(rules[i], uint32_t(i));
    if (!e.empty()) {
      res.error = std::move(e);
      return res;
    }
  }
  if (opt.leaf_size == 0 || opt.space_factor == 0 || opt.max_cut_bits == 0 || opt.max_cut_bits > 16) {
    res.error = "build options: leaf_size and space_factor must be > 0, max_cut_bits 1..16";
    return res;
  }
  std::unique_ptr<Classifier> c(new Classifier());
  Impl& im = *c->impl_;
  ClassifierStats& st = c->stats_;
  st.rules = uint32_t(rules.size());

  // Rank = position by (priority, index).
  std::vector<uint32_t> order(rules.size());
  for (uint32_t i = 0; i < order.size(); i++) order[i] = i;
  std::stable_sort(order.begin(), order.end(),
                   [&](uint32_t a, uint32_t b) { return rules[a].priority < rules[b].priority; });
  im.rank_index = order;
  while ((rules.size() >> im.leaf_rank_shift) > (1u << 15)) im.leaf_rank_shift++;

  // IPv6: the trees cut one 32-bit word of each address, the one whose prefixes take the most
  // distinct values among the IPv6 rules (word 1 for 2001:db8:xxxx:yyyy::/n-style sets).
  bool any_v6 = false, any_v4 = false, any_any = false;
  for (const Rule& r : rules) {
    any_v6 |= r.family == Family::kIpv6;
    any_v4 |= r.family == Family::kIpv4;
    any_any |= r.family == Family::kAny;
  }
  uint32_t words[2] = {0, 0};  // src, dst
  if (any_v6) {
    std::vector<uint64_t> seen;
    for (uint32_t a = 0; a < 2; a++) {
      size_t best = 0;
      for (uint32_t w = 0; w < 4; w++) {
        seen.clear();
        for (const Rule& r : rules) {
          if (r.family != Family::kIpv6) continue;
          const uint32_t lw = WordLen(a ? r.dst_len : r.src_len, w);
          if (lw) seen.push_back(uint64_t(lw) << 32 | ((a ? r.dst[w] : r.src[w]) & PrefixMask(lw)));
        }
        std::sort(seen.begin(), seen.end());
        const size_t distinct = size_t(std::unique(seen.begin(), seen.end()) - seen.begin());
        if (distinct > best) { best = distinct; words[a] = w; }
      }
    }
  }
  im.v6.src_word = uint8_t(words[0]);
  im.v6.dst_word = uint8_t(words[1]);

  std::vector<BRule> br(rules.size());
  std::vector<uint8_t> len_s(rules.size()), len_d(rules.size());  // prefix lengths in the tree dims
  bool ext = false, ext4 = false, ext6 = false, addr6 = false;
  for (uint32_t k = 0; k < order.size(); k++) {
    const Rule& r = rules[order[k]];
    BRule& b = br[k];
    const bool v6 = r.family == Family::kIpv6;
    const uint32_t ws = v6 ? words[0] : 0, wd = v6 ? words[1] : 0;
    len_s[k] = uint8_t(v6 ? WordLen(r.src_len, ws) : r.src_len);
    len_d[k] = uint8_t(v6 ? WordLen(r.dst_len, wd) : r.dst_len);
    const uint32_t sm = PrefixMask(len_s[k]), dm = PrefixMask(len_d[k]);
    b.lo[kDimSrc] = r.src[ws] & sm;
    b.hi[kDimSrc] = (r.src[ws] & sm) | ~sm;
    b.lo[kDimDst] = r.dst[wd] & dm;
    b.hi[kDimDst] = (r.dst[wd] & dm) | ~dm;
    b.lo[kDimSport] = r.sport_lo;
    b.hi[kDimSport] = r.sport_hi;
    b.lo[kDimDport] = r.dport_lo;
    b.hi[kDimDport] = r.dport_hi;
    const bool proto_box = r.proto_mask == 0xff || r.proto_mask == 0;
    b.lo[kDimProto] = r.proto_mask == 0xff ? r.proto : 0;
    b.hi[kDimProto] = r.proto_mask == 0xff ? r.proto : 0xff;
    b.lo[kDimVlan] = r.vlan_lo;
    b.hi[kDimVlan] = r.vlan_hi;
    b.lo[kDimPort] = r.in_port_lo;
    b.hi[kDimPort] = r.in_port_hi;
    // An IPv6 prefix restricting words other than the one cut needs the Addr6 check: the box
    // is then not the whole rule.
    auto only_word = [](uint32_t len, uint32_t w) { return len == 0 || (w == 0 && len <= 32); };
    const bool addr_in_box = !v6 || (only_word(r.src_len, ws) && only_word(r.dst_len, wd));
    addr6 |= !addr_in_box;
    b.addr6 = !addr_in_box;
    b.exact = proto_box && r.tcp_flags_mask == 0;
    b.proto = r.proto;
    b.proto_mask = r.proto_mask;
    b.flags = r.tcp_flags;
    b.flags_mask = r.tcp_flags_mask;
    if (r.vlan_lo != 0 || r.vlan_hi != 0xffff || r.in_port_lo != 0 || r.in_port_hi != 0xffff) {
      ext = true;
      ext4 |= r.family != Family::kIpv6;
      ext6 |= r.family != Family::kIpv4;
    }
  }
  if (ext) {
    im.ext.resize(br.size());
    for (uint32_t k = 0; k < br.size(); k++) {
      im.ext[k] = Ext{uint16_t(br[k].lo[kDimVlan]), uint16_t(br[k].hi[kDimVlan] - br[k].lo[kDimVlan]),
                      uint16_t(br[k].lo[kDimPort]), uint16_t(br[k].hi[kDimPort] - br[k].lo[kDimPort])};
    }
  }
  im.v4.ext = ext4;
  im.v6.ext = ext6;
  std::vector<Addr6> full6;  // by rank; all zero (matches anything) for kAny rules
  if (any_v6) {
    full6.assign(br.size(), Addr6{});
    for (uint32_t k = 0; k < br.size(); k++) {
      const Rule& r = rules[order[k]];
      if (r.family != Family::kIpv6) continue;
      Addr6& a = full6[k];
      for (uint32_t w = 0; w < 4; w++) {
        a.mask[w] = PrefixMask(WordLen(r.src_len, w));
        a.val[w] = r.src[w] & a.mask[w];
        a.mask[4 + w] = PrefixMask(WordLen(r.dst_len, w));
        a.val[4 + w] = r.dst[w] & a.mask[4 + w];
      }
    }
  }
  if (addr6) {  // entries without the cut words, deduplicated
    std::map<std::vector<uint32_t>, uint32_t> seen;
    im.v6.addr6.assign(1, Addr6{});
    seen.emplace(std::vector<uint32_t>(16, 0), 0);
    im.v6.addr6_index.assign(br.size(), 0);
    for (uint32_t k = 0; k < br.size(); k++) {
      if (!br[k].addr6) continue;
      Addr6 a = full6[k];
      a.val[words[0]] = a.mask[words[0]] = 0;
      a.val[4 + words[1]] = a.mask[4 + words[1]] = 0;
      std::vector<uint32_t> key(a.val, a.val + 8);
      key.insert(key.end(), a.mask, a.mask + 8);
      auto [it, added] = seen.emplace(std::move(key), uint32_t(im.v6.addr6.size()));
      if (added) im.v6.addr6.push_back(a);
      im.v6.addr6_index[k] = it->second;
    }
  }

  // One forest per family: IPv4 + kAny rules, IPv6 + kAny rules (kAny rules are in both; the
  // IPv6 forest only exists when some rule can match an IPv6 packet). Within a forest, subsets:
  // small source prefix; large source but small destination; both large.
  Box root{};
  for (uint32_t d = 0; d < kDims; d++) root.w[d] = kDimBits[d];
  for (int fam = 0; fam < 2; fam++) {
    if (fam == 0 && !any_v4 && !any_any) continue;
    if (fam == 1 && !any_v6 && !any_any) continue;
    Forest& f = fam ? im.v6 : im.v4;
    const Family skip = fam ? Family::kIpv4 : Family::kIpv6;
    std::vector<std::vector<uint32_t>> groups(opt.partition ? 3 : 1);
    for (uint32_t k = 0; k < br.size(); k++) {
      if (rules[order[k]].family == skip) continue;
      uint32_t g = 0;
      if (opt.partition) g = len_s[k] >= opt.small_prefix ? 0 : len_d[k] >= opt.small_prefix ? 1 : 2;
      groups[g].push_back(k);
    }
    Builder b(opt, br, &full6, &f, im.leaf_rank_shift, fam ? im.v4.Bytes() : 0, &st);
    for (auto& g : groups) {
      if (g.empty()) continue;
      const uint32_t min_rank = g.front();
      f.trees.push_back(Tree{b.Build(std::move(g), root, 0), min_rank});
    }
    std::sort(f.trees.begin(), f.trees.end(), [](const Tree& x, const Tree& y) { return x.min_rank < y.min_rank; });
    f.refs.shrink_to_fit();
    f.blocks.shrink_to_fit();
  }
  st.trees = uint32_t(im.v4.trees.size() + im.v6.trees.size());
  im.simd = opt.simd && CpuHasAvx512();
  st.simd = im.simd;
  st.memory_bytes = im.v4.Bytes() + im.v6.Bytes() + im.rank_index.size() * sizeof(uint32_t) +
                    im.ext.size() * sizeof(Ext) + sizeof(Impl) + sizeof(Classifier);
  st.build_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  res.classifier = std::move(c);
  return res;
}

// ---- linear reference ----

LinearClassifier::LinearClassifier(std::span<const Rule> rules) {
  std::vector<uint32_t> order(rules.size());
  for (uint32_t i = 0; i < order.size(); i++) order[i] = i;
  std::stable_sort(order.begin(), order.end(),
                   [&](uint32_t a, uint32_t b) { return rules[a].priority < rules[b].priority; });
  for (uint32_t i : order) {
    const Rule& r = rules[i];
    const bool v4 = r.family == Family::kIpv4;  // (IPv4 fields unused otherwise)
    const uint32_t sm = PrefixMask(v4 ? r.src_len : 0), dm = PrefixMask(v4 ? r.dst_len : 0);
    R x{r.src[0] & sm, (r.src[0] & sm) | ~sm, r.dst[0] & dm, (r.dst[0] & dm) | ~dm,
        r.sport_lo, r.sport_hi, r.dport_lo, r.dport_hi, r.proto, r.proto_mask,
        r.tcp_flags, r.tcp_flags_mask, r.vlan_lo, r.vlan_hi, r.in_port_lo, r.in_port_hi, i, r.family, {}, {}};
    if (r.family == Family::kIpv6) {
      // Bit by bit, independently of the classifier's word arithmetic.
      for (uint32_t bit = 0; bit < 128; bit++) {
        const uint32_t w = bit / 32, m = 0x80000000u >> (bit % 32);
        if (bit < r.src_len) x.mask6[w] |= m;
        if (bit < r.dst_len) x.mask6[4 + w] |= m;
      }
      for (uint32_t w = 0; w < 4; w++) {
        x.val6[w] = r.src[w] & x.mask6[w];
        x.val6[4 + w] = r.dst[w] & x.mask6[4 + w];
      }
    }
    rules_.push_back(x);
  }
}

void LinearClassifier::Classify(const Keys* k, uint32_t n, uint32_t* match) const {
  for (uint32_t i = 0; i < n; i++) {
    const uint8_t ver = k->version ? k->version[i] : 4;
    const uint16_t sp = k->sport[i], dp = k->dport[i];
    const uint8_t p = k->proto[i];
    const uint8_t f = k->tcp_flags ? k->tcp_flags[i] : 0;
    const uint16_t v = k->vlan ? k->vlan[i] : kNoVlan;
    const uint16_t ip = k->in_port ? k->in_port[i] : 0;
    match[i] = kNoMatch;
    if (ver != 4 && ver != 6) continue;
    const uint32_t s = ver == 4 ? k->src[i] : 0, d = ver == 4 ? k->dst[i] : 0;
    uint32_t a6[8] = {};
    if (ver == 6) {
      for (uint32_t w = 0; w < 4; w++) {
        a6[w] = k->src6[4 * i + w];
        a6[4 + w] = k->dst6[4 * i + w];
      }
    }
    for (const R& r : rules_) {
      if (r.family == Family::kIpv4 && ver != 4) continue;
      if (r.family == Family::kIpv6 && ver != 6) continue;
      bool addr = true;
      if (r.family == Family::kIpv4) addr = s >= r.src_lo && s <= r.src_hi && d >= r.dst_lo && d <= r.dst_hi;
      if (r.family == Family::kIpv6) {
        for (uint32_t w = 0; w < 8; w++) addr = addr && (a6[w] & r.mask6[w]) == r.val6[w];
      }
      if (addr && sp >= r.sp_lo &&
          sp <= r.sp_hi && dp >= r.dp_lo && dp <= r.dp_hi && (p & r.proto_mask) == r.proto &&
          (f & r.flags_mask) == r.flags && v >= r.vlan_lo && v <= r.vlan_hi && ip >= r.port_lo &&
          ip <= r.port_hi) {
        match[i] = r.index;
        break;
      }
    }
  }
}

}  // namespace vnf::acl
