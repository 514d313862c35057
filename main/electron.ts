// Electron glue, kept thin: one window with context isolation and a sandbox, showing the built
// renderer; the host API reaches it through one IPC channel with an allow-list (preload.ts,
// ipc-dispatch.ts). The window never leaves the app's page: navigation and new windows are denied
// (a link in a guest's console output opens nothing), permissions are refused, and the page's CSP
// sits in renderer/index.html.
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { createHostApi } from './api.ts';
import { packageRoot } from './vmm-host.ts';
import { resolveDataDir } from './library/data-dir.ts';
import { dispatchIpc, senderProblem, type IpcSender } from './ipc-dispatch.ts';

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
}
interface ElectronMain {
  app: {
    whenReady(): Promise<void>;
    getPath(name: 'userData'): string;
    on(event: 'window-all-closed', f: () => void): void;
    on(event: 'web-contents-created', f: (e: unknown, contents: WebContents) => void): void;
    quit(): void;
  };
  BrowserWindow: new (opts: object) => Window;
  ipcMain: { handle(channel: string, f: (e: IpcSender, ...args: unknown[]) => unknown): void };
  dialog: {
    showErrorBox(title: string, content: string): void;
    showOpenDialog(win: Window, opts: { title: string; properties: string[] }): Promise<{ canceled: boolean; filePaths: string[] }>;
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
  try {
    host = createHostApi({ dataDir: resolveDataDir({ electronUserData: app.getPath('userData') }) });
  } catch (e) {
    // A damaged or newer library: say which file, touch nothing.
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
  app.on('window-all-closed', () => {
    void host.close().then(() => app.quit());
  });
});
