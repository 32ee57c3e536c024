// Reading captures back with tshark (on the host: a file needs no namespace).
import { run } from './run.js';

/** Options of {@link pcapFields}. */
export interface PcapFieldsOptions {
  /** A display filter (`-Y`), e.g. `udp.dstport == 9`. */
  displayFilter?: string;
  /**
   * Validate IPv4, UDP, TCP and ICMP checksums (tshark's preferences are off by default), so
   * `ip.checksum.status`, `udp.checksum.status`, `tcp.checksum.status` read 1 (good) or 0 (bad).
   * Default true.
   */
  checkChecksums?: boolean;
}

/** tshark's checksum status values. */
export const CHECKSUM_STATUS = { bad: '0', good: '1', unverified: '2' } as const;

/**
 * The given tshark fields of every packet in a pcap file, one row per packet (absent fields
 * are empty strings), e.g. `pcapFields(path, ['ip.ttl', 'ip.checksum.status'])`.
 */
export async function pcapFields(path: string, fields: readonly string[], opts: PcapFieldsOptions = {}): Promise<string[][]> {
  const args = ['-r', path, '-n', '-T', 'fields', '-E', 'separator=\t', '-E', 'occurrence=f'];
  if (opts.checkChecksums ?? true) {
    for (const proto of ['ip', 'udp', 'tcp']) args.push('-o', `${proto}.check_checksum:TRUE`);
  }
  if (opts.displayFilter) args.push('-Y', opts.displayFilter);
  for (const f of fields) args.push('-e', f);
  const { stdout } = await run('tshark', args);
  return stdout
    .split('\n')
    .filter((l) => l.length > 0)
    .map((l) => l.split('\t'));
}
