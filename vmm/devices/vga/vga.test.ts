import { test } from 'node:test';
import assert from 'node:assert/strict';
import { IoBus } from '../../bus.ts';
import { ManualClock } from '../../clock.ts';
import type { GraphicsScreen, TextScreen } from '../../machine-api.ts';
import { PhysicalMemory } from '../../memory.ts';
import { REFRESH_INTERVAL_NS, Vga } from './vga.ts';

const MS = 1_000_000;

function setup() {
  const io = new IoBus();
  const clock = new ManualClock();
  const mem = new PhysicalMemory(1 << 20);
  const graphics: GraphicsScreen[] = [];
  const screens: TextScreen[] = [];
  const vga = new Vga(clock, (s) => (s.kind === 'text' ? screens.push(s) : graphics.push(s)));
  for (const r of vga.ioRanges) io.register(r);
  mem.mapMmio(vga.mmio);
  vga.reset('power');
  clock.advance(0);
  const outb = (p: number, v: number) => io.write(p, 1, v);
  const inb = (p: number) => io.read(p, 1);
  const crtc = (i: number, v?: number) => {
    outb(0x3d4, i);
    if (v !== undefined) outb(0x3d5, v);
    return inb(0x3d5);
  };
  const text = (s: TextScreen, row: number) =>
    String.fromCharCode(...Array.from(s.cells.subarray(row * s.cols, (row + 1) * s.cols), (c) => c & 0xff)).trimEnd();
  return { io, clock, mem, screens, graphics, vga, outb, inb, crtc, text };
}

test('power-on is 80x25 colour text with a blank page and a visible cursor', () => {
  const { screens } = setup();
  assert.equal(screens.length, 1);
  const s = screens[0]!;
  assert.equal(s.cols, 80);
  assert.equal(s.rows, 25);
  assert.ok(s.cells.every((c) => c === 0x0720));
  assert.deepEqual(s.cursor, { row: 0, col: 0, visible: true });
});

test('vgacon probe: 0xAA55/0x55AA patterns at 0xB8000 read back; CRTC registers read back', () => {
  const { mem, crtc, outb, inb } = setup();
  const saved1 = mem.read16(0xb8000);
  const saved2 = mem.read16(0xb8002);
  mem.write16(0xb8000, 0xaa55);
  mem.write16(0xb8002, 0x55aa);
  assert.equal(mem.read16(0xb8000), 0xaa55);
  assert.equal(mem.read16(0xb8002), 0x55aa);
  mem.write16(0xb8000, 0x55aa);
  mem.write16(0xb8002, 0xaa55);
  assert.equal(mem.read16(0xb8000), 0x55aa);
  assert.equal(mem.read16(0xb8002), 0xaa55);
  mem.write16(0xb8000, saved1);
  mem.write16(0xb8002, saved2);
  assert.equal(mem.read32(0xb8000) >>> 0, 0x07200720);
  // Cursor shape read-modify-write and the V_SYNC_END protect dance of vgacon_doresize.
  assert.equal(crtc(0x0a), 0x0d);
  assert.equal(crtc(0x0b), 0x0e);
  crtc(0x0a, (crtc(0x0a) & 0xc0) | 0x0e);
  assert.equal(crtc(0x0a), 0x0e);
  const vsyncEnd = crtc(0x11);
  assert.equal(vsyncEnd & 0x80, 0x80, 'mode 3 leaves CR0-7 protected');
  crtc(0x01, 0x27);
  assert.equal(crtc(0x01), 0x4f, 'protected');
  crtc(0x07, 0x00);
  assert.equal(crtc(0x07), 0x0f, 'only line compare bit 8 changes while protected');
  crtc(0x11, vsyncEnd & ~0x80);
  crtc(0x01, 0x4f);
  crtc(0x07, 0x1f);
  crtc(0x11, vsyncEnd);
  assert.equal(crtc(0x07), 0x1f);
  // Palette normalisation through the attribute controller.
  for (let i = 0; i < 16; i++) {
    inb(0x3da);
    outb(0x3c0, i);
    outb(0x3c0, i);
  }
  outb(0x3c0, 0x20);
  outb(0x3c0, 0x06);
  assert.equal(inb(0x3c1), 0x06);
  assert.equal(inb(0x3c0), 0x20, 'index register reads back, PAS included');
});

test('text, start address and cursor reach the sink at most every 20 ms of guest time, only on change', () => {
  const { mem, clock, screens, crtc, text } = setup();
  screens.length = 0;
  const put = (row: number, col: number, s: string) => {
    for (let i = 0; i < s.length; i++) mem.write16(0xb8000 + (row * 80 + col + i) * 2, 0x1f00 | s.charCodeAt(i));
  };
  clock.advance(1 * MS);
  put(0, 0, 'Hello');
  put(1, 0, 'world');
  clock.advance(1 * MS);
  assert.equal(screens.length, 0, 'not before 20 ms after the last screen');
  clock.advance(REFRESH_INTERVAL_NS);
  assert.equal(screens.length, 1, 'many writes, one screen');
  assert.equal(text(screens[0]!, 0), 'Hello');
  assert.equal(screens[0]!.cells[0], 0x1f48);
  // Rewriting the same bytes changes nothing: no new screen.
  put(0, 0, 'Hello');
  clock.advance(100 * MS);
  assert.equal(screens.length, 1);
  // Scroll by one row through the start address, and move the cursor to the end of "world".
  crtc(0x0c, 0);
  crtc(0x0d, 80);
  crtc(0x0e, 0);
  crtc(0x0f, 80 + 5);
  clock.advance(REFRESH_INTERVAL_NS);
  assert.equal(screens.length, 2);
  const s = screens[1]!;
  assert.equal(text(s, 0), 'world');
  assert.deepEqual(s.cursor, { row: 0, col: 5, visible: true });
  crtc(0x0a, 0x20);
  clock.advance(REFRESH_INTERVAL_NS);
  assert.equal(screens[2]!.cursor.visible, false, 'cursor disable bit');
});

test('a guest rewriting an unchanged screen is scanned no more often than a changing one is sent', () => {
  // Each scan-out walks the whole picture (7.5 MiB in the largest VBE mode): the refresh interval
  // must bound the scans, not only the screens that differ.
  const { mem, clock, screens, vga } = setup();
  let scans = 0;
  const textScreen = vga.textScreen.bind(vga);
  vga.textScreen = () => (scans++, textScreen());
  clock.advance(100 * MS);
  screens.length = 0;
  scans = 0;
  const cell = mem.read16(0xb8000);
  for (let t = 0; t < 100; t++) {
    mem.write16(0xb8000, cell);
    clock.advance(1 * MS);
  }
  assert.equal(screens.length, 0, 'nothing changed');
  assert.ok(scans <= 100 / 20 + 1, `${scans} scans in 100 ms of guest time`);
});

test('Misc Output bit 0 selects 0x3Dx or 0x3Bx for the CRTC and Input Status 1', () => {
  const { inb, outb, crtc } = setup();
  assert.equal(inb(0x3cc), 0x67);
  crtc(0x0e, 0x12);
  outb(0x3b4, 0x0e);
  assert.equal(inb(0x3b5), 0xff, 'mono ports are not decoded in colour mode');
  outb(0x3c2, 0x66);
  assert.equal(inb(0x3d5), 0xff);
  outb(0x3b4, 0x0e);
  assert.equal(inb(0x3b5), 0x12, 'same CRTC at the mono address');
  assert.equal(inb(0x3da), 0xff);
  const a = inb(0x3ba);
  const b = inb(0x3ba);
  assert.equal((a ^ b) & 0x09, 0x09, 'retrace bits toggle');
});

test('attribute flip-flop is reset by reading Input Status 1', () => {
  const { inb, outb } = setup();
  inb(0x3da);
  outb(0x3c0, 0x11); // index: overscan
  inb(0x3da); // back to index
  outb(0x3c0, 0x12); // index: colour plane enable
  outb(0x3c0, 0x05); // data
  outb(0x3c0, 0x11 | 0x20);
  assert.equal(inb(0x3c1), 0x00, 'overscan untouched');
  inb(0x3da);
  outb(0x3c0, 0x12 | 0x20);
  assert.equal(inb(0x3c1), 0x05);
});

test('DAC read and write indexes, three components per entry, state port', () => {
  const { inb, outb, vga } = setup();
  outb(0x3c8, 5);
  assert.equal(inb(0x3c7) & 3, 0);
  outb(0x3c9, 0x3f);
  outb(0x3c9, 0x20);
  outb(0x3c9, 0xff);
  outb(0x3c9, 0x01);
  assert.equal(inb(0x3c8), 6);
  assert.deepEqual(Array.from(vga.palette.subarray(15, 18)), [0x3f, 0x20, 0x3f], '6-bit components');
  outb(0x3c7, 5);
  assert.equal(inb(0x3c7) & 3, 3);
  // The lone fourth component waits for its two siblings: entry 6 still holds its old red.
  assert.deepEqual([inb(0x3c9), inb(0x3c9), inb(0x3c9), inb(0x3c9)], [0x3f, 0x20, 0x3f, 0x2a]);
});

test('font loading as vgacon does it lands in plane 2 and leaves the text alone', () => {
  const { mem, outb, inb, vga } = setup();
  mem.write16(0xb8000, 0x0741);
  const seq = (i: number, v: number) => (outb(0x3c4, i), outb(0x3c5, v));
  const gfx = (i: number, v: number) => (outb(0x3ce, i), outb(0x3cf, v));
  // Planar access to plane 2 at 0xA0000 (vgacon_do_font_op).
  seq(0x00, 0x01);
  seq(0x02, 0x04);
  seq(0x04, 0x07);
  seq(0x00, 0x03);
  gfx(0x04, 0x02);
  gfx(0x05, 0x00);
  gfx(0x06, 0x00);
  for (let i = 0; i < 32; i++) mem.write8(0xa0000 + 0x41 * 32 + i, 0x80 | i);
  assert.equal(mem.read8(0xa0000 + 0x41 * 32 + 3), 0x83, 'read map 2 returns plane 2');
  assert.equal(vga.vram[2 * 0x10000 + 0x41 * 32 + 3], 0x83);
  // Back to text mode.
  seq(0x00, 0x01);
  seq(0x02, 0x03);
  seq(0x04, 0x03);
  seq(0x00, 0x03);
  gfx(0x04, 0x00);
  gfx(0x05, 0x10);
  gfx(0x06, 0x0e);
  assert.equal(mem.read16(0xb8000), 0x0741);
  assert.equal(vga.textScreen()!.cells[0], 0x0741);
  assert.equal(mem.read8(0xa0000), 0xff, 'A0000 is not decoded with the B8000 map');
  assert.equal(inb(0x3cf), 0x0e);
});

test('planar write modes, set/reset, bit mask, ALU and read mode 1; chain 4', () => {
  const { mem, outb, vga } = setup();
  const seq = (i: number, v: number) => (outb(0x3c4, i), outb(0x3c5, v));
  const gfx = (i: number, v: number) => (outb(0x3ce, i), outb(0x3cf, v));
  const planes = (o: number) => [0, 1, 2, 3].map((p) => vga.vram[p * 0x10000 + o]);
  vga.vram.fill(0);
  seq(0x02, 0x0f);
  seq(0x04, 0x06);
  gfx(0x06, 0x05); // graphics, A0000 64K
  gfx(0x05, 0x02); // write mode 2
  gfx(0x08, 0x80);
  mem.read8(0xa0000); // load latches (zero)
  mem.write8(0xa0000, 0x05);
  assert.deepEqual(planes(0), [0x80, 0x00, 0x80, 0x00]);
  gfx(0x08, 0x40);
  mem.read8(0xa0000);
  mem.write8(0xa0000, 0x03);
  assert.deepEqual(planes(0), [0xc0, 0x40, 0x80, 0x00], 'bit mask keeps the latched pixels');
  // Read mode 1: which pixels have colour 5?
  gfx(0x05, 0x08);
  gfx(0x02, 0x05);
  gfx(0x07, 0x0f);
  assert.equal(mem.read8(0xa0000), 0x80);
  // Write mode 0 with set/reset on planes 0-1 and XOR.
  gfx(0x05, 0x00);
  gfx(0x00, 0x01);
  gfx(0x01, 0x03);
  gfx(0x03, 0x18); // XOR
  gfx(0x08, 0xff);
  mem.read8(0xa0000 + 1);
  mem.write8(0xa0000 + 1, 0xf0);
  assert.deepEqual(planes(1), [0xff, 0x00, 0xf0, 0xf0]);
  // Write mode 1 copies the latches.
  mem.read8(0xa0000 + 1);
  gfx(0x05, 0x01);
  mem.write8(0xa0000 + 2, 0x00);
  assert.deepEqual(planes(2), planes(1));
  // Chain 4 (mode 13h): the low address bits pick the plane.
  seq(0x04, 0x0e);
  mem.write8(0xa0000 + 5, 0x42);
  assert.equal(vga.vram[1 * 0x10000 + 1], 0x42);
  assert.equal(mem.read8(0xa0000 + 5), 0x42);
});

test('a graphics mode sends pictures instead of text screens', () => {
  const { outb, screens, graphics, clock, mem, vga } = setup();
  screens.length = 0;
  outb(0x3ce, 0x06);
  outb(0x3cf, 0x05);
  mem.write8(0xa0000, 1);
  clock.advance(100 * MS);
  assert.equal(screens.length, 0);
  assert.equal(vga.textScreen(), null);
  assert.equal(graphics.length, 1);
  assert.equal(vga.graphicsScreen()!.kind, 'graphics');
});

test('save/restore round trip, reset idempotence, hostile registers', () => {
  const a = setup();
  a.mem.write16(0xb8000 + 160, 0x4e58);
  a.crtc(0x0e, 0x00);
  a.crtc(0x0f, 81);
  a.outb(0x3c8, 9);
  a.outb(0x3c9, 1);
  const saved = a.vga.saveState();
  const b = setup();
  b.screens.length = 0;
  b.vga.loadState(structuredClone(saved), b.vga.stateVersion);
  assert.deepEqual(b.vga.saveState(), saved);
  // A version-1 state (a card without VBE) loads too; one claiming version 1 with VBE fields does not.
  const v1 = structuredClone(saved);
  delete v1['dispi'];
  assert.doesNotThrow(() => setup().vga.loadState(v1, 1));
  assert.throws(() => setup().vga.loadState(saved, 1), /unknown field "dispi"/);
  b.clock.advance(REFRESH_INTERVAL_NS);
  assert.equal(b.screens.length, 1, 'restored screen is sent again');
  assert.equal(b.screens[0]!.cells[80], 0x4e58);
  assert.deepEqual(b.screens[0]!.cursor, { row: 1, col: 1, visible: true });
  assert.throws(() => b.vga.loadState(saved, 3), /version 3/);
  b.vga.reset('hard');
  const once = b.vga.saveState();
  b.vga.reset('hard');
  assert.deepEqual(b.vga.saveState(), once);

  for (let i = 0; i < 2000; i++) {
    const r = Math.imul(i + 1, 0x9e3779b1) >>> 0;
    b.outb(0x3c0 + (r & 0x1f), (r >>> 8) & 0xff);
    b.inb(0x3b0 + ((r >>> 16) & 0x2f));
    b.mem.write8(0xa0000 + ((r >>> 5) & 0x1ffff), r >>> 24);
    if (i % 100 === 0) b.vga.textScreen();
  }
  b.clock.advance(REFRESH_INTERVAL_NS);
  for (const s of b.screens) assert.ok(s.cols >= 1 && s.cols <= 256 && s.rows >= 1 && s.rows <= 128);
});
