/**
 * The router's config file: JSON, checked whole before anything starts. Every problem is a
 * `VnfError` `VNF_CONFIG` whose message starts with the field's path
 * (`ports[1].address: '10.0.2.300/24' is not an IPv4 prefix`); unknown keys are errors too,
 * so a misspelt optional key never silently means its default. The format is in README.md.
 * @module
 */
import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { type AclRule, parseRuleFile, parseYamlRules } from '@vnf-sdk/acl';
import type { ConntrackTimeouts } from '@vnf-sdk/conntrack';
import { VnfError } from '@vnf-sdk/core';
import { type NatConfig, toNativeOptions } from '@vnf-sdk/nat';
import { parseMac } from '@vnf-sdk/protocols';
import { ipv4ToNumber, maskOf, numberToIpv4 } from './lpm.js';

export type PortDriver =
  | { type: 'pcap'; rx: string | null; tx: string | null; timing: 'fast' | 'capture' }
  | { type: 'afPacket'; ifname: string }
  | { type: 'afXdp'; ifname: string; queue: number; xdpMode: 'auto' | 'native' | 'generic'; ringSize: number }
  | { type: 'tap'; ifname: string }
  /** Our virtio-net device (a vhost-user backend): a VM's QEMU or a container's virtio_user attaches to `path`. */
  | { type: 'vhostUser'; path: string; client: boolean; queues: number }
  /** Our virtio-net driver (a vhost-user frontend) attached to a backend's socket (a virtual switch). */
  | { type: 'virtioUser'; path: string; server: boolean; packed: boolean; queues: number };

export interface PortConfig {
  name: string;
  driver: PortDriver;
  mac: Uint8Array;
  /** The router's address on the port (unsigned 32-bit) and its network. */
  address: number;
  prefixLength: number;
  network: number;
  /** Largest IPv4 packet sent out of the port (bytes, IP header included). */
  mtu: number;
}

export interface RouteConfig {
  network: number;
  prefixLength: number;
  /** Next router, or null: the destination itself is the neighbour (a directly attached network). */
  gateway: number | null;
  /** Index in `ports` of the output port. */
  port: number;
}

export interface StaticNeighbour {
  port: number;
  address: number;
  mac: Uint8Array;
}

export interface NeighbourConfig {
  reachableMs: number;
  retryMs: number;
  maxRetries: number;
  queueLength: number;
  capacity: number;
  static: StaticNeighbour[];
}

export interface IcmpConfig {
  /** ICMP errors per second, over all ports; 0 sends none. */
  ratePerSecond: number;
  burst: number;
}

export interface RouterConfig {
  ports: PortConfig[];
  routes: RouteConfig[];
  neighbours: NeighbourConfig;
  icmp: IcmpConfig;
  workers: number;
  poolSize: number;
  /** Packets the pipeline receives per poll of a queue (the runner's burst size). */
  burstSize: number;
  /** An ACL applied to every IPv4 packet before routing (a firewall), or null. */
  acl: AclConfig | null;
  /** NAT44 between inside and outside ports (after the ACL, before routing), or null. */
  nat: RouterNatConfig | null;
  /**
   * Connection tracking for the ACL (a stateful firewall), or null: packets of tracked
   * sessions pass without the ACL, `permit-and-track` rules open sessions. Only with `acl`.
   */
  conntrack: RouterConntrackConfig | null;
}

/** `conntrack`: the session table's size and timeouts. */
export interface RouterConntrackConfig {
  /** Sessions the table holds (default 65536); new flows beyond are dropped as 'table-full'. */
  sessions: number;
  /** Timeouts in seconds; those not given keep Linux's nf_conntrack defaults. */
  timeouts: ConntrackTimeouts;
}

/** The keys of `conntrack.timeouts` (those of `ConntrackTimeouts`). */
export const CONNTRACK_TIMEOUT_KEYS = [
  'synSent',
  'synRecv',
  'established',
  'finWait',
  'closeWait',
  'lastAck',
  'timeWait',
  'close',
  'synSent2',
  'tcpUnassuredMax',
  'udpUnreplied',
  'udpReplied',
  'icmp',
  'otherUnreplied',
  'otherReplied',
] as const satisfies readonly (keyof ConntrackTimeouts)[];

/** `nat`: which ports are outside, the translator's configuration, where the log goes. */
export interface RouterNatConfig {
  /** Names of the outside ports; every other port is inside. */
  outside: string[];
  /** The translator's configuration (`@vnf-sdk/nat`); `local` holds the ports' addresses. */
  translator: NatConfig;
  /** Mapping / port block log file (appended), resolved against the config file's folder, or null. */
  log: string | null;
}

/** `acl`: a rule file, and what happens to packets no rule matches. */
export interface AclConfig {
  /** The rule file, resolved against the config file's folder (reloaded on SIGHUP). */
  rules: string;
  /** IPv4 packets no rule matches: 'permit' or 'deny' (default 'deny'). */
  noMatch: 'permit' | 'deny';
  /** Replies to rejected packets per second at most (TCP RST, ICMP unreachable). */
  rejectRate: number;
}

/**
 * Reads and checks an ACL rule file: YAML when it ends in .yaml or .yml, otherwise the
 * text format of `@vnf-sdk/acl`.
 * @throws VnfError `VNF_IO`, or `VNF_CONFIG` naming file:line:column.
 */
export function loadAclRules(path: string): AclRule[] {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new VnfError('VNF_IO', `${path}: cannot read the ACL rule file: ${(err as Error).message}`);
  }
  return /\.ya?ml$/i.test(path) ? parseYamlRules(text, path) : parseRuleFile(text, path);
}

export const DEFAULTS = {
  mtu: 1500,
  reachableMs: 30_000,
  retryMs: 1000,
  maxRetries: 3,
  queueLength: 4,
  capacity: 1024,
  icmpRate: 100,
  icmpBurst: 20,
  workers: 1,
  poolSize: 8192,
  burstSize: 32,
  conntrackSessions: 65_536,
} as const;

type Json = Record<string, unknown>;

function fail(path: string, what: string): never {
  throw new VnfError('VNF_CONFIG', `${path}: ${what}`);
}

const show = (v: unknown) => (typeof v === 'string' ? `'${v}'` : v === undefined ? 'nothing' : JSON.stringify(v));

function object(v: unknown, path: string): Json {
  if (v === null || typeof v !== 'object' || Array.isArray(v)) fail(path, `must be an object, got ${show(v)}`);
  return v as Json;
}

function keys(o: Json, path: string, allowed: readonly string[], what = 'key'): void {
  for (const k of Object.keys(o)) {
    if (!allowed.includes(k)) fail(path ? `${path}.${k}` : k, `unknown ${what} (expected ${allowed.join(', ')})`);
  }
}

function string(v: unknown, path: string): string {
  if (typeof v !== 'string' || v.length === 0) fail(path, `must be a non-empty string, got ${show(v)}`);
  return v;
}

function integer(v: unknown, path: string, min: number, max: number, dflt?: number): number {
  if (v === undefined && dflt !== undefined) return dflt;
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) fail(path, `must be an integer from ${min} to ${max}, got ${show(v)}`);
  return v;
}

function ipv4(v: unknown, path: string): number {
  const n = typeof v === 'string' ? ipv4ToNumber(v) : null;
  if (n === null) fail(path, `${show(v)} is not an IPv4 address`);
  return n;
}

function prefix(v: unknown, path: string): { address: number; length: number } {
  const m = typeof v === 'string' ? /^([^/]+)\/(0|[1-9]\d?)$/.exec(v) : null;
  const address = m ? ipv4ToNumber(m[1]!) : null;
  const length = m ? Number(m[2]) : 33;
  if (address === null || length > 32) fail(path, `${show(v)} is not an IPv4 prefix (a.b.c.d/len)`);
  return { address, length };
}

function mac(v: unknown, path: string): Uint8Array {
  const m = typeof v === 'string' ? parseMac(v) : null;
  if (!m) fail(path, `${show(v)} is not a MAC address (aa:bb:cc:dd:ee:ff)`);
  if (m[0]! & 1) fail(path, `${show(v)} is a group (multicast or broadcast) address; a port needs a unicast MAC`);
  if (m.every((x) => x === 0)) fail(path, `${show(v)} is all zeros`);
  return m;
}

const inNetwork = (addr: number, network: number, length: number) => ((addr & maskOf(length)) >>> 0) === network;

const PORT_KEYS = ['name', 'driver', 'mac', 'address', 'mtu'] as const;
const DRIVER_KEYS: Record<PortDriver['type'], readonly string[]> = {
  pcap: ['rx', 'tx', 'timing'],
  afPacket: ['ifname'],
  afXdp: ['ifname', 'queue', 'xdpMode', 'ringSize'],
  tap: ['ifname'],
  vhostUser: ['path', 'client', 'queues'],
  virtioUser: ['path', 'server', 'packed', 'queues'],
};

/** Queue pairs of a vhost-user connection (the ports' limit). */
const MAX_VIRTIO_QUEUES = 8;

function ifname(v: unknown, path: string): string {
  const s = string(v, path);
  if (s.length > 15 || /[\s/:]/.test(s) || s === '.' || s === '..') fail(path, `${show(s)} is not an interface name (at most 15 characters, no spaces, '/' or ':')`);
  return s;
}

function boolean(v: unknown, path: string, dflt: boolean): boolean {
  if (v === undefined) return dflt;
  if (typeof v !== 'boolean') fail(path, `must be true or false, got ${show(v)}`);
  return v;
}

function port(v: unknown, path: string, baseDir: string): PortConfig {
  const o = object(v, path);
  const driverName = o.driver;
  if (typeof driverName !== 'string' || !(driverName in DRIVER_KEYS)) {
    fail(`${path}.driver`, `must be one of ${Object.keys(DRIVER_KEYS).join(', ')}, got ${show(driverName)}`);
  }
  const type = driverName as PortDriver['type'];
  for (const k of Object.keys(o)) {
    if (!(PORT_KEYS as readonly string[]).includes(k) && !DRIVER_KEYS[type].includes(k)) {
      fail(`${path}.${k}`, `unknown key for a '${type}' port (expected ${[...PORT_KEYS, ...DRIVER_KEYS[type]].join(', ')})`);
    }
  }
  const name = string(o.name, `${path}.name`);
  if (!/^[A-Za-z0-9_.-]{1,32}$/.test(name)) fail(`${path}.name`, `${show(name)} must be 1 to 32 letters, digits, '_', '.' or '-'`);
  let driver: PortDriver;
  if (type === 'pcap') {
    const rx = o.rx === undefined ? null : resolve(baseDir, string(o.rx, `${path}.rx`));
    const tx = o.tx === undefined ? null : resolve(baseDir, string(o.tx, `${path}.tx`));
    if (rx === null && tx === null) fail(path, `a 'pcap' port needs rx (a capture to read), tx (a pcap file to write) or both`);
    const timing = o.timing ?? 'fast';
    if (timing !== 'fast' && timing !== 'capture') fail(`${path}.timing`, `must be 'fast' or 'capture', got ${show(timing)}`);
    driver = { type, rx, tx, timing };
  } else if (type === 'afXdp') {
    const xdpMode = o.xdpMode ?? 'auto';
    if (xdpMode !== 'auto' && xdpMode !== 'native' && xdpMode !== 'generic') fail(`${path}.xdpMode`, `must be 'auto', 'native' or 'generic', got ${show(xdpMode)}`);
    const ringSize = integer(o.ringSize, `${path}.ringSize`, 64, 32768, 1024);
    if ((ringSize & (ringSize - 1)) !== 0) fail(`${path}.ringSize`, `must be a power of two from 64 to 32768, got ${ringSize}`);
    driver = { type, ifname: ifname(o.ifname, `${path}.ifname`), queue: integer(o.queue, `${path}.queue`, 0, 1023, 0), xdpMode, ringSize };
  } else if (type === 'vhostUser' || type === 'virtioUser') {
    const socket = resolve(baseDir, string(o.path, `${path}.path`));
    // sun_path holds 107 bytes and a NUL: a longer path would only fail when the port opens.
    if (Buffer.byteLength(socket) > 107) fail(`${path}.path`, `${show(socket)} is longer than a UNIX socket path may be (107 bytes)`);
    const queues = integer(o.queues, `${path}.queues`, 1, MAX_VIRTIO_QUEUES, 1);
    driver =
      type === 'vhostUser'
        ? { type, path: socket, client: boolean(o.client, `${path}.client`, false), queues }
        : { type, path: socket, server: boolean(o.server, `${path}.server`, false), packed: boolean(o.packed, `${path}.packed`, false), queues };
  } else {
    driver = { type, ifname: ifname(o.ifname, `${path}.ifname`) };
  }
  const p = prefix(o.address, `${path}.address`);
  if (p.length === 0) fail(`${path}.address`, `${show(o.address)}: a port's prefix length must be 1 to 32`);
  const network = (p.address & maskOf(p.length)) >>> 0;
  if (p.length <= 30) {
    if (p.address === network) fail(`${path}.address`, `${show(o.address)} is the network address of its prefix; give the port's own address`);
    if (p.address === (network | ~maskOf(p.length)) >>> 0) fail(`${path}.address`, `${show(o.address)} is the broadcast address of its prefix`);
  }
  const first = p.address >>> 24;
  if (first === 0 || first === 127 || first >= 224) fail(`${path}.address`, `${show(o.address)} is not a unicast host address`);
  return {
    name,
    driver,
    mac: mac(o.mac, `${path}.mac`),
    address: p.address,
    prefixLength: p.length,
    network,
    mtu: integer(o.mtu, `${path}.mtu`, 68, 9000, DEFAULTS.mtu),
  };
}

/**
 * Checks a parsed config object and returns it with addresses as numbers and pcap paths
 * resolved against `baseDir` (the config file's folder).
 * @throws VnfError `VNF_CONFIG` naming the first field that is wrong.
 */
export function parseConfig(input: unknown, baseDir = '.'): RouterConfig {
  const o = object(input, 'config');
  keys(o, '', ['ports', 'routes', 'neighbours', 'icmp', 'workers', 'poolSize', 'burstSize', 'acl', 'conntrack', 'nat']);
  if (!Array.isArray(o.ports) || o.ports.length === 0) fail('ports', `must be a non-empty array of ports, got ${show(o.ports)}`);
  if (o.ports.length > 256) fail('ports', `at most 256 ports, got ${o.ports.length}`);
  const ports = o.ports.map((p, i) => port(p, `ports[${i}]`, baseDir));
  const portIndex = new Map<string, number>();
  ports.forEach((p, i) => {
    const prev = portIndex.get(p.name);
    if (prev !== undefined) fail(`ports[${i}].name`, `'${p.name}' is also the name of ports[${prev}]`);
    portIndex.set(p.name, i);
    for (let j = 0; j < i; j++) {
      const q = ports[j]!;
      const short = Math.min(p.prefixLength, q.prefixLength);
      if (((p.network & maskOf(short)) >>> 0) === ((q.network & maskOf(short)) >>> 0)) {
        fail(`ports[${i}].address`, `${numberToIpv4(p.address)}/${p.prefixLength} overlaps ports[${j}] (${numberToIpv4(q.address)}/${q.prefixLength})`);
      }
      if (p.mac.every((x, k) => x === q.mac[k])) fail(`ports[${i}].mac`, `same MAC as ports[${j}]`);
      const pd = p.driver;
      const qd = q.driver;
      if ((pd.type === 'vhostUser' || pd.type === 'virtioUser') && (qd.type === 'vhostUser' || qd.type === 'virtioUser') && pd.path === qd.path) {
        fail(`ports[${i}].path`, `'${pd.path}' is also the socket of ports[${j}]`);
      }
    }
  });
  const portOf = (v: unknown, path: string) => {
    const name = string(v, path);
    const i = portIndex.get(name);
    if (i === undefined) fail(path, `no port named ${show(name)} (ports: ${ports.map((p) => p.name).join(', ')})`);
    return i;
  };
  const isOwn = (a: number) => ports.some((p) => p.address === a);
  const connectedPort = (a: number) => ports.findIndex((p) => inNetwork(a, p.network, p.prefixLength));

  const routes: RouteConfig[] = [];
  if (o.routes !== undefined) {
    if (!Array.isArray(o.routes)) fail('routes', `must be an array, got ${show(o.routes)}`);
    const seen = new Map<string, number>();
    o.routes.forEach((r, i) => {
      const path = `routes[${i}]`;
      const ro = object(r, path);
      keys(ro, path, ['prefix', 'gateway', 'port']);
      const p = prefix(ro.prefix, `${path}.prefix`);
      const network = (p.address & maskOf(p.length)) >>> 0;
      if (network !== p.address) fail(`${path}.prefix`, `${show(ro.prefix)} has host bits set (did you mean ${numberToIpv4(network)}/${p.length}?)`);
      const key = `${network}/${p.length}`;
      if (seen.has(key)) fail(`${path}.prefix`, `${show(ro.prefix)} is also routes[${seen.get(key)}]`);
      seen.set(key, i);
      const attached = ports.findIndex((q) => q.network === network && q.prefixLength === p.length);
      if (attached >= 0) fail(`${path}.prefix`, `${show(ro.prefix)} is the network of port '${ports[attached]!.name}', routed there already`);
      if (ro.gateway === undefined && ro.port === undefined) fail(path, 'needs a gateway, a port, or both');
      let outPort = ro.port === undefined ? -1 : portOf(ro.port, `${path}.port`);
      let gateway: number | null = null;
      if (ro.gateway !== undefined) {
        gateway = ipv4(ro.gateway, `${path}.gateway`);
        if (isOwn(gateway)) fail(`${path}.gateway`, `${show(ro.gateway)} is one of the router's own addresses`);
        const via = connectedPort(gateway);
        if (via < 0) fail(`${path}.gateway`, `${show(ro.gateway)} is not in the network of any port (the gateway must be directly attached)`);
        if (outPort >= 0 && via !== outPort) fail(`${path}.gateway`, `${show(ro.gateway)} is not in the network of port '${ports[outPort]!.name}'`);
        outPort = via;
      }
      routes.push({ network, prefixLength: p.length, gateway, port: outPort });
    });
  }

  const n = o.neighbours === undefined ? {} : object(o.neighbours, 'neighbours');
  keys(n, 'neighbours', ['reachableMs', 'retryMs', 'maxRetries', 'queueLength', 'capacity', 'static']);
  const statics: StaticNeighbour[] = [];
  if (n.static !== undefined) {
    if (!Array.isArray(n.static)) fail('neighbours.static', `must be an array, got ${show(n.static)}`);
    const seen = new Set<string>();
    n.static.forEach((s, i) => {
      const path = `neighbours.static[${i}]`;
      const so = object(s, path);
      keys(so, path, ['port', 'address', 'mac']);
      const p = portOf(so.port, `${path}.port`);
      const address = ipv4(so.address, `${path}.address`);
      const port = ports[p]!;
      if (!inNetwork(address, port.network, port.prefixLength)) fail(`${path}.address`, `${show(so.address)} is not in the network of port '${port.name}' (${numberToIpv4(port.network)}/${port.prefixLength})`);
      if (isOwn(address)) fail(`${path}.address`, `${show(so.address)} is one of the router's own addresses`);
      if (seen.has(`${p}/${address}`)) fail(`${path}.address`, `${show(so.address)} is given twice for port '${port.name}'`);
      seen.add(`${p}/${address}`);
      statics.push({ port: p, address, mac: mac(so.mac, `${path}.mac`) });
    });
  }
  const neighbours: NeighbourConfig = {
    reachableMs: integer(n.reachableMs, 'neighbours.reachableMs', 1, 86_400_000, DEFAULTS.reachableMs),
    retryMs: integer(n.retryMs, 'neighbours.retryMs', 1, 60_000, DEFAULTS.retryMs),
    maxRetries: integer(n.maxRetries, 'neighbours.maxRetries', 1, 255, DEFAULTS.maxRetries),
    queueLength: integer(n.queueLength, 'neighbours.queueLength', 0, 64, DEFAULTS.queueLength),
    capacity: integer(n.capacity, 'neighbours.capacity', 1, 1 << 20, DEFAULTS.capacity),
    static: statics,
  };
  if (statics.length > neighbours.capacity) fail('neighbours.static', `${statics.length} static entries do not fit in capacity ${neighbours.capacity}`);

  const ic = o.icmp === undefined ? {} : object(o.icmp, 'icmp');
  keys(ic, 'icmp', ['ratePerSecond', 'burst']);
  let ratePerSecond: number = DEFAULTS.icmpRate;
  if (ic.ratePerSecond !== undefined) {
    const r = ic.ratePerSecond;
    if (typeof r !== 'number' || !Number.isFinite(r) || r < 0 || r > 1e7) fail('icmp.ratePerSecond', `must be a number from 0 to 10000000, got ${show(r)}`);
    ratePerSecond = r;
  }
  const icmp: IcmpConfig = { ratePerSecond, burst: integer(ic.burst, 'icmp.burst', 1, 100_000, DEFAULTS.icmpBurst) };

  let acl: AclConfig | null = null;
  if (o.acl !== undefined) {
    const a = object(o.acl, 'acl');
    keys(a, 'acl', ['rules', 'noMatch', 'rejectRate']);
    const noMatch = a.noMatch ?? 'deny';
    if (noMatch !== 'permit' && noMatch !== 'deny') fail('acl.noMatch', `must be 'permit' or 'deny', got ${show(noMatch)}`);
    const rules = resolve(baseDir, string(a.rules, 'acl.rules'));
    loadAclRules(rules); // errors name the rule file's line and column, before anything starts
    acl = { rules, noMatch, rejectRate: integer(a.rejectRate, 'acl.rejectRate', 0, 1_000_000, DEFAULTS.icmpRate) };
  }

  let conntrack: RouterConntrackConfig | null = null;
  if (o.conntrack !== undefined) {
    const c = object(o.conntrack, 'conntrack');
    if (!acl) fail('conntrack', 'needs acl: the ACL decides which flows open sessions (permit-and-track rules)');
    // NAT keeps its own sessions: a second tracker before translation would hold inside
    // addresses, and the answers (to the pool) would never match it.
    if (o.nat !== undefined) fail('conntrack', 'not with nat: the NAT tracks its own sessions and its filtering already refuses unsolicited outside traffic (use acl alone with nat)');
    keys(c, 'conntrack', ['sessions', 'timeouts']);
    const t = c.timeouts === undefined ? {} : object(c.timeouts, 'conntrack.timeouts');
    keys(t, 'conntrack.timeouts', CONNTRACK_TIMEOUT_KEYS);
    const timeouts: ConntrackTimeouts = {};
    for (const k of CONNTRACK_TIMEOUT_KEYS) {
      if (t[k] !== undefined) timeouts[k] = integer(t[k], `conntrack.timeouts.${k}`, 1, 4_294_967_295);
    }
    conntrack = { sessions: integer(c.sessions, 'conntrack.sessions', 1, 1 << 27, DEFAULTS.conntrackSessions), timeouts };
  }

  let nat: RouterNatConfig | null = null;
  if (o.nat !== undefined) {
    const n = object(o.nat, 'nat');
    keys(n, 'nat', ['inside', 'outside', 'pool', 'ports', 'filtering', 'sessions', 'mappings', 'forwards', 'static', 'portBlock', 'log', 'timeouts']);
    const names = (v: unknown, path: string) => {
      if (!Array.isArray(v) || v.length === 0) fail(path, `must be a non-empty array of port names, got ${show(v)}`);
      return v.map((x, i) => {
        const name = string(x, `${path}[${i}]`);
        if (!portIndex.has(name)) fail(`${path}[${i}]`, `'${name}' is not a port (ports: ${ports.map((p) => p.name).join(', ')})`);
        return name;
      });
    };
    const outside = names(n.outside, 'nat.outside');
    const inside = n.inside === undefined ? ports.map((p) => p.name).filter((x) => !outside.includes(x)) : names(n.inside, 'nat.inside');
    for (const x of inside) if (outside.includes(x)) fail('nat.inside', `'${x}' is also an outside port`);
    // The stage treats every port that is not outside as inside: say so when the lists disagree.
    for (const p of ports) if (!inside.includes(p.name) && !outside.includes(p.name)) fail('nat.inside', `port '${p.name}' is neither inside nor outside`);
    const translator: NatConfig = {
      pool: n.pool as string[],
      ports: n.ports as string | undefined,
      filtering: n.filtering as NatConfig['filtering'],
      sessions: n.sessions as number | undefined,
      mappings: n.mappings as number | undefined,
      forwards: n.forwards as NatConfig['forwards'],
      static: n.static as NatConfig['static'],
      portBlock: n.portBlock as NatConfig['portBlock'],
      timeouts: n.timeouts as NatConfig['timeouts'],
      local: ports.map((p) => numberToIpv4(p.address)),
    };
    toNativeOptions(translator); // errors name the nat.* field, before anything starts
    nat = { outside, translator, log: n.log === undefined ? null : resolve(baseDir, string(n.log, 'nat.log')) };
  }

  return {
    acl,
    conntrack,
    nat,
    ports,
    routes,
    neighbours,
    icmp,
    workers: oneWorker(integer(o.workers, 'workers', 1, 64, DEFAULTS.workers)),
    poolSize: integer(o.poolSize, 'poolSize', 1024, 1 << 24, DEFAULTS.poolSize),
    burstSize: integer(o.burstSize, 'burstSize', 1, 256, DEFAULTS.burstSize),
  };
}

/**
 * Reads and checks a config file (JSON). Paths of pcap ports are relative to the file.
 * @throws VnfError `VNF_IO` when the file cannot be read, `VNF_CONFIG` when it is not JSON
 * or not a valid config (the message starts with the file's path).
 */
export function loadConfig(path: string): RouterConfig {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new VnfError('VNF_IO', `${path}: cannot read the config file: ${(err as Error).message}`);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    throw new VnfError('VNF_CONFIG', `${path}: not valid JSON: ${(err as Error).message}`);
  }
  try {
    return parseConfig(json, dirname(resolve(path)));
  } catch (err) {
    if (err instanceof VnfError) throw new VnfError('VNF_CONFIG', `${path}: ${err.message}`);
    throw err;
  }
}

// Each worker would learn neighbours on its own, and an ARP reply reaches only one of them.
function oneWorker(n: number): number {
  if (n !== 1) {
    throw new VnfError('VNF_CONFIG', `workers: ${n} workers would each keep their own neighbour table (an ARP reply reaches only one); this router runs 1 worker`);
  }
  return n;
}
