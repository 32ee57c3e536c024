import { VnfError } from '@vnf-sdk/core';
import { CaptureWriter, decode } from '@vnf-sdk/protocols';

/** Which packets a trace follows; every given field must match. */
export interface TraceFilter {
  /** Input port name. */
  port?: string;
  /** Source or destination address (IPv4 or IPv6, as text) of any IP header. */
  host?: string;
  src?: string;
  dst?: string;
  /** IP protocol number of any IP header. */
  protocol?: number;
  srcPort?: number;
  dstPort?: number;
}

/** Options of a packet trace. */
export interface TraceOptions {
  /** Packets to follow (per worker). Default 10. */
  count?: number;
  filter?: TraceFilter;
}

/** What one stage did to one traced packet. */
export interface TraceHop {
  stage: string;
  /** The next step it chose: 'port:p1', 'stage:ip4', 'drop:ip4:no-route'. */
  verdict: string;
  /** Header fields the stage changed, as 'layer.field': [before, after] ('ipv4.ttl': [64, 63]). */
  changed: Record<string, [unknown, unknown]>;
}

/** The path of one packet through the pipeline. */
export interface TraceRecord {
  /** Trace-wide number of the packet in this worker. */
  id: number;
  worker: number;
  /** Input port. */
  port: string;
  /** Layers as received, e.g. 'ethernet/ipv4/udp'. */
  layers: string;
  length: number;
  hops: TraceHop[];
  /** Where it ended: 'port:<name>' or 'drop:<stage>:<reason>'. */
  result: string;
}

type Fields = Map<string, unknown>;

/** Header fields of a packet as 'layer.field' -> value (the friendly decoder; traced packets only). */
export function headerFields(bytes: Uint8Array): { fields: Fields; layers: string } {
  const fields: Fields = new Map();
  const d = decode(bytes);
  const seen = new Map<string, number>();
  for (const layer of d.layers) {
    const n = seen.get(layer.type) ?? 0;
    seen.set(layer.type, n + 1);
    const prefix = n === 0 ? layer.type : `${layer.type}#${n + 1}`; // inner headers of tunnels
    for (const [k, v] of Object.entries(layer)) {
      if (k === 'type' || v instanceof Uint8Array || typeof v === 'object') continue;
      fields.set(`${prefix}.${k}`, v);
    }
  }
  return { fields, layers: d.layers.map((l) => l.type).join('/') };
}

export function diffFields(before: Fields, after: Fields): Record<string, [unknown, unknown]> {
  const out: Record<string, [unknown, unknown]> = {};
  for (const [k, v] of after) if (before.get(k) !== v) out[k] = [before.get(k), v];
  for (const [k, v] of before) if (!after.has(k)) out[k] = [v, undefined];
  return out;
}

export function checkTraceOptions(o: TraceOptions): Required<TraceOptions> {
  if (o === null || typeof o !== 'object') throw new VnfError('VNF_INVALID_ARGUMENT', 'trace: options must be an object');
  const count = o.count ?? 10;
  if (!Number.isInteger(count) || count < 1 || count > 100_000) {
    throw new VnfError('VNF_INVALID_ARGUMENT', `trace: count must be an integer from 1 to 100000, got ${String(count)}`);
  }
  const filter = o.filter ?? {};
  const allowed = ['port', 'host', 'src', 'dst', 'protocol', 'srcPort', 'dstPort'];
  for (const k of Object.keys(filter)) {
    if (!allowed.includes(k)) throw new VnfError('VNF_INVALID_ARGUMENT', `trace: unknown filter field '${k}' (known: ${allowed.join(', ')})`);
  }
  return { count, filter };
}

/** Does a packet match the filter? (Evaluated with the friendly decoder while a trace is armed.) */
export function matches(filter: TraceFilter, port: string, fields: Fields): boolean {
  if (filter.port !== undefined && filter.port !== port) return false;
  const any = (suffix: string, want: unknown): boolean => {
    for (const [k, v] of fields) if (k.endsWith(suffix) && v === want) return true;
    return false;
  };
  if (filter.src !== undefined && !(any('ipv4.src', filter.src) || any('ipv6.src', filter.src))) return false;
  if (filter.dst !== undefined && !(any('ipv4.dst', filter.dst) || any('ipv6.dst', filter.dst))) return false;
  if (
    filter.host !== undefined &&
    !(any('ipv4.src', filter.host) || any('ipv4.dst', filter.host) || any('ipv6.src', filter.host) || any('ipv6.dst', filter.host))
  ) {
    return false;
  }
  if (filter.protocol !== undefined && !(any('ipv4.protocol', filter.protocol) || any('ipv6.nextHeader', filter.protocol))) return false;
  if (filter.srcPort !== undefined && !any('.srcPort', filter.srcPort)) return false;
  if (filter.dstPort !== undefined && !any('.dstPort', filter.dstPort)) return false;
  return true;
}

/** Options of a capture point. */
export interface CaptureOptions {
  /** Stage whose input is captured. */
  stage: string;
  /** pcap file to write (created or truncated). */
  path: string;
  /** Stop after this many packets (default: until turned off). */
  count?: number;
}

/** A capture point: copies every packet entering a stage into a pcap file, like tcpdump on a graph edge. */
export class CapturePoint {
  readonly writer: CaptureWriter;
  written = 0;
  readonly limit: number;

  constructor(
    readonly stage: number,
    readonly options: CaptureOptions,
  ) {
    const count = options.count ?? Number.POSITIVE_INFINITY;
    if (!(count === Number.POSITIVE_INFINITY || (Number.isInteger(count) && count > 0))) {
      throw new VnfError('VNF_INVALID_ARGUMENT', `capture: count must be a positive integer, got ${String(options.count)}`);
    }
    this.limit = count;
    this.writer = CaptureWriter.open(options.path);
  }

  get full(): boolean {
    return this.written >= this.limit;
  }
}
