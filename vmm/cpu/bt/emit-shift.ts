// Translations of SHL, SHR, SAR, ROL and ROR by a constant count (C0/C1 with an immediate, D0/D1 by
// one), from the table the interpreter's shiftOp is generated from (gen/integer-table.ts): the count,
// width and mask are known here, so every step over them alone is computed now and every guard picks
// its alternative now; what is left reads the operand. The same of a register by CL (D2/D3): the
// guards are then tested when the code runs, and a count that masks to zero changes nothing, flags
// included. RCL/RCR, memory operands shifted by CL and constant counts that mask to zero stay with
// the interpreter.

import type { Instr } from '../decode.ts';
import type { BlockWriter } from './block-writer.ts';
import { CF, OF } from '../flags.ts';
import { flushCode } from './flags-emit.ts';
import { SHIFT_OPS, stepValue, type Alt, type ShiftOp } from '../gen/integer-table.ts';

const MASK = ['255', '65535', '-1'] as const;
const BITS = [8, 16, 32] as const;
/** The locals every operation defines; they stay locals even when constant. */
const RESULTS = new Set(['r', 'cf', 'of']);

const compiled = new Map<string, (...values: number[]) => number>();

/** `expr` evaluated now, if every name in it is known; null otherwise. */
function constant(expr: string, known: ReadonlyMap<string, number>): number | null {
  const names = [...new Set(expr.match(/\b[A-Za-z_]\w*\b/g) ?? [])];
  if (!names.every((n) => known.has(n))) return null;
  const key = `${names.join(',')}:${expr}`;
  let f = compiled.get(key);
  if (!f) {
    // Templates come from the table in this program, never from the guest.
    f = new Function(...names, `return (${expr});`) as (...values: number[]) => number;
    compiled.set(key, f);
  }
  return f(...names.map((n) => known.get(n)!));
}

/** `expr` with the known names replaced by their values. */
function substitute(expr: string, known: ReadonlyMap<string, number>): string {
  return expr.replace(/\b[A-Za-z_]\w*\b/g, (n) => {
    const v = known.get(n);
    return v === undefined ? n : v < 0 ? `(${v})` : String(v);
  });
}

/** Whether the guard of `a` holds; guards read only what is known at translation time. */
function taken(op: ShiftOp, a: Alt, known: ReadonlyMap<string, number>): boolean {
  const holds = constant(a.when!, known);
  if (holds === null) throw new Error(`${op.name}: guard ${a.when} is not known at translation time`);
  return Boolean(holds);
}

/** CF and OF, in the locals cf and of, replacing the lazy ones in the cpu (the interpreter's setCfOf). */
const CF_OF_TO_CPU = `cpu.lazy &= ${~(CF | OF)}; cpu.flagsRaw = (cpu.flagsRaw & ${~(CF | OF)}) | cf | (of << 11);`;

/** body() by operation, count and size: at most 6 x 31 x 3 texts, each worked out once. */
const bodies = new Map<string, string>();

function bodyOf(op: ShiftOp, count: number, sz: number): string {
  const key = `${op.name} ${count} ${sz}`;
  let text = bodies.get(key);
  if (text === undefined) bodies.set(key, (text = body(op, count, sz)));
  return text;
}

/** The statements of `op` at size sz and count k: `const r`, `cf`, `of` over the operand in v. */
function body(op: ShiftOp, count: number, sz: number): string {
  const bits = BITS[sz]!;
  const known = new Map<string, number>([
    ['k', count],
    ['bits', bits],
    ['sign', bits - 1],
    ['m', Number(MASK[sz])],
  ]);
  const cutNow = (x: number): number => (sz === 2 ? x | 0 : x & Number(MASK[sz]));
  const cutText = (x: string): string => (sz === 2 ? `(${x}) | 0` : `(${x}) & ${MASK[sz]}`);
  const out: string[] = [];
  for (const [name, value] of op.steps) {
    const alt = typeof value === 'string' ? { value } : value.find((a) => a.when === undefined || taken(op, a, known))!;
    const now = constant(alt.value, known);
    if (now === null) out.push(`const ${name} = ${alt.cut ? cutText(substitute(alt.value, known)) : substitute(alt.value, known)};`);
    else if (RESULTS.has(name)) out.push(`const ${name} = ${alt.cut ? cutNow(now) : now};`);
    else known.set(name, alt.cut ? cutNow(now) : now);
  }
  return out.join(' ');
}

/** The statements of `op` at size sz over the operand in v and the count in k (not 0), known when the code runs. */
function bodyByCount(op: ShiftOp, sz: number): string {
  const key = `${op.name} cl ${sz}`;
  let text = bodies.get(key);
  if (text !== undefined) return text;
  const bits = BITS[sz]!;
  const known = new Map<string, number>([['bits', bits], ['sign', bits - 1], ['m', Number(MASK[sz])]]);
  text = op.steps.map(([name, value]) => `const ${name} = ${substitute(stepValue(value), known)};`).join(' ');
  bodies.set(key, text);
  return text;
}

/** A register shifted or rotated by CL: nothing at all when the count masks to zero. */
function emitByCl(w: BlockWriter, i: Instr, op: ShiftOp): boolean {
  if (i.mod !== 3) return false;
  const sz = i.opcode === 0xd2 ? 0 : i.o32 ? 2 : 1;
  const dst = w.reg(sz, i.rm);
  // The flags before it go to the cpu: a zero count leaves them there, any other replaces them.
  w.flush();
  const load = sz === 2 ? `const v = ${dst};` : `const v = ${dst} & ${MASK[sz]};`;
  // The flags as the constant-count forms leave them, written to the cpu at once.
  const flags = op.flags === 'result' ? `fr = r; fc = cf; fb = of; ${flushCode({ op: 'shift', sz })}` : CF_OF_TO_CPU;
  w.emit(`const k = r8[4] & 31; if (k !== 0) { ${load} ${bodyByCount(op, sz)} ${dst} = r; ${flags} }`);
  return true;
}

export function emitShift(w: BlockWriter, i: Instr): boolean {
  const o = i.opcode;
  if (o === 0xd2 || o === 0xd3) {
    const op = SHIFT_OPS[i.reg];
    return op ? emitByCl(w, i, op) : false;
  }
  if (o !== 0xc0 && o !== 0xc1 && o !== 0xd0 && o !== 0xd1) return false;
  const op = SHIFT_OPS[i.reg];
  if (!op) return false;
  const count = (o === 0xc0 || o === 0xc1 ? i.imm : 1) & 31;
  if (count === 0) return false;
  const sz = o === 0xc0 || o === 0xd0 ? 0 : i.o32 ? 2 : 1;
  // The operand is read (and may fault) before the flags change, as in the interpreter.
  applyTo(w, i, sz, bodyOf(op, count, sz));
  if (op.flags === 'result') {
    w.emit('fr = r; fc = cf; fb = of;');
    w.pending = { op: 'shift', sz };
  } else {
    // Only CF and OF change: the flags pending before go to the cpu first, and the new CF and OF
    // replace the lazy ones there (the interpreter's setCfOf).
    w.flush();
    w.emit(CF_OF_TO_CPU);
  }
  if (i.mod !== 3) w.afterWrite();
  return true;
}

/** Reads the operand into v (masked to its width, as shiftOp does), runs `body` (which defines r), writes r back. */
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
