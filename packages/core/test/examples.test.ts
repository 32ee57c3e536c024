// The README's examples must keep running as they are written.
import { runExample } from '@vnf-sdk/test-support';
import { describe, expect, it } from 'vitest';

const run = (file: string, env: Record<string, string> = {}) => runExample(import.meta.dirname, file, env);

describe('examples', () => {
  it('quickstart.mjs prints the packet it wrote and a full pool', () => {
    const r = run('quickstart.mjs');
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/buffer \d+: mark 0, data deadbeef/);
    expect(r.stdout).toMatch(/inUse: 0/);
  });

  it('demo.mjs moves packets between two threads and returns every buffer', () => {
    const r = run('demo.mjs', { DEMO_PACKETS: '200000' });
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/moved 200000 packets between two threads/);
    expect(r.stdout).toMatch(/every TTL now 63/);
    expect(r.stdout).toMatch(/pool after: 16384\/16384 free, 0 in use/);
  });
});
