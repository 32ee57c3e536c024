// Peer benchmark against the system's DPDK (Debian 22.11): mempool get/put and mbuf alloc/free on
// one lcore. Built and run by peer.mjs; not part of the product.
//
// Why our own program: mempool_perf_autotest runs about an hour. This uses the same loop
// (get `keep` objects in bulks of B, then put them back in bulks of B, timed with rte_rdtsc) on a
// single lcore, one warm-up pass then one timed pass per case.
//
// Output (stdout, one figure per line, machine-readable):
//   version <rte_version()>
//   tsc_hz <n>
//   mempool <key> <tsc cycles per object, get+put>
#include <stdio.h>
#include <rte_eal.h>
#include <rte_errno.h>
#include <rte_version.h>
#include <rte_cycles.h>
#include <rte_lcore.h>
#include <rte_mempool.h>
#include <rte_mbuf.h>

#define KEEP 32
#define POOL_N 8191      // 2^13 - 1: the ring under the pool is then exactly 8192 entries
#define ELT_SIZE 2048    // as mempool_perf_autotest (MEMPOOL_ELT_SIZE)
#define CACHE 512        // RTE_MEMPOOL_CACHE_MAX_SIZE, as mempool_perf_autotest's cached case
#define OBJS (1u << 25)  // objects per timed pass: ~30-60 ms at 1-2 cycles/object

// volatile like DPDK's bulk_sizes[]: the compiler must not specialise the loops on constant sizes,
// so the figures are for the generic (runtime n) paths that an application calls.
static volatile unsigned v_bulk[] = {1, 32};

static int fail(const char *what) { fprintf(stderr, "mempool_bench: %s failed: %s\n", what, rte_strerror(rte_errno)); return 1; }

static double mempool_case(struct rte_mempool *mp, unsigned bulk, int use_cache) {
  void *obj[KEEP];
  struct rte_mempool_cache *c = use_cache ? rte_mempool_default_cache(mp, rte_lcore_id()) : NULL;
  unsigned iters = OBJS / KEEP;
  uint64_t dt = 0;
  for (int pass = 0; pass < 2; pass++) {  // pass 0 warms caches and the per-lcore mempool cache
    uint64_t t0 = rte_rdtsc();
    for (unsigned i = 0; i < iters; i++) {
      for (unsigned k = 0; k < KEEP; k += bulk)
        if (rte_mempool_generic_get(mp, &obj[k], bulk, c) < 0) return -1;
      for (unsigned k = 0; k < KEEP; k += bulk) rte_mempool_generic_put(mp, &obj[k], bulk, c);
    }
    dt = rte_rdtsc() - t0;
  }
  return (double)dt / ((double)iters * KEEP);
}

static double mbuf_case(struct rte_mempool *mp, unsigned bulk) {
  struct rte_mbuf *m[KEEP];
  unsigned iters = (OBJS / 16) / bulk;  // ~20 cycles/mbuf: fewer objects for the same time
  uint64_t dt = 0;
  for (int pass = 0; pass < 2; pass++) {
    uint64_t t0 = rte_rdtsc();
    for (unsigned i = 0; i < iters; i++) {
      if (rte_pktmbuf_alloc_bulk(mp, m, bulk) != 0) return -1;
      rte_pktmbuf_free_bulk(m, bulk);
    }
    dt = rte_rdtsc() - t0;
  }
  return (double)dt / ((double)iters * bulk);
}

static int report(const char *kind, const char *key, double v) {
  if (v < 0) { fprintf(stderr, "mempool_bench: %s %s: get/alloc failed\n", kind, key); return 1; }
  printf("%s %s %.3f\n", kind, key, v);
  fflush(stdout);
  return 0;
}

int main(int argc, char **argv) {
  if (rte_eal_init(argc, argv) < 0) return fail("rte_eal_init");
  printf("version %s\ntsc_hz %llu\n", rte_version(), (unsigned long long)rte_get_tsc_hz());

  // flags 0 = the default mempool ops ("ring_mp_mc"); SP_PUT|SC_GET selects "ring_sp_sc".
  struct rte_mempool *cached = rte_mempool_create("vnf_cache", POOL_N, ELT_SIZE, CACHE, 0, NULL, NULL, NULL, NULL, SOCKET_ID_ANY, 0);
  struct rte_mempool *mpmc = rte_mempool_create("vnf_mpmc", POOL_N, ELT_SIZE, 0, 0, NULL, NULL, NULL, NULL, SOCKET_ID_ANY, 0);
  struct rte_mempool *spsc = rte_mempool_create("vnf_spsc", POOL_N, ELT_SIZE, 0, 0, NULL, NULL, NULL, NULL, SOCKET_ID_ANY,
                                                RTE_MEMPOOL_F_SP_PUT | RTE_MEMPOOL_F_SC_GET);
  // Same cache size as the cached pool so the mbuf figure adds only the mbuf work on top of it.
  struct rte_mempool *mbufs = rte_pktmbuf_pool_create("vnf_mbuf", POOL_N, CACHE, 0, RTE_MBUF_DEFAULT_BUF_SIZE, SOCKET_ID_ANY);
  if (!cached || !mpmc || !spsc || !mbufs) return fail("pool create");

  int bad = 0;
  bad |= report("mempool", "cache-bulk-32", mempool_case(cached, v_bulk[1], 1));
  bad |= report("mempool", "cache-bulk-1", mempool_case(cached, v_bulk[0], 1));
  bad |= report("mempool", "nocache-mpmc-bulk-32", mempool_case(mpmc, v_bulk[1], 0));
  bad |= report("mempool", "nocache-spsc-bulk-32", mempool_case(spsc, v_bulk[1], 0));
  bad |= report("mempool", "pktmbuf-alloc-free-32", mbuf_case(mbufs, v_bulk[1]));

  rte_mempool_free(mbufs); rte_mempool_free(spsc); rte_mempool_free(mpmc); rte_mempool_free(cached);
  rte_eal_cleanup();
  return bad;
}
