import { type Burst, CONNTRACK_RESULTS, ConntrackResult, type Mempool, NativeConntrackReader, VnfError } from '@vnf-sdk/core';

/** Options of {@link ConntrackStage}. */
export interface ConntrackStageOptions {
  /** Stage name (default 'conntrack'). */
  name?: string;
  /** The table to read: a `ConntrackTable.id` (from the main thread). */
  table: number;
  /**
   * 'track': every trackable packet belongs to a session, created if needed (put it after the
   * policy that admits new flows, e.g. an ACL's permit-and-track step). 'lookup': packets of
   * existing sessions go on to `next`, others to `miss` (the policy).
   */
  mode: 'lookup' | 'track';
  /** Where packets of sessions go: 'stage:<name>' or 'port:<name>'. */
  next: string;
  /**
   * Lookup mode: where packets with no session go (required in lookup mode), and packets the
   * table cannot track (not IPv4, fragments): the policy decides about those too.
   */
  miss?: string;
  /**
   * The time in ms, read once per burst, instead of the native steady clock (tests drive
   * session timeouts with it). Every stage of a table, and `ConntrackTable.expire`, must then
   * use the same clock.
   */
  clock?: () => number;
  /**
   * Where ICMP errors about a live session (RELATED: the quoted packet's tuple is one of the
   * session's) go; default `next`. ICMP errors about no session are dropped as 'invalid'.
   */
  related?: string;
}

const STEP = /^(stage|port):./;

/**
 * A pipeline stage that tracks each burst against a conntrack table in one native call.
 * Packets of sessions (and, in 'track' mode, packets that open one) go to `next`; in
 * 'lookup' mode packets with no session go to `miss`. Packets the table cannot track (not
 * IPv4, IPv4 fragments, ICMP messages that are neither queries nor errors) go to `miss` in
 * 'lookup' mode and untracked to `next` in 'track' mode. ICMP errors quoting a packet of a
 * session (RELATED) go to `related` (default `next`). Dropped: 'invalid' (no valid TCP
 * transition, bad flags, ICMP reply with no request, a reply tuple in use, an ICMP error
 * about no session), 'table-full'
 * (track mode: no room for a new session) and 'malformed' (the parser's malformed bit,
 * truncated headers).
 *
 * Packets must have been parsed (`BurstParser`) by an earlier stage.
 */
export class ConntrackStage {
  readonly name: string;
  private reader: NativeConntrackReader | null = null;

  constructor(private readonly options: ConntrackStageOptions) {
    if (!options || typeof options !== 'object') throw new VnfError('VNF_CONFIG', 'ConntrackStage: options are required');
    this.name = options.name ?? 'conntrack';
    if (!Number.isInteger(options.table) || options.table <= 0) {
      throw new VnfError('VNF_CONFIG', `ConntrackStage '${this.name}': table must be a ConntrackTable id, got ${String(options.table)}`);
    }
    if (options.mode !== 'lookup' && options.mode !== 'track') {
      throw new VnfError('VNF_CONFIG', `ConntrackStage '${this.name}': mode must be 'lookup' or 'track', got '${String(options.mode)}'`);
    }
    if (typeof options.next !== 'string' || !STEP.test(options.next)) {
      throw new VnfError('VNF_CONFIG', `ConntrackStage '${this.name}': next must be 'stage:<name>' or 'port:<name>', got '${String(options.next)}'`);
    }
    if (options.mode === 'lookup' && (typeof options.miss !== 'string' || !STEP.test(options.miss))) {
      throw new VnfError('VNF_CONFIG', `ConntrackStage '${this.name}': lookup mode needs miss: 'stage:<name>' or 'port:<name>', got '${String(options.miss)}'`);
    }
    if (options.related !== undefined && (typeof options.related !== 'string' || !STEP.test(options.related))) {
      throw new VnfError('VNF_CONFIG', `ConntrackStage '${this.name}': related must be 'stage:<name>' or 'port:<name>', got '${String(options.related)}'`);
    }
    if (options.clock !== undefined && typeof options.clock !== 'function') {
      throw new VnfError('VNF_CONFIG', `ConntrackStage '${this.name}': clock must be a function returning ms`);
    }
    if (options.mode === 'track' && options.miss !== undefined) {
      throw new VnfError('VNF_CONFIG', `ConntrackStage '${this.name}': miss applies to lookup mode only`);
    }
  }

  init(ctx: { pool: Mempool; port(name: string): number; stage(name: string): number; drop(reason: string): number }): void {
    const step = (s: string) => (s.startsWith('stage:') ? ctx.stage(s.slice(6)) : ctx.port(s.slice(5)));
    const next = step(this.options.next);
    const steps = new Uint16Array(CONNTRACK_RESULTS);
    steps[ConntrackResult.ok] = next;
    steps[ConntrackResult.created] = next;
    steps[ConntrackResult.miss] = this.options.miss ? step(this.options.miss) : next;
    steps[ConntrackResult.invalid] = ctx.drop('invalid'); // also ICMP errors about no session
    steps[ConntrackResult.full] = ctx.drop('table-full');
    // Well-formed packets the table cannot track: the policy decides (lookup mode), or they
    // pass untracked (track mode: the policy admitted them already).
    steps[ConntrackResult.notTracked] = this.options.miss ? step(this.options.miss) : next;
    steps[ConntrackResult.malformed] = ctx.drop('malformed');
    steps[ConntrackResult.related] = this.options.related ? step(this.options.related) : next;
    this.reader = new NativeConntrackReader(this.options.table, ctx.pool, steps, this.options.mode === 'track' ? 'process' : 'lookup');
  }

  process(burst: Burst): void {
    const reader = this.reader;
    if (!reader) throw new VnfError('VNF_CLOSED', `ConntrackStage '${this.name}': not initialised (init) or closed`);
    const clock = this.options.clock;
    reader.process(burst, clock ? clock() : undefined);
  }

  close(): void {
    this.reader?.close();
    this.reader = null;
  }
}
