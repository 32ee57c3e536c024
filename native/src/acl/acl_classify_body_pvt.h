// Body of the data path, compiled twice by acl_classify.cc: portable (ACL_SIMD 0) and under
// #pragma GCC target for AVX-512 (ACL_SIMD 1, block matching with 256-bit compares into mask
// registers). Only BlockMatch differs; the compiler may also use wider code elsewhere.
// No include guard on purpose.

struct Key {
  uint32_t v[8];  // by Dim; v[7] = 0
  uint32_t port;  // sport | dport << 16
  uint32_t pf;    // proto | tcp flags << 8
};

// Bit l set when lane l of block b matches key k (vlan/in_port aside).
inline uint32_t BlockMatch(const Block& b, const Key& k) {
#if ACL_SIMD
#define ld(p) _mm256_load_si256(reinterpret_cast<const __m256i*>(p))
  const __m256i ks = _mm256_set1_epi32(int(k.v[kDimSrc]));
  const __m256i kd = _mm256_set1_epi32(int(k.v[kDimDst]));
  const __m256i kp = _mm256_set1_epi32(int(k.port));
  const __m256i kf = _mm256_set1_epi32(int(k.pf));
  __mmask8 m = _mm256_cmple_epu32_mask(_mm256_sub_epi32(ks, ld(b.src_lo)), ld(b.src_span));
  m = _mm256_mask_cmple_epu32_mask(m, _mm256_sub_epi32(kd, ld(b.dst_lo)), ld(b.dst_span));
  const __mmask16 pm = _mm256_cmple_epu16_mask(_mm256_sub_epi16(kp, ld(b.port_lo)), ld(b.port_span));
  m = _mm256_mask_cmpeq_epi32_mask(m, _mm256_movm_epi16(pm), _mm256_set1_epi32(-1));
  m = _mm256_mask_cmpeq_epi32_mask(m, _mm256_and_si256(kf, ld(b.pf_mask)), ld(b.pf_val));
#undef ld
  return m;
#else
  uint32_t m = 0;
  const uint32_t s = k.v[kDimSrc], d = k.v[kDimDst];
  const uint32_t sp = k.port & 0xffff, dp = k.port >> 16;
  for (uint32_t l = 0; l < kBlockLanes; l++) {
    const uint32_t ok = (s - b.src_lo[l] <= b.src_span[l]) & (d - b.dst_lo[l] <= b.dst_span[l]) &
                        (((sp - b.port_lo[l]) & 0xffff) <= (b.port_span[l] & 0xffff)) &
                        (((dp - (b.port_lo[l] >> 16)) & 0xffff) <= (b.port_span[l] >> 16)) &
                        ((k.pf & b.pf_mask[l]) == b.pf_val[l]);
    m |= ok << l;
  }
  return m;
#endif
}

inline bool ExtMatches(const Ext& e, const Key& k) {
  return (uint16_t(k.v[kDimVlan] - e.vlan_lo) <= e.vlan_span) &
         (uint16_t(k.v[kDimPort] - e.port_lo) <= e.port_span);
}

// Lowers *best to the rank of the leaf's first matching rule, if that is better. Ranks rise
// through the leaf, so the first set lane of the first block with one is the leaf's answer.
template <bool kExt>
inline void ScanLeaf(const Classifier::Impl& im, Ref leaf, const Key& k, uint32_t* best) {
  const Block* b = im.blocks.data() + leaf.base;
  const uint32_t nb = RefLeafBlocks(leaf.a);
  ACL_PROF(g_prof_leaves++);
  for (uint32_t j = 0; j < nb; j++) {
    ACL_PROF(g_prof_blocks++);
    uint32_t m = BlockMatch(b[j], k);
    if constexpr (kExt) {  // rules restricting VLAN or input port: check them lane by lane
      for (uint32_t mm = m; mm; mm &= mm - 1) {
        const uint32_t l = __builtin_ctz(mm);
        if (!ExtMatches(im.ext[b[j].rank[l]], k)) m &= ~(1u << l);
      }
    }
    if (m) {
      const uint32_t r = b[j].rank[__builtin_ctz(m)];
      *best = r < *best ? r : *best;
      return;
    }
    if (j + 1 < nb && b[j + 1].rank[0] >= *best) return;
  }
}

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
    k[i].port = uint32_t(keys->sport[p]) | uint32_t(keys->dport[p]) << 16;
    k[i].pf = uint32_t(keys->proto[p]) | uint32_t(keys->tcp_flags ? keys->tcp_flags[p] : 0) << 8;
    best[i] = kNoRank;
  }
  const Ref* refs = im.refs.data();
  const uint32_t ntrees = uint32_t(im.trees.size());
  for (uint32_t t0 = 0; t0 < ntrees; t0 += kTreesTogether) {
    const uint32_t tn = ntrees - t0 < kTreesTogether ? ntrees - t0 : kTreesTogether;
    // (tree, packet) pairs still descending (their ref is a cut), all trees at once, compacted
    // without branches after each pass: a pass touches only live pairs, and its loads are
    // independent of each other, so their cache misses overlap.
    Ref cur[kTreesTogether * kGroup];
    uint16_t live[kTreesTogether * kGroup];
    uint32_t nlive = 0;
    for (uint32_t t = 0; t < tn; t++) {
      const Tree& tr = im.trees[t0 + t];
      const uint32_t root_cut = (tr.root.a & kRefKindMask) == kRefCut;
      for (uint32_t i = 0; i < n; i++) {
        const uint32_t go = best[i] > tr.min_rank;  // the tree may still beat the match
        cur[t * kGroup + i] = go ? tr.root : Ref{kRefEmpty, 0};
        live[nlive] = uint16_t(t * kGroup + i);
        nlive += go & root_cut;
        ACL_PROF(g_prof_trees += go);
      }
    }
    while (nlive) {
      uint32_t still = 0;
      ACL_PROF(g_prof_steps += nlive);
      for (uint32_t j = 0; j < nlive; j++) {
        const uint32_t id = live[j];
        const Ref r = cur[id];
        const uint32_t i = id % kGroup;
        const Ref next = refs[r.base + ((k[i].v[RefDim(r.a)] >> RefShift(r.a)) & RefMask(r.a))];
        cur[id] = next;
        live[still] = uint16_t(id);
        // Keeps descending through cuts whose subtree may still beat the packet's match.
        still += ((next.a & kRefKindMask) == kRefCut) & (best[i] > RefCutMinRank(next.a));
      }
      nlive = still;
    }
    // Leaves: prefetch every first block, then scan tree by tree (best rank falls as we go).
    uint16_t at_leaf[kTreesTogether * kGroup];
    uint32_t nleaf = 0;
    for (uint32_t t = 0; t < tn; t++) {
      for (uint32_t i = 0; i < n; i++) {
        const uint32_t id = t * kGroup + i;
        at_leaf[nleaf] = uint16_t(id);
        const uint32_t leaf = ((cur[id].a & kRefKindMask) == kRefLeaf) &
                              (best[id % kGroup] > RefLeafMinRank(cur[id].a, im.leaf_rank_shift));
        if (leaf) {  // all five cache lines of the block
          const char* b = reinterpret_cast<const char*>(im.blocks.data() + cur[id].base);
          for (uint32_t off = 0; off < sizeof(Block) + 63; off += 64) __builtin_prefetch(b + off, 0, 3);
        }
        nleaf += leaf;
      }
    }
    if (im.ext.empty()) {
      for (uint32_t j = 0; j < nleaf; j++) {
        const uint32_t id = at_leaf[j], i = id % kGroup;
        ScanLeaf<false>(im, cur[id], k[i], &best[i]);
      }
    } else {
      for (uint32_t j = 0; j < nleaf; j++) {
        const uint32_t id = at_leaf[j], i = id % kGroup;
        ScanLeaf<true>(im, cur[id], k[i], &best[i]);
      }
    }
  }
  for (uint32_t i = 0; i < n; i++) match[first + i] = best[i] == kNoRank ? kNoMatch : im.rank_index[best[i]];
}
