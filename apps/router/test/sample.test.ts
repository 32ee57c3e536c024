// The bundled sample (config/sample.json, data/*.pcap) through the stages as the runtime
// will run it: what goes out of each port and what is dropped, by reason. The golden test
// with the real runtime and pcap ports comes with the wiring.
import { execFileSync } from 'node:child_process';
import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import type { Burst } from '@vnf-sdk/core';
import { CaptureReader, decode, findLayer, type IcmpLayer } from '@vnf-sdk/protocols';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../src/config.js';
import { burstOf, type RunResult, run, setup, testPool } from './helpers.js';

const root = join(import.meta.dirname, '..');
const config = () => loadConfig(join(root, 'config', 'sample.json'));
const frames = (name: string) => {
  const r = CaptureReader.open(join(root, 'data', name));
  const out = [...r].map((p) => p.data.slice());
  r.close();
  return out;
};

const EXPECTED_DROPS = {
  'arp-not-for-us': 1,
  'ttl-exceeded': 3,
  'no-route': 2,
  'too-big': 1,
  'malformed:truncated-ipv4': 1,
  'malformed:bad-ihl': 1,
  'bad-checksum': 1,
  'not-ipv4': 1,
  'local-not-handled': 1,
};

function check(r: RunResult) {
  // Every frame sent is intact: no decode error, every checksum right.
  for (const [port, list] of Object.entries(r.out)) {
    list.forEach((f, i) => {
      const d = decode(f);
      expect(d.error, `${port}[${i}]`).toBeUndefined();
      for (const l of d.layers) if ('checksumValid' in l && l.checksumValid !== null) expect(l.checksumValid, `${port}[${i}] ${l.type}`).toBe(true);
    });
  }
  const p0 = r.out.p0!.map((f) => decode(f));
  const icmp = p0.map((d) => findLayer(d, 'icmp') as IcmpLayer | undefined).filter((x) => x !== undefined);
  expect(p0.filter((d) => findLayer(d, 'arp')?.operation === 2)).toHaveLength(2);
  expect(icmp.map((l) => `${l.icmpType}/${l.code}`).sort()).toEqual(['0/0', '0/0', '0/0', '0/0', '11/0', '11/0', '11/0', '3/0', '3/0', '3/4']);
  const p1 = r.out.p1!.map((f) => decode(f));
  const forwarded = p1.filter((d) => findLayer(d, 'ipv4'));
  expect(forwarded).toHaveLength(11);
  for (const d of forwarded) {
    expect(findLayer(d, 'ethernet')!.src).toBe('02:00:00:00:02:01');
    expect(findLayer(d, 'ipv4')!.ttl).toBe(63);
    const to = findLayer(d, 'ipv4')!.dst;
    expect(findLayer(d, 'ethernet')!.dst).toBe(to === '10.0.2.3' ? '02:00:00:00:02:03' : '02:00:00:00:02:02');
  }
}

describe('the bundled sample', () => {
  it('is small and is what scripts/make-sample.mjs writes', () => {
    expect(statSync(join(root, 'data', 'sample.pcap')).size).toBeLessThan(100_000);
    const before = readFileSync(join(root, 'data', 'sample.pcap'));
    execFileSync(process.execPath, [join(root, 'scripts', 'make-sample.mjs')], { stdio: 'pipe' });
    expect(readFileSync(join(root, 'data', 'sample.pcap')).equals(before)).toBe(true);
  });

  it("routes the capture, 10.0.2.3's ARP reply arriving last: held packets go out behind it", () => {
    const s = setup({ config: config(), pool: testPool() });
    const bursts: Burst[] = [];
    const p0 = frames('sample.pcap');
    for (let i = 0; i < p0.length; i += 8) bursts.push(burstOf(s.pool, p0.slice(i, i + 8), 0, 64));
    bursts.push(burstOf(s.pool, frames('sample-p1.pcap'), 1, 64));
    const r = run(s, bursts);
    expect(r.drops).toEqual({ ...EXPECTED_DROPS, 'arp-held': 3, 'arp-reply-consumed': 1 });
    check(r);
    expect(s.pool.stats().inUse).toBe(0); // every buffer went out or was dropped
    // The one ARP request for 10.0.2.3 went out of p1.
    expect(r.out.p1!.filter((f) => findLayer(decode(f), 'arp'))).toHaveLength(1);
  });

  it("routes the capture, 10.0.2.3's ARP reply arriving first: sent straight away", () => {
    const s = setup({ config: config(), pool: testPool() });
    const bursts = [burstOf(s.pool, frames('sample-p1.pcap'), 1), burstOf(s.pool, frames('sample.pcap'), 0)];
    const r = run(s, bursts);
    expect(r.drops).toEqual({ ...EXPECTED_DROPS, 'arp-reply-consumed': 1 });
    check(r);
    expect(r.out.p1!.filter((f) => findLayer(decode(f), 'arp'))).toHaveLength(0);
  });
});
