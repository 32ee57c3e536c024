// `vnf-router` as a process inside a test topology's rt namespace (started with the harness's
// spawn, so the topology kills it at destroy), with its counters followed live through
// `--stats` + `--json-stats`.
import type { ChildProcess } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { MACS, type Topology, waitForOutput } from '@vnf-sdk/netns';
import type { WorkerStats } from '@vnf-sdk/pipeline';

export const CLI = join(import.meta.dirname, '..', 'dist', 'cli.js');

export type Driver = 'afPacket' | 'afXdp' | 'tap';

/** The router's config for rt: p0 and p1 with the harness's gateway addresses and rt's MACs. */
export function routerConfig(driver: Driver, extra: Record<string, unknown> = {}, xdpMode?: 'native' | 'generic' | 'auto'): Record<string, unknown> {
  const port = (name: string, address: string, mac: string) => ({
    name,
    driver,
    ifname: name,
    mac,
    address,
    ...(driver === 'afXdp' && xdpMode ? { xdpMode } : {}),
  });
  return { ports: [port('p0', '10.231.1.1/24', MACS.rtP0), port('p1', '10.231.2.1/24', MACS.rtP1)], ...extra };
}

export type RouterStats = WorkerStats & { final: boolean };

/** A running `vnf-router`: its output, and its counters as printed every `statsEvery` seconds. */
export class RouterProcess {
  stdout = '';
  stderr = '';
  /** Every stats line so far (the last one is the freshest). */
  readonly stats: RouterStats[] = [];
  private waiters: Array<() => void> = [];
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;

  private constructor(readonly child: ChildProcess) {
    let partial = '';
    child.stdout!.setEncoding('utf8').on('data', (d: string) => {
      this.stdout += d;
      const lines = (partial + d).split('\n');
      partial = lines.pop()!;
      for (const line of lines) {
        if (!line.startsWith('{"vnfRouterStats":')) continue;
        this.stats.push(JSON.parse(line).vnfRouterStats as RouterStats);
        for (const w of this.waiters.splice(0)) w();
      }
    });
    child.stderr!.setEncoding('utf8').on('data', (d: string) => {
      this.stderr += d;
    });
    this.exited = new Promise((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
  }

  /**
   * Writes the config into the topology's work directory, starts the router in rt and
   * resolves when it printed `vnf-router: running` (every port open, the loop started).
   */
  static async start(topo: Topology, config: Record<string, unknown>, opts: { statsEvery?: number; args?: string[] } = {}): Promise<RouterProcess> {
    const path = join(topo.workDir, `router-${Date.now()}.json`);
    writeFileSync(path, JSON.stringify(config, null, 2));
    const args = [CLI, path, '--stats', String(opts.statsEvery ?? 0.1), '--json-stats', ...(opts.args ?? [])];
    const r = new RouterProcess(topo.spawn('rt', process.execPath, args));
    try {
      await waitForOutput(r.child, /vnf-router: running/, 30_000, 'vnf-router');
    } catch (err) {
      throw new Error(`${(err as Error).message}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`);
    }
    return r;
  }

  /** The first stats line printed after this call (so it counts everything before it). */
  async nextStats(timeoutMs = 5000): Promise<RouterStats> {
    const n = this.stats.length;
    const deadline = Date.now() + timeoutMs;
    while (this.stats.length <= n) {
      if (Date.now() > deadline) throw new Error(`vnf-router printed no stats for ${timeoutMs} ms\nstderr: ${this.stderr}`);
      await new Promise<void>((resolve) => {
        this.waiters.push(resolve);
        setTimeout(resolve, 100);
      });
    }
    return this.stats[this.stats.length - 1]!;
  }

  /** Counters that stopped moving: two consecutive stats lines with the same port counts. */
  async settledStats(timeoutMs = 5000): Promise<RouterStats> {
    const deadline = Date.now() + timeoutMs;
    let prev = await this.nextStats();
    for (;;) {
      const s = await this.nextStats();
      if (JSON.stringify(s.ports) === JSON.stringify(prev.ports) || Date.now() > deadline) return s;
      prev = s;
    }
  }

  /** SIGTERM (or `signal`) and the exit status. */
  async stop(signal: NodeJS.Signals = 'SIGTERM'): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
    this.child.kill(signal);
    return this.exited;
  }
}
