// Shared by the namespace tests.
import { readFileSync } from 'node:fs';
import { listNetns, netnsUnavailable } from '../src/index.js';

/** Why the namespace tests cannot run here (null: they can). */
export const netnsReason = netnsUnavailable(['ping', 'iperf3', 'tcpdump', 'tshark']);

/** Whether a process is gone: no such pid, or a zombie waiting for its reaper. */
export function pidGone(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return true;
  }
  try {
    return /^\d+ \(.*\) Z/.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return true;
  }
}

/** Namespaces whose names are among `names`. */
export function existing(names: Iterable<string>): string[] {
  const all = new Set(listNetns());
  return [...names].filter((n) => all.has(n));
}
