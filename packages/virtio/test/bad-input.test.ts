// Bad input from a vhost-user frontend (issue 7): an appliance with two device ports
// (fixtures/appliance-worker.mjs: VhostUserPorts echoing, in a worker thread) is attacked on
// one of them by native/test/vhost_bad_peer (a malicious frontend built on our own Frontend
// and DriverQueue) while our VirtioUserPort keeps traffic going through the other. For every
// scenario: the attacked port names the reason in lastError(), counts it, drops the frontend
// (link down, device reset), leaks no buffer; the healthy port forwards throughout; and the
// attacked port then serves a well-behaved frontend.
import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
import { Burst, Mempool } from '@vnf-sdk/core';
import type { PortStats } from '@vnf-sdk/ports';
import { itWhen } from '@vnf-sdk/test-support';
import { hasTool, OutputLog, terminate, waitExit } from '@vnf-sdk/virtio-peers';
import { afterAll, beforeAll, describe, expect } from 'vitest';
import { VirtioUserPort } from '../src/index.js';

const NATIVE = join(import.meta.dirname, '..', '..', '..', 'native');
const PEER = join(NATIVE, 'build-test', 'vhost_bad_peer');
const WORKER = join(import.meta.dirname, 'fixtures', 'appliance-worker.mjs');
const reason = hasTool('make') && hasTool('g++') ? null : 'needs make and g++ to build native/test/vhost_bad_peer.cc';

interface PortState {
  stats: PortStats;
  lastError: string;
  linkUp: boolean;
}
interface Snapshot {
  snapshot: number;
  attacked: PortState;
  healthy: PortState;
  /** Pool buffers in use that the worker's own bursts do not hold. */
  leaked: number;
}

/** One attack: the peer's arguments, the reason the port must give, the counter it must bump. */
interface Scenario {
  name: string;
  args: string[];
  reason: RegExp;
  counter: 'rxErrors' | 'txErrors';
  /** The device must have run the rings (link up) before dropping the frontend. */
  wasUp?: boolean;
  /** A refusal with REPLY_ACK: the device nacks and keeps the connection; the peer hangs up. */
  nack?: boolean;
  /** Not a protocol violation: the device must keep serving (no error), the peer leaves by itself. */
  survives?: boolean;
}

const hex = '0x[0-9a-f]+';
const SCENARIOS: Scenario[] = [];
for (const packed of [false, true]) {
  const ring = packed ? 'packed' : 'split';
  const p = packed ? ['--packed'] : [];
  const q1 = `${ring} queue 1`;
  SCENARIOS.push(
    {
      name: `${ring}: descriptor chain that loops`,
      args: ['loop', ...p],
      reason: packed
        ? new RegExp(`${q1}: chain at ring position 0 is longer than the queue size 256`)
        : new RegExp(`${q1}: chain at head \\d+ \\(avail idx 0\\) is longer than the queue size 256 \\(a loop\\)`),
      counter: 'rxErrors',
    },
    {
      name: `${ring}: buffer address outside every memory region (transmit ring)`,
      args: ['addr-outside', ...p],
      reason: new RegExp(`${q1}: descriptor \\d+: buffer 0xdead0000\\+256 outside guest memory`),
      counter: 'rxErrors',
    },
    {
      name: `${ring}: buffer address outside every memory region (receive ring, device transmitting)`,
      args: ['addr-outside', '--queue', 'rx', ...p],
      reason: new RegExp(`${ring} queue 0: descriptor \\d+: buffer 0xdead0000\\+256 outside guest memory`),
      counter: 'txErrors',
    },
    {
      name: `${ring}: buffer running past the end of its region`,
      args: ['len-past-end', ...p],
      reason: new RegExp(`${q1}: descriptor \\d+: buffer ${hex}\\+2048 outside guest memory`),
      counter: 'rxErrors',
    },
    {
      name: `${ring}: chain whose lengths add up to 4 GiB or more (a 32-bit sum would wrap to 100 bytes)`,
      args: ['len-wrap', ...p],
      reason: new RegExp(`${q1}: descriptor \\d+: the chain's buffers add up to 4 GiB or more`),
      counter: 'rxErrors',
    },
    {
      name: `${ring}: ${packed ? 'buffer id' : 'head descriptor index'} out of range`,
      args: ['bad-id', ...p],
      reason: packed
        ? new RegExp(`${q1}: chain at ring position 0: buffer id 300 >= queue size 256`)
        : new RegExp(`${q1}: avail ring entry 0 \\(avail idx 0\\): head descriptor 300 >= queue size 256`),
      counter: 'rxErrors',
    },
    {
      name: `${ring}: indirect table inside an indirect table`,
      args: ['nested-indirect', ...p],
      reason: new RegExp(`${q1}: descriptor \\d+: indirect table entry 0 is itself indirect`),
      counter: 'rxErrors',
    },
    {
      name: `${ring}: ${packed ? 'device event area' : 'used ring'} address outside memory`,
      args: ['ring-outside', ...p],
      reason: new RegExp(`SET_VRING_ADDR: queue 1 ${packed ? 'device event area' : 'used ring'} \\[0xdead0000, \\+\\d+\\) is not inside one memory region`),
      counter: 'rxErrors',
    },
    {
      name: `${ring}: malformed message after set-up`,
      args: ['malformed', ...p],
      reason: /SET_VRING_NUM: payload size 4, expected 8/,
      counter: 'rxErrors',
      wasUp: true,
    },
  );
}
SCENARIOS.push(
  {
    name: 'split: avail index more than the ring size ahead',
    args: ['avail-jump'],
    reason: /split queue 1: avail idx 261 is 261 ahead of the last one read \(0\), more than the queue size 256/,
    counter: 'rxErrors',
  },
  {
    name: 'memory table with overlapping regions',
    args: ['overlap'],
    reason: /SET_MEM_TABLE: region 2 overlaps region 0 in guest physical addresses/,
    counter: 'rxErrors',
  },
  {
    name: 'memory table with overlapping regions, REPLY_ACK: refused with a nack',
    args: ['overlap', '--ack'],
    reason: /SET_MEM_TABLE: region 2 overlaps region 0 in guest physical addresses$/,
    counter: 'rxErrors',
    nack: true,
  },
  {
    name: 'call fd that is a pipe, not an eventfd (a full pipe would block the device)',
    args: ['call-pipe'],
    reason: /SET_VRING_CALL: queue 1: the fd is a pipe, not an eventfd/,
    counter: 'rxErrors',
  },
  {
    name: 'blocking call eventfd at its maximum count: the device keeps serving instead of blocking',
    args: ['call-saturated'],
    reason: /^$/,
    counter: 'rxErrors',
    survives: true,
  },
);

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const tick = () => new Promise((r) => setImmediate(r));

/** A short frame (ethertype 0x88b5) with its sequence number at offset 14. */
function frame(seq: number): Uint8Array {
  const f = new Uint8Array(64);
  f.set([0x02, 0, 0, 0, 0, 0x02, 0x02, 0, 0, 0, 0, 0x01, 0x88, 0xb5]);
  new DataView(f.buffer).setUint32(14, seq);
  return f;
}

describe('a vhost-user device port under attack, in a two-port appliance', () => {
  const dir = mkdtempSync(join(tmpdir(), 'vnf-bad-'));
  const attackedPath = join(dir, 'attacked.sock');
  const healthyPath = join(dir, 'healthy.sock');
  const ctl = new Int32Array(new SharedArrayBuffer(16 * 4));
  let worker: Worker | undefined;
  let pool: Mempool | undefined;
  let healthy: VirtioUserPort | undefined;
  const snapshots = new Map<number, (s: Snapshot) => void>();
  let done: Promise<{ attacked: PortState; healthy: PortState; inUse: number }> | undefined;
  // Healthy link traffic (main thread): frames sent, echoes received.
  let sent = 0;
  let echoed = 0;
  const tx = new Burst(16);
  const rx = new Burst(64);

  /** One round on the healthy link: up to 16 frames out, whatever came back in. */
  function pumpHealthy(): void {
    if (!healthy || !pool) return;
    if (tx.count === 0 && sent - echoed < 256) {
      pool.alloc(tx, 16);
      for (let i = 0; i < tx.count; i++) pool.write(tx.ids[i], frame(sent + i));
    }
    if (tx.count > 0) sent += healthy.txBurst(tx);
    echoed += healthy.rxBurst(rx);
    pool.put(rx);
  }

  /** Keeps the healthy link busy until `p` settles. */
  async function pumpWhile<T>(p: Promise<T>): Promise<T> {
    let settled = false;
    p.then(
      () => {
        settled = true;
      },
      () => {
        settled = true;
      },
    );
    while (!settled) {
      pumpHealthy();
      await tick();
    }
    return p;
  }

  async function until(what: string, cond: () => boolean, ms = 10_000): Promise<void> {
    const end = Date.now() + ms;
    while (!cond()) {
      if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
      pumpHealthy();
      await sleep(1);
    }
  }

  /** The worker's view of both ports (it answers between two rounds of its loop). */
  async function snapshot(): Promise<Snapshot> {
    const seq = Atomics.add(ctl, 7, 1) + 1;
    const got = new Promise<Snapshot>((resolve, reject) => {
      snapshots.set(seq, resolve);
      setTimeout(() => reject(new Error('the appliance worker did not answer a snapshot in 5 s')), 5000);
    });
    return await pumpWhile(got);
  }

  beforeAll(async () => {
    if (reason) return;
    // The peer is built here (make knows when it is up to date); `make -C native build-bad-peer`.
    execFileSync('make', ['-C', NATIVE, 'build-bad-peer'], { stdio: 'pipe', timeout: 180_000 });
    worker = new Worker(WORKER, { workerData: { attackedPath, healthyPath, ctl: ctl.buffer } });
    const listening = new Promise<void>((resolve, reject) => {
      worker!.on('message', (m: { listening?: boolean; openError?: string }) => {
        if (m.openError) reject(new Error(`appliance open: ${m.openError}`));
        else if (m.listening) resolve();
      });
      worker!.on('error', reject);
    });
    done = new Promise((resolve, reject) => {
      worker!.on('message', (m: Snapshot & { done?: boolean; inUse: number }) => {
        if (m.done) resolve(m);
        else if (m.snapshot) snapshots.get(m.snapshot)?.(m);
      });
      worker!.on('exit', (code) => reject(new Error(`appliance worker exited with ${code} before reporting`)));
    });
    done.catch(() => {});
    await listening;
    pool = Mempool.create({ count: 2048, name: 'bad-input-fe' });
    healthy = new VirtioUserPort(pool, { path: healthyPath, queueSize: 256 });
    await until('the healthy link', () => Atomics.load(ctl, 3) === 1);
  }, 240_000);

  afterAll(async () => {
    try {
      healthy?.close();
      if (worker) {
        Atomics.store(ctl, 0, 1);
        const report = await Promise.race([done, sleep(10_000).then(() => undefined)]);
        await worker.terminate();
        if (report) {
          // Counted by the appliance: nothing leaked over the whole run, the healthy port clean.
          expect(report.inUse).toBe(0);
          expect(report.healthy.stats.rxErrors + report.healthy.stats.txErrors).toBe(0);
        }
      }
      if (pool) {
        pool.put(tx);
        expect(pool.stats().inUse).toBe(0);
        pool.close();
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 30_000);

  for (const s of SCENARIOS) {
    itWhen(reason, s.name, async () => {
      const before = await snapshot();
      expect(before.attacked.linkUp).toBe(false);
      expect(before.leaked).toBe(0);
      const ups = Atomics.load(ctl, 2);
      const healthyBefore = echoed;
      // The receive-ring attack is only seen when the device transmits: give it a frame.
      if (s.args.includes('rx')) Atomics.store(ctl, 6, 1);

      const child = spawn(PEER, [attackedPath, ...s.args, '--timeout-ms', '8000'], { stdio: ['ignore', 'pipe', 'pipe'] });
      const log = new OutputLog(child, `vhost_bad_peer ${s.args.join(' ')}`);
      try {
        const exited = await pumpWhile(waitExit(child, 20_000));
        expect(exited, `the peer did not end; output:\n${log.text}`).toBe(true);
        expect(child.exitCode, `peer output:\n${log.text}`).toBe(0);
        expect(log.text).toMatch(
          s.survives ? /the device took [1-9]\d* frames in 2 s\n/ : s.nack ? /refused it and kept the connection/ : /the device dropped the connection|set-up ended/,
        );
      } finally {
        Atomics.store(ctl, 6, 0);
        await terminate(child);
      }
      await until('the attacked link to go down', () => Atomics.load(ctl, 1) === 0);
      const after = await snapshot();
      const a = after.attacked;
      expect(a.linkUp).toBe(false);
      if (s.survives) {
        expect(a.lastError).toBe(before.attacked.lastError);
        expect(a.stats.rxErrors + a.stats.txErrors).toBe(before.attacked.stats.rxErrors + before.attacked.stats.txErrors);
        expect(a.stats.rxPackets).toBeGreaterThan(before.attacked.stats.rxPackets);
        expect(after.healthy.lastError).toBe('');
        expect(echoed).toBeGreaterThan(healthyBefore);
        return;
      }
      expect(a.lastError).toMatch(s.reason);
      expect(a.lastError.startsWith(`vhost-user ${attackedPath}: `)).toBe(true);
      // A nack is sent while the connection stays: the reset comes when the peer hangs up.
      if (!s.nack) expect(a.lastError).toMatch(/\(device reset\)$/);
      expect(a.stats[s.counter] - before.attacked.stats[s.counter]).toBe(1);
      const other = s.counter === 'rxErrors' ? 'txErrors' : 'rxErrors';
      expect(a.stats[other]).toBe(before.attacked.stats[other]);
      if (s.wasUp) expect(Atomics.load(ctl, 2)).toBeGreaterThan(ups);
      expect(after.leaked).toBe(0);
      // The other port went on forwarding during the attack, without an error.
      expect(after.healthy.linkUp).toBe(true);
      expect(after.healthy.lastError).toBe('');
      expect(echoed).toBeGreaterThan(healthyBefore);

      // The attacked device takes the next (well-behaved) frontend and passes traffic.
      const fe = new VirtioUserPort(pool!, { path: attackedPath, queueSize: 256, packed: s.args.includes('--packed') });
      try {
        await until('the attacked link to come back', () => Atomics.load(ctl, 1) === 1);
        const echoedA = Atomics.load(ctl, 5);
        const out = new Burst(32);
        const back = new Burst(64);
        pool!.alloc(out, 32);
        for (let i = 0; i < out.count; i++) pool!.write(out.ids[i], frame(i));
        let got = 0;
        await until('32 frames echoed by the attacked port', () => {
          if (out.count > 0) fe.txBurst(out);
          got += fe.rxBurst(back);
          pool!.put(back);
          return got === 32;
        });
        expect(Atomics.load(ctl, 5) - echoedA).toBe(32);
        expect(fe.stats()).toMatchObject({ txPackets: 32, rxPackets: 32, rxErrors: 0, txErrors: 0 });
      } finally {
        fe.close();
      }
      await until('the attacked link to go down after the good frontend left', () => Atomics.load(ctl, 1) === 0);
      const end = await snapshot();
      expect(end.attacked.stats[s.counter]).toBe(a.stats[s.counter]); // a clean goodbye is no error
      expect(end.leaked).toBe(0);
      const healthyAfter = echoed;
      await until('healthy traffic after the attack', () => echoed > healthyAfter + 64);
    }, 60_000);
  }
});
