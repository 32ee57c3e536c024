// Tests of src/virtio/vhost_user: the codec with fds, our front-end against our back-end over
// a socketpair and over socket files in both role combinations, memory passed as memfds and
// read back through the back-end's mapping, feature negotiation, REPLY_ACK, reconnection,
// and malformed input (each refused with a typed error and a reason, no fd leaked).
#include <dirent.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include <atomic>
#include <cstring>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "harness.h"
#include "virtio/vhost_user.h"

using namespace vnf::virtio;

namespace {

int OpenFds() {
  int n = 0;
  DIR* d = opendir("/proc/self/fd");
  if (d == nullptr) return -1;
  while (readdir(d) != nullptr) n++;
  closedir(d);
  return n;
}

struct Memfd {
  int fd = -1;
  uint8_t* p = nullptr;
  size_t size = 0;
  explicit Memfd(size_t sz) : size(sz) {
    fd = memfd_create("vhost-test", MFD_CLOEXEC);
    if (fd < 0 || ftruncate(fd, off_t(sz)) != 0) return;
    void* m = mmap(nullptr, sz, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    p = m == MAP_FAILED ? nullptr : static_cast<uint8_t*>(m);
  }
  ~Memfd() {
    if (p) munmap(p, size);
    if (fd >= 0) close(fd);
  }
  uint64_t addr(size_t off = 0) const { return reinterpret_cast<uintptr_t>(p + off); }
};

struct Recorder : BackendObserver {
  std::mutex mu;
  std::vector<std::string> events;
  uint32_t ready_count = 0, stopped_count = 0, mem_changes = 0, disconnects = 0;
  uint32_t bases[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  bool return_bases = false;
  void QueueReady(uint32_t i, const QueueState&) override {
    std::lock_guard<std::mutex> l(mu);
    ready_count++;
    events.push_back("ready" + std::to_string(i));
  }
  uint32_t QueueStopped(uint32_t i, const QueueState& q, StopReason why) override {
    std::lock_guard<std::mutex> l(mu);
    stopped_count++;
    events.push_back("stop" + std::to_string(i) + ":" + std::to_string(int(why)));
    return return_bases && i < 8 ? bases[i] : q.base;
  }
  void MemoryChanged(const VhostMemory&) override {
    std::lock_guard<std::mutex> l(mu);
    mem_changes++;
  }
  void Disconnected() override {
    std::lock_guard<std::mutex> l(mu);
    disconnects++;
  }
};

// Services a back-end on its own thread (as the data-path thread would), until Join.
struct BackendThread {
  Backend* b;
  std::atomic<bool> stop{false};
  std::thread t;
  std::vector<VuResult> errors;  // read after Join only
  explicit BackendThread(Backend* be) : b(be) {
    t = std::thread([this] {
      while (!stop.load()) {
        VuResult r = b->Service(5);
        if (!r.ok()) errors.push_back(r);
      }
      VuResult r = b->Service(0);  // what was sent before Join
      if (!r.ok()) errors.push_back(r);
    });
  }
  void Join() {
    if (t.joinable()) {
      stop = true;
      t.join();
    }
  }
  ~BackendThread() { Join(); }
};

// Memory for the tests: a "pool" memfd and a "ring" memfd holding two split rings of 256.
struct Setup {
  Memfd pool{1 << 20};
  Memfd rings{64 << 10};
  int efd[4];
  Setup() {
    for (int& e : efd) e = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  }
  ~Setup() {
    for (int e : efd) close(e);
  }
  std::vector<FrontendRegion> Regions() const {
    return {FrontendRegion{pool.fd, pool.p, pool.size, 0},
            FrontendRegion{rings.fd, rings.p, rings.size, 0}};
  }
  std::vector<FrontendQueue> Queues(uint32_t pairs = 1) const {
    std::vector<FrontendQueue> qs;
    for (uint32_t i = 0; i < 2 * pairs; i++) {
      FrontendQueue q;
      q.index = i;
      q.num = 256;
      const size_t base = i * 8192;
      q.desc = rings.addr(base);
      q.avail = rings.addr(base + 4096);
      q.used = rings.addr(base + 5120);
      q.kick_fd = efd[(2 * i) % 4];
      q.call_fd = efd[(2 * i + 1) % 4];
      qs.push_back(q);
    }
    return qs;
  }
};

constexpr uint64_t kNetFeatures = Bit(kVersion1) | Bit(kNetMrgRxbuf) | Bit(kNetMq) | Bit(kNetCsum);

BackendConfig DefaultBackend() {
  BackendConfig c;
  c.features = kNetFeatures | Bit(kProtocolFeatures);
  c.protocol_features = Bit(kProtoMq) | Bit(kProtoReplyAck) | Bit(kProtoStatus);
  c.max_queue_pairs = 2;
  return c;
}

FrontendOptions DefaultFrontend() {
  FrontendOptions o;
  o.features = Bit(kVersion1) | Bit(kNetMrgRxbuf) | Bit(kNetMq);
  o.reply_timeout_ms = 2000;
  o.accept_timeout_ms = 2000;
  return o;
}

void Pair(Connection* a, Connection* b) {
  int sv[2];
  CHECK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0);
  *a = Connection::FromFd(sv[0]);
  *b = Connection::FromFd(sv[1]);
}

std::string SockPath(const char* tag) {
  return "/tmp/vnf-vhost-test-" + std::to_string(getpid()) + "-" + tag + ".sock";
}

bool Contains(const std::string& s, const char* sub) { return s.find(sub) != std::string::npos; }

}  // namespace

TEST(vhost_user_codec_roundtrip_with_fds) {
  const int fds_before = OpenFds();
  {
    Connection a, b;
    Pair(&a, &b);
    Memfd m1(4096), m2(8192);
    Message m(Request::kSetMemTable, kFlagNeedReply);
    m.payload.mem.nregions = 2;
    m.payload.mem.regions[0] = VhostMemRegion{0x1000, 4096, 0x7000, 0};
    m.payload.mem.regions[1] = VhostMemRegion{0x9000, 8192, 0x9000, 0};
    m.hdr.size = kMemTableHeaderSize + 2 * sizeof(VhostMemRegion);
    const int fds[2] = {m1.fd, m2.fd};
    CHECK(a.Send(m, fds, 2).ok());
    Message in;
    VuResult r = b.Recv(&in, 1000);
    CHECK(r.ok());
    CHECK_EQ(in.hdr.request, uint32_t(Request::kSetMemTable));
    CHECK_EQ(in.hdr.flags, kVhostUserVersion | kFlagNeedReply);
    CHECK_EQ(in.hdr.size, 8u + 64u);
    CHECK_EQ(in.payload.mem.nregions, 2u);
    CHECK_EQ(in.payload.mem.regions[1].memory_size, 8192u);
    CHECK_EQ(in.nfds, 2u);
    // The received fds refer to the same memory.
    m2.p[100] = 0x5a;
    uint8_t byte = 0;
    CHECK_EQ(pread(in.fds[1], &byte, 1, 100), 1);
    CHECK_EQ(byte, 0x5a);

    // A message dribbled in byte by byte is complete only with its last byte.
    Message st(Request::kSetVringNum);
    st.SetState(1, 512);
    uint8_t raw[kHeaderSize + 8];
    std::memcpy(raw, &st.hdr, kHeaderSize);
    std::memcpy(raw + kHeaderSize, &st.payload, 8);
    for (size_t i = 0; i < sizeof raw; i++) {
      CHECK(a.SendRaw(raw + i, 1).ok());
      Message part;
      bool got = true;
      CHECK(b.TryRecv(&part, &got).ok());
      if (!CHECK_EQ(got, i + 1 == sizeof raw)) break;
      if (got) {
        CHECK_EQ(part.payload.state.index, 1u);
        CHECK_EQ(part.payload.state.num, 512u);
      }
    }
    // End of stream: closed, not truncated.
    a.Disconnect();
    Message none;
    r = b.Recv(&none, 1000);
    CHECK(r.code == VuError::kClosed);
  }
  CHECK_EQ(OpenFds(), fds_before);
}

TEST(vhost_user_socketpair_negotiation_memory_and_rings) {
  Setup s;
  Recorder rec;
  rec.return_bases = true;
  rec.bases[0] = 1234;
  rec.bases[1] = 77;
  Backend be(DefaultBackend(), &rec);
  Connection fc, bc;
  Pair(&fc, &bc);
  be.Attach(std::move(bc));
  Frontend fe(std::move(fc));
  for (size_t i = 0; i < s.pool.size; i++) s.pool.p[i] = uint8_t(i * 7 + 3);
  std::memcpy(s.rings.p, "DESC0", 5);
  {
    BackendThread bt(&be);
    VuResult r = fe.Start(DefaultFrontend(), s.Regions(), s.Queues(2));
    if (!CHECK(r.ok())) std::printf("    start: %s\n", r.message.c_str());
    bt.Join();
    for (const VuResult& e : bt.errors) std::printf("    backend: %s\n", e.message.c_str());
    CHECK(bt.errors.empty());
  }
  CHECK_EQ(fe.features(), Bit(kVersion1) | Bit(kNetMrgRxbuf) | Bit(kNetMq));
  CHECK_EQ(fe.protocol_features(), Bit(kProtoMq) | Bit(kProtoReplyAck) | Bit(kProtoStatus));
  CHECK_EQ(fe.backend_queue_pairs(), 2u);
  CHECK_EQ(be.features(), fe.features() | Bit(kProtocolFeatures));
  CHECK_EQ(be.protocol_features(), fe.protocol_features());
  CHECK(be.owned());
  CHECK_EQ(be.status(), kStatusAcknowledge | kStatusDriver | kStatusFeaturesOk | kStatusDriverOk);
  CHECK_EQ(rec.ready_count, 4u);
  CHECK_EQ(be.memory().nregions, 2u);
  // The pool, read back through the back-end's own mapping of the memfd.
  const uint8_t* pool = static_cast<const uint8_t*>(be.memory().TranslateGpa(s.pool.addr(), s.pool.size));
  CHECK(pool != nullptr && pool != s.pool.p);
  bool same = pool != nullptr;
  for (size_t i = 0; same && i < s.pool.size; i += 4093) same = pool[i] == uint8_t(i * 7 + 3);
  CHECK(same);
  // ... and written through it, seen by the front-end (shared memory).
  uint8_t* w = static_cast<uint8_t*>(be.memory().TranslateGpa(s.pool.addr(5000), 4));
  if (CHECK(w != nullptr)) std::memcpy(w, "PONG", 4);
  CHECK(std::memcmp(s.pool.p + 5000, "PONG", 4) == 0);
  // Out of bounds: past the end, straddling the end, before the start.
  CHECK(be.memory().TranslateGpa(s.pool.addr(s.pool.size), 1) == nullptr);
  CHECK(be.memory().TranslateGpa(s.pool.addr(s.pool.size - 2), 4) == nullptr);
  CHECK(be.memory().TranslateGpa(s.pool.addr() - 1, 1) == nullptr);
  // Rings: translated to the same bytes.
  const QueueState& q0 = be.queue(0);
  CHECK(q0.ready && q0.enabled && q0.kick_fd >= 0 && q0.call_fd >= 0);
  CHECK_EQ(q0.num, 256u);
  CHECK(q0.desc != nullptr && std::memcmp(q0.desc, "DESC0", 5) == 0);
  CHECK(static_cast<uint8_t*>(q0.used) - static_cast<uint8_t*>(q0.desc) == 5120);
  // Kick fd: the back-end's copy is the same eventfd.
  uint64_t one = 1, got = 0;
  CHECK_EQ(write(s.efd[0], &one, 8), 8);
  CHECK_EQ(read(q0.kick_fd, &got, 8), 8);
  CHECK_EQ(got, 1u);

  // Stop: rings disabled, GET_VRING_BASE answers what the ring code says.
  std::vector<uint32_t> bases;
  {
    BackendThread bt(&be);
    VuResult r = fe.Stop(&bases);
    if (!CHECK(r.ok())) std::printf("    stop: %s\n", r.message.c_str());
  }
  if (CHECK_EQ(bases.size(), 4u)) {
    CHECK_EQ(bases[0], 1234u);
    CHECK_EQ(bases[1], 77u);
  }
  CHECK_EQ(rec.stopped_count, 4u);
  CHECK(!be.queue(0).ready && be.queue(0).kick_fd == -1);
}

TEST(vhost_user_features_matrix) {
  struct Case {
    const char* name;
    uint64_t offered, proto_offered, wanted, proto_wanted;
    uint64_t want_features, want_proto;
  };
  const uint64_t pf = Bit(kProtocolFeatures);
  const Case cases[] = {
      {"all", kNetFeatures | pf, Bit(kProtoMq) | Bit(kProtoReplyAck) | Bit(kProtoStatus),
       kNetFeatures, Bit(kProtoMq) | Bit(kProtoReplyAck) | Bit(kProtoStatus), kNetFeatures,
       Bit(kProtoMq) | Bit(kProtoReplyAck) | Bit(kProtoStatus)},
      {"subset wanted", kNetFeatures | pf, Bit(kProtoMq) | Bit(kProtoReplyAck) | Bit(kProtoStatus),
       Bit(kVersion1), Bit(kProtoReplyAck), Bit(kVersion1), Bit(kProtoReplyAck)},
      {"offer lacks csum", Bit(kVersion1) | pf, Bit(kProtoReplyAck), kNetFeatures,
       Bit(kProtoReplyAck) | Bit(kProtoStatus), Bit(kVersion1), Bit(kProtoReplyAck)},
      {"no reply-ack", kNetFeatures | pf, Bit(kProtoStatus), kNetFeatures,
       Bit(kProtoReplyAck) | Bit(kProtoStatus), kNetFeatures, Bit(kProtoStatus)},
      {"no status", kNetFeatures | pf, Bit(kProtoReplyAck), kNetFeatures,
       Bit(kProtoReplyAck) | Bit(kProtoStatus), kNetFeatures, Bit(kProtoReplyAck)},
      {"no protocol features", kNetFeatures, 0, kNetFeatures,
       Bit(kProtoReplyAck) | Bit(kProtoStatus), kNetFeatures, 0},
      {"nothing protocol", kNetFeatures | pf, 0, kNetFeatures, 0, kNetFeatures, 0},
  };
  for (const Case& c : cases) {
    Setup s;
    Recorder rec;
    BackendConfig bc = DefaultBackend();
    bc.features = c.offered;
    bc.protocol_features = c.proto_offered;
    bc.max_queue_pairs = 1;
    Backend be(bc, &rec);
    Connection f, b;
    Pair(&f, &b);
    be.Attach(std::move(b));
    Frontend fe(std::move(f));
    FrontendOptions o = DefaultFrontend();
    o.features = c.wanted;
    o.protocol_features = c.proto_wanted;
    BackendThread bt(&be);
    VuResult r = fe.Start(o, s.Regions(), s.Queues(1));
    bt.Join();
    if (!CHECK(r.ok())) std::printf("    %s: %s\n", c.name, r.message.c_str());
    if (!CHECK_EQ(fe.features(), c.want_features)) std::printf("    case %s\n", c.name);
    if (!CHECK_EQ(fe.protocol_features(), c.want_proto)) std::printf("    case %s\n", c.name);
    CHECK_EQ(be.features(), c.want_features | (c.offered & pf));
    CHECK_EQ(be.protocol_features(), c.want_proto);
    // Without PROTOCOL_FEATURES the rings are enabled by their kick (no SET_VRING_ENABLE).
    if (!CHECK_EQ(rec.ready_count, 2u)) std::printf("    case %s\n", c.name);
    CHECK(bt.errors.empty());
  }
}

TEST(vhost_user_reply_ack) {
  Setup s;
  // Negotiated: a refused request is nacked and the connection stays.
  {
    Backend be(DefaultBackend());
    Connection f, b;
    Pair(&f, &b);
    be.Attach(std::move(b));
    Frontend fe(std::move(f));
    BackendThread bt(&be);
    CHECK(fe.Start(DefaultFrontend(), s.Regions(), s.Queues(1)).ok());
    Message m(Request::kSetVringNum, kFlagNeedReply);
    m.SetState(0, 100);  // not a power of two
    VuResult r = fe.Transact(m, nullptr, 0, nullptr);
    CHECK(r.code == VuError::kNack);
    Message g(Request::kGetFeatures);
    Message reply;
    CHECK(fe.Transact(g, nullptr, 0, &reply).ok());
    CHECK_EQ(reply.payload.u64, DefaultBackend().features);
    Message ok(Request::kSetVringEnable, kFlagNeedReply);
    ok.SetState(0, 1);
    CHECK(fe.Transact(ok, nullptr, 0, nullptr).ok());  // ack 0
    bt.Join();
    CHECK(be.connected());
    CHECK(be.last_error().code == VuError::kBadValue);
    CHECK(Contains(be.last_error().message, "power of two"));
  }
  // Not negotiated: the same refusal drops the connection (as DPDK does).
  {
    BackendConfig bc = DefaultBackend();
    bc.protocol_features = Bit(kProtoMq) | Bit(kProtoStatus);
    Backend be(bc);
    Connection f, b;
    Pair(&f, &b);
    be.Attach(std::move(b));
    Frontend fe(std::move(f));
    BackendThread bt(&be);
    CHECK(fe.Start(DefaultFrontend(), s.Regions(), s.Queues(1)).ok());
    CHECK(!(fe.protocol_features() & Bit(kProtoReplyAck)));
    Message m(Request::kSetVringNum);
    m.SetState(0, 100);
    CHECK(fe.Transact(m, nullptr, 0, nullptr).ok());  // nothing to wait for
    bool gone = false;
    for (int i = 0; i < 200 && !gone; i++) {
      gone = fe.Disconnected();
      if (!gone) std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    CHECK(gone);
    bt.Join();
    CHECK(!be.connected());
    CHECK_EQ(be.memory().nregions, 0u);  // reset: unmapped
  }
}

TEST(vhost_user_socket_files_both_roles) {
  Setup s;
  // Back-end listens (net_vhost default), front-end connects (virtio_user client).
  {
    const std::string path = SockPath("a");
    Connection lc;
    VuResult r = Connection::Listen(path, &lc);
    CHECK(r.ok());
    Recorder rec;
    Backend be(DefaultBackend(), &rec);
    be.Attach(std::move(lc));
    BackendThread bt(&be);
    Connection fc;
    r = Connection::Connect(path, 2000, &fc);
    CHECK(r.ok());
    Frontend fe(std::move(fc));
    r = fe.Start(DefaultFrontend(), s.Regions(), s.Queues(1));
    if (!CHECK(r.ok())) std::printf("    %s\n", r.message.c_str());
    bt.Join();
    CHECK_EQ(rec.ready_count, 2u);
    CHECK_EQ(be.stats().connections, 1u);
    unlink(path.c_str());
  }
  // Front-end listens (virtio_user server=1), back-end connects (net_vhost client=1).
  {
    const std::string path = SockPath("b");
    Connection lc;
    CHECK(Connection::Listen(path, &lc).ok());
    Frontend fe(std::move(lc));
    Recorder rec;
    Backend be(DefaultBackend(), &rec);
    Connection bc;
    VuResult r = Connection::Connect(path, 2000, &bc);
    CHECK(r.ok());
    be.Attach(std::move(bc));
    BackendThread bt(&be);
    r = fe.Start(DefaultFrontend(), s.Regions(), s.Queues(1));
    if (!CHECK(r.ok())) std::printf("    %s\n", r.message.c_str());
    bt.Join();
    CHECK_EQ(rec.ready_count, 2u);
    unlink(path.c_str());
  }
  // Connect with nobody listening: a timeout with the reason.
  Connection c;
  VuResult r = Connection::Connect(SockPath("none"), 50, &c);
  CHECK(r.code == VuError::kTimeout);
  CHECK(Contains(r.message, "gave up"));
}

TEST(vhost_user_reconnect_and_renegotiate) {
  Setup s;
  // Back-end server closes the connection (restart); the client front-end notices,
  // reconnects and renegotiates; the back-end accepts the new peer.
  {
    const std::string path = SockPath("r1");
    Connection lc;
    CHECK(Connection::Listen(path, &lc).ok());
    Recorder rec;
    Backend be(DefaultBackend(), &rec);
    be.Attach(std::move(lc));
    Connection fc;
    {
      BackendThread bt(&be);
      CHECK(Connection::Connect(path, 2000, &fc).ok());
    }
    Frontend fe(std::move(fc));
    {
      BackendThread bt(&be);
      CHECK(fe.Start(DefaultFrontend(), s.Regions(), s.Queues(1)).ok());
    }
    CHECK(!fe.Disconnected());
    be.Disconnect();  // back-end side closes
    CHECK_EQ(rec.disconnects, 1u);
    CHECK_EQ(be.memory().nregions, 0u);
    bool gone = false;
    for (int i = 0; i < 100 && !gone; i++) {
      gone = fe.Disconnected();
      if (!gone) std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    CHECK(gone);
    fe.SetQueueBase(0, 42);
    {
      BackendThread bt(&be);
      VuResult r = fe.Reconnect(2000);
      if (!CHECK(r.ok())) std::printf("    %s\n", r.message.c_str());
    }
    CHECK(fe.running());
    CHECK_EQ(be.stats().connections, 2u);
    CHECK_EQ(rec.ready_count, 4u);
    CHECK_EQ(be.queue(0).base, 42u);
    CHECK_EQ(be.memory().nregions, 2u);
    unlink(path.c_str());
  }
  // Front-end server (virtio_user server=1): the back-end process goes away and a new one
  // connects; the front-end accepts it and renegotiates.
  {
    const std::string path = SockPath("r2");
    Connection lc;
    CHECK(Connection::Listen(path, &lc).ok());
    Frontend fe(std::move(lc));
    for (int round = 0; round < 2; round++) {
      Recorder rec;
      Backend be(DefaultBackend(), &rec);
      Connection bc;
      CHECK(Connection::Connect(path, 2000, &bc).ok());
      be.Attach(std::move(bc));
      BackendThread bt(&be);
      VuResult r = round == 0 ? fe.Start(DefaultFrontend(), s.Regions(), s.Queues(1))
                              : fe.Reconnect(2000);
      if (!CHECK(r.ok())) std::printf("    round %d: %s\n", round, r.message.c_str());
      bt.Join();
      CHECK_EQ(rec.ready_count, 2u);
    }  // the back-end closes here
    bool gone = false;
    for (int i = 0; i < 100 && !gone; i++) {
      gone = fe.Disconnected();
      if (!gone) std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    CHECK(gone);
    unlink(path.c_str());
  }
}

TEST(vhost_user_get_config) {
  Setup s;
  BackendConfig bc = DefaultBackend();
  bc.protocol_features |= Bit(kProtoConfig);
  bc.config = {0x02, 0x00, 0x00, 0x00, 0x00, 0x01, 0x01, 0x00};  // mac, status
  Backend be(bc);
  Connection f, b;
  Pair(&f, &b);
  be.Attach(std::move(b));
  Frontend fe(std::move(f));
  BackendThread bt(&be);
  FrontendOptions o = DefaultFrontend();
  o.protocol_features |= Bit(kProtoConfig);
  CHECK(fe.Start(o, s.Regions(), s.Queues(1)).ok());
  std::vector<uint8_t> mac;
  CHECK(fe.GetConfig(0, 6, &mac).ok());
  CHECK(mac == std::vector<uint8_t>({0x02, 0, 0, 0, 0, 0x01}));
  VuResult r = fe.GetConfig(4, 16, &mac);
  CHECK(r.code == VuError::kNack);  // beyond the config space: empty reply
  bt.Join();
  CHECK(be.connected());
}

// ---------------------------------------------------------------------------------------
// Malformed input, sent raw to a back-end serviced on this thread.

namespace {

struct Raw {
  Connection peer;
  Recorder rec;
  Backend be;
  explicit Raw(BackendConfig c = DefaultBackend()) : be(c, &rec) {
    Connection b;
    Pair(&peer, &b);
    be.Attach(std::move(b));
  }
  VuResult Send(const Message& m, const int* fds = nullptr, uint32_t n = 0) {
    CHECK(peer.Send(m, fds, n).ok());
    return be.Service(0);
  }
  VuResult SendBytes(const void* p, size_t n, const int* fds = nullptr, uint32_t nf = 0) {
    CHECK(peer.SendRaw(p, n, fds, nf).ok());
    return be.Service(0);
  }
  // Features and a memory table, as a front-end would have set them.
  void Prepare(const Memfd& mem) {
    Message f(Request::kSetFeatures);
    f.SetU64(Bit(kVersion1) | Bit(kProtocolFeatures));
    CHECK(Send(f).ok());
    Message p(Request::kSetProtocolFeatures);
    p.SetU64(Bit(kProtoReplyAck));
    CHECK(Send(p).ok());
    Message t(Request::kSetMemTable);
    t.payload.mem.nregions = 1;
    t.payload.mem.regions[0] = VhostMemRegion{mem.addr(), mem.size, mem.addr(), 0};
    t.hdr.size = kMemTableHeaderSize + sizeof(VhostMemRegion);
    CHECK(Send(t, &mem.fd, 1).ok());
    CHECK_EQ(be.memory().nregions, 1u);
  }
};

bool Rejected(const VuResult& r, VuError code, const char* text, const char* what) {
  const bool ok = r.code == code && Contains(r.message, text);
  if (!ok)
    std::printf("    %s: got %s \"%s\", expected %s containing \"%s\"\n", what, VuErrorName(r.code),
                r.message.c_str(), VuErrorName(code), text);
  return ok;
}

Message Table(std::initializer_list<VhostMemRegion> regions) {
  Message t(Request::kSetMemTable);
  uint32_t n = 0;
  for (const VhostMemRegion& r : regions) t.payload.mem.regions[n++] = r;
  t.payload.mem.nregions = n;
  t.hdr.size = kMemTableHeaderSize + n * uint32_t(sizeof(VhostMemRegion));
  return t;
}

}  // namespace

TEST(vhost_user_bad_input_rejected) {
  const int fds_before = OpenFds();
  {
    Memfd mem(64 << 10);
    // Truncated header, then end of stream.
    {
      Raw t;
      const uint8_t half[6] = {1, 0, 0, 0, 1, 0};
      CHECK(t.SendBytes(half, sizeof half).ok());  // incomplete: nothing to do yet
      t.peer.Disconnect();
      CHECK(Rejected(t.be.Service(0), VuError::kTruncated, "inside a message", "truncated header"));
      CHECK(!t.be.connected());
    }
    // Truncated payload.
    {
      Raw t;
      Message m(Request::kSetFeatures);
      m.SetU64(1);
      uint8_t raw[kHeaderSize + 3];
      std::memcpy(raw, &m.hdr, kHeaderSize);
      CHECK(t.SendBytes(raw, sizeof raw).ok());
      t.peer.Disconnect();
      CHECK(Rejected(t.be.Service(0), VuError::kTruncated, "15 of 20", "truncated payload"));
    }
    // Wrong payload size: disconnect without NEED_REPLY, nack with it.
    {
      Raw t;
      Message m(Request::kSetFeatures);
      m.SetU64(1);
      m.hdr.size = 4;
      CHECK(Rejected(t.Send(m), VuError::kBadSize, "SET_FEATURES: payload size 4, expected 8",
                     "wrong size"));
      CHECK(!t.be.connected());
    }
    {
      Raw t;
      Message m(Request::kGetFeatures, kFlagNeedReply);
      m.SetU64(0);  // GET_FEATURES has no payload
      CHECK(Rejected(t.Send(m), VuError::kBadSize, "expected 0", "size with need_reply"));
      CHECK(t.be.connected());
      Message reply;
      CHECK(t.peer.Recv(&reply, 1000).ok());
      CHECK_EQ(reply.hdr.flags, kVhostUserVersion | kFlagReply);
      CHECK_EQ(reply.payload.u64, 1u);  // nack
    }
    // A size over any payload.
    {
      Raw t;
      MsgHeader h{uint32_t(Request::kSetMemTable), kVhostUserVersion, 4096};
      CHECK(Rejected(t.SendBytes(&h, sizeof h), VuError::kBadSize, "exceeds", "huge size"));
    }
    // Version.
    {
      Raw t;
      Message m(Request::kSetOwner);
      m.hdr.flags = 2;
      CHECK(Rejected(t.Send(m), VuError::kBadVersion, "version must be 1", "version"));
    }
    // Too many regions (size consistent with the claim, so only the count is wrong).
    {
      Raw t;
      Message m(Request::kSetMemTable);
      m.payload.mem.nregions = 9;
      m.hdr.size = sizeof(MemTable);
      CHECK(Rejected(t.Send(m), VuError::kTooManyRegions, "9 regions", "nregions 9"));
    }
    // Region count and size disagree.
    {
      Raw t;
      Message m = Table({VhostMemRegion{0, 4096, 0x10000, 0}});
      m.hdr.size += 32;
      CHECK(Rejected(t.Send(m, &mem.fd, 1), VuError::kBadSize, "for 1 regions", "table size"));
    }
    // Overlapping regions.
    {
      Raw t;
      Message m = Table({VhostMemRegion{0x100000, 0x8000, 0x7f0000000000, 0},
                         VhostMemRegion{0x104000, 0x4000, 0x7f0000100000, 0x8000}});
      const int fds[2] = {mem.fd, mem.fd};
      CHECK(Rejected(t.Send(m, fds, 2), VuError::kBadRegion, "overlaps region 0 in guest physical",
                     "overlap"));
      CHECK_EQ(t.be.memory().nregions, 0u);
    }
    // Zero size.
    {
      Raw t;
      Message m = Table({VhostMemRegion{0x100000, 0, 0x7f0000000000, 0}});
      CHECK(Rejected(t.Send(m, &mem.fd, 1), VuError::kBadRegion, "size 0", "zero size"));
    }
    // mmap_offset + size beyond the file.
    {
      Raw t;
      Message m = Table({VhostMemRegion{0x100000, mem.size, 0x7f0000000000, 4096}});
      CHECK(Rejected(t.Send(m, &mem.fd, 1), VuError::kBadRegion, "beyond the file", "beyond file"));
    }
    // Fd counts: a table with fewer fds than regions; a kick with no fd and no flag; an fd
    // on a request that takes none; more than 8 fds.
    {
      Raw t;
      Message m = Table({VhostMemRegion{0x100000, 4096, 0x7f0000000000, 0},
                         VhostMemRegion{0x200000, 4096, 0x7f0000100000, 4096}});
      CHECK(Rejected(t.Send(m, &mem.fd, 1), VuError::kBadFdCount, "1 fds for 2 regions", "table fds"));
    }
    {
      Raw t;
      Message m(Request::kSetVringKick);
      m.SetU64(0);
      CHECK(Rejected(t.Send(m), VuError::kBadFdCount, "0 fds, expected 1", "kick without fd"));
    }
    // Kick and call fds must be eventfds: a pipe or a socket nobody reads would block the
    // device's thread once full (it writes call fds); other anonymous inodes are refused too.
    {
      int p[2], sv[2];
      CHECK(pipe(p) == 0);
      CHECK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0);
      const int tfd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC);
      struct {
        int fd;
        Request r;
        const char* text;
      } cases[] = {{p[1], Request::kSetVringCall, "SET_VRING_CALL: queue 1: the fd is a pipe, not an eventfd"},
                   {sv[0], Request::kSetVringKick, "SET_VRING_KICK: queue 1: the fd is a socket, not an eventfd"},
                   {mem.fd, Request::kSetVringCall, "the fd is a regular file, not an eventfd"},
                   {tfd, Request::kSetVringCall, "the fd is another kind of anonymous inode, not an eventfd"}};
      for (const auto& c : cases) {
        Raw t;
        Message m(c.r);
        m.SetU64(1);
        CHECK(Rejected(t.Send(m, &c.fd, 1), VuError::kBadFdKind, c.text, "fd kind"));
        CHECK(!t.be.connected());
        CHECK_EQ(t.be.queue(1).call_fd, -1);
      }
      const int efd = eventfd(0, EFD_CLOEXEC);
      Raw t;
      Message m(Request::kSetVringCall);
      m.SetU64(1);
      CHECK(t.Send(m, &efd, 1).ok());
      CHECK(t.be.connected() && t.be.queue(1).call_fd >= 0);
      for (int fd : {p[0], p[1], sv[0], sv[1], tfd, efd}) close(fd);
    }
    {
      Raw t;
      Message m(Request::kSetVringCall);
      m.SetU64(kVringNoFd | 1);
      CHECK(Rejected(t.Send(m, &mem.fd, 1), VuError::kBadFdCount, "no-fd flag", "call fd + flag"));
    }
    {
      Raw t;
      Message m(Request::kSetFeatures);
      m.SetU64(Bit(kVersion1));
      CHECK(Rejected(t.Send(m, &mem.fd, 1), VuError::kBadFdCount, "unexpected file descriptors",
                     "fd on SET_FEATURES"));
    }
    {
      Raw t;
      Message m(Request::kSetOwner);
      int fds[9];
      for (int& f : fds) f = mem.fd;
      uint8_t raw[kHeaderSize];
      std::memcpy(raw, &m.hdr, kHeaderSize);
      // SendRaw refuses 9 itself; two messages' worth of fds on one byte is what a peer could do.
      CHECK(t.peer.SendRaw(raw, 1, fds, 8).ok());
      CHECK(t.peer.SendRaw(raw + 1, kHeaderSize - 1, fds, 8).ok());
      CHECK(Rejected(t.be.Service(0), VuError::kBadFdCount, "more than 8", "16 fds"));
    }
    // An address outside the regions, a misaligned one, a bad index, a bad ring size,
    // features not offered, a protocol feature not offered.
    {
      Raw t;
      t.Prepare(mem);
      Message n(Request::kSetVringNum, kFlagNeedReply);
      n.SetState(0, 256);
      CHECK(t.Send(n).ok());
      Message reply;
      CHECK(t.peer.Recv(&reply, 1000).ok() && reply.payload.u64 == 0);
      Message a(Request::kSetVringAddr, kFlagNeedReply);
      a.payload.addr = VringAddr{0, 0, mem.addr(), mem.addr(8192), mem.addr(mem.size - 100), 0};
      a.hdr.size = sizeof(VringAddr);
      CHECK(Rejected(t.Send(a), VuError::kBadAddress, "available ring", "avail ring past the end"));
      CHECK(t.peer.Recv(&reply, 1000).ok() && reply.payload.u64 == 1);
      a.payload.addr = VringAddr{0, 0, 0x1000, mem.addr(8192), mem.addr(12288), 0};
      CHECK(Rejected(t.Send(a), VuError::kBadAddress, "not inside one memory region",
                     "desc outside"));
      CHECK(t.peer.Recv(&reply, 1000).ok());
      a.payload.addr = VringAddr{0, 0, mem.addr(8), mem.addr(8192), mem.addr(12288), 0};
      CHECK(Rejected(t.Send(a), VuError::kBadAddress, "16-byte aligned", "misaligned"));
      CHECK(t.peer.Recv(&reply, 1000).ok());
      a.payload.addr = VringAddr{0, 0, mem.addr(0), mem.addr(8192), mem.addr(12288), 0};
      CHECK(t.Send(a).ok());
      CHECK(t.peer.Recv(&reply, 1000).ok() && reply.payload.u64 == 0);
      CHECK(t.be.queue(0).desc == t.be.memory().TranslateUva(mem.addr(), 1));
      n.SetState(200, 256);
      CHECK(Rejected(t.Send(n), VuError::kBadIndex, "queue 200", "index"));
      CHECK(t.peer.Recv(&reply, 1000).ok());
      n.SetState(0, 300);
      CHECK(Rejected(t.Send(n), VuError::kBadValue, "power of two", "ring size"));
      CHECK(t.peer.Recv(&reply, 1000).ok());
      Message f(Request::kSetFeatures, kFlagNeedReply);
      f.SetU64(Bit(kRingPacked));
      CHECK(Rejected(t.Send(f), VuError::kBadFeatures, "not offered", "features"));
      CHECK(t.peer.Recv(&reply, 1000).ok());
      Message p(Request::kSetProtocolFeatures, kFlagNeedReply);
      p.SetU64(Bit(kProtoInflightShmfd));
      CHECK(Rejected(t.Send(p), VuError::kBadFeatures, "not offered", "protocol features"));
      CHECK(t.peer.Recv(&reply, 1000).ok());
      // Still connected and usable after all these nacks.
      CHECK(t.be.connected());
      CHECK_EQ(t.be.stats().errors, 7u);
    }
    // Unknown requests: ignored without NEED_REPLY, nacked with it; known but unsupported
    // requests that expect a reply drop the connection.
    {
      Raw t;
      Message u(static_cast<Request>(99));
      CHECK(t.Send(u).ok());
      CHECK_EQ(t.be.stats().ignored, 1u);
      Message un(static_cast<Request>(99), kFlagNeedReply);
      CHECK(Rejected(t.Send(un), VuError::kUnsupported, "request 99", "unknown with need_reply"));
      Message reply;
      CHECK(t.peer.Recv(&reply, 1000).ok() && reply.payload.u64 == 1);
      Message inflight(Request::kGetInflightFd);
      CHECK(Rejected(t.Send(inflight), VuError::kUnsupported, "GET_INFLIGHT_FD", "inflight"));
      CHECK(!t.be.connected());
    }
  }
  CHECK_EQ(OpenFds(), fds_before);
}

TEST(vhost_user_frontend_rejects_bad_replies) {
  Setup s;
  // A "back-end" whose answers are queued before the question.
  auto run = [&](const Message& reply) {
    Connection f, b;
    Pair(&f, &b);
    CHECK(b.Send(reply).ok());
    Frontend fe(std::move(f));
    return fe.Start(DefaultFrontend(), s.Regions(), s.Queues(1));
  };
  Message wrong_req(Request::kGetProtocolFeatures, kFlagReply);
  wrong_req.SetU64(1);
  VuResult r = run(wrong_req);
  CHECK(Rejected(r, VuError::kUnexpectedReply, "is for GET_PROTOCOL_FEATURES", "wrong request"));
  Message no_reply_flag(Request::kGetFeatures);
  no_reply_flag.SetU64(1);
  CHECK(Rejected(run(no_reply_flag), VuError::kBadVersion, "expected 0x5", "reply flag"));
  Message short_reply(Request::kGetFeatures, kFlagReply);
  short_reply.hdr.size = 4;
  CHECK(Rejected(run(short_reply), VuError::kUnexpectedReply, "size 4, expected 8", "short"));
  // No answer at all: a timeout naming the request.
  Connection f, b;
  Pair(&f, &b);
  Frontend fe(std::move(f));
  FrontendOptions o = DefaultFrontend();
  o.reply_timeout_ms = 50;
  CHECK(Rejected(fe.Start(o, s.Regions(), s.Queues(1)), VuError::kTimeout, "reply to GET_FEATURES",
                 "timeout"));
}

TEST(vhost_user_memory_table_change_restarts_queues) {
  Setup s;
  Recorder rec;
  Backend be(DefaultBackend(), &rec);
  Connection f, b;
  Pair(&f, &b);
  be.Attach(std::move(b));
  Frontend fe(std::move(f));
  {
    BackendThread bt(&be);
    CHECK(fe.Start(DefaultFrontend(), s.Regions(), s.Queues(1)).ok());
  }
  CHECK_EQ(rec.ready_count, 2u);
  // The same table again (as QEMU does on memory hotplug): queues stop, are translated
  // against the new mappings and become ready again.
  Message t(Request::kSetMemTable, kFlagNeedReply);
  t.payload.mem.nregions = 2;
  t.payload.mem.regions[0] = VhostMemRegion{s.pool.addr(), s.pool.size, s.pool.addr(), 0};
  t.payload.mem.regions[1] = VhostMemRegion{s.rings.addr(), s.rings.size, s.rings.addr(), 0};
  t.hdr.size = kMemTableHeaderSize + 64;
  const int fds[2] = {s.pool.fd, s.rings.fd};
  {
    BackendThread bt(&be);
    CHECK(fe.Transact(t, fds, 2, nullptr).ok());
  }
  CHECK_EQ(rec.stopped_count, 2u);
  CHECK_EQ(rec.ready_count, 4u);
  CHECK_EQ(rec.mem_changes, 2u);
  std::memcpy(s.rings.p, "AGAIN", 5);
  CHECK(be.queue(0).desc != nullptr && std::memcmp(be.queue(0).desc, "AGAIN", 5) == 0);
}
