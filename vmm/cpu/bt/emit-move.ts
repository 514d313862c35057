// Translations of the data-movement instructions that dominate guest code: MOV, LEA, MOVZX/MOVSX,
// PUSH/POP of registers and immediates, XCHG of registers, SETcc and CMOVcc. Semantics as in
// ops/mov.ts and ops/stack.ts.

import type { Instr } from '../decode.ts';
import type { BlockWriter } from './block-writer.ts';
import { condExpr } from './flags-emit.ts';

function opSize(i: Instr): number {
  return i.o32 ? 2 : 1;
}

/** Stores `value` to the E operand. */
function writeE(w: BlockWriter, i: Instr, sz: number, value: string): void {
  if (i.mod === 3) {
    w.emit(`${w.reg(sz, i.rm)} = ${value};`);
    return;
  }
  w.writeMem(i, sz, value);
  w.afterWrite();
}

export function emitMove(w: BlockWriter, i: Instr): boolean {
  const o = i.opcode;
  switch (o) {
    case 0x88:
    case 0x89: {
      const sz = o === 0x88 ? 0 : opSize(i);
      writeE(w, i, sz, w.reg(sz, i.reg));
      return true;
    }
    case 0x8a:
    case 0x8b: {
      const sz = o === 0x8a ? 0 : opSize(i);
      const v = w.readE(i, sz, 'm');
      w.emit(`${w.reg(sz, i.reg)} = ${v};`);
      return true;
    }
    case 0xc6:
    case 0xc7: {
      if (i.reg !== 0) return false;
      const sz = o === 0xc6 ? 0 : opSize(i);
      writeE(w, i, sz, String(sz === 0 ? i.imm & 0xff : sz === 1 ? i.imm & 0xffff : i.imm | 0));
      return true;
    }
    case 0x8d:
      if (i.mod === 3) return false; // #UD, from the interpreter
      w.emit(`${w.reg(opSize(i), i.reg)} = ${w.ea(i)};`);
      return true;
    case 0x0fb6:
    case 0x0fb7:
    case 0x0fbe:
    case 0x0fbf: {
      const src = o & 1 ? 1 : 0;
      const v = w.readE(i, src, 'm');
      const sz = opSize(i);
      const ext = o < 0x0fbe || (src === 1 && sz === 1) ? v : src === 0 ? `((${v} << 24) >> 24)` : `((${v} << 16) >> 16)`;
      w.emit(`${w.reg(sz, i.reg)} = ${ext};`);
      return true;
    }
    case 0x90:
      if (i.rep) return false; // PAUSE is NOP too, but keep the interpreter's view of F3 90
      return true;
    case 0x0f1f:
      return true;
    case 0x68:
    case 0x6a: {
      const sz = opSize(i);
      w.push(sz as 1 | 2, String(sz === 1 ? i.imm & 0xffff : i.imm | 0));
      return true;
    }
    case 0x87:
      if (i.mod !== 3) return false;
      xchg(w, opSize(i), i.reg, i.rm);
      return true;
    case 0x86:
      if (i.mod !== 3) return false;
      w.emit(`const t = ${w.reg(0, i.reg)}; ${w.reg(0, i.reg)} = ${w.reg(0, i.rm)}; ${w.reg(0, i.rm)} = t;`);
      return true;
  }
  if (o >= 0xb0 && o < 0xb8) {
    w.emit(`${w.reg(0, o & 7)} = ${i.imm & 0xff};`);
    return true;
  }
  if (o >= 0xb8 && o < 0xc0) {
    const sz = opSize(i);
    w.emit(`${w.reg(sz, o & 7)} = ${sz === 1 ? i.imm & 0xffff : i.imm | 0};`);
    return true;
  }
  if (o >= 0x91 && o < 0x98) {
    xchg(w, opSize(i), 0, o & 7);
    return true;
  }
  if (o >= 0x50 && o < 0x58) {
    const sz = opSize(i) as 1 | 2;
    w.emit(`const v = ${w.reg(sz, o & 7)};`);
    w.push(sz, 'v');
    return true;
  }
  if (o >= 0x58 && o < 0x60) {
    const sz = opSize(i) as 1 | 2;
    w.peek(sz, 'v');
    w.adjustSp(sz === 2 ? 4 : 2);
    w.emit(`${w.reg(sz, o & 7)} = v;`);
    return true;
  }
  if (o >= 0x0f90 && o < 0x0fa0) {
    const cc = o & 15;
    writeE(w, i, 0, `(${condExpr(w.pending, cc)} ? 1 : 0)`);
    return true;
  }
  if (o >= 0x0f40 && o < 0x0f50) {
    const sz = opSize(i);
    const v = w.readE(i, sz, 'm');
    w.emit(`if (${condExpr(w.pending, o & 15)}) ${w.reg(sz, i.reg)} = ${v};`);
    return true;
  }
  return false;
}

function xchg(w: BlockWriter, sz: number, a: number, b: number): void {
  w.emit(`const t = ${w.reg(sz, a)}; ${w.reg(sz, a)} = ${w.reg(sz, b)}; ${w.reg(sz, b)} = t;`);
}
