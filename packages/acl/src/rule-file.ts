import { VnfError } from '@vnf-sdk/core';
import { type AclAction, type AclRule, checkRule, type Masked, parsePrefix, parseRange } from './rules.js';

/** Action names, as in both rule file formats. */
export const ACTIONS: readonly string[] = ['permit', 'deny', 'reject', 'count', 'mark', 'permit-and-track'];
/** Protocol names both rule file formats accept. */
export const PROTOCOLS: Record<string, number> = { icmp: 1, tcp: 6, udp: 17, gre: 47, esp: 50, ah: 51, icmpv6: 58, sctp: 132 };
/** TCP flag names both rule file formats accept. */
export const TCP_FLAGS: Record<string, number> = { fin: 0x01, syn: 0x02, rst: 0x04, psh: 0x08, ack: 0x10, urg: 0x20, ece: 0x40, cwr: 0x80 };
const KEYS = ['src', 'dst', 'sport', 'dport', 'proto', 'flags', 'icmp-type', 'icmp-code', 'vlan', 'in-port', 'priority', 'mark'];

/**
 * Parses the readable rule format, one rule per line:
 *
 * ```
 * # action [field value]...      fields absent = any; '#' starts a comment
 * permit proto tcp src 10.0.0.0/8 dst 192.0.2.0/24 dport 80-443 flags syn/syn,ack
 * reject proto udp dport 53
 * mark 7 src 10.1.0.0/16          # 'mark' takes its value first
 * deny src any
 * ```
 *
 * Fields: `src`, `dst` (prefix, `any`), `sport`, `dport` (`n`, `lo-hi`, `any`), `proto`
 * (name, number, `any`), `flags` (TCP flags `value/mask` as names joined by `,` or numbers),
 * `icmp-type`, `icmp-code`, `vlan`, `in-port`, `priority` (higher first; default 0, then file
 * order). Every error is a VnfError VNF_CONFIG naming `file:line:column` and the field.
 */
export function parseRuleFile(text: string, file = 'rules'): AclRule[] {
  const rules: AclRule[] = [];
  const lines = text.split('\n');
  lines.forEach((raw, i) => {
    const line = raw.replace(/#.*$/, '');
    const tokens = [...line.matchAll(/\S+/g)].map((m) => ({ text: m[0], col: (m.index ?? 0) + 1 }));
    if (tokens.length === 0) return;
    const at = (col: number) => `${file}:${i + 1}:${col}`;
    const [first, ...rest] = tokens;
    if (!ACTIONS.includes(first.text)) {
      throw new VnfError('VNF_CONFIG', `${at(first.col)}: unknown action '${first.text}' (expected ${ACTIONS.join(', ')})`);
    }
    const rule: AclRule = { action: first.text as AclAction, origin: `${file}:${i + 1}` };
    let k = 0;
    if (rule.action === 'mark') {
      const v = rest[k++];
      if (!v || !/^\d+$/.test(v.text) || Number(v.text) > 0xffffffff) {
        throw new VnfError('VNF_CONFIG', `${at(v?.col ?? first.col + 4)}: mark: expected a value 0..4294967295 after 'mark'`);
      }
      rule.mark = Number(v.text);
    }
    const seen = new Set<string>();
    while (k < rest.length) {
      const key = rest[k++];
      const value = rest[k++];
      if (!KEYS.includes(key.text)) throw new VnfError('VNF_CONFIG', `${at(key.col)}: unknown field '${key.text}' (expected ${KEYS.join(', ')})`);
      if (seen.has(key.text)) throw new VnfError('VNF_CONFIG', `${at(key.col)}: ${key.text} given twice`);
      seen.add(key.text);
      if (!value) throw new VnfError('VNF_CONFIG', `${at(key.col)}: ${key.text}: missing value`);
      setField(rule, key.text, value.text, `${at(value.col)}: ${key.text}`);
    }
    checkRule(rule, at(first.col));
    rules.push(rule);
  });
  return rules;
}

function setField(rule: AclRule, key: string, v: string, where: string): void {
  const any = v === 'any';
  const int = (max: number) => {
    if (!/^\d+$/.test(v) || Number(v) > max) throw new VnfError('VNF_CONFIG', `${where}: '${v}' must be an integer 0..${max}`);
    return Number(v);
  };
  switch (key) {
    case 'src':
    case 'dst':
      if (!any) rule[key] = parsePrefix(v, where);
      return;
    case 'sport':
    case 'dport':
      if (!any) rule[key === 'sport' ? 'srcPort' : 'dstPort'] = parseRange(v, where);
      return;
    case 'proto':
      if (!any) rule.protocol = { value: v in PROTOCOLS ? PROTOCOLS[v] : int(255), mask: 0xff };
      return;
    case 'flags':
      rule.tcpFlags = parseFlags(v, where);
      return;
    case 'icmp-type':
      rule.icmpType = int(255);
      return;
    case 'icmp-code':
      rule.icmpCode = int(255);
      return;
    case 'vlan':
      rule.vlan = int(4095);
      return;
    case 'in-port':
      rule.inPort = int(65534);
      return;
    case 'priority':
      rule.priority = int(0x7fffffff);
      return;
    case 'mark':
      rule.mark = int(0xffffffff);
      return;
  }
}

/** Parses TCP flags `value/mask` (names joined by `,`, or numbers); `where` prefixes errors. */
export function parseFlags(v: string, where: string): Masked {
  const [valueText, maskText] = v.split('/');
  const bits = (t: string): number => {
    if (/^(0x[0-9a-f]+|\d+)$/i.test(t)) return Number(t);
    let out = 0;
    for (const name of t.split(',')) {
      const b = TCP_FLAGS[name.toLowerCase()];
      if (b === undefined) throw new VnfError('VNF_CONFIG', `${where}: unknown TCP flag '${name}' (${Object.keys(TCP_FLAGS).join(', ')})`);
      out |= b;
    }
    return out;
  };
  const value = bits(valueText);
  const mask = maskText === undefined ? value : bits(maskText);
  if (value > 255 || mask > 255) throw new VnfError('VNF_CONFIG', `${where}: flags must fit in 8 bits`);
  if ((value & ~mask) !== 0) throw new VnfError('VNF_CONFIG', `${where}: flags value ${valueText} has bits outside the mask ${maskText}`);
  return { value, mask };
}

/**
 * Imports a ClassBench filter set (`@src/len dst/len sportlo : sporthi dportlo : dporthi
 * proto/mask flags/mask`, one per line; line order is priority). The ClassBench 'flags'
 * field is not TCP flags and is ignored, as DPDK's test-acl does. Every rule is 'permit';
 * errors name the line.
 */
export function parseClassBench(text: string, file = 'classbench'): AclRule[] {
  const rules: AclRule[] = [];
  text.split('\n').forEach((line, i) => {
    if (line.trim() === '') return;
    const where = `${file}:${i + 1}`;
    const m = /^@(\S+)\s+(\S+)\s+(\d+)\s*:\s*(\d+)\s+(\d+)\s*:\s*(\d+)\s+(0x[0-9a-f]+)\/(0x[0-9a-f]+)/i.exec(line);
    if (!m) throw new VnfError('VNF_CONFIG', `${where}: not a ClassBench rule ('@src/len dst/len lo : hi lo : hi proto/mask ...')`);
    const rule: AclRule = {
      action: 'permit',
      src: parsePrefix(m[1], `${where}: src`),
      dst: parsePrefix(m[2], `${where}: dst`),
      srcPort: parseRange(`${m[3]}-${m[4]}`, `${where}: sport`),
      dstPort: parseRange(`${m[5]}-${m[6]}`, `${where}: dport`),
      origin: where,
    };
    const proto = Number.parseInt(m[7], 16);
    const mask = Number.parseInt(m[8], 16);
    if (mask !== 0) rule.protocol = { value: proto & mask, mask };
    rules.push(checkRule(rule, where));
  });
  return rules;
}
