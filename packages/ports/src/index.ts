/**
 * @vnf-sdk/ports: packet I/O for vnf-sdk. One {@link Port} interface over Linux
 * interfaces (AF_PACKET, AF_XDP, TAP), capture files, rings between pipelines, a traffic
 * generator and a null sink; bursts in, bursts out, one native call per burst.
 * @packageDocumentation
 */
export { checkPortId, JsPort, KernelPort, type Port, type PortStats, statsOf } from './port.js';
export { AfXdpPort, type AfXdpPortOptions } from './af-xdp.js';
