/**
 * virtio-net for vnf-sdk appliances: {@link VirtioUserPort}, our virtio-net driver over
 * vhost-user (as DPDK's virtio_user), and {@link VhostUserPort}, our virtio-net device (a
 * vhost-user backend, as DPDK's net_vhost). See docs/virtio.md.
 * @module
 */
export { VirtioUserPort, type VirtioUserOptions } from './virtio-user.js';
export { VhostUserPort, VHOST_USER_FEATURES, type VhostUserFeature, type VhostUserOptions } from './vhost-user.js';
