// The conntrack suite: the native session table (native/src/conntrack, driven by
// native/bench/conntrack_bench.cc) at 10K and 1M sessions, one core:
//   memory      bytes per session (records + both directions' index entries), total at 1M;
//               peer: the Linux kernel's nf_conntrack slab object (/proc/slabinfo, after
//               `modprobe nf_conntrack`; root), which is only part of what a kernel
//               connection costs (extensions and hash buckets come on top)
//   lookups     Mpps over established flows, random order and direction, bursts of 64 (and
//               lookup + state update); the 1M/10K cost ratio (median of per-run ratios)
//   inserts     new sessions per second through Process (SYNs in bursts of 64)
// Targets (issue 6): <= 128 B per session, 1M sessions < 256 MiB, 1M lookups within 2x of 10K.
// The NAT figures and the nftables SNAT peer: nat-suite.mjs. Both reserve 64 hugetlb pages (root).
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { record, withHugepages } from './stats.mjs';

const REPO = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const BENCH = join(REPO, 'native', 'build-bench', 'conntrack_bench');

/** nf_conntrack's slab object size in bytes, or null (not root, no module, no slabinfo). */
function kernelConntrackObjectSize(commands) {
  if (process.getuid?.() === 0) {
    commands.push('modprobe nf_conntrack');
    spawnSync('modprobe', ['nf_conntrack'], { stdio: 'ignore' });
  }
  if (!existsSync('/proc/slabinfo')) return null;
  try {
    const line = readFileSync('/proc/slabinfo', 'utf8').split('\n').find((l) => /^nf_conntrack\s/.test(l));
    return line ? Number(line.trim().split(/\s+/)[3]) : null;
  } catch {
    return null; // slabinfo is root-only
  }
}

export async function conntrackSuite(RUNS, commands) {
  commands.push('make -C native build-conntrack-bench');
  const make = spawnSync('make', ['-s', '-C', join(REPO, 'native'), 'build-conntrack-bench'], { encoding: 'utf8' });
  if (make.status !== 0) throw new Error(`make build-conntrack-bench failed:\n${make.stderr}`);
  const args = ['--sizes', '10000,1000000', '--runs', String(RUNS)];
  commands.push(`native/build-bench/conntrack_bench ${args.join(' ')}`);
  const { result: r, reserved } = withHugepages(64, commands, () => spawnSync(BENCH, args, { encoding: 'utf8', maxBuffer: 1 << 24 }));
  if (r.status !== 0) throw new Error(`conntrack_bench failed:\n${r.stderr}`);
  const v = {};
  for (const line of r.stdout.split('\n')) {
    if (!line.startsWith('{')) continue;
    const o = JSON.parse(line);
    v[o.name] = o.value;
  }
  const kernel = kernelConntrackObjectSize(commands);
  const records = [
    record('ct-memory-per-session-1m', 'B', v['memory-bytes-per-session-1000000'], 'lower', kernel ? 'nf_conntrack slab object (kernel, part of its cost)' : null, kernel, '<= 128 B'),
    record('ct-memory-total-1m', 'MiB', v['memory-total-1000000'] / 2 ** 20, 'lower', null, null, '< 256 MiB'),
    record('ct-lookup-10k', 'Mpps', v['lookup-mpps-10000-b64'], 'higher', null, null, null),
    record('ct-lookup-1m', 'Mpps', v['lookup-mpps-1000000-b64'], 'higher', 'the same at 10K sessions', v['lookup-mpps-10000-b64'], null),
    record('ct-lookup-cost-ratio-1m-vs-10k', 'x', v['lookup-cost-ratio-1000000-vs-10000-b64'], 'lower', null, null, '<= 2x'),
    record('ct-process-10k', 'Mpps', v['process-mpps-10000-b64'], 'higher', null, null, null),
    record('ct-process-1m', 'Mpps', v['process-mpps-1000000-b64'], 'higher', null, null, null),
    record('ct-inserts-10k', 'Msessions/s', v['inserts-per-sec-10000'] / 1e6, 'higher', null, null, null),
    record('ct-inserts-1m', 'Msessions/s', v['inserts-per-sec-1000000'] / 1e6, 'higher', null, null, null),
  ];
  return { records, meta: { sizes: [10000, 1000000], burst: 64, raw: v, kernelConntrackObjectBytes: kernel, hugepagesReserved: reserved } };
}
