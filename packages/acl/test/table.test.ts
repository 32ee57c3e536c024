import { AclVerdict, ACL_VERDICTS, Burst, Mempool, NativeAclReader } from '@vnf-sdk/core';
import { BurstParser, build, type LayerSpec } from '@vnf-sdk/protocols';
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import { type AclRule, AclStage, AclTable, firstMatch, type PacketKey, parsePrefix, parseRuleFile } from '../src/index.js';

const pool = Mempool.create({ count: 1024, name: 'acl-table-test' });
afterAll(() => pool.close());

// Steps as a pipeline would number them: the verdict's own number plus 100, so a test can
// read the verdict back from meta.next.
const STEPS = Uint16Array.from({ length: ACL_VERDICTS }, (_, i) => 100 + i);

/** A packet to build, and the key the linear reference sees for it. */
interface TestPacket {
  layers: LayerSpec[];
  key: PacketKey;
  /** The reference applies only to IP packets. */
  ip: boolean;
}

function v4(n: number): string {
  return `${n >>> 24}.${(n >>> 16) & 255}.${(n >>> 8) & 255}.${n & 255}`;
}
function v4bytes(n: number): Uint8Array {
  return Uint8Array.of(n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255);
}

/** The test's address n as text: IPv4, or 2001:db8:<high 16 bits>:<low 16 bits>::<low 8 bits>. */
function addrText(version: 4 | 6, n: number): string {
  return version === 4 ? v4(n) : `2001:db8:${(n >>> 16).toString(16)}:${(n & 0xffff).toString(16)}::${(n & 0xff).toString(16)}`;
}

function packet(p: {
  version: 4 | 6;
  src: number;
  dst: number;
  proto: 'tcp' | 'udp' | 'icmp';
  sport: number;
  dport: number;
  flags: number;
  vlan: number | null;
  port: number;
}): TestPacket {
  const layers: LayerSpec[] = [{ type: 'ethernet', src: '02:00:00:00:00:01', dst: '02:00:00:00:00:02' }];
  if (p.vlan !== null) layers.push({ type: 'vlan', id: p.vlan });
  let src: Uint8Array;
  let dst: Uint8Array;
  if (p.version === 4) {
    layers.push({ type: 'ipv4', src: v4(p.src), dst: v4(p.dst) });
    src = v4bytes(p.src);
    dst = v4bytes(p.dst);
  } else {
    // Prefixes on and off the 32-bit word boundaries all matter.
    layers.push({ type: 'ipv6', src: addrText(6, p.src), dst: addrText(6, p.dst) });
    src = parsePrefix(addrText(6, p.src), 't').bytes;
    dst = parsePrefix(addrText(6, p.dst), 't').bytes;
  }
  const key: PacketKey = { src, dst, srcPort: 0, dstPort: 0, protocol: 0, inPort: p.port, vlan: p.vlan ?? undefined, tcpFlags: 0 };
  if (p.proto === 'tcp') {
    layers.push({ type: 'tcp', srcPort: p.sport, dstPort: p.dport, flags: p.flags });
    Object.assign(key, { srcPort: p.sport, dstPort: p.dport, protocol: 6, tcpFlags: p.flags });
  } else if (p.proto === 'udp') {
    layers.push({ type: 'udp', srcPort: p.sport, dstPort: p.dport });
    Object.assign(key, { srcPort: p.sport, dstPort: p.dport, protocol: 17 });
  } else {
    const type = p.version === 4 ? 'icmp' : 'icmpv6';
    layers.push({ type, icmpType: p.sport & 255, code: p.dport & 15 });
    Object.assign(key, { protocol: p.version === 4 ? 1 : 58, srcPort: p.sport & 255, dstPort: p.dport & 15, icmpType: p.sport & 255, icmpCode: p.dport & 15 });
  }
  return { layers, key, ip: true };
}

/** Classifies packets through the whole native path: bytes -> parser -> keys -> classifier. */
function classify(tableId: number, packets: TestPacket[], ports: number[]): { match: number[]; verdict: number[] } {
  const reader = new NativeAclReader(tableId, pool, STEPS);
  const burst = new Burst(packets.length);
  try {
    expect(pool.alloc(burst, packets.length)).toBe(packets.length);
    packets.forEach((p, i) => {
      pool.write(burst.ids[i], build(p.layers));
      pool.meta.port[burst.ids[i]] = ports[i];
    });
    new BurstParser(pool).parse(burst);
    reader.classify(burst);
    const ids = Array.from(burst.ids.subarray(0, burst.count));
    return {
      match: Array.from(reader.match.subarray(0, packets.length), (m) => (m === 0xffffffff ? -1 : m)),
      verdict: ids.map((b) => pool.meta.next[b] - 100),
    };
  } finally {
    pool.put(burst);
    reader.close();
  }
}

const ruleArb = (version: 4 | 6) =>
  fc.record({
    action: fc.constantFrom('permit', 'deny', 'reject', 'mark', 'permit-and-track') as fc.Arbitrary<AclRule['action']>,
    srcLen: fc.option(fc.integer({ min: 0, max: version === 4 ? 32 : 128 }), { nil: undefined }),
    dstLen: fc.option(fc.integer({ min: 0, max: version === 4 ? 32 : 128 }), { nil: undefined }),
    sport: fc.option(fc.tuple(fc.integer({ min: 0, max: 70 }), fc.integer({ min: 0, max: 40 })), { nil: undefined }),
    dport: fc.option(fc.tuple(fc.integer({ min: 0, max: 70 }), fc.integer({ min: 0, max: 40 })), { nil: undefined }),
    proto: fc.option(fc.constantFrom(6, 17), { nil: undefined }),
    flags: fc.option(fc.tuple(fc.integer({ min: 0, max: 63 }), fc.integer({ min: 0, max: 63 })), { nil: undefined }),
    vlan: fc.option(fc.integer({ min: 1, max: 3 }), { nil: undefined }),
    inPort: fc.option(fc.integer({ min: 0, max: 2 }), { nil: undefined }),
    priority: fc.integer({ min: 0, max: 3 }),
  });

describe('AclTable and the native classifier, packet bytes to verdict', () => {
  for (const family of ['IPv4', 'IPv6', 'IPv4 and IPv6 mixed'] as const) {
    it(`agrees with the linear first-match reference on random rules and packets (${family})`, async () => {
      const pick = (rng: () => number): 4 | 6 => (family === 'IPv4' ? 4 : family === 'IPv6' ? 6 : rng() % 2 ? 4 : 6);
      // Addresses from a small space so prefixes hit; ports 0..110 so ranges do.
      const seeds = fc.sample(fc.tuple(fc.array(ruleArb(6), { minLength: 1, maxLength: 60 }), fc.integer()), { numRuns: 25, seed: 7 });
      let hits = 0;
      let total = 0;
      for (const [specs, seed] of seeds) {
        const rng = mulberry(seed);
        const addr = () => (0x0a000000 | ((rng() & 0x3) << 8) | (rng() & 0x3)) >>> 0;
        const made: Array<{ v: 4 | 6; src: number; dst: number }> = [];
        const rules: AclRule[] = specs.map((s, i) => {
          const r: AclRule = { action: s.action, priority: s.priority, origin: `r${i}` };
          const v = pick(rng);
          const at = { v, src: addr(), dst: addr() };
          made.push(at);
          const len = (l: number) => (v === 4 ? l >> 2 : l); // 0..32 or 0..128
          if (s.action === 'mark') r.mark = i + 1;
          if (s.srcLen !== undefined) r.src = parsePrefix(`${addrText(v, at.src)}/${len(s.srcLen)}`, 'src');
          if (s.dstLen !== undefined) r.dst = parsePrefix(`${addrText(v, at.dst)}/${len(s.dstLen)}`, 'dst');
          if (s.sport) r.srcPort = { lo: s.sport[0], hi: s.sport[0] + s.sport[1] };
          if (s.dport) r.dstPort = { lo: s.dport[0], hi: s.dport[0] + s.dport[1] };
          if (s.proto) r.protocol = { value: s.proto, mask: 0xff };
          if (s.flags && s.proto === 6) r.tcpFlags = { value: s.flags[0] & s.flags[1], mask: s.flags[1] };
          if (s.vlan !== undefined) r.vlan = s.vlan;
          if (s.inPort !== undefined) r.inPort = s.inPort;
          return r;
        });
        const table = await AclTable.create(rules, { noMatch: 'deny' });
        const packets: TestPacket[] = [];
        const ports: number[] = [];
        for (let i = 0; i < 300; i++) {
          const proto = (['tcp', 'udp', 'udp', 'tcp', 'icmp'] as const)[rng() % 5];
          const vlan = rng() % 3 === 0 ? null : rng() % 4;
          const p = { version: pick(rng), src: addr(), dst: addr(), proto, sport: rng() % 111, dport: rng() % 111, flags: rng() & 63, vlan, port: rng() % 3 };
          if (i % 2) {
            // Half the packets are aimed at a rule (inside its prefixes, ranges, protocol,
            // VLAN and port); other fields and higher rules decide the rest.
            const k = rng() % rules.length;
            const r = rules[k];
            Object.assign(p, { version: made[k].v, src: made[k].src, dst: made[k].dst });
            if (r.srcPort) p.sport = r.srcPort.lo + (rng() % (r.srcPort.hi - r.srcPort.lo + 1));
            if (r.dstPort) p.dport = r.dstPort.lo + (rng() % (r.dstPort.hi - r.dstPort.lo + 1));
            if (r.protocol) p.proto = r.protocol.value === 6 ? 'tcp' : 'udp';
            if (r.tcpFlags) p.flags = r.tcpFlags.value | (rng() & 63 & ~r.tcpFlags.mask);
            if (r.vlan !== undefined) p.vlan = r.vlan;
            if (r.inPort !== undefined) p.port = r.inPort;
          }
          packets.push(packet(p));
          ports.push(packets[i].key.inPort as number);
        }
        const got = classify(table.id, packets, ports);
        const want = packets.map((p) => firstMatch(rules, p.key));
        const bad = want.map((w, i) => (w === got.match[i] ? null : { i, w, g: got.match[i], key: packets[i].key, rw: rules[w], rg: rules[got.match[i]] })).filter(Boolean);
        if (bad.length) console.log(JSON.stringify(bad.slice(0, 2), (_k, v) => (v instanceof Uint8Array ? Array.from(v).join('.') : v)));
        expect(got.match).toEqual(want);
        hits += want.filter((w) => w >= 0).length;
        total += want.length;
        const verdictOf = (m: number) =>
          m < 0 ? AclVerdict.noMatchDeny : { permit: 0, deny: 1, reject: 2, mark: 3, 'permit-and-track': 4, count: -1 }[rules[m].action];
        expect(got.verdict).toEqual(want.map(verdictOf));
        table.close();
      }
      console.log(`${family}: ${hits} of ${total} packets matched a rule`);
      expect(hits / total).toBeGreaterThan(0.25); // the packets exercise the rules, not only the miss path
    });
  }

  it('writes the mark of mark rules and counts packets and bytes per rule', async () => {
    const rules = parseRuleFile(
      ['mark 7 proto tcp src 10.0.0.0/8', 'count proto udp', 'permit proto udp dport 53', 'deny'].join('\n'),
      'm.rules',
    );
    const table = await AclTable.create(rules);
    const reader = new NativeAclReader(table.id, pool, STEPS);
    const burst = new Burst(4);
    pool.alloc(burst, 3);
    const frames = [
      packet({ version: 4, src: 0x0a000001, dst: 1, proto: 'tcp', sport: 1, dport: 2, flags: 2, vlan: null, port: 0 }),
      packet({ version: 4, src: 0x0b000001, dst: 1, proto: 'udp', sport: 1, dport: 53, flags: 0, vlan: null, port: 0 }),
      packet({ version: 4, src: 0x0b000001, dst: 1, proto: 'udp', sport: 1, dport: 54, flags: 0, vlan: null, port: 0 }),
    ];
    for (const [i, f] of frames.entries()) pool.write(burst.ids[i], build(f.layers));
    new BurstParser(pool).parse(burst);
    reader.classify(burst);
    const [a, b, c] = burst.ids;
    expect(pool.meta.mark[a]).toBe(7);
    expect([pool.meta.next[a], pool.meta.next[b], pool.meta.next[c]]).toEqual([103, 100, 101]);
    const counters = table.counters();
    expect(counters.rules.map((r) => r.packets)).toEqual([1, 2, 1, 1]);
    expect(counters.rules[1]).toMatchObject({ origin: 'm.rules:2', action: 'count' });
    expect(counters.rules[0].bytes).toBe(pool.meta.dataLen[a]);
    pool.put(burst);
    reader.close();
    table.close();
  });

  it('rejects bad rules with VNF_CONFIG naming their origin, and keeps the current set', async () => {
    const table = await AclTable.create(parseRuleFile('permit', 'a.rules'));
    const before = table.stats();
    const bad: AclRule[] = [{ action: 'permit' }, { action: 'permit', srcPort: { lo: 80, hi: 20 }, origin: 'b.rules:2' }];
    await expect(table.load(bad)).rejects.toMatchObject({ code: 'VNF_CONFIG', message: expect.stringContaining('b.rules:2: srcPort: inverted range 80-20') });
    await expect(table.load([{ action: 'deny', icmpType: 3 }])).rejects.toMatchObject({ code: 'VNF_CONFIG', message: expect.stringContaining('rules[0]: an ICMP type/code rule needs') });
    await expect(table.load([], { noMatch: 'drop' as 'deny' })).rejects.toMatchObject({ code: 'VNF_CONFIG' });
    expect(table.stats().generation).toBe(before.generation);
    table.close();
  });

  it('refuses a burst holding an index outside the pool, naming it and its position', async () => {
    const table = await AclTable.create(parseRuleFile('permit', 'a.rules'));
    const reader = new NativeAclReader(table.id, pool, STEPS);
    const burst = new Burst(4);
    burst.ids.set([1, 2, pool.count]);
    burst.count = 3;
    expect(() => reader.classify(burst)).toThrow(
      expect.objectContaining({ code: 'VNF_INDEX_RANGE', message: expect.stringContaining(`buffer index ${pool.count} at burst position 2`) }),
    );
    reader.close();
    table.close();
  });

  it('reports build time and memory of each set', async () => {
    const rules: AclRule[] = [];
    for (let i = 0; i < 2000; i++) rules.push({ action: i % 2 ? 'permit' : 'deny', src: parsePrefix(`10.${i >> 8}.${i & 255}.0/24`, 'x'), dstPort: { lo: i % 1000, hi: (i % 1000) + 10 } });
    const table = await AclTable.create(rules);
    const s = table.stats();
    expect(s).toMatchObject({ generation: 1, rules: 2000 });
    expect(s.memoryBytes).toBeGreaterThan(2000 * 8);
    expect(s.buildSeconds).toBeGreaterThan(0);
    expect(s.buildSeconds).toBeLessThan(30);
    const s2 = await table.load(rules.slice(0, 10));
    expect(s2).toMatchObject({ generation: 2, rules: 10 });
    expect(s2.memoryBytes).toBeLessThan(s.memoryBytes);
    table.close();
  });

  it('drops malformed packets as malformed and lets non-IP ones follow nonIp', async () => {
    const table = await AclTable.create(parseRuleFile('permit', 'a.rules'), { nonIp: 'deny' });
    const reader = new NativeAclReader(table.id, pool, STEPS);
    const burst = new Burst(4);
    pool.alloc(burst, 2);
    pool.write(burst.ids[0], build([{ type: 'ethernet', etherType: 0x0806 }, { type: 'payload', data: new Uint8Array(28) }]));
    pool.write(burst.ids[1], Uint8Array.from([0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x08, 0x00, 0x45, 0]));
    new BurstParser(pool).parse(burst);
    reader.classify(burst);
    expect([pool.meta.next[burst.ids[0]] - 100, pool.meta.next[burst.ids[1]] - 100]).toEqual([AclVerdict.nonIpDeny, AclVerdict.malformed]);
    pool.put(burst);
    reader.close();
    table.close();
  });

  it('AclStage turns verdicts into pipeline steps and answers rejected TCP with a RST', async () => {
    const table = await AclTable.create(parseRuleFile('reject proto tcp dport 23\npermit', 'r.rules'));
    const stage = new AclStage({ table: table.id, permit: 'port:out' });
    const steps = new Map<string, number>();
    const id = (s: string) => {
      if (!steps.has(s)) steps.set(s, steps.size);
      return steps.get(s) as number;
    };
    stage.init({ pool, port: (n) => id(`port:${n}`), stage: (n) => id(`stage:${n}`), drop: (r) => id(`drop:${r}`), portNames: ['in', 'out'] });
    const burst = new Burst(8);
    pool.alloc(burst, 2);
    const telnet = packet({ version: 4, src: 0x0a000001, dst: 0x0a000002, proto: 'tcp', sport: 4000, dport: 23, flags: 2, vlan: null, port: 0 });
    const web = packet({ version: 4, src: 0x0a000001, dst: 0x0a000002, proto: 'tcp', sport: 4000, dport: 80, flags: 2, vlan: null, port: 0 });
    pool.write(burst.ids[0], build(telnet.layers));
    pool.write(burst.ids[1], build(web.layers));
    pool.meta.port[burst.ids[0]] = 0;
    pool.meta.port[burst.ids[1]] = 0;
    new BurstParser(pool).parse(burst);
    stage.process(burst);
    expect(burst.count).toBe(3);
    const [a, b, rst] = burst.ids;
    expect(pool.meta.next[a]).toBe(id('drop:reject'));
    expect(pool.meta.next[b]).toBe(id('port:out'));
    expect(pool.meta.next[rst]).toBe(id('port:in'));
    expect(stage.counters).toEqual({ rejected: 1, replies: 1, repliesSuppressed: 0 });
    pool.put(burst);
    stage.close();
    table.close();
  });
});

describe('AclStage zones', () => {
  it("matches rules' inPort against the zone of the input port", async () => {
    const table = await AclTable.create(parseRuleFile('permit in-port 7\ndeny', 'z.rules'));
    const stage = new AclStage({ table: table.id, permit: 'port:out', zones: { inside: 7, dmz: 8 } });
    const names = ['inside', 'dmz', 'other', 'out'];
    stage.init({ pool, port: (n) => names.indexOf(n), stage: () => 90, drop: (r) => (r === 'deny' ? 91 : 92), portNames: names });
    const burst = new Burst(4);
    pool.alloc(burst, 3);
    const f = build(packet({ version: 4, src: 0x0a000001, dst: 0x0a000002, proto: 'udp', sport: 1, dport: 2, flags: 0, vlan: null, port: 0 }).layers);
    for (let i = 0; i < 3; i++) {
      pool.write(burst.ids[i], f);
      pool.meta.port[burst.ids[i]] = i; // inside (zone 7), dmz (zone 8), other (no zone)
    }
    new BurstParser(pool).parse(burst);
    stage.process(burst);
    expect(Array.from(burst.ids.subarray(0, 3), (b) => pool.meta.next[b])).toEqual([3, 91, 91]);
    pool.put(burst);
    stage.close();
    expect(() => new AclStage({ table: table.id, permit: 'port:out', zones: { inside: 70000 } })).toThrow(/zones.inside must be a zone id/);
    const bad = new AclStage({ table: table.id, permit: 'port:out', zones: { nowhere: 1 } });
    expect(() => bad.init({ pool, port: () => 0, stage: () => 0, drop: () => 0, portNames: names })).toThrow(/zones.nowhere: no port named 'nowhere'/);
    table.close();
  });
});

function mulberry(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (t ^ (t >>> 14)) >>> 0;
  };
}
