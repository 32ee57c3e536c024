// rte_acl on a ClassBench rule file and a dpdk-test-acl trace: per-packet matches (for the
// differential test), build time and runtime memory (for the benchmark).
//
//   rte_acl_ref [EAL options] -- [--ipv6] [--rate] RULES TRACE [OUT]
//   prints: "rules N", "packets N", "build_seconds S", "memory_bytes B", "algs ..."
//   OUT (optional): one line per packet, the 0-based rule index (line order, as ours) or -1.
//   --ipv6: rules and trace mapped into IPv6 as native/src/acl/classbench.h MapRulesToIpv6 and
//   MapTraceToIpv6 do (word 0 = 2001:db8, word 1 = the IPv4 address, prefix /32+L, words 2-3 of
//   packets pseudo-random), classified with dpdk-test-acl's IPv6 layout (proto, 4+4 32-bit
//   address words, ports): the matches must equal the IPv4 ones.
//   --rate: also prints "mpps R", the default method classifying the trace in bursts of 64
//   (median of 3 timings of at least 0.2 s each), for the same-harness IPv4/IPv6 comparison.
//
// Rules are added exactly as dpdk-test-acl does (priority RTE_ACL_MAX_PRIORITY - n: the first
// line wins; userdata n = 1-based rule number, 0 = no match). The memory figure is rte_acl's own
// "runtime memory footprint" total, read from its debug log. Every packet is classified with the
// scalar method and with the context's default (the best this CPU allows); both must agree.
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <rte_acl.h>
#include <rte_byteorder.h>
#include <rte_eal.h>
#include <rte_log.h>

struct ipv4_5tuple {
  uint8_t proto;
  uint32_t src;
  uint32_t dst;
  uint16_t sport;
  uint16_t dport;
};

enum { F_PROTO, F_SRC, F_DST, F_SPORT, F_DPORT, F_NUM };

static struct rte_acl_field_def defs[F_NUM] = {
    {.type = RTE_ACL_FIELD_TYPE_BITMASK, .size = 1, .field_index = F_PROTO, .input_index = 0,
     .offset = offsetof(struct ipv4_5tuple, proto)},
    {.type = RTE_ACL_FIELD_TYPE_MASK, .size = 4, .field_index = F_SRC, .input_index = 1,
     .offset = offsetof(struct ipv4_5tuple, src)},
    {.type = RTE_ACL_FIELD_TYPE_MASK, .size = 4, .field_index = F_DST, .input_index = 2,
     .offset = offsetof(struct ipv4_5tuple, dst)},
    {.type = RTE_ACL_FIELD_TYPE_RANGE, .size = 2, .field_index = F_SPORT, .input_index = 3,
     .offset = offsetof(struct ipv4_5tuple, sport)},
    {.type = RTE_ACL_FIELD_TYPE_RANGE, .size = 2, .field_index = F_DPORT, .input_index = 3,
     .offset = offsetof(struct ipv4_5tuple, dport)},
};

RTE_ACL_RULE_DEF(acl_rule, F_NUM);

// IPv6, as dpdk-test-acl --ipv6: proto, source words 0..3, destination words 0..3, ports.
struct ipv6_5tuple {
  uint8_t proto;
  uint32_t src[4];
  uint32_t dst[4];
  uint16_t sport;
  uint16_t dport;
};
enum { G_PROTO, G_SRC0, G_DST0 = G_SRC0 + 4, G_SPORT = G_DST0 + 4, G_DPORT, G_NUM };
static struct rte_acl_field_def defs6[G_NUM];
RTE_ACL_RULE_DEF(acl_rule6, G_NUM);

static void init_defs6(void) {
  defs6[G_PROTO] = (struct rte_acl_field_def){.type = RTE_ACL_FIELD_TYPE_BITMASK, .size = 1, .field_index = G_PROTO,
                                              .input_index = 0, .offset = offsetof(struct ipv6_5tuple, proto)};
  for (int w = 0; w < 4; w++) {
    defs6[G_SRC0 + w] = (struct rte_acl_field_def){.type = RTE_ACL_FIELD_TYPE_MASK, .size = 4, .field_index = G_SRC0 + w,
                                                   .input_index = 1 + w,
                                                   .offset = offsetof(struct ipv6_5tuple, src) + 4 * w};
    defs6[G_DST0 + w] = (struct rte_acl_field_def){.type = RTE_ACL_FIELD_TYPE_MASK, .size = 4, .field_index = G_DST0 + w,
                                                   .input_index = 5 + w,
                                                   .offset = offsetof(struct ipv6_5tuple, dst) + 4 * w};
  }
  defs6[G_SPORT] = (struct rte_acl_field_def){.type = RTE_ACL_FIELD_TYPE_RANGE, .size = 2, .field_index = G_SPORT,
                                              .input_index = 9, .offset = offsetof(struct ipv6_5tuple, sport)};
  defs6[G_DPORT] = (struct rte_acl_field_def){.type = RTE_ACL_FIELD_TYPE_RANGE, .size = 2, .field_index = G_DPORT,
                                              .input_index = 9, .offset = offsetof(struct ipv6_5tuple, dport)};
}

#define MAP6_WORD0 0x20010db8u

// The IPv4 rule mapped: word 0 = 2001:db8 (/32), word 1 = the IPv4 prefix, words 2-3 any.
static void map_rule6(const struct acl_rule* r4, struct acl_rule6* r) {
  memset(r, 0, sizeof(*r));
  r->field[G_PROTO] = r4->field[F_PROTO];
  r->field[G_SRC0].value.u32 = MAP6_WORD0;
  r->field[G_SRC0].mask_range.u32 = 32;
  r->field[G_SRC0 + 1] = r4->field[F_SRC];
  r->field[G_DST0].value.u32 = MAP6_WORD0;
  r->field[G_DST0].mask_range.u32 = 32;
  r->field[G_DST0 + 1] = r4->field[F_DST];
  r->field[G_SPORT] = r4->field[F_SPORT];
  r->field[G_DPORT] = r4->field[F_DPORT];
}

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static int parse_rule(const char* line, struct acl_rule* r) {
  unsigned a[4], b[4], sl, dl, splo, sphi, dplo, dphi, pv, pm;
  if (sscanf(line, " @%u.%u.%u.%u/%u %u.%u.%u.%u/%u %u : %u %u : %u %x/%x", &a[0], &a[1], &a[2], &a[3], &sl,
             &b[0], &b[1], &b[2], &b[3], &dl, &splo, &sphi, &dplo, &dphi, &pv, &pm) != 16)
    return -1;
  memset(r, 0, sizeof(*r));
  r->field[F_PROTO].value.u8 = (uint8_t)pv;
  r->field[F_PROTO].mask_range.u8 = (uint8_t)pm;
  r->field[F_SRC].value.u32 = (uint32_t)(a[0] << 24 | a[1] << 16 | a[2] << 8 | a[3]);
  r->field[F_SRC].mask_range.u32 = sl;
  r->field[F_DST].value.u32 = (uint32_t)(b[0] << 24 | b[1] << 16 | b[2] << 8 | b[3]);
  r->field[F_DST].mask_range.u32 = dl;
  r->field[F_SPORT].value.u16 = (uint16_t)splo;
  r->field[F_SPORT].mask_range.u16 = (uint16_t)sphi;
  r->field[F_DPORT].value.u16 = (uint16_t)dplo;
  r->field[F_DPORT].mask_range.u16 = (uint16_t)dphi;
  return 0;
}

int main(int argc, char** argv) {
  int ret = rte_eal_init(argc, argv);
  if (ret < 0) { fprintf(stderr, "EAL init failed\n"); return 1; }
  argc -= ret;
  argv += ret;
  int ipv6 = 0, rate = 0;
  while (argc > 1 && strncmp(argv[1], "--", 2) == 0) {
    if (strcmp(argv[1], "--ipv6") == 0) ipv6 = 1;
    else if (strcmp(argv[1], "--rate") == 0) rate = 1;
    else { fprintf(stderr, "unknown option %s\n", argv[1]); return 2; }
    argc--;
    argv++;
  }
  if (argc < 3) { fprintf(stderr, "usage: rte_acl_ref [EAL] -- [--ipv6] [--rate] RULES TRACE [OUT]\n"); return 2; }
  init_defs6();

  // Collect rte_acl's debug log (its memory report) in a buffer.
  char* logbuf = NULL;
  size_t loglen = 0;
  FILE* logf = open_memstream(&logbuf, &loglen);
  rte_openlog_stream(logf);
  rte_log_set_level_pattern("lib.acl", RTE_LOG_DEBUG);

  struct rte_acl_param prm = {.name = "ref", .socket_id = SOCKET_ID_ANY,
                              .rule_size = RTE_ACL_RULE_SZ(ipv6 ? G_NUM : F_NUM), .max_rule_num = 1 << 20};
  struct rte_acl_ctx* ctx = rte_acl_create(&prm);
  if (!ctx) { fprintf(stderr, "rte_acl_create failed\n"); return 1; }

  FILE* f = fopen(argv[1], "r");
  if (!f) { fprintf(stderr, "%s: %s\n", argv[1], strerror(errno)); return 1; }
  char line[1024];
  uint32_t n = 0, lineno = 0;
  while (fgets(line, sizeof line, f)) {
    lineno++;
    const char* p = line;
    while (*p == ' ' || *p == '\t') p++;
    if (*p == '\n' || *p == 0 || *p == '#') continue;
    struct acl_rule r;
    if (parse_rule(line, &r) != 0) { fprintf(stderr, "%s:%u: cannot parse\n", argv[1], lineno); return 1; }
    n++;
    r.data.category_mask = 1;
    r.data.priority = RTE_ACL_MAX_PRIORITY - n;
    r.data.userdata = n;
    struct acl_rule6 r6;
    map_rule6(&r, &r6);
    r6.data = r.data;
    const struct rte_acl_rule* add = ipv6 ? (const struct rte_acl_rule*)&r6 : (const struct rte_acl_rule*)&r;
    if (rte_acl_add_rules(ctx, add, 1) != 0) { fprintf(stderr, "add rule %u failed\n", n); return 1; }
  }
  fclose(f);

  struct rte_acl_config cfg;
  memset(&cfg, 0, sizeof cfg);
  cfg.num_categories = 1;
  cfg.num_fields = ipv6 ? G_NUM : F_NUM;
  if (ipv6) memcpy(cfg.defs, defs6, sizeof defs6);
  else memcpy(cfg.defs, defs, sizeof defs);
  const double t0 = now();
  ret = rte_acl_build(ctx, &cfg);
  const double t1 = now();
  if (ret != 0) { fprintf(stderr, "rte_acl_build: %d\n", ret); return 1; }
  fflush(logf);
  rte_openlog_stream(stderr);
  unsigned long long mem = 0;
  const char* tot = logbuf ? strstr(logbuf, "total: ") : NULL;
  if (tot) mem = strtoull(tot + 7, NULL, 10);

  // Trace.
  f = fopen(argv[2], "r");
  if (!f) { fprintf(stderr, "%s: %s\n", argv[2], strerror(errno)); return 1; }
  size_t cap = 1 << 16, np = 0;
  struct ipv4_5tuple* tr = malloc(cap * sizeof(*tr));
  unsigned long s, d, sp, dp, pr;
  while (fscanf(f, "%lu %lu %lu %lu %lu", &s, &d, &sp, &dp, &pr) == 5) {
    if (np == cap) tr = realloc(tr, (cap *= 2) * sizeof(*tr));
    memset(&tr[np], 0, sizeof(tr[np]));
    tr[np].proto = (uint8_t)pr;
    tr[np].src = rte_cpu_to_be_32((uint32_t)s);
    tr[np].dst = rte_cpu_to_be_32((uint32_t)d);
    tr[np].sport = rte_cpu_to_be_16((uint16_t)sp);
    tr[np].dport = rte_cpu_to_be_16((uint16_t)dp);
    np++;
  }
  fclose(f);

  const uint8_t** data = malloc(np * sizeof(*data));
  uint32_t* res_def = calloc(np, sizeof(uint32_t));
  uint32_t* res_scalar = calloc(np, sizeof(uint32_t));
  struct ipv6_5tuple* tr6 = NULL;
  if (ipv6) {  // words 2-3 pseudo-random (the rules do not look at them)
    tr6 = calloc(np ? np : 1, sizeof(*tr6));
    uint64_t x = 88172645463325252ull;
    for (size_t i = 0; i < np; i++) {
      tr6[i].proto = tr[i].proto;
      tr6[i].sport = tr[i].sport;
      tr6[i].dport = tr[i].dport;
      tr6[i].src[0] = tr6[i].dst[0] = rte_cpu_to_be_32(MAP6_WORD0);
      tr6[i].src[1] = tr[i].src;
      tr6[i].dst[1] = tr[i].dst;
      for (int w = 2; w < 4; w++) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        tr6[i].src[w] = (uint32_t)x;
        tr6[i].dst[w] = (uint32_t)(x >> 32);
      }
    }
  }
  for (size_t i = 0; i < np; i++) data[i] = ipv6 ? (const uint8_t*)&tr6[i] : (const uint8_t*)&tr[i];
  for (size_t i = 0; i < np; i += 64) {
    const uint32_t k = (uint32_t)(np - i < 64 ? np - i : 64);
    if (rte_acl_classify(ctx, data + i, res_def + i, k, 1) != 0 ||
        rte_acl_classify_alg(ctx, data + i, res_scalar + i, k, 1, RTE_ACL_CLASSIFY_SCALAR) != 0) {
      fprintf(stderr, "classify failed\n");
      return 1;
    }
  }
  size_t disagree = 0;
  for (size_t i = 0; i < np; i++) disagree += res_def[i] != res_scalar[i];

  printf("rules %u\npackets %zu\nbuild_seconds %.6f\nmemory_bytes %llu\nscalar_vs_default_disagree %zu\n", n, np,
         t1 - t0, mem, disagree);
  if (rate && np) {
    double mpps[3];
    for (int r = 0; r < 3; r++) {
      const double a = now();
      double b;
      size_t done = 0;
      do {
        for (size_t i = 0; i < np; i += 64) {
          const uint32_t k = (uint32_t)(np - i < 64 ? np - i : 64);
          rte_acl_classify(ctx, data + i, res_scalar + i, k, 1);
        }
        done += np;
        b = now();
      } while (b - a < 0.2);
      mpps[r] = (double)done / (b - a) / 1e6;
    }
    for (int i = 0; i < 3; i++)
      for (int j = i + 1; j < 3; j++)
        if (mpps[j] < mpps[i]) { const double t = mpps[i]; mpps[i] = mpps[j]; mpps[j] = t; }
    printf("mpps %.3f\n", mpps[1]);
  }
  if (argc > 3) {
    FILE* o = fopen(argv[3], "w");
    if (!o) { fprintf(stderr, "%s: %s\n", argv[3], strerror(errno)); return 1; }
    for (size_t i = 0; i < np; i++) fprintf(o, "%" PRId64 "\n", (int64_t)res_def[i] - 1);
    fclose(o);
  }
  rte_acl_free(ctx);
  free(logbuf);
  rte_eal_cleanup();
  return disagree ? 3 : 0;
}
