// IPv4 packets for the NAT tests, built from scratch with every checksum computed the slow
// way (RFC 1071 over the whole header or segment), and the checks that read them back.
#pragma once

#include <cstdint>
#include <vector>

namespace vt {

inline uint32_t Ip(uint32_t a, uint32_t b, uint32_t c, uint32_t d) { return a << 24 | b << 16 | c << 8 | d; }

inline void Put16(std::vector<uint8_t>& p, size_t at, uint16_t v) {
  p[at] = uint8_t(v >> 8);
  p[at + 1] = uint8_t(v);
}
inline void Put32(std::vector<uint8_t>& p, size_t at, uint32_t v) {
  Put16(p, at, uint16_t(v >> 16));
  Put16(p, at + 2, uint16_t(v));
}
inline uint16_t Get16(const std::vector<uint8_t>& p, size_t at) { return uint16_t(p[at] << 8 | p[at + 1]); }
inline uint32_t Get32(const std::vector<uint8_t>& p, size_t at) { return uint32_t(Get16(p, at)) << 16 | Get16(p, at + 2); }

// One's complement sum over [at, at+n), folded, not complemented.
inline uint32_t SumOf(const std::vector<uint8_t>& p, size_t at, size_t n, uint32_t sum = 0) {
  for (size_t i = 0; i + 1 < n; i += 2) sum += uint32_t(p[at + i] << 8 | p[at + i + 1]);
  if (n & 1) sum += uint32_t(p[at + n - 1] << 8);
  while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
  return sum;
}

inline uint32_t PseudoSum(const std::vector<uint8_t>& p, uint8_t proto, uint32_t l4len) {
  return (Get32(p, 12) >> 16) + (Get32(p, 12) & 0xffff) + (Get32(p, 16) >> 16) + (Get32(p, 16) & 0xffff) + proto + l4len;
}

// Fills the IP header checksum and the transport checksum of an unfragmented packet.
inline void FixChecksums(std::vector<uint8_t>& p) {
  const size_t ihl = (p[0] & 15) * 4;
  Put16(p, 10, 0);
  Put16(p, 10, uint16_t(~SumOf(p, 0, ihl)));
  const uint8_t proto = p[9];
  const uint32_t l4len = uint32_t(p.size() - ihl);
  size_t at = proto == 6 ? 16 : proto == 17 ? 6 : 2;
  Put16(p, ihl + at, 0);
  uint32_t sum = proto == 1 ? SumOf(p, ihl, l4len) : SumOf(p, ihl, l4len, PseudoSum(p, proto, l4len));
  while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
  uint16_t c = uint16_t(~sum);
  if (proto == 17 && c == 0) c = 0xffff;
  Put16(p, ihl + at, c);
}

inline std::vector<uint8_t> Ipv4(uint32_t src, uint32_t dst, uint8_t proto, size_t l4len) {
  std::vector<uint8_t> p(20 + l4len, 0);
  p[0] = 0x45;
  Put16(p, 2, uint16_t(p.size()));
  Put16(p, 4, 0x1234);
  p[8] = 64;
  p[9] = proto;
  Put32(p, 12, src);
  Put32(p, 16, dst);
  return p;
}

inline std::vector<uint8_t> Udp(uint32_t src, uint32_t dst, uint16_t sport, uint16_t dport, size_t payload = 12) {
  std::vector<uint8_t> p = Ipv4(src, dst, 17, 8 + payload);
  Put16(p, 20, sport);
  Put16(p, 22, dport);
  Put16(p, 24, uint16_t(8 + payload));
  for (size_t i = 0; i < payload; i++) p[28 + i] = uint8_t(i * 7 + 1);
  FixChecksums(p);
  return p;
}

inline std::vector<uint8_t> Tcp(uint32_t src, uint32_t dst, uint16_t sport, uint16_t dport, uint8_t flags) {
  std::vector<uint8_t> p = Ipv4(src, dst, 6, 20);
  Put16(p, 20, sport);
  Put16(p, 22, dport);
  Put32(p, 24, 1000);
  p[32] = 5 << 4;
  p[33] = flags;
  Put16(p, 34, 65535);
  FixChecksums(p);
  return p;
}

inline std::vector<uint8_t> Echo(uint32_t src, uint32_t dst, uint16_t id, uint8_t type) {
  std::vector<uint8_t> p = Ipv4(src, dst, 1, 16);
  p[20] = type;
  Put16(p, 24, id);
  Put16(p, 26, 1);
  FixChecksums(p);
  return p;
}

inline uint32_t Src(const std::vector<uint8_t>& p) { return Get32(p, 12); }
inline uint32_t Dst(const std::vector<uint8_t>& p) { return Get32(p, 16); }
inline uint16_t SrcPort(const std::vector<uint8_t>& p) { return Get16(p, (p[0] & 15) * 4); }
inline uint16_t EchoId(const std::vector<uint8_t>& p) { return Get16(p, (p[0] & 15) * 4 + 4); }

// The IP header and transport checksums of an unfragmented packet verify (UDP 0 = none).
inline bool ChecksumsValid(const std::vector<uint8_t>& p) {
  const size_t ihl = (p[0] & 15) * 4;
  if (SumOf(p, 0, ihl) != 0xffff) return false;
  const uint8_t proto = p[9];
  const uint32_t l4len = uint32_t(p.size() - ihl);
  if (proto == 17 && Get16(p, ihl + 6) == 0) return true;
  const uint32_t sum = proto == 1 ? SumOf(p, ihl, l4len) : SumOf(p, ihl, l4len, PseudoSum(p, proto, l4len));
  return sum == 0xffff;
}

}  // namespace vt
