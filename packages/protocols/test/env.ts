// Where the external test material is, and how tests that need it (or root, or a system
// tool) skip: visibly on a developer's machine, as a failure under VNF_REQUIRE_ALL=1 (CI).
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { it } from 'vitest';

/** ../shared/testdata beside the repository (VNF_SHARED_DIR overrides ../shared). */
export const SHARED_TESTDATA = join(process.env.VNF_SHARED_DIR ?? join(import.meta.dirname, '..', '..', '..', '..', 'shared'), 'testdata');
export const sharedMissing: string | null = existsSync(SHARED_TESTDATA) ? null : `${SHARED_TESTDATA} is absent (clone ../shared beside the repository)`;
export const requireAll = process.env.VNF_REQUIRE_ALL === '1';

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
