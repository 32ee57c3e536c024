/**
 * @vnf-sdk/acl: ACL rules for vnf-sdk appliances. This release has the rule model (typed
 * API), the readable rule file format and YAML rule files with errors naming line and column, ClassBench
 * import, and the linear first-match reference; the native burst classifier and the
 * pipeline stage are in progress.
 * @packageDocumentation
 */
export { firstMatch, type PacketKey, ruleMatches } from './linear.js';
export { parseClassBench, parseRuleFile } from './rule-file.js';
export { formatYamlRules, parseYamlRules } from './yaml-rules.js';
export { type AclAction, type AclRule, checkRule, type Masked, type Prefix, parsePrefix, parseRange, type Range } from './rules.js';
