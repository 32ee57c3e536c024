#include "virtio/vhost_user.h"

#include <fcntl.h>
#include <poll.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <thread>
#include <utility>

namespace vnf::virtio {

namespace {

int64_t NowNs() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

std::string Errno(const std::string& what) { return what + ": " + std::strerror(errno); }

std::string Hex(uint64_t v) {
  char b[24];
  std::snprintf(b, sizeof b, "0x%llx", static_cast<unsigned long long>(v));
  return b;
}

std::string Req(uint32_t r) { return std::string(RequestName(r)); }

void CloseQuiet(int fd) {
  if (fd >= 0) ::close(fd);
}

bool SetNonBlocking(int fd) {
  const int fl = fcntl(fd, F_GETFL);
  return fl >= 0 && fcntl(fd, F_SETFL, fl | O_NONBLOCK) == 0;
}

VuResult MakeAddr(const std::string& path, sockaddr_un* un) {
  std::memset(un, 0, sizeof *un);
  un->sun_family = AF_UNIX;
  if (path.empty() || path.size() >= sizeof un->sun_path)
    return VuFail(VuError::kInvalidArgument,
                  "socket path '" + path + "' is empty or longer than " +
                      std::to_string(sizeof un->sun_path - 1) + " bytes");
  std::memcpy(un->sun_path, path.c_str(), path.size());
  return VuResult::Ok();
}

// Waits for fd to become readable (or writable); false on timeout.
bool WaitFd(int fd, short events, int timeout_ms) {
  pollfd p{fd, events, 0};
  for (;;) {
    const int r = ::poll(&p, 1, timeout_ms);
    if (r < 0 && errno == EINTR) continue;
    return r > 0;
  }
}

uint64_t AlignUp(uint64_t v, uint64_t a) { return (v + a - 1) / a * a; }

// What fd is when it is not an eventfd ("a pipe", ...), or nullptr for an eventfd. The device
// writes call fds from its data-path thread: a pipe or socket that nobody reads would block
// it once full, with every other port of that thread. Eventfds are anonymous inodes, told
// apart by their /proc link; without /proc any anonymous inode passes (writes to the other
// kinds fail at once, they never block).
const char* NotEventfd(int fd) {
  struct stat st;
  if (::fstat(fd, &st) != 0) return "not open";
  switch (st.st_mode & S_IFMT) {
    case 0: break;  // an anonymous inode
    case S_IFIFO: return "a pipe";
    case S_IFSOCK: return "a socket";
    case S_IFREG: return "a regular file";
    case S_IFCHR: return "a character device";
    case S_IFBLK: return "a block device";
    case S_IFDIR: return "a directory";
    default: return "not an anonymous inode";
  }
  char path[40], link[64];
  std::snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
  const ssize_t n = ::readlink(path, link, sizeof link - 1);
  if (n < 0) return nullptr;  // no /proc: cannot tell the anonymous inodes apart
  link[n] = 0;
  return std::strcmp(link, "anon_inode:[eventfd]") == 0 ? nullptr : "another kind of anonymous inode";
}

}  // namespace

const char* RequestName(uint32_t r) {
  switch (static_cast<Request>(r)) {
    case Request::kNone: return "NONE";
    case Request::kGetFeatures: return "GET_FEATURES";
    case Request::kSetFeatures: return "SET_FEATURES";
    case Request::kSetOwner: return "SET_OWNER";
    case Request::kResetOwner: return "RESET_OWNER";
    case Request::kSetMemTable: return "SET_MEM_TABLE";
    case Request::kSetLogBase: return "SET_LOG_BASE";
    case Request::kSetLogFd: return "SET_LOG_FD";
    case Request::kSetVringNum: return "SET_VRING_NUM";
    case Request::kSetVringAddr: return "SET_VRING_ADDR";
    case Request::kSetVringBase: return "SET_VRING_BASE";
    case Request::kGetVringBase: return "GET_VRING_BASE";
    case Request::kSetVringKick: return "SET_VRING_KICK";
    case Request::kSetVringCall: return "SET_VRING_CALL";
    case Request::kSetVringErr: return "SET_VRING_ERR";
    case Request::kGetProtocolFeatures: return "GET_PROTOCOL_FEATURES";
    case Request::kSetProtocolFeatures: return "SET_PROTOCOL_FEATURES";
    case Request::kGetQueueNum: return "GET_QUEUE_NUM";
    case Request::kSetVringEnable: return "SET_VRING_ENABLE";
    case Request::kSendRarp: return "SEND_RARP";
    case Request::kNetSetMtu: return "NET_SET_MTU";
    case Request::kSetBackendReqFd: return "SET_BACKEND_REQ_FD";
    case Request::kIotlbMsg: return "IOTLB_MSG";
    case Request::kSetVringEndian: return "SET_VRING_ENDIAN";
    case Request::kGetConfig: return "GET_CONFIG";
    case Request::kSetConfig: return "SET_CONFIG";
    case Request::kGetInflightFd: return "GET_INFLIGHT_FD";
    case Request::kSetInflightFd: return "SET_INFLIGHT_FD";
    case Request::kResetDevice: return "RESET_DEVICE";
    case Request::kVringKick: return "VRING_KICK";
    case Request::kGetMaxMemSlots: return "GET_MAX_MEM_SLOTS";
    case Request::kAddMemReg: return "ADD_MEM_REG";
    case Request::kRemMemReg: return "REM_MEM_REG";
    case Request::kSetStatus: return "SET_STATUS";
    case Request::kGetStatus: return "GET_STATUS";
  }
  return "UNKNOWN";
}

const char* VuErrorName(VuError e) {
  switch (e) {
    case VuError::kOk: return "ok";
    case VuError::kSystem: return "system";
    case VuError::kClosed: return "closed";
    case VuError::kTimeout: return "timeout";
    case VuError::kTruncated: return "truncated";
    case VuError::kBadVersion: return "bad_version";
    case VuError::kBadSize: return "bad_size";
    case VuError::kBadFdCount: return "bad_fd_count";
    case VuError::kBadFdKind: return "bad_fd_kind";
    case VuError::kTooManyRegions: return "too_many_regions";
    case VuError::kBadRegion: return "bad_region";
    case VuError::kBadAddress: return "bad_address";
    case VuError::kBadIndex: return "bad_index";
    case VuError::kBadValue: return "bad_value";
    case VuError::kBadFeatures: return "bad_features";
    case VuError::kUnsupported: return "unsupported";
    case VuError::kNack: return "nack";
    case VuError::kUnexpectedReply: return "unexpected_reply";
    case VuError::kInvalidArgument: return "invalid_argument";
  }
  return "unknown";
}

VuResult VuFail(VuError code, std::string message) { return VuResult{code, std::move(message)}; }

// ---------------------------------------------------------------------------------------
// Message

Message::Message() {
  std::memset(&payload, 0, sizeof payload);
  for (int& fd : fds) fd = -1;
}

Message::Message(Request r, uint32_t flags) : Message() {
  hdr.request = static_cast<uint32_t>(r);
  hdr.flags = kVhostUserVersion | flags;
}

Message::~Message() { CloseFds(); }

Message::Message(Message&& o) noexcept : hdr(o.hdr), nfds(o.nfds) {
  std::memcpy(&payload, &o.payload, sizeof payload);
  for (uint32_t i = 0; i < kMaxFds; i++) {
    fds[i] = o.fds[i];
    o.fds[i] = -1;
  }
  o.nfds = 0;
}

Message& Message::operator=(Message&& o) noexcept {
  if (this != &o) {
    CloseFds();
    hdr = o.hdr;
    std::memcpy(&payload, &o.payload, sizeof payload);
    nfds = o.nfds;
    for (uint32_t i = 0; i < kMaxFds; i++) {
      fds[i] = o.fds[i];
      o.fds[i] = -1;
    }
    o.nfds = 0;
  }
  return *this;
}

void Message::SetU64(uint64_t v) {
  payload.u64 = v;
  hdr.size = sizeof(uint64_t);
}

void Message::SetState(uint32_t index, uint32_t num) {
  payload.state = VringState{index, num};
  hdr.size = sizeof(VringState);
}

int Message::TakeFd(uint32_t i) {
  if (i >= nfds) return -1;
  const int fd = fds[i];
  fds[i] = -1;
  return fd;
}

void Message::CloseFds() {
  for (uint32_t i = 0; i < kMaxFds; i++) {
    CloseQuiet(fds[i]);
    fds[i] = -1;
  }
  nfds = 0;
}

// ---------------------------------------------------------------------------------------
// Connection

Connection::~Connection() {
  CloseFd();
  CloseQuiet(listen_fd_);
}

Connection::Connection(Connection&& o) noexcept { *this = std::move(o); }

Connection& Connection::operator=(Connection&& o) noexcept {
  if (this != &o) {
    CloseFd();
    CloseQuiet(listen_fd_);
    role_ = o.role_;
    path_ = std::move(o.path_);
    fd_ = o.fd_;
    listen_fd_ = o.listen_fd_;
    retry_ms_ = o.retry_ms_;
    std::memcpy(rx_, o.rx_, o.rx_len_);
    rx_len_ = o.rx_len_;
    for (uint32_t i = 0; i < o.rx_nfds_; i++) rx_fds_[i] = o.rx_fds_[i];
    rx_nfds_ = o.rx_nfds_;
    o.fd_ = -1;
    o.listen_fd_ = -1;
    o.rx_len_ = 0;
    o.rx_nfds_ = 0;
    o.role_ = Role::kNone;
  }
  return *this;
}

void Connection::DropPartial() {
  for (uint32_t i = 0; i < rx_nfds_; i++) CloseQuiet(rx_fds_[i]);
  rx_nfds_ = 0;
  rx_len_ = 0;
}

void Connection::CloseFd() {
  DropPartial();
  CloseQuiet(fd_);
  fd_ = -1;
}

void Connection::Disconnect() { CloseFd(); }

Connection Connection::FromFd(int fd) {
  Connection c;
  c.role_ = Role::kFd;
  c.fd_ = fd;
  SetNonBlocking(fd);
  return c;
}

VuResult Connection::Connect(const std::string& path, int timeout_ms, Connection* out,
                             int retry_ms) {
  sockaddr_un un;
  VuResult r = MakeAddr(path, &un);
  if (!r.ok()) return r;
  const int64_t deadline = NowNs() + int64_t(timeout_ms) * 1000000;
  for (;;) {
    const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return VuFail(VuError::kSystem, Errno("socket"));
    if (::connect(fd, reinterpret_cast<sockaddr*>(&un), sizeof un) == 0) {
      Connection c;
      c.role_ = Role::kClient;
      c.path_ = path;
      c.fd_ = fd;
      c.retry_ms_ = retry_ms;
      SetNonBlocking(fd);
      *out = std::move(c);
      return VuResult::Ok();
    }
    const int err = errno;
    ::close(fd);
    if (err != ENOENT && err != ECONNREFUSED && err != EAGAIN && err != EINTR) {
      errno = err;
      return VuFail(VuError::kSystem, Errno("connect " + path));
    }
    if (NowNs() >= deadline) {
      errno = err;
      return VuFail(VuError::kTimeout, Errno("connect " + path) + " (gave up after " +
                                           std::to_string(timeout_ms) + " ms)");
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(retry_ms > 0 ? retry_ms : 1));
  }
}

VuResult Connection::Listen(const std::string& path, Connection* out) {
  sockaddr_un un;
  VuResult r = MakeAddr(path, &un);
  if (!r.ok()) return r;
  struct stat st;
  if (::lstat(path.c_str(), &st) == 0) {
    if (!S_ISSOCK(st.st_mode))
      return VuFail(VuError::kInvalidArgument, path + " exists and is not a socket");
    ::unlink(path.c_str());  // stale socket of an earlier run
  }
  const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return VuFail(VuError::kSystem, Errno("socket"));
  if (::bind(fd, reinterpret_cast<sockaddr*>(&un), sizeof un) != 0 || ::listen(fd, 1) != 0) {
    VuResult e = VuFail(VuError::kSystem, Errno("bind/listen " + path));
    ::close(fd);
    return e;
  }
  SetNonBlocking(fd);
  Connection c;
  c.role_ = Role::kServer;
  c.path_ = path;
  c.listen_fd_ = fd;
  *out = std::move(c);
  return VuResult::Ok();
}

VuResult Connection::Accept(int timeout_ms) {
  if (listen_fd_ < 0) return VuFail(VuError::kInvalidArgument, "accept: not a listening connection");
  CloseFd();
  const int64_t deadline = NowNs() + int64_t(timeout_ms) * 1000000;
  for (;;) {
    const int fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC | SOCK_NONBLOCK);
    if (fd >= 0) {
      fd_ = fd;
      return VuResult::Ok();
    }
    if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR && errno != ECONNABORTED)
      return VuFail(VuError::kSystem, Errno("accept " + path_));
    const int64_t left_ms = (deadline - NowNs()) / 1000000;
    if (left_ms <= 0) return VuFail(VuError::kTimeout, "no peer connected to " + path_);
    WaitFd(listen_fd_, POLLIN, int(left_ms));
  }
}

VuResult Connection::Reconnect(int timeout_ms) {
  switch (role_) {
    case Role::kClient: {
      CloseFd();
      Connection c;
      VuResult r = Connect(path_, timeout_ms, &c, retry_ms_);
      if (!r.ok()) return r;
      fd_ = c.fd_;
      c.fd_ = -1;
      return r;
    }
    case Role::kServer:
      return Accept(timeout_ms);
    default:
      CloseFd();
      return VuFail(VuError::kClosed, "cannot reconnect a socket that was handed over");
  }
}

VuResult Connection::SendRaw(const void* data, size_t len, const int* fds, uint32_t nfds) {
  if (fd_ < 0) return VuFail(VuError::kClosed, "send: not connected");
  if (nfds > kMaxFds) return VuFail(VuError::kInvalidArgument, "send: more than 8 fds");
  const uint8_t* p = static_cast<const uint8_t*>(data);
  size_t done = 0;
  alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int) * kMaxFds)];
  while (done < len || (len == 0 && nfds > 0 && done == 0)) {
    iovec iov{const_cast<uint8_t*>(p + done), len - done};
    msghdr mh{};
    mh.msg_iov = &iov;
    mh.msg_iovlen = 1;
    if (done == 0 && nfds > 0) {  // the fds ride on the first byte
      std::memset(control, 0, sizeof control);
      mh.msg_control = control;
      mh.msg_controllen = CMSG_SPACE(sizeof(int) * nfds);
      cmsghdr* c = CMSG_FIRSTHDR(&mh);
      c->cmsg_level = SOL_SOCKET;
      c->cmsg_type = SCM_RIGHTS;
      c->cmsg_len = CMSG_LEN(sizeof(int) * nfds);
      std::memcpy(CMSG_DATA(c), fds, sizeof(int) * nfds);
    }
    const ssize_t n = ::sendmsg(fd_, &mh, MSG_NOSIGNAL);
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) {
        if (!WaitFd(fd_, POLLOUT, 5000)) return VuFail(VuError::kTimeout, "send: peer not reading");
        continue;
      }
      if (errno == EPIPE || errno == ECONNRESET) return VuFail(VuError::kClosed, Errno("send"));
      return VuFail(VuError::kSystem, Errno("send"));
    }
    if (len == 0) break;
    done += size_t(n);
  }
  return VuResult::Ok();
}

VuResult Connection::Send(const Message& m, const int* fds, uint32_t nfds) {
  if (m.hdr.size > kMaxPayload) return VuFail(VuError::kInvalidArgument, "send: payload too large");
  uint8_t buf[kHeaderSize + kMaxPayload];
  std::memcpy(buf, &m.hdr, kHeaderSize);
  std::memcpy(buf + kHeaderSize, &m.payload, m.hdr.size);
  return SendRaw(buf, kHeaderSize + m.hdr.size, fds, nfds);
}

VuResult Connection::TryRecv(Message* out, bool* got) {
  *got = false;
  if (fd_ < 0) return VuFail(VuError::kClosed, "receive: not connected");
  for (;;) {
    uint32_t want = kHeaderSize;
    if (rx_len_ >= kHeaderSize) {
      MsgHeader h;
      std::memcpy(&h, rx_, kHeaderSize);
      if (h.size > kMaxPayload) {
        VuResult e = VuFail(VuError::kBadSize, Req(h.request) + ": payload size " +
                                                   std::to_string(h.size) + " exceeds " +
                                                   std::to_string(kMaxPayload));
        DropPartial();
        return e;
      }
      want = kHeaderSize + h.size;
    }
    if (rx_len_ == want) {
      std::memcpy(&out->hdr, rx_, kHeaderSize);
      std::memset(&out->payload, 0, sizeof out->payload);
      std::memcpy(&out->payload, rx_ + kHeaderSize, want - kHeaderSize);
      out->CloseFds();
      for (uint32_t i = 0; i < rx_nfds_; i++) out->fds[i] = rx_fds_[i];
      out->nfds = rx_nfds_;
      rx_nfds_ = 0;
      rx_len_ = 0;
      *got = true;
      return VuResult::Ok();
    }
    iovec iov{rx_ + rx_len_, want - rx_len_};
    alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int) * (kMaxFds + 8))];
    msghdr mh{};
    mh.msg_iov = &iov;
    mh.msg_iovlen = 1;
    mh.msg_control = control;
    mh.msg_controllen = sizeof control;
    const ssize_t n = ::recvmsg(fd_, &mh, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) return VuResult::Ok();
      const int err = errno;
      const bool partial = rx_len_ > 0;
      DropPartial();
      errno = err;
      if (err == ECONNRESET)
        return VuFail(partial ? VuError::kTruncated : VuError::kClosed, Errno("receive"));
      return VuFail(VuError::kSystem, Errno("receive"));
    }
    // Collect descriptors first so that none leaks whatever happens next.
    bool too_many = false;
    for (cmsghdr* c = CMSG_FIRSTHDR(&mh); c != nullptr; c = CMSG_NXTHDR(&mh, c)) {
      if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) continue;
      const size_t count = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
      for (size_t i = 0; i < count; i++) {
        int fd;
        std::memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof fd);
        if (rx_nfds_ < kMaxFds) {
          rx_fds_[rx_nfds_++] = fd;
        } else {
          ::close(fd);
          too_many = true;
        }
      }
    }
    if ((mh.msg_flags & MSG_CTRUNC) || too_many) {
      DropPartial();
      return VuFail(VuError::kBadFdCount, "receive: more than 8 file descriptors with one message");
    }
    if (n == 0) {
      const uint32_t had = rx_len_;
      DropPartial();
      if (had == 0) return VuFail(VuError::kClosed, "peer closed the connection");
      return VuFail(VuError::kTruncated, "connection closed inside a message (" +
                                             std::to_string(had) + " of " + std::to_string(want) +
                                             " bytes)");
    }
    rx_len_ += uint32_t(n);
  }
}

VuResult Connection::Recv(Message* out, int timeout_ms) {
  const int64_t deadline = NowNs() + int64_t(timeout_ms) * 1000000;
  for (;;) {
    bool got = false;
    VuResult r = TryRecv(out, &got);
    if (!r.ok() || got) return r;
    int wait = -1;
    if (timeout_ms >= 0) {
      const int64_t left_ns = deadline - NowNs();
      if (left_ns <= 0)
        return VuFail(VuError::kTimeout, std::string(rx_len_ > 0 ? "receive: message incomplete"
                                                                 : "receive: no message") +
                                             " after " + std::to_string(timeout_ms) + " ms");
      wait = int((left_ns + 999999) / 1000000);
    }
    WaitFd(fd_, POLLIN, wait);
  }
}

bool Connection::PeerClosed() {
  if (fd_ < 0) return true;
  pollfd p{fd_, POLLIN, 0};
  if (::poll(&p, 1, 0) <= 0) return false;
  if (p.revents & (POLLHUP | POLLERR)) {
    char c;
    // Data may still be queued before the hang-up; closed only when it is all read.
    const ssize_t n = ::recv(fd_, &c, 1, MSG_PEEK | MSG_DONTWAIT);
    return n <= 0;
  }
  if (p.revents & POLLIN) {
    char c;
    const ssize_t n = ::recv(fd_, &c, 1, MSG_PEEK | MSG_DONTWAIT);
    return n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR);
  }
  return false;
}

// ---------------------------------------------------------------------------------------
// Frontend

Frontend::Frontend(Connection conn) : conn_(std::move(conn)) {}

VuResult Frontend::Transact(Message& m, const int* fds, uint32_t nfds, Message* reply) {
  const uint32_t req = m.hdr.request;
  VuResult r = conn_.Send(m, fds, nfds);
  if (!r.ok()) return VuFail(r.code, Req(req) + ": " + r.message);
  const bool get = req == uint32_t(Request::kGetFeatures) ||
                   req == uint32_t(Request::kGetProtocolFeatures) ||
                   req == uint32_t(Request::kGetVringBase) ||
                   req == uint32_t(Request::kGetQueueNum) ||
                   req == uint32_t(Request::kGetConfig) || req == uint32_t(Request::kGetStatus);
  const bool ack = !get && (m.hdr.flags & kFlagNeedReply);
  if (!get && !ack) return VuResult::Ok();
  Message local;
  Message* in = reply != nullptr ? reply : &local;
  r = conn_.Recv(in, opts_.reply_timeout_ms);
  if (!r.ok()) return VuFail(r.code, "reply to " + Req(req) + ": " + r.message);
  if (in->nfds != 0) return VuFail(VuError::kBadFdCount, "reply to " + Req(req) + " carries fds");
  if (in->hdr.flags != (kVhostUserVersion | kFlagReply))
    return VuFail(VuError::kBadVersion, "reply to " + Req(req) + ": flags " + Hex(in->hdr.flags) +
                                            ", expected 0x5 (version 1, reply)");
  if (in->hdr.request != req)
    return VuFail(VuError::kUnexpectedReply,
                  "reply to " + Req(req) + " is for " + Req(in->hdr.request));
  if (ack || req != uint32_t(Request::kGetConfig)) {
    const uint32_t want = req == uint32_t(Request::kGetVringBase) ? sizeof(VringState) : 8;
    if (in->hdr.size != want)
      return VuFail(VuError::kUnexpectedReply, "reply to " + Req(req) + ": size " +
                                                   std::to_string(in->hdr.size) + ", expected " +
                                                   std::to_string(want));
  }
  if (ack && in->payload.u64 != 0)
    return VuFail(VuError::kNack, Req(req) + " refused by the back-end (reply-ack " +
                                      std::to_string(in->payload.u64) + ")");
  return VuResult::Ok();
}

VuResult Frontend::Simple(enum Request r, uint64_t* v, bool has_payload, bool want_ack) {
  Message m(r, want_ack && Acks() ? kFlagNeedReply : 0);
  if (has_payload) m.SetU64(*v);
  Message reply;
  VuResult res = Transact(m, nullptr, 0, &reply);
  if (res.ok() && !has_payload && v != nullptr) *v = reply.payload.u64;
  return res;
}

VuResult Frontend::SendState(enum Request r, uint32_t index, uint32_t num) {
  Message m(r, opts_.ack_all && Acks() ? kFlagNeedReply : 0);
  m.SetState(index, num);
  return Transact(m, nullptr, 0, nullptr);
}

VuResult Frontend::SendVringFd(enum Request r, uint32_t index, int fd) {
  Message m(r, opts_.ack_all && Acks() ? kFlagNeedReply : 0);
  m.SetU64((index & kVringIndexMask) | (fd >= 0 ? 0 : kVringNoFd));
  return fd >= 0 ? Transact(m, &fd, 1, nullptr) : Transact(m, nullptr, 0, nullptr);
}

VuResult Frontend::SetStatus(uint8_t status) {
  uint64_t v = status;
  return Simple(Request::kSetStatus, &v, true, true);  // DPDK asks for an ack here too
}

VuResult Frontend::Start(const FrontendOptions& opts, const std::vector<FrontendRegion>& regions,
                         const std::vector<FrontendQueue>& queues) {
  if (regions.empty() || regions.size() > kMaxRegions)
    return VuFail(VuError::kInvalidArgument, "between 1 and 8 memory regions are needed");
  for (const FrontendRegion& g : regions)
    if (g.fd < 0 || g.addr == nullptr || g.size == 0)
      return VuFail(VuError::kInvalidArgument, "memory region without fd, address or size");
  if (opts.protocol_features & ~kSupportedProtocolFeatures)
    return VuFail(VuError::kInvalidArgument, "protocol features " + Hex(opts.protocol_features) +
                                                 " include some this implementation lacks");
  for (const FrontendQueue& q : queues)
    if (q.index > kVringIndexMask)
      return VuFail(VuError::kInvalidArgument, "queue index over 255");
  opts_ = opts;
  regions_ = regions;
  queues_ = queues;
  running_ = false;
  protocol_features_ = 0;
  backend_queue_pairs_ = 0;
  if (!conn_.connected()) {
    if (conn_.role() != Connection::Role::kServer)
      return VuFail(VuError::kClosed, "start: not connected");
    VuResult r = conn_.Accept(opts_.accept_timeout_ms);
    if (!r.ok()) return r;
  }

  VuResult r = Simple(Request::kSetOwner, nullptr, false, false);
  if (!r.ok()) return r;
  uint64_t offered = 0;
  if (!(r = Simple(Request::kGetFeatures, &offered, false, false)).ok()) return r;
  device_features_ = offered;
  if (offered & Bit(kProtocolFeatures)) {
    uint64_t pf = 0;
    if (!(r = Simple(Request::kGetProtocolFeatures, &pf, false, false)).ok()) return r;
    backend_protocol_features_ = pf;
    uint64_t want = pf & opts_.protocol_features;
    // The back-end acks SET_PROTOCOL_FEATURES only once REPLY_ACK is on: not asked here.
    if (!(r = Simple(Request::kSetProtocolFeatures, &want, true, false)).ok()) return r;
    protocol_features_ = want;
  } else {
    backend_protocol_features_ = 0;
  }
  uint32_t max_index = 0;
  for (const FrontendQueue& q : queues_) max_index = std::max(max_index, q.index);
  if (protocol_features_ & Bit(kProtoMq)) {
    uint64_t n = 0;
    if (!(r = Simple(Request::kGetQueueNum, &n, false, false)).ok()) return r;
    backend_queue_pairs_ = uint32_t(n);
    if (!queues_.empty() && max_index / 2 + 1 > n)
      return VuFail(VuError::kBadFeatures, "the back-end has " + std::to_string(n) +
                                               " queue pairs, queue " + std::to_string(max_index) +
                                               " needs " + std::to_string(max_index / 2 + 1));
  }
  features_ = opts_.features & offered & ~Bit(kProtocolFeatures);
  uint64_t set = features_ | (offered & Bit(kProtocolFeatures));
  if (!(r = Simple(Request::kSetFeatures, &set, true, opts_.ack_all)).ok()) return r;
  const bool status = protocol_features_ & Bit(kProtoStatus);
  if (status) {
    if (!(r = SetStatus(kStatusAcknowledge | kStatusDriver | kStatusFeaturesOk)).ok()) return r;
    uint64_t st = 0;
    if (!(r = Simple(Request::kGetStatus, &st, false, false)).ok()) return r;
    if (!(st & kStatusFeaturesOk))
      return VuFail(VuError::kBadFeatures,
                    "the back-end cleared FEATURES_OK: features " + Hex(features_) + " refused");
  }

  Message mt(Request::kSetMemTable, Acks() ? kFlagNeedReply : 0);
  int fds[kMaxRegions];
  mt.payload.mem.nregions = uint32_t(regions_.size());
  for (size_t i = 0; i < regions_.size(); i++) {
    const uint64_t a = reinterpret_cast<uintptr_t>(regions_[i].addr);
    mt.payload.mem.regions[i] = VhostMemRegion{a, regions_[i].size, a, regions_[i].fd_offset};
    fds[i] = regions_[i].fd;
  }
  mt.hdr.size = kMemTableHeaderSize + uint32_t(regions_.size() * sizeof(VhostMemRegion));
  if (!(r = Transact(mt, fds, uint32_t(regions_.size()), nullptr)).ok()) return r;

  // DPDK virtio_user sends every SET_VRING_CALL first (DPDK's vhost allocates queue pairs
  // on it), then per queue NUM, BASE, ADDR, KICK.
  for (const FrontendQueue& q : queues_)
    if (!(r = SendVringFd(Request::kSetVringCall, q.index, q.call_fd)).ok()) return r;
  for (const FrontendQueue& q : queues_) {
    if (!(r = SendState(Request::kSetVringNum, q.index, q.num)).ok()) return r;
    if (!(r = SendState(Request::kSetVringBase, q.index, q.base)).ok()) return r;
    Message ma(Request::kSetVringAddr, opts_.ack_all && Acks() ? kFlagNeedReply : 0);
    ma.payload.addr = VringAddr{q.index, 0, q.desc, q.used, q.avail, 0};
    ma.hdr.size = sizeof(VringAddr);
    if (!(r = Transact(ma, nullptr, 0, nullptr)).ok()) return r;
    if (!(r = SendVringFd(Request::kSetVringKick, q.index, q.kick_fd)).ok()) return r;
  }
  if (offered & Bit(kProtocolFeatures))
    for (const FrontendQueue& q : queues_)
      if (!(r = SendState(Request::kSetVringEnable, q.index, 1)).ok()) return r;
  if (status &&
      !(r = SetStatus(kStatusAcknowledge | kStatusDriver | kStatusFeaturesOk | kStatusDriverOk))
           .ok())
    return r;
  running_ = true;
  return VuResult::Ok();
}

VuResult Frontend::Stop(std::vector<uint32_t>* bases) {
  if (bases) bases->clear();
  VuResult r;
  if (device_features_ & Bit(kProtocolFeatures))
    for (const FrontendQueue& q : queues_)
      if (!(r = SendState(Request::kSetVringEnable, q.index, 0)).ok()) return r;
  for (FrontendQueue& q : queues_) {
    Message m(Request::kGetVringBase);
    m.SetState(q.index, 0);
    Message reply;
    if (!(r = Transact(m, nullptr, 0, &reply)).ok()) return r;
    if (reply.payload.state.index != q.index)
      return VuFail(VuError::kUnexpectedReply, "GET_VRING_BASE for queue " +
                                                   std::to_string(q.index) + " answered for " +
                                                   std::to_string(reply.payload.state.index));
    q.base = reply.payload.state.num;
    if (bases) bases->push_back(q.base);
  }
  running_ = false;
  return VuResult::Ok();
}

void Frontend::SetQueueBase(uint32_t index, uint32_t base) {
  for (FrontendQueue& q : queues_)
    if (q.index == index) q.base = base;
}

bool Frontend::Disconnected() { return conn_.PeerClosed(); }

VuResult Frontend::Reconnect(int timeout_ms) {
  running_ = false;
  VuResult r = conn_.Reconnect(timeout_ms);
  if (!r.ok()) return r;
  const FrontendOptions opts = opts_;
  const std::vector<FrontendRegion> regions = regions_;
  const std::vector<FrontendQueue> queues = queues_;
  return Start(opts, regions, queues);
}

VuResult Frontend::GetConfig(uint32_t offset, uint32_t size, std::vector<uint8_t>* out) {
  if (!(protocol_features_ & Bit(kProtoConfig)))
    return VuFail(VuError::kUnsupported, "GET_CONFIG: PROTOCOL_F_CONFIG not negotiated");
  if (size > kMaxConfigSize) return VuFail(VuError::kInvalidArgument, "GET_CONFIG: size over 256");
  Message m(Request::kGetConfig);
  m.payload.config.offset = offset;
  m.payload.config.size = size;
  m.hdr.size = kConfigHeaderSize + size;
  Message reply;
  VuResult r = Transact(m, nullptr, 0, &reply);
  if (!r.ok()) return r;
  if (reply.hdr.size == 0) return VuFail(VuError::kNack, "GET_CONFIG refused (empty reply)");
  if (reply.hdr.size != kConfigHeaderSize + size || reply.payload.config.size != size)
    return VuFail(VuError::kUnexpectedReply, "GET_CONFIG reply size " +
                                                 std::to_string(reply.hdr.size) + ", expected " +
                                                 std::to_string(kConfigHeaderSize + size));
  out->assign(reply.payload.config.payload, reply.payload.config.payload + size);
  return VuResult::Ok();
}

// ---------------------------------------------------------------------------------------
// Backend

Backend::Backend(BackendConfig cfg, BackendObserver* observer)
    : cfg_(std::move(cfg)), observer_(observer != nullptr ? observer : &default_observer_) {
  if (cfg_.max_queue_pairs == 0) cfg_.max_queue_pairs = 1;
  if (cfg_.max_queue_pairs > 128) cfg_.max_queue_pairs = 128;  // indexes fit 8 bits
  cfg_.protocol_features &= kSupportedProtocolFeatures;
  if (cfg_.config.size() > kMaxConfigSize) cfg_.config.resize(kMaxConfigSize);
  queues_.resize(2 * cfg_.max_queue_pairs);
}

Backend::~Backend() { Reset(); }

void Backend::Attach(Connection conn) {
  Reset();
  conn_ = std::move(conn);
  if (conn_.connected()) stats_.connections++;
}

void Backend::Disconnect() {
  Reset();
  conn_.Disconnect();
}

void Backend::UnmapAll() {
  for (uint32_t i = 0; i < mem_.nregions; i++)
    if (mem_.regions[i].map_base != nullptr) ::munmap(mem_.regions[i].map_base, mem_.regions[i].map_len);
  mem_ = VhostMemory{};
}

void Backend::Reset() {
  const bool had = features_set_ || owner_ || mem_.nregions > 0;
  StopAll(StopReason::kDisconnect);
  for (QueueState& q : queues_) {
    CloseQuiet(q.kick_fd);
    CloseQuiet(q.call_fd);
    q = QueueState{};
  }
  UnmapAll();
  features_ = 0;
  protocol_features_ = 0;
  features_set_ = false;
  owner_ = false;
  status_ = 0;
  if (had) observer_->Disconnected();
}

void Backend::StopQueue(uint32_t index, StopReason why) {
  QueueState& q = queues_[index];
  if (!q.ready) return;
  q.base = observer_->QueueStopped(index, q, why);
  q.ready = false;
}

void Backend::StopAll(StopReason why) {
  for (uint32_t i = 0; i < queues_.size(); i++) StopQueue(i, why);
}

void Backend::UpdateReady() {
  const bool driver_ok = !(protocol_features_ & Bit(kProtoStatus)) || (status_ & kStatusDriverOk);
  for (uint32_t i = 0; i < queues_.size(); i++) {
    QueueState& q = queues_[i];
    const bool ready = driver_ok && q.num != 0 && q.desc != nullptr && q.kick_set && q.call_set &&
                       q.enabled && mem_.nregions > 0;
    if (ready && !q.ready) {
      q.ready = true;
      observer_->QueueReady(i, q);
    } else if (!ready && q.ready) {
      StopQueue(i, (protocol_features_ & Bit(kProtoStatus)) && !(status_ & kStatusDriverOk)
                       ? StopReason::kStatus
                       : StopReason::kReconfigured);
    }
  }
}

// Translates queue `index`'s ring addresses for its current size; on failure the pointers
// are cleared and the reason returned. Needs num, addresses and the memory table.
VuResult Backend::Translate(uint32_t index) {
  QueueState& q = queues_[index];
  q.desc = q.avail = q.used = nullptr;
  if (!q.addr_set || q.num == 0 || mem_.nregions == 0) return VuResult::Ok();  // later
  const uint64_t n = q.num;
  const bool packed = features_ & Bit(kRingPacked);
  const bool event_idx = features_ & Bit(kRingEventIdx);
  uint64_t desc_len = 16 * n, avail_len, used_len;
  uint64_t avail_align = 2, used_align = 4;
  if (packed) {
    avail_len = used_len = 4;  // driver / device event suppression structures
    avail_align = used_align = 4;
  } else {
    avail_len = 4 + 2 * n + (event_idx ? 2 : 0);
    used_len = 4 + 8 * n + (event_idx ? 2 : 0);
  }
  struct Part {
    const char* name;
    uint64_t addr, len, align;
    void** out;
  } parts[] = {{"descriptor table", q.addr.desc, desc_len, 16, &q.desc},
               {packed ? "driver event area" : "available ring", q.addr.avail, avail_len,
                avail_align, &q.avail},
               {packed ? "device event area" : "used ring", q.addr.used, used_len, used_align,
                &q.used}};
  for (Part& p : parts) {
    if (p.addr % p.align != 0) {
      q.desc = q.avail = q.used = nullptr;
      return VuFail(VuError::kBadAddress, "queue " + std::to_string(index) + " " + p.name + " at " +
                                              Hex(p.addr) + " is not " + std::to_string(p.align) +
                                              "-byte aligned");
    }
    *p.out = mem_.TranslateUva(p.addr, p.len);
    if (*p.out == nullptr) {
      q.desc = q.avail = q.used = nullptr;
      return VuFail(VuError::kBadAddress, "queue " + std::to_string(index) + " " + p.name +
                                              " [" + Hex(p.addr) + ", +" + std::to_string(p.len) +
                                              ") is not inside one memory region");
    }
  }
  return VuResult::Ok();
}

VuResult Backend::SetMemTable(Message& m) {
  const MemTable& t = m.payload.mem;
  if (t.nregions == 0 || t.nregions > kMaxRegions)
    return VuFail(VuError::kTooManyRegions, "SET_MEM_TABLE: " + std::to_string(t.nregions) +
                                                " regions, must be 1 to 8");
  const uint32_t exact = kMemTableHeaderSize + t.nregions * uint32_t(sizeof(VhostMemRegion));
  if (m.hdr.size != exact && m.hdr.size != sizeof(MemTable))
    return VuFail(VuError::kBadSize, "SET_MEM_TABLE: size " + std::to_string(m.hdr.size) +
                                         " for " + std::to_string(t.nregions) + " regions, expected " +
                                         std::to_string(exact));
  if (m.nfds != t.nregions)
    return VuFail(VuError::kBadFdCount, "SET_MEM_TABLE: " + std::to_string(m.nfds) + " fds for " +
                                            std::to_string(t.nregions) + " regions");
  for (uint32_t i = 0; i < t.nregions; i++) {
    const VhostMemRegion& r = t.regions[i];
    const std::string name = "SET_MEM_TABLE: region " + std::to_string(i);
    if (r.memory_size == 0) return VuFail(VuError::kBadRegion, name + " has size 0");
    if (r.guest_phys_addr + r.memory_size < r.guest_phys_addr ||
        r.userspace_addr + r.memory_size < r.userspace_addr ||
        r.mmap_offset + r.memory_size < r.mmap_offset)
      return VuFail(VuError::kBadRegion, name + ": address + size overflows");
    struct stat st;
    if (::fstat(m.fds[i], &st) != 0) return VuFail(VuError::kBadRegion, Errno(name + " fstat"));
    if (!S_ISREG(st.st_mode))
      return VuFail(VuError::kBadRegion, name + ": fd is not a memory file (memfd, hugetlbfs)");
    if (r.mmap_offset + r.memory_size > uint64_t(st.st_size))
      return VuFail(VuError::kBadRegion, name + ": mmap_offset " + Hex(r.mmap_offset) + " + size " +
                                             Hex(r.memory_size) + " is beyond the file's " +
                                             Hex(uint64_t(st.st_size)) + " bytes");
    for (uint32_t j = 0; j < i; j++) {
      const VhostMemRegion& o = t.regions[j];
      const bool gpa = r.guest_phys_addr < o.guest_phys_addr + o.memory_size &&
                       o.guest_phys_addr < r.guest_phys_addr + r.memory_size;
      const bool uva = r.userspace_addr < o.userspace_addr + o.memory_size &&
                       o.userspace_addr < r.userspace_addr + r.memory_size;
      if (gpa || uva)
        return VuFail(VuError::kBadRegion, name + " overlaps region " + std::to_string(j) + " in " +
                                               (gpa ? "guest physical" : "user") + " addresses");
    }
  }
  VhostMemory next;
  for (uint32_t i = 0; i < t.nregions; i++) {
    const VhostMemRegion& r = t.regions[i];
    struct stat st;
    ::fstat(m.fds[i], &st);
    // Map from file offset 0 so that the offset needs no alignment (as DPDK does); the
    // length is rounded to the file's block size (the huge page size on hugetlbfs).
    const uint64_t blk = st.st_blksize > 0 ? uint64_t(st.st_blksize) : 4096;
    const uint64_t len = AlignUp(r.mmap_offset + r.memory_size, blk);
    void* p = ::mmap(nullptr, len, PROT_READ | PROT_WRITE, MAP_SHARED, m.fds[i], 0);
    if (p == MAP_FAILED) {
      VuResult e = VuFail(VuError::kBadRegion, Errno("SET_MEM_TABLE: mmap of region " + std::to_string(i)));
      for (uint32_t j = 0; j < next.nregions; j++) ::munmap(next.regions[j].map_base, next.regions[j].map_len);
      return e;
    }
    MappedRegion& g = next.regions[next.nregions++];
    g.guest_phys_addr = r.guest_phys_addr;
    g.userspace_addr = r.userspace_addr;
    g.size = r.memory_size;
    g.mmap_offset = r.mmap_offset;
    g.map_base = p;
    g.map_len = size_t(len);
    g.host = static_cast<uint8_t*>(p) + r.mmap_offset;
  }
  m.CloseFds();  // the mappings stay valid without them
  // Queues running on the old table stop first; their pointers are translated again.
  StopAll(StopReason::kReconfigured);
  UnmapAll();
  mem_ = next;
  VuResult first_bad;
  for (uint32_t i = 0; i < queues_.size(); i++) {
    VuResult r = Translate(i);
    if (!r.ok() && first_bad.ok()) first_bad = r;
  }
  observer_->MemoryChanged(mem_);
  return first_bad;  // a ring now outside the memory is refused (it stays unusable)
}

VuResult Backend::SetVringAddr(const VringAddr& a) {
  if (a.index >= queues_.size())
    return VuFail(VuError::kBadIndex, "SET_VRING_ADDR: queue " + std::to_string(a.index) +
                                          " over the " + std::to_string(queues_.size()) + " queues");
  if (a.flags & ~1u)
    return VuFail(VuError::kBadValue, "SET_VRING_ADDR: unknown flags " + Hex(a.flags));
  StopQueue(a.index, StopReason::kReconfigured);
  QueueState& q = queues_[a.index];
  q.addr = a;
  q.addr_set = true;
  VuResult r = Translate(a.index);
  if (!r.ok()) return VuFail(r.code, "SET_VRING_ADDR: " + r.message);
  return r;
}

VuResult Backend::SetVringFd(Message& m, bool kick) {
  const char* name = kick ? "SET_VRING_KICK" : "SET_VRING_CALL";
  const uint64_t v = m.payload.u64;
  if (v & ~(kVringIndexMask | kVringNoFd))
    return VuFail(VuError::kBadValue, std::string(name) + ": reserved bits set in " + Hex(v));
  const uint32_t index = uint32_t(v & kVringIndexMask);
  const uint32_t want = (v & kVringNoFd) ? 0 : 1;
  if (m.nfds != want)
    return VuFail(VuError::kBadFdCount, std::string(name) + ": " + std::to_string(m.nfds) +
                                            " fds, expected " + std::to_string(want) +
                                            (want ? "" : " (no-fd flag set)"));
  if (index >= queues_.size())
    return VuFail(VuError::kBadIndex, std::string(name) + ": queue " + std::to_string(index) +
                                          " over the " + std::to_string(queues_.size()) + " queues");
  if (want) {
    if (const char* kind = NotEventfd(m.fds[0]))
      return VuFail(VuError::kBadFdKind, std::string(name) + ": queue " + std::to_string(index) +
                                             ": the fd is " + kind + ", not an eventfd");
  }
  StopQueue(index, StopReason::kReconfigured);
  QueueState& q = queues_[index];
  int& slot = kick ? q.kick_fd : q.call_fd;
  CloseQuiet(slot);
  slot = want ? m.TakeFd(0) : -1;
  if (kick) {
    q.kick_set = true;  // the ring is started
    if (!(features_ & Bit(kProtocolFeatures))) q.enabled = true;
  } else {
    q.call_set = true;
  }
  return VuResult::Ok();
}

VuResult Backend::Dispatch(Message& m, Message* reply, bool* has_reply) {
  const uint32_t req = m.hdr.request;
  const std::string name = Req(req);
  auto size_is = [&](uint32_t n) -> VuResult {
    if (m.hdr.size == n) return VuResult::Ok();
    return VuFail(VuError::kBadSize, name + ": payload size " + std::to_string(m.hdr.size) +
                                         ", expected " + std::to_string(n));
  };
  auto fds_none = [&]() -> VuResult {
    if (m.nfds == 0) return VuResult::Ok();
    return VuFail(VuError::kBadFdCount, name + ": " + std::to_string(m.nfds) +
                                            " unexpected file descriptors");
  };
  auto answer_u64 = [&](uint64_t v) {
    *reply = Message(static_cast<enum Request>(req));
    reply->SetU64(v);
    *has_reply = true;
  };
  auto check = [&](uint32_t size) -> VuResult {
    VuResult r = size_is(size);
    return r.ok() ? fds_none() : r;
  };
  auto queue_index = [&](uint32_t index) -> VuResult {
    if (index < queues_.size()) return VuResult::Ok();
    return VuFail(VuError::kBadIndex, name + ": queue " + std::to_string(index) + " over the " +
                                          std::to_string(queues_.size()) + " queues");
  };
  const bool proto = cfg_.features & Bit(kProtocolFeatures);
  VuResult r;
  switch (static_cast<enum Request>(req)) {
    case Request::kGetFeatures:
      if (!(r = check(0)).ok()) return r;
      answer_u64(cfg_.features);
      return r;
    case Request::kSetFeatures: {
      if (!(r = check(8)).ok()) return r;
      const uint64_t f = m.payload.u64;
      if (f & ~cfg_.features)
        return VuFail(VuError::kBadFeatures, "SET_FEATURES: " + Hex(f & ~cfg_.features) +
                                                 " not offered (offered " + Hex(cfg_.features) + ")");
      for (const QueueState& q : queues_)
        if (q.ready && f != features_)
          return VuFail(VuError::kBadFeatures, "SET_FEATURES: features change while queues run");
      features_ = f;
      features_set_ = true;
      return r;
    }
    case Request::kSetOwner:
      if (!(r = check(0)).ok()) return r;
      owner_ = true;
      return r;
    case Request::kResetOwner:  // deprecated; the spec suggests disabling the rings
      if (!(r = check(0)).ok()) return r;
      StopAll(StopReason::kReset);
      for (QueueState& q : queues_) q.enabled = false;
      return r;
    case Request::kSetMemTable:
      return SetMemTable(m);
    case Request::kSetVringNum: {
      if (!(r = check(8)).ok() || !(r = queue_index(m.payload.state.index)).ok()) return r;
      const uint32_t n = m.payload.state.num;
      const bool packed = features_ & Bit(kRingPacked);
      if (n == 0 || n > kMaxRingSize || (!packed && (n & (n - 1)) != 0))
        return VuFail(VuError::kBadValue, "SET_VRING_NUM: ring size " + std::to_string(n) +
                                              (packed ? " must be 1 to 32768"
                                                      : " must be a power of two up to 32768"));
      StopQueue(m.payload.state.index, StopReason::kReconfigured);
      queues_[m.payload.state.index].num = n;
      r = Translate(m.payload.state.index);
      if (!r.ok()) return VuFail(r.code, "SET_VRING_NUM: " + r.message);
      return r;
    }
    case Request::kSetVringAddr:
      if (!(r = check(sizeof(VringAddr))).ok()) return r;
      return SetVringAddr(m.payload.addr);
    case Request::kSetVringBase: {
      if (!(r = check(8)).ok() || !(r = queue_index(m.payload.state.index)).ok()) return r;
      // A split ring's base is the 16-bit avail index. A packed ring's is 32 bits: QEMU
      // (virtio_queue_packed_get_last_avail_idx) sends the avail position and wrap counter
      // in the low half and the used ones in the high half, DPDK virtio_user the low half
      // only; the device queue checks the positions against the ring size.
      if (m.payload.state.num > 0xffff && !(features_ & Bit(kRingPacked)))
        return VuFail(VuError::kBadValue, "SET_VRING_BASE: base " + std::to_string(m.payload.state.num) +
                                              " over 65535 (a split ring's base is 16 bits)");
      StopQueue(m.payload.state.index, StopReason::kReconfigured);
      queues_[m.payload.state.index].base = m.payload.state.num;
      return r;
    }
    case Request::kGetVringBase: {
      if (!(r = check(8)).ok() || !(r = queue_index(m.payload.state.index)).ok()) return r;
      const uint32_t i = m.payload.state.index;
      StopQueue(i, StopReason::kGetVringBase);
      QueueState& q = queues_[i];
      // Stopped: a new SET_VRING_KICK starts it again (DPDK closes both fds here too).
      CloseQuiet(q.kick_fd);
      CloseQuiet(q.call_fd);
      q.kick_fd = q.call_fd = -1;
      q.kick_set = q.call_set = false;
      *reply = Message(Request::kGetVringBase);
      reply->SetState(i, q.base);
      *has_reply = true;
      return r;
    }
    case Request::kSetVringKick:
    case Request::kSetVringCall:
      if (!(r = size_is(8)).ok()) return r;
      return SetVringFd(m, req == uint32_t(Request::kSetVringKick));
    case Request::kSetVringErr: {
      if (!(r = size_is(8)).ok()) return r;
      const uint64_t v = m.payload.u64;
      const uint32_t want = (v & kVringNoFd) ? 0 : 1;
      if (m.nfds != want)
        return VuFail(VuError::kBadFdCount, "SET_VRING_ERR: " + std::to_string(m.nfds) +
                                                " fds, expected " + std::to_string(want));
      if (!(r = queue_index(uint32_t(v & kVringIndexMask))).ok()) return r;
      m.CloseFds();  // errors are not signalled by this device
      return r;
    }
    case Request::kGetProtocolFeatures:
      if (!(r = check(0)).ok()) return r;
      if (!proto)
        return VuFail(VuError::kUnsupported, "GET_PROTOCOL_FEATURES: PROTOCOL_FEATURES not offered");
      answer_u64(cfg_.protocol_features);
      return r;
    case Request::kSetProtocolFeatures: {
      if (!(r = check(8)).ok()) return r;
      if (!proto)
        return VuFail(VuError::kUnsupported, "SET_PROTOCOL_FEATURES: PROTOCOL_FEATURES not offered");
      const uint64_t f = m.payload.u64;
      if (f & ~cfg_.protocol_features)
        return VuFail(VuError::kBadFeatures, "SET_PROTOCOL_FEATURES: " +
                                                 Hex(f & ~cfg_.protocol_features) +
                                                 " not offered (offered " +
                                                 Hex(cfg_.protocol_features) + ")");
      protocol_features_ = f;
      return r;
    }
    case Request::kGetQueueNum:
      if (!(r = check(0)).ok()) return r;
      if (!(protocol_features_ & Bit(kProtoMq)))
        return VuFail(VuError::kUnsupported, "GET_QUEUE_NUM: PROTOCOL_F_MQ not negotiated");
      answer_u64(cfg_.max_queue_pairs);
      return r;
    case Request::kSetVringEnable: {
      if (!(r = check(8)).ok() || !(r = queue_index(m.payload.state.index)).ok()) return r;
      if (m.payload.state.num > 1)
        return VuFail(VuError::kBadValue, "SET_VRING_ENABLE: value " +
                                              std::to_string(m.payload.state.num) + ", must be 0 or 1");
      QueueState& q = queues_[m.payload.state.index];
      if (!m.payload.state.num) StopQueue(m.payload.state.index, StopReason::kDisabled);
      q.enabled = m.payload.state.num != 0;
      return r;
    }
    case Request::kGetConfig:
    case Request::kSetConfig: {
      if (!(r = fds_none()).ok()) return r;
      if (!(protocol_features_ & Bit(kProtoConfig)))
        return VuFail(VuError::kUnsupported, name + ": PROTOCOL_F_CONFIG not negotiated");
      const ConfigSpace& c = m.payload.config;
      if (m.hdr.size < kConfigHeaderSize || c.size > kMaxConfigSize ||
          m.hdr.size != kConfigHeaderSize + c.size)
        return VuFail(VuError::kBadSize, name + ": payload size " + std::to_string(m.hdr.size) +
                                             " for a config size of " + std::to_string(c.size));
      const bool in_range = uint64_t(c.offset) + c.size <= cfg_.config.size();
      if (req == uint32_t(Request::kSetConfig)) {
        if (c.flags != 1)
          return VuFail(VuError::kUnsupported, "SET_CONFIG: the net config space is read-only");
        if (!in_range) return VuFail(VuError::kBadValue, "SET_CONFIG: range beyond the config space");
        std::memcpy(cfg_.config.data() + c.offset, c.payload, c.size);
        return r;
      }
      *reply = Message(Request::kGetConfig);
      *has_reply = true;
      if (!in_range) {  // a zero-length reply is the protocol's error indication
        reply->hdr.size = 0;
        return VuFail(VuError::kBadValue, "GET_CONFIG: range beyond the config space");
      }
      reply->payload.config.offset = c.offset;
      reply->payload.config.size = c.size;
      reply->payload.config.flags = c.flags;
      std::memcpy(reply->payload.config.payload, cfg_.config.data() + c.offset, c.size);
      reply->hdr.size = kConfigHeaderSize + c.size;
      return r;
    }
    case Request::kSetStatus: {
      if (!(r = check(8)).ok()) return r;
      if (!(protocol_features_ & Bit(kProtoStatus)))
        return VuFail(VuError::kUnsupported, "SET_STATUS: PROTOCOL_F_STATUS not negotiated");
      if (m.payload.u64 > 0xff)
        return VuFail(VuError::kBadValue, "SET_STATUS: status " + Hex(m.payload.u64) + " over 8 bits");
      status_ = uint8_t(m.payload.u64);
      if ((status_ & kStatusFeaturesOk) && !features_set_) status_ &= ~kStatusFeaturesOk;
      return r;
    }
    case Request::kGetStatus:
      if (!(r = check(0)).ok()) return r;
      if (!(protocol_features_ & Bit(kProtoStatus)))
        return VuFail(VuError::kUnsupported, "GET_STATUS: PROTOCOL_F_STATUS not negotiated");
      answer_u64(status_);
      return r;
    default:
      return VuFail(VuError::kUnsupported, name + " (request " + std::to_string(req) +
                                               ") is not supported by this back-end");
  }
}

VuResult Backend::Handle(Message& m, Message* reply, bool* send_reply) {
  *send_reply = false;
  stats_.messages++;
  const uint32_t req = m.hdr.request;
  if ((m.hdr.flags & kFlagVersionMask) != kVhostUserVersion || (m.hdr.flags & kFlagReply)) {
    stats_.errors++;
    return VuFail(VuError::kBadVersion, Req(req) + ": header flags " + Hex(m.hdr.flags) +
                                            " (version must be 1, reply bit clear)");
  }
  const bool need_reply = m.hdr.flags & kFlagNeedReply;
  bool has_reply = false;
  VuResult r = Dispatch(m, reply, &has_reply);
  m.CloseFds();  // whatever a handler did not take
  if (!r.ok() && r.code == VuError::kUnsupported &&
      std::strcmp(RequestName(req), "UNKNOWN") == 0 && !need_reply) {
    stats_.ignored++;  // an unknown request without a reply wanted: ignored
    return VuResult::Ok();
  }
  if (!r.ok()) stats_.errors++;
  if (has_reply) {
    *send_reply = true;  // GET_CONFIG's error reply is an empty payload
    reply->hdr.flags = kVhostUserVersion | kFlagReply;
    return r;
  }
  if (need_reply) {
    // REPLY_ACK: 0 success, non-zero failure. Sent whenever the front-end asked, even before
    // REPLY_ACK is negotiated (DPDK does the same): it is waiting for an answer.
    *reply = Message(static_cast<enum Request>(req));
    reply->SetU64(r.ok() ? 0 : 1);
    reply->hdr.flags = kVhostUserVersion | kFlagReply;  // exactly 0x5: DPDK checks it
    *send_reply = true;
  }
  return r;
}

VuResult Backend::ServiceOne(Message& m) {
  Message reply;
  bool send = false;
  VuResult r = Handle(m, &reply, &send);
  if (send) {
    VuResult s = conn_.Send(reply);
    if (!s.ok() && r.ok()) r = s;
  }
  if (!r.ok()) {
    last_error_ = r;
    // Refused with a nack (or an empty GET_CONFIG reply): the front-end knows, keep going.
    // Otherwise the front-end cannot know: drop the connection, as DPDK does.
    if (!send) {
      Reset();
      conn_.Disconnect();
    }
  }
  UpdateReady();
  return r;
}

VuResult Backend::Service(int timeout_ms, uint32_t* handled) {
  if (handled) *handled = 0;
  if (!conn_.connected()) {
    if (conn_.role() == Connection::Role::kServer) {
      VuResult r = conn_.Accept(timeout_ms);
      if (!r.ok()) return r.code == VuError::kTimeout ? VuResult::Ok() : r;
      stats_.connections++;
    } else if (conn_.role() == Connection::Role::kClient) {
      const int64_t now = NowNs();
      if (now < next_reconnect_ns_) return VuResult::Ok();
      next_reconnect_ns_ = now + int64_t(cfg_.reconnect_ms) * 1000000;
      VuResult r = conn_.Reconnect(0);
      if (!r.ok()) return r.code == VuError::kTimeout ? VuResult::Ok() : r;
      stats_.connections++;
    } else {
      return VuFail(VuError::kClosed, "not connected");
    }
  }
  bool first = true;
  for (;;) {
    Message m;
    bool got = false;
    VuResult r = conn_.TryRecv(&m, &got);
    if (r.ok() && !got && first && timeout_ms != 0) {
      r = conn_.Recv(&m, timeout_ms);
      got = r.ok();
      if (r.code == VuError::kTimeout && conn_.connected()) return VuResult::Ok();
    }
    first = false;
    if (!r.ok()) {
      if (r.code != VuError::kClosed) last_error_ = r;
      Reset();
      conn_.Disconnect();
      return r;
    }
    if (!got) return VuResult::Ok();
    r = ServiceOne(m);
    if (handled) (*handled)++;
    if (!r.ok()) return r;
    if (!conn_.connected()) return VuFail(VuError::kClosed, "connection dropped");
  }
}

}  // namespace vnf::virtio
