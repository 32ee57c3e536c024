// N-API binding of the connection tracker (conntrack/conntrack.h): session tables shared by
// every thread of the process (a Registry by id, as the ACL tables), and per-thread readers
// that track a whole burst in one call, reading each packet's tuple straight from the parsed
// packet (the parser's type bits and header offsets in the pool's metadata) and writing its
// next step into meta.next through the reader's step table.
//
// A reader works in one of two modes:
//   process: Lookup + Track + Create (reply = inverse): the firewall's `track` step, for
//            packets a policy admitted (ACL permit-and-track);
//   lookup:  Lookup + Track only: packets of existing sessions pass, misses go to the miss
//            step (the policy, e.g. an ACL, that may admit them).
// Each call also runs TryExpire with a small budget, so expiry never stalls and never waits.
#include <array>
#include <chrono>

#include "binding.h"
#include "conntrack/conntrack.h"
#include "nat/packet.h"

namespace vnf {
namespace {

namespace ct = conntrack;

// Result categories, as the readers' step tables number them (packages/core/src/native-conntrack.ts).
enum CtCategory : uint8_t {
  kCatOk,          // a packet of an existing session (tracked, or accepted without change)
  kCatCreated,     // process mode: a new session was created by this packet
  kCatMiss,        // lookup mode: no session
  kCatInvalid,     // no valid transition, bad TCP flags, a reply tuple in use (conflict)
  kCatFull,        // process mode: new session refused, table at capacity
  kCatNotTracked,  // well-formed but not trackable: not IPv4, an IPv4 fragment, an ICMP message
                   // that is neither a query nor an error
  kCatMalformed,   // the parser's malformed bit, or headers cut short (IP, TCP, UDP, ICMP)
  kCatRelated,     // an ICMP error quoting a packet of a tracked session (nf_conntrack's RELATED)
  kCatCount,
};

enum CtMode : uint8_t { kModeProcess = 0, kModeLookup = 1 };

constexpr uint32_t kChunk = 256;         // packets handed to the table at once
constexpr uint32_t kExpireBudget = 64;   // slots visited by TryExpire per call

// Parser bits (packages/protocols/src/ptype.ts).
constexpr uint32_t kPtIpv4 = 1u << 5, kPtFrag = 1u << 8, kPtTcp = 1u << 9, kPtUdp = 1u << 10,
                   kPtIcmp = 1u << 11, kPtMalformed = 1u << 31;

struct CtTable {
  std::unique_ptr<ct::Table> table;
  uint32_t id = 0;
};

Registry<CtTable> g_ct_tables;

struct CtReader {
  std::shared_ptr<CtTable> table;
  int32_t pool_handle = 0;
  CtMode mode = kModeProcess;
  std::array<uint16_t, kCatCount> steps{};
  // Per-call work arrays (one reader belongs to one thread).
  ct::Tuple keys[kChunk];
  ct::PacketMeta meta[kChunk];
  ct::Verdict v[kChunk];
  uint32_t pos[kChunk];  // burst position of keys[i]
  // ICMP errors: the quoted packets' tuples, looked up on their own.
  ct::Tuple ekeys[kChunk];
  ct::Tuple ekeys2[kChunk];
  ct::Verdict ev[kChunk];
  ct::Verdict ev2[kChunk];
  uint32_t epos[kChunk];
  uint32_t emiss[kChunk];
};

struct CtTableSlot {
  std::shared_ptr<CtTable> table;
};

struct CtThreadState {
  SlotTable<CtTableSlot> tables;
  SlotTable<std::shared_ptr<CtReader>> readers;
};
thread_local std::unique_ptr<CtThreadState> t_ct;

CtThreadState* CtState(Napi::Env env) {
  State(env);
  if (!t_ct) t_ct = std::make_unique<CtThreadState>();
  return t_ct.get();
}

inline uint64_t NowMs() {
  return uint64_t(std::chrono::duration_cast<std::chrono::milliseconds>(
                      std::chrono::steady_clock::now().time_since_epoch())
                      .count());
}

inline uint32_t Be32(const uint8_t* p) { return uint32_t(p[0]) << 24 | uint32_t(p[1]) << 16 | uint32_t(p[2]) << 8 | p[3]; }
inline uint16_t Be16(const uint8_t* p) { return uint16_t(p[0] << 8 | p[1]); }

inline bool IcmpErrorType(uint8_t t) { return t == 3 || t == 4 || t == 5 || t == 11 || t == 12; }

inline bool IcmpQueryType(uint8_t t) {
  // echo reply/request, timestamp, information, address mask (request and reply).
  return t == 0 || t == 8 || (t >= 13 && t <= 18);
}

// What GatherTuple made of a packet.
enum class Gather : uint8_t { kTuple, kNotTracked, kMalformed, kInvalid, kIcmpError };

// The tuple and packet meta of buffer b (kTuple), the tuple of the packet an ICMP error quotes
// (kIcmpError, in *k), or why it has none. Every read is checked against the packet's length.
inline Gather GatherTuple(const Pool& pool, uint32_t b, ct::Tuple* k, ct::PacketMeta* m) {
  const uint16_t* data_off = static_cast<const uint16_t*>(pool.meta(kMetaDataOff));
  const uint16_t* data_len = static_cast<const uint16_t*>(pool.meta(kMetaDataLen));
  const uint32_t t = static_cast<const uint32_t*>(pool.meta(kMetaPtype))[b];
  const uint16_t l3 = static_cast<const uint16_t*>(pool.meta(kMetaL3Off))[b];
  const uint16_t l4 = static_cast<const uint16_t*>(pool.meta(kMetaL4Off))[b];
  const uint32_t off = data_off[b], len = data_len[b];
  if ((t & kPtMalformed) || off + len > pool.config().buf_size) return Gather::kMalformed;
  if (!(t & kPtIpv4) || (t & kPtFrag)) return Gather::kNotTracked;
  if (uint32_t(l3) + 20 > len) return Gather::kMalformed;
  const uint8_t* p = pool.base() + size_t(b) * pool.config().buf_size + off;
  const uint32_t src = Be32(p + l3 + 12), dst = Be32(p + l3 + 16);
  const uint8_t proto = p[l3 + 9];
  *m = ct::PacketMeta{};
  m->bytes = Be16(p + l3 + 2);
  if (t & kPtTcp) {
    if (uint32_t(l4) + 14 > len) return Gather::kMalformed;
    *k = ct::MakeTuple(src, dst, Be16(p + l4), Be16(p + l4 + 2), ct::kProtoTcp);
    m->tcp_flags = p[l4 + 13];
  } else if (t & kPtUdp) {
    if (uint32_t(l4) + 4 > len) return Gather::kMalformed;
    *k = ct::MakeTuple(src, dst, Be16(p + l4), Be16(p + l4 + 2), ct::kProtoUdp);
  } else if (t & kPtIcmp) {
    if (uint32_t(l4) + 8 > len) return Gather::kMalformed;
    const uint8_t type = p[l4];
    if (IcmpErrorType(type)) {
      // The quoted IP header and 8 bytes (RFC 792) give the tuple of the packet it is about.
      nat::Classified c;
      switch (nat::Classify(p + l3, len - l3, &c)) {
        case nat::Kind::kIcmpError:
          *k = c.quoted;
          return Gather::kIcmpError;
        case nat::Kind::kBadIcmpError:  // quotes an ICMP error, a later fragment, ...
          return Gather::kInvalid;
        case nat::Kind::kUnsupportedIcmp:
          return Gather::kNotTracked;
        default:  // kTruncated, kBadHeader (and anything that cannot happen here)
          return Gather::kMalformed;
      }
    }
    if (!IcmpQueryType(type)) return Gather::kNotTracked;
    *k = ct::IcmpQuery(src, dst, Be16(p + l4 + 4));
    m->icmp_type = type;
  } else if (proto == ct::kProtoTcp || proto == ct::kProtoUdp || proto == ct::kProtoIcmp) {
    return Gather::kMalformed;  // the parser did not find the header it needs
  } else {
    *k = ct::MakeTuple(src, dst, 0, 0, proto);
  }
  return Gather::kTuple;
}

inline uint8_t Category(ct::Result r) {
  switch (r) {
    case ct::Result::kTracked:
    case ct::Result::kIgnored:
    case ct::Result::kHit:
      return kCatOk;
    case ct::Result::kCreated: return kCatCreated;
    case ct::Result::kMiss: return kCatMiss;
    case ct::Result::kFull: return kCatFull;
    case ct::Result::kInvalid:
    case ct::Result::kConflict:
    default:
      return kCatInvalid;
  }
}

// ICMP errors: RELATED when the quoted tuple is one of a live session's two direction tuples.
// The quoted packet is one the error's receiver sent, so its tuple as quoted is the session's
// tuple in the direction that packet went (original or reply; the index holds both). When it
// misses, its inverse is tried too: a table whose sessions a NAT created holds the translated
// reply tuple, which is the inverse of what a host outside quotes. Errors are not tracked:
// the session's state, deadline and counters are left alone (as nf_conntrack does).
void RelateChunk(CtReader* r, uint32_t e, uint64_t now, uint16_t* next, const uint32_t* ids) {
  ct::Table* t = r->table->table.get();
  t->Lookup(r->ekeys, e, now, r->ev);
  uint32_t nm = 0;
  for (uint32_t i = 0; i < e; i++) {
    if (r->ev[i].result == ct::Result::kHit) {
      next[ids[r->epos[i]]] = r->steps[kCatRelated];
    } else {
      r->ekeys2[nm] = ct::Inverse(r->ekeys[i]);
      r->emiss[nm++] = r->epos[i];
    }
  }
  if (!nm) return;
  t->Lookup(r->ekeys2, nm, now, r->ev2);
  for (uint32_t i = 0; i < nm; i++)
    next[ids[r->emiss[i]]] = r->steps[r->ev2[i].result == ct::Result::kHit ? kCatRelated : kCatInvalid];
}

void TrackChunk(CtReader* r, uint32_t m, uint64_t now, uint16_t* next, const uint32_t* ids) {
  ct::Table* t = r->table->table.get();
  if (r->mode == kModeProcess) {
    t->Process(r->keys, r->meta, m, now, r->v);
  } else {
    t->Lookup(r->keys, m, now, r->v);
    t->Track(r->meta, m, now, r->v);
  }
  for (uint32_t i = 0; i < m; i++) next[ids[r->pos[i]]] = r->steps[Category(r->v[i].result)];
}

// process(reader, burst, start, n, now?): the packets ids[start .. start+n) get their next step.
// `now` (ms, >= 0) replaces the steady clock when given (tests drive time with it; the same
// clock must be used for every call on a table, including expire). Returns n, or a status.
napi_value CtProcess(napi_env env, napi_callback_info info) {
  size_t argc = 5;
  napi_value argv[5];
  napi_get_cb_info(env, info, &argc, argv, nullptr, nullptr);
  if (argc < 4) return Int(env, kErrInvalidArgument);
  int32_t a[4];
  for (size_t i = 0; i < 4; i++) {
    double d;
    if (napi_get_value_double(env, argv[i], &d) != napi_ok) return Int(env, kErrInvalidArgument);
    if (!(d >= -2147483648.0 && d <= 2147483647.0) || d != double(int32_t(d))) return Int(env, kErrInvalidArgument);
    a[i] = int32_t(d);
  }
  double clock = -1;
  if (argc >= 5) {
    napi_valuetype vt;
    napi_typeof(env, argv[4], &vt);
    if (vt != napi_undefined && (napi_get_value_double(env, argv[4], &clock) != napi_ok || !(clock >= 0 && clock < 9.0e15)))
      return Int(env, kErrInvalidArgument);
  }
  ThreadState* ts = t_state;
  CtThreadState* cs = t_ct.get();
  if (!ts || !cs) return Int(env, kErrClosed);
  std::shared_ptr<CtReader>* rp = cs->readers.Find(a[0]);
  if (!rp) return Int(env, kErrClosed);
  CtReader* r = rp->get();
  PoolSlot* pool = ts->pools.Find(r->pool_handle);
  if (!pool) return Int(env, kErrClosed);
  BurstSlot* burst = ts->bursts.Find(a[1]);
  if (!burst) return Int(env, kErrBadHandle);
  if (a[2] < 0 || a[3] < 0 || uint64_t(a[2]) + uint64_t(a[3]) > burst->capacity) return Int(env, kErrBurstCapacity);
  const uint32_t n = uint32_t(a[3]);
  const uint32_t* ids = burst->ids + a[2];
  const Pool& p = *pool->pool;
  const int32_t checked = CheckBurstIndices(ts, ids, n, p.count(), uint32_t(a[2]));
  if (checked != kOk) return Int(env, checked);
  uint16_t* next = static_cast<uint16_t*>(p.meta(kMetaNext));
  const uint64_t now = clock >= 0 ? uint64_t(clock) : NowMs();
  uint32_t m = 0, e = 0;
  for (uint32_t i = 0; i < n; i++) {
    const uint32_t b = ids[i];
    const Gather g = GatherTuple(p, b, &r->keys[m], &r->meta[m]);
    if (g != Gather::kTuple) {
      if (g == Gather::kIcmpError) {
        r->ekeys[e] = r->keys[m];
        r->epos[e++] = i;
        if (e == kChunk) {
          RelateChunk(r, e, now, next, ids);
          e = 0;
        }
        continue;
      }
      next[b] = r->steps[g == Gather::kNotTracked ? kCatNotTracked : g == Gather::kInvalid ? kCatInvalid : kCatMalformed];
      continue;
    }
    r->pos[m++] = i;
    if (m == kChunk) {
      TrackChunk(r, m, now, next, ids);
      m = 0;
    }
  }
  if (m) TrackChunk(r, m, now, next, ids);
  if (e) RelateChunk(r, e, now, next, ids);
  r->table->table->TryExpire(now, kExpireBudget);
  return Int(env, int32_t(n));
}

// ---------------------------------------------------------------- tables (cold path)


// create({ capacity, timeouts?, tcpLoose?, rfcNat? }) -> { handle, id }
Napi::Value CtTableCreate(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  CtThreadState* cs = CtState(env);
  if (!info[0].IsObject()) Throw(env, kErrInvalidArgument, "conntrack table: options must be an object");
  Napi::Object opt = info[0].As<Napi::Object>();
  ct::Config cfg;
  cfg.capacity = GetU32(opt, "capacity", cfg.capacity);
  cfg.tcp_loose = GetBool(opt, "tcpLoose", cfg.tcp_loose);
  if (GetBool(opt, "rfcNat", false)) cfg.timeouts = ct::RfcNatTimeouts();
  Napi::Value tv = opt.Get("timeouts");
  if (!tv.IsUndefined()) {
    if (!tv.IsObject()) Throw(env, kErrInvalidArgument, "conntrack table: timeouts must be an object");
    ReadConntrackTimeouts(tv.As<Napi::Object>(), &cfg.timeouts);
  }
  std::string err;
  auto table = std::make_shared<CtTable>();
  table->table = ct::Table::Create(cfg, &err);
  if (!table->table) Throw(env, kErrInvalidArgument, "conntrack table: " + err);
  table->id = g_ct_tables.Add(table);
  const int32_t handle = cs->tables.Insert(CtTableSlot{table});
  if (handle < 0) Throw(env, handle, "too many conntrack tables open on this thread");
  Napi::Object o = Napi::Object::New(env);
  o.Set("handle", handle);
  o.Set("id", table->id);
  return o;
}

Napi::Value CtTableAttach(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  CtThreadState* cs = CtState(env);
  const uint32_t id = info[0].ToNumber().Uint32Value();
  auto table = g_ct_tables.Find(id);
  if (!table) Throw(env, kErrClosed, "conntrack table " + std::to_string(id) + " does not exist (closed, or never created)");
  const int32_t handle = cs->tables.Insert(CtTableSlot{table});
  if (handle < 0) Throw(env, handle, "too many conntrack tables open on this thread");
  return Napi::Number::New(env, handle);
}

Napi::Value CtTableClose(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  CtThreadState* cs = CtState(env);
  const int32_t handle = info[0].ToNumber().Int32Value();
  if (!cs->tables.Find(handle)) return Napi::Boolean::New(env, false);
  cs->tables.Remove(handle);
  return Napi::Boolean::New(env, true);
}

Napi::Value CtTableStats(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  CtThreadState* cs = CtState(env);
  CtTableSlot* s = cs->tables.Find(info[0].ToNumber().Int32Value());
  if (!s) Throw(env, kErrClosed, "conntrack table is closed");
  const ct::Stats st = s->table->table->stats();
  Napi::Object o = Napi::Object::New(env);
  o.Set("capacity", double(st.capacity));
  o.Set("inUse", double(st.in_use));
  o.Set("lookups", double(st.lookups));
  o.Set("hits", double(st.hits));
  o.Set("created", double(st.created));
  o.Set("refusedFull", double(st.refused_full));
  o.Set("conflicts", double(st.conflicts));
  o.Set("invalid", double(st.invalid));
  o.Set("ignored", double(st.ignored));
  Napi::Object removed = Napi::Object::New(env);
  for (uint8_t r = 0; r < ct::kReasonCount; r++) removed.Set(ct::ReasonName(r), double(st.removed[r]));
  o.Set("removed", removed);
  o.Set("memoryBytes", double(st.memory_bytes));
  return o;
}

// expire(handle, budget, now?): runs Expire (waiting for the writer lock) over up to `budget`
// slots at `now` (ms; default the steady clock); returns the number freed.
Napi::Value CtTableExpire(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  CtThreadState* cs = CtState(env);
  CtTableSlot* s = cs->tables.Find(info[0].ToNumber().Int32Value());
  if (!s) Throw(env, kErrClosed, "conntrack table is closed");
  const uint32_t budget = info[1].ToNumber().Uint32Value();
  uint64_t now = NowMs();
  if (info.Length() > 2 && !info[2].IsUndefined()) {
    const double d = info[2].ToNumber().DoubleValue();
    if (!(d >= 0 && d < 9.0e15)) Throw(env, kErrInvalidArgument, "conntrack expire: now must be a number of ms >= 0");
    now = uint64_t(d);
  }
  return Napi::Number::New(env, s->table->table->Expire(now, budget));
}

// reader(tableId, poolHandle, steps: Uint16Array(kCatCount), mode: 'process' | 'lookup') -> handle
Napi::Value CtReaderCreate(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  ThreadState* ts = State(env);
  CtThreadState* cs = CtState(env);
  const uint32_t id = info[0].ToNumber().Uint32Value();
  auto table = g_ct_tables.Find(id);
  if (!table) Throw(env, kErrClosed, "conntrack table " + std::to_string(id) + " does not exist (closed, or never created)");
  const int32_t pool_handle = info[1].ToNumber().Int32Value();
  if (!ts->pools.Find(pool_handle)) Throw(env, kErrClosed, "conntrack reader: the pool is closed");
  if (!info[2].IsTypedArray() || info[2].As<Napi::TypedArray>().TypedArrayType() != napi_uint16_array ||
      info[2].As<Napi::Uint16Array>().ElementLength() != kCatCount)
    Throw(env, kErrInvalidArgument, "conntrack reader: steps must be a Uint16Array of " + std::to_string(kCatCount));
  const std::string mode = info[3].IsString() ? info[3].As<Napi::String>().Utf8Value() : "";
  if (mode != "process" && mode != "lookup")
    Throw(env, kErrInvalidArgument, "conntrack reader: mode must be 'process' or 'lookup', got '" + mode + "'");
  auto r = std::make_shared<CtReader>();
  r->table = table;
  r->pool_handle = pool_handle;
  r->mode = mode == "lookup" ? kModeLookup : kModeProcess;
  Napi::Uint16Array steps = info[2].As<Napi::Uint16Array>();
  for (uint32_t i = 0; i < kCatCount; i++) r->steps[i] = steps[i];
  const int32_t handle = cs->readers.Insert(r);
  if (handle < 0) Throw(env, handle, "too many conntrack readers on this thread");
  return Napi::Number::New(env, handle);
}

Napi::Value CtReaderClose(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  CtThreadState* cs = CtState(env);
  const int32_t handle = info[0].ToNumber().Int32Value();
  if (!cs->readers.Find(handle)) return Napi::Boolean::New(env, false);
  cs->readers.Remove(handle);
  return Napi::Boolean::New(env, true);
}

}  // namespace

// Timeouts in seconds from a JS object (keys as ConntrackTimeouts); absent keys keep *t's.
void ReadConntrackTimeouts(const Napi::Object& o, conntrack::Timeouts* t) {
  static const char* kTcp[conntrack::kTcpStateCount] = {nullptr,     "synSent",  "synRecv",  "established", "finWait",
                                                 "closeWait", "lastAck",  "timeWait", "close",       "synSent2"};
  for (uint32_t s = 1; s < conntrack::kTcpStateCount; s++) t->tcp[s] = GetU32(o, kTcp[s], t->tcp[s]);
  t->tcp_unassured_max = GetU32(o, "tcpUnassuredMax", t->tcp_unassured_max);
  t->udp_unreplied = GetU32(o, "udpUnreplied", t->udp_unreplied);
  t->udp_replied = GetU32(o, "udpReplied", t->udp_replied);
  t->icmp = GetU32(o, "icmp", t->icmp);
  t->other_unreplied = GetU32(o, "otherUnreplied", t->other_unreplied);
  t->other_replied = GetU32(o, "otherReplied", t->other_replied);
}

void CloseConntrackOfThread() { t_ct.reset(); }

void RegisterConntrack(Napi::Env env, Napi::Object exports) {
  exports.Set("ctTableCreate", Napi::Function::New(env, CtTableCreate));
  exports.Set("ctTableAttach", Napi::Function::New(env, CtTableAttach));
  exports.Set("ctTableClose", Napi::Function::New(env, CtTableClose));
  exports.Set("ctTableStats", Napi::Function::New(env, CtTableStats));
  exports.Set("ctTableExpire", Napi::Function::New(env, CtTableExpire));
  exports.Set("ctReaderCreate", Napi::Function::New(env, CtReaderCreate));
  exports.Set("ctReaderClose", Napi::Function::New(env, CtReaderClose));
  napi_value fn;
  napi_create_function(env, "ctProcess", NAPI_AUTO_LENGTH, CtProcess, nullptr, &fn);
  exports.Set("ctProcess", Napi::Value(env, fn));
  exports.Set("ctCategoryCount", uint32_t(kCatCount));
}

}  // namespace vnf
