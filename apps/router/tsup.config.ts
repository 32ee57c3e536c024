import { defineConfig } from 'tsup';
import { tsupBase } from '../../tooling/config/tsup.base.js';

// An application: ESM only, the library entry and the command.
export default defineConfig({ ...tsupBase, entry: ['src/index.ts', 'src/cli.ts'], format: ['esm'] });
