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

// A trace in structure-of-arrays form (what Classify reads).
struct Trace {
  std::vector<uint32_t> src, dst;
  std::vector<uint16_t> sport, dport;
  std::vector<uint8_t> proto;
  size_t size() const { return src.size(); }
  Keys keys(size_t offset = 0) const;
};

// Deterministic for a given (rules, n, seed, hit): each packet is, with probability `hit`, a
// random point inside a random rule (as ClassBench's trace_generator does), otherwise a uniform
// random header (protocol TCP, UDP or ICMP).
Trace GenerateTrace(const std::vector<Rule>& rules, size_t n, uint64_t seed, double hit = 0.75);

// dpdk-test-acl's trace format: "SRC DST SPORT DPORT PROTO" as decimal integers, host order.
std::string FormatTrace(const Trace& t);

}  // namespace vnf::acl
