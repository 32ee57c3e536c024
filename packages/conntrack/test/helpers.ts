import { Burst, type Mempool } from '@vnf-sdk/core';
import { BurstParser, build } from '@vnf-sdk/protocols';

export const SYN = 0x02;
export const ACK = 0x10;
export const SYN_ACK = 0x12;
export const FIN = 0x01;

/** An Ethernet/IPv4/TCP frame. */
export function tcp(src: string, sport: number, dst: string, dport: number, flags: number): Uint8Array {
  return build([
    { type: 'ethernet', src: '02:00:00:00:00:01', dst: '02:00:00:00:00:02' },
    { type: 'ipv4', src, dst },
    { type: 'tcp', srcPort: sport, dstPort: dport, flags },
  ]);
}

/** An Ethernet/IPv4/UDP frame. */
export function udp(src: string, sport: number, dst: string, dport: number): Uint8Array {
  return build([{ type: 'ethernet' }, { type: 'ipv4', src, dst }, { type: 'udp', srcPort: sport, dstPort: dport }]);
}

/** An Ethernet/IPv4/ICMP echo request (type 8) or reply (type 0) with identifier `id`. */
export function echo(src: string, dst: string, id: number, type = 8): Uint8Array {
  return build([{ type: 'ethernet' }, { type: 'ipv4', src, dst }, { type: 'icmp', icmpType: type, rest: (id << 16) | 1 }]);
}

/**
 * An Ethernet/IPv4 ICMP error from `src` to `dst` (default destination port unreachable)
 * quoting the IP header and the first 8 bytes after it of `frame` (an Ethernet frame), or
 * `quoteBytes` of it.
 */
export function icmpError(src: string, dst: string, frame: Uint8Array, opts: { type?: number; code?: number; quoteBytes?: number } = {}): Uint8Array {
  const ip = frame.subarray(14);
  const ihl = (ip[0] & 0x0f) * 4;
  const quote = ip.slice(0, opts.quoteBytes ?? ihl + 8);
  return build([
    { type: 'ethernet' },
    { type: 'ipv4', src, dst },
    { type: 'icmp', icmpType: opts.type ?? 3, code: opts.code ?? 3 },
    { type: 'payload', data: quote },
  ]);
}

/** Step numbers of a fake pipeline: each name gets its own. */
export function steps() {
  const names: string[] = [];
  const id = (s: string) => {
    let i = names.indexOf(s);
    if (i < 0) i = names.push(s) - 1;
    return i;
  };
  const ctx = (pool: Mempool) => ({
    pool,
    port: (n: string) => id(`port:${n}`),
    stage: (n: string) => id(`stage:${n}`),
    drop: (r: string) => id(`drop:${r}`),
    portNames: ['in', 'out'],
  });
  return { id, name: (i: number) => names[i], ctx };
}

/** Writes frames into a fresh burst of `pool` and parses them. */
export function load(pool: Mempool, frames: Uint8Array[]): Burst {
  const burst = new Burst(Math.max(1, frames.length));
  if (pool.alloc(burst, frames.length) !== frames.length) throw new Error('pool empty');
  frames.forEach((f, i) => {
    pool.write(burst.ids[i], f);
  });
  new BurstParser(pool).parse(burst);
  return burst;
}
