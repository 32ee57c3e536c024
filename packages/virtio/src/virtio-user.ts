import { type Mempool, VnfError } from '@vnf-sdk/core';
import { checkPortId, KernelPort } from '@vnf-sdk/ports';

/** Options of {@link VirtioUserPort}. */
export interface VirtioUserOptions {
  /** The vhost-user socket (the backend's, or ours with `server`). */
  path: string;
  /** Listen on `path` and wait for the backend to connect (DPDK `client=1`, QEMU `server=off`). Default false: connect. */
  server?: boolean;
  /** Queue pairs, 1 to 8 (MQ when more than one). Default 1. */
  queues?: number;
  /** Ring size: a power of 2 up to 32768 for split rings, any up to 32768 packed. Default 1024. */
  queueSize?: number;
  /** Ask for packed rings (VIRTIO_F_RING_PACKED); fails when the backend does not offer them. Default false. */
  packed?: boolean;
  /** Ask for VIRTIO_F_IN_ORDER. Default true. */
  inOrder?: boolean;
  /** Ask for VIRTIO_F_RING_EVENT_IDX. Default true. */
  eventIdx?: boolean;
  /** Ask for VIRTIO_NET_F_MRG_RXBUF (a received packet may span buffers; they are chained). Default true. */
  mrgRxbuf?: boolean;
  /**
   * Ask for VIRTIO_NET_F_GUEST_CSUM: the backend may hand over packets whose transport
   * checksum is partial (NEEDS_CSUM); the port completes it on receive. Default true.
   */
  guestCsum?: boolean;
  /**
   * Ask for GUEST_TSO4, GUEST_TSO6 and GUEST_ECN (with `guestCsum` and `mrgRxbuf`): the
   * device may then send TCP super-frames of up to 64 KiB (a switch passing a VM's TSO on);
   * the port cuts each into frames of its gso_size on receive, with their own lengths,
   * sequence numbers and checksums, so the pipeline sees frames within the MTU. Default true.
   */
  guestTso?: boolean;
  /** Written into each received buffer's `meta.port`. Default 0. */
  id?: number;
  /** How long to wait for the backend (connect, or accept with `server`). Default 5000 ms. */
  connectTimeoutMs?: number;
}

const KEYS = new Set(['path', 'server', 'queues', 'queueSize', 'packed', 'inOrder', 'eventIdx', 'mrgRxbuf', 'guestCsum', 'guestTso', 'id', 'connectTimeoutMs']);

/** Feature bits by name, for {@link VirtioUserPort.features}. */
const FEATURE_NAMES: [number, string][] = [
  [0, 'CSUM'],
  [1, 'GUEST_CSUM'],
  [5, 'MAC'],
  [7, 'GUEST_TSO4'],
  [8, 'GUEST_TSO6'],
  [9, 'GUEST_ECN'],
  [11, 'HOST_TSO4'],
  [12, 'HOST_TSO6'],
  [13, 'HOST_ECN'],
  [15, 'MRG_RXBUF'],
  [16, 'STATUS'],
  [22, 'MQ'],
  [28, 'RING_INDIRECT_DESC'],
  [29, 'RING_EVENT_IDX'],
  [30, 'PROTOCOL_FEATURES'],
  [32, 'VERSION_1'],
  [34, 'RING_PACKED'],
  [35, 'IN_ORDER'],
];

/**
 * Our virtio-net driver as a port: a virtio-net frontend speaking vhost-user to a backend (a
 * virtual switch, DPDK's `net_vhost`), the way DPDK's `virtio_user`
 * does. The virtqueues live in a memory file of ours and the packets stay in the pool, whose
 * memory file is shared with the backend: a received packet is the pool buffer the backend
 * wrote into, a transmitted one is read by the backend from the pool buffer (the 12-byte
 * virtio-net header goes in the buffer's headroom). One kick per burst at most, and only
 * when the ring asks for it (EVENT_IDX); used-buffer interrupts are off (the port is polled).
 *
 * When the backend goes away the link goes down, every buffer the rings held returns to the
 * pool, and the port reconnects and renegotiates by itself (checked on `linkUp()`/`stats()`
 * and every 1024 bursts).
 */
export class VirtioUserPort extends KernelPort {
  readonly kind = 'virtioUser';
  /** Features agreed with the backend (bit numbers as in the virtio spec). */
  readonly features: bigint;

  constructor(pool: Mempool, options: VirtioUserOptions) {
    if (typeof options !== 'object' || options === null) throw new VnfError('VNF_INVALID_ARGUMENT', 'VirtioUserPort: options must be an object');
    const where = `VirtioUserPort(${String(options.path ?? '')})`;
    for (const k of Object.keys(options)) {
      if (!KEYS.has(k)) throw new VnfError('VNF_INVALID_ARGUMENT', `${where}: unknown option '${k}' (expected ${[...KEYS].join(', ')})`);
    }
    if (typeof options.path !== 'string' || options.path === '') throw new VnfError('VNF_INVALID_ARGUMENT', `${where}: path (the vhost-user socket) is required`);
    const { id, ...rest } = options;
    super('virtioUser', pool, checkPortId(id, where), rest);
    this.features = BigInt((this.native.info as { features?: bigint }).features ?? 0n);
  }

  /** The agreed features by name ('VERSION_1', 'MRG_RXBUF', 'RING_PACKED', ...). */
  featureNames(): string[] {
    return FEATURE_NAMES.filter(([bit]) => (this.features >> BigInt(bit)) & 1n).map(([, name]) => name);
  }
}
