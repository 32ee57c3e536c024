import { createSocket } from 'node:dgram';
import { readdirSync } from 'node:fs';
import { Burst, Mempool } from '@vnf-sdk/core';
import { build, decode, findLayer } from '@vnf-sdk/protocols';
import { expectVnfError, itWhen } from '@vnf-sdk/test-support';
import { afterAll, afterEach, beforeAll, describe, expect } from 'vitest';
import { TapPort } from '../src/index.js';
import { deleteLink, frames, icmpType, makeVeth, netMissing, rxUntil, sh, withoutCaps } from './net.js';

const T = `vnft${process.pid}`;
const MQ = `vnfm${process.pid}`;
const VETH = `vnfv${process.pid}`;
const TAP_MAC = '02:00:00:00:0c:01';
const PEER_MAC = '02:00:00:00:0c:02';

describe('TapPort', () => {
  let pool: Mempool;
  const open: TapPort[] = [];
  const tap = (options: ConstructorParameters<typeof TapPort>[1]) => {
    const p = new TapPort(pool, options);
    open.push(p);
    return p;
  };
  beforeAll(() => {
    if (!netMissing) pool = Mempool.create({ count: 1024, name: 'tap-test' });
  });
  afterEach(() => {
    for (const p of open.splice(0)) p.close();
    if (pool) expect(pool.stats().inUse).toBe(0);
  });
  afterAll(() => {
    if (netMissing) return;
    for (const n of [T, MQ, VETH]) deleteLink(n);
    pool?.close();
  });

  itWhen(netMissing, 'the host sends through the tap (rxBurst) and answers what we write (txBurst)', async () => {
    const t = tap({ name: T, id: 5, mac: TAP_MAC, mtu: 1400 });
    expect(t.kind).toBe('tap');
    expect(t.name).toBe(T);
    expect(t.mac).toBe(TAP_MAC);
    expect(t.mtu).toBe(1400);
    sh(`sysctl -qw net.ipv6.conf.${T}.disable_ipv6=1; ip addr add 10.77.0.1/24 dev ${T}; ip neigh replace 10.77.0.2 lladdr ${PEER_MAC} dev ${T} nud permanent`);
    expect(t.linkUp()).toBe(true);

    // Host -> tap: a UDP datagram to the static neighbour appears as a frame.
    const s = createSocket('udp4');
    await new Promise<void>((r) => s.send(Buffer.from('hello tap'), 9999, '10.77.0.2', () => r()));
    s.close();
    const burst = new Burst(32);
    const end = Date.now() + 2000;
    let udp: Uint8Array | undefined;
    while (!udp && Date.now() < end) {
      await rxUntil(t, burst, 1, 0, 100);
      udp = frames(pool, burst).find((f) => findLayer(decode(f), 'udp')?.dstPort === 9999);
      for (let i = 0; i < burst.count; i++) expect(pool.meta.port[burst.ids[i]]).toBe(5);
      pool.put(burst);
    }
    expect(udp).toBeDefined();
    const d = decode(udp as Uint8Array);
    expect(findLayer(d, 'ethernet')).toMatchObject({ src: TAP_MAC, dst: PEER_MAC });
    expect(findLayer(d, 'ipv4')).toMatchObject({ src: '10.77.0.1', dst: '10.77.0.2' });
    expect(new TextDecoder().decode(findLayer(d, 'payload')?.data)).toBe('hello tap');

    // Tap -> host: an echo request to the host's address gets the host's echo reply.
    const ping = build([
      { type: 'ethernet', src: PEER_MAC, dst: TAP_MAC },
      { type: 'ipv4', src: '10.77.0.2', dst: '10.77.0.1' },
      { type: 'icmp', icmpType: 8, code: 0, rest: 0x12340001 },
      { type: 'payload', data: new Uint8Array(32).fill(7) },
    ]);
    pool.alloc(burst, 1);
    pool.write(burst.ids[0], ping);
    expect(t.txBurst(burst)).toBe(1);
    let reply: ReturnType<typeof decode> | undefined;
    const end2 = Date.now() + 2000;
    while (!reply && Date.now() < end2) {
      await rxUntil(t, burst, 1, 0, 100);
      reply = frames(pool, burst).map((f) => decode(f)).find((x) => icmpType(x) === 0);
      pool.put(burst);
    }
    expect(reply).toBeDefined();
    expect(reply && findLayer(reply, 'ipv4')).toMatchObject({ src: '10.77.0.1', dst: '10.77.0.2' });
    const st = t.stats();
    expect(st.txPackets).toBe(1);
    expect(st.txBytes).toBe(ping.length);
    expect(st.rxPackets).toBeGreaterThanOrEqual(2);

    // Over the MTU: counted and named.
    pool.alloc(burst, 1);
    pool.write(burst.ids[0], build([
      { type: 'ethernet', src: PEER_MAC, dst: TAP_MAC },
      { type: 'ipv4', src: '10.77.0.2', dst: '10.77.0.1' },
      { type: 'udp', srcPort: 1, dstPort: 9 },
      { type: 'payload', data: new Uint8Array(1400 - 28 + 1) },
    ]));
    expect(t.txBurst(burst)).toBe(1);
    expect(t.stats().txErrors).toBe(1);
    expect(t.lastError()).toBe(`${T}: frame of 1415 bytes exceeds MTU 1400`);
  });

  itWhen(netMissing, 'multi-queue: one descriptor per queue, the kernel sees N queues', () => {
    const t = tap({ name: MQ, queues: 4 });
    expect(t.queues).toBe(4);
    expect(new Set(t.waitFds).size).toBe(4);
    const q = readdirSync(`/sys/class/net/${MQ}/queues`).filter((n) => n.startsWith('rx-'));
    expect(q.length).toBe(4);
    const burst = new Burst(8);
    for (let i = 0; i < 4; i++) t.rxBurst(burst, i);
    pool.put(burst);
    // Not persistent: gone once closed.
    t.close();
    expect(sh(`ip link show ${MQ} 2>&1 || true`)).toContain('does not exist');
  });

  itWhen(netMissing, 'open errors name the interface and the cause', () => {
    makeVeth(VETH, `vnfw${process.pid}`);
    expectVnfError(() => tap({ name: VETH }), 'VNF_INVALID_ARGUMENT', VETH, 'not a TAP');
    expectVnfError(() => tap({ name: T, mac: '01:00:00:00:00:01' }), 'VNF_INVALID_ARGUMENT', T, 'mac');
    expectVnfError(() => tap({ name: T, mtu: 20 }), 'VNF_INVALID_ARGUMENT', T, 'mtu');
    expectVnfError(() => tap({ name: T, queues: 17 }), 'VNF_INVALID_ARGUMENT', T, 'queues');
    expectVnfError(() => tap({ name: T, up: 'yes' as never }), 'VNF_INVALID_ARGUMENT', T, 'up');
    expectVnfError(() => tap({ name: T, nmae: 'x' } as never), 'VNF_INVALID_ARGUMENT', "unknown option 'nmae'");
    const r = withoutCaps(`new TapPort(Mempool.create({ count: 64 }), { name: '${T}' })`);
    expect(r.code).toBe('VNF_PERMISSION');
    expect(r.message).toContain(T);
    expect(r.message).toContain('CAP_NET_ADMIN');
  });
});
