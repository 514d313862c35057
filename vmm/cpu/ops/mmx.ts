// MMX technology (SDM vol. 1 ch. 9, vol. 2 for each instruction): the 47 instructions of the
// Pentium II on the eight 64-bit MM registers, which alias the x87 data registers (fpu.ts, "MMX
// aliasing"). Every MMX instruction first checks, in this order: CR0.EM (#UD), CR0.TS (#NM), a pending
// unmasked x87 exception (#MF); then its memory operand; only then does it change anything, so a
// fault leaves the x87 state (TOP, tags) as it was.
//
// Choices where the manual leaves room or says what the P6 does:
// - Operand-size, REP and REPNE prefixes do not change an MMX instruction on a P6 (they select the
//   SSE2 forms only on later processors); they are ignored.
// - The register forms of PUNPCKL* use the low halves of both registers; the memory forms read 32 bits.
// - Shift counts from a register or memory are the full 64-bit value: anything above the lane width
//   (15, 31, 63) clears the lanes, or fills them with the sign for PSRAW/PSRAD.
// - The immediate-count shifts (0F 71-73) with a memory ModRM are #UD, as are the /0, /1, /3, /5, /7
//   members of those groups and PSRAQ (0F 73 /4), which MMX does not have.

import type { Cpu } from '../cpu.ts';
import { Imm, type Instr, type OpTable } from '../decode.ts';
import { CR0_EM, CR0_TS } from '../regs.ts';
import { Vec } from '../fault.ts';

const M64 = (1n << 64n) - 1n;

/** The checks every MMX instruction makes before anything else. */
function mmxCheck(cpu: Cpu): void {
  if (cpu.cr0 & CR0_EM) cpu.raiseUD();
  if (cpu.cr0 & CR0_TS) cpu.raise(Vec.NM);
  cpu.fpu.wait();
}

function join32(lo: number, hi: number): bigint {
  return (BigInt(hi >>> 0) << 32n) | BigInt(lo >>> 0);
}

/** The source operand: MMrm, or 64 (or 32) bits of memory. */
function srcQ(cpu: Cpu, i: Instr, bytes = 8): bigint {
  if (i.mod === 3) return cpu.fpu.readMm(i.rm);
  const lin = cpu.linR(i.seg, cpu.ea(i), bytes);
  if (bytes === 4) return BigInt(cpu.readLin32(lin) >>> 0);
  return join32(cpu.readLin32(lin), cpu.readLin32((lin + 4) | 0));
}

/** Writes MMreg after the instruction's reads succeeded. */
function setReg(cpu: Cpu, i: Instr, v: bigint): void {
  cpu.fpu.enterMmx();
  cpu.fpu.writeMm(i.reg, v);
}

// ---------------------------------------------------------------- lanes

/** Unsigned lanes of width w (8, 16, 32), lane 0 lowest. */
function lanes(v: bigint, w: number): number[] {
  const lo = Number(v & 0xffffffffn);
  const hi = Number((v >> 32n) & 0xffffffffn);
  if (w === 32) return [lo, hi];
  const per = 32 / w;
  const m = (1 << w) - 1;
  const out = new Array<number>(2 * per);
  for (let k = 0; k < per; k++) {
    out[k] = (lo >>> (k * w)) & m;
    out[k + per] = (hi >>> (k * w)) & m;
  }
  return out;
}

function fromLanes(l: number[], w: number): bigint {
  if (w === 32) return join32(l[0]!, l[1]!);
  const per = 32 / w;
  const m = (1 << w) - 1;
  let lo = 0;
  let hi = 0;
  for (let k = 0; k < per; k++) {
    lo |= (l[k]! & m) << (k * w);
    hi |= (l[k + per]! & m) << (k * w);
  }
  return join32(lo, hi);
}

function signed(x: number, w: number): number {
  return w === 32 ? x | 0 : (x << (32 - w)) >> (32 - w);
}

function satS(x: number, w: number): number {
  const max = 2 ** (w - 1) - 1;
  return x > max ? max : x < -max - 1 ? -max - 1 : x;
}

function satU(x: number, w: number): number {
  const max = 2 ** w - 1;
  return x > max ? max : x < 0 ? 0 : x;
}

/** A lane-wise operation MMreg = f(MMreg lane, source lane). */
function laneOp(w: number, f: (a: number, b: number) => number) {
  return (cpu: Cpu, i: Instr): void => {
    mmxCheck(cpu);
    const b = lanes(srcQ(cpu, i), w);
    const a = lanes(cpu.fpu.readMm(i.reg), w);
    setReg(cpu, i, fromLanes(a.map((x, k) => f(x, b[k]!)), w));
  };
}

function wholeOp(f: (a: bigint, b: bigint) => bigint) {
  return (cpu: Cpu, i: Instr): void => {
    mmxCheck(cpu);
    const b = srcQ(cpu, i);
    setReg(cpu, i, f(cpu.fpu.readMm(i.reg), b) & M64);
  };
}

// ---------------------------------------------------------------- pack and unpack

/** PACKSSWB, PACKSSDW, PACKUSWB: MMreg's lanes then the source's, each narrowed with saturation. */
function pack(w: number, sat: (x: number, w: number) => number) {
  return (cpu: Cpu, i: Instr): void => {
    mmxCheck(cpu);
    const b = lanes(srcQ(cpu, i), w).map((x) => sat(signed(x, w), w / 2));
    const a = lanes(cpu.fpu.readMm(i.reg), w).map((x) => sat(signed(x, w), w / 2));
    setReg(cpu, i, fromLanes([...a, ...b], w / 2));
  };
}

/** PUNPCKL* (high = false) and PUNPCKH*: interleave the low or high halves, MMreg's lane first. */
function unpack(w: number, high: boolean) {
  return (cpu: Cpu, i: Instr): void => {
    mmxCheck(cpu);
    const b = lanes(srcQ(cpu, i, high ? 8 : 4), w);
    const a = lanes(cpu.fpu.readMm(i.reg), w);
    const n = 32 / w;
    const from = high ? n : 0;
    const out: number[] = [];
    for (let k = 0; k < n; k++) out.push(a[from + k]!, b[from + k]!);
    setReg(cpu, i, fromLanes(out, w));
  };
}

// ---------------------------------------------------------------- shifts

type ShiftKind = 'srl' | 'sra' | 'sll';

function shiftLanes(v: bigint, w: number, kind: ShiftKind, count: bigint): bigint {
  if (w === 64) {
    if (count > 63n) return 0n;
    return kind === 'sll' ? (v << count) & M64 : v >> count;
  }
  const big = count > BigInt(w - 1);
  const c = big ? w - 1 : Number(count);
  const l = lanes(v, w).map((x) => {
    if (kind === 'sra') return signed(x, w) >> c;
    if (big) return 0;
    return kind === 'sll' ? x << c : x >>> c;
  });
  return fromLanes(l, w);
}

function shiftBy(w: number, kind: ShiftKind) {
  return (cpu: Cpu, i: Instr): void => {
    mmxCheck(cpu);
    const count = srcQ(cpu, i);
    setReg(cpu, i, shiftLanes(cpu.fpu.readMm(i.reg), w, kind, count));
  };
}

/** 0F 71-73 /n ib: the register is ModRM.rm. */
function shiftImm(w: number, kind: ShiftKind) {
  return (cpu: Cpu, i: Instr): void => {
    if (i.mod !== 3) cpu.raiseUD();
    mmxCheck(cpu);
    const v = shiftLanes(cpu.fpu.readMm(i.rm), w, kind, BigInt(i.imm & 0xff));
    cpu.fpu.enterMmx();
    cpu.fpu.writeMm(i.rm, v);
  };
}

// ---------------------------------------------------------------- moves

function movdToMm(cpu: Cpu, i: Instr): void {
  mmxCheck(cpu);
  setReg(cpu, i, BigInt(cpu.readE32(i) >>> 0));
}

function movdFromMm(cpu: Cpu, i: Instr): void {
  mmxCheck(cpu);
  const v = Number(cpu.fpu.readMm(i.reg) & 0xffffffffn) | 0;
  cpu.writeE32(i, v);
  cpu.fpu.enterMmx();
}

function movqToMm(cpu: Cpu, i: Instr): void {
  mmxCheck(cpu);
  setReg(cpu, i, srcQ(cpu, i));
}

function movqFromMm(cpu: Cpu, i: Instr): void {
  mmxCheck(cpu);
  const v = cpu.fpu.readMm(i.reg);
  if (i.mod === 3) {
    cpu.fpu.enterMmx();
    cpu.fpu.writeMm(i.rm, v);
    return;
  }
  const lin = cpu.linW(i.seg, cpu.ea(i), 8);
  cpu.probeWrite(lin, 8);
  cpu.writeLin32(lin, Number(v & 0xffffffffn) | 0);
  cpu.writeLin32((lin + 4) | 0, Number(v >> 32n) | 0);
  cpu.fpu.enterMmx();
}

function emms(cpu: Cpu): void {
  mmxCheck(cpu);
  cpu.fpu.emms();
}

export function registerMmx(t: OpTable): void {
  const def = (op: number, name: string, h: (cpu: Cpu, i: Instr) => void): void => t.define(op, { name, modrm: true, h });
  def(0x0f60, 'punpcklbw_PqQd', unpack(8, false));
  def(0x0f61, 'punpcklwd_PqQd', unpack(16, false));
  def(0x0f62, 'punpckldq_PqQd', unpack(32, false));
  def(0x0f63, 'packsswb_PqQq', pack(16, satS));
  def(0x0f64, 'pcmpgtb_PqQq', laneOp(8, (a, b) => (signed(a, 8) > signed(b, 8) ? 0xff : 0)));
  def(0x0f65, 'pcmpgtw_PqQq', laneOp(16, (a, b) => (signed(a, 16) > signed(b, 16) ? 0xffff : 0)));
  def(0x0f66, 'pcmpgtd_PqQq', laneOp(32, (a, b) => ((a | 0) > (b | 0) ? -1 : 0)));
  def(0x0f67, 'packuswb_PqQq', pack(16, satU));
  def(0x0f68, 'punpckhbw_PqQq', unpack(8, true));
  def(0x0f69, 'punpckhwd_PqQq', unpack(16, true));
  def(0x0f6a, 'punpckhdq_PqQq', unpack(32, true));
  def(0x0f6b, 'packssdw_PqQq', pack(32, satS));
  def(0x0f6e, 'movd_PqEd', movdToMm);
  def(0x0f6f, 'movq_PqQq', movqToMm);
  const names = ['', '', 'psrl', '', 'psra', '', 'psll', ''];
  for (const [op, w, suffix] of [[0x0f71, 16, 'w'], [0x0f72, 32, 'd'], [0x0f73, 64, 'q']] as const) {
    for (const reg of [2, 4, 6]) {
      if (w === 64 && reg === 4) continue;
      const kind = names[reg]!.slice(1) as ShiftKind;
      t.defineGroup(op, reg, { name: `${names[reg]}${suffix}_NqIb`, imm: Imm.Ib, h: shiftImm(w, kind) });
    }
  }
  def(0x0f74, 'pcmpeqb_PqQq', laneOp(8, (a, b) => (a === b ? 0xff : 0)));
  def(0x0f75, 'pcmpeqw_PqQq', laneOp(16, (a, b) => (a === b ? 0xffff : 0)));
  def(0x0f76, 'pcmpeqd_PqQq', laneOp(32, (a, b) => (a === b ? -1 : 0)));
  t.define(0x0f77, { name: 'emms', h: emms });
  def(0x0f7e, 'movd_EdPq', movdFromMm);
  def(0x0f7f, 'movq_QqPq', movqFromMm);
  def(0x0fd1, 'psrlw_PqQq', shiftBy(16, 'srl'));
  def(0x0fd2, 'psrld_PqQq', shiftBy(32, 'srl'));
  def(0x0fd3, 'psrlq_PqQq', shiftBy(64, 'srl'));
  def(0x0fd5, 'pmullw_PqQq', laneOp(16, (a, b) => Math.imul(a, b)));
  def(0x0fd8, 'psubusb_PqQq', laneOp(8, (a, b) => satU(a - b, 8)));
  def(0x0fd9, 'psubusw_PqQq', laneOp(16, (a, b) => satU(a - b, 16)));
  def(0x0fdb, 'pand_PqQq', wholeOp((a, b) => a & b));
  def(0x0fdc, 'paddusb_PqQq', laneOp(8, (a, b) => satU(a + b, 8)));
  def(0x0fdd, 'paddusw_PqQq', laneOp(16, (a, b) => satU(a + b, 16)));
  def(0x0fdf, 'pandn_PqQq', wholeOp((a, b) => ~a & b));
  def(0x0fe1, 'psraw_PqQq', shiftBy(16, 'sra'));
  def(0x0fe2, 'psrad_PqQq', shiftBy(32, 'sra'));
  def(0x0fe5, 'pmulhw_PqQq', laneOp(16, (a, b) => (signed(a, 16) * signed(b, 16)) >> 16));
  def(0x0fe8, 'psubsb_PqQq', laneOp(8, (a, b) => satS(signed(a, 8) - signed(b, 8), 8)));
  def(0x0fe9, 'psubsw_PqQq', laneOp(16, (a, b) => satS(signed(a, 16) - signed(b, 16), 16)));
  def(0x0feb, 'por_PqQq', wholeOp((a, b) => a | b));
  def(0x0fec, 'paddsb_PqQq', laneOp(8, (a, b) => satS(signed(a, 8) + signed(b, 8), 8)));
  def(0x0fed, 'paddsw_PqQq', laneOp(16, (a, b) => satS(signed(a, 16) + signed(b, 16), 16)));
  def(0x0fef, 'pxor_PqQq', wholeOp((a, b) => a ^ b));
  def(0x0ff1, 'psllw_PqQq', shiftBy(16, 'sll'));
  def(0x0ff2, 'pslld_PqQq', shiftBy(32, 'sll'));
  def(0x0ff3, 'psllq_PqQq', shiftBy(64, 'sll'));
  def(0x0ff5, 'pmaddwd_PqQq', (cpu, i) => {
    mmxCheck(cpu);
    const b = lanes(srcQ(cpu, i), 16).map((x) => signed(x, 16));
    const a = lanes(cpu.fpu.readMm(i.reg), 16).map((x) => signed(x, 16));
    // 0x8000 * 0x8000 twice is the one sum that does not fit: it wraps to 0x80000000, as the SDM says.
    setReg(cpu, i, fromLanes([(a[0]! * b[0]! + a[1]! * b[1]!) | 0, (a[2]! * b[2]! + a[3]! * b[3]!) | 0], 32));
  });
  def(0x0ff8, 'psubb_PqQq', laneOp(8, (a, b) => a - b));
  def(0x0ff9, 'psubw_PqQq', laneOp(16, (a, b) => a - b));
  def(0x0ffa, 'psubd_PqQq', laneOp(32, (a, b) => a - b));
  def(0x0ffc, 'paddb_PqQq', laneOp(8, (a, b) => a + b));
  def(0x0ffd, 'paddw_PqQq', laneOp(16, (a, b) => a + b));
  def(0x0ffe, 'paddd_PqQq', laneOp(32, (a, b) => a + b));
}
