import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  checksum,
  decHopLimit,
  decTtl,
  fold,
  ipv4HeaderOk,
  l4Ok,
  onesSum,
  pseudoV4,
  pseudoV6,
  setIcmpId,
  setIpv4Dst,
  setIpv4Src,
  setL4DstPort,
  setL4SrcPort,
  updateChecksum16,
  updateChecksum32,
} from '../src/checksum.js';

// ---------------------------------------------------------------------------------------
// Slow, obviously correct reference: byte at a time, modulo arithmetic, no bit tricks.
// ---------------------------------------------------------------------------------------

/** Plain integer sum of the big-endian 16-bit words of b[start..end), odd byte padded. */
function refSum(b: ArrayLike<number>, start = 0, end = b.length): number {
  let s = 0;
  for (let i = start; i < end; i++) s += (i - start) % 2 === 0 ? b[i]! * 256 : b[i]!;
  return s;
}

function refFold(n: number): number {
  while (n > 0xffff) n = (n % 65536) + Math.floor(n / 65536);
  return n;
}

/** The Internet checksum of a byte array (checksum field zeroed by the caller). */
function refChecksum(b: ArrayLike<number>): number {
  return 0xffff - refFold(refSum(b));
}

function be16(v: number): number[] {
  return [Math.floor(v / 256) % 256, v % 256];
}

function be32(v: number): number[] {
  return [Math.floor(v / 16777216) % 256, Math.floor(v / 65536) % 256, Math.floor(v / 256) % 256, v % 256];
}

function put16(a: number[], o: number, v: number): void {
  a[o] = Math.floor(v / 256);
  a[o + 1] = v % 256;
}

// ---------------------------------------------------------------------------------------
// Packet builders: every checksum computed from scratch with the reference.
// ---------------------------------------------------------------------------------------

interface Pkt {
  bytes: Uint8Array;
  l3: number;
  l4: number;
  end: number;
  proto: number;
  isV6: boolean;
}

interface V4 {
  pre: Uint8Array;
  tos: number;
  id: number;
  frag: number;
  ttl: number;
  src: number;
  dst: number;
  opts: Uint8Array;
  post: Uint8Array;
}

interface V6 {
  pre: Uint8Array;
  tc: number;
  flow: number;
  hop: number;
  src: Uint8Array;
  dst: Uint8Array;
  post: Uint8Array;
}

interface Tcp {
  sport: number;
  dport: number;
  seq: number;
  ack: number;
  flags: number;
  win: number;
  urg: number;
  opts: Uint8Array;
  payload: Uint8Array;
}

interface Udp {
  sport: number;
  dport: number;
  payload: Uint8Array;
  /** Send with checksum 0 ("none"; only meaningful over IPv4). */
  noCsum: boolean;
}

interface Icmp {
  type: number;
  id: number;
  seq: number;
  payload: Uint8Array;
}

type L4 = { kind: 'tcp'; h: Tcp } | { kind: 'udp'; h: Udp } | { kind: 'icmp'; h: Icmp } | { kind: 'icmp6'; h: Icmp };

const PROTO = { tcp: 6, udp: 17, icmp: 1, icmp6: 58 } as const;

/** L4 bytes with a zero checksum field, and the checksum field offset. */
function l4Bytes(l4: L4): { b: number[]; csumAt: number } {
  switch (l4.kind) {
    case 'tcp': {
      const t = l4.h;
      const off = 5 + t.opts.length / 4;
      const b = [
        ...be16(t.sport),
        ...be16(t.dport),
        ...be32(t.seq),
        ...be32(t.ack),
        off << 4,
        t.flags,
        ...be16(t.win),
        0,
        0,
        ...be16(t.urg),
        ...t.opts,
        ...t.payload,
      ];
      return { b, csumAt: 16 };
    }
    case 'udp': {
      const u = l4.h;
      return { b: [...be16(u.sport), ...be16(u.dport), ...be16(8 + u.payload.length), 0, 0, ...u.payload], csumAt: 6 };
    }
    default: {
      const i = l4.h;
      return { b: [i.type, 0, 0, 0, ...be16(i.id), ...be16(i.seq), ...i.payload], csumAt: 2 };
    }
  }
}

function fillL4Checksum(l4: L4, b: number[], csumAt: number, pseudo: number[]): void {
  if (l4.kind === 'udp' && l4.h.noCsum) return;
  let c = refChecksum([...pseudo, ...b]);
  // RFC 768: a computed 0 is transmitted as all ones.
  if (l4.kind === 'udp' && c === 0) c = 0xffff;
  put16(b, csumAt, c);
}

function place(pre: Uint8Array, pkt: number[], post: Uint8Array, l3Rel: number, l4Rel: number, proto: number, isV6: boolean): Pkt {
  const bytes = new Uint8Array(pre.length + pkt.length + post.length);
  bytes.set(pre, 0);
  bytes.set(pkt, pre.length);
  bytes.set(post, pre.length + pkt.length);
  return { bytes, l3: pre.length + l3Rel, l4: pre.length + l4Rel, end: pre.length + pkt.length, proto, isV6 };
}

function buildV4(ip: V4, l4: L4): Pkt {
  const proto = PROTO[l4.kind];
  const { b, csumAt } = l4Bytes(l4);
  const ihl = 5 + ip.opts.length / 4;
  const h = [
    0x40 | ihl,
    ip.tos,
    ...be16(ihl * 4 + b.length),
    ...be16(ip.id),
    ...be16(ip.frag),
    ip.ttl,
    proto,
    0,
    0,
    ...be32(ip.src),
    ...be32(ip.dst),
    ...ip.opts,
  ];
  put16(h, 10, refChecksum(h));
  const pseudo = l4.kind === 'icmp' ? [] : [...be32(ip.src), ...be32(ip.dst), 0, proto, ...be16(b.length)];
  fillL4Checksum(l4, b, csumAt, pseudo);
  return place(ip.pre, [...h, ...b], ip.post, 0, h.length, proto, false);
}

function buildV6(ip: V6, l4: L4): Pkt {
  const proto = PROTO[l4.kind];
  const { b, csumAt } = l4Bytes(l4);
  const h = [
    0x60 | (ip.tc >> 4),
    ((ip.tc & 15) << 4) | (ip.flow >> 16),
    (ip.flow >> 8) & 255,
    ip.flow & 255,
    ...be16(b.length),
    proto,
    ip.hop,
    ...ip.src,
    ...ip.dst,
  ];
  fillL4Checksum(l4, b, csumAt, [...ip.src, ...ip.dst, ...be32(b.length), 0, 0, 0, proto]);
  return place(ip.pre, [...h, ...b], ip.post, 0, 40, proto, true);
}

// ---------------------------------------------------------------------------------------
// Arbitraries
// ---------------------------------------------------------------------------------------

const u8 = fc.integer({ min: 0, max: 0xff });
const u16 = fc.integer({ min: 0, max: 0xffff });
const u32 = fc.integer({ min: 0, max: 0xffffffff });
const words = (max: number) => fc.integer({ min: 0, max }).chain((n) => fc.uint8Array({ minLength: 4 * n, maxLength: 4 * n }));
const payload = fc.uint8Array({ maxLength: 120 });
// Random bytes around the packet, so offsets are absolute and often odd.
const pad = fc.uint8Array({ maxLength: 11 });

const v4Arb: fc.Arbitrary<V4> = fc.record({
  pre: pad,
  tos: u8,
  id: u16,
  frag: fc.constantFrom(0, 0x4000),
  ttl: u8,
  src: u32,
  dst: u32,
  opts: words(4),
  post: pad,
});

const v6Arb: fc.Arbitrary<V6> = fc.record({
  pre: pad,
  tc: u8,
  flow: fc.integer({ min: 0, max: 0xfffff }),
  hop: u8,
  src: fc.uint8Array({ minLength: 16, maxLength: 16 }),
  dst: fc.uint8Array({ minLength: 16, maxLength: 16 }),
  post: pad,
});

const tcpArb: fc.Arbitrary<Tcp> = fc.record({
  sport: u16,
  dport: u16,
  seq: u32,
  ack: u32,
  flags: u8,
  win: u16,
  urg: u16,
  opts: words(10),
  payload,
});

const udpArb: fc.Arbitrary<Udp> = fc.record({ sport: u16, dport: u16, payload, noCsum: fc.boolean() });
const udpCsumArb: fc.Arbitrary<Udp> = fc.record({ sport: u16, dport: u16, payload, noCsum: fc.constant(false) });
const icmpArb: fc.Arbitrary<Icmp> = fc.record({ type: fc.constantFrom(0, 8), id: u16, seq: u16, payload });
const icmp6Arb: fc.Arbitrary<Icmp> = fc.record({ type: fc.constantFrom(128, 129), id: u16, seq: u16, payload });

const rewriteArb = fc.record({
  src: fc.option(u32),
  dst: fc.option(u32),
  sport: fc.option(u16),
  dport: fc.option(u16),
  id: fc.option(u16),
  ttl: fc.boolean(),
});

const RUNS = { numRuns: 1000 };

function expectSame(actual: Pkt, expected: Pkt): void {
  expect(actual.end).toBe(expected.end);
  expect(actual.bytes).toEqual(expected.bytes);
}

// ---------------------------------------------------------------------------------------
// Known vectors
// ---------------------------------------------------------------------------------------

describe('known vectors', () => {
  it('RFC 1071 section 3 example sums to 0xddf2', () => {
    const v = [0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7];
    const b = Uint8Array.from(v);
    expect(onesSum(b, 0, 8)).toBe(0x2ddf0);
    expect(fold(onesSum(b, 0, 8))).toBe(0xddf2);
    expect(checksum(b, 0, 8)).toBe(0x220d);
    // Same bytes at an odd absolute offset inside a bigger "pool".
    const pool = new Uint8Array(64).fill(0xa5);
    pool.set(v, 13);
    expect(fold(onesSum(pool, 13, 21))).toBe(0xddf2);
    // Byte order independence (RFC 1071 section 2(B)): swapped words give a swapped sum.
    const sw = Uint8Array.from([0x01, 0x00, 0x03, 0xf2, 0xf5, 0xf4, 0xf7, 0xf6]);
    expect(fold(onesSum(sw, 0, 8))).toBe(0xf2dd);
  });

  it('a real IPv4 header (checksum 0xb861)', () => {
    const h = Uint8Array.from([
      0x45, 0x00, 0x00, 0x73, 0x00, 0x00, 0x40, 0x00, 0x40, 0x11, 0xb8, 0x61, 0xc0, 0xa8, 0x00, 0x01, 0xc0, 0xa8, 0x00,
      0xc7,
    ]);
    expect(ipv4HeaderOk(h, 0)).toBe(true);
    const z = h.slice();
    z[10] = 0;
    z[11] = 0;
    expect(checksum(z, 0, 20)).toBe(0xb861);
    expect(refChecksum(z)).toBe(0xb861);
    h[15] ^= 1;
    expect(ipv4HeaderOk(h, 0)).toBe(false);
  });

  it('a hand-built TCP SYN over IPv4', () => {
    // 10.0.0.1:12345 -> 10.0.0.2:80, seq 1, SYN, window 65535; checksums from an
    // independent (Python) computation: IP 0x149a, TCP 0x6b56.
    const ip = [0x45, 0, 0, 40, 0x12, 0x34, 0x40, 0, 64, 6, 0x14, 0x9a, 10, 0, 0, 1, 10, 0, 0, 2];
    const tcp = [0x30, 0x39, 0, 80, 0, 0, 0, 1, 0, 0, 0, 0, 0x50, 0x02, 0xff, 0xff, 0x6b, 0x56, 0, 0];
    const pool = new Uint8Array(100);
    pool.set([...ip, ...tcp], 7);
    const l3 = 7;
    const l4 = 27;
    expect(ipv4HeaderOk(pool, l3)).toBe(true);
    expect(l4Ok(pool, l3, l4, 47, false)).toBe(true);
    const zeroed = [...tcp];
    zeroed[16] = 0;
    zeroed[17] = 0;
    const pseudo = [10, 0, 0, 1, 10, 0, 0, 2, 0, 6, 0, 20];
    expect(refChecksum([...pseudo, ...zeroed])).toBe(0x6b56);
    pool[l4 + 16] = 0;
    pool[l4 + 17] = 0;
    expect(checksum(pool, l4, 47, pseudoV4(pool, l3, 6, 20))).toBe(0x6b56);
    expect(pseudoV4(pool, l3, 6, 20)).toBe(refSum(pseudo));
  });

  it('a hand-built UDP datagram over IPv6', () => {
    // fe80::1 -> fe80::2, 1234 -> 53, payload "hello"; UDP checksum 0xb9f6 (Python).
    const s6 = [0xfe, 0x80, ...new Array<number>(13).fill(0), 1];
    const d6 = [0xfe, 0x80, ...new Array<number>(13).fill(0), 2];
    const hello = [...'hello'].map((c) => c.charCodeAt(0));
    const ip = [0x60, 0, 0, 0, 0, 13, 17, 64, ...s6, ...d6];
    const udp = [0x04, 0xd2, 0, 53, 0, 13, 0xb9, 0xf6, ...hello];
    const pool = new Uint8Array(80);
    pool.set([...ip, ...udp], 3);
    expect(l4Ok(pool, 3, 43, 56, true)).toBe(true);
    const pseudo = [...s6, ...d6, 0, 0, 0, 13, 0, 0, 0, 17];
    expect(pseudoV6(pool, 3, 17, 13)).toBe(refSum(pseudo));
    const zeroed = [...udp];
    zeroed[6] = 0;
    zeroed[7] = 0;
    expect(refChecksum([...pseudo, ...zeroed])).toBe(0xb9f6);
    pool[49] = 0;
    pool[50] = 0;
    expect(checksum(pool, 43, 56, pseudoV6(pool, 3, 17, 13))).toBe(0xb9f6);
  });

  it('RFC 1624 section 4: eqn. 3 gives 0x0000 where RFC 1141 gives -0', () => {
    expect(updateChecksum16(0xdd2f, 0x5555, 0x3285)).toBe(0x0000);
  });
});

// ---------------------------------------------------------------------------------------
// Sums against the reference
// ---------------------------------------------------------------------------------------

describe('onesSum / fold / checksum', () => {
  it('equal the byte-at-a-time reference for random buffers and offsets', () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ maxLength: 600 }),
        fc.nat(),
        fc.nat(),
        fc.integer({ min: 0, max: 2 ** 40 }),
        (b, x, y, initial) => {
          const start = b.length === 0 ? 0 : x % (b.length + 1);
          const end = start + (y % (b.length - start + 1));
          const ref = refSum(b, start, end);
          expect(onesSum(b, start, end)).toBe(ref);
          expect(onesSum(b, start, end, initial)).toBe(initial + ref);
          expect(fold(onesSum(b, start, end, initial))).toBe(refFold(initial + ref));
          expect(checksum(b, start, end)).toBe(0xffff - refFold(ref));
          expect(checksum(b, start, end, initial)).toBe(0xffff - refFold(initial + ref));
        },
      ),
      RUNS,
    );
  });

  it('fold is the end-around-carry reduction for any safe integer (above 2^32 too)', () => {
    fc.assert(
      fc.property(fc.maxSafeNat(), (n) => {
        const want = n === 0 ? 0 : ((n - 1) % 0xffff) + 1;
        expect(fold(n)).toBe(want);
        expect(refFold(n)).toBe(want);
      }),
      RUNS,
    );
    expect(fold(0xffff)).toBe(0xffff);
    expect(fold(0x10000)).toBe(1);
    expect(fold(2 ** 32)).toBe(1);
    expect(fold(2 ** 53 - 1)).toBe(((2 ** 53 - 2) % 0xffff) + 1);
  });

  it('handles sums well above 2^32 (large all-ones buffer)', () => {
    const b = new Uint8Array(200_001).fill(0xff);
    const s = onesSum(b, 0, b.length, 2 ** 34);
    expect(s).toBe(2 ** 34 + refSum(b));
    expect(s).toBeGreaterThan(2 ** 32);
    expect(fold(s)).toBe(refFold(s));
    expect(checksum(b, 1, b.length)).toBe(0xffff - refFold(refSum(b, 1, b.length)));
  });

  it('pseudo-header sums equal the reference', () => {
    fc.assert(
      fc.property(v4Arb, v6Arb, u8, u16, u32, (ip4, ip6, proto, len16, len32) => {
        const p4 = buildV4(ip4, { kind: 'udp', h: { sport: 1, dport: 2, payload: new Uint8Array(0), noCsum: true } });
        expect(pseudoV4(p4.bytes, p4.l3, proto, len16)).toBe(
          refSum([...be32(ip4.src), ...be32(ip4.dst), 0, proto, ...be16(len16)]),
        );
        const p6 = buildV6(ip6, { kind: 'udp', h: { sport: 1, dport: 2, payload: new Uint8Array(0), noCsum: true } });
        expect(pseudoV6(p6.bytes, p6.l3, proto, len32)).toBe(
          refSum([...ip6.src, ...ip6.dst, ...be32(len32), 0, 0, 0, proto]),
        );
      }),
      RUNS,
    );
  });
});

// ---------------------------------------------------------------------------------------
// Incremental updates
// ---------------------------------------------------------------------------------------

describe('updateChecksum16 / updateChecksum32', () => {
  const data = fc.uint8Array({ minLength: 4, maxLength: 80 }).filter((b) => b.length % 2 === 0);

  it('16-bit update equals a full recompute', () => {
    fc.assert(
      fc.property(data, fc.nat(), u16, (b, k, nw) => {
        const i = (k % (b.length / 2)) * 2;
        const before = refChecksum(b);
        const old = b[i]! * 256 + b[i + 1]!;
        const after = Array.from(b);
        put16(after, i, nw);
        fc.pre(after.some((x) => x !== 0)); // all-zero data: the one case +0 and -0 differ
        expect(updateChecksum16(before, old, nw)).toBe(refChecksum(after));
      }),
      RUNS,
    );
  });

  it('32-bit update equals a full recompute (u32 or int32 inputs)', () => {
    fc.assert(
      fc.property(data, fc.nat(), u32, fc.boolean(), (b, k, nv, signed) => {
        const i = (k % (b.length / 2 - 1)) * 2;
        const before = refChecksum(b);
        const old = ((b[i]! * 256 + b[i + 1]!) * 256 + b[i + 2]!) * 256 + b[i + 3]!;
        const after = Array.from(b);
        after.splice(i, 4, ...be32(nv));
        fc.pre(after.some((x) => x !== 0));
        const o = signed ? old | 0 : old;
        const n = signed ? nv | 0 : nv;
        expect(updateChecksum32(before, o, n)).toBe(refChecksum(after));
      }),
      RUNS,
    );
  });
});

describe('in-place rewrites equal a full recompute', () => {
  it('IPv4/TCP: src, dst, ports, TTL', () => {
    fc.assert(
      fc.property(v4Arb, tcpArb, rewriteArb, (ip, tcp, rw) => {
        const p = buildV4(ip, { kind: 'tcp', h: tcp });
        expect(ipv4HeaderOk(p.bytes, p.l3)).toBe(true);
        expect(l4Ok(p.bytes, p.l3, p.l4, p.end, false)).toBe(true);
        let ttl = ip.ttl;
        if (rw.ttl) ttl = decTtl(p.bytes, p.l3);
        if (rw.src !== null) setIpv4Src(p.bytes, p.l3, p.l4, 6, rw.src);
        if (rw.dport !== null) setL4DstPort(p.bytes, p.l4, 6, rw.dport);
        if (rw.dst !== null) setIpv4Dst(p.bytes, p.l3, p.l4, 6, rw.dst);
        if (rw.sport !== null) setL4SrcPort(p.bytes, p.l4, 6, rw.sport);
        expect(ttl).toBe(rw.ttl ? Math.max(0, ip.ttl - 1) : ip.ttl);
        const want = buildV4(
          { ...ip, ttl, src: rw.src ?? ip.src, dst: rw.dst ?? ip.dst },
          { kind: 'tcp', h: { ...tcp, sport: rw.sport ?? tcp.sport, dport: rw.dport ?? tcp.dport } },
        );
        expectSame(p, want);
        expect(ipv4HeaderOk(p.bytes, p.l3)).toBe(true);
        expect(l4Ok(p.bytes, p.l3, p.l4, p.end, false)).toBe(true);
      }),
      RUNS,
    );
  });

  it('IPv4/UDP (checksum present or 0): src, dst, ports, TTL', () => {
    fc.assert(
      fc.property(v4Arb, udpArb, rewriteArb, (ip, udp, rw) => {
        const p = buildV4(ip, { kind: 'udp', h: udp });
        let ttl = ip.ttl;
        if (rw.sport !== null) setL4SrcPort(p.bytes, p.l4, 17, rw.sport);
        if (rw.dst !== null) setIpv4Dst(p.bytes, p.l3, p.l4, 17, rw.dst);
        if (rw.ttl) ttl = decTtl(p.bytes, p.l3);
        if (rw.dport !== null) setL4DstPort(p.bytes, p.l4, 17, rw.dport);
        if (rw.src !== null) setIpv4Src(p.bytes, p.l3, p.l4, 17, rw.src);
        const want = buildV4(
          { ...ip, ttl, src: rw.src ?? ip.src, dst: rw.dst ?? ip.dst },
          { kind: 'udp', h: { ...udp, sport: rw.sport ?? udp.sport, dport: rw.dport ?? udp.dport } },
        );
        expectSame(p, want);
        if (udp.noCsum) expect(p.bytes[p.l4 + 6]! | p.bytes[p.l4 + 7]!).toBe(0);
        expect(ipv4HeaderOk(p.bytes, p.l3)).toBe(true);
        expect(l4Ok(p.bytes, p.l3, p.l4, p.end, false)).toBe(true);
      }),
      RUNS,
    );
  });

  it('IPv6/UDP: ports, hop limit', () => {
    fc.assert(
      fc.property(v6Arb, udpCsumArb, rewriteArb, (ip, udp, rw) => {
        const p = buildV6(ip, { kind: 'udp', h: udp });
        expect(l4Ok(p.bytes, p.l3, p.l4, p.end, true)).toBe(true);
        let hop = ip.hop;
        if (rw.ttl) hop = decHopLimit(p.bytes, p.l3);
        if (rw.sport !== null) setL4SrcPort(p.bytes, p.l4, 17, rw.sport);
        if (rw.dport !== null) setL4DstPort(p.bytes, p.l4, 17, rw.dport);
        expect(hop).toBe(rw.ttl ? Math.max(0, ip.hop - 1) : ip.hop);
        const want = buildV6(
          { ...ip, hop },
          { kind: 'udp', h: { ...udp, sport: rw.sport ?? udp.sport, dport: rw.dport ?? udp.dport } },
        );
        expectSame(p, want);
        expect(l4Ok(p.bytes, p.l3, p.l4, p.end, true)).toBe(true);
      }),
      RUNS,
    );
  });

  it('IPv4/ICMP echo: src, dst, identifier, TTL', () => {
    fc.assert(
      fc.property(v4Arb, icmpArb, rewriteArb, (ip, icmp, rw) => {
        const p = buildV4(ip, { kind: 'icmp', h: icmp });
        expect(l4Ok(p.bytes, p.l3, p.l4, p.end, false)).toBe(true);
        let ttl = ip.ttl;
        if (rw.src !== null) setIpv4Src(p.bytes, p.l3, p.l4, 1, rw.src);
        if (rw.id !== null) setIcmpId(p.bytes, p.l4, rw.id);
        if (rw.dst !== null) setIpv4Dst(p.bytes, p.l3, p.l4, 1, rw.dst);
        if (rw.ttl) ttl = decTtl(p.bytes, p.l3);
        const want = buildV4(
          { ...ip, ttl, src: rw.src ?? ip.src, dst: rw.dst ?? ip.dst },
          { kind: 'icmp', h: { ...icmp, id: rw.id ?? icmp.id } },
        );
        expectSame(p, want);
        expect(ipv4HeaderOk(p.bytes, p.l3)).toBe(true);
        expect(l4Ok(p.bytes, p.l3, p.l4, p.end, false)).toBe(true);
      }),
      RUNS,
    );
  });

  it('IPv6/ICMPv6 echo: identifier', () => {
    fc.assert(
      fc.property(v6Arb, icmp6Arb, u16, (ip, icmp, id) => {
        const p = buildV6(ip, { kind: 'icmp6', h: icmp });
        expect(l4Ok(p.bytes, p.l3, p.l4, p.end, true)).toBe(true);
        setIcmpId(p.bytes, p.l4, id);
        expectSame(p, buildV6(ip, { kind: 'icmp6', h: { ...icmp, id } }));
        expect(l4Ok(p.bytes, p.l3, p.l4, p.end, true)).toBe(true);
      }),
      RUNS,
    );
  });

  it('IPv4 address rewrite with no L4 (l4 = -1) fixes only the header', () => {
    fc.assert(
      fc.property(v4Arb, tcpArb, u32, u32, (ip, tcp, src, dst) => {
        const p = buildV4(ip, { kind: 'tcp', h: tcp });
        const l4Before = p.bytes.slice(p.l4, p.end);
        setIpv4Src(p.bytes, p.l3, -1, 6, src);
        setIpv4Dst(p.bytes, p.l3, -1, 6, dst);
        expect(ipv4HeaderOk(p.bytes, p.l3)).toBe(true);
        expect(p.bytes.slice(p.l4, p.end)).toEqual(l4Before);
        const want = buildV4({ ...ip, src, dst }, { kind: 'tcp', h: tcp });
        expect(p.bytes.slice(0, p.l4)).toEqual(want.bytes.slice(0, want.l4));
      }),
      { numRuns: 300 },
    );
  });

  it('UDP: a result of 0 is written as 0xffff, and 0xffff updates correctly (v4 and v6)', () => {
    fc.assert(
      fc.property(fc.boolean(), v4Arb, v6Arb, udpCsumArb, (v6, ip4, ip6, udp) => {
        const build = (u: Udp) => (v6 ? buildV6(ip6, { kind: 'udp', h: u }) : buildV4(ip4, { kind: 'udp', h: u }));
        // Sum of everything the checksum covers except the source port.
        const p0 = build({ ...udp, sport: 0 });
        const cs0 = p0.bytes[p0.l4 + 6]! * 256 + p0.bytes[p0.l4 + 7]!;
        const t = 0xffff - (cs0 === 0xffff ? 0 : cs0);
        const magic = 0xffff - t; // makes the covered sum -0, the checksum +0
        const p = build(udp);
        setL4SrcPort(p.bytes, p.l4, 17, magic);
        expect(p.bytes[p.l4 + 6]).toBe(0xff);
        expect(p.bytes[p.l4 + 7]).toBe(0xff);
        expectSame(p, build({ ...udp, sport: magic }));
        expect(l4Ok(p.bytes, p.l3, p.l4, p.end, v6)).toBe(true);
        // And back again, starting from the 0xffff field.
        setL4SrcPort(p.bytes, p.l4, 17, udp.sport);
        expectSame(p, build(udp));
      }),
      { numRuns: 500 },
    );
  });

  it('UDP/IPv4: an address rewrite whose result is 0 writes 0xffff, and back', () => {
    fc.assert(
      fc.property(v4Arb, udpCsumArb, (ip, udp) => {
        const hi = ip.src - (ip.src % 65536);
        const p0 = buildV4({ ...ip, src: hi }, { kind: 'udp', h: udp });
        const cs0 = p0.bytes[p0.l4 + 6]! * 256 + p0.bytes[p0.l4 + 7]!;
        // The field is ~fold(sum) (a stored 0xffff stands for a computed 0): adding that
        // as the low address word makes the covered sum -0, so the checksum computes to 0.
        const src = hi + (cs0 === 0xffff ? 0 : cs0);
        const p = buildV4(ip, { kind: 'udp', h: udp });
        setIpv4Src(p.bytes, p.l3, p.l4, 17, src);
        expect(p.bytes[p.l4 + 6]).toBe(0xff);
        expect(p.bytes[p.l4 + 7]).toBe(0xff);
        expectSame(p, buildV4({ ...ip, src }, { kind: 'udp', h: udp }));
        expect(l4Ok(p.bytes, p.l3, p.l4, p.end, false)).toBe(true);
        setIpv4Src(p.bytes, p.l3, p.l4, 17, ip.src);
        expectSame(p, buildV4(ip, { kind: 'udp', h: udp }));
      }),
      { numRuns: 500 },
    );
  });

  it('IPv4 header checksum of 0x0000 is reached and kept (no UDP-style substitution)', () => {
    fc.assert(
      fc.property(v4Arb, (ip) => {
        const l4: L4 = { kind: 'icmp', h: { type: 8, id: 1, seq: 1, payload: new Uint8Array(0) } };
        const base = { ...ip, src: ip.src - (ip.src % 65536) };
        const h0 = buildV4(base, l4);
        const c0 = h0.bytes[h0.l3 + 10]! * 256 + h0.bytes[h0.l3 + 11]!;
        // c0 = 0xffff - fold(sum): adding c0 as the low address word makes the sum -0.
        const src = base.src + c0;
        const p = buildV4(ip, l4);
        setIpv4Src(p.bytes, p.l3, p.l4, 1, src);
        expect(p.bytes[p.l3 + 10]! | p.bytes[p.l3 + 11]!).toBe(0);
        expect(ipv4HeaderOk(p.bytes, p.l3)).toBe(true);
        expectSame(p, buildV4({ ...ip, src }, l4));
        setIpv4Src(p.bytes, p.l3, p.l4, 1, ip.src);
        expectSame(p, buildV4(ip, l4));
      }),
      { numRuns: 300 },
    );
  });

  it('decTtl / decHopLimit at the edges', () => {
    const ip: V4 = {
      pre: new Uint8Array(1),
      tos: 0,
      id: 7,
      frag: 0,
      ttl: 1,
      src: 0x0a000001,
      dst: 0x0a000002,
      opts: new Uint8Array(0),
      post: new Uint8Array(0),
    };
    const l4: L4 = { kind: 'icmp', h: { type: 8, id: 1, seq: 1, payload: new Uint8Array(0) } };
    const p = buildV4(ip, l4);
    expect(decTtl(p.bytes, p.l3)).toBe(0);
    expectSame(p, buildV4({ ...ip, ttl: 0 }, l4));
    expect(decTtl(p.bytes, p.l3)).toBe(0);
    expectSame(p, buildV4({ ...ip, ttl: 0 }, l4));
    const q = buildV4({ ...ip, ttl: 255 }, l4);
    expect(decTtl(q.bytes, q.l3)).toBe(254);
    expect(ipv4HeaderOk(q.bytes, q.l3)).toBe(true);

    const ip6: V6 = {
      pre: new Uint8Array(0),
      tc: 0,
      flow: 0,
      hop: 1,
      src: new Uint8Array(16),
      dst: new Uint8Array(16).fill(1),
      post: new Uint8Array(0),
    };
    const r = buildV6(ip6, { kind: 'udp', h: { sport: 1, dport: 2, payload: new Uint8Array(3), noCsum: false } });
    expect(decHopLimit(r.bytes, r.l3)).toBe(0);
    expect(r.bytes[r.l3 + 7]).toBe(0);
    expect(decHopLimit(r.bytes, r.l3)).toBe(0);
    expect(r.bytes[r.l3 + 7]).toBe(0);
    expect(l4Ok(r.bytes, r.l3, r.l4, r.end, true)).toBe(true);
  });
});

// ---------------------------------------------------------------------------------------
// Verify helpers
// ---------------------------------------------------------------------------------------

describe('verify helpers', () => {
  const anyV4L4: fc.Arbitrary<L4> = fc.oneof(
    tcpArb.map((h): L4 => ({ kind: 'tcp', h })),
    udpArb.map((h): L4 => ({ kind: 'udp', h })),
    icmpArb.map((h): L4 => ({ kind: 'icmp', h })),
  );
  const anyV6L4: fc.Arbitrary<L4> = fc.oneof(
    tcpArb.map((h): L4 => ({ kind: 'tcp', h })),
    udpCsumArb.map((h): L4 => ({ kind: 'udp', h })),
    icmp6Arb.map((h): L4 => ({ kind: 'icmp6', h })),
  );

  it('ipv4HeaderOk accepts good headers and rejects any single flipped bit', () => {
    fc.assert(
      fc.property(v4Arb, anyV4L4, fc.nat(), fc.integer({ min: 0, max: 7 }), (ip, l4, k, bit) => {
        const p = buildV4(ip, l4);
        expect(ipv4HeaderOk(p.bytes, p.l3)).toBe(true);
        // Skip byte 0: flipping IHL bits changes what is summed, not just a summed value.
        const hlen = (p.bytes[p.l3]! & 15) * 4;
        const at = p.l3 + 1 + (k % (hlen - 1));
        p.bytes[at] ^= 1 << bit;
        expect(ipv4HeaderOk(p.bytes, p.l3)).toBe(false);
      }),
      RUNS,
    );
  });

  function flipRejected(p: Pkt, l4: L4, k: number, bit: number): void {
    const cand: number[] = [];
    if (l4.kind !== 'icmp') {
      const a = p.isV6 ? p.l3 + 8 : p.l3 + 12;
      for (let i = a; i < a + (p.isV6 ? 32 : 8); i++) cand.push(i);
    }
    for (let i = p.l4; i < p.end; i++) {
      // The UDP length says how much is summed; flips there are tested separately.
      if (l4.kind === 'udp' && (i === p.l4 + 4 || i === p.l4 + 5)) continue;
      cand.push(i);
    }
    const at = cand[k % cand.length]!;
    p.bytes[at] ^= 1 << bit;
    const ck = p.bytes[p.l4 + 6]! * 256 + p.bytes[p.l4 + 7]!;
    // Flipping the only set bit of a UDP/IPv4 checksum turns it into "no checksum".
    const becameNone = l4.kind === 'udp' && !p.isV6 && ck === 0;
    expect(l4Ok(p.bytes, p.l3, p.l4, p.end, p.isV6)).toBe(becameNone);
  }

  it('l4Ok accepts good IPv4 TCP/UDP/ICMP packets and rejects any single flipped bit', () => {
    fc.assert(
      fc.property(v4Arb, anyV4L4, fc.nat(), fc.integer({ min: 0, max: 7 }), (ip, l4, k, bit) => {
        const p = buildV4(ip, l4);
        expect(l4Ok(p.bytes, p.l3, p.l4, p.end, false)).toBe(true);
        expect(l4Ok(p.bytes, p.l3, p.l4, p.end, false, PROTO[l4.kind])).toBe(true);
        if (l4.kind === 'udp' && l4.h.noCsum) return; // nothing to detect with
        flipRejected(p, l4, k, bit);
      }),
      RUNS,
    );
  });

  it('l4Ok accepts good IPv6 TCP/UDP/ICMPv6 packets and rejects any single flipped bit', () => {
    fc.assert(
      fc.property(v6Arb, anyV6L4, fc.nat(), fc.integer({ min: 0, max: 7 }), (ip, l4, k, bit) => {
        const p = buildV6(ip, l4);
        expect(l4Ok(p.bytes, p.l3, p.l4, p.end, true)).toBe(true);
        flipRejected(p, l4, k, bit);
      }),
      RUNS,
    );
  });

  it('l4Ok edge cases: UDP checksum 0, lengths, protocols', () => {
    const udp: Udp = { sport: 53, dport: 5353, payload: Uint8Array.from([1, 2, 3]), noCsum: true };
    const ip4: V4 = {
      pre: new Uint8Array(0),
      tos: 0,
      id: 0,
      frag: 0,
      ttl: 64,
      src: 0xc0a80001,
      dst: 0xc0a80002,
      opts: new Uint8Array(0),
      post: new Uint8Array(4),
    };
    const ip6: V6 = {
      pre: new Uint8Array(0),
      tc: 0,
      flow: 0,
      hop: 64,
      src: new Uint8Array(16).fill(0x20),
      dst: new Uint8Array(16).fill(0x30),
      post: new Uint8Array(4),
    };
    // 0 = "no checksum" over IPv4, invalid over IPv6.
    const a = buildV4(ip4, { kind: 'udp', h: udp });
    expect(l4Ok(a.bytes, a.l3, a.l4, a.end, false)).toBe(true);
    const b = buildV6(ip6, { kind: 'udp', h: udp });
    expect(l4Ok(b.bytes, b.l3, b.l4, b.end, true)).toBe(false);
    // A UDP length beyond the IP payload, or below 8, is rejected.
    const c = buildV4(ip4, { kind: 'udp', h: { ...udp, noCsum: false } });
    expect(l4Ok(c.bytes, c.l3, c.l4, c.end, false)).toBe(true);
    c.bytes[c.l4 + 5] += 1;
    expect(l4Ok(c.bytes, c.l3, c.l4, c.end, false)).toBe(false);
    c.bytes[c.l4 + 5] = 7;
    expect(l4Ok(c.bytes, c.l3, c.l4, c.end, false)).toBe(false);
    // Too short for the header.
    const d = buildV4(ip4, { kind: 'tcp', h: { sport: 1, dport: 2, seq: 3, ack: 4, flags: 2, win: 5, urg: 0, opts: new Uint8Array(0), payload: new Uint8Array(0) } });
    expect(l4Ok(d.bytes, d.l3, d.l4, d.end, false)).toBe(true);
    expect(l4Ok(d.bytes, d.l3, d.l4, d.end - 1, false)).toBe(false);
    // Unsupported protocols (e.g. SCTP), and ICMPv6 over IPv4 / ICMP over IPv6.
    expect(l4Ok(d.bytes, d.l3, d.l4, d.end, false, 132)).toBe(false);
    expect(l4Ok(d.bytes, d.l3, d.l4, d.end, false, 58)).toBe(false);
    expect(l4Ok(b.bytes, b.l3, b.l4, b.end, true, 1)).toBe(false);
    // IHL below 5.
    const e = buildV4(ip4, { kind: 'icmp', h: { type: 8, id: 1, seq: 1, payload: new Uint8Array(0) } });
    e.bytes[e.l3] = 0x44;
    expect(ipv4HeaderOk(e.bytes, e.l3)).toBe(false);
  });
});
