#!/usr/bin/env node
/**
 * `vnf-router <config.json> [--check] [--seconds N] [--stats N] [--json-stats] [--timing]`:
 * checks the config, prints the router it describes, then runs it on a pipeline (printing
 * `vnf-router: running` once every port is open) and prints its counters at the end.
 */
import { resolve } from 'node:path';
import { appendFileSync } from 'node:fs';
import { AclTable } from '@vnf-sdk/acl';
import { ConntrackTable } from '@vnf-sdk/conntrack';
import { Nat } from '@vnf-sdk/nat';
import { VnfError } from '@vnf-sdk/core';
import { Pipeline, type PipelineStats } from '@vnf-sdk/pipeline';
import { loadAclRules, loadConfig, type PortDriver, type RouterConfig } from './config.js';
import { numberToIpv4 } from './lpm.js';

const USAGE = 'usage: vnf-router <config.json> [--check]';

const pairs = (n: number) => `${n} queue pair${n === 1 ? '' : 's'}`;

/** Where a port's packets come from and go: its driver and what it opens. */
function portWhere(d: PortDriver): string {
  switch (d.type) {
    case 'pcap':
      return `pcap${d.rx ? ` rx ${d.rx}` : ''}${d.tx ? ` tx ${d.tx}` : ''}`;
    case 'afXdp':
      return `afXdp ${d.ifname} queue ${d.queue}`;
    case 'vhostUser':
      return `vhostUser ${d.path}${d.client ? ' (client)' : ''}, ${pairs(d.queues)}`;
    case 'virtioUser':
      return `virtioUser ${d.path}${d.server ? ' (server)' : ''}${d.packed ? ', packed ring' : ''}, ${pairs(d.queues)}`;
    default:
      return `${d.type} ${d.ifname}`;
  }
}

export function describe(config: RouterConfig): string {
  const lines: string[] = [];
  for (const p of config.ports) {
    const d = p.driver;
    const where = portWhere(d);
    const mac = [...p.mac].map((x) => x.toString(16).padStart(2, '0')).join(':');
    lines.push(`port ${p.name}: ${numberToIpv4(p.address)}/${p.prefixLength} ${mac} mtu ${p.mtu}, ${where}`);
  }
  for (const r of config.routes) {
    lines.push(`route ${numberToIpv4(r.network)}/${r.prefixLength} -> ${r.gateway === null ? 'attached' : `via ${numberToIpv4(r.gateway)}`} on ${config.ports[r.port]!.name}`);
  }
  for (const s of config.neighbours.static) lines.push(`static neighbour ${numberToIpv4(s.address)} on ${config.ports[s.port]!.name}`);
  if (config.acl) lines.push(`acl ${config.acl.rules}: ${loadAclRules(config.acl.rules).length} rules, no match: ${config.acl.noMatch} (SIGHUP reloads)`);
  if (config.conntrack) {
    const t = Object.entries(config.conntrack.timeouts).map(([k, v]) => `${k} ${v} s`);
    lines.push(`conntrack: ${config.conntrack.sessions} sessions, timeouts ${t.length ? t.join(', ') : 'Linux defaults'} (opened by permit-and-track rules; packets of sessions bypass the acl)`);
  }
  if (config.nat) {
    const t = config.nat.translator;
    lines.push(`nat: outside ${config.nat.outside.join(', ')}, pool ${t.pool.join(', ')}, ports ${t.ports ?? '1024-65535'}, ${t.filtering ?? 'address-dependent'} filtering${t.portBlock ? `, port blocks of ${t.portBlock.size}` : ''}${config.nat.log ? `, log ${config.nat.log}` : ''}`);
  }
  lines.push(`workers ${config.workers}, pool ${config.poolSize} buffers, burst ${config.burstSize}, ICMP errors ${config.icmp.ratePerSecond}/s (burst ${config.icmp.burst})`);
  return lines.join('\n');
}

/** Prints the counters that matter: per port, and every drop by stage and reason. */
export function summary(stats: PipelineStats): string {
  const t = stats.total;
  const lines: string[] = [];
  for (const [name, p] of Object.entries(t.ports)) {
    lines.push(`port ${name}: rx ${p.rxPackets} (drops ${p.rxDrops}, errors ${p.rxErrors}), tx ${p.txPackets} (drops ${p.txDrops}, errors ${p.txErrors})`);
  }
  const drops = Object.entries(t.drops).filter(([, n]) => n > 0);
  if (drops.length === 0) lines.push('drops: none');
  for (const [reason, n] of drops.sort()) lines.push(`drop ${reason}: ${n}`);
  for (const [name, st] of Object.entries(t.stages)) {
    if (st.nanoseconds > 0 && st.packets > 0) {
      lines.push(`stage ${name}: ${st.packets} packets in ${st.calls} bursts, ${(st.nanoseconds / st.packets).toFixed(1)} ns/packet, ${(st.packets / st.calls).toFixed(1)} packets/burst`);
    }
  }
  return lines.join('\n');
}

/**
 * The counters as one JSON line (`--json-stats`): `{"vnfRouterStats":{final, iterations,
 * idleWaits, rxPackets, ports, drops, steps, stages}}`, totals over the workers. `steps`
 * counts packets handed to each next step (`port:p1` is what the stages sent out of p1).
 */
export function jsonSummary(stats: PipelineStats, final: boolean): string {
  return JSON.stringify({ vnfRouterStats: { final, ...stats.total } });
}

const USAGE_RUN = `${USAGE}
  --check        validate the config and print the router it describes
  --seconds N    stop after N seconds (default: when every capture is read, or on SIGINT/SIGTERM)
  --stats N      print counters every N seconds while running
  --json-stats   print the counters as one JSON line ({"vnfRouterStats":...}) instead of text
  --timing       time every stage (nanoseconds per packet in the counters)`;

async function main(argv: string[]): Promise<number> {
  const flags = new Map<string, string | true>();
  const args: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--check' || a === '--json-stats' || a === '--timing') flags.set(a, true);
    else if (a === '--seconds' || a === '--stats') flags.set(a, argv[++i] ?? '');
    else args.push(a);
  }
  if (args.length !== 1 || args[0]!.startsWith('-')) {
    console.error(USAGE_RUN);
    return 2;
  }
  const number = (flag: string): number | undefined => {
    const v = flags.get(flag);
    if (v === undefined) return undefined;
    const n = Number(v);
    if (!(n > 0)) throw new VnfError('VNF_CONFIG', `${flag} must be a positive number of seconds, got '${String(v)}'`);
    return n;
  };
  let config: RouterConfig;
  let seconds: number | undefined;
  let every: number | undefined;
  try {
    config = loadConfig(args[0]!);
    seconds = number('--seconds');
    every = number('--stats');
  } catch (err) {
    if (err instanceof VnfError) {
      console.error(`vnf-router: ${err.message}`);
      return 1;
    }
    throw err;
  }
  console.log(describe(config));
  if (flags.has('--check')) return 0;
  // Capture files end; live interfaces do not: stop when every port is a finished capture.
  const untilFinished = config.ports.every((p) => p.driver.type === 'pcap');
  let pipeline: Pipeline;
  let acl: AclTable | undefined;
  let conntrack: ConntrackTable | undefined;
  let nat: Nat | undefined;
  try {
    if (config.acl) acl = await AclTable.create(loadAclRules(config.acl.rules), { noMatch: config.acl.noMatch, nonIp: 'permit' });
    if (config.conntrack) conntrack = ConntrackTable.create({ capacity: config.conntrack.sessions, timeouts: config.conntrack.timeouts });
    if (config.nat) nat = Nat.create(config.nat.translator);
    pipeline = await Pipeline.start({
      graph: new URL('./graph.js', import.meta.url),
      workers: config.workers,
      pool: { count: config.poolSize, name: 'router' },
      options: { config: resolve(args[0]!), aclTable: acl?.id, conntrackTable: conntrack?.id, nat: nat?.id },
      untilFinished,
      runner: { burstSize: config.burstSize, timing: flags.has('--timing') },
    });
  } catch (err) {
    acl?.close();
    conntrack?.close();
    nat?.close();
    const e = err as { code?: string; message?: string };
    console.error(`vnf-router: ${e.code ?? 'Error'}: ${e.message ?? String(err)}`);
    return 1;
  }
  if (acl) {
    const table = acl;
    const aclConfig = config.acl!;
    // SIGHUP: read the rule file again and swap it in while traffic flows; a bad file is
    // reported and the rules in use stay.
    process.on('SIGHUP', () => {
      void (async () => {
        try {
          const s = await table.load(loadAclRules(aclConfig.rules), { noMatch: aclConfig.noMatch, nonIp: 'permit' });
          console.log(`vnf-router: acl reloaded: ${s.rules} rules, generation ${s.generation}, built in ${(s.buildSeconds * 1000).toFixed(1)} ms, ${s.memoryBytes} bytes`);
        } catch (err) {
          console.error(`vnf-router: acl not reloaded (the previous rules stay): ${(err as Error).message}`);
        }
      })();
    });
  }
  // NAT: the mapping / port block log goes to its file once a second (and at the end).
  const natLog = config.nat?.log ?? null;
  const drainNatLog = () => {
    if (!nat) return;
    const events = nat.drainLog();
    if (natLog && events.length) appendFileSync(natLog, events.map((e) => `${Nat.formatEvent(e)}\n`).join(''));
  };
  const natTimer = nat ? setInterval(drainNatLog, 1000) : undefined;
  pipeline.on('port-failed', (e) => console.error(`vnf-router: port ${e.port} failed: ${e.message}`));
  pipeline.on('stage-error', (e) => console.error(`vnf-router: stage ${e.stage}: ${e.message}`));
  const stop = () => void pipeline.stop();
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  const timer = seconds === undefined ? undefined : setTimeout(stop, seconds * 1000);
  const json = flags.has('--json-stats');
  const print = (s: PipelineStats, final: boolean) => console.log(json ? jsonSummary(s, final) : `${summary(s)}${final ? '' : '\n'}`);
  const ticker = every === undefined ? undefined : setInterval(() => print(pipeline.stats(), false), every * 1000);
  // Every port is open and the loop started: traffic may come (tests wait for this line).
  console.log(`vnf-router: running (${config.ports.length} ports, ${config.workers} worker${config.workers === 1 ? '' : 's'})`);
  const stats = await pipeline.finished;
  clearTimeout(timer);
  clearInterval(ticker);
  clearInterval(natTimer);
  print(stats, true);
  if (nat) {
    drainNatLog();
    const s = nat.stats();
    if (!json) {
      const acts = Object.entries(s.actions).filter(([, v]) => v > 0).map(([k, v]) => `${k} ${v}`).join(', ');
      console.log(`nat: ${acts || 'no packets'}; sessions ${s.sessions} (created ${s.sessionsCreated}), mappings ${s.mappings}, blocks ${s.blocks}`);
    }
    nat.close();
  }
  if (conntrack) {
    const s = conntrack.stats();
    if (!json) console.log(`conntrack: sessions ${s.inUse} of ${s.capacity}, created ${s.created}, invalid ${s.invalid}, refused (full) ${s.refusedFull}`);
    conntrack.close();
  }
  if (acl) {
    if (!json) for (const r of acl.counters().rules) if (r.packets > 0) console.log(`acl ${r.origin}: ${r.action} ${r.packets} packets, ${r.bytes} bytes`);
    acl.close();
  }
  return 0;
}

process.exitCode = await main(process.argv.slice(2));
