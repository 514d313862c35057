// Electron glue, kept thin: one window with context isolation and a sandbox, showing the built
// renderer; the host API reaches it through one IPC channel with an allow-list (preload.ts,
// ipc-dispatch.ts). The window never leaves the app's page: navigation and new windows are denied
// (a link in a guest's console output opens nothing), permissions are refused, and the page's CSP
// sits in renderer/index.html.
import { isAbsolute, join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { createHostApi } from './api.ts';
import { packageRoot } from './vmm-host.ts';
import { resolveDataDir } from './library/data-dir.ts';
import { dispatchIpc, senderProblem, type IpcSender } from './ipc-dispatch.ts';
import { claimLibrary } from './app-endpoint.ts';
import { addSampleVm } from './library/sample-vm.ts';
import type { ImageLock } from './backends/image-lock.ts';

const CHANNEL = 'hostbox:invoke';
/** The desktop app's folder picker (web mode has none: its page cannot browse the host). */
const PICK_FOLDER_CHANNEL = 'hostbox:pick-folder';

// The slice of Electron's API used here. Declared locally because Electron is an optional
// dependency: where its binary cannot be installed, its type declarations are absent too.
interface NavigationEvent {
  preventDefault(): void;
}
interface WebContents {
  send(channel: string, ...args: unknown[]): void;
  isDestroyed(): boolean;
  on(event: 'will-navigate' | 'will-redirect', f: (e: NavigationEvent, url: string) => void): void;
  on(event: 'will-attach-webview', f: (e: NavigationEvent) => void): void;
  setWindowOpenHandler(f: (details: { url: string }) => { action: 'deny' | 'allow' }): void;
  session: { setPermissionRequestHandler(f: (wc: unknown, permission: string, callback: (granted: boolean) => void) => void): void };
}
interface Window {
  webContents: WebContents;
  loadFile(path: string): Promise<void>;
  on(event: 'closed', f: () => void): void;
  on(event: 'close', f: (e: NavigationEvent) => void): void;
}
interface ElectronMain {
  app: {
    whenReady(): Promise<void>;
    getPath(name: 'userData'): string;
    on(event: 'window-all-closed', f: () => void): void;
    on(event: 'web-contents-created', f: (e: unknown, contents: WebContents) => void): void;
    on(event: 'before-quit', f: (e: NavigationEvent) => void): void;
    quit(): void;
  };
  BrowserWindow: new (opts: object) => Window;
  ipcMain: { handle(channel: string, f: (e: IpcSender, ...args: unknown[]) => unknown): void };
  dialog: {
    showErrorBox(title: string, content: string): void;
    showMessageBox(
      win: Window,
      opts: { type: 'question' | 'warning'; buttons: string[]; defaultId: number; cancelId: number; title: string; message: string; detail: string; noLink: boolean },
    ): Promise<{ response: number }>;
    showOpenDialog(win: Window, opts: { title?: string; defaultPath?: string; properties: ('openFile' | 'openDirectory' | 'showHiddenFiles' | 'createDirectory')[] }): Promise<{ canceled: boolean; filePaths: string[] }>;
  };
}
const { app, BrowserWindow, ipcMain, dialog } = require('electron') as ElectronMain;

// Every web contents, including any a bug or a future feature creates: no navigation away from
// the app's page, no new windows, no <webview>.
app.on('web-contents-created', (_e, contents) => {
  contents.on('will-navigate', (e) => e.preventDefault());
  contents.on('will-redirect', (e) => e.preventDefault());
  contents.on('will-attach-webview', (e) => e.preventDefault());
  contents.setWindowOpenHandler(() => ({ action: 'deny' }));
  contents.session.setPermissionRequestHandler((_wc, _permission, callback) => callback(false));
});

app.whenReady().then(() => {
  let host: ReturnType<typeof createHostApi>;
  let lock: ImageLock | null = null;
  try {
    const dataDir = resolveDataDir({ electronUserData: app.getPath('userData') });
    // Held while the library is open, so the command line and another app keep off it (app-endpoint.ts).
    lock = claimLibrary(dataDir, 'the Hostbox desktop app');
    host = createHostApi({ dataDir });
    try {
      addSampleVm(host.library, join(packageRoot(), '.cache', 'guest'));
    } catch (e) {
      // The app is usable without it.
      process.stderr.write(`hostbox: ${(e as Error).message}\n`);
    }
  } catch (e) {
    lock?.release();
    // A damaged or newer library, or one in use: say which file, touch nothing.
    dialog.showErrorBox('Hostbox cannot open its VM library', (e as Error).message);
    app.quit();
    return;
  }
  const page = join(packageRoot(), 'dist', 'renderer', 'index.html');
  const win = new BrowserWindow({
    width: 1200,
    height: 800,
    title: 'Hostbox',
    webPreferences: { contextIsolation: true, sandbox: true, nodeIntegration: false, webviewTag: false, preload: join(__dirname, 'preload.cjs') },
  });
  const allowed = new Set<string>(host.methods);
  const trust = { webContents: win.webContents, pageUrl: pathToFileURL(page).href };
  ipcMain.handle(CHANNEL, (e, method, params) => dispatchIpc(host.api, allowed, e, trust, method, params));
  // The form's Browse… buttons: the system's own open dialog, for the app's page only.
  ipcMain.handle('hostbox:pick', async (e, kind, current) => {
    const refused = senderProblem(e, trust);
    if (refused) throw new Error(`refused: ${refused}`);
    if ((kind !== 'file' && kind !== 'folder') || typeof current !== 'string' || current.length > 4096 || current.includes('\0')) throw new Error('pickPath: a kind (file or folder) and the current path');
    const r = await dialog.showOpenDialog(win, {
      title: kind === 'folder' ? 'Choose a folder' : 'Choose a file',
      ...(isAbsolute(current) ? { defaultPath: current } : {}),
      properties: [kind === 'folder' ? 'openDirectory' : 'openFile', 'showHiddenFiles'],
    });
    return r.canceled ? null : (r.filePaths[0] ?? null);
  });
  ipcMain.handle(PICK_FOLDER_CHANNEL, async (e) => {
    const refused = senderProblem(e, trust);
    if (refused) throw new Error(`refused: ${refused}`);
    const r = await dialog.showOpenDialog(win, { title: 'Choose a host folder', properties: ['openDirectory', 'createDirectory'] });
    return r.canceled ? null : (r.filePaths[0] ?? null);
  });
  const unsubscribe = host.subscribe((event) => {
    if (!win.webContents.isDestroyed()) win.webContents.send('hostbox:event', event);
  });
  win.on('closed', unsubscribe);
  void win.loadFile(page);
  // Quitting (closing the window or the app) while VMs run asks, as VMware Workstation does:
  // suspend them (Power on continues each one next time), power them off, or stay.
  let quitting = false;
  let asking = false;
  const quit = async (): Promise<void> => {
    if (asking) return;
    asking = true;
    try {
      const names = host.running();
      if (names.length) {
        const { response } = await dialog.showMessageBox(win, {
          type: 'question',
          buttons: ['Suspend', 'Power off', 'Cancel'],
          defaultId: 0,
          cancelId: 2,
          noLink: true,
          title: 'Hostbox',
          message: names.length === 1 ? `${names[0]} is running.` : `${names.length} VMs are running: ${names.join(', ')}.`,
          detail: 'Suspend saves each VM where it is, and Power on continues it next time. Power off cuts the power, losing what the guests had not saved.',
        });
        if (response === 2) return;
        if (response === 0) {
          const lines = await host.suspendAll();
          const failed = lines.filter((l) => / powered off, /.test(l));
          if (failed.length) dialog.showErrorBox('Some VMs could not be suspended', failed.join('\n'));
        }
      }
      quitting = true;
      await host.close();
      lock?.release();
      app.quit();
    } finally {
      asking = false;
    }
  };
  win.on('close', (e) => {
    if (quitting) return;
    e.preventDefault();
    void quit();
  });
  app.on('before-quit', (e) => {
    if (quitting) return;
    e.preventDefault();
    void quit();
  });
  app.on('window-all-closed', () => app.quit());
});
