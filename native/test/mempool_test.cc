// Unit and multi-threaded tests of src/mempool.{h,cc}.
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <memory>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "harness.h"
#include "mempool.h"
#include "test_util.h"

using namespace vnf;
using vt::Rng;

namespace {

PoolConfig Cfg(uint32_t count, uint32_t buf_size = 2048, uint32_t cache = 0, bool debug = false) {
  PoolConfig c;
  c.name = "test";
  c.count = count;
  c.buf_size = buf_size;
  c.cache_size = cache;
  c.debug = debug;
  c.hugepages = HugepageMode::kNever;  // deterministic page size whatever the machine has
  return c;
}

std::shared_ptr<Pool> MakePool(const PoolConfig& c) {
  std::shared_ptr<Pool> p;
  std::string err;
  const int32_t st = Pool::Create(c, &p, &err);
  if (!CHECK_EQ(st, int32_t(kOk))) std::printf("    create error: %s\n", err.c_str());
  return p;
}

bool Contains(const std::string& s, const std::string& sub) {
  return s.find(sub) != std::string::npos;
}

// Takes everything out of the ring and checks each index appears exactly once; puts back.
bool RingHoldsEachIndexOnce(Pool& p) {
  const uint32_t n = RingCount(p.ring());
  std::vector<uint32_t> all(n);
  if (RingDequeue(p.ring(), all.data(), n, RingBehavior::kBulk, nullptr) != n) return false;
  std::vector<uint8_t> seen(p.count(), 0);
  bool ok = n == p.count();
  for (uint32_t v : all) {
    if (v >= p.count() || seen[v]++) ok = false;
  }
  RingEnqueue(p.ring(), all.data(), n, RingBehavior::kBulk, nullptr);
  return ok;
}

}  // namespace

TEST(mempool_create_validation) {
  struct Case {
    PoolConfig c;
    const char* field;
  };
  std::vector<Case> cases;
  auto add = [&](PoolConfig c, const char* field) { cases.push_back({c, field}); };
  add(Cfg(0), "count");
  add(Cfg(kPoolMaxCount + 1, 2048), "count");
  add(Cfg(100, 3000), "bufferSize");
  add(Cfg(100, 1024), "bufferSize");
  add(Cfg(100, 32768), "bufferSize");
  add(Cfg(100, 0), "bufferSize");
  {
    PoolConfig c = Cfg(100);
    c.headroom = 2048 - 56;  // leaves only 56 bytes of data room
    add(c, "headroom");
    c.headroom = 100;  // not a multiple of 8
    add(c, "headroom");
    c.headroom = 4096;
    add(c, "headroom");
  }
  add(Cfg(10000, 2048, kCacheMaxSize + 1), "cacheSize");
  add(Cfg(100, 2048, 67), "cacheSize");  // more than count / 1.5
  add(Cfg((1u << 21) + 1, 2048), "count * bufferSize");
  add(Cfg(1u << 21, 4096), "count * bufferSize");
  add(Cfg(1u << 20, 16384), "count * bufferSize");
  {
    PoolConfig c = Cfg(100);
    c.name = "";
    add(c, "name");
    c.name = std::string(32, 'x');
    add(c, "name");
  }
  for (const Case& k : cases) {
    std::shared_ptr<Pool> p;
    std::string err;
    const int32_t st = Pool::Create(k.c, &p, &err);
    CHECK_EQ(st, int32_t(kErrInvalidArgument));
    CHECK(p == nullptr);
    if (!CHECK(Contains(err, k.field)))
      std::printf("    expected '%s' in: %s\n", k.field, err.c_str());
    std::string err2;
    CHECK_EQ(ValidatePoolConfig(k.c, &err2), int32_t(kErrInvalidArgument));
  }
  // Boundaries that are valid.
  std::string err;
  CHECK_EQ(ValidatePoolConfig(Cfg(1u << 21, 2048), &err), int32_t(kOk));  // exactly 4 GiB
  CHECK_EQ(ValidatePoolConfig(Cfg(1, 16384), &err), int32_t(kOk));
  CHECK_EQ(ValidatePoolConfig(Cfg(100, 2048, 66), &err), int32_t(kOk));
  CHECK_EQ(ValidatePoolConfig(Cfg(1000, 2048, kCacheMaxSize), &err), int32_t(kOk));
  PoolConfig c = Cfg(100);
  c.headroom = 2048 - 64;
  CHECK_EQ(ValidatePoolConfig(c, &err), int32_t(kOk));
  c.headroom = 0;
  CHECK_EQ(ValidatePoolConfig(c, &err), int32_t(kOk));
}

TEST(mempool_fresh_pool_all_free) {
  auto p = MakePool(Cfg(1000));
  if (!p) return;
  PoolStats s = p->Stats();
  CHECK_EQ(s.count, 1000u);
  CHECK_EQ(s.in_use, 0u);
  CHECK_EQ(s.free_in_ring, 1000u);
  CHECK_EQ(s.free_in_caches, 0u);
  CHECK_EQ(s.cache_hits, 0u);
  CHECK_EQ(s.cache_misses, 0u);
  CHECK(RingHoldsEachIndexOnce(*p));
  // A fresh pool hands out 0, 1, 2, ...
  uint32_t ids[4];
  ErrorDetail d;
  CHECK_EQ(p->Get(nullptr, ids, 4, &d), 4);
  for (uint32_t i = 0; i < 4; i++) CHECK_EQ(ids[i], i);
  CHECK_EQ(p->Stats().in_use, 4u);
  CHECK_EQ(p->Put(nullptr, ids, 4, &d), 4);
  CHECK_EQ(p->Stats().in_use, 0u);
  CHECK(!p->hugepages());
  CHECK(p->fd() >= 0);
}

TEST(mempool_get_all_or_nothing_when_exhausted) {
  for (uint32_t cache_size : {0u, 16u}) {
    auto p = MakePool(Cfg(64, 2048, cache_size));
    if (!p) return;
    std::unique_ptr<PoolCache> cache = cache_size ? p->NewCache(cache_size) : nullptr;
    ErrorDetail d;
    std::vector<uint32_t> a(64, 0xffffffffu), b(8, 0xeeeeeeeeu);
    CHECK_EQ(p->Get(cache.get(), a.data(), 60, &d), 60);
    CHECK_EQ(p->Stats().in_use, 60u);
    CHECK_EQ(p->Get(cache.get(), b.data(), 5, &d), 0);  // only 4 left
    CHECK_EQ(p->Stats().in_use, 60u);                   // nothing lost
    CHECK_EQ(b[0], 0xeeeeeeeeu);                        // nothing written
    CHECK_EQ(p->Get(cache.get(), b.data(), 4, &d), 4);
    CHECK_EQ(p->Get(cache.get(), b.data() + 4, 1, &d), 0);
    CHECK_EQ(p->Stats().in_use, 64u);
    CHECK_EQ(p->Get(cache.get(), b.data(), 0, &d), 0);
    std::set<uint32_t> all(a.begin(), a.begin() + 60);
    all.insert(b.begin(), b.begin() + 4);
    CHECK_EQ(all.size(), 64u);
    CHECK_EQ(*all.rbegin(), 63u);
    CHECK_EQ(p->Put(cache.get(), a.data(), 60, &d), 60);
    CHECK_EQ(p->Put(cache.get(), b.data(), 4, &d), 4);
    CHECK_EQ(p->Stats().in_use, 0u);
    if (cache) p->ReleaseCache(cache.get());
    CHECK_EQ(p->Stats().free_in_ring, 64u);
    CHECK(RingHoldsEachIndexOnce(*p));
  }
}

TEST(mempool_cache_hits_misses_flush_release) {
  auto p = MakePool(Cfg(256));
  if (!p) return;
  auto cache = p->NewCache(32);  // flush threshold 48
  CHECK_EQ(cache->size, 32u);
  CHECK_EQ(cache->flush_threshold, 48u);
  ErrorDetail d;
  uint32_t ids[64];

  // First get misses and refills to size + n from the ring.
  CHECK_EQ(p->Get(cache.get(), ids, 1, &d), 1);
  PoolStats s = p->Stats();
  CHECK_EQ(s.cache_misses, 1u);
  CHECK_EQ(s.cache_hits, 0u);
  CHECK_EQ(s.free_in_caches, 32u);
  CHECK_EQ(s.free_in_ring, 256u - 33u);
  CHECK_EQ(s.in_use, 1u);
  // Next gets are hits while the cache has enough.
  CHECK_EQ(p->Get(cache.get(), ids + 1, 8, &d), 8);
  s = p->Stats();
  CHECK_EQ(s.cache_hits, 1u);
  CHECK_EQ(s.cache_misses, 1u);
  CHECK_EQ(s.free_in_caches, 24u);
  CHECK_EQ(s.in_use, 9u);
  // LIFO: what was put last comes back first.
  CHECK_EQ(p->Put(cache.get(), ids + 8, 1, &d), 1);
  uint32_t again = 0;
  CHECK_EQ(p->Get(cache.get(), &again, 1, &d), 1);
  CHECK_EQ(again, ids[8]);
  // A request of at least the cache size takes what the cache holds and the rest from the
  // ring (as rte_mempool does), and counts as a miss.
  CHECK_EQ(p->Get(cache.get(), ids + 9, 32, &d), 32);
  s = p->Stats();
  CHECK_EQ(s.cache_misses, 2u);
  CHECK_EQ(s.free_in_caches, 0u);
  CHECK_EQ(s.free_in_ring, 256u - 33u - 8u);
  CHECK_EQ(s.in_use, 41u);
  CHECK_EQ(p->Put(cache.get(), ids, 41, &d), 41);  // 41 < 48: all stay in the cache
  s = p->Stats();
  CHECK_EQ(s.free_in_caches, 41u);
  CHECK_EQ(s.in_use, 0u);
  CHECK_EQ(p->Get(cache.get(), ids, 31, &d), 31);  // hit: 10 left
  // Not enough cached: refill to 32 plus the request, 53 from the ring in one access.
  CHECK_EQ(p->Get(cache.get(), ids + 31, 31, &d), 31);
  s = p->Stats();
  CHECK_EQ(s.cache_misses, 3u);
  CHECK_EQ(s.free_in_caches, 32u);
  CHECK_EQ(s.free_in_ring, 215u - 53u);
  CHECK_EQ(s.in_use, 62u);
  // Putting back: the cache grows until it reaches the flush threshold (48), then keeps
  // its nominal size (32) and returns the excess to the ring.
  CHECK_EQ(p->Put(cache.get(), ids, 15, &d), 15);  // 47 < 48
  s = p->Stats();
  CHECK_EQ(s.free_in_caches, 47u);
  CHECK_EQ(s.free_in_ring, 162u);
  CHECK_EQ(p->Put(cache.get(), ids + 15, 1, &d), 1);  // 48: flush to 32
  s = p->Stats();
  CHECK_EQ(s.free_in_caches, 32u);
  CHECK_EQ(s.free_in_ring, 162u + 16u);
  CHECK_EQ(p->Put(cache.get(), ids + 16, 46, &d), 46);  // 78: flush to 32
  s = p->Stats();
  CHECK_EQ(s.free_in_caches, 32u);
  CHECK_EQ(s.in_use, 0u);
  CHECK_EQ(s.free_in_ring, 256u - 32u);
  // A large put (> kCacheMaxSize) bypasses the cache.
  {
    auto big = MakePool(Cfg(2048));
    auto c2 = big->NewCache(64);
    std::vector<uint32_t> v(kCacheMaxSize + 1);
    CHECK_EQ(big->Get(nullptr, v.data(), uint32_t(v.size()), &d), int32_t(v.size()));
    CHECK_EQ(big->Put(c2.get(), v.data(), uint32_t(v.size()), &d), int32_t(v.size()));
    CHECK_EQ(big->Stats().free_in_caches, 0u);
    CHECK_EQ(big->Stats().free_in_ring, 2048u);
    big->ReleaseCache(c2.get());
  }
  // ReleaseCache returns the cached buffers and unregisters the cache.
  p->ReleaseCache(cache.get());
  s = p->Stats();
  CHECK_EQ(s.free_in_caches, 0u);
  CHECK_EQ(s.free_in_ring, 256u);
  CHECK_EQ(s.in_use, 0u);
  CHECK_EQ(cache->len.load(), 0u);
  CHECK(RingHoldsEachIndexOnce(*p));
}

TEST(mempool_cache_refill_falls_back_when_ring_low) {
  auto p = MakePool(Cfg(48));
  auto cache = p->NewCache(32);
  ErrorDetail d;
  std::vector<uint32_t> hold(48);
  CHECK_EQ(p->Get(nullptr, hold.data(), 40, &d), 40);  // ring has 8 left
  uint32_t ids[4];
  // The refill (n + 32) cannot be served; rte_mempool then takes exactly n from the ring.
  CHECK_EQ(p->Get(cache.get(), ids, 4, &d), 4);
  PoolStats s = p->Stats();
  CHECK_EQ(s.free_in_ring, 4u);
  CHECK_EQ(s.free_in_caches, 0u);
  CHECK_EQ(s.in_use, 44u);
  CHECK_EQ(p->Get(cache.get(), ids, 5, &d), 0);
  CHECK_EQ(p->Stats().in_use, 44u);
  CHECK_EQ(p->Put(cache.get(), ids, 4, &d), 4);
  CHECK_EQ(p->Put(nullptr, hold.data(), 40, &d), 40);
  p->ReleaseCache(cache.get());
  CHECK_EQ(p->Stats().in_use, 0u);
  CHECK(RingHoldsEachIndexOnce(*p));
}

TEST(mempool_alloc_resets_metadata) {
  PoolConfig c = Cfg(16);
  c.headroom = 128;
  auto p = MakePool(c);
  if (!p) return;
  auto* data_off = static_cast<uint16_t*>(p->meta(kMetaDataOff));
  auto* data_len = static_cast<uint16_t*>(p->meta(kMetaDataLen));
  auto* port = static_cast<uint16_t*>(p->meta(kMetaPort));
  auto* next = static_cast<uint16_t*>(p->meta(kMetaNext));
  auto* ptype = static_cast<uint32_t*>(p->meta(kMetaPtype));
  auto* mark = static_cast<uint32_t*>(p->meta(kMetaMark));
  auto* chain = static_cast<uint32_t*>(p->meta(kMetaChain));
  ErrorDetail d;
  uint32_t ids[16];
  for (int round = 0; round < 2; round++) {
    CHECK_EQ(p->Alloc(nullptr, ids, 16, &d), 16);
    for (uint32_t i = 0; i < 16; i++) {
      const uint32_t b = ids[i];
      CHECK_EQ(data_off[b], 128u);
      CHECK_EQ(data_len[b], 0u);
      CHECK_EQ(chain[b], kNoBuffer);
      CHECK_EQ(port[b], kNoPort);
      CHECK_EQ(ptype[b], 0u);
      CHECK_EQ(mark[b], 0u);
      CHECK_EQ(next[b], 0u);
      // Dirty everything before freeing, as a pipeline would.
      data_off[b] = 7;
      data_len[b] = 1500;
      chain[b] = 3;
      port[b] = 2;
      ptype[b] = 0x1234;
      mark[b] = 99;
      next[b] = 5;
    }
    CHECK_EQ(p->Put(nullptr, ids, 16, &d), 16);
  }
  // Get does not reset.
  CHECK_EQ(p->Get(nullptr, ids, 1, &d), 1);
  CHECK_EQ(data_len[ids[0]], 1500u);
  CHECK_EQ(p->Put(nullptr, ids, 1, &d), 1);
  // Alloc when exhausted returns 0 and touches nothing.
  std::vector<uint32_t> all(16);
  CHECK_EQ(p->Alloc(nullptr, all.data(), 16, &d), 16);
  CHECK_EQ(p->Alloc(nullptr, ids, 1, &d), 0);
  CHECK_EQ(p->Put(nullptr, all.data(), 16, &d), 16);
}

TEST(mempool_region_layout) {
  struct Shape {
    uint32_t count, buf_size;
  };
  for (Shape sh : {Shape{1, 2048}, Shape{3, 4096}, Shape{1000, 2048}, Shape{777, 16384},
                   Shape{1u << 20, 2048}}) {
    auto p = MakePool(Cfg(sh.count, sh.buf_size));
    if (!p) continue;
    const PoolLayout* l = p->layout();
    const uint64_t count = sh.count;
    CHECK_EQ(std::string(l->magic), std::string("VNFPOOL"));
    CHECK_EQ(l->magic[7], '\0');
    CHECK_EQ(l->version, 1u);
    CHECK_EQ(l->count, sh.count);
    CHECK_EQ(l->buf_size, sh.buf_size);
    CHECK_EQ(l->headroom, 256u);
    CHECK_EQ(l->debug, 0u);
    CHECK_EQ(std::string(l->name), std::string("test"));
    CHECK_EQ(l->buffers_offset, 0u);
    CHECK_EQ(l->buffers_size, count * sh.buf_size);
    CHECK_EQ(l->region_size, uint64_t(p->region_size()));
    CHECK_EQ(l->page_size, uint32_t(sysconf(_SC_PAGESIZE)));
    CHECK_EQ(l->region_size % l->page_size, 0u);
    const uint64_t layout_off = uint64_t(reinterpret_cast<const uint8_t*>(l) - p->base());
    CHECK(layout_off >= l->buffers_size);
    CHECK_EQ(layout_off % 8, 0u);
    // Metadata arrays: 64-byte aligned, after the layout record, pairwise disjoint.
    std::vector<std::pair<uint64_t, uint64_t>> ranges;
    ranges.push_back({0, l->buffers_size});
    ranges.push_back({layout_off, layout_off + sizeof(PoolLayout)});
    uint64_t meta_end = 0;
    for (uint32_t f = 0; f < kMetaFieldCount; f++) {
      const uint64_t off = l->meta_offset[f];
      CHECK_EQ(off % 64, 0u);
      CHECK(off >= layout_off + sizeof(PoolLayout));
      CHECK_EQ(p->meta(MetaField(f)), static_cast<void*>(p->base() + off));
      ranges.push_back({off, off + count * kMetaFields[f].width});
      meta_end = std::max(meta_end, off + count * kMetaFields[f].width);
    }
    // The free ring is private memory, outside the region.
    const uint8_t* ring = reinterpret_cast<const uint8_t*>(p->ring());
    CHECK(ring < p->base() || ring >= p->base() + l->region_size);
    CHECK(meta_end <= l->region_size);
    std::sort(ranges.begin(), ranges.end());
    for (size_t i = 1; i < ranges.size(); i++) CHECK(ranges[i].first >= ranges[i - 1].second);
    // The free ring holds the whole pool, exactly.
    CHECK_EQ(p->ring()->capacity, sh.count);
    CHECK_EQ(RingCount(p->ring()), sh.count);
    // Overhead per buffer (what the binding reports as metadataBytesPerBuffer).
    if (sh.count == (1u << 20)) {
      const double overhead = double(p->overhead_bytes()) / double(count);
      if (!CHECK(overhead <= 64.0)) std::printf("    overhead %.2f bytes/buffer\n", overhead);
    }
  }
}

TEST(mempool_debug_double_free) {
  for (uint32_t cache_size : {0u, 8u}) {
    auto p = MakePool(Cfg(32, 2048, cache_size, true));
    if (!p) return;
    auto cache = cache_size ? p->NewCache(cache_size) : nullptr;
    uint8_t* st = p->state();
    ErrorDetail d;
    uint32_t ids[4];
    CHECK_EQ(p->Get(cache.get(), ids, 4, &d), 4);
    for (uint32_t i = 0; i < 4; i++) CHECK_EQ(st[ids[i]], 1u);
    const PoolStats before = p->Stats();
    CHECK_EQ(before.in_use, 4u);

    // Freeing a buffer that was never allocated.
    uint32_t never = 31;
    CHECK_EQ(st[never], 0u);
    d = {};
    CHECK_EQ(p->Put(cache.get(), &never, 1, &d), int32_t(kErrDoubleFree));
    CHECK_EQ(d.index, never);
    CHECK_EQ(d.position, 0u);

    // The same index twice in one put: nothing is returned, state unchanged.
    uint32_t twice[3] = {ids[0], ids[1], ids[0]};
    d = {};
    CHECK_EQ(p->Put(cache.get(), twice, 3, &d), int32_t(kErrDoubleFree));
    CHECK_EQ(d.index, ids[0]);
    CHECK_EQ(d.position, 2u);
    for (uint32_t i = 0; i < 4; i++) CHECK_EQ(st[ids[i]], 1u);
    PoolStats s = p->Stats();
    CHECK_EQ(s.in_use, before.in_use);
    CHECK_EQ(s.free_in_ring, before.free_in_ring);
    CHECK_EQ(s.free_in_caches, before.free_in_caches);

    // Valid ones followed by a free one: all or nothing.
    uint32_t mixed[3] = {ids[2], ids[3], never};
    d = {};
    CHECK_EQ(p->Put(cache.get(), mixed, 3, &d), int32_t(kErrDoubleFree));
    CHECK_EQ(d.index, never);
    CHECK_EQ(d.position, 2u);
    CHECK_EQ(st[ids[2]], 1u);
    CHECK_EQ(st[ids[3]], 1u);
    CHECK_EQ(p->Stats().in_use, 4u);

    // A real double free: put, then put again.
    CHECK_EQ(p->Put(cache.get(), ids, 4, &d), 4);
    for (uint32_t i = 0; i < 4; i++) CHECK_EQ(st[ids[i]], 0u);
    CHECK_EQ(p->Stats().in_use, 0u);
    d = {};
    CHECK_EQ(p->Put(cache.get(), ids + 1, 1, &d), int32_t(kErrDoubleFree));
    CHECK_EQ(d.index, ids[1]);
    CHECK_EQ(d.position, 0u);
    s = p->Stats();
    CHECK_EQ(s.in_use, 0u);
    CHECK_EQ(s.free_in_ring + s.free_in_caches, 32u);
    if (cache) p->ReleaseCache(cache.get());
    CHECK(RingHoldsEachIndexOnce(*p));
  }
}

TEST(mempool_debug_use_after_free) {
  for (uint32_t cache_size : {0u, 8u}) {
    auto p = MakePool(Cfg(16, 2048, cache_size, true));
    if (!p) return;
    auto cache = cache_size ? p->NewCache(cache_size) : nullptr;
    const uint32_t bs = p->config().buf_size;
    // Fresh buffers are poisoned.
    CHECK_EQ(p->base()[0], kPoisonByte);
    CHECK_EQ(p->base()[16 * bs - 1], kPoisonByte);
    ErrorDetail d;
    uint32_t id = 0;
    CHECK_EQ(p->Get(cache.get(), &id, 1, &d), 1);
    uint8_t* buf = p->base() + uint64_t(id) * bs;
    std::memset(buf, 0, bs);  // legal: it is ours
    CHECK_EQ(p->Put(cache.get(), &id, 1, &d), 1);
    CHECK_EQ(buf[0], kPoisonByte);  // re-poisoned on free
    CHECK_EQ(buf[bs - 1], kPoisonByte);
    buf[bs - 1] = 0x42;  // use after free: the very last byte
    if (!cache) {
      // Get everything: the corrupted buffer is among them wherever it sits.
      std::vector<uint32_t> all(16, kNoBuffer);
      d = {};
      CHECK_EQ(p->Get(nullptr, all.data(), 16, &d), int32_t(kErrUseAfterFree));
      CHECK_EQ(d.index, id);
      CHECK(d.position < 16 && all[d.position] == id);
      PoolStats s = p->Stats();
      CHECK_EQ(s.in_use, 0u);  // nothing leaked
      CHECK_EQ(s.free_in_ring, 16u);
      for (uint32_t i = 0; i < 16; i++) CHECK_EQ(p->state()[i], 0u);
      CHECK_EQ(buf[bs - 1], kPoisonByte);  // re-poisoned: the next get succeeds
      CHECK_EQ(p->Get(nullptr, all.data(), 16, &d), 16);
      std::set<uint32_t> uniq(all.begin(), all.end());
      CHECK_EQ(uniq.size(), 16u);
      if (uniq.size() == 16 && *uniq.rbegin() < 16) CHECK_EQ(p->Put(nullptr, all.data(), 16, &d), 16);
    }
    // With a cache, LIFO hands the corrupted buffer straight back at position 0.
    if (cache) {
      // The corrupted buffer is on top of the cache.
      const PoolStats before = p->Stats();
      uint32_t two[2];
      d = {};
      CHECK_EQ(p->Get(cache.get(), two, 2, &d), int32_t(kErrUseAfterFree));
      CHECK_EQ(d.index, id);
      CHECK_EQ(d.position, 0u);
      const PoolStats after = p->Stats();
      CHECK_EQ(after.in_use, 0u);
      CHECK_EQ(before.in_use, 0u);
      CHECK_EQ(after.free_in_ring + after.free_in_caches, 16u);
      CHECK_EQ(p->Get(cache.get(), two, 2, &d), 2);  // re-poisoned: fine now
      CHECK_EQ(p->Put(cache.get(), two, 2, &d), 2);
      p->ReleaseCache(cache.get());
    }
    CHECK_EQ(p->Stats().in_use, 0u);
    CHECK(RingHoldsEachIndexOnce(*p));
  }
}

namespace {

// Two threads, each with its own cache, get and put random amounts. An atomic flag per
// buffer catches any index handed to two owners at once.
void MtGetPut(bool debug, uint32_t total_ops) {
  const uint32_t count = 2048;
  auto p = MakePool(Cfg(count, 2048, 128, debug));
  if (!p) return;
  std::vector<std::atomic<uint8_t>> owner(count);
  for (auto& o : owner) o.store(0);
  std::atomic<uint64_t> dup{0}, lost{0}, errors{0}, ops{0};
  auto worker = [&](uint32_t t) {
    auto cache = p->NewCache(128);
    Rng rng(7 + t);
    std::vector<uint32_t> held;
    held.reserve(count);
    uint32_t buf[600];
    ErrorDetail d;
    uint32_t my_ops = 0;
    while (my_ops < total_ops / 2) {
      const bool get = held.size() < 64 || (held.size() < 800 && rng.Below(2));
      // Mostly cache-sized operations, sometimes larger ones that bypass the cache.
      uint32_t n = rng.Below(10) == 0 ? 1 + rng.Below(300) : 1 + rng.Below(40);
      if (get) {
        const bool alloc = rng.Below(4) == 0;
        const int32_t r = alloc ? p->Alloc(cache.get(), buf, n, &d) : p->Get(cache.get(), buf, n, &d);
        my_ops++;
        if (r < 0) {
          errors++;
          continue;
        }
        for (int32_t i = 0; i < r; i++) {
          if (buf[i] >= count || owner[buf[i]].exchange(1) != 0) dup++;
          held.push_back(buf[i]);
        }
      } else {
        n = std::min<uint32_t>(n, uint32_t(held.size()));
        for (uint32_t i = 0; i < n; i++) {
          buf[i] = held.back();
          held.pop_back();
          if (owner[buf[i]].exchange(0) != 1) lost++;
        }
        if (p->Put(cache.get(), buf, n, &d) != int32_t(n)) errors++;
        my_ops++;
      }
    }
    for (uint32_t v : held) {
      if (owner[v].exchange(0) != 1) lost++;
    }
    if (!held.empty() && p->Put(cache.get(), held.data(), uint32_t(held.size()), &d) !=
                             int32_t(held.size()))
      errors++;
    ops += my_ops;
    p->ReleaseCache(cache.get());
  };
  std::thread a(worker, 0), b(worker, 1);
  a.join();
  b.join();
  CHECK_EQ(dup.load(), 0u);
  CHECK_EQ(lost.load(), 0u);
  CHECK_EQ(errors.load(), 0u);
  CHECK(ops.load() >= total_ops - 1);
  const PoolStats s = p->Stats();
  CHECK_EQ(s.in_use, 0u);
  CHECK_EQ(s.free_in_ring, count);
  CHECK_EQ(s.free_in_caches, 0u);
  CHECK(RingHoldsEachIndexOnce(*p));
}

// Debug mode checks and poisons 2 KiB per buffer per operation: fewer ops under ASan.
#if defined(__SANITIZE_ADDRESS__)
constexpr uint32_t kMtDebugOps = 100'000;
#else
constexpr uint32_t kMtDebugOps = 100'000;
#endif

}  // namespace

TEST(mempool_mt_get_put_caches_1m) { MtGetPut(false, 1'000'000); }

TEST(mempool_mt_get_put_caches_debug) { MtGetPut(true, kMtDebugOps); }

// Regression (found by this suite, fixed in src/ by commit 8e1438a): NewCache(size) used to
// size objs as 1.5*size + 512 entries while a refill can fill up to 2*size - 1, a heap
// overflow for size > 1026 (NewCache(2048) + Get(cache, dst, 2047) wrote 4095 entries into
// 3584). Checked arithmetically, without overflowing, so the suite survives a regression.
TEST(mempool_newcache_any_size_holds_a_refill) {
  auto p = MakePool(Cfg(8192));
  if (!p) return;
  for (uint32_t size : {256u, 512u, 1026u, 1027u, 2048u}) {
    auto cache = p->NewCache(size);
    // Largest footprint of a refill: len = 0, n = size - 1 -> n + size entries.
    const size_t worst = size_t(size) - 1 + size;
    if (!CHECK(cache->objs.size() >= worst))
      std::printf("    NewCache(%u): objs holds %zu entries, a refill writes up to %zu\n", size,
                  cache->objs.size(), worst);
    p->ReleaseCache(cache.get());
  }
}
