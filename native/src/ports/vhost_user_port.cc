// vhost-user port: our virtio-net DEVICE (the backend) as a port, as DPDK's net_vhost is. A
// frontend (QEMU with a guest, DPDK's virtio_user, our VirtioUserPort) owns the rings and the
// packet memory and shares both in the memory table; we map them (vhost_user.h's Backend) and
// run the device side of each ring (vring.h's DeviceQueue). Every address the frontend gives
// is translated through the map and bounds-checked before we touch it.
//
//   receive:   what the frontend transmits (its transmit queue TxQueue(q)). Each chain it
//              posted is copied, without the 12-byte virtio-net header, into a fresh pool
//              buffer at the headroom (several buffers chained through kMetaChain when the
//              frame is larger than one), and given back used with length 0. A chain is
//              popped only once there is a pool buffer for it: an empty pool leaves the
//              frontend's packets in its ring (back-pressure), nothing is dropped here.
//   transmit:  what the frontend receives (its receive queue RxQueue(q)). Each of our frames
//              is copied, after a zeroed header, into the frontend's writable buffers (with
//              MRG_RXBUF across several, num_buffers set) and the buffers are pushed used
//              with the bytes written; our buffers go back to the pool (copy semantics).
//              When the frontend has no receive buffers the burst stops there: the rest
//              stays the caller's.
//   control:   the vhost-user messages are handled (Backend::Service, never blocking) on
//              the data-path thread: every 64th Rx/Tx call, on every call while the link is
//              down, and from Refresh. Ring set-up and tear-down happen there, between
//              bursts, never inside one.
//   link:      up while queue pair 0 is running (the frontend set its rings up, enabled
//              them, and with PROTOCOL_F_STATUS set DRIVER_OK).
//   faults:    a ring the frontend broke (descriptor loop, address outside its memory, index
//              out of range, ...) or a message the backend refused: counted in rxErrors /
//              txErrors, the reason kept in error(), the device reset (connection dropped,
//              memory unmapped); a server waits for the next frontend, a client reconnects.
#include <linux/if_ether.h>
#include <poll.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <vector>

#include "../binding.h"
#include "../virtio/offload.h"
#include "../virtio/vhost_user.h"
#include "gso_rx.h"
#include "../virtio/virtio_net.h"
#include "../virtio/vring.h"

namespace vnf {
namespace {

namespace vio = virtio;

constexpr uint32_t kHdr = sizeof(vio::NetHdr);  // 12 bytes with VERSION_1
constexpr uint32_t kMaxPairs = 8;
constexpr uint32_t kBurst = 256;        // packets per Rx / Tx call
constexpr uint32_t kRxSegs = 4096;      // segments of the chains one Rx call pops
constexpr uint32_t kFifo = 512;         // receive-side chains popped ahead (Tx)
constexpr uint32_t kFifoSegs = 8192;
constexpr uint32_t kMaxMerge = 64;      // MRG_RXBUF: buffers one packet may span
constexpr uint32_t kMaxPieces = 64;     // our buffers in one transmitted packet
constexpr uint32_t kMaxFrame = GsoReceiver::kMaxFrame;
constexpr uint32_t kServiceEvery = 64;

// What this port can offer (no config space). The offloads are the receive side's: a frame
// with a partial checksum (CSUM) is completed, a TCP super-frame (HOST_TSO4/6, HOST_ECN) is
// segmented, in software (offload.h), before anyone sees it.
constexpr uint64_t kOffloads = vio::Bit(vio::kNetCsum) | vio::Bit(vio::kNetHostTso4) | vio::Bit(vio::kNetHostTso6) |
                               vio::Bit(vio::kNetHostEcn);
constexpr uint64_t kSupported = vio::Bit(vio::kVersion1) | vio::Bit(vio::kNetMrgRxbuf) | vio::Bit(vio::kRingEventIdx) |
                                vio::Bit(vio::kInOrder) | vio::Bit(vio::kRingPacked) | vio::Bit(vio::kRingIndirectDesc) |
                                vio::Bit(vio::kNetMq) | vio::Bit(vio::kNetStatus) | vio::Bit(vio::kProtocolFeatures) | kOffloads;
constexpr uint64_t kDefaultFeatures = kSupported;

struct DevQueue {
  vio::DeviceQueue ring;
  bool running = false;
  int call_fd = -1;  // the backend's (valid while running)
  // Chains popped, not yet used: [head, tail) of chains; their segments in segs. Tx (the
  // frontend's receive queue) pops ahead for a burst; what is left stays for the next one.
  std::vector<vio::Chain> chains;
  std::vector<vio::Segment> segs;
  uint32_t head = 0, tail = 0, seg_tail = 0;
};

class VhostUserPort final : public Port, public vio::BackendObserver {
 public:
  struct Options {
    std::string path;
    bool client = false;
    uint32_t pairs = 1;
    uint64_t features = kDefaultFeatures;
    int connect_timeout_ms = 5000;  // client: how long Open tries to connect
    int wait_ms = 0;                // Open waits this long for the link to come up
  };

  VhostUserPort(std::shared_ptr<Pool> pool, const Options& o, uint16_t id)
      : Port(std::move(pool), "vhost-user " + o.path, o.pairs, id),
        opt_(o),
        q_(2 * o.pairs),
        gso_(pool_.get(), buf_, id, o.pairs) {
    for (uint32_t p = 0; p < o.pairs; p++) {
      DevQueue& R = q_[vio::RxQueue(p)];
      R.chains.resize(kFifo);
      R.segs.resize(kFifoSegs);
    }
    rx_chains_.resize(kBurst);
    rx_segs_.resize(kRxSegs);
    room_ = buf_.buf_size - buf_.headroom;
  }
  ~VhostUserPort() override { Close(); }

  std::string Open();

  int32_t Rx(uint32_t q, PoolCache* cache, uint32_t* ids, uint32_t n) override;
  int32_t Tx(uint32_t q, PoolCache* cache, const uint32_t* ids, uint32_t n) override;
  int Fd(uint32_t) const override { return -1; }  // polled: kicks are off
  void Refresh() override { Service(); }
  bool LinkUp() const override { return q_[0].running && q_[1].running; }
  void Close() override;

  // BackendObserver: run inside Backend::Service, on our thread.
  void QueueReady(uint32_t index, const vio::QueueState& qs) override;
  uint32_t QueueStopped(uint32_t index, const vio::QueueState& qs, vio::StopReason why) override;
  void MemoryChanged(const vio::VhostMemory& mem) override;
  void Disconnected() override;

 private:
  void Service();
  void MaybeService() {
    if (!LinkUp() || ++calls_ % kServiceEvery == 0) Service();
  }
  // The frontend broke the protocol: count, remember why, reset the device.
  void Fault(uint32_t pair, PortCounter counter, const std::string& why);
  void Notify(DevQueue& Q) {
    if (Q.call_fd < 0 || !Q.ring.NotifyNeeded()) return;
    // The frontend owns the eventfd's flags and counter: a blocking one at its maximum would
    // block this write (and the thread's other ports). At its maximum it is signalled anyway.
    pollfd pf{Q.call_fd, POLLOUT, 0};
    if (poll(&pf, 1, 0) != 1 || !(pf.revents & POLLOUT)) return;
    const uint64_t one = 1;
    if (write(Q.call_fd, &one, 8) < 0) {}  // a full eventfd counter is still a notification
  }
  uint64_t HostToGpa(const void* p) const;
  // Tx side: pops up to `want` more chains into Q's FIFO; false when the ring broke.
  bool PopMore(DevQueue& Q, uint32_t pair, uint32_t want);
  void Compact(DevQueue& Q);
  void FreeChain(PoolCache* cache, uint32_t b) { gso_.Free(cache, b); }
  // Receive-side helpers (see Rx).
  static void Gather(const vio::Segment* segs, uint32_t nsegs, uint32_t from, uint32_t len, uint8_t* dst);
  static const char* OffloadRefused(const vio::NetHdr& h, uint64_t features);
  bool CopyChainIn(PoolCache* cache, uint32_t b, const vio::Segment* segs, uint32_t nsegs, uint32_t skip, uint32_t frame);

  Options opt_;
  std::unique_ptr<vio::Backend> be_;
  vio::MemoryMap map_;
  std::vector<DevQueue> q_;
  std::vector<vio::Chain> rx_chains_;
  std::vector<vio::Segment> rx_segs_;
  GsoReceiver gso_;
  uint32_t room_ = 0;  // bytes a pool buffer holds after the headroom
  uint32_t calls_ = 0;
  bool in_service_ = false;
  std::string pending_fault_;  // a fault seen inside Service, acted on after it
  uint32_t pending_pair_ = 0;
};

uint64_t VhostUserPort::HostToGpa(const void* p) const {
  const auto* h = static_cast<const uint8_t*>(p);
  for (uint32_t i = 0; i < map_.count(); i++) {
    const vio::MemRegion& r = map_.region(i);
    if (h >= r.host && uint64_t(h - r.host) < r.size) return r.guest_addr + uint64_t(h - r.host);
  }
  return ~uint64_t(0);  // Init then refuses it
}

void VhostUserPort::MemoryChanged(const vio::VhostMemory& mem) {
  map_.Clear();
  for (uint32_t i = 0; i < mem.nregions; i++) {
    const vio::MappedRegion& r = mem.regions[i];
    if (!map_.Add(r.guest_phys_addr, r.size, r.host) && pending_fault_.empty()) {
      pending_fault_ = "memory region " + std::to_string(i) + " cannot be mapped (overlap or empty)";
      pending_pair_ = 0;
    }
  }
}

void VhostUserPort::QueueReady(uint32_t index, const vio::QueueState& qs) {
  DevQueue& Q = q_[index];
  const vio::QueueConfig cfg = vio::QueueConfigFromFeatures(be_->features(), qs.num, uint16_t(index));
  int32_t r = Q.ring.Init(cfg, &map_, HostToGpa(qs.desc), HostToGpa(qs.avail), HostToGpa(qs.used));
  if (r >= 0) r = Q.ring.SetBase(qs.base);
  if (r < 0) {
    if (pending_fault_.empty()) {
      pending_fault_ = std::string("starting queue ") + std::to_string(index) + ": " + Q.ring.error().message;
      pending_pair_ = index / 2;
    }
    return;
  }
  Q.ring.DisableKicks();  // we poll
  Q.call_fd = qs.call_fd;
  Q.head = Q.tail = Q.seg_tail = 0;
  Q.running = true;
}

uint32_t VhostUserPort::QueueStopped(uint32_t index, const vio::QueueState& qs, vio::StopReason why) {
  DevQueue& Q = q_[index];
  if (!Q.running) return qs.base;
  // Receive buffers popped ahead and not filled go back used and empty, so that the ring
  // position we report has no buffer in flight (a frontend drops a 0-length buffer).
  if (Q.tail > Q.head && why != vio::StopReason::kDisconnect && !Q.ring.broken()) {
    uint16_t ids[kFifo];
    uint32_t lens[kFifo] = {};
    uint32_t n = 0;
    for (uint32_t i = Q.head; i < Q.tail; i++) ids[n++] = Q.chains[i].id;
    Q.ring.PushUsed(ids, lens, n);
    Notify(Q);
  }
  Q.head = Q.tail = Q.seg_tail = 0;
  Q.running = false;
  Q.call_fd = -1;
  return Q.ring.broken() ? qs.base : Q.ring.GetBase();
}

void VhostUserPort::Disconnected() {
  for (DevQueue& Q : q_) {
    Q.running = false;
    Q.call_fd = -1;
    Q.head = Q.tail = Q.seg_tail = 0;
  }
  map_.Clear();
}

void VhostUserPort::Fault(uint32_t pair, PortCounter counter, const std::string& why) {
  counters(pair)[counter] += 1;
  error_ = name_ + ": " + why + " (device reset)";
  be_->Disconnect();  // stops every queue (QueueStopped), unmaps, closes; Service re-accepts
}

void VhostUserPort::Service() {
  if (!be_ || in_service_) return;
  in_service_ = true;
  const bool was_connected = be_->connected();
  const uint64_t messages = be_->stats().messages;
  const vio::VuResult r = be_->Service(0);
  in_service_ = false;
  if (!r.ok() && r.code != vio::VuError::kClosed && r.code != vio::VuError::kTimeout) {
    // A malformed or refused message counts; a failed accept / reconnect (a system error
    // before any peer) does not.
    if (r.code != vio::VuError::kSystem || was_connected || be_->stats().messages != messages) counters(0)[kRxErrors] += 1;
    error_ = name_ + ": " + r.message + (be_->connected() ? "" : " (device reset)");
  }
  if (!pending_fault_.empty()) {
    const std::string why = std::move(pending_fault_);
    pending_fault_.clear();
    Fault(pending_pair_, kRxErrors, why);
  }
}

std::string VhostUserPort::Open() {
  vio::Connection conn;
  const vio::VuResult c = opt_.client ? vio::Connection::Connect(opt_.path, opt_.connect_timeout_ms, &conn)
                                      : vio::Connection::Listen(opt_.path, &conn);
  if (!c.ok()) return c.message;
  vio::BackendConfig bc;
  bc.features = opt_.features;
  bc.max_queue_pairs = opt_.pairs;
  be_ = std::make_unique<vio::Backend>(bc, this);
  be_->Attach(std::move(conn));
  if (opt_.wait_ms > 0) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(opt_.wait_ms);
    while (!LinkUp() && std::chrono::steady_clock::now() < deadline) {
      Service();
      if (!LinkUp()) usleep(200);
    }
    if (!LinkUp()) return "no frontend brought the link up within " + std::to_string(opt_.wait_ms) + " ms";
  }
  return "";
}

// The frontend's transmit queue: its chains into fresh pool buffers. Segments of a GSO
// frame beyond what the caller asked for wait in gso_'s backlog for the next call, which
// hands them out before it pops anything new.
int32_t VhostUserPort::Rx(uint32_t q, PoolCache* cache, uint32_t* ids, uint32_t n) {
  MaybeService();
  uint32_t out = gso_.Drain(q, ids, n);
  if (gso_.Waiting(q)) return int32_t(out);
  DevQueue& Q = q_[vio::TxQueue(q)];
  if (!Q.running || out == n) return int32_t(out);
  double* c = counters(q);
  // Buffers first: a chain is popped only when there is a buffer for it.
  uint32_t bufs[kBurst];
  uint32_t want = std::min(n - out, kBurst);
  ErrorDetail d;
  int32_t got = 0;
  while ((got = pool_->Alloc(cache, bufs, want, &d)) <= 0 && want > 1) want /= 2;
  if (got <= 0) return int32_t(out);
  const int32_t k = Q.ring.PopAvail(rx_chains_.data(), uint32_t(got), rx_segs_.data(), kRxSegs);
  if (k <= 0) {
    pool_->Put(cache, bufs, uint32_t(got), &d);
    if (k < 0)
      Fault(q, kRxErrors, k == vio::kVqSegmentSpace ? "transmit queue " + std::to_string(vio::TxQueue(q)) +
                                                         ": a chain has more than " + std::to_string(kRxSegs) + " segments"
                                                   : std::string(Q.ring.error().message));
    return int32_t(out);
  }
  uint16_t used[kBurst];
  static const uint32_t zero[kBurst] = {};
  uint32_t unused = 0;
  uint32_t spare[kBurst];  // allocated buffers not handed out
  const uint64_t features = be_->features();
  for (int32_t i = 0; i < k; i++) {
    const vio::Chain& ch = rx_chains_[i];
    used[i] = ch.id;
    const uint32_t b = bufs[i];
    if (ch.read_len < kHdr + ETH_HLEN || ch.read_len - kHdr > kMaxFrame) {
      c[kRxErrors] += 1;
      error_ = name_ + ": the frontend sent a frame of " + std::to_string(int64_t(ch.read_len) - kHdr) +
               " bytes (after the header), outside [14, " + std::to_string(kMaxFrame) + "]";
      spare[unused++] = b;
      continue;
    }
    const vio::Segment* segs = rx_segs_.data() + ch.seg;
    vio::NetHdr hdr;
    Gather(segs, ch.nsegs, 0, kHdr, reinterpret_cast<uint8_t*>(&hdr));
    const char* refused = OffloadRefused(hdr, features);
    if (refused) {
      c[kRxErrors] += 1;
      error_ = name_ + ": " + refused + " (frame dropped)";
      spare[unused++] = b;
      continue;
    }
    const uint32_t frame = ch.read_len - kHdr;
    if (hdr.gso_type != vio::kGsoNone) {
      // A TCP super-frame: gathered, then cut into frames as a NIC's TSO would.
      Gather(segs, ch.nsegs, kHdr, frame, gso_.frame());
      spare[unused++] = b;
      if (const char* why = gso_.Segment(cache, frame, hdr, q, ids, &out, n, c)) {
        c[kRxErrors] += 1;
        error_ = name_ + ": a GSO frame cannot be segmented: " + why + " (frame dropped)";
      }
      continue;
    }
    if (!CopyChainIn(cache, b, segs, ch.nsegs, kHdr, frame)) {  // the pool ran dry in the middle of a frame
      c[kRxDrops] += 1;
      spare[unused++] = b;
      continue;
    }
    if (hdr.flags & vio::kNetHdrNeedsCsum) {
      const auto [base, buf_size, headroom, data_off, data_len, port] = buf_;
      const vio::BufferChain v{base, buf_size, data_off, data_len, static_cast<const uint32_t*>(pool_->meta(kMetaChain)), gso_.max_buffers()};
      if (const char* why = vio::CompletePartialChecksum(v, b, hdr.csum_start, hdr.csum_offset)) {
        c[kRxErrors] += 1;
        error_ = name_ + ": a frame's partial checksum cannot be completed: " + why + " (frame dropped)";
        FreeChain(cache, b);
        continue;
      }
    }
    gso_.Hand(q, b, ids, &out, n);  // a super-frame earlier in this batch may have filled ids
    c[kRxPackets] += 1;
    c[kRxBytes] += frame;
  }
  for (int32_t i = k; i < got; i++) spare[unused++] = bufs[i];
  if (unused) pool_->Put(cache, spare, unused, &d);
  const int32_t p = Q.ring.PushUsed(used, zero, uint32_t(k));
  if (p < 0) {  // our own bookkeeping: cannot happen with ids straight from PopAvail
    Fault(q, kRxErrors, "transmit queue " + std::to_string(vio::TxQueue(q)) + ": PushUsed refused (" + vio::VqErrorName(p) + ")");
    return int32_t(out);
  }
  Notify(Q);
  return int32_t(out);
}

// Copies bytes [from, from + len) of a chain's readable segments to dst (the caller checked
// that the chain holds them).
void VhostUserPort::Gather(const vio::Segment* segs, uint32_t nsegs, uint32_t from, uint32_t len, uint8_t* dst) {
  for (uint32_t s = 0; s < nsegs && len > 0 && !segs[s].write; s++) {
    if (from >= segs[s].len) {
      from -= segs[s].len;
      continue;
    }
    const uint32_t m = std::min(len, segs[s].len - from);
    std::memcpy(dst, segs[s].ptr + from, m);
    dst += m, len -= m, from = 0;
  }
}

// Why a frame's header asks for an offload that was not agreed (a driver must not), or nullptr.
const char* VhostUserPort::OffloadRefused(const vio::NetHdr& h, uint64_t features) {
  if ((h.flags & vio::kNetHdrNeedsCsum) && !(features & vio::Bit(vio::kNetCsum)))
    return "a frame asks for checksum offload (NEEDS_CSUM) but CSUM was not negotiated";
  switch (h.gso_type & uint8_t(~vio::kGsoEcn)) {
    case vio::kGsoNone:
      return nullptr;
    case vio::kGsoTcpV4:
      if (!(features & vio::Bit(vio::kNetHostTso4))) return "a frame asks for TCPv4 segmentation but HOST_TSO4 was not negotiated";
      break;
    case vio::kGsoTcpV6:
      if (!(features & vio::Bit(vio::kNetHostTso6))) return "a frame asks for TCPv6 segmentation but HOST_TSO6 was not negotiated";
      break;
    default:
      return "a frame asks for a GSO type this device does not offer";
  }
  if ((h.gso_type & vio::kGsoEcn) && !(features & vio::Bit(vio::kNetHostEcn)))
    return "a frame has the GSO ECN bit but HOST_ECN was not negotiated";
  return nullptr;
}

// Copies bytes [skip, skip + frame) of a chain into buffer b and, when they do not fit one
// buffer, more buffers chained behind it. False (b alone is left, the rest freed) when the
// pool runs dry.
bool VhostUserPort::CopyChainIn(PoolCache* cache, uint32_t b, const vio::Segment* segs, uint32_t nsegs, uint32_t skip,
                                uint32_t frame) {
  auto* chain = static_cast<uint32_t*>(pool_->meta(kMetaChain));
  const auto [base, buf_size, headroom, data_off, data_len, port] = buf_;
  gso_.Single(b, 0);
  uint32_t cur = b, filled = 0;
  ErrorDetail d;
  for (uint32_t s = 0; s < nsegs && frame > 0; s++) {
    const vio::Segment& sg = segs[s];
    if (sg.write) break;  // readable segments come first; a transmit chain has no others
    const uint8_t* src = sg.ptr;
    uint32_t len = sg.len;
    if (skip) {
      const uint32_t sk = std::min(skip, len);
      src += sk, len -= sk, skip -= sk;
    }
    len = std::min(len, frame);
    frame -= len;
    while (len > 0) {
      if (filled == room_) {  // the next buffer of a multi-buffer packet
        uint32_t nb;
        if (pool_->Alloc(cache, &nb, 1, &d) != 1) {
          FreeChain(cache, chain[b]);
          chain[b] = kNoBuffer;
          return false;
        }
        gso_.Single(nb, 0);
        chain[cur] = nb;
        cur = nb;
        filled = 0;
      }
      const uint32_t m = std::min(len, room_ - filled);
      std::memcpy(base + size_t(cur) * buf_size + headroom + filled, src, m);
      filled += m, len -= m, src += m;
      data_len[cur] = uint16_t(filled);
    }
  }
  return true;
}


void VhostUserPort::Compact(DevQueue& Q) {
  if (Q.head == 0) return;
  if (Q.head == Q.tail) {
    Q.head = Q.tail = Q.seg_tail = 0;
    return;
  }
  const uint32_t s0 = Q.chains[Q.head].seg;
  std::memmove(Q.segs.data(), Q.segs.data() + s0, sizeof(vio::Segment) * (Q.seg_tail - s0));
  for (uint32_t i = Q.head; i < Q.tail; i++) {
    Q.chains[i - Q.head] = Q.chains[i];
    Q.chains[i - Q.head].seg -= s0;
  }
  Q.tail -= Q.head;
  Q.seg_tail -= s0;
  Q.head = 0;
}

bool VhostUserPort::PopMore(DevQueue& Q, uint32_t pair, uint32_t want) {
  if (Q.tail == kFifo || Q.seg_tail == kFifoSegs) Compact(Q);
  want = std::min(want, kFifo - Q.tail);
  if (want == 0) return true;
  const int32_t k = Q.ring.PopAvail(Q.chains.data() + Q.tail, want, Q.segs.data() + Q.seg_tail, kFifoSegs - Q.seg_tail);
  if (k == vio::kVqSegmentSpace && Q.tail > Q.head) return true;  // room again once these are used
  if (k < 0) {
    Fault(pair, kTxErrors,
          k == vio::kVqSegmentSpace ? "receive queue " + std::to_string(vio::RxQueue(pair)) + ": a chain has more than " +
                                          std::to_string(kFifoSegs) + " segments"
                                    : std::string(Q.ring.error().message));
    return false;
  }
  const uint32_t seg_base = Q.seg_tail;  // PopAvail numbered the segments from there
  for (int32_t i = 0; i < k; i++) {
    vio::Chain& c = Q.chains[Q.tail + i];
    c.seg += seg_base;
    Q.seg_tail = std::max(Q.seg_tail, c.seg + c.nsegs);
  }
  Q.tail += uint32_t(k);
  return true;
}


// The frontend's receive queue: our frames into its buffers.
int32_t VhostUserPort::Tx(uint32_t q, PoolCache* cache, const uint32_t* ids, uint32_t n) {
  MaybeService();
  DevQueue& Q = q_[vio::RxQueue(q)];
  if (!Q.running) return 0;  // link down: the caller keeps (and may drop) its packets
  double* c = counters(q);
  const auto [base, buf_size, headroom, data_off, data_len, port] = buf_;
  const auto* chain = static_cast<const uint32_t*>(pool_->meta(kMetaChain));
  const bool mrg = be_->features() & vio::Bit(vio::kNetMrgRxbuf);
  n = std::min(n, kBurst);
  Compact(Q);
  uint16_t used_ids[kFifo];
  uint32_t used_lens[kFifo];
  uint32_t nused = 0, taken = 0;
  bool broke = false;
  auto flush = [&]() -> bool {
    if (nused == 0) return true;
    const int32_t p = Q.ring.PushUsed(used_ids, used_lens, nused);
    nused = 0;
    if (p < 0) {
      Fault(q, kTxErrors, "receive queue " + std::to_string(vio::RxQueue(q)) + ": PushUsed refused (" + vio::VqErrorName(p) + ")");
      return false;
    }
    Notify(Q);
    return true;
  };
  for (uint32_t i = 0; i < n; i++) {
    if (nused + kMaxMerge > kFifo && !flush()) return int32_t(taken);
    const uint32_t b = ids[i];
    // Our frame: its pieces, checked (the metadata is writable from JavaScript).
    const uint8_t* pp[kMaxPieces];
    uint32_t pl[kMaxPieces];
    uint32_t np = 0, L = 0;
    bool valid = true;
    for (uint32_t x = b; x != kNoBuffer; x = chain[x]) {
      if (x >= pool_->count() || np == kMaxPieces || uint32_t(data_off[x]) + data_len[x] > buf_size) {
        valid = false;
        break;
      }
      pp[np] = base + size_t(x) * buf_size + data_off[x];
      pl[np++] = data_len[x];
      L += data_len[x];
    }
    if (!valid || L < ETH_HLEN) {
      c[kTxErrors] += 1;
      error_ = name_ + ": buffer " + std::to_string(b) +
               (valid ? " holds no frame" : " has a broken chain or data beyond its buffer");
      if (valid) FreeChain(cache, b);
      else {
        ErrorDetail d;
        uint32_t h = b;
        pool_->Put(cache, &h, 1, &d);  // its chain cannot be trusted: only the head is ours
      }
      taken++;
      continue;
    }
    const uint32_t need = kHdr + L;
    // The frontend's buffers for it: from the head of the FIFO, popping more as needed.
    uint32_t nc = 0, room = 0;
    while (room < need && nc < (mrg ? kMaxMerge : 1)) {
      if (Q.head + nc == Q.tail) {
        // Each packet left needs a buffer at least: pop that many (no more: what is left
        // over at a stop goes back empty).
        if (!PopMore(Q, q, std::max<uint32_t>(1, n - i))) {
          broke = true;
          break;
        }
        if (Q.head + nc == Q.tail) break;  // the frontend has no more receive buffers
      }
      room += Q.chains[Q.head + nc].write_len;
      nc++;
    }
    if (broke) break;
    if (room < need) {
      if (nc == (mrg ? kMaxMerge : 1)) {  // will never fit: drop it (the buffers stay for others)
        c[kTxErrors] += 1;
        error_ = name_ + ": frame of " + std::to_string(L) + " bytes does not fit the frontend's receive buffer" +
                 (mrg ? "s" : " of " + std::to_string(room) + " bytes (no MRG_RXBUF)");
        FreeChain(cache, b);
        taken++;
        continue;
      }
      break;  // the frontend is out of receive buffers: the rest stays the caller's
    }
    vio::NetHdr hdr{};
    hdr.num_buffers = uint16_t(mrg ? nc : 1);
    // Scatter header + pieces over the chains' writable segments.
    uint32_t piece = 0;
    const uint8_t* src = reinterpret_cast<const uint8_t*>(&hdr);
    uint32_t left = kHdr;
    for (uint32_t k = 0; k < nc; k++) {
      const vio::Chain& ch = Q.chains[Q.head + k];
      uint32_t wrote = 0;
      for (uint32_t s = ch.seg; s < ch.seg + ch.nsegs; s++) {
        const vio::Segment& sg = Q.segs[s];
        if (!sg.write) continue;
        uint32_t so = 0;
        while (so < sg.len) {
          while (left == 0 && piece < np) {
            src = pp[piece];
            left = pl[piece];
            piece++;
          }
          if (left == 0) break;
          const uint32_t m = std::min(left, sg.len - so);
          std::memcpy(sg.ptr + so, src, m);
          so += m, src += m, left -= m, wrote += m;
        }
        if (left == 0 && piece == np) break;
      }
      used_ids[nused] = ch.id;
      used_lens[nused++] = wrote;
    }
    Q.head += nc;
    c[kTxPackets] += 1;
    c[kTxBytes] += L;
    FreeChain(cache, b);
    taken++;
  }
  if (!broke) flush();  // after a fault the device is reset; the buffers taken are freed
  return int32_t(taken);
}

void VhostUserPort::Close() {
  if (be_) {
    be_->Disconnect();
    // A listener's socket file goes with the port.
    if (!opt_.client && be_->connection().listen_fd() >= 0) unlink(opt_.path.c_str());
    be_.reset();
  }
  for (DevQueue& Q : q_) Q.running = false;
  gso_.Release();  // segments nobody took
}

uint64_t GetFeatures(const Napi::Object& o, uint64_t def) {
  Napi::Value v = o.Get("features");
  if (v.IsUndefined()) return def;
  if (v.IsBigInt()) {
    bool lossless = false;
    const uint64_t f = v.As<Napi::BigInt>().Uint64Value(&lossless);
    if (!lossless) Throw(o.Env(), kErrInvalidArgument, "features must be a bigint below 2^64");
    return f;
  }
  if (v.IsNumber()) {
    const double d = v.As<Napi::Number>().DoubleValue();
    if (!(d >= 0 && d < 9007199254740992.0) || d != double(uint64_t(d)))
      Throw(o.Env(), kErrInvalidArgument, "features must be a non-negative integer");
    return uint64_t(d);
  }
  Throw(o.Env(), kErrInvalidArgument, "features must be a bigint");
  return 0;
}

// portOpenVhostUser(pool, { path, client, queues, features, id, connectTimeoutMs, waitMs })
Napi::Value OpenVhostUser(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  ThreadState* ts = State(env);
  if (!info[1].IsObject()) Throw(env, kErrInvalidArgument, "vhost-user: options must be an object");
  const int32_t pool_handle = info[0].ToNumber().Int32Value();
  Napi::Object o = info[1].As<Napi::Object>();
  VhostUserPort::Options opt;
  uint32_t id = 0;
  try {
    opt.path = GetString(o, "path", "");
    opt.client = GetBool(o, "client", false);
    opt.pairs = GetU32(o, "queues", 1);
    opt.features = GetFeatures(o, kDefaultFeatures);
    opt.connect_timeout_ms = int(std::min<uint32_t>(GetU32(o, "connectTimeoutMs", 5000), 3600000));
    opt.wait_ms = int(std::min<uint32_t>(GetU32(o, "waitMs", 0), 3600000));
    id = GetU32(o, "id", 0);
  } catch (const Napi::Error& e) {
    Throw(env, kErrInvalidArgument, "vhost-user: " + e.Message());
  }
  const std::string who = "vhost-user " + (opt.path.empty() ? std::string("(no path)") : opt.path);
  auto bad = [&](const std::string& what) { Throw(env, kErrInvalidArgument, who + ": " + what); };
  if (opt.path.empty()) bad("path (the vhost-user socket) is required");
  if (opt.pairs < 1 || opt.pairs > kMaxPairs) bad("queues must be 1 to " + std::to_string(kMaxPairs) + ", got " + std::to_string(opt.pairs));
  if (opt.features & ~kSupported) {
    char hex[24];
    std::snprintf(hex, sizeof hex, "0x%llx", static_cast<unsigned long long>(opt.features & ~kSupported));
    bad(std::string("features ") + hex + " are beyond what this device can offer (at most VERSION_1, MRG_RXBUF, "
        "RING_EVENT_IDX, IN_ORDER, RING_PACKED, RING_INDIRECT_DESC, MQ, STATUS, PROTOCOL_FEATURES, CSUM, HOST_TSO4, "
        "HOST_TSO6, HOST_ECN)");
  }
  // The spec's dependencies (5.1.3.1): segmentation needs checksum offload, ECN needs TSO.
  if ((opt.features & (vio::Bit(vio::kNetHostTso4) | vio::Bit(vio::kNetHostTso6))) && !(opt.features & vio::Bit(vio::kNetCsum)))
    bad("features HOST_TSO4 / HOST_TSO6 need CSUM");
  if ((opt.features & vio::Bit(vio::kNetHostEcn)) && !(opt.features & (vio::Bit(vio::kNetHostTso4) | vio::Bit(vio::kNetHostTso6))))
    bad("feature HOST_ECN needs HOST_TSO4 or HOST_TSO6");
  if (!(opt.features & vio::Bit(vio::kVersion1))) bad("features must include VERSION_1 (legacy devices are not supported)");
  if (opt.pairs > 1) opt.features |= vio::Bit(vio::kNetMq);
  if (id > 0xfffe) bad("id must be 0 to 65534");
  PoolSlot* pool = PoolForPort(env, ts, pool_handle, who);
  auto port = std::make_unique<VhostUserPort>(pool->pool, opt, uint16_t(id));
  const std::string e = port->Open();
  if (!e.empty()) {
    port->Close();
    Throw(env, kErrPort, who + ": " + e);
  }
  Napi::Object out = InsertPort(env, ts, pool_handle, std::move(port));
  out.Set("features", Napi::BigInt::New(env, opt.features));
  return out;
}

}  // namespace

void RegisterVhostUser(Napi::Env env, Napi::Object exports) { exports.Set("portOpenVhostUser", Napi::Function::New(env, OpenVhostUser)); }

}  // namespace vnf
