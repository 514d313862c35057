// An advisory lock per writable disk image, so two VMs (or the app and `hostbox run`) never write
// one image at once: a lock file beside the image, `<image>.lck`, as VMware Workstation does,
// created exclusively (written under a unique name with O_EXCL, then linked into place, which fails
// when it exists) and holding who took it (pid, host, process start time, a name for people).
//
// Why a lock file and not flock(2): Node reaches flock only through a native addon or a helper
// process per image (util-linux flock(1)), and a flock names no holder, while the refusal must say
// which VM or process holds the image. The price of a file is the stale lock a crash leaves behind:
// one whose process is gone (same host, and its pid is dead or now belongs to a process started at
// another time) is taken over. A lock from another host cannot be checked and is never taken over.

import { closeSync, constants, fstatSync, fsyncSync, linkSync, openSync, readFileSync, readSync, realpathSync, renameSync, unlinkSync, writeSync } from 'node:fs';
import { hostname } from 'node:os';
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
  ) {}

  /** Takes the lock on `imagePath` for `owner` (a name people recognise); throws ImageLockedError naming the holder. */
  static acquire(imagePath: string, owner: string, what = 'image'): ImageLock {
    const lockPath = `${lockTarget(imagePath)}.lck`;
    const record: LockRecord = { pid: process.pid, host: hostname(), started: processStart(process.pid), owner, since: new Date().toISOString(), nonce: randomBytes(8).toString('hex') };
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
        if (held.record && isStale(held.record) && attempt === 0 && ImageLock.removeStale(lockPath, held.text)) continue;
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

  /** Removes the lock file, unless it is no longer this one's (someone deleted it by hand and took it again). */
  release(): void {
    try {
      if (readLock(this.lockPath) === this.text) unlinkSync(this.lockPath);
    } catch {
      // Already removed.
    }
  }
}
