// The README's example must keep running as written.
import { runExample } from '@vnf-sdk/test-support';
import { expect, it } from 'vitest';

it('examples/quickstart.mjs matches and reports errors as the README says', () => {
  const r = runExample(import.meta.dirname, 'quickstart.mjs');
  expect(r.stderr).toBe('');
  expect(r.stdout).toBe('syn to 192.0.2.7:443: permit (example.acl:2)\ndns to 8.8.8.8: reject (example.acl:3)\nVNF_CONFIG: bad.acl:1:14: dport: inverted range 443-80\n');
});

it('examples/yaml-rules.mjs reads examples/firewall.yaml as the README says', () => {
  const r = runExample(import.meta.dirname, 'yaml-rules.mjs');
  expect(r.stderr).toBe('');
  expect(r.stdout).toBe(
    [
      'syn to 192.0.2.7:443: permit (firewall.yaml:4)',
      'ping from 10.1.2.3: permit (firewall.yaml:12)',
      'udp from 10.1.2.3 on port 2: mark 7 (firewall.yaml:16)',
      'VNF_CONFIG: bad.yaml:3:14: dstPort: inverted range 443-80',
      "VNF_CONFIG: bad.yaml:3:5: unknown field 'dport' (did you mean dstPort?)",
      '',
    ].join('\n'),
  );
});

it('examples/pipeline.mjs classifies through a pipeline worker and swaps a set as the README says', () => {
  const r = runExample(import.meta.dirname, 'pipeline.mjs', {}, 120_000);
  expect(r.stderr).toBe('');
  expect(r.stdout).toBe(
    [
      'v1: 3 rules, built in < 0.1 s, memory reported',
      'v2: generation 2, 3 rules',
      'classified 400000: out and drops add up',
      'telnet rejected: 100000',
      'v2.acl:1: permit matched',
      'v2.acl:2: reject matched',
      'v2.acl:3: permit matched',
      'pool in use after stop: 0',
      '',
    ].join('\n'),
  );
});
