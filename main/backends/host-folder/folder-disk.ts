// A host folder as an IDE disk's back end: the synthesized FAT image below, the guest's writes in
// a copy-on-write overlay above, and syncs of what the guest did back to the folder: on request
// while the VM runs ("Sync to host now"), at suspend, and at power-off (read-only: none; the overlay
// is dropped). It answers the same block requests as a raw disk image (disk-image.ts).
//
// A sync never changes what the guest sees: its disk stays overlay over base, and the base's file
// clusters follow the host files the sync renames or replaces (host-sources.ts). What a sync moves
// forward is the baseline, what the guest and the host agree on, and the set of sectors written
// since, so the next sync carries only the guest's newer changes.
//
// A suspend saves the disk with the VM (saveState): the overlay, with the sectors the image makes
// up itself copied into it, the baseline and where the base reads its file clusters. A resume
// (FolderDisk.restore) puts the same disk back without scanning the folder again. A snapshot of a
// running VM is such a saved disk; with the VM's store of kept host files (kept-files.ts) a disk
// restored from it reads the files it was shown from there, as they were, whatever the host did since.

import { closeSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { BlockReply, BlockRequest, DiskInfo } from '../../../vmm/machine-api.ts';
import { FatImage, type PresentedEntry } from './fat-image.ts';
import { MAX_ENTRIES, readFatVolume } from './fat-reader.ts';
import { scanFolder, type FolderScan, type HostStamp } from './folder-scan.ts';
import { syncFolder, type SyncOutcome, type SyncReport } from './folder-sync.ts';
import { HostSources, type HostExtent } from './host-sources.ts';
import { SectorOverlay } from './sector-overlay.ts';
import { openKept } from './kept-files.ts';

const SECTOR = 512;

export interface FolderDiskOptions {
  readOnly?: boolean;
  /**
   * Where the overlay file goes: the VM's folder. Without one (the command line), a private
   * directory in the system's temporary directory, removed at close, so two runs never share one.
   */
  overlayDir?: string;
  /** Free space on the disk for the guest, in bytes (default 512 MiB). */
  freeBytes?: number;
  log?: (msg: string) => void;
  /** The VM's store of host file versions snapshots keep (kept-files.ts): a restored disk reads them from there. */
  keptDir?: string;
}

/** A sync refused because the guest still has the file system mounted; the folder is unchanged. */
export class FolderInUse extends Error {
  override name = 'FolderInUse';
}

/** What a suspend saves of a folder disk besides its sectors (JSON; see docs/state-format.md). */
export interface FolderDiskState {
  readonly folder: string;
  readonly root: string;
  readonly readOnly: boolean;
  readonly sectors: number;
  readonly fatType: 16 | 32;
  /** First sector of cluster 2, and sectors per cluster: where the base's file clusters lie. */
  readonly dataStart: number;
  readonly sectorsPerCluster: number;
  readonly baseline: readonly PresentedEntry[];
  readonly sources: readonly HostExtent[];
  /** Sectors the guest wrote since the last sync, as runs [first, count]. */
  readonly dirty: readonly (readonly [number, number])[];
  /** The last sync left something undone (refused), to be tried again. */
  readonly retry: boolean;
}

/** The disk below the overlay: a freshly synthesized image, or a restored disk's host file clusters over zeros. */
interface Base {
  readonly sources: HostSources;
  read(lba: number, count: number): Uint8Array;
  close(): void;
}

class RestoredBase implements Base {
  constructor(
    readonly sources: HostSources,
    private readonly dataStart: number,
  ) {}

  read(lba: number, count: number): Uint8Array {
    const out = new Uint8Array(count * SECTOR);
    let s = lba;
    while (s < lba + count) {
      if (s < this.dataStart) {
        s = Math.min(lba + count, this.dataStart);
        continue;
      }
      s += this.sources.fill(s - this.dataStart, lba + count - s, out.subarray((s - lba) * SECTOR));
    }
    return out;
  }

  close(): void {
    this.sources.close();
  }
}

export class FolderDisk {
  readonly info: DiskInfo;
  /** The scan and image made at power-on; null for a disk restored from a suspend. */
  readonly scan: FolderScan | null;
  readonly image: FatImage | null;
  readonly readOnly: boolean;
  readonly attachMs: number;
  readonly fatType: 16 | 32;
  /** The folder's real path. */
  readonly root: string;
  private readonly base: Base;
  private readonly overlay: SectorOverlay;
  private readonly log: (msg: string) => void;
  private baseline: readonly PresentedEntry[];
  private retry = false;
  /** Copies of guest files a sync could not put in place, kept at the top of the folder (see SyncInput.kept). */
  private kept: ReadonlyMap<string, string> = new Map();
  /** Whether the power-off sync has run (at most once per power-on). */
  synced = false;
  /** Whether the power-off sync was tried (it may have refused a corrupt file system). */
  syncTried = false;
  private readonly privateDir: string | null;
  private readonly dataStart: number;
  private readonly sectorsPerCluster: number;
  private readonly keptDir: string | undefined;

  constructor(
    readonly folder: string,
    readonly id: string,
    opts: FolderDiskOptions,
    restored?: { state: FolderDiskState; sectors: Iterable<{ lba: number; data: Uint8Array }> },
  ) {
    const t0 = performance.now();
    this.log = opts.log ?? (() => {});
    this.privateDir = opts.overlayDir ? null : mkdtempSync(join(tmpdir(), 'hostbox-folder-'));
    const overlayPath = join(opts.overlayDir ?? this.privateDir!, `${id}-folder-overlay.img`);
    if (restored) {
      const st = restored.state;
      this.readOnly = st.readOnly;
      this.scan = null;
      this.image = null;
      this.root = st.root;
      this.fatType = st.fatType;
      this.dataStart = st.dataStart;
      this.sectorsPerCluster = st.sectorsPerCluster;
      this.base = new RestoredBase(new HostSources(st.root, st.sectorsPerCluster, st.sources, this.log, opts.keptDir), st.dataStart);
      this.overlay = new SectorOverlay(overlayPath, st.sectors);
      for (const r of restored.sectors) this.overlay.fill(r.lba, r.data);
      for (const [l, n] of st.dirty) this.overlay.dirty.add(l, n);
      this.baseline = st.baseline;
      this.retry = st.retry;
      this.info = { id, sectors: st.sectors, sectorSize: 512, readOnly: false };
    } else {
      this.readOnly = opts.readOnly === true;
      this.scan = scanFolder(folder);
      this.image = new FatImage(this.scan, { freeBytes: opts.freeBytes, log: this.log });
      for (const s of this.scan.skipped) this.log(`host folder ${folder}: left out ${s}`);
      const g = this.image.geometry;
      this.root = this.scan.root;
      this.fatType = g.fatType;
      this.dataStart = g.partitionStart + g.firstDataSector;
      this.sectorsPerCluster = g.sectorsPerCluster;
      this.base = this.image;
      this.overlay = new SectorOverlay(overlayPath, this.image.sectors);
      this.baseline = this.image.presented;
      this.info = { id, sectors: this.image.sectors, sectorSize: 512, readOnly: false };
    }
    this.keptDir = opts.keptDir;
    this.attachMs = performance.now() - t0;
  }

  /** Puts back a folder disk a suspend saved (see saveState). */
  static restore(folder: string, id: string, opts: FolderDiskOptions, state: FolderDiskState, sectors: Iterable<{ lba: number; data: Uint8Array }>): FolderDisk {
    return new FolderDisk(folder, id, opts, { state, sectors });
  }

  /** Sectors the guest has written since the last sync. */
  get pendingSectors(): number {
    return this.overlay.dirty.size;
  }

  /** The disk as the guest sees it now: overlay over base. */
  read(lba: number, count: number): Uint8Array {
    return this.overlay.read(lba, count, (l, c) => this.base.read(l, c));
  }

  handle(req: BlockRequest): BlockReply {
    if (req.op === 'flush') {
      this.overlay.flush();
      return { tag: req.tag, ok: true };
    }
    if (!Number.isInteger(req.lba) || !Number.isInteger(req.count) || req.lba < 0 || req.count < 0 || req.lba + req.count > this.info.sectors)
      return { tag: req.tag, ok: false, error: `sectors ${req.lba}+${req.count} are outside the disk (${this.info.sectors} sectors)` };
    try {
      if (req.op === 'read') return { tag: req.tag, ok: true, data: this.read(req.lba, req.count) };
      if (!req.data || req.data.length !== req.count * 512) return { tag: req.tag, ok: false, error: 'write data does not match the sector count' };
      this.overlay.write(req.lba, req.data);
      return { tag: req.tag, ok: true };
    } catch (e) {
      // A host file that vanished or was swapped: the guest gets an I/O error, the host goes on.
      this.log((e as Error).message);
      return { tag: req.tag, ok: false, error: (e as Error).message };
    }
  }

  /**
   * The power-off sync: carries the guest's changes to the folder (read-only: drops them). Throws,
   * leaving the folder as it was, when the guest's file system cannot be read back. The guest has
   * stopped for good, so a file system it left marked in use is synced as it is on the disk.
   */
  sync(now?: () => Date): SyncReport | null {
    this.syncTried = true;
    if (this.readOnly) {
      if (this.overlay.written) this.log(`host folder ${this.folder} is attached read-only: the guest's writes (${this.overlay.dirty.size} sectors) are dropped`);
      return null;
    }
    if (this.synced) throw new Error('this folder disk was already synced at power-off');
    const report = this.carry({ force: true, now });
    this.synced = true;
    return report;
  }

  /**
   * "Sync to host now", while the guest runs (also used at suspend): carries what the guest changed
   * since the last sync, and moves the baseline forward. Read-only: null, nothing is carried.
   * Throws, changing nothing, when the file system cannot be read back (FatCorruption), and, unless
   * `force`, when the guest still has it mounted read-write (FolderInUse): its cache may hold
   * changes the disk does not have yet, and the disk may be between the steps of an update.
   */
  syncNow(opts: { force?: boolean; now?: () => Date } = {}): SyncReport | null {
    if (this.readOnly) return null;
    if (this.synced) throw new Error('the VM has powered off; its folder was synced then');
    return this.carry(opts);
  }

  private carry(opts: { force?: boolean; now?: () => Date }): SyncReport {
    if (this.overlay.dirty.size === 0 && !this.retry) return emptyReport();
    const read = (l: number, c: number): Uint8Array => this.read(l, c);
    // A folder presented with more entries than the reader's default may come back as large.
    const volume = readFatVolume(read, this.info.sectors, { maxEntries: Math.max(MAX_ENTRIES, 2 * this.baseline.length) });
    if (volume.inUse && !opts.force)
      throw new FolderInUse(`the guest still has the folder disk mounted (${volume.inUse}): unmount it in the guest first (umount, or eject it in Windows), then sync`);
    const outcome = syncFolder({
      root: this.root,
      baseline: this.baseline,
      volume,
      read,
      written: (l, c) => this.overlay.dirty.hasAny(l, c),
      log: this.log,
      now: opts.now,
      kept: this.kept,
    });
    this.advance(outcome, (c) => volume.clusterLba(c));
    return outcome.report;
  }

  /** Moves the baseline, the base's sources and the written-since set forward past a sync. */
  private advance(o: SyncOutcome, clusterLba: (c: number) => number): void {
    const spc = this.sectorsPerCluster;
    this.base.sources.apply(o.changes);
    // Open files are looked up by name and identity; names and files changed, so start afresh.
    if (o.changes.length) this.base.sources.close();
    // Files whose new contents did not reach the host stay written-since, so the next sync carries them.
    const keep: [number, number][] = [];
    for (const f of o.unsettled)
      for (const c of f.chain) for (let s = clusterLba(c); s < clusterLba(c) + spc; s++) if (this.overlay.dirty.has(s)) keep.push([s, 1]);
    this.overlay.dirty.clear();
    for (const [l, n] of keep) this.overlay.dirty.add(l, n);
    this.baseline = o.baseline;
    this.kept = o.kept;
    this.retry = o.report.refused.length > 0;
  }

  /**
   * What a suspend saves: the disk's description, and every sector the overlay holds. The sectors
   * the image makes up itself (MBR, boot sectors, FATs, directories) are copied into the overlay
   * first (those that are not all zeros), so a resumed disk needs from the host only the file
   * clusters the sources name, and never a scan that might come out differently.
   */
  saveState(): { state: FolderDiskState; sectors: Generator<{ lba: number; data: Uint8Array }> } {
    if (this.image) {
      for (const [first, count] of this.image.syntheticRuns())
        for (let s = first; s < first + count; s += 256) {
          const n = Math.min(256, first + count - s);
          const bytes = this.image.read(s, n);
          for (let k = 0; k < n; k++) {
            if (this.overlay.has(s + k)) continue;
            const sec = bytes.subarray(k * SECTOR, (k + 1) * SECTOR);
            if (sec.some((b) => b !== 0)) this.overlay.fill(s + k, sec);
          }
        }
    }
    this.overlay.flush();
    const state: FolderDiskState = {
      folder: this.folder,
      root: this.root,
      readOnly: this.readOnly,
      sectors: this.info.sectors,
      fatType: this.fatType,
      dataStart: this.dataStart,
      sectorsPerCluster: this.sectorsPerCluster,
      baseline: this.baseline,
      sources: this.base.sources.list,
      dirty: this.overlay.dirty.runs(),
      retry: this.retry,
    };
    const overlay = this.overlay;
    const runs = overlay.runs();
    function* sectors(): Generator<{ lba: number; data: Uint8Array }> {
      // 4 MiB a piece: well under a state section's limit.
      for (const [first, count] of runs)
        for (let s = first; s < first + count; s += 8192) {
          const n = Math.min(8192, first + count - s);
          yield { lba: s, data: overlay.read(s, n, () => new Uint8Array(n * SECTOR)) };
        }
    }
    return { state, sectors: sectors() };
  }

  /**
   * Host files the restored disk reads whose identity or contents changed since the suspend (a
   * resumed guest reads their new bytes, or gets read errors where one was replaced or deleted);
   * versions a snapshot kept are read as they were, and are not named.
   */
  changedSources(): string[] {
    const seen = new Map<string, HostStamp>();
    for (const x of this.base.sources.list) seen.set(x.rel, x.stamp);
    const out: string[] = [];
    for (const [rel, s] of seen) {
      const kept = this.keptDir !== undefined ? openKept(this.keptDir, s) : null;
      if (kept !== null) {
        closeSync(kept);
        continue;
      }
      try {
        const st = statSync(join(this.root, ...rel.split('/')));
        if (st.dev !== s.dev || st.ino !== s.ino || st.size !== s.size || st.mtimeMs !== s.mtimeMs) out.push(rel);
      } catch {
        out.push(rel);
      }
    }
    return out;
  }

  close(): void {
    this.base.close();
    this.overlay.discard();
    if (this.privateDir) rmSync(this.privateDir, { recursive: true, force: true });
  }
}

function emptyReport(): SyncReport {
  return { written: [], created: [], deleted: [], moved: [], dirsMade: [], dirsRemoved: [], conflicts: [], refused: [], alreadyThere: [] };
}
