// The README's example must keep running as written.
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { expect, it } from 'vitest';

it('examples/quickstart.mjs matches and reports errors as the README says', () => {
  const r = spawnSync(process.execPath, [join(import.meta.dirname, '..', 'examples', 'quickstart.mjs')], { encoding: 'utf8', timeout: 60_000 });
  expect(r.stderr).toBe('');
  expect(r.stdout).toBe('syn to 192.0.2.7:443: permit (example.acl:2)\ndns to 8.8.8.8: reject (example.acl:3)\nVNF_CONFIG: bad.acl:1:14: dport: inverted range 443-80\n');
});
