// Translations of the multiplies (F6/F7 /4 and /5, IMUL 0F AF, 69 and 6B), from the table the
// interpreter's mul, imul1 and imulTrunc are generated from (gen/integer-table.ts). They leave the
// flags as the interpreter's setResultFlags does (CF = OF = the product did not fit; SF, ZF, PF from
// the low half; AF clear): the 'shift' producer of flags-emit.ts, with CF in fc and OF in fb. DIV and
// IDIV stay with the interpreter (they fault on a zero divisor or an overflowing quotient, and are
// rare in hot loops).

import type { Instr } from '../decode.ts';
import type { BlockWriter } from './block-writer.ts';
import { IMUL1, IMUL_TRUNC, MUL, type MulCase } from '../gen/integer-table.ts';

/** The case's locals from operands a and b, its register writes, and its flags. */
function emitCase(w: BlockWriter, c: MulCase, sz: number, a: string, b: string): void {
  w.emit(`const a = ${a}, b = ${b}; ${c.steps.map(([name, value]) => `const ${name} = ${value};`).join(' ')}`);
  if (c.writes.length) w.emit(c.writes.map(([size, reg, value]) => `${w.reg(size, reg)} = ${value};`).join(' '));
  w.emit(`fr = ${c.low}; fc = ${c.over} ? 1 : 0; fb = fc;`);
  w.pending = { op: 'shift', sz };
}

/** IMUL r, r/m[, imm]: the product truncated to the operand size. */
function imulTrunc(w: BlockWriter, i: Instr, sz: number, withImm: boolean): void {
  const c = IMUL_TRUNC.sizes[sz]!;
  const dst = w.reg(sz, i.reg);
  const e = w.readE(i, sz, 'm');
  if (withImm) emitCase(w, c, sz, e, String(i.imm | 0));
  else emitCase(w, c, sz, dst, e);
  w.emit(`${dst} = ${c.result!};`);
}

export function emitMul(w: BlockWriter, i: Instr): boolean {
  const o = i.opcode;
  const sz = o === 0xf6 ? 0 : i.o32 ? 2 : 1;
  switch (o) {
    case 0x0faf:
      imulTrunc(w, i, sz, false);
      return true;
    case 0x69:
    case 0x6b:
      imulTrunc(w, i, sz, true);
      return true;
    case 0xf6:
    case 0xf7:
      if (i.reg !== 4 && i.reg !== 5) return false;
      // MUL and IMUL with one operand: AL/AX/EAX times it, into AX, DX:AX or EDX:EAX.
      emitCase(w, (i.reg === 4 ? MUL : IMUL1).sizes[sz]!, sz, w.reg(sz, 0), w.readE(i, sz, 'm'));
      return true;
  }
  return false;
}
