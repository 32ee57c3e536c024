// Tests of src/conntrack: the table from both directions, NAT reply tuples, a full table, expiry
// with driven time, the TCP state machine (transition cases), UDP/ICMP pseudo-states, memory per
// session, a randomized differential test against a std::unordered_map model, and threads
// (lookups racing with cuckoo moves, expiry and reuse).
#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <memory>
#include <thread>
#include <unordered_map>
#include <vector>

#include "conntrack/conntrack.h"
#include "harness.h"
#include "test_util.h"

using namespace vnf::conntrack;
using vt::Rng;

namespace {

uint32_t Ip(uint32_t a, uint32_t b, uint32_t c, uint32_t d) { return a << 24 | b << 16 | c << 8 | d; }

std::unique_ptr<Table> MustCreate(const Config& cfg) {
  std::string err;
  std::unique_ptr<Table> t = Table::Create(cfg, &err);
  if (!CHECK(t != nullptr)) std::printf("    create error: %s\n", err.c_str());
  return t;
}

Config SmallConfig(uint32_t cap = 1024) {
  Config c;
  c.capacity = cap;
  c.seed = 42;
  c.hugepages = false;
  return c;
}

// One packet through Process.
Verdict One(Table& t, const Tuple& k, uint64_t now, uint8_t flags = 0, uint8_t icmp_type = 0,
            uint16_t bytes = 100) {
  PacketMeta m;
  m.bytes = bytes;
  m.tcp_flags = flags;
  m.icmp_type = icmp_type;
  Verdict v;
  t.Process(&k, &m, 1, now, &v);
  return v;
}

Verdict Look(const Table& t, const Tuple& k, uint64_t now) {
  Verdict v;
  t.Lookup(&k, 1, now, &v);
  return v;
}

const Tuple kTcp = MakeTuple(Ip(10, 0, 0, 1), Ip(192, 0, 2, 7), 40000, 80, kProtoTcp);
const Tuple kUdp = MakeTuple(Ip(10, 0, 0, 1), Ip(192, 0, 2, 7), 5000, 53, kProtoUdp);

}  // namespace

TEST(conntrack_config_errors) {
  std::string err;
  Config c = SmallConfig();
  c.capacity = 0;
  CHECK(Table::Create(c, &err) == nullptr);
  CHECK(err.find("capacity") != std::string::npos);
  c.capacity = kMaxCapacity + 1;  // an index entry would keep fewer than 4 signature bits
  CHECK(Table::Create(c, &err) == nullptr);
  CHECK(err.find("capacity: must be 1 .. 2^27") != std::string::npos);
  c = SmallConfig();
  c.index_load = 0.99;
  CHECK(Table::Create(c, &err) == nullptr);
  CHECK(err.find("index_load") != std::string::npos);
  c = SmallConfig();
  c.timeouts.tcp[kTcpEstablished] = 0;
  CHECK(Table::Create(c, &err) == nullptr);
  CHECK(err.find("timeouts") != std::string::npos);
}

TEST(conntrack_insert_lookup_delete_both_directions) {
  auto t = MustCreate(SmallConfig());
  const Verdict c = One(*t, kUdp, 1000);
  CHECK(c.result == Result::kCreated);
  CHECK_EQ(c.dir, kOriginal);
  const Verdict a = Look(*t, kUdp, 1001);
  CHECK(a.result == Result::kHit);
  CHECK_EQ(a.session, c.session);
  CHECK_EQ(a.gen, c.gen);
  CHECK_EQ(a.dir, kOriginal);
  const Verdict b = Look(*t, Inverse(kUdp), 1001);
  CHECK(b.result == Result::kHit);
  CHECK_EQ(b.session, c.session);
  CHECK_EQ(b.dir, kReply);
  // Another tuple: a miss. Same addresses, other port.
  Tuple o = kUdp;
  o.sport++;
  CHECK(Look(*t, o, 1001).result == Result::kMiss);
  // Reply packet: state replied, assured.
  const Verdict r = One(*t, Inverse(kUdp), 1002, 0, 0, 60);
  CHECK(r.result == Result::kTracked);
  CHECK_EQ(r.state, kReplied);
  SessionInfo info;
  CHECK(t->Read(c.session, &info));
  CHECK(info.orig == kUdp);
  CHECK(info.reply == Inverse(kUdp));
  CHECK_EQ(info.flags, kFlagSeenReply | kFlagAssured);
  CHECK_EQ(info.packets[0], 1u);
  CHECK_EQ(info.packets[1], 1u);
  CHECK_EQ(info.bytes[0], 100u);
  CHECK_EQ(info.bytes[1], 60u);
  CHECK_EQ(t->stats().in_use, 1u);
  // Delete: both directions gone, the generation changed, a stale delete fails.
  SessionInfo del;
  CHECK(t->Delete(c.session, c.gen, &del));
  CHECK(del.orig == kUdp);
  CHECK_EQ(del.reason, kDeleted);
  CHECK(!t->Delete(c.session, c.gen));
  CHECK(Look(*t, kUdp, 1003).result == Result::kMiss);
  CHECK(Look(*t, Inverse(kUdp), 1003).result == Result::kMiss);
  CHECK(!t->Read(c.session, &info));
  const Stats s = t->stats();
  CHECK_EQ(s.in_use, 0u);
  CHECK_EQ(s.created, 1u);
  CHECK_EQ(s.removed[kDeleted], 1u);
  CHECK_EQ(s.lookups, 7u);  // 5 Look + the lookups inside the 2 Process calls
  // A new session reuses slots; its generation differs from any old handle.
  const Verdict c2 = One(*t, kUdp, 2000);
  CHECK(c2.result == Result::kCreated);
  CHECK(c2.session != c.session || c2.gen != c.gen);
}

TEST(conntrack_nat_reply_tuple) {
  auto t = MustCreate(SmallConfig());
  // NAT: 10.0.0.1:5000 -> 192.0.2.7:53 translated to 203.0.113.1:6000; reply = inverse of that.
  const Tuple translated = MakeTuple(Ip(203, 0, 113, 1), Ip(192, 0, 2, 7), 6000, 53, kProtoUdp);
  const Tuple reply = Inverse(translated);
  PacketMeta m;
  m.bytes = 80;
  Verdict v;
  t->Lookup(&kUdp, 1, 10, &v);
  CHECK(v.result == Result::kMiss);
  t->Create(&kUdp, &reply, &m, 1, 10, &v);
  CHECK(v.result == Result::kCreated);
  const Verdict r = Look(*t, reply, 11);
  CHECK(r.result == Result::kHit);
  CHECK_EQ(r.session, v.session);
  CHECK_EQ(r.dir, kReply);
  CHECK(Look(*t, Inverse(kUdp), 11).result == Result::kMiss);  // not the plain inverse
  // Another inside host wanting the same external port: conflict, nothing created.
  const Tuple other = MakeTuple(Ip(10, 0, 0, 2), Ip(192, 0, 2, 7), 5000, 53, kProtoUdp);
  Verdict w;
  w.result = Result::kMiss;
  t->Create(&other, &reply, &m, 1, 12, &w);
  CHECK(w.result == Result::kConflict);
  CHECK_EQ(t->stats().conflicts, 1u);
  CHECK_EQ(t->stats().in_use, 1u);
  CHECK(Look(*t, other, 12).result == Result::kMiss);
  // Once the first session expired, the mapping is free again; Create reports what it removed.
  SessionInfo freed[2];
  uint32_t nfreed = 9;
  w.result = Result::kMiss;
  t->Create(&other, &reply, &m, 1, 10 + 30000, &w, freed, &nfreed);
  CHECK(w.result == Result::kCreated);
  CHECK_EQ(nfreed, 1u);
  CHECK(freed[0].orig == kUdp);
  CHECK_EQ(freed[0].reason, kExpiredUdp);
  CHECK_EQ(t->stats().removed[kExpiredUdp], 1u);
}

TEST(conntrack_full_table) {
  auto t = MustCreate(SmallConfig(100));
  std::vector<Tuple> keys;
  for (uint32_t i = 0; i < 101; i++) keys.push_back(MakeTuple(Ip(10, 0, 0, 1), Ip(10, 1, 0, 1), uint16_t(1000 + i), 53, kProtoUdp));
  std::vector<PacketMeta> meta(keys.size());
  std::vector<Verdict> v(keys.size());
  t->Process(keys.data(), meta.data(), uint32_t(keys.size()), 5, v.data());
  for (uint32_t i = 0; i < 100; i++) CHECK(v[i].result == Result::kCreated);
  CHECK(v[100].result == Result::kFull);
  const Stats s = t->stats();
  CHECK_EQ(s.in_use, 100u);
  CHECK_EQ(s.refused_full, 1u);
  // Existing sessions unaffected, from both sides.
  for (uint32_t i = 0; i < 100; i++) {
    if (!CHECK(Look(*t, keys[i], 6).result == Result::kHit)) break;
    if (!CHECK(Look(*t, Inverse(keys[i]), 6).result == Result::kHit)) break;
  }
  CHECK(One(*t, keys[100], 7).result == Result::kFull);
  CHECK(One(*t, keys[3], 7).result == Result::kTracked);
  CHECK(t->Delete(v[3].session, v[3].gen));
  CHECK(One(*t, keys[100], 8).result == Result::kCreated);
}

TEST(conntrack_expiry_driven_time) {
  Config cfg = SmallConfig(64);
  auto t = MustCreate(cfg);
  const uint64_t t0 = 1000000;
  CHECK(One(*t, kUdp, t0).result == Result::kCreated);
  const Tuple icmp = IcmpQuery(Ip(10, 0, 0, 1), Ip(8, 8, 8, 8), 77);
  CHECK(One(*t, icmp, t0, 0, 8).result == Result::kCreated);
  Verdict tcp = One(*t, kTcp, t0, kTcpSyn);
  CHECK(tcp.result == Result::kCreated);
  CHECK_EQ(tcp.state, kTcpSynSent);
  // UDP unreplied: 30 s. A lookup at the deadline misses; Expire before it frees nothing.
  CHECK(Look(*t, kUdp, t0 + 29999).result == Result::kHit);
  CHECK(Look(*t, kUdp, t0 + 30000).result == Result::kMiss);
  CHECK_EQ(t->Expire(t0 + 29999, 64), 0u);
  SessionInfo out[8];
  CHECK_EQ(t->Expire(t0 + 30000, 64, out, 8), 2u);  // UDP and ICMP (30 s each)
  CHECK_EQ(t->stats().removed[kExpiredUdp], 1u);
  CHECK_EQ(t->stats().removed[kExpiredIcmp], 1u);
  CHECK_EQ(t->stats().in_use, 1u);
  // TCP SYN_SENT: 120 s.
  CHECK(Look(*t, kTcp, t0 + 119999).result == Result::kHit);
  CHECK_EQ(t->Expire(t0 + 120000, 64, out, 8), 1u);
  CHECK(out[0].orig == kTcp);
  CHECK_EQ(out[0].reason, kExpiredTcpOpening);
  CHECK_EQ(out[0].state, kTcpSynSent);
  // Established + assured: 5 days; unassured (loose pickup, no reply yet): capped at 300 s.
  const uint64_t t1 = t0 + 200000;
  One(*t, kTcp, t1, kTcpSyn);
  One(*t, Inverse(kTcp), t1 + 1, kTcpSyn | kTcpAck);
  Verdict e = One(*t, kTcp, t1 + 2, kTcpAck);
  CHECK_EQ(e.state, kTcpEstablished);
  SessionInfo info;
  CHECK(t->Read(e.session, &info));
  CHECK(info.flags & kFlagAssured);
  CHECK_EQ(info.expires, t1 + 2 + 432000ull * 1000);
  const Tuple loose = MakeTuple(Ip(10, 0, 0, 9), Ip(192, 0, 2, 9), 1234, 443, kProtoTcp);
  Verdict l = One(*t, loose, t1, kTcpAck);
  CHECK(l.result == Result::kCreated);
  CHECK_EQ(l.state, kTcpEstablished);
  CHECK(t->Read(l.session, &info));
  CHECK_EQ(info.expires, t1 + 300000);
  // UDP replied: 120 s from the reply.
  One(*t, kUdp, t1);
  One(*t, Inverse(kUdp), t1 + 10);
  CHECK(Look(*t, kUdp, t1 + 10 + 119999).result == Result::kHit);
  CHECK(Look(*t, kUdp, t1 + 10 + 120000).result == Result::kMiss);
  // Budgeted sweeps: 64 slots, 16 at a time, finds the expired ones over four calls.
  uint32_t total = 0;
  for (int i = 0; i < 4; i++) total += t->Expire(t1 + 400000, 16);
  CHECK_EQ(total, 2u);  // loose (300 s) and UDP; the assured TCP stays
  CHECK_EQ(t->stats().in_use, 1u);
  // TryExpire does not wait for a busy writer lock; here it is free.
  CHECK_EQ(t->TryExpire(t1 + 400000, 64), 0u);
}

TEST(conntrack_expired_session_replaced_on_create) {
  auto t = MustCreate(SmallConfig(4));
  Verdict a = One(*t, kUdp, 0);
  CHECK(a.result == Result::kCreated);
  // Past the deadline but not swept: a new packet creates a new session (old one removed).
  Verdict b = One(*t, kUdp, 30000);
  CHECK(b.result == Result::kCreated);
  CHECK(b.session != a.session || b.gen != a.gen);
  CHECK_EQ(t->stats().in_use, 1u);
  CHECK_EQ(t->stats().removed[kExpiredUdp], 1u);
}

namespace {

struct TcpCase {
  Tuple k = kTcp;
  std::unique_ptr<Table> t;
  uint64_t now = 0;
  explicit TcpCase(Config cfg = SmallConfig()) : t(MustCreate(cfg)) {}
  Verdict Orig(uint8_t f) { return One(*t, k, ++now, f); }
  Verdict Reply(uint8_t f) { return One(*t, Inverse(k), ++now, f); }
};

constexpr uint8_t kSyn = kTcpSyn, kSynAck = kTcpSyn | kTcpAck, kAck = kTcpAck,
                  kFinAck = kTcpFin | kTcpAck, kRst = kTcpRst;

}  // namespace

TEST(conntrack_tcp_handshake_and_close_from_client) {
  TcpCase c;
  Verdict v = c.Orig(kSyn);
  CHECK(v.result == Result::kCreated);
  CHECK_EQ(v.state, kTcpSynSent);
  v = c.Orig(kSyn);  // retransmitted SYN
  CHECK(v.result == Result::kTracked);
  CHECK_EQ(v.state, kTcpSynSent);
  v = c.Reply(kSynAck);
  CHECK_EQ(v.state, kTcpSynRecv);
  CHECK_EQ(v.dir, kReply);
  v = c.Reply(kSynAck);  // retransmitted SYN/ACK: ignored
  CHECK(v.result == Result::kIgnored);
  CHECK_EQ(v.state, kTcpSynRecv);
  v = c.Orig(kAck);
  CHECK_EQ(v.state, kTcpEstablished);
  v = c.Orig(kAck | kTcpPsh);
  CHECK_EQ(v.state, kTcpEstablished);
  v = c.Orig(kFinAck);
  CHECK_EQ(v.state, kTcpFinWait);
  v = c.Reply(kAck);
  CHECK_EQ(v.state, kTcpCloseWait);
  v = c.Reply(kFinAck);
  CHECK_EQ(v.state, kTcpLastAck);
  v = c.Orig(kAck);
  CHECK_EQ(v.state, kTcpTimeWait);
  CHECK_EQ(c.t->stats().invalid, 0u);
  CHECK_EQ(c.t->stats().ignored, 1u);
}

TEST(conntrack_tcp_close_from_server_and_simultaneous) {
  {
    TcpCase c;
    c.Orig(kSyn), c.Reply(kSynAck), c.Orig(kAck);
    CHECK_EQ(c.Reply(kFinAck).state, kTcpFinWait);
    CHECK_EQ(c.Orig(kAck).state, kTcpCloseWait);
    CHECK_EQ(c.Orig(kFinAck).state, kTcpLastAck);
    CHECK_EQ(c.Reply(kAck).state, kTcpTimeWait);
  }
  {
    TcpCase c;  // simultaneous close: FINs cross
    c.Orig(kSyn), c.Reply(kSynAck), c.Orig(kAck);
    CHECK_EQ(c.Orig(kFinAck).state, kTcpFinWait);
    CHECK_EQ(c.Reply(kFinAck).state, kTcpLastAck);
    CHECK_EQ(c.Orig(kAck).state, kTcpTimeWait);
    CHECK_EQ(c.Reply(kAck).state, kTcpTimeWait);
  }
}

TEST(conntrack_tcp_rst_and_invalid) {
  {
    TcpCase c;
    c.Orig(kSyn), c.Reply(kSynAck), c.Orig(kAck);
    Verdict v = c.Reply(kRst | kAck);
    CHECK_EQ(v.state, kTcpClose);
    SessionInfo info;
    CHECK(c.t->Read(v.session, &info));
    CHECK_EQ(info.expires, c.now + 10000);  // CLOSE: 10 s
  }
  {
    TcpCase c;
    // Packets that cannot start a session: not tracked, counted invalid.
    CHECK(c.Orig(kSynAck).result == Result::kInvalid);
    CHECK(c.Orig(kFinAck).result == Result::kInvalid);
    CHECK(c.Orig(kRst).result == Result::kInvalid);
    CHECK(c.Orig(0).result == Result::kInvalid);
    CHECK(c.Orig(kSyn | kTcpFin).result == Result::kInvalid);  // bad flag combination
    CHECK_EQ(c.t->stats().in_use, 0u);
    CHECK_EQ(c.t->stats().invalid, 5u);
    // Out-of-state packets on a session: invalid, state unchanged.
    c.Orig(kSyn);
    Verdict v = c.Orig(kAck);  // ACK before the SYN/ACK
    CHECK(v.result == Result::kInvalid);
    CHECK_EQ(v.state, kTcpSynSent);
    v = c.Orig(kFinAck);
    CHECK(v.result == Result::kInvalid);
    v = c.Reply(0);  // no flags
    CHECK(v.result == Result::kInvalid);
    v = c.Reply(kTcpFin);  // FIN without ACK: bad flags
    CHECK(v.result == Result::kInvalid);
    CHECK_EQ(c.t->stats().invalid, 9u);
    SessionInfo info;
    CHECK(c.t->Read(v.session, &info));
    CHECK_EQ(info.state, kTcpSynSent);
    CHECK_EQ(info.packets[0], 1u);  // invalid packets are not counted on the session
  }
  {
    Config cfg = SmallConfig();
    cfg.tcp_loose = false;
    TcpCase c(cfg);
    CHECK(c.Orig(kAck).result == Result::kInvalid);  // no mid-stream pickup
  }
}

TEST(conntrack_tcp_simultaneous_open) {
  TcpCase c;
  CHECK_EQ(c.Orig(kSyn).state, kTcpSynSent);
  CHECK_EQ(c.Reply(kSyn).state, kTcpSynSent2);
  CHECK_EQ(c.Orig(kSynAck).state, kTcpSynRecv);
  CHECK(c.Reply(kSynAck).result == Result::kIgnored);  // the other side's SYN/ACK
  CHECK_EQ(c.Reply(kAck).state, kTcpSynRecv);
  const Verdict v = c.Orig(kAck);
  CHECK_EQ(v.state, kTcpEstablished);
  SessionInfo info;
  CHECK(c.t->Read(v.session, &info));
  CHECK(info.flags & kFlagAssured);
}

TEST(conntrack_tcp_reopen_from_time_wait) {
  TcpCase c;
  c.Orig(kSyn), c.Reply(kSynAck), c.Orig(kAck), c.Orig(kFinAck), c.Reply(kFinAck);
  Verdict old = c.Orig(kAck);
  CHECK_EQ(old.state, kTcpTimeWait);
  // Port reuse: a new SYN replaces the TIME_WAIT session with a fresh one.
  Verdict v = c.Orig(kSyn);
  CHECK(v.result == Result::kCreated);
  CHECK_EQ(v.state, kTcpSynSent);
  CHECK(v.gen != old.gen || v.session != old.session);
  CHECK_EQ(c.t->stats().removed[kReplaced], 1u);
  CHECK_EQ(c.t->stats().in_use, 1u);
  SessionInfo info;
  CHECK(c.t->Read(v.session, &info));
  CHECK_EQ(info.flags, 0);
  // From the other side (the server reconnects): the new session's original is the server.
  c.Reply(kSynAck), c.Orig(kAck), c.Orig(kFinAck), c.Reply(kFinAck), c.Orig(kAck);
  v = c.Reply(kSyn);
  CHECK(v.result == Result::kCreated);
  CHECK(c.t->Read(v.session, &info));
  CHECK(info.orig == Inverse(kTcp));
}

TEST(conntrack_tcp_transition_table_spot_checks) {
  // A few cells of Linux's table, by name.
  CHECK_EQ(TcpTransition(kTcpNone, kOriginal, kSyn), kTcpSynSent);
  CHECK_EQ(TcpTransition(kTcpNone, kReply, kSyn), kTcpInvalid);
  CHECK_EQ(TcpTransition(kTcpEstablished, kOriginal, kSyn), kTcpIgnore);
  CHECK_EQ(TcpTransition(kTcpSynSent, kReply, kAck), kTcpIgnore);
  CHECK_EQ(TcpTransition(kTcpSynRecv, kReply, kAck), kTcpSynRecv);
  CHECK_EQ(TcpTransition(kTcpLastAck, kOriginal, kAck), kTcpTimeWait);
  CHECK_EQ(TcpTransition(kTcpTimeWait, kReply, kSyn), kTcpSynSent);
  CHECK_EQ(TcpTransition(kTcpClose, kOriginal, kFinAck), kTcpClose);
  CHECK_EQ(TcpTransition(kTcpSynSent2, kOriginal, kSynAck), kTcpSynRecv);
  for (uint8_t s = kTcpSynSent; s < kTcpStateCount; s++) {
    CHECK_EQ(TcpTransition(s, kOriginal, kRst), kTcpClose);
    CHECK_EQ(TcpTransition(s, kReply, kRst | kAck), kTcpClose);
    CHECK_EQ(TcpTransition(s, kOriginal, 0), kTcpInvalid);
  }
  CHECK(TcpFlagsValid(kAck | kTcpPsh | kTcpEce | kTcpCwr));
  CHECK(!TcpFlagsValid(kTcpSyn | kTcpRst));
  CHECK(!TcpFlagsValid(kTcpFin));
  const Timeouts rfc = RfcNatTimeouts();
  CHECK(rfc.tcp[kTcpEstablished] >= 7440u);
  for (uint8_t s = kTcpSynSent; s < kTcpStateCount; s++) CHECK(rfc.tcp[s] >= 240u);
  CHECK(rfc.udp_unreplied >= 120u && rfc.udp_replied >= 120u);
  CHECK(rfc.icmp >= 60u);
}

TEST(conntrack_udp_icmp_other_pseudo_states) {
  auto t = MustCreate(SmallConfig());
  // ICMP echo: request creates, reply (same id, inverse tuple) tracks.
  const Tuple ping = IcmpQuery(Ip(10, 0, 0, 1), Ip(8, 8, 8, 8), 0x1234);
  Verdict v = One(*t, ping, 10, 0, 8);
  CHECK(v.result == Result::kCreated);
  CHECK_EQ(v.state, kUnreplied);
  v = One(*t, Inverse(ping), 11, 0, 0);
  CHECK(v.result == Result::kTracked);
  CHECK_EQ(v.dir, kReply);
  CHECK_EQ(v.state, kReplied);
  SessionInfo info;
  CHECK(t->Read(v.session, &info));
  CHECK_EQ(info.expires, 11u + 30000);
  // An echo reply with no session, or an error type, starts nothing.
  const Tuple pong = IcmpQuery(Ip(10, 0, 0, 2), Ip(8, 8, 8, 8), 9);
  CHECK(One(*t, pong, 12, 0, 0).result == Result::kInvalid);
  CHECK(One(*t, pong, 12, 0, 3).result == Result::kInvalid);
  CHECK(One(*t, pong, 12, 0, 13).result == Result::kCreated);  // timestamp request
  // Other protocols (GRE): generic 600 s.
  const Tuple gre = MakeTuple(Ip(10, 0, 0, 1), Ip(10, 9, 9, 9), 0, 0, 47);
  v = One(*t, gre, 100);
  CHECK(v.result == Result::kCreated);
  CHECK(t->Read(v.session, &info));
  CHECK_EQ(info.expires, 100u + 600000);
  // UDP: unreplied 30 s, replied 120 s.
  v = One(*t, kUdp, 100);
  CHECK(t->Read(v.session, &info));
  CHECK_EQ(info.expires, 100u + 30000);
  v = One(*t, Inverse(kUdp), 200);
  CHECK_EQ(v.state, kReplied);
  CHECK(t->Read(v.session, &info));
  CHECK_EQ(info.expires, 200u + 120000);
  // A self-inverse tuple (same address and port both ways) has one index entry and works.
  const Tuple self = MakeTuple(Ip(10, 0, 0, 5), Ip(10, 0, 0, 5), 7, 7, kProtoUdp);
  v = One(*t, self, 300);
  CHECK(v.result == Result::kCreated);
  CHECK(One(*t, self, 301).result == Result::kTracked);
  CHECK(t->Delete(v.session, v.gen));
  CHECK(Look(*t, self, 302).result == Result::kMiss);
}

TEST(conntrack_memory_per_session_1m) {
  Config cfg;
  cfg.capacity = 1u << 20;
  cfg.seed = 7;
  auto t = MustCreate(cfg);
  if (!t) return;
  const double per = double(t->MemoryBytes()) / cfg.capacity;
  std::printf("    memory: %zu bytes for %u sessions = %.1f bytes/session, %u buckets\n",
              t->MemoryBytes(), cfg.capacity, per, t->buckets());
  CHECK(per <= 128.0);
  CHECK(t->MemoryBytes() < (size_t(256) << 20));
  // Fill to capacity (index at 90% load): every session is created, then found both ways.
  constexpr uint32_t kBurst = 64;
  std::vector<Tuple> keys(kBurst);
  std::vector<PacketMeta> meta(kBurst);
  std::vector<Verdict> v(kBurst);
  uint32_t created = 0;
  Rng rng(3);
  for (uint32_t i = 0; i < cfg.capacity; i += kBurst) {
    for (uint32_t j = 0; j < kBurst; j++) {
      const uint32_t id = i + j;
      keys[j] = MakeTuple(Ip(10, 0, 0, 0) + (id >> 8), Ip(172, 16, 0, 0) + uint32_t(rng.Below(1 << 16)),
                          uint16_t(1024 + (id & 0xff)), 443, kProtoUdp);
    }
    t->Process(keys.data(), meta.data(), kBurst, 1, v.data());
    for (uint32_t j = 0; j < kBurst; j++) created += v[j].result == Result::kCreated;
  }
  CHECK_EQ(created, cfg.capacity);
  CHECK_EQ(t->stats().in_use, cfg.capacity);
  CHECK(One(*t, kUdp, 2).result == Result::kFull);
  std::printf("    full: %llu of %u index entries in their secondary bucket, longest cuckoo path %u\n",
              (unsigned long long)t->DebugSecondaryEntries(), 2 * cfg.capacity, t->DebugMaxCuckooPath());
}

// ---------------------------------------------------------------------------------------------
// Differential test against a plain model: std::unordered_map from tuple to (session, dir), and
// the sessions by slot number (the model follows the slots the table hands out, and checks that
// a slot is never handed out twice). The model re-implements the pseudo-states and timeouts and
// uses TcpTransition for TCP (the table of transitions is tested above case by case).

namespace {

struct TupleHash {
  size_t operator()(const Tuple& t) const {
    return std::hash<uint64_t>()((uint64_t(t.src) << 32 | t.dst) ^ (uint64_t(t.sport) << 24 | uint64_t(t.dport) << 8 | t.proto) * 0x9E3779B97F4A7C15ull);
  }
};

struct Model {
  struct S {
    Tuple orig, reply;
    uint8_t proto, state, flags;
    uint64_t expires;
    uint32_t packets[2];
  };
  Config cfg;
  std::unordered_map<Tuple, std::pair<uint32_t, Dir>, TupleHash> index;
  std::unordered_map<uint32_t, S> live;  // slot -> session (live or past deadline, not freed)
  std::vector<uint32_t> gen;             // per slot
  uint32_t cursor = 0;
  uint64_t removed[kReasonCount] = {};

  explicit Model(const Config& c) : cfg(c), gen(c.capacity, 1) {}

  uint64_t Timeout(uint8_t proto, uint8_t state, uint8_t flags) const {
    const Timeouts& t = cfg.timeouts;
    const uint64_t k = cfg.ticks_per_second;
    if (proto == kProtoTcp) {
      uint64_t x = uint64_t(t.tcp[state]) * k;
      if (!(flags & kFlagAssured)) x = std::min<uint64_t>(x, uint64_t(t.tcp_unassured_max) * k);
      return x;
    }
    if (proto == kProtoUdp) return uint64_t(state ? t.udp_replied : t.udp_unreplied) * k;
    if (proto == kProtoIcmp) return uint64_t(t.icmp) * k;
    return uint64_t(state ? t.other_replied : t.other_unreplied) * k;
  }
  static uint8_t Reason(const S& s) {
    if (s.proto == kProtoTcp) {
      if (s.state == kTcpEstablished) return kExpiredTcpEstablished;
      if (s.state == kTcpSynSent || s.state == kTcpSynRecv || s.state == kTcpSynSent2) return kExpiredTcpOpening;
      return kExpiredTcpClosing;
    }
    return s.proto == kProtoUdp ? kExpiredUdp : s.proto == kProtoIcmp ? kExpiredIcmp : kExpiredOther;
  }
  void Free(uint32_t slot, uint8_t reason) {
    const S& s = live.at(slot);
    index.erase(s.orig);
    index.erase(s.reply);
    live.erase(slot);
    gen[slot]++;
    removed[reason]++;
  }
  Verdict Lookup(const Tuple& k, uint64_t now) const {
    Verdict v;
    auto it = index.find(k);
    if (it == index.end()) return v;
    const S& s = live.at(it->second.first);
    if (s.expires <= now) return v;
    v.session = it->second.first;
    v.gen = gen[v.session];
    v.dir = it->second.second;
    v.state = s.state;
    v.result = Result::kHit;
    return v;
  }
  static bool Reopen(const S& s, uint8_t f) {
    return s.proto == kProtoTcp && (s.state == kTcpTimeWait || s.state == kTcpClose) &&
           (f & (kTcpSyn | kTcpAck | kTcpRst)) == kTcpSyn && TcpFlagsValid(f);
  }
  void Track(const PacketMeta& m, uint64_t now, Verdict* v) {
    S& s = live.at(v->session);
    if (Reopen(s, m.tcp_flags)) {
      v->result = Result::kMiss;
      return;
    }
    const Dir d = v->dir;
    if (s.proto == kProtoTcp) {
      const uint8_t ns = TcpFlagsValid(m.tcp_flags) ? TcpTransition(s.state, d, m.tcp_flags) : kTcpInvalid;
      if (ns == kTcpInvalid || ns == kTcpIgnore) {
        v->result = ns == kTcpInvalid ? Result::kInvalid : Result::kIgnored;
        v->state = s.state;
        return;
      }
      s.state = ns;
      if (d == kReply) s.flags |= kFlagSeenReply;
      if (ns == kTcpEstablished && (s.flags & kFlagSeenReply)) s.flags |= kFlagAssured;
    } else {
      const uint8_t ty = m.icmp_type;
      const bool query = ty == 0 || ty == 8 || ty == 13 || ty == 14 || ty == 15 || ty == 16 || ty == 17 || ty == 18;
      if (s.proto == kProtoIcmp && !query) {
        v->result = Result::kInvalid;
        v->state = s.state;
        return;
      }
      if (d == kReply) {
        s.state = kReplied;
        s.flags |= kFlagSeenReply | kFlagAssured;
      }
    }
    s.expires = now + Timeout(s.proto, s.state, s.flags);
    s.packets[d]++;
    v->result = Result::kTracked;
    v->state = s.state;
  }
  // `got` is the table's verdict for this packet (to learn the slot of a created session).
  Verdict Create(const Tuple& k, const Tuple& r, const PacketMeta& m, uint64_t now, const Verdict& got,
                 bool* slot_error) {
    Verdict v;
    auto it = index.find(k);
    if (it != index.end()) {
      S& s = live.at(it->second.first);
      if (s.expires <= now) {
        Free(it->second.first, Reason(s));
      } else if (Reopen(s, m.tcp_flags)) {
        Free(it->second.first, kReplaced);
      } else {
        v.session = it->second.first;
        v.gen = gen[v.session];
        v.dir = it->second.second;
        v.result = Result::kHit;
        Track(m, now, &v);
        return v;
      }
    }
    uint8_t state = kUnreplied;
    if (k.proto == kProtoTcp) {
      state = TcpFlagsValid(m.tcp_flags) ? TcpTransition(kTcpNone, kOriginal, m.tcp_flags) : kTcpInvalid;
      if (state == kTcpEstablished && !cfg.tcp_loose) state = kTcpInvalid;
    } else if (k.proto == kProtoIcmp) {
      const uint8_t ty = m.icmp_type;
      if (!(ty == 8 || ty == 13 || ty == 15 || ty == 17)) state = kTcpInvalid;
    }
    if (state == kTcpInvalid || state == kTcpIgnore) {
      v.result = Result::kInvalid;
      return v;
    }
    auto rt = index.find(r);
    if (rt != index.end()) {
      S& s = live.at(rt->second.first);
      if (s.expires > now) {
        v.result = Result::kConflict;
        return v;
      }
      Free(rt->second.first, Reason(s));
    }
    if (live.size() == cfg.capacity) {
      v.result = Result::kFull;
      return v;
    }
    if (got.result != Result::kCreated || got.session >= cfg.capacity || live.count(got.session)) {
      *slot_error = true;
      return v;
    }
    const uint32_t slot = got.session;
    gen[slot]++;
    S s{k, r, k.proto, state, 0, now + Timeout(k.proto, state, 0), {1, 0}};
    live[slot] = s;
    index[k] = {slot, kOriginal};
    if (!(r == k)) index[r] = {slot, kReply};
    v.session = slot;
    v.gen = gen[slot];
    v.dir = kOriginal;
    v.state = state;
    v.result = Result::kCreated;
    return v;
  }
  uint32_t Expire(uint64_t now, uint32_t budget) {
    uint32_t n = 0;
    budget = std::min(budget, cfg.capacity);
    for (uint32_t i = 0; i < budget; i++) {
      const uint32_t slot = cursor;
      cursor = (cursor + 1) % cfg.capacity;
      auto it = live.find(slot);
      if (it == live.end() || it->second.expires > now) continue;
      Free(slot, Reason(it->second));
      n++;
    }
    return n;
  }
};

bool SameVerdict(const Verdict& a, const Verdict& b) {
  if (a.result != b.result) return false;
  if (a.result == Result::kMiss || a.result == Result::kFull || a.result == Result::kConflict) return true;
  return a.session == b.session && a.gen == b.gen && a.dir == b.dir && a.state == b.state;
}

void PrintVerdict(const char* who, const Verdict& v) {
  std::printf("    %s: %s session %u gen %u dir %d state %d\n", who, ResultName(v.result), v.session, v.gen,
              v.dir, v.state);
}

}  // namespace

TEST(conntrack_differential_random) {
  Config cfg = SmallConfig(512);
  cfg.seed = 11;
  const char* env = std::getenv("VNF_CT_DIFF_PACKETS");
  const uint64_t target = env ? std::strtoull(env, nullptr, 0) : 3000000;
  auto t = MustCreate(cfg);
  if (!t) return;
  Model model(cfg);
  Rng rng(99);
  // Flow pool: more flows than slots, so the table fills up; a NAT-style reply for some flows,
  // drawn from a small external port range, so reply tuples collide (kConflict).
  struct Flow {
    Tuple orig, reply;
  };
  std::vector<Flow> flows(3500);
  const uint8_t protos[] = {kProtoTcp, kProtoTcp, kProtoTcp, kProtoUdp, kProtoUdp, kProtoIcmp, 47};
  for (Flow& f : flows) {
    const uint8_t p = protos[rng.Below(7)];
    const uint32_t src = Ip(10, 0, 0, uint8_t(rng.Below(8))), dst = Ip(192, 0, 2, uint8_t(rng.Below(4)));
    if (p == kProtoIcmp) {
      f.orig = IcmpQuery(src, dst, uint16_t(rng.Below(400)));
    } else if (p == 47) {
      f.orig = MakeTuple(src, dst, 0, 0, 47);
    } else {
      f.orig = MakeTuple(src, dst, uint16_t(1024 + rng.Below(300)), uint16_t(rng.Below(2) ? 80 : 53), p);
    }
    f.reply = Inverse(f.orig);
    if (rng.Below(3) == 0) {  // NAT: inverse of a translated tuple 203.0.113.1:port
      Tuple tr = f.orig;
      tr.src = Ip(203, 0, 113, 1);
      tr.sport = uint16_t(20000 + rng.Below(200));
      if (p == kProtoIcmp) tr.dport = tr.sport;
      f.reply = Inverse(tr);
    }
  }
  const uint8_t flag_set[] = {kSyn, kSyn, kSynAck, kSynAck, kAck, kAck, kAck, kAck | kTcpPsh,
                              kFinAck, kFinAck, kRst, kRst | kAck, 0, kSyn | kTcpFin};
  const uint8_t icmp_types[] = {8, 8, 0, 0, 13, 14, 3};
  uint64_t now = 1000, packets = 0, bursts = 0;
  bool ok = true, slot_error = false;
  Tuple keys[64], replies[64];
  PacketMeta meta[64];
  Verdict v[64], mv[64];
  while (packets < target && ok) {
    const uint32_t n = 1 + rng.Below(64);
    for (uint32_t i = 0; i < n; i++) {
      const Flow& f = flows[rng.Below(uint32_t(flows.size()))];
      const bool rev = rng.Below(3) == 0;
      keys[i] = rev ? f.reply : f.orig;
      replies[i] = rev ? Inverse(f.reply) : f.reply;
      meta[i].bytes = uint16_t(40 + rng.Below(1400));
      meta[i].tcp_flags = flag_set[rng.Below(sizeof(flag_set))];
      meta[i].icmp_type = keys[i].proto == kProtoIcmp ? icmp_types[rng.Below(sizeof(icmp_types))] : 0;
      if (keys[i].proto == kProtoIcmp && rev && meta[i].icmp_type == 8) meta[i].icmp_type = 0;
    }
    // Lookup.
    t->Lookup(keys, n, now, v);
    for (uint32_t i = 0; i < n && ok; i++) {
      mv[i] = model.Lookup(keys[i], now);
      if (!SameVerdict(v[i], mv[i])) {
        ok = CHECK(false);
        std::printf("    lookup mismatch at packet %llu\n", (unsigned long long)(packets + i));
        PrintVerdict("table", v[i]), PrintVerdict("model", mv[i]);
      }
    }
    // Track.
    t->Track(meta, n, now, v);
    for (uint32_t i = 0; i < n && ok; i++) {
      if (mv[i].result == Result::kHit) model.Track(meta[i], now, &mv[i]);
      if (!SameVerdict(v[i], mv[i])) {
        ok = CHECK(false);
        std::printf("    track mismatch at packet %llu\n", (unsigned long long)(packets + i));
        PrintVerdict("table", v[i]), PrintVerdict("model", mv[i]);
      }
    }
    // Create.
    SessionInfo freed[128];
    uint32_t nfreed = 0;
    t->Create(keys, replies, meta, n, now, v, freed, &nfreed);
    for (uint32_t i = 0; i < n && ok; i++) {
      if (mv[i].result == Result::kMiss) mv[i] = model.Create(keys[i], replies[i], meta[i], now, v[i], &slot_error);
      if (slot_error || !SameVerdict(v[i], mv[i])) {
        ok = CHECK(false);
        std::printf("    create mismatch at packet %llu (slot error %d)\n", (unsigned long long)(packets + i), slot_error);
        PrintVerdict("table", v[i]), PrintVerdict("model", mv[i]);
      }
    }
    packets += n;
    bursts++;
    // Time: mostly small steps, sometimes a long pause.
    const uint32_t r = rng.Below(100);
    now += r < 90 ? rng.Below(2000) : r < 99 ? rng.Below(60000) : rng.Below(400000);
    if (rng.Below(4) == 0) {
      const uint32_t budget = rng.Below(512);
      const uint32_t a = t->Expire(now, budget), b = model.Expire(now, budget);
      if (!CHECK_EQ(a, b)) ok = false;
    }
    if (bursts % 1024 == 0 && ok) {
      const Stats s = t->stats();
      ok = CHECK_EQ(s.in_use, model.live.size());
      for (uint32_t k = 0; k < kReasonCount && ok; k++) ok = CHECK_EQ(s.removed[k], model.removed[k]);
      // Spot check counters and state of a few live sessions.
      uint32_t checked = 0;
      for (const auto& [slot, ms] : model.live) {
        if (checked++ == 16) break;
        SessionInfo info;
        if (!CHECK(t->Read(slot, &info))) { ok = false; break; }
        ok = CHECK(info.orig == ms.orig) && CHECK(info.reply == ms.reply) && CHECK_EQ(info.state, ms.state) &&
             CHECK_EQ(info.flags, ms.flags) && CHECK_EQ(info.expires, ms.expires) &&
             CHECK_EQ(info.packets[0], ms.packets[0]) && CHECK_EQ(info.packets[1], ms.packets[1]);
        if (!ok) break;
      }
    }
  }
  const Stats s = t->stats();
  std::printf("    %llu packets in %llu bursts; created %llu, full %llu, conflicts %llu, invalid %llu, "
              "ignored %llu, in use %llu\n",
              (unsigned long long)packets, (unsigned long long)bursts, (unsigned long long)s.created,
              (unsigned long long)s.refused_full, (unsigned long long)s.conflicts, (unsigned long long)s.invalid,
              (unsigned long long)s.ignored, (unsigned long long)s.in_use);
  CHECK(s.refused_full > 0);  // the test did reach the full table
  CHECK(s.conflicts > 0);
  CHECK(s.removed[kReplaced] > 0);
}

// ---------------------------------------------------------------------------------------------
// Threads.

// Readers look up a fixed set of sessions (both directions) while a writer churns other sessions
// at 90% index load (cuckoo moves) and deletes them: the fixed ones must always be found, with
// their own slot and direction.
TEST(conntrack_threads_lookups_during_cuckoo_moves) {
  Config cfg = SmallConfig(1u << 13);
  auto t = MustCreate(cfg);
  if (!t) return;
  const uint32_t kFixed = cfg.capacity / 2;
  std::vector<Tuple> fixed(kFixed);
  std::vector<Verdict> fv(kFixed);
  std::vector<PacketMeta> meta(kFixed);
  for (uint32_t i = 0; i < kFixed; i++) fixed[i] = MakeTuple(Ip(10, 1, 0, 0) + i, Ip(10, 2, 0, 1), 1000, 80, kProtoUdp);
  t->Process(fixed.data(), meta.data(), kFixed, 0, fv.data());
  for (uint32_t i = 0; i < kFixed; i++) CHECK(fv[i].result == Result::kCreated);
  std::atomic<bool> stop{false};
  std::atomic<uint64_t> bad{0}, reads{0};
  auto reader = [&](uint64_t seed) {
    Rng rng(seed);
    Tuple k[32];
    uint32_t idx[32];
    Verdict v[32];
    while (!stop.load(std::memory_order_relaxed)) {
      for (uint32_t j = 0; j < 32; j++) {
        idx[j] = rng.Below(kFixed);
        const bool rev = rng.Below(2);
        k[j] = rev ? Inverse(fixed[idx[j]]) : fixed[idx[j]];
      }
      t->Lookup(k, 32, 1, v);
      for (uint32_t j = 0; j < 32; j++) {
        const bool rev = k[j].src == fixed[idx[j]].dst;
        if (v[j].result != Result::kHit || v[j].session != fv[idx[j]].session || v[j].dir != (rev ? kReply : kOriginal)) {
          bad.fetch_add(1);
        }
      }
      reads.fetch_add(32, std::memory_order_relaxed);
    }
  };
  std::thread r1(reader, 1), r2(reader, 2);
  Rng rng(5);
  std::vector<Verdict> churn;
  uint64_t rounds = 0;
  const uint64_t target_reads = 4000000;
  while (reads.load() < target_reads || rounds < 20) {
    // Fill to capacity with short-lived sessions, then delete them all.
    std::vector<Tuple> k(64);
    std::vector<PacketMeta> m(64);
    std::vector<Verdict> v(64);
    churn.clear();
    for (uint32_t filled = kFixed; filled < cfg.capacity;) {
      const uint32_t n = std::min<uint32_t>(64, cfg.capacity - filled);
      for (uint32_t j = 0; j < n; j++) {
        k[j] = MakeTuple(uint32_t(rng.Next()), uint32_t(rng.Next()), uint16_t(rng.Next()), 53, kProtoUdp);
      }
      t->Process(k.data(), m.data(), n, 0, v.data());
      for (uint32_t j = 0; j < n; j++) {
        if (v[j].result == Result::kCreated) churn.push_back(v[j]);
      }
      filled += n;
    }
    for (const Verdict& c : churn) t->Delete(c.session, c.gen);
    rounds++;
    if (rounds > 5000) break;
  }
  stop = true;
  r1.join();
  r2.join();
  std::printf("    %llu lookups during %llu fill/empty rounds, longest cuckoo path %u\n",
              (unsigned long long)reads.load(), (unsigned long long)rounds, t->DebugMaxCuckooPath());
  CHECK_EQ(bad.load(), 0u);
  CHECK(t->DebugMaxCuckooPath() > 0);  // moves did happen
}

// Two workers process both directions of a shared set of flows (each packet direction on a
// random worker), creating sessions, while an expiry thread frees them as time advances and
// slots get reused. Every hit is checked against a snapshot of its slot: if the slot still has
// the generation the lookup returned, its tuple in that direction must equal the key.
TEST(conntrack_threads_process_expire_reuse) {
  Config cfg = SmallConfig(4096);
  cfg.timeouts.udp_unreplied = 1;
  cfg.timeouts.udp_replied = 2;
  for (uint8_t st = kTcpSynSent; st < kTcpStateCount; st++) cfg.timeouts.tcp[st] = 1 + st % 3;
  cfg.timeouts.tcp_unassured_max = 2;
  auto t = MustCreate(cfg);
  if (!t) return;
  std::vector<Tuple> flows(12000);
  Rng frng(8);
  for (Tuple& f : flows) {
    f = MakeTuple(Ip(10, 0, 0, 0) + frng.Below(64), Ip(192, 0, 2, 0) + frng.Below(16),
                  uint16_t(1024 + frng.Below(2000)), 80, frng.Below(2) ? kProtoTcp : kProtoUdp);
  }
  std::atomic<uint64_t> clock{0};
  std::atomic<bool> stop{false};
  std::atomic<uint64_t> wrong{0}, hits{0}, created{0}, full{0};
  auto worker = [&](uint64_t seed) {
    Rng rng(seed);
    Tuple k[32];
    PacketMeta m[32];
    Verdict v[32];
    const uint8_t fl[] = {kSyn, kSynAck, kAck, kFinAck, kRst};
    uint64_t iter = 0;
    while (!stop.load(std::memory_order_relaxed)) {
      const uint64_t now = clock.load(std::memory_order_relaxed);
      for (uint32_t j = 0; j < 32; j++) {
        const Tuple& f = flows[rng.Below(uint32_t(flows.size()))];
        k[j] = rng.Below(2) ? Inverse(f) : f;
        m[j].tcp_flags = fl[rng.Below(5)];
        m[j].bytes = 64;
      }
      t->Process(k, m, 32, now, v);
      for (uint32_t j = 0; j < 32; j++) {
        if (v[j].result == Result::kFull) full.fetch_add(1, std::memory_order_relaxed);
        if (v[j].session == kNoSession) continue;
        if (v[j].result == Result::kCreated) created.fetch_add(1, std::memory_order_relaxed);
        SessionInfo info;
        if (t->Read(v[j].session, &info) && info.gen == v[j].gen) {
          const Tuple& mine = v[j].dir == kOriginal ? info.orig : info.reply;
          if (!(mine == k[j])) wrong.fetch_add(1);
          hits.fetch_add(1, std::memory_order_relaxed);
        }
      }
      if (++iter % 4 == 0) t->TryExpire(now, 64);
    }
  };
  std::thread w1(worker, 21), w2(worker, 22);
  std::thread expirer([&] {
    SessionInfo out[64];
    while (!stop.load(std::memory_order_relaxed)) {
      t->Expire(clock.load(std::memory_order_relaxed), 256, out, 64);
      std::this_thread::yield();
    }
  });
  // Simulated time: 1500 s in 1.5 s of wall time (flows idle out between their packets).
  for (int i = 0; i < 1500; i++) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
    clock.fetch_add(1000, std::memory_order_relaxed);
  }
  stop = true;
  w1.join(), w2.join(), expirer.join();
  // Quiescent now: the table must be consistent. Every live slot is found from both sides.
  const uint64_t now = clock.load();
  uint64_t live = 0, lost = 0;
  for (uint32_t s = 0; s < cfg.capacity; s++) {
    SessionInfo info;
    if (!t->Read(s, &info)) continue;
    live++;
    if (info.expires <= now) continue;
    const Verdict a = Look(*t, info.orig, now), b = Look(*t, info.reply, now);
    lost += a.session != s || b.session != s || a.dir != kOriginal || b.dir != kReply;
  }
  const Stats st = t->stats();
  std::printf("    created %llu, checked hits %llu, full %llu, removed by expiry %llu, in use %llu\n",
              (unsigned long long)created.load(), (unsigned long long)hits.load(), (unsigned long long)full.load(),
              (unsigned long long)(st.removed[kExpiredUdp] + st.removed[kExpiredTcpOpening] +
                                   st.removed[kExpiredTcpEstablished] + st.removed[kExpiredTcpClosing]),
              (unsigned long long)st.in_use);
  CHECK_EQ(wrong.load(), 0u);
  CHECK_EQ(lost, 0u);
  CHECK(st.removed[kExpiredUdp] + st.removed[kExpiredTcpOpening] + st.removed[kExpiredTcpClosing] > 0);
  CHECK_EQ(live, st.in_use);
  CHECK(created.load() > st.in_use);  // slots were reused
  // Drain: everything expires, index empty afterwards (every tuple misses, in_use 0).
  uint32_t freed = 0;
  for (int i = 0; i < 4; i++) freed += t->Expire(now + (uint64_t(1) << 40), cfg.capacity);
  CHECK_EQ(t->stats().in_use, 0u);
  CHECK_EQ(t->DebugIndexEntries(), 0u);
  (void)freed;
}
