// The virtio-net header's offloads done in software, for both sides of a link:
//   - a partial checksum (VIRTIO_NET_HDR_F_NEEDS_CSUM: the field at csum_start + csum_offset
//     holds the pseudo-header sum; the sender left the rest to the receiver), completed over
//     a packet that may span several pool buffers;
//   - TCP segmentation (GSO TCPV4 / TCPV6, what a NIC's TSO does): a super-frame of up to
//     64 KiB becomes frames of at most gso_size payload bytes, each with its own IP length,
//     IPv4 id, TCP sequence number, flags and checksums.
// A device that offers CSUM and HOST_TSO4/6 (a VM's Linux then hands it unchecksummed 64 KiB
// TCP frames, its fastest path) must do both before the frames go anywhere else; so must a
// driver that accepts GUEST_CSUM / GUEST_TSO4/6. Everything a peer wrote is checked first:
// a plan is refused with a reason, never applied to bytes it does not cover.
#pragma once

#include <cstdint>

#include "virtio_net.h"

namespace vnf::virtio {

// One's complement sum (not complemented, folded to 16 bits) of p[0..n), continuing `sum`
// over bytes whose count so far is odd when *odd (an odd count swaps the byte lanes of what
// follows, RFC 1071). Updates *odd.
uint32_t SumBytes(const uint8_t* p, uint32_t n, uint32_t sum, bool* odd);

// A packet in pool buffers, as the checksum walks it: buffer b's bytes are
// base + b * buf_size + data_off[b], data_len[b] of them; chain[b] is the next buffer or
// kChainEnd.
struct BufferChain {
  static constexpr uint32_t kChainEnd = 0xffffffff;
  uint8_t* base;
  uint32_t buf_size;
  const uint16_t* data_off;
  const uint16_t* data_len;
  const uint32_t* chain;
  uint32_t max_buffers;  // a chain longer than this is refused (a loop would never end)
};

// NEEDS_CSUM: writes the complement of the sum over [csum_start, end of packet) (the field
// already holds the pseudo-header sum) at csum_start + csum_offset. nullptr, or why not
// (the field must lie in the first buffer, where the headers are).
const char* CompletePartialChecksum(const BufferChain& v, uint32_t head, uint16_t csum_start, uint16_t csum_offset);

// How a TCP super-frame splits, from PlanTcpSegments.
struct TcpSegments {
  uint32_t l3 = 0;        // offset of the IP header
  uint32_t l4 = 0;        // offset of the TCP header
  uint32_t headers = 0;   // bytes of headers copied in front of every segment
  uint32_t payload = 0;   // TCP payload bytes of the super-frame
  uint32_t mss = 0;       // payload bytes per segment (the last may have fewer)
  uint32_t count = 0;     // segments
  bool v6 = false;
  // Length of segment i (headers + its payload).
  uint32_t Length(uint32_t i) const {
    const uint32_t off = i * mss;
    return headers + (payload - off < mss ? payload - off : mss);
  }
};

// Checks a GSO frame (Ethernet, up to two VLAN tags, IPv4 without fragmentation or IPv6
// with TCP as the first next header, then TCP) against its header's gso_type and gso_size
// and plans its segments. nullptr, or why it cannot be segmented.
const char* PlanTcpSegments(const uint8_t* frame, uint32_t len, const NetHdr& h, TcpSegments* plan);

// Writes segment i of `plan` (from the super-frame `frame`) at out, which has room for
// plan.Length(i) bytes; returns that length. The IPv4 total length, id (+i) and header
// checksum, the IPv6 payload length, the TCP sequence number (+i * mss), flags (CWR on the
// first segment only, FIN and PSH on the last only) and a complete TCP checksum are written;
// the rest of the headers is copied as it was.
uint32_t WriteTcpSegment(const uint8_t* frame, const TcpSegments& plan, uint32_t i, uint8_t* out);

}  // namespace vnf::virtio
