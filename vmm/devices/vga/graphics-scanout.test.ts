// Graphics scan-out with the register values the IBM VGA BIOS programs for its standard modes (the
// parameter table of the VGA Technical Reference), pixels written the way programs write them.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { IoBus } from '../../bus.ts';
import { ManualClock } from '../../clock.ts';
import type { GraphicsScreen, Screen } from '../../machine-api.ts';
import { PhysicalMemory } from '../../memory.ts';
import { GRAPHICS_REFRESH_INTERVAL_NS, Vga } from './vga.ts';

interface ModeTable {
  misc: number;
  seq: number[];
  crtc: number[];
  gfx: number[];
  atc: number[];
}

// prettier-ignore
const MODE_13H: ModeTable = {
  misc: 0x63,
  seq: [0x03, 0x01, 0x0f, 0x00, 0x0e],
  crtc: [0x5f, 0x4f, 0x50, 0x82, 0x54, 0x80, 0xbf, 0x1f, 0x00, 0x41, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x9c, 0x8e, 0x8f, 0x28, 0x40, 0x96, 0xb9, 0xa3, 0xff],
  gfx: [0x00, 0x00, 0x00, 0x00, 0x00, 0x40, 0x05, 0x0f, 0xff],
  atc: [0x00, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x09, 0x0a, 0x0b, 0x0c, 0x0d, 0x0e, 0x0f, 0x41, 0x00, 0x0f, 0x00, 0x00],
};
// prettier-ignore
const MODE_12H: ModeTable = {
  misc: 0xe3,
  seq: [0x03, 0x01, 0x0f, 0x00, 0x06],
  crtc: [0x5f, 0x4f, 0x50, 0x82, 0x54, 0x80, 0x0b, 0x3e, 0x00, 0x40, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0xea, 0x8c, 0xdf, 0x28, 0x00, 0xe7, 0x04, 0xe3, 0xff],
  gfx: [0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x05, 0x0f, 0xff],
  atc: [0x00, 0x01, 0x02, 0x03, 0x04, 0x05, 0x14, 0x07, 0x38, 0x39, 0x3a, 0x3b, 0x3c, 0x3d, 0x3e, 0x3f, 0x01, 0x00, 0x0f, 0x00, 0x00],
};
// prettier-ignore
const MODE_04H: ModeTable = {
  misc: 0x63,
  seq: [0x03, 0x09, 0x03, 0x00, 0x02],
  crtc: [0x2d, 0x27, 0x28, 0x90, 0x2b, 0x80, 0xbf, 0x1f, 0x00, 0xc1, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x9c, 0x8e, 0x8f, 0x14, 0x00, 0x96, 0xb9, 0xa2, 0xff],
  gfx: [0x00, 0x00, 0x00, 0x00, 0x00, 0x30, 0x0f, 0x0f, 0xff],
  atc: [0x00, 0x13, 0x15, 0x17, 0x02, 0x04, 0x06, 0x07, 0x10, 0x11, 0x12, 0x13, 0x14, 0x15, 0x16, 0x17, 0x01, 0x00, 0x03, 0x00, 0x00],
};

function setup() {
  const io = new IoBus();
  const clock = new ManualClock();
  const mem = new PhysicalMemory(1 << 20);
  const screens: Screen[] = [];
  const vga = new Vga(clock, (s) => screens.push(s));
  for (const r of vga.ioRanges) io.register(r);
  mem.mapMmio(vga.mmio);
  vga.reset('power');
  clock.advance(0);
  const outb = (p: number, v: number) => io.write(p, 1, v);
  /** Programs a mode the way the VGA BIOS does: sequencer held in reset, CRTC unlocked, ATC through its flip-flop. */
  const setMode = (m: ModeTable) => {
    outb(0x3c4, 0);
    outb(0x3c5, 0x01);
    outb(0x3c2, m.misc);
    m.seq.forEach((v, i) => i > 0 && (outb(0x3c4, i), outb(0x3c5, v)));
    outb(0x3c4, 0);
    outb(0x3c5, m.seq[0]!);
    outb(0x3d4, 0x11);
    outb(0x3d5, 0);
    m.crtc.forEach((v, i) => (outb(0x3d4, i), outb(0x3d5, v)));
    m.gfx.forEach((v, i) => (outb(0x3ce, i), outb(0x3cf, v)));
    io.read(0x3da, 1);
    m.atc.forEach((v, i) => (outb(0x3c0, i), outb(0x3c0, v)));
    outb(0x3c0, 0x20);
  };
  const dac = (index: number, r: number, g: number, b: number) => {
    outb(0x3c8, index);
    outb(0x3c9, r);
    outb(0x3c9, g);
    outb(0x3c9, b);
  };
  const latest = (): GraphicsScreen => {
    clock.advance(GRAPHICS_REFRESH_INTERVAL_NS);
    const s = screens[screens.length - 1]!;
    assert.equal(s.kind, 'graphics');
    return s as GraphicsScreen;
  };
  return { io, clock, mem, screens, vga, outb, setMode, dac, latest };
}

test('mode 13h: 320x200, one byte a pixel through chain 4, colours from the DAC', () => {
  const { mem, setMode, dac, latest } = setup();
  setMode(MODE_13H);
  for (let y = 0; y < 200; y++) for (let x = 0; x < 320; x++) mem.write8(0xa0000 + y * 320 + x, (x + 3 * y) & 0xff);
  dac(0x21, 0x3f, 0x20, 0x00);
  const s = latest();
  assert.equal(s.width, 320);
  assert.equal(s.height, 200);
  for (const [x, y] of [[0, 0], [1, 0], [319, 0], [0, 1], [17, 99], [319, 199]] as const) assert.equal(s.pixels[y * 320 + x], (x + 3 * y) & 0xff, `pixel ${x},${y}`);
  // 6-bit DAC components reach the picture as 8-bit ones: 3Fh is full, 20h is 82h.
  assert.deepEqual([...s.palette.subarray(0x21 * 3, 0x21 * 3 + 3)], [0xff, 0x82, 0x00]);
});

test('mode 12h: 640x480 planar, write mode 2 and the bit mask, colours through the attribute palette', () => {
  const { mem, outb, setMode, latest } = setup();
  setMode(MODE_12H);
  for (let a = 0; a < 0x10000; a++) mem.write8(0xa0000 + a, 0); // the BIOS clears the planes
  // Write mode 2: the CPU byte is a colour for every pixel the bit mask lets through (a read loads the latches).
  outb(0x3ce, 5);
  outb(0x3cf, 0x02);
  for (let x = 0; x < 640; x++) {
    const at = 0xa0000 + 100 * 80 + (x >> 3);
    outb(0x3ce, 8);
    outb(0x3cf, 0x80 >> (x & 7));
    mem.read8(at);
    mem.write8(at, x % 16);
  }
  const s = latest();
  assert.equal(s.width, 640);
  assert.equal(s.height, 480);
  // Attribute palette of mode 12h: colour 6 is DAC 14h (brown), colours 8-15 are DAC 38h-3Fh.
  const expect = [0x00, 0x01, 0x02, 0x03, 0x04, 0x05, 0x14, 0x07, 0x38, 0x39, 0x3a, 0x3b, 0x3c, 0x3d, 0x3e, 0x3f];
  for (let x = 0; x < 640; x++) assert.equal(s.pixels[100 * 640 + x], expect[x % 16], `pixel ${x}`);
  assert.ok(s.pixels.subarray(0, 100 * 640).every((p) => p === 0), 'rows above are black');
  assert.ok(s.pixels.subarray(101 * 640).every((p) => p === 0), 'rows below are black');
});

test('mode 04h: CGA 320x200x4, two bits a pixel, even rows at B8000 and odd rows at BA000', () => {
  const { mem, setMode, latest } = setup();
  setMode(MODE_04H);
  // Row 0: pixels 0-3 are colours 0,1,2,3 (00 01 10 11); row 1 starts the second 8 KiB bank.
  mem.write8(0xb8000, 0b00011011);
  mem.write8(0xb8001, 0b11111111);
  mem.write8(0xba000, 0b10101010);
  const s = latest();
  assert.equal(s.width, 320);
  assert.equal(s.height, 200);
  assert.deepEqual([...s.pixels.subarray(0, 8)], [0x00, 0x13, 0x15, 0x17, 0x17, 0x17, 0x17, 0x17]);
  assert.deepEqual([...s.pixels.subarray(320, 324)], [0x15, 0x15, 0x15, 0x15]);
  assert.equal(s.pixels[2 * 320], 0);
});

test('unchained 256 colours (mode X): the map mask picks the plane, the CRTC reads four pixels per address', () => {
  const { mem, outb, setMode, latest } = setup();
  setMode(MODE_13H);
  outb(0x3c4, 4);
  outb(0x3c5, 0x06); // chain 4 off
  outb(0x3d4, 0x14);
  outb(0x3d5, 0x00); // doubleword mode off
  outb(0x3d4, 0x17);
  outb(0x3d5, 0xe3); // byte mode
  for (let p = 0; p < 4; p++) {
    outb(0x3c4, 2);
    outb(0x3c5, 1 << p);
    mem.write8(0xa0000 + 1, 0x40 + p); // pixel 4 + p
  }
  const s = latest();
  assert.deepEqual([...s.pixels.subarray(4, 8)], [0x40, 0x41, 0x42, 0x43]);
});

test('the start address scrolls, line compare splits the screen, the PEL mask applies', () => {
  const { mem, outb, setMode, latest } = setup();
  setMode(MODE_13H);
  mem.write8(0xa0000, 0x11);
  mem.write8(0xa0000 + 320 * 10, 0x22);
  // Start address 800 (in doubleword units of four pixels): row 10 is now at the top.
  outb(0x3d4, 0x0c);
  outb(0x3d5, 800 >> 8);
  outb(0x3d4, 0x0d);
  outb(0x3d5, 800 & 0xff);
  // Line compare at scan line 200 (of 400): the lower half shows memory from address 0 again.
  outb(0x3d4, 0x18);
  outb(0x3d5, 200);
  outb(0x3d4, 0x07);
  outb(0x3d5, 0x1f & ~0x10);
  outb(0x3d4, 0x09);
  outb(0x3d5, 0x41 & ~0x40);
  let s = latest();
  assert.equal(s.pixels[0], 0x22);
  assert.equal(s.pixels[100 * 320], 0x11);
  outb(0x3c6, 0x0f);
  s = latest();
  assert.equal(s.pixels[0], 0x02);
});

test('a hostile CRTC setting cannot ask for a picture larger than the bounds', () => {
  const { outb, setMode, latest } = setup();
  setMode(MODE_12H);
  outb(0x3d4, 0x01);
  outb(0x3d5, 0xff);
  outb(0x3d4, 0x12);
  outb(0x3d5, 0xff);
  outb(0x3d4, 0x07);
  outb(0x3d5, 0xff);
  outb(0x3d4, 0x09);
  outb(0x3d5, 0x00);
  const s = latest();
  assert.ok(s.width <= 1024 && s.height <= 768);
  assert.equal(s.pixels.length, s.width * s.height);
});

test('an unchanged picture is not sent again', () => {
  const { mem, screens, setMode, latest, clock } = setup();
  setMode(MODE_13H);
  mem.write8(0xa0000, 5);
  latest();
  const n = screens.length;
  mem.write8(0xa0000, 5);
  clock.advance(GRAPHICS_REFRESH_INTERVAL_NS * 2);
  assert.equal(screens.length, n);
});
