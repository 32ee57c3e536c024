import type { Mempool } from '@vnf-sdk/core';

/**
 * A pool's views, held as fields of the object that uses them. The fast-path classes extend
 * it: each reads `this.bytes`, `this.ptype`, ... in its hot loop, which V8 compiles to
 * fixed-offset loads, where `pool.meta.ptype` would be two property lookups per access.
 */
export class PoolViews {
  protected readonly bytes: Uint8Array;
  protected readonly bufferSize: number;
  protected readonly dataOff: Uint16Array;
  protected readonly dataLen: Uint16Array;
  protected readonly ptype: Uint32Array;
  protected readonly l2Off: Uint16Array;
  protected readonly l3Off: Uint16Array;
  protected readonly l4Off: Uint16Array;
  protected readonly innerL2Off: Uint16Array;
  protected readonly innerL3Off: Uint16Array;
  protected readonly innerL4Off: Uint16Array;
  /** The pool's bytes again, for big-endian words in one read: TurboFan makes a DataView call a load and a byte swap. */
  protected readonly view: DataView;

  constructor(pool: Mempool) {
    this.bytes = pool.bytes;
    this.bufferSize = pool.bufferSize;
    const m = pool.meta;
    this.dataOff = m.dataOff;
    this.dataLen = m.dataLen;
    this.ptype = m.ptype;
    this.l2Off = m.l2Off;
    this.l3Off = m.l3Off;
    this.l4Off = m.l4Off;
    this.innerL2Off = m.innerL2Off;
    this.innerL3Off = m.innerL3Off;
    this.innerL4Off = m.innerL4Off;
    this.view = new DataView(pool.bytes.buffer, pool.bytes.byteOffset, pool.bytes.byteLength);
  }
}
