// The CPU's saved state, declared field by field (vmm/state/schema.ts). Saved at an instruction
// boundary, so nothing of an instruction in flight (prevEip, exception scratch) is kept. Derived
// state is not saved and is recomputed on load: the lazy flags are made concrete into EFLAGS, the
// offset checks come from the descriptor caches, CPL and sizes from CR0/EFLAGS/CS/SS, and the TLB
// and decoded (or translated) code are dropped. The FPU is its own section ('fpu').
//
// To add a register (PAE, MMX, MTRRs...): add its field with `since` one above the current version
// and bump `version`; fill it in postLoad when loading an older state (usually its reset value).

import { defineState, type FieldSpec } from '../state/schema.ts';
import { FLAGS_FIXED, VM } from './flags.ts';
import { FIXED_MSRS, MSR_MTRR_DEF_TYPE, MSR_MTRR_PHYSBASE0 } from './mtrr.ts';
import { StateError } from '../state/schema.ts';
import { CR0_CD, CR0_ET, CR0_NW, CR0_PE, CR0_PG, CR4_PAE } from './regs.ts';
import { CR4_VALID } from './ops/system.ts';
import { PDPTE_RSVD_LO } from './paging.ts';
import type { Cpu } from './cpu.ts';
import { LocalApic } from '../devices/local-apic/local-apic.ts';

const prop = (name: keyof Cpu & string, type: FieldSpec<Cpu>['type'], length?: number): FieldSpec<Cpu> => ({ name, type, since: 1, length });

/** Every MTRR MSR a P6 has (mtrr.ts): DEF_TYPE, the fixed ranges, PHYSBASE/PHYSMASK 0-7. */
const MTRR_MSRS = [MSR_MTRR_DEF_TYPE, ...FIXED_MSRS, ...Array.from({ length: 16 }, (_, k) => MSR_MTRR_PHYSBASE0 + k)];

/** The MTRRs as (u32 index, u64 value) pairs in index order: the format-1 encoding of the MSR map. */
function mtrrBytes(cpu: Cpu): Uint8Array {
  const keys = [...MTRR_MSRS].sort((a, b) => a - b);
  const out = new Uint8Array(12 * keys.length);
  const dv = new DataView(out.buffer);
  keys.forEach((k, i) => {
    dv.setUint32(12 * i, k >>> 0, true);
    dv.setBigUint64(12 * i + 4, BigInt.asUintN(64, cpu.mtrr.read(k) ?? 0n), true);
  });
  return out;
}

/** Loads the pairs; other MSRs a format-1 file may list (it kept a free map) are not MTRRs and go. */
function setMtrr(cpu: Cpu, b: Uint8Array): void {
  if (b.length % 12) throw new StateError('cpu: saved field "mtrr" is not whole (index, value) pairs');
  const dv = new DataView(b.buffer, b.byteOffset, b.length);
  cpu.mtrr.reset();
  for (let i = 0; i < b.length; i += 12) {
    const index = dv.getUint32(i, true);
    if (cpu.mtrr.write(index, dv.getBigUint64(i + 4, true)) === 'gp')
      throw new StateError(`cpu: saved MTRR ${index.toString(16)} holds a value a P6 refuses`);
  }
}

/**
 * Refuses state no P6 can be in, since a guest could never have put it there: what MOV CR0, MOV CR4
 * and MOV CR3 (the PDPTE load of PAE paging) refuse with #GP, virtual-8086 mode outside protected
 * mode (only IRET or a task switch in protected mode enter it), and a TSC that is not a whole count
 * (RDMSR makes it a BigInt). A file that holds such a state was edited, and running it would be
 * running a machine that does not exist.
 */
function refuseImpossible(cpu: Cpu): void {
  const hex = (v: number): string => (v >>> 0).toString(16).padStart(8, '0');
  const bad = (what: string): never => {
    throw new StateError(`cpu: saved ${what}, which no P6 can hold`);
  };
  const cr0 = cpu.cr0;
  if (!(cr0 & CR0_ET)) bad(`CR0 ${hex(cr0)} has ET clear (it is wired to 1)`);
  if (cr0 & CR0_PG && !(cr0 & CR0_PE)) bad(`CR0 ${hex(cr0)} turns on paging without protected mode`);
  if (cr0 & CR0_NW && !(cr0 & CR0_CD)) bad(`CR0 ${hex(cr0)} has NW without CD`);
  if (cpu.cr4 & ~CR4_VALID) bad(`CR4 ${hex(cpu.cr4)} sets bits this CPU does not have`);
  if (cpu.flagsRaw & VM && !(cr0 & CR0_PE)) bad(`EFLAGS ${hex(cpu.flagsRaw)} is in virtual-8086 mode outside protected mode`);
  if (!Number.isInteger(cpu.tscOffset)) bad(`TSC offset ${cpu.tscOffset} is not a whole number of cycles`);
  // The registers are in use only under PAE paging; otherwise they are loaded again before they are.
  if (cr0 & CR0_PG && cpu.cr4 & CR4_PAE)
    for (let k = 0; k < 4; k++) {
      const lo = cpu.pdpte[2 * k]!;
      const hi = cpu.pdpte[2 * k + 1]!;
      if (lo & 1 && (lo & PDPTE_RSVD_LO || hi)) bad(`PDPTE ${k} (${hex(hi)} ${hex(lo)}) is present with reserved bits set`);
    }
}

/** PAT and MISC_ENABLE are not modeled (CPUID reports no PAT); format-1 files carry them, so they stay as ignored fields. */
const ignored = (name: string, type: FieldSpec<Cpu>['type'], value: number | bigint): FieldSpec<Cpu> => ({ name, type, since: 1, get: () => value, set: () => {} });

export const CPU_STATE = defineState<Cpu>({
  id: 'cpu',
  version: 4,
  fields: [
    prop('r32', 'i32[]', 8),
    prop('eip', 'x32'),
    // The lazy flags made concrete: the file never depends on how flags are computed.
    {
      name: 'eflags',
      type: 'u32',
      since: 1,
      // The bits an x86 has (cpu.setFlags); the reserved ones read as 0, as after a POPF.
      mask: 0x3f7fd7,
      get: (c) => c.getFlags() >>> 0,
      set: (c, v) => {
        c.flagsRaw = (v as number) | FLAGS_FIXED;
        c.lazy = 0;
      },
    },
    prop('sel', 'u16[]', 6),
    prop('segBase', 'i32[]', 6),
    prop('segLimit', 'u32[]', 6),
    prop('segAr', 'u16[]', 6),
    prop('gdtrBase', 'x32'),
    prop('gdtrLimit', 'u32'),
    prop('idtrBase', 'x32'),
    prop('idtrLimit', 'u32'),
    prop('ldtrSel', 'u16'),
    prop('ldtrBase', 'x32'),
    prop('ldtrLimit', 'x32'),
    prop('trSel', 'u16'),
    prop('trBase', 'x32'),
    prop('trLimit', 'x32'),
    prop('trType', 'u8'),
    prop('cr0', 'x32'),
    prop('cr2', 'x32'),
    prop('cr3', 'x32'),
    prop('cr4', 'x32'),
    prop('dr', 'i32[]', 8),
    prop('sysenterCs', 'x32'),
    prop('sysenterEsp', 'x32'),
    prop('sysenterEip', 'x32'),
    // Guest time is saved by the clock; the TSC is that time plus this offset, so it continues.
    prop('tscOffset', 'f64'),
    // IA32_APIC_BASE's low half, kept for format-1 readers; version 4's `apic` record holds the APIC.
    { name: 'apicBase', type: 'x32', since: 1, get: (c) => Number((c.apic?.baseMsr ?? 0n) & 0xffffffffn), set: () => {} },
    { name: 'mtrr', type: 'bytes', since: 1, get: mtrrBytes, set: (c, v) => setMtrr(c, v as Uint8Array) },
    ignored('pat', 'u64', 0x0007040600070406n),
    ignored('miscEnable', 'f64', 1),
    prop('halted', 'bool'),
    prop('shadow', 'bool'),
    prop('stepArmed', 'bool'),
    prop('nmiPending', 'bool'),
    prop('nmiBlocked', 'bool'),
    prop('instructions', 'f64'),
    // Version 2: PAE's PDPTE registers (loaded from CR3 when PAE paging is on) and IA32_MCG_STATUS.
    { name: 'pdpte', type: 'i32[]', since: 2, length: 8 },
    { name: 'mcgStatus', type: 'u64', since: 2 },
    // Version 3: shut down by a triple fault, until the reset (a VM suspended then stays so).
    { name: 'shutdown', type: 'bool', since: 3 },
    // Version 4: the local APIC's registers and timer (null on a CPU without a board's APIC).
    { name: 'apic', type: 'record', since: 4, record: LocalApic.STATE, of: (c) => c.apic },
  ],
  postLoad: (cpu) => {
    refuseImpossible(cpu);
    cpu.delivering = -1;
    for (let s = 0; s < 6; s++) cpu.updateSegmentChecks(s);
    cpu.updateMode();
    cpu.flushTlb(true);
    cpu.invalidateAllCode();
    cpu.brk = true;
  },
});
