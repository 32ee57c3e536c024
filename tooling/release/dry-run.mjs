// Release dry run: packs every publishable @vnf-sdk package (npm pack --dry-run) and fails
// if one would ship without what its users need: its types, its README, its entry points,
// and for packages with a native addon, a binary for this platform.
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const repo = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const problems = [];
let packed = 0;

function collectEntryPoints(exp, out = []) {
  if (typeof exp === 'string') out.push(exp);
  else if (exp && typeof exp === 'object') for (const v of Object.values(exp)) collectEntryPoints(v, out);
  return out;
}

for (const group of ['packages', 'apps']) {
  const base = join(repo, group);
  if (!existsSync(base)) continue;
  for (const name of readdirSync(base)) {
    const dir = join(base, name);
    const pkgFile = join(dir, 'package.json');
    if (!existsSync(pkgFile)) continue;
    const pkg = JSON.parse(readFileSync(pkgFile, 'utf8'));
    if (pkg.private) continue;
    const where = `${pkg.name} (${group}/${name})`;
    const out = execFileSync('npm', ['pack', '--dry-run', '--json', '--ignore-scripts'], { cwd: dir, encoding: 'utf8' });
    const [info] = JSON.parse(out);
    const files = new Set(info.files.map((f) => f.path));
    packed++;
    const need = (cond, what) => {
      if (!cond) problems.push(`${where}: ${what}`);
    };
    need(pkg.name.startsWith('@vnf-sdk/'), 'name must be in the @vnf-sdk scope');
    need(pkg.engines?.node === '>=20', 'engines.node must be ">=20"');
    need(pkg.exports, 'has no exports map');
    need(files.has('README.md'), 'would ship without README.md');
    need(pkg.types && files.has(pkg.types.replace(/^\.\//, '')), `would ship without its types (${pkg.types ?? 'no "types" field'})`);
    for (const entry of collectEntryPoints(pkg.exports)) {
      if (entry.endsWith('package.json')) continue;
      need(files.has(entry.replace(/^\.\//, '')), `exports ${entry}, which is not in the package`);
    }
    // A package that loads a native addon must carry a way to get it.
    const usesNative = [...files].some((f) => f.startsWith('prebuilds/')) || name === 'core';
    if (usesNative) {
      const bin = `prebuilds/${process.platform}-${process.arch}/vnf_core.node`;
      need(files.has(bin), `would ship without its native binary ${bin} (run npm run build first)`);
    }
    console.log(`${where}: ${info.filename}, ${info.entryCount} files, ${(info.unpackedSize / 1024).toFixed(0)} KiB unpacked`);
  }
}

if (problems.length) {
  console.error(`\nrelease dry run FAILED:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
  process.exit(1);
}
console.log(`release dry run: ${packed} package(s) ready to publish`);
