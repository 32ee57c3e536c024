// Checksum and TCP segmentation offloads against DPDK 22.11, both directions. testpmd's csum
// engine takes our TCP frame and sends it back asking the virtio header for the work: with
// `csum set tcp hw` a partial checksum (NEEDS_CSUM), with `tso set 500` a super-frame (GSO
// TCPV4/TCPV6, gso_size 500). Our side must hand the pipeline finished frames: each checksum
// valid, each segment with its own IP length, sequence number and flags, the payloads
// together equal to what was sent.
//   - our frontend (VirtioUserPort: GUEST_CSUM, GUEST_TSO4/6) <- net_vhost (tso=1)
//   - our device (VhostUserPort: CSUM, HOST_TSO4/6) <- virtio_user
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Burst, Mempool } from '@vnf-sdk/core';
import { build, decode } from '@vnf-sdk/protocols';
import { itWhen } from '@vnf-sdk/test-support';
import { Testpmd, testpmdUnavailable } from '@vnf-sdk/virtio-peers';
import { afterAll, afterEach, describe, expect, onTestFailed } from 'vitest';
import { VhostUserPort, VirtioUserPort } from '../src/index.js';

const reason = testpmdUnavailable();
const PAYLOAD = Uint8Array.from({ length: 1400 }, (_, i) => (i * 7) & 0xff);
const SEQ = 0xfffffe00; // the sequence number wraps inside the super-frame

function tcpFrame(v6: boolean): Uint8Array {
  const ip = v6 ? { type: 'ipv6' as const, src: '2001:db8::1', dst: '2001:db8::2' } : { type: 'ipv4' as const, src: '10.0.0.1', dst: '10.0.0.2' };
  return build([
    { type: 'ethernet', src: '02:00:00:00:00:01', dst: '02:00:00:00:00:02' },
    ip,
    { type: 'tcp', srcPort: 40000, dstPort: 5201, seq: SEQ, ack: 1, flags: 0x18 /* PSH ACK */ },
    { type: 'payload', data: PAYLOAD },
  ]);
}

interface Received {
  checksumsValid: boolean;
  seq: number;
  flags: number;
  payload: Uint8Array;
}

function describeFrame(bytes: Uint8Array): Received {
  const { layers } = decode(bytes);
  const ip = layers.find((l) => l.type === 'ipv4' || l.type === 'ipv6') as { type: string; checksumValid?: boolean };
  const tcp = layers.find((l) => l.type === 'tcp') as { checksumValid: boolean; seq: number; flags: number };
  const payload = layers.find((l) => l.type === 'payload') as { data: Uint8Array } | undefined;
  return {
    checksumsValid: tcp.checksumValid && (ip.type === 'ipv6' || ip.checksumValid === true),
    seq: tcp.seq,
    flags: tcp.flags,
    payload: payload?.data ?? new Uint8Array(0),
  };
}

/** The port under test, as the two cases drive it. */
interface Side {
  pool: Mempool;
  linkUp(): boolean;
  rxBurst(b: Burst): number;
  txBurst(b: Burst): number;
}

/** Receives up to `want` frames (5 s), decoded. */
async function receive(side: Side, want: number): Promise<Received[]> {
  const rx = new Burst(64);
  const got: Received[] = [];
  const end = Date.now() + 5000;
  while (got.length < want && Date.now() < end) {
    const k = side.rxBurst(rx);
    for (let i = 0; i < k; i++) got.push(describeFrame(side.pool.read(rx.ids[i])));
    side.pool.put(rx);
    if (k === 0) await new Promise((r) => setTimeout(r, 1));
  }
  return got;
}

function send(side: Side, frame: Uint8Array) {
  const tx = new Burst(1);
  side.pool.alloc(tx, 1);
  side.pool.write(tx.ids[0], frame);
  const end = Date.now() + 5000;
  while (tx.count > 0 && Date.now() < end) side.txBurst(tx);
  expect(tx.count).toBe(0);
}

/** A port's state for a failure report (the port may be closed by then). */
function state(read: () => string): string {
  try {
    return read();
  } catch (e) {
    return `(${(e as Error).message})`;
  }
}

/** testpmd commands, while `pump` keeps our side serviced (a port restart renegotiates). */
async function configure(t: Testpmd, side: Side, commands: string[]) {
  const rx = new Burst(64);
  const pump = setInterval(() => {
    side.rxBurst(rx);
    side.pool.put(rx);
  }, 1);
  try {
    for (const c of commands) await t.command(c, 30_000);
    // A port restart renegotiates; testpmd's prompt can come back before its last messages
    // (no REPLY_ACK) have reached our side: keep servicing until the link has been up a while.
    for (let up = 0, end = Date.now() + 10_000; up < 50 && Date.now() < end; ) {
      await new Promise((r) => setTimeout(r, 5));
      up = side.linkUp() ? up + 1 : 0;
    }
  } finally {
    clearInterval(pump);
  }
}

/** One frame out, back through the csum engine as `expected` frames; checks them. */
async function roundTrip(side: Side, v6: boolean, mss: number | null) {
  send(side, tcpFrame(v6));
  const count = mss === null ? 1 : Math.ceil(PAYLOAD.length / mss);
  const got = await receive(side, count);
  expect(got.length).toBe(count);
  const joined = new Uint8Array(PAYLOAD.length);
  let at = 0;
  got.forEach((g, i) => {
    expect(g.checksumsValid).toBe(true);
    expect(g.seq).toBe((SEQ + at) >>> 0);
    expect(g.flags).toBe(i === count - 1 ? 0x18 : 0x10); // PSH on the last segment only
    joined.set(g.payload, at);
    at += g.payload.length;
    if (mss !== null && i < count - 1) expect(g.payload.length).toBe(mss);
  });
  expect(at).toBe(PAYLOAD.length);
  expect(joined).toEqual(PAYLOAD);
}

/**
 * A super-frame and a small frame sent back in one go, read through a burst of 2: the
 * super-frame's 3 segments fill it, so the small frame must wait its turn behind them. (It
 * was written past the caller's burst: heap corruption that crashed the router at exit.)
 */
async function superFrameThenSmallOne(side: Side) {
  const small = build([
    { type: 'ethernet', src: '02:00:00:00:00:01', dst: '02:00:00:00:00:02' },
    { type: 'ipv4', src: '10.0.0.1', dst: '10.0.0.2' },
    { type: 'udp', srcPort: 40001, dstPort: 5202 },
    { type: 'payload', data: new Uint8Array(32) },
  ]);
  const tx = new Burst(2);
  side.pool.alloc(tx, 2);
  side.pool.write(tx.ids[0], tcpFrame(false));
  side.pool.write(tx.ids[1], small);
  for (const end = Date.now() + 5000; tx.count > 0 && Date.now() < end; ) side.txBurst(tx);
  expect(tx.count).toBe(0);
  await new Promise((r) => setTimeout(r, 200)); // both back on our ring before the first poll
  const rx = new Burst(2);
  const kinds: string[] = [];
  for (const end = Date.now() + 5000; kinds.length < 4 && Date.now() < end; ) {
    const k = side.rxBurst(rx);
    expect(k).toBeLessThanOrEqual(2);
    for (let i = 0; i < k; i++) kinds.push(decode(side.pool.read(rx.ids[i])).layers.some((l) => l.type === 'tcp') ? 'tcp' : 'udp');
    side.pool.put(rx);
    if (k === 0) await new Promise((r) => setTimeout(r, 1));
  }
  expect(kinds).toEqual(['tcp', 'tcp', 'tcp', 'udp']);
}

describe('offloads against dpdk-testpmd (csum engine)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'vnf-offload-'));
  const cleanup: (() => Promise<unknown> | unknown)[] = [];
  afterEach(async () => {
    for (const f of cleanup.splice(0)) await f();
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  itWhen(reason, 'our frontend completes partial checksums and segments GSO frames from net_vhost', async () => {
    const socket = join(dir, 'fe.sock');
    // testpmd on CPU 1: its command lcore shares a CPU with its forwarding lcore, not with us.
    const t = Testpmd.start({ role: 'vhost', socket, forwardMode: 'csum', devargs: ['tso=1'], autoStart: false, cpu: 1 });
    cleanup.push(() => t.stop());
    await t.waitListening();
    await t.waitReady();
    const pool = Mempool.create({ count: 2048, name: 'offload-fe', hugepages: 'never' });
    cleanup.unshift(() => pool.close());
    const port = new VirtioUserPort(pool, { path: socket, queueSize: 256 });
    cleanup.unshift(() => port.close());
    onTestFailed(() => console.log(`frontend: ${state(() => `${JSON.stringify(port.stats())} ${port.lastError()}`)}\ntestpmd:\n${t.output.slice(-3000)}`));
    expect(port.featureNames()).toEqual(expect.arrayContaining(['GUEST_CSUM', 'GUEST_TSO4', 'GUEST_TSO6']));
    await t.waitLinkUp(30_000);
    const side: Side = { pool, linkUp: () => port.linkUp(), rxBurst: (b) => port.rxBurst(b), txBurst: (b) => port.txBurst(b) };
    await configure(t, side, ['port stop 0', 'csum set ip sw 0', 'csum set tcp hw 0', 'port start 0', 'start']);
    await roundTrip(side, false, null); // NEEDS_CSUM only
    // A changed offload takes effect when the port restarts (testpmd reconfigures its queues).
    // net_vhost does not list TCP_TSO among its Tx capabilities, so testpmd answers `tso set`
    // with "Error: TSO is not supported" on stderr, but it has stored the segment size by then
    // and its csum engine asks for segmentation: the vhost library writes the GSO header.
    await configure(t, side, ['stop', 'port stop 0', 'tso set 500 0', 'port start 0', 'start']);
    await roundTrip(side, false, 500);
    await roundTrip(side, true, 500);
    expect(port.stats()).toMatchObject({ txPackets: 3, rxPackets: 1 + 3 + 3, rxErrors: 0, rxDrops: 0 });
    expect((await t.stats()).txPackets).toBe(3); // testpmd sent one frame each time: the work was ours
    expect(port.lastError()).toBe('');
    await superFrameThenSmallOne(side);
    expect(port.lastError()).toBe('');
    port.close();
    expect(pool.stats().inUse).toBe(0);
  }, 90_000);

  itWhen(reason, 'our device completes partial checksums and segments GSO frames from virtio_user', async () => {
    const socket = join(dir, 'dev.sock');
    const pool = Mempool.create({ count: 2048, name: 'offload-dev', hugepages: 'never' });
    cleanup.unshift(() => pool.close());
    const port = new VhostUserPort(pool, { path: socket });
    cleanup.unshift(() => port.close());
    expect(port.offered & (1n << 11n)).toBe(1n << 11n); // HOST_TSO4 offered
    const t = Testpmd.start({ role: 'virtio-user', socket, forwardMode: 'csum', autoStart: false, cpu: 1 });
    cleanup.push(() => t.stop());
    onTestFailed(() => console.log(`device: ${state(() => `${JSON.stringify(port.stats())} ${port.lastError()}`)}\ntestpmd:\n${t.output.slice(-3000)}`));
    const side: Side = { pool, linkUp: () => port.linkUp(), rxBurst: (b) => port.rxBurst(b), txBurst: (b) => port.txBurst(b) };
    const rx = new Burst(64);
    const end = Date.now() + 20_000;
    while (!port.linkUp() && Date.now() < end) {
      side.rxBurst(rx);
      pool.put(rx);
      await new Promise((r) => setTimeout(r, 2));
    }
    expect(port.linkUp()).toBe(true);
    await configure(t, side, [
      'port stop 0',
      'port config 0 tx_offload tcp_cksum on',
      'port config 0 tx_offload tcp_tso on',
      'csum set ip sw 0',
      'csum set tcp hw 0',
      'port start 0',
      'start',
    ]);
    await roundTrip(side, false, null);
    await configure(t, side, ['stop', 'port stop 0', 'tso set 500 0', 'port start 0', 'start']);
    await roundTrip(side, false, 500);
    await roundTrip(side, true, 500);
    expect(port.stats()).toMatchObject({ txPackets: 3, rxPackets: 1 + 3 + 3, rxErrors: 0, rxDrops: 0 });
    expect(port.lastError()).toBe('');
    await superFrameThenSmallOne(side);
    expect(port.lastError()).toBe('');
    await t.stop();
    port.close();
    expect(pool.stats().inUse).toBe(0);
  }, 90_000);
});
