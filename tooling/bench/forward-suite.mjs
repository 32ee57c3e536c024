// The forward suite: 64-byte UDP from h1 through a router in rt to h2, over veth (TAP for
// the TAP router), in Mpps received at h2, for vnf-router on AF_XDP, AF_PACKET and TAP
// ports, next to the Linux kernel forwarding the same traffic between the same namespaces
// (ip_forward=1), in the same run, runs interleaved.
//
//   generator   tooling/bench/xdp-gen.mjs in h1 on eth0 (AF_XDP, copy mode), pinned to CPU 1:
//               dst MAC rt p0's, dst 10.231.2.2 (h2), FLOWS source ports
//   router      node apps/router/dist/cli.js in rt, pinned to CPU 0 (its worker thread too);
//               kernel: nothing to pin, the forwarding runs in softirq where the packet
//               arrives (see the note in docs/performance.md); also measured with RPS steering
//               rt p0's receive processing to CPU 0
//   sink        h2's own stack (no listener on port 9: dropped by UDP, ICMP port unreachable
//               rate-limited by the kernel); it runs in softirq on the CPU that delivered the
//               packet, the router's (ours) or the sender's (kernel), for both sides alike.
//               (This kernel has no tc matchall/gact and the VM no nft/iptables for an early drop.)
//   figure      h2 eth0 rx_packets over a WINDOW-second window (forwardingRate), beside h1
//               eth0 tx_packets over the same window and the generator's own tx rate
//
// Environment: VNF_FWD_WINDOW (seconds, default 2), VNF_FWD_KINDS (default
// kernel,kernel-rps,afXdp,afPacket,tap), VNF_FWD_BURST (router burstSize, default 32),
// VNF_FWD_FLOWS (default 16), VNF_FWD_XDP_RING (the AF_XDP router's ring sizes, default 1024;
// a kind 'afXdp:4096' runs another AF_XDP router with rings of 4096 in the same rounds),
// VNF_FWD_TIMING=1 (per-stage nanoseconds from the router).
import { writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ADDRS, forwardingRate, MACS, Topology, waitForOutput } from '@vnf-sdk/netns';
import { median, record } from './stats.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const repo = join(here, '..', '..');
const CLI = join(repo, 'apps', 'router', 'dist', 'cli.js');
const GEN = join(here, 'xdp-gen.mjs');
const WINDOW = Number(process.env.VNF_FWD_WINDOW ?? 2);
const BURST = Number(process.env.VNF_FWD_BURST ?? 32);
const FLOWS = Number(process.env.VNF_FWD_FLOWS ?? 16);
const XDP_RING = Number(process.env.VNF_FWD_XDP_RING ?? 1024);
const TIMING = process.env.VNF_FWD_TIMING === '1';
// 'drop' (default): an nftables ingress rule in h2 drops the flood first (apt-get install nftables),
// so only the forwarding is measured; 'stack': h2's own stack receives it (UDP to a closed port).
const SINK = process.env.VNF_FWD_SINK ?? 'drop';
const KINDS = (process.env.VNF_FWD_KINDS ?? 'kernel,kernel-rps,afXdp,afPacket,tap').split(',');
const GEN_CPU = '1';
const ROUTER_CPU = '0';
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

const label = (kind) => LABEL[kind] ?? `${LABEL[kind.split(':')[0]]}, rings ${kind.split(':')[1]}`;
const LABEL = {
  kernel: 'linux kernel forwarding',
  'kernel-rps': 'linux kernel forwarding, RPS to CPU 0',
  afXdp: 'AF_XDP router',
  afPacket: 'AF_PACKET router',
  tap: 'TAP router',
};

/** One topology per kind, kept for the whole suite; the router (if any) runs in it throughout. */
async function setUp(kind, commands) {
  const kernel = kind.startsWith('kernel');
  const tap = kind === 'tap';
  // 'afXdp:4096': the AF_XDP router with rings of 4096 instead of XDP_RING.
  const [driver, ring] = kind.split(':');
  const topo = await Topology.create({ router: kernel ? 'kernel' : 'appliance', promisc: !kernel && !tap, wiring: tap ? 'tap' : 'veth' });
  const env = { topo, kind, router: null, out: '' };
  try {
    if (kind === 'kernel-rps') {
      // rt p0's receive processing (and so the forwarding) on CPU 0, away from the generator.
      await topo.exec('rt', 'sh', ['-c', 'echo 1 > /sys/class/net/p0/queues/rx-0/rps_cpus']);
    }
    if (!kernel) {
      const port = (name, address, mac) => ({
        name,
        driver,
        ifname: name,
        mac,
        address,
        ...(driver === 'afXdp' ? { xdpMode: 'native', ringSize: Number(ring ?? XDP_RING) } : {}),
      });
      const config = { ports: [port('p0', '10.231.1.1/24', MACS.rtP0), port('p1', '10.231.2.1/24', MACS.rtP1)], burstSize: BURST, poolSize: 16384 };
      const path = join(topo.workDir, 'router.json');
      writeFileSync(path, JSON.stringify(config));
      const args = ['-c', ROUTER_CPU, process.execPath, CLI, path, ...(TIMING ? ['--timing'] : [])];
      commands.push(`ip netns exec rt taskset -c ${ROUTER_CPU} node apps/router/dist/cli.js router.json  # ${JSON.stringify(config)}`);
      env.router = topo.spawn('rt', 'taskset', args);
      env.router.stdout.setEncoding('utf8').on('data', (d) => {
        env.out += d;
      });
      env.router.stderr.setEncoding('utf8').on('data', (d) => {
        env.out += d;
      });
      await waitForOutput(env.router, /vnf-router: running/, 30_000, `vnf-router (${kind})`);
      if (tap) {
        await topo.adoptTap('h1', 'p0');
        await topo.adoptTap('h2', 'p1');
      }
    }
    // Neighbours resolved before the first window (the generator never ARPs).
    await topo.exec('h2', 'ping', ['-c', '1', '-W', '1', ADDRS.rtP1], { okCodes: [0, 1] });
    if (SINK === 'drop') {
      // h2 drops the flood (UDP to port 9, xdp-gen's default) at ingress, counted in rx_packets
      // before the hook: the sink's IP/UDP/ICMP work leaves the CPU that transmits to it, for
      // the kernel and ours alike.
      const nft = 'table netdev vnfsink {\n chain in {\n  type filter hook ingress device eth0 priority 0;\n  udp dport 9 drop\n }\n}\n';
      await topo.exec('h2', 'nft', ['-f', '-'], { input: nft });
    }
    return env;
  } catch (err) {
    await topo.destroy();
    throw new Error(`${kind}: ${err.message}\n${env.out}`);
  }
}

/** Runs the generator in h1 and measures one window; returns { rxPps, txPps, genPps }. */
async function measure(env, commands) {
  const { topo } = env;
  const seconds = WINDOW + 2.5;
  const args = ['-c', GEN_CPU, process.execPath, GEN, '--interface', 'eth0', '--dst-mac', MACS.rtP0, '--src-mac', MACS.h1, '--dst-ip', ADDRS.h2, '--src-ip', ADDRS.h1, '--flows', String(FLOWS), '--seconds', String(seconds)];
  commands.push(`ip netns exec h1 taskset ${args.slice(0, 2).join(' ')} node tooling/bench/xdp-gen.mjs ${args.slice(4).join(' ')}`);
  const gen = topo.spawn('h1', 'taskset', args);
  let out = '';
  gen.stdout.setEncoding('utf8').on('data', (d) => {
    out += d;
  });
  gen.stderr.setEncoding('utf8').on('data', (d) => {
    out += d;
  });
  const ended = new Promise((resolve) => gen.once('exit', resolve));
  // Wait until it sends, then let it (and the router's JIT) settle.
  const t0 = topo.ifStatsSync('h1', 'eth0').txPackets;
  for (let i = 0; i < 100 && topo.ifStatsSync('h1', 'eth0').txPackets - t0 < 1000; i++) await sleep(20);
  await sleep(700);
  const rate = await forwardingRate(topo, { seconds: WINDOW });
  const code = await ended;
  const line = out.split('\n').find((l) => l.startsWith('{'));
  if (code !== 0 || !line) throw new Error(`xdp-gen failed (${code}): ${out}`);
  const g = JSON.parse(line);
  return { rxPps: rate.rxPps, txPps: rate.txPps, genPps: g.txPps, genMode: `${g.mode}/${g.xdpMode}` };
}

export async function forwardSuite(RUNS, commands) {
  commands.push('node tooling/bench/run.mjs forward');
  const envs = [];
  const runs = Object.fromEntries(KINDS.map((k) => [k, []]));
  try {
    for (const kind of KINDS) envs.push(await setUp(kind, commands));
    // Only the router being measured runs: an idle one still wakes every millisecond and
    // polls its ports, on the same CPU. The others wait stopped (SIGSTOP, then SIGCONT).
    const only = (active) => {
      for (const e of envs) e.router?.kill(e === active ? 'SIGCONT' : 'SIGSTOP');
    };
    for (const env of envs) {
      only(env);
      await measure(env, commands); // warm-up: JIT, ARP, caches
    }
    // Interleaved: kernel, ours, kernel, ours... a slow spell hits every kind alike.
    for (let i = 0; i < RUNS; i++) {
      for (const env of envs) {
        only(env);
        const r = await measure(env, commands);
        runs[env.kind].push(r);
        console.log(
          `  run ${i + 1} ${label(env.kind).padEnd(40)} rx at h2 ${(r.rxPps / 1e6).toFixed(3)} Mpps, h1 tx ${(r.txPps / 1e6).toFixed(3)} Mpps, generator ${(r.genPps / 1e6).toFixed(3)} Mpps (${r.genMode})`,
        );
      }
    }
    for (const env of envs) env.router?.kill('SIGCONT');
    if (TIMING) {
      for (const env of envs) {
        if (!env.router) continue;
        env.router.kill('SIGTERM');
        await new Promise((r) => env.router.once('exit', r));
        console.log(`  ${label(env.kind)} counters:\n${env.out.split('\n').filter((l) => /^(port|stage|drop)/.test(l)).map((l) => `    ${l}`).join('\n')}`);
      }
    }
  } finally {
    for (const env of envs) env.router?.kill('SIGCONT'); // a stopped process ignores SIGTERM
    for (const env of envs) await env.topo.destroy();
  }
  const mpps = (kind, key) => {
    const v = median((runs[kind] ?? []).map((r) => r[key]));
    return v == null ? null : v / 1e6;
  };
  const kernel = mpps('kernel', 'rxPps');
  const records = [];
  for (const kind of KINDS) {
    const name = label(kind);
    if (kind === 'kernel') records.push(record(`forward 64B UDP, ${name}`, 'Mpps', kernel, 'higher'));
    else if (kind === 'kernel-rps') records.push(record(`forward 64B UDP, ${name}`, 'Mpps', mpps(kind, 'rxPps'), 'higher', LABEL.kernel, kernel));
    else {
      const target = kind === 'afXdp' ? '>= 1.0x kernel' : null;
      records.push(record(`forward 64B UDP, ${name}`, 'Mpps', mpps(kind, 'rxPps'), 'higher', LABEL.kernel, kernel, target));
    }
  }
  for (const kind of KINDS) records.push(record(`forward 64B UDP, generator tx (xdp-gen, ${label(kind)} runs)`, 'Mpps', mpps(kind, 'genPps'), 'higher'));
  return { records, meta: { window: WINDOW, burstSize: BURST, xdpRing: XDP_RING, flows: FLOWS, generatorCpu: GEN_CPU, routerCpu: ROUTER_CPU, samples: runs } };
}
