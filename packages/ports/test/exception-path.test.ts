import { Burst, Mempool } from '@vnf-sdk/core';
import { build, decode, findLayer } from '@vnf-sdk/protocols';
import { expectVnfError, itWhen } from '@vnf-sdk/test-support';
import { afterAll, describe, expect, it } from 'vitest';
import { ExceptionPath } from '../src/index.js';
import { deleteLink, frames, icmpType, netMissing, rxUntil, sh } from './net.js';

const X = `vnfx${process.pid}`;
const APPLIANCE_MAC = '02:00:00:00:0d:01';
const NEIGHBOUR_MAC = '02:00:00:00:0d:02';

const arpRequest = build([
  { type: 'ethernet', src: NEIGHBOUR_MAC, dst: 'ff:ff:ff:ff:ff:ff' },
  { type: 'arp', operation: 1, senderMac: NEIGHBOUR_MAC, senderIp: '10.78.0.2', targetMac: '00:00:00:00:00:00', targetIp: '10.78.0.1' },
]);
const ping = build([
  { type: 'ethernet', src: NEIGHBOUR_MAC, dst: APPLIANCE_MAC },
  { type: 'ipv4', src: '10.78.0.2', dst: '10.78.0.1' },
  { type: 'icmp', icmpType: 8, code: 0, rest: 0x00010001 },
]);
const transit = build([
  { type: 'ethernet', src: NEIGHBOUR_MAC, dst: APPLIANCE_MAC },
  { type: 'ipv4', src: '10.78.0.2', dst: '198.51.100.7' },
  { type: 'udp', srcPort: 1, dstPort: 2 },
]);
const ospf = build([
  { type: 'ethernet', src: NEIGHBOUR_MAC, dst: '01:00:5e:00:00:05' },
  { type: 'ipv4', src: '10.78.0.2', dst: '224.0.0.5', protocol: 89 },
  { type: 'payload', data: new Uint8Array(24) },
]);

describe('ExceptionPath', () => {
  afterAll(() => {
    if (!netMissing) deleteLink(X);
  });

  itWhen(netMissing, 'an ARP request punted to the tap gets the host ARP reply collected back; ping too', async () => {
    const pool = Mempool.create({ count: 256, name: 'exc-test' });
    const ex = new ExceptionPath(pool, { name: X, mac: APPLIANCE_MAC, addresses: ['10.78.0.1', '2001:db8::1'] });
    try {
      sh(`sysctl -qw net.ipv6.conf.${X}.disable_ipv6=1; ip addr add 10.78.0.1/24 dev ${X}`);
      const burst = new Burst(32);
      pool.alloc(burst, 4);
      const sent = [arpRequest, ping, transit, ospf];
      for (let i = 0; i < sent.length; i++) pool.write(burst.ids[i], sent[i]);
      expect(Array.from(burst.ids.subarray(0, 4), (id) => ex.wantsHost(pool, id))).toEqual([true, true, false, true]);
      // The data plane keeps the transit packet; the rest goes to the host.
      const keep = burst.ids[2];
      burst.ids.copyWithin(2, 3, 4);
      burst.count = 3;
      expect(ex.punt(burst)).toBe(3);
      const back = new Burst(32);
      back.ids[0] = keep;
      back.count = 1;
      pool.put(back);

      const replies: ReturnType<typeof decode>[] = [];
      const end = Date.now() + 2000;
      while (replies.length < 2 && Date.now() < end) {
        await rxUntil({ rxBurst: (b: Burst) => ex.collect(b) }, back, 1, 0, 100);
        for (const f of frames(pool, back)) {
          const d = decode(f);
          if (findLayer(d, 'arp')?.operation === 2 || icmpType(d) === 0) replies.push(d);
        }
        pool.put(back);
      }
      const arp = replies.map((d) => findLayer(d, 'arp')).find((a) => a);
      expect(arp).toMatchObject({ operation: 2, senderMac: APPLIANCE_MAC, senderIp: '10.78.0.1', targetMac: NEIGHBOUR_MAC, targetIp: '10.78.0.2' });
      const echo = replies.find((d) => icmpType(d) === 0);
      expect(echo && findLayer(echo, 'ipv4')).toMatchObject({ src: '10.78.0.1', dst: '10.78.0.2' });
      expect(echo && findLayer(echo, 'ethernet')).toMatchObject({ src: APPLIANCE_MAC, dst: NEIGHBOUR_MAC });
      expect(ex.tap.stats().txPackets).toBe(3);
    } finally {
      ex.close();
      expect(pool.stats().inUse).toBe(0);
      pool.close();
    }
  });

  it('rejects an address that is not one', () => {
    const pool = Mempool.create({ count: 64 });
    expectVnfError(() => new ExceptionPath(pool, { addresses: ['10.0.0.300'] }), 'VNF_INVALID_ARGUMENT', '10.0.0.300');
    pool.close();
  });
});
