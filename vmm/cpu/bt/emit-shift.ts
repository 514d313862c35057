// Translations of SHL, SHR, SAR, ROL and ROR by a constant count (C0/C1 with an immediate, D0/D1 by
// one), as ops/shift.ts computes them, the count folded in. RCL/RCR, counts in CL and counts that mask
// to zero (which leave the flags alone) stay with the interpreter.

import type { Instr } from '../decode.ts';
import type { BlockWriter } from './block-writer.ts';
import { CF, OF } from '../flags.ts';

const MASK = ['255', '65535', '-1'] as const;
const BITS = [8, 16, 32] as const;

export function emitShift(w: BlockWriter, i: Instr): boolean {
  const o = i.opcode;
  if (o !== 0xc0 && o !== 0xc1 && o !== 0xd0 && o !== 0xd1) return false;
  const op = i.reg;
  if (op === 2 || op === 3) return false;
  const count = (o === 0xc0 || o === 0xc1 ? i.imm : 1) & 31;
  if (count === 0) return false;
  const sz = o === 0xc0 || o === 0xd0 ? 0 : i.o32 ? 2 : 1;
  if (op < 2) {
    emitRotate(w, i, op === 1, count, sz);
    return true;
  }
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
  applyTo(w, i, sz, body);
  w.emit('fr = r; fc = cf; fb = of;');
  w.pending = { op: 'shift', sz };
  if (i.mod !== 3) w.afterWrite();
  return true;
}

/** Reads the operand into v (masked to its width), runs `body` (which defines r), writes r back. */
function applyTo(w: BlockWriter, i: Instr, sz: number, body: string): void {
  const load = (src: string): string => (sz === 2 ? `const v = ${src};` : `const v = ${src} & ${MASK[sz]};`);
  if (i.mod === 3) {
    const dst = w.reg(sz, i.rm);
    w.emit(`${load(dst)} ${body} ${dst} = r;`);
    return;
  }
  const write = w.rmw(i, sz, 'mv');
  w.emit(`${load('mv')} ${body}`);
  w.emit(write('r'));
}

/**
 * ROL and ROR by a constant: they change CF and OF only, so the flags pending before them go to the
 * cpu first, and the new CF and OF replace the lazy ones there (shiftOp's setCfOf).
 */
function emitRotate(w: BlockWriter, i: Instr, right: boolean, count: number, sz: number): void {
  const bits = BITS[sz]!;
  const sign = bits - 1;
  const c = count & sign;
  const rot = right ? `((v >>> ${c}) | (v << ${bits - c}))` : `((v << ${c}) | (v >>> ${bits - c}))`;
  const r = c === 0 ? 'v' : sz === 2 ? `${rot} | 0` : `${rot} & ${MASK[sz]}`;
  const flags = right
    ? `const cf = (r >>> ${sign}) & 1, of = cf ^ ((r >>> ${sign - 1}) & 1);`
    : `const cf = r & 1, of = ((r >>> ${sign}) & 1) ^ cf;`;
  // The operand is read (and may fault) before the flags change, as in the interpreter.
  applyTo(w, i, sz, `const r = ${r}; ${flags}`);
  w.flush();
  w.emit(`cpu.lazy &= ${~(CF | OF)}; cpu.flagsRaw = (cpu.flagsRaw & ${~(CF | OF)}) | cf | (of << 11);`);
  if (i.mod !== 3) w.afterWrite();
}
