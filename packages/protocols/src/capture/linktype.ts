/**
 * Link-layer header types (`LINKTYPE_*`) used in pcap and pcapng files, as listed by
 * tcpdump.org (https://www.tcpdump.org/linktypes.html). They are the file-format values,
 * not the platform-dependent `DLT_*` values of the libpcap API (e.g. `DLT_RAW` is 12 or 14
 * depending on the OS, while the file value `LINKTYPE_RAW` is always 101).
 */
export const LINKTYPE = {
  /** BSD loopback: a 4-byte protocol family in the capturing host's byte order. */
  NULL: 0,
  /** IEEE 802.3 Ethernet. */
  ETHERNET: 1,
  /** Raw IP; the first nibble says IPv4 or IPv6. */
  RAW: 101,
  /** Linux "cooked" capture, version 1 (16-byte header). */
  LINUX_SLL: 113,
  /** Raw IPv4 only. */
  IPV4: 228,
  /** Raw IPv6 only. */
  IPV6: 229,
  /** Linux "cooked" capture, version 2 (20-byte header, carries the interface index). */
  LINUX_SLL2: 276,
} as const;

/** One of the {@link LINKTYPE} values (files may carry others; they are plain numbers). */
export type LinkType = (typeof LINKTYPE)[keyof typeof LINKTYPE];
