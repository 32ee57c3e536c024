// The README's example must keep running as written.
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { expect, it } from 'vitest';

it('examples/quickstart.mjs tracks a handshake as the README says', () => {
  const r = spawnSync(process.execPath, [join(import.meta.dirname, '..', 'examples', 'quickstart.mjs')], { encoding: 'utf8', timeout: 60_000 });
  expect(r.stderr).toBe('');
  expect(r.stdout).toBe('SYN: port:out\nSYN-ACK: port:out\nACK: port:out\nSYN+FIN: drop:invalid\nsessions: 1, created: 1, invalid: 1\n');
});
