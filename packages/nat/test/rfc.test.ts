// NAT behaviour as RFC 4787 (UDP), RFC 5382 (TCP) and RFC 5508 (ICMP) require it, as
// packet-in / packet-out cases through the stage: each case builds frames, sends them in on
// the inside or outside port, and checks where they went and every field the RFC fixes
// (addresses, ports, identifiers, the quoted packet, every checksum, decoded independently).
import { decode } from '@vnf-sdk/protocols';
import { afterEach, describe, expect, it } from 'vitest';
import { ACK, echo, expectChecksumsValid, frame, IN, layer, OUT, quoted, Rig, SYN, SYN_ACK, tcp, udp } from './helpers.js';

const POOL = ['198.51.100.1-198.51.100.4'];
const A = '10.0.0.2';
const B = '10.0.0.3';
const R1 = '203.0.113.1';
const R2 = '203.0.113.2';

let rig: Rig;
afterEach(() => rig?.close());

/** The outside endpoint a packet left with. */
function outsideOf(r: ReturnType<Rig['one']>): { addr: string; port: number } {
  const ip = layer(r.decoded, 'ipv4');
  const l4 = r.decoded.layers.find((l) => l.type === 'udp' || l.type === 'tcp');
  return { addr: ip.src, port: l4 && 'srcPort' in l4 ? l4.srcPort : -1 };
}

describe('RFC 4787 (UDP)', () => {
  it('REQ-1: endpoint-independent mapping: one inside endpoint, one outside endpoint, whatever the destination', () => {
    rig = new Rig({ pool: POOL });
    const a = rig.one(IN, udp(A, 5000, R1, 53));
    const b = rig.one(IN, udp(A, 5000, R2, 53));
    const c = rig.one(IN, udp(A, 5000, R1, 123));
    expect(a.to).toBe('next');
    expectChecksumsValid(a.decoded);
    expect(outsideOf(b)).toEqual(outsideOf(a));
    expect(outsideOf(c)).toEqual(outsideOf(a));
    expect(POOL[0].startsWith(outsideOf(a).addr.split('.').slice(0, 3).join('.'))).toBe(true);
    expect(layer(a.decoded, 'ipv4').dst).toBe(R1);
    expect(new TextDecoder().decode(a.bytes.slice(-5))).toBe('hello');
  });

  it('REQ-2: paired address pooling: every mapping of an inside address uses the same outside address', () => {
    rig = new Rig({ pool: POOL });
    const addrs = new Set<string>();
    for (let p = 0; p < 40; p++) addrs.add(outsideOf(rig.one(IN, udp(A, 6000 + p, `203.0.113.${p + 1}`, 53))).addr);
    expect(addrs.size).toBe(1);
    // Other hosts spread over the pool.
    const hosts = new Set<string>();
    for (let h = 10; h < 40; h++) hosts.add(outsideOf(rig.one(IN, udp(`10.0.1.${h}`, 7000, R1, 53))).addr);
    expect(hosts.size).toBeGreaterThan(1);
  });

  it('REQ-3: ports come from the configured range; the inside port is kept when free', () => {
    rig = new Rig({ pool: ['198.51.100.1'], ports: '20000-20099' });
    const kept = outsideOf(rig.one(IN, udp(A, 20050, R1, 53)));
    expect(kept.port).toBe(20050);
    const clash = outsideOf(rig.one(IN, udp(B, 20050, R1, 53)));
    expect(clash.port).not.toBe(20050);
    expect(clash.port).toBeGreaterThanOrEqual(20000);
    expect(clash.port).toBeLessThanOrEqual(20099);
    const low = outsideOf(rig.one(IN, udp(A, 53, R1, 53)));
    expect(low.port).toBeGreaterThanOrEqual(20000);
  });

  it('REQ-8 endpoint-independent filtering: any remote reaches a live mapping', () => {
    rig = new Rig({ pool: ['198.51.100.1'], filtering: 'endpoint-independent' });
    const ext = outsideOf(rig.one(IN, udp(A, 5000, R1, 53)));
    const back = rig.one(OUT, udp(R2, 9999, ext.addr, ext.port));
    expect(back.to).toBe('next');
    expect(layer(back.decoded, 'ipv4').dst).toBe(A);
    expect(layer(back.decoded, 'udp').dstPort).toBe(5000);
    expect(layer(back.decoded, 'ipv4').src).toBe(R2);
    expectChecksumsValid(back.decoded);
  });

  it('REQ-8 address-dependent filtering: only addresses the inside endpoint sent to (any of their ports)', () => {
    rig = new Rig({ pool: ['198.51.100.1'], filtering: 'address-dependent' });
    const ext = outsideOf(rig.one(IN, udp(A, 5000, R1, 53)));
    expect(rig.one(OUT, udp(R2, 53, ext.addr, ext.port)).to).toBe('drop:filtered');
    const otherPort = rig.one(OUT, udp(R1, 7777, ext.addr, ext.port));
    expect(otherPort.to).toBe('next');
    expect(layer(otherPort.decoded, 'ipv4').dst).toBe(A);
    // Once A has sent to R2, R2 gets in too (a second remote of the same mapping).
    rig.one(IN, udp(A, 5000, R2, 53));
    expect(rig.one(OUT, udp(R2, 1234, ext.addr, ext.port)).to).toBe('next');
    expect(rig.nat.stats().actions.filtered).toBe(1);
  });

  it('unsolicited packets to the pool are dropped; to the appliance itself they are local', () => {
    rig = new Rig({ pool: ['198.51.100.1'], local: ['198.51.100.1', '10.0.0.1'] });
    expect(rig.one(OUT, udp(R1, 53, '198.51.100.1', 40000)).to).toBe('local');
    expect(rig.one(OUT, udp(R1, 53, '198.51.100.9', 40000)).to).toBe('drop:no-mapping');
    expect(rig.one(IN, echo(A, '10.0.0.1', 7)).to).toBe('local');
  });

  it('REQ-9: hairpinning: inside to another inside host through its outside endpoint, source translated', () => {
    rig = new Rig({ pool: ['198.51.100.1'], filtering: 'endpoint-independent' });
    const extB = outsideOf(rig.one(IN, udp(B, 6000, R1, 53)));
    const extA = outsideOf(rig.one(IN, udp(A, 5000, R1, 53)));
    const hp = rig.one(IN, udp(A, 5000, extB.addr, extB.port));
    expect(hp.to).toBe('next');
    const ip = layer(hp.decoded, 'ipv4');
    expect([ip.src, layer(hp.decoded, 'udp').srcPort]).toEqual([extA.addr, extA.port]);
    expect([ip.dst, layer(hp.decoded, 'udp').dstPort]).toEqual([B, 6000]);
    expectChecksumsValid(hp.decoded);
    // B's answer goes back to A, from B's outside endpoint.
    const answer = rig.one(IN, udp(B, 6000, extA.addr, extA.port));
    expect(answer.to).toBe('next');
    expect(layer(answer.decoded, 'ipv4').src).toBe(extB.addr);
    expect(layer(answer.decoded, 'udp').srcPort).toBe(extB.port);
    expect(layer(answer.decoded, 'ipv4').dst).toBe(A);
    expect(layer(answer.decoded, 'udp').dstPort).toBe(5000);
    expect(rig.nat.stats().actions.hairpin).toBe(2);
  });

  it('a UDP checksum of 0 (none) stays 0', () => {
    rig = new Rig({ pool: ['198.51.100.1'] });
    const f = frame({ type: 'ipv4', src: A, dst: R1 }, { type: 'udp', srcPort: 5000, dstPort: 53, checksum: 0 }, { type: 'payload', data: new Uint8Array(4) });
    const r = rig.one(IN, f);
    expect(layer(r.decoded, 'udp').checksum).toBe(0);
    expect(layer(r.decoded, 'ipv4').checksumValid).toBe(true);
  });

  it('REQ-14: fragments in order and out of order follow the first fragment', () => {
    rig = new Rig({ pool: ['198.51.100.1'] });
    // One UDP datagram of 8 + 24 bytes in two fragments: bytes 0-15 (UDP header + 8) and 16-31.
    const body = new Uint8Array(24).map((_, i) => i);
    const whole = frame({ type: 'ipv4', src: A, dst: R1, id: 77 }, { type: 'udp', srcPort: 5000, dstPort: 53 }, { type: 'payload', data: body });
    const ipAt = 14;
    const l4 = whole.slice(ipAt + 20);
    const frag = (off: number, len: number, more: boolean, id: number) =>
      frame({ type: 'ipv4', src: A, dst: R1, id, protocol: 17, moreFragments: more, fragmentOffset: off }, { type: 'payload', data: l4.slice(off, off + len) });
    // In order.
    const first = rig.one(IN, frag(0, 16, true, 77));
    const later = rig.one(IN, frag(16, 16, false, 77));
    expect(first.to).toBe('next');
    expect(later.to).toBe('next');
    const ext = layer(first.decoded, 'ipv4').src;
    expect(layer(later.decoded, 'ipv4').src).toBe(ext);
    expect(layer(later.decoded, 'ipv4').checksumValid).toBe(true);
    // Reassembled, the UDP checksum the first fragment carries is right for the whole datagram.
    const re = frame({ type: 'ipv4', src: ext, dst: R1, id: 77, protocol: 17 }, { type: 'payload', data: new Uint8Array([...first.bytes.slice(ipAt + 20), ...later.bytes.slice(ipAt + 20)]) });
    expectChecksumsValid(decode(re));
    // Out of order: the later fragment first is held, then comes back with the first.
    const early = rig.one(IN, frag(16, 16, false, 78));
    expect(early.to).toBe('drop:fragment-held');
    const out = rig.send(IN, [frag(0, 16, true, 78)]);
    expect(out.map((o) => o.to)).toEqual(['next', 'next']);
    expect(layer(out[1].decoded, 'ipv4').src).toBe(ext);
    expect(layer(out[1].decoded, 'ipv4').fragmentOffset).toBe(16);
    expect(layer(out[1].decoded, 'ipv4').checksumValid).toBe(true);
  });
});

describe('RFC 5382 (TCP)', () => {
  it('REQ-1 and REQ-2: endpoint-independent mapping and hairpinning for TCP; the handshake completes', () => {
    rig = new Rig({ pool: ['198.51.100.1'], filtering: 'endpoint-independent' });
    const syn = rig.one(IN, tcp(A, 40000, R1, 80, SYN));
    const ext = outsideOf(syn);
    expectChecksumsValid(syn.decoded);
    const synAck = rig.one(OUT, tcp(R1, 80, ext.addr, ext.port, SYN_ACK));
    expect(synAck.to).toBe('next');
    expect([layer(synAck.decoded, 'ipv4').dst, layer(synAck.decoded, 'tcp').dstPort]).toEqual([A, 40000]);
    expectChecksumsValid(synAck.decoded);
    expect(rig.one(IN, tcp(A, 40000, R1, 80, ACK)).to).toBe('next');
    expect(outsideOf(rig.one(IN, tcp(A, 40000, R2, 443, SYN)))).toEqual(ext);
    // Hairpin: B connects to A's outside endpoint.
    const hp = rig.one(IN, tcp(B, 41000, ext.addr, ext.port, SYN));
    expect([layer(hp.decoded, 'ipv4').dst, layer(hp.decoded, 'tcp').dstPort]).toEqual([A, 40000]);
    expect(layer(hp.decoded, 'ipv4').src).toBe('198.51.100.1');
  });

  it('REQ-4: an unsolicited inbound SYN is dropped silently (no RST)', () => {
    rig = new Rig({ pool: ['198.51.100.1'] });
    expect(rig.one(OUT, tcp(R1, 1234, '198.51.100.1', 22, SYN)).to).toBe('drop:no-mapping');
  });

  it('port forwarding (static DNAT) both ways, and the forwarded endpoint keeps its mapping outbound', () => {
    rig = new Rig({ pool: ['198.51.100.1'], forwards: [{ proto: 'tcp', external: '198.51.100.1:8080', internal: '10.0.0.5:80' }] });
    const syn = rig.one(OUT, tcp(R1, 5555, '198.51.100.1', 8080, SYN));
    expect(syn.to).toBe('next');
    expect([layer(syn.decoded, 'ipv4').dst, layer(syn.decoded, 'tcp').dstPort]).toEqual(['10.0.0.5', 80]);
    expectChecksumsValid(syn.decoded);
    const synAck = rig.one(IN, tcp('10.0.0.5', 80, R1, 5555, SYN_ACK));
    expect(outsideOf(synAck)).toEqual({ addr: '198.51.100.1', port: 8080 });
    // The forwarded port is never handed out to a dynamic mapping.
    expect(outsideOf(rig.one(IN, tcp(A, 8080, R1, 80, SYN))).port).not.toBe(8080);
  });

  it('static 1:1 NAT: every port, both ways', () => {
    rig = new Rig({ pool: ['198.51.100.1'], static: [{ internal: '10.0.0.9', external: '198.51.100.9' }] });
    expect(outsideOf(rig.one(IN, udp('10.0.0.9', 4444, R1, 53)))).toEqual({ addr: '198.51.100.9', port: 4444 });
    const inbound = rig.one(OUT, tcp(R2, 999, '198.51.100.9', 22, SYN));
    expect([layer(inbound.decoded, 'ipv4').dst, layer(inbound.decoded, 'tcp').dstPort]).toEqual(['10.0.0.9', 22]);
  });

  it('a packet of a session that arrives on the wrong side is dropped', () => {
    rig = new Rig({ pool: ['198.51.100.1'] });
    rig.one(IN, tcp(A, 40000, R1, 80, SYN));
    expect(rig.one(OUT, tcp(A, 40000, R1, 80, ACK)).to).toBe('drop:wrong-side');
  });
});

describe('RFC 5508 (ICMP)', () => {
  it('REQ-1: ICMP query identifiers are mapped, and the reply gets the original back', () => {
    rig = new Rig({ pool: ['198.51.100.1'] });
    const req = rig.one(IN, echo(A, R1, 0x1234));
    expect(req.to).toBe('next');
    expectChecksumsValid(req.decoded);
    const ext = layer(req.decoded, 'ipv4').src;
    const id = layer(req.decoded, 'icmp').rest >>> 16;
    // Another host with the same identifier gets a different outside one.
    const other = rig.one(IN, echo(B, R1, 0x1234));
    expect(layer(other.decoded, 'icmp').rest >>> 16).not.toBe(id);
    const rep = rig.one(OUT, echo(R1, ext, id, true));
    expect(rep.to).toBe('next');
    expect(layer(rep.decoded, 'ipv4').dst).toBe(A);
    expect(layer(rep.decoded, 'icmp').rest >>> 16).toBe(0x1234);
    expectChecksumsValid(rep.decoded);
  });

  it('REQ-3: an ICMP error from outside is translated, with the packet it quotes', () => {
    rig = new Rig({ pool: ['198.51.100.1'] });
    const sent = rig.one(IN, udp(A, 5000, R1, 53, 'query'));
    const ext = outsideOf(sent);
    // R1 answers port unreachable, quoting what it received (the translated packet).
    const original = sent.bytes.slice(14);
    const err = frame({ type: 'ipv4', src: R1, dst: ext.addr }, { type: 'icmp', icmpType: 3, code: 3, rest: 0 }, { type: 'payload', data: original });
    const r = rig.one(OUT, err);
    expect(r.to).toBe('next');
    expectChecksumsValid(r.decoded);
    const outer = layer(r.decoded, 'ipv4');
    expect([outer.src, outer.dst]).toEqual([R1, A]);
    // The whole packet is quoted here, so its UDP checksum is checked too.
    const q = quoted(r.bytes);
    expectChecksumsValid(q);
    const inner = layer(q, 'ipv4');
    expect([inner.src, inner.dst]).toEqual([A, R1]);
    expect(layer(q, 'udp').srcPort).toBe(5000);
    expect(layer(q, 'udp').dstPort).toBe(53);
    // An intermediate router's time exceeded: its own address stays, the quote is restored.
    const ttl = frame({ type: 'ipv4', src: '192.0.2.254', dst: ext.addr }, { type: 'icmp', icmpType: 11, code: 0, rest: 0 }, { type: 'payload', data: original.slice(0, 28) });
    const t = rig.one(OUT, ttl);
    expect(t.to).toBe('next');
    expect(layer(t.decoded, 'ipv4').src).toBe('192.0.2.254');
    const tq = quoted(t.bytes);
    expect(layer(tq, 'ipv4').src).toBe(A);
    expect(layer(tq, 'ipv4').checksumValid).toBe(true);
    expect(layer(tq, 'udp').srcPort).toBe(5000);
    expect(layer(t.decoded, 'icmp').checksumValid).toBe(true);
  });

  it('REQ-4: an ICMP error from inside about an inbound session is translated outward', () => {
    rig = new Rig({ pool: ['198.51.100.1'], forwards: [{ proto: 'udp', external: '198.51.100.1:5353', internal: '10.0.0.5:53' }] });
    const inbound = rig.one(OUT, udp(R1, 4000, '198.51.100.1', 5353));
    expect(layer(inbound.decoded, 'ipv4').dst).toBe('10.0.0.5');
    const err = frame({ type: 'ipv4', src: '10.0.0.5', dst: R1 }, { type: 'icmp', icmpType: 3, code: 3, rest: 0 }, { type: 'payload', data: inbound.bytes.slice(14) });
    const r = rig.one(IN, err);
    expect(r.to).toBe('next');
    expectChecksumsValid(r.decoded);
    expect(layer(r.decoded, 'ipv4').src).toBe('198.51.100.1');
    const q = quoted(r.bytes);
    expectChecksumsValid(q);
    const inner = layer(q, 'ipv4');
    expect([inner.src, inner.dst]).toEqual([R1, '198.51.100.1']);
    expect(layer(q, 'udp').dstPort).toBe(5353);
  });

  it('an ICMP error quoting nothing we translated is dropped (no-session)', () => {
    rig = new Rig({ pool: ['198.51.100.1'] });
    const stray = udp('198.51.100.1', 40001, R1, 53).slice(14);
    const err = frame({ type: 'ipv4', src: R1, dst: '198.51.100.1' }, { type: 'icmp', icmpType: 3, code: 3, rest: 0 }, { type: 'payload', data: stray });
    expect(rig.one(OUT, err).to).toBe('drop:no-session');
  });
});

describe('pools, blocks and bad input', () => {
  it('pool exhaustion: new flows dropped and counted, existing flows unaffected', () => {
    rig = new Rig({ pool: ['198.51.100.1'], ports: '30000-30003' });
    const exts = [0, 1, 2, 3].map((i) => outsideOf(rig.one(IN, udp(A, 1000 + i, R1, 53))));
    expect(new Set(exts.map((e) => e.port)).size).toBe(4);
    expect(rig.one(IN, udp(A, 2000, R1, 53)).to).toBe('drop:pool-exhausted');
    expect(rig.one(IN, udp(B, 2000, R1, 53)).to).toBe('drop:pool-exhausted');
    expect(outsideOf(rig.one(IN, udp(A, 1002, R2, 53)))).toEqual(exts[2]);
    expect(rig.nat.stats().actions['pool-exhausted']).toBe(2);
  });

  it('port block allocation: ports from the host block, a log of blocks, exhaustion per host', () => {
    rig = new Rig({ pool: ['198.51.100.1'], ports: '1024-2047', portBlock: { size: 64, maxPerHost: 1 } });
    const first = outsideOf(rig.one(IN, udp(A, 5000, R1, 53)));
    const log = rig.nat.drainLog();
    expect(log).toHaveLength(1);
    expect(log[0]).toMatchObject({ type: 'block-allocated', inside: A, outside: '198.51.100.1' });
    const [lo, hi] = log[0].ports as [number, number];
    expect(hi - lo + 1).toBe(64);
    expect(first.port).toBeGreaterThanOrEqual(lo);
    expect(first.port).toBeLessThanOrEqual(hi);
    for (let i = 1; i < 64; i++) {
      const p = outsideOf(rig.one(IN, udp(A, 5000 + i, R1, 53))).port;
      expect(p >= lo && p <= hi).toBe(true);
    }
    expect(rig.one(IN, udp(A, 6000, R1, 53)).to).toBe('drop:pool-exhausted');
    // Another host gets its own block.
    rig.one(IN, udp(B, 5000, R1, 53));
    const next = rig.nat.drainLog();
    expect(next.map((e) => e.type)).toEqual(['block-allocated']);
    expect(next[0].inside).toBe(B);
    expect(rig.nat.stats().blocks).toBe(2);
  });

  it('malformed and non-IPv4 packets: dropped with a reason, or passed on', () => {
    rig = new Rig({ pool: ['198.51.100.1'] });
    const bad = udp(A, 5000, R1, 53);
    const cut = bad.slice(0, 14 + 20 + 4); // the UDP header cut short
    new DataView(cut.buffer).setUint16(16, 20 + 4); // total length that says so
    const res = rig.send(IN, [cut, frame({ type: 'ipv6', src: 'fd00::1', dst: 'fd00::2' }, { type: 'udp', srcPort: 1, dstPort: 2 })]);
    expect(res[0].to).toMatch(/^drop:malformed/);
    expect(res[1].to).toBe('other');
  });
});
