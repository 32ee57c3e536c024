/**
 * @vnf-sdk/ports: packet I/O for vnf-sdk. One {@link Port} interface over Linux
 * interfaces (AF_PACKET, AF_XDP, TAP), capture files, rings between pipelines, a traffic
 * generator and a null sink; bursts in, bursts out, one native call per burst.
 * @packageDocumentation
 */
export { checkPortId, JsPort, KernelPort, type Port, type PortStats, statsOf } from './port.js';
export { GeneratorPort, type GeneratorPortOptions } from './generator-port.js';
export { NullPort, type NullPortOptions } from './null-port.js';
export { PcapPort, type PcapPortOptions } from './pcap-port.js';
export { RingPort, type RingPortOptions, type SharedRingPort } from './ring-port.js';
export { AfPacketPort, type AfPacketOptions } from './af-packet.js';
export { ExceptionPath, type ExceptionPathOptions } from './exception-path.js';
export { TapPort, type TapOptions } from './tap.js';
export { AfXdpPort, type AfXdpPortOptions } from './af-xdp.js';
