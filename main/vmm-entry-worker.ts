// Entry of a VMM running in a Node worker thread: connects vmm/vmm-process.ts to the parent port.
// Bundled by scripts/build.mjs into dist/vmm-worker.mjs (the interpreter must run from a bundle).

import { parentPort } from 'node:worker_threads';
import { VmmProcess } from '../vmm/vmm-process.ts';
import { nodeScheduler } from './node-scheduler.ts';
import { tuneV8ForTranslatedCode } from './v8-tiering.ts';

tuneV8ForTranslatedCode();

if (!parentPort) throw new Error('vmm-entry-worker must run in a worker thread');
const port = parentPort;
const vmm = new VmmProcess((m, transfer) => port.postMessage(m, transfer), nodeScheduler);
port.on('message', (m) => vmm.receive(m));
