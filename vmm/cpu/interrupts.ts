// Exception and interrupt delivery (SDM vol. 3 ch. 6): the real-mode IVT, and in protected mode the
// IDT with interrupt, trap and task gates, the privilege checks for software interrupts, the stack
// switch through the TSS on a privilege change, and the extra frame pushed when leaving v86 mode.
// Everything that can fault is checked before any register changes, so a fault during delivery sees
// the state of the interrupted instruction (the double-fault rules rely on it).

import { CF, IF, NT, RF, TF, VM, AC } from './flags.ts';
import type { Cpu } from './cpu.ts';
import { CR0_PE, ESP } from './regs.ts';
import { CS, DS, ES, FS, GS, SS } from './decode.ts';
import { Vec, isContributory } from './fault.ts';
import {
  desc,
  descAr,
  descBase,
  descDpl,
  descIsCodeData,
  descLimit,
  descPresent,
  descType,
  readDescriptor,
  setAccessed,
  setSegmentCache,
} from './segments.ts';
import { taskSwitch, TaskSwitchReason } from './tasks.ts';

export const enum InterruptKind {
  /** A CPU exception (fault or trap): EXT is set in error codes raised while delivering it. */
  Exception = 0,
  /** INTR from the PIC. */
  External = 1,
  NMI = 2,
  /** INT n, INT3, INTO: the gate's DPL is checked against CPL, and v86 needs IOPL 3 for INT n. */
  Software = 3,
}

/** Delivers an exception, turning a second exception into #DF per SDM vol. 3 table 6-5. */
export function deliverException(cpu: Cpu, vector: number, hasCode: boolean, code: number): void {
  const prev = cpu.delivering;
  if (prev >= 0) {
    const second = vector;
    if ((isContributory(prev) && isContributory(second)) || (prev === Vec.PF && (isContributory(second) || second === Vec.PF))) {
      vector = Vec.DF;
      hasCode = true;
      code = 0;
    }
  }
  cpu.delivering = vector;
  deliverInterrupt(cpu, vector, InterruptKind.Exception, hasCode, code);
  cpu.delivering = -1;
}

export function deliverInterrupt(cpu: Cpu, vector: number, kind: InterruptKind, hasCode: boolean, code: number): void {
  cpu.halted = false;
  if (!(cpu.cr0 & CR0_PE)) {
    deliverReal(cpu, vector);
    return;
  }
  deliverProtected(cpu, vector, kind, hasCode, code);
}

function deliverReal(cpu: Cpu, vector: number): void {
  const off = vector * 4;
  if (off + 3 > cpu.idtrLimit) cpu.raiseGP(0);
  const ivt = (cpu.idtrBase + off) | 0;
  const ip = cpu.readLin16(ivt);
  const cs = cpu.readLin16((ivt + 2) | 0);
  const flags = cpu.getFlags();
  // Three pushes: check the stack once so none of them half-happens.
  const sp0 = cpu.sp;
  cpu.push16(flags);
  try {
    cpu.push16(cpu.sel[CS]!);
    cpu.push16(cpu.eip);
  } catch (e) {
    cpu.setSp(sp0);
    throw e;
  }
  cpu.setFlags(flags & ~(IF | TF | AC | RF));
  cpu.loadSegmentReal(CS, cs);
  cpu.eip = ip;
}

function deliverProtected(cpu: Cpu, vector: number, kind: InterruptKind, hasCode: boolean, code: number): void {
  const ext = kind === InterruptKind.Software ? 0 : 1;
  const idtCode = vector * 8 + 2 + ext;
  if (kind === InterruptKind.Software && cpu.v86 && cpu.iopl < 3) cpu.raiseGP(0);
  if (vector * 8 + 7 > cpu.idtrLimit) cpu.raiseGP(idtCode);
  const gateAddr = (cpu.idtrBase + vector * 8) | 0;
  const glo = cpu.readSys32(gateAddr);
  const ghi = cpu.readSys32((gateAddr + 4) | 0);
  const gtype = (ghi >>> 8) & 0x1f;
  // 0x05 task gate; 0x06/0x07 16-bit interrupt/trap; 0x0E/0x0F 32-bit interrupt/trap.
  if (gtype !== 0x05 && gtype !== 0x06 && gtype !== 0x07 && gtype !== 0x0e && gtype !== 0x0f) cpu.raiseGP(idtCode);
  if (kind === InterruptKind.Software && descDpl(ghi) < cpu.cpl) cpu.raiseGP(idtCode);
  if (!descPresent(ghi)) cpu.raiseNP(idtCode);

  if (gtype === 0x05) {
    taskSwitch(cpu, glo >>> 16, TaskSwitchReason.Interrupt, hasCode, code, ext);
    return;
  }

  const gate32 = (gtype & 8) !== 0;
  const trapGate = (gtype & 1) !== 0;
  const selector = glo >>> 16;
  const offset = gate32 ? (glo & 0xffff) | (ghi & 0xffff0000) : glo & 0xffff;
  if ((selector & 0xfffc) === 0) cpu.raiseGP(ext);
  if (!readDescriptor(cpu, selector)) cpu.raiseGP((selector & 0xfffc) + ext);
  const clo = desc.lo;
  let chi = desc.hi;
  const caddr = desc.addr;
  const ctype = descType(chi);
  const dpl = descDpl(chi);
  if (!descIsCodeData(chi) || !(ctype & 8) || dpl > cpu.cpl) cpu.raiseGP((selector & 0xfffc) + ext);
  if (!descPresent(chi)) cpu.raiseNP((selector & 0xfffc) + ext);
  const conforming = (ctype & 4) !== 0;
  const fromV86 = cpu.v86;
  const oldFlags = cpu.getFlags();
  const oldCs = cpu.sel[CS]!;
  const oldEip = cpu.eip;
  const csLimit = descLimit(clo, chi);
  if (offset >>> 0 > csLimit) cpu.raiseGP(ext);

  if (!conforming && dpl < cpu.cpl) {
    // Inner privilege: new stack from the TSS.
    if (fromV86 && dpl !== 0) cpu.raiseGP((selector & 0xfffc) + ext);
    const { ss: newSs, esp: newEsp } = tssStack(cpu, dpl, ext);
    if ((newSs & 0xfffc) === 0) cpu.raiseTS(ext);
    if ((newSs & 3) !== dpl) cpu.raiseTS((newSs & 0xfffc) + ext);
    if (!readDescriptor(cpu, newSs)) cpu.raiseTS((newSs & 0xfffc) + ext);
    let shi = desc.hi;
    const slo = desc.lo;
    const saddr = desc.addr;
    const stype = descType(shi);
    if (!descIsCodeData(shi) || stype & 8 || !(stype & 2) || descDpl(shi) !== dpl) cpu.raiseTS((newSs & 0xfffc) + ext);
    if (!descPresent(shi)) cpu.raiseSS((newSs & 0xfffc) + ext);
    // The accessed bits before anything is pushed or loaded: a fault on the descriptor table's page
    // must find the state as it was (as for far transfers, ops/far.ts).
    shi = setAccessed(cpu, saddr, shi);
    chi = setAccessed(cpu, caddr, chi);
    const ssBase = descBase(slo, shi);
    const ssLimit = descLimit(slo, shi);
    const ssAr = descAr(shi);
    const ssBig = (ssAr & 0x4000) !== 0;
    const w = gate32 ? 4 : 2;
    const words: number[] = [];
    if (fromV86) words.push(cpu.sel[GS]!, cpu.sel[FS]!, cpu.sel[DS]!, cpu.sel[ES]!);
    // The whole ESP is saved (SDM: Push(TempESP)), so IRET to a 16-bit stack restores its upper half too.
    words.push(cpu.sel[SS]!, cpu.r32[ESP]!, oldFlags, oldCs, oldEip);
    if (hasCode) words.push(code);
    const frame = words.length * w;
    let sp = ssBig ? newEsp : newEsp & 0xffff;
    const top = ssBig ? sp - frame : (sp - frame) & 0xffff;
    checkStackRange(cpu, ssAr, ssLimit, top, frame, (newSs & 0xfffc) + ext, ssBig);
    const user = dpl === 3;
    // Probe every page of the frame before writing any of it.
    for (let k = 0; k < frame; k += w) cpu.translate((ssBase + ((top + k) & (ssBig ? -1 : 0xffff))) | 0, true, user);
    for (const v of words) {
      sp = ssBig ? (sp - w) | 0 : (sp - w) & 0xffff;
      const lin = (ssBase + sp) | 0;
      if (w === 4) cpu.writeSys32(lin, v);
      else cpu.writeSys16(lin, v);
    }
    // Commit.
    if (fromV86) {
      for (const s of [GS, FS, DS, ES]) setSegmentCache(cpu, s, 0, 0, 0, 0);
    }
    cpu.setFlags(oldFlags & ~(TF | NT | RF | VM | (trapGate ? 0 : IF)));
    setSegmentCache(cpu, SS, (newSs & 0xfffc) | dpl, ssBase, ssLimit, ssAr);
    if (ssBig) cpu.r32[ESP] = sp;
    else cpu.r32[ESP] = (cpu.r32[ESP]! & ~0xffff) | sp;
    setSegmentCache(cpu, CS, (selector & 0xfffc) | dpl, descBase(clo, chi), csLimit, descAr(chi));
    cpu.eip = offset;
    return;
  }

  // Same privilege.
  if (fromV86) cpu.raiseGP((selector & 0xfffc) + ext);
  const w = gate32 ? 4 : 2;
  const frame = (hasCode ? 4 : 3) * w;
  const ssBig = cpu.ssB;
  const sp0 = cpu.sp;
  const top = ssBig ? (sp0 - frame) | 0 : (sp0 - frame) & 0xffff;
  checkStackRange(cpu, cpu.segAr[SS]!, cpu.segLimit[SS]!, top, frame, ext, ssBig, true);
  chi = setAccessed(cpu, caddr, chi);
  for (let k = 0; k < frame; k += w) cpu.translate((cpu.segBase[SS]! + ((top + k) & (ssBig ? -1 : 0xffff))) | 0, true, cpu.cpl === 3);
  let sp = sp0;
  const words = hasCode ? [oldFlags, oldCs, oldEip, code] : [oldFlags, oldCs, oldEip];
  for (const v of words) {
    sp = ssBig ? (sp - w) | 0 : (sp - w) & 0xffff;
    const lin = (cpu.segBase[SS]! + sp) | 0;
    if (w === 4) cpu.writeLin32(lin, v);
    else cpu.writeLin16(lin, v);
  }
  cpu.setSp(sp);
  cpu.setFlags(oldFlags & ~(TF | NT | RF | VM | (trapGate ? 0 : IF)));
  // A conforming handler runs at the interrupted CPL: the cached DPL is what CPL is derived from.
  setSegmentCache(cpu, CS, (selector & 0xfffc) | cpu.cpl, descBase(clo, chi), csLimit, (descAr(chi) & ~0x60) | (cpu.cpl << 5));
  cpu.eip = offset;
}

/** Checks that [top, top+size) lies within a stack segment (expand-up or expand-down). */
function checkStackRange(cpu: Cpu, ar: number, limit: number, top: number, size: number, code: number, big: boolean, sameSs = false): void {
  const lo = top >>> 0;
  const hi = lo + size - 1;
  let ok: boolean;
  if ((ar & 0x0c) === 0x04) {
    const max = big ? 0xffffffff : 0xffff;
    ok = lo > limit && hi <= max;
  } else {
    ok = hi <= limit;
  }
  if (!ok) {
    if (sameSs) cpu.raiseSS(0);
    cpu.raiseSS(code);
  }
}

/** SS:ESP for privilege level `dpl` from the current TSS (32- or 16-bit format). */
export function tssStack(cpu: Cpu, dpl: number, ext: number): { ss: number; esp: number } {
  if (cpu.trType & 8) {
    const off = 4 + dpl * 8;
    if (off + 7 > cpu.trLimit) cpu.raiseTS((cpu.trSel & 0xfffc) + ext);
    const esp = cpu.readSys32((cpu.trBase + off) | 0);
    const ss = cpu.readSys16((cpu.trBase + off + 4) | 0);
    return { ss, esp };
  }
  const off = 2 + dpl * 4;
  if (off + 3 > cpu.trLimit) cpu.raiseTS((cpu.trSel & 0xfffc) + ext);
  const sp = cpu.readSys16((cpu.trBase + off) | 0);
  const ss = cpu.readSys16((cpu.trBase + off + 2) | 0);
  return { ss, esp: sp };
}

export { CF };
