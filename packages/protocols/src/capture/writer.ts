import { closeSync, openSync, writeSync } from 'node:fs';
import { VnfError } from '@vnf-sdk/core';
import { MAX_CAPTURED_LENGTH, ioError } from './reader.js';

/** Options of {@link CaptureWriter.open}. */
export interface CaptureWriterOptions {
  /** Link-layer header type of every packet (default 1, {@link LINKTYPE}.ETHERNET). */
  linkType?: number;
  /** Write nanosecond timestamps (magic 0xa1b23c4d) instead of microseconds (default false). */
  nanosecond?: boolean;
  /**
   * Longest captured length (default and maximum 262144); longer packets are cut to it, their
   * `originalLength` kept.
   */
  snaplen?: number;
}

/** Writes are gathered in a buffer of this size and written when it is full, and on close. */
const CHUNK_SIZE = 1 << 20;
const PCAP_HEADER_LENGTH = 24;
const RECORD_HEADER_LENGTH = 16;
const NS_PER_SECOND = 1_000_000_000n;

/**
 * Writes a pcap file (version 2.4, little-endian), buffering records into ~1 MiB chunks.
 *
 * @example
 * ```ts
 * const writer = CaptureWriter.open('out.pcap', { nanosecond: true });
 * try {
 *   writer.write(frame, 1_700_000_000_123_456_789n);
 * } finally {
 *   writer.close();
 * }
 * ```
 */
export class CaptureWriter {
  /** The path given to {@link CaptureWriter.open}. */
  readonly path: string;
  /** Link type written in the file header. */
  readonly linkType: number;
  /** Whether timestamps are written with nanosecond resolution. */
  readonly nanosecond: boolean;
  /** Longest captured length written. */
  readonly snaplen: number;

  private fd: number;
  private readonly buf = new Uint8Array(CHUNK_SIZE);
  private readonly view = new DataView(this.buf.buffer);
  private used = 0;
  private packets = 0;

  /**
   * Creates (or truncates) `path` and writes the pcap file header.
   * @throws VnfError `VNF_INVALID_ARGUMENT` for a bad option, `VNF_IO` if the file cannot be created.
   */
  static open(path: string, options: CaptureWriterOptions = {}): CaptureWriter {
    const { linkType = 1, nanosecond = false, snaplen = MAX_CAPTURED_LENGTH } = options;
    // The pcap link-type field keeps FCS information above bit 26, so the type must fit below.
    if (!Number.isInteger(linkType) || linkType < 0 || linkType > 0x03ffffff) {
      throw new VnfError('VNF_INVALID_ARGUMENT', `CaptureWriter.open: linkType must be an integer in 0..0x3ffffff, got ${linkType}`);
    }
    // Readers (ours, Wireshark's) reject records above 256 KiB for ordinary link types.
    if (!Number.isInteger(snaplen) || snaplen < 1 || snaplen > MAX_CAPTURED_LENGTH) {
      throw new VnfError('VNF_INVALID_ARGUMENT', `CaptureWriter.open: snaplen must be an integer in 1..${MAX_CAPTURED_LENGTH}, got ${snaplen}`);
    }
    let fd: number;
    try {
      fd = openSync(path, 'w');
    } catch (err) {
      throw ioError(path, 'create', err);
    }
    return new CaptureWriter(path, fd, linkType, nanosecond, snaplen);
  }

  private constructor(path: string, fd: number, linkType: number, nanosecond: boolean, snaplen: number) {
    this.path = path;
    this.fd = fd;
    this.linkType = linkType;
    this.nanosecond = nanosecond;
    this.snaplen = snaplen;
    const v = this.view;
    v.setUint32(0, nanosecond ? 0xa1b23c4d : 0xa1b2c3d4, true);
    v.setUint16(4, 2, true); // version 2.4
    v.setUint16(6, 4, true);
    v.setInt32(8, 0, true); // thiszone: timestamps are UTC
    v.setUint32(12, 0, true); // sigfigs: always 0
    v.setUint32(16, snaplen, true);
    v.setUint32(20, linkType, true);
    this.used = PCAP_HEADER_LENGTH;
  }

  /** Number of packets written so far. */
  get packetCount(): number {
    return this.packets;
  }

  /**
   * Appends one packet. `data` is copied (into the write buffer) before this returns, so the
   * caller may reuse it. Data longer than the snaplen is cut to it.
   * @param timestampNs nanoseconds since the Unix epoch, 0 up to 2^32 seconds; written
   * truncated to microseconds unless the file is nanosecond.
   * @param originalLength the length on the wire (default `data.length`); not less than `data.length`.
   * @throws VnfError `VNF_INVALID_ARGUMENT`, `VNF_CLOSED`, `VNF_IO`.
   */
  write(data: Uint8Array, timestampNs: bigint, originalLength: number = data.length): void {
    if (this.fd < 0) throw new VnfError('VNF_CLOSED', `${this.path}: capture writer is closed`);
    if (typeof timestampNs !== 'bigint' || timestampNs < 0n || timestampNs / NS_PER_SECOND > 0xffffffffn) {
      throw new VnfError('VNF_INVALID_ARGUMENT', `${this.path}: timestamp ${String(timestampNs)} ns is outside the pcap range 0..2^32 s`);
    }
    if (!Number.isInteger(originalLength) || originalLength < data.length || originalLength > 0xffffffff) {
      throw new VnfError('VNF_INVALID_ARGUMENT', `${this.path}: original length ${originalLength} is less than the ${data.length} bytes given or not a 32-bit length`);
    }
    const capturedLength = Math.min(data.length, this.snaplen);
    if (this.used + RECORD_HEADER_LENGTH + capturedLength > this.buf.length) this.flush();

    const seconds = Number(timestampNs / NS_PER_SECOND);
    const nanos = Number(timestampNs % NS_PER_SECOND);
    const v = this.view;
    const at = this.used;
    v.setUint32(at, seconds, true);
    v.setUint32(at + 4, this.nanosecond ? nanos : Math.floor(nanos / 1000), true);
    v.setUint32(at + 8, capturedLength, true);
    v.setUint32(at + 12, originalLength, true);
    // snaplen <= 256 KiB < CHUNK_SIZE, so after a flush every record fits in the buffer.
    this.buf.set(data.subarray(0, capturedLength), at + RECORD_HEADER_LENGTH);
    this.used = at + RECORD_HEADER_LENGTH + capturedLength;
    this.packets++;
  }

  /** Writes the buffered records to the file now. */
  flush(): void {
    if (this.fd < 0) throw new VnfError('VNF_CLOSED', `${this.path}: capture writer is closed`);
    let done = 0;
    try {
      while (done < this.used) done += writeSync(this.fd, this.buf, done, this.used - done);
    } catch (err) {
      throw ioError(this.path, 'write', err);
    }
    this.used = 0;
  }

  /** Flushes and closes the file. Idempotent. The file is closed even if the flush fails. */
  close(): void {
    if (this.fd < 0) return;
    let failure: unknown = null;
    try {
      this.flush();
    } catch (err) {
      failure = err;
    }
    const fd = this.fd;
    this.fd = -1;
    try {
      closeSync(fd);
    } catch (err) {
      // Report the first failure: a flush error explains a close error, not the reverse.
      failure ??= ioError(this.path, 'close', err);
    }
    if (failure !== null) throw failure;
  }
}
