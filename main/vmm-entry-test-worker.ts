// Entry of a VMM worker for tests: the production worker (vmm-entry-worker.ts) plus the stand-in
// machines (vmm/fake-machine.ts) that host-side tests use to run in seconds. Bundled as
// dist/vmm-worker-test.mjs, which packaged builds leave out (electron-builder.yml), so the stand-ins
// never ship in the app.

import { parentPort } from 'node:worker_threads';
import { VmmProcess } from '../vmm/vmm-process.ts';
import { createFakeMachine } from '../vmm/fake-machine.ts';
import { nodeScheduler } from './node-scheduler.ts';

if (!parentPort) throw new Error('vmm-entry-test-worker must run in a worker thread');
const port = parentPort;
const vmm = new VmmProcess((m, transfer) => port.postMessage(m, transfer), nodeScheduler, createFakeMachine);
port.on('message', (m) => vmm.receive(m));
