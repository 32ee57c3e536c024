// NAT44, differential: the same flows through Linux's NAT (rt forwarding, nftables masquerade
// on p1) and through vnf-router's nat stage (appliance mode, AF_PACKET ports, pool = rt p1's
// address), captured on h1 (inside) and h2 (outside) and dissected with tshark. Both must do
// what RFC 4787 / 5382 / 5508 fix: the pool address outside, endpoint-independent mapping,
// translated ICMP identifiers, ICMP errors restored at h1 (quoted address and port), every
// checksum valid, the payloads untouched, and the same payloads through both. External port
// numbers are printed side by side, never compared: Linux keeps a free source port, ours may
// choose another.
import { existsSync } from 'node:fs';
import { listNetns, netnsUnavailable, Topology } from '@vnf-sdk/netns';
import { itWhen } from '@vnf-sdk/test-support';
import { afterAll, describe, expect } from 'vitest';
import { NFT_MASQUERADE, type NatObservation, natBlock, observe, outsidePayloads, portTable, violations } from './nat-helpers.js';
import { CLI, RouterProcess, routerConfig } from './router-process.js';

const kernelReason = netnsUnavailable(['tcpdump', 'tshark', 'nft', 'python3']);
const reason = kernelReason ?? (existsSync(CLI) ? null : 'dist/cli.js is not built (npm run build)');

/** Memoised, so each side runs once whichever test asks first, and a failure is reported by the tests that need it. */
function once<T>(fn: () => Promise<T>): () => Promise<T> {
  let p: Promise<T> | undefined;
  return () => {
    p ??= fn();
    return p;
  };
}

describe('NAT44 differential: nftables masquerade vs vnf-router nat', () => {
  const topos: Topology[] = [];
  const names: string[] = [];
  const track = (t: Topology) => {
    topos.push(t);
    names.push(...Object.values(t.names));
    return t;
  };

  const kernel = once(async (): Promise<NatObservation> => {
    const topo = track(await Topology.create({ router: 'kernel' }));
    await topo.exec('rt', 'nft', ['-f', '-'], { input: NFT_MASQUERADE });
    return observe(topo, 'linux nftables masquerade');
  });

  const ours = once(async (): Promise<NatObservation> => {
    const topo = track(await Topology.create({ router: 'appliance', promisc: true }));
    await RouterProcess.start(topo, routerConfig('afPacket', { nat: natBlock() }));
    return observe(topo, 'vnf-router nat (AF_PACKET)');
  });

  afterAll(async () => {
    for (const t of topos) await t.destroy();
  });

  itWhen(kernelReason, 'linux nftables masquerade (the reference) does what the RFCs fix', async () => {
    const k = await kernel();
    expect(violations(k)).toEqual([]);
  });

  itWhen(reason, "vnf-router's nat does what the RFCs fix", async () => {
    const o = await ours();
    expect(violations(o)).toEqual([]);
  });

  itWhen(reason, 'both: the same payloads outside, the same results at h1; port choices printed, not compared', async () => {
    const [k, o] = [await kernel(), await ours()];
    console.log(`NAT44 external ports (RFC 4787 leaves the choice free):\n${portTable(k, o)}`);
    expect(outsidePayloads(o)).toEqual(outsidePayloads(k));
    expect(o.client).toEqual(k.client);
  });

  itWhen(kernelReason, "(last) none of the file's namespaces and router processes is left", async () => {
    for (const t of topos) await t.destroy();
    for (const t of topos) expect(t.processes.size).toBe(0);
    const left = listNetns().filter((n) => names.includes(n));
    expect(left).toEqual([]);
  });
});
