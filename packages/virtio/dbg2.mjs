import { Mempool, Burst } from '@vnf-sdk/core';
import { VhostUserPort } from '/work/wt-vback/packages/virtio/dist/index.js';
const path = '/tmp/vb-dpdk.sock';
const pool = Mempool.create({ count: 8192, name: 'be' });
const port = new VhostUserPort(pool, { path });
console.log('listening');
const b = new Burst(64);
const end = Date.now() + Number(process.argv[2] ?? 8000);
let last = ''; let up = false; let n = 0;
while (Date.now() < end) {
  const k = port.rxBurst(b); n += k;
  pool.put(b);
  if ((++n & 0xfff) === 0) { const u = port.linkUp(); if (u !== up) { console.log('link', u, Date.now()); up = u; } }
  const e = port.lastError(); if (e !== last) { console.log('be error:', e); last = e; }
}
console.log('be', port.linkUp(), port.stats());
port.close();
