// Runs the calling package's test suites (its directory is the working directory, as npm
// scripts run) again against the addon built with AddressSanitizer and UBSan
// (native/build-asan), so memory errors in the binding fail the tests, not production.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const pkg = process.cwd();
const addon = join(dirname(fileURLToPath(import.meta.url)), '..', 'build-asan', 'build', 'Release', 'vnf_core.node');
if (!existsSync(addon)) {
  console.error(`test-sanitized: ${addon} is missing; run: npm run build:asan -w @vnf-sdk/native`);
  process.exit(1);
}
// Node itself is not built with ASan, so its runtime must be preloaded.
const lib = (name) => spawnSync('g++', [`-print-file-name=${name}`], { encoding: 'utf8' }).stdout.trim();
const env = {
  ...process.env,
  VNF_NATIVE_PATH: addon,
  VNF_EXPECT_SANITIZED: '1',
  LD_PRELOAD: `${lib('libasan.so')} ${lib('libubsan.so')}`,
  // Node's own allocations at exit are not ours to judge; the C++ unit tests check leaks.
  ASAN_OPTIONS: 'detect_leaks=0:abort_on_error=1',
  UBSAN_OPTIONS: 'halt_on_error=1:print_stacktrace=1',
};
console.log('test-sanitized: running the suites against the ASan/UBSan addon');
// Arguments name test files to run (default: all of the package's).
const r = spawnSync('npx', ['vitest', 'run', ...process.argv.slice(2)], { cwd: pkg, env, stdio: 'inherit' });
process.exit(r.status ?? 1);
