import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expectVnfError } from '@vnf-sdk/test-support';
import { describe, expect, it } from 'vitest';
import { DEFAULTS, loadConfig, parseConfig } from '../src/config.js';
import { ipv4ToNumber } from '../src/lpm.js';
import { testConfigJson } from './helpers.js';

const ip = (s: string) => ipv4ToNumber(s)!;

type Obj = Record<string, unknown>;
/** The test config's JSON, loosely typed so that tests can break it any way. */
interface Cfg extends Obj {
  ports: Obj[];
  routes: Obj[];
  neighbours: Obj & { static: Obj[] };
  icmp: Obj;
}

/** The test config with `edit` applied to its JSON. */
function withEdit(edit: (c: Cfg) => unknown) {
  const c = testConfigJson() as unknown as Cfg;
  edit(c);
  return c;
}
const port = (c: Cfg, i: number) => c.ports[i]!;
const bad = (edit: Parameters<typeof withEdit>[0], ...message: string[]) => expectVnfError(() => parseConfig(withEdit(edit), '/etc/router'), 'VNF_CONFIG', ...message);

describe('config', () => {
  it('parses a good config, resolving pcap paths and filling defaults', () => {
    const c = parseConfig(testConfigJson(), '/etc/router');
    expect(c.ports[0]).toMatchObject({ name: 'p0', address: ip('10.0.1.1'), prefixLength: 24, network: ip('10.0.1.0'), mtu: 1500 });
    expect(c.ports[0]!.driver).toEqual({ type: 'pcap', rx: '/etc/router/in.pcap', tx: '/etc/router/out-p0.pcap', timing: 'fast' });
    expect(c.ports[1]!.driver).toEqual({ type: 'pcap', rx: null, tx: '/etc/router/out-p1.pcap', timing: 'fast' });
    expect(c.ports[1]!.mtu).toBe(1400);
    expect(c.routes).toEqual([{ network: ip('10.9.0.0'), prefixLength: 16, gateway: ip('10.0.2.2'), port: 1 }]);
    expect(c.neighbours).toMatchObject({ queueLength: DEFAULTS.queueLength, capacity: DEFAULTS.capacity, retryMs: 1000 });
    expect(c.neighbours.static).toHaveLength(1);
    expect(c).toMatchObject({ workers: 1, poolSize: 8192, icmp: { ratePerSecond: 10, burst: 5 } });
  });

  it('takes the other drivers and routes by port', () => {
    const c = parseConfig(
      {
        ports: [
          { name: 'a', driver: 'afPacket', ifname: 'veth0', mac: '02:00:00:00:00:01', address: '192.168.1.1/24' },
          { name: 'b', driver: 'afXdp', ifname: 'veth1', queue: 2, mac: '02:00:00:00:00:02', address: '192.168.2.1/30' },
          { name: 'c', driver: 'tap', ifname: 'tap0', mac: '02-00-00-00-00-03', address: '192.168.3.1/32' },
        ],
        routes: [
          { prefix: '0.0.0.0/0', gateway: '192.168.1.254' },
          { prefix: '172.16.0.0/12', port: 'b' },
          { prefix: '172.31.0.0/16', port: 'b', gateway: '192.168.2.2' },
        ],
        workers: 1,
        poolSize: 16384,
        icmp: { ratePerSecond: 0.5 },
      },
      '.',
    );
    expect(c.ports.map((p) => p.driver)).toEqual([
      { type: 'afPacket', ifname: 'veth0' },
      { type: 'afXdp', ifname: 'veth1', queue: 2, xdpMode: 'auto', ringSize: 1024 },
      { type: 'tap', ifname: 'tap0' },
    ]);
    expect(c.routes.map((r) => [r.port, r.gateway])).toEqual([
      [0, ip('192.168.1.254')],
      [1, null],
      [1, ip('192.168.2.2')],
    ]);
    expect(c.icmp).toEqual({ ratePerSecond: 0.5, burst: DEFAULTS.icmpBurst });
  });

  it('takes vhost-user ports (our device, our driver) with their socket paths resolved', () => {
    const c = parseConfig(
      {
        ports: [
          { name: 'vm', driver: 'vhostUser', path: 'vm1.sock', mac: '02:00:00:00:00:01', address: '10.0.2.1/24' },
          { name: 'sw', driver: 'vhostUser', path: '/run/sw.sock', client: true, queues: 4, mac: '02:00:00:00:00:02', address: '10.0.3.1/24' },
          { name: 'up', driver: 'virtioUser', path: '/run/vhost/up.sock', mac: '02:00:00:00:00:03', address: '10.0.4.1/24' },
          { name: 'dn', driver: 'virtioUser', path: 'dn.sock', server: true, packed: true, queues: 2, mac: '02:00:00:00:00:04', address: '10.0.5.1/24' },
        ],
      },
      '/etc/router',
    );
    expect(c.ports.map((p) => p.driver)).toEqual([
      { type: 'vhostUser', path: '/etc/router/vm1.sock', client: false, queues: 1 },
      { type: 'vhostUser', path: '/run/sw.sock', client: true, queues: 4 },
      { type: 'virtioUser', path: '/run/vhost/up.sock', server: false, packed: false, queues: 1 },
      { type: 'virtioUser', path: '/etc/router/dn.sock', server: true, packed: true, queues: 2 },
    ]);
  });

  describe('errors name the field', () => {
    it('top level', () => {
      expectVnfError(() => parseConfig(null), 'VNF_CONFIG', 'config: must be an object');
      expectVnfError(() => parseConfig([]), 'VNF_CONFIG', 'config: must be an object');
      bad((c) => (c.colour = 'red'), 'colour: unknown key (expected ports, routes, neighbours, icmp, workers, poolSize, burstSize, acl, conntrack, nat)');
      bad((c) => (c.ports = []), 'ports: must be a non-empty array');
      bad((c) => ((c as Record<string, unknown>).ports = 'p0'), "ports: must be a non-empty array of ports, got 'p0'");
      bad((c) => (c.ports = Array.from({ length: 257 }, () => c.ports[0]!)), 'ports: at most 256 ports');
      bad((c) => (c.workers = 0), 'workers: must be an integer from 1 to 64, got 0');
      bad((c) => (c.workers = 1.5), 'workers: must be an integer');
      bad((c) => (c.workers = 2), 'workers: 2 workers would each keep their own neighbour table');
      bad((c) => (c.poolSize = 100), 'poolSize: must be an integer from 1024');
    });

    it('acl', () => {
      const dir = mkdtempSync(join(tmpdir(), 'router-acl-'));
      writeFileSync(join(dir, 'fw.rules'), 'permit proto tcp dport 22\ndeny proto udp dport 99-9\n');
      writeFileSync(join(dir, 'ok.yaml'), 'rules:\n  - action: permit\n    protocol: tcp\n');
      const good = parseConfig({ ...testConfigJson(), acl: { rules: 'ok.yaml', noMatch: 'permit' } }, dir);
      expect(good.acl).toEqual({ rules: join(dir, 'ok.yaml'), noMatch: 'permit', rejectRate: DEFAULTS.icmpRate });
      expect(parseConfig(testConfigJson(), dir).acl).toBeNull();
      const acl = (a: unknown, ...message: string[]) => expectVnfError(() => parseConfig({ ...testConfigJson(), acl: a }, dir), 'VNF_CONFIG', ...message);
      acl({ rules: 'fw.rules' }, `${join(dir, 'fw.rules')}:2:`, 'inverted range 99-9');
      acl({ rules: 'ok.yaml', noMatch: 'drop' }, "acl.noMatch: must be 'permit' or 'deny', got 'drop'");
      acl({ rules: 'ok.yaml', colour: 1 }, 'acl.colour: unknown key');
      acl({}, 'acl.rules: must be a non-empty string');
      acl({ rules: 'ok.yaml', rejectRate: -1 }, 'acl.rejectRate: must be an integer');
      expectVnfError(() => parseConfig({ ...testConfigJson(), acl: { rules: 'missing.rules' } }, dir), 'VNF_IO', 'missing.rules: cannot read the ACL rule file');
    });

    it('conntrack', () => {
      const dir = mkdtempSync(join(tmpdir(), 'router-ct-'));
      writeFileSync(join(dir, 'fw.rules'), 'permit-and-track src 10.0.1.0/24\n');
      const acl = { rules: 'fw.rules' };
      const good = parseConfig({ ...testConfigJson(), acl, conntrack: { sessions: 1000, timeouts: { udpUnreplied: 2, established: 3600 } } }, dir);
      expect(good.conntrack).toEqual({ sessions: 1000, timeouts: { udpUnreplied: 2, established: 3600 } });
      expect(parseConfig({ ...testConfigJson(), acl, conntrack: {} }, dir).conntrack).toEqual({ sessions: DEFAULTS.conntrackSessions, timeouts: {} });
      expect(parseConfig({ ...testConfigJson(), acl }, dir).conntrack).toBeNull();
      const ct = (c: unknown, ...message: string[]) => expectVnfError(() => parseConfig({ ...testConfigJson(), acl, conntrack: c }, dir), 'VNF_CONFIG', ...message);
      expectVnfError(() => parseConfig({ ...testConfigJson(), conntrack: {} }, dir), 'VNF_CONFIG', 'conntrack: needs acl');
      ct([], 'conntrack: must be an object, got []');
      ct({ size: 10 }, 'conntrack.size: unknown key (expected sessions, timeouts)');
      ct({ sessions: 0 }, 'conntrack.sessions: must be an integer from 1 to 134217728, got 0');
      ct({ sessions: 2 ** 27 + 1 }, 'conntrack.sessions: must be an integer from 1 to 134217728, got 134217729');
      ct({ sessions: '1000' }, "conntrack.sessions: must be an integer from 1 to 134217728, got '1000'");
      ct({ timeouts: 30 }, 'conntrack.timeouts: must be an object, got 30');
      ct({ timeouts: { udp: 30 } }, 'conntrack.timeouts.udp: unknown key (expected synSent, synRecv, established,', 'udpUnreplied, udpReplied, icmp');
      ct({ timeouts: { established: 0 } }, 'conntrack.timeouts.established: must be an integer from 1 to 4294967295, got 0');
      ct({ timeouts: { icmp: 1.5 } }, 'conntrack.timeouts.icmp: must be an integer');
    });

    it('nat', () => {
      const good = parseConfig({ ...testConfigJson(), nat: { outside: ['p1'], pool: ['192.0.2.1'], log: 'nat.log' } }, '/etc/router');
      expect(good.nat?.outside).toEqual(['p1']);
      expect(good.nat?.log).toBe('/etc/router/nat.log');
      expect(good.nat?.translator.local).toEqual(good.ports.map((p) => `${p.address >>> 24}.${(p.address >>> 16) & 255}.${(p.address >>> 8) & 255}.${p.address & 255}`));
      expect(parseConfig(testConfigJson()).nat).toBeNull();
      const nat = (n: unknown, ...message: string[]) => expectVnfError(() => parseConfig({ ...testConfigJson(), nat: n }), 'VNF_CONFIG', ...message);
      nat({ outside: ['p9'], pool: ['192.0.2.1'] }, "nat.outside[0]: 'p9' is not a port (ports: p0, p1)");
      nat({ outside: ['p1'], inside: ['p1'], pool: ['192.0.2.1'] }, "nat.inside: 'p1' is also an outside port");
      nat({ outside: ['p1'], pool: [] }, 'nat.pool: is empty');
      nat({ outside: ['p1'], pool: ['192.0.2.0/30', '192.0.2.3'] }, "nat.pool[1]: '192.0.2.3' overlaps pool[0]");
      nat({ outside: ['p1'], pool: ['192.0.2.1'], ports: '1-70000' }, "nat.ports: '1-70000' is outside 1-65535");
      nat({ outside: ['p1'], pool: ['192.0.2.1'], colour: 1 }, 'nat.colour: unknown key');
      const dir = mkdtempSync(join(tmpdir(), 'router-nat-'));
      writeFileSync(join(dir, 'fw.rules'), 'permit\n');
      expectVnfError(
        () => parseConfig({ ...testConfigJson(), acl: { rules: 'fw.rules' }, conntrack: {}, nat: { outside: ['p1'], pool: ['192.0.2.1'] } }, dir),
        'VNF_CONFIG',
        'conntrack: not with nat',
      );
    });

    it('ports', () => {
      bad((c) => (c.ports[1] = 'p1' as never), "ports[1]: must be an object, got 'p1'");
      bad((c) => (port(c, 0).driver = 'dpdk'), "ports[0].driver: must be one of pcap, afPacket, afXdp, tap, vhostUser, virtioUser, got 'dpdk'");
      bad((c) => delete port(c, 0).driver, 'ports[0].driver: must be one of', 'got nothing');
      bad((c) => (port(c, 0).ifname = 'eth0'), "ports[0].ifname: unknown key for a 'pcap' port (expected name, driver, mac, address, mtu, rx, tx, timing)");
      bad((c) => (port(c, 0).speed = 10), 'ports[0].speed: unknown key');
      bad((c) => delete port(c, 0).name, 'ports[0].name: must be a non-empty string, got nothing');
      bad((c) => (port(c, 0).name = 'p 0'), "ports[0].name: 'p 0' must be 1 to 32 letters");
      bad((c) => (port(c, 1).name = 'p0'), "ports[1].name: 'p0' is also the name of ports[0]");
      bad((c) => {
        delete port(c, 0).rx;
        delete port(c, 0).tx;
      }, "ports[0]: a 'pcap' port needs rx");
      bad((c) => (port(c, 0).rx = ''), 'ports[0].rx: must be a non-empty string');
      bad((c) => (port(c, 0).tx = 3), 'ports[0].tx: must be a non-empty string, got 3');
      bad((c) => (port(c, 0).timing = 'slow'), "ports[0].timing: must be 'fast' or 'capture', got 'slow'");
      bad((c) => (c.ports[0] = { name: 'x', driver: 'afPacket', mac: '02:00:00:00:00:09', address: '10.0.1.1/24' }), 'ports[0].ifname: must be a non-empty string');
      bad((c) => (c.ports[0] = { name: 'x', driver: 'tap', ifname: 'a-very-long-interface', mac: '02:00:00:00:00:09', address: '10.0.1.1/24' }), "ports[0].ifname: 'a-very-long-interface' is not an interface name");
      bad((c) => (c.ports[0] = { name: 'x', driver: 'afXdp', ifname: 'veth0', queue: -1, mac: '02:00:00:00:00:09', address: '10.0.1.1/24' }), 'ports[0].queue: must be an integer from 0 to 1023, got -1');
      bad((c) => (c.ports[0] = { name: 'x', driver: 'afXdp', ifname: 'veth0', rx: 'a', mac: '02:00:00:00:00:09', address: '10.0.1.1/24' }), "ports[0].rx: unknown key for a 'afXdp' port");
      bad((c) => (c.ports[0] = { name: 'x', driver: 'afXdp', ifname: 'veth0', xdpMode: 'skb', mac: '02:00:00:00:00:09', address: '10.0.1.1/24' }), "ports[0].xdpMode: must be 'auto', 'native' or 'generic', got 'skb'");
      bad((c) => (c.ports[0] = { name: 'x', driver: 'afXdp', ifname: 'veth0', ringSize: 1000, mac: '02:00:00:00:00:09', address: '10.0.1.1/24' }), 'ports[0].ringSize: must be a power of two from 64 to 32768, got 1000');
      bad((c) => (c.burstSize = 512), 'burstSize: must be an integer from 1 to 256, got 512');
    });

    it('vhost-user ports', () => {
      const vu = (extra: Obj) => (c: Cfg) => (c.ports[0] = { name: 'vm', mac: '02:00:00:00:00:09', address: '10.0.1.1/24', ...extra });
      bad(vu({ driver: 'vhostUser' }), 'ports[0].path: must be a non-empty string, got nothing');
      bad(vu({ driver: 'vhostUser', path: '' }), "ports[0].path: must be a non-empty string, got ''");
      bad(vu({ driver: 'vhostUser', path: `/run/${'x'.repeat(110)}.sock` }), 'ports[0].path:', 'longer than a UNIX socket path may be (107 bytes)');
      bad(vu({ driver: 'vhostUser', path: 'a.sock', client: 'yes' }), "ports[0].client: must be true or false, got 'yes'");
      bad(vu({ driver: 'vhostUser', path: 'a.sock', queues: 0 }), 'ports[0].queues: must be an integer from 1 to 8, got 0');
      bad(vu({ driver: 'vhostUser', path: 'a.sock', queues: 9 }), 'ports[0].queues: must be an integer from 1 to 8, got 9');
      bad(vu({ driver: 'vhostUser', path: 'a.sock', server: true }), "ports[0].server: unknown key for a 'vhostUser' port (expected name, driver, mac, address, mtu, path, client, queues)");
      bad(vu({ driver: 'vhostUser', path: 'a.sock', ifname: 'eth0' }), "ports[0].ifname: unknown key for a 'vhostUser' port");
      bad(vu({ driver: 'virtioUser', path: 'a.sock', client: true }), "ports[0].client: unknown key for a 'virtioUser' port (expected name, driver, mac, address, mtu, path, server, packed, queues)");
      bad(vu({ driver: 'virtioUser', path: 'a.sock', packed: 1 }), 'ports[0].packed: must be true or false, got 1');
      bad(vu({ driver: 'virtioUser', path: 'a.sock', server: null }), 'ports[0].server: must be true or false, got null');
      bad(vu({ driver: 'virtioUser', path: 'a.sock', queues: 1.5 }), 'ports[0].queues: must be an integer from 1 to 8, got 1.5');
      // Two ports on one socket: the second would fail to listen (or talk to itself) at run time.
      bad((c) => {
        vu({ driver: 'vhostUser', path: 'a.sock' })(c);
        c.ports[1] = { name: 'vm2', driver: 'virtioUser', path: '/etc/router/a.sock', mac: '02:00:00:00:00:0a', address: '10.0.2.1/24' };
        c.routes = [];
        c.neighbours.static = [];
      }, "ports[1].path: '/etc/router/a.sock' is also the socket of ports[0]");
    });

    it('port addresses, MACs and MTUs', () => {
      bad((c) => (port(c, 1).address = '10.0.2.300/24'), "ports[1].address: '10.0.2.300/24' is not an IPv4 prefix");
      bad((c) => (port(c, 1).address = '10.0.2.1'), "ports[1].address: '10.0.2.1' is not an IPv4 prefix");
      bad((c) => (port(c, 1).address = '10.0.2.1/33'), 'is not an IPv4 prefix');
      bad((c) => (port(c, 1).address = '10.0.2.1/0'), "a port's prefix length must be 1 to 32");
      bad((c) => (port(c, 1).address = '10.0.2.0/24'), "ports[1].address: '10.0.2.0/24' is the network address");
      bad((c) => (port(c, 1).address = '10.0.2.255/24'), "ports[1].address: '10.0.2.255/24' is the broadcast address");
      bad((c) => (port(c, 1).address = '127.0.0.1/8'), 'is not a unicast host address');
      bad((c) => (port(c, 1).address = '10.0.1.200/16'), 'ports[1].address: 10.0.1.200/16 overlaps ports[0] (10.0.1.1/24)');
      bad((c) => (port(c, 1).mac = '02:00:00:00:02'), "ports[1].mac: '02:00:00:00:02' is not a MAC address");
      bad((c) => (port(c, 1).mac = '01:00:5e:00:00:01'), 'ports[1].mac: ', 'is a group (multicast or broadcast) address');
      bad((c) => (port(c, 1).mac = '00:00:00:00:00:00'), 'ports[1].mac: ', 'is all zeros');
      bad((c) => (port(c, 1).mac = port(c, 0).mac), 'ports[1].mac: same MAC as ports[0]');
      bad((c) => (port(c, 1).mtu = 67), 'ports[1].mtu: must be an integer from 68 to 9000, got 67');
    });

    it('routes', () => {
      bad((c) => ((c as Record<string, unknown>).routes = {}), 'routes: must be an array');
      bad((c) => (c.routes[0] = 5 as never), 'routes[0]: must be an object, got 5');
      bad((c) => ((c.routes[0] as Record<string, unknown>).metric = 1), 'routes[0].metric: unknown key (expected prefix, gateway, port)');
      bad((c) => (c.routes[0]!.prefix = '10.9.0.0'), "routes[0].prefix: '10.9.0.0' is not an IPv4 prefix");
      bad((c) => (c.routes[0]!.prefix = '10.9.1.0/16'), "routes[0].prefix: '10.9.1.0/16' has host bits set (did you mean 10.9.0.0/16?)");
      bad((c) => c.routes.push({ prefix: '10.9.0.0/16', gateway: '10.0.2.3' }), "routes[1].prefix: '10.9.0.0/16' is also routes[0]");
      bad((c) => (c.routes[0]!.prefix = '10.0.1.0/24'), "routes[0].prefix: '10.0.1.0/24' is the network of port 'p0'");
      bad((c) => (c.routes[0] = { prefix: '10.8.0.0/16' } as never), 'routes[0]: needs a gateway, a port, or both');
      bad((c) => (c.routes[0]!.gateway = '10.0.2.x'), "routes[0].gateway: '10.0.2.x' is not an IPv4 address");
      bad((c) => (c.routes[0]!.gateway = '10.0.2.1'), "routes[0].gateway: '10.0.2.1' is one of the router's own addresses");
      bad((c) => (c.routes[0]!.gateway = '10.0.3.2'), "routes[0].gateway: '10.0.3.2' is not in the network of any port");
      bad((c) => ((c.routes[0] as Record<string, unknown>).port = 'p0'), "routes[0].gateway: '10.0.2.2' is not in the network of port 'p0'");
      bad((c) => ((c.routes[0] as Record<string, unknown>).port = 'p7'), "routes[0].port: no port named 'p7' (ports: p0, p1)");
    });

    it('neighbours and icmp', () => {
      bad((c) => ((c as Record<string, unknown>).neighbours = []), 'neighbours: must be an object');
      bad((c) => ((c.neighbours as Record<string, unknown>).ttl = 1), 'neighbours.ttl: unknown key');
      bad((c) => (c.neighbours.retryMs = 0), 'neighbours.retryMs: must be an integer from 1 to 60000, got 0');
      bad((c) => (c.neighbours.reachableMs = 'long' as never), "neighbours.reachableMs: must be an integer from 1 to 86400000, got 'long'");
      bad((c) => (c.neighbours.maxRetries = 256), 'neighbours.maxRetries: must be an integer from 1 to 255, got 256');
      bad((c) => ((c.neighbours as Record<string, unknown>).queueLength = 65), 'neighbours.queueLength: must be an integer from 0 to 64');
      bad((c) => ((c.neighbours as Record<string, unknown>).capacity = 0), 'neighbours.capacity: must be an integer from 1');
      bad((c) => ((c.neighbours as Record<string, unknown>).static = {}), 'neighbours.static: must be an array');
      bad((c) => ((c.neighbours.static[0] as Record<string, unknown>).vlan = 1), 'neighbours.static[0].vlan: unknown key (expected port, address, mac)');
      bad((c) => (c.neighbours.static[0]!.port = 'p2'), "neighbours.static[0].port: no port named 'p2'");
      bad((c) => (c.neighbours.static[0]!.address = '10.0.1.5'), "neighbours.static[0].address: '10.0.1.5' is not in the network of port 'p1' (10.0.2.0/24)");
      bad((c) => (c.neighbours.static[0]!.address = '10.0.2.1'), "neighbours.static[0].address: '10.0.2.1' is one of the router's own addresses");
      bad((c) => (c.neighbours.static[0]!.address = '10.0.2'), "neighbours.static[0].address: '10.0.2' is not an IPv4 address");
      bad((c) => c.neighbours.static.push({ ...c.neighbours.static[0]! }), "neighbours.static[1].address: '10.0.2.2' is given twice for port 'p1'");
      bad((c) => (c.neighbours.static[0]!.mac = 'ff:ff:ff:ff:ff:ff'), 'neighbours.static[0].mac: ', 'is a group');
      bad((c) => {
        c.neighbours.capacity = 1;
        c.neighbours.static.push({ port: 'p1', address: '10.0.2.9', mac: '02:00:00:00:00:09' });
      }, 'neighbours.static: 2 static entries do not fit in capacity 1');
      bad((c) => ((c as Record<string, unknown>).icmp = 10), 'icmp: must be an object, got 10');
      bad((c) => ((c.icmp as Record<string, unknown>).perPort = true), 'icmp.perPort: unknown key (expected ratePerSecond, burst)');
      bad((c) => (c.icmp.ratePerSecond = -1), 'icmp.ratePerSecond: must be a number from 0 to 10000000, got -1');
      bad((c) => (c.icmp.burst = 0), 'icmp.burst: must be an integer from 1 to 100000, got 0');
    });
  });

  it('loads a file: paths relative to it; file, JSON and field errors name the file', () => {
    const dir = mkdtempSync(join(tmpdir(), 'router-config-'));
    const good = join(dir, 'router.json');
    writeFileSync(good, JSON.stringify(testConfigJson()));
    expect(loadConfig(good).ports[0]!.driver).toMatchObject({ rx: join(dir, 'in.pcap') });
    expectVnfError(() => loadConfig(join(dir, 'missing.json')), 'VNF_IO', 'missing.json: cannot read the config file');
    const broken = join(dir, 'broken.json');
    writeFileSync(broken, '{ "ports": [ }');
    expectVnfError(() => loadConfig(broken), 'VNF_CONFIG', 'broken.json: not valid JSON');
    const wrong = join(dir, 'wrong.json');
    writeFileSync(wrong, JSON.stringify(withEdit((c) => (port(c, 1).address = '10.0.2.300/24'))));
    expectVnfError(() => loadConfig(wrong), 'VNF_CONFIG', `${wrong}: ports[1].address: '10.0.2.300/24' is not an IPv4 prefix`);
  });
});
