// Failures leave nothing behind: a testpmd that cannot start, one killed under the harness,
// a QEMU that cannot reach its back-end.
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { itWhen } from '@vnf-sdk/test-support';
import { afterAll, describe, expect } from 'vitest';
import { livePeers, QemuGuest, qemuUnavailable, runtimeDirs, Testpmd, testpmdUnavailable, waitExit } from '../src/index.js';

describe('cleanup', () => {
  const dir = mkdtempSync(join(tmpdir(), 'vnf-vc-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  itWhen(testpmdUnavailable(), 'a testpmd that fails to start rejects with its output and leaves no files', async () => {
    const socket = join(dir, 'bad.sock');
    const err = await Testpmd.create({ role: 'vhost', socket, devargs: ['no_such_devarg=1'] }).catch((e: Error) => e);
    expect(err).toBeInstanceOf(Error);
    expect((err as Error).message).toMatch(/exited|not seen/);
    expect((err as Error).message).toMatch(/EAL|net_vhost/);
    expect(existsSync(socket)).toBe(false);
    expect(livePeers()).toBe(0);
  });

  itWhen(testpmdUnavailable(), 'a testpmd killed behind our back: stop() still removes its socket and runtime directory', async () => {
    const socket = join(dir, 'killed.sock');
    const t = await Testpmd.create({ role: 'vhost', socket, forwardMode: 'rxonly' });
    await t.waitListening();
    expect(runtimeDirs(t.filePrefix).some((d) => existsSync(d))).toBe(true);
    t.child.kill('SIGKILL');
    await waitExit(t.child, 5000);
    await expect(t.command('show port stats all')).rejects.toThrow(/killed by SIGKILL/);
    expect((await t.stop()).ended).toBe('already');
    expect(existsSync(socket)).toBe(false);
    expect(runtimeDirs(t.filePrefix).some((d) => existsSync(d))).toBe(false);
  });

  itWhen(qemuUnavailable(), 'a QEMU with no back-end to connect to fails fast and leaves no work directory', async () => {
    const g = QemuGuest.boot({ socket: join(dir, 'nobody.sock') });
    try {
      await expect(g.waitMarker('ready', 30_000)).rejects.toThrow(/exited with code 1[\s\S]*nobody\.sock/);
    } finally {
      await g.stop();
    }
    expect(existsSync(g.workDir)).toBe(false);
  });
});
