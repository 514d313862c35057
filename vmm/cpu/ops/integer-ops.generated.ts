// GENERATED from vmm/cpu/gen/integer-table.ts and flags-table.ts by scripts/gen-ops.ts: do not edit.
// Regenerate with `node --import tsx scripts/gen-ops.ts`; vmm/cpu/gen/gen.test.ts fails while this file is stale.
// The interpreter's flag-setting integer operations and its evaluation of the lazy flags; the
// translators fill the same templates.

import type { Cpu } from '../cpu.ts';
import { LazyOp } from '../flags.ts';
import { rcl, rcr, setCfOf } from './rotate-carry.ts';

const MASK = [0xff, 0xffff, -1] as const;
const BITS = [8, 16, 32] as const;

/** Computes `a op b` for ALU operation op (0-7: ADD OR ADC SBB AND SUB XOR CMP) at size sz (0/1/2 = 8/16/32 bits), records the flags, returns the masked result. */
export function alu(cpu: Cpu, op: number, a: number, b: number, sz: number): number {
  const m = MASK[sz]!;
  let r: number;
  switch (op) {
    case 0: // ADD
      r = (a + b) & m;
      cpu.setLazy(LazyOp.ADD, a, b, r, sz);
      return r;
    case 1: // OR
      r = (a | b) & m;
      cpu.setLazy(LazyOp.LOGIC, a, b, r, sz);
      return r;
    case 2: { // ADC
      const c = cpu.cf() ? 1 : 0;
      r = (a + b + c) & m;
      cpu.setLazy(c ? LazyOp.ADC : LazyOp.ADD, a, b, r, sz);
      return r;
    }
    case 3: { // SBB
      const c = cpu.cf() ? 1 : 0;
      r = (a - b - c) & m;
      cpu.setLazy(c ? LazyOp.SBB : LazyOp.SUB, a, b, r, sz);
      return r;
    }
    case 4: // AND
      r = (a & b) & m;
      cpu.setLazy(LazyOp.LOGIC, a, b, r, sz);
      return r;
    case 6: // XOR
      r = (a ^ b) & m;
      cpu.setLazy(LazyOp.LOGIC, a, b, r, sz);
      return r;
    default: // SUB, CMP
      r = (a - b) & m;
      cpu.setLazy(LazyOp.SUB, a, b, r, sz);
      return r;
  }
}

/** TEST: the flags of `a & b`, nothing written. */
export function test(cpu: Cpu, a: number, b: number, sz: number): number {
  const m = MASK[sz]!;
  const r = (a & b) & m;
  cpu.setLazy(LazyOp.LOGIC, a, b, r, sz);
  return r;
}

/** INC: `a + 1`, CF kept. */
export function inc(cpu: Cpu, a: number, sz: number): number {
  const m = MASK[sz]!;
  const r = (a + 1) & m;
  cpu.setLazyKeepCF(LazyOp.ADD, a, 1, r, sz);
  return r;
}

/** DEC: `a - 1`, CF kept. */
export function dec(cpu: Cpu, a: number, sz: number): number {
  const m = MASK[sz]!;
  const r = (a - 1) & m;
  cpu.setLazyKeepCF(LazyOp.SUB, a, 1, r, sz);
  return r;
}

/** NOT: no flags. */
export function not(a: number, sz: number): number {
  const m = MASK[sz]!;
  const r = (~a) & m;
  return r;
}

/** NEG: the flags of `0 - a`. */
export function neg(cpu: Cpu, a: number, sz: number): number {
  const m = MASK[sz]!;
  const r = (-a) & m;
  cpu.setLazy(LazyOp.SUB, 0, a, r, sz);
  return r;
}

/** Group-2 operation op (its /r) on v at size sz with count k (masked to 5 bits, not 0); returns the new value, flags set. */
export function shiftOp(cpu: Cpu, op: number, v: number, k: number, sz: number): number {
  const bits = BITS[sz]!;
  const m = MASK[sz]!;
  const sign = bits - 1;
  v &= m;
  switch (op) {
    case 0: { // ROL
      const c = k & sign;
      const rc = bits - c;
      const r = c === 0 ? v : ((v << c) | (v >>> rc)) & m;
      const cf = r & 1;
      const of = ((r >>> sign) & 1) ^ cf;
      setCfOf(cpu, cf !== 0, of !== 0);
      return r;
    }
    case 1: { // ROR
      const c = k & sign;
      const rc = bits - c;
      const r = c === 0 ? v : ((v >>> c) | (v << rc)) & m;
      const cf = (r >>> sign) & 1;
      const of = cf ^ ((r >>> (sign - 1)) & 1);
      setCfOf(cpu, cf !== 0, of !== 0);
      return r;
    }
    case 2: // RCL
      return rcl(cpu, v, k, sz);
    case 3: // RCR
      return rcr(cpu, v, k, sz);
    case 4:
    case 6: { // SHL, SAL
      const r = k >= bits ? 0 : (v << k) & m;
      const out = bits - k;
      const cf = k <= bits ? (v >>> out) & 1 : 0;
      const of = ((r >>> sign) & 1) ^ cf;
      cpu.setResultFlags(r, sz, cf !== 0, of !== 0);
      return r;
    }
    case 5: { // SHR
      const r = k >= bits ? 0 : (v >>> k) & m;
      const out = k - 1;
      const cf = k <= bits ? (v >>> out) & 1 : 0;
      const of = k === 1 ? (v >>> sign) & 1 : (r >>> sign) & 1;
      cpu.setResultFlags(r, sz, cf !== 0, of !== 0);
      return r;
    }
    default: { // SAR
      const up = 32 - bits;
      const sv = (v << up) >> up;
      const r = (sv >> k) & m;
      const out = k - 1;
      const cf = (sv >> out) & 1;
      const of = 0;
      cpu.setResultFlags(r, sz, cf !== 0, of !== 0);
      return r;
    }
  }
}

/** MUL: AL, AX or EAX times b into AX, DX:AX or EDX:EAX. */
export function mul(cpu: Cpu, b: number, sz: number): void {
  if (sz === 0) {
    const a = cpu.r8[0]!;
    const r = a * b;
    const over = r >> 8 !== 0;
    cpu.r16[0] = r;
    cpu.setResultFlags(r & 255, 0, over, over);
  } else if (sz === 1) {
    const a = cpu.r16[0]!;
    const r = a * b;
    const over = r >>> 16 !== 0;
    cpu.r16[0] = r;
    cpu.r16[4] = r >>> 16;
    cpu.setResultFlags(r & 65535, 1, over, over);
  } else {
    const a = cpu.r32[0]!;
    const ua = a >>> 0;
    const ub = b >>> 0;
    const p1 = (ua & 65535) * ub;
    const p2 = (ua >>> 16) * ub;
    const lo = Math.imul(ua, ub);
    const hi = (Math.floor(p2 / 65536) + Math.floor((p1 + (p2 % 65536) * 65536) / 4294967296)) | 0;
    const over = hi !== 0;
    cpu.r32[0] = lo;
    cpu.r32[2] = hi;
    cpu.setResultFlags(lo, 2, over, over);
  }
}

/** IMUL with one operand: AL, AX or EAX times b, signed, into AX, DX:AX or EDX:EAX. */
export function imul1(cpu: Cpu, b: number, sz: number): void {
  if (sz === 0) {
    const a = cpu.r8[0]!;
    const r = ((a << 24) >> 24) * ((b << 24) >> 24);
    const over = r !== (r << 24) >> 24;
    cpu.r16[0] = r;
    cpu.setResultFlags(r & 255, 0, over, over);
  } else if (sz === 1) {
    const a = cpu.r16[0]!;
    const r = ((a << 16) >> 16) * ((b << 16) >> 16);
    const over = r !== (r << 16) >> 16;
    cpu.r16[0] = r;
    cpu.r16[4] = r >> 16;
    cpu.setResultFlags(r & 65535, 1, over, over);
  } else {
    const a = cpu.r32[0]!;
    const sa = a | 0;
    const sb = b | 0;
    const ua = sa >>> 0;
    const ub = sb >>> 0;
    const p1 = (ua & 65535) * ub;
    const p2 = (ua >>> 16) * ub;
    const lo = Math.imul(ua, ub);
    const hi = (Math.floor(p2 / 65536) + Math.floor((p1 + (p2 % 65536) * 65536) / 4294967296)) | 0;
    const sh = (hi - (sa < 0 ? sb : 0) - (sb < 0 ? sa : 0)) | 0;
    const over = sh !== lo >> 31;
    cpu.r32[0] = lo;
    cpu.r32[2] = sh;
    cpu.setResultFlags(lo, 2, over, over);
  }
}

/** IMUL r, r/m[, imm]: the signed product of a and b truncated to sz bits. */
export function imulTrunc(cpu: Cpu, a: number, b: number, sz: number): number {
  if (sz === 1) {
    const r = ((a << 16) >> 16) * ((b << 16) >> 16);
    const t = (r << 16) >> 16;
    const over = t !== r;
    cpu.setResultFlags(r & 65535, 1, over, over);
    return r & 65535;
  } else {
    const lo = Math.imul(a, b);
    const over = (a | 0) * (b | 0) !== lo;
    cpu.setResultFlags(lo, 2, over, over);
    return lo;
  }
}

/** CF of the recorded operation `op` (gen/flags-table.ts), at operand mask m. */
export function lazyCF(op: LazyOp, a: number, b: number, r: number, m: number): boolean {
  switch (op) {
    case LazyOp.ADD:
      return ((r & m) >>> 0) < ((a & m) >>> 0);
    case LazyOp.ADC:
      return ((r & m) >>> 0) <= ((a & m) >>> 0);
    case LazyOp.SUB:
      return ((a & m) >>> 0) < ((b & m) >>> 0);
    case LazyOp.SBB:
      return ((a & m) >>> 0) <= ((b & m) >>> 0);
    default:
      return false;
  }
}

/** OF of the recorded operation `op`, with s the operand's sign bit. */
export function lazyOF(op: LazyOp, a: number, b: number, r: number, s: number): boolean {
  switch (op) {
    case LazyOp.ADD:
    case LazyOp.ADC:
      return ((a ^ r) & (b ^ r) & s) !== 0;
    case LazyOp.SUB:
    case LazyOp.SBB:
      return ((a ^ b) & (a ^ r) & s) !== 0;
    default:
      return false;
  }
}

/** AF of the recorded operation `op`. */
export function lazyAF(op: LazyOp, a: number, b: number, r: number): boolean {
  switch (op) {
    case LazyOp.ADD:
    case LazyOp.ADC:
    case LazyOp.SUB:
    case LazyOp.SBB:
      return ((a ^ b ^ r) & 16) !== 0;
    default:
      return false;
  }
}

/** Condition code cc (0-15, as in Jcc, SETcc and CMOVcc) of the flags now. */
export function cond(cpu: Cpu, cc: number): boolean {
  let r: boolean;
  switch (cc >> 1) {
    case 0:
      r = cpu.of();
      break;
    case 1:
      r = cpu.cf();
      break;
    case 2:
      r = cpu.zf();
      break;
    case 3:
      r = (cpu.cf() || cpu.zf());
      break;
    case 4:
      r = cpu.sf();
      break;
    case 5:
      r = cpu.pf();
      break;
    case 6:
      r = (cpu.sf() !== cpu.of());
      break;
    default:
      r = (cpu.zf() || cpu.sf() !== cpu.of());
      break;
  }
  return cc & 1 ? !r : r;
}
