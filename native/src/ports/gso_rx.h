// Receive-side segmentation shared by the two virtio ports: a TCP super-frame (a GSO frame
// of up to 64 KiB, from a guest's TSO or a switch that kept it whole) becomes frames of its
// gso_size in fresh pool buffers, as a NIC's TSO would have sent them, so that a pipeline
// only ever sees frames within the MTU. One super-frame yields up to ~45 frames: those
// beyond what the caller's burst holds wait in a per-queue backlog, handed out first by the
// next receive call.
#pragma once

#include <algorithm>
#include <cstring>
#include <vector>

#include "../mempool.h"
#include "../port.h"
#include "../virtio/offload.h"

namespace vnf {

class GsoReceiver {
 public:
  static constexpr uint32_t kMaxFrame = 65535 + 14 + 8;  // an IP packet in Ethernet, two VLAN tags

  GsoReceiver(Pool* pool, const BufferLayout& buf, uint16_t port_id, uint32_t queues)
      : pool_(pool), buf_(buf), port_id_(port_id), backlog_(queues) {}

  // Room for one super-frame, gathered by the caller, and one over-long segment.
  uint8_t* frame() {
    if (frame_.empty()) frame_.resize(kMaxFrame), segment_.resize(kMaxFrame);
    return frame_.data();
  }

  // One finished frame b of queue q: into ids[*out] while the caller's burst has room, else
  // into q's backlog. Every frame a receive call finishes goes through here, so once a
  // super-frame has filled the burst, the frames after it queue behind its segments, in order.
  void Hand(uint32_t q, uint32_t b, uint32_t* ids, uint32_t* out, uint32_t n) {
    if (*out < n) ids[(*out)++] = b;
    else backlog_[q].push_back(b);
  }

  // Frames of queue q still waiting: up to n of them into ids. Returns how many.
  uint32_t Drain(uint32_t q, uint32_t* ids, uint32_t n) {
    std::vector<uint32_t>& b = backlog_[q];
    const uint32_t k = std::min<uint32_t>(n, uint32_t(b.size()));
    std::copy(b.begin(), b.begin() + k, ids);
    b.erase(b.begin(), b.begin() + k);
    return k;
  }
  bool Waiting(uint32_t q) const { return !backlog_[q].empty(); }

  // Buffers one received frame can span at most.
  uint32_t max_buffers() const { return kMaxFrame / (buf_.buf_size - buf_.headroom) + 1; }

  // Segments the super-frame in frame() (len bytes, header h) into pool buffers; frames go to
  // ids[*out .. n), then to q's backlog, counted in c. nullptr, or why the frame cannot be
  // segmented (nothing was delivered then; the caller counts it).
  const char* Segment(PoolCache* cache, uint32_t len, const virtio::NetHdr& h, uint32_t q, uint32_t* ids, uint32_t* out,
                      uint32_t n, double* c) {
    virtio::TcpSegments plan;
    if (const char* why = virtio::PlanTcpSegments(frame_.data(), len, h, &plan)) return why;
    ErrorDetail d;
    for (uint32_t s = 0; s < plan.count; s++) {
      const uint32_t seg_len = plan.Length(s);
      uint32_t head;
      if (pool_->Alloc(cache, &head, 1, &d) != 1) {
        c[kRxDrops] += plan.count - s;  // out of buffers: TCP resends what is missing
        break;
      }
      if (seg_len <= buf_.buf_size - buf_.headroom) {
        virtio::WriteTcpSegment(frame_.data(), plan, s, Data(head));
        Single(head, seg_len);
      } else {
        virtio::WriteTcpSegment(frame_.data(), plan, s, segment_.data());
        if (!CopyIn(cache, head, segment_.data(), seg_len)) {
          c[kRxDrops] += 1;
          continue;
        }
      }
      Hand(q, head, ids, out, n);
      c[kRxPackets] += 1;
      c[kRxBytes] += seg_len;
    }
    return nullptr;
  }

  // Buffer b: `len` bytes at the headroom, alone, received on this port.
  void Single(uint32_t b, uint32_t len) {
    buf_.data_off[b] = uint16_t(buf_.headroom);
    buf_.data_len[b] = uint16_t(len);
    buf_.port[b] = port_id_;
    Chain()[b] = kNoBuffer;
  }

  // Copies len bytes into buffer b and, when they do not fit, more buffers chained behind
  // it. False (b alone is left, the others freed) when the pool runs dry.
  bool CopyIn(PoolCache* cache, uint32_t b, const uint8_t* src, uint32_t len) {
    const uint32_t room = buf_.buf_size - buf_.headroom;
    uint32_t* chain = Chain();
    Single(b, std::min(len, room));
    std::memcpy(Data(b), src, buf_.data_len[b]);
    ErrorDetail d;
    for (uint32_t done = buf_.data_len[b], tail = b; done < len;) {
      uint32_t nb;
      if (pool_->Alloc(cache, &nb, 1, &d) != 1) {
        Free(cache, chain[b]);
        chain[b] = kNoBuffer;
        return false;
      }
      Single(nb, std::min(len - done, room));
      std::memcpy(Data(nb), src + done, buf_.data_len[nb]);
      done += buf_.data_len[nb];
      chain[tail] = nb;
      tail = nb;
    }
    return true;
  }

  // Every buffer of the packet starting at b back to the pool (no more than a frame of
  // kMaxFrame bytes can span: a chain that loops stops there).
  void Free(PoolCache* cache, uint32_t b) {
    uint32_t* chain = Chain();
    ErrorDetail d;
    for (uint32_t hops = 0; b != kNoBuffer && b < pool_->count() && hops < max_buffers(); hops++) {
      const uint32_t next = chain[b];
      chain[b] = kNoBuffer;
      pool_->Put(cache, &b, 1, &d);
      b = next;
    }
  }

  // The backlog back to the pool (the port closes).
  void Release() {
    for (std::vector<uint32_t>& b : backlog_) {
      for (uint32_t id : b) Free(nullptr, id);
      b.clear();
    }
  }

 private:
  uint8_t* Data(uint32_t b) const { return buf_.base + size_t(b) * buf_.buf_size + buf_.headroom; }
  uint32_t* Chain() const { return static_cast<uint32_t*>(pool_->meta(kMetaChain)); }

  Pool* pool_;
  BufferLayout buf_;
  uint16_t port_id_;
  std::vector<std::vector<uint32_t>> backlog_;
  std::vector<uint8_t> frame_, segment_;
};

}  // namespace vnf
