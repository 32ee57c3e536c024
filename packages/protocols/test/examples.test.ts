// The README's example must keep running as written.
import { runExample } from '@vnf-sdk/test-support';
import { expect, it } from 'vitest';

it('examples/quickstart.mjs parses what it built and wrote', () => {
  const r = runExample(import.meta.dirname, 'quickstart.mjs');
  expect(r.stderr).toBe('');
  expect(r.status).toBe(0);
  expect(r.stdout).toContain('packet 2: ether|ipv4|udp|vxlan|inner_ether|inner_ipv4|inner_tcp, protocol 17, ports 49152 -> 4789, TTL 64, VNI 42, inner ports 1234 -> 80');
  expect(r.stdout).toContain('packet 3: dropped, truncated l2');
});
