// Far control transfers (SDM vol. 2 "Operation" of JMP, CALL, RET, IRET; vol. 3 §5.8 call gates,
// §6.12 interrupt returns, ch. 7 task switches, §20.2 v86 returns). In real and v86 mode CS loads the
// 8086 way; in protected mode every selector, descriptor, stack frame and page is checked before the
// first register changes, so a fault leaves the state of the faulting instruction.
//
// Choices where the manual leaves room:
// - A 32-bit CALL far pushes CS zero-extended to 32 bits (the P6 writes the full dword).
// - With a 16-bit target SS only SP is replaced; the upper half of ESP keeps its value.
// - Reading call-gate parameters beyond the old stack limit raises #SS(0), as any stack read does.

import type { Cpu } from '../cpu.ts';
import { CS, DS, ES, FS, GS, SS, type Instr } from '../decode.ts';
import {
  AC, AF, CF, DF, FLAGS_FIXED, ID, IF, IOPL, NT, OF, PF, RF, SF, TF, VIF, VIP, VM, ZF,
} from '../flags.ts';
import { Vec } from '../fault.ts';
import { ESP } from '../regs.ts';
import {
  desc, descAr, descBase, descDpl, descIsCodeData, descLimit, descPresent, descType, invalidateSegmentsForCpl,
  loadSegmentReal, readDescriptor, setAccessed, setSegmentCache,
} from '../segments.ts';
import { tssStack } from '../interrupts.ts';
import { taskSwitch, TaskSwitchReason } from '../tasks.ts';

/** A descriptor copied out of the shared `desc` scratch, with where it lives. */
interface Desc {
  lo: number;
  hi: number;
  addr: number;
}

/** Reads the descriptor of `sel`, raising #GP(sel) (or `vec`) when it lies outside its table. */
function fetchDesc(cpu: Cpu, sel: number, vec: number = Vec.GP): Desc {
  if (!readDescriptor(cpu, sel)) cpu.raise(vec, sel & 0xfffc, true);
  return { lo: desc.lo, hi: desc.hi, addr: desc.addr };
}

function isCode(hi: number): boolean {
  return descIsCodeData(hi) && (descType(hi) & 8) !== 0;
}

function isConforming(hi: number): boolean {
  return (descType(hi) & 4) !== 0;
}

/** Writable data segment, the only kind SS may hold. */
function isWritableData(hi: number): boolean {
  return descIsCodeData(hi) && (descType(hi) & 0xa) === 2;
}

function markAccessedAt(cpu: Cpu, d: Desc): void {
  d.hi = setAccessed(cpu, d.addr, d.hi);
}

/**
 * Loads CS from a checked descriptor with RPL = the new CPL. The cached DPL is the CPL too: the CPU
 * derives CPL from it, and a conforming segment's own DPL may be lower than the caller's level.
 */
function commitCs(cpu: Cpu, sel: number, d: Desc, cpl: number): void {
  markAccessedAt(cpu, d);
  const ar = (descAr(d.hi) & ~0x60) | (cpl << 5);
  setSegmentCache(cpu, CS, (sel & 0xfffc) | cpl, descBase(d.lo, d.hi), descLimit(d.lo, d.hi), ar);
}

function commitSs(cpu: Cpu, sel: number, d: Desc): void {
  markAccessedAt(cpu, d);
  setSegmentCache(cpu, SS, sel, descBase(d.lo, d.hi), descLimit(d.lo, d.hi), descAr(d.hi));
}

/** Sets ESP for a stack whose B bit is `big` (a 16-bit stack replaces only SP). */
function setEsp(cpu: Cpu, v: number, big: boolean): void {
  if (big) cpu.r32[ESP] = v;
  else cpu.r32[ESP] = (cpu.r32[ESP]! & ~0xffff) | (v & 0xffff);
}

/** True if [top, top+size) lies inside a stack segment with these rights and limit. */
function stackFits(ar: number, limit: number, top: number, size: number, big: boolean): boolean {
  const lo = top >>> 0;
  const hi = lo + size - 1;
  if ((ar & 0x0c) === 0x04) return lo > limit >>> 0 && hi <= (big ? 0xffffffff : 0xffff);
  return hi <= limit >>> 0;
}

/**
 * Writes `words` (first one at the highest address) below `sp` on a stack at `base`, after probing
 * every page. `user` picks the page rights of the privilege level the frame belongs to.
 */
function writeFrame(cpu: Cpu, base: number, sp: number, big: boolean, w: number, words: number[], user: boolean): number {
  const mask = big ? -1 : 0xffff;
  let p = sp;
  for (let k = 0; k < words.length; k++) {
    p = (p - w) & mask;
    cpu.translate((base + p) | 0, true, user);
    if (w === 4) cpu.translate((base + p + 3) | 0, true, user);
    else cpu.translate((base + p + 1) | 0, true, user);
  }
  p = sp;
  for (const v of words) {
    p = (p - w) & mask;
    const lin = (base + p) | 0;
    if (user) {
      if (w === 4) cpu.writeLin32(lin, v);
      else cpu.writeLin16(lin, v);
    } else if (w === 4) cpu.writeSys32(lin, v);
    else cpu.writeSys16(lin, v);
  }
  return p;
}

/** Pushes onto the current stack as the current CPL, all or nothing. */
function pushFrame(cpu: Cpu, w: number, words: number[]): void {
  const size = w * words.length;
  const top = cpu.pushOffset(size);
  if (!stackFits(cpu.segAr[SS]!, cpu.segLimit[SS]!, top, size, cpu.ssB) || !(cpu.segAr[SS]! & 0x80)) cpu.raiseSS(0);
  const sp = writeFrame(cpu, cpu.segBase[SS]!, cpu.sp, cpu.ssB, w, words, cpu.cpl === 3);
  cpu.setSp(sp);
}

/** Reads a w-byte stack slot at sp + delta. */
function peek(cpu: Cpu, w: number, delta: number): number {
  return w === 4 ? cpu.peek32(delta) : cpu.peek16(delta);
}

// ---------------------------------------------------------------- real and v86 mode

function farReal(cpu: Cpu, sel: number, offset: number, o32: boolean, call: boolean): void {
  const eip = o32 ? offset | 0 : offset & 0xffff;
  // In v86 mode the new CS limit is 64 KiB; real mode keeps the cached limit.
  const limit = cpu.v86 ? 0xffff : cpu.segLimit[CS]!;
  if (eip >>> 0 > limit) cpu.raiseGP(0);
  if (call) pushFrame(cpu, o32 ? 4 : 2, [cpu.sel[CS]!, cpu.eip]);
  loadSegmentReal(cpu, CS, sel);
  cpu.eip = eip;
}

// ---------------------------------------------------------------- JMP/CALL far in protected mode

/** JMP or CALL far to sel:offset: code segment, call gate, task gate or TSS (SDM vol. 2 JMP, CALL). */
export function farTransfer(cpu: Cpu, sel: number, offset: number, o32: boolean, call: boolean): void {
  sel &= 0xffff;
  if (!cpu.protectedMode || cpu.v86) {
    farReal(cpu, sel, offset, o32, call);
    return;
  }
  if ((sel & 0xfffc) === 0) cpu.raiseGP(0);
  const d = fetchDesc(cpu, sel);
  const cpl = cpu.cpl;
  const rpl = sel & 3;
  const dpl = descDpl(d.hi);
  if (descIsCodeData(d.hi)) {
    if (!isCode(d.hi)) cpu.raiseGP(sel & 0xfffc);
    if (isConforming(d.hi) ? dpl > cpl : rpl > cpl || dpl !== cpl) cpu.raiseGP(sel & 0xfffc);
    if (!descPresent(d.hi)) cpu.raiseNP(sel & 0xfffc);
    const eip = o32 ? offset | 0 : offset & 0xffff;
    if (eip >>> 0 > descLimit(d.lo, d.hi)) cpu.raiseGP(0);
    markAccessedAt(cpu, d);
    if (call) pushFrame(cpu, o32 ? 4 : 2, [cpu.sel[CS]!, cpu.eip]);
    commitCs(cpu, sel, d, cpl);
    cpu.eip = eip;
    return;
  }
  const type = descType(d.hi);
  switch (type) {
    case 0x4:
    case 0xc:
      if (dpl < cpl || dpl < rpl) cpu.raiseGP(sel & 0xfffc);
      if (!descPresent(d.hi)) cpu.raiseNP(sel & 0xfffc);
      callGate(cpu, d, call);
      return;
    case 0x5: {
      if (dpl < cpl || dpl < rpl) cpu.raiseGP(sel & 0xfffc);
      if (!descPresent(d.hi)) cpu.raiseNP(sel & 0xfffc);
      taskSwitch(cpu, d.lo >>> 16, call ? TaskSwitchReason.Call : TaskSwitchReason.Jmp, false, 0, 0);
      return;
    }
    case 0x1:
    case 0x9:
      if (dpl < cpl || dpl < rpl) cpu.raiseGP(sel & 0xfffc);
      taskSwitch(cpu, sel, call ? TaskSwitchReason.Call : TaskSwitchReason.Jmp, false, 0, 0);
      return;
    default:
      // Busy TSSs, LDTs, interrupt and trap gates are not targets of JMP or CALL.
      cpu.raiseGP(sel & 0xfffc);
  }
}

/** Through a call gate (SDM vol. 3 §5.8.4-5.8.5), with the stack switch for a more privileged CALL. */
function callGate(cpu: Cpu, gate: Desc, call: boolean): void {
  const gate32 = descType(gate.hi) === 0xc;
  const codeSel = gate.lo >>> 16;
  const offset = gate32 ? (gate.lo & 0xffff) | (gate.hi & 0xffff0000) : gate.lo & 0xffff;
  const cpl = cpu.cpl;
  if ((codeSel & 0xfffc) === 0) cpu.raiseGP(0);
  const c = fetchDesc(cpu, codeSel);
  const dpl = descDpl(c.hi);
  if (!isCode(c.hi)) cpu.raiseGP(codeSel & 0xfffc);
  if (call ? dpl > cpl : isConforming(c.hi) ? dpl > cpl : dpl !== cpl) cpu.raiseGP(codeSel & 0xfffc);
  if (!descPresent(c.hi)) cpu.raiseNP(codeSel & 0xfffc);
  const limit = descLimit(c.lo, c.hi);
  const w = gate32 ? 4 : 2;

  if (call && !isConforming(c.hi) && dpl < cpl) {
    // More privilege: the new stack comes from the TSS, the parameters are copied over.
    const { ss: newSs, esp: newEsp } = tssStack(cpu, dpl, 0);
    if ((newSs & 0xfffc) === 0) cpu.raiseTS(newSs & 0xfffc);
    const s = fetchDesc(cpu, newSs, Vec.TS);
    if ((newSs & 3) !== dpl || descDpl(s.hi) !== dpl || !isWritableData(s.hi)) cpu.raiseTS(newSs & 0xfffc);
    if (!descPresent(s.hi)) cpu.raiseSS(newSs & 0xfffc);
    const count = gate.hi & 0x1f;
    const ssAr = descAr(s.hi);
    const ssBig = (ssAr & 0x4000) !== 0;
    const ssBase = descBase(s.lo, s.hi);
    const ssLimit = descLimit(s.lo, s.hi);
    const frame = (4 + count) * w;
    const sp = ssBig ? newEsp | 0 : newEsp & 0xffff;
    const top = ssBig ? (sp - frame) | 0 : (sp - frame) & 0xffff;
    if (!stackFits(ssAr, ssLimit, top, frame, ssBig)) cpu.raiseSS(newSs & 0xfffc);
    if (offset >>> 0 > limit) cpu.raiseGP(0);
    const words = [cpu.sel[SS]!, w === 4 ? cpu.r32[ESP]! : cpu.r16[ESP << 1]!];
    // Parameter k sits at old ESP + k*w; the last one is pushed first so their order is kept.
    for (let k = count - 1; k >= 0; k--) words.push(peek(cpu, w, k * w));
    words.push(cpu.sel[CS]!, cpu.eip);
    // Accessed bits first: a GDT write that faults must come before any register changes.
    markAccessedAt(cpu, s);
    markAccessedAt(cpu, c);
    const newSp = writeFrame(cpu, ssBase, sp, ssBig, w, words, false);
    commitSs(cpu, (newSs & 0xfffc) | dpl, s);
    setEsp(cpu, newSp, ssBig);
    commitCs(cpu, codeSel, c, dpl);
    cpu.eip = offset;
    return;
  }
  if (offset >>> 0 > limit) cpu.raiseGP(0);
  markAccessedAt(cpu, c);
  if (call) pushFrame(cpu, w, [cpu.sel[CS]!, cpu.eip]);
  commitCs(cpu, codeSel, c, cpl);
  cpu.eip = offset;
}

// ---------------------------------------------------------------- RETF

/** RET far with `imm` bytes of parameters to release (SDM vol. 2 RET). */
export function retFar(cpu: Cpu, o32: boolean, imm: number): void {
  const w = o32 ? 4 : 2;
  const eip = o32 ? cpu.peek32(0) : cpu.peek16(0);
  const sel = peek(cpu, w, w) & 0xffff;
  if (!cpu.protectedMode || cpu.v86) {
    const limit = cpu.v86 ? 0xffff : cpu.segLimit[CS]!;
    if (eip >>> 0 > limit) cpu.raiseGP(0);
    loadSegmentReal(cpu, CS, sel);
    cpu.eip = eip;
    cpu.adjustSp(2 * w + imm);
    return;
  }
  const cpl = cpu.cpl;
  const rpl = sel & 3;
  const c = checkReturnCs(cpu, sel, cpl);
  const limit = descLimit(c.lo, c.hi);
  if (rpl === cpl) {
    if (eip >>> 0 > limit) cpu.raiseGP(0);
    commitCs(cpu, sel, c, cpl);
    cpu.eip = eip;
    cpu.adjustSp(2 * w + imm);
    return;
  }
  // Return to an outer level: SS:ESP follow the parameters on the inner stack.
  const newEsp = peek(cpu, w, 2 * w + imm);
  const newSs = peek(cpu, w, 3 * w + imm) & 0xffff;
  const s = checkReturnSs(cpu, newSs, rpl);
  if (eip >>> 0 > limit) cpu.raiseGP(0);
  markAccessedAt(cpu, s);
  commitCs(cpu, sel, c, rpl);
  cpu.eip = eip;
  commitSs(cpu, newSs, s);
  const big = (descAr(s.hi) & 0x4000) !== 0;
  setEsp(cpu, (newEsp + imm) | 0, big);
  invalidateSegmentsForCpl(cpu);
}

/** The CS checks shared by RETF and IRET: a code segment at CPL or an outer level. */
function checkReturnCs(cpu: Cpu, sel: number, cpl: number): Desc {
  if ((sel & 0xfffc) === 0) cpu.raiseGP(0);
  const c = fetchDesc(cpu, sel);
  const rpl = sel & 3;
  const dpl = descDpl(c.hi);
  if (!isCode(c.hi) || rpl < cpl) cpu.raiseGP(sel & 0xfffc);
  if (isConforming(c.hi) ? dpl > rpl : dpl !== rpl) cpu.raiseGP(sel & 0xfffc);
  if (!descPresent(c.hi)) cpu.raiseNP(sel & 0xfffc);
  return c;
}

/** SS for a return to privilege level `rpl`. */
function checkReturnSs(cpu: Cpu, sel: number, rpl: number): Desc {
  if ((sel & 0xfffc) === 0) cpu.raiseGP(0);
  const s = fetchDesc(cpu, sel);
  if ((sel & 3) !== rpl || !isWritableData(s.hi) || descDpl(s.hi) !== rpl) cpu.raiseGP(sel & 0xfffc);
  if (!descPresent(s.hi)) cpu.raiseSS(sel & 0xfffc);
  return s;
}

// ---------------------------------------------------------------- IRET

/** IRET/IRETD in every mode (SDM vol. 2 IRET). */
export function iret(cpu: Cpu, o32: boolean): void {
  const w = o32 ? 4 : 2;
  if (!cpu.protectedMode) {
    const eip = peek(cpu, w, 0);
    const sel = peek(cpu, w, w) & 0xffff;
    const fl = peek(cpu, w, 2 * w);
    if (eip >>> 0 > cpu.segLimit[CS]!) cpu.raiseGP(0);
    const old = cpu.getFlags();
    // Real mode: every flag of the image except VM, VIF, VIP (and, in 16 bits, the upper half).
    const f = o32 ? (fl & 0x257fd5) | (old & 0x1a0000) : (old & ~0xffff) | (fl & 0xffff);
    cpu.adjustSp(3 * w);
    loadSegmentReal(cpu, CS, sel);
    cpu.eip = o32 ? eip : eip & 0xffff;
    cpu.setFlags(f);
    endIret(cpu);
    return;
  }
  if (cpu.v86) {
    // Without VME, IRET in v86 mode is IOPL-sensitive; the monitor emulates it otherwise.
    if (cpu.iopl < 3) cpu.raiseGP(0);
    const eip = peek(cpu, w, 0);
    const sel = peek(cpu, w, w) & 0xffff;
    const fl = peek(cpu, w, 2 * w);
    if (eip >>> 0 > 0xffff) cpu.raiseGP(0);
    const old = cpu.getFlags();
    const keep = o32 ? VM | IOPL | VIP | VIF : ~0xffff | IOPL;
    const f = (old & keep) | (fl & ~keep);
    cpu.adjustSp(3 * w);
    loadSegmentReal(cpu, CS, sel);
    cpu.eip = eip;
    cpu.setFlags(f);
    endIret(cpu);
    return;
  }
  if (cpu.flagsRaw & NT) {
    // Task return through the back link of the current TSS.
    const link = cpu.readSys16(cpu.trBase);
    taskSwitch(cpu, link, TaskSwitchReason.Iret, false, 0, 0);
    endIret(cpu);
    return;
  }
  const eip = peek(cpu, w, 0);
  const sel = peek(cpu, w, w) & 0xffff;
  const fl = peek(cpu, w, 2 * w);
  const cpl = cpu.cpl;
  if (o32 && fl & VM && cpl === 0) {
    iretToV86(cpu, eip, sel, fl);
    endIret(cpu);
    return;
  }
  const rpl = sel & 3;
  const c = checkReturnCs(cpu, sel, cpl);
  const limit = descLimit(c.lo, c.hi);
  const newEip = o32 ? eip : eip & 0xffff;
  const f = iretFlags(cpu, fl, o32, cpl);
  if (rpl === cpl) {
    if (newEip >>> 0 > limit) cpu.raiseGP(0);
    commitCs(cpu, sel, c, cpl);
    cpu.eip = newEip;
    cpu.adjustSp(3 * w);
    cpu.setFlags(f);
    endIret(cpu);
    return;
  }
  const newEsp = peek(cpu, w, 3 * w);
  const newSs = peek(cpu, w, 4 * w) & 0xffff;
  const s = checkReturnSs(cpu, newSs, rpl);
  if (newEip >>> 0 > limit) cpu.raiseGP(0);
  markAccessedAt(cpu, s);
  commitCs(cpu, sel, c, rpl);
  cpu.eip = newEip;
  commitSs(cpu, newSs, s);
  setEsp(cpu, o32 ? newEsp : newEsp & 0xffff, (descAr(s.hi) & 0x4000) !== 0);
  cpu.setFlags(f);
  invalidateSegmentsForCpl(cpu);
  endIret(cpu);
}

function endIret(cpu: Cpu): void {
  // IRET ends the NMI handler's blocking of further NMIs (SDM vol. 3 §6.7.1).
  cpu.nmiBlocked = false;
  cpu.brk = true;
}

/** The EFLAGS an IRET in protected mode loads, by CPL and IOPL (evaluated before CPL changes). */
function iretFlags(cpu: Cpu, image: number, o32: boolean, cpl: number): number {
  const old = cpu.getFlags();
  let mask = CF | PF | AF | ZF | SF | TF | DF | OF | NT;
  if (o32) mask |= RF | AC | ID;
  if (cpl <= cpu.iopl) mask |= IF;
  if (cpl === 0) {
    mask |= IOPL;
    if (o32) mask |= VIF | VIP;
  }
  return (old & ~mask) | (image & mask) | FLAGS_FIXED;
}

/** IRETD at CPL 0 with VM set in the image: the v86 frame also holds ESP, SS, ES, DS, FS, GS. */
function iretToV86(cpu: Cpu, eip: number, sel: number, fl: number): void {
  const esp = cpu.peek32(12);
  const ss = cpu.peek32(16);
  const es = cpu.peek32(20);
  const ds = cpu.peek32(24);
  const fs = cpu.peek32(28);
  const gs = cpu.peek32(32);
  if (eip >>> 0 > 0xffff) cpu.raiseGP(0);
  cpu.setFlags(fl);
  loadSegmentReal(cpu, CS, sel);
  loadSegmentReal(cpu, SS, ss);
  loadSegmentReal(cpu, ES, es);
  loadSegmentReal(cpu, DS, ds);
  loadSegmentReal(cpu, FS, fs);
  loadSegmentReal(cpu, GS, gs);
  cpu.r32[ESP] = esp;
  cpu.eip = eip & 0xffff;
}

// ---------------------------------------------------------------- handlers

export function jmpAp(cpu: Cpu, i: Instr): void {
  farTransfer(cpu, i.imm2, i.imm, i.o32, false);
}

export function callAp(cpu: Cpu, i: Instr): void {
  farTransfer(cpu, i.imm2, i.imm, i.o32, true);
}

/** FF /3 and FF /5: the far pointer is in memory (offset, then selector). */
function readFarPointer(cpu: Cpu, i: Instr): { sel: number; off: number } {
  if (i.mod === 3) cpu.raiseUD();
  const ea = cpu.ea(i);
  const mask = i.a32 ? -1 : 0xffff;
  if (i.o32) return { off: cpu.read32(i.seg, ea), sel: cpu.read16(i.seg, (ea + 4) & mask) };
  return { off: cpu.read16(i.seg, ea), sel: cpu.read16(i.seg, (ea + 2) & mask) };
}

export function jmpMp(cpu: Cpu, i: Instr): void {
  const p = readFarPointer(cpu, i);
  farTransfer(cpu, p.sel, p.off, i.o32, false);
}

export function callMp(cpu: Cpu, i: Instr): void {
  const p = readFarPointer(cpu, i);
  farTransfer(cpu, p.sel, p.off, i.o32, true);
}

export function retf(cpu: Cpu, i: Instr): void {
  retFar(cpu, i.o32, i.opcode === 0xca ? i.imm & 0xffff : 0);
}

export function iretHandler(cpu: Cpu, i: Instr): void {
  iret(cpu, i.o32);
}

