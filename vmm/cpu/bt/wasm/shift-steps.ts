// The one table's shifts (gen/integer-table.ts) as expression trees for the WebAssembly translator:
// each step written into the ones after it, over the operand `v` (and the count `k` when it is known
// only at run time), for template-wasm.ts to compile.

import { evaluate, parse, substitute, type Expr } from '../../gen/template.ts';
import type { Alt, ShiftOp } from '../../gen/integer-table.ts';

/** The table's constant names for an operand of `bits` (and the count `k`, when it is known). */
function constants(bits: 16 | 32, count?: number): Map<string, Expr> {
  const values: [string, number][] = [['bits', bits], ['sign', bits - 1], ['m', bits === 32 ? -1 : 0xffff]];
  if (count !== undefined) values.unshift(['k', count]);
  return new Map(values.map(([n, v]) => [n, { kind: 'num', value: v }]));
}

/** Alternative `a`'s value with `known` written in, cut to the operand's width where the table says so: JavaScript's | 0 for a dword, & 0xffff for a word (the interpreter's & m). */
function valueOf(a: Alt, known: ReadonlyMap<string, Expr>, bits: 16 | 32): Expr {
  const e = substitute(parse(a.value), known);
  if (!a.cut) return e;
  return { kind: 'binary', op: bits === 32 ? '|' : '&', l: e, r: { kind: 'num', value: bits === 32 ? 0 : 0xffff } };
}

const shiftCache = new Map<string, ReadonlyMap<string, Expr>>();

/**
 * The steps of shift `op` on a dword by the constant `count`, each as an expression over the operand
 * `v` alone: the count, width and mask put in, each guard decided, each step's value written in
 * where a later step names it (they are small; nothing is computed twice that matters).
 */
export function shiftSteps(op: ShiftOp, count: number, bits: 16 | 32 = 32): ReadonlyMap<string, Expr> {
  const key = `${op.name} ${count} ${bits}`;
  let defs = shiftCache.get(key);
  if (defs) return defs;
  const known = constants(bits, count);
  for (const [name, value] of op.steps) {
    const holds = (a: Alt): boolean => evaluate(substitute(parse(a.when!), known), new Map()) !== 0;
    const alt = typeof value === 'string' ? { value } : value.find((a) => a.when === undefined || holds(a))!;
    known.set(name, valueOf(alt, known, bits));
  }
  shiftCache.set(key, (defs = known));
  return defs;
}

const countSteps = new Map<string, ReadonlyMap<string, Expr>>();

/**
 * The steps of shift `op` on a dword by a count known only at run time (`k`, 1-31: a count of 0
 * changes nothing and is tested before), each guard left as a choice (?:) for the count to make.
 */
export function shiftStepsByCount(op: ShiftOp): ReadonlyMap<string, Expr> {
  let defs = countSteps.get(op.name);
  if (defs) return defs;
  const known = constants(32);
  for (const [name, value] of op.steps) {
    const alts = typeof value === 'string' ? [{ value }] : value;
    // The last alternative has no guard; each one before it is chosen when its guard holds.
    let e = valueOf(alts[alts.length - 1]!, known, 32);
    for (let k = alts.length - 2; k >= 0; k--) e = { kind: 'cond', test: substitute(parse(alts[k]!.when!), known), yes: valueOf(alts[k]!, known, 32), no: e };
    known.set(name, e);
  }
  countSteps.set(op.name, (defs = known));
  return defs;
}
