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

// 32-bit head of a reference:
//   cut:  kind (2) | dim (3) | shift (5) | bits - 1 (4) | best rank in the subtree (18)
//   leaf: kind (2) | blocks - 1 (15) | best rank in the leaf >> leaf_rank_shift (15)
// The best rank lets a packet that already holds a better match stop descending (a
// conservative lower bound for leaves of classifiers with more than 2^15 rules).
struct Ref {
  uint32_t a;
  uint32_t base;  // cut: index of the first child in refs; leaf: index of the first block
};
constexpr uint32_t kRefCut = 0u << 30;
constexpr uint32_t kRefLeaf = 1u << 30;
constexpr uint32_t kRefEmpty = 2u << 30;
constexpr uint32_t kRefKindMask = 3u << 30;
constexpr uint32_t kMaxRules = 1u << 18;
constexpr uint32_t kMaxLeafBlocks = 1u << 15;  // kMaxRules / 8

inline Ref MakeCut(uint32_t dim, uint32_t shift, uint32_t bits, uint32_t base, uint32_t min_rank) {
  return Ref{kRefCut | (dim << 27) | (shift << 22) | ((bits - 1) << 18) | min_rank, base};
}
inline Ref MakeLeaf(uint32_t blocks, uint32_t base, uint32_t min_rank, uint32_t rank_shift) {
  return Ref{kRefLeaf | ((blocks - 1) << 15) | (min_rank >> rank_shift), base};
}
inline uint32_t RefDim(uint32_t a) { return (a >> 27) & 7; }
inline uint32_t RefShift(uint32_t a) { return (a >> 22) & 31; }
inline uint32_t RefMask(uint32_t a) { return (2u << ((a >> 18) & 15)) - 1; }
inline uint32_t RefCutMinRank(uint32_t a) { return a & 0x3ffff; }
inline uint32_t RefLeafBlocks(uint32_t a) { return ((a >> 15) & 0x7fff) + 1; }
inline uint32_t RefLeafMinRank(uint32_t a, uint32_t rank_shift) { return (a & 0x7fff) << rank_shift; }

// A leaf is a run of blocks of 8 rules, structure of arrays, in rank order (the last block
// padded with lanes that never match). Addresses are prefixes in every tree dimension (IPv6: the
// word-local part of the prefix in the word cut), so a lane holds the prefix value and the
// shift that drops its host bits: the address matches when (key ^ lo) >> shift == 0 (shift 32:
// any address). Ports are ranges: (key - lo) <= span in unsigned arithmetic (one compare does
// both bounds), sport (low 16 bits) and dport (high 16 bits) packed in one 32-bit lane.
// Protocol and TCP flags: (key & mask) == value, value (proto | flags << 8) in the low and mask
// in the high 16 bits of a lane. The rank and both shifts share the last lane. 192 bytes, three
// cache lines (a lookup usually misses on its leaf: the lines fetched per block count). VLAN and
// input port are tree dimensions; when any rule restricts them the leaf also checks Ext (by rank).
constexpr uint32_t kBlockLanes = 8;
constexpr uint32_t kNoRank = 0xffffffffu;
constexpr uint32_t kLaneRankMask = kMaxRules - 1;  // rank_sh: rank (18 bits)
constexpr uint32_t kLaneDstShift = 20;              // | dst shift (6 bits) << 20
constexpr uint32_t kLaneSrcShift = 26;              // | src shift (6 bits) << 26
struct alignas(64) Block {
  uint32_t src_lo[kBlockLanes], dst_lo[kBlockLanes];
  uint32_t port_lo[kBlockLanes], port_span[kBlockLanes];
  uint32_t pf[kBlockLanes];       // (proto | tcp flags << 8) | (their masks) << 16
  uint32_t rank_sh[kBlockLanes];  // rank | dst shift << 20 | src shift << 26
};
static_assert(sizeof(Block) == 192);
inline uint32_t LaneRank(uint32_t rank_sh) { return rank_sh & kLaneRankMask; }

struct Ext {
  uint16_t vlan_lo, vlan_span, port_lo, port_span;
};

struct Tree {
  Ref root;
  uint32_t min_rank;  // smallest rank in the tree: a packet already matched better skips it
};

// IPv6: the trees and blocks see one 32-bit word of each address (Forest::src_word/dst_word);
// rules that restrict other words also have an Addr6 entry, checked for the lanes that
// matched: (key word & mask) == value for all eight words (src 0..3, dst 0..3; the cut words
// are masked out, the block checked them). Entries are shared by the rules that agree on the
// other words (for a site prefix in word 0 and subnets in word 1: one entry for all).
struct alignas(32) Addr6 {
  uint32_t val[8], mask[8];
};
static_assert(sizeof(Addr6) == 64);

// The compiled rules of one address family: IPv4 rules plus kAny rules, or IPv6 plus kAny.
// Ranks are global (over all rules of the classifier), so the best of both is one compare.
struct Forest {
  std::vector<Ref> refs;
  std::vector<Block> blocks;
  std::vector<Tree> trees;    // ascending min_rank
  std::vector<Addr6> addr6;           // distinct entries; [0] matches anything
  std::vector<uint32_t> addr6_index;  // by rank -> addr6 entry; IPv6 forest only, empty when the words cut say it all
  bool ext = false;           // some rule of this forest restricts vlan or in_port: check Impl::ext
  uint8_t src_word = 0, dst_word = 0;  // IPv6: the address words the trees and blocks hold
  size_t Bytes() const {
    return refs.size() * sizeof(Ref) + blocks.size() * sizeof(Block) + trees.size() * sizeof(Tree) +
           addr6.size() * sizeof(Addr6) + addr6_index.size() * sizeof(uint32_t);
  }
};

struct Classifier::Impl {
  Forest v4, v6;
  std::vector<uint32_t> rank_index; // rank -> rule index
  std::vector<Ext> ext;             // by rank; empty when no rule restricts vlan or in_port
  bool simd = false;                // AVX-512 data path (chosen at build time from the CPU)
  uint32_t leaf_rank_shift = 0;     // see Ref
};

}  // namespace vnf::acl
