import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { expectVnfError } from '@vnf-sdk/test-support';
import { build, type LayerSpec } from '../src/build.js';
import { type Decoded, decode, findLayer } from '../src/decode.js';
import { arpReply, icmpEchoReply, icmpError, icmpv6Error, tcpRst } from '../src/replies.js';

const bytes = (...b: number[]) => Uint8Array.from(b);
const HOST_MAC = '02:00:00:00:00:01';
const MY_MAC = '02:00:00:00:00:fe';
const ETH: LayerSpec = { type: 'ethernet', src: HOST_MAC, dst: MY_MAC };
const IP4: LayerSpec = { type: 'ipv4', src: '192.0.2.1', dst: '198.51.100.7', ttl: 5, id: 999 };
const IP6: LayerSpec = { type: 'ipv6', src: '2001:db8::1', dst: '2001:db8:1::7', hopLimit: 5 };
const QINQ: LayerSpec[] = [
  { type: 'vlan', tpid: 0x88a8, id: 100, pcp: 3 },
  { type: 'vlan', id: 200, dei: true },
];

/** Decodes a reply: no error, every checksum valid. */
function dec(frame: Uint8Array | null): Decoded {
  expect(frame).not.toBeNull();
  const d = decode(frame!);
  expect(d.error).toBeUndefined();
  for (const l of d.layers) if ('checksumValid' in l) expect(l.checksumValid, `${l.type} checksum`).toBe(true);
  return d;
}


/** The reply keeps the QinQ tags of the request. */
function expectTags(d: Decoded): void {
  expect(findLayer(d, 'vlan', 0)).toMatchObject({ tpid: 0x88a8, id: 100, pcp: 3, dei: false });
  expect(findLayer(d, 'vlan', 1)).toMatchObject({ tpid: 0x8100, id: 200, dei: true });
}

describe('arpReply', () => {
  const request = build([
    { type: 'ethernet', src: HOST_MAC, dst: 'ff:ff:ff:ff:ff:ff' },
    ...QINQ,
    { type: 'arp', operation: 1, senderMac: HOST_MAC, senderIp: '10.0.0.1', targetIp: '10.0.0.254' },
  ]);

  it('answers a request from myMac, swapping sender and target, keeping VLAN tags', () => {
    const d = dec(arpReply(request, MY_MAC));
    expect(findLayer(d, 'ethernet')).toMatchObject({ dst: HOST_MAC, src: MY_MAC, etherType: 0x88a8 });
    expectTags(d);
    expect(findLayer(d, 'arp')).toEqual({
      type: 'arp',
      hardwareType: 1,
      protocolType: 0x0800,
      operation: 2,
      senderMac: MY_MAC,
      senderIp: '10.0.0.254',
      targetMac: HOST_MAC,
      targetIp: '10.0.0.1',
    });
  });

  it('null for what is not an Ethernet/IPv4 ARP request', () => {
    expect(arpReply(arpReply(request, MY_MAC)!, MY_MAC)).toBeNull(); // a reply
    expect(arpReply(build([ETH, { type: 'arp', hardwareType: 6, senderIp: '1.1.1.1', targetIp: '1.1.1.2' }]), MY_MAC)).toBeNull();
    expect(arpReply(build([ETH, IP4, { type: 'udp', srcPort: 1, dstPort: 2 }]), MY_MAC)).toBeNull();
    expect(arpReply(request.subarray(0, 30), MY_MAC)).toBeNull(); // truncated
    expect(arpReply(new Uint8Array(0), MY_MAC)).toBeNull();
  });

  it('a bad myMac is a VNF_PACKET_FORMAT error', () => {
    expectVnfError(() => arpReply(request, 'not-a-mac'), 'VNF_PACKET_FORMAT');
  });
});

describe('icmpEchoReply', () => {
  const data = Uint8Array.from({ length: 56 }, (_, i) => i);
  const echo4 = build([ETH, ...QINQ, IP4, { type: 'icmp', icmpType: 8, rest: 0x1234_0007 }, { type: 'payload', data }]);

  it('IPv4: type 0, same id / sequence / data, addresses swapped, TTL 64, VLANs kept', () => {
    const d = dec(icmpEchoReply(echo4));
    expect(d.layers.map((l) => l.type)).toEqual(['ethernet', 'vlan', 'vlan', 'ipv4', 'icmp', 'payload']);
    expect(findLayer(d, 'ethernet')).toMatchObject({ src: MY_MAC, dst: HOST_MAC });
    expectTags(d);
    expect(findLayer(d, 'ipv4')).toMatchObject({ src: '198.51.100.7', dst: '192.0.2.1', ttl: 64, protocol: 1, totalLength: 20 + 8 + 56, options: new Uint8Array(0) });
    expect(findLayer(d, 'icmp')).toMatchObject({ icmpType: 0, code: 0, rest: 0x1234_0007 });
    expect(Array.from(findLayer(d, 'payload')!.data)).toEqual(Array.from(data));
  });

  it('IPv6: 128 becomes 129 with the ICMPv6 pseudo-header checksum; extension headers dropped', () => {
    const req = build([ETH, IP6, { type: 'ipv6-hop-by-hop' }, { type: 'icmpv6', icmpType: 128, rest: 0xabcd0001 }, { type: 'payload', data }]);
    const d = dec(icmpEchoReply(req));
    expect(d.layers.map((l) => l.type)).toEqual(['ethernet', 'ipv6', 'icmpv6', 'payload']);
    expect(findLayer(d, 'ipv6')).toMatchObject({ src: '2001:db8:1::7', dst: '2001:db8::1', hopLimit: 64, nextHeader: 58, payloadLength: 64 });
    expect(findLayer(d, 'icmpv6')).toMatchObject({ icmpType: 129, code: 0, rest: 0xabcd0001 });
    expect(Array.from(findLayer(d, 'payload')!.data)).toEqual(Array.from(data));
    // No data at all.
    expect(findLayer(dec(icmpEchoReply(build([ETH, IP6, { type: 'icmpv6', rest: 5 }]))), 'icmpv6')).toMatchObject({ icmpType: 129, rest: 5 });
  });

  it('null: not an echo request, bad checksums, fragments, group destinations', () => {
    expect(icmpEchoReply(icmpEchoReply(echo4)!)).toBeNull(); // an echo reply
    expect(icmpEchoReply(build([ETH, IP4, { type: 'icmp', icmpType: 13 }]))).toBeNull();
    expect(icmpEchoReply(build([ETH, IP4, { type: 'udp', srcPort: 1, dstPort: 7 }]))).toBeNull();
    expect(icmpEchoReply(build([ETH, IP4, { type: 'icmp', checksum: 1 }]))).toBeNull();
    expect(icmpEchoReply(build([ETH, { ...IP4, checksum: 1 }, { type: 'icmp' }]))).toBeNull();
    expect(icmpEchoReply(build([ETH, { ...IP4, moreFragments: true }, { type: 'icmp' }]))).toBeNull();
    expect(icmpEchoReply(build([ETH, { ...IP4, dst: '255.255.255.255' }, { type: 'icmp' }]))).toBeNull();
    expect(icmpEchoReply(build([ETH, { ...IP4, dst: '224.0.0.1' }, { type: 'icmp' }]))).toBeNull();
    expect(icmpEchoReply(build([{ ...ETH, dst: 'ff:ff:ff:ff:ff:ff' }, IP4, { type: 'icmp' }]))).toBeNull();
    expect(icmpEchoReply(build([ETH, { ...IP6, dst: 'ff02::1' }, { type: 'icmpv6' }]))).toBeNull();
    expect(icmpEchoReply(build([ETH, IP6, { type: 'ipv6-fragment', moreFragments: true }, { type: 'icmpv6' }]))).toBeNull();
    expect(icmpEchoReply(build([ETH, IP6, { type: 'icmpv6', icmpType: 129 }]))).toBeNull();
    expect(icmpEchoReply(build([ETH, IP4, { type: 'icmp' }]).subarray(0, 14 + 20 + 6))).toBeNull(); // truncated
    expect(icmpEchoReply(build([ETH, IP4, { type: 'icmp' }, { type: 'payload', data }]).subarray(0, 60))).toBeNull(); // total length lies
  });
});

describe('icmpError (IPv4)', () => {
  const big = build([ETH, ...QINQ, IP4, { type: 'udp', srcPort: 4000, dstPort: 5000 }, { type: 'payload', data: Uint8Array.from({ length: 1000 }, (_, i) => i & 0xff) }]);
  const ipAt = 14 + 8;

  it('time exceeded: quotes as much as fits in 576 bytes, TTL 64, CS6, to the sender', () => {
    const reply = icmpError(big, { type: 11, code: 0, src: '203.0.113.1' });
    const d = dec(reply);
    expect(findLayer(d, 'ethernet')).toMatchObject({ src: MY_MAC, dst: HOST_MAC });
    expectTags(d);
    expect(findLayer(d, 'ipv4')).toMatchObject({ src: '203.0.113.1', dst: '192.0.2.1', ttl: 64, protocol: 1, totalLength: 576, dscp: 48 });
    expect(findLayer(d, 'icmp')).toMatchObject({ icmpType: 11, code: 0, rest: 0 });
    const quoted = findLayer(d, 'payload')!.data;
    expect(quoted.length).toBe(576 - 28);
    expect(Array.from(quoted)).toEqual(Array.from(big.subarray(ipAt, ipAt + 548)));
  });

  it('a small datagram is quoted whole (header and all its data), without Ethernet padding', () => {
    const small = build([ETH, IP4, { type: 'tcp', srcPort: 1, dstPort: 2 }]);
    const padded = Uint8Array.from([...small, 0, 0, 0, 0, 0, 0]);
    const d = dec(icmpError(padded, { type: 3, code: 1, src: '203.0.113.1' }));
    const quoted = findLayer(d, 'payload')!.data;
    expect(Array.from(quoted)).toEqual(Array.from(small.subarray(14)));
    expect(quoted.length).toBeGreaterThanOrEqual(20 + 8);
    expect(findLayer(d, 'ipv4')?.totalLength).toBe(20 + 8 + 40);
  });

  it('fragmentation needed carries the next-hop MTU; parameter problem the pointer; options are quoted', () => {
    const withOptions = build([ETH, { ...IP4, options: bytes(1, 1, 1, 0), dontFragment: true }, { type: 'udp', srcPort: 1, dstPort: 2 }, { type: 'payload', data: new Uint8Array(1500) }]);
    const d = dec(icmpError(withOptions, { type: 3, code: 4, src: '203.0.113.1', mtu: 1400 }));
    expect(findLayer(d, 'icmp')).toMatchObject({ icmpType: 3, code: 4, rest: 1400 });
    expect(Array.from(findLayer(d, 'payload')!.data.subarray(0, 24))).toEqual(Array.from(withOptions.subarray(14, 38)));
    expect(findLayer(d, 'ipv4')?.totalLength).toBe(576);
    expect(findLayer(dec(icmpError(big, { type: 12, code: 0, src: '203.0.113.1', pointer: 8 })), 'icmp')).toMatchObject({ icmpType: 12, rest: 8 * 2 ** 24 });
  });

  it('a broken IP header is not answered; a broken transport header is', () => {
    const o = { type: 11, code: 0, src: '203.0.113.1' };
    expect(icmpError(build([ETH, { ...IP4, totalLength: 200 }, { type: 'udp', srcPort: 1, dstPort: 2 }]), o)).toBeNull();
    const badTcp = build([ETH, IP4, { type: 'tcp', srcPort: 1, dstPort: 2, dataOffset: 2 }]);
    expect(decode(badTcp).error?.layer).toBe('tcp');
    const d = dec(icmpError(badTcp, o));
    expect(Array.from(findLayer(d, 'payload')!.data)).toEqual(Array.from(badTcp.subarray(14)));
  });

  it('answers ICMP queries and first fragments', () => {
    expect(icmpError(build([ETH, IP4, { type: 'icmp', icmpType: 8 }]), { type: 11, code: 0, src: '203.0.113.1' })).not.toBeNull();
    expect(icmpError(build([ETH, { ...IP4, moreFragments: true }, { type: 'udp', srcPort: 1, dstPort: 2 }]), { type: 11, code: 0, src: '203.0.113.1' })).not.toBeNull();
  });

  it('null: about ICMP errors, later fragments, group / broadcast destinations, odd sources, IPv6, bad headers', () => {
    const o = { type: 11, code: 0, src: '203.0.113.1' };
    for (const t of [3, 4, 5, 11, 12]) expect(icmpError(build([ETH, IP4, { type: 'icmp', icmpType: t }, { type: 'payload', data: new Uint8Array(28) }]), o), `ICMP type ${t}`).toBeNull();
    expect(icmpError(build([ETH, { ...IP4, fragmentOffset: 1480, protocol: 17 }, { type: 'payload', data: new Uint8Array(8) }]), o)).toBeNull();
    expect(icmpError(build([ETH, { ...IP4, dst: '255.255.255.255' }, { type: 'udp', srcPort: 1, dstPort: 2 }]), o)).toBeNull();
    expect(icmpError(build([ETH, { ...IP4, dst: '224.0.0.5' }, { type: 'udp', srcPort: 1, dstPort: 2 }]), o)).toBeNull();
    expect(icmpError(build([{ ...ETH, dst: '01:00:5e:00:00:05' }, IP4, { type: 'udp', srcPort: 1, dstPort: 2 }]), o)).toBeNull();
    expect(icmpError(build([ETH, { ...IP4, src: '0.0.0.0' }, { type: 'udp', srcPort: 1, dstPort: 2 }]), o)).toBeNull();
    expect(icmpError(build([ETH, { ...IP4, src: '127.0.0.1' }, { type: 'udp', srcPort: 1, dstPort: 2 }]), o)).toBeNull();
    expect(icmpError(build([ETH, { ...IP4, checksum: 0 }, { type: 'udp', srcPort: 1, dstPort: 2 }]), o)).toBeNull();
    expect(icmpError(build([ETH, IP6, { type: 'udp', srcPort: 1, dstPort: 2 }]), o)).toBeNull();
  });

  it('bad options are VNF_INVALID_ARGUMENT; a bad src is VNF_PACKET_FORMAT', () => {
    expectVnfError(() => icmpError(big, { type: 5, code: 0, src: '203.0.113.1' }), 'VNF_INVALID_ARGUMENT');
    expectVnfError(() => icmpError(big, { type: 3, code: 4, src: '203.0.113.1' }), 'VNF_INVALID_ARGUMENT');
    expectVnfError(() => icmpError(big, { type: 3, code: 256, src: '203.0.113.1' }), 'VNF_INVALID_ARGUMENT');
    expectVnfError(() => icmpError(big, { type: 12, code: 0, src: '203.0.113.1', pointer: 300 }), 'VNF_INVALID_ARGUMENT');
    expectVnfError(() => icmpError(big, { type: 11, code: 0, src: '2001:db8::1' }), 'VNF_PACKET_FORMAT');
  });

  it('property: the reply is at most 576 bytes of IP and quotes the header plus at least 8 bytes', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 2000 }), fc.integer({ min: 0, max: 10 }), (n, words) => {
        const off = build([ETH, { ...IP4, options: new Uint8Array(4 * words).fill(1) }, { type: 'udp', srcPort: 1, dstPort: 2 }, { type: 'payload', data: new Uint8Array(n).fill(9) }]);
        const d = dec(icmpError(off, { type: 11, code: 1, src: '203.0.113.1' }));
        const ip = findLayer(d, 'ipv4')!;
        const quoted = findLayer(d, 'payload')!.data;
        expect(ip.totalLength).toBeLessThanOrEqual(576);
        expect(ip.totalLength).toBe(28 + quoted.length);
        expect(quoted.length).toBe(Math.min(off.length - 14, 548));
        expect(quoted.length).toBeGreaterThanOrEqual(20 + 4 * words + 8);
        expect(Array.from(quoted)).toEqual(Array.from(off.subarray(14, 14 + quoted.length)));
      }),
      { numRuns: 100 },
    );
  });
});

describe('icmpv6Error', () => {
  const big = build([ETH, ...QINQ, IP6, { type: 'ipv6-destination' }, { type: 'tcp', srcPort: 4000, dstPort: 80, flags: 0x18 }, { type: 'payload', data: new Uint8Array(1400).fill(0x5a) }]);
  const ipAt = 14 + 8;

  it('packet too big: the MTU in the word after the checksum, quoting as much as fits in 1280 bytes', () => {
    const d = dec(icmpv6Error(big, { type: 2, code: 0, src: '2001:db8::fe', mtu: 1280 }));
    expect(findLayer(d, 'ethernet')).toMatchObject({ src: MY_MAC, dst: HOST_MAC });
    expectTags(d);
    expect(findLayer(d, 'ipv6')).toMatchObject({ src: '2001:db8::fe', dst: '2001:db8::1', hopLimit: 64, nextHeader: 58, payloadLength: 1240 });
    expect(findLayer(d, 'icmpv6')).toMatchObject({ icmpType: 2, code: 0, rest: 1280 });
    const quoted = findLayer(d, 'payload')!.data;
    expect(quoted.length).toBe(1280 - 48);
    expect(Array.from(quoted)).toEqual(Array.from(big.subarray(ipAt, ipAt + 1232)));
  });

  it('time exceeded / unreachable / parameter problem; small packets quoted whole', () => {
    const small = build([ETH, IP6, { type: 'udp', srcPort: 1, dstPort: 2 }, { type: 'payload', data: bytes(1, 2, 3) }]);
    const d = dec(icmpv6Error(small, { type: 3, code: 0, src: '2001:db8::fe' }));
    expect(findLayer(d, 'icmpv6')).toMatchObject({ icmpType: 3, code: 0, rest: 0 });
    expect(Array.from(findLayer(d, 'payload')!.data)).toEqual(Array.from(small.subarray(14)));
    expect(findLayer(d, 'ipv6')?.payloadLength).toBe(8 + 40 + 8 + 3);
    expect(findLayer(dec(icmpv6Error(small, { type: 1, code: 4, src: '2001:db8::fe' })), 'icmpv6')).toMatchObject({ icmpType: 1, code: 4 });
    expect(findLayer(dec(icmpv6Error(small, { type: 4, code: 1, src: '2001:db8::fe', pointer: 40 })), 'icmpv6')).toMatchObject({ icmpType: 4, code: 1, rest: 40 });
    // Queries (echo) are answered with errors.
    expect(icmpv6Error(build([ETH, IP6, { type: 'icmpv6', icmpType: 128 }]), { type: 3, code: 0, src: '2001:db8::fe' })).not.toBeNull();
  });

  it('multicast destinations: only packet too big and parameter problem code 2 are answered', () => {
    const mcast = build([{ ...ETH, dst: '33:33:00:00:00:fb' }, { ...IP6, dst: 'ff02::fb' }, { type: 'udp', srcPort: 5353, dstPort: 5353 }, { type: 'payload', data: new Uint8Array(1300) }]);
    expect(icmpv6Error(mcast, { type: 1, code: 0, src: '2001:db8::fe', mac: MY_MAC })).toBeNull();
    expect(icmpv6Error(mcast, { type: 3, code: 0, src: '2001:db8::fe', mac: MY_MAC })).toBeNull();
    expect(icmpv6Error(mcast, { type: 4, code: 1, src: '2001:db8::fe', mac: MY_MAC })).toBeNull();
    // To a group MAC the reply needs its own source MAC.
    expect(icmpv6Error(mcast, { type: 2, code: 0, src: '2001:db8::fe', mtu: 1280 })).toBeNull();
    const ptb = dec(icmpv6Error(mcast, { type: 2, code: 0, src: '2001:db8::fe', mtu: 1280, mac: MY_MAC }));
    expect(findLayer(ptb, 'ethernet')).toMatchObject({ src: MY_MAC, dst: HOST_MAC });
    expect(findLayer(ptb, 'icmpv6')).toMatchObject({ icmpType: 2, rest: 1280 });
    expect(icmpv6Error(mcast, { type: 4, code: 2, src: '2001:db8::fe', pointer: 42, mac: MY_MAC })).not.toBeNull();
    // Multicast IPv6 destination in a unicast frame.
    const m2 = build([ETH, { ...IP6, dst: 'ff05::2' }, { type: 'udp', srcPort: 1, dstPort: 2 }]);
    expect(icmpv6Error(m2, { type: 3, code: 0, src: '2001:db8::fe' })).toBeNull();
    expect(icmpv6Error(m2, { type: 2, code: 0, src: '2001:db8::fe', mtu: 1280 })).not.toBeNull();
  });

  it('null: about ICMPv6 errors and redirects (after extension headers too), from :: or multicast, IPv4', () => {
    const o = { type: 2, code: 0, src: '2001:db8::fe', mtu: 1280 };
    for (const t of [1, 2, 3, 4, 127, 137]) {
      expect(icmpv6Error(build([ETH, IP6, { type: 'ipv6-hop-by-hop' }, { type: 'icmpv6', icmpType: t }, { type: 'payload', data: new Uint8Array(48) }]), o), `type ${t}`).toBeNull();
    }
    expect(icmpv6Error(build([ETH, { ...IP6, src: '::' }, { type: 'udp', srcPort: 1, dstPort: 2 }]), o)).toBeNull();
    expect(icmpv6Error(build([ETH, { ...IP6, src: 'ff02::1' }, { type: 'udp', srcPort: 1, dstPort: 2 }]), o)).toBeNull();
    expect(icmpv6Error(build([ETH, IP4, { type: 'udp', srcPort: 1, dstPort: 2 }]), o)).toBeNull();
    expect(icmpv6Error(build([ETH, { ...IP6, payloadLength: 100 }, { type: 'udp', srcPort: 1, dstPort: 2 }]), o)).toBeNull(); // truncated
  });

  it('bad options are VNF_INVALID_ARGUMENT; a bad src is VNF_PACKET_FORMAT', () => {
    expectVnfError(() => icmpv6Error(big, { type: 2, code: 0, src: '2001:db8::fe' }), 'VNF_INVALID_ARGUMENT');
    expectVnfError(() => icmpv6Error(big, { type: 128, code: 0, src: '2001:db8::fe' }), 'VNF_INVALID_ARGUMENT');
    expectVnfError(() => icmpv6Error(big, { type: 3, code: 0, src: '10.0.0.1' }), 'VNF_PACKET_FORMAT');
  });

  it('property: the reply is at most 1280 bytes and quotes the packet from its start', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 3000 }), (n) => {
        const off = build([ETH, IP6, { type: 'udp', srcPort: 1, dstPort: 2 }, { type: 'payload', data: new Uint8Array(n).fill(3) }]);
        const d = dec(icmpv6Error(off, { type: 1, code: 3, src: '2001:db8::fe' }));
        const quoted = findLayer(d, 'payload')!.data;
        expect(40 + findLayer(d, 'ipv6')!.payloadLength).toBeLessThanOrEqual(1280);
        expect(quoted.length).toBe(Math.min(off.length - 14, 1232));
        expect(Array.from(quoted)).toEqual(Array.from(off.subarray(14, 14 + quoted.length)));
      }),
      { numRuns: 100 },
    );
  });
});

describe('tcpRst', () => {
  const seg = (flags: number, seq: number, ack: number, len = 0, ip: LayerSpec = IP4, extra: LayerSpec[] = []) =>
    build([ETH, ...QINQ, ip, ...extra, { type: 'tcp', srcPort: 40000, dstPort: 80, flags, seq, ack }, ...(len > 0 ? [{ type: 'payload' as const, data: new Uint8Array(len).fill(1) }] : [])]);
  const rst = (frame: Uint8Array) => {
    const d = dec(tcpRst(frame));
    expect(findLayer(d, 'ethernet')).toMatchObject({ src: MY_MAC, dst: HOST_MAC });
    expectTags(d);
    const t = findLayer(d, 'tcp')!;
    expect(t).toMatchObject({ srcPort: 80, dstPort: 40000, window: 0, dataOffset: 5 });
    expect(findLayer(d, 'payload')).toBeUndefined();
    return { d, t };
  };

  it('SYN without ACK: RST|ACK, seq 0, ack = SEG.SEQ + 1', () => {
    const { d, t } = rst(seg(0x02, 1000, 0));
    expect(t).toMatchObject({ flags: 0x14, seq: 0, ack: 1001 });
    expect(findLayer(d, 'ipv4')).toMatchObject({ src: '198.51.100.7', dst: '192.0.2.1', ttl: 64, protocol: 6 });
  });

  it('data and FIN without ACK count in SEG.LEN; the sum wraps at 2^32', () => {
    expect(rst(seg(0x08, 500, 0, 10)).t).toMatchObject({ flags: 0x14, seq: 0, ack: 510 });
    expect(rst(seg(0x01, 500, 0)).t).toMatchObject({ flags: 0x14, seq: 0, ack: 501 });
    expect(rst(seg(0x03, 500, 0, 5)).t).toMatchObject({ flags: 0x14, seq: 0, ack: 507 });
    expect(rst(seg(0x02, 0xffffffff, 0)).t).toMatchObject({ flags: 0x14, seq: 0, ack: 0 });
    expect(rst(seg(0x00, 0xfffffff0, 0, 20)).t).toMatchObject({ ack: 4 });
  });

  it('with ACK: RST with seq = SEG.ACK (SYN|ACK, data, FIN|ACK)', () => {
    expect(rst(seg(0x12, 7, 0xdeadbeef)).t).toMatchObject({ flags: 0x04, seq: 0xdeadbeef, ack: 0 });
    expect(rst(seg(0x18, 7, 12345, 100)).t).toMatchObject({ flags: 0x04, seq: 12345, ack: 0 });
    expect(rst(seg(0x11, 7, 99)).t).toMatchObject({ flags: 0x04, seq: 99, ack: 0 });
  });

  it('IPv6, past extension headers', () => {
    const { d, t } = rst(seg(0x02, 41, 0, 0, IP6, [{ type: 'ipv6-hop-by-hop' }, { type: 'ipv6-destination' }]));
    expect(t).toMatchObject({ flags: 0x14, seq: 0, ack: 42 });
    expect(d.layers.map((l) => l.type)).toEqual(['ethernet', 'vlan', 'vlan', 'ipv6', 'tcp']);
    expect(findLayer(d, 'ipv6')).toMatchObject({ src: '2001:db8:1::7', dst: '2001:db8::1', hopLimit: 64, nextHeader: 6 });
  });

  it('null: a RST, not TCP, fragments, bad checksums, group or broadcast destinations', () => {
    expect(tcpRst(seg(0x04, 1, 0))).toBeNull();
    expect(tcpRst(seg(0x14, 1, 2))).toBeNull();
    expect(tcpRst(build([ETH, IP4, { type: 'udp', srcPort: 1, dstPort: 2 }]))).toBeNull();
    expect(tcpRst(build([ETH, { type: 'arp', senderIp: '1.1.1.1', targetIp: '1.1.1.2' }]))).toBeNull();
    expect(tcpRst(build([ETH, { ...IP4, moreFragments: true }, { type: 'tcp', srcPort: 1, dstPort: 2 }]))).toBeNull();
    expect(tcpRst(build([ETH, IP6, { type: 'ipv6-fragment' }, { type: 'tcp', srcPort: 1, dstPort: 2 }]))).toBeNull();
    expect(tcpRst(build([ETH, IP4, { type: 'tcp', srcPort: 1, dstPort: 2, checksum: 7 }]))).toBeNull();
    expect(tcpRst(build([ETH, { ...IP4, checksum: 7 }, { type: 'tcp', srcPort: 1, dstPort: 2 }]))).toBeNull();
    expect(tcpRst(build([ETH, { ...IP4, dst: '239.1.1.1' }, { type: 'tcp', srcPort: 1, dstPort: 2 }]))).toBeNull();
    expect(tcpRst(build([ETH, { ...IP6, dst: 'ff0e::1' }, { type: 'tcp', srcPort: 1, dstPort: 2 }]))).toBeNull();
    expect(tcpRst(build([{ ...ETH, dst: 'ff:ff:ff:ff:ff:ff' }, IP4, { type: 'tcp', srcPort: 1, dstPort: 2 }]))).toBeNull();
    expect(tcpRst(seg(0x02, 1, 0).subarray(0, 40))).toBeNull(); // truncated
    expect(tcpRst(seg(0x18, 1, 0, 100).subarray(0, 100))).toBeNull(); // total length lies
  });

  it('property: RFC 9293 arithmetic for any flags, numbers and data length', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 0x1ff }), fc.integer({ min: 0, max: 0xffffffff }), fc.integer({ min: 0, max: 0xffffffff }), fc.integer({ min: 0, max: 300 }), (flags, seq, ack, len) => {
        const reply = tcpRst(seg(flags, seq, ack, len));
        if (flags & 0x04) {
          expect(reply).toBeNull();
          return;
        }
        const t = findLayer(dec(reply), 'tcp')!;
        if (flags & 0x10) expect(t).toMatchObject({ flags: 0x04, seq: ack, ack: 0 });
        else expect(t).toMatchObject({ flags: 0x14, seq: 0, ack: (seq + len + (flags & 2 ? 1 : 0) + (flags & 1 ? 1 : 0)) % 2 ** 32 });
      }),
      { numRuns: 200 },
    );
  });
});

describe('replies behind IPv6 AH', () => {
  it('never answers an ICMPv6 error, even when AH protects it (RFC 4443 2.4(e.1))', () => {
    const frame = build([
      { type: 'ethernet', src: '02:00:00:00:00:01', dst: '02:00:00:00:00:02' },
      { type: 'ipv6', src: '2001:db8::1', dst: '2001:db8::2' },
      { type: 'ipv6-ah', data: new Uint8Array(14) },
      { type: 'icmpv6', icmpType: 1, code: 4 },
    ]);
    expect(findLayer(decode(frame), 'ipv6-ah')).toBeDefined();
    expect(icmpv6Error(frame, { type: 1, code: 4, src: '2001:db8::ff' })).toBeNull();
  });
});
