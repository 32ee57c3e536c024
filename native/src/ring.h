// Lock-free ring of 32-bit indices with rte_ring semantics.
//
// Why this shape: producers and consumers each own a head/tail pair on their own cache
// lines; a producer first reserves slots by moving prod.head (CAS when several producers
// share the ring), copies, then publishes by moving prod.tail in reservation order. The
// counters run freely over 2^32 and are masked on access, so "full" and "empty" never need
// a wasted slot; the classic capacity of size-1 is kept only for rte_ring compatibility
// when the caller asks for a power-of-two size without the exact-capacity option.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <sched.h>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define VNF_PAUSE() _mm_pause()
#elif defined(__aarch64__)
#define VNF_PAUSE() asm volatile("yield" ::: "memory")
#else
#define VNF_PAUSE() ((void)0)
#endif

namespace vnf {

constexpr uint32_t kRingMaxSize = 1u << 28;  // 1 GiB of slots: far beyond any sane pool

enum RingFlags : uint32_t {
  kRingSingleProducer = 1u << 0,
  kRingSingleConsumer = 1u << 1,
  kRingExactCapacity = 1u << 2,
};

// Bulk is all or nothing; burst takes as many as fit (rte_ring's FIXED and VARIABLE).
enum class RingBehavior { kBulk, kBurst };

struct alignas(128) RingHeadTail {
  std::atomic<uint32_t> head{0};
  std::atomic<uint32_t> tail{0};
};

// Laid out so that it can live in shared memory: plain header then the slots.
struct alignas(128) RingHeader {
  uint32_t size;      // number of slots, a power of two
  uint32_t mask;      // size - 1
  uint32_t capacity;  // usable entries: size - 1, or the exact count asked for
  uint32_t flags;
  RingHeadTail prod;
  RingHeadTail cons;
  // slots follow, 128-byte aligned
  uint32_t* slots() { return reinterpret_cast<uint32_t*>(this + 1); }
  const uint32_t* slots() const { return reinterpret_cast<const uint32_t*>(this + 1); }
};
static_assert(sizeof(RingHeader) % 128 == 0, "slots must start on their own cache line");

inline uint32_t RingNextPow2(uint32_t v) {
  if (v <= 1) return 1;
  return 1u << (32 - __builtin_clz(v - 1));
}

// Size in bytes of a ring able to hold `slots` entries (a power of two).
inline size_t RingMemSize(uint32_t slots) { return sizeof(RingHeader) + size_t(slots) * 4; }

// Computes the slot count for a requested size; returns 0 if the request is invalid.
// Without exact capacity `requested` must be a power of two (capacity = requested - 1);
// with it, any count >= 1 is accepted and rounded up to the next power of two of slots.
inline uint32_t RingSlotsFor(uint32_t requested, bool exact) {
  if (requested == 0 || requested > kRingMaxSize) return 0;
  if (exact) return RingNextPow2(requested);
  if ((requested & (requested - 1)) != 0 || requested < 2) return 0;
  return requested;
}

inline void RingInit(RingHeader* r, uint32_t requested, uint32_t flags) {
  const bool exact = flags & kRingExactCapacity;
  const uint32_t slots = RingSlotsFor(requested, exact);
  r->size = slots;
  r->mask = slots - 1;
  r->capacity = exact ? requested : slots - 1;
  r->flags = flags;
  r->prod.head.store(0, std::memory_order_relaxed);
  r->prod.tail.store(0, std::memory_order_relaxed);
  r->cons.head.store(0, std::memory_order_relaxed);
  r->cons.tail.store(0, std::memory_order_relaxed);
}

namespace ring_detail {

// Copies n entries into the ring starting at counter `head`, splitting at the wrap. Short
// copies use a loop: memcpy with a run-time length is a call into libc, which for one or
// two entries costs more than the copy (measured: 13.6 -> 7.2 cycles for a single entry).
inline void CopyEntries(uint32_t* dst, const uint32_t* src, uint32_t n) {
  if (n < 8) {
    for (uint32_t i = 0; i < n; i++) dst[i] = src[i];
  } else {
    std::memcpy(dst, src, size_t(n) * 4);
  }
}

// The wrapped case is rare (once per lap of the ring), so it copies entry by entry.
inline void CopyIn(RingHeader* r, uint32_t head, const uint32_t* src, uint32_t n) {
  uint32_t* slots = r->slots();
  const uint32_t idx = head & r->mask;
  if (idx + n <= r->size) {
    CopyEntries(slots + idx, src, n);
  } else {
    for (uint32_t i = 0; i < n; i++) slots[(idx + i) & r->mask] = src[i];
  }
}

inline void CopyOut(const RingHeader* r, uint32_t head, uint32_t* dst, uint32_t n) {
  const uint32_t* slots = r->slots();
  const uint32_t idx = head & r->mask;
  if (idx + n <= r->size) {
    CopyEntries(dst, slots + idx, n);
  } else {
    for (uint32_t i = 0; i < n; i++) dst[i] = slots[(idx + i) & r->mask];
  }
}

// With several producers (or consumers), each must publish its tail in the order the
// heads were reserved. If the one before us was preempted we would spin for a whole time
// slice, so after a while we give the CPU away: on a 2-core VM with more threads than
// cores this is the difference between microseconds and milliseconds.
// The load is an acquire: the entries the earlier producers (consumers) copied must be
// visible to whoever synchronises with our tail store. Free on x86, and without it the
// C++ model (and ThreadSanitizer) sees a race on the slots.
inline void WaitTail(std::atomic<uint32_t>& tail, uint32_t expected) {
  unsigned spins = 0;
  while (tail.load(std::memory_order_acquire) != expected) {
    if (++spins < 256) {
      VNF_PAUSE();
    } else {
      sched_yield();
    }
  }
}

}  // namespace ring_detail

namespace ring_detail {

template <bool single>
inline uint32_t Enqueue(RingHeader* r, const uint32_t* src, uint32_t n, RingBehavior behavior,
                        uint32_t* free_space) {
  const uint32_t capacity = r->capacity;
  uint32_t old_head, new_head, free_entries;
  const uint32_t max = n;
  // Acquire head loads and CAS, as DPDK's C11 ring now has them: on CPUs whose acquire loads
  // are weaker (RCpc), a relaxed head could pair with a newer tail. No cost on x86.
  old_head = r->prod.head.load(std::memory_order_acquire);
  for (;;) {
    n = max;
    // Our head must be read before the other side's tail (as DPDK's C11 ring does); else on
    // weakly ordered CPUs a stale head with a newer tail overstates the free space. A no-op
    // on x86. The acquire load pairs with the consumers' release of cons.tail: the slots we
    // are about to overwrite have been read.
    std::atomic_thread_fence(std::memory_order_acquire);
    const uint32_t cons_tail = r->cons.tail.load(std::memory_order_acquire);
    free_entries = capacity + cons_tail - old_head;
    if (n > free_entries) n = behavior == RingBehavior::kBulk ? 0 : free_entries;
    if (n == 0) {
      if (free_space) *free_space = free_entries;
      return 0;
    }
    new_head = old_head + n;
    if constexpr (single) {
      r->prod.head.store(new_head, std::memory_order_relaxed);
      break;
    }
    if (r->prod.head.compare_exchange_weak(old_head, new_head, std::memory_order_acquire,
                                           std::memory_order_acquire)) {
      break;
    }
  }
  CopyIn(r, old_head, src, n);
  if constexpr (!single) WaitTail(r->prod.tail, old_head);
  r->prod.tail.store(new_head, std::memory_order_release);
  if (free_space) *free_space = free_entries - n;
  return n;
}

template <bool single>
inline uint32_t Dequeue(RingHeader* r, uint32_t* dst, uint32_t n, RingBehavior behavior,
                        uint32_t* available) {
  uint32_t old_head, new_head, entries;
  const uint32_t max = n;
  old_head = r->cons.head.load(std::memory_order_acquire);
  for (;;) {
    n = max;
    // Head before tail, as in RingEnqueue. Acquire pairs with the producers' release of
    // prod.tail: the slots are written.
    std::atomic_thread_fence(std::memory_order_acquire);
    const uint32_t prod_tail = r->prod.tail.load(std::memory_order_acquire);
    entries = prod_tail - old_head;
    if (n > entries) n = behavior == RingBehavior::kBulk ? 0 : entries;
    if (n == 0) {
      if (available) *available = entries;
      return 0;
    }
    new_head = old_head + n;
    if constexpr (single) {
      r->cons.head.store(new_head, std::memory_order_relaxed);
      break;
    }
    if (r->cons.head.compare_exchange_weak(old_head, new_head, std::memory_order_acquire,
                                           std::memory_order_acquire)) {
      break;
    }
  }
  CopyOut(r, old_head, dst, n);
  if constexpr (!single) WaitTail(r->cons.tail, old_head);
  r->cons.tail.store(new_head, std::memory_order_release);
  if (available) *available = entries - n;
  return n;
}

}  // namespace ring_detail

// Enqueues up to n entries. Returns how many were enqueued (0 or n for kBulk).
// free_space, if given, receives the free slots left after the operation.
// The single/multi choice is made once here, so each variant compiles to straight-line code.
inline uint32_t RingEnqueue(RingHeader* r, const uint32_t* src, uint32_t n, RingBehavior behavior,
                            uint32_t* free_space) {
  return (r->flags & kRingSingleProducer)
             ? ring_detail::Enqueue<true>(r, src, n, behavior, free_space)
             : ring_detail::Enqueue<false>(r, src, n, behavior, free_space);
}

// Dequeues up to n entries. Returns how many were dequeued (0 or n for kBulk).
// available, if given, receives the entries left after the operation.
inline uint32_t RingDequeue(RingHeader* r, uint32_t* dst, uint32_t n, RingBehavior behavior,
                            uint32_t* available) {
  return (r->flags & kRingSingleConsumer)
             ? ring_detail::Dequeue<true>(r, dst, n, behavior, available)
             : ring_detail::Dequeue<false>(r, dst, n, behavior, available);
}

// Entries in the ring; exact when no operation is in flight, a snapshot otherwise.
inline uint32_t RingCount(const RingHeader* r) {
  // Consumer tail first: if consumers move on between the two reads we overestimate (and
  // clamp), where the other order could wrap a nearly empty ring into "full".
  const uint32_t cons_tail = r->cons.tail.load(std::memory_order_acquire);
  const uint32_t prod_tail = r->prod.tail.load(std::memory_order_acquire);
  const uint32_t count = prod_tail - cons_tail;
  return count > r->capacity ? r->capacity : count;
}

inline uint32_t RingFreeCount(const RingHeader* r) { return r->capacity - RingCount(r); }

}  // namespace vnf
