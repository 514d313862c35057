import { test } from 'node:test';
import assert from 'node:assert/strict';
import { PhysicalMemory } from '../memory.ts';
import { buildE820 } from './linux.ts';
import { fakeBzImage } from './fake-bzimage.ts';
import { kernelKind } from './kernel.ts';
import { findMultibootHeader, loadMultiboot, MBI_CMDLINE, MBI_FRAMEBUFFER, MBI_LOADER_NAME, MBI_MEMORY, MBI_MMAP, MBI_MODS, MULTIBOOT_BOOTLOADER_MAGIC, MULTIBOOT_HEADER_MAGIC } from './multiboot.ts';

const MiB = 1024 * 1024;

/** A Multiboot header: magic, flags, checksum, then the a.out address fields when given. */
function header(flags: number, aout: number[] = []): number[] {
  return [MULTIBOOT_HEADER_MAGIC, flags, -(MULTIBOOT_HEADER_MAGIC + flags) >>> 0, ...aout];
}

const le32 = (words: number[]): Uint8Array => {
  const b = new Uint8Array(words.length * 4);
  words.forEach((w, i) => new DataView(b.buffer).setUint32(i * 4, w >>> 0, true));
  return b;
};

/** A 32-bit ELF executable: one PT_LOAD segment of `body` at vaddr/paddr with `bss` zero bytes after it. */
function elf(opts: { body: Uint8Array; vaddr: number; paddr: number; entry: number; bss?: number; machine?: number }): Uint8Array {
  const phoff = 52;
  const dataOff = phoff + 32;
  const img = new Uint8Array(dataOff + opts.body.length);
  const dv = new DataView(img.buffer);
  img.set([0x7f, 0x45, 0x4c, 0x46, 1, 1, 1]);
  dv.setUint16(16, 2, true); // ET_EXEC
  dv.setUint16(18, opts.machine ?? 3, true); // EM_386
  dv.setUint32(20, 1, true);
  dv.setUint32(24, opts.entry, true);
  dv.setUint32(28, phoff, true);
  dv.setUint16(40, 52, true);
  dv.setUint16(42, 32, true);
  dv.setUint16(44, 1, true);
  dv.setUint32(phoff, 1, true); // PT_LOAD
  dv.setUint32(phoff + 4, dataOff, true);
  dv.setUint32(phoff + 8, opts.vaddr, true);
  dv.setUint32(phoff + 12, opts.paddr, true);
  dv.setUint32(phoff + 16, opts.body.length, true);
  dv.setUint32(phoff + 20, opts.body.length + (opts.bss ?? 0), true);
  img.set(opts.body, dataOff);
  return img;
}

const u32 = (m: PhysicalMemory, a: number): number => m.read32(a) >>> 0;
const cstring = (m: PhysicalMemory, a: number): string => {
  let s = '';
  for (let c = m.read8(a); c !== 0; c = m.read8(++a)) s += String.fromCharCode(c);
  return s;
};

test('an ELF Multiboot kernel: segments at their physical addresses, bss zeroed, a higher-half entry made physical', () => {
  const mem = new PhysicalMemory(32 * MiB);
  mem.u8.fill(0xcc, 0x100000, 0x200000);
  // Linked at 0xC0100000, loaded at 1 MiB: the entry (its code at body offset 12) is taken at its physical address.
  const body = new Uint8Array([...le32(header(0x3)), 0xfa, 0xf4, 0xeb, 0xfd]);
  const kernel = elf({ body, vaddr: 0xc0100000, paddr: 0x100000, entry: 0xc010000c, bss: 0x2000 });
  const e = loadMultiboot(mem, kernel, { cmdline: 'console=com1 debug' });
  assert.equal(e.eip, 0x10000c);
  assert.equal(e.eax, MULTIBOOT_BOOTLOADER_MAGIC);
  assert.deepEqual([...mem.u8.subarray(0x10000c, 0x100010)], [0xfa, 0xf4, 0xeb, 0xfd]);
  assert.ok(mem.u8.subarray(0x100010, 0x102010).every((b) => b === 0), 'bss is zero');
  assert.equal(mem.read8(0x102010), 0xcc, 'nothing written past the bss');
  // The information structure lies above the kernel, page-aligned, and says what it holds.
  const mbi = e.ebx!;
  assert.equal(mbi, 0x103000);
  const flags = u32(mem, mbi);
  assert.equal(flags, MBI_MEMORY | MBI_CMDLINE | MBI_MMAP | MBI_LOADER_NAME);
  assert.equal(u32(mem, mbi + 4), 636);
  assert.equal(u32(mem, mbi + 8), (32 * MiB - MiB) / 1024);
  assert.equal(cstring(mem, u32(mem, mbi + 16)), 'console=com1 debug');
  assert.equal(cstring(mem, u32(mem, mbi + 64)), 'Hostbox');
  // The memory map: 24-byte entries, each a size field of 20 then base, length and type.
  const e820 = buildE820(mem.size);
  assert.equal(u32(mem, mbi + 44), e820.length * 24);
  const mmap = u32(mem, mbi + 48);
  e820.forEach((x, i) => {
    const o = mmap + i * 24;
    assert.deepEqual([u32(mem, o), u32(mem, o + 4), u32(mem, o + 8), u32(mem, o + 12), u32(mem, o + 20)], [20, x.addr >>> 0, 0, x.size >>> 0, x.type]);
  });
  // The GDT the segments were loaded from: flat code at 0x10 and data at 0x18.
  assert.equal(mem.read32(e.gdt.base + 0x10 + 4) >>> 0, 0x00cf9a00);
  assert.equal(mem.read32(e.gdt.base + 0x18 + 4) >>> 0, 0x00cf9200);
});

test('a flat image with the header\'s address fields (a.out kludge), a module on a page boundary, video info for text mode', () => {
  const mem = new PhysicalMemory(16 * MiB);
  // The file starts 16 bytes before the header; it loads at 0x200000, with bss to 0x205000.
  const load = 0x200000;
  const hdr = header(0x10005, [load + 16, load, 0, load + 0x5000, load + 48]);
  const file = new Uint8Array(64);
  file.set(le32(hdr), 16);
  file.set([0xfa, 0xf4], 48);
  const module = Uint8Array.from({ length: 5000 }, (_, i) => i & 0xff);
  const e = loadMultiboot(mem, file, { module, moduleString: 'initrd', cmdline: '' });
  assert.equal(e.eip, load + 48);
  assert.deepEqual([...mem.u8.subarray(load, load + 64)], [...file]);
  const mbi = e.ebx!;
  const flags = u32(mem, mbi);
  assert.ok(flags & MBI_MODS && flags & MBI_FRAMEBUFFER);
  assert.equal(u32(mem, mbi + 20), 1);
  const mod = u32(mem, mbi + 24);
  assert.equal(u32(mem, mod), 0x205000);
  assert.equal(u32(mem, mod + 4), 0x205000 + module.length);
  assert.deepEqual(mem.u8.subarray(0x205000, 0x205000 + module.length), module);
  assert.equal(cstring(mem, u32(mem, mod + 8)), 'initrd');
  assert.ok(mbi >= 0x205000 + module.length && mbi % 4096 === 0);
  // EGA text: 80x25 at 0xB8000.
  assert.equal(u32(mem, mbi + 88), 0xb8000);
  assert.deepEqual([u32(mem, mbi + 100), u32(mem, mbi + 104), mem.read8(mbi + 109)], [80, 25, 2]);
});

test('Multiboot images Hostbox cannot honour are refused with the reason', () => {
  const mem = new PhysicalMemory(16 * MiB);
  const body = (flags: number) => new Uint8Array([...le32(header(flags)), 0xf4]);
  // Bit 3 and up of the required half: features the spec says a loader must refuse when it lacks them.
  assert.throws(() => loadMultiboot(mem, elf({ body: body(0x8), vaddr: 0x100000, paddr: 0x100000, entry: 0x10000c })), /features Hostbox does not know \(flags 0x8\)/);
  // Optional bits (16-31) other than the address fields are ignored.
  assert.doesNotThrow(() => loadMultiboot(mem, elf({ body: body(0x20000), vaddr: 0x100000, paddr: 0x100000, entry: 0x10000c })));
  assert.throws(() => loadMultiboot(mem, new Uint8Array([...le32(header(0)), 0, 0, 0, 0])), /must be an ELF file/);
  assert.throws(() => loadMultiboot(mem, elf({ body: body(0), vaddr: 0x100000, paddr: 0x100000, entry: 0x10000c, machine: 62 })), /32-bit little-endian x86 ELF/);
  assert.throws(() => loadMultiboot(mem, elf({ body: body(0), vaddr: 0x100000, paddr: 0x100000, entry: 0x300000 })), /entry point 0x300000 is not inside/);
  assert.throws(() => loadMultiboot(mem, elf({ body: body(0), vaddr: 0xf00000, paddr: 0xf00000, entry: 0xf0000c, bss: 0x200000 })), /not RAM it may use/);
  // A header whose checksum is wrong is no header.
  const bad = header(0);
  bad[2] = 0;
  assert.equal(findMultibootHeader(le32(bad)), null);
});

test('--kernel tells a bzImage from a Multiboot kernel, and names both when it is neither', () => {
  assert.equal(kernelKind(fakeBzImage()), 'linux');
  assert.equal(kernelKind(elf({ body: new Uint8Array([...le32(header(0)), 0xf4]), vaddr: 0x100000, paddr: 0x100000, entry: 0x10000c })), 'multiboot');
  assert.throws(() => kernelKind(new Uint8Array(4096)), /not a bzImage.*nor a Multiboot kernel/);
  assert.throws(() => kernelKind(elf({ body: new Uint8Array(16), vaddr: 0x100000, paddr: 0x100000, entry: 0x100000 })), /ELF file \(vmlinux\).*nor a Multiboot kernel/);
});
