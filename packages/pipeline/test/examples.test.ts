// The README's example must keep running as written.
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { expect, it } from 'vitest';

it('examples/quickstart.mjs runs, traces and stops with a full pool', () => {
  const r = spawnSync(process.execPath, [join(import.meta.dirname, '..', 'examples', 'quickstart.mjs')], { encoding: 'utf8', timeout: 60_000 });
  expect(r.stderr).toBe('');
  expect(r.status).toBe(0);
  expect(r.stdout).toMatch(/trace: ttl -> stage:split \{"ipv4.ttl":\[64,63\],"ipv4.checksum":\[\d+,\d+\]\}/);
  expect(r.stdout).toContain('trace: left by port:odd');
  expect(r.stdout).toContain('pool in use 0');
});
