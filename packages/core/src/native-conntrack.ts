import type { Burst } from './burst.js';
import { Mempool } from './mempool.js';
import { native } from './native.js';
import { readerStatusError } from './reader-status.js';

/**
 * What the native connection tracker made of a packet, by number: the index into a
 * reader's step table. `@vnf-sdk/conntrack` maps these onto pipeline steps.
 */
export const ConntrackResult = {
  /** A packet of an existing session (tracked, or accepted without a state change). */
  ok: 0,
  /** Mode 'process': this packet created a new session. */
  created: 1,
  /** Mode 'lookup': no session has this packet's tuple. */
  miss: 2,
  /**
   * No valid state transition, bad TCP flags, an ICMP reply with no request, a reply tuple in
   * use, or an ICMP error about no session (or quoting an ICMP error or a later fragment).
   */
  invalid: 3,
  /** Mode 'process': a new session was refused, the table is full. */
  full: 4,
  /**
   * Well-formed but not trackable: not IPv4, an IPv4 fragment, an ICMP message that is neither
   * a query nor an error.
   */
  notTracked: 5,
  /** Malformed (the parser's malformed bit) or cut short (IP, TCP, UDP or ICMP header). */
  malformed: 6,
  /**
   * An ICMP error (destination unreachable, source quench, redirect, time exceeded, parameter
   * problem) quoting a packet of a live session: nf_conntrack's RELATED. An error whose quote
   * matches no session is `invalid`.
   */
  related: 7,
} as const;
/** Entries of a reader's step table. */
export const CONNTRACK_RESULTS = 8;

/** Timeouts in seconds; anything not given keeps Linux's nf_conntrack default. */
export interface ConntrackTimeouts {
  synSent?: number;
  synRecv?: number;
  established?: number;
  finWait?: number;
  closeWait?: number;
  lastAck?: number;
  timeWait?: number;
  close?: number;
  synSent2?: number;
  /** Cap for TCP sessions not yet assured (default 300). */
  tcpUnassuredMax?: number;
  udpUnreplied?: number;
  udpReplied?: number;
  icmp?: number;
  otherUnreplied?: number;
  otherReplied?: number;
}

/** Options of {@link NativeConntrackTable.create}. */
export interface ConntrackTableOptions {
  /** Sessions (1 .. 2^27: an index entry keeps at least 4 signature bits). */
  capacity: number;
  timeouts?: ConntrackTimeouts;
  /** Pick up established TCP flows from a mid-stream ACK (default true, as Linux). */
  tcpLoose?: boolean;
  /** Start from the RFC 5382/4787/5508 NAT timeouts instead of Linux's. */
  rfcNat?: boolean;
}

/** Figures of a table (counters since it was created, over every reader). */
export interface ConntrackStats {
  capacity: number;
  /** Sessions holding a slot (live, or past their deadline and not yet swept). */
  inUse: number;
  lookups: number;
  hits: number;
  created: number;
  refusedFull: number;
  conflicts: number;
  invalid: number;
  ignored: number;
  /** Sessions removed, by reason (expired-tcp-established, ..., deleted, replaced). */
  removed: Record<string, number>;
  /** Session array and index. */
  memoryBytes: number;
}

const tableFinalizer = new FinalizationRegistry<number>((h) => native.ctTableClose(h));
const readerFinalizer = new FinalizationRegistry<number>((h) => native.ctReaderClose(h));

/**
 * A connection tracking table of the native core: the low-level layer under
 * `@vnf-sdk/conntrack` (use its `ConntrackTable` in applications). Sessions are shared by
 * every thread; any thread tracks packets through a {@link NativeConntrackReader} created
 * from the table's `id`.
 */
export class NativeConntrackTable {
  /** Process-wide id: give it to workers so they can create readers. */
  readonly id: number;
  private handle: number;

  private constructor(handle: number, id: number) {
    this.handle = handle;
    this.id = id;
    tableFinalizer.register(this, handle, this);
  }

  /** A new, empty table. Throws VNF_INVALID_ARGUMENT on a bad configuration. */
  static create(options: ConntrackTableOptions): NativeConntrackTable {
    const t = native.ctTableCreate(options);
    return new NativeConntrackTable(t.handle, t.id);
  }

  /** Another handle on the table `id` (made on any thread). */
  static attach(id: number): NativeConntrackTable {
    return new NativeConntrackTable(native.ctTableAttach(id), id);
  }

  stats(): ConntrackStats {
    return native.ctTableStats(this.handle);
  }

  /**
   * Frees sessions past their deadline among up to `budget` slots; returns how many. `now`
   * (ms) replaces the steady clock: for tables whose readers are given `now` too.
   */
  expire(budget: number, now?: number): number {
    return native.ctTableExpire(this.handle, budget, now);
  }

  /** Drops this handle; the table lives on while other handles or readers hold it. */
  close(): void {
    if (native.ctTableClose(this.handle)) tableFinalizer.unregister(this);
  }
}

/**
 * One thread's reader of a conntrack table: tracks bursts of parsed packets of `pool` in one
 * native call each, writing each packet's next step (`steps[result]`, see
 * {@link ConntrackResult}) into the pool's metadata.
 *
 * Mode 'process': lookup, track, and create a session for a miss (what a firewall's track
 * step does for admitted packets). Mode 'lookup': lookup and track only; misses get the
 * `miss` step.
 */
export class NativeConntrackReader {
  private handle: number;

  constructor(tableId: number, pool: Mempool, steps: Uint16Array, mode: 'process' | 'lookup') {
    this.handle = native.ctReaderCreate(tableId, Mempool.handleOf(pool), steps, mode);
    readerFinalizer.register(this, this.handle, this);
  }

  /**
   * Tracks `burst.ids[0 .. burst.count)` (packets parsed by `@vnf-sdk/protocols`). `now`
   * (ms, >= 0) replaces the native steady clock, e.g. to drive time in tests; every call on a
   * table must then use the same clock.
   */
  process(burst: Burst, now?: number): void {
    const r = native.ctProcess(this.handle, burst.handle, 0, burst.count, now);
    if (r < 0) throw readerStatusError(r, 'conntrack process');
  }

  /** Releases the reader (and its hold on the table). Closing twice is fine. */
  close(): void {
    if (native.ctReaderClose(this.handle)) readerFinalizer.unregister(this);
  }
}
