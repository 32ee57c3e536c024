import { VnfError } from '@vnf-sdk/core';
import type { GraphModule, WorkerContext } from './graph.js';
import type { Runner } from './runner.js';
import type { CaptureOptions, TraceOptions } from './trace.js';

/** Control requests from the owner of a pipeline to one of its workers. */
export type ControlRequest =
  | { type: 'replace'; stage: string; options: unknown }
  | { type: 'trace'; options: TraceOptions }
  | { type: 'trace-stop' }
  | { type: 'capture'; options: CaptureOptions }
  | { type: 'capture-stop'; stage: string };

/**
 * Carries out a control request between two polls of the worker's loop, so a replaced
 * stage never sees half a burst and a capture point starts at a burst boundary.
 */
export async function handleControl(
  runner: Runner,
  request: ControlRequest,
  module: Partial<GraphModule>,
  ctx: WorkerContext,
): Promise<unknown> {
  if (runner.closed) throw new VnfError('VNF_CLOSED', `${request.type}: the pipeline has stopped`);
  switch (request.type) {
    case 'replace': {
      if (typeof module.createStage !== 'function') {
        throw new VnfError('VNF_CONFIG', `replaceStage('${request.stage}'): the graph module exports no createStage(name, options, ctx)`);
      }
      const stage = await module.createStage(request.stage, request.options, ctx);
      runner.replaceStage(stage);
      return runner.schema();
    }
    case 'trace':
      runner.startTrace(request.options);
      return null;
    case 'trace-stop':
      runner.stopTrace();
      return null;
    case 'capture':
      runner.startCapture(request.options);
      return null;
    case 'capture-stop':
      return runner.stopCapture(request.stage);
    default:
      throw new VnfError('VNF_INVALID_ARGUMENT', `unknown control request ${JSON.stringify(request)}`);
  }
}
