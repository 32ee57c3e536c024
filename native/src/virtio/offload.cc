#include "offload.h"

#include <cstring>

namespace vnf::virtio {
namespace {

constexpr uint16_t kEtherIpv4 = 0x0800, kEtherIpv6 = 0x86dd, kEtherVlan = 0x8100, kEtherQinQ = 0x88a8;
constexpr uint8_t kProtoTcp = 6;
constexpr uint8_t kTcpFin = 0x01, kTcpPsh = 0x08, kTcpCwr = 0x80;

uint16_t Get16(const uint8_t* p) { return uint16_t(p[0] << 8 | p[1]); }
void Put16(uint8_t* p, uint16_t v) { p[0] = uint8_t(v >> 8), p[1] = uint8_t(v); }
uint16_t Fold(uint32_t sum) {
  while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
  return uint16_t(sum);
}

}  // namespace

uint32_t SumBytes(const uint8_t* p, uint32_t n, uint32_t sum, bool* odd) {
  uint32_t i = 0;
  if (*odd && n > 0) {
    sum += p[0];  // the low byte of the word the previous piece started
    i = 1;
  }
  // 64-bit accumulation of 32-bit big-endian words: a 64 KiB frame cannot overflow it.
  uint64_t wide = sum;
  for (; i + 3 < n; i += 4) wide += uint32_t(p[i]) << 24 | uint32_t(p[i + 1]) << 16 | uint32_t(p[i + 2]) << 8 | p[i + 3];
  for (; i + 1 < n; i += 2) wide += uint32_t(p[i] << 8 | p[i + 1]);
  if ((n - i) & 1) wide += uint32_t(p[n - 1] << 8);
  *odd = (*odd != ((n & 1) != 0));
  wide = (wide & 0xffffffff) + (wide >> 32);
  wide = (wide & 0xffff) + (wide >> 16);
  wide = (wide & 0xffff) + (wide >> 16);
  return Fold(uint32_t(wide));
}

const char* CompletePartialChecksum(const BufferChain& v, uint32_t head, uint16_t csum_start, uint16_t csum_offset) {
  const uint32_t field = uint32_t(csum_start) + csum_offset;
  if (field + 2 > v.data_len[head]) return "the checksum field (csum_start + csum_offset) is past the first buffer";
  uint32_t sum = 0, skip = csum_start, hops = 0;
  bool odd = false;
  for (uint32_t b = head; b != BufferChain::kChainEnd; b = v.chain[b]) {
    if (++hops > v.max_buffers) return "the packet's buffer chain is longer than any packet";
    const uint32_t len = v.data_len[b];
    if (skip >= len) {
      skip -= len;
      continue;
    }
    sum = SumBytes(v.base + size_t(b) * v.buf_size + v.data_off[b] + skip, len - skip, sum, &odd);
    skip = 0;
  }
  if (skip) return "csum_start is past the end of the packet";
  uint16_t c = uint16_t(~sum);
  if (c == 0 && csum_offset == 6) c = 0xffff;  // a UDP checksum (offset 6) of 0 means "none"
  Put16(v.base + size_t(head) * v.buf_size + v.data_off[head] + field, c);
  return nullptr;
}

const char* PlanTcpSegments(const uint8_t* frame, uint32_t len, const NetHdr& h, TcpSegments* plan) {
  const uint8_t type = h.gso_type & uint8_t(~kGsoEcn);
  if (type != kGsoTcpV4 && type != kGsoTcpV6) return "gso_type is not TCPV4 or TCPV6";
  if (h.gso_size == 0) return "gso_size is 0";
  uint32_t l3 = 14;
  if (len < l3) return "the frame is shorter than an Ethernet header";
  uint16_t ether = Get16(frame + 12);
  for (int tags = 0; (ether == kEtherVlan || ether == kEtherQinQ) && tags < 2; tags++) {
    if (len < l3 + 4) return "the frame ends inside a VLAN tag";
    ether = Get16(frame + l3 + 2);
    l3 += 4;
  }
  TcpSegments p;
  p.l3 = l3;
  if (type == kGsoTcpV4) {
    if (ether != kEtherIpv4) return "gso_type TCPV4 on a frame that is not IPv4";
    if (len < l3 + 20) return "the frame ends inside the IPv4 header";
    const uint8_t* ip = frame + l3;
    const uint32_t ihl = uint32_t(ip[0] & 15) * 4;
    if ((ip[0] >> 4) != 4 || ihl < 20) return "a bad IPv4 version or header length";
    if (Get16(ip + 6) & 0x3fff) return "an IPv4 fragment cannot be segmented";
    if (ip[9] != kProtoTcp) return "gso_type TCPV4 on an IPv4 packet that is not TCP";
    p.l4 = l3 + ihl;
  } else {
    if (ether != kEtherIpv6) return "gso_type TCPV6 on a frame that is not IPv6";
    if (len < l3 + 40) return "the frame ends inside the IPv6 header";
    const uint8_t* ip = frame + l3;
    if ((ip[0] >> 4) != 6) return "a bad IPv6 version";
    if (ip[6] != kProtoTcp) return "IPv6 extension headers in a GSO frame are not supported";
    p.l4 = l3 + 40;
    p.v6 = true;
  }
  if (len < p.l4 + 20) return "the frame ends inside the TCP header";
  const uint32_t doff = uint32_t(frame[p.l4 + 12] >> 4) * 4;
  if (doff < 20) return "a TCP data offset below 5 words";
  p.headers = p.l4 + doff;
  if (len < p.headers) return "the frame ends inside the TCP options";
  p.payload = len - p.headers;
  p.mss = h.gso_size;
  p.count = p.payload == 0 ? 1 : (p.payload + p.mss - 1) / p.mss;
  // Each segment's IP length field must hold it.
  if (p.headers - l3 + p.mss > 0xffff && p.payload > 0) return "gso_size makes segments longer than an IP packet";
  *plan = p;
  return nullptr;
}

uint32_t WriteTcpSegment(const uint8_t* frame, const TcpSegments& p, uint32_t i, uint8_t* out) {
  const uint32_t len = p.Length(i);
  const uint32_t off = i * p.mss;
  std::memcpy(out, frame, p.headers);
  std::memcpy(out + p.headers, frame + p.headers + off, len - p.headers);
  uint8_t* ip = out + p.l3;
  uint8_t* tcp = out + p.l4;
  const uint32_t tcp_len = len - p.l4;
  uint32_t pseudo;
  bool odd = false;
  if (!p.v6) {
    Put16(ip + 2, uint16_t(len - p.l3));
    Put16(ip + 4, uint16_t(Get16(ip + 4) + i));
    Put16(ip + 10, 0);
    Put16(ip + 10, uint16_t(~SumBytes(ip, p.l4 - p.l3, 0, &odd)));
    odd = false;
    pseudo = SumBytes(ip + 12, 8, 0, &odd) + kProtoTcp + tcp_len;
  } else {
    Put16(ip + 4, uint16_t(len - p.l4));
    pseudo = SumBytes(ip + 8, 32, 0, &odd) + kProtoTcp + tcp_len;
  }
  const uint32_t seq = uint32_t(tcp[4]) << 24 | uint32_t(tcp[5]) << 16 | uint32_t(tcp[6]) << 8 | tcp[7];
  const uint32_t s = seq + off;
  tcp[4] = uint8_t(s >> 24), tcp[5] = uint8_t(s >> 16), tcp[6] = uint8_t(s >> 8), tcp[7] = uint8_t(s);
  if (i > 0) tcp[13] &= uint8_t(~kTcpCwr);
  if (i + 1 < p.count) tcp[13] &= uint8_t(~(kTcpFin | kTcpPsh));
  Put16(tcp + 16, 0);
  odd = false;
  Put16(tcp + 16, uint16_t(~SumBytes(tcp, tcp_len, Fold(pseudo), &odd)));
  return len;
}

}  // namespace vnf::virtio
