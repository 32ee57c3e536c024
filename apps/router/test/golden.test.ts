// The router end to end on the real runtime: the bundled capture in through pcap ports, the
// output captures compared packet by packet with the golden ones in test/golden, and every
// packet sent checked by tshark (checksums, TTL). Regenerate the golden files after an
// intended change with: node dist/cli.js config/sample.json && cp config/out-p*.pcap test/golden/
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CaptureReader } from '@vnf-sdk/protocols';
import { itWhen } from '@vnf-sdk/test-support';
import { afterAll, describe, expect } from 'vitest';

const root = join(import.meta.dirname, '..');
const cli = join(root, 'dist', 'cli.js');
const notBuilt = existsSync(cli) ? null : 'dist/cli.js is not built (npm run build)';
const tshark = spawnSync('tshark', ['-v'], { encoding: 'utf8' }).status === 0 ? null : 'tshark is not installed (apt-get install tshark)';
const dir = mkdtempSync(join(tmpdir(), 'router-golden-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function frames(path: string): Uint8Array[] {
  const r = CaptureReader.open(path);
  const out = [...r].map((p) => p.data.slice());
  r.close();
  return out;
}

function runSample(): { p0: string; p1: string; stdout: string } {
  const config = JSON.parse(readFileSync(join(root, 'config', 'sample.json'), 'utf8'));
  config.ports[0].rx = join(root, 'data', 'sample.pcap');
  config.ports[1].rx = join(root, 'data', 'sample-p1.pcap');
  config.ports[0].tx = join(dir, 'out-p0.pcap');
  config.ports[1].tx = join(dir, 'out-p1.pcap');
  const path = join(dir, 'sample.json');
  writeFileSync(path, JSON.stringify(config));
  const stdout = execFileSync(process.execPath, [cli, path], { encoding: 'utf8' });
  return { p0: config.ports[0].tx, p1: config.ports[1].tx, stdout };
}

describe('vnf-router on the bundled capture (golden)', () => {
  itWhen(notBuilt, 'writes exactly the golden output captures, and prints its counters', () => {
    const out = runSample();
    expect(frames(out.p0)).toEqual(frames(join(root, 'test', 'golden', 'out-p0.pcap')));
    expect(frames(out.p1)).toEqual(frames(join(root, 'test', 'golden', 'out-p1.pcap')));
    expect(out.stdout).toContain('port p0: rx 29 (drops 0, errors 0), tx 12');
    expect(out.stdout).toContain('drop ip4:ttl-exceeded: 3');
    expect(out.stdout).toContain('drop ip4:no-route: 2');
  });

  itWhen(notBuilt ?? tshark, 'sends only packets tshark finds valid: checksums good, forwarded TTL 63', () => {
    const out = runSample();
    for (const file of [out.p0, out.p1]) {
      const fields = ['frame.number', 'ip.ttl', 'ip.checksum.status', 'udp.checksum.status', 'tcp.checksum.status', 'icmp.checksum.status', 'ip.src'];
      const lines = execFileSync(
        'tshark',
        ['-r', file, '-o', 'ip.check_checksum:TRUE', '-o', 'udp.check_checksum:TRUE', '-o', 'tcp.check_checksum:TRUE', '-T', 'fields', ...fields.flatMap((f) => ['-e', f])],
        { encoding: 'utf8' },
      )
        .trim()
        .split('\n');
      expect(lines.length).toBe(12);
      for (const line of lines) {
        const [n, ttl, ipStatus, ...rest] = line.split('\t');
        // tshark: 1 = good, 0 = bad, 2 = not verified (headers quoted in an ICMP error).
        if (ipStatus) expect(ipStatus.split(',')[0], `${file} frame ${n} ip checksum`).toBe('1');
        const statuses = [ipStatus, ...rest.slice(0, 3)].join(',').split(',').filter((s) => s !== '');
        for (const s of statuses) expect(s, `${file} frame ${n}`).not.toBe('0');
        if (file === out.p1 && ttl) expect(ttl, `${file} frame ${n}`).toBe('63');
      }
    }
  });
});

