/**
 * @vnf-sdk/core: packet memory for vnf-sdk. Mempools of fixed-size buffers in one shared
 * region, lock-free rings of buffer indices, and bursts: the units every other package
 * moves packets in.
 * @packageDocumentation
 */
export { Burst, MAX_BURST } from './burst.js';
export { type VnfErrorCode, VnfError } from './errors.js';
export {
  Mempool,
  type MempoolOptions,
  type MempoolRegion,
  type MempoolStats,
  NO_BUFFER,
  NO_PORT,
  type PacketMetadata,
  type SharedMempool,
} from './mempool.js';
export {
  ACL_RECORD_WORDS,
  ACL_VERDICTS,
  type AclLoadOptions,
  AclRecord,
  type AclSetStats,
  AclVerdict,
  NativeAclReader,
  NativeAclTable,
} from './native-acl.js';
export {
  CONNTRACK_RESULTS,
  ConntrackResult,
  type ConntrackStats,
  type ConntrackTableOptions,
  type ConntrackTimeouts,
  NativeConntrackReader,
  NativeConntrackTable,
} from './native-conntrack.js';
export {
  NAT_ACTIONS,
  NatAction,
  NativeNat,
  type NativeNatEvent,
  type NativeNatOptions,
  NativeNatReader,
  type NativeNatStats,
} from './native-nat.js';
export { NativePort, type NativePortKind, PORT_COUNTERS, PortCounter, waitReadable } from './native-port.js';
export { nativeCandidates, type NativePortInfo } from './native.js';
export { Ring, type RingOptions, type SharedRing } from './ring.js';

import { native } from './native.js';

/**
 * Calls a native function that does nothing: what one crossing of the JS/native boundary
 * costs, for benchmarks.
 */
export function nativeNoop(): void {
  native.noop();
}
