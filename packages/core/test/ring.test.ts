import { afterEach, describe, expect, it } from 'vitest';
import { Burst, Ring, VnfError } from '../src/index.js';

const rings: Ring[] = [];
function ring(options: Parameters<typeof Ring.create>[0]): Ring {
  const r = Ring.create(options);
  rings.push(r);
  return r;
}
afterEach(() => {
  for (const r of rings.splice(0)) r.close();
});

function fill(b: Burst, values: number[]): Burst {
  b.ids.set(values);
  b.count = values.length;
  return b;
}

function code(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(VnfError);
    return (err as VnfError).code + ': ' + (err as VnfError).message;
  }
  return 'no error';
}

describe('Ring', () => {
  it('has capacity size-1 for a power of two, or exactly what was asked', () => {
    const r = ring({ size: 1024 });
    expect(r.size).toBe(1024);
    expect(r.capacity).toBe(1023);
    const e = ring({ size: 1000, exact: true });
    expect(e.size).toBe(1024);
    expect(e.capacity).toBe(1000);
    const one = ring({ size: 1, exact: true });
    expect(one.capacity).toBe(1);
  });

  it('rejects sizes that are not powers of two, zero or too large', () => {
    expect(code(() => Ring.create({ size: 1000 }))).toMatch(/^VNF_INVALID_ARGUMENT: ring 'ring': size 1000 must be a power of two/);
    expect(code(() => Ring.create({ size: 0 }))).toMatch(/^VNF_INVALID_ARGUMENT: .*size 0/);
    expect(code(() => Ring.create({ size: 1 }))).toMatch(/^VNF_INVALID_ARGUMENT: .*size 1 must be a power of two between 2/);
    expect(code(() => Ring.create({ size: 2 ** 29 }))).toMatch(/^VNF_INVALID_ARGUMENT: .*size 536870912/);
    expect(code(() => Ring.create({ size: 2 ** 29, exact: true }))).toMatch(/^VNF_INVALID_ARGUMENT: .*between 1 and 268435456/);
    expect(code(() => Ring.create({ size: 16, producer: 'many' as never }))).toMatch(/producer must be 'single' or 'multi'/);
    expect(code(() => Ring.create({ size: -4 }))).toMatch(/^VNF_INVALID_ARGUMENT: size must be a non-negative integer/);
  });

  for (const [producer, consumer] of [
    ['single', 'single'],
    ['multi', 'multi'],
    ['single', 'multi'],
    ['multi', 'single'],
  ] as const) {
    it(`${producer} producer / ${consumer} consumer: bulk is all or nothing, burst takes what fits`, () => {
      const r = ring({ size: 8, producer, consumer });
      const b = new Burst(16);
      fill(b, [1, 2, 3, 4, 5]);
      expect(r.enqueueBulk(b)).toBe(5);
      expect(b.count).toBe(0);
      expect(r.freeSpace).toBe(2);
      fill(b, [6, 7, 8]);
      expect(r.enqueueBulk(b)).toBe(0); // 3 do not fit in 2
      expect(b.count).toBe(3);
      expect(r.freeSpace).toBe(2);
      expect(r.enqueueBurst(b)).toBe(2);
      expect(Array.from(b.ids.subarray(0, b.count))).toEqual([8]); // the rest stays, at the front
      expect(r.freeSpace).toBe(0);
      expect(r.isFull()).toBe(true);
      expect(r.count()).toBe(7);
      const out = new Burst(16);
      expect(r.dequeueBulk(out, 8)).toBe(0);
      expect(r.available).toBe(7);
      expect(r.dequeueBulk(out, 3)).toBe(3);
      expect(r.available).toBe(4);
      expect(r.dequeueBurst(out, 10)).toBe(4);
      expect(r.available).toBe(0);
      expect(Array.from(out.ids.subarray(0, out.count))).toEqual([1, 2, 3, 4, 5, 6, 7]);
      expect(r.isEmpty()).toBe(true);
      expect(r.dequeueBurst(out, 1)).toBe(0);
    });
  }

  it('keeps FIFO order across many wrap-arounds', () => {
    const r = ring({ size: 16, producer: 'single', consumer: 'single' });
    const inb = new Burst(7);
    const out = new Burst(7);
    let next = 0;
    let expected = 0;
    for (let round = 0; round < 10_000; round++) {
      inb.count = 0;
      for (let k = 0; k < 7; k++) inb.ids[inb.count++] = next++;
      expect(r.enqueueBulk(inb)).toBe(7);
      out.count = 0;
      r.dequeueBulk(out, 7);
      for (let k = 0; k < 7; k++) {
        if (out.ids[k] !== expected) throw new Error(`round ${round}: got ${out.ids[k]}, wanted ${expected}`);
        expected++;
      }
    }
    expect(expected).toBe(70_000);
  });

  it('refuses a closed ring and a burst that cannot take the request', () => {
    const r = Ring.create({ size: 16, name: 'tx' });
    const b = new Burst(4);
    expect(code(() => r.dequeueBurst(b, 5))).toMatch(/^VNF_BURST_CAPACITY: ring 'tx'.dequeueBurst/);
    r.close();
    expect(code(() => r.enqueueBurst(b))).toMatch(/^VNF_CLOSED: ring 'tx'.enqueueBurst: the ring handle is closed/);
    expect(code(() => r.count())).toMatch(/^VNF_CLOSED/);
    expect(code(() => Ring.attach(r.share()))).toMatch(/^VNF_CLOSED/);
    expect(code(() => Ring.attach({ kind: 'nope' } as never))).toMatch(/^VNF_INVALID_ARGUMENT/);
  });

  it('is shared by handles: what one enqueues another dequeues', () => {
    const r = ring({ size: 64 });
    const other = Ring.attach(r.share());
    rings.push(other);
    const b = fill(new Burst(4), [9, 8, 7]);
    r.enqueueBurst(b);
    expect(other.count()).toBe(3);
    const out = new Burst(4);
    other.dequeueBurst(out);
    expect(Array.from(out.ids.subarray(0, 3))).toEqual([9, 8, 7]);
  });
});

describe('Burst', () => {
  it('validates its capacity and consumes from the front', () => {
    expect(code(() => new Burst(0))).toMatch(/^VNF_INVALID_ARGUMENT: Burst capacity 0/);
    expect(code(() => new Burst(5000))).toMatch(/^VNF_INVALID_ARGUMENT/);
    const b = fill(new Burst(8), [1, 2, 3, 4]);
    expect(b.room).toBe(4);
    b.consume(1);
    expect(Array.from(b.ids.subarray(0, b.count))).toEqual([2, 3, 4]);
    b.consume(10);
    expect(b.count).toBe(0);
  });
});

describe('Ring at the API edge', () => {
  it('keeps working when someone tries to transfer the shared scratch memory away', () => {
    const r = Ring.create({ size: 64 });
    const scratch = (r as unknown as { scratch: Uint32Array }).scratch;
    try {
      structuredClone(scratch.buffer, { transfer: [scratch.buffer as ArrayBuffer] });
    } catch {
      // refusing is as good as copying
    }
    const b = fill(new Burst(8), [1, 2, 3]);
    expect(r.enqueueBulk(b)).toBe(3);
    expect(r.freeSpace).toBe(60);
    r.close();
  });

  it('rejects a burst handle made on another thread', async () => {
    const { Worker } = await import('node:worker_threads');
    const r = Ring.create({ size: 64 });
    const mine = fill(new Burst(8), [1, 2, 3]);
    const code = `
      const { parentPort, workerData } = require('node:worker_threads');
      import(workerData.dist).then(({ Ring, Burst }) => {
        const local = new Burst(8); // slot 0 of this thread's table, like the main thread's
        const ring = Ring.attach(workerData.ring);
        try { ring.enqueueBurst(workerData.burst); parentPort.postMessage('accepted'); }
        catch (e) { parentPort.postMessage(e.code); }
        ring.close();
      });`;
    const { join } = await import('node:path');
    const dist = join(import.meta.dirname, '..', 'dist', 'index.js');
    const w = new Worker(code, { eval: true, workerData: { dist, ring: r.share(), burst: { handle: mine.handle, count: 3, capacity: 8 } } });
    const answer = await new Promise((resolve) => w.once('message', resolve));
    expect(answer).toBe('VNF_BAD_HANDLE');
    expect(r.count()).toBe(0);
    r.close();
  });
});
