// The README's example must keep running as written.
import { runExample } from '@vnf-sdk/test-support';
import { expect, it } from 'vitest';

it('examples/quickstart.mjs: the frontend sends three frames, the device echoes them, no buffer leaks', () => {
  const r = runExample(import.meta.dirname, 'quickstart.mjs');
  expect(r.stderr).toBe('');
  expect(r.stdout).toBe(
    [
      'negotiated: MRG_RXBUF VERSION_1',
      'echo 0: 60 bytes from :02',
      'echo 1: 60 bytes from :02',
      'echo 2: 60 bytes from :02',
      'frontend {"tx":3,"rx":3}',
      'buffers in use: 0',
      '',
    ].join('\n'),
  );
}, 70_000);
