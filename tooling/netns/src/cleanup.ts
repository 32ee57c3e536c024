// What makes the harness leave nothing behind: namespace names that carry the creating pid,
// synchronous teardown from process 'exit' and signal handlers, and a sweep of namespaces
// whose creator died without running them (SIGKILL, a crash of the runtime, a power cut).
import { execFileSync } from 'node:child_process';
import { parseNetnsList } from './parse.js';

/** Default prefix of namespace names: `vnft<pid>-<n>-<role>`. */
export const DEFAULT_PREFIX = 'vnft';

/** Something the process-exit handlers must tear down synchronously. */
export interface SyncDisposable {
  destroySync(): void;
}

const live = new Set<SyncDisposable>();
let installed = false;

function cleanupAll(): void {
  for (const t of [...live]) {
    try {
      t.destroySync();
    } catch {
      // best effort: the process is going away
    }
  }
  live.clear();
}

function onSignal(signal: NodeJS.Signals): void {
  cleanupAll();
  // When ours is the only listener, the signal's default action (ending the process) was
  // suppressed by listening at all: restore it and raise the signal again, so the exit
  // status still says "killed by SIGTERM". Other listeners (a test runner) decide themselves.
  if (process.listenerCount(signal) === 1) {
    process.removeListener(signal, onSignal);
    process.kill(process.pid, signal);
  }
}

/** Registers a live topology with the exit handlers (installed on first use). */
export function track(t: SyncDisposable): void {
  if (!installed) {
    installed = true;
    process.on('exit', cleanupAll);
    for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.on(sig, onSignal);
  }
  live.add(t);
}

/** Removes a topology from the exit handlers' list (after it was destroyed). */
export function untrack(t: SyncDisposable): void {
  live.delete(t);
}

/** How many registered things the exit handlers would still tear down (for tests). */
export function trackedCount(): number {
  return live.size;
}

function escapeRe(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/** Splits a harness namespace name into its parts, or null when it is not one of `prefix`. */
export function parseNsName(name: string, prefix = DEFAULT_PREFIX): { pid: number; serial: number; role: string } | null {
  const m = new RegExp(`^${escapeRe(prefix)}(\\d+)-(\\d+)-([a-z0-9]+)$`).exec(name);
  return m ? { pid: Number(m[1]), serial: Number(m[2]), role: m[3]! } : null;
}

/** Whether a process with this pid exists (EPERM means it exists but is not ours). */
export function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Names of every network namespace (`ip netns list`). */
export function listNetns(): string[] {
  return parseNetnsList(execFileSync('ip', ['netns', 'list'], { encoding: 'utf8' }));
}

/**
 * Deletes one namespace synchronously: SIGKILLs every process still inside (a process keeps
 * a namespace, and so its veths, alive after `ip netns del`), then removes the name.
 * Missing namespaces are not an error.
 */
export function deleteNetnsSync(name: string): void {
  let pids: number[] = [];
  try {
    pids = execFileSync('ip', ['netns', 'pids', name], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] })
      .split(/\s+/)
      .filter(Boolean)
      .map(Number);
  } catch {
    // no such namespace
  }
  for (const pid of pids) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
  try {
    execFileSync('ip', ['netns', 'del', name], { stdio: 'ignore' });
  } catch {
    // already gone
  }
}

/**
 * Removes namespaces named by this harness (`<prefix><pid>-<n>-<role>`) whose creating
 * process no longer exists, with any process left inside them. Namespaces of live processes
 * (parallel test runs) and names of other shapes are left alone. Returns the removed names.
 * Called by `Topology.create`.
 */
export function sweepStale(prefix = DEFAULT_PREFIX): string[] {
  const removed: string[] = [];
  for (const name of listNetns()) {
    const p = parseNsName(name, prefix);
    if (!p || p.pid === process.pid || pidAlive(p.pid)) continue;
    deleteNetnsSync(name);
    removed.push(name);
  }
  return removed;
}
