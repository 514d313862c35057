// The CPU's saved state, declared field by field (vmm/state/schema.ts). Saved at an instruction
// boundary, so nothing of an instruction in flight (prevEip, exception scratch) is kept. Derived
// state is not saved and is recomputed on load: the lazy flags are made concrete into EFLAGS, the
// offset checks come from the descriptor caches, CPL and sizes from CR0/EFLAGS/CS/SS, and the TLB
// and decoded (or translated) code are dropped. The FPU is its own section ('fpu').
//
// To add a register (PAE, MMX, MTRRs...): add its field with `since` one above the current version
// and bump `version`; fill it in postLoad when loading an older state (usually its reset value).

import { defineState, StateError, type FieldSpec } from '../state/schema.ts';
import { FLAGS_FIXED } from './flags.ts';
import type { Cpu } from './cpu.ts';

const prop = (name: keyof Cpu & string, type: FieldSpec<Cpu>['type'], length?: number): FieldSpec<Cpu> => ({ name, type, since: 1, length });

/** The MTRRs as 64-bit values: the fixed-range ones, each variable base and mask, then DEF_TYPE. */
function mtrrBytes(cpu: Cpu): Uint8Array {
  const m = cpu.mtrr;
  const all = [...m.fixed, ...m.base, ...m.mask, m.defType];
  const out = new Uint8Array(8 * all.length);
  const dv = new DataView(out.buffer);
  all.forEach((v, i) => dv.setBigUint64(8 * i, BigInt.asUintN(64, v), true));
  return out;
}

function setMtrr(cpu: Cpu, b: Uint8Array): void {
  const m = cpu.mtrr;
  const dv = new DataView(b.buffer, b.byteOffset, b.length);
  const at = (i: number): bigint => dv.getBigUint64(8 * i, true);
  let i = 0;
  for (let k = 0; k < m.fixed.length; k++) m.fixed[k] = at(i++);
  for (let k = 0; k < m.base.length; k++) m.base[k] = at(i++);
  for (let k = 0; k < m.mask.length; k++) m.mask[k] = at(i++);
  m.defType = at(i);
}

const mtrrCount = (cpu: Cpu): number => cpu.mtrr.fixed.length + cpu.mtrr.base.length + cpu.mtrr.mask.length + 1;

export const CPU_STATE = defineState<Cpu>({
  id: 'cpu',
  version: 1,
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
    // PAE: the four PDPTEs the CPU loaded at the last CR3 write (as lo, hi pairs), which the
    // walker uses until the next one, whatever the table in memory says now.
    prop('pdpte', 'i32[]', 8),
    prop('dr', 'i32[]', 8),
    prop('sysenterCs', 'x32'),
    prop('sysenterEsp', 'x32'),
    prop('sysenterEip', 'x32'),
    // Guest time is saved by the clock; the TSC is that time plus this offset, so it continues.
    prop('tscOffset', 'f64'),
    prop('apicBase', 'x32'),
    {
      name: 'mtrr',
      type: 'bytes',
      since: 1,
      get: mtrrBytes,
      set: (c, v) => {
        const b = v as Uint8Array;
        if (b.length !== 8 * mtrrCount(c)) throw new StateError(`cpu: saved field "mtrr" holds ${b.length / 8} registers, this CPU has ${mtrrCount(c)}`);
        setMtrr(c, b);
      },
    },
    prop('mcgStatus', 'u64'),
    prop('halted', 'bool'),
    prop('shadow', 'bool'),
    prop('stepArmed', 'bool'),
    prop('nmiPending', 'bool'),
    prop('nmiBlocked', 'bool'),
    prop('instructions', 'f64'),
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
