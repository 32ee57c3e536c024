// Three implementations must agree on every ClassBench set: our native classifier
// (native/build-bench/acl_bench), DPDK's rte_acl (tooling/bench/acl/rte_acl_ref.c, built against
// the system's libdpdk) and this package's linear reference (firstMatch over parseClassBench).
// tooling/bench/acl/dpdk-diff.mjs builds both programs (make, gcc + pkg-config), generates a
// seeded trace per set and compares every packet; the linear reference checks a sample of the
// same trace. Skips with the reason when DPDK or the ClassBench files are absent (a failure
// under VNF_REQUIRE_ALL=1).
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { delimiter, join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { itWhen, SHARED_TESTDATA } from '@vnf-sdk/test-support';
import { expect } from 'vitest';
import { firstMatch, parseClassBench } from '../src/index.js';

const SETS = ['acl1_1k', 'fw1_1k', 'ipc1_1k', 'acl1_10k', 'fw1_10k', 'ipc1_10k'];
const PACKETS = 100_000;
/** Every LINEAR_STEP-th packet of each trace also goes through the linear reference. */
const LINEAR_STEP = 4;

// dpdk-diff reads the sets from $VNF_CLASSBENCH_DIR, else ../shared beside the repository: the
// same place as the other tests' shared data unless told otherwise.
process.env.VNF_CLASSBENCH_DIR ??= join(SHARED_TESTDATA, 'classbench', 'neurocuts');
const CLASSBENCH = process.env.VNF_CLASSBENCH_DIR;

const which = (cmd: string) => [...(process.env.PATH ?? '').split(delimiter), '/usr/bin', '/usr/local/bin'].some((d) => d !== '' && existsSync(join(d, cmd)));

/** Why the comparison cannot run here, or null. */
function missing(): string | null {
  const why: string[] = [];
  for (const [cmd, pkg] of [
    ['dpdk-test-acl', 'dpdk'],
    ['make', 'make'],
    ['gcc', 'gcc'],
    ['pkg-config', 'pkg-config'],
  ]) {
    if (!which(cmd)) why.push(`${cmd} not found (apt-get install ${pkg})`);
  }
  if (which('pkg-config') && spawnSync('pkg-config', ['--exists', 'libdpdk']).status !== 0) why.push('pkg-config finds no libdpdk (apt-get install dpdk-dev)');
  const absent = SETS.filter((s) => !existsSync(join(CLASSBENCH, s)));
  if (absent.length) why.push(`${CLASSBENCH}: ${absent.join(', ')} absent (clone ../shared beside the repository)`);
  return why.length ? why.join('; ') : null;
}

interface SetFiles {
  set: string;
  rules: string;
  trace: string;
  ours: string;
  ref: string;
}
interface DiffResult {
  set: string;
  packets: number;
  matched: number;
  mismatches: number;
  examples: Array<{ packet: number; ours: number; rteAcl: number }>;
}
type DpdkDiff = (o: { sets: string[]; packets: number; seed: number; commands: string[]; onSet: (f: SetFiles) => void }) => Promise<DiffResult[]>;

const lines = (file: string) => readFileSync(file, 'utf8').trimEnd().split('\n');
const ipv4 = (n: number) => Uint8Array.of(n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255);

/** The linear reference on every LINEAR_STEP-th packet of the trace, against both classifiers. */
function linearCheck({ set, rules, trace, ours, ref }: SetFiles) {
  const t0 = performance.now();
  const acl = parseClassBench(readFileSync(rules, 'utf8'), set);
  const packets = lines(trace);
  const [a, b] = [lines(ours), lines(ref)];
  const examples: string[] = [];
  let checked = 0;
  let mismatches = 0;
  for (let i = 0; i < packets.length; i += LINEAR_STEP) {
    const [src, dst, srcPort, dstPort, protocol] = packets[i].split(/\s+/).map(Number);
    const m = firstMatch(acl, { src: ipv4(src), dst: ipv4(dst), srcPort, dstPort, protocol });
    checked++;
    if (String(m) !== a[i] || String(m) !== b[i]) {
      mismatches++;
      if (examples.length < 5) examples.push(`packet ${i} (${packets[i]}): linear ${m}, ours ${a[i]}, rte_acl ${b[i]}`);
    }
  }
  return { checked, mismatches, examples, seconds: (performance.now() - t0) / 1000 };
}

itWhen(
  missing(),
  `our classifier, rte_acl and the linear reference agree on ClassBench ${SETS.join(', ')} (${PACKETS} packets each)`,
  async () => {
    const url = pathToFileURL(join(import.meta.dirname, '..', '..', '..', 'tooling', 'bench', 'acl', 'dpdk-diff.mjs')).href;
    const { dpdkDiff } = (await import(url)) as { dpdkDiff: DpdkDiff };
    const linear = new Map<string, ReturnType<typeof linearCheck>>();
    const commands: string[] = [];
    const t0 = performance.now();
    const results = await dpdkDiff({ sets: SETS, packets: PACKETS, seed: 1, commands, onSet: (f) => linear.set(f.set, linearCheck(f)) });
    console.log(`rte_acl differential (${((performance.now() - t0) / 1000).toFixed(1)} s):`);
    for (const r of results) {
      const l = linear.get(r.set);
      console.log(`  ${r.set.padEnd(9)} ${r.packets} packets, ${r.mismatches} mismatches vs rte_acl; linear reference on ${l?.checked}: ${l?.mismatches} mismatches (${l?.seconds.toFixed(1)} s)`);
    }
    const summary = results.map((r) => ({
      set: r.set,
      packets: r.packets,
      mismatchesVsRteAcl: r.mismatches,
      examples: r.examples,
      linearMismatches: linear.get(r.set)?.mismatches,
      linearExamples: linear.get(r.set)?.examples,
    }));
    expect(summary).toEqual(
      SETS.map((set) => ({ set, packets: PACKETS, mismatchesVsRteAcl: 0, examples: [], linearMismatches: 0, linearExamples: [] })),
    );
    // Most packets are drawn inside rules; a trace that matched nothing would prove little.
    for (const r of results) expect(r.matched, r.set).toBeGreaterThan(PACKETS / 2);
    for (const set of SETS) expect(linear.get(set)?.checked, set).toBe(PACKETS / LINEAR_STEP);
  },
  300_000,
);
