import type { Burst, Mempool } from '@vnf-sdk/core';
import type { FlowKeys } from './flow-keys.js';
import { PoolViews } from './pool-views.js';
import { malformed, PTYPE, Reason, type ReasonCode } from './ptype.js';

// EtherTypes and IP protocol numbers the fast path knows.
const ETH_IPV4 = 0x0800;
const ETH_ARP = 0x0806;
const ETH_VLAN = 0x8100;
const ETH_QINQ = 0x88a8;
const ETH_QINQ_OLD = 0x9100;
const ETH_IPV6 = 0x86dd;
const ETH_MPLS = 0x8847;
const ETH_MPLS_MC = 0x8848;
const ETH_TEB = 0x6558; // GRE: transparent Ethernet bridging
const IP_ICMP = 1;
const IP_TCP = 6;
const IP_UDP = 17;
const IP_GRE = 47;
const IP_ICMPV6 = 58;
const IP_SCTP = 132;
const IP6_HOP = 0;
const IP6_ROUTING = 43;
const IP6_FRAGMENT = 44;
const IP6_AH = 51;
const IP6_DSTOPTS = 60;
const UDP_VXLAN = 4789;
const UDP_GTPU = 2152;

// The values the flat path needs, as literals: V8 (Node 20) loads a module-level constant from
// the module context, with a type check, at every use, where esbuild writes an enum member in
// place. The bits are PTYPE's (the test that holds the flat path equal to the general one
// would see a wrong one).
enum L {
  ETHER = 1 << 0,
  VLAN = 1 << 1,
  IPV4 = 1 << 5,
  IPV6 = 1 << 6,
  TCP = 1 << 9,
  UDP = 1 << 10,
  ICMP = 1 << 11,
  MALFORMED = 1 << 31,
  INNER_IPV4 = 1 << 18,
  INNER_IPV6 = 1 << 19,
  INNER_TCP = 1 << 20,
  INNER_UDP = 1 << 21,
  INNER_ICMP = 1 << 22,
  VXLAN = 1 << 15,
  GTPU = 1 << 16,
  INNER_ETHER = 1 << 17,
  ETH_IPV4 = 0x0800,
  ETH_VLAN = 0x8100,
  ETH_IPV6 = 0x86dd,
  IP_ICMP = 1,
  IP_TCP = 6,
  IP_UDP = 17,
  IP_ICMPV6 = 58,
  UDP_VXLAN = 4789,
  UDP_GTPU = 2152,
}

/** The burst loop: parses `ids[0 .. n)` and fills the keys (see BurstParser.run). */
type BurstLoop = (ids: Uint32Array, n: number, ok: FlowKeys | null, ik: FlowKeys | null) => void;

/** What the burst loop uses of its parser. */
interface LoopParser {
  bytes: Uint8Array;
  view: DataView;
  bufferSize: number;
  dataOff: Uint16Array;
  dataLen: Uint16Array;
  ptype: Uint32Array;
  l2Off: Uint16Array;
  l3Off: Uint16Array;
  l4Off: Uint16Array;
  innerL2Off: Uint16Array;
  innerL3Off: Uint16Array;
  innerL4Off: Uint16Array;
  general(i: number, b: number, base: number, len: number, ok: FlowKeys | null, ik: FlowKeys | null): void;
}

/**
 * The burst loop. The common case is flat, inside the loop, because V8 will not inline
 * the general per-layer methods: Ethernet II with at most one VLAN tag, IPv4 without
 * options or fragmentation or IPv6 without extension headers, then TCP, UDP (VXLAN and
 * GTP-U handed straight to the tunnel parser) or ICMP, with every length consistent.
 * Anything else goes to the general path (`general`), which gives the same answer for
 * everything the flat path accepts (a test holds them equal).
 *
 * Offsets are written only for the layers found: a reader checks the ptype bit first (an
 * offset without its bit is stale), which saves stores per packet.
 */
function makeBurstLoop(p: LoopParser, bok: FlowKeys | null, bik: FlowKeys | null, bound: boolean): BurstLoop {
  // The parser's views, fixed for its life. Each parser gets its own copy of this function
  // (specializedBurstLoop), so V8 compiles the loop below for this one closure: TurboFan then
  // takes these bindings as constants, and every access to these arrays becomes a bounds
  // check against a constant length and a load or store at a constant address, instead of a
  // map check and loads of the array's length and data pointers at every packet. (Nothing
  // outside this function's own text may be named in it: see specializedBurstLoop.)
  const x = p.bytes;
  const v = p.view;
  const bufferSize = p.bufferSize;
  const dataOff = p.dataOff;
  const dataLen = p.dataLen;
  const ptype = p.ptype;
  const l2Off = p.l2Off;
  const l3Off = p.l3Off;
  const l4Off = p.l4Off;
  const innerL2Off = p.innerL2Off;
  const innerL3Off = p.innerL3Off;
  const innerL4Off = p.innerL4Off;
  // The keys a bound loop is for (see BurstParser.parse). Parameters are variables: only
  // `const` bindings become constants.
  const boundOk = bok;
  const boundIk = bik;
  const isBound = bound;
  // Stand-ins for a FlowKeys' views when no keys are asked for (never written).
  const noU8 = new Uint8Array(0);
  const noU16 = new Uint16Array(0);
  const noI32 = new Int32Array(0);
  // Burst positions the flat loop leaves to the general path (grown to the largest burst).
  let slowList = new Int32Array(64);
  return function burstLoop(ids: Uint32Array, n: number, ok: FlowKeys | null, ik: FlowKeys | null): void {
    // A loop bound to one pair of keys is only called with them: in its own copy, TurboFan
    // takes their views as constants too.
    const ko = isBound ? boundOk : ok;
    const ki = isBound ? boundIk : ik;
    const outer = ko !== null;
    const inner = ki !== null;
    // The keys are written through three views of each FlowKeys' one buffer (see
    // FlowKeys.words for the layout) instead of its six arrays: V8 checks the map and loads
    // the length and data pointer of every typed array a loop iteration touches. (Not through
    // a DataView: TurboFan forgets all it knows about every array after a DataView store.)
    const ow = outer ? ko.words : noI32;
    const oh = outer ? ko.halves : noU16;
    const o8 = outer ? ko.octets : noU8;
    const iw = inner ? ki.words : noI32;
    const ih = inner ? ki.halves : noU16;
    const i8 = inner ? ki.octets : noU8;
    const oc = outer ? ko.capacity | 0 : 0;
    const ic = inner ? ki.capacity | 0 : 0;
    if (slowList.length < n) slowList = new Int32Array(n);
    const slow = slowList;
    if (inner) {
      // No inner keys, unless the loop below finds a tunnel: zeros first (version, protocol
      // and ports), in a loop of its own.
      for (let i = 0; i < n; i++) {
        ih[ic * 16 + i] = 0;
        ih[ic * 17 + i] = 0;
        i8[ic * 36 + i] = 0;
        i8[ic * 37 + i] = 0;
      }
    }
    let ns = 0; // burst positions left to the general path, in slow[0 .. ns)
    for (let i = 0; i < n; i++) {
      // `| 0`: buffer indices are far below 2^31; as int32 the offset arithmetic stays integer.
      const b = ids[i] | 0;
      const base = b * bufferSize + dataOff[b];
      const len = dataLen[b];
      // The loop calls nothing: what the flat path does not take goes to the general path
      // after it (slow).
      if (len < 34) {
        slow[ns++] = i;
        continue;
      }
      let t: number = L.ETHER;
      let off = 14;
      // Big-endian 16- and 32-bit words in one DataView read each (a load and a byte swap),
      // never past what the checks before have shown to be in the packet.
      let type = v.getUint16(base + 12);
      if (type === L.ETH_VLAN) {
        type = v.getUint16(base + 16);
        off = 18;
        t |= L.VLAN;
      }
      const p = base + off;
      let l4: number;
      let end: number;
      let proto: number;
      if (type === L.ETH_IPV4) {
        // len >= 34: the first 20 bytes of the IPv4 header are in the packet.
        const w0 = v.getInt32(p);
        const total = w0 & 0xffff;
        if (w0 >>> 24 !== 0x45 || off + 20 > len || total < 20 || off + total > len || v.getUint16(p + 6) & 0x3fff) {
          slow[ns++] = i;
          continue;
        }
        t |= L.IPV4;
        proto = x[p + 9];
        l4 = off + 20;
        end = off + total;
      } else if (type === L.ETH_IPV6) {
        const plen = v.getUint16(p + 4);
        if (x[p] >> 4 !== 6 || off + 40 > len || plen === 0 || off + 40 + plen > len) {
          slow[ns++] = i;
          continue;
        }
        t |= L.IPV6;
        proto = x[p + 6];
        l4 = off + 40;
        end = off + 40 + plen;
      } else {
        slow[ns++] = i;
        continue;
      }
      const q = base + l4;
      const room = end - l4;
      let ulen = 0;
      // Source and destination port in one word (0 for ICMP).
      let ports = 0;
      if (proto === L.IP_TCP) {
        // Each read only after the check that the packet holds it.
        if (room < 20) {
          slow[ns++] = i;
          continue;
        }
        const doff = (x[q + 12] >> 4) << 2;
        if (doff < 20 || doff > room) {
          slow[ns++] = i;
          continue;
        }
        t |= L.TCP;
        ports = v.getInt32(q);
      } else if (proto === L.IP_UDP) {
        if (room < 8) {
          slow[ns++] = i;
          continue;
        }
        ulen = v.getUint16(q + 4);
        if (ulen < 8 || ulen > room) {
          slow[ns++] = i;
          continue;
        }
        t |= L.UDP;
        ports = v.getInt32(q);
      } else if (proto === L.IP_ICMP && type === L.ETH_IPV4 && room >= 4) {
        t |= L.ICMP;
      } else {
        slow[ns++] = i;
        continue;
      }
      if (ulen !== 0) {
        const port = ports & 0xffff;
        if (port === L.UDP_VXLAN || port === L.UDP_GTPU) {
          // Tunnels are common enough to skip the general path for the outer headers too, and
          // for the common inner packet (IPv4 without options or fragmentation, then TCP or
          // UDP, behind VXLAN's Ethernet or a GTP-U header without optional fields) to skip
          // the tunnel parser as well; anything else in a tunnel goes to the general path.
          const tend = l4 + ulen;
          let ip = 0;
          if (port === L.UDP_VXLAN) {
            const e = l4 + 16;
            if (e + 34 <= tend && v.getUint16(base + e + 12) === L.ETH_IPV4) {
              ip = e + 14;
              t |= L.VXLAN | L.INNER_ETHER;
            }
          } else if (l4 + 36 <= tend && (v.getUint16(base + l4 + 8) & 0xe7ff) === 0x20ff) {
            // GTP-U: version 1, no E, S or PN flag, a G-PDU (message type 255).
            ip = l4 + 16;
            t |= L.GTPU;
          }
          let il4 = 0;
          let iproto = 0;
          if (ip !== 0) {
            const r = base + ip;
            const w0 = v.getInt32(r);
            const itotal = w0 & 0xffff;
            if (w0 >>> 24 === 0x45 && itotal >= 20 && ip + itotal <= tend && (v.getUint16(r + 6) & 0x3fff) === 0) {
              iproto = x[r + 9];
              const iroom = itotal - 20;
              const s = r + 20;
              if (iproto === L.IP_TCP) {
                if (iroom >= 20) {
                  const doff = (x[s + 12] >> 4) << 2;
                  if (doff >= 20 && doff <= iroom) {
                    il4 = ip + 20;
                    t |= L.INNER_IPV4 | L.INNER_TCP;
                  }
                }
              } else if (iproto === L.IP_UDP && iroom >= 8) {
                const iulen = v.getUint16(s + 4);
                if (iulen >= 8 && iulen <= iroom) {
                  il4 = ip + 20;
                  t |= L.INNER_IPV4 | L.INNER_UDP;
                }
              }
            }
          }
          if (il4 === 0) {
            slow[ns++] = i;
            continue;
          }
          if (t & L.INNER_ETHER) innerL2Off[b] = ip - 14;
          innerL3Off[b] = ip;
          innerL4Off[b] = il4;
          if (inner) {
            // Inner IPv4 with TCP or UDP: the keys straight from the headers just checked.
            const r = base + ip;
            const s = i << 2;
            const d = (ic + i) << 2;
            iw[s] = 0;
            iw[s + 1] = 0;
            iw[s + 2] = 0;
            iw[s + 3] = v.getInt32(r + 12);
            iw[d] = 0;
            iw[d + 1] = 0;
            iw[d + 2] = 0;
            iw[d + 3] = v.getInt32(r + 16);
            const iports = v.getInt32(r + 20);
            ih[ic * 16 + i] = iports >>> 16;
            ih[ic * 17 + i] = iports;
            i8[ic * 36 + i] = 4;
            i8[ic * 37 + i] = iproto;
          }
        }
      }
      ptype[b] = t;
      l2Off[b] = 0;
      l3Off[b] = off;
      l4Off[b] = l4;
      if (outer) {
        const s = i << 2;
        const d = (oc + i) << 2;
        if (type === L.ETH_IPV4) {
          ow[s] = 0;
          ow[s + 1] = 0;
          ow[s + 2] = 0;
          ow[s + 3] = v.getInt32(p + 12);
          ow[d] = 0;
          ow[d + 1] = 0;
          ow[d + 2] = 0;
          ow[d + 3] = v.getInt32(p + 16);
          o8[oc * 36 + i] = 4;
        } else {
          ow[s] = v.getInt32(p + 8);
          ow[s + 1] = v.getInt32(p + 12);
          ow[s + 2] = v.getInt32(p + 16);
          ow[s + 3] = v.getInt32(p + 20);
          ow[d] = v.getInt32(p + 24);
          ow[d + 1] = v.getInt32(p + 28);
          ow[d + 2] = v.getInt32(p + 32);
          ow[d + 3] = v.getInt32(p + 36);
          o8[oc * 36 + i] = 6;
        }
        // The flat path's protocols are the IP header's own (TCP, UDP, ICMP over IPv4).
        o8[oc * 37 + i] = proto;
        oh[oc * 16 + i] = ports >>> 16;
        oh[oc * 17 + i] = ports;
      }
    }
    for (let k = 0; k < ns; k++) {
      const i = slow[k];
      const b = ids[i] | 0;
      p.general(i, b, b * bufferSize + dataOff[b], dataLen[b], ko, ki);
    }
    if (outer) ko.count = n;
    if (inner) ki.count = n;
  };
}

/**
 * Copies of the burst loop compiled so far, and a tag of this instance of the module (a
 * process can load it twice, as ESM and CommonJS): in each copy's text, to make it its own.
 */
let loopCopies = 0;
const moduleTag = Math.random().toString(36).slice(2, 10);

/**
 * A burst loop of its own for parser `p`: makeBurstLoop compiled anew (`new Function` over its
 * own text), so that its closure is the only one of its function and V8 specializes the
 * optimized loop to this parser's views (function context specialization, which V8 applies
 * only to a function with a single closure). With `bound`, a copy for keys `bok` and `bik`
 * only (their views constants too). Where code generation from strings is not allowed, or
 * the copy fails, the shared makeBurstLoop: the same loop, without the constants.
 */
function specializedBurstLoop(
  p: LoopParser,
  bok: FlowKeys | null = null,
  bik: FlowKeys | null = null,
  bound = false,
): { loop: BurstLoop; specialized: boolean } {
  try {
    // A text of its own (the copy's number in it): V8 caches the function compiled from a
    // text, and copies sharing it would share their closures' feedback, which rules out the
    // specialization after the first.
    const make = new Function(
      `return ${makeBurstLoop.toString()}\n//# sourceURL=vnf-sdk-protocols-burst-loop-${moduleTag}-${++loopCopies}.js`,
    )() as typeof makeBurstLoop;
    return { loop: make(p, bok, bik, bound), specialized: true };
  } catch {
    return { loop: makeBurstLoop(p, bok, bik, bound), specialized: false };
  }
}

/** Calls with the same keys before the parser binds a loop to them. */
const BIND_AFTER = 64;
/** Most loops a parser binds to keys. */
const MAX_BINDS = 4;

/** Most VLAN tags, MPLS labels or IPv6 extension headers walked before giving up. */
export const MAX_CHAIN = 8;

/**
 * Parses bursts in place: for each packet it writes the packet type bits (`meta.ptype`,
 * see {@link PTYPE}) and the header offsets (`l2Off`, `l3Off`, `l4Off` and, in tunnels,
 * `innerL2Off`, `innerL3Off`, `innerL4Off`), relative to the packet's data start. It
 * allocates nothing, never reads outside a packet's `dataLen` bytes and never throws on
 * packet contents: a malformed packet gets {@link PTYPE.MALFORMED} and a reason code.
 *
 * Make one per pool (and per thread) and reuse it: it holds the pool's views, and compiles
 * its own copy of the burst loop for them (with `new Function`; where code generation from
 * strings is disallowed it runs the shared loop instead: the same results, slower). Passing
 * the same keys call after call lets it compile a copy for them too.
 */
export class BurstParser extends PoolViews {
  // Out-parameters of the per-layer helpers (no allocation for multiple results).
  private l3 = 0;
  private l4 = 0;
  private l4End = 0; // end of the layer-4 data: UDP length, or the IP packet's end


  // One buffer index, for parseOne.
  private readonly one = new Uint32Array(1);
  /**
   * The burst loop (see makeBurstLoop), this parser's own: `run(ids, n, keys, innerKeys)`.
   * The common case is flat inside it; what it does not take goes to `general`.
   */
  private run: BurstLoop;
  /** @internal Whether `run` is the parser's own compiled copy (see specializedBurstLoop). */
  specialized: boolean;

  // A loop bound to the keys of the last calls (see parse), once they have been the same
  // for a while: `bound` is called only with `boundOk` and `boundIk`.
  private bound: BurstLoop | null = null;
  private boundOk: FlowKeys | null = null;
  private boundIk: FlowKeys | null = null;
  private lastOk: FlowKeys | null = null;
  private lastIk: FlowKeys | null = null;
  private sameKeys = 0;
  private binds = 0;

  constructor(pool: Mempool) {
    super(pool);
    const { loop, specialized } = specializedBurstLoop(this as unknown as LoopParser);
    this.run = loop;
    this.specialized = specialized;
  }

  /**
   * Parses every packet of the burst. With `keys` (and `innerKeys`) it also fills them as
   * `keys.extract(burst)` (and `innerKeys.extract(burst, true)`) would, in the same pass:
   * each packet's headers are read once, while they are in the L1 cache and the parser
   * still knows where everything is.
   */
  parse(burst: Burst, keys?: FlowKeys, innerKeys?: FlowKeys): void {
    const n = burst.count;
    const ok = keys ?? null;
    const ik = innerKeys ?? null;
    if ((ok !== null && ok.capacity < n) || (ik !== null && ik.capacity < n)) {
      // Keys smaller than the burst: the separate extraction fills what fits.
      this.loop(this.run, burst.ids, n, null, null);
      ok?.extract(burst);
      ik?.extract(burst, true);
      return;
    }
    if (this.bound !== null && ok === this.boundOk && ik === this.boundIk) {
      this.loop(this.bound, burst.ids, n, ok, ik);
      return;
    }
    // The same keys call after call (a stage parsing into its own keys): after BIND_AFTER
    // calls, a copy of the loop bound to them, so that their views are constants as the
    // pool's are. At most MAX_BINDS copies per parser: callers that change keys often keep the
    // loop that takes them as arguments.
    if (ok === this.lastOk && ik === this.lastIk) {
      if (++this.sameKeys === BIND_AFTER && this.specialized && this.binds < MAX_BINDS && ok !== null) {
        this.binds++;
        const { loop, specialized } = specializedBurstLoop(this as unknown as LoopParser, ok, ik, true);
        if (specialized) {
          this.bound = loop;
          this.boundOk = ok;
          this.boundIk = ik;
        }
      }
    } else {
      this.lastOk = ok;
      this.lastIk = ik;
      this.sameKeys = 0;
    }
    this.loop(this.run, burst.ids, n, ok, ik);
  }

  /**
   * Parses one buffer; returns its ptype (also stored in `meta.ptype`). `l2Off` is always
   * 0 (the Ethernet header starts the data); the other offsets are valid only when their
   * layer's ptype bit is set.
   */
  parseOne(b: number): number {
    this.one[0] = b;
    this.loop(this.run, this.one, 1, null, null);
    return this.ptype[b] >>> 0;
  }

  private loop(run: BurstLoop, ids: Uint32Array, n: number, ok: FlowKeys | null, ik: FlowKeys | null): void {
    try {
      run(ids, n, ok, ik);
    } catch (e) {
      // The compiled copy failed where the shared function would not (its text changed by a
      // tool, e.g. coverage counters naming module variables): the shared one from now on,
      // which rewrites everything the copy wrote.
      if (!this.specialized) throw e;
      this.specialized = false;
      this.run = makeBurstLoop(this as unknown as LoopParser, null, null, false);
      this.bound = null;
      this.run(ids, n, ok, ik);
    }
  }

  /** @internal The general path alone, for the test that holds both paths equal. */
  parseOneGeneral(b: number): number {
    const base = b * this.bufferSize + this.dataOff[b];
    const t = this.parseEthernet(b, base, this.dataLen[b]) >>> 0;
    this.ptype[b] = t;
    return t;
  }

  /** @internal The general path for packet `i` of a burst (buffer `b`), and its keys. */
  general(i: number, b: number, base: number, len: number, ok: FlowKeys | null, ik: FlowKeys | null): void {
    this.ptype[b] = this.parseEthernet(b, base, len) >>> 0;
    if (ok !== null) ok.extractOne(i, b, false);
    if (ik !== null) ik.extractOne(i, b, true);
  }

  private parseEthernet(b: number, base: number, len: number): number {
    const bytes = this.bytes;
    this.l2Off[b] = 0;
    if (len < 14) return malformed(Reason.TRUNCATED_L2);
    let t: number = PTYPE.ETHER;
    let off = 14;
    let type = (bytes[base + 12] << 8) | bytes[base + 13];
    let tags = 0;
    while (type === ETH_VLAN || type === ETH_QINQ || type === ETH_QINQ_OLD) {
      if (++tags > MAX_CHAIN) return malformed(Reason.TOO_MANY_TAGS);
      if (off + 4 > len) return malformed(Reason.TRUNCATED_VLAN);
      t |= tags === 1 ? PTYPE.VLAN : PTYPE.QINQ;
      type = (bytes[base + off + 2] << 8) | bytes[base + off + 3];
      off += 4;
    }
    if (type === ETH_MPLS || type === ETH_MPLS_MC) {
      t |= PTYPE.MPLS;
      let labels = 0;
      for (;;) {
        if (++labels > MAX_CHAIN) return malformed(Reason.HEADER_CHAIN_TOO_LONG);
        if (off + 4 > len) return malformed(Reason.TRUNCATED_MPLS);
        const bottom = bytes[base + off + 2] & 1;
        off += 4;
        if (bottom) break;
      }
      // MPLS does not say what it carries: the first nibble of an IP header does.
      if (off >= len) return t;
      const v = bytes[base + off] >> 4;
      type = v === 4 ? ETH_IPV4 : v === 6 ? ETH_IPV6 : 0;
    }
    if (type === ETH_ARP) {
      if (off + 28 > len) return malformed(Reason.TRUNCATED_ARP);
      this.l3Off[b] = off;
      return t | PTYPE.ARP;
    }
    if (type !== ETH_IPV4 && type !== ETH_IPV6) return t;
    const r = this.parseIp(base, off, len, type === ETH_IPV6, false);
    if (r < 0) return malformed(-r as ReasonCode);
    this.l3Off[b] = this.l3;
    if (r & L4_FOUND) this.l4Off[b] = this.l4;
    t |= r & ~L4_FOUND;
    // Tunnels: VXLAN and GTP-U over UDP, GRE; the inner packet's offsets too.
    // A fragment does not hold a whole tunnelled packet: no tunnel parsing.
    if (t & PTYPE.FRAG) return t;
    if (t & PTYPE.UDP) return this.parseUdpTunnel(b, base, t);
    if (t & PTYPE.GRE) return this.parseGre(b, base, t);
    return t;
  }

  /**
   * Parses an IP header at `off` and the layer-4 header behind it. Returns the ptype bits
   * (outer or inner ones), with L4_FOUND when this.l4 is valid, or a negative reason.
   * Sets this.l3 and this.l4 (offsets from base).
   */
  private parseIp(base: number, off: number, len: number, v6: boolean, inner: boolean): number {
    const bytes = this.bytes;
    const p = base + off;
    this.l3 = off;
    let t = 0;
    let proto: number;
    let l4: number;
    let end: number;
    // The first fragment of a datagram: its UDP length covers all fragments, not this one.
    let firstFragment = false;
    if (!v6) {
      if (off + 20 > len) return -Reason.TRUNCATED_IPV4;
      if (bytes[p] >> 4 !== 4) return -Reason.BAD_IP_VERSION;
      const ihl = (bytes[p] & 15) << 2;
      if (ihl < 20) return -Reason.BAD_IHL;
      if (off + ihl > len) return -Reason.TRUNCATED_IPV4;
      const total = (bytes[p + 2] << 8) | bytes[p + 3];
      // Ethernet may pad short frames: the capture can be longer than the IP packet.
      if (total < ihl || off + total > len) return -Reason.BAD_TOTAL_LENGTH;
      t = inner ? PTYPE.INNER_IPV4 : PTYPE.IPV4;
      if (ihl > 20 && !inner) t |= PTYPE.IP_EXT;
      const frag = (bytes[p + 6] << 8) | bytes[p + 7];
      if (frag & 0x3fff) {
        if (!inner) t |= PTYPE.FRAG;
        // A later fragment carries no layer-4 header.
        if (frag & 0x1fff) return t;
        firstFragment = true;
      }
      proto = bytes[p + 9];
      l4 = off + ihl;
      end = off + total;
    } else {
      if (off + 40 > len) return -Reason.TRUNCATED_IPV6;
      if (bytes[p] >> 4 !== 6) return -Reason.BAD_IP_VERSION;
      const plen = (bytes[p + 4] << 8) | bytes[p + 5];
      // Payload length 0 is a jumbogram (or a capture of one): take what is there.
      end = plen === 0 ? len : off + 40 + plen;
      if (end > len) return -Reason.BAD_PAYLOAD_LENGTH;
      t = inner ? PTYPE.INNER_IPV6 : PTYPE.IPV6;
      proto = bytes[p + 6];
      l4 = off + 40;
      let headers = 0;
      while (proto === IP6_HOP || proto === IP6_ROUTING || proto === IP6_FRAGMENT || proto === IP6_DSTOPTS || proto === IP6_AH) {
        if (++headers > MAX_CHAIN) return -Reason.HEADER_CHAIN_TOO_LONG;
        if (l4 + 8 > end) return -Reason.TRUNCATED_EXT_HEADER;
        const q = base + l4;
        if (!inner) t |= PTYPE.IP_EXT;
        if (proto === IP6_FRAGMENT) {
          const field = (bytes[q + 2] << 8) | bytes[q + 3];
          proto = bytes[q];
          l4 += 8;
          // An atomic fragment (offset 0, no more) is a whole packet (RFC 6946).
          if (field & 0xfff9) {
            if (!inner) t |= PTYPE.FRAG;
            if (field & 0xfff8) return t; // a later fragment
            firstFragment = true;
          }
          continue;
        }
        const size = proto === IP6_AH ? (bytes[q + 1] + 2) << 2 : (bytes[q + 1] + 1) << 3;
        if (l4 + size > end) return -Reason.TRUNCATED_EXT_HEADER;
        proto = bytes[q];
        l4 += size;
      }
    }
    this.l4 = l4;
    this.l4End = end;
    const q = base + l4;
    const room = end - l4;
    switch (proto) {
      case IP_TCP: {
        if (room < 20) return -Reason.TRUNCATED_TCP;
        const doff = (bytes[q + 12] >> 4) << 2;
        if (doff < 20) return -Reason.BAD_TCP_OFFSET;
        if (doff > room) return -Reason.TRUNCATED_TCP;
        return t | (inner ? PTYPE.INNER_TCP : PTYPE.TCP) | L4_FOUND;
      }
      case IP_UDP: {
        if (room < 8) return -Reason.TRUNCATED_UDP;
        const ulen = (bytes[q + 4] << 8) | bytes[q + 5];
        if (ulen < 8 || (ulen > room && !firstFragment)) return -Reason.BAD_UDP_LENGTH;
        this.l4End = firstFragment ? end : l4 + ulen;
        return t | (inner ? PTYPE.INNER_UDP : PTYPE.UDP) | L4_FOUND;
      }
      case IP_ICMP:
      case IP_ICMPV6:
        if (room < 4) return -Reason.TRUNCATED_ICMP;
        if (inner) return t | PTYPE.INNER_ICMP | L4_FOUND;
        return t | (proto === IP_ICMP ? PTYPE.ICMP : PTYPE.ICMPV6) | L4_FOUND;
      case IP_SCTP:
        if (room < 12) return -Reason.TRUNCATED_SCTP;
        return inner ? t : t | PTYPE.SCTP | L4_FOUND;
      case IP_GRE:
        if (room < 4) return -Reason.TRUNCATED_GRE;
        return inner ? t : t | PTYPE.GRE | L4_FOUND;
      default:
        return t;
    }
  }

  private parseUdpTunnel(b: number, base: number, t: number): number {
    const bytes = this.bytes;
    const udp = this.l4Off[b];
    const port = (bytes[base + udp + 2] << 8) | bytes[base + udp + 3];
    const end = this.l4End;
    if (port === UDP_VXLAN) {
      // 8-byte VXLAN header (I flag, 24-bit VNI), then an Ethernet frame.
      const eth = udp + 16;
      if (eth + 14 > end) return malformed(Reason.TRUNCATED_TUNNEL);
      t |= PTYPE.VXLAN | PTYPE.INNER_ETHER;
      this.innerL2Off[b] = eth;
      let type = (bytes[base + eth + 12] << 8) | bytes[base + eth + 13];
      let off = eth + 14;
      if (type === ETH_VLAN) {
        if (off + 4 > end) return malformed(Reason.TRUNCATED_INNER);
        type = (bytes[base + off + 2] << 8) | bytes[base + off + 3];
        off += 4;
      }
      if (type !== ETH_IPV4 && type !== ETH_IPV6) return t;
      return this.parseInner(b, base, off, end, type === ETH_IPV6, t);
    }
    if (port === UDP_GTPU) {
      const g = udp + 8;
      if (g + 8 > end) return malformed(Reason.TRUNCATED_TUNNEL);
      const flags = bytes[base + g];
      t |= PTYPE.GTPU;
      // Only version 1 G-PDUs (message type 255) carry a user packet.
      if (flags >> 5 !== 1 || bytes[base + g + 1] !== 255) return t;
      let hdr = 8;
      if (flags & 0x07) {
        // E, S or PN: the 4 optional bytes are present; with E, extension headers follow,
        // each a multiple of 4 bytes whose last byte names the next one.
        hdr = 12;
        if (g + hdr > end) return malformed(Reason.TRUNCATED_TUNNEL);
        let next = flags & 0x04 ? bytes[base + g + 11] : 0;
        let exts = 0;
        while (next !== 0) {
          if (++exts > MAX_CHAIN) return malformed(Reason.HEADER_CHAIN_TOO_LONG);
          if (g + hdr + 1 > end) return malformed(Reason.TRUNCATED_TUNNEL);
          const size = bytes[base + g + hdr] << 2;
          if (size === 0 || g + hdr + size > end) return malformed(Reason.TRUNCATED_TUNNEL);
          next = bytes[base + g + hdr + size - 1];
          hdr += size;
        }
      }
      const ip = g + hdr;
      if (ip >= end) return t;
      const v = bytes[base + ip] >> 4;
      if (v !== 4 && v !== 6) return t;
      return this.parseInner(b, base, ip, end, v === 6, t);
    }
    return t;
  }

  private parseGre(b: number, base: number, t: number): number {
    const bytes = this.bytes;
    const gre = this.l4Off[b];
    const len = this.l4End;
    const flags = bytes[base + gre];
    // Checksum (C), key (K) and sequence (S) each add 4 bytes to the 4-byte base header.
    const hdr = 4 + (flags & 0x80 ? 4 : 0) + (flags & 0x20 ? 4 : 0) + (flags & 0x10 ? 4 : 0);
    if (gre + hdr > len) return malformed(Reason.TRUNCATED_GRE);
    const type = (bytes[base + gre + 2] << 8) | bytes[base + gre + 3];
    let off = gre + hdr;
    if (type === ETH_TEB) {
      if (off + 14 > len) return malformed(Reason.TRUNCATED_INNER);
      this.innerL2Off[b] = off;
      t |= PTYPE.INNER_ETHER;
      const inner = (bytes[base + off + 12] << 8) | bytes[base + off + 13];
      off += 14;
      if (inner !== ETH_IPV4 && inner !== ETH_IPV6) return t;
      return this.parseInner(b, base, off, len, inner === ETH_IPV6, t);
    }
    if (type !== ETH_IPV4 && type !== ETH_IPV6) return t;
    return this.parseInner(b, base, off, len, type === ETH_IPV6, t);
  }

  private parseInner(b: number, base: number, off: number, end: number, v6: boolean, t: number): number {
    const r = this.parseIp(base, off, end, v6, true);
    // A malformed inner packet: the outer one is fine, but the packet cannot be handled as a
    // tunnelled packet, so it is dropped with its own reason.
    if (r < 0) return malformed(-r as ReasonCode);
    this.innerL3Off[b] = this.l3;
    if (r & L4_FOUND) this.innerL4Off[b] = this.l4;
    return t | (r & ~L4_FOUND);
  }
}

// Internal flag of parseIp's result: the layer-4 offset is valid. Bit 23 is unused by PTYPE.
const L4_FOUND = 1 << 23;
