import type { Burst } from './burst.js';
import { Mempool } from './mempool.js';
import { native } from './native.js';
import { readerStatusError } from './reader-status.js';

/**
 * What the native classifier does with a packet, by number: the rule records' action word
 * and the index into a reader's step table. `@vnf-sdk/acl` maps its rules onto these.
 */
export const AclVerdict = {
  permit: 0,
  deny: 1,
  reject: 2,
  /** Permit, and write the rule's mark into `meta.mark`. */
  mark: 3,
  permitAndTrack: 4,
  noMatchPermit: 5,
  noMatchDeny: 6,
  nonIpPermit: 7,
  nonIpDeny: 8,
  /** The parser marked the packet malformed, or its offsets do not fit its length. */
  malformed: 9,
} as const;
/** Entries of a reader's step table. */
export const ACL_VERDICTS = 10;
/** 32-bit words per rule record given to {@link NativeAclTable.load}. */
export const ACL_RECORD_WORDS = 28;

/**
 * Field positions in a rule record (`ACL_RECORD_WORDS` words, in priority order, first
 * match wins). Addresses in host order, most significant word first; IPv4 in word 0.
 */
export const AclRecord = {
  id: 0,
  /** 0 (either family: no address given), 4 or 6. */
  family: 1,
  src: 2,
  dst: 6,
  srcLen: 10,
  dstLen: 11,
  srcPortLo: 12,
  srcPortHi: 13,
  dstPortLo: 14,
  dstPortHi: 15,
  proto: 16,
  protoMask: 17,
  tcpFlags: 18,
  tcpFlagsMask: 19,
  vlanLo: 20,
  vlanHi: 21,
  inPortLo: 22,
  inPortHi: 23,
  /** 0: the verdict list; 1: the count list (counted, no verdict). */
  list: 24,
  /** An {@link AclVerdict} from permit to permitAndTrack. */
  action: 25,
  mark: 26,
} as const;

/** Options of a rule set: what happens to packets no rule decides. */
export interface AclLoadOptions {
  /** IP packets that match no rule (default 'deny'). */
  noMatch?: 'permit' | 'deny';
  /** Packets without IPv4 or IPv6 (ARP, ...) (default 'permit'). */
  nonIp?: 'permit' | 'deny';
}

/** A compiled rule set, as {@link NativeAclTable.load} reports it. */
export interface AclSetStats {
  /** 1 for the first set loaded into the table, then 2, ... */
  generation: number;
  rules: number;
  /** Everything the data path reads. */
  memoryBytes: number;
  buildSeconds: number;
  trees: number;
  nodes: number;
  leaves: number;
  maxDepth: number;
  /** Rules in the largest leaf. */
  maxLeaf: number;
  /** The AVX-512 data path is in use. */
  simd: boolean;
  /** The memory budget stopped the build from cutting further (slower, still correct). */
  budgetHit: boolean;
}

const tableFinalizer = new FinalizationRegistry<number>((h) => native.aclTableClose(h));
const readerFinalizer = new FinalizationRegistry<number>((h) => native.aclReaderClose(h));

/**
 * An ACL table of the native core: the low-level layer under `@vnf-sdk/acl` (use its
 * `AclTable` in applications). A table holds one compiled rule set at a time; `load`
 * compiles a new one on a thread-pool thread and swaps it in atomically. Any thread may
 * read it through a {@link NativeAclReader} created from the table's `id`.
 */
export class NativeAclTable {
  /** Process-wide id: give it to workers so they can create readers. */
  readonly id: number;
  private handle: number;

  private constructor(handle: number, id: number) {
    this.handle = handle;
    this.id = id;
    tableFinalizer.register(this, handle, this);
  }

  /** A new, empty table. */
  static create(): NativeAclTable {
    const t = native.aclTableCreate();
    return new NativeAclTable(t.handle, t.id);
  }

  /** Another handle on the table `id` (made on any thread). */
  static attach(id: number): NativeAclTable {
    return new NativeAclTable(native.aclTableAttach(id), id);
  }

  /**
   * Compiles rule records ({@link ACL_RECORD_WORDS} words each, see {@link AclRecord}) off
   * the JS thread, then publishes the set: every burst classified after the promise
   * resolves uses it, every burst before used the old one, none a mix. Rejects with
   * VNF_INVALID_ARGUMENT naming the rule ("rule 3: sport: inverted range") and leaves the
   * current set in place.
   */
  load(records: Uint32Array, options: AclLoadOptions = {}): Promise<AclSetStats> {
    return native.aclTableLoad(this.handle, records, options);
  }

  /** The current set's figures, or null before the first load. */
  stats(): AclSetStats | null {
    return native.aclTableStats(this.handle);
  }

  /**
   * Packets and bytes per rule id of the current set, summed over every reader:
   * `counters[2 * id]`, `counters[2 * id + 1]`; the last pair counts packets no rule
   * decided (no match, non-IP, malformed). Null before the first load.
   */
  counters(): { generation: number; counters: Float64Array } | null {
    return native.aclTableCounters(this.handle);
  }

  /** Drops this handle; the table lives on while other handles or readers hold it. */
  close(): void {
    if (native.aclTableClose(this.handle)) tableFinalizer.unregister(this);
  }
}

/**
 * One thread's reader of an ACL table: classifies bursts of parsed packets of `pool` in
 * one native call each, writing each packet's next step (`steps[verdict]`) and mark into
 * the pool's metadata and its rule id into {@link match}.
 */
export class NativeAclReader {
  /** Rule id per burst position after {@link classify} (0xffffffff: none). */
  readonly match: Uint32Array;
  private handle: number;

  /**
   * @param tableId a {@link NativeAclTable.id}; the table must hold a rule set.
   * @param steps the step each {@link AclVerdict} leads to, {@link ACL_VERDICTS} entries.
   * @param capacity the largest burst (default 4096).
   * @param zones zone by input port (65536 entries): rules' input-port field then names
   *   zones (`zones[meta.port]`) instead of ports.
   */
  constructor(tableId: number, pool: Mempool, steps: Uint16Array, capacity = 4096, zones?: Uint16Array) {
    const r = native.aclReaderCreate(tableId, Mempool.handleOf(pool), steps, capacity, zones);
    this.handle = r.handle;
    this.match = r.match;
    readerFinalizer.register(this, this.handle, this);
  }

  /**
   * Classifies `burst.ids[0 .. burst.count)` (packets parsed by `@vnf-sdk/protocols`).
   * Returns how many got the reject verdict.
   */
  classify(burst: Burst): number {
    const r = native.aclClassify(this.handle, burst.handle, 0, burst.count);
    if (r < 0) throw readerStatusError(r, 'ACL classify');
    return r;
  }

  /** Releases the reader (and its hold on the table). Closing twice is fine. */
  close(): void {
    if (native.aclReaderClose(this.handle)) readerFinalizer.unregister(this);
  }
}
