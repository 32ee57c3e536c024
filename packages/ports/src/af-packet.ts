import { type Mempool, VnfError } from '@vnf-sdk/core';
import { checkPortId, KernelPort } from './port.js';

/** Options of {@link AfPacketPort}. Sizes are bytes; every one is checked at open. */
export interface AfPacketOptions {
  /** Interface to attach to, e.g. `'eth0'`. Required. */
  interface: string;
  /** Written into each received buffer's `meta.port` (0 to 65534). Default 0. */
  id?: number;
  /**
   * Sockets (queues) this port opens, 1 to 64. With more than one they form a
   * `PACKET_FANOUT` group that splits the traffic between them. Default 1.
   */
  queues?: number;
  /** Receive ring block size: a power of two from the page size to 128 MiB. Default 256 KiB. */
  blockSize?: number;
  /** Receive ring blocks per queue; blockSize * blockCount at most 1 GiB. Default 64 (16 MiB). */
  blockCount?: number;
  /** TPACKET frame size, a multiple of 16 from 128 to blockSize (V3 packs frames; this only sizes the request). Default 2048. */
  frameSize?: number;
  /**
   * How long the kernel keeps a partly filled block before handing it over, 0 (kernel
   * default) to 1000 ms: the worst-case latency at low rates. Default 2.
   */
  blockTimeoutMs?: number;
  /** Transmit ring slots per queue, 8 to 65536. Default 1024. */
  txFrames?: number;
  /** `PACKET_QDISC_BYPASS`: transmit straight to the driver, skipping tc and local taps. Default false. */
  qdiscBypass?: boolean;
  /** Put the interface in promiscuous mode while the port is open (`PACKET_MR_PROMISC`). Default false. */
  promiscuous?: boolean;
  /**
   * Join this `PACKET_FANOUT` group (0 to 65535): ports opened in other worker threads with
   * the same group, interface and mode share the traffic. Default: none for one queue, a
   * free group chosen by the kernel for several (read it back from {@link AfPacketPort.fanoutGroup}).
   */
  fanoutGroup?: number;
  /** How the group splits traffic: `'hash'` (by flow, default), `'lb'`, `'cpu'`, `'qm'`, `'rollover'`. */
  fanoutMode?: 'hash' | 'lb' | 'cpu' | 'qm' | 'rollover';
  /** `PACKET_FANOUT_FLAG_DEFRAG`: reassemble IP fragments before hashing, so they stay with their flow. */
  fanoutDefrag?: boolean;
}

const KEYS = new Set([
  'interface',
  'id',
  'queues',
  'blockSize',
  'blockCount',
  'frameSize',
  'blockTimeoutMs',
  'txFrames',
  'qdiscBypass',
  'promiscuous',
  'fanoutGroup',
  'fanoutMode',
  'fanoutDefrag',
]);

/** Rejects option names no port knows, naming the port and the key (a typo is not silently ignored). */
export function checkKeys(options: object, known: Set<string>, where: string): void {
  for (const k of Object.keys(options)) {
    if (!known.has(k)) {
      throw new VnfError('VNF_INVALID_ARGUMENT', `${where}: unknown option '${k}' (known: ${[...known].join(', ')})`);
    }
  }
}

/**
 * A Linux interface through `AF_PACKET` sockets with memory-mapped rings.
 *
 * ```
 *            ┌──────────── AfPacketPort(eth0) ─────────────┐
 *  eth0 ──>  │ queue 0: socket, TPACKET_V3 rx ring ─┐       │ ──> rxBurst(burst, 0)
 *            │ queue 1: socket, TPACKET_V3 rx ring ─┤ fanout │ ──> rxBurst(burst, 1)
 *  eth0 <──  │ tx rings (one per queue), one kick per burst │ <── txBurst(burst, q)
 *            └──────────────────────────────────────────────┘
 * ```
 *
 * Receive copies each frame of the kernel's ring into a fresh pool buffer (one buffer per
 * packet: frames bigger than `bufferSize - headroom` are counted in `rxErrors`), puts
 * stripped VLAN tags back, and skips the port's own transmissions. Transmit copies each
 * buffer into the transmit ring, frees it, and wakes the kernel once per burst; frames over
 * the MTU (plus 14, plus 4 when VLAN-tagged) are counted in `txErrors` and freed, and
 * {@link KernelPort.lastError} says which. `stats()` adds the kernel's ring drops to
 * `rxDrops`. Needs CAP_NET_RAW.
 *
 * Open errors name the interface and the cause: `VNF_NO_DEVICE` (no such interface),
 * `VNF_PERMISSION` (no CAP_NET_RAW), `VNF_LINK_DOWN` (administratively down),
 * `VNF_INVALID_ARGUMENT` (a bad option).
 */
export class AfPacketPort extends KernelPort {
  readonly kind = 'afPacket';
  /** The interface's MAC address, `aa:bb:cc:dd:ee:ff`. */
  readonly mac: string;
  /** The interface's MTU at open. */
  readonly mtu: number;
  readonly ifindex: number;
  /** The fanout group the queues joined (give it to other workers' ports), or null. */
  readonly fanoutGroup: number | null;

  constructor(pool: Mempool, options: AfPacketOptions) {
    if (typeof options !== 'object' || options === null) {
      throw new VnfError('VNF_INVALID_ARGUMENT', 'AfPacketPort: options must be an object with an interface');
    }
    const where = `AfPacketPort(${String(options.interface)})`;
    checkKeys(options, KEYS, where);
    if (typeof options.interface !== 'string' || options.interface === '') {
      throw new VnfError('VNF_INVALID_ARGUMENT', `AfPacketPort: interface must be a non-empty string, got ${String(options.interface)}`);
    }
    const { id, ...rest } = options;
    super('afPacket', pool, checkPortId(id, where), rest);
    const info = this.native.info;
    this.mac = info.mac as string;
    this.mtu = info.mtu as number;
    this.ifindex = info.ifindex as number;
    this.fanoutGroup = (info.fanoutGroup as number | null) ?? null;
  }
}
