import { type Burst, type Mempool, VnfError } from '@vnf-sdk/core';
import { parseIpv4, parseIpv6 } from '@vnf-sdk/protocols';
import { TapPort, type TapOptions } from './tap.js';

/** Options of {@link ExceptionPath}: the TAP's, plus the appliance's own addresses. */
export interface ExceptionPathOptions extends TapOptions {
  /**
   * The appliance's IPv4 and IPv6 addresses: {@link ExceptionPath.wantsHost} sends packets
   * addressed to them to the host. Give the same addresses to the TAP (`ip addr add`), so
   * the host stack answers for them.
   */
  addresses?: readonly string[];
}

/**
 * The exception path: packets the data plane does not handle itself go to the host's
 * network stack through a TAP interface, and what the host answers comes back to be sent
 * on the right port.
 *
 * ```
 *   port ──> data plane ──(ARP, ICMP to us, OSPF, BGP ...)── punt() ──> tap ──> host stack
 *   port <── data plane <──────────────────────────────── collect() <── tap <──┘ (replies)
 * ```
 *
 * How an appliance uses it: open it with the appliance's MAC address as the TAP's `mac`,
 * give the TAP the appliance's IP address (`ip addr add 192.0.2.1/24 dev vnf0`), and for
 * each received burst punt what {@link ExceptionPath.wantsHost} selects. The host then
 * answers ARP requests and pings for that address, runs routing daemons on the TAP as on
 * any interface, and its replies, collected from the TAP, are transmitted on the port the
 * request came from (keep the port in the buffer's `meta.port`, or one TAP per port).
 *
 * The TAP is an ordinary kernel interface: a system call per packet, for control traffic,
 * not for the data path.
 */
export class ExceptionPath {
  readonly tap: TapPort;
  private readonly v4: number[] = [];
  private readonly v6: Uint8Array[] = [];

  constructor(pool: Mempool, options: ExceptionPathOptions = {}) {
    const { addresses = [], ...tap } = options;
    for (const a of addresses) {
      const v4 = typeof a === 'string' ? parseIpv4(a) : null;
      const v6 = typeof a === 'string' && !v4 ? parseIpv6(a) : null;
      if (v4) this.v4.push(((v4[0] << 24) | (v4[1] << 16) | (v4[2] << 8) | v4[3]) >>> 0);
      else if (v6) this.v6.push(v6);
      else throw new VnfError('VNF_INVALID_ARGUMENT', `ExceptionPath: '${String(a)}' is not an IPv4 or IPv6 address`);
    }
    this.tap = new TapPort(pool, tap);
  }

  /** The TAP interface's name (give it the appliance's addresses). */
  get name(): string {
    return this.tap.name;
  }

  /**
   * Hands the burst's packets to the host stack (writes them to the TAP). Returns how many
   * were taken; they go back to the pool once written. The rest stay at the burst's front.
   */
  punt(burst: Burst, queue = 0): number {
    return this.tap.txBurst(burst, queue);
  }

  /** Receives what the host sent out of the TAP (its replies) into the burst; returns how many. */
  collect(burst: Burst, queue = 0): number {
    return this.tap.rxBurst(burst, queue);
  }

  /**
   * Whether the packet in buffer `index` is for the host stack: ARP, LLDP, LACP; IPv4 or
   * IPv6 addressed to one of `addresses`; link-local multicast (224.0.0.0/24, ff02::/16,
   * which carry OSPF, VRRP, RIP, neighbour discovery); OSPF, VRRP, IGMP and PIM whatever
   * their address. Up to two VLAN tags are looked through. Reads the packet in place.
   */
  wantsHost(pool: Mempool, index: number): boolean {
    const b = pool.bytes;
    const start = pool.dataOffset(index);
    const end = start + pool.meta.dataLen[index];
    let at = start + 12;
    if (end < start + 14) return false;
    let type = (b[at] << 8) | b[at + 1];
    for (let tags = 0; (type === 0x8100 || type === 0x88a8) && tags < 2; tags++) {
      at += 4;
      if (at + 2 > end) return false;
      type = (b[at] << 8) | b[at + 1];
    }
    at += 2;
    if (type === 0x0806 || type === 0x88cc || type === 0x8809) return true;
    if (type === 0x0800) {
      if (at + 20 > end) return false;
      const proto = b[at + 9];
      if (proto === 89 || proto === 112 || proto === 2 || proto === 103) return true;
      const dst = ((b[at + 16] << 24) | (b[at + 17] << 16) | (b[at + 18] << 8) | b[at + 19]) >>> 0;
      if (dst >>> 8 === 0xe00000) return true;
      return this.v4.includes(dst);
    }
    if (type === 0x86dd) {
      if (at + 40 > end) return false;
      const next = b[at + 6];
      if (next === 89 || next === 112 || next === 103) return true;
      if (b[at + 24] === 0xff && b[at + 25] === 0x02) return true;
      for (const a of this.v6) {
        let same = true;
        for (let i = 0; i < 16 && same; i++) same = a[i] === b[at + 24 + i];
        if (same) return true;
      }
    }
    return false;
  }

  close(): void {
    this.tap.close();
  }
}
