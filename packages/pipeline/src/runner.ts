import { Burst, PORT_COUNTERS, VnfError, waitReadable } from '@vnf-sdk/core';
import {
  H_IDLE_WAITS,
  H_ITERATIONS,
  H_RX_PACKETS,
  H_UPDATED_MS,
  PORT_BASE,
  STAGE_BASE,
  STAGE_FIELDS,
  STEP_BASE,
  type CounterSchema,
} from './counters.js';
import { type Graph, MAX_STEPS, StepKind } from './graph.js';
import type { Stage } from './stage.js';
import {
  type CaptureOptions,
  CapturePoint,
  checkTraceOptions,
  diffFields,
  headerFields,
  matches,
  type TraceOptions,
  type TraceRecord,
} from './trace.js';

/** When and how a worker with no traffic backs off instead of spinning. */
export interface IdleOptions {
  /** Empty polls in a row before backing off. Default 256; 0 never backs off (pure busy polling). */
  polls?: number;
  /**
   * Longest back-off in milliseconds (default 1): a wait on the receive queues' descriptors
   * when every polled port has one (it ends as soon as a packet arrives), a sleep otherwise.
   */
  waitMs?: number;
}

/** Options of the loop of one worker. */
export interface RunnerOptions {
  /** Packets per receive burst, 1 to 256. Default 32. */
  burstSize?: number;
  idle?: IdleOptions;
  /** Measure the time each stage spends (two clock reads per stage call). Default false. */
  timing?: boolean;
  /** How often the loop lets the thread's event loop run (control messages), in ms. Default 1. */
  yieldMs?: number;
}

/** Something that happened in a worker that the owner should hear about. */
export type RunnerEvent =
  | { type: 'port-failed'; port: string; code: string; message: string }
  | { type: 'stage-error'; stage: string; code: string; message: string }
  | { type: 'trace'; record: TraceRecord }
  | { type: 'trace-done' }
  | { type: 'capture-done'; stage: string; path: string; written: number }
  | { type: 'capture-failed'; stage: string; path: string; code: string; message: string }
  /** Steps were added (a stage named a new drop reason while running): counter names changed. */
  | { type: 'schema'; schema: CounterSchema };

/** Checks the loop's options (before any worker starts); throws VNF_CONFIG naming the field. */
export function checkRunnerOptions(options: RunnerOptions = {}): { burstSize: number; polls: number; waitMs: number; yieldMs: number } {
  if (options === null || typeof options !== 'object') throw new VnfError('VNF_CONFIG', 'runner options must be an object');
  const burstSize = options.burstSize ?? 32;
  if (!Number.isInteger(burstSize) || burstSize < 1 || burstSize > MAX_BURST) {
    throw new VnfError('VNF_CONFIG', `runner.burstSize must be an integer from 1 to ${MAX_BURST}, got ${String(burstSize)}`);
  }
  const polls = options.idle?.polls ?? 256;
  const waitMs = options.idle?.waitMs ?? 1;
  if (!Number.isInteger(polls) || polls < 0) throw new VnfError('VNF_CONFIG', `runner.idle.polls must be a non-negative integer, got ${String(polls)}`);
  if (typeof waitMs !== 'number' || !(waitMs > 0 && waitMs <= 1000)) {
    throw new VnfError('VNF_CONFIG', `runner.idle.waitMs must be a number above 0 and at most 1000, got ${String(waitMs)}`);
  }
  const yieldMs = options.yieldMs ?? 1;
  if (typeof yieldMs !== 'number' || !(yieldMs > 0 && yieldMs <= 1000)) {
    throw new VnfError('VNF_CONFIG', `runner.yieldMs must be a number above 0 and at most 1000, got ${String(yieldMs)}`);
  }
  return { burstSize, polls, waitMs, yieldMs };
}

const MAX_DEPTH = 16;
const MAX_BURST = 256;

/** The split bursts of one depth of the graph walk, one per next step, made on first use. */
interface Level {
  bursts: Array<Burst | undefined>;
  touched: Int32Array;
  n: number;
  /** For handing a long burst on in chunks. */
  chunk?: Burst;
}

/**
 * The run-to-completion loop of one worker (VPP's graph dispatcher, in miniature): poll each
 * receive queue for a burst, run it through its first stage, split the result by each
 * packet's next step, transmit, drop or hand on each part, until every packet has left.
 * No packet is held between iterations, so stopping between two polls leaves nothing in
 * flight.
 */
export class Runner {
  private readonly next: Uint16Array;
  private readonly rxBursts: Burst[];
  private readonly work = new Burst(MAX_BURST * 2);
  private readonly levels: Level[] = [];
  private readonly stepKind = new Uint8Array(MAX_STEPS);
  private readonly stepTarget = new Int32Array(MAX_STEPS);
  private stepCount = 0;
  private readonly portFailed: boolean[];
  private readonly txFull: number[];
  private readonly portFailedStep: number[];
  private readonly stageErrorStep: number[];
  private readonly badNextStep: number;
  private readonly loopStep: number;
  private readonly idlePolls: number;
  private readonly idleWaitMs: number;
  private readonly timing: boolean;
  private readonly yieldMs: number;
  private readonly waitFds: Int32Array | null;
  private readonly sleepCell = new Int32Array(new SharedArrayBuffer(4));
  private lastRefresh = 0;
  private announcedSteps = 0;
  // Trace state: which buffers are followed, by record.
  private traceSlot: Int32Array | null = null;
  private traceRemaining = 0;
  private traceFilter: TraceOptions['filter'] = {};
  private readonly inFlight = new Map<number, TraceRecord>();
  private traceIds = 0;
  private captures: Array<CapturePoint | undefined> = [];

  constructor(
    readonly graph: Graph,
    readonly counters: Float64Array,
    options: RunnerOptions = {},
    private readonly onEvent: (e: RunnerEvent) => void = () => {},
  ) {
    const { burstSize, polls, waitMs, yieldMs } = checkRunnerOptions(options);
    this.idlePolls = polls;
    this.idleWaitMs = waitMs;
    this.yieldMs = yieldMs;
    this.timing = options.timing ?? false;
    this.next = graph.pool.meta.next;
    this.rxBursts = graph.rx.map(() => new Burst(burstSize));
    this.portFailed = graph.ports.map(() => false);
    this.txFull = graph.portNames.map((n, i) => graph.addStep(StepKind.Drop, `drop:runtime:tx-full:${n}`, i));
    this.portFailedStep = graph.portNames.map((n, i) => graph.addStep(StepKind.Drop, `drop:runtime:port-failed:${n}`, i));
    this.stageErrorStep = graph.stageNames.map((n, i) => graph.addStep(StepKind.Drop, `drop:runtime:stage-error:${n}`, i));
    this.badNextStep = graph.addStep(StepKind.Drop, 'drop:runtime:bad-next', -1);
    this.loopStep = graph.addStep(StepKind.Drop, 'drop:runtime:loop', -1);
    // Wait on descriptors only if every polled queue has one; otherwise a packet on a port
    // without one (a ring, a generator) would wait out the whole back-off.
    const fds: number[] = [];
    let all = true;
    for (const r of graph.rx) {
      const fd = graph.ports[r.port].waitFds[r.queue] ?? graph.ports[r.port].waitFds[0];
      if (fd === undefined || fd < 0) all = false;
      else fds.push(fd);
    }
    this.waitFds = all && fds.length > 0 ? Int32Array.from(fds) : null;
    this.syncSteps();
    this.announcedSteps = graph.steps.length;
  }

  /** The names that give the counters their meaning. */
  schema(): CounterSchema {
    return {
      steps: this.graph.steps.map((s) => s.name),
      stages: [...this.graph.stageNames],
      ports: [...this.graph.portNames],
    };
  }

  /** One iteration: a burst from every receive queue, each run to completion. Returns packets received. */
  poll(): number {
    const graph = this.graph;
    const rx = graph.rx;
    let total = 0;
    for (let k = 0; k < rx.length; k++) {
      const r = rx[k];
      if (this.portFailed[r.port]) continue;
      const burst = this.rxBursts[k];
      let n: number;
      try {
        n = graph.ports[r.port].rxBurst(burst, r.queue);
      } catch (err) {
        this.failPort(r.port, err);
        continue;
      }
      if (n === 0) continue;
      total += n;
      if (this.traceRemaining > 0) this.armTrace(burst, r.port);
      // Stages get room to append replies (ICMP errors, ARP): run a roomy copy of the ids.
      const work = this.work;
      work.ids.set(burst.ids.subarray(0, n));
      work.count = n;
      burst.count = 0;
      this.dispatch(r.stage, work, 0);
    }
    const c = this.counters;
    c[H_ITERATIONS]++;
    c[H_RX_PACKETS] += total;
    return total;
  }

  /**
   * Runs until `stopped()` says so (checked between polls) or, with `untilFinished`, until
   * every polled port is finished. Yields to the event loop about every `yieldMs`.
   */
  async run(stopped: () => boolean, untilFinished = false): Promise<void> {
    // Start on the next turn: whoever started us can attach listeners first.
    await new Promise<void>((resolve) => setImmediate(resolve));
    let empty = 0;
    const idlePolls = this.idlePolls;
    while (!stopped()) {
      const deadline = performance.now() + this.yieldMs;
      for (let k = 1; ; k++) {
        if (this.poll() === 0) {
          if (untilFinished && this.allFinished()) {
            this.publish(true);
            return;
          }
          if (idlePolls > 0 && ++empty >= idlePolls) {
            empty = 0;
            this.backOff();
            break;
          }
        } else {
          empty = 0;
        }
        if ((k & 31) === 0 && (performance.now() >= deadline || stopped())) break;
      }
      this.publish(false);
      await new Promise<void>((resolve) => setImmediate(resolve));
    }
    this.publish(true);
  }

  /** Whether every polled port will never receive again. */
  allFinished(): boolean {
    for (const r of this.graph.rx) {
      if (!this.portFailed[r.port] && !this.graph.ports[r.port].finished()) return false;
    }
    return true;
  }

  /** Replaces the stage of the same name, between two bursts. Its counters carry on. */
  replaceStage(stage: Stage): void {
    if (this.closed) {
      stage?.close?.();
      throw new VnfError('VNF_CLOSED', `replaceStage('${String(stage?.name)}'): the pipeline has stopped`);
    }
    const i = this.graph.stageNames.indexOf(stage?.name);
    if (i < 0) throw new VnfError('VNF_CONFIG', `replaceStage: no stage named '${String(stage?.name)}'`);
    const old = this.graph.stages[i];
    this.graph.initStage(i, stage);
    this.syncSteps();
    old.close?.();
  }

  /** Follows the next `count` packets matching `filter` through every stage. */
  startTrace(options: TraceOptions): void {
    const o = checkTraceOptions(options);
    if (o.filter.port !== undefined && !this.graph.portNames.includes(o.filter.port)) {
      throw new VnfError('VNF_INVALID_ARGUMENT', `trace: no port named '${o.filter.port}'`);
    }
    this.traceSlot ??= new Int32Array(this.graph.pool.count).fill(-1);
    this.traceRemaining = o.count;
    this.traceFilter = o.filter;
  }

  stopTrace(): void {
    this.traceRemaining = 0;
    this.inFlight.clear();
    this.traceSlot?.fill(-1);
  }

  /** Starts writing every packet that enters `stage` to a pcap file. */
  startCapture(options: CaptureOptions): void {
    const i = this.graph.stageNames.indexOf(options?.stage);
    if (i < 0) throw new VnfError('VNF_INVALID_ARGUMENT', `capture: no stage named '${String(options?.stage)}'`);
    this.stopCapture(options.stage);
    this.captures[i] = new CapturePoint(i, options);
  }

  /** Stops a capture point; returns how many packets it wrote (0 if there was none). */
  stopCapture(stage: string): number {
    const i = this.graph.stageNames.indexOf(stage);
    const cp = this.captures[i];
    if (!cp) return 0;
    this.captures[i] = undefined;
    try {
      cp.writer.close();
    } catch (err) {
      const e = err as { code?: string; message?: string };
      this.onEvent({ type: 'capture-failed', stage, path: cp.options.path, code: e?.code ?? 'VNF_IO', message: String(e?.message ?? err) });
    }
    return cp.written;
  }

  /** True once {@link Runner.close} ran: control requests are refused. */
  closed = false;

  /**
   * Closes capture points, stages and ports: after it, every buffer is back in the pool.
   * Each is closed even if another one throws; the first error is rethrown at the end.
   */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    let first: unknown = null;
    const attempt = (fn: () => void) => {
      try {
        fn();
      } catch (err) {
        first ??= err;
      }
    };
    for (const name of this.graph.stageNames) attempt(() => this.stopCapture(name));
    for (const s of this.graph.stages) attempt(() => s.close?.());
    // A loop aborted by an exception may have left buffers in its bursts.
    const pool = this.graph.pool;
    for (const b of [...this.rxBursts, this.work, ...this.levels.flatMap((l) => [...l.bursts, l.chunk])]) {
      if (b !== undefined && b.count > 0) attempt(() => pool.put(b));
    }
    for (const p of this.graph.ports) attempt(() => p.close());
    attempt(() => this.publish(true));
    if (first !== null) throw first;
  }

  /** Copies the ports' counters into the shared counters (kernel-side ones every 100 ms). */
  publish(force: boolean): void {
    const c = this.counters;
    const now = Date.now();
    const refresh = force || now - this.lastRefresh >= 100;
    if (refresh) this.lastRefresh = now;
    const ports = this.graph.ports;
    for (let i = 0; i < ports.length; i++) {
      const p = ports[i];
      if (refresh && !this.portFailed[i]) {
        try {
          p.stats(); // reads kernel counters into p.counters
        } catch {
          // a failing port keeps its last counters
        }
      }
      const src = p.counters;
      const base = PORT_BASE + i * PORT_COUNTERS;
      for (let f = 0; f < PORT_COUNTERS; f++) {
        let sum = 0;
        for (let at = f; at < src.length; at += PORT_COUNTERS) sum += src[at];
        c[base + f] = sum;
      }
    }
    c[H_UPDATED_MS] = now;
    if (this.graph.steps.length !== this.announcedSteps) {
      this.syncSteps();
      this.announcedSteps = this.graph.steps.length;
      this.onEvent({ type: 'schema', schema: this.schema() });
    }
  }

  private dispatch(si: number, burst: Burst, depth: number): void {
    const n = burst.count;
    if (n === 0) return;
    const ids = burst.ids;
    const next = this.next;
    const noVerdict = this.graph.noVerdict[si];
    for (let i = 0; i < n; i++) next[ids[i]] = noVerdict;
    const c = this.counters;
    const cb = STAGE_BASE + si * STAGE_FIELDS;
    c[cb]++;
    c[cb + 1] += n;
    if (this.captures[si] !== undefined) this.capture(si, burst);
    const snapshot = this.inFlight.size > 0 ? this.traceBefore(burst) : null;
    const stage = this.graph.stages[si];
    try {
      if (this.timing) {
        const t0 = performance.now();
        stage.process(burst);
        c[cb + 2] += (performance.now() - t0) * 1e6;
      } else {
        stage.process(burst);
      }
    } catch (err) {
      this.stageError(si, burst, err);
      return;
    }
    if (snapshot !== null) {
      if (this.graph.steps.length !== this.stepCount) this.syncSteps();
      this.traceAfter(si, snapshot);
    }
    this.split(burst, depth);
  }

  private split(burst: Burst, depth: number): void {
    const n = burst.count;
    if (n === 0) return;
    const ids = burst.ids;
    const next = this.next;
    const first = next[ids[0]];
    let uniform = true;
    for (let i = 1; i < n; i++) {
      if (next[ids[i]] !== first) {
        uniform = false;
        break;
      }
    }
    if (uniform) {
      this.deliver(first, burst, depth);
      return;
    }
    this.levels[depth] ??= { bursts: [], touched: new Int32Array(MAX_STEPS), n: 0 };
    const level = this.levels[depth];
    for (let i = 0; i < n; i++) {
      const b = ids[i];
      const s = next[b];
      let out = level.bursts[s];
      if (out === undefined) {
        out = new Burst(MAX_BURST * 2); // room for replies a stage appends
        level.bursts[s] = out;
      }
      if (out.count === 0) level.touched[level.n++] = s;
      out.ids[out.count++] = b;
    }
    burst.count = 0;
    const touched = level.n;
    level.n = 0;
    for (let j = 0; j < touched; j++) {
      const s = level.touched[j];
      this.deliver(s, level.bursts[s] as Burst, depth);
    }
  }

  private deliver(step: number, burst: Burst, depth: number): void {
    const c = this.counters;
    if (step >= this.stepCount && step < this.graph.steps.length) this.syncSteps(); // a reason added in process()
    if (step >= this.stepCount) {
      c[STEP_BASE + this.badNextStep] += burst.count;
      this.endTrace(this.badNextStep, burst);
      this.graph.pool.put(burst);
      return;
    }
    const kind = this.stepKind[step];
    if (kind === StepKind.Stage) {
      if (depth + 1 >= MAX_DEPTH) {
        c[STEP_BASE + this.loopStep] += burst.count;
        this.endTrace(this.loopStep, burst);
        this.graph.pool.put(burst);
        return;
      }
      c[STEP_BASE + step] += burst.count;
      if (burst.count <= MAX_BURST) {
        this.dispatch(this.stepTarget[step], burst, depth + 1);
      } else {
        // Replies appended upstream can make a burst longer than MAX_BURST: hand it on in
        // chunks, so every stage gets at least as much room as it has packets.
        this.levels[depth] ??= { bursts: [], touched: new Int32Array(MAX_STEPS), n: 0 };
        const level = this.levels[depth];
        level.chunk ??= new Burst(MAX_BURST * 2);
        const chunk = level.chunk;
        for (let at = 0; at < burst.count; at += MAX_BURST) {
          const end = Math.min(at + MAX_BURST, burst.count);
          chunk.ids.set(burst.ids.subarray(at, end));
          chunk.count = end - at;
          this.dispatch(this.stepTarget[step], chunk, depth + 1);
          chunk.count = 0;
        }
      }
      burst.count = 0;
      return;
    }
    if (kind === StepKind.Drop) {
      c[STEP_BASE + step] += burst.count;
      if (this.inFlight.size > 0) this.endTrace(step, burst);
      this.graph.pool.put(burst);
      return;
    }
    const pi = this.stepTarget[step];
    const n = burst.count;
    const traced = this.inFlight.size > 0 ? this.tracedIn(burst) : null;
    if (!this.portFailed[pi]) {
      try {
        this.graph.ports[pi].txBurst(burst, 0);
      } catch (err) {
        this.failPort(pi, err);
      }
    }
    // What the port did not take (a full ring, a failed port) is a counted drop.
    const left = burst.count;
    const dropStep = this.portFailed[pi] ? this.portFailedStep[pi] : this.txFull[pi];
    c[STEP_BASE + step] += n - left;
    if (traced !== null) {
      const unsent = new Set(burst.ids.subarray(0, left));
      for (const b of traced) this.endTraceOf(b, unsent.has(b) ? dropStep : step);
    }
    if (left > 0) {
      c[STEP_BASE + dropStep] += left;
      this.graph.pool.put(burst);
    }
  }

  private syncSteps(): void {
    const steps = this.graph.steps;
    for (let i = this.stepCount; i < steps.length; i++) {
      this.stepKind[i] = steps[i].kind;
      this.stepTarget[i] = steps[i].target;
    }
    this.stepCount = steps.length;
  }

  private backOff(): void {
    this.counters[H_IDLE_WAITS]++;
    if (this.waitFds !== null) waitReadable(this.waitFds, this.idleWaitMs);
    else Atomics.wait(this.sleepCell, 0, 0, this.idleWaitMs);
  }

  private failPort(pi: number, err: unknown): void {
    this.portFailed[pi] = true;
    const e = err as { code?: string; message?: string };
    this.onEvent({ type: 'port-failed', port: this.graph.portNames[pi], code: e?.code ?? 'VNF_PORT', message: String(e?.message ?? err) });
  }

  private stageError(si: number, burst: Burst, err: unknown): void {
    // The stage's verdicts are unknown: drop what it was given (and anything it appended).
    this.counters[STEP_BASE + this.stageErrorStep[si]] += burst.count;
    this.endTrace(this.stageErrorStep[si], burst);
    this.graph.pool.put(burst);
    const e = err as { code?: string; message?: string };
    this.onEvent({ type: 'stage-error', stage: this.graph.stageNames[si], code: e?.code ?? 'Error', message: String(e?.message ?? err) });
  }

  // ---------------------------------------------------------------- trace and capture (slow path)

  private armTrace(burst: Burst, pi: number): void {
    const slot = this.traceSlot as Int32Array;
    const pool = this.graph.pool;
    const portName = this.graph.portNames[pi];
    for (let i = 0; i < burst.count && this.traceRemaining > 0; i++) {
      const b = burst.ids[i];
      const { fields, layers } = headerFields(pool.read(b));
      if (!matches(this.traceFilter ?? {}, portName, fields)) continue;
      const id = this.traceIds++;
      this.inFlight.set(id, { id, worker: this.graph.worker, port: portName, layers, length: pool.meta.dataLen[b], hops: [], result: '' });
      slot[b] = id;
      if (--this.traceRemaining === 0) this.onEvent({ type: 'trace-done' });
    }
  }

  private traceBefore(burst: Burst): Array<[number, Map<string, unknown>]> | null {
    const slot = this.traceSlot as Int32Array;
    let out: Array<[number, Map<string, unknown>]> | null = null;
    for (let i = 0; i < burst.count; i++) {
      const b = burst.ids[i];
      if (slot[b] < 0) continue;
      out ??= [];
      out.push([b, headerFields(this.graph.pool.read(b)).fields]);
    }
    return out;
  }

  private traceAfter(si: number, snapshot: Array<[number, Map<string, unknown>]>): void {
    const slot = this.traceSlot as Int32Array;
    for (const [b, before] of snapshot) {
      const record = this.inFlight.get(slot[b]);
      if (!record) continue;
      const step = this.next[b];
      const after = headerFields(this.graph.pool.read(b)).fields;
      record.hops.push({
        stage: this.graph.stageNames[si],
        verdict: step < this.stepCount ? this.graph.steps[step].name : `bad-next:${step}`,
        changed: diffFields(before, after),
      });
    }
  }

  private endTrace(step: number, burst: Burst): void {
    if (this.traceSlot === null || this.inFlight.size === 0) return;
    for (let i = 0; i < burst.count; i++) this.endTraceOf(burst.ids[i], step);
  }

  /** Buffers of the burst that are being traced (call only while a trace is in flight). */
  private tracedIn(burst: Burst): number[] | null {
    const slot = this.traceSlot as Int32Array;
    let out: number[] | null = null;
    for (let i = 0; i < burst.count; i++) {
      if (slot[burst.ids[i]] < 0) continue;
      out ??= [];
      out.push(burst.ids[i]);
    }
    return out;
  }

  private endTraceOf(b: number, step: number): void {
    const slot = this.traceSlot as Int32Array;
    const id = slot[b];
    if (id < 0) return;
    slot[b] = -1;
    const record = this.inFlight.get(id);
    if (!record) return;
    this.inFlight.delete(id);
    record.result = this.graph.steps[step]?.name ?? 'bad-next';
    this.onEvent({ type: 'trace', record });
  }

  private capture(si: number, burst: Burst): void {
    const cp = this.captures[si] as CapturePoint;
    const pool = this.graph.pool;
    const ts = BigInt(Date.now()) * 1_000_000n;
    try {
      for (let i = 0; i < burst.count && !cp.full; i++) {
        const b = burst.ids[i];
        const at = b * pool.bufferSize + pool.meta.dataOff[b];
        cp.writer.write(pool.bytes.subarray(at, at + pool.meta.dataLen[b]), ts);
        cp.written++;
      }
    } catch (err) {
      // A capture that cannot write (disk full) stops; the traffic does not.
      this.captures[si] = undefined;
      try {
        cp.writer.close();
      } catch {
        // the same error again
      }
      const e = err as { code?: string; message?: string };
      this.onEvent({ type: 'capture-failed', stage: this.graph.stageNames[si], path: cp.options.path, code: e?.code ?? 'VNF_IO', message: String(e?.message ?? err) });
      return;
    }
    if (cp.full) {
      const written = this.stopCapture(this.graph.stageNames[si]);
      this.onEvent({ type: 'capture-done', stage: this.graph.stageNames[si], path: cp.options.path, written });
    }
  }
}
