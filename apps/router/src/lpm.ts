/**
 * IPv4 longest prefix match, DIR-24-8 as DPDK's `rte_lpm`: one 2^24-entry table indexed by
 * the top 24 bits of the address answers every prefix up to /24 in one load; a prefix longer
 * than /24 turns its tbl24 entry into a pointer to a group of 256 tbl8 entries indexed by the
 * last byte (two loads).
 *
 * Entry layout (both tables, one u32, kept below 2^24 so V8 holds it as a small integer):
 *
 * ```
 *   bits 0-15   next hop (0..65534), or the tbl8 group number when EXT is set
 *   bits 16-21  depth of the prefix that wrote the entry (0..32)
 *   bit  22     EXT: tbl24 only, the entry points to a tbl8 group
 *   bit  23     VALID
 * ```
 *
 * The routes themselves are kept beside the tables (one map per prefix length), so that
 * deleting a route rewrites its entries with the longest shorter prefix that covers it, as
 * `rte_lpm_delete` does, and a tbl8 group whose 256 entries became one /24-or-shorter answer
 * is folded back into tbl24 and reused.
 *
 * tbl24 takes 64 MiB of address space; the kernel gives pages on first touch, so a table with
 * a few short routes costs little until a short prefix (a default route) writes all of it.
 * @module
 */
import { VnfError } from '@vnf-sdk/core';

/** What {@link Lpm.lookup} and {@link Lpm.lookupBurst} give for an address no route covers. */
export const LPM_MISS = 0xffff;
/** Largest next-hop id (65535 is {@link LPM_MISS}). */
export const MAX_NEXT_HOP = 0xfffe;

const NH_MASK = 0xffff;
const DEPTH_SHIFT = 16;
const DEPTH_MASK = 0x3f << DEPTH_SHIFT;
const EXT = 1 << 22;
const VALID = 1 << 23;
const TBL24_SIZE = 1 << 24;
const GROUP = 256;

const entry = (nextHop: number, depth: number) => VALID | (depth << DEPTH_SHIFT) | nextHop;
const depthOf = (e: number) => (e & DEPTH_MASK) >>> DEPTH_SHIFT;
/** The network mask of a prefix length, as an unsigned 32-bit number. */
export const maskOf = (depth: number) => (depth === 0 ? 0 : (0xffffffff << (32 - depth)) >>> 0);

/** Options of {@link Lpm}. */
export interface LpmOptions {
  /** tbl8 groups: how many distinct /24s may hold prefixes longer than /24. Default 1024 (1 MiB). */
  tbl8Groups?: number;
}

/** One route as {@link Lpm.routes} lists it. */
export interface LpmRoute {
  /** Network address, unsigned 32-bit (host bits zero). */
  prefix: number;
  depth: number;
  nextHop: number;
}

export class Lpm {
  /** Top-24-bit table. */
  readonly tbl24: Uint32Array;
  /** tbl8 groups, 256 entries each. */
  readonly tbl8: Uint32Array;
  readonly tbl8Groups: number;
  /** Routes by prefix length: network address -> next hop. */
  private readonly rules: Map<number, number>[] = Array.from({ length: 33 }, () => new Map());
  private readonly freeGroups: number[] = [];

  constructor(options: LpmOptions = {}) {
    const groups = options.tbl8Groups ?? 1024;
    if (!Number.isInteger(groups) || groups < 1 || groups > 0xffff) {
      throw new VnfError('VNF_INVALID_ARGUMENT', `Lpm: tbl8Groups must be an integer from 1 to 65535, got ${String(groups)}`);
    }
    this.tbl8Groups = groups;
    this.tbl24 = new Uint32Array(TBL24_SIZE);
    this.tbl8 = new Uint32Array(groups * GROUP);
    for (let g = groups - 1; g >= 0; g--) this.freeGroups.push(g);
  }

  /** Number of routes. */
  get size(): number {
    let n = 0;
    for (const r of this.rules) n += r.size;
    return n;
  }

  /** tbl8 groups in use. */
  get groupsUsed(): number {
    return this.tbl8Groups - this.freeGroups.length;
  }

  /** Every route, shortest prefixes first. */
  routes(): LpmRoute[] {
    const out: LpmRoute[] = [];
    this.rules.forEach((m, depth) => {
      for (const [prefix, nextHop] of m) out.push({ prefix, depth, nextHop });
    });
    return out;
  }

  /**
   * Adds the route `addr/depth -> nextHop`, or changes the next hop of an existing one. Host
   * bits of `addr` are ignored.
   * @throws VnfError `VNF_INVALID_ARGUMENT` for a bad depth or next hop, `VNF_NO_MEMORY`
   * when a prefix longer than /24 needs a tbl8 group and none is free (nothing changes).
   */
  add(addr: number, depth: number, nextHop: number): void {
    checkDepth(depth, 'add');
    if (!Number.isInteger(nextHop) || nextHop < 0 || nextHop > MAX_NEXT_HOP) {
      throw new VnfError('VNF_INVALID_ARGUMENT', `Lpm.add: next hop must be an integer from 0 to ${MAX_NEXT_HOP}, got ${String(nextHop)}`);
    }
    const ip = (addr & maskOf(depth)) >>> 0;
    const e = entry(nextHop, depth);
    if (depth <= 24) {
      this.rules[depth].set(ip, nextHop);
      const first = ip >>> 8;
      const last = first + (1 << (24 - depth));
      for (let i = first; i < last; i++) this.write24(i, depth, e);
      return;
    }
    const i = ip >>> 8;
    const g = this.groupFor(i);
    this.rules[depth].set(ip, nextHop);
    this.writeGroup(g, ip & 0xff, 1 << (32 - depth), depth, e);
  }

  /**
   * Deletes the route `addr/depth`; its addresses fall back to the longest shorter route
   * that covers them, or to no route. Returns whether the route existed.
   */
  delete(addr: number, depth: number): boolean {
    checkDepth(depth, 'delete');
    const ip = (addr & maskOf(depth)) >>> 0;
    if (!this.rules[depth].delete(ip)) return false;
    let replacement = 0;
    for (let d = depth - 1; d >= 0; d--) {
      const nh = this.rules[d].get((ip & maskOf(d)) >>> 0);
      if (nh !== undefined) {
        replacement = entry(nh, d);
        break;
      }
    }
    // Every entry in the deleted prefix's range has a depth >= `depth` (adding wrote them all,
    // shorter routes added later never overwrite longer ones): those with exactly `depth` were
    // the deleted route's.
    if (depth <= 24) {
      const first = ip >>> 8;
      const last = first + (1 << (24 - depth));
      for (let i = first; i < last; i++) {
        const e = this.tbl24[i];
        if (e & EXT) {
          const g = e & NH_MASK;
          this.replaceGroup(g, 0, GROUP, depth, replacement);
          this.foldGroup(i, g);
        } else if (e & VALID && depthOf(e) === depth) {
          this.tbl24[i] = replacement;
        }
      }
      return true;
    }
    const i = ip >>> 8;
    const g = this.tbl24[i] & NH_MASK;
    this.replaceGroup(g, ip & 0xff, 1 << (32 - depth), depth, replacement);
    this.foldGroup(i, g);
    return true;
  }

  /** The next hop of one address (unsigned 32-bit), or {@link LPM_MISS}. */
  lookup(addr: number): number {
    let e = this.tbl24[addr >>> 8];
    if (e & EXT) e = this.tbl8[((e & NH_MASK) << 8) | (addr & 0xff)];
    return e & VALID ? e & NH_MASK : LPM_MISS;
  }

  /**
   * Looks up `addrs[0..n)` into `out[0..n)` ({@link LPM_MISS} for no route) and returns how
   * many missed. No allocation.
   */
  lookupBurst(addrs: Uint32Array, n: number, out: Uint16Array | Uint32Array): number {
    const t24 = this.tbl24;
    const t8 = this.tbl8;
    let misses = 0;
    for (let k = 0; k < n; k++) {
      const a = addrs[k];
      let e = t24[a >>> 8];
      if (e & EXT) e = t8[((e & NH_MASK) << 8) | (a & 0xff)];
      if (e & VALID) {
        out[k] = e & NH_MASK;
      } else {
        out[k] = LPM_MISS;
        misses++;
      }
    }
    return misses;
  }

  /** Writes `e` (depth `depth`) into tbl24 slot `i`, or into its group, where no longer prefix wrote. */
  private write24(i: number, depth: number, e: number): void {
    const cur = this.tbl24[i];
    if (cur & EXT) this.writeGroup(cur & NH_MASK, 0, GROUP, depth, e);
    else if (!(cur & VALID) || depthOf(cur) <= depth) this.tbl24[i] = e;
  }

  private writeGroup(g: number, from: number, n: number, depth: number, e: number): void {
    const t8 = this.tbl8;
    const base = g * GROUP + from;
    for (let j = base; j < base + n; j++) {
      const cur = t8[j];
      if (!(cur & VALID) || depthOf(cur) <= depth) t8[j] = e;
    }
  }

  private replaceGroup(g: number, from: number, n: number, depth: number, replacement: number): void {
    const t8 = this.tbl8;
    const base = g * GROUP + from;
    for (let j = base; j < base + n; j++) {
      const cur = t8[j];
      if (cur & VALID && depthOf(cur) === depth) t8[j] = replacement;
    }
  }

  /** The tbl8 group of tbl24 slot `i`, made (filled with what the slot said) when there is none. */
  private groupFor(i: number): number {
    const cur = this.tbl24[i];
    if (cur & EXT) return cur & NH_MASK;
    const g = this.freeGroups.pop();
    if (g === undefined) {
      throw new VnfError('VNF_NO_MEMORY', `Lpm.add: all ${this.tbl8Groups} tbl8 groups are in use (prefixes longer than /24 in that many /24s); raise tbl8Groups`);
    }
    this.tbl8.fill(cur, g * GROUP, (g + 1) * GROUP);
    this.tbl24[i] = EXT | VALID | g;
    return g;
  }

  /** Folds group `g` back into tbl24 slot `i` when no prefix longer than /24 is left in it. */
  private foldGroup(i: number, g: number): void {
    const t8 = this.tbl8;
    const base = g * GROUP;
    const first = t8[base];
    if (first & VALID && depthOf(first) > 24) return;
    for (let j = base + 1; j < base + GROUP; j++) if (t8[j] !== first) return;
    this.tbl24[i] = first;
    this.freeGroups.push(g);
  }
}

function checkDepth(depth: number, op: string): void {
  if (!Number.isInteger(depth) || depth < 0 || depth > 32) {
    throw new VnfError('VNF_INVALID_ARGUMENT', `Lpm.${op}: depth must be an integer from 0 to 32, got ${String(depth)}`);
  }
}

/** "10.1.2.3" -> unsigned 32-bit, or null. */
export function ipv4ToNumber(text: string): number | null {
  const m = /^(0|[1-9]\d{0,2})\.(0|[1-9]\d{0,2})\.(0|[1-9]\d{0,2})\.(0|[1-9]\d{0,2})$/.exec(text);
  if (!m) return null;
  let v = 0;
  for (let k = 1; k <= 4; k++) {
    const b = Number(m[k]);
    if (b > 255) return null;
    v = v * 256 + b;
  }
  return v;
}

/** Unsigned 32-bit -> "10.1.2.3". */
export function numberToIpv4(v: number): string {
  return `${v >>> 24}.${(v >>> 16) & 0xff}.${(v >>> 8) & 0xff}.${v & 0xff}`;
}
