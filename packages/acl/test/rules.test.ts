import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { itWhen, SHARED_TESTDATA, sharedMissing } from '@vnf-sdk/test-support';
import { describe, expect, it } from 'vitest';
import { firstMatch, parseClassBench, parseRuleFile } from '../src/index.js';

const ip = (s: string) => Uint8Array.from(s.split('.').map(Number));
const key = (src: string, dst: string, sp: number, dp: number, proto: number, flags = 0) => ({
  src: ip(src),
  dst: ip(dst),
  srcPort: sp,
  dstPort: dp,
  protocol: proto,
  tcpFlags: flags,
});

describe('the rule file', () => {
  const rules = parseRuleFile(
    [
      '# web',
      'permit proto tcp dst 192.0.2.0/24 dport 80-443 flags syn/syn,ack',
      'reject proto udp dport 53   # no DNS',
      'mark 7 src 10.1.0.0/16',
      'deny priority 0 src any',
      'permit priority 10 src 10.9.9.9',
    ].join('\n'),
    'acl.txt',
  );

  it('parses every field, with the line as origin', () => {
    expect(rules.map((r) => r.action)).toEqual(['permit', 'reject', 'mark', 'deny', 'permit']);
    expect(rules[0]).toMatchObject({ protocol: { value: 6, mask: 255 }, dstPort: { lo: 80, hi: 443 }, tcpFlags: { value: 2, mask: 0x12 }, origin: 'acl.txt:2' });
    expect(rules[2]).toMatchObject({ mark: 7, src: { length: 16 } });
  });

  it('matches first by priority, then in order', () => {
    expect(firstMatch(rules, key('10.0.0.1', '192.0.2.5', 1234, 443, 6, 0x02))).toBe(0);
    expect(firstMatch(rules, key('10.0.0.1', '192.0.2.5', 1234, 443, 6, 0x12))).toBe(3); // SYN+ACK: not rule 0
    expect(firstMatch(rules, key('10.0.0.1', '8.8.8.8', 1234, 53, 17))).toBe(1);
    expect(firstMatch(rules, key('10.1.2.3', '8.8.8.8', 1, 2, 6))).toBe(2);
    expect(firstMatch(rules, key('10.9.9.9', '192.0.2.5', 1234, 443, 6, 0x02))).toBe(4); // priority 10 first
  });

  it('names file, line, column and field of every mistake', () => {
    const err = (text: string) => {
      try {
        parseRuleFile(text, 'f.txt');
      } catch (e) {
        return (e as Error & { code: string }).code === 'VNF_CONFIG' ? (e as Error).message : `wrong code: ${(e as Error).message}`;
      }
      return 'no error';
    };
    expect(err('allow src any')).toBe("f.txt:1:1: unknown action 'allow' (expected permit, deny, reject, count, mark, permit-and-track)");
    expect(err('\npermit dport 443-80')).toBe('f.txt:2:14: dport: inverted range 443-80');
    expect(err('permit src 10.0.0.0/33')).toBe("f.txt:1:12: src: prefix length in '10.0.0.0/33' must be 0 to 32");
    expect(err('permit src 10.0.0.300')).toBe("f.txt:1:12: src: '10.0.0.300' is not an IPv4 address or prefix");
    expect(err('permit  colour red')).toMatch(/^f\.txt:1:9: unknown field 'colour'/);
    expect(err('permit dport')).toBe('f.txt:1:8: dport: missing value');
    expect(err('permit dport 1 dport 2')).toBe('f.txt:1:16: dport given twice');
    expect(err('permit flags syn/fin')).toBe('f.txt:1:14: flags: flags value syn has bits outside the mask fin');
    expect(err('permit flags ping')).toBe("f.txt:1:14: flags: unknown TCP flag 'ping' (fin, syn, rst, psh, ack, urg, ece, cwr)");
    expect(err('mark src any')).toBe("f.txt:1:6: mark: expected a value 0..4294967295 after 'mark'");
    expect(err('permit src 10.0.0.0/8 dst 2001:db8::/32')).toBe('f.txt:1:1: src and dst must be the same IP version');
    expect(err('permit icmp-type 8 dport 1')).toBe('f.txt:1:1: a rule cannot match ICMP type/code and ports at once');
  });

  it('takes IPv6 prefixes and clears host bits', () => {
    const [r] = parseRuleFile('deny src 2001:db8::1/32 dst ::/0');
    expect(Array.from(r.src?.bytes ?? [])).toEqual([0x20, 0x01, 0x0d, 0xb8, ...new Array(12).fill(0)]);
    expect(r.dst?.length).toBe(0);
  });
});

describe('ClassBench import', () => {
  for (const name of ['acl1_1k', 'fw1_1k', 'ipc1_1k', 'acl1_10k', 'fw1_10k', 'ipc1_10k']) {
    itWhen(sharedMissing, `reads ${name} whole`, () => {
      const text = readFileSync(join(SHARED_TESTDATA, 'classbench', 'neurocuts', name), 'utf8');
      const rules = parseClassBench(text, name);
      expect(rules.length).toBe(text.split('\n').filter((l) => l.trim() !== '').length);
      // Host bits below the prefix length are cleared; a rule matches a point inside it.
      for (const r of rules.slice(0, 200)) {
        const k = {
          src: r.src?.bytes ?? new Uint8Array(4),
          dst: r.dst?.bytes ?? new Uint8Array(4),
          srcPort: r.srcPort?.lo ?? 0,
          dstPort: r.dstPort?.hi ?? 0,
          protocol: r.protocol?.value ?? 6,
        };
        expect(firstMatch(rules, k)).toBeLessThanOrEqual(rules.indexOf(r));
      }
    });
  }

  it('names the line of a broken rule', () => {
    expect(() => parseClassBench('@1.2.3.4/32\t5.6.7.8/32\t0 : 65535\t80 : 80\t0x06/0xFF\t0x0000/0x0000\n@1.2.3.4/40 x', 'cb')).toThrow(
      "cb:2: not a ClassBench rule ('@src/len dst/len lo : hi lo : hi proto/mask ...')",
    );
    expect(() => parseClassBench('@1.2.3.4/32\t5.6.7.8/32\t9 : 1\t80 : 80\t0x06/0xFF\t0x0000/0x0000', 'cb')).toThrow('cb:1: sport: inverted range 9-1');
  });
});
