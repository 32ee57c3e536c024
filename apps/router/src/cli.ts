#!/usr/bin/env node
/**
 * `vnf-router <config.json> [--check]`: checks the config and prints what the router will
 * be. Running the pipeline waits for the runtime (README, "Running": TODO).
 */
import { VnfError } from '@vnf-sdk/core';
import { loadConfig, type RouterConfig } from './config.js';
import { numberToIpv4 } from './lpm.js';

const USAGE = 'usage: vnf-router <config.json> [--check]';

export function describe(config: RouterConfig): string {
  const lines: string[] = [];
  for (const p of config.ports) {
    const d = p.driver;
    const where =
      d.type === 'pcap' ? `pcap${d.rx ? ` rx ${d.rx}` : ''}${d.tx ? ` tx ${d.tx}` : ''}` : d.type === 'afXdp' ? `afXdp ${d.ifname} queue ${d.queue}` : `${d.type} ${d.ifname}`;
    const mac = [...p.mac].map((x) => x.toString(16).padStart(2, '0')).join(':');
    lines.push(`port ${p.name}: ${numberToIpv4(p.address)}/${p.prefixLength} ${mac} mtu ${p.mtu}, ${where}`);
  }
  for (const r of config.routes) {
    lines.push(`route ${numberToIpv4(r.network)}/${r.prefixLength} -> ${r.gateway === null ? 'attached' : `via ${numberToIpv4(r.gateway)}`} on ${config.ports[r.port]!.name}`);
  }
  for (const s of config.neighbours.static) lines.push(`static neighbour ${numberToIpv4(s.address)} on ${config.ports[s.port]!.name}`);
  lines.push(`workers ${config.workers}, pool ${config.poolSize} buffers, ICMP errors ${config.icmp.ratePerSecond}/s (burst ${config.icmp.burst})`);
  return lines.join('\n');
}

function main(argv: string[]): number {
  const args = argv.filter((a) => a !== '--check');
  if (args.length !== 1 || args[0]!.startsWith('-')) {
    console.error(USAGE);
    return 2;
  }
  let config: RouterConfig;
  try {
    config = loadConfig(args[0]!);
  } catch (err) {
    if (err instanceof VnfError) {
      console.error(`vnf-router: ${err.message}`);
      return 1;
    }
    throw err;
  }
  console.log(describe(config));
  if (argv.includes('--check')) return 0;
  // TODO(wiring): open the ports, build the graph input -> {arp, ip4} -> ports, run workers.
  console.error('vnf-router: the config is valid; running it needs the pipeline runtime (see README, "Running")');
  return 1;
}

process.exitCode = main(process.argv.slice(2));
