import { expectVnfError } from '@vnf-sdk/test-support';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ipv4ToNumber, LPM_MISS, Lpm, maskOf, numberToIpv4 } from '../src/lpm.js';

const ip = (s: string) => ipv4ToNumber(s)!;

/** The obvious LPM: every route checked, the longest match wins. */
class NaiveLpm {
  readonly routes = new Map<string, { prefix: number; depth: number; nextHop: number }>();
  add(addr: number, depth: number, nextHop: number) {
    const prefix = (addr & maskOf(depth)) >>> 0;
    this.routes.set(`${prefix}/${depth}`, { prefix, depth, nextHop });
  }
  delete(addr: number, depth: number): boolean {
    return this.routes.delete(`${(addr & maskOf(depth)) >>> 0}/${depth}`);
  }
  lookup(addr: number): number {
    let best = -1;
    let nh = LPM_MISS;
    for (const r of this.routes.values()) {
      if (((addr & maskOf(r.depth)) >>> 0) === r.prefix && r.depth > best) {
        best = r.depth;
        nh = r.nextHop;
      }
    }
    return nh;
  }
}

// One LPM for the whole file: 64 MiB of tbl24 each time would be slow to make.
const shared = new Lpm({ tbl8Groups: 512 });
function clear(lpm: Lpm) {
  for (const r of lpm.routes()) lpm.delete(r.prefix, r.depth);
}

describe('Lpm', () => {
  it('finds the longest prefix, through tbl24 and tbl8', () => {
    const lpm = shared;
    clear(lpm);
    lpm.add(ip('0.0.0.0'), 0, 1);
    lpm.add(ip('10.0.0.0'), 8, 2);
    lpm.add(ip('10.1.0.0'), 16, 3);
    lpm.add(ip('10.1.2.0'), 24, 4);
    lpm.add(ip('10.1.2.128'), 25, 5);
    lpm.add(ip('10.1.2.130'), 32, 6);
    expect(lpm.lookup(ip('192.168.1.1'))).toBe(1);
    expect(lpm.lookup(ip('10.200.0.1'))).toBe(2);
    expect(lpm.lookup(ip('10.1.9.9'))).toBe(3);
    expect(lpm.lookup(ip('10.1.2.1'))).toBe(4);
    expect(lpm.lookup(ip('10.1.2.129'))).toBe(5);
    expect(lpm.lookup(ip('10.1.2.130'))).toBe(6);
    expect(lpm.groupsUsed).toBe(1);
    // Deleting restores the covering routes, and the group folds back when it holds no /25+.
    expect(lpm.delete(ip('10.1.2.130'), 32)).toBe(true);
    expect(lpm.lookup(ip('10.1.2.130'))).toBe(5);
    expect(lpm.delete(ip('10.1.2.128'), 25)).toBe(true);
    expect(lpm.lookup(ip('10.1.2.130'))).toBe(4);
    expect(lpm.groupsUsed).toBe(0);
    expect(lpm.delete(ip('10.1.2.0'), 24)).toBe(true);
    expect(lpm.lookup(ip('10.1.2.130'))).toBe(3);
    expect(lpm.delete(ip('10.1.2.0'), 24)).toBe(false);
    expect(lpm.delete(ip('0.0.0.0'), 0)).toBe(true);
    expect(lpm.lookup(ip('192.168.1.1'))).toBe(LPM_MISS);
    expect(lpm.size).toBe(2);
  });

  it('changes the next hop of an existing route; host bits are ignored', () => {
    const lpm = shared;
    clear(lpm);
    lpm.add(ip('172.16.5.77'), 16, 7);
    lpm.add(ip('172.16.0.0'), 16, 8);
    expect(lpm.size).toBe(1);
    expect(lpm.lookup(ip('172.16.200.1'))).toBe(8);
    lpm.add(ip('172.16.5.77'), 30, 9);
    lpm.add(ip('172.16.5.76'), 30, 10);
    expect(lpm.lookup(ip('172.16.5.79'))).toBe(10);
    expect(lpm.lookup(ip('172.16.5.80'))).toBe(8);
  });

  it('looks up bursts into 16- and 32-bit arrays and counts misses', () => {
    const lpm = shared;
    clear(lpm);
    lpm.add(ip('10.0.0.0'), 8, 65534);
    const addrs = Uint32Array.of(ip('10.1.1.1'), ip('11.0.0.1'), ip('10.255.255.255'));
    const o16 = new Uint16Array(3);
    const o32 = new Uint32Array(3);
    expect(lpm.lookupBurst(addrs, 3, o16)).toBe(1);
    expect(lpm.lookupBurst(addrs, 3, o32)).toBe(1);
    expect([...o16]).toEqual([65534, LPM_MISS, 65534]);
    expect([...o32]).toEqual([65534, LPM_MISS, 65534]);
  });

  it('rejects bad depths and next hops, and says when tbl8 groups run out', () => {
    expectVnfError(() => shared.add(0, 33, 1), 'VNF_INVALID_ARGUMENT', 'depth');
    expectVnfError(() => shared.add(0, 8, 65535), 'VNF_INVALID_ARGUMENT', 'next hop');
    expectVnfError(() => shared.delete(0, -1), 'VNF_INVALID_ARGUMENT', 'depth');
    expectVnfError(() => new Lpm({ tbl8Groups: 0 }), 'VNF_INVALID_ARGUMENT', 'tbl8Groups');
    const small = new Lpm({ tbl8Groups: 1 });
    small.add(ip('10.0.0.1'), 32, 1);
    small.add(ip('10.0.0.2'), 32, 2); // same /24: same group
    expectVnfError(() => small.add(ip('10.0.1.1'), 32, 3), 'VNF_NO_MEMORY', 'tbl8 groups');
    expect(small.lookup(ip('10.0.1.1'))).toBe(LPM_MISS);
    expect(small.size).toBe(2);
    small.delete(ip('10.0.0.1'), 32);
    small.delete(ip('10.0.0.2'), 32);
    small.add(ip('10.0.1.1'), 32, 3); // the group came back
    expect(small.lookup(ip('10.0.1.1'))).toBe(3);
  });

  it('converts addresses', () => {
    expect(numberToIpv4(ip('255.0.10.1'))).toBe('255.0.10.1');
    expect(ipv4ToNumber('256.1.1.1')).toBeNull();
    expect(ipv4ToNumber('01.1.1.1')).toBeNull();
  });

  it('agrees with a linear LPM over random routes, deletes and addresses (property)', () => {
    // Routes cluster in a few /16s so that they overlap and share tbl8 groups.
    const base = fc.constantFrom(ip('10.1.0.0'), ip('10.2.0.0'), ip('192.168.0.0'), 0);
    const route = fc.record({
      base,
      low: fc.integer({ min: 0, max: 0xffff }),
      depth: fc.oneof(fc.integer({ min: 0, max: 32 }), fc.integer({ min: 20, max: 32 })),
      nextHop: fc.integer({ min: 0, max: 0xfffe }),
    });
    const op = fc.oneof(
      { weight: 3, arbitrary: route.map((r) => ({ kind: 'add' as const, ...r })) },
      { weight: 1, arbitrary: fc.nat().map((k) => ({ kind: 'delete' as const, k })) },
      { weight: 1, arbitrary: route.map((r) => ({ kind: 'deleteAny' as const, ...r })) },
    );
    fc.assert(
      fc.property(fc.array(op, { minLength: 1, maxLength: 60 }), fc.array(fc.integer({ min: 0, max: 0xffffffff }), { maxLength: 30 }), (ops, extra) => {
        const lpm = shared;
        clear(lpm);
        const naive = new NaiveLpm();
        const probes: number[] = [...extra];
        for (const o of ops) {
          if (o.kind === 'add') {
            const a = (o.base + o.low) >>> 0;
            lpm.add(a, o.depth, o.nextHop);
            naive.add(a, o.depth, o.nextHop);
            const p = (a & maskOf(o.depth)) >>> 0;
            const last = (p + 2 ** (32 - o.depth) - 1) >>> 0;
            probes.push(a, p, last, (p - 1) >>> 0, (last + 1) >>> 0);
          } else if (o.kind === 'delete') {
            const list = [...naive.routes.values()];
            if (list.length === 0) continue;
            const r = list[o.k % list.length]!;
            expect(lpm.delete(r.prefix, r.depth)).toBe(naive.delete(r.prefix, r.depth));
          } else {
            const a = (o.base + o.low) >>> 0;
            expect(lpm.delete(a, o.depth)).toBe(naive.delete(a, o.depth));
          }
        }
        expect(lpm.size).toBe(naive.routes.size);
        const addrs = Uint32Array.from(probes);
        const out = new Uint32Array(addrs.length);
        lpm.lookupBurst(addrs, addrs.length, out);
        for (let k = 0; k < addrs.length; k++) {
          expect(out[k], numberToIpv4(addrs[k]!)).toBe(naive.lookup(addrs[k]!));
        }
        // Every group is accounted for: deleting all routes frees them all.
        clear(lpm);
        expect(lpm.groupsUsed).toBe(0);
      }),
      { numRuns: 300 },
    );
  });
});
