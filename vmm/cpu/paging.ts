// The page walks (SDM vol. 3 ch. 4): 32-bit paging (§4.3), two levels with 4 KiB pages through a page
// table and 4 MiB pages when CR4.PSE and PDE.PS are set; and PAE paging (§4.4), three levels of
// 64-bit entries through the four PDPTE registers, with 2 MiB pages. Both have global pages with
// CR4.PGE, CR0.WP for supervisor writes, and the accessed/dirty bits written back as the hardware
// does. The result is a software TLB entry.
//
// PAE as a Pentium II has it:
// - MAXPHYADDR is 36. This board has nothing above 4 GiB (RAM ends below 3 GiB), and the software
//   TLB holds 32-bit physical addresses, so an entry that maps or points above 4 GiB is refused as a
//   reserved-bit violation (#PF with RSVD, or #GP on loading such a PDPTE): a departure from the SDM
//   that a guest only sees if it maps memory that is not there.
// - There is no EFER on a P6, so no NX: bit 63 (XD) is reserved like bits 62:36.
// - There is no PAT: bit 7 of a PTE and bit 12 of a 2 MiB PDE are reserved.
// - The PDPTEs are loaded into registers when CR3 is written with PAE paging on, when CR0.PG is set
//   with CR4.PAE, when CR4.PAE/PGE/PSE change with paging on, and on a task switch; the walk uses
//   the registers, not the table in memory, until the next load (§4.4.1).

import type { Cpu } from './cpu.ts';
import { CR0_PG, CR0_WP, CR4_PAE, CR4_PGE, CR4_PSE, TLB_GLOBAL, TLB_SUP_WRITE, TLB_USER_READ, TLB_USER_WRITE, TLB_VALID } from './regs.ts';
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

/** PDPTE bits 2:1 and 8:5 are reserved; the high dword holds bits 63:32 (all reserved here, see above). */
export const PDPTE_RSVD_LO = 0x1e6;

/**
 * Loads the four PDPTE registers from the table CR3 points at; false (the caller raises #GP(0)) when
 * a present entry has reserved bits set, leaving the registers as they were.
 */
export function loadPdptes(cpu: Cpu): boolean {
  const base = cpu.cr3 & ~0x1f & cpu.a20Mask;
  const lo: number[] = [];
  const hi: number[] = [];
  for (let k = 0; k < 4; k++) {
    const l = cpu.mem.read32((base + 8 * k) >>> 0);
    const h = cpu.mem.read32((base + 8 * k + 4) >>> 0);
    if (l & P && (l & PDPTE_RSVD_LO || h)) return false;
    lo.push(l);
    hi.push(h);
  }
  for (let k = 0; k < 4; k++) {
    cpu.pdpte[2 * k] = lo[k]!;
    cpu.pdpte[2 * k + 1] = hi[k]!;
  }
  return true;
}

/** After CR0, CR3 or CR4 changed: reload the PDPTEs if PAE paging is on; false if they are bad. */
export function pagingModeChanged(cpu: Cpu): boolean {
  if (!(cpu.cr0 & CR0_PG) || !(cpu.cr4 & CR4_PAE)) return true;
  return loadPdptes(cpu);
}

/** Walks the page tables for `lin`; returns a TLB entry or raises #PF with CR2 and the error code. */
export function walkPageTables(cpu: Cpu, lin: number, write: boolean, user: boolean): number {
  if (cpu.cr4 & CR4_PAE) return walkPae(cpu, lin, write, user);
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

/** PAE: 4 KiB pages through PDPTE, PD and PT, or 2 MiB pages where the PDE has PS (whatever CR4.PSE). */
function walkPae(cpu: Cpu, lin: number, write: boolean, user: boolean): number {
  const mem = cpu.mem;
  const a20 = cpu.a20Mask;
  const errBase = (write ? PF_W : 0) | (user ? PF_U : 0);
  const k = lin >>> 30;
  const pdpte = cpu.pdpte[2 * k]!;
  if (!(pdpte & P)) pageFault(cpu, lin, errBase);
  const pdeAddr = ((pdpte & ~0xfff) + ((lin >>> 21) & 0x1ff) * 8) & a20;
  const pde = mem.read32(pdeAddr >>> 0);
  if (!(pde & P)) pageFault(cpu, lin, errBase);
  if (mem.read32((pdeAddr + 4) >>> 0)) pageFault(cpu, lin, errBase | PF_P | PF_RSVD);
  const wp = (cpu.cr0 & CR0_WP) !== 0;
  if (pde & PS) {
    // Bits 20:13 are reserved, and bit 12 (PAT) without a PAT.
    if (pde & 0x001ff000) pageFault(cpu, lin, errBase | PF_P | PF_RSVD);
    const userOk = (pde & US) !== 0;
    const writable = (pde & RW) !== 0;
    checkRights(cpu, lin, write, user, userOk, writable, wp, errBase);
    const want = pde | A | (write ? D : 0);
    if (want !== pde) mem.write32(pdeAddr >>> 0, want);
    const phys = (pde & 0xffe00000) | (lin & 0x001ff000);
    return makeEntry(cpu, phys, userOk, writable, (pde & G) !== 0, wp, write || (pde & D) !== 0);
  }
  const pteAddr = ((pde & ~0xfff) + ((lin >>> 12) & 0x1ff) * 8) & a20;
  const pte = mem.read32(pteAddr >>> 0);
  if (!(pte & P)) pageFault(cpu, lin, errBase);
  // The high dword is all reserved here (XD, bits 62:36, and 35:32 above this board's memory), as
  // is bit 7 (PAT) without a PAT.
  if (mem.read32((pteAddr + 4) >>> 0) || pte & PS) pageFault(cpu, lin, errBase | PF_P | PF_RSVD);
  const userOk = (pde & US) !== 0 && (pte & US) !== 0;
  const writable = (pde & RW) !== 0 && (pte & RW) !== 0;
  checkRights(cpu, lin, write, user, userOk, writable, wp, errBase);
  if (!(pde & A)) mem.write32(pdeAddr >>> 0, pde | A);
  const want = pte | A | (write ? D : 0);
  if (want !== pte) mem.write32(pteAddr >>> 0, want);
  return makeEntry(cpu, pte & ~0xfff, userOk, writable, (pte & G) !== 0, wp, write || (pte & D) !== 0);
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
