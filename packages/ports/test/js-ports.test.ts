import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Burst, Mempool } from '@vnf-sdk/core';
import { build, CaptureReader, CaptureWriter, decode, findLayer, type Ipv4Layer, type UdpLayer } from '@vnf-sdk/protocols';
import { expectVnfError } from '@vnf-sdk/test-support';
import { afterAll, afterEach, beforeEach, describe, expect, it } from 'vitest';
import { GeneratorPort, NullPort, PcapPort, RingPort } from '../src/index.js';

let pool: Mempool;
const dir = mkdtempSync(join(tmpdir(), 'vnf-ports-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

beforeEach(() => {
  pool = Mempool.create({ count: 512, cacheSize: 0, name: 'ports-test' });
});
afterEach(() => {
  // Every test leaves the pool as it found it: no buffer leaked, none freed twice.
  expect(pool.stats().inUse).toBe(0);
  pool.close();
});

function frame(i: number, payload = 18): Uint8Array {
  return build([
    { type: 'ethernet', src: '02:00:00:00:00:01', dst: '02:00:00:00:00:02' },
    { type: 'ipv4', src: '10.0.0.1', dst: '10.0.1.1' },
    { type: 'udp', srcPort: 1000 + i, dstPort: 9 },
    { type: 'payload', data: new Uint8Array(payload).fill(i & 255) },
  ]);
}

describe('NullPort', () => {
  it('receives nothing and frees what it transmits, counting it', () => {
    const port = new NullPort(pool, { id: 3 });
    const burst = new Burst(32);
    expect(port.rxBurst(burst)).toBe(0);
    pool.alloc(burst, 10);
    for (let i = 0; i < 10; i++) pool.meta.dataLen[burst.ids[i]] = 60;
    expect(port.txBurst(burst)).toBe(10);
    expect(burst.count).toBe(0);
    expect(port.stats()).toMatchObject({ txPackets: 10, txBytes: 600, rxPackets: 0 });
  });
});

describe('RingPort', () => {
  it('passes buffers from one end to the other with the receiving port id', () => {
    const [a, b] = RingPort.pair(pool, 16);
    const burst = new Burst(32);
    pool.alloc(burst, 20);
    expect(a.txBurst(burst)).toBe(15); // 16 slots, capacity 15: the rest stays the caller's
    expect(burst.count).toBe(5);
    pool.put(burst);
    const got = new Burst(32);
    expect(b.rxBurst(got)).toBe(15);
    expect(pool.meta.port[got.ids[0]]).toBe(b.id);
    expect(a.stats().txPackets).toBe(15);
    expect(b.stats().rxPackets).toBe(15);
    expect(b.txBurst(got)).toBe(15);
    const back = new Burst(32);
    expect(a.rxBurst(back)).toBe(15);
    pool.put(back);
    a.close();
    b.close();
  });

  it('frees what is still queued towards an end when it closes', () => {
    const [a, b] = RingPort.pair(pool, 16);
    const burst = new Burst(32);
    pool.alloc(burst, 8);
    a.txBurst(burst);
    b.close(); // 8 buffers were waiting for b
    a.close();
  });

  it('rejects an end with no ring', () => {
    expectVnfError(() => new RingPort(pool, {}), 'VNF_INVALID_ARGUMENT', 'give an rx ring');
  });
});

describe('GeneratorPort', () => {
  it('makes valid UDP frames of the given size over the given flows', () => {
    const gen = new GeneratorPort(pool, { flows: 4, size: 60, id: 7, count: 40 });
    const burst = new Burst(32);
    expect(gen.rxBurst(burst)).toBe(32);
    const ports = new Set<number>();
    for (let i = 0; i < 32; i++) {
      const b = burst.ids[i];
      expect(pool.meta.dataLen[b]).toBe(60);
      expect(pool.meta.port[b]).toBe(7);
      const d = decode(pool.read(b));
      const udp = findLayer(d, 'udp') as UdpLayer;
      const ip = findLayer(d, 'ipv4') as Ipv4Layer;
      expect(ip.checksumValid).toBe(true);
      expect(udp.checksumValid).toBe(true);
      ports.add(udp.srcPort);
    }
    expect(ports.size).toBe(4);
    pool.put(burst);
    expect(gen.rxBurst(burst)).toBe(8); // count 40: 32 + 8, then finished
    expect(gen.finished()).toBe(true);
    expect(gen.rxBurst(burst)).toBe(0);
    expect(gen.txBurst(burst)).toBe(8);
    expect(gen.stats()).toMatchObject({ rxPackets: 40, rxBytes: 2400, txPackets: 8 });
  });

  it('cycles through IMIX sizes and given frames', () => {
    const imix = new GeneratorPort(pool, { size: [60, 590, 1514] });
    const burst = new Burst(6);
    imix.rxBurst(burst);
    expect(Array.from(burst.ids, (b) => pool.meta.dataLen[b])).toEqual([60, 590, 1514, 60, 590, 1514]);
    pool.put(burst);
    const frames = [frame(1), frame(2, 3)];
    const given = new GeneratorPort(pool, { frames });
    given.rxBurst(burst);
    expect(pool.read(burst.ids[1])).toEqual(frames[1]);
    expect(pool.read(burst.ids[2])).toEqual(frames[0]);
    pool.put(burst);
  });

  it('keeps to a rate', async () => {
    const gen = new GeneratorPort(pool, { rate: 1000 });
    const burst = new Burst(256);
    const t0 = performance.now();
    let n = 0;
    while (performance.now() - t0 < 100) {
      n += gen.rxBurst(burst);
      pool.put(burst);
      await new Promise((r) => setTimeout(r, 5));
    }
    expect(n).toBeGreaterThan(30); // timers run late on a busy machine; never more than the rate allows
    expect(n).toBeLessThanOrEqual(110);
  });

  it('rejects bad options by name', () => {
    expectVnfError(() => new GeneratorPort(pool, { size: 20 }), 'VNF_INVALID_ARGUMENT', 'size');
    expectVnfError(() => new GeneratorPort(pool, { srcIp: '10.0.0' }), 'VNF_INVALID_ARGUMENT', "srcIp '10.0.0'");
    expectVnfError(() => new GeneratorPort(pool, { dstMac: 'zz' }), 'VNF_INVALID_ARGUMENT', 'dstMac');
    expectVnfError(() => new GeneratorPort(pool, { frames: [new Uint8Array(4000)] }), 'VNF_INVALID_ARGUMENT', 'frame 0');
    expectVnfError(() => new GeneratorPort(pool, { id: 70000 }), 'VNF_INVALID_ARGUMENT', 'id');
    expectVnfError(() => new GeneratorPort(pool, { count: 2.5 }), 'VNF_INVALID_ARGUMENT', 'count must be an integer');
  });
});

describe('PcapPort', () => {
  function writeCapture(name: string, frames: Uint8Array[], gapNs = 1000n): string {
    const path = join(dir, name);
    const w = CaptureWriter.open(path, { nanosecond: true });
    frames.forEach((f, i) => {
      w.write(f, 1_700_000_000_000_000_000n + BigInt(i) * gapNs);
    });
    w.close();
    return path;
  }

  it('replays a capture into buffers and writes what it transmits', () => {
    const frames = Array.from({ length: 100 }, (_, i) => frame(i, i));
    const rxPath = writeCapture('in.pcap', frames);
    const txPath = join(dir, 'out.pcap');
    const port = new PcapPort(pool, { rxPath, txPath, id: 2 });
    const burst = new Burst(32);
    const seen: Uint8Array[] = [];
    while (!port.finished()) {
      port.rxBurst(burst);
      for (let i = 0; i < burst.count; i++) {
        expect(pool.meta.port[burst.ids[i]]).toBe(2);
        seen.push(pool.read(burst.ids[i]));
      }
      const n = burst.count;
      expect(port.txBurst(burst)).toBe(n);
    }
    expect(seen).toEqual(frames);
    port.close();
    const back = [...CaptureReader.open(txPath)].length;
    expect(back).toBe(100);
    const r = CaptureReader.open(txPath);
    const out = [];
    for (const p of r) out.push(p.data.slice());
    r.close();
    expect(out).toEqual(frames);
    expect(port.stats()).toMatchObject({ rxPackets: 100, txPackets: 100 });
  });

  it('loops, and counts frames too big for a buffer', () => {
    const rxPath = writeCapture('big.pcap', [frame(1), new Uint8Array(2000), frame(2)]);
    const port = new PcapPort(pool, { rxPath, loop: 3 });
    const burst = new Burst(32);
    let n = 0;
    while (!port.finished()) {
      n += port.rxBurst(burst);
      pool.put(burst);
    }
    expect(n).toBe(6);
    expect(port.stats().rxErrors).toBe(3);
    port.close();
  });

  it('keeps the capture timing when asked', async () => {
    const rxPath = writeCapture('timed.pcap', [frame(1), frame(2), frame(3)], 60_000_000n);
    const port = new PcapPort(pool, { rxPath, timing: 'capture' });
    const burst = new Burst(32);
    const t0 = performance.now();
    const times: number[] = [];
    while (!port.finished()) {
      const n = port.rxBurst(burst);
      for (let i = 0; i < n; i++) times.push(performance.now() - t0);
      pool.put(burst);
      await new Promise((r) => setTimeout(r, 2));
    }
    expect(times[0]).toBeLessThan(30);
    expect(times[1]).toBeGreaterThanOrEqual(59);
    expect(times[2]).toBeGreaterThanOrEqual(119);
    port.close();
  });

  it('ends a file with no usable packet even when told to loop for ever', () => {
    const empty = writeCapture('empty.pcap', []);
    const big = writeCapture('all-big.pcap', [new Uint8Array(3000)]);
    for (const rxPath of [empty, big]) {
      const port = new PcapPort(pool, { rxPath, loop: Number.POSITIVE_INFINITY });
      const burst = new Burst(32);
      expect(port.rxBurst(burst)).toBe(0);
      expect(port.finished()).toBe(true);
      port.close();
    }
  });

  it('keeps the capture timing across loops', async () => {
    const rxPath = writeCapture('timed-loop.pcap', [frame(1), frame(2)], 40_000_000n);
    const port = new PcapPort(pool, { rxPath, timing: 'capture', loop: 2 });
    const burst = new Burst(32);
    const t0 = performance.now();
    const times: number[] = [];
    while (!port.finished()) {
      const n = port.rxBurst(burst);
      for (let i = 0; i < n; i++) times.push(performance.now() - t0);
      pool.put(burst);
      await new Promise((r) => setTimeout(r, 2));
    }
    expect(times.length).toBe(4);
    // Each round: its first packet at once, the second 40 ms later.
    expect(times[1] - times[0]).toBeGreaterThanOrEqual(39);
    expect(times[3] - times[2]).toBeGreaterThanOrEqual(39);
    port.close();
  });

  it('names the problem with a bad file or option', () => {
    expectVnfError(() => new PcapPort(pool, {}), 'VNF_INVALID_ARGUMENT', 'rxPath');
    expectVnfError(() => new PcapPort(pool, { rxPath: join(dir, 'missing.pcap') }), 'VNF_IO', 'missing.pcap');
    const raw = join(dir, 'raw.pcap');
    const w = CaptureWriter.open(raw, { linkType: 101 });
    w.write(new Uint8Array(20), 0n);
    w.close();
    expectVnfError(() => new PcapPort(pool, { rxPath: raw }), 'VNF_CAPTURE_FORMAT', 'link type 101');
    expectVnfError(() => new PcapPort(pool, { txPath: join(dir, 'x.pcap'), timing: 'slow' as never }), 'VNF_INVALID_ARGUMENT', 'timing');
  });
});
