import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, writeFileSync } from 'node:fs';
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
