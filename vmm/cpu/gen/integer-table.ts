// The one description of the flag-setting integer operations that both engines run (issue 10: "one
// description of each instruction drives both engines"; the pattern is v86's gen/x86_table.js). Each
// entry gives the operation's result as a JavaScript expression template over its operands and says
// which lazy-flag producer records its flags, with which operands. From it:
// - scripts/gen-ops.ts writes the interpreter's functions, vmm/cpu/ops/integer-ops.generated.ts,
//   checked in (gen.test.ts fails when that file differs from what the generator writes now);
// - the translator (bt/emit-alu.ts, emit-shift.ts, emit-mul.ts) fills the same templates with the
//   names of its JavaScript locals.
// Template names: `a` and `b` the operands (already reduced to the operand width), `c` the carry-in
// (0 or 1). A result is cut to the operand width by whoever fills the template.
//
// Which operand forms exist (00-3F, 80-83, F6/F7, FE/FF, 40-4F, 84/85, A8/A9) is decoding, not
// semantics, and stays with the handlers' registration and the translator's opcode switch.

import { LazyOp } from '../flags.ts';
import { fillNames } from './template.ts';

/**
 * How an operation's arithmetic flags are recorded (flags.ts evaluates them in the interpreter,
 * bt/flags-emit.ts in translations). 'shift' is the shape of shifts and multiplies: SF, ZF and PF from
 * the result, CF and OF given (setResultFlags).
 */
export type Producer = 'add' | 'adc' | 'sub' | 'sbb' | 'logic' | 'inc' | 'dec' | 'shift';

export interface ProducerSpec {
  /** The interpreter's LazyOp with a carry-in of 0 and of 1 (ADC and SBB without carry are ADD and SUB). */
  readonly lazy: readonly [LazyOp, LazyOp];
  /** CF keeps its value from before (INC, DEC: setLazyKeepCF; the translator's fc holds it). */
  readonly keepsCF: boolean;
}

export const PRODUCERS: Readonly<Record<Exclude<Producer, 'shift'>, ProducerSpec>> = {
  add: { lazy: [LazyOp.ADD, LazyOp.ADD], keepsCF: false },
  adc: { lazy: [LazyOp.ADD, LazyOp.ADC], keepsCF: false },
  sub: { lazy: [LazyOp.SUB, LazyOp.SUB], keepsCF: false },
  sbb: { lazy: [LazyOp.SUB, LazyOp.SBB], keepsCF: false },
  logic: { lazy: [LazyOp.LOGIC, LazyOp.LOGIC], keepsCF: false },
  inc: { lazy: [LazyOp.ADD, LazyOp.ADD], keepsCF: true },
  dec: { lazy: [LazyOp.SUB, LazyOp.SUB], keepsCF: true },
};

/** LazyOp's member names, for generated code that reads like the hand-written kind. */
export const LAZY_NAMES: Readonly<Record<LazyOp, string>> = {
  [LazyOp.ADD]: 'ADD',
  [LazyOp.ADC]: 'ADC',
  [LazyOp.SUB]: 'SUB',
  [LazyOp.SBB]: 'SBB',
  [LazyOp.LOGIC]: 'LOGIC',
};

export interface IntOp {
  /** SDM mnemonic, lower case. */
  readonly name: string;
  /** The result before it is cut to the operand width, over `a`, `b` and `c`. */
  readonly result: string;
  /** Reads CF as `c` (ADC, SBB). */
  readonly carryIn: boolean;
  /** The producer of its flags and the operands recorded beside the result (templates over `a`, `b`); null: no flags (NOT). */
  readonly flags: { readonly producer: Exclude<Producer, 'shift'>; readonly a: string; readonly b: string } | null;
  /** The result goes to the destination (not CMP or TEST). */
  readonly writes: boolean;
}

const binary = (name: string, result: string, producer: Exclude<Producer, 'shift'>, writes = true): IntOp => ({
  name,
  result,
  carryIn: /\bc\b/.test(result),
  flags: { producer, a: 'a', b: 'b' },
  writes,
});

/** The eight ALU operations in their opcode order (00-3F in steps of 8; the /r of 80-83). */
export const ALU_OPS: readonly IntOp[] = [
  binary('add', 'a + b', 'add'),
  binary('or', 'a | b', 'logic'),
  binary('adc', 'a + b + c', 'adc'),
  binary('sbb', 'a - b - c', 'sbb'),
  binary('and', 'a & b', 'logic'),
  binary('sub', 'a - b', 'sub'),
  binary('xor', 'a ^ b', 'logic'),
  binary('cmp', 'a - b', 'sub', false),
];

export const TEST: IntOp = binary('test', 'a & b', 'logic', false);
export const INC: IntOp = { name: 'inc', result: 'a + 1', carryIn: false, flags: { producer: 'inc', a: 'a', b: '1' }, writes: true };
export const DEC: IntOp = { name: 'dec', result: 'a - 1', carryIn: false, flags: { producer: 'dec', a: 'a', b: '1' }, writes: true };
export const NOT: IntOp = { name: 'not', result: '~a', carryIn: false, flags: null, writes: true };
export const NEG: IntOp = { name: 'neg', result: '-a', carryIn: false, flags: { producer: 'sub', a: '0', b: 'a' }, writes: true };

/**
 * `template` with its operand names replaced (template.ts fillNames: an operand that is not a name, a
 * literal or one parenthesized group is parenthesized, and so is a negative literal after a sign, so
 * that `-a` of -5 does not become `--5`). Every operand it names must be given.
 */
export function fill(template: string, names: { a?: string; b?: string; c?: string }): string {
  for (const n of template.match(/\b[abc]\b/g) ?? []) if (names[n as 'a' | 'b' | 'c'] === undefined) throw new Error(`template ${template}: no value for ${n}`);
  return fillNames(template, names);
}

/** Whether the operation needs the carry flag before it runs: as its input, or to keep it. */
export function readsCarry(op: IntOp): boolean {
  return op.carryIn || (op.flags !== null && PRODUCERS[op.flags.producer].keepsCF);
}

// Shifts and rotates (group 2, C0 C1 D0-D3), as ops/shift.ts documents their undefined corners. The
// templates' names: `v` the operand (reduced to the operand width), `k` the count masked to 5 bits
// (1-31: a masked count of 0 does nothing and never reaches these), `bits` the operand width, `sign`
// its sign bit's index (bits - 1), `m` its mask. Each operation defines `r`, `cf` and `of` (0 or 1)
// and may define locals before them. The interpreter evaluates everything at run time; the
// translator knows k, bits, sign and m, so a step over them alone becomes a constant and a guard
// picks its alternative when the code is translated.

/** One alternative of a step: taken when `when` holds (or always, without it); `cut`: reduced to the operand width. */
export interface Alt {
  readonly when?: string;
  readonly value: string;
  readonly cut?: boolean;
}

/** `name = value`, or the first alternative whose guard holds. */
export type Step = readonly [name: string, value: string | readonly Alt[]];

/**
 * A step's value as one conditional expression, its guards tested when it runs: the interpreter's
 * generated shiftOp, and the translator's shifts by CL (with bits, sign and m given as numbers).
 */
export function stepValue(value: string | readonly Alt[]): string {
  if (typeof value === 'string') return value;
  const one = (a: Alt): string => (a.cut ? `(${a.value}) & m` : a.value);
  const last = value[value.length - 1]!;
  if (last.when !== undefined) throw new Error('the last alternative of a step must have no guard');
  return value.slice(0, -1).reduceRight((rest, a) => `${a.when} ? ${one(a)} : ${rest}`, one(last));
}

export interface ShiftOp {
  readonly name: string;
  /**
   * 'result': SF, ZF and PF from r, CF and OF as given, AF cleared (the 'shift' producer;
   * setResultFlags). 'cfof': only CF and OF change (ROL, ROR).
   */
  readonly flags: 'result' | 'cfof';
  readonly steps: readonly Step[];
}

const ROL: ShiftOp = {
  name: 'rol',
  flags: 'cfof',
  // The rotate count is taken modulo the width; CF and OF are set even when that is 0.
  steps: [
    ['c', 'k & sign'],
    ['rc', 'bits - c'],
    ['r', [{ when: 'c === 0', value: 'v' }, { value: '(v << c) | (v >>> rc)', cut: true }]],
    ['cf', 'r & 1'],
    ['of', '((r >>> sign) & 1) ^ cf'],
  ],
};

const ROR: ShiftOp = {
  name: 'ror',
  flags: 'cfof',
  steps: [
    ['c', 'k & sign'],
    ['rc', 'bits - c'],
    ['r', [{ when: 'c === 0', value: 'v' }, { value: '(v >>> c) | (v << rc)', cut: true }]],
    ['cf', '(r >>> sign) & 1'],
    ['of', 'cf ^ ((r >>> (sign - 1)) & 1)'],
  ],
};

const SHL: ShiftOp = {
  name: 'shl',
  flags: 'result',
  steps: [
    ['r', [{ when: 'k >= bits', value: '0' }, { value: 'v << k', cut: true }]],
    ['out', 'bits - k'],
    ['cf', [{ when: 'k <= bits', value: '(v >>> out) & 1' }, { value: '0' }]],
    ['of', '((r >>> sign) & 1) ^ cf'],
  ],
};

const SHR: ShiftOp = {
  name: 'shr',
  flags: 'result',
  steps: [
    ['r', [{ when: 'k >= bits', value: '0' }, { value: 'v >>> k', cut: true }]],
    ['out', 'k - 1'],
    ['cf', [{ when: 'k <= bits', value: '(v >>> out) & 1' }, { value: '0' }]],
    // OF is the operand's sign for a count of one; the P6 gives the result's for larger counts.
    ['of', [{ when: 'k === 1', value: '(v >>> sign) & 1' }, { value: '(r >>> sign) & 1' }]],
  ],
};

const SAR: ShiftOp = {
  name: 'sar',
  flags: 'result',
  steps: [
    ['up', '32 - bits'],
    ['sv', '(v << up) >> up'],
    ['r', [{ value: 'sv >> k', cut: true }]],
    ['out', 'k - 1'],
    ['cf', '(sv >> out) & 1'],
    ['of', '0'],
  ],
};

/** Group 2 by its /r; RCL and RCR (2, 3) rotate through CF bit by bit and are written by hand in ops/shift.ts. */
export const SHIFT_OPS: readonly (ShiftOp | null)[] = [ROL, ROR, null, null, SHL, SHR, SHL, SAR];

// The multiplies (F6/F7 /4 and /5 into AX, DX:AX or EDX:EAX; IMUL 0F AF, 69 and 6B truncated to the
// destination), one case per operand size. Each case computes locals in order from `a` and `b` (the
// operands, reduced to their width: for the one-operand forms `a` is AL, AX or EAX), then writes
// registers (one-operand forms) or yields `result` (the others). CF = OF = `over`, the product did
// not fit; SF, ZF and PF follow `low`, AF is cleared (the P6's, as ops/arith.ts explains): the
// 'shift' producer. The 32-bit products are exact without BigInt: the 16-bit split keeps every
// partial product below 2^49.

export interface MulCase {
  readonly steps: readonly (readonly [name: string, value: string])[];
  /** [operand size, register number, value]: what the one-operand forms write, in order. */
  readonly writes: readonly (readonly [sz: number, reg: number, value: string])[];
  /** The destination's new value (two- and three-operand IMUL). */
  readonly result?: string;
  readonly low: string;
  readonly over: string;
}

export interface MulOp {
  readonly name: string;
  /** By operand size (0/1/2 = 8/16/32 bits); null where the form does not exist. */
  readonly sizes: readonly (MulCase | null)[];
}

const EAX = 0, EDX = 2;

/** The unsigned 64-bit product of the uint32 values of `x` and `y` as int32 halves lo and hi. */
const mulU32 = (x: string, y: string): MulCase['steps'] => [
  ['ua', `${x} >>> 0`],
  ['ub', `${y} >>> 0`],
  ['p1', '(ua & 65535) * ub'],
  ['p2', '(ua >>> 16) * ub'],
  ['lo', 'Math.imul(ua, ub)'],
  ['hi', '(Math.floor(p2 / 65536) + Math.floor((p1 + (p2 % 65536) * 65536) / 4294967296)) | 0'],
];

export const MUL: MulOp = {
  name: 'mul',
  sizes: [
    { steps: [['r', 'a * b']], writes: [[1, EAX, 'r']], low: 'r & 255', over: 'r >> 8 !== 0' },
    { steps: [['r', 'a * b']], writes: [[1, EAX, 'r'], [1, EDX, 'r >>> 16']], low: 'r & 65535', over: 'r >>> 16 !== 0' },
    { steps: mulU32('a', 'b'), writes: [[2, EAX, 'lo'], [2, EDX, 'hi']], low: 'lo', over: 'hi !== 0' },
  ],
};

/** IMUL with one operand. */
export const IMUL1: MulOp = {
  name: 'imul1',
  sizes: [
    { steps: [['r', '((a << 24) >> 24) * ((b << 24) >> 24)']], writes: [[1, EAX, 'r']], low: 'r & 255', over: 'r !== (r << 24) >> 24' },
    {
      steps: [['r', '((a << 16) >> 16) * ((b << 16) >> 16)']],
      writes: [[1, EAX, 'r'], [1, EDX, 'r >> 16']],
      low: 'r & 65535',
      over: 'r !== (r << 16) >> 16',
    },
    {
      // The signed high half from the unsigned one: less each operand where the other is negative.
      steps: [['sa', 'a | 0'], ['sb', 'b | 0'], ...mulU32('sa', 'sb'), ['sh', '(hi - (sa < 0 ? sb : 0) - (sb < 0 ? sa : 0)) | 0']],
      writes: [[2, EAX, 'lo'], [2, EDX, 'sh']],
      low: 'lo',
      over: 'sh !== lo >> 31',
    },
  ],
};

/** IMUL r, r/m and IMUL r, r/m, imm: the product truncated to the destination. */
export const IMUL_TRUNC: MulOp = {
  name: 'imulTrunc',
  sizes: [
    null,
    { steps: [['r', '((a << 16) >> 16) * ((b << 16) >> 16)'], ['t', '(r << 16) >> 16']], writes: [], result: 'r & 65535', low: 'r & 65535', over: 't !== r' },
    // a * b is exact below 2^53; above it, it certainly differs from the 32-bit product.
    { steps: [['lo', 'Math.imul(a, b)']], writes: [], result: 'lo', low: 'lo', over: '(a | 0) * (b | 0) !== lo' },
  ],
};
