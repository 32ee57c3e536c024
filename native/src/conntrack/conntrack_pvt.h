// Private layout of the session table: the 64-byte session record, the 64-byte index bucket
// (8 slots of 16-bit signature + 32-bit value), the hash. See docs/conntrack.md, "Layout".
#pragma once

#include <atomic>
#include <cstdint>
#include <cstring>

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

constexpr uint32_t kSlots = 8;
constexpr uint32_t kEmpty = 0xffffffffu;  // slot value of an empty slot

// Slot value = session << 1 | dir. sig packs the 8 16-bit signatures in two words so a reader
// loads them with two atomic loads and compares them with SWAR.
struct alignas(64) Bucket {
  std::atomic<uint64_t> sig[2];
  std::atomic<uint32_t> val[kSlots];
  uint8_t pad[16];
};
static_assert(sizeof(Bucket) == 64);

// Bit i set when signature i of the bucket equals sig (exact, no false positives).
inline uint32_t SigMatch(const Bucket& b, uint16_t sig) {
  const uint64_t rep = 0x0001000100010001ull * sig;
  const uint64_t lo7 = 0x7fff7fff7fff7fffull, hi = 0x8000800080008000ull;
  uint32_t m = 0;
  for (int w = 0; w < 2; w++) {
    const uint64_t x = b.sig[w].load(std::memory_order_acquire) ^ rep;
    const uint64_t nz = (((x & lo7) + lo7) | x) & hi;  // high bit of each lane set if lane != 0
    uint64_t z = ~nz & hi;                             // lanes equal to sig
    // Gather bits 15, 31, 47, 63 into 4 bits.
    z >>= 15;
    const uint32_t g = uint32_t((z | z >> 15 | z >> 30 | z >> 45) & 0xf);
    m |= g << (4 * w);
  }
  return m;
}

inline void SetSig(Bucket& b, uint32_t slot, uint16_t sig) {
  std::atomic<uint64_t>& w = b.sig[slot >> 2];
  const uint32_t sh = (slot & 3) * 16;
  const uint64_t old = w.load(std::memory_order_relaxed);
  w.store((old & ~(0xffffull << sh)) | uint64_t(sig) << sh, std::memory_order_release);
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
