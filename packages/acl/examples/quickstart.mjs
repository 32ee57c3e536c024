// The example from this package's README. Run: node examples/quickstart.mjs
import { firstMatch, parseRuleFile } from '@vnf-sdk/acl';

const rules = parseRuleFile(
  `# action [field value]...
permit proto tcp dst 192.0.2.0/24 dport 80-443 flags syn/syn,ack
reject proto udp dport 53
deny src any`,
  'example.acl',
);
const ip = (s) => Uint8Array.from(s.split('.').map(Number));
const syn = { src: ip('10.0.0.1'), dst: ip('192.0.2.7'), srcPort: 40000, dstPort: 443, protocol: 6, tcpFlags: 0x02 };
const dns = { src: ip('10.0.0.1'), dst: ip('8.8.8.8'), srcPort: 5353, dstPort: 53, protocol: 17 };
for (const [name, k] of [['syn to 192.0.2.7:443', syn], ['dns to 8.8.8.8', dns]]) {
  const i = firstMatch(rules, k);
  console.log(`${name}: ${rules[i].action} (${rules[i].origin})`);
}
try {
  parseRuleFile('permit dport 443-80', 'bad.acl');
} catch (e) {
  console.log(`${e.code}: ${e.message}`);
}
