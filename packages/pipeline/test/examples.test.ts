// The README's example must keep running as written.
import { runExample } from '@vnf-sdk/test-support';
import { expect, it } from 'vitest';

it('examples/quickstart.mjs runs, traces and stops with a full pool', () => {
  const r = runExample(import.meta.dirname, 'quickstart.mjs');
  expect(r.stderr).toBe('');
  expect(r.status).toBe(0);
  expect(r.stdout).toMatch(/trace: ttl -> stage:split \{"ipv4.ttl":\[64,63\],"ipv4.checksum":\[\d+,\d+\]\}/);
  expect(r.stdout).toContain('trace: left by port:odd');
  expect(r.stdout).toContain('pool in use 0');
});
