// Connection tracking core: a fixed-capacity session table indexed from both directions, with
// nf_conntrack's TCP state machine, UDP/ICMP pseudo-states, per-state timeouts and incremental
// expiry (see docs/conntrack.md). Every data-path call takes a burst.
//
//   namespace ct = vnf::conntrack;
//   ct::Config cfg;  cfg.capacity = 1 << 20;              // timeouts default to Linux's
//   std::string err;
//   std::unique_ptr<ct::Table> t = ct::Table::Create(cfg, &err);   // null + err on bad config
//
//   // Plain conntrack, one call per burst (any worker thread):
//   t->Process(keys, meta, n, now, verdict);   // verdict[i]: session, dir, state, result
//
//   // The same in three steps, as NAT uses them (the reply tuple is NAT's choice):
//   t->Lookup(keys, n, now, v);                // lock-free: v[i].result = kHit or kMiss
//   t->Track(meta, n, now, v);                 // kHit -> kTracked / kIgnored / kInvalid
//   ... for each v[i].result == kMiss, NAT picks reply[i] (inverse of the translated tuple) ...
//   t->Create(keys, reply, meta, n, now, v);   // kMiss -> kCreated / kTracked / kInvalid /
//                                              //         kFull / kConflict (one lock per burst)
//
//   // Expiry, a bounded amount of work per call (a worker between bursts, or a timer thread):
//   uint32_t k = t->TryExpire(now, 256, expired, 256);   // expired[0..k): tuples, for NAT
//
// Time: `now` is in the caller's ticks (Config::ticks_per_second, default 1000 = ms), never
// read from a clock here, so tests drive time. Byte order: host order everywhere.
//
// Threads: Lookup, Track and Read are lock-free and may run on any number of threads; Create,
// Delete and Expire serialise on one writer mutex (Create takes it once per burst, only when
// the burst has misses); TryExpire never waits for it. A lookup never returns a session that
// was freed or reused (generation check); see docs/conntrack.md, "Concurrency".
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>

namespace vnf::conntrack {

// IPv4 5-tuple, 16 bytes (pad must be zero: the constructors and Inverse keep it so).
// ICMP queries (echo, timestamp, information, address mask): the identifier goes in BOTH sport
// and dport (IcmpQuery), so the reply's tuple is the Inverse of the request's.
struct Tuple {
  uint32_t src = 0, dst = 0;
  uint16_t sport = 0, dport = 0;
  uint8_t proto = 0;
  uint8_t pad[3] = {0, 0, 0};
  bool operator==(const Tuple&) const = default;
};
static_assert(sizeof(Tuple) == 16);

inline Tuple MakeTuple(uint32_t src, uint32_t dst, uint16_t sport, uint16_t dport, uint8_t proto) {
  Tuple t;
  t.src = src, t.dst = dst, t.sport = sport, t.dport = dport, t.proto = proto;
  return t;
}
inline Tuple Inverse(const Tuple& t) { return MakeTuple(t.dst, t.src, t.dport, t.sport, t.proto); }
inline Tuple IcmpQuery(uint32_t src, uint32_t dst, uint16_t id) { return MakeTuple(src, dst, id, id, 1); }

constexpr uint8_t kProtoIcmp = 1, kProtoTcp = 6, kProtoUdp = 17;
constexpr uint8_t kTcpFin = 0x01, kTcpSyn = 0x02, kTcpRst = 0x04, kTcpPsh = 0x08, kTcpAck = 0x10,
                  kTcpUrg = 0x20, kTcpEce = 0x40, kTcpCwr = 0x80;

// Per-packet input besides the key: IP total length (for the byte counters), the TCP flags
// byte (TCP only), the ICMP type (ICMP only; a session starts only on a query request type).
struct PacketMeta {
  uint16_t bytes = 0;
  uint8_t tcp_flags = 0;
  uint8_t icmp_type = 0;
};

// nf_conntrack's TCP states, same order and names (TCP_CONNTRACK_*).
enum TcpState : uint8_t {
  kTcpNone = 0,
  kTcpSynSent,
  kTcpSynRecv,
  kTcpEstablished,
  kTcpFinWait,
  kTcpCloseWait,
  kTcpLastAck,
  kTcpTimeWait,
  kTcpClose,
  kTcpSynSent2,  // simultaneous open: SYN seen from both sides
  kTcpStateCount
};
const char* TcpStateName(uint8_t s);

// UDP, ICMP and other protocols: state 0 until a packet is seen in the reply direction, then 1.
constexpr uint8_t kUnreplied = 0, kReplied = 1;

// Session flags (SessionInfo::flags).
constexpr uint8_t kFlagSeenReply = 1;  // a valid packet was seen in the reply direction
constexpr uint8_t kFlagAssured = 2;    // TCP: established with both directions seen; UDP: replied

enum Dir : uint8_t { kOriginal = 0, kReply = 1 };
constexpr uint32_t kNoSession = 0xffffffffu;

enum class Result : uint8_t {
  kMiss = 0,   // Lookup: no live session (absent or past its deadline)
  kHit,        // Lookup: found; Track has not run yet
  kTracked,    // valid packet of an existing session: state and deadline updated
  kCreated,    // a new session was created by this packet (dir = kOriginal)
  kIgnored,    // accepted without a state change (nf_conntrack's "ignore", e.g. SYN in ESTABLISHED)
  kInvalid,    // no valid transition (or bad TCP flags, or ICMP reply without a session): not tracked
  kFull,       // new session refused: table at capacity (drop it; existing sessions unaffected)
  kConflict,   // new session refused: its reply tuple is already used by another live session
};
const char* ResultName(Result r);

// One packet's answer. session/gen identify the session (gen changes when the slot is freed),
// dir says which of its tuples the key matched, state is the state after this packet.
struct Verdict {
  uint32_t session = kNoSession;
  uint32_t gen = 0;
  Dir dir = kOriginal;
  uint8_t state = 0;
  Result result = Result::kMiss;
  uint8_t mark = 0;  // the session's mark (Create's marks[i]); valid with a session
};
static_assert(sizeof(Verdict) == 12);

// Timeouts in seconds (converted to ticks at Create). Defaults are Linux's nf_conntrack ones.
// RFC 5382 (TCP NAT) wants established >= 7440 s and transitory >= 240 s (Linux's SYN_SENT,
// SYN_RECV, CLOSE_WAIT, LAST_ACK, CLOSE are shorter: RfcNatTimeouts() raises them);
// RFC 4787 (UDP NAT) wants UDP mappings >= 120 s (300 s recommended), RFC 5508 ICMP >= 60 s.
struct Timeouts {
  uint32_t tcp[kTcpStateCount] = {
      0,        // none (unused)
      120,      // SYN_SENT
      60,       // SYN_RECV
      432000,   // ESTABLISHED (5 days)
      120,      // FIN_WAIT
      60,       // CLOSE_WAIT
      30,       // LAST_ACK
      120,      // TIME_WAIT
      10,       // CLOSE
      120,      // SYN_SENT2
  };
  uint32_t tcp_unassured_max = 300;  // cap for TCP sessions not yet assured (Linux's UNACK 5 min)
  uint32_t udp_unreplied = 30;
  uint32_t udp_replied = 120;
  uint32_t icmp = 30;
  uint32_t other_unreplied = 600;    // Linux's generic timeout
  uint32_t other_replied = 600;
};
Timeouts RfcNatTimeouts();

constexpr uint32_t kMaxCapacity = 1u << 27;  // sessions (index entries keep >= 4 signature bits)

struct Config {
  uint32_t capacity = 1u << 16;      // sessions; any value from 1 to 2^27
  double index_load = 0.9;           // index slots used when full (2 per session): 0.5 .. 0.95
  uint32_t ticks_per_second = 1000;  // unit of `now`
  Timeouts timeouts;
  bool tcp_loose = true;             // pick up established TCP flows from a mid-stream ACK (Linux default)
  uint32_t refresh_ticks = 0;        // skip deadline writes that would move it by less (0: always write)
  uint64_t seed = 0;                 // hash seed; 0 = random
  bool hugepages = true;             // huge pages for the arrays: hugetlb if reserved, else THP (madvise)
};

// Why a session left the table (Stats::removed, Expired::reason).
enum Reason : uint8_t {
  kExpiredTcpEstablished = 0,  // timed out in ESTABLISHED
  kExpiredTcpOpening,          // SYN_SENT, SYN_RECV, SYN_SENT2
  kExpiredTcpClosing,          // FIN_WAIT, CLOSE_WAIT, LAST_ACK, TIME_WAIT, CLOSE
  kExpiredUdp,
  kExpiredIcmp,
  kExpiredOther,
  kDeleted,                    // Delete()
  kReplaced,                   // TIME_WAIT/CLOSE session replaced by a new SYN of the same tuple
  kReasonCount
};
const char* ReasonName(uint8_t r);

// A session as Expire reports it (and Read returns it).
struct SessionInfo {
  Tuple orig, reply;
  uint32_t session = kNoSession;
  uint32_t gen = 0;
  uint8_t state = 0;
  uint8_t flags = 0;
  uint8_t mark = 0;    // Create's marks[i]
  uint8_t reason = 0;  // Expire only
  uint64_t expires = 0;                 // deadline in ticks
  uint32_t packets[2] = {0, 0};         // per direction; wrap at 2^32 (sample and widen)
  uint32_t bytes[2] = {0, 0};           // per direction; wrap at 4 GiB (sample and widen)
};

struct Stats {
  uint64_t capacity = 0;
  uint64_t in_use = 0;       // sessions holding a slot (live, or past their deadline but not yet swept)
  uint64_t lookups = 0;      // keys given to Lookup
  uint64_t hits = 0;
  uint64_t created = 0;
  uint64_t refused_full = 0;
  uint64_t conflicts = 0;
  uint64_t invalid = 0;
  uint64_t ignored = 0;
  uint64_t removed[kReasonCount] = {};  // by Reason
  size_t memory_bytes = 0;   // session array + index
};

namespace detail {
struct Session;
struct Bucket;
}  // namespace detail

class Table {
 public:
  static std::unique_ptr<Table> Create(const Config& cfg, std::string* error);
  ~Table();
  Table(const Table&) = delete;
  Table& operator=(const Table&) = delete;

  // Lock-free. v[i] = {session, gen, dir, state, kHit} or {kNoSession, ..., kMiss}. A session
  // whose deadline is <= now is a miss (it is freed by Expire or replaced by Create).
  void Lookup(const Tuple* keys, uint32_t n, uint64_t now, Verdict* v) const;

  // Lock-free (atomics on the session). For each v[i].result == kHit: runs the state machine for
  // (v[i].dir, meta[i]), refreshes the deadline and counters: kTracked, kIgnored or kInvalid.
  // A session freed since Lookup turns the entry back into kMiss. Other entries are untouched.
  void Track(const PacketMeta* meta, uint32_t n, uint64_t now, Verdict* v);

  // Writer lock (once, and only if some v[i].result == kMiss). For each miss: if a live session
  // has the key (created meanwhile), tracks the packet (kTracked/...). Otherwise, if the packet
  // may start a session (TCP SYN, or ACK with tcp_loose; UDP; ICMP query request; any other
  // protocol), creates one with tuples (keys[i], reply[i]) (reply null: Inverse(keys[i])):
  // kCreated, or kFull / kConflict; if it may not: kInvalid. Sessions past their deadline that
  // hold either tuple are removed first (counted as expired), and so is a TIME_WAIT or CLOSE
  // session that a new SYN reopens (kReplaced; Track hands such packets back as kMiss, as
  // nf_conntrack kills and recreates the entry). If `freed` is given (room for 2n entries) the
  // sessions removed that way are reported there (NAT releases their mappings), *nfreed = count.
  // `marks` (null: 0) gives each new session a byte of the caller's (NAT: which side each
  // direction arrives from); Lookup, Track, Read and Expire report it.
  void Create(const Tuple* keys, const Tuple* reply, const PacketMeta* meta, uint32_t n,
              uint64_t now, Verdict* v, SessionInfo* freed = nullptr, uint32_t* nfreed = nullptr,
              const uint8_t* marks = nullptr);

  // Lookup + Track + Create(reply = inverse).
  void Process(const Tuple* keys, const PacketMeta* meta, uint32_t n, uint64_t now, Verdict* v);

  // Visits up to `budget` slots from a cursor (round robin over the whole array) and frees the
  // sessions whose deadline is <= now, up to out_cap of them when out is given (out[k] gets
  // their tuples, state, counters, reason). Returns the number freed. Expire waits for the
  // writer lock; TryExpire returns 0 at once if another thread holds it.
  uint32_t Expire(uint64_t now, uint32_t budget, SessionInfo* out = nullptr, uint32_t out_cap = 0);
  uint32_t TryExpire(uint64_t now, uint32_t budget, SessionInfo* out = nullptr, uint32_t out_cap = 0);

  // Frees one session (writer lock). False if (session, gen) is no longer live.
  bool Delete(uint32_t session, uint32_t gen, SessionInfo* out = nullptr);

  // Consistent snapshot of a live session (lock-free). False if the slot is free.
  bool Read(uint32_t session, SessionInfo* out) const;

  // The tuple of the other direction than `dir` (lock-free; the session record is in cache after
  // a hit). False if (session, gen) is no longer live. NAT's translation: a packet matching
  // direction d leaves as Inverse(other direction's tuple).
  bool Other(uint32_t session, uint32_t gen, Dir dir, Tuple* out) const;

  Stats stats() const;
  size_t MemoryBytes() const;
  uint32_t capacity() const { return capacity_; }
  uint32_t buckets() const { return nbuckets_; }
  const Config& config() const { return cfg_; }

  // Testing hooks (walk the whole index): entries in their secondary bucket, all entries; the
  // longest cuckoo path so far.
  uint64_t DebugSecondaryEntries() const;
  uint64_t DebugIndexEntries() const;
  uint32_t DebugMaxCuckooPath() const { return max_path_; }

 private:
  Table() = default;
  struct Hashed;
  Hashed HashKey(const Tuple& k) const;
  uint32_t FindLocked(const Tuple& k, uint64_t* entry_val) const;
  bool IndexInsertLocked(const Tuple& k, uint32_t val);
  void IndexRemoveLocked(const Tuple& k, uint32_t val);
  void FreeLocked(uint32_t s, uint8_t reason, SessionInfo* out, bool marked = false, uint64_t c = 0);
  uint32_t ExpireLocked(uint64_t now, uint32_t budget, SessionInfo* out, uint32_t out_cap);
  bool TrackOne(const PacketMeta& m, uint64_t now, Verdict* v, uint64_t* invalid, uint64_t* ignored);
  uint64_t TimeoutTicks(uint8_t proto, uint8_t state, uint8_t flags) const;
  uint32_t LookupOneSlow(const Tuple& k, uint64_t now, Verdict* v) const;

  Config cfg_;
  uint32_t capacity_ = 0;
  uint32_t nbuckets_ = 0;
  uint32_t val_bits_ = 0, val_mask_ = 0;  // index entry format: value bits (conntrack_pvt.h)
  uint64_t seed_ = 0;
  detail::Session* sessions_ = nullptr;
  detail::Bucket* buckets_ = nullptr;
  size_t sessions_bytes_ = 0, buckets_bytes_ = 0;
  uint64_t tcp_ticks_[kTcpStateCount] = {};
  uint64_t tcp_unassured_ticks_ = 0, udp_ticks_[2] = {}, icmp_ticks_ = 0, other_ticks_[2] = {};

  // Writer side (under mu_).
  std::mutex mu_;
  uint32_t free_head_ = kNoSession, free_tail_ = kNoSession;
  uint32_t cursor_ = 0;
  uint32_t max_path_ = 0;
  // Seqlock over cuckoo moves: odd while entries move; readers retry a miss if it changed.
  alignas(64) std::atomic<uint64_t> moves_{0};

  // Counters (relaxed; one add per burst per counter).
  alignas(64) mutable std::atomic<uint64_t> lookups_{0}, hits_{0};
  alignas(64) std::atomic<uint64_t> created_{0}, refused_full_{0}, conflicts_{0}, invalid_{0},
      ignored_{0}, in_use_{0};
  std::atomic<uint64_t> removed_[kReasonCount] = {};
};

// The TCP transition table (nf_conntrack's tcp_conntracks), exposed for tests and tools.
// Returns the new state, kTcpInvalid or kTcpIgnore. Flags are checked separately (TcpFlagsValid).
constexpr uint8_t kTcpInvalid = 0xfe, kTcpIgnore = 0xff;
uint8_t TcpTransition(uint8_t state, Dir dir, uint8_t tcp_flags);
bool TcpFlagsValid(uint8_t tcp_flags);

}  // namespace vnf::conntrack
