// Several queue pairs (MQ): our frontend (VirtioUserPort) against our device (VhostUserPort
// in a worker, fixtures/backend-worker.mjs echoing each queue on itself) with 4 pairs, and
// against DPDK 22.11's net_vhost (testpmd) with 2. Traffic on every queue, each frame back on
// the queue it went out on, per-queue counters that agree on both sides, no buffer leaked.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
import { Burst, Mempool } from '@vnf-sdk/core';
import type { PortStats } from '@vnf-sdk/ports';
import { itWhen } from '@vnf-sdk/test-support';
import { sleep, Testpmd, testpmdUnavailable } from '@vnf-sdk/virtio-peers';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { VirtioUserPort } from '../src/index.js';

const WORKER = join(import.meta.dirname, 'fixtures', 'backend-worker.mjs');

/** A frame of 60..315 bytes carrying its queue (offset 14) and sequence number (offset 15). */
function frame(queue: number, seq: number): Uint8Array {
  const f = new Uint8Array(60 + ((seq * 7) % 256));
  f.set([0x02, 0, 0, 0, 0, 0x02, 0x02, 0, 0, 0, 0, 0x01, 0x88, 0xb5]);
  f[14] = queue;
  new DataView(f.buffer).setUint32(15, seq);
  return f;
}

/** testpmd's per-stream blocks of `stop` (printed when there are more streams than ports). */
function streamStats(text: string): Map<number, { rx: number; tx: number }> {
  const out = new Map<number, { rx: number; tx: number }>();
  const re = /Forward Stats for RX Port=\s*0\/Queue=\s*(\d+) -> TX Port=\s*0\/Queue=\s*\d+ -+\s+RX-packets:\s*(\d+)\s+TX-packets:\s*(\d+)/g;
  for (let m = re.exec(text); m; m = re.exec(text)) out.set(Number(m[1]), { rx: Number(m[2]), tx: Number(m[3]) });
  return out;
}

describe('several queue pairs', () => {
  const dir = mkdtempSync(join(tmpdir(), 'vnf-mq-'));
  const cleanup: (() => unknown)[] = [];
  afterEach(async () => {
    for (const f of cleanup.splice(0)) await f();
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('4 pairs, our frontend against our device: every queue echoes on itself, per-queue counters agree, no leak', async () => {
    const Q = 4;
    const N = 2000; // frames per queue
    const path = join(dir, 'ours.sock');
    const ctl = new Int32Array(new SharedArrayBuffer(8 * 4));
    const worker = new Worker(WORKER, { workerData: { path, ctl: ctl.buffer, echo: true, headroom: 256, genSize: 100, portOptions: { queues: Q } } });
    const done = new Promise<{ stats: PortStats; queueStats: PortStats[]; lastError: string; inUse: number }>((resolve, reject) => {
      worker.on('message', (m) => {
        if (m.openError) reject(new Error(`backend open: ${m.openError}`));
        else if (m.done) resolve(m);
      });
      worker.on('error', reject);
      worker.on('exit', (code) => reject(new Error(`backend worker exited with ${code} before reporting`)));
    });
    done.catch(() => {});
    cleanup.push(async () => {
      Atomics.store(ctl, 0, 1);
      await Promise.race([done.catch(() => {}), sleep(5000)]);
      await worker.terminate();
    });
    const listening = new Promise((resolve, reject) => {
      worker.on('message', (m) => m.listening && resolve(m));
      worker.on('error', reject);
    });
    await listening;
    const pool = Mempool.create({ count: 4096, name: 'mq-fe' });
    cleanup.unshift(() => pool.close());
    const fe = new VirtioUserPort(pool, { path, queues: Q, queueSize: 256 });
    cleanup.unshift(() => fe.close());
    expect(fe.featureNames()).toContain('MQ');
    expect(fe.queues).toBe(Q);
    const t0 = Date.now();
    while (Atomics.load(ctl, 2) !== 1) {
      if (Date.now() - t0 > 10_000) throw new Error('the device link did not come up');
      await sleep(2);
    }

    // All queues at once, interleaved: each queue's frames come back on it, in order.
    const tx = Array.from({ length: Q }, () => new Burst(32));
    const rx = new Burst(64);
    const next = new Array<number>(Q).fill(0);
    const want = new Array<number>(Q).fill(0);
    const bytes = new Array<number>(Q).fill(0);
    const end = Date.now() + 30_000;
    while (want.some((w) => w < N)) {
      if (Date.now() > end) throw new Error(`echo: ${want.join('/')} of ${N} per queue after 30 s; ${fe.lastError()}`);
      for (let q = 0; q < Q; q++) {
        const b = tx[q]!;
        if (b.count === 0 && next[q]! < N) {
          pool.alloc(b, Math.min(b.capacity, N - next[q]!));
          for (let i = 0; i < b.count; i++) {
            const f = frame(q, next[q]!++);
            bytes[q]! += f.length;
            pool.write(b.ids[i], f);
          }
        }
        if (b.count > 0) fe.txBurst(b, q);
        const n = fe.rxBurst(rx, q);
        for (let i = 0; i < n; i++) {
          const got = pool.read(rx.ids[i]);
          const exp = frame(q, want[q]!);
          expect(got[14], `a frame of queue ${got[14]} came back on queue ${q}`).toBe(q);
          expect(Buffer.compare(Buffer.from(got), Buffer.from(exp)), `queue ${q} frame ${want[q]}`).toBe(0);
          want[q]!++;
        }
        pool.put(rx);
      }
      await new Promise((r) => setImmediate(r));
    }
    for (let q = 0; q < Q; q++) {
      expect(fe.queueStats(q)).toEqual({ rxPackets: N, rxBytes: bytes[q], rxDrops: 0, rxErrors: 0, txPackets: N, txBytes: bytes[q], txDrops: 0, txErrors: 0 });
    }
    fe.close();
    expect(pool.stats().inUse).toBe(0);
    Atomics.store(ctl, 0, 1);
    const r = await done;
    expect(r.lastError).toBe('');
    expect(r.inUse).toBe(0);
    for (let q = 0; q < Q; q++) {
      expect(r.queueStats[q], `device queue ${q}`).toEqual({ rxPackets: N, rxBytes: bytes[q], rxDrops: 0, rxErrors: 0, txPackets: N, txBytes: bytes[q], txDrops: 0, txErrors: 0 });
    }
  }, 90_000);

  const reason = testpmdUnavailable();
  itWhen(reason, '2 pairs against dpdk-testpmd net_vhost (queues=2): per-queue counts agree both ways', async () => {
    const socket = join(dir, 'testpmd.sock');
    const vh = Testpmd.start({ role: 'vhost', socket, queues: 2, forwardMode: 'rxonly', cpu: 0 });
    cleanup.push(() => vh.stop());
    await vh.waitListening();
    const pool = Mempool.create({ count: 8192, name: 'mq-testpmd', hugepages: 'never' });
    cleanup.unshift(() => pool.close());
    const port = new VirtioUserPort(pool, { path: socket, queues: 2 });
    cleanup.unshift(() => port.close());
    await vh.waitReady();
    expect(port.featureNames()).toContain('MQ');

    // Ours -> testpmd: a different count on each queue.
    const counts = [3000, 5000];
    const b = new Burst(32);
    for (let q = 0; q < 2; q++) {
      let sent = 0;
      const deadline = Date.now() + 10_000;
      while (sent < counts[q]! && Date.now() < deadline) {
        const before = b.count;
        pool.alloc(b, Math.min(32, counts[q]! - sent) - before);
        for (let i = before; i < b.count; i++) pool.write(b.ids[i], frame(q, sent + i));
        sent += port.txBurst(b, q);
      }
      pool.put(b);
      expect(sent, `queue ${q}`).toBe(counts[q]);
      expect(port.queueStats(q).txPackets).toBe(counts[q]);
    }
    await sleep(300);
    const rxStreams = streamStats(await vh.command('stop'));
    expect(rxStreams.get(0)?.rx, `testpmd's stop output:\n${vh.log.tail()}`).toBe(counts[0]);
    expect(rxStreams.get(1)?.rx).toBe(counts[1]);

    // testpmd -> ours: txonly on both queues for a moment; what each stream sent, that queue got.
    await vh.command('set fwd txonly');
    await vh.startForwarding();
    const r = new Burst(64);
    const got = [0, 0];
    const poll = () => {
      for (let q = 0; q < 2; q++) {
        got[q]! += port.rxBurst(r, q);
        pool.put(r);
      }
    };
    const until = Date.now() + 1500;
    while (Date.now() < until) {
      poll();
      await new Promise((res) => setImmediate(res));
    }
    const txStreams = streamStats(await vh.command('stop'));
    for (let i = 0; i < 200; i++) poll();
    for (let q = 0; q < 2; q++) {
      expect(got[q], `queue ${q}`).toBeGreaterThan(1000);
      expect(got[q], `queue ${q}: testpmd's stop output:\n${vh.log.tail()}`).toBe(txStreams.get(q)?.tx);
      expect(port.queueStats(q).rxPackets).toBe(got[q]);
    }
    port.close();
    expect(pool.stats().inUse).toBe(0);
  }, 90_000);
});
