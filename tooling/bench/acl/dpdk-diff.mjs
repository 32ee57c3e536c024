// Differential test against DPDK's rte_acl: for each ClassBench set, our acl_bench generates a
// trace (seeded) and classifies it, rte_acl_ref.c classifies the same trace with rte_acl, and every
// packet's match must be equal (rule index in line order, or -1).
//
//   node tooling/bench/acl/dpdk-diff.mjs [--packets N] [--seed S] [SET...]   (default: all six, 100000)
// Exit status 0 when every packet agrees, 1 on a mismatch, 2 when DPDK or the inputs are missing.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { buildTools, CLASSBENCH_DIR, compareMatches, runOurs, runRef, SETS } from './peer.mjs';

// onSet({ set, rules, trace, ours, ref }), if given, is awaited per set before the files are removed
// (packages/acl/test/rte-acl.test.ts checks the TypeScript linear reference on the same trace).
export async function dpdkDiff({ sets = SETS, packets = 100000, seed = 1, commands = [], onSet } = {}) {
  await buildTools(commands);
  const dir = mkdtempSync(join(tmpdir(), 'vnf-acl-diff-'));
  const results = [];
  try {
    for (const set of sets) {
      const rules = join(CLASSBENCH_DIR, set);
      const trace = join(dir, `${set}.trace`), ours = join(dir, `${set}.ours`), ref = join(dir, `${set}.rte`);
      await runOurs(commands, rules, { packets, seed, trace, matches: ours, time: false });
      const r = await runRef(commands, rules, trace, ref);
      results.push({ set, ...compareMatches(ours, ref), rteAclBuildSeconds: r.buildSeconds, rteAclMemoryBytes: r.memoryBytes });
      await onSet?.({ set, rules, trace, ours, ref });
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  return results;
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const args = process.argv.slice(2);
  let packets = 100000, seed = 1;
  const sets = [];
  for (let i = 0; i < args.length; i++) {
    if (args[i] === '--packets') packets = Number(args[++i]);
    else if (args[i] === '--seed') seed = Number(args[++i]);
    else sets.push(args[i]);
  }
  let results;
  try {
    results = await dpdkDiff({ sets: sets.length ? sets : SETS, packets, seed });
  } catch (e) {
    console.error(e.message);
    process.exit(2);
  }
  let bad = 0;
  for (const r of results) {
    bad += r.mismatches;
    console.log(`${r.set.padEnd(9)} ${r.packets} packets (${r.matched} matched a rule), ${r.mismatches} mismatches vs rte_acl${r.examples.length ? ' ' + JSON.stringify(r.examples) : ''}`);
  }
  process.exit(bad ? 1 : 0);
}
