// The one build configuration of every published package: ESM, CJS and type declarations
// for Node 20, from src/index.ts.
import type { Options } from 'tsup';

export const tsupBase: Options = {
  entry: ['src/index.ts'],
  format: ['esm', 'cjs'],
  dts: true,
  clean: true,
  sourcemap: true,
  target: 'node20',
  shims: true,
};
