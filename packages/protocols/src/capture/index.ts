/**
 * Capture files: a streaming reader of pcap and pcapng, a buffered pcap writer, and the
 * link-type numbers they carry.
 * @packageDocumentation
 */
export { LINKTYPE, type LinkType } from './linktype.js';
export { type CapturedPacket, CaptureReader, type CaptureReaderOptions, MAX_CAPTURED_LENGTH } from './reader.js';
export { CaptureWriter, type CaptureWriterOptions } from './writer.js';
