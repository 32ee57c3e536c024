// The core suite: native ring and mempool loops next to DPDK 22.11's own figures, and the
// JavaScript get/enqueue/dequeue/put loop next to the same loop in C++.
import { execFileSync, spawnSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { measureCoreJs } from './core-js.mjs';
import { runDpdkPeers } from './dpdk/peer.mjs';
import { median, record } from './stats.mjs';

const repo = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

export async function coreSuite(RUNS, commands) {
  function buildNative() {
    commands.push('make -s -C native build-bench');
    execFileSync('make', ['-s', '-C', join(repo, 'native'), 'build-bench'], { stdio: 'inherit' });
  }

  function nativeOnce() {
    commands.push('native/build-bench/native_bench');
    const r = spawnSync(join(repo, 'native', 'build-bench', 'native_bench'), [], { encoding: 'utf8', timeout: 300_000 });
    if (r.status !== 0) throw new Error(`native bench failed: ${r.stderr}`);
    const figures = {};
    for (const line of r.stdout.split('\n')) {
      if (line.startsWith('{')) {
        const f = JSON.parse(line);
        figures[f.name] = f.value;
      }
    }
    return figures;
  }

  /** Median of each key over a list of { key: number } maps. */
  function medianOf(maps) {
    const keys = new Set(maps.flatMap((m) => Object.keys(m ?? {})));
    return Object.fromEntries([...keys].map((k) => [k, median(maps.map((m) => m?.[k]))]));
  }


  // Ours and DPDK's take turns, run after run: on a shared machine a burst of noise then hits
  // both sides instead of one.
  buildNative();
  const nativeRuns = [];
  const dpdkRuns = [];
  const jsRuns = [];
  let dpdk = { available: false, reason: 'not run' };
  for (let i = 0; i < RUNS; i++) {
    nativeRuns.push(nativeOnce());
    dpdk = await runDpdkPeers({ runs: 1 });
    if (dpdk.available) dpdkRuns.push(dpdk);
    commands.push(...(dpdk.commands ?? []));
    jsRuns.push(measureCoreJs());
    process.stdout.write(`run ${i + 1}/${RUNS} done\n`);
  }
  const ours = Object.fromEntries(Object.entries(medianOf(nativeRuns)).map(([k, v]) => [k, { value: v }]));
  console.log(`native: TSC ${(ours['tsc-hz'].value / 1e9).toFixed(2)} GHz`);
  if (dpdk.available) {
    dpdk = {
      ...dpdk,
      ring: medianOf(dpdkRuns.map((d) => d.ring)),
      ring4: medianOf(dpdkRuns.map((d) => d.ring4)),
      mempool: medianOf(dpdkRuns.map((d) => d.mempool)),
    };
  }
  const peerName = dpdk.available ? `DPDK ${dpdk.version}` : null;
  if (!dpdk.available) console.log(`DPDK peer unavailable: ${dpdk.reason}`);

  const records = [];
  const peerOf = (table, key) => (dpdk.available ? (dpdk[table]?.[key] ?? null) : null);
  // Two DPDK peers for the ring: its own autotest binary (8-byte elements, sizes 8 and 32 and
  // single only, as 22.11 prints them), and its rte_ring elem API with 4-byte elements like
  // ours, in the autotest's loop compiled with our flags (tooling/bench/dpdk/ring_bench.c).
  const ringPeers = [
    { table: 'ring4', suffix: '', label: peerName && `${peerName} rte_ring elem 4B` },
    { table: 'ring', suffix: ' (vs autotest)', label: peerName && `${peerName} ring_perf_autotest` },
  ];
  for (const { table, suffix, label } of ringPeers) {
    for (const mode of ['spsc', 'mpmc']) {
      for (const kind of ['bulk', 'burst']) {
        for (const size of [1, 8, 32, 128]) {
          const name = `ring-${mode}-${kind}-${size}`;
          const target = mode === 'spsc' && kind === 'burst' && size === 32 ? '<= 1.00x' : '<= 1.25x';
          const peer = peerOf(table, `${mode}-${kind}-${size}`);
          records.push(record(name + suffix, 'cycles/element', ours[name]?.value ?? null, 'lower', peer == null ? null : label, peer, target));
        }
      }
      const single = `ring-${mode}-single`;
      records.push(record(single + suffix, 'cycles/element', ours[single]?.value ?? null, 'lower', label, peerOf(table, `${mode}-single`), '<= 1.25x'));
    }
  }
  const mempoolPeers = {
    'mempool-cache-bulk-32': 'cache-bulk-32',
    'mempool-cache-bulk-1': 'cache-bulk-1',
    'mempool-nocache-mpmc-bulk-32': 'nocache-mpmc-bulk-32',
    'mempool-alloc-free-32': 'pktmbuf-alloc-free-32',
  };
  for (const [name, key] of Object.entries(mempoolPeers)) {
    const target = name === 'mempool-cache-bulk-32' || name === 'mempool-nocache-mpmc-bulk-32' ? '<= 1.25x' : null;
    records.push(record(name, 'cycles/object', ours[name]?.value ?? null, 'lower', peerName, peerOf('mempool', key), target));
  }

  // JavaScript: the same loop through the public API, next to it in C++.
  const js = jsRuns;
  const cLoop = ours['loop-get-enq-deq-put-32'];
  records.push(
    record(
      'js-get-enq-deq-put-32',
      'Mpps',
      median(js.map((r) => r.roundTripMpps)),
      'higher',
      cLoop ? 'same loop in C++' : null,
      cLoop?.value ?? null,
      '>= 100 Mpps',
    ),
    record('js-get-enq-deq-put-32-per-burst', 'ns', median(js.map((r) => r.roundTripNsPerBurst)), 'lower'),
    record('js-get-put-32-per-burst', 'ns', median(js.map((r) => r.getPutNsPerBurst)), 'lower'),
    record('js-boundary-noop-call', 'ns', median(js.map((r) => r.noopNs)), 'lower'),
  );
  commands.push('node tooling/bench/core-js.mjs (measureCoreJs, in this process)');

  return { records, meta: { tscHz: ours['tsc-hz'].value } };
}
