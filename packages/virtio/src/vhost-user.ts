import { type Mempool, VnfError } from '@vnf-sdk/core';
import { checkPortId, KernelPort } from '@vnf-sdk/ports';

/** Options of {@link VhostUserPort}. */
export interface VhostUserOptions {
  /** The vhost-user socket: ours (default), or the frontend's with `client`. */
  path: string;
  /** Connect to a frontend listening on `path` (DPDK net_vhost `client=1`, virtio_user `server=1`). Default false: listen. */
  client?: boolean;
  /** Queue pairs offered, 1 to 8 (GET_QUEUE_NUM). Default 1. The frontend may use fewer. */
  queues?: number;
  /**
   * Device features offered: a bigint of feature bits, or names from
   * {@link VHOST_USER_FEATURES}. Default: all of them. VERSION_1 is required.
   */
  features?: bigint | readonly VhostUserFeature[];
  /** Written into each received buffer's `meta.port`. Default 0. */
  id?: number;
  /** With `client`: how long the open tries to connect. Default 5000 ms. */
  connectTimeoutMs?: number;
  /** Wait at open (servicing the socket) until a frontend has brought the link up; the open fails after this long. Default 0: do not wait. */
  waitMs?: number;
}

/**
 * Features a {@link VhostUserPort} can offer, by name, with their bit numbers. The offloads
 * (CSUM, HOST_TSO4/6, HOST_ECN) are done in software on receive: a frame with a partial
 * checksum is completed and a TCP super-frame of up to 64 KiB is cut into frames of its
 * gso_size, before the pipeline sees them. HOST_TSO4/6 need CSUM; HOST_ECN needs one of them.
 */
export const VHOST_USER_FEATURES = {
  CSUM: 0,
  HOST_TSO4: 11,
  HOST_TSO6: 12,
  HOST_ECN: 13,
  MRG_RXBUF: 15,
  STATUS: 16,
  MQ: 22,
  RING_INDIRECT_DESC: 28,
  RING_EVENT_IDX: 29,
  PROTOCOL_FEATURES: 30,
  VERSION_1: 32,
  RING_PACKED: 34,
  IN_ORDER: 35,
} as const;
export type VhostUserFeature = keyof typeof VHOST_USER_FEATURES;

const KEYS = new Set(['path', 'client', 'queues', 'features', 'id', 'connectTimeoutMs', 'waitMs']);

function featureBits(where: string, f: bigint | readonly string[]): bigint {
  if (typeof f === 'bigint') return f;
  if (!Array.isArray(f)) throw new VnfError('VNF_INVALID_ARGUMENT', `${where}: features must be a bigint or an array of feature names`);
  let bits = 0n;
  for (const name of f) {
    const bit = (VHOST_USER_FEATURES as Record<string, number>)[name];
    if (bit === undefined)
      throw new VnfError('VNF_INVALID_ARGUMENT', `${where}: unknown feature '${name}' (expected ${Object.keys(VHOST_USER_FEATURES).join(', ')})`);
    bits |= 1n << BigInt(bit);
  }
  return bits;
}

/**
 * Our virtio-net device as a port: a vhost-user backend, the way DPDK's `net_vhost` is. A
 * frontend (a VM's QEMU, DPDK's `virtio_user`, our `VirtioUserPort`) connects to the socket
 * (or we connect to it with `client`), shares its memory and rings, and the port runs the
 * device side of the rings: `rxBurst` takes what the frontend transmitted (copied into fresh
 * pool buffers, a frame larger than a buffer chained over several), `txBurst` copies frames
 * into the frontend's receive buffers (mergeable buffers when negotiated) and returns ours to
 * the pool. When the frontend has no receive buffers, `txBurst` takes only a prefix.
 *
 * The open does not wait for a frontend unless `waitMs` is given: the link is down until one
 * has set its rings up (see `linkUp()`). Control messages are handled on the thread that owns
 * the port, every 64 bursts, on every burst while the link is down, and on `linkUp()` /
 * `stats()`: keep calling them. A frontend that breaks the ring protocol (descriptor loops,
 * addresses outside its memory, ...) or sends malformed messages is counted in
 * rxErrors/txErrors, named in `lastError()`, and disconnected; the port then waits for the
 * next one (or reconnects with `client`).
 */
export class VhostUserPort extends KernelPort {
  readonly kind = 'vhostUser';
  /** Features offered to the frontend. */
  readonly offered: bigint;

  constructor(pool: Mempool, options: VhostUserOptions) {
    if (typeof options !== 'object' || options === null) throw new VnfError('VNF_INVALID_ARGUMENT', 'VhostUserPort: options must be an object');
    const where = `VhostUserPort(${String(options.path ?? '')})`;
    for (const k of Object.keys(options)) {
      if (!KEYS.has(k)) throw new VnfError('VNF_INVALID_ARGUMENT', `${where}: unknown option '${k}' (expected ${[...KEYS].join(', ')})`);
    }
    if (typeof options.path !== 'string' || options.path === '') throw new VnfError('VNF_INVALID_ARGUMENT', `${where}: path (the vhost-user socket) is required`);
    const { id, features, ...rest } = options;
    const native: Record<string, unknown> = { ...rest };
    if (features !== undefined) native.features = featureBits(where, features);
    super('vhostUser', pool, checkPortId(id, where), native);
    this.offered = BigInt((this.native.info as { features?: bigint }).features ?? 0n);
  }
}
