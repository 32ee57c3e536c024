// Forwarding rate through rt, measured on the hosts' interfaces while someone else's
// generator runs (iperf3, udpFlood, tcpreplay, later an AF_XDP generator port).
import type { Role, Topology } from './topology.js';

/** One interface of the topology. */
export interface IfRef {
  ns: Role;
  ifname: string;
}

/** Options of {@link forwardingRate}. */
export interface ForwardingRateOptions {
  /** Length of the measuring window. Default 1. */
  seconds?: number;
  /** Where packets are sent: default h1 eth0 (its tx_packets). */
  tx?: IfRef;
  /** Where forwarded packets arrive: default h2 eth0 (its rx_packets). */
  rx?: IfRef;
}

/** Packets per second sent into and received out of the router over one window. */
export interface ForwardingRate {
  txPps: number;
  rxPps: number;
  /** Packets counted in the window. */
  txPackets: number;
  rxPackets: number;
  /** The window's real length (between the two pairs of counter reads). */
  seconds: number;
}

/**
 * Samples h1 eth0 tx_packets and h2 eth0 rx_packets before and after a window of `seconds`
 * and returns both rates. Start the generator first (and let it ramp up); the window sees
 * whatever crosses the interfaces, ARP included, so run it on a quiet topology.
 * `rxPps / txPps` below 1 means the router (or the receiver) dropped.
 */
export async function forwardingRate(topo: Topology, opts: ForwardingRateOptions = {}): Promise<ForwardingRate> {
  const tx = opts.tx ?? { ns: 'h1', ifname: 'eth0' };
  const rx = opts.rx ?? { ns: 'h2', ifname: 'eth0' };
  const seconds = opts.seconds ?? 1;
  // Synchronous /proc reads, microseconds apart: two `ip` processes would be milliseconds
  // apart, thousands of packets at the rates measured here.
  const read = () => [topo.ifStatsSync(tx.ns, tx.ifname), topo.ifStatsSync(rx.ns, rx.ifname)] as const;
  const [tx0, rx0] = read();
  const t0 = process.hrtime.bigint();
  await new Promise((r) => setTimeout(r, seconds * 1000));
  const [tx1, rx1] = read();
  const elapsed = Number(process.hrtime.bigint() - t0) / 1e9;
  const txPackets = tx1.txPackets - tx0.txPackets;
  const rxPackets = rx1.rxPackets - rx0.rxPackets;
  return { txPps: txPackets / elapsed, rxPps: rxPackets / elapsed, txPackets, rxPackets, seconds: elapsed };
}
