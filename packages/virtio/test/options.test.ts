// Bad options are refused before anything is opened, naming what is wrong; a backend that is
// not there is a clear error, not a hang.
import { Mempool } from '@vnf-sdk/core';
import { afterAll, describe, expect, it } from 'vitest';
import { VirtioUserPort } from '../src/index.js';

const pool = Mempool.create({ count: 256, name: 'virtio-options', hugepages: 'never' });
afterAll(() => pool.close());

describe('VirtioUserPort options', () => {
  it('refuses unknown options, a missing path, bad queue counts and ring sizes', () => {
    expect(() => new VirtioUserPort(pool, { path: '/tmp/x', colour: 1 } as never)).toThrow(/unknown option 'colour'/);
    expect(() => new VirtioUserPort(pool, { path: '' })).toThrow(/path \(the vhost-user socket\) is required/);
    expect(() => new VirtioUserPort(pool, { path: '/tmp/x', queues: 9 })).toThrow(/queues must be 1 to 8, got 9/);
    expect(() => new VirtioUserPort(pool, { path: '/tmp/x', queueSize: 1000 })).toThrow(/queueSize 1000 is not valid/);
    expect(() => new VirtioUserPort(pool, { path: '/tmp/x', id: 70000 })).toThrow(/id/);
  });

  it('says so when no backend listens, within the connect timeout', () => {
    const t0 = Date.now();
    expect(() => new VirtioUserPort(pool, { path: `/tmp/vnf-no-backend-${process.pid}.sock`, connectTimeoutMs: 200 })).toThrow(/virtio-user .*no-backend/);
    expect(Date.now() - t0).toBeLessThan(5000);
    expect(pool.stats().free).toBe(256);
  });
});
