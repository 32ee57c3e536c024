/**
 * The state the router's stages share on one worker: the config, the route table (LPM) and
 * its next hops, one neighbour table per port and the ICMP error limit. Make one per worker
 * with {@link Router}, then its stages with {@link Router.stages}.
 * @module
 */
import { formatMac } from '@vnf-sdk/protocols';
import type { RouterConfig } from './config.js';
import { Lpm, numberToIpv4 } from './lpm.js';
import { NeighbourTable } from './neighbours.js';
import { TokenBucket } from './rate-limit.js';
import { ArpStage } from './stages/arp.js';
import { InputStage } from './stages/input.js';
import { Ip4Stage } from './stages/ip4.js';

/** Names of the router's stages in a graph. */
export const STAGES = { input: 'input', arp: 'arp', ctLookup: 'ct-lookup', acl: 'acl', ctTrack: 'ct-track', nat: 'nat', ip4: 'ip4' } as const;

export interface RouterOptions {
  /** Milliseconds, for neighbour timers and the ICMP limit. Default `performance.now`. */
  now?: () => number;
  /** Held frames per port (neighbour queues). Default 64. */
  heldSlots?: number;
  /** tbl8 groups of the LPM. Default 1024. */
  tbl8Groups?: number;
}

export class Router {
  readonly lpm: Lpm;
  /** By next-hop id: output port (config index) and gateway (0: the destination itself). */
  readonly nextHopPort: Uint16Array;
  readonly nextHopGateway: Uint32Array;
  /** By config port index. */
  readonly neighbours: NeighbourTable[];
  readonly portAddress: Uint32Array;
  readonly portBroadcast: Uint32Array;
  readonly portMtu: Uint16Array;
  /** Port MACs, 6 bytes each, by config port index. */
  readonly portMac: Uint8Array;
  readonly portAddressText: string[];
  readonly portMacText: string[];
  readonly icmpLimit: TokenBucket;
  readonly now: () => number;

  constructor(
    readonly config: RouterConfig,
    options: RouterOptions = {},
  ) {
    const now = options.now ?? (() => performance.now());
    this.now = now;
    const ports = config.ports;
    const hops = ports.length + config.routes.length;
    this.nextHopPort = new Uint16Array(hops);
    this.nextHopGateway = new Uint32Array(hops);
    this.lpm = new Lpm({ tbl8Groups: options.tbl8Groups ?? 1024 });
    // Next hops 0..ports-1: the attached networks; then one per static route.
    ports.forEach((p, i) => {
      this.nextHopPort[i] = i;
      this.lpm.add(p.network, p.prefixLength, i);
    });
    config.routes.forEach((r, k) => {
      const id = ports.length + k;
      this.nextHopPort[id] = r.port;
      this.nextHopGateway[id] = r.gateway ?? 0;
      this.lpm.add(r.network, r.prefixLength, id);
    });
    this.portAddress = Uint32Array.from(ports, (p) => p.address);
    this.portBroadcast = Uint32Array.from(ports, (p) => (p.prefixLength >= 31 ? p.address : (p.network | (0xffffffff >>> p.prefixLength)) >>> 0));
    this.portMtu = Uint16Array.from(ports, (p) => p.mtu);
    this.portMac = new Uint8Array(ports.length * 6);
    for (const [i, p] of ports.entries()) this.portMac.set(p.mac, i * 6);
    this.portAddressText = ports.map((p) => numberToIpv4(p.address));
    this.portMacText = ports.map((p) => formatMac(p.mac, 0));
    const n = config.neighbours;
    this.neighbours = ports.map(
      (p) =>
        new NeighbourTable({
          mac: p.mac,
          address: p.address,
          capacity: n.capacity,
          reachableMs: n.reachableMs,
          retryMs: n.retryMs,
          maxRetries: n.maxRetries,
          queueLength: n.queueLength,
          slots: options.heldSlots ?? 64,
          slotSize: Math.max(p.mtu + 14, 64),
          now,
        }),
    );
    for (const s of n.static) this.neighbours[s.port]!.addStatic(s.address, s.mac);
    this.icmpLimit = new TokenBucket(config.icmp.ratePerSecond, config.icmp.burst, now);
  }

  /** The three stages, sharing this state: add them to the graph under {@link STAGES}' names. */
  stages(): { input: InputStage; arp: ArpStage; ip4: Ip4Stage } {
    return { input: new InputStage(this), arp: new ArpStage(this), ip4: new Ip4Stage(this) };
  }
}
