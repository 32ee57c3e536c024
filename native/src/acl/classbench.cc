// ClassBench parser and trace generator (see classbench.h).
#include "acl/classbench.h"

#include <cstdio>
#include <fstream>
#include <sstream>

namespace vnf::acl {

namespace {

class LineParser {
 public:
  LineParser(std::string_view s, size_t line) : s_(s), line_(line) {}

  bool Fail(const std::string& what) {
    if (err_.empty()) {
      char buf[64];
      std::snprintf(buf, sizeof buf, "line %zu, column %zu: ", line_, pos_ + 1);
      err_ = buf + what;
    }
    return false;
  }
  const std::string& error() const { return err_; }

  void SkipSpace() {
    while (pos_ < s_.size() && (s_[pos_] == ' ' || s_[pos_] == '\t' || s_[pos_] == '\r')) pos_++;
  }
  bool AtEnd() {
    SkipSpace();
    return pos_ >= s_.size();
  }
  bool Expect(char c, const char* what) {
    if (pos_ < s_.size() && s_[pos_] == c) {
      pos_++;
      return true;
    }
    return Fail(std::string("expected '") + c + "' " + what);
  }
  // Decimal, or hex with 0x.
  bool Number(uint64_t max, uint64_t* v, const char* what) {
    size_t p = pos_;
    int base = 10;
    if (p + 1 < s_.size() && s_[p] == '0' && (s_[p + 1] == 'x' || s_[p + 1] == 'X')) {
      base = 16;
      p += 2;
    }
    uint64_t x = 0;
    size_t digits = 0;
    for (; p < s_.size(); p++, digits++) {
      const char c = s_[p];
      int d;
      if (c >= '0' && c <= '9') d = c - '0';
      else if (base == 16 && c >= 'a' && c <= 'f') d = c - 'a' + 10;
      else if (base == 16 && c >= 'A' && c <= 'F') d = c - 'A' + 10;
      else break;
      x = x * base + d;
      if (x > max) return Fail(std::string(what) + " out of range (max " + std::to_string(max) + ")");
    }
    if (digits == 0) return Fail(std::string("expected a number (") + what + ")");
    pos_ = p;
    *v = x;
    return true;
  }
  bool Prefix(uint32_t* addr, uint8_t* len, const char* what) {
    uint32_t a = 0;
    for (int i = 0; i < 4; i++) {
      uint64_t o;
      if (!Number(255, &o, what)) return false;
      a = (a << 8) | uint32_t(o);
      if (i < 3 && !Expect('.', "in an IPv4 address")) return false;
    }
    if (!Expect('/', "before the prefix length")) return false;
    uint64_t l;
    const size_t at = pos_;
    if (!Number(255, &l, "prefix length")) return false;
    if (l > 32) pos_ = at;
    if (l > 32) return Fail(std::string(what) + " prefix length " + std::to_string(l) + " is longer than the 32-bit address");
    *addr = a;
    *len = uint8_t(l);
    return true;
  }
  bool Range(uint16_t* lo, uint16_t* hi, const char* what) {
    uint64_t a, b;
    if (!Number(65535, &a, what)) return false;
    SkipSpace();
    if (!Expect(':', "between the port bounds")) return false;
    SkipSpace();
    const size_t at = pos_;
    if (!Number(65535, &b, what)) return false;
    if (a > b) {
      pos_ = at;
      return Fail(std::string(what) + " range " + std::to_string(a) + " : " + std::to_string(b) + " is inverted");
    }
    *lo = uint16_t(a);
    *hi = uint16_t(b);
    return true;
  }
  bool ValueMask(uint64_t max, uint64_t* v, uint64_t* m, const char* what) {
    if (!Number(max, v, what)) return false;
    if (!Expect('/', "between value and mask")) return false;
    return Number(max, m, what);
  }

  bool Rule(acl::Rule* r) {
    SkipSpace();
    if (!Expect('@', "at the start of a rule")) return false;
    if (!Prefix(&r->src[0], &r->src_len, "source address")) return false;
    SkipSpace();
    if (!Prefix(&r->dst[0], &r->dst_len, "destination address")) return false;
    SkipSpace();
    if (!Range(&r->sport_lo, &r->sport_hi, "source port")) return false;
    SkipSpace();
    if (!Range(&r->dport_lo, &r->dport_hi, "destination port")) return false;
    SkipSpace();
    uint64_t v, m;
    const size_t at = pos_;
    if (!ValueMask(255, &v, &m, "protocol")) return false;
    if (v & ~m && m != 0) {
      pos_ = at;
      return Fail("protocol value has bits outside its mask");
    }
    r->proto = uint8_t(v & m);
    r->proto_mask = uint8_t(m);
    if (AtEnd()) return true;
    if (!ValueMask(0xffff, &v, &m, "ClassBench flags")) return false;  // checked, then ignored
    if (!AtEnd()) return Fail("unexpected text after the last field");
    return true;
  }

 private:
  std::string_view s_;
  size_t line_;
  size_t pos_ = 0;
  std::string err_;
};

// splitmix64
struct Rand {
  uint64_t s;
  uint64_t Next() {
    uint64_t z = (s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
  }
  uint64_t Below(uint64_t n) { return n ? Next() % n : 0; }
  double Unit() { return double(Next() >> 11) * (1.0 / 9007199254740992.0); }
};

}  // namespace

std::string ParseClassBench(std::string_view text, std::vector<Rule>* out) {
  std::vector<Rule> got;
  size_t line = 0;
  uint32_t prio = uint32_t(out->size());
  while (!text.empty()) {
    line++;
    const size_t nl = text.find('\n');
    const std::string_view l = text.substr(0, nl);
    text = nl == std::string_view::npos ? std::string_view() : text.substr(nl + 1);
    LineParser p(l, line);
    if (p.AtEnd()) continue;
    Rule r;
    if (!p.Rule(&r)) return p.error();
    r.priority = prio++;
    got.push_back(r);
  }
  out->insert(out->end(), got.begin(), got.end());
  return {};
}

std::string LoadClassBench(const std::string& path, std::vector<Rule>* out) {
  std::ifstream f(path, std::ios::binary);
  if (!f) return path + ": cannot open";
  std::stringstream ss;
  ss << f.rdbuf();
  std::string e = ParseClassBench(ss.str(), out);
  return e.empty() ? e : path + ": " + e;
}

Keys Trace::keys(size_t offset) const {
  Keys k;
  if (!src.empty()) k.src = src.data() + offset;
  if (!dst.empty()) k.dst = dst.data() + offset;
  if (!version.empty()) k.version = version.data() + offset;
  if (!src6.empty()) k.src6 = src6.data() + 4 * offset;
  if (!dst6.empty()) k.dst6 = dst6.data() + 4 * offset;
  k.sport = sport.data() + offset;
  k.dport = dport.data() + offset;
  k.proto = proto.data() + offset;
  return k;
}

Trace GenerateTrace(const std::vector<Rule>& rules, size_t n, uint64_t seed, double hit) {
  Trace t;
  t.src.resize(n);
  t.dst.resize(n);
  t.sport.resize(n);
  t.dport.resize(n);
  t.proto.resize(n);
  Rand rnd{seed};
  static const uint8_t kProtos[] = {6, 17, 1};
  for (size_t i = 0; i < n; i++) {
    if (!rules.empty() && rnd.Unit() < hit) {
      const Rule& r = rules[rnd.Below(rules.size())];
      const uint32_t sl = r.src_len < 32 ? r.src_len : 32, dl = r.dst_len < 32 ? r.dst_len : 32;  // IPv6: word 0
      const uint32_t sm = sl ? ~0u << (32 - sl) : 0;
      const uint32_t dm = dl ? ~0u << (32 - dl) : 0;
      t.src[i] = (r.src[0] & sm) | (uint32_t(rnd.Next()) & ~sm);
      t.dst[i] = (r.dst[0] & dm) | (uint32_t(rnd.Next()) & ~dm);
      t.sport[i] = uint16_t(r.sport_lo + rnd.Below(uint64_t(r.sport_hi) - r.sport_lo + 1));
      t.dport[i] = uint16_t(r.dport_lo + rnd.Below(uint64_t(r.dport_hi) - r.dport_lo + 1));
      t.proto[i] = uint8_t((r.proto & r.proto_mask) | (kProtos[rnd.Below(3)] & ~r.proto_mask));
    } else {
      t.src[i] = uint32_t(rnd.Next());
      t.dst[i] = uint32_t(rnd.Next());
      t.sport[i] = uint16_t(rnd.Next());
      t.dport[i] = uint16_t(rnd.Next());
      t.proto[i] = kProtos[rnd.Below(3)];
    }
  }
  return t;
}

namespace {
void MapAddress(uint32_t v4, uint8_t len4, uint32_t word, uint32_t* out, uint8_t* len6) {
  for (uint32_t w = 0; w < 4; w++) out[w] = w < word ? kIpv6MapBase[w] : w == word ? v4 : 0;
  *len6 = uint8_t(32 * word + len4);
}
}  // namespace

std::vector<Rule> MapRulesToIpv6(const std::vector<Rule>& rules, Ipv6Map m) {
  std::vector<Rule> out(rules);
  for (Rule& r : out) {
    r.family = Family::kIpv6;
    MapAddress(r.src[0], r.src_len, m.src_word, r.src, &r.src_len);
    MapAddress(r.dst[0], r.dst_len, m.dst_word, r.dst, &r.dst_len);
  }
  return out;
}

Trace MapTraceToIpv6(const Trace& t, uint64_t seed, Ipv6Map m) {
  Trace o;
  o.sport = t.sport;
  o.dport = t.dport;
  o.proto = t.proto;
  o.version.assign(t.size(), 6);
  o.src6.resize(4 * t.size());
  o.dst6.resize(4 * t.size());
  Rand rnd{seed};
  for (size_t i = 0; i < t.size(); i++) {
    uint8_t unused;
    MapAddress(t.src[i], 0, m.src_word, &o.src6[4 * i], &unused);
    MapAddress(t.dst[i], 0, m.dst_word, &o.dst6[4 * i], &unused);
    for (uint32_t w = m.src_word + 1; w < 4; w++) o.src6[4 * i + w] = uint32_t(rnd.Next());
    for (uint32_t w = m.dst_word + 1; w < 4; w++) o.dst6[4 * i + w] = uint32_t(rnd.Next());
  }
  return o;
}

std::string FormatTrace(const Trace& t) {
  std::string s;
  s.reserve(t.size() * 40);
  char buf[80];
  for (size_t i = 0; i < t.size(); i++) {
    const int len = std::snprintf(buf, sizeof buf, "%u %u %u %u %u\n", t.src[i], t.dst[i], unsigned(t.sport[i]),
                                  unsigned(t.dport[i]), unsigned(t.proto[i]));
    s.append(buf, size_t(len));
  }
  return s;
}

}  // namespace vnf::acl
