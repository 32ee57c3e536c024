// AF_XDP port driver: the pool's buffers are the UMEM, so a received packet is already a
// pool buffer and a transmitted one is sent from where it lies (copied by the kernel in
// copy mode, not at all in zero-copy mode).
//
//            fill ring  (buffers lent to the kernel, chunk addresses)
//   pool ---------------------------------------------> kernel
//   pool <--------------------------------------------- kernel
//            RX ring    (addr = chunk + offset, len)
//
//   pool ---- TX ring (addr, len) --------------------> kernel
//   pool <--- completion ring (addr) ------------------ kernel
//
// One socket per queue id; the first registers the UMEM, the others share it
// (XDP_SHARED_UMEM) with fill and completion rings of their own. An XDP program
// (xdp_prog.cc) redirects each receive queue to its socket through an XSKMAP.
//
// Every buffer the port has handed to the kernel is recorded in held_ (fill or TX), so an
// address coming back from the kernel is accepted only when it is a chunk we lent, and
// Close() returns exactly the buffers still out.
#include <linux/ethtool.h>
#include <linux/if_xdp.h>
#include <linux/sockios.h>
#include <net/if.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <vector>

#include "../binding.h"
#include "xdp_prog.h"

#ifndef AF_XDP
#define AF_XDP 44
#endif
#ifndef SOL_XDP
#define SOL_XDP 283
#endif
#ifndef XDP_MAX_TX_SKB_BUDGET  // kernel 6.17: descriptors one copy-mode sendto may send
#define XDP_MAX_TX_SKB_BUDGET 9
#endif

namespace vnf {
namespace {

constexpr uint32_t kMinRing = 64;
constexpr uint32_t kMaxRing = 32768;
constexpr uint32_t kMaxQueues = 64;
constexpr uint32_t kBatch = 64;  // buffers per pool call when refilling or recycling

// held_ states: who has the buffer now.
enum : uint8_t { kHeldNone = 0, kHeldFill = 1, kHeldTx = 2 };

// The kernel's ring indices are free-running u32s shared with it: the side that reads an
// index the other side writes loads it with acquire (the descriptors it guards are then
// visible), the side that publishes stores with release (its descriptors are written first).
inline uint32_t LoadAcquire(uint32_t* p) { return std::atomic_ref<uint32_t>(*p).load(std::memory_order_acquire); }
inline void StoreRelease(uint32_t* p, uint32_t v) { std::atomic_ref<uint32_t>(*p).store(v, std::memory_order_release); }
inline uint32_t LoadFlags(uint32_t* p) { return std::atomic_ref<uint32_t>(*p).load(std::memory_order_relaxed); }

struct XskRing {
  uint32_t* producer = nullptr;
  uint32_t* consumer = nullptr;
  uint32_t* flags = nullptr;
  void* descs = nullptr;
  uint32_t size = 0;
  uint32_t mask = 0;
  uint32_t cached_prod = 0;
  uint32_t cached_cons = 0;  // producer rings: the consumer index + size (free = cached_cons - cached_prod)
  void* map = MAP_FAILED;
  size_t map_len = 0;

  // Producer side (fill, TX): slots free, up to want.
  uint32_t Free(uint32_t want) {
    uint32_t free = cached_cons - cached_prod;
    if (free < want) {
      cached_cons = LoadAcquire(consumer) + size;
      free = cached_cons - cached_prod;
      if (free > size) free = size;  // never trust an index from the other side
    }
    return free < want ? free : want;
  }
  void Submit(uint32_t n) {
    cached_prod += n;
    StoreRelease(producer, cached_prod);
  }
  // Consumer side (RX, completion): entries ready, up to want.
  uint32_t Ready(uint32_t want) {
    uint32_t n = cached_prod - cached_cons;
    if (n < want) {
      cached_prod = LoadAcquire(producer);
      n = cached_prod - cached_cons;
      if (n > size) n = size;
    }
    return n < want ? n : want;
  }
  void Release(uint32_t n) {
    cached_cons += n;
    StoreRelease(consumer, cached_cons);
  }
  bool NeedsWakeup() const { return (LoadFlags(flags) & XDP_RING_NEED_WAKEUP) != 0; }
  void Unmap() {
    if (map != MAP_FAILED) munmap(map, map_len);
    map = MAP_FAILED;
  }
};

struct XskQueue {
  uint32_t queue_id = 0;
  int fd = -1;
  XskRing fill, comp, rx, tx;
  // Kernel statistics already added to the counters.
  uint64_t seen_rx_drops = 0, seen_rx_invalid = 0, seen_tx_invalid = 0;
};

std::string Errno(int err) { return std::strerror(err); }

struct Options {
  std::string ifname;
  uint16_t id = 0;
  std::vector<uint32_t> queue_ids;
  enum class Mode { kAuto, kCopy, kZeroCopy } mode = Mode::kAuto;
  XdpAttach xdp = XdpAttach::kAuto;
  bool need_wakeup = true;
  uint32_t rx_size = 1024, tx_size = 1024, fill_size = 1024, comp_size = 1024;
};

class AfXdpPort final : public Port {
 public:
  AfXdpPort(std::shared_ptr<Pool> pool, const Options& o)
      : Port(std::move(pool), o.ifname, uint32_t(o.queue_ids.size()), o.id), opt_(o) {
    buf_size_ = pool_->config().buf_size;
    shift_ = uint32_t(__builtin_ctz(buf_size_));
    count_ = pool_->count();
    held_.assign(count_, kHeldNone);
    data_off_ = static_cast<uint16_t*>(pool_->meta(kMetaDataOff));
    data_len_ = static_cast<uint16_t*>(pool_->meta(kMetaDataLen));
    port_ = static_cast<uint16_t*>(pool_->meta(kMetaPort));
    chain_ = static_cast<uint32_t*>(pool_->meta(kMetaChain));
    queues_v_.resize(o.queue_ids.size());
    for (size_t i = 0; i < o.queue_ids.size(); i++) queues_v_[i].queue_id = o.queue_ids[i];
  }
  ~AfXdpPort() override { Close(); }

  // Everything open needs; throws a VnfError (after undoing what was done) on failure.
  void Open(Napi::Env env, PoolCache* cache);

  int32_t Rx(uint32_t q, PoolCache* cache, uint32_t* ids, uint32_t n) override;
  int32_t Tx(uint32_t q, PoolCache* cache, const uint32_t* ids, uint32_t n) override;
  int Fd(uint32_t q) const override { return q < queues_v_.size() ? queues_v_[q].fd : -1; }
  void Refresh() override;
  bool LinkUp() const override { return link_up_; }
  void Close() override;

  void Describe(Napi::Object o) const;

 private:
  [[noreturn]] void OpenFail(Napi::Env env, int32_t status, const std::string& why) {
    Close();
    Throw(env, status, name_ + ": " + why);
  }
  void OpenSocket(Napi::Env env, XskQueue& xq, bool first);
  void MapRing(Napi::Env env, XskQueue& xq, XskRing& r, const xdp_ring_offset& off, uint64_t pgoff,
               uint32_t size, size_t desc_size, const char* what);
  int32_t Refill(XskQueue& xq, PoolCache* cache);
  void Reap(XskQueue& xq, PoolCache* cache);
  void Kick(XskQueue& xq);
  void ReadLink();
  void PutBack(PoolCache* cache, const uint32_t* ids, uint32_t n);

  Options opt_;
  std::vector<XskQueue> queues_v_;
  XdpProgram prog_;
  XdpAttach xdp_used_ = XdpAttach::kGeneric;
  std::string mode_note_;
  bool zerocopy_ = false;
  bool closed_ = false;
  bool link_up_ = false;
  int ctl_fd_ = -1;
  uint32_t ifindex_ = 0;
  uint32_t mtu_ = 1500;
  uint32_t max_frame_ = 1514;
  std::string driver_;
  uint32_t buf_size_ = 0;
  uint32_t shift_ = 0;
  uint32_t count_ = 0;
  uint32_t umem_headroom_ = 0;
  std::vector<uint8_t> held_;
  uint16_t* data_off_ = nullptr;
  uint16_t* data_len_ = nullptr;
  uint16_t* port_ = nullptr;
  uint32_t* chain_ = nullptr;
};

// ------------------------------------------------------------------ open (cold path)

void AfXdpPort::ReadLink() {
  ifreq ifr;
  std::memset(&ifr, 0, sizeof(ifr));
  std::strncpy(ifr.ifr_name, name_.c_str(), IFNAMSIZ - 1);
  if (ioctl(ctl_fd_, SIOCGIFFLAGS, &ifr) == 0)
    link_up_ = (ifr.ifr_flags & IFF_UP) && (ifr.ifr_flags & IFF_RUNNING);
  else
    link_up_ = false;
  std::memset(&ifr, 0, sizeof(ifr));
  std::strncpy(ifr.ifr_name, name_.c_str(), IFNAMSIZ - 1);
  if (ioctl(ctl_fd_, SIOCGIFMTU, &ifr) == 0 && ifr.ifr_mtu > 0) {
    mtu_ = uint32_t(ifr.ifr_mtu);
    max_frame_ = mtu_ + 14;
  }
}

void AfXdpPort::MapRing(Napi::Env env, XskQueue& xq, XskRing& r, const xdp_ring_offset& off, uint64_t pgoff,
                        uint32_t size, size_t desc_size, const char* what) {
  r.map_len = size_t(off.desc) + size_t(size) * desc_size;
  r.map = mmap(nullptr, r.map_len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, xq.fd, off_t(pgoff));
  if (r.map == MAP_FAILED)
    OpenFail(env, kErrSystem, "queue " + std::to_string(xq.queue_id) + ": mmap of the " + what + " ring: " + Errno(errno));
  uint8_t* base = static_cast<uint8_t*>(r.map);
  r.producer = reinterpret_cast<uint32_t*>(base + off.producer);
  r.consumer = reinterpret_cast<uint32_t*>(base + off.consumer);
  r.flags = reinterpret_cast<uint32_t*>(base + off.flags);
  r.descs = base + off.desc;
  r.size = size;
  r.mask = size - 1;
}

void AfXdpPort::OpenSocket(Napi::Env env, XskQueue& xq, bool first) {
  const std::string q = "queue " + std::to_string(xq.queue_id) + ": ";
  xq.fd = socket(AF_XDP, SOCK_RAW | SOCK_CLOEXEC, 0);
  if (xq.fd < 0) {
    const int err = errno;
    if (err == EPERM || err == EACCES)
      OpenFail(env, kErrPermission, "creating an AF_XDP socket: " + Errno(err) + " (needs CAP_NET_RAW, plus CAP_NET_ADMIN and CAP_BPF for the XDP program)");
    if (err == EAFNOSUPPORT)
      OpenFail(env, kErrSystem, "creating an AF_XDP socket: this kernel has no AF_XDP (CONFIG_XDP_SOCKETS)");
    OpenFail(env, kErrSystem, "creating an AF_XDP socket: " + Errno(err));
  }
  auto setopt = [&](int opt, uint32_t value, const char* what) {
    if (setsockopt(xq.fd, SOL_XDP, opt, &value, sizeof(value)) != 0)
      OpenFail(env, kErrSystem, q + "setting the " + what + " ring size to " + std::to_string(value) + ": " + Errno(errno));
  };
  if (first) {
    xdp_umem_reg reg;
    std::memset(&reg, 0, sizeof(reg));
    reg.addr = uint64_t(reinterpret_cast<uintptr_t>(pool_->base()));
    reg.len = pool_->buffers_size();
    reg.chunk_size = buf_size_;
    reg.headroom = umem_headroom_;
    if (setsockopt(xq.fd, SOL_XDP, XDP_UMEM_REG, &reg, sizeof(reg)) != 0) {
      const int err = errno;
      std::string why = "registering the pool's buffers as UMEM (XDP_UMEM_REG, " + std::to_string(reg.len) +
                        " bytes, chunk " + std::to_string(buf_size_) + "): " + Errno(err);
      if (err == ENOBUFS || err == ENOMEM || err == EPERM)
        why += " (the UMEM is locked memory: raise RLIMIT_MEMLOCK or run with CAP_IPC_LOCK)";
      else if (err == EINVAL)
        why += " (pool bufferSize must be a power of two from 2048 to the page size, headroom below the chunk)";
      OpenFail(env, err == EPERM ? kErrPermission : err == EINVAL ? kErrInvalidArgument : kErrSystem, why);
    }
  }
  // Each socket has its own fill and completion rings, also when it shares the UMEM with
  // another queue (required since 5.10 for a different queue id or device).
  setopt(XDP_UMEM_FILL_RING, opt_.fill_size, "fill");
  setopt(XDP_UMEM_COMPLETION_RING, opt_.comp_size, "completion");
  setopt(XDP_RX_RING, opt_.rx_size, "RX");
  setopt(XDP_TX_RING, opt_.tx_size, "TX");

  xdp_mmap_offsets off;
  std::memset(&off, 0, sizeof(off));
  socklen_t len = sizeof(off);
  if (getsockopt(xq.fd, SOL_XDP, XDP_MMAP_OFFSETS, &off, &len) != 0)
    OpenFail(env, kErrSystem, q + "reading the ring offsets (XDP_MMAP_OFFSETS): " + Errno(errno));
  if (len < sizeof(off))  // before 5.4 there was no flags word: need_wakeup needs it
    OpenFail(env, kErrSystem, q + "this kernel's AF_XDP rings have no flags (kernel 5.4 or later needed)");
  MapRing(env, xq, xq.rx, off.rx, XDP_PGOFF_RX_RING, opt_.rx_size, sizeof(xdp_desc), "RX");
  MapRing(env, xq, xq.tx, off.tx, XDP_PGOFF_TX_RING, opt_.tx_size, sizeof(xdp_desc), "TX");
  MapRing(env, xq, xq.fill, off.fr, XDP_UMEM_PGOFF_FILL_RING, opt_.fill_size, sizeof(uint64_t), "fill");
  MapRing(env, xq, xq.comp, off.cr, XDP_UMEM_PGOFF_COMPLETION_RING, opt_.comp_size, sizeof(uint64_t), "completion");
  // Producer rings start empty: all of their slots are free.
  xq.fill.cached_prod = LoadAcquire(xq.fill.producer);
  xq.fill.cached_cons = LoadAcquire(xq.fill.consumer) + xq.fill.size;
  xq.tx.cached_prod = LoadAcquire(xq.tx.producer);
  xq.tx.cached_cons = LoadAcquire(xq.tx.consumer) + xq.tx.size;
  xq.rx.cached_cons = xq.rx.cached_prod = LoadAcquire(xq.rx.consumer);
  xq.comp.cached_cons = xq.comp.cached_prod = LoadAcquire(xq.comp.consumer);

  sockaddr_xdp sxdp;
  std::memset(&sxdp, 0, sizeof(sxdp));
  sxdp.sxdp_family = AF_XDP;
  sxdp.sxdp_ifindex = ifindex_;
  sxdp.sxdp_queue_id = xq.queue_id;
  if (first) {
    uint16_t flags = opt_.need_wakeup ? XDP_USE_NEED_WAKEUP : 0;
    if (opt_.mode == Options::Mode::kCopy) flags |= XDP_COPY;
    if (opt_.mode == Options::Mode::kZeroCopy) flags |= XDP_ZEROCOPY;
    sxdp.sxdp_flags = flags;
  } else {
    // Copy or zero-copy and need_wakeup are inherited from the first socket.
    sxdp.sxdp_flags = XDP_SHARED_UMEM;
    sxdp.sxdp_shared_umem_fd = uint32_t(queues_v_[0].fd);
  }
  // A socket closed a moment ago (this port's previous life, or a failed open) releases its
  // hold on the queue from a kernel work item, after close() returned: until then bind says
  // EBUSY. Wait for it a little (open is a cold path) before calling the queue taken.
  int rc = bind(xq.fd, reinterpret_cast<sockaddr*>(&sxdp), sizeof(sxdp));
  for (int tries = 0; rc != 0 && errno == EBUSY && tries < 100; tries++) {
    usleep(10000);
    rc = bind(xq.fd, reinterpret_cast<sockaddr*>(&sxdp), sizeof(sxdp));
  }
  if (rc != 0) {
    const int err = errno;
    if (first && opt_.mode == Options::Mode::kZeroCopy && (err == EOPNOTSUPP || err == EINVAL))
      OpenFail(env, kErrInvalidArgument,
               "mode 'zerocopy': the driver (" + (driver_.empty() ? std::string("unknown") : driver_) +
                   ") has no AF_XDP zero-copy support (bind with XDP_ZEROCOPY: " + Errno(err) +
                   "); use mode 'copy' or 'auto'");
    if (err == EBUSY)
      OpenFail(env, kErrSystem, q + "bind: " + Errno(err) + " (another AF_XDP socket has been bound to this queue for over a second)");
    if (err == EINVAL)
      OpenFail(env, kErrInvalidArgument, q + "bind: " + Errno(err) + " (is the queue id below the interface's number of queues?)");
    if (err == ENETDOWN) OpenFail(env, kErrLinkDown, q + "bind: the interface is down");
    OpenFail(env, err == EPERM ? kErrPermission : kErrSystem, q + "bind: " + Errno(err));
  }
  if (first) {
    xdp_options xo;
    std::memset(&xo, 0, sizeof(xo));
    socklen_t olen = sizeof(xo);
    if (getsockopt(xq.fd, SOL_XDP, XDP_OPTIONS, &xo, &olen) == 0) zerocopy_ = (xo.flags & XDP_OPTIONS_ZEROCOPY) != 0;
    if (opt_.mode == Options::Mode::kAuto && !zerocopy_)
      mode_note_ = "copy mode: the driver (" + (driver_.empty() ? std::string("unknown") : driver_) +
                   ") has no AF_XDP zero-copy support";
  }
  if (!zerocopy_) {
    // Copy-mode transmit works inside sendto: let one call send a whole TX ring, not 32
    // frames (kernels before 6.17 do not know the option and keep 32).
    const uint32_t budget = opt_.tx_size;
    setsockopt(xq.fd, SOL_XDP, XDP_MAX_TX_SKB_BUDGET, &budget, sizeof(budget));
  }
}

void AfXdpPort::Open(Napi::Env env, PoolCache* cache) {
  if (name_.empty() || name_.size() >= IFNAMSIZ)
    Throw(env, kErrInvalidArgument, "AfXdpPort: interface must be a name of 1 to 15 characters, got '" + name_ + "'");
  ifindex_ = if_nametoindex(name_.c_str());
  if (ifindex_ == 0) OpenFail(env, kErrNoDevice, "no such interface (" + Errno(errno) + ")");
  ctl_fd_ = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (ctl_fd_ < 0) OpenFail(env, kErrSystem, "control socket: " + Errno(errno));
  ifreq ifr;
  std::memset(&ifr, 0, sizeof(ifr));
  std::strncpy(ifr.ifr_name, name_.c_str(), IFNAMSIZ - 1);
  if (ioctl(ctl_fd_, SIOCGIFFLAGS, &ifr) != 0) OpenFail(env, kErrNoDevice, "SIOCGIFFLAGS: " + Errno(errno));
  if (!(ifr.ifr_flags & IFF_UP)) OpenFail(env, kErrLinkDown, "the interface is down (ip link set " + name_ + " up)");
  ReadLink();

  // Driver name (for messages) and number of queues (to check queue ids).
  ethtool_drvinfo drv;
  std::memset(&drv, 0, sizeof(drv));
  drv.cmd = ETHTOOL_GDRVINFO;
  ifr.ifr_data = reinterpret_cast<char*>(&drv);
  if (ioctl(ctl_fd_, SIOCETHTOOL, &ifr) == 0) driver_.assign(drv.driver, strnlen(drv.driver, sizeof(drv.driver)));
  ethtool_channels ch;
  std::memset(&ch, 0, sizeof(ch));
  ch.cmd = ETHTOOL_GCHANNELS;
  ifr.ifr_data = reinterpret_cast<char*>(&ch);
  if (ioctl(ctl_fd_, SIOCETHTOOL, &ifr) == 0) {
    const uint32_t rxq = ch.rx_count + ch.combined_count;
    for (uint32_t id : opt_.queue_ids)
      if (rxq > 0 && id >= rxq)
        OpenFail(env, kErrInvalidArgument,
                 "queue id " + std::to_string(id) + " is out of range: the interface has " + std::to_string(rxq) + " receive queue(s)");
  }

  const uint32_t page = uint32_t(sysconf(_SC_PAGESIZE));
  if (buf_size_ > page)
    OpenFail(env, kErrInvalidArgument,
             "pool bufferSize " + std::to_string(buf_size_) + " is not a valid AF_XDP chunk size: chunks are powers of two from 2048 to the page size (" +
                 std::to_string(page) + ")");
  // The kernel puts packet data at chunk + UMEM headroom + XDP_PACKET_HEADROOM (256): with
  // the pool's default headroom of 256 the data lands where the pool expects it.
  const uint32_t headroom = pool_->config().headroom;
  umem_headroom_ = headroom > 256 ? headroom - 256 : 0;
  if (umem_headroom_ + 256 + max_frame_ > buf_size_)
    OpenFail(env, kErrInvalidArgument,
             "pool bufferSize " + std::to_string(buf_size_) + " with headroom " + std::to_string(headroom) +
                 " leaves no room for a frame of " + std::to_string(max_frame_) + " bytes (MTU " + std::to_string(mtu_) +
                 ") after the kernel's 256 bytes of XDP headroom");

  for (size_t i = 0; i < queues_v_.size(); i++) OpenSocket(env, queues_v_[i], i == 0);

  std::string why;
  uint32_t entries = 0;
  for (uint32_t id : opt_.queue_ids) entries = std::max(entries, id + 1);
  int err = prog_.CreateMap(entries, &why);
  if (err) OpenFail(env, err == EPERM || err == EACCES ? kErrPermission : kErrSystem, why);
  for (XskQueue& xq : queues_v_) {
    err = prog_.SetSocket(xq.queue_id, xq.fd, &why);
    if (err) OpenFail(env, kErrSystem, why);
  }
  err = prog_.Load(&why);
  if (err) OpenFail(env, err == EPERM || err == EACCES ? kErrPermission : kErrSystem, why);

  // Lend the kernel its receive buffers before traffic can be redirected to the sockets.
  for (XskQueue& xq : queues_v_) {
    const int32_t r = Refill(xq, cache);
    if (r < 0) OpenFail(env, r, "filling the fill ring: " + error_);
  }

  std::string note;
  err = prog_.Attach(ifindex_, opt_.xdp, &xdp_used_, &note, &why);
  if (err) OpenFail(env, err == EPERM || err == EACCES ? kErrPermission : kErrSystem, why);
  if (!note.empty()) mode_note_ = mode_note_.empty() ? note : mode_note_ + "; " + note;
}

void AfXdpPort::Describe(Napi::Object o) const {
  Napi::Env env = o.Env();
  o.Set("mode", zerocopy_ ? "zerocopy" : "copy");
  o.Set("xdpMode", xdp_used_ == XdpAttach::kNative ? "native" : "generic");
  o.Set("modeNote", mode_note_);
  o.Set("ifindex", ifindex_);
  o.Set("driver", driver_);
  o.Set("mtu", mtu_);
  o.Set("needWakeup", opt_.need_wakeup);
  Napi::Array ids = Napi::Array::New(env, queues_v_.size());
  for (size_t i = 0; i < queues_v_.size(); i++) ids.Set(uint32_t(i), queues_v_[i].queue_id);
  o.Set("queueIds", ids);
  Napi::Object rings = Napi::Object::New(env);
  rings.Set("rx", opt_.rx_size);
  rings.Set("tx", opt_.tx_size);
  rings.Set("fill", opt_.fill_size);
  rings.Set("completion", opt_.comp_size);
  o.Set("ringSizes", rings);
  o.Set("umemHeadroom", umem_headroom_);
}

// ------------------------------------------------------------------ data path

void AfXdpPort::PutBack(PoolCache* cache, const uint32_t* ids, uint32_t n) {
  if (n == 0) return;
  ErrorDetail d;
  const int32_t r = pool_->Put(cache, ids, n, &d);
  if (r < 0) Fail(r, "returning " + std::to_string(n) + " buffers to the pool failed (" + StatusCode(r) + ")");
}

int32_t AfXdpPort::Refill(XskQueue& xq, PoolCache* cache) {
  // Refill in batches, not a buffer at a time; and read the kernel's consumer index (a
  // cache line the other CPU writes) only when fewer than a batch of slots is known free.
  const uint32_t min_batch = std::min<uint32_t>(32, xq.fill.size);
  if (xq.fill.Free(min_batch) < min_batch) return 0;
  uint32_t free = std::min(xq.fill.cached_cons - xq.fill.cached_prod, xq.fill.size);
  uint64_t* ring = static_cast<uint64_t*>(xq.fill.descs);
  uint32_t ids[kBatch];
  uint32_t placed = 0;
  while (free > 0) {
    uint32_t want = std::min(free, kBatch);
    ErrorDetail d;
    int32_t r = pool_->Alloc(cache, ids, want, &d);
    if (r == 0 && want > 8) r = pool_->Alloc(cache, ids, want = 8, &d);  // the pool is short: take a few
    if (r < 0) {
      if (placed) xq.fill.Submit(placed);
      return Fail(r, "taking buffers for the fill ring: " + std::string(StatusCode(r)));
    }
    if (r == 0) break;  // the pool is empty for now; the kernel counts what it drops
    for (int32_t i = 0; i < r; i++) {
      ring[(xq.fill.cached_prod + placed + uint32_t(i)) & xq.fill.mask] = uint64_t(ids[i]) << shift_;
      held_[ids[i]] = kHeldFill;
    }
    placed += uint32_t(r);
    free -= uint32_t(r);
  }
  if (placed) xq.fill.Submit(placed);
  // Zero-copy drivers may sleep until told the fill ring has buffers again.
  if (opt_.need_wakeup && xq.fill.NeedsWakeup()) recvfrom(xq.fd, nullptr, 0, MSG_DONTWAIT, nullptr, nullptr);
  return 0;
}

int32_t AfXdpPort::Rx(uint32_t q, PoolCache* cache, uint32_t* ids, uint32_t n) {
  XskQueue& xq = queues_v_[q];
  double* c = counters(q);
  const int32_t st = Refill(xq, cache);
  if (st < 0) return st;
  const uint32_t ready = xq.rx.Ready(n);
  if (ready == 0) return 0;
  const xdp_desc* descs = static_cast<const xdp_desc*>(xq.rx.descs);
  const uint16_t port = port_id_;
  uint32_t got = 0;
  uint64_t bytes = 0;
  for (uint32_t i = 0; i < ready; i++) {
    const xdp_desc& d = descs[(xq.rx.cached_cons + i) & xq.rx.mask];
    const uint64_t addr = d.addr;
    const uint32_t len = d.len;
    const uint64_t idx = addr >> shift_;
    if (idx >= count_ || held_[idx] != kHeldFill) {  // not a chunk we lent: never touch it
      c[kRxErrors] += 1;
      continue;
    }
    held_[idx] = kHeldNone;
    const uint32_t off = uint32_t(addr) & (buf_size_ - 1);
    if (len == 0 || off + len > buf_size_) {
      c[kRxErrors] += 1;
      const uint32_t b = uint32_t(idx);
      PutBack(cache, &b, 1);
      continue;
    }
    // The frame was written by the CPU that ran the XDP copy: start fetching its headers
    // now, so the parser (the next to read it) does not wait for each miss in turn.
    __builtin_prefetch(buf_.base + addr);
    __builtin_prefetch(buf_.base + addr + 64);
    data_off_[idx] = uint16_t(off);
    data_len_[idx] = uint16_t(len);
    port_[idx] = port;
    ids[got++] = uint32_t(idx);
    bytes += len;
  }
  xq.rx.Release(ready);
  c[kRxPackets] += got;
  c[kRxBytes] += double(bytes);
  return int32_t(got);
}

void AfXdpPort::Reap(XskQueue& xq, PoolCache* cache) {
  const uint32_t ready = xq.comp.Ready(xq.comp.size);
  if (ready == 0) return;
  const uint64_t* ring = static_cast<const uint64_t*>(xq.comp.descs);
  uint32_t ids[kBatch];
  uint32_t k = 0;
  uint32_t bogus = 0;
  for (uint32_t i = 0; i < ready; i++) {
    const uint64_t idx = ring[(xq.comp.cached_cons + i) & xq.comp.mask] >> shift_;
    if (idx >= count_ || held_[idx] != kHeldTx) {
      bogus++;
      continue;
    }
    held_[idx] = kHeldNone;
    ids[k++] = uint32_t(idx);
    if (k == kBatch) {
      PutBack(cache, ids, k);
      k = 0;
    }
  }
  xq.comp.Release(ready);
  PutBack(cache, ids, k);
  if (bogus) {
    counters(uint32_t(&xq - queues_v_.data()))[kTxErrors] += bogus;
    Fail(kErrPort, std::to_string(bogus) + " completion(s) named a buffer the port had not sent; ignored");
  }
}

void AfXdpPort::Kick(XskQueue& xq) {
  // Copy mode sends inside this call; zero-copy drivers are woken up by it.
  if (sendto(xq.fd, nullptr, 0, MSG_DONTWAIT, nullptr, 0) >= 0) return;
  const int err = errno;
  // Transient: budget used up or completion ring full (EAGAIN), the device dropped a frame
  // (EBUSY), no buffers (ENOBUFS), link down (ENETDOWN). The descriptors stay in the ring.
  if (err == EAGAIN || err == EBUSY || err == ENOBUFS || err == ENETDOWN || err == EINTR) return;
  Fail(kErrPort, "queue " + std::to_string(xq.queue_id) + ": sendto: " + Errno(err));
}

int32_t AfXdpPort::Tx(uint32_t q, PoolCache* cache, const uint32_t* ids, uint32_t n) {
  XskQueue& xq = queues_v_[q];
  double* c = counters(q);
  Reap(xq, cache);
  const uint32_t room = xq.tx.Free(n);
  xdp_desc* descs = static_cast<xdp_desc*>(xq.tx.descs);
  uint32_t taken = 0, placed = 0, errors = 0;
  uint64_t bytes = 0;
  while (taken < n) {
    const uint32_t idx = ids[taken];  // checked < count by the binding
    if (held_[idx] != kHeldNone) [[unlikely]] {
      // The caller does not own it: the kernel has it (fill ring, or sent and not completed).
      // Counted and left alone; it returns to the pool through its ring.
      errors++;
      Fail(kErrPort, "buffer " + std::to_string(idx) + " is lent to the kernel already (use after free?); not sent");
      taken++;
      continue;
    }
    const uint32_t off = data_off_[idx];
    const uint32_t len = data_len_[idx];
    if (len == 0 || off + len > buf_size_ || len > max_frame_ || chain_[idx] != kNoBuffer) [[unlikely]] {
      // Not sendable: counted and freed (it is the port's now).
      errors++;
      Fail(kErrFrameSize, len > max_frame_ ? "frame of " + std::to_string(len) + " bytes is over the MTU (" +
                                                 std::to_string(mtu_) + " + 14); dropped"
                          : chain_[idx] != kNoBuffer ? std::string("multi-buffer frames are not supported; dropped")
                                                     : "buffer " + std::to_string(idx) + " has a bad data offset/length (" +
                                                           std::to_string(off) + "/" + std::to_string(len) + "); dropped");
      PutBack(cache, &idx, 1);
      taken++;
      continue;
    }
    if (placed == room) break;
    xdp_desc& d = descs[(xq.tx.cached_prod + placed) & xq.tx.mask];
    d.addr = (uint64_t(idx) << shift_) + off;
    d.len = len;
    d.options = 0;
    held_[idx] = kHeldTx;
    placed++;
    taken++;
    bytes += len;
  }
  if (placed) xq.tx.Submit(placed);
  if (errors) c[kTxErrors] += errors;
  c[kTxPackets] += placed;
  c[kTxBytes] += double(bytes);
  // Kick when the kernel asks (need_wakeup) or always without need_wakeup, and only when
  // the ring holds something to send.
  if ((placed || xq.tx.cached_prod != LoadAcquire(xq.tx.consumer)) && (!opt_.need_wakeup || xq.tx.NeedsWakeup())) Kick(xq);
  return int32_t(taken);
}

void AfXdpPort::Refresh() {
  if (closed_) return;
  ReadLink();
  for (size_t q = 0; q < queues_v_.size(); q++) {
    XskQueue& xq = queues_v_[q];
    Reap(xq, nullptr);
    xdp_statistics st;
    std::memset(&st, 0, sizeof(st));
    socklen_t len = sizeof(st);
    if (getsockopt(xq.fd, SOL_XDP, XDP_STATISTICS, &st, &len) != 0) continue;
    double* c = counters(uint32_t(q));
    // rx_dropped includes the frames dropped because the fill ring was empty (the pool was
    // short); rx_ring_full the ones the RX ring had no room for.
    const uint64_t drops = st.rx_dropped + st.rx_ring_full;
    c[kRxDrops] += double(drops - xq.seen_rx_drops);
    c[kRxErrors] += double(st.rx_invalid_descs - xq.seen_rx_invalid);
    c[kTxErrors] += double(st.tx_invalid_descs - xq.seen_tx_invalid);
    xq.seen_rx_drops = drops;
    xq.seen_rx_invalid = st.rx_invalid_descs;
    xq.seen_tx_invalid = st.tx_invalid_descs;
  }
}

void AfXdpPort::Close() {
  if (closed_) return;
  closed_ = true;
  // Detach first, so nothing more is redirected to the sockets.
  prog_.Close();
  for (XskQueue& xq : queues_v_) {
    // The mappings hold the socket open: unmap before close, so close releases it (unbinds
    // it from the device and waits until the kernel no longer uses its rings).
    xq.rx.Unmap();
    xq.tx.Unmap();
    xq.fill.Unmap();
    xq.comp.Unmap();
    if (xq.fd >= 0) close(xq.fd);
    xq.fd = -1;
  }
  if (ctl_fd_ >= 0) close(ctl_fd_);
  ctl_fd_ = -1;
  // Whatever was lent (fill ring, RX ring not yet read, TX in flight, completions not yet
  // reaped) comes back to the pool.
  uint32_t ids[kBatch];
  uint32_t k = 0;
  for (uint32_t i = 0; i < held_.size(); i++) {
    if (held_[i] == kHeldNone) continue;
    held_[i] = kHeldNone;
    ids[k++] = i;
    if (k == kBatch) {
      PutBack(nullptr, ids, k);
      k = 0;
    }
  }
  PutBack(nullptr, ids, k);
  link_up_ = false;
}

// ------------------------------------------------------------------ N-API

uint32_t RingSize(Napi::Env env, const Napi::Object& o, const std::string& ifname, const char* key, uint32_t def) {
  const uint32_t v = GetU32(o, key, def);
  if (v < kMinRing || v > kMaxRing || (v & (v - 1)) != 0)
    Throw(env, kErrInvalidArgument,
          ifname + ": " + key + " must be a power of two from " + std::to_string(kMinRing) + " to " +
              std::to_string(kMaxRing) + ", got " + std::to_string(v));
  return v;
}

Napi::Value PortOpenAfXdp(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  ThreadState* ts = State(env);
  if (info.Length() < 2 || !info[1].IsObject()) Throw(env, kErrInvalidArgument, "portOpenAfXdp(pool, options): options must be an object");
  const int32_t pool_handle = info[0].ToNumber().Int32Value();
  Napi::Object o = info[1].As<Napi::Object>();
  Options opt;
  opt.ifname = GetString(o, "interface", "");
  if (opt.ifname.empty()) Throw(env, kErrInvalidArgument, "AfXdpPort: interface is required (an interface name)");
  const std::string& ifn = opt.ifname;
  const uint32_t id = GetU32(o, "id", 0);
  if (id > 0xfffe) Throw(env, kErrInvalidArgument, ifn + ": id must be an integer from 0 to 65534");
  opt.id = uint16_t(id);

  Napi::Value qv = o.Get("queues");
  if (!qv.IsUndefined()) {
    if (!qv.IsArray()) Throw(env, kErrInvalidArgument, ifn + ": queues must be an array of queue ids");
    Napi::Array a = qv.As<Napi::Array>();
    if (a.Length() == 0 || a.Length() > kMaxQueues)
      Throw(env, kErrInvalidArgument, ifn + ": queues must list 1 to " + std::to_string(kMaxQueues) + " queue ids");
    for (uint32_t i = 0; i < a.Length(); i++) {
      Napi::Value v = a.Get(i);
      const double d = v.IsNumber() ? v.As<Napi::Number>().DoubleValue() : -1;
      if (!(d >= 0 && d < 65536) || d != double(uint32_t(d)))
        Throw(env, kErrInvalidArgument, ifn + ": queues[" + std::to_string(i) + "] must be a queue id (an integer from 0 to 65535)");
      for (uint32_t prev : opt.queue_ids)
        if (prev == uint32_t(d)) Throw(env, kErrInvalidArgument, ifn + ": queue id " + std::to_string(prev) + " is listed twice");
      opt.queue_ids.push_back(uint32_t(d));
    }
    if (!o.Get("queueCount").IsUndefined()) Throw(env, kErrInvalidArgument, ifn + ": give queues or queueCount, not both");
  } else {
    const uint32_t n = GetU32(o, "queueCount", 1);
    if (n == 0 || n > kMaxQueues) Throw(env, kErrInvalidArgument, ifn + ": queueCount must be from 1 to " + std::to_string(kMaxQueues));
    for (uint32_t i = 0; i < n; i++) opt.queue_ids.push_back(i);
  }

  const std::string mode = GetString(o, "mode", "auto");
  if (mode == "auto") opt.mode = Options::Mode::kAuto;
  else if (mode == "copy") opt.mode = Options::Mode::kCopy;
  else if (mode == "zerocopy") opt.mode = Options::Mode::kZeroCopy;
  else Throw(env, kErrInvalidArgument, ifn + ": mode must be 'auto', 'copy' or 'zerocopy', got '" + mode + "'");
  const std::string xdp = GetString(o, "xdpMode", "auto");
  if (xdp == "auto") opt.xdp = XdpAttach::kAuto;
  else if (xdp == "native") opt.xdp = XdpAttach::kNative;
  else if (xdp == "generic") opt.xdp = XdpAttach::kGeneric;
  else Throw(env, kErrInvalidArgument, ifn + ": xdpMode must be 'auto', 'native' or 'generic', got '" + xdp + "'");
  opt.need_wakeup = GetBool(o, "needWakeup", true);
  opt.rx_size = RingSize(env, o, ifn, "rxSize", 1024);
  opt.tx_size = RingSize(env, o, ifn, "txSize", 1024);
  opt.fill_size = RingSize(env, o, ifn, "fillSize", 1024);
  opt.comp_size = RingSize(env, o, ifn, "completionSize", 1024);

  PoolSlot* slot = PoolForPort(env, ts, pool_handle, ifn);
  auto port = std::make_unique<AfXdpPort>(slot->pool, opt);
  port->Open(env, slot->cache.get());
  AfXdpPort* p = port.get();
  Napi::Object out = InsertPort(env, ts, pool_handle, std::move(port));
  p->Describe(out);
  return out;
}

}  // namespace

void RegisterAfXdp(Napi::Env env, Napi::Object exports) {
  exports.Set("portOpenAfXdp", Napi::Function::New(env, PortOpenAfXdp));
}

}  // namespace vnf
