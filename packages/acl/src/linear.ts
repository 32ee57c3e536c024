import type { AclRule, Prefix } from './rules.js';

/** The header fields a rule looks at, for one packet. */
export interface PacketKey {
  /** 4 or 16 address bytes. */
  src: Uint8Array;
  dst: Uint8Array;
  /**
   * TCP, UDP or SCTP ports; for ICMP and ICMPv6 the type and the code, as rte_acl keys them
   * (so a port range without a protocol applies to ICMP too); 0 for packets without either.
   */
  srcPort: number;
  dstPort: number;
  protocol: number;
  tcpFlags?: number;
  icmpType?: number;
  icmpCode?: number;
  vlan?: number;
  inPort?: number;
}

function inPrefix(p: Prefix | undefined, addr: Uint8Array): boolean {
  if (!p) return true;
  if (addr.length !== p.bytes.length) return false;
  const full = p.length >> 3;
  for (let i = 0; i < full; i++) if (addr[i] !== p.bytes[i]) return false;
  const rest = p.length & 7;
  if (rest === 0) return true;
  const mask = (0xff << (8 - rest)) & 0xff;
  return (addr[full] & mask) === p.bytes[full];
}

/** Does the rule match the packet? (The definition every classifier is tested against.) */
export function ruleMatches(r: AclRule, k: PacketKey): boolean {
  return (
    inPrefix(r.src, k.src) &&
    inPrefix(r.dst, k.dst) &&
    (!r.srcPort || (k.srcPort >= r.srcPort.lo && k.srcPort <= r.srcPort.hi)) &&
    (!r.dstPort || (k.dstPort >= r.dstPort.lo && k.dstPort <= r.dstPort.hi)) &&
    (!r.protocol || (k.protocol & r.protocol.mask) === r.protocol.value) &&
    (!r.tcpFlags || ((k.tcpFlags ?? 0) & r.tcpFlags.mask) === r.tcpFlags.value) &&
    (r.icmpType === undefined || k.icmpType === r.icmpType) &&
    (r.icmpCode === undefined || k.icmpCode === r.icmpCode) &&
    (r.vlan === undefined || k.vlan === r.vlan) &&
    (r.inPort === undefined || k.inPort === r.inPort)
  );
}

/**
 * The index of the rule that decides for the packet: highest priority first, then the
 * earliest; -1 when none matches. Linear: the reference, not the data path.
 */
export function firstMatch(rules: readonly AclRule[], k: PacketKey): number {
  let best = -1;
  let bestPriority = Number.NEGATIVE_INFINITY;
  for (let i = 0; i < rules.length; i++) {
    const p = rules[i].priority ?? 0;
    if (p > bestPriority && ruleMatches(rules[i], k)) {
      best = i;
      bestPriority = p;
    }
  }
  return best;
}
