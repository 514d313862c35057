// Snapshots of a VM run from the command line (`hostbox run`, `hostbox resume`), taken through the
// monitor's "snapshot" command. The app keeps its snapshot tree in the library; a command-line VM
// has no library entry, so its snapshots are files in one folder, each one complete in itself:
//   NAME.hbstate      the machine's state at the snapshot (a state file whose header carries the
//                     snapshot's name and its parent, and names the frozen hard disk)
//   disk-*.qcow2      the overlays (snapshot-files.ts, as the app makes them): each froze the disk
//                     under it when a snapshot was taken and takes the guest's writes after it
// The hard disk the VM ran on is frozen (only read from then on), so `hostbox resume NAME.hbstate`
// can go back to the snapshot any number of times: each time on a fresh overlay over that disk.

import { mkdirSync, readdirSync, statSync } from 'node:fs';
import { basename, dirname, isAbsolute, join } from 'node:path';
import { createOverlay } from './snapshot-files.ts';
import { readStateHeader, type SnapshotLabel, type StateHeader } from './state-file.ts';
import type { SnapshotResult, VmmHost } from './vmm-host.ts';

/** Snapshot names are file names in the folder: letters, digits, and . _ - after the first. */
const NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;
/** An overlay createOverlay made: the VM's disk already lives in a snapshot folder. */
const OWN_OVERLAY = /^disk-[0-9a-f]{12}\.qcow2$/;
const STATE_EXT = '.hbstate';

/**
 * Where a command-line VM's snapshots go: `--snapshots DIR`; else the folder of the overlay the VM
 * runs on when it already came from a snapshot; else beside its hard disk (`DISK.snapshots`); else
 * `hostbox-snapshots` in the current folder.
 */
export function snapshotFolder(explicit: string | undefined, hdaPath: string | undefined, cwd = process.cwd()): string {
  if (explicit) return explicit;
  if (hdaPath && OWN_OVERLAY.test(basename(hdaPath))) return dirname(hdaPath);
  if (hdaPath) return `${hdaPath}.snapshots`;
  return join(cwd, 'hostbox-snapshots');
}

export function snapshotNameProblem(name: unknown): string | null {
  if (typeof name !== 'string' || name === '') return '"name" must be a snapshot name';
  if (!NAME.test(name)) return `snapshot name ${JSON.stringify(name)} is not allowed: use up to 64 letters, digits, ".", "_" or "-", starting with a letter or digit`;
  return null;
}

/**
 * Takes snapshot `name` of the running VM into `folder`: its state file, and (with a hard disk)
 * a new overlay there that the VM runs on from now on. The VM keeps running; rejects with one line.
 */
export async function takeSnapshot(vm: Pick<VmmHost, 'snapshot'>, folder: string, name: string, parent?: string): Promise<SnapshotResult> {
  const problem = snapshotNameProblem(name);
  if (problem) throw new Error(problem);
  try {
    mkdirSync(folder, { recursive: true, mode: 0o700 });
  } catch (e) {
    throw new Error(`cannot make the snapshot folder ${folder}: ${(e as Error).message} (choose one with --snapshots DIR)`);
  }
  const file = join(folder, name + STATE_EXT);
  if (statSync(file, { throwIfNoEntry: false })) throw new Error(`a snapshot named ${name} exists already in ${folder}`);
  const label: SnapshotLabel = parent ? { name, parent } : { name };
  return vm.snapshot(file, (frozen) => createOverlay(folder, frozen), label);
}

export interface SnapshotEntry {
  name: string;
  parent?: string;
  created: string;
  file: string;
  /** The state file's size. */
  bytes: number;
}

/** The snapshots in a folder, oldest first; files that are not snapshot states are passed over. */
export function listSnapshots(folder: string): SnapshotEntry[] {
  let names: string[];
  try {
    names = readdirSync(folder);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw new Error(`cannot read the snapshot folder ${folder}: ${(e as Error).message}`);
  }
  const out: SnapshotEntry[] = [];
  for (const n of names) {
    if (!n.endsWith(STATE_EXT) || n.startsWith('.')) continue;
    const file = join(folder, n);
    try {
      const h = readStateHeader(file);
      if (!h.snapshot) continue;
      out.push({ name: h.snapshot.name, ...(h.snapshot.parent ? { parent: h.snapshot.parent } : {}), created: h.created, file, bytes: statSync(file).size });
    } catch {
      // A damaged or foreign file is not a snapshot to offer; resuming it would say what is wrong.
    }
  }
  return out.sort((a, b) => (a.created < b.created ? -1 : a.created > b.created ? 1 : 0));
}

/** The header of a snapshot's state file; null for any other file (the resume then says what it is). */
export function isSnapshotState(file: string): StateHeader | null {
  try {
    const h = readStateHeader(file);
    return h.snapshot ? h : null;
  } catch {
    return null;
  }
}

/**
 * Going back to a snapshot: when its state names a hard disk, a fresh overlay over that (frozen)
 * disk in the snapshot's folder, for the resumed VM to run on. Null for a state that is not a
 * snapshot (an ordinary suspend resumes on its own disk).
 */
export async function revertTarget(file: string): Promise<{ label: SnapshotLabel; folder: string; hdaPath?: string } | null> {
  const h = isSnapshotState(file);
  if (!h?.snapshot) return null;
  const folder = dirname(file);
  const frozen = h.config.hdaPath === undefined ? undefined : isAbsolute(h.config.hdaPath) ? h.config.hdaPath : join(folder, h.config.hdaPath);
  return { label: h.snapshot, folder, ...(frozen ? { hdaPath: await createOverlay(folder, frozen) } : {}) };
}
