import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { Burst, Mempool, NativePort } from '@vnf-sdk/core';
import { expectVnfError, itWhen } from '@vnf-sdk/test-support';
import { afterAll, describe, expect, it } from 'vitest';
import { AfXdpPort } from '../src/index.js';
import {
  afXdpMissing,
  deleteAllVeths,
  linkShow,
  MAC_A,
  MAC_B,
  makeVeth,
  peerCapture,
  peerSend,
  udpFrame,
} from './af-xdp-helpers.js';

const why = afXdpMissing();
afterAll(deleteAllVeths);

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Receives on `queue` until `n` packets or `ms` pass; returns the burst's buffers' bytes. */
async function receive(port: AfXdpPort, pool: Mempool, n: number, queue = 0, ms = 3000) {
  const burst = new Burst(256);
  const frames: { bytes: Uint8Array; port: number; dataOff: number }[] = [];
  const end = Date.now() + ms;
  while (frames.length < n && Date.now() < end) {
    if (port.rxBurst(burst, queue) === 0) {
      await sleep(1);
      continue;
    }
    for (let i = 0; i < burst.count; i++) {
      const id = burst.ids[i];
      frames.push({ bytes: pool.read(id), port: pool.meta.port[id], dataOff: pool.meta.dataOff[id] });
    }
    pool.put(burst);
  }
  return frames;
}

/** Puts frames in fresh pool buffers and transmits them all (retrying what is not taken). */
async function transmit(port: AfXdpPort, pool: Mempool, frames: readonly Uint8Array[], queue = 0) {
  const burst = new Burst(64);
  for (let i = 0; i < frames.length; ) {
    const n = Math.min(burst.room, frames.length - i);
    if (pool.alloc(burst, n) !== n) throw new Error('pool empty');
    for (let k = 0; k < n; k++) pool.write(burst.ids[burst.count - n + k], frames[i + k]);
    i += n;
    for (let tries = 0; burst.count > 0; tries++) {
      port.txBurst(burst, queue);
      if (burst.count > 0) {
        if (tries > 1000) throw new Error('tx stuck');
        await sleep(1);
      }
    }
  }
}

const sizes = [60, 64, 128, 333, 1000, 1514];
const total = (fs: readonly Uint8Array[]) => fs.reduce((s, f) => s + f.length, 0);

describe('AfXdpPort options', () => {
  const pool = Mempool.create({ count: 512, cacheSize: 0 });
  it('rejects bad options with VNF_INVALID_ARGUMENT naming the option', () => {
    expectVnfError(() => new AfXdpPort(pool, { interface: 'x', rxSize: 100 }), 'VNF_INVALID_ARGUMENT', 'rxSize', '100');
    expectVnfError(() => new AfXdpPort(pool, { interface: 'x', fillSize: 32 }), 'VNF_INVALID_ARGUMENT', 'fillSize');
    expectVnfError(() => new AfXdpPort(pool, { interface: 'x', txSize: 65536 }), 'VNF_INVALID_ARGUMENT', 'txSize');
    expectVnfError(() => new AfXdpPort(pool, { interface: 'x', completionSize: 3 }), 'VNF_INVALID_ARGUMENT', 'completionSize');
    // @ts-expect-error a mode that does not exist
    expectVnfError(() => new AfXdpPort(pool, { interface: 'x', mode: 'fast' }), 'VNF_INVALID_ARGUMENT', 'mode', 'fast');
    // @ts-expect-error an xdpMode that does not exist
    expectVnfError(() => new AfXdpPort(pool, { interface: 'x', xdpMode: 'hw' }), 'VNF_INVALID_ARGUMENT', 'xdpMode');
    expectVnfError(() => new AfXdpPort(pool, { interface: 'x', queues: [0, 0] }), 'VNF_INVALID_ARGUMENT', 'twice');
    expectVnfError(() => new AfXdpPort(pool, { interface: 'x', queues: [0], queueCount: 1 }), 'VNF_INVALID_ARGUMENT', 'not both');
    expectVnfError(() => new AfXdpPort(pool, { interface: 'x', queueCount: 0 }), 'VNF_INVALID_ARGUMENT', 'queueCount');
    expectVnfError(() => new AfXdpPort(pool, { interface: '' }), 'VNF_INVALID_ARGUMENT', 'interface');
    expectVnfError(() => new AfXdpPort(pool, { interface: 'a-name-far-too-long' }), 'VNF_INVALID_ARGUMENT', 'interface');
    // @ts-expect-error an option that does not exist
    expectVnfError(() => new AfXdpPort(pool, { interface: 'x', ringSize: 64 }), 'VNF_INVALID_ARGUMENT', 'ringSize');
    expectVnfError(() => new AfXdpPort(pool, { interface: 'x', id: 65535 }), 'VNF_INVALID_ARGUMENT', 'id');
  });
  it('the native driver checks its options too (bad ring size, mode)', () => {
    expectVnfError(() => NativePort.open('afXdp', pool, { interface: 'x', rxSize: 100 }), 'VNF_INVALID_ARGUMENT', 'x: rxSize', 'power of two');
    expectVnfError(() => NativePort.open('afXdp', pool, { interface: 'x', mode: 'fast' }), 'VNF_INVALID_ARGUMENT', 'x: mode');
    expectVnfError(() => NativePort.open('afXdp', pool, {}), 'VNF_INVALID_ARGUMENT', 'interface is required');
  });
});

describe('AfXdpPort on a veth pair', () => {
  itWhen(why, 'open errors name the interface and the cause', () => {
    const pool = Mempool.create({ count: 2048 });
    const v = makeVeth();
    try {
      expectVnfError(() => new AfXdpPort(pool, { interface: 'vxnosuch0' }), 'VNF_NO_DEVICE', 'vxnosuch0', 'no such interface');
      expectVnfError(() => new AfXdpPort(pool, { interface: v.a, mode: 'zerocopy' }), 'VNF_INVALID_ARGUMENT', v.a, 'veth', 'no AF_XDP zero-copy support');
      expectVnfError(() => new AfXdpPort(pool, { interface: v.a, queues: [3] }), 'VNF_INVALID_ARGUMENT', v.a, 'queue id 3');
      const big = Mempool.create({ count: 256, bufferSize: 8192 });
      expectVnfError(() => new AfXdpPort(big, { interface: v.a }), 'VNF_INVALID_ARGUMENT', v.a, 'bufferSize 8192', 'chunk');
      big.close();
      spawnSync('ip', ['link', 'set', v.a, 'down']);
      expectVnfError(() => new AfXdpPort(pool, { interface: v.a }), 'VNF_LINK_DOWN', v.a, 'down');
      // None of the failed opens left a program behind or kept a buffer.
      expect(linkShow(v.a)).not.toMatch(/xdp/);
      expect(pool.stats().free).toBe(2048);
    } finally {
      v.del();
      pool.close();
    }
  });

  itWhen(why, 'without CAP_NET_RAW / CAP_NET_ADMIN / CAP_BPF: VNF_PERMISSION naming the interface', () => {
    const v = makeVeth();
    try {
      const dist = fileURLToPath(new URL('../dist/index.js', import.meta.url));
      const core = fileURLToPath(new URL('../../core/dist/index.js', import.meta.url));
      const script = `
        const { Mempool } = await import(${JSON.stringify(core)});
        const { AfXdpPort } = await import(${JSON.stringify(dist)});
        const pool = Mempool.create({ count: 1024 });
        try { new AfXdpPort(pool, { interface: ${JSON.stringify(v.a)} }); console.log(JSON.stringify({ ok: true })); }
        catch (e) { console.log(JSON.stringify({ code: e.code, message: e.message })); }`;
      const r = spawnSync('setpriv', ['--inh-caps=-all', '--bounding-set=-all', process.execPath, '--input-type=module', '-e', script], {
        encoding: 'utf8',
      });
      expect(r.status, r.stderr).toBe(0);
      const out = JSON.parse(r.stdout.trim().split('\n').pop() ?? '{}');
      expect(out.code).toBe('VNF_PERMISSION');
      expect(out.message).toContain(v.a);
      expect(out.message).toContain('CAP_NET_RAW');
      expect(linkShow(v.a)).not.toMatch(/xdp/);
    } finally {
      v.del();
    }
  });

  for (const xdpMode of ['native', 'generic'] as const) {
    itWhen(why, `copy mode, ${xdpMode} XDP: frames from the peer arrive intact, ours arrive at the peer intact`, async () => {
      const pool = Mempool.create({ count: 4096 });
      const free0 = pool.stats().free;
      const v = makeVeth();
      let port: AfXdpPort | undefined;
      try {
        port = new AfXdpPort(pool, { interface: v.a, id: 7, xdpMode, mode: 'auto' });
        expect(port.mode).toBe('copy');
        expect(port.xdpMode).toBe(xdpMode);
        expect(port.driver).toBe('veth');
        expect(port.modeNote).toContain('no AF_XDP zero-copy support');
        expect(linkShow(v.a)).toMatch(xdpMode === 'native' ? /prog\/xdp id \d+ name vnf_xsk_redir/ : /xdpgeneric/);
        expect(port.linkUp()).toBe(true);

        // Peer -> port: the kernel's own transmit path, then XDP_REDIRECT into our UMEM.
        const inFrames = Array.from({ length: 60 }, (_, i) => udpFrame(sizes[i % sizes.length], i));
        peerSend(v.b, inFrames);
        const got = await receive(port, pool, inFrames.length);
        expect(got.length).toBe(inFrames.length);
        for (let i = 0; i < got.length; i++) {
          expect(got[i].bytes).toEqual(inFrames[i]);
          expect(got[i].port).toBe(7);
          expect(got[i].dataOff).toBe(pool.headroom);
        }
        let s = port.stats();
        expect(s.rxPackets).toBe(inFrames.length);
        expect(s.rxBytes).toBe(total(inFrames));
        expect(s.rxDrops + s.rxErrors).toBe(0);

        // Port -> peer.
        const outFrames = Array.from({ length: 200 }, (_, i) => udpFrame(sizes[i % sizes.length], 1000 + i, MAC_A, MAC_B));
        const cap = await peerCapture(v.b, outFrames.length, MAC_A);
        await transmit(port, pool, outFrames);
        const seen = await cap.done;
        expect(seen.length).toBe(outFrames.length);
        for (let i = 0; i < seen.length; i++) expect(seen[i]).toEqual(outFrames[i]);
        s = port.stats();
        expect(s.txPackets).toBe(outFrames.length);
        expect(s.txBytes).toBe(total(outFrames));
        expect(s.txErrors + s.txDrops).toBe(0);
      } finally {
        port?.close();
        v.del();
      }
      // Everything lent to the kernel (fill ring, completions) is back.
      expect(pool.stats().free).toBe(free0);
      pool.close();
    });
  }

  itWhen(why, 'a frame over MTU + 14 is taken, counted in txErrors and freed; a buffer sent twice in a burst goes once', async () => {
    const pool = Mempool.create({ count: 2048 });
    const v = makeVeth();
    const port = new AfXdpPort(pool, { interface: v.a });
    try {
      const burst = new Burst(4);
      pool.alloc(burst, 3);
      pool.write(burst.ids[0], udpFrame(100, 1, MAC_A, MAC_B));
      pool.write(burst.ids[1], udpFrame(1515, 2, MAC_A, MAC_B));
      pool.write(burst.ids[2], udpFrame(200, 3, MAC_A, MAC_B));
      const cap = await peerCapture(v.b, 2, MAC_A, 2);
      expect(port.txBurst(burst)).toBe(3);
      expect(burst.count).toBe(0);
      const seen = await cap.done;
      expect(seen.map((f) => f.length)).toEqual([100, 200]);
      let s = port.stats();
      expect(s.txErrors).toBe(1);
      expect(s.txPackets).toBe(2);
      // The same buffer twice in a burst (a caller's bug): sent once, the second counted.
      pool.alloc(burst, 1);
      pool.write(burst.ids[0], udpFrame(150, 4, MAC_A, MAC_B));
      burst.ids[1] = burst.ids[0];
      burst.count = 2;
      const cap2 = await peerCapture(v.b, 2, MAC_A, 1);
      expect(port.txBurst(burst)).toBe(2);
      expect((await cap2.done).map((f) => f.length)).toEqual([150]);
      s = port.stats();
      expect(s.txErrors).toBe(2);
      expect(s.txPackets).toBe(3);
    } finally {
      port.close();
      v.del();
    }
    expect(pool.stats().free).toBe(2048);
    pool.close();
  });

  itWhen(why, 'two queues (native XDP): each receives what the peer sends on its queue; counters per queue', async () => {
    const pool = Mempool.create({ count: 8192 });
    const v = makeVeth(2);
    let port: AfXdpPort | undefined;
    let peer: AfXdpPort | undefined;
    try {
      port = new AfXdpPort(pool, { interface: v.a, queueCount: 2, xdpMode: 'native', id: 1 });
      expect(port.queues).toBe(2);
      expect(port.queueIds).toEqual([0, 1]);
      expect(port.waitFds.length).toBe(2);
      // The peer is a second AfXdpPort: a copy-mode socket transmits on its own queue, and
      // veth hands queue i of one end to receive queue i of the other (native mode only).
      peer = new AfXdpPort(pool, { interface: v.b, queues: [0, 1], id: 2 });
      const perQueue = [40, 25];
      const frames = perQueue.map((n, q) => Array.from({ length: n }, (_, i) => udpFrame(sizes[i % sizes.length], q * 100 + i)));
      await transmit(peer, pool, frames[0], 0);
      await transmit(peer, pool, frames[1], 1);
      for (const q of [0, 1]) {
        const got = await receive(port, pool, frames[q].length, q);
        expect(got.map((g) => g.bytes)).toEqual(frames[q]);
        expect(got.every((g) => g.port === 1)).toBe(true);
        const s = port.queueStats(q);
        expect(s.rxPackets).toBe(frames[q].length);
        expect(s.rxBytes).toBe(total(frames[q]));
        expect(peer.queueStats(q).txPackets).toBe(frames[q].length);
      }
      expect(port.stats().rxPackets).toBe(65);
    } finally {
      port?.close();
      peer?.close();
      v.del();
    }
    expect(pool.stats().free).toBe(8192);
    pool.close();
  });

  itWhen(why, 'close returns every buffer (fill ring, unread RX ring, TX in flight), detaches the program; a second open works', async () => {
    const pool = Mempool.create({ count: 4096 });
    const free0 = pool.stats().free;
    const v = makeVeth();
    try {
      const port = new AfXdpPort(pool, { interface: v.a, fillSize: 2048, xdpMode: 'native' });
      expect(pool.stats().free).toBe(free0 - 2048); // the fill ring is kept full
      expect(linkShow(v.a)).toMatch(/xdp/);
      // Leave frames in the RX ring and completions unreaped.
      peerSend(v.b, Array.from({ length: 30 }, (_, i) => udpFrame(80, i)));
      await transmit(port, pool, Array.from({ length: 50 }, (_, i) => udpFrame(90, i, MAC_A, MAC_B)));
      await sleep(50);
      port.close();
      port.close(); // twice is fine
      expect(pool.stats().free).toBe(free0);
      expect(linkShow(v.a)).not.toMatch(/xdp/);

      const again = new AfXdpPort(pool, { interface: v.a, xdpMode: 'generic' });
      peerSend(v.b, [udpFrame(70, 5)]);
      const got = await receive(again, pool, 1);
      expect(got[0].bytes).toEqual(udpFrame(70, 5));
      again.close();
      expect(linkShow(v.a)).not.toMatch(/xdp/);
      expect(pool.stats().free).toBe(free0);
    } finally {
      v.del();
    }
    pool.close();
  });

  itWhen(why, 'veth quirks: native XDP refused for fewer rx queues than the peer has tx queues; auto falls back; peer down', () => {
    const pool = Mempool.create({ count: 4096 });
    const a = `vxq${process.pid}`;
    const b = `vxr${process.pid}`;
    spawnSync('ip', ['link', 'add', a, 'numrxqueues', '1', 'numtxqueues', '1', 'type', 'veth', 'peer', 'name', b, 'numrxqueues', '2', 'numtxqueues', '2']);
    try {
      spawnSync('ip', ['link', 'set', a, 'up']);
      spawnSync('ip', ['link', 'set', b, 'up']);
      expectVnfError(() => new AfXdpPort(pool, { interface: a, xdpMode: 'native' }), 'VNF_SYSTEM', a, 'native', 'receive queues as its peer has transmit queues');
      // Opened at once after a failed open: the kernel frees the queue asynchronously.
      const port = new AfXdpPort(pool, { interface: a });
      expect(port.xdpMode).toBe('generic');
      expect(port.modeNote).toContain('native XDP refused');
      expect(port.linkUp()).toBe(true);
      spawnSync('ip', ['link', 'set', b, 'down']);
      expect(port.linkUp()).toBe(false); // no carrier without the peer
      port.close();
      expect(pool.stats().free).toBe(4096);
    } finally {
      spawnSync('ip', ['link', 'del', a]);
      pool.close();
    }
  });

  itWhen(why, 'a short pool: receive keeps working with what it has, the kernel-counted drops show in rxDrops', async () => {
    // 256 buffers, fill ring 256: every buffer is lent; what we read we do not free, so the
    // fill ring runs dry and the kernel drops (rx_dropped, fill ring empty).
    const pool = Mempool.create({ count: 256, cacheSize: 0 });
    const v = makeVeth();
    const port = new AfXdpPort(pool, { interface: v.a, fillSize: 256, rxSize: 256 });
    const held = new Burst(256);
    try {
      expect(pool.stats().free).toBe(0);
      peerSend(v.b, Array.from({ length: 300 }, (_, i) => udpFrame(64, i)));
      const end = Date.now() + 2000;
      while (held.count < 256 && Date.now() < end) if (port.rxBurst(held) === 0) await sleep(1);
      expect(held.count).toBe(256);
      const s = port.stats();
      expect(s.rxPackets).toBe(256);
      expect(s.rxDrops).toBe(44);
    } finally {
      pool.put(held);
      port.close();
      v.del();
    }
    expect(pool.stats().free).toBe(256);
    pool.close();
  });
});
