// vhost-user control protocol (QEMU docs/interop/vhost-user.rst, protocol version 1): the
// message codec with file descriptors over a UNIX stream socket, the connection in client or
// server role, a front-end (the side that owns the rings and the memory, as DPDK's
// virtio_user) and a back-end (the side that maps the front-end's memory and processes the
// rings, as DPDK's net_vhost). Independent of the ring code: the back-end hands translated
// ring pointers to a BackendObserver and asks it for the ring position when a ring stops.
//
// Every message received is validated before anything acts on it: the header version, the
// payload size the request defines, the number of file descriptors the request carries,
// region and ring bounds. Failures are a VuResult: a typed code and a sentence saying why.
//
// Threading: a Connection, a Frontend and a Backend are each used by one thread at a time.
// A Backend is meant to be serviced from its data-path thread between bursts (Service with
// timeout 0 never blocks); its observer callbacks run on that thread, inside Service.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "virtio/virtio_net.h"

namespace vnf::virtio {

// ---------------------------------------------------------------------------------------
// Protocol constants

enum class Request : uint32_t {
  kNone = 0,
  kGetFeatures = 1,
  kSetFeatures = 2,
  kSetOwner = 3,
  kResetOwner = 4,
  kSetMemTable = 5,
  kSetLogBase = 6,
  kSetLogFd = 7,
  kSetVringNum = 8,
  kSetVringAddr = 9,
  kSetVringBase = 10,
  kGetVringBase = 11,
  kSetVringKick = 12,
  kSetVringCall = 13,
  kSetVringErr = 14,
  kGetProtocolFeatures = 15,
  kSetProtocolFeatures = 16,
  kGetQueueNum = 17,
  kSetVringEnable = 18,
  kSendRarp = 19,
  kNetSetMtu = 20,
  kSetBackendReqFd = 21,
  kIotlbMsg = 22,
  kSetVringEndian = 23,
  kGetConfig = 24,
  kSetConfig = 25,
  kGetInflightFd = 31,
  kSetInflightFd = 32,
  kResetDevice = 34,
  kVringKick = 35,
  kGetMaxMemSlots = 36,
  kAddMemReg = 37,
  kRemMemReg = 38,
  kSetStatus = 39,
  kGetStatus = 40,
};
const char* RequestName(uint32_t request);

// Protocol feature bits (VHOST_USER_PROTOCOL_F_*), negotiated by GET/SET_PROTOCOL_FEATURES
// once the device feature kProtocolFeatures (bit 30) is offered.
enum ProtocolFeature : uint32_t {
  kProtoMq = 0,
  kProtoLogShmfd = 1,
  kProtoRarp = 2,
  kProtoReplyAck = 3,
  kProtoNetMtu = 4,
  kProtoBackendReq = 5,
  kProtoCrossEndian = 6,
  kProtoCryptoSession = 7,
  kProtoPagefault = 8,
  kProtoConfig = 9,
  kProtoBackendSendFd = 10,
  kProtoHostNotifier = 11,
  kProtoInflightShmfd = 12,
  kProtoResetDevice = 13,
  kProtoInbandNotifications = 14,
  kProtoConfigureMemSlots = 15,
  kProtoStatus = 16,
};
// What this implementation can negotiate.
constexpr uint64_t kSupportedProtocolFeatures =
    Bit(kProtoMq) | Bit(kProtoReplyAck) | Bit(kProtoConfig) | Bit(kProtoStatus);

constexpr uint32_t kVhostUserVersion = 1;
constexpr uint32_t kFlagVersionMask = 0x3;
constexpr uint32_t kFlagReply = 0x4;
constexpr uint32_t kFlagNeedReply = 0x8;

constexpr uint32_t kMaxRegions = 8;      // VHOST_MEMORY_MAX_NREGIONS
constexpr uint32_t kMaxFds = 8;          // file descriptors per message
constexpr uint32_t kMaxConfigSize = 256;  // VHOST_USER_MAX_CONFIG_SIZE
constexpr uint32_t kMaxRingSize = 32768;  // virtio 1.x queue size limit
constexpr uint64_t kVringIndexMask = 0xff;  // SET_VRING_KICK/CALL/ERR payload: index bits 0-7
constexpr uint64_t kVringNoFd = 1u << 8;    // ... and bit 8: no fd attached (polling)
constexpr uint32_t kPackedWrapBit = 1u << 15;  // packed ring: wrap counter in vring base bit 15

// ---------------------------------------------------------------------------------------
// Wire format (native byte order, which static_assert in virtio_net.h pins to little-endian)

struct MsgHeader {
  uint32_t request;
  uint32_t flags;
  uint32_t size;  // payload bytes that follow
};
struct VringState {
  uint32_t index;
  uint32_t num;
};
struct VringAddr {
  uint32_t index;
  uint32_t flags;  // bit 0: VHOST_VRING_F_LOG
  uint64_t desc;   // ring addresses are front-end user (virtual) addresses
  uint64_t used;
  uint64_t avail;
  uint64_t log;
};
struct VhostMemRegion {
  uint64_t guest_phys_addr;
  uint64_t memory_size;
  uint64_t userspace_addr;
  uint64_t mmap_offset;
};
struct MemTable {
  uint32_t nregions;
  uint32_t padding;
  VhostMemRegion regions[kMaxRegions];
};
struct ConfigSpace {
  uint32_t offset;
  uint32_t size;
  uint32_t flags;  // 0: writable fields, 1: live migration
  uint8_t payload[kMaxConfigSize];
};
constexpr uint32_t kHeaderSize = sizeof(MsgHeader);
constexpr uint32_t kConfigHeaderSize = 12;
constexpr uint32_t kMemTableHeaderSize = 8;
constexpr uint32_t kMaxPayload = sizeof(ConfigSpace);  // the largest payload we accept
static_assert(sizeof(MsgHeader) == 12 && sizeof(VringState) == 8 && sizeof(VringAddr) == 40 &&
              sizeof(VhostMemRegion) == 32 && sizeof(MemTable) == 8 + 8 * 32 &&
              sizeof(ConfigSpace) == 12 + 256);

// One message with the descriptors that came with it. The message owns its fds: the
// destructor closes those not taken with TakeFd.
struct Message {
  MsgHeader hdr{};
  union {
    uint64_t u64;
    VringState state;
    VringAddr addr;
    MemTable mem;
    ConfigSpace config;
    uint8_t raw[kMaxPayload];
  } payload;
  int fds[kMaxFds];
  uint32_t nfds = 0;

  Message();
  Message(Request r, uint32_t flags = 0);
  ~Message();
  Message(Message&& o) noexcept;
  Message& operator=(Message&& o) noexcept;
  Message(const Message&) = delete;
  Message& operator=(const Message&) = delete;

  Request request() const { return static_cast<Request>(hdr.request); }
  void SetU64(uint64_t v);
  void SetState(uint32_t index, uint32_t num);
  int TakeFd(uint32_t i);  // ownership to the caller; -1 if none
  void CloseFds();
};

// ---------------------------------------------------------------------------------------
// Errors

enum class VuError : int32_t {
  kOk = 0,
  kSystem,           // a system call failed (errno text in the message)
  kClosed,           // the peer closed the connection / no connection
  kTimeout,          // nothing (complete) arrived in time
  kTruncated,        // the connection ended in the middle of a message
  kBadVersion,       // header flags: version is not 1, or reply flags wrong
  kBadSize,          // payload size does not match the request
  kBadFdCount,       // number of file descriptors does not match the request
  kBadFdKind,        // a vring kick / call fd that is not an eventfd
  kTooManyRegions,   // nregions > 8 or 0
  kBadRegion,        // zero size, overflow, beyond the file, overlap, mmap failure
  kBadAddress,       // an address outside the memory regions, or misaligned
  kBadIndex,         // vring index out of range
  kBadValue,         // a field out of its range (ring size, base, status...)
  kBadFeatures,      // features not offered / protocol features not negotiated
  kUnsupported,      // request not supported in this state or at all
  kNack,             // the back-end answered REPLY_ACK with a failure
  kUnexpectedReply,  // a reply for another request, or of the wrong size
  kInvalidArgument,  // a bad argument to our own API
};
const char* VuErrorName(VuError e);

struct VuResult {
  VuError code = VuError::kOk;
  std::string message;
  bool ok() const { return code == VuError::kOk; }
  static VuResult Ok() { return {}; }
};
VuResult VuFail(VuError code, std::string message);

// ---------------------------------------------------------------------------------------
// Connection: one UNIX stream socket to the peer, in client or server role.

class Connection {
 public:
  enum class Role { kNone, kClient, kServer, kFd };

  Connection() = default;
  ~Connection();
  Connection(Connection&& o) noexcept;
  Connection& operator=(Connection&& o) noexcept;
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  // Client: connects to path, retrying every retry_ms until timeout_ms (0: one attempt).
  static VuResult Connect(const std::string& path, int timeout_ms, Connection* out,
                          int retry_ms = 20);
  // Server: binds and listens on path (a stale socket file there is removed; any other file
  // is an error). Peers are taken with Accept / Service-time TryAccept.
  static VuResult Listen(const std::string& path, Connection* out);
  // An already connected socket (socketpair, inherited fd); takes ownership.
  static Connection FromFd(int fd);

  // Server role: waits up to timeout_ms for a peer (0: poll once; kTimeout if none).
  // An existing peer connection is closed first.
  VuResult Accept(int timeout_ms);
  // Client: connect again (retrying); server: accept a new peer; fd role: kClosed.
  VuResult Reconnect(int timeout_ms);
  void Disconnect();  // closes the peer socket, keeps the listener; drops partial input

  bool connected() const { return fd_ >= 0; }
  int fd() const { return fd_; }
  int listen_fd() const { return listen_fd_; }
  Role role() const { return role_; }
  const std::string& path() const { return path_; }

  // Sends header + hdr.size payload bytes and nfds descriptors (not closed).
  VuResult Send(const Message& m, const int* fds = nullptr, uint32_t nfds = 0);
  // Sends raw bytes (tests: malformed input).
  VuResult SendRaw(const void* data, size_t len, const int* fds = nullptr, uint32_t nfds = 0);
  // Non-blocking: reads what is available. *got is true when *out holds a complete message.
  // kClosed on a clean end of stream, kTruncated when it ended inside a message, kBadSize
  // when a header announces more than kMaxPayload, kBadFdCount for more than kMaxFds fds.
  VuResult TryRecv(Message* out, bool* got);
  // Waits up to timeout_ms (<0: forever) for a complete message.
  VuResult Recv(Message* out, int timeout_ms);
  // True when the peer has closed (no data consumed; pending data means not closed).
  bool PeerClosed();

 private:
  void CloseFd();
  void DropPartial();

  Role role_ = Role::kNone;
  std::string path_;
  int fd_ = -1;
  int listen_fd_ = -1;
  int retry_ms_ = 20;
  // A message being received (a non-blocking read can stop anywhere in it).
  uint8_t rx_[kHeaderSize + kMaxPayload];
  uint32_t rx_len_ = 0;
  int rx_fds_[kMaxFds];
  uint32_t rx_nfds_ = 0;
};

// ---------------------------------------------------------------------------------------
// Front-end (driver side, as DPDK virtio_user): owns the rings and the memory.

struct FrontendRegion {
  int fd = -1;               // memfd / hugetlbfs fd the memory is mapped from (not owned)
  const void* addr = nullptr;  // where it is mapped here: both user and guest-physical address
  uint64_t size = 0;
  uint64_t fd_offset = 0;    // offset of addr within the file
};

struct FrontendQueue {
  uint32_t index = 0;  // virtqueue index (RxQueue(p) / TxQueue(p))
  uint32_t num = 0;    // ring size
  uint64_t desc = 0, avail = 0, used = 0;  // ring addresses here (packed: desc, driver, device)
  uint32_t base = 0;   // first avail index (packed: wrap counter in bit 15)
  int kick_fd = -1;    // eventfds (not owned); -1 sends the "no fd" flag
  int call_fd = -1;
};

struct FrontendOptions {
  uint64_t features = 0;  // device features wanted; negotiated = wanted & offered
  uint64_t protocol_features = Bit(kProtoMq) | Bit(kProtoReplyAck) | Bit(kProtoStatus);
  // With REPLY_ACK negotiated, ask for an ack on every request that has no reply of its
  // own (DPDK virtio_user asks only on SET_MEM_TABLE and SET_STATUS): a refused request
  // then fails where it was sent instead of as a later disconnect.
  bool ack_all = true;
  int reply_timeout_ms = 5000;
  int accept_timeout_ms = 5000;  // server role: wait this long for the back-end
};

class Frontend {
 public:
  explicit Frontend(Connection conn);

  // The whole negotiation, in DPDK virtio_user's order: SET_OWNER, GET_FEATURES,
  // GET/SET_PROTOCOL_FEATURES, GET_QUEUE_NUM (MQ), SET_FEATURES, SET_STATUS(FEATURES_OK)
  // + GET_STATUS, SET_MEM_TABLE, per queue SET_VRING_CALL then NUM, BASE, ADDR, KICK,
  // SET_VRING_ENABLE, SET_STATUS(DRIVER_OK). Keeps the arguments for Reconnect.
  VuResult Start(const FrontendOptions& opts, const std::vector<FrontendRegion>& regions,
                 const std::vector<FrontendQueue>& queues);
  // Disables the rings and collects each ring's avail index (GET_VRING_BASE), in queue order.
  VuResult Stop(std::vector<uint32_t>* bases);
  // Sets the base a later Start/Reconnect sends for a queue (ring code's current position).
  void SetQueueBase(uint32_t index, uint32_t base);
  // Non-blocking: has the back-end gone away?
  bool Disconnected();
  // Connection again (client: connect with retry; server: accept) and Start again.
  VuResult Reconnect(int timeout_ms);

  VuResult GetConfig(uint32_t offset, uint32_t size, std::vector<uint8_t>* out);

  // A request outside the sequence; *reply gets GET_* answers.
  // Sends m (with fds) and, for GET_* or NEED_REPLY, waits for and validates the reply.
  VuResult Transact(Message& m, const int* fds, uint32_t nfds, Message* reply);

  uint64_t device_features() const { return device_features_; }  // offered by the back-end
  uint64_t features() const { return features_; }                // negotiated
  uint64_t backend_protocol_features() const { return backend_protocol_features_; }
  uint64_t protocol_features() const { return protocol_features_; }  // negotiated
  uint32_t backend_queue_pairs() const { return backend_queue_pairs_; }  // 0: not asked
  bool running() const { return running_; }
  Connection& connection() { return conn_; }

 private:
  VuResult Simple(Request r, uint64_t* u64_in_out, bool has_payload, bool want_reply);
  VuResult SendState(Request r, uint32_t index, uint32_t num);
  VuResult SendVringFd(Request r, uint32_t index, int fd);
  VuResult SetStatus(uint8_t status);
  bool Acks() const { return protocol_features_ & Bit(kProtoReplyAck); }

  Connection conn_;
  FrontendOptions opts_;
  std::vector<FrontendRegion> regions_;
  std::vector<FrontendQueue> queues_;
  uint64_t device_features_ = 0, features_ = 0;
  uint64_t backend_protocol_features_ = 0, protocol_features_ = 0;
  uint32_t backend_queue_pairs_ = 0;
  bool running_ = false;
};

// ---------------------------------------------------------------------------------------
// Back-end (device side, as DPDK net_vhost): maps the front-end's memory.

// One mapped region. host points at the byte for guest_phys_addr / userspace_addr.
struct MappedRegion {
  uint64_t guest_phys_addr = 0;
  uint64_t userspace_addr = 0;
  uint64_t size = 0;
  uint64_t mmap_offset = 0;
  uint8_t* host = nullptr;
  void* map_base = nullptr;
  size_t map_len = 0;
};

// The current memory table. Lookups are a scan of at most 8 regions; a range must lie in
// one region (nullptr otherwise, also for len 0 at the very end and for overflow).
struct VhostMemory {
  MappedRegion regions[kMaxRegions];
  uint32_t nregions = 0;

  // Descriptor addresses (guest physical; equal to user addresses with DPDK virtio_user).
  void* TranslateGpa(uint64_t gpa, uint64_t len) const {
    for (uint32_t i = 0; i < nregions; i++) {
      const MappedRegion& r = regions[i];
      const uint64_t off = gpa - r.guest_phys_addr;  // wraps when gpa < start: then > size
      if (off < r.size && len <= r.size - off) return r.host + off;
    }
    return nullptr;
  }
  // Ring addresses (front-end user addresses).
  void* TranslateUva(uint64_t uva, uint64_t len) const {
    for (uint32_t i = 0; i < nregions; i++) {
      const MappedRegion& r = regions[i];
      const uint64_t off = uva - r.userspace_addr;
      if (off < r.size && len <= r.size - off) return r.host + off;
    }
    return nullptr;
  }
};

// Per-virtqueue state as the front-end configured it.
struct QueueState {
  uint32_t num = 0;        // ring size (0: not set)
  uint32_t base = 0;       // avail index to start from (SET_VRING_BASE; packed: wrap bit 15,
                           //   and from QEMU the used position and wrap in bits 16-31)
  VringAddr addr{};        // raw addresses as received
  bool addr_set = false;
  void* desc = nullptr;    // translated, whole ring checked (split: desc, avail, used;
  void* avail = nullptr;   //   packed: desc ring, driver event, device event)
  void* used = nullptr;
  int kick_fd = -1;        // owned; -1 with kick_set: polling (no fd)
  int call_fd = -1;        // owned; -1 with call_set: no interrupts wanted
  bool kick_set = false;   // SET_VRING_KICK seen since the last stop: the ring is started
  bool call_set = false;
  bool enabled = false;    // SET_VRING_ENABLE (or implicit without PROTOCOL_FEATURES)
  bool ready = false;      // reported to the observer as ready
};

enum class StopReason {
  kGetVringBase,   // the front-end stops the ring and wants its position
  kDisabled,       // SET_VRING_ENABLE 0
  kReconfigured,   // the ring's size, addresses, fds or the memory table change
  kStatus,         // DRIVER_OK cleared / device reset by status
  kReset,          // RESET_OWNER
  kDisconnect,     // the connection is gone; the memory is unmapped right after
};

// The ring code's hooks. All run on the thread calling Backend::Service.
class BackendObserver {
 public:
  virtual ~BackendObserver() = default;
  // The queue is started, enabled, its rings translated and bounds-checked, and (with
  // PROTOCOL_F_STATUS) the driver set DRIVER_OK: the ring code may use it from now on.
  virtual void QueueReady(uint32_t /*index*/, const QueueState& /*q*/) {}
  // The ring code must stop touching the queue before returning. Returns the ring's
  // current last avail index (packed: with the wrap counter in bit 15), reported to the
  // front-end by GET_VRING_BASE and used as the base of a later restart; return q.base
  // if the ring never ran.
  virtual uint32_t QueueStopped(uint32_t /*index*/, const QueueState& q, StopReason /*why*/) {
    return q.base;
  }
  // A new memory table is in place (queues were stopped before if it changed under them).
  virtual void MemoryChanged(const VhostMemory& /*mem*/) {}
  virtual void Disconnected() {}
};

struct BackendConfig {
  // Device features offered (GET_FEATURES). kProtocolFeatures enables the protocol
  // feature negotiation; without it rings are enabled as soon as they are kicked.
  uint64_t features = Bit(kVersion1) | Bit(kNetMrgRxbuf) | Bit(kNetMq) | Bit(kProtocolFeatures);
  uint64_t protocol_features = Bit(kProtoMq) | Bit(kProtoReplyAck) | Bit(kProtoStatus);
  uint32_t max_queue_pairs = 1;     // GET_QUEUE_NUM; queue indexes < 2 * this
  std::vector<uint8_t> config;      // device config space for GET_CONFIG (PROTOCOL_F_CONFIG)
  int reconnect_ms = 100;           // client role: retry interval after a disconnect
};

struct BackendStats {
  uint64_t messages = 0;
  uint64_t errors = 0;       // requests refused (nack or disconnect)
  uint64_t ignored = 0;      // unknown requests without NEED_REPLY
  uint64_t connections = 0;  // peers accepted / connected
};

class Backend {
 public:
  explicit Backend(BackendConfig cfg, BackendObserver* observer = nullptr);
  ~Backend();
  Backend(const Backend&) = delete;
  Backend& operator=(const Backend&) = delete;

  // Uses conn (connected, listening, or client with reconnection).
  void Attach(Connection conn);
  // Accepts a pending peer (server role), reconnects (client role, rate-limited), then
  // handles every complete message that has arrived, waiting up to timeout_ms for the
  // first one (0: never blocks). A refused request is answered with a nack when it asked
  // for a reply (the connection stays), else the connection is dropped and the device
  // reset, as DPDK does; that error is returned and kept in last_error(). Peer gone:
  // reset, returns kClosed (server role: the next Service accepts again). *handled
  // counts the messages processed.
  VuResult Service(int timeout_ms = 0, uint32_t* handled = nullptr);
  // Closes the connection and resets the device (unmaps, closes fds).
  void Disconnect();
  // Handles one message without a socket; *reply is what would be sent if *send_reply.
  // Errors that would disconnect are returned without resetting anything.
  VuResult Handle(Message& m, Message* reply, bool* send_reply);

  bool connected() const { return conn_.connected(); }
  Connection& connection() { return conn_; }
  uint64_t features() const { return features_; }           // acked by SET_FEATURES
  uint64_t protocol_features() const { return protocol_features_; }
  uint8_t status() const { return status_; }
  bool owned() const { return owner_; }
  const VhostMemory& memory() const { return mem_; }
  uint32_t num_queues() const { return 2 * cfg_.max_queue_pairs; }
  const QueueState& queue(uint32_t i) const { return queues_[i]; }
  const VuResult& last_error() const { return last_error_; }
  const BackendStats& stats() const { return stats_; }
  const BackendConfig& config() const { return cfg_; }

 private:
  VuResult Dispatch(Message& m, Message* reply, bool* has_reply);
  VuResult SetMemTable(Message& m);
  VuResult SetVringAddr(const VringAddr& a);
  VuResult Translate(uint32_t index);
  VuResult SetVringFd(Message& m, bool kick);
  void StopQueue(uint32_t index, StopReason why);
  void StopAll(StopReason why);
  void UpdateReady();
  void Reset();  // device state back to a fresh connection's
  void UnmapAll();
  VuResult ServiceOne(Message& m);

  BackendConfig cfg_;
  BackendObserver* observer_;
  BackendObserver default_observer_;
  Connection conn_;
  uint64_t features_ = 0;
  uint64_t protocol_features_ = 0;
  bool features_set_ = false;
  bool owner_ = false;
  uint8_t status_ = 0;
  VhostMemory mem_;
  std::vector<QueueState> queues_;
  VuResult last_error_;
  BackendStats stats_;
  int64_t next_reconnect_ns_ = 0;
};

}  // namespace vnf::virtio
