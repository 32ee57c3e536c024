// Ships the freshly built addon inside the package, where the loader looks for it when the
// package is installed from the registry (prebuilds/<platform>-<arch>/vnf_core.node).
import { copyFileSync, existsSync, mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const pkg = join(dirname(fileURLToPath(import.meta.url)), '..');
const src = join(pkg, '..', '..', 'native', 'build', 'Release', 'vnf_core.node');
const dir = join(pkg, 'prebuilds', `${process.platform}-${process.arch}`);
if (!existsSync(src)) {
  console.error(`copy-prebuild: ${src} is missing; build native/ first (npm run build at the root)`);
  process.exit(1);
}
mkdirSync(dir, { recursive: true });
copyFileSync(src, join(dir, 'vnf_core.node'));
console.log(`copy-prebuild: ${join(dir, 'vnf_core.node')}`);
