/**
 * Every error the SDK throws at its API edge is a {@link VnfError} with a stable `code`,
 * so callers can branch on the code instead of parsing messages.
 */
export type VnfErrorCode =
  | 'VNF_INVALID_ARGUMENT'
  | 'VNF_CLOSED'
  | 'VNF_INDEX_RANGE'
  | 'VNF_DOUBLE_FREE'
  | 'VNF_NOT_ALLOCATED'
  | 'VNF_USE_AFTER_FREE'
  | 'VNF_BURST_CAPACITY'
  | 'VNF_BAD_HANDLE'
  | 'VNF_NO_MEMORY'
  | 'VNF_NO_HUGEPAGES'
  | 'VNF_SYSTEM'
  | 'VNF_POOL_OVERFLOW'
  /** No such interface or device. */
  | 'VNF_NO_DEVICE'
  /** The operation needs a privilege the process lacks (CAP_NET_RAW, CAP_NET_ADMIN). */
  | 'VNF_PERMISSION'
  /** The interface is down. */
  | 'VNF_LINK_DOWN'
  /** A frame is over the MTU, or over what a buffer holds. */
  | 'VNF_FRAME_SIZE'
  /** A port failed while running; the message says which and why. */
  | 'VNF_PORT'
  /** A configuration was rejected before anything started; the message names the field. */
  | 'VNF_CONFIG'
  | 'VNF_NATIVE_LOAD'
  /** A capture file (pcap, pcapng) is malformed; the message names the byte offset. */
  | 'VNF_CAPTURE_FORMAT'
  /** A packet given to a builder or decoder cannot be represented. */
  | 'VNF_PACKET_FORMAT'
  /** An I/O operation on a file failed. */
  | 'VNF_IO';

/** A typed error: `code` says what went wrong, the message says where and with what value. */
export class VnfError extends Error {
  readonly code: VnfErrorCode;

  constructor(code: VnfErrorCode, message: string) {
    super(message);
    this.name = 'VnfError';
    this.code = code;
  }
}

/** Native status numbers (negative returns of hot-path calls) by code. */
export const STATUS: Readonly<Record<number, VnfErrorCode>> = {
  [-1]: 'VNF_INVALID_ARGUMENT',
  [-2]: 'VNF_CLOSED',
  [-3]: 'VNF_INDEX_RANGE',
  [-4]: 'VNF_DOUBLE_FREE',
  [-5]: 'VNF_NOT_ALLOCATED',
  [-6]: 'VNF_USE_AFTER_FREE',
  [-7]: 'VNF_BURST_CAPACITY',
  [-8]: 'VNF_BAD_HANDLE',
  [-9]: 'VNF_NO_MEMORY',
  [-10]: 'VNF_NO_HUGEPAGES',
  [-11]: 'VNF_SYSTEM',
  [-12]: 'VNF_POOL_OVERFLOW',
  [-13]: 'VNF_NO_DEVICE',
  [-14]: 'VNF_PERMISSION',
  [-15]: 'VNF_LINK_DOWN',
  [-16]: 'VNF_FRAME_SIZE',
  [-17]: 'VNF_PORT',
};
