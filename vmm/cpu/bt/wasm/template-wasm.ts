// The one table's templates (gen/integer-table.ts, gen/flags-table.ts) as WebAssembly: how the
// WebAssembly translator runs the same description of an instruction as the interpreter and the
// JavaScript translator, instead of a third hand-written copy.
//
// Every value is an i32. JavaScript's numbers are not, so each subexpression carries what is known
// of its JavaScript value, and only what the i32 can stand for exactly is accepted:
// - 'signed': an int32 (the bitwise operators' results, operands the caller says are signed);
// - 'unsigned': a uint32 held in the i32's bits (>>>'s results);
// - 'small': 0 to 2^31-1, the same either way (comparisons, masks with a non-negative constant);
// - 'wide': an exact sum or difference that may lie outside both ranges: its low 32 bits are right,
//   so a bitwise operator or a cut to 32 bits may take it, a comparison may not.
// A comparison compiles to the signed or unsigned instruction its operands call for; one the i32
// cannot decide (a uint32 against a negative int32, a wide value, a product) is refused when the
// module is written, which the tests do for every template the translator uses. Whatever reads only
// names known at translation time is folded to a constant with JavaScript's own arithmetic.

import { evaluate, namesOf, parse, type BinaryOp, type Expr } from '../../gen/template.ts';
import { Code, Op } from './wasm-module.ts';

export type Kind = 'signed' | 'unsigned' | 'small' | 'wide';

/** What a name stands for: an i32 local (and what its value is, as JavaScript sees it), or a constant. */
export type Binding = { readonly local: number; readonly kind: Kind } | { readonly value: number };

export type Bindings = ReadonlyMap<string, Binding>;

const SIGNED_CMP: Partial<Record<BinaryOp, Op>> = { '<': Op.i32_lt_s, '<=': Op.i32_le_s, '>': Op.i32_gt_s, '>=': Op.i32_ge_s, '===': Op.i32_eq, '!==': Op.i32_ne };
const UNSIGNED_CMP: Partial<Record<BinaryOp, Op>> = { '<': Op.i32_lt_u, '<=': Op.i32_le_u, '>': Op.i32_gt_u, '>=': Op.i32_ge_u, '===': Op.i32_eq, '!==': Op.i32_ne };
const BITWISE: Partial<Record<BinaryOp, Op>> = { '&': Op.i32_and, '|': Op.i32_or, '^': Op.i32_xor, '<<': Op.i32_shl, '>>': Op.i32_shr_s, '>>>': Op.i32_shr_u };

/** What an exact integer constant is, as a value of the i32 that holds its low 32 bits. */
function kindOf(v: number): Kind {
  if (v < -0x80000000 || v > 0xffffffff) return 'wide';
  return v < 0 ? 'signed' : v < 0x80000000 ? 'small' : 'unsigned';
}

/** The constant `e` folds to with what is bound to constants, or null when it reads a local. */
function folded(e: Expr, names: Bindings): number | null {
  const values = new Map<string, number>();
  for (const n of namesOf(e)) {
    const b = names.get(n);
    if (b === undefined) throw new Error(`template: no binding for ${n}`);
    if (!('value' in b)) return null;
    values.set(n, b.value);
  }
  return evaluate(e, values);
}

/** Compiled templates by their bindings (the translator's are constants) and tree: instructions and kind. */
const compiledFor = new WeakMap<Bindings, Map<Expr, { readonly bytes: Uint8Array; readonly kind: Kind }>>();

/**
 * Pushes `template`'s value with `names` bound, as an i32 whose bits are the JavaScript value's low
 * 32 bits; returns what that value is. Throws where the i32 would differ from JavaScript. Each
 * template is compiled once per set of bindings and copied after that.
 */
export function emitTemplate(c: Code, template: string | Expr, names: Bindings): Kind {
  const e = typeof template === 'string' ? parse(template) : template;
  let byTree = compiledFor.get(names);
  if (!byTree) compiledFor.set(names, (byTree = new Map()));
  let done = byTree.get(e);
  if (!done) {
    const alone = new Code();
    const kind = emit(alone, e, names, typeof template === 'string' ? template : '');
    byTree.set(e, (done = { bytes: alone.bytes.slice(), kind }));
  }
  c.raw(done.bytes);
  return done.kind;
}

function emit(c: Code, e: Expr, names: Bindings, text: string): Kind {
  const now = folded(e, names);
  if (now !== null) {
    if (!Number.isSafeInteger(now)) throw new Error(`template ${text}: constant ${now} is not exact`);
    c.i32(now | 0);
    return kindOf(now);
  }
  const refuse = (why: string): never => {
    throw new Error(`template ${text}: ${why} has no exact i32 form`);
  };
  switch (e.kind) {
    case 'num': throw new Error('unreachable: numbers fold');
    case 'name': {
      const b = names.get(e.name)!;
      if ('value' in b) throw new Error('unreachable: constants fold');
      c.get(b.local);
      return b.kind;
    }
    case 'unary': {
      const k = emit(c, e.e, names, text);
      if (e.op === '~') {
        c.i32(-1).op(Op.i32_xor);
        return 'signed';
      }
      if (e.op === '!') {
        if (k === 'wide') refuse('! of a wide value');
        c.op(Op.i32_eqz);
        return 'small';
      }
      // -x: exact in JavaScript for an int32 or a uint32, and its low bits are those of 0 - x.
      if (k === 'wide') refuse('the negation of a wide value');
      c.i32(-1).op(Op.i32_mul);
      return k === 'small' ? 'signed' : 'wide';
    }
    case 'imul':
      emit(c, e.l, names, text);
      emit(c, e.r, names, text);
      c.op(Op.i32_mul);
      return 'signed';
    case 'cond': {
      const yes = emit(c, e.yes, names, text);
      const no = emit(c, e.no, names, text);
      if (emit(c, e.test, names, text) === 'wide') refuse('a wide condition');
      c.op(Op.select);
      if (yes === no) return yes;
      if (yes === 'wide' || no === 'wide') return 'wide';
      if (yes === 'small') return no;
      if (no === 'small') return yes;
      return refuse('a choice between a signed and an unsigned value');
    }
    case 'binary': {
      const l = emit(c, e.l, names, text);
      const r = emit(c, e.r, names, text);
      const bit = BITWISE[e.op];
      if (bit !== undefined) {
        c.op(bit);
        if (e.op === '>>>') return 'unsigned';
        // x & k with k a non-negative int32 is non-negative; so is x >> k for a small x.
        if (e.op === '&' && (l === 'small' || r === 'small')) return 'small';
        if (e.op === '>>' && l === 'small') return 'small';
        return 'signed';
      }
      if (e.op === '+' || e.op === '-') {
        c.op(e.op === '+' ? Op.i32_add : Op.i32_sub);
        return 'wide';
      }
      if (e.op === '*') return refuse('a product (use Math.imul)');
      if (l === 'wide' || r === 'wide') return refuse(`${e.op} of a wide value`);
      if (l === r || l === 'small' || r === 'small') {
        const signed = l === 'signed' || r === 'signed';
        c.op((signed ? SIGNED_CMP : UNSIGNED_CMP)[e.op]!);
        return 'small';
      }
      return refuse(`${e.op} between a signed and an unsigned value`);
    }
  }
}
