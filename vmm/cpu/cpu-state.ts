// The CPU's saved state, declared field by field (vmm/state/schema.ts). Saved at an instruction
// boundary, so nothing of an instruction in flight (prevEip, exception scratch) is kept. Derived
// state is not saved and is recomputed on load: the lazy flags are made concrete into EFLAGS, the
// offset checks come from the descriptor caches, CPL and sizes from CR0/EFLAGS/CS/SS, and the TLB
// and decoded (or translated) code are dropped. The FPU is its own section ('fpu').
//
// To add a register (PAE, MMX, MTRRs...): add its field with `since` one above the current version
// and bump `version`; fill it in postLoad when loading an older state (usually its reset value).

import { defineState, type FieldSpec } from '../state/schema.ts';
import { FLAGS_FIXED } from './flags.ts';
import { FIXED_MSRS, MSR_MTRR_DEF_TYPE, MSR_MTRR_PHYSBASE0 } from './mtrr.ts';
import { StateError } from '../state/schema.ts';
import type { Cpu } from './cpu.ts';

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

/** PAT and MISC_ENABLE are not modeled (CPUID reports no PAT); format-1 files carry them, so they stay as ignored fields. */
const ignored = (name: string, type: FieldSpec<Cpu>['type'], value: number | bigint): FieldSpec<Cpu> => ({ name, type, since: 1, get: () => value, set: () => {} });

export const CPU_STATE = defineState<Cpu>({
  id: 'cpu',
  version: 3,
  fields: [
    prop('r32', 'i32[]', 8),
    prop('eip', 'x32'),
    // The lazy flags made concrete: the file never depends on how flags are computed.
    {
      name: 'eflags',
      type: 'u32',
      since: 1,
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
    prop('apicBase', 'x32'),
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
  ],
  postLoad: (cpu) => {
    cpu.delivering = -1;
    for (let s = 0; s < 6; s++) cpu.updateSegmentChecks(s);
    cpu.updateMode();
    cpu.flushTlb(true);
    cpu.invalidateAllCode();
    cpu.brk = true;
  },
});
