// The README's example must keep running as written.
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { expect, it } from 'vitest';

it('examples/quickstart.mjs: the frontend sends three frames, the device echoes them, no buffer leaks', () => {
  const r = spawnSync(process.execPath, [join(import.meta.dirname, '..', 'examples', 'quickstart.mjs')], { encoding: 'utf8', timeout: 60_000 });
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
