// Where the folder disk's file data comes from: runs of clusters, each read from a host file at an
// offset, checked to still be the file it was (device and inode) before a byte is read. At attach
// each file's clusters come from that file; a sync changes the host folder under a running guest,
// so it moves the runs along with the files (a rename keeps the inode under a new name; a file the
// guest changed is replaced by one holding the guest's bytes, which serves the clusters the guest
// still has; a deleted file's clusters are free in the guest and read as zeros from then on). The
// runs are what a suspend saves, so a resumed disk reads the same bytes from the same files. With a
// store of kept versions (kept-files.ts, a snapshot's), a file version kept there is read from it, so
// a snapshot's view survives the host file being replaced, renamed or deleted since.

import { closeSync, constants, fstatSync, openSync, readSync } from 'node:fs';
import { join } from 'node:path';
import type { HostStamp } from './folder-scan.ts';
import { openKept } from './kept-files.ts';

const SECTOR = 512;
/** Open host files kept at once while the guest reads. */
const FD_CACHE = 16;

/** Clusters [first, first + count) hold the host file `rel`'s bytes from `offset` on. */
export interface HostExtent {
  readonly first: number;
  readonly count: number;
  readonly rel: string;
  readonly stamp: HostStamp;
  readonly offset: number;
}

const identity = (s: HostStamp): string => `${s.dev}:${s.ino}`;

export class HostSources {
  private extents: HostExtent[];
  private readonly fds = new Map<string, number>();
  private readonly warned = new Set<string>();

  constructor(
    readonly root: string,
    readonly sectorsPerCluster: number,
    extents: readonly HostExtent[],
    private readonly log: (msg: string) => void,
    /** The VM's store of kept host file versions (kept-files.ts), looked in first. */
    private readonly kept?: string,
  ) {
    this.extents = [...extents].sort((a, b) => a.first - b.first);
  }

  get list(): readonly HostExtent[] {
    return this.extents;
  }

  private indexAtOrAfter(cluster: number): number {
    let lo = 0;
    let hi = this.extents.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      const x = this.extents[mid]!;
      if (x.first + x.count <= cluster) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  /**
   * Fills data-region sectors from `d` (counted from cluster 2's first sector), at most `max` of
   * them; returns how many it filled (at least 1). Sectors no host file backs read as zeros.
   */
  fill(d: number, max: number, out: Uint8Array): number {
    const spc = this.sectorsPerCluster;
    const cluster = 2 + Math.floor(d / spc);
    const x = this.extents[this.indexAtOrAfter(cluster)];
    if (!x || cluster < x.first) {
      const next = x ? (x.first - 2) * spc : Infinity;
      const n = Math.max(1, Math.min(max, next - d));
      out.fill(0, 0, n * SECTOR);
      return n;
    }
    const inExtent = (d - (x.first - 2) * spc) * SECTOR;
    const n = Math.min(max, x.count * spc - inExtent / SECTOR);
    const dest = out.subarray(0, n * SECTOR);
    this.readHost(x, x.offset + inExtent, dest);
    return n;
  }

  /**
   * Reads host file bytes. The file is opened without following a symlink, and must still be the
   * file the runs name (same device and inode): a path swapped for a link to somewhere else is
   * refused instead of read. A file that changed size reads as it is now, cut or zero-filled.
   */
  private readHost(x: HostExtent, offset: number, dest: Uint8Array): void {
    const fd = this.open(x);
    let done = 0;
    while (done < dest.length) {
      const n = readSync(fd, dest, done, dest.length - done, offset + done);
      if (n <= 0) break;
      done += n;
    }
    dest.fill(0, done);
  }

  private open(x: HostExtent): number {
    const key = `${identity(x.stamp)}:${x.rel}`;
    const cached = this.fds.get(key);
    if (cached !== undefined) {
      this.fds.delete(key);
      this.fds.set(key, cached);
      return cached;
    }
    const fd = (this.kept !== undefined ? openKept(this.kept, x.stamp) : null) ?? this.openHost(x);
    this.fds.set(key, fd);
    if (this.fds.size > FD_CACHE) {
      const [oldest, ofd] = this.fds.entries().next().value as [string, number];
      this.fds.delete(oldest);
      closeSync(ofd);
    }
    return fd;
  }

  private openHost(x: HostExtent): number {
    const path = join(this.root, ...x.rel.split('/'));
    let fd: number;
    try {
      fd = openSync(path, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
    } catch (e) {
      throw new Error(`host folder: cannot read ${x.rel}: ${(e as Error).message}`);
    }
    const st = fstatSync(fd);
    if (!st.isFile() || st.dev !== x.stamp.dev || st.ino !== x.stamp.ino) {
      closeSync(fd);
      throw new Error(`host folder: ${x.rel} was replaced on the host since the guest was shown it; it is not read`);
    }
    if ((st.size !== x.stamp.size || st.mtimeMs !== x.stamp.mtimeMs) && !this.warned.has(x.rel)) {
      this.warned.add(x.rel);
      this.log(`host folder: ${x.rel} changed on the host while the VM runs; the guest reads its new bytes until the next power-on`);
    }
    return fd;
  }

  /** The host file `stamp` names is now at `rel` (a rename keeps the inode). */
  moved(stamp: HostStamp, rel: string): void {
    const id = identity(stamp);
    this.extents = this.extents.map((x) => (identity(x.stamp) === id ? { ...x, rel } : x));
  }

  /** The host file `stamp` names is gone: its clusters read as zeros from now on. */
  dropped(stamp: HostStamp): void {
    const id = identity(stamp);
    this.extents = this.extents.filter((x) => identity(x.stamp) !== id);
  }

  /**
   * The host file `old` was replaced by `stamp` at `rel`, holding the bytes of a guest file whose
   * clusters are `chain`: each cluster `old` served that is still in the chain is now served from
   * the new file at that cluster's place in it; the others are free in the guest and read as zeros.
   */
  replaced(old: HostStamp, rel: string, stamp: HostStamp, chain: readonly number[]): void {
    const id = identity(old);
    const where = new Map<number, number>();
    chain.forEach((c, i) => where.set(c, i));
    const cb = this.sectorsPerCluster * SECTOR;
    const next: HostExtent[] = [];
    for (const x of this.extents) {
      if (identity(x.stamp) !== id) {
        next.push(x);
        continue;
      }
      for (let c = x.first; c < x.first + x.count; c++) {
        const i = where.get(c);
        if (i === undefined) continue;
        const last = next[next.length - 1];
        if (last && last.stamp === stamp && last.first + last.count === c && last.offset + last.count * cb === i * cb) next[next.length - 1] = { ...last, count: last.count + 1 };
        else next.push({ first: c, count: 1, rel, stamp, offset: i * cb });
      }
    }
    this.extents = next.sort((a, b) => a.first - b.first);
  }

  close(): void {
    for (const fd of this.fds.values()) closeSync(fd);
    this.fds.clear();
  }
}
