import type { Burst } from '@vnf-sdk/core';
import type { Stage, StageContext } from '@vnf-sdk/pipeline';
import { BurstParser, PTYPE, Reason, reasonName, reasonOf } from '@vnf-sdk/protocols';
import { type Router, STAGES } from '../router.js';
import { PortMap } from './ports.js';

/** The drop reason of a malformed packet: 'malformed:' and the parser's reason, dashed ('malformed:truncated-ipv4'). */
export const malformedReason = (code: number) => `malformed:${reasonName(code).replace(/ /g, '-')}`;

/**
 * First stage: parses the burst (ptype and header offsets into the pool's metadata, which
 * the next stages read) and sorts it: ARP to `arp`, IPv4 to `ip4` (or, when configured, to
 * the first of `ct-lookup`, `acl`, `nat` in that order). Drops:
 * - `malformed:<reason>`: the parser's reason (truncated-l2, bad-ihl, bad-total-length, ...);
 * - `vlan-tagged`: the router's ports are untagged;
 * - `not-ipv4`: anything else, IPv6 included;
 * - `unknown-port`: received on a port that is not one of the router's.
 */
export class InputStage implements Stage {
  readonly name = STAGES.input;
  private parser!: BurstParser;
  private meta!: StageContext['pool']['meta'];
  private ports!: PortMap;
  private toArp = 0;
  private toIp4 = 0;
  private notIpv4 = 0;
  private vlan = 0;
  private unknownPort = 0;
  /** Drop step by malformed reason code (0..127). */
  private readonly malformed = new Int32Array(128);

  constructor(private readonly router: Router) {}

  init(ctx: StageContext): void {
    this.parser = new BurstParser(ctx.pool);
    this.meta = ctx.pool.meta;
    this.ports = new PortMap(this.router, ctx, this.name);
    this.toArp = ctx.stage(STAGES.arp);
    // With an ACL, IPv4 packets are filtered before they are routed (or answered); with
    // conntrack too, packets of tracked sessions pass the session lookup and skip the ACL.
    const c = this.router.config;
    this.toIp4 = ctx.stage(c.acl ? (c.conntrack ? STAGES.ctLookup : STAGES.acl) : c.nat ? STAGES.nat : STAGES.ip4);
    this.notIpv4 = ctx.drop('not-ipv4');
    this.vlan = ctx.drop('vlan-tagged');
    this.unknownPort = ctx.drop('unknown-port');
    const other = ctx.drop('malformed:other');
    this.malformed.fill(other);
    for (const code of Object.values(Reason)) if (code !== 0) this.malformed[code] = ctx.drop(malformedReason(code));
  }

  process(burst: Burst): void {
    this.parser.parse(burst);
    const ids = burst.ids;
    const { ptype, next, port } = this.meta;
    const byId = this.ports.byId;
    for (let i = 0; i < burst.count; i++) {
      const b = ids[i];
      const t = ptype[b];
      if (t & PTYPE.MALFORMED) next[b] = this.malformed[reasonOf(t)];
      else if (byId[port[b]] < 0) next[b] = this.unknownPort;
      else if (t & PTYPE.VLAN) next[b] = this.vlan;
      else if (t & PTYPE.IPV4) next[b] = this.toIp4;
      else if (t & PTYPE.ARP) next[b] = this.toArp;
      else next[b] = this.notIpv4;
    }
  }
}
