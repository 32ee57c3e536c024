import { VnfError } from '@vnf-sdk/core';
import { isAlias, isMap, isPair, isScalar, isSeq, LineCounter, type Node, parseDocument, type YAMLMap } from 'yaml';
import { ACTIONS, PROTOCOLS, parseFlags, TCP_FLAGS } from './rule-file.js';
import { type AclAction, type AclRule, checkRule, type Prefix, parsePrefix, parseRange } from './rules.js';

/** The keys of one rule in a YAML rule file, with the text format's name of each field. */
const YAML_KEYS: Record<string, string> = {
  action: 'action',
  src: 'src',
  dst: 'dst',
  srcPort: 'sport',
  dstPort: 'dport',
  protocol: 'proto',
  tcpFlags: 'flags',
  icmpType: 'icmp-type',
  icmpCode: 'icmp-code',
  vlan: 'vlan',
  inPort: 'in-port',
  priority: 'priority',
  mark: 'mark',
};
const TEXT_TO_YAML = Object.fromEntries(Object.entries(YAML_KEYS).map(([y, t]) => [t, y]));

const INT_MAX: Record<string, number> = {
  icmpType: 255,
  icmpCode: 255,
  vlan: 4095,
  inPort: 65534,
  priority: 0x7fffffff,
  mark: 0xffffffff,
};

/**
 * Parses a YAML rule file: a top-level map whose only key `rules` is a list of rules, each a
 * map with the fields of {@link AclRule} (absent = any):
 *
 * ```yaml
 * rules:
 *   - action: permit            # permit, deny, reject, count, mark, permit-and-track
 *     protocol: tcp             # name, number 0..255, or any
 *     dst: 192.0.2.0/24         # IPv4/IPv6 prefix or any (host bits are cleared)
 *     dstPort: 80-443           # number, "lo-hi", or any
 *     tcpFlags: syn/syn,ack     # value/mask as flag names joined by ',' or numbers
 *   - action: mark
 *     mark: 7                   # integers: icmpType, icmpCode, vlan, inPort, priority, mark
 *     src: 10.1.0.0/16
 * ```
 *
 * The values mean what they mean in the text format ({@link parseRuleFile}); each rule's
 * `origin` is `file:line` of its first key. Every error (YAML syntax, duplicate or unknown
 * key, wrong type, bad prefix, inverted range, ...) is a VnfError VNF_CONFIG naming
 * `file:line:column` of the offending value (of the key for unknown keys, of the rule for
 * errors between fields such as mixed IP versions) and the field.
 */
export function parseYamlRules(text: string, file = 'rules.yaml'): AclRule[] {
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, prettyErrors: false, uniqueKeys: true, keepSourceTokens: false });
  const at = (offset: number) => {
    const { line, col } = lineCounter.linePos(offset);
    return `${file}:${Math.max(line, 1)}:${col}`;
  };
  const fail = (node: { range?: readonly number[] | null } | null | undefined, message: string): never => {
    throw new VnfError('VNF_CONFIG', `${at(node?.range?.[0] ?? 0)}: ${message}`);
  };
  const first = doc.errors[0];
  if (first) {
    const message = first.code === 'MULTIPLE_DOCS' ? 'a rule file is one YAML document (remove the second ---)' : first.message.replace(/\s+/g, ' ').trim();
    throw new VnfError('VNF_CONFIG', `${at(first.pos[0])}: YAML: ${message}`);
  }
  // An alias stands for its anchored node; errors then name the anchored value.
  const deref = (node: unknown): Node | null => (isAlias(node) ? (node.resolve(doc) ?? null) : ((node as Node | null) ?? null));

  const root = deref(doc.contents);
  if (root === null || (isScalar(root) && root.value === null)) return [];
  if (!isMap(root)) return fail(root, "expected a map with a 'rules' list at the top");
  let list: Node | null = null;
  for (const pair of root.items) {
    const key = deref(pair.key);
    if (!isScalar(key) || key.value !== 'rules') {
      return fail(key ?? root, `unknown top-level key ${isScalar(key) ? `'${String(key.value)}'` : describe(key)} (expected rules)`);
    }
    list = deref(pair.value);
  }
  if (list === null || (isScalar(list) && list.value === null)) return [];
  if (!isSeq(list)) return fail(list, `rules: expected a list of rules, got ${describe(list)}`);

  const rules: AclRule[] = [];
  for (const item of list.items) {
    const node = deref(item);
    if (!isMap(node)) return fail(node ?? list, `rules: each rule must be a map of fields, got ${describe(node)}`);
    rules.push(parseRule(node as YAMLMap, at, fail, deref));
  }
  return rules;
}

type Fail = (node: { range?: readonly number[] | null } | null | undefined, message: string) => never;

function parseRule(node: YAMLMap, at: (offset: number) => string, fail: Fail, deref: (n: unknown) => Node | null): AclRule {
  const where = at(node.range?.[0] ?? 0);
  const rule: Partial<AclRule> = { origin: where.slice(0, where.lastIndexOf(':')) };
  let sawAction = false;
  for (const pair of node.items) {
    if (!isPair(pair)) continue;
    const key = deref(pair.key);
    const name = isScalar(key) && typeof key.value === 'string' ? key.value : null;
    if (name === null || !(name in YAML_KEYS)) {
      const hint = name !== null && name in TEXT_TO_YAML ? ` (did you mean ${TEXT_TO_YAML[name]}?)` : ` (expected ${Object.keys(YAML_KEYS).join(', ')})`;
      return fail(key ?? node, `unknown field ${name !== null ? `'${name}'` : describe(key)}${hint}`);
    }
    const value = deref(pair.value);
    if (!isScalar(value) || value.value === null) return fail(value ?? key, `${name}: ${value === null || isScalar(value) ? 'missing value' : `expected a single value, got ${describe(value)}`}`);
    const v = value.value;
    const here = `${at(value.range?.[0] ?? 0)}: ${name}`;
    const wrongType = (expected: string): never => fail(value, `${name}: expected ${expected}, got ${describe(value)}`);
    const str = (expected: string): string => (typeof v === 'string' ? v : wrongType(expected));
    switch (name) {
      case 'action': {
        const a = str(`one of ${ACTIONS.join(', ')}`);
        if (!ACTIONS.includes(a)) return fail(value, `action: unknown action '${a}' (expected ${ACTIONS.join(', ')})`);
        rule.action = a as AclAction;
        sawAction = true;
        break;
      }
      case 'src':
      case 'dst': {
        const p = str('an IPv4 or IPv6 prefix or any');
        if (p !== 'any') rule[name] = parsePrefix(p, here);
        break;
      }
      case 'srcPort':
      case 'dstPort': {
        if (typeof v === 'number') {
          if (!Number.isInteger(v)) return wrongType('a port 0..65535, "lo-hi" or any');
          rule[name] = parseRange(String(v), here);
        } else {
          const r = str('a port 0..65535, "lo-hi" or any');
          if (r !== 'any') rule[name] = parseRange(r, here);
        }
        break;
      }
      case 'protocol': {
        if (typeof v === 'number') {
          if (!Number.isInteger(v) || v < 0 || v > 255) return fail(value, `protocol: ${String(v)} must be an integer 0..255`);
          rule.protocol = { value: v, mask: 0xff };
        } else {
          const p = str(`a protocol name (${Object.keys(PROTOCOLS).join(', ')}), a number or any`);
          if (p === 'any') break;
          if (!(p in PROTOCOLS)) return fail(value, `protocol: unknown protocol '${p}' (${Object.keys(PROTOCOLS).join(', ')}, a number 0..255 or any)`);
          rule.protocol = { value: PROTOCOLS[p], mask: 0xff };
        }
        break;
      }
      case 'tcpFlags': {
        if (typeof v === 'number') {
          if (!Number.isInteger(v) || v < 0 || v > 255) return fail(value, `tcpFlags: ${String(v)} must be an integer 0..255`);
          rule.tcpFlags = { value: v, mask: v };
        } else {
          rule.tcpFlags = parseFlags(str('TCP flags value/mask (e.g. syn/syn,ack) or a number'), here);
        }
        break;
      }
      default: {
        const max = INT_MAX[name];
        if (typeof v !== 'number' || !Number.isInteger(v)) return wrongType(`an integer 0..${max}`);
        if (v < 0 || v > max) return fail(value, `${name}: ${v} must be an integer 0..${max}`);
        rule[name as 'vlan'] = v;
      }
    }
  }
  if (!sawAction) return fail(node, `rule has no action (expected action: ${ACTIONS.join(', ')})`);
  return checkRule(rule as AclRule, where);
}

function describe(node: Node | null | undefined): string {
  if (node === null || node === undefined) return 'nothing';
  if (isMap(node)) return 'a map';
  if (isSeq(node)) return 'a list';
  if (isScalar(node)) {
    const v = node.value;
    if (v === null) return 'null';
    return `${typeof v} ${typeof v === 'string' ? `'${v}'` : String(v)}`;
  }
  return 'a node';
}

/**
 * Writes rules as a YAML rule file that {@link parseYamlRules} reads back into the same rules
 * (except `origin`). Throws VNF_CONFIG for what the file formats cannot express: a protocol
 * under a partial mask (the files take whole protocols only).
 */
export function formatYamlRules(rules: readonly AclRule[]): string {
  const out = ['rules:'];
  rules.forEach((r, i) => {
    checkRule(r, r.origin ?? `rule ${i}`);
    const f: string[] = [`action: ${r.action}`];
    if (r.mark !== undefined) f.push(`mark: ${r.mark}`);
    if (r.priority !== undefined) f.push(`priority: ${r.priority}`);
    if (r.src) f.push(`src: ${formatPrefix(r.src)}`);
    if (r.dst) f.push(`dst: ${formatPrefix(r.dst)}`);
    if (r.protocol) {
      if (r.protocol.mask !== 0xff) {
        throw new VnfError('VNF_CONFIG', `${r.origin ?? `rule ${i}`}: protocol: the rule files take a whole protocol, not ${r.protocol.value}/${r.protocol.mask}`);
      }
      const name = Object.keys(PROTOCOLS).find((n) => PROTOCOLS[n] === r.protocol?.value);
      f.push(`protocol: ${name ?? r.protocol.value}`);
    }
    for (const k of ['srcPort', 'dstPort'] as const) {
      const p = r[k];
      if (p) f.push(`${k}: ${p.lo === p.hi ? p.lo : `${p.lo}-${p.hi}`}`);
    }
    if (r.tcpFlags) f.push(`tcpFlags: ${flagNames(r.tcpFlags.value)}/${flagNames(r.tcpFlags.mask)}`);
    for (const k of ['icmpType', 'icmpCode', 'vlan', 'inPort'] as const) if (r[k] !== undefined) f.push(`${k}: ${r[k]}`);
    out.push(`  - ${f.join('\n    ')}`);
  });
  return rules.length === 0 ? 'rules: []\n' : `${out.join('\n')}\n`;
}

function flagNames(bits: number): string {
  const names = Object.keys(TCP_FLAGS).filter((n) => bits & TCP_FLAGS[n]);
  return names.length === 0 ? '0' : names.join(',');
}

function formatPrefix(p: Prefix): string {
  if (p.version === 4) return `${Array.from(p.bytes).join('.')}/${p.length}`;
  const groups = Array.from({ length: 8 }, (_, i) => ((p.bytes[2 * i] << 8) | p.bytes[2 * i + 1]).toString(16));
  // '::' for the longest run of two or more zero groups.
  let best = -1;
  let bestLen = 1;
  for (let i = 0; i < 8; ) {
    let j = i;
    while (j < 8 && groups[j] === '0') j++;
    if (j - i > bestLen) [best, bestLen] = [i, j - i];
    i = j === i ? i + 1 : j;
  }
  const text = best < 0 ? groups.join(':') : `${groups.slice(0, best).join(':')}::${groups.slice(best + bestLen).join(':')}`;
  return `${text}/${p.length}`;
}
