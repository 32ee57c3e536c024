// Private layout of a compiled classifier, shared by acl_build.cc and acl_classify.cc.
//
// A forest of cutting trees, one per rule subset. A tree node cuts one field ("dimension") of
// its region into 2^k equal, aligned parts; the child for a key is (key[dim] >> shift) & mask.
// Nodes are stored as 8-byte references inside their parent's child array, so descending one
// level is one load. A leaf is a run of rule blocks in priority order, scanned first match
// first; each lane holds its rule's rank (position by priority), so the smallest rank over all
// trees wins.
#pragma once

#include <cstdint>
#include <vector>

#include "acl/acl.h"

namespace vnf::acl {

enum Dim : uint32_t { kDimSrc, kDimDst, kDimSport, kDimDport, kDimProto, kDimVlan, kDimPort, kDims };
constexpr uint8_t kDimBits[kDims] = {32, 32, 16, 16, 8, 16, 16};
constexpr const char* kDimNames[kDims] = {"src", "dst", "sport", "dport", "proto", "vlan", "in_port"};

// kind (2 bits) | cut: dim (6) shift (8) mask (16) | leaf: number of blocks (30)
struct Ref {
  uint32_t a;
  uint32_t base;  // cut: index of the first child in refs; leaf: index of the first block
};
constexpr uint32_t kRefCut = 0u << 30;
constexpr uint32_t kRefLeaf = 1u << 30;
constexpr uint32_t kRefEmpty = 2u << 30;
constexpr uint32_t kRefKindMask = 3u << 30;

inline Ref MakeCut(uint32_t dim, uint32_t shift, uint32_t bits, uint32_t base) {
  return Ref{kRefCut | (dim << 24) | (shift << 16) | ((1u << bits) - 1), base};
}
inline Ref MakeLeaf(uint32_t count, uint32_t base) { return Ref{kRefLeaf | count, base}; }

// A leaf is a run of blocks of 8 rules, structure of arrays, in rank order (the last block
// padded with lanes that never match and rank kNoRank). A lane matches when every range holds,
// (key - lo) <= span in unsigned arithmetic (one compare does both bounds), and
// (key & mask) == value for protocol and TCP flags. Ports pack sport (low 16 bits) and dport
// (high 16 bits) of the key and of lo/span: two 16-bit ranges, one 32-bit lane. VLAN and input
// port are tree dimensions; when any rule restricts them the leaf also checks Ext (by rank).
constexpr uint32_t kBlockLanes = 8;
constexpr uint32_t kNoRank = 0xffffffffu;
struct alignas(32) Block {
  uint32_t src_lo[kBlockLanes], src_span[kBlockLanes];
  uint32_t dst_lo[kBlockLanes], dst_span[kBlockLanes];
  uint32_t port_lo[kBlockLanes], port_span[kBlockLanes];
  uint32_t pf_val[kBlockLanes], pf_mask[kBlockLanes];  // proto | tcp flags << 8
  uint32_t rank[kBlockLanes];
};
static_assert(sizeof(Block) == 288);

struct Ext {
  uint16_t vlan_lo, vlan_span, port_lo, port_span;
};

struct Tree {
  Ref root;
  uint32_t min_rank;  // smallest rank in the tree: a packet already matched better skips it
};

struct Classifier::Impl {
  std::vector<Ref> refs;
  std::vector<Block> blocks;
  std::vector<Tree> trees;          // ascending min_rank
  std::vector<uint32_t> rank_index; // rank -> rule index
  std::vector<Ext> ext;             // by rank; empty when no rule restricts vlan or in_port
  bool simd = false;                // AVX-512 data path (chosen at build time from the CPU)
};

}  // namespace vnf::acl
