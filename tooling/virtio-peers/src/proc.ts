// Processes of the peers: the output they printed (kept whole, searched from an offset),
// waiting for a pattern in it or for the exit, tools on PATH, and the exit handlers that
// still kill every peer and remove its files when a test fails or the runner is interrupted.
import { type ChildProcess, execFileSync } from 'node:child_process';
import { accessSync, constants, rmSync } from 'node:fs';
import { delimiter, join } from 'node:path';

/** Whether `tool` is an executable file on PATH (plus /usr/sbin, /sbin, /usr/bin). */
export function hasTool(tool: string): boolean {
  return whichTool(tool) !== null;
}

/** The path of `tool` on PATH (plus /usr/sbin, /sbin, /usr/bin), or null. */
export function whichTool(tool: string): string | null {
  const dirs = [...(process.env.PATH ?? '').split(delimiter), '/usr/sbin', '/sbin', '/usr/bin'];
  for (const dir of dirs) {
    if (!dir) continue;
    try {
      accessSync(join(dir, tool), constants.X_OK);
      return join(dir, tool);
    } catch {
      // next
    }
  }
  return null;
}

/** Runs a command synchronously; its stdout, or null when it failed or is missing. */
export function tryExec(cmd: string, args: readonly string[], timeoutMs = 20_000): string | null {
  try {
    return execFileSync(cmd, args, { encoding: 'utf8', timeout: timeoutMs, stdio: ['ignore', 'pipe', 'pipe'] });
  } catch {
    return null;
  }
}

/** A process that printed something went wrong: the message carries the tail of its output. */
export class PeerError extends Error {
  override readonly name = 'PeerError';
}

/** Everything a child printed on stdout and stderr (interleaved as received), with waiting. */
export class OutputLog {
  text = '';
  private waiters = new Set<() => void>();
  private ended: string | null = null;

  constructor(
    readonly child: ChildProcess,
    readonly what: string,
    /** Transforms each chunk before it is appended (QEMU's serial console: drop `\r`). */
    filter: (s: string) => string = (s) => s,
  ) {
    const on = (d: Buffer | string) => {
      this.text += filter(typeof d === 'string' ? d : d.toString('latin1'));
      this.wake();
    };
    child.stdout?.on('data', on);
    child.stderr?.on('data', on);
    child.on('exit', (code, signal) => {
      this.ended = code === null ? `killed by ${signal}` : `exited with code ${code}`;
      this.wake();
    });
    child.on('error', (e) => {
      this.ended = `could not start: ${e.message}`;
      this.wake();
    });
  }

  /** How the process ended, or null while it runs. */
  get exit(): string | null {
    return this.ended;
  }

  private wake(): void {
    for (const w of [...this.waiters]) w();
  }

  /** The last `n` characters, for error messages. */
  tail(n = 3000): string {
    return this.text.slice(-n);
  }

  /**
   * Resolves with the first match of `re` in the output at or after `from` (a character
   * offset; 0 = everything printed so far), rejects after `timeoutMs` or when the process
   * ends without printing it. The match's `index` is relative to the whole output.
   */
  waitFor(re: RegExp, timeoutMs: number, from = 0): Promise<RegExpExecArray> {
    const flags = re.flags.replace('g', '').replace('y', '');
    const search = new RegExp(re.source, flags);
    return new Promise((resolve, reject) => {
      let timer: NodeJS.Timeout | undefined;
      const check = (): boolean => {
        const m = search.exec(this.text.slice(from));
        if (m) {
          m.index += from;
          done();
          resolve(m);
          return true;
        }
        if (this.ended !== null) {
          done();
          reject(new PeerError(`${this.what} ${this.ended} before printing ${re}; output:\n${this.tail()}`));
          return true;
        }
        return false;
      };
      const done = () => {
        this.waiters.delete(check);
        if (timer) clearTimeout(timer);
      };
      if (check()) return;
      this.waiters.add(check);
      timer = setTimeout(() => {
        done();
        reject(new PeerError(`${this.what}: ${re} not seen within ${timeoutMs} ms; output:\n${this.tail()}`));
      }, timeoutMs);
    });
  }
}

/** Whether the child has exited (or could not be started). */
export function exited(child: ChildProcess): boolean {
  return child.exitCode !== null || child.signalCode !== null || child.pid === undefined;
}

/** Resolves true when the child exits within `ms`, false otherwise. */
export function waitExit(child: ChildProcess, ms: number): Promise<boolean> {
  if (exited(child)) return Promise.resolve(true);
  return new Promise((resolve) => {
    const timer = setTimeout(() => {
      child.off('exit', onExit);
      resolve(false);
    }, ms);
    const onExit = () => {
      clearTimeout(timer);
      resolve(true);
    };
    child.once('exit', onExit);
  });
}

/** SIGTERM, then SIGKILL after `ms`; resolves when the child is gone. */
export async function terminate(child: ChildProcess, ms = 2000): Promise<void> {
  if (exited(child)) return;
  child.kill('SIGTERM');
  if (await waitExit(child, ms)) return;
  child.kill('SIGKILL');
  await waitExit(child, 5000);
}

/** Removes files and directories, ignoring those already gone. */
export function removePaths(paths: Iterable<string>): void {
  for (const p of paths) {
    try {
      rmSync(p, { recursive: true, force: true });
    } catch {
      // best effort
    }
  }
}

// Peers register with the same exit-time teardown as the network namespaces (@vnf-sdk/netns):
// one set of 'exit' and signal handlers for every harness in the process.
import { trackedCount } from '@vnf-sdk/netns';

export { type SyncDisposable, track, untrack } from '@vnf-sdk/netns';

/** Number of peers the exit handlers would still clean up (for tests). */
export function livePeers(): number {
  return trackedCount();
}
