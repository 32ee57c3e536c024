import { Burst, Mempool } from '@vnf-sdk/core';
import { BurstParser, build, type Decoded, decode, type LayerSpec } from '@vnf-sdk/protocols';
import { expect } from 'vitest';
import { Nat, type NatConfig, NatStage } from '../src/index.js';

export const IN = 0; // port ids of the fake graph: 'in' (inside), 'out' (outside)
export const OUT = 1;

const ETH = { type: 'ethernet', src: '02:00:00:00:00:01', dst: '02:00:00:00:00:02' } as const;

/** An Ethernet frame around the given IPv4 layers. */
export function frame(...layers: LayerSpec[]): Uint8Array {
  return build([ETH, ...layers]);
}
export const udp = (src: string, sport: number, dst: string, dport: number, payload = 'hello') =>
  frame({ type: 'ipv4', src, dst }, { type: 'udp', srcPort: sport, dstPort: dport }, { type: 'payload', data: new TextEncoder().encode(payload) });
export const tcp = (src: string, sport: number, dst: string, dport: number, flags: number) =>
  frame({ type: 'ipv4', src, dst }, { type: 'tcp', srcPort: sport, dstPort: dport, flags });
export const echo = (src: string, dst: string, id: number, reply = false) =>
  frame({ type: 'ipv4', src, dst }, { type: 'icmp', icmpType: reply ? 0 : 8, code: 0, rest: (id << 16) | 1 }, { type: 'payload', data: new Uint8Array(8) });

export const SYN = 0x02;
export const SYN_ACK = 0x12;
export const ACK = 0x10;

/**
 * A translator and its stage driven directly: `send(port, frames)` runs one burst through the
 * stage and returns, per frame, where it went ('next', 'local', 'other' or 'drop:<reason>')
 * with the bytes that left.
 */
export class Rig {
  readonly pool = Mempool.create({ name: 'nat-test', count: 1024, bufferSize: 2048, hugepages: 'never' });
  readonly nat: Nat;
  readonly stage: NatStage;
  private readonly names: string[] = [];
  private readonly parser = new BurstParser(this.pool);

  constructor(config: NatConfig) {
    this.nat = Nat.create(config);
    this.stage = new NatStage({ nat: this.nat.id, outside: ['out'], next: 'stage:route', local: 'stage:local', other: 'stage:other' });
    const id = (s: string) => {
      let i = this.names.indexOf(s);
      if (i < 0) i = this.names.push(s) - 1;
      return i;
    };
    this.stage.init({
      pool: this.pool,
      port: (n) => id(`port:${n}`),
      stage: (n) => id(n === 'route' ? 'next' : n),
      drop: (r) => id(`drop:${r}`),
      portNames: ['in', 'out'],
    });
  }

  send(port: number, frames: Uint8Array[]): { to: string; bytes: Uint8Array; decoded: Decoded }[] {
    const burst = new Burst(512);
    if (this.pool.alloc(burst, frames.length) !== frames.length) throw new Error('pool empty');
    frames.forEach((f, i) => {
      this.pool.write(burst.ids[i], f);
      this.pool.meta.port[burst.ids[i]] = port;
    });
    this.parser.parse(burst);
    this.stage.process(burst);
    const out = [];
    for (let i = 0; i < burst.count; i++) {
      const b = burst.ids[i];
      const bytes = this.pool.read(b);
      out.push({ to: this.names[this.pool.meta.next[b]], bytes, decoded: decode(bytes) });
    }
    this.pool.put(burst);
    return out;
  }

  /** One frame through; returns where it went and its decoded layers. */
  one(port: number, f: Uint8Array) {
    return this.send(port, [f])[0];
  }

  close(): void {
    this.stage.close();
    this.nat.close();
    this.pool.close();
  }
}

type AnyLayer = Decoded['layers'][number];
/** The layer types whose `type` can be T (IcmpLayer is 'icmp' | 'icmpv6'). */
type Dist<L, T> = L extends { type: infer U } ? (T extends U ? L : never) : never;
/** The n-th layer of a type, or a test failure. */
export function layer<T extends AnyLayer['type']>(d: Decoded, type: T, nth = 0): Dist<AnyLayer, T> {
  const found = d.layers.filter((l) => l.type === type);
  expect(found.length, `layer ${type}#${nth} in ${d.layers.map((l) => l.type).join('/')}`).toBeGreaterThan(nth);
  return found[nth] as Dist<AnyLayer, T>;
}

/** The packet an ICMP error quotes (after Ethernet, the outer IPv4 header and 8 bytes of ICMP), decoded. */
export function quoted(bytes: Uint8Array): Decoded {
  const ihl = (bytes[14]! & 15) * 4;
  return decode(bytes.slice(14 + ihl + 8), 228 /* LINKTYPE.IPV4: raw IPv4 */);
}

/** Every checksum in the packet (both IP headers and transports of an ICMP error too) is valid. */
export function expectChecksumsValid(d: Decoded): void {
  expect(d.error).toBeUndefined();
  for (const l of d.layers) {
    if ('checksumValid' in l && l.checksumValid !== null) expect(l.checksumValid, `${l.type} checksum`).toBe(true);
  }
}
