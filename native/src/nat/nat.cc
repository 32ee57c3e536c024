// NAT44: the burst path (classify, lock-free lookup and translation of established traffic),
// the slow path that plans new sessions (mappings, ports, blocks, filters, hairpinning) under
// one lock per burst, expiry of what sessions held, fragments, and the event log. Design:
// docs/nat.md.
#include "nat/nat.h"

#include <sys/mman.h>

#include <algorithm>
#include <cstring>
#include <random>

#include "conntrack/conntrack_pvt.h"

namespace vnf::nat {

namespace {

constexpr uint8_t kProtoIcmp = ct::kProtoIcmp, kProtoTcp = ct::kProtoTcp, kProtoUdp = ct::kProtoUdp;

// Session marks (conntrack's per-session byte): which side each direction arrives from, and
// what the session holds (released when it goes).
constexpr uint8_t kMarkOrigOutside = 1;   // the original direction arrives on the outside
constexpr uint8_t kMarkReplyOutside = 2;  // the reply direction arrives on the outside
constexpr uint8_t kMarkMapping = 4;       // holds a reference on a mapping, found by its outside endpoint:
constexpr uint8_t kMarkExtInOrig = 8;     //   the original tuple's destination (else the reply's)
constexpr uint8_t kMarkHost = 16;         // port-less protocol: holds a reference on its inside host

constexpr uint8_t kMapPermanent = 1;      // a port forward: never freed, no filtering

// Ports (and ICMP identifiers) are allocated per protocol: TCP, UDP, ICMP.
int ProtoSlot(uint8_t proto) {
  return proto == kProtoTcp ? 0 : proto == kProtoUdp ? 1 : proto == kProtoIcmp ? 2 : -1;
}

void* MapArray(size_t bytes, bool huge) {
  void* p = mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED) return nullptr;
#ifdef MADV_HUGEPAGE
  if (huge && bytes >= (size_t(1) << 21)) madvise(p, bytes, MADV_HUGEPAGE);
#endif
  return p;
}

size_t PageRound(size_t b) { return (b + 4095) / 4096 * 4096; }

uint64_t Hash3(uint32_t addr, uint32_t port_proto, uint64_t seed) {
  return ct::detail::HashWords(uint64_t(addr) | uint64_t(port_proto) << 32, port_proto, seed);
}

inline uint32_t Be32At(const uint8_t* p) {
  return uint32_t(p[0]) << 24 | uint32_t(p[1]) << 16 | uint32_t(p[2]) << 8 | p[3];
}

bool IsDrop(Action a) {
  return a != Action::kToOutside && a != Action::kToInside && a != Action::kHairpin && a != Action::kLocal &&
         a != Action::kHeld;
}

}  // namespace

const char* ActionName(Action a) {
  static const char* kNames[] = {"to-outside",  "to-inside",   "hairpin",   "local",         "held",
                                 "no-mapping",  "filtered",    "pool-exhausted", "table-full", "invalid",
                                 "wrong-side",  "no-session",  "malformed", "unsupported",   "fragment-limit",
                                 "fragment-timeout"};
  static_assert(sizeof(kNames) / sizeof(kNames[0]) == size_t(Action::kCount));
  return size_t(a) < size_t(Action::kCount) ? kNames[size_t(a)] : "?";
}

const char* EventTypeName(EventType t) {
  switch (t) {
    case EventType::kMappingCreated: return "mapping-created";
    case EventType::kMappingRemoved: return "mapping-removed";
    case EventType::kBlockAllocated: return "block-allocated";
    case EventType::kBlockReleased: return "block-released";
  }
  return "?";
}

// 24 bytes: one endpoint mapping (RFC 4787 EIM): inside endpoint <-> outside endpoint.
struct Nat::Mapping {
  uint32_t inside = 0, outside = 0;
  uint16_t inside_port = 0, outside_port = 0;
  uint8_t proto = 0, flags = 0;
  uint16_t gen = 0;      // changes when the record is reused (stale filter entries)
  uint32_t refs = 0;     // sessions using it; 0 = free record
  uint32_t remote = 0;   // address-dependent filtering: the first remote address it sent to
};
// (24 bytes: see the static_assert in Nat::Init.)

// Paired address pooling (RFC 4787 REQ-2): every mapping of an inside address uses one pool
// address. With port blocks, the blocks it holds.
struct Nat::Host {
  uint32_t addr_index = 0;
  uint32_t refs = 0;                // mappings + port-less sessions
  std::vector<uint32_t> blocks;     // block numbers on its pool address
};

struct Nat::AddressState {
  uint32_t addr = 0;
  std::unique_ptr<uint64_t[]> used[3];   // bit per port, per protocol slot (allocated on first use)
  uint32_t free[3] = {0, 0, 0};          // free ports in the range, per protocol slot
  std::vector<uint32_t> block_owner;     // inside address holding block b (0: free)
  std::vector<uint16_t> block_used;      // ports of block b in use, all protocols
  uint32_t free_blocks = 0;
  uint32_t hosts = 0;

  bool Used(int slot, uint16_t port) const { return used[slot] && (used[slot][port >> 6] >> (port & 63) & 1); }
  void Set(int slot, uint16_t port, bool on) {
    if (!used[slot]) {
      used[slot].reset(new uint64_t[1024]);
      std::memset(used[slot].get(), 0, 1024 * 8);
    }
    if (on) used[slot][port >> 6] |= uint64_t(1) << (port & 63);
    else used[slot][port >> 6] &= ~(uint64_t(1) << (port & 63));
  }
};

struct Nat::FragEntry {
  uint64_t expires = 0;
  Tuple to;                      // the translated addresses (from the first fragment)
  Action action = Action::kHeld; // kHeld: first not seen yet; a drop action: the first was refused
  struct Held {
    std::vector<uint8_t> frame;
    uint16_t l2_len = 0;
    uint64_t cookie = 0;
  };
  std::vector<Held> held;
};

// What the slow path decided for one new flow, to give to conntrack's Create (and to undo).
struct Nat::New {
  Tuple reply;
  uint8_t mark = 0;
  int32_t mapping = -1;      // reference taken (kMarkMapping)
  uint32_t host = 0;         // port-less: host reference taken (kMarkHost)
  bool hairpin = false;
};

namespace {
uint64_t FragKey(const Classified& c) {
  return ct::detail::HashWords(uint64_t(c.tuple.src) | uint64_t(c.tuple.dst) << 32,
                               uint64_t(c.frag.id) | uint64_t(c.tuple.proto) << 16, 0x6a09e667f3bcc909ull);
}
}  // namespace

std::unique_ptr<Nat> Nat::Create(const Config& cfg, std::string* error) {
  std::unique_ptr<Nat> n(new Nat());
  n->cfg_ = cfg;
  if (!n->Init(error)) return nullptr;
  return n;
}

Nat::~Nat() {
  if (maps_) munmap(maps_, maps_bytes_);
  if (by_inside_) munmap(by_inside_, index_bytes_);
  if (by_outside_) munmap(by_outside_, index_bytes_);
  if (filters_) munmap(filters_, filter_bytes_);
}

namespace {
std::string Ip(uint32_t a) {
  return std::to_string(a >> 24) + "." + std::to_string(a >> 16 & 255) + "." + std::to_string(a >> 8 & 255) + "." +
         std::to_string(a & 255);
}
}  // namespace

bool Nat::Init(std::string* error) {
  static_assert(sizeof(Mapping) == 24);
  auto fail = [&](const std::string& what) {
    if (error) *error = what;
    return false;
  };
  const Config& c = cfg_;
  if (c.pool.empty() && c.statics.empty() && c.forwards.empty()) return fail("pool: empty (no addresses to translate to)");
  uint64_t total = 0;
  for (size_t i = 0; i < c.pool.size(); i++) {
    const AddressRange& r = c.pool[i];
    if (r.first > r.last) return fail("pool[" + std::to_string(i) + "]: first address " + Ip(r.first) + " is after the last " + Ip(r.last));
    if (r.first == 0) return fail("pool[" + std::to_string(i) + "]: 0.0.0.0 is not an address");
    for (size_t j = 0; j < i; j++) {
      if (!(r.last < c.pool[j].first || r.first > c.pool[j].last)) {
        return fail("pool[" + std::to_string(i) + "] (" + Ip(r.first) + "-" + Ip(r.last) + ") overlaps pool[" +
                    std::to_string(j) + "] (" + Ip(c.pool[j].first) + "-" + Ip(c.pool[j].last) + ")");
      }
    }
    total += uint64_t(r.last) - r.first + 1;
  }
  if (total > (1u << 20)) return fail("pool: more than 2^20 addresses");
  if (c.port_first == 0 || c.port_first > c.port_last) {
    return fail("ports: must be a range within 1-65535 (first " + std::to_string(c.port_first) + ", last " +
                std::to_string(c.port_last) + ")");
  }
  const uint32_t range = uint32_t(c.port_last) - c.port_first + 1;
  if (c.block_size) {
    if (c.block_size > range) return fail("block size " + std::to_string(c.block_size) + " is larger than the port range (" + std::to_string(range) + " ports)");
    if (c.max_blocks == 0) return fail("max blocks per host: must be at least 1");
  }
  for (size_t i = 0; i < c.statics.size(); i++) {
    const StaticNat& s = c.statics[i];
    if (PoolIndexOf(c.pool, s.outside) >= 0) return fail("static[" + std::to_string(i) + "]: outside address " + Ip(s.outside) + " is in the pool");
    for (size_t j = 0; j < i; j++) {
      if (c.statics[j].inside == s.inside) return fail("static[" + std::to_string(i) + "]: inside address " + Ip(s.inside) + " is already static[" + std::to_string(j) + "]");
      if (c.statics[j].outside == s.outside) return fail("static[" + std::to_string(i) + "]: outside address " + Ip(s.outside) + " is already static[" + std::to_string(j) + "]");
    }
  }
  for (size_t i = 0; i < c.forwards.size(); i++) {
    const Forward& f = c.forwards[i];
    if (f.proto != kProtoTcp && f.proto != kProtoUdp) return fail("forwards[" + std::to_string(i) + "]: protocol must be tcp or udp");
    if (f.outside_port == 0 || f.inside_port == 0) return fail("forwards[" + std::to_string(i) + "]: ports must be 1-65535");
    for (const StaticNat& s : c.statics) {
      if (s.outside == f.outside) return fail("forwards[" + std::to_string(i) + "]: outside address " + Ip(f.outside) + " is a static NAT address");
    }
    for (size_t j = 0; j < i; j++) {
      const Forward& g = c.forwards[j];
      if (g.proto == f.proto && g.outside == f.outside && g.outside_port == f.outside_port)
        return fail("forwards[" + std::to_string(i) + "]: " + Ip(f.outside) + ":" + std::to_string(f.outside_port) + " is already forwarded by forwards[" + std::to_string(j) + "]");
      if (g.proto == f.proto && g.inside == f.inside && g.inside_port == f.inside_port)
        return fail("forwards[" + std::to_string(i) + "]: inside endpoint " + Ip(f.inside) + ":" + std::to_string(f.inside_port) + " is already forwarded by forwards[" + std::to_string(j) + "]");
    }
  }
  if (c.fragment_timeout == 0 || c.ticks_per_second == 0) return fail("fragment timeout and ticks per second must be > 0");

  ct::Config cc;
  cc.capacity = c.sessions;
  cc.ticks_per_second = c.ticks_per_second;
  cc.timeouts = c.timeouts;
  cc.seed = c.seed;
  cc.hugepages = c.hugepages;
  std::string err;
  ct_ = ct::Table::Create(cc, &err);
  if (!ct_) return fail("sessions: " + err);
  seed_ = c.seed ? c.seed * 0x9E3779B97F4A7C15ull : (uint64_t(std::random_device()()) << 32 | std::random_device()()) | 1;
  frag_ticks_ = uint64_t(c.fragment_timeout) * c.ticks_per_second;

  map_cap_ = (c.mappings ? c.mappings : c.sessions) + uint32_t(c.forwards.size());
  index_size_ = std::max<uint32_t>(8, uint32_t(double(map_cap_) / 0.75) + 1);
  maps_bytes_ = PageRound(size_t(map_cap_) * sizeof(Mapping));
  index_bytes_ = PageRound(size_t(index_size_) * 4);
  maps_ = static_cast<Mapping*>(MapArray(maps_bytes_, c.hugepages));
  by_inside_ = static_cast<uint32_t*>(MapArray(index_bytes_, c.hugepages));
  by_outside_ = static_cast<uint32_t*>(MapArray(index_bytes_, c.hugepages));
  if (!maps_ || !by_inside_ || !by_outside_) return fail("out of memory (mappings)");
  if (c.filtering == Filtering::kAddressDependent) {
    filter_size_ = std::max<uint32_t>(64, uint32_t(double(map_cap_) / 4 / 0.75));
    filter_bytes_ = PageRound(size_t(filter_size_) * sizeof(FilterEntry));
    filters_ = static_cast<FilterEntry*>(MapArray(filter_bytes_, c.hugepages));
    if (!filters_) return fail("out of memory (filters)");
  }

  for (const AddressRange& r : c.pool) {
    for (uint64_t a = r.first; a <= r.last; a++) {
      AddressState s;
      s.addr = uint32_t(a);
      for (int k = 0; k < 3; k++) s.free[k] = range;
      if (c.block_size) {
        const uint32_t nb = range / c.block_size;
        s.block_owner.assign(nb, 0);
        s.block_used.assign(nb, 0);
        s.free_blocks = nb;
      }
      addrs_.push_back(std::move(s));
    }
  }
  std::sort(addrs_.begin(), addrs_.end(), [](const AddressState& a, const AddressState& b) { return a.addr < b.addr; });
  pool_size_ = uint32_t(addrs_.size());

  // Port forwards are permanent mappings; on a pool address their ports are taken out of the
  // dynamic range (and their blocks, with block allocation, are never handed out).
  for (const Forward& f : c.forwards) {
    const int32_t ai = PoolIndex(f.outside);
    if (ai >= 0) {
      AddressState& a = addrs_[size_t(ai)];
      const int slot = ProtoSlot(f.proto);
      if (!a.Used(slot, f.outside_port) && f.outside_port >= c.port_first && f.outside_port <= c.port_last) a.free[slot]--;
      a.Set(slot, f.outside_port, true);
      if (c.block_size && f.outside_port >= c.port_first) {
        const uint32_t b = (f.outside_port - c.port_first) / c.block_size;
        if (b < a.block_owner.size() && a.block_owner[b] == 0) {
          a.block_owner[b] = 0xffffffffu;  // reserved
          a.free_blocks--;
        }
      }
    }
    const int32_t m = NewMapping(f.inside, f.inside_port, f.proto, f.outside, f.outside_port, true);
    if (m < 0) return fail("forwards: no room for their mappings");
  }
  return true;
}

// The index of addr among the pool's addresses, or -1.
int32_t Nat::PoolIndexOf(const std::vector<AddressRange>& pool, uint32_t addr) {
  for (size_t i = 0; i < pool.size(); i++) {
    if (addr >= pool[i].first && addr <= pool[i].last) return int32_t(i);
  }
  return -1;
}

int32_t Nat::PoolIndex(uint32_t addr) const {
  size_t lo = 0, hi = addrs_.size();
  while (lo < hi) {
    const size_t mid = (lo + hi) / 2;
    if (addrs_[mid].addr < addr) lo = mid + 1;
    else hi = mid;
  }
  return lo < addrs_.size() && addrs_[lo].addr == addr ? int32_t(lo) : -1;
}

const StaticNat* Nat::StaticByInside(uint32_t a) const {
  for (const StaticNat& s : cfg_.statics) {
    if (s.inside == a) return &s;
  }
  return nullptr;
}

const StaticNat* Nat::StaticByOutside(uint32_t a) const {
  for (const StaticNat& s : cfg_.statics) {
    if (s.outside == a) return &s;
  }
  return nullptr;
}

bool Nat::IsLocal(uint32_t a) const { return std::find(cfg_.local.begin(), cfg_.local.end(), a) != cfg_.local.end(); }

size_t Nat::MemoryBytes() const { return ct_->MemoryBytes() + maps_bytes_ + 2 * index_bytes_ + filter_bytes_; }

// ---------------------------------------------------------------------------------------------
// Mappings (mu_ held).

int32_t Nat::FindMappingByInside(uint32_t addr, uint16_t port, uint8_t proto) const {
  const uint32_t pp = uint32_t(port) | uint32_t(proto) << 16;
  uint32_t i = ct::detail::FastRange(uint32_t(Hash3(addr, pp, seed_)), index_size_);
  for (;;) {
    const uint32_t v = by_inside_[i];
    if (v == 0) return -1;
    const Mapping& m = maps_[v - 1];
    if (m.inside == addr && m.inside_port == port && m.proto == proto) return int32_t(v - 1);
    i = i + 1 == index_size_ ? 0 : i + 1;
  }
}

int32_t Nat::FindMappingByOutside(uint32_t addr, uint16_t port, uint8_t proto) const {
  const uint32_t pp = uint32_t(port) | uint32_t(proto) << 16;
  uint32_t i = ct::detail::FastRange(uint32_t(Hash3(addr ^ 0x5bd1e995u, pp, seed_)), index_size_);
  for (;;) {
    const uint32_t v = by_outside_[i];
    if (v == 0) return -1;
    const Mapping& m = maps_[v - 1];
    if (m.outside == addr && m.outside_port == port && m.proto == proto) return int32_t(v - 1);
    i = i + 1 == index_size_ ? 0 : i + 1;
  }
}

namespace {
// Linear probing with backward-shift deletion (no tombstones): `home` gives an entry's slot.
template <class Home>
void IndexErase(uint32_t* idx, uint32_t size, uint32_t value, Home home) {
  uint32_t i = home(value);
  while (idx[i] != value) i = i + 1 == size ? 0 : i + 1;
  uint32_t hole = i;
  for (uint32_t j = hole + 1 == size ? 0 : hole + 1; idx[j] != 0; j = j + 1 == size ? 0 : j + 1) {
    const uint32_t h = home(idx[j]);
    // Move idx[j] into the hole if its home is not in (hole, j] (cyclically).
    const bool in_range = hole < j ? (h > hole && h <= j) : (h > hole || h <= j);
    if (!in_range) {
      idx[hole] = idx[j];
      hole = j;
    }
  }
  idx[hole] = 0;
}
}  // namespace

int32_t Nat::NewMapping(uint32_t in, uint16_t in_port, uint8_t proto, uint32_t out, uint16_t out_port, bool permanent) {
  uint32_t mi;
  if (map_free_) {
    mi = map_free_ - 1;
    map_free_ = maps_[mi].remote;  // free list link
  } else if (map_next_ < map_cap_) {
    mi = map_next_++;
  } else {
    return -1;
  }
  Mapping& m = maps_[mi];
  m.inside = in, m.outside = out, m.inside_port = in_port, m.outside_port = out_port, m.proto = proto;
  m.flags = permanent ? kMapPermanent : 0;
  m.gen = uint16_t(m.gen + 1);
  m.refs = permanent ? 1 : 0;
  m.remote = 0;
  const uint32_t pp_in = uint32_t(in_port) | uint32_t(proto) << 16, pp_out = uint32_t(out_port) | uint32_t(proto) << 16;
  uint32_t i = ct::detail::FastRange(uint32_t(Hash3(in, pp_in, seed_)), index_size_);
  while (by_inside_[i]) i = i + 1 == index_size_ ? 0 : i + 1;
  by_inside_[i] = mi + 1;
  i = ct::detail::FastRange(uint32_t(Hash3(out ^ 0x5bd1e995u, pp_out, seed_)), index_size_);
  while (by_outside_[i]) i = i + 1 == index_size_ ? 0 : i + 1;
  by_outside_[i] = mi + 1;
  if (!permanent) {
    live_mappings_++;
    mappings_created_++;
  }
  return int32_t(mi);
}

// Frees a dynamic mapping whose last session went: its port (and block, once empty), its host
// reference, the log entry.
void Nat::DropMapping(int32_t mi, uint64_t now) {
  Mapping& m = maps_[mi];
  const uint32_t v = uint32_t(mi) + 1;
  IndexErase(by_inside_, index_size_, v, [&](uint32_t x) {
    const Mapping& e = maps_[x - 1];
    return ct::detail::FastRange(uint32_t(Hash3(e.inside, uint32_t(e.inside_port) | uint32_t(e.proto) << 16, seed_)), index_size_);
  });
  IndexErase(by_outside_, index_size_, v, [&](uint32_t x) {
    const Mapping& e = maps_[x - 1];
    return ct::detail::FastRange(uint32_t(Hash3(e.outside ^ 0x5bd1e995u, uint32_t(e.outside_port) | uint32_t(e.proto) << 16, seed_)), index_size_);
  });
  const int32_t ai = PoolIndex(m.outside);
  if (ai >= 0) {
    AddressState& a = addrs_[size_t(ai)];
    const int slot = ProtoSlot(m.proto);
    if (slot >= 0) {
      a.Set(slot, m.outside_port, false);
      a.free[slot]++;
    }
    if (cfg_.block_size) {
      const uint32_t b = (m.outside_port - cfg_.port_first) / cfg_.block_size;
      if (--a.block_used[b] == 0) {
        auto h = hosts_.find(m.inside);
        if (h != hosts_.end()) {
          auto& bl = h->second.blocks;
          bl.erase(std::remove(bl.begin(), bl.end(), b), bl.end());
        }
        a.block_owner[b] = 0;
        a.free_blocks++;
        blocks_--;
        if (cfg_.log_blocks) {
          const uint16_t first = uint16_t(cfg_.port_first + b * cfg_.block_size);
          Log(Event{now, EventType::kBlockReleased, 0, m.inside, 0, m.outside, first, uint16_t(first + cfg_.block_size - 1)});
        }
      }
    }
  }
  if (cfg_.log_mappings) Log(Event{now, EventType::kMappingRemoved, m.proto, m.inside, m.inside_port, m.outside, m.outside_port, 0});
  auto h = hosts_.find(m.inside);
  if (h != hosts_.end() && --h->second.refs == 0) {
    addrs_[h->second.addr_index].hosts--;
    hosts_.erase(h);
  }
  m.refs = 0;
  m.remote = map_free_;
  map_free_ = v;
  live_mappings_--;
}

// A port (or ICMP identifier) on the inside address's paired pool address: the inside port
// itself when free and in range (port preservation), else the next free one from a hashed start;
// with port blocks, within the host's blocks, taking a new block when they are full.
int32_t Nat::AllocatePort(uint32_t inside, uint16_t want, uint8_t proto, uint64_t now, uint32_t* out_addr,
                          uint16_t* out_port, Action* why) {
  const int slot = ProtoSlot(proto);
  auto hit = hosts_.find(inside);
  Host* host = hit == hosts_.end() ? nullptr : &hit->second;
  if (!host) {
    if (pool_size_ == 0) {
      *why = Action::kPoolExhausted;
      return -1;
    }
    // A new host takes the least loaded of a few hashed candidates that still has room.
    const uint32_t start = ct::detail::FastRange(uint32_t(Hash3(inside, 0x10000, seed_)), pool_size_);
    int32_t best = -1;
    for (uint32_t k = 0; k < pool_size_; k++) {
      const uint32_t ai = (start + k) % pool_size_;
      const AddressState& a = addrs_[ai];
      const bool room = cfg_.block_size ? a.free_blocks > 0 : a.free[slot] > 0;
      if (!room) continue;
      if (best < 0 || a.hosts < addrs_[size_t(best)].hosts) best = int32_t(ai);
      if (k >= 8 && best >= 0) break;
    }
    if (best < 0) {
      *why = Action::kPoolExhausted;
      return -1;
    }
    Host h;
    h.addr_index = uint32_t(best);
    host = &hosts_.emplace(inside, std::move(h)).first->second;
    addrs_[size_t(best)].hosts++;
  }
  AddressState& a = addrs_[host->addr_index];
  auto take = [&](uint16_t p) {
    a.Set(slot, p, true);
    a.free[slot]--;
    *out_addr = a.addr;
    *out_port = p;
    return 0;
  };
  auto scan = [&](uint32_t first, uint32_t last, uint32_t from) -> int32_t {  // first free port in [first, last]
    for (uint32_t k = 0, n = last - first + 1; k < n; k++) {
      uint32_t p = from + k;
      if (p > last) p -= n;
      if (!a.Used(slot, uint16_t(p))) return int32_t(p);
    }
    return -1;
  };
  const uint32_t lo = cfg_.port_first, hi = cfg_.port_last;
  if (!cfg_.block_size) {
    if (a.free[slot] == 0) {
      *why = Action::kPoolExhausted;
      return -1;
    }
    if (want >= lo && want <= hi && !a.Used(slot, want)) return take(want);
    const uint32_t from = lo + ct::detail::FastRange(uint32_t(Hash3(inside, want | uint32_t(proto) << 16, seed_ + now)), hi - lo + 1);
    const int32_t p = scan(lo, hi, from);
    if (p < 0) {
      *why = Action::kPoolExhausted;
      return -1;
    }
    return take(uint16_t(p));
  }
  const uint32_t bs = cfg_.block_size;
  for (uint32_t b : host->blocks) {
    const uint32_t first = lo + b * bs;
    const int32_t p = scan(first, first + bs - 1, first);
    if (p >= 0) {
      a.block_used[b]++;
      return take(uint16_t(p));
    }
  }
  if (host->blocks.size() >= cfg_.max_blocks || a.free_blocks == 0) {
    *why = Action::kPoolExhausted;
    return -1;
  }
  const uint32_t nb = uint32_t(a.block_owner.size());
  const uint32_t start = ct::detail::FastRange(uint32_t(Hash3(inside, 0x20000 | uint32_t(host->blocks.size()), seed_ + now)), nb);
  for (uint32_t k = 0; k < nb; k++) {
    const uint32_t b = (start + k) % nb;
    if (a.block_owner[b] != 0) continue;
    a.block_owner[b] = inside;
    a.free_blocks--;
    host->blocks.push_back(b);
    blocks_++;
    const uint32_t first = lo + b * bs;
    if (cfg_.log_blocks) Log(Event{now, EventType::kBlockAllocated, 0, inside, 0, a.addr, uint16_t(first), uint16_t(first + bs - 1)});
    const int32_t p = scan(first, first + bs - 1, first);
    if (p < 0) break;  // a forward's port filled it: cannot happen (such blocks are reserved)
    a.block_used[b]++;
    return take(uint16_t(p));
  }
  *why = Action::kPoolExhausted;
  return -1;
}

bool Nat::FilterAllows(int32_t mi, uint32_t remote) const {
  const Mapping& m = maps_[mi];
  if (cfg_.filtering == Filtering::kEndpointIndependent || (m.flags & kMapPermanent) || m.remote == remote) return true;
  uint32_t i = ct::detail::FastRange(uint32_t(Hash3(remote, uint32_t(mi), seed_ ^ 0xf1)), filter_size_);
  for (uint32_t k = 0; k < 64; k++) {
    const FilterEntry& e = filters_[i];
    if (e.mapping == 0) return false;
    if (e.mapping == uint32_t(mi) + 1 && e.gen == m.gen && e.remote == remote) return true;
    i = i + 1 == filter_size_ ? 0 : i + 1;
  }
  return false;
}

// Remembers that mapping mi sent to `remote` (address-dependent filtering). Entries of mappings
// freed since are stale (generation) and get overwritten; a full neighbourhood fails closed.
void Nat::FilterAdd(int32_t mi, uint32_t remote) {
  Mapping& m = maps_[mi];
  if (cfg_.filtering != Filtering::kAddressDependent || (m.flags & kMapPermanent)) return;
  if (m.remote == 0) {
    m.remote = remote;
    return;
  }
  if (m.remote == remote) return;
  uint32_t i = ct::detail::FastRange(uint32_t(Hash3(remote, uint32_t(mi), seed_ ^ 0xf1)), filter_size_);
  FilterEntry* reuse = nullptr;
  for (uint32_t k = 0; k < 64; k++) {
    FilterEntry& e = filters_[i];
    if (e.mapping == 0) {
      if (!reuse) reuse = &e;
      break;
    }
    if (e.mapping == uint32_t(mi) + 1 && e.gen == m.gen && e.remote == remote) return;
    const Mapping& o = maps_[e.mapping - 1];
    if (!reuse && (o.refs == 0 || o.gen != e.gen)) reuse = &e;
    i = i + 1 == filter_size_ ? 0 : i + 1;
  }
  if (reuse) *reuse = FilterEntry{uint32_t(mi) + 1, m.gen, remote};
}

void Nat::Log(const Event& e) {
  if (log_.size() < cfg_.log_capacity) log_.push_back(e);
  else log_dropped_++;
}

uint32_t Nat::Drain(Event* out, uint32_t max) {
  std::lock_guard<std::mutex> lock(mu_);
  const uint32_t k = uint32_t(std::min<size_t>(max, log_.size()));
  std::copy(log_.begin(), log_.begin() + k, out);
  log_.erase(log_.begin(), log_.begin() + k);
  return k;
}

// ---------------------------------------------------------------------------------------------
// New sessions (mu_ held).

bool Nat::PlanNew(const Packet& p, const Classified& c, uint64_t now, New* out, Action* why) {
  const Tuple& t = c.tuple;
  const uint8_t proto = t.proto;
  const bool ported = proto == kProtoTcp || proto == kProtoUdp;
  const bool icmp = proto == kProtoIcmp;
  *out = New();
  if (p.side == kInside) {
    // Source: static 1:1, the endpoint's mapping (EIM), or a new one; port-less protocols take
    // the host's paired address and no port.
    uint32_t ext = 0;
    uint16_t ext_port = t.sport;
    int32_t mi = -1;
    if (const StaticNat* s = StaticByInside(t.src)) {
      ext = s->outside;
    } else if (ported || icmp) {
      mi = FindMappingByInside(t.src, t.sport, proto);
      if (mi < 0) {
        if (map_free_ == 0 && map_next_ >= map_cap_) {
          *why = Action::kTableFull;
          return false;
        }
        uint32_t a;
        uint16_t port;
        if (AllocatePort(t.src, t.sport, proto, now, &a, &port, why) < 0) return false;
        mi = NewMapping(t.src, t.sport, proto, a, port, false);
        hosts_[t.src].refs++;
        if (cfg_.log_mappings) Log(Event{now, EventType::kMappingCreated, proto, t.src, t.sport, a, port, 0});
      }
      ext = maps_[mi].outside;
      ext_port = maps_[mi].outside_port;
    } else {
      auto h = hosts_.find(t.src);
      if (h == hosts_.end()) {
        // Paired pooling for a host that has no mapping yet: the same choice AllocatePort makes.
        if (pool_size_ == 0) {
          *why = Action::kPoolExhausted;
          return false;
        }
        const uint32_t ai = ct::detail::FastRange(uint32_t(Hash3(t.src, 0x10000, seed_)), pool_size_);
        h = hosts_.emplace(t.src, Host{ai, 0, {}}).first;
        addrs_[ai].hosts++;
      }
      h->second.refs++;
      ext = addrs_[h->second.addr_index].addr;
      ext_port = 0;
      out->host = t.src;
      out->mark |= kMarkHost;
    }
    // Destination: an outside endpoint of ours (hairpinning), our own address, or elsewhere.
    uint32_t dst = t.dst;
    uint16_t dport = t.dport;
    if (ported) {
      const int32_t m2 = FindMappingByOutside(t.dst, t.dport, proto);
      if (m2 >= 0) {
        if (!FilterAllows(m2, ext)) {
          *why = Action::kFiltered;
          if (mi >= 0 && maps_[mi].refs == 0) DropMapping(mi, now);
          if (out->mark & kMarkHost) --hosts_[t.src].refs;
          return false;
        }
        dst = maps_[m2].inside;
        dport = maps_[m2].inside_port;
        out->hairpin = true;
      }
    }
    if (!out->hairpin) {
      if (const StaticNat* s = StaticByOutside(t.dst)) {
        dst = s->inside;
        out->hairpin = true;
      } else if (IsLocal(t.dst) || PoolIndex(t.dst) >= 0) {
        *why = Action::kLocal;
        if (mi >= 0 && maps_[mi].refs == 0) DropMapping(mi, now);
        if (out->mark & kMarkHost) --hosts_[t.src].refs;
        return false;
      }
    }
    out->reply = icmp     ? ct::IcmpQuery(dst, ext, ext_port)
                 : ported ? ct::MakeTuple(dst, ext, dport, ext_port, proto)
                          : ct::MakeTuple(dst, ext, 0, 0, proto);
    out->mark |= out->hairpin ? 0 : kMarkReplyOutside;
    if (mi >= 0) {
      maps_[mi].refs++;
      out->mapping = mi;
      out->mark |= kMarkMapping;
      FilterAdd(mi, t.dst);
    }
    return true;
  }
  // Outside: a port forward or a dynamic mapping (TCP, UDP), or static 1:1 NAT.
  uint32_t dst = 0;
  uint16_t dport = t.dport;
  if (ported) {
    const int32_t mi = FindMappingByOutside(t.dst, t.dport, proto);
    if (mi >= 0) {
      if (!FilterAllows(mi, t.src)) {
        *why = Action::kFiltered;
        return false;
      }
      maps_[mi].refs++;
      out->mapping = mi;
      out->mark |= kMarkMapping | kMarkExtInOrig;
      dst = maps_[mi].inside;
      dport = maps_[mi].inside_port;
    }
  }
  if (!dst) {
    if (const StaticNat* s = StaticByOutside(t.dst)) {
      dst = s->inside;
    } else {
      *why = IsLocal(t.dst) ? Action::kLocal : Action::kNoMapping;
      return false;
    }
  }
  out->reply = icmp     ? ct::IcmpQuery(dst, t.src, t.sport)
               : ported ? ct::MakeTuple(dst, t.src, dport, t.sport, proto)
                        : ct::MakeTuple(dst, t.src, 0, 0, proto);
  out->mark |= kMarkOrigOutside;
  return true;
}

// Gives back what PlanNew took for a flow that did not become a session.
void Nat::Undo(const New& nw, uint64_t now) {
  if (nw.mapping >= 0) {
    Mapping& m = maps_[nw.mapping];
    if (--m.refs == 0) DropMapping(nw.mapping, now);
  }
  if (nw.mark & kMarkHost) {
    auto h = hosts_.find(nw.host);
    if (h != hosts_.end() && --h->second.refs == 0) {
      addrs_[h->second.addr_index].hosts--;
      hosts_.erase(h);
    }
  }
}

// What a session that left the table held.
void Nat::Release(const ct::SessionInfo& s, uint64_t now) {
  if (s.mark & kMarkMapping) {
    // The outside endpoint: the original's destination (inbound) or the reply's (outbound).
    const Tuple& t = (s.mark & kMarkExtInOrig) ? s.orig : s.reply;
    const int32_t mi = FindMappingByOutside(t.dst, t.dport, s.orig.proto);
    if (mi >= 0 && --maps_[mi].refs == 0) DropMapping(mi, now);
  }
  if (s.mark & kMarkHost) {
    auto h = hosts_.find(s.orig.src);
    if (h != hosts_.end() && --h->second.refs == 0) {
      addrs_[h->second.addr_index].hosts--;
      hosts_.erase(h);
    }
  }
}

// ---------------------------------------------------------------------------------------------
// The burst path.

namespace {
constexpr uint32_t kChunk = 256;

Action Destination(uint8_t mark, ct::Dir to_dir) {
  // A packet matching direction d leaves toward the side the other direction arrives from.
  const bool orig_out = mark & kMarkOrigOutside, reply_out = mark & kMarkReplyOutside;
  if (!orig_out && !reply_out) return Action::kHairpin;
  const bool out = to_dir == ct::kOriginal ? orig_out : reply_out;
  return out ? Action::kToOutside : Action::kToInside;
}

Side ArrivalSide(uint8_t mark, ct::Dir d) {
  return (d == ct::kOriginal ? (mark & kMarkOrigOutside) : (mark & kMarkReplyOutside)) ? kOutside : kInside;
}
}  // namespace

void Nat::Translate(const Packet* pkts, uint32_t n, uint64_t now, Action* act, const uint64_t* cookies) {
  Classified c[kChunk];
  Tuple keys[kChunk];
  ct::PacketMeta meta[kChunk];
  ct::Verdict v[kChunk];
  uint32_t pos[kChunk], miss[kChunk], frag[kChunk];
  bool err[kChunk];
  uint64_t counts[size_t(Action::kCount)] = {};
  for (uint32_t off = 0; off < n; off += kChunk) {
    const uint32_t cnt = std::min(kChunk, n - off);
    const Packet* pk = pkts + off;
    Action* ac = act + off;
    uint32_t m = 0, nf = 0;
    for (uint32_t i = 0; i < cnt; i++) {
      const Kind k = Classify(pk[i].ip, pk[i].len, &c[i]);
      switch (k) {
        case Kind::kWhole:
        case Kind::kFirstFragment:
          ac[i] = Action::kInvalid;
          keys[m] = c[i].tuple;
          meta[m] = c[i].meta;
          err[m] = false;
          pos[m++] = i;
          break;
        case Kind::kIcmpError:
          ac[i] = Action::kInvalid;
          keys[m] = ct::Inverse(c[i].quoted);
          meta[m] = c[i].meta;
          err[m] = true;
          pos[m++] = i;
          break;
        case Kind::kLaterFragment: frag[nf++] = i; break;
        case Kind::kTruncated:
        case Kind::kBadHeader: ac[i] = Action::kMalformed; break;
        default: ac[i] = Action::kUnsupported; break;
      }
    }
    ct_->Lookup(keys, m, now, v);
    // Wrong-side hits and ICMP errors are kept out of Track (errors change no state).
    ct::Verdict saved[kChunk];
    for (uint32_t j = 0; j < m; j++) {
      saved[j] = ct::Verdict();
      if (v[j].result != ct::Result::kHit) continue;
      if (ArrivalSide(v[j].mark, v[j].dir) != pk[pos[j]].side) {
        ac[pos[j]] = Action::kWrongSide;
        v[j].result = ct::Result::kInvalid;
        continue;
      }
      if (err[j]) {
        saved[j] = v[j];
        v[j].result = ct::Result::kIgnored;
      }
    }
    ct_->Track(meta, m, now, v);
    uint32_t nmiss = 0;
    for (uint32_t j = 0; j < m; j++) {
      const uint32_t i = pos[j];
      if (err[j]) {
        if (saved[j].result != ct::Result::kHit) {
          if (ac[i] != Action::kWrongSide) ac[i] = Action::kNoSession;
          continue;
        }
        Tuple o;
        if (!ct_->Other(saved[j].session, saved[j].gen, saved[j].dir, &o)) {
          ac[i] = Action::kNoSession;
          continue;
        }
        const Tuple kt = ct::Inverse(o);  // the error's own direction, translated
        const uint32_t outer_src = Be32At(pk[i].ip + 12) == keys[j].src ? kt.src : Be32At(pk[i].ip + 12);
        RewriteIcmpError(pk[i].ip, pk[i].len, c[i], outer_src, kt.dst, o);
        ac[i] = Destination(saved[j].mark, saved[j].dir == ct::kOriginal ? ct::kReply : ct::kOriginal);
        continue;
      }
      switch (v[j].result) {
        case ct::Result::kTracked:
        case ct::Result::kIgnored: {
          Tuple o;
          if (!ct_->Other(v[j].session, v[j].gen, v[j].dir, &o)) {
            miss[nmiss++] = j;
            break;
          }
          const Tuple to = ct::Inverse(o);
          const Kind k = c[i].frag.more ? Kind::kFirstFragment : Kind::kWhole;
          Rewrite(pk[i].ip, pk[i].len, k, c[i], to);
          ac[i] = Destination(v[j].mark, v[j].dir == ct::kOriginal ? ct::kReply : ct::kOriginal);
          if (k == Kind::kFirstFragment) NoteFirstFragment(c[i], to, ac[i], now);
          break;
        }
        case ct::Result::kMiss: miss[nmiss++] = j; break;
        case ct::Result::kInvalid:
          if (ac[i] != Action::kWrongSide) ac[i] = Action::kInvalid;
          if (c[i].frag.more) NoteFirstFragment(c[i], Tuple(), ac[i], now);
          break;
        default: ac[i] = Action::kInvalid; break;
      }
    }
    if (nmiss) {
      // Slow path: plan each new flow, create the sessions in one conntrack call, undo the
      // plans that did not become sessions.
      Tuple k2[kChunk], r2[kChunk];
      ct::PacketMeta m2[kChunk];
      uint8_t marks[kChunk];
      ct::Verdict v2[kChunk];
      New plans[kChunk];
      uint32_t p2[kChunk];
      ct::SessionInfo freed[2 * kChunk];
      uint32_t nfreed = 0, q = 0;
      std::lock_guard<std::mutex> lock(mu_);
      for (uint32_t x = 0; x < nmiss; x++) {
        const uint32_t j = miss[x], i = pos[j];
        Action why = Action::kNoMapping;
        if (!PlanNew(pk[i], c[i], now, &plans[q], &why)) {
          ac[i] = why;
          if (c[i].frag.more) NoteFirstFragment(c[i], Tuple(), why == Action::kLocal ? why : Action::kNoSession, now);
          continue;
        }
        k2[q] = keys[j];
        r2[q] = plans[q].reply;
        m2[q] = meta[j];
        marks[q] = plans[q].mark;
        v2[q] = ct::Verdict();
        p2[q++] = j;
      }
      if (q) ct_->Create(k2, r2, m2, q, now, v2, freed, &nfreed, marks);
      for (uint32_t y = 0; y < nfreed; y++) Release(freed[y], now);
      for (uint32_t x = 0; x < q; x++) {
        const uint32_t j = p2[x], i = pos[j];
        const ct::Result r = v2[x].result;
        if (r != ct::Result::kCreated) Undo(plans[x], now);
        Tuple o;
        if (r == ct::Result::kCreated) {
          o = plans[x].reply;
        } else if ((r == ct::Result::kTracked || r == ct::Result::kIgnored) &&
                   ct_->Other(v2[x].session, v2[x].gen, v2[x].dir, &o)) {
          // The same new flow twice in one burst: the first packet created the session.
        } else {
          ac[i] = r == ct::Result::kFull ? Action::kTableFull : Action::kInvalid;
          if (c[i].frag.more) NoteFirstFragment(c[i], Tuple(), Action::kNoSession, now);
          continue;
        }
        const Tuple to = ct::Inverse(o);
        const Kind k = c[i].frag.more ? Kind::kFirstFragment : Kind::kWhole;
        Rewrite(pk[i].ip, pk[i].len, k, c[i], to);
        ac[i] = Destination(v2[x].mark, v2[x].dir == ct::kOriginal ? ct::kReply : ct::kOriginal);
        if (k == Kind::kFirstFragment) NoteFirstFragment(c[i], to, ac[i], now);
      }
    }
    if (nf) TranslateFragments(pk, c, frag, nf, now, ac, cookies ? cookies + off : nullptr);
    for (uint32_t i = 0; i < cnt; i++) counts[size_t(ac[i])]++;
  }
  for (size_t a = 0; a < size_t(Action::kCount); a++) {
    if (counts[a]) actions_[a].fetch_add(counts[a], std::memory_order_relaxed);
  }
}

// ---------------------------------------------------------------------------------------------
// Fragments: the first fragment's translation is remembered per datagram (src, dst, proto, id
// as received); later fragments take it; those that come first are copied and held.

void Nat::NoteFirstFragment(const Classified& c, const Tuple& to, Action a, uint64_t now) {
  std::lock_guard<std::mutex> lock(frag_mu_);
  auto it = frags_.find(FragKey(c));
  if (it == frags_.end()) {
    if (frags_.size() >= cfg_.fragment_entries) return;  // later fragments: fragment-limit
    it = frags_.emplace(FragKey(c), FragEntry()).first;
  }
  const bool was_unknown = it->second.action == Action::kHeld;
  it->second.to = to;
  it->second.action = IsDrop(a) ? Action::kNoSession : a;
  it->second.expires = now + frag_ticks_;
  if (was_unknown && !it->second.held.empty()) releasable_.fetch_add(it->second.held.size(), std::memory_order_relaxed);
}

void Nat::TranslateFragments(const Packet* pkts, const Classified* c, const uint32_t* idx, uint32_t m,
                             uint64_t now, Action* act, const uint64_t* cookies) {
  std::lock_guard<std::mutex> lock(frag_mu_);
  for (uint32_t x = 0; x < m; x++) {
    const uint32_t i = idx[x];
    const Packet& p = pkts[i];
    auto it = frags_.find(FragKey(c[i]));
    if (it != frags_.end() && it->second.expires > now && it->second.action != Action::kHeld) {
      const FragEntry& e = it->second;
      if (e.action == Action::kNoSession || e.action == Action::kLocal) {
        act[i] = e.action;
      } else {
        Rewrite(p.ip, p.len, Kind::kLaterFragment, c[i], e.to);
        act[i] = e.action;
      }
      continue;
    }
    if (it != frags_.end() && it->second.expires <= now) {
      // A datagram id seen before and timed out: start over, unless its copies still wait to go.
      if (!it->second.held.empty()) {
        act[i] = Action::kFragmentLimit;
        continue;
      }
      frags_.erase(it);
      it = frags_.end();
    }
    const size_t bytes = size_t(p.l2_len) + c[i].total;
    if ((it == frags_.end() && frags_.size() >= cfg_.fragment_entries) || held_bytes_ + bytes > cfg_.fragment_hold_bytes) {
      act[i] = Action::kFragmentLimit;
      continue;
    }
    if (it == frags_.end()) {
      it = frags_.emplace(FragKey(c[i]), FragEntry()).first;
      it->second.expires = now + frag_ticks_;
    }
    FragEntry::Held h;
    h.frame.assign(p.ip - p.l2_len, p.ip + c[i].total);
    h.l2_len = p.l2_len;
    h.cookie = cookies ? cookies[i] : 0;
    it->second.held.push_back(std::move(h));
    held_bytes_ += bytes;
    held_count_.fetch_add(1, std::memory_order_relaxed);
    act[i] = Action::kHeld;
  }
}

bool Nat::HasReleasable(uint64_t now) const {
  return releasable_.load(std::memory_order_relaxed) > 0 ||
         (held_count_.load(std::memory_order_relaxed) > 0 && now >= next_frag_sweep_.load(std::memory_order_relaxed));
}

uint32_t Nat::ReleaseHeld(uint64_t now, Released* out, uint32_t max) {
  std::lock_guard<std::mutex> lock(frag_mu_);
  uint32_t k = 0;
  uint64_t earliest = UINT64_MAX;
  for (auto it = frags_.begin(); it != frags_.end() && k < max;) {
    FragEntry& e = it->second;
    const bool expired = e.expires <= now;
    const bool known = e.action != Action::kHeld;
    while (!e.held.empty() && k < max && (known || expired)) {
      FragEntry::Held& h = e.held.back();
      Released& r = out[k++];
      held_bytes_ -= h.frame.size();
      held_count_.fetch_sub(1, std::memory_order_relaxed);
      if (known && !expired) releasable_.fetch_sub(1, std::memory_order_relaxed);
      r.l2_len = h.l2_len;
      r.cookie = h.cookie;
      r.frame = std::move(h.frame);
      e.held.pop_back();
      if (expired) {
        if (known) releasable_.fetch_sub(1, std::memory_order_relaxed);
        r.action = Action::kFragmentTimeout;
        continue;
      }
      r.action = e.action;
      if (!IsDrop(e.action) && e.action != Action::kLocal) {
        Classified hc;
        uint8_t* ip = r.frame.data() + r.l2_len;
        const uint32_t len = uint32_t(r.frame.size() - r.l2_len);
        if (Classify(ip, len, &hc) == Kind::kLaterFragment) Rewrite(ip, len, Kind::kLaterFragment, hc, e.to);
        else r.action = Action::kMalformed;
      }
    }
    if (e.held.empty() && expired) {
      it = frags_.erase(it);
      continue;
    }
    if (!e.held.empty()) earliest = std::min(earliest, e.expires);
    ++it;
  }
  next_frag_sweep_.store(earliest, std::memory_order_relaxed);
  return k;
}

// ---------------------------------------------------------------------------------------------

uint32_t Nat::Expire(uint64_t now, uint32_t budget, bool try_only) {
  ct::SessionInfo out[256];
  uint32_t total = 0;
  while (budget) {
    const uint32_t b = std::min<uint32_t>(budget, 256);
    const uint32_t k = try_only ? ct_->TryExpire(now, b, out, 256) : ct_->Expire(now, b, out, 256);
    budget -= b;
    if (k) {
      std::lock_guard<std::mutex> lock(mu_);
      for (uint32_t i = 0; i < k; i++) Release(out[i], now);
    }
    total += k;
  }
  // Datagrams whose fragments are done: forgotten after their timeout.
  if (now >= frag_sweep_at_.load(std::memory_order_relaxed)) {
    std::unique_lock<std::mutex> lock(frag_mu_, std::try_to_lock);
    if (lock.owns_lock()) {
      for (auto it = frags_.begin(); it != frags_.end();) {
        it = it->second.held.empty() && it->second.expires <= now ? frags_.erase(it) : std::next(it);
      }
      frag_sweep_at_.store(now + frag_ticks_ / 2 + 1, std::memory_order_relaxed);
    }
  }
  return total;
}

Stats Nat::stats() const {
  Stats s;
  for (size_t a = 0; a < size_t(Action::kCount); a++) s.actions[a] = actions_[a].load(std::memory_order_relaxed);
  {
    std::lock_guard<std::mutex> lock(mu_);
    s.mappings = live_mappings_;
    s.mappings_created = mappings_created_;
    s.blocks = blocks_;
    s.hosts = hosts_.size();
    s.log_dropped = log_dropped_;
  }
  s.fragments_held = held_count_.load(std::memory_order_relaxed);
  s.conntrack = ct_->stats();
  s.memory_bytes = MemoryBytes();
  return s;
}

}  // namespace vnf::nat
