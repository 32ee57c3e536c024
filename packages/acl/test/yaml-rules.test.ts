import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { itWhen, SHARED_TESTDATA, sharedMissing } from '@vnf-sdk/test-support';
import { describe, expect, it } from 'vitest';
import { type AclRule, checkRule, firstMatch, formatYamlRules, parseClassBench, parseRuleFile, parseYamlRules } from '../src/index.js';

const EXAMPLES = join(import.meta.dirname, '..', 'examples');
const withoutOrigin = (rules: AclRule[]) => rules.map(({ origin: _, ...r }) => r);

/** The message of the VNF_CONFIG error parseYamlRules throws for `text`. */
function err(text: string): string {
  try {
    parseYamlRules(text, 'f.yaml');
  } catch (e) {
    return (e as Error & { code: string }).code === 'VNF_CONFIG' ? (e as Error).message : `wrong code: ${(e as Error).message}`;
  }
  return 'no error';
}
/** One rule in block style, fields one per line from line 3 (column 5). */
const rule = (...fields: string[]) => ['rules:', '  - action: permit', ...fields.map((f) => `    ${f}`)].join('\n');

describe('YAML rule files', () => {
  it('read every field with the meaning of the text format', () => {
    const rules = parseYamlRules(
      [
        'rules:',
        '  - action: permit',
        '    protocol: tcp',
        '    src: 10.0.0.0/8',
        '    dst: 192.0.2.77/24',
        '    srcPort: 1024-65535',
        '    dstPort: 443',
        '    tcpFlags: syn/syn,ack',
        '  - {action: mark, mark: 4294967295, priority: 3, vlan: 4095, inPort: 65534, protocol: 17}',
        '  - action: permit',
        '    protocol: 1',
        '    icmpType: 8',
        '    icmpCode: 0',
        '  - action: count',
        '    tcpFlags: 0x02',
        '    srcPort: "7"',
        '    dstPort: any',
        '    src: any',
        '    protocol: any',
        '  - action: permit-and-track',
        '    dst: 2001:db8::1/32',
      ].join('\n'),
      'r.yaml',
    );
    expect(rules).toEqual([
      {
        action: 'permit',
        origin: 'r.yaml:2',
        protocol: { value: 6, mask: 255 },
        src: { version: 4, bytes: Uint8Array.of(10, 0, 0, 0), length: 8 },
        dst: { version: 4, bytes: Uint8Array.of(192, 0, 2, 0), length: 24 },
        srcPort: { lo: 1024, hi: 65535 },
        dstPort: { lo: 443, hi: 443 },
        tcpFlags: { value: 0x02, mask: 0x12 },
      },
      { action: 'mark', origin: 'r.yaml:9', mark: 0xffffffff, priority: 3, vlan: 4095, inPort: 65534, protocol: { value: 17, mask: 255 } },
      { action: 'permit', origin: 'r.yaml:10', protocol: { value: 1, mask: 255 }, icmpType: 8, icmpCode: 0 },
      { action: 'count', origin: 'r.yaml:14', tcpFlags: { value: 2, mask: 2 }, srcPort: { lo: 7, hi: 7 } },
      { action: 'permit-and-track', origin: 'r.yaml:20', dst: { version: 6, bytes: Uint8Array.of(0x20, 1, 0xd, 0xb8, ...new Array(12).fill(0)), length: 32 } },
    ]);
  });

  it('give an empty list for an empty file, comments only, or an empty rules list', () => {
    for (const text of ['', '# nothing\n', 'rules:', 'rules: []', 'rules: # none yet\n']) expect(parseYamlRules(text)).toEqual([]);
  });

  it('take anchors and aliases', () => {
    const rules = parseYamlRules('rules:\n  - &web {action: permit, protocol: tcp, dstPort: 80}\n  - *web\n', 'a.yaml');
    expect(withoutOrigin(rules)).toEqual([
      { action: 'permit', protocol: { value: 6, mask: 255 }, dstPort: { lo: 80, hi: 80 } },
      { action: 'permit', protocol: { value: 6, mask: 255 }, dstPort: { lo: 80, hi: 80 } },
    ]);
  });

  it('name file, line, column and field of every mistake', () => {
    const actions = 'permit, deny, reject, count, mark, permit-and-track';
    const keys = 'action, src, dst, srcPort, dstPort, protocol, tcpFlags, icmpType, icmpCode, vlan, inPort, priority, mark';
    // YAML syntax: where the parser stopped, with its message.
    expect(err('rules:\n  - action: permit\n    src: [10.0.0.0/8\n')).toBe(
      'f.yaml:4:1: YAML: Flow sequence in block collection must be sufficiently indented and end with a ]',
    );
    expect(err('rules:\n  - action: permit\n  dst: 10.0.0.1\n')).toBe('f.yaml:3:1: YAML: All mapping items must start at the same column');
    expect(err('rules:\n  - action: "permit\n')).toBe('f.yaml:3:1: YAML: Missing closing "quote');
    expect(err('rules:\n  - action: permit\n    action: deny')).toBe('f.yaml:3:5: YAML: Map keys must be unique');
    expect(err('rules: []\n---\nrules: []')).toBe('f.yaml:2:1: YAML: a rule file is one YAML document (remove the second ---)');
    // Structure.
    expect(err('- action: permit')).toBe("f.yaml:1:1: expected a map with a 'rules' list at the top");
    expect(err('rule:\n  - action: permit')).toBe("f.yaml:1:1: unknown top-level key 'rule' (expected rules)");
    expect(err('rules:\n  action: permit')).toBe('f.yaml:2:3: rules: expected a list of rules, got a map');
    expect(err('rules:\n  - permit')).toBe("f.yaml:2:5: rules: each rule must be a map of fields, got string 'permit'");
    // Unknown keys: at the key; a text-format name gets a hint.
    expect(err(rule('colour: red'))).toBe(`f.yaml:3:5: unknown field 'colour' (expected ${keys})`);
    expect(err(rule('dport: 53'))).toBe("f.yaml:3:5: unknown field 'dport' (did you mean dstPort?)");
    expect(err(rule('in-port: 1'))).toBe("f.yaml:3:5: unknown field 'in-port' (did you mean inPort?)");
    // Actions.
    expect(err('rules:\n  - action: allow')).toBe(`f.yaml:2:13: action: unknown action 'allow' (expected ${actions})`);
    expect(err('rules:\n  - src: any')).toBe(`f.yaml:2:5: rule has no action (expected action: ${actions})`);
    expect(err('rules:\n  - action: mark\n    src: any')).toBe("f.yaml:2:5: action 'mark' needs a mark value 0..2^32-1");
    // Wrong types: at the value.
    expect(err('rules:\n  - action: 1')).toBe(`f.yaml:2:13: action: expected one of ${actions}, got number 1`);
    expect(err(rule('src: 10'))).toBe('f.yaml:3:10: src: expected an IPv4 or IPv6 prefix or any, got number 10');
    expect(err(rule('dst: [10.0.0.0/8]'))).toBe('f.yaml:3:10: dst: expected a single value, got a list');
    expect(err(rule('vlan: "7"'))).toBe("f.yaml:3:11: vlan: expected an integer 0..4095, got string '7'");
    expect(err(rule('priority: 1.5'))).toBe('f.yaml:3:15: priority: expected an integer 0..2147483647, got number 1.5');
    expect(err(rule('icmpType: true'))).toBe('f.yaml:3:15: icmpType: expected an integer 0..255, got boolean true');
    expect(err(rule('dstPort: {lo: 1, hi: 2}'))).toBe('f.yaml:3:14: dstPort: expected a single value, got a map');
    expect(err(rule('srcPort: 80.5'))).toBe('f.yaml:3:14: srcPort: expected a port 0..65535, "lo-hi" or any, got number 80.5');
    expect(err(rule('src:'))).toBe('f.yaml:3:9: src: missing value'); // where the value should be
    expect(err(rule('dst: ~'))).toBe('f.yaml:3:10: dst: missing value');
    // Values out of range or malformed: at the value.
    expect(err(rule('src: 10.0.0.0/33'))).toBe("f.yaml:3:10: src: prefix length in '10.0.0.0/33' must be 0 to 32");
    expect(err(rule('dst: 2001:db8::/129'))).toBe("f.yaml:3:10: dst: prefix length in '2001:db8::/129' must be 0 to 128");
    expect(err(rule('src: 10.0.0.300'))).toBe("f.yaml:3:10: src: '10.0.0.300' is not an IPv4 address or prefix");
    expect(err(rule('dstPort: 443-80'))).toBe('f.yaml:3:14: dstPort: inverted range 443-80');
    expect(err(rule('srcPort: 70000'))).toBe("f.yaml:3:14: srcPort: '70000' is out of 0..65535");
    expect(err(rule('srcPort: http'))).toBe("f.yaml:3:14: srcPort: 'http' is not a number or a range lo-hi");
    expect(err(rule('protocol: tcpp'))).toBe("f.yaml:3:15: protocol: unknown protocol 'tcpp' (icmp, tcp, udp, gre, esp, ah, icmpv6, sctp, a number 0..255 or any)");
    expect(err(rule('protocol: 256'))).toBe('f.yaml:3:15: protocol: 256 must be an integer 0..255');
    expect(err(rule('tcpFlags: syn/fin'))).toBe('f.yaml:3:15: tcpFlags: flags value syn has bits outside the mask fin');
    expect(err(rule('tcpFlags: ping'))).toBe("f.yaml:3:15: tcpFlags: unknown TCP flag 'ping' (fin, syn, rst, psh, ack, urg, ece, cwr)");
    expect(err(rule('tcpFlags: 300'))).toBe('f.yaml:3:15: tcpFlags: 300 must be an integer 0..255');
    expect(err(rule('vlan: 4096'))).toBe('f.yaml:3:11: vlan: 4096 must be an integer 0..4095');
    expect(err(rule('inPort: -1'))).toBe('f.yaml:3:13: inPort: -1 must be an integer 0..65534');
    expect(err(rule('mark: 4294967296'))).toBe('f.yaml:3:11: mark: 4294967296 must be an integer 0..4294967295');
    // Between fields: at the rule.
    expect(err(rule('src: 10.0.0.0/8', 'dst: 2001:db8::/32'))).toBe('f.yaml:2:5: src and dst must be the same IP version');
    expect(err(rule('icmpType: 8', 'dstPort: 1'))).toBe('f.yaml:2:5: a rule cannot match ICMP type/code and ports at once');
    // Flow style: columns inside the line; a later rule: its own line.
    expect(err('rules:\n  - {action: permit}\n  - {action: deny, dstPort: 9-1}')).toBe('f.yaml:3:29: dstPort: inverted range 9-1');
    // An alias: the anchored value.
    expect(err('rules:\n  - action: permit\n    dstPort: &p 9-1\n  - action: deny\n    srcPort: *p')).toBe('f.yaml:3:17: dstPort: inverted range 9-1');
  });

  it('the example file and the equivalent text file give identical rules', () => {
    const yaml = parseYamlRules(readFileSync(join(EXAMPLES, 'firewall.yaml'), 'utf8'), 'firewall.yaml');
    const text = parseRuleFile(readFileSync(join(EXAMPLES, 'firewall.acl'), 'utf8'), 'firewall.acl');
    expect(yaml.length).toBe(7);
    expect(withoutOrigin(yaml)).toEqual(withoutOrigin(text));
    expect(yaml.map((r) => r.origin)).toEqual(['4', '9', '12', '16', '20', '23', '24'].map((l) => `firewall.yaml:${l}`));
  });

  it('round trip: parsed rules pass checkRule unchanged, and formatYamlRules reads back the same', () => {
    const rules = parseYamlRules(readFileSync(join(EXAMPLES, 'firewall.yaml'), 'utf8'), 'firewall.yaml');
    for (const r of rules) expect(checkRule(structuredClone(r), 'x')).toEqual(r);
    const again = parseYamlRules(formatYamlRules(rules), 'again.yaml');
    expect(withoutOrigin(again)).toEqual(withoutOrigin(rules));
    expect(parseYamlRules(formatYamlRules([]))).toEqual([]);
  });

  it('round trip of random rules over every field', () => {
    let s = 12345;
    const rnd = (n: number) => {
      s = (Math.imul(s, 1103515245) + 12345) >>> 0;
      return Math.floor((s / 2 ** 32) * n);
    };
    const actions = ['permit', 'deny', 'reject', 'count', 'mark', 'permit-and-track'] as const;
    const text: string[] = [];
    for (let i = 0; i < 300; i++) {
      const f: string[] = [];
      const a = actions[rnd(6)];
      f.push(a === 'mark' ? `mark ${rnd(2 ** 32)}` : a);
      const v6 = rnd(4) === 0;
      const addr = () => (v6 ? `${rnd(0x10000).toString(16)}::${rnd(0x10000).toString(16)}:0:${rnd(0x10000).toString(16)}/${rnd(129)}` : `${rnd(256)}.${rnd(256)}.${rnd(256)}.${rnd(256)}/${rnd(33)}`);
      if (rnd(2)) f.push(`src ${addr()}`);
      if (rnd(2)) f.push(`dst ${addr()}`);
      if (rnd(2)) f.push(`proto ${rnd(256)}`);
      const icmp = rnd(4) === 0;
      if (icmp) f.push(`icmp-type ${rnd(256)} icmp-code ${rnd(256)}`);
      else {
        const lo = rnd(65536);
        if (rnd(2)) f.push(`sport ${lo}-${lo + rnd(65536 - lo)}`);
        if (rnd(2)) f.push(`dport ${rnd(65536)}`);
      }
      if (rnd(2)) {
        const mask = rnd(256);
        f.push(`flags ${mask & rnd(256)}/${mask}`);
      }
      if (rnd(3) === 0) f.push(`vlan ${rnd(4096)}`);
      if (rnd(3) === 0) f.push(`in-port ${rnd(65535)}`);
      if (rnd(3) === 0) f.push(`priority ${rnd(100)}`);
      text.push(f.join(' '));
    }
    const rules = parseRuleFile(text.join('\n'), 'random.acl');
    const yaml = formatYamlRules(rules);
    const again = parseYamlRules(yaml, 'random.yaml');
    expect(withoutOrigin(again)).toEqual(withoutOrigin(rules));
    for (const r of again) expect(checkRule(structuredClone(r), 'x')).toEqual(r);
  });

  it('formatYamlRules refuses what the files cannot say', () => {
    expect(() => formatYamlRules([{ action: 'permit', protocol: { value: 6, mask: 0xfe }, origin: 'cb:3' }])).toThrow('cb:3: protocol: the rule files take a whole protocol, not 6/254');
    expect(() => formatYamlRules([{ action: 'permit', srcPort: { lo: 9, hi: 1 } }])).toThrow('rule 0: srcPort: inverted range 9-1');
  });

  itWhen(sharedMissing, 'round trip of the ClassBench 1K sets, matching the same packets', () => {
    for (const name of ['acl1_1k', 'fw1_1k', 'ipc1_1k']) {
      const rules = parseClassBench(readFileSync(join(SHARED_TESTDATA, 'classbench', 'neurocuts', name), 'utf8'), name);
      const again = parseYamlRules(formatYamlRules(rules), `${name}.yaml`);
      expect(withoutOrigin(again)).toEqual(withoutOrigin(rules));
      for (const r of rules.slice(0, 100)) {
        const k = { src: r.src?.bytes ?? new Uint8Array(4), dst: r.dst?.bytes ?? new Uint8Array(4), srcPort: r.srcPort?.lo ?? 0, dstPort: r.dstPort?.lo ?? 0, protocol: r.protocol?.value ?? 6 };
        expect(firstMatch(again, k)).toBe(firstMatch(rules, k));
      }
    }
  });
});
