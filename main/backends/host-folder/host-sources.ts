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
import type { HostChange } from './folder-sync.ts';
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

/** Clusters as runs [first, count]. */
type Runs = readonly (readonly [number, number])[];

/** Whether a cluster lies in `runs`, by binary search: a fragmented file has as many runs as clusters. */
function inRuns(runs: Runs): (c: number) => boolean {
  const sorted = [...runs].sort((a, b) => a[0] - b[0]);
  return (c) => {
    let lo = 0;
    let hi = sorted.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (sorted[mid]![0] + sorted[mid]![1] <= c) lo = mid + 1;
      else hi = mid;
    }
    return lo < sorted.length && sorted[lo]![0] <= c;
  };
}

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

  /**
   * Moves the runs along with what a sync did to the host files (folder-sync.ts, HostChange): a
   * file renamed is read under its new name; a file deleted leaves its clusters reading as zeros;
   * a file replaced by one holding a guest file's bytes (clusters `chain`) serves each of its
   * clusters still in the chain from the new file, at that cluster's place in it, and the others
   * (free in the guest) read as zeros. A change names the clusters as well as the file: hard links
   * give two presented files one identity, and a change to one must not touch the other's runs.
   * One pass over the runs for all changes, since a sync may rename every file of a large folder.
   */
  apply(changes: readonly HostChange[]): void {
    const byFile = new Map<string, { change: HostChange; held: (c: number) => boolean; where?: Map<number, number> }[]>();
    for (const change of changes) {
      const id = identity(change.kind === 'replaced' ? change.old : change.stamp);
      let list = byFile.get(id);
      if (!list) byFile.set(id, (list = []));
      list.push({ change, held: inRuns(change.kind === 'replaced' ? change.oldRuns : change.runs) });
    }
    const cb = this.sectorsPerCluster * SECTOR;
    const next: HostExtent[] = [];
    for (const x of this.extents) {
      const hit = byFile.get(identity(x.stamp))?.find((h) => h.held(x.first));
      if (!hit) next.push(x);
      else if (hit.change.kind === 'moved') next.push({ ...x, rel: hit.change.rel });
      else if (hit.change.kind === 'replaced') {
        const { rel, stamp, chain } = hit.change;
        if (!hit.where) {
          hit.where = new Map();
          chain.forEach((c, i) => hit.where!.set(c, i));
        }
        for (let c = x.first; c < x.first + x.count; c++) {
          const i = hit.where.get(c);
          if (i === undefined) continue;
          const last = next[next.length - 1];
          if (last && last.stamp === stamp && last.first + last.count === c && last.offset + last.count * cb === i * cb) next[next.length - 1] = { ...last, count: last.count + 1 };
          else next.push({ first: c, count: 1, rel, stamp, offset: i * cb });
        }
      }
    }
    this.extents = next.sort((a, b) => a.first - b.first);
  }

  close(): void {
    for (const fd of this.fds.values()) closeSync(fd);
    this.fds.clear();
  }
}
