import { VnfError } from '@vnf-sdk/core';

/** What a matching rule does to a packet. */
export type AclAction = 'permit' | 'deny' | 'reject' | 'count' | 'mark' | 'permit-and-track';

/** An address prefix: 4 (IPv4) or 16 (IPv6) address bytes and a prefix length. */
export interface Prefix {
  version: 4 | 6;
  /** Address bytes, host bits cleared. */
  bytes: Uint8Array;
  length: number;
}

/** An inclusive range of 16-bit values (ports). */
export interface Range {
  lo: number;
  hi: number;
}

/** A value under a mask: matches when `(field & mask) === value`. */
export interface Masked {
  value: number;
  mask: number;
}

/**
 * One ACL rule, every field optional (absent = any). Rules are matched first by `priority`
 * (higher first), then by order: the first matching rule decides.
 */
export interface AclRule {
  action: AclAction;
  src?: Prefix;
  dst?: Prefix;
  srcPort?: Range;
  dstPort?: Range;
  /** IP protocol under a mask (0xff exact, 0 any). */
  protocol?: Masked;
  /** TCP flags under a mask. */
  tcpFlags?: Masked;
  icmpType?: number;
  icmpCode?: number;
  vlan?: number;
  /** Input port or zone id (the pool's `meta.port`). */
  inPort?: number;
  priority?: number;
  /** For action 'mark': the value written into `meta.mark`. */
  mark?: number;
  /** Where the rule came from ('rules.txt:12'), for messages and counters. */
  origin?: string;
}

function bad(where: string, message: string): VnfError {
  return new VnfError('VNF_CONFIG', `${where}: ${message}`);
}

/** Parses 'a.b.c.d/len' or an IPv6 prefix; host bits are cleared. */
export function parsePrefix(text: string, where: string): Prefix {
  const slash = text.indexOf('/');
  const addr = slash < 0 ? text : text.slice(0, slash);
  const lenText = slash < 0 ? undefined : text.slice(slash + 1);
  let bytes: Uint8Array | null;
  let version: 4 | 6;
  if (addr.includes(':')) {
    version = 6;
    bytes = parseIpv6(addr);
  } else {
    version = 4;
    bytes = parseIpv4(addr);
  }
  if (!bytes) throw bad(where, `'${text}' is not an IPv${version} address or prefix`);
  const max = version === 4 ? 32 : 128;
  const length = lenText === undefined ? max : Number(lenText);
  if (!/^\d+$/.test(lenText ?? String(max)) || length > max) {
    throw bad(where, `prefix length in '${text}' must be 0 to ${max}`);
  }
  for (let bit = length; bit < max; bit++) bytes[bit >> 3] &= ~(0x80 >> (bit & 7));
  return { version, bytes, length };
}

function parseIpv4(s: string): Uint8Array | null {
  const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(s);
  if (!m) return null;
  const b = m.slice(1).map(Number);
  return b.every((x) => x <= 255) ? Uint8Array.from(b) : null;
}

function parseIpv6(s: string): Uint8Array | null {
  const halves = s.split('::');
  if (halves.length > 2) return null;
  const part = (h: string) => (h === '' ? [] : h.split(':'));
  const head = part(halves[0]);
  const tail = halves.length === 2 ? part(halves[1]) : [];
  const fill = 8 - head.length - tail.length;
  if ((halves.length === 1 && fill !== 0) || fill < 0) return null;
  const groups = [...head, ...Array(halves.length === 2 ? fill : 0).fill('0'), ...tail];
  if (groups.length !== 8 || !groups.every((g) => /^[0-9a-f]{1,4}$/i.test(g))) return null;
  const out = new Uint8Array(16);
  groups.forEach((g, i) => {
    const v = Number.parseInt(g, 16);
    out[2 * i] = v >> 8;
    out[2 * i + 1] = v & 255;
  });
  return out;
}

/** Parses 'n', 'lo-hi' (or 'lo:hi') into an inclusive range of 0..max. */
export function parseRange(text: string, where: string, max = 65535): Range {
  const m = /^(\d+)(?:\s*[-:]\s*(\d+))?$/.exec(text.trim());
  if (!m) throw bad(where, `'${text}' is not a number or a range lo-hi`);
  const lo = Number(m[1]);
  const hi = m[2] === undefined ? lo : Number(m[2]);
  if (lo > max || hi > max) throw bad(where, `'${text}' is out of 0..${max}`);
  if (lo > hi) throw bad(where, `inverted range ${lo}-${hi}`);
  return { lo, hi };
}

/** Checks a rule built through the typed API; throws VNF_CONFIG naming the field. */
export function checkRule(rule: AclRule, where: string): AclRule {
  const actions: AclAction[] = ['permit', 'deny', 'reject', 'count', 'mark', 'permit-and-track'];
  if (!actions.includes(rule.action)) throw bad(where, `action must be one of ${actions.join(', ')}, got '${String(rule.action)}'`);
  for (const k of ['src', 'dst'] as const) {
    const p = rule[k];
    if (p && (p.length < 0 || p.length > (p.version === 4 ? 32 : 128) || p.bytes.length !== (p.version === 4 ? 4 : 16))) {
      throw bad(where, `${k}: prefix /${p.length} is longer than an IPv${p.version} address`);
    }
  }
  if (rule.src && rule.dst && rule.src.version !== rule.dst.version) throw bad(where, 'src and dst must be the same IP version');
  for (const k of ['srcPort', 'dstPort'] as const) {
    const r = rule[k];
    if (r && !(Number.isInteger(r.lo) && Number.isInteger(r.hi) && r.lo >= 0 && r.hi <= 65535)) throw bad(where, `${k}: range must be within 0..65535`);
    if (r && r.lo > r.hi) throw bad(where, `${k}: inverted range ${r.lo}-${r.hi}`);
  }
  const byte = (v: unknown) => Number.isInteger(v) && (v as number) >= 0 && (v as number) <= 255;
  if (rule.protocol && !(byte(rule.protocol.value) && byte(rule.protocol.mask))) throw bad(where, 'protocol: value and mask must be 0..255');
  if (rule.tcpFlags && !(byte(rule.tcpFlags.value) && byte(rule.tcpFlags.mask))) throw bad(where, 'tcp flags: value and mask must be 0..255');
  for (const k of ['icmpType', 'icmpCode'] as const) if (rule[k] !== undefined && !byte(rule[k])) throw bad(where, `${k} must be 0..255`);
  if (rule.vlan !== undefined && !(Number.isInteger(rule.vlan) && rule.vlan >= 0 && rule.vlan <= 4095)) throw bad(where, 'vlan must be 0..4095');
  if (rule.inPort !== undefined && !(Number.isInteger(rule.inPort) && rule.inPort >= 0 && rule.inPort <= 65534)) throw bad(where, 'in-port must be 0..65534');
  if (rule.action === 'mark' && !(Number.isInteger(rule.mark) && (rule.mark as number) >= 0 && (rule.mark as number) <= 0xffffffff)) {
    throw bad(where, "action 'mark' needs a mark value 0..2^32-1");
  }
  if ((rule.icmpType !== undefined || rule.icmpCode !== undefined) && (rule.srcPort || rule.dstPort)) {
    throw bad(where, 'a rule cannot match ICMP type/code and ports at once');
  }
  return rule;
}
