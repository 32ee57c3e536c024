// NAT44 on top of the connection tracker: source NAT (NAPT) of inside traffic onto a pool of
// addresses, endpoint-independent mapping, endpoint-independent or address-dependent
// filtering, paired address pooling, static 1:1 NAT and port forwarding, hairpinning, ICMP
// query identifiers, ICMP errors (RFC 5508, the quoted packet too), fragments (later fragments
// follow the first; out-of-order ones are held as copies), port block allocation with a log.
// Design and RFC requirement by requirement: docs/nat.md.
//
//   namespace nat = vnf::nat;
//   nat::Config cfg;
//   cfg.pool = {{ip("198.51.100.1"), ip("198.51.100.4")}};
//   std::string err;
//   std::unique_ptr<nat::Nat> n = nat::Nat::Create(cfg, &err);   // null + err on bad config
//   nat::Packet pkts[32];   // {ip header pointer, bytes available, side}
//   nat::Action act[32];
//   n->Translate(pkts, 32, now, act);       // rewrites in place; act[i]: where it goes, or why not
//
// A session is a conntrack session whose two tuples are the packet as it arrives on each side:
// the original (first packet, as received) and the reply (what the other side sends back, as
// received there). A packet matching direction d leaves as Inverse(the other direction's tuple),
// which covers SNAT, DNAT, both at once (hairpinning) and ICMP errors with one rule.
//
// Threads: Translate may run on any number of threads at once: established traffic is
// lock-free (conntrack Lookup/Track); new sessions, mappings and fragments take one NAT lock
// per burst when the burst has any.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "conntrack/conntrack.h"
#include "nat/packet.h"

namespace vnf::nat {

namespace ct = conntrack;

enum Side : uint8_t { kInside = 0, kOutside = 1 };

enum class Filtering : uint8_t {
  kEndpointIndependent = 0,  // RFC 4787 EIF: any remote may reach an existing mapping
  kAddressDependent,         // ADF: only remote addresses the inside endpoint has sent to
};

struct AddressRange {
  uint32_t first = 0, last = 0;  // host order, inclusive
};

// Static 1:1 NAT: every port of `inside` appears as `outside`, both ways.
struct StaticNat {
  uint32_t inside = 0, outside = 0;
};

// Port forwarding (static DNAT of one port; also the mapping that endpoint's outbound traffic uses).
struct Forward {
  uint8_t proto = 0;  // 6 or 17
  uint32_t outside = 0;
  uint16_t outside_port = 0;
  uint32_t inside = 0;
  uint16_t inside_port = 0;
};

struct Config {
  std::vector<AddressRange> pool;     // dynamic NAT addresses (not overlapping each other)
  uint16_t port_first = 1024, port_last = 65535;  // ports (and ICMP identifiers) handed out
  Filtering filtering = Filtering::kAddressDependent;
  std::vector<StaticNat> statics;
  std::vector<Forward> forwards;
  std::vector<uint32_t> local;        // the appliance's own addresses: inside packets to them
                                      // (and to pool addresses with no mapping) are not translated
  uint32_t sessions = 1u << 16;       // conntrack sessions
  uint32_t mappings = 0;              // endpoint mappings (0: as many as sessions)
  uint32_t block_size = 0;            // port block allocation: ports per block (0: off)
  uint32_t max_blocks = 1;            // blocks one inside address may hold
  bool log_mappings = false;          // log mapping creation/removal (Drain)
  bool log_blocks = true;             // log block allocation/release (with block_size)
  uint32_t log_capacity = 1u << 16;   // events kept until drained (more are counted, not kept)
  uint32_t fragment_entries = 4096;   // datagrams in flight whose first fragment was seen/awaited
  uint32_t fragment_hold_bytes = 1u << 20;  // copies of fragments that came before their first
  uint32_t fragment_timeout = 2;      // seconds a datagram's fragments may take
  ct::Timeouts timeouts = ct::RfcNatTimeouts();
  uint32_t ticks_per_second = 1000;
  uint64_t seed = 0;
  bool hugepages = true;
};

// What happened to a packet.
enum class Action : uint8_t {
  kToOutside = 0,   // translated (SNAT, or the reply of an inbound session); leaves on the outside
  kToInside,        // translated (DNAT or the reply of an outbound session); leaves on the inside
  kHairpin,         // inside to inside through an external address (translated both ways)
  kLocal,           // not for NAT: to the appliance itself (local address, pool address with no mapping)
  kHeld,            // a fragment before its first: copied (ReleaseHeld gives it back), drop the buffer
  kNoMapping,       // outside: no mapping/forward/static for the destination (unsolicited)
  kFiltered,        // outside: a mapping exists but address-dependent filtering refuses the source
  kPoolExhausted,   // no free port (or block) for a new mapping: new flow dropped
  kTableFull,       // session or mapping table full: new flow dropped
  kInvalid,         // conntrack refused it (bad TCP flags or transition, a reply tuple in use)
  kWrongSide,       // matches a session, but arrived on the side that direction does not come from
  kNoSession,       // an ICMP error quoting nothing we translated; a later fragment whose first was refused
  kMalformed,       // truncated or bad header (packet.h Kind)
  kUnsupported,     // ICMP types that are neither queries nor errors; a bad ICMP error; not IPv4
  kFragmentLimit,   // fragment table or hold budget full
  kFragmentTimeout, // (ReleaseHeld) a held fragment whose first never came
  kCount
};
const char* ActionName(Action a);

struct Packet {
  uint8_t* ip = nullptr;  // IPv4 header
  uint32_t len = 0;       // bytes available from ip (at least the IP total length)
  uint16_t l2_len = 0;    // frame bytes before ip (kept with a held fragment's copy)
  Side side = kInside;
};

// A held fragment handed back: the frame (l2_len bytes, then the IPv4 packet, translated), or
// to be dropped.
struct Released {
  std::vector<uint8_t> frame;
  uint16_t l2_len = 0;
  uint64_t cookie = 0;   // what Translate's caller gave with the packet (e.g. its input port)
  Action action = Action::kFragmentTimeout;
};

// Log of what carrier-grade NAT operators must keep (RFC 6888 REQ-12, RFC 7422 blocks).
enum class EventType : uint8_t { kMappingCreated = 0, kMappingRemoved, kBlockAllocated, kBlockReleased };
struct Event {
  uint64_t time = 0;        // ticks
  EventType type = EventType::kMappingCreated;
  uint8_t proto = 0;        // mappings
  uint32_t inside = 0;      // inside address
  uint16_t inside_port = 0; // mappings
  uint32_t outside = 0;     // outside (pool) address
  uint16_t port_first = 0;  // mapping: its outside port; block: first port
  uint16_t port_last = 0;   // block: last port
};
const char* EventTypeName(EventType t);

struct Stats {
  uint64_t actions[size_t(Action::kCount)] = {};
  uint64_t mappings = 0;            // live endpoint mappings (dynamic)
  uint64_t mappings_created = 0;
  uint64_t blocks = 0;              // allocated port blocks
  uint64_t hosts = 0;               // inside addresses holding a pool address (paired pooling)
  uint64_t fragments_held = 0;      // copies waiting for their first fragment
  uint64_t log_dropped = 0;         // events not kept (log full)
  ct::Stats conntrack;
  size_t memory_bytes = 0;          // conntrack + mappings + filters (fixed arrays)
};

class Nat {
 public:
  static std::unique_ptr<Nat> Create(const Config& cfg, std::string* error);
  ~Nat();
  Nat(const Nat&) = delete;
  Nat& operator=(const Nat&) = delete;

  // Translates a burst in place. `cookies` (may be null) are kept with held fragments.
  void Translate(const Packet* pkts, uint32_t n, uint64_t now, Action* act, const uint64_t* cookies = nullptr);

  // Held fragments that can now go (their first fragment was translated: translated copies), or
  // must be dropped (timed out, or their first was refused): up to `max`. Cheap when none.
  uint32_t ReleaseHeld(uint64_t now, Released* out, uint32_t max);
  bool HasReleasable(uint64_t now) const;

  // Frees sessions past their deadline (bounded work; never waits for the lock if try_only) and
  // the mappings, filters and blocks only they held.
  uint32_t Expire(uint64_t now, uint32_t budget, bool try_only);

  // Moves up to max logged events into out; returns how many.
  uint32_t Drain(Event* out, uint32_t max);

  Stats stats() const;
  size_t MemoryBytes() const;
  const Config& config() const { return cfg_; }
  ct::Table& conntrack() { return *ct_; }

 private:
  struct Mapping;
  struct Host;
  struct AddressState;
  struct FragEntry;
  struct New;
  Nat() = default;
  bool Init(std::string* error);
  static int32_t PoolIndexOf(const std::vector<AddressRange>& pool, uint32_t addr);
  void SlowPath(const Packet* pkts, const Classified* c, const uint32_t* idx, uint32_t m, uint64_t now, Action* act);
  bool PlanNew(const Packet& p, const Classified& c, uint64_t now, New* out, Action* why);
  void Undo(const New& nw, uint64_t now);
  void Release(const ct::SessionInfo& s, uint64_t now);
  void TranslateFragments(const Packet* pkts, const Classified* c, const uint32_t* idx, uint32_t m,
                          uint64_t now, Action* act, const uint64_t* cookies);
  void NoteFirstFragment(const Classified& c, const Tuple& to, Action a, uint64_t now);
  int32_t FindMappingByInside(uint32_t addr, uint16_t port, uint8_t proto) const;
  int32_t FindMappingByOutside(uint32_t addr, uint16_t port, uint8_t proto) const;
  int32_t NewMapping(uint32_t in, uint16_t in_port, uint8_t proto, uint32_t out, uint16_t out_port, bool permanent);
  void DropMapping(int32_t m, uint64_t now);
  int32_t AllocatePort(uint32_t inside, uint16_t want, uint8_t proto, uint64_t now, uint32_t* out_addr, uint16_t* out_port, Action* why);
  bool FilterAllows(int32_t m, uint32_t remote) const;
  void FilterAdd(int32_t m, uint32_t remote);
  int32_t PoolIndex(uint32_t addr) const;
  const StaticNat* StaticByInside(uint32_t a) const;
  const StaticNat* StaticByOutside(uint32_t a) const;
  bool IsLocal(uint32_t a) const;
  void Log(const Event& e);

  Config cfg_;
  std::unique_ptr<ct::Table> ct_;
  uint64_t seed_ = 0;
  uint64_t frag_ticks_ = 0;

  // Mappings: records plus two open-addressing indexes (by inside and by outside endpoint);
  // slow path only, under mu_.
  mutable std::mutex mu_;
  Mapping* maps_ = nullptr;
  uint32_t map_cap_ = 0;
  uint32_t* by_inside_ = nullptr;
  uint32_t* by_outside_ = nullptr;
  uint32_t index_size_ = 0;
  uint32_t map_free_ = 0;      // free list head (index + 1; 0 = none)
  uint32_t map_next_ = 0;      // never-used records start here
  uint64_t live_mappings_ = 0, mappings_created_ = 0;
  // Address-dependent filtering: remotes beyond a mapping's first, (mapping, generation, remote).
  struct FilterEntry {
    uint32_t mapping = 0;  // index + 1; 0 = empty
    uint32_t gen = 0;
    uint32_t remote = 0;
  };
  FilterEntry* filters_ = nullptr;
  uint32_t filter_size_ = 0;
  size_t maps_bytes_ = 0, index_bytes_ = 0, filter_bytes_ = 0;

  std::vector<AddressState> addrs_;  // one per pool address (ports, blocks)
  uint32_t pool_size_ = 0;
  std::unordered_map<uint32_t, Host> hosts_;  // paired pooling: inside address -> its pool address
  uint64_t blocks_ = 0;

  // Events.
  std::vector<Event> log_;
  uint64_t log_dropped_ = 0;

  // Fragments (own lock: the data path takes it only for fragments).
  mutable std::mutex frag_mu_;
  std::unordered_map<uint64_t, FragEntry> frags_;
  size_t held_bytes_ = 0;
  std::atomic<uint64_t> held_count_{0};       // copies held
  std::atomic<uint64_t> releasable_{0};       // copies whose first fragment has been translated
  std::atomic<uint64_t> next_frag_sweep_{0};  // earliest deadline of a datagram with copies
  std::atomic<uint64_t> frag_sweep_at_{0};    // next sweep of finished datagrams

  std::atomic<uint64_t> actions_[size_t(Action::kCount)] = {};
};

}  // namespace vnf::nat
