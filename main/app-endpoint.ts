// Who runs the VMs of a data folder, and how the command line reaches it. One process at a time
// has the library open to run VMs (the app, or a library command while the app is not running); the
// others go through it, so that a VM never runs twice and no process marks another's running VMs
// as crashed when it opens the library.
//
//   <data>/library.sqlite3.lck  held while a process has the library open (an ImageLock: pid, host,
//                               start time, owner; a holder that died is taken over)
//   <data>/app.json             the running app's API: pid, port and access token of its web server,
//                               written atomically (mode 0600) once it listens, removed when it ends
//
// The same idea as VMware's per-VM .lck folders and VirtualBox's VBoxSVC (one server per user that
// VBoxManage and the GUI both talk to), kept to one data folder.

import { closeSync, constants, fsyncSync, mkdirSync, openSync, readFileSync, renameSync, unlinkSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { ImageLock, processAlive } from './backends/image-lock.ts';
import { LIBRARY_FILE } from './library/library.ts';

export const ENDPOINT_FILE = 'app.json';

export interface AppEndpoint {
  pid: number;
  port: number;
  token: string;
}

/** Takes the data folder's library lock for `owner`; throws ImageLockedError naming the holder. */
export function claimLibrary(dataDir: string, owner: string): ImageLock {
  try {
    mkdirSync(dataDir, { recursive: true });
  } catch (e) {
    throw new Error(`cannot create the Hostbox data folder ${dataDir}: ${(e as Error).message}`);
  }
  return ImageLock.acquire(join(dataDir, LIBRARY_FILE), owner, 'the VM library');
}

/** Writes app.json (temp file, fsync, rename: a reader never sees half of it); returns its removal. */
export function publishEndpoint(dataDir: string, ep: AppEndpoint): () => void {
  const file = join(dataDir, ENDPOINT_FILE);
  const temp = `${file}.${process.pid}-${randomBytes(4).toString('hex')}`;
  const text = JSON.stringify(ep) + '\n';
  // The token opens the API: only this user may read it.
  const fd = openSync(temp, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, 0o600);
  try {
    writeSync(fd, text);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  renameSync(temp, file);
  try {
    const dir = openSync(dataDir, 'r');
    try {
      fsyncSync(dir);
    } finally {
      closeSync(dir);
    }
  } catch {
    // Some file systems cannot fsync a directory; the rename still happened.
  }
  return () => {
    try {
      // Only its own: a later app may have replaced it.
      if (readFileSync(file, 'utf8') === text) unlinkSync(file);
    } catch {
      // Already gone.
    }
  };
}

/** The running app's endpoint, or null when none is published or its process is gone. */
export function readEndpoint(dataDir: string): AppEndpoint | null {
  let v: unknown;
  try {
    v = JSON.parse(readFileSync(join(dataDir, ENDPOINT_FILE), 'utf8'));
  } catch {
    return null;
  }
  const r = v as Partial<AppEndpoint>;
  if (typeof r !== 'object' || r === null) return null;
  if (!Number.isInteger(r.pid) || r.pid! <= 0 || !Number.isInteger(r.port) || r.port! <= 0 || r.port! > 65535 || typeof r.token !== 'string' || r.token.length > 256) return null;
  if (!processAlive(r.pid!)) return null;
  return { pid: r.pid!, port: r.port!, token: r.token };
}

/** The page's address with its token, as `npm start` prints it. */
export function endpointUrl(ep: AppEndpoint): string {
  return `http://127.0.0.1:${ep.port}/?token=${ep.token}`;
}
