// The files behind snapshots (a VM's folder holds them): a new qcow2 overlay over the disk being
// frozen, the merge of an overlay into the image under it when a snapshot is deleted, and how much
// space a snapshot takes; and, for a VM with host folders, the host files a running snapshot's
// folder disks read, kept in the VM's store (backends/host-folder/kept-files.ts) for as long as a
// snapshot or a saved state reads them. The tree itself is in the library (snapshots table).

import { copyFile, open, rename, stat, unlink } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { Qcow2Image, isQcow2 } from './backends/qcow2/qcow2.ts';
import { ImageLock, ImageLockedError } from './backends/image-lock.ts';
import { splitFolderSections, type SavedFolder } from './backends/host-folder/folder-state.ts';
import { collectKept, keepHostFiles, keptNames } from './backends/host-folder/kept-files.ts';
import { fsyncDir } from './backends/host-folder/folder-sync.ts';
import { checkDisks, diskIdentity, identityChange, readStateFile, StateFileError } from './state-file.ts';

/** The guest-visible size of a raw or qcow2 image. */
async function virtualSize(path: string): Promise<number> {
  if (await isQcow2(path)) {
    const img = await Qcow2Image.open(path, { writable: false });
    const size = img.size;
    await img.close();
    return size;
  }
  return (await stat(path)).size;
}

/**
 * A new, empty qcow2 overlay in `folder` over `backing`, which from now on is only read. A backing
 * file in the same folder is named relatively, so the folder can move.
 */
export async function createOverlay(folder: string, backing: string): Promise<string> {
  const path = join(folder, `disk-${randomBytes(6).toString('hex')}.qcow2`);
  const name = dirname(backing) === folder ? basename(backing) : backing;
  let size: number;
  try {
    size = await virtualSize(backing);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') throw new Error(`disk image ${backing} does not exist (moved or deleted?)`);
    throw e;
  }
  await Qcow2Image.create(path, { size, backing: { name, format: (await isQcow2(backing)) ? 'qcow2' : 'raw' } });
  return path;
}

/** What the library records of a disk as a snapshot freezes it (checked by checkSnapshotFiles). */
export function frozenIdentity(path: string): string {
  const { size, mtimeMs, sample } = diskIdentity('hda', path);
  return JSON.stringify({ size, mtimeMs, sample });
}

/**
 * Checks that a snapshot's files are still what it was taken with, before anything is given up
 * for it: its frozen disk against the identity recorded (and, without one, that it is there), its
 * state whole and readable through to its folder disks, and the disks that state names. Throws an
 * Error with one line naming the file and what is wrong.
 */
export function checkSnapshotFiles(snap: { disk: string; disk_identity?: string; state: string }): void {
  if (snap.disk) {
    let now: ReturnType<typeof diskIdentity>;
    try {
      now = diskIdentity('hda', snap.disk);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      throw new Error(code === 'ENOENT' ? `its disk ${snap.disk} is gone (moved or deleted since the snapshot)` : `its disk ${snap.disk} cannot be read: ${(e as Error).message}`);
    }
    if (snap.disk_identity) {
      const was = JSON.parse(snap.disk_identity) as { size: number; mtimeMs: number; sample: string };
      const what = identityChange(was, now);
      if (what) throw new Error(`its disk ${snap.disk} changed since the snapshot (${what}): something other than this VM's snapshots wrote to it`);
    }
  }
  if (snap.state) {
    const loaded = readStateFile(snap.state);
    try {
      splitFolderSections(loaded.sections);
    } catch (e) {
      throw new StateFileError(`${snap.state}: ${(e as Error).message}`);
    }
    checkDisks(snap.state, loaded.header.disks);
  }
}

/**
 * Writes every cluster `overlay` holds into the image under it, `target` (raw or qcow2), and makes
 * that durable. Until the caller then switches the VM to `target` and deletes the overlay, the
 * overlay still shows the same disk (its clusters cover every one changed in the target), so a
 * crash part-way loses nothing and the merge can simply be done again.
 */
export async function mergeOverlay(overlay: string, target: string, owner = `Hostbox (pid ${process.pid})`): Promise<void> {
  // Both images held as a running VM holds its disk: neither may be written meanwhile (`hostbox run`
  // on either, another VM on the target), and a refusal names who has it.
  const locks = [holdImage(overlay, owner)];
  try {
    locks.push(holdImage(target, owner));
    await mergeLocked(overlay, target);
  } finally {
    for (const l of locks) l?.release();
  }
}

/**
 * Takes an image's lock for a snapshot operation; throws ImageLockedError naming the holder when a
 * VM or `hostbox run` has it. Null where no lock file can be made at all (a read-only folder): no
 * one else can take one there either, and a base image kept read-only is what snapshots are for.
 */
export function holdImage(path: string, owner: string): ImageLock | null {
  try {
    return ImageLock.acquire(path, owner, 'disk image');
  } catch (e) {
    if (e instanceof ImageLockedError) throw e;
    return null;
  }
}

async function mergeLocked(overlay: string, target: string): Promise<void> {
  const top = await Qcow2Image.open(overlay, { writable: false });
  try {
    const ranges = await top.allocatedRanges();
    if (await isQcow2(target)) {
      const under = await Qcow2Image.open(target, { writable: true });
      try {
        for (const r of ranges) {
          const buf = new Uint8Array(r.length);
          await top.readAt(buf, r.offset);
          await under.writeAt(buf, r.offset);
        }
        await under.flush();
      } finally {
        await under.close();
      }
    } else {
      const fh = await open(target, 'r+');
      try {
        for (const r of ranges) {
          const buf = new Uint8Array(r.length);
          await top.readAt(buf, r.offset);
          let done = 0;
          while (done < buf.length) done += (await fh.write(buf, done, buf.length - done, r.offset + done)).bytesWritten;
        }
        await fh.sync();
      } finally {
        await fh.close();
      }
    }
  } finally {
    await top.close();
  }
}

/** Copies a saved state to `to` atomically (temporary file, fsync, rename). */
export async function copyState(from: string, to: string): Promise<void> {
  const tmp = join(dirname(to), `.${basename(to)}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`);
  try {
    await copyFile(from, tmp);
    const fh = await open(tmp, 'r+');
    try {
      await fh.sync();
    } finally {
      await fh.close();
    }
    await rename(tmp, to);
  } catch (e) {
    await unlink(tmp).catch(() => {});
    throw e;
  }
  // The rename is durable only once the folder is: the library is told of the file next.
  fsyncDir(dirname(to));
}

/** Bytes a file takes, 0 when it is absent. */
export async function fileBytes(path: string): Promise<number> {
  if (!path) return 0;
  try {
    return (await stat(path)).size;
  } catch {
    return 0;
  }
}

/** Deletes a file if it is there. */
export async function remove(path: string): Promise<void> {
  if (path) await unlink(path).catch((e: NodeJS.ErrnoException) => (e.code === 'ENOENT' ? undefined : Promise.reject(e)));
}

/**
 * Reads and checks a saved state (a snapshot's, or a suspended VM's) through to its folder disks;
 * throws a StateFileError with one line naming what is wrong.
 */
export function readSavedFolders(state: string): Map<string, SavedFolder> {
  const loaded = readStateFile(state);
  try {
    return splitFolderSections(loaded.sections).folders;
  } catch (e) {
    throw new StateFileError(`${state}: ${(e as Error).message}`);
  }
}

/**
 * Keeps in `store` the host files the folder disks saved in `state` read (see kept-files.ts).
 * Returns one line per folder that could not keep them all (files the host changed meanwhile).
 */
export function keepSnapshotFolders(state: string, store: string): string[] {
  const notes: string[] = [];
  for (const f of readSavedFolders(state).values()) {
    const r = keepHostFiles(f.state.root, f.state.sources, store);
    if (r.missing.length)
      notes.push(
        `folder ${f.state.folder}: ${r.missing.length} file${r.missing.length === 1 ? '' : 's'} changed on the host while the snapshot was taken (${r.missing.slice(0, 3).join(', ')}${r.missing.length > 3 ? ', …' : ''}): reverting to it, the guest reads them as the host has them then`,
      );
  }
  return notes;
}

/**
 * Deletes from `store` the kept host files none of `states` reads. Any state that cannot be read
 * stops it before anything is deleted (StateFileError), since what that state needs is not known.
 */
export function collectSnapshotFolders(store: string, states: readonly string[]): number {
  const wanted = new Set<string>();
  for (const st of states) for (const f of readSavedFolders(st).values()) for (const n of keptNames(f.state.sources)) wanted.add(n);
  return collectKept(store, wanted);
}
