// One side of a virtio suite measurement (virtio-suite.mjs starts it pinned with `taskset -c`):
// our frontend (VirtioUserPort) or our device (VhostUserPort) on a vhost-user socket,
// transmitting or receiving 60-byte frames from a JavaScript loop, as an appliance would:
//
//   tx   GeneratorPort.rxBurst (pool buffers allocated and the frame written, word by word, as
//        testpmd txonly writes each mbuf) then port.txBurst; what a full ring did not take stays
//        in the burst for the next call. The frontend's transmit is zero-copy: the buffers go
//        back to the pool when the device has used them (at a later txBurst).
//   rx   port.rxBurst then pool.put.
//
// Timeline from the moment the link is up: --warmup seconds (JIT, caches, the peer starting),
// then a counting window of --window seconds between two reads of the port's own counters
// (the time checked every 256 loop iterations), then --tail seconds more so that a window the
// parent reads on the peer's counters is covered too. Prints one JSON line per event:
//   {"event":"open"}   the port exists (a listening device: start the peer now)
//   {"event":"up",...} the link is up, the loop starts
//   {"event":"done","mpps":...,"packets":...,"seconds":...,...}
// A failure prints {"event":"error","message":...} and exits 1. The parent kills it with
// SIGKILL if it has to; the socket (when we listen) is in the parent's temporary directory.
import { parseArgs } from 'node:util';
import { Burst, Mempool, PortCounter } from '@vnf-sdk/core';
import { GeneratorPort } from '@vnf-sdk/ports';
import { VhostUserPort, VirtioUserPort } from '@vnf-sdk/virtio';

const { values: o } = parseArgs({
  options: {
    side: { type: 'string' }, // frontend | device
    dir: { type: 'string' }, // tx | rx
    path: { type: 'string' },
    listen: { type: 'boolean', default: false },
    warmup: { type: 'string', default: '1' },
    window: { type: 'string', default: '3' },
    tail: { type: 'string', default: '1.5' },
    burst: { type: 'string', default: '32' },
    size: { type: 'string', default: '60' },
    pool: { type: 'string', default: '8192' },
    'up-timeout': { type: 'string', default: '20' },
  },
});

const emit = (event, fields = {}) => process.stdout.write(`${JSON.stringify({ event, ...fields })}\n`);
const fail = (message) => {
  emit('error', { message });
  process.exit(1);
};
if (!['frontend', 'device'].includes(o.side)) fail(`--side must be frontend or device, got ${o.side}`);
if (!['tx', 'rx'].includes(o.dir)) fail(`--dir must be tx or rx, got ${o.dir}`);
if (!o.path) fail('--path (the vhost-user socket) is required');
for (const k of ['warmup', 'window', 'tail', 'burst', 'size', 'pool', 'up-timeout']) {
  if (!(Number(o[k]) >= 0)) fail(`--${k} must be a number, got ${o[k]}`);
}
if (!(Number(o.burst) >= 1 && Number(o.burst) <= 4096)) fail(`--burst must be from 1 to 4096, got ${o.burst}`);

const warmupMs = Number(o.warmup) * 1000;
const windowMs = Number(o.window) * 1000;
const tailMs = Number(o.tail) * 1000;
const BURST = Number(o.burst);
const nap = new Int32Array(new SharedArrayBuffer(4));
const sleepSync = (ms) => Atomics.wait(nap, 0, 0, ms);

// The pool memfd is shared with the peer; hugepages off like testpmd's --no-huge.
const pool = Mempool.create({ count: Number(o.pool), name: `bench-${o.side}-${o.dir}`, hugepages: 'never' });
let port;
try {
  port =
    o.side === 'frontend'
      ? new VirtioUserPort(pool, { path: o.path, server: o.listen, connectTimeoutMs: Number(o['up-timeout']) * 1000 })
      : new VhostUserPort(pool, { path: o.path, client: !o.listen, connectTimeoutMs: Number(o['up-timeout']) * 1000 });
} catch (e) {
  fail(`open ${o.side} on ${o.path}: ${e.message}`);
}
emit('open');

// The device handles the frontend's control messages in linkUp() (and bursts) only.
const upBy = performance.now() + Number(o['up-timeout']) * 1000;
while (!port.linkUp()) {
  if (performance.now() > upBy) fail(`${o.side}: link not up within ${o['up-timeout']} s; ${port.lastError()}`);
  sleepSync(1);
}
emit('up', o.side === 'frontend' ? { features: port.featureNames() } : { offered: port.offered.toString(16) });

const c = port.counters;
const counted = o.dir === 'tx' ? PortCounter.txPackets : PortCounter.rxPackets;
const gen = o.dir === 'tx' ? new GeneratorPort(pool, { size: Number(o.size) }) : null;
const b = new Burst(BURST);
const tUp = performance.now();
let phase = 0; // 0 warm-up, 1 counting, 2 tail
let t0 = 0;
let t1 = 0;
let p0 = 0;
let p1 = 0;
let upAtWindowEnd = false;
let calls = 0;
let idleCalls = 0;
let iter = 0;
for (;;) {
  let moved;
  if (gen) {
    gen.rxBurst(b);
    moved = port.txBurst(b);
  } else {
    moved = port.rxBurst(b);
    if (moved > 0) pool.put(b);
  }
  if (phase === 1) {
    calls++;
    if (moved === 0) idleCalls++;
  }
  if ((++iter & 255) !== 0) continue;
  const now = performance.now();
  if (phase === 0 && now - tUp >= warmupMs) {
    p0 = c[counted];
    t0 = performance.now();
    phase = 1;
  } else if (phase === 1 && now - t0 >= windowMs) {
    p1 = c[counted];
    t1 = performance.now();
    upAtWindowEnd = port.linkUp();
    phase = 2;
  } else if (phase === 2 && now - t1 >= tailMs) break;
}
if (b.count) pool.put(b); // what the ring did not take
const stats = port.stats();
const lastError = port.lastError();
port.close();
const inUse = pool.stats().inUse;
pool.close();
const seconds = (t1 - t0) / 1000;
emit('done', {
  side: o.side,
  dir: o.dir,
  packets: p1 - p0,
  seconds,
  mpps: (p1 - p0) / seconds / 1e6,
  // Burst calls in the window and those that moved nothing (ring full on tx, empty on rx).
  calls,
  idleCalls,
  stats,
  lastError,
  // At the end the peer may have gone already (its own tail ended first): only the window counts.
  upAtWindowEnd,
  poolInUseAfterClose: inUse,
});
