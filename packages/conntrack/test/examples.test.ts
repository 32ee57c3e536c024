// The README's example must keep running as written.
import { runExample } from '@vnf-sdk/test-support';
import { expect, it } from 'vitest';

it('examples/quickstart.mjs tracks a handshake as the README says', () => {
  const r = runExample(import.meta.dirname, 'quickstart.mjs');
  expect(r.stderr).toBe('');
  expect(r.stdout).toBe('SYN: port:out\nSYN-ACK: port:out\nACK: port:out\nSYN+FIN: drop:invalid\nsessions: 1, created: 1, invalid: 1\n');
});
