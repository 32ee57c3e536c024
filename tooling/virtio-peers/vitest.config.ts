export { vitestBase as default } from '../../tooling/config/vitest.base.js';
