import { Burst, Mempool } from '@vnf-sdk/core';
import { build, decode, findLayer, type LayerSpec } from '@vnf-sdk/protocols';
import { expectVnfError, itWhen } from '@vnf-sdk/test-support';
import { afterAll, afterEach, beforeAll, describe, expect } from 'vitest';
import { AfPacketPort } from '../src/index.js';
import { capture, deleteLink, frames, kernelSend, makeVeth, netMissing, rxUntil, withoutCaps } from './net.js';

const A = `vnfa${process.pid}`;
const B = `vnfb${process.pid}`;
const DOWN = `vnfd${process.pid}`;
const DOWN_PEER = `vnfe${process.pid}`;
const MAC_A = '02:00:00:00:0a:01';
const MAC_B = '02:00:00:00:0b:01';

const udp = (srcPort: number, size = 0, extra: LayerSpec[] = []): Uint8Array =>
  build([
    { type: 'ethernet', src: MAC_B, dst: MAC_A },
    ...extra,
    { type: 'ipv4', src: '10.9.0.2', dst: '10.9.0.1' },
    { type: 'udp', srcPort, dstPort: 7000 },
    { type: 'payload', data: new Uint8Array(size).fill(srcPort & 0xff) },
  ]);

describe('AfPacketPort', () => {
  let pool: Mempool;
  const open: AfPacketPort[] = [];
  const port = (options: ConstructorParameters<typeof AfPacketPort>[1]) => {
    const p = new AfPacketPort(pool, options);
    open.push(p);
    return p;
  };

  beforeAll(() => {
    if (netMissing) return;
    makeVeth(A, B);
    pool = Mempool.create({ count: 4096, name: 'afp-test' });
  });
  afterEach(() => {
    for (const p of open.splice(0)) p.close();
    if (pool) expect(pool.stats().inUse).toBe(0); // no buffer leaked by a port
  });
  afterAll(() => {
    if (netMissing) return;
    deleteLink(A);
    deleteLink(DOWN);
    pool?.close();
  });

  itWhen(netMissing, 'receives frames the kernel sends, intact, with length and port id', async () => {
    const p = port({ interface: A, id: 7 });
    expect(p.kind).toBe('afPacket');
    expect(p.mtu).toBe(1500);
    expect(p.mac).toMatch(/^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/);
    expect(p.linkUp()).toBe(true);
    const sent = [udp(1000, 0), udp(1001, 100), udp(1002, 1472)];
    kernelSend(B, sent);
    const burst = new Burst(64);
    expect(await rxUntil(p, burst, 3)).toBe(3);
    const got = frames(pool, burst);
    for (let i = 0; i < 3; i++) {
      expect(got[i]).toEqual(sent[i]);
      expect(pool.meta.port[burst.ids[i]]).toBe(7);
      expect(pool.meta.dataLen[burst.ids[i]]).toBe(sent[i].length);
      expect(findLayer(decode(got[i]), 'udp')?.srcPort).toBe(1000 + i);
    }
    const s = p.stats();
    expect(s.rxPackets).toBe(3);
    expect(s.rxBytes).toBe(sent.reduce((n, f) => n + f.length, 0));
    expect(s.rxDrops + s.rxErrors).toBe(0);
    pool.put(burst);
  });

  itWhen(netMissing, 'transmits a burst that arrives on the peer intact (tcpdump), counters match', async () => {
    const p = port({ interface: A });
    const sent = Array.from({ length: 40 }, (_, i) => build([
      { type: 'ethernet', src: p.mac, dst: MAC_B },
      { type: 'ipv4', src: '10.9.0.1', dst: '10.9.0.2' },
      { type: 'udp', srcPort: 2000 + i, dstPort: 9 },
      { type: 'payload', data: new Uint8Array(i * 30).fill(i) },
    ]));
    const burst = new Burst(64);
    const got = await capture(B, `ether src ${p.mac}`, sent.length, () => {
      pool.alloc(burst, sent.length);
      for (let i = 0; i < sent.length; i++) pool.write(burst.ids[i], sent[i]);
      expect(p.txBurst(burst)).toBe(sent.length);
      expect(burst.count).toBe(0);
    });
    expect(got).toEqual(sent);
    const s = p.stats();
    expect(s.txPackets).toBe(sent.length);
    expect(s.txBytes).toBe(sent.reduce((n, f) => n + f.length, 0));
    expect(s.txErrors + s.txDrops).toBe(0);
  });

  itWhen(netMissing, 'does not receive its own transmissions; a second port on the peer receives them', async () => {
    const a = port({ interface: A, id: 1 });
    const b = port({ interface: B, id: 2 });
    const burst = new Burst(256);
    const sent = Array.from({ length: 200 }, (_, i) => udp(3000 + i, 18));
    pool.alloc(burst, sent.length);
    for (let i = 0; i < sent.length; i++) pool.write(burst.ids[i], sent[i]);
    let left = sent.length;
    while (left > 0) left -= a.txBurst(burst);
    const rx = new Burst(256);
    expect(await rxUntil(b, rx, 200)).toBe(200);
    expect(frames(pool, rx)).toEqual(sent);
    expect(a.rxBurst(rx)).toBe(0);
    expect(b.stats().rxPackets).toBe(200);
    expect(a.stats().txPackets).toBe(200);
    pool.put(rx);
  });

  itWhen(netMissing, 'restores 802.1Q and 802.1ad tags from the ring header', async () => {
    const p = port({ interface: A });
    const q = udp(4000, 10, [{ type: 'vlan', id: 42, pcp: 5 }]);
    const qinq = udp(4001, 10, [
      { type: 'vlan', tpid: 0x88a8, id: 100 },
      { type: 'vlan', id: 200 },
    ]);
    kernelSend(B, [q, qinq]);
    const burst = new Burst(8);
    expect(await rxUntil(p, burst, 2)).toBe(2);
    const [g1, g2] = frames(pool, burst);
    expect(g1).toEqual(q);
    expect(g2).toEqual(qinq);
    const v = findLayer(decode(g1), 'vlan');
    expect(v).toMatchObject({ id: 42, pcp: 5 });
    expect(findLayer(decode(g2), 'vlan', 0)).toMatchObject({ tpid: 0x88a8, id: 100 });
    expect(findLayer(decode(g2), 'vlan', 1)).toMatchObject({ id: 200 });
    // The restored tag sits in the headroom: data starts 4 bytes earlier.
    expect(pool.meta.dataOff[burst.ids[0]]).toBe(pool.headroom - 4);
    pool.put(burst);
  });

  itWhen(netMissing, 'fanout: two queues split many flows with no loss, one flow on one queue', async () => {
    const p = port({ interface: A, queues: 2 });
    expect(p.queues).toBe(2);
    expect(p.fanoutGroup).not.toBeNull();
    expect(new Set(p.waitFds).size).toBe(2);
    const flows = 64;
    const per = 8;
    const sent: Uint8Array[] = [];
    for (let k = 0; k < per; k++) for (let f = 0; f < flows; f++) sent.push(udp(5000 + f, 8));
    kernelSend(B, sent);
    const seen = [new Map<number, number>(), new Map<number, number>()];
    let total = 0;
    const end = Date.now() + 3000;
    const burst = new Burst(256);
    while (total < sent.length && Date.now() < end) {
      for (let q = 0; q < 2; q++) {
        const n = p.rxBurst(burst, q);
        for (const f of frames(pool, burst)) {
          const src = findLayer(decode(f), 'udp')?.srcPort as number;
          seen[q].set(src, (seen[q].get(src) ?? 0) + 1);
        }
        total += n;
        pool.put(burst);
      }
      await new Promise((r) => setTimeout(r, 5));
    }
    expect(total).toBe(sent.length);
    expect(seen[0].size).toBeGreaterThan(0);
    expect(seen[1].size).toBeGreaterThan(0);
    for (const [src, n] of seen[0]) {
      expect(seen[1].has(src), `flow ${src} on both queues`).toBe(false);
      expect(n).toBe(per);
    }
    expect(p.queueStats(0).rxPackets + p.queueStats(1).rxPackets).toBe(sent.length);
    expect(p.stats().rxDrops).toBe(0);
  });

  itWhen(netMissing, 'a second port joins the fanout group by id and shares the traffic', async () => {
    const p1 = port({ interface: A, fanoutGroup: (process.pid % 60000) + 1 });
    const p2 = port({ interface: A, fanoutGroup: p1.fanoutGroup as number });
    expect(p2.fanoutGroup).toBe(p1.fanoutGroup);
    expectVnfError(() => port({ interface: A, fanoutGroup: p1.fanoutGroup as number, fanoutMode: 'lb' }), 'VNF_INVALID_ARGUMENT', A, 'fanout group');
    const sent = Array.from({ length: 128 }, (_, i) => udp(6000 + i, 8));
    kernelSend(B, sent);
    const b1 = new Burst(256);
    const b2 = new Burst(256);
    const end = Date.now() + 2000;
    while (b1.count + b2.count < sent.length && Date.now() < end) {
      p1.rxBurst(b1);
      p2.rxBurst(b2);
      await new Promise((r) => setTimeout(r, 5));
    }
    expect(b1.count + b2.count).toBe(sent.length);
    expect(b1.count).toBeGreaterThan(0);
    expect(b2.count).toBeGreaterThan(0);
    pool.put(b1);
    pool.put(b2);
  });

  itWhen(netMissing, 'a frame over the MTU is counted in txErrors, freed, and named in lastError', async () => {
    const p = port({ interface: A });
    const burst = new Burst(4);
    pool.alloc(burst, 3);
    const big = udp(7000, 1473); // 14 + 20 + 8 + 1473 = 1515 > 1514
    const tagged = udp(7001, 1472, [{ type: 'vlan', id: 3 }]); // 1518: fits with its tag
    const small = udp(7002, 1);
    pool.write(burst.ids[0], big);
    pool.write(burst.ids[1], tagged);
    pool.write(burst.ids[2], small);
    expect(p.txBurst(burst)).toBe(3);
    const s = p.stats();
    expect(s.txErrors).toBe(1);
    expect(s.txPackets).toBe(2);
    expect(p.lastError()).toBe(`${A}: frame of 1515 bytes exceeds MTU 1500`);
  });

  itWhen(netMissing, 'open errors name the interface and the cause', () => {
    expectVnfError(() => port({ interface: 'vnfnope0' }), 'VNF_NO_DEVICE', 'vnfnope0', 'no such interface');
    makeVeth(DOWN, DOWN_PEER, false);
    expectVnfError(() => port({ interface: DOWN }), 'VNF_LINK_DOWN', DOWN, 'is down');
    expectVnfError(() => port({ interface: A, blockSize: 5000 }), 'VNF_INVALID_ARGUMENT', A, 'blockSize');
    expectVnfError(() => port({ interface: A, frameSize: 100 }), 'VNF_INVALID_ARGUMENT', A, 'frameSize');
    expectVnfError(() => port({ interface: A, blockCount: 0 }), 'VNF_INVALID_ARGUMENT', A, 'blockCount');
    expectVnfError(() => port({ interface: A, blockTimeoutMs: 5000 }), 'VNF_INVALID_ARGUMENT', A, 'blockTimeoutMs');
    expectVnfError(() => port({ interface: A, queues: 0 }), 'VNF_INVALID_ARGUMENT', A, 'queues');
    expectVnfError(() => port({ interface: A, queues: 1.5 }), 'VNF_INVALID_ARGUMENT', A, 'queues');
    expectVnfError(() => port({ interface: A, fanoutMode: 'x' as 'hash' }), 'VNF_INVALID_ARGUMENT', A, 'fanoutMode');
    expectVnfError(() => port({ interface: A, promiscuous: 1 as unknown as boolean }), 'VNF_INVALID_ARGUMENT', A, 'promiscuous');
    expectVnfError(() => port({ interface: A, blocksize: 4096 } as never), 'VNF_INVALID_ARGUMENT', A, "unknown option 'blocksize'");
    expectVnfError(() => port({ interface: 'x'.repeat(16) }), 'VNF_INVALID_ARGUMENT', 'interface');
    expectVnfError(() => port({ interface: A, id: 65535 }), 'VNF_INVALID_ARGUMENT', A, 'id');
    const r = withoutCaps(`new AfPacketPort(Mempool.create({ count: 64 }), { interface: '${A}' })`);
    expect(r.code).toBe('VNF_PERMISSION');
    expect(r.message).toContain(A);
    expect(r.message).toContain('CAP_NET_RAW');
  });

  itWhen(netMissing, 'options: promiscuous, qdisc bypass, small rings, a defragmenting hash group', async () => {
    const p = port({ interface: A, promiscuous: true, qdiscBypass: true, blockSize: 4096, blockCount: 4, blockTimeoutMs: 1, txFrames: 8, queues: 2, fanoutDefrag: true });
    expect(Number(/promiscuity (\d+)/.exec((await import('./net.js')).sh(`ip -d link show ${A}`))?.[1])).toBeGreaterThan(0);
    // More than the 8-slot tx ring in one burst: a prefix is taken, the rest stays ours.
    const burst = new Burst(64);
    pool.alloc(burst, 64);
    for (let i = 0; i < 64; i++) pool.write(burst.ids[i], udp(8000 + i, 8));
    let sent = 0;
    const end = Date.now() + 2000;
    while (burst.count > 0 && Date.now() < end) sent += p.txBurst(burst);
    expect(sent).toBe(64);
    expect(p.stats().txPackets).toBe(64);
  });
});
