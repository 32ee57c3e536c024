import { EventEmitter } from 'node:events';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { Worker } from 'node:worker_threads';
import { Mempool, type MempoolOptions, VnfError } from '@vnf-sdk/core';
import { errorInfo, startBody, type WorkerBody, type WorkerInit, type WorkerMessage } from './body.js';
import type { ControlRequest } from './control.js';
import { COUNTERS_LENGTH, type CounterSchema, readStats, sumStats, type WorkerStats } from './counters.js';
import type { GraphFactory, GraphModule } from './graph.js';
import { checkRunnerOptions, type RunnerEvent, type RunnerOptions } from './runner.js';
import type { CaptureOptions, TraceOptions, TraceRecord } from './trace.js';

/** Options of {@link Pipeline.start}. */
export interface PipelineOptions<O = unknown> {
  /**
   * The graph: a module (absolute path or file URL) whose default export builds one
   * worker's ports and stages (see `defineGraph`) and may export `createStage` for
   * {@link Pipeline.replaceStage}. With `workers: 0` the module object or a factory
   * function may be given directly.
   */
  graph: string | URL | GraphFactory<O> | Partial<GraphModule<O>>;
  /**
   * Worker threads, each running the graph on its own ports or queues. 0 runs the loop
   * in this thread (tests, tools, capture replays). Default 1.
   */
  workers?: number;
  /** The pool, or options to create one (then the pipeline closes it on stop). */
  pool: Mempool | MempoolOptions;
  /** Passed to the graph factory of every worker (must survive a structured clone). */
  options?: O;
  runner?: RunnerOptions;
  /** Stop by itself when every polled port is finished (capture files read, generators done). */
  untilFinished?: boolean;
}

/** Counters of the whole pipeline and of each worker. */
export interface PipelineStats {
  total: WorkerStats;
  workers: WorkerStats[];
}

interface Member {
  counters: Float64Array;
  stop: Int32Array;
  schema: CounterSchema;
  request(req: ControlRequest): Promise<unknown>;
  ended: Promise<void>;
}

/**
 * A running pipeline: one graph of ports and stages per worker, run to completion, with
 * counters readable at any time, stage replacement, packet traces and capture points
 * while traffic flows, and a graceful stop after which every buffer is back in the pool.
 *
 * Events: 'port-failed', 'stage-error' ({ worker, ...details }), 'trace' (a TraceRecord),
 * 'capture-done', 'capture-failed' (the capture point could not write; traffic goes on).
 */
export class Pipeline extends EventEmitter {
  readonly pool: Mempool;
  readonly workers: number;
  /** Resolves with the final counters when the pipeline has stopped (by stop() or untilFinished). */
  readonly finished: Promise<PipelineStats>;
  private readonly members: Member[];
  private readonly ownsPool: boolean;
  private stopping = false;
  private ended = false;

  private constructor(pool: Mempool, ownsPool: boolean, members: Member[]) {
    super();
    this.pool = pool;
    this.ownsPool = ownsPool;
    this.members = members;
    this.workers = members.length;
    this.finished = Promise.all(members.map((m) => m.ended)).then(() => {
      this.ended = true;
      const s = this.stats();
      if (this.ownsPool) this.pool.close();
      return s;
    });
  }

  /**
   * Builds the graph in every worker and starts the loops. Rejects (after closing whatever
   * was opened) with the first worker's error: bad config is reported before any traffic.
   */
  static async start<O>(options: PipelineOptions<O>): Promise<Pipeline> {
    if (options === null || typeof options !== 'object') throw new VnfError('VNF_CONFIG', 'Pipeline.start: options must be an object');
    const workers = options.workers ?? 1;
    if (!Number.isInteger(workers) || workers < 0 || workers > 64) {
      throw new VnfError('VNF_CONFIG', `Pipeline.start: workers must be an integer from 0 to 64, got ${String(workers)}`);
    }
    const graph = graphSource(options.graph as PipelineOptions['graph'], workers);
    checkRunnerOptions(options.runner ?? {});
    const ownsPool = !(options.pool instanceof Mempool);
    const pool = options.pool instanceof Mempool ? options.pool : Mempool.create(options.pool);
    // Events from workers already running while others still build are kept until the
    // Pipeline exists, then replayed to its listeners on the next turn.
    const events = new EventEmitter();
    const early: Array<[number, RunnerEvent]> = [];
    const keepEarly = (worker: number, e: RunnerEvent) => early.push([worker, e]);
    events.on('event', keepEarly);
    const members: Member[] = [];
    try {
      const count = Math.max(1, workers);
      const made = await Promise.allSettled(
        Array.from({ length: count }, (_, w) =>
          startMember(workers === 0, {
            pool: pool.share(),
            graph,
            worker: w,
            workers: count,
            options: options.options,
            runner: options.runner ?? {},
            counters: new SharedArrayBuffer(COUNTERS_LENGTH * 8),
            stop: new SharedArrayBuffer(4),
            untilFinished: options.untilFinished ?? false,
          }, events),
        ),
      );
      for (const r of made) if (r.status === 'fulfilled') members.push(r.value);
      const failed = made.find((r) => r.status === 'rejected') as PromiseRejectedResult | undefined;
      if (failed) {
        for (const m of members) Atomics.store(m.stop, 0, 1);
        await Promise.allSettled(members.map((m) => m.ended));
        throw failed.reason;
      }
    } catch (err) {
      if (ownsPool) pool.close();
      throw err;
    }
    const p = new Pipeline(pool, ownsPool, members);
    const forward = (worker: number, e: RunnerEvent) => {
      if (e.type === 'trace') p.emit('trace', e.record);
      else if (e.type !== 'trace-done' && e.type !== 'schema') p.emit(e.type, { worker, ...e });
    };
    events.off('event', keepEarly);
    events.on('event', forward);
    if (early.length > 0) {
      setImmediate(() => {
        for (const [w, e] of early) forward(w, e);
      });
    }
    return p;
  }

  /** Counters, live: read from shared memory, no message to the workers. */
  stats(): PipelineStats {
    const workers = this.members.map((m) => readStats(m.counters, m.schema));
    return { total: sumStats(workers), workers };
  }

  /**
   * Replaces the named stage in every worker with `createStage(name, options)` of the graph
   * module, between two bursts: no packet is lost or seen half-processed. Counters carry on.
   */
  async replaceStage(name: string, options?: unknown): Promise<void> {
    await this.all({ type: 'replace', stage: name, options });
  }

  /**
   * Follows the next `count` packets (per worker) matching `filter` through every stage and
   * resolves with their paths: each stage's verdict and the header fields it changed.
   * Resolves early, with what was traced, after `timeoutMs` (default 5000).
   */
  async trace(options: TraceOptions & { timeoutMs?: number } = {}): Promise<TraceRecord[]> {
    const { timeoutMs = 5000, ...traceOptions } = options;
    const want = (traceOptions.count ?? 10) * this.workers;
    const records: TraceRecord[] = [];
    const onRecord = (r: TraceRecord) => records.push(r);
    this.on('trace', onRecord);
    try {
      await this.all({ type: 'trace', options: traceOptions });
      const t0 = Date.now();
      while (records.length < want && Date.now() - t0 < timeoutMs && !this.stopping) {
        await new Promise((r) => setTimeout(r, 5));
      }
    } finally {
      this.off('trace', onRecord);
      if (!this.stopping) await this.all({ type: 'trace-stop' }).catch(() => {});
    }
    return records.sort((a, b) => a.worker - b.worker || a.id - b.id);
  }

  /**
   * Starts a capture point: every packet entering `stage` is written to a pcap file
   * (one file per worker: `path` for worker 0, `path` with `.w<N>` before the extension
   * for the others).
   */
  async capture(options: CaptureOptions): Promise<void> {
    if (this.stopping || this.ended) throw new VnfError('VNF_CLOSED', 'capture: the pipeline has stopped');
    await Promise.all(
      this.members.map((m, w) => m.request({ type: 'capture', options: { ...options, path: workerPath(options.path, w) } })),
    );
  }

  /** Stops the capture point at `stage`; resolves with the packets written (all workers). */
  async stopCapture(stage: string): Promise<number> {
    const written = (await this.all({ type: 'capture-stop', stage })) as number[];
    return written.reduce((a, b) => a + b, 0);
  }

  /**
   * Stops every worker between two polls; in-flight buffers go back to the pool, ports
   * and stages are closed. Resolves with the final counters.
   */
  async stop(): Promise<PipelineStats> {
    this.stopping = true;
    for (const m of this.members) Atomics.store(m.stop, 0, 1);
    return this.finished;
  }

  private all(req: ControlRequest): Promise<unknown[]> {
    if (this.stopping || this.ended) return Promise.reject(new VnfError('VNF_CLOSED', `${req.type}: the pipeline has stopped`));
    return Promise.all(this.members.map((m) => m.request(req)));
  }
}

function graphSource(graph: PipelineOptions['graph'], workers: number): WorkerInit['graph'] {
  if (typeof graph === 'function') {
    if (workers !== 0) throw new VnfError('VNF_CONFIG', 'Pipeline.start: a graph function works only with workers: 0; give worker threads a module path');
    return { default: graph as GraphFactory };
  }
  if (graph instanceof URL) return graph.href;
  if (typeof graph === 'string') {
    if (graph.startsWith('file:')) return graph;
    if (!existsSync(graph)) throw new VnfError('VNF_CONFIG', `Pipeline.start: graph module ${graph} does not exist`);
    return pathToFileURL(graph).href;
  }
  if (graph && typeof graph === 'object' && typeof (graph as Partial<GraphModule>).default === 'function') {
    if (workers !== 0) throw new VnfError('VNF_CONFIG', 'Pipeline.start: a module object works only with workers: 0; give worker threads a module path');
    return graph as Partial<GraphModule>;
  }
  throw new VnfError('VNF_CONFIG', 'Pipeline.start: graph must be a module path, a file URL, or (workers: 0) a factory function');
}

function workerPath(path: string, w: number): string {
  if (w === 0) return path;
  const dot = path.lastIndexOf('.');
  return dot > path.lastIndexOf('/') ? `${path.slice(0, dot)}.w${w}${path.slice(dot)}` : `${path}.w${w}`;
}

/** The compiled worker entry: dist/worker.js next to this module, or (tests from src/) the built one. */
function workerEntry(): string {
  const here = dirname(fileURLToPath(import.meta.url));
  for (const candidate of [join(here, 'worker.js'), join(here, '..', 'dist', 'worker.js')]) {
    if (existsSync(candidate)) return candidate;
  }
  throw new VnfError('VNF_CONFIG', `@vnf-sdk/pipeline: worker entry not found next to ${here} (build the package)`);
}

function toVnfError(e: { code: string; message: string }): VnfError {
  const err = new VnfError('VNF_CONFIG', e.message);
  (err as { code: string }).code = e.code;
  return err;
}

async function startMember(inThread: boolean, init: WorkerInit, events: EventEmitter): Promise<Member> {
  const counters = new Float64Array(init.counters);
  const stop = new Int32Array(init.stop);
  let schema: CounterSchema = { steps: [], stages: [], ports: [] };
  const onMessage = (m: WorkerMessage) => {
    if (m.type === 'schema') schema = m.schema;
    else if (m.type === 'event') events.emit('event', init.worker, m.event);
  };
  if (inThread) {
    let body: WorkerBody;
    try {
      body = await startBody(init, (m) => {
        if (m.type === 'ready') schema = m.schema;
        else onMessage(m);
      });
    } catch (err) {
      throw err instanceof VnfError ? err : toVnfError(errorInfo(err));
    }
    return {
      counters,
      stop,
      get schema() {
        return schema;
      },
      request: (req) => body.control(req),
      ended: body.done,
    };
  }
  const worker = new Worker(workerEntry());
  let nextId = 1;
  let exited = false;
  const pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: unknown) => void }>();
  let ready!: () => void;
  let fail!: (e: unknown) => void;
  const started = new Promise<void>((res, rej) => {
    ready = res;
    fail = rej;
  });
  const ended = new Promise<void>((resolve) => {
    worker.on('message', (m: WorkerMessage) => {
      if (m.type === 'ready') {
        schema = m.schema;
        ready();
      } else if (m.type === 'reply') {
        const p = pending.get(m.id);
        pending.delete(m.id);
        if (m.ok) p?.resolve(m.result);
        else p?.reject(toVnfError(m.error as { code: string; message: string }));
      } else if (m.type === 'failed') {
        fail(toVnfError(m.error));
        events.emit('event', init.worker, { type: 'stage-error', stage: '(worker)', ...m.error });
      } else {
        onMessage(m);
      }
    });
    worker.on('error', (err) => fail(err));
    worker.on('exit', () => {
      exited = true;
      fail(new VnfError('VNF_CONFIG', `pipeline worker ${init.worker} exited before it was ready`));
      for (const p of pending.values()) p.reject(new VnfError('VNF_CLOSED', `pipeline worker ${init.worker} has stopped`));
      pending.clear();
      resolve();
    });
  });
  worker.postMessage({ type: 'init', init });
  await started;
  return {
    counters,
    stop,
    get schema() {
      return schema;
    },
    request(req) {
      if (exited) return Promise.reject(new VnfError('VNF_CLOSED', `${req.type}: pipeline worker ${init.worker} has stopped`));
      const id = nextId++;
      return new Promise((resolve, reject) => {
        pending.set(id, { resolve, reject });
        worker.postMessage({ type: 'control', id, request: req });
      });
    },
    ended,
  };
}
