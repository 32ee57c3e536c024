import type { Burst } from './burst.js';
import { Mempool } from './mempool.js';
import { native } from './native.js';
import { readerStatusError } from './reader-status.js';

/**
 * What the native NAT44 translator did with a packet, by number: the index into a reader's
 * step table. `@vnf-sdk/nat` maps these onto pipeline steps.
 */
export const NatAction = {
  /** Translated; leaves on the outside. */
  toOutside: 0,
  /** Translated; leaves on the inside. */
  toInside: 1,
  /** Inside to inside through an outside address, translated both ways. */
  hairpin: 2,
  /** Not for NAT: to the appliance itself (a local address, or a pool address with no mapping). */
  local: 3,
  /** A fragment that came before its first: copied by the translator, its buffer dropped. */
  held: 4,
  /** Outside: nothing maps the destination (unsolicited). */
  noMapping: 5,
  /** Outside: a mapping exists but address-dependent filtering refuses the source. */
  filtered: 6,
  /** No free port or port block for a new mapping. */
  poolExhausted: 7,
  /** The session or mapping table is full. */
  tableFull: 8,
  /** Refused by connection tracking (TCP flags or transition, a reply tuple in use). */
  invalid: 9,
  /** Matches a session but arrived on the side that direction does not come from. */
  wrongSide: 10,
  /** An ICMP error quoting nothing translated; a later fragment of a refused first. */
  noSession: 11,
  /** Truncated or bad headers. */
  malformed: 12,
  /** ICMP types that are neither queries nor errors, bad ICMP errors. */
  unsupported: 13,
  /** The fragment table or the hold budget is full. */
  fragmentLimit: 14,
  /** A held fragment whose first never came. */
  fragmentTimeout: 15,
  /** Not IPv4 (IPv6, ARP, ...). */
  notIpv4: 16,
} as const;
/** Entries of a reader's step table. */
export const NAT_ACTIONS = 17;

/** Options of {@link NativeNat.create}. Addresses are IPv4 numbers in host order. */
export interface NativeNatOptions {
  pool: { first: number; last: number }[];
  portFirst?: number;
  portLast?: number;
  filtering?: 'endpoint-independent' | 'address-dependent';
  statics?: { inside: number; outside: number }[];
  forwards?: { proto: number; outside: number; outsidePort: number; inside: number; insidePort: number }[];
  local?: number[];
  sessions?: number;
  mappings?: number;
  blockSize?: number;
  maxBlocks?: number;
  logMappings?: boolean;
  logBlocks?: boolean;
  logCapacity?: number;
  fragmentEntries?: number;
  fragmentHoldBytes?: number;
  fragmentTimeout?: number;
  timeouts?: import('./native-conntrack.js').ConntrackTimeouts;
  hugepages?: boolean;
}

/** Counters of a translator, over every reader. */
export interface NativeNatStats {
  /** Packets by action name ('to-outside', 'pool-exhausted', ...). */
  actions: Record<string, number>;
  /** Live dynamic endpoint mappings. */
  mappings: number;
  mappingsCreated: number;
  /** Port blocks allocated (port block allocation). */
  blocks: number;
  /** Inside addresses paired with a pool address. */
  hosts: number;
  fragmentsHeld: number;
  /** Log events lost because nobody drained the log. */
  logDropped: number;
  sessions: number;
  sessionsCreated: number;
  sessionCapacity: number;
  memoryBytes: number;
}

/** One log event: what operators of carrier-grade NAT must keep (RFC 6888, RFC 7422). */
export interface NativeNatEvent {
  /** Milliseconds on the translator's monotonic clock. */
  time: number;
  type: 'mapping-created' | 'mapping-removed' | 'block-allocated' | 'block-released';
  /** Mappings: the IP protocol. */
  proto: number;
  inside: number;
  /** Mappings: the inside port (or ICMP identifier). */
  insidePort: number;
  outside: number;
  /** Mapping: its outside port; block: the first port. */
  portFirst: number;
  /** Block: the last port. */
  portLast: number;
}

const natFinalizer = new FinalizationRegistry<number>((h) => native.natClose(h));
const readerFinalizer = new FinalizationRegistry<number>((h) => native.natReaderClose(h));

/**
 * A NAT44 translator of the native core: the low-level layer under `@vnf-sdk/nat` (use its
 * `Nat` in applications). Sessions and mappings are shared by every thread; any thread
 * translates bursts through a {@link NativeNatReader} created from the translator's `id`.
 */
export class NativeNat {
  /** Process-wide id: give it to workers so they can create readers. */
  readonly id: number;
  private handle: number;

  private constructor(handle: number, id: number) {
    this.handle = handle;
    this.id = id;
    natFinalizer.register(this, handle, this);
  }

  /** Throws VNF_INVALID_ARGUMENT naming what is wrong with the configuration. */
  static create(options: NativeNatOptions): NativeNat {
    const t = native.natCreate(options);
    return new NativeNat(t.handle, t.id);
  }

  /** Another handle on translator `id` (made on any thread). */
  static attach(id: number): NativeNat {
    return new NativeNat(native.natAttach(id), id);
  }

  stats(): NativeNatStats {
    return native.natStats(this.handle);
  }

  /** Takes up to `max` logged events, oldest first. */
  drain(max = 65536): NativeNatEvent[] {
    return native.natDrain(this.handle, max);
  }

  /** Frees expired sessions among up to `budget` slots, and what only they held. */
  expire(budget: number): number {
    return native.natExpire(this.handle, budget);
  }

  close(): void {
    if (native.natClose(this.handle)) natFinalizer.unregister(this);
  }
}

/**
 * One thread's reader of a translator: translates bursts of parsed packets of `pool` in one
 * native call each, in place, writing each packet's next step (`steps[action]`, see
 * {@link NatAction}) into the pool's metadata. A packet's side is its input port:
 * `outsidePorts` are the outside, every other port the inside.
 */
export class NativeNatReader {
  private handle: number;

  constructor(natId: number, pool: Mempool, steps: Uint16Array, outsidePorts: readonly number[]) {
    this.handle = native.natReaderCreate(natId, Mempool.handleOf(pool), steps, [...outsidePorts]);
    readerFinalizer.register(this, this.handle, this);
  }

  /**
   * Translates `burst.ids[0 .. burst.count)`. Fragments held earlier that can go now are
   * appended to the burst (in new buffers, next step set): returns how many were appended.
   */
  process(burst: Burst): number {
    const r = native.natProcess(this.handle, burst.handle, 0, burst.count);
    if (r < 0) throw readerStatusError(r, 'nat process');
    burst.count += r;
    return r;
  }

  close(): void {
    if (native.natReaderClose(this.handle)) readerFinalizer.unregister(this);
  }
}
