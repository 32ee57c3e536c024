// IPv4 packet classification and in-place rewriting for NAT44: the tuple of a packet (TCP, UDP,
// ICMP query, other protocols), fragments (first / later), ICMP error messages with the tuple of
// the packet they quote (RFC 5508), and the rewrite of addresses, ports and ICMP identifiers with
// incremental checksum updates (RFC 1624). Pure functions over bytes: no table, no allocation.
//
// Byte order: `ip` points at the IPv4 header in network order; tuples are in host order (as
// conntrack::Tuple). ICMP queries use the identifier in both sport and dport (IcmpQuery).
#pragma once

#include <cstdint>

#include "conntrack/conntrack.h"

namespace vnf::nat {

using conntrack::PacketMeta;
using conntrack::Tuple;

// What Classify found. Anything but the first four is dropped by NAT with that reason.
enum class Kind : uint8_t {
  kWhole = 0,       // unfragmented TCP/UDP/ICMP-query/other packet: tuple + meta valid
  kFirstFragment,   // offset 0 with MF set: tuple + meta valid (the L4 header is in it), frag valid
  kLaterFragment,   // offset > 0: no L4 header; frag valid, tuple = (src, dst, proto, ports 0),
                    // meta.bytes set (the ICMP type of a later fragment is unknown: 0)
  kIcmpError,       // ICMP error (dest unreachable 3, source quench 4, redirect 5, time exceeded 11,
                    // parameter problem 12) quoting a TCP/UDP/ICMP-query packet: tuple = outer
                    // packet's (src, dst, proto 1, ports 0), quoted = the quoted packet's tuple
  kTruncated,       // shorter than its headers say (IP total length > len, L4 header cut short,
                    // ICMP error quoting less than the quoted IP header + 8 bytes)
  kBadHeader,       // not IPv4, IHL < 5, total length < IHL*4, TCP data offset < 5, etc.
  kBadIcmpError,    // ICMP error that is itself fragmented, quotes a non-first fragment, quotes an
                    // ICMP error, or quotes a protocol NAT cannot map (anything but TCP, UDP and
                    // an ICMP query; also a quoted header that is not IPv4 or has IHL < 5)
  kUnsupportedIcmp, // ICMP type that is neither a query (0, 8, 13-18) nor an error above
};
// Notes: every ICMP message needs its 8-byte header (else kTruncated). A TCP data offset beyond
// the bytes present is kTruncated. Checksums and the UDP length field are not validated (an
// incremental update keeps a bad checksum bad).

const char* KindName(Kind k);

struct Fragment {
  uint16_t id = 0;          // IP identification
  uint16_t offset = 0;      // fragment offset in 8-byte units
  bool more = false;        // MF
};

struct Classified {
  Tuple tuple;              // see Kind
  PacketMeta meta;          // bytes = IP total length; tcp_flags (TCP); icmp_type (ICMP)
  Fragment frag;            // kFirstFragment / kLaterFragment (zeros otherwise)
  Tuple quoted;             // kIcmpError: the quoted packet's tuple, as it appears in the quote
  uint16_t ihl = 0;         // IP header bytes
  uint16_t total = 0;       // IP total length
};

// Classifies the IPv4 packet at ip (len bytes available from there; extra bytes after the IP
// total length, e.g. Ethernet padding, are allowed and left alone). Every read is bounds-checked.
Kind Classify(const uint8_t* ip, uint32_t len, Classified* out);

// Rewrites the packet's addresses to to.src / to.dst and, when the L4 header is present (kWhole,
// kFirstFragment), TCP/UDP ports to to.sport / to.dport or the ICMP query identifier to to.sport,
// updating the IPv4 header checksum and the TCP / UDP / ICMP checksum incrementally (UDP checksum
// 0 stays 0; a UDP checksum that becomes 0 is written as 0xffff). Later fragments (kLaterFragment):
// addresses and IP checksum only. Other protocols: addresses and IP checksum only. ICMP queries
// have one identifier: to.sport is written, to.dport is ignored (IcmpQuery puts it in both).
// `c` is what Classify returned for this packet. Returns false (packet unchanged) if c's kind is
// not one of kWhole, kFirstFragment, kLaterFragment, or if c (ihl, total, proto) or kind (later
// fragment or not) does not match the bytes.
bool Rewrite(uint8_t* ip, uint32_t len, Kind kind, const Classified& c, const Tuple& to);

// Rewrites an ICMP error (kind kIcmpError): outer source and destination addresses to outer_src /
// outer_dst (IP checksum incremental), the quoted packet's addresses and ports (or ICMP id) to
// quoted_to (quoted IP header checksum incremental; quoted UDP checksum when nonzero and inside
// the quote; quoted TCP checksum only when the quote holds it, i.e. at least 18 bytes of TCP
// header; quoted ICMP query checksum likewise), and the ICMP checksum of the error message itself
// (recomputed over the whole ICMP message, total length - ihl bytes). Returns false (unchanged) on
// any other kind. There is no Kind argument: the packet is classified again here, and a `c` whose
// ihl, total or quoted tuple do not match the bytes is refused. quoted_to.sport is the identifier
// of a quoted ICMP query.
bool RewriteIcmpError(uint8_t* ip, uint32_t len, const Classified& c, uint32_t outer_src,
                      uint32_t outer_dst, const Tuple& quoted_to);

// Internet checksum helpers (RFC 1071 / RFC 1624), exposed for tests and the binding.
// Sum16: one's complement sum of n bytes (odd n padded with zero), not complemented, folded.
uint16_t Sum16(const uint8_t* p, uint32_t n, uint32_t initial = 0);
// Checksum field update when a 16-bit word changes from old_w to new_w (both host order);
// csum and result are the field's value in host order.
uint16_t CsumUpdate16(uint16_t csum, uint16_t old_w, uint16_t new_w);
uint16_t CsumUpdate32(uint16_t csum, uint32_t old_w, uint32_t new_w);

}  // namespace vnf::nat
