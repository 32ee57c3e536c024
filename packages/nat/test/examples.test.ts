// The README's example must keep running as written.
import { runExample } from '@vnf-sdk/test-support';
import { expect, it } from 'vitest';

it('examples/quickstart.mjs translates, filters and logs as the README says', () => {
  const r = runExample(import.meta.dirname, 'quickstart.mjs');
  expect(r.stderr).toBe('');
  expect(r.stdout).toBe(
    [
      'query: stage:route 198.51.100.1:5000 -> 203.0.113.53:53',
      'answer: stage:route 203.0.113.53:53 -> 10.0.0.2:5000',
      'unsolicited: drop:filtered 192.0.2.66:53 -> 198.51.100.1:5000',
      '<time> mapping-created udp 10.0.0.2:5000 -> 198.51.100.1:5000',
      'sessions: 1, mappings: 1, filtered: 1',
      '',
    ].join('\n'),
  );
});
