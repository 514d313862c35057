// Exposes exactly one object, window.hostbox, to the sandboxed renderer: the host API methods over a
// single allow-listed IPC channel, and an event subscription.
import { HOST_API_METHODS } from './api-types.ts';

interface ElectronRenderer {
  contextBridge: { exposeInMainWorld(key: string, api: unknown): void };
  ipcRenderer: {
    invoke(channel: string, ...args: unknown[]): Promise<unknown>;
    on(channel: string, f: (e: unknown, ...args: unknown[]) => void): void;
    removeListener(channel: string, f: (e: unknown, ...args: unknown[]) => void): void;
  };
}
const { contextBridge, ipcRenderer } = require('electron') as ElectronRenderer;

const api: Record<string, unknown> = {};
for (const m of HOST_API_METHODS) api[m] = (...params: unknown[]) => ipcRenderer.invoke('hostbox:invoke', m, params);
// The native folder picker: the chosen folder's path, or null when cancelled.
api.pickFolder = () => ipcRenderer.invoke('hostbox:pick-folder');
api.onEvent = (listener: (e: unknown) => void) => {
  const f = (_e: unknown, event: unknown): void => listener(event);
  ipcRenderer.on('hostbox:event', f);
  return () => ipcRenderer.removeListener('hostbox:event', f);
};
// The system's open dialog: the main process checks the sender as for every call (electron.ts).
api.pickPath = (kind: unknown, current: unknown) => ipcRenderer.invoke('hostbox:pick', kind, current);
contextBridge.exposeInMainWorld('hostbox', api);
