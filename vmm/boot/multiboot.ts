// Direct boot of a Multiboot (version 1) kernel, as QEMU's -kernel and GRUB's `multiboot` command
// do it: the kernel's ELF segments (or, with the header's address fields, its flat image) go into
// guest RAM, each module (here: the initrd) after it on a page boundary, then the Multiboot
// information structure; the CPU starts at the kernel's entry in flat 32-bit protected mode with
// EAX = 0x2BADB002 and EBX pointing at that structure.
//
// Reference: the Multiboot Specification version 0.6.96 (GNU GRUB): 3.1 "OS image format" (the
// header, its flags and address fields), 3.2 "Machine state", 3.3 "Boot information format".

import type { PhysicalMemory } from '../memory.ts';
import { BOOT_CS, BOOT_DS, buildE820, E820_RAM, LOW_RAM_END, writeBootGdt, type AcpiPlacement, type BootEntry } from './linux.ts';

export const MULTIBOOT_HEADER_MAGIC = 0x1badb002;
export const MULTIBOOT_BOOTLOADER_MAGIC = 0x2badb002;
/** The header must lie, 32-bit aligned, within the image's first 8192 bytes. */
const HEADER_SEARCH = 8192;

// Header flags: bits 0-15 are requirements a loader must meet or refuse the image.
const MB_PAGE_ALIGN = 1 << 0;
const MB_MEMORY_INFO = 1 << 1;
const MB_VIDEO_MODE = 1 << 2;
const MB_AOUT_KLUDGE = 1 << 16;
const MB_UNDERSTOOD = MB_PAGE_ALIGN | MB_MEMORY_INFO | MB_VIDEO_MODE;

// Information structure flags (which of its fields are valid).
export const MBI_MEMORY = 1 << 0;
export const MBI_CMDLINE = 1 << 2;
export const MBI_MODS = 1 << 3;
export const MBI_MMAP = 1 << 6;
export const MBI_LOADER_NAME = 1 << 9;
export const MBI_FRAMEBUFFER = 1 << 12;
const MBI_SIZE = 116;
const FRAMEBUFFER_EGA_TEXT = 2;

const PAGE = 4096;
const LOADER_NAME = 'Hostbox';

/** A Multiboot header found in an image, validated. */
export interface MultibootHeader {
  /** Its offset in the file. */
  offset: number;
  flags: number;
  /** With the a.out kludge (flags bit 16): where the image goes, from the header's address fields. */
  aout?: { headerAddr: number; loadAddr: number; loadEndAddr: number; bssEndAddr: number; entryAddr: number };
}

export interface MultibootOptions {
  /** Loaded as the one module, its string `moduleString`. */
  module?: Uint8Array;
  moduleString?: string;
  cmdline?: string;
  acpi?: AcpiPlacement;
}

const hex = (n: number): string => `0x${(n >>> 0).toString(16)}`;

/** The image's Multiboot header, or null when it has none; throws an Error naming a header it cannot honour. */
export function findMultibootHeader(image: Uint8Array): MultibootHeader | null {
  const dv = new DataView(image.buffer, image.byteOffset, image.byteLength);
  const end = Math.min(HEADER_SEARCH, image.length) - 12;
  for (let off = 0; off <= end; off += 4) {
    if (dv.getUint32(off, true) !== MULTIBOOT_HEADER_MAGIC) continue;
    const flags = dv.getUint32(off + 4, true);
    if (((MULTIBOOT_HEADER_MAGIC + flags + dv.getUint32(off + 8, true)) | 0) !== 0) continue;
    const unknown = flags & 0xffff & ~MB_UNDERSTOOD;
    if (unknown) throw new Error(`kernel's Multiboot header asks for features Hostbox does not know (flags ${hex(unknown)})`);
    if (!(flags & MB_AOUT_KLUDGE)) return { offset: off, flags };
    if (off + 32 > image.length) throw new Error('kernel\'s Multiboot header is cut off before its address fields');
    const [headerAddr, loadAddr, loadEndAddr, bssEndAddr, entryAddr] = [12, 16, 20, 24, 28].map((o) => dv.getUint32(off + o, true)) as [number, number, number, number, number];
    return { offset: off, flags, aout: { headerAddr, loadAddr, loadEndAddr, bssEndAddr, entryAddr } };
  }
  return null;
}

/** A piece of the image to place: `length` bytes at physical `addr`, the first `data.length` from the file, the rest zero. */
interface Segment {
  addr: number;
  data: Uint8Array;
  length: number;
}

function aoutSegments(image: Uint8Array, h: MultibootHeader): { segments: Segment[]; entry: number } {
  const a = h.aout!;
  if (a.loadAddr > a.headerAddr) throw new Error(`kernel's Multiboot load_addr ${hex(a.loadAddr)} lies after its header_addr ${hex(a.headerAddr)}`);
  const fileStart = h.offset - (a.headerAddr - a.loadAddr);
  if (fileStart < 0) throw new Error(`kernel's Multiboot header_addr ${hex(a.headerAddr)} and load_addr ${hex(a.loadAddr)} put the image before the file's start`);
  const fileLength = a.loadEndAddr ? a.loadEndAddr - a.loadAddr : image.length - fileStart;
  if (fileLength <= 0 || fileStart + fileLength > image.length)
    throw new Error(`kernel's Multiboot load_end_addr ${hex(a.loadEndAddr)} does not fit its file of ${image.length} bytes`);
  const memEnd = a.bssEndAddr ? a.bssEndAddr : a.loadAddr + fileLength;
  if (memEnd < a.loadAddr + fileLength) throw new Error(`kernel's Multiboot bss_end_addr ${hex(a.bssEndAddr)} lies inside its loaded image`);
  return { segments: [{ addr: a.loadAddr, data: image.subarray(fileStart, fileStart + fileLength), length: memEnd - a.loadAddr }], entry: a.entryAddr };
}

function elfSegments(image: Uint8Array): { segments: Segment[]; entry: number } {
  if (image.length < 52 || image[0] !== 0x7f || image[1] !== 0x45 || image[2] !== 0x4c || image[3] !== 0x46)
    throw new Error('kernel has a Multiboot header without address fields, so it must be an ELF file, and it is not');
  const dv = new DataView(image.buffer, image.byteOffset, image.byteLength);
  if (image[4] !== 1 || image[5] !== 1 || dv.getUint16(18, true) !== 3)
    throw new Error('kernel is not a 32-bit little-endian x86 ELF file (a Multiboot kernel must be one)');
  const entry = dv.getUint32(24, true);
  const phoff = dv.getUint32(28, true);
  const phentsize = dv.getUint16(42, true);
  const phnum = dv.getUint16(44, true);
  if (phentsize < 32 || phoff + phnum * phentsize > image.length) throw new Error('kernel\'s ELF program headers lie outside the file');
  const segments: Segment[] = [];
  let physEntry = entry;
  for (let i = 0; i < phnum; i++) {
    const p = phoff + i * phentsize;
    if (dv.getUint32(p, true) !== 1) continue; // PT_LOAD only
    const offset = dv.getUint32(p + 4, true);
    const vaddr = dv.getUint32(p + 8, true);
    const paddr = dv.getUint32(p + 12, true);
    const filesz = dv.getUint32(p + 16, true);
    const memsz = dv.getUint32(p + 20, true);
    if (offset + filesz > image.length) throw new Error(`kernel's ELF segment ${i} runs past the end of the file`);
    if (memsz < filesz) throw new Error(`kernel's ELF segment ${i} is smaller in memory than in the file`);
    if (memsz === 0) continue;
    segments.push({ addr: paddr, data: image.subarray(offset, offset + filesz), length: memsz });
    // A kernel linked to run at a virtual address (higher half) is entered at its physical one, as GRUB does.
    if (vaddr !== paddr && entry - vaddr >= 0 && entry - vaddr < memsz) physEntry = paddr + (entry - vaddr);
  }
  if (segments.length === 0) throw new Error('kernel\'s ELF file has nothing to load (no PT_LOAD segment)');
  return { segments, entry: physEntry >>> 0 };
}

const pageUp = (n: number): number => Math.ceil(n / PAGE) * PAGE;

/**
 * Loads a Multiboot kernel (and a module, a command line) into guest RAM and returns the CPU state
 * to start in. Throws an Error naming the problem when the kernel or the module cannot be placed.
 */
export function loadMultiboot(mem: PhysicalMemory, image: Uint8Array, opts: MultibootOptions = {}): BootEntry {
  const h = findMultibootHeader(image);
  if (!h) throw new Error('kernel has no Multiboot header in its first 8192 bytes');
  const { segments, entry } = h.aout ? aoutSegments(image, h) : elfSegments(image);
  const ramTop = opts.acpi ? opts.acpi.reservedStart : mem.size;
  const fits = (addr: number, length: number): boolean => (addr >= 0x100000 && addr + length <= ramTop) || addr + length <= LOW_RAM_END;
  let end = 0;
  for (const s of segments) {
    if (!fits(s.addr, s.length))
      throw new Error(
        `kernel wants ${hex(s.addr)}-${hex(s.addr + s.length)}, which is not RAM it may use ` +
          `(below ${hex(LOW_RAM_END)}, or from 1 MiB up to ${hex(ramTop)}); give the VM more memory if it is high`,
      );
    end = Math.max(end, s.addr + s.length);
  }
  if (!segments.some((s) => entry >= s.addr && entry < s.addr + s.length)) throw new Error(`kernel's entry point ${hex(entry)} is not inside what it loads`);

  // Above the kernel, page-aligned: the module, then the information structure and what it points at.
  let next = pageUp(Math.max(end, 0x100000));
  const module = opts.module && opts.module.length > 0 ? opts.module : undefined;
  const moduleAddr = next;
  if (module) next = pageUp(moduleAddr + module.length);
  const enc = new TextEncoder();
  const cmdline = enc.encode(opts.cmdline ?? '');
  const moduleString = enc.encode(opts.moduleString ?? '');
  if (cmdline.includes(0) || moduleString.includes(0)) throw new Error('kernel command line contains a NUL character');
  const e820 = buildE820(mem.size, opts.acpi);
  const infoAddr = next;
  const gdtAddr = infoAddr + MBI_SIZE + 12; // 8-byte aligned (116 + 12 = 128)
  const modsAddr = gdtAddr + 32;
  const mmapAddr = modsAddr + 16;
  const cmdlineAddr = mmapAddr + e820.length * 24;
  const moduleStringAddr = cmdlineAddr + cmdline.length + 1;
  const loaderNameAddr = moduleStringAddr + moduleString.length + 1;
  const infoEnd = loaderNameAddr + LOADER_NAME.length + 1;
  if (infoEnd > ramTop)
    throw new Error(`kernel${module ? ' and its module' : ''} do not fit in guest RAM: they need memory up to ${hex(infoEnd)}, usable RAM ends at ${hex(ramTop)}; give the VM more memory`);

  const u8 = mem.u8;
  for (const s of segments) {
    u8.fill(0, s.addr, s.addr + s.length);
    u8.set(s.data, s.addr);
  }
  if (module) u8.set(module, moduleAddr);
  u8.fill(0, infoAddr, infoEnd);
  const dv = new DataView(u8.buffer, u8.byteOffset, u8.byteLength);
  const put = (a: number, v: number) => dv.setUint32(a, v >>> 0, true);
  const lowRam = e820.find((e) => e.type === E820_RAM && e.addr === 0);
  const highRam = e820.find((e) => e.type === E820_RAM && e.addr === 0x100000);
  let flags = MBI_MEMORY | MBI_CMDLINE | MBI_MMAP | MBI_LOADER_NAME;
  put(infoAddr + 4, Math.floor((lowRam?.size ?? 0) / 1024)); // mem_lower, KiB from 0
  put(infoAddr + 8, Math.floor((highRam?.size ?? 0) / 1024)); // mem_upper, KiB from 1 MiB to the first hole
  put(infoAddr + 16, cmdlineAddr);
  if (module) {
    flags |= MBI_MODS;
    put(infoAddr + 20, 1);
    put(infoAddr + 24, modsAddr);
    put(modsAddr, moduleAddr);
    put(modsAddr + 4, moduleAddr + module.length);
    put(modsAddr + 8, moduleStringAddr);
  }
  put(infoAddr + 44, e820.length * 24);
  put(infoAddr + 48, mmapAddr);
  e820.forEach((e, i) => {
    const o = mmapAddr + i * 24;
    put(o, 20); // the entry's size, not counting this field
    put(o + 4, e.addr);
    put(o + 8, Math.floor(e.addr / 0x100000000));
    put(o + 12, e.size);
    put(o + 16, Math.floor(e.size / 0x100000000));
    put(o + 20, e.type);
  });
  put(infoAddr + 64, loaderNameAddr);
  if (h.flags & MB_VIDEO_MODE) {
    // Only the VGA text mode the machine starts in: the spec lets a loader give another mode than asked.
    flags |= MBI_FRAMEBUFFER;
    put(infoAddr + 88, 0xb8000);
    put(infoAddr + 96, 160); // pitch: bytes per text row
    put(infoAddr + 100, 80);
    put(infoAddr + 104, 25);
    u8[infoAddr + 108] = 16; // bits per character cell
    u8[infoAddr + 109] = FRAMEBUFFER_EGA_TEXT;
  }
  put(infoAddr, flags);
  u8.set(cmdline, cmdlineAddr);
  u8.set(moduleString, moduleStringAddr);
  u8.set(enc.encode(LOADER_NAME), loaderNameAddr);

  // The spec leaves GDTR undefined for the kernel; the CPU's segments still come from somewhere real.
  writeBootGdt(mem, gdtAddr);
  return { eip: entry, eax: MULTIBOOT_BOOTLOADER_MAGIC, ebx: infoAddr, esi: 0, gdt: { base: gdtAddr, limit: 31 }, cs: BOOT_CS, ds: BOOT_DS };
}
