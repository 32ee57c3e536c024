import { ACL_VERDICTS, AclVerdict, type Burst, type Mempool, NativeAclReader, VnfError } from '@vnf-sdk/core';
import { icmpError, icmpv6Error, PTYPE, tcpRst } from '@vnf-sdk/protocols';

/** How rejected packets are answered. */
export interface AclRejectOptions {
  /**
   * Source address of ICMP unreachables about IPv4 packets, or one per input port (by
   * `meta.port`, e.g. a router's port addresses). Without it IPv4 packets other than TCP
   * get no reply (TCP still gets RSTs).
   */
  icmpSource?: string | readonly string[];
  /** The same for ICMPv6 unreachables about IPv6 packets. */
  icmpv6Source?: string | readonly string[];
  /** Replies per second at most (token bucket, default 1000; 0: never reply). */
  rate?: number;
}

/** Options of {@link AclStage}. */
export interface AclStageOptions {
  /** Stage name (default 'acl'). */
  name?: string;
  /** The table to read: an `AclTable.id` (from the main thread). */
  table: number;
  /** Where permitted (and marked) packets go: 'stage:<name>' or 'port:<name>'. */
  permit: string;
  /** Where permit-and-track packets go (default: `permit`'s step): a connection tracker. */
  track?: string;
  /** Replies to rejected packets: TCP RST, or ICMP/ICMPv6 administratively prohibited. */
  reject?: AclRejectOptions;
  /**
   * Zones: zone id (0..65534) by port name. With zones, rules' `inPort` names a zone: the
   * zone of the port a packet came in on (ports not listed are in no zone and match no
   * rule that names one).
   */
  zones?: Record<string, number>;
}

/** Counters of the stage's reject replies (per worker). */
export interface AclStageCounters {
  rejected: number;
  replies: number;
  /** Not answered: over the rate, no source address, a packet replies must not answer, no buffer. */
  repliesSuppressed: number;
}

/**
 * A pipeline stage that classifies each burst against an ACL table in one native call and
 * sends each packet where its rule says: permitted and marked packets to `permit`,
 * permit-and-track to `track`, denied ones dropped as 'deny', rejected ones dropped as
 * 'reject' after a reply (TCP RST, or ICMP unreachable code 13 / ICMPv6 code 1, rate-limited)
 * goes back out of the port they came in on. Packets no rule matches follow the set's
 * `noMatch` ('no-match' drop or permit), non-IP ones its `nonIp` ('non-ip' drop or permit),
 * malformed ones are dropped as 'malformed'.
 *
 * Packets must have been parsed (`BurstParser`) by an earlier stage: the classifier reads
 * the header offsets and type bits the parser wrote.
 */
export class AclStage {
  readonly name: string;
  /** Rule id per burst position after `process` (0xffffffff: none). */
  match: Uint32Array = new Uint32Array(0);
  readonly counters: AclStageCounters = { rejected: 0, replies: 0, repliesSuppressed: 0 };
  private reader: NativeAclReader | null = null;
  private pool!: Mempool;
  private portSteps: number[] = [];
  private rejectStep = 0;
  private tokens = 0;
  private lastRefill = 0;

  constructor(private readonly options: AclStageOptions) {
    if (!options || typeof options !== 'object') throw new VnfError('VNF_CONFIG', 'AclStage: options are required');
    this.name = options.name ?? 'acl';
    if (!Number.isInteger(options.table) || options.table <= 0) {
      throw new VnfError('VNF_CONFIG', `AclStage '${this.name}': table must be an AclTable id, got ${String(options.table)}`);
    }
    for (const k of ['permit', 'track'] as const) {
      const v = options[k];
      if ((k === 'permit' || v !== undefined) && (typeof v !== 'string' || !/^(stage|port):./.test(v))) {
        throw new VnfError('VNF_CONFIG', `AclStage '${this.name}': ${k} must be 'stage:<name>' or 'port:<name>', got '${String(v)}'`);
      }
    }
    for (const [port, zone] of Object.entries(options.zones ?? {})) {
      if (!Number.isInteger(zone) || zone < 0 || zone > 65534) {
        throw new VnfError('VNF_CONFIG', `AclStage '${this.name}': zones.${port} must be a zone id 0..65534, got ${String(zone)}`);
      }
    }
    const rate = options.reject?.rate ?? 1000;
    if (!(rate >= 0)) throw new VnfError('VNF_CONFIG', `AclStage '${this.name}': reject.rate must be >= 0`);
  }

  init(ctx: {
    pool: Mempool;
    port(name: string): number;
    stage(name: string): number;
    drop(reason: string): number;
    readonly portNames: readonly string[];
  }): void {
    const step = (s: string) => (s.startsWith('stage:') ? ctx.stage(s.slice(6)) : ctx.port(s.slice(5)));
    const permit = step(this.options.permit);
    const steps = new Uint16Array(ACL_VERDICTS);
    steps[AclVerdict.permit] = permit;
    steps[AclVerdict.mark] = permit;
    steps[AclVerdict.permitAndTrack] = this.options.track ? step(this.options.track) : permit;
    steps[AclVerdict.deny] = ctx.drop('deny');
    this.rejectStep = ctx.drop('reject');
    steps[AclVerdict.reject] = this.rejectStep;
    steps[AclVerdict.noMatchPermit] = permit;
    steps[AclVerdict.noMatchDeny] = ctx.drop('no-match');
    steps[AclVerdict.nonIpPermit] = permit;
    steps[AclVerdict.nonIpDeny] = ctx.drop('non-ip');
    steps[AclVerdict.malformed] = ctx.drop('malformed');
    this.pool = ctx.pool;
    this.portSteps = ctx.portNames.map((n) => ctx.port(n));
    let zones: Uint16Array | undefined;
    if (this.options.zones) {
      zones = new Uint16Array(65536).fill(0xffff);
      for (const [port, zone] of Object.entries(this.options.zones)) {
        const id = ctx.portNames.indexOf(port);
        if (id < 0) throw new VnfError('VNF_CONFIG', `AclStage '${this.name}': zones.${port}: no port named '${port}' (ports: ${ctx.portNames.join(', ')})`);
        zones[id] = zone;
      }
    }
    this.reader = new NativeAclReader(this.options.table, ctx.pool, steps, 4096, zones);
    this.match = this.reader.match;
    this.tokens = this.options.reject?.rate ?? 1000;
    this.lastRefill = performance.now();
  }

  process(burst: Burst): void {
    const reader = this.reader;
    if (!reader) throw new VnfError('VNF_CLOSED', `AclStage '${this.name}': not initialised (init) or closed`);
    const rejects = reader.classify(burst);
    if (rejects > 0) this.answerRejects(burst, rejects);
  }

  close(): void {
    this.reader?.close();
    this.reader = null;
  }

  // Cold path: rejected packets are few (and their replies rate-limited).
  private answerRejects(burst: Burst, rejects: number): void {
    this.counters.rejected += rejects;
    const pool = this.pool;
    const meta = pool.meta;
    const n = burst.count;
    const rate = this.options.reject?.rate ?? 1000;
    const now = performance.now();
    this.tokens = Math.min(rate, this.tokens + ((now - this.lastRefill) * rate) / 1000);
    this.lastRefill = now;
    for (let i = 0; i < n; i++) {
      const b = burst.ids[i];
      if (meta.next[b] !== this.rejectStep) continue;
      const reply = this.tokens >= 1 ? this.replyTo(b) : null;
      const port = meta.port[b];
      if (reply === null || port >= this.portSteps.length || burst.count >= burst.capacity || pool.alloc(burst, 1) !== 1) {
        this.counters.repliesSuppressed++;
        continue;
      }
      this.tokens -= 1;
      const e = burst.ids[burst.count - 1];
      pool.write(e, reply);
      meta.next[e] = this.portSteps[port];
      this.counters.replies++;
    }
  }

  private replyTo(b: number): Uint8Array | null {
    const pool = this.pool;
    const meta = pool.meta;
    const start = b * pool.bufferSize + meta.dataOff[b];
    const frame = pool.bytes.subarray(start, start + meta.dataLen[b]);
    const t = meta.ptype[b];
    const opts = this.options.reject ?? {};
    if (t & PTYPE.TCP) return tcpRst(frame);
    const pick = (s: string | readonly string[] | undefined) => (typeof s === 'string' ? s : s?.[meta.port[b]]);
    const v4 = pick(opts.icmpSource);
    const v6 = pick(opts.icmpv6Source);
    if (t & PTYPE.IPV4) return v4 ? icmpError(frame, { type: 3, code: 13, src: v4 }) : null;
    if (t & PTYPE.IPV6) return v6 ? icmpv6Error(frame, { type: 1, code: 1, src: v6 }) : null;
    return null;
  }
}
