// Host files that snapshots of a folder disk read, kept beside the VM. A folder disk reads its file
// clusters from the host files it was shown (host-sources.ts), and after a snapshot those files move
// on: a sync replaces, renames or deletes them, the user edits them. The snapshot's state file holds
// the disk's own sectors (overlay and metadata) and names each host file it reads by its stamp; for
// the snapshot's view to come back exactly, each of those files is kept here at that version: a hard
// link when the VM's folder is on the folder's file system (no copy, and no space until the host's
// name points elsewhere: a sync never writes a file in place, it renames a new one over it), else a
// copy (temporary file, fsync, rename). An entry is named after the stamp, so snapshots that read the
// same version share it, and a folder disk finds it from its sources alone.
//
// An entry is used only while it still is that version: a link whose file was then edited in place
// (some editors write so, above all into a file with several links) no longer holds the snapshot's
// bytes, and is passed over; the guest then reads the host's file as host-sources.ts does.
//
// Nothing here writes into the host folder: it is only read (opened without following a link, and
// checked to be the file the stamp names), and every entry is written in the VM's own folder.

import { closeSync, constants, fstatSync, fsyncSync, linkSync, lstatSync, mkdirSync, openSync, readSync, readdirSync, renameSync, writeSync, type Stats } from 'node:fs';
import { join } from 'node:path';
import type { HostStamp } from './folder-scan.ts';
import type { HostExtent } from './host-sources.ts';
import { fsyncDir, lstatQuiet, rmQuiet } from './folder-sync.ts';

/** The store's folder in a VM's folder. */
export const KEPT_DIR = 'host-folder-kept';
const TEMP_PREFIX = '.copy-';
const COPY_CHUNK = 1 << 20;

/** The entry that keeps the host file version `s`. */
export function keptName(s: HostStamp): string {
  return `${s.dev}-${s.ino}-${s.size}-${s.mtimeMs}`;
}

/** The names of the entries a disk with these sources reads. */
export function keptNames(sources: readonly HostExtent[]): Set<string> {
  return new Set(sources.map((x) => keptName(x.stamp)));
}

/**
 * Opens the kept entry for version `s`, or returns null when the store has none that still is it:
 * a link must still be that inode, size and time; a copy (another inode) must have its size.
 */
export function openKept(store: string, s: HostStamp): number | null {
  let fd: number;
  try {
    fd = openSync(join(store, keptName(s)), constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
  } catch {
    return null;
  }
  const st = fstatSync(fd);
  const linked = st.dev === s.dev && st.ino === s.ino;
  if (st.isFile() && st.size === s.size && (!linked || st.mtimeMs === s.mtimeMs)) return fd;
  closeSync(fd);
  return null;
}

export interface KeepResult {
  /** Versions the store holds now for these sources (kept before, or now). */
  readonly kept: number;
  readonly linked: number;
  readonly copied: number;
  /** Files that are no longer the version the sources name: the snapshot cannot keep them. */
  readonly missing: string[];
}

/**
 * Keeps in `store` every host file version `sources` name, under the folder `root`. A file that
 * is no longer that version (changed or gone since the disk recorded it) is listed in `missing`.
 * Throws only when the store itself cannot be written.
 */
export function keepHostFiles(root: string, sources: readonly HostExtent[], store: string): KeepResult {
  mkdirSync(store, { recursive: true, mode: 0o700 });
  const seen = new Set<string>();
  const missing: string[] = [];
  let kept = 0;
  let linked = 0;
  let copied = 0;
  for (const x of sources) {
    const name = keptName(x.stamp);
    if (seen.has(name)) continue;
    seen.add(name);
    const have = openKept(store, x.stamp);
    if (have !== null) {
      closeSync(have);
      kept++;
      continue;
    }
    const entry = join(store, name);
    // An entry that is no longer its version (edited in place through its link) goes first.
    rmQuiet(entry);
    const path = join(root, ...x.rel.split('/'));
    if (!isVersion(lstatQuiet(path), x.stamp)) {
      missing.push(x.rel);
      continue;
    }
    let how: 'linked' | 'copied' | null;
    try {
      // link(2) does not follow a symlink, and the entry is checked to be the stamp's inode after.
      linkSync(path, entry);
      how = isVersion(lstatQuiet(entry), x.stamp) ? 'linked' : null;
      if (!how) rmQuiet(entry);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code === 'ENOENT') how = null;
      // Another file system or mount, a file system without links, a file at its link limit, or one
      // Linux's protected_hardlinks forbids linking (not the user's own): a copy instead.
      else if (['EXDEV', 'EPERM', 'EACCES', 'EROFS', 'EMLINK', 'ENOTSUP', 'EOPNOTSUPP'].includes(code ?? '')) how = copyVersion(path, x.stamp, store, entry) ? 'copied' : null;
      else throw new Error(`cannot keep ${x.rel} for the snapshot in ${store}: ${(e as Error).message}`);
    }
    if (!how) missing.push(x.rel);
    else {
      kept++;
      if (how === 'linked') linked++;
      else copied++;
    }
  }
  if (linked + copied) fsyncDir(store);
  return { kept, linked, copied, missing };
}

/**
 * Deletes the entries no name in `wanted` refers to (and copies a crash left half made); returns
 * how many went. A store that does not exist has nothing to delete.
 */
export function collectKept(store: string, wanted: ReadonlySet<string>): number {
  let names: string[];
  try {
    names = readdirSync(store);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return 0;
    throw e;
  }
  let removed = 0;
  for (const n of names) {
    if (wanted.has(n)) continue;
    rmQuiet(join(store, n));
    removed++;
  }
  return removed;
}

/** Copies host file version `s` at `path` to `entry` atomically; false when the file is not (or stops being) that version. */
function copyVersion(path: string, s: HostStamp, store: string, entry: string): boolean {
  let src: number;
  try {
    src = openSync(path, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
  } catch {
    return false;
  }
  const temp = join(store, `${TEMP_PREFIX}${process.pid}-${keptName(s)}`);
  let dst: number | null = null;
  try {
    if (!isVersion(fstatSync(src), s)) return false;
    dst = openSync(temp, 'w', 0o600);
    const buf = new Uint8Array(COPY_CHUNK);
    for (let off = 0; off < s.size; ) {
      const n = readSync(src, buf, 0, Math.min(COPY_CHUNK, s.size - off), off);
      if (n <= 0) break;
      for (let done = 0; done < n; ) done += writeSync(dst, buf, done, n - done, off + done);
      off += n;
    }
    fsyncSync(dst);
    closeSync(dst);
    dst = null;
    // Edited while it was copied: the copy is not that version.
    if (!isVersion(fstatSync(src), s) || lstatSync(temp).size !== s.size) {
      rmQuiet(temp);
      return false;
    }
    renameSync(temp, entry);
    return true;
  } catch (e) {
    if (dst !== null) closeSync(dst);
    rmQuiet(temp);
    throw new Error(`cannot copy ${path} into the snapshot's store ${store}: ${(e as Error).message}`);
  } finally {
    closeSync(src);
  }
}

function isVersion(st: Stats | null, s: HostStamp): boolean {
  return st !== null && st.isFile() && st.dev === s.dev && st.ino === s.ino && st.size === s.size && st.mtimeMs === s.mtimeMs;
}

