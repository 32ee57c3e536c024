// N-API binding of the packet classifier (acl/acl.h): ACL tables shared by every thread,
// rule sets compiled off the data path and published with one atomic store, and per-thread
// readers that classify a whole burst in one call, reading the keys straight from the
// parsed packets (as rte_acl reads fields at offsets of the packet data) and writing each
// packet's next step and mark into the pool's metadata.
//
// Publication is RCU-style with hazard pointers: a reader announces the rule set it is about
// to use in its own slot and checks that it is still current; a load swaps the pointer, then
// waits (on a thread-pool thread, never the JS thread) until no slot names the old set
// before dropping it. A burst is classified by exactly one rule set: never a half-built one,
// never a mix.
#include <sched.h>

#include <array>
#include <chrono>
#include <thread>

#include "acl/acl.h"
#include "binding.h"

namespace vnf {
namespace {

// Actions, as the rule records and the readers' step tables number them.
enum AclAction : uint8_t {
  kActPermit,
  kActDeny,
  kActReject,
  kActMark,        // permit, and write the rule's mark
  kActTrack,       // permit-and-track
  kActNoMatchPermit,
  kActNoMatchDeny,
  kActNonIpPermit,
  kActNonIpDeny,
  kActMalformed,   // a parser reason, or offsets that do not fit the packet
  kActCount,
};

constexpr uint32_t kMaxReaders = 64;       // hazard slots per table
constexpr uint32_t kRecordWords = 28;      // see EncodeRule in packages/core/src/native-acl.ts
constexpr uint32_t kMaxRulesPerSet = 1u << 18;
constexpr uint32_t kChunk = 64;            // packets whose keys are gathered at once
constexpr uint32_t kPrefetchAhead = 8;     // packets

// Parser bits (packages/protocols/src/ptype.ts).
constexpr uint32_t kPtVlan = 1u << 1, kPtIpv4 = 1u << 5, kPtIpv6 = 1u << 6, kPtTcp = 1u << 9,
                   kPtUdp = 1u << 10, kPtIcmp = 1u << 11, kPtIcmpv6 = 1u << 12, kPtSctp = 1u << 13,
                   kPtMalformed = 1u << 31;

struct RuleSet {
  std::unique_ptr<acl::Classifier> verdict, count;
  std::vector<uint32_t> verdict_id, count_id;  // classifier index -> rule id
  std::vector<uint8_t> action;                 // by verdict classifier index
  std::vector<uint32_t> mark;                  // by verdict classifier index
  uint8_t no_match = kActNoMatchDeny, non_ip = kActNonIpPermit;
  uint32_t rules = 0;  // rule ids are 0 .. rules-1
  uint64_t generation = 0;
  size_t memory_bytes = 0;
  double build_seconds = 0;
  acl::ClassifierStats verdict_stats, count_stats;
  // Per reader slot: [2 * id] packets, [2 * id + 1] bytes. Each slot has one writer (its
  // reader's thread), so it adds with a plain load and store; totals read them relaxed.
  std::mutex counters_mu;
  std::array<std::unique_ptr<std::atomic<uint64_t>[]>, kMaxReaders> counters;

  std::atomic<uint64_t>* CountersFor(uint32_t slot) {
    std::lock_guard<std::mutex> lock(counters_mu);
    if (!counters[slot]) {
      counters[slot].reset(new std::atomic<uint64_t>[size_t(rules) * 2 + 2]);
      for (size_t i = 0; i < size_t(rules) * 2 + 2; i++) counters[slot][i].store(0, std::memory_order_relaxed);
    }
    return counters[slot].get();
  }
};

struct AclTable {
  std::atomic<RuleSet*> current{nullptr};
  std::shared_ptr<RuleSet> owner;  // what current points to (under mu)
  std::array<std::atomic<RuleSet*>, kMaxReaders> hazard{};
  std::mutex mu;                   // loads, slot allocation, owner
  std::mutex load_mu;              // one load at a time
  std::array<bool, kMaxReaders> slot_used{};
  uint64_t generation = 0;
  uint32_t id = 0;

  std::shared_ptr<RuleSet> Current() {
    std::lock_guard<std::mutex> lock(mu);
    return owner;
  }

  // Publishes rs; returns once no reader can still be using the set it replaced.
  void Publish(std::shared_ptr<RuleSet> rs) {
    std::shared_ptr<RuleSet> old;
    {
      std::lock_guard<std::mutex> lock(mu);
      rs->generation = ++generation;
      old = owner;
      owner = rs;
      current.store(rs.get(), std::memory_order_seq_cst);
    }
    if (!old) return;
    for (uint32_t s = 0; s < kMaxReaders; s++) {
      // A reader holds a set for one burst: microseconds.
      while (hazard[s].load(std::memory_order_seq_cst) == old.get()) std::this_thread::yield();
    }
  }

  int32_t AcquireSlot() {
    std::lock_guard<std::mutex> lock(mu);
    for (uint32_t s = 0; s < kMaxReaders; s++) {
      if (!slot_used[s]) {
        slot_used[s] = true;
        return int32_t(s);
      }
    }
    return -1;
  }
  void ReleaseSlot(uint32_t s) {
    hazard[s].store(nullptr, std::memory_order_release);
    std::lock_guard<std::mutex> lock(mu);
    slot_used[s] = false;
  }
};

Registry<AclTable> g_acl_tables;

// One thread's use of a table: its hazard slot, the pool it reads packets from and the step
// each action leads to in its pipeline graph.
struct AclReader {
  std::shared_ptr<AclTable> table;
  uint32_t slot = 0;
  int32_t pool_handle = 0;
  std::array<uint16_t, kActCount> steps{};
  std::shared_ptr<uint32_t[]> match;  // rule id per burst position (kNoMatch: none)
  std::vector<uint16_t> zone_of;      // input port -> zone (65536 entries), or empty: keys carry the port
  uint32_t match_capacity = 0;
  uint64_t counted_generation = 0;    // the set `counters` belong to (generations start at 1)
  std::atomic<uint64_t>* counters = nullptr;
  ~AclReader() {
    if (table) table->ReleaseSlot(slot);
  }
};

struct TableSlot {
  std::shared_ptr<AclTable> table;
};

// Per-thread tables of this binding (kept here: the rest of the binding does not know them).
struct AclThreadState {
  SlotTable<TableSlot> tables;
  SlotTable<std::shared_ptr<AclReader>> readers;
};
thread_local std::unique_ptr<AclThreadState> t_acl;

AclThreadState* AclState(Napi::Env env) {
  State(env);  // the core is initialised on this thread
  if (!t_acl) t_acl = std::make_unique<AclThreadState>();
  return t_acl.get();
}

inline void AddOwned(std::atomic<uint64_t>& c, uint64_t v) {
  c.store(c.load(std::memory_order_relaxed) + v, std::memory_order_relaxed);
}

// ---------------------------------------------------------------- the data path

struct KeyChunk {
  uint8_t version[kChunk];
  uint32_t src[kChunk], dst[kChunk];
  alignas(16) uint32_t src6[kChunk * 4], dst6[kChunk * 4];
  uint16_t sport[kChunk], dport[kChunk], vlan[kChunk], in_port[kChunk];
  uint8_t proto[kChunk], flags[kChunk];
  uint8_t pre[kChunk];  // kActCount, or the action decided before classification
  uint32_t v_match[kChunk], c_match[kChunk];
};

inline uint32_t Be32(const uint8_t* p) { return uint32_t(p[0]) << 24 | uint32_t(p[1]) << 16 | uint32_t(p[2]) << 8 | p[3]; }
inline uint16_t Be16(const uint8_t* p) { return uint16_t(p[0] << 8 | p[1]); }

// The keys of one packet, as FlowKeys defines them (packages/protocols/src/flow-keys.ts),
// plus TCP flags, the outer VLAN id and the input port; ICMP type and code go into the port
// fields, as the rules expect. Every read is checked against the packet's length.
inline void GatherKey(const Pool& pool, const uint16_t* zone_of, uint32_t b, KeyChunk* k, uint32_t i) {
  const uint16_t* data_off = static_cast<const uint16_t*>(pool.meta(kMetaDataOff));
  const uint16_t* data_len = static_cast<const uint16_t*>(pool.meta(kMetaDataLen));
  const uint32_t t = static_cast<const uint32_t*>(pool.meta(kMetaPtype))[b];
  const uint16_t l2 = static_cast<const uint16_t*>(pool.meta(kMetaL2Off))[b];
  const uint16_t l3 = static_cast<const uint16_t*>(pool.meta(kMetaL3Off))[b];
  const uint16_t l4 = static_cast<const uint16_t*>(pool.meta(kMetaL4Off))[b];
  const uint32_t off = data_off[b], len = data_len[b];
  k->version[i] = 0;
  k->src[i] = k->dst[i] = 0;
  k->sport[i] = k->dport[i] = 0;
  k->proto[i] = k->flags[i] = 0;
  k->vlan[i] = acl::kNoVlan;
  const uint16_t in_port = static_cast<const uint16_t*>(pool.meta(kMetaPort))[b];
  k->in_port[i] = zone_of ? zone_of[in_port] : in_port;
  k->pre[i] = kActCount;
  if (t & kPtMalformed || off + len > pool.config().buf_size) {
    k->pre[i] = kActMalformed;
    return;
  }
  if (!(t & (kPtIpv4 | kPtIpv6))) {
    k->pre[i] = kActNonIpPermit;  // replaced by the set's non-IP action
    return;
  }
  const uint8_t* p = pool.base() + size_t(b) * pool.config().buf_size + off;
  if (t & kPtVlan) {
    if (uint32_t(l2) + 16 > len) {
      k->pre[i] = kActMalformed;
      return;
    }
    k->vlan[i] = Be16(p + l2 + 14) & 0x0fff;
  }
  uint8_t proto;
  if (t & kPtIpv4) {
    if (uint32_t(l3) + 20 > len) {
      k->pre[i] = kActMalformed;
      return;
    }
    k->version[i] = 4;
    proto = p[l3 + 9];
    k->src[i] = Be32(p + l3 + 12);
    k->dst[i] = Be32(p + l3 + 16);
  } else {
    if (uint32_t(l3) + 40 > len) {
      k->pre[i] = kActMalformed;
      return;
    }
    k->version[i] = 6;
    proto = p[l3 + 6];
    for (uint32_t w = 0; w < 4; w++) {
      k->src6[4 * i + w] = Be32(p + l3 + 8 + 4 * w);
      k->dst6[4 * i + w] = Be32(p + l3 + 24 + 4 * w);
    }
  }
  if (t & (kPtTcp | kPtUdp | kPtSctp)) {
    if (uint32_t(l4) + ((t & kPtTcp) ? 14 : 4) > len) {
      k->pre[i] = kActMalformed;
      return;
    }
    k->sport[i] = Be16(p + l4);
    k->dport[i] = Be16(p + l4 + 2);
    proto = (t & kPtTcp) ? 6 : (t & kPtUdp) ? 17 : 132;
    if (t & kPtTcp) k->flags[i] = p[l4 + 13];
  } else if (t & (kPtIcmp | kPtIcmpv6)) {
    if (uint32_t(l4) + 2 > len) {
      k->pre[i] = kActMalformed;
      return;
    }
    proto = k->version[i] == 4 ? 1 : 58;
    k->sport[i] = p[l4];      // type
    k->dport[i] = p[l4 + 1];  // code
  }
  k->proto[i] = proto;
}

// Classifies ids[0..n) with rule set rs; returns how many got the reject action.
uint32_t ClassifyBurst(AclReader* r, RuleSet* rs, const Pool& pool, const uint32_t* ids, uint32_t n,
                       uint32_t* out_match) {
  uint16_t* next = static_cast<uint16_t*>(pool.meta(kMetaNext));
  uint32_t* mark = static_cast<uint32_t*>(pool.meta(kMetaMark));
  const uint16_t* data_len = static_cast<const uint16_t*>(pool.meta(kMetaDataLen));
  std::atomic<uint64_t>* ctr = r->counters;
  const uint16_t* zone_of = r->zone_of.empty() ? nullptr : r->zone_of.data();
  const uint32_t none = rs->rules;  // counters slot of "no rule"
  KeyChunk k;
  uint32_t rejects = 0;
  for (uint32_t first = 0; first < n; first += kChunk) {
    const uint32_t m = n - first < kChunk ? n - first : kChunk;
    // The headers of packets a few ahead are fetched while this one's keys are read (a burst
    // fresh from a port is often out of cache by now, as in DPDK's l3fwd-acl).
    const uint16_t* data_off = static_cast<const uint16_t*>(pool.meta(kMetaDataOff));
    for (uint32_t i = 0; i < m; i++) {
      if (first + i + kPrefetchAhead < n) {
        const uint32_t a = ids[first + i + kPrefetchAhead];
        if (a < pool.count()) __builtin_prefetch(pool.base() + size_t(a) * pool.config().buf_size + data_off[a] + 14, 0, 3);
      }
      GatherKey(pool, zone_of, ids[first + i], &k, i);
    }
    acl::Keys keys;
    keys.version = k.version;
    keys.src = k.src;
    keys.dst = k.dst;
    keys.src6 = k.src6;
    keys.dst6 = k.dst6;
    keys.sport = k.sport;
    keys.dport = k.dport;
    keys.proto = k.proto;
    keys.tcp_flags = k.flags;
    keys.vlan = k.vlan;
    keys.in_port = k.in_port;
    rs->verdict->Classify(&keys, m, k.v_match);
    if (rs->count) rs->count->Classify(&keys, m, k.c_match);
    for (uint32_t i = 0; i < m; i++) {
      const uint32_t b = ids[first + i];
      const uint32_t v = k.v_match[i];
      uint8_t act;
      uint32_t id = acl::kNoMatch;
      if (k.pre[i] != kActCount) {
        act = k.pre[i] == kActNonIpPermit ? rs->non_ip : k.pre[i];
      } else if (v == acl::kNoMatch) {
        act = rs->no_match;
      } else {
        act = rs->action[v];
        id = rs->verdict_id[v];
        if (act == kActMark) mark[b] = rs->mark[v];
      }
      rejects += act == kActReject;
      next[b] = r->steps[act];
      out_match[first + i] = id;
      const uint32_t slot = id == acl::kNoMatch ? none : id;
      AddOwned(ctr[2 * slot], 1);
      AddOwned(ctr[2 * slot + 1], data_len[b]);
      if (rs->count && k.pre[i] == kActCount && k.c_match[i] != acl::kNoMatch) {
        const uint32_t c = rs->count_id[k.c_match[i]];
        AddOwned(ctr[2 * c], 1);
        AddOwned(ctr[2 * c + 1], data_len[b]);
      }
    }
  }
  return rejects;
}

// classify(reader, burst, start, n): the packets ids[start .. start+n) get their next step
// (and mark); match[start + i] their rule id. Returns how many were rejected, or a status.
napi_value AclClassify(napi_env env, napi_callback_info info) {
  int32_t a[4];
  if (!Args(env, info, a)) return Int(env, kErrInvalidArgument);
  ThreadState* ts = t_state;
  AclThreadState* as = t_acl.get();
  if (!ts || !as) return Int(env, kErrClosed);
  std::shared_ptr<AclReader>* rp = as->readers.Find(a[0]);
  if (!rp) return Int(env, kErrClosed);
  AclReader* r = rp->get();
  PoolSlot* pool = ts->pools.Find(r->pool_handle);
  if (!pool) return Int(env, kErrClosed);
  BurstSlot* burst = ts->bursts.Find(a[1]);
  if (!burst) return Int(env, kErrBadHandle);
  if (a[2] < 0 || a[3] < 0 || uint64_t(a[2]) + uint64_t(a[3]) > burst->capacity ||
      uint64_t(a[2]) + uint64_t(a[3]) > r->match_capacity)
    return Int(env, kErrBurstCapacity);
  const uint32_t n = uint32_t(a[3]);
  const uint32_t* ids = burst->ids + a[2];
  const int32_t checked = CheckBurstIndices(ts, ids, n, pool->pool->count(), uint32_t(a[2]));
  if (checked != kOk) return Int(env, checked);
  AclTable* t = r->table.get();
  std::atomic<RuleSet*>& hz = t->hazard[r->slot];
  RuleSet* rs;
  do {
    rs = t->current.load(std::memory_order_acquire);
    hz.store(rs, std::memory_order_seq_cst);
  } while (rs != t->current.load(std::memory_order_seq_cst));
  if (rs->generation != r->counted_generation) {  // not the pointer: a new set may reuse an address
    r->counters = rs->CountersFor(r->slot);
    r->counted_generation = rs->generation;
  }
  const uint32_t rejects = ClassifyBurst(r, rs, *pool->pool, ids, n, r->match.get() + a[2]);
  hz.store(nullptr, std::memory_order_release);
  return Int(env, int32_t(rejects));
}

// ---------------------------------------------------------------- tables (cold path)

Napi::Value AclTableCreate(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  AclThreadState* as = AclState(env);
  auto table = std::make_shared<AclTable>();
  table->id = g_acl_tables.Add(table);
  const int32_t handle = as->tables.Insert(TableSlot{table});
  if (handle < 0) Throw(env, handle, "too many ACL tables open on this thread");
  Napi::Object o = Napi::Object::New(env);
  o.Set("handle", handle);
  o.Set("id", table->id);
  return o;
}

Napi::Value AclTableAttach(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  AclThreadState* as = AclState(env);
  const uint32_t id = info[0].ToNumber().Uint32Value();
  auto table = g_acl_tables.Find(id);
  if (!table) Throw(env, kErrClosed, "ACL table " + std::to_string(id) + " does not exist (closed, or never created)");
  const int32_t handle = as->tables.Insert(TableSlot{table});
  if (handle < 0) Throw(env, handle, "too many ACL tables open on this thread");
  return Napi::Number::New(env, handle);
}

AclTable* FindTable(Napi::Env env, AclThreadState* as, const Napi::Value& v) {
  TableSlot* s = as->tables.Find(v.ToNumber().Int32Value());
  if (!s) Throw(env, kErrClosed, "ACL table is closed");
  return s->table.get();
}

Napi::Value AclTableClose(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  AclThreadState* as = AclState(env);
  const int32_t handle = info[0].ToNumber().Int32Value();
  if (!as->tables.Find(handle)) return Napi::Boolean::New(env, false);
  as->tables.Remove(handle);
  return Napi::Boolean::New(env, true);
}

Napi::Object StatsObject(Napi::Env env, const RuleSet& rs) {
  Napi::Object o = Napi::Object::New(env);
  o.Set("generation", double(rs.generation));
  o.Set("rules", rs.rules);
  o.Set("memoryBytes", double(rs.memory_bytes));
  o.Set("buildSeconds", rs.build_seconds);
  const acl::ClassifierStats& v = rs.verdict_stats;
  o.Set("trees", v.trees + rs.count_stats.trees);
  o.Set("nodes", v.nodes + rs.count_stats.nodes);
  o.Set("leaves", v.leaves + rs.count_stats.leaves);
  o.Set("maxDepth", std::max(v.max_depth, rs.count_stats.max_depth));
  o.Set("maxLeaf", std::max(v.max_leaf, rs.count_stats.max_leaf));
  o.Set("simd", v.simd);
  o.Set("budgetHit", v.budget_hit || rs.count_stats.budget_hit);
  return o;
}

// Converts the rule records and compiles them on a thread-pool thread, then publishes.
class LoadWorker : public Napi::AsyncWorker {
 public:
  LoadWorker(Napi::Env env, std::shared_ptr<AclTable> table, std::vector<acl::Rule> verdict,
             std::vector<acl::Rule> count, std::shared_ptr<RuleSet> rs)
      : Napi::AsyncWorker(env),
        deferred_(Napi::Promise::Deferred::New(env)),
        table_(std::move(table)),
        verdict_(std::move(verdict)),
        count_(std::move(count)),
        rs_(std::move(rs)) {}

  Napi::Promise Promise() { return deferred_.Promise(); }

  void Execute() override {
    std::lock_guard<std::mutex> lock(table_->load_mu);
    const auto t0 = std::chrono::steady_clock::now();
    acl::BuildResult v = acl::Classifier::Build(verdict_);
    if (!v.classifier) {
      error_ = "verdict list: " + v.error;
      return;
    }
    rs_->verdict = std::move(v.classifier);
    rs_->verdict_stats = rs_->verdict->stats();
    if (!count_.empty()) {
      acl::BuildResult c = acl::Classifier::Build(count_);
      if (!c.classifier) {
        error_ = "count list: " + c.error;
        return;
      }
      rs_->count = std::move(c.classifier);
      rs_->count_stats = rs_->count->stats();
    }
    rs_->build_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    rs_->memory_bytes = rs_->verdict_stats.memory_bytes + rs_->count_stats.memory_bytes +
                        rs_->action.size() + 4 * (rs_->mark.size() + rs_->verdict_id.size() + rs_->count_id.size());
    table_->Publish(rs_);
  }

  void OnOK() override {
    Napi::Env env = Env();
    if (!error_.empty()) {
      try {
        Throw(env, kErrInvalidArgument, error_);
      } catch (const Napi::Error& e) {
        deferred_.Reject(e.Value());
      }
      return;
    }
    deferred_.Resolve(StatsObject(env, *rs_));
  }
  void OnError(const Napi::Error& e) override { deferred_.Reject(e.Value()); }

 private:
  Napi::Promise::Deferred deferred_;
  std::shared_ptr<AclTable> table_;
  std::vector<acl::Rule> verdict_, count_;
  std::shared_ptr<RuleSet> rs_;
  std::string error_;
};

uint8_t ActionOption(Napi::Env env, const Napi::Object& o, const char* key, uint8_t permit, uint8_t deny, uint8_t def) {
  const std::string s = GetString(o, key, "");
  if (s.empty()) return def;
  if (s == "permit") return permit;
  if (s == "deny") return deny;
  Throw(env, kErrInvalidArgument, std::string(key) + " must be 'permit' or 'deny', got '" + s + "'");
}

// load(table, records: Uint32Array, options { noMatch, nonIp }): Promise<stats>. Records in
// priority order, kRecordWords each (see packages/core/src/native-acl.ts).
Napi::Value AclTableLoad(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  AclThreadState* as = AclState(env);
  TableSlot* slot = as->tables.Find(info[0].ToNumber().Int32Value());
  if (!slot) Throw(env, kErrClosed, "ACL table is closed");
  if (!info[1].IsTypedArray() || info[1].As<Napi::TypedArray>().TypedArrayType() != napi_uint32_array)
    Throw(env, kErrInvalidArgument, "rule records must be a Uint32Array");
  Napi::Uint32Array rec = info[1].As<Napi::Uint32Array>();
  if (rec.ElementLength() % kRecordWords != 0)
    Throw(env, kErrInvalidArgument, "rule records: length is not a multiple of " + std::to_string(kRecordWords));
  const uint32_t nrec = uint32_t(rec.ElementLength() / kRecordWords);
  if (nrec > kMaxRulesPerSet) Throw(env, kErrInvalidArgument, "at most " + std::to_string(kMaxRulesPerSet) + " rules per set");
  Napi::Object opt = info[2].IsObject() ? info[2].As<Napi::Object>() : Napi::Object::New(env);
  auto rs = std::make_shared<RuleSet>();
  rs->no_match = ActionOption(env, opt, "noMatch", kActNoMatchPermit, kActNoMatchDeny, kActNoMatchDeny);
  rs->non_ip = ActionOption(env, opt, "nonIp", kActNonIpPermit, kActNonIpDeny, kActNonIpPermit);
  std::vector<acl::Rule> verdict, count;
  const uint32_t* w0 = rec.Data();
  for (uint32_t r = 0; r < nrec; r++) {
    const uint32_t* w = w0 + size_t(r) * kRecordWords;
    acl::Rule x;
    const uint32_t id = w[0];
    if (id >= nrec) Throw(env, kErrInvalidArgument, "rule record " + std::to_string(r) + ": id " + std::to_string(id) + " out of range");
    if (w[1] != 0 && w[1] != 4 && w[1] != 6)
      Throw(env, kErrInvalidArgument, "rule " + std::to_string(id) + ": family must be 0, 4 or 6");
    x.family = acl::Family(w[1]);
    for (int i = 0; i < 4; i++) {
      x.src[i] = w[2 + i];
      x.dst[i] = w[6 + i];
    }
    auto u8 = [&](uint32_t v, const char* what) -> uint8_t {
      if (v > 0xff) Throw(env, kErrInvalidArgument, "rule " + std::to_string(id) + ": " + what + " out of range");
      return uint8_t(v);
    };
    auto u16 = [&](uint32_t v, const char* what) -> uint16_t {
      if (v > 0xffff) Throw(env, kErrInvalidArgument, "rule " + std::to_string(id) + ": " + what + " out of range");
      return uint16_t(v);
    };
    x.src_len = u8(w[10], "src prefix length");
    x.dst_len = u8(w[11], "dst prefix length");
    x.sport_lo = u16(w[12], "sport");
    x.sport_hi = u16(w[13], "sport");
    x.dport_lo = u16(w[14], "dport");
    x.dport_hi = u16(w[15], "dport");
    x.proto = u8(w[16], "protocol");
    x.proto_mask = u8(w[17], "protocol mask");
    x.tcp_flags = u8(w[18], "tcp flags");
    x.tcp_flags_mask = u8(w[19], "tcp flags mask");
    x.vlan_lo = u16(w[20], "vlan");
    x.vlan_hi = u16(w[21], "vlan");
    x.in_port_lo = u16(w[22], "in port");
    x.in_port_hi = u16(w[23], "in port");
    const uint32_t list = w[24], action = w[25];
    if (list > 1) Throw(env, kErrInvalidArgument, "rule " + std::to_string(id) + ": list must be 0 or 1");
    if (action > kActTrack) Throw(env, kErrInvalidArgument, "rule " + std::to_string(id) + ": unknown action " + std::to_string(action));
    const std::string e = acl::ValidateRule(x, id);
    if (!e.empty()) Throw(env, kErrInvalidArgument, e);
    if (list == 0) {
      x.priority = uint32_t(verdict.size());
      verdict.push_back(x);
      rs->verdict_id.push_back(id);
      rs->action.push_back(uint8_t(action));
      rs->mark.push_back(w[26]);
    } else {
      x.priority = uint32_t(count.size());
      count.push_back(x);
      rs->count_id.push_back(id);
    }
  }
  rs->rules = nrec;
  auto* worker = new LoadWorker(env, slot->table, std::move(verdict), std::move(count), rs);
  Napi::Promise p = worker->Promise();
  worker->Queue();
  return p;
}

Napi::Value AclTableStats(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  AclTable* t = FindTable(env, AclState(env), info[0]);
  std::shared_ptr<RuleSet> rs = t->Current();
  if (!rs) return env.Null();
  return StatsObject(env, *rs);
}

// Per rule id: packets and bytes since its set was loaded, summed over every reader; the
// last pair counts packets that matched no rule (and non-IP, malformed).
Napi::Value AclTableCounters(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  AclTable* t = FindTable(env, AclState(env), info[0]);
  std::shared_ptr<RuleSet> rs = t->Current();
  if (!rs) return env.Null();
  const size_t len = size_t(rs->rules) * 2 + 2;
  Napi::Float64Array out = Napi::Float64Array::New(env, len);
  std::lock_guard<std::mutex> lock(rs->counters_mu);
  for (uint32_t s = 0; s < kMaxReaders; s++) {
    if (!rs->counters[s]) continue;
    for (size_t i = 0; i < len; i++) out[i] += double(rs->counters[s][i].load(std::memory_order_relaxed));
  }
  Napi::Object o = Napi::Object::New(env);
  o.Set("generation", double(rs->generation));
  o.Set("counters", out);
  return o;
}

// reader(tableId, poolHandle, steps: Uint16Array(kActCount), capacity, zones?: Uint16Array(65536))
//   -> { handle, match }. With zones, a key's input-port field is zones[meta.port].
Napi::Value AclReaderCreate(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  ThreadState* ts = State(env);
  AclThreadState* as = AclState(env);
  const uint32_t id = info[0].ToNumber().Uint32Value();
  auto table = g_acl_tables.Find(id);
  if (!table) Throw(env, kErrClosed, "ACL table " + std::to_string(id) + " does not exist (closed, or never created)");
  if (!table->Current()) Throw(env, kErrInvalidArgument, "ACL table " + std::to_string(id) + " has no rule set loaded yet");
  const int32_t pool_handle = info[1].ToNumber().Int32Value();
  if (!ts->pools.Find(pool_handle)) Throw(env, kErrClosed, "ACL reader: the pool is closed");
  if (!info[2].IsTypedArray() || info[2].As<Napi::TypedArray>().TypedArrayType() != napi_uint16_array ||
      info[2].As<Napi::Uint16Array>().ElementLength() != kActCount)
    Throw(env, kErrInvalidArgument, "ACL reader: steps must be a Uint16Array of " + std::to_string(kActCount));
  const uint32_t capacity = info[3].ToNumber().Uint32Value();
  if (capacity == 0 || capacity > 4096) Throw(env, kErrInvalidArgument, "ACL reader: capacity must be 1..4096");
  const int32_t slot = table->AcquireSlot();
  if (slot < 0) Throw(env, kErrNoMemory, "ACL table " + std::to_string(id) + ": more than " + std::to_string(kMaxReaders) + " readers");
  auto r = std::make_shared<AclReader>();
  r->table = table;
  r->slot = uint32_t(slot);
  r->pool_handle = pool_handle;
  Napi::Uint16Array steps = info[2].As<Napi::Uint16Array>();
  for (uint32_t i = 0; i < kActCount; i++) r->steps[i] = steps[i];
  if (info.Length() > 4 && !info[4].IsUndefined()) {
    if (!info[4].IsTypedArray() || info[4].As<Napi::TypedArray>().TypedArrayType() != napi_uint16_array ||
        info[4].As<Napi::Uint16Array>().ElementLength() != 65536)
      Throw(env, kErrInvalidArgument, "ACL reader: zones must be a Uint16Array of 65536 (zone by input port)");
    Napi::Uint16Array z = info[4].As<Napi::Uint16Array>();
    r->zone_of.assign(z.Data(), z.Data() + 65536);
  }
  r->match.reset(new uint32_t[capacity]());
  r->match_capacity = capacity;
  const int32_t handle = as->readers.Insert(r);
  if (handle < 0) Throw(env, handle, "too many ACL readers on this thread");
  auto* hold = new std::shared_ptr<uint32_t[]>(r->match);
  Napi::ArrayBuffer ab = Napi::ArrayBuffer::New(
      env, hold->get(), size_t(capacity) * 4, [](Napi::Env, void*, std::shared_ptr<uint32_t[]>* h) { delete h; }, hold);
  Napi::Object o = Napi::Object::New(env);
  o.Set("handle", handle);
  o.Set("match", Napi::Uint32Array::New(env, capacity, ab, 0));
  return o;
}

Napi::Value AclReaderClose(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  AclThreadState* as = AclState(env);
  const int32_t handle = info[0].ToNumber().Int32Value();
  if (!as->readers.Find(handle)) return Napi::Boolean::New(env, false);
  as->readers.Remove(handle);  // releases the hazard slot
  return Napi::Boolean::New(env, true);
}

}  // namespace

void CloseAclOfThread() { t_acl.reset(); }

void RegisterAcl(Napi::Env env, Napi::Object exports) {
  exports.Set("aclTableCreate", Napi::Function::New(env, AclTableCreate));
  exports.Set("aclTableAttach", Napi::Function::New(env, AclTableAttach));
  exports.Set("aclTableClose", Napi::Function::New(env, AclTableClose));
  exports.Set("aclTableLoad", Napi::Function::New(env, AclTableLoad));
  exports.Set("aclTableStats", Napi::Function::New(env, AclTableStats));
  exports.Set("aclTableCounters", Napi::Function::New(env, AclTableCounters));
  exports.Set("aclReaderCreate", Napi::Function::New(env, AclReaderCreate));
  exports.Set("aclReaderClose", Napi::Function::New(env, AclReaderClose));
  napi_value fn;
  napi_create_function(env, "aclClassify", NAPI_AUTO_LENGTH, AclClassify, nullptr, &fn);
  exports.Set("aclClassify", Napi::Value(env, fn));
  exports.Set("aclActionCount", uint32_t(kActCount));
  exports.Set("aclRecordWords", kRecordWords);
}

}  // namespace vnf
