// rte_acl as the peer of our classifier (src/acl): our acl_bench writes the trace and our matches;
// rte_acl_ref.c (built here against the system's libdpdk) gives rte_acl's matches, build time and
// memory; dpdk-test-acl gives rte_acl's classification rate per algorithm on the same files.
// No dependencies beyond Node built-ins. Used by dpdk-diff.mjs and ../acl-suite.mjs.
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync } from 'node:fs';
import { delimiter, dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const HERE = dirname(fileURLToPath(import.meta.url));
export const REPO = join(HERE, '..', '..', '..');
export const BUILD = join(HERE, '.build'); // git-ignored (tooling/bench/acl/.gitignore)
export const ACL_BENCH = join(REPO, 'native', 'build-bench', 'acl_bench');
export const CLASSBENCH_DIR = process.env.VNF_CLASSBENCH_DIR ?? join(REPO, '..', 'shared', 'testdata', 'classbench', 'neurocuts');
export const SETS = ['acl1_1k', 'fw1_1k', 'ipc1_1k', 'acl1_10k', 'fw1_10k', 'ipc1_10k'];
const REF_SRC = join(HERE, 'rte_acl_ref.c');
const REF_BIN = join(BUILD, 'rte_acl_ref');

export const quote = (a) => (/^[\w@%+=:,./-]+$/.test(a) ? a : `'${a.replace(/'/g, `'\\''`)}'`);
const tail = (s, n = 1500) => (s.length > n ? '...' + s.slice(-n) : s);

export function which(cmd) {
  const dirs = [...(process.env.PATH ?? '').split(delimiter), '/usr/bin', '/usr/local/bin', '/usr/sbin'];
  return dirs.map((d) => join(d, cmd)).find((p) => existsSync(p)) ?? null;
}

/** Runs a program (no shell), records its command line, resolves { code, stdout, stderr }. */
export function run(commands, file, args, { timeoutMs = 600_000 } = {}) {
  const cmdline = [file, ...args].map(quote).join(' ');
  commands?.push(cmdline.replace(REPO + '/', ''));
  return new Promise((done) => {
    let stdout = '', stderr = '', timedOut = false;
    const child = spawn(file, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    const timer = setTimeout(() => { timedOut = true; child.kill('SIGKILL'); }, timeoutMs);
    child.stdout.on('data', (d) => { stdout += d; });
    child.stderr.on('data', (d) => { stderr = tail(stderr + d, 20000); });
    child.on('error', (e) => { clearTimeout(timer); done({ code: -1, stdout, stderr: stderr + e.message, cmdline, timedOut }); });
    child.on('close', (code, signal) => { clearTimeout(timer); done({ code: code ?? signal, stdout, stderr, cmdline, timedOut }); });
  });
}

export function check(r, what) {
  if (r.code === 0 && !r.timedOut) return r;
  throw new Error(`${what} ${r.timedOut ? 'timed out' : `exited with ${r.code}`}: ${r.cmdline}\nstderr tail:\n${tail(r.stderr)}\nstdout tail:\n${tail(r.stdout, 500)}`);
}

let prefixSeq = 0;
/** EAL options for one process: its own file prefix (removed afterwards), no hugepages, no PCI. */
export async function withEal(lcore, fn) {
  const prefix = `vnfacl${process.pid}_${prefixSeq++}`;
  const eal = ['-l', String(lcore), '--no-pci', '--no-huge', '-m', '1024', '--file-prefix', prefix, '--log-level=eal,error'];
  try { return await fn(eal); } finally {
    for (const base of ['/var/run/dpdk', process.env.XDG_RUNTIME_DIR && join(process.env.XDG_RUNTIME_DIR, 'dpdk'), '/tmp/dpdk']) {
      if (base) rmSync(join(base, prefix), { recursive: true, force: true });
    }
  }
}

/** Builds native/build-bench/acl_bench (make) and rte_acl_ref (gcc + pkg-config libdpdk). */
export async function buildTools(commands) {
  check(await run(commands, 'make', ['-s', '-C', join(REPO, 'native'), 'build-acl-bench']), 'make build-acl-bench');
  const pc = which('pkg-config'), gcc = which('gcc');
  if (!pc || !gcc) throw new Error('gcc or pkg-config not found (apt-get install gcc pkg-config dpdk-dev)');
  const cflags = check(await run(commands, pc, ['--cflags', 'libdpdk']), 'pkg-config --cflags libdpdk (apt-get install dpdk-dev)');
  const libs = check(await run(commands, pc, ['--libs', 'libdpdk']), 'pkg-config --libs libdpdk');
  mkdirSync(BUILD, { recursive: true });
  const args = [...cflags.stdout.trim().split(/\s+/), '-O2', '-Wall', '-o', REF_BIN, REF_SRC, ...libs.stdout.trim().split(/\s+/)];
  check(await run(commands, gcc, args), 'compiling rte_acl_ref.c');
  if (!which('dpdk-test-acl')) throw new Error('dpdk-test-acl not found (apt-get install dpdk)');
}

export function parseJsonLines(out) {
  const f = {};
  for (const line of out.split('\n')) if (line.startsWith('{')) { const o = JSON.parse(line); f[o.name] = o.value; }
  return f;
}

/** Our side: build + trace (+ matches), optionally timed. Returns the acl_bench figures. */
export async function runOurs(commands, rules, { packets, seed = 1, burst = 64, runs = 1, trace, matches, time = true }) {
  const args = [rules, '--packets', String(packets), '--seed', String(seed), '--burst', String(burst), '--runs', String(runs)];
  if (trace) args.push('--trace-out', trace);
  if (matches) args.push('--matches-out', matches);
  if (!time) args.push('--no-time');
  return parseJsonLines(check(await run(commands, ACL_BENCH, args), 'acl_bench').stdout);
}

/** rte_acl: matches (file), build seconds, runtime memory bytes. */
export async function runRef(commands, rules, trace, out) {
  const r = await withEal(0, (eal) => run(commands, REF_BIN, [...eal, '--', rules, trace, ...(out ? [out] : [])]));
  check(r, 'rte_acl_ref');
  const get = (k) => Number(new RegExp(`^${k} (\\S+)`, 'm').exec(r.stdout)?.[1]);
  return { rules: get('rules'), packets: get('packets'), buildSeconds: get('build_seconds'), memoryBytes: get('memory_bytes') };
}

/** dpdk-test-acl on the same files with one algorithm: { cyclesPerPkt, mpps } or null if it failed. */
export async function runTestAcl(commands, rules, trace, packets, alg, { iter = 3, burst = 64 } = {}) {
  const r = await withEal(0, (eal) => run(commands, which('dpdk-test-acl'), [
    ...eal, '--force-max-simd-bitwidth=512', '--',
    `--rulesf=${rules}`, `--tracef=${trace}`, `--tracenum=${packets}`, `--iter=${iter}`, `--tracestep=${burst}`,
    `--alg=${alg}`, '--verbose=1',
  ]));
  const m = /search_ip5tuples\s+@lcore \d+: \d+ iterations, (\d+) pkts, \d+ categories, \d+ cycles \(([\d.]+) sec\), ([\d.]+) cycles\/pkt, ([\d.]+) pkt\/sec/.exec(r.stdout);
  if (r.code !== 0 || !m) return null;
  return { cyclesPerPkt: Number(m[3]), mpps: Number(m[4]) / 1e6 };
}

/** Compares two match files (one integer per line); returns { packets, matched (by rte_acl), mismatches, examples }. */
export function compareMatches(oursFile, refFile) {
  const a = readFileSync(oursFile, 'utf8').trimEnd().split('\n');
  const b = readFileSync(refFile, 'utf8').trimEnd().split('\n');
  const examples = [];
  const matched = b.filter((x) => x !== '-1').length;
  let mismatches = Math.abs(a.length - b.length);
  for (let i = 0; i < Math.min(a.length, b.length); i++) {
    if (a[i] !== b[i]) { mismatches++; if (examples.length < 5) examples.push({ packet: i, ours: Number(a[i]), rteAcl: Number(b[i]) }); }
  }
  return { packets: a.length, matched, mismatches, examples };
}
