// N-API binding of NAT44 (nat/nat.h): translators shared by every thread of the process (a
// Registry by id, as conntrack tables), and per-thread readers that translate a whole burst in
// one call: each packet's IPv4 header is found through the parser's offsets in the pool's
// metadata, its side from its input port, and its next step is written into meta.next through
// the reader's step table (one entry per nat::Action, plus one for packets that are not IPv4).
// Fragments that came before their first are copied and their buffers dropped; when they can go,
// the same call appends them to the burst in fresh buffers (translated, or dropped on timeout).
#include <array>
#include <chrono>

#include "binding.h"
#include "nat/nat.h"

namespace vnf {
namespace {

namespace nat = vnf::nat;

constexpr uint32_t kSteps = uint32_t(nat::Action::kCount) + 1;  // + "not IPv4"
constexpr uint32_t kNotIpv4 = uint32_t(nat::Action::kCount);
constexpr uint32_t kChunk = 256;
constexpr uint32_t kExpireBudget = 64;

// Parser bits (packages/protocols/src/ptype.ts).
constexpr uint32_t kPtIpv4 = 1u << 5, kPtMalformed = 1u << 31;

struct NatObject {
  std::unique_ptr<nat::Nat> nat;
  uint32_t id = 0;
};
Registry<NatObject> g_nats;

struct NatReader {
  std::shared_ptr<NatObject> nat;
  int32_t pool_handle = 0;
  std::array<uint16_t, kSteps> steps{};
  std::array<uint8_t, 65536 / 8> outside{};  // bit per input port id
  nat::Packet pkts[kChunk];
  nat::Action act[kChunk];
  uint32_t pos[kChunk];
  uint64_t cookies[kChunk];
  std::vector<nat::Released> released;
};

struct NatSlot {
  std::shared_ptr<NatObject> nat;
};

struct NatThreadState {
  SlotTable<NatSlot> nats;
  SlotTable<std::shared_ptr<NatReader>> readers;
};
thread_local std::unique_ptr<NatThreadState> t_nat;

NatThreadState* NatState(Napi::Env env) {
  State(env);
  if (!t_nat) t_nat = std::make_unique<NatThreadState>();
  return t_nat.get();
}

inline uint64_t NowMs() {
  return uint64_t(std::chrono::duration_cast<std::chrono::milliseconds>(
                      std::chrono::steady_clock::now().time_since_epoch())
                      .count());
}

void TranslateChunk(NatReader* r, nat::Nat* n, uint32_t m, uint64_t now, uint16_t* next, const uint32_t* ids) {
  n->Translate(r->pkts, m, now, r->act, r->cookies);
  for (uint32_t i = 0; i < m; i++) next[ids[r->pos[i]]] = r->steps[uint32_t(r->act[i])];
}

// Appends the held fragments that can go now to ids[at ..] (room for `room`), in buffers taken
// from the pool, with their metadata restored and their next step set. Returns how many.
uint32_t AppendReleased(NatReader* r, PoolSlot* ps, uint32_t* ids, uint32_t room, uint64_t now) {
  nat::Nat* n = r->nat->nat.get();
  if (room == 0 || !n->HasReleasable(now)) return 0;
  r->released.resize(std::min<uint32_t>(room, 64));
  const uint32_t k = n->ReleaseHeld(now, r->released.data(), uint32_t(r->released.size()));
  if (k == 0) return 0;
  Pool& pool = *ps->pool;
  ErrorDetail detail{};
  if (pool.Alloc(ps->cache.get(), ids, k, &detail) != int32_t(k)) return 0;  // no buffers: the copies are lost (counted by the pool)
  const uint32_t buf = pool.config().buf_size;
  uint16_t* data_off = static_cast<uint16_t*>(pool.meta(kMetaDataOff));
  uint16_t* data_len = static_cast<uint16_t*>(pool.meta(kMetaDataLen));
  uint16_t* port = static_cast<uint16_t*>(pool.meta(kMetaPort));
  uint16_t* next = static_cast<uint16_t*>(pool.meta(kMetaNext));
  uint32_t* ptype = static_cast<uint32_t*>(pool.meta(kMetaPtype));
  uint16_t* l2 = static_cast<uint16_t*>(pool.meta(kMetaL2Off));
  uint16_t* l3 = static_cast<uint16_t*>(pool.meta(kMetaL3Off));
  uint16_t* l4 = static_cast<uint16_t*>(pool.meta(kMetaL4Off));
  for (uint32_t i = 0; i < k; i++) {
    const uint32_t b = ids[i];
    nat::Released& rel = r->released[i];
    const uint32_t off = data_off[b];
    const uint32_t len = uint32_t(std::min<size_t>(rel.frame.size(), buf - off));
    std::memcpy(pool.base() + size_t(b) * buf + off, rel.frame.data(), len);
    data_len[b] = uint16_t(len);
    ptype[b] = uint32_t(rel.cookie);
    port[b] = uint16_t(rel.cookie >> 32);
    l2[b] = 0;
    l3[b] = rel.l2_len;
    l4[b] = 0;  // a later fragment has no L4 header
    next[b] = len == rel.frame.size() ? r->steps[uint32_t(rel.action)] : r->steps[uint32_t(nat::Action::kMalformed)];
    rel.frame = std::vector<uint8_t>();
  }
  return k;
}

// process(reader, burst, start, n): translates ids[start .. start+n) in place and sets their
// next steps; returns how many released fragments it appended at ids[start+n ..], or a status.
napi_value NatProcess(napi_env env, napi_callback_info info) {
  int32_t a[4];
  if (!Args(env, info, a)) return Int(env, kErrInvalidArgument);
  ThreadState* ts = t_state;
  NatThreadState* ns = t_nat.get();
  if (!ts || !ns) return Int(env, kErrClosed);
  std::shared_ptr<NatReader>* rp = ns->readers.Find(a[0]);
  if (!rp) return Int(env, kErrClosed);
  NatReader* r = rp->get();
  PoolSlot* ps = ts->pools.Find(r->pool_handle);
  if (!ps) return Int(env, kErrClosed);
  BurstSlot* burst = ts->bursts.Find(a[1]);
  if (!burst) return Int(env, kErrBadHandle);
  if (a[2] < 0 || a[3] < 0 || uint64_t(a[2]) + uint64_t(a[3]) > burst->capacity) return Int(env, kErrBurstCapacity);
  const uint32_t n = uint32_t(a[3]);
  uint32_t* ids = burst->ids + a[2];
  const Pool& p = *ps->pool;
  const int32_t checked = CheckBurstIndices(ts, ids, n, p.count(), uint32_t(a[2]));
  if (checked != kOk) return Int(env, checked);
  const uint32_t buf = p.config().buf_size;
  const uint16_t* data_off = static_cast<const uint16_t*>(p.meta(kMetaDataOff));
  const uint16_t* data_len = static_cast<const uint16_t*>(p.meta(kMetaDataLen));
  const uint16_t* port = static_cast<const uint16_t*>(p.meta(kMetaPort));
  const uint32_t* ptype = static_cast<const uint32_t*>(p.meta(kMetaPtype));
  const uint16_t* l3 = static_cast<const uint16_t*>(p.meta(kMetaL3Off));
  uint16_t* next = static_cast<uint16_t*>(p.meta(kMetaNext));
  nat::Nat* nt = r->nat->nat.get();
  const uint64_t now = NowMs();
  uint32_t m = 0;
  for (uint32_t i = 0; i < n; i++) {
    const uint32_t b = ids[i];
    const uint32_t t = ptype[b], off = data_off[b], len = data_len[b], l3o = l3[b];
    if ((t & kPtMalformed) || !(t & kPtIpv4)) {
      next[b] = r->steps[(t & kPtMalformed) ? uint32_t(nat::Action::kMalformed) : kNotIpv4];
      continue;
    }
    if (off + len > buf || l3o >= len) {
      next[b] = r->steps[uint32_t(nat::Action::kMalformed)];
      continue;
    }
    nat::Packet& pk = r->pkts[m];
    pk.ip = p.base() + size_t(b) * buf + off + l3o;
    pk.len = len - l3o;
    pk.l2_len = uint16_t(l3o);
    const uint16_t in = port[b];
    pk.side = (r->outside[in >> 3] >> (in & 7) & 1) ? nat::kOutside : nat::kInside;
    r->cookies[m] = uint64_t(t) | uint64_t(in) << 32;
    r->pos[m++] = i;
    if (m == kChunk) {
      TranslateChunk(r, nt, m, now, next, ids);
      m = 0;
    }
  }
  if (m) TranslateChunk(r, nt, m, now, next, ids);
  nt->Expire(now, kExpireBudget, true);
  const uint32_t room = burst->capacity - uint32_t(a[2]) - n;
  return Int(env, int32_t(AppendReleased(r, ps, ids + n, room, now)));
}

// ---------------------------------------------------------------- translators (cold path)

uint32_t ArrayLength(Napi::Env env, const Napi::Value& v, const std::string& what) {
  if (v.IsUndefined()) return 0;
  if (!v.IsArray()) Throw(env, kErrInvalidArgument, "nat: " + what + " must be an array");
  return v.As<Napi::Array>().Length();
}

Napi::Object Element(Napi::Env env, const Napi::Array& a, uint32_t i, const std::string& what) {
  Napi::Value e = a.Get(i);
  if (!e.IsObject()) Throw(env, kErrInvalidArgument, "nat: " + what + "[" + std::to_string(i) + "] must be an object");
  return e.As<Napi::Object>();
}

// create({ pool: [{first, last}], portFirst, portLast, filtering, statics, forwards, local,
//          sessions, mappings, blockSize, maxBlocks, logMappings, logBlocks, logCapacity,
//          fragmentEntries, fragmentHoldBytes, fragmentTimeout, timeouts, ticksPerSecond,
//          seed, hugepages }) -> { handle, id }. Addresses are host-order numbers.
Napi::Value NatCreate(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  NatThreadState* ns = NatState(env);
  if (!info[0].IsObject()) Throw(env, kErrInvalidArgument, "nat: options must be an object");
  Napi::Object o = info[0].As<Napi::Object>();
  nat::Config c;
  const uint32_t np = ArrayLength(env, o.Get("pool"), "pool");
  for (uint32_t i = 0; i < np; i++) {
    Napi::Object e = Element(env, o.Get("pool").As<Napi::Array>(), i, "pool");
    c.pool.push_back({GetU32(e, "first", 0), GetU32(e, "last", 0)});
  }
  const uint32_t pf = GetU32(o, "portFirst", c.port_first), pl = GetU32(o, "portLast", c.port_last);
  if (pf > 65535 || pl > 65535) Throw(env, kErrInvalidArgument, "nat: ports: must be a range within 1-65535");
  c.port_first = uint16_t(pf), c.port_last = uint16_t(pl);
  const std::string f = GetString(o, "filtering", "address-dependent");
  if (f == "endpoint-independent") c.filtering = nat::Filtering::kEndpointIndependent;
  else if (f == "address-dependent") c.filtering = nat::Filtering::kAddressDependent;
  else Throw(env, kErrInvalidArgument, "nat: filtering must be 'endpoint-independent' or 'address-dependent', got '" + f + "'");
  const uint32_t ns_ = ArrayLength(env, o.Get("statics"), "statics");
  for (uint32_t i = 0; i < ns_; i++) {
    Napi::Object e = Element(env, o.Get("statics").As<Napi::Array>(), i, "statics");
    c.statics.push_back({GetU32(e, "inside", 0), GetU32(e, "outside", 0)});
  }
  const uint32_t nf = ArrayLength(env, o.Get("forwards"), "forwards");
  for (uint32_t i = 0; i < nf; i++) {
    Napi::Object e = Element(env, o.Get("forwards").As<Napi::Array>(), i, "forwards");
    nat::Forward fw;
    fw.proto = uint8_t(GetU32(e, "proto", 0));
    fw.outside = GetU32(e, "outside", 0);
    const uint32_t op = GetU32(e, "outsidePort", 0), ip = GetU32(e, "insidePort", 0);
    if (op > 65535 || ip > 65535) Throw(env, kErrInvalidArgument, "nat: forwards[" + std::to_string(i) + "]: ports must be 1-65535");
    fw.outside_port = uint16_t(op);
    fw.inside = GetU32(e, "inside", 0);
    fw.inside_port = uint16_t(ip);
    c.forwards.push_back(fw);
  }
  const uint32_t nl = ArrayLength(env, o.Get("local"), "local");
  for (uint32_t i = 0; i < nl; i++) {
    Napi::Value e = o.Get("local").As<Napi::Array>().Get(i);
    if (!e.IsNumber()) Throw(env, kErrInvalidArgument, "nat: local[" + std::to_string(i) + "] must be an address number");
    c.local.push_back(e.As<Napi::Number>().Uint32Value());
  }
  c.sessions = GetU32(o, "sessions", c.sessions);
  c.mappings = GetU32(o, "mappings", c.mappings);
  c.block_size = GetU32(o, "blockSize", c.block_size);
  c.max_blocks = GetU32(o, "maxBlocks", c.max_blocks);
  c.log_mappings = GetBool(o, "logMappings", c.log_mappings);
  c.log_blocks = GetBool(o, "logBlocks", c.log_blocks);
  c.log_capacity = GetU32(o, "logCapacity", c.log_capacity);
  c.fragment_entries = GetU32(o, "fragmentEntries", c.fragment_entries);
  c.fragment_hold_bytes = GetU32(o, "fragmentHoldBytes", c.fragment_hold_bytes);
  c.fragment_timeout = GetU32(o, "fragmentTimeout", c.fragment_timeout);
  c.hugepages = GetBool(o, "hugepages", c.hugepages);
  Napi::Value tv = o.Get("timeouts");
  if (!tv.IsUndefined()) {
    if (!tv.IsObject()) Throw(env, kErrInvalidArgument, "nat: timeouts must be an object");
    ReadConntrackTimeouts(tv.As<Napi::Object>(), &c.timeouts);
  }
  std::string err;
  auto obj = std::make_shared<NatObject>();
  obj->nat = nat::Nat::Create(c, &err);
  if (!obj->nat) Throw(env, kErrInvalidArgument, "nat: " + err);
  obj->id = g_nats.Add(obj);
  const int32_t handle = ns->nats.Insert(NatSlot{obj});
  if (handle < 0) Throw(env, handle, "too many NAT translators open on this thread");
  Napi::Object out = Napi::Object::New(env);
  out.Set("handle", handle);
  out.Set("id", obj->id);
  return out;
}

NatSlot* FindNat(Napi::Env env, NatThreadState* ns, const Napi::Value& h) {
  NatSlot* s = ns->nats.Find(h.ToNumber().Int32Value());
  if (!s) Throw(env, kErrClosed, "nat translator is closed");
  return s;
}

Napi::Value NatAttach(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  NatThreadState* ns = NatState(env);
  const uint32_t id = info[0].ToNumber().Uint32Value();
  auto obj = g_nats.Find(id);
  if (!obj) Throw(env, kErrClosed, "nat translator " + std::to_string(id) + " does not exist (closed, or never created)");
  const int32_t handle = ns->nats.Insert(NatSlot{obj});
  if (handle < 0) Throw(env, handle, "too many NAT translators open on this thread");
  return Napi::Number::New(env, handle);
}

Napi::Value NatClose(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  NatThreadState* ns = NatState(env);
  const int32_t handle = info[0].ToNumber().Int32Value();
  if (!ns->nats.Find(handle)) return Napi::Boolean::New(env, false);
  ns->nats.Remove(handle);
  return Napi::Boolean::New(env, true);
}

Napi::Value NatStats(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  NatSlot* s = FindNat(env, NatState(env), info[0]);
  const nat::Stats st = s->nat->nat->stats();
  Napi::Object o = Napi::Object::New(env);
  Napi::Object actions = Napi::Object::New(env);
  for (uint32_t a = 0; a < uint32_t(nat::Action::kCount); a++) actions.Set(nat::ActionName(nat::Action(a)), double(st.actions[a]));
  o.Set("actions", actions);
  o.Set("mappings", double(st.mappings));
  o.Set("mappingsCreated", double(st.mappings_created));
  o.Set("blocks", double(st.blocks));
  o.Set("hosts", double(st.hosts));
  o.Set("fragmentsHeld", double(st.fragments_held));
  o.Set("logDropped", double(st.log_dropped));
  o.Set("sessions", double(st.conntrack.in_use));
  o.Set("sessionsCreated", double(st.conntrack.created));
  o.Set("sessionCapacity", double(st.conntrack.capacity));
  o.Set("memoryBytes", double(st.memory_bytes));
  return o;
}

// drain(handle, max) -> [{ time, type, proto, inside, insidePort, outside, portFirst, portLast }]
Napi::Value NatDrain(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  NatSlot* s = FindNat(env, NatState(env), info[0]);
  const uint32_t max = std::min<uint32_t>(info[1].ToNumber().Uint32Value(), 1u << 16);
  std::vector<nat::Event> ev(max);
  const uint32_t k = s->nat->nat->Drain(ev.data(), max);
  Napi::Array out = Napi::Array::New(env, k);
  for (uint32_t i = 0; i < k; i++) {
    const nat::Event& e = ev[i];
    Napi::Object o = Napi::Object::New(env);
    o.Set("time", double(e.time));
    o.Set("type", nat::EventTypeName(e.type));
    o.Set("proto", e.proto);
    o.Set("inside", double(e.inside));
    o.Set("insidePort", e.inside_port);
    o.Set("outside", double(e.outside));
    o.Set("portFirst", e.port_first);
    o.Set("portLast", e.port_last);
    out.Set(i, o);
  }
  return out;
}

Napi::Value NatExpire(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  NatSlot* s = FindNat(env, NatState(env), info[0]);
  return Napi::Number::New(env, s->nat->nat->Expire(NowMs(), info[1].ToNumber().Uint32Value(), false));
}

// reader(natId, poolHandle, steps: Uint16Array(kSteps), outsidePorts: number[]) -> handle
Napi::Value NatReaderCreate(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  ThreadState* ts = State(env);
  NatThreadState* ns = NatState(env);
  const uint32_t id = info[0].ToNumber().Uint32Value();
  auto obj = g_nats.Find(id);
  if (!obj) Throw(env, kErrClosed, "nat translator " + std::to_string(id) + " does not exist (closed, or never created)");
  const int32_t pool_handle = info[1].ToNumber().Int32Value();
  if (!ts->pools.Find(pool_handle)) Throw(env, kErrClosed, "nat reader: the pool is closed");
  if (!info[2].IsTypedArray() || info[2].As<Napi::TypedArray>().TypedArrayType() != napi_uint16_array ||
      info[2].As<Napi::Uint16Array>().ElementLength() != kSteps)
    Throw(env, kErrInvalidArgument, "nat reader: steps must be a Uint16Array of " + std::to_string(kSteps));
  if (!info[3].IsArray()) Throw(env, kErrInvalidArgument, "nat reader: outsidePorts must be an array of port ids");
  auto r = std::make_shared<NatReader>();
  r->nat = obj;
  r->pool_handle = pool_handle;
  Napi::Uint16Array steps = info[2].As<Napi::Uint16Array>();
  for (uint32_t i = 0; i < kSteps; i++) r->steps[i] = steps[i];
  Napi::Array outside = info[3].As<Napi::Array>();
  for (uint32_t i = 0; i < outside.Length(); i++) {
    const uint32_t p = outside.Get(i).ToNumber().Uint32Value();
    if (p > 0xffff) Throw(env, kErrInvalidArgument, "nat reader: outside port id " + std::to_string(p) + " out of range");
    r->outside[p >> 3] |= uint8_t(1 << (p & 7));
  }
  const int32_t handle = ns->readers.Insert(r);
  if (handle < 0) Throw(env, handle, "too many NAT readers on this thread");
  return Napi::Number::New(env, handle);
}

Napi::Value NatReaderClose(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  NatThreadState* ns = NatState(env);
  const int32_t handle = info[0].ToNumber().Int32Value();
  if (!ns->readers.Find(handle)) return Napi::Boolean::New(env, false);
  ns->readers.Remove(handle);
  return Napi::Boolean::New(env, true);
}

}  // namespace

void CloseNatOfThread() { t_nat.reset(); }

void RegisterNat(Napi::Env env, Napi::Object exports) {
  exports.Set("natCreate", Napi::Function::New(env, NatCreate));
  exports.Set("natAttach", Napi::Function::New(env, NatAttach));
  exports.Set("natClose", Napi::Function::New(env, NatClose));
  exports.Set("natStats", Napi::Function::New(env, NatStats));
  exports.Set("natDrain", Napi::Function::New(env, NatDrain));
  exports.Set("natExpire", Napi::Function::New(env, NatExpire));
  exports.Set("natReaderCreate", Napi::Function::New(env, NatReaderCreate));
  exports.Set("natReaderClose", Napi::Function::New(env, NatReaderClose));
  napi_value fn;
  napi_create_function(env, "natProcess", NAPI_AUTO_LENGTH, NatProcess, nullptr, &fn);
  exports.Set("natProcess", Napi::Value(env, fn));
  Napi::Array names = Napi::Array::New(env, kSteps);
  for (uint32_t a = 0; a < uint32_t(nat::Action::kCount); a++) names.Set(a, nat::ActionName(nat::Action(a)));
  names.Set(kNotIpv4, "not-ipv4");
  exports.Set("natActions", names);
}

}  // namespace vnf
