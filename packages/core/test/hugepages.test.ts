import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Mempool, VnfError } from '../src/index.js';
import { isRoot, itWhen } from '@vnf-sdk/test-support';

const NR = '/proc/sys/vm/nr_hugepages';
const meminfo = (key: string) => Number(new RegExp(`${key}:\\s+(\\d+)`).exec(readFileSync('/proc/meminfo', 'utf8'))?.[1] ?? 0);

// Reserving hugepages needs root and a kernel with hugetlbfs.
const why = !existsSync(NR) ? 'kernel has no hugetlbfs (no /proc/sys/vm/nr_hugepages)' : !isRoot ? 'reserving hugepages needs root' : null;

describe('hugepages', () => {
  let before = 0;
  beforeAll(() => {
    if (why) return;
    before = Number(readFileSync(NR, 'utf8'));
    writeFileSync(NR, String(before + 16));
  });
  afterAll(() => {
    if (!why) writeFileSync(NR, String(before));
  });

  itWhen(why, 'puts the region on 2 MiB hugepages when asked and says so', () => {
    const free = meminfo('HugePages_Free');
    expect(free).toBeGreaterThanOrEqual(16);
    const committed = () => meminfo('HugePages_Total') - meminfo('HugePages_Free') + meminfo('HugePages_Rsvd');
    const committedBefore = committed();
    const pool = Mempool.create({ count: 4096, hugepages: 'require', name: 'huge' });
    expect(pool.region.hugepages).toBe(true);
    expect(pool.region.pageNote).toBe('2 MiB hugepages');
    expect(pool.region.pageSize).toBe(2 << 20);
    expect(pool.region.size % (2 << 20)).toBe(0);
    // The pages are reserved at creation, so a shortage can never show up later as SIGBUS.
    expect(committed() - committedBefore).toBe(pool.region.size / (2 << 20));
    pool.bytes[pool.bytes.length - 1] = 1; // touch the last page
    pool.close();
  });

  it("falls back to 4 KiB pages in 'auto' mode and says why", () => {
    // Far more than any test machine reserves.
    const pool = Mempool.create({ count: 1 << 20, name: 'auto' });
    expect(pool.region.hugepages).toBe(false);
    expect(pool.region.pageNote).toMatch(/^4 KiB pages: 10\d\d free 2 MiB hugepages needed, \d+ free$/);
    pool.close();
  });

  it("fails with VNF_NO_HUGEPAGES in 'require' mode when too few are free", () => {
    try {
      Mempool.create({ count: 1 << 20, hugepages: 'require', name: 'req' });
      throw new Error('expected VNF_NO_HUGEPAGES');
    } catch (err) {
      expect(err).toBeInstanceOf(VnfError);
      expect((err as VnfError).code).toBe('VNF_NO_HUGEPAGES');
      expect((err as VnfError).message).toMatch(/pool 'req': hugepages required but not available .*nr_hugepages/);
    }
  });
});
