// One pass over a host folder at attach: every directory and regular file under it, with what the
// FAT image needs (size, modification time, whether the user may write it) and what the synchroniser
// needs later to tell whether the host changed it (device, inode, size, mtime). Nothing is read but
// metadata. Symlinks are never followed (one could lead outside the folder, or into a loop), and
// neither are sockets, FIFOs or devices: each is left out and named in `skipped`.

import { lstatSync, readdirSync, realpathSync, type Stats } from 'node:fs';
import { join, relative, sep } from 'node:path';
import { longNameProblem } from './dir-entries.ts';

/** A host file's identity and contents as of the scan: any difference later means the host changed it. */
export interface HostStamp {
  readonly dev: number;
  readonly ino: number;
  readonly size: number;
  readonly mtimeMs: number;
}

export interface ScannedFile {
  readonly kind: 'file';
  readonly name: string;
  /** Path relative to the folder, '/'-separated. */
  readonly rel: string;
  readonly stamp: HostStamp;
  readonly readOnly: boolean;
}

export interface ScannedDir {
  readonly kind: 'dir';
  readonly name: string;
  readonly rel: string;
  readonly stamp: HostStamp;
  readonly readOnly: boolean;
  readonly children: (ScannedFile | ScannedDir)[];
}

export type ScannedEntry = ScannedFile | ScannedDir;

export interface FolderScan {
  /** The folder's real path (symlinks in the path itself resolved once, at attach). */
  readonly root: string;
  readonly tree: ScannedDir;
  /** Entries left out, each with the reason ("link.txt: a symlink (to /etc/passwd, outside the folder)"). */
  readonly skipped: string[];
  readonly files: number;
  readonly dirs: number;
  readonly bytes: number;
}

/** FAT's file size field is 32 bits. */
export const MAX_FILE_SIZE = 0xffffffff;

function stampOf(st: Stats): HostStamp {
  return { dev: st.dev, ino: st.ino, size: st.size, mtimeMs: st.mtimeMs };
}

/**
 * Read-only in the guest when the owner's write bit is clear (as Samba maps it), or when this user
 * may not write the file by its mode bits (owner, group or supplementary groups, other). Worked out
 * from the stat already made rather than with access(2), which would cost a syscall per file;
 * ACLs and read-only mounts are not seen, and a write refused there is reported at sync.
 */
function readOnlyOf(st: Stats, who: { uid: number; groups: Set<number> }): boolean {
  if ((st.mode & 0o200) === 0) return true;
  if (who.uid === 0 || st.uid === who.uid) return false;
  return (st.mode & (who.groups.has(st.gid) ? 0o020 : 0o002)) === 0;
}

export function scanFolder(folder: string): FolderScan {
  let root: string;
  try {
    root = realpathSync(folder);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new Error(code === 'ENOENT' ? `host folder ${folder} does not exist` : `host folder ${folder}: ${(e as Error).message}`);
  }
  const rootStat = lstatSync(root);
  if (!rootStat.isDirectory()) throw new Error(`host folder ${folder} is not a directory`);
  const who = { uid: process.getuid?.() ?? -1, groups: new Set([process.getgid?.() ?? -1, ...(process.getgroups?.() ?? [])]) };
  const skipped: string[] = [];
  let files = 0;
  let dirs = 0;
  let bytes = 0;
  const walk = (abs: string, rel: string, st: Stats, name: string): ScannedDir => {
    const children: ScannedEntry[] = [];
    let names: string[];
    try {
      names = readdirSync(abs);
    } catch (e) {
      throw new Error(`host folder: cannot list ${rel || '.'}: ${(e as Error).message}`);
    }
    names.sort();
    for (const n of names) {
      const childAbs = join(abs, n);
      const childRel = rel ? `${rel}/${n}` : n;
      const problem = longNameProblem(n);
      if (problem) {
        skipped.push(`${childRel}: ${problem}`);
        continue;
      }
      let cst: Stats;
      try {
        cst = lstatSync(childAbs);
      } catch (e) {
        skipped.push(`${childRel}: ${(e as Error).message}`);
        continue;
      }
      if (cst.isSymbolicLink()) {
        skipped.push(`${childRel}: a symlink (${describeLink(root, childAbs)}), not followed`);
      } else if (cst.isDirectory()) {
        dirs++;
        children.push(walk(childAbs, childRel, cst, n));
      } else if (cst.isFile()) {
        if (cst.size > MAX_FILE_SIZE) throw new Error(`host folder: ${childRel} has ${cst.size} bytes; a FAT file holds at most 4 GiB - 1 byte`);
        files++;
        bytes += cst.size;
        children.push({ kind: 'file', name: n, rel: childRel, stamp: stampOf(cst), readOnly: readOnlyOf(cst, who) });
      } else {
        skipped.push(`${childRel}: not a regular file or directory`);
      }
    }
    return { kind: 'dir', name, rel, stamp: stampOf(st), readOnly: false, children };
  };
  const tree = walk(root, '', rootStat, '');
  return { root, tree, skipped, files, dirs, bytes };
}

function describeLink(root: string, abs: string): string {
  try {
    const target = realpathSync(abs);
    const r = relative(root, target);
    return r.startsWith('..' + sep) || r === '..' || r.startsWith(sep) ? `to ${target}, outside the folder` : 'inside the folder';
  } catch {
    return 'dangling';
  }
}
