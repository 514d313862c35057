// Carries what the guest did on its FAT disk back to the host folder. The model is explicit: the
// guest's file system (read back with fat-reader.ts, overlay over base) is compared with the
// baseline, entry by entry. The baseline is what was presented at attach; each sync moves it
// forward to what the guest and the host then agree on (returned as `baseline`), so a later sync
// carries only what the guest did since:
//
// - same first cluster, same chain, no sector of it written since the baseline, same size: the same
//   file, perhaps under a new name or directory (a rename or move);
// - same path, different contents: a modification;
// - anything else the guest has: a create; anything presented that the guest no longer has: a delete.
//
// Applying happens in phases, each before the next starts: (1) read the guest's file system and check
// it whole, so a corrupt FAT stops the sync before anything changes; (2) write every new or changed
// file into a temporary file at the top of the folder (fsync'd); (3) set moved files aside under
// temporary names, so swaps and cycles of renames cannot overwrite each other; (4) delete; (5) make
// directories; (6) rename each temporary file to its place; (7) remove directories left empty.
// Every file therefore appears wholly old or wholly new, never half written.
//
// Safety: a host file whose identity, size or modification time differs from attach is never
// overwritten, moved or deleted (the guest's version goes beside it under a conflict name, unless
// the host's file already holds exactly the guest's bytes: then the two agree, and nothing is
// written; a guest restored to a snapshot carries again what a later sync already did); names
// are checked before use and every path is built from checked names under the folder, whose
// directories are checked not to be symlinks before anything is written through them. A guest
// version written over or beside a host file takes that file's permission bits.

import { chmodSync, closeSync, constants, fstatSync, fsyncSync, lstatSync, mkdirSync, openSync, readSync, renameSync, rmdirSync, unlinkSync, utimesSync, writeSync, type Stats } from 'node:fs';
import { join } from 'node:path';
import { type FatDir, type FatFile, type FatNode, type FatVolume, type SectorReader, readFileRange } from './fat-reader.ts';
import type { PresentedEntry } from './fat-image.ts';
import type { HostStamp } from './folder-scan.ts';

/** Temporary names at the top of the folder while a sync runs. */
export const SYNC_TEMP_PREFIX = '.hostbox-sync-';
/** Numbers temporary names across the syncs of this process, so a later sync never reuses one. */
let tempSeq = 0;
const COPY_CHUNK = 1 << 20;

export interface SyncReport {
  written: string[];
  created: string[];
  deleted: string[];
  moved: string[];
  dirsMade: string[];
  dirsRemoved: string[];
  conflicts: string[];
  refused: string[];
  /** Guest files the host already held under their name with the same contents: nothing was written. */
  alreadyThere: string[];
}

/**
 * The stamp of a baseline entry whose guest version the host does not hold (a conflict put it
 * beside the host's file): it matches no host file, so a later change in the guest is again put
 * beside the host's file, never over it.
 */
export const NO_HOST_FILE: HostStamp = Object.freeze({ dev: -1, ino: -1, size: -1, mtimeMs: -1 });

/** What a sync did to host files that back the disk's clusters; the folder disk moves its sources along. */
export type HostChange =
  | { kind: 'moved'; stamp: HostStamp; runs: PresentedEntry['runs']; rel: string }
  | { kind: 'replaced'; old: HostStamp; oldRuns: PresentedEntry['runs']; rel: string; stamp: HostStamp; chain: readonly number[] }
  | { kind: 'deleted'; stamp: HostStamp; runs: PresentedEntry['runs'] };

export interface SyncOutcome {
  report: SyncReport;
  /** What the guest and the host agree on now: the next sync's baseline. */
  baseline: PresentedEntry[];
  changes: HostChange[];
  /** Guest files whose new contents did not reach the host: still to be carried by a later sync. */
  unsettled: FatFile[];
  /** Where copies of guest files that could not be put in place are kept (by their place): the next sync's `kept`. */
  kept: Map<string, string>;
}

export interface SyncInput {
  root: string;
  /** What the guest's file system was last in agreement with (at attach: what was presented). */
  baseline: readonly PresentedEntry[];
  volume: FatVolume;
  read: SectorReader;
  /** Whether the guest wrote any sector of [lba, lba + count) since the baseline. */
  written(lba: number, count: number): boolean;
  log?: (msg: string) => void;
  /** For conflict names; injected so tests see fixed names. */
  now?: () => Date;
  /**
   * Copies earlier syncs left at the top of the folder, of guest files they could not put in place
   * (by the place): a later copy of the same file replaces it, and one put in place removes it.
   */
  kept?: ReadonlyMap<string, string>;
}

/** Why the host cannot hold a name the guest made, or null when it can. */
export function hostNameProblem(name: string): string | null {
  if (name === '' || name === '.' || name === '..') return 'it is not a file name';
  if (name.includes('/') || name.includes('\0')) return 'it holds a path separator or NUL';
  if (Buffer.byteLength(name, 'utf8') > 255) return 'it is longer than 255 bytes';
  if (/[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/.test(name)) return 'it holds an unpaired UTF-16 surrogate';
  if (name.startsWith(SYNC_TEMP_PREFIX)) return `names starting ${SYNC_TEMP_PREFIX} are Hostbox's own`;
  return null;
}

interface GuestItem {
  rel: string;
  node: FatNode;
}

/** A cluster chain as runs [first, count] of consecutive clusters. */
export function runsOf(chain: readonly number[]): [number, number][] {
  const out: [number, number][] = [];
  for (const c of chain) {
    const last = out[out.length - 1];
    if (last && last[0] + last[1] === c) last[1]++;
    else out.push([c, 1]);
  }
  return out;
}

function sameRuns(a: readonly (readonly [number, number])[], b: readonly (readonly [number, number])[]): boolean {
  return a.length === b.length && a.every((r, i) => r[0] === b[i]![0] && r[1] === b[i]![1]);
}

function stampOf(st: Stats): HostStamp {
  return { dev: st.dev, ino: st.ino, size: st.size, mtimeMs: st.mtimeMs };
}

function sameStamp(a: HostStamp, rel: string, root: string, dirOnly: boolean): boolean {
  try {
    const st = lstatSync(join(root, ...rel.split('/').filter(Boolean)));
    if (st.dev !== a.dev || st.ino !== a.ino) return false;
    if (dirOnly) return st.isDirectory();
    return st.isFile() && st.size === a.size && st.mtimeMs === a.mtimeMs;
  } catch {
    return false;
  }
}

export function syncFolder(input: SyncInput): SyncOutcome {
  const { root, baseline: presented, volume, read } = input;
  const log = input.log ?? (() => {});
  const report: SyncReport = { written: [], created: [], deleted: [], moved: [], dirsMade: [], dirsRemoved: [], conflicts: [], refused: [], alreadyThere: [] };
  const rootEntry = presented.find((p) => p.rel === '');
  if (!rootEntry || !sameStamp(rootEntry.stamp, '', root, true)) throw new Error(`host folder ${root} is no longer the folder that was attached; nothing was synced`);

  // (1) Flatten the guest's tree, refusing names the host cannot hold (and what lies under them).
  const guest: GuestItem[] = [];
  const keepClusters = new Set<number>();
  const keepRels = new Set<string>();
  const claimAll = (n: FatNode, rel: string): void => {
    keepClusters.add(n.cluster);
    keepRels.add(rel);
    if (n.kind === 'dir') for (const c of n.children) claimAll(c, `${rel}/${c.name}`);
  };
  const flatten = (d: FatDir, rel: string): void => {
    for (const c of d.children) {
      const childRel = rel ? `${rel}/${c.name}` : c.name;
      const problem = hostNameProblem(c.name);
      if (problem) {
        report.refused.push(`${childRel}: ${problem}`);
        log(`host folder sync: refused ${JSON.stringify(childRel)}: ${problem}`);
        // Whatever the refused entry holds is not deleted on the host either.
        claimAll(c, childRel);
        continue;
      }
      guest.push({ rel: childRel, node: c });
      if (c.kind === 'dir') flatten(c, childRel);
    }
  };
  flatten(volume.root, '');

  const byCluster = new Map<number, PresentedEntry>();
  const byRel = new Map<string, PresentedEntry>();
  for (const p of presented) {
    if (p.rel === '') continue;
    if (p.cluster) byCluster.set(p.cluster, p);
    byRel.set(p.rel, p);
  }
  const claimed = new Set<PresentedEntry>();
  const spc = volume.sectorsPerCluster;
  const untouched = (f: FatFile, p: PresentedEntry): boolean => {
    if (f.size !== p.size || !sameRuns(runsOf(f.chain), p.runs)) return false;
    return p.runs.every(([c, n]) => !input.written(volume.clusterLba(c), n * spc));
  };

  type Op =
    | { kind: 'write'; rel: string; file: FatFile; origin?: PresentedEntry }
    | { kind: 'move'; rel: string; origin: PresentedEntry; file: FatFile }
    | { kind: 'mkdir'; rel: string; cluster: number };
  const ops: Op[] = [];
  const origins = new Map<GuestItem, PresentedEntry>();
  for (const g of guest) {
    const p = g.node.cluster ? byCluster.get(g.node.cluster) : undefined;
    if (!p || p.kind !== g.node.kind || claimed.has(p)) continue;
    if (g.node.kind === 'dir' || untouched(g.node, p) || p.rel === g.rel) {
      origins.set(g, p);
      claimed.add(p);
    }
  }
  for (const g of guest) {
    if (origins.has(g)) continue;
    const p = byRel.get(g.rel);
    // A presented file whose clusters a refused entry still holds (renamed to a name the host
    // cannot hold) is that entry's: a new file under its old name must not replace it.
    if (p && p.kind === g.node.kind && !claimed.has(p) && !(p.cluster && keepClusters.has(p.cluster))) {
      origins.set(g, p);
      claimed.add(p);
    }
  }
  for (const g of guest) {
    const p = origins.get(g);
    if (g.node.kind === 'dir') {
      if (!p || p.rel !== g.rel) ops.push({ kind: 'mkdir', rel: g.rel, cluster: g.node.cluster });
      continue;
    }
    const f = g.node;
    if (!p) ops.push({ kind: 'write', rel: g.rel, file: f });
    else if (p.rel === g.rel) {
      if (!untouched(f, p)) ops.push({ kind: 'write', rel: g.rel, file: f, origin: p });
    } else ops.push({ kind: 'move', rel: g.rel, origin: p, file: f });
  }
  // Presented entries the guest no longer has (a dir the guest renamed also goes, once emptied).
  const gone = presented.filter((p) => p.rel !== '' && !keepRels.has(p.rel) && !(p.cluster && keepClusters.has(p.cluster)) && (!claimed.has(p) || p.kind === 'dir'));
  const renamedDirs = new Set(guest.filter((g) => g.node.kind === 'dir' && origins.get(g) && origins.get(g)!.rel !== g.rel).map((g) => origins.get(g)!));
  const deleteFiles = gone.filter((p) => p.kind === 'file');
  const removeDirs = gone.filter((p) => p.kind === 'dir' && (!claimed.has(p) || renamedDirs.has(p)));
  // A directory the guest has under the same name stays in the baseline as it is.

  // Conflicts are decided before anything changes: a host file that is not as presented is left alone.
  const hostChanged = (p: PresentedEntry): boolean => !sameStamp(p.stamp, p.rel, root, p.kind === 'dir');

  const hostPath = (rel: string): string => join(root, ...rel.split('/'));
  // Directories below the top whose entries the sync changes: each is fsync'd at the end, before
  // the top (a rename into a subfolder is durable only once that subfolder is).
  const touched = new Set<string>();
  const touch = (rel: string): void => {
    const slash = rel.lastIndexOf('/');
    if (slash > 0) touched.add(rel.slice(0, slash));
  };
  /** Refuses a directory path that is missing a component, or passes through anything but a real directory. */
  const checkDirs = (rel: string): void => {
    const parts = rel.split('/').slice(0, -1);
    let p = root;
    for (const part of parts) {
      p = join(p, part);
      const st = lstatSync(p);
      if (!st.isDirectory() || st.isSymbolicLink()) throw new Error(`${p} is not a directory of the folder (a symlink or a file is there now)`);
    }
  };
  const stamp = input.now?.() ?? new Date();
  const conflictRel = (rel: string): string => {
    const slash = rel.lastIndexOf('/');
    const dir = rel.slice(0, slash + 1);
    const name = rel.slice(slash + 1);
    const dot = name.lastIndexOf('.');
    const base = dot > 0 ? name.slice(0, dot) : name;
    const ext = dot > 0 ? name.slice(dot) : '';
    const when = stamp.toISOString().slice(0, 16).replace('T', ' ').replace(':', '');
    for (let n = 1; ; n++) {
      const candidate = `${dir}${base} (guest conflict ${when}${n > 1 ? ` ${n}` : ''})${ext}`;
      if (!exists(hostPath(candidate))) return candidate;
    }
  };

  // What the guest and the host agree on after this sync: the baseline, less what is dropped, plus what is added.
  const dropped = new Set<PresentedEntry>();
  const added: PresentedEntry[] = [];
  const changes: HostChange[] = [];
  const unsettled: FatFile[] = [];
  const kept = new Map(input.kept ?? []);
  /** The guest's file reached `rel`: an older copy kept for it is stale. */
  const settled = (rel: string): void => {
    const old = kept.get(rel);
    if (old === undefined) return;
    rmQuiet(old);
    kept.delete(rel);
  };
  const entryOf = (rel: string, f: FatFile, st: HostStamp): PresentedEntry => ({ kind: 'file', rel, cluster: f.chain[0] ?? 0, runs: runsOf(f.chain), size: f.size, stamp: st });

  // (2) New contents into temporary files, while every host file is still where the base expects it.
  // Two kinds of temporary files, told apart by name should a crash leave any: "-new-" ones are
  // copies of guest files (perhaps partial; safe to delete), "-moved-" ones are whole host files set
  // aside while renames are carried out.
  // A name no file has: an earlier sync may have left one there (a file it could not put in place),
  // and a rename onto it would destroy that file.
  const tempPath = (kind: 'new' | 'moved'): string => {
    for (;;) {
      const p = join(root, `${SYNC_TEMP_PREFIX}${process.pid}-${kind}-${tempSeq++}`);
      if (!exists(p)) return p;
    }
  };
  const placements: { temp: string; rel: string; mtimeMs: number; file: FatFile; replace?: PresentedEntry; what: 'written' | 'created' | 'moved'; from?: PresentedEntry }[] = [];
  try {
    for (const op of ops) {
      if (op.kind !== 'write') continue;
      const temp = tempPath('new');
      // A copy that replaces a host file is private until it takes that file's permissions (6).
      writeTemp(temp, volume, read, op.file, op.origin ? 0o600 : 0o644);
      placements.push({ temp, rel: op.rel, mtimeMs: op.file.mtimeMs, file: op.file, replace: op.origin, what: op.origin ? 'written' : 'created' });
    }
  } catch (e) {
    for (const pl of placements) rmQuiet(pl.temp);
    throw new Error(`host folder sync stopped before changing anything: ${(e as Error).message}`);
  }

  // (3) Moves: set aside under temporary names.
  for (const op of ops) {
    if (op.kind !== 'move') continue;
    if (hostChanged(op.origin)) {
      report.conflicts.push(`${op.origin.rel} -> ${op.rel}: renamed in the guest but changed on the host; left as the host has it`);
      // The guest's file is not the host's: a later change to it goes beside, never over.
      dropped.add(op.origin);
      added.push(entryOf(op.rel, op.file, NO_HOST_FILE));
      continue;
    }
    const temp = tempPath('moved');
    try {
      checkDirs(op.origin.rel);
      touch(op.origin.rel);
      renameSync(hostPath(op.origin.rel), temp);
      placements.push({ temp, rel: op.rel, mtimeMs: op.file.mtimeMs, file: op.file, what: 'moved', from: op.origin });
    } catch (e) {
      report.refused.push(`${op.origin.rel} -> ${op.rel}: ${(e as Error).message}`);
    }
  }

  // (4) Deletes.
  for (const p of deleteFiles) {
    if (hostChanged(p)) {
      report.conflicts.push(`${p.rel}: deleted in the guest but changed on the host; not deleted`);
      dropped.add(p);
      continue;
    }
    try {
      checkDirs(p.rel);
      touch(p.rel);
      unlinkSync(hostPath(p.rel));
      report.deleted.push(p.rel);
      dropped.add(p);
      changes.push({ kind: 'deleted', stamp: p.stamp, runs: p.runs });
    } catch (e) {
      report.refused.push(`${p.rel}: not deleted: ${(e as Error).message}`);
    }
  }

  // (5) Directories, parents first.
  for (const op of ops.filter((o) => o.kind === 'mkdir').sort((a, b) => a.rel.split('/').length - b.rel.split('/').length)) {
    try {
      checkDirs(op.rel);
      let st = lstatQuiet(hostPath(op.rel));
      if (st && !(st.isDirectory() && !st.isSymbolicLink())) throw new Error('the host has a file of that name');
      if (!st) {
        touch(op.rel);
        mkdirSync(hostPath(op.rel));
        report.dirsMade.push(op.rel);
        st = lstatSync(hostPath(op.rel));
      }
      added.push({ kind: 'dir', rel: op.rel, cluster: op.cluster, runs: [], size: 0, stamp: stampOf(st) });
    } catch (e) {
      report.refused.push(`${op.rel}/: ${(e as Error).message}`);
    }
  }

  // (6) Into place.
  for (const pl of placements) {
    try {
      checkDirs(pl.rel);
      let rel = pl.rel;
      const target = lstatQuiet(hostPath(rel));
      const clash = pl.replace ? hostChanged(pl.replace) : target !== null;
      if (clash && pl.what !== 'moved' && target?.isFile() && sameContents(pl.temp, hostPath(rel), target)) {
        rmQuiet(pl.temp);
        settled(rel);
        const st = stampOf(target);
        report.alreadyThere.push(rel);
        added.push(entryOf(rel, pl.file, st));
        if (pl.replace) {
          dropped.add(pl.replace);
          changes.push({ kind: 'replaced', old: pl.replace.stamp, oldRuns: pl.replace.runs, rel, stamp: st, chain: pl.file.chain });
        }
        continue;
      }
      if (pl.replace) {
        if (hostChanged(pl.replace)) {
          rel = conflictRel(pl.rel);
          report.conflicts.push(`${pl.rel}: changed on the host since the guest was shown it; the guest's version is ${rel}`);
        }
      } else if (target) {
        rel = conflictRel(pl.rel);
        report.conflicts.push(`${pl.rel}: the host has a new file of that name; the guest's version is ${rel}`);
      }
      if (pl.what !== 'moved') {
        // The guest's version of a host file keeps that file's permission bits (placed over it or
        // beside it): a private file stays private, a script executable. Set-ID bits are not carried.
        if (target?.isFile()) chmodSync(pl.temp, target.mode & 0o777);
        utimesSync(pl.temp, new Date(pl.mtimeMs), new Date(pl.mtimeMs));
      }
      // The file's identity as it will be in place (a rename keeps inode and times).
      const placed = stampOf(lstatSync(pl.temp));
      touch(rel);
      renameSync(pl.temp, hostPath(rel));
      if (pl.what !== 'moved') settled(pl.rel);
      if (pl.replace) dropped.add(pl.replace);
      if (pl.from) {
        dropped.add(pl.from);
        changes.push({ kind: 'moved', stamp: pl.from.stamp, runs: pl.from.runs, rel });
      }
      if (rel !== pl.rel) {
        added.push(entryOf(pl.rel, pl.file, NO_HOST_FILE));
        continue;
      }
      (pl.what === 'moved' ? report.moved : pl.what === 'written' ? report.written : report.created).push(pl.from ? `${pl.from.rel} -> ${rel}` : rel);
      added.push(entryOf(rel, pl.file, pl.from ? pl.from.stamp : placed));
      if (pl.replace) changes.push({ kind: 'replaced', old: pl.replace.stamp, oldRuns: pl.replace.runs, rel, stamp: placed, chain: pl.file.chain });
    } catch (e) {
      let keptIn = pl.temp;
      if (pl.what !== 'moved') {
        // One copy per file, the guest's latest, however many syncs try again.
        const old = kept.get(pl.rel);
        if (old !== undefined) {
          try {
            renameSync(pl.temp, old);
            keptIn = old;
          } catch {
            /* both stay */
          }
        }
        kept.set(pl.rel, keptIn);
      }
      report.refused.push(`${pl.rel}: ${(e as Error).message}; its contents are kept in ${keptIn}`);
      if (pl.what !== 'moved') unsettled.push(pl.file);
      else if (pl.from) changes.push({ kind: 'moved', stamp: pl.from.stamp, runs: pl.from.runs, rel: pl.temp.slice(root.length + 1) });
    }
  }

  // (7) Directories the guest removed or renamed away, deepest first, when nothing is left in them.
  for (const p of removeDirs.sort((a, b) => b.rel.split('/').length - a.rel.split('/').length)) {
    // Whatever happens on the host, the guest no longer has it: a host directory kept is the host's.
    dropped.add(p);
    try {
      checkDirs(p.rel);
      touch(p.rel);
      rmdirSync(hostPath(p.rel));
      report.dirsRemoved.push(p.rel);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code === 'ENOENT') continue;
      report.conflicts.push(`${p.rel}/: ${code === 'ENOTEMPTY' ? 'removed in the guest, but the host still has files in it; kept' : (e as Error).message}`);
    }
  }
  for (const d of touched) fsyncDir(hostPath(d));
  fsyncDir(root);
  for (const line of report.conflicts) log(`host folder sync: conflict: ${line}`);
  for (const line of report.refused) log(`host folder sync: ${line}`);
  const baseline = [...presented.filter((p) => !dropped.has(p)), ...added];
  return { report, baseline, changes, unsettled, kept };
}

/** Copies a guest file into a new temporary file and makes it durable before anyone renames it. */
function writeTemp(path: string, vol: FatVolume, read: SectorReader, f: FatFile, mode: number): void {
  const fd = openSync(path, 'wx', mode);
  try {
    for (let off = 0; off < f.size; off += COPY_CHUNK) {
      const n = Math.min(COPY_CHUNK, f.size - off);
      writeSync(fd, readFileRange(vol, read, f, off, n), 0, n, off);
    }
    fsyncSync(fd);
  } catch (e) {
    closeSync(fd);
    rmQuiet(path);
    throw e;
  }
  closeSync(fd);
}

/** Whether the host file `path` (`st` its lstat) holds exactly the bytes of the temporary file `temp`. */
function sameContents(temp: string, path: string, st: Stats): boolean {
  if (lstatSync(temp).size !== st.size) return false;
  let a: number | null = null;
  let b: number | null = null;
  try {
    a = openSync(temp, 'r');
    b = openSync(path, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
    const fb = fstatSync(b);
    if (!fb.isFile() || fb.dev !== st.dev || fb.ino !== st.ino) return false;
    const x = new Uint8Array(COPY_CHUNK);
    const y = new Uint8Array(COPY_CHUNK);
    for (let off = 0; off < st.size; off += COPY_CHUNK) {
      const n = Math.min(COPY_CHUNK, st.size - off);
      if (readFull(a, x, n, off) !== n || readFull(b, y, n, off) !== n) return false;
      if (Buffer.compare(x.subarray(0, n), y.subarray(0, n)) !== 0) return false;
    }
    // Changed while it was compared: not known to agree.
    const end = fstatSync(b);
    return end.size === st.size && end.mtimeMs === st.mtimeMs;
  } catch {
    return false;
  } finally {
    if (a !== null) closeSync(a);
    if (b !== null) closeSync(b);
  }
}

/** Reads up to `n` bytes at `at` into `buf`, going on after short reads; returns how many there were. */
export function readFull(fd: number, buf: Uint8Array, n: number, at: number): number {
  let done = 0;
  while (done < n) {
    const k = readSync(fd, buf, done, n - done, at + done);
    if (k <= 0) break;
    done += k;
  }
  return done;
}

function exists(p: string): boolean {
  return lstatQuiet(p) !== null;
}

export function lstatQuiet(p: string): Stats | null {
  try {
    return lstatSync(p);
  } catch {
    return null;
  }
}

export function rmQuiet(p: string): void {
  try {
    unlinkSync(p);
  } catch {
    /* already gone */
  }
}

export function fsyncDir(p: string): void {
  try {
    const fd = openSync(p, 'r');
    fsyncSync(fd);
    closeSync(fd);
  } catch {
    /* best effort: some file systems refuse fsync on directories */
  }
}
