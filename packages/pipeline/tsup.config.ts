import { defineConfig } from 'tsup';
import { tsupBase } from '../../tooling/config/tsup.base.js';

// The worker thread's entry is built beside the index: Pipeline starts it by file name.
export default defineConfig({ ...tsupBase, entry: ['src/index.ts', 'src/worker.ts'] });
