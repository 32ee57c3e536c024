import { Burst, Mempool } from '@vnf-sdk/core';
import { afterAll, describe, expect, it } from 'vitest';
import { BurstParser, FlowKeys } from '../src/index.js';
import { eth, ext6, gtpu, icmp, ipv4, ipv6, tcp, udp, vxlan } from './packets.js';

const pool = Mempool.create({ count: 64, name: 'keys' });
afterAll(() => pool.close());

describe('FlowKeys', () => {
  it('extracts outer and inner 5-tuples of a burst as structure of arrays', () => {
    const packets = [
      eth(0x0800, ipv4(6, tcp())),
      eth(0x86dd, ipv6(0, ext6(17, udp(53)))),
      eth(0x0800, ipv4(1, icmp())),
      eth(0x0800, ipv4(17, udp(4789, vxlan(eth(0x0800, ipv4(6, tcp())))))),
      eth(0x0800, ipv4(17, udp(2152, gtpu(ipv6(17, udp(99)))))),
      [1, 2, 3],
    ];
    const burst = new Burst(8);
    pool.alloc(burst, packets.length);
    for (const [i, p] of packets.entries()) pool.write(burst.ids[i], Uint8Array.from(p));
    new BurstParser(pool).parse(burst);
    const outer = new FlowKeys(pool, 8);
    outer.extract(burst);
    expect(outer.count).toBe(6);
    expect(Array.from(outer.version.subarray(0, 6))).toEqual([4, 6, 4, 4, 4, 0]);
    expect(Array.from(outer.protocol.subarray(0, 6))).toEqual([6, 17, 1, 17, 17, 0]);
    expect(Array.from(outer.srcPort.subarray(0, 6))).toEqual([1234, 5000, 0, 5000, 5000, 0]);
    expect(Array.from(outer.dstPort.subarray(0, 6))).toEqual([80, 53, 0, 4789, 2152, 0]);
    expect(Array.from(outer.src.subarray(0, 4))).toEqual([0, 0, 0, 0x0a000001]);
    expect(Array.from(outer.dst.subarray(4, 8))).toEqual([0, 0, 0, 2]);
    const inner = new FlowKeys(pool, 8);
    inner.extract(burst, true);
    expect(Array.from(inner.version.subarray(0, 6))).toEqual([0, 0, 0, 4, 6, 0]);
    expect(Array.from(inner.protocol.subarray(3, 5))).toEqual([6, 17]);
    expect(Array.from(inner.dstPort.subarray(3, 5))).toEqual([80, 99]);
    expect(Array.from(inner.src.subarray(16, 20))).toEqual([0, 0, 0, 1]);
    pool.put(burst);
  });
});

describe('FlowKeys protocol', () => {
  it('is ICMPv6 (58) behind IPv6 extension headers, as MLD reports are', () => {
    const burst = new Burst(2);
    pool.alloc(burst, 1);
    pool.write(burst.ids[0], Uint8Array.from(eth(0x86dd, ipv6(0, [58, 0, 5, 2, 0, 0, 1, 0, 143, 0, 0, 0, 0, 0, 0, 0]))));
    new BurstParser(pool).parse(burst);
    const keys = new FlowKeys(pool, 2);
    keys.extract(burst);
    expect(keys.protocol[0]).toBe(58);
    pool.put(burst);
  });
});
