// RCL and RCR (group 2 /2 and /3, SDM vol. 2): rotates through CF, of 8- and 16-bit operands modulo
// 9 and 17. They are written by hand, bit by bit, and only the interpreter runs them (the translator
// leaves them to it); the generated shiftOp (integer-ops.generated.ts) calls them. Rotates touch only
// CF and OF; OF for counts above one is the P6's: the one-bit formula applied to the final step.

import type { Cpu } from '../cpu.ts';
import { CF, OF } from '../flags.ts';

const MASK = [0xff, 0xffff, -1] as const;
const BITS = [8, 16, 32] as const;

/** Sets CF and OF, leaving the other flags (lazy or not) as they are: the rotates' flags. */
export function setCfOf(cpu: Cpu, cf: boolean, of: boolean): void {
  cpu.materialize(CF | OF);
  let f = cpu.flagsRaw & ~(CF | OF);
  if (cf) f |= CF;
  if (of) f |= OF;
  cpu.flagsRaw = f;
}

/** RCL: rotate the (bits+1)-bit quantity CF:v left by count (1-31); v reduced to the width. */
export function rcl(cpu: Cpu, v: number, count: number, sz: number): number {
  const bits = BITS[sz]!;
  const m = MASK[sz]!;
  const sign = bits - 1;
  const c = sz === 2 ? count : count % (bits + 1);
  if (c === 0) {
    // Masked count non-zero but a multiple of 9/17: CF and OF still come out as the P6 computes.
    const cf = cpu.cf();
    setCfOf(cpu, cf, (((v >>> sign) & 1) !== 0) !== cf);
    return v;
  }
  let cf = cpu.cf() ? 1 : 0;
  let r = v;
  for (let k = 0; k < c; k++) {
    const out = (r >>> sign) & 1;
    r = ((r << 1) | cf) & m;
    cf = out;
  }
  setCfOf(cpu, cf !== 0, (((r >>> sign) & 1) ^ cf) !== 0);
  return r;
}

/** RCR: rotate CF:v right by count (1-31); v reduced to the width. */
export function rcr(cpu: Cpu, v: number, count: number, sz: number): number {
  const bits = BITS[sz]!;
  const m = MASK[sz]!;
  const sign = bits - 1;
  const c = sz === 2 ? count : count % (bits + 1);
  let cf = cpu.cf() ? 1 : 0;
  if (c === 0) {
    setCfOf(cpu, cf !== 0, (((v >>> sign) & 1) ^ ((v >>> (sign - 1)) & 1)) !== 0);
    return v;
  }
  let r = v;
  for (let k = 0; k < c; k++) {
    const out = r & 1;
    r = ((r >>> 1) | (cf << sign)) & m;
    cf = out;
  }
  setCfOf(cpu, cf !== 0, (((r >>> sign) & 1) ^ ((r >>> (sign - 1)) & 1)) !== 0);
  return r;
}
