// Virtqueue micro-benchmark: a driver thread and a device thread (pinned to two cores when
// there are two) stream bursts of single-descriptor buffers through one ring, the way a
// polling virtio PMD and a polling vhost backend do: the driver posts a burst, asks
// KickNeeded (a full fence, as DPDK's virtqueue_kick_prepare), polls used buffers; the
// device pops a burst, touches 8 bytes of every buffer, pushes it back used, asks
// NotifyNeeded. Kicks and notifications are disabled (both sides poll).
//
//   tx: device-readable buffers (the device reads them)
//   rx: device-writable buffers (the device writes them)
//
// Figure: buffers completed per second of wall time (each buffer crosses the ring twice:
// available to the device and used back to the driver), median of --runs. The wall-time
// figures need two otherwise idle cores. Last, *_one_thread_cpu: both sides in one thread
// on its CPU clock (ring code cost per buffer, no cross-core transfers).
//
//   build-bench/vring_bench [--size 1024] [--burst 32] [--count 20000000] [--runs 3]
#include <pthread.h>
#include <sched.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include "bench_util.h"
#include "virtio/vring.h"

using namespace vnf::virtio;

namespace {

constexpr uint32_t kBufSize = 2048;

void Pin(int cpu) {
  if (std::thread::hardware_concurrency() < 2) return;
  cpu_set_t set;
  CPU_ZERO(&set);
  CPU_SET(cpu, &set);
  pthread_setaffinity_np(pthread_self(), sizeof set, &set);
}

struct Result {
  double mpps;
  bool ok;
};

Result RunOnce(bool packed, bool in_order, bool rx, uint32_t size, uint32_t burst, uint64_t count) {
  QueueConfig cfg;
  cfg.size = size;
  cfg.packed = packed;
  cfg.in_order = in_order;
  cfg.event_idx = true;
  RingLayout lay;
  ComputeRingLayout(size, packed, &lay);
  const size_t ring_bytes = (lay.total_bytes + 4095) / 4096 * 4096;
  const size_t arena_bytes = size_t(size) * kBufSize;
  uint8_t* ring = static_cast<uint8_t*>(std::aligned_alloc(4096, ring_bytes));
  uint8_t* arena = static_cast<uint8_t*>(std::aligned_alloc(4096, arena_bytes));
  std::memset(arena, 0, arena_bytes);
  MemoryMap map;
  map.Add(uint64_t(uintptr_t(ring)), ring_bytes, ring);
  map.Add(uint64_t(uintptr_t(arena)), arena_bytes, arena);
  DriverQueue drv;
  DeviceQueue dev;
  if (drv.Init(cfg, ring) != kVqOk ||
      dev.Init(cfg, &map, uint64_t(uintptr_t(ring + lay.desc_offset)), uint64_t(uintptr_t(ring + lay.driver_offset)),
               uint64_t(uintptr_t(ring + lay.device_offset))) != kVqOk) {
    std::fprintf(stderr, "init failed: %s %s\n", drv.error().message, dev.error().message);
    std::exit(1);
  }
  drv.DisableNotify();
  dev.DisableKicks();
  std::atomic<int> ready{0};
  std::atomic<bool> dev_ok{true};
  std::thread device([&] {
    Pin(1);
    std::vector<Chain> chains(burst);
    std::vector<Segment> segs(burst);
    std::vector<uint16_t> ids(burst);
    std::vector<uint32_t> lens(burst);
    uint64_t done = 0, sink = 0;
    ready++;
    while (ready.load() < 2) {
    }
    while (done < count) {
      const int32_t n = dev.PopAvail(chains.data(), burst, segs.data(), burst);
      if (n <= 0) {
        if (n < 0) {
          std::fprintf(stderr, "device: %s\n", dev.error().message);
          dev_ok = false;
          return;
        }
        continue;
      }
      for (int32_t i = 0; i < n; i++) {
        uint64_t* p = reinterpret_cast<uint64_t*>(segs[chains[i].seg].ptr);
        if (rx) *p = done + uint64_t(i);
        else sink += *p;
        ids[i] = chains[i].id;
        lens[i] = rx ? 64 : 0;
      }
      dev.PushUsed(ids.data(), lens.data(), uint32_t(n));
      dev.NotifyNeeded();
      done += uint64_t(n);
    }
    if (sink == 1) std::fprintf(stderr, " ");
  });
  Pin(0);
  std::vector<uint32_t> free_slots(size);
  for (uint32_t i = 0; i < size; i++) free_slots[i] = i;
  std::vector<uint64_t> addr(burst);
  std::vector<uint32_t> len(burst, 64), ids(burst), got(burst), glen(burst);
  uint64_t done = 0;
  ready++;
  while (ready.load() < 2) {
  }
  const double t0 = vnf::bench::Now();
  while (done < count && dev_ok.load(std::memory_order_relaxed)) {
    const uint32_t b = free_slots.size() < burst ? uint32_t(free_slots.size()) : burst;
    if (b > 0) {
      for (uint32_t i = 0; i < b; i++) {
        const uint32_t s = free_slots[free_slots.size() - 1 - i];
        addr[i] = uint64_t(uintptr_t(arena + size_t(s) * kBufSize));
        ids[i] = s;
      }
      const uint32_t added = drv.AddSingles(addr.data(), len.data(), ids.data(), b, rx);
      free_slots.resize(free_slots.size() - added);
      drv.KickNeeded();
    }
    const int32_t p = drv.PollUsed(got.data(), glen.data(), burst);
    if (p < 0) {
      std::fprintf(stderr, "driver: %s\n", drv.error().message);
      break;
    }
    for (int32_t i = 0; i < p; i++) free_slots.push_back(got[i]);
    done += uint64_t(p);
  }
  const double t1 = vnf::bench::Now();
  device.join();
  const bool ok = dev_ok && !drv.broken() && done == count;
  std::free(ring);
  std::free(arena);
  return Result{double(count) / (t1 - t0) / 1e6, ok};
}

// Both sides in one thread, alternating per burst, timed on this thread's CPU clock: the
// CPU cost of the ring code itself (driver + device work per buffer) without the cross-core
// cache-line transfers, and insensitive to other jobs on the machine.
Result RunSingleThread(bool packed, uint32_t size, uint32_t burst, uint64_t count) {
  QueueConfig cfg;
  cfg.size = size;
  cfg.packed = packed;
  cfg.event_idx = true;
  RingLayout lay;
  ComputeRingLayout(size, packed, &lay);
  const size_t ring_bytes = (lay.total_bytes + 4095) / 4096 * 4096;
  const size_t arena_bytes = size_t(size) * kBufSize;
  uint8_t* ring = static_cast<uint8_t*>(std::aligned_alloc(4096, ring_bytes));
  uint8_t* arena = static_cast<uint8_t*>(std::aligned_alloc(4096, arena_bytes));
  std::memset(arena, 0, arena_bytes);
  MemoryMap map;
  map.Add(uint64_t(uintptr_t(ring)), ring_bytes, ring);
  map.Add(uint64_t(uintptr_t(arena)), arena_bytes, arena);
  DriverQueue drv;
  DeviceQueue dev;
  drv.Init(cfg, ring);
  dev.Init(cfg, &map, uint64_t(uintptr_t(ring + lay.desc_offset)), uint64_t(uintptr_t(ring + lay.driver_offset)),
           uint64_t(uintptr_t(ring + lay.device_offset)));
  drv.DisableNotify();
  dev.DisableKicks();
  std::vector<uint64_t> addr(burst);
  std::vector<uint32_t> len(burst, 64), ids(burst), got(burst), glen(burst), lens(burst, 0);
  std::vector<Chain> chains(burst);
  std::vector<Segment> segs(burst);
  std::vector<uint16_t> uid(burst);
  uint64_t done = 0, sink = 0;
  bool ok = true;
  const double t0 = vnf::bench::CpuNow();
  while (done < count && ok) {
    for (uint32_t i = 0; i < burst; i++) {
      addr[i] = uint64_t(uintptr_t(arena + size_t(i) * kBufSize));
      ids[i] = i;
    }
    ok &= drv.AddSingles(addr.data(), len.data(), ids.data(), burst, false) == burst;
    drv.KickNeeded();
    const int32_t n = dev.PopAvail(chains.data(), burst, segs.data(), burst);
    ok &= n == int32_t(burst);
    for (int32_t i = 0; i < n; i++) {
      sink += *reinterpret_cast<uint64_t*>(segs[chains[i].seg].ptr);
      uid[i] = chains[i].id;
    }
    dev.PushUsed(uid.data(), lens.data(), uint32_t(n));
    dev.NotifyNeeded();
    ok &= drv.PollUsed(got.data(), glen.data(), burst) == int32_t(burst);
    done += burst;
  }
  const double t1 = vnf::bench::CpuNow();
  if (sink == 1) std::fprintf(stderr, " ");
  std::free(ring);
  std::free(arena);
  return Result{double(count) / (t1 - t0) / 1e6, ok};
}

}  // namespace

int main(int argc, char** argv) {
  uint32_t size = 1024, burst = 32, runs = 3;
  uint64_t count = 20'000'000;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string a = argv[i];
    if (a == "--size") size = uint32_t(std::atoi(argv[i + 1]));
    else if (a == "--burst") burst = uint32_t(std::atoi(argv[i + 1]));
    else if (a == "--count") count = uint64_t(std::atoll(argv[i + 1]));
    else if (a == "--runs") runs = uint32_t(std::atoi(argv[i + 1]));
    else {
      std::fprintf(stderr, "unknown option %s\n", a.c_str());
      return 2;
    }
  }
  if (!ValidQueueSize(size, false) || burst == 0 || burst > size || runs == 0) {
    std::fprintf(stderr, "need a power-of-two size <= 32768, 0 < burst <= size\n");
    return 2;
  }
  struct Variant {
    const char* name;
    bool packed, in_order, rx;
  };
  const Variant variants[] = {
      {"split_tx", false, false, false}, {"split_rx", false, false, true},
      {"packed_tx", true, false, false}, {"packed_rx", true, false, true},
      {"split_inorder_tx", false, true, false}, {"packed_inorder_tx", true, true, false},
  };
  bool all_ok = true;
  for (const Variant& v : variants) {
    std::vector<double> r;
    for (uint32_t k = 0; k < runs; k++) {
      const Result res = RunOnce(v.packed, v.in_order, v.rx, size, burst, count);
      all_ok &= res.ok;
      r.push_back(res.mpps);
    }
    vnf::bench::Print(std::string("vring_") + v.name + "_q" + std::to_string(size) + "_b" + std::to_string(burst),
                      "Mpps", vnf::bench::Median(r));
  }
  for (bool packed : {false, true}) {
    std::vector<double> r;
    for (uint32_t k = 0; k < runs; k++) {
      const Result res = RunSingleThread(packed, size, burst, count);
      all_ok &= res.ok;
      r.push_back(res.mpps);
    }
    vnf::bench::Print(std::string("vring_") + (packed ? "packed" : "split") + "_one_thread_cpu_q" +
                          std::to_string(size) + "_b" + std::to_string(burst),
                      "Mpps", vnf::bench::Median(r));
  }
  return all_ok ? 0 : 1;
}
