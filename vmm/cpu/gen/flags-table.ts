// The one description of how the lazily kept arithmetic flags follow from an operation's record: the
// CF, OF and AF of each LazyOp over its operands and result. The interpreter's evaluation is
// generated from it (lazyCF, lazyOF, lazyAF in ops/integer-ops.generated.ts, which cpu.ts calls),
// the JavaScript translator fills the same templates for the producer it knows (bt/flags-emit.ts),
// and the WebAssembly translator compiles them (bt/wasm/translate-wasm.ts). Intel SDM vol. 1 §3.4.3
// and appendix A give the flags; which producer records which LazyOp is integer-table.ts' PRODUCERS.
//
// Template names: `a`, `b` and `r` the recorded operands and result, of which only the operand
// width's bits count; `ua`, `ub` and `ur` the same as unsigned numbers of that width; `s` the width's
// sign bit (0x80, 0x8000 or -0x80000000). Each template is a comparison, or 0 for a flag the
// operation clears.
//
// ZF, SF and PF are the result's, the same for every operation (zero, sign bit, parity of the low
// byte), and stay with each engine: parity is a table lookup in JavaScript and popcnt in WebAssembly.

import { LazyOp } from '../flags.ts';
import { PRODUCERS, type Producer } from './integer-table.ts';
import { fillNames } from './template.ts';

export interface LazyFlags {
  readonly cf: string;
  readonly of: string;
  readonly af: string;
}

/** Overflow of a sum: the operands agree in sign and the result does not. */
const SUM_OF = '((a ^ r) & (b ^ r) & s) !== 0';
/** Overflow of a difference: the operands differ in sign and the result differs from the first. */
const DIFFERENCE_OF = '((a ^ b) & (a ^ r) & s) !== 0';
/** The carry out of bit 3, for the BCD adjustments. */
const NIBBLE_CARRY = '((a ^ b ^ r) & 16) !== 0';

/** By LazyOp. ADC and SBB are the operations whose carry-in was 1: the result may equal the operand. */
export const LAZY_FLAGS: readonly LazyFlags[] = [
  { cf: 'ur < ua', of: SUM_OF, af: NIBBLE_CARRY }, // ADD
  { cf: 'ur <= ua', of: SUM_OF, af: NIBBLE_CARRY }, // ADC
  { cf: 'ua < ub', of: DIFFERENCE_OF, af: NIBBLE_CARRY }, // SUB
  { cf: 'ua <= ub', of: DIFFERENCE_OF, af: NIBBLE_CARRY }, // SBB
  { cf: '0', of: '0', af: '0' }, // LOGIC
];

/** The LazyOps in LAZY_FLAGS' order. */
export const LAZY_OPS: readonly LazyOp[] = [LazyOp.ADD, LazyOp.ADC, LazyOp.SUB, LazyOp.SBB, LazyOp.LOGIC];

/**
 * The condition of Jcc, SETcc and CMOVcc by cc >> 1 (SDM vol. 1 appendix B, "EFLAGS Condition
 * Codes"), over the flags as 0 or 1; an odd cc is its negation. O, B, E, BE, S, P, L, LE.
 */
export const CONDITIONS: readonly string[] = ['of', 'cf', 'zf', 'cf | zf', 'sf', 'pf', 'sf ^ of', 'zf | (sf ^ of)'];

/**
 * Where a translator finds CF or OF of the producer it knows: a value it holds beside the operands
 * (`fc`: the CF a shift or multiply gives, or the one INC and DEC keep; `fb`: the OF a shift or
 * multiply gives), or the LazyOps the producer records with a carry-in of 0 and of 1 (the same one
 * twice when the carry-in does not matter), whose LAZY_FLAGS template gives it.
 */
export type FlagSource = { readonly held: 'fc' | 'fb' } | { readonly lazy: readonly [LazyOp, LazyOp] };

export function flagSource(p: Producer, flag: 'cf' | 'of'): FlagSource {
  if (p === 'shift') return { held: flag === 'cf' ? 'fc' : 'fb' };
  const spec = PRODUCERS[p];
  if (flag === 'cf' && spec.keepsCF) return { held: 'fc' };
  return { lazy: spec.lazy };
}

/** A LAZY_FLAGS template as JavaScript with `names` filled in; a flag the operation clears is `false`. */
export function lazyFlagText(template: string, names: Readonly<Record<string, string>>): string {
  return template === '0' ? 'false' : fillNames(template, names);
}
