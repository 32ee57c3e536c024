// Teardown guarantees: destroy leaves nothing, is idempotent, and what a crashed or killed
// process leaves behind is removed by its exit handlers or by the next sweep.
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { itWhen } from '@vnf-sdk/test-support';
import { describe, expect } from 'vitest';
import { listNetns, type Role, sweepStale, Topology } from '../src/index.js';
import { existing, netnsReason, pidGone } from './helpers.js';

const pkgDir = join(import.meta.dirname, '..');
const reason = netnsReason;

interface ChildReport {
  names: Record<Role, string>;
  pid: number;
}

/** Runs fixtures/crash.mjs in `mode`; `signal` is sent once it reported its topology. */
function runCrash(mode: string, signal?: NodeJS.Signals): Promise<{ report: ChildReport; code: number | null; signal: NodeJS.Signals | null; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [join(pkgDir, 'test', 'fixtures', 'crash.mjs'), mode], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let stderr = '';
    let report: ChildReport | undefined;
    child.stderr.setEncoding('utf8').on('data', (d: string) => {
      stderr += d;
    });
    child.stdout.setEncoding('utf8').on('data', (d: string) => {
      out += d;
      if (!report && out.includes('\n')) {
        report = JSON.parse(out.split('\n')[0]!) as ChildReport;
        if (signal) child.kill(signal);
      }
    });
    const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
    child.on('error', reject);
    child.on('close', (code, sig) => {
      clearTimeout(timer);
      if (!report) reject(new Error(`crash.mjs ${mode} reported nothing (${code ?? sig}): ${stderr}`));
      else resolve({ report, code, signal: sig, stderr });
    });
  });
}

describe('destroy', () => {
  itWhen(reason, 'removes the namespaces, kills tracked and stray processes, and is idempotent', async () => {
    const topo = await Topology.create();
    const names = Object.values(topo.names);
    expect(existing(names)).toEqual(names);
    const tracked = topo.spawn('h1', 'sleep', ['1000']);
    // A process the harness did not start (nor track) still holds a namespace alive.
    const stray = spawn('ip', ['netns', 'exec', topo.ns('h2'), 'sleep', '1000'], { stdio: 'ignore' });
    // One that ignores SIGTERM must get the SIGKILL.
    const stubborn = topo.spawn('rt', 'sh', ['-c', 'trap "" TERM; sleep 1000 & wait']);
    await new Promise((r) => setTimeout(r, 200));
    expect(topo.processes.size).toBe(2);
    const t0 = Date.now();
    await topo.destroy(500);
    expect(Date.now() - t0).toBeLessThan(5000);
    expect(existing(names)).toEqual([]);
    expect(topo.processes.size).toBe(0);
    expect(topo.destroyed).toBe(true);
    for (const p of [tracked, stray, stubborn]) expect(pidGone(p.pid!), `pid ${p.pid}`).toBe(true);
    expect(tracked.signalCode).toBe('SIGTERM');
    expect(stubborn.signalCode).toBe('SIGKILL');
    await topo.destroy(); // again: nothing to do, no error
    await expect(topo.ping('h1', '10.231.2.2')).rejects.toThrow(/destroyed/);
    expect(() => topo.spawn('h1', 'true')).toThrow(/destroyed/);
    expect(listNetns().filter((n) => n.startsWith(`vnft${process.pid}-`))).toEqual([]);
  });

  itWhen(reason, 'parallel topologies get distinct names and do not disturb each other', async () => {
    const [a, b] = await Promise.all([Topology.create(), Topology.create()]);
    try {
      expect(a!.ns('h1')).not.toBe(b!.ns('h1'));
      const [pa, pb] = await Promise.all([a!.ping('h1', '10.231.2.2', { count: 2 }), b!.ping('h2', '10.231.1.2', { count: 2 })]);
      expect(pa.received).toBe(2);
      expect(pb.received).toBe(2);
      await a!.destroy();
      expect((await b!.ping('h1', '10.231.2.2', { count: 1 })).received).toBe(1);
    } finally {
      await Promise.all([a!.destroy(), b!.destroy()]);
    }
  });

  itWhen(reason, 'a failure while building removes what was already made', async () => {
    const before = listNetns().filter((n) => n.startsWith(`vnft${process.pid}-`));
    await expect(Topology.create({ mtu: 10 })).rejects.toThrow(/mtu 10/);
    expect(listNetns().filter((n) => n.startsWith(`vnft${process.pid}-`))).toEqual(before);
  });
});

describe('cleanup when the creating process ends abnormally', () => {
  for (const [mode, sig, expected] of [
    ['throw', undefined, { code: 1 }],
    ['reject', undefined, { code: 1 }],
    ['exit', undefined, { code: 3 }],
    ['wait', 'SIGTERM', { signal: 'SIGTERM' }],
    ['wait', 'SIGINT', { signal: 'SIGINT' }],
  ] as const) {
    itWhen(reason, `${mode}${sig ? ` + ${sig}` : ''}: the exit handlers remove the namespaces and kill its processes`, async () => {
      const r = await runCrash(mode, sig);
      expect(existing(Object.values(r.report.names))).toEqual([]);
      expect(pidGone(r.report.pid)).toBe(true);
      if ('code' in expected) expect(r.code, r.stderr).toBe(expected.code);
      else expect(r.signal, r.stderr).toBe(expected.signal); // the signal still ends it as a signal
      if (mode !== 'exit' && !sig) expect(r.stderr).toContain('deliberate failure');
    });
  }

  itWhen(reason, 'SIGKILL: nothing can run in the process, the next sweepStale removes what it left', async () => {
    const r = await runCrash('sigkill');
    expect(r.signal).toBe('SIGKILL');
    const names = Object.values(r.report.names);
    expect(existing(names)).toEqual(names); // left behind, as expected
    const removed = sweepStale(); // (may also remove other dead runs' leftovers)
    expect(removed).toEqual(expect.arrayContaining(names));
    expect(existing(names)).toEqual([]);
    expect(pidGone(r.report.pid)).toBe(true); // the sleep inside was killed by the sweep
  });

  itWhen(reason, 'sweepStale leaves namespaces of live processes and foreign names alone', async () => {
    const topo = await Topology.create();
    const foreign = `vnftx${process.pid}`;
    execFileSync('ip', ['netns', 'add', foreign]);
    try {
      const removed = sweepStale();
      for (const n of [...Object.values(topo.names), foreign]) expect(removed).not.toContain(n);
      expect(existing(Object.values(topo.names))).toHaveLength(3);
      expect(existing([foreign])).toEqual([foreign]);
    } finally {
      execFileSync('ip', ['netns', 'del', foreign]);
      await topo.destroy();
    }
  });

  itWhen(
    reason,
    'failing vitest bodies: afterAll destroys, and a forgotten topology goes with the worker',
    async () => {
      const dir = mkdtempSync(join(tmpdir(), 'vnf-netns-fixture-'));
      const out = join(dir, 'out.jsonl');
      try {
        // npm workspaces hoist vitest to the repository's node_modules.
        const local = join(pkgDir, 'node_modules', '.bin', 'vitest');
        const bin = existsSync(local) ? local : join(pkgDir, '..', '..', 'node_modules', '.bin', 'vitest');
        let status = 0;
        let output = '';
        try {
          output = execFileSync(bin, ['run', '--root', pkgDir, '--config', 'test/fixtures/vitest.fixture.config.ts'], {
            cwd: pkgDir,
            env: { ...process.env, VNF_NETNS_FIXTURE_OUT: out, CI: '1' },
            encoding: 'utf8',
            stdio: ['ignore', 'pipe', 'pipe'],
            timeout: 120_000,
          });
        } catch (e) {
          const err = e as { status: number; stdout: string; stderr: string };
          status = err.status;
          output = err.stdout + err.stderr;
        }
        expect(status, output).toBe(1); // the two bodies failed
        expect(output).toMatch(/2 failed/);
        const reports = readFileSync(out, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as ChildReport);
        expect(reports).toHaveLength(2);
        for (const r of reports) {
          expect(existing(Object.values(r.names))).toEqual([]);
          expect(pidGone(r.pid)).toBe(true);
        }
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    },
    180_000,
  );
});
