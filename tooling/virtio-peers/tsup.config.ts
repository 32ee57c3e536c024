import { defineConfig } from 'tsup';
import { tsupBase } from '../../tooling/config/tsup.base.js';

export default defineConfig(tsupBase);
