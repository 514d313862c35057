// Memory type range registers of a P6 (SDM vol. 3 §11.11): IA32_MTRRCAP, the eleven fixed-range
// MSRs below 1 MiB, eight variable ranges (PHYSBASEn/PHYSMASKn) and IA32_MTRR_DEF_TYPE. Hostbox does
// not model caches, so the types only have to read back as written; what matters to a guest is that
// the registers exist, hold what it wrote, and refuse with #GP what the SDM says they refuse
// (reserved bits, and memory types that do not exist), because Linux and SeaBIOS program and then
// check them.

/** MTRRcap: 8 variable ranges (VCNT), fixed ranges (FIX), write-combining (WC); no SMRR. */
export const MTRRCAP = 0x508n;
export const MSR_MTRRCAP = 0xfe;
export const MSR_MTRR_PHYSBASE0 = 0x200;
export const MSR_MTRR_DEF_TYPE = 0x2ff;
const VARIABLE = 8;
/** The fixed-range MSRs in the order of the address ranges they cover (64K, 2 x 16K, 8 x 4K). */
export const FIXED_MSRS = [0x250, 0x258, 0x259, 0x268, 0x269, 0x26a, 0x26b, 0x26c, 0x26d, 0x26e, 0x26f] as const;

/** Physical-address width (MAXPHYADDR) of a P6: 36 bits, so bits 36-63 of the range MSRs are reserved. */
const PHYS_MASK = (1n << 36n) - 1n;
const BASE_VALID = PHYS_MASK & ~0xfffn | 0xffn; // PHYSBASE: type in 7:0, base in 35:12
const MASK_VALID = PHYS_MASK & ~0xfffn | 0x800n; // PHYSMASK: valid bit 11, mask in 35:12
const DEF_VALID = 0xcffn; // DEF_TYPE: type in 7:0, FE bit 10, E bit 11

export const enum MemType {
  UC = 0,
  WC = 1,
  WT = 4,
  WP = 5,
  WB = 6,
}

/** UC, WC, WT, WP and WB; 2, 3 and 7-255 are reserved encodings (#GP when written). */
function validType(t: number): boolean {
  return t === 0 || t === 1 || (t >= 4 && t <= 6);
}

export class Mtrrs {
  readonly fixed = new Array<bigint>(FIXED_MSRS.length).fill(0n);
  readonly base = new Array<bigint>(VARIABLE).fill(0n);
  readonly mask = new Array<bigint>(VARIABLE).fill(0n);
  defType = 0n;

  /** Power-on: MTRRs disabled (DEF_TYPE 0); the SDM leaves the ranges undefined, zero here. */
  reset(): void {
    this.fixed.fill(0n);
    this.base.fill(0n);
    this.mask.fill(0n);
    this.defType = 0n;
  }

  /** The MSR's value, or undefined when `index` is not an MTRR. */
  read(index: number): bigint | undefined {
    if (index === MSR_MTRRCAP) return MTRRCAP;
    if (index === MSR_MTRR_DEF_TYPE) return this.defType;
    const f = FIXED_MSRS.indexOf(index as (typeof FIXED_MSRS)[number]);
    if (f >= 0) return this.fixed[f]!;
    const v = index - MSR_MTRR_PHYSBASE0;
    if (v >= 0 && v < 2 * VARIABLE) return v & 1 ? this.mask[v >> 1]! : this.base[v >> 1]!;
    return undefined;
  }

  /**
   * Writes an MTRR: 'ok', 'gp' for a value the SDM refuses (reserved bits, reserved memory types,
   * any write to the read-only MTRRcap), or 'none' when `index` is not an MTRR.
   */
  write(index: number, value: bigint): 'ok' | 'gp' | 'none' {
    if (index === MSR_MTRRCAP) return 'gp';
    if (index === MSR_MTRR_DEF_TYPE) {
      if (value & ~DEF_VALID || !validType(Number(value & 0xffn))) return 'gp';
      this.defType = value;
      return 'ok';
    }
    const f = FIXED_MSRS.indexOf(index as (typeof FIXED_MSRS)[number]);
    if (f >= 0) {
      // Eight type fields, one per byte.
      for (let b = 0n; b < 64n; b += 8n) if (!validType(Number((value >> b) & 0xffn))) return 'gp';
      this.fixed[f] = value;
      return 'ok';
    }
    const v = index - MSR_MTRR_PHYSBASE0;
    if (v >= 0 && v < 2 * VARIABLE) {
      if (v & 1) {
        if (value & ~MASK_VALID) return 'gp';
        this.mask[v >> 1] = value;
      } else {
        if (value & ~BASE_VALID || !validType(Number(value & 0xffn))) return 'gp';
        this.base[v >> 1] = value;
      }
      return 'ok';
    }
    return 'none';
  }
}

/**
 * What SeaBIOS leaves in the MTRRs on QEMU's PC, for guests booted without a BIOS (direct kernel
 * load): RAM below 640 KiB write-back, the VGA window uncached, the ROMs write-protected, the PCI
 * hole from 3.5 GiB uncached by variable range 0, everything else write-back by default.
 */
export function programMtrrsAsFirmware(m: Mtrrs, ramBytes: number): void {
  const bytes = (f: (i: number) => MemType): bigint => {
    let v = 0n;
    for (let i = 0; i < 8; i++) v |= BigInt(f(i)) << BigInt(8 * i);
    return v;
  };
  m.write(FIXED_MSRS[0], bytes((i) => (ramBytes >= 0x10000 * (i + 1) ? MemType.WB : MemType.UC)));
  m.write(FIXED_MSRS[1], bytes((i) => (ramBytes >= 0x80000 + 0x4000 * (i + 1) ? MemType.WB : MemType.UC)));
  m.write(FIXED_MSRS[2], 0n);
  for (let j = 0; j < 8; j++) m.write(FIXED_MSRS[3 + j]!, bytes(() => MemType.WP));
  for (let i = 0; i < VARIABLE; i++) {
    m.write(MSR_MTRR_PHYSBASE0 + 2 * i, 0n);
    m.write(MSR_MTRR_PHYSBASE0 + 2 * i + 1, 0n);
  }
  const holeSize = 0x20000000n;
  m.write(MSR_MTRR_PHYSBASE0, 0xe0000000n | BigInt(MemType.UC));
  m.write(MSR_MTRR_PHYSBASE0 + 1, (-holeSize & PHYS_MASK) | 0x800n);
  m.write(MSR_MTRR_DEF_TYPE, 0xc00n | BigInt(MemType.WB));
}
