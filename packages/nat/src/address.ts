/**
 * IPv4 addresses as numbers (host order) and the text forms configs use.
 * @module
 */

const OCTET = /^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)$/;

/** '192.0.2.1' -> 0xc0000201, or null when it is not a dotted-quad IPv4 address. */
export function parseIpv4(text: string): number | null {
  const parts = text.split('.');
  if (parts.length !== 4 || !parts.every((p) => OCTET.test(p))) return null;
  return parts.reduce((a, p) => a * 256 + Number(p), 0);
}

/** 0xc0000201 -> '192.0.2.1'. */
export function formatIpv4(a: number): string {
  return `${a >>> 24}.${(a >>> 16) & 255}.${(a >>> 8) & 255}.${a & 255}`;
}

/**
 * 'a.b.c.d/len' (every address of the prefix), 'a.b.c.d-e.f.g.h' (an inclusive range) or
 * 'a.b.c.d' -> [first, last], or a message saying what is wrong.
 */
export function parseRange(text: string): [number, number] | string {
  if (text.includes('/')) {
    const [addr, lenText] = text.split('/');
    const a = parseIpv4(addr);
    const len = Number(lenText);
    if (a === null) return `'${addr}' is not an IPv4 address`;
    if (!/^\d+$/.test(lenText) || len > 32) return `'/${lenText}' is not a prefix length (0-32)`;
    const size = 2 ** (32 - len);
    const first = a - (a % size);
    if (first !== a) return `'${text}' has host bits set (the prefix is ${formatIpv4(first)}/${len})`;
    return [first, first + size - 1];
  }
  if (text.includes('-')) {
    const [from, to] = text.split('-');
    const a = parseIpv4(from);
    const b = parseIpv4(to);
    if (a === null) return `'${from}' is not an IPv4 address`;
    if (b === null) return `'${to}' is not an IPv4 address`;
    if (a > b) return `the range starts after it ends (${from} > ${to})`;
    return [a, b];
  }
  const a = parseIpv4(text);
  return a === null ? `'${text}' is not an IPv4 address, prefix or range` : [a, a];
}

/** 'a.b.c.d:port' -> [address, port], or a message. */
export function parseEndpoint(text: string): [number, number] | string {
  const i = text.lastIndexOf(':');
  if (i < 0) return `'${text}' is not address:port`;
  const a = parseIpv4(text.slice(0, i));
  const portText = text.slice(i + 1);
  const port = Number(portText);
  if (a === null) return `'${text.slice(0, i)}' is not an IPv4 address`;
  if (!/^\d+$/.test(portText) || port < 1 || port > 65535) return `port '${portText}' is outside 1-65535`;
  return [a, port];
}
