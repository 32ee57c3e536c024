/**
 * The NAT configuration as applications write it (addresses as text), its validation with
 * errors that name the field, and its translation into the native options.
 * @module
 */
import type { ConntrackTimeouts, NativeNatOptions } from '@vnf-sdk/core';
import { VnfError } from '@vnf-sdk/core';
import { formatIpv4, parseEndpoint, parseIpv4, parseRange } from './address.js';

/** A port forward (static DNAT of one port). */
export interface NatForward {
  proto: 'tcp' | 'udp';
  /** 'address:port' on the outside, e.g. '198.51.100.1:8080'. */
  external: string;
  /** 'address:port' on the inside, e.g. '10.0.0.5:80'. */
  internal: string;
}

/** Static 1:1 NAT: every port of `internal` appears as `external`. */
export interface NatStatic {
  internal: string;
  external: string;
}

/** Configuration of a {@link Nat}. */
export interface NatConfig {
  /** Outside addresses for source NAT: 'a.b.c.d', 'a.b.c.d/len' or 'a.b.c.d-e.f.g.h'. */
  pool: string[];
  /** Ports (and ICMP identifiers) handed out: 'first-last' within 1-65535. Default '1024-65535'. */
  ports?: string;
  /**
   * RFC 4787 filtering of inbound packets to a mapping: 'endpoint-independent' (any remote),
   * or 'address-dependent' (default: only addresses the inside endpoint has sent to).
   */
  filtering?: 'endpoint-independent' | 'address-dependent';
  /** Port forwards. */
  forwards?: NatForward[];
  /** Static 1:1 NAT. */
  static?: NatStatic[];
  /** The appliance's own addresses: inside packets to them are not translated. */
  local?: string[];
  /** Sessions (both directions of a flow are one session): 1 to 2^27, default 65536. */
  sessions?: number;
  /** Endpoint mappings. Default: as many as sessions. */
  mappings?: number;
  /** Port block allocation: ports per block, and blocks one inside address may hold. */
  portBlock?: { size: number; maxPerHost?: number };
  /** What the log keeps: mapping events, block events (default: blocks with portBlock, else mappings). */
  log?: { mappings?: boolean; blocks?: boolean };
  /** Timeouts in seconds; defaults meet RFC 4787, 5382 and 5508 (UDP 300 s, TCP established 7440 s, ...). */
  timeouts?: ConntrackTimeouts;
  /** Fragments: datagrams in flight, bytes of early fragments held, seconds to complete. */
  fragments?: { entries?: number; holdBytes?: number; timeout?: number };
}

const fail = (field: string, what: string): never => {
  throw new VnfError('VNF_CONFIG', `nat.${field}: ${what}`);
};

function integer(v: unknown, field: string, min: number, max: number): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) fail(field, `must be an integer ${min}-${max}, got ${JSON.stringify(v)}`);
  return v as number;
}

/** Checks a config and returns the native options. Throws VNF_CONFIG naming the field. */
export function toNativeOptions(config: NatConfig): NativeNatOptions {
  if (!config || typeof config !== 'object') fail('', 'the configuration must be an object');
  if (!Array.isArray(config.pool)) fail('pool', 'must be an array of addresses, prefixes or ranges');
  const pool = config.pool.map((text, i) => {
    if (typeof text !== 'string') fail(`pool[${i}]`, `must be a string, got ${JSON.stringify(text)}`);
    const r = parseRange(text);
    if (typeof r === 'string') return fail(`pool[${i}]`, r);
    if (r[0] === 0) fail(`pool[${i}]`, '0.0.0.0 is not a usable address');
    return { first: r[0], last: r[1] };
  });
  pool.forEach((a, i) => {
    pool.slice(0, i).forEach((b, j) => {
      if (a.first <= b.last && b.first <= a.last) {
        fail(`pool[${i}]`, `'${config.pool[i]}' overlaps pool[${j}] '${config.pool[j]}' (both hold ${formatIpv4(Math.max(a.first, b.first))})`);
      }
    });
  });
  const forwards = (config.forwards ?? []).map((f, i) => {
    if (f.proto !== 'tcp' && f.proto !== 'udp') fail(`forwards[${i}].proto`, `must be 'tcp' or 'udp', got ${JSON.stringify(f.proto)}`);
    const ext = parseEndpoint(String(f.external));
    if (typeof ext === 'string') return fail(`forwards[${i}].external`, ext);
    const int = parseEndpoint(String(f.internal));
    if (typeof int === 'string') return fail(`forwards[${i}].internal`, int);
    return { proto: f.proto === 'tcp' ? 6 : 17, outside: ext[0], outsidePort: ext[1], inside: int[0], insidePort: int[1] };
  });
  const statics = (config.static ?? []).map((s, i) => {
    const inside = parseIpv4(String(s.internal));
    const outside = parseIpv4(String(s.external));
    if (inside === null) return fail(`static[${i}].internal`, `'${s.internal}' is not an IPv4 address`);
    if (outside === null) return fail(`static[${i}].external`, `'${s.external}' is not an IPv4 address`);
    if (pool.some((p) => outside >= p.first && outside <= p.last)) fail(`static[${i}].external`, `${s.external} is in the pool`);
    return { inside, outside };
  });
  if (pool.length === 0 && statics.length === 0 && forwards.length === 0) fail('pool', 'is empty: no address to translate to');
  let portFirst = 1024;
  let portLast = 65535;
  if (config.ports !== undefined) {
    const m = /^(\d+)-(\d+)$/.exec(String(config.ports));
    if (!m) return fail('ports', `must be 'first-last', got ${JSON.stringify(config.ports)}`);
    portFirst = Number(m[1]);
    portLast = Number(m[2]);
    if (portFirst < 1 || portLast > 65535) fail('ports', `'${config.ports}' is outside 1-65535`);
    if (portFirst > portLast) fail('ports', `'${config.ports}' starts after it ends`);
  }
  const filtering = config.filtering ?? 'address-dependent';
  if (filtering !== 'endpoint-independent' && filtering !== 'address-dependent') {
    fail('filtering', `must be 'endpoint-independent' or 'address-dependent', got ${JSON.stringify(filtering)}`);
  }
  const local = (config.local ?? []).map((t, i) => parseIpv4(String(t)) ?? fail(`local[${i}]`, `'${t}' is not an IPv4 address`));
  const sessions = config.sessions === undefined ? 65536 : integer(config.sessions, 'sessions', 1, 2 ** 27);
  const mappings = config.mappings === undefined ? 0 : integer(config.mappings, 'mappings', 1, 2 ** 30);
  let blockSize = 0;
  let maxBlocks = 1;
  if (config.portBlock !== undefined) {
    blockSize = integer(config.portBlock.size, 'portBlock.size', 1, 65535);
    if (blockSize > portLast - portFirst + 1) fail('portBlock.size', `${blockSize} is larger than the port range (${portLast - portFirst + 1} ports)`);
    maxBlocks = config.portBlock.maxPerHost === undefined ? 1 : integer(config.portBlock.maxPerHost, 'portBlock.maxPerHost', 1, 65535);
  }
  const frag = config.fragments ?? {};
  return {
    pool,
    portFirst,
    portLast,
    filtering,
    statics,
    forwards,
    local,
    sessions,
    mappings,
    blockSize,
    maxBlocks,
    logMappings: config.log?.mappings ?? blockSize === 0,
    logBlocks: config.log?.blocks ?? blockSize > 0,
    fragmentEntries: frag.entries === undefined ? undefined : integer(frag.entries, 'fragments.entries', 1, 1 << 20),
    fragmentHoldBytes: frag.holdBytes === undefined ? undefined : integer(frag.holdBytes, 'fragments.holdBytes', 0, 2 ** 31),
    fragmentTimeout: frag.timeout === undefined ? undefined : integer(frag.timeout, 'fragments.timeout', 1, 3600),
    timeouts: config.timeouts,
  };
}
