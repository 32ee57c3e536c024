// The NAT suite: 64-byte UDP from h1 through a NAT44 in rt to h2, in Mpps received at h2,
// for vnf-router's nat stage (AF_XDP and AF_PACKET ports) next to the Linux kernel forwarding
// with nftables NAT (conntrack + masquerade) between the same namespaces, in the same run,
// rounds interleaved (kernel, ours, kernel, ours...), medians of RUNS rounds.
//
//   established  FLOWS source ports (VNF_NAT_FLOWS, default 10000, at most 64512; h1's address,
//                ports from 1024, round-robin: xdp-gen --cycle-flows), every session created before the window: the generator runs 0.7 s
//                before the WINDOW-second window (VNF_NAT_WINDOW, default 2) opens, and keeps
//                every flow refreshed long inside the UDP timeouts. Pool: rt p1's address,
//                kernel `oifname "p1" masquerade`, ours `nat.pool: ["10.231.2.1/32"]`.
//   new sessions every packet from a new (source address, port) (xdp-gen --new-sources 250:
//                h1's /24 from .2, ports 1024-65535, 16M tuples before one repeats), so every
//                packet forwarded is a session created. One address has only 64512 ports
//                toward one destination, so both NATs get a pool of 128 addresses
//                (10.231.2.128/25: kernel `snat to 10.231.2.128-10.231.2.255`, ours
//                `nat.pool: ["10.231.2.128/25"]`). Each round starts with empty tables (kernel:
//                rt's conntrack entries aged out with a 1 s UDP timeout; ours: the router
//                restarted) and the window (VNF_NAT_NEW_WINDOW, default 0.25 s) opens 0.1 s after
//                the generator starts, short enough to stay under the tables' capacity (rt's
//                nf_conntrack_max, and ours `sessions` set to the same; the kernel's
//                nf_conntrack_count after each window is kept in the samples).
//
//   generator    tooling/bench/xdp-gen.mjs in h1 on eth0 (AF_XDP, copy mode), pinned to CPU 1
//   router       node apps/router/dist/cli.js in rt, pinned to CPU 0; kernel: softirq on the
//                sending CPU (the generator's), and with RPS steering rt p0 to CPU 0 (kernel-rps),
//                as in the forward suite
//   sink         an nftables ingress rule in h2 drops the flood (udp dport 9) after it is
//                counted in rx_packets, for both alike
//
// Before the forwarding rounds, the translator itself (native/bench/nat_bench.cc, one core, no
// network): translation Mpps of established flows and new sessions per second at 10K and 1M
// sessions, conntrack lookups on the translator's table at both sizes and their cost ratio
// (target <= 2x), bytes per session (target <= 128 B, 1M sessions < 256 MiB).
//
// Environment: VNF_NAT_FLOWS, VNF_NAT_WINDOW, VNF_NAT_NEW_WINDOW, VNF_NAT_KINDS (default
// kernel,kernel-rps,afXdp,afPacket), VNF_NAT_BURST (router burstSize, default 32), VNF_NAT_PHASES
// (default established,new).
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ADDRS, forwardingRate, MACS, Topology, waitForOutput } from '@vnf-sdk/netns';
import { median, record, withHugepages } from './stats.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const repo = join(here, '..', '..');
const CLI = join(repo, 'apps', 'router', 'dist', 'cli.js');
const GEN = join(here, 'xdp-gen.mjs');
const FLOWS = Number(process.env.VNF_NAT_FLOWS ?? 10000);
const WINDOW = Number(process.env.VNF_NAT_WINDOW ?? 2);
const NEW_WINDOW = Number(process.env.VNF_NAT_NEW_WINDOW ?? 0.25);
const BURST = Number(process.env.VNF_NAT_BURST ?? 32);
const KINDS = (process.env.VNF_NAT_KINDS ?? 'kernel,kernel-rps,afXdp,afPacket').split(',');
const PHASES = (process.env.VNF_NAT_PHASES ?? 'established,new').split(',');
const NEW_SOURCES = 250;
const BIG_POOL = { cidr: '10.231.2.128/25', range: '10.231.2.128-10.231.2.255', size: 128 };
const GEN_CPU = '1';
const ROUTER_CPU = '0';
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

const LABEL = {
  kernel: 'linux nftables masquerade',
  'kernel-rps': 'linux nftables masquerade, RPS to CPU 0',
  afXdp: 'vnf-router nat, AF_XDP',
  afPacket: 'vnf-router nat, AF_PACKET',
};
const NEW_PEER = `linux nftables snat (pool of ${BIG_POOL.size} addresses)`;
const isKernel = (kind) => kind.startsWith('kernel');
const label = (kind, phase) => (isKernel(kind) && phase === 'new' ? `${NEW_PEER}${kind === 'kernel-rps' ? ', RPS to CPU 0' : ''}` : LABEL[kind]);

/** rt's NAT rule for a phase (kernel). */
const nftNat = (phase) =>
  `table ip nat {\n chain post {\n  type nat hook postrouting priority srcnat;\n  oifname "p1" ${phase === 'new' ? `snat to ${BIG_POOL.range}` : 'masquerade'}\n }\n}\n`;

/** vnf-router's config for a phase: the nat block on p0 (inside) -> p1 (outside). */
function routerConfig(driver, phase, sessions) {
  const port = (name, address, mac) => ({ name, driver, ifname: name, mac, address, ...(driver === 'afXdp' ? { xdpMode: 'native' } : {}) });
  return {
    ports: [port('p0', '10.231.1.1/24', MACS.rtP0), port('p1', '10.231.2.1/24', MACS.rtP1)],
    burstSize: BURST,
    poolSize: 16384,
    nat: {
      inside: ['p0'],
      outside: ['p1'],
      pool: [phase === 'new' ? BIG_POOL.cidr : `${ADDRS.rtP1}/32`],
      ports: '1024-65535',
      filtering: 'address-dependent',
      sessions,
    },
  };
}

async function startRouter(env, phase, commands) {
  const { topo, kind } = env;
  const config = routerConfig(kind, phase, env.sessions);
  const path = join(topo.workDir, `router-${phase}.json`);
  writeFileSync(path, JSON.stringify(config));
  commands.push(`ip netns exec rt taskset -c ${ROUTER_CPU} node apps/router/dist/cli.js router.json  # ${JSON.stringify(config)}`);
  env.out = '';
  env.router = topo.spawn('rt', 'taskset', ['-c', ROUTER_CPU, process.execPath, CLI, path]);
  for (const s of [env.router.stdout, env.router.stderr]) s.setEncoding('utf8').on('data', (d) => (env.out += d));
  try {
    await waitForOutput(env.router, /vnf-router: running/, 30_000, `vnf-router (${kind}, ${phase})`);
  } catch (err) {
    throw new Error(`${err.message}\n${env.out}`);
  }
  env.phase = phase;
}

async function stopRouter(env) {
  if (!env.router) return;
  env.router.kill('SIGCONT');
  env.router.kill('SIGTERM');
  if (env.router.exitCode === null && env.router.signalCode === null) await new Promise((r) => env.router.once('exit', r));
  env.router = null;
}

/** One topology per kind, kept for the whole suite. */
async function setUp(kind, commands) {
  const kernel = isKernel(kind);
  const topo = await Topology.create({ router: kernel ? 'kernel' : 'appliance', promisc: !kernel });
  const env = { topo, kind, router: null, out: '', phase: null, sessions: 0 };
  try {
    // The kernel's table capacity (global, read only from a namespace); ours gets the same.
    env.sessions = Number((await topo.exec('rt', 'cat', ['/proc/sys/net/netfilter/nf_conntrack_max'], { okCodes: [0, 1] })).stdout.trim()) || 262144;
    if (kind === 'kernel-rps') {
      // rt p0's receive processing (the forwarding and NAT) on CPU 0, away from the generator.
      commands.push('ip netns exec rt sh -c "echo 1 > /sys/class/net/p0/queues/rx-0/rps_cpus"');
      await topo.exec('rt', 'sh', ['-c', 'echo 1 > /sys/class/net/p0/queues/rx-0/rps_cpus']);
    }
    if (kernel) await setKernelPhase(env, 'established', commands);
    else await startRouter(env, 'established', commands);
    // Neighbours resolved before the first window (the generator never ARPs).
    await topo.exec('h2', 'ping', ['-c', '1', '-W', '1', ADDRS.rtP1], { okCodes: [0, 1] });
    const nft = 'table netdev vnfsink {\n chain in {\n  type filter hook ingress device eth0 priority 0;\n  udp dport 9 drop\n }\n}\n';
    commands.push(`ip netns exec h2 nft -f -  # ${JSON.stringify(nft)}`);
    await topo.exec('h2', 'nft', ['-f', '-'], { input: nft });
    return env;
  } catch (err) {
    await topo.destroy();
    throw new Error(`${kind}: ${err.message}\n${env.out}`);
  }
}

async function setKernelPhase(env, phase, commands) {
  const { topo } = env;
  if (env.phase !== null) await topo.exec('rt', 'nft', ['delete', 'table', 'ip', 'nat']);
  commands.push(`ip netns exec rt nft -f -  # ${JSON.stringify(nftNat(phase))}`);
  await topo.exec('rt', 'nft', ['-f', '-'], { input: nftNat(phase) });
  env.phase = phase;
}

const ctCount = async (topo) => Number((await topo.exec('rt', 'cat', ['/proc/sys/net/netfilter/nf_conntrack_count'])).stdout.trim());

/** Empty NAT tables before a new-session round: the kernel's aged out, ours restarted. */
async function freshTables(env, commands) {
  const { topo } = env;
  if (!isKernel(env.kind)) {
    await stopRouter(env);
    await startRouter(env, 'new', commands);
    await topo.exec('h2', 'ping', ['-c', '1', '-W', '1', ADDRS.rtP1], { okCodes: [0, 1] });
    return;
  }
  if (env.phase !== 'new') await setKernelPhase(env, 'new', commands);
  await topo.exec('rt', 'sysctl', ['-qw', 'net.netfilter.nf_conntrack_udp_timeout=1', 'net.netfilter.nf_conntrack_udp_timeout_stream=1']);
  for (let i = 0; i < 150 && (await ctCount(topo)) > 16; i++) await sleep(100);
  await topo.exec('rt', 'sysctl', ['-qw', 'net.netfilter.nf_conntrack_udp_timeout=30', 'net.netfilter.nf_conntrack_udp_timeout_stream=120']);
}

/** Runs the generator in h1 and measures one window; returns { rxPps, txPps, genPps, ... }. */
async function measure(env, phase, commands) {
  const { topo } = env;
  const fresh = phase === 'new';
  const window = fresh ? NEW_WINDOW : WINDOW;
  const lead = fresh ? 0.1 : 0.7;
  const seconds = lead + window + (fresh ? 0.5 : 1.8);
  const args = ['-c', GEN_CPU, process.execPath, GEN, '--interface', 'eth0', '--dst-mac', MACS.rtP0, '--src-mac', MACS.h1, '--dst-ip', ADDRS.h2, '--src-ip', ADDRS.h1, '--seconds', String(seconds)];
  args.push(...(fresh ? ['--new-sources', String(NEW_SOURCES), '--src-port', '1024'] : ['--flows', String(FLOWS), '--src-port', '1024', '--cycle-flows', '1']));
  commands.push(`ip netns exec h1 taskset ${args.slice(0, 2).join(' ')} node tooling/bench/xdp-gen.mjs ${args.slice(4).join(' ')}`);
  const gen = topo.spawn('h1', 'taskset', args);
  let out = '';
  for (const s of [gen.stdout, gen.stderr]) s.setEncoding('utf8').on('data', (d) => (out += d));
  const ended = new Promise((resolve) => gen.once('exit', resolve));
  const t0 = topo.ifStatsSync('h1', 'eth0').txPackets;
  for (let i = 0; i < 500 && topo.ifStatsSync('h1', 'eth0').txPackets - t0 < 100; i++) await sleep(2);
  await sleep(lead * 1000);
  const rate = await forwardingRate(topo, { seconds: window });
  const ct = isKernel(env.kind) ? await ctCount(topo) : null;
  const code = await ended;
  const line = out.split('\n').find((l) => l.startsWith('{'));
  if (code !== 0 || !line) throw new Error(`xdp-gen failed (${code}): ${out}`);
  const g = JSON.parse(line);
  return { rxPps: rate.rxPps, txPps: rate.txPps, genPps: g.txPps, genMode: `${g.mode}/${g.xdpMode}`, conntrackCount: ct };
}

/** The translator alone (native/bench/nat_bench.cc): records for the suite. */
function translatorRecords(RUNS, commands) {
  commands.push('make -C native build-nat-bench');
  const make = spawnSync('make', ['-s', '-C', join(repo, 'native'), 'build-nat-bench'], { encoding: 'utf8' });
  if (make.status !== 0) throw new Error(`make build-nat-bench failed:\n${make.stderr}`);
  const args = ['--sizes', '10000,1000000', '--runs', String(Math.max(3, RUNS))];
  commands.push(`native/build-bench/nat_bench ${args.join(' ')}`);
  // 64 hugetlb pages: the 1M table's session array and index (about 40) with room to spare.
  const { result: r, reserved } = withHugepages(64, commands, () =>
    spawnSync(join(repo, 'native', 'build-bench', 'nat_bench'), args, { encoding: 'utf8', maxBuffer: 1 << 24 }),
  );
  if (r.status !== 0) throw new Error(`nat_bench failed:\n${r.stderr}`);
  if (r.stderr) console.log(r.stderr.trim());
  const v = {};
  for (const line of r.stdout.split('\n')) if (line.startsWith('{')) v[JSON.parse(line).name] = JSON.parse(line).value;
  const ten = '10000';
  const mil = '1000000';
  console.log(
    `  translator: ${v[`translate-mpps-${ten}`].toFixed(2)} / ${v[`translate-mpps-${mil}`].toFixed(2)} Mpps translated at 10K / 1M sessions, ` +
      `${(v[`new-sessions-per-sec-${ten}`] / 1e6).toFixed(2)} / ${(v[`new-sessions-per-sec-${mil}`] / 1e6).toFixed(2)} M new sessions/s, ` +
      `lookups ${v[`lookup-mpps-${ten}`].toFixed(1)} / ${v[`lookup-mpps-${mil}`].toFixed(1)} Mpps (ratio ${v[`lookup-cost-ratio-${mil}-vs-${ten}`].toFixed(2)}x), ` +
      `${v[`memory-bytes-per-session-${mil}`].toFixed(1)} B per session`,
  );
  return {
    records: [
      record('nat translate 10K sessions (one core)', 'Mpps', v[`translate-mpps-${ten}`], 'higher'),
      record('nat translate 1M sessions (one core)', 'Mpps', v[`translate-mpps-${mil}`], 'higher', 'the same at 10K sessions', v[`translate-mpps-${ten}`]),
      record('nat new sessions, 10K table', 'Msessions/s', v[`new-sessions-per-sec-${ten}`] / 1e6, 'higher'),
      record('nat new sessions, 1M table', 'Msessions/s', v[`new-sessions-per-sec-${mil}`] / 1e6, 'higher'),
      record('nat conntrack lookups 10K sessions', 'Mpps', v[`lookup-mpps-${ten}`], 'higher'),
      record('nat conntrack lookups 1M sessions', 'Mpps', v[`lookup-mpps-${mil}`], 'higher', 'the same at 10K sessions', v[`lookup-mpps-${ten}`]),
      record('nat conntrack lookup cost ratio 1M vs 10K', 'x', v[`lookup-cost-ratio-${mil}-vs-${ten}`], 'lower', null, null, '<= 2x'),
      record('nat memory per session (1M, both directions, mappings, filters)', 'B', v[`memory-bytes-per-session-${mil}`], 'lower', null, null, '<= 128 B'),
      record('nat memory for 1M sessions', 'MiB', v[`memory-total-${mil}`] / 2 ** 20, 'lower', null, null, '< 256 MiB'),
    ],
    raw: { ...v, hugepagesReserved: reserved },
  };
}

export async function natSuite(RUNS, commands) {
  commands.push('node tooling/bench/run.mjs nat');
  const translator = translatorRecords(RUNS, commands);
  const envs = [];
  const runs = Object.fromEntries(PHASES.map((p) => [p, Object.fromEntries(KINDS.map((k) => [k, []]))]));
  try {
    for (const kind of KINDS) envs.push(await setUp(kind, commands));
    // Only the router being measured runs (an idle one still polls, on the same CPU).
    const only = (active) => {
      for (const e of envs) e.router?.kill(e === active ? 'SIGCONT' : 'SIGSTOP');
    };
    for (const phase of PHASES) {
      for (const env of envs) {
        if (phase === 'established' && env.phase !== 'established') {
          if (isKernel(env.kind)) await setKernelPhase(env, phase, commands);
          else {
            await stopRouter(env);
            await startRouter(env, phase, commands);
          }
        }
        only(env);
        if (phase === 'new') await freshTables(env, commands);
        only(env);
        await measure(env, phase, commands); // warm-up: JIT, ARP, caches
      }
      for (let i = 0; i < RUNS; i++) {
        for (const env of envs) {
          only(env);
          if (phase === 'new') {
            await freshTables(env, commands);
            only(env);
          }
          const r = await measure(env, phase, commands);
          runs[phase][env.kind].push(r);
          console.log(
            `  ${phase} run ${i + 1} ${label(env.kind, phase).padEnd(44)} rx at h2 ${(r.rxPps / 1e6).toFixed(3)} Mpps, h1 tx ${(r.txPps / 1e6).toFixed(3)} Mpps, generator ${(r.genPps / 1e6).toFixed(3)} Mpps${r.conntrackCount === null ? '' : `, conntrack entries ${r.conntrackCount}`}`,
          );
        }
      }
    }
  } finally {
    for (const env of envs) env.router?.kill('SIGCONT'); // a stopped process ignores SIGTERM
    for (const env of envs) await env.topo.destroy();
  }
  const mpps = (phase, kind, key = 'rxPps') => {
    const v = median((runs[phase]?.[kind] ?? []).map((r) => r[key]));
    return v == null ? null : v / 1e6;
  };
  const records = [...translator.records];
  for (const phase of PHASES) {
    const name = phase === 'new' ? 'nat new sessions (64 B, a new source per packet)' : `nat forward ${FLOWS} flows (64 B)`;
    const peer = label('kernel', phase);
    const kernel = KINDS.includes('kernel') ? mpps(phase, 'kernel') : null;
    if (KINDS.includes('kernel')) records.push(record(`${name}, ${peer}`, 'Mpps', kernel, 'higher'));
    for (const kind of KINDS.filter((k) => k !== 'kernel')) {
      if (kind === 'kernel-rps') {
        records.push(record(`${name}, ${label(kind, phase)}`, 'Mpps', mpps(phase, kind), 'higher', KINDS.includes('kernel') ? peer : null, kernel));
        continue;
      }
      records.push(record(`${name}, ${LABEL[kind]}`, 'Mpps', mpps(phase, kind), 'higher', KINDS.includes('kernel') ? peer : null, kernel));
    }
    for (const kind of KINDS) records.push(record(`${name}, generator tx (xdp-gen, ${label(kind, phase)} runs)`, 'Mpps', mpps(phase, kind, 'genPps'), 'higher'));
  }
  return {
    records,
    meta: { translator: translator.raw, flows: FLOWS, window: WINDOW, newWindow: NEW_WINDOW, newSources: NEW_SOURCES, bigPool: BIG_POOL.cidr, burstSize: BURST, generatorCpu: GEN_CPU, routerCpu: ROUTER_CPU, sessions: envs[0]?.sessions, samples: runs },
  };
}
