// Entry of a VMM running in an Electron utility process (the desktop app's process per VM): connects
// vmm/vmm-process.ts to the parent port Electron gives a utility process. Bundled as
// dist/vmm-utility.cjs; main/vmm-host.ts forks it when the host runs inside Electron.

import { VmmProcess } from '../vmm/vmm-process.ts';
import { nodeScheduler } from './node-scheduler.ts';
import { tuneV8ForTranslatedCode } from './v8-tiering.ts';

tuneV8ForTranslatedCode();

interface ParentPort {
  on(event: 'message', f: (e: { data: unknown }) => void): void;
  postMessage(m: unknown): void;
}
const parentPort = (process as unknown as { parentPort?: ParentPort }).parentPort;
if (!parentPort) throw new Error('vmm-entry-utility must run in an Electron utility process');
const port = parentPort;
const vmm = new VmmProcess((m) => port.postMessage(m), nodeScheduler);
port.on('message', (e) => vmm.receive(e.data));
