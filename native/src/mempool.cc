#include "mempool.h"

#include <fcntl.h>
#include <linux/memfd.h>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>

namespace vnf {

const MetaFieldInfo kMetaFields[kMetaFieldCount] = {
    {"dataOff", 2},     {"dataLen", 2},     {"port", 2},        {"next", 2},
    {"ptype", 4},       {"l2Off", 2},       {"l3Off", 2},       {"l4Off", 2},
    {"innerL2Off", 2},  {"innerL3Off", 2},  {"innerL4Off", 2},  {"flowHash", 4},
    {"mark", 4},        {"chain", 4},       {"state", 1},
};

namespace {

constexpr uint64_t kHugePageSize = 2ull << 20;
constexpr uint64_t kSmallPageSize = 4096;

uint64_t AlignUp(uint64_t v, uint64_t a) { return (v + a - 1) / a * a; }

// Free 2 MiB hugepages according to /proc/meminfo; 0 if none or unreadable.
uint64_t FreeHugepages() {
  std::ifstream in("/proc/meminfo");
  std::string key;
  uint64_t value = 0;
  while (in >> key >> value) {
    if (key == "HugePages_Free:") return value;
    in.ignore(256, '\n');
  }
  return 0;
}

std::string Errno(const char* what) { return std::string(what) + ": " + std::strerror(errno); }

}  // namespace

int32_t ValidatePoolConfig(const PoolConfig& c, std::string* error) {
  auto fail = [&](std::string msg) {
    *error = "pool '" + c.name + "': " + msg;
    return kErrInvalidArgument;
  };
  if (c.count == 0 || c.count > kPoolMaxCount)
    return fail("count " + std::to_string(c.count) + " must be between 1 and " +
                std::to_string(kPoolMaxCount));
  if (c.buf_size < kPoolMinBufSize || c.buf_size > kPoolMaxBufSize ||
      (c.buf_size & (c.buf_size - 1)) != 0)
    return fail("bufferSize " + std::to_string(c.buf_size) +
                " must be a power of two from 2048 to 16384 (AF_XDP chunk sizes)");
  if (c.headroom > c.buf_size - 64 || c.headroom % 8 != 0)
    return fail("headroom " + std::to_string(c.headroom) +
                " must be a multiple of 8 leaving at least 64 bytes of data room in a " +
                std::to_string(c.buf_size) + "-byte buffer");
  // JavaScript sees the buffers through one Uint8Array, whose length V8 caps at 2^32.
  if (uint64_t(c.count) * c.buf_size > (1ull << 32))
    return fail("count * bufferSize is " + std::to_string(uint64_t(c.count) * c.buf_size) +
                " bytes; one pool can hold at most 4 GiB of buffers (use several pools)");
  if (c.cache_size > kCacheMaxSize)
    return fail("cacheSize " + std::to_string(c.cache_size) + " must be at most " +
                std::to_string(kCacheMaxSize));
  // As rte_mempool: caches that could hold most of the pool starve other workers.
  if (c.cache_size > 0 && uint64_t(c.cache_size) * 3 > uint64_t(c.count) * 2)
    return fail("cacheSize " + std::to_string(c.cache_size) + " must be at most count / 1.5 (" +
                std::to_string(uint64_t(c.count) * 2 / 3) + ")");
  if (c.name.empty() || c.name.size() > 31) return fail("name must be 1 to 31 characters");
  return kOk;
}

int32_t Pool::Create(const PoolConfig& config, std::shared_ptr<Pool>* out, std::string* error) {
  int32_t st = ValidatePoolConfig(config, error);
  if (st != kOk) return st;

  const uint64_t count = config.count;
  uint64_t off = count * config.buf_size;
  const uint64_t buffers_size = off;
  off = AlignUp(off, 64);
  const uint64_t layout_offset = off;
  off += sizeof(PoolLayout);
  uint64_t meta_offset[kMetaFieldCount];
  for (uint32_t f = 0; f < kMetaFieldCount; f++) {
    off = AlignUp(off, 64);
    meta_offset[f] = off;
    off += count * kMetaFields[f].width;
  }
  const uint64_t needed = off;

  // Hugepages when asked or when enough are free; otherwise 4 KiB pages, and say why.
  std::unique_ptr<Pool> pool(new Pool());
  pool->config_ = config;
  pool->debug_ = config.debug;
  bool want_huge = false;
  std::string note;
  const uint64_t huge_size = AlignUp(needed, kHugePageSize);
  const uint64_t free_huge = FreeHugepages();
  if (config.hugepages != HugepageMode::kNever) {
    if (free_huge * kHugePageSize >= huge_size) {
      want_huge = true;
    } else {
      note = "4 KiB pages: " + std::to_string(huge_size / kHugePageSize) +
             " free 2 MiB hugepages needed, " + std::to_string(free_huge) + " free";
    }
  } else {
    note = "4 KiB pages: hugepages disabled by configuration";
  }
  if (config.hugepages == HugepageMode::kRequire && !want_huge) {
    *error = "pool '" + config.name + "': hugepages required but not available (" + note +
             "; reserve some with: echo N > /proc/sys/vm/nr_hugepages)";
    return kErrNoHugepages;
  }

  int fd = -1;
  uint64_t size = 0;
  void* mem = MAP_FAILED;
  const int populate = config.prefault ? MAP_POPULATE : 0;
  if (want_huge) {
    fd = memfd_create(config.name.c_str(), MFD_CLOEXEC | MFD_HUGETLB | MFD_HUGE_2MB);
    size = huge_size;
    // Shared hugetlb mappings reserve their pages at mmap time, so a shortage shows here as
    // ENOMEM rather than as SIGBUS on first touch.
    if (fd >= 0 && ftruncate(fd, size) == 0)
      mem = mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_SHARED | populate, fd, 0);
    if (mem == MAP_FAILED) {
      note = Errno("4 KiB pages: hugepage mapping failed");
      if (fd >= 0) close(fd);
      fd = -1;
      if (config.hugepages == HugepageMode::kRequire) {
        *error = "pool '" + config.name + "': hugepages required but " + note;
        return kErrNoHugepages;
      }
    } else {
      pool->hugepages_ = true;
      note = "2 MiB hugepages";
    }
  }
  if (mem == MAP_FAILED) {
    size = AlignUp(needed, kSmallPageSize);
    fd = memfd_create(config.name.c_str(), MFD_CLOEXEC);
    if (fd < 0) {
      *error = "pool '" + config.name + "': " + Errno("memfd_create");
      return kErrSystem;
    }
    if (ftruncate(fd, size) != 0) {
      *error = "pool '" + config.name + "': " + Errno("ftruncate");
      close(fd);
      return kErrNoMemory;
    }
    mem = mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_SHARED | populate, fd, 0);
    if (mem == MAP_FAILED) {
      *error = "pool '" + config.name + "': " + Errno("mmap");
      close(fd);
      return kErrNoMemory;
    }
  }
  pool->fd_ = fd;
  pool->base_ = static_cast<uint8_t*>(mem);
  pool->region_size_ = size;
  pool->page_note_ = note;

  PoolLayout* layout = reinterpret_cast<PoolLayout*>(pool->base_ + layout_offset);
  std::memcpy(layout->magic, "VNFPOOL", 8);
  layout->version = 1;
  layout->count = config.count;
  layout->buf_size = config.buf_size;
  layout->headroom = config.headroom;
  layout->page_size = pool->hugepages_ ? kHugePageSize : kSmallPageSize;
  layout->debug = config.debug;
  layout->region_size = size;
  layout->buffers_offset = 0;
  layout->buffers_size = buffers_size;
  std::copy(meta_offset, meta_offset + kMetaFieldCount, layout->meta_offset);
  std::snprintf(layout->name, sizeof(layout->name), "%s", config.name.c_str());
  pool->layout_ = layout;
  // Native code never reads the region's own copy back: JavaScript (or a peer holding the
  // memfd) can write it. These private copies are what bounds every access.
  std::copy(meta_offset, meta_offset + kMetaFieldCount, pool->meta_offset_);
  pool->buffers_size_ = buffers_size;

  // The free ring lives outside the shared region for the same reason: its geometry and
  // cursors must not be writable by anything but this code.
  const uint32_t ring_slots = RingSlotsFor(config.count, true);
  pool->ring_bytes_ = (RingMemSize(ring_slots) + 127) / 128 * 128;
  pool->ring_ = static_cast<RingHeader*>(std::aligned_alloc(128, pool->ring_bytes_));
  if (!pool->ring_) {
    *error = "pool '" + config.name + "': out of memory for the free ring";
    return kErrNoMemory;
  }
  new (pool->ring_) RingHeader();
  RingInit(pool->ring_, config.count, kRingExactCapacity);
  // Fill in ascending order so that a fresh pool hands out 0, 1, 2, ... (easier to debug).
  uint32_t chunk[256];
  for (uint32_t i = 0; i < config.count;) {
    uint32_t n = std::min<uint32_t>(256, config.count - i);
    for (uint32_t k = 0; k < n; k++) chunk[k] = i + k;
    RingEnqueue(pool->ring_, chunk, n, RingBehavior::kBulk, nullptr);
    i += n;
  }
  if (config.debug) std::memset(pool->base_, kPoisonByte, buffers_size);
  out->reset(pool.release());
  return kOk;
}

Pool::~Pool() {
  std::free(ring_);
  if (base_) munmap(base_, region_size_);
  if (fd_ >= 0) close(fd_);
}

std::unique_ptr<PoolCache> Pool::NewCache(uint32_t size) {
  auto cache = std::make_unique<PoolCache>();
  cache->size = size;
  cache->flush_threshold = size + size / 2;
  // Worst cases: a put of up to kCacheMaxSize on a cache just under its threshold, and a
  // refill to size + n with n < size.
  cache->objs.resize(std::max<size_t>(size_t(cache->flush_threshold) + kCacheMaxSize, size_t(size) * 2));
  std::lock_guard<std::mutex> lock(caches_mu_);
  caches_.push_back(cache.get());
  return cache;
}

void Pool::ReleaseCache(PoolCache* cache) {
  const uint32_t len = cache->len.load(std::memory_order_relaxed);
  if (len) RingEnqueue(ring_, cache->objs.data(), len, RingBehavior::kBulk, nullptr);
  cache->len.store(0, std::memory_order_relaxed);
  std::lock_guard<std::mutex> lock(caches_mu_);
  retired_hits_ += cache->hits.load(std::memory_order_relaxed);
  retired_misses_ += cache->misses.load(std::memory_order_relaxed);
  caches_.erase(std::remove(caches_.begin(), caches_.end(), cache), caches_.end());
}

int32_t Pool::GetSlow(PoolCache* cache, uint32_t* dst, uint32_t n, ErrorDetail* detail) {
  if (n == 0) return 0;
  if (cache == nullptr || cache->size == 0) {
    if (RingDequeue(ring_, dst, n, RingBehavior::kBulk, nullptr) == 0) return 0;
    return debug_ ? DebugCheckGet(dst, n, detail) : int32_t(n);
  }
  uint32_t len = cache->len.load(std::memory_order_relaxed);
  if (n <= len) {
    CountOwned(cache->hits);  // a hit that skipped the inline path (debug mode)
  } else {
    CountOwned(cache->misses);
    // Refill to the cache's nominal size plus what this call needs, in one ring access.
    const uint32_t req = n < cache->size ? n + (cache->size - len) : 0;
    if (req != 0 &&
        RingDequeue(ring_, cache->objs.data() + len, req, RingBehavior::kBulk, nullptr) == req) {
      len += req;
    } else {
      // Large request, or the ring cannot refill us: what the cache has plus the rest from
      // the ring (as rte_mempool does). The ring part is all or nothing, so on failure the
      // cache is untouched and the call changes nothing.
      const uint32_t rest = n - len;
      if (RingDequeue(ring_, dst, rest, RingBehavior::kBulk, nullptr) == 0) return 0;
      const uint32_t* top = cache->objs.data() + len;
      for (uint32_t i = rest; i < n; i++) dst[i] = *(--top);
      cache->len.store(0, std::memory_order_relaxed);
      return debug_ ? DebugCheckGet(dst, n, detail) : int32_t(n);
    }
  }
  const uint32_t* top = cache->objs.data() + len;
  for (uint32_t i = 0; i < n; i++) dst[i] = *(--top);
  cache->len.store(len - n, std::memory_order_relaxed);
  return debug_ ? DebugCheckGet(dst, n, detail) : int32_t(n);
}

int32_t Pool::Alloc(PoolCache* cache, uint32_t* dst, uint32_t n, ErrorDetail* detail) {
  const int32_t got = Get(cache, dst, n, detail);
  if (got > 0) ResetMeta(dst, uint32_t(got));
  return got;
}

int32_t Pool::PutSlow(PoolCache* cache, const uint32_t* src, uint32_t n, ErrorDetail* detail) {
  if (n == 0) return 0;
  if (debug_) {
    const int32_t st = DebugCheckPut(src, n, detail);
    if (st != kOk) return st;
  }
  // The free ring holds exactly `count`: it can only refuse entries if more buffers are
  // freed than exist, i.e. after a double free that debug mode was not there to catch.
  if (cache == nullptr || cache->size == 0 || n > kCacheMaxSize) {
    if (RingEnqueue(ring_, src, n, RingBehavior::kBulk, nullptr) == 0) return Overflow(src, detail);
    return int32_t(n);
  }
  uint32_t len = cache->len.load(std::memory_order_relaxed);
  std::memcpy(cache->objs.data() + len, src, size_t(n) * 4);
  len += n;
  if (len >= cache->flush_threshold) {
    // Keep the nominal size, hand the excess back.
    const uint32_t excess = len - cache->size;
    const bool ok = RingEnqueue(ring_, cache->objs.data() + cache->size, excess,
                                RingBehavior::kBulk, nullptr) == excess;
    cache->len.store(cache->size, std::memory_order_relaxed);
    // On overflow the excess are duplicates of entries already free: dropping them keeps the
    // ring consistent; the caller hears about it.
    if (!ok) return Overflow(src, detail);
    return int32_t(n);
  }
  cache->len.store(len, std::memory_order_relaxed);
  return int32_t(n);
}

int32_t Pool::Overflow(const uint32_t* src, ErrorDetail* detail) {
  if (detail) *detail = ErrorDetail{src[0], 0};
  return kErrPoolOverflow;
}

int32_t Pool::DebugCheckGet(uint32_t* dst, uint32_t n, ErrorDetail* detail) {
  uint8_t* st = state();
  const uint32_t bs = config_.buf_size;
  for (uint32_t i = 0; i < n; i++) {
    const uint8_t* buf = base_ + uint64_t(dst[i]) * bs;
    // The whole buffer was poisoned when it was freed: any other byte means someone wrote
    // to it while it was free.
    bool intact = true;
    for (uint32_t b = 0; b < bs; b++) {
      if (buf[b] != kPoisonByte) {
        intact = false;
        break;
      }
    }
    if (!intact) {
      detail->index = dst[i];
      detail->position = i;
      // Re-poison it and return the whole request, so the error leaks nothing.
      std::memset(base_ + uint64_t(dst[i]) * bs, kPoisonByte, bs);
      RingEnqueue(ring_, dst, n, RingBehavior::kBulk, nullptr);
      return kErrUseAfterFree;
    }
  }
  for (uint32_t i = 0; i < n; i++) st[dst[i]] = 1;
  return int32_t(n);
}

int32_t Pool::DebugCheckPut(const uint32_t* src, uint32_t n, ErrorDetail* detail) {
  uint8_t* st = state();
  // Mark as we go so that the same index twice in one put is caught; undo on failure so an
  // error leaves the pool as it was (all or nothing).
  for (uint32_t i = 0; i < n; i++) {
    if (st[src[i]] != 1) {
      for (uint32_t k = 0; k < i; k++) st[src[k]] = 1;
      detail->index = src[i];
      detail->position = i;
      return kErrDoubleFree;
    }
    st[src[i]] = 0;
  }
  const uint32_t bs = config_.buf_size;
  for (uint32_t i = 0; i < n; i++) std::memset(base_ + uint64_t(src[i]) * bs, kPoisonByte, bs);
  return kOk;
}

void Pool::ResetMeta(const uint32_t* idx, uint32_t n) {
  auto* data_off = static_cast<uint16_t*>(meta(kMetaDataOff));
  auto* data_len = static_cast<uint16_t*>(meta(kMetaDataLen));
  auto* port = static_cast<uint16_t*>(meta(kMetaPort));
  auto* next = static_cast<uint16_t*>(meta(kMetaNext));
  auto* ptype = static_cast<uint32_t*>(meta(kMetaPtype));
  auto* mark = static_cast<uint32_t*>(meta(kMetaMark));
  auto* chain = static_cast<uint32_t*>(meta(kMetaChain));
  const uint16_t headroom = uint16_t(config_.headroom);
  // Header offsets and the flow hash are meaningful only under ptype bits, so clearing
  // ptype is enough for them.
  for (uint32_t i = 0; i < n; i++) {
    const uint32_t b = idx[i];
    data_off[b] = headroom;
    data_len[b] = 0;
    port[b] = kNoPort;
    next[b] = 0;
    ptype[b] = 0;
    mark[b] = 0;
    chain[b] = kNoBuffer;
  }
}

PoolStats Pool::Stats() {
  PoolStats s{};
  s.count = config_.count;
  std::lock_guard<std::mutex> lock(caches_mu_);
  s.free_in_ring = RingCount(ring_);
  s.cache_hits = retired_hits_;
  s.cache_misses = retired_misses_;
  for (PoolCache* c : caches_) {
    // A snapshot: len is owned by another thread; a relaxed read is all we promise.
    s.free_in_caches += c->len.load(std::memory_order_relaxed);
    s.cache_hits += c->hits.load(std::memory_order_relaxed);
    s.cache_misses += c->misses.load(std::memory_order_relaxed);
  }
  // Snapshots taken at slightly different times can count a buffer being flushed twice.
  if (uint64_t(s.free_in_ring) + s.free_in_caches > s.count) s.free_in_caches = s.count - s.free_in_ring;
  const uint64_t free_total = uint64_t(s.free_in_ring) + s.free_in_caches;
  s.in_use = free_total >= s.count ? 0 : uint32_t(s.count - free_total);
  return s;
}

}  // namespace vnf
