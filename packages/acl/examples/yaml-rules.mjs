// YAML rule files, from this package's README. Run: node examples/yaml-rules.mjs
import { readFileSync } from 'node:fs';
import { firstMatch, parseYamlRules } from '@vnf-sdk/acl';

const file = new URL('firewall.yaml', import.meta.url);
const rules = parseYamlRules(readFileSync(file, 'utf8'), 'firewall.yaml');
const ip = (s) => Uint8Array.from(s.split('.').map(Number));
const packets = {
  'syn to 192.0.2.7:443': { src: ip('10.0.0.1'), dst: ip('192.0.2.7'), srcPort: 40000, dstPort: 443, protocol: 6, tcpFlags: 0x02 },
  'ping from 10.1.2.3': { src: ip('10.1.2.3'), dst: ip('192.0.2.7'), srcPort: 0, dstPort: 0, protocol: 1, icmpType: 8, icmpCode: 0 },
  'udp from 10.1.2.3 on port 2': { src: ip('10.1.2.3'), dst: ip('8.8.4.4'), srcPort: 1000, dstPort: 1000, protocol: 17, inPort: 2 },
};
for (const [name, k] of Object.entries(packets)) {
  const r = rules[firstMatch(rules, k)];
  console.log(`${name}: ${r.action}${r.action === 'mark' ? ` ${r.mark}` : ''} (${r.origin})`);
}
for (const bad of ['rules:\n  - action: permit\n    dstPort: 443-80', 'rules:\n  - action: permit\n    dport: 53']) {
  try {
    parseYamlRules(bad, 'bad.yaml');
  } catch (e) {
    console.log(`${e.code}: ${e.message}`);
  }
}
