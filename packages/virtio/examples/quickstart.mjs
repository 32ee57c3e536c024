// The README's example: an appliance's virtio-net link to a vhost-user device. The device
// (VhostUserPort) runs in a worker thread, as a virtual switch would run in its own process:
// opening either side blocks its thread while the two negotiate. The frontend sends three
// frames; the device echoes them back with source and destination swapped.
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Worker, isMainThread, parentPort, workerData } from 'node:worker_threads';
import { Burst, Mempool } from '@vnf-sdk/core';
import { VhostUserPort, VirtioUserPort } from '@vnf-sdk/virtio';

if (isMainThread) {
  const path = join(tmpdir(), `vnf-virtio-quickstart-${process.pid}.sock`);
  const stop = new Int32Array(new SharedArrayBuffer(4));
  const device = new Worker(new URL(import.meta.url), { workerData: { path, stop } });
  await new Promise((resolve) => device.once('message', resolve)); // the device listens

  const pool = Mempool.create({ count: 1024, name: 'vm-link' });
  const port = new VirtioUserPort(pool, { path, queueSize: 256 });
  console.log(`negotiated: ${port.featureNames().filter((f) => f === 'VERSION_1' || f === 'MRG_RXBUF').join(' ')}`);

  const tx = new Burst(32);
  pool.alloc(tx, 3);
  for (let i = 0; i < tx.count; i++) {
    const frame = new Uint8Array(60);
    frame.set([2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1, 0x88, 0xb5, i]); // to :02 from :01, an experimental ethertype
    pool.write(tx.ids[i], frame);
  }
  while (tx.count > 0) port.txBurst(tx); // what the ring could not take stays in the burst

  const rx = new Burst(32);
  for (let got = 0, end = Date.now() + 10_000; got < 3 && Date.now() < end; ) {
    const n = port.rxBurst(rx);
    for (let i = 0; i < n; i++) {
      const f = pool.read(rx.ids[i]);
      console.log(`echo ${f[14]}: ${f.length} bytes from :${f[11].toString(16).padStart(2, '0')}`);
    }
    got += n;
    pool.put(rx);
    if (n === 0) await new Promise((r) => setTimeout(r, 1));
  }
  console.log('frontend', JSON.stringify({ tx: port.stats().txPackets, rx: port.stats().rxPackets }));
  port.close(); // every buffer the rings held goes back to the pool
  console.log(`buffers in use: ${pool.stats().inUse}`);
  pool.close();
  Atomics.store(stop, 0, 1);
  await new Promise((resolve) => device.once('exit', resolve));
} else {
  const { path, stop } = workerData;
  const pool = Mempool.create({ count: 1024, name: 'vswitch' });
  const port = new VhostUserPort(pool, { path }); // listens (server role)
  parentPort.postMessage('listening');
  const burst = new Burst(32);
  while (Atomics.load(stop, 0) === 0) {
    port.rxBurst(burst);
    for (let i = 0; i < burst.count; i++) {
      const at = pool.dataOffset(burst.ids[i]); // zero-copy: swap the MAC addresses in place
      const dst = pool.bytes.slice(at, at + 6);
      pool.bytes.copyWithin(at, at + 6, at + 12);
      pool.bytes.set(dst, at + 6);
    }
    while (burst.count > 0 && Atomics.load(stop, 0) === 0) port.txBurst(burst);
    Atomics.wait(stop, 0, 0, 0.1);
  }
  pool.put(burst);
  port.close();
  pool.close();
}
