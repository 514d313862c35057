// The translator's view of the arithmetic flags. The interpreter records the last flag-setting
// operation in cpu.lop/la/lb/lres/lsz/lazy (flags.ts) and computes a flag only when read. Translated
// code goes one step further: the operation and size are known when the block is translated, so only
// the operands and result live at run time, in the locals fa, fb, fr (and fc: the carry-in of ADC/SBB,
// or the CF that INC/DEC keep). The cpu fields are written only where something outside the block can
// look at them: before a call into an interpreter handler, at an exit, and in the fault path. A Jcc,
// SETcc or CMOVcc after CMP then becomes one JavaScript comparison of the operands.

import { AF, ARITH, CF, LazyOp, OF, PF, SF, ZF } from '../flags.ts';
import { CONDITIONS, LAZY_FLAGS, flagSource, lazyFlagText } from '../gen/flags-table.ts';
import { renderBoolean } from '../gen/template.ts';
import { PRODUCERS, type Producer } from '../gen/integer-table.ts';

/**
 * The producers are those of the one table (gen/integer-table.ts). 'shift' (SHL, SHR, SAR, the
 * multiplies): SF, ZF and PF from fr as for LOGIC; CF in fc and OF in fb (0 or 1), as the
 * interpreter's setResultFlags writes them directly.
 */
export type { Producer };

/** The flag-setting operation whose operands are in fa/fb/fr (and fc), known at translation time. */
export interface Pending {
  readonly op: Producer;
  /** 0/1/2: 8/16/32 bits. */
  readonly sz: number;
}

const MASK = ['255', '65535', '-1'] as const;
const SIGN = ['128', '32768', '-2147483648'] as const;

/** `v` as an unsigned number of the operand's width. */
function unsigned(v: string, sz: number): string {
  return sz === 2 ? `(${v} >>> 0)` : `(${v} & ${MASK[sz]})`;
}
/** `v` shifted so that its operand-width sign is the int32 sign: signed comparisons. */
function signed(v: string, sz: number): string {
  return sz === 2 ? `(${v} | 0)` : `(${v} << ${sz === 0 ? 24 : 16})`;
}

/** A lazy flag of LazyOp `op` over fa, fb and fr at the pending size (gen/flags-table.ts). */
function lazyText(op: LazyOp, flag: 'cf' | 'of', sz: number): string {
  return lazyFlagText(LAZY_FLAGS[op]![flag], { a: 'fa', b: 'fb', r: 'fr', ua: unsigned('fa', sz), ub: unsigned('fb', sz), ur: unsigned('fr', sz), s: SIGN[sz]! });
}

/** CF or OF of producer p: a value held in fc or fb, or the LazyOp it records, chosen by the carry-in in fc where it depends on it. */
function producerFlag(p: Pending, flag: 'cf' | 'of'): string {
  const src = flagSource(p.op, flag);
  if ('held' in src) return `(${src.held} !== 0)`;
  const [c0, c1] = src.lazy;
  const e0 = lazyText(c0, flag, p.sz);
  return c0 === c1 ? `(${e0})` : `(fc ? ${lazyText(c1, flag, p.sz)} : ${e0})`;
}

function cfExpr(p: Pending): string {
  return producerFlag(p, 'cf');
}

/** Flag `f` (of, cf, zf, sf, pf) of producer p, a boolean expression. */
function flagExpr(p: Pending, f: string): string {
  switch (f) {
    case 'of': return ofExpr(p);
    case 'cf': return cfExpr(p);
    case 'zf': return zfExpr(p);
    case 'sf': return sfExpr(p);
    case 'pf': return pfExpr();
  }
  throw new Error(`no flag ${f}`);
}

function zfExpr(p: Pending): string {
  return p.sz === 2 ? '(fr === 0)' : `((fr & ${MASK[p.sz]}) === 0)`;
}
function sfExpr(p: Pending): string {
  return `((fr & ${SIGN[p.sz]}) !== 0)`;
}
function pfExpr(): string {
  return '(PARITY[fr & 255] === 1)';
}
function ofExpr(p: Pending): string {
  return producerFlag(p, 'of');
}

/**
 * A JavaScript boolean expression for condition code `cc` (0-15, as in Jcc) given the pending
 * operation, or the interpreter's evaluation when the flags are in the cpu fields.
 */
export function condExpr(p: Pending | null, cc: number): string {
  if (!p) return `cpu.cond(${cc})`;
  const neg = (cc & 1) !== 0;
  let e: string;
  const k = cc >> 1;
  if (p.op === 'sub') {
    // CMP and SUB: every condition is a comparison of the operands.
    const a = unsigned('fa', p.sz), b = unsigned('fb', p.sz);
    const sa = signed('fa', p.sz), sb = signed('fb', p.sz);
    switch (k) {
      case 1: return neg ? `(${a} >= ${b})` : `(${a} < ${b})`;
      case 2: return neg ? `(${a} !== ${b})` : `(${a} === ${b})`;
      case 3: return neg ? `(${a} > ${b})` : `(${a} <= ${b})`;
      case 6: return neg ? `(${sa} >= ${sb})` : `(${sa} < ${sb})`;
      case 7: return neg ? `(${sa} > ${sb})` : `(${sa} <= ${sb})`;
    }
  }
  if (p.op === 'logic') {
    // CF = OF = 0 after AND, OR, XOR, TEST.
    switch (k) {
      case 0: return neg ? 'true' : 'false';
      case 1: return neg ? 'true' : 'false';
      case 3: e = zfExpr(p); return neg ? `!${e}` : e;
      case 6: e = signed('fr', p.sz) + ' < 0'; return neg ? `!(${e})` : `(${e})`;
      case 7: e = `(${signed('fr', p.sz)} <= 0)`; return neg ? `!${e}` : e;
    }
  }
  // The condition from the one table (gen/flags-table.ts), each flag it names from the producer.
  e = renderBoolean(CONDITIONS[k]!, (f) => flagExpr(p, f));
  return neg ? `!${e}` : e;
}

/** CF as a 0/1 number expression, for ADC, SBB and the CF that INC/DEC keep. */
export function carryExpr(p: Pending | null): string {
  if (!p) return '(cpu.cf() ? 1 : 0)';
  if (p.op === 'logic') return '0';
  const src = flagSource(p.op, 'cf');
  if ('held' in src) return src.held;
  return `(${cfExpr(p)} ? 1 : 0)`;
}

/** The LazyOp the interpreter records for producer p, as an expression over fc (the carry-in). */
function lazyOp(p: Exclude<Producer, 'shift'>): string {
  const [c0, c1] = PRODUCERS[p].lazy;
  return c0 === c1 ? String(c0) : `(fc ? ${c1} : ${c0})`;
}

/** Statements that leave the cpu's lazy-flag fields as the interpreter would have left them. */
export function flushCode(p: Pending | null): string {
  if (!p) return '';
  if (p.op === 'shift')
    return `cpu.flagsRaw = (cpu.flagsRaw & ${~(CF | OF | AF)}) | fc | (fb << 11); cpu.lop = ${LazyOp.LOGIC}; cpu.lres = fr; cpu.lsz = ${p.sz}; cpu.lazy = ${PF | ZF | SF};`;
  const common = `cpu.lop = ${lazyOp(p.op)}; cpu.la = fa; cpu.lb = fb; cpu.lres = fr; cpu.lsz = ${p.sz};`;
  if (PRODUCERS[p.op].keepsCF)
    return `cpu.flagsRaw = (cpu.flagsRaw & ${~CF}) | fc; ${common} cpu.lazy = ${ARITH & ~CF};`;
  return `${common} cpu.lazy = ${ARITH};`;
}
