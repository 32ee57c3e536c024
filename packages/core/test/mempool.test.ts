import { readFileSync } from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import { expectVnfError } from '@vnf-sdk/test-support';
import { Burst, Mempool, NO_BUFFER, NO_PORT } from '../src/index.js';

const pools: Mempool[] = [];
function pool(options: Parameters<typeof Mempool.create>[0]): Mempool {
  const p = Mempool.create(options);
  pools.push(p);
  return p;
}
afterEach(() => {
  for (const p of pools.splice(0)) p.close();
});


describe('Mempool', () => {
  it('creates a memfd region and says which pages it is on', () => {
    const p = pool({ count: 1000, name: 'rx' });
    expect(p.count).toBe(1000);
    expect(p.bufferSize).toBe(2048);
    expect(p.headroom).toBe(256);
    expect(p.region.fd).toBeGreaterThan(2);
    expect(readFileSync(`/proc/self/fdinfo/${p.region.fd}`, 'utf8')).toMatch(/flags/);
    expect(p.region.pageNote).toMatch(/hugepages|4 KiB pages/);
    expect(p.region.size % p.region.pageSize).toBe(0);
    expect(p.region.buffersSize).toBe(1000 * 2048);
    expect(p.bytes.length).toBe(1000 * 2048);
    expect(p.stats()).toMatchObject({ count: 1000, inUse: 0, free: 1000 });
  });

  it('gets and puts bursts, all or nothing, and counts what is in use', () => {
    const p = pool({ count: 100, cacheSize: 0 });
    const a = new Burst(64);
    const b = new Burst(64);
    expect(p.get(a, 64)).toBe(64);
    expect(a.count).toBe(64);
    expect(p.stats().inUse).toBe(64);
    // 36 left: a request for 64 takes nothing.
    expect(p.get(b, 64)).toBe(0);
    expect(b.count).toBe(0);
    expect(p.get(b, 36)).toBe(36);
    expect(p.stats()).toMatchObject({ inUse: 100, free: 0 });
    const all = new Set([...a.ids.subarray(0, 64), ...b.ids.subarray(0, 36)]);
    expect(all.size).toBe(100);
    for (const i of all) expect(i).toBeLessThan(100);
    p.put(a);
    p.put(b);
    expect(a.count).toBe(0);
    expect(p.stats()).toMatchObject({ inUse: 0, free: 100 });
  });

  it('appends to a burst and refuses what does not fit', () => {
    const p = pool({ count: 256 });
    const b = new Burst(32);
    expect(p.get(b, 20)).toBe(20);
    expect(p.get(b)).toBe(12);
    expect(b.count).toBe(32);
    expectVnfError(() => p.get(b, 1), 'VNF_BURST_CAPACITY', /capacity 32 holding 32/);
    p.put(b);
  });

  it('serves repeated gets from the per-worker cache', () => {
    const p = pool({ count: 4096, cacheSize: 256 });
    const b = new Burst(32);
    for (let i = 0; i < 100; i++) {
      p.get(b, 32);
      p.put(b);
    }
    const s = p.stats();
    expect(s.cacheMisses).toBe(1);
    expect(s.cacheHits).toBe(99);
    expect(s.freeInCaches + s.freeInRing).toBe(4096);
    p.close();
    // Closing the handle hands its cache back.
  });

  it('alloc resets packet metadata; get leaves it alone', () => {
    const p = pool({ count: 64, headroom: 128 });
    const b = new Burst(8);
    p.get(b, 1);
    const i = b.ids[0];
    p.meta.mark[i] = 7;
    p.meta.dataOff[i] = 300;
    p.put(b);
    p.get(b, 1);
    expect(b.ids[0]).toBe(i); // LIFO cache
    expect(p.meta.mark[i]).toBe(7);
    p.put(b);
    p.alloc(b, 1);
    expect(b.ids[0]).toBe(i);
    expect(p.meta.dataOff[i]).toBe(128);
    expect(p.meta.dataLen[i]).toBe(0);
    expect(p.meta.mark[i]).toBe(0);
    expect(p.meta.port[i]).toBe(NO_PORT);
    expect(p.meta.chain[i]).toBe(NO_BUFFER);
    expect(p.meta.ptype[i]).toBe(0);
    p.put(b);
  });

  it('shows packet bytes and metadata zero copy, to every handle of the pool', () => {
    const p = pool({ count: 64 });
    const other = Mempool.attach(p.share());
    pools.push(other);
    const b = new Burst(4);
    p.alloc(b, 1);
    const i = b.ids[0];
    p.write(i, Uint8Array.from([1, 2, 3, 4, 5]));
    expect(p.meta.dataLen[i]).toBe(5);
    // Same memory through the other handle's views: no copy anywhere.
    expect(other.bytes[other.dataOffset(i) + 2]).toBe(3);
    other.bytes[other.dataOffset(i)] = 42;
    other.meta.flowHash[i] = 0xdeadbeef;
    expect(Array.from(p.read(i))).toEqual([42, 2, 3, 4, 5]);
    expect(p.meta.flowHash[i]).toBe(0xdeadbeef);
    expectVnfError(() => p.write(i, new Uint8Array(2048)), 'VNF_INVALID_ARGUMENT', /do not fit in buffer/);
    p.put(b);
  });

  it('rejects bad options with a typed error naming the option', () => {
    const cases: Array<[object, RegExp]> = [
      [{ count: 0 }, /count 0 must be between 1 and 16777216/],
      [{ count: 1 << 25 }, /count 33554432/],
      [{ count: 10, bufferSize: 0 }, /bufferSize 0 must be a power of two/],
      [{ count: 10, bufferSize: 3000 }, /bufferSize 3000/],
      [{ count: 10, bufferSize: 1024 }, /bufferSize 1024/],
      [{ count: 10, bufferSize: 65536 }, /bufferSize 65536/],
      [{ count: 10, headroom: 2040 }, /headroom 2040/],
      [{ count: 10, headroom: 13 }, /headroom 13/],
      [{ count: 10000, cacheSize: 513 }, /cacheSize 513 must be at most 512/],
      [{ count: 100, cacheSize: 256 }, /cacheSize 256 must be at most count \/ 1.5/],
      [{ count: 1 << 22, bufferSize: 2048 }, /at most 4 GiB/],
      [{ count: 10, hugepages: 'maybe' }, /hugepages must be 'auto', 'require' or 'never'/],
      [{ count: 10, name: 'x'.repeat(40) }, /name must be 1 to 31/],
      [{ count: -1 }, /count must be a non-negative integer/],
      [{ count: 1.5 }, /count must be a non-negative integer/],
      [{ count: '10' }, /count must be a number/],
    ];
    for (const [options, message] of cases) {
      expectVnfError(() => Mempool.create(options as never), 'VNF_INVALID_ARGUMENT', message);
    }
  });

  it('rejects an index out of range and changes nothing', () => {
    const p = pool({ count: 100, cacheSize: 0 });
    const b = new Burst(4);
    p.get(b, 3);
    b.ids[2] = 100;
    expectVnfError(() => p.put(b), 'VNF_INDEX_RANGE', /buffer index 100 at burst position 2 is out of range 0..99/);
    expect(b.count).toBe(3);
    expect(p.stats().inUse).toBe(3);
  });

  it('catches an index from another pool', () => {
    const small = pool({ count: 100, debug: true, cacheSize: 0, name: 'small' });
    const big = pool({ count: 1000, debug: true, name: 'big' });
    const b = new Burst(32);
    big.get(b, 32);
    // Out of the small pool's range: always caught.
    expect(Math.max(...b.ids.subarray(0, 32))).toBeLessThan(1000);
    const foreign = new Burst(1);
    foreign.ids[0] = 500;
    foreign.count = 1;
    expectVnfError(() => small.put(foreign), 'VNF_INDEX_RANGE', /pool 'small'.*buffer index 500/);
    // In range but not allocated from this pool: caught in debug mode.
    foreign.ids[0] = 5;
    expectVnfError(() => small.put(foreign), 'VNF_DOUBLE_FREE', /belongs to another pool/);
    expect(small.stats().free).toBe(100);
    big.put(b);
  });

  it('detects a double free in debug mode, all or nothing', () => {
    const p = pool({ count: 64, debug: true, cacheSize: 0 });
    const b = new Burst(8);
    p.get(b, 4);
    const ids = Array.from(b.ids.subarray(0, 4));
    p.put(b);
    b.ids.set(ids);
    b.count = 4;
    expectVnfError(() => p.put(b), 'VNF_DOUBLE_FREE', new RegExp(`buffer ${ids[0]} at burst position 0`));
    expect(p.stats().free).toBe(64);
    // The same buffer twice in one put: neither copy is freed.
    b.count = 0;
    p.get(b, 2);
    b.ids[2] = b.ids[0];
    b.count = 3;
    expectVnfError(() => p.put(b), 'VNF_DOUBLE_FREE', /at burst position 2/);
    expect(p.stats().inUse).toBe(2);
    b.count = 2;
    p.put(b);
    expect(p.stats().inUse).toBe(0);
  });

  it('detects use after free in debug mode: writes to a freed buffer and reads of one', () => {
    const p = pool({ count: 16, debug: true, cacheSize: 0 });
    const b = new Burst(16);
    p.get(b, 1);
    const victim = b.ids[0];
    p.put(b);
    expectVnfError(() => p.read(victim), 'VNF_NOT_ALLOCATED', /use after free/);
    p.bytes[victim * p.bufferSize + 100] = 1; // a write through a stale index
    expectVnfError(() => p.get(b, 16), 'VNF_USE_AFTER_FREE', new RegExp(`buffer ${victim} was written to while it was free`));
    expect(b.count).toBe(0);
    expect(p.stats().free).toBe(16); // nothing leaked by the failed get
    expect(p.get(b, 16)).toBe(16); // the buffer was re-poisoned and is usable again
    p.put(b);
  });

  it('refuses a closed pool and detaches its views', () => {
    const p = Mempool.create({ count: 64 });
    const b = new Burst(8);
    p.get(b, 8);
    p.close();
    p.close(); // twice is fine
    expect(p.bytes.length).toBe(0);
    expectVnfError(() => p.get(b, 1), 'VNF_CLOSED', /pool 'pool'.get: the pool handle is closed/);
    expectVnfError(() => p.put(b), 'VNF_CLOSED', /closed/);
    expectVnfError(() => p.stats(), 'VNF_CLOSED', /closed/);
    expectVnfError(() => Mempool.attach(p.share()), 'VNF_CLOSED', /does not exist or was closed/);
  });

  it('keeps the pool alive for other handles after one closes', () => {
    const p = pool({ count: 64 });
    const other = Mempool.attach(p.share());
    const b = new Burst(8);
    other.get(b, 8);
    other.close();
    expect(p.stats()).toMatchObject({ inUse: 8 });
    p.put(b);
    expect(p.stats()).toMatchObject({ inUse: 0, free: 64 });
  });

  it('costs its buffers plus at most 64 bytes per buffer (1M buffers of 2 KiB)', () => {
    const rss = () => Number(/VmRSS:\s+(\d+)/.exec(readFileSync('/proc/self/status', 'utf8'))?.[1]) * 1024;
    const before = rss();
    const p = pool({ count: 1 << 20, bufferSize: 2048, hugepages: 'never', name: 'big' });
    const after = rss();
    expect(p.region.buffersSize).toBe(2 ** 31);
    expect(p.region.overheadPerBuffer).toBeLessThanOrEqual(64);
    expect(p.region.size).toBeLessThanOrEqual((1 << 20) * (2048 + 64));
    // Creating it touched only the free ring and layout, not the 2 GiB of buffers.
    expect(after - before).toBeLessThan(64 << 20);
    console.log(
      `1M x 2 KiB pool: region ${(p.region.size / 2 ** 20).toFixed(1)} MiB, ${p.region.overheadPerBuffer.toFixed(1)} bytes/buffer beyond the buffer, RSS +${((after - before) / 2 ** 20).toFixed(1)} MiB at creation`,
    );
  });
});

describe('Mempool dropped without close()', () => {
  it('returns its cache when collected and leaves views that are still held valid', async () => {
    const { spawnSync } = await import('node:child_process');
    const { join } = await import('node:path');
    const dist = join(import.meta.dirname, '..', 'dist', 'index.js');
    const script = `
      const { Mempool, Burst } = await import(${JSON.stringify(dist)});
      const keeper = Mempool.create({ count: 4096, name: 'gc' });
      let bytes;
      (() => {
        const other = Mempool.attach(keeper.share());
        const b = new Burst(64);
        for (let i = 0; i < 10; i++) { other.get(b, 64); other.put(b); }
        bytes = other.bytes; // outlives its Mempool object
      })();
      const before = keeper.stats().freeInCaches;
      for (let i = 0; i < 10 && keeper.stats().freeInCaches > 0; i++) {
        globalThis.gc();
        await new Promise((r) => setTimeout(r, 20));
      }
      bytes[100] = 7;
      console.log(JSON.stringify({ before, after: keeper.stats().freeInCaches, len: bytes.length, byte: keeper.bytes[100] }));
    `;
    const r = spawnSync(process.execPath, ['--expose-gc', '--input-type=module', '-e', script], { encoding: 'utf8' });
    expect(r.stderr).toBe('');
    const out = JSON.parse(r.stdout);
    expect(out.before).toBeGreaterThan(0);
    expect(out.after).toBe(0);
    expect(out.len).toBe(4096 * 2048);
    expect(out.byte).toBe(7);
  });
});

describe('the API edge', () => {
  it('takes what the cache holds plus the rest from the ring before saying the pool is short', () => {
    const p = Mempool.create({ count: 30, cacheSize: 20 });
    const b = new Burst(64);
    expect(p.get(b, 30)).toBe(30);
    p.put(b);
    expect(p.stats()).toMatchObject({ free: 30 });
    expect(p.get(b, 25)).toBe(25); // 20 from this thread's cache, 5 from the ring
    expect(new Set(b.ids.subarray(0, 25)).size).toBe(25);
    expect(p.get(b, 6)).toBe(0); // 5 left: nothing taken
    expect(p.stats()).toMatchObject({ inUse: 25, free: 5 });
    p.put(b);
    p.close();
  });

  it('refuses counts and indices that are not integers in range instead of wrapping them', () => {
    const p = Mempool.create({ count: 64, debug: true });
    const b = new Burst(8);
    for (const n of [Number.NaN, 1.5, 2 ** 32, 2 ** 32 + 2, Number.POSITIVE_INFINITY]) {
      expect(() => p.get(b, n)).toThrow(expect.objectContaining({ code: 'VNF_INVALID_ARGUMENT' }));
      expect(b.count).toBe(0);
    }
    p.get(b, 2);
    for (const index of [1.5, 2 ** 32 + 1, -1, 64, Number.NaN]) {
      expect(() => p.write(index, Uint8Array.of(1))).toThrow(expect.objectContaining({ code: 'VNF_INDEX_RANGE' }));
    }
    b.count = 2 ** 32 + 1;
    expect(() => p.put(b)).toThrow(expect.objectContaining({ code: 'VNF_INVALID_ARGUMENT' }));
    b.count = 2;
    p.put(b);
    expect(p.stats().inUse).toBe(0);
    p.close();
  });

  it('exposes each metadata array as exactly its own memory, nothing of the layout or free list', () => {
    const p = Mempool.create({ count: 100 });
    expect(p.meta.port.buffer.byteLength).toBe(200);
    expect(p.meta.mark.buffer.byteLength).toBe(400);
    expect(p.bytes.buffer.byteLength).toBe(100 * 2048);
    // Scribbling over every array cannot disturb the pool itself.
    for (const a of Object.values(p.meta)) a.fill(0xffffffff);
    const b = new Burst(64);
    expect(p.alloc(b, 64)).toBe(64);
    p.put(b);
    expect(p.stats()).toMatchObject({ inUse: 0, free: 100 });
    p.close();
  });

  it('reports an overflow of the free list (a double free without debug mode) and drops the surplus', () => {
    const p = Mempool.create({ count: 4, cacheSize: 0, name: 'small' });
    const b = new Burst(4);
    p.get(b, 1);
    const i = b.ids[0];
    p.put(b);
    b.ids[0] = i;
    b.count = 1;
    expect(() => p.put(b)).toThrow(expect.objectContaining({ code: 'VNF_POOL_OVERFLOW' }));
    expect(p.stats()).toMatchObject({ free: 4, inUse: 0 });
    p.close();
  });
});
