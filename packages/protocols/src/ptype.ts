/**
 * Packet type bits written by {@link parseBurst} into a pool's `meta.ptype`, one u32 per
 * packet, as DPDK's `RTE_PTYPE_*`. The low 24 bits say what was found; a malformed packet
 * has {@link PTYPE.MALFORMED} set and a {@link Reason} in bits 24-30.
 */
export const PTYPE = {
  ETHER: 1 << 0,
  VLAN: 1 << 1,
  /** Two or more VLAN tags (802.1ad QinQ or stacked 802.1Q). */
  QINQ: 1 << 2,
  ARP: 1 << 3,
  MPLS: 1 << 4,
  IPV4: 1 << 5,
  IPV6: 1 << 6,
  /** IPv4 with options, or IPv6 with extension headers. */
  IP_EXT: 1 << 7,
  /** A fragment: first (offset 0, more fragments) or later; l4 is set only for the first. */
  FRAG: 1 << 8,
  TCP: 1 << 9,
  UDP: 1 << 10,
  ICMP: 1 << 11,
  ICMPV6: 1 << 12,
  SCTP: 1 << 13,
  GRE: 1 << 14,
  VXLAN: 1 << 15,
  GTPU: 1 << 16,
  /** The tunnel carries Ethernet (VXLAN, GRE TEB): innerL2Off is valid. */
  INNER_ETHER: 1 << 17,
  INNER_IPV4: 1 << 18,
  INNER_IPV6: 1 << 19,
  INNER_TCP: 1 << 20,
  INNER_UDP: 1 << 21,
  INNER_ICMP: 1 << 22,
  /** Set with a reason code in bits 24-30: the packet must be dropped. */
  MALFORMED: 1 << 31,
} as const;

/** Why a packet is malformed: bits 24-30 of its ptype. 0 means it is not. */
export const Reason = {
  NONE: 0,
  TRUNCATED_L2: 1,
  TRUNCATED_VLAN: 2,
  TRUNCATED_MPLS: 3,
  TRUNCATED_ARP: 4,
  TRUNCATED_IPV4: 5,
  BAD_IP_VERSION: 6,
  BAD_IHL: 7,
  BAD_TOTAL_LENGTH: 8,
  TRUNCATED_IPV6: 9,
  BAD_PAYLOAD_LENGTH: 10,
  TRUNCATED_EXT_HEADER: 11,
  HEADER_CHAIN_TOO_LONG: 12,
  TRUNCATED_TCP: 13,
  BAD_TCP_OFFSET: 14,
  TRUNCATED_UDP: 15,
  BAD_UDP_LENGTH: 16,
  TRUNCATED_ICMP: 17,
  TRUNCATED_SCTP: 18,
  TRUNCATED_GRE: 19,
  TRUNCATED_TUNNEL: 20,
  TRUNCATED_INNER: 21,
  TOO_MANY_TAGS: 22,
} as const;

export type ReasonCode = (typeof Reason)[keyof typeof Reason];

const REASON_NAMES: string[] = [];
for (const [name, code] of Object.entries(Reason)) REASON_NAMES[code] = name.toLowerCase().replace(/_/g, ' ');

/** The reason code of a ptype (0 when the packet is not malformed). */
export function reasonOf(ptype: number): ReasonCode {
  return ((ptype >>> 24) & 0x7f) as ReasonCode;
}

/** A readable name for a reason code, e.g. "bad ihl". */
export function reasonName(code: number): string {
  return REASON_NAMES[code] ?? `reason ${code}`;
}

/** The ptype of a malformed packet with that reason. */
export function malformed(reason: ReasonCode): number {
  return (PTYPE.MALFORMED | (reason << 24)) >>> 0;
}
