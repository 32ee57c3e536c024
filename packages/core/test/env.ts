// Tests that need root or a kernel feature skip with a visible reason on a developer's
// machine; with VNF_REQUIRE_ALL=1 (set by CI) such a skip is a failure instead, so nothing
// silently stops running.
import { it } from 'vitest';

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
