import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 120_000,
    hookTimeout: 60_000,
    // Worker-thread tests spawn their own threads; keep files in one process at a time so
    // two of them do not fight over the machine's two cores.
    fileParallelism: false,
  },
});
