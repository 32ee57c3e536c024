/**
 * @vnf-sdk/protocols: the packet knowledge stages and appliances need. A fast path that
 * parses bursts in place into a pool's metadata; accessors and writers at those offsets;
 * checksums; capture files.
 * @packageDocumentation
 */
export { malformed, PTYPE, Reason, type ReasonCode, reasonName, reasonOf } from './ptype.js';
export { BurstParser, MAX_CHAIN } from './parse.js';
export { PacketFields } from './fields.js';
