// Virtqueues: see vring.h for the design, the threading and the memory ordering rules.
#include "virtio/vring.h"

#include <cstdarg>
#include <cstdio>
#include <cstring>
#include <new>

namespace vnf::virtio {

namespace {

// Shared-memory accessors. Relaxed loads are single, untorn reads (a plain mov on x86 and
// arm64): a value is fetched once into a local and checked there, never re-read.
template <typename T>
inline T Ld(const T* p) {
  return __atomic_load_n(p, __ATOMIC_RELAXED);
}
template <typename T>
inline T LdAcq(const T* p) {
  return __atomic_load_n(p, __ATOMIC_ACQUIRE);
}
template <typename T>
inline void St(T* p, T v) {
  __atomic_store_n(p, v, __ATOMIC_RELAXED);
}
template <typename T>
inline void StRel(T* p, T v) {
  __atomic_store_n(p, v, __ATOMIC_RELEASE);
}
// The spec's mb(): orders our publishing store before the load of the peer's event field.
inline void FullFence() { __atomic_thread_fence(__ATOMIC_SEQ_CST); }

inline size_t AlignUp(size_t v, size_t a) { return (v + a - 1) / a * a; }

inline uint32_t EventWord(uint16_t off_wrap, uint16_t flags) {
  return uint32_t(off_wrap) | uint32_t(flags) << 16;
}

// Packed descriptor flag tests. Available to the device when AVAIL == wrap and USED != wrap;
// used (for the driver) when AVAIL == USED == wrap.
inline bool PackedAvail(uint16_t flags, bool wrap) {
  return bool(flags & kDescAvail) == wrap && bool(flags & kDescUsed) != wrap;
}
inline bool PackedUsed(uint16_t flags, bool wrap) {
  return bool(flags & kDescAvail) == wrap && bool(flags & kDescUsed) == wrap;
}

// The event-suppression decision of the packed ring, as Linux and DPDK make it: the peer
// asked for an event at ring position off of lap `wrap`; our position moved from
// new_pos - moved to new_pos (in the lap `cur_wrap`). A position of the previous lap counts
// as off - size.
inline bool PackedNeedEvent(uint32_t evt, uint16_t new_pos, bool cur_wrap, uint32_t moved,
                            uint32_t size) {
  if (moved == 0) return false;
  const uint16_t flags = uint16_t(evt >> 16);
  if (flags != kEventFlagsDesc) return flags != kEventFlagsDisable;
  if (moved > size) return true;  // more than a lap since the last decision: be safe
  const uint16_t off_wrap = uint16_t(evt);
  int32_t off = off_wrap & 0x7fff;
  if (bool(off_wrap >> 15) != cur_wrap) off -= int32_t(size);
  const int32_t old_pos = int32_t(new_pos) - int32_t(moved);
  return NeedEvent(uint16_t(off), new_pos, uint16_t(old_pos));
}

template <typename T>
void Free(T*& p) {
  delete[] p;
  p = nullptr;
}

}  // namespace

bool ValidQueueSize(uint32_t size, bool packed) {
  if (size == 0 || size > kMaxQueueSize) return false;
  return packed || (size & (size - 1)) == 0;
}

bool ComputeRingLayout(uint32_t size, bool packed, RingLayout* out) {
  if (!ValidQueueSize(size, packed)) return false;
  RingLayout l;
  l.size = size;
  l.packed = packed;
  l.desc_offset = 0;
  l.desc_bytes = size_t(size) * 16;
  l.driver_offset = AlignUp(l.desc_bytes, kRingAlign);
  l.driver_bytes = packed ? 4 : 6 + 2 * size_t(size);
  l.device_offset = AlignUp(l.driver_offset + l.driver_bytes, kRingAlign);
  l.device_bytes = packed ? 4 : 6 + 8 * size_t(size);
  l.total_bytes = AlignUp(l.device_offset + l.device_bytes, kRingAlign);
  *out = l;
  return true;
}

QueueConfig QueueConfigFromFeatures(uint64_t features, uint32_t size, uint16_t queue_index) {
  QueueConfig c;
  c.size = size;
  c.packed = features & Bit(kRingPacked);
  c.event_idx = features & Bit(kRingEventIdx);
  c.indirect = features & Bit(kRingIndirectDesc);
  c.in_order = features & Bit(kInOrder);
  c.queue_index = queue_index;
  return c;
}

const char* VqErrorName(int32_t code) {
  switch (code) {
    case kVqOk: return "VQ_OK";
    case kVqBroken: return "VQ_BROKEN";
    case kVqAvailIdx: return "VQ_AVAIL_IDX";
    case kVqDescIndex: return "VQ_DESC_INDEX";
    case kVqChainLength: return "VQ_CHAIN_LENGTH";
    case kVqIndirectNotNegotiated: return "VQ_INDIRECT_NOT_NEGOTIATED";
    case kVqIndirectNext: return "VQ_INDIRECT_NEXT";
    case kVqIndirectSize: return "VQ_INDIRECT_SIZE";
    case kVqNestedIndirect: return "VQ_NESTED_INDIRECT";
    case kVqBadAddress: return "VQ_BAD_ADDRESS";
    case kVqWriteOrder: return "VQ_WRITE_ORDER";
    case kVqBufferId: return "VQ_BUFFER_ID";
    case kVqUsedIdx: return "VQ_USED_IDX";
    case kVqUsedId: return "VQ_USED_ID";
    case kVqRingAddress: return "VQ_RING_ADDRESS";
    case kVqNotPopped: return "VQ_NOT_POPPED";
    case kVqSegmentSpace: return "VQ_SEGMENT_SPACE";
    case kVqChainInvalid: return "VQ_CHAIN_INVALID";
    case kVqChainBytes: return "VQ_CHAIN_BYTES";
    default: return "VQ_UNKNOWN";
  }
}

bool MemoryMap::Add(uint64_t guest_addr, uint64_t size, void* host) {
  if (count_ == kMaxRegions || size == 0 || host == nullptr) return false;
  const uint64_t last = guest_addr + (size - 1);
  if (last < guest_addr) return false;  // wraps past 2^64
  for (uint32_t i = 0; i < count_; i++) {
    const MemRegion& r = regions_[i];
    const uint64_t rlast = r.guest_addr + (r.size - 1);
    if (guest_addr <= rlast && r.guest_addr <= last) return false;
  }
  regions_[count_++] = MemRegion{guest_addr, size, static_cast<uint8_t*>(host)};
  return true;
}

// ---------------------------------------------------------------------------------------
// Driver side.

DriverQueue::~DriverQueue() {
  Free(cookie_);
  Free(ndesc_);
  Free(next_);
  Free(free_ids_);
  Free(fifo_);
  Free(seq_);
  Free(wlen_);
}

namespace {
// The first error of a queue, as "<layout> queue <n>[ (driver)]: <what>". Later ones keep it.
int32_t RecordError(VqErrorInfo* err, int32_t code, bool packed, uint16_t queue, const char* side,
                    const char* fmt, va_list ap) {
  if (err->code != kVqOk) return err->code;
  err->code = code;
  int n = std::snprintf(err->message, sizeof err->message, "%s queue %u%s: ", packed ? "packed" : "split",
                        unsigned(queue), side);
  if (n < 0) n = 0;
  if (size_t(n) < sizeof err->message) std::vsnprintf(err->message + n, sizeof err->message - size_t(n), fmt, ap);
  return code;
}
}  // namespace

int32_t DriverQueue::Fail(int32_t code, const char* fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  const int32_t r = RecordError(&err_, code, packed_, cfg_.queue_index, " (driver)", fmt, ap);
  va_end(ap);
  return r;
}

int32_t DriverQueue::Init(const QueueConfig& cfg, void* ring, void* indirect,
                          uint64_t indirect_guest, uint32_t indirect_max,
                          uint32_t indirect_threshold) {
  this->~DriverQueue();
  new (this) DriverQueue();
  cfg_ = cfg;
  packed_ = cfg.packed;
  if (!ComputeRingLayout(cfg.size, cfg.packed, &layout_))
    return Fail(kVqRingAddress, "invalid queue size %u", cfg.size);
  if (ring == nullptr || reinterpret_cast<uintptr_t>(ring) % kRingAlign != 0)
    return Fail(kVqRingAddress, "ring memory missing or not %zu-aligned", kRingAlign);
  if (cfg.indirect && indirect != nullptr &&
      (indirect_max < 2 || indirect_max > kMaxQueueSize ||
       reinterpret_cast<uintptr_t>(indirect) % 16 != 0 || indirect_guest % 16 != 0))
    return Fail(kVqRingAddress, "indirect area: %u entries per table, needs 2..32768 and 16-aligned",
                indirect_max);
  size_ = cfg.size;
  mask_ = size_ - 1;  // split only
  uint8_t* base = static_cast<uint8_t*>(ring);
  std::memset(base, 0, layout_.total_bytes);
  cookie_ = new uint32_t[size_]();
  ndesc_ = new uint16_t[size_]();
  if (cfg.in_order) {
    fifo_ = new uint16_t[size_]();
    seq_ = new uint32_t[size_]();
    wlen_ = new uint32_t[size_]();
  }
  if (packed_) {
    pdesc_ = reinterpret_cast<PackedDesc*>(base + layout_.desc_offset);
    driver_evt_ = reinterpret_cast<uint32_t*>(base + layout_.driver_offset);
    device_evt_ = reinterpret_cast<uint32_t*>(base + layout_.device_offset);
    free_ids_ = new uint16_t[size_];
    // Stack popped from the top: ids come out 0, 1, 2, ...
    for (uint32_t i = 0; i < size_; i++) free_ids_[i] = uint16_t(size_ - 1 - i);
    nfree_ids_ = size_;
  } else {
    sdesc_ = reinterpret_cast<SplitDesc*>(base + layout_.desc_offset);
    uint8_t* avail = base + layout_.driver_offset;
    avail_flags_ = reinterpret_cast<uint16_t*>(avail);
    avail_idx_p_ = reinterpret_cast<uint16_t*>(avail + 2);
    avail_ring_ = reinterpret_cast<uint16_t*>(avail + 4);
    used_event_p_ = reinterpret_cast<uint16_t*>(avail + 4 + 2 * size_t(size_));
    uint8_t* used = base + layout_.device_offset;
    used_flags_ = reinterpret_cast<uint16_t*>(used);
    used_idx_p_ = reinterpret_cast<uint16_t*>(used + 2);
    used_ring_ = reinterpret_cast<SplitUsedElem*>(used + 4);
    avail_event_p_ = reinterpret_cast<uint16_t*>(used + 4 + 8 * size_t(size_));
    next_ = new uint16_t[size_];
    for (uint32_t i = 0; i < size_; i++) next_[i] = uint16_t((i + 1) & mask_);
    free_tail_ = uint16_t(size_ - 1);
  }
  num_free_ = size_;
  if (cfg.indirect && indirect != nullptr) {
    indir_ = static_cast<uint8_t*>(indirect);
    indir_guest_ = indirect_guest;
    indir_max_ = indirect_max;
    indir_threshold_ = indirect_threshold < 2 ? 2 : indirect_threshold;
  }
  return kVqOk;
}

inline uint16_t DriverQueue::TakeSlot() {
  if (packed_) return free_ids_[--nfree_ids_];
  const uint16_t head = free_head_;
  // In order: descriptors are used in table order, so the free ones are one contiguous run.
  free_head_ = cfg_.in_order ? uint16_t((head + 1) & mask_) : next_[head];
  return head;
}

inline void DriverQueue::Track(uint16_t slot, uint32_t cookie, uint16_t ndesc, uint32_t wlen) {
  cookie_[slot] = cookie;
  ndesc_[slot] = ndesc;
  if (fifo_ != nullptr) {
    seq_[slot] = fifo_tail_;
    wlen_[slot] = wlen;
    fifo_[fifo_tail_++ % size_] = slot;
  }
}

uint32_t DriverQueue::AddSingles(const uint64_t* addr, const uint32_t* len, const uint32_t* ids,
                                 uint32_t n, bool device_writes) {
  if (broken()) return 0;
  if (n > num_free_) n = num_free_;
  if (n == 0) return 0;
  const uint16_t wflag = device_writes ? kDescWrite : 0;
  n = packed_ ? AddSinglesPacked(addr, len, ids, n, wflag) : AddSinglesSplit(addr, len, ids, n, wflag);
  num_free_ -= n;
  outstanding_ += n;
  kick_added_ += n;
  return n;
}

uint32_t DriverQueue::AddSinglesSplit(const uint64_t* addr, const uint32_t* len,
                                      const uint32_t* ids, uint32_t n, uint16_t flags) {
  SplitDesc* const desc = sdesc_;
  uint16_t idx = avail_idx_;
  const bool wl = flags & kDescWrite;
  for (uint32_t i = 0; i < n; i++) {
    const uint16_t head = TakeSlot();
    SplitDesc& d = desc[head];
    d.addr = addr[i];
    d.len = len[i];
    d.flags = flags;
    avail_ring_[idx++ & mask_] = head;
    Track(head, ids[i], 1, wl ? len[i] : 0);
  }
  avail_idx_ = idx;
  StRel(avail_idx_p_, idx);  // descriptors and ring entries before the index
  return n;
}

uint32_t DriverQueue::AddSinglesPacked(const uint64_t* addr, const uint32_t* len,
                                       const uint32_t* ids, uint32_t n, uint16_t flags) {
  if (n > nfree_ids_) n = nfree_ids_;
  PackedDesc* const desc = pdesc_;
  const uint16_t first = next_avail_;
  uint16_t pos = first;
  bool wrap = avail_wrap_;
  uint16_t first_flags = 0;
  const bool wl = flags & kDescWrite;
  for (uint32_t i = 0; i < n; i++) {
    const uint16_t id = TakeSlot();
    PackedDesc& d = desc[pos];
    d.addr = addr[i];
    d.len = len[i];
    d.id = id;
    const uint16_t f = uint16_t(flags | (wrap ? kDescAvail : kDescUsed));
    // The device polls only the first position of the burst: it sees none of it before
    // that flag, stored last with release, and all of it after.
    if (i == 0) first_flags = f;
    else St(&d.flags, f);
    Track(id, ids[i], 1, wl ? len[i] : 0);
    if (++pos == size_) {
      pos = 0;
      wrap = !wrap;
    }
  }
  StRel(&desc[first].flags, first_flags);
  next_avail_ = pos;
  avail_wrap_ = wrap;
  return n;
}

int32_t DriverQueue::AddChain(const BufDesc* chain, uint32_t count, uint32_t id) {
  if (broken()) return err_.code;
  if (count == 0) return kVqChainInvalid;
  uint32_t wlen = 0;
  for (uint32_t i = 0; i < count; i++) {
    if (chain[i].device_writes) wlen += chain[i].len;
    else if (i > 0 && chain[i - 1].device_writes) return kVqChainInvalid;  // readable after writable
  }
  const bool use_indirect = indir_ != nullptr && count > 1 && count <= indir_max_ &&
                            (count >= indir_threshold_ || count > num_free_);
  const uint32_t ndesc = use_indirect ? 1 : count;
  if (ndesc > size_) return kVqChainInvalid;
  if (ndesc > num_free_ || (packed_ && nfree_ids_ == 0)) return 0;

  const uint16_t slot = TakeSlot();
  if (use_indirect) {
    const size_t toff = size_t(slot) * indir_max_ * 16;
    const uint64_t taddr = indir_guest_ + toff;
    if (packed_) {
      PackedDesc* t = reinterpret_cast<PackedDesc*>(indir_ + toff);
      for (uint32_t i = 0; i < count; i++)
        t[i] = PackedDesc{chain[i].addr, chain[i].len, 0, chain[i].device_writes ? kDescWrite : uint16_t(0)};
      PackedDesc& d = pdesc_[next_avail_];
      d.addr = taddr;
      d.len = count * 16;
      d.id = slot;
      StRel(&d.flags, uint16_t(kDescIndirect | (avail_wrap_ ? kDescAvail : kDescUsed)));
    } else {
      SplitDesc* t = reinterpret_cast<SplitDesc*>(indir_ + toff);
      for (uint32_t i = 0; i < count; i++) {
        const uint16_t f = uint16_t((chain[i].device_writes ? kDescWrite : 0) | (i + 1 < count ? kDescNext : 0));
        t[i] = SplitDesc{chain[i].addr, chain[i].len, f, uint16_t(i + 1 < count ? i + 1 : 0)};
      }
      SplitDesc& d = sdesc_[slot];
      d.addr = taddr;
      d.len = count * 16;
      d.flags = kDescIndirect;
    }
  } else if (packed_) {
    const uint16_t first = next_avail_;
    uint16_t pos = first;
    bool wrap = avail_wrap_;
    uint16_t first_flags = 0;
    for (uint32_t i = 0; i < count; i++) {
      PackedDesc& d = pdesc_[pos];
      d.addr = chain[i].addr;
      d.len = chain[i].len;
      d.id = slot;  // the device reads it from the last one; Linux writes it to all
      const uint16_t f = uint16_t((chain[i].device_writes ? kDescWrite : 0) | (i + 1 < count ? kDescNext : 0) |
                                  (wrap ? kDescAvail : kDescUsed));
      if (i == 0) first_flags = f;
      else St(&d.flags, f);
      if (++pos == size_) {
        pos = 0;
        wrap = !wrap;
      }
    }
    StRel(&pdesc_[first].flags, first_flags);
  } else {
    // Split: walk the free list (in order: consecutive descriptors, next = x + 1 mod N).
    uint16_t cur = slot;
    for (uint32_t i = 0; i < count; i++) {
      SplitDesc& d = sdesc_[cur];
      d.addr = chain[i].addr;
      d.len = chain[i].len;
      if (i + 1 < count) {
        const uint16_t nxt = TakeSlot();
        if (!cfg_.in_order) next_[cur] = nxt;  // TakeSlot followed next_[cur] already
        d.flags = uint16_t((chain[i].device_writes ? kDescWrite : 0) | kDescNext);
        d.next = nxt;
        cur = nxt;
      } else {
        d.flags = chain[i].device_writes ? kDescWrite : 0;
      }
    }
  }
  if (packed_) {
    next_avail_ = uint16_t(next_avail_ + ndesc);
    if (next_avail_ >= size_) {
      next_avail_ = uint16_t(next_avail_ - size_);
      avail_wrap_ = !avail_wrap_;
    }
  } else {
    avail_ring_[avail_idx_++ & mask_] = slot;
    StRel(avail_idx_p_, avail_idx_);
  }
  Track(slot, id, uint16_t(ndesc), wlen);
  num_free_ -= ndesc;
  outstanding_++;
  kick_added_ += ndesc;
  return 1;
}

bool DriverQueue::KickNeeded() {
  if (broken()) return false;
  FullFence();  // our avail idx / flags store before the load of the device's event field
  const uint32_t added = kick_added_;
  kick_added_ = 0;
  if (added == 0) return false;
  if (packed_) return PackedNeedEvent(Ld(device_evt_), next_avail_, avail_wrap_, added, size_);
  const uint16_t old = kick_old_;
  kick_old_ = avail_idx_;
  if (cfg_.event_idx) return NeedEvent(Ld(avail_event_p_), avail_idx_, old);
  return !(Ld(used_flags_) & kUsedNoNotify);
}

void DriverQueue::DisableNotify() {
  if (packed_) {
    St(driver_evt_, EventWord(0, kEventFlagsDisable));
  } else {
    // With EVENT_IDX the device ignores the flag; leaving used_event where it was limits it
    // to at most one more notification.
    St(avail_flags_, kAvailNoInterrupt);
  }
}

bool DriverQueue::EnableNotify() {
  if (packed_) {
    const uint16_t off_wrap = uint16_t(last_used_ | (used_wrap_ ? 0x8000 : 0));
    St(driver_evt_, cfg_.event_idx ? EventWord(off_wrap, kEventFlagsDesc) : EventWord(0, kEventFlagsEnable));
    FullFence();
    // The rest of a half-consumed IN_ORDER batch is waiting too.
    return batch_left_ > 0 || PackedUsed(LdAcq(&pdesc_[last_used_].flags), used_wrap_);
  }
  // Split: an IN_ORDER batch in progress has its used entries published already.
  if (cfg_.event_idx) St(used_event_p_, uint16_t(last_used_ + batch_left_));
  St(avail_flags_, uint16_t(0));
  FullFence();
  return batch_left_ > 0 || LdAcq(used_idx_p_) != last_used_;
}

// IN_ORDER: the used entry names `id`; the batch is every outstanding buffer up to it.
inline uint32_t DriverQueue::InOrderBatch(uint16_t id, uint32_t avail_slots, int32_t* err) {
  if (id >= size_ || ndesc_[id] == 0) {
    *err = Fail(kVqUsedId, "used id %u at used position %u is not an outstanding buffer", id,
                last_used_);
    return 0;
  }
  const uint32_t k = seq_[id] - fifo_head_ + 1;
  if (k > avail_slots) {
    *err = Fail(kVqUsedIdx, "in-order used id %u completes %u buffers but only %u used entries "
                "were published", id, k, avail_slots);
    return 0;
  }
  return k;
}

int32_t DriverQueue::PollUsed(uint32_t* ids, uint32_t* lens, uint32_t max) {
  if (broken()) return err_.code;
  return packed_ ? PollPacked(ids, lens, max) : PollSplit(ids, lens, max);
}

int32_t DriverQueue::PollSplit(uint32_t* ids, uint32_t* lens, uint32_t max) {
  const uint16_t used_idx = LdAcq(used_idx_p_);  // entries after this load
  const uint16_t avail = uint16_t(used_idx - last_used_);
  if (avail > outstanding_)
    return Fail(kVqUsedIdx, "used idx %u moved %u past %u, but only %u buffers are outstanding",
                used_idx, avail, last_used_, outstanding_);
  uint32_t n = avail < max ? avail : max;
  uint32_t out = 0;
  if (fifo_ != nullptr) {
    int32_t err = 0;
    while (out < n) {
      if (batch_left_ == 0) {
        const SplitUsedElem& e = used_ring_[last_used_ & mask_];
        const uint32_t id = Ld(&e.id);
        batch_len_ = Ld(&e.len);
        if (id >= size_) return Fail(kVqUsedId, "used id %u at used idx %u >= queue size", id, last_used_);
        batch_left_ = InOrderBatch(uint16_t(id), uint16_t(used_idx - last_used_), &err);
        if (err) return err;
      }
      const uint16_t head = fifo_[fifo_head_++ % size_];
      ids[out] = cookie_[head];
      lens[out] = batch_left_ == 1 ? batch_len_ : wlen_[head];
      out++;
      batch_left_--;
      num_free_ += ndesc_[head];
      ndesc_[head] = 0;
      last_used_++;
    }
  } else {
    for (; out < n; out++) {
      const SplitUsedElem& e = used_ring_[(last_used_ + out) & mask_];
      const uint32_t id = Ld(&e.id);
      const uint32_t len = Ld(&e.len);
      if (id >= size_ || ndesc_[id] == 0) {
        last_used_ = uint16_t(last_used_ + out);
        outstanding_ -= out;
        return Fail(kVqUsedId, "used id %u at used idx %u is not an outstanding head", id,
                    uint16_t(last_used_));
      }
      ids[out] = cookie_[id];
      lens[out] = len;
      // Append the chain to the free list (its links are in next_, private, not the ring).
      // Appending (FIFO, as DPDK does) rather than pushing on top (LIFO, as Linux does) keeps
      // descriptors going out in table order while completions come in order: the device
      // then reads each descriptor cache line once for four descriptors, and the driver
      // writes them in sequence (split_tx 12 -> 25 Mpps in vring_bench, two threads).
      uint16_t tail = uint16_t(id);
      for (uint32_t k = ndesc_[id]; k > 1; k--) tail = next_[tail];
      if (num_free_ == 0) free_head_ = uint16_t(id);
      else next_[free_tail_] = uint16_t(id);
      free_tail_ = tail;
      num_free_ += ndesc_[id];
      ndesc_[id] = 0;
    }
    last_used_ = uint16_t(last_used_ + out);
  }
  outstanding_ -= out;
  return int32_t(out);
}

int32_t DriverQueue::PollPacked(uint32_t* ids, uint32_t* lens, uint32_t max) {
  uint32_t out = 0;
  int32_t err = 0;
  while (out < max) {
    uint16_t slot;
    uint32_t len;
    if (fifo_ != nullptr && batch_left_ > 0) {
      slot = fifo_[fifo_head_ % size_];
      len = batch_left_ == 1 ? batch_len_ : wlen_[slot];
    } else {
      const PackedDesc& d = pdesc_[last_used_];
      if (!PackedUsed(LdAcq(&d.flags), used_wrap_)) break;  // id and len after the flags
      const uint16_t id = Ld(&d.id);
      len = Ld(&d.len);
      if (id >= size_ || ndesc_[id] == 0)
        return Fail(kVqUsedId, "used buffer id %u at ring position %u is not outstanding", id,
                    last_used_);
      if (fifo_ != nullptr) {
        batch_len_ = len;
        batch_left_ = InOrderBatch(id, outstanding_, &err);
        if (err) return err;
        slot = fifo_[fifo_head_ % size_];
        len = batch_left_ == 1 ? batch_len_ : wlen_[slot];
      } else {
        slot = id;
      }
    }
    if (fifo_ != nullptr) {
      fifo_head_++;
      batch_left_--;
    }
    ids[out] = cookie_[slot];
    lens[out] = len;
    out++;
    const uint16_t nd = ndesc_[slot];
    ndesc_[slot] = 0;
    num_free_ += nd;
    outstanding_--;
    free_ids_[nfree_ids_++] = slot;
    last_used_ = uint16_t(last_used_ + nd);
    if (last_used_ >= size_) {
      last_used_ = uint16_t(last_used_ - size_);
      used_wrap_ = !used_wrap_;
    }
  }
  return int32_t(out);
}

// ---------------------------------------------------------------------------------------
// Device side.

DeviceQueue::~DeviceQueue() {
  Free(slots_);
  Free(fifo_);
}

int32_t DeviceQueue::Fail(int32_t code, const char* fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  const int32_t r = RecordError(&err_, code, packed_, cfg_.queue_index, "", fmt, ap);
  va_end(ap);
  return r;
}

int32_t DeviceQueue::Init(const QueueConfig& cfg, const MemoryMap* map, uint64_t desc,
                          uint64_t driver, uint64_t device) {
  this->~DeviceQueue();
  new (this) DeviceQueue();
  cfg_ = cfg;
  packed_ = cfg.packed;
  map_ = map;
  RingLayout l;
  if (!ComputeRingLayout(cfg.size, cfg.packed, &l)) return Fail(kVqRingAddress, "invalid queue size %u", cfg.size);
  if (map == nullptr) return Fail(kVqRingAddress, "no memory map");
  uint8_t* d = map->Translate(desc, l.desc_bytes);
  uint8_t* drv = map->Translate(driver, l.driver_bytes);
  uint8_t* dev = map->Translate(device, l.device_bytes);
  if (d == nullptr || drv == nullptr || dev == nullptr)
    return Fail(kVqRingAddress, "ring address outside the memory map (desc 0x%llx, driver 0x%llx, device 0x%llx)",
                (unsigned long long)desc, (unsigned long long)driver, (unsigned long long)device);
  const uintptr_t dalign = 16, drv_align = packed_ ? 4 : 2, dev_align = 4;
  if (reinterpret_cast<uintptr_t>(d) % dalign || reinterpret_cast<uintptr_t>(drv) % drv_align ||
      reinterpret_cast<uintptr_t>(dev) % dev_align)
    return Fail(kVqRingAddress, "ring parts misaligned (desc 0x%llx, driver 0x%llx, device 0x%llx)",
                (unsigned long long)desc, (unsigned long long)driver, (unsigned long long)device);
  size_ = cfg.size;
  mask_ = size_ - 1;
  if (packed_) {
    pdesc_ = reinterpret_cast<PackedDesc*>(d);
    driver_evt_ = reinterpret_cast<const uint32_t*>(drv);
    device_evt_ = reinterpret_cast<uint32_t*>(dev);
    St(device_evt_, EventWord(0, kEventFlagsEnable));
  } else {
    sdesc_ = reinterpret_cast<const SplitDesc*>(d);
    avail_flags_ = reinterpret_cast<const uint16_t*>(drv);
    avail_idx_p_ = reinterpret_cast<const uint16_t*>(drv + 2);
    avail_ring_ = reinterpret_cast<const uint16_t*>(drv + 4);
    used_event_p_ = reinterpret_cast<const uint16_t*>(drv + 4 + 2 * size_t(size_));
    used_flags_ = reinterpret_cast<uint16_t*>(dev);
    used_idx_p_ = reinterpret_cast<uint16_t*>(dev + 2);
    used_ring_ = reinterpret_cast<SplitUsedElem*>(dev + 4);
    avail_event_p_ = reinterpret_cast<uint16_t*>(dev + 4 + 8 * size_t(size_));
    St(used_flags_, uint16_t(0));
    St(avail_event_p_, uint16_t(0));
  }
  slots_ = new uint32_t[size_]();
  if (cfg.in_order) fifo_ = new uint16_t[size_]();
  return kVqOk;
}

inline void DeviceQueue::Track(uint16_t id, uint32_t slots) {
  slots_[id] = slots;
  popped_++;
  if (fifo_ != nullptr) fifo_[fifo_tail_++ % size_] = id;
}

// One descriptor's buffer: translated, ordered (readable before writable), appended.
inline int32_t DeviceQueue::Emit(uint64_t addr, uint32_t len, bool write, bool* seen_write,
                                 Chain* c, Segment* segs, uint32_t max_segs, uint32_t* nseg,
                                 const char* where, uint32_t where_idx) {
  if (!write && *seen_write)
    return Fail(kVqWriteOrder, "%s %u: device-readable descriptor after a device-writable one",
                where, where_idx);
  *seen_write |= write;
  if (len == 0) return 1;  // nothing to read or write: no segment
  // The spec caps a chain at 2^32 bytes (split-ring.tex, "Drivers MUST NOT add a descriptor
  // chain longer than 2^32 bytes in total"). The totals are 32-bit: without this a chain of
  // 2 GiB + 2 GiB + 100 bytes would report 100 readable bytes while its segments hold 4 GiB.
  if (uint64_t(c->read_len) + c->write_len + len > UINT32_MAX)
    return Fail(kVqChainBytes, "%s %u: the chain's buffers add up to 4 GiB or more", where, where_idx);
  uint8_t* p = map_->Translate(addr, len);
  if (p == nullptr)
    return Fail(kVqBadAddress, "%s %u: buffer 0x%llx+%u outside guest memory", where, where_idx,
                (unsigned long long)addr, len);
  if (*nseg == max_segs) return 0;
  segs[(*nseg)++] = Segment{p, len, write ? 1u : 0u};
  c->nsegs++;
  if (write) c->write_len += len;
  else c->read_len += len;
  return 1;
}

int32_t DeviceQueue::ReadIndirect(uint64_t addr, uint32_t len, Chain* c, Segment* segs,
                                  uint32_t max_segs, uint32_t* nseg, bool* seen_write,
                                  uint32_t where_idx) {
  if (!cfg_.indirect)
    return Fail(kVqIndirectNotNegotiated, "descriptor %u: INDIRECT flag but VIRTIO_F_INDIRECT_DESC not negotiated",
                where_idx);
  if (len == 0 || len % 16 != 0 || len / 16 > kMaxQueueSize)
    return Fail(kVqIndirectSize, "descriptor %u: indirect table length %u (needs a non-zero multiple of 16, at most %u entries)",
                where_idx, len, kMaxQueueSize);
  const uint8_t* t = map_->Translate(addr, len);
  if (t == nullptr)
    return Fail(kVqBadAddress, "descriptor %u: indirect table 0x%llx+%u outside guest memory", where_idx,
                (unsigned long long)addr, len);
  if (reinterpret_cast<uintptr_t>(t) % 8 != 0)
    return Fail(kVqIndirectSize, "descriptor %u: indirect table 0x%llx not 8-byte aligned", where_idx,
                (unsigned long long)addr);
  const uint32_t n = len / 16;
  if (packed_) {
    // Packed tables: entries in order, no links; only the WRITE flag means something.
    const PackedDesc* pt = reinterpret_cast<const PackedDesc*>(t);
    for (uint32_t i = 0; i < n; i++) {
      const uint16_t f = Ld(&pt[i].flags);
      if (f & kDescIndirect)
        return Fail(kVqNestedIndirect, "descriptor %u: indirect table entry %u is itself indirect", where_idx, i);
      const int32_t r = Emit(Ld(&pt[i].addr), Ld(&pt[i].len), f & kDescWrite, seen_write, c, segs,
                             max_segs, nseg, "indirect entry", i);
      if (r <= 0) return r;
    }
    return 1;
  }
  const SplitDesc* st = reinterpret_cast<const SplitDesc*>(t);
  uint32_t i = 0;
  for (uint32_t count = 1;; count++) {
    if (count > n)
      return Fail(kVqChainLength, "descriptor %u: indirect chain longer than its table of %u (a loop)", where_idx, n);
    const uint16_t f = Ld(&st[i].flags);
    if (f & kDescIndirect)
      return Fail(kVqNestedIndirect, "descriptor %u: indirect table entry %u is itself indirect", where_idx, i);
    const int32_t r = Emit(Ld(&st[i].addr), Ld(&st[i].len), f & kDescWrite, seen_write, c, segs,
                           max_segs, nseg, "indirect entry", i);
    if (r <= 0) return r;
    if (!(f & kDescNext)) return 1;
    const uint16_t nx = Ld(&st[i].next);
    if (nx >= n)
      return Fail(kVqDescIndex, "descriptor %u: indirect entry %u links to %u, table has %u", where_idx, i, nx, n);
    i = nx;
  }
}

int32_t DeviceQueue::PopAvail(Chain* chains, uint32_t max_chains, Segment* segs, uint32_t max_segs) {
  if (broken()) return err_.code;
  return packed_ ? PopPacked(chains, max_chains, segs, max_segs) : PopSplit(chains, max_chains, segs, max_segs);
}

int32_t DeviceQueue::PopSplit(Chain* chains, uint32_t max_chains, Segment* segs, uint32_t max_segs) {
  const uint16_t avail_idx = LdAcq(avail_idx_p_);  // ring entries and descriptors after this
  const uint16_t avail = uint16_t(avail_idx - last_avail_);
  if (avail > size_)
    return Fail(kVqAvailIdx, "avail idx %u is %u ahead of the last one read (%u), more than the queue size %u",
                avail_idx, avail, last_avail_, size_);
  const uint32_t n = avail < max_chains ? avail : max_chains;
  uint32_t nseg = 0, out = 0;
  for (; out < n; out++) {
    const uint16_t ring_pos = uint16_t(last_avail_ + out);
    const uint16_t head = Ld(&avail_ring_[ring_pos & mask_]);
    if (head >= size_)
      return Fail(kVqDescIndex, "avail ring entry %u (avail idx %u): head descriptor %u >= queue size %u",
                  ring_pos & mask_, ring_pos, head, size_);
    if (slots_[head] != 0)
      return Fail(kVqBufferId, "avail idx %u: head descriptor %u is already in use by the device", ring_pos, head);
    Chain& c = chains[out];
    c = Chain{head, 0, nseg, 0, 0};
    const uint32_t seg0 = nseg;
    bool seen_write = false;
    uint16_t i = head;
    int32_t r = 1;
    for (uint32_t count = 1;; count++) {
      if (count > size_) {
        r = Fail(kVqChainLength, "chain at head %u (avail idx %u) is longer than the queue size %u (a loop)",
                 head, ring_pos, size_);
        break;
      }
      const SplitDesc& d = sdesc_[i];
      const uint16_t f = Ld(&d.flags);
      if (f & kDescIndirect) {
        if (f & kDescNext) {
          r = Fail(kVqIndirectNext, "descriptor %u (head %u): INDIRECT together with NEXT", i, head);
          break;
        }
        r = ReadIndirect(Ld(&d.addr), Ld(&d.len), &c, segs, max_segs, &nseg, &seen_write, i);
        break;
      }
      r = Emit(Ld(&d.addr), Ld(&d.len), f & kDescWrite, &seen_write, &c, segs, max_segs, &nseg,
               "descriptor", i);
      if (r <= 0 || !(f & kDescNext)) break;
      const uint16_t nx = Ld(&d.next);
      if (nx >= size_) {
        r = Fail(kVqDescIndex, "descriptor %u (head %u) links to %u >= queue size %u", i, head, nx, size_);
        break;
      }
      i = nx;
    }
    if (r < 0) return r;
    if (r == 0) {  // segments full: leave this chain for the next call
      nseg = seg0;
      if (out == 0) return kVqSegmentSpace;
      break;
    }
    Track(head, 1);
  }
  last_avail_ = uint16_t(last_avail_ + out);
  if (cfg_.event_idx && kicks_enabled_) St(avail_event_p_, last_avail_);
  return int32_t(out);
}

int32_t DeviceQueue::PopPacked(Chain* chains, uint32_t max_chains, Segment* segs, uint32_t max_segs) {
  uint32_t nseg = 0, out = 0;
  while (out < max_chains) {
    const uint16_t start = next_avail_;
    const uint16_t head_flags = LdAcq(&pdesc_[start].flags);  // the chain after its first flags
    if (!PackedAvail(head_flags, avail_wrap_)) break;
    Chain& c = chains[out];
    c = Chain{0, 0, nseg, 0, 0};
    const uint32_t seg0 = nseg;
    bool seen_write = false;
    uint16_t pos = start;
    uint16_t f = head_flags;
    uint32_t slots = 0;
    uint16_t id = 0;
    int32_t r = 1;
    for (;;) {
      // Descriptors after the first are published by the first one's flags; like DPDK and
      // Linux we read their NEXT / WRITE / INDIRECT bits but do not check their AVAIL / USED.
      const PackedDesc& d = pdesc_[pos];
      if (slots > 0) f = Ld(&d.flags);
      slots++;
      if (f & kDescIndirect) {
        if ((f & kDescNext) || slots > 1) {
          r = Fail(kVqIndirectNext, "descriptor %u (chain at %u): INDIRECT in a chain of several descriptors",
                   pos, start);
          break;
        }
        r = ReadIndirect(Ld(&d.addr), Ld(&d.len), &c, segs, max_segs, &nseg, &seen_write, pos);
      } else {
        r = Emit(Ld(&d.addr), Ld(&d.len), f & kDescWrite, &seen_write, &c, segs, max_segs, &nseg,
                 "descriptor", pos);
      }
      if (r <= 0) break;
      if (!(f & kDescNext)) {
        id = Ld(&d.id);  // the buffer id is in the last descriptor
        break;
      }
      if (slots >= size_) {
        r = Fail(kVqChainLength, "chain at ring position %u is longer than the queue size %u", start, size_);
        break;
      }
      if (++pos == size_) pos = 0;
    }
    if (r < 0) return r;
    if (r == 0) {
      nseg = seg0;
      if (out == 0) return kVqSegmentSpace;
      break;
    }
    if (id >= size_)
      return Fail(kVqBufferId, "chain at ring position %u: buffer id %u >= queue size %u", start, id, size_);
    if (slots_[id] != 0)
      return Fail(kVqBufferId, "chain at ring position %u: buffer id %u is already in use", start, id);
    c.id = id;
    Track(id, slots);
    out++;
    uint32_t np = uint32_t(start) + slots;
    if (np >= size_) {
      np -= size_;
      avail_wrap_ = !avail_wrap_;
    }
    next_avail_ = uint16_t(np);
  }
  if (cfg_.event_idx && kicks_enabled_ && out > 0)
    St(device_evt_, EventWord(uint16_t(next_avail_ | (avail_wrap_ ? 0x8000 : 0)), kEventFlagsDesc));
  return int32_t(out);
}

int32_t DeviceQueue::PushUsed(const uint16_t* ids, const uint32_t* lens, uint32_t n) {
  if (broken()) return err_.code;
  if (n == 0) return 0;
  // Our own bookkeeping first: nothing is written unless every id is a popped buffer, each
  // once (bit 31 marks the ids seen in this burst; slot counts are <= 32768).
  constexpr uint32_t kSeen = 0x80000000u;
  if (n > popped_) return kVqNotPopped;
  for (uint32_t i = 0; i < n; i++) {
    const uint16_t id = ids[i];
    bool ok = id < size_ && slots_[id] != 0 && !(slots_[id] & kSeen);
    if (ok && fifo_ != nullptr) ok = fifo_[(fifo_head_ + i) % size_] == id;
    if (!ok) {
      for (uint32_t j = 0; j < i; j++) slots_[ids[j]] &= ~kSeen;
      return kVqNotPopped;
    }
    slots_[id] |= kSeen;
  }
  // The write loops below clear the marks (slots_ goes to 0).
  if (packed_) {
    const uint16_t first = next_used_;
    uint32_t pos = first;
    bool wrap = used_wrap_;
    uint16_t first_flags = 0;
    for (uint32_t i = 0; i < n; i++) {
      PackedDesc& d = pdesc_[pos];
      St(&d.id, ids[i]);
      St(&d.len, lens[i]);
      const uint16_t f = wrap ? uint16_t(kDescAvail | kDescUsed) : uint16_t(0);
      if (i == 0) first_flags = f;
      else St(&d.flags, f);
      const uint32_t slots = slots_[ids[i]] & ~kSeen;
      slots_[ids[i]] = 0;
      pos += slots;
      pushed_slots_ += slots;
      if (pos >= size_) {
        pos -= size_;
        wrap = !wrap;
      }
    }
    StRel(&pdesc_[first].flags, first_flags);  // the driver polls only the first
    next_used_ = uint16_t(pos);
    used_wrap_ = wrap;
  } else {
    uint16_t idx = used_idx_;
    for (uint32_t i = 0; i < n; i++) {
      SplitUsedElem& e = used_ring_[idx++ & mask_];
      St(&e.id, uint32_t(ids[i]));
      St(&e.len, lens[i]);
      slots_[ids[i]] = 0;
    }
    used_idx_ = idx;
    StRel(used_idx_p_, idx);  // elements before the index
  }
  popped_ -= n;
  if (fifo_ != nullptr) fifo_head_ += n;
  return int32_t(n);
}

int32_t DeviceQueue::PushUsedBatch(uint32_t count, uint32_t last_len) {
  if (broken()) return err_.code;
  if (fifo_ == nullptr || count == 0 || count > popped_) return kVqNotPopped;
  const uint16_t last = fifo_[(fifo_head_ + count - 1) % size_];
  if (packed_) {
    uint32_t skip = 0;
    for (uint32_t i = 0; i < count; i++) {
      const uint16_t id = fifo_[(fifo_head_ + i) % size_];
      skip += slots_[id];
      slots_[id] = 0;
    }
    PackedDesc& d = pdesc_[next_used_];
    St(&d.id, last);
    St(&d.len, last_len);
    StRel(&d.flags, used_wrap_ ? uint16_t(kDescAvail | kDescUsed) : uint16_t(0));
    uint32_t pos = next_used_ + skip;
    while (pos >= size_) {
      pos -= size_;
      used_wrap_ = !used_wrap_;
    }
    next_used_ = uint16_t(pos);
    pushed_slots_ += skip;
  } else {
    for (uint32_t i = 0; i < count; i++) slots_[fifo_[(fifo_head_ + i) % size_]] = 0;
    // One entry at the batch's first position; the index moves by the whole batch.
    SplitUsedElem& e = used_ring_[used_idx_ & mask_];
    St(&e.id, uint32_t(last));
    St(&e.len, last_len);
    used_idx_ = uint16_t(used_idx_ + count);
    StRel(used_idx_p_, used_idx_);
  }
  fifo_head_ += count;
  popped_ -= count;
  return int32_t(count);
}

int32_t DeviceQueue::SetBase(uint32_t base) {
  if (broken()) return err_.code;
  if (popped_ != 0) return Fail(kVqRingAddress, "SetBase with %u buffers popped", popped_);
  if (!packed_) {
    last_avail_ = uint16_t(base);
    used_idx_ = notify_old_ = Ld(used_idx_p_);  // the used ring says how far we got
    if (uint16_t(last_avail_ - used_idx_) != 0)
      return Fail(kVqRingAddress, "vring base %u but used idx %u: buffers in flight at the reset",
                  last_avail_, used_idx_);
  } else {
    const uint16_t avail = uint16_t(base & 0x7fff);
    const uint32_t used_part = base >> 16;
    const uint16_t used = used_part ? uint16_t(used_part & 0x7fff) : avail;
    if (avail >= size_ || used >= size_)
      return Fail(kVqRingAddress, "vring base 0x%x: position beyond queue size %u", base, size_);
    next_avail_ = avail;
    avail_wrap_ = base & 0x8000;
    next_used_ = used;
    used_wrap_ = used_part ? bool(base & 0x80000000u) : avail_wrap_;
  }
  return kVqOk;
}

uint32_t DeviceQueue::GetBase() const {
  if (!packed_) return last_avail_;
  return uint32_t(next_avail_) | (avail_wrap_ ? 0x8000u : 0) | uint32_t(next_used_) << 16 |
         (used_wrap_ ? 0x80000000u : 0);
}

bool DeviceQueue::NotifyNeeded() {
  if (broken()) return false;
  FullFence();  // our used idx / flags store before the load of the driver's event field
  if (packed_) {
    const uint32_t moved = pushed_slots_;
    pushed_slots_ = 0;
    return PackedNeedEvent(Ld(driver_evt_), next_used_, used_wrap_, moved, size_);
  }
  const uint16_t old = notify_old_;
  notify_old_ = used_idx_;
  if (old == used_idx_) return false;
  if (cfg_.event_idx) return NeedEvent(Ld(used_event_p_), used_idx_, old);
  return !(Ld(avail_flags_) & kAvailNoInterrupt);
}

void DeviceQueue::DisableKicks() {
  kicks_enabled_ = false;
  if (packed_) St(device_evt_, EventWord(0, kEventFlagsDisable));
  else St(used_flags_, kUsedNoNotify);
}

bool DeviceQueue::EnableKicks() {
  kicks_enabled_ = true;
  if (packed_) {
    St(device_evt_, cfg_.event_idx
                        ? EventWord(uint16_t(next_avail_ | (avail_wrap_ ? 0x8000 : 0)), kEventFlagsDesc)
                        : EventWord(0, kEventFlagsEnable));
    FullFence();
    return !broken() && PackedAvail(LdAcq(&pdesc_[next_avail_].flags), avail_wrap_);
  }
  if (cfg_.event_idx) St(avail_event_p_, last_avail_);
  St(used_flags_, uint16_t(0));
  FullFence();
  return !broken() && LdAcq(avail_idx_p_) != last_avail_;
}

}  // namespace vnf::virtio
