// The disk image a host folder is presented as, synthesized sector by sector on demand. At attach
// only the metadata is built: the directory contents (a few bytes per file) and a list of cluster
// extents, one contiguous run per file or directory. Boot sector, FSInfo and FAT sectors are
// computed from that list when the guest reads them, and file clusters are read from the host file
// only then, so attaching costs one stat per entry whatever the files hold.
//
// Layout (see fat-layout.ts): LBA 0 the MBR with one partition at LBA 63; the volume's boot sector
// (BPB as in fatgen103), on FAT32 the FSInfo sector at 1 and backups of both at 6 and 7; two FATs;
// on FAT16 the 512-entry root directory; then the clusters: directories first in the order they
// are walked, each followed by its files.

import {
  ATTR_ARCHIVE,
  ATTR_DIRECTORY,
  ATTR_READ_ONLY,
  ATTR_VOLUME_ID,
  DIR_ENTRY_SIZE,
  caseBits,
  exactShortName,
  longEntryCount,
  makeAlias,
  shortKey,
  shortNameChecksum,
  writeLongEntries,
  writeShortEntry,
} from './dir-entries.ts';
import { chooseGeometry, HEADS, SECTOR, SECTORS_PER_TRACK, type FatGeometry } from './fat-layout.ts';
import type { FolderScan, HostStamp, ScannedDir, ScannedEntry, ScannedFile } from './folder-scan.ts';
import { HostSources, type HostExtent } from './host-sources.ts';

/** fatgen103: a directory holds at most 65536 32-byte entries (its size must fit 2 MiB). */
const MAX_DIR_ENTRIES = 65536;
export const VOLUME_LABEL = 'HOSTFOLDER ';

/** An entry as the guest was shown it: what the synchroniser compares the guest's file system with. */
export interface PresentedEntry {
  readonly kind: 'file' | 'dir';
  /** Path relative to the folder, '/'-separated; '' for the root. */
  readonly rel: string;
  /** First cluster (0 for an empty file, and for the root on FAT16). */
  readonly cluster: number;
  /** A file's clusters as runs [first, count] (at attach one run; after a sync the guest's chain). */
  readonly runs: readonly (readonly [number, number])[];
  readonly size: number;
  readonly stamp: HostStamp;
}

/** A run of clusters the image allocated: a directory's (with its bytes) or a file's (read through `sources`). */
interface Extent {
  readonly first: number;
  readonly count: number;
  readonly dir?: Uint8Array;
}

interface DirPlan {
  readonly dir: ScannedDir;
  readonly items: { entry: ScannedEntry; name11: Uint8Array; ntres: number; longName: string | null }[];
  readonly entries: number;
  cluster: number;
  parentCluster: number;
  bytes?: Uint8Array;
}

export interface FatImageOptions {
  /** Free space left for the guest (default 512 MiB). */
  freeBytes?: number;
  /** Volume serial number (default derived from the folder path, so one folder keeps its serial). */
  volumeId?: number;
  log?: (msg: string) => void;
}

function hash32(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193) >>> 0;
  return h;
}

/** Names each directory's entries: 8.3 entries first (so aliases never take their names), then long ones. */
function planDir(dir: ScannedDir, isRoot: boolean, skipped: string[]): DirPlan {
  const taken = new Set<string>();
  const seen = new Set<string>();
  const items: DirPlan['items'] = [];
  // Long names compare without regard to case in FAT: a second "Readme" next to "README" cannot exist.
  const unique = dir.children.filter((c) => {
    const key = c.name.toUpperCase();
    if (seen.has(key)) {
      skipped.push(`${c.rel}: another name in the folder differs from it only in case, which FAT cannot hold`);
      return false;
    }
    seen.add(key);
    return true;
  });
  const rest: ScannedEntry[] = [];
  for (const c of unique) {
    const plain = exactShortName(c.name);
    const bits = caseBits(c.name);
    if (plain && bits !== null && !taken.has(shortKey(plain))) {
      taken.add(shortKey(plain));
      items.push({ entry: c, name11: plain, ntres: bits, longName: null });
    } else rest.push(c);
  }
  const tails = new Map<string, number>();
  for (const c of rest) items.push({ entry: c, name11: makeAlias(c.name, taken, tails), ntres: 0, longName: c.name });
  let entries = isRoot ? 1 : 2; // the volume label, or "." and ".."
  for (const it of items) entries += 1 + (it.longName ? longEntryCount(it.longName) : 0);
  if (entries > MAX_DIR_ENTRIES)
    throw new Error(`host folder: ${dir.rel || 'the folder itself'} has too many entries for a FAT directory (${entries} of at most ${MAX_DIR_ENTRIES} 32-byte entries, long names included)`);
  return { dir, items, entries, cluster: 0, parentCluster: 0 };
}

export class FatImage {
  readonly geometry: FatGeometry;
  readonly presented: PresentedEntry[] = [];
  readonly root: string;
  readonly usedClusters: number;
  /** Where file clusters are read from on the host; a sync moves these along with the files. */
  readonly sources: HostSources;
  private readonly extents: Extent[] = [];
  private readonly dirExtents: Extent[] = [];
  private readonly rootDir: Uint8Array | null;
  private readonly volumeId: number;
  private readonly log: (msg: string) => void;

  constructor(scan: FolderScan, opts: FatImageOptions = {}) {
    this.root = scan.root;
    this.log = opts.log ?? (() => {});
    this.volumeId = opts.volumeId ?? hash32(scan.root);
    const plans: DirPlan[] = [];
    const walk = (d: ScannedDir, isRoot: boolean): void => {
      const p = planDir(d, isRoot, scan.skipped);
      plans.push(p);
      for (const it of p.items) if (it.entry.kind === 'dir') walk(it.entry, false);
    };
    walk(scan.tree, true);
    const rootPlan = plans[0]!;
    const clustersFor = (cb: number, fat16: boolean): number => {
      let n = 0;
      for (const p of plans) if (!(fat16 && p === rootPlan)) n += Math.max(1, Math.ceil((p.entries * DIR_ENTRY_SIZE) / cb));
      for (const p of plans) for (const it of p.items) if (it.entry.kind === 'file') n += Math.ceil(it.entry.stamp.size / cb);
      return n;
    };
    const freeBytes = opts.freeBytes ?? 512 * 2 ** 20;
    // The root's entries only constrain FAT16, whose root has a fixed size; on FAT32 it is a chain.
    const g16 = chooseGeometry({ clustersFor: (cb) => clustersFor(cb, true), rootEntries: rootPlan.entries, freeBytes });
    const g = g16.fatType === 16 ? g16 : chooseGeometry({ clustersFor: (cb) => clustersFor(cb, false), rootEntries: Infinity, freeBytes });
    this.geometry = g;
    const cb = g.clusterBytes;

    // Allocate: each directory's clusters, then its files' clusters.
    let next = 2;
    const byDir = new Map<ScannedDir, DirPlan>(plans.map((p) => [p.dir, p]));
    const dirClusters = (p: DirPlan): number => Math.max(1, Math.ceil((p.entries * DIR_ENTRY_SIZE) / cb));
    const fileCluster = new Map<ScannedFile, number>();
    for (const p of plans) {
      if (p === rootPlan && g.fatType === 16) p.cluster = 0;
      else {
        p.cluster = next;
        next += dirClusters(p);
      }
      for (const it of p.items) {
        if (it.entry.kind === 'file' && it.entry.stamp.size > 0) {
          fileCluster.set(it.entry, next);
          next += Math.ceil(it.entry.stamp.size / cb);
        }
      }
    }
    for (const p of plans) for (const it of p.items) if (it.entry.kind === 'dir') byDir.get(it.entry)!.parentCluster = p === rootPlan ? 0 : p.cluster;
    this.usedClusters = next - 2;
    if (this.usedClusters > g.clusterCount) throw new Error('internal error: the folder does not fit the volume planned for it');

    // Encode each directory now that every cluster number is known.
    const fileExtents: HostExtent[] = [];
    for (const p of plans) {
      const isRoot = p === rootPlan;
      const size = isRoot && g.fatType === 16 ? g.rootDirSectors * SECTOR : dirClusters(p) * cb;
      const buf = new Uint8Array(size);
      let off = 0;
      const mtime = p.dir.stamp.mtimeMs;
      if (isRoot) {
        writeShortEntry(buf, 0, { name11: asciiBytes(VOLUME_LABEL), attr: ATTR_VOLUME_ID, ntres: 0, cluster: 0, size: 0, mtimeMs: mtime });
      } else {
        writeShortEntry(buf, 0, { name11: asciiBytes('.          '), attr: ATTR_DIRECTORY, ntres: 0, cluster: p.cluster, size: 0, mtimeMs: mtime });
        writeShortEntry(buf, 32, { name11: asciiBytes('..         '), attr: ATTR_DIRECTORY, ntres: 0, cluster: p.parentCluster, size: 0, mtimeMs: mtime });
      }
      off = isRoot ? 32 : 64;
      for (const it of p.items) {
        if (it.longName) off += writeLongEntries(buf, off, it.longName, shortNameChecksum(it.name11));
        const e = it.entry;
        const isDir = e.kind === 'dir';
        const cluster = isDir ? byDir.get(e)!.cluster : (fileCluster.get(e) ?? 0);
        writeShortEntry(buf, off, {
          name11: it.name11,
          attr: (isDir ? ATTR_DIRECTORY : ATTR_ARCHIVE) | (e.readOnly ? ATTR_READ_ONLY : 0),
          ntres: it.ntres,
          cluster,
          size: isDir ? 0 : e.stamp.size,
          mtimeMs: e.stamp.mtimeMs,
        });
        off += DIR_ENTRY_SIZE;
        this.presented.push({
          kind: e.kind,
          rel: e.rel,
          cluster,
          runs: isDir || !cluster ? [] : [[cluster, Math.ceil(e.stamp.size / cb)]],
          size: isDir ? 0 : e.stamp.size,
          stamp: e.stamp,
        });
        if (!isDir && cluster) {
          this.extents.push({ first: cluster, count: Math.ceil(e.stamp.size / cb) });
          fileExtents.push({ first: cluster, count: Math.ceil(e.stamp.size / cb), rel: e.rel, stamp: e.stamp, offset: 0 });
        }
      }
      p.bytes = buf;
      if (isRoot && g.fatType === 16) continue;
      this.extents.push({ first: p.cluster, count: dirClusters(p), dir: buf });
      this.dirExtents.push({ first: p.cluster, count: dirClusters(p), dir: buf });
    }
    this.rootDir = g.fatType === 16 ? rootPlan.bytes! : null;
    this.extents.sort((a, b) => a.first - b.first);
    this.dirExtents.sort((a, b) => a.first - b.first);
    this.sources = new HostSources(scan.root, g.sectorsPerCluster, fileExtents, this.log);
    this.presented.unshift({ kind: 'dir', rel: '', cluster: rootPlan.cluster, runs: [], size: 0, stamp: scan.tree.stamp });
  }

  /**
   * The sectors this image makes up itself rather than reads from host files, as runs [first,
   * count]: the MBR track, the volume's reserved sectors, FATs and FAT16 root directory, and every
   * directory's clusters. A suspend copies these into the overlay (see FolderDisk.saveState).
   */
  syntheticRuns(): [number, number][] {
    const g = this.geometry;
    const out: [number, number][] = [[0, g.partitionStart + g.firstDataSector]];
    for (const x of this.dirExtents) out.push([g.partitionStart + g.firstDataSector + (x.first - 2) * g.sectorsPerCluster, x.count * g.sectorsPerCluster]);
    return out;
  }

  get sectors(): number {
    return this.geometry.diskSectors;
  }

  /** Disk sectors [lba, lba + count) as the folder presents them. Throws when a host file cannot be read safely. */
  read(lba: number, count: number): Uint8Array {
    const out = new Uint8Array(count * SECTOR);
    const g = this.geometry;
    let s = lba;
    const end = lba + count;
    while (s < end) {
      const at = (s - lba) * SECTOR;
      const v = s - g.partitionStart;
      if (s === 0) {
        out.set(this.mbr(), at);
        s++;
      } else if (v < 0) s++;
      else if (v < g.reservedSectors) {
        const sec = this.reservedSector(v);
        if (sec) out.set(sec, at);
        s++;
      } else if (v < g.reservedSectors + g.numFats * g.fatSectors) {
        this.fatSector((v - g.reservedSectors) % g.fatSectors, out.subarray(at, at + SECTOR));
        s++;
      } else if (v < g.firstDataSector) {
        const o = (v - g.reservedSectors - g.numFats * g.fatSectors) * SECTOR;
        const n = Math.min(end - s, g.firstDataSector - v);
        out.set(this.rootDir!.subarray(o, o + n * SECTOR), at);
        s += n;
      } else {
        s += this.dataSectors(v - g.firstDataSector, end - s, out.subarray(at));
      }
    }
    return out;
  }

  private mbr(): Uint8Array {
    const b = new Uint8Array(SECTOR);
    const g = this.geometry;
    // Not bootable: INT 18h hands the BIOS back to its next boot device.
    b.set([0xcd, 0x18, 0xf4, 0xeb, 0xfd], 0);
    new DataView(b.buffer).setUint32(440, this.volumeId, true);
    const e = 446;
    const last = g.partitionStart + g.totalSectors - 1;
    b[e] = 0x00;
    b.set(chs(g.partitionStart), e + 1);
    // 06h FAT16 (CHS), 0Eh FAT16 (LBA) when the volume ends past what CHS reaches, 0Ch FAT32 (LBA).
    b[e + 4] = g.fatType === 32 ? 0x0c : last >= 1024 * HEADS * SECTORS_PER_TRACK ? 0x0e : g.totalSectors < 65536 ? 0x04 : 0x06;
    b.set(chs(last), e + 5);
    new DataView(b.buffer).setUint32(e + 8, g.partitionStart, true);
    new DataView(b.buffer).setUint32(e + 12, g.totalSectors, true);
    b[510] = 0x55;
    b[511] = 0xaa;
    return b;
  }

  private bootSector(): Uint8Array {
    const g = this.geometry;
    const b = new Uint8Array(SECTOR);
    const v = new DataView(b.buffer);
    const fat32 = g.fatType === 32;
    b.set([0xeb, fat32 ? 0x58 : 0x3c, 0x90], 0);
    b.set(asciiBytes('MSWIN4.1'), 3);
    v.setUint16(11, SECTOR, true);
    b[13] = g.sectorsPerCluster;
    v.setUint16(14, g.reservedSectors, true);
    b[16] = g.numFats;
    v.setUint16(17, g.rootEntries, true);
    v.setUint16(19, !fat32 && g.totalSectors < 0x10000 ? g.totalSectors : 0, true);
    b[21] = 0xf8;
    v.setUint16(22, fat32 ? 0 : g.fatSectors, true);
    v.setUint16(24, SECTORS_PER_TRACK, true);
    v.setUint16(26, HEADS, true);
    v.setUint32(28, g.partitionStart, true);
    v.setUint32(32, !fat32 && g.totalSectors < 0x10000 ? 0 : g.totalSectors, true);
    let ext = 36;
    if (fat32) {
      v.setUint32(36, g.fatSectors, true);
      v.setUint16(40, 0, true); // BPB_ExtFlags: the FAT is mirrored into both copies
      v.setUint16(42, 0, true); // BPB_FSVer 0.0
      v.setUint32(44, 2, true); // BPB_RootClus
      v.setUint16(48, 1, true); // BPB_FSInfo
      v.setUint16(50, 6, true); // BPB_BkBootSec
      ext = 64;
    }
    b[ext] = 0x80; // BS_DrvNum
    b[ext + 2] = 0x29; // BS_BootSig: the three fields below are present
    v.setUint32(ext + 3, this.volumeId, true);
    b.set(asciiBytes(VOLUME_LABEL), ext + 7);
    b.set(asciiBytes(fat32 ? 'FAT32   ' : 'FAT16   '), ext + 18);
    // Boot code: INT 18h, as in the MBR.
    b.set([0xcd, 0x18, 0xf4, 0xeb, 0xfd], ext + 26);
    b[510] = 0x55;
    b[511] = 0xaa;
    return b;
  }

  private fsInfo(): Uint8Array {
    const b = new Uint8Array(SECTOR);
    const v = new DataView(b.buffer);
    v.setUint32(0, 0x41615252, true); // FSI_LeadSig
    v.setUint32(484, 0x61417272, true); // FSI_StrucSig
    v.setUint32(488, this.geometry.clusterCount - this.usedClusters, true); // FSI_Free_Count
    v.setUint32(492, 2 + this.usedClusters, true); // FSI_Nxt_Free
    v.setUint32(508, 0xaa550000, true); // FSI_TrailSig
    return b;
  }

  private reservedSector(v: number): Uint8Array | null {
    if (v === 0 || (this.geometry.fatType === 32 && v === 6)) return this.bootSector();
    if (this.geometry.fatType === 32 && (v === 1 || v === 7)) return this.fsInfo();
    return null;
  }

  /** Fills one FAT sector: each extent is one chain of consecutive clusters ending in end-of-chain. */
  private fatSector(index: number, out: Uint8Array): void {
    const g = this.geometry;
    const width = g.fatType === 32 ? 4 : 2;
    const per = SECTOR / width;
    const first = index * per;
    const v = new DataView(out.buffer, out.byteOffset, SECTOR);
    const eoc = g.fatType === 32 ? 0x0fffffff : 0xffff;
    const put = (i: number, val: number): void => (width === 4 ? v.setUint32(i * 4, val, true) : v.setUint16(i * 2, val, true));
    let k = this.extentAtOrAfter(first);
    for (let i = 0; i < per; i++) {
      const c = first + i;
      if (c === 0) put(i, g.fatType === 32 ? 0x0ffffff8 : 0xfff8);
      else if (c === 1) put(i, eoc); // clean-shutdown and no-error bits set
      else if (c >= 2 + g.clusterCount) break;
      else {
        while (k < this.extents.length && this.extents[k]!.first + this.extents[k]!.count <= c) k++;
        const x = this.extents[k];
        if (!x || c < x.first) continue;
        put(i, c === x.first + x.count - 1 ? eoc : c + 1);
      }
    }
  }

  private extentAtOrAfter(cluster: number, list: readonly Extent[] = this.extents): number {
    let lo = 0;
    let hi = list.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      const x = list[mid]!;
      if (x.first + x.count <= cluster) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  /** Fills data sectors from volume-relative data sector `d`; returns how many it filled (at least 1). */
  private dataSectors(d: number, max: number, out: Uint8Array): number {
    const g = this.geometry;
    const spc = g.sectorsPerCluster;
    const cluster = 2 + Math.floor(d / spc);
    const x = this.dirExtents[this.extentAtOrAfter(cluster, this.dirExtents)];
    if (!x || cluster < x.first) {
      // File data (or free space) up to the next directory.
      const nextDir = x ? (x.first - 2) * spc : Infinity;
      return this.sources.fill(d, Math.max(1, Math.min(max, nextDir - d)), out);
    }
    const offInExtent = (d - (x.first - 2) * spc) * SECTOR;
    const n = Math.min(max, x.count * spc - offInExtent / SECTOR);
    out.set(x.dir!.subarray(offInExtent, offInExtent + n * SECTOR));
    return n;
  }

  close(): void {
    this.sources.close();
  }
}

function asciiBytes(s: string): Uint8Array {
  return Uint8Array.from(s, (c) => c.charCodeAt(0));
}

/** The 3-byte CHS address of an LBA on a 255-head, 63-sector disk, capped at 1023/254/63 as the MBR does. */
function chs(lba: number): number[] {
  const c = Math.floor(lba / (HEADS * SECTORS_PER_TRACK));
  if (c > 1023) return [0xfe, 0xff, 0xff];
  const h = Math.floor(lba / SECTORS_PER_TRACK) % HEADS;
  const s = (lba % SECTORS_PER_TRACK) + 1;
  return [h, s | ((c >> 2) & 0xc0), c & 0xff];
}
