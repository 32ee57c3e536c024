import { closeSync, fstatSync, openSync, readSync } from 'node:fs';
import { VnfError } from '@vnf-sdk/core';

/**
 * One packet read from a capture file.
 *
 * `data` is a view into the reader's window buffer: it is valid only until the next call to
 * {@link CaptureReader.next} (or the next step of iteration), which may overwrite or move it.
 * Copy it (`packet.data.slice()`) to keep the bytes longer.
 */
export interface CapturedPacket {
  /** The captured bytes (a window view; see above). May be shorter than `originalLength`. */
  data: Uint8Array;
  /** The length of the packet on the wire, before any snaplen truncation. */
  originalLength: number;
  /**
   * Nanoseconds since the Unix epoch (any pcapng `if_tsoffset` applied). pcapng Simple Packet
   * Blocks carry no timestamp: theirs is `0n`.
   */
  timestampNs: bigint;
  /** The link-layer header type of the packet's interface (a {@link LINKTYPE} value or another `LINKTYPE_*` number). */
  linkType: number;
  /** The pcapng interface id within its section; always 0 for pcap. */
  interfaceId: number;
  /** 0-based number of the packet in the file. */
  index: number;
  /** Byte offset in the file of the packet's record (pcap) or block (pcapng). */
  offset: number;
}

/** Options of {@link CaptureReader.open}. */
export interface CaptureReaderOptions {
  /**
   * Size in bytes of the reusable read window (default 1 MiB). The window grows only when a
   * single record or block is larger than it.
   */
  bufferSize?: number;
}

/**
 * The largest captured length accepted for one packet (256 KiB, the largest snaplen tcpdump
 * and Wireshark use for ordinary link types). Anything larger is treated as corruption, which
 * also stops a damaged length field from making the reader allocate a huge window.
 */
export const MAX_CAPTURED_LENGTH = 262144;

const DEFAULT_BUFFER_SIZE = 1 << 20;

const PCAP_MAGIC_MICRO = 0xa1b2c3d4;
const PCAP_MAGIC_NANO = 0xa1b23c4d;
const PCAP_HEADER_LENGTH = 24;
const PCAP_RECORD_HEADER_LENGTH = 16;

// pcapng block types we interpret; every other type is skipped by its length.
const BLOCK_SHB = 0x0a0d0d0a; // a palindrome, so it reads the same in either byte order
const BLOCK_IDB = 1;
const BLOCK_OPB = 2; // obsolete Packet Block: still written by old tools, read by Wireshark
const BLOCK_SPB = 3;
const BLOCK_EPB = 6;
const BYTE_ORDER_MAGIC = 0x1a2b3c4d;
const BYTE_ORDER_MAGIC_SWAPPED = 0x4d3c2b1a;

const OPT_ENDOFOPT = 0;
const OPT_IF_TSRESOL = 9;
const OPT_IF_TSOFFSET = 14;

const NS_PER_SECOND = 1_000_000_000n;

/** What the reader knows about one pcapng interface (IDB) of the current section. */
interface Interface {
  linkType: number;
  /** 0 means "no limit". */
  snaplen: number;
  /** Timestamp units -> ns: `units * tsMul / tsDiv` (BigInt keeps 64-bit counters exact). */
  tsMul: bigint;
  tsDiv: bigint;
  /** `if_tsoffset` in nanoseconds. */
  tsOffsetNs: bigint;
  /** Timestamp units per second, to say whether the resolution is finer than 1 µs. */
  unitsPerSecond: bigint;
}

const pad4 = (n: number): number => (n + 3) & ~3;

/**
 * Streaming, synchronous reader of pcap and pcapng files.
 *
 * The file is read with `readSync` into one reusable window buffer (default 1 MiB), never
 * whole; packets are returned as views into that window, so reading allocates no per-packet
 * buffers. A packet's `data` is valid until the next call to {@link CaptureReader.next}.
 *
 * Corruption throws `VnfError('VNF_CAPTURE_FORMAT')` whose message names the file, the byte
 * offset and the problem; I/O failures throw `VnfError('VNF_IO')`. A file that ends exactly
 * after its last complete record or block simply ends.
 *
 * @example
 * ```ts
 * const reader = CaptureReader.open('trace.pcapng');
 * try {
 *   for (const p of reader) console.log(p.index, p.timestampNs, p.data.length);
 * } finally {
 *   reader.close();
 * }
 * ```
 */
export class CaptureReader {
  /** The path given to {@link CaptureReader.open}; used in error messages. */
  readonly path: string;
  /** The detected file format. */
  readonly format: 'pcap' | 'pcapng';

  private fd: number;
  /** File size at open, refreshed when a block seems to run past it (a file still being written). */
  private fileSize: number;
  // The window: buf[0] is file byte `bufStart`; `bufLen` bytes of it are valid.
  private buf: Uint8Array;
  private view: DataView;
  private bufStart = 0;
  private bufLen = 0;
  /** File offset of the next record or block. */
  private pos = 0;
  /** Byte order of the file (pcap) or of the current section (pcapng). */
  private le = true;
  private packetIndex = 0;
  private firstLinkType = -1;
  private nanosecondResolution = false;
  /** pcap: ns per unit of the fractional timestamp field (1000 for µs files, 1 for ns files). */
  private pcapFractionNs = 1000n;
  /** pcapng: interfaces of the current section, by id. */
  private interfaces: Interface[] = [];
  private readonly scratch = new Uint8Array(4);

  /**
   * Opens a capture file and reads its header (pcap) or its blocks up to the first interface
   * description (pcapng), detecting the format by its magic number.
   * @throws VnfError `VNF_IO` if the file cannot be opened or read, `VNF_CAPTURE_FORMAT` if
   * it is not a valid pcap or pcapng file, `VNF_INVALID_ARGUMENT` for a bad `bufferSize`.
   */
  static open(path: string, options: CaptureReaderOptions = {}): CaptureReader {
    const bufferSize = options.bufferSize ?? DEFAULT_BUFFER_SIZE;
    if (!Number.isSafeInteger(bufferSize) || bufferSize < 1) {
      throw new VnfError('VNF_INVALID_ARGUMENT', `CaptureReader.open: bufferSize must be a positive integer, got ${bufferSize}`);
    }
    let fd: number;
    let size: number;
    try {
      fd = openSync(path, 'r');
    } catch (err) {
      throw ioError(path, 'open', err);
    }
    try {
      size = fstatSync(fd).size;
    } catch (err) {
      closeSync(fd);
      throw ioError(path, 'stat', err);
    }
    try {
      return new CaptureReader(path, fd, size, bufferSize);
    } catch (err) {
      closeSync(fd); // a bad header: do not leak the descriptor
      throw err;
    }
  }

  private constructor(path: string, fd: number, fileSize: number, bufferSize: number) {
    this.path = path;
    this.fd = fd;
    this.fileSize = fileSize;
    // A plain Uint8Array (not a pooled Buffer) so that packet views own a window-sized buffer.
    this.buf = new Uint8Array(bufferSize);
    this.view = new DataView(this.buf.buffer);

    const got = this.fill(4);
    if (got < 4) {
      throw this.corrupt(0, 'truncated file header', `4 bytes of magic number needed, ${got} present`);
    }
    const magic = this.view.getUint32(0, true);
    if (magic === BLOCK_SHB) {
      this.format = 'pcapng';
      // Read up to the first interface so that `linkType` and `nanosecond` are known. No packet
      // can come before it: a packet block without an interface is itself an error.
      while (this.interfaces.length === 0 && this.nextBlock() !== null) {
        // Only non-packet blocks can be consumed here.
      }
    } else {
      this.format = 'pcap';
      this.readPcapHeader(magic);
    }
  }

  /** Link type of the file (pcap) or of the first interface (pcapng); -1 if a pcapng file has no interface. */
  get linkType(): number {
    return this.firstLinkType;
  }

  /**
   * pcap: the file uses the nanosecond magic. pcapng: the first interface's timestamp
   * resolution is finer than a microsecond.
   */
  get nanosecond(): boolean {
    return this.nanosecondResolution;
  }

  /**
   * Returns the next packet, or `null` at the end of the file. The packet's `data` view is
   * valid until the next call.
   * @throws VnfError `VNF_CAPTURE_FORMAT` on corruption (the message names the byte offset),
   * `VNF_IO` on a read error, `VNF_CLOSED` after {@link CaptureReader.close}.
   */
  next(): CapturedPacket | null {
    if (this.fd < 0) throw new VnfError('VNF_CLOSED', `${this.path}: capture reader is closed`);
    if (this.format === 'pcap') return this.nextPcapRecord();
    for (;;) {
      const packet = this.nextBlock();
      if (packet !== undefined) return packet; // a packet, or null at the end of the file
    }
  }

  /** Iterates over the remaining packets; each `data` view is valid until the next step. */
  *[Symbol.iterator](): IterableIterator<CapturedPacket> {
    for (let p = this.next(); p !== null; p = this.next()) yield p;
  }

  /** Closes the file. Idempotent. */
  close(): void {
    if (this.fd < 0) return;
    const fd = this.fd;
    this.fd = -1;
    try {
      closeSync(fd);
    } catch (err) {
      throw ioError(this.path, 'close', err);
    }
  }

  // ---- pcap ----

  private readPcapHeader(magicLe: number): void {
    // The magic read little-endian tells both the byte order and the timestamp resolution.
    if (magicLe === PCAP_MAGIC_MICRO || magicLe === PCAP_MAGIC_NANO) this.le = true;
    else if (swap32(magicLe) === PCAP_MAGIC_MICRO || swap32(magicLe) === PCAP_MAGIC_NANO) this.le = false;
    else {
      throw this.corrupt(0, 'bad magic number', `0x${magicLe.toString(16).padStart(8, '0')} (little-endian) is neither pcap nor pcapng`);
    }
    const magic = this.le ? magicLe : swap32(magicLe);
    this.nanosecondResolution = magic === PCAP_MAGIC_NANO;
    this.pcapFractionNs = this.nanosecondResolution ? 1n : 1000n;

    const got = this.fill(PCAP_HEADER_LENGTH);
    if (got < PCAP_HEADER_LENGTH) {
      throw this.corrupt(0, 'truncated pcap file header', `${PCAP_HEADER_LENGTH} bytes needed, ${got} present`);
    }
    const major = this.view.getUint16(4, this.le);
    const minor = this.view.getUint16(6, this.le);
    // libpcap writes 2.4 and reads any 2.x; anything else has a different record layout.
    if (major !== 2) throw this.corrupt(4, 'unsupported pcap version', `${major}.${minor}`);
    // The top bits of the link-type field carry FCS information (pcap spec); keep the type.
    this.firstLinkType = this.view.getUint32(20, this.le) & 0x03ffffff;
    this.pos = PCAP_HEADER_LENGTH;
  }

  private nextPcapRecord(): CapturedPacket | null {
    const offset = this.pos;
    const got = this.fill(PCAP_RECORD_HEADER_LENGTH);
    if (got === 0) return null; // clean end of file
    if (got < PCAP_RECORD_HEADER_LENGTH) {
      throw this.corrupt(offset, 'truncated packet record header', `${PCAP_RECORD_HEADER_LENGTH} bytes needed, ${got} remain`);
    }
    let i = offset - this.bufStart;
    const seconds = this.view.getUint32(i, this.le);
    const fraction = this.view.getUint32(i + 4, this.le);
    const capturedLength = this.view.getUint32(i + 8, this.le);
    const originalLength = this.view.getUint32(i + 12, this.le);
    if (capturedLength > MAX_CAPTURED_LENGTH) {
      throw this.corrupt(offset, 'bad packet record', `captured length ${capturedLength} exceeds the maximum of ${MAX_CAPTURED_LENGTH}`);
    }
    const recordLength = PCAP_RECORD_HEADER_LENGTH + capturedLength;
    const available = this.fill(recordLength);
    if (available < recordLength) {
      throw this.corrupt(
        offset,
        'truncated packet record',
        `header says ${capturedLength} bytes, ${available - PCAP_RECORD_HEADER_LENGTH} remain`,
      );
    }
    i = offset - this.bufStart; // fill() may have moved the window
    this.pos = offset + recordLength;
    return {
      data: this.buf.subarray(i + PCAP_RECORD_HEADER_LENGTH, i + recordLength),
      originalLength,
      timestampNs: BigInt(seconds) * NS_PER_SECOND + BigInt(fraction) * this.pcapFractionNs,
      linkType: this.firstLinkType,
      interfaceId: 0,
      index: this.packetIndex++,
      offset,
    };
  }

  // ---- pcapng ----

  /**
   * Reads one block. Returns the packet of a packet block, `undefined` for any other block,
   * `null` at a clean end of file.
   */
  private nextBlock(): CapturedPacket | null | undefined {
    const offset = this.pos;
    const got = this.fill(12); // type, total length, and the SHB's byte-order magic
    if (got === 0) return null;
    if (got < 8) throw this.corrupt(offset, 'truncated block header', `8 bytes needed, ${got} remain`);
    let i = offset - this.bufStart;

    let type = this.view.getUint32(i, this.le);
    if (type === BLOCK_SHB) {
      // A new section: its byte-order magic sets the byte order of everything up to the next SHB.
      if (got < 12) throw this.corrupt(offset, 'truncated section header block', `12 bytes needed, ${got} remain`);
      const bom = this.view.getUint32(i + 8, true);
      if (bom === BYTE_ORDER_MAGIC) this.le = true;
      else if (bom === BYTE_ORDER_MAGIC_SWAPPED) this.le = false;
      else {
        throw this.corrupt(offset, 'bad section header block', `byte-order magic 0x${bom.toString(16).padStart(8, '0')} is not 0x1a2b3c4d in either byte order`);
      }
      type = BLOCK_SHB;
    }

    const totalLength = this.view.getUint32(i + 4, this.le);
    if (totalLength < 12) throw this.corrupt(offset, 'bad block length', `block total length ${totalLength} is less than 12`);
    if (totalLength % 4 !== 0) throw this.corrupt(offset, 'bad block length', `block total length ${totalLength} is not a multiple of 4`);
    if (totalLength > this.fileSize - offset) this.refreshFileSize();
    const remain = this.fileSize - offset;
    if (totalLength > remain) {
      throw this.corrupt(offset, 'truncated block', `block type 0x${type.toString(16)} says ${totalLength} bytes, ${remain} remain`);
    }

    if (type !== BLOCK_SHB && type !== BLOCK_IDB && type !== BLOCK_EPB && type !== BLOCK_SPB && type !== BLOCK_OPB) {
      // Name resolution, interface statistics, custom, decryption secrets, ...: skip without
      // loading the body into the window, but still check the trailing length.
      const trailing = this.readTrailingLength(offset, totalLength);
      if (trailing !== totalLength) throw this.trailingMismatch(offset, totalLength, trailing);
      this.pos = offset + totalLength;
      return undefined;
    }

    const available = this.fill(totalLength);
    if (available < totalLength) {
      // The file shrank since open(), or reads came up short.
      throw this.corrupt(offset, 'truncated block', `block type 0x${type.toString(16)} says ${totalLength} bytes, ${available} remain`);
    }
    i = offset - this.bufStart;
    const trailing = this.view.getUint32(i + totalLength - 4, this.le);
    if (trailing !== totalLength) throw this.trailingMismatch(offset, totalLength, trailing);
    this.pos = offset + totalLength;

    switch (type) {
      case BLOCK_SHB:
        this.readSectionHeader(offset, i, totalLength);
        return undefined;
      case BLOCK_IDB:
        this.readInterfaceDescription(offset, i, totalLength);
        return undefined;
      case BLOCK_EPB:
      case BLOCK_OPB:
        return this.readTimestampedPacket(type, offset, i, totalLength);
      default:
        return this.readSimplePacket(offset, i, totalLength);
    }
  }

  private readSectionHeader(offset: number, i: number, totalLength: number): void {
    if (totalLength < 28) throw this.corrupt(offset, 'bad section header block', `total length ${totalLength} is less than 28`);
    const major = this.view.getUint16(i + 12, this.le);
    const minor = this.view.getUint16(i + 14, this.le);
    // 1.0 and 1.2 are in use (1.2 only marks a writer that knows of some ambiguity); 2.x would
    // be incompatible by definition.
    if (major !== 1 || minor > 2) throw this.corrupt(offset, 'unsupported pcapng version', `${major}.${minor}`);
    // Interface ids are per section.
    this.interfaces = [];
  }

  private readInterfaceDescription(offset: number, i: number, totalLength: number): void {
    if (totalLength < 20) throw this.corrupt(offset, 'bad interface description block', `total length ${totalLength} is less than 20`);
    const linkType = this.view.getUint16(i + 8, this.le);
    const snaplen = this.view.getUint32(i + 12, this.le);
    let tsresol = 6; // default: microseconds
    let tsOffsetNs = 0n;

    // Options: code (2), length (2), value padded to 4 bytes; end at opt_endofopt or the block end.
    const end = i + totalLength - 4;
    let o = i + 16;
    while (o + 4 <= end) {
      const code = this.view.getUint16(o, this.le);
      const length = this.view.getUint16(o + 2, this.le);
      if (code === OPT_ENDOFOPT) break;
      if (o + 4 + length > end) {
        throw this.corrupt(offset, 'bad interface description block', `option ${code} at byte ${this.bufStart + o} has length ${length}, past the end of the block`);
      }
      if (code === OPT_IF_TSRESOL && length >= 1) tsresol = this.buf[o + 4]!;
      if (code === OPT_IF_TSOFFSET && length >= 8) tsOffsetNs = this.view.getBigInt64(o + 4, this.le) * NS_PER_SECOND;
      o += 4 + pad4(length);
    }

    // if_tsresol: high bit clear -> 10^-n seconds per unit, set -> 2^-n.
    const exponent = tsresol & 0x7f;
    let unitsPerSecond: bigint;
    let tsMul: bigint;
    let tsDiv: bigint;
    if (tsresol & 0x80) {
      unitsPerSecond = 1n << BigInt(exponent);
      tsMul = NS_PER_SECOND;
      tsDiv = unitsPerSecond;
    } else {
      unitsPerSecond = 10n ** BigInt(exponent);
      // Keep the common cases (µs, ns) as one exact multiplication.
      tsMul = exponent <= 9 ? 10n ** BigInt(9 - exponent) : 1n;
      tsDiv = exponent <= 9 ? 1n : 10n ** BigInt(exponent - 9);
    }

    this.interfaces.push({ linkType, snaplen, tsMul, tsDiv, tsOffsetNs, unitsPerSecond });
    if (this.firstLinkType < 0) {
      this.firstLinkType = linkType;
      this.nanosecondResolution = unitsPerSecond > 1_000_000n;
    }
  }

  /** Enhanced Packet Block (32-bit interface id) or obsolete Packet Block (16-bit id + drop count). */
  private readTimestampedPacket(type: number, offset: number, i: number, totalLength: number): CapturedPacket {
    const what = type === BLOCK_EPB ? 'enhanced packet block' : 'packet block';
    if (totalLength < 32) throw this.corrupt(offset, `bad ${what}`, `total length ${totalLength} is less than 32`);
    const interfaceId = type === BLOCK_EPB ? this.view.getUint32(i + 8, this.le) : this.view.getUint16(i + 8, this.le);
    const tsHigh = this.view.getUint32(i + 12, this.le);
    const tsLow = this.view.getUint32(i + 16, this.le);
    const capturedLength = this.view.getUint32(i + 20, this.le);
    const originalLength = this.view.getUint32(i + 24, this.le);
    const iface = this.interfaces[interfaceId];
    if (iface === undefined) {
      throw this.corrupt(offset, `bad ${what}`, `unknown interface id ${interfaceId} (the section has ${this.interfaces.length} interfaces)`);
    }
    if (capturedLength > MAX_CAPTURED_LENGTH) {
      throw this.corrupt(offset, `bad ${what}`, `captured length ${capturedLength} exceeds the maximum of ${MAX_CAPTURED_LENGTH}`);
    }
    if (28 + pad4(capturedLength) + 4 > totalLength) {
      throw this.corrupt(offset, `bad ${what}`, `captured length ${capturedLength} does not fit in a block of ${totalLength} bytes`);
    }
    const units = (BigInt(tsHigh) << 32n) | BigInt(tsLow);
    return {
      data: this.buf.subarray(i + 28, i + 28 + capturedLength),
      originalLength,
      timestampNs: (units * iface.tsMul) / iface.tsDiv + iface.tsOffsetNs,
      linkType: iface.linkType,
      interfaceId,
      index: this.packetIndex++,
      offset,
    };
  }

  private readSimplePacket(offset: number, i: number, totalLength: number): CapturedPacket {
    if (totalLength < 16) throw this.corrupt(offset, 'bad simple packet block', `total length ${totalLength} is less than 16`);
    const iface = this.interfaces[0];
    if (iface === undefined) throw this.corrupt(offset, 'bad simple packet block', 'the section has no interface');
    const originalLength = this.view.getUint32(i + 8, this.le);
    // An SPB has no captured-length field: it is the original length cut to the snaplen
    // (0 = unlimited) and, being padded, to the block body.
    let capturedLength = Math.min(originalLength, totalLength - 16);
    if (iface.snaplen > 0) capturedLength = Math.min(capturedLength, iface.snaplen);
    if (capturedLength > MAX_CAPTURED_LENGTH) {
      throw this.corrupt(offset, 'bad simple packet block', `captured length ${capturedLength} exceeds the maximum of ${MAX_CAPTURED_LENGTH}`);
    }
    return {
      data: this.buf.subarray(i + 12, i + 12 + capturedLength),
      originalLength,
      timestampNs: 0n,
      linkType: iface.linkType,
      interfaceId: 0,
      index: this.packetIndex++,
      offset,
    };
  }

  // ---- window and helpers ----

  /**
   * Makes the `n` bytes at `pos` available in the window (moving the unread tail to the front,
   * growing the window if `n` exceeds it) and returns how many are (fewer only at end of file).
   * Invalidates views returned earlier.
   */
  private fill(n: number): number {
    const windowEnd = this.bufStart + this.bufLen;
    if (this.pos >= this.bufStart && this.pos + n <= windowEnd) return n;

    // Bytes at `pos` already in the window (none if pos jumped past it by a skipped block).
    const keep = this.pos >= this.bufStart && this.pos < windowEnd ? windowEnd - this.pos : 0;
    const from = this.pos - this.bufStart;
    if (n > this.buf.length) {
      // A single record or block is larger than the window: grow it (only then).
      const grown = new Uint8Array(n);
      grown.set(this.buf.subarray(from, from + keep));
      this.buf = grown;
      this.view = new DataView(grown.buffer);
    } else if (keep > 0) {
      this.buf.copyWithin(0, from, from + keep);
    }
    this.bufStart = this.pos;
    this.bufLen = keep;

    // Fill as much of the window as the file gives, so most calls are served from memory.
    while (this.bufLen < n) {
      let read: number;
      try {
        read = readSync(this.fd, this.buf, this.bufLen, this.buf.length - this.bufLen, this.bufStart + this.bufLen);
      } catch (err) {
        throw ioError(this.path, 'read', err);
      }
      if (read === 0) break;
      this.bufLen += read;
    }
    return Math.min(n, this.bufLen);
  }

  /** The trailing total-length field of a block we skip, read without loading its body. */
  private readTrailingLength(offset: number, totalLength: number): number {
    const at = offset + totalLength - 4;
    if (at >= this.bufStart && at + 4 <= this.bufStart + this.bufLen) {
      return this.view.getUint32(at - this.bufStart, this.le);
    }
    let read: number;
    try {
      read = readSync(this.fd, this.scratch, 0, 4, at);
    } catch (err) {
      throw ioError(this.path, 'read', err);
    }
    if (read < 4) throw this.corrupt(offset, 'truncated block', `trailing block length at byte ${at} is missing`);
    return new DataView(this.scratch.buffer).getUint32(0, this.le);
  }

  private refreshFileSize(): void {
    try {
      this.fileSize = fstatSync(this.fd).size;
    } catch (err) {
      throw ioError(this.path, 'stat', err);
    }
  }

  private trailingMismatch(offset: number, totalLength: number, trailing: number): VnfError {
    return this.corrupt(offset, 'bad block length', `trailing block total length ${trailing} does not match the leading ${totalLength}`);
  }

  private corrupt(offset: number, what: string, detail: string): VnfError {
    return new VnfError('VNF_CAPTURE_FORMAT', `${this.path}: ${what} at byte ${offset}: ${detail}`);
  }
}

function swap32(x: number): number {
  return (((x & 0xff) << 24) | ((x & 0xff00) << 8) | ((x >>> 8) & 0xff00) | (x >>> 24)) >>> 0;
}

/**
 * A `VNF_IO` error naming the path, the operation and the errno text (e.g. "ENOENT: no such
 * file or directory"). Shared with the writer; not part of the public API.
 * @internal
 */
export function ioError(path: string, operation: string, err: unknown): VnfError {
  const text = err instanceof Error ? err.message : String(err);
  return new VnfError('VNF_IO', `${path}: cannot ${operation}: ${text}`);
}
