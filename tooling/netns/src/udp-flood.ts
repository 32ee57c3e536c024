// The UDP sender run inside a namespace by Topology.udpFlood: `node -e SCRIPT PARAMS_JSON`,
// prints one JSON line { sent, errors, bytes, seconds, pps }. CommonJS, no dependencies.
export const UDP_FLOOD_SCRIPT = `
const dgram = require('node:dgram');
const p = JSON.parse(process.argv[1]);
const sock = dgram.createSocket('udp4');
const payload = Buffer.alloc(p.size);
let sent = 0, errors = 0, seq = 0;
const t0 = process.hrtime.bigint();
const stopAt = p.seconds === null ? null : t0 + BigInt(Math.round(p.seconds * 1e9));
const more = () => (p.packets === null || seq < p.packets) && (stopAt === null || process.hrtime.bigint() < stopAt);
const sendOne = () => new Promise((resolve) => {
  if (p.size >= 4) payload.writeUInt32BE(seq >>> 0, 0);
  seq++;
  sock.send(payload, p.port, p.addr, (err) => { if (err) errors++; else sent++; resolve(); });
});
sock.bind(p.srcPort, async () => {
  while (more()) await sendOne();
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  process.stdout.write(JSON.stringify({ sent, errors, bytes: sent * p.size, seconds, pps: seconds > 0 ? sent / seconds : 0 }) + '\\n');
  sock.close();
});
`;
