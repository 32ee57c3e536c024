import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { itWhen } from '@vnf-sdk/test-support';
import { describe, expect } from 'vitest';

const root = join(import.meta.dirname, '..');
const cli = join(root, 'dist', 'cli.js');
const notBuilt = existsSync(cli) ? null : 'dist/cli.js is not built (npm run build)';
const vnfRouter = (...args: string[]) => spawnSync(process.execPath, [cli, ...args], { encoding: 'utf8' });

describe('vnf-router', () => {
  itWhen(notBuilt, '--check prints the router the config describes', () => {
    const r = vnfRouter(join(root, 'config', 'sample.json'), '--check');
    expect(r.status).toBe(0);
    expect(r.stdout).toContain('port p1: 10.0.2.1/24 02:00:00:00:02:01 mtu 1400');
    expect(r.stdout).toContain('route 10.9.0.0/16 -> via 10.0.2.2 on p1');
  });

  itWhen(notBuilt, 'with acl and conntrack: describes the table and prints its summary at the end', () => {
    const dir = mkdtempSync(join(tmpdir(), 'router-cli-'));
    const config = JSON.parse(readFileSync(join(root, 'config', 'sample.json'), 'utf8'));
    for (const p of config.ports) {
      p.rx = join(root, 'config', p.rx);
      p.tx = join(dir, p.tx);
    }
    writeFileSync(join(dir, 'fw.rules'), 'permit-and-track src 10.0.1.0/24\n');
    writeFileSync(join(dir, 'c.json'), JSON.stringify({ ...config, acl: { rules: 'fw.rules' }, conntrack: { sessions: 4096, timeouts: { udpUnreplied: 10 } } }));
    const r = vnfRouter(join(dir, 'c.json'));
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toContain('conntrack: 4096 sessions, timeouts udpUnreplied 10 s');
    expect(r.stdout).toMatch(/^conntrack: sessions [1-9]\d* of 4096, created [1-9]\d*, invalid 0, refused \(full\) 0$/m);
  });

  itWhen(notBuilt, 'names the file and the field of a bad config; usage without one', () => {
    const dir = mkdtempSync(join(tmpdir(), 'router-cli-'));
    const bad = join(dir, 'bad.json');
    writeFileSync(bad, JSON.stringify({ ports: [{ name: 'p0', driver: 'tap', ifname: 'tap0', mac: '02:00:00:00:00:01', address: '10.0.2.300/24' }] }));
    const r = vnfRouter(bad, '--check');
    expect(r.status).toBe(1);
    expect(r.stderr).toContain(`vnf-router: ${bad}: ports[0].address: '10.0.2.300/24' is not an IPv4 prefix`);
    const u = vnfRouter();
    expect(u.status).toBe(2);
    expect(u.stderr).toContain('usage: vnf-router <config.json> [--check]');
  });
});
