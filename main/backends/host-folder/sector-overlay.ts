// Copy-on-write overlay for a synthesized disk: every sector the guest writes goes into a sparse
// file at its own offset, and a bitmap remembers which sectors are there. Reads take written
// sectors from the overlay and the rest from the base. The overlay lives for one power-on: the
// synchroniser reads it at power-off, then it is deleted (the base it was written over is rebuilt
// from the folder at the next power-on, so an old overlay would not fit it).

import { closeSync, fsyncSync, ftruncateSync, openSync, readSync, rmSync, writeSync } from 'node:fs';

const SECTOR = 512;
/** Sectors per bitmap chunk: bitmaps exist only where the guest wrote, so a 2 TiB disk costs nothing unwritten. */
const CHUNK = 32768;

export class SectorOverlay {
  private readonly fd: number;
  private readonly chunks = new Map<number, Uint8Array>();
  private closed = false;
  written = 0;

  constructor(
    readonly path: string,
    readonly sectors: number,
  ) {
    this.fd = openSync(path, 'w+', 0o600);
    ftruncateSync(this.fd, sectors * SECTOR);
  }

  has(lba: number): boolean {
    const c = this.chunks.get(Math.floor(lba / CHUNK));
    if (!c) return false;
    const i = lba % CHUNK;
    return (c[i >> 3]! & (1 << (i & 7))) !== 0;
  }

  /** Whether any sector of [lba, lba + count) was written. */
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

  write(lba: number, data: Uint8Array): void {
    const count = data.length / SECTOR;
    writeSync(this.fd, data, 0, data.length, lba * SECTOR);
    for (let s = lba; s < lba + count; s++) {
      const k = Math.floor(s / CHUNK);
      let c = this.chunks.get(k);
      if (!c) this.chunks.set(k, (c = new Uint8Array(CHUNK / 8)));
      const i = s % CHUNK;
      if (!(c[i >> 3]! & (1 << (i & 7)))) this.written++;
      c[i >> 3]! |= 1 << (i & 7);
    }
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
