// Packet buffer pool: one shared memory region holding N fixed-size buffers, their
// metadata as structure-of-arrays, and the lock-free free list (a ring of indices).
//
// Region layout (offsets in the PoolLayout record, which lives inside the region so that
// another process that receives the memfd can interpret it):
//
//   [ buffers: count * buf_size ][ layout ][ metadata arrays, 64-byte aligned ]
//
// The free ring (a ring of indices with exact capacity count) is private memory: nothing
// that JavaScript or a peer process can write is ever trusted for an address or a bound.
//
// Buffers come first so that a buffer's address is index * buf_size from the region
// start: exactly an AF_XDP UMEM frame address and a vhost-user guest-physical offset.
#pragma once

#include <atomic>
#include <cstdlib>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "errors.h"
#include "ring.h"

namespace vnf {

// Per-buffer metadata fields. One array per field (SoA): a stage that reads the packet
// type of 32 packets touches one or two cache lines, not 32.
enum MetaField : uint32_t {
  kMetaDataOff,     // u16: start of packet data within the buffer
  kMetaDataLen,     // u16: bytes of packet data in this buffer
  kMetaPort,        // u16: input port id (0xffff: none)
  kMetaNext,        // u16: next step chosen by a pipeline stage
  kMetaPtype,       // u32: packet type bits, written by parsers
  kMetaL2Off,       // u16: header offsets, relative to the start of packet data
  kMetaL3Off,       // u16
  kMetaL4Off,       // u16
  kMetaInnerL2Off,  // u16: tunnelled packet's headers (VXLAN, GTP-U, GRE)
  kMetaInnerL3Off,  // u16
  kMetaInnerL4Off,  // u16
  kMetaFlowHash,    // u32: RSS-style flow hash
  kMetaMark,        // u32: user mark (ACL, NAT, applications)
  kMetaChain,       // u32: next buffer of a multi-buffer packet (kNoBuffer: last)
  kMetaState,       // u8:  debug mode ownership (0 free, 1 allocated)
  kMetaFieldCount,
};

struct MetaFieldInfo {
  const char* name;
  uint32_t width;  // bytes per element
};
extern const MetaFieldInfo kMetaFields[kMetaFieldCount];

constexpr uint32_t kNoBuffer = 0xffffffffu;
constexpr uint16_t kNoPort = 0xffff;
constexpr uint32_t kPoolMaxCount = 1u << 24;
constexpr uint32_t kPoolMinBufSize = 2048;  // AF_XDP's smallest chunk
constexpr uint32_t kPoolMaxBufSize = 16384;  // data offsets and lengths are 16-bit
constexpr uint32_t kCacheMaxSize = 512;
constexpr uint8_t kPoisonByte = 0x6b;  // freed buffers are filled with it in debug mode

enum class HugepageMode { kAuto, kRequire, kNever };

struct PoolConfig {
  std::string name = "pool";
  uint32_t count = 0;
  uint32_t buf_size = 2048;
  uint32_t headroom = 256;
  uint32_t cache_size = 256;
  HugepageMode hugepages = HugepageMode::kAuto;
  bool debug = false;
  bool prefault = false;  // touch every page now (MAP_POPULATE) instead of on first use
};

// Lives at layout_offset inside the region.
struct PoolLayout {
  char magic[8];  // "VNFPOOL"
  uint32_t version;
  uint32_t count;
  uint32_t buf_size;
  uint32_t headroom;
  uint32_t page_size;
  uint32_t debug;
  uint64_t region_size;
  uint64_t buffers_offset;
  uint64_t buffers_size;
  uint64_t meta_offset[kMetaFieldCount];
  char name[32];
};

// A per-worker cache of free indices (rte_mempool_cache). Owned by exactly one thread at
// a time, so it needs no synchronisation; only its counters are read by others.
struct PoolCache {
  uint32_t size = 0;
  uint32_t flush_threshold = 0;
  // Written only by the owner; atomic (relaxed: plain moves on x86) so that Stats() may
  // read it from another thread.
  std::atomic<uint32_t> len{0};
  std::vector<uint32_t> objs;
  std::atomic<uint64_t> hits{0};    // get calls served from the cache
  std::atomic<uint64_t> misses{0};  // get calls that went to the shared ring
};

struct PoolStats {
  uint32_t count;
  uint32_t in_use;
  uint32_t free_in_ring;
  uint32_t free_in_caches;
  uint64_t cache_hits;
  uint64_t cache_misses;
};

class Pool {
 public:
  // Creates the region and fills the free ring. On failure returns a negative Status and
  // a message in *error; *out is untouched.
  static int32_t Create(const PoolConfig& config, std::shared_ptr<Pool>* out, std::string* error);
  ~Pool();
  Pool(const Pool&) = delete;
  Pool& operator=(const Pool&) = delete;

  // Caches are registered so that stats can count what they hold.
  std::unique_ptr<PoolCache> NewCache(uint32_t size);
  void ReleaseCache(PoolCache* cache);  // returns its buffers to the ring and unregisters

  // All or nothing: returns n, or 0 when fewer than n buffers are free. In debug mode it
  // may return kErrUseAfterFree (a freed buffer was written to), with *detail filled.
  // The cache-hit path is inline (below): a call per burst is a visible share of its cost.
  inline int32_t Get(PoolCache* cache, uint32_t* dst, uint32_t n, ErrorDetail* detail);
  // Get plus a reset of each buffer's metadata, as a receive path wants it.
  int32_t Alloc(PoolCache* cache, uint32_t* dst, uint32_t n, ErrorDetail* detail);
  // Returns n buffers. Indices must be < count (the binding checks). In debug mode a buffer
  // that is not allocated gives kErrDoubleFree and nothing is returned. Without debug mode a
  // double free is noticed only when the free ring would hold more than count entries:
  // kErrPoolOverflow, the surplus is dropped.
  inline int32_t Put(PoolCache* cache, const uint32_t* src, uint32_t n, ErrorDetail* detail);

  PoolStats Stats();

  const PoolConfig& config() const { return config_; }
  uint8_t* base() const { return base_; }
  size_t region_size() const { return region_size_; }
  int fd() const { return fd_; }
  bool hugepages() const { return hugepages_; }
  const std::string& page_note() const { return page_note_; }
  PoolLayout* layout() const { return layout_; }
  void* meta(MetaField f) const { return base_ + meta_offset_[f]; }
  uint64_t meta_offset(MetaField f) const { return meta_offset_[f]; }
  uint64_t buffers_size() const { return buffers_size_; }
  // Bytes spent beyond the buffers themselves: layout, metadata, page rounding, free ring.
  uint64_t overhead_bytes() const { return region_size_ - buffers_size_ + ring_bytes_; }
  uint8_t* state() const { return static_cast<uint8_t*>(meta(kMetaState)); }
  RingHeader* ring() const { return ring_; }
  uint32_t count() const { return config_.count; }
  bool debug() const { return config_.debug; }

 private:
  Pool() = default;
  int32_t GetSlow(PoolCache* cache, uint32_t* dst, uint32_t n, ErrorDetail* detail);
  int32_t PutSlow(PoolCache* cache, const uint32_t* src, uint32_t n, ErrorDetail* detail);
  int32_t Overflow(const uint32_t* src, ErrorDetail* detail);
  int32_t DebugCheckGet(uint32_t* dst, uint32_t n, ErrorDetail* detail);
  int32_t DebugCheckPut(const uint32_t* src, uint32_t n, ErrorDetail* detail);
  void ResetMeta(const uint32_t* idx, uint32_t n);

  PoolConfig config_;
  bool debug_ = false;  // config_.debug, kept next to the fast path's other reads
  uint8_t* base_ = nullptr;
  size_t region_size_ = 0;
  int fd_ = -1;
  bool hugepages_ = false;
  std::string page_note_;
  PoolLayout* layout_ = nullptr;  // written at creation for others; never read back
  uint64_t meta_offset_[kMetaFieldCount] = {};
  uint64_t buffers_size_ = 0;
  RingHeader* ring_ = nullptr;
  size_t ring_bytes_ = 0;
  std::mutex caches_mu_;
  std::vector<PoolCache*> caches_;
  uint64_t retired_hits_ = 0;  // counters of caches already released (under caches_mu_)
  uint64_t retired_misses_ = 0;
};

// Only the owning thread writes a cache's counters, so a plain load and store will do; an
// atomic increment would be a locked instruction on every call.
inline void CountOwned(std::atomic<uint64_t>& counter) {
  counter.store(counter.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
}

inline int32_t Pool::Get(PoolCache* cache, uint32_t* dst, uint32_t n, ErrorDetail* detail) {
  if (cache != nullptr && !debug_) {
    const uint32_t len = cache->len.load(std::memory_order_relaxed);
    if (n - 1 < len && n < cache->size) {  // 0 < n <= len
      CountOwned(cache->hits);
      // LIFO: the most recently freed buffers are the likeliest to still be in cache.
      const uint32_t* top = cache->objs.data() + len;
      for (uint32_t i = 0; i < n; i++) dst[i] = *(--top);
      cache->len.store(len - n, std::memory_order_relaxed);
      return int32_t(n);
    }
  }
  return GetSlow(cache, dst, n, detail);
}

inline int32_t Pool::Put(PoolCache* cache, const uint32_t* src, uint32_t n, ErrorDetail* detail) {
  if (cache != nullptr && !debug_) {
    const uint32_t len = cache->len.load(std::memory_order_relaxed);
    if (n <= kCacheMaxSize && len + n < cache->flush_threshold) {
      uint32_t* out = cache->objs.data() + len;
      for (uint32_t i = 0; i < n; i++) out[i] = src[i];
      cache->len.store(len + n, std::memory_order_relaxed);
      return int32_t(n);
    }
  }
  return PutSlow(cache, src, n, detail);
}

// Validates a configuration; returns kOk or an error with a message naming the field.
int32_t ValidatePoolConfig(const PoolConfig& config, std::string* error);

}  // namespace vnf
