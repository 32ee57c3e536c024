/**
 * The ARP neighbour table of one router port: IPv4 address -> MAC, with the states of RFC
 * 1122 2.3.2 / Linux's neighbour code, reduced to three:
 *
 * ```
 *            hold() (first packet)                 confirm() (ARP from it)
 *   (none) ──────────────────────> INCOMPLETE ─────────────────────────────> REACHABLE
 *                                   │  request every retryMs,                  │ reachableMs
 *                                   │  maxRetries times, then removed          v without ARP
 *                                   │  with its held packets               STALE: still used;
 *                                   └──────────────────────────────        probes every retryMs
 *                                                                          when used, removed after
 *                                                                          maxRetries unanswered
 * ```
 *
 * Static entries (from the config) are REACHABLE for ever and never overwritten by ARP.
 *
 * Held packets: a stage may not keep buffer indices past `process` (the Stage contract), so
 * a packet waiting for resolution is copied into the table's own memory (a fixed slab of
 * `slots` frames, at most `queueLength` per neighbour) and its buffer is dropped by the stage
 * as 'arp-held'. When the neighbour answers, {@link NeighbourTable.release} copies the
 * frames back into fresh pool buffers appended to the burst the calling stage was given,
 * while the burst has room and the pool has buffers; what does not fit waits for the next
 * call. ARP requests are written the same way by {@link NeighbourTable.emitRequests}.
 *
 * Time comes from `now()` (milliseconds), injectable for tests. The table has no timer: it
 * ages and retries when the stages call it, i.e. when packets flow.
 * @module
 */
import type { Burst, Mempool } from '@vnf-sdk/core';
import { VnfError } from '@vnf-sdk/core';

export const NeighbourState = { FREE: 0, INCOMPLETE: 1, REACHABLE: 2, STALE: 3 } as const;
export type NeighbourStateName = 'incomplete' | 'reachable' | 'stale';

/** Result of {@link NeighbourTable.hold}. */
export const Hold = {
  /** Copied into the neighbour's queue. */
  HELD: 0,
  /** The neighbour already holds `queueLength` packets, or every slot is taken. */
  QUEUE_FULL: 1,
  /** No free entry for a new neighbour. */
  TABLE_FULL: 2,
  /** The frame is longer than a slot. */
  TOO_BIG: 3,
} as const;

export interface NeighbourTimers {
  /** How long an answer keeps an entry REACHABLE. Default 30000 ms. */
  reachableMs?: number;
  /** Interval between ARP requests for one neighbour. Default 1000 ms. */
  retryMs?: number;
  /** Unanswered requests before an entry is given up. Default 3. */
  maxRetries?: number;
  /** Packets held per unresolved neighbour; the rest are refused. Default 4. */
  queueLength?: number;
}

export interface NeighbourTableOptions extends NeighbourTimers {
  /** This port's MAC (6 bytes) and IPv4 address: the requests' sender. */
  mac: Uint8Array;
  address: number;
  /** Entries. Default 1024. */
  capacity?: number;
  /** Held frames over all neighbours. Default 64. */
  slots?: number;
  /** Bytes per held frame. Default 2048. */
  slotSize?: number;
  /** Milliseconds; default `performance.now`. */
  now?: () => number;
}

/** An entry as {@link NeighbourTable.entries} shows it (control plane, tests). */
export interface NeighbourEntry {
  address: number;
  mac: string | null;
  state: NeighbourStateName;
  static: boolean;
  held: number;
  retries: number;
}

/** Counters of a table (numbers, read them live). */
export interface NeighbourCounters {
  /** ARP requests written into bursts. */
  requests: number;
  /** Requests due but not written (no room in the burst or no buffer); retried later. */
  requestsDeferred: number;
  /** Entries created or updated from ARP. */
  learned: number;
  /** Packets copied into a queue, and copied back out. */
  held: number;
  released: number;
  /** Held packets thrown away: their neighbour never answered. */
  heldExpired: number;
  /** Entries given up after maxRetries unanswered requests. */
  failed: number;
  /** ARP that tried to change a static entry. */
  staticConflicts: number;
}

const MAX_REQUESTS = 256;

export class NeighbourTable {
  readonly capacity: number;
  readonly reachableMs: number;
  readonly retryMs: number;
  readonly maxRetries: number;
  readonly queueLength: number;
  readonly slotSize: number;
  readonly counters: NeighbourCounters = {
    requests: 0,
    requestsDeferred: 0,
    learned: 0,
    held: 0,
    released: 0,
    heldExpired: 0,
    failed: 0,
    staticConflicts: 0,
  };
  private readonly now: () => number;
  private readonly myMac: Uint8Array;
  private readonly myAddress: number;
  private readonly index = new Map<number, number>();
  private readonly ip: Uint32Array;
  private readonly state: Uint8Array;
  private readonly isStatic: Uint8Array;
  private readonly mac: Uint8Array;
  private readonly confirmedAt: Float64Array;
  private readonly requestedAt: Float64Array;
  private readonly retries: Uint8Array;
  private readonly queued: Uint8Array; // packets held per entry
  private readonly queue: Int32Array; // entry e's held slots at e * queueLength ...
  private readonly freeEntries: Int32Array;
  private freeEntryCount: number;
  private readonly slab: Uint8Array;
  private readonly slotLen: Uint16Array;
  private readonly freeSlots: Int32Array;
  private freeSlotCount: number;
  /** Addresses whose request is due (a ring); those that lost their entry meanwhile are skipped. */
  private readonly requests = new Uint32Array(MAX_REQUESTS);
  private requestHead = 0;
  private requestCount = 0;
  /** Entries with held packets that can go (resolved). */
  private readonly ready: Int32Array;
  private readyCount = 0;
  private incomplete = 0;
  private nextScanAt = 0;

  constructor(options: NeighbourTableOptions) {
    this.capacity = options.capacity ?? 1024;
    this.reachableMs = options.reachableMs ?? 30_000;
    this.retryMs = options.retryMs ?? 1000;
    this.maxRetries = options.maxRetries ?? 3;
    this.queueLength = options.queueLength ?? 4;
    this.slotSize = options.slotSize ?? 2048;
    const slots = options.slots ?? 64;
    this.now = options.now ?? (() => performance.now());
    if (!(options.mac instanceof Uint8Array) || options.mac.length !== 6) {
      throw new VnfError('VNF_INVALID_ARGUMENT', 'NeighbourTable: mac must be 6 bytes');
    }
    this.myMac = options.mac;
    this.myAddress = options.address >>> 0;
    const n = this.capacity;
    this.ip = new Uint32Array(n);
    this.state = new Uint8Array(n);
    this.isStatic = new Uint8Array(n);
    this.mac = new Uint8Array(n * 6);
    this.confirmedAt = new Float64Array(n);
    this.requestedAt = new Float64Array(n);
    this.retries = new Uint8Array(n);
    this.queued = new Uint8Array(n);
    this.queue = new Int32Array(n * this.queueLength);
    this.freeEntries = Int32Array.from({ length: n }, (_, k) => n - 1 - k);
    this.freeEntryCount = n;
    this.slab = new Uint8Array(slots * this.slotSize);
    this.slotLen = new Uint16Array(slots);
    this.freeSlots = Int32Array.from({ length: slots }, (_, k) => slots - 1 - k);
    this.freeSlotCount = slots;
    this.ready = new Int32Array(n);
  }

  /** Entries in use. */
  get size(): number {
    return this.index.size;
  }

  /** Packets held over all neighbours. */
  get heldCount(): number {
    return this.slotLen.length - this.freeSlotCount;
  }

  /** Whether requests or held packets are waiting to be written into a burst. */
  get pending(): boolean {
    return this.requestCount > 0 || this.readyCount > 0;
  }

  /** Adds a permanent entry (config). */
  addStatic(address: number, mac: Uint8Array): void {
    const e = this.index.get(address) ?? this.newEntry(address);
    if (e < 0) throw new VnfError('VNF_INVALID_ARGUMENT', `NeighbourTable: no room for static entry ${address}`);
    this.setMac(e, mac, 0);
    this.isStatic[e] = 1;
  }

  /**
   * The entry of `address` when it has a MAC to send to (reachable, stale or static), or
   * -1. Using a stale entry schedules a probe every retryMs; one left unanswered
   * maxRetries times is removed (and -1 returned: the caller holds the packet, which starts
   * a new resolution). No allocation.
   */
  lookup(address: number): number {
    const e = this.index.get(address);
    if (e === undefined) return -1;
    const s = this.state[e];
    if (s === NeighbourState.INCOMPLETE) return -1;
    if (this.isStatic[e]) return e;
    const now = this.now();
    if (s === NeighbourState.REACHABLE) {
      if (now - this.confirmedAt[e] <= this.reachableMs) return e;
      this.state[e] = NeighbourState.STALE;
      this.retries[e] = 0;
      this.requestedAt[e] = -Infinity;
    }
    if (now - this.requestedAt[e] >= this.retryMs) {
      if (this.retries[e] >= this.maxRetries) {
        this.counters.failed++;
        this.remove(e);
        return -1;
      }
      this.retries[e]++;
      this.requestedAt[e] = now;
      this.scheduleRequest(e);
    }
    return e;
  }

  /** Writes entry `e`'s MAC at `bytes[at..at+6)`. */
  writeMac(e: number, bytes: Uint8Array, at: number): void {
    const m = this.mac;
    const o = e * 6;
    bytes[at] = m[o];
    bytes[at + 1] = m[o + 1];
    bytes[at + 2] = m[o + 2];
    bytes[at + 3] = m[o + 3];
    bytes[at + 4] = m[o + 4];
    bytes[at + 5] = m[o + 5];
  }

  /**
   * Copies the frame `bytes[start..start+length)` into the queue of `address`, creating an
   * INCOMPLETE entry (and scheduling its first request) when there is none. The frame should
   * be ready to go but for its destination MAC, which {@link release} writes.
   */
  hold(address: number, bytes: Uint8Array, start: number, length: number): number {
    if (length > this.slotSize) return Hold.TOO_BIG;
    let e = this.index.get(address);
    if (e === undefined) {
      e = this.newEntry(address);
      if (e < 0) return Hold.TABLE_FULL;
      this.state[e] = NeighbourState.INCOMPLETE;
      this.incomplete++;
      this.retries[e] = 1;
      this.requestedAt[e] = this.now();
      this.scheduleRequest(e);
    }
    const q = this.queued[e];
    if (q >= this.queueLength || this.freeSlotCount === 0) return Hold.QUEUE_FULL;
    const slot = this.freeSlots[--this.freeSlotCount];
    this.slab.set(bytes.subarray(start, start + length), slot * this.slotSize);
    this.slotLen[slot] = length;
    this.queue[e * this.queueLength + q] = slot;
    this.queued[e] = q + 1;
    this.counters.held++;
    // Held behind a usable entry (its MAC came meanwhile): ready at once.
    if (q === 0 && this.state[e] !== NeighbourState.INCOMPLETE) this.ready[this.readyCount++] = e;
    return Hold.HELD;
  }

  /**
   * Learns `address` is at the MAC `bytes[at..at+6)` from an ARP message. An existing entry
   * is updated (and its held packets become ready); a new one is made only when `create`
   * (the ARP was addressed to us: RFC 826's "am I the target"). Static entries are kept.
   * Returns whether the table changed.
   */
  confirm(address: number, bytes: Uint8Array, at: number, create: boolean): boolean {
    let e = this.index.get(address);
    if (e !== undefined && this.isStatic[e]) {
      for (let k = 0; k < 6; k++) {
        if (this.mac[e * 6 + k] !== bytes[at + k]) {
          this.counters.staticConflicts++;
          break;
        }
      }
      return false;
    }
    if (e === undefined) {
      if (!create) return false;
      e = this.newEntry(address);
      if (e < 0) return false;
    }
    if (this.state[e] === NeighbourState.INCOMPLETE) {
      this.incomplete--;
      if (this.queued[e] > 0) this.ready[this.readyCount++] = e;
    }
    this.setMac(e, bytes.subarray(at, at + 6), this.now());
    this.counters.learned++;
    return true;
  }

  /**
   * Ages the table: re-requests INCOMPLETE entries every retryMs and gives up on those that
   * stayed unanswered maxRetries times (their held packets counted in `heldExpired`).
   * Cheap to call every burst: it scans at most every retryMs / 4 and only while some
   * entry is INCOMPLETE.
   */
  tick(): void {
    if (this.incomplete === 0) return;
    const now = this.now();
    if (now < this.nextScanAt) return;
    this.nextScanAt = now + this.retryMs / 4;
    for (const e of this.index.values()) {
      if (this.state[e] !== NeighbourState.INCOMPLETE || now - this.requestedAt[e] < this.retryMs) continue;
      if (this.retries[e] >= this.maxRetries) {
        this.counters.failed++;
        this.remove(e);
      } else {
        this.retries[e]++;
        this.requestedAt[e] = now;
        this.scheduleRequest(e);
      }
    }
  }

  /**
   * Appends the held packets whose neighbour answered to `burst`, each copied into a new
   * buffer from `pool` with its destination MAC written and `meta.next` set to `next`, while
   * `burst.count < burst.capacity` and the pool has buffers. Returns how many.
   */
  release(pool: Mempool, burst: Burst, next: number): number {
    let n = 0;
    const bytes = pool.bytes;
    const meta = pool.meta;
    while (this.readyCount > 0) {
      const e = this.ready[this.readyCount - 1];
      const base = e * this.queueLength;
      while (this.queued[e] > 0) {
        if (burst.count >= burst.capacity || pool.alloc(burst, 1) !== 1) return n;
        const b = burst.ids[burst.count - 1];
        const slot = this.queue[base];
        const len = this.slotLen[slot];
        const at = pool.dataOffset(b);
        bytes.set(this.slab.subarray(slot * this.slotSize, slot * this.slotSize + len), at);
        meta.dataLen[b] = len;
        meta.next[b] = next;
        this.writeMac(e, bytes, at);
        this.queue.copyWithin(base, base + 1, base + this.queued[e]);
        this.queued[e]--;
        this.freeSlots[this.freeSlotCount++] = slot;
        this.counters.released++;
        n++;
      }
      this.readyCount--;
    }
    return n;
  }

  /**
   * Appends the due ARP requests (broadcast, from this port's MAC and address) to `burst`,
   * one new buffer each with `meta.next` = `next`, while there is room; the rest stay due.
   * Returns how many.
   */
  emitRequests(pool: Mempool, burst: Burst, next: number): number {
    let n = 0;
    while (this.requestCount > 0) {
      const target = this.requests[this.requestHead];
      if (this.index.has(target)) {
        if (burst.count >= burst.capacity || pool.alloc(burst, 1) !== 1) {
          this.counters.requestsDeferred++;
          return n;
        }
      }
      this.requestHead = (this.requestHead + 1) % MAX_REQUESTS;
      this.requestCount--;
      if (!this.index.has(target)) continue;
      const b = burst.ids[burst.count - 1];
      writeArpRequest(pool.bytes, pool.dataOffset(b), this.myMac, this.myAddress, target);
      pool.meta.dataLen[b] = ARP_FRAME_LENGTH;
      pool.meta.next[b] = next;
      this.counters.requests++;
      n++;
    }
    return n;
  }

  /** A snapshot of every entry (control plane, tests). */
  entries(): NeighbourEntry[] {
    const now = this.now();
    const out: NeighbourEntry[] = [];
    for (const [address, e] of this.index) {
      const s = this.state[e];
      const stale = s === NeighbourState.STALE || (s === NeighbourState.REACHABLE && !this.isStatic[e] && now - this.confirmedAt[e] > this.reachableMs);
      out.push({
        address,
        mac: s === NeighbourState.INCOMPLETE ? null : formatMacAt(this.mac, e * 6),
        state: s === NeighbourState.INCOMPLETE ? 'incomplete' : stale ? 'stale' : 'reachable',
        static: this.isStatic[e] === 1,
        held: this.queued[e],
        retries: this.retries[e],
      });
    }
    return out;
  }

  /** Removes the entry of `address` (control plane); its held packets are dropped. */
  delete(address: number): boolean {
    const e = this.index.get(address);
    if (e === undefined) return false;
    this.remove(e);
    return true;
  }

  private newEntry(address: number): number {
    if (this.freeEntryCount === 0) return -1;
    const e = this.freeEntries[--this.freeEntryCount];
    this.index.set(address, e);
    this.ip[e] = address;
    this.state[e] = NeighbourState.INCOMPLETE;
    this.isStatic[e] = 0;
    this.retries[e] = 0;
    this.queued[e] = 0;
    this.requestedAt[e] = -Infinity;
    return e;
  }

  private setMac(e: number, mac: Uint8Array, now: number): void {
    this.mac.set(mac, e * 6);
    this.state[e] = NeighbourState.REACHABLE;
    this.confirmedAt[e] = now;
    this.retries[e] = 0;
    this.requestedAt[e] = -Infinity;
  }

  private scheduleRequest(e: number): void {
    if (this.requestCount === MAX_REQUESTS) return; // already plenty due; the retry timer catches up
    this.requests[(this.requestHead + this.requestCount) % MAX_REQUESTS] = this.ip[e];
    this.requestCount++;
  }

  private remove(e: number): void {
    if (this.state[e] === NeighbourState.INCOMPLETE) this.incomplete--;
    for (let k = 0; k < this.queued[e]; k++) this.freeSlots[this.freeSlotCount++] = this.queue[e * this.queueLength + k];
    this.counters.heldExpired += this.queued[e];
    this.queued[e] = 0;
    this.index.delete(this.ip[e]);
    this.state[e] = NeighbourState.FREE;
    this.freeEntries[this.freeEntryCount++] = e;
    // A due request for the address is skipped when it is read; a ready mark goes now.
    for (let k = 0; k < this.readyCount; k++) {
      if (this.ready[k] === e) {
        this.ready[k] = this.ready[--this.readyCount];
        break;
      }
    }
  }
}

/** Length of an ARP request frame (Ethernet + ARP, unpadded). */
export const ARP_FRAME_LENGTH = 42;

/** Writes a broadcast ARP request "who has `target`? tell `senderIp`" at `bytes[at..at+42)`. */
export function writeArpRequest(bytes: Uint8Array, at: number, senderMac: Uint8Array, senderIp: number, target: number): void {
  bytes.fill(0xff, at, at + 6);
  bytes.set(senderMac, at + 6);
  bytes[at + 12] = 0x08;
  bytes[at + 13] = 0x06;
  // hardware 1 (Ethernet), protocol 0x0800, lengths 6 and 4, operation 1
  bytes[at + 14] = 0;
  bytes[at + 15] = 1;
  bytes[at + 16] = 0x08;
  bytes[at + 17] = 0;
  bytes[at + 18] = 6;
  bytes[at + 19] = 4;
  bytes[at + 20] = 0;
  bytes[at + 21] = 1;
  bytes.set(senderMac, at + 22);
  writeU32(bytes, at + 28, senderIp);
  bytes.fill(0, at + 32, at + 38);
  writeU32(bytes, at + 38, target);
}

export function writeU32(bytes: Uint8Array, at: number, v: number): void {
  bytes[at] = v >>> 24;
  bytes[at + 1] = (v >>> 16) & 0xff;
  bytes[at + 2] = (v >>> 8) & 0xff;
  bytes[at + 3] = v & 0xff;
}

export function readU32(bytes: Uint8Array, at: number): number {
  return ((bytes[at] << 24) | (bytes[at + 1] << 16) | (bytes[at + 2] << 8) | bytes[at + 3]) >>> 0;
}

function formatMacAt(bytes: Uint8Array, at: number): string {
  const parts: string[] = [];
  for (let k = 0; k < 6; k++) parts.push(bytes[at + k].toString(16).padStart(2, '0'));
  return parts.join(':');
}
