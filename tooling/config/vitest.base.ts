// The one test configuration of every package: test/**/*.test.ts, timeouts long enough for
// worker threads and traffic through network namespaces, and test files one at a time, so
// that two files' worker threads or namespaces do not fight over a 2-core machine.
import { defineConfig } from 'vitest/config';

export const vitestBase = defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 300_000,
    hookTimeout: 60_000,
    fileParallelism: false,
  },
});
