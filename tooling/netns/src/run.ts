// Running system tools: a promise of stdout/stderr/code that rejects with an error naming the
// command, its exit code and what it printed, plus hints when a tool is not installed.
import { spawn } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import { delimiter, join } from 'node:path';

/** What a finished command printed and how it ended. */
export interface ExecResult {
  stdout: string;
  stderr: string;
  /** Exit code; null when the process was ended by a signal. */
  code: number | null;
  signal: NodeJS.Signals | null;
}

/** Options of {@link run} and `Topology.exec`. */
export interface ExecOptions {
  /** Kill the command (SIGKILL) and reject after this many milliseconds. Default 60 000. */
  timeoutMs?: number;
  /** Written to the command's stdin, which is then closed. */
  input?: string;
  /** Exit codes that resolve instead of rejecting. Default `[0]`. */
  okCodes?: number[];
  /** Environment; default the current process's. */
  env?: NodeJS.ProcessEnv;
}

/** Debian package of each tool the harness uses, for error messages. */
export const TOOL_PACKAGES: Readonly<Record<string, string>> = {
  ip: 'iproute2',
  ethtool: 'ethtool',
  sysctl: 'procps',
  ping: 'iputils-ping',
  iperf3: 'iperf3',
  tcpdump: 'tcpdump',
  tshark: 'tshark',
  nft: 'nftables',
};

/** A failed command: the message names the command line, the exit code or signal and stderr. */
export class CommandError extends Error {
  override readonly name = 'CommandError';
  constructor(
    message: string,
    readonly command: string[],
    readonly result?: ExecResult,
  ) {
    super(message);
  }
}

function hint(tool: string): string {
  const pkg = TOOL_PACKAGES[tool];
  return pkg ? ` (install it: apt-get install ${pkg})` : '';
}

/** Runs `cmd args` and collects its output; see {@link ExecOptions}. */
export function run(cmd: string, args: readonly string[], opts: ExecOptions = {}): Promise<ExecResult> {
  const argv = [cmd, ...args];
  const line = argv.join(' ');
  const okCodes = opts.okCodes ?? [0];
  const timeoutMs = opts.timeoutMs ?? 60_000;
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: ['pipe', 'pipe', 'pipe'], env: opts.env ?? process.env });
    let stdout = '';
    let stderr = '';
    let timedOut = false;
    child.stdout.setEncoding('utf8').on('data', (d: string) => {
      stdout += d;
    });
    child.stderr.setEncoding('utf8').on('data', (d: string) => {
      stderr += d;
    });
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, timeoutMs);
    child.on('error', (err: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      const why = err.code === 'ENOENT' ? `command not found: ${cmd}${hint(cmd)}` : `cannot run ${line}: ${err.message}`;
      reject(new CommandError(why, argv));
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      const result: ExecResult = { stdout, stderr, code, signal };
      if (timedOut) {
        reject(new CommandError(`${line} timed out after ${timeoutMs} ms${tail(stderr, stdout)}`, argv, result));
      } else if (code !== null && okCodes.includes(code)) {
        resolve(result);
      } else {
        // `ip netns exec NS tool` reports a missing tool itself: exec of "tool" failed.
        const missing = /exec of "([^"]+)" failed: No such file/.exec(stderr);
        const how = code === null ? `was killed by ${signal}` : `exited with code ${code}`;
        const extra = missing ? `; command not found: ${missing[1]}${hint(missing[1]!)}` : '';
        reject(new CommandError(`${line} ${how}${extra}${tail(stderr, stdout)}`, argv, result));
      }
    });
    child.stdin.on('error', () => {});
    child.stdin.end(opts.input ?? '');
  });
}

function tail(stderr: string, stdout: string): string {
  const text = (stderr.trim() || stdout.trim()).slice(-2000);
  return text ? `: ${text}` : '';
}

/** Whether `tool` is an executable file on PATH (plus /usr/sbin and /sbin, where root's tools live). */
export function hasTool(tool: string): boolean {
  const dirs = [...(process.env.PATH ?? '').split(delimiter), '/usr/sbin', '/sbin', '/usr/bin'];
  for (const dir of dirs) {
    if (!dir) continue;
    try {
      accessSync(join(dir, tool), constants.X_OK);
      return true;
    } catch {
      // next
    }
  }
  return false;
}

/** The tools every topology needs. */
export const BASE_TOOLS = ['ip', 'ethtool', 'sysctl'] as const;

/**
 * Why network-namespace tests cannot run here, or null when they can: needs root and the
 * base tools plus `extraTools` (e.g. `['ping', 'iperf3']`). Made for `itWhen(reason, ...)`.
 */
export function netnsUnavailable(extraTools: readonly string[] = []): string | null {
  const root = typeof process.getuid === 'function' && process.getuid() === 0;
  if (!root) return 'needs root (creates network namespaces and veth pairs)';
  const missing = [...BASE_TOOLS, ...extraTools].filter((t) => !hasTool(t));
  if (missing.length === 0) return null;
  const pkgs = [...new Set(missing.map((t) => TOOL_PACKAGES[t] ?? t))];
  return `needs ${missing.join(', ')} (apt-get install ${pkgs.join(' ')})`;
}
