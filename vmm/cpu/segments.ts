// Segment registers and descriptors (SDM vol. 3 ch. 3 and §5.5-5.8): reading a descriptor from the
// GDT or LDT, the checks for loading SS and the data segment registers, and the descriptor-cache
// layout the CPU keeps. Far control transfers (CS loads, gates, task switches) build on these.

import { CS, DS, ES, FS, GS, SS } from './decode.ts';
import type { Cpu } from './cpu.ts';
import { Vec } from './fault.ts';

export type SegmentIndex = number;

/** The last descriptor read: two dwords and where it came from. Reused to avoid allocation. */
export const desc = { lo: 0, hi: 0, addr: 0 };

export const DESC_ACCESSED = 1 << 8; // in hi
export function descBase(lo: number, hi: number): number {
  return ((lo >>> 16) | ((hi & 0xff) << 16) | (hi & 0xff000000)) | 0;
}
export function descLimit(lo: number, hi: number): number {
  const raw = (lo & 0xffff) | (hi & 0xf0000);
  return hi & (1 << 23) ? ((raw << 12) | 0xfff) >>> 0 : raw;
}
/** Access rights as kept in Cpu.segAr: byte 5 in bits 0-7, the flags nibble in bits 12-15. */
export function descAr(hi: number): number {
  return ((hi >>> 8) & 0xff) | (((hi >>> 20) & 0xf) << 12);
}
export function descDpl(hi: number): number {
  return (hi >>> 13) & 3;
}
export function descPresent(hi: number): boolean {
  return (hi & (1 << 15)) !== 0;
}
/** S bit: code or data segment (as opposed to a system descriptor). */
export function descIsCodeData(hi: number): boolean {
  return (hi & (1 << 12)) !== 0;
}
export function descType(hi: number): number {
  return (hi >>> 8) & 0xf;
}

/**
 * Reads the descriptor for `selector` into `desc`. Returns false if the selector's index is beyond
 * the GDT or LDT limit (callers raise the fault their instruction defines).
 */
export function readDescriptor(cpu: Cpu, selector: number): boolean {
  let base: number;
  let limit: number;
  if (selector & 4) {
    if ((cpu.ldtrSel & 0xfffc) === 0) return false;
    base = cpu.ldtrBase;
    limit = cpu.ldtrLimit;
  } else {
    base = cpu.gdtrBase;
    limit = cpu.gdtrLimit;
  }
  const off = selector & 0xfff8;
  if (off + 7 > limit) return false;
  desc.addr = (base + off) | 0;
  desc.lo = cpu.readSys32(desc.addr);
  desc.hi = cpu.readSys32((desc.addr + 4) | 0);
  return true;
}

/**
 * Sets the accessed bit of the descriptor at table address `addr` whose high dword is `hi`, as the
 * CPU does on a segment load; returns the high dword with the bit set, which the segment cache holds.
 */
export function setAccessed(cpu: Cpu, addr: number, hi: number): number {
  if (hi & DESC_ACCESSED) return hi;
  cpu.writeSys8((addr + 5) | 0, ((hi | DESC_ACCESSED) >>> 8) & 0xff);
  return hi | DESC_ACCESSED;
}

/** Sets the accessed bit of the descriptor last read (`desc`), as the CPU does on a segment load. */
export function markAccessed(cpu: Cpu): void {
  desc.hi = setAccessed(cpu, desc.addr, desc.hi);
}

/** Fills segment register `s`'s visible part and hidden cache. */
export function setSegmentCache(cpu: Cpu, s: SegmentIndex, selector: number, base: number, limit: number, ar: number): void {
  cpu.sel[s] = selector;
  cpu.segBase[s] = base;
  cpu.segLimit[s] = limit >>> 0;
  cpu.segAr[s] = ar;
  cpu.updateSegmentChecks(s);
  if (s === CS || s === SS) cpu.updateMode();
}

/** Real mode keeps the cached limit and rights (unreal mode works that way); v86 mode resets them. */
export function loadSegmentReal(cpu: Cpu, s: SegmentIndex, selector: number): void {
  selector &= 0xffff;
  if (cpu.v86) {
    setSegmentCache(cpu, s, selector, selector << 4, 0xffff, s === CS ? 0xfb : 0xf3);
    return;
  }
  cpu.sel[s] = selector;
  cpu.segBase[s] = selector << 4;
  // A real-mode load makes the segment usable even if protected mode left it null or unusable.
  if (!(cpu.segAr[s]! & 0x80)) cpu.segAr[s] = s === CS ? 0x9b : 0x93;
  cpu.updateSegmentChecks(s);
  if (s === CS || s === SS) cpu.updateMode();
}

/** MOV/POP/LDS... to SS, DS, ES, FS or GS in any mode (SDM vol. 2 MOV, "Operation"). */
export function loadSegment(cpu: Cpu, s: SegmentIndex, selector: number): void {
  selector &= 0xffff;
  if (!cpu.protectedMode || cpu.v86) {
    loadSegmentReal(cpu, s, selector);
    return;
  }
  if (s === CS) cpu.raiseUD();
  const rpl = selector & 3;
  const cpl = cpu.cpl;
  if ((selector & 0xfffc) === 0) {
    if (s === SS) cpu.raiseGP(0);
    // A null selector loads fine; any later access through it raises #GP(0).
    setSegmentCache(cpu, s, selector, 0, 0, 0);
    return;
  }
  if (!readDescriptor(cpu, selector)) cpu.raiseGP(selector & 0xfffc);
  const hi = desc.hi;
  const dpl = descDpl(hi);
  const type = descType(hi);
  if (s === SS) {
    // Writable data segment with RPL = DPL = CPL.
    if (rpl !== cpl || !descIsCodeData(hi) || type & 8 || !(type & 2) || dpl !== cpl) cpu.raiseGP(selector & 0xfffc);
    if (!descPresent(hi)) cpu.raise(Vec.SS, selector & 0xfffc, true);
  } else {
    // Data or readable code; non-conforming needs DPL >= max(CPL, RPL).
    if (!descIsCodeData(hi) || (type & 0xa) === 8) cpu.raiseGP(selector & 0xfffc);
    const conformingCode = (type & 0xc) === 0xc;
    if (!conformingCode && (dpl < cpl || dpl < rpl)) cpu.raiseGP(selector & 0xfffc);
    if (!descPresent(hi)) cpu.raiseNP(selector & 0xfffc);
  }
  markAccessed(cpu);
  setSegmentCache(cpu, s, selector, descBase(desc.lo, desc.hi), descLimit(desc.lo, desc.hi), descAr(desc.hi));
}

/** After a privilege drop (RETF/IRET to outer level): data segments the new CPL may not use become null. */
export function invalidateSegmentsForCpl(cpu: Cpu): void {
  for (const s of [ES, DS, FS, GS]) {
    const ar = cpu.segAr[s]!;
    const dpl = (ar >> 5) & 3;
    const conformingCode = (ar & 0x1c) === 0x1c;
    const dataOrNonConforming = !conformingCode;
    if ((cpu.sel[s]! & 0xfffc) === 0) continue;
    if (dataOrNonConforming && dpl < cpu.cpl) setSegmentCache(cpu, s, 0, 0, 0, 0);
  }
}
