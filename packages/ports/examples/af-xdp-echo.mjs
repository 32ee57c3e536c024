// Reflects every frame received on an interface back out of it with the MACs swapped:
// the smallest AF_XDP appliance. Needs root. Run: node examples/af-xdp-echo.mjs <ifname> [seconds]
import { Burst, Mempool, waitReadable } from '@vnf-sdk/core';
import { AfXdpPort } from '@vnf-sdk/ports';

const [ifname, seconds = '10'] = process.argv.slice(2);
if (!ifname) {
  console.error('usage: node examples/af-xdp-echo.mjs <ifname> [seconds]');
  process.exit(2);
}
const pool = Mempool.create({ count: 8192 });
const port = new AfXdpPort(pool, { interface: ifname });
console.log(`${port.name}: ${port.mode} mode, ${port.xdpMode} XDP${port.modeNote ? ` (${port.modeNote})` : ''}`);
const burst = new Burst(64);
const fds = Int32Array.from(port.waitFds);
const { bytes, meta } = pool;
const end = Date.now() + Number(seconds) * 1000;
while (Date.now() < end) {
  if (port.rxBurst(burst) === 0) {
    waitReadable(fds, 10); // idle: sleep on the socket instead of spinning
    continue;
  }
  for (let i = 0; i < burst.count; i++) {
    const id = burst.ids[i];
    const at = id * pool.bufferSize + meta.dataOff[id];
    const dst = bytes.slice(at, at + 6);
    bytes.copyWithin(at, at + 6, at + 12);
    bytes.set(dst, at + 6);
  }
  port.txBurst(burst);
  if (burst.count > 0) pool.put(burst); // the TX ring was full: drop the rest
}
console.log(port.stats());
port.close();
pool.close();
