import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { decode, findLayer, formatIpv6, LINKTYPE } from '../src/index.js';
import { cat, eth, ext6, gtpu, icmp, ipv4, ipv6, tcp, u16, udp, vlan, vxlan } from './packets.js';

const d = (p: number[], linkType?: number) => decode(Uint8Array.from(p), linkType);
const types = (p: number[], linkType?: number) => d(p, linkType).layers.map((l) => l.type);

describe('decode', () => {
  it('gives every layer, outermost first, with its fields', () => {
    const r = d(eth(0x8100, vlan(0x2064, 0x0800, ipv4(6, tcp(1)))));
    expect(r.error).toBeUndefined();
    expect(r.layers.map((l) => l.type)).toEqual(['ethernet', 'vlan', 'ipv4', 'tcp']);
    expect(findLayer(r, 'ethernet')).toMatchObject({ dst: '02:00:00:00:00:01', src: '02:00:00:00:00:02', etherType: 0x8100 });
    expect(findLayer(r, 'vlan')).toMatchObject({ id: 100, pcp: 1, dei: false, etherType: 0x0800 });
    expect(findLayer(r, 'ipv4')).toMatchObject({ src: '10.0.0.1', dst: '10.0.0.2', ttl: 64, protocol: 6, moreFragments: false, fragmentOffset: 0 });
    expect(findLayer(r, 'tcp')).toMatchObject({ srcPort: 1234, dstPort: 80, seq: 1, flags: 0x02, dataOffset: 6 });
  });

  it('walks tunnels: VXLAN, GTP-U with extensions, GRE', () => {
    expect(types(eth(0x0800, ipv4(17, udp(4789, vxlan(eth(0x86dd, ipv6(58, icmp())))))))).toEqual(['ethernet', 'ipv4', 'udp', 'vxlan', 'ethernet', 'ipv6', 'icmpv6']);
    expect(findLayer(d(eth(0x0800, ipv4(17, udp(4789, vxlan(eth(0x0800, ipv4(1, icmp()))))))), 'vxlan')?.vni).toBe(0x1234);
    const g = d(eth(0x0800, ipv4(17, udp(2152, gtpu(ipv4(17, udp(53)), { ext: true })))));
    expect(findLayer(g, 'gtpu')).toMatchObject({ teid: 7, messageType: 255, extensions: [0x85] });
    expect(findLayer(g, 'udp', 1)?.dstPort).toBe(53);
    expect(types(eth(0x0800, ipv4(47, cat([0x20, 0], u16(0x0800), [0, 0, 0, 9], ipv4(1, icmp())))))).toEqual(['ethernet', 'ipv4', 'gre', 'ipv4', 'icmp']);
  });

  it('IPv6 extension headers and fragments', () => {
    const r = d(eth(0x86dd, ipv6(0, ext6(44, cat([17, 0], u16(0x0011), [0, 0, 0, 5], [1, 2, 3, 4, 5, 6, 7, 8])))));
    expect(r.layers.map((l) => l.type)).toEqual(['ethernet', 'ipv6', 'ipv6-hop-by-hop', 'ipv6-fragment', 'payload']);
    expect(findLayer(r, 'ipv6-fragment')).toMatchObject({ fragmentOffset: 16, moreFragments: true, id: 5 });
  });

  it('other link types: raw IP, Linux cooked v1 and v2', () => {
    expect(types(ipv4(17, udp(53)), LINKTYPE.RAW)).toEqual(['ipv4', 'udp']);
    expect(types(ipv6(6, tcp()), LINKTYPE.RAW)).toEqual(['ipv6', 'tcp']);
    const sll = cat([0, 0, 0, 1, 0, 6], [1, 2, 3, 4, 5, 6, 0, 0], u16(0x0800), ipv4(1, icmp()));
    expect(types(sll, LINKTYPE.LINUX_SLL)).toEqual(['linux-sll', 'ipv4', 'icmp']);
    const sll2 = cat(u16(0x86dd), [0, 0], [0, 0, 0, 2], [0, 1, 0, 6], [1, 2, 3, 4, 5, 6, 0, 0], ipv6(17, udp(53)));
    expect(types(sll2, LINKTYPE.LINUX_SLL2)).toEqual(['linux-sll', 'ipv6', 'udp']);
  });

  it('reports a malformed packet with the layer, byte offset and reason', () => {
    // A length that claims more than is there: reported, and decoding goes on (as tshark).
    let r = d(eth(0x0800, ipv4(6, tcp(), { total: 300 })));
    expect(r.layers.map((l) => l.type)).toEqual(['ethernet', 'ipv4', 'tcp']);
    expect(r.error).toEqual({ layer: 'ipv4', offset: 14, reason: 'total length 300 but 40 bytes present' });
    expect(findLayer(r, 'tcp')?.checksumValid).toBeNull(); // cannot be verified on part of a segment
    // A header cut short or impossible: decoding stops there.
    r = d(eth(0x0800, [0x44, ...ipv4(6, tcp()).slice(1)]));
    expect(r.layers.map((l) => l.type)).toEqual(['ethernet']);
    expect(r.error).toEqual({ layer: 'ipv4', offset: 14, reason: 'bad IHL 4 (under 5)' });
    expect(d([1, 2, 3]).error).toMatchObject({ layer: 'ethernet', offset: 0 });
    // An 802.3 frame has a length, not an EtherType.
    expect(d(cat([1, 2, 3, 4, 5, 6, 1, 2, 3, 4, 5, 6], u16(46), new Array(46).fill(0))).layers[0]).toMatchObject({ type: 'ethernet', length: 46 });
  });

  it('formats IPv6 addresses as RFC 5952 says', () => {
    const a = (...w: number[]) => Uint8Array.from(w.flatMap((x) => [x >> 8, x & 0xff]));
    expect(formatIpv6(a(0x2001, 0xdb8, 0, 0, 1, 0, 0, 1), 0)).toBe('2001:db8::1:0:0:1');
    expect(formatIpv6(a(0, 0, 0, 0, 0, 0, 0, 1), 0)).toBe('::1');
    expect(formatIpv6(a(0, 0, 0, 0, 0, 0, 0, 0), 0)).toBe('::');
    expect(formatIpv6(a(0xfe80, 0, 0, 0, 0, 0, 0, 0), 0)).toBe('fe80::');
    expect(formatIpv6(a(1, 0, 2, 3, 4, 5, 6, 7), 0)).toBe('1:0:2:3:4:5:6:7');
    expect(formatIpv6(a(0, 0, 0, 0, 0, 0xffff, 0x0a00, 1), 0)).toBe('::ffff:10.0.0.1');
  });

  it('never throws on random or mutated bytes, for every link type', () => {
    const seed = eth(0x0800, ipv4(17, udp(2152, gtpu(ipv6(0, ext6(6, tcp(2))), { ext: true }))));
    const bytes = fc.oneof(
      fc.array(fc.integer({ min: 0, max: 255 }), { maxLength: 200 }),
      fc.tuple(fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { maxLength: 6 }), fc.nat()).map(([edits, cut]) => {
        const p = seed.slice();
        for (const [at, v] of edits) p[at % p.length] = v;
        return p.slice(0, cut % (p.length + 1));
      }),
    );
    fc.assert(
      fc.property(bytes, fc.constantFrom(1, 101, 113, 276, 0, 228), (p, link) => {
        const r = decode(Uint8Array.from(p), link);
        expect(Array.isArray(r.layers)).toBe(true);
      }),
      { numRuns: 5000 },
    );
  });
});
