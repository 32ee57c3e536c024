// @vnf-sdk/netns: the network-namespace harness of vnf-sdk's tests and benchmarks.
export {
  DEFAULT_PREFIX,
  deleteNetnsSync,
  listNetns,
  parseNsName,
  pidAlive,
  sweepStale,
} from './cleanup.js';
export { type ForwardingRate, type ForwardingRateOptions, forwardingRate, type IfRef } from './forwarding.js';
export {
  type IfStats,
  type Iperf3Result,
  type LinkInfo,
  type PingResult,
  parseIperf3,
  parseLinkInfo,
  parseLinkStats,
  parseNetnsList,
  parsePing,
  parseProcNetDev,
} from './parse.js';
export { CHECKSUM_STATUS, type PcapFieldsOptions, pcapFields } from './pcap.js';
export {
  BASE_TOOLS,
  CommandError,
  type ExecOptions,
  type ExecResult,
  hasTool,
  netnsUnavailable,
  run,
  TOOL_PACKAGES,
} from './run.js';
export {
  ADDRS,
  ADDRS6,
  type Capture,
  type CaptureOptions,
  disableOffloads,
  IFNAMES,
  type Iperf3Options,
  MACS,
  ROLES,
  type Role,
  type RouterMode,
  Topology,
  type TopologyOptions,
  type UdpFloodOptions,
  type UdpFloodResult,
  type Wiring,
  waitForOutput,
} from './topology.js';

// The exit-time teardown registry, shared with the other test harnesses (virtio-peers).
export { type SyncDisposable, track, trackedCount, untrack } from './cleanup.js';
