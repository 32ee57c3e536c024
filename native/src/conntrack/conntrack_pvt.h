// Private layout of the session table: the 64-byte session record, the 64-byte index bucket
// (16 entries of signature + value in 32 bits), the hash. See docs/conntrack.md, "Layout".
#pragma once

#include <atomic>
#include <cstdint>
#include <cstring>
#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#include "conntrack/conntrack.h"

namespace vnf::conntrack::detail {

// ctl word of a session: generation (high 32 bits; odd = free or being freed, even = live),
// then proto (8), flags (8), state (8), mark (8: the creator's, e.g. NAT's side bits).
inline uint32_t CtlGen(uint64_t c) { return uint32_t(c >> 32); }
inline uint8_t CtlProto(uint64_t c) { return uint8_t(c >> 24); }
inline uint8_t CtlFlags(uint64_t c) { return uint8_t(c >> 16); }
inline uint8_t CtlState(uint64_t c) { return uint8_t(c >> 8); }
inline uint8_t CtlMark(uint64_t c) { return uint8_t(c); }
inline uint64_t MakeCtl(uint32_t gen, uint8_t proto, uint8_t flags, uint8_t state, uint8_t mark) {
  return uint64_t(gen) << 32 | uint64_t(proto) << 24 | uint64_t(flags) << 16 | uint64_t(state) << 8 | mark;
}
inline bool GenLive(uint32_t gen) { return (gen & 1) == 0; }

// A tuple as two 64-bit words: src | dst << 32, sport | dport << 16 | proto << 32.
inline uint64_t Word0(const Tuple& t) { return uint64_t(t.src) | uint64_t(t.dst) << 32; }
inline uint64_t Word1(const Tuple& t) {
  return uint64_t(t.sport) | uint64_t(t.dport) << 16 | uint64_t(t.proto) << 32;
}
inline Tuple FromWords(uint64_t w0, uint64_t w1) {
  return MakeTuple(uint32_t(w0), uint32_t(w0 >> 32), uint16_t(w1), uint16_t(w1 >> 16), uint8_t(w1 >> 32));
}

// Fields are atomics because lock-free readers may read a slot while a writer reuses it (the
// generation tells them afterwards); relaxed loads and stores compile to plain moves.
struct alignas(64) Session {
  std::atomic<uint64_t> key[2][2];   // [dir][word]: original tuple, reply tuple
  std::atomic<uint64_t> ctl;         // gen | proto | flags | state
  std::atomic<uint64_t> expires;     // deadline (ticks); while free: next free slot
  std::atomic<uint32_t> packets[2];  // per direction (one writer per direction: RSS)
  std::atomic<uint32_t> bytes[2];
};
static_assert(sizeof(Session) == 64);

constexpr uint32_t kSlots = 16;

// An index entry is one 32-bit word: sig << val_bits | val, where val = session << 1 | dir and
// val_bits is the fewest bits that hold 2 * capacity - 1 (21 at 10^6 sessions, leaving an
// 11-bit signature; at least 4 signature bits, hence capacity <= 2^27). A signature is never 0,
// so 0 is an empty slot (a fresh mapping is all empty). Sixteen entries fill the bucket's line:
// half the index of the 8 x (16-bit sig + 32-bit val) layout this replaced, which at 10^6
// sessions lets the index stay in the last-level cache while the session records stream
// through it (docs/conntrack.md, "Layout and memory").
struct alignas(64) Bucket {
  std::atomic<uint32_t> slot[kSlots];
};
static_assert(sizeof(Bucket) == 64 && sizeof(std::atomic<uint32_t>) == 4);
static_assert(std::atomic<uint32_t>::is_always_lock_free);

// Bit i set when entry i of the bucket has signature `tag` (sig << val_bits; sig_mask covers the
// signature bits). A hint: the vector load below is not atomic as a whole (and races the
// writer's stores, as rte_hash's plain loads of its signature array do), so a reader then loads
// each candidate entry atomically and compares the session's tuple, and fences before it
// re-reads the move counter to confirm a miss (Table::LookupOneSlow).
inline uint32_t SigMatch(const Bucket& b, uint32_t tag, uint32_t sig_mask) {
#if defined(__SSE2__)
  const __m128i m = _mm_set1_epi32(int(sig_mask)), t = _mm_set1_epi32(int(tag));
  const __m128i* p = reinterpret_cast<const __m128i*>(&b.slot[0]);
  uint32_t r = 0;
  for (int i = 0; i < 4; i++) {
    const __m128i x = _mm_cmpeq_epi32(_mm_and_si128(_mm_load_si128(p + i), m), t);
    r |= uint32_t(_mm_movemask_ps(_mm_castsi128_ps(x))) << (4 * i);
  }
  return r;
#else
  uint32_t r = 0;
  for (uint32_t i = 0; i < kSlots; i++) {
    r |= uint32_t((b.slot[i].load(std::memory_order_relaxed) & sig_mask) == tag) << i;
  }
  return r;
#endif
}

inline uint64_t Rotl(uint64_t x, int r) { return x << r | x >> (64 - r); }

// 64-bit hash of a tuple's two words: two multiplies and a fold (wyhash-like mixing).
inline uint64_t HashWords(uint64_t w0, uint64_t w1, uint64_t seed) {
  const unsigned __int128 p =
      (unsigned __int128)(w0 ^ seed) * (Rotl(w1, 17) ^ seed ^ 0x9E3779B97F4A7C15ull);
  uint64_t h = uint64_t(p) ^ uint64_t(p >> 64);
  h ^= w1 * 0xC2B2AE3D27D4EB4Full;
  h ^= h >> 29;
  h *= 0xBF58476D1CE4E5B9ull;
  h ^= h >> 32;
  return h;
}

// Bucket from 32 hash bits without division (Lemire's fast range); any bucket count.
inline uint32_t FastRange(uint32_t x, uint32_t n) { return uint32_t((uint64_t(x) * n) >> 32); }

}  // namespace vnf::conntrack::detail
