// Helpers shared by every package's tests.
//
// Tests that need root, a system tool or the external test material skip with a visible
// reason on a developer's machine; with VNF_REQUIRE_ALL=1 (set by CI) such a skip is a
// failure instead, so nothing silently stops running.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { expect, it } from 'vitest';

export const requireAll = process.env.VNF_REQUIRE_ALL === '1';
export const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;

/** `it` when `reason` is null; otherwise a skipped test (or a failing one under VNF_REQUIRE_ALL). */
export function itWhen(reason: string | null, name: string, fn: () => unknown | Promise<unknown>, timeout?: number) {
  if (reason === null) return it(name, fn, timeout);
  if (requireAll) {
    return it(name, () => {
      throw new Error(`required test cannot run (VNF_REQUIRE_ALL=1): ${reason}`);
    });
  }
  console.warn(`[skip] ${name}: ${reason}`);
  return it.skip(`${name} [skipped: ${reason}]`, fn);
}

/** ../shared/testdata beside the repository (VNF_SHARED_DIR overrides ../shared). */
export const SHARED_TESTDATA = join(process.env.VNF_SHARED_DIR ?? join(import.meta.dirname, '..', '..', '..', 'shared'), 'testdata');

/** Why the shared test data cannot be used, or null when it is there. */
export const sharedMissing: string | null = existsSync(SHARED_TESTDATA)
  ? null
  : `${SHARED_TESTDATA} is absent (clone ../shared beside the repository)`;

/**
 * Asserts that `fn` throws a VnfError with this code and a message matching every part.
 * (By name, not instanceof: a test may load the package from src/ while a helper or
 * worker loads it from dist/, two copies of the same class.)
 */
export function expectVnfError(fn: () => unknown, code: string, ...message: Array<string | RegExp>): Error & { code: string } {
  let err: unknown;
  try {
    fn();
  } catch (e) {
    err = e;
  }
  expect(err, `expected a VnfError ${code}`).toBeInstanceOf(Error);
  const e = err as Error & { code: string };
  expect(e.name).toBe('VnfError');
  expect(e.code).toBe(code);
  for (const part of message) {
    if (typeof part === 'string') expect(e.message).toContain(part);
    else expect(e.message).toMatch(part);
  }
  return e;
}

/**
 * Runs one of a package's README examples as a user would (`node examples/<file>`, found
 * beside the calling test's directory), for at most `timeoutMs`: its exit status and output.
 */
export function runExample(testDir: string, file: string, env: Record<string, string> = {}, timeoutMs = 60_000) {
  return spawnSync(process.execPath, [join(testDir, '..', 'examples', file)], {
    encoding: 'utf8',
    env: { ...process.env, ...env },
    timeout: timeoutMs,
  });
}
