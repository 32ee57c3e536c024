// The acl suite: our classifier (native/src/acl, driven by native/bench/acl_bench.cc) next to DPDK's
// rte_acl on the same ClassBench rules and the same generated trace, in the same run:
//   rate        Mpps on one core (lcore/CPU 0), bursts of 64 keys per call, 1M-packet trace; the peer
//               is dpdk-test-acl with its best algorithm on this CPU (scalar, sse, avx2, avx512x16,
//               avx512x32 tried each run, --force-max-simd-bitwidth=512; every rate kept in meta)
//   build time  our Classifier::Build vs rte_acl_build (timed in tooling/bench/acl/rte_acl_ref.c)
//   memory      bytes Classify reads vs rte_acl's "runtime memory footprint" (its debug log)
//   mismatches  packets of the trace where our match differs from rte_acl's (must be 0)
//   stage       the same rules and trace through @vnf-sdk/acl as a pipeline stage uses it: real
//               frames in a mempool, one NativeAclReader.classify (N-API) per burst of 64, keys
//               read from the parsed packets, next step/mark/counters written (acl/stage.mjs);
//               peer: rte_acl's best rate on keys alone; its matches checked against ours
// Ours and DPDK's take turns, run after run, so noise on a shared machine hits both.
// Env: VNF_ACL_PACKETS (default 1000000), VNF_ACL_ALGS (default all five), VNF_ACL_SETS (comma list).
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildTools, CLASSBENCH_DIR, compareMatches, runOurs, runRef, runTestAcl, SETS } from './acl/peer.mjs';
import { stageBench } from './acl/stage.mjs';
import { median, record } from './stats.mjs';

export async function aclSuite(RUNS, commands) {
  const packets = Number(process.env.VNF_ACL_PACKETS ?? 1_000_000);
  const algs = (process.env.VNF_ACL_ALGS ?? 'scalar,sse,avx2,avx512x16,avx512x32').split(',');
  const sets = process.env.VNF_ACL_SETS ? process.env.VNF_ACL_SETS.split(',') : SETS;
  await buildTools(commands);
  const dir = mkdtempSync(join(tmpdir(), 'vnf-acl-bench-'));
  const records = [];
  const peerRates = {};
  try {
    for (const set of sets) {
      const rules = join(CLASSBENCH_DIR, set);
      const trace = join(dir, 'trace'), ours = join(dir, 'ours'), ref = join(dir, 'rte');
      // First: trace, both sides' matches, the comparison.
      const first = await runOurs(commands, rules, { packets, trace, matches: ours, time: false });
      const r0 = await runRef(commands, rules, trace, ref);
      const cmp = compareMatches(ours, ref);
      const stage = await stageBench(rules, trace, ours);
      const stageMpps = [];
      rmSync(ref, { force: true });
      const o = { mpps: [], build: [], memory: first['memory-bytes'] };
      const p = { build: [r0.buildSeconds], memory: r0.memoryBytes, rates: Object.fromEntries(algs.map((a) => [a, []])) };
      for (let i = 0; i < RUNS; i++) {
        const f = await runOurs(commands, rules, { packets, runs: 1 });
        o.mpps.push(f.mpps);
        o.build.push(f['build-seconds']);
        stageMpps.push(stage.run(0.5));
        for (const a of algs) p.rates[a].push((await runTestAcl(commands, rules, trace, packets, a, { burst: 64 }))?.mpps ?? null);
        if (i > 0) p.build.push((await runRef(commands, rules, trace, null)).buildSeconds);
        process.stdout.write(`${set}: run ${i + 1}/${RUNS} done\n`);
      }
      stage.close();
      rmSync(ours, { force: true });
      const rates = Object.fromEntries(algs.map((a) => [a, median(p.rates[a])]));
      peerRates[set] = rates;
      const best = algs.filter((a) => rates[a] != null).sort((a, b) => rates[b] - rates[a])[0];
      const big = set.endsWith('10k');
      const peer = (what) => `DPDK rte_acl${what ? ' ' + what : ''}`;
      records.push(
        record(`acl-${set}-rate`, 'Mpps', median(o.mpps), 'higher', best ? peer(best) : null, best ? rates[best] : null, big ? '>= 0.80x' : null),
        record(`acl-${set}-build`, 's', median(o.build), 'lower', peer('build'), median(p.build), big ? '< 2 s' : null),
        record(`acl-${set}-memory`, 'MB', o.memory / 1e6, 'lower', peer('runtime footprint'), p.memory / 1e6, big ? '<= 2.00x' : null),
        record(`acl-${set}-mismatches`, 'packets', cmp.mismatches, 'lower', null, null, '0'),
        record(`acl-${set}-stage-rate`, 'Mpps', median(stageMpps), 'higher', best ? peer(`${best}, keys only`) : null, best ? rates[best] : null, null),
        record(`acl-${set}-stage-mismatches`, 'packets', stage.mismatches, 'lower', null, null, '0'),
      );
      console.log(`${set}: ours ${median(o.mpps)?.toFixed(2)} Mpps; rte_acl ${algs.map((a) => `${a} ${rates[a]?.toFixed(2) ?? 'failed'}`).join(', ')}; ` +
        `${cmp.mismatches} mismatches of ${cmp.packets} (${cmp.matched} matched); ` +
        `stage (frames, N-API per burst of 64) ${median(stageMpps)?.toFixed(2)} Mpps, ${stage.mismatches} mismatches of ${stage.packets}`);
      rmSync(trace, { force: true });
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  return { records, meta: { packets, burst: 64, algs, rteAclRates: peerRates, classbench: CLASSBENCH_DIR } };
}
