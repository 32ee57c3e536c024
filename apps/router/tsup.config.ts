import { defineConfig } from 'tsup';
import { tsupBase } from '../../tooling/config/tsup.base.js';

// An application: ESM only, the library entry, the command and the graph module its workers load.
export default defineConfig({ ...tsupBase, entry: ['src/index.ts', 'src/cli.ts', 'src/graph.ts'], format: ['esm'] });
