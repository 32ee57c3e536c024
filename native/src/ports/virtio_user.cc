// virtio-user port: our virtio-net driver (the frontend) talking vhost-user to a backend (DPDK's
// net_vhost, a vswitch, our own VhostUserPort), as DPDK's virtio_user does. The virtqueues live
// in a memfd of ours and the packets in the pool's memfd; both are given to the backend in the
// memory table, with our virtual addresses as "guest physical" addresses, so a descriptor
// points straight at a pool buffer: no copy on our side.
//
//   receive:   the rx queue holds pool buffers (device-writable, the 12-byte virtio-net header
//              written just before the buffer's usual data start); PollUsed gives them back
//              filled, and the same number of fresh buffers go in. With MRG_RXBUF a packet
//              may span several buffers (num_buffers in the header): they are chained.
//   transmit:  a buffer goes out as one device-readable descriptor covering the header (written
//              in the headroom) and the frame; buffers the device has finished with (PollUsed
//              on the tx queue) go back to the pool at the next transmit.
//   kicks:     one eventfd write per burst when the ring says the device wants one (EVENT_IDX /
//              NO_NOTIFY); used-buffer interrupts are turned off (we poll).
//   restart:   when the backend goes away the link is down, every buffer the rings held goes
//              back to the pool, and Refresh reconnects (client: connect again; server: accept)
//              and renegotiates with fresh rings.
#include <fcntl.h>
#include <linux/if_ether.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <vector>

#include "../binding.h"
#include "../virtio/offload.h"
#include "../virtio/vhost_user.h"
#include "../virtio/virtio_net.h"
#include "../virtio/vring.h"
#include "gso_rx.h"

namespace vnf {
namespace {

namespace vio = virtio;

constexpr uint32_t kHdr = sizeof(vio::NetHdr);  // 12 bytes with VERSION_1
constexpr uint32_t kMaxPairs = 8;
constexpr size_t kRingAlignment = 4096;

std::string Errno(int e) { return std::strerror(e); }

uint64_t MonoMs() {
  return uint64_t(std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now().time_since_epoch()).count());
}

struct VirtioQueue {
  vio::DriverQueue ring;
  vio::RingLayout layout;
  uint8_t* mem = nullptr;       // the ring in our memfd
  int kick_fd = -1, call_fd = -1;
  std::vector<uint32_t> held;   // buffers the device holds (posted, not yet used): freed on reset
  std::vector<uint32_t> slot;   // position of buffer b in `held` (kNoBuffer when not held)
};

struct PartialRx {  // a mergeable packet whose later buffers have not been used yet
  uint32_t head = kNoBuffer, tail = kNoBuffer;
  uint32_t left = 0, bytes = 0;
  vio::NetHdr hdr{};  // its header (offload flags)
};


class VirtioUserPort final : public Port {
 public:
  struct Options {
    std::string path;
    bool server = false;
    uint32_t pairs = 1;
    uint32_t queue_size = 1024;
    bool packed = false, in_order = true, event_idx = true, mrg_rxbuf = true, guest_csum = true, guest_tso = true;
    int connect_timeout_ms = 5000;
  };

  VirtioUserPort(std::shared_ptr<Pool> pool, const Options& o, uint16_t id)
      : Port(std::move(pool), o.path, o.pairs, id), opt_(o), q_(2 * o.pairs), partial_(o.pairs), gso_(pool_.get(), buf_, id, o.pairs) {}
  ~VirtioUserPort() override { Close(); }

  // Connects and negotiates; "" on success, else why not.
  std::string Open();

  int32_t Rx(uint32_t q, PoolCache* cache, uint32_t* ids, uint32_t n) override;
  int32_t Tx(uint32_t q, PoolCache* cache, const uint32_t* ids, uint32_t n) override;
  int Fd(uint32_t) const override { return -1; }  // polled: used-buffer interrupts are off
  void Refresh() override;
  bool LinkUp() const override { return up_; }
  void Close() override;
  // VIRTIO_NET_HDR_F_NEEDS_CSUM (GUEST_CSUM): the device left the transport checksum partial
  // (the pseudo-header sum in the field); complete it over [csum_start, end). False if the
  // header points outside the packet.
  bool CompleteChecksum(uint32_t head, const vio::NetHdr& h);
  void Deliver(PoolCache* cache, uint32_t q, uint32_t head, const vio::NetHdr& hdr, uint32_t bytes, uint32_t* ids,
               uint32_t* got, uint32_t n, double* c);

  uint64_t features() const { return negotiated_; }

 private:
  std::string SetUpRings();
  std::string Start();
  void Hold(VirtioQueue& Q, uint32_t b) {
    Q.slot[b] = uint32_t(Q.held.size());
    Q.held.push_back(b);
  }
  void Unhold(VirtioQueue& Q, uint32_t b) {
    const uint32_t i = Q.slot[b], last = Q.held.back();
    Q.held[i] = last;
    Q.slot[last] = i;
    Q.held.pop_back();
    Q.slot[b] = kNoBuffer;
  }
  uint32_t Refill(uint32_t pair, PoolCache* cache);
  void Kick(VirtioQueue& Q) {
    if (!Q.ring.KickNeeded()) return;
    const uint64_t one = 1;
    if (write(Q.kick_fd, &one, 8) < 0) {}  // a full eventfd counter is still a kick
  }
  void LinkLost(const std::string& why);
  void ReleaseAll();

  std::string Probe();

  Options opt_;
  uint64_t want_ = 0, negotiated_ = 0;
  std::vector<VirtioQueue> q_;
  std::vector<PartialRx> partial_;
  GsoReceiver gso_;
  std::unique_ptr<vio::Frontend> fe_;
  int ring_fd_ = -1;
  uint8_t* ring_mem_ = nullptr;
  size_t ring_bytes_ = 0;
  bool up_ = false;
  uint64_t next_retry_ms_ = 0;
  uint32_t calls_ = 0;
};

std::string VirtioUserPort::SetUpRings() {
  size_t total = 0;
  for (auto& Q : q_) {
    if (!vio::ComputeRingLayout(opt_.queue_size, opt_.packed, &Q.layout)) {
      return "queue size " + std::to_string(opt_.queue_size) + " is not valid for a " + (opt_.packed ? "packed" : "split") +
             " ring (split: a power of 2 up to 32768)";
    }
    total += (Q.layout.total_bytes + kRingAlignment - 1) / kRingAlignment * kRingAlignment;
  }
  ring_fd_ = memfd_create("vnf-virtio-rings", MFD_CLOEXEC);
  if (ring_fd_ < 0) return "memfd_create: " + Errno(errno);
  if (ftruncate(ring_fd_, off_t(total)) < 0) return "ftruncate: " + Errno(errno);
  void* m = mmap(nullptr, total, PROT_READ | PROT_WRITE, MAP_SHARED, ring_fd_, 0);
  if (m == MAP_FAILED) return "mmap of the rings: " + Errno(errno);
  ring_mem_ = static_cast<uint8_t*>(m);
  ring_bytes_ = total;
  size_t off = 0;
  for (auto& Q : q_) {
    Q.mem = ring_mem_ + off;
    off += (Q.layout.total_bytes + kRingAlignment - 1) / kRingAlignment * kRingAlignment;
    Q.kick_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    Q.call_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (Q.kick_fd < 0 || Q.call_fd < 0) return "eventfd: " + Errno(errno);
    Q.slot.assign(pool_->count(), kNoBuffer);
    Q.held.reserve(opt_.queue_size);
  }
  return "";
}

// Fresh rings (zeroed by Init), receive buffers posted, then the whole vhost-user sequence.
std::string VirtioUserPort::Start() {
  const uint64_t feats = negotiated_;
  std::vector<vio::FrontendQueue> fq;
  for (uint32_t i = 0; i < q_.size(); i++) {
    VirtioQueue& Q = q_[i];
    const vio::QueueConfig cfg = vio::QueueConfigFromFeatures(feats, opt_.queue_size, uint16_t(i));
    const int32_t r = Q.ring.Init(cfg, Q.mem);
    if (r < 0) return "queue " + std::to_string(i) + ": " + Q.ring.error().message;
    Q.ring.DisableNotify();
    vio::FrontendQueue f;
    f.index = i;
    f.num = opt_.queue_size;
    f.desc = uint64_t(uintptr_t(Q.mem + Q.layout.desc_offset));
    f.avail = uint64_t(uintptr_t(Q.mem + Q.layout.driver_offset));
    f.used = uint64_t(uintptr_t(Q.mem + Q.layout.device_offset));
    f.base = opt_.packed ? 0x8000 : 0;  // packed: wrap counter 1 in bit 15
    f.kick_fd = Q.kick_fd;
    f.call_fd = Q.call_fd;
    fq.push_back(f);
  }
  for (uint32_t p = 0; p < opt_.pairs; p++) {
    partial_[p] = PartialRx();
    if (Refill(p, nullptr) == 0) return "the pool has no buffers for the receive ring";
  }
  std::vector<vio::FrontendRegion> regions = {
      {pool_->fd(), pool_->base(), pool_->region_size(), 0},
      {ring_fd_, ring_mem_, ring_bytes_, 0},
  };
  vio::FrontendOptions fo;
  fo.features = feats;
  const vio::VuResult r = fe_->Start(fo, regions, fq);
  // The rings were laid out for `feats`; the agreement may differ only in bits that do not
  // shape them (PROTOCOL_FEATURES is the negotiation's own business).
  const uint64_t shape = vio::Bit(vio::kRingPacked) | vio::Bit(vio::kRingEventIdx) | vio::Bit(vio::kInOrder) |
                         vio::Bit(vio::kRingIndirectDesc) | vio::Bit(vio::kNetMrgRxbuf);
  if (r.ok() && (fe_->features() & shape) != (feats & shape)) return "the backend's feature offer changed during negotiation";
  if (r.ok()) negotiated_ = fe_->features();
  if (!r.ok()) return r.message;
  for (auto& Q : q_) Kick(Q);
  up_ = true;
  return "";
}

std::string VirtioUserPort::Open() {
  if (std::string e = SetUpRings(); !e.empty()) return e;
  vio::Connection conn;
  const vio::VuResult c = opt_.server ? vio::Connection::Listen(opt_.path, &conn)
                                      : vio::Connection::Connect(opt_.path, opt_.connect_timeout_ms, &conn);
  if (!c.ok()) return c.message;
  if (opt_.server) {
    const vio::VuResult a = conn.Accept(opt_.connect_timeout_ms);
    if (!a.ok()) return "waiting for the backend to connect: " + a.message;
  }
  fe_ = std::make_unique<vio::Frontend>(std::move(conn));
  // What we ask for; the negotiation keeps what the backend offers too.
  uint64_t want = vio::Bit(vio::kVersion1) | vio::Bit(vio::kNetStatus) | vio::Bit(vio::kProtocolFeatures);
  if (opt_.mrg_rxbuf) want |= vio::Bit(vio::kNetMrgRxbuf);
  // Partial checksums from the device are completed on receive (CompleteChecksum).
  if (opt_.guest_csum) want |= vio::Bit(vio::kNetGuestCsum);
  // TCP super-frames are segmented on receive (Deliver): they need the checksum offload and,
  // at up to 64 KiB, mergeable buffers.
  if (opt_.guest_tso && opt_.guest_csum && opt_.mrg_rxbuf)
    want |= vio::Bit(vio::kNetGuestTso4) | vio::Bit(vio::kNetGuestTso6) | vio::Bit(vio::kNetGuestEcn);
  if (opt_.event_idx) want |= vio::Bit(vio::kRingEventIdx);
  if (opt_.in_order) want |= vio::Bit(vio::kInOrder);
  if (opt_.packed) want |= vio::Bit(vio::kRingPacked);
  if (opt_.pairs > 1) want |= vio::Bit(vio::kNetMq);
  want_ = want;
  // The rings' layout depends on the features agreed, and Start negotiates them: ask for the
  // offer first (the agreement is wanted & offered), set the rings up for it, then Start.
  std::string e = Probe();
  if (!e.empty()) return e;
  return Start();
}

std::string VirtioUserPort::Probe() {
  vio::Message m(vio::Request::kGetFeatures);  // version 1 in the flags: a strict backend checks it
  vio::Message reply;
  const vio::VuResult g = fe_->Transact(m, nullptr, 0, &reply);
  if (!g.ok()) return "GET_FEATURES: " + g.message;
  const uint64_t offered = reply.payload.u64;
  if (!(offered & vio::Bit(vio::kVersion1))) return "the backend does not offer VIRTIO_F_VERSION_1 (legacy devices are not supported)";
  if (opt_.packed && !(offered & vio::Bit(vio::kRingPacked)))
    return "a packed ring was asked for, but the backend does not offer VIRTIO_F_RING_PACKED";
  negotiated_ = want_ & offered;
  return "";
}

bool VirtioUserPort::CompleteChecksum(uint32_t head, const vio::NetHdr& h) {
  const auto [base, buf_size, headroom, data_off, data_len, port] = buf_;
  const vio::BufferChain v{base, buf_size, data_off, data_len, static_cast<const uint32_t*>(pool_->meta(kMetaChain)), opt_.queue_size};
  return vio::CompletePartialChecksum(v, head, h.csum_start, h.csum_offset) == nullptr;
}

// A received packet (head, its buffers chained) into ids[*got], or gso_'s backlog once ids
// is full, with its offloads honoured: a partial checksum is completed; a TCP super-frame
// (GUEST_TSO4/6) is gathered and cut into frames of its gso_size.
void VirtioUserPort::Deliver(PoolCache* cache, uint32_t q, uint32_t head, const vio::NetHdr& hdr, uint32_t bytes,
                             uint32_t* ids, uint32_t* got, uint32_t n, double* c) {
  if (hdr.gso_type == vio::kGsoNone) {
    if ((hdr.flags & vio::kNetHdrNeedsCsum) && !CompleteChecksum(head, hdr)) {
      c[kRxErrors] += 1;
      error_ = name_ + ": a received packet's partial checksum lies outside it (packet dropped)";
      gso_.Free(cache, head);
      return;
    }
    gso_.Hand(q, head, ids, got, n);  // a super-frame earlier in this poll may have filled ids
    c[kRxPackets] += 1;
    c[kRxBytes] += bytes;
    return;
  }
  const char* why = nullptr;
  const uint8_t type = hdr.gso_type & uint8_t(~vio::kGsoEcn);
  if ((type == vio::kGsoTcpV4 && !(negotiated_ & vio::Bit(vio::kNetGuestTso4))) ||
      (type == vio::kGsoTcpV6 && !(negotiated_ & vio::Bit(vio::kNetGuestTso6))) || bytes > GsoReceiver::kMaxFrame) {
    why = "a GSO type or size that was not negotiated";
  } else {
    const auto [base, buf_size, headroom, data_off, data_len, port] = buf_;
    const auto* chain = static_cast<const uint32_t*>(pool_->meta(kMetaChain));
    uint8_t* frame = gso_.frame();
    uint32_t len = 0;
    for (uint32_t b = head; b != kNoBuffer; b = chain[b]) {
      std::memcpy(frame + len, base + size_t(b) * buf_size + data_off[b], data_len[b]);
      len += data_len[b];
    }
    why = gso_.Segment(cache, len, hdr, q, ids, got, n, c);
  }
  gso_.Free(cache, head);
  if (why) {
    c[kRxErrors] += 1;
    error_ = name_ + ": a received GSO packet cannot be segmented: " + why + " (packet dropped)";
  }
}

// Fresh buffers into the rx ring of `pair`, as many as it has room for. Returns how many.
uint32_t VirtioUserPort::Refill(uint32_t pair, PoolCache* cache) {
  VirtioQueue& Q = q_[vio::RxQueue(pair)];
  uint32_t room = Q.ring.NumFree();
  uint32_t added = 0;
  uint32_t ids[64];
  uint64_t addr[64];
  uint32_t len[64];
  const auto [base, buf_size, headroom, data_off, data_len, port] = buf_;
  while (room > 0) {
    const uint32_t want = std::min<uint32_t>(room, 64);
    ErrorDetail d;
    int32_t got = pool_->Alloc(cache, ids, want, &d);
    if (got <= 0) break;
    for (int32_t i = 0; i < got; i++) {
      addr[i] = uint64_t(uintptr_t(base + size_t(ids[i]) * buf_size + headroom - kHdr));
      len[i] = buf_size - headroom + kHdr;
    }
    const uint32_t k = Q.ring.AddSingles(addr, len, ids, uint32_t(got), true);
    for (uint32_t i = 0; i < k; i++) Hold(Q, ids[i]);
    if (k < uint32_t(got)) pool_->Put(cache, ids + k, uint32_t(got) - k, &d);
    added += k;
    if (k < uint32_t(got)) break;
    room -= k;
  }
  if (added) Kick(Q);
  return added;
}

int32_t VirtioUserPort::Rx(uint32_t q, PoolCache* cache, uint32_t* ids, uint32_t n) {
  if ((++calls_ & 1023) == 0) Refresh();
  if (!up_) return 0;
  VirtioQueue& Q = q_[vio::RxQueue(q)];
  double* c = counters(q);
  const auto [base, buf_size, headroom, data_off, data_len, port] = buf_;
  auto* chain = static_cast<uint32_t*>(pool_->meta(kMetaChain));
  const bool mrg = negotiated_ & vio::Bit(vio::kNetMrgRxbuf);
  PartialRx& part = partial_[q];
  uint32_t lens[256];
  uint32_t bufs[256];
  n = std::min<uint32_t>(n, 256);
  uint32_t got = gso_.Drain(q, ids, n);  // segments of an earlier super-frame first
  if (gso_.Waiting(q) || got == n) return int32_t(got);
  const int32_t k = Q.ring.PollUsed(bufs, lens, n - got);
  if (k < 0) {
    LinkLost("receive queue " + std::to_string(vio::RxQueue(q)) + ": " + Q.ring.error().message);
    return 0;
  }
  for (int32_t i = 0; i < k; i++) {
    const uint32_t b = bufs[i];
    Unhold(Q, b);
    chain[b] = kNoBuffer;
    port[b] = port_id_;
    if (part.left > 0) {  // a later buffer of a mergeable packet: data from its start
      data_off[b] = uint16_t(headroom - kHdr);
      data_len[b] = uint16_t(std::min<uint32_t>(lens[i], buf_size - headroom + kHdr));
      chain[part.tail] = b;
      part.tail = b;
      part.bytes += data_len[b];
      if (--part.left == 0) {
        Deliver(cache, q, part.head, part.hdr, part.bytes, ids, &got, n, c);
        part = PartialRx();
      }
      continue;
    }
    const uint8_t* h = base + size_t(b) * buf_size + headroom - kHdr;
    vio::NetHdr hdr;
    std::memcpy(&hdr, h, kHdr);
    if (lens[i] < kHdr + ETH_HLEN || lens[i] > buf_size - headroom + kHdr) {
      c[kRxErrors] += 1;
      ErrorDetail d;
      pool_->Put(cache, &b, 1, &d);
      continue;
    }
    data_off[b] = uint16_t(headroom);
    data_len[b] = uint16_t(lens[i] - kHdr);
    const uint32_t nbuf = mrg ? hdr.num_buffers : 1;
    if (nbuf == 0 || nbuf > opt_.queue_size) {  // a backend bug: never wait for buffers that cannot come
      c[kRxErrors] += 1;
      error_ = name_ + ": a received packet says it spans " + std::to_string(nbuf) + " buffers (ring of " +
               std::to_string(opt_.queue_size) + ")";
      ErrorDetail d;
      pool_->Put(cache, &b, 1, &d);
      continue;
    }
    if (nbuf > 1) {
      part.head = part.tail = b;
      part.left = nbuf - 1;
      part.bytes = data_len[b];
      part.hdr = hdr;
      continue;
    }
    Deliver(cache, q, b, hdr, data_len[b], ids, &got, n, c);
  }
  Refill(q, cache);
  return int32_t(got);
}

int32_t VirtioUserPort::Tx(uint32_t q, PoolCache* cache, const uint32_t* ids, uint32_t n) {
  if (!up_) {
    if ((++calls_ & 1023) == 0) Refresh();
    return 0;  // link down: the caller keeps (and may drop) its packets
  }
  VirtioQueue& Q = q_[vio::TxQueue(q)];
  double* c = counters(q);
  const auto [base, buf_size, headroom, data_off, data_len, port] = buf_;
  const auto* chain = static_cast<const uint32_t*>(pool_->meta(kMetaChain));
  // Buffers the device has sent go back to the pool first (room in the ring for this burst).
  uint32_t done[256];
  uint32_t lens[256];
  for (;;) {
    const int32_t k = Q.ring.PollUsed(done, lens, 256);
    if (k < 0) {
      LinkLost("transmit queue " + std::to_string(vio::TxQueue(q)) + ": " + Q.ring.error().message);
      return 0;
    }
    if (k == 0) break;
    for (int32_t i = 0; i < k; i++) Unhold(Q, done[i]);
    ErrorDetail d;
    pool_->Put(cache, done, uint32_t(k), &d);
    if (k < 256) break;
  }
  n = std::min<uint32_t>(n, 256);
  // Sendable buffers, compacted in order (pos: their place in ids); the others (no room for
  // the header, chained, not a frame) are counted as errors and freed with what is taken.
  uint64_t addr[256];
  uint32_t len[256], send[256], pos[256];
  bool sendable[256];
  uint32_t s = 0;
  for (uint32_t i = 0; i < n; i++) {
    const uint32_t b = ids[i];
    const uint32_t off = data_off[b], dl = data_len[b];
    sendable[i] = off >= kHdr && off + dl <= buf_size && dl >= ETH_HLEN && chain[b] == kNoBuffer;
    if (!sendable[i]) continue;
    uint8_t* h = base + size_t(b) * buf_size + off - kHdr;
    std::memset(h, 0, kHdr);
    send[s] = b, addr[s] = uint64_t(uintptr_t(h)), len[s] = dl + kHdr, pos[s] = i;
    s++;
  }
  const uint32_t added = s ? Q.ring.AddSingles(addr, len, send, s, false) : 0;
  // Taken: everything before the first sendable buffer that did not fit (all, when all fit).
  const uint32_t taken = added < s ? pos[added] : n;
  uint32_t bad[256];
  uint32_t nbad = 0;
  for (uint32_t i = 0; i < taken; i++) {
    if (sendable[i]) continue;
    const uint32_t b = ids[i];
    bad[nbad++] = b;
    c[kTxErrors] += 1;
    error_ = name_ + ": buffer " + std::to_string(b) +
             (data_off[b] < kHdr ? " has no room for the virtio-net header before its data"
              : chain[b] != kNoBuffer ? " is chained (multi-buffer transmit is not supported)"
                                      : " does not hold a frame within its buffer");
  }
  for (uint32_t k = 0; k < added; k++) {
    Hold(Q, send[k]);
    c[kTxPackets] += 1;
    c[kTxBytes] += len[k] - kHdr;
  }
  if (nbad) {
    ErrorDetail d;
    pool_->Put(cache, bad, nbad, &d);
  }
  if (added) Kick(Q);
  return int32_t(taken);
}

// Every buffer the rings hold back to the pool; the partial packets too.
void VirtioUserPort::ReleaseAll() {
  ErrorDetail d;
  for (auto& Q : q_) {
    if (!Q.held.empty()) pool_->Put(nullptr, Q.held.data(), uint32_t(Q.held.size()), &d);
    for (uint32_t b : Q.held) Q.slot[b] = kNoBuffer;
    Q.held.clear();
  }
  auto* chain = static_cast<uint32_t*>(pool_->meta(kMetaChain));
  for (auto& part : partial_) {
    for (uint32_t b = part.head; b != kNoBuffer;) {
      const uint32_t next = chain[b];
      chain[b] = kNoBuffer;
      pool_->Put(nullptr, &b, 1, &d);
      b = next;
    }
    part = PartialRx();
  }
}

void VirtioUserPort::LinkLost(const std::string& why) {
  if (!up_) return;
  up_ = false;
  error_ = name_ + ": " + why;
  ReleaseAll();
  next_retry_ms_ = MonoMs();
}

// Link state; when the backend has gone, reconnect (at most every 100 ms) and start again.
void VirtioUserPort::Refresh() {
  if (!fe_) return;
  if (up_ && fe_->Disconnected()) LinkLost("the backend closed the vhost-user connection");
  if (up_ || MonoMs() < next_retry_ms_) return;
  next_retry_ms_ = MonoMs() + 100;
  const vio::VuResult r = fe_->connection().Reconnect(opt_.server ? 0 : 10);
  if (!r.ok()) return;
  std::string e = Probe();
  if (e.empty()) e = Start();
  if (!e.empty()) {
    error_ = name_ + ": restarting after a reconnect: " + e;
    ReleaseAll();
    up_ = false;
  }
}

void VirtioUserPort::Close() {
  if (fe_) {
    if (up_) {
      std::vector<uint32_t> bases;
      fe_->Stop(&bases);
    }
    fe_->connection().Disconnect();
  }
  up_ = false;
  ReleaseAll();
  gso_.Release();
  for (auto& Q : q_) {
    if (Q.kick_fd >= 0) close(Q.kick_fd);
    if (Q.call_fd >= 0) close(Q.call_fd);
    Q.kick_fd = Q.call_fd = -1;
  }
  if (ring_mem_) munmap(ring_mem_, ring_bytes_);
  ring_mem_ = nullptr;
  if (ring_fd_ >= 0) close(ring_fd_);
  ring_fd_ = -1;
  fe_.reset();
}

// portOpenVirtioUser(pool, { path, server, queues, queueSize, packed, inOrder, eventIdx,
//                            mrgRxbuf, guestCsum, guestTso, id, connectTimeoutMs })
Napi::Value OpenVirtioUser(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  ThreadState* ts = State(env);
  if (!info[1].IsObject()) Throw(env, kErrInvalidArgument, "virtio-user: options must be an object");
  const int32_t pool_handle = info[0].ToNumber().Int32Value();
  Napi::Object o = info[1].As<Napi::Object>();
  VirtioUserPort::Options opt;
  uint32_t id = 0;
  try {
    opt.path = GetString(o, "path", "");
    opt.server = GetBool(o, "server", false);
    opt.pairs = GetU32(o, "queues", 1);
    opt.queue_size = GetU32(o, "queueSize", 1024);
    opt.packed = GetBool(o, "packed", false);
    opt.in_order = GetBool(o, "inOrder", true);
    opt.event_idx = GetBool(o, "eventIdx", true);
    opt.mrg_rxbuf = GetBool(o, "mrgRxbuf", true);
    opt.guest_csum = GetBool(o, "guestCsum", true);
    opt.guest_tso = GetBool(o, "guestTso", true);
    opt.connect_timeout_ms = int(GetU32(o, "connectTimeoutMs", 5000));
    id = GetU32(o, "id", 0);
  } catch (const Napi::Error& e) {
    Throw(env, kErrInvalidArgument, "virtio-user: " + e.Message());
  }
  const std::string who = "virtio-user " + (opt.path.empty() ? std::string("(no path)") : opt.path);
  auto bad = [&](const std::string& what) { Throw(env, kErrInvalidArgument, who + ": " + what); };
  if (opt.path.empty()) bad("path (the vhost-user socket) is required");
  if (opt.pairs < 1 || opt.pairs > kMaxPairs) bad("queues must be 1 to " + std::to_string(kMaxPairs) + ", got " + std::to_string(opt.pairs));
  if (!vio::ValidQueueSize(opt.queue_size, opt.packed)) bad("queueSize " + std::to_string(opt.queue_size) + " is not valid (split rings: a power of 2, 1 to 32768)");
  if (id > 0xfffe) bad("id must be 0 to 65534");
  PoolSlot* pool = PoolForPort(env, ts, pool_handle, who);
  if (pool->pool->config().headroom < kHdr) bad("the pool's headroom is smaller than the 12-byte virtio-net header");
  if (pool->pool->fd() < 0) bad("the pool has no memory file to share with the backend");
  auto port = std::make_unique<VirtioUserPort>(pool->pool, opt, uint16_t(id));
  const std::string e = port->Open();
  if (!e.empty()) {
    port->Close();
    Throw(env, kErrPort, who + ": " + e);
  }
  const uint64_t f = port->features();
  Napi::Object out = InsertPort(env, ts, pool_handle, std::move(port));
  out.Set("features", Napi::BigInt::New(env, f));
  return out;
}

}  // namespace

void RegisterVirtioUser(Napi::Env env, Napi::Object exports) { exports.Set("portOpenVirtioUser", Napi::Function::New(env, OpenVirtioUser)); }

}  // namespace vnf
