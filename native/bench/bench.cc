// Single-core micro-benchmarks of the ring and the mempool, in cycles (rdtsc) per element,
// mirroring DPDK's ring_perf_autotest and mempool_perf_autotest loops so the numbers can be
// put side by side with DPDK's on the same machine.
//
// Output: one JSON object per line on stdout, first the TSC frequency:
//   {"name":"tsc-hz","unit":"Hz","value":...}
//   {"name":"ring-spsc-bulk-32","unit":"cycles/element","value":1.23}
// Each case is warmed up, calibrated to run ~0.2 s, and measured 3 times; we report the
// BEST (minimum) of the 3 repetitions: on a shared 2-core machine the minimum is the least
// disturbed by other work, and it is what a quiet run of DPDK's autotest shows.
// An optional argument runs only the cases whose name contains it; --experiments adds
// "exp-*" lines measuring variations of the src/ hot paths (see namespace exp).
#include <sched.h>
#include <time.h>
#include <x86intrin.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <memory>
#include <new>
#include <string>

#include "mempool.h"
#include "ring.h"

using namespace vnf;

namespace {

const char* g_filter = nullptr;

inline uint64_t Tsc() {
  _mm_lfence();
  const uint64_t t = __rdtsc();
  _mm_lfence();
  return t;
}

// Makes `p`'s pointee look read and written to the compiler, so work feeding it stays.
template <typename T>
inline void Escape(T* p) {
  asm volatile("" : : "g"(p) : "memory");
}
template <typename T>
inline void Keep(T v) {
  asm volatile("" : : "r"(v));
}

double NowSec() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return double(ts.tv_sec) + double(ts.tv_nsec) * 1e-9;
}

double TscHz() {
  // Best of 3 windows of ~100 ms; the window is bracketed by clock reads on both sides.
  double best = 0;
  for (int rep = 0; rep < 3; rep++) {
    const double t0 = NowSec();
    const uint64_t c0 = Tsc();
    double t1;
    do t1 = NowSec();
    while (t1 - t0 < 0.1);
    const uint64_t c1 = Tsc();
    const double hz = double(c1 - c0) / (t1 - t0);
    if (rep == 0 || hz < best) best = hz;  // preemption only ever adds wall time: take min
  }
  return best;
}

void Print(const std::string& name, const char* unit, double value) {
  std::printf("{\"name\":\"%s\",\"unit\":\"%s\",\"value\":%.4g}\n", name.c_str(), unit, value);
  std::fflush(stdout);
}

bool Selected(const std::string& name) { return !g_filter || name.find(g_filter) != std::string::npos; }

// Runs body(iterations) and returns cycles per element (elements = iterations * per_iter):
// warm-up, calibrate to ~0.2 s, then best of 3.
double Measure(const std::function<void(uint64_t)>& body, uint64_t per_iter, double tsc_hz) {
  body(10000);  // warm-up: caches, TLB, branch predictors
  uint64_t iters = 1000;
  for (;;) {
    const uint64_t c0 = Tsc();
    body(iters);
    const uint64_t c = Tsc() - c0;
    if (double(c) > 0.05 * tsc_hz || iters > (1ull << 36)) {
      iters = uint64_t(double(iters) * (0.2 * tsc_hz) / double(c)) + 1;
      break;
    }
    iters *= 4;
  }
  double best = 0;
  for (int rep = 0; rep < 3; rep++) {
    const uint64_t c0 = Tsc();
    body(iters);
    const uint64_t c = Tsc() - c0;
    const double per = double(c) / double(iters * per_iter);
    if (rep == 0 || per < best) best = per;
  }
  return best;
}

// A ring of 4096 slots (DPDK's RING_SIZE in test_ring_perf.c), heap allocated and aligned.
struct BenchRing {
  explicit BenchRing(uint32_t flags) {
    const size_t bytes = (RingMemSize(4096) + 127) / 128 * 128;
    mem = std::aligned_alloc(128, bytes);
    std::memset(mem, 0, bytes);
    r = new (mem) RingHeader();
    RingInit(r, 4096, flags);
  }
  ~BenchRing() {
    r->~RingHeader();
    std::free(mem);
  }
  void* mem;
  RingHeader* r;
};

void RingCases(double hz) {
  struct Mode {
    const char* name;
    uint32_t flags;
  };
  const Mode modes[] = {{"spsc", kRingSingleProducer | kRingSingleConsumer}, {"mpmc", 0}};
  for (const Mode& m : modes) {
    BenchRing br(m.flags);
    RingHeader* r = br.r;
    alignas(64) uint32_t burst[128];
    for (uint32_t i = 0; i < 128; i++) burst[i] = i;
    // test_single_enqueue_dequeue: one element enqueued then dequeued.
    const std::string single = std::string("ring-") + m.name + "-single";
    if (Selected(single)) {
      const double v = Measure(
          [&](uint64_t iters) {
            uint32_t x = 1, y = 0;
            for (uint64_t i = 0; i < iters; i++) {
              RingEnqueue(r, &x, 1, RingBehavior::kBulk, nullptr);
              RingDequeue(r, &y, 1, RingBehavior::kBulk, nullptr);
            }
            Keep(y);
          },
          1, hz);
      Print(single, "cycles/element", v);
    }
    // test_burst_bulk_enqueue_dequeue: n enqueued then n dequeued on an empty ring.
    for (RingBehavior b : {RingBehavior::kBulk, RingBehavior::kBurst}) {
      for (uint32_t n : {1u, 8u, 32u, 128u}) {
        const std::string name = std::string("ring-") + m.name +
                                 (b == RingBehavior::kBulk ? "-bulk-" : "-burst-") +
                                 std::to_string(n);
        if (!Selected(name)) continue;
        const double v = Measure(
            [&](uint64_t iters) {
              Escape(burst);
              for (uint64_t i = 0; i < iters; i++) {
                RingEnqueue(r, burst, n, b, nullptr);
                RingDequeue(r, burst, n, b, nullptr);
              }
              Escape(burst);
            },
            n, hz);
        Print(name, "cycles/element", v);
      }
    }
  }
}

std::shared_ptr<Pool> BenchPool() {
  PoolConfig c;
  c.name = "bench";
  c.count = 8191;
  c.buf_size = 2048;
  c.cache_size = 512;
  c.prefault = true;
  std::shared_ptr<Pool> p;
  std::string err;
  if (Pool::Create(c, &p, &err) != kOk) {
    std::fprintf(stderr, "pool: %s\n", err.c_str());
    std::exit(1);
  }
  return p;
}

// mempool_perf_autotest's per_lcore_mempool_test inner loop: get `keep` objects in bulks of
// `bulk`, then put them back in bulks of `bulk`. Cost per object = one get + one put.
void MempoolLoop(Pool* p, PoolCache* cache, uint32_t keep, uint32_t bulk, uint64_t iters,
                 bool alloc) {
  alignas(64) uint32_t table[512];
  ErrorDetail d;
  uint64_t fails = 0;
  for (uint64_t i = 0; i < iters; i++) {
    for (uint32_t idx = 0; idx < keep; idx += bulk) {
      const int32_t got = alloc ? p->Alloc(cache, table + idx, bulk, &d)
                                : p->Get(cache, table + idx, bulk, &d);
      fails += got != int32_t(bulk);
    }
    Escape(table);
    for (uint32_t idx = 0; idx < keep; idx += bulk) p->Put(cache, table + idx, bulk, &d);
  }
  if (fails) {
    std::fprintf(stderr, "mempool get failed %llu times\n", (unsigned long long)fails);
    std::exit(1);
  }
}

void MempoolCases(double hz) {
  struct Case {
    const char* name;
    bool cache;
    uint32_t keep, bulk;
    bool alloc;
  };
  const Case cases[] = {
      {"mempool-cache-bulk-32", true, 32, 32, false},
      {"mempool-cache-bulk-1", true, 32, 1, false},
      {"mempool-nocache-mpmc-bulk-32", false, 32, 32, false},
      {"mempool-alloc-free-32", true, 32, 32, true},
  };
  for (const Case& k : cases) {
    if (!Selected(k.name)) continue;
    auto p = BenchPool();
    std::unique_ptr<PoolCache> cache = k.cache ? p->NewCache(512) : nullptr;
    const double v = Measure(
        [&](uint64_t iters) { MempoolLoop(p.get(), cache.get(), k.keep, k.bulk, iters, k.alloc); },
        k.keep, hz);
    Print(k.name, "cycles/object", v);
    if (cache) p->ReleaseCache(cache.get());
  }
}


// ---------------------------------------------------------------------------------------
// Experiments (--experiments): variations of the hot paths written here, in the bench only,
// to measure what the cost of src/ comes from. Same algorithm as src/, one change at a time.
namespace exp {

// Ring copy as a plain loop (what DPDK does) instead of memcpy with a runtime length,
// which GCC turns into a call to glibc's memcpy through the PLT.
// g_hybrid: scalar loop below 8 entries, memcpy (vectorised, in glibc) from 8 up.
bool g_hybrid = false;
inline void CopyInLoop(RingHeader* r, uint32_t head, const uint32_t* src, uint32_t n) {
  uint32_t* slots = r->slots();
  const uint32_t idx = head & r->mask;
  if (__builtin_expect(idx + n <= r->size, 1)) {
    if (g_hybrid && n >= 8) return (void)std::memcpy(slots + idx, src, size_t(n) * 4);
    for (uint32_t i = 0; i < n; i++) slots[idx + i] = src[i];
  } else {
    for (uint32_t i = 0; i < n; i++) slots[(idx + i) & r->mask] = src[i];
  }
}
inline void CopyOutLoop(const RingHeader* r, uint32_t head, uint32_t* dst, uint32_t n) {
  const uint32_t* slots = r->slots();
  const uint32_t idx = head & r->mask;
  if (__builtin_expect(idx + n <= r->size, 1)) {
    if (g_hybrid && n >= 8) return (void)std::memcpy(dst, slots + idx, size_t(n) * 4);
    for (uint32_t i = 0; i < n; i++) dst[i] = slots[idx + i];
  } else {
    for (uint32_t i = 0; i < n; i++) dst[i] = slots[(idx + i) & r->mask];
  }
}

// RingEnqueue/RingDequeue of src/ring.h with the copy swapped for the loops above.
inline uint32_t Enqueue(RingHeader* r, const uint32_t* src, uint32_t n, RingBehavior behavior) {
  const bool single = r->flags & kRingSingleProducer;
  const uint32_t capacity = r->capacity;
  uint32_t old_head, new_head, free_entries;
  const uint32_t max = n;
  old_head = r->prod.head.load(std::memory_order_relaxed);
  for (;;) {
    n = max;
    const uint32_t cons_tail = r->cons.tail.load(std::memory_order_acquire);
    free_entries = capacity + cons_tail - old_head;
    if (n > free_entries) n = behavior == RingBehavior::kBulk ? 0 : free_entries;
    if (n == 0) return 0;
    new_head = old_head + n;
    if (single) {
      r->prod.head.store(new_head, std::memory_order_relaxed);
      break;
    }
    if (r->prod.head.compare_exchange_weak(old_head, new_head, std::memory_order_relaxed,
                                           std::memory_order_relaxed))
      break;
  }
  CopyInLoop(r, old_head, src, n);
  if (!single) ring_detail::WaitTail(r->prod.tail, old_head);
  r->prod.tail.store(new_head, std::memory_order_release);
  return n;
}
inline uint32_t Dequeue(RingHeader* r, uint32_t* dst, uint32_t n, RingBehavior behavior) {
  const bool single = r->flags & kRingSingleConsumer;
  uint32_t old_head, new_head, entries;
  const uint32_t max = n;
  old_head = r->cons.head.load(std::memory_order_relaxed);
  for (;;) {
    n = max;
    const uint32_t prod_tail = r->prod.tail.load(std::memory_order_acquire);
    entries = prod_tail - old_head;
    if (n > entries) n = behavior == RingBehavior::kBulk ? 0 : entries;
    if (n == 0) return 0;
    new_head = old_head + n;
    if (single) {
      r->cons.head.store(new_head, std::memory_order_relaxed);
      break;
    }
    if (r->cons.head.compare_exchange_weak(old_head, new_head, std::memory_order_relaxed,
                                           std::memory_order_relaxed))
      break;
  }
  CopyOutLoop(r, old_head, dst, n);
  if (!single) ring_detail::WaitTail(r->cons.tail, old_head);
  r->cons.tail.store(new_head, std::memory_order_release);
  return n;
}

// Pool::Get / Pool::Put (non-debug) on the same Pool, with switches:
//   kLockedStats: hits/misses as fetch_add (lock inc, as src/) or owner-only load+store
//   kMemcpy:      cache fill by memcpy (as src/) or by a loop
template <bool kLockedStats>
inline void Bump(std::atomic<uint64_t>& c) {
  if (kLockedStats) c.fetch_add(1, std::memory_order_relaxed);
  else c.store(c.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
}

template <bool kLockedStats, bool kMemcpy, bool kLoopRing>
inline int32_t Get(Pool* p, PoolCache* cache, uint32_t* dst, uint32_t n) {
  auto deq = [&](uint32_t* d, uint32_t k) {
    return kLoopRing ? Dequeue(p->ring(), d, k, RingBehavior::kBulk)
                     : RingDequeue(p->ring(), d, k, RingBehavior::kBulk, nullptr);
  };
  if (n == 0) return 0;
  if (cache == nullptr || cache->size == 0 || n >= cache->size) {
    if (cache) Bump<kLockedStats>(cache->misses);
    if (deq(dst, n) == 0) return 0;
    return int32_t(n);
  }
  if (cache->len < n) {
    const uint32_t req = n + (cache->size - cache->len);
    Bump<kLockedStats>(cache->misses);
    if (deq(cache->objs.data() + cache->len, req) == 0) {
      if (deq(dst, n) == 0) return 0;
      return int32_t(n);
    }
    cache->len += req;
  } else {
    Bump<kLockedStats>(cache->hits);
  }
  const uint32_t* top = cache->objs.data() + cache->len;
  for (uint32_t i = 0; i < n; i++) dst[i] = *(--top);
  cache->len -= n;
  cache->published_len.store(cache->len, std::memory_order_relaxed);
  return int32_t(n);
}

template <bool kLockedStats, bool kMemcpy, bool kLoopRing>
inline int32_t Put(Pool* p, PoolCache* cache, const uint32_t* src, uint32_t n) {
  auto enq = [&](const uint32_t* s, uint32_t k) {
    return kLoopRing ? Enqueue(p->ring(), s, k, RingBehavior::kBulk)
                     : RingEnqueue(p->ring(), s, k, RingBehavior::kBulk, nullptr);
  };
  if (n == 0) return 0;
  if (cache == nullptr || cache->size == 0 || n > kCacheMaxSize) {
    enq(src, n);
    return int32_t(n);
  }
  uint32_t* to = cache->objs.data() + cache->len;
  if (kMemcpy) std::memcpy(to, src, size_t(n) * 4);
  else for (uint32_t i = 0; i < n; i++) to[i] = src[i];
  cache->len += n;
  if (cache->len >= cache->flush_threshold) {
    enq(cache->objs.data() + cache->size, cache->len - cache->size);
    cache->len = cache->size;
  }
  cache->published_len.store(cache->len, std::memory_order_relaxed);
  return int32_t(n);
}

// Same loop as MempoolLoop, over the variant.
template <bool kLockedStats, bool kMemcpy, bool kLoopRing>
void Loop(Pool* p, PoolCache* cache, uint32_t keep, uint32_t bulk, uint64_t iters) {
  alignas(64) uint32_t table[512];
  for (uint64_t i = 0; i < iters; i++) {
    for (uint32_t idx = 0; idx < keep; idx += bulk)
      Get<kLockedStats, kMemcpy, kLoopRing>(p, cache, table + idx, bulk);
    Escape(table);
    for (uint32_t idx = 0; idx < keep; idx += bulk)
      Put<kLockedStats, kMemcpy, kLoopRing>(p, cache, table + idx, bulk);
  }
}

void Run(double hz) {
  // Ring: src/ (memcpy) vs copy loop, runtime n.
  for (uint32_t flags : {uint32_t(kRingSingleProducer | kRingSingleConsumer), 0u}) {
    const char* mode = flags ? "spsc" : "mpmc";
    BenchRing br(flags);
    RingHeader* r = br.r;
    alignas(64) uint32_t burst[128];
    for (uint32_t i = 0; i < 128; i++) burst[i] = i;
    for (bool hybrid : {false, true})
    for (uint32_t n : {1u, 8u, 32u, 128u}) {
      g_hybrid = hybrid;
      volatile uint32_t vn = n;  // as in an application: the burst size is not a constant
      const double loop = Measure(
          [&](uint64_t iters) {
            const uint32_t k = vn;
            Escape(burst);
            for (uint64_t i = 0; i < iters; i++) {
              Enqueue(r, burst, k, RingBehavior::kBulk);
              Dequeue(r, burst, k, RingBehavior::kBulk);
            }
            Escape(burst);
          },
          n, hz);
      Print(std::string("exp-ring-") + mode + "-bulk-" + std::to_string(n) +
                (hybrid ? "-copyhybrid" : "-copyloop"),
            "cycles/element", loop);
    }
  }
  g_hybrid = false;
  // Mempool variants, cache of 512 on 8191 x 2048 as the main cases.
  struct V {
    const char* name;
    void (*fn)(Pool*, PoolCache*, uint32_t, uint32_t, uint64_t);
  };
  const V variants[] = {
      {"inline-as-src", &Loop<true, true, false>},
      {"inline-nolock-stats", &Loop<false, true, false>},
      {"inline-nolock-stats-copyloop", &Loop<false, false, false>},
      {"inline-nolock-stats-copyloop-ringloop", &Loop<false, false, true>},
  };
  for (uint32_t bulk : {1u, 32u}) {
    for (const V& v : variants) {
      auto p = BenchPool();
      auto cache = p->NewCache(512);
      const double c = Measure([&](uint64_t iters) { v.fn(p.get(), cache.get(), 32, bulk, iters); },
                               32, hz);
      Print(std::string("exp-mempool-cache-bulk-") + std::to_string(bulk) + "-" + v.name,
            "cycles/object", c);
      p->ReleaseCache(cache.get());
    }
  }
  {
    auto p = BenchPool();
    for (const V& v : {V{"inline-as-src", &Loop<true, true, false>},
                       V{"inline-ringloop", &Loop<true, true, true>}}) {
      const double c =
          Measure([&](uint64_t iters) { v.fn(p.get(), nullptr, 32, 32, iters); }, 32, hz);
      Print(std::string("exp-mempool-nocache-mpmc-bulk-32-") + v.name, "cycles/object", c);
    }
  }
}

}  // namespace exp

}  // namespace

int main(int argc, char** argv) {
  bool experiments = false;
  for (int i = 1; i < argc; i++) {
    if (std::strcmp(argv[i], "--experiments") == 0) experiments = true;
    else g_filter = argv[i];
  }
  cpu_set_t set;
  CPU_ZERO(&set);
  CPU_SET(0, &set);
  if (sched_setaffinity(0, sizeof(set), &set) != 0) std::perror("sched_setaffinity (continuing)");
  const double hz = TscHz();
  Print("tsc-hz", "Hz", hz);
  RingCases(hz);
  MempoolCases(hz);
  if (experiments) exp::Run(hz);
  return 0;
}
