// Parsers of the tools' output, kept apart from the code that runs them so they are tested
// without root.

/** Result of `ping`: counts from the summary line, TTLs and round trips from the replies. */
export interface PingResult {
  transmitted: number;
  received: number;
  /** Packet loss in percent, as ping prints it (0 to 100). */
  lossPercent: number;
  /** TTL of the first reply, undefined when nothing answered. */
  ttl: number | undefined;
  /** TTL of every reply, in order. */
  ttls: number[];
  /** Average round trip in milliseconds, undefined when nothing answered. */
  rttAvgMs: number | undefined;
  /** ping's whole output. */
  output: string;
}

/** Parses the output of iputils `ping -n`. Throws when there is no summary line. */
export function parsePing(output: string): PingResult {
  const summary = /(\d+) packets transmitted, (\d+) received,.*?([\d.]+)% packet loss/.exec(output);
  if (!summary) throw new Error(`ping printed no summary line: ${output.trim().slice(-500)}`);
  const ttls = [...output.matchAll(/ bytes from .*?ttl=(\d+)/g)].map((m) => Number(m[1]));
  const rtt = /rtt min\/avg\/max\/mdev = [\d.]+\/([\d.]+)\//.exec(output);
  return {
    transmitted: Number(summary[1]),
    received: Number(summary[2]),
    lossPercent: Number(summary[3]),
    ttl: ttls[0],
    ttls,
    rttAvgMs: rtt ? Number(rtt[1]) : undefined,
    output,
  };
}

/** Result of an iperf3 run, from the client's `--json` report. */
export interface Iperf3Result {
  protocol: 'tcp' | 'udp';
  seconds: number;
  /** What the receiver got, in bits per second (for UDP: the packets that arrived). */
  bitsPerSecond: number;
  /** What the sender sent, in bits per second. */
  sentBitsPerSecond: number;
  bytes: number;
  /** TCP: retransmitted segments (sender side); 0 for UDP. */
  retransmits: number;
  /** UDP: datagrams sent; 0 for TCP. */
  packets: number;
  /**
   * UDP: datagrams the receiving iperf3 did not get, by sequence numbers. This counts drops
   * anywhere, including the receiving socket's buffer when the server cannot keep up with a
   * small-packet flood, not only the path. 0 for TCP.
   */
  lostPackets: number;
  lostPercent: number;
  /** The whole parsed report. */
  raw: unknown;
}

// biome-ignore lint/suspicious/noExplicitAny: the report is untyped JSON
type Json = any;

/** Parses `iperf3 -c ... --json` output (iperf 3.9 or later). Throws on an `error` report. */
export function parseIperf3(json: string): Iperf3Result {
  let d: Json;
  try {
    d = JSON.parse(json);
  } catch {
    throw new Error(`iperf3 did not print JSON: ${json.trim().slice(0, 500)}`);
  }
  if (d.error) throw new Error(`iperf3: ${d.error}`);
  const end = d.end ?? {};
  const udp = d.start?.test_start?.protocol === 'UDP' || (end.sum && 'lost_packets' in end.sum);
  if (udp) {
    const sent = end.sum_sent ?? end.sum;
    const recv = end.sum_received ?? end.sum;
    return {
      protocol: 'udp',
      seconds: sent.seconds,
      bitsPerSecond: recv.bits_per_second,
      sentBitsPerSecond: sent.bits_per_second,
      bytes: recv.bytes,
      retransmits: 0,
      packets: sent.packets,
      lostPackets: recv.lost_packets ?? 0,
      lostPercent: recv.lost_percent ?? 0,
      raw: d,
    };
  }
  const sent = end.sum_sent;
  const recv = end.sum_received;
  if (!sent || !recv) throw new Error('iperf3 report has no end.sum_sent / end.sum_received');
  return {
    protocol: 'tcp',
    seconds: recv.seconds,
    bitsPerSecond: recv.bits_per_second,
    sentBitsPerSecond: sent.bits_per_second,
    bytes: recv.bytes,
    retransmits: sent.retransmits ?? 0,
    packets: 0,
    lostPackets: 0,
    lostPercent: 0,
    raw: d,
  };
}

/** Counters of one interface, from the kernel's 64-bit link statistics. */
export interface IfStats {
  rxPackets: number;
  rxBytes: number;
  rxDropped: number;
  rxErrors: number;
  txPackets: number;
  txBytes: number;
  txDropped: number;
  txErrors: number;
}

/** Parses `ip -s -j link show dev IF`. */
export function parseLinkStats(json: string): IfStats {
  const [link] = JSON.parse(json) as Json[];
  const s = link?.stats64 ?? link?.stats;
  if (!s) throw new Error('ip -s -j link printed no statistics');
  return {
    rxPackets: s.rx.packets,
    rxBytes: s.rx.bytes,
    rxDropped: s.rx.dropped,
    rxErrors: s.rx.errors,
    txPackets: s.tx.packets,
    txBytes: s.tx.bytes,
    txDropped: s.tx.dropped,
    txErrors: s.tx.errors,
  };
}

/**
 * Reads one interface's counters from a /proc/net/dev table (per network namespace: the
 * table of /proc/PID/net/dev is the one of PID's namespace). Throws when it is absent.
 */
export function parseProcNetDev(text: string, ifname: string): IfStats {
  for (const line of text.split('\n')) {
    const colon = line.indexOf(':');
    if (colon < 0 || line.slice(0, colon).trim() !== ifname) continue;
    const f = line
      .slice(colon + 1)
      .trim()
      .split(/\s+/)
      .map(Number);
    // rx: bytes packets errs drop fifo frame compressed multicast | tx: bytes packets errs drop ...
    return {
      rxBytes: f[0]!,
      rxPackets: f[1]!,
      rxErrors: f[2]!,
      rxDropped: f[3]!,
      txBytes: f[8]!,
      txPackets: f[9]!,
      txErrors: f[10]!,
      txDropped: f[11]!,
    };
  }
  throw new Error(`no interface ${ifname} in /proc/net/dev`);
}

/** State and addresses of one interface. */
export interface LinkInfo {
  ifname: string;
  /** Administratively up (the UP flag). */
  up: boolean;
  /** Carrier present (LOWER_UP): for a veth, the peer is up too. */
  lowerUp: boolean;
  operstate: string;
  promisc: boolean;
  mtu: number;
  mac: string;
  /** IPv4 addresses as `a.b.c.d/len`. */
  ipv4: string[];
  /** IPv6 addresses as `addr/len`. */
  ipv6: string[];
}

/** Parses `ip -j addr show dev IF`. */
export function parseLinkInfo(json: string): LinkInfo {
  const [l] = JSON.parse(json) as Json[];
  if (!l) throw new Error('ip -j addr printed no interface');
  const flags: string[] = l.flags ?? [];
  const addrs: Json[] = l.addr_info ?? [];
  const fmt = (a: Json) => `${a.local}/${a.prefixlen}`;
  return {
    ifname: l.ifname,
    up: flags.includes('UP'),
    lowerUp: flags.includes('LOWER_UP'),
    operstate: l.operstate,
    promisc: flags.includes('PROMISC'),
    mtu: l.mtu,
    mac: l.address,
    ipv4: addrs.filter((a) => a.family === 'inet').map(fmt),
    ipv6: addrs.filter((a) => a.family === 'inet6').map(fmt),
  };
}

/** Names from `ip netns list` (lines like `name (id: 3)` or `name`). */
export function parseNetnsList(output: string): string[] {
  return output
    .split('\n')
    .map((l) => l.trim().split(/\s+/)[0] ?? '')
    .filter((n) => n.length > 0);
}
