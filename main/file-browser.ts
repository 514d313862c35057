// The web page's file picker, served by the host: a browser cannot see the host's files, so the
// host lists one folder at a time. It only lists (names, kinds, sizes, from readdir and lstat/stat);
// it never opens a file, so nothing of a file's contents can leave through it. The caller is the
// app's own page (token and origin checked by server.ts, the window checked by ipc-dispatch.ts),
// which is the user's own view of their files, as a native open dialog would be.
//
// Recent files: the paths the user's VMs were saved with, newest first, kept in the data folder.

import { closeSync, existsSync, fsyncSync, openSync, readFileSync, renameSync, writeSync } from 'node:fs';
import { lstat, readdir, stat } from 'node:fs/promises';
import { homedir } from 'node:os';
import { dirname, isAbsolute, join, normalize, resolve } from 'node:path';
import type { DirEntry, DirListing } from './api-types.ts';

/** A folder with more entries than this is cut (and says so): the page stays responsive. */
export const MAX_ENTRIES = 5000;
const MAX_RECENT = 12;

/** Lists `path` ('' for the user's home folder); rejects with one line naming the problem. */
export async function listDir(path: string): Promise<DirListing> {
  if (path.includes('\0')) throw new Error('a path cannot contain a NUL character');
  if (path !== '' && !isAbsolute(path)) throw new Error(`${path} is not an absolute path`);
  const dir = path === '' ? homedir() : normalize(resolve(path));
  let names;
  try {
    names = await readdir(dir, { withFileTypes: true });
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new Error(code === 'ENOENT' ? `${dir} does not exist` : code === 'ENOTDIR' ? `${dir} is not a folder` : code === 'EACCES' || code === 'EPERM' ? `${dir} cannot be read (permission denied)` : `${dir} cannot be listed: ${(e as Error).message}`);
  }
  const truncated = names.length > MAX_ENTRIES;
  const entries: DirEntry[] = [];
  for (const d of names.slice(0, MAX_ENTRIES)) {
    const full = join(dir, d.name);
    let kind: DirEntry['kind'] = d.isDirectory() ? 'dir' : d.isFile() ? 'file' : 'other';
    let bytes: number | null = null;
    let link = false;
    try {
      const st = await lstat(full);
      if (st.isSymbolicLink()) {
        link = true;
        // A link is shown as what it points to, as file dialogs do; a dangling one as 'other'.
        const target = await stat(full).catch(() => null);
        kind = target?.isDirectory() ? 'dir' : target?.isFile() ? 'file' : 'other';
        if (target?.isFile()) bytes = target.size;
      } else if (st.isFile()) bytes = st.size;
    } catch {
      // Gone between readdir and lstat: show what readdir said.
    }
    entries.push({ name: d.name, kind, bytes, ...(link ? { link: true } : {}) });
  }
  entries.sort((a, b) => Number(b.kind === 'dir') - Number(a.kind === 'dir') || a.name.localeCompare(b.name));
  const parent = dirname(dir);
  return { path: dir, parent: parent === dir ? null : parent, home: homedir(), entries, truncated };
}

/** The recent-files list in the data folder: written atomically, and a damaged file is read as empty. */
export class RecentFiles {
  private readonly file: string;
  constructor(dataDir: string) {
    this.file = join(dataDir, 'recent-files.json');
  }

  /** Newest first; only files that still exist. */
  list(): string[] {
    return this.read().filter((p) => existsSync(p));
  }

  /** Puts these paths first (an empty string means none and is skipped). */
  add(paths: readonly string[]): void {
    const fresh = paths.filter((p) => p && isAbsolute(p) && !p.includes('\0'));
    if (!fresh.length) return;
    const next = [...new Set([...fresh, ...this.read()])].slice(0, MAX_RECENT);
    const tmp = `${this.file}.tmp-${process.pid}`;
    const fd = openSync(tmp, 'w', 0o600);
    try {
      writeSync(fd, JSON.stringify(next, null, 1) + '\n');
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(tmp, this.file);
  }

  private read(): string[] {
    try {
      const v: unknown = JSON.parse(readFileSync(this.file, 'utf8'));
      return Array.isArray(v) ? v.filter((p): p is string => typeof p === 'string' && isAbsolute(p)).slice(0, MAX_RECENT) : [];
    } catch {
      return [];
    }
  }
}
