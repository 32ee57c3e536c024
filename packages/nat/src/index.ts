/**
 * NAT44 for vnf-sdk appliances: a native translator shared by every worker (NAPT onto an
 * address pool with endpoint-independent mapping, configurable filtering, paired pooling,
 * port forwards, static 1:1 NAT, hairpinning, ICMP and fragments as RFC 4787/5382/5508
 * require, port block allocation with a log) and the pipeline stage. See docs/nat.md.
 * @module
 */
export { formatIpv4, parseEndpoint, parseIpv4, parseRange } from './address.js';
export type { NatConfig, NatForward, NatStatic } from './config.js';
export { toNativeOptions } from './config.js';
export { Nat, type NatEvent, type NatStats } from './nat.js';
export { NatStage, type NatStageOptions } from './stage.js';
