// Peers of the burst parser (packages/protocols parseBurst) on the benchmark capture mix.pcap,
// measured in the same run as our figure:
//   - native/bench/parse_bench.cc: the same parse in plain C++ over the same memory layout
//     (2048-byte stride, 256-byte headroom, bursts of 32, ptype + six offsets in SoA arrays, and
//     the outer and inner 5-tuples read in the same pass, as parser.parse(burst, outer, inner)
//     does): the machine's limit for a plain parser;
//   - tooling/bench/gopacket/main.go: Go gopacket's zero-allocation DecodingLayerParser, with the
//     default layer container and with DecodingLayerSparse, extracting the same tuples.
// parse_bench also prints `keys-digest`, a digest of the outer and inner keys it stored (the FlowKeys
// arrays, burst after burst), which the protocols suite compares with the JS parser's
// (protocols-js.mjs keyRecords); cppKeyRecords() gets the records themselves (--keys-dump).
// Both print JSON lines; each process reports the median of 5 repetitions of ~0.2 s per figure,
// and we report the median over `runs` processes, the C++ and Go processes taking turns so a burst
// of machine noise hits both. Both programs print a digest of the tuples they extracted
// (`tupleDigest`); equal digests mean they read the same addresses, protocols and ports.
//
//   import { runParsePeers } from './parse-peers.mjs'
//   const peers = await runParsePeers({ runs: 5 })
//   CLI: node tooling/bench/parse-peers.mjs [runs] [--shuffled]   // prints the JSON result
//
// Result: { cpp: { mpps, bestMpps, [shuffledMpps], runs, histogram, tupleDigest, keysDigests, commands },
//           gopacket: { mpps, sparseMpps, runs, sparseRuns, tupleDigest, commands }
//                     | { available: false, reason },
//           tuplesMatch, pcap, commands }
// or { available: false, reason, commands } when the capture is missing or the C++ side fails.
// Node built-ins only; every child process has a timeout.
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const HERE = dirname(fileURLToPath(import.meta.url));
const repo = join(HERE, '..', '..');
const PCAP = join(repo, '..', 'shared', 'testdata', 'bench', 'mix.pcap');
const CPP_BIN = join(repo, 'native', 'build-bench', 'parse_bench');
const GO_DIR = join(HERE, 'gopacket');
const GO_BIN = join(GO_DIR, '.build', 'gopacket-parse'); // .build/ is git-ignored
const GOPATH = '/usr/share/gocode';
const GOPACKET_SRC = join(GOPATH, 'src', 'github.com', 'google', 'gopacket', 'layers');
const GO_MIN_SEC = 0.2; // seconds per repetition inside the Go program (5 repetitions)

const BUILD_TIMEOUT_MS = 300_000;
const RUN_TIMEOUT_MS = 120_000;

const quote = (a) => (/^[\w@%+=:,./-]+$/.test(a) ? a : `'${a.replace(/'/g, `'\\''`)}'`);
const tail = (s, n = 1500) => (s.length > n ? '...' + s.slice(-n) : s);

function median(values) {
  const v = values.filter((x) => typeof x === 'number' && Number.isFinite(x)).sort((a, b) => a - b);
  if (v.length === 0) return null;
  const m = v.length >> 1;
  return v.length % 2 ? v[m] : (v[m - 1] + v[m]) / 2;
}

function which(cmd) {
  const dirs = [...(process.env.PATH ?? '').split(delimiter), '/usr/bin', '/usr/local/bin', '/usr/lib/go/bin'];
  return dirs.filter(Boolean).map((d) => join(d, cmd)).find((p) => existsSync(p)) ?? null;
}

class PeerError extends Error {}

// Runs a program directly (no shell) with a timeout that SIGKILLs it. `shown` is the equivalent
// shell command line, recorded in `commands`.
function run(commands, file, args, { cwd, env, timeoutMs, shown }) {
  const cmdline = shown ?? [file, ...args].map(quote).join(' ');
  commands.push(cmdline);
  return new Promise((done) => {
    let stdout = '';
    let stderr = '';
    let timedOut = false;
    const child = spawn(file, args, { cwd, env: env ?? process.env, stdio: ['ignore', 'pipe', 'pipe'] });
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, timeoutMs);
    child.stdout.on('data', (d) => {
      stdout += d;
    });
    child.stderr.on('data', (d) => {
      stderr = tail(stderr + d, 50_000);
    });
    child.on('error', (e) => {
      clearTimeout(timer);
      done({ code: -1, stdout, stderr: stderr + e.message, cmdline, timedOut });
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      done({ code: code ?? signal, stdout, stderr, cmdline, timedOut });
    });
  });
}

function check(r, what) {
  if (r.timedOut) throw new PeerError(`${what} timed out: ${r.cmdline}`);
  if (r.code !== 0) throw new PeerError(`${what} failed (${r.code}): ${r.cmdline}\n${tail(r.stderr)}`);
  return r;
}

/** { name: value } from JSON lines on stdout. */
function figures(stdout) {
  const out = {};
  for (const line of stdout.split('\n')) {
    if (!line.startsWith('{')) continue;
    try {
      const f = JSON.parse(line);
      if (typeof f.name === 'string') out[f.name] = f.value;
    } catch {
      // not a figure
    }
  }
  return out;
}

// parse_bench's stderr histogram lines: "    1233  30.1%  0x00000221 ether|ipv4|tcp"
function histogram(stderr) {
  const rows = [];
  for (const m of stderr.matchAll(/^\s+(\d+)\s+[\d.]+%\s+0x([0-9a-f]{8})\s+(\S+)$/gm)) {
    rows.push({ ptype: Number.parseInt(m[2], 16), name: m[3], count: Number(m[1]) });
  }
  return rows;
}

const digest = (stderr) => stderr.match(/tuple-digest=([0-9a-f]{16})/)?.[1] ?? null;
const keysDigest = (stderr) => stderr.match(/keys-digest=([0-9a-f]{16})/)?.[1] ?? null;

async function buildCpp(commands) {
  check(
    await run(commands, 'make', ['-s', '-C', join(repo, 'native'), 'build-parse-bench'], {
      timeoutMs: BUILD_TIMEOUT_MS,
      shown: 'make -s -C native build-parse-bench',
    }),
    'building parse_bench',
  );
}

async function cppOnce(commands, shuffled) {
  const args = shuffled ? [PCAP, '--shuffled'] : [PCAP];
  const r = check(
    await run(commands, CPP_BIN, args, {
      timeoutMs: RUN_TIMEOUT_MS,
      shown: `native/build-bench/parse_bench ${args.map(quote).join(' ')}`,
    }),
    'parse_bench',
  );
  const f = figures(r.stdout);
  if (typeof f['parse-mix-cpp'] !== 'number') throw new PeerError(`parse_bench printed no parse-mix-cpp figure:\n${tail(r.stdout)}`);
  return {
    mpps: f['parse-mix-cpp'],
    bestMpps: f['parse-mix-cpp-best'],
    shuffledMpps: f['parse-mix-cpp-shuffled'],
    histogram: histogram(r.stderr),
    tupleDigest: digest(r.stderr),
    keysDigest: keysDigest(r.stderr),
  };
}

/**
 * Builds parse_bench and has it write the outer and inner keys it stores for every packet of
 * `pcap` (default mix.pcap), burst after burst, as records (see protocols-js.mjs keyRecords):
 * { records: Buffer, keysDigest, commands }, or { available: false, reason, commands }.
 */
export async function cppKeyRecords(pcap = PCAP) {
  const commands = [];
  const dir = mkdtempSync(join(tmpdir(), 'parse-keys-'));
  try {
    await buildCpp(commands);
    const file = join(dir, 'keys.bin');
    const args = ['--keys-dump', file, pcap];
    const r = check(
      await run(commands, CPP_BIN, args, {
        timeoutMs: RUN_TIMEOUT_MS,
        shown: `native/build-bench/parse_bench ${args.map(quote).join(' ')}`,
      }),
      'parse_bench --keys-dump',
    );
    return { records: readFileSync(file), keysDigest: keysDigest(r.stderr), commands };
  } catch (e) {
    if (!(e instanceof PeerError)) throw e;
    return { available: false, reason: e.message, commands };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

// Builds the Go benchmark, or returns the reason it cannot be built here.
async function buildGo(commands) {
  const go = which('go');
  if (!go) return { available: false, reason: '`go` not found (Debian: apt-get install golang-go golang-github-google-gopacket-dev)' };
  if (!existsSync(GOPACKET_SRC)) {
    return { available: false, reason: `gopacket sources not found in ${GOPACKET_SRC} (Debian: apt-get install golang-github-google-gopacket-dev)` };
  }
  mkdirSync(join(GO_DIR, '.build'), { recursive: true });
  const env = { ...process.env, GO111MODULE: 'off', GOPATH, GOFLAGS: '' };
  // Go needs a build cache; without HOME (or XDG_CACHE_HOME) keep it next to the binary.
  if (!env.GOCACHE && !env.HOME && !env.XDG_CACHE_HOME) env.GOCACHE = join(GO_DIR, '.build', 'gocache');
  const r = await run(commands, go, ['build', '-o', '.build/gopacket-parse', '.'], {
    cwd: GO_DIR,
    env,
    timeoutMs: BUILD_TIMEOUT_MS,
    shown: `cd tooling/bench/gopacket && GO111MODULE=off GOPATH=${GOPATH} go build -o .build/gopacket-parse .`,
  });
  if (r.timedOut || r.code !== 0) return { available: false, reason: `go build failed (${r.timedOut ? 'timeout' : r.code}): ${tail(r.stderr)}` };
  return { available: true };
}

async function goOnce(commands) {
  const args = ['-runs', '5', '-min', String(GO_MIN_SEC), PCAP];
  const r = check(
    await run(commands, GO_BIN, args, {
      timeoutMs: RUN_TIMEOUT_MS,
      shown: `tooling/bench/gopacket/.build/gopacket-parse ${args.map(quote).join(' ')}`,
    }),
    'gopacket-parse',
  );
  const f = figures(r.stdout);
  if (typeof f['parse-mix-gopacket'] !== 'number') throw new PeerError(`gopacket-parse printed no parse-mix-gopacket figure:\n${tail(r.stdout)}`);
  return { mpps: f['parse-mix-gopacket'], sparseMpps: f['parse-mix-gopacket-sparse'], tupleDigest: digest(r.stderr) };
}

/**
 * Builds and runs the C++ and gopacket parse benchmarks on mix.pcap, `runs` processes each
 * (taking turns), and returns the medians. `shuffled` also measures the C++ loop with the packets
 * of each burst visited in a different order every pass (cpp.shuffledMpps): the in-order loop
 * repeats one 4096-packet sequence, which the branch predictor partly learns.
 */
export async function runParsePeers({ runs = 5, shuffled = false } = {}) {
  const commands = [];
  if (!existsSync(PCAP)) {
    const reason = `benchmark capture not found: ${PCAP}`;
    return { available: false, reason, cpp: { available: false, reason }, gopacket: { available: false, reason }, commands };
  }
  const cppCommands = [];
  const goCommands = [];
  try {
    await buildCpp(cppCommands);
    let gopacket = await buildGo(goCommands);
    const cppRuns = [];
    const goRuns = [];
    for (let i = 0; i < Math.max(1, runs); i++) {
      cppRuns.push(await cppOnce(cppCommands, shuffled));
      if (gopacket.available) {
        try {
          goRuns.push(await goOnce(goCommands));
        } catch (e) {
          if (!(e instanceof PeerError)) throw e;
          gopacket = { available: false, reason: e.message };
        }
      }
    }
    const cpp = {
      mpps: median(cppRuns.map((r) => r.mpps)),
      bestMpps: Math.max(...cppRuns.map((r) => r.bestMpps ?? r.mpps)),
      runs: cppRuns.map((r) => r.mpps),
      ...(shuffled ? { shuffledMpps: median(cppRuns.map((r) => r.shuffledMpps)) } : {}),
      histogram: cppRuns[0].histogram,
      tupleDigest: cppRuns[0].tupleDigest,
      keysDigests: [...new Set(cppRuns.map((r) => r.keysDigest))],
      commands: [...new Set(cppCommands)],
    };
    if (gopacket.available) {
      gopacket = {
        mpps: median(goRuns.map((r) => r.mpps)),
        sparseMpps: median(goRuns.map((r) => r.sparseMpps)),
        runs: goRuns.map((r) => r.mpps),
        sparseRuns: goRuns.map((r) => r.sparseMpps),
        tupleDigest: goRuns[0].tupleDigest,
        commands: [...new Set(goCommands)],
      };
    }
    commands.push(...new Set([...cppCommands, ...goCommands]));
    const tuplesMatch = gopacket.tupleDigest ? gopacket.tupleDigest === cpp.tupleDigest : null;
    return { cpp, gopacket, tuplesMatch, pcap: PCAP, commands };
  } catch (e) {
    commands.push(...new Set([...cppCommands, ...goCommands]));
    const reason = e instanceof PeerError ? e.message : `unexpected error: ${e?.stack ?? e}`;
    return { available: false, reason, cpp: { available: false, reason }, gopacket: { available: false, reason: 'not run' }, commands };
  }
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const args = process.argv.slice(2);
  const result = await runParsePeers({
    runs: Number(args.find((a) => /^\d+$/.test(a))) || 5,
    shuffled: args.includes('--shuffled'),
  });
  console.log(JSON.stringify(result, null, 2));
  process.exitCode = result.available === false ? 1 : 0;
}
