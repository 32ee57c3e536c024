import type { Burst, Mempool } from '@vnf-sdk/core';
import type { Stage, StageContext } from '@vnf-sdk/pipeline';
import { checksum, fold, icmpEchoReply, icmpError, ipv4HeaderOk, onesSum, PacketFields, PTYPE, updateChecksum16 } from '@vnf-sdk/protocols';
import { LPM_MISS } from '../lpm.js';
import { Hold, readU32, writeU32 } from '../neighbours.js';
import { type Router, STAGES } from '../router.js';
import { PortMap } from './ports.js';

/** Largest burst the runtime hands a stage (the Stage contract); larger ones grow the arrays once. */
const MAX_BURST = 256;
const IP_DF = 0x40;

/**
 * IPv4 forwarding, after `input`. For each packet, in this order:
 *
 * 1. Link layer: sent to the input port's MAC, else dropped (`l2-broadcast` for group
 *    MACs, `l2-not-ours` for another host's).
 * 2. Header: checksum (`bad-checksum`), source one host (`bad-source`: 0/8, 127/8, 224/4,
 *    240/4), destination one host (`not-unicast`: 224/4, 240/4, 255.255.255.255, a port's
 *    network broadcast).
 * 3. To one of the router's addresses: an ICMP echo request is answered in its own buffer
 *    (out of the input port, to the sender's MAC, as `icmpEchoReply`); anything else is
 *    `local-not-handled` (`bad-icmp-checksum` for a broken echo request).
 * 4. TTL <= 1: `ttl-exceeded`, with an ICMP time exceeded (11/0) to the source.
 * 5. Route (LPM over the burst): none is `no-route`, with an ICMP net unreachable (3/0).
 * 6. Over the output port's MTU: `too-big`, with an ICMP fragmentation needed (3/4, the
 *    MTU) when DF is set; the router does not fragment.
 * 7. TTL decremented (incremental checksum), source MAC = the output port's; the neighbour
 *    (the route's gateway, or the destination on an attached network) resolved: its MAC is
 *    written and the packet goes to the output port. Unresolved: the frame is copied into the
 *    neighbour's queue and the buffer dropped as `arp-held` (or `arp-queue-full`,
 *    `arp-table-full`), and an ARP request goes out of that port (rate-limited per
 *    neighbour by the table's retry interval).
 *
 * ICMP errors come from the input port's address and MAC and go back out of the input port
 * to the offending frame's source MAC, as new buffers appended to the burst; they are
 * limited by a token bucket (suppressed ones counted in `counters.icmpRateLimited`) and not
 * sent where RFC 1812 forbids (`counters.icmpNotAllowed`: errors about ICMP errors, about
 * non-first fragments, ...). The common path (steps 1, 2, 4-7 with a resolved neighbour)
 * allocates nothing.
 */
export class Ip4Stage implements Stage {
  readonly name = STAGES.ip4;
  readonly counters = {
    forwarded: 0,
    echoReplies: 0,
    icmpErrors: 0,
    icmpRateLimited: 0,
    icmpNotAllowed: 0,
    /** ICMP errors not sent for want of room in the burst or a free buffer. */
    icmpNoRoom: 0,
  };
  private pool!: Mempool;
  private fields!: PacketFields;
  private ports!: PortMap;
  private burst!: Burst;
  private addrs = new Uint32Array(MAX_BURST);
  private slot = new Uint32Array(MAX_BURST);
  private hops = new Uint16Array(MAX_BURST);
  private dropL2Broadcast = 0;
  private dropL2NotOurs = 0;
  private dropBadChecksum = 0;
  private dropBadSource = 0;
  private dropNotUnicast = 0;
  private dropLocal = 0;
  private dropBadIcmp = 0;
  private dropTtl = 0;
  private dropNoRoute = 0;
  private dropTooBig = 0;
  private dropHeld = 0;
  private dropQueueFull = 0;
  private dropTableFull = 0;
  private dropUnknownPort = 0;

  constructor(private readonly router: Router) {}

  init(ctx: StageContext): void {
    this.pool = ctx.pool;
    this.fields = new PacketFields(ctx.pool);
    this.ports = new PortMap(this.router, ctx, this.name);
    this.dropL2Broadcast = ctx.drop('l2-broadcast');
    this.dropL2NotOurs = ctx.drop('l2-not-ours');
    this.dropBadChecksum = ctx.drop('bad-checksum');
    this.dropBadSource = ctx.drop('bad-source');
    this.dropNotUnicast = ctx.drop('not-unicast');
    this.dropLocal = ctx.drop('local-not-handled');
    this.dropBadIcmp = ctx.drop('bad-icmp-checksum');
    this.dropTtl = ctx.drop('ttl-exceeded');
    this.dropNoRoute = ctx.drop('no-route');
    this.dropTooBig = ctx.drop('too-big');
    this.dropHeld = ctx.drop('arp-held');
    this.dropQueueFull = ctx.drop('arp-queue-full');
    this.dropTableFull = ctx.drop('arp-table-full');
    this.dropUnknownPort = ctx.drop('unknown-port');
  }

  process(burst: Burst): void {
    this.burst = burst;
    const pool = this.pool;
    const bytes = pool.bytes;
    const { next, port, dataOff, l3Off } = pool.meta;
    const size = pool.bufferSize;
    const r = this.router;
    const byId = this.ports.byId;
    const mac = r.portMac;
    const own = r.portAddress;
    const bcast = r.portBroadcast;
    const nPorts = own.length;
    const n0 = burst.count;
    if (n0 > this.addrs.length) {
      this.addrs = new Uint32Array(n0);
      this.slot = new Uint32Array(n0);
      this.hops = new Uint16Array(n0);
    }
    let k = 0;
    // Pass 1: checks, local delivery, TTL; what is left is looked up in one LPM burst.
    packets: for (let i = 0; i < n0; i++) {
      const b = burst.ids[i];
      const p = byId[port[b]];
      if (p < 0) {
        next[b] = this.dropUnknownPort;
        continue;
      }
      const start = b * size + dataOff[b];
      if (bytes[start] & 1) {
        next[b] = this.dropL2Broadcast;
        continue;
      }
      const m = p * 6;
      if (
        bytes[start] !== mac[m] ||
        bytes[start + 1] !== mac[m + 1] ||
        bytes[start + 2] !== mac[m + 2] ||
        bytes[start + 3] !== mac[m + 3] ||
        bytes[start + 4] !== mac[m + 4] ||
        bytes[start + 5] !== mac[m + 5]
      ) {
        next[b] = this.dropL2NotOurs;
        continue;
      }
      const l3 = start + l3Off[b];
      if (!ipv4HeaderOk(bytes, l3)) {
        next[b] = this.dropBadChecksum;
        continue;
      }
      const src = readU32(bytes, l3 + 12);
      const s8 = src >>> 24;
      if (s8 === 0 || s8 === 127 || s8 >= 224) {
        next[b] = this.dropBadSource;
        continue;
      }
      const dst = readU32(bytes, l3 + 16);
      if (dst >>> 28 >= 14) {
        next[b] = this.dropNotUnicast;
        continue;
      }
      for (let q = 0; q < nPorts; q++) {
        if (dst === own[q]) {
          this.local(b, start, l3, p);
          continue packets;
        }
        if (dst === bcast[q]) {
          next[b] = this.dropNotUnicast;
          continue packets;
        }
      }
      if (bytes[l3 + 8] <= 1) {
        this.icmpError(b, start, p, 11, 0, 0);
        next[b] = this.dropTtl;
        continue;
      }
      this.addrs[k] = dst;
      this.slot[k++] = i;
    }

    r.lpm.lookupBurst(this.addrs, k, this.hops);

    // Pass 2: forward.
    for (let j = 0; j < k; j++) {
      const b = burst.ids[this.slot[j]];
      const start = b * size + dataOff[b];
      const l3 = start + l3Off[b];
      const hop = this.hops[j];
      if (hop === LPM_MISS) {
        this.icmpError(b, start, byId[port[b]], 3, 0, 0);
        next[b] = this.dropNoRoute;
        continue;
      }
      const out = r.nextHopPort[hop];
      const totalLength = (bytes[l3 + 2] << 8) | bytes[l3 + 3];
      if (totalLength > r.portMtu[out]) {
        if (bytes[l3 + 6] & IP_DF) this.icmpError(b, start, byId[port[b]], 3, 4, r.portMtu[out]);
        next[b] = this.dropTooBig;
        continue;
      }
      this.fields.decTtl(b);
      const m = out * 6;
      bytes[start + 6] = mac[m];
      bytes[start + 7] = mac[m + 1];
      bytes[start + 8] = mac[m + 2];
      bytes[start + 9] = mac[m + 3];
      bytes[start + 10] = mac[m + 4];
      bytes[start + 11] = mac[m + 5];
      const gw = r.nextHopGateway[hop];
      const neighbour = gw !== 0 ? gw : this.addrs[j];
      const table = r.neighbours[out]!;
      const e = table.lookup(neighbour);
      if (e >= 0) {
        table.writeMac(e, bytes, start);
        next[b] = this.ports.tx[out];
        this.counters.forwarded++;
        continue;
      }
      // Starts resolving the neighbour (entry and request) even when the packet cannot be held.
      const held = table.hold(neighbour, bytes, start, l3 - start + totalLength); // without Ethernet padding
      next[b] = held === Hold.HELD ? this.dropHeld : held === Hold.TABLE_FULL ? this.dropTableFull : this.dropQueueFull;
    }

    // Held packets whose neighbour answered, and ARP requests due, as new buffers.
    const tables = r.neighbours;
    for (let p = 0; p < tables.length; p++) {
      const t = tables[p]!;
      t.tick();
      if (t.pending) {
        t.release(pool, burst, this.ports.tx[p]);
        t.emitRequests(pool, burst, this.ports.tx[p]);
      }
    }
  }

  /** A packet to one of the router's addresses, received on port `p`. */
  private local(b: number, start: number, l3: number, p: number): void {
    const pool = this.pool;
    const bytes = pool.bytes;
    const meta = pool.meta;
    const t = meta.ptype[b];
    if (!(t & PTYPE.ICMP) || t & PTYPE.FRAG) {
      meta.next[b] = this.dropLocal;
      return;
    }
    const l4 = start + meta.l4Off[b];
    const end = l3 + ((bytes[l3 + 2] << 8) | bytes[l3 + 3]);
    if (bytes[l4] !== 8 || end - l4 < 8) {
      meta.next[b] = this.dropLocal;
      return;
    }
    if (fold(onesSum(bytes, l4, end)) !== 0xffff) {
      meta.next[b] = this.dropBadIcmp;
      return;
    }
    if ((bytes[l3] & 0x0f) === 5) {
      // In place: swap MACs and addresses, TTL 64, ID 0, DF, type 0 (RFC 1812 4.3.3.1 answers as icmpEchoReply does).
      for (let k = 0; k < 6; k++) {
        bytes[start + k] = bytes[start + 6 + k];
        bytes[start + 6 + k] = this.router.portMac[p * 6 + k];
      }
      const src = readU32(bytes, l3 + 12);
      writeU32(bytes, l3 + 12, readU32(bytes, l3 + 16));
      writeU32(bytes, l3 + 16, src);
      bytes[l3 + 1] &= 0xfc; // ECN not echoed
      bytes[l3 + 4] = 0;
      bytes[l3 + 5] = 0;
      bytes[l3 + 6] = IP_DF;
      bytes[l3 + 7] = 0;
      bytes[l3 + 8] = 64;
      bytes[l3 + 10] = 0;
      bytes[l3 + 11] = 0;
      const c = checksum(bytes, l3, l3 + 20);
      bytes[l3 + 10] = c >>> 8;
      bytes[l3 + 11] = c & 0xff;
      const old = (bytes[l4] << 8) | bytes[l4 + 1];
      bytes[l4] = 0;
      bytes[l4 + 1] = 0;
      const ic = updateChecksum16((bytes[l4 + 2] << 8) | bytes[l4 + 3], old, 0);
      bytes[l4 + 2] = ic >>> 8;
      bytes[l4 + 3] = ic & 0xff;
      meta.dataLen[b] = end - start; // no Ethernet padding on the reply
    } else {
      // IP options: the reply carries none; the helper rebuilds the frame (rare, may allocate).
      const reply = icmpEchoReply(bytes.subarray(start, start + meta.dataLen[b]));
      if (reply === null) {
        meta.next[b] = this.dropLocal;
        return;
      }
      pool.write(b, reply);
    }
    meta.next[b] = this.ports.tx[p];
    this.counters.echoReplies++;
  }

  /** Appends an ICMP error about packet `b` (received on port `p`), if allowed and not limited. Allocates. */
  private icmpError(b: number, start: number, p: number, type: number, code: number, mtu: number): void {
    const r = this.router;
    if (!r.icmpLimit.take()) {
      this.counters.icmpRateLimited++;
      return;
    }
    const pool = this.pool;
    const burst = this.burst;
    const reply = icmpError(pool.bytes.subarray(start, start + pool.meta.dataLen[b]), {
      type,
      code,
      mtu,
      src: r.portAddressText[p]!,
      mac: r.portMacText[p]!,
    });
    if (reply === null) {
      r.icmpLimit.refund();
      this.counters.icmpNotAllowed++;
      return;
    }
    if (burst.count >= burst.capacity || pool.alloc(burst, 1) !== 1) {
      this.counters.icmpNoRoom++;
      return;
    }
    const e = burst.ids[burst.count - 1];
    pool.write(e, reply);
    pool.meta.next[e] = this.ports.tx[p];
    this.counters.icmpErrors++;
  }
}
