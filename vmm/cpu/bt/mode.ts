// The mode key: what a translation may take as fixed (the paper's partial evaluation). A translation
// made for one key is used only while the CPU's key is the same; when the facts change, another
// translation is made or looked up. CS base and limit are checked beside the key.
//
// bits 0-5: segment s (ES CS SS DS FS GS) is flat: base 0, offsets 0-0xFFFFFFFF readable and
//           writable, so its accesses need neither a base nor a limit check
// bit 6:    CS.D (32-bit code)      bit 7: SS.B (ESP is the stack pointer)
// bits 8-9: CPL                     bit 10: protected mode   bit 11: virtual-8086 mode
// bits 12-17: segment s spans 4 GiB: offsets 0-0xFFFFFFFF readable and writable, any base (a flat
//           segment is one with base 0). Its accesses need no limit check but the offset's wrap
//           past 4 GiB, and the base, read where the access is made, is the current one: Linux's
//           per-CPU FS in the kernel and the TLS GS of i386 programs, whose bases differ by CPU and
//           by thread, are such segments.
// bit 18:   linear addresses are physical ones: paging off and A20 on (a kernel's decompressor, boot
//           loaders, Multiboot kernels before they turn paging on). An access to the RAM that
//           runs unbroken from 1 MiB up (PhysicalMemory.plainSpan) then needs no TLB entry.

export interface ModeFacts {
  readonly key: number;
  readonly flat: number;
  /** Segments that span 4 GiB, flat ones included (bits as in `flat`). */
  readonly wide: number;
  readonly csD: boolean;
  readonly ssB: boolean;
  /** Paging is off and A20 on: a linear address is the physical one (bit 18). */
  readonly identity: boolean;
  readonly cpl: number;
  readonly csBase: number;
  readonly csLimit: number;
}

/** Bits 0-5: which segments are flat. */
export const KEY_SEGMENTS = 0x3f;
/** Bits 12-17: which segments span 4 GiB. */
export const KEY_WIDE_SHIFT = 12;
export const KEY_WIDE = 0x3f << KEY_WIDE_SHIFT;
export const KEY_CSD = 1 << 6;
export const KEY_SSB = 1 << 7;
export const KEY_PE = 1 << 10;
export const KEY_VM = 1 << 11;
export const KEY_IDENTITY = 1 << 18;

export function modeKey(flat: number, wide: number, csD: boolean, ssB: boolean, cpl: number, pe: boolean, vm: boolean, identity: boolean): number {
  return (flat & 0x3f) | ((wide & 0x3f) << KEY_WIDE_SHIFT) | (csD ? KEY_CSD : 0) | (ssB ? KEY_SSB : 0) | (cpl << 8) | (pe ? KEY_PE : 0) | (vm ? KEY_VM : 0) |
    (identity ? KEY_IDENTITY : 0);
}

/**
 * The mask of the key's bits a translation depends on when it addresses memory through segments
 * `segs` alone (bits as in ModeFacts.flat): the other segments' facts are left out, so that the
 * same translation serves whatever the code does not touch (Translation.keyMask).
 */
export function segmentKeyMask(segs: number): number {
  return ~(KEY_SEGMENTS | KEY_WIDE) | segs | (segs << KEY_WIDE_SHIFT);
}

export function factsOf(key: number, csBase: number, csLimit: number): ModeFacts {
  return { key, flat: key & 0x3f, wide: (key >> KEY_WIDE_SHIFT) & 0x3f, csD: (key & KEY_CSD) !== 0, ssB: (key & KEY_SSB) !== 0,
    identity: (key & KEY_IDENTITY) !== 0, cpl: (key >> 8) & 3, csBase, csLimit };
}

/** A readable description of a key, for dumps and divergence reports. */
export function describeKey(key: number): string {
  const names = ['ES', 'CS', 'SS', 'DS', 'FS', 'GS'];
  const segs = names.filter((_, s) => key & (1 << s));
  const wide = names.filter((_, s) => !(key & (1 << s)) && key & (1 << (KEY_WIDE_SHIFT + s)));
  const mode = key & KEY_VM ? 'v86' : key & KEY_PE ? 'protected' : 'real';
  return `${mode} cpl${(key >> 8) & 3} code${key & KEY_CSD ? 32 : 16} stack${key & KEY_SSB ? 32 : 16} flat:${segs.join(',') || '-'}${wide.length ? ` 4G:${wide.join(',')}` : ''}${key & KEY_IDENTITY ? ' linear=physical' : ''}`;
}
