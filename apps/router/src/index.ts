/**
 * @vnf-sdk/app-router: a small IPv4 router built from the public vnf-sdk packages. The
 * stages (`input`, `arp`, `ip4`) share a {@link Router}; the pipeline runtime runs them.
 * @packageDocumentation
 */
export { DEFAULTS, type IcmpConfig, loadConfig, type NeighbourConfig, parseConfig, type PortConfig, type PortDriver, type RouteConfig, type RouterConfig, type StaticNeighbour } from './config.js';
export { ipv4ToNumber, LPM_MISS, Lpm, type LpmOptions, type LpmRoute, MAX_NEXT_HOP, maskOf, numberToIpv4 } from './lpm.js';
export { ARP_FRAME_LENGTH, Hold, type NeighbourCounters, type NeighbourEntry, NeighbourState, NeighbourTable, type NeighbourTableOptions, type NeighbourTimers, writeArpRequest } from './neighbours.js';
export { TokenBucket } from './rate-limit.js';
export { Router, type RouterOptions, STAGES } from './router.js';
export { ArpStage } from './stages/arp.js';
export { InputStage, malformedReason } from './stages/input.js';
export { Ip4Stage } from './stages/ip4.js';
