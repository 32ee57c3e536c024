// Entry of a pipeline worker thread: builds its graph from the module it is given and runs
// the loop; control requests arrive as messages, handled between two polls.
import { parentPort } from 'node:worker_threads';
import type { ControlRequest } from './control.js';
import { errorInfo, startBody, type WorkerBody, type WorkerInit, type WorkerMessage } from './body.js';

const port = parentPort;
if (!port) throw new Error('@vnf-sdk/pipeline worker: must run in a worker thread');
const post = (m: WorkerMessage) => port.postMessage(m);
let body: WorkerBody | null = null;

port.on('message', (m: { type: 'init'; init: WorkerInit } | { type: 'control'; id: number; request: ControlRequest }) => {
  if (m.type === 'init') {
    startBody(m.init, post).then(
      (b) => {
        body = b;
        b.done.then(
          () => port.close(),
          (err) => {
            post({ type: 'failed', error: errorInfo(err) });
            port.close();
          },
        );
      },
      (err) => {
        post({ type: 'failed', error: errorInfo(err) });
        port.close();
      },
    );
    return;
  }
  if (!body) {
    post({ type: 'reply', id: m.id, ok: false, error: { code: 'VNF_CLOSED', message: 'the worker is not running' } });
    return;
  }
  body.control(m.request).then(
    (result) => post({ type: 'reply', id: m.id, ok: true, result }),
    (err) => post({ type: 'reply', id: m.id, ok: false, error: errorInfo(err) }),
  );
});
