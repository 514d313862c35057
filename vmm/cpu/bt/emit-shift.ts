// Translations of SHL, SHR and SAR by a constant count (C0/C1 with an immediate, D0/D1 by one), as
// ops/shift.ts computes them, the count folded in. Rotates, counts in CL and counts that mask to zero
// (which leave the flags alone) stay with the interpreter.

import type { Instr } from '../decode.ts';
import type { BlockWriter } from './block-writer.ts';

const MASK = ['255', '65535', '-1'] as const;
const BITS = [8, 16, 32] as const;

export function emitShift(w: BlockWriter, i: Instr): boolean {
  const o = i.opcode;
  if (o !== 0xc0 && o !== 0xc1 && o !== 0xd0 && o !== 0xd1) return false;
  const op = i.reg;
  if (op < 4) return false;
  const count = (o === 0xc0 || o === 0xc1 ? i.imm : 1) & 31;
  if (count === 0) return false;
  const sz = o === 0xc0 || o === 0xd0 ? 0 : i.o32 ? 2 : 1;
  const bits = BITS[sz]!;
  const sign = bits - 1;
  const m = MASK[sz];
  // v: the operand (masked to its width, as shiftOp does); r, cf, of as shiftOp computes them.
  let body: string;
  if (op === 4 || op === 6) {
    const r = count >= bits ? '0' : sz === 2 ? `(v << ${count})` : `((v << ${count}) & ${m})`;
    const cf = count <= bits ? `((v >>> ${bits - count}) & 1)` : '0';
    body = `const r = ${r}; const cf = ${cf}; const of = ((r >>> ${sign}) & 1) ^ cf;`;
  } else if (op === 5) {
    const r = count >= bits ? '0' : `(v >>> ${count})`;
    const cf = count <= bits ? `((v >>> ${count - 1}) & 1)` : '0';
    const of = count === 1 ? `((v >>> ${sign}) & 1)` : `((r >>> ${sign}) & 1)`;
    body = `const r = ${r} | 0; const cf = ${cf}; const of = ${of};`;
  } else {
    const sv = sz === 0 ? '((v << 24) >> 24)' : sz === 1 ? '((v << 16) >> 16)' : '(v | 0)';
    body = `const sv = ${sv}; const r = (sv >> ${Math.min(count, 31)}) & ${m}; const cf = (sv >> ${Math.min(count - 1, 31)}) & 1; const of = 0;`;
  }
  const load = (src: string): string => (sz === 2 ? `const v = ${src};` : `const v = ${src} & ${m};`);
  if (i.mod === 3) {
    const dst = w.reg(sz, i.rm);
    w.emit(`${load(dst)} ${body} ${dst} = r;`);
  } else {
    const lin = w.rmwAddress(i, sz);
    w.emit(`${load(`cpu.readLin${8 << sz}(${lin})`)} ${body}`);
    w.emit(`cpu.writeLin${8 << sz}(${lin}, r);`);
  }
  w.emit('fr = r; fc = cf; fb = of;');
  w.pending = { op: 'shift', sz };
  if (i.mod !== 3) w.afterWrite();
  return true;
}
