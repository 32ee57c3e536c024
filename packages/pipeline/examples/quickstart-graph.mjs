// One worker's graph for examples/quickstart.mjs: gen -> ttl -> split -> even | odd.
import { defineGraph } from '@vnf-sdk/pipeline';
import { GeneratorPort, NullPort } from '@vnf-sdk/ports';
import { BurstParser, PacketFields } from '@vnf-sdk/protocols';

class TtlStage {
  name = 'ttl';
  init(ctx) {
    this.parser = new BurstParser(ctx.pool);
    this.fields = new PacketFields(ctx.pool);
    this.next = ctx.pool.meta.next; // where each packet goes: a step number per buffer
    this.toSplit = ctx.stage('split');
    this.expired = ctx.drop('expired'); // a counted drop reason
  }
  process(burst) {
    this.parser.parse(burst); // header offsets for PacketFields
    for (let i = 0; i < burst.count; i++) {
      const b = burst.ids[i];
      if (this.fields.ttl(b) <= 1) this.next[b] = this.expired;
      else {
        this.fields.decTtl(b); // checksum updated incrementally
        this.next[b] = this.toSplit;
      }
    }
  }
}

class SplitStage {
  name = 'split';
  init(ctx) {
    this.fields = new PacketFields(ctx.pool);
    this.next = ctx.pool.meta.next;
    this.ports = [ctx.port('even'), ctx.port('odd')];
  }
  process(burst) {
    for (let i = 0; i < burst.count; i++) {
      const b = burst.ids[i];
      this.next[b] = this.ports[this.fields.srcPort(b) & 1];
    }
  }
}

export default defineGraph((ctx) => ({
  ports: {
    gen: new GeneratorPort(ctx.pool, { id: 0, flows: 8, rate: ctx.options.rate }),
    even: new NullPort(ctx.pool, { id: 1, name: 'even' }),
    odd: new NullPort(ctx.pool, { id: 2, name: 'odd' }),
  },
  stages: [new TtlStage(), new SplitStage()],
  rx: [{ port: 'gen', to: 'ttl' }],
}));
