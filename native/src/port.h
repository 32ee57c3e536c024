// Packet I/O ports: the native side of every port that talks to the kernel (AF_PACKET,
// TAP, AF_XDP). A port is bound to one pool at open time; receive takes fresh buffers from
// it and transmit gives buffers back to it, so a burst never leaves the pool's memory.
//
// A Port object belongs to the thread that opened it (like a DPDK queue belongs to one
// lcore): only that thread calls Rx, Tx and Refresh. Counters are plain doubles written by
// that thread and read by anyone through a view; a reader may see a value a moment old.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "errors.h"
#include "mempool.h"

namespace vnf {

// Per-queue counters, in this order in the counters array (kPortCounterCount per queue).
enum PortCounter : uint32_t {
  kRxPackets,
  kRxBytes,
  kRxDrops,   // dropped before we saw them: kernel ring full, no buffer in the pool
  kRxErrors,  // frames we could not take: truncated by the ring, too big for a buffer
  kTxPackets,
  kTxBytes,
  kTxDrops,   // accepted by Tx but not sent: ring full after a kick, kernel refused
  kTxErrors,  // not sendable: over the MTU, bad buffer index, chain too long
  kPortCounterCount,
};

// The pool's layout as every driver's per-packet loop needs it, looked up once per port.
struct BufferLayout {
  uint8_t* base;       // buffer i starts at base + i * buf_size
  uint32_t buf_size;
  uint32_t headroom;   // where a received frame's data starts in a fresh buffer
  uint16_t* data_off;  // metadata arrays, indexed by buffer
  uint16_t* data_len;
  uint16_t* port;
};

class Port {
 public:
  // port_id is written into each received buffer's `port` metadata.
  Port(std::shared_ptr<Pool> pool, std::string name, uint32_t queues, uint16_t port_id)
      : pool_(std::move(pool)),
        name_(std::move(name)),
        queues_(queues),
        port_id_(port_id),
        counters_(new double[size_t(queues) * kPortCounterCount]()),
        buf_{pool_->base(),
             pool_->config().buf_size,
             pool_->config().headroom,
             static_cast<uint16_t*>(pool_->meta(kMetaDataOff)),
             static_cast<uint16_t*>(pool_->meta(kMetaDataLen)),
             static_cast<uint16_t*>(pool_->meta(kMetaPort))} {}
  virtual ~Port() = default;
  Port(const Port&) = delete;
  Port& operator=(const Port&) = delete;

  // Receives up to n packets on queue q into fresh buffers of the pool (through cache),
  // writes their indices to ids and sets each buffer's dataOff, dataLen and port. Returns
  // how many, or a negative Status when the port failed (error() says why).
  virtual int32_t Rx(uint32_t q, PoolCache* cache, uint32_t* ids, uint32_t n) = 0;
  // Transmits ids[0 .. n) in order. Returns how many it took, always a prefix: those
  // buffers are the port's now (it returns them to the pool once sent or dropped and
  // counted); the rest stay the caller's. Negative Status when the port failed.
  virtual int32_t Tx(uint32_t q, PoolCache* cache, const uint32_t* ids, uint32_t n) = 0;
  // A descriptor that polls readable when queue q has something to receive; -1 if none.
  virtual int Fd(uint32_t q) const = 0;
  // Reads what the kernel counts (drops in its rings) and the link state. Cold path.
  virtual void Refresh() {}
  virtual bool LinkUp() const { return true; }
  // Returns every buffer the port still holds (AF_XDP rings) to the pool and closes its
  // descriptors. Called once, by the owning thread, before destruction.
  virtual void Close() {}

  const std::string& name() const { return name_; }
  uint32_t queues() const { return queues_; }
  uint16_t port_id() const { return port_id_; }
  Pool* pool() const { return pool_.get(); }
  const std::shared_ptr<Pool>& shared_pool() const { return pool_; }
  double* counters(uint32_t q) { return counters_.get() + size_t(q) * kPortCounterCount; }
  // Shared with the views that JavaScript holds, which may outlive the port.
  const std::shared_ptr<double[]>& counter_memory() const { return counters_; }
  // Why the last call failed, naming the interface; empty when none did.
  const std::string& error() const { return error_; }

 protected:
  // Records a failure for error() and returns status, for `return Fail(...)`.
  int32_t Fail(int32_t status, const std::string& why) {
    error_ = name_ + ": " + why;
    return status;
  }

  std::shared_ptr<Pool> pool_;
  std::string name_;
  uint32_t queues_;
  uint16_t port_id_;
  std::shared_ptr<double[]> counters_;
  const BufferLayout buf_;
  std::string error_;
};

}  // namespace vnf
