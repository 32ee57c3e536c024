import type { Burst } from './burst.js';
import { STATUS, VnfError } from './errors.js';
import { type NativePoolInfo, native } from './native.js';

/** Options of {@link Mempool.create}. */
export interface MempoolOptions {
  /** Number of buffers, 1 to 16M (and at most 4 GiB of buffers in all). */
  count: number;
  /** Bytes per buffer, headroom included: a power of two from 2048 to 16384. Default 2048. */
  bufferSize?: number;
  /** Bytes kept free before the packet data, for encapsulation. Multiple of 8. Default 256. */
  headroom?: number;
  /** Per-worker cache of free buffers, 0 to 512 and at most count / 1.5. Default 256. */
  cacheSize?: number;
  /** `'auto'` (default) uses 2 MiB hugepages when enough are free; `'require'` fails without. */
  hugepages?: 'auto' | 'require' | 'never';
  /** Detect double free and writes to freed buffers (slow: poisons every freed buffer). */
  debug?: boolean;
  /** Fault in every page now instead of on first use. */
  prefault?: boolean;
  /** Name used in errors and as the memfd name. Default `'pool'`. */
  name?: string;
}

/**
 * Per-packet metadata, one typed array per field (structure of arrays), indexed by buffer
 * index. Offsets (`l2Off` ...) are relative to the start of the packet data.
 */
export interface PacketMetadata {
  /** Start of packet data within the buffer. */
  dataOff: Uint16Array;
  /** Bytes of packet data in this buffer. */
  dataLen: Uint16Array;
  /** Input port id; 0xffff when none. */
  port: Uint16Array;
  /** Next step chosen by a pipeline stage. */
  next: Uint16Array;
  /** Packet type bits, written by parsers. */
  ptype: Uint32Array;
  l2Off: Uint16Array;
  l3Off: Uint16Array;
  l4Off: Uint16Array;
  /** Offsets of a tunnelled packet's headers (VXLAN, GTP-U, GRE). */
  innerL2Off: Uint16Array;
  innerL3Off: Uint16Array;
  innerL4Off: Uint16Array;
  /** Flow hash (RSS-style). */
  flowHash: Uint32Array;
  /** User mark (ACL, NAT, applications). */
  mark: Uint32Array;
  /** Next buffer of a multi-buffer packet; {@link NO_BUFFER} for the last. */
  chain: Uint32Array;
}

/** `chain` value of the last buffer of a packet. */
export const NO_BUFFER = 0xffffffff;
/** `port` value of a buffer that did not come from a port. */
export const NO_PORT = 0xffff;

/**
 * Where the pool's memory is, for code that registers it elsewhere (AF_XDP UMEM,
 * vhost-user memory tables): buffer `i` starts at byte `i * bufferSize` of the region.
 */
export interface MempoolRegion {
  /** memfd of the whole region. Owned by the pool: `dup` it, do not close it. */
  fd: number;
  /** Region size in bytes (a multiple of pageSize). */
  size: number;
  /** Whether the region is on 2 MiB hugepages. */
  hugepages: boolean;
  /** Why the region is on the pages it is on, e.g. "2 MiB hugepages". */
  pageNote: string;
  pageSize: number;
  /** Bytes of buffers, from offset 0. */
  buffersSize: number;
  /** Offset of the layout record (magic "VNFPOOL") and of the metadata arrays. */
  layoutOffset: number;
  /** Offset of each metadata array. */
  metaOffsets: Record<string, number>;
  /**
   * Bytes spent per buffer on everything but the buffer itself: metadata, layout, page
   * rounding, and the free ring (which is private memory, outside the region).
   */
  overheadPerBuffer: number;
}

/** Counters of {@link Mempool.stats}. */
export interface MempoolStats {
  count: number;
  inUse: number;
  free: number;
  freeInRing: number;
  freeInCaches: number;
  /** Get calls served from a worker cache. */
  cacheHits: number;
  /** Get calls that had to go to the shared free ring. */
  cacheMisses: number;
}

/** What {@link Mempool.share} returns: post it to a worker and call {@link Mempool.attach}. */
export interface SharedMempool {
  kind: 'vnf-mempool';
  id: number;
}

const META_NAMES = [
  'dataOff',
  'dataLen',
  'port',
  'next',
  'ptype',
  'l2Off',
  'l3Off',
  'l4Off',
  'innerL2Off',
  'innerL3Off',
  'innerL4Off',
  'flowHash',
  'mark',
  'chain',
] as const;

// A Mempool dropped without close() still returns its cache; its views stay valid.
const finalizer = new FinalizationRegistry<number>((handle) => native.poolClose(handle, false));

/**
 * A pool of fixed-size packet buffers in one shared memory region (memfd, on hugepages
 * when available), with per-packet metadata and a lock-free free list.
 *
 * Each `Mempool` object is one thread's handle on the pool with its own cache of free
 * buffers; other worker threads {@link Mempool.attach} to the same memory. Buffer bytes
 * and metadata are seen zero-copy through {@link Mempool.bytes} and {@link Mempool.meta}.
 */
export class Mempool {
  readonly name: string;
  readonly count: number;
  readonly bufferSize: number;
  readonly headroom: number;
  readonly cacheSize: number;
  readonly debug: boolean;
  /** Every buffer, zero copy: buffer `i` is `bytes[i * bufferSize ...]`. */
  readonly bytes: Uint8Array;
  readonly meta: PacketMetadata;
  readonly region: MempoolRegion;
  private handle: number;
  private readonly id: number;
  private readonly scratch: Uint32Array;

  private constructor(info: NativePoolInfo) {
    this.handle = info.handle;
    this.id = info.id;
    this.name = info.name;
    this.count = info.count;
    this.bufferSize = info.bufferSize;
    this.headroom = info.headroom;
    this.cacheSize = info.cacheSize;
    this.debug = info.debug;
    this.scratch = native.scratch;
    this.bytes = new Uint8Array(info.buffers);
    const meta: Record<string, Uint16Array | Uint32Array> = {};
    const metaOffsets: Record<string, number> = {};
    for (const name of META_NAMES) {
      const f = info.meta[name];
      meta[name] = f.width === 2 ? new Uint16Array(f.buffer) : new Uint32Array(f.buffer);
      metaOffsets[name] = f.offset;
    }
    this.meta = meta as unknown as PacketMetadata;
    this.region = {
      fd: info.fd,
      size: info.regionSize,
      hugepages: info.hugepages,
      pageNote: info.pageNote,
      pageSize: info.pageSize,
      buffersSize: info.buffersSize,
      layoutOffset: info.layoutOffset,
      metaOffsets,
      overheadPerBuffer: info.overheadPerBuffer,
    };
    finalizer.register(this, this.handle, this);
  }

  /** Creates a pool. Throws VNF_INVALID_ARGUMENT naming the bad option, before allocating. */
  static create(options: MempoolOptions): Mempool {
    if (options === null || typeof options !== 'object') {
      throw new VnfError('VNF_INVALID_ARGUMENT', 'Mempool.create: options must be an object');
    }
    return new Mempool(native.poolCreate(options));
  }

  /** Opens, in this thread, a pool shared by another thread with {@link Mempool.share}. */
  static attach(shared: SharedMempool): Mempool {
    if (shared?.kind !== 'vnf-mempool' || !Number.isInteger(shared.id)) {
      throw new VnfError('VNF_INVALID_ARGUMENT', 'Mempool.attach: expected the object returned by Mempool.share()');
    }
    return new Mempool(native.poolAttach(shared.id));
  }

  /** @internal The native handle, for other modules of this package. */
  static handleOf(pool: Mempool): number {
    return pool.handle;
  }

  /** A plain object that can be posted to a worker thread. */
  share(): SharedMempool {
    return { kind: 'vnf-mempool', id: this.id };
  }

  /**
   * Takes `n` buffers (default: as many as the burst has room for) and appends them to the
   * burst, all or nothing. Returns `n`, or 0 when the pool has fewer than `n` free: running
   * out is a normal condition, not an exception. Metadata is left as it was.
   */
  get(burst: Burst, n: number = burst.capacity - burst.count): number {
    const r = native.poolGet(this.handle, burst.handle, burst.count, n);
    if (r < 0) throw this.error(r, 'get', burst, n);
    burst.count += r;
    return r;
  }

  /** Like {@link Mempool.get}, and resets each buffer's metadata for a new packet. */
  alloc(burst: Burst, n: number = burst.capacity - burst.count): number {
    const r = native.poolAlloc(this.handle, burst.handle, burst.count, n);
    if (r < 0) throw this.error(r, 'alloc', burst, n);
    burst.count += r;
    return r;
  }

  /** Returns every buffer of the burst to the pool (this is how a burst is freed). */
  put(burst: Burst): void {
    const r = native.poolPut(this.handle, burst.handle, 0, burst.count);
    if (r < 0) throw this.error(r, 'put', burst, burst.count);
    burst.count = 0;
  }

  /** Byte offset in {@link Mempool.bytes} where buffer `index`'s packet data starts. */
  dataOffset(index: number): number {
    return index * this.bufferSize + this.meta.dataOff[index];
  }

  /**
   * Copies `data` into buffer `index` as its packet data and sets its length. For tools and
   * tests; the data path works on {@link Mempool.bytes} in place.
   */
  write(index: number, data: Uint8Array): void {
    this.checkOwned(index, 'write');
    const room = this.bufferSize - this.meta.dataOff[index];
    if (data.length > room) {
      throw new VnfError(
        'VNF_INVALID_ARGUMENT',
        `pool '${this.name}': ${data.length} bytes do not fit in buffer ${index} (${room} bytes of room after offset ${this.meta.dataOff[index]})`,
      );
    }
    this.bytes.set(data, this.dataOffset(index));
    this.meta.dataLen[index] = data.length;
  }

  /** Copies out buffer `index`'s packet data (`dataLen` bytes from `dataOff`). */
  read(index: number): Uint8Array {
    this.checkOwned(index, 'read');
    const start = this.dataOffset(index);
    return this.bytes.slice(start, start + this.meta.dataLen[index]);
  }

  /** Counters of the whole pool (all threads' handles). */
  stats(): MempoolStats {
    return native.poolStats(this.handle);
  }

  /**
   * Closes this thread's handle: its cached buffers go back to the pool and its views are
   * detached (zero length). The memory is released when every handle is closed.
   */
  close(): void {
    if (native.poolClose(this.handle)) finalizer.unregister(this);
  }

  private checkOwned(index: number, op: string): void {
    if (!Number.isInteger(index) || index < 0 || index >= this.count) {
      throw new VnfError('VNF_INDEX_RANGE', `pool '${this.name}'.${op}: buffer index ${index} is not an integer in 0..${this.count - 1}`);
    }
    const r = native.poolOwns(this.handle, index);
    if (r === 1) return;
    if (r === 0) {
      throw new VnfError(
        'VNF_NOT_ALLOCATED',
        `pool '${this.name}': ${op} of buffer ${index}, which is free (use after free)`,
      );
    }
    throw this.error(r, op);
  }

  private error(status: number, op: string, burst?: Burst, n?: number): VnfError {
    const code = STATUS[status] ?? 'VNF_SYSTEM';
    const where = `pool '${this.name}'.${op}`;
    const index = this.scratch[1];
    const position = this.scratch[2];
    switch (code) {
      case 'VNF_CLOSED':
        return new VnfError(code, `${where}: the pool handle is closed`);
      case 'VNF_INDEX_RANGE':
        return new VnfError(
          code,
          burst
            ? `${where}: buffer index ${index} at burst position ${position} is out of range 0..${this.count - 1} (an index from another pool?)`
            : `${where}: buffer index is out of range 0..${this.count - 1}`,
        );
      case 'VNF_DOUBLE_FREE':
        return new VnfError(
          code,
          `${where}: buffer ${index} at burst position ${position} is not allocated: freed twice, or it belongs to another pool; nothing was freed`,
        );
      case 'VNF_USE_AFTER_FREE':
        return new VnfError(
          code,
          `${where}: buffer ${index} was written to while it was free (found when handing it out again); nothing was allocated`,
        );
      case 'VNF_BURST_CAPACITY':
        return new VnfError(
          code,
          `${where}: ${n} buffers do not fit a burst of capacity ${burst?.capacity} holding ${burst?.count}`,
        );
      case 'VNF_BAD_HANDLE':
        return new VnfError(code, `${where}: the burst was not created on this thread`);
      case 'VNF_INVALID_ARGUMENT':
        return new VnfError(
          code,
          `${where}: n = ${n} and burst.count = ${burst?.count} must be integers with count + n <= capacity ${burst?.capacity}`,
        );
      case 'VNF_POOL_OVERFLOW':
        return new VnfError(
          code,
          `${where}: more buffers freed than the pool holds (buffer ${index} or another was freed twice; enable debug mode to find it); the surplus was dropped`,
        );
      default:
        return new VnfError(code, `${where}: failed with ${code}`);
    }
  }
}
