import { Burst, Mempool } from '@vnf-sdk/core';
import { afterAll, describe, expect, it } from 'vitest';
import { BurstParser, PacketFields } from '../src/index.js';
import { cat, eth, gtpu, icmp, ipv4, ipv6, tcp, u16, udp, vxlan } from './packets.js';

const pool = Mempool.create({ count: 64, name: 'fields' });
const parser = new BurstParser(pool);
const f = new PacketFields(pool);
const burst = new Burst(1);
afterAll(() => pool.close());

function load(packet: number[]): number {
  pool.put(burst);
  pool.alloc(burst, 1);
  pool.write(burst.ids[0], Uint8Array.from(packet));
  parser.parse(burst);
  return burst.ids[0];
}

describe('PacketFields', () => {
  it('reads IPv4 and TCP fields', () => {
    const seg = tcp(0);
    seg.splice(4, 8, 0x80, 0, 0, 1, 0xff, 0xff, 0xff, 0xfe); // seq, ack
    seg[12] = 0x51; // data offset 5, NS
    seg[13] = 0x12; // SYN ACK
    const b = load(eth(0x0800, ipv4(6, seg)));
    expect(f.ipVersion(b)).toBe(4);
    expect(f.ipv4Src(b)).toBe(0x0a000001);
    expect(f.ipv4Dst(b)).toBe(0x0a000002);
    expect(f.protocol(b)).toBe(6);
    expect(f.ttl(b)).toBe(64);
    expect([f.srcPort(b), f.dstPort(b)]).toEqual([1234, 80]);
    expect(f.tcpFlags(b)).toBe(0x112);
    expect(f.tcpSeq(b)).toBe(0x80000001);
    expect(f.tcpAck(b)).toBe(0xfffffffe);
  });

  it('reads IPv6 addresses, hop limit and the upper-layer protocol', () => {
    const b = load(eth(0x86dd, ipv6(17, udp(53))));
    expect(f.ipVersion(b)).toBe(6);
    expect([0, 1, 2, 3].map((i) => f.ipv6SrcWord(b, i))).toEqual([0, 0, 0, 1]);
    expect(f.ipv6DstWord(b, 3)).toBe(2);
    expect(f.protocol(b)).toBe(17);
    expect(f.ttl(b)).toBe(64);
    expect(f.dstPort(b)).toBe(53);
  });

  it('reads ICMP type and code, VXLAN VNI, GTP-U TEID and the inner 5-tuple', () => {
    let b = load(eth(0x0800, ipv4(1, icmp())));
    expect([f.icmpType(b), f.icmpCode(b)]).toEqual([8, 0]);
    b = load(eth(0x0800, ipv4(17, udp(4789, vxlan(eth(0x0800, ipv4(6, tcp())))))));
    expect(f.vni(b)).toBe(0x123400 >> 8);
    expect(f.ipVersion(b, true)).toBe(4);
    expect(f.protocol(b, true)).toBe(6);
    expect([f.srcPort(b, true), f.dstPort(b, true)]).toEqual([1234, 80]);
    b = load(eth(0x0800, ipv4(17, udp(2152, gtpu(ipv6(17, udp(53)))))));
    expect(f.teid(b)).toBe(7);
    expect(f.ipVersion(b, true)).toBe(6);
    expect(f.dstPort(b, true)).toBe(53);
    b = load(eth(0x0800, ipv4(47, cat([0, 0], u16(0x0800), ipv4(17, udp(9)))))); // GRE
    expect(f.protocol(b)).toBe(47);
    expect(f.dstPort(b, true)).toBe(9);
  });
});
