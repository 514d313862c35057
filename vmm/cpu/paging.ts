// The two-level 32-bit page walk (SDM vol. 3 §4.3): 4 KiB pages through a page table, 4 MiB pages
// when CR4.PSE and PDE.PS are set, global pages with CR4.PGE, CR0.WP for supervisor writes, and the
// accessed/dirty bits written back as the hardware does. The result is a software TLB entry.

import type { Cpu } from './cpu.ts';
import { CR0_WP, CR4_PGE, CR4_PSE, TLB_GLOBAL, TLB_SUP_WRITE, TLB_USER_READ, TLB_USER_WRITE, TLB_VALID } from './regs.ts';
import { Vec } from './fault.ts';

const P = 1 << 0;
const RW = 1 << 1;
const US = 1 << 2;
const A = 1 << 5;
const D = 1 << 6;
const PS = 1 << 7;
const G = 1 << 8;

// Page-fault error code bits.
const PF_P = 1 << 0;
const PF_W = 1 << 1;
const PF_U = 1 << 2;
const PF_RSVD = 1 << 3;

function pageFault(cpu: Cpu, lin: number, code: number): never {
  cpu.cr2 = lin;
  return cpu.raise(Vec.PF, code, true);
}

/** Walks the page tables for `lin`; returns a TLB entry or raises #PF with CR2 and the error code. */
export function walkPageTables(cpu: Cpu, lin: number, write: boolean, user: boolean): number {
  const mem = cpu.mem;
  const a20 = cpu.a20Mask;
  const errBase = (write ? PF_W : 0) | (user ? PF_U : 0);
  const pdeAddr = ((cpu.cr3 & ~0xfff) | ((lin >>> 22) << 2)) & a20;
  const pde = mem.read32(pdeAddr);
  if (!(pde & P)) pageFault(cpu, lin, errBase);
  const wp = (cpu.cr0 & CR0_WP) !== 0;
  let phys: number;
  let userOk: boolean;
  let writable: boolean;
  let global: boolean;
  if (pde & PS && cpu.cr4 & CR4_PSE) {
    // Bits 13-21 of a 4 MiB PDE are reserved on a P6 without PSE-36.
    if (pde & 0x003fe000) pageFault(cpu, lin, errBase | PF_P | PF_RSVD);
    userOk = (pde & US) !== 0;
    writable = (pde & RW) !== 0;
    checkRights(cpu, lin, write, user, userOk, writable, wp, errBase);
    const want = pde | A | (write ? D : 0);
    if (want !== pde) mem.write32(pdeAddr, want);
    phys = (pde & 0xffc00000) | (lin & 0x003ff000);
    global = (pde & G) !== 0;
    writable = writable && (write || (pde & D) !== 0);
    return makeEntry(cpu, phys, userOk, writable, global, wp, write || (pde & D) !== 0);
  }
  const pteAddr = ((pde & ~0xfff) | (((lin >>> 12) & 0x3ff) << 2)) & a20;
  const pte = mem.read32(pteAddr);
  if (!(pte & P)) pageFault(cpu, lin, errBase);
  userOk = (pde & US) !== 0 && (pte & US) !== 0;
  writable = (pde & RW) !== 0 && (pte & RW) !== 0;
  checkRights(cpu, lin, write, user, userOk, writable, wp, errBase);
  if (!(pde & A)) mem.write32(pdeAddr, pde | A);
  const want = pte | A | (write ? D : 0);
  if (want !== pte) mem.write32(pteAddr, want);
  phys = pte & ~0xfff;
  global = (pte & G) !== 0;
  return makeEntry(cpu, phys, userOk, writable, global, wp, write || (pte & D) !== 0);
}

function checkRights(
  cpu: Cpu,
  lin: number,
  write: boolean,
  user: boolean,
  userOk: boolean,
  writable: boolean,
  wp: boolean,
  errBase: number,
): void {
  if (user && !userOk) pageFault(cpu, lin, errBase | PF_P);
  if (write && !writable && (user || wp)) pageFault(cpu, lin, errBase | PF_P);
}

function makeEntry(cpu: Cpu, phys: number, userOk: boolean, writable: boolean, global: boolean, wp: boolean, dirty: boolean): number {
  let e = (phys & cpu.a20Mask & ~0xfff) | TLB_VALID;
  if (userOk) e |= TLB_USER_READ;
  if (dirty) {
    if (writable || !wp) e |= TLB_SUP_WRITE;
    if (writable && userOk) e |= TLB_USER_WRITE;
  }
  if (global && cpu.cr4 & CR4_PGE) e |= TLB_GLOBAL;
  return e;
}
