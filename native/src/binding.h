// Shared by the translation units of the N-API binding (addon.cc and the port drivers):
// per-thread handle tables, argument checks and error helpers. Not part of the native
// core's own API (mempool.h, ring.h, port.h), which knows nothing of N-API.
#pragma once
#define NAPI_VERSION 8
#include <napi.h>

#include <atomic>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "errors.h"
#include "mempool.h"
#include "port.h"
#include "ring.h"

namespace vnf::conntrack {
struct Timeouts;
}

namespace vnf {

struct RingObject {
  std::string name;
  RingHeader* hdr = nullptr;
  size_t bytes = 0;
  ~RingObject() { std::free(hdr); }
};

// Process-wide: lets another worker thread attach to a pool or ring by id.
template <class T>
class Registry {
 public:
  uint32_t Add(const std::shared_ptr<T>& obj) {
    std::lock_guard<std::mutex> lock(mu_);
    for (auto it = map_.begin(); it != map_.end();) {
      it = it->second.expired() ? map_.erase(it) : std::next(it);
    }
    const uint32_t id = next_++;
    map_[id] = obj;
    return id;
  }
  std::shared_ptr<T> Find(uint32_t id) {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = map_.find(id);
    return it == map_.end() ? nullptr : it->second.lock();
  }

 private:
  std::mutex mu_;
  std::unordered_map<uint32_t, std::weak_ptr<T>> map_;
  uint32_t next_ = 1;
};

inline Registry<Pool> g_pools;
inline std::mutex g_open_mu;
inline std::unordered_map<const Pool*, int> g_open_handles;  // handles not yet closed, per pool
inline Registry<RingObject> g_rings;

// A pool shared by handles in any thread. Views (ArrayBuffers) also hold the Pool to keep
// the memory mapped until the garbage collector drops them, so "open" is counted apart.
struct PoolSlot {
  std::shared_ptr<Pool> pool;
  std::unique_ptr<PoolCache> cache;
  uint32_t id = 0;
  std::vector<napi_ref> views;
};
struct RingSlot {
  std::shared_ptr<RingObject> ring;
  uint32_t id = 0;
};
struct BurstSlot {
  uint32_t* ids = nullptr;
  uint32_t capacity = 0;
};
// A port opened on this thread. Its buffers come from (and go back to) the pool behind
// pool_handle, through this thread's cache of that pool.
struct PortSlot {
  std::unique_ptr<Port> port;
  int32_t pool_handle = 0;
};

// Generations come from one process-wide counter, so a handle made on one thread and used
// on another (where the same slot number may be live) is very unlikely to match.
inline std::atomic<uint32_t> g_generation{0};

// A table of live objects addressed by handle = slot | generation << 16.
template <class T>
struct SlotTable {
  struct Entry {
    T value;
    uint16_t gen = 0;
    bool live = false;
  };
  std::vector<Entry> entries;
  std::vector<uint32_t> free_list;

  bool Full() const { return free_list.empty() && entries.size() >= 0xffff; }

  int32_t Insert(T value) {
    uint32_t slot;
    if (!free_list.empty()) {
      slot = free_list.back();
      free_list.pop_back();
    } else {
      if (entries.size() >= 0xffff) return kErrNoMemory;
      slot = uint32_t(entries.size());
      entries.emplace_back();
    }
    Entry& e = entries[slot];
    e.value = std::move(value);
    uint16_t gen;
    do gen = uint16_t(g_generation.fetch_add(1, std::memory_order_relaxed) % 0x7fff + 1);
    while (gen == e.gen);  // 1..32767 keeps handles positive; never the slot's last one
    e.gen = gen;
    e.live = true;
    return int32_t(slot | (uint32_t(e.gen) << 16));
  }
  // Returns the entry for a live handle, or nullptr (closed, stale or never valid).
  T* Find(int32_t handle) {
    if (handle <= 0) return nullptr;
    const uint32_t slot = uint32_t(handle) & 0xffff;
    if (slot >= entries.size()) return nullptr;
    Entry& e = entries[slot];
    if (!e.live || e.gen != (uint32_t(handle) >> 16)) return nullptr;
    return &e.value;
  }
  void Remove(int32_t handle) {
    const uint32_t slot = uint32_t(handle) & 0xffff;
    entries[slot].live = false;
    entries[slot].value = T();
    free_list.push_back(slot);
  }
};

struct ThreadState {
  SlotTable<PoolSlot> pools;
  SlotTable<RingSlot> rings;
  SlotTable<BurstSlot> bursts;
  SlotTable<PortSlot> ports;
  // Out-parameters of hot calls, shared with JS as a Uint32Array:
  // [0] free space after enqueue / entries left after dequeue, [1] failing buffer index,
  // [2] its position in the burst.
  // Native memory exposed through an external ArrayBuffer: V8 cannot move or free it
  // (a transfer of an external buffer copies it), unlike memory V8 allocated itself.
  alignas(64) uint32_t scratch[16] = {};
  napi_ref scratch_ref = nullptr;
  napi_ref error_ctor = nullptr;
};

// One Node environment per thread (main or worker), so per-thread state is per-env state.
inline thread_local std::shared_ptr<ThreadState> t_owner;
inline thread_local ThreadState* t_state = nullptr;

inline void SetDetail(ThreadState* ts, const ErrorDetail& d) {
  ts->scratch[1] = d.index;
  ts->scratch[2] = d.position;
}

// ---------------------------------------------------------------- errors (cold path)

[[noreturn]] inline void Throw(Napi::Env env, int32_t status, const std::string& message) {
  ThreadState* ts = t_state;
  if (ts && ts->error_ctor) {
    // Read the reference without wrapping it: a Napi::Reference would delete it when done.
    napi_value ctor_value;
    napi_get_reference_value(env, ts->error_ctor, &ctor_value);
    Napi::Function ctor(env, ctor_value);
    Napi::Object err = ctor.New({Napi::String::New(env, StatusCode(status)),
                                 Napi::String::New(env, message)});
    throw Napi::Error(env, err);
  }
  Napi::Error err = Napi::Error::New(env, message);
  err.Set("code", StatusCode(status));
  throw err;
}

inline uint32_t GetU32(const Napi::Object& o, const char* key, uint32_t def) {
  Napi::Value v = o.Get(key);
  if (v.IsUndefined()) return def;
  if (!v.IsNumber()) Throw(o.Env(), kErrInvalidArgument, std::string(key) + " must be a number");
  const double d = v.As<Napi::Number>().DoubleValue();
  if (!(d >= 0 && d <= 4294967295.0) || d != double(uint64_t(d)))
    Throw(o.Env(), kErrInvalidArgument,
          std::string(key) + " must be a non-negative integer below 2^32, got " +
              v.ToString().Utf8Value());
  return uint32_t(d);
}

inline bool GetBool(const Napi::Object& o, const char* key, bool def) {
  Napi::Value v = o.Get(key);
  if (v.IsUndefined()) return def;
  if (!v.IsBoolean()) Throw(o.Env(), kErrInvalidArgument, std::string(key) + " must be a boolean");
  return v.As<Napi::Boolean>().Value();
}

inline std::string GetString(const Napi::Object& o, const char* key, const std::string& def) {
  Napi::Value v = o.Get(key);
  if (v.IsUndefined()) return def;
  if (!v.IsString()) Throw(o.Env(), kErrInvalidArgument, std::string(key) + " must be a string");
  return v.As<Napi::String>().Utf8Value();
}

inline ThreadState* State(Napi::Env env) {
  if (!t_state) Throw(env, kErrInvalidArgument, "vnf native core not initialised on this thread");
  return t_state;
}

// Reads up to N integer arguments. Anything that is not an integer in int32 range (NaN,
// fractions, 2^32 + 1, a string) makes the call fail with kErrInvalidArgument instead of
// being wrapped or truncated into some other valid-looking value.
template <size_t N>
inline bool Args(napi_env env, napi_callback_info info, int32_t (&out)[N]) {
  size_t argc = N;
  napi_value argv[N];
  napi_get_cb_info(env, info, &argc, argv, nullptr, nullptr);
  if (argc < N) return false;
  for (size_t i = 0; i < N; i++) {
    double d;
    if (napi_get_value_double(env, argv[i], &d) != napi_ok) return false;
    if (!(d >= -2147483648.0 && d <= 2147483647.0) || d != double(int32_t(d))) return false;
    out[i] = int32_t(d);
  }
  return true;
}

inline napi_value Int(napi_env env, int32_t v) {
  napi_value out;
  napi_create_int32(env, v, &out);
  return out;
}

// Resolves a pool handle and a burst range [start, start+n); negative on error.
inline int32_t ResolvePoolBurst(ThreadState* ts, const int32_t* a, PoolSlot** pool, BurstSlot** burst) {
  *pool = ts->pools.Find(a[0]);
  if (!*pool) return kErrClosed;
  *burst = ts->bursts.Find(a[1]);
  if (!*burst) return kErrBadHandle;
  if (a[2] < 0 || a[3] < 0 || uint64_t(a[2]) + uint64_t(a[3]) > (*burst)->capacity) return kErrBurstCapacity;
  return kOk;
}

// Checks that ids[0..n) are buffers of a pool of `count` (callers index memory by them):
// kOk, or kErrIndexRange with the first bad index and its burst position (start + i) in the
// error detail. One pass without branches per element, so it vectorises.
inline int32_t CheckBurstIndices(ThreadState* ts, const uint32_t* ids, uint32_t n, uint32_t count, uint32_t start) {
  uint32_t bad = 0;
  for (uint32_t i = 0; i < n; i++) bad |= ids[i] >= count;
  if (!bad) return kOk;
  uint32_t i = 0;
  while (ids[i] < count) i++;
  SetDetail(ts, ErrorDetail{ids[i], i + start});
  return kErrIndexRange;
}

// The result of a pool call on ids[start ..]: failure details name burst positions.
inline napi_value PoolResult(napi_env env, ThreadState* ts, int32_t r, ErrorDetail d, int32_t start) {
  if (r < 0) {
    d.position += uint32_t(start);
    SetDetail(ts, d);
  }
  return Int(env, r);
}


}  // namespace vnf

namespace vnf {

// Adds an opened port to this thread's table and describes it to JavaScript (handle,
// queues, per-queue descriptors, a Float64Array over its counters). Throws on failure,
// after closing the port. Drivers call it at the end of their open function.
Napi::Object InsertPort(Napi::Env env, ThreadState* ts, int32_t pool_handle, std::unique_ptr<Port> port);

// The pool behind a handle of this thread, or a thrown VNF_CLOSED naming what needed it.
PoolSlot* PoolForPort(Napi::Env env, ThreadState* ts, int32_t pool_handle, const std::string& who);

// Each port driver registers its open function(s) on the module's exports.
void RegisterPortBinding(Napi::Env env, Napi::Object exports);
void RegisterAfPacket(Napi::Env env, Napi::Object exports);
void RegisterTap(Napi::Env env, Napi::Object exports);
void RegisterAfXdp(Napi::Env env, Napi::Object exports);
void RegisterVirtioUser(Napi::Env env, Napi::Object exports);
void RegisterVhostUser(Napi::Env env, Napi::Object exports);

// The ACL tables and readers (acl_binding.cc).
void RegisterAcl(Napi::Env env, Napi::Object exports);
void CloseAclOfThread();

// The conntrack tables and readers (conntrack_binding.cc).
void RegisterConntrack(Napi::Env env, Napi::Object exports);
void CloseConntrackOfThread();
void RegisterNat(Napi::Env env, Napi::Object exports);
// Conntrack timeouts (seconds) from a JS object, shared by the conntrack and NAT bindings.
void ReadConntrackTimeouts(const Napi::Object& o, conntrack::Timeouts* t);
void CloseNatOfThread();

// Closes every port of the thread (environment teardown), before its pools go.
void ClosePortsOfThread(ThreadState* ts);

}  // namespace vnf
