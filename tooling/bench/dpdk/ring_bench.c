// Peer benchmark against the system's DPDK (Debian 22.11): rte_ring with 4-byte elements on one
// lcore. Built and run by peer.mjs; not part of the product.
//
// Why our own program: 22.11's ring_perf_autotest measures only 8-byte (legacy) and 16-byte
// elements at sizes 8 and 32, while our ring stores 4-byte indices and we report sizes 1, 8, 32
// and 128. The loops below are those of 22.11's app/test/test_ring_perf.c (test_burst_bulk_
// enqueue_dequeue, test_single_enqueue_dequeue) with the elem calls that test_ring.h's
// test_ring_enqueue/test_ring_dequeue make, at esize 4: one enqueue of n then one dequeue of n on
// the same lcore, so the ring never holds more than n elements.
// Differences from dpdk-test, on purpose: the figure is cycles per ELEMENT (22.11 prints cycles
// per enqueue+dequeue pair of calls); each case is warmed up and timed 3 times, best kept; n=128
// uses fewer iterations to keep the run short; SP/SC cases use a ring created with
// RING_F_SP_ENQ|RING_F_SC_DEQ (dpdk-test uses one flags-0 ring for both, which gives the same code:
// the explicit sp/sc/mp/mc calls pick the sync mode themselves, the flags only steer the default
// rte_ring_enqueue*/dequeue* calls).
// All ring enqueue/dequeue code is static inline in DPDK's headers, so it is compiled here with
// peer.mjs's flags, not with those of the DPDK build; only rte_ring_create_elem runs from the lib.
//
// Output (stdout, one figure per line, machine-readable):
//   ring4 <spsc|mpmc>-<bulk|burst>-<n> <tsc cycles per element, enqueue+dequeue>
//   ring4 <spsc|mpmc>-single <tsc cycles per element, enqueue+dequeue>
#include <stdio.h>
#include <rte_eal.h>
#include <rte_errno.h>
#include <rte_cycles.h>
#include <rte_malloc.h>
#include <rte_ring.h>
#include <rte_ring_elem.h>

#define RING_SIZE 4096  // as test_ring_perf.c
#define ESIZE 4         // our ring's element: a 32-bit index
#define REPS 3

// volatile like DPDK's bulk_sizes[] (and read inside the loop as DPDK does): the compiler must not
// specialise the calls on a constant n.
static const volatile unsigned sizes[] = {1, 8, 32, 128};
#define MAX_N 128

enum api { SP_BULK, MP_BULK, SP_BURST, MP_BURST, SP_SINGLE, MP_SINGLE };
static const char *const mode_name[] = {"spsc", "mpmc"};

// always_inline with a constant `api`, like test_ring.h's helpers: the switch folds away and each
// timed loop holds just the two DPDK calls.
static __rte_always_inline uint64_t timed(struct rte_ring *r, uint32_t *objs, unsigned si, unsigned iters, enum api api) {
  uint64_t t0 = rte_rdtsc();
  for (unsigned i = 0; i < iters; i++) {
    switch (api) {
      case SP_BULK: rte_ring_sp_enqueue_bulk_elem(r, objs, ESIZE, sizes[si], NULL);
                    rte_ring_sc_dequeue_bulk_elem(r, objs, ESIZE, sizes[si], NULL); break;
      case MP_BULK: rte_ring_mp_enqueue_bulk_elem(r, objs, ESIZE, sizes[si], NULL);
                    rte_ring_mc_dequeue_bulk_elem(r, objs, ESIZE, sizes[si], NULL); break;
      case SP_BURST: rte_ring_sp_enqueue_burst_elem(r, objs, ESIZE, sizes[si], NULL);
                     rte_ring_sc_dequeue_burst_elem(r, objs, ESIZE, sizes[si], NULL); break;
      case MP_BURST: rte_ring_mp_enqueue_burst_elem(r, objs, ESIZE, sizes[si], NULL);
                     rte_ring_mc_dequeue_burst_elem(r, objs, ESIZE, sizes[si], NULL); break;
      // rte_ring_{sp,mp}_enqueue_elem is a bulk of 1 inside DPDK; this is what dpdk-test's
      // "elem APIs ... single" rows call.
      case SP_SINGLE: rte_ring_sp_enqueue_elem(r, objs, ESIZE); rte_ring_sc_dequeue_elem(r, objs, ESIZE); break;
      case MP_SINGLE: rte_ring_mp_enqueue_elem(r, objs, ESIZE); rte_ring_mc_dequeue_elem(r, objs, ESIZE); break;
    }
  }
  return rte_rdtsc() - t0;
}

// Not inlined, so each api gets one copy of the loop (as each of DPDK's calls does).
static __rte_noinline uint64_t run(struct rte_ring *r, uint32_t *objs, unsigned si, unsigned iters, enum api api) {
  switch (api) {
    case SP_BULK: return timed(r, objs, si, iters, SP_BULK);
    case MP_BULK: return timed(r, objs, si, iters, MP_BULK);
    case SP_BURST: return timed(r, objs, si, iters, SP_BURST);
    case MP_BURST: return timed(r, objs, si, iters, MP_BURST);
    case SP_SINGLE: return timed(r, objs, si, iters, SP_SINGLE);
    default: return timed(r, objs, si, iters, MP_SINGLE);
  }
}

// Best of REPS after one warm-up of 1/8 the length; returns cycles per element.
static double best(struct rte_ring *r, uint32_t *objs, unsigned si, unsigned iters, enum api api) {
  run(r, objs, si, iters / 8, api);
  uint64_t min = UINT64_MAX;
  for (int k = 0; k < REPS; k++) {
    uint64_t dt = run(r, objs, si, iters, api);
    if (dt < min) min = dt;
  }
  return (double)min / ((double)iters * sizes[si]);
}

static int fail(const char *what) { fprintf(stderr, "ring_bench: %s failed: %s\n", what, rte_strerror(rte_errno)); return 1; }

int main(int argc, char **argv) {
  if (rte_eal_init(argc, argv) < 0) return fail("rte_eal_init");
  struct rte_ring *rings[2] = {
    rte_ring_create_elem("vnf_r4_spsc", ESIZE, RING_SIZE, SOCKET_ID_ANY, RING_F_SP_ENQ | RING_F_SC_DEQ),
    rte_ring_create_elem("vnf_r4_mpmc", ESIZE, RING_SIZE, SOCKET_ID_ANY, 0),
  };
  // Cache-line aligned and zeroed, as test_ring_calloc() gives dpdk-test.
  uint32_t *objs = rte_zmalloc(NULL, MAX_N * ESIZE, RTE_CACHE_LINE_SIZE);
  if (!rings[0] || !rings[1] || !objs) return fail("ring/buffer create");
  // The timed loops ignore return values, as DPDK's do; check once that a full MAX_N round trip
  // works, so a ring that silently refused elements cannot pass for a fast one.
  for (int m = 0; m < 2; m++)
    if (rte_ring_enqueue_bulk_elem(rings[m], objs, ESIZE, MAX_N, NULL) != MAX_N ||
        rte_ring_dequeue_bulk_elem(rings[m], objs, ESIZE, MAX_N, NULL) != MAX_N) return fail("round trip");

  for (int m = 0; m < 2; m++) {
    for (int burst = 0; burst < 2; burst++) {
      for (unsigned si = 0; si < RTE_DIM(sizes); si++) {
        // 1<<23 as DPDK (about 0.05-0.2 s per repetition here); n=128 scaled down to the same
        // number of elements as n=32.
        unsigned iters = sizes[si] > 32 ? (1u << 23) * 32 / sizes[si] : 1u << 23;
        double v = best(rings[m], objs, si, iters, (enum api)(burst * 2 + m));
        printf("ring4 %s-%s-%u %.3f\n", mode_name[m], burst ? "burst" : "bulk", sizes[si], v);
        fflush(stdout);
      }
    }
  }
  for (int m = 0; m < 2; m++) {
    double v = best(rings[m], objs, 0, 1u << 24, (enum api)(SP_SINGLE + m));  // 1<<24 as DPDK
    printf("ring4 %s-single %.3f\n", mode_name[m], v);
  }

  rte_free(objs);
  rte_ring_free(rings[1]);
  rte_ring_free(rings[0]);
  rte_eal_cleanup();
  return 0;
}
