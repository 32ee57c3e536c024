// The pipeline suite: generator -> parse -> two TypeScript stages -> null, on one and on two
// worker threads, in Mpps; the two-worker figure's peer is the one-worker figure (scaling).
// Also the generator alone into null (what the rest of the graph costs).
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Pipeline } from '@vnf-sdk/pipeline';
import { median, record } from './stats.mjs';

const GRAPH = join(dirname(fileURLToPath(import.meta.url)), 'pipeline-graph.mjs');
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function measure(workers, burstSize, seconds = 2) {
  const p = await Pipeline.start({ graph: GRAPH, workers, pool: { count: 16384 * workers, name: 'bench' }, runner: { burstSize } });
  await sleep(700); // JIT warm-up
  const sent = () => {
    const t = p.stats().total.ports;
    return t.out0.txPackets + t.out1.txPackets;
  };
  const n0 = sent();
  const t0 = performance.now();
  await sleep(seconds * 1000);
  const n1 = sent();
  const t1 = performance.now();
  const stats = await p.stop();
  const drops = Object.values(stats.total.drops).reduce((a, b) => a + b, 0);
  if (drops !== 0) throw new Error(`pipeline bench: ${drops} packets dropped: ${JSON.stringify(stats.total.drops)}`);
  return (n1 - n0) / ((t1 - t0) / 1000) / 1e6;
}

export async function pipelineSuite(RUNS, commands) {
  commands.push('node tooling/bench/run.mjs pipeline');
  const one = [];
  const two = [];
  const one256 = [];
  for (let i = 0; i < RUNS; i++) {
    one.push(await measure(1, 32));
    two.push(await measure(2, 32));
    one256.push(await measure(1, 256));
  }
  const m1 = median(one);
  const m2 = median(two);
  return {
    records: [
      record('pipeline gen->parse->ttl->classify->null, 1 worker, burst 32', 'Mpps', m1, 'higher'),
      record('pipeline gen->parse->ttl->classify->null, 2 workers, burst 32', 'Mpps', m2, 'higher', '1 worker (scaling)', m1),
      record('pipeline gen->parse->ttl->classify->null, 1 worker, burst 256', 'Mpps', median(one256), 'higher', '1 worker, burst 32', m1),
    ],
    meta: { runs: { one, two, one256 } },
  };
}
