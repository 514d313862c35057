// An advisory lock per writable disk image, so two VMs (or the app and `hostbox run`) never write
// one image at once: a lock file beside the image, `<image>.lck`, as VMware Workstation does,
// created exclusively (written under a unique name with O_EXCL, then linked into place, which fails
// when it exists) and holding who took it (pid, host, process start time, a name for people).
//
// Hard links give one file several names in several folders, each with its own place for a lock
// beside it. So a second lock file is taken for the file itself, named by its device and inode
// number, in a folder of this user's on this host (`hostbox-locks-<uid>` in XDG_RUNTIME_DIR or the
// temporary folder): it keeps two names of one file apart on this host, where the lock beside the
// image also serves other hosts sharing the folder. (QEMU's locks, fcntl(2) ones, belong to the
// file too.)
//
// Why a lock file and not flock(2): Node reaches flock only through a native addon or a helper
// process per image (util-linux flock(1)), and a flock names no holder, while the refusal must say
// which VM or process holds the image. The price of a file is the stale lock a crash leaves behind:
// one whose process is gone (same host, and its pid is dead or now belongs to a process started at
// another time) is taken over. A lock from another host cannot be checked and is never taken over.

import { closeSync, constants, fstatSync, fsyncSync, linkSync, lstatSync, mkdirSync, openSync, readFileSync, readSync, realpathSync, renameSync, statSync, unlinkSync, writeSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { randomBytes } from 'node:crypto';

interface LockRecord {
  pid: number;
  host: string;
  /** The process's start time in clock ticks since boot (Linux), telling a reused pid from the holder. */
  started: string | null;
  owner: string;
  since: string;
  /** Tells this lock from a later one in the same place (inode numbers are reused at once). */
  nonce: string;
  /**
   * A lock on a file's inode: the name the holder locked it by. If that name no longer leads to the
   * inode, the holder let the file go (its inode number may now be another file's) and the lock is stale.
   */
  file?: string;
}

export class ImageLockedError extends Error {}

function processStart(pid: number): string | null {
  try {
    // /proc/<pid>/stat: field 22 is starttime; the command name (field 2) may hold spaces, so count after its ')'.
    const stat = readFileSync(`/proc/${pid}/stat`, 'latin1');
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19] ?? null;
  } catch {
    return null;
  }
}

/** Whether process `pid` exists (on this host). */
export function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    // EPERM: the pid exists but belongs to another user.
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function parseRecord(text: string): LockRecord | null {
  try {
    const r = JSON.parse(text) as Partial<LockRecord>;
    if (typeof r.pid !== 'number' || !Number.isInteger(r.pid) || r.pid <= 0 || typeof r.host !== 'string' || typeof r.owner !== 'string') return null;
    return {
      pid: r.pid,
      host: r.host,
      started: typeof r.started === 'string' ? r.started : null,
      owner: r.owner.slice(0, 200),
      since: typeof r.since === 'string' ? r.since : '',
      nonce: typeof r.nonce === 'string' ? r.nonce : '',
      ...(typeof r.file === 'string' ? { file: r.file } : {}),
    };
  } catch {
    return null;
  }
}

/** Far more than a record takes (the owner is cut to 200 characters). */
const MAX_LOCK_BYTES = 4096;

/**
 * A lock file's text, or null when it is not a small regular file. Hostbox's locks are always one
 * (written whole, then linked); what else stands in their place, planted in a shared folder or left
 * by a damaged disk, is not read: a FIFO would block the open for ever, a link to /dev/zero never ends.
 */
function readLock(path: string): string | null {
  let fd: number;
  try {
    fd = openSync(path, constants.O_RDONLY | constants.O_NONBLOCK | constants.O_NOFOLLOW);
  } catch {
    return null;
  }
  try {
    const st = fstatSync(fd);
    if (!st.isFile() || st.size > MAX_LOCK_BYTES) return null;
    const buf = Buffer.alloc(st.size);
    let n = 0;
    while (n < buf.length) {
      const k = readSync(fd, buf, n, buf.length - n, n);
      if (k === 0) break;
      n += k;
    }
    return buf.toString('utf8', 0, n);
  } catch {
    return null;
  } finally {
    closeSync(fd);
  }
}

/**
 * Where the file itself is, symbolic links (to it or to a folder above it) resolved: the lock
 * belongs to the file, and two names of one image must meet at one lock. A file not made yet (the
 * library before its first start) is placed by its folder. Hard links stay distinct names.
 */
function lockTarget(path: string): string {
  try {
    return realpathSync(path);
  } catch {
    try {
      return join(realpathSync(dirname(path)), basename(path));
    } catch {
      return path;
    }
  }
}

/**
 * The lock file for the file at `target` itself (by device and inode) in this user's lock folder on
 * this host, or null: for a file not made yet, or when that folder cannot be trusted (not ours, or
 * open to others, who could plant or remove locks in it).
 */
function fileLockPath(target: string): { path: string; key: string } | null {
  const key = inodeKey(target);
  if (key === null) return null;
  const uid = process.getuid?.() ?? 0;
  const dir = join(process.env.XDG_RUNTIME_DIR || tmpdir(), `hostbox-locks-${uid}`);
  try {
    mkdirSync(dir, { mode: 0o700 });
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'EEXIST') return null;
  }
  try {
    const d = lstatSync(dir);
    if (!d.isDirectory() || d.uid !== uid || (d.mode & 0o077) !== 0) return null;
  } catch {
    return null;
  }
  return { path: join(dir, `${key}.lck`), key };
}

/** The device and inode of the file at `path`, as a lock file's name has them; null when there is none. */
function inodeKey(path: string): string | null {
  try {
    const st = statSync(path, { bigint: true });
    return `${st.dev}-${st.ino}`;
  } catch {
    return null;
  }
}

/** Whether the holder is certainly gone: only decidable for a lock taken on this host. */
function isStale(r: LockRecord): boolean {
  if (r.host !== hostname()) return false;
  if (!processAlive(r.pid)) return true;
  const now = processStart(r.pid);
  return r.started !== null && now !== null && now !== r.started;
}

export class ImageLock {
  private constructor(
    readonly lockPath: string,
    private readonly text: string,
    /** The lock on the file's inode (fileLockPath), taken after this one; null where none could be kept. */
    private readonly fileLock: ImageLock | null = null,
  ) {}

  /** Takes the lock on `imagePath` for `owner` (a name people recognise); throws ImageLockedError naming the holder. */
  static acquire(imagePath: string, owner: string, what = 'image'): ImageLock {
    const target = lockTarget(imagePath);
    const beside = ImageLock.take(`${target}.lck`, imagePath, owner, what);
    const byInode = fileLockPath(target);
    if (byInode === null) return beside;
    try {
      const held = ImageLock.take(byInode.path, imagePath, `${owner} as ${target}`, what, { file: target, key: byInode.key });
      return new ImageLock(beside.lockPath, beside.text, held);
    } catch (e) {
      // The lock folder is unusable (full, or its permissions changed): the lock beside the image stands alone, as before.
      if (!(e instanceof ImageLockedError)) return beside;
      beside.release();
      throw e;
    }
  }

  private static take(lockPath: string, imagePath: string, owner: string, what: string, inode?: { file: string; key: string }): ImageLock {
    const record: LockRecord = {
      pid: process.pid,
      host: hostname(),
      started: processStart(process.pid),
      owner,
      since: new Date().toISOString(),
      nonce: randomBytes(8).toString('hex'),
      ...(inode ? { file: inode.file } : {}),
    };
    const text = JSON.stringify(record) + '\n';
    // The record is written to a file of its own (O_EXCL) and then published by link(2), which
    // fails if the lock exists: a lock file is never seen empty or half-written.
    const draft = `${lockPath}.${record.nonce}`;
    try {
      const fd = openSync(draft, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, 0o644);
      try {
        writeSync(fd, text);
        // On the disk before link(2) publishes it: after a power cut the lock reads as its record
        // (stale, so taken over), never as an empty file the user is asked to delete.
        fsyncSync(fd);
      } finally {
        closeSync(fd);
      }
    } catch (e) {
      throw new Error(`cannot lock ${what} ${imagePath} (${draft}: ${(e as Error).message})`);
    }
    try {
      // Two tries: the second after a stale lock was moved away.
      for (let attempt = 0; attempt < 2; attempt++) {
        try {
          linkSync(draft, lockPath);
          return new ImageLock(lockPath, text);
        } catch (e) {
          const code = (e as NodeJS.ErrnoException).code;
          if (code !== 'EEXIST') throw new Error(`cannot lock ${what} ${imagePath} (${lockPath}: ${(e as Error).message})`);
        }
        const held = ImageLock.holder(lockPath);
        const gone = held.record !== null && (isStale(held.record) || (inode !== undefined && held.record.file !== undefined && inodeKey(held.record.file) !== inode.key));
        if (gone && attempt === 0 && ImageLock.removeStale(lockPath, held.text)) continue;
        const who = held.record ? `${held.record.owner} (pid ${held.record.pid}${held.record.host !== hostname() ? ` on ${held.record.host}` : ''})` : 'another program (its lock file cannot be read)';
        throw new ImageLockedError(`${what} ${imagePath} is in use by ${who}; if nothing uses it any more, delete ${lockPath}`);
      }
    } finally {
      try {
        unlinkSync(draft);
      } catch {
        // Already gone.
      }
    }
    throw new ImageLockedError(`${what} ${imagePath} is being locked by another program at this moment; try again`);
  }

  private static holder(lockPath: string): { record: LockRecord | null; text: string } {
    const text = readLock(lockPath);
    return text === null ? { record: null, text: '' } : { record: parseRecord(text), text };
  }

  /**
   * Moves a stale lock out of the way without ever removing a live one: the file is renamed to a
   * unique name (atomic), and if what was moved is not the stale file just read (another process
   * replaced it meanwhile) it is linked back, which fails rather than overwrite a newer lock.
   */
  private static removeStale(lockPath: string, staleText: string): boolean {
    const aside = `${lockPath}.stale-${process.pid}-${randomBytes(4).toString('hex')}`;
    try {
      renameSync(lockPath, aside);
    } catch {
      return false;
    }
    try {
      if (readLock(aside) === staleText) return true;
      try {
        linkSync(aside, lockPath);
      } catch {
        // A newer lock already stands: the one moved aside is lost, and both contenders are refused or retried.
      }
      return false;
    } finally {
      try {
        unlinkSync(aside);
      } catch {
        // Already gone.
      }
    }
  }

  /** The lock file on the image's inode in this user's lock folder, if one was taken. */
  get inodeLockPath(): string | null {
    return this.fileLock?.lockPath ?? null;
  }

  /** Removes the lock files, unless one is no longer this one's (someone deleted it by hand and took it again). */
  release(): void {
    try {
      if (readLock(this.lockPath) === this.text) unlinkSync(this.lockPath);
    } catch {
      // Already removed.
    }
    this.fileLock?.release();
  }
}
