// The protocols suite: burst parsing of the benchmark capture (mix.pcap) with the outer and
// inner 5-tuples, in JavaScript through the public API, next to a plain C++ parser doing
// the same over the same memory layout and to Go gopacket's zero-allocation
// DecodingLayerParser, all in this run. Each is measured in order (the capture's fixed
// sequence, which branch predictors partly learn) and shuffled within each burst.
// First, the self-check of the C++ peer: the keys it stores for every packet of the capture
// must be the JS parser's, byte for byte (else the suite throws, before any measurement), and
// every measured C++ process must print the same keys digest.
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { cppKeyRecords, runParsePeers } from './parse-peers.mjs';
import { diffKeyRecords, fnv1a64, keyRecords, loadCapture, measureParse, shuffledBursts } from './protocols-js.mjs';
import { median, record } from './stats.mjs';

const repo = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const PCAP = join(repo, '..', 'shared', 'testdata', 'bench', 'mix.pcap');

export async function protocolsSuite(RUNS, commands) {
  if (!existsSync(PCAP)) {
    console.log(`protocols suite skipped: ${PCAP} is missing (../shared/testdata)`);
    return { records: [], meta: { skipped: 'mix.pcap missing' } };
  }
  const data = loadCapture(PCAP);
  const orders = shuffledBursts(data);
  const jsKeys = keyRecords(data);
  const jsKeysDigest = fnv1a64(jsKeys.records);
  const cppKeys = await cppKeyRecords(PCAP);
  commands.push(...cppKeys.commands);
  if (cppKeys.available !== false) {
    const diff = diffKeyRecords(jsKeys, cppKeys.records);
    if (diff !== null || cppKeys.keysDigest !== jsKeysDigest) {
      throw new Error(
        `the C++ peer does not store the keys the JS parser stores (keys digest JS ${jsKeysDigest}, C++ ${cppKeys.keysDigest}):\n${diff ?? 'digests differ'}`,
      );
    }
    console.log(`keys self-check: C++ and JS store the same keys for all ${data.packets} packets (keys-digest ${jsKeysDigest})`);
  }
  // Ours and the peers take turns, run after run, so that a slow spell of this shared
  // machine hits both sides instead of one.
  const inOrder = [];
  const shuffled = [];
  const cppRuns = [];
  const cppShuffledRuns = [];
  const goRuns = [];
  const goSparseRuns = [];
  let peers = null;
  for (let i = 0; i < RUNS; i++) {
    inOrder.push(measureParse(data).mpps);
    shuffled.push(measureParse(data, { orders }).mpps);
    peers = await runParsePeers({ runs: 1, shuffled: true });
    commands.push(...(peers.commands ?? []));
    if (peers.cpp?.mpps != null) {
      const other = peers.cpp.keysDigests.filter((d) => d !== jsKeysDigest);
      if (other.length) throw new Error(`parse_bench printed keys-digest ${other.join(', ')}, the JS keys give ${jsKeysDigest}`);
      cppRuns.push(peers.cpp.mpps);
      cppShuffledRuns.push(peers.cpp.shuffledMpps);
    }
    if (peers.gopacket?.mpps != null) {
      goRuns.push(peers.gopacket.mpps);
      goSparseRuns.push(peers.gopacket.sparseMpps);
    }
  }
  commands.push('node tooling/bench/protocols-js.mjs (measureParse over mix.pcap, in this process)');
  const cpp = cppRuns.length ? { mpps: median(cppRuns), shuffledMpps: median(cppShuffledRuns) } : null;
  const go = goRuns.length ? { mpps: median(goRuns), sparseMpps: median(goSparseRuns) } : null;
  if (!cpp) console.log(`C++ peer unavailable: ${peers?.cpp?.reason ?? peers?.reason}`);
  if (!go) console.log(`gopacket peer unavailable: ${peers?.gopacket?.reason ?? peers?.reason}`);
  const js = median(inOrder);
  const jsShuffled = median(shuffled);
  const records = [
    record('parse-mix-js', 'Mpps', js, 'higher', cpp && 'plain C++ parser, same loop', cpp?.mpps ?? null, '>= 0.5x'),
    record('parse-mix-js-shuffled', 'Mpps', jsShuffled, 'higher', cpp && 'plain C++ parser, shuffled', cpp?.shuffledMpps ?? null, '>= 0.5x'),
    record('parse-mix-js (vs gopacket)', 'Mpps', js, 'higher', go && 'gopacket DecodingLayerParser', go?.mpps ?? null, '>= 1.5x'),
    record('parse-mix-js (vs gopacket sparse)', 'Mpps', js, 'higher', go && 'gopacket DecodingLayerSparse', go?.sparseMpps ?? null, '>= 1.5x'),
  ];
  return {
    records,
    meta: {
      packets: data.packets,
      tuplesMatch: peers?.tuplesMatch ?? null,
      keysDigest: { js: jsKeysDigest, cpp: cppKeys.keysDigest ?? null },
      keysMatch: cppKeys.available === false ? null : true,
      // Every run's figures, in run order (ours and the C++ peer's of the same run side by side).
      perRun: {
        js: inOrder,
        jsShuffled: shuffled,
        cpp: cppRuns,
        cppShuffled: cppShuffledRuns,
        gopacket: goRuns,
        gopacketSparse: goSparseRuns,
      },
    },
  };
}
