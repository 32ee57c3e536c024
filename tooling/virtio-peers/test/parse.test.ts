// The parsers, command-line builders and image writers, without DPDK or QEMU.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  cpioNewc,
  featureNames,
  hasTool,
  initScript,
  moduleDepends,
  parseForwardStats,
  parseLinkStatus,
  parseNegotiatedFeatures,
  linesInsidePrompt,
  parsePortStats,
  parseSysfsFeatures,
  qemuArgs,
  TESTPMD_PROMPT,
  testpmdArgs,
  VHOST_USER_PROTOCOL_FEATURES,
  vdevString,
} from '../src/index.js';

const STATS = `
  ######################## NIC statistics for port 0  ########################
  RX-packets: 1482240    RX-missed: 3          RX-bytes:  94863360
  RX-errors: 1
  RX-nombuf:  2         
  TX-packets: 17         TX-errors: 4          TX-bytes:  1088

  Throughput (since last show)
  Rx-pps:       481895          Rx-bps:    246730248
  Tx-pps:            5          Tx-bps:         2560
  ############################################################################
testpmd> `;

const FORWARD = `Telling cores to stop...
Waiting for lcores to finish...

  ---------------------- Forward statistics for port 0  ----------------------
  RX-packets: 0              RX-dropped: 0             RX-total: 0
  TX-packets: 1483296        TX-dropped: 57031360      TX-total: 58514656
  ----------------------------------------------------------------------------

  +++++++++++++++ Accumulated forward statistics for all ports+++++++++++++++
  RX-packets: 0              RX-dropped: 0             RX-total: 0
  TX-packets: 1483296        TX-dropped: 57031360      TX-total: 58514656
  ++++++++++++++++++++++++++++++++++++++++++++++++++++++++++++++++++++++++++++
`;

describe('testpmd output parsers', () => {
  it('finds the prompt also when another thread printed a line inside it', () => {
    const seen = 'Device error handling mode: none\nteVHOST_CONFIG: (/tmp/x/fe.sock) virtio is now ready for processing.\nstpmd> \nPort 0: link state change event\n';
    const m = TESTPMD_PROMPT.exec(seen);
    expect(m?.index).toBe(seen.indexOf('teVHOST'));
    expect(TESTPMD_PROMPT.exec('show port info 0\n\nPort 0: queue state event\ntestpmd> ')?.index).toBe(44);
    expect(TESTPMD_PROMPT.exec('testp\nPort 0: link state change event\nmd> ')?.index).toBe(0);
    // CI, on `tso set 500 0` for a net_vhost port: the stderr line split the stdout prompt.
    const tso = 'testpmd> tso set 500 0\ntestpmdError: TSO is not supported by port 0\n> ';
    expect(TESTPMD_PROMPT.exec(tso.slice(tso.indexOf('\n')))?.index).toBe(1);
    expect(linesInsidePrompt(TESTPMD_PROMPT.exec(tso.slice(tso.indexOf('\n')))![0])).toBe('Error: TSO is not supported by port 0\n');
    expect(linesInsidePrompt(m![0])).toBe('VHOST_CONFIG: (/tmp/x/fe.sock) virtio is now ready for processing.\n');
    expect(linesInsidePrompt('testp\nPort 0: link state change event\nmd> ')).toBe('\nPort 0: link state change event\n');
    expect(linesInsidePrompt('testpmd> ')).toBe('');
    expect(TESTPMD_PROMPT.test('testpmd>')).toBe(false);
    expect(TESTPMD_PROMPT.test('test pmd> ')).toBe(false);
  });
  it('parses show port stats all', () => {
    expect(parsePortStats(STATS)).toEqual([
      {
        port: 0,
        rxPackets: 1482240,
        rxMissed: 3,
        rxBytes: 94863360,
        rxErrors: 1,
        rxNombuf: 2,
        txPackets: 17,
        txErrors: 4,
        txBytes: 1088,
        rxPps: 481895,
        txPps: 5,
        rxBps: 246730248,
        txBps: 2560,
      },
    ]);
    expect(parsePortStats('testpmd> ')).toEqual([]);
  });

  it('parses the forward statistics of stop', () => {
    expect(parseForwardStats(FORWARD)).toEqual([
      { port: 0, rxPackets: 0, rxDropped: 0, rxTotal: 0, txPackets: 1483296, txDropped: 57031360, txTotal: 58514656 },
    ]);
  });

  it('parses the link status of show port info', () => {
    expect(parseLinkStatus('Link status: up\nLink speed: None')).toBe(true);
    expect(parseLinkStatus('Link status: down')).toBe(false);
    expect(parseLinkStatus('nothing')).toBeNull();
  });

  it('finds the negotiated features on both sides', () => {
    const vhost = parseNegotiatedFeatures(
      'VHOST_CONFIG: (/s) negotiated Vhost-user protocol features: 0x10009\n' +
        'VHOST_CONFIG: (/s) negotiated Virtio features: 0x950008000\n' +
        'VHOST_CONFIG: (/s) mergeable RX buffers on, virtio 1 on\n',
    );
    expect(vhost).toMatchObject({ features: 0x950008000n, protocolFeatures: 0x10009n, mergeable: true });
    expect(featureNames(vhost.features!)).toEqual(['MRG_RXBUF', 'RING_INDIRECT_DESC', 'VHOST_USER_PROTOCOL_FEATURES', 'VERSION_1', 'IN_ORDER']);
    expect(featureNames(vhost.protocolFeatures!, VHOST_USER_PROTOCOL_FEATURES)).toEqual(['MQ', 'REPLY_ACK', 'STATUS']);
    const vu = parseNegotiatedFeatures(
      'virtio_ethdev_negotiate_features(): guest_features before negotiate = 8000005f10ef8028\n' +
        'virtio_ethdev_negotiate_features(): host_features before negotiate = 910018183\n' +
        'virtio_ethdev_negotiate_features(): features after negotiate = 910018000\n' +
        'virtio_user_dev_set_features(): (/s) set features: 0x910008000\n' +
        'virtio_init_queue(): vq_size: 1024\n' +
        'virtio_user_dev_set_features(): (/s) set features: 0x0\n',
    );
    expect(vu).toMatchObject({ features: 0x910018000n, offered: 0x910018183n, wanted: 0x8000005f10ef8028n, sent: 0x910008000n, queueSize: 1024 });
  });

  it("reads Linux's sysfs feature string (bit 0 first)", () => {
    expect(parseSysfsFeatures('1000000000000001\n')).toBe(0x8001n);
    expect(() => parseSysfsFeatures('')).toThrow(/not a virtio features/);
  });
});

describe('command lines', () => {
  it('builds the vdev strings', () => {
    expect(vdevString({ role: 'vhost', socket: '/s', client: true, queues: 2 })).toBe('net_vhost0,iface=/s,queues=2,client=1');
    expect(vdevString({ role: 'virtio-user', socket: '/s', server: true, packed: true, inOrder: false, mrgRxbuf: false, queueSize: 256 })).toBe(
      'virtio_user0,path=/s,queues=1,queue_size=256,server=1,packed_vq=1,in_order=0,mrg_rxbuf=0',
    );
  });

  it('builds testpmd arguments without hugepages, pinned, with a file prefix', () => {
    const a = testpmdArgs({ role: 'virtio-user', socket: '/s', forwardMode: 'txonly', txpkts: [64, 64], cpu: 1 }, 'pfx');
    expect(a.slice(0, 8)).toEqual(['--lcores', '0@1,1@1', '--no-huge', '-m', '512', '--no-pci', '--file-prefix', 'pfx']);
    expect(a).toContain('--log-level=pmd.net.virtio.init:debug');
    expect(a.slice(a.indexOf('--'))).toEqual(
      expect.arrayContaining(['-i', '--forward-mode=txonly', '--txpkts=64,64', '--total-num-mbufs=16384', '--auto-start', '--disable-link-check']),
    );
  });

  it('builds QEMU arguments with a shared memfd and vectors=0', () => {
    const a = qemuArgs({ socket: '/s', server: true, packed: true, mrgRxbuf: false, queues: 2 }, '/k', '/i').join(' ');
    expect(a).toContain('-accel tcg');
    expect(a).toContain('memory-backend-memfd,id=mem,size=256M,share=on');
    expect(a).toContain('-chardev socket,id=chr0,path=/s,server=on,wait=off');
    expect(a).toContain('-netdev vhost-user,id=net0,chardev=chr0,queues=2');
    expect(a).toContain('virtio-net-pci,netdev=net0,mac=52:54:00:12:34:56,vectors=0,mq=on,mrg_rxbuf=off,packed=on');
    expect(a).toContain('-smp 1 ');
    expect(qemuArgs({ socket: '/s', queues: 2, cpus: 2 }, '/k', '/i').join(' ')).toContain('-smp 2 ');
  });
});

describe('guest image', () => {
  it('reads a module dependency list from modinfo', () => {
    const ko = Buffer.from('\0license=GPL\0depends=virtio,virtio-ring,net_failover\0retpoline=Y\0');
    expect(moduleDepends(ko)).toEqual(['virtio', 'virtio_ring', 'net_failover']);
    expect(moduleDepends(Buffer.from('\0license=GPL\0'))).toEqual([]);
  });

  it('writes a newc cpio archive that cpio lists and extracts', () => {
    const archive = cpioNewc([
      { path: 'bin', type: 'dir' },
      { path: 'bin/tool', type: 'file', data: 'hello\n' },
      { path: 'bin/link', type: 'symlink', data: 'tool' },
      { path: 'init', type: 'file', data: initScript({ script: 'true' }, ['virtio']) },
    ]);
    expect(archive.subarray(0, 6).toString()).toBe('070701');
    expect(archive.length % 4).toBe(0);
    if (!hasTool('cpio')) return;
    const dir = mkdtempSync(join(tmpdir(), 'vnf-cpio-'));
    try {
      writeFileSync(join(dir, 'a.cpio'), archive);
      execFileSync('sh', ['-c', 'cd "$1" && mkdir x && cd x && cpio -id --quiet < ../a.cpio', 'sh', dir]);
      expect(readFileSync(join(dir, 'x', 'bin', 'tool'), 'utf8')).toBe('hello\n');
      expect(readFileSync(join(dir, 'x', 'bin', 'link'), 'utf8')).toBe('hello\n');
      expect(readFileSync(join(dir, 'x', 'init'), 'utf8')).toMatch(/^#!\/bin\/sh\n/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
