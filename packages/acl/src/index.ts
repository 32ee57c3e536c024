/**
 * @vnf-sdk/acl: ACLs for vnf-sdk appliances: the rule model (typed API), text and YAML
 * rule files with errors naming line and column, ClassBench import, tables compiled into the
 * native burst classifier and swapped atomically while traffic flows, the pipeline stage,
 * and the linear first-match reference.
 * @packageDocumentation
 */
export { firstMatch, type PacketKey, ruleMatches } from './linear.js';
export { parseClassBench, parseRuleFile } from './rule-file.js';
export { formatYamlRules, parseYamlRules } from './yaml-rules.js';
export { type AclAction, type AclRule, checkRule, type Masked, type Prefix, parsePrefix, parseRange, type Range } from './rules.js';
export { type AclRejectOptions, AclStage, type AclStageCounters, type AclStageOptions } from './stage.js';
export { type AclLoadOptions, type AclRuleCounter, type AclSetStats, AclTable, encodeRules } from './table.js';
