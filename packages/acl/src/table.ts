import {
  ACL_RECORD_WORDS,
  type AclLoadOptions,
  AclRecord,
  type AclSetStats,
  AclVerdict,
  NativeAclTable,
  VnfError,
} from '@vnf-sdk/core';
import { type AclRule, checkRule, type Prefix } from './rules.js';

export type { AclLoadOptions, AclSetStats } from '@vnf-sdk/core';

/** Packets and bytes one rule matched since its set was loaded (over every worker). */
export interface AclRuleCounter {
  /** Index of the rule in the list given to `load`. */
  rule: number;
  /** Where it came from ('rules.txt:12'), when known. */
  origin?: string;
  /** The rule's action, when known. */
  action?: AclRule['action'];
  packets: number;
  bytes: number;
}

const ACTION_CODE: Record<Exclude<AclRule['action'], 'count'>, number> = {
  permit: AclVerdict.permit,
  deny: AclVerdict.deny,
  reject: AclVerdict.reject,
  mark: AclVerdict.mark,
  'permit-and-track': AclVerdict.permitAndTrack,
};

function where(rule: AclRule, i: number): string {
  return rule.origin ?? `rules[${i}]`;
}

function familyOf(rule: AclRule): 0 | 4 | 6 {
  return (rule.src?.version ?? rule.dst?.version ?? 0) as 0 | 4 | 6;
}

function putPrefix(out: Uint32Array, at: number, p: Prefix | undefined): number {
  if (!p) return 0;
  const b = p.bytes;
  for (let w = 0; w < b.length / 4; w++) {
    out[at + w] = ((b[4 * w] << 24) | (b[4 * w + 1] << 16) | (b[4 * w + 2] << 8) | b[4 * w + 3]) >>> 0;
  }
  return p.length;
}

/**
 * Checks every rule (throwing VNF_CONFIG naming its origin) and encodes the list as the
 * native classifier's records, in decision order: higher `priority` first, then list order.
 * Exported for tests and tools.
 */
export function encodeRules(rules: readonly AclRule[]): Uint32Array {
  const order = rules.map((_, i) => i);
  rules.forEach((r, i) => {
    checkRule(r, where(r, i));
  });
  order.sort((a, b) => (rules[b].priority ?? 0) - (rules[a].priority ?? 0) || a - b);
  const out = new Uint32Array(rules.length * ACL_RECORD_WORDS);
  order.forEach((i, k) => {
    const r = rules[i];
    const at = k * ACL_RECORD_WORDS;
    const family = familyOf(r);
    out[at + AclRecord.id] = i;
    out[at + AclRecord.family] = family;
    out[at + AclRecord.srcLen] = putPrefix(out, at + AclRecord.src, r.src);
    out[at + AclRecord.dstLen] = putPrefix(out, at + AclRecord.dst, r.dst);
    let proto = r.protocol;
    let sport = r.srcPort ?? { lo: 0, hi: 0xffff };
    let dport = r.dstPort ?? { lo: 0, hi: 0xffff };
    if (r.icmpType !== undefined || r.icmpCode !== undefined) {
      // ICMP type and code travel in the port fields (as in rte_acl): the rule must say
      // which ICMP, or a TCP packet with that source port would match.
      const icmp = family === 6 ? 58 : family === 4 ? 1 : undefined;
      if (!proto && icmp === undefined) {
        throw new VnfError('VNF_CONFIG', `${where(r, i)}: an ICMP type/code rule needs an address or protocol icmp/icmpv6`);
      }
      proto ??= { value: icmp as number, mask: 0xff };
      if (proto.mask !== 0xff || (proto.value !== 1 && proto.value !== 58)) {
        throw new VnfError('VNF_CONFIG', `${where(r, i)}: icmpType/icmpCode need protocol icmp (1) or icmpv6 (58)`);
      }
      sport = r.icmpType === undefined ? { lo: 0, hi: 255 } : { lo: r.icmpType, hi: r.icmpType };
      dport = r.icmpCode === undefined ? { lo: 0, hi: 255 } : { lo: r.icmpCode, hi: r.icmpCode };
    }
    out[at + AclRecord.srcPortLo] = sport.lo;
    out[at + AclRecord.srcPortHi] = sport.hi;
    out[at + AclRecord.dstPortLo] = dport.lo;
    out[at + AclRecord.dstPortHi] = dport.hi;
    out[at + AclRecord.proto] = proto?.value ?? 0;
    out[at + AclRecord.protoMask] = proto?.mask ?? 0;
    out[at + AclRecord.tcpFlags] = r.tcpFlags?.value ?? 0;
    out[at + AclRecord.tcpFlagsMask] = r.tcpFlags?.mask ?? 0;
    out[at + AclRecord.vlanLo] = r.vlan ?? 0;
    out[at + AclRecord.vlanHi] = r.vlan ?? 0xffff;
    out[at + AclRecord.inPortLo] = r.inPort ?? 0;
    out[at + AclRecord.inPortHi] = r.inPort ?? 0xffff;
    out[at + AclRecord.list] = r.action === 'count' ? 1 : 0;
    out[at + AclRecord.action] = r.action === 'count' ? 0 : ACTION_CODE[r.action];
    out[at + AclRecord.mark] = r.action === 'mark' ? (r.mark as number) : 0;
  });
  return out;
}

/**
 * A rule table shared by every worker of a process: the rules compiled into the native
 * classifier, swapped atomically by {@link load} while traffic flows. Create it on the
 * main thread, give {@link id} to the pipeline's options, and let each worker's
 * {@link AclStage} read it.
 *
 * ```ts
 * const table = await AclTable.create(parseRuleFile(text, 'fw.rules'), { noMatch: 'deny' });
 * console.log(table.stats()); // rules, memoryBytes, buildSeconds, ...
 * await table.load(newRules);  // compiled off the JS thread, then swapped in
 * ```
 */
export class AclTable {
  private rules: readonly AclRule[] = [];
  private generation = 0;

  private constructor(private readonly native: NativeAclTable) {}

  /** A table with its first rule set. Rejects with VNF_CONFIG when a rule is invalid. */
  static async create(rules: readonly AclRule[], options: AclLoadOptions = {}): Promise<AclTable> {
    const t = new AclTable(NativeAclTable.create());
    try {
      await t.load(rules, options);
    } catch (err) {
      t.close();
      throw err;
    }
    return t;
  }

  /** Another handle on table `id`, e.g. in a worker, to read its stats and counters. */
  static attach(id: number): AclTable {
    return new AclTable(NativeAclTable.attach(id));
  }

  /** Process-wide id: what {@link AclStage} needs. */
  get id(): number {
    return this.native.id;
  }

  /**
   * Checks and compiles `rules`, then swaps them in: bursts classified from now on use them;
   * no burst is classified by a mix of sets or a half-built one. Bad rules reject the
   * promise with VNF_CONFIG naming the rule's origin; the current set stays.
   */
  async load(rules: readonly AclRule[], options: AclLoadOptions = {}): Promise<AclSetStats> {
    for (const k of ['noMatch', 'nonIp'] as const) {
      const v = options[k];
      if (v !== undefined && v !== 'permit' && v !== 'deny') {
        throw new VnfError('VNF_CONFIG', `AclTable.load: options.${k} must be 'permit' or 'deny', got '${String(v)}'`);
      }
    }
    const records = encodeRules(rules);
    let stats: AclSetStats;
    try {
      stats = await this.native.load(records, options);
    } catch (err) {
      // The native check names "rule <id>": give the rule's origin instead.
      const m = /^(?:\w+ list: )?rule (\d+): (.*)$/s.exec((err as Error).message);
      if (m && rules[Number(m[1])]) throw new VnfError('VNF_CONFIG', `${where(rules[Number(m[1])], Number(m[1]))}: ${m[2]}`);
      throw err;
    }
    this.rules = rules;
    this.generation = stats.generation;
    return stats;
  }

  /** Figures of the current set: rules, memory, build time, tree shape. */
  stats(): AclSetStats {
    const s = this.native.stats();
    if (!s) throw new VnfError('VNF_CLOSED', 'AclTable: no rule set loaded');
    return s;
  }

  /**
   * What each rule of the current set matched, over every worker, and what no rule
   * decided (`unmatched`: no match, non-IP, malformed). Rules are known by origin only on
   * the handle that loaded them.
   */
  counters(): { rules: AclRuleCounter[]; unmatched: { packets: number; bytes: number } } {
    const c = this.native.counters();
    if (!c) throw new VnfError('VNF_CLOSED', 'AclTable: no rule set loaded');
    const n = c.counters.length / 2 - 1;
    const known = c.generation === this.generation;
    const rules: AclRuleCounter[] = [];
    for (let i = 0; i < n; i++) {
      const r = known ? this.rules[i] : undefined;
      rules.push({ rule: i, origin: r?.origin, action: r?.action, packets: c.counters[2 * i], bytes: c.counters[2 * i + 1] });
    }
    return { rules, unmatched: { packets: c.counters[2 * n], bytes: c.counters[2 * n + 1] } };
  }

  /** Drops this handle; readers keep the table alive until they close. */
  close(): void {
    this.native.close();
  }
}
