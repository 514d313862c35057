// Protection instructions: far transfers (far.ts), PUSHF/POPF with their IOPL and v86 rules, the
// descriptor queries ARPL, LAR, LSL, VERR and VERW, and SYSENTER/SYSEXIT (SDM vol. 2 "Operation"
// sections; vol. 3 §5.10 for the pointer-validation instructions, §20.2.7 for v86 sensitivity).

import type { Cpu } from '../cpu.ts';
import { CS, Imm, SS, type Instr, type OpTable } from '../decode.ts';
import { AC, AF, CF, DF, ID, IF, IOPL, NT, OF, PF, RF, SF, TF, VM, ZF } from '../flags.ts';
import { ECX, EDX, ESP } from '../regs.ts';
import { desc, descDpl, descIsCodeData, descLimit, descType, readDescriptor, setSegmentCache } from '../segments.ts';
import { callAp, callMp, iretHandler, jmpAp, jmpMp, retf } from './far.ts';

// ---------------------------------------------------------------- PUSHF / POPF

function pushf(cpu: Cpu, i: Instr): void {
  if (cpu.v86 && cpu.iopl < 3) cpu.raiseGP(0);
  // The image never shows VM or RF (SDM vol. 2 PUSHF).
  const f = cpu.getFlags() & ~(VM | RF);
  if (i.o32) cpu.push32(f);
  else cpu.push16(f & 0xffff);
}

/** The EFLAGS bits POPF may change at the current privilege (SDM vol. 2 POPF). */
export function popfMask(cpu: Cpu, o32: boolean): number {
  let mask = CF | PF | AF | ZF | SF | TF | DF | OF | NT;
  if (o32) mask |= AC | ID;
  if (!cpu.protectedMode || (!cpu.v86 && cpu.cpl === 0)) mask |= IOPL | IF;
  else if (cpu.v86 || cpu.cpl <= cpu.iopl) mask |= IF;
  return o32 ? mask : mask & 0xffff;
}

function popf(cpu: Cpu, i: Instr): void {
  if (cpu.v86 && cpu.iopl < 3) cpu.raiseGP(0);
  const v = i.o32 ? cpu.peek32(0) : cpu.peek16(0);
  const mask = popfMask(cpu, i.o32);
  let f = (cpu.getFlags() & ~mask) | (v & mask);
  if (i.o32) f &= ~RF;
  cpu.adjustSp(i.o32 ? 4 : 2);
  cpu.setFlags(f);
}

// ---------------------------------------------------------------- ARPL, LAR, LSL, VERR, VERW

function setZf(cpu: Cpu, on: boolean): void {
  cpu.materialize(ZF);
  if (on) cpu.flagsRaw |= ZF;
  else cpu.flagsRaw &= ~ZF;
}

function requireProtected(cpu: Cpu): void {
  if (!cpu.protectedMode || cpu.v86) cpu.raiseUD();
}

function arpl(cpu: Cpu, i: Instr): void {
  requireProtected(cpu);
  const src = cpu.r16[i.reg << 1]!;
  if (i.mod === 3) {
    const dst = cpu.r16[i.rm << 1]!;
    if ((dst & 3) < (src & 3)) {
      cpu.r16[i.rm << 1] = (dst & ~3) | (src & 3);
      setZf(cpu, true);
    } else setZf(cpu, false);
    return;
  }
  // A read, then a write only when the RPL changes: a destination in a read-only segment (or page)
  // faults only then. The 386 does this (test386.asm's ARPL test, checked against a 386SX, leaves
  // such a selector unchanged without a fault); Bochs checks for a write first and faults.
  const off = cpu.ea(i);
  const dst = cpu.read16(i.seg, off);
  if ((dst & 3) < (src & 3)) {
    cpu.write16(i.seg, off, (dst & ~3) | (src & 3));
    setZf(cpu, true);
  } else setZf(cpu, false);
}

/**
 * Reads the descriptor a query instruction names and applies the visibility rule: it must exist,
 * be of an allowed system type (or any code/data), and a non-conforming one must satisfy
 * DPL >= CPL and DPL >= RPL. Returns false when ZF is to be cleared.
 */
function visible(cpu: Cpu, sel: number, systemTypes: number): boolean {
  if ((sel & 0xfffc) === 0 || !readDescriptor(cpu, sel)) return false;
  const hi = desc.hi;
  const dpl = descDpl(hi);
  if (descIsCodeData(hi)) {
    const conformingCode = (descType(hi) & 0xc) === 0xc;
    return conformingCode || (dpl >= cpu.cpl && dpl >= (sel & 3));
  }
  if (!((systemTypes >> descType(hi)) & 1)) return false;
  return dpl >= cpu.cpl && dpl >= (sel & 3);
}

// System types LAR reports: TSSs (available, busy), LDT, call and task gates. LSL: those with a limit.
const LAR_TYPES = (1 << 1) | (1 << 2) | (1 << 3) | (1 << 4) | (1 << 5) | (1 << 9) | (1 << 0xb) | (1 << 0xc);
const LSL_TYPES = (1 << 1) | (1 << 2) | (1 << 3) | (1 << 9) | (1 << 0xb);

function lar(cpu: Cpu, i: Instr): void {
  requireProtected(cpu);
  const sel = cpu.readE16(i);
  if (!visible(cpu, sel, LAR_TYPES)) {
    setZf(cpu, false);
    return;
  }
  const ar = desc.hi & 0x00f0ff00;
  if (i.o32) cpu.r32[i.reg] = ar;
  else cpu.r16[i.reg << 1] = ar & 0xffff;
  setZf(cpu, true);
}

function lsl(cpu: Cpu, i: Instr): void {
  requireProtected(cpu);
  const sel = cpu.readE16(i);
  if (!visible(cpu, sel, LSL_TYPES)) {
    setZf(cpu, false);
    return;
  }
  const limit = descLimit(desc.lo, desc.hi);
  if (i.o32) cpu.r32[i.reg] = limit;
  else cpu.r16[i.reg << 1] = limit & 0xffff;
  setZf(cpu, true);
}

function verr(cpu: Cpu, i: Instr): void {
  requireProtected(cpu);
  const sel = cpu.readE16(i);
  let ok = visible(cpu, sel, 0) && descIsCodeData(desc.hi);
  // Code must be readable; conforming readable code passes whatever the privilege.
  if (ok && descType(desc.hi) & 8) ok = (descType(desc.hi) & 2) !== 0;
  setZf(cpu, ok);
}

function verw(cpu: Cpu, i: Instr): void {
  requireProtected(cpu);
  const sel = cpu.readE16(i);
  const ok = visible(cpu, sel, 0) && descIsCodeData(desc.hi) && (descType(desc.hi) & 0xa) === 2;
  setZf(cpu, ok);
}

// ---------------------------------------------------------------- SYSENTER / SYSEXIT

/** Flat 4 GiB segments: code (type B) and data (type 3), 32-bit, page granular, present. */
function flat(cpu: Cpu, s: number, sel: number, dpl: number, code: boolean): void {
  setSegmentCache(cpu, s, sel, 0, 0xffffffff, 0xc090 | (dpl << 5) | (code ? 0xb : 0x3));
}

function sysenter(cpu: Cpu): void {
  if (!cpu.protectedMode || (cpu.sysenterCs & 0xfffc) === 0) cpu.raiseGP(0);
  cpu.setFlags(cpu.getFlags() & ~(VM | IF | RF));
  const cs = cpu.sysenterCs & 0xfffc;
  flat(cpu, CS, cs, 0, true);
  flat(cpu, SS, (cs + 8) & 0xffff, 0, false);
  cpu.r32[ESP] = cpu.sysenterEsp;
  cpu.eip = cpu.sysenterEip;
  cpu.brk = true;
}

function sysexit(cpu: Cpu): void {
  if (!cpu.protectedMode || cpu.v86 || cpu.cpl !== 0 || (cpu.sysenterCs & 0xfffc) === 0) cpu.raiseGP(0);
  const cs = cpu.sysenterCs & 0xfffc;
  flat(cpu, CS, ((cs + 16) & 0xffff) | 3, 3, true);
  flat(cpu, SS, ((cs + 24) & 0xffff) | 3, 3, false);
  cpu.r32[ESP] = cpu.r32[ECX]!;
  cpu.eip = cpu.r32[EDX]!;
  cpu.brk = true;
}

export function registerProtection(t: OpTable): void {
  t.define(0xea, { name: 'jmp_Ap', imm: Imm.Ap, h: jmpAp, flow: true });
  t.define(0x9a, { name: 'call_Ap', imm: Imm.Ap, h: callAp, flow: true });
  t.defineGroup(0xff, 3, { name: 'call_Mp', h: callMp, flow: true });
  t.defineGroup(0xff, 5, { name: 'jmp_Mp', h: jmpMp, flow: true });
  t.define(0xcb, { name: 'retf', h: retf, flow: true });
  t.define(0xca, { name: 'retf_Iw', imm: Imm.Iw, h: retf, flow: true });
  t.define(0xcf, { name: 'iret', h: iretHandler, flow: true });
  t.define(0x9c, { name: 'pushf', h: pushf });
  // POPF may set TF or IF: the run loop must look again before the next instruction.
  t.define(0x9d, { name: 'popf', h: popf, flow: true });
  t.define(0x63, { name: 'arpl_EwGw', modrm: true, h: arpl });
  t.define(0x0f02, { name: 'lar_GvEw', modrm: true, h: lar });
  t.define(0x0f03, { name: 'lsl_GvEw', modrm: true, h: lsl });
  t.defineGroup(0x0f00, 4, { name: 'verr_Ew', h: verr });
  t.defineGroup(0x0f00, 5, { name: 'verw_Ew', h: verw });
  t.define(0x0f34, { name: 'sysenter', h: sysenter, flow: true });
  t.define(0x0f35, { name: 'sysexit', h: sysexit, flow: true });
}
