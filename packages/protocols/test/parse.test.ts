import { Burst, Mempool } from '@vnf-sdk/core';
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import { BurstParser, FlowKeys, PTYPE, Reason, reasonOf } from '../src/index.js';

import { cat, eth, ext6, gtpu, icmp, ipv4, ipv6, tcp, u16, udp, vlan, vxlan } from './packets.js';

const pool = Mempool.create({ count: 4096, name: 'parse' });
const parser = new BurstParser(pool);
const burst = new Burst(64);
afterAll(() => pool.close());

function parse(packet: number[], garbage = 0, keys?: FlowKeys, innerKeys?: FlowKeys): { t: number; b: number } {
  pool.put(burst);
  pool.alloc(burst, 1);
  const b = burst.ids[0];
  pool.write(b, Uint8Array.from(packet));
  // Whatever follows the packet in its buffer must never matter.
  pool.bytes.fill(garbage, pool.dataOffset(b) + packet.length, (b + 1) * pool.bufferSize);
  parser.parse(burst, keys, innerKeys);
  return { t: pool.meta.ptype[b], b };
}

function offsets(b: number) {
  const m = pool.meta;
  return [m.l3Off[b], m.l4Off[b], m.innerL2Off[b], m.innerL3Off[b], m.innerL4Off[b]];
}

describe('BurstParser: what it finds', () => {
  it('Ethernet / IPv4 / TCP with options', () => {
    const { t, b } = parse(eth(0x0800, ipv4(6, tcp(3))));
    expect(t).toBe(PTYPE.ETHER | PTYPE.IPV4 | PTYPE.TCP);
    expect(offsets(b).slice(0, 2)).toEqual([14, 34]);
  });

  it('IPv4 options move layer 4 and set IP_EXT', () => {
    const { t, b } = parse(eth(0x0800, ipv4(17, udp(53), { options: 2 })));
    expect(t).toBe(PTYPE.ETHER | PTYPE.IPV4 | PTYPE.IP_EXT | PTYPE.UDP);
    expect(offsets(b).slice(0, 2)).toEqual([14, 42]);
  });

  it('802.1Q and QinQ (0x88a8 outer, 0x8100 inner)', () => {
    let r = parse(eth(0x8100, vlan(10, 0x0800, ipv4(17, udp(53)))));
    expect(r.t).toBe(PTYPE.ETHER | PTYPE.VLAN | PTYPE.IPV4 | PTYPE.UDP);
    expect(offsets(r.b).slice(0, 2)).toEqual([18, 38]);
    r = parse(eth(0x88a8, vlan(100, 0x8100, vlan(10, 0x86dd, ipv6(6, tcp())))));
    expect(r.t).toBe(PTYPE.ETHER | PTYPE.VLAN | PTYPE.QINQ | PTYPE.IPV6 | PTYPE.TCP);
    expect(offsets(r.b).slice(0, 2)).toEqual([22, 62]);
  });

  it('ARP and MPLS label stacks', () => {
    let r = parse(eth(0x0806, new Array(28).fill(0)));
    expect(r.t).toBe(PTYPE.ETHER | PTYPE.ARP);
    expect(pool.meta.l3Off[r.b]).toBe(14);
    r = parse(eth(0x8847, cat([0, 0x10, 0x00, 64], [0, 0x20, 0x01, 64], ipv4(1, icmp()))));
    expect(r.t).toBe(PTYPE.ETHER | PTYPE.MPLS | PTYPE.IPV4 | PTYPE.ICMP);
    expect(offsets(r.b).slice(0, 2)).toEqual([22, 42]);
  });

  it('IPv6 extension header chains up to the upper layer', () => {
    // hop-by-hop -> routing -> destination options -> AH -> TCP
    const ah = cat([6, 4], new Array(22).fill(0)); // (4 + 2) * 4 = 24 bytes
    const dst = ext6(51, cat(ah, tcp()), 1); // 16 bytes, next: AH
    const r = parse(eth(0x86dd, ipv6(0, ext6(43, ext6(60, dst)))));
    expect(r.t).toBe(PTYPE.ETHER | PTYPE.IPV6 | PTYPE.IP_EXT | PTYPE.TCP);
    expect(offsets(r.b).slice(0, 2)).toEqual([14, 54 + 8 + 8 + 16 + 24]);
  });

  it('fragments: the first has layer 4, later ones do not', () => {
    let r = parse(eth(0x0800, ipv4(17, udp(53), { frag: 0x2000 })));
    expect(r.t).toBe(PTYPE.ETHER | PTYPE.IPV4 | PTYPE.FRAG | PTYPE.UDP);
    r = parse(eth(0x0800, ipv4(17, [1, 2, 3, 4, 5, 6, 7, 8], { frag: 0x0010 })));
    expect(r.t).toBe(PTYPE.ETHER | PTYPE.IPV4 | PTYPE.FRAG);
    const frag6 = (offset: number, more: number, payload: number[]) => cat([17, 0], u16((offset << 3) | more), [0, 0, 0, 9], payload);
    r = parse(eth(0x86dd, ipv6(44, frag6(0, 1, udp(53)))));
    expect(r.t).toBe(PTYPE.ETHER | PTYPE.IPV6 | PTYPE.IP_EXT | PTYPE.FRAG | PTYPE.UDP);
    expect(offsets(r.b).slice(0, 2)).toEqual([14, 62]);
    r = parse(eth(0x86dd, ipv6(44, frag6(100, 0, [1, 2, 3, 4, 5, 6, 7, 8]))));
    expect(r.t).toBe(PTYPE.ETHER | PTYPE.IPV6 | PTYPE.IP_EXT | PTYPE.FRAG);
  });

  it('ICMP, ICMPv6, SCTP and GRE', () => {
    expect(parse(eth(0x0800, ipv4(1, icmp()))).t).toBe(PTYPE.ETHER | PTYPE.IPV4 | PTYPE.ICMP);
    expect(parse(eth(0x86dd, ipv6(58, [135, 0, 0, 0, 0, 0, 0, 0]))).t).toBe(PTYPE.ETHER | PTYPE.IPV6 | PTYPE.ICMPV6);
    expect(parse(eth(0x0800, ipv4(132, new Array(12).fill(0)))).t).toBe(PTYPE.ETHER | PTYPE.IPV4 | PTYPE.SCTP);
    // GRE with a key, carrying IPv4/UDP
    const r = parse(eth(0x0800, ipv4(47, cat([0x20, 0], u16(0x0800), [0, 0, 0, 5], ipv4(17, udp(53))))));
    expect(r.t).toBe(PTYPE.ETHER | PTYPE.IPV4 | PTYPE.GRE | PTYPE.INNER_IPV4 | PTYPE.INNER_UDP);
    expect(offsets(r.b)).toEqual([14, 34, 0, 42, 62].map((v, i) => (i === 2 ? pool.meta.innerL2Off[r.b] : v)));
    // GRE carrying Ethernet (transparent bridging)
    const teb = parse(eth(0x0800, ipv4(47, cat([0, 0], u16(0x6558), eth(0x0800, ipv4(6, tcp()))))));
    expect(teb.t).toBe(PTYPE.ETHER | PTYPE.IPV4 | PTYPE.GRE | PTYPE.INNER_ETHER | PTYPE.INNER_IPV4 | PTYPE.INNER_TCP);
    expect(offsets(teb.b).slice(2)).toEqual([38, 52, 72]);
  });

  it('VXLAN and GTP-U, with the inner packet offsets', () => {
    let r = parse(eth(0x0800, ipv4(17, udp(4789, vxlan(eth(0x0800, ipv4(6, tcp())))))));
    expect(r.t).toBe(PTYPE.ETHER | PTYPE.IPV4 | PTYPE.UDP | PTYPE.VXLAN | PTYPE.INNER_ETHER | PTYPE.INNER_IPV4 | PTYPE.INNER_TCP);
    expect(offsets(r.b)).toEqual([14, 34, 50, 64, 84]);
    r = parse(eth(0x0800, ipv4(17, udp(2152, gtpu(ipv6(17, udp(53)))))));
    expect(r.t).toBe(PTYPE.ETHER | PTYPE.IPV4 | PTYPE.UDP | PTYPE.GTPU | PTYPE.INNER_IPV6 | PTYPE.INNER_UDP);
    expect(offsets(r.b).slice(3)).toEqual([50, 90]);
    // With a PDU session container extension header (E flag).
    r = parse(eth(0x0800, ipv4(17, udp(2152, gtpu(ipv4(1, icmp()), { ext: true })))));
    expect(r.t).toBe(PTYPE.ETHER | PTYPE.IPV4 | PTYPE.UDP | PTYPE.GTPU | PTYPE.INNER_IPV4 | PTYPE.INNER_ICMP);
    expect(offsets(r.b).slice(3)).toEqual([58, 78]); // 8 + 4 optional + one 4-byte extension
    // An echo request carries no user packet.
    expect(parse(eth(0x0800, ipv4(17, udp(2152, gtpu([], { type: 1 }))))).t).toBe(PTYPE.ETHER | PTYPE.IPV4 | PTYPE.UDP | PTYPE.GTPU);
  });
});

describe('BurstParser: malformed packets get a reason, never an exception', () => {
  const cases: Array<[string, number[], number]> = [
    ['runt frame', [1, 2, 3], Reason.TRUNCATED_L2],
    ['truncated VLAN tag', eth(0x8100, [0, 10]), Reason.TRUNCATED_VLAN],
    ['too many VLAN tags', eth(0x8100, cat(...new Array(9).fill(vlan(1, 0x8100, [])), [0, 0, 0, 0])), Reason.TOO_MANY_TAGS],
    ['truncated MPLS', eth(0x8847, [0, 0]), Reason.TRUNCATED_MPLS],
    ['truncated ARP', eth(0x0806, [0, 1, 8, 0]), Reason.TRUNCATED_ARP],
    ['truncated IPv4', eth(0x0800, [0x45, 0, 0]), Reason.TRUNCATED_IPV4],
    ['bad IP version', eth(0x0800, [0x55, ...ipv4(6, tcp()).slice(1)]), Reason.BAD_IP_VERSION],
    ['bad IHL', eth(0x0800, [0x44, ...ipv4(6, tcp()).slice(1)]), Reason.BAD_IHL],
    ['total length beyond the frame', eth(0x0800, ipv4(6, tcp(), { total: 200 })), Reason.BAD_TOTAL_LENGTH],
    ['total length under the header', eth(0x0800, ipv4(6, tcp(), { total: 10 })), Reason.BAD_TOTAL_LENGTH],
    ['truncated IPv6', eth(0x86dd, [0x60, 0, 0, 0]), Reason.TRUNCATED_IPV6],
    ['IPv6 payload length beyond the frame', eth(0x86dd, [...ipv6(6, tcp()).slice(0, 4), 1, 0, ...ipv6(6, tcp()).slice(6)]), Reason.BAD_PAYLOAD_LENGTH],
    ['IPv6 header chain too long', eth(0x86dd, ipv6(60, cat(...new Array(9).fill(ext6(60, [])), tcp()))), Reason.HEADER_CHAIN_TOO_LONG],
    ['truncated extension header', eth(0x86dd, ipv6(0, [6, 4, 0, 0])), Reason.TRUNCATED_EXT_HEADER],
    ['extension header longer than the packet', eth(0x86dd, ipv6(0, ext6(6, [], 0).map((v, i) => (i === 1 ? 9 : v)))), Reason.TRUNCATED_EXT_HEADER],
    ['truncated TCP', eth(0x0800, ipv4(6, [0, 80, 0, 80])), Reason.TRUNCATED_TCP],
    ['TCP data offset under 5', eth(0x0800, ipv4(6, tcp().map((v, i) => (i === 12 ? 0x40 : v)))), Reason.BAD_TCP_OFFSET],
    ['TCP options beyond the packet', eth(0x0800, ipv4(6, tcp().map((v, i) => (i === 12 ? 0xf0 : v)))), Reason.TRUNCATED_TCP],
    ['truncated UDP', eth(0x0800, ipv4(17, [0, 53])), Reason.TRUNCATED_UDP],
    ['UDP length beyond the packet', eth(0x0800, ipv4(17, udp(53).map((v, i) => (i === 5 ? 99 : v)))), Reason.BAD_UDP_LENGTH],
    ['truncated ICMP', eth(0x0800, ipv4(1, [8])), Reason.TRUNCATED_ICMP],
    ['truncated SCTP', eth(0x0800, ipv4(132, [0, 1])), Reason.TRUNCATED_SCTP],
    ['truncated VXLAN', eth(0x0800, ipv4(17, udp(4789, [8, 0, 0, 0]))), Reason.TRUNCATED_TUNNEL],
    ['truncated inner IPv4 in VXLAN', eth(0x0800, ipv4(17, udp(4789, vxlan(eth(0x0800, [0x45, 0, 0, 20]))))), Reason.TRUNCATED_IPV4],
    ['GTP-U extension header of length 0', eth(0x0800, ipv4(17, udp(2152, gtpu(ipv4(1, icmp()), { ext: true }).map((v, i) => (i === 12 ? 0 : v))))), Reason.TRUNCATED_TUNNEL],
  ];
  for (const [name, packet, reason] of cases) {
    it(name, () => {
      const { t } = parse(packet);
      expect(t & PTYPE.MALFORMED).not.toBe(0);
      expect(reasonOf(t)).toBe(reason);
    });
  }
});

const keys = [new FlowKeys(pool, 64), new FlowKeys(pool, 64)];
// Entry 0 of both keys; addresses only where there is an address.
const keyRow = () =>
  keys.map((k) => [k.version[0], k.protocol[0], k.srcPort[0], k.dstPort[0], ...(k.version[0] ? [...k.src.subarray(0, 4), ...k.dst.subarray(0, 4)] : [])]);

describe('BurstParser: properties', () => {
  it('never throws and never looks past the packet, on random and mutated packets', () => {
    const seeds = [
      eth(0x0800, ipv4(6, tcp(2))),
      eth(0x8100, vlan(5, 0x86dd, ipv6(0, ext6(44, cat([17, 0, 0, 1, 0, 0, 0, 1], udp(53)))))),
      eth(0x0800, ipv4(17, udp(4789, vxlan(eth(0x0800, ipv4(6, tcp())))))),
      eth(0x0800, ipv4(17, udp(2152, gtpu(ipv4(17, udp(53)), { ext: true })))),
      eth(0x0800, ipv4(47, cat([0xb0, 0], u16(0x6558), [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0], eth(0x0800, ipv4(1, icmp()))))),
      eth(0x8847, cat([0, 0, 0x01, 1], ipv6(58, [1, 2, 3, 4]))),
    ];
    const mutated = fc
      .tuple(fc.constantFrom(...seeds), fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { maxLength: 6 }), fc.nat())
      .map(([seed, edits, cut]) => {
        const p = seed.slice();
        for (const [at, v] of edits) p[at % p.length] = v;
        return p.slice(0, cut % (p.length + 1));
      });
    const random = fc.array(fc.integer({ min: 0, max: 255 }), { maxLength: 300 });
    fc.assert(
      fc.property(fc.oneof(mutated, random), (packet) => {
        // Same packet, different bytes after it: the parse must not change.
        const a = parse(packet, 0x00);
        const oa = offsets(a.b);
        const b = parse(packet, 0xff);
        expect(b.t).toBe(a.t);
        expect(offsets(b.b)).toEqual(oa);
        // With the keys filled in the same pass (they read addresses and ports) too.
        const c = parse(packet, 0x00, keys[0], keys[1]);
        const kc = keyRow();
        const d = parse(packet, 0xff, keys[0], keys[1]);
        expect([c.t, d.t]).toEqual([a.t, a.t]);
        expect(keyRow()).toEqual(kc);
      }),
      { numRuns: 3000 },
    );
  });

  it('parses a whole burst of mixed packets in one call', () => {
    const packets = [eth(0x0800, ipv4(6, tcp())), [1, 2], eth(0x86dd, ipv6(17, udp(53))), eth(0x0806, new Array(28).fill(0))];
    pool.put(burst);
    pool.alloc(burst, 32);
    for (let i = 0; i < 32; i++) pool.write(burst.ids[i], Uint8Array.from(packets[i % 4]));
    parser.parse(burst);
    const want = [PTYPE.ETHER | PTYPE.IPV4 | PTYPE.TCP, (PTYPE.MALFORMED | (Reason.TRUNCATED_L2 << 24)) >>> 0, PTYPE.ETHER | PTYPE.IPV6 | PTYPE.UDP, PTYPE.ETHER | PTYPE.ARP];
    for (let i = 0; i < 32; i++) expect(pool.meta.ptype[burst.ids[i]]).toBe(want[i % 4] >>> 0);
  });
});

describe('BurstParser: its own copy of the burst loop', () => {
  it('runs the copy compiled for it (specialized to its pool), not the shared fallback', () => {
    // The copy is the loop's source text compiled anew: were that text to name anything outside
    // itself (a module constant, a helper a tool inserted), the copy would fail at run time and
    // the parser fall back to the shared loop, slower. (Coverage tools that insert counters do
    // that: expect this test to fail under them.)
    parse(eth(0x0800, ipv4(17, udp(4789, vxlan(eth(0x0800, ipv4(6, tcp())))))));
    parse(eth(0x86dd, ipv6(6, tcp())));
    expect(parser.specialized).toBe(true);
  });
});

describe('BurstParser: the flat common path agrees with the general one', () => {
  it('on mutated packets of every common shape', () => {
    const seeds = [
      eth(0x0800, ipv4(6, tcp(2))),
      eth(0x0800, ipv4(17, udp(53))),
      eth(0x0800, ipv4(1, icmp())),
      eth(0x8100, vlan(7, 0x0800, ipv4(17, udp(4789, vxlan(eth(0x0800, ipv4(6, tcp()))))))),
      eth(0x86dd, ipv6(6, tcp())),
      eth(0x86dd, ipv6(17, udp(2152, gtpu(ipv4(17, udp(9)))))),
      eth(0x86dd, ipv6(58, icmp())),
      eth(0x8100, vlan(7, 0x86dd, ipv6(17, udp(123)))),
    ];
    // Edits are either a new byte value or a small step (lengths off by one or two are where
    // two parsers most easily disagree).
    const edit = fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 }), fc.boolean());
    const packets = fc
      .tuple(fc.constantFrom(...seeds), fc.array(edit, { maxLength: 3 }), fc.nat())
      .map(([seed, edits, cut]) => {
        const p = seed.slice();
        for (const [at, v, step] of edits) {
          const i = at % p.length;
          p[i] = step ? (p[i] + (v % 5) - 2 + 256) & 0xff : v;
        }
        return cut % 4 === 0 ? p.slice(0, cut % (p.length + 1)) : p;
      });
    fc.assert(
      fc.property(packets, (packet) => {
        const { t, b } = parse(packet);
        const fast = offsets(b);
        expect(parser.parseOneGeneral(b)).toBe(t);
        if (!(t & PTYPE.MALFORMED)) expect(offsets(b).slice(0, 2)).toEqual(fast.slice(0, 2));
      }),
      { numRuns: 20000 },
    );
  });
});

describe('BurstParser: fragments', () => {
  it('keeps a UDP first fragment (its length covers the whole datagram) and parses no tunnel in it', () => {
    const datagram = udp(4789, new Array(1000).fill(7));
    let r = parse(eth(0x0800, ipv4(17, datagram.slice(0, 208), { frag: 0x2000 })));
    expect(r.t).toBe(PTYPE.ETHER | PTYPE.IPV4 | PTYPE.FRAG | PTYPE.UDP);
    const frag6 = cat([17, 0], u16(1), [0, 0, 0, 9], datagram.slice(0, 208));
    r = parse(eth(0x86dd, ipv6(44, frag6)));
    expect(r.t).toBe(PTYPE.ETHER | PTYPE.IPV6 | PTYPE.IP_EXT | PTYPE.FRAG | PTYPE.UDP);
  });

  it('treats an IPv6 atomic fragment (offset 0, no more) as a whole packet', () => {
    const r = parse(eth(0x86dd, ipv6(44, cat([6, 0], u16(0), [0, 0, 0, 9], tcp()))));
    expect(r.t).toBe(PTYPE.ETHER | PTYPE.IPV6 | PTYPE.IP_EXT | PTYPE.TCP);
  });
});
