/**
 * virtio-net for vnf-sdk appliances: {@link VirtioUserPort}, our virtio-net driver over
 * vhost-user (as DPDK's virtio_user). See docs/virtio.md.
 * @module
 */
export { VirtioUserPort, type VirtioUserOptions } from './virtio-user.js';
