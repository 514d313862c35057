// A VM's screen as the host keeps it for the pages that show it: the last picture, and which parts of
// it changed when. Pages pull: a change is announced with a version number, and a page asks for
// "everything since the version I have" (as a VNC viewer sends an incremental FramebufferUpdateRequest,
// RFC 6143 7.5.3). That answer holds only the tiles changed since then, as rectangles of RGBA pixels
// compressed with zlib (deflate), read from the current picture. A page that cannot keep up simply
// asks less often: it never has more than one answer per VM on its way, the changes it missed are
// merged into its next answer, and that answer is always the latest picture. A page that opens or
// reconnects asks since version 0 and gets the whole picture.
//
// Tiles are compared pixel for pixel with the previous picture, so the VMM needs no dirty tracking
// of its own, and a palette change (which repaints every pixel of an indexed mode) shows up as the
// tiles it really changed.

import { deflate } from 'node:zlib';
import { promisify } from 'node:util';
import type { Screen, TextScreen } from '../vmm/machine-api.ts';
import type { ScreenUpdate } from './api-types.ts';

const deflateAsync = promisify(deflate);

/** Tile edge in pixels: small enough that a moving cursor or a typed character stays small, large enough that the bookkeeping is cheap. */
export const TILE = 64;

/** Versions are unique across every VM and power cycle of this host, so a page's version never matches a picture it did not see. */
let lastVersion = 0;
const nextVersion = (): number => ++lastVersion;

/** A rectangle of pixels: x, y, width, height. */
export type Rect = readonly [number, number, number, number];

export class ScreenStream {
  /** The current graphics picture, RGBA row by row; null in a text mode or before any picture. */
  private rgba: Uint8Array | null = null;
  /** The buffer the next picture is converted into (swapped with rgba after the compare). */
  private spare: Uint8Array | null = null;
  private width = 0;
  private height = 0;
  private tilesX = 0;
  private tilesY = 0;
  /** Per tile, the version at which it last changed. */
  private tileVersion = new Float64Array(0);
  /** The version at which the picture's mode (text, or graphics of this size) began: older versions get everything. */
  private modeVersion = 0;
  private text: TextScreen | null = null;
  private cache: { since: number; version: number; update: Promise<ScreenUpdate> } | null = null;
  /** Encodes run one after another, so pages asking at once hold one picture's copy at a time, not one each. */
  private queue: Promise<unknown> = Promise.resolve();
  /** The current version: 0 before the first picture. */
  version = 0;

  /** Takes a picture from the VMM; returns false when nothing visible changed (no one need be told). */
  update(s: Screen): boolean {
    if (s.kind === 'text') {
      if (this.text && sameText(this.text, s)) return false;
      this.text = s;
      this.rgba = this.spare = null;
      this.width = this.height = 0;
      this.version = this.modeVersion = nextVersion();
      return true;
    }
    const w = s.width;
    const h = s.height;
    if (this.text || !this.rgba || w !== this.width || h !== this.height) {
      this.text = null;
      this.width = w;
      this.height = h;
      this.tilesX = Math.ceil(w / TILE);
      this.tilesY = Math.ceil(h / TILE);
      this.rgba = toRgba(s, new Uint8Array(w * h * 4));
      this.spare = null;
      this.version = this.modeVersion = nextVersion();
      this.tileVersion = new Float64Array(this.tilesX * this.tilesY).fill(this.version);
      return true;
    }
    const next = toRgba(s, this.spare ?? new Uint8Array(w * h * 4));
    const changed = changedTiles(this.rgba, next, w, h);
    if (!changed.length) {
      this.spare = next;
      return false;
    }
    this.spare = this.rgba;
    this.rgba = next;
    this.version = nextVersion();
    for (const t of changed) this.tileVersion[t] = this.version;
    return true;
  }

  /** The rectangles changed since `since` (everything when `since` is older than the mode, or not one of ours). */
  changedSince(since: number): { full: boolean; rects: Rect[] } {
    const full = since < this.modeVersion || since > this.version;
    const rects: Rect[] = [];
    /** Open rectangles by their x and width, extended downwards while the tile row below has the same run. */
    let open = new Map<string, [number, number, number, number]>();
    for (let ty = 0; ty < this.tilesY; ty++) {
      const row = new Map<string, [number, number, number, number]>();
      for (let tx = 0; tx < this.tilesX; ) {
        if (!full && this.tileVersion[ty * this.tilesX + tx]! <= since) {
          tx++;
          continue;
        }
        let end = tx + 1;
        while (end < this.tilesX && (full || this.tileVersion[ty * this.tilesX + end]! > since)) end++;
        const x = tx * TILE;
        const y = ty * TILE;
        const rw = Math.min(end * TILE, this.width) - x;
        const rh = Math.min(y + TILE, this.height) - y;
        const key = `${x},${rw}`;
        const above = open.get(key);
        if (above) {
          above[3] += rh;
          row.set(key, above);
          open.delete(key);
        } else row.set(key, [x, y, rw, rh]);
        tx = end;
      }
      for (const r of open.values()) rects.push(r);
      open = row;
    }
    for (const r of open.values()) rects.push(r);
    return { full, rects };
  }

  /** What a page that has `since` needs to show the current picture. */
  updateSince(since: number): Promise<ScreenUpdate> {
    const version = this.version;
    if (this.cache && this.cache.since === since && this.cache.version === version) return this.cache.update;
    const update = this.queue.then(() => this.encode(since));
    this.queue = update.catch(() => {});
    this.cache = { since, version, update };
    return update;
  }

  private async encode(since: number): Promise<ScreenUpdate> {
    const version = this.version;
    if (this.text) {
      const t = this.text;
      return { kind: 'text', version, cols: t.cols, rows: t.rows, cells: new Uint8Array(t.cells.buffer.slice(t.cells.byteOffset, t.cells.byteOffset + t.cells.byteLength)), cursor: t.cursor };
    }
    const src = this.rgba;
    if (!src) return { kind: 'none', version };
    const { full, rects } = this.changedSince(since);
    let bytes = 0;
    for (const [, , w, h] of rects) bytes += w * h * 4;
    const raw = new Uint8Array(bytes);
    let at = 0;
    for (const [x, y, w, h] of rects)
      for (let r = 0; r < h; r++) {
        const start = ((y + r) * this.width + x) * 4;
        raw.set(src.subarray(start, start + w * 4), at);
        at += w * 4;
      }
    // Level 1: on this machine's pictures it keeps most of level 6's saving at a fraction of the time.
    const data = new Uint8Array(await deflateAsync(raw, { level: 1 }));
    return { kind: 'graphics', version, width: this.width, height: this.height, full, rects: rects.flat(), data, rawBytes: bytes };
  }
}

/** Indices of the tiles whose pixels differ between two pictures of the same size. */
export function changedTiles(a: Uint8Array, b: Uint8Array, width: number, height: number): number[] {
  const a32 = new Uint32Array(a.buffer, a.byteOffset, width * height);
  const b32 = new Uint32Array(b.buffer, b.byteOffset, width * height);
  const tilesX = Math.ceil(width / TILE);
  const out: number[] = [];
  for (let ty = 0; ty * TILE < height; ty++) {
    const y1 = Math.min(height, (ty + 1) * TILE);
    for (let tx = 0; tx < tilesX; tx++) {
      const x0 = tx * TILE;
      const x1 = Math.min(width, x0 + TILE);
      let differs = false;
      for (let y = ty * TILE; y < y1 && !differs; y++) {
        const row = y * width;
        for (let i = row + x0; i < row + x1; i++)
          if (a32[i] !== b32[i]) {
            differs = true;
            break;
          }
      }
      if (differs) out.push(ty * tilesX + tx);
    }
  }
  return out;
}

/** A graphics picture as RGBA (the DAC's colours looked up for an indexed mode), into `out`. */
function toRgba(s: Extract<Screen, { kind: 'graphics' }>, out: Uint8Array): Uint8Array {
  if (s.format === 'rgba') {
    out.set(s.pixels.subarray(0, out.length));
    return out;
  }
  const p = s.palette;
  const px = s.pixels;
  for (let i = 0, o = 0; i < px.length; i++, o += 4) {
    const c = px[i]! * 3;
    out[o] = p[c]!;
    out[o + 1] = p[c + 1]!;
    out[o + 2] = p[c + 2]!;
    out[o + 3] = 255;
  }
  return out;
}

function sameText(a: TextScreen, b: TextScreen): boolean {
  if (a.cols !== b.cols || a.rows !== b.rows) return false;
  if (a.cursor.row !== b.cursor.row || a.cursor.col !== b.cursor.col || a.cursor.visible !== b.cursor.visible) return false;
  for (let i = 0; i < a.cells.length; i++) if (a.cells[i] !== b.cells[i]) return false;
  return true;
}
