// Our device (VhostUserPort, listening) against DPDK's frontend: dpdk-testpmd with a
// virtio_user port that connects to our socket. txonly: we receive what testpmd generates;
// macswap: what we send comes back with the MAC addresses swapped. Split and packed rings.
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Burst, Mempool } from '@vnf-sdk/core';
import { itWhen } from '@vnf-sdk/test-support';
import { describe, expect } from 'vitest';
import { VhostUserPort } from '../src/index.js';

const TESTPMD = 'dpdk-testpmd';
const testpmdMissing: string | null =
  spawnSync('sh', ['-c', `command -v ${TESTPMD}`]).status === 0 ? null : `${TESTPMD} is not installed (apt-get install dpdk)`;

interface Testpmd {
  proc: ChildProcess;
  output: () => string;
  prefix: string;
  stopped?: Promise<void>;
}

function startTestpmd(path: string, mode: 'txonly' | 'macswap', packed: boolean, prefix: string): Testpmd {
  const vdev = `virtio_user0,path=${path},queues=1,queue_size=1024,server=0${packed ? ',packed_vq=1' : ''}`;
  const args = ['--lcores', '0@0,1@0', '--no-pci', '--no-huge', '-m', '512', '--file-prefix', prefix, '--vdev', vdev, '--',
    '-i', '--nb-cores=1', '--total-num-mbufs=16384', `--forward-mode=${mode}`, '--auto-start'];
  const proc = spawn(TESTPMD, args, { stdio: ['pipe', 'pipe', 'pipe'] });
  let out = '';
  proc.stdout?.on('data', (d) => (out += d));
  proc.stderr?.on('data', (d) => (out += d));
  return { proc, output: () => out, prefix };
}

/** Quits testpmd (SIGKILL after 5 s) and removes its runtime directory; once, however often called. */
function stopTestpmd(t: Testpmd | undefined): Promise<void> {
  if (!t) return Promise.resolve();
  t.stopped ??= (async () => {
    const exited = new Promise((r) => (t.proc.exitCode !== null || t.proc.signalCode !== null ? r(0) : t.proc.once('exit', r)));
    t.proc.stdin?.on('error', () => {}); // EPIPE when it is already gone
    t.proc.stdin?.end('quit\n');
    const timer = setTimeout(() => t.proc.kill('SIGKILL'), 5000);
    await exited;
    clearTimeout(timer);
    rmSync(`/var/run/dpdk/${t.prefix}`, { recursive: true, force: true });
    if (process.env.XDG_RUNTIME_DIR) rmSync(join(process.env.XDG_RUNTIME_DIR, 'dpdk', t.prefix), { recursive: true, force: true });
  })();
  return t.stopped;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Services the port (every burst does) until its link is up. */
async function linkUp(port: VhostUserPort, t: Testpmd, ms = 20_000) {
  const b = new Burst(64);
  const end = Date.now() + ms;
  while (!port.linkUp()) {
    if (Date.now() > end) throw new Error(`testpmd did not bring the link up in ${ms} ms; ${port.lastError()}\n${t.output().slice(-2000)}`);
    for (let i = 0; i < 100; i++) port.rxBurst(b);
    port.pool.put(b);
    await sleep(1);
  }
}

const frame = (seq: number) => {
  const f = new Uint8Array(128);
  f.set([0x02, 0, 0, 0, 0, 0xaa, 0x02, 0, 0, 0, 0, 0xbb, 0x88, 0xb5]);
  new DataView(f.buffer).setUint32(14, seq);
  return f;
};

describe('VhostUserPort against DPDK testpmd virtio_user', () => {
  for (const packed of [false, true]) {
    const ring = packed ? 'packed' : 'split';

    itWhen(testpmdMissing, `${ring}: testpmd txonly, we receive its packets`, async () => {
      const path = join(tmpdir(), `vnf-vu-dpdk-${process.pid}-${ring}-tx.sock`);
      const pool = Mempool.create({ count: 8192, name: `dpdk-${ring}-rx` });
      let port: VhostUserPort | undefined;
      let t: Testpmd | undefined;
      try {
        port = new VhostUserPort(pool, { path });
        t = startTestpmd(path, 'txonly', packed, `vnfvu${process.pid}${ring}t`);
        await linkUp(port, t);
        const b = new Burst(64);
        const start = Date.now();
        let got = 0;
        while (Date.now() - start < 2000) {
          got += port.rxBurst(b);
          pool.put(b);
        }
        const s = port.stats();
        console.log(`[dpdk ${ring} txonly] received ${got} packets in 2 s (${(got / 2 / 1e6).toFixed(2)} Mpps), ${s.rxBytes / got} bytes each`);
        expect(got).toBeGreaterThan(10_000);
        expect(s.rxPackets).toBe(got);
        expect(s.rxErrors).toBe(0);
        expect(port.lastError()).toBe('');
      } finally {
        await stopTestpmd(t);
        port?.close();
        expect(pool.stats().inUse).toBe(0);
        pool.close();
        rmSync(path, { force: true });
      }
    }, 60_000);

    itWhen(testpmdMissing, `${ring}: testpmd macswap, what we send comes back`, async () => {
      const path = join(tmpdir(), `vnf-vu-dpdk-${process.pid}-${ring}-ms.sock`);
      const pool = Mempool.create({ count: 8192, name: `dpdk-${ring}-ms` });
      let port: VhostUserPort | undefined;
      let t: Testpmd | undefined;
      try {
        port = new VhostUserPort(pool, { path });
        t = startTestpmd(path, 'macswap', packed, `vnfvu${process.pid}${ring}m`);
        await linkUp(port, t);
        // testpmd drains (and does not count) its receive queues when forwarding starts:
        // send only after that, once its prompt is there.
        const ready = Date.now() + 10_000;
        const spin = new Burst(64);
        while (!t.output().includes('testpmd>') && Date.now() < ready) {
          port.rxBurst(spin);
          pool.put(spin);
          await sleep(1);
        }
        await sleep(200);
        const N = 20_000;
        const tx = new Burst(32);
        const rx = new Burst(64);
        let sent = 0;
        let back = 0;
        let bad = 0;
        const end = Date.now() + 15_000;
        let lastBack = Date.now();
        while (Date.now() < end && (sent < N || Date.now() - lastBack < 500) && back < N) {
          if (tx.count === 0 && sent < N) {
            pool.alloc(tx, Math.min(tx.capacity, N - sent));
            for (let i = 0; i < tx.count; i++) pool.write(tx.ids[i], frame(sent + i));
          }
          if (tx.count > 0) sent += port.txBurst(tx);
          const n = port.rxBurst(rx);
          for (let i = 0; i < n; i++) {
            const f = pool.read(rx.ids[i]);
            // macswap: destination and source swapped
            if (f.length !== 128 || f[5] !== 0xbb || f[11] !== 0xaa || new DataView(f.buffer).getUint32(14) >= N) bad++;
          }
          back += n;
          if (n > 0) lastBack = Date.now();
          pool.put(rx);
        }
        pool.put(tx);
        await stopTestpmd(t);
        // Everything we sent reached testpmd; what it forwarded came back (it drops, and
        // counts, what does not fit its transmit ring while we are busy sending).
        const fwd = /Forward statistics for port 0[\s\S]*?RX-packets: +(\d+) +RX-dropped: +(\d+)[\s\S]*?TX-packets: +(\d+) +TX-dropped: +(\d+)/.exec(t.output());
        expect(fwd, `testpmd's forward statistics:\n${t.output().slice(-3000)}`).not.toBeNull();
        const [rxd, txd, txDropped] = [Number(fwd?.[1]), Number(fwd?.[3]), Number(fwd?.[4])];
        console.log(`[dpdk ${ring} macswap] testpmd: RX ${rxd}, TX ${txd} (dropped ${txDropped})`);
        expect(rxd).toBe(N);
        expect(txd).toBe(back);
        const s = port.stats();
        console.log(`[dpdk ${ring} macswap] sent ${sent}, back ${back}, bad ${bad}`);
        expect(sent).toBe(N);
        expect(bad).toBe(0);
        expect(back).toBeGreaterThanOrEqual(N * 0.95); // testpmd may drop a few when its ring is full
        expect(s.txPackets).toBe(N);
        expect(s.rxPackets).toBe(back);
        expect(s.rxErrors + s.txErrors).toBe(0);
      } finally {
        await stopTestpmd(t);
        port?.close();
        expect(pool.stats().inUse).toBe(0);
        pool.close();
        rmSync(path, { force: true });
      }
    }, 60_000);
  }
});
