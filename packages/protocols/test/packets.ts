// Packet assembly for tests: a few lines, enough to reach every branch of the parser.
export const cat = (...parts: number[][]) => parts.flat();
export const u16 = (v: number) => [v >> 8, v & 0xff];
export const eth = (type: number, payload: number[]) => cat([2, 0, 0, 0, 0, 1, 2, 0, 0, 0, 0, 2], u16(type), payload);
export const vlan = (id: number, type: number, payload: number[]) => cat(u16(id), u16(type), payload);
export function ipv4(proto: number, payload: number[], { options = 0, frag = 0, total = -1 } = {}): number[] {
  const ihl = 5 + options;
  const len = total >= 0 ? total : ihl * 4 + payload.length;
  return cat([0x40 | ihl, 0], u16(len), [0, 1], u16(frag), [64, proto, 0, 0], [10, 0, 0, 1], [10, 0, 0, 2], new Array(options * 4).fill(1), payload);
}
export function ipv6(next: number, payload: number[]): number[] {
  return cat([0x60, 0, 0, 0], u16(payload.length), [next, 64], new Array(15).fill(0), [1], new Array(15).fill(0), [2], payload);
}
export const ext6 = (next: number, payload: number[], units = 0) => cat([next, units], new Array(6 + units * 8).fill(0), payload);
export const tcp = (opts = 0, payload: number[] = []) => cat(u16(1234), u16(80), [0, 0, 0, 1, 0, 0, 0, 0], [(5 + opts) << 4, 0x02], u16(1024), [0, 0, 0, 0], new Array(opts * 4).fill(1), payload);
export const udp = (dport: number, payload: number[] = []) => cat(u16(5000), u16(dport), u16(8 + payload.length), [0, 0], payload);
export const icmp = () => [8, 0, 0, 0, 0, 1, 0, 1];
export const vxlan = (inner: number[]) => cat([0x08, 0, 0, 0], [0, 0x12, 0x34, 0], inner);
export const gtpu = (inner: number[], { type = 255, ext = false } = {}) =>
  ext
    ? cat([0x34, type], u16(inner.length + 8), [0, 0, 0, 7], [0, 0, 0, 0x85], [1, 0x10, 0x09, 0], inner)
    : cat([0x30, type], u16(inner.length), [0, 0, 0, 7], inner);

