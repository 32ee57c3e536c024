// TAP port driver: a Linux TAP interface (IFF_TAP | IFF_NO_PI) created or attached through
// /dev/net/tun, one non-blocking descriptor per queue (IFF_MULTI_QUEUE when there are
// several). The host's network stack sees the interface as an ordinary Ethernet device:
// what we transmit, it receives, and what it sends out of the interface, we receive.
//
// A TAP has no batch interface: receive is one read() per frame (until EAGAIN or the
// burst is full) and transmit one write() per frame, so it costs a system call per packet
// where AF_PACKET and AF_XDP cost one per burst. It is meant for the exception path and
// for tests, not for line rate.
#include <fcntl.h>
#include <net/if_arp.h>
#include <linux/if_ether.h>
#include <linux/if_tun.h>
#include <net/if.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <vector>

#include "../binding.h"

namespace vnf {
namespace {

constexpr uint32_t kMaxQueues = 16;
constexpr uint32_t kStash = 32;  // buffers taken from the pool ahead of reads, per queue

std::string Errno(int e) { return std::strerror(e); }

struct TapQueue {
  int fd = -1;
  uint32_t stash[kStash];
  uint32_t stash_len = 0;
};

class TapPort final : public Port {
 public:
  TapPort(std::shared_ptr<Pool> pool, std::string name, uint32_t queues, uint16_t id, uint32_t mtu)
      : Port(std::move(pool), std::move(name), queues, id), mtu_(mtu), q_(queues), scratch_(65536 + 64) {}
  ~TapPort() override { Close(); }

  std::vector<TapQueue>& queue_list() { return q_; }
  void set_name(const std::string& n) { name_ = n; }
  void set_mtu(uint32_t m) { mtu_ = m; }
  void set_link(bool up) { link_up_ = up; }

  int32_t Rx(uint32_t q, PoolCache* cache, uint32_t* ids, uint32_t n) override;
  int32_t Tx(uint32_t q, PoolCache* cache, const uint32_t* ids, uint32_t n) override;
  int Fd(uint32_t q) const override { return q < q_.size() ? q_[q].fd : -1; }
  void Refresh() override;
  bool LinkUp() const override { return link_up_; }
  void Close() override;

 private:
  uint32_t mtu_;
  bool link_up_ = true;
  std::vector<TapQueue> q_;
  std::vector<uint8_t> scratch_;  // where frames go when the pool has no buffer
  uint64_t kernel_drops_ = 0;     // the interface's tx_dropped at the last Refresh
  bool drops_read_ = false;
};

void TapPort::Close() {
  for (auto& Q : q_) {
    if (Q.stash_len > 0) {
      ErrorDetail d;
      pool_->Put(nullptr, Q.stash, Q.stash_len, &d);
      Q.stash_len = 0;
    }
    if (Q.fd >= 0) close(Q.fd);
    Q.fd = -1;
  }
}

int32_t TapPort::Rx(uint32_t q, PoolCache* cache, uint32_t* ids, uint32_t n) {
  TapQueue& Q = q_[q];
  if (Q.fd < 0) return Fail(kErrClosed, "port is closed");
  double* c = counters(q);
  const auto [base, buf_size, headroom, data_off, data_len, port] = buf_;
  const uint32_t room = buf_size - headroom;
  uint32_t got = 0;
  while (got < n) {
    if (Q.stash_len == 0) {
      ErrorDetail d;
      int32_t r = pool_->Alloc(cache, Q.stash, kStash, &d);
      if (r <= 0) r = pool_->Alloc(cache, Q.stash, 1, &d);
      if (r > 0) Q.stash_len = uint32_t(r);
    }
    if (Q.stash_len == 0) {
      // The pool is short: take the frame anyway, so the queue does not back up, and drop it.
      const ssize_t r = read(Q.fd, scratch_.data(), scratch_.size());
      if (r < 0) break;
      c[kRxDrops] += 1;
      continue;
    }
    const uint32_t b = Q.stash[Q.stash_len - 1];
    uint8_t* dst = base + size_t(b) * buf_size + headroom;
    const ssize_t r = read(Q.fd, dst, room);
    if (r < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN) break;
      if (got == 0) return Fail(kErrPort, "read: " + Errno(errno));
      break;
    }
    // A frame longer than the room is cut to it by the kernel, which returns its length.
    if (uint32_t(r) > room || r < ETH_HLEN) {
      c[kRxErrors] += 1;
      continue;
    }
    Q.stash_len--;
    data_off[b] = uint16_t(headroom);
    data_len[b] = uint16_t(r);
    port[b] = port_id_;
    ids[got++] = b;
    c[kRxPackets] += 1;
    c[kRxBytes] += double(r);
  }
  return int32_t(got);
}

int32_t TapPort::Tx(uint32_t q, PoolCache* cache, const uint32_t* ids, uint32_t n) {
  TapQueue& Q = q_[q];
  if (Q.fd < 0) return Fail(kErrClosed, "port is closed");
  double* c = counters(q);
  const auto [base, buf_size, headroom_unused, data_off, data_len, port_unused] = buf_;
  const auto* chain = static_cast<const uint32_t*>(pool_->meta(kMetaChain));
  uint32_t taken = 0;
  while (taken < n) {
    const uint32_t b = ids[taken];
    const uint32_t off = data_off[b];
    const uint32_t len = data_len[b];
    const uint8_t* p = base + size_t(b) * buf_size + off;
    if (off + len > buf_size || len < ETH_HLEN) {
      taken++;
      c[kTxErrors] += 1;
      error_ = name_ + ": buffer " + std::to_string(b) + " has " + std::to_string(len) + " bytes at offset " +
               std::to_string(off) + ", not a frame within its " + std::to_string(buf_size) + "-byte buffer";
      continue;
    }
    if (chain[b] != kNoBuffer) {
      taken++;
      c[kTxErrors] += 1;
      error_ = name_ + ": buffer " + std::to_string(b) + " is chained; multi-buffer packets are not supported";
      continue;
    }
    const uint16_t type = uint16_t(p[12] << 8 | p[13]);
    const uint32_t limit = mtu_ + ETH_HLEN + (type == ETH_P_8021Q || type == ETH_P_8021AD ? 4 : 0);
    if (len > limit) {
      taken++;
      c[kTxErrors] += 1;
      error_ = name_ + ": frame of " + std::to_string(len) + " bytes exceeds MTU " + std::to_string(mtu_);
      continue;
    }
    const ssize_t r = write(Q.fd, p, len);
    if (r < 0 && errno == EINTR) continue;
    if (r < 0 && (errno == EAGAIN || errno == ENOBUFS)) break;  // not taken: the caller's
    taken++;
    if (r == ssize_t(len)) {
      c[kTxPackets] += 1;
      c[kTxBytes] += len;
    } else {
      c[kTxDrops] += 1;
      error_ = name_ + ": write: " + (r < 0 ? Errno(errno) : "short write");
    }
  }
  if (taken > 0) {
    ErrorDetail d;
    const int32_t r = pool_->Put(cache, ids, taken, &d);
    if (r < 0)
      return Fail(r, "returning sent buffers to the pool: " + std::string(StatusCode(r)) + " at buffer " +
                         std::to_string(d.index));
  }
  return int32_t(taken);
}

void TapPort::Refresh() {
  const int ctl = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (ctl < 0) return;
  ifreq ifr{};
  std::memcpy(ifr.ifr_name, name_.data(), std::min<size_t>(name_.size(), IFNAMSIZ - 1));
  if (ioctl(ctl, SIOCGIFFLAGS, &ifr) == 0) {
    link_up_ = (ifr.ifr_flags & IFF_UP) && (ifr.ifr_flags & IFF_RUNNING);
    if (ioctl(ctl, SIOCGIFMTU, &ifr) == 0) mtu_ = uint32_t(ifr.ifr_mtu);
  } else {
    link_up_ = false;
  }
  close(ctl);
  // What the host sent that we did not read in time: the tap's tx_dropped (the kernel
  // keeps one figure for all queues; it is added to queue 0).
  const std::string path = "/sys/class/net/" + name_ + "/statistics/tx_dropped";
  if (FILE* f = std::fopen(path.c_str(), "r")) {
    unsigned long long v = 0;
    if (std::fscanf(f, "%llu", &v) == 1) {
      if (drops_read_ && v >= kernel_drops_) counters(0)[kRxDrops] += double(v - kernel_drops_);
      kernel_drops_ = v;
      drops_read_ = true;
    }
    std::fclose(f);
  }
}

bool ParseMac(const std::string& s, uint8_t out[6]) {
  unsigned v[6];
  char tail;
  if (s.size() != 17 || std::sscanf(s.c_str(), "%2x:%2x:%2x:%2x:%2x:%2x%c", &v[0], &v[1], &v[2], &v[3], &v[4], &v[5], &tail) != 6)
    return false;
  for (int i = 0; i < 6; i++) out[i] = uint8_t(v[i]);
  return !(out[0] & 1);  // not multicast
}

int32_t ErrnoStatus(int e) {
  if (e == EPERM || e == EACCES) return kErrPermission;
  if (e == ENODEV || e == ENXIO || e == ENOENT) return kErrNoDevice;
  return kErrSystem;
}

// portOpenTap(pool, { name, queues, id, mtu, mac, up, persist })
Napi::Value OpenTap(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  ThreadState* ts = State(env);
  if (!info[1].IsObject()) Throw(env, kErrInvalidArgument, "tap: options must be an object");
  const int32_t pool_handle = info[0].ToNumber().Int32Value();
  Napi::Object o = info[1].As<Napi::Object>();
  const std::string name = GetString(o, "name", "");
  if (name.size() >= IFNAMSIZ || name.find('/') != std::string::npos || name.find('\0') != std::string::npos)
    Throw(env, kErrInvalidArgument, "tap: name must be at most " + std::to_string(IFNAMSIZ - 1) + " characters, got '" + name + "'");
  const std::string who = name.empty() ? "tap" : name;
  uint32_t queues = 1, id = 0, mtu = 0;
  bool up = true, persist = false;
  std::string mac_text;
  try {
    queues = GetU32(o, "queues", 1);
    id = GetU32(o, "id", 0);
    mtu = GetU32(o, "mtu", 0);
    up = GetBool(o, "up", true);
    persist = GetBool(o, "persist", false);
    mac_text = GetString(o, "mac", "");
  } catch (const Napi::Error& e) {
    Throw(env, kErrInvalidArgument, who + ": " + e.Message());
  }
  auto bad = [&](const std::string& what) { Throw(env, kErrInvalidArgument, who + ": " + what); };
  if (queues < 1 || queues > kMaxQueues) bad("queues must be 1 to " + std::to_string(kMaxQueues) + ", got " + std::to_string(queues));
  if (id > 0xfffe) bad("id must be 0 to 65534");
  if (mtu != 0 && (mtu < 68 || mtu > 65521)) bad("mtu must be 68 to 65521, got " + std::to_string(mtu));
  uint8_t mac[6];
  if (!mac_text.empty() && !ParseMac(mac_text, mac)) bad("mac must be a unicast address like 02:00:00:00:00:01, got '" + mac_text + "'");
  PoolSlot* pool = PoolForPort(env, ts, pool_handle, who);

  auto port = std::make_unique<TapPort>(pool->pool, who, queues, uint16_t(id), 1500);
  auto fail = [&](int32_t st, const std::string& why) {
    port->Close();
    Throw(env, st, port->name() + ": " + why);
  };
  std::string ifname = name;
  for (uint32_t q = 0; q < queues; q++) {
    const int fd = open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0) {
      const int e = errno;
      fail(ErrnoStatus(e), "opening /dev/net/tun: " + Errno(e) + (e == ENOENT ? " (load the tun module)" : ""));
    }
    port->queue_list()[q].fd = fd;
    ifreq ifr{};
    ifr.ifr_flags = IFF_TAP | IFF_NO_PI | (queues > 1 ? IFF_MULTI_QUEUE : 0);
    std::memcpy(ifr.ifr_name, ifname.data(), ifname.size());
    if (ioctl(fd, TUNSETIFF, &ifr)) {
      const int e = errno;
      std::string why = "TUNSETIFF: " + Errno(e);
      int32_t st = ErrnoStatus(e);
      if (e == EPERM || e == EACCES) why += " (creating or attaching a TAP needs CAP_NET_ADMIN)";
      if (e == EBUSY) {
        why += " (attached already: a single-queue TAP takes one descriptor, or the queue flags differ)";
        st = kErrInvalidArgument;
      }
      if (e == EINVAL) {
        why += " (the interface exists and is not a TAP, or was made with other flags)";
        st = kErrInvalidArgument;
      }
      fail(st, why);
    }
    ifname.assign(ifr.ifr_name, strnlen(ifr.ifr_name, IFNAMSIZ));
    port->set_name(ifname);
  }
  const int fd0 = port->queue_list()[0].fd;
  if (persist && ioctl(fd0, TUNSETPERSIST, 1)) fail(ErrnoStatus(errno), "TUNSETPERSIST: " + Errno(errno));
  const int ctl = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (ctl < 0) fail(kErrSystem, "socket: " + Errno(errno));
  ifreq ifr{};
  std::memcpy(ifr.ifr_name, ifname.data(), ifname.size());
  auto ctl_fail = [&](const char* what) {
    const int e = errno;
    close(ctl);
    fail(ErrnoStatus(e), std::string(what) + ": " + Errno(e) + (e == EPERM ? " (needs CAP_NET_ADMIN)" : ""));
  };
  if (!mac_text.empty()) {
    ifr.ifr_hwaddr.sa_family = ARPHRD_ETHER;
    std::memcpy(ifr.ifr_hwaddr.sa_data, mac, 6);
    if (ioctl(ctl, SIOCSIFHWADDR, &ifr)) ctl_fail("setting the MAC address (SIOCSIFHWADDR)");
  }
  if (mtu != 0) {
    ifr.ifr_mtu = int(mtu);
    if (ioctl(ctl, SIOCSIFMTU, &ifr)) ctl_fail("setting the MTU (SIOCSIFMTU)");
  }
  if (ioctl(ctl, SIOCGIFFLAGS, &ifr)) ctl_fail("SIOCGIFFLAGS");
  if (up && !(ifr.ifr_flags & IFF_UP)) {
    ifr.ifr_flags = short(ifr.ifr_flags | IFF_UP);
    if (ioctl(ctl, SIOCSIFFLAGS, &ifr)) ctl_fail("bringing the interface up (SIOCSIFFLAGS)");
  }
  if (ioctl(ctl, SIOCGIFMTU, &ifr)) ctl_fail("SIOCGIFMTU");
  port->set_mtu(uint32_t(ifr.ifr_mtu));
  const uint32_t real_mtu = uint32_t(ifr.ifr_mtu);
  if (ioctl(ctl, SIOCGIFHWADDR, &ifr)) ctl_fail("SIOCGIFHWADDR");
  std::memcpy(mac, ifr.ifr_hwaddr.sa_data, 6);
  if (ioctl(ctl, SIOCGIFINDEX, &ifr)) ctl_fail("SIOCGIFINDEX");
  const int ifindex = ifr.ifr_ifindex;
  close(ctl);
  port->Refresh();
  TapPort* p = port.get();
  Napi::Object out = InsertPort(env, ts, pool_handle, std::move(port));
  (void)p;
  char text[18];
  std::snprintf(text, sizeof text, "%02x:%02x:%02x:%02x:%02x:%02x", mac[0], mac[1], mac[2], mac[3], mac[4], mac[5]);
  out.Set("mac", text);
  out.Set("mtu", real_mtu);
  out.Set("ifindex", ifindex);
  return out;
}

}  // namespace

void RegisterTap(Napi::Env env, Napi::Object exports) {
  exports.Set("portOpenTap", Napi::Function::New(env, OpenTap));
}

}  // namespace vnf
