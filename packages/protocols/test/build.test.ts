import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import { expectVnfError, itWhen } from '@vnf-sdk/test-support';
import { build, crc32c, type LayerSpec, parseIpv4, parseIpv6, parseMac } from '../src/build.js';
import { CaptureWriter } from '../src/capture/writer.js';
import { checksum, fold, onesSum, pseudoV4 } from '../src/checksum.js';
import { type Decoded, decode, findLayer, formatIpv6, type Layer } from '../src/decode.js';
import { icmpEchoReply, icmpError, icmpv6Error, tcpRst } from '../src/replies.js';
import { cat, eth, ipv4, tcp, udp, vlan } from './packets.js';

const bytes = (...b: number[]) => Uint8Array.from(b);
const ETH: LayerSpec = { type: 'ethernet', src: '02:00:00:00:00:01', dst: '02:00:00:00:00:02' };
const IP4: LayerSpec = { type: 'ipv4', src: '10.0.0.1', dst: '10.0.0.2' };
const IP6: LayerSpec = { type: 'ipv6', src: '2001:db8::1', dst: '2001:db8::2' };

/** Every checksum the decoder can verify is valid (null, "cannot tell", is allowed only where asked). */
function checksumsOk(d: Decoded, allowNull: string[] = []): void {
  for (const l of d.layers) {
    if (!('checksumValid' in l)) continue;
    if (l.checksumValid === null && allowNull.includes(l.type)) continue;
    expect(l.checksumValid, `${l.type} checksum`).toBe(true);
  }
}

/** build, then decode: no error, and the layer types as expected. */
function roundTrip(specs: LayerSpec[], types?: Layer['type'][]): Decoded {
  const out = build(specs);
  const d = decode(out);
  expect(d.error).toBeUndefined();
  expect(d.layers.map((l) => l.type)).toEqual(types ?? specs.map((s) => s.type));
  return d;
}


describe('build: single layers and computed fields', () => {
  it('Ethernet / IPv4 / UDP / payload: lengths, protocol, checksums, defaults', () => {
    const data = bytes(1, 2, 3, 4, 5);
    const out = build([ETH, IP4, { type: 'udp', srcPort: 5000, dstPort: 53 }, { type: 'payload', data }]);
    expect(out.length).toBe(14 + 20 + 8 + 5);
    const d = decode(out);
    expect(d.error).toBeUndefined();
    expect(findLayer(d, 'ethernet')).toEqual({ type: 'ethernet', dst: '02:00:00:00:00:02', src: '02:00:00:00:00:01', etherType: 0x0800 });
    expect(findLayer(d, 'ipv4')).toMatchObject({ ihl: 5, totalLength: 33, ttl: 64, protocol: 17, id: 0, dontFragment: false, moreFragments: false, src: '10.0.0.1', dst: '10.0.0.2' });
    expect(findLayer(d, 'udp')).toMatchObject({ srcPort: 5000, dstPort: 53, length: 13 });
    expect(Array.from(findLayer(d, 'payload')!.data)).toEqual([1, 2, 3, 4, 5]);
    checksumsOk(d);
  });

  it('defaults: zero MACs, TTL 64, TCP SYN window 65535', () => {
    const d = roundTrip([{ type: 'ethernet' }, IP4, { type: 'tcp', srcPort: 1, dstPort: 2 }]);
    expect(findLayer(d, 'ethernet')).toMatchObject({ src: '00:00:00:00:00:00', dst: '00:00:00:00:00:00' });
    expect(findLayer(d, 'tcp')).toMatchObject({ flags: 0x02, window: 65535, seq: 0, ack: 0, dataOffset: 5, options: [] });
    checksumsOk(d);
  });

  it('VLAN and QinQ: EtherTypes chain through the tags (TPID 0x8100 by default)', () => {
    const d = roundTrip([ETH, { type: 'vlan', tpid: 0x88a8, id: 100, pcp: 5, dei: true }, { type: 'vlan', id: 200 }, IP4, { type: 'icmp' }]);
    expect(findLayer(d, 'ethernet')?.etherType).toBe(0x88a8);
    expect(findLayer(d, 'vlan', 0)).toEqual({ type: 'vlan', tpid: 0x88a8, pcp: 5, dei: true, id: 100, etherType: 0x8100 });
    expect(findLayer(d, 'vlan', 1)).toEqual({ type: 'vlan', tpid: 0x8100, pcp: 0, dei: false, id: 200, etherType: 0x0800 });
    expect(findLayer(d, 'icmp')).toMatchObject({ icmpType: 8, code: 0 });
    checksumsOk(d);
    // Same bytes as the hand-made test packets.
    const hand = Uint8Array.from(eth(0x8100, vlan(0x2064, 0x0800, ipv4(6, tcp(1)))));
    const built = build([
      { type: 'ethernet', dst: '02:00:00:00:00:01', src: '02:00:00:00:00:02' },
      { type: 'vlan', pcp: 1, id: 100 },
      { type: 'ipv4', src: '10.0.0.1', dst: '10.0.0.2', id: 1, checksum: 0 },
      { type: 'tcp', srcPort: 1234, dstPort: 80, seq: 1, window: 1024, checksum: 0, options: [{ kind: 1, data: bytes() }, { kind: 1, data: bytes() }, { kind: 1, data: bytes() }, { kind: 1, data: bytes() }] },
    ]);
    expect(Array.from(built)).toEqual(Array.from(hand));
  });

  it('MPLS: label stack with the bottom bit computed, then IP by version', () => {
    const d = roundTrip([ETH, { type: 'mpls', label: 16, tc: 3, ttl: 9 }, { type: 'mpls', label: 0xfffff }, IP6, { type: 'udp', srcPort: 1, dstPort: 2 }]);
    expect(findLayer(d, 'ethernet')?.etherType).toBe(0x8847);
    expect(findLayer(d, 'mpls', 0)).toEqual({ type: 'mpls', label: 16, tc: 3, bottom: false, ttl: 9 });
    expect(findLayer(d, 'mpls', 1)).toEqual({ type: 'mpls', label: 0xfffff, tc: 0, bottom: true, ttl: 64 });
    checksumsOk(d);
  });

  it('ARP (defaults: Ethernet/IPv4 request)', () => {
    const d = roundTrip([{ type: 'ethernet', dst: 'ff:ff:ff:ff:ff:ff' }, { type: 'arp', senderMac: '02-00-00-00-00-01', senderIp: '10.0.0.1', targetIp: '10.0.0.9' }]);
    expect(findLayer(d, 'ethernet')?.etherType).toBe(0x0806);
    expect(findLayer(d, 'arp')).toEqual({
      type: 'arp',
      hardwareType: 1,
      protocolType: 0x0800,
      operation: 1,
      senderMac: '02:00:00:00:00:01',
      senderIp: '10.0.0.1',
      targetMac: '00:00:00:00:00:00',
      targetIp: '10.0.0.9',
    });
  });

  it('IPv4 options are padded to 4 bytes and set the IHL', () => {
    const d = roundTrip([ETH, { ...IP4, options: bytes(7, 7, 4, 9, 9) }, { type: 'udp', srcPort: 1, dstPort: 2 }]);
    const ip = findLayer(d, 'ipv4')!;
    expect(ip.ihl).toBe(7);
    expect(Array.from(ip.options)).toEqual([7, 7, 4, 9, 9, 0, 0, 0]);
    expect(ip.totalLength).toBe(28 + 8);
    checksumsOk(d);
  });

  it('IPv4 fragments: flags and offset; a later fragment carries payload only', () => {
    const first = roundTrip([ETH, { ...IP4, id: 77, moreFragments: true }, { type: 'udp', srcPort: 1, dstPort: 2 }, { type: 'payload', data: new Uint8Array(16) }]);
    expect(findLayer(first, 'ipv4')).toMatchObject({ id: 77, moreFragments: true, fragmentOffset: 0, protocol: 17 });
    expect(findLayer(first, 'udp')).toMatchObject({ length: 24, checksumValid: null });
    const later = roundTrip([ETH, { ...IP4, id: 77, fragmentOffset: 24, dontFragment: false, protocol: 17 }, { type: 'payload', data: new Uint8Array(8) }]);
    expect(findLayer(later, 'ipv4')).toMatchObject({ fragmentOffset: 24, moreFragments: false, checksumValid: true });
  });

  it('TCP options: written in order, padded to 4 bytes, data offset computed', () => {
    const options = [
      { kind: 2, data: bytes(0x05, 0xb4) },
      { kind: 4, data: bytes() },
      { kind: 8, data: bytes(0, 0, 0, 1, 0, 0, 0, 2) },
      { kind: 3, data: bytes(7) },
    ];
    const d = roundTrip([ETH, IP4, { type: 'tcp', srcPort: 40000, dstPort: 443, seq: 0xfffffff0, ack: 5, flags: 0x1ff, window: 1, urgentPointer: 9, options }]);
    const t = findLayer(d, 'tcp')!;
    expect(t).toMatchObject({ srcPort: 40000, dstPort: 443, seq: 0xfffffff0, ack: 5, flags: 0x1ff, window: 1, urgentPointer: 9, dataOffset: 10 });
    expect(t.options.map((o) => ({ kind: o.kind, data: Array.from(o.data) }))).toEqual(options.map((o) => ({ kind: o.kind, data: Array.from(o.data) })));
    checksumsOk(d);
  });

  it('IPv6 with hop-by-hop, routing, destination and AH headers: next headers chain, pseudo-header uses the upper layer', () => {
    const d = roundTrip([
      ETH,
      { ...IP6, trafficClass: 0xb8, flowLabel: 0xabcde, hopLimit: 3 },
      { type: 'ipv6-hop-by-hop', data: bytes(5, 2, 0, 0) },
      { type: 'ipv6-routing', length: 24 },
      { type: 'ipv6-destination', data: new Uint8Array(10) },
      { type: 'ipv6-ah' },
      { type: 'tcp', srcPort: 1, dstPort: 2 },
      { type: 'payload', data: bytes(1, 2, 3) },
    ]);
    expect(findLayer(d, 'ipv6')).toMatchObject({ trafficClass: 0xb8, flowLabel: 0xabcde, hopLimit: 3, nextHeader: 0, payloadLength: 8 + 24 + 16 + 16 + 20 + 3 });
    expect(findLayer(d, 'ipv6-hop-by-hop')).toEqual({ type: 'ipv6-hop-by-hop', nextHeader: 43, length: 8 });
    expect(findLayer(d, 'ipv6-routing')).toEqual({ type: 'ipv6-routing', nextHeader: 60, length: 24 });
    expect(findLayer(d, 'ipv6-destination')).toEqual({ type: 'ipv6-destination', nextHeader: 51, length: 16 });
    expect(findLayer(d, 'ipv6-ah')).toEqual({ type: 'ipv6-ah', nextHeader: 6, length: 16 });
    checksumsOk(d);
    // Over UDP and ICMPv6 too.
    checksumsOk(roundTrip([ETH, IP6, { type: 'ipv6-destination' }, { type: 'udp', srcPort: 1, dstPort: 2 }, { type: 'payload', data: bytes(9) }]));
    checksumsOk(roundTrip([ETH, IP6, { type: 'ipv6-hop-by-hop' }, { type: 'icmpv6', icmpType: 135 }, { type: 'payload', data: new Uint8Array(20) }]));
  });

  it('IPv6 fragment header: offset, more-fragments, id', () => {
    const first = roundTrip([ETH, IP6, { type: 'ipv6-fragment', id: 0xdeadbeef, moreFragments: true }, { type: 'udp', srcPort: 1, dstPort: 2 }]);
    expect(findLayer(first, 'ipv6')?.nextHeader).toBe(44);
    expect(findLayer(first, 'ipv6-fragment')).toEqual({ type: 'ipv6-fragment', nextHeader: 17, fragmentOffset: 0, moreFragments: true, id: 0xdeadbeef });
    checksumsOk(first, ['udp']);
    const later = roundTrip([ETH, IP6, { type: 'ipv6-fragment', nextHeader: 17, fragmentOffset: 1448 }, { type: 'payload', data: new Uint8Array(8) }]);
    expect(findLayer(later, 'ipv6-fragment')).toMatchObject({ fragmentOffset: 1448, moreFragments: false, nextHeader: 17 });
  });

  it('IP with nothing after it says "no next header" (59)', () => {
    expect(findLayer(roundTrip([ETH, IP6]), 'ipv6')).toMatchObject({ nextHeader: 59, payloadLength: 0 });
    expect(findLayer(roundTrip([ETH, IP4]), 'ipv4')).toMatchObject({ protocol: 59, totalLength: 20 });
  });

  it('ICMP and ICMPv6: type, code, rest, body; ICMPv6 over its pseudo-header', () => {
    const d4 = roundTrip([ETH, IP4, { type: 'icmp', icmpType: 3, code: 4, rest: 1400 }, { type: 'payload', data: new Uint8Array(28).fill(0xaa) }]);
    expect(findLayer(d4, 'icmp')).toMatchObject({ icmpType: 3, code: 4, rest: 1400 });
    checksumsOk(d4);
    const d6 = roundTrip([ETH, IP6, { type: 'icmpv6', rest: 0x00010002 }, { type: 'payload', data: bytes(1, 2, 3) }]);
    expect(findLayer(d6, 'icmpv6')).toMatchObject({ icmpType: 128, code: 0, rest: 0x00010002 });
    expect(findLayer(d6, 'ipv6')?.nextHeader).toBe(58);
    checksumsOk(d6);
  });

  it('SCTP: the CRC32c is computed (RFC 9260 appendix A, least significant byte first)', () => {
    expect(crc32c(new TextEncoder().encode('123456789'))).toBe(0xe3069283);
    const chunk = bytes(1, 0, 0, 20, 0, 0, 0, 1, 0, 1, 0, 0, 0, 10, 0xff, 0xff, 0, 0, 0, 1);
    const out = build([ETH, IP4, { type: 'sctp', srcPort: 2905, dstPort: 2905, verificationTag: 0 }, { type: 'payload', data: chunk }]);
    const d = decode(out);
    expect(findLayer(d, 'ipv4')?.protocol).toBe(132);
    expect(findLayer(d, 'sctp')).toMatchObject({ srcPort: 2905, dstPort: 2905, verificationTag: 0 });
    const l4 = out.slice(34);
    const stored = (l4[8]! | (l4[9]! << 8) | (l4[10]! << 16)) + l4[11]! * 2 ** 24;
    l4.fill(0, 8, 12);
    expect(stored).toBe(crc32c(l4));
    // Given explicitly, written as given (big-endian, as decode reads it).
    expect(findLayer(decode(build([ETH, IP4, { type: 'sctp', srcPort: 1, dstPort: 2, checksum: 0x01020304 }])), 'sctp')?.checksum).toBe(0x01020304);
  });

  it('GRE: key, sequence and checksum; protocol from the inner layer (0x6558 for Ethernet)', () => {
    const out = build([ETH, IP4, { type: 'gre', key: 9, sequence: 0x10203, checksumPresent: true }, IP6, { type: 'udp', srcPort: 1, dstPort: 2 }]);
    const d = decode(out);
    expect(d.error).toBeUndefined();
    expect(d.layers.map((l) => l.type)).toEqual(['ethernet', 'ipv4', 'gre', 'ipv6', 'udp']);
    expect(findLayer(d, 'gre')).toEqual({ type: 'gre', checksumPresent: true, keyPresent: true, sequencePresent: true, version: 0, protocol: 0x86dd, key: 9, sequence: 0x10203 });
    expect(findLayer(d, 'ipv4')?.protocol).toBe(47);
    checksumsOk(d);
    // The GRE checksum covers the GRE header and everything after it.
    expect(checksum(out, 34, out.length)).toBe(0);
    const bridged = roundTrip([ETH, IP4, { type: 'gre' }, ETH, IP4, { type: 'icmp' }]);
    expect(findLayer(bridged, 'gre')).toMatchObject({ protocol: 0x6558, checksumPresent: false, keyPresent: false, sequencePresent: false });
    checksumsOk(bridged);
  });

  it('VXLAN: UDP port 4789 when omitted, flags 0x08, inner frame with its own checksums', () => {
    const d = roundTrip([
      ETH,
      IP4,
      { type: 'udp' },
      { type: 'vxlan', vni: 0xabcdef },
      { type: 'ethernet', src: '02:00:00:00:01:01', dst: '02:00:00:00:01:02' },
      { type: 'vlan', id: 7 },
      IP6,
      { type: 'tcp', srcPort: 80, dstPort: 8080, flags: 0x18 },
      { type: 'payload', data: new Uint8Array(100).fill(1) },
    ]);
    expect(findLayer(d, 'udp')).toMatchObject({ srcPort: 4789, dstPort: 4789, length: 8 + 8 + 18 + 40 + 20 + 100 });
    expect(findLayer(d, 'vxlan')).toEqual({ type: 'vxlan', flags: 0x08, vni: 0xabcdef });
    expect(findLayer(d, 'ethernet', 1)?.etherType).toBe(0x8100);
    checksumsOk(d);
  });

  it('GTP-U: port 2152, length, sequence and extension headers, inner IP', () => {
    const d = roundTrip(
      [
        ETH,
        IP6,
        { type: 'udp', srcPort: 2152 },
        { type: 'gtpu', teid: 0x11223344, sequence: 513, extensions: [{ type: 0x85, content: bytes(0x10, 0x09) }, { type: 0x40, content: bytes(1, 2, 3, 4, 5) }, 0x20] },
        IP4,
        { type: 'udp', srcPort: 53, dstPort: 53 },
      ],
      ['ethernet', 'ipv6', 'udp', 'gtpu', 'ipv4', 'udp'],
    );
    expect(findLayer(d, 'udp', 0)).toMatchObject({ srcPort: 2152, dstPort: 2152 });
    expect(findLayer(d, 'gtpu')).toEqual({ type: 'gtpu', version: 1, messageType: 255, length: 4 + 4 + 8 + 4 + 28, teid: 0x11223344, sequence: 513, extensions: [0x85, 0x40, 0x20] });
    checksumsOk(d);
    // The same bytes as the hand-made GTP-U packet with one extension.
    const hand = Uint8Array.from(eth(0x0800, ipv4(17, udp(2152, cat([0x34, 255], [0, 36], [0, 0, 0, 7], [0, 0, 0, 0x85], [1, 0x10, 0x09, 0], ipv4(17, udp(53)))))));
    const built = build([
      { type: 'ethernet', dst: '02:00:00:00:00:01', src: '02:00:00:00:00:02' },
      { type: 'ipv4', src: '10.0.0.1', dst: '10.0.0.2', id: 1, checksum: 0 },
      { type: 'udp', srcPort: 5000, checksum: 0 },
      { type: 'gtpu', teid: 7, extensions: [{ type: 0x85, content: bytes(0x10, 0x09) }] },
      { type: 'ipv4', src: '10.0.0.1', dst: '10.0.0.2', id: 1, checksum: 0 },
      { type: 'udp', srcPort: 5000, dstPort: 53, checksum: 0 },
    ]);
    // The hand-made GTP flags byte lacks the sequence flag; ours sets only E (0x34) as well.
    expect(Array.from(built)).toEqual(Array.from(hand));
    const plain = roundTrip([ETH, IP4, { type: 'udp' }, { type: 'gtpu', teid: 1 }, IP6, { type: 'icmpv6' }]);
    expect(findLayer(plain, 'gtpu')).toMatchObject({ length: 48, extensions: [] });
    expect(findLayer(plain, 'gtpu')?.sequence).toBeUndefined();
  });

  it('Geneve (port 6081, options padded), GRE-in-UDP (4754), MPLS-in-UDP (6635), IP in IP', () => {
    const g = roundTrip([ETH, IP4, { type: 'udp' }, { type: 'geneve', vni: 0x123456, options: bytes(1, 2, 3, 4, 5) }, ETH, IP6, { type: 'icmpv6' }]);
    expect(findLayer(g, 'udp')).toMatchObject({ srcPort: 6081, dstPort: 6081 });
    expect(findLayer(g, 'geneve')).toEqual({ type: 'geneve', version: 0, optionsLength: 8, protocol: 0x6558, vni: 0x123456 });
    checksumsOk(g);
    expect(findLayer(roundTrip([ETH, IP4, { type: 'udp' }, { type: 'geneve' }, IP4, { type: 'icmp' }]), 'geneve')).toMatchObject({ protocol: 0x0800, optionsLength: 0 });
    const gu = roundTrip([ETH, IP6, { type: 'udp' }, { type: 'gre' }, IP4, { type: 'udp', srcPort: 1, dstPort: 2 }]);
    expect(findLayer(gu, 'udp')).toMatchObject({ srcPort: 4754, dstPort: 4754 });
    expect(findLayer(gu, 'gre')?.protocol).toBe(0x0800);
    checksumsOk(gu);
    const mu = roundTrip([ETH, IP4, { type: 'udp' }, { type: 'mpls', label: 99 }, IP6, { type: 'tcp', srcPort: 1, dstPort: 2 }]);
    expect(findLayer(mu, 'udp')).toMatchObject({ srcPort: 6635, dstPort: 6635 });
    expect(findLayer(mu, 'mpls')).toMatchObject({ label: 99, bottom: true });
    checksumsOk(mu);
    const ipip = roundTrip([ETH, IP6, IP4, { type: 'udp', srcPort: 1, dstPort: 2 }]);
    expect(findLayer(ipip, 'ipv6')?.nextHeader).toBe(4);
    expect(findLayer(roundTrip([ETH, IP4, IP6, { type: 'icmpv6' }]), 'ipv4')?.protocol).toBe(41);
    checksumsOk(ipip);
  });

  it('IEEE 802.3 frames: the length field as given', () => {
    const d = decode(build([{ ...ETH, length: 7 }, { type: 'payload', data: bytes(0xaa, 0xaa, 3, 0, 0, 0, 0) }]));
    expect(findLayer(d, 'ethernet')).toMatchObject({ length: 7 });
    expect(findLayer(d, 'ethernet')?.etherType).toBeUndefined();
  });

  it('IPv6 routing headers with segments left: the pseudo-header uses the final destination, as decode checks it', () => {
    const final = parseIpv6('2001:db8:ffff::99')!;
    const via = parseIpv6('2001:db8:eeee::1')!;
    // Type 0: addresses in order, the final one last.
    const rh0 = Uint8Array.from([0, 1, 0, 0, 0, 0, ...via, ...final]);
    // Segment routing (type 4): segment 0 is the final destination.
    const srh = Uint8Array.from([4, 1, 1, 0, 0, 0, ...final, ...via]);
    for (const data of [rh0, srh]) {
      const out = build([ETH, IP6, { type: 'ipv6-routing', data }, { type: 'udp', srcPort: 1, dstPort: 2 }, { type: 'payload', data: bytes(1, 2, 3) }]);
      const d = decode(out);
      expect(d.error).toBeUndefined();
      checksumsOk(d);
      expect(findLayer(d, 'ipv6-hop-by-hop')).toBeUndefined();
      expect(d.layers[2]).toMatchObject({ type: 'ipv6-routing', nextHeader: 17, length: 40 });
    }
    // Segments left 0: the fixed header's destination.
    checksumsOk(roundTrip([ETH, IP6, { type: 'ipv6-routing', data: Uint8Array.from([4, 0, 1, 0, 0, 0, ...final, ...via]) }, { type: 'tcp', srcPort: 1, dstPort: 2 }]));
  });

  it('decoded layers build back into the same bytes', () => {
    const frames = [
      build([ETH, { type: 'vlan', id: 3 }, { ...IP4, options: bytes(1, 1, 1, 0), dontFragment: true, dscp: 46, ecn: 1 }, { type: 'tcp', srcPort: 9, dstPort: 10, options: [{ kind: 2, data: bytes(5, 0xb4) }] }, { type: 'payload', data: bytes(1, 2) }]),
      build([ETH, IP6, { type: 'ipv6-hop-by-hop' }, { type: 'udp', srcPort: 7, dstPort: 4789 }, { type: 'vxlan', vni: 5 }, ETH, IP4, { type: 'icmp' }]),
      build([ETH, IP4, { type: 'gre', key: 1, checksumPresent: true }, IP4, { type: 'sctp', srcPort: 1, dstPort: 2 }]),
    ];
    for (const f of frames) expect(Array.from(build(decode(f).layers as LayerSpec[]))).toEqual(Array.from(f));
  });
});

describe('build: explicit values win', () => {
  it('wrong checksums and lengths are written as given', () => {
    const d = decode(build([ETH, { ...IP4, checksum: 0x1234 }, { type: 'tcp', srcPort: 1, dstPort: 2, checksum: 0xbeef }]));
    expect(findLayer(d, 'ipv4')).toMatchObject({ checksum: 0x1234, checksumValid: false });
    expect(findLayer(d, 'tcp')).toMatchObject({ checksum: 0xbeef, checksumValid: false });
    const u = decode(build([ETH, IP4, { type: 'udp', srcPort: 1, dstPort: 2, checksum: 1 }, { type: 'payload', data: bytes(1) }]));
    expect(findLayer(u, 'udp')).toMatchObject({ checksum: 1, checksumValid: false });
    const i = decode(build([ETH, IP6, { type: 'icmpv6', checksum: 0 }]));
    expect(findLayer(i, 'icmpv6')).toMatchObject({ checksum: 0, checksumValid: false });
    // A length too long for the bytes present: the decoder reports it.
    const long = decode(build([ETH, { ...IP4, totalLength: 1000 }, { type: 'udp', srcPort: 1, dstPort: 2 }]));
    expect(long.error).toMatchObject({ layer: 'ipv4' });
    const udpLong = decode(build([ETH, IP4, { type: 'udp', srcPort: 1, dstPort: 2, length: 200 }]));
    expect(udpLong.error).toMatchObject({ layer: 'udp' });
    const v6 = decode(build([ETH, { ...IP6, payloadLength: 3 }, { type: 'udp', srcPort: 1, dstPort: 2 }]));
    expect(v6.error).toBeDefined();
    // Explicit next-protocol fields, IHL and data offset too.
    const odd = build([ETH, { ...IP4, protocol: 253, ihl: 5 }, { type: 'tcp', srcPort: 1, dstPort: 2, dataOffset: 5 }]);
    expect(findLayer(decode(odd), 'ipv4')?.protocol).toBe(253);
    expect(decode(build([{ ...ETH, etherType: 0x88b5 }, IP4])).layers.map((l) => l.type)).toEqual(['ethernet', 'payload']);
  });

  it('UDP checksum 0 over IPv4 means "none"', () => {
    const d = decode(build([ETH, IP4, { type: 'udp', srcPort: 1, dstPort: 2, checksum: 0 }, { type: 'payload', data: bytes(1, 2) }]));
    expect(findLayer(d, 'udp')).toMatchObject({ checksum: 0, checksumValid: null });
  });

  it('a computed UDP checksum of 0 is sent as 0xffff', () => {
    // Find a 2-byte payload that makes the datagram sum to -0, so the computed checksum is 0.
    const probe = build([ETH, IP4, { type: 'udp', srcPort: 1, dstPort: 2, checksum: 0 }, { type: 'payload', data: bytes(0, 0) }]);
    const sum = fold(onesSum(probe, 34, probe.length, pseudoV4(probe, 14, 17, 10)));
    const word = 0xffff - sum;
    const d = decode(build([ETH, IP4, { type: 'udp', srcPort: 1, dstPort: 2 }, { type: 'payload', data: bytes(word >> 8, word & 0xff) }]));
    expect(findLayer(d, 'udp')).toMatchObject({ checksum: 0xffff, checksumValid: true });
  });
});

describe('build: rejected input', () => {
  it('bad addresses name the layer and field', () => {
    expectVnfError(() => build([{ type: 'ethernet', src: '02:00:00:00:00' }]), 'VNF_PACKET_FORMAT', 'layer 0 (ethernet)', 'src', 'MAC');
    expectVnfError(() => build([ETH, { ...IP4, dst: '10.0.0.256' }]), 'VNF_PACKET_FORMAT', 'layer 1 (ipv4)', 'dst', 'IPv4');
    expectVnfError(() => build([ETH, { ...IP4, src: '10.0.0' }]), 'VNF_PACKET_FORMAT', 'src');
    expectVnfError(() => build([ETH, { ...IP4, src: '010.0.0.1' }]), 'VNF_PACKET_FORMAT', 'src');
    expectVnfError(() => build([ETH, { ...IP6, src: '1:::2' }]), 'VNF_PACKET_FORMAT', 'layer 1 (ipv6)', 'src', 'IPv6');
    expectVnfError(() => build([ETH, { ...IP6, dst: '1:2:3:4:5:6:7:8:9' }]), 'VNF_PACKET_FORMAT', 'dst');
    expectVnfError(() => build([ETH, { ...IP6, dst: 'fe80::1%eth0' }]), 'VNF_PACKET_FORMAT', 'dst');
    expectVnfError(() => build([ETH, { ...IP6, dst: '::ffff:1.2.3' }]), 'VNF_PACKET_FORMAT', 'dst');
    expectVnfError(() => build([ETH, { type: 'arp', senderIp: '1.2.3.4', targetIp: 'x' }]), 'VNF_PACKET_FORMAT', 'targetIp');
    expectVnfError(() => build([ETH, { type: 'arp', senderIp: '1.2.3.4', targetIp: '1.2.3.5', targetMac: 'zz:00:00:00:00:00' }]), 'VNF_PACKET_FORMAT', 'targetMac');
  });

  it('missing required fields, out-of-range numbers, undeterminable next protocols', () => {
    expectVnfError(() => build([ETH, { type: 'ipv4', src: '1.1.1.1' }]), 'VNF_PACKET_FORMAT', 'dst', 'required');
    expectVnfError(() => build([ETH, IP4, { type: 'tcp', srcPort: 1 }]), 'VNF_PACKET_FORMAT', 'layer 2 (tcp)', 'dstPort', 'required');
    expectVnfError(() => build([ETH, IP4, { type: 'udp', dstPort: 1 }]), 'VNF_PACKET_FORMAT', 'srcPort');
    expectVnfError(() => build([ETH, { type: 'vlan', id: 4096 }, IP4]), 'VNF_PACKET_FORMAT', 'layer 1 (vlan)', 'id', '4096');
    expectVnfError(() => build([ETH, { ...IP4, ttl: 256 }]), 'VNF_PACKET_FORMAT', 'ttl');
    expectVnfError(() => build([ETH, { ...IP4, ttl: 1.5 }]), 'VNF_PACKET_FORMAT', 'ttl');
    expectVnfError(() => build([ETH, { ...IP4, fragmentOffset: 12 }]), 'VNF_PACKET_FORMAT', 'fragmentOffset', 'multiple of 8');
    expectVnfError(() => build([ETH, { type: 'payload', data: bytes(1) }]), 'VNF_PACKET_FORMAT', 'layer 0 (ethernet)', 'etherType', 'required');
    expectVnfError(() => build([ETH, IP4, { type: 'payload', data: bytes(1) }]), 'VNF_PACKET_FORMAT', 'protocol', 'required');
    expectVnfError(() => build([ETH, { ...IP4, options: new Uint8Array(41) }]), 'VNF_PACKET_FORMAT', 'options');
    expectVnfError(() => build([ETH, IP4, { type: 'tcp', srcPort: 1, dstPort: 2, options: [{ kind: 254, data: new Uint8Array(39) }] }]), 'VNF_PACKET_FORMAT', 'options[0].data');
    expectVnfError(() => build([ETH, IP4, { type: 'tcp', srcPort: 1, dstPort: 2, options: [{ kind: 1, data: bytes(1) }] }]), 'VNF_PACKET_FORMAT', 'options[0].data');
    expectVnfError(() => build([ETH, IP6, { type: 'ipv6-routing', length: 12 }]), 'VNF_PACKET_FORMAT', 'length');
    expectVnfError(() => build([ETH, IP6, { type: 'ipv6-routing', length: 8, data: new Uint8Array(7) }]), 'VNF_PACKET_FORMAT', 'data');
    expectVnfError(() => build([{ type: 'tcp', srcPort: 1, dstPort: 2 }]), 'VNF_PACKET_FORMAT', 'TCP outside an IP header');
    expectVnfError(() => build([ETH, IP4, { type: 'icmpv6' }]), 'VNF_PACKET_FORMAT', 'ICMPv6');
    expectVnfError(() => build([ETH, IP4, { type: 'udp', srcPort: 1, dstPort: 2 }, { type: 'payload', data: new Uint8Array(70000) }]), 'VNF_PACKET_FORMAT', 'length');
    expectVnfError(() => build([{ type: 'gtpu', extensions: [0] }]), 'VNF_PACKET_FORMAT', 'extensions[0].type');
    expectVnfError(() => build([{ type: 'token-ring' } as unknown as LayerSpec]), 'VNF_PACKET_FORMAT', 'unknown layer type');
  });

  it('address parsers', () => {
    expect(Array.from(parseMac('AA:bb:0c:00:01:ff')!)).toEqual([0xaa, 0xbb, 0x0c, 0, 1, 0xff]);
    expect(parseMac('aa:bb-cc:dd:ee:ff')).toBeNull();
    expect(parseMac('a:b:c:d:e:f')).toBeNull();
    expect(Array.from(parseIpv4('255.0.10.1')!)).toEqual([255, 0, 10, 1]);
    expect(parseIpv4('1.2.3.4.5')).toBeNull();
    expect(parseIpv4(' 1.2.3.4')).toBeNull();
    expect(formatIpv6(parseIpv6('::')!, 0)).toBe('::');
    expect(formatIpv6(parseIpv6('::1')!, 0)).toBe('::1');
    expect(formatIpv6(parseIpv6('1::')!, 0)).toBe('1::');
    expect(formatIpv6(parseIpv6('FE80:0:0:0:0:0:0:A')!, 0)).toBe('fe80::a');
    expect(formatIpv6(parseIpv6('::ffff:192.0.2.1')!, 0)).toBe('::ffff:192.0.2.1');
    expect(formatIpv6(parseIpv6('1:2:3:4:5:6:1.2.3.4')!, 0)).toBe('1:2:3:4:5:6:102:304');
    for (const bad of ['', ':', ':::', '1::2::3', '1:2:3:4:5:6:7', '12345::', '::g', ':1::2', '1::2:', '1.2.3.4', '::1.2.3.4:5', '1:2:3:4:5:6:7:1.2.3.4']) {
      expect(parseIpv6(bad), bad).toBeNull();
    }
  });

  it('property: parseIpv6 inverts formatIpv6', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 16, maxLength: 16 }), fc.integer({ min: 0, max: 15 }), (b, zeros) => {
        b.fill(0, zeros, Math.min(16, zeros + 6)); // make zero runs common
        expect(Array.from(parseIpv6(formatIpv6(b, 0))!)).toEqual(Array.from(b));
      }),
    );
  });
});

// ---- property: random stacks built then decoded give back the given fields ----

const u8 = fc.integer({ min: 0, max: 0xff });
const u16 = fc.integer({ min: 0, max: 0xffff });
const u32 = fc.integer({ min: 0, max: 0xffffffff });
const TUNNEL_PORTS = [4789, 2152, 6081, 4754, 6635];
const port = u16.filter((p) => !TUNNEL_PORTS.includes(p));
const mac = fc.uint8Array({ minLength: 6, maxLength: 6 }).map((b) => Array.from(b, (x) => x.toString(16).padStart(2, '0')).join(':'));
const v4 = fc.uint8Array({ minLength: 4, maxLength: 4 }).map((b) => b.join('.'));
const v6 = fc.uint8Array({ minLength: 16, maxLength: 16 }).map((b) => formatIpv6(b, 0));
const data = (max: number) => fc.uint8Array({ maxLength: max });

const l2 = fc.tuple(
  fc.record({ type: fc.constant('ethernet' as const), src: mac, dst: mac }),
  fc.array(fc.record({ type: fc.constant('vlan' as const), tpid: fc.constantFrom(0x8100, 0x88a8, 0x9100), pcp: fc.integer({ min: 0, max: 7 }), dei: fc.boolean(), id: fc.integer({ min: 0, max: 0xfff }) }), { maxLength: 3 }),
  fc.array(fc.record({ type: fc.constant('mpls' as const), label: fc.integer({ min: 0, max: 0xfffff }), tc: fc.integer({ min: 0, max: 7 }), ttl: u8 }), { maxLength: 3 }),
);
const ip4 = fc.record({
  type: fc.constant('ipv4' as const),
  src: v4,
  dst: v4,
  dscp: fc.integer({ min: 0, max: 63 }),
  ecn: fc.integer({ min: 0, max: 3 }),
  id: u16,
  dontFragment: fc.boolean(),
  ttl: u8,
  options: fc.integer({ min: 0, max: 10 }).chain((n) => fc.uint8Array({ minLength: 4 * n, maxLength: 4 * n })),
});
const ext = fc.record({ type: fc.constantFrom('ipv6-hop-by-hop' as const, 'ipv6-routing' as const, 'ipv6-destination' as const, 'ipv6-ah' as const), data: data(30) });
const ip6 = fc.tuple(
  fc.record({ type: fc.constant('ipv6' as const), src: v6, dst: v6, trafficClass: u8, flowLabel: fc.integer({ min: 0, max: 0xfffff }), hopLimit: u8 }),
  fc.array(ext, { maxLength: 3 }),
);
const tcpOpt = fc.record({ kind: fc.integer({ min: 2, max: 255 }), data: data(6) });
const l4 = fc.oneof(
  fc.record({
    type: fc.constant('tcp' as const),
    srcPort: u16,
    dstPort: u16,
    seq: u32,
    ack: u32,
    flags: fc.integer({ min: 0, max: 0x1ff }),
    window: u16,
    urgentPointer: u16,
    options: fc.array(tcpOpt, { maxLength: 5 }).filter((o) => o.reduce((s, x) => s + 2 + x.data.length, 0) <= 40),
  }),
  fc.record({ type: fc.constant('udp' as const), srcPort: port, dstPort: port }),
  fc.record({ type: fc.constant('icmp' as const), icmpType: u8, code: u8, rest: u32 }),
  fc.record({ type: fc.constant('sctp' as const), srcPort: u16, dstPort: u16, verificationTag: u32 }),
  fc.constant(null),
);

/** Field values the decoder gives back as they were given (minus inputs it does not report). */
function comparable(s: LayerSpec): Record<string, unknown> {
  const o: Record<string, unknown> = { ...s };
  if (s.type === 'ipv6-hop-by-hop' || s.type === 'ipv6-routing' || s.type === 'ipv6-destination' || s.type === 'ipv6-ah') delete o.data;
  for (const [k, v] of Object.entries(o)) if (v instanceof Uint8Array) o[k] = Array.from(v);
  if (s.type === 'tcp') o.options = (s.options ?? []).map((x) => ({ kind: x.kind, data: Array.from(x.data) }));
  return o;
}
function plain(l: Layer): Record<string, unknown> {
  const o: Record<string, unknown> = { ...l };
  for (const [k, v] of Object.entries(o)) if (v instanceof Uint8Array) o[k] = Array.from(v);
  if (l.type === 'tcp') o.options = l.options.map((x) => ({ kind: x.kind, data: Array.from(x.data) }));
  return o;
}

describe('build: property', () => {
  it('random layer stacks built then decoded give back the given fields, with valid checksums', () => {
    fc.assert(
      fc.property(l2, fc.oneof(ip4, ip6), l4, data(64), ([e, vlans, labels], ip, t, payload) => {
        const specs: LayerSpec[] = [e, ...vlans, ...labels];
        let v6 = false;
        if (Array.isArray(ip)) {
          specs.push(ip[0], ...ip[1]);
          v6 = true;
        } else {
          specs.push(ip);
        }
        if (t) specs.push(t.type === 'icmp' && v6 ? { ...t, type: 'icmpv6' } : t);
        else if (payload.length > 0) {
          // Data straight after IP: the protocol must be given (253, "for experimentation").
          const last = specs.at(-1)!;
          specs[specs.length - 1] = last.type === 'ipv4' ? { ...last, protocol: 253 } : { ...last, nextHeader: 253 } as LayerSpec;
        }
        if (payload.length > 0) specs.push({ type: 'payload', data: payload });
        const out = build(specs);
        const d = decode(out);
        expect(d.error).toBeUndefined();
        expect(d.layers.map((l) => l.type)).toEqual(specs.map((s) => s.type));
        specs.forEach((s, i) => {
          const want = comparable(s);
          if (s.type === 'ipv4') want.options = Array.from(s.options ?? []);
          expect(plain(d.layers[i]!)).toMatchObject(want);
        });
        checksumsOk(d);
        // Lengths cover exactly the rest of the frame.
        const ipLayer = d.layers.find((l) => l.type === 'ipv4' || l.type === 'ipv6')!;
        const ipAt = 14 + 4 * vlans.length + 4 * labels.length;
        if (ipLayer.type === 'ipv4') expect(ipLayer.totalLength).toBe(out.length - ipAt);
        else if (ipLayer.type === 'ipv6') expect(ipLayer.payloadLength).toBe(out.length - ipAt - 40);
        const sctp = findLayer(d, 'sctp');
        if (sctp) {
          const l4At = out.length - 12 - payload.length;
          const copy = out.slice(l4At);
          const stored = (copy[8]! | (copy[9]! << 8) | (copy[10]! << 16)) + copy[11]! * 2 ** 24;
          copy.fill(0, 8, 12);
          expect(stored).toBe(crc32c(copy));
        }
      }),
      { numRuns: 300 },
    );
  });

  it('tunnels: random inner stacks under VXLAN and GTP-U keep both checksum layers valid', () => {
    fc.assert(
      fc.property(fc.boolean(), fc.oneof(ip4, ip6), fc.oneof(ip4, ip6), data(40), u32, (vx, outer, inner, payload, id) => {
        const ipSpecs = (ip: typeof outer): LayerSpec[] => (Array.isArray(ip) ? [ip[0], ...ip[1]] : [ip]);
        const specs: LayerSpec[] = [ETH, ...ipSpecs(outer), { type: 'udp' }];
        if (vx) specs.push({ type: 'vxlan', vni: id >>> 8 }, ETH);
        else specs.push({ type: 'gtpu', teid: id, sequence: id & 0xffff });
        specs.push(...ipSpecs(inner), { type: 'udp', srcPort: 1000, dstPort: 2000 }, { type: 'payload', data: payload });
        const d = decode(build(specs));
        expect(d.error).toBeUndefined();
        expect(d.layers.map((l) => l.type)).toEqual(specs.filter((s) => s.type !== 'payload' || payload.length > 0).map((s) => s.type));
        checksumsOk(d);
      }),
      { numRuns: 150 },
    );
  });
});

// ---- tshark: an independent dissector agrees the packets are well formed ----

function tsharkMissing(): string | null {
  try {
    execFileSync('tshark', ['--version'], { stdio: 'ignore', timeout: 30_000 });
    return null;
  } catch {
    return 'tshark is not on PATH';
  }
}

const dir = mkdtempSync(join(tmpdir(), 'vnf-build-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const FIELDS = [
  'frame.protocols',
  'ip.checksum.status',
  'tcp.checksum.status',
  'udp.checksum.status',
  'icmp.checksum.status',
  'icmpv6.checksum.status',
  'sctp.checksum.status',
  'gre.checksum.status',
  '_ws.malformed',
  '_ws.expert.severity',
  '_ws.expert.message',
] as const;

describe('build: tshark', () => {
  itWhen(tsharkMissing(), 'tshark finds built packets well formed with good checksums', () => {
    const tcpSyn = build([ETH, IP4, { type: 'tcp', srcPort: 40000, dstPort: 80, seq: 1000, options: [{ kind: 2, data: bytes(5, 0xb4) }, { kind: 4, data: bytes() }] }]);
    const frames: [string, Uint8Array][] = [
      ['ipv4 tcp', tcpSyn],
      ['vlan ipv4 udp', build([ETH, { type: 'vlan', id: 10 }, { ...IP4, options: bytes(1, 1, 1, 1) }, { type: 'udp', srcPort: 1000, dstPort: 5000 }, { type: 'payload', data: new Uint8Array(20).fill(7) }])],
      ['ipv6 ext udp', build([ETH, IP6, { type: 'ipv6-hop-by-hop' }, { type: 'ipv6-destination', data: bytes(1, 4, 0, 0, 0, 0) }, { type: 'udp', srcPort: 1000, dstPort: 2000 }, { type: 'payload', data: bytes(1, 2, 3) }])],
      ['icmp echo', build([ETH, IP4, { type: 'icmp', rest: 0x12340001 }, { type: 'payload', data: new Uint8Array(32).fill(0x61) }])],
      ['icmpv6 echo', build([ETH, IP6, { type: 'icmpv6', rest: 0x12340001 }, { type: 'payload', data: new Uint8Array(32).fill(0x61) }])],
      ['vxlan', build([ETH, IP4, { type: 'udp', srcPort: 50000 }, { type: 'vxlan', vni: 42 }, ETH, IP4, { type: 'tcp', srcPort: 1, dstPort: 2, flags: 0x10 }, { type: 'payload', data: bytes(1, 2, 3, 4) }])],
      ['gtpu', build([ETH, IP4, { type: 'udp' }, { type: 'gtpu', teid: 5, sequence: 9, extensions: [{ type: 0x85, content: bytes(0x10, 0x09) }] }, IP4, { type: 'udp', srcPort: 1, dstPort: 2 }])],
      ['srh', build([ETH, IP6, { type: 'ipv6-routing', data: Uint8Array.from([4, 1, 1, 0, 0, 0, ...parseIpv6('2001:db8:ffff::99')!, ...parseIpv6('2001:db8:eeee::1')!]) }, { type: 'tcp', srcPort: 1, dstPort: 2 }])],
      ['geneve', build([ETH, IP4, { type: 'udp' }, { type: 'geneve', vni: 9, options: bytes(1, 2, 0x80, 1, 0, 0, 0, 5) }, ETH, IP4, { type: 'udp', srcPort: 1, dstPort: 2 }])],
      ['gre', build([ETH, IP4, { type: 'gre', key: 7, sequence: 8, checksumPresent: true }, IP6, { type: 'icmpv6' }])],
      ['sctp', build([ETH, IP4, { type: 'sctp', srcPort: 2905, dstPort: 2905, verificationTag: 0x01020304 }, { type: 'payload', data: bytes(0, 3, 0, 8, 0, 0, 0, 0) }])],
      ['qinq mpls', build([ETH, { type: 'vlan', tpid: 0x88a8, id: 1 }, { type: 'vlan', id: 2 }, { type: 'mpls', label: 100 }, IP6, { type: 'tcp', srcPort: 1, dstPort: 2 }])],
      ['arp', build([{ type: 'ethernet', dst: 'ff:ff:ff:ff:ff:ff' }, { type: 'arp', senderIp: '10.0.0.1', targetIp: '10.0.0.2' }])],
      ['icmp time exceeded', icmpError(tcpSyn, { type: 11, code: 0, src: '10.0.0.254' })!],
      ['icmpv6 packet too big', icmpv6Error(build([ETH, IP6, { type: 'udp', srcPort: 1, dstPort: 2 }, { type: 'payload', data: new Uint8Array(1400) }]), { type: 2, code: 0, src: '2001:db8::fe', mtu: 1280 })!],
      ['echo reply', icmpEchoReply(build([ETH, IP4, { type: 'icmp', rest: 7 }, { type: 'payload', data: bytes(1, 2) }]))!],
      ['rst', tcpRst(tcpSyn)!],
    ];
    const file = join(dir, 'built.pcap');
    const w = CaptureWriter.open(file);
    frames.forEach(([, f], i) => {
      w.write(f, BigInt(i + 1) * 1_000_000n);
    });
    w.close();
    const out = execFileSync(
      'tshark',
      ['-r', file, '-n', '-o', 'ip.check_checksum:TRUE', '-o', 'tcp.check_checksum:TRUE', '-o', 'udp.check_checksum:TRUE', '-o', 'sctp.checksum:CRC 32c', '-T', 'fields', '-E', 'separator=/t', '-E', 'occurrence=a', '-E', 'aggregator=,', ...FIELDS.flatMap((f) => ['-e', f])],
      { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, LC_ALL: 'C', WIRESHARK_CONFIG_DIR: join(dir, 'no-config') } },
    );
    const lines = out.trimEnd().split('\n');
    expect(lines).toHaveLength(frames.length);
    lines.forEach((line, i) => {
      const cols = line.split('\t');
      const rec = Object.fromEntries(FIELDS.map((f, k) => [f, cols[k] ?? '']));
      const name = frames[i]![0];
      expect(rec['_ws.malformed'], `${name} malformed`).toBe('');
      // No expert item of severity Error (0x00800000).
      expect(rec['_ws.expert.severity'].split(',').filter((s) => Number(s) === 0x00800000), `${name}: ${rec['_ws.expert.message']}`).toEqual([]);
      // Every checksum tshark verified is good (1); 2 = unverified is allowed for quoted packets.
      for (const f of FIELDS.filter((x) => x.endsWith('.status'))) {
        for (const s of rec[f]!.split(',').filter((x) => x !== '')) expect(['1', '2'], `${name} ${f}=${rec[f]}`).toContain(s);
      }
      if (name === 'sctp') expect(rec['sctp.checksum.status']).toBe('1');
      if (name === 'gre') expect(rec['gre.checksum.status']).toBe('1');
      if (name === 'ipv4 tcp') expect(rec['tcp.checksum.status']).toBe('1');
      if (name === 'vxlan') expect([rec['udp.checksum.status'], rec['tcp.checksum.status']]).toEqual(['1', '1']);
      if (name === 'geneve') expect(rec['udp.checksum.status']).toBe('1,1');
      if (name === 'srh') expect(rec['tcp.checksum.status']).toBe('1');
    });
  });
});
