// Names of virtio-net feature bits and vhost-user protocol feature bits, to report what a
// peer negotiated in words (the numbers are what the logs print).

/** virtio-net and transport feature bits (virtio 1.2, Linux's virtio_net.h / virtio_config.h). */
export const VIRTIO_NET_FEATURES: Readonly<Record<number, string>> = {
  0: 'CSUM',
  1: 'GUEST_CSUM',
  2: 'CTRL_GUEST_OFFLOADS',
  3: 'MTU',
  5: 'MAC',
  6: 'GSO',
  7: 'GUEST_TSO4',
  8: 'GUEST_TSO6',
  9: 'GUEST_ECN',
  10: 'GUEST_UFO',
  11: 'HOST_TSO4',
  12: 'HOST_TSO6',
  13: 'HOST_ECN',
  14: 'HOST_UFO',
  15: 'MRG_RXBUF',
  16: 'STATUS',
  17: 'CTRL_VQ',
  18: 'CTRL_RX',
  19: 'CTRL_VLAN',
  20: 'CTRL_RX_EXTRA',
  21: 'GUEST_ANNOUNCE',
  22: 'MQ',
  23: 'CTRL_MAC_ADDR',
  24: 'NOTIFY_ON_EMPTY',
  27: 'ANY_LAYOUT',
  28: 'RING_INDIRECT_DESC',
  29: 'RING_EVENT_IDX',
  30: 'VHOST_USER_PROTOCOL_FEATURES',
  32: 'VERSION_1',
  33: 'ACCESS_PLATFORM',
  34: 'RING_PACKED',
  35: 'IN_ORDER',
  36: 'ORDER_PLATFORM',
  37: 'SR_IOV',
  38: 'NOTIFICATION_DATA',
  39: 'NOTIF_CONFIG_DATA',
  40: 'RING_RESET',
  57: 'HASH_REPORT',
  60: 'RSS',
  61: 'RSC_EXT',
  62: 'STANDBY',
  63: 'SPEED_DUPLEX',
};

/** vhost-user protocol feature bits (VHOST_USER_PROTOCOL_F_*). */
export const VHOST_USER_PROTOCOL_FEATURES: Readonly<Record<number, string>> = {
  0: 'MQ',
  1: 'LOG_SHMFD',
  2: 'RARP',
  3: 'REPLY_ACK',
  4: 'NET_MTU',
  5: 'BACKEND_REQ',
  6: 'CROSS_ENDIAN',
  7: 'CRYPTO_SESSION',
  8: 'PAGEFAULT',
  9: 'CONFIG',
  10: 'BACKEND_SEND_FD',
  11: 'HOST_NOTIFIER',
  12: 'INFLIGHT_SHMFD',
  13: 'RESET_DEVICE',
  14: 'INBAND_NOTIFICATIONS',
  15: 'CONFIGURE_MEM_SLOTS',
  16: 'STATUS',
};

/** The names of the bits set in `bits` (unknown bits as `bit<N>`), lowest bit first. */
export function featureNames(bits: bigint, table: Readonly<Record<number, string>> = VIRTIO_NET_FEATURES): string[] {
  const out: string[] = [];
  for (let i = 0; i < 64; i++) {
    if ((bits >> BigInt(i)) & 1n) out.push(table[i] ?? `bit${i}`);
  }
  return out;
}

/** Whether bit `bit` is set in `bits`. */
export function hasFeature(bits: bigint, bit: number): boolean {
  return ((bits >> BigInt(bit)) & 1n) === 1n;
}

/** Bit numbers by name, for `hasFeature(bits, VIRTIO_NET_F.MRG_RXBUF)`. */
export const VIRTIO_NET_F: Readonly<Record<string, number>> = Object.fromEntries(
  Object.entries(VIRTIO_NET_FEATURES).map(([bit, name]) => [name, Number(bit)]),
);

/**
 * Linux's `/sys/class/net/<if>/device/features`: one '0'/'1' per bit, bit 0 first (64
 * characters). Returns the bits as a number.
 */
export function parseSysfsFeatures(text: string): bigint {
  const s = text.trim();
  if (!/^[01]+$/.test(s)) throw new Error(`not a virtio features bit string: ${JSON.stringify(text)}`);
  let bits = 0n;
  for (let i = 0; i < s.length; i++) if (s[i] === '1') bits |= 1n << BigInt(i);
  return bits;
}

/** `0x...` hex of a feature word. */
export function hex(bits: bigint): string {
  return `0x${bits.toString(16)}`;
}
