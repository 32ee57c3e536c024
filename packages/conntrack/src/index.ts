/**
 * @vnf-sdk/conntrack: connection tracking for vnf-sdk appliances: a native session table
 * shared by every worker (nf_conntrack's TCP state machine, UDP and ICMP pseudo-states,
 * per-state timeouts, incremental expiry) and the pipeline stage, in lookup or track mode.
 * @packageDocumentation
 */
export { ConntrackStage, type ConntrackStageOptions } from './stage.js';
export { type ConntrackStats, ConntrackTable, type ConntrackTableOptions, type ConntrackTimeouts } from './table.js';
