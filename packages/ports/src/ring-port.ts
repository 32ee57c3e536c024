import { Burst, type Mempool, PortCounter, Ring, type SharedRing, VnfError } from '@vnf-sdk/core';
import { checkPortId, JsPort } from './port.js';

/** Options of {@link RingPort}. */
export interface RingPortOptions {
  name?: string;
  /** Port id (0..65534), written into each received buffer's `meta.port`. */
  id?: number;
  /** Ring this port receives from; omit for a transmit-only end. */
  rx?: Ring;
  /** Ring this port transmits into; omit for a receive-only end. */
  tx?: Ring;
}

/** The rings of a {@link RingPort}, to post to a worker and reopen there with {@link RingPort.attach}. */
export interface SharedRingPort {
  kind: 'vnf-ring-port';
  name: string;
  rx?: SharedRing;
  tx?: SharedRing;
}

/**
 * A port over rings of buffer indices: connects two pipelines of one process (two stages
 * on different workers, or a pipeline and a control thread) without copying. What one end
 * transmits, the other receives; buffers stay in the same pool. Transmit is a burst
 * enqueue: when the ring is full the rest stays with the caller (counted in txDrops only if
 * the caller then frees them).
 */
export class RingPort extends JsPort {
  readonly kind = 'ring';
  private readonly rxRing?: Ring;
  private readonly txRing?: Ring;

  constructor(pool: Mempool, options: RingPortOptions) {
    super(options.name ?? 'ring', pool, checkPortId(options.id, 'RingPort'));
    if (!options.rx && !options.tx) {
      throw new VnfError('VNF_INVALID_ARGUMENT', `RingPort '${this.name}': give an rx ring, a tx ring or both`);
    }
    this.rxRing = options.rx;
    this.txRing = options.tx;
  }

  /**
   * Two connected ends over two new rings of `size` slots: what `a` transmits `b`
   * receives and the other way round. Multi-producer/consumer, so either end may be
   * shared by several threads.
   */
  static pair(pool: Mempool, size = 1024, names: [string, string] = ['ring-a', 'ring-b']): [RingPort, RingPort] {
    const ab = Ring.create({ name: `${names[0]}->${names[1]}`, size });
    const ba = Ring.create({ name: `${names[1]}->${names[0]}`, size });
    // Each end holds its own handles, so closing one end leaves the other's rings open.
    return [
      new RingPort(pool, { name: names[0], rx: ba, tx: ab }),
      new RingPort(pool, { name: names[1], rx: Ring.attach(ab.share()), tx: Ring.attach(ba.share()) }),
    ];
  }

  /** Reopens, in this thread, an end shared with {@link RingPort.share}. */
  static attach(pool: Mempool, shared: SharedRingPort, id?: number): RingPort {
    if (shared?.kind !== 'vnf-ring-port') {
      throw new VnfError('VNF_INVALID_ARGUMENT', 'RingPort.attach: expected the object returned by RingPort.share()');
    }
    return new RingPort(pool, {
      name: shared.name,
      id,
      rx: shared.rx ? Ring.attach(shared.rx) : undefined,
      tx: shared.tx ? Ring.attach(shared.tx) : undefined,
    });
  }

  /** A plain object naming this end's rings, for a worker thread. */
  share(): SharedRingPort {
    return { kind: 'vnf-ring-port', name: this.name, rx: this.rxRing?.share(), tx: this.txRing?.share() };
  }

  rxBurst(burst: Burst): number {
    if (!this.rxRing) return 0;
    const start = burst.count;
    const n = this.rxRing.dequeueBurst(burst);
    if (n === 0) return 0;
    const ids = burst.ids;
    const port = this.pool.meta.port;
    const len = this.pool.meta.dataLen;
    const id = this.id;
    let bytes = 0;
    for (let i = start; i < start + n; i++) {
      port[ids[i]] = id;
      bytes += len[ids[i]];
    }
    this.counters[PortCounter.rxPackets] += n;
    this.counters[PortCounter.rxBytes] += bytes;
    return n;
  }

  txBurst(burst: Burst): number {
    if (!this.txRing || burst.count === 0) return 0;
    const ids = burst.ids;
    const len = this.pool.meta.dataLen;
    const before = burst.count;
    let bytes = 0;
    for (let i = 0; i < before; i++) bytes += len[ids[i]];
    const n = this.txRing.enqueueBurst(burst);
    // Bytes of the sent prefix: subtract what stayed behind (now at the front).
    for (let i = 0; i < burst.count; i++) bytes -= len[ids[i]];
    this.counters[PortCounter.txPackets] += n;
    this.counters[PortCounter.txBytes] += bytes;
    return n;
  }

  /** Frees what is still queued towards this end (nobody will receive it), then closes. */
  override close(): void {
    if (this.rxRing) {
      const drain = new Burst(256);
      while (this.rxRing.dequeueBurst(drain) > 0) this.pool.put(drain);
    }
    this.rxRing?.close();
    this.txRing?.close();
  }
}
