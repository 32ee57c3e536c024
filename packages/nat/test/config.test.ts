import { describe, expect, it } from 'vitest';
import { Nat, type NatConfig, toNativeOptions } from '../src/index.js';

const bad = (config: Partial<NatConfig>, message: RegExp) => {
  expect(() => Nat.create(config as NatConfig)).toThrow(message);
  try {
    Nat.create(config as NatConfig);
  } catch (err) {
    expect((err as { code: string }).code).toBe('VNF_CONFIG');
  }
};

describe('NAT configuration', () => {
  it('rejects overlapping pools, naming both', () => {
    bad({ pool: ['198.51.100.0/30', '198.51.100.2-198.51.100.9'] }, /nat\.pool\[1\]: '198\.51\.100\.2-198\.51\.100\.9' overlaps pool\[0\] '198\.51\.100\.0\/30'/);
  });
  it('rejects an empty pool', () => {
    bad({ pool: [] }, /nat\.pool: is empty/);
  });
  it('rejects port ranges outside 1-65535, or backwards', () => {
    bad({ pool: ['198.51.100.1'], ports: '0-100' }, /nat\.ports: '0-100' is outside 1-65535/);
    bad({ pool: ['198.51.100.1'], ports: '1024-70000' }, /nat\.ports: '1024-70000' is outside 1-65535/);
    bad({ pool: ['198.51.100.1'], ports: '5000-4000' }, /starts after it ends/);
  });
  it('rejects bad addresses, forwards and filtering with the field named', () => {
    bad({ pool: ['198.51.100.300'] }, /nat\.pool\[0\]: '198\.51\.100\.300' is not an IPv4 address/);
    bad({ pool: ['198.51.100.1/24'] }, /host bits set/);
    bad({ pool: ['198.51.100.1'], forwards: [{ proto: 'tcp', external: '198.51.100.1:0', internal: '10.0.0.1:80' }] }, /forwards\[0\]\.external: port '0' is outside 1-65535/);
    bad({ pool: ['198.51.100.1'], forwards: [{ proto: 'sctp' as 'tcp', external: '198.51.100.1:1', internal: '10.0.0.1:80' }] }, /forwards\[0\]\.proto/);
    bad({ pool: ['198.51.100.1'], filtering: 'full-cone' as 'address-dependent' }, /nat\.filtering/);
    bad({ pool: ['198.51.100.1'], sessions: 2 ** 27 + 1 }, /nat\.sessions: must be an integer 1-134217728, got 134217729/);
    bad({ pool: ['198.51.100.1'], static: [{ internal: '10.0.0.1', external: '198.51.100.1' }] }, /static\[0\]\.external: 198\.51\.100\.1 is in the pool/);
  });
  it('the native translator repeats the checks it owns (two forwards of one port)', () => {
    bad(
      {
        pool: ['198.51.100.1'],
        forwards: [
          { proto: 'tcp', external: '198.51.100.1:80', internal: '10.0.0.1:80' },
          { proto: 'tcp', external: '198.51.100.1:80', internal: '10.0.0.2:80' },
        ],
      },
      /forwards\[1\]: 198\.51\.100\.1:80 is already forwarded by forwards\[0\]/,
    );
  });
  it('maps a good config onto the native options', () => {
    const o = toNativeOptions({ pool: ['198.51.100.0/31'], ports: '2000-3000', portBlock: { size: 100, maxPerHost: 2 } });
    expect(o.pool).toEqual([{ first: 0xc6336400, last: 0xc6336401 }]);
    expect([o.portFirst, o.portLast, o.blockSize, o.maxBlocks, o.logBlocks, o.logMappings]).toEqual([2000, 3000, 100, 2, true, false]);
  });
});
