// The output parsers and the naming scheme: no root needed.
import { describe, expect, it } from 'vitest';
import { parseIperf3, parseLinkInfo, parseLinkStats, parseNetnsList, parseNsName, parsePing, parseProcNetDev } from '../src/index.js';

describe('parsePing', () => {
  it('reads counts, TTLs and the average round trip', () => {
    const r = parsePing(
      'PING 10.231.2.2 (10.231.2.2) 56(84) bytes of data.\n' +
        '64 bytes from 10.231.2.2: icmp_seq=1 ttl=63 time=0.190 ms\n' +
        '64 bytes from 10.231.2.2: icmp_seq=2 ttl=63 time=0.091 ms\n\n' +
        '--- 10.231.2.2 ping statistics ---\n' +
        '3 packets transmitted, 2 received, 33.3333% packet loss, time 408ms\n' +
        'rtt min/avg/max/mdev = 0.084/0.121/0.190/0.048 ms\n',
    );
    expect(r).toMatchObject({ transmitted: 3, received: 2, lossPercent: 33.3333, ttl: 63, ttls: [63, 63], rttAvgMs: 0.121 });
  });

  it('reads a run where nothing answered', () => {
    const r = parsePing(
      'PING 10.231.2.2 (10.231.2.2) 56(84) bytes of data.\nFrom 10.231.1.2 icmp_seq=1 Destination Host Unreachable\n\n' +
        '--- 10.231.2.2 ping statistics ---\n3 packets transmitted, 0 received, +3 errors, 100% packet loss, time 2040ms\n',
    );
    expect(r).toMatchObject({ transmitted: 3, received: 0, lossPercent: 100, ttl: undefined, ttls: [], rttAvgMs: undefined });
  });

  it('refuses output without a summary', () => {
    expect(() => parsePing('ping: connect: Network is unreachable\n')).toThrow(/no summary line.*unreachable/);
  });
});

describe('parseIperf3', () => {
  it('reads a TCP report', () => {
    const r = parseIperf3(
      JSON.stringify({
        start: { test_start: { protocol: 'TCP' } },
        end: {
          sum_sent: { seconds: 2, bytes: 100, bits_per_second: 4e9, retransmits: 7 },
          sum_received: { seconds: 2, bytes: 99, bits_per_second: 3.9e9 },
        },
      }),
    );
    expect(r).toMatchObject({ protocol: 'tcp', bitsPerSecond: 3.9e9, sentBitsPerSecond: 4e9, retransmits: 7, bytes: 99 });
  });

  it('reads a UDP report (iperf 3.12 layout: sum, sum_sent, sum_received)', () => {
    const r = parseIperf3(
      JSON.stringify({
        start: { test_start: { protocol: 'UDP' } },
        end: {
          sum: { seconds: 1, bytes: 3170752, bits_per_second: 25360715, lost_packets: 20302, packets: 49543, lost_percent: 40.9 },
          sum_sent: { seconds: 1, bytes: 3170752, bits_per_second: 25360715, lost_packets: 20302, packets: 49543, lost_percent: 40.9 },
          sum_received: { seconds: 1, bytes: 1862912, bits_per_second: 14897679, lost_packets: 20302, packets: 49410, lost_percent: 40.9 },
        },
      }),
    );
    expect(r).toMatchObject({ protocol: 'udp', packets: 49543, lostPackets: 20302, bitsPerSecond: 14897679, sentBitsPerSecond: 25360715 });
  });

  it('turns an error report into an exception', () => {
    expect(() => parseIperf3('{"start":{},"end":{},"error":"unable to connect to server: Connection refused"}')).toThrow(
      /iperf3: unable to connect/,
    );
    expect(() => parseIperf3('iperf3: error')).toThrow(/did not print JSON/);
  });
});

describe('ip -j parsers', () => {
  it('reads link statistics', () => {
    const s = parseLinkStats(
      JSON.stringify([{ ifname: 'eth0', stats64: { rx: { bytes: 10, packets: 2, errors: 0, dropped: 1 }, tx: { bytes: 20, packets: 3, errors: 0, dropped: 0 } } }]),
    );
    expect(s).toEqual({ rxPackets: 2, rxBytes: 10, rxDropped: 1, rxErrors: 0, txPackets: 3, txBytes: 20, txDropped: 0, txErrors: 0 });
  });

  it('reads link state and addresses', () => {
    const l = parseLinkInfo(
      JSON.stringify([
        {
          ifname: 'p0',
          flags: ['BROADCAST', 'MULTICAST', 'PROMISC', 'UP', 'LOWER_UP'],
          mtu: 1500,
          operstate: 'UP',
          address: '02:00:0a:e7:01:01',
          addr_info: [
            { family: 'inet', local: '10.231.1.1', prefixlen: 24 },
            { family: 'inet6', local: 'fd00:e7:1::1', prefixlen: 64 },
          ],
        },
      ]),
    );
    expect(l).toEqual({
      ifname: 'p0',
      up: true,
      lowerUp: true,
      operstate: 'UP',
      promisc: true,
      mtu: 1500,
      mac: '02:00:0a:e7:01:01',
      ipv4: ['10.231.1.1/24'],
      ipv6: ['fd00:e7:1::1/64'],
    });
  });

  it('reads /proc/net/dev', () => {
    const t =
      'Inter-|   Receive                                                |  Transmit\n' +
      ' face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs drop fifo colls carrier compressed\n' +
      '    lo:   10386     138    0    0    0     0          0         0    10386     138    0    0    0     0       0          0\n' +
      '  eth0: 1200 20 1 2 0 0 0 0 3400 30 3 4 0 0 0 0\n';
    expect(parseProcNetDev(t, 'eth0')).toEqual({ rxBytes: 1200, rxPackets: 20, rxErrors: 1, rxDropped: 2, txBytes: 3400, txPackets: 30, txErrors: 3, txDropped: 4 });
    expect(() => parseProcNetDev(t, 'eth1')).toThrow(/no interface eth1/);
  });

  it('reads namespace lists with and without ids', () => {
    expect(parseNetnsList('vnft1-0-h2 (id: 3)\nvnft1-0-rt\n\n')).toEqual(['vnft1-0-h2', 'vnft1-0-rt']);
  });
});

describe('namespace names', () => {
  it('carry the creating pid, a serial and the role, and nothing else matches', () => {
    expect(parseNsName('vnft4242-7-rt')).toEqual({ pid: 4242, serial: 7, role: 'rt' });
    expect(parseNsName('vnftx4242-7-rt')).toBeNull();
    expect(parseNsName('gx19940')).toBeNull();
    expect(parseNsName('other4242-7-rt')).toBeNull();
    expect(parseNsName('other4242-7-rt', 'other')).toEqual({ pid: 4242, serial: 7, role: 'rt' });
  });
});
