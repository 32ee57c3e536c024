// A/B runs of the burst parser: two (or more) builds of @vnf-sdk/protocols measured as the
// protocols suite measures ours (measureParse over mix.pcap, in order then shuffled), each
// build in a fresh process, the builds and the C++ peer (parse_bench --shuffled) taking turns
// round after round, so that a slow spell of a shared machine hits all of them. Prints every
// round, then per build the medians and the medians of the per-round ratios (to the first
// build, and to the C++ loop of the same round).
//
//   node tooling/bench/protocols-ab.mjs [--rounds N] [--seconds S] [--no-cpp] A.js B.js ...
//
// A.js, B.js: a build's dist/index.js, copied out of the package (the builds must be able to
// import @vnf-sdk/core, so keep the copies inside the repository, e.g. packages/protocols/.ab/).
// The C++ peer is built by the protocols suite (native/build-bench/parse_bench).
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { loadCapture, measureParse, shuffledBursts } from './protocols-js.mjs';
import { median } from './stats.mjs';

const HERE = dirname(fileURLToPath(import.meta.url));
const repo = join(HERE, '..', '..');
const PCAP = join(repo, '..', 'shared', 'testdata', 'bench', 'mix.pcap');
const CPP_BIN = join(repo, 'native', 'build-bench', 'parse_bench');

const args = process.argv.slice(2);
if (args[0] === '--worker') {
  // One build, one process: {"inOrder": Mpps, "shuffled": Mpps} on stdout.
  const lib = await import(pathToFileURL(resolve(args[1])).href);
  const seconds = Number(args[2]);
  const data = loadCapture(PCAP);
  const orders = shuffledBursts(data);
  // As in the suite, where the self-check's parser comes first: a parser that is not the
  // process's first (V8 specializes a function's only closure by itself).
  const first = new lib.BurstParser(data.pool);
  for (const burst of data.bursts) first.parse(burst);
  const inOrder = measureParse(data, { seconds, lib }).mpps;
  const shuffled = measureParse(data, { seconds, orders, lib }).mpps;
  console.log(JSON.stringify({ inOrder, shuffled }));
  process.exit(0);
}

let rounds = 10;
let seconds = 0.5;
let cpp = existsSync(CPP_BIN);
const builds = [];
for (let i = 0; i < args.length; i++) {
  if (args[i] === '--rounds') rounds = Number(args[++i]);
  else if (args[i] === '--seconds') seconds = Number(args[++i]);
  else if (args[i] === '--no-cpp') cpp = false;
  else builds.push(resolve(args[i]));
}
if (builds.length === 0) {
  console.error('usage: node tooling/bench/protocols-ab.mjs [--rounds N] [--seconds S] [--no-cpp] A.js B.js ...');
  process.exit(2);
}
const res = builds.map(() => ({ io: [], sh: [] }));
const peer = { io: [], sh: [] };
const fmt = (v) => v.toFixed(1);
for (let r = 0; r < rounds; r++) {
  const order = builds.map((_, i) => i);
  if (r % 2) order.reverse();
  for (const i of order) {
    const out = execFileSync(process.execPath, [fileURLToPath(import.meta.url), '--worker', builds[i], String(seconds)]);
    const o = JSON.parse(out.toString());
    res[i].io.push(o.inOrder);
    res[i].sh.push(o.shuffled);
  }
  if (cpp) {
    const out = execFileSync(CPP_BIN, [PCAP, '--shuffled'], { stdio: ['ignore', 'pipe', 'ignore'] }).toString();
    const f = {};
    for (const line of out.split('\n')) if (line.startsWith('{')) f[JSON.parse(line).name] = JSON.parse(line).value;
    peer.io.push(f['parse-mix-cpp']);
    peer.sh.push(f['parse-mix-cpp-shuffled']);
  }
  const cols = builds.map((_, i) => `${i}: ${fmt(res[i].io[r])}/${fmt(res[i].sh[r])}`);
  if (cpp) cols.push(`C++: ${fmt(peer.io[r])}/${fmt(peer.sh[r])}`);
  console.log(`round ${r} (Mpps in order/shuffled)  ${cols.join('  ')}`);
}
const ratio = (a, b) => median(a.map((v, k) => v / b[k])).toFixed(3);
for (const [i, b] of builds.entries()) {
  let line = `${i} ${b}: median ${fmt(median(res[i].io))} / ${fmt(median(res[i].sh))} Mpps`;
  if (i > 0) line += ` | to 0: ${ratio(res[i].io, res[0].io)} / ${ratio(res[i].sh, res[0].sh)}`;
  if (cpp) line += ` | to C++: ${ratio(res[i].io, peer.io)} / ${ratio(res[i].sh, peer.sh)}`;
  console.log(line);
}
if (cpp) console.log(`C++: median ${fmt(median(peer.io))} / ${fmt(median(peer.sh))} Mpps`);
