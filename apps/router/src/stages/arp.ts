import type { Burst, Mempool } from '@vnf-sdk/core';
import type { Stage, StageContext } from '@vnf-sdk/pipeline';
import { readU32, writeU32 } from '../neighbours.js';
import { type Router, STAGES } from '../router.js';
import { PortMap } from './ports.js';

/**
 * ARP for the router's own addresses (RFC 826), after `input`:
 * - a request for the router's address on the port it came in on is turned into the reply
 *   in its own buffer and sent back out of that port; the requester is learned;
 * - a reply (or any ARP addressed to the router) updates or creates the sender's entry;
 *   ARP not addressed to the router only updates an existing entry (RFC 826 "merge");
 * - packets held for a neighbour that just answered, and due ARP requests, are appended to
 *   the burst as new buffers (see {@link NeighbourTable.release}).
 *
 * Drops: `arp-reply-consumed` (a reply, learned from), `arp-not-for-us`, `arp-unsupported`
 * (not Ethernet/IPv4, or an operation other than request and reply), `arp-bad-sender` (a
 * group MAC, or one of the router's own addresses: another host claims it), `unknown-port`.
 */
export class ArpStage implements Stage {
  readonly name = STAGES.arp;
  private pool!: Mempool;
  private ports!: PortMap;
  private replyConsumed = 0;
  private notForUs = 0;
  private unsupported = 0;
  private badSender = 0;
  private unknownPort = 0;
  /** Requests answered, and address conflicts seen (counters; drops are the runtime's). */
  readonly counters = { replies: 0, conflicts: 0 };

  constructor(private readonly router: Router) {}

  init(ctx: StageContext): void {
    this.pool = ctx.pool;
    this.ports = new PortMap(this.router, ctx, this.name);
    this.replyConsumed = ctx.drop('arp-reply-consumed');
    this.notForUs = ctx.drop('arp-not-for-us');
    this.unsupported = ctx.drop('arp-unsupported');
    this.badSender = ctx.drop('arp-bad-sender');
    this.unknownPort = ctx.drop('unknown-port');
  }

  process(burst: Burst): void {
    const pool = this.pool;
    const bytes = pool.bytes;
    const { next, port, dataOff, l3Off } = pool.meta;
    const size = pool.bufferSize;
    const r = this.router;
    const byId = this.ports.byId;
    const n0 = burst.count;
    for (let i = 0; i < n0; i++) {
      const b = burst.ids[i];
      const p = byId[port[b]];
      if (p < 0) {
        next[b] = this.unknownPort;
        continue;
      }
      const start = b * size + dataOff[b];
      const a = start + l3Off[b]; // the parser checked the 28 bytes are there
      // hardware 1 (Ethernet), protocol 0x0800, lengths 6 and 4
      if (bytes[a] !== 0 || bytes[a + 1] !== 1 || bytes[a + 2] !== 8 || bytes[a + 3] !== 0 || bytes[a + 4] !== 6 || bytes[a + 5] !== 4) {
        next[b] = this.unsupported;
        continue;
      }
      const op = (bytes[a + 6] << 8) | bytes[a + 7];
      const spa = readU32(bytes, a + 14);
      const tpa = readU32(bytes, a + 24);
      if (op !== 1 && op !== 2) {
        next[b] = this.unsupported;
        continue;
      }
      if (bytes[a + 8] & 1 || this.isOwn(spa)) {
        if (spa !== 0 && this.isOwn(spa)) this.counters.conflicts++;
        next[b] = this.badSender;
        continue;
      }
      const forUs = tpa === r.portAddress[p];
      // RFC 826: merge the sender into an existing entry; add it when we are the target.
      // An ARP probe (sender 0.0.0.0, RFC 5227) teaches nothing.
      if (spa !== 0) r.neighbours[p]!.confirm(spa, bytes, a + 8, forUs);
      if (!forUs) {
        next[b] = this.notForUs;
      } else if (op === 2) {
        next[b] = this.replyConsumed;
      } else {
        this.reply(bytes, start, a, p);
        next[b] = this.ports.tx[p];
        this.counters.replies++;
      }
    }
    this.flush(burst);
  }

  /** Rewrites the request at `start` (ARP at `a`) into the reply from port `p`, in place. */
  private reply(bytes: Uint8Array, start: number, a: number, p: number): void {
    const mac = this.router.portMac;
    const m = p * 6;
    for (let k = 0; k < 6; k++) {
      const requester = bytes[a + 8 + k];
      bytes[start + k] = requester; // Ethernet destination
      bytes[a + 18 + k] = requester; // target hardware address
      bytes[start + 6 + k] = mac[m + k]; // Ethernet source
      bytes[a + 8 + k] = mac[m + k]; // sender hardware address
    }
    bytes[a + 6] = 0;
    bytes[a + 7] = 2;
    writeU32(bytes, a + 24, readU32(bytes, a + 14)); // target IP: the requester
    writeU32(bytes, a + 14, this.router.portAddress[p]); // sender IP: us
  }

  /** Appends released held packets and due ARP requests of every port to the burst. */
  flush(burst: Burst): void {
    const tables = this.router.neighbours;
    for (let p = 0; p < tables.length; p++) {
      const t = tables[p]!;
      t.tick();
      if (t.pending) {
        t.release(this.pool, burst, this.ports.tx[p]);
        t.emitRequests(this.pool, burst, this.ports.tx[p]);
      }
    }
  }

  private isOwn(addr: number): boolean {
    const own = this.router.portAddress;
    for (let k = 0; k < own.length; k++) if (own[k] === addr) return true;
    return false;
  }
}
