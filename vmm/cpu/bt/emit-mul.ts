// Translations of the multiplies (F6/F7 /4 and /5, IMUL 0F AF, 69 and 6B), as
// ops/arith.ts computes them. The multiplies leave the flags as the interpreter's setResultFlags
// does (CF = OF = the product did not fit; SF, ZF, PF from the low half; AF clear): the 'shift'
// producer of flags-emit.ts, with CF in fc and OF in fb. DIV and IDIV stay with the interpreter
// (they fault on a zero divisor or an overflowing quotient, and are rare in hot loops).

import type { Instr } from '../decode.ts';
import type { BlockWriter } from './block-writer.ts';

/** `const lo, hi`: the unsigned 64-bit product of the uint32 values of names `a` and `b` (mulU32). */
function mulU32(a: string, b: string): string {
  return `const ua = ${a} >>> 0, ub = ${b} >>> 0, p1 = (ua & 65535) * ub, p2 = (ua >>> 16) * ub; ` +
    `const lo = Math.imul(ua, ub), hi = (Math.floor(p2 / 65536) + Math.floor((p1 + (p2 % 65536) * 65536) / 4294967296)) | 0;`;
}

/** The multiply's flags: the low half in fr, `over` (a boolean expression) as CF and OF. */
function mulFlags(w: BlockWriter, sz: number, low: string, over: string): void {
  w.emit(`fr = ${low}; fc = ${over} ? 1 : 0; fb = fc;`);
  w.pending = { op: 'shift', sz };
}

/** IMUL r, r/m[, imm]: the product truncated to the operand size (imulTrunc). */
function imulTrunc(w: BlockWriter, i: Instr, sz: number, withImm: boolean): void {
  const dst = w.reg(sz, i.reg);
  const e = w.readE(i, sz, 'm');
  const [a, b] = withImm ? [e, String(i.imm | 0)] : [dst, e];
  if (sz === 2) {
    w.emit(`const a = ${a}, b = ${b}; const lo = Math.imul(a, b); ${dst} = lo;`);
    mulFlags(w, sz, 'lo', '(a | 0) * (b | 0) !== lo');
  } else {
    w.emit(`const r = ((${a} << 16) >> 16) * ((${b} << 16) >> 16); const t = (r << 16) >> 16; ${dst} = r;`);
    mulFlags(w, sz, 'r & 65535', 't !== r');
  }
}

/** MUL and IMUL with one operand: AL/AX/EAX times it, into AX, DX:AX or EDX:EAX. */
function mulAcc(w: BlockWriter, i: Instr, sz: number, signed: boolean): void {
  const src = w.readE(i, sz, 'm');
  if (sz === 0) {
    const [a, b] = signed ? ['((r8[0] << 24) >> 24)', `((${src} << 24) >> 24)`] : ['r8[0]', src];
    w.emit(`const r = ${a} * ${b}; r16[0] = r;`);
    mulFlags(w, sz, 'r & 255', signed ? 'r !== (r << 24) >> 24' : 'r >> 8 !== 0');
  } else if (sz === 1) {
    const [a, b] = signed ? ['((r16[0] << 16) >> 16)', `((${src} << 16) >> 16)`] : ['r16[0]', src];
    w.emit(`const r = ${a} * ${b}; r16[0] = r; r16[4] = r ${signed ? '>>' : '>>>'} 16;`);
    mulFlags(w, sz, 'r & 65535', signed ? 'r !== (r << 16) >> 16' : 'r >>> 16 !== 0');
  } else if (signed) {
    w.emit(`const a = r32[0] | 0, b = ${src} | 0; ${mulU32('a', 'b')}`);
    // The signed high half from the unsigned one, as imul1 computes it.
    w.emit('const sh = (hi - (a < 0 ? b : 0) - (b < 0 ? a : 0)) | 0; r32[0] = lo; r32[2] = sh;');
    mulFlags(w, sz, 'lo', 'sh !== lo >> 31');
  } else {
    w.emit(`const b = ${src}; ${mulU32('r32[0]', 'b')} r32[0] = lo; r32[2] = hi;`);
    mulFlags(w, sz, 'lo', 'hi !== 0');
  }
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
      if (i.reg === 4 || i.reg === 5) mulAcc(w, i, sz, i.reg === 5);
      else return false;
      return true;
  }
  return false;
}
