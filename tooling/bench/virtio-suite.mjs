// The virtio suite (issue 7): 64-byte frames (60 bytes + the 12-byte virtio-net header) over
// vhost-user, one core each side, in Mpps, our ports driven by a JavaScript loop
// (virtio-port.mjs: allocate, write and txBurst each burst; rxBurst and pool.put) next to
// DPDK 22.11's own pair (dpdk-testpmd virtio_user <-> net_vhost) measured in the same run:
//
//   frontend-tx.dpdk-vhost         our VirtioUserPort tx  -> testpmd net_vhost rxonly
//   frontend-rx.dpdk-vhost         testpmd net_vhost txonly -> our VirtioUserPort rx
//   device-rx.dpdk-virtio-user     testpmd virtio_user txonly -> our VhostUserPort rx
//   device-tx.dpdk-virtio-user     our VhostUserPort tx -> testpmd virtio_user rxonly
//   frontend-tx.device-rx          ours -> ours: our frontend tx -> our device rx
//   device-tx.frontend-rx          ours -> ours: our device tx -> our frontend rx
//   dpdk.virtio-user-to-vhost      the peer: testpmd virtio_user txonly -> net_vhost rxonly
//   dpdk.vhost-to-virtio-user      the peer: testpmd net_vhost txonly -> virtio_user rxonly
//
// Each figure is counted at the receiver over a fixed window: testpmd's "Rx-pps (since last
// show)" between two `show port stats all` (its own TSC interval), or our port's rx counter
// read at both ends of the window inside the loop. Each of ours is compared with the DPDK
// pair moving packets the same way (virtio_user -> vhost, or vhost -> virtio_user); target
// >= 0.5x. Cores: our process (or, in the DPDK pair, virtio_user) on CPU 0, the other side on
// CPU 1 (testpmd: its lcores and every thread, taskset -ap after start; ours -> ours: the
// frontend on CPU 0, the device on CPU 1). Every measurement starts fresh processes on a new
// socket; rounds are interleaved (each of ours, then the DPDK pair, per direction), medians
// of RUNS rounds. testpmd runs as the harness (@vnf-sdk/virtio-peers) starts it: --no-huge,
// -m 512, 16384 mbufs, 1024 descriptors, bursts of 32, split rings, DPDK's default features.
//
// Environment: VNF_VIRTIO_WINDOW (seconds, default 3), VNF_VIRTIO_WARMUP (seconds, default 1),
// VNF_VIRTIO_BURST (default 32), VNF_VIRTIO_CASES (a comma list of the names above; default all).
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { track, untrack } from '@vnf-sdk/netns';
import { hasTool, OutputLog, PeerError, sleep, Testpmd, terminate, testpmdUnavailable } from '@vnf-sdk/virtio-peers';
import { median, record } from './stats.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const PORT_SCRIPT = join(here, 'virtio-port.mjs');
const WINDOW = Number(process.env.VNF_VIRTIO_WINDOW ?? 3);
const WARMUP = Number(process.env.VNF_VIRTIO_WARMUP ?? 1);
const BURST = Number(process.env.VNF_VIRTIO_BURST ?? 32);
const FRAME = 60;
const OURS_CPU = 0;
const PEER_CPU = 1;
// How long our sender keeps going after its own window: when testpmd counts, long enough to
// cover the parent's window, which opens a little later (after the first packets); when our
// receiver counts, long enough to cover the receiver's window (its link came up at about the
// same moment), which ends with a tail of RECEIVER_TAIL.
const SENDER_TAIL_FOR_TESTPMD = 2;
const SENDER_TAIL = 1;
const RECEIVER_TAIL = 0.5;

const VU_TO_VH = 'dpdk virtio_user->vhost';
const VH_TO_VU = 'dpdk vhost->virtio_user';

// Endpoints: `listen` is the side that creates the socket (net_vhost, or our device).
const testpmd = (role, mode, cpu) => ({ kind: 'testpmd', role, mode, cpu });
const ours = (side, dir, cpu) => ({ kind: 'ours', side, dir, cpu });

/** The measurements, in round order: per direction, ours then the DPDK pair. */
const CASES = [
  { key: 'frontend-tx.dpdk-vhost', peer: VU_TO_VH, listen: testpmd('vhost', 'rxonly', PEER_CPU), connect: ours('frontend', 'tx', OURS_CPU) },
  { key: 'device-rx.dpdk-virtio-user', peer: VU_TO_VH, listen: ours('device', 'rx', OURS_CPU), connect: testpmd('virtio-user', 'txonly', PEER_CPU) },
  { key: 'frontend-tx.device-rx', peer: VU_TO_VH, listen: ours('device', 'rx', PEER_CPU), connect: ours('frontend', 'tx', OURS_CPU) },
  { key: 'dpdk.virtio-user-to-vhost', dpdk: VU_TO_VH, listen: testpmd('vhost', 'rxonly', PEER_CPU), connect: testpmd('virtio-user', 'txonly', OURS_CPU) },
  { key: 'frontend-rx.dpdk-vhost', peer: VH_TO_VU, listen: testpmd('vhost', 'txonly', PEER_CPU), connect: ours('frontend', 'rx', OURS_CPU) },
  { key: 'device-tx.dpdk-virtio-user', peer: VH_TO_VU, listen: ours('device', 'tx', OURS_CPU), connect: testpmd('virtio-user', 'rxonly', PEER_CPU) },
  { key: 'device-tx.frontend-rx', peer: VH_TO_VU, listen: ours('device', 'tx', PEER_CPU), connect: ours('frontend', 'rx', OURS_CPU) },
  { key: 'dpdk.vhost-to-virtio-user', dpdk: VH_TO_VU, listen: testpmd('vhost', 'txonly', PEER_CPU), connect: testpmd('virtio-user', 'rxonly', OURS_CPU) },
];
const isReceiver = (e) => (e.kind === 'ours' ? e.dir === 'rx' : e.mode === 'rxonly');

/** Why the suite cannot run here, or null. */
function unavailable() {
  if (process.getuid?.() !== 0) return 'needs root (testpmd and the vhost-user sockets as the tests run them)';
  const t = testpmdUnavailable();
  if (t) return t;
  if (!hasTool('taskset')) return 'needs taskset (util-linux) to pin each side to its core';
  return null;
}

/** Our port in a child process pinned to its CPU (virtio-port.mjs). */
function startOurs(e, socket, listen, tail, commands) {
  const args = ['--side', e.side, '--dir', e.dir, '--path', socket, '--warmup', String(WARMUP), '--window', String(WINDOW), '--tail', String(tail), '--burst', String(BURST), '--size', String(FRAME)];
  if (listen) args.push('--listen');
  commands.push(`taskset -c ${e.cpu} node tooling/bench/virtio-port.mjs ${args.join(' ').replace(socket, '<socket>')}`);
  const child = spawn('taskset', ['-c', String(e.cpu), process.execPath, PORT_SCRIPT, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  const log = new OutputLog(child, `our ${e.side} (${e.dir}, CPU ${e.cpu})`);
  const handle = {
    e,
    log,
    destroySync: () => {
      if (log.exit === null) child.kill('SIGKILL');
    },
    async opened() {
      await log.waitFor(/"event":"(open|error)"/, 30_000);
      failed(log);
    },
    async up() {
      await log.waitFor(/"event":"(up|error)"/, 30_000);
      failed(log);
    },
    /** The child's report, after its tail. */
    async done() {
      await log.waitFor(/"event":"(done|error)".*\n/, (WARMUP + WINDOW + tail) * 1000 + 30_000);
      failed(log);
      return JSON.parse(/^\{"event":"done".*$/m.exec(log.text)[0]);
    },
    ended: () => /"event":"done"/.test(log.text) || log.exit !== null,
    async stop() {
      await terminate(child, 2000);
      untrack(handle);
    },
  };
  track(handle);
  return handle;
}

function failed(log) {
  const m = /^\{"event":"error".*$/m.exec(log.text);
  if (m) throw new PeerError(`${log.what}: ${JSON.parse(m[0]).message}`);
}

/** dpdk-testpmd as the harness starts it, then every thread pinned to the endpoint's CPU. */
function startTestpmd(e, socket, commands) {
  const opts = { role: e.role, socket, forwardMode: e.mode, cpu: e.cpu, txpkts: FRAME, burst: BURST };
  const t = Testpmd.start(opts);
  commands.push(`dpdk-testpmd ${t.args.join(' ').replaceAll(socket, '<socket>').replace(/--file-prefix \S+/, '--file-prefix <prefix>')}`);
  return {
    e,
    t,
    async opened() {
      await t.waitListening();
    },
    async up() {
      await t.waitReady();
      // EAL's control threads (vhost-events, interrupts) would otherwise sit on the other core.
      const pin = spawnSync('taskset', ['-a', '-p', '-c', String(e.cpu), String(t.pid)], { encoding: 'utf8' });
      if (pin.status !== 0) throw new PeerError(`taskset -a -p -c ${e.cpu} ${t.pid} (testpmd): ${pin.stderr.trim()}`);
      commands.push(`taskset -a -p -c ${e.cpu} <testpmd pid>`);
      if (e.role === 'virtio-user') await t.waitLinkUp();
    },
    stop: () => t.stop(),
  };
}

/**
 * Receive rate at a testpmd receiver: waits for the first packets, then the warm-up, then
 * reads Rx-pps over WINDOW seconds (testpmd's own interval between two shows).
 */
async function testpmdRate(rx, sender) {
  const t0 = Date.now();
  while ((await rx.t.stats()).rxPackets === 0) {
    if (Date.now() - t0 > 10_000) throw new PeerError(`${rx.t.log.what}: nothing received within 10 s`);
    await sleep(50);
  }
  await sleep(WARMUP * 1000);
  const a = await rx.t.stats();
  const ta = performance.now();
  await sleep(WINDOW * 1000);
  const b = await rx.t.stats();
  const tb = performance.now();
  if (sender?.ended?.()) throw new PeerError(`${sender.log.what} stopped sending before the window closed (raise its tail)`);
  return { mpps: b.rxPps / 1e6, packets: b.rxPackets - a.rxPackets, seconds: (tb - ta) / 1000, rxMissed: b.rxMissed - a.rxMissed };
}

/** One measurement: fresh processes on a fresh socket, the receiver's rate; always cleaned up. */
async function measure(c, dir, n, commands) {
  const socket = join(dir, `${n}.sock`);
  const receiver = isReceiver(c.listen) ? 'listen' : 'connect';
  const sender = receiver === 'listen' ? 'connect' : 'listen';
  const tail = (e) => (e !== c[sender] ? RECEIVER_TAIL : c[receiver].kind === 'testpmd' ? SENDER_TAIL_FOR_TESTPMD : SENDER_TAIL);
  const start = (e, listen) => (e.kind === 'ours' ? startOurs(e, socket, listen, tail(e), commands) : startTestpmd(e, socket, commands));
  const ends = {};
  try {
    ends.listen = start(c.listen, true);
    await ends.listen.opened();
    ends.connect = start(c.connect, false);
    await Promise.all([ends.listen.up(), ends.connect.up()]);
    const rx = ends[receiver];
    const tx = ends[sender];
    if (rx.e.kind === 'testpmd') {
      const r = await testpmdRate(rx, tx.e.kind === 'ours' ? tx : null);
      if (tx.e.kind === 'ours') r.sender = await tx.done();
      return r;
    }
    const r = await rx.done();
    if (!r.upAtWindowEnd || r.packets === 0) throw new PeerError(`${rx.log.what}: ${r.packets} packets in the window, link ${r.upAtWindowEnd ? 'up' : 'down'} at its end; ${r.lastError}`);
    if (tx.e.kind === 'ours') r.sender = await tx.done();
    return r;
  } catch (err) {
    // The first error is often the survivor's (its peer went away): name the ones that died.
    const dead = Object.values(ends).map((x) => x.log ?? x.t.log).filter((log) => log.exit && !/"event":"done"/.test(log.text));
    for (const log of dead) if (!err.message.includes(log.what)) err.message += `\n${log.what} ${log.exit}; output:\n${log.tail(2000)}`;
    throw err;
  } finally {
    // The connecting side first: a listener going away first makes it reconnect in a loop.
    for (const k of ['connect', 'listen']) await ends[k]?.stop();
    rmSync(socket, { force: true });
  }
}

export async function virtioSuite(RUNS, commands) {
  const why = unavailable();
  if (why) {
    console.log(`virtio suite skipped: ${why}`);
    return { records: [], meta: { skipped: why } };
  }
  commands.push(`node tooling/bench/run.mjs virtio --rounds ${RUNS}`);
  const wanted = process.env.VNF_VIRTIO_CASES?.split(',');
  const unknown = (wanted ?? []).filter((k) => !CASES.some((c) => c.key === k));
  if (unknown.length) throw new Error(`VNF_VIRTIO_CASES: unknown ${unknown.join(', ')}; known: ${CASES.map((c) => c.key).join(', ')}`);
  const cases = CASES.filter((c) => !wanted || wanted.includes(c.key));
  const samples = Object.fromEntries(cases.map((c) => [c.key, []]));
  const loadBefore = loadavg();
  const dir = mkdtempSync(join(tmpdir(), 'vnf-bench-virtio-'));
  const dirHandle = { destroySync: () => rmSync(dir, { recursive: true, force: true }) };
  track(dirHandle);
  let n = 0;
  try {
    for (let round = 1; round <= RUNS; round++) {
      for (const c of cases) {
        const r = await measure(c, dir, n++, commands);
        samples[c.key].push(r);
        for (const side of [r, r.sender]) {
          // Every buffer must be back once the port is closed (the rings' included).
          if (side?.poolInUseAfterClose) console.log(`  warning: ${c.key}: our ${side.side} left ${side.poolInUseAfterClose} buffers in use after close`);
        }
        const extra = r.sender ? `, sender: ${r.sender.idleCalls} of ${r.sender.calls} bursts took nothing` : r.calls ? `, ${r.idleCalls} of ${r.calls} bursts empty` : '';
        console.log(`  round ${round} ${c.key.padEnd(28)} ${r.mpps.toFixed(3)} Mpps (${r.packets} packets in ${r.seconds.toFixed(2)} s${extra})`);
      }
    }
  } finally {
    dirHandle.destroySync();
    untrack(dirHandle);
  }
  const mpps = (key) => median((samples[key] ?? []).map((r) => r.mpps));
  const dpdk = { [VU_TO_VH]: mpps('dpdk.virtio-user-to-vhost'), [VH_TO_VU]: mpps('dpdk.vhost-to-virtio-user') };
  const records = cases.map((c) =>
    c.dpdk ? record(`virtio.${c.key}`, 'Mpps', mpps(c.key), 'higher') : record(`virtio.${c.key}`, 'Mpps', mpps(c.key), 'higher', c.peer, dpdk[c.peer], '>= 0.5x'),
  );
  // Beside the ratio of medians: the median of each round's ratio to the DPDK pair measured
  // moments later in the same round, less exposed to a load that changes over the run.
  const pairKey = { [VU_TO_VH]: 'dpdk.virtio-user-to-vhost', [VH_TO_VU]: 'dpdk.vhost-to-virtio-user' };
  const roundRatios = {};
  for (const c of cases.filter((x) => x.peer && samples[pairKey[x.peer]])) {
    const peer = samples[pairKey[c.peer]];
    roundRatios[c.key] = samples[c.key].map((r, i) => (peer[i] ? r.mpps / peer[i].mpps : null));
    console.log(`  ${c.key.padEnd(28)} median of per-round ratios ${median(roundRatios[c.key])?.toFixed(2)}x`);
  }
  return {
    records,
    meta: {
      frameBytes: FRAME,
      burst: BURST,
      window: WINDOW,
      warmup: WARMUP,
      oursCpu: OURS_CPU,
      peerCpu: PEER_CPU,
      loadavgBefore: loadBefore,
      loadavgAfter: loadavg(),
      roundRatios,
      samples,
    },
  };
}
