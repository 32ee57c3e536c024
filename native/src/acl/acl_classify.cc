// The data path: for a group of packets, descend every tree in lock step (one level per pass,
// the group's loads independent of each other, so their cache misses overlap), then scan the
// leaves a block of 8 rules at a time. Trees are ordered by their best rank; a packet already
// matched by a better rank skips a tree. Two builds of the same body: portable C++ and AVX-512
// (chosen at Build from the CPU; see acl_classify_body_pvt.h). IPv4 and IPv6 packets go to
// their family's forest (Impl::v4, Impl::v6); with a version array the burst is split first.
#include <cstring>
#include <type_traits>

#include "acl/acl_pvt.h"

#if defined(__x86_64__)
#include <immintrin.h>
#endif

namespace vnf::acl {

#ifdef VNF_ACL_PROFILE  // counters for tuning (tooling only; never in a normal build)
uint64_t g_prof_steps, g_prof_blocks, g_prof_leaves, g_prof_trees;
#define ACL_PROF(x) (x)
#else
#define ACL_PROF(x) ((void)0)
#endif

namespace {
#ifndef VNF_ACL_GROUP  // overridable for tuning experiments only
#define VNF_ACL_GROUP 64
#endif
#ifndef VNF_ACL_TREES_TOGETHER
#define VNF_ACL_TREES_TOGETHER 1
#endif
constexpr uint32_t kGroup = VNF_ACL_GROUP;                   // packets descended together
constexpr uint32_t kTreesTogether = VNF_ACL_TREES_TOGETHER;  // trees descended together (1: a tree can be skipped)
static_assert(kGroup * kTreesTogether <= 65536);
}  // namespace

namespace portable {
#define ACL_SIMD 0
#include "acl/acl_classify_body_pvt.h"
#undef ACL_SIMD
}  // namespace portable

#if defined(__x86_64__)
#pragma GCC push_options
#pragma GCC target("avx2,avx512f,avx512bw,avx512vl,bmi,bmi2")
namespace avx512 {
#define ACL_SIMD 1
#include "acl/acl_classify_body_pvt.h"
#undef ACL_SIMD
}  // namespace avx512
#pragma GCC pop_options
#endif

void Classifier::Classify(const Keys* keys, uint32_t n, uint32_t* match) const {
  const Impl& im = *impl_;
  if (keys->version == nullptr) {  // every packet IPv4: groups of consecutive packets
    for (uint32_t first = 0; first < n; first += kGroup) {
      const uint32_t m = n - first < kGroup ? n - first : kGroup;
#if defined(__x86_64__)
      if (im.simd) {
        avx512::ClassifyGroup4<false>(im, keys, nullptr, first, m, match);
        continue;
      }
#endif
      portable::ClassifyGroup4<false>(im, keys, nullptr, first, m, match);
    }
    return;
  }
  // Mixed families: the burst is split into lists of IPv4 and IPv6 packet positions, each
  // classified in full groups against its own forest (IPv4 packets never touch IPv6 data).
  uint32_t p4[kGroup], p6[kGroup];
  uint32_t n4 = 0, n6 = 0;
  auto flush4 = [&] {
#if defined(__x86_64__)
    if (im.simd) return avx512::ClassifyGroup4<true>(im, keys, p4, 0, n4, match);
#endif
    portable::ClassifyGroup4<true>(im, keys, p4, 0, n4, match);
  };
  auto flush6 = [&] {
#if defined(__x86_64__)
    if (im.simd) return avx512::ClassifyGroup6(im, keys, p6, n6, match);
#endif
    portable::ClassifyGroup6(im, keys, p6, n6, match);
  };
  const bool has6 = !im.v6.trees.empty();
  for (uint32_t i = 0; i < n; i++) {
    const uint8_t v = keys->version[i];
    match[i] = kNoMatch;  // other versions; IPv4 and IPv6 packets are written by their group
    p4[n4] = i;
    p6[n6] = i;
    n4 += v == 4;
    n6 += (v == 6) & has6;
    if (n4 == kGroup) { flush4(); n4 = 0; }
    if (n6 == kGroup) { flush6(); n6 = 0; }
  }
  if (n4) flush4();
  if (n6) flush6();
}

}  // namespace vnf::acl
