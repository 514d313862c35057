// A connection to a data folder's VM library for the library commands (cli-library.ts): through
// the app that has it open (app-endpoint.ts, app-client.ts), or this process holding the library
// lock itself; `start` needs a running app, and starts one in the background when there is none.

import { closeSync, existsSync, openSync, readFileSync, rmSync } from 'node:fs';
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import type { HostApi, HostEvent } from './api-types.ts';
import { createHostApi } from './api.ts';
import { AppUnreachableError, connectApp } from './app-client.ts';
import { ENDPOINT_FILE, claimLibrary, endpointUrl, readEndpoint, type AppEndpoint } from './app-endpoint.ts';
import { ImageLockedError } from './backends/image-lock.ts';
import { packageRoot } from './vmm-host.ts';

/** A connection to the library: through the running app, or this process holding the library. */
export interface Session {
  api: HostApi;
  /** The app's pid when going through it. */
  appPid: number | null;
  onEvent(listener: (e: HostEvent) => void): void;
  onClose(listener: () => void): void;
  close(): Promise<void>;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

async function throughApp(ep: AppEndpoint): Promise<Session> {
  const c = await connectApp(ep);
  return { api: c.api, appPid: ep.pid, onEvent: c.onEvent, onClose: c.onClose, close: async () => c.close() };
}

/** Starts the app in the background for this data folder and waits for it to publish its endpoint. */
async function startBackgroundApp(dataDir: string): Promise<AppEndpoint> {
  const start = join(packageRoot(), 'dist', 'main', 'start.js');
  if (!existsSync(start)) throw new Error(`the app is not built (${start} is missing): run \`npm run build\``);
  const logFile = join(dataDir, 'app.log');
  const log = openSync(logFile, 'a', 0o600);
  let exited: number | null = null;
  let pid = 0;
  try {
    const child = spawn(process.execPath, [start, '--web', '--port', '0', '--exit-when-idle'], {
      detached: true,
      stdio: ['ignore', log, log],
      env: { ...process.env, HOSTBOX_DATA_DIR: dataDir },
    });
    child.on('exit', (code) => (exited = code ?? 1));
    child.unref();
    pid = child.pid ?? 0;
  } finally {
    closeSync(log);
  }
  const end = Date.now() + 30_000;
  while (Date.now() < end) {
    const ep = readEndpoint(dataDir);
    // Ours, or one that another command started at the same moment (ours then found it and ended).
    if (ep && (ep.pid === pid || exited === 0)) return ep;
    if (exited !== null && exited !== 0) {
      const last = readFileSync(logFile, 'utf8').trim().split('\n').pop() ?? '';
      throw new Error(`the Hostbox app did not start (status ${exited}): ${last.replace(/^hostbox: /, '')}`);
    }
    await sleep(100);
  }
  throw new Error(`the Hostbox app started in the background did not come up within 30 s (see ${logFile})`);
}

/**
 * Through the running app when there is one; otherwise this process takes the library (`startApp`:
 * starts the app in the background and goes through it). A library held by a process that has not
 * published an endpoint yet (an app starting, another command) is waited for.
 */
export async function openSession(dataDir: string, owner: string, startApp: boolean): Promise<Session & { startedApp: AppEndpoint | null }> {
  const end = Date.now() + 15_000;
  let lastError: Error | null = null;
  while (Date.now() < end) {
    const ep = readEndpoint(dataDir);
    if (ep) {
      try {
        return { ...(await throughApp(ep)), startedApp: null };
      } catch (e) {
        // An app that is ending unpublishes first; one killed leaves app.json behind, and its lock is taken over below.
        if (!(e instanceof AppUnreachableError)) throw e;
        lastError = e;
      }
    }
    let lock;
    try {
      lock = claimLibrary(dataDir, owner);
    } catch (e) {
      if (!(e instanceof ImageLockedError)) throw e;
      lastError = e;
      await sleep(100);
      continue;
    }
    // Holding the lock, no app has the library: an app.json left here is a killed app's.
    rmSync(join(dataDir, ENDPOINT_FILE), { force: true });
    if (startApp) {
      lock.release();
      const started = await startBackgroundApp(dataDir);
      process.stderr.write(`hostbox: started the Hostbox app in the background (pid ${started.pid}; it ends once no VM has run for a while): ${endpointUrl(started)}\n`);
      return { ...(await throughApp(started)), startedApp: started };
    }
    let host;
    try {
      host = createHostApi({ dataDir });
    } catch (e) {
      lock.release();
      throw e;
    }
    const h = host;
    return {
      api: h.api,
      appPid: null,
      onEvent: (l) => void h.subscribe(l),
      onClose: () => {},
      close: async () => {
        await h.close();
        lock.release();
      },
      startedApp: null,
    };
  }
  throw new Error(lastError?.message ?? `the VM library in ${dataDir} stayed busy`);
}
