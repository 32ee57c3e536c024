import { Burst } from '@vnf-sdk/core';
import { decode, findLayer, parseMac } from '@vnf-sdk/protocols';
import { describe, expect, it } from 'vitest';
import { ipv4ToNumber } from '../src/lpm.js';
import { Hold, NeighbourTable } from '../src/neighbours.js';
import { Clock, testPool } from './helpers.js';

const ip = (s: string) => ipv4ToNumber(s)!;
const MY_MAC = parseMac('02:00:00:00:02:01')!;
const THEIR_MAC = parseMac('02:00:00:00:02:03')!;

function table(clock: Clock, extra: Partial<ConstructorParameters<typeof NeighbourTable>[0]> = {}) {
  return new NeighbourTable({ mac: MY_MAC, address: ip('10.0.2.1'), now: clock.now, retryMs: 1000, maxRetries: 3, reachableMs: 30_000, slots: 8, ...extra });
}

const pkt = (n: number) => new Uint8Array(60).fill(n);

describe('NeighbourTable', () => {
  it('holds packets for an unknown neighbour, asks once, and releases them when it answers', () => {
    const clock = new Clock();
    const t = table(clock);
    const pool = testPool();
    expect(t.lookup(ip('10.0.2.3'))).toBe(-1);
    for (let k = 0; k < 4; k++) expect(t.hold(ip('10.0.2.3'), pkt(k), 0, 60)).toBe(Hold.HELD);
    expect(t.hold(ip('10.0.2.3'), pkt(9), 0, 60)).toBe(Hold.QUEUE_FULL); // 4 per neighbour
    expect(t.entries()).toEqual([{ address: ip('10.0.2.3'), mac: null, state: 'incomplete', static: false, held: 4, retries: 1 }]);

    const burst = new Burst(8);
    expect(t.emitRequests(pool, burst, 5)).toBe(1); // one request, not one per packet
    const req = decode(pool.read(burst.ids[0]!));
    expect(findLayer(req, 'ethernet')).toMatchObject({ dst: 'ff:ff:ff:ff:ff:ff', src: '02:00:00:00:02:01' });
    expect(findLayer(req, 'arp')).toMatchObject({ operation: 1, senderMac: '02:00:00:00:02:01', senderIp: '10.0.2.1', targetIp: '10.0.2.3', targetMac: '00:00:00:00:00:00' });
    expect(pool.meta.next[burst.ids[0]!]).toBe(5);

    expect(t.confirm(ip('10.0.2.3'), THEIR_MAC, 0, false)).toBe(true);
    expect(t.lookup(ip('10.0.2.3'))).toBeGreaterThanOrEqual(0);
    // Two slots left in the burst: two packets now, the other two on the next call, in order.
    const small = new Burst(2);
    expect(t.release(pool, small, 7)).toBe(2);
    expect(t.pending).toBe(true);
    expect(t.release(pool, burst, 7)).toBe(2);
    expect(t.pending).toBe(false);
    const frames = [...Array.from(small.ids.subarray(0, 2)), ...Array.from(burst.ids.subarray(1, 3))].map((b) => pool.read(b));
    expect(frames.map((f) => f[6])).toEqual([0, 1, 2, 3]);
    for (const f of frames) expect([...f.subarray(0, 6)]).toEqual([...THEIR_MAC]);
    expect(t.counters).toMatchObject({ held: 4, released: 4, requests: 1, learned: 1 });
    expect(t.heldCount).toBe(0);
    pool.put(small);
    pool.put(burst);
  });

  it('retries every retryMs, gives up after maxRetries and counts the held packets lost', () => {
    const clock = new Clock();
    const t = table(clock);
    const pool = testPool();
    const burst = new Burst(16);
    t.hold(ip('10.0.2.9'), pkt(1), 0, 60);
    t.hold(ip('10.0.2.9'), pkt(2), 0, 60);
    t.emitRequests(pool, burst, 1);
    clock.t += 500;
    t.tick();
    expect(t.emitRequests(pool, burst, 1)).toBe(0); // not yet
    clock.t += 500;
    t.tick();
    expect(t.emitRequests(pool, burst, 1)).toBe(1);
    clock.t += 1000;
    t.tick();
    expect(t.emitRequests(pool, burst, 1)).toBe(1);
    expect(t.entries()[0]!.retries).toBe(3);
    clock.t += 1000;
    t.tick();
    expect(t.emitRequests(pool, burst, 1)).toBe(0);
    expect(t.size).toBe(0);
    expect(t.counters).toMatchObject({ requests: 3, failed: 1, heldExpired: 2 });
    expect(t.heldCount).toBe(0);
    pool.put(burst);
  });

  it('goes stale after reachableMs, probes when used, and drops an entry that stays silent', () => {
    const clock = new Clock();
    const t = table(clock);
    const pool = testPool();
    const burst = new Burst(16);
    t.confirm(ip('10.0.2.3'), THEIR_MAC, 0, true);
    clock.t += 30_001;
    expect(t.entries()[0]!.state).toBe('stale');
    const e = t.lookup(ip('10.0.2.3'));
    expect(e).toBeGreaterThanOrEqual(0); // still used
    expect(t.emitRequests(pool, burst, 1)).toBe(1); // and probed
    expect(t.lookup(ip('10.0.2.3'))).toBe(e);
    expect(t.emitRequests(pool, burst, 1)).toBe(0); // one probe per retryMs
    clock.t += 1000;
    t.lookup(ip('10.0.2.3'));
    clock.t += 1000;
    t.lookup(ip('10.0.2.3'));
    expect(t.emitRequests(pool, burst, 1)).toBe(2);
    clock.t += 1000;
    expect(t.lookup(ip('10.0.2.3'))).toBe(-1);
    expect(t.counters.failed).toBe(1);
    // An answer in time makes it reachable again.
    t.confirm(ip('10.0.2.4'), THEIR_MAC, 0, true);
    clock.t += 40_000;
    t.lookup(ip('10.0.2.4'));
    t.confirm(ip('10.0.2.4'), THEIR_MAC, 0, false);
    expect(t.entries().find((x) => x.address === ip('10.0.2.4'))!.state).toBe('reachable');
    pool.put(burst);
  });

  it('learns only into existing entries unless asked to create; keeps static entries', () => {
    const clock = new Clock();
    const t = table(clock);
    expect(t.confirm(ip('10.0.2.7'), THEIR_MAC, 0, false)).toBe(false);
    expect(t.size).toBe(0);
    t.addStatic(ip('10.0.2.2'), MY_MAC.map((x) => x ^ 0x10));
    expect(t.confirm(ip('10.0.2.2'), THEIR_MAC, 0, true)).toBe(false);
    expect(t.counters.staticConflicts).toBe(1);
    clock.t += 1e9;
    expect(t.lookup(ip('10.0.2.2'))).toBeGreaterThanOrEqual(0);
    expect(t.entries()[0]).toMatchObject({ state: 'reachable', static: true });
  });

  it('refuses new neighbours when full and frames bigger than a slot; shares slots', () => {
    const clock = new Clock();
    const t = table(clock, { capacity: 2, slots: 3, slotSize: 100 });
    expect(t.hold(ip('10.0.2.3'), pkt(1), 0, 60)).toBe(Hold.HELD);
    expect(t.hold(ip('10.0.2.4'), pkt(1), 0, 60)).toBe(Hold.HELD);
    expect(t.hold(ip('10.0.2.5'), pkt(1), 0, 60)).toBe(Hold.TABLE_FULL);
    expect(t.hold(ip('10.0.2.3'), new Uint8Array(101), 0, 101)).toBe(Hold.TOO_BIG);
    expect(t.hold(ip('10.0.2.3'), pkt(2), 0, 60)).toBe(Hold.HELD);
    expect(t.hold(ip('10.0.2.4'), pkt(2), 0, 60)).toBe(Hold.QUEUE_FULL); // no slot left
    expect(t.delete(ip('10.0.2.3'))).toBe(true);
    expect(t.hold(ip('10.0.2.4'), pkt(2), 0, 60)).toBe(Hold.HELD);
  });

  it('defers requests when the burst is full', () => {
    const clock = new Clock();
    const t = table(clock);
    const pool = testPool();
    t.hold(ip('10.0.2.3'), pkt(1), 0, 60);
    t.hold(ip('10.0.2.4'), pkt(1), 0, 60);
    const burst = new Burst(1);
    expect(t.emitRequests(pool, burst, 1)).toBe(1);
    expect(t.emitRequests(pool, burst, 1)).toBe(0);
    expect(t.counters.requestsDeferred).toBe(2); // once per call that could not write everything
    pool.put(burst);
    expect(t.emitRequests(pool, burst, 1)).toBe(1);
    pool.put(burst);
  });
});
