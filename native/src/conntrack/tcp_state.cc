// nf_conntrack's TCP transition table and the names of states, results and reasons.
#include "conntrack/conntrack.h"

namespace vnf::conntrack {

namespace {

constexpr uint8_t sNO = kTcpNone, sSS = kTcpSynSent, sSR = kTcpSynRecv, sES = kTcpEstablished,
                  sFW = kTcpFinWait, sCW = kTcpCloseWait, sLA = kTcpLastAck, sTW = kTcpTimeWait,
                  sCL = kTcpClose, sS2 = kTcpSynSent2, sIV = kTcpInvalid, sIG = kTcpIgnore;

// Flag classes, in nf_conntrack's order (get_conntrack_index).
enum { kSyn, kSynAck, kFin, kAck, kRst, kNoneSet };

int FlagIndex(uint8_t f) {
  if (f & kTcpRst) return kRst;
  if (f & kTcpSyn) return (f & kTcpAck) ? kSynAck : kSyn;
  if (f & kTcpFin) return kFin;
  if (f & kTcpAck) return kAck;
  return kNoneSet;
}

// [dir][flag class][state], as Linux's tcp_conntracks (net/netfilter/nf_conntrack_proto_tcp.c,
// v5.x/v6.x): simultaneous open through SYN_SENT2, TIME_WAIT reopened by a SYN from either side.
constexpr uint8_t kTable[2][6][kTcpStateCount] = {
    {
        // ORIGINAL  sNO  sSS  sSR  sES  sFW  sCW  sLA  sTW  sCL  sS2
        /* syn    */ {sSS, sSS, sIG, sIG, sIG, sIG, sIG, sSS, sSS, sS2},
        /* synack */ {sIV, sIV, sSR, sIV, sIV, sIV, sIV, sIV, sIV, sSR},
        /* fin    */ {sIV, sIV, sFW, sFW, sLA, sLA, sLA, sTW, sCL, sIV},
        /* ack    */ {sES, sIV, sES, sES, sCW, sCW, sTW, sTW, sCL, sIV},
        /* rst    */ {sIV, sCL, sCL, sCL, sCL, sCL, sCL, sCL, sCL, sCL},
        /* none   */ {sIV, sIV, sIV, sIV, sIV, sIV, sIV, sIV, sIV, sIV},
    },
    {
        // REPLY     sNO  sSS  sSR  sES  sFW  sCW  sLA  sTW  sCL  sS2
        /* syn    */ {sIV, sS2, sIV, sIV, sIV, sIV, sIV, sSS, sIV, sS2},
        /* synack */ {sIV, sSR, sIG, sIG, sIG, sIG, sIG, sIG, sIG, sSR},
        /* fin    */ {sIV, sIV, sFW, sFW, sLA, sLA, sLA, sTW, sCL, sIV},
        /* ack    */ {sIV, sIG, sSR, sES, sCW, sCW, sTW, sTW, sCL, sIG},
        /* rst    */ {sIV, sCL, sCL, sCL, sCL, sCL, sCL, sCL, sCL, sCL},
        /* none   */ {sIV, sIV, sIV, sIV, sIV, sIV, sIV, sIV, sIV, sIV},
    },
};

}  // namespace

uint8_t TcpTransition(uint8_t state, Dir dir, uint8_t tcp_flags) {
  if (state >= kTcpStateCount) return kTcpInvalid;
  return kTable[dir & 1][FlagIndex(tcp_flags)][state];
}

// Linux's tcp_valid_flags (tcp_error): the flag byte without ECE, CWR, PSH must be one of these.
bool TcpFlagsValid(uint8_t f) {
  switch (f & ~(kTcpEce | kTcpCwr | kTcpPsh)) {
    case kTcpSyn:
    case kTcpSyn | kTcpUrg:
    case kTcpSyn | kTcpAck:
    case kTcpRst:
    case kTcpRst | kTcpAck:
    case kTcpFin | kTcpAck:
    case kTcpFin | kTcpAck | kTcpUrg:
    case kTcpAck:
    case kTcpAck | kTcpUrg:
      return true;
    default:
      return false;
  }
}

const char* TcpStateName(uint8_t s) {
  static const char* const kNames[kTcpStateCount] = {
      "NONE", "SYN_SENT", "SYN_RECV", "ESTABLISHED", "FIN_WAIT",
      "CLOSE_WAIT", "LAST_ACK", "TIME_WAIT", "CLOSE", "SYN_SENT2"};
  if (s < kTcpStateCount) return kNames[s];
  return s == kTcpInvalid ? "INVALID" : s == kTcpIgnore ? "IGNORE" : "?";
}

const char* ResultName(Result r) {
  switch (r) {
    case Result::kMiss: return "miss";
    case Result::kHit: return "hit";
    case Result::kTracked: return "tracked";
    case Result::kCreated: return "created";
    case Result::kIgnored: return "ignored";
    case Result::kInvalid: return "invalid";
    case Result::kFull: return "full";
    case Result::kConflict: return "conflict";
  }
  return "?";
}

const char* ReasonName(uint8_t r) {
  static const char* const kNames[kReasonCount] = {
      "expired-tcp-established", "expired-tcp-opening", "expired-tcp-closing", "expired-udp",
      "expired-icmp", "expired-other", "deleted", "replaced"};
  return r < kReasonCount ? kNames[r] : "?";
}

Timeouts RfcNatTimeouts() {
  Timeouts t;
  // RFC 5382 REQ-5: established idle timeout >= 2 h 4 min; transitory states >= 4 min.
  for (uint8_t s = kTcpSynSent; s < kTcpStateCount; s++) {
    if (s != kTcpEstablished && t.tcp[s] < 240) t.tcp[s] = 240;
  }
  if (t.tcp_unassured_max < 240) t.tcp_unassured_max = 240;
  // RFC 4787 REQ-5: a UDP mapping timer >= 2 min (unreplied ones too), 5 min recommended.
  t.udp_unreplied = 120;
  t.udp_replied = 300;
  // RFC 5508 REQ-1: ICMP query mapping timeout >= 60 s.
  t.icmp = 60;
  return t;
}

}  // namespace vnf::conntrack
