// Shifts and rotates (group 2: C0 C1 D0-D3) and the double shifts SHLD/SHRD (SDM vol. 2). What
// ROL, ROR, SHL, SHR and SAR compute is `shiftOp`, generated from the table the translator also reads
// (gen/integer-table.ts); RCL and RCR are in rotate-carry.ts; here are the operand forms. The count
// is masked to 5 bits; a masked count of zero changes nothing, flags included. RCL/RCR of 8- and
// 16-bit operands rotate through CF modulo 9 and 17. Rotates touch only CF and OF; shifts set SF, ZF
// and PF from the result. OF is defined for one-bit counts; for larger counts the value the P6
// produces is kept: the same formula as for a count of one applied to the final step.
//
// Undefined results, chosen as QEMU and Bochs model the P6:
// - Counts at or above the operand width (8- and 16-bit operands take masked counts up to 31): SHL
//   and SHR give 0 with CF = the last bit shifted out (0 once the count passes the width), SAR gives
//   the sign, ROL/ROR rotate by count mod width but still set CF and OF when that is 0.
// - AF after a shift with a non-zero count is cleared (the SDM: undefined).
// - SHLD/SHRD: 16-bit counts 17-31 shift within dst:src:dst (below); OF for counts above 1 as for
//   shifts, AF cleared.

import type { Cpu } from '../cpu.ts';
import { Imm, type Instr, type OpTable } from '../decode.ts';
import { shiftOp } from './integer-ops.generated.ts';

const MASK = [0xff, 0xffff, -1] as const;
const BITS = [8, 16, 32] as const;

function group2(sz: number, countOf: (cpu: Cpu, i: Instr) => number) {
  return (cpu: Cpu, i: Instr): void => {
    const count = countOf(cpu, i) & 31;
    const op = i.reg;
    if (count === 0) {
      // Still a memory access: a bad operand faults even with a zero count.
      if (i.mod !== 3) cpu.rmwLin(i, 1 << sz);
      return;
    }
    if (i.mod === 3) {
      if (sz === 0) cpu.r8[i.rmb] = shiftOp(cpu, op, cpu.r8[i.rmb]!, count, 0);
      else if (sz === 1) cpu.r16[i.rm << 1] = shiftOp(cpu, op, cpu.r16[i.rm << 1]!, count, 1);
      else cpu.r32[i.rm] = shiftOp(cpu, op, cpu.r32[i.rm]!, count, 2);
      return;
    }
    const lin = cpu.rmwLin(i, 1 << sz);
    if (sz === 0) cpu.writeLin8(lin, shiftOp(cpu, op, cpu.readLin8(lin), count, 0));
    else if (sz === 1) cpu.writeLin16(lin, shiftOp(cpu, op, cpu.readLin16(lin), count, 1));
    else cpu.writeLin32(lin, shiftOp(cpu, op, cpu.readLin32(lin), count, 2));
  };
}

const byImm = (_cpu: Cpu, i: Instr): number => i.imm;
const byOne = (): number => 1;
const byCl = (cpu: Cpu): number => cpu.r8[4]!;

/** SHLD/SHRD of a 16- or 32-bit destination with bits from src. */
function doubleShift(cpu: Cpu, left: boolean, dst: number, src: number, count: number, sz: number): number {
  const bits = BITS[sz]!;
  const m = MASK[sz]!;
  dst &= m;
  src &= m;
  let r: number;
  let cf: boolean;
  if (sz === 1) {
    // 16-bit operands shift within the 48-bit value dst:src:dst (high to low), so counts 17-31,
    // which the SDM leaves undefined, bring dst's own bits back in after src's, as P6 processors do
    // (QEMU and Bochs model the same). For counts up to 16 this is the plain dst:src (SHLD) or
    // src:dst (SHRD) shift. 48-bit values and divisions by powers of two are exact in a double.
    const w48 = dst * 2 ** 32 + src * 65536 + dst;
    if (left) {
      r = Math.floor(w48 / 2 ** (32 - count)) % 65536;
      cf = Math.floor(w48 / 2 ** (48 - count)) % 2 !== 0;
    } else {
      r = Math.floor(w48 / 2 ** count) % 65536;
      cf = Math.floor(w48 / 2 ** (count - 1)) % 2 !== 0;
    }
  } else if (left) {
    r = ((dst << count) | (src >>> (bits - count))) & m;
    cf = ((dst >>> (bits - count)) & 1) !== 0;
  } else {
    r = ((dst >>> count) | (src << (bits - count))) & m;
    cf = ((dst >>> (count - 1)) & 1) !== 0;
  }
  const sign = bits - 1;
  cpu.setResultFlags(r, sz, cf, ((r ^ dst) >>> sign & 1) !== 0);
  return r;
}

function shxd(left: boolean, countOf: (cpu: Cpu, i: Instr) => number) {
  const run = (sz: number) => (cpu: Cpu, i: Instr): void => {
    const count = countOf(cpu, i) & 31;
    const src = sz === 1 ? cpu.r16[i.reg << 1]! : cpu.r32[i.reg]!;
    if (count === 0) {
      if (i.mod !== 3) cpu.rmwLin(i, 1 << sz);
      return;
    }
    if (i.mod === 3) {
      if (sz === 1) cpu.r16[i.rm << 1] = doubleShift(cpu, left, cpu.r16[i.rm << 1]!, src, count, 1);
      else cpu.r32[i.rm] = doubleShift(cpu, left, cpu.r32[i.rm]!, src, count, 2);
      return;
    }
    const lin = cpu.rmwLin(i, 1 << sz);
    if (sz === 1) cpu.writeLin16(lin, doubleShift(cpu, left, cpu.readLin16(lin), src, count, 1));
    else cpu.writeLin32(lin, doubleShift(cpu, left, cpu.readLin32(lin), src, count, 2));
  };
  return { h16: run(1), h32: run(2) };
}

export function registerShift(t: OpTable): void {
  const names = ['rol', 'ror', 'rcl', 'rcr', 'shl', 'shr', 'sal', 'sar'];
  for (let r = 0; r < 8; r++) {
    const n = names[r]!;
    t.defineGroup(0xc0, r, { name: `${n}_EbIb`, imm: Imm.Ib, h: group2(0, byImm) });
    t.defineGroup(0xc1, r, { name: `${n}_EvIb`, imm: Imm.Ib, h16: group2(1, byImm), h32: group2(2, byImm) });
    t.defineGroup(0xd0, r, { name: `${n}_Eb1`, h: group2(0, byOne) });
    t.defineGroup(0xd1, r, { name: `${n}_Ev1`, h16: group2(1, byOne), h32: group2(2, byOne) });
    t.defineGroup(0xd2, r, { name: `${n}_EbCL`, h: group2(0, byCl) });
    t.defineGroup(0xd3, r, { name: `${n}_EvCL`, h16: group2(1, byCl), h32: group2(2, byCl) });
  }
  t.define(0x0fa4, { name: 'shld_EvGvIb', modrm: true, imm: Imm.Ib, ...shxd(true, byImm) });
  t.define(0x0fa5, { name: 'shld_EvGvCL', modrm: true, ...shxd(true, byCl) });
  t.define(0x0fac, { name: 'shrd_EvGvIb', modrm: true, imm: Imm.Ib, ...shxd(false, byImm) });
  t.define(0x0fad, { name: 'shrd_EvGvCL', modrm: true, ...shxd(false, byCl) });
}
