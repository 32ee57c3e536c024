// Helpers shared by the test files.
#pragma once

#include <cstdint>
#include <cstdlib>
#include <new>

#include "ring.h"

namespace vt {

// xorshift64*: deterministic and cheap, good enough for picking burst sizes.
struct Rng {
  uint64_t s;
  explicit Rng(uint64_t seed) : s(seed * 0x9E3779B97F4A7C15ull + 1) {}
  uint64_t Next() {
    s ^= s >> 12;
    s ^= s << 25;
    s ^= s >> 27;
    return s * 2685821657736338717ull;
  }
  uint32_t Below(uint32_t n) { return uint32_t((Next() >> 32) % n); }  // [0, n)
};

// A ring on the heap, aligned as RingHeader asks.
class OwnedRing {
 public:
  OwnedRing(uint32_t requested, uint32_t flags) {
    const uint32_t slots = vnf::RingSlotsFor(requested, flags & vnf::kRingExactCapacity);
    const size_t bytes = (vnf::RingMemSize(slots) + 127) / 128 * 128;
    mem_ = std::aligned_alloc(128, bytes);
    r_ = new (mem_) vnf::RingHeader();
    vnf::RingInit(r_, requested, flags);
  }
  ~OwnedRing() {
    r_->~RingHeader();
    std::free(mem_);
  }
  OwnedRing(const OwnedRing&) = delete;
  OwnedRing& operator=(const OwnedRing&) = delete;
  vnf::RingHeader* get() const { return r_; }
  vnf::RingHeader* operator->() const { return r_; }

  // Moves every counter to `start`, as if that many entries had gone through already.
  void SetCounters(uint32_t start) {
    r_->prod.head.store(start);
    r_->prod.tail.store(start);
    r_->cons.head.store(start);
    r_->cons.tail.store(start);
  }

 private:
  void* mem_;
  vnf::RingHeader* r_;
};

}  // namespace vt
