// Unit and stress tests of src/ring.h.
#include <atomic>
#include <deque>
#include <thread>
#include <vector>

#include "harness.h"
#include "ring.h"
#include "test_util.h"

using namespace vnf;
using vt::OwnedRing;
using vt::Rng;

namespace {

constexpr RingBehavior kBulk = RingBehavior::kBulk;
constexpr RingBehavior kBurst = RingBehavior::kBurst;

#if defined(__SANITIZE_ADDRESS__)
constexpr bool kSanitized = true;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
constexpr bool kSanitized = true;
#else
constexpr bool kSanitized = false;
#endif
#else
constexpr bool kSanitized = false;
#endif

}  // namespace

TEST(ring_slots_for_validation) {
  // Zero is never valid.
  CHECK_EQ(RingSlotsFor(0, false), 0u);
  CHECK_EQ(RingSlotsFor(0, true), 0u);
  // Without exact capacity: a power of two >= 2.
  CHECK_EQ(RingSlotsFor(1, false), 0u);  // capacity would be 0
  CHECK_EQ(RingSlotsFor(2, false), 2u);
  CHECK_EQ(RingSlotsFor(3, false), 0u);
  CHECK_EQ(RingSlotsFor(1000, false), 0u);
  CHECK_EQ(RingSlotsFor(1024, false), 1024u);
  CHECK_EQ(RingSlotsFor(kRingMaxSize - 1, false), 0u);
  CHECK_EQ(RingSlotsFor(kRingMaxSize, false), kRingMaxSize);
  // With exact capacity: any count, rounded up to a power of two of slots.
  CHECK_EQ(RingSlotsFor(1, true), 1u);
  CHECK_EQ(RingSlotsFor(2, true), 2u);
  CHECK_EQ(RingSlotsFor(3, true), 4u);
  CHECK_EQ(RingSlotsFor(5, true), 8u);
  CHECK_EQ(RingSlotsFor(1000, true), 1024u);
  CHECK_EQ(RingSlotsFor(1024, true), 1024u);
  CHECK_EQ(RingSlotsFor(1025, true), 2048u);
  CHECK_EQ(RingSlotsFor(kRingMaxSize - 1, true), kRingMaxSize);
  CHECK_EQ(RingSlotsFor(kRingMaxSize, true), kRingMaxSize);
  // Above the maximum.
  CHECK_EQ(RingSlotsFor(kRingMaxSize + 1, true), 0u);
  CHECK_EQ(RingSlotsFor(kRingMaxSize + 1, false), 0u);
  CHECK_EQ(RingSlotsFor(kRingMaxSize * 2, false), 0u);
  CHECK_EQ(RingSlotsFor(UINT32_MAX, true), 0u);
  CHECK_EQ(RingSlotsFor(UINT32_MAX, false), 0u);
  CHECK_EQ(RingSlotsFor(1u << 31, false), 0u);
  // RingMemSize: header then 4 bytes per slot.
  CHECK_EQ(RingMemSize(16), sizeof(RingHeader) + 64);
  CHECK_EQ(sizeof(RingHeader) % 128, 0u);
}

TEST(ring_capacity_pow2_vs_exact) {
  uint32_t buf[64];
  for (uint32_t i = 0; i < 64; i++) buf[i] = i;
  {
    OwnedRing r(16, 0);
    CHECK_EQ(r->size, 16u);
    CHECK_EQ(r->mask, 15u);
    CHECK_EQ(r->capacity, 15u);
    CHECK_EQ(RingFreeCount(r.get()), 15u);
    CHECK_EQ(RingEnqueue(r.get(), buf, 16, kBulk, nullptr), 0u);
    CHECK_EQ(RingEnqueue(r.get(), buf, 16, kBurst, nullptr), 15u);
    CHECK_EQ(RingCount(r.get()), 15u);
    CHECK_EQ(RingFreeCount(r.get()), 0u);
  }
  {
    OwnedRing r(16, kRingExactCapacity);
    CHECK_EQ(r->size, 16u);
    CHECK_EQ(r->capacity, 16u);
    CHECK_EQ(RingEnqueue(r.get(), buf, 16, kBulk, nullptr), 16u);
    CHECK_EQ(RingCount(r.get()), 16u);
    CHECK_EQ(RingFreeCount(r.get()), 0u);
    CHECK_EQ(RingEnqueue(r.get(), buf, 1, kBurst, nullptr), 0u);
    uint32_t out[16];
    CHECK_EQ(RingDequeue(r.get(), out, 16, kBulk, nullptr), 16u);
    for (uint32_t i = 0; i < 16; i++) CHECK_EQ(out[i], i);
  }
  {
    OwnedRing r(5, kRingExactCapacity | kRingSingleProducer | kRingSingleConsumer);
    CHECK_EQ(r->size, 8u);
    CHECK_EQ(r->mask, 7u);
    CHECK_EQ(r->capacity, 5u);
    CHECK_EQ(RingEnqueue(r.get(), buf, 6, kBulk, nullptr), 0u);
    uint32_t fs = 99;
    CHECK_EQ(RingEnqueue(r.get(), buf, 6, kBurst, &fs), 5u);
    CHECK_EQ(fs, 0u);
  }
  {
    OwnedRing r(1, kRingExactCapacity);
    CHECK_EQ(r->size, 1u);
    CHECK_EQ(r->capacity, 1u);
    uint32_t out = 0;
    for (uint32_t i = 0; i < 10; i++) {
      CHECK_EQ(RingEnqueue(r.get(), &i, 1, kBulk, nullptr), 1u);
      CHECK_EQ(RingEnqueue(r.get(), &i, 1, kBulk, nullptr), 0u);
      CHECK_EQ(RingDequeue(r.get(), &out, 1, kBulk, nullptr), 1u);
      CHECK_EQ(out, i);
    }
  }
  {
    OwnedRing r(2, 0);
    CHECK_EQ(r->capacity, 1u);
  }
}

TEST(ring_bulk_all_or_nothing_burst_partial) {
  for (uint32_t flags : {0u, uint32_t(kRingSingleProducer | kRingSingleConsumer)}) {
    OwnedRing r(16, flags);  // capacity 15
    uint32_t in[32], out[32];
    for (uint32_t i = 0; i < 32; i++) in[i] = 1000 + i;
    uint32_t fs = 12345, av = 12345;

    CHECK_EQ(RingEnqueue(r.get(), in, 10, kBulk, &fs), 10u);
    CHECK_EQ(fs, 5u);
    CHECK_EQ(RingEnqueue(r.get(), in + 10, 6, kBulk, &fs), 0u);  // all or nothing
    CHECK_EQ(fs, 5u);                                              // free space unchanged
    CHECK_EQ(RingCount(r.get()), 10u);
    CHECK_EQ(RingEnqueue(r.get(), in + 10, 6, kBurst, &fs), 5u);  // as many as fit
    CHECK_EQ(fs, 0u);
    CHECK_EQ(RingCount(r.get()), 15u);
    CHECK_EQ(RingEnqueue(r.get(), in, 1, kBurst, &fs), 0u);
    CHECK_EQ(fs, 0u);
    CHECK_EQ(RingEnqueue(r.get(), in, 1, kBulk, &fs), 0u);
    CHECK_EQ(fs, 0u);
    fs = 7;
    CHECK_EQ(RingEnqueue(r.get(), in, 0, kBulk, &fs), 0u);  // n = 0 still reports
    CHECK_EQ(fs, 0u);

    CHECK_EQ(RingDequeue(r.get(), out, 16, kBulk, &av), 0u);
    CHECK_EQ(av, 15u);
    CHECK_EQ(RingDequeue(r.get(), out, 4, kBulk, &av), 4u);
    CHECK_EQ(av, 11u);
    CHECK_EQ(RingDequeue(r.get(), out + 4, 20, kBurst, &av), 11u);
    CHECK_EQ(av, 0u);
    for (uint32_t i = 0; i < 15; i++) CHECK_EQ(out[i], 1000 + i);
    CHECK_EQ(RingDequeue(r.get(), out, 1, kBurst, &av), 0u);
    CHECK_EQ(av, 0u);
    CHECK_EQ(RingDequeue(r.get(), out, 1, kBulk, &av), 0u);
    CHECK_EQ(av, 0u);
    av = 7;
    CHECK_EQ(RingDequeue(r.get(), out, 0, kBurst, &av), 0u);
    CHECK_EQ(av, 0u);
    CHECK_EQ(RingCount(r.get()), 0u);
    CHECK_EQ(RingFreeCount(r.get()), 15u);

    // Out-params are optional.
    CHECK_EQ(RingEnqueue(r.get(), in, 3, kBulk, nullptr), 3u);
    CHECK_EQ(RingDequeue(r.get(), out, 3, kBurst, nullptr), 3u);
    // free_space after a partial burst, available after a partial dequeue.
    CHECK_EQ(RingEnqueue(r.get(), in, 7, kBurst, &fs), 7u);
    CHECK_EQ(fs, 8u);
    CHECK_EQ(RingDequeue(r.get(), out, 2, kBurst, &av), 2u);
    CHECK_EQ(av, 5u);
    CHECK_EQ(out[0], 1000u);
    CHECK_EQ(out[1], 1001u);
  }
}

// Random operations against a std::deque model, across the end of the slot array and
// across 2^32 on the counters, for several shapes of ring.
TEST(ring_model_wraparound_fifo) {
  struct Shape {
    uint32_t requested, flags;
  };
  const Shape shapes[] = {
      {16, 0},
      {16, kRingSingleProducer | kRingSingleConsumer},
      {5, kRingExactCapacity},
      {13, kRingExactCapacity | kRingSingleProducer | kRingSingleConsumer},
      {64, kRingExactCapacity},
      {100, kRingExactCapacity | kRingSingleProducer},
      {2, 0},
      {1, kRingExactCapacity},
  };
  const uint32_t starts[] = {0u, 7u, 0x80000000u - 3u, UINT32_MAX - 40u, UINT32_MAX};
  uint64_t seed = 1;
  for (const Shape& s : shapes) {
    for (uint32_t start : starts) {
      OwnedRing r(s.requested, s.flags);
      r.SetCounters(start);
      const uint32_t cap = r->capacity;
      std::deque<uint32_t> model;
      Rng rng(seed++);
      uint32_t next = 0;
      std::vector<uint32_t> in(2 * cap + 8), out(2 * cap + 8);
      bool ok = true;
      for (int it = 0; it < 20000 && ok; it++) {
        const uint32_t n = rng.Below(cap + 3);  // sometimes more than fits, sometimes 0
        const RingBehavior b = rng.Below(2) ? kBulk : kBurst;
        const uint32_t room = cap - uint32_t(model.size());
        if (rng.Below(2)) {
          for (uint32_t i = 0; i < n; i++) in[i] = next + i;
          uint32_t fs = 0xdead;
          const uint32_t want = n <= room ? n : (b == kBulk ? 0 : room);
          const uint32_t got = RingEnqueue(r.get(), in.data(), n, b, &fs);
          ok &= CHECK_EQ(got, want);
          ok &= CHECK_EQ(fs, room - want);
          for (uint32_t i = 0; i < got; i++) model.push_back(next + i);
          next += got;
        } else {
          const uint32_t have = uint32_t(model.size());
          uint32_t av = 0xdead;
          const uint32_t want = n <= have ? n : (b == kBulk ? 0 : have);
          const uint32_t got = RingDequeue(r.get(), out.data(), n, b, &av);
          ok &= CHECK_EQ(got, want);
          ok &= CHECK_EQ(av, have - want);
          for (uint32_t i = 0; i < got && ok; i++) {
            ok &= CHECK_EQ(out[i], model.front());
            model.pop_front();
          }
        }
        ok &= CHECK_EQ(RingCount(r.get()), model.size());
        ok &= CHECK_EQ(RingFreeCount(r.get()), cap - model.size());
      }
      CHECK(next > 1000);  // the walk really moved data through the ring
    }
  }
}

TEST(ring_counters_wrap_past_2_32) {
  OwnedRing r(16, kRingExactCapacity);
  r.SetCounters(UINT32_MAX - 3);
  uint32_t in[16], out[16];
  for (uint32_t i = 0; i < 16; i++) in[i] = 500 + i;
  CHECK_EQ(RingCount(r.get()), 0u);
  CHECK_EQ(RingFreeCount(r.get()), 16u);
  uint32_t fs = 0, av = 0;
  CHECK_EQ(RingEnqueue(r.get(), in, 10, kBulk, &fs), 10u);  // prod counters cross 2^32
  CHECK_EQ(fs, 6u);
  CHECK_EQ(r->prod.head.load(), 6u);
  CHECK_EQ(r->prod.tail.load(), 6u);
  CHECK_EQ(RingCount(r.get()), 10u);  // prod wrapped, cons not yet
  CHECK_EQ(RingFreeCount(r.get()), 6u);
  CHECK_EQ(RingEnqueue(r.get(), in + 10, 7, kBulk, &fs), 0u);
  CHECK_EQ(RingEnqueue(r.get(), in + 10, 7, kBurst, &fs), 6u);  // full
  CHECK_EQ(fs, 0u);
  CHECK_EQ(RingCount(r.get()), 16u);
  CHECK_EQ(RingFreeCount(r.get()), 0u);
  CHECK_EQ(RingDequeue(r.get(), out, 3, kBulk, &av), 3u);  // cons still below 2^32
  CHECK_EQ(av, 13u);
  CHECK_EQ(RingDequeue(r.get(), out + 3, 13, kBulk, &av), 13u);  // cons crosses
  CHECK_EQ(av, 0u);
  for (uint32_t i = 0; i < 16; i++) CHECK_EQ(out[i], 500 + i);
  CHECK_EQ(r->cons.tail.load(), 12u);
  CHECK_EQ(RingCount(r.get()), 0u);

  // Same with capacity = size - 1 and a start exactly at UINT32_MAX.
  OwnedRing q(8, 0);
  q.SetCounters(UINT32_MAX);
  CHECK_EQ(RingEnqueue(q.get(), in, 7, kBulk, &fs), 7u);
  CHECK_EQ(fs, 0u);
  CHECK_EQ(RingEnqueue(q.get(), in, 1, kBurst, &fs), 0u);
  CHECK_EQ(RingCount(q.get()), 7u);
  CHECK_EQ(RingDequeue(q.get(), out, 8, kBurst, &av), 7u);
  for (uint32_t i = 0; i < 7; i++) CHECK_EQ(out[i], 500 + i);
}

TEST(ring_count_free_full_empty) {
  OwnedRing r(8, kRingExactCapacity | kRingSingleProducer | kRingSingleConsumer);
  uint32_t v = 0, out[8];
  const auto empty = [&] { return RingCount(r.get()) == 0; };
  const auto full = [&] { return RingFreeCount(r.get()) == 0; };
  CHECK(empty());
  CHECK(!full());
  for (uint32_t i = 1; i <= 8; i++) {
    v = i;
    CHECK_EQ(RingEnqueue(r.get(), &v, 1, kBulk, nullptr), 1u);
    CHECK_EQ(RingCount(r.get()), i);
    CHECK_EQ(RingFreeCount(r.get()), 8 - i);
    CHECK(!empty());
  }
  CHECK(full());
  CHECK_EQ(RingDequeue(r.get(), out, 8, kBulk, nullptr), 8u);
  CHECK(empty());
  CHECK(!full());
}

// One producer and one consumer move 10M consecutive values; the consumer checks the exact
// sequence. Sizes vary so that operations straddle the end of the slot array.
TEST(ring_stress_spsc_10m) {
  const uint32_t total = 10'000'000;
  OwnedRing r(1000, kRingExactCapacity | kRingSingleProducer | kRingSingleConsumer);
  std::atomic<bool> stop{false};
  uint64_t bad_at = UINT64_MAX, bad_val = 0;
  std::thread prod([&] {
    Rng rng(11);
    uint32_t buf[64];
    uint32_t next = 0;
    while (next < total && !stop.load(std::memory_order_relaxed)) {
      uint32_t n = 1 + rng.Below(63);
      if (n > total - next) n = total - next;
      for (uint32_t i = 0; i < n; i++) buf[i] = next + i;
      const RingBehavior b = (next & 1) ? kBulk : kBurst;
      const uint32_t got = RingEnqueue(r.get(), buf, n, b, nullptr);
      if (got == 0) VNF_PAUSE();
      next += got;
    }
  });
  std::thread cons([&] {
    Rng rng(12);
    uint32_t buf[64];
    uint32_t expect = 0;
    while (expect < total) {
      const uint32_t n = 1 + rng.Below(63);
      const RingBehavior b = rng.Below(2) ? kBulk : kBurst;
      uint32_t av = 0;
      const uint32_t got = RingDequeue(r.get(), buf, n, b, &av);
      if (got == 0) {
        VNF_PAUSE();
        continue;
      }
      for (uint32_t i = 0; i < got; i++) {
        if (buf[i] != expect + i) {
          bad_at = expect + i;
          bad_val = buf[i];
          stop.store(true);
          return;
        }
      }
      expect += got;
    }
  });
  prod.join();
  cons.join();
  CHECK_EQ(bad_at, UINT64_MAX);
  CHECK_EQ(bad_val, 0u);
  CHECK_EQ(RingCount(r.get()), 0u);
}

namespace {

// Two producers and two consumers on an MP/MC ring. Producer p sends p*per .. (p+1)*per-1;
// every value must arrive exactly once, and each consumer must see each producer's values
// in increasing order (FIFO per producer).
void MpmcStress(RingBehavior behavior, uint32_t per_producer, uint32_t ring_size,
                uint32_t flags) {
  OwnedRing r(ring_size, flags);
  const uint32_t total = 2 * per_producer;
  std::atomic<uint32_t> consumed{0};
  std::vector<std::vector<uint64_t>> seen(2, std::vector<uint64_t>((total + 63) / 64, 0));
  uint32_t order_errors[2] = {0, 0}, dup_errors[2] = {0, 0};
  auto producer = [&](uint32_t p) {
    Rng rng(100 + p);
    uint32_t buf[48];
    uint32_t next = p * per_producer;
    const uint32_t end = next + per_producer;
    while (next < end) {
      uint32_t n = 1 + rng.Below(47);
      if (n > end - next) n = end - next;
      for (uint32_t i = 0; i < n; i++) buf[i] = next + i;
      const uint32_t got = RingEnqueue(r.get(), buf, n, behavior, nullptr);
      if (got == 0) std::this_thread::yield();
      next += got;
    }
  };
  auto consumer = [&](uint32_t c) {
    Rng rng(200 + c);
    uint32_t buf[48];
    int64_t last[2] = {-1, -1};
    std::vector<uint64_t>& bits = seen[c];
    while (consumed.load(std::memory_order_relaxed) < total) {
      const uint32_t n = 1 + rng.Below(47);
      const uint32_t got = RingDequeue(r.get(), buf, n, behavior, nullptr);
      if (got == 0) {
        std::this_thread::yield();
        continue;
      }
      for (uint32_t i = 0; i < got; i++) {
        const uint32_t v = buf[i];
        if (v >= total) {
          dup_errors[c]++;
          continue;
        }
        uint64_t& w = bits[v / 64];
        const uint64_t bit = 1ull << (v % 64);
        if (w & bit) dup_errors[c]++;
        w |= bit;
        const uint32_t p = v / per_producer;
        if (int64_t(v) <= last[p]) order_errors[c]++;
        last[p] = v;
      }
      consumed.fetch_add(got, std::memory_order_relaxed);
    }
  };
  std::thread t[4] = {std::thread(producer, 0), std::thread(producer, 1),
                      std::thread(consumer, 0), std::thread(consumer, 1)};
  for (auto& th : t) th.join();
  CHECK_EQ(consumed.load(), total);
  CHECK_EQ(dup_errors[0] + dup_errors[1], 0u);
  CHECK_EQ(order_errors[0] + order_errors[1], 0u);
  uint64_t missing = 0, twice = 0;
  for (size_t w = 0; w < seen[0].size(); w++) {
    twice += __builtin_popcountll(seen[0][w] & seen[1][w]);
    uint64_t all = seen[0][w] | seen[1][w];
    const uint32_t lo = uint32_t(w * 64);
    const uint32_t bits_here = total - lo >= 64 ? 64 : total - lo;
    const uint64_t want = bits_here == 64 ? ~0ull : ((1ull << bits_here) - 1);
    missing += __builtin_popcountll(want & ~all);
  }
  CHECK_EQ(missing, 0u);
  CHECK_EQ(twice, 0u);
  CHECK_EQ(RingCount(r.get()), 0u);
  CHECK_EQ(r->prod.head.load(), r->prod.tail.load());
  CHECK_EQ(r->cons.head.load(), r->cons.tail.load());
}

const uint32_t kMpmcPerProducer = kSanitized ? 3'000'000 : 8'000'000;

}  // namespace

TEST(ring_stress_mpmc_bulk) { MpmcStress(kBulk, kMpmcPerProducer, 256, 0); }

TEST(ring_stress_mpmc_burst) { MpmcStress(kBurst, kMpmcPerProducer, 256, 0); }

// Exact capacity with odd counts, starting near 2^32 so the counters wrap under contention.
TEST(ring_stress_mpmc_burst_exact_wrapping) {
  OwnedRing r(37, kRingExactCapacity);
  r.SetCounters(UINT32_MAX - 100000);
  const uint32_t per = kSanitized ? 1'000'000 : 2'000'000;
  std::atomic<uint32_t> consumed{0};
  std::vector<std::atomic<uint8_t>> hits(2 * per);
  for (auto& h : hits) h.store(0);
  auto producer = [&](uint32_t p) {
    uint32_t buf[16];
    uint32_t next = p * per, end = next + per;
    Rng rng(300 + p);
    while (next < end) {
      uint32_t n = 1 + rng.Below(15);
      if (n > end - next) n = end - next;
      for (uint32_t i = 0; i < n; i++) buf[i] = next + i;
      const uint32_t got = RingEnqueue(r.get(), buf, n, kBurst, nullptr);
      if (got == 0) std::this_thread::yield();
      next += got;
    }
  };
  auto consumer = [&](uint32_t c) {
    uint32_t buf[16];
    Rng rng(400 + c);
    while (consumed.load(std::memory_order_relaxed) < 2 * per) {
      const uint32_t got = RingDequeue(r.get(), buf, 1 + rng.Below(15), kBulk, nullptr);
      if (got == 0) {
        std::this_thread::yield();
        continue;
      }
      for (uint32_t i = 0; i < got; i++)
        if (buf[i] < 2 * per) hits[buf[i]].fetch_add(1, std::memory_order_relaxed);
      consumed.fetch_add(got, std::memory_order_relaxed);
    }
  };
  std::thread t[4] = {std::thread(producer, 0), std::thread(producer, 1),
                      std::thread(consumer, 0), std::thread(consumer, 1)};
  for (auto& th : t) th.join();
  uint32_t wrong = 0;
  for (auto& h : hits) wrong += h.load() != 1;
  CHECK_EQ(wrong, 0u);
  CHECK_EQ(consumed.load(), 2 * per);
  CHECK(r->prod.tail.load() < UINT32_MAX - 100000);  // the counters did wrap
  CHECK_EQ(RingCount(r.get()), 0u);
}
