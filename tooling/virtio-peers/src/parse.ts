// Parsers of testpmd's output: `show port stats all`, the forward statistics `stop` prints,
// `show port info`, and the negotiated feature words its PMDs log. Tested without DPDK.

/** One port's block of `show port stats all`. */
export interface PortStats {
  port: number;
  rxPackets: number;
  rxMissed: number;
  rxBytes: number;
  rxErrors: number;
  rxNombuf: number;
  txPackets: number;
  txErrors: number;
  txBytes: number;
  /** "Throughput (since last show)": over the time since the previous `show port stats`. */
  rxPps: number;
  txPps: number;
  rxBps: number;
  txBps: number;
}

function num(block: string, label: string): number {
  const m = new RegExp(`${label.replace(/[-]/g, '\\-')}:\\s*(\\d+)`).exec(block);
  return m ? Number(m[1]) : 0;
}

/** Every port block of `show port stats all` in `text` (the last block per port wins). */
export function parsePortStats(text: string): PortStats[] {
  const byPort = new Map<number, PortStats>();
  const re = /#+ NIC statistics for port (\d+)\s+#+([\s\S]*?)#{20,}/g;
  for (let m = re.exec(text); m; m = re.exec(text)) {
    const b = m[2]!;
    byPort.set(Number(m[1]), {
      port: Number(m[1]),
      rxPackets: num(b, 'RX-packets'),
      rxMissed: num(b, 'RX-missed'),
      rxBytes: num(b, 'RX-bytes'),
      rxErrors: num(b, 'RX-errors'),
      rxNombuf: num(b, 'RX-nombuf'),
      txPackets: num(b, 'TX-packets'),
      txErrors: num(b, 'TX-errors'),
      txBytes: num(b, 'TX-bytes'),
      rxPps: num(b, 'Rx-pps'),
      txPps: num(b, 'Tx-pps'),
      rxBps: num(b, 'Rx-bps'),
      txBps: num(b, 'Tx-bps'),
    });
  }
  return [...byPort.values()].sort((a, b) => a.port - b.port);
}

/** The per-port forward statistics printed by `stop`. */
export interface ForwardStats {
  port: number;
  rxPackets: number;
  rxDropped: number;
  rxTotal: number;
  txPackets: number;
  /** Packets the forwarding engine could not enqueue (ring full): txonly counts its retries' losses here. */
  txDropped: number;
  txTotal: number;
}

/** The "Forward statistics for port N" blocks printed by `stop` (the last one per port wins). */
export function parseForwardStats(text: string): ForwardStats[] {
  const byPort = new Map<number, ForwardStats>();
  const re = /-+ Forward statistics for port (\d+)\s+-+([\s\S]*?)-{20,}/g;
  for (let m = re.exec(text); m; m = re.exec(text)) {
    const b = m[2]!;
    byPort.set(Number(m[1]), {
      port: Number(m[1]),
      rxPackets: num(b, 'RX-packets'),
      rxDropped: num(b, 'RX-dropped'),
      rxTotal: num(b, 'RX-total'),
      txPackets: num(b, 'TX-packets'),
      txDropped: num(b, 'TX-dropped'),
      txTotal: num(b, 'TX-total'),
    });
  }
  return [...byPort.values()].sort((a, b) => a.port - b.port);
}

/** `show port info N`: whether the link is up (null when the text has no link line). */
export function parseLinkStatus(text: string): boolean | null {
  const m = /Link status:\s*(up|down)/i.exec(text);
  return m ? m[1]!.toLowerCase() === 'up' : null;
}

/** Feature words a testpmd process logged while its device negotiated. */
export interface NegotiatedFeatures {
  /**
   * The virtio feature word in effect. vhost side (net_vhost): what the front-end wrote with
   * VHOST_USER_SET_FEATURES (includes bit 30, VHOST_USER_F_PROTOCOL_FEATURES). virtio_user
   * side: the features after negotiation between its PMD and the back-end.
   */
  features: bigint | null;
  /** vhost side: the vhost-user protocol features set (VHOST_USER_SET_PROTOCOL_FEATURES). */
  protocolFeatures: bigint | null;
  /** virtio_user side: what the back-end offered (VHOST_USER_GET_FEATURES, as the PMD saw it). */
  offered: bigint | null;
  /** virtio_user side: what its PMD wanted before negotiation. */
  wanted: bigint | null;
  /**
   * virtio_user side: the word it sent with VHOST_USER_SET_FEATURES (no STATUS: virtio_user
   * emulates it). Logged only with pmd.net.virtio.driver:debug, which --no-huge makes
   * unusable (a line per 4 KiB page): usually null; it is `features` without bit 16.
   */
  sent: bigint | null;
  /** virtio_user side: ring size per queue (`vq_size`). */
  queueSize: number | null;
  /** vhost side: "mergeable RX buffers on/off, virtio 1 on/off" as logged. */
  mergeable: boolean | null;
}

// The last value logged; zeros are skipped (virtio_user writes features 0 while closing).
function lastHex(text: string, re: RegExp): bigint | null {
  let v: bigint | null = null;
  const g = new RegExp(re.source, 'gi');
  for (let m = g.exec(text); m; m = g.exec(text)) {
    const x = BigInt(`0x${m[1]!.replace(/^0x/i, '')}`);
    if (x !== 0n) v = x;
  }
  return v;
}

/**
 * The negotiated features in a testpmd log. The vhost library prints them at INFO level
 * (lib.vhost.config); the virtio PMD's lines need `--log-level=pmd.net.virtio.init:debug`.
 */
export function parseNegotiatedFeatures(text: string): NegotiatedFeatures {
  const vhost = lastHex(text, /negotiated Virtio features: (0x[0-9a-f]+)/i);
  const afterNeg = lastHex(text, /features after negotiate = ([0-9a-f]+)/i);
  const mq = /mergeable RX buffers (on|off)/g;
  let mergeable: boolean | null = null;
  for (let m = mq.exec(text); m; m = mq.exec(text)) mergeable = m[1] === 'on';
  const vq = /vq_size: (\d+)/.exec(text);
  return {
    features: vhost ?? afterNeg,
    protocolFeatures: lastHex(text, /negotiated Vhost-user protocol features: (0x[0-9a-f]+)/i),
    offered: lastHex(text, /host_features before negotiate = ([0-9a-f]+)/i),
    wanted: lastHex(text, /guest_features before negotiate = ([0-9a-f]+)/i),
    sent: lastHex(text, /set features: (0x[0-9a-f]+)/i),
    queueSize: vq ? Number(vq[1]) : null,
    mergeable,
  };
}

// A line that may land in the middle of the prompt: a DPDK log line from another thread
// ("VHOST_CONFIG: ... ready for processing."), an event callback's "Port 0: ..." line, or a
// command's own complaint on stderr, which is unbuffered while stdout is line-buffered
// ("Error: TSO is not supported by port 0"). None starts with a character of the prompt.
const PROMPT_INTRUDER = String.raw`[A-Z][A-Za-z0-9_]*: [^\n]*\n|\r?\nPort \d+: [^\n]*\n`;

/**
 * testpmd's prompt, "testpmd> ", also when whole lines landed inside it (seen: "te" +
 * "VHOST_CONFIG: (...) virtio is now ready for processing.\n" + "stpmd> ", and "testpmd" +
 * "Error: TSO is not supported by port 0\n" + "> ").
 */
export const TESTPMD_PROMPT = new RegExp([...'testpmd> '].join(`(?:${PROMPT_INTRUDER})*`));

/** The lines that landed inside a match of {@link TESTPMD_PROMPT}, in order ("" if none). */
export function linesInsidePrompt(match: string): string {
  return match.match(new RegExp(PROMPT_INTRUDER, 'g'))?.join('') ?? '';
}
