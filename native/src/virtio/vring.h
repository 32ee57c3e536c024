// Virtqueues, transport independent: the split and the packed ring layout (virtio 1.x,
// ../shared/testdata/virtio-spec split-ring.tex, packed-ring.tex), from both sides.
//
//   DriverQueue  the side that posts buffers (our virtio-net frontend). It owns the ring
//                memory (the caller allocates it, e.g. in the memfd shared with the backend)
//                and knows buffer addresses as the device will see them.
//   DeviceQueue  the side that consumes buffers (our vhost-user backend). Every index,
//                descriptor and address it reads comes from a peer it must not trust: each is
//                checked, and the first violation puts the queue into a broken state with a
//                code and a message (the port then resets the device). It never reads or
//                writes outside the ring areas and the MemoryMap's regions.
//
// Layout switch instead of two classes per side: each queue is one object with a `packed_`
// flag tested once per burst call (AddSingles, PollUsed, PopAvail, PushUsed), which then runs
// a separate split or packed loop. The branch is per burst, not per descriptor, and is always
// predicted; the port code that holds the queues needs neither templates nor virtual calls,
// and the bookkeeping both layouts share (cookies, descriptor counts, in-order FIFO, event
// suppression arithmetic, error state) lives in one place.
//
// Threads: a queue object is used by one thread at a time (its side's lcore); the driver and
// device objects of one ring may run in different threads or processes. Memory ordering on
// the shared fields follows the spec's barrier rules:
//   - descriptors (and avail ring entries / used elements) are written before the index or
//     flags that publish them: release store of avail.idx / used.idx / the first packed
//     descriptor's flags, written last;
//   - the reader loads that index / flags with acquire before reading what it publishes;
//   - before reading the peer's event suppression field (avail_event / used_event / packed
//     event structures / NO_NOTIFY flags) after publishing, a full fence (the spec's mb()):
//     otherwise a store-load reordering could lose a notification;
//   - every other shared field is read with a relaxed atomic load, exactly once, into a local
//     before it is checked: the peer cannot change a value between its check and its use.
#pragma once

#include <cstddef>
#include <cstdint>

#include "virtio/virtio_net.h"

namespace vnf::virtio {

constexpr uint32_t kMaxQueueSize = 32768;
constexpr size_t kRingAlign = 64;  // each ring part starts on its own cache line

// Ring structures as they are in shared memory.
struct SplitDesc {
  uint64_t addr;
  uint32_t len;
  uint16_t flags;
  uint16_t next;
};
struct SplitUsedElem {
  uint32_t id;
  uint32_t len;
};
struct PackedDesc {
  uint64_t addr;
  uint32_t len;
  uint16_t id;
  uint16_t flags;
};
// Packed ring event suppression structure (driver area / device area), read and written as
// one 32-bit word: off_wrap in the low half, flags in the high half.
struct EventSuppress {
  uint16_t off_wrap;  // descriptor ring offset (bits 0..14) and wrap counter (bit 15)
  uint16_t flags;     // kEventFlagsEnable / Disable / Desc
};
static_assert(sizeof(SplitDesc) == 16 && sizeof(PackedDesc) == 16 && sizeof(EventSuppress) == 4);

// The spec's vring_need_event: true when event_idx is in [old_idx, new_idx) (mod 2^16), i.e.
// the peer asked to be notified once the index passes event_idx and this update passed it.
inline bool NeedEvent(uint16_t event_idx, uint16_t new_idx, uint16_t old_idx) {
  return uint16_t(new_idx - event_idx - 1) < uint16_t(new_idx - old_idx);
}

// Where the three parts of a ring of `size` entries go in one contiguous area.
//   split:  descriptor table (16 * N, align 16), available ring (6 + 2N, align 2),
//           used ring (6 + 8N, align 4)
//   packed: descriptor ring (16 * N, align 16), driver event suppression (4, align 4),
//           device event suppression (4, align 4)
// Each part starts at a multiple of kRingAlign (the driver-written and device-written parts
// never share a cache line); total_bytes is a multiple of kRingAlign. The area itself must be
// kRingAlign-aligned.
struct RingLayout {
  uint32_t size = 0;
  bool packed = false;
  size_t desc_offset = 0, desc_bytes = 0;
  size_t driver_offset = 0, driver_bytes = 0;  // split: available ring; packed: driver event area
  size_t device_offset = 0, device_bytes = 0;  // split: used ring; packed: device event area
  size_t total_bytes = 0;
};
// Split: a power of two in [1, 32768]. Packed: any value in [1, 32768].
bool ValidQueueSize(uint32_t size, bool packed);
// False (and *out untouched) for an invalid size.
bool ComputeRingLayout(uint32_t size, bool packed, RingLayout* out);

// What the two sides negotiated for one queue.
struct QueueConfig {
  uint32_t size = 256;
  bool packed = false;     // VIRTIO_F_RING_PACKED
  bool event_idx = false;  // VIRTIO_F_RING_EVENT_IDX
  bool indirect = false;   // VIRTIO_F_INDIRECT_DESC
  bool in_order = false;   // VIRTIO_F_IN_ORDER
  uint16_t queue_index = 0;  // only for error messages
};
QueueConfig QueueConfigFromFeatures(uint64_t features, uint32_t size, uint16_t queue_index);

// Error codes (negative; distinct from vnf::Status). The queue keeps the first one.
enum VqError : int32_t {
  kVqOk = 0,
  kVqBroken = -100,                // an earlier error broke the queue; reset it
  kVqAvailIdx = -101,              // avail idx moved by more than the queue size
  kVqDescIndex = -102,             // head or next descriptor index >= table size
  kVqChainLength = -103,           // chain longer than the table allows: a loop
  kVqIndirectNotNegotiated = -104, // INDIRECT flag without VIRTIO_F_INDIRECT_DESC
  kVqIndirectNext = -105,          // INDIRECT together with NEXT / inside a packed chain
  kVqIndirectSize = -106,          // table length 0, not a multiple of 16, too big, misaligned
  kVqNestedIndirect = -107,        // INDIRECT inside an indirect table
  kVqBadAddress = -108,            // buffer or table outside the memory map
  kVqWriteOrder = -109,            // device-readable descriptor after a device-writable one
  kVqBufferId = -110,              // buffer id / head out of range or already in use
  kVqUsedIdx = -111,               // (driver) used idx moved by more than what is outstanding
  kVqUsedId = -112,                // (driver) used id that is not outstanding
  kVqRingAddress = -113,           // ring area unmapped or misaligned, invalid config
  kVqNotPopped = -114,             // (device) PushUsed of a buffer that was not popped
  kVqSegmentSpace = -115,          // (device) one chain has more segments than max_segs
  kVqChainInvalid = -116,          // (driver) AddChain of 0 entries or more than fit
  kVqChainBytes = -117,            // a chain's lengths add up to more than 2^32 - 1 bytes
};
const char* VqErrorName(int32_t code);

struct VqErrorInfo {
  int32_t code = kVqOk;
  char message[200] = {};
};

// Guest (device-visible) addresses to host pointers: what the vhost-user backend fills from
// SET_MEM_TABLE. A small table scanned linearly (a VM has a handful of regions).
struct MemRegion {
  uint64_t guest_addr;
  uint64_t size;
  uint8_t* host;
};

class MemoryMap {
 public:
  static constexpr uint32_t kMaxRegions = 32;
  // False when the table is full, size is 0, guest_addr + size overflows, or the region
  // overlaps one already there.
  bool Add(uint64_t guest_addr, uint64_t size, void* host);
  void Clear() { count_ = 0; }
  uint32_t count() const { return count_; }
  const MemRegion& region(uint32_t i) const { return regions_[i]; }
  // Host pointer of [addr, addr + len) if the whole range lies in one region, else nullptr.
  // len 0 asks only that addr is inside a region.
  uint8_t* Translate(uint64_t addr, uint64_t len) const {
    for (uint32_t i = 0; i < count_; i++) {
      const MemRegion& r = regions_[i];
      const uint64_t off = addr - r.guest_addr;  // wraps to a huge value when addr < guest_addr
      if (off < r.size && len <= r.size - off) return r.host + off;
    }
    return nullptr;
  }

 private:
  MemRegion regions_[kMaxRegions];
  uint32_t count_ = 0;
};

// One element of a chain the driver posts.
struct BufDesc {
  uint64_t addr;  // device-visible address
  uint32_t len;
  bool device_writes;  // device-writable (receive buffer); readable ones must come first
};

class DriverQueue {
 public:
  DriverQueue() = default;
  ~DriverQueue();
  DriverQueue(const DriverQueue&) = delete;
  DriverQueue& operator=(const DriverQueue&) = delete;

  // ring: host pointer to ComputeRingLayout(cfg.size).total_bytes bytes, kRingAlign-aligned;
  // Init zeroes it. indirect (optional, used only with cfg.indirect): an area of
  // IndirectBytes(size, indirect_max) bytes, 16-aligned, at device-visible address
  // indirect_guest: one table of indirect_max entries per buffer slot. AddChain uses a table
  // for chains of at least indirect_threshold entries (and for any chain that would not fit
  // in the free descriptors).
  int32_t Init(const QueueConfig& cfg, void* ring, void* indirect = nullptr,
               uint64_t indirect_guest = 0, uint32_t indirect_max = 0,
               uint32_t indirect_threshold = 3);
  static size_t IndirectBytes(uint32_t size, uint32_t indirect_max) {
    return size_t(size) * indirect_max * sizeof(SplitDesc);
  }

  // The hot path: n single-descriptor buffers (all device-writable, e.g. receive buffers, or
  // all device-readable), ids[i] is the caller's cookie returned by PollUsed. Publishes them
  // (one release store) and returns how many fit (a prefix).
  uint32_t AddSingles(const uint64_t* addr, const uint32_t* len, const uint32_t* ids, uint32_t n,
                      bool device_writes);
  // One buffer of `count` elements (device-readable ones first). 1 when added, 0 when there
  // is no room now, kVqChainInvalid for count 0, a chain that can never fit, or readable
  // after writable.
  int32_t AddChain(const BufDesc* chain, uint32_t count, uint32_t id);

  // After adding: must the device be notified (honours EVENT_IDX avail_event / packed device
  // event suppression, and NO_NOTIFY)? Counts what was added since the previous call.
  bool KickNeeded();

  // Up to max used buffers: the cookies given to Add and the lengths the device wrote. With
  // IN_ORDER a single used entry may complete several buffers (the earlier ones report the
  // total device-writable length they offered). Returns the count, or a negative VqError
  // when the device wrote something invalid (queue broken).
  int32_t PollUsed(uint32_t* ids, uint32_t* lens, uint32_t max);

  // Used-buffer notifications (interrupts / calls). EnableNotify returns true when used
  // buffers are already waiting: poll again instead of sleeping.
  void DisableNotify();
  bool EnableNotify();

  uint32_t NumFree() const { return num_free_; }        // free descriptors (ring slots)
  uint32_t Outstanding() const { return outstanding_; }  // buffers the device holds
  bool broken() const { return err_.code != kVqOk; }
  const VqErrorInfo& error() const { return err_; }
  const RingLayout& layout() const { return layout_; }
  const QueueConfig& config() const { return cfg_; }

 private:
  int32_t Fail(int32_t code, const char* fmt, ...) __attribute__((format(printf, 3, 4)));
  uint32_t AddSinglesSplit(const uint64_t* addr, const uint32_t* len, const uint32_t* ids,
                           uint32_t n, uint16_t flags);
  uint32_t AddSinglesPacked(const uint64_t* addr, const uint32_t* len, const uint32_t* ids,
                            uint32_t n, uint16_t flags);
  int32_t PollSplit(uint32_t* ids, uint32_t* lens, uint32_t max);
  int32_t PollPacked(uint32_t* ids, uint32_t* lens, uint32_t max);
  uint16_t TakeSlot();  // split: a head descriptor (in-order: next in table order); packed: a buffer id
  void Track(uint16_t slot, uint32_t cookie, uint16_t ndesc, uint32_t wlen);
  uint32_t InOrderBatch(uint16_t id, uint32_t avail_slots, int32_t* err);

  QueueConfig cfg_;
  RingLayout layout_;
  bool packed_ = false;
  uint32_t size_ = 0, mask_ = 0;
  uint32_t num_free_ = 0, outstanding_ = 0;
  // Split ring.
  SplitDesc* sdesc_ = nullptr;
  uint16_t* avail_flags_ = nullptr;
  uint16_t* avail_idx_p_ = nullptr;
  uint16_t* avail_ring_ = nullptr;
  uint16_t* used_event_p_ = nullptr;
  uint16_t* used_flags_ = nullptr;
  uint16_t* used_idx_p_ = nullptr;
  SplitUsedElem* used_ring_ = nullptr;
  uint16_t* avail_event_p_ = nullptr;
  uint16_t avail_idx_ = 0;  // shadow of avail.idx
  uint16_t free_head_ = 0;  // free list head (in-order: next descriptor in table order)
  uint16_t free_tail_ = 0;  // free list tail (not in-order): freed chains are appended
  // Packed ring.
  PackedDesc* pdesc_ = nullptr;
  uint32_t* driver_evt_ = nullptr;  // written by us
  uint32_t* device_evt_ = nullptr;  // written by the device
  uint16_t next_avail_ = 0;
  bool avail_wrap_ = true;
  bool used_wrap_ = true;
  uint16_t* free_ids_ = nullptr;  // stack of free buffer ids
  uint32_t nfree_ids_ = 0;
  // Both.
  uint16_t last_used_ = 0;      // split: used idx consumed; packed: ring position
  uint32_t kick_added_ = 0;     // descriptors (packed: slots) added since the last KickNeeded
  uint16_t kick_old_ = 0;       // split: avail idx at the last KickNeeded
  uint32_t* cookie_ = nullptr;  // per slot: caller's id
  uint16_t* ndesc_ = nullptr;   // per slot: ring descriptors it holds; 0 = free
  uint16_t* next_ = nullptr;    // split: private copy of the free list / chain links
  // IN_ORDER: FIFO of outstanding slots, each slot's position in it, offered writable length.
  uint16_t* fifo_ = nullptr;
  uint32_t* seq_ = nullptr;
  uint32_t* wlen_ = nullptr;
  uint32_t fifo_head_ = 0, fifo_tail_ = 0;
  uint32_t batch_left_ = 0, batch_len_ = 0;
  // Indirect tables.
  uint8_t* indir_ = nullptr;
  uint64_t indir_guest_ = 0;
  uint32_t indir_max_ = 0, indir_threshold_ = 0;
  VqErrorInfo err_;
};

// One piece of a buffer the device popped, already translated.
struct Segment {
  uint8_t* ptr;
  uint32_t len;
  uint32_t write;  // 1: device-writable
};
// One buffer (descriptor chain) the device popped: its segments are
// segs[seg .. seg + nsegs). id goes back in PushUsed.
struct Chain {
  uint16_t id;
  uint16_t nsegs;
  uint32_t seg;
  uint32_t read_len;   // total device-readable bytes
  uint32_t write_len;  // total device-writable bytes
};

class DeviceQueue {
 public:
  DeviceQueue() = default;
  ~DeviceQueue();
  DeviceQueue(const DeviceQueue&) = delete;
  DeviceQueue& operator=(const DeviceQueue&) = delete;

  // Ring parts by device-visible address (SET_VRING_ADDR after translation to the map's
  // address space), each translated through map for its full size and checked for the
  // spec's alignment. map must outlive the queue and not change while it runs (a new mem
  // table means a new Init). A fresh queue: indices start at 0 (packed: wrap counters 1).
  int32_t Init(const QueueConfig& cfg, const MemoryMap* map, uint64_t desc, uint64_t driver,
               uint64_t device);

  // vhost-user SET_VRING_BASE / GET_VRING_BASE, with no buffers popped. Split: the next avail
  // index to read (the used index comes from the ring, and must equal it). Packed: bits 0-14
  // next avail position, bit 15 its wrap counter; bits 16-30 and 31 the same for the used
  // side (0 there: same as the avail side).
  int32_t SetBase(uint32_t base);
  uint32_t GetBase() const;

  // Up to max_chains available buffers, their segments into segs (at most max_segs).
  // Returns the count (0: nothing available), or a negative VqError: the driver broke the
  // protocol, the queue is broken (error() says which queue, which index, what), or
  // kVqSegmentSpace when the first chain alone needs more than max_segs (queue not broken).
  int32_t PopAvail(Chain* chains, uint32_t max_chains, Segment* segs, uint32_t max_segs);
  // Returns n used buffers (ids from PopAvail, lens = bytes written). With IN_ORDER they
  // must come in pop order. Returns n or kVqNotPopped (nothing written).
  int32_t PushUsed(const uint16_t* ids, const uint32_t* lens, uint32_t n);
  // IN_ORDER only: completes the `count` oldest popped buffers with one used entry (the id of
  // the last, last_len). The spec allows it, but not every driver reads it that way (DPDK's
  // split in-order receive path reads every used entry): a backend uses it only for drivers
  // known to take batches (ours does), PushUsed otherwise.
  int32_t PushUsedBatch(uint32_t count, uint32_t last_len);

  // After pushing: must the driver be notified (EVENT_IDX used_event / NO_INTERRUPT / packed
  // driver event suppression)? Counts what was pushed since the previous call.
  bool NotifyNeeded();

  // Available-buffer notifications (kicks). While enabled with EVENT_IDX, PopAvail keeps
  // avail_event (packed: the device event structure) at the next index it will read.
  // EnableKicks returns true when buffers are already available: poll instead of sleeping.
  void DisableKicks();
  bool EnableKicks();

  uint32_t Popped() const { return popped_; }  // popped, not yet pushed
  bool broken() const { return err_.code != kVqOk; }
  const VqErrorInfo& error() const { return err_; }
  const QueueConfig& config() const { return cfg_; }

 private:
  int32_t Fail(int32_t code, const char* fmt, ...) __attribute__((format(printf, 3, 4)));
  int32_t PopSplit(Chain* chains, uint32_t max_chains, Segment* segs, uint32_t max_segs);
  int32_t PopPacked(Chain* chains, uint32_t max_chains, Segment* segs, uint32_t max_segs);
  // Appends one descriptor's segment; 1 ok, 0 no room in segs, <0 error.
  int32_t Emit(uint64_t addr, uint32_t len, bool write, bool* seen_write, Chain* c, Segment* segs,
               uint32_t max_segs, uint32_t* nseg, const char* where, uint32_t where_idx);
  int32_t ReadIndirect(uint64_t addr, uint32_t len, Chain* c, Segment* segs, uint32_t max_segs,
                       uint32_t* nseg, bool* seen_write, uint32_t where_idx);
  void Track(uint16_t id, uint32_t slots);

  QueueConfig cfg_;
  const MemoryMap* map_ = nullptr;
  bool packed_ = false;
  uint32_t size_ = 0, mask_ = 0;
  // Split ring.
  const SplitDesc* sdesc_ = nullptr;
  const uint16_t* avail_flags_ = nullptr;
  const uint16_t* avail_idx_p_ = nullptr;
  const uint16_t* avail_ring_ = nullptr;
  const uint16_t* used_event_p_ = nullptr;
  uint16_t* used_flags_ = nullptr;
  uint16_t* used_idx_p_ = nullptr;
  SplitUsedElem* used_ring_ = nullptr;
  uint16_t* avail_event_p_ = nullptr;
  uint16_t last_avail_ = 0, used_idx_ = 0, notify_old_ = 0;
  // Packed ring.
  PackedDesc* pdesc_ = nullptr;
  const uint32_t* driver_evt_ = nullptr;
  uint32_t* device_evt_ = nullptr;
  uint16_t next_avail_ = 0, next_used_ = 0;
  bool avail_wrap_ = true, used_wrap_ = true;
  uint32_t pushed_slots_ = 0;  // packed: ring slots used since the last NotifyNeeded
  // Both.
  bool kicks_enabled_ = true;
  uint32_t popped_ = 0;
  uint32_t* slots_ = nullptr;  // per id/head: ring slots of the popped buffer; 0 = not popped
  uint16_t* fifo_ = nullptr;   // IN_ORDER: popped ids in order
  uint32_t fifo_head_ = 0, fifo_tail_ = 0;
  VqErrorInfo err_;
};

}  // namespace vnf::virtio
