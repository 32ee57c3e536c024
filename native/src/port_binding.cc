// N-API calls shared by every port driver: receive and transmit bursts (hot, raw N-API,
// integer arguments, a count or a negative status back), close, refresh, last error and
// the idle wait on port descriptors (cold, node-addon-api, throw VnfError).
#include <poll.h>

#include <cerrno>
#include <cstring>

#include "binding.h"

namespace vnf {
namespace {

// Resolves port, queue and burst range [start, start+n) of a hot call; negative on error.
inline int32_t ResolvePort(ThreadState* ts, const int32_t* a, PortSlot** port, PoolSlot** pool, BurstSlot** burst) {
  *port = ts->ports.Find(a[0]);
  if (!*port) return kErrClosed;
  *pool = ts->pools.Find((*port)->pool_handle);
  if (!*pool) return kErrClosed;
  if (a[1] < 0 || uint32_t(a[1]) >= (*port)->port->queues()) return kErrInvalidArgument;
  *burst = ts->bursts.Find(a[2]);
  if (!*burst) return kErrBadHandle;
  if (a[3] < 0 || a[4] < 0 || uint64_t(a[3]) + uint64_t(a[4]) > (*burst)->capacity) return kErrBurstCapacity;
  return kOk;
}

// rx(port, queue, burst, start, max): fills ids[start .. start+result).
napi_value PortRx(napi_env env, napi_callback_info info) {
  int32_t a[5];
  if (!Args(env, info, a)) return Int(env, kErrInvalidArgument);
  ThreadState* ts = t_state;
  PortSlot* port;
  PoolSlot* pool;
  BurstSlot* b;
  const int32_t st = ResolvePort(ts, a, &port, &pool, &b);
  if (st != kOk) return Int(env, st);
  if (a[4] == 0) return Int(env, 0);
  return Int(env, port->port->Rx(uint32_t(a[1]), pool->cache.get(), b->ids + a[3], uint32_t(a[4])));
}

// tx(port, queue, burst, start, n): sends a prefix of ids[start .. start+n), returns its length.
napi_value PortTx(napi_env env, napi_callback_info info) {
  int32_t a[5];
  if (!Args(env, info, a)) return Int(env, kErrInvalidArgument);
  ThreadState* ts = t_state;
  PortSlot* port;
  PoolSlot* pool;
  BurstSlot* b;
  const int32_t st = ResolvePort(ts, a, &port, &pool, &b);
  if (st != kOk) return Int(env, st);
  const uint32_t n = uint32_t(a[4]);
  const uint32_t* ids = b->ids + a[3];
  // Drivers index buffers by these: check them all here, at the edge.
  const int32_t checked = CheckBurstIndices(ts, ids, n, pool->pool->count(), uint32_t(a[3]));
  if (checked != kOk) return Int(env, checked);
  if (n == 0) return Int(env, 0);
  return Int(env, port->port->Tx(uint32_t(a[1]), pool->cache.get(), ids, n));
}

void ClosePort(ThreadState* ts, int32_t handle) {
  PortSlot* slot = ts->ports.Find(handle);
  slot->port->Close();
  ts->ports.Remove(handle);  // destroys the port
}

Napi::Value PortClose(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  ThreadState* ts = State(env);
  const int32_t handle = info[0].ToNumber().Int32Value();
  if (!ts->ports.Find(handle)) return Napi::Boolean::New(env, false);  // closing twice is fine
  ClosePort(ts, handle);
  return Napi::Boolean::New(env, true);
}

PortSlot* FindPort(Napi::Env env, ThreadState* ts, const Napi::Value& v) {
  PortSlot* slot = ts->ports.Find(v.ToNumber().Int32Value());
  if (!slot) Throw(env, kErrClosed, "port is closed");
  return slot;
}

// refresh(port): kernel-side counters and link state; returns { linkUp }.
Napi::Value PortRefresh(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  PortSlot* slot = FindPort(env, State(env), info[0]);
  slot->port->Refresh();
  Napi::Object o = Napi::Object::New(env);
  o.Set("linkUp", slot->port->LinkUp());
  return o;
}

Napi::Value PortError(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  PortSlot* slot = FindPort(env, State(env), info[0]);
  return Napi::String::New(env, slot->port->error());
}

// waitReadable(fds: Int32Array, timeoutMs): blocks until one descriptor is readable or the
// time is up; returns how many are readable. The idle back-off of a worker with no traffic.
Napi::Value WaitReadable(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!info[0].IsTypedArray() || info[0].As<Napi::TypedArray>().TypedArrayType() != napi_int32_array)
    Throw(env, kErrInvalidArgument, "waitReadable: descriptors must be an Int32Array");
  Napi::Int32Array fds = info[0].As<Napi::Int32Array>();
  const double timeout = info[1].ToNumber().DoubleValue();
  if (!(timeout >= 0 && timeout <= 60000)) Throw(env, kErrInvalidArgument, "waitReadable: timeout must be 0 to 60000 ms");
  if (fds.ElementLength() > 256) Throw(env, kErrInvalidArgument, "waitReadable: at most 256 descriptors");
  pollfd p[256];
  nfds_t n = 0;
  for (size_t i = 0; i < fds.ElementLength(); i++) {
    if (fds[i] < 0) continue;
    p[n].fd = fds[i];
    p[n].events = POLLIN;
    p[n].revents = 0;
    n++;
  }
  int r = poll(p, n, int(timeout));
  if (r < 0 && errno != EINTR) Throw(env, kErrSystem, std::string("waitReadable: poll: ") + std::strerror(errno));
  return Napi::Number::New(env, r < 0 ? 0 : r);
}

}  // namespace

PoolSlot* PoolForPort(Napi::Env env, ThreadState* ts, int32_t pool_handle, const std::string& who) {
  PoolSlot* pool = ts->pools.Find(pool_handle);
  if (!pool) Throw(env, kErrClosed, who + ": the pool is closed (or belongs to another thread)");
  return pool;
}

Napi::Object InsertPort(Napi::Env env, ThreadState* ts, int32_t pool_handle, std::unique_ptr<Port> port) {
  Port* p = port.get();
  PortSlot slot;
  slot.port = std::move(port);
  slot.pool_handle = pool_handle;
  const int32_t handle = ts->ports.Insert(std::move(slot));
  if (handle < 0) {
    p->Close();
    Throw(env, kErrNoMemory, p->name() + ": too many ports open on this thread");
  }
  Napi::Object o = Napi::Object::New(env);
  o.Set("handle", handle);
  o.Set("name", p->name());
  o.Set("queues", p->queues());
  Napi::Array fds = Napi::Array::New(env, p->queues());
  for (uint32_t q = 0; q < p->queues(); q++) fds.Set(q, p->Fd(q));
  o.Set("fds", fds);
  // The view holds the counters' memory, so reading them after close is safe (frozen).
  auto* hold = new std::shared_ptr<double[]>(p->counter_memory());
  const size_t len = size_t(p->queues()) * kPortCounterCount;
  Napi::ArrayBuffer ab = Napi::ArrayBuffer::New(
      env, hold->get(), len * sizeof(double),
      [](Napi::Env, void*, std::shared_ptr<double[]>* h) { delete h; }, hold);
  o.Set("counters", Napi::Float64Array::New(env, len, ab, 0));
  o.Set("linkUp", p->LinkUp());
  return o;
}

void ClosePortsOfThread(ThreadState* ts) {
  for (size_t i = 0; i < ts->ports.entries.size(); i++) {
    auto& e = ts->ports.entries[i];
    if (!e.live) continue;
    e.value.port->Close();
    e.value.port.reset();
    e.live = false;
  }
}

void RegisterPortBinding(Napi::Env env, Napi::Object exports) {
  exports.Set("portClose", Napi::Function::New(env, PortClose));
  exports.Set("portRefresh", Napi::Function::New(env, PortRefresh));
  exports.Set("portError", Napi::Function::New(env, PortError));
  exports.Set("waitReadable", Napi::Function::New(env, WaitReadable));
  napi_value fn;
  napi_create_function(env, "portRx", NAPI_AUTO_LENGTH, PortRx, nullptr, &fn);
  exports.Set("portRx", Napi::Value(env, fn));
  napi_create_function(env, "portTx", NAPI_AUTO_LENGTH, PortTx, nullptr, &fn);
  exports.Set("portTx", Napi::Value(env, fn));
  exports.Set("portCounterCount", uint32_t(kPortCounterCount));
}

}  // namespace vnf
