// One worker's graph for examples/pipeline.mjs: gen -> parse -> acl -> out.
import { AclStage } from '@vnf-sdk/acl';
import { defineGraph } from '@vnf-sdk/pipeline';
import { GeneratorPort, NullPort } from '@vnf-sdk/ports';
import { build, BurstParser } from '@vnf-sdk/protocols';

const frame = (l4, dstPort) =>
  build([
    { type: 'ethernet', src: '02:00:00:00:00:01', dst: '02:00:00:00:00:02' },
    { type: 'ipv4', src: '10.0.0.1', dst: '192.0.2.7' },
    { type: l4, srcPort: 40000, dstPort, ...(l4 === 'tcp' ? { flags: 0x02 } : {}) },
  ]);

class ParseStage {
  name = 'parse';
  init(ctx) {
    this.parser = new BurstParser(ctx.pool); // header offsets and type bits the ACL reads
    this.next = ctx.pool.meta.next;
    this.toAcl = ctx.stage('acl');
  }
  process(burst) {
    this.parser.parse(burst);
    for (let i = 0; i < burst.count; i++) this.next[burst.ids[i]] = this.toAcl;
  }
}

export default defineGraph((ctx) => ({
  ports: {
    // 4 frames in turn: https, telnet, dns, udp 9999
    gen: new GeneratorPort(ctx.pool, { id: 0, frames: [frame('tcp', 443), frame('tcp', 23), frame('udp', 53), frame('udp', 9999)], count: ctx.options.count, rate: ctx.options.rate }),
    out: new NullPort(ctx.pool, { id: 1, name: 'out' }),
  },
  stages: [new ParseStage(), new AclStage({ table: ctx.options.table, permit: 'port:out' })],
  rx: [{ port: 'gen', to: 'parse' }],
}));
