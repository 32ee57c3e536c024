// ClassBench filter files and synthetic traces, for tests and benchmarks.
//
// Rule line (tab- or space-separated; line order = priority, first line highest):
//   @<src>/<len> <dst>/<len> <splo> : <sphi> <dplo> : <dphi> <proto>/<mask> [<flags>/<mask>]
// The optional sixth field is ClassBench's 16-bit flags value/mask. It is not the TCP flags
// byte and dpdk-test-acl ignores it, so it is checked for syntax and then ignored.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "acl/acl.h"

namespace vnf::acl {

// Appends the rules of `text` to *out (priority = rule number, counting from 0). On error
// returns "line L, column C: what" and leaves *out as it was.
std::string ParseClassBench(std::string_view text, std::vector<Rule>* out);
// Reads a file and parses it; errors are prefixed with the path.
std::string LoadClassBench(const std::string& path, std::vector<Rule>* out);

// A trace in structure-of-arrays form (what Classify reads). version, src6 and dst6 are empty
// for an IPv4-only trace (Keys::version null); src6/dst6 hold 4 words per packet.
struct Trace {
  std::vector<uint32_t> src, dst;
  std::vector<uint16_t> sport, dport;
  std::vector<uint8_t> proto;
  std::vector<uint8_t> version;
  std::vector<uint32_t> src6, dst6;
  size_t size() const { return sport.size(); }
  Keys keys(size_t offset = 0) const;
};

// Deterministic for a given (rules, n, seed, hit): each packet is, with probability `hit`, a
// random point inside a random rule (as ClassBench's trace_generator does), otherwise a uniform
// random header (protocol TCP, UDP or ICMP). An IPv4 trace: for IPv6 sets, map an IPv4 set
// and its trace (MapRulesToIpv6, MapTraceToIpv6).
Trace GenerateTrace(const std::vector<Rule>& rules, size_t n, uint64_t seed, double hit = 0.75);

// IPv4 rule sets and traces mapped into IPv6, for tests and benchmarks: an IPv4 address A goes
// into word `word` of the IPv6 address (0..3, most significant first), the words before it
// hold fixed base values (2001:db8:..., see kIpv6MapBase) and a prefix /L becomes
// /(32 * word + L). A mapped trace's words after `word` are random. The mapped rules classify
// the mapped trace exactly as the originals classify the original trace.
inline constexpr uint32_t kIpv6MapBase[3] = {0x20010db8u, 0x0000cafeu, 0x12345678u};
struct Ipv6Map {
  uint32_t src_word = 1, dst_word = 1;
};
std::vector<Rule> MapRulesToIpv6(const std::vector<Rule>& rules, Ipv6Map m = {});
// All packets IPv6 (version 6), src/dst cleared; seed drives the random low words.
Trace MapTraceToIpv6(const Trace& t, uint64_t seed, Ipv6Map m = {});

// dpdk-test-acl's trace format: "SRC DST SPORT DPORT PROTO" as decimal integers, host order.
std::string FormatTrace(const Trace& t);

}  // namespace vnf::acl
