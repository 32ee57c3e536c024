// Private layout of a compiled classifier, shared by acl_build.cc and acl_classify.cc.
//
// A forest of cutting trees, one per rule subset. A tree node cuts one field ("dimension") of
// its region into 2^k equal, aligned parts; the child for a key is (key[dim] >> shift) & mask.
// Nodes are stored as 8-byte references inside their parent's child array, so descending one
// level is one load. A leaf is a run of 32-byte rule records in priority order, scanned first
// match first; the record holds the rule's rank (position by priority), so the smallest rank
// over all trees wins.
#pragma once

#include <cstdint>
#include <vector>

#include "acl/acl.h"

namespace vnf::acl {

enum Dim : uint32_t { kDimSrc, kDimDst, kDimSport, kDimDport, kDimProto, kDimVlan, kDimPort, kDims };
constexpr uint8_t kDimBits[kDims] = {32, 32, 16, 16, 8, 16, 16};
constexpr const char* kDimNames[kDims] = {"src", "dst", "sport", "dport", "proto", "vlan", "in_port"};

// kind (2 bits) | cut: dim (6) shift (8) mask (16) | leaf: count (30)
struct Ref {
  uint32_t a;
  uint32_t base;  // cut: index of the first child in refs; leaf: index of the first record
};
constexpr uint32_t kRefCut = 0u << 30;
constexpr uint32_t kRefLeaf = 1u << 30;
constexpr uint32_t kRefEmpty = 2u << 30;
constexpr uint32_t kRefKindMask = 3u << 30;

inline Ref MakeCut(uint32_t dim, uint32_t shift, uint32_t bits, uint32_t base) {
  return Ref{kRefCut | (dim << 24) | (shift << 16) | ((1u << bits) - 1), base};
}
inline Ref MakeLeaf(uint32_t count, uint32_t base) { return Ref{kRefLeaf | count, base}; }

// One rule as a leaf checks it: (key - lo) <= span per range (unsigned wrap makes one compare
// do both bounds), (key & mask) == value for proto and TCP flags. VLAN and input port are tree
// dimensions; when any rule restricts them, the leaf also checks Ext (indexed by rank).
struct alignas(32) Rec {
  uint32_t src_lo, src_span, dst_lo, dst_span;
  uint16_t sp_lo, sp_span, dp_lo, dp_span;
  uint8_t proto, proto_mask, flags, flags_mask;
  uint32_t rank;
};
static_assert(sizeof(Rec) == 32);

struct Ext {
  uint16_t vlan_lo, vlan_span, port_lo, port_span;
};

struct Tree {
  Ref root;
  uint32_t min_rank;  // smallest rank in the tree: a packet already matched better skips it
};

struct Classifier::Impl {
  std::vector<Ref> refs;
  std::vector<Rec> recs;
  std::vector<Tree> trees;          // ascending min_rank
  std::vector<uint32_t> rank_index; // rank -> rule index
  std::vector<Ext> ext;             // by rank; empty when no rule restricts vlan or in_port
};

}  // namespace vnf::acl
