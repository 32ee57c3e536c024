import { type Mempool, VnfError } from '@vnf-sdk/core';
import type { Port } from '@vnf-sdk/ports';
import type { Stage, StageContext } from './stage.js';

/** Where the packets of one port queue go first. */
export interface RxBinding {
  /** Port name. */
  port: string;
  /** Queue of that port (default 0). */
  queue?: number;
  /** First stage (default: the graph's first stage). */
  to?: string;
}

/** What a graph factory returns: the ports and stages of one worker, and how they connect. */
export interface GraphSpec {
  /** Ports by name, in port-id order (a port's `id` should be its position here). */
  ports: Record<string, Port>;
  /** Stages; their `name`s must be unique. The first is where received packets go by default. */
  stages: Stage[];
  /** Which port queues to poll, and where their packets go. Default: queue 0 of every port that can receive, to the first stage. */
  rx?: RxBinding[];
}

/** What a graph factory gets: the pool, which worker it builds for, and the pipeline's options. */
export interface WorkerContext<O = unknown> {
  readonly pool: Mempool;
  readonly worker: number;
  readonly workers: number;
  /** The `options` given to `Pipeline.start`, as posted to the worker (structured clone). */
  readonly options: O;
}

/** Builds one worker's graph. Runs in the worker: open ports and create stages here. */
export type GraphFactory<O = unknown> = (ctx: WorkerContext<O>) => GraphSpec | Promise<GraphSpec>;

/**
 * A module given to `Pipeline.start({ graph })` exports its factory as default and, to allow
 * replacing a stage while traffic flows, `createStage`.
 */
export interface GraphModule<O = unknown> {
  default: GraphFactory<O>;
  createStage?(name: string, options: unknown, ctx: WorkerContext<O>): Stage | Promise<Stage>;
}

/** Marks a graph factory (identity at run time; gives types to a plain JS module). */
export function defineGraph<O = unknown>(factory: GraphFactory<O>): GraphFactory<O> {
  return factory;
}

/** Kind of a next step. */
export const StepKind = { Drop: 0, Port: 1, Stage: 2 } as const;
export type StepKind = (typeof StepKind)[keyof typeof StepKind];

/** One next step: a drop reason of a stage, a port to transmit on, or a stage. */
export interface Step {
  kind: StepKind;
  /** 'drop:<stage>:<reason>', 'port:<name>', 'stage:<name>'. */
  name: string;
  /** Port index or stage index. */
  target: number;
}

/** Steps are 16-bit values in `meta.next`; keep room for reasons added by replaced stages. */
export const MAX_STEPS = 1024;
/** Graph limits, so the counters fit a fixed layout. */
export const MAX_STAGES = 64;
export const MAX_PORTS = 64;

/**
 * The validated graph of one worker: ports and stages by index, and the step table that
 * `meta.next` values index.
 */
export class Graph {
  readonly portNames: string[];
  readonly ports: Port[];
  readonly stageNames: string[];
  readonly stages: Stage[];
  readonly steps: Step[] = [];
  readonly rx: Array<{ port: number; queue: number; stage: number }>;
  /** Per stage: the step it falls back to when it sets no next step ('no-verdict'). */
  readonly noVerdict: number[] = [];
  private readonly stepIndex = new Map<string, number>();

  constructor(
    spec: GraphSpec,
    readonly pool: Mempool,
    readonly worker: number,
    readonly workers: number,
  ) {
    if (spec === null || typeof spec !== 'object') throw config('the graph factory must return { ports, stages, rx? }');
    if (spec.ports === null || typeof spec.ports !== 'object') throw config('graph.ports must be an object of ports by name');
    if (!Array.isArray(spec.stages) || spec.stages.length === 0) throw config('graph.stages must be a non-empty array of stages');
    this.portNames = Object.keys(spec.ports);
    this.ports = Object.values(spec.ports);
    if (this.ports.length > MAX_PORTS) throw config(`a graph has at most ${MAX_PORTS} ports, got ${this.ports.length}`);
    if (spec.stages.length > MAX_STAGES) throw config(`a graph has at most ${MAX_STAGES} stages, got ${spec.stages.length}`);
    this.ports.forEach((p, i) => {
      if (!p || typeof p.rxBurst !== 'function' || typeof p.txBurst !== 'function') {
        throw config(`graph.ports.${this.portNames[i]} is not a Port`);
      }
      if (p.pool !== pool) throw config(`graph.ports.${this.portNames[i]} uses another pool than the pipeline's`);
    });
    this.stages = [...spec.stages];
    this.stageNames = this.stages.map((s, i) => {
      if (!s || typeof s.process !== 'function' || typeof s.name !== 'string' || s.name === '') {
        throw config(`graph.stages[${i}] is not a Stage (a name and a process(burst) method)`);
      }
      return s.name;
    });
    const dup = this.stageNames.find((n, i) => this.stageNames.indexOf(n) !== i);
    if (dup) throw config(`graph.stages: two stages are named '${dup}'`);
    // Ports and stages get their steps first, so their numbers do not depend on init order.
    this.portNames.forEach((n, i) => {
      this.addStep(StepKind.Port, `port:${n}`, i);
    });
    this.stageNames.forEach((n, i) => {
      this.addStep(StepKind.Stage, `stage:${n}`, i);
    });
    const rx: RxBinding[] = spec.rx ?? this.portNames.map((port) => ({ port }));
    this.rx = rx.map((b, i) => {
      const port = this.portNames.indexOf(b?.port);
      if (port < 0) throw config(`graph.rx[${i}].port: no port named '${String(b?.port)}'`);
      const queue = b.queue ?? 0;
      if (!Number.isInteger(queue) || queue < 0 || queue >= this.ports[port].queues) {
        throw config(`graph.rx[${i}].queue: port '${b.port}' has queues 0..${this.ports[port].queues - 1}, got ${String(queue)}`);
      }
      const stage = b.to === undefined ? 0 : this.stageNames.indexOf(b.to);
      if (stage < 0) throw config(`graph.rx[${i}].to: no stage named '${String(b.to)}'`);
      return { port, queue, stage };
    });
    for (let i = 0; i < this.stages.length; i++) {
      try {
        this.initStage(i, this.stages[i]);
      } catch (err) {
        for (let k = 0; k < i; k++) this.stages[k].close?.(); // those already joined
        throw err;
      }
    }
  }

  /** Step numbers in `meta.next`: the target of each. */
  stepOf(name: string): number | undefined {
    return this.stepIndex.get(name);
  }

  /** Joins `stage` at index `i` (at start, or replacing the stage there). */
  initStage(i: number, stage: Stage): void {
    const name = this.stageNames[i];
    if (stage.name !== name) throw config(`a stage replacing '${name}' must have the same name, got '${stage.name}'`);
    this.noVerdict[i] = this.addStep(StepKind.Drop, `drop:${name}:no-verdict`, i);
    stage.init?.(this.contextFor(name));
    this.stages[i] = stage;
  }

  private contextFor(stageName: string): StageContext {
    const graph = this;
    return {
      pool: this.pool,
      worker: this.worker,
      workers: this.workers,
      portNames: this.portNames,
      port(name: string): number {
        const s = graph.stepIndex.get(`port:${name}`);
        if (s === undefined) throw config(`stage '${stageName}': no port named '${name}' (ports: ${graph.portNames.join(', ')})`);
        return s;
      },
      stage(name: string): number {
        const s = graph.stepIndex.get(`stage:${name}`);
        if (s === undefined) throw config(`stage '${stageName}': no stage named '${name}' (stages: ${graph.stageNames.join(', ')})`);
        return s;
      },
      drop(reason: string): number {
        if (typeof reason !== 'string' || reason === '') throw config(`stage '${stageName}': a drop reason must be a non-empty string`);
        return graph.addStep(StepKind.Drop, `drop:${stageName}:${reason}`, graph.stageNames.indexOf(stageName));
      },
    };
  }

  /** Adds a step (or returns the existing one of that name). */
  addStep(kind: StepKind, name: string, target: number): number {
    const had = this.stepIndex.get(name);
    if (had !== undefined) return had;
    if (this.steps.length >= MAX_STEPS) throw config(`more than ${MAX_STEPS} next steps (ports, stages and drop reasons)`);
    this.steps.push({ kind, name, target });
    this.stepIndex.set(name, this.steps.length - 1);
    return this.steps.length - 1;
  }
}

function config(message: string): VnfError {
  return new VnfError('VNF_CONFIG', message);
}
