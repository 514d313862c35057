// A stand-in for the CPU in FPU tests: flat little-endian memory (the segment is ignored), EFLAGS
// for FCMOVcc/FCOMI, and a math fault that throws a marker the test can catch.

import { Fpu, type FpuContext, type FpuHost } from './fpu.ts';

export class MathFault extends Error {
  constructor() {
    super('#MF');
  }
}

export class TestHost implements FpuHost {
  readonly mem: Uint8Array;
  flags = 0x202;
  faults = 0;
  selector?: (seg: number) => number;
  constructor(size = 4096) {
    this.mem = new Uint8Array(size);
  }
  read8(_seg: number, off: number): number {
    return this.mem[off]!;
  }
  read16(_seg: number, off: number): number {
    return this.mem[off]! | (this.mem[off + 1]! << 8);
  }
  read32(_seg: number, off: number): number {
    return this.mem[off]! | (this.mem[off + 1]! << 8) | (this.mem[off + 2]! << 16) | (this.mem[off + 3]! << 24);
  }
  write8(_seg: number, off: number, v: number): void {
    this.mem[off] = v;
  }
  write16(_seg: number, off: number, v: number): void {
    this.mem[off] = v;
    this.mem[off + 1] = v >> 8;
  }
  write32(_seg: number, off: number, v: number): void {
    this.mem[off] = v;
    this.mem[off + 1] = v >> 8;
    this.mem[off + 2] = v >> 16;
    this.mem[off + 3] = v >> 24;
  }
  setComparisonFlags(zf: boolean, pf: boolean, cf: boolean): void {
    this.flags = (this.flags & ~0x8d5) | (zf ? 0x40 : 0) | (pf ? 0x04 : 0) | (cf ? 0x01 : 0);
  }
  eflags(): number {
    return this.flags;
  }
  mathFault(): never {
    this.faults++;
    throw new MathFault();
  }
}

export const PM32: FpuContext = { opsize32: true, protectedMode: true, cs: 0x08, eip: 0x1000 };

/** Runs one instruction given as bytes [esc, modrm] with its memory operand at `off`. */
export function run(fpu: Fpu, esc: number, modrm: number, off = 0x200, ctx: FpuContext = PM32): void {
  fpu.execute(esc, modrm, 3, off, ctx);
}
