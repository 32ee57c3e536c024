import type { Burst, Mempool } from '@vnf-sdk/core';
import { PoolViews } from './pool-views.js';
import { PTYPE } from './ptype.js';

const OUTER_L4 = PTYPE.TCP | PTYPE.UDP | PTYPE.SCTP;
const INNER_L4 = PTYPE.INNER_TCP | PTYPE.INNER_UDP;

/**
 * The 5-tuples of a burst, as structure of arrays: what flow hashing, ACL classification
 * and NAT lookups consume, one burst at a time (and what a native stage can take in one
 * call). Entry `i` describes `burst.ids[i]`.
 *
 * Addresses are four 32-bit words per packet, most significant first; an IPv4 address is
 * in word 3 with words 0-2 zero (so IPv4 and IPv6 keys never collide). Ports are 0 when
 * the packet has no TCP, UDP or SCTP header (ICMP, fragments after the first, ...).
 */
export class FlowKeys extends PoolViews {
  /** 4, 6, or 0 for a packet without (inner) IP. */
  readonly version: Uint8Array;
  readonly protocol: Uint8Array;
  readonly srcPort: Uint16Array;
  readonly dstPort: Uint16Array;
  /** Source address words: `src[4 * i + k]`. */
  readonly src: Uint32Array;
  /** Destination address words: `dst[4 * i + k]`. */
  readonly dst: Uint32Array;
  count = 0;
  /**
   * @internal All the fields above are views of one buffer, laid out (for capacity `c`) as
   * src words at byte 0, dst words at `16c`, srcPort at `32c`, dstPort at `34c`, version at
   * `36c`, protocol at `37c`. The parser writes a packet's keys through these three views of
   * the whole buffer instead of the six arrays: V8 checks the map and loads the length and
   * data pointer of every typed array a loop iteration touches.
   */
  readonly words: Int32Array;
  /** @internal See {@link FlowKeys.words}: srcPort `i` is `halves[16c + i]`, dstPort `halves[17c + i]`. */
  readonly halves: Uint16Array;
  /** @internal See {@link FlowKeys.words}: version `i` is `octets[36c + i]`, protocol `octets[37c + i]`. */
  readonly octets: Uint8Array;

  /** Keys for bursts of up to `capacity` packets from `pool`. */
  constructor(pool: Mempool, capacity = 256) {
    super(pool);
    const c = Math.trunc(capacity);
    const buf = new ArrayBuffer(38 * c);
    this.src = new Uint32Array(buf, 0, 4 * c);
    this.dst = new Uint32Array(buf, 16 * c, 4 * c);
    this.srcPort = new Uint16Array(buf, 32 * c, c);
    this.dstPort = new Uint16Array(buf, 34 * c, c);
    this.version = new Uint8Array(buf, 36 * c, c);
    this.protocol = new Uint8Array(buf, 37 * c, c);
    this.words = new Int32Array(buf);
    this.halves = new Uint16Array(buf);
    this.octets = new Uint8Array(buf);
  }

  /** How many packets' keys fit. */
  get capacity(): number {
    return this.version.length;
  }

  /**
   * Fills the keys of a parsed burst: the outer 5-tuple, or with `inner` the tunnelled
   * packet's (packets that are not tunnelled get version 0). `BurstParser.parse(burst, keys,
   * innerKeys)` fills the same keys while it parses, without a second walk over the burst.
   */
  extract(burst: Burst, inner = false): void {
    const n = Math.min(burst.count, this.version.length);
    const ids = burst.ids;
    // One definition of a packet's keys: the parser's general path uses it too.
    for (let i = 0; i < n; i++) this.extractOne(i, ids[i] | 0, inner);
    this.count = n;
  }

  /**
   * @internal Entry `i` from buffer `b`, already parsed (the parser's general path uses it
   * too). The same as one iteration of extract().
   */
  extractOne(i: number, b: number, inner: boolean): void {
    const x = this.view;
    const t = this.ptype[b];
    const ipv4Bit = inner ? PTYPE.INNER_IPV4 : PTYPE.IPV4;
    const ipv6Bit = inner ? PTYPE.INNER_IPV6 : PTYPE.IPV6;
    if ((t & (ipv4Bit | ipv6Bit)) === 0) {
      this.version[i] = 0;
      this.protocol[i] = 0;
      this.srcPort[i] = 0;
      this.dstPort[i] = 0;
      return;
    }
    const { src, dst } = this;
    const k = i << 2;
    const base = b * this.bufferSize + this.dataOff[b];
    const l3 = base + (inner ? this.innerL3Off[b] : this.l3Off[b]);
    let proto: number;
    let version: number;
    if (t & ipv4Bit) {
      version = 4;
      proto = x.getUint8(l3 + 9);
      src[k] = 0;
      src[k + 1] = 0;
      src[k + 2] = 0;
      src[k + 3] = x.getUint32(l3 + 12);
      dst[k] = 0;
      dst[k + 1] = 0;
      dst[k + 2] = 0;
      dst[k + 3] = x.getUint32(l3 + 16);
    } else {
      version = 6;
      proto = x.getUint8(l3 + 6);
      for (let w = 0; w < 4; w++) {
        src[k + w] = x.getUint32(l3 + 8 + 4 * w);
        dst[k + w] = x.getUint32(l3 + 24 + 4 * w);
      }
    }
    this.version[i] = version;
    if (t & (inner ? INNER_L4 : OUTER_L4)) {
      const l4 = base + (inner ? this.innerL4Off[b] : this.l4Off[b]);
      this.srcPort[i] = x.getUint16(l4);
      this.dstPort[i] = x.getUint16(l4 + 2);
      // With IPv6 extension headers the fixed header's next-header is not the upper
      // layer; the parser's bits are.
      proto = t & (inner ? PTYPE.INNER_TCP : PTYPE.TCP) ? 6 : t & (inner ? PTYPE.INNER_UDP : PTYPE.UDP) ? 17 : 132;
    } else {
      this.srcPort[i] = 0;
      this.dstPort[i] = 0;
      if (t & (inner ? PTYPE.INNER_ICMP : PTYPE.ICMP | PTYPE.ICMPV6)) proto = version === 4 ? 1 : 58;
    }
    this.protocol[i] = proto;
  }
}
