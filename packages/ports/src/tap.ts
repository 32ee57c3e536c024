import { type Mempool, VnfError } from '@vnf-sdk/core';
import { checkKeys } from './af-packet.js';
import { checkPortId, KernelPort } from './port.js';

/** Options of {@link TapPort}. */
export interface TapOptions {
  /** Interface name: attached when it exists (a TAP), created otherwise. Default: the kernel picks `tapN`. */
  name?: string;
  /** Written into each received buffer's `meta.port` (0 to 65534). Default 0. */
  id?: number;
  /** Queues, 1 to 16: one descriptor each, `IFF_MULTI_QUEUE` when more than one. Default 1. */
  queues?: number;
  /** Set the interface's MTU (68 to 65521). Default: leave it (1500 for a new TAP). */
  mtu?: number;
  /** Set the interface's MAC address (`02:00:00:00:00:01`). Default: leave it (random for a new TAP). */
  mac?: string;
  /** Bring the interface up. Default true. */
  up?: boolean;
  /**
   * Keep the interface after the port closes (`TUNSETPERSIST`). Default false: a TAP this
   * port created disappears when it closes (a persistent one it attached to stays).
   */
  persist?: boolean;
}

const KEYS = new Set(['name', 'id', 'queues', 'mtu', 'mac', 'up', 'persist']);

/**
 * A Linux TAP interface: what the port transmits, the host's network stack receives on that
 * interface, and what the host sends out of it, the port receives.
 *
 * ```
 *   host stack <──> tapN <──> TapPort ── rxBurst(burst, q) ──> data plane
 *                                    <── txBurst(burst, q) ───
 * ```
 *
 * A TAP has no batch interface: one `read()` per received frame and one `write()` per sent
 * frame, a system call per packet. Fine for the exception path and tests; use
 * {@link AfPacketPort} or AF_XDP for traffic at rate. Frames over the MTU are counted in
 * `txErrors`; frames over a buffer in `rxErrors`; `stats()` adds what the kernel dropped
 * because the port did not read in time (the TAP's `tx_dropped`) to queue 0's `rxDrops`.
 * Needs CAP_NET_ADMIN.
 */
export class TapPort extends KernelPort {
  readonly kind = 'tap';
  /** The interface's MAC address. */
  readonly mac: string;
  readonly mtu: number;
  readonly ifindex: number;

  constructor(pool: Mempool, options: TapOptions = {}) {
    if (typeof options !== 'object' || options === null) {
      throw new VnfError('VNF_INVALID_ARGUMENT', 'TapPort: options must be an object');
    }
    const where = `TapPort(${options.name ?? ''})`;
    checkKeys(options, KEYS, where);
    const { id, ...rest } = options;
    super('tap', pool, checkPortId(id, where), rest);
    const info = this.native.info;
    this.mac = info.mac as string;
    this.mtu = info.mtu as number;
    this.ifindex = info.ifindex as number;
  }
}
