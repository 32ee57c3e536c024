// AF_PACKET port driver: one packet socket per queue, each with a TPACKET_V3 receive ring
// (blocks of variable-size frames handed over whole, as in the kernel's
// Documentation/networking/packet_mmap.rst) and a TPACKET_V3 transmit ring filled for a
// whole burst and kicked once. Several queues, or several ports opened by different
// worker threads, share the traffic through a PACKET_FANOUT group.
//
// Receive copies each frame out of the ring into a fresh pool buffer (the ring is the
// kernel's memory, the pool is ours) and gives the ring block back once every frame of
// it is taken. A VLAN tag that the kernel stripped into the frame header (hv1) is put back
// in front of the ethertype. Transmit copies each buffer into a ring slot, returns the
// buffer to the pool at once, and one sendto() per burst tells the kernel to send them.
//
// Limits: one buffer per packet (frames over buf_size - headroom are counted in rxErrors
// and dropped; chained buffers on transmit are counted in txErrors).
#include <arpa/inet.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <net/if.h>
#include <net/if_arp.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <vector>

#include "../binding.h"

// Older headers may lack these (kernel 4.20 and 4.2).
#ifndef PACKET_IGNORE_OUTGOING
#define PACKET_IGNORE_OUTGOING 23
#endif
#ifndef PACKET_FANOUT_FLAG_UNIQUEID
#define PACKET_FANOUT_FLAG_UNIQUEID 0x2000
#endif

namespace vnf {
namespace {

constexpr uint32_t kTpHdr = TPACKET_ALIGN(sizeof(tpacket3_hdr));  // tx data offset in a slot
constexpr uint32_t kMaxQueues = 64;

inline uint32_t LoadAcquire(const volatile uint32_t* p) { return __atomic_load_n(p, __ATOMIC_ACQUIRE); }
inline void StoreRelease(volatile uint32_t* p, uint32_t v) { __atomic_store_n(p, v, __ATOMIC_RELEASE); }

std::string Errno(int e) { return std::strerror(e); }

struct Options {
  std::string ifname;
  uint32_t queues = 1;
  uint32_t id = 0;
  uint32_t block_size = 1u << 18;  // 256 KiB
  uint32_t block_count = 64;       // 16 MiB of receive ring per queue
  uint32_t frame_size = 2048;
  uint32_t block_timeout_ms = 2;
  uint32_t tx_frames = 1024;
  bool qdisc_bypass = false;
  bool promiscuous = false;
  bool fanout_defrag = false;
  int32_t fanout_group = -1;  // -1: none (one queue) or a unique id chosen by the kernel
  uint32_t fanout_mode = PACKET_FANOUT_HASH;
};

struct Queue {
  int fd = -1;
  uint8_t* map = nullptr;
  size_t map_len = 0;
  uint8_t* rx = nullptr;  // rx ring: block_count blocks of block_size
  uint8_t* tx = nullptr;  // tx ring: tx_count slots of tx_frame bytes
  // Receive cursor: the block being read, and where in it.
  uint32_t block = 0;
  bool in_block = false;
  uint32_t left = 0;       // frames of the current block not read yet
  uint32_t next_off = 0;   // offset of the next frame within the block
  // Transmit cursor: the next slot to fill (the kernel sends from the same position on).
  uint32_t tx_head = 0;
  bool kick_pending = false;  // frames filled but not taken by the last sendto
};

class AfPacketPort final : public Port {
 public:
  AfPacketPort(std::shared_ptr<Pool> pool, const Options& o, int ifindex, uint32_t mtu)
      : Port(std::move(pool), o.ifname, o.queues, uint16_t(o.id)), opt_(o), ifindex_(ifindex), mtu_(mtu), q_(o.queues) {}
  ~AfPacketPort() override { Close(); }

  // Opens every queue's socket; on failure returns a status and *why (closes nothing:
  // the destructor does).
  int32_t Open(std::string* why, int32_t* fanout_id);

  int32_t Rx(uint32_t q, PoolCache* cache, uint32_t* ids, uint32_t n) override;
  int32_t Tx(uint32_t q, PoolCache* cache, const uint32_t* ids, uint32_t n) override;
  int Fd(uint32_t q) const override { return q < q_.size() ? q_[q].fd : -1; }
  void Refresh() override;
  bool LinkUp() const override { return link_up_; }
  void Close() override;

  uint32_t tx_frame() const { return tx_frame_; }
  uint32_t mtu() const { return mtu_; }
  void set_link(bool up) { link_up_ = up; }

 private:
  int32_t OpenQueue(Queue& Q, std::string* why, int32_t* fanout_id);
  void Kick(uint32_t q, Queue& Q);
  void ReleaseBlock(Queue& Q) {
    auto* bd = reinterpret_cast<tpacket_block_desc*>(Q.rx + size_t(Q.block) * opt_.block_size);
    StoreRelease(&bd->hdr.bh1.block_status, TP_STATUS_KERNEL);
    Q.block = Q.block + 1 == opt_.block_count ? 0 : Q.block + 1;
    Q.in_block = false;
  }

  Options opt_;
  int ifindex_;
  uint32_t mtu_;
  bool link_up_ = true;
  std::vector<Queue> q_;
  uint32_t tx_frame_ = 0;  // bytes per tx slot
  uint32_t tx_count_ = 0;  // tx slots per queue
  uint32_t tx_block_ = 0;
};

int32_t AfPacketPort::Open(std::string* why, int32_t* fanout_id) {
  // Transmit slots: the header, then the largest frame a buffer can hold or the link can
  // carry (MTU + Ethernet header + one VLAN tag), rounded up to a power of two so that
  // slots tile the ring's blocks.
  const uint32_t cap = std::min<uint32_t>(pool_->config().buf_size, mtu_ + 18);
  tx_frame_ = 2048;
  while (tx_frame_ < kTpHdr + cap) tx_frame_ <<= 1;
  const uint32_t page = uint32_t(sysconf(_SC_PAGESIZE));
  tx_block_ = std::max(page, tx_frame_);
  const uint32_t per_block = tx_block_ / tx_frame_;
  const uint32_t tx_blocks = (opt_.tx_frames + per_block - 1) / per_block;
  tx_count_ = tx_blocks * per_block;
  for (auto& Q : q_) {
    const int32_t st = OpenQueue(Q, why, fanout_id);
    if (st != kOk) return st;
  }
  return kOk;
}

int32_t AfPacketPort::OpenQueue(Queue& Q, std::string* why, int32_t* fanout_id) {
  // Protocol 0: nothing is queued on the socket before the ring exists and it is bound.
  Q.fd = socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (Q.fd < 0) {
    const int e = errno;
    *why = "opening an AF_PACKET socket: " + Errno(e) + (e == EPERM || e == EACCES ? " (needs CAP_NET_RAW)" : "");
    return e == EPERM || e == EACCES ? kErrPermission : kErrSystem;
  }
  auto sys = [&](const char* what) {
    const int e = errno;
    *why = std::string(what) + ": " + Errno(e);
    if (e == EPERM || e == EACCES) {
      *why += " (needs CAP_NET_RAW)";
      return kErrPermission;
    }
    if (e == ENODEV || e == ENXIO) return kErrNoDevice;
    if (e == ENETDOWN) return kErrLinkDown;
    return kErrSystem;
  };
  int v = TPACKET_V3;
  if (setsockopt(Q.fd, SOL_PACKET, PACKET_VERSION, &v, sizeof v)) return sys("PACKET_VERSION TPACKET_V3");
  // A malformed slot is skipped by the kernel instead of stopping the ring (we check
  // lengths before filling a slot, so it should not happen). Set before the rings exist.
  const int one = 1;
  if (setsockopt(Q.fd, SOL_PACKET, PACKET_LOSS, &one, sizeof one)) return sys("PACKET_LOSS");
  tpacket_req3 rx{};
  rx.tp_block_size = opt_.block_size;
  rx.tp_block_nr = opt_.block_count;
  rx.tp_frame_size = opt_.frame_size;
  rx.tp_frame_nr = (opt_.block_size / opt_.frame_size) * opt_.block_count;
  rx.tp_retire_blk_tov = opt_.block_timeout_ms;
  rx.tp_feature_req_word = TP_FT_REQ_FILL_RXHASH;
  if (setsockopt(Q.fd, SOL_PACKET, PACKET_RX_RING, &rx, sizeof rx)) return sys("PACKET_RX_RING");
  tpacket_req3 tx{};
  tx.tp_block_size = tx_block_;
  tx.tp_block_nr = tx_count_ / (tx_block_ / tx_frame_);
  tx.tp_frame_size = tx_frame_;
  tx.tp_frame_nr = tx_count_;
  if (setsockopt(Q.fd, SOL_PACKET, PACKET_TX_RING, &tx, sizeof tx)) return sys("PACKET_TX_RING");
  const size_t rx_len = size_t(opt_.block_size) * opt_.block_count;
  Q.map_len = rx_len + size_t(tx_block_) * tx.tp_block_nr;
  void* m = mmap(nullptr, Q.map_len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, Q.fd, 0);
  if (m == MAP_FAILED) {
    Q.map_len = 0;
    return sys("mmap of the packet rings");
  }
  Q.map = static_cast<uint8_t*>(m);
  Q.rx = Q.map;
  Q.tx = Q.map + rx_len;
  // Our own transmissions are not received back (kernel 4.20+; older ones are filtered
  // by packet type in Rx).
  v = 1;
  setsockopt(Q.fd, SOL_PACKET, PACKET_IGNORE_OUTGOING, &v, sizeof v);
  if (opt_.qdisc_bypass && setsockopt(Q.fd, SOL_PACKET, PACKET_QDISC_BYPASS, &v, sizeof v))
    return sys("PACKET_QDISC_BYPASS");
  sockaddr_ll sl{};
  sl.sll_family = AF_PACKET;
  sl.sll_protocol = htons(ETH_P_ALL);
  sl.sll_ifindex = ifindex_;
  if (bind(Q.fd, reinterpret_cast<sockaddr*>(&sl), sizeof sl)) return sys("bind");
  if (opt_.promiscuous) {
    packet_mreq mr{};
    mr.mr_ifindex = ifindex_;
    mr.mr_type = PACKET_MR_PROMISC;
    if (setsockopt(Q.fd, SOL_PACKET, PACKET_ADD_MEMBERSHIP, &mr, sizeof mr)) return sys("PACKET_ADD_MEMBERSHIP promiscuous");
  }
  if (opt_.fanout_group >= 0 || opt_.queues > 1) {
    uint32_t type_flags = opt_.fanout_mode | (opt_.fanout_defrag ? PACKET_FANOUT_FLAG_DEFRAG : 0);
    uint32_t id = 0;
    if (*fanout_id >= 0) {
      id = uint32_t(*fanout_id);
    } else {
      type_flags |= PACKET_FANOUT_FLAG_UNIQUEID;  // the kernel picks a free group id
    }
    uint32_t arg = id | (type_flags << 16);
    if (setsockopt(Q.fd, SOL_PACKET, PACKET_FANOUT, &arg, sizeof arg)) {
      const int e = errno;
      const int32_t st = sys("PACKET_FANOUT");
      if (e == EINVAL || e == EALREADY || e == EEXIST) {
        *why += " (fanout group " + std::to_string(id) +
                " exists with another mode or on another interface, or is full)";
        return kErrInvalidArgument;
      }
      return st;
    }
    if (*fanout_id < 0) {
      socklen_t len = sizeof arg;
      if (getsockopt(Q.fd, SOL_PACKET, PACKET_FANOUT, &arg, &len)) return sys("getsockopt PACKET_FANOUT");
      *fanout_id = int32_t(arg & 0xffff);
    }
  }
  return kOk;
}

void AfPacketPort::Close() {
  for (auto& Q : q_) {
    if (Q.map) munmap(Q.map, Q.map_len);
    if (Q.fd >= 0) close(Q.fd);
    Q.map = nullptr;
    Q.fd = -1;
  }
}

int32_t AfPacketPort::Rx(uint32_t q, PoolCache* cache, uint32_t* ids, uint32_t n) {
  Queue& Q = q_[q];
  if (Q.fd < 0) return Fail(kErrClosed, "port is closed");
  double* c = counters(q);
  const auto [base, buf_size, headroom, data_off, data_len, port] = buf_;
  const uint32_t bs = opt_.block_size;
  uint32_t got = 0;
  while (got < n) {
    uint8_t* blk = Q.rx + size_t(Q.block) * bs;
    auto* bd = reinterpret_cast<tpacket_block_desc*>(blk);
    if (!Q.in_block) {
      if (!(LoadAcquire(&bd->hdr.bh1.block_status) & TP_STATUS_USER)) break;
      Q.in_block = true;
      Q.left = bd->hdr.bh1.num_pkts;
      Q.next_off = bd->hdr.bh1.offset_to_first_pkt;
    }
    if (Q.left == 0) {
      ReleaseBlock(Q);
      continue;
    }
    // Buffers for what this block still holds, up to what the caller wants: all or none.
    const uint32_t want = std::min(Q.left, n - got);
    ErrorDetail d;
    int32_t r = pool_->Alloc(cache, ids + got, want, &d);
    const bool short_pool = r <= 0;
    if (r < 0) error_ = name_ + ": allocating receive buffers failed (" + std::string(StatusCode(r)) + ")";
    uint32_t used = 0;
    auto* flow_hash = static_cast<uint32_t*>(pool_->meta(kMetaFlowHash));
    for (uint32_t k = 0; k < want && Q.left > 0; k++) {
      // The kernel writes the block; offsets are checked so a bad one cannot take us
      // outside it.
      if (Q.next_off < sizeof(tpacket_block_desc) || Q.next_off > bs - sizeof(tpacket3_hdr)) {
        c[kRxErrors] += Q.left;
        Q.left = 0;
        break;
      }
      auto* h = reinterpret_cast<tpacket3_hdr*>(blk + Q.next_off);
      const uint32_t this_off = Q.next_off;
      Q.next_off += h->tp_next_offset;
      Q.left--;
      if (h->tp_next_offset == 0 && Q.left > 0) {  // malformed chain: give the block back
        c[kRxErrors] += Q.left;
        Q.left = 0;
      }
      if (short_pool) {
        c[kRxDrops] += 1;
        continue;
      }
      const uint32_t snap = h->tp_snaplen;
      const uint32_t mac = h->tp_mac;
      if (uint64_t(this_off) + mac + snap > bs) {
        c[kRxErrors] += 1;
        continue;
      }
      const auto* sll = reinterpret_cast<const sockaddr_ll*>(reinterpret_cast<uint8_t*>(h) + kTpHdr);
      if (sll->sll_pkttype == PACKET_OUTGOING) continue;  // our own (or the host's) transmissions
      const bool vlan = (h->tp_status & TP_STATUS_VLAN_VALID) != 0;
      const uint32_t len = snap + (vlan ? 4 : 0);
      const uint32_t off = vlan && headroom >= 4 ? headroom - 4 : headroom;
      if (snap < h->tp_len || snap < ETH_HLEN || off + len > buf_size) {
        c[kRxErrors] += 1;  // truncated by the ring, a runt, or bigger than a buffer
        continue;
      }
      const uint32_t b = ids[got + used];
      uint8_t* dst = base + size_t(b) * buf_size + off;
      const uint8_t* src = reinterpret_cast<uint8_t*>(h) + mac;
      if (vlan) {
        // The kernel took the tag out of the frame into the header: put it back after the
        // MAC addresses, writing the addresses 4 bytes earlier into the headroom.
        std::memcpy(dst, src, 12);
        const uint16_t tpid = (h->tp_status & TP_STATUS_VLAN_TPID_VALID) && h->hv1.tp_vlan_tpid
                                  ? uint16_t(h->hv1.tp_vlan_tpid)
                                  : uint16_t(ETH_P_8021Q);
        const uint16_t tci = uint16_t(h->hv1.tp_vlan_tci);
        dst[12] = uint8_t(tpid >> 8);
        dst[13] = uint8_t(tpid);
        dst[14] = uint8_t(tci >> 8);
        dst[15] = uint8_t(tci);
        std::memcpy(dst + 16, src + 12, snap - 12);
      } else {
        std::memcpy(dst, src, snap);
      }
      data_off[b] = uint16_t(off);
      data_len[b] = uint16_t(len);
      port[b] = port_id_;
      flow_hash[b] = h->hv1.tp_rxhash;  // the kernel's flow hash (the one fanout uses)
      c[kRxBytes] += len;
      used++;
    }
    if (!short_pool && used < want) {
      // Buffers of frames skipped (outgoing, errors) go back.
      pool_->Put(cache, ids + got + used, want - used, &d);
    }
    got += used;
    c[kRxPackets] += used;
    if (Q.left == 0) ReleaseBlock(Q);
    if (short_pool) break;
  }
  return int32_t(got);
}

void AfPacketPort::Kick(uint32_t q, Queue& Q) {
  Q.kick_pending = false;
  if (sendto(Q.fd, nullptr, 0, MSG_DONTWAIT, nullptr, 0) >= 0) return;
  const int e = errno;
  if (e == EAGAIN || e == ENOBUFS || e == EINTR) {
    Q.kick_pending = true;  // the kernel left the rest as send requests: next kick
    return;
  }
  // A hard error (link down, device gone): the kernel stopped at the first slot it did
  // not take; every slot from there to our head is still a send request. Take them back
  // (newest first) and move the head back, so that the kernel's position and ours agree.
  uint32_t dropped = 0;
  for (uint32_t i = 0; i < tx_count_; i++) {
    const uint32_t prev = Q.tx_head == 0 ? tx_count_ - 1 : Q.tx_head - 1;
    auto* h = reinterpret_cast<tpacket3_hdr*>(Q.tx + size_t(prev) * tx_frame_);
    if (LoadAcquire(&h->tp_status) != TP_STATUS_SEND_REQUEST) break;
    StoreRelease(&h->tp_status, TP_STATUS_AVAILABLE);
    Q.tx_head = prev;
    dropped++;
  }
  counters(q)[kTxDrops] += dropped;
  error_ = name_ + ": sendto: " + Errno(e) + " (" + std::to_string(dropped) + " frames dropped)";
}

int32_t AfPacketPort::Tx(uint32_t q, PoolCache* cache, const uint32_t* ids, uint32_t n) {
  Queue& Q = q_[q];
  if (Q.fd < 0) return Fail(kErrClosed, "port is closed");
  double* c = counters(q);
  const auto [base, buf_size, headroom_unused, data_off, data_len, port_unused] = buf_;
  const auto* chain = static_cast<const uint32_t*>(pool_->meta(kMetaChain));
  const uint32_t room = tx_frame_ - kTpHdr;
  uint32_t taken = 0;
  // Fill until a slot is still in flight; kick; once more if the kick freed slots (a veth
  // peer may consume frames within the sendto).
  for (int round = 0; round < 2 && taken < n; round++) {
    uint32_t filled = 0;
    const uint32_t before = taken;
    while (taken < n) {
      auto* h = reinterpret_cast<tpacket3_hdr*>(Q.tx + size_t(Q.tx_head) * tx_frame_);
      const uint32_t st = LoadAcquire(&h->tp_status);
      if (st & (TP_STATUS_SEND_REQUEST | TP_STATUS_SENDING)) break;
      const uint32_t b = ids[taken++];
      const uint32_t off = data_off[b];
      const uint32_t len = data_len[b];
      const uint8_t* p = base + size_t(b) * buf_size + off;
      if (off + len > buf_size || len < ETH_HLEN) {
        c[kTxErrors] += 1;
        error_ = name_ + ": buffer " + std::to_string(b) + " has " + std::to_string(len) +
                 " bytes at offset " + std::to_string(off) + ", not a frame within its " +
                 std::to_string(buf_size) + "-byte buffer";
        continue;
      }
      if (chain[b] != kNoBuffer) {
        c[kTxErrors] += 1;
        error_ = name_ + ": buffer " + std::to_string(b) + " is chained; multi-buffer packets are not supported";
        continue;
      }
      const uint16_t type = uint16_t(p[12] << 8 | p[13]);
      const uint32_t limit = mtu_ + ETH_HLEN + (type == ETH_P_8021Q || type == ETH_P_8021AD ? 4 : 0);
      if (len > limit || len > room) {
        c[kTxErrors] += 1;
        error_ = name_ + ": frame of " + std::to_string(len) + " bytes exceeds MTU " + std::to_string(mtu_);
        continue;
      }
      std::memcpy(reinterpret_cast<uint8_t*>(h) + kTpHdr, p, len);
      h->tp_len = len;
      h->tp_snaplen = len;
      h->tp_next_offset = 0;
      StoreRelease(&h->tp_status, TP_STATUS_SEND_REQUEST);
      Q.tx_head = Q.tx_head + 1 == tx_count_ ? 0 : Q.tx_head + 1;
      c[kTxPackets] += 1;
      c[kTxBytes] += len;
      filled++;
    }
    if (filled > 0 || Q.kick_pending) Kick(q, Q);
    if (taken == before) break;  // the ring is full of frames in flight
  }
  if (taken > 0) {
    ErrorDetail d;
    const int32_t r = pool_->Put(cache, ids, taken, &d);
    if (r < 0) {
      return Fail(r, "returning sent buffers to the pool: " + std::string(StatusCode(r)) + " at buffer " +
                         std::to_string(d.index));
    }
  }
  return int32_t(taken);
}

bool InterfaceFlags(int fd, const std::string& name, short* flags, uint32_t* mtu) {
  ifreq ifr{};
  std::memcpy(ifr.ifr_name, name.data(), name.size());
  if (ioctl(fd, SIOCGIFFLAGS, &ifr)) return false;
  *flags = ifr.ifr_flags;
  if (mtu && ioctl(fd, SIOCGIFMTU, &ifr) == 0) *mtu = uint32_t(ifr.ifr_mtu);
  return true;
}

void AfPacketPort::Refresh() {
  for (uint32_t q = 0; q < q_.size(); q++) {
    Queue& Q = q_[q];
    if (Q.fd < 0) continue;
    tpacket_stats_v3 st{};
    socklen_t len = sizeof st;
    // Reading the statistics resets them: add the drops since the last read.
    if (getsockopt(Q.fd, SOL_PACKET, PACKET_STATISTICS, &st, &len) == 0) counters(q)[kRxDrops] += st.tp_drops;
    if (Q.kick_pending) Kick(q, Q);
  }
  if (!q_.empty() && q_[0].fd >= 0) {
    short flags = 0;
    if (InterfaceFlags(q_[0].fd, name_, &flags, &mtu_)) link_up_ = (flags & IFF_UP) && (flags & IFF_RUNNING);
    else link_up_ = false;  // the interface is gone
  }
}

uint32_t FanoutMode(Napi::Env env, const std::string& ifname, const std::string& m) {
  if (m == "hash") return PACKET_FANOUT_HASH;
  if (m == "lb") return PACKET_FANOUT_LB;
  if (m == "cpu") return PACKET_FANOUT_CPU;
  if (m == "qm") return PACKET_FANOUT_QM;
  if (m == "rollover") return PACKET_FANOUT_ROLLOVER;
  Throw(env, kErrInvalidArgument, ifname + ": fanoutMode must be 'hash', 'lb', 'cpu', 'qm' or 'rollover', got '" + m + "'");
}

// portOpenAfPacket(pool, { interface, queues, id, blockSize, blockCount, frameSize,
//   blockTimeoutMs, txFrames, qdiscBypass, promiscuous, fanoutGroup, fanoutMode, fanoutDefrag })
Napi::Value OpenAfPacket(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  ThreadState* ts = State(env);
  if (!info[1].IsObject()) Throw(env, kErrInvalidArgument, "afPacket: options must be an object");
  const int32_t pool_handle = info[0].ToNumber().Int32Value();
  Napi::Object o = info[1].As<Napi::Object>();
  Options opt;
  opt.ifname = GetString(o, "interface", "");
  if (opt.ifname.empty() || opt.ifname.size() >= IFNAMSIZ || opt.ifname.find('/') != std::string::npos ||
      opt.ifname.find('\0') != std::string::npos)
    Throw(env, kErrInvalidArgument,
          "afPacket: interface must be an interface name of 1 to " + std::to_string(IFNAMSIZ - 1) + " characters, got '" +
              opt.ifname + "'");
  const std::string& ifn = opt.ifname;
  auto bad = [&](const std::string& what) { Throw(env, kErrInvalidArgument, ifn + ": " + what); };
  // Option errors name the interface too (GetU32 and friends throw without it).
  std::string mode;
  uint32_t group = 0;
  const bool has_group = !o.Get("fanoutGroup").IsUndefined();
  try {
    opt.queues = GetU32(o, "queues", 1);
    opt.id = GetU32(o, "id", 0);
    opt.block_size = GetU32(o, "blockSize", opt.block_size);
    opt.block_count = GetU32(o, "blockCount", opt.block_count);
    opt.frame_size = GetU32(o, "frameSize", opt.frame_size);
    opt.block_timeout_ms = GetU32(o, "blockTimeoutMs", opt.block_timeout_ms);
    opt.tx_frames = GetU32(o, "txFrames", opt.tx_frames);
    opt.qdisc_bypass = GetBool(o, "qdiscBypass", false);
    opt.promiscuous = GetBool(o, "promiscuous", false);
    opt.fanout_defrag = GetBool(o, "fanoutDefrag", false);
    group = GetU32(o, "fanoutGroup", 0);
    mode = GetString(o, "fanoutMode", "hash");
  } catch (const Napi::Error& e) {
    Throw(env, kErrInvalidArgument, ifn + ": " + e.Message());
  }
  const uint32_t page = uint32_t(sysconf(_SC_PAGESIZE));
  if (opt.queues < 1 || opt.queues > kMaxQueues) bad("queues must be 1 to " + std::to_string(kMaxQueues));
  if (opt.id > 0xfffe) bad("id must be 0 to 65534");
  if (opt.block_size < page || opt.block_size > (1u << 27) || (opt.block_size & (opt.block_size - 1)))
    bad("blockSize must be a power of two from " + std::to_string(page) + " to 128 MiB, got " + std::to_string(opt.block_size));
  if (opt.frame_size < 128 || opt.frame_size > opt.block_size || opt.frame_size % TPACKET_ALIGNMENT)
    bad("frameSize must be a multiple of 16 from 128 to blockSize, got " + std::to_string(opt.frame_size));
  if (opt.block_count < 1 || uint64_t(opt.block_count) * opt.block_size > (1ull << 30))
    bad("blockCount must be at least 1, and blockSize * blockCount at most 1 GiB, got " + std::to_string(opt.block_count));
  if (opt.block_timeout_ms > 1000) bad("blockTimeoutMs must be 0 (kernel default) to 1000, got " + std::to_string(opt.block_timeout_ms));
  if (opt.tx_frames < 8 || opt.tx_frames > 65536) bad("txFrames must be 8 to 65536, got " + std::to_string(opt.tx_frames));
  if (group > 0xffff) bad("fanoutGroup must be 0 to 65535, got " + std::to_string(group));
  if (has_group) opt.fanout_group = int32_t(group);
  opt.fanout_mode = FanoutMode(env, ifn, mode);
  PoolSlot* pool = PoolForPort(env, ts, pool_handle, ifn);

  // The interface: exists, is Ethernet, is up. None of this needs a privilege.
  const int ctl = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (ctl < 0) Throw(env, kErrSystem, ifn + ": socket: " + Errno(errno));
  ifreq ifr{};
  std::memcpy(ifr.ifr_name, ifn.data(), ifn.size());
  int32_t err = kOk;
  std::string why;
  short flags = 0;
  uint32_t mtu = 1500;
  uint8_t mac[6] = {};
  int ifindex = 0;
  if (ioctl(ctl, SIOCGIFINDEX, &ifr)) {
    err = errno == ENODEV ? kErrNoDevice : kErrSystem;
    why = errno == ENODEV ? "no such interface" : "SIOCGIFINDEX: " + Errno(errno);
  } else {
    ifindex = ifr.ifr_ifindex;
    if (!InterfaceFlags(ctl, ifn, &flags, &mtu)) {
      err = kErrSystem;
      why = "SIOCGIFFLAGS: " + Errno(errno);
    } else if (ioctl(ctl, SIOCGIFHWADDR, &ifr)) {
      err = kErrSystem;
      why = "SIOCGIFHWADDR: " + Errno(errno);
    } else if (ifr.ifr_hwaddr.sa_family != ARPHRD_ETHER && ifr.ifr_hwaddr.sa_family != ARPHRD_LOOPBACK) {
      err = kErrInvalidArgument;
      why = "not an Ethernet interface (hardware type " + std::to_string(ifr.ifr_hwaddr.sa_family) + ")";
    } else if (!(flags & IFF_UP)) {
      err = kErrLinkDown;
      why = "interface is down (bring it up: ip link set " + ifn + " up)";
    } else {
      std::memcpy(mac, ifr.ifr_hwaddr.sa_data, 6);
    }
  }
  close(ctl);
  if (err != kOk) Throw(env, err, ifn + ": " + why);

  auto port = std::make_unique<AfPacketPort>(pool->pool, opt, ifindex, mtu);
  int32_t fanout = opt.fanout_group;
  err = port->Open(&why, &fanout);
  if (err != kOk) {
    port->Close();
    Throw(env, err, ifn + ": " + why);
  }
  port->set_link((flags & IFF_RUNNING) != 0);
  AfPacketPort* p = port.get();
  Napi::Object out = InsertPort(env, ts, pool_handle, std::move(port));
  char text[18];
  std::snprintf(text, sizeof text, "%02x:%02x:%02x:%02x:%02x:%02x", mac[0], mac[1], mac[2], mac[3], mac[4], mac[5]);
  out.Set("mac", text);
  out.Set("mtu", p->mtu());
  out.Set("ifindex", ifindex);
  out.Set("fanoutGroup", fanout >= 0 ? Napi::Value(Napi::Number::New(env, fanout)) : env.Null());
  out.Set("txFrameSize", p->tx_frame());
  return out;
}

}  // namespace

void RegisterAfPacket(Napi::Env env, Napi::Object exports) {
  exports.Set("portOpenAfPacket", Napi::Function::New(env, OpenAfPacket));
}

}  // namespace vnf
