// Tests of src/virtio/vring: driver and device of one ring in one process on the same memory
// (an identity MemoryMap: guest address == host pointer), split and packed. Round trips with
// wrap-around, chains, indirect tables, IN_ORDER batches, EVENT_IDX kick / notify decisions
// against the spec's rule, a randomized test with out-of-order completion, two threads
// streaming 10M buffers, and malformed rings the device (and driver) must reject.
#include <sys/mman.h>

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include "harness.h"
#include "test_util.h"
#include "virtio/vring.h"

using namespace vnf::virtio;
using vt::Rng;

namespace {

uint64_t G(const void* p) { return uint64_t(reinterpret_cast<uintptr_t>(p)); }

struct Aligned {
  explicit Aligned(size_t bytes) : size((bytes + 4095) / 4096 * 4096) {
    p = static_cast<uint8_t*>(std::aligned_alloc(4096, size));
    std::memset(p, 0, size);
  }
  ~Aligned() { std::free(p); }
  Aligned(const Aligned&) = delete;
  Aligned& operator=(const Aligned&) = delete;
  size_t size;
  uint8_t* p;
};

QueueConfig Cfg(uint32_t size, bool packed, bool event_idx = false, bool indirect = false,
                bool in_order = false) {
  QueueConfig c;
  c.size = size;
  c.packed = packed;
  c.event_idx = event_idx;
  c.indirect = indirect;
  c.in_order = in_order;
  c.queue_index = 3;
  return c;
}

// A ring, a buffer arena and an indirect area in one identity map; driver and device on it.
struct Rig {
  static constexpr uint32_t kBufSize = 256;
  static constexpr uint32_t kIndirMax = 16;
  QueueConfig cfg;
  RingLayout lay;
  Aligned ring;
  Aligned bufs;
  Aligned indir;
  MemoryMap map;
  DriverQueue drv;
  DeviceQueue dev;
  int32_t drv_init = 0, dev_init = 0;

  explicit Rig(const QueueConfig& c, uint32_t nbufs = 0)
      : cfg(c),
        lay(Layout(c)),
        ring(lay.total_bytes),
        bufs(size_t(nbufs ? nbufs : c.size * 8) * kBufSize),
        indir(DriverQueue::IndirectBytes(c.size, kIndirMax)) {
    map.Add(G(ring.p), ring.size, ring.p);
    map.Add(G(bufs.p), bufs.size, bufs.p);
    map.Add(G(indir.p), indir.size, indir.p);
    drv_init = drv.Init(c, ring.p, c.indirect ? indir.p : nullptr, G(indir.p), kIndirMax);
    dev_init = dev.Init(c, &map, G(ring.p + lay.desc_offset), G(ring.p + lay.driver_offset),
                        G(ring.p + lay.device_offset));
  }
  static RingLayout Layout(const QueueConfig& c) {
    RingLayout l;
    ComputeRingLayout(c.size, c.packed, &l);
    return l;
  }
  uint8_t* Buf(uint32_t i) { return bufs.p + size_t(i) * kBufSize; }

  // Split ring fields for crafting input by hand.
  SplitDesc* SDesc() { return reinterpret_cast<SplitDesc*>(ring.p + lay.desc_offset); }
  uint16_t* AvailIdx() { return reinterpret_cast<uint16_t*>(ring.p + lay.driver_offset + 2); }
  uint16_t* AvailRing() { return reinterpret_cast<uint16_t*>(ring.p + lay.driver_offset + 4); }
  uint16_t* UsedEvent() { return reinterpret_cast<uint16_t*>(ring.p + lay.driver_offset + 4 + 2 * cfg.size); }
  uint16_t* UsedIdx() { return reinterpret_cast<uint16_t*>(ring.p + lay.device_offset + 2); }
  SplitUsedElem* UsedRing() { return reinterpret_cast<SplitUsedElem*>(ring.p + lay.device_offset + 4); }
  uint16_t* AvailEvent() { return reinterpret_cast<uint16_t*>(ring.p + lay.device_offset + 4 + 8 * cfg.size); }
  void SplitPost(uint16_t head) {
    uint16_t idx = *AvailIdx();
    AvailRing()[idx % cfg.size] = head;
    *AvailIdx() = uint16_t(idx + 1);
  }
  // Packed ring fields.
  PackedDesc* PDesc() { return reinterpret_cast<PackedDesc*>(ring.p + lay.desc_offset); }
  uint32_t* DriverEvt() { return reinterpret_cast<uint32_t*>(ring.p + lay.driver_offset); }
  uint32_t* DeviceEvt() { return reinterpret_cast<uint32_t*>(ring.p + lay.device_offset); }
  // A descriptor made available in the first lap (wrap counter 1).
  void PackedPut(uint16_t pos, uint64_t addr, uint32_t len, uint16_t id, uint16_t flags) {
    PDesc()[pos] = PackedDesc{addr, len, id, uint16_t(flags | kDescAvail)};
  }
};

// Pops everything available and pushes it back in order with len = id + 1000; returns count.
uint32_t Echo(Rig& r, std::vector<Chain>& chains, std::vector<Segment>& segs) {
  const int32_t n = r.dev.PopAvail(chains.data(), uint32_t(chains.size()), segs.data(), uint32_t(segs.size()));
  if (n <= 0) return 0;
  std::vector<uint16_t> ids(n);
  std::vector<uint32_t> lens(n);
  for (int32_t i = 0; i < n; i++) {
    ids[i] = chains[i].id;
    lens[i] = chains[i].id + 1000u;
  }
  r.dev.PushUsed(ids.data(), lens.data(), uint32_t(n));
  return uint32_t(n);
}

}  // namespace

TEST(virtio_ring_layout_sizes) {
  RingLayout l;
  CHECK(ComputeRingLayout(256, false, &l));
  CHECK_EQ(l.desc_offset, 0u);
  CHECK_EQ(l.desc_bytes, 4096u);
  CHECK_EQ(l.driver_offset, 4096u);
  CHECK_EQ(l.driver_bytes, 6u + 512u);
  CHECK_EQ(l.device_offset % kRingAlign, 0u);
  CHECK(l.device_offset >= l.driver_offset + l.driver_bytes);
  CHECK_EQ(l.device_bytes, 6u + 8u * 256u);
  CHECK(l.total_bytes >= l.device_offset + l.device_bytes);
  CHECK_EQ(l.total_bytes % kRingAlign, 0u);
  CHECK(ComputeRingLayout(1000, true, &l));
  CHECK_EQ(l.desc_bytes, 16000u);
  CHECK_EQ(l.driver_bytes, 4u);
  CHECK_EQ(l.device_bytes, 4u);
  CHECK_EQ(l.driver_offset % kRingAlign, 0u);
  CHECK(l.device_offset > l.driver_offset);
  CHECK(ComputeRingLayout(32768, false, &l));
  CHECK(ComputeRingLayout(32768, true, &l));
  CHECK(!ComputeRingLayout(1000, false, &l));  // split: power of two
  CHECK(!ComputeRingLayout(0, true, &l));
  CHECK(!ComputeRingLayout(65536, false, &l));
  CHECK(!ComputeRingLayout(32769, true, &l));
  CHECK(ValidQueueSize(1, false) && ValidQueueSize(7, true) && !ValidQueueSize(6, false));
  const QueueConfig c = QueueConfigFromFeatures(Bit(kRingPacked) | Bit(kRingEventIdx) | Bit(kInOrder), 512, 4);
  CHECK(c.packed && c.event_idx && c.in_order && !c.indirect);
  CHECK_EQ(c.size, 512u);
  // Init refuses bad sizes and misaligned memory.
  Aligned mem(1 << 16);
  DriverQueue d;
  CHECK_EQ(d.Init(Cfg(100, false), mem.p), kVqRingAddress);
  CHECK_EQ(d.Init(Cfg(64, false), mem.p + 8), kVqRingAddress);
  CHECK_EQ(d.Init(Cfg(64, false), mem.p), kVqOk);
  CHECK(!d.broken());
}

TEST(virtio_memory_map_translate) {
  uint8_t a[4096], b[100];
  MemoryMap m;
  CHECK(m.Add(0x10000, sizeof a, a));
  CHECK(m.Add(0x20000, sizeof b, b));
  CHECK(!m.Add(0x10fff, 2, b));     // overlaps the first
  CHECK(!m.Add(0x0ffff, 2, b));     // overlaps its start
  CHECK(!m.Add(0x30000, 0, b));     // empty
  CHECK(!m.Add(~0ull - 10, 100, b));  // wraps past 2^64
  CHECK(m.Add(~0ull - 99, 100, b));   // ends exactly at 2^64
  CHECK_EQ(m.count(), 3u);
  CHECK(m.Translate(0x10000, 4096) == a);
  CHECK(m.Translate(0x10010, 16) == a + 16);
  CHECK(m.Translate(0x10fff, 1) == a + 4095);
  CHECK(m.Translate(0x10fff, 2) == nullptr);   // runs past the end
  CHECK(m.Translate(0x10000, 4097) == nullptr);
  CHECK(m.Translate(0x0ffff, 1) == nullptr);   // before the start
  CHECK(m.Translate(0x11000, 0) == nullptr);   // just past the end, even empty
  CHECK(m.Translate(0x20000 + 99, 1) == b + 99);
  CHECK(m.Translate(0x10f00, 0x10200) == nullptr);  // spans the gap between regions
  CHECK(m.Translate(0x10000, ~0ull) == nullptr);    // huge length, no overflow
  CHECK(m.Translate(~0ull, 1) == b + 99);
  CHECK(m.Translate(~0ull, 2) == nullptr);
  m.Clear();
  CHECK(m.Translate(0x10000, 1) == nullptr);
}

// Single buffers through a small ring for many laps: ids, lengths and contents survive,
// packed wrap counters flip correctly (odd size: positions do not line up with bursts).
static void RoundTrip(bool packed, uint32_t size, uint64_t seed) {
  Rig r(Cfg(size, packed));
  CHECK_EQ(r.drv_init, kVqOk);
  CHECK_EQ(r.dev_init, kVqOk);
  Rng rng(seed);
  std::vector<Chain> chains(size);
  std::vector<Segment> segs(size);
  std::vector<uint64_t> addr(size);
  std::vector<uint32_t> len(size), ids(size), got(size), glen(size);
  uint32_t next_cookie = 0, expect_cookie = 0;
  uint64_t total = 0;
  for (int cycle = 0; cycle < 20000; cycle++) {
    const uint32_t b = 1 + rng.Below(size);
    const uint32_t room = r.drv.NumFree();
    const uint32_t n = std::min(b, room);
    for (uint32_t i = 0; i < n; i++) {
      const uint32_t c = next_cookie + i;
      uint8_t* p = r.Buf(c % (size * 8));
      const uint32_t w = cycle & 1;
      std::memcpy(p, &c, 4);
      std::memcpy(p + 4, &w, 4);
      addr[i] = G(p);
      len[i] = 4 + c % 200;
      ids[i] = c;
    }
    const uint32_t added = r.drv.AddSingles(addr.data(), len.data(), ids.data(), n, cycle & 1);
    if (!CHECK_EQ(added, n)) break;
    next_cookie += n;
    // Device: pop a random part, check and push it back.
    const uint32_t want = 1 + rng.Below(size);
    const int32_t popped = r.dev.PopAvail(chains.data(), want, segs.data(), size);
    if (!CHECK(popped >= 0)) {
      std::printf("    %s\n", r.dev.error().message);
      break;
    }
    std::vector<uint16_t> uid(popped);
    std::vector<uint32_t> ulen(popped);
    bool ok = true;
    for (int32_t i = 0; i < popped; i++) {
      const Chain& c = chains[i];
      ok &= CHECK_EQ(c.nsegs, 1u);
      uint32_t cookie;
      std::memcpy(&cookie, segs[c.seg].ptr, 4);
      ok &= CHECK_EQ(segs[c.seg].len, 4 + cookie % 200);
      uint32_t w;
      std::memcpy(&w, segs[c.seg].ptr + 4, 4);
      ok &= CHECK_EQ(segs[c.seg].write, w);
      uid[i] = c.id;
      ulen[i] = cookie ^ 0x5a5a;
    }
    if (!ok) break;
    CHECK_EQ(r.dev.PushUsed(uid.data(), ulen.data(), uint32_t(popped)), popped);
    const int32_t polled = r.drv.PollUsed(got.data(), glen.data(), size);
    if (!CHECK_EQ(polled, popped)) break;
    for (int32_t i = 0; i < polled; i++) {
      ok &= CHECK_EQ(got[i], expect_cookie);
      ok &= CHECK_EQ(glen[i], expect_cookie ^ 0x5a5a);
      expect_cookie++;
    }
    if (!ok) break;
    total += uint32_t(polled);
  }
  CHECK(total > 20000);
  CHECK(!r.drv.broken());
  CHECK(!r.dev.broken());
}

TEST(virtio_split_roundtrip_wraparound) {
  RoundTrip(false, 8, 1);
  RoundTrip(false, 256, 2);
}

TEST(virtio_packed_roundtrip_wraparound) {
  RoundTrip(true, 7, 3);
  RoundTrip(true, 8, 4);
  RoundTrip(true, 250, 5);
}

// Chains of header + data and mixed read/write; with and without indirect tables.
static void Chains(bool packed, bool indirect) {
  Rig r(Cfg(16, packed, false, indirect));
  std::vector<Chain> chains(16);
  std::vector<Segment> segs(512);
  uint32_t got[16], glen[16];
  for (int round = 0; round < 200; round++) {
    const uint32_t count = 1 + round % 12;  // up to 12 elements
    std::vector<BufDesc> ch(count);
    const uint32_t nread = count / 2;
    for (uint32_t j = 0; j < count; j++) ch[j] = BufDesc{G(r.Buf(j)) + uint64_t(round % 7), 10 + j, j >= nread};
    const int32_t a = r.drv.AddChain(ch.data(), count, 7000 + round);
    if (!indirect && count > 16) {
      CHECK_EQ(a, kVqChainInvalid);
      continue;
    }
    if (!CHECK_EQ(a, 1)) break;
    if (indirect && count >= 3) CHECK_EQ(r.drv.NumFree(), 15u);  // one ring slot
    const int32_t n = r.dev.PopAvail(chains.data(), 16, segs.data(), 512);
    if (!CHECK_EQ(n, 1)) {
      std::printf("    %s\n", r.dev.error().message);
      break;
    }
    const Chain& c = chains[0];
    CHECK_EQ(c.nsegs, count);
    uint32_t rl = 0, wl = 0;
    for (uint32_t j = 0; j < count; j++) {
      const Segment& s = segs[c.seg + j];
      CHECK(s.ptr == r.Buf(j) + round % 7);
      CHECK_EQ(s.len, 10 + j);
      CHECK_EQ(s.write, j >= nread ? 1u : 0u);
      (j >= nread ? wl : rl) += 10 + j;
    }
    CHECK_EQ(c.read_len, rl);
    CHECK_EQ(c.write_len, wl);
    const uint32_t written = wl / 2;
    CHECK_EQ(r.dev.PushUsed(&c.id, &written, 1), 1);
    CHECK_EQ(r.drv.PollUsed(got, glen, 16), 1);
    CHECK_EQ(got[0], 7000u + round);
    CHECK_EQ(glen[0], written);
    CHECK_EQ(r.drv.NumFree(), 16u);
  }
  // Readable after writable is the caller's mistake, refused without breaking the queue.
  BufDesc bad[2] = {{G(r.Buf(0)), 10, true}, {G(r.Buf(1)), 10, false}};
  CHECK_EQ(r.drv.AddChain(bad, 2, 1), kVqChainInvalid);
  CHECK_EQ(r.drv.AddChain(bad, 0, 1), kVqChainInvalid);
  CHECK(!r.drv.broken());
  CHECK(!r.dev.broken());
}

TEST(virtio_split_chains) { Chains(false, false); }
TEST(virtio_packed_chains) { Chains(true, false); }
TEST(virtio_split_indirect) { Chains(false, true); }
TEST(virtio_packed_indirect) { Chains(true, true); }

// Direct chains wrap around the end of the descriptor table / ring.
TEST(virtio_chains_wrap_and_fill) {
  for (bool packed : {false, true}) {
    Rig r(Cfg(8, packed));
    std::vector<Chain> chains(8);
    std::vector<Segment> segs(64);
    uint32_t got[8], glen[8];
    for (int round = 0; round < 100; round++) {
      BufDesc ch[3] = {{G(r.Buf(0)), 12, false}, {G(r.Buf(1)), 100, false}, {G(r.Buf(2)), 50, true}};
      CHECK_EQ(r.drv.AddChain(ch, 3, 1), 1);
      CHECK_EQ(r.drv.AddChain(ch, 3, 2), 1);
      CHECK_EQ(r.drv.AddChain(ch, 3, 3), 0);  // 2 slots left
      CHECK_EQ(r.drv.AddChain(ch, 2, 3), 1);
      CHECK_EQ(r.drv.NumFree(), 0u);
      const int32_t n = r.dev.PopAvail(chains.data(), 8, segs.data(), 64);
      if (!CHECK_EQ(n, 3)) break;
      CHECK_EQ(chains[0].nsegs + chains[1].nsegs + chains[2].nsegs, 8u);
      // Complete in reverse order.
      uint16_t ids[3] = {chains[2].id, chains[1].id, chains[0].id};
      uint32_t lens[3] = {0, 5, 6};
      CHECK_EQ(r.dev.PushUsed(ids, lens, 3), 3);
      CHECK_EQ(r.drv.PollUsed(got, glen, 8), 3);
      CHECK(got[0] == 3 && got[1] == 2 && got[2] == 1);
      CHECK_EQ(r.drv.NumFree(), 8u);
    }
    CHECK(!r.dev.broken());
  }
}

// IN_ORDER: the device completes batches with one used entry; the driver completes every
// buffer up to it. Also per-buffer entries, and chains (skips by descriptor count).
static void InOrder(bool packed) {
  Rig r(Cfg(16, packed, false, false, true));
  Rng rng(packed ? 11 : 12);
  std::vector<Chain> chains(16);
  std::vector<Segment> segs(64);
  uint32_t got[16], glen[16];
  uint32_t next = 0, expect = 0;
  for (int round = 0; round < 5000; round++) {
    // Post singles and 2-chains while there is room.
    while (r.drv.NumFree() >= 2) {
      if (rng.Below(2)) {
        const uint64_t a = G(r.Buf(next % 64));
        const uint32_t l = 100 + next % 50;
        if (r.drv.AddSingles(&a, &l, &next, 1, true) != 1) break;
      } else {
        BufDesc ch[2] = {{G(r.Buf(0)), 12, true}, {G(r.Buf(1)), 100 + next % 50, true}};
        if (r.drv.AddChain(ch, 2, next) != 1) break;
      }
      next++;
    }
    const int32_t n = r.dev.PopAvail(chains.data(), 16, segs.data(), 64);
    if (!CHECK(n > 0)) break;
    int32_t done = 0;
    while (done < n) {
      const uint32_t k = 1 + rng.Below(uint32_t(n - done));
      if (rng.Below(2)) {
        CHECK_EQ(r.dev.PushUsedBatch(k, 77), int32_t(k));
      } else {
        std::vector<uint16_t> ids(k);
        std::vector<uint32_t> lens(k, 77);
        for (uint32_t i = 0; i < k; i++) ids[i] = chains[done + i].id;
        CHECK_EQ(r.dev.PushUsed(ids.data(), lens.data(), k), int32_t(k));
      }
      done += int32_t(k);
      // Poll with a small max so batches are split across calls.
      int32_t p;
      while ((p = r.drv.PollUsed(got, glen, 1 + rng.Below(3))) > 0) {
        for (int32_t i = 0; i < p; i++) {
          CHECK_EQ(got[i], expect);
          expect++;
        }
      }
      if (!CHECK_EQ(p, 0)) break;
    }
    if (r.drv.broken() || r.dev.broken()) break;
  }
  CHECK_EQ(expect, next - r.drv.Outstanding());
  CHECK_EQ(r.drv.Outstanding(), 0u);
  CHECK(!r.drv.broken());
  CHECK(!r.dev.broken());
  if (r.drv.broken()) std::printf("    %s\n", r.drv.error().message);
}

TEST(virtio_split_in_order_batches) { InOrder(false); }
TEST(virtio_packed_in_order_batches) { InOrder(true); }

TEST(virtio_in_order_lengths_and_misuse) {
  for (bool packed : {false, true}) {
    Rig r(Cfg(8, packed, false, false, true));
    std::vector<Chain> chains(8);
    std::vector<Segment> segs(8);
    uint64_t a[3] = {G(r.Buf(0)), G(r.Buf(1)), G(r.Buf(2))};
    uint32_t l[3] = {100, 200, 300}, ids[3] = {10, 11, 12}, got[8], glen[8];
    CHECK_EQ(r.drv.AddSingles(a, l, ids, 3, true), 3u);
    CHECK_EQ(r.dev.PopAvail(chains.data(), 8, segs.data(), 8), 3);
    uint16_t wrong[1] = {chains[1].id};
    uint32_t wl[1] = {1};
    CHECK_EQ(r.dev.PushUsed(wrong, wl, 1), kVqNotPopped);  // not the oldest
    CHECK_EQ(r.dev.PushUsedBatch(4, 1), kVqNotPopped);      // more than popped
    CHECK_EQ(r.dev.PushUsedBatch(3, 42), 3);
    CHECK_EQ(r.drv.PollUsed(got, glen, 1), 1);
    CHECK(r.drv.EnableNotify());  // two buffers of the batch still to take
    CHECK_EQ(r.drv.PollUsed(got + 1, glen + 1, 8), 2);
    CHECK(!r.drv.EnableNotify());
    // Earlier buffers of a batch report what they offered, the last what the device wrote.
    CHECK(got[0] == 10 && got[1] == 11 && got[2] == 12);
    CHECK(glen[0] == 100 && glen[1] == 200 && glen[2] == 42);
    CHECK(!r.dev.broken());
  }
}

// Reference for the event decisions: is `event` one of the 16-bit indices old, old+1, ..., new-1?
static bool Crossed(uint16_t event, uint16_t new_idx, uint16_t old_idx) {
  for (uint16_t k = old_idx; k != new_idx; k++)
    if (k == event) return true;
  return false;
}

TEST(virtio_need_event_formula) {
  Rng rng(5);
  for (int i = 0; i < 200000; i++) {
    const uint16_t old = uint16_t(rng.Next());
    const uint16_t nw = uint16_t(old + rng.Below(600));
    const uint16_t ev = uint16_t(old - 300 + rng.Below(1200));
    if (!CHECK_EQ(NeedEvent(ev, nw, old), Crossed(ev, nw, old))) break;
  }
}

// Driver kick decisions with EVENT_IDX, against the rule, over many wrap-arounds: the device
// writes a random avail_event (split) or off_wrap (packed) before each burst.
static void KickEventIdx(bool packed, uint32_t size) {
  Rig r(Cfg(size, packed, true));
  Rng rng(packed ? 21 : 22);
  std::vector<Chain> chains(size);
  std::vector<Segment> segs(size);
  std::vector<uint64_t> addr(size, G(r.Buf(0)));
  std::vector<uint32_t> len(size, 64), ids(size, 0), got(size), glen(size);
  uint64_t abs = 0;  // slots ever added (packed position = abs % size, lap = abs / size)
  uint32_t kicks = 0, quiet = 0;
  for (int i = 0; i < 20000; i++) {
    const uint32_t b = 1 + rng.Below(size);
    bool want;
    if (packed) {
      // An event position in the previous or the current lap, relative to where we are.
      const uint64_t lap_start = abs - abs % size;
      const uint64_t lo = lap_start >= size ? lap_start - size : 0;
      const uint64_t t = lo + rng.Below(uint32_t(lap_start + size - lo));
      const uint16_t off_wrap = uint16_t(t % size | ((t / size) % 2 == 0 ? 0x8000 : 0));
      *r.DeviceEvt() = uint32_t(off_wrap) | uint32_t(kEventFlagsDesc) << 16;
      want = t >= abs && t < abs + b;
      if (abs + b > lap_start + size) {
        // The burst crosses into the next lap: events in the old lap then read as two laps back.
        *r.DeviceEvt() = uint32_t(kEventFlagsDisable) << 16;
        want = false;
      }
    } else {
      // Anywhere, or (mostly) near the current index so that both answers are common.
      const uint16_t ev = rng.Below(4) == 0 ? uint16_t(rng.Next()) : uint16_t(abs - size + rng.Below(3 * size));
      *r.AvailEvent() = ev;
      want = Crossed(ev, uint16_t(abs + b), uint16_t(abs));
    }
    if (!CHECK_EQ(r.drv.AddSingles(addr.data(), len.data(), ids.data(), b, false), b)) break;
    abs += b;
    const bool kick = r.drv.KickNeeded();
    if (!CHECK_EQ(kick, want)) {
      std::printf("    iteration %d burst %u abs %llu\n", i, b, (unsigned long long)abs);
      break;
    }
    (kick ? kicks : quiet)++;
    Echo(r, chains, segs);
    CHECK_EQ(r.drv.PollUsed(got.data(), glen.data(), size), int32_t(b));
  }
  CHECK(kicks > 100);
  CHECK(quiet > 100);
}

TEST(virtio_split_kick_event_idx) { KickEventIdx(false, 64); }
TEST(virtio_packed_kick_event_idx) {
  KickEventIdx(true, 64);
  KickEventIdx(true, 13);
}

// Device notify decisions with EVENT_IDX: the driver writes a random used_event / off_wrap.
static void NotifyEventIdx(bool packed, uint32_t size) {
  Rig r(Cfg(size, packed, true));
  Rng rng(packed ? 31 : 32);
  std::vector<Chain> chains(size);
  std::vector<Segment> segs(size);
  std::vector<uint64_t> addr(size, G(r.Buf(0)));
  std::vector<uint32_t> len(size, 64), ids(size, 0), got(size), glen(size);
  std::vector<uint16_t> uid(size);
  std::vector<uint32_t> ulen(size, 1);
  uint64_t abs = 0;
  uint32_t notes = 0, quiet = 0;
  for (int i = 0; i < 20000; i++) {
    const uint32_t b = 1 + rng.Below(size);
    CHECK_EQ(r.drv.AddSingles(addr.data(), len.data(), ids.data(), b, true), b);
    const int32_t n = r.dev.PopAvail(chains.data(), size, segs.data(), size);
    if (!CHECK_EQ(n, int32_t(b))) break;
    for (uint32_t k = 0; k < b; k++) uid[k] = chains[k].id;
    bool want;
    if (packed) {
      const uint64_t lap_start = abs - abs % size;
      const uint64_t lo = lap_start >= size ? lap_start - size : 0;
      const uint64_t t = lo + rng.Below(uint32_t(lap_start + size - lo));
      const uint16_t off_wrap = uint16_t(t % size | ((t / size) % 2 == 0 ? 0x8000 : 0));
      *r.DriverEvt() = uint32_t(off_wrap) | uint32_t(kEventFlagsDesc) << 16;
      want = t >= abs && t < abs + b;
      if (abs + b > lap_start + size) {
        *r.DriverEvt() = uint32_t(kEventFlagsEnable) << 16;
        want = true;
      }
    } else {
      const uint16_t ev = rng.Below(4) == 0 ? uint16_t(rng.Next()) : uint16_t(abs - size + rng.Below(3 * size));
      *r.UsedEvent() = ev;
      want = Crossed(ev, uint16_t(abs + b), uint16_t(abs));
    }
    CHECK_EQ(r.dev.PushUsed(uid.data(), ulen.data(), b), int32_t(b));
    abs += b;
    const bool note = r.dev.NotifyNeeded();
    if (!CHECK_EQ(note, want)) break;
    (note ? notes : quiet)++;
    CHECK(!r.dev.NotifyNeeded());  // nothing new pushed since
    CHECK_EQ(r.drv.PollUsed(got.data(), glen.data(), size), int32_t(b));
  }
  CHECK(notes > 100);
  CHECK(quiet > 100);
}

TEST(virtio_split_notify_event_idx) { NotifyEventIdx(false, 64); }
TEST(virtio_packed_notify_event_idx) {
  NotifyEventIdx(true, 64);
  NotifyEventIdx(true, 13);
}

// The protocol as both sides run it: the device's avail_event follows what it has read, so
// a driver kicks once per batch the device has not seen yet; EnableNotify/DisableNotify.
TEST(virtio_event_idx_protocol) {
  for (bool packed : {false, true}) {
    Rig r(Cfg(32, packed, true));
    std::vector<Chain> chains(32);
    std::vector<Segment> segs(32);
    uint64_t a = G(r.Buf(0));
    uint32_t l = 64, id = 0, got[32], glen[32];
    CHECK(!r.dev.EnableKicks());  // nothing available yet
    CHECK_EQ(r.drv.AddSingles(&a, &l, &id, 1, false), 1u);
    CHECK(r.drv.KickNeeded());
    CHECK_EQ(r.drv.AddSingles(&a, &l, &id, 1, false), 1u);
    CHECK(!r.drv.KickNeeded());  // the device has not read the first one yet
    CHECK_EQ(Echo(r, chains, segs), 2u);
    CHECK_EQ(r.drv.AddSingles(&a, &l, &id, 1, false), 1u);
    CHECK(r.drv.KickNeeded());  // it has now
    r.dev.DisableKicks();
    CHECK_EQ(Echo(r, chains, segs), 1u);
    CHECK_EQ(r.drv.AddSingles(&a, &l, &id, 1, false), 1u);
    // Disabled with EVENT_IDX: avail_event stays behind, no kick.
    CHECK(!r.drv.KickNeeded());
    CHECK(r.dev.EnableKicks());  // one is waiting: poll instead of sleeping
    CHECK_EQ(Echo(r, chains, segs), 1u);
    CHECK_EQ(r.drv.PollUsed(got, glen, 32), 4);
    // Used-buffer notifications.
    CHECK(!r.drv.EnableNotify());
    CHECK_EQ(r.drv.AddSingles(&a, &l, &id, 1, false), 1u);
    CHECK_EQ(Echo(r, chains, segs), 1u);
    CHECK(r.dev.NotifyNeeded());
    CHECK_EQ(r.drv.AddSingles(&a, &l, &id, 1, false), 1u);
    CHECK_EQ(Echo(r, chains, segs), 1u);
    CHECK(!r.dev.NotifyNeeded());  // the driver has not re-armed
    CHECK(r.drv.EnableNotify());   // two used buffers already waiting
    CHECK_EQ(r.drv.PollUsed(got, glen, 32), 2);
    CHECK(!r.drv.EnableNotify());
    r.drv.DisableNotify();
    CHECK_EQ(r.drv.AddSingles(&a, &l, &id, 1, false), 1u);
    CHECK_EQ(Echo(r, chains, segs), 1u);
    if (packed) CHECK(!r.dev.NotifyNeeded());  // packed: DISABLE holds even with EVENT_IDX
    else CHECK(r.dev.NotifyNeeded());          // split: the armed used_event fires once
    CHECK_EQ(r.drv.AddSingles(&a, &l, &id, 1, false), 1u);
    CHECK_EQ(Echo(r, chains, segs), 1u);
    CHECK(!r.dev.NotifyNeeded());
  }
}

// Without EVENT_IDX: the NO_NOTIFY / NO_INTERRUPT flags and packed ENABLE / DISABLE.
TEST(virtio_notify_flags_without_event_idx) {
  for (bool packed : {false, true}) {
    Rig r(Cfg(16, packed));
    std::vector<Chain> chains(16);
    std::vector<Segment> segs(16);
    uint64_t a = G(r.Buf(0));
    uint32_t l = 64, id = 0, got[16], glen[16];
    CHECK_EQ(r.drv.AddSingles(&a, &l, &id, 1, false), 1u);
    CHECK(r.drv.KickNeeded());
    r.dev.DisableKicks();
    CHECK_EQ(r.drv.AddSingles(&a, &l, &id, 1, false), 1u);
    CHECK(!r.drv.KickNeeded());
    CHECK(r.dev.EnableKicks());
    CHECK_EQ(r.drv.AddSingles(&a, &l, &id, 1, false), 1u);
    CHECK(r.drv.KickNeeded());
    CHECK_EQ(Echo(r, chains, segs), 3u);
    CHECK(r.dev.NotifyNeeded());
    CHECK(!r.dev.NotifyNeeded());
    r.drv.DisableNotify();
    CHECK_EQ(r.drv.AddSingles(&a, &l, &id, 1, false), 1u);
    CHECK_EQ(Echo(r, chains, segs), 1u);
    CHECK(!r.dev.NotifyNeeded());
    CHECK(r.drv.EnableNotify());  // used buffers waiting
    CHECK_EQ(r.drv.PollUsed(got, glen, 16), 4);
    CHECK(!r.drv.EnableNotify());
    CHECK_EQ(r.drv.AddSingles(&a, &l, &id, 1, false), 1u);
    CHECK_EQ(Echo(r, chains, segs), 1u);
    CHECK(r.dev.NotifyNeeded());
  }
}

// Randomized: random bursts of singles and chains (some indirect), the device holds buffers
// and completes random subsets in random order; every buffer comes back once with the
// length the device gave it and the segments it was posted with.
static void Randomized(bool packed, bool indirect, uint64_t seed) {
  const uint32_t size = 32;
  Rig r(Cfg(size, packed, true, indirect), 256);
  Rng rng(seed);
  struct Posted {
    uint32_t count = 0;
    uint32_t nread = 0;
    bool live = false;
  };
  std::vector<Posted> posted(size * 2);  // cookie = slot in this table
  std::vector<uint32_t> free_cookies;
  for (uint32_t i = 0; i < size * 2; i++) free_cookies.push_back(i);
  std::vector<Chain> chains(size);
  std::vector<Segment> segs(size * 16);
  std::vector<std::pair<uint16_t, uint32_t>> held;  // device: (id, cookie)
  std::vector<uint32_t> got(size), glen(size);
  uint64_t completed = 0;
  bool ok = true;
  for (int step = 0; step < 30000 && ok; step++) {
    // Driver posts.
    const uint32_t burst = rng.Below(8);
    for (uint32_t k = 0; k < burst && !free_cookies.empty(); k++) {
      const uint32_t pick = rng.Below(uint32_t(free_cookies.size()));
      const uint32_t cookie = free_cookies[pick];
      const uint32_t count = rng.Below(3) ? 1 : 1 + rng.Below(indirect ? 16 : 5);
      const uint32_t nread = rng.Below(count + 1);
      std::vector<BufDesc> ch(count);
      for (uint32_t j = 0; j < count; j++) {
        uint8_t* p = r.Buf(cookie * 4 + j % 4) + (j / 4) * 32;
        const uint32_t tag = cookie << 8 | j;
        std::memcpy(p, &tag, 4);
        ch[j] = BufDesc{G(p), 8 + j, j >= nread};
      }
      int32_t a;
      if (count == 1) {
        const uint64_t ad = ch[0].addr;
        const uint32_t ln = ch[0].len;
        a = int32_t(r.drv.AddSingles(&ad, &ln, &cookie, 1, nread == 0));
      } else {
        a = r.drv.AddChain(ch.data(), count, cookie);
      }
      if (a == 0) break;
      if (!(ok &= CHECK_EQ(a, 1))) break;
      free_cookies[pick] = free_cookies.back();
      free_cookies.pop_back();
      posted[cookie] = Posted{count, nread, true};
    }
    // Device pops some.
    const int32_t n = r.dev.PopAvail(chains.data(), rng.Below(size) + 1, segs.data(), uint32_t(segs.size()));
    if (!(ok &= CHECK(n >= 0))) {
      std::printf("    %s\n", r.dev.error().message);
      break;
    }
    for (int32_t i = 0; i < n; i++) {
      const Chain& c = chains[i];
      uint32_t tag;
      std::memcpy(&tag, segs[c.seg].ptr, 4);
      const uint32_t cookie = tag >> 8;
      if (!(ok &= CHECK(cookie < posted.size() && posted[cookie].live))) break;
      const Posted& p = posted[cookie];
      ok &= CHECK_EQ(c.nsegs, p.count);
      for (uint32_t j = 0; j < c.nsegs && ok; j++) {
        const Segment& s = segs[c.seg + j];
        std::memcpy(&tag, s.ptr, 4);
        ok &= CHECK_EQ(tag, cookie << 8 | j);
        ok &= CHECK_EQ(s.len, 8 + j);
        ok &= CHECK_EQ(s.write, j >= p.nread ? 1u : 0u);
      }
      held.push_back({c.id, cookie});
    }
    // Device completes a random subset in random order.
    uint32_t m = held.empty() ? 0 : rng.Below(uint32_t(held.size()) + 1);
    std::vector<uint16_t> uid;
    std::vector<uint32_t> ulen;
    for (uint32_t k = 0; k < m; k++) {
      const uint32_t pick = rng.Below(uint32_t(held.size()));
      uid.push_back(held[pick].first);
      ulen.push_back(held[pick].second * 3 + 1);
      held[pick] = held.back();
      held.pop_back();
    }
    if (m > 0) ok &= CHECK_EQ(r.dev.PushUsed(uid.data(), ulen.data(), m), int32_t(m));
    if (rng.Below(4) == 0) r.dev.NotifyNeeded();
    if (rng.Below(4) == 0) r.drv.KickNeeded();
    // Driver polls.
    const int32_t p = r.drv.PollUsed(got.data(), glen.data(), rng.Below(size) + 1);
    if (!(ok &= CHECK(p >= 0))) {
      std::printf("    %s\n", r.drv.error().message);
      break;
    }
    for (int32_t i = 0; i < p && ok; i++) {
      const uint32_t cookie = got[i];
      ok &= CHECK(cookie < posted.size() && posted[cookie].live);
      if (!ok) break;
      ok &= CHECK_EQ(glen[i], cookie * 3 + 1);
      posted[cookie].live = false;
      free_cookies.push_back(cookie);
      completed++;
    }
  }
  CHECK(completed > 10000);
  CHECK(!r.drv.broken());
  CHECK(!r.dev.broken());
}

TEST(virtio_split_randomized) {
  Randomized(false, false, 41);
  Randomized(false, true, 42);
}
TEST(virtio_packed_randomized) {
  Randomized(true, false, 43);
  Randomized(true, true, 44);
}

// Two threads, one ring: the driver posts 10M single buffers carrying their sequence number,
// the device checks it sees them in order and echoes a length derived from it, the driver
// checks each completion; sums of the sequence numbers on both sides must match.
static void Stream(bool packed, bool in_order) {
  const uint32_t size = 256;
  const uint64_t total = 10'000'000;
  Rig r(Cfg(size, packed, false, false, in_order), size);
  std::atomic<bool> dev_failed{false};
  uint64_t dev_sum = 0, dev_count = 0;
  std::string dev_msg;
  std::thread device([&] {
    std::vector<Chain> chains(32);
    std::vector<Segment> segs(32);
    uint16_t uid[32];
    uint32_t ulen[32];
    uint64_t expect = 0;
    uint32_t idle = 0;
    while (dev_count < total) {
      const int32_t n = r.dev.PopAvail(chains.data(), 32, segs.data(), 32);
      if (n < 0) {
        dev_msg = r.dev.error().message;
        dev_failed = true;
        return;
      }
      if (n == 0) {
        if (++idle > 64) std::this_thread::yield();
        continue;
      }
      idle = 0;
      for (int32_t i = 0; i < n; i++) {
        uint64_t seq;
        std::memcpy(&seq, segs[chains[i].seg].ptr, 8);
        if (seq != expect || segs[chains[i].seg].len != 8 + seq % 64) {
          dev_msg = "out of order or wrong length: got " + std::to_string(seq) + " want " + std::to_string(expect);
          dev_failed = true;
          return;
        }
        expect++;
        dev_sum += seq;
        uid[i] = chains[i].id;
        ulen[i] = uint32_t(seq % 1000);
      }
      if (r.dev.PushUsed(uid, ulen, uint32_t(n)) != n) {
        dev_msg = "push failed";
        dev_failed = true;
        return;
      }
      dev_count += uint64_t(n);
    }
  });
  // Driver (this thread). Buffer slot = cookie; its seq is kept in a side table.
  std::vector<uint32_t> free_slots(size);
  for (uint32_t i = 0; i < size; i++) free_slots[i] = i;
  std::vector<uint64_t> slot_seq(size);
  uint64_t seq = 0, done = 0, drv_sum = 0, bad = 0;
  uint64_t addr[32];
  uint32_t len[32], ids[32], got[32], glen[32];
  uint32_t idle = 0;
  while (done < total && !dev_failed) {
    uint32_t b = std::min<uint64_t>(32, std::min<uint64_t>(free_slots.size(), total - seq));
    for (uint32_t i = 0; i < b; i++) {
      const uint32_t s = free_slots[free_slots.size() - 1 - i];
      const uint64_t q = seq + i;
      std::memcpy(r.Buf(s), &q, 8);
      slot_seq[s] = q;
      addr[i] = G(r.Buf(s));
      len[i] = uint32_t(8 + q % 64);
      ids[i] = s;
    }
    const uint32_t added = b ? r.drv.AddSingles(addr, len, ids, b, false) : 0;
    free_slots.resize(free_slots.size() - added);
    seq += added;
    const int32_t p = r.drv.PollUsed(got, glen, 32);
    if (p < 0) break;
    for (int32_t i = 0; i < p; i++) {
      const uint64_t q = slot_seq[got[i]];
      if (glen[i] != q % 1000) bad++;
      drv_sum += q;
      free_slots.push_back(got[i]);
    }
    done += uint64_t(p);
    if (p == 0 && added == 0) {
      if (++idle > 64) std::this_thread::yield();
    } else {
      idle = 0;
    }
  }
  device.join();
  if (!CHECK(!dev_failed)) std::printf("    device: %s\n", dev_msg.c_str());
  if (!CHECK(!r.drv.broken())) std::printf("    driver: %s\n", r.drv.error().message);
  CHECK_EQ(done, total);
  CHECK_EQ(dev_count, total);
  CHECK_EQ(bad, 0u);
  const uint64_t want = total * (total - 1) / 2;
  CHECK_EQ(dev_sum, want);
  CHECK_EQ(drv_sum, want);
}

TEST(virtio_split_two_threads_10m) { Stream(false, false); }
TEST(virtio_packed_two_threads_10m) { Stream(true, false); }
TEST(virtio_packed_in_order_two_threads_10m) { Stream(true, true); }

// ---- Malformed input: the device rejects it with the right code, says where, breaks the
// queue, and touches nothing outside the map (the ASan build checks that part).

static void ExpectBroken(DeviceQueue& dev, int32_t got, int32_t code, const char* needle) {
  CHECK_EQ(std::string(VqErrorName(got)), std::string(VqErrorName(code)));
  CHECK(dev.broken());
  CHECK_EQ(dev.error().code, code);
  const std::string msg = dev.error().message;
  if (!CHECK(msg.find("queue 3") != std::string::npos && msg.find(needle) != std::string::npos))
    std::printf("    message: %s\n", msg.c_str());
  Chain c[4];
  Segment s[4];
  CHECK_EQ(dev.PopAvail(c, 4, s, 4), code);  // stays broken
  uint16_t id = 0;
  uint32_t len = 0;
  CHECK_EQ(dev.PushUsed(&id, &len, 1), code);
  CHECK(!dev.NotifyNeeded());
}

static int32_t Pop(Rig& r) {
  Chain c[8];
  Segment s[64];
  return r.dev.PopAvail(c, 8, s, 64);
}

TEST(virtio_malformed_split_loop) {
  Rig r(Cfg(8, false));
  const uint64_t a = G(r.Buf(0));
  r.SDesc()[2] = SplitDesc{a, 10, kDescNext, 5};
  r.SDesc()[5] = SplitDesc{a, 10, kDescNext, 6};
  r.SDesc()[6] = SplitDesc{a, 10, kDescNext, 2};  // back to 2
  r.SplitPost(2);
  ExpectBroken(r.dev, Pop(r), kVqChainLength, "head 2");
}

TEST(virtio_malformed_split_self_loop_writable) {
  Rig r(Cfg(16, false));
  r.SDesc()[0] = SplitDesc{G(r.Buf(0)), 10, uint16_t(kDescNext | kDescWrite), 0};
  r.SplitPost(0);
  ExpectBroken(r.dev, Pop(r), kVqChainLength, "longer than the queue size 16");
}

TEST(virtio_malformed_split_desc_index) {
  {
    Rig r(Cfg(8, false));
    r.SplitPost(8);  // head out of range
    ExpectBroken(r.dev, Pop(r), kVqDescIndex, "head descriptor 8");
  }
  {
    Rig r(Cfg(8, false));
    r.SDesc()[1] = SplitDesc{G(r.Buf(0)), 10, kDescNext, 40000};
    r.SplitPost(1);
    ExpectBroken(r.dev, Pop(r), kVqDescIndex, "links to 40000");
  }
}

TEST(virtio_malformed_address_outside_map) {
  for (bool packed : {false, true}) {
    Rig r(Cfg(8, packed));
    const uint64_t end = G(r.bufs.p) + r.bufs.size;
    if (packed) r.PackedPut(0, end - 8, 16, 0, 0);  // straddles the end of the arena
    else {
      r.SDesc()[3] = SplitDesc{end - 8, 16, 0, 0};
      r.SplitPost(3);
    }
    ExpectBroken(r.dev, Pop(r), kVqBadAddress, "outside guest memory");
  }
  for (bool packed : {false, true}) {
    Rig r(Cfg(8, packed));
    const uint64_t nowhere = 16;  // page 0
    if (packed) r.PackedPut(0, nowhere, 1, 0, kDescWrite);
    else {
      r.SDesc()[0] = SplitDesc{nowhere, 1, kDescWrite, 0};
      r.SplitPost(0);
    }
    ExpectBroken(r.dev, Pop(r), kVqBadAddress, "descriptor 0");
  }
  // Length so large that addr + len wraps.
  Rig r(Cfg(8, false));
  r.SDesc()[0] = SplitDesc{G(r.Buf(0)), 0xffffffffu, 0, 0};
  r.SplitPost(0);
  ExpectBroken(r.dev, Pop(r), kVqBadAddress, "outside guest memory");
}

TEST(virtio_malformed_avail_idx_jump) {
  Rig r(Cfg(8, false));
  *r.AvailIdx() = 9;
  ExpectBroken(r.dev, Pop(r), kVqAvailIdx, "avail idx 9");
  Rig r2(Cfg(8, false));
  *r2.AvailIdx() = 8;  // exactly the queue size is fine
  for (uint16_t i = 0; i < 8; i++) {
    r2.SDesc()[i] = SplitDesc{G(r2.Buf(i)), 10, 0, 0};
    r2.AvailRing()[i] = i;
  }
  CHECK_EQ(Pop(r2), 8);
  CHECK(!r2.dev.broken());
  *r2.AvailIdx() = 7;  // going backwards is a jump of 65535
  ExpectBroken(r2.dev, Pop(r2), kVqAvailIdx, "ahead of the last one read (8)");
}

TEST(virtio_malformed_head_reused) {
  Rig r(Cfg(8, false));
  r.SDesc()[4] = SplitDesc{G(r.Buf(0)), 10, 0, 0};
  r.SplitPost(4);
  CHECK_EQ(Pop(r), 1);
  r.SplitPost(4);  // the device still holds head 4
  ExpectBroken(r.dev, Pop(r), kVqBufferId, "head descriptor 4 is already in use");
}

TEST(virtio_malformed_nested_indirect) {
  for (bool packed : {false, true}) {
    Rig r(Cfg(8, packed, false, true));
    uint8_t* t = r.indir.p;
    if (packed) {
      PackedDesc* pt = reinterpret_cast<PackedDesc*>(t);
      pt[0] = PackedDesc{G(r.Buf(0)), 10, 0, 0};
      pt[1] = PackedDesc{G(r.indir.p + 512), 32, 0, kDescIndirect};
      r.PackedPut(0, G(t), 32, 0, kDescIndirect);
    } else {
      SplitDesc* st = reinterpret_cast<SplitDesc*>(t);
      st[0] = SplitDesc{G(r.Buf(0)), 10, kDescNext, 1};
      st[1] = SplitDesc{G(r.indir.p + 512), 32, kDescIndirect, 0};
      r.SDesc()[0] = SplitDesc{G(t), 32, kDescIndirect, 0};
      r.SplitPost(0);
    }
    ExpectBroken(r.dev, Pop(r), kVqNestedIndirect, "entry 1 is itself indirect");
  }
}

TEST(virtio_malformed_indirect_tables) {
  struct Case {
    uint64_t addr_off;
    uint32_t len;
    uint16_t flags;
    int32_t code;
    const char* needle;
  };
  for (bool packed : {false, true}) {
    const Case cases[] = {
        {0, 24, kDescIndirect, kVqIndirectSize, "length 24"},
        {0, 0, kDescIndirect, kVqIndirectSize, "length 0"},
        {0, 32, uint16_t(kDescIndirect | kDescNext), kVqIndirectNext, "INDIRECT"},
        {uint64_t(1) << 40, 32, kDescIndirect, kVqBadAddress, "indirect table"},
        {4, 32, kDescIndirect, kVqIndirectSize, "not 8-byte aligned"},
    };
    for (const Case& c : cases) {
      Rig r(Cfg(8, packed, false, true));
      const uint64_t taddr = G(r.indir.p) + c.addr_off;
      if (packed) r.PackedPut(0, taddr, c.len, 0, c.flags);
      else {
        r.SDesc()[0] = SplitDesc{taddr, c.len, c.flags, 1};
        r.SplitPost(0);
      }
      ExpectBroken(r.dev, Pop(r), c.code, c.needle);
    }
    // Not negotiated.
    Rig r(Cfg(8, packed, false, false));
    if (packed) r.PackedPut(0, G(r.indir.p), 32, 0, kDescIndirect);
    else {
      r.SDesc()[0] = SplitDesc{G(r.indir.p), 32, kDescIndirect, 0};
      r.SplitPost(0);
    }
    ExpectBroken(r.dev, Pop(r), kVqIndirectNotNegotiated, "not negotiated");
  }
  // Split: a loop and an out-of-range link inside a table.
  {
    Rig r(Cfg(8, false, false, true));
    SplitDesc* st = reinterpret_cast<SplitDesc*>(r.indir.p);
    st[0] = SplitDesc{G(r.Buf(0)), 10, kDescNext, 1};
    st[1] = SplitDesc{G(r.Buf(1)), 10, kDescNext, 0};
    r.SDesc()[0] = SplitDesc{G(r.indir.p), 32, kDescIndirect, 0};
    r.SplitPost(0);
    ExpectBroken(r.dev, Pop(r), kVqChainLength, "longer than its table of 2");
  }
  {
    Rig r(Cfg(8, false, false, true));
    SplitDesc* st = reinterpret_cast<SplitDesc*>(r.indir.p);
    st[0] = SplitDesc{G(r.Buf(0)), 10, kDescNext, 2};
    r.SDesc()[0] = SplitDesc{G(r.indir.p), 32, kDescIndirect, 0};
    r.SplitPost(0);
    ExpectBroken(r.dev, Pop(r), kVqDescIndex, "links to 2, table has 2");
  }
  // Split: direct descriptors followed by an indirect one are valid (spec 2.7.5.3.2).
  {
    Rig r(Cfg(8, false, false, true));
    SplitDesc* st = reinterpret_cast<SplitDesc*>(r.indir.p);
    st[0] = SplitDesc{G(r.Buf(1)), 11, kDescWrite, 0};
    r.SDesc()[5] = SplitDesc{G(r.Buf(0)), 10, kDescNext, 6};
    r.SDesc()[6] = SplitDesc{G(r.indir.p), 16, kDescIndirect, 0};
    r.SplitPost(5);
    Chain c[2];
    Segment s[4];
    CHECK_EQ(r.dev.PopAvail(c, 2, s, 4), 1);
    CHECK_EQ(c[0].nsegs, 2u);
    CHECK(c[0].read_len == 10 && c[0].write_len == 11);
  }
}

TEST(virtio_malformed_write_order) {
  for (bool packed : {false, true}) {
    Rig r(Cfg(8, packed));
    if (packed) {
      r.PDesc()[1] = PackedDesc{G(r.Buf(1)), 10, 0, uint16_t(kDescAvail)};
      r.PackedPut(0, G(r.Buf(0)), 10, 0, uint16_t(kDescWrite | kDescNext));
    } else {
      r.SDesc()[0] = SplitDesc{G(r.Buf(0)), 10, uint16_t(kDescWrite | kDescNext), 1};
      r.SDesc()[1] = SplitDesc{G(r.Buf(1)), 10, 0, 0};
      r.SplitPost(0);
    }
    ExpectBroken(r.dev, Pop(r), kVqWriteOrder, "descriptor 1: device-readable descriptor after");
  }
}

// The spec caps a chain at 2^32 bytes; the device's totals are 32-bit. 2 GiB + 2 GiB + 100
// would otherwise be seen as a 100-byte buffer with 4 GiB of segments behind it. The region
// is an address-space reservation only: the device translates addresses, it reads nothing.
TEST(virtio_malformed_chain_bytes_overflow) {
  const size_t big_size = (size_t(2) << 30) + 4096;
  void* big = mmap(nullptr, big_size, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (!CHECK(big != MAP_FAILED)) return;
  const uint64_t a = G(big);
  for (bool packed : {false, true}) {
    for (uint16_t w : {uint16_t(0), kDescWrite}) {
      // The first set adds up to 2^32 (one byte too many, in the last descriptor), the
      // second to 2^32 - 1 (the largest total a chain may have here).
      for (bool over : {true, false}) {
        Rig r(Cfg(8, packed));
        if (!CHECK(r.map.Add(a, big_size, big))) break;
        const uint32_t lens[3] = {0x80000000u, over ? 0x7fffffffu : 0x7fffff00u, over ? 1u : 0xffu};
        if (packed) {
          r.PDesc()[1] = PackedDesc{a, lens[1], 0, uint16_t(w | kDescNext | kDescAvail)};
          r.PDesc()[2] = PackedDesc{a, lens[2], 0, uint16_t(w | kDescAvail)};
          r.PackedPut(0, a, lens[0], 0, uint16_t(w | kDescNext));
        } else {
          r.SDesc()[0] = SplitDesc{a, lens[0], uint16_t(w | kDescNext), 1};
          r.SDesc()[1] = SplitDesc{a, lens[1], uint16_t(w | kDescNext), 2};
          r.SDesc()[2] = SplitDesc{a, lens[2], w, 0};
          r.SplitPost(0);
        }
        Chain c[2];
        Segment sg[8];
        const int32_t got = r.dev.PopAvail(c, 2, sg, 8);
        if (over) {
          ExpectBroken(r.dev, got, kVqChainBytes, "descriptor 2: the chain's buffers add up to 4 GiB or more");
        } else {
          CHECK_EQ(got, 1);
          CHECK_EQ(w ? c[0].write_len : c[0].read_len, 0xffffffffu);
        }
      }
    }
  }
  munmap(big, big_size);
}

TEST(virtio_malformed_packed_chain_and_ids) {
  {
    // Every descriptor chained to the next, all around the ring.
    Rig r(Cfg(8, true));
    for (uint16_t i = 0; i < 8; i++) r.PDesc()[i] = PackedDesc{G(r.Buf(i)), 10, 0, uint16_t(kDescAvail | kDescNext)};
    ExpectBroken(r.dev, Pop(r), kVqChainLength, "longer than the queue size 8");
  }
  {
    Rig r(Cfg(8, true));
    r.PackedPut(0, G(r.Buf(0)), 10, 8, 0);
    ExpectBroken(r.dev, Pop(r), kVqBufferId, "buffer id 8 >= queue size");
  }
  {
    Rig r(Cfg(8, true));
    r.PackedPut(1, G(r.Buf(0)), 10, 5, 0);
    r.PackedPut(0, G(r.Buf(0)), 10, 5, 0);
    ExpectBroken(r.dev, Pop(r), kVqBufferId, "buffer id 5 is already in use");
  }
  {
    // INDIRECT inside a packed chain.
    Rig r(Cfg(8, true, false, true));
    r.PDesc()[1] = PackedDesc{G(r.indir.p), 16, 0, uint16_t(kDescAvail | kDescIndirect)};
    r.PackedPut(0, G(r.Buf(0)), 10, 0, kDescNext);
    ExpectBroken(r.dev, Pop(r), kVqIndirectNext, "descriptor 1");
  }
  {
    // A descriptor from the wrong lap is not available: nothing popped, not an error.
    Rig r(Cfg(8, true));
    r.PDesc()[0] = PackedDesc{G(r.Buf(0)), 10, 0, uint16_t(kDescUsed)};
    CHECK_EQ(Pop(r), 0);
    r.PDesc()[0] = PackedDesc{G(r.Buf(0)), 10, 0, uint16_t(kDescUsed | kDescAvail)};
    CHECK_EQ(Pop(r), 0);
    CHECK(!r.dev.broken());
  }
}

TEST(virtio_device_segment_space_and_ring_address) {
  Rig r(Cfg(8, false));
  BufDesc ch[3] = {{G(r.Buf(0)), 1, false}, {G(r.Buf(1)), 2, false}, {G(r.Buf(2)), 3, true}};
  CHECK_EQ(r.drv.AddChain(ch, 3, 9), 1);
  CHECK_EQ(r.drv.AddChain(ch, 3, 10), 1);
  Chain c[4];
  Segment s[4];
  CHECK_EQ(r.dev.PopAvail(c, 4, s, 2), kVqSegmentSpace);  // not broken: the caller's limit
  CHECK(!r.dev.broken());
  CHECK_EQ(r.dev.PopAvail(c, 4, s, 4), 1);  // the second chain waits for the next call
  CHECK_EQ(r.dev.PopAvail(c, 4, s, 4), 1);
  CHECK_EQ(r.dev.Popped(), 2u);
  uint16_t bogus = 7;
  uint32_t len = 0;
  CHECK_EQ(r.dev.PushUsed(&bogus, &len, 1), kVqNotPopped);
  uint16_t dup[2] = {c[0].id, c[0].id};
  uint32_t lens[2] = {0, 0};
  CHECK_EQ(r.dev.PushUsed(dup, lens, 2), kVqNotPopped);
  CHECK(!r.dev.broken());
  // Ring parts outside the map or misaligned.
  DeviceQueue d;
  CHECK_EQ(d.Init(Cfg(8, false), &r.map, 0x1000, G(r.ring.p + r.lay.driver_offset), G(r.ring.p + r.lay.device_offset)),
           kVqRingAddress);
  CHECK_EQ(d.Init(Cfg(8, false), &r.map, G(r.ring.p + 8), G(r.ring.p + r.lay.driver_offset), G(r.ring.p + r.lay.device_offset)),
           kVqRingAddress);
  CHECK_EQ(d.Init(Cfg(8, false), &r.map, G(r.ring.p + r.ring.size - 64), G(r.ring.p), G(r.ring.p)),
           kVqRingAddress);  // descriptor table runs past the region
  CHECK_EQ(d.Init(Cfg(8, false), &r.map, G(r.ring.p), G(r.ring.p + r.lay.driver_offset), G(r.ring.p + r.lay.device_offset)),
           kVqOk);
}

// The driver does not trust the device either.
TEST(virtio_driver_rejects_bad_used) {
  {
    Rig r(Cfg(8, false));
    uint64_t a = G(r.Buf(0));
    uint32_t l = 10, id = 1, got[8], glen[8];
    CHECK_EQ(r.drv.AddSingles(&a, &l, &id, 1, true), 1u);
    *r.UsedIdx() = 2;  // two used entries for one outstanding buffer
    CHECK_EQ(r.drv.PollUsed(got, glen, 8), kVqUsedIdx);
    CHECK(r.drv.broken());
    CHECK(std::string(r.drv.error().message).find("queue 3") != std::string::npos);
    CHECK_EQ(r.drv.PollUsed(got, glen, 8), kVqUsedIdx);
    CHECK_EQ(r.drv.AddSingles(&a, &l, &id, 1, true), 0u);
  }
  {
    Rig r(Cfg(8, false));
    uint64_t a = G(r.Buf(0));
    uint32_t l = 10, id = 1, got[8], glen[8];
    CHECK_EQ(r.drv.AddSingles(&a, &l, &id, 1, true), 1u);
    r.UsedRing()[0] = SplitUsedElem{5, 0};  // head 5 was never posted
    *r.UsedIdx() = 1;
    CHECK_EQ(r.drv.PollUsed(got, glen, 8), kVqUsedId);
    CHECK(std::string(r.drv.error().message).find("used id 5") != std::string::npos);
  }
  {
    Rig r(Cfg(8, true));
    uint64_t a = G(r.Buf(0));
    uint32_t l = 10, id = 1, got[8], glen[8];
    CHECK_EQ(r.drv.AddSingles(&a, &l, &id, 1, true), 1u);
    r.PDesc()[0] = PackedDesc{0, 0, 700, uint16_t(kDescAvail | kDescUsed)};
    CHECK_EQ(r.drv.PollUsed(got, glen, 8), kVqUsedId);
    CHECK(std::string(r.drv.error().message).find("700") != std::string::npos);
  }
  {
    Rig r(Cfg(8, false, false, false, true));  // in order: a batch larger than published
    uint64_t a[3] = {G(r.Buf(0)), G(r.Buf(1)), G(r.Buf(2))};
    uint32_t l[3] = {10, 10, 10}, ids[3] = {1, 2, 3}, got[8], glen[8];
    CHECK_EQ(r.drv.AddSingles(a, l, ids, 3, true), 3u);
    r.UsedRing()[0] = SplitUsedElem{2, 0};  // names the third buffer
    *r.UsedIdx() = 1;                       // but publishes one entry
    CHECK_EQ(r.drv.PollUsed(got, glen, 8), kVqUsedIdx);
  }
}

// A backend restart (vhost-user GET_VRING_BASE, then SET_VRING_BASE on a new device queue):
// the new device continues where the old one stopped, across the packed wrap as well.
TEST(virtio_device_base_restart) {
  for (bool packed : {false, true}) {
    Rig r(Cfg(8, packed));
    std::vector<Chain> chains(8);
    std::vector<Segment> segs(8);
    uint64_t a[5];
    uint32_t l[5] = {1, 2, 3, 4, 5}, ids[5] = {0, 1, 2, 3, 4}, got[8], glen[8];
    for (int i = 0; i < 5; i++) a[i] = G(r.Buf(i));
    uint32_t cookie = 0;
    for (int round = 0; round < 7; round++) {
      for (int i = 0; i < 5; i++) ids[i] = cookie + i;
      CHECK_EQ(r.drv.AddSingles(a, l, ids, 5, true), 5u);
      CHECK_EQ(Echo(r, chains, segs), 5u);
      CHECK_EQ(r.drv.PollUsed(got, glen, 8), 5);
      CHECK_EQ(got[4], cookie + 4);
      cookie += 5;
      // Restart the device on the same ring every other round.
      if (round % 2 == 1) {
        const uint32_t base = r.dev.GetBase();
        DeviceQueue fresh;
        CHECK_EQ(fresh.Init(r.cfg, &r.map, G(r.ring.p + r.lay.desc_offset), G(r.ring.p + r.lay.driver_offset),
                            G(r.ring.p + r.lay.device_offset)),
                 kVqOk);
        CHECK_EQ(fresh.SetBase(base), kVqOk);
        CHECK_EQ(fresh.GetBase(), base);
        CHECK_EQ(r.dev.Init(r.cfg, &r.map, G(r.ring.p + r.lay.desc_offset), G(r.ring.p + r.lay.driver_offset),
                            G(r.ring.p + r.lay.device_offset)),
                 kVqOk);
        CHECK_EQ(r.dev.SetBase(base), kVqOk);
      }
    }
    CHECK(!r.drv.broken());
    CHECK(!r.dev.broken());
    DeviceQueue bad;
    bad.Init(r.cfg, &r.map, G(r.ring.p + r.lay.desc_offset), G(r.ring.p + r.lay.driver_offset),
             G(r.ring.p + r.lay.device_offset));
    CHECK_EQ(bad.SetBase(packed ? 0x8009u : 3u), kVqRingAddress);  // beyond the size / used idx disagrees
    CHECK(bad.broken());
  }
}
