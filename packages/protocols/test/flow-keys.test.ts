import { Burst, Mempool } from '@vnf-sdk/core';
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import { BurstParser, FlowKeys, PTYPE } from '../src/index.js';
import { eth, ext6, gtpu, icmp, ipv4, ipv6, tcp, udp, vlan, vxlan } from './packets.js';

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

// Keys as plain rows; addresses only where there is an address (version 0 leaves them as they were).
function rows(keys: FlowKeys, n: number) {
  return Array.from({ length: n }, (_, i) => ({
    version: keys.version[i],
    protocol: keys.protocol[i],
    srcPort: keys.srcPort[i],
    dstPort: keys.dstPort[i],
    src: keys.version[i] ? Array.from(keys.src.subarray(4 * i, 4 * i + 4)) : [],
    dst: keys.version[i] ? Array.from(keys.dst.subarray(4 * i, 4 * i + 4)) : [],
  }));
}

describe('BurstParser.parse with keys', () => {
  const seeds = [
    eth(0x0800, ipv4(6, tcp(2))),
    eth(0x0800, ipv4(17, udp(53))),
    eth(0x0800, ipv4(1, icmp())),
    eth(0x0800, ipv4(17, udp(53), { options: 1 })),
    eth(0x8100, vlan(7, 0x0800, ipv4(17, udp(4789, vxlan(eth(0x0800, ipv4(6, tcp()))))))),
    eth(0x0800, ipv4(17, udp(4789, vxlan(eth(0x86dd, ipv6(17, udp(7))))))),
    eth(0x86dd, ipv6(6, tcp())),
    eth(0x86dd, ipv6(17, udp(2152, gtpu(ipv4(17, udp(9)))))),
    eth(0x0800, ipv4(17, udp(2152, gtpu(ipv6(58, icmp()), { ext: true })))),
    eth(0x86dd, ipv6(58, icmp())),
    eth(0x86dd, ipv6(0, ext6(17, udp(53)))),
    eth(0x8100, vlan(7, 0x86dd, ipv6(17, udp(123)))),
    eth(0x0806, new Array(28).fill(0)),
  ];
  const edit = fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 }), fc.boolean());
  const packet = fc
    .tuple(fc.constantFrom(...seeds), fc.array(edit, { maxLength: 3 }), fc.nat())
    .map(([seed, edits, cut]) => {
      const p = seed.slice();
      for (const [at, v, step] of edits) {
        const i = at % p.length;
        p[i] = step ? (p[i] + (v % 5) - 2 + 256) & 0xff : v;
      }
      return cut % 4 === 0 ? p.slice(0, cut % (p.length + 1)) : p;
    });
  const parser = new BurstParser(pool);
  const burst = new Burst(32);
  const sep = [new FlowKeys(pool, 32), new FlowKeys(pool, 32)];
  const one = [new FlowKeys(pool, 32), new FlowKeys(pool, 32)];
  const meta = (n: number) =>
    Array.from(burst.ids.subarray(0, n), (b) => {
      const m = pool.meta;
      return [m.ptype[b], m.l2Off[b], m.l3Off[b], m.l4Off[b], m.innerL2Off[b], m.innerL3Off[b], m.innerL4Off[b]];
    });

  it('fills the same keys as parse, then extract, in one pass (mutated packets of every common shape)', () => {
    fc.assert(
      fc.property(fc.array(packet, { minLength: 1, maxLength: 32 }), (packets) => {
        pool.put(burst);
        pool.alloc(burst, packets.length);
        for (const [i, p] of packets.entries()) pool.write(burst.ids[i], Uint8Array.from(p));
        const n = packets.length;
        parser.parse(burst);
        sep[0].extract(burst);
        sep[1].extract(burst, true);
        const before = meta(n);
        // Offsets are written only for the layers found: start from other stale values.
        for (const b of burst.ids.subarray(0, n)) pool.meta.l4Off[b] = 0xabc;
        parser.parse(burst, one[0], one[1]);
        const after = meta(n);
        for (let i = 0; i < n; i++) {
          expect(after[i][0]).toBe(before[i][0]);
          if (!(before[i][0] & PTYPE.MALFORMED)) expect(after[i].slice(1, 3)).toEqual(before[i].slice(1, 3));
        }
        expect(one[0].count).toBe(n);
        expect(one[1].count).toBe(n);
        expect(rows(one[0], n)).toEqual(rows(sep[0], n));
        expect(rows(one[1], n)).toEqual(rows(sep[1], n));
      }),
      { numRuns: 3000 },
    );
    pool.put(burst);
  });

  it('with keys smaller than the burst, fills what fits, as extract does', () => {
    pool.alloc(burst, 3);
    const packets = [eth(0x0800, ipv4(6, tcp())), eth(0x86dd, ipv6(17, udp(53))), eth(0x0800, ipv4(1, icmp()))];
    for (const [i, p] of packets.entries()) pool.write(burst.ids[i], Uint8Array.from(p));
    const small = new FlowKeys(pool, 2);
    parser.parse(burst, small);
    expect(small.count).toBe(2);
    expect(Array.from(small.version)).toEqual([4, 6]);
    expect(pool.meta.ptype[burst.ids[2]]).toBe(PTYPE.ETHER | PTYPE.IPV4 | PTYPE.ICMP);
    pool.put(burst);
  });

  // Fills `keys` with parse(burst, keys[0], keys[1]) and `sep` with parse, then extract.
  const both = (p: BurstParser, packets: number[][], keys: FlowKeys[]) => {
    pool.put(burst);
    pool.alloc(burst, packets.length);
    for (const [i, q] of packets.entries()) pool.write(burst.ids[i], Uint8Array.from(q));
    parser.parse(burst);
    sep[0].extract(burst);
    sep[1].extract(burst, true);
    const want = meta(packets.length).map((m) => m[0]);
    p.parse(burst, keys[0], keys[1]);
    expect(meta(packets.length).map((m) => m[0])).toEqual(want);
    expect(rows(keys[0], packets.length)).toEqual(rows(sep[0], packets.length));
    expect(rows(keys[1], packets.length)).toEqual(rows(sep[1], packets.length));
  };

  it('binds a loop to the keys it is given call after call, and fills other keys right after that', () => {
    const p = new BurstParser(pool);
    const a = [new FlowKeys(pool, 32), new FlowKeys(pool, 32)];
    const b = [new FlowKeys(pool, 32), new FlowKeys(pool, 32)];
    const samples = fc.sample(fc.array(packet, { minLength: 1, maxLength: 32 }), { numRuns: 400, seed: 7 });
    // Long enough on `a` for the parser to bind a loop to them, then `b`, then `a` again, and
    // keys switching at every call.
    for (const [k, packets] of samples.entries()) {
      const keys = k < 150 ? a : k < 250 ? b : k < 300 ? a : k % 2 ? a : b;
      both(p, packets, keys);
    }
    expect(p.specialized).toBe(true);
    expect((p as unknown as { binds: number }).binds).toBe(3);
    pool.put(burst);
  });

  it('falls back to the shared loop when its own copy fails', () => {
    const p = new BurstParser(pool);
    (p as unknown as { run: () => void }).run = () => {
      throw new ReferenceError('cov_1 is not defined');
    };
    const keys = [new FlowKeys(pool, 32), new FlowKeys(pool, 32)];
    for (const packets of fc.sample(fc.array(packet, { minLength: 1, maxLength: 32 }), { numRuns: 50, seed: 5 })) both(p, packets, keys);
    expect(p.specialized).toBe(false);
    pool.put(burst);
  });

  it('without code generation from strings: the shared loop, with the same results', () => {
    const F = globalThis.Function;
    let p: BurstParser;
    try {
      // What `new Function` does under --disallow-code-generation-from-strings.
      globalThis.Function = class {
        constructor() {
          throw new EvalError('Code generation from strings disallowed for this context');
        }
      } as unknown as FunctionConstructor;
      p = new BurstParser(pool);
    } finally {
      globalThis.Function = F;
    }
    expect(p.specialized).toBe(false);
    const keys = [new FlowKeys(pool, 32), new FlowKeys(pool, 32)];
    for (const packets of fc.sample(fc.array(packet, { minLength: 1, maxLength: 32 }), { numRuns: 300, seed: 11 })) both(p, packets, keys);
    expect(p.specialized).toBe(false);
    pool.put(burst);
  });
});
