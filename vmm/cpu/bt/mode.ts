// The mode key: what a translation may take as fixed (the paper's partial evaluation). A translation
// made for one key is used only while the CPU's key is the same; when the facts change, another
// translation is made or looked up. CS base and limit are checked beside the key.
//
// bits 0-5: segment s (ES CS SS DS FS GS) is flat: base 0, offsets 0-0xFFFFFFFF readable and
//           writable, so its accesses need neither a base nor a limit check
// bit 6:    CS.D (32-bit code)      bit 7: SS.B (ESP is the stack pointer)
// bits 8-9: CPL                     bit 10: protected mode   bit 11: virtual-8086 mode

export interface ModeFacts {
  readonly key: number;
  readonly flat: number;
  readonly csD: boolean;
  readonly ssB: boolean;
  readonly cpl: number;
  readonly csBase: number;
  readonly csLimit: number;
}

/** Bits 0-5: which segments are flat. */
export const KEY_SEGMENTS = 0x3f;
export const KEY_CSD = 1 << 6;
export const KEY_SSB = 1 << 7;
export const KEY_PE = 1 << 10;
export const KEY_VM = 1 << 11;

export function modeKey(flat: number, csD: boolean, ssB: boolean, cpl: number, pe: boolean, vm: boolean): number {
  return (flat & 0x3f) | (csD ? KEY_CSD : 0) | (ssB ? KEY_SSB : 0) | (cpl << 8) | (pe ? KEY_PE : 0) | (vm ? KEY_VM : 0);
}

export function factsOf(key: number, csBase: number, csLimit: number): ModeFacts {
  return { key, flat: key & 0x3f, csD: (key & KEY_CSD) !== 0, ssB: (key & KEY_SSB) !== 0, cpl: (key >> 8) & 3, csBase, csLimit };
}

/** A readable description of a key, for dumps and divergence reports. */
export function describeKey(key: number): string {
  const segs = ['ES', 'CS', 'SS', 'DS', 'FS', 'GS'].filter((_, s) => key & (1 << s));
  const mode = key & KEY_VM ? 'v86' : key & KEY_PE ? 'protected' : 'real';
  return `${mode} cpl${(key >> 8) & 3} code${key & KEY_CSD ? 32 : 16} stack${key & KEY_SSB ? 32 : 16} flat:${segs.join(',') || '-'}`;
}
