// The data path: descend every tree for a group of packets in lock step (one level per pass,
// the next child prefetched a pass ahead, so the cache misses of a group overlap), then scan
// the leaves. Trees are ordered by their best rank; a packet already matched by a rank below a
// tree's best skips that tree.
#include "acl/acl_pvt.h"

namespace vnf::acl {

namespace {

constexpr uint32_t kGroup = 16;  // packets descended together
constexpr uint32_t kNoRank = 0xffffffffu;

struct Key {
  uint32_t v[8];  // by Dim; v[7] unused
  uint8_t flags;
};

inline bool RecMatches(const Rec& r, const Key& k) {
  return (uint32_t(k.v[kDimSrc] - r.src_lo) <= r.src_span) &
         (uint32_t(k.v[kDimDst] - r.dst_lo) <= r.dst_span) &
         (uint16_t(k.v[kDimSport] - r.sp_lo) <= r.sp_span) &
         (uint16_t(k.v[kDimDport] - r.dp_lo) <= r.dp_span) &
         ((uint8_t(k.v[kDimProto]) & r.proto_mask) == r.proto) & ((k.flags & r.flags_mask) == r.flags);
}

inline bool ExtMatches(const Ext& e, const Key& k) {
  return (uint16_t(k.v[kDimVlan] - e.vlan_lo) <= e.vlan_span) &
         (uint16_t(k.v[kDimPort] - e.port_lo) <= e.port_span);
}

// Scans a leaf (records in rank order) for a rank better than *best.
inline void ScanLeaf(const Classifier::Impl& im, Ref leaf, const Key& k, uint32_t* best) {
  const Rec* r = im.recs.data() + leaf.base;
  const uint32_t count = leaf.a & ~kRefKindMask;
  const bool ext = !im.ext.empty();
  for (uint32_t j = 0; j < count; j++) {
    if (r[j].rank >= *best) return;
    if (RecMatches(r[j], k) && (!ext || ExtMatches(im.ext[r[j].rank], k))) {
      *best = r[j].rank;
      return;
    }
  }
}

inline void Prefetch(const void* p) { __builtin_prefetch(p, 0, 3); }

void ClassifyGroup(const Classifier::Impl& im, const Keys* keys, uint32_t first, uint32_t n,
                   uint32_t* match) {
  Key k[kGroup];
  uint32_t best[kGroup];
  for (uint32_t i = 0; i < n; i++) {
    const uint32_t p = first + i;
    k[i].v[kDimSrc] = keys->src[p];
    k[i].v[kDimDst] = keys->dst[p];
    k[i].v[kDimSport] = keys->sport[p];
    k[i].v[kDimDport] = keys->dport[p];
    k[i].v[kDimProto] = keys->proto[p];
    k[i].v[kDimVlan] = keys->vlan ? keys->vlan[p] : kNoVlan;
    k[i].v[kDimPort] = keys->in_port ? keys->in_port[p] : 0;
    k[i].v[7] = 0;
    k[i].flags = keys->tcp_flags ? keys->tcp_flags[p] : 0;
    best[i] = kNoRank;
  }
  const Ref* refs = im.refs.data();
  for (const Tree& t : im.trees) {
    // Packets still descending this tree, and where each stands.
    uint32_t live[kGroup];
    Ref cur[kGroup];
    uint32_t nlive = 0;
    for (uint32_t i = 0; i < n; i++) {
      if (best[i] <= t.min_rank) continue;
      live[nlive] = i;
      cur[i] = t.root;
      nlive++;
    }
    while (nlive) {
      uint32_t still = 0;
      for (uint32_t j = 0; j < nlive; j++) {
        const uint32_t i = live[j];
        const Ref r = cur[i];
        const uint32_t kind = r.a & kRefKindMask;
        if (kind == kRefCut) {
          const uint32_t dim = (r.a >> 24) & 0x3f, shift = (r.a >> 16) & 0xff, mask = r.a & 0xffff;
          const Ref* next = refs + r.base + ((k[i].v[dim] >> shift) & mask);
          cur[i] = *next;
          const uint32_t nk = next->a & kRefKindMask;
          if (nk == kRefLeaf) Prefetch(im.recs.data() + next->base);
          live[still++] = i;
        } else if (kind == kRefLeaf) {
          ScanLeaf(im, r, k[i], &best[i]);
        }
      }
      nlive = still;
    }
  }
  for (uint32_t i = 0; i < n; i++) match[first + i] = best[i] == kNoRank ? kNoMatch : im.rank_index[best[i]];
}

}  // namespace

void Classifier::Classify(const Keys* keys, uint32_t n, uint32_t* match) const {
  for (uint32_t first = 0; first < n; first += kGroup) {
    ClassifyGroup(*impl_, keys, first, n - first < kGroup ? n - first : kGroup, match);
  }
}

}  // namespace vnf::acl
