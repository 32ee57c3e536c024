// @vnf-sdk/virtio-peers: real virtio / vhost-user peers for vnf-sdk's interop tests.
export * from './features.js';
export * from './parse.js';
export {
  exited,
  hasTool,
  livePeers,
  OutputLog,
  PeerError,
  removePaths,
  terminate,
  waitExit,
  whichTool,
} from './proc.js';
export * from './testpmd.js';
export * from './guest-image.js';
export * from './qemu.js';
