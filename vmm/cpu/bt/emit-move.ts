// Translations of the data-movement instructions that dominate guest code: MOV (with the moffs forms
// of A0-A3), LEA, MOVZX/MOVSX, PUSH/POP of registers and immediates, PUSH r/m, LEAVE, XCHG of
// registers, SETcc and CMOVcc, CBW/CWD, CLD/STD and BSWAP. Semantics as in ops/mov.ts and ops/stack.ts.

import type { Instr } from '../decode.ts';
import type { BlockWriter } from './block-writer.ts';
import { condExpr } from './flags-emit.ts';
import { DF } from '../flags.ts';

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
    case 0xa0:
    case 0xa1: {
      // MOV AL/eAX, moffs: a memory operand with no ModRM (decoded as mod 0, displacement only).
      const sz = o === 0xa0 ? 0 : opSize(i);
      const v = w.readMem(i, sz, 'm');
      w.emit(`${w.reg(sz, 0)} = ${v};`);
      return true;
    }
    case 0xa2:
    case 0xa3: {
      const sz = o === 0xa2 ? 0 : opSize(i);
      writeE(w, i, sz, w.reg(sz, 0));
      return true;
    }
    case 0xff: {
      // PUSH r/m: the operand is read (and may fault) before the push, at an address made with the old ESP.
      if (i.reg !== 6) return false;
      const sz = opSize(i) as 1 | 2;
      w.emit(`const pv = ${w.readE(i, sz, 'm')};`);
      w.push(sz, 'pv');
      return true;
    }
    case 0xc9: {
      // LEAVE: the saved frame pointer is read at [EBP] first, so a fault there changes nothing.
      if (!w.flatStack()) return false;
      const sz = opSize(i) as 1 | 2;
      w.mayFault();
      w.flatReadInto('v', sz, 'r32[5]', 2);
      w.emit(`r32[4] = (r32[5] + ${sz === 2 ? 4 : 2}) | 0; ${w.reg(sz, 5)} = v;`);
      return true;
    }
    case 0x98:
      w.emit(i.o32 ? 'r32[0] = (r16[0] << 16) >> 16;' : 'r16[0] = (r8[0] << 24) >> 24;');
      return true;
    case 0x99:
      w.emit(i.o32 ? 'r32[2] = r32[0] >> 31;' : 'r16[4] = (r16[0] & 32768) ? 65535 : 0;');
      return true;
    case 0xfc:
    case 0xfd:
      // DF is never among the pending (lazy) flags, which are written back over flagsRaw's other bits.
      w.emit(o === 0xfc ? `cpu.flagsRaw &= ${~DF};` : `cpu.flagsRaw |= ${DF};`);
      return true;
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
  if (o >= 0x0fc8 && o < 0x0fd0 && i.o32) {
    // BSWAP (the 16-bit form, undefined, stays with the interpreter's P6 behaviour).
    const r = `r32[${o & 7}]`;
    w.emit(`const v = ${r}; ${r} = ((v & 255) << 24) | ((v & 65280) << 8) | ((v >>> 8) & 65280) | (v >>> 24);`);
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
