import { STATUS, VnfError } from './errors.js';
import { native } from './native.js';

/**
 * The error of a negative status from a reader's hot call (ACL classify, conntrack
 * process): says what was wrong with the burst or the reader, naming `what` failed.
 */
export function readerStatusError(status: number, what: string): VnfError {
  const code = STATUS[status] ?? 'VNF_INVALID_ARGUMENT';
  if (code === 'VNF_INDEX_RANGE') {
    return new VnfError(code, `${what}: buffer index ${native.scratch[1]} at burst position ${native.scratch[2]} is not a buffer of the reader's pool`);
  }
  if (code === 'VNF_BAD_HANDLE') return new VnfError(code, `${what}: the burst was not created on this thread`);
  if (code === 'VNF_BURST_CAPACITY') return new VnfError(code, `${what}: the burst is larger than the reader's capacity`);
  if (code === 'VNF_CLOSED') return new VnfError(code, `${what}: the reader or its pool is closed`);
  return new VnfError(code, `${what} failed with ${code}`);
}
