/**
 * The router as a pipeline graph: for one worker, its ports (by driver, from the config)
 * and its stages, input -> {arp, ip4} -> ports; with `acl`, IPv4 goes input -> acl -> ip4;
 * with `acl` and `conntrack`, input -> ct-lookup -> (hit) ip4 | (miss) acl -> (permit) ip4 |
 * (permit-and-track) ct-track -> ip4; with `nat`, `nat` comes before ip4. Given to
 * `Pipeline.start` by path (see cli.ts); the options carry the config file's path, which
 * each worker loads itself.
 * @module
 */
import { AclStage } from '@vnf-sdk/acl';
import { ConntrackStage } from '@vnf-sdk/conntrack';
import { NatStage } from '@vnf-sdk/nat';
import { VnfError } from '@vnf-sdk/core';
import { defineGraph, type GraphSpec, type Stage, type WorkerContext } from '@vnf-sdk/pipeline';
import { AfPacketPort, AfXdpPort, type Port, PcapPort, TapPort } from '@vnf-sdk/ports';
import { VhostUserPort, VirtioUserPort } from '@vnf-sdk/virtio';
import { loadConfig, type PortConfig } from './config.js';
import { Router, STAGES } from './router.js';

/** What cli.ts passes to every worker. */
export interface RouterGraphOptions {
  /** Path of the config file (relative paths inside it are relative to the file). */
  config: string;
  /** With `acl` in the config: the id of the ACL table the main thread loaded. */
  aclTable?: number;
  /** With `conntrack` in the config: the id of the session table the main thread created. */
  conntrackTable?: number;
  /** With `nat` in the config: the id of the translator the main thread created. */
  nat?: number;
}

function openPort(ctx: WorkerContext, p: PortConfig, id: number): Port {
  const d = p.driver;
  switch (d.type) {
    case 'pcap':
      return new PcapPort(ctx.pool, { name: p.name, id, rxPath: d.rx ?? undefined, txPath: d.tx ?? undefined, timing: d.timing });
    case 'afPacket':
      return new AfPacketPort(ctx.pool, { interface: d.ifname, id, promiscuous: true });
    case 'tap':
      return new TapPort(ctx.pool, { name: d.ifname, id });
    case 'afXdp': {
      const port = new AfXdpPort(ctx.pool, {
        interface: d.ifname,
        queues: [d.queue],
        id,
        xdpMode: d.xdpMode,
        rxSize: d.ringSize,
        fillSize: d.ringSize,
        txSize: d.ringSize,
        completionSize: d.ringSize,
      });
      // What the kernel granted (copy or zero-copy, native or generic XDP): worth a line.
      console.log(`vnf-router: port ${p.name}: AF_XDP on ${d.ifname} queue ${d.queue}, ${port.mode} mode, ${port.xdpMode} XDP${port.modeNote ? ` (${port.modeNote})` : ''}`);
      return port;
    }
    case 'vhostUser': {
      // The open only listens (or connects, with client): the link is down until a frontend
      // sets its rings up, and the port keeps servicing the socket from rxBurst/txBurst, so
      // the router runs without a VM and keeps running when it goes away (what it would have
      // sent meanwhile is dropped as runtime:tx-full).
      const port = new VhostUserPort(ctx.pool, { path: d.path, client: d.client, queues: d.queues, id });
      console.log(`vnf-router: port ${p.name}: vhost-user device on ${d.path} (${d.client ? 'client' : 'listening'}), link ${port.linkUp() ? 'up' : 'down until a frontend attaches'}`);
      return port;
    }
    case 'virtioUser': {
      // Unlike the device, the driver negotiates at open: the backend must be there (or, with
      // server, connect within the port's timeout).
      const port = new VirtioUserPort(ctx.pool, { path: d.path, server: d.server, packed: d.packed, queues: d.queues, id });
      console.log(`vnf-router: port ${p.name}: virtio-user on ${d.path}, features ${port.featureNames().join(' ')}`);
      return port;
    }
  }
}

/** Receive queues of a port: every queue pair of a virtio port (a guest spreads its flows over them), queue 0 otherwise. */
function rxQueues(p: PortConfig): number[] {
  const d = p.driver;
  const n = d.type === 'vhostUser' || d.type === 'virtioUser' ? d.queues : 1;
  return Array.from({ length: n }, (_, q) => q);
}

export default defineGraph((ctx: WorkerContext<RouterGraphOptions>): GraphSpec => {
  const config = loadConfig(ctx.options.config);
  const router = new Router(config);
  const opened: Record<string, Port> = {};
  try {
    config.ports.forEach((p, i) => {
      opened[p.name] = openPort(ctx, p, i);
    });
  } catch (err) {
    for (const port of Object.values(opened)) port.close();
    throw err;
  }
  const s = router.stages();
  const stages: Stage[] = [s.input, s.arp, s.ip4];
  // Where permitted IPv4 packets go on to: translation first when there is a NAT.
  const onward = `stage:${config.nat ? STAGES.nat : STAGES.ip4}`;
  if (config.acl) {
    if (ctx.options.aclTable === undefined) throw new VnfError('VNF_CONFIG', 'the config has an acl but the pipeline was started without its table');
    const ct = config.conntrack ? ctx.options.conntrackTable : undefined;
    if (config.conntrack && ct === undefined) throw new VnfError('VNF_CONFIG', 'the config has conntrack but the pipeline was started without its table');
    // A stateful firewall: packets of tracked sessions (either direction) skip the ACL; the
    // others are judged by it, and its permit-and-track rules open sessions.
    if (ct !== undefined) stages.push(new ConntrackStage({ name: STAGES.ctLookup, table: ct, mode: 'lookup', next: onward, miss: `stage:${STAGES.acl}` }));
    stages.push(
      new AclStage({
        name: STAGES.acl,
        table: ctx.options.aclTable,
        permit: onward,
        ...(ct !== undefined ? { track: `stage:${STAGES.ctTrack}` } : {}),
        reject: { icmpSource: router.portAddressText, rate: config.acl.rejectRate },
      }),
    );
    if (ct !== undefined) stages.push(new ConntrackStage({ name: STAGES.ctTrack, table: ct, mode: 'track', next: onward }));
  }
  if (config.nat) {
    if (ctx.options.nat === undefined) throw new VnfError('VNF_CONFIG', 'the config has nat but the pipeline was started without its translator');
    // Translated packets are routed on their new destination; packets for the router itself
    // and non-IPv4 ones go on to ip4 untranslated.
    const ip4 = `stage:${STAGES.ip4}`;
    stages.push(new NatStage({ name: STAGES.nat, nat: ctx.options.nat, outside: config.nat.outside, next: ip4, local: ip4, other: ip4 }));
  }
  return {
    ports: opened,
    stages,
    rx: config.ports.flatMap((p) => rxQueues(p).map((queue) => ({ port: p.name, queue, to: STAGES.input }))),
  };
});
