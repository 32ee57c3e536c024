import { arpReply, build, decode, findLayer, icmpEchoReply, icmpError, type Ipv4Layer } from '@vnf-sdk/protocols';
import { describe, expect, it } from 'vitest';
import { ipv4ToNumber } from '../src/lpm.js';
import { burstOf, contents, fromA, GW_MAC, HOST_A_MAC, HOST_C_MAC, P0_MAC, P1_MAC, run, setup, udp } from './helpers.js';

const ip = (s: string) => ipv4ToNumber(s)!;
const arp = (operation: number, senderMac: string, senderIp: string, targetIp: string, targetMac = '00:00:00:00:00:00', dst = 'ff:ff:ff:ff:ff:ff') =>
  build([
    { type: 'ethernet', src: senderMac, dst },
    { type: 'arp', operation, senderMac, senderIp, targetMac, targetIp },
  ]);
const echo = (dst: string, extra: { options?: Uint8Array; badChecksum?: boolean } = {}) =>
  fromA(
    { type: 'ipv4', src: '10.0.1.10', dst, ttl: 5, options: extra.options ?? new Uint8Array(0), dscp: 10, ecn: 1 },
    { type: 'icmp', icmpType: 8, code: 0, rest: 0x12340001, ...(extra.badChecksum ? { checksum: 1 } : {}) },
    { type: 'payload', data: new Uint8Array(32).map((_, i) => i) },
  );
const ipOf = (f: Uint8Array) => findLayer(decode(f), 'ipv4') as Ipv4Layer;

describe('input stage', () => {
  it('sends ARP to arp and IPv4 to ip4; drops the rest by reason', () => {
    const s = setup();
    const good = fromA(...udp('10.0.1.10', '10.9.1.5'));
    const frames = [
      arp(1, HOST_A_MAC, '10.0.1.10', '10.0.1.1'),
      good,
      build([{ type: 'ethernet', src: HOST_A_MAC, dst: P0_MAC }, { type: 'ipv6', src: '2001:db8::1', dst: '2001:db8::2' }, { type: 'udp', srcPort: 1, dstPort: 2 }]),
      good.subarray(0, 30), // cut inside the IPv4 header
      good.subarray(0, 10), // not even Ethernet
      build([{ type: 'ethernet', src: HOST_A_MAC, dst: P0_MAC }, { type: 'vlan', id: 5 }, ...udp('10.0.1.10', '10.9.1.5')]),
    ];
    const burst = burstOf(s.pool, frames);
    s.input.process(burst);
    expect(contents(s.pool, s.ctx, burst).map((c) => c.step)).toEqual([
      'stage:arp',
      'stage:ip4',
      'drop:not-ipv4',
      'drop:malformed:truncated-ipv4',
      'drop:malformed:truncated-l2',
      'drop:vlan-tagged',
    ]);
    s.pool.put(burst);
    const stray = burstOf(s.pool, [good], 7); // port id 7 is not the router's
    s.input.process(stray);
    expect(contents(s.pool, s.ctx, stray)[0]!.step).toBe('drop:unknown-port');
    s.pool.put(stray);
  });
});

describe('arp stage', () => {
  it("answers requests for the port's address in place, as arpReply does, and learns the requester", () => {
    const s = setup();
    const req = arp(1, HOST_A_MAC, '10.0.1.10', '10.0.1.1');
    const r = run(s, [burstOf(s.pool, [req])]);
    expect(r.drops).toEqual({});
    expect(r.out.p0).toHaveLength(1);
    expect([...r.out.p0![0]!]).toEqual([...arpReply(req, P0_MAC)!]);
    expect(findLayer(decode(r.out.p0![0]!), 'arp')).toMatchObject({ operation: 2, senderIp: '10.0.1.1', senderMac: P0_MAC, targetIp: '10.0.1.10', targetMac: HOST_A_MAC });
    expect(s.router.neighbours[0]!.entries()).toMatchObject([{ address: ip('10.0.1.10'), mac: HOST_A_MAC, state: 'reachable' }]);
    expect(s.arp.counters.replies).toBe(1);
  });

  it('drops what is not for it, by reason', () => {
    const s = setup();
    const bad = arp(1, HOST_A_MAC, '10.0.1.10', '10.0.1.1');
    bad[15] = 6; // hardware type 6
    const r = run(s, [
      burstOf(s.pool, [
        arp(1, HOST_A_MAC, '10.0.1.10', '10.0.1.99'), // another host's address
        arp(1, HOST_A_MAC, '10.0.1.10', '10.0.2.1'), // p1's address asked on p0: no proxy ARP
        arp(2, '02:00:00:00:01:14', '10.0.1.20', '10.0.1.1', P0_MAC, P0_MAC), // a reply to us: learned
        arp(3, HOST_A_MAC, '10.0.1.10', '10.0.1.1'),
        arp(1, '02:00:00:00:01:0b', '10.0.1.1', '10.0.1.1'), // someone else claims our address
        arp(1, 'ff:ff:ff:ff:ff:ff', '10.0.1.12', '10.0.1.1'),
        bad,
      ]),
    ]);
    expect(r.out).toEqual({});
    expect(r.drops).toEqual({ 'arp-not-for-us': 2, 'arp-reply-consumed': 1, 'arp-unsupported': 2, 'arp-bad-sender': 2 });
    expect(s.router.neighbours[0]!.entries().map((e) => e.address)).toEqual([ip('10.0.1.20')]);
    expect(s.arp.counters.conflicts).toBe(1);
  });
});

describe('ip4 stage', () => {
  it('forwards: TTL - 1 with a valid checksum, MACs of the output port and the gateway', () => {
    const s = setup();
    const f = fromA(...udp('10.0.1.10', '10.9.1.5', 64));
    const t = fromA({ type: 'ipv4', src: '10.0.1.10', dst: '10.9.3.7', ttl: 2 }, { type: 'tcp', srcPort: 40000, dstPort: 443 });
    const r = run(s, [burstOf(s.pool, [f, t])]);
    expect(r.drops).toEqual({});
    expect(r.out.p1).toHaveLength(2);
    const [out, outTcp] = r.out.p1!;
    const d = decode(out!);
    expect(d.error).toBeUndefined();
    expect(findLayer(d, 'ethernet')).toMatchObject({ src: P1_MAC, dst: GW_MAC });
    expect(findLayer(d, 'ipv4')).toMatchObject({ ttl: 63, checksumValid: true, src: '10.0.1.10', dst: '10.9.1.5' });
    expect(findLayer(d, 'udp')).toMatchObject({ checksumValid: true });
    // Only the MACs, the TTL and the header checksum changed.
    const diff = [...f].flatMap((x, i) => (x === out![i] ? [] : [i]));
    expect(diff.every((i) => i < 12 || i === 14 + 8 || i === 14 + 10 || i === 14 + 11)).toBe(true);
    expect(ipOf(outTcp!)).toMatchObject({ ttl: 1, checksumValid: true });
    expect(findLayer(decode(outTcp!), 'tcp')).toMatchObject({ checksumValid: true, dstPort: 443 });
    expect(s.ip4.counters.forwarded).toBe(2);
  });

  it('answers echo requests to its addresses in place, as icmpEchoReply does (IP options too)', () => {
    const s = setup();
    const reqs = [echo('10.0.1.1'), echo('10.0.2.1'), echo('10.0.1.1', { options: Uint8Array.of(1, 1, 1, 0) })];
    const small = fromA({ type: 'ipv4', src: '10.0.1.10', dst: '10.0.1.1' }, { type: 'icmp', icmpType: 8, rest: 7 });
    const r = run(s, [burstOf(s.pool, [...reqs, small])]);
    expect(r.drops).toEqual({});
    expect(r.out.p0).toHaveLength(4);
    [...reqs, small].forEach((q, k) => {
      const want = icmpEchoReply(q)!;
      expect([...r.out.p0![k]!], `reply ${k}`).toEqual([...want]);
      const d = decode(r.out.p0![k]!);
      expect(findLayer(d, 'icmp')).toMatchObject({ icmpType: 0, checksumValid: true });
      expect(findLayer(d, 'ipv4')).toMatchObject({ checksumValid: true, ttl: 64, dst: '10.0.1.10' });
    });
    expect(s.ip4.counters.echoReplies).toBe(4);
  });

  it('drops Ethernet padding from an echo reply', () => {
    const s = setup();
    const q = fromA({ type: 'ipv4', src: '10.0.1.10', dst: '10.0.1.1' }, { type: 'icmp', icmpType: 8, rest: 7 });
    const padded = new Uint8Array(60);
    padded.set(q);
    const r = run(s, [burstOf(s.pool, [padded])]);
    expect([...r.out.p0![0]!]).toEqual([...icmpEchoReply(q)!]);
  });

  it('TTL <= 1: drops as ttl-exceeded and sends time exceeded from the input port, quoting the packet', () => {
    const s = setup();
    const f = fromA(...udp('10.0.1.10', '10.9.1.5', 1));
    const zero = fromA(...udp('10.0.1.10', '10.0.2.3', 0));
    const r = run(s, [burstOf(s.pool, [f, zero])]);
    expect(r.drops).toEqual({ 'ttl-exceeded': 2 });
    expect(r.out.p0).toHaveLength(2);
    const err = r.out.p0![0]!;
    expect([...err]).toEqual([...icmpError(f, { type: 11, code: 0, src: '10.0.1.1', mac: P0_MAC })!]);
    const d = decode(err);
    expect(findLayer(d, 'ethernet')).toMatchObject({ src: P0_MAC, dst: HOST_A_MAC });
    expect(findLayer(d, 'ipv4')).toMatchObject({ src: '10.0.1.1', dst: '10.0.1.10', checksumValid: true });
    expect(findLayer(d, 'icmp')).toMatchObject({ icmpType: 11, code: 0, checksumValid: true });
    // The quote is the offending IP packet, unchanged (TTL 1).
    expect([...err.subarray(14 + 20 + 8)]).toEqual([...f.subarray(14)]);
    expect(s.ip4.counters.icmpErrors).toBe(2);
  });

  it('no route: drops as no-route and sends net unreachable (3/0)', () => {
    const s = setup();
    const f = fromA(...udp('10.0.1.10', '192.168.7.7'));
    const r = run(s, [burstOf(s.pool, [f])]);
    expect(r.drops).toEqual({ 'no-route': 1 });
    const d = decode(r.out.p0![0]!);
    expect(findLayer(d, 'icmp')).toMatchObject({ icmpType: 3, code: 0, checksumValid: true });
    expect(findLayer(d, 'ipv4')).toMatchObject({ src: '10.0.1.1', dst: '10.0.1.10' });
    expect([...r.out.p0![0]!.subarray(42)]).toEqual([...f.subarray(14)]);
  });

  it('over the MTU: drops as too-big, with fragmentation needed (3/4, the MTU) only when DF is set', () => {
    const s = setup();
    const df = fromA(...udp('10.0.1.10', '10.9.1.5', 64, { size: 1400, df: true }));
    const noDf = fromA(...udp('10.0.1.10', '10.9.1.5', 64, { size: 1400, df: false }));
    const fits = fromA(...udp('10.0.1.10', '10.9.1.5', 64, { size: 1400 - 28, df: true }));
    const r = run(s, [burstOf(s.pool, [df, noDf, fits])]);
    expect(r.drops).toEqual({ 'too-big': 2 });
    expect(r.out.p1).toHaveLength(1);
    expect(r.out.p0).toHaveLength(1);
    expect(findLayer(decode(r.out.p0![0]!), 'icmp')).toMatchObject({ icmpType: 3, code: 4, rest: 1400, checksumValid: true });
  });

  it('holds packets for an unresolved neighbour, asks for it, and sends them when it answers', () => {
    const s = setup();
    const pkts = [1, 2, 3, 4, 5].map((n) => fromA(...udp('10.0.1.10', '10.0.2.3', 64 - n)));
    const r = run(s, [burstOf(s.pool, pkts)]);
    expect(r.drops).toEqual({ 'arp-held': 4, 'arp-queue-full': 1 });
    expect(r.out.p1).toHaveLength(1); // one ARP request
    expect(findLayer(decode(r.out.p1![0]!), 'arp')).toMatchObject({ operation: 1, senderMac: P1_MAC, senderIp: '10.0.2.1', targetIp: '10.0.2.3' });
    // The answer comes in on p1 (port id 1): the four held packets go out behind it.
    const answer = arp(2, HOST_C_MAC, '10.0.2.3', '10.0.2.1', P1_MAC, P1_MAC);
    const r2 = run(s, [burstOf(s.pool, [answer], 1)]);
    expect(r2.drops).toEqual({ 'arp-reply-consumed': 1 });
    expect(r2.out.p1).toHaveLength(4);
    r2.out.p1!.forEach((f, k) => {
      const d = decode(f);
      expect(findLayer(d, 'ethernet')).toMatchObject({ src: P1_MAC, dst: HOST_C_MAC });
      expect(findLayer(d, 'ipv4')).toMatchObject({ ttl: 63 - (k + 1), checksumValid: true });
      expect(f.length).toBe(pkts[k]!.length);
    });
    // Now resolved: forwarded straight away.
    const r3 = run(s, [burstOf(s.pool, [fromA(...udp('10.0.1.10', '10.0.2.3'))])]);
    expect(r3.drops).toEqual({});
    expect(findLayer(decode(r3.out.p1![0]!), 'ethernet')).toMatchObject({ dst: HOST_C_MAC });
    expect(s.router.neighbours[1]!.counters).toMatchObject({ held: 4, released: 4, requests: 1 });
  });

  it('rate-limits ICMP errors with a token bucket and counts the suppressed ones', () => {
    const s = setup(); // 10/s, burst 5
    const f = fromA(...udp('10.0.1.10', '10.9.1.5', 1));
    const r = run(s, [burstOf(s.pool, Array.from({ length: 8 }, () => f))]);
    expect(r.drops).toEqual({ 'ttl-exceeded': 8 });
    expect(r.out.p0).toHaveLength(5);
    expect(s.ip4.counters.icmpRateLimited).toBe(3);
    s.clock.t += 100; // one token
    const r2 = run(s, [burstOf(s.pool, [f, f])]);
    expect(r2.out.p0).toHaveLength(1);
    expect(s.ip4.counters.icmpRateLimited).toBe(4);
  });

  it('drops the rest by reason; no ICMP error about an ICMP error', () => {
    const s = setup();
    const badSum = fromA(...udp('10.0.1.10', '10.9.1.5'));
    badSum[14 + 10] ^= 0xff;
    const errorAboutError = fromA(
      { type: 'ipv4', src: '10.0.1.10', dst: '10.9.1.5', ttl: 1 },
      { type: 'icmp', icmpType: 3, code: 1 },
      { type: 'payload', data: new Uint8Array(28) },
    );
    const frames = [
      badSum,
      build([{ type: 'ethernet', src: HOST_A_MAC, dst: 'ff:ff:ff:ff:ff:ff' }, ...udp('10.0.1.10', '10.9.1.5')]),
      build([{ type: 'ethernet', src: HOST_A_MAC, dst: '02:00:00:00:09:09' }, ...udp('10.0.1.10', '10.9.1.5')]),
      fromA(...udp('127.0.0.1', '10.9.1.5')),
      fromA(...udp('10.0.1.10', '224.0.0.5')),
      fromA(...udp('10.0.1.10', '10.0.2.255')), // p1's broadcast
      fromA(...udp('10.0.1.10', '10.0.1.1')), // UDP to the router
      echo('10.0.1.1', { badChecksum: true }),
      errorAboutError,
    ];
    const r = run(s, [burstOf(s.pool, frames)]);
    expect(r.out).toEqual({});
    expect(r.drops).toEqual({
      'bad-checksum': 1,
      'l2-broadcast': 1,
      'l2-not-ours': 1,
      'bad-source': 1,
      'not-unicast': 2,
      'local-not-handled': 1,
      'bad-icmp-checksum': 1,
      'ttl-exceeded': 1,
    });
    expect(s.ip4.counters.icmpNotAllowed).toBe(1);
  });

  it('says which router port is missing from the graph', () => {
    const s = setup();
    const ctx = new (s.ctx.constructor as typeof import('./helpers.js').FakeContext)(s.pool, ['p0']);
    expect(() => s.ip4.init(ctx)).toThrow("stage 'ip4': the router's port 'p1' is not a port of the graph (ports: p0)");
  });
});
