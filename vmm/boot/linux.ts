// Direct Linux kernel boot, as QEMU's -kernel does it: no BIOS, no real-mode setup code. The
// bzImage's protected-mode part, the initrd, the command line and a filled-in boot_params ("zero
// page") are written into guest RAM, and the CPU starts at code32_start in flat 32-bit protected
// mode through the 32-bit boot protocol.
//
// Reference: Documentation/arch/x86/boot.rst of the Linux source ("The Linux/x86 Boot Protocol"):
// "The Real-Mode Kernel Header" for the setup header fields, "Details of Header Fields" for their
// meaning, "32-bit Boot Protocol" for the entry state, and zero-page.rst for boot_params offsets.
//
// Guest memory below 1 MiB that this loader uses (all inside the usable 0-0x9F000 e820 range; the
// kernel copies boot_params and the command line before it reuses that memory):
//   0x00800  GDT (null, null, 0x10 flat code, 0x18 flat data)
//   0x01000  boot_params, one 4 KiB page
//   0x20000  kernel command line, up to CMDLINE_AREA_END

import type { PhysicalMemory } from '../memory.ts';

export const BOOT_GDT_ADDR = 0x800;
export const ZERO_PAGE_ADDR = 0x1000;
export const CMDLINE_ADDR = 0x20000;
/** The end of the low RAM the memory map reports; the EBDA follows (bios-data-area.ts). */
export const LOW_RAM_END = 0x9f000;
const CMDLINE_AREA_END = LOW_RAM_END;

export const BOOT_CS = 0x10;
export const BOOT_DS = 0x18;

const HIGH_LOAD_ADDR = 0x100000;
const MIN_PROTOCOL = 0x206;

// Setup header offsets in the bzImage file; the zero page holds the header at the same offsets.
const HDR_SETUP_SECTS = 0x1f1;
const HDR_SYSSIZE = 0x1f4;
const HDR_BOOT_FLAG = 0x1fe;
const HDR_JUMP = 0x200;
const HDR_HEADER = 0x202;
const HDR_VERSION = 0x206;
const HDR_KERNEL_VERSION = 0x20e;
const HDR_TYPE_OF_LOADER = 0x210;
const HDR_LOADFLAGS = 0x211;
const HDR_CODE32_START = 0x214;
const HDR_RAMDISK_IMAGE = 0x218;
const HDR_RAMDISK_SIZE = 0x21c;
const HDR_HEAP_END_PTR = 0x224;
const HDR_CMD_LINE_PTR = 0x228;
const HDR_INITRD_ADDR_MAX = 0x22c;
const HDR_KERNEL_ALIGNMENT = 0x230;
const HDR_RELOCATABLE_KERNEL = 0x234;
const HDR_XLOADFLAGS = 0x236;
const HDR_CMDLINE_SIZE = 0x238;
const HDR_PREF_ADDRESS = 0x258;
const HDR_INIT_SIZE = 0x260;

const HDRS_MAGIC = 0x53726448; // "HdrS"

// loadflags
export const LOADED_HIGH = 0x01;
export const CAN_USE_HEAP = 0x80;
// xloadflags
const XLF_KERNEL_64 = 0x01;

// boot_params (zero-page.rst)
const BP_SCREEN_INFO = 0x000;
const BP_ACPI_RSDP_ADDR = 0x070;
const BP_ALT_MEM_K = 0x1e0;
const BP_E820_ENTRIES = 0x1e8;
const BP_E820_TABLE = 0x2d0;
const E820_MAX_ENTRIES = 128;

export const E820_RAM = 1;
export const E820_RESERVED = 2;
export const E820_ACPI = 3;

/** What the CPU must be set to before the first instruction (32-bit boot protocol). */
export interface BootEntry {
  /** code32_start: where the protected-mode kernel was loaded. */
  eip: number;
  /** Physical address of boot_params; EBP, EDI and EBX must be zero. */
  esi: number;
  /** Multiboot: its magic in EAX and the information structure's address in EBX (zero for Linux). */
  eax?: number;
  ebx?: number;
  /** A GDT in guest RAM holding flat 4 GiB descriptors for cs and ds. */
  gdt: { base: number; limit: number };
  /** Flat 32-bit code, execute/read. */
  cs: 0x10;
  /** Flat 32-bit data for DS, ES, SS (and FS, GS); interrupts off, paging off. */
  ds: 0x18;
}

/** The ACPI tables the machine built (see buildAcpiTables in acpi.ts). */
export interface AcpiPlacement {
  /** Physical address of the RSDP, passed to the kernel as acpi_rsdp_addr. */
  rsdp: number;
  /** RAM holding the other tables, reported as ACPI reclaimable in the e820 map. */
  reservedStart: number;
  reservedEnd: number;
}

export interface LinuxBootOptions {
  initrd?: Uint8Array;
  cmdline?: string;
  acpi?: AcpiPlacement;
}

export interface E820Entry {
  addr: number;
  size: number;
  type: number;
}

/** The fields of a bzImage's setup header that a loader needs, validated. */
export interface BzImageHeader {
  /** Boot protocol version, e.g. 0x20f for 2.15. */
  protocol: number;
  setupSects: number;
  /** Bytes of real-mode setup code at the start of the file (boot sector included). */
  setupSize: number;
  /** Bytes of the protected-mode kernel in the file (everything after the setup code). */
  kernelSize: number;
  loadflags: number;
  code32Start: number;
  initrdAddrMax: number;
  kernelAlignment: number;
  relocatable: boolean;
  xloadflags: number;
  cmdlineSize: number;
  prefAddress: number;
  initSize: number;
  /** Offset just past the setup header in the file: 0x202 + the jump's displacement byte. */
  headerEnd: number;
  /** The kernel's version string (what `uname -r -v` builds on), or '' when absent. */
  version: string;
}

function u16(b: Uint8Array, o: number): number {
  return b[o]! | (b[o + 1]! << 8);
}
function u32(b: Uint8Array, o: number): number {
  return (b[o]! | (b[o + 1]! << 8) | (b[o + 2]! << 16) | (b[o + 3]! << 24)) >>> 0;
}

const hex = (n: number): string => '0x' + n.toString(16);
const mib = (n: number): string => (n / (1024 * 1024)).toFixed(1) + ' MiB';

/** Whether the image carries a Linux setup header ("HdrS" at 0x202), bzImage or not. */
export function hasLinuxHeader(kernel: Uint8Array): boolean {
  return kernel.length >= HDR_HEADER + 4 && u32(kernel, HDR_HEADER) === HDRS_MAGIC;
}

/**
 * Reads and checks a bzImage's setup header; throws an Error naming the problem. `length` is the
 * file's (by default the array's): the checks read only the first KERNEL_HEAD_BYTES, so a caller that
 * only validates may pass those and the length (vm-settings, which need not read a large file whole).
 */
export function parseBzImage(kernel: Uint8Array, length = kernel.length): BzImageHeader {
  if (kernel.length >= 4 && kernel[0] === 0x7f && kernel[1] === 0x45 && kernel[2] === 0x4c && kernel[3] === 0x46)
    throw new Error('kernel is an ELF file (vmlinux), not a bzImage: use arch/x86/boot/bzImage or /boot/vmlinuz-*');
  if (length < HDR_HEADER + 4)
    throw new Error(`kernel is not a bzImage: the file has only ${length} bytes, too short for a Linux setup header`);
  if (!hasLinuxHeader(kernel))
    throw new Error(`kernel is not a bzImage: no "HdrS" signature at offset 0x202`);
  const protocol = u16(kernel, HDR_VERSION);
  const protoText = `${protocol >> 8}.${(protocol & 0xff).toString().padStart(2, '0')}`;
  if (protocol < MIN_PROTOCOL)
    throw new Error(`kernel uses boot protocol ${protoText}; Hostbox needs 2.06 or newer (Linux 2.6.22 and later)`);
  const headerEnd = HDR_HEADER + kernel[HDR_JUMP + 1]!;
  if (headerEnd < HDR_CMDLINE_SIZE + 4 || headerEnd > 0x400)
    throw new Error(`kernel setup header is malformed: it claims to end at ${hex(headerEnd)}`);
  if (length < headerEnd)
    throw new Error(`kernel file is truncated: ${length} bytes, but its setup header alone ends at ${hex(headerEnd)}`);
  if (u16(kernel, HDR_BOOT_FLAG) !== 0xaa55)
    throw new Error('kernel is not a bzImage: boot sector signature 0xAA55 missing at offset 0x1fe');

  const setupSects = kernel[HDR_SETUP_SECTS]! || 4;
  const setupSize = (setupSects + 1) * 512;
  if (length < setupSize)
    throw new Error(
      `kernel file is truncated: the header says the setup code takes ${setupSize} bytes, but the file has only ${length}`,
    );
  const kernelSize = length - setupSize;
  // syssize is rounded up to whole 16-byte paragraphs, so the file may be up to 15 bytes shorter.
  const sysBytes = u32(kernel, HDR_SYSSIZE) * 16;
  if (sysBytes === 0) throw new Error('kernel setup header is malformed: syssize is 0');
  if (kernelSize + 15 < sysBytes)
    throw new Error(
      `kernel file is truncated: the protected-mode kernel should be ${sysBytes} bytes (syssize), but only ${kernelSize} follow the setup code`,
    );

  const loadflags = kernel[HDR_LOADFLAGS]!;
  if (!(loadflags & LOADED_HIGH))
    throw new Error('kernel is a zImage that loads at 0x10000 (LOADED_HIGH not set); only bzImage kernels are supported');

  const relocatable = kernel[HDR_RELOCATABLE_KERNEL]! !== 0;
  const kernelAlignment = u32(kernel, HDR_KERNEL_ALIGNMENT);
  if (relocatable && (kernelAlignment === 0 || (kernelAlignment & (kernelAlignment - 1)) !== 0))
    throw new Error(`kernel setup header is malformed: kernel_alignment ${hex(kernelAlignment)} is not a power of two`);

  const xloadflags = protocol >= 0x20c ? u16(kernel, HDR_XLOADFLAGS) : 0;
  // Every x86-64 bzImage sets XLF_KERNEL_64; its 32-bit entry would only stop at "requires an x86-64 CPU".
  if (xloadflags & XLF_KERNEL_64)
    throw new Error('kernel is a 64-bit (x86-64) kernel; Hostbox emulates a 32-bit PC: use an i386 kernel such as Debian\'s 686 flavour');

  const has210 = protocol >= 0x20a && headerEnd >= HDR_INIT_SIZE + 4;
  const prefHigh = has210 ? u32(kernel, HDR_PREF_ADDRESS + 4) : 0;
  if (prefHigh !== 0) throw new Error('kernel wants to be loaded above 4 GiB (pref_address); a 32-bit machine cannot');

  const kvOff = u16(kernel, HDR_KERNEL_VERSION);
  let version = '';
  if (kvOff !== 0) {
    const start = kvOff + 0x200;
    let end = start;
    while (end < kernel.length && end < start + 256 && kernel[end] !== 0) end++;
    if (start < kernel.length) version = String.fromCharCode(...kernel.subarray(start, end));
  }

  return {
    protocol,
    setupSects,
    setupSize,
    kernelSize,
    loadflags,
    code32Start: u32(kernel, HDR_CODE32_START),
    initrdAddrMax: u32(kernel, HDR_INITRD_ADDR_MAX),
    kernelAlignment,
    relocatable,
    xloadflags,
    cmdlineSize: u32(kernel, HDR_CMDLINE_SIZE),
    prefAddress: has210 ? u32(kernel, HDR_PREF_ADDRESS) : 0,
    initSize: has210 ? u32(kernel, HDR_INIT_SIZE) : 0,
    headerEnd,
    version,
  };
}

/** The PC memory map the kernel is given: low RAM, the BIOS hole, RAM above 1 MiB, the ACPI tables. */
export function buildE820(ramSize: number, acpi?: AcpiPlacement): E820Entry[] {
  const map: E820Entry[] = [
    { addr: 0, size: LOW_RAM_END, type: E820_RAM },
    // EBDA, VGA memory, option ROMs and the BIOS (the RSDP lives here too).
    { addr: LOW_RAM_END, size: 0x100000 - LOW_RAM_END, type: E820_RESERVED },
  ];
  const top = acpi ? acpi.reservedStart : ramSize;
  map.push({ addr: 0x100000, size: top - 0x100000, type: E820_RAM });
  if (acpi) map.push({ addr: acpi.reservedStart, size: acpi.reservedEnd - acpi.reservedStart, type: E820_ACPI });
  // I/O APIC, local APIC and the BIOS flash alias: keeps PCI BARs away from them.
  map.push({ addr: 0xfec00000, size: 0x100000000 - 0xfec00000, type: E820_RESERVED });
  return map;
}

/**
 * Loads a bzImage (and optionally an initrd and a command line) into guest RAM and returns the CPU
 * state to start in. Throws an Error naming the problem when the kernel or the initrd is unusable.
 */
export function loadLinux(mem: PhysicalMemory, kernel: Uint8Array, opts: LinuxBootOptions = {}): BootEntry {
  const hdr = parseBzImage(kernel);
  const acpi = opts.acpi;
  if (acpi) {
    if (
      acpi.reservedStart < 0x100000 ||
      acpi.reservedEnd > mem.size ||
      acpi.reservedEnd <= acpi.reservedStart ||
      acpi.reservedStart % 4096 !== 0
    )
      throw new Error(`ACPI tables area ${hex(acpi.reservedStart)}-${hex(acpi.reservedEnd)} is not page-aligned RAM above 1 MiB`);
  }
  // RAM the kernel may use freely: everything above 1 MiB below the ACPI tables.
  const ramTop = acpi ? acpi.reservedStart : mem.size;

  // Command line: NUL-terminated bytes, at most cmdline_size of them before the NUL.
  const cmdline = new TextEncoder().encode(opts.cmdline ?? '');
  if (cmdline.includes(0)) throw new Error('kernel command line contains a NUL character');
  if (cmdline.length > hdr.cmdlineSize)
    throw new Error(`kernel command line is ${cmdline.length} bytes; this kernel accepts at most ${hdr.cmdlineSize}`);
  if (CMDLINE_ADDR + cmdline.length + 1 > CMDLINE_AREA_END)
    throw new Error(`kernel command line is ${cmdline.length} bytes; Hostbox has room for ${CMDLINE_AREA_END - CMDLINE_ADDR - 1}`);

  // Where the protected-mode part goes, and where the kernel will run once it has decompressed
  // itself (init_size bytes from the runtime start must be RAM; boot.rst, "init_size").
  const pmEnd = (load: number): number => load + hdr.kernelSize;
  let load = HIGH_LOAD_ADDR;
  const pref = hdr.prefAddress;
  if (hdr.relocatable && pref >= HIGH_LOAD_ADDR && pref % hdr.kernelAlignment === 0) {
    const end = Math.max(pmEnd(pref), pref + hdr.initSize);
    if (end <= ramTop) load = pref;
  }
  let runtime: number;
  if (hdr.relocatable) {
    const base = Math.max(load, pref);
    runtime = Math.ceil(base / hdr.kernelAlignment) * hdr.kernelAlignment;
  } else {
    runtime = pref || HIGH_LOAD_ADDR;
  }
  const kernelEnd = Math.max(pmEnd(load), runtime + hdr.initSize);
  if (kernelEnd > ramTop)
    throw new Error(
      `kernel does not fit in guest RAM: it needs memory up to ${hex(kernelEnd)} (${mib(kernelEnd)}) ` +
        `but usable RAM ends at ${hex(ramTop)} (${mib(ramTop)}); give the VM more memory`,
    );

  // Initrd: as high as it may go, page-aligned, never below the kernel's decompression area.
  let initrdAddr = 0;
  const initrd = opts.initrd && opts.initrd.length > 0 ? opts.initrd : undefined;
  if (initrd) {
    const limit = Math.min(hdr.initrdAddrMax + 1, ramTop);
    initrdAddr = Math.floor((limit - initrd.length) / 4096) * 4096;
    if (initrdAddr < kernelEnd)
      throw new Error(
        `initrd (${mib(initrd.length)}) does not fit: it must lie between the kernel's end at ${hex(kernelEnd)} ` +
          `and ${hex(limit)} (the lower of initrd_addr_max ${hex(hdr.initrdAddrMax)} and the top of usable RAM); ` +
          'give the VM more memory',
      );
  }

  const u8 = mem.u8;
  u8.set(kernel.subarray(hdr.setupSize), load);
  if (initrd) u8.set(initrd, initrdAddr);
  u8.set(cmdline, CMDLINE_ADDR);
  u8[CMDLINE_ADDR + cmdline.length] = 0;

  // boot_params: zeroed, then the kernel's own setup header at 0x1f1, then what the loader fills in.
  const zp = new Uint8Array(4096);
  const dv = new DataView(zp.buffer);
  zp.set(kernel.subarray(HDR_SETUP_SECTS, hdr.headerEnd), HDR_SETUP_SECTS);
  zp[HDR_TYPE_OF_LOADER] = 0xff;
  zp[HDR_LOADFLAGS] = hdr.loadflags | CAN_USE_HEAP;
  dv.setUint16(HDR_HEAP_END_PTR, 0xfe00, true);
  dv.setUint32(HDR_CODE32_START, load, true);
  dv.setUint32(HDR_CMD_LINE_PTR, CMDLINE_ADDR, true);
  dv.setUint32(HDR_RAMDISK_IMAGE, initrdAddr, true);
  dv.setUint32(HDR_RAMDISK_SIZE, initrd ? initrd.length : 0, true);

  // screen_info: an 80x25 colour text mode on a VGA, cursor at the top left. ega_bx = 3 is what a VGA
  // BIOS reports for INT 10h AH=12h BL=10h (colour, 256 KiB); 0x10 in its low byte would mean CGA.
  const extKib = Math.floor((ramTop - 0x100000) / 1024);
  dv.setUint16(BP_SCREEN_INFO + 0x02, Math.min(extKib, 0xffff), true); // ext_mem_k
  zp[BP_SCREEN_INFO + 0x06] = 3; // orig_video_mode
  zp[BP_SCREEN_INFO + 0x07] = 80; // orig_video_cols
  dv.setUint16(BP_SCREEN_INFO + 0x0a, 3, true); // orig_video_ega_bx
  zp[BP_SCREEN_INFO + 0x0e] = 25; // orig_video_lines
  zp[BP_SCREEN_INFO + 0x0f] = 1; // orig_video_isVGA
  dv.setUint16(BP_SCREEN_INFO + 0x10, 16, true); // orig_video_points
  dv.setUint32(BP_ALT_MEM_K, extKib, true);

  if (acpi && hdr.protocol >= 0x20e) {
    dv.setUint32(BP_ACPI_RSDP_ADDR, acpi.rsdp, true);
    dv.setUint32(BP_ACPI_RSDP_ADDR + 4, 0, true);
  }

  const e820 = buildE820(mem.size, acpi);
  if (e820.length > E820_MAX_ENTRIES) throw new Error('e820 map has too many entries');
  zp[BP_E820_ENTRIES] = e820.length;
  e820.forEach((e, i) => {
    const o = BP_E820_TABLE + i * 20;
    dv.setUint32(o, e.addr >>> 0, true);
    dv.setUint32(o + 4, Math.floor(e.addr / 0x100000000), true);
    dv.setUint32(o + 8, e.size >>> 0, true);
    dv.setUint32(o + 12, Math.floor(e.size / 0x100000000), true);
    dv.setUint32(o + 16, e.type, true);
  });
  u8.set(zp, ZERO_PAGE_ADDR);

  writeBootGdt(mem, BOOT_GDT_ADDR);

  return { eip: load, esi: ZERO_PAGE_ADDR, gdt: { base: BOOT_GDT_ADDR, limit: 31 }, cs: BOOT_CS, ds: BOOT_DS };
}

/** A GDT of 32 bytes at `addr`: two null slots, so the flat descriptors sit at BOOT_CS and BOOT_DS. */
export function writeBootGdt(mem: PhysicalMemory, addr: number): void {
  const gdt = new DataView(mem.u8.buffer, mem.u8.byteOffset + addr, 32);
  gdt.setBigUint64(0, 0n, true);
  gdt.setBigUint64(8, 0n, true);
  gdt.setBigUint64(BOOT_CS, 0x00cf9a000000ffffn, true); // base 0, limit 4 GiB, G, D, present, code r/x
  gdt.setBigUint64(BOOT_DS, 0x00cf92000000ffffn, true); // base 0, limit 4 GiB, G, B, present, data r/w
}
