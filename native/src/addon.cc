// N-API binding of the native core. Two kinds of entry points:
// - cold ones (create, attach, close, stats) use node-addon-api and throw VnfError;
// - hot ones (get, put, enqueue, dequeue) use the raw C API, take small integers only and
//   return a count or a negative status, so a call costs a few tens of nanoseconds and no
//   exception ever crosses the boundary on the data path.
// Objects are named by integer handles (slot | generation << 16) in per-thread tables, so a
// stale handle after close is detected instead of dereferenced.
#define NAPI_VERSION 8
#include <napi.h>

#include <algorithm>
#include <atomic>
#include <cstring>
#include <cstdlib>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "binding.h"
#include "errors.h"
#include "mempool.h"
#include "ring.h"
#include "port.h"

namespace vnf {
namespace {

// ---------------------------------------------------------------- pools (cold path)

// An external ArrayBuffer that keeps the pool's memory mapped for as long as it lives.
Napi::ArrayBuffer PoolView(Napi::Env env, const std::shared_ptr<Pool>& pool, uint8_t* data,
                           size_t len) {
  auto* hold = new std::shared_ptr<Pool>(pool);
  return Napi::ArrayBuffer::New(
      env, data, len, [](Napi::Env, void*, std::shared_ptr<Pool>* h) { delete h; }, hold);
}

Napi::Object DescribePool(Napi::Env env, ThreadState* ts, int32_t handle) {
  PoolSlot* slot = ts->pools.Find(handle);
  const std::shared_ptr<Pool>& pool = slot->pool;
  const PoolLayout* layout = pool->layout();
  Napi::Object o = Napi::Object::New(env);
  o.Set("handle", handle);
  o.Set("id", slot->id);
  o.Set("name", pool->config().name);
  o.Set("count", layout->count);
  o.Set("bufferSize", layout->buf_size);
  o.Set("headroom", layout->headroom);
  o.Set("cacheSize", slot->cache ? slot->cache->size : 0);
  o.Set("debug", pool->debug());
  o.Set("hugepages", pool->hugepages());
  o.Set("pageNote", pool->page_note());
  o.Set("pageSize", layout->page_size);
  o.Set("fd", pool->fd());
  o.Set("regionSize", double(pool->region_size()));
  o.Set("buffersSize", double(pool->buffers_size()));
  // One view for the buffers (at most 4 GiB, one Uint8Array) and one per metadata array,
  // each exactly its own size: nothing else of the region is reachable from JavaScript.
  auto keep = [&](Napi::ArrayBuffer ab) {
    napi_ref ref;
    napi_create_reference(env, ab, 1, &ref);
    slot->views.push_back(ref);
    return ab;
  };
  o.Set("buffers", keep(PoolView(env, pool, pool->base(), pool->buffers_size())));
  Napi::Object meta = Napi::Object::New(env);
  for (uint32_t f = 0; f < kMetaFieldCount; f++) {
    if (f == kMetaState) continue;  // debug bookkeeping, native only
    const MetaField field = MetaField(f);
    Napi::Object entry = Napi::Object::New(env);
    entry.Set("buffer", keep(PoolView(env, pool, static_cast<uint8_t*>(pool->meta(field)),
                                      size_t(pool->count()) * kMetaFields[f].width)));
    entry.Set("width", kMetaFields[f].width);
    entry.Set("offset", double(pool->meta_offset(field)));
    meta.Set(kMetaFields[f].name, entry);
  }
  o.Set("meta", meta);
  o.Set("layoutOffset", double(reinterpret_cast<const uint8_t*>(layout) - pool->base()));
  o.Set("overheadPerBuffer", double(pool->overhead_bytes()) / double(pool->count()));
  return o;
}

// Adds a handle on `pool` to this thread's table. The caller has already counted it as
// open (g_open_handles); on failure that count is given back and nothing is left behind.
int32_t InsertPool(Napi::Env env, ThreadState* ts, std::shared_ptr<Pool> pool, uint32_t id) {
  if (ts->pools.Full()) {
    std::lock_guard<std::mutex> lock(g_open_mu);
    if (--g_open_handles[pool.get()] == 0) g_open_handles.erase(pool.get());
    Throw(env, kErrNoMemory, "too many pool handles open on this thread (65535)");
  }
  PoolSlot slot;
  slot.id = id;
  if (pool->config().cache_size) slot.cache = pool->NewCache(pool->config().cache_size);
  slot.pool = std::move(pool);
  return ts->pools.Insert(std::move(slot));
}

Napi::Value PoolCreate(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  ThreadState* ts = State(env);
  if (!info[0].IsObject()) Throw(env, kErrInvalidArgument, "pool options must be an object");
  Napi::Object o = info[0].As<Napi::Object>();
  PoolConfig c;
  c.name = GetString(o, "name", c.name);
  c.count = GetU32(o, "count", 0);
  c.buf_size = GetU32(o, "bufferSize", c.buf_size);
  c.headroom = GetU32(o, "headroom", c.headroom);
  // The default cache never breaks the count / 1.5 rule on small pools; an explicit one must.
  c.cache_size = GetU32(o, "cacheSize", std::min<uint32_t>(c.cache_size, uint32_t(uint64_t(c.count) * 2 / 3)));
  c.debug = GetBool(o, "debug", false);
  c.prefault = GetBool(o, "prefault", false);
  const std::string huge = GetString(o, "hugepages", "auto");
  if (huge == "auto") c.hugepages = HugepageMode::kAuto;
  else if (huge == "require") c.hugepages = HugepageMode::kRequire;
  else if (huge == "never") c.hugepages = HugepageMode::kNever;
  else Throw(env, kErrInvalidArgument, "hugepages must be 'auto', 'require' or 'never', got '" + huge + "'");
  std::shared_ptr<Pool> pool;
  std::string error;
  const int32_t st = Pool::Create(c, &pool, &error);
  if (st != kOk) Throw(env, st, error);
  const uint32_t id = g_pools.Add(pool);
  {
    std::lock_guard<std::mutex> lock(g_open_mu);
    g_open_handles[pool.get()]++;
  }
  return DescribePool(env, ts, InsertPool(env, ts, std::move(pool), id));
}

Napi::Value PoolAttach(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  ThreadState* ts = State(env);
  const uint32_t id = info[0].ToNumber().Uint32Value();
  std::shared_ptr<Pool> pool = g_pools.Find(id);
  if (pool) {
    // Check and count under one lock, so a racing last close cannot be revived.
    std::lock_guard<std::mutex> lock(g_open_mu);
    auto it = g_open_handles.find(pool.get());
    if (it == g_open_handles.end()) pool.reset();
    else it->second++;
  }
  if (!pool) Throw(env, kErrClosed, "pool #" + std::to_string(id) + " does not exist or was closed by every holder");
  return DescribePool(env, ts, InsertPool(env, ts, std::move(pool), id));
}

// detach: make this handle's views zero-length (an explicit close). A handle closed because
// the garbage collector took its Mempool object keeps them: user code may still hold a view,
// and the view itself keeps the memory mapped.
void ClosePoolSlot(napi_env env, ThreadState* ts, int32_t handle, bool detach) {
  PoolSlot* slot = ts->pools.Find(handle);
  if (slot->cache) slot->pool->ReleaseCache(slot->cache.get());
  {
    std::lock_guard<std::mutex> lock(g_open_mu);
    if (--g_open_handles[slot->pool.get()] == 0) g_open_handles.erase(slot->pool.get());
  }
  for (napi_ref ref : slot->views) {
    if (env) {
      napi_value ab;
      if (detach && napi_get_reference_value(env, ref, &ab) == napi_ok && ab) napi_detach_arraybuffer(env, ab);
      napi_delete_reference(env, ref);
    }
  }
  ts->pools.Remove(handle);
}

Napi::Value PoolClose(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  ThreadState* ts = State(env);
  const int32_t handle = info[0].ToNumber().Int32Value();
  if (!ts->pools.Find(handle)) return Napi::Boolean::New(env, false);  // closing twice is fine
  ClosePoolSlot(env, ts, handle, info.Length() < 2 || info[1].ToBoolean().Value());
  return Napi::Boolean::New(env, true);
}

Napi::Value PoolStatsJs(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  ThreadState* ts = State(env);
  PoolSlot* slot = ts->pools.Find(info[0].ToNumber().Int32Value());
  if (!slot) Throw(env, kErrClosed, "pool is closed");
  const PoolStats s = slot->pool->Stats();
  Napi::Object o = Napi::Object::New(env);
  o.Set("count", s.count);
  o.Set("inUse", s.in_use);
  o.Set("free", s.free_in_ring + s.free_in_caches);
  o.Set("freeInRing", s.free_in_ring);
  o.Set("freeInCaches", s.free_in_caches);
  o.Set("cacheHits", double(s.cache_hits));
  o.Set("cacheMisses", double(s.cache_misses));
  return o;
}

// ---------------------------------------------------------------- rings (cold path)

Napi::Object DescribeRing(Napi::Env env, ThreadState* ts, int32_t handle) {
  RingSlot* slot = ts->rings.Find(handle);
  const RingHeader* r = slot->ring->hdr;
  Napi::Object o = Napi::Object::New(env);
  o.Set("handle", handle);
  o.Set("id", slot->id);
  o.Set("name", slot->ring->name);
  o.Set("size", r->size);
  o.Set("capacity", r->capacity);
  o.Set("singleProducer", bool(r->flags & kRingSingleProducer));
  o.Set("singleConsumer", bool(r->flags & kRingSingleConsumer));
  o.Set("exact", bool(r->flags & kRingExactCapacity));
  o.Set("bytes", double(slot->ring->bytes));
  return o;
}

Napi::Value RingCreate(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  ThreadState* ts = State(env);
  if (!info[0].IsObject()) Throw(env, kErrInvalidArgument, "ring options must be an object");
  Napi::Object o = info[0].As<Napi::Object>();
  const std::string name = GetString(o, "name", "ring");
  const uint32_t size = GetU32(o, "size", 0);
  const bool exact = GetBool(o, "exact", false);
  uint32_t flags = exact ? uint32_t(kRingExactCapacity) : 0u;
  if (GetBool(o, "singleProducer", false)) flags |= kRingSingleProducer;
  if (GetBool(o, "singleConsumer", false)) flags |= kRingSingleConsumer;
  const uint32_t slots = RingSlotsFor(size, exact);
  if (slots == 0) {
    Throw(env, kErrInvalidArgument,
          "ring '" + name + "': size " + std::to_string(size) +
              (exact ? " must be between 1 and " + std::to_string(kRingMaxSize)
                     : " must be a power of two between 2 and " + std::to_string(kRingMaxSize) +
                           " (or pass exact: true for any capacity)"));
  }
  auto ring = std::make_shared<RingObject>();
  ring->name = name;
  ring->bytes = RingMemSize(slots);
  // aligned_alloc wants a size that is a multiple of the alignment.
  ring->hdr = static_cast<RingHeader*>(std::aligned_alloc(128, (ring->bytes + 127) / 128 * 128));
  if (!ring->hdr) Throw(env, kErrNoMemory, "ring '" + name + "': out of memory");
  new (ring->hdr) RingHeader();
  RingInit(ring->hdr, size, flags);
  RingSlot slot;
  slot.id = g_rings.Add(ring);
  slot.ring = std::move(ring);
  const int32_t handle = ts->rings.Insert(std::move(slot));
  if (handle < 0) Throw(env, handle, "too many ring handles open on this thread");
  return DescribeRing(env, ts, handle);
}

Napi::Value RingAttach(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  ThreadState* ts = State(env);
  const uint32_t id = info[0].ToNumber().Uint32Value();
  RingSlot slot;
  slot.ring = g_rings.Find(id);
  slot.id = id;
  if (!slot.ring) Throw(env, kErrClosed, "ring #" + std::to_string(id) + " does not exist or was closed by every holder");
  const int32_t handle = ts->rings.Insert(std::move(slot));
  if (handle < 0) Throw(env, handle, "too many ring handles open on this thread");
  return DescribeRing(env, ts, handle);
}

Napi::Value RingClose(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  ThreadState* ts = State(env);
  const int32_t handle = info[0].ToNumber().Int32Value();
  if (!ts->rings.Find(handle)) return Napi::Boolean::New(env, false);
  ts->rings.Remove(handle);
  return Napi::Boolean::New(env, true);
}

// ---------------------------------------------------------------- bursts (cold path)

struct BurstHold {
  uint32_t* ids;
  std::weak_ptr<ThreadState> owner;
  int32_t handle;
};

Napi::Value BurstCreate(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  ThreadState* ts = State(env);
  const uint32_t capacity = info[0].ToNumber().Uint32Value();
  if (capacity == 0 || capacity > 4096)
    Throw(env, kErrInvalidArgument, "burst capacity " + std::to_string(capacity) + " must be between 1 and 4096");
  auto* ids = static_cast<uint32_t*>(std::aligned_alloc(64, (size_t(capacity) * 4 + 63) / 64 * 64));
  if (!ids) Throw(env, kErrNoMemory, "burst: out of memory");
  std::memset(ids, 0, (size_t(capacity) * 4 + 63) / 64 * 64);  // never show JS stale heap
  BurstSlot slot{ids, capacity};
  const int32_t handle = ts->bursts.Insert(slot);
  if (handle < 0) {
    std::free(ids);
    Throw(env, handle, "too many bursts alive on this thread (65535)");
  }
  // The burst lives as long as its index array: when JS drops it, the slot goes too.
  auto* hold = new BurstHold{ids, t_owner, handle};
  Napi::ArrayBuffer ab = Napi::ArrayBuffer::New(
      env, ids, size_t(capacity) * 4,
      [](Napi::Env, void*, BurstHold* h) {
        if (auto st = h->owner.lock()) {
          if (st->bursts.Find(h->handle)) st->bursts.Remove(h->handle);
        }
        std::free(h->ids);
        delete h;
      },
      hold);
  Napi::Object o = Napi::Object::New(env);
  o.Set("handle", handle);
  o.Set("ids", Napi::Uint32Array::New(env, capacity, ab, 0));
  return o;
}

// ---------------------------------------------------------------- hot path (raw N-API)

// get(pool, burst, start, n): fills ids[start .. start+n), all or nothing.
template <bool kAlloc>
napi_value PoolGetImpl(napi_env env, napi_callback_info info) {
  int32_t a[4];
  if (!Args(env, info, a)) return Int(env, kErrInvalidArgument);
  ThreadState* ts = t_state;
  PoolSlot* p;
  BurstSlot* b;
  const int32_t st = ResolvePoolBurst(ts, a, &p, &b);
  if (st != kOk) return Int(env, st);
  ErrorDetail d;
  uint32_t* dst = b->ids + a[2];
  const int32_t r = kAlloc ? p->pool->Alloc(p->cache.get(), dst, uint32_t(a[3]), &d)
                           : p->pool->Get(p->cache.get(), dst, uint32_t(a[3]), &d);
  return PoolResult(env, ts, r, d, a[2]);
}

// put(pool, burst, start, n): ids[start .. start+n) go back to the pool, all or nothing.
napi_value PoolPut(napi_env env, napi_callback_info info) {
  int32_t a[4];
  if (!Args(env, info, a)) return Int(env, kErrInvalidArgument);
  ThreadState* ts = t_state;
  PoolSlot* p;
  BurstSlot* b;
  const int32_t st = ResolvePoolBurst(ts, a, &p, &b);
  if (st != kOk) return Int(env, st);
  const uint32_t n = uint32_t(a[3]);
  const uint32_t count = p->pool->count();
  const uint32_t* ids = b->ids + a[2];
  // Branch-free scan (vectorises), then find the culprit only on failure.
  uint32_t bad = 0;
  for (uint32_t i = 0; i < n; i++) bad |= ids[i] >= count;
  if (bad) {
    uint32_t i = 0;
    while (ids[i] < count) i++;
    return PoolResult(env, ts, kErrIndexRange, ErrorDetail{ids[i], i}, a[2]);
  }
  ErrorDetail d;
  return PoolResult(env, ts, p->pool->Put(p->cache.get(), ids, n, &d), d, a[2]);
}

// Debug-mode ownership check used by the JS copy helpers: 1 allocated, 0 not, <0 error.
napi_value PoolOwns(napi_env env, napi_callback_info info) {
  int32_t a[2];
  if (!Args(env, info, a)) return Int(env, kErrInvalidArgument);
  PoolSlot* p = t_state->pools.Find(a[0]);
  if (!p) return Int(env, kErrClosed);
  if (a[1] < 0 || uint32_t(a[1]) >= p->pool->count()) return Int(env, kErrIndexRange);
  if (!p->pool->debug()) return Int(env, 1);
  return Int(env, p->pool->state()[a[1]] == 1 ? 1 : 0);
}

// enqueue(ring, burst, start, n): enqueues ids[start .. start+n).
template <RingBehavior kBehavior>
napi_value RingEnqueueImpl(napi_env env, napi_callback_info info) {
  int32_t a[4];
  if (!Args(env, info, a)) return Int(env, kErrInvalidArgument);
  ThreadState* ts = t_state;
  RingSlot* r = ts->rings.Find(a[0]);
  if (!r) return Int(env, kErrClosed);
  BurstSlot* b = ts->bursts.Find(a[1]);
  if (!b) return Int(env, kErrBadHandle);
  if (a[2] < 0 || a[3] < 0 || uint64_t(a[2]) + uint64_t(a[3]) > b->capacity)
    return Int(env, kErrBurstCapacity);
  const uint32_t done = RingEnqueue(r->ring->hdr, b->ids + a[2], uint32_t(a[3]), kBehavior, &ts->scratch[0]);
  return Int(env, int32_t(done));
}

// dequeue(ring, burst, start, n): fills ids[start .. start+result).
template <RingBehavior kBehavior>
napi_value RingDequeueImpl(napi_env env, napi_callback_info info) {
  int32_t a[4];
  if (!Args(env, info, a)) return Int(env, kErrInvalidArgument);
  ThreadState* ts = t_state;
  RingSlot* r = ts->rings.Find(a[0]);
  if (!r) return Int(env, kErrClosed);
  BurstSlot* b = ts->bursts.Find(a[1]);
  if (!b) return Int(env, kErrBadHandle);
  if (a[2] < 0 || a[3] < 0 || uint64_t(a[2]) + uint64_t(a[3]) > b->capacity)
    return Int(env, kErrBurstCapacity);
  const uint32_t done =
      RingDequeue(r->ring->hdr, b->ids + a[2], uint32_t(a[3]), kBehavior, &ts->scratch[0]);
  return Int(env, int32_t(done));
}

napi_value RingCountJs(napi_env env, napi_callback_info info) {
  int32_t a[1];
  if (!Args(env, info, a)) return Int(env, kErrInvalidArgument);
  RingSlot* r = t_state->rings.Find(a[0]);
  return Int(env, r ? int32_t(RingCount(r->ring->hdr)) : kErrClosed);
}

napi_value Noop(napi_env env, napi_callback_info) { return nullptr; }

// ---------------------------------------------------------------- module

Napi::Value SetErrorClass(const Napi::CallbackInfo& info) {
  ThreadState* ts = State(info.Env());
  if (!info[0].IsFunction()) Throw(info.Env(), kErrInvalidArgument, "error class must be a function");
  if (ts->error_ctor) napi_delete_reference(info.Env(), ts->error_ctor);
  napi_create_reference(info.Env(), info[0], 1, &ts->error_ctor);
  return info.Env().Undefined();
}

void Cleanup(void*) {
  // A worker that exits without closing its pools must not keep buffers in its caches.
  if (ThreadState* ts = t_state) {
    CloseAclOfThread();      // frees this thread's hazard slots
    CloseConntrackOfThread();
    CloseNatOfThread();
    ClosePortsOfThread(ts);  // AF_XDP ports give their buffers back to pools still open
    for (size_t i = 0; i < ts->pools.entries.size(); i++) {
      auto& e = ts->pools.entries[i];
      if (!e.live) continue;
      if (e.value.cache) e.value.pool->ReleaseCache(e.value.cache.get());
      std::lock_guard<std::mutex> lock(g_open_mu);
      if (--g_open_handles[e.value.pool.get()] == 0) g_open_handles.erase(e.value.pool.get());
      e.value.views.clear();  // references die with the environment
    }
  }
  t_state = nullptr;
  t_owner.reset();
}

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  // Test runners may load the module more than once in one thread (fresh module graphs,
  // same environment): keep one state, one cleanup hook and one scratch area per thread.
  if (!t_state) {
    t_owner = std::make_shared<ThreadState>();
    t_state = t_owner.get();
    napi_add_env_cleanup_hook(env, Cleanup, nullptr);
    // The view keeps the thread state alive for as long as it exists.
    auto* hold = new std::shared_ptr<ThreadState>(t_owner);
    Napi::ArrayBuffer ab = Napi::ArrayBuffer::New(
        env, t_state->scratch, sizeof(t_state->scratch),
        [](Napi::Env, void*, std::shared_ptr<ThreadState>* h) { delete h; }, hold);
    napi_create_reference(env, ab, 1, &t_state->scratch_ref);
  }
  napi_value scratch_ab;
  napi_get_reference_value(env, t_state->scratch_ref, &scratch_ab);
  exports.Set("scratch", Napi::Uint32Array::New(env, 16, Napi::ArrayBuffer(env, scratch_ab), 0));

  exports.Set("setErrorClass", Napi::Function::New(env, SetErrorClass));
  exports.Set("poolCreate", Napi::Function::New(env, PoolCreate));
  exports.Set("poolAttach", Napi::Function::New(env, PoolAttach));
  exports.Set("poolClose", Napi::Function::New(env, PoolClose));
  exports.Set("poolStats", Napi::Function::New(env, PoolStatsJs));
  exports.Set("ringCreate", Napi::Function::New(env, RingCreate));
  exports.Set("ringAttach", Napi::Function::New(env, RingAttach));
  exports.Set("ringClose", Napi::Function::New(env, RingClose));
  exports.Set("burstCreate", Napi::Function::New(env, BurstCreate));

  RegisterPortBinding(env, exports);
  RegisterAfPacket(env, exports);
  RegisterTap(env, exports);
  RegisterAfXdp(env, exports);
  RegisterVirtioUser(env, exports);
  RegisterVhostUser(env, exports);
  RegisterAcl(env, exports);
  RegisterConntrack(env, exports);
  RegisterNat(env, exports);

  struct Raw {
    const char* name;
    napi_callback cb;
  };
  const Raw raw[] = {
      {"poolGet", PoolGetImpl<false>},
      {"poolAlloc", PoolGetImpl<true>},
      {"poolPut", PoolPut},
      {"poolOwns", PoolOwns},
      {"ringEnqueueBulk", RingEnqueueImpl<RingBehavior::kBulk>},
      {"ringEnqueueBurst", RingEnqueueImpl<RingBehavior::kBurst>},
      {"ringDequeueBulk", RingDequeueImpl<RingBehavior::kBulk>},
      {"ringDequeueBurst", RingDequeueImpl<RingBehavior::kBurst>},
      {"ringCount", RingCountJs},
      {"noop", Noop},
  };
  for (const Raw& r : raw) {
    napi_value fn;
    napi_create_function(env, r.name, NAPI_AUTO_LENGTH, r.cb, nullptr, &fn);
    exports.Set(r.name, Napi::Value(env, fn));
  }
  Napi::Object codes = Napi::Object::New(env);
  for (int32_t s = kErrInvalidArgument; s >= kErrLast; s--) codes.Set(std::to_string(s), StatusCode(s));
  exports.Set("statusCodes", codes);
#if defined(__SANITIZE_ADDRESS__)
  exports.Set("sanitized", true);
#else
  exports.Set("sanitized", false);
#endif
  return exports;
}

}  // namespace
}  // namespace vnf

static Napi::Object InitModule(Napi::Env env, Napi::Object exports) { return vnf::Init(env, exports); }
NODE_API_MODULE(vnf_core, InitModule)
