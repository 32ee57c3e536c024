import { VnfError } from '@vnf-sdk/core';
import type { StageContext } from '@vnf-sdk/pipeline';
import type { Router } from '../router.js';

/**
 * The router's ports as one graph sees them: config index <-> port id (`meta.port`), and
 * the step that transmits on each. Built in a stage's `init`.
 */
export class PortMap {
  /** Config port index by port id (`meta.port`), -1 for ports that are not the router's. */
  readonly byId: Int16Array;
  /** Transmit step by config port index. */
  readonly tx: Int32Array;

  constructor(router: Router, ctx: StageContext, stage: string) {
    const names = ctx.portNames;
    // meta.port is a u16; 0xffff means "no port" and maps to -1 like any unknown id.
    this.byId = new Int16Array(0x10000).fill(-1);
    this.tx = new Int32Array(router.config.ports.length);
    router.config.ports.forEach((p, i) => {
      const id = names.indexOf(p.name);
      if (id < 0) {
        throw new VnfError('VNF_CONFIG', `stage '${stage}': the router's port '${p.name}' is not a port of the graph (ports: ${names.join(', ') || 'none'})`);
      }
      this.byId[id] = i;
      this.tx[i] = ctx.port(p.name);
    });
  }
}
