// Our virtio-net frontend (VirtioUserPort) against DPDK 22.11's vhost-user backend
// (dpdk-testpmd --vdev net_vhost0): packets both ways with counters that agree exactly, split
// and packed rings, both socket roles, and a backend restart in the middle of traffic
// (reconnect, renegotiate, no buffer leaked).
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Burst, Mempool } from '@vnf-sdk/core';
import { itWhen } from '@vnf-sdk/test-support';
import { sleep, Testpmd, testpmdUnavailable } from '@vnf-sdk/virtio-peers';
import { afterAll, afterEach, describe, expect } from 'vitest';
import { VirtioUserPort } from '../src/index.js';

const reason = testpmdUnavailable();
const POOL = 8192;
const FRAME = new Uint8Array(60);
FRAME.set([0x02, 0, 0, 0, 0, 2, 0x02, 0, 0, 0, 0, 1, 0x08, 0x00]);

describe('VirtioUserPort against dpdk-testpmd net_vhost', () => {
  const dir = mkdtempSync(join(tmpdir(), 'vnf-virtio-'));
  const peers: Testpmd[] = [];
  const cleanup: (() => void)[] = [];
  afterEach(async () => {
    for (const f of cleanup.splice(0)) f();
    for (const t of peers.splice(0)) await t.stop();
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  function open(pool: Mempool, options: ConstructorParameters<typeof VirtioUserPort>[1]) {
    const port = new VirtioUserPort(pool, options);
    cleanup.unshift(() => port.close());
    return port;
  }
  function makePool(name: string) {
    const pool = Mempool.create({ count: POOL, name, hugepages: 'never' });
    cleanup.push(() => pool.close());
    return pool;
  }
  /** Sends `count` 60-byte frames (bursts of 32, retrying what a full ring did not take). */
  function send(pool: Mempool, port: VirtioUserPort, count: number): number {
    const b = new Burst(32);
    let sent = 0;
    const deadline = Date.now() + 10_000;
    while (sent < count && Date.now() < deadline) {
      const before = b.count;
      pool.alloc(b, Math.min(32, count - sent) - before);
      for (let i = before; i < b.count; i++) pool.write(b.ids[i], FRAME);
      sent += port.txBurst(b);
    }
    pool.put(b);
    return sent;
  }

  for (const packed of [false, true]) {
    itWhen(reason, `${packed ? 'packed' : 'split'} ring: what we send, testpmd receives; what it sends, we receive`, async () => {
      const socket = join(dir, `vh-${packed ? 'p' : 's'}.sock`);
      const vh = Testpmd.start({ role: 'vhost', socket, forwardMode: 'rxonly', cpu: 0 });
      peers.push(vh);
      await vh.waitListening();
      const pool = makePool(`vu-${packed}`);
      const port = open(pool, { path: socket, packed });
      await vh.waitReady();
      expect(port.featureNames()).toContain('VERSION_1');
      expect(port.featureNames().includes('RING_PACKED')).toBe(packed);
      expect(port.linkUp()).toBe(true);
      // Ours -> testpmd.
      const sent = send(pool, port, 100_000);
      expect(sent).toBe(100_000);
      await sleep(300);
      const rx = await vh.stats();
      expect(rx.rxPackets).toBe(100_000);
      expect(port.stats().txPackets).toBe(100_000);
      // testpmd -> ours: txonly for a moment, then stop and compare.
      await vh.stopForwarding();
      const before = (await vh.stats()).txPackets;
      await vh.command('set fwd txonly');
      await vh.startForwarding();
      const r = new Burst(64);
      let got = 0;
      const until = Date.now() + 1500;
      while (Date.now() < until) {
        got += port.rxBurst(r);
        pool.put(r);
        await new Promise((res) => setImmediate(res));
      }
      await vh.stopForwarding();
      for (let i = 0; i < 200; i++) {
        got += port.rxBurst(r);
        pool.put(r);
      }
      const tx = (await vh.stats()).txPackets - before;
      expect(got).toBeGreaterThan(1000);
      expect(got).toBe(tx);
      expect(port.stats().rxPackets).toBe(got);
      port.close();
      expect(pool.stats().free).toBe(POOL); // every buffer the rings held came back
    }, 60_000);
  }

  itWhen(reason, 'socket roles reversed: we listen (server), testpmd connects (client=1)', async () => {
    const socket = join(dir, 'server.sock');
    const vh = Testpmd.start({ role: 'vhost', socket, forwardMode: 'rxonly', cpu: 0, client: true });
    peers.push(vh);
    const pool = makePool('vu-server');
    const port = open(pool, { path: socket, server: true, connectTimeoutMs: 20_000 });
    await vh.waitReady();
    expect(send(pool, port, 10_000)).toBe(10_000);
    await sleep(300);
    expect((await vh.stats()).rxPackets).toBe(10_000);
  }, 60_000);

  itWhen(reason, 'the backend restarts in the middle of traffic: link down, buffers back, reconnect, traffic again', async () => {
    const socket = join(dir, 'restart.sock');
    const first = Testpmd.start({ role: 'vhost', socket, forwardMode: 'rxonly', cpu: 0 });
    peers.push(first);
    await first.waitListening();
    const pool = makePool('vu-restart');
    const port = open(pool, { path: socket });
    await first.waitReady();
    expect(send(pool, port, 5_000)).toBe(5_000);
    await first.stop(); // the backend goes away with buffers in our rings
    const t0 = Date.now();
    while (port.linkUp() && Date.now() - t0 < 5000) await sleep(20);
    expect(port.linkUp()).toBe(false);
    // Down: rings emptied, only the receive ring's refill pending; nothing leaked.
    expect(pool.stats().free).toBe(POOL);
    const second = Testpmd.start({ role: 'vhost', socket, forwardMode: 'rxonly', cpu: 0 });
    peers.push(second);
    await second.waitListening();
    const t1 = Date.now();
    while (!port.linkUp() && Date.now() - t1 < 10_000) await sleep(50);
    expect(port.linkUp()).toBe(true);
    await second.waitReady();
    expect(send(pool, port, 5_000)).toBe(5_000);
    await sleep(300);
    expect((await second.stats()).rxPackets).toBe(5_000);
    port.close();
    expect(pool.stats().free).toBe(POOL);
  }, 90_000);
});
