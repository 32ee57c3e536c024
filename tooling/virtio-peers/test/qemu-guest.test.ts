// A Linux guest (Debian's kernel, busybox initramfs) in QEMU under TCG, its virtio-net-pci on
// a vhost-user netdev served by testpmd's net_vhost in icmpecho mode: the link comes up and
// the guest's pings are answered. The reference run for our vhost-user back-end.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { itWhen } from '@vnf-sdk/test-support';
import { afterAll, afterEach, describe, expect, onTestFailed } from 'vitest';
import {
  featureNames,
  hasFeature,
  hex,
  prepareGuestKernel,
  QemuGuest,
  qemuUnavailable,
  Testpmd,
  testpmdUnavailable,
  VIRTIO_NET_F,
} from '../src/index.js';

const reason = testpmdUnavailable() ?? qemuUnavailable();

describe('QEMU guest on testpmd net_vhost (icmpecho)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'vnf-vq-'));
  const peers: Array<Testpmd | QemuGuest> = [];
  afterEach(async () => {
    for (const p of peers.splice(0).reverse()) await p.stop();
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  for (const variant of [{ packed: false }, { packed: true }]) {
    const ring = variant.packed ? 'packed' : 'split';
    itWhen(
      reason,
      `${ring} ring: the guest's link comes up and its pings are answered`,
      async () => {
        const tk = Date.now();
        const kernel = prepareGuestKernel(); // cached after the first run (a 70 MB download)
        const kernelMs = Date.now() - tk;
        const socket = join(dir, `${ring}.sock`);
        const vh = Testpmd.start({ role: 'vhost', socket, forwardMode: 'icmpecho', cpu: 0 });
        peers.push(vh);
        await vh.waitListening();
        await vh.waitReady();
        const t0 = Date.now();
        const guest = QemuGuest.boot({ socket, kernel, ip: '10.99.0.2/24', packed: variant.packed, timeoutSeconds: 90 });
        peers.push(guest);
        onTestFailed(() => console.log(`guest console:\n${guest.console}\ntestpmd:\n${vh.output.slice(-4000)}`));
        const link = await guest.waitMarker('link', 60_000);
        const linkMs = Date.now() - t0;
        expect(link).toBe('operstate=up carrier=1');
        const ping = await guest.exec('ping -c 3 -W 2 10.99.0.1');
        const pingMs = Date.now() - t0;
        expect(ping.output).toMatch(/3 packets transmitted, 3 packets received/);
        expect(ping.code).toBe(0);
        const stats = await vh.stats();
        // ARP request + 3 echo requests at least (the guest may also send IPv6 or ARP probes).
        expect(stats.rxPackets).toBeGreaterThanOrEqual(4);
        expect(stats.txPackets).toBeGreaterThanOrEqual(4);

        const guestF = await guest.features();
        const vhF = vh.features();
        console.log(
          `[virtio-peers] QEMU ${ring}: kernel ${kernel.version} ready in ${kernelMs} ms; link up ${linkMs} ms after boot, ping done at ${pingMs} ms; ` +
            `guest driver features ${hex(guestF)} [${featureNames(guestF).join(' ')}]; ` +
            `net_vhost got ${hex(vhF.features ?? 0n)} [${featureNames(vhF.features ?? 0n).join(' ')}], protocol ${hex(vhF.protocolFeatures ?? 0n)}; ` +
            `vhost rx ${stats.rxPackets} tx ${stats.txPackets}; modules ${guest.modules.join(',')}`,
        );
        expect(hasFeature(guestF, VIRTIO_NET_F.VERSION_1!)).toBe(true);
        expect(hasFeature(guestF, VIRTIO_NET_F.RING_PACKED!)).toBe(variant.packed);
        // What the back-end was told is the guest's word, minus what QEMU handles itself
        // (STATUS, CTRL_*, ...) plus vhost-user's PROTOCOL_FEATURES (bit 30).
        expect(vhF.features).not.toBeNull();
        expect(vhF.features! & ~(guestF | (1n << 30n))).toBe(0n);

        await guest.stop();
        expect(guest.child.exitCode).toBe(0); // powered off, not killed
      },
      240_000,
    );
  }
});
