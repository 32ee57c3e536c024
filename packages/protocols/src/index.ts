/**
 * @vnf-sdk/protocols: the packet knowledge stages and appliances need. A fast path that
 * parses bursts in place into a pool's metadata; accessors and writers at those offsets;
 * checksums; capture files.
 * @packageDocumentation
 */
export { malformed, PTYPE, Reason, type ReasonCode, reasonName, reasonOf } from './ptype.js';
export { BurstParser, MAX_CHAIN } from './parse.js';
export { PacketFields } from './fields.js';
export * from './checksum.js';
export * from './capture/index.js';
export {
  type ArpLayer,
  type CookedLayer,
  type DecodeError,
  type Decoded,
  decode,
  type EthernetLayer,
  findLayer,
  formatIpv4,
  formatIpv6,
  formatMac,
  type GeneveLayer,
  type GreLayer,
  type GtpuLayer,
  type IcmpLayer,
  type Ipv4Layer,
  type Ipv6ExtensionLayer,
  type Ipv6FragmentLayer,
  type Ipv6Layer,
  type Layer,
  type MplsLayer,
  type PayloadLayer,
  type PppLayer,
  type SctpLayer,
  type TcpLayer,
  type TcpOption,
  type UdpLayer,
  type VlanLayer,
  type VxlanLayer,
} from './decode.js';
export { FlowKeys } from './flow-keys.js';
export {
  type ArpSpec,
  build,
  crc32c,
  type EthernetSpec,
  type GeneveSpec,
  type GreSpec,
  type GtpuExtension,
  type GtpuSpec,
  type IcmpSpec,
  type Ipv4Spec,
  type Ipv6ExtensionSpec,
  type Ipv6FragmentSpec,
  type Ipv6Spec,
  type LayerSpec,
  type MplsSpec,
  type PayloadSpec,
  parseIpv4,
  parseIpv6,
  parseMac,
  type SctpSpec,
  type TcpSpec,
  type UdpSpec,
  type VlanSpec,
  type VxlanSpec,
} from './build.js';
export { arpReply, type IcmpErrorOptions, icmpError, icmpEchoReply, icmpv6Error, tcpRst } from './replies.js';
