import { Burst, Mempool } from '@vnf-sdk/core';
import { AclStage, AclTable, parseRuleFile } from '@vnf-sdk/acl';
import { build } from '@vnf-sdk/protocols';
import { afterAll, describe, expect, it } from 'vitest';
import { ConntrackStage, ConntrackTable } from '../src/index.js';
import { ACK, echo, FIN, icmpError, load, SYN, SYN_ACK, steps, tcp, udp } from './helpers.js';

const pool = Mempool.create({ count: 1024, name: 'ct-stage-test' });
afterAll(() => pool.close());

const C = '10.0.0.1';
const S = '192.0.2.80';

/** Runs frames through a stage one burst, returning where each packet went. */
function through(stage: ConntrackStage | AclStage, name: (i: number) => string, frames: Uint8Array[]): string[] {
  const burst = load(pool, frames);
  try {
    stage.process(burst);
    return Array.from(burst.ids.subarray(0, burst.count), (b) => name(pool.meta.next[b]));
  } finally {
    pool.put(burst);
  }
}

describe('ConntrackStage, packet bytes to next step', () => {
  it('tracks a TCP handshake in both directions and reports it in stats', () => {
    const table = ConntrackTable.create({ capacity: 1024 });
    const s = steps();
    const track = new ConntrackStage({ table: table.id, mode: 'track', next: 'port:out' });
    track.init(s.ctx(pool));
    expect(through(track, s.name, [tcp(C, 40000, S, 80, SYN)])).toEqual(['port:out']);
    expect(table.stats()).toMatchObject({ created: 1, inUse: 1, capacity: 1024 });
    expect(through(track, s.name, [tcp(S, 80, C, 40000, SYN_ACK)])).toEqual(['port:out']);
    expect(through(track, s.name, [tcp(C, 40000, S, 80, ACK)])).toEqual(['port:out']);
    const st = table.stats();
    expect(st).toMatchObject({ created: 1, inUse: 1, invalid: 0, hits: 2 });
    expect(st.memoryBytes).toBeGreaterThan(0);
    // Established: a SYN in the original direction is now accepted without a state change
    // (nf_conntrack's "ignore"), not a new session.
    expect(through(track, s.name, [tcp(C, 40000, S, 80, SYN)])).toEqual(['port:out']);
    expect(table.stats()).toMatchObject({ created: 1, ignored: 1 });
    track.close();
    table.close();
  });

  it('lookup mode: the reply of a tracked flow passes, an unsolicited packet goes to miss', () => {
    const table = ConntrackTable.create({ capacity: 64 });
    const s = steps();
    const track = new ConntrackStage({ table: table.id, mode: 'track', next: 'port:out' });
    const lookup = new ConntrackStage({ table: table.id, mode: 'lookup', next: 'port:in', miss: 'stage:acl', name: 'ct-in' });
    track.init(s.ctx(pool));
    lookup.init(s.ctx(pool));
    expect(through(track, s.name, [udp(C, 5000, S, 53)])).toEqual(['port:out']);
    expect(through(lookup, s.name, [udp(S, 53, C, 5000), udp(S, 53, C, 5001), udp('198.51.100.1', 53, C, 5000)])).toEqual([
      'port:in',
      'stage:acl',
      'stage:acl',
    ]);
    expect(table.stats()).toMatchObject({ created: 1, inUse: 1 });
    track.close();
    lookup.close();
    table.close();
  });

  it('drops invalid TCP flags as invalid and malformed packets as malformed; passes untrackable ones untracked', () => {
    const table = ConntrackTable.create({ capacity: 64 });
    const s = steps();
    const track = new ConntrackStage({ table: table.id, mode: 'track', next: 'port:out' });
    track.init(s.ctx(pool));
    const v6 = build([{ type: 'ethernet' }, { type: 'ipv6', src: '2001:db8::1', dst: '2001:db8::2' }, { type: 'udp', srcPort: 1, dstPort: 2 }]);
    const frag = build([{ type: 'ethernet' }, { type: 'ipv4', src: C, dst: S, protocol: 17, fragmentOffset: 64 }, { type: 'payload', data: new Uint8Array(16) }]);
    const redirect = build([{ type: 'ethernet' }, { type: 'ipv4', src: S, dst: C }, { type: 'icmp', icmpType: 9 }]); // router advertisement
    const cut = tcp(C, 1, S, 80, SYN).subarray(0, 14 + 20 + 10); // TCP header cut short
    expect(through(track, s.name, [tcp(C, 1, S, 80, SYN | FIN), v6, frag, redirect, cut])).toEqual([
      'drop:invalid',
      'port:out',
      'port:out',
      'port:out',
      'drop:malformed',
    ]);
    expect(table.stats()).toMatchObject({ created: 0, inUse: 0 });
    track.close();
    table.close();
  });

  it('lookup mode: what the table cannot track goes to miss (the policy decides), malformed is dropped', () => {
    const table = ConntrackTable.create({ capacity: 64 });
    const s = steps();
    const lookup = new ConntrackStage({ table: table.id, mode: 'lookup', next: 'port:in', miss: 'stage:acl' });
    lookup.init(s.ctx(pool));
    const v6 = build([{ type: 'ethernet' }, { type: 'ipv6', src: '2001:db8::1', dst: '2001:db8::2' }, { type: 'udp', srcPort: 1, dstPort: 2 }]);
    const arp = build([{ type: 'ethernet' }, { type: 'arp', senderIp: C, targetIp: S }]);
    const cut = udp(C, 1, S, 53).subarray(0, 14 + 20 + 4);
    expect(through(lookup, s.name, [v6, arp, cut, udp(C, 1, S, 53)])).toEqual(['stage:acl', 'stage:acl', 'drop:malformed', 'stage:acl']);
    lookup.close();
    table.close();
  });

  it('a clock option drives time: a UDP session lives its timeout, then misses and is expired', () => {
    const table = ConntrackTable.create({ capacity: 64, timeouts: { udpUnreplied: 30 } });
    const s = steps();
    let now = 1_000;
    const clock = () => now;
    const track = new ConntrackStage({ table: table.id, mode: 'track', next: 'port:out', clock });
    const lookup = new ConntrackStage({ table: table.id, mode: 'lookup', next: 'port:in', miss: 'stage:acl', clock });
    track.init(s.ctx(pool));
    lookup.init(s.ctx(pool));
    expect(through(track, s.name, [udp(C, 5000, S, 53)])).toEqual(['port:out']);
    now += 29_999;
    expect(through(lookup, s.name, [udp(S, 53, C, 5000)])).toEqual(['port:in']); // replied: 120 s from now
    now += 119_999;
    expect(through(lookup, s.name, [udp(C, 5000, S, 53)])).toEqual(['port:in']);
    now += 120_000;
    expect(through(lookup, s.name, [udp(C, 5000, S, 53)])).toEqual(['stage:acl']);
    table.expire(4096, now); // the stage's own per-burst sweep may have freed it already
    expect(table.stats()).toMatchObject({ inUse: 0, removed: expect.objectContaining({ 'expired-udp': 1 }) });
    expect(() => new ConntrackStage({ table: table.id, mode: 'track', next: 'port:out', clock: 5 as never })).toThrow(/clock must be/);
    track.close();
    lookup.close();
    table.close();
  });

  it('ICMP errors about a tracked UDP flow are related, in both directions; others are invalid', () => {
    const table = ConntrackTable.create({ capacity: 64 });
    const s = steps();
    const track = new ConntrackStage({ table: table.id, mode: 'track', next: 'port:out' });
    track.init(s.ctx(pool));
    const query = udp(C, 5000, S, 53);
    const answer = udp(S, 53, C, 5000);
    expect(through(track, s.name, [query])).toEqual(['port:out']);
    // The server answers "port unreachable" about the query (the quote is the original direction).
    expect(through(track, s.name, [icmpError(S, C, query)])).toEqual(['port:out']);
    // The client's side sends one about a server packet (the quote is the reply direction).
    expect(through(track, s.name, [answer, icmpError(C, S, answer)])).toEqual(['port:out', 'port:out']);
    // A router on the path, time exceeded.
    expect(through(track, s.name, [icmpError('203.0.113.1', C, query, { type: 11, code: 0 })])).toEqual(['port:out']);
    // About no session: another port, another host; quoting an ICMP error; a quote cut short.
    const other = udp(C, 5001, S, 53);
    const stray = udp('198.51.100.7', 53, C, 5000);
    expect(
      through(track, s.name, [
        icmpError(S, C, other),
        icmpError(C, '198.51.100.7', stray),
        icmpError(S, C, icmpError(C, S, query)),
        icmpError(S, C, query, { quoteBytes: 24 }),
      ]),
    ).toEqual(['drop:invalid', 'drop:invalid', 'drop:invalid', 'drop:malformed']);
    // Errors are not tracked: no session created, none refreshed or counted as a packet.
    expect(table.stats()).toMatchObject({ created: 1, inUse: 1 });
    track.close();
    table.close();
  });

  it('ICMP errors about a TCP connection and an echo request are related; lookup mode sends them to `related`', () => {
    const table = ConntrackTable.create({ capacity: 64 });
    const s = steps();
    const track = new ConntrackStage({ table: table.id, mode: 'track', next: 'port:out' });
    const lookup = new ConntrackStage({ table: table.id, mode: 'lookup', next: 'port:in', miss: 'stage:acl', related: 'stage:icmp', name: 'ct-in' });
    track.init(s.ctx(pool));
    lookup.init(s.ctx(pool));
    const syn = tcp(C, 40000, S, 80, SYN);
    const ping = echo(C, S, 7);
    expect(through(track, s.name, [syn, ping])).toEqual(['port:out', 'port:out']);
    expect(
      through(lookup, s.name, [
        icmpError('203.0.113.1', C, syn, { code: 1 }), // host unreachable, from a router
        icmpError(S, C, ping, { type: 11, code: 0 }),
        icmpError(S, C, tcp(C, 40001, S, 80, SYN)), // no such connection
        icmpError(S, C, echo(C, S, 8)), // no such echo
        echo(S, C, 7, 0), // the echo reply itself: a packet of the session
      ]),
    ).toEqual(['stage:icmp', 'stage:icmp', 'drop:invalid', 'drop:invalid', 'port:in']);
    // The same from the track stage: related goes to next by default.
    expect(through(track, s.name, [icmpError(S, C, syn)])).toEqual(['port:out']);
    expect(table.stats()).toMatchObject({ created: 2, inUse: 2 });
    expect(() => new ConntrackStage({ table: table.id, mode: 'track', next: 'port:out', related: 'icmp' })).toThrow(/related must be/);
    track.close();
    lookup.close();
    table.close();
  });

  it('a full table drops new flows as table-full while existing ones pass', () => {
    const table = ConntrackTable.create({ capacity: 2 });
    const s = steps();
    const track = new ConntrackStage({ table: table.id, mode: 'track', next: 'port:out' });
    track.init(s.ctx(pool));
    expect(through(track, s.name, [tcp(C, 1, S, 80, SYN), tcp(C, 2, S, 80, SYN)])).toEqual(['port:out', 'port:out']);
    expect(through(track, s.name, [tcp(C, 3, S, 80, SYN), tcp(S, 80, C, 1, SYN_ACK), tcp(S, 80, C, 2, SYN_ACK)])).toEqual([
      'drop:table-full',
      'port:out',
      'port:out',
    ]);
    expect(table.stats()).toMatchObject({ created: 2, inUse: 2, refusedFull: 1 });
    track.close();
    table.close();
  });

  it('refuses a burst holding an index outside the pool, naming it and its position', () => {
    const table = ConntrackTable.create({ capacity: 16 });
    const s = steps();
    const track = new ConntrackStage({ table: table.id, mode: 'track', next: 'port:out' });
    track.init(s.ctx(pool));
    const burst = new Burst(4);
    burst.ids[0] = 0;
    burst.ids[1] = pool.count + 5;
    burst.count = 2;
    expect(() => track.process(burst)).toThrow(
      expect.objectContaining({ code: 'VNF_INDEX_RANGE', message: expect.stringContaining(`buffer index ${pool.count + 5} at burst position 1`) }),
    );
    track.close();
    table.close();
  });

  it('rejects bad options and bad table configurations as VNF_CONFIG', () => {
    expect(() => ConntrackTable.create({ capacity: 0 })).toThrow(/VNF_CONFIG|capacity/);
    expect(() => ConntrackTable.create({ capacity: 2 ** 27 + 1 })).toThrow('capacity: must be 1 .. 2^27');
    expect(() => new ConntrackStage({ table: 1, mode: 'lookup', next: 'port:out' })).toThrow(/lookup mode needs miss/);
    expect(() => new ConntrackStage({ table: 1, mode: 'track', next: 'out' })).toThrow(/next must be/);
    expect(() => new ConntrackStage({ table: 1, mode: 'both' as never, next: 'port:out' })).toThrow(/mode must be/);
  });
});

describe('conntrack and the ACL: a stateful firewall', () => {
  it('lookup -> (miss) acl -> (permit-and-track) track: return traffic passes, unsolicited inbound is denied', async () => {
    const acl = await AclTable.create(parseRuleFile('permit-and-track proto tcp dport 80\n', 'fw.acl'), { noMatch: 'deny' });
    const table = ConntrackTable.create({ capacity: 1024 });
    const s = steps();
    const lookup = new ConntrackStage({ table: table.id, mode: 'lookup', next: 'port:out', miss: 'stage:acl', name: 'ct-lookup' });
    const aclStage = new AclStage({ table: acl.id, permit: 'port:out', track: 'stage:ct-track' });
    const track = new ConntrackStage({ table: table.id, mode: 'track', next: 'port:out', name: 'ct-track' });
    for (const st of [lookup, aclStage, track]) st.init(s.ctx(pool));
    const chain: [number, ConntrackStage | AclStage][] = [
      [s.id('stage:ct-lookup'), lookup],
      [s.id('stage:acl'), aclStage],
      [s.id('stage:ct-track'), track],
    ];
    // The pipeline: every packet enters at ct-lookup, each stage gets the packets sent to it.
    const run = (frames: Uint8Array[]): string[] => {
      const burst = load(pool, frames);
      try {
        for (let i = 0; i < burst.count; i++) pool.meta.next[burst.ids[i]] = chain[0][0];
        for (const [step, stage] of chain) {
          const sub = new Burst(burst.count);
          for (let i = 0; i < burst.count; i++) if (pool.meta.next[burst.ids[i]] === step) sub.ids[sub.count++] = burst.ids[i];
          if (sub.count > 0) stage.process(sub);
        }
        return Array.from(burst.ids.subarray(0, burst.count), (b) => s.name(pool.meta.next[b]));
      } finally {
        pool.put(burst);
      }
    };
    // Outbound SYN to port 80: misses the session table, the ACL admits and tracks it.
    expect(run([tcp(C, 40000, S, 80, SYN)])).toEqual(['port:out']);
    expect(table.stats()).toMatchObject({ created: 1 });
    // The server's answer (source port 80, destination 40000): no rule admits it, the session does.
    expect(run([tcp(S, 80, C, 40000, SYN_ACK)])).toEqual(['port:out']);
    expect(run([tcp(C, 40000, S, 80, ACK), tcp(S, 80, C, 40000, ACK)])).toEqual(['port:out', 'port:out']);
    // Unsolicited inbound: the same server from another port, or another host: denied by the ACL.
    expect(run([tcp(S, 81, C, 40000, SYN_ACK), tcp('198.51.100.9', 80, C, 40000, ACK), udp(S, 53, C, 40000)])).toEqual([
      'drop:no-match',
      'drop:no-match',
      'drop:no-match',
    ]);
    expect(table.stats()).toMatchObject({ created: 1, inUse: 1 });
    for (const st of [lookup, aclStage, track]) st.close();
    acl.close();
    table.close();
  });
});
