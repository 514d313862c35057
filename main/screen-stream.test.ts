import { test } from 'node:test';
import assert from 'node:assert/strict';
import { inflateSync } from 'node:zlib';
import type { GraphicsScreen, TextScreen } from '../vmm/machine-api.ts';
import type { ScreenUpdate } from './api-types.ts';
import { ScreenStream, TILE, changedTiles } from './screen-stream.ts';

function rgba(width: number, height: number, fill = 0): GraphicsScreen {
  return { kind: 'graphics', format: 'rgba', width, height, pixels: new Uint8Array(width * height * 4).fill(fill), palette: new Uint8Array(0) };
}

function withPixel(s: GraphicsScreen, x: number, y: number, v: number): GraphicsScreen {
  const pixels = s.pixels.slice();
  pixels.fill(v, (y * s.width + x) * 4, (y * s.width + x) * 4 + 4);
  return { ...s, pixels };
}

/** A page's copy of the picture, brought up to date by updates as the renderer applies them. */
class Page {
  picture: Uint8Array | null = null;
  width = 0;
  version = 0;
  apply(u: ScreenUpdate): void {
    assert.equal(u.kind, 'graphics');
    if (u.kind !== 'graphics') return;
    if (u.full) {
      this.picture = new Uint8Array(u.width * u.height * 4);
      this.width = u.width;
    }
    const raw = inflateSync(u.data);
    assert.equal(raw.length, u.rawBytes);
    let at = 0;
    for (let i = 0; i < u.rects.length; i += 4) {
      const [x, y, w, h] = u.rects.slice(i, i + 4) as [number, number, number, number];
      for (let r = 0; r < h; r++) {
        this.picture!.set(raw.subarray(at, at + w * 4), ((y + r) * this.width + x) * 4);
        at += w * 4;
      }
    }
    assert.equal(at, raw.length);
    this.version = u.version;
  }
}

test('changedTiles finds exactly the tiles whose pixels differ, edge tiles included', () => {
  const w = TILE * 3 + 10;
  const h = TILE * 2 + 5;
  const a = rgba(w, h).pixels;
  const b = a.slice();
  assert.deepEqual(changedTiles(a, b, w, h), []);
  b[((TILE + 3) * w + 2 * TILE + 1) * 4 + 2] = 1; // tile (2, 1)
  b[((2 * TILE + 4) * w + 3 * TILE + 9) * 4] = 9; // the partial corner tile (3, 2)
  assert.deepEqual(changedTiles(a, b, w, h), [1 * 4 + 2, 2 * 4 + 3]);
});

test('a page that opens late gets the whole current picture; one that has a version gets only what changed since', async () => {
  const st = new ScreenStream();
  const w = 640;
  const h = 480;
  let s = rgba(w, h, 0x10);
  assert.equal(st.update(s), true);
  const early = new Page();
  early.apply(await st.updateSince(0));
  assert.equal(early.version, st.version);
  // One pixel: one tile goes, compressed.
  s = withPixel(s, 100, 200, 0xff);
  assert.equal(st.update(s), true);
  const u = await st.updateSince(early.version);
  assert.ok(u.kind === 'graphics' && !u.full);
  assert.deepEqual(u.kind === 'graphics' && u.rects, [64, 192, 64, 64]);
  early.apply(u);
  assert.deepEqual(early.picture, s.pixels);
  // The same picture again is no change at all.
  assert.equal(st.update({ ...s, pixels: s.pixels.slice() }), false);
  // A page that opens now gets everything in one full update.
  const late = new Page();
  const all = await st.updateSince(0);
  assert.ok(all.kind === 'graphics' && all.full);
  late.apply(all);
  assert.deepEqual(late.picture, s.pixels);
});

test('a slow page skips pictures: its next update merges every change since its version and is the latest picture', async () => {
  const st = new ScreenStream();
  let s = rgba(1600, 1200);
  st.update(s);
  const slow = new Page();
  slow.apply(await st.updateSince(0));
  // 30 frames go by while the page is busy: a moving square, and a counter in one corner.
  for (let i = 0; i < 30; i++) {
    s = withPixel(withPixel(s, 300 + i * 10, 300, i + 1), 5, 5, i);
    st.update(s);
  }
  const u = await st.updateSince(slow.version);
  assert.ok(u.kind === 'graphics' && !u.full);
  // Only the touched tiles travel, merged into rectangles, far below a 7.5 MiB frame.
  if (u.kind === 'graphics') {
    assert.ok(u.rawBytes <= 7 * TILE * TILE * 4, `${u.rawBytes} bytes of pixels`);
    assert.ok(u.data.length < 4096, `${u.data.length} bytes compressed`);
    assert.ok(u.rects.length / 4 <= 3, `${u.rects.length / 4} rectangles`);
  }
  slow.apply(u);
  assert.deepEqual(slow.picture, s.pixels, 'the page shows the latest picture');
  assert.equal(slow.version, st.version);
});

test('a change of size or a text mode in between makes the next update whole', async () => {
  const st = new ScreenStream();
  st.update(rgba(320, 200, 1));
  const v1 = st.version;
  const text: TextScreen = { kind: 'text', cols: 80, rows: 25, cells: new Uint16Array(2000).fill(0x0741), cursor: { row: 1, col: 2, visible: true } };
  assert.equal(st.update(text), true);
  assert.equal(st.update({ ...text, cells: text.cells.slice() }), false, 'the same text screen');
  const t = await st.updateSince(v1);
  assert.ok(t.kind === 'text');
  if (t.kind === 'text') {
    assert.equal(t.cells.length, 4000);
    assert.deepEqual([t.cells[0], t.cells[1]], [0x41, 0x07], 'char, attribute');
  }
  st.update(rgba(640, 480, 2));
  const g = await st.updateSince(t.version);
  assert.ok(g.kind === 'graphics' && g.full && g.width === 640);
  // A version from elsewhere (another VM, a host that restarted) is never trusted.
  const odd = await st.updateSince(st.version + 1000);
  assert.ok(odd.kind === 'graphics' && odd.full);
});

test('indexed modes go as RGBA through the DAC; a palette change sends the tiles it repaints', async () => {
  const st = new ScreenStream();
  const palette = new Uint8Array(768);
  palette.set([10, 20, 30], 3);
  const pixels = new Uint8Array(320 * 200);
  pixels[0] = 1;
  const s: GraphicsScreen = { kind: 'graphics', format: 'indexed', width: 320, height: 200, pixels, palette };
  st.update(s);
  const page = new Page();
  page.apply(await st.updateSince(0));
  assert.deepEqual([...page.picture!.subarray(0, 8)], [10, 20, 30, 255, 0, 0, 0, 255]);
  const p2 = palette.slice();
  p2.set([1, 2, 3], 3);
  assert.equal(st.update({ ...s, palette: p2 }), true);
  const u = await st.updateSince(page.version);
  assert.deepEqual(u.kind === 'graphics' && u.rects, [0, 0, 64, 64], 'only the tile with a pixel of that colour');
  page.apply(u);
  assert.deepEqual([...page.picture!.subarray(0, 4)], [1, 2, 3, 255]);
});
