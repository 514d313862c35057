// The files behind snapshots (a VM's folder holds them): a new qcow2 overlay over the disk being
// frozen, the merge of an overlay into the image under it when a snapshot is deleted, and how much
// space a snapshot takes. The tree itself is in the library (snapshots table).

import { copyFile, open, rename, stat, unlink } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { Qcow2Image, isQcow2 } from './backends/qcow2/qcow2.ts';

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
  await Qcow2Image.create(path, { size: await virtualSize(backing), backing: { name, format: (await isQcow2(backing)) ? 'qcow2' : 'raw' } });
  return path;
}

/**
 * Writes every cluster `overlay` holds into the image under it, `target` (raw or qcow2), and makes
 * that durable. Until the caller then switches the VM to `target` and deletes the overlay, the
 * overlay still shows the same disk (its clusters cover every one changed in the target), so a
 * crash part-way loses nothing and the merge can simply be done again.
 */
export async function mergeOverlay(overlay: string, target: string): Promise<void> {
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
    await fh.sync();
    await fh.close();
    await rename(tmp, to);
  } catch (e) {
    await unlink(tmp).catch(() => {});
    throw e;
  }
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
