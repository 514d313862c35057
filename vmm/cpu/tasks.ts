// Hardware task switching (SDM vol. 3 ch. 7, §7.3 steps 1-14): JMP or CALL to a TSS or task gate,
// interrupts and exceptions through a task gate, and IRET with NT set. Everything up to the commit
// point (the old TSS written, TR loaded) is checked first and faults in the old task; faults while
// loading the new task's segments are raised in the new task's context, as the hardware does.
//
// Choices where the manual leaves room:
// - A 16-bit TSS has no FS, GS or CR3: FS and GS become null and CR3 is kept. Switching into one sets
//   the upper halves of the eight general registers to FFFFh and clears those of EIP and EFLAGS (so VM,
//   RF, AC and ID end up clear). The SDM leaves the upper halves open; this is what Bochs and QEMU
//   model for P6-class processors, so 16-bit task code that leaks into 32-bit registers sees the same
//   values there as under those emulators, and nothing of the previous task's registers survives.
// - The debug trap bit (T) of a 32-bit TSS is not acted on.

import type { Cpu } from './cpu.ts';
import { CS, DS, ES, FS, GS, SS } from './decode.ts';
import { Vec } from './fault.ts';
import { FLAGS_FIXED, NT } from './flags.ts';
import { CR0_PG, CR0_TS } from './regs.ts';
import { pagingModeChanged } from './paging.ts';
import {
  desc, descAr, descBase, descDpl, descIsCodeData, descLimit, descPresent, descType, loadSegmentReal,
  markAccessed, readDescriptor, setSegmentCache,
} from './segments.ts';

export const enum TaskSwitchReason {
  Jmp = 0,
  Call = 1,
  Iret = 2,
  Interrupt = 3,
}

const BUSY = 1 << 9; // type bit 1 in the descriptor's high dword

/** Offsets of the saved fields in a 32-bit and a 16-bit TSS. */
const TSS32 = { eip: 0x20, eflags: 0x24, regs: 0x28, segs: 0x48, ldt: 0x60, min: 0x67 };
const TSS16 = { eip: 0x0e, eflags: 0x10, regs: 0x12, segs: 0x22, ldt: 0x2a, min: 0x2b };
// Segment order in both TSS formats (16-bit: ES CS SS DS only).
const SEG_ORDER = [ES, CS, SS, DS, FS, GS] as const;

export function taskSwitch(cpu: Cpu, selector: number, reason: TaskSwitchReason, hasCode: boolean, code: number, ext: number): void {
  selector &= 0xffff;
  const selCode = (selector & 0xfffc) + ext;
  // Step 1-3: the new TSS descriptor. IRET's back link must name a busy TSS, the others an idle one.
  const iret = reason === TaskSwitchReason.Iret;
  const badSel = (): never => (iret ? cpu.raiseTS(selCode) : cpu.raiseGP(selCode));
  if (selector & 4 || (selector & 0xfffc) === 0) badSel();
  if (!readDescriptor(cpu, selector)) badSel();
  const nlo = desc.lo;
  const nhi = desc.hi;
  const naddr = desc.addr;
  const ntype = descType(nhi);
  if (descIsCodeData(nhi) || (ntype & 7) !== (iret ? 3 : 1)) badSel();
  if (!descPresent(nhi)) cpu.raiseNP(selCode);
  const new32 = (ntype & 8) !== 0;
  const nbase = descBase(nlo, nhi);
  const nlimit = descLimit(nlo, nhi);
  const nf = new32 ? TSS32 : TSS16;
  if (nlimit < nf.min) cpu.raiseTS(selCode);

  const old32 = (cpu.trType & 8) !== 0;
  const of = old32 ? TSS32 : TSS16;
  if (cpu.trLimit >>> 0 < of.min) cpu.raiseTS((cpu.trSel & 0xfffc) + ext);
  const obase = cpu.trBase;

  // Step 4: every byte either TSS will touch must be reachable before anything is written.
  // A TSS's fixed part is under 4 KiB, so its first and last bytes cover every page it spans.
  const oldEnd = old32 ? 0x5f : 0x29;
  cpu.translate(obase, true, false);
  cpu.translate((obase + oldEnd) | 0, true, false);
  const linking = reason === TaskSwitchReason.Call || reason === TaskSwitchReason.Interrupt;
  cpu.translate(nbase, linking, false);
  cpu.translate((nbase + nf.min) | 0, false, false);
  if (!iret) cpu.translate((naddr + 5) | 0, true, false);

  // Read the new task's state now, so page faults on it still belong to the old task.
  const w = new32 ? 4 : 2;
  const rd = (off: number): number => (new32 ? cpu.readSys32((nbase + off) | 0) : cpu.readSys16((nbase + off) | 0));
  const newCr3 = new32 ? cpu.readSys32((nbase + 0x1c) | 0) : cpu.cr3;
  const newEip = rd(nf.eip);
  let newFlags = rd(nf.eflags);
  const regs: number[] = [];
  for (let r = 0; r < 8; r++) regs.push(rd(nf.regs + r * w));
  const segs: number[] = [];
  const nsegs = new32 ? 6 : 4;
  for (let k = 0; k < nsegs; k++) segs.push(cpu.readSys16((nbase + nf.segs + k * w) | 0));
  const newLdt = cpu.readSys16((nbase + nf.ldt) | 0);

  // The old TSS descriptor, whose busy bit JMP and IRET clear.
  let oldDescAddr = -1;
  let oldDescHi = 0;
  if (reason === TaskSwitchReason.Jmp || iret) {
    if (!(cpu.trSel & 4) && readDescriptor(cpu, cpu.trSel)) {
      oldDescAddr = desc.addr;
      oldDescHi = desc.hi;
      cpu.translate((oldDescAddr + 5) | 0, true, false);
    }
  }

  // Steps 5-8: save the old task.
  let oldFlags = cpu.getFlags();
  if (iret) oldFlags &= ~NT;
  const ws = (off: number, v: number): void => {
    if (old32) cpu.writeSys32((obase + off) | 0, v);
    else cpu.writeSys16((obase + off) | 0, v);
  };
  if (oldDescAddr >= 0) cpu.writeSys8((oldDescAddr + 5) | 0, ((oldDescHi & ~BUSY) >>> 8) & 0xff);
  ws(of.eip, cpu.eip);
  ws(of.eflags, oldFlags);
  for (let r = 0; r < 8; r++) ws(of.regs + r * (old32 ? 4 : 2), old32 ? cpu.r32[r]! : cpu.r16[r << 1]!);
  for (let k = 0; k < (old32 ? 6 : 4); k++) ws(of.segs + k * (old32 ? 4 : 2), cpu.sel[SEG_ORDER[k]!]!);

  if (linking) {
    cpu.writeSys16(nbase, cpu.trSel);
    newFlags |= NT;
  }
  if (!iret) cpu.writeSys8((naddr + 5) | 0, ((nhi | BUSY) >>> 8) & 0xff);

  // Step 9-10: commit. From here on faults belong to the new task.
  cpu.trSel = selector;
  cpu.trBase = nbase;
  cpu.trLimit = nlimit;
  cpu.trType = ntype | 2;
  cpu.cr0 |= CR0_TS;
  if (new32 && cpu.cr0 & CR0_PG) {
    cpu.cr3 = newCr3 & ~0x7;
    // Under PAE the new task's PDPTEs load here; bad ones fault in the new task (SDM §7.3 step 10).
    if (!pagingModeChanged(cpu)) cpu.raiseGP(0);
    cpu.flushTlb(false);
  }
  cpu.eip = newEip;
  cpu.prevEip = newEip;
  for (let r = 0; r < 8; r++) cpu.r32[r] = new32 ? regs[r]! : 0xffff0000 | regs[r]!;
  cpu.setFlags(new32 ? newFlags | FLAGS_FIXED : (newFlags & 0xffff) | FLAGS_FIXED);
  // Selectors first with unusable caches, so a fault below leaves no stale descriptor behind. CS
  // keeps a code cache whose DPL is its RPL, so CPL reflects the new task at once.
  for (let k = 0; k < 6; k++) {
    const s = SEG_ORDER[k]!;
    const sel = k < nsegs ? segs[k]! : 0;
    if (s === CS) setSegmentCache(cpu, CS, sel, 0, 0, 0x9b | ((sel & 3) << 5) | (new32 ? 0x4000 : 0));
    else if (s === SS) setSegmentCache(cpu, SS, sel, 0, 0, 0x93 | ((sel & 3) << 5));
    else setSegmentCache(cpu, s, sel, 0, 0, 0);
  }
  cpu.ldtrSel = newLdt;
  cpu.ldtrBase = 0;
  cpu.ldtrLimit = 0;

  // Step 11: the LDT, then the segment registers, with #TS naming the offending selector.
  if ((newLdt & 0xfffc) !== 0) {
    if (newLdt & 4 || !readDescriptor(cpu, newLdt)) cpu.raiseTS((newLdt & 0xfffc) + ext);
    if (descIsCodeData(desc.hi) || descType(desc.hi) !== 2 || !descPresent(desc.hi)) cpu.raiseTS((newLdt & 0xfffc) + ext);
    cpu.ldtrBase = descBase(desc.lo, desc.hi);
    cpu.ldtrLimit = descLimit(desc.lo, desc.hi);
  }
  if (cpu.v86) {
    for (let k = 0; k < 6; k++) loadSegmentReal(cpu, SEG_ORDER[k]!, k < nsegs ? segs[k]! : 0);
  } else {
    // SS before CS (the provisional CS cache already gives CPL = CS.RPL), so an exception raised for
    // a bad CS can still be delivered on the new task's stack.
    loadTaskSs(cpu, segs[2]!, ext);
    loadTaskCs(cpu, segs[1]!, ext);
    for (const k of [0, 3, 4, 5]) if (k < nsegs) loadTaskData(cpu, SEG_ORDER[k]!, segs[k]!, ext);
  }

  // Step 13-14: the exception's error code goes on the new task's stack; then the limit check.
  if (hasCode) {
    if (new32) cpu.push32(code);
    else cpu.push16(code);
  }
  if (cpu.eip >>> 0 > cpu.segLimit[CS]!) cpu.raiseGP(0);
  cpu.brk = true;
}

function loadTaskCs(cpu: Cpu, sel: number, ext: number): void {
  const code = (sel & 0xfffc) + ext;
  if ((sel & 0xfffc) === 0 || !readDescriptor(cpu, sel)) cpu.raiseTS(code);
  const hi = desc.hi;
  const type = descType(hi);
  const dpl = descDpl(hi);
  if (!descIsCodeData(hi) || !(type & 8)) cpu.raiseTS(code);
  if (type & 4 ? dpl > (sel & 3) : dpl !== (sel & 3)) cpu.raiseTS(code);
  if (!descPresent(hi)) cpu.raiseNP(code);
  markAccessed(cpu);
  // CPL is the selector's RPL, also for conforming code (the cached DPL carries the CPL).
  const ar = (descAr(desc.hi | (1 << 8)) & ~0x60) | ((sel & 3) << 5);
  setSegmentCache(cpu, CS, sel, descBase(desc.lo, desc.hi), descLimit(desc.lo, desc.hi), ar);
}

function loadTaskSs(cpu: Cpu, sel: number, ext: number): void {
  const code = (sel & 0xfffc) + ext;
  if ((sel & 0xfffc) === 0 || !readDescriptor(cpu, sel)) cpu.raiseTS(code);
  const hi = desc.hi;
  const cpl = cpu.cpl;
  if (!descIsCodeData(hi) || (descType(hi) & 0xa) !== 2 || (sel & 3) !== cpl || descDpl(hi) !== cpl) cpu.raiseTS(code);
  if (!descPresent(hi)) cpu.raise(Vec.SS, code, true);
  markAccessed(cpu);
  setSegmentCache(cpu, SS, sel, descBase(desc.lo, desc.hi), descLimit(desc.lo, desc.hi), descAr(desc.hi | (1 << 8)));
}

function loadTaskData(cpu: Cpu, s: number, sel: number, ext: number): void {
  if ((sel & 0xfffc) === 0) return;
  const code = (sel & 0xfffc) + ext;
  if (!readDescriptor(cpu, sel)) cpu.raiseTS(code);
  const hi = desc.hi;
  const type = descType(hi);
  const dpl = descDpl(hi);
  if (!descIsCodeData(hi) || (type & 0xa) === 8) cpu.raiseTS(code);
  if ((type & 0xc) !== 0xc && (dpl < cpu.cpl || dpl < (sel & 3))) cpu.raiseTS(code);
  if (!descPresent(hi)) cpu.raiseNP(code);
  markAccessed(cpu);
  setSegmentCache(cpu, s, sel, descBase(desc.lo, desc.hi), descLimit(desc.lo, desc.hi), descAr(desc.hi | (1 << 8)));
}
