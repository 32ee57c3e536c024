// testpmd virtio_user (txonly) -> testpmd net_vhost (rxonly) over a vhost-user socket: the
// reference runs our own virtio frontend and vhost backend will be compared with. Split and
// packed rings, and both socket roles.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { itWhen } from '@vnf-sdk/test-support';
import { afterAll, afterEach, describe, expect } from 'vitest';
import { featureNames, hasFeature, hex, sleep, Testpmd, testpmdUnavailable, VIRTIO_NET_F } from '../src/index.js';

const reason = testpmdUnavailable();
const SECONDS = 3;

describe('testpmd virtio_user -> testpmd net_vhost', () => {
  const dir = mkdtempSync(join(tmpdir(), 'vnf-vp-'));
  const started: Testpmd[] = [];
  afterEach(async () => {
    // Whatever happened in the test: both processes ended, their files gone.
    for (const t of started.splice(0)) await t.stop();
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  async function pair(variant: { packed?: boolean; reversed?: boolean }) {
    const socket = join(dir, `${variant.packed ? 'packed' : 'split'}-${variant.reversed ? 'rev' : 'fwd'}.sock`);
    const t0 = Date.now();
    // The listening side first: vhost by default; with reversed roles, virtio_user (server=1).
    const vhostOpts = { role: 'vhost' as const, socket, forwardMode: 'rxonly', cpu: 0, client: !!variant.reversed };
    const virtioOpts = { role: 'virtio-user' as const, socket, forwardMode: 'txonly', cpu: 1, server: !!variant.reversed, packed: !!variant.packed };
    const first = Testpmd.start(variant.reversed ? virtioOpts : vhostOpts);
    started.push(first);
    await first.waitListening();
    const second = Testpmd.start(variant.reversed ? vhostOpts : virtioOpts);
    started.push(second);
    await Promise.all([first.waitReady(), second.waitReady()]);
    const [vu, vh] = variant.reversed ? [first, second] : [second, first];
    await vu.waitLinkUp();
    await vh.waitLinkUp();
    const setupMs = Date.now() - t0;

    await vu.stats(); // starts the pps window
    await vh.stats();
    await sleep(SECONDS * 1000);
    // Receiver, sender, receiver: rx1 <= tx <= rx2 + what is in flight (one ring).
    const got = await vh.stats();
    const sent = await vu.stats();
    const got2 = await vh.stats();
    // Stop the sender's forwarding (its port stays open), let the receiver drain the ring.
    const vuForward = await vu.stopForwarding();
    await sleep(200);
    const vhFinal = await vh.stats();
    const vuStop = await vu.stop();
    const vhStop = await vh.stop();
    return { vu, vh, sent, got, got2, vhFinal, vuForward, vuStop, vhStop, setupMs };
  }

  for (const variant of [{}, { packed: true }, { reversed: true }, { packed: true, reversed: true }]) {
    const name = `${variant.packed ? 'packed' : 'split'} ring, ${variant.reversed ? 'virtio_user server=1 / vhost client=1' : 'vhost listens'}: packets flow and both sides agree`;
    itWhen(
      reason,
      name,
      async () => {
        const r = await pair(variant);
        const vuF = r.vu.features();
        const vhF = r.vh.features();
        console.log(
          `[virtio-peers] ${name}: setup ${r.setupMs} ms; virtio_user tx ${r.sent.txPackets} (${r.sent.txPps} pps), ` +
            `vhost rx ${r.got.rxPackets} (${r.got.rxPps} pps); final vhost rx ${r.vhFinal.rxPackets}, virtio_user tx ${r.vuForward[0]?.txPackets}; ` +
            `features ${hex(vhF.features ?? 0n)} [${featureNames(vhF.features ?? 0n).join(' ')}], protocol ${hex(vhF.protocolFeatures ?? 0n)}, ` +
            `virtio_user offered ${hex(vuF.offered ?? 0n)} negotiated ${hex(vuF.features ?? 0n)} vq_size ${vuF.queueSize}`,
        );
        // Packets flowed, at a rate no busy machine gets below.
        expect(r.sent.txPackets).toBeGreaterThan(10_000);
        expect(r.got.rxPackets).toBeGreaterThan(10_000);
        expect(r.got.rxErrors).toBe(0);
        expect(r.sent.txErrors).toBe(0);
        // While running: the receiver never counts more than was sent, but for the burst the
        // sender is enqueuing (the receiver can take a descriptor as soon as it is made
        // available, the sender counts it after; seen: rx 22 ahead on a packed ring), and what
        // was sent but not yet received is at most one ring (1024 descriptors) and a burst...
        expect(r.got.rxPackets).toBeLessThanOrEqual(r.sent.txPackets + 32);
        expect(r.sent.txPackets).toBeLessThanOrEqual(r.got2.rxPackets + 1024 + 32);
        // ...and exactly once the sender stopped and the receiver drained the ring.
        const finalTx = r.vuForward[0]?.txPackets;
        expect(finalTx).toBeDefined();
        expect(r.vhFinal.rxPackets).toBe(finalTx);
        expect(r.vhFinal.rxBytes).toBe(finalTx! * 64);
        // Both ends logged the same negotiated word, but for bit 30 (vhost-user's own
        // PROTOCOL_FEATURES, seen by the back-end only) and bit 16 (STATUS: virtio_user
        // emulates it and does not send it).
        expect(vhF.features).not.toBeNull();
        expect(vuF.features).not.toBeNull();
        expect(vhF.features! & ~(1n << 30n)).toBe(vuF.features! & ~(1n << 16n));
        expect(hasFeature(vhF.features!, VIRTIO_NET_F.VERSION_1!)).toBe(true);
        expect(hasFeature(vhF.features!, VIRTIO_NET_F.RING_PACKED!)).toBe(!!variant.packed);
        expect(vuF.queueSize).toBe(1024);
        // stop() removed the runtime directories and the listening side's socket.
        expect(r.vuStop.ended).toBe('quit');
        expect(r.vhStop.ended).toBe('quit');
      },
      60_000,
    );
  }
});
