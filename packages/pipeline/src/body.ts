import { pathToFileURL } from 'node:url';
import { Mempool, type SharedMempool, VnfError } from '@vnf-sdk/core';
import { handleControl, type ControlRequest } from './control.js';
import type { CounterSchema } from './counters.js';
import { Graph, type GraphFactory, type GraphModule, type GraphSpec, type WorkerContext } from './graph.js';
import { Runner, type RunnerEvent, type RunnerOptions } from './runner.js';

/** What a worker needs to build and run its part of a pipeline. */
export interface WorkerInit {
  pool: SharedMempool;
  /** Module specifier (absolute path or file URL) of the graph module; or, in-thread, the module itself. */
  graph: string | Partial<GraphModule>;
  worker: number;
  workers: number;
  options: unknown;
  runner: RunnerOptions;
  /** Float64 counters this worker writes. */
  counters: SharedArrayBuffer;
  /** Int32 cell: set to 1 to stop. */
  stop: SharedArrayBuffer;
  untilFinished: boolean;
}

/** Messages from a worker to the pipeline's owner. */
export type WorkerMessage =
  | { type: 'ready'; schema: CounterSchema }
  | { type: 'schema'; schema: CounterSchema }
  | { type: 'event'; event: RunnerEvent }
  | { type: 'reply'; id: number; ok: boolean; result?: unknown; error?: { code: string; message: string } }
  | { type: 'stopped'; reason: 'stopped' | 'finished' }
  | { type: 'failed'; error: { code: string; message: string } };

export interface WorkerBody {
  control(request: ControlRequest): Promise<unknown>;
  /** Resolves when the loop has ended and everything is closed. */
  done: Promise<void>;
}

function closeQuietly(fn: () => void): void {
  try {
    fn();
  } catch {
    // closing after a failure: the first error is the one reported
  }
}

export function errorInfo(err: unknown): { code: string; message: string } {
  const e = err as { code?: unknown; message?: unknown };
  return { code: typeof e?.code === 'string' ? e.code : 'Error', message: String(e?.message ?? err) };
}

async function loadModule(graph: WorkerInit['graph']): Promise<Partial<GraphModule>> {
  if (typeof graph !== 'string') return graph;
  const url = graph.startsWith('file:') ? graph : pathToFileURL(graph).href;
  try {
    return (await import(url)) as Partial<GraphModule>;
  } catch (err) {
    throw new VnfError('VNF_CONFIG', `cannot load the graph module ${graph}: ${errorInfo(err).message}`);
  }
}

/**
 * Builds one worker's graph and runs its loop (in a worker thread, or in the calling
 * thread for `workers: 0`). Resolves once the graph is built and running; reports through
 * `post`. On any failure while building, everything opened so far is closed.
 */
export async function startBody(init: WorkerInit, post: (m: WorkerMessage) => void): Promise<WorkerBody> {
  const pool = Mempool.attach(init.pool);
  let runner: Runner;
  let module: Partial<GraphModule>;
  let ctx: WorkerContext;
  let spec: GraphSpec | undefined;
  let graph: Graph | undefined;
  try {
    module = await loadModule(init.graph);
    const factory = module.default as GraphFactory | undefined;
    if (typeof factory !== 'function') {
      throw new VnfError('VNF_CONFIG', 'the graph module must export a default function (ctx) => ({ ports, stages, rx? })');
    }
    ctx = { pool, worker: init.worker, workers: init.workers, options: init.options };
    spec = await factory(ctx);
    graph = new Graph(spec, pool, init.worker, init.workers);
    runner = new Runner(graph, new Float64Array(init.counters), init.runner, (event) =>
      post(event.type === 'schema' ? { type: 'schema', schema: event.schema } : { type: 'event', event }),
    );
  } catch (err) {
    // Close what the factory opened and the stages that joined, then give the pool handle back.
    if (graph) for (const s of graph.stages) closeQuietly(() => s.close?.());
    for (const p of Object.values(spec?.ports ?? {})) closeQuietly(() => p?.close?.());
    pool.close();
    throw err;
  }
  post({ type: 'ready', schema: runner.schema() });
  const stop = new Int32Array(init.stop);
  const stopped = () => Atomics.load(stop, 0) !== 0;
  const done = runner
    .run(stopped, init.untilFinished)
    .finally(() => {
      try {
        runner.close();
      } finally {
        pool.close(); // this thread's cached buffers go back to the pool
      }
    })
    .then(() => post({ type: 'stopped', reason: stopped() ? 'stopped' : 'finished' }));
  return {
    done,
    async control(request: ControlRequest): Promise<unknown> {
      const result = await handleControl(runner, request, module, ctx);
      if (request.type === 'replace') post({ type: 'schema', schema: runner.schema() });
      return result;
    },
  };
}
