// The one table's shifts (gen/integer-table.ts) as expression trees for the WebAssembly translator:
// each step written into the ones after it, over the operand `v` (and the count `k` when it is known
// only at run time), for template-wasm.ts to compile.

import { evaluate, parse, substitute, type Expr } from '../../gen/template.ts';
import type { Alt, ShiftOp } from '../../gen/integer-table.ts';

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
  const m = bits === 32 ? -1 : 0xffff;
  const known = new Map<string, Expr>([['k', count], ['bits', bits], ['sign', bits - 1], ['m', m]].map(([n, v]) => [n as string, { kind: 'num', value: v as number }]));
  for (const [name, value] of op.steps) {
    const holds = (a: Alt): boolean => evaluate(substitute(parse(a.when!), known), new Map()) !== 0;
    const alt = typeof value === 'string' ? { value } : value.find((a) => a.when === undefined || holds(a))!;
    const e = substitute(parse(alt.value), known);
    // Cut to the operand's width: JavaScript's | 0 for a dword, & 0xffff for a word (the interpreter's & m).
    known.set(name, alt.cut ? { kind: 'binary', op: bits === 32 ? '|' : '&', l: e, r: { kind: 'num', value: bits === 32 ? 0 : m } } : e);
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
  const known = new Map<string, Expr>([['bits', 32], ['sign', 31], ['m', -1]].map(([n, v]) => [n as string, { kind: 'num', value: v as number }]));
  const valueOf = (a: Alt): Expr => {
    const e = substitute(parse(a.value), known);
    return a.cut ? { kind: 'binary', op: '|', l: e, r: { kind: 'num', value: 0 } } : e;
  };
  for (const [name, value] of op.steps) {
    const alts = typeof value === 'string' ? [{ value }] : value;
    // The last alternative has no guard; each one before it is chosen when its guard holds.
    let e = valueOf(alts[alts.length - 1]!);
    for (let k = alts.length - 2; k >= 0; k--) e = { kind: 'cond', test: substitute(parse(alts[k]!.when!), known), yes: valueOf(alts[k]!), no: e };
    known.set(name, e);
  }
  countSteps.set(op.name, (defs = known));
  return defs;
}
