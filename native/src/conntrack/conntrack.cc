// Session table: allocation, the cuckoo index (writer side), burst lookup (lock-free reader
// side), per-packet state updates, creation and expiry. Design: docs/conntrack.md.
#include <sys/mman.h>

#include <algorithm>
#include <bit>
#include <cstdlib>
#include <cstring>
#include <new>
#include <random>

#include "conntrack/conntrack.h"
#include "conntrack/conntrack_pvt.h"

namespace vnf::conntrack {

using detail::Bucket;
using detail::CtlFlags;
using detail::CtlGen;
using detail::CtlMark;
using detail::CtlProto;
using detail::CtlState;
using detail::GenLive;
using detail::kSlots;
using detail::MakeCtl;
using detail::Session;

namespace {

constexpr std::memory_order kRelaxed = std::memory_order_relaxed;
constexpr std::memory_order kAcquire = std::memory_order_acquire;
constexpr std::memory_order kRelease = std::memory_order_release;
constexpr uint64_t kGenOne = uint64_t(1) << 32;

inline void Prefetch(const void* p) { __builtin_prefetch(p, 0, 3); }

inline void CpuRelax() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#endif
}

// Arrays live in anonymous mappings: zeroed, 2 MiB aligned, huge pages on request. A big
// array (a multiple of 2 MiB) takes hugetlb pages when the system has them reserved
// (vm.nr_hugepages), else transparent huge pages (madvise). On the PVM guest the figures come
// from, THP-backed tables were slower than 4 KiB pages and slowed the process's other memory
// too; hugetlb pages were not (docs/conntrack.md, "The 1M / 10K ratio").
void* MapArray(size_t bytes, bool huge) {
#if defined(MAP_HUGETLB) && defined(MAP_HUGE_SHIFT)
  constexpr size_t kHuge = size_t(1) << 21;
  if (huge && bytes >= kHuge && bytes % kHuge == 0) {
    void* h = mmap(nullptr, bytes, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_HUGETLB | (21 << MAP_HUGE_SHIFT), -1, 0);
    if (h != MAP_FAILED) return h;  // no (or not enough) reserved huge pages: THP below
  }
#endif
  void* p = mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED) return nullptr;
#ifdef MADV_HUGEPAGE
  if (huge) madvise(p, bytes, MADV_HUGEPAGE);
#endif
  return p;
}

size_t RoundUp(size_t x, size_t a) { return (x + a - 1) / a * a; }

bool IsIcmpRequest(uint8_t type) { return type == 8 || type == 13 || type == 15 || type == 17; }
bool IsIcmpQuery(uint8_t type) {
  return type == 0 || type == 8 || type == 13 || type == 14 || type == 15 || type == 16 ||
         type == 17 || type == 18;
}

uint8_t ExpiryReason(uint8_t proto, uint8_t state) {
  if (proto == kProtoTcp) {
    if (state == kTcpEstablished) return kExpiredTcpEstablished;
    if (state == kTcpSynSent || state == kTcpSynRecv || state == kTcpSynSent2) return kExpiredTcpOpening;
    return kExpiredTcpClosing;
  }
  if (proto == kProtoUdp) return kExpiredUdp;
  if (proto == kProtoIcmp) return kExpiredIcmp;
  return kExpiredOther;
}

// A SYN (no ACK) that reopens a TIME_WAIT or CLOSE session (nf_conntrack kills the old entry and
// lets the packet create a new one, with itself as the original direction).
bool IsReopen(uint8_t proto, uint8_t state, uint8_t tcp_flags) {
  return proto == kProtoTcp && (state == kTcpTimeWait || state == kTcpClose) &&
         (tcp_flags & (kTcpSyn | kTcpAck | kTcpRst)) == kTcpSyn && TcpFlagsValid(tcp_flags);
}

// The transition of one valid-or-not packet on a session. Returns the result kind.
struct Step {
  uint8_t state, flags;
  Result result;
};

Step NextState(uint8_t proto, uint8_t state, uint8_t flags, Dir dir, const PacketMeta& m) {
  Step s{state, flags, Result::kTracked};
  if (proto == kProtoTcp) {
    if (!TcpFlagsValid(m.tcp_flags)) return {state, flags, Result::kInvalid};
    const uint8_t ns = TcpTransition(state, dir, m.tcp_flags);
    if (ns == kTcpInvalid) return {state, flags, Result::kInvalid};
    if (ns == kTcpIgnore) return {state, flags, Result::kIgnored};
    s.state = ns;
    if (dir == kReply) s.flags |= kFlagSeenReply;
    if (ns == kTcpEstablished && (s.flags & kFlagSeenReply)) s.flags |= kFlagAssured;
    return s;
  }
  if (proto == kProtoIcmp && !IsIcmpQuery(m.icmp_type)) return {state, flags, Result::kInvalid};
  if (dir == kReply) {
    s.state = kReplied;
    s.flags |= kFlagSeenReply | kFlagAssured;
  }
  return s;
}

}  // namespace

struct Table::Hashed {
  uint32_t b1, b2;
  uint32_t tag;  // the signature in place: sig << val_bits_, never 0
};

inline Table::Hashed Table::HashKey(const Tuple& k) const {
  const uint64_t h = detail::HashWords(detail::Word0(k), detail::Word1(k), seed_);
  Hashed r;
  r.b1 = detail::FastRange(uint32_t(h >> 32), nbuckets_);
  r.b2 = detail::FastRange(uint32_t(h), nbuckets_);
  if (r.b2 == r.b1) r.b2 = r.b1 + 1 == nbuckets_ ? 0 : r.b1 + 1;
  const uint32_t sig = uint32_t(h) & (~val_mask_ >> val_bits_);
  r.tag = (sig ? sig : 1) << val_bits_;
  return r;
}

std::unique_ptr<Table> Table::Create(const Config& cfg, std::string* error) {
  auto fail = [&](const char* what) -> std::unique_ptr<Table> {
    if (error) *error = what;
    return nullptr;
  };
  if (cfg.capacity == 0 || cfg.capacity > kMaxCapacity) return fail("capacity: must be 1 .. 2^27");
  if (!(cfg.index_load >= 0.5 && cfg.index_load <= 0.95)) return fail("index_load: must be 0.5 .. 0.95");
  if (cfg.ticks_per_second == 0) return fail("ticks_per_second: must be > 0");
  const Timeouts& to = cfg.timeouts;
  for (uint8_t s = kTcpSynSent; s < kTcpStateCount; s++) {
    if (to.tcp[s] == 0) return fail("timeouts: every TCP state timeout must be > 0");
  }
  if (to.udp_unreplied == 0 || to.udp_replied == 0 || to.icmp == 0 || to.other_unreplied == 0 ||
      to.other_replied == 0 || to.tcp_unassured_max == 0) {
    return fail("timeouts: every timeout must be > 0");
  }
  std::unique_ptr<Table> t(new Table());
  t->cfg_ = cfg;
  t->capacity_ = cfg.capacity;
  const double slots = 2.0 * double(cfg.capacity) / cfg.index_load;
  t->nbuckets_ = std::max<uint32_t>(2, uint32_t((slots + kSlots - 1) / kSlots));
  // Index entries: the value in the low bits, the rest (at least 4 bits) is signature.
  t->val_bits_ = uint32_t(std::bit_width(2 * cfg.capacity - 1));
  t->val_mask_ = (1u << t->val_bits_) - 1;
  t->seed_ = cfg.seed;
  if (t->seed_ == 0) {
    std::random_device rd;
    t->seed_ = (uint64_t(rd()) << 32 | rd()) | 1;
  }
  const uint64_t tps = cfg.ticks_per_second;
  for (uint32_t s = 0; s < kTcpStateCount; s++) t->tcp_ticks_[s] = uint64_t(to.tcp[s]) * tps;
  t->tcp_unassured_ticks_ = uint64_t(to.tcp_unassured_max) * tps;
  t->udp_ticks_[0] = uint64_t(to.udp_unreplied) * tps;
  t->udp_ticks_[1] = uint64_t(to.udp_replied) * tps;
  t->icmp_ticks_ = uint64_t(to.icmp) * tps;
  t->other_ticks_[0] = uint64_t(to.other_unreplied) * tps;
  t->other_ticks_[1] = uint64_t(to.other_replied) * tps;

  // Huge-page multiples for big arrays, page multiples for small ones.
  auto map_size = [](size_t b) { return RoundUp(b, b >= (size_t(1) << 21) ? size_t(1) << 21 : 4096); };
  t->sessions_bytes_ = map_size(size_t(t->capacity_) * sizeof(Session));
  t->buckets_bytes_ = map_size(size_t(t->nbuckets_) * sizeof(Bucket));
  void* sp = MapArray(t->sessions_bytes_, cfg.hugepages);
  if (!sp) return fail("out of memory (session array)");
  t->sessions_ = static_cast<Session*>(sp);
  void* bp = MapArray(t->buckets_bytes_, cfg.hugepages);
  if (!bp) return fail("out of memory (index)");
  t->buckets_ = static_cast<Bucket*>(bp);
  for (uint32_t b = 0; b < t->nbuckets_; b++) new (&t->buckets_[b]) Bucket();  // zeroed: all empty
  // Every slot free (odd generation), chained in order: the FIFO free list.
  for (uint32_t s = 0; s < t->capacity_; s++) {
    Session* se = new (&t->sessions_[s]) Session();
    se->ctl.store(MakeCtl(1, 0, 0, 0, 0), kRelaxed);
    se->expires.store(s + 1 < t->capacity_ ? s + 1 : kNoSession, kRelaxed);
  }
  t->free_head_ = 0;
  t->free_tail_ = t->capacity_ - 1;
  return t;
}

Table::~Table() {
  if (sessions_) munmap(sessions_, sessions_bytes_);
  if (buckets_) munmap(buckets_, buckets_bytes_);
}

size_t Table::MemoryBytes() const { return sessions_bytes_ + buckets_bytes_; }

uint64_t Table::TimeoutTicks(uint8_t proto, uint8_t state, uint8_t flags) const {
  if (proto == kProtoTcp) {
    const uint64_t t = tcp_ticks_[state < kTcpStateCount ? state : uint8_t(kTcpClose)];
    return (flags & kFlagAssured) ? t : std::min(t, tcp_unassured_ticks_);
  }
  if (proto == kProtoUdp) return udp_ticks_[state & 1];
  if (proto == kProtoIcmp) return icmp_ticks_;
  return other_ticks_[state & 1];
}

// ---------------------------------------------------------------------------------------------
// Reader side.

namespace {

// Checks the candidate slots `mask` of bucket b for key (w0, w1) with signature `tag`. Returns 1
// on a hit (v filled), 0 if none matched, -1 if the key was found but past its deadline (a
// definitive miss).
inline int Resolve(const Bucket& b, uint32_t mask, uint32_t tag, uint32_t val_mask, uint64_t w0,
                   uint64_t w1, uint64_t now, const Session* sessions, Verdict* v) {
  while (mask) {
    const uint32_t slot = uint32_t(__builtin_ctz(mask));
    mask &= mask - 1;
    const uint32_t entry = b.slot[slot].load(kAcquire);
    if ((entry & ~val_mask) != tag) continue;  // changed since the signature match
    const uint32_t val = entry & val_mask;
    const Session& s = sessions[val >> 1];
    const uint32_t d = val & 1;
    const uint64_t c1 = s.ctl.load(kAcquire);
    if (!GenLive(CtlGen(c1))) continue;
    // Seqlock read: acquire loads (plain moves on x86) keep the second ctl load after them.
    const uint64_t k0 = s.key[d][0].load(kAcquire);
    const uint64_t k1 = s.key[d][1].load(kAcquire);
    const uint64_t e = s.expires.load(kAcquire);
    const uint64_t c2 = s.ctl.load(kAcquire);
    if (CtlGen(c2) != CtlGen(c1)) continue;  // freed or reused meanwhile: not this one
    if (k0 != w0 || k1 != w1) continue;
    if (e <= now) return -1;
    v->session = val >> 1;
    v->gen = CtlGen(c2);
    v->dir = Dir(d);
    v->state = CtlState(c2);
    v->mark = CtlMark(c2);
    v->result = Result::kHit;
    return 1;
  }
  return 0;
}

}  // namespace

// One key, retried until no cuckoo move overlapped the search. Returns 1 on a hit.
uint32_t Table::LookupOneSlow(const Tuple& k, uint64_t now, Verdict* v) const {
  const uint64_t w0 = detail::Word0(k), w1 = detail::Word1(k);
  const Hashed h = HashKey(k);
  for (;;) {
    const uint64_t m0 = moves_.load(kAcquire);
    if (m0 & 1) {
      CpuRelax();
      continue;
    }
    int r = Resolve(buckets_[h.b1], detail::SigMatch(buckets_[h.b1], h.tag, ~val_mask_), h.tag, val_mask_, w0,
                    w1, now, sessions_, v);
    if (r == 0) {
      r = Resolve(buckets_[h.b2], detail::SigMatch(buckets_[h.b2], h.tag, ~val_mask_), h.tag, val_mask_, w0,
                  w1, now, sessions_, v);
    }
    if (r == 1) return 1;
    // The bucket reads above (plain vector loads in SigMatch) must not move below this
    // re-read: an acquire load orders what follows it, not what precedes it, hence the fence
    // (as rte_hash's lock-free lookup fences before re-reading tbl_chng_cnt).
    std::atomic_thread_fence(kAcquire);
    if (moves_.load(kRelaxed) == m0) return 0;
  }
}

void Table::Lookup(const Tuple* keys, uint32_t n, uint64_t now, Verdict* v) const {
  // Four passes over chunks of 64 keys, each stage done for every key before the next stage
  // starts (as DPDK's rte_hash_lookup_bulk): hash all and prefetch their primary buckets;
  // match signatures (prefetch the candidate session, or the secondary bucket); match the
  // secondary buckets where needed (prefetch the session); compare the tuples. The 64 hashes
  // of the first pass take longer than a memory access, so each later pass finds its lines
  // arriving. It replaced a rolling pipeline with a prefetch distance of 12 (then 16-48): at
  // 1M sessions 30 Mpps instead of 25, at 10K unchanged, the 1M/10K cost ratio 1.9-2.0
  // instead of 2.2-2.4 (A/B on one VM, docs/conntrack.md).
  constexpr uint32_t kChunk = 64;
  uint32_t b1[kChunk], b2[kChunk], m1[kChunk], m2[kChunk], tag[kChunk];
  uint64_t hits = 0;
  const uint32_t vm = val_mask_, sm = ~val_mask_;
  // The session of a bucket's first signature match (a slot that changed meanwhile only costs
  // a useless prefetch).
  auto prefetch_session = [&](const Bucket& b, uint32_t mask) {
    Prefetch(&sessions_[(b.slot[__builtin_ctz(mask)].load(kRelaxed) & vm) >> 1]);
  };
  for (uint32_t off = 0; off < n; off += kChunk) {
    const uint32_t cnt = std::min(kChunk, n - off);
    const Tuple* k = keys + off;
    Verdict* out = v + off;
    const uint64_t mv0 = moves_.load(kAcquire);
    uint64_t missed = 0;  // bit i: a miss to confirm if a cuckoo move overlapped
    for (uint32_t i = 0; i < cnt; i++) {
      const Hashed h = HashKey(k[i]);
      b1[i] = h.b1, b2[i] = h.b2, tag[i] = h.tag;
      Prefetch(&buckets_[h.b1]);
    }
    for (uint32_t i = 0; i < cnt; i++) {
      const Bucket& b = buckets_[b1[i]];
      m1[i] = detail::SigMatch(b, tag[i], sm);
      m2[i] = 0;
      if (m1[i]) {
        prefetch_session(b, m1[i]);
      } else {
        Prefetch(&buckets_[b2[i]]);
      }
    }
    for (uint32_t i = 0; i < cnt; i++) {
      if (m1[i]) continue;
      const Bucket& b = buckets_[b2[i]];
      m2[i] = detail::SigMatch(b, tag[i], sm);
      if (m2[i]) prefetch_session(b, m2[i]);
    }
    for (uint32_t i = 0; i < cnt; i++) {
      const uint64_t w0 = detail::Word0(k[i]), w1 = detail::Word1(k[i]);
      out[i] = Verdict();
      int r = m1[i] ? Resolve(buckets_[b1[i]], m1[i], tag[i], vm, w0, w1, now, sessions_, &out[i]) : 0;
      if (r == 0) {
        const uint32_t mm = m1[i] ? detail::SigMatch(buckets_[b2[i]], tag[i], sm) : m2[i];
        if (mm) r = Resolve(buckets_[b2[i]], mm, tag[i], vm, w0, w1, now, sessions_, &out[i]);
      }
      hits += r == 1;
      if (r == 0) missed |= uint64_t(1) << i;
    }
    if (missed) {
      // Every bucket read above happens before the re-read (see LookupOneSlow).
      std::atomic_thread_fence(kAcquire);
      if ((mv0 & 1) || moves_.load(kRelaxed) != mv0) {
        for (uint32_t i = 0; i < cnt; i++) {
          if (missed >> i & 1) hits += LookupOneSlow(k[i], now, &out[i]);
        }
      }
    }
  }
  lookups_.fetch_add(n, kRelaxed);
  hits_.fetch_add(hits, kRelaxed);
}

bool Table::Read(uint32_t session, SessionInfo* out) const {
  if (session >= capacity_) return false;
  const Session& s = sessions_[session];
  for (;;) {
    const uint64_t c1 = s.ctl.load(kAcquire);
    if (!GenLive(CtlGen(c1))) return false;
    SessionInfo r;
    r.orig = detail::FromWords(s.key[0][0].load(kAcquire), s.key[0][1].load(kAcquire));
    r.reply = detail::FromWords(s.key[1][0].load(kAcquire), s.key[1][1].load(kAcquire));
    r.expires = s.expires.load(kAcquire);
    for (int d = 0; d < 2; d++) {
      r.packets[d] = s.packets[d].load(kAcquire);
      r.bytes[d] = s.bytes[d].load(kAcquire);
    }
    const uint64_t c2 = s.ctl.load(kAcquire);
    if (CtlGen(c2) != CtlGen(c1)) continue;
    r.session = session;
    r.gen = CtlGen(c2);
    r.state = CtlState(c2);
    r.flags = CtlFlags(c2);
    r.mark = CtlMark(c2);
    *out = r;
    return true;
  }
}

bool Table::Other(uint32_t session, uint32_t gen, Dir dir, Tuple* out) const {
  if (session >= capacity_) return false;
  const Session& s = sessions_[session];
  const uint32_t d = dir == kOriginal ? 1 : 0;
  const uint64_t w0 = s.key[d][0].load(kAcquire), w1 = s.key[d][1].load(kAcquire);
  if (CtlGen(s.ctl.load(kAcquire)) != gen) return false;
  *out = detail::FromWords(w0, w1);
  return true;
}

// ---------------------------------------------------------------------------------------------
// Per-packet update (lock-free, any thread).

// Returns false if the session was freed since the lookup (v becomes a miss). Adds to the
// invalid / ignored counts.
bool Table::TrackOne(const PacketMeta& m, uint64_t now, Verdict* v, uint64_t* invalid,
                     uint64_t* ignored) {
  Session& s = sessions_[v->session];
  const uint32_t gen = v->gen;
  const Dir dir = v->dir;
  uint64_t c = s.ctl.load(kAcquire);
  Step st;
  for (;;) {
    if (CtlGen(c) != gen) {
      *v = Verdict();
      return false;
    }
    const uint8_t proto = CtlProto(c), state = CtlState(c), flags = CtlFlags(c);
    if (IsReopen(proto, state, m.tcp_flags)) {
      // Create replaces the session under the writer lock; the hint stays in v->session.
      v->result = Result::kMiss;
      return true;
    }
    st = NextState(proto, state, flags, dir, m);
    if (st.result != Result::kTracked) break;
    if (st.state == state && st.flags == flags) break;
    const uint64_t nc = MakeCtl(gen, proto, st.flags, st.state, CtlMark(c));
    if (s.ctl.compare_exchange_weak(c, nc, std::memory_order_acq_rel, kAcquire)) {
      c = nc;
      break;
    }
  }
  v->state = st.state;
  v->result = st.result;
  if (st.result == Result::kInvalid) {
    ++*invalid;
    return true;
  }
  if (st.result == Result::kIgnored) {
    ++*ignored;
    return true;
  }
  // Deadline from the state current at the time of the write: a CAS on `expires` that fails if
  // another packet (or a reuse of the slot) wrote it first, then recomputes.
  uint64_t e = s.expires.load(kAcquire);
  for (;;) {
    const uint64_t cc = s.ctl.load(kAcquire);
    if (CtlGen(cc) != gen) break;
    const uint64_t want = now + TimeoutTicks(CtlProto(cc), CtlState(cc), CtlFlags(cc));
    if (want == e || (want > e && want - e < cfg_.refresh_ticks)) break;
    if (s.expires.compare_exchange_weak(e, want, std::memory_order_acq_rel, kAcquire)) break;
  }
  // Per-direction counters: one worker per direction (RSS), so a plain add, no lock prefix.
  s.packets[dir].store(s.packets[dir].load(kRelaxed) + 1, kRelaxed);
  s.bytes[dir].store(s.bytes[dir].load(kRelaxed) + m.bytes, kRelaxed);
  return true;
}

void Table::Track(const PacketMeta* meta, uint32_t n, uint64_t now, Verdict* v) {
  uint64_t invalid = 0, ignored = 0;
  for (uint32_t i = 0; i < n; i++) {
    if (v[i].result != Result::kHit) continue;
    TrackOne(meta[i], now, &v[i], &invalid, &ignored);
  }
  if (invalid) invalid_.fetch_add(invalid, kRelaxed);
  if (ignored) ignored_.fetch_add(ignored, kRelaxed);
}

// ---------------------------------------------------------------------------------------------
// Writer side (mu_ held).

uint32_t Table::FindLocked(const Tuple& k, uint64_t* entry_val) const {
  const uint64_t w0 = detail::Word0(k), w1 = detail::Word1(k);
  const Hashed h = HashKey(k);
  for (uint32_t b : {h.b1, h.b2}) {
    const Bucket& bk = buckets_[b];
    uint32_t mask = detail::SigMatch(bk, h.tag, ~val_mask_);
    while (mask) {
      const uint32_t slot = uint32_t(__builtin_ctz(mask));
      mask &= mask - 1;
      const uint32_t val = bk.slot[slot].load(kRelaxed) & val_mask_;
      const Session& s = sessions_[val >> 1];
      if (s.key[val & 1][0].load(kRelaxed) == w0 && s.key[val & 1][1].load(kRelaxed) == w1) {
        *entry_val = val;
        return val >> 1;
      }
    }
  }
  return kNoSession;
}

bool Table::IndexInsertLocked(const Tuple& k, uint32_t val) {
  const Hashed h = HashKey(k);
  auto free_slot = [&](uint32_t b) -> int {
    for (uint32_t s = 0; s < kSlots; s++) {
      if (buckets_[b].slot[s].load(kRelaxed) == 0) return int(s);
    }
    return -1;
  };
  for (uint32_t b : {h.b1, h.b2}) {
    const int s = free_slot(b);
    if (s >= 0) {
      buckets_[b].slot[s].store(h.tag | val, kRelease);
      return true;
    }
  }
  // Breadth-first search for a chain of displacements ending in a free slot (rte_hash's
  // cuckoo path search), then the moves from the free end back to the new entry's bucket. An
  // entry moves whole: its signature comes from its tuple's hash, not from the bucket.
  struct Node {
    uint32_t bucket;
    int32_t parent;
    uint32_t parent_slot;  // slot of `parent` whose entry moves into this bucket
  };
  constexpr uint32_t kQueue = 1024;
  static thread_local Node q[kQueue];
  uint32_t head = 0, tail = 0;
  q[tail++] = {h.b1, -1, 0};
  q[tail++] = {h.b2, -1, 0};
  auto entry_alt = [&](uint32_t b, uint32_t e) {
    const uint32_t v = e & val_mask_;
    const Session& s = sessions_[v >> 1];
    const Hashed eh = HashKey(detail::FromWords(s.key[v & 1][0].load(kRelaxed), s.key[v & 1][1].load(kRelaxed)));
    return b == eh.b1 ? eh.b2 : eh.b1;
  };
  auto on_path = [&](int32_t node, uint32_t b) {
    for (; node >= 0; node = q[node].parent) {
      if (q[node].bucket == b) return true;
    }
    return false;
  };
  while (head < tail) {
    const int32_t ni = int32_t(head++);
    const uint32_t nb = q[ni].bucket;
    for (uint32_t slot = 0; slot < kSlots; slot++) {
      const uint32_t ev = buckets_[nb].slot[slot].load(kRelaxed);
      const uint32_t alt = entry_alt(nb, ev);
      if (on_path(ni, alt)) continue;
      const int fs = free_slot(alt);
      if (fs < 0) {
        if (tail < kQueue) q[tail++] = {alt, ni, slot};
        continue;
      }
      // Found: move entries along the path, each into the slot vacated ahead of it.
      const uint64_t m = moves_.load(kRelaxed);
      moves_.store(m + 1, kRelaxed);  // every bucket store below is a release store
      buckets_[alt].slot[fs].store(ev, kRelease);
      uint32_t path = 1;
      int32_t cur = ni;
      uint32_t cur_slot = slot;  // slot of q[cur].bucket now free to overwrite
      while (q[cur].parent >= 0) {
        const int32_t p = q[cur].parent;
        const uint32_t ps = q[cur].parent_slot;
        buckets_[q[cur].bucket].slot[cur_slot].store(buckets_[q[p].bucket].slot[ps].load(kRelaxed), kRelease);
        cur = p;
        cur_slot = ps;
        path++;
      }
      buckets_[q[cur].bucket].slot[cur_slot].store(h.tag | val, kRelease);
      moves_.store(m + 2, kRelease);
      max_path_ = std::max(max_path_, path);
      return true;
    }
  }
  return false;
}

void Table::IndexRemoveLocked(const Tuple& k, uint32_t val) {
  const Hashed h = HashKey(k);
  for (uint32_t b : {h.b1, h.b2}) {
    for (uint32_t s = 0; s < kSlots; s++) {
      if (buckets_[b].slot[s].load(kRelaxed) == (h.tag | val)) {
        buckets_[b].slot[s].store(0, kRelease);
        return;
      }
    }
  }
}

// Frees session s: generation made odd first (readers stop matching it, Track's CAS fail),
// index entries removed, slot appended to the free list (FIFO: reused as late as possible).
// `marked`: the caller already made the generation odd (c is then the live ctl word).
void Table::FreeLocked(uint32_t si, uint8_t reason, SessionInfo* out, bool marked, uint64_t c) {
  Session& s = sessions_[si];
  if (!marked) {
    c = s.ctl.load(kAcquire);
    while (!s.ctl.compare_exchange_weak(c, c + kGenOne, std::memory_order_acq_rel, kAcquire)) {
    }
  }
  const Tuple orig = detail::FromWords(s.key[0][0].load(kRelaxed), s.key[0][1].load(kRelaxed));
  const Tuple reply = detail::FromWords(s.key[1][0].load(kRelaxed), s.key[1][1].load(kRelaxed));
  IndexRemoveLocked(orig, si << 1);
  if (!(reply == orig)) IndexRemoveLocked(reply, si << 1 | 1);
  if (out) {
    out->orig = orig;
    out->reply = reply;
    out->session = si;
    out->gen = CtlGen(c);
    out->state = CtlState(c);
    out->flags = CtlFlags(c);
    out->mark = CtlMark(c);
    out->reason = reason;
    out->expires = s.expires.load(kRelaxed);
    for (int d = 0; d < 2; d++) {
      out->packets[d] = s.packets[d].load(kRelaxed);
      out->bytes[d] = s.bytes[d].load(kRelaxed);
    }
  }
  s.expires.store(kNoSession, kRelaxed);
  if (free_tail_ == kNoSession) {
    free_head_ = si;
  } else {
    sessions_[free_tail_].expires.store(si, kRelaxed);
  }
  free_tail_ = si;
  in_use_.fetch_sub(1, kRelaxed);
  removed_[reason].fetch_add(1, kRelaxed);
}

void Table::Create(const Tuple* keys, const Tuple* reply, const PacketMeta* meta, uint32_t n,
                   uint64_t now, Verdict* v, SessionInfo* freed, uint32_t* nfreed, const uint8_t* marks) {
  uint32_t nf = 0;
  bool any = false;
  for (uint32_t i = 0; i < n && !any; i++) any = v[i].result == Result::kMiss;
  if (!any) {
    if (nfreed) *nfreed = 0;
    return;
  }
  uint64_t created = 0, full = 0, conflicts = 0, invalid = 0, ignored = 0;
  std::lock_guard<std::mutex> lock(mu_);
  auto free_one = [&](uint32_t si, uint8_t reason) {
    FreeLocked(si, reason, freed ? &freed[nf] : nullptr);
    nf++;
  };
  for (uint32_t i = 0; i < n; i++) {
    if (v[i].result != Result::kMiss) continue;
    const Tuple& k = keys[i];
    const PacketMeta& m = meta[i];
    uint64_t val = 0;
    uint32_t si = FindLocked(k, &val);
    if (si != kNoSession) {
      Session& s = sessions_[si];
      const uint64_t c = s.ctl.load(kAcquire);
      if (s.expires.load(kAcquire) <= now) {
        free_one(si, ExpiryReason(CtlProto(c), CtlState(c)));
      } else if (IsReopen(CtlProto(c), CtlState(c), m.tcp_flags)) {
        free_one(si, kReplaced);
      } else {
        v[i] = Verdict();
        v[i].session = si;
        v[i].gen = CtlGen(c);
        v[i].dir = Dir(val & 1);
        v[i].state = CtlState(c);
        v[i].mark = CtlMark(c);
        v[i].result = Result::kHit;
        TrackOne(m, now, &v[i], &invalid, &ignored);
        continue;
      }
    }
    v[i] = Verdict();
    // May this packet start a session?
    uint8_t state = kUnreplied;
    if (k.proto == kProtoTcp) {
      state = TcpFlagsValid(m.tcp_flags) ? TcpTransition(kTcpNone, kOriginal, m.tcp_flags) : kTcpInvalid;
      if (state == kTcpEstablished && !cfg_.tcp_loose) state = kTcpInvalid;
    } else if (k.proto == kProtoIcmp && !IsIcmpRequest(m.icmp_type)) {
      state = kTcpInvalid;
    }
    if (state == kTcpInvalid || state == kTcpIgnore) {
      v[i].result = Result::kInvalid;
      invalid++;
      continue;
    }
    const Tuple r = reply ? reply[i] : Inverse(k);
    const uint32_t ri = FindLocked(r, &val);
    if (ri != kNoSession) {
      Session& s = sessions_[ri];
      const uint64_t c = s.ctl.load(kAcquire);
      if (s.expires.load(kAcquire) > now) {
        v[i].result = Result::kConflict;
        conflicts++;
        continue;
      }
      free_one(ri, ExpiryReason(CtlProto(c), CtlState(c)));
    }
    if (free_head_ == kNoSession) {
      v[i].result = Result::kFull;
      full++;
      continue;
    }
    si = free_head_;
    Session& s = sessions_[si];
    const uint32_t next = uint32_t(s.expires.load(kRelaxed));
    const uint64_t c = s.ctl.load(kRelaxed);
    const uint32_t gen = CtlGen(c) + 1;  // even: live
    // Release stores: a reader that sees one of them also sees the odd generation written
    // before (its seqlock check then fails), as in a seqlock writer. Plain moves on x86.
    s.key[0][0].store(detail::Word0(k), kRelease);
    s.key[0][1].store(detail::Word1(k), kRelease);
    s.key[1][0].store(detail::Word0(r), kRelease);
    s.key[1][1].store(detail::Word1(r), kRelease);
    s.expires.store(now + TimeoutTicks(k.proto, state, 0), kRelease);
    s.packets[0].store(1, kRelaxed);
    s.bytes[0].store(m.bytes, kRelaxed);
    s.packets[1].store(0, kRelaxed);
    s.bytes[1].store(0, kRelaxed);
    const uint8_t mark = marks ? marks[i] : 0;
    s.ctl.store(MakeCtl(gen, k.proto, 0, state, mark), kRelease);
    const bool self = r == k;  // a tuple that is its own inverse: one index entry
    bool ok = IndexInsertLocked(k, si << 1);
    if (ok && !self && !IndexInsertLocked(r, si << 1 | 1)) {
      IndexRemoveLocked(k, si << 1);
      ok = false;
    }
    if (!ok) {  // index full (beyond its load budget): slot back to the head of the free list
      s.ctl.store(MakeCtl(gen + 1, 0, 0, 0, 0), kRelease);
      s.expires.store(next, kRelaxed);
      v[i].result = Result::kFull;
      full++;
      continue;
    }
    free_head_ = next;
    if (next == kNoSession) free_tail_ = kNoSession;
    in_use_.fetch_add(1, kRelaxed);
    created++;
    v[i].session = si;
    v[i].gen = gen;
    v[i].dir = kOriginal;
    v[i].state = state;
    v[i].mark = mark;
    v[i].result = Result::kCreated;
  }
  if (nfreed) *nfreed = nf;
  if (created) created_.fetch_add(created, kRelaxed);
  if (full) refused_full_.fetch_add(full, kRelaxed);
  if (conflicts) conflicts_.fetch_add(conflicts, kRelaxed);
  if (invalid) invalid_.fetch_add(invalid, kRelaxed);
  if (ignored) ignored_.fetch_add(ignored, kRelaxed);
}

void Table::Process(const Tuple* keys, const PacketMeta* meta, uint32_t n, uint64_t now, Verdict* v) {
  Lookup(keys, n, now, v);
  Track(meta, n, now, v);
  Create(keys, nullptr, meta, n, now, v);
}

uint32_t Table::ExpireLocked(uint64_t now, uint32_t budget, SessionInfo* out, uint32_t out_cap) {
  uint32_t freed = 0;
  budget = std::min(budget, capacity_);
  for (uint32_t i = 0; i < budget; i++) {
    if (out && freed == out_cap) break;
    const uint32_t si = cursor_;
    cursor_ = cursor_ + 1 == capacity_ ? 0 : cursor_ + 1;
    Session& s = sessions_[si];
    uint64_t c = s.ctl.load(kAcquire);
    if (!GenLive(CtlGen(c)) || s.expires.load(kAcquire) > now) continue;
    // Mark it dying, then check that no packet refreshed it in between (if one did, undo: the
    // odd generation only made concurrent lookups miss and Track hand the packet to Create,
    // which waits for the lock we hold and then finds the session again).
    if (!s.ctl.compare_exchange_strong(c, c + kGenOne, std::memory_order_acq_rel, kAcquire)) continue;
    if (s.expires.load(kAcquire) > now) {
      s.ctl.store(c, kRelease);
      continue;
    }
    FreeLocked(si, ExpiryReason(CtlProto(c), CtlState(c)), out ? &out[freed] : nullptr, true, c);
    freed++;
  }
  return freed;
}

uint32_t Table::Expire(uint64_t now, uint32_t budget, SessionInfo* out, uint32_t out_cap) {
  std::lock_guard<std::mutex> lock(mu_);
  return ExpireLocked(now, budget, out, out_cap);
}

uint32_t Table::TryExpire(uint64_t now, uint32_t budget, SessionInfo* out, uint32_t out_cap) {
  std::unique_lock<std::mutex> lock(mu_, std::try_to_lock);
  if (!lock.owns_lock()) return 0;
  return ExpireLocked(now, budget, out, out_cap);
}

bool Table::Delete(uint32_t session, uint32_t gen, SessionInfo* out) {
  if (session >= capacity_) return false;
  std::lock_guard<std::mutex> lock(mu_);
  if (CtlGen(sessions_[session].ctl.load(kAcquire)) != gen || !GenLive(gen)) return false;
  FreeLocked(session, kDeleted, out);
  return true;
}

Stats Table::stats() const {
  Stats s;
  s.capacity = capacity_;
  s.in_use = in_use_.load(kRelaxed);
  s.lookups = lookups_.load(kRelaxed);
  s.hits = hits_.load(kRelaxed);
  s.created = created_.load(kRelaxed);
  s.refused_full = refused_full_.load(kRelaxed);
  s.conflicts = conflicts_.load(kRelaxed);
  s.invalid = invalid_.load(kRelaxed);
  s.ignored = ignored_.load(kRelaxed);
  for (uint32_t r = 0; r < kReasonCount; r++) s.removed[r] = removed_[r].load(kRelaxed);
  s.memory_bytes = MemoryBytes();
  return s;
}

uint64_t Table::DebugSecondaryEntries() const {
  uint64_t n = 0;
  for (uint32_t b = 0; b < nbuckets_; b++) {
    for (uint32_t slot = 0; slot < kSlots; slot++) {
      const uint32_t e = buckets_[b].slot[slot].load(kRelaxed);
      if (e == 0) continue;
      const uint32_t v = e & val_mask_;
      const Session& s = sessions_[v >> 1];
      const Tuple t = detail::FromWords(s.key[v & 1][0].load(kRelaxed), s.key[v & 1][1].load(kRelaxed));
      n += HashKey(t).b1 != b;
    }
  }
  return n;
}

uint64_t Table::DebugIndexEntries() const {
  uint64_t n = 0;
  for (uint32_t b = 0; b < nbuckets_; b++) {
    for (uint32_t slot = 0; slot < kSlots; slot++) n += buckets_[b].slot[slot].load(kRelaxed) != 0;
  }
  return n;
}

}  // namespace vnf::conntrack
