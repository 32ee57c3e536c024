// Our frontend (VirtioUserPort, main thread) against our device (VhostUserPort, a worker
// thread: each side's open and negotiation blocks its thread, so they cannot share one).
import { rmSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
import { Burst, Mempool } from '@vnf-sdk/core';
import { describe, expect, it } from 'vitest';
import type { PortStats } from '@vnf-sdk/ports';
import { VirtioUserPort } from '../src/index.js';

const WORKER = join(import.meta.dirname, 'fixtures', 'backend-worker.mjs');

interface Done {
  done: true;
  stats: PortStats;
  lastError: string;
  linkUp: boolean;
  inUse: number;
  received: number;
  echoed: number;
  generated: number;
}

/** The backend in a worker; `ctl` as backend-worker.mjs describes it. */
function backend(path: string, data: { echo: boolean; headroom: number; genSize?: number; portOptions?: object }) {
  const ctlBuffer = new SharedArrayBuffer(8 * 4);
  const ctl = new Int32Array(ctlBuffer);
  const worker = new Worker(WORKER, { workerData: { path, ctl: ctlBuffer, genSize: 100, portOptions: {}, ...data } });
  let onListening: (v: unknown) => void = () => {};
  let onDone: (v: Done) => void = () => {};
  let onError: (e: Error) => void = () => {};
  const listening = new Promise((resolve, reject) => {
    onListening = resolve;
    onError = reject;
  });
  const done = new Promise<Done>((resolve, reject) => {
    onDone = resolve;
    worker.on('error', reject);
    worker.on('exit', (code) => reject(new Error(`backend worker exited with ${code} before reporting`)));
  });
  done.catch(() => {}); // awaited (or abandoned after a failure) by the test
  worker.on('message', (m: { listening?: boolean; openError?: string; done?: boolean }) => {
    if (m.openError) onError(new Error(`backend open: ${m.openError}`));
    else if (m.listening) onListening(m);
    else if (m.done) onDone(m as Done);
  });
  worker.on('error', (e) => onError(e));
  /** Stops the worker loop and returns its report (the worker closes its port and pool). */
  const stop = async (): Promise<Done> => {
    Atomics.store(ctl, 0, 1);
    return await Promise.race([
      done,
      new Promise<Done>((_, reject) => setTimeout(() => reject(new Error('backend worker did not stop in 10 s')), 10_000)),
    ]);
  };
  const kill = async () => {
    Atomics.store(ctl, 0, 1);
    await Promise.race([done.catch(() => {}), new Promise((r) => setTimeout(r, 3000))]);
    await worker.terminate();
  };
  return { worker, ctl, listening, stop, kill };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
async function until(what: string, cond: () => boolean, ms = 10_000) {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(2);
  }
}

/** A frame of `size` bytes, ethertype 0x88b5, its sequence number at offset 14. */
function frame(seq: number, size: number): Uint8Array {
  const f = new Uint8Array(size);
  f.set([0x02, 0, 0, 0, 0, 0x02, 0x02, 0, 0, 0, 0, 0x01, 0x88, 0xb5]);
  new DataView(f.buffer).setUint32(14, seq);
  for (let j = 18; j < size; j++) f[j] = (seq + j) & 0xff;
  return f;
}
const sizeOf = (seq: number) => 60 + ((seq * 397) % 1441); // 60 .. 1500

/**
 * Sends `count` frames (sizes 60..1500) through `fe` and receives the backend's echoes,
 * checking each byte for byte and in order. Returns the bytes sent.
 */
function echoRound(pool: Mempool, fe: VirtioUserPort, first: number, count: number): number {
  const tx = new Burst(32);
  const rx = new Burst(64);
  let next = first;
  let want = first;
  let bytes = 0;
  const end = Date.now() + 20_000;
  while (want < first + count) {
    if (Date.now() > end) throw new Error(`echo: ${want - first} of ${count} frames back after 20 s (sent ${next - first}); ${fe.lastError()}`);
    if (tx.count === 0 && next < first + count) {
      pool.alloc(tx, Math.min(tx.capacity, first + count - next));
      for (let i = 0; i < tx.count; i++) {
        const f = frame(next, sizeOf(next));
        pool.write(tx.ids[i], f);
        bytes += f.length;
        next++;
      }
    }
    if (tx.count > 0) fe.txBurst(tx);
    const n = fe.rxBurst(rx);
    for (let i = 0; i < n; i++) {
      const got = pool.read(rx.ids[i]);
      const exp = frame(want, sizeOf(want));
      if (got.length !== exp.length || Buffer.compare(Buffer.from(got), Buffer.from(exp)) !== 0) {
        throw new Error(`echo: frame ${want} came back as ${got.length} bytes, seq ${new DataView(got.buffer).getUint32(14)}`);
      }
      want++;
    }
    pool.put(rx);
  }
  return bytes;
}

/** Asks the backend for `count` generated frames and receives them in order. */
async function generated(pool: Mempool, fe: VirtioUserPort, ctl: Int32Array, count: number): Promise<number> {
  Atomics.store(ctl, 1, count);
  const rx = new Burst(64);
  let got = 0;
  const end = Date.now() + 20_000;
  while (got < count) {
    if (Date.now() > end) throw new Error(`generated: ${got} of ${count} after 20 s; ${fe.lastError()}`);
    const n = fe.rxBurst(rx);
    for (let i = 0; i < n; i++) {
      const f = pool.read(rx.ids[i]);
      expect(f.length).toBe(100);
      expect((f[12] << 8) | f[13]).toBe(0x88b6);
      expect(new DataView(f.buffer).getUint32(14)).toBe(got);
      got++;
    }
    pool.put(rx);
    if (n === 0) await sleep(0);
  }
  return got * 100;
}

describe('VirtioUserPort (frontend) against VhostUserPort (device), in two threads', () => {
  for (const packed of [false, true]) {
    const ring = packed ? 'packed' : 'split';
    it(`${ring} rings: traffic both ways, counters agree, reconnect, every buffer back`, async () => {
      const path = join(tmpdir(), `vnf-vu-${process.pid}-${ring}.sock`);
      // Backend buffers with 1024 bytes of room: frames over that arrive chained (kMetaChain)
      // and are echoed from the chain.
      const be = backend(path, { echo: true, headroom: packed ? 256 : 1024 });
      const pool = Mempool.create({ count: 4096, name: `fe-${ring}` });
      let fe: VirtioUserPort | undefined;
      try {
        await be.listening;
        expect(Atomics.load(be.ctl, 2)).toBe(0);
        fe = new VirtioUserPort(pool, { path, packed, queueSize: 256 });
        expect(fe.featureNames()).toEqual(expect.arrayContaining(['VERSION_1', 'MRG_RXBUF', 'RING_EVENT_IDX', 'IN_ORDER', ...(packed ? ['RING_PACKED'] : [])]));
        await until('the backend link', () => Atomics.load(be.ctl, 2) === 1);

        const N = 3000;
        const M = 1000;
        const echoBytes = echoRound(pool, fe, 0, N);
        const genBytes = await generated(pool, fe, be.ctl, M);
        const s = fe.stats();
        expect(s).toEqual({ rxPackets: N + M, rxBytes: echoBytes + genBytes, rxDrops: 0, rxErrors: 0, txPackets: N, txBytes: echoBytes, txDrops: 0, txErrors: 0 });
        expect(fe.lastError()).toBe('');

        // The frontend goes away: the device drops the link and waits for the next one.
        fe.close();
        await until('the backend link to go down', () => Atomics.load(be.ctl, 2) === 0);
        fe = new VirtioUserPort(pool, { path, packed, queueSize: 256 });
        await until('the backend link again', () => Atomics.load(be.ctl, 2) === 1);
        const again = echoRound(pool, fe, N, 500);
        expect(fe.stats().txPackets).toBe(500);
        fe.close();
        fe = undefined;
        expect(pool.stats().inUse).toBe(0);

        const r = await be.stop();
        expect(r.lastError).toBe('');
        expect(r.stats).toEqual({
          rxPackets: N + 500,
          rxBytes: echoBytes + again,
          rxDrops: 0,
          rxErrors: 0,
          txPackets: N + M + 500,
          txBytes: echoBytes + genBytes + again,
          txDrops: 0,
          txErrors: 0,
        });
        expect(r.inUse).toBe(0);
      } finally {
        fe?.close();
        await be.kill();
        pool.close();
        rmSync(path, { force: true });
      }
    }, 90_000);
  }

  it('malformed control messages are counted, named, and the device takes the next frontend', async () => {
    const path = join(tmpdir(), `vnf-vu-${process.pid}-bad.sock`);
    const be = backend(path, { echo: true, headroom: 256 });
    const pool = Mempool.create({ count: 2048, name: 'fe-bad' });
    let fe: VirtioUserPort | undefined;
    try {
      await be.listening;
      // Raw peers: each sends one bad header and must be disconnected by the device.
      const bad = async (hdr: number[]) => {
        const sock = connect(path);
        await new Promise<void>((resolve, reject) => {
          sock.on('error', reject);
          sock.on('connect', () => sock.write(Buffer.from(new Uint32Array(hdr).buffer)));
          sock.on('close', () => resolve());
          setTimeout(() => reject(new Error('the device kept a peer that sent a malformed message')), 5000);
        });
      };
      await bad([1, 0, 0]); // GET_FEATURES with version 0 in the flags
      await bad([1, 1, 0x10000]); // a payload bigger than any request's
      fe = new VirtioUserPort(pool, { path, queueSize: 256 });
      await until('the backend link', () => Atomics.load(be.ctl, 2) === 1);
      echoRound(pool, fe, 0, 100);
      fe.close();
      fe = undefined;
      const r = await be.stop();
      expect(r.stats.rxErrors).toBe(2);
      expect(r.stats.rxPackets).toBe(100);
      expect(r.lastError).toMatch(/^vhost-user .*-bad\.sock: .*\(device reset\)$/);
      expect(r.inUse).toBe(0);
    } finally {
      fe?.close();
      await be.kill();
      pool.close();
      rmSync(path, { force: true });
    }
  }, 60_000);

  it('client role: the device connects to a listening frontend (virtio-user server), and again after it restarts', async () => {
    const path = join(tmpdir(), `vnf-vu-${process.pid}-client.sock`);
    rmSync(path, { force: true });
    // The device's open retries its connect while the frontend's open (below) listens and
    // negotiates, blocking this thread.
    const be = backend(path, { echo: true, headroom: 256, portOptions: { client: true, connectTimeoutMs: 10_000 } });
    const pool = Mempool.create({ count: 2048, name: 'fe-client' });
    let fe: VirtioUserPort | undefined;
    try {
      fe = new VirtioUserPort(pool, { path, server: true, queueSize: 256, connectTimeoutMs: 10_000 });
      await be.listening;
      await until('the backend link', () => Atomics.load(be.ctl, 2) === 1);
      echoRound(pool, fe, 0, 200);
      fe.close();
      await until('the backend link to go down', () => Atomics.load(be.ctl, 2) === 0);
      // The device reconnects by itself once a frontend listens again.
      fe = new VirtioUserPort(pool, { path, server: true, queueSize: 256, connectTimeoutMs: 10_000 });
      await until('the backend link again', () => Atomics.load(be.ctl, 2) === 1);
      echoRound(pool, fe, 200, 200);
      fe.close();
      fe = undefined;
      const r = await be.stop();
      expect(r.stats.rxPackets).toBe(400);
      expect(r.stats.txPackets).toBe(400);
      expect(r.stats.rxErrors + r.stats.txErrors).toBe(0);
      expect(r.inUse).toBe(0);
      expect(pool.stats().inUse).toBe(0);
    } finally {
      fe?.close();
      await be.kill();
      pool.close();
      rmSync(path, { force: true });
    }
  }, 60_000);
});
