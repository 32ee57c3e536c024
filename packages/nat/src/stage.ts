import { type Burst, type Mempool, NAT_ACTIONS, NatAction, NativeNatReader, VnfError } from '@vnf-sdk/core';

/** Options of {@link NatStage}. */
export interface NatStageOptions {
  /** Stage name (default 'nat'). */
  name?: string;
  /** The translator: a `Nat.id` (from the main thread). */
  nat: number;
  /** Names of the outside ports; packets from every other port are inside traffic. */
  outside: string[];
  /** Where translated packets go (both directions): 'stage:<name>' or 'port:<name>'. */
  next: string;
  /** Where packets for the appliance itself go (default: next). */
  local?: string;
  /** Where packets that are not IPv4 go (default: next). */
  other?: string;
}

const STEP = /^(stage|port):./;

/** Drop reasons, by action. */
const DROPS: [number, string][] = [
  [NatAction.held, 'fragment-held'],
  [NatAction.noMapping, 'no-mapping'],
  [NatAction.filtered, 'filtered'],
  [NatAction.poolExhausted, 'pool-exhausted'],
  [NatAction.tableFull, 'table-full'],
  [NatAction.invalid, 'invalid'],
  [NatAction.wrongSide, 'wrong-side'],
  [NatAction.noSession, 'no-session'],
  [NatAction.malformed, 'malformed'],
  [NatAction.unsupported, 'unsupported'],
  [NatAction.fragmentLimit, 'fragment-limit'],
  [NatAction.fragmentTimeout, 'fragment-timeout'],
];

/**
 * A pipeline stage that translates each burst through a NAT44 translator in one native call:
 * inside packets get their source translated (and their destination, hairpinning to another
 * inside host's mapping), outside packets to a mapping, port forward or static address get
 * their destination translated, ICMP errors are translated with the packet they quote.
 * Translated packets go to `next` (route them there: the destination may have changed);
 * packets for the appliance itself to `local`; every refused packet is dropped with its reason
 * ('no-mapping', 'filtered', 'pool-exhausted', 'table-full', 'invalid', ...).
 *
 * Fragments that arrive before their first are copied by the translator ('fragment-held') and
 * come back, translated, in a later burst of this stage once the first has been seen.
 * Packets must have been parsed (`BurstParser`) by an earlier stage.
 */
export class NatStage {
  readonly name: string;
  private reader: NativeNatReader | null = null;

  constructor(private readonly options: NatStageOptions) {
    if (!options || typeof options !== 'object') throw new VnfError('VNF_CONFIG', 'NatStage: options are required');
    this.name = options.name ?? 'nat';
    const where = `NatStage '${this.name}'`;
    if (!Number.isInteger(options.nat) || options.nat <= 0) throw new VnfError('VNF_CONFIG', `${where}: nat must be a Nat id, got ${String(options.nat)}`);
    if (!Array.isArray(options.outside) || options.outside.length === 0) throw new VnfError('VNF_CONFIG', `${where}: outside must name at least one port`);
    for (const [key, v] of [['next', options.next], ['local', options.local], ['other', options.other]] as const) {
      if ((key === 'next' || v !== undefined) && (typeof v !== 'string' || !STEP.test(v))) {
        throw new VnfError('VNF_CONFIG', `${where}: ${key} must be 'stage:<name>' or 'port:<name>', got '${String(v)}'`);
      }
    }
  }

  init(ctx: { pool: Mempool; port(name: string): number; stage(name: string): number; drop(reason: string): number; portNames: readonly string[] }): void {
    const step = (s: string) => (s.startsWith('stage:') ? ctx.stage(s.slice(6)) : ctx.port(s.slice(5)));
    const outside = this.options.outside.map((name) => {
      const id = ctx.portNames.indexOf(name);
      if (id < 0) throw new VnfError('VNF_CONFIG', `NatStage '${this.name}': outside port '${name}' is not a port of the graph (${ctx.portNames.join(', ')})`);
      return id;
    });
    const next = step(this.options.next);
    const steps = new Uint16Array(NAT_ACTIONS);
    steps[NatAction.toOutside] = next;
    steps[NatAction.toInside] = next;
    steps[NatAction.hairpin] = next;
    steps[NatAction.local] = this.options.local ? step(this.options.local) : next;
    steps[NatAction.notIpv4] = this.options.other ? step(this.options.other) : next;
    for (const [a, reason] of DROPS) steps[a] = ctx.drop(reason);
    this.reader = new NativeNatReader(this.options.nat, ctx.pool, steps, outside);
  }

  process(burst: Burst): void {
    const reader = this.reader;
    if (!reader) throw new VnfError('VNF_CLOSED', `NatStage '${this.name}': not initialised (init) or closed`);
    reader.process(burst);
  }

  close(): void {
    this.reader?.close();
    this.reader = null;
  }
}
