import { test } from 'node:test';
import assert from 'node:assert/strict';
import { IoBus } from '../../bus.ts';
import { ManualClock } from '../../clock.ts';
import type { GraphicsScreen, Screen } from '../../machine-api.ts';
import { PhysicalMemory } from '../../memory.ts';
import { Xorshift32 } from '../../cpu/xorshift.ts';
import { DISPI_8BIT_DAC, DISPI_ENABLED, DISPI_GETCAPS, DISPI_LFB_ADDRESS, DISPI_LFB_ENABLED, DISPI_VRAM_SIZE } from './bochs-dispi.ts';
import { VBE_REFRESH_INTERVAL_NS, Vga } from './vga.ts';

function setup() {
  const io = new IoBus();
  const clock = new ManualClock();
  const mem = new PhysicalMemory(1 << 20);
  const screens: Screen[] = [];
  const vga = new Vga(clock, (s) => screens.push(s));
  for (const r of vga.ioRanges) io.register(r);
  mem.mapMmio(vga.mmio);
  mem.mapMmio(vga.dispi.lfbRange);
  vga.reset('power');
  const write = (index: number, v: number) => (io.write(0x1ce, 2, index), io.write(0x1cf, 2, v));
  const read = (index: number) => (io.write(0x1ce, 2, index), io.read(0x1cf, 2));
  const mode = (w: number, h: number, bpp: number, flags = DISPI_LFB_ENABLED) => {
    write(4, 0);
    write(1, w);
    write(2, h);
    write(3, bpp);
    write(4, DISPI_ENABLED | flags);
  };
  const latest = (): GraphicsScreen => {
    clock.advance(VBE_REFRESH_INTERVAL_NS);
    const s = screens[screens.length - 1]!;
    assert.equal(s.kind, 'graphics');
    return s as GraphicsScreen;
  };
  return { io, mem, clock, vga, screens, write, read, mode, latest };
}

test('the ID handshake SeaVGABIOS does, capabilities, and the memory size', () => {
  const { write, read, io } = setup();
  assert.equal(read(0), 0xb0c5);
  write(0, 0xb0c0);
  assert.equal(read(0), 0xb0c0);
  write(0, 0x1234);
  assert.equal(read(0), 0xb0c0, 'IDs outside B0C0h-B0C5h are ignored');
  write(4, DISPI_GETCAPS);
  assert.deepEqual([read(1), read(2), read(3)], [1600, 1200, 32]);
  write(4, 0);
  assert.equal(read(10), DISPI_VRAM_SIZE >> 16);
  // The data port answers at 0x1D0 as well.
  io.write(0x1ce, 2, 10);
  assert.equal(io.read(0x1d0, 2), DISPI_VRAM_SIZE >> 16);
});

test('a 32-bit mode on the linear framebuffer: BGRX bytes become RGBA pixels; offsets scroll', () => {
  const { mem, mode, latest, write, read } = setup();
  mode(800, 600, 32);
  assert.equal(read(6), 800);
  assert.equal(read(7), Math.floor(DISPI_VRAM_SIZE / (800 * 4)));
  mem.write32(DISPI_LFB_ADDRESS + (10 * 800 + 5) * 4, 0x00ff8000);
  let s = latest();
  assert.deepEqual([s.format, s.width, s.height], ['rgba', 800, 600]);
  assert.deepEqual([...s.pixels.subarray((10 * 800 + 5) * 4, (10 * 800 + 6) * 4)], [0xff, 0x80, 0x00, 0xff]);
  write(9, 10); // Y offset: line 10 at the top
  s = latest();
  assert.deepEqual([...s.pixels.subarray(5 * 4, 6 * 4)], [0xff, 0x80, 0x00, 0xff]);
  // The geometry cannot change while the mode is on.
  write(1, 640);
  assert.equal(read(1), 800);
});

test('16 and 15 bits a pixel expand to 8 bits a component', () => {
  const { mem, mode, latest } = setup();
  mode(640, 480, 16);
  mem.write16(DISPI_LFB_ADDRESS, 0xf800); // red 31
  mem.write16(DISPI_LFB_ADDRESS + 2, 0x07e0); // green 63
  let s = latest();
  assert.deepEqual([...s.pixels.subarray(0, 8)], [0xff, 0, 0, 0xff, 0, 0xff, 0, 0xff]);
  mode(640, 480, 15, DISPI_LFB_ENABLED | 0x80);
  mem.write16(DISPI_LFB_ADDRESS, 0x001f); // blue 31 (memory kept: NOCLEARMEM)
  s = latest();
  assert.deepEqual([...s.pixels.subarray(0, 4)], [0, 0, 0xff, 0xff]);
});

test('8 bits a pixel through the DAC, 6-bit or 8-bit; the banked window at A0000h', () => {
  const { io, mem, mode, latest, write } = setup();
  mode(640, 480, 8, 0);
  write(5, 2); // bank 2
  mem.write8(0xa0000 + 0x100, 7);
  io.write(0x3c8, 1, 7);
  for (const v of [0x3f, 0x20, 0x00]) io.write(0x3c9, 1, v);
  let s = latest();
  const at = 2 * 0x10000 + 0x100;
  assert.equal(s.format, 'indexed');
  assert.equal(s.pixels[at], 7);
  assert.deepEqual([...s.palette.subarray(21, 24)], [0xff, 0x82, 0x00]);
  assert.equal(mem.read8(0xa0000 + 0x100), 7, 'the window reads back the bank');
  // VBE function 08h: an 8-bit DAC keeps all eight bits.
  mode(640, 480, 8, DISPI_8BIT_DAC | 0x80);
  io.write(0x3c8, 1, 7);
  for (const v of [0xc8, 0x10, 0x01]) io.write(0x3c9, 1, v);
  s = latest();
  assert.deepEqual([...s.palette.subarray(21, 24)], [0xc8, 0x10, 0x01]);
});

test('a virtual width the framebuffer cannot hold is refused; switching off goes back to the VGA', () => {
  const { write, read, mode, vga } = setup();
  mode(1600, 1200, 32);
  assert.equal(read(4) & DISPI_ENABLED, DISPI_ENABLED, '1600x1200x32 needs 7.3 MiB of 8');
  write(6, 2000);
  assert.equal(read(6), 1600);
  write(6, 1700);
  assert.equal(read(6), 1700);
  write(4, 0);
  assert.equal(vga.dispi.enabled, false);
  assert.equal(vga.graphicsScreen()?.format, 'indexed', 'the VGA graphics mode the BIOS left');
});

test('save and restore round trip; hostile register values never throw or reach outside the framebuffer', () => {
  const a = setup();
  a.mode(640, 480, 32);
  a.mem.write32(DISPI_LFB_ADDRESS + 4 * 1000, 0x123456);
  const saved = a.vga.saveState();
  const b = setup();
  b.vga.loadState(structuredClone(saved), 2);
  assert.deepEqual(b.vga.saveState(), saved);
  const r = new Xorshift32(77);
  for (let i = 0; i < 20000; i++) {
    const index = r.below(12);
    b.write(index, r.pick([0, 1, 0xffff, 0x8000, r.next() & 0xffff, r.below(2048)]));
    if (i % 500 === 0) {
      const s = b.vga.graphicsScreen();
      if (s) assert.equal(s.pixels.length, s.width * s.height * (s.format === 'rgba' ? 4 : 1));
    }
    b.mem.write8(0xa0000 + r.below(0x20000), 1);
  }
});

test('a saved state with registers the card never holds is refused, not scanned out at any size', () => {
  const a = setup();
  a.mode(640, 480, 32);
  const saved = a.vga.saveState();
  const edited = (index: number, value: number): typeof saved => {
    const s = structuredClone(saved);
    const regs = (s['dispi'] as Record<string, Uint8Array>)['regs']!;
    regs[2 * index] = value & 0xff;
    regs[2 * index + 1] = value >> 8;
    return s;
  };
  // 65535 x 1200 at 32 bits a pixel would be a 300 MiB picture at the next refresh.
  assert.throws(() => setup().vga.loadState(edited(1, 0xfff8), 2), /bochs-dispi: saved XRES 65528/);
  assert.throws(() => setup().vga.loadState(edited(2, 5000), 2), /bochs-dispi: saved YRES 5000/);
  assert.throws(() => setup().vga.loadState(edited(3, 12), 2), /bochs-dispi: saved BPP 12/);
  assert.throws(() => setup().vga.loadState(edited(5, 200), 2), /bochs-dispi: saved bank 200/);
  // Within the card's limits, but more than the line length the mode was set up with.
  assert.throws(() => setup().vga.loadState(edited(1, 1600), 2), /bochs-dispi: saved mode 1600x480x32 with 2560 bytes a line/);
  // What the card can hold still loads.
  assert.doesNotThrow(() => setup().vga.loadState(edited(5, 3), 2));
});
