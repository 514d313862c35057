// Copy-on-write overlay for a synthesized disk: every sector the guest writes goes into a sparse
// file at its own offset, and a bitmap remembers which sectors are there. Reads take written
// sectors from the overlay and the rest from the base. A second bitmap marks the sectors the guest
// wrote since the folder was last synced, which is what the synchroniser asks ("did the guest touch
// this file since?"); a sync clears it, so the next one sees only newer writes. Sectors put here by
// the host itself (a suspend copying the base's metadata in, a resume restoring the overlay) are
// not marked: they are not the guest's changes.

import { closeSync, fsyncSync, ftruncateSync, openSync, readSync, rmSync, writeSync } from 'node:fs';

const SECTOR = 512;
/** Sectors per bitmap chunk: bitmaps exist only where the guest wrote, so a 2 TiB disk costs nothing unwritten. */
const CHUNK = 32768;

/** A sparse set of sectors, as runs of [first, count] when asked. */
export class SectorSet {
  private readonly chunks = new Map<number, Uint8Array>();
  size = 0;

  has(lba: number): boolean {
    const c = this.chunks.get(Math.floor(lba / CHUNK));
    if (!c) return false;
    const i = lba % CHUNK;
    return (c[i >> 3]! & (1 << (i & 7))) !== 0;
  }

  /** Whether any sector of [lba, lba + count) is in the set. */
  hasAny(lba: number, count: number): boolean {
    for (let s = lba; s < lba + count; ) {
      if (!this.chunks.has(Math.floor(s / CHUNK))) {
        s = (Math.floor(s / CHUNK) + 1) * CHUNK;
        continue;
      }
      if (this.has(s)) return true;
      s++;
    }
    return false;
  }

  add(lba: number, count: number): void {
    for (let s = lba; s < lba + count; s++) {
      const k = Math.floor(s / CHUNK);
      let c = this.chunks.get(k);
      if (!c) this.chunks.set(k, (c = new Uint8Array(CHUNK / 8)));
      const i = s % CHUNK;
      if (!(c[i >> 3]! & (1 << (i & 7)))) this.size++;
      c[i >> 3]! |= 1 << (i & 7);
    }
  }

  clear(): void {
    this.chunks.clear();
    this.size = 0;
  }

  /** The set as ascending runs [first sector, count]. */
  runs(): [number, number][] {
    const out: [number, number][] = [];
    for (const k of [...this.chunks.keys()].sort((a, b) => a - b)) {
      const c = this.chunks.get(k)!;
      for (let i = 0; i < CHUNK; i++) {
        if (!(c[i >> 3]! & (1 << (i & 7)))) {
          if ((i & 7) === 0 && c[i >> 3] === 0) i += 7;
          continue;
        }
        const lba = k * CHUNK + i;
        const last = out[out.length - 1];
        if (last && last[0] + last[1] === lba) last[1]++;
        else out.push([lba, 1]);
      }
    }
    return out;
  }
}

export class SectorOverlay {
  private readonly fd: number;
  private readonly present = new SectorSet();
  /** Sectors the guest wrote since the last sync. */
  readonly dirty = new SectorSet();
  private closed = false;

  constructor(
    readonly path: string,
    readonly sectors: number,
  ) {
    this.fd = openSync(path, 'w+', 0o600);
    ftruncateSync(this.fd, sectors * SECTOR);
  }

  /** Sectors held here (written by the guest, or put here by the host). */
  get written(): number {
    return this.present.size;
  }

  has(lba: number): boolean {
    return this.present.has(lba);
  }

  /** Whether any sector of [lba, lba + count) is held here. */
  hasAny(lba: number, count: number): boolean {
    return this.present.hasAny(lba, count);
  }

  /** A guest write: held here, and dirty until the next sync. */
  write(lba: number, data: Uint8Array): void {
    this.fill(lba, data);
    this.dirty.add(lba, data.length / SECTOR);
  }

  /** The host puts sectors here (copied from the base, or restored from a saved state): not dirty. */
  fill(lba: number, data: Uint8Array): void {
    writeSync(this.fd, data, 0, data.length, lba * SECTOR);
    this.present.add(lba, data.length / SECTOR);
  }

  /** What is held here, as ascending runs [first sector, count]. */
  runs(): [number, number][] {
    return this.present.runs();
  }

  /** Sectors [lba, lba + count): written ones from the overlay, the others from `base`. */
  read(lba: number, count: number, base: (lba: number, count: number) => Uint8Array): Uint8Array {
    const out = new Uint8Array(count * SECTOR);
    let s = lba;
    while (s < lba + count) {
      const mine = this.has(s);
      let e = s + 1;
      while (e < lba + count && this.has(e) === mine) e++;
      const at = (s - lba) * SECTOR;
      if (mine) readSync(this.fd, out, at, (e - s) * SECTOR, s * SECTOR);
      else out.set(base(s, e - s), at);
      s = e;
    }
    return out;
  }

  flush(): void {
    fsyncSync(this.fd);
  }

  /** Closes the overlay and deletes its file. */
  discard(): void {
    if (this.closed) return;
    this.closed = true;
    closeSync(this.fd);
    rmSync(this.path, { force: true });
  }
}
