import { NativeNat, type NativeNatEvent, type NativeNatStats, VnfError } from '@vnf-sdk/core';
import { formatIpv4 } from './address.js';
import { type NatConfig, toNativeOptions } from './config.js';

export type { NativeNatStats as NatStats } from '@vnf-sdk/core';

/** A log event with its addresses as text. */
export interface NatEvent {
  /** Wall-clock time of the event (ISO 8601). */
  time: string;
  type: NativeNatEvent['type'];
  /** Mappings: 'tcp', 'udp', 'icmp' or the protocol number. */
  proto?: string;
  inside: string;
  /** Mappings: the inside port (ICMP: identifier). */
  insidePort?: number;
  outside: string;
  /** Mappings: the outside port. Blocks: the ports of the block. */
  ports: [number, number] | number;
}

const PROTO: Record<number, string> = { 1: 'icmp', 6: 'tcp', 17: 'udp' };

/**
 * A NAT44 translator shared by every worker of a process: sessions, endpoint mappings, port
 * allocation, the log. Create it on the main thread, give {@link id} to the pipeline's
 * options, and let each worker's `NatStage` translate through it.
 *
 * ```ts
 * const nat = Nat.create({ pool: ['198.51.100.1'], filtering: 'endpoint-independent' });
 * // ... in each worker: new NatStage({ nat: nat.id, outside: ['wan'], next: 'stage:route' })
 * console.log(nat.stats().actions['to-outside']);
 * for (const e of nat.drainLog()) console.log(Nat.formatEvent(e));
 * ```
 */
export class Nat {

  private constructor(private readonly native: NativeNat) {}

  /** Checks the configuration and creates the translator. Throws VNF_CONFIG naming the field. */
  static create(config: NatConfig): Nat {
    const options = toNativeOptions(config);
    try {
      return new Nat(NativeNat.create(options));
    } catch (err) {
      throw new VnfError('VNF_CONFIG', (err as Error).message);
    }
  }

  /** Another handle on translator `id`, e.g. in a worker. */
  static attach(id: number): Nat {
    return new Nat(NativeNat.attach(id));
  }

  /** Process-wide id: what `NatStage` needs. */
  get id(): number {
    return this.native.id;
  }

  /** Packets by action, live mappings, blocks, sessions, memory. */
  stats(): NativeNatStats {
    return this.native.stats();
  }

  /**
   * Takes the logged events (mapping creation and removal, port block allocation and release),
   * oldest first. Drain regularly: events beyond the log's capacity are counted
   * (`stats().logDropped`), not kept.
   */
  drainLog(max = 65536): NatEvent[] {
    const wallOffset = Date.now() - monotonicMs();
    return this.native.drain(max).map((e) => {
      const blocky = e.type === 'block-allocated' || e.type === 'block-released';
      const ev: NatEvent = {
        time: new Date(e.time + wallOffset).toISOString(),
        type: e.type,
        inside: formatIpv4(e.inside),
        outside: formatIpv4(e.outside),
        ports: blocky ? [e.portFirst, e.portLast] : e.portFirst,
      };
      if (!blocky) {
        ev.proto = PROTO[e.proto] ?? String(e.proto);
        ev.insidePort = e.insidePort;
      }
      return ev;
    });
  }

  /** One line per event, as a log file keeps them. */
  static formatEvent(e: NatEvent): string {
    if (typeof e.ports === 'number') {
      return `${e.time} ${e.type} ${e.proto} ${e.inside}:${e.insidePort} -> ${e.outside}:${e.ports}`;
    }
    return `${e.time} ${e.type} ${e.inside} -> ${e.outside} ports ${e.ports[0]}-${e.ports[1]}`;
  }

  /**
   * Frees expired sessions among up to `budget` slots, and the mappings, ports and blocks only
   * they held (stages do a little of this on every burst; call it from a timer when idle).
   */
  expire(budget = 4096): number {
    return this.native.expire(budget);
  }

  close(): void {
    this.native.close();
  }
}

/** The native translator's clock: CLOCK_MONOTONIC in milliseconds (steady_clock on Linux). */
function monotonicMs(): number {
  return Number(process.hrtime.bigint() / 1_000_000n);
}
