// Translations of the flag-setting integer instructions: the eight ALU operations (00-3D, 80/81/83),
// TEST, INC, DEC, NOT, NEG, and CMPXCHG and XADD (CMP's and ADD's). What each computes, and which
// flags it leaves, comes from the table the interpreter's functions are generated from
// (gen/integer-table.ts); here are their operand forms. BSF and BSR, which the table does not hold,
// follow ops/bits.ts.
// The operands and result go to the flag locals (flags-emit.ts) instead of the cpu's lazy-flag fields.

import type { Instr } from '../decode.ts';
import type { BlockWriter } from './block-writer.ts';
import { carryExpr } from './flags-emit.ts';
import { ALU_OPS, DEC, INC, NEG, NOT, TEST, fill, readsCarry, type IntOp } from '../gen/integer-table.ts';

/** `x` reduced to the operand width (int32 for 32 bits, as the interpreter's `& MASK[sz]`). */
function wrap(x: string, sz: number): string {
  return sz === 2 ? `(${x}) | 0` : `(${x}) & ${sz === 0 ? 255 : 65535}`;
}

/**
 * Emits `const r` for operation `op` of the table over operands `a` and `b` and makes it the pending
 * flag producer. `a` and `b` must be names or constants, not expressions with side effects. The flag
 * locals are assigned by the returned function, after the destination is written.
 */
function compute(w: BlockWriter, op: IntOp, a: string, b: string, sz: number): () => void {
  const carry = readsCarry(op);
  const names = { a, b, c: 'c' };
  w.emit(`${carry ? `const c = ${carryExpr(w.pending)}; ` : ''}const r = ${wrap(fill(op.result, names), sz)};`);
  return () => {
    const f = op.flags;
    if (!f) return;
    w.emit(`fa = ${fill(f.a, names)}; fb = ${fill(f.b, names)}; fr = r;${carry ? ' fc = c;' : ''}`);
    w.pending = { op: f.producer, sz };
  };
}

function sizeOf(i: Instr, byteForm: boolean): number {
  return byteForm ? 0 : i.o32 ? 2 : 1;
}

function immOf(i: Instr, sz: number): string {
  return String(sz === 0 ? i.imm & 0xff : sz === 1 ? i.imm & 0xffff : i.imm | 0);
}

/** E op= src, with E a register or memory (read-modify-write). */
function aluE(w: BlockWriter, i: Instr, op: IntOp, sz: number, src: string): void {
  if (i.mod === 3) {
    const dst = w.reg(sz, i.rm);
    w.emit(`const a = ${dst}, b = ${src};`);
    const commit = compute(w, op, 'a', 'b', sz);
    if (op.writes) w.emit(`${dst} = r;`);
    commit();
    return;
  }
  if (!op.writes) {
    const m = w.readMem(i, sz, 'a');
    w.emit(`const b = ${src};`);
    compute(w, op, m, 'b', sz)();
    return;
  }
  const write = w.rmw(i, sz, 'a');
  w.emit(`const b = ${src};`);
  const commit = compute(w, op, 'a', 'b', sz);
  w.emit(write('r'));
  commit();
  w.afterWrite();
}

/** G op= E. */
function aluG(w: BlockWriter, i: Instr, op: IntOp, sz: number): void {
  const dst = w.reg(sz, i.reg);
  const src = w.readE(i, sz, 'b');
  w.emit(`const a = ${dst}${src === 'b' ? '' : `, b = ${src}`};`);
  const commit = compute(w, op, 'a', 'b', sz);
  if (op.writes) w.emit(`${dst} = r;`);
  commit();
}

function test(w: BlockWriter, a: string, b: string, sz: number): void {
  w.emit(`const a = ${a}, b = ${b};`);
  compute(w, TEST, 'a', 'b', sz)();
}

/** INC, DEC, NOT, NEG of E, or of register `regOnly` (40-4F) when it is not -1. */
function unary(w: BlockWriter, i: Instr, op: IntOp, sz: number, regOnly: number): void {
  if (regOnly >= 0 || i.mod === 3) {
    const dst = w.reg(sz, regOnly >= 0 ? regOnly : i.rm);
    w.emit(`const a = ${dst};`);
    const commit = compute(w, op, 'a', 'b', sz);
    w.emit(`${dst} = r;`);
    commit();
    return;
  }
  const write = w.rmw(i, sz, 'a');
  const commit = compute(w, op, 'a', 'b', sz);
  w.emit(write('r'));
  commit();
  w.afterWrite();
}

/**
 * CMPXCHG E, G: the accumulator compared with E (CMP's flags); equal, E = G, else the accumulator =
 * E. E is written either way, as the locked bus cycle does (ops/arith.ts).
 */
function cmpxchg(w: BlockWriter, i: Instr, sz: number): void {
  const acc = w.reg(sz, 0);
  const same = sz === 2 ? '(a | 0) === (b | 0)' : 'a === b';
  if (i.mod === 3) {
    const dst = w.reg(sz, i.rm);
    w.emit(`const a = ${acc}, b = ${dst}, s = ${w.reg(sz, i.reg)};`);
    const commit = compute(w, ALU_OPS[CMP]!, 'a', 'b', sz);
    w.emit(`if (${same}) ${dst} = s; else ${acc} = b;`);
    commit();
    return;
  }
  const write = w.rmw(i, sz, 'b');
  w.emit(`const a = ${acc}, s = ${w.reg(sz, i.reg)};`);
  const commit = compute(w, ALU_OPS[CMP]!, 'a', 'b', sz);
  w.emit(write(`${same} ? s : b`));
  w.emit(`if (!(${same})) ${acc} = b;`);
  commit();
  w.afterWrite();
}

/** XADD E, G: E = E + G (ADD's flags), G = the old E. */
function xadd(w: BlockWriter, i: Instr, sz: number): void {
  const src = w.reg(sz, i.reg);
  if (i.mod === 3) {
    const dst = w.reg(sz, i.rm);
    w.emit(`const a = ${dst}, b = ${src};`);
    const commit = compute(w, ALU_OPS[ADD]!, 'a', 'b', sz);
    // G first: with G and E the same register, E's sum is what stays (as the interpreter writes them).
    w.emit(`${src} = a; ${dst} = r;`);
    commit();
    return;
  }
  const write = w.rmw(i, sz, 'a');
  w.emit(`const b = ${src};`);
  const commit = compute(w, ALU_OPS[ADD]!, 'a', 'b', sz);
  w.emit(write('r'));
  w.emit(`${src} = a;`);
  commit();
  w.afterWrite();
}

/**
 * BSF and BSR: the index of the lowest or highest set bit of E into G, G left alone when E is 0; the
 * flags are a logical operation's over E (ops/bits.ts: ZF from E, the P6's SF and PF, CF and OF clear).
 */
function scan(w: BlockWriter, i: Instr, forward: boolean): void {
  const sz = sizeOf(i, false);
  const e = w.readE(i, sz, 'm');
  // An int32, as ops/bits.ts records it: an unsigned value in fr would reach cpu.lres as a boxed double.
  w.emit(`const v = ${sz === 2 ? `${e} | 0` : e};`);
  w.emit(`if (v !== 0) ${w.reg(sz, i.reg)} = ${forward ? '31 - Math.clz32(v & -v)' : '31 - Math.clz32(v)'};`);
  w.emit('fa = 0; fb = 0; fr = v;');
  w.pending = { op: 'logic', sz };
}

/** ALU_OPS's places of ADD and CMP (the /r of group 1). */
const ADD = 0;
const CMP = 7;

/** Emits a translation of `i` if it is one of these instructions; false leaves it to the interpreter. */
export function emitAlu(w: BlockWriter, i: Instr): boolean {
  const o = i.opcode;
  if (o < 0x40 && (o & 7) < 6) {
    const op = ALU_OPS[o >> 3]!;
    const form = o & 7;
    const sz = sizeOf(i, (form & 1) === 0);
    switch (form) {
      case 0:
      case 1:
        aluE(w, i, op, sz, w.reg(sz, i.reg));
        return true;
      case 2:
      case 3:
        aluG(w, i, op, sz);
        return true;
      default: {
        const acc = w.reg(sz, 0);
        w.emit(`const a = ${acc};`);
        const commit = compute(w, op, 'a', immOf(i, sz), sz);
        if (op.writes) w.emit(`${acc} = r;`);
        commit();
        return true;
      }
    }
  }
  switch (o) {
    case 0x80:
    case 0x82:
      aluE(w, i, ALU_OPS[i.reg]!, 0, immOf(i, 0));
      return true;
    case 0x81:
    case 0x83: {
      const sz = sizeOf(i, false);
      aluE(w, i, ALU_OPS[i.reg]!, sz, immOf(i, sz));
      return true;
    }
    case 0x84:
    case 0x85: {
      const sz = sizeOf(i, o === 0x84);
      const e = w.readE(i, sz, 'm');
      test(w, e, w.reg(sz, i.reg), sz);
      return true;
    }
    case 0xa8:
      test(w, w.reg(0, 0), String(i.imm & 0xff), 0);
      return true;
    case 0xa9: {
      const sz = sizeOf(i, false);
      test(w, w.reg(sz, 0), immOf(i, sz), sz);
      return true;
    }
    case 0xf6:
    case 0xf7: {
      const sz = sizeOf(i, o === 0xf6);
      if (i.reg === 2 || i.reg === 3) {
        unary(w, i, i.reg === 2 ? NOT : NEG, sz, -1);
        return true;
      }
      if (i.reg > 1) return false;
      const e = w.readE(i, sz, 'm');
      test(w, e, immOf(i, sz), sz);
      return true;
    }
    case 0xfe:
    case 0xff:
      if (i.reg > 1) return false;
      unary(w, i, i.reg === 1 ? DEC : INC, sizeOf(i, o === 0xfe), -1);
      return true;
  }
  if (o === 0x0fb0 || o === 0x0fb1) {
    cmpxchg(w, i, sizeOf(i, o === 0x0fb0));
    return true;
  }
  if (o === 0x0fbc || o === 0x0fbd) {
    scan(w, i, o === 0x0fbc);
    return true;
  }
  if (o === 0x0fc0 || o === 0x0fc1) {
    xadd(w, i, sizeOf(i, o === 0x0fc0));
    return true;
  }
  if (o >= 0x40 && o < 0x50) {
    unary(w, i, o >= 0x48 ? DEC : INC, sizeOf(i, false), o & 7);
    return true;
  }
  return false;
}
