// A malicious vhost-user frontend, for the bad-input tests of the vhost-user device
// (packages/virtio/test/bad-input.test.ts). It connects to a device's socket, negotiates
// with vhost_user.h's Frontend, lays its rings out with vring.h's DriverQueue in a memfd, and
// breaks one thing, named on the command line:
//
//   loop             split: a descriptor whose next points back at the chain's head;
//                    packed: a chain whose every descriptor (the whole ring) has NEXT set
//   addr-outside     a buffer address outside every memory region
//   len-past-end     a buffer that starts inside the pool region and runs past its end
//   len-wrap         a chain of 2 GiB + 2 GiB + 100 bytes (a sparse 2 GiB pool region): its
//                    total does not fit 32 bits, and a 32-bit sum would see 100 bytes
//   avail-jump       (split) avail idx moved by more than the ring size
//   bad-id           split: an avail ring entry naming descriptor 300 of 256;
//                    packed: a buffer id 300 of 256
//   nested-indirect  an indirect table entry that is itself INDIRECT
//   ring-outside     SET_VRING_ADDR with the used ring (packed: device event area) outside memory
//   overlap          SET_MEM_TABLE with a region overlapping another one
//   malformed        after a complete set-up, SET_VRING_NUM with a 4-byte payload
//   call-pipe        SET_VRING_CALL with the write end of a pipe nobody reads, not an eventfd
//   call-saturated   a blocking call eventfd whose counter is at its maximum, interrupts
//                    left on, and frames sent for 2 s: a device that writes the eventfd
//                    without looking blocks for good. The device must keep serving: this
//                    scenario ends by itself (exit 0 when frames went through)
//
// Ring attacks are written before the rings are started (before SET_MEM_TABLE even), so the
// device meets them on its first look at the ring: no race with the device reading a
// well-formed version first. Control messages go without NEED_REPLY (REPLY_ACK is not
// negotiated unless --ack), so a refusal can only be a disconnect.
//
// Usage: vhost_bad_peer SOCKET SCENARIO [--packed] [--queue rx|tx] [--ack] [--timeout-ms N]
//   --queue  which of the pair's rings carries a ring attack: tx (index 1, what the device
//            receives: default) or rx (index 0, the device's transmit path)
// Prints what it does, one line per step, and exits 0 once the device has dropped the
// connection (with --ack: once it has refused a request); 2 when the device kept it for the
// timeout (default 10 s); 1 on a set-up error.
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include "virtio/vhost_user.h"
#include "virtio/virtio_net.h"
#include "virtio/vring.h"

using namespace vnf::virtio;

namespace {

constexpr uint32_t kSize = 256;        // ring size
constexpr uint32_t kIndirectMax = 4;   // entries per indirect table
constexpr uint32_t kBadIndex = 300;    // a descriptor index / buffer id beyond kSize
constexpr uint64_t kNowhere = 0xdead0000;  // an address no region covers (ours are mmap addresses)
constexpr size_t kPoolBytes = 1 << 20;
constexpr size_t kSlot = 2048;  // pool "buffers"

[[noreturn]] void Die(const std::string& what) {
  std::printf("error: %s\n", what.c_str());
  std::exit(1);
}

// A memory file mapped here, kept for the life of the process (the device maps it too).
struct Memfd {
  int fd = -1;
  uint8_t* p = nullptr;
  size_t size = 0;
  Memfd(const char* name, size_t sz) : size(sz) {
    fd = memfd_create(name, MFD_CLOEXEC);
    if (fd < 0 || ftruncate(fd, off_t(sz)) != 0) Die(std::string("memfd ") + name + ": " + std::strerror(errno));
    void* m = mmap(nullptr, sz, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (m == MAP_FAILED) Die(std::string("mmap ") + name + ": " + std::strerror(errno));
    p = static_cast<uint8_t*>(m);
  }
  uint64_t addr(size_t off = 0) const { return reinterpret_cast<uintptr_t>(p + off); }
};

size_t AlignUp(size_t v, size_t a) { return (v + a - 1) / a * a; }

struct Args {
  std::string path, scenario;
  bool packed = false, ack = false;
  uint32_t queue = TxQueue(0);
  int timeout_ms = 10000;
};

Args Parse(int argc, char** argv) {
  if (argc < 3) Die("usage: vhost_bad_peer SOCKET SCENARIO [--packed] [--queue rx|tx] [--ack] [--timeout-ms N]");
  Args a;
  a.path = argv[1];
  a.scenario = argv[2];
  for (int i = 3; i < argc; i++) {
    const std::string o = argv[i];
    if (o == "--packed") a.packed = true;
    else if (o == "--ack") a.ack = true;
    else if (o == "--queue" && i + 1 < argc) {
      const std::string q = argv[++i];
      if (q != "rx" && q != "tx") Die("--queue takes rx or tx, got " + q);
      a.queue = q == "rx" ? RxQueue(0) : TxQueue(0);
    } else if (o == "--timeout-ms" && i + 1 < argc) a.timeout_ms = std::atoi(argv[++i]);
    else Die("unknown option " + o);
  }
  static const char* const known[] = {"loop", "addr-outside", "len-past-end", "len-wrap", "avail-jump", "bad-id",
                                      "nested-indirect", "ring-outside", "overlap", "malformed", "call-pipe",
                                      "call-saturated"};
  bool ok = false;
  for (const char* k : known) ok |= a.scenario == k;
  if (!ok) Die("unknown scenario " + a.scenario);
  if (a.scenario == "avail-jump" && a.packed) Die("avail-jump needs a split ring (packed rings have no avail index)");
  return a;
}

// One ring of the pair, in the ring memfd: DriverQueue lays it out; the attacks write into
// the same memory directly.
struct Ring {
  DriverQueue dq;
  uint8_t* base = nullptr;
  uint8_t* indirect = nullptr;
  SplitDesc* sdesc() { return reinterpret_cast<SplitDesc*>(base + dq.layout().desc_offset); }
  PackedDesc* pdesc() { return reinterpret_cast<PackedDesc*>(base + dq.layout().desc_offset); }
  uint16_t* avail_idx() { return reinterpret_cast<uint16_t*>(base + dq.layout().driver_offset + 2); }
  uint16_t* avail_ring() { return reinterpret_cast<uint16_t*>(base + dq.layout().driver_offset + 4); }
};

// Posts buffers (from the start of the pool region) and breaks them as the scenario says.
// Returns a sentence for the log.
std::string Attack(const Args& a, Ring& r, const Memfd& pool) {
  const bool writes = a.queue == RxQueue(0);  // the device writes into receive buffers
  const uint32_t ids[kSize] = {};
  auto single = [&](uint64_t addr, uint32_t len) {
    if (r.dq.AddSingles(&addr, &len, ids, 1, writes) != 1) Die("AddSingles refused the buffer");
  };
  auto chain = [&](uint32_t n) {
    std::vector<BufDesc> c(n);
    for (uint32_t i = 0; i < n; i++) c[i] = BufDesc{pool.addr(i * 64), 64, writes};
    const int32_t k = r.dq.AddChain(c.data(), n, 0);
    if (k != 1) Die("AddChain(" + std::to_string(n) + ") returned " + std::to_string(k));
  };
  const std::string& s = a.scenario;
  if (s == "addr-outside") {
    single(kNowhere, 256);
    return "posted a buffer at 0xdead0000, outside every region";
  }
  if (s == "len-past-end") {
    single(pool.addr(pool.size - 64), 2048);
    return "posted a buffer of 2048 bytes starting 64 bytes before the pool region's end";
  }
  if (s == "len-wrap") {
    const BufDesc c[3] = {{pool.addr(0), 0x80000000u, writes}, {pool.addr(0), 0x80000000u, writes}, {pool.addr(0), 100, writes}};
    if (r.dq.AddChain(c, 3, 0) != 1) Die("AddChain refused the chain");
    return "posted a chain of 2 GiB + 2 GiB + 100 bytes";
  }
  if (s == "avail-jump") {
    __atomic_store_n(r.avail_idx(), uint16_t(kSize + 5), __ATOMIC_RELEASE);
    return "set avail idx to " + std::to_string(kSize + 5) + " with nothing posted (ring size " + std::to_string(kSize) + ")";
  }
  if (s == "bad-id") {
    single(pool.addr(0), 256);
    if (a.packed) r.pdesc()[0].id = uint16_t(kBadIndex);
    else r.avail_ring()[0] = uint16_t(kBadIndex);
    return a.packed ? "posted a buffer with id 300 (ring size 256)" : "avail ring entry 0 names descriptor 300 (ring size 256)";
  }
  if (s == "loop") {
    if (a.packed) {
      chain(kSize);  // the whole ring, then NEXT on the last one too: no chain can end
      r.pdesc()[kSize - 1].flags |= kDescNext;
      return "posted a chain of all 256 descriptors with NEXT on every one";
    }
    chain(2);
    SplitDesc* d = r.sdesc();
    const uint16_t head = r.avail_ring()[0];
    const uint16_t second = d[head].next;
    d[second].flags |= kDescNext;
    d[second].next = head;
    return "posted a chain " + std::to_string(head) + " -> " + std::to_string(second) + " -> " + std::to_string(head) + " ...";
  }
  if (s == "nested-indirect") {
    chain(2);  // two entries: DriverQueue puts them in an indirect table (threshold 2)
    const uint64_t table = a.packed ? r.pdesc()[0].addr : r.sdesc()[r.avail_ring()[0]].addr;
    const uint16_t flags = a.packed ? r.pdesc()[0].flags : r.sdesc()[r.avail_ring()[0]].flags;
    if (!(flags & kDescIndirect)) Die("the chain did not go into an indirect table (INDIRECT_DESC not negotiated?)");
    auto* entry0_flags = reinterpret_cast<uint16_t*>(table + (a.packed ? offsetof(PackedDesc, flags) : offsetof(SplitDesc, flags)));
    *entry0_flags |= kDescIndirect;
    return "posted an indirect table whose entry 0 is itself INDIRECT";
  }
  return "";
}

// Sends 60-byte frames on ring r for `ms`, posting each buffer again once the device has
// used it. Interrupts stay on (a fresh ring's default): the device signals the call fd after
// its bursts. Returns the frames the device took.
uint64_t Traffic(Ring& r, const Memfd& pool, int ms) {
  constexpr uint32_t kHdrFrame = sizeof(NetHdr) + 60;
  std::vector<uint32_t> free_slots;
  for (uint32_t i = 0; i < kSize; i++) {
    uint8_t* f = pool.p + size_t(i) * kSlot;
    std::memset(f, 0, kHdrFrame);  // a zero virtio-net header, then the frame
    const uint8_t eth[14] = {0x02, 0, 0, 0, 0, 0x01, 0x02, 0, 0, 0, 0, 0x03, 0x88, 0xb5};
    std::memcpy(f + sizeof(NetHdr), eth, sizeof eth);
    free_slots.push_back(i);
  }
  uint64_t done = 0;
  const auto end = std::chrono::steady_clock::now() + std::chrono::milliseconds(ms);
  while (std::chrono::steady_clock::now() < end) {
    uint32_t ids[kSize], lens[kSize];
    const int32_t n = r.dq.PollUsed(ids, lens, kSize);
    if (n < 0) Die(std::string("PollUsed: ") + r.dq.error().message);
    for (int32_t i = 0; i < n; i++) free_slots.push_back(ids[i]);
    done += uint64_t(n);
    uint64_t addr[kSize];
    uint32_t len[kSize], cookie[kSize];
    const uint32_t k = uint32_t(free_slots.size());
    for (uint32_t i = 0; i < k; i++) {
      cookie[i] = free_slots[i];
      addr[i] = pool.addr(size_t(cookie[i]) * kSlot);
      len[i] = kHdrFrame;
    }
    const uint32_t added = r.dq.AddSingles(addr, len, cookie, k, false);
    free_slots.erase(free_slots.begin(), free_slots.begin() + added);
    if (n == 0) std::this_thread::sleep_for(std::chrono::microseconds(200));
  }
  return done;
}

}  // namespace

int main(int argc, char** argv) {
  std::setvbuf(stdout, nullptr, _IOLBF, 0);
  const Args a = Parse(argc, argv);
  const bool ring_attack = a.scenario != "ring-outside" && a.scenario != "overlap" && a.scenario != "malformed";
  std::printf("scenario %s, %s ring, queue %u\n", a.scenario.c_str(), a.packed ? "packed" : "split", a.queue);

  Connection conn;
  VuResult r = Connection::Connect(a.path, 5000, &conn);
  if (!r.ok()) Die("connect " + a.path + ": " + r.message);
  Frontend fe(std::move(conn));

  // The features the rings are laid out for must be known before Start: ask first.
  Message gf(Request::kGetFeatures);
  Message offered;
  if (!(r = fe.Transact(gf, nullptr, 0, &offered)).ok()) Die(r.message);
  FrontendOptions opts;
  opts.features = Bit(kVersion1) | Bit(kRingIndirectDesc) | (a.packed ? Bit(kRingPacked) : 0);
  opts.protocol_features = Bit(kProtoMq) | Bit(kProtoStatus) | (a.ack ? Bit(kProtoReplyAck) : 0);
  opts.ack_all = a.ack;
  const uint64_t features = opts.features & offered.payload.u64;
  if (a.packed && !(features & Bit(kRingPacked))) Die("the device does not offer RING_PACKED");

  // len-wrap needs one region of 2 GiB: a sparse file, nothing is ever written to most of it.
  Memfd pool("bad-peer-pool", a.scenario == "len-wrap" ? (size_t(2) << 30) + kPoolBytes : kPoolBytes);
  RingLayout layout;
  ComputeRingLayout(kSize, a.packed, &layout);
  const size_t ring_stride = AlignUp(layout.total_bytes, 4096);
  const size_t indir_bytes = DriverQueue::IndirectBytes(kSize, kIndirectMax);
  Memfd rings("bad-peer-rings", 2 * ring_stride + AlignUp(indir_bytes, 4096));
  Ring q[2];
  for (uint32_t i = 0; i < 2; i++) {
    q[i].base = rings.p + i * ring_stride;
    // Indirect tables only where the attack needs one (the other chains stay direct).
    q[i].indirect = i == a.queue && a.scenario == "nested-indirect" ? rings.p + 2 * ring_stride : nullptr;
    const QueueConfig cfg = QueueConfigFromFeatures(features, kSize, uint16_t(i));
    const int32_t e = q[i].dq.Init(cfg, q[i].base, q[i].indirect, reinterpret_cast<uintptr_t>(q[i].indirect), kIndirectMax, 2);
    if (e != kVqOk) Die(std::string("DriverQueue::Init: ") + q[i].dq.error().message);
  }
  if (ring_attack) std::printf("ring %u: %s\n", a.queue, Attack(a, q[a.queue], pool).c_str());

  std::vector<FrontendRegion> regions = {FrontendRegion{pool.fd, pool.p, pool.size, 0},
                                         FrontendRegion{rings.fd, rings.p, rings.size, 0}};
  if (a.scenario == "overlap") {
    // A third region, backed by the ring file, claiming addresses inside the pool's.
    regions.push_back(FrontendRegion{rings.fd, pool.p + 4096, 4096, 0});
    std::printf("memory table: region 2 at 0x%llx+4096, inside region 0 (0x%llx+%zu)\n",
                (unsigned long long)pool.addr(4096), (unsigned long long)pool.addr(), pool.size);
  }
  std::vector<FrontendQueue> queues(2);
  for (uint32_t i = 0; i < 2; i++) {
    const RingLayout& l = q[i].dq.layout();
    queues[i].index = i;
    queues[i].num = kSize;
    queues[i].base = a.packed ? kPackedWrapBit : 0;  // a fresh packed ring starts in lap 1
    queues[i].desc = reinterpret_cast<uintptr_t>(q[i].base + l.desc_offset);
    queues[i].avail = reinterpret_cast<uintptr_t>(q[i].base + l.driver_offset);
    queues[i].used = reinterpret_cast<uintptr_t>(q[i].base + l.device_offset);
    // No eventfds: the device polls, and we never wait for interrupts.
  }
  int pipe_fds[2] = {-1, -1};
  if (a.scenario == "call-pipe") {
    if (pipe(pipe_fds) != 0) Die(std::string("pipe: ") + std::strerror(errno));
    queues[1].call_fd = pipe_fds[1];
    std::printf("queue 1: call fd is the write end of a pipe\n");
  }
  if (a.scenario == "call-saturated") {
    // Blocking (no EFD_NONBLOCK), counter at 0xfffffffffffffffe: one more write would wait.
    const int efd = eventfd(0, EFD_CLOEXEC);
    const uint64_t max = 0xfffffffffffffffeull;
    if (efd < 0 || write(efd, &max, 8) != 8) Die(std::string("eventfd: ") + std::strerror(errno));
    queues[1].call_fd = efd;
    std::printf("queue 1: call fd is a blocking eventfd at its maximum count\n");
  }
  if (a.scenario == "ring-outside") {
    queues[1].used = kNowhere;
    std::printf("queue 1: %s at 0xdead0000, outside every region\n", a.packed ? "device event area" : "used ring");
  }

  r = fe.Start(opts, regions, queues);
  if (r.ok()) {
    std::printf("set-up sent (features 0x%llx)\n", (unsigned long long)fe.features());
    if (fe.features() != features) Die("negotiated features differ from what the rings were laid out for");
  } else {
    // The device may drop us in the middle of the sequence (a send fails), or nack (--ack).
    std::printf("set-up ended: %s: %s\n", VuErrorName(r.code), r.message.c_str());
    if (r.code == VuError::kNack) {
      std::printf("the device refused it and kept the connection; hanging up\n");
      return 0;
    }
  }

  if (r.ok() && a.scenario == "malformed") {
    // Everything before this GET_STATUS is handled once its reply is here: the rings run.
    Message gs(Request::kGetStatus);
    Message st;
    if (!(r = fe.Transact(gs, nullptr, 0, &st)).ok()) Die("GET_STATUS: " + r.message);
    std::printf("device status 0x%llx; running for 300 ms\n", (unsigned long long)st.payload.u64);
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    struct {
      MsgHeader h;
      uint32_t num;
    } bad{{uint32_t(Request::kSetVringNum), kVhostUserVersion, 4}, kSize};
    r = fe.connection().SendRaw(&bad, sizeof bad);
    std::printf("sent SET_VRING_NUM with a 4-byte payload: %s\n", r.ok() ? "ok" : r.message.c_str());
  }

  if (r.ok() && a.scenario == "call-saturated") {
    const uint64_t n = Traffic(q[1], pool, 2000);
    std::printf("the device took %llu frames in 2 s%s\n", (unsigned long long)n, fe.Disconnected() ? " and then hung up" : "");
    return n > 0 && !fe.Disconnected() ? 0 : 2;
  }

  // Wait for the device to hang up, reading (and printing) whatever it still sends.
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(a.timeout_ms);
  Connection& c = fe.connection();
  while (std::chrono::steady_clock::now() < deadline) {
    Message m;
    bool got = false;
    const VuResult rr = c.TryRecv(&m, &got);
    if (!rr.ok()) {
      std::printf("the device dropped the connection (%s)\n", VuErrorName(rr.code));
      return 0;
    }
    if (got) std::printf("the device sent %s (u64 %llu)\n", RequestName(m.hdr.request), (unsigned long long)m.payload.u64);
    else std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  std::printf("the device kept the connection for %d ms\n", a.timeout_ms);
  return 2;
}
