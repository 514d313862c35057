import { test } from 'node:test';
import assert from 'node:assert/strict';
import { PAGE_MMIO, PAGE_RAM, PAGE_ROM, PhysicalMemory } from '../../memory.ts';
import { pamAccess, ShadowRam } from './shadow-ram.ts';

function setup() {
  const mem = new PhysicalMemory(2 * 1024 * 1024);
  const changes: [number, number][] = [];
  const shadow = new ShadowRam(mem, (first, pages) => changes.push([first, pages]));
  const rom = new Uint8Array(0x20000);
  for (let i = 0; i < rom.length; i++) rom[i] = (i * 13 + 1) & 0xff;
  shadow.loadRom(0xe0000, rom);
  changes.length = 0;
  return { mem, shadow, rom, changes };
}

test('PAM registers map to 16 KiB segments from 0xC0000 and one 64 KiB segment at 0xF0000', () => {
  const a = pamAccess([0x10, 0x21, 0, 0, 0, 0x03, 0x30]);
  assert.equal(a[0], 1); // C0000: PAM1 low nibble, RE
  assert.equal(a[4], 2); // C4000: PAM1 high nibble, WE
  assert.equal(a[8], 0); // C8000
  assert.equal(a[(0xe0000 - 0xc0000) >> 12], 3); // E0000: PAM5 low nibble
  assert.equal(a[(0xe4000 - 0xc0000) >> 12], 0); // E4000: PAM5 high nibble
  assert.equal(a[(0xec000 - 0xc0000) >> 12], 3); // EC000: PAM6 high nibble
  for (let p = (0xf0000 - 0xc0000) >> 12; p < 64; p++) assert.equal(a[p], 1);
});

test('at reset reads come from the ROM and writes vanish; DRAM stays untouched underneath', () => {
  const { mem, rom } = setup();
  assert.equal(mem.kind[0xf0], PAGE_MMIO);
  assert.equal(mem.read8(0xffff0), rom[0x1fff0]);
  assert.equal(mem.read32(0xe0004) >>> 0, (rom[4]! | (rom[5]! << 8) | (rom[6]! << 16) | (rom[7]! << 24)) >>> 0);
  mem.write8(0xf0000, 0x5a);
  assert.equal(mem.read8(0xf0000), rom[0x10000]);
  assert.equal(mem.u8[0xf0000], 0);
  // Nothing on the bus between the VGA BIOS area and the BIOS: all ones.
  assert.equal(mem.read8(0xd0000), 0xff);
});

test('write-only shadowing copies the ROM into DRAM; read-only then protects it; read-write makes it RAM', () => {
  const { mem, shadow, rom, changes } = setup();
  shadow.apply([0x20, 0, 0, 0, 0, 0, 0]); // F0000: WE only
  assert.deepEqual(changes, [[0xc0, 64]]);
  for (let i = 0; i < 0x10000; i++) mem.write8(0xf0000 + i, mem.read8(0xf0000 + i));
  assert.equal(mem.u8[0xffff0], rom[0x1fff0]);
  shadow.apply([0x10, 0, 0, 0, 0, 0, 0]); // F0000: RE only
  assert.equal(mem.kind[0xff], PAGE_ROM);
  mem.write8(0xffff0, 0x00);
  assert.equal(mem.read8(0xffff0), rom[0x1fff0]);
  shadow.apply([0x30, 0, 0, 0, 0, 0, 0]);
  assert.equal(mem.kind[0xff], PAGE_RAM);
  mem.write8(0xffff0, 0xcc);
  assert.equal(mem.read8(0xffff0), 0xcc);
  // Segments not enabled still read the bus.
  assert.equal(mem.read8(0xe0000), rom[0]);
});

test('a write through a write-enabled window to a page holding decoded code invalidates it', () => {
  const { mem, shadow } = setup();
  const seen: number[] = [];
  mem.onCodeWrite = (p) => seen.push(p);
  shadow.apply([0x20, 0, 0, 0, 0, 0, 0]);
  mem.codePage[0xf1] = 1;
  mem.write16(0xf1000, 0x9090);
  assert.deepEqual(seen, [0xf1, 0xf1]);
  assert.equal(mem.u8[0xf1000], 0x90);
});

test('a ROM that does not fit is refused', () => {
  const { shadow } = setup();
  assert.throws(() => shadow.loadRom(0xf0000, new Uint8Array(0x20000)), /does not fit/);
  assert.throws(() => shadow.loadRom(0xb0000, new Uint8Array(16)), /does not fit/);
});
