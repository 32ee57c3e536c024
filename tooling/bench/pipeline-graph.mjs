// The pipeline benchmark's graph, one per worker: generator -> parse -> ttl -> classify -> null.
// parse is the protocols package's burst parser; ttl and classify are plain TypeScript-style
// stages (decrement the TTL with the incremental checksum; pick an output by destination port).
import { GeneratorPort, NullPort } from '@vnf-sdk/ports';
import { BurstParser, PacketFields, PTYPE } from '@vnf-sdk/protocols';

class Parse {
  name = 'parse';
  init(ctx) {
    this.parser = new BurstParser(ctx.pool);
    this.ptype = ctx.pool.meta.ptype;
    this.next = ctx.pool.meta.next;
    this.ok = ctx.stage('ttl');
    this.bad = ctx.drop('malformed');
  }
  process(burst) {
    this.parser.parse(burst);
    const ids = burst.ids;
    for (let i = 0; i < burst.count; i++) {
      const b = ids[i];
      this.next[b] = this.ptype[b] & PTYPE.MALFORMED ? this.bad : this.ok;
    }
  }
}

class Ttl {
  name = 'ttl';
  init(ctx) {
    this.fields = new PacketFields(ctx.pool);
    this.next = ctx.pool.meta.next;
    this.ok = ctx.stage('classify');
    this.expired = ctx.drop('ttl-expired');
  }
  process(burst) {
    const ids = burst.ids;
    const f = this.fields;
    for (let i = 0; i < burst.count; i++) {
      const b = ids[i];
      if (f.ttl(b) <= 1) this.next[b] = this.expired;
      else {
        f.decTtl(b);
        this.next[b] = this.ok;
      }
    }
  }
}

class Classify {
  name = 'classify';
  init(ctx) {
    this.fields = new PacketFields(ctx.pool);
    this.next = ctx.pool.meta.next;
    this.out = [ctx.port('out0'), ctx.port('out1')];
  }
  process(burst) {
    const ids = burst.ids;
    for (let i = 0; i < burst.count; i++) {
      const b = ids[i];
      this.next[b] = this.out[this.fields.srcPort(b) & 1];
    }
  }
}

export default function graph(ctx) {
  return {
    ports: {
      gen: new GeneratorPort(ctx.pool, { id: 0, flows: 64, size: 60 }),
      out0: new NullPort(ctx.pool, { id: 1, name: 'out0' }),
      out1: new NullPort(ctx.pool, { id: 2, name: 'out1' }),
    },
    stages: [new Parse(), new Ttl(), new Classify()],
    rx: [{ port: 'gen', to: 'parse' }],
  };
}
