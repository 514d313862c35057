// A host folder as an IDE disk's back end: the synthesized FAT image below, the guest's writes in
// a copy-on-write overlay above, and at power-off a sync of what the guest did back to the folder
// (or, read-only, nothing: the overlay is dropped). It answers the same block requests as a raw
// disk image (disk-image.ts).

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { BlockReply, BlockRequest, DiskInfo } from '../../../vmm/machine-api.ts';
import { FatImage } from './fat-image.ts';
import { readFatVolume } from './fat-reader.ts';
import { scanFolder, type FolderScan } from './folder-scan.ts';
import { syncFolder, type SyncReport } from './folder-sync.ts';
import { SectorOverlay } from './sector-overlay.ts';

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
}

export class FolderDisk {
  readonly info: DiskInfo;
  readonly scan: FolderScan;
  readonly image: FatImage;
  readonly readOnly: boolean;
  readonly attachMs: number;
  private readonly overlay: SectorOverlay;
  private readonly log: (msg: string) => void;
  /** Whether sync() has carried the guest's changes back (at most once per power-on). */
  synced = false;
  /** Whether sync() was tried (it may have refused a corrupt file system). */
  syncTried = false;
  private readonly privateDir: string | null;

  constructor(
    readonly folder: string,
    readonly id: string,
    opts: FolderDiskOptions,
  ) {
    const t0 = performance.now();
    this.log = opts.log ?? (() => {});
    this.readOnly = opts.readOnly === true;
    this.scan = scanFolder(folder);
    this.image = new FatImage(this.scan, { freeBytes: opts.freeBytes, log: this.log });
    for (const s of this.scan.skipped) this.log(`host folder ${folder}: left out ${s}`);
    this.privateDir = opts.overlayDir ? null : mkdtempSync(join(tmpdir(), 'hostbox-folder-'));
    this.overlay = new SectorOverlay(join(opts.overlayDir ?? this.privateDir!, `${id}-folder-overlay.img`), this.image.sectors);
    this.info = { id, sectors: this.image.sectors, sectorSize: 512, readOnly: false };
    this.attachMs = performance.now() - t0;
  }

  /** Sectors the guest has written since attach. */
  get pendingSectors(): number {
    return this.overlay.written;
  }

  /** The disk as the guest sees it now: overlay over the synthesized image. */
  read(lba: number, count: number): Uint8Array {
    return this.overlay.read(lba, count, (l, c) => this.image.read(l, c));
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
   * Carries the guest's changes to the folder (read-only: drops them). Throws, leaving the folder as
   * it was, when the guest's file system cannot be read back.
   */
  sync(now?: () => Date): SyncReport | null {
    this.syncTried = true;
    if (this.readOnly) {
      if (this.overlay.written) this.log(`host folder ${this.folder} is attached read-only: the guest's writes (${this.overlay.written} sectors) are dropped`);
      return null;
    }
    if (this.synced) throw new Error('this folder disk was already synced: power the VM off and on to sync again');
    if (this.overlay.written === 0) {
      this.synced = true;
      return emptyReport();
    }
    const read = (l: number, c: number): Uint8Array => this.read(l, c);
    const volume = readFatVolume(read, this.info.sectors);
    const report = syncFolder({
      root: this.scan.root,
      presented: this.image.presented,
      volume,
      read,
      written: (l, c) => this.overlay.hasAny(l, c),
      log: this.log,
      now,
    });
    this.synced = true;
    return report;
  }

  close(): void {
    this.image.close();
    this.overlay.discard();
    if (this.privateDir) rmSync(this.privateDir, { recursive: true, force: true });
  }
}

function emptyReport(): SyncReport {
  return { written: [], created: [], deleted: [], moved: [], dirsMade: [], dirsRemoved: [], conflicts: [], refused: [] };
}
