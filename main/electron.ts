// Electron glue, kept thin: one window with context isolation and a sandbox, showing the built
// renderer; the host API reaches it through one IPC channel with an allow-list (preload.ts).
import { join } from 'node:path';
import { createHostApi } from './api.ts';
import { packageRoot } from './vmm-host.ts';
import { resolveDataDir } from './library/data-dir.ts';

const CHANNEL = 'hostbox:invoke';

// The slice of Electron's API used here. Declared locally because Electron is an optional
// dependency: where its binary cannot be installed, its type declarations are absent too.
interface WebContents {
  send(channel: string, ...args: unknown[]): void;
}
interface Window {
  webContents: WebContents;
  loadFile(path: string): Promise<void>;
}
interface ElectronMain {
  app: { whenReady(): Promise<void>; getPath(name: 'userData'): string; on(event: 'window-all-closed', f: () => void): void; quit(): void };
  BrowserWindow: new (opts: object) => Window;
  ipcMain: { handle(channel: string, f: (e: unknown, ...args: unknown[]) => unknown): void };
  dialog: { showErrorBox(title: string, content: string): void };
}
const { app, BrowserWindow, ipcMain, dialog } = require('electron') as ElectronMain;

app.whenReady().then(() => {
  let host: ReturnType<typeof createHostApi>;
  try {
    host = createHostApi({ dataDir: resolveDataDir({ electronUserData: app.getPath('userData') }) });
  } catch (e) {
    // A damaged or newer library: say which file, touch nothing.
    dialog.showErrorBox('Hostbox cannot open its VM library', (e as Error).message);
    app.quit();
    return;
  }
  const win = new BrowserWindow({
    width: 1200,
    height: 800,
    title: 'Hostbox',
    webPreferences: { contextIsolation: true, sandbox: true, nodeIntegration: false, preload: join(__dirname, 'preload.cjs') },
  });
  const allowed = new Set<string>(host.methods);
  ipcMain.handle(CHANNEL, async (_e: unknown, method: unknown, params: unknown) => {
    if (typeof method !== 'string' || !allowed.has(method)) throw new Error(`unknown method ${String(method)}`);
    const fn = (host.api as unknown as Record<string, (...a: unknown[]) => unknown>)[method]!;
    return fn.apply(host.api, Array.isArray(params) ? params : []);
  });
  host.subscribe((event) => win.webContents.send('hostbox:event', event));
  void win.loadFile(join(packageRoot(), 'dist', 'renderer', 'index.html'));
  app.on('window-all-closed', () => {
    void host.close().then(() => app.quit());
  });
});
