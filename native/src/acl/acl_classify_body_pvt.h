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
  const __m256i kf = _mm256_set1_epi32(int(k.pf << 16));
  const __m256i rs = ld(b.rank_sh);
  const __m256i src_sh = _mm256_srli_epi32(rs, kLaneSrcShift);
  const __m256i dst_sh = _mm256_and_si256(_mm256_srli_epi32(rs, kLaneDstShift), _mm256_set1_epi32(63));
  // Shifts of 32 or more give 0 (vpsrlvd): a /0 prefix matches any address.
  __mmask8 m = _mm256_testn_epi32_mask(_mm256_srlv_epi32(_mm256_xor_si256(ks, ld(b.src_lo)), src_sh),
                                       _mm256_set1_epi32(-1));
  m = _mm256_mask_testn_epi32_mask(m, _mm256_srlv_epi32(_mm256_xor_si256(kd, ld(b.dst_lo)), dst_sh),
                                   _mm256_set1_epi32(-1));
  const __mmask16 pm = _mm256_cmple_epu16_mask(_mm256_sub_epi16(kp, ld(b.port_lo)), ld(b.port_span));
  m = _mm256_mask_cmpeq_epi32_mask(m, _mm256_movm_epi16(pm), _mm256_set1_epi32(-1));
  const __m256i pf = ld(b.pf);  // high halves: (key & mask) << 16 against value << 16
  m = _mm256_mask_cmpeq_epi32_mask(m, _mm256_and_si256(kf, pf), _mm256_slli_epi32(pf, 16));
#undef ld
  return m;
#else
  uint32_t m = 0;
  const uint32_t s = k.v[kDimSrc], d = k.v[kDimDst];
  const uint32_t sp = k.port & 0xffff, dp = k.port >> 16;
  for (uint32_t l = 0; l < kBlockLanes; l++) {
    const uint32_t rs = b.rank_sh[l];
    const uint32_t ok = ((uint64_t(s ^ b.src_lo[l]) >> (rs >> kLaneSrcShift)) == 0) &
                        ((uint64_t(d ^ b.dst_lo[l]) >> ((rs >> kLaneDstShift) & 63)) == 0) &
                        (((sp - b.port_lo[l]) & 0xffff) <= (b.port_span[l] & 0xffff)) &
                        (((dp - (b.port_lo[l] >> 16)) & 0xffff) <= (b.port_span[l] >> 16)) &
                        ((k.pf & (b.pf[l] >> 16)) == (b.pf[l] & 0xffff));
    m |= ok << l;
  }
  return m;
#endif
}

// IPv6: the key's full addresses (src words 0..3, dst words 0..3) for the Addr6 check.
struct Key6 : Key {
  uint32_t a[8];
};

inline bool ExtMatches(const Ext& e, const Key& k) {
  return (uint16_t(k.v[kDimVlan] - e.vlan_lo) <= e.vlan_span) &
         (uint16_t(k.v[kDimPort] - e.port_lo) <= e.port_span);
}

inline bool Addr6Matches(const Addr6& e, const Key6& k) {
#if ACL_SIMD
  const __m256i key = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(k.a));
  const __m256i mask = _mm256_load_si256(reinterpret_cast<const __m256i*>(e.mask));
  const __m256i val = _mm256_load_si256(reinterpret_cast<const __m256i*>(e.val));
  return _mm256_cmpeq_epi32_mask(_mm256_and_si256(key, mask), val) == 0xff;
#else
  uint32_t diff = 0;
  for (uint32_t w = 0; w < 8; w++) diff |= (k.a[w] & e.mask[w]) ^ e.val[w];
  return diff == 0;
#endif
}

// Lowers *best to the rank of the leaf's first matching rule, if that is better. Ranks rise
// through the leaf, so the first set lane of the first block with one is the leaf's answer.
// kExt: check VLAN/in_port (Impl::ext); kAddr: check all IPv6 address words (Forest::addr6).
template <bool kExt, bool kAddr, class K>
inline void ScanLeaf(const Classifier::Impl& im, const Forest& f, Ref leaf, const K& k, uint32_t* best) {
  const Block* b = f.blocks.data() + leaf.base;
  const uint32_t nb = RefLeafBlocks(leaf.a);
  ACL_PROF(g_prof_leaves++);
  for (uint32_t j = 0; j < nb; j++) {
    ACL_PROF(g_prof_blocks++);
    uint32_t m = BlockMatch(b[j], k);
    if constexpr (kExt || kAddr) {  // fields the block does not hold: checked lane by lane
      for (uint32_t mm = m; mm; mm &= mm - 1) {
        const uint32_t l = __builtin_ctz(mm);
        bool ok = true;
        if constexpr (kExt) ok = ExtMatches(im.ext[LaneRank(b[j].rank_sh[l])], k);
        if constexpr (kAddr) ok = ok && Addr6Matches(f.addr6[f.addr6_index[LaneRank(b[j].rank_sh[l])]], k);
        if (!ok) m &= ~(1u << l);
      }
    }
    if (m) {
      const uint32_t r = LaneRank(b[j].rank_sh[__builtin_ctz(m)]);
      *best = r < *best ? r : *best;
      return;
    }
    if (j + 1 < nb && LaneRank(b[j + 1].rank_sh[0]) >= *best) return;
  }
}

// Descends every tree of forest f for the n keys of a group and scans the leaves reached;
// best[i] starts at kNoRank and ends at the best rank matching k[i].
// Always inlined: one body per caller, as when this was all one function.
template <class K>
__attribute__((always_inline)) inline void Descend(const Classifier::Impl& im, const Forest& f, const K* k, uint32_t n, uint32_t* best) {
  const Ref* refs = f.refs.data();
  const uint32_t ntrees = uint32_t(f.trees.size());
  for (uint32_t t0 = 0; t0 < ntrees; t0 += kTreesTogether) {
    const uint32_t tn = ntrees - t0 < kTreesTogether ? ntrees - t0 : kTreesTogether;
    // (tree, packet) pairs still descending (their ref is a cut), all trees at once, compacted
    // without branches after each pass: a pass touches only live pairs, and its loads are
    // independent of each other, so their cache misses overlap.
    Ref cur[kTreesTogether * kGroup];
    uint16_t live[kTreesTogether * kGroup];
    uint32_t nlive = 0;
    for (uint32_t t = 0; t < tn; t++) {
      const Tree& tr = f.trees[t0 + t];
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
        if (leaf) {  // all three cache lines of the block
          const char* b = reinterpret_cast<const char*>(f.blocks.data() + cur[id].base);
          for (uint32_t off = 0; off < sizeof(Block); off += 64) __builtin_prefetch(b + off, 0, 3);
        }
        nleaf += leaf;
      }
    }
    // Plain loops per variant (as the IPv4-only code had them).
#define ACL_SCAN(kExt, kAddr)                                  \
  for (uint32_t j = 0; j < nleaf; j++) {                       \
    const uint32_t id = at_leaf[j], i = id % kGroup;           \
    ScanLeaf<kExt, kAddr>(im, f, cur[id], k[i], &best[i]);     \
  }
    constexpr bool kV6 = std::is_same_v<K, Key6>;
    if (kV6 && !f.addr6_index.empty()) {
      if (f.ext) {
        ACL_SCAN(true, kV6)
      } else {
        ACL_SCAN(false, kV6)
      }
    } else if (f.ext) {
      ACL_SCAN(true, false)
    } else {
      ACL_SCAN(false, false)
    }
#undef ACL_SCAN
  }
}

inline void FillKey(const Keys* keys, uint32_t p, Key* k) {
  k->v[kDimSport] = keys->sport[p];
  k->v[kDimDport] = keys->dport[p];
  k->v[kDimProto] = keys->proto[p];
  k->v[kDimVlan] = keys->vlan ? keys->vlan[p] : kNoVlan;
  k->v[kDimPort] = keys->in_port ? keys->in_port[p] : 0;
  k->v[7] = 0;
  k->port = uint32_t(keys->sport[p]) | uint32_t(keys->dport[p]) << 16;
  k->pf = uint32_t(keys->proto[p]) | uint32_t(keys->tcp_flags ? keys->tcp_flags[p] : 0) << 8;
}

// IPv4 packets first..first+n-1 (kIndexed: pos[0..n-1]) of the burst.
// Out of line (as are the other builds' group functions), so Classify's own frame stays small.
template <bool kIndexed>
__attribute__((noinline)) void ClassifyGroup4(const Classifier::Impl& im, const Keys* keys, const uint32_t* pos, uint32_t first,
                    uint32_t n, uint32_t* match) {
  Key k[kGroup];
  uint32_t best[kGroup];
  for (uint32_t i = 0; i < n; i++) {
    const uint32_t p = kIndexed ? pos[i] : first + i;
    k[i].v[kDimSrc] = keys->src[p];
    k[i].v[kDimDst] = keys->dst[p];
    FillKey(keys, p, &k[i]);
    best[i] = kNoRank;
  }
  Descend(im, im.v4, k, n, best);
  for (uint32_t i = 0; i < n; i++) {
    const uint32_t p = kIndexed ? pos[i] : first + i;
    match[p] = best[i] == kNoRank ? kNoMatch : im.rank_index[best[i]];
  }
}

// IPv6 packets pos[0..n-1] of the burst.
__attribute__((noinline)) void ClassifyGroup6(const Classifier::Impl& im, const Keys* keys, const uint32_t* pos, uint32_t n,
                    uint32_t* match) {
  Key6 k[kGroup];
  uint32_t best[kGroup];
  const uint32_t ws = im.v6.src_word, wd = im.v6.dst_word;
  for (uint32_t i = 0; i < n; i++) {
    const uint32_t p = pos[i];
    const uint32_t* s = keys->src6 + 4 * size_t(p);
    const uint32_t* d = keys->dst6 + 4 * size_t(p);
    for (uint32_t w = 0; w < 4; w++) {
      k[i].a[w] = s[w];
      k[i].a[4 + w] = d[w];
    }
    k[i].v[kDimSrc] = s[ws];
    k[i].v[kDimDst] = d[wd];
    FillKey(keys, p, &k[i]);
    best[i] = kNoRank;
  }
  Descend(im, im.v6, k, n, best);
  for (uint32_t i = 0; i < n; i++) match[pos[i]] = best[i] == kNoRank ? kNoMatch : im.rank_index[best[i]];
}
