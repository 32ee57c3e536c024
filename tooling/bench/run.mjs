// `npm run bench`: every figure next to the same figure from the real peer, measured on this
// machine in this run, printed and written as JSON records to bench-results/.
//
//   core       native ring and mempool loops (native/bench/bench.cc)  vs  DPDK 22.11
//              (ring_perf_autotest, rte_ring elem 4B, rte_mempool);
//              the JavaScript get/enqueue/dequeue/put loop             vs  the same loop in C++
//   protocols  burst parsing of mix.pcap with the outer and inner 5-tuples, in order and
//              shuffled                                                vs  plain C++, gopacket
//   pipeline   generator -> parse -> two TS stages -> null, 1 and 2 workers (scaling)
//   forward    64-byte UDP h1 -> vnf-router (AF_XDP, AF_PACKET, TAP) -> h2 in network
//              namespaces                                              vs  Linux kernel forwarding
//              (root; iproute2, ethtool, nftables; `npx turbo run build` first)
//   acl        native classifier on ClassBench acl1/fw1/ipc1 1K and 10K: Mpps, build time, memory,
//              and per-packet agreement                               vs  DPDK rte_acl (dpdk-test-acl)
//
//   nat        64-byte UDP h1 -> vnf-router's NAT44 (AF_XDP, AF_PACKET) -> h2: 10000 established
//              flows and a new session per packet                     vs  Linux nftables masquerade
//              (conntrack + NAT; root; iproute2, ethtool, nftables; `npx turbo run build` first)
//
//   conntrack  native session table at 10K and 1M sessions: bytes per session (vs nf_conntrack's slab
//              object), lookup Mpps and the 1M/10K cost ratio, inserts per second
//
//   virtio     64-byte frames over vhost-user, one core each side: our frontend (VirtioUserPort)
//              and device (VhostUserPort) driven from JavaScript against dpdk-testpmd and each
//              other                                                  vs  testpmd virtio_user <->
//              net_vhost in the same run (root; dpdk-testpmd; `npx turbo run build` first)
// Usage: node tooling/bench/run.mjs [--rounds N] [core] [protocols] [pipeline] [forward] [acl] [conntrack] [nat] [virtio]
//        (default: all suites)
// Every figure is the median of RUNS runs (default 5; VNF_BENCH_RUNS or --rounds overrides).
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { aclSuite } from './acl-suite.mjs';
import { conntrackSuite } from './conntrack-suite.mjs';
import { coreSuite } from './core-suite.mjs';
import { forwardSuite } from './forward-suite.mjs';
import { natSuite } from './nat-suite.mjs';
import { pipelineSuite } from './pipeline-suite.mjs';
import { protocolsSuite } from './protocols-suite.mjs';
import { machine, printTable, writeResults } from './stats.mjs';
import { virtioSuite } from './virtio-suite.mjs';

const repo = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const argv = process.argv.slice(2);
const roundsAt = argv.indexOf('--rounds');
const RUNS = Number(roundsAt >= 0 ? argv[roundsAt + 1] : (process.env.VNF_BENCH_RUNS ?? 5));
if (!Number.isInteger(RUNS) || RUNS < 1) {
  console.error(`--rounds / VNF_BENCH_RUNS: expected a positive integer, got ${roundsAt >= 0 ? argv[roundsAt + 1] : process.env.VNF_BENCH_RUNS}`);
  process.exit(2);
}
const SUITES = { core: coreSuite, protocols: protocolsSuite, pipeline: pipelineSuite, forward: forwardSuite, acl: aclSuite, conntrack: conntrackSuite, nat: natSuite, virtio: virtioSuite };
const asked = roundsAt >= 0 ? argv.filter((_, i) => i !== roundsAt && i !== roundsAt + 1) : argv;
const unknown = asked.filter((s) => !(s in SUITES));
if (unknown.length) {
  console.error(`unknown suite(s): ${unknown.join(', ')}; known: ${Object.keys(SUITES).join(', ')}`);
  process.exit(2);
}

console.log(`vnf-sdk benchmarks, ${RUNS} runs per figure (medians)`);
console.log(`machine: ${JSON.stringify(machine())}\n`);
for (const name of asked.length ? asked : Object.keys(SUITES)) {
  const commands = [];
  console.log(`== ${name}`);
  const { records, meta } = await SUITES[name](RUNS, commands);
  printTable(records);
  const file = writeResults(repo, name, records, { runs: RUNS, ...meta, commands: [...new Set(commands)] });
  console.log(`\nwrote ${file}\n`);
}
