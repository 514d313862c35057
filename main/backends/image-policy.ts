// Which host files may become a VM's disk. A guest writes its disk as it pleases, so a wrong path
// hands it a host file: Hostbox's own library database, another VM's disk, a program. Refused:
// anything that is not a regular file; the library database under any name (a hard link);
// anything inside Hostbox's data folder except the disks in a VM folder (for the app: this VM's own
// folder only); lock files; and, as a writable disk, files whose first bytes say they are something
// else (an SQLite database, an executable, an image format Hostbox does not read: not raw or qcow2).

import { closeSync, constants, openSync, readSync, realpathSync, statSync } from 'node:fs';
import { join, sep } from 'node:path';

/** The VM library's database and SQLite's files beside it (library/library.ts). */
const LIBRARY_FILES = ['library.sqlite3', 'library.sqlite3-wal', 'library.sqlite3-shm', 'library.sqlite3-journal'];

export interface ImageScope {
  /** Hostbox's data folder (library database, vms/<id>/ folders). */
  dataDir?: string;
  /**
   * The VM's own folder: the only place in the data folder its disks may be; null for a VM not
   * created yet (nothing in the data folder is its own). Left out (the command line): any VM's folder.
   */
  ownFolder?: string | null;
}

function real(p: string): string {
  try {
    return realpathSync(p);
  } catch {
    return p;
  }
}

function inside(file: string, dir: string): boolean {
  return file === dir || file.startsWith(dir.endsWith(sep) ? dir : dir + sep);
}

const SIGNATURES: { magic: number[]; what: string }[] = [
  { magic: [...'SQLite format 3'].map((c) => c.charCodeAt(0)).concat(0), what: 'an SQLite database' },
  { magic: [0x7f, 0x45, 0x4c, 0x46], what: 'a program (ELF)' },
  { magic: [0x4b, 0x44, 0x4d, 0x56], what: 'a VMDK image (Hostbox opens raw and qcow2 images)' },
  { magic: [...'conectix'].map((c) => c.charCodeAt(0)), what: 'a VHD image (Hostbox opens raw and qcow2 images)' },
  { magic: [...'vhdxfile'].map((c) => c.charCodeAt(0)), what: 'a VHDX image (Hostbox opens raw and qcow2 images)' },
];

/** What the file's first bytes say it is, when that is not a raw disk. */
function foreignFormat(path: string): string | null {
  let fd: number;
  try {
    fd = openSync(path, constants.O_RDONLY | constants.O_NONBLOCK);
  } catch {
    return null;
  }
  try {
    const head = new Uint8Array(16);
    const n = readSync(fd, head, 0, head.length, 0);
    for (const s of SIGNATURES) if (n >= s.magic.length && s.magic.every((b, i) => head[i] === b)) return s.what;
    // VDI keeps its signature at offset 64.
    const vdi = new Uint8Array(4);
    if (readSync(fd, vdi, 0, 4, 64) === 4 && vdi[0] === 0x7f && vdi[1] === 0x10 && vdi[2] === 0xda && vdi[3] === 0xbe) return 'a VDI image (Hostbox opens raw and qcow2 images)';
    return null;
  } catch {
    return null;
  } finally {
    closeSync(fd);
  }
}

/** Why `path` must not be a VM's disk (or, with writable false, its CD), as one sentence; null when it may. */
export function imageRefusal(path: string, writable: boolean, scope: ImageScope): string | null {
  let st;
  try {
    st = statSync(path);
  } catch {
    return null; // Missing or unreadable: the opener says which, in its own words.
  }
  if (!st.isFile()) return `${path} is not a regular file`;
  if (path.endsWith('.lck')) return `${path} is a Hostbox lock file, not a disk image`;
  const file = real(path);
  if (scope.dataDir) {
    const data = real(scope.dataDir);
    if (inside(file, data)) {
      const vms = join(data, 'vms');
      const allowed =
        scope.ownFolder === null ? false : scope.ownFolder !== undefined ? inside(file, real(scope.ownFolder)) : inside(file, vms) && file.slice(vms.length + 1).includes(sep);
      if (!allowed) return `${path} is one of Hostbox's own files (in its data folder ${scope.dataDir}), not a disk of this VM`;
    }
    // A hard link elsewhere to the library (or its journal) is the same file under another name.
    for (const name of LIBRARY_FILES) {
      try {
        const lib = statSync(join(data, name));
        if (lib.ino === st.ino && lib.dev === st.dev) return `${path} is Hostbox's library database (${name}), not a disk image`;
      } catch {
        // Not there.
      }
    }
  }
  if (writable) {
    const what = foreignFormat(path);
    if (what) return `${path} is ${what}, not a disk image Hostbox can write`;
  }
  return null;
}

/**
 * Why `path` must not be a host folder disk, as one sentence; null when it may. A folder disk is
 * synthesized, not an image file, so the checks above do not apply; but the guest reads the whole
 * folder and, at power-off, writes into it, so it must not reach Hostbox's data folder: not the
 * folder itself, nothing inside it (the library database, VM disks, this VM's own overlays), and no
 * folder holding it.
 */
export function folderRefusal(path: string, scope: ImageScope): string | null {
  if (!scope.dataDir) return null;
  const dir = real(path);
  const data = real(scope.dataDir);
  if (inside(dir, data)) return `${path} is in Hostbox's data folder ${scope.dataDir}, which a guest must not read or write`;
  if (inside(data, dir)) return `${path} holds Hostbox's data folder ${scope.dataDir}, which a guest must not read or write: share a folder beside it`;
  return null;
}
