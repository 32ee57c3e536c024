/**
 * @vnf-sdk/pipeline: the runtime of a vnf-sdk appliance. Stages process bursts and set each
 * packet's next step (a port, a stage, a drop reason); worker threads run the graph to
 * completion with an idle back-off; counters are live; stages can be replaced, packets
 * traced and captured while traffic flows.
 * @packageDocumentation
 */
export type { CounterSchema, StageStats, WorkerStats } from './counters.js';
export { defineGraph, type GraphFactory, type GraphModule, type GraphSpec, type RxBinding, type WorkerContext } from './graph.js';
export { Pipeline, type PipelineOptions, type PipelineStats } from './pipeline.js';
export type { IdleOptions, RunnerEvent, RunnerOptions } from './runner.js';
export type { Stage, StageContext } from './stage.js';
export type { CaptureOptions, TraceFilter, TraceHop, TraceOptions, TraceRecord } from './trace.js';
