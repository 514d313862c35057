// Writes the interpreter's integer-operation functions from integer-table.ts as TypeScript text:
// the generator behind vmm/cpu/ops/integer-ops.generated.ts (scripts/gen-ops.ts writes the file,
// gen.test.ts checks that the checked-in one is what this produces).
//
// Generated at build time and checked in, not built at load time with `new Function`: the
// interpreter's handlers stay ordinary module functions that V8 inlines into their callers as
// before (a function made by `new Function` is a separate script V8 optimizes apart, and a reader or
// a stack trace would no longer find its source), the generated code is reviewed as text in the diff
// like the translator's golden files, and the interpreter's speed does not depend on the generator.

import { LazyOp } from '../flags.ts';
import { CONDITIONS, LAZY_FLAGS, LAZY_OPS, lazyFlagText, type LazyFlags } from './flags-table.ts';
import { renderBoolean } from './template.ts';
import { ALU_OPS, DEC, IMUL1, IMUL_TRUNC, INC, LAZY_NAMES, MUL, NEG, NOT, PRODUCERS, SHIFT_OPS, TEST, fill, stepValue, type IntOp, type MulOp, type ShiftOp } from './integer-table.ts';

/** The statements computing `r` from the operands in `a`, `b` and recording the flags, at size sz with mask m. */
function body(op: IntOp, result: (expr: string) => string): string[] {
  const lines: string[] = [];
  const names = { a: 'a', b: 'b', c: 'c' };
  if (op.carryIn) lines.push('const c = cpu.cf() ? 1 : 0;');
  lines.push(result(`(${fill(op.result, names)}) & m`));
  if (op.flags) {
    const p = PRODUCERS[op.flags.producer];
    const [lazy0, lazy1] = p.lazy;
    if (lazy0 !== lazy1 && !op.carryIn) throw new Error(`${op.name}: producer ${op.flags.producer} needs a carry-in`);
    const lazy = lazy0 === lazy1 ? `LazyOp.${LAZY_NAMES[lazy0]}` : `c ? LazyOp.${LAZY_NAMES[lazy1]} : LazyOp.${LAZY_NAMES[lazy0]}`;
    const record = p.keepsCF ? 'setLazyKeepCF' : 'setLazy';
    lines.push(`cpu.${record}(${lazy}, ${fill(op.flags.a, names)}, ${fill(op.flags.b, names)}, r, sz);`);
  }
  return lines;
}

function aluFunction(): string[] {
  // One switch over the eight operations keeps the hot path monomorphic; operations whose bodies
  // are the same text share a case, and the group holding CMP is the default.
  const groups = new Map<string, number[]>();
  ALU_OPS.forEach((op, n) => {
    const text = body(op, (e) => `r = ${e};`).concat('return r;').join('\n');
    groups.set(text, [...(groups.get(text) ?? []), n]);
  });
  const out = [
    '/** Computes `a op b` for ALU operation op (0-7: ADD OR ADC SBB AND SUB XOR CMP) at size sz (0/1/2 = 8/16/32 bits), records the flags, returns the masked result. */',
    'export function alu(cpu: Cpu, op: number, a: number, b: number, sz: number): number {',
    '  const m = MASK[sz]!;',
    '  let r: number;',
    '  switch (op) {',
  ];
  const last = ALU_OPS.length - 1;
  const ordered = [...groups].sort(([, x], [, y]) => Number(x.includes(last)) - Number(y.includes(last)));
  for (const [text, ops] of ordered) {
    const names = ops.map((n) => ALU_OPS[n]!.name.toUpperCase()).join(', ');
    const block = text.includes('const ');
    const labels = ops.includes(last) ? ['default:'] : ops.map((n) => `case ${n}:`);
    labels.forEach((l, k) => out.push(`    ${l}${k === labels.length - 1 ? `${block ? ' {' : ''} // ${names}` : ''}`));
    for (const l of text.split('\n')) out.push(`      ${l}`);
    if (block) out.push('    }');
  }
  out.push('  }', '}');
  return out;
}

function unaryFunction(op: IntOp, doc: string, withB: boolean): string[] {
  const params = withB ? 'a: number, b: number' : 'a: number';
  const cpu = op.flags || op.carryIn ? 'cpu: Cpu, ' : '';
  return [
    `/** ${doc} */`,
    `export function ${op.name}(${cpu}${params}, sz: number): number {`,
    '  const m = MASK[sz]!;',
    ...body(op, (e) => `const r = ${e};`).map((l) => `  ${l}`),
    '  return r;',
    '}',
  ];
}

function shiftBody(op: ShiftOp): string[] {
  const record = op.flags === 'result' ? 'cpu.setResultFlags(r, sz, cf !== 0, of !== 0);' : 'setCfOf(cpu, cf !== 0, of !== 0);';
  return [...op.steps.map(([name, value]) => `const ${name} = ${stepValue(value)};`), record, 'return r;'];
}

function shiftFunction(): string[] {
  const out = [
    '/** Group-2 operation op (its /r) on v at size sz with count k (masked to 5 bits, not 0); returns the new value, flags set. */',
    'export function shiftOp(cpu: Cpu, op: number, v: number, k: number, sz: number): number {',
    '  const bits = BITS[sz]!;',
    '  const m = MASK[sz]!;',
    '  const sign = bits - 1;',
    '  v &= m;',
    '  switch (op) {',
  ];
  const groups = new Map<string, number[]>();
  SHIFT_OPS.forEach((op, n) => {
    const text = op ? shiftBody(op).join('\n') : `return ${n === 2 ? 'rcl' : 'rcr'}(cpu, v, k, sz);`;
    groups.set(text, [...(groups.get(text) ?? []), n]);
  });
  const last = SHIFT_OPS.length - 1;
  const ordered = [...groups].sort(([, x], [, y]) => Number(x.includes(last)) - Number(y.includes(last)));
  const NAMES = ['ROL', 'ROR', 'RCL', 'RCR', 'SHL', 'SHR', 'SAL', 'SAR'];
  for (const [text, ops] of ordered) {
    const labels = ops.includes(last) ? ['default:'] : ops.map((n) => `case ${n}:`);
    const names = ops.map((n) => NAMES[n]).join(', ');
    const block = text.includes('const ');
    labels.forEach((l, k) => out.push(`    ${l}${k === labels.length - 1 ? `${block ? ' {' : ''} // ${names}` : ''}`));
    for (const l of text.split('\n')) out.push(`      ${l}`);
    if (block) out.push('    }');
  }
  out.push('  }', '}');
  return out;
}

/** A multiply, one branch per operand size it has; the one-operand forms read the accumulator themselves. */
function mulFunction(op: MulOp, doc: string): string[] {
  const truncating = op.sizes.some((c) => c?.result !== undefined);
  const out = [
    `/** ${doc} */`,
    truncating
      ? `export function ${op.name}(cpu: Cpu, a: number, b: number, sz: number): number {`
      : `export function ${op.name}(cpu: Cpu, b: number, sz: number): void {`,
  ];
  const cases = op.sizes.flatMap((c, sz) => (c ? [[sz, c] as const] : []));
  cases.forEach(([sz, c], k) => {
    out.push(k === 0 ? `  if (sz === ${sz}) {` : k === cases.length - 1 ? '  } else {' : `  } else if (sz === ${sz}) {`);
    if (!truncating) out.push(`    const a = cpu.${['r8[0]', 'r16[0]', 'r32[0]'][sz]}!;`);
    for (const [name, value] of c.steps) out.push(`    const ${name} = ${value};`);
    out.push(`    const over = ${c.over};`);
    for (const [size, reg, value] of c.writes) out.push(`    cpu.${size === 1 ? `r16[${reg << 1}]` : `r32[${reg}]`} = ${value};`);
    out.push(`    cpu.setResultFlags(${c.low}, ${sz}, over, over);`);
    if (c.result !== undefined) out.push(`    return ${c.result};`);
  });
  out.push('  }', '}');
  return out;
}

/** The interpreter's text for a flag template of flags-table.ts: a boolean over the record in a, b, r at mask m (sign bit s). */
function flagText(template: string): string {
  return lazyFlagText(template, { ua: '(a & m) >>> 0', ub: '(b & m) >>> 0', ur: '(r & m) >>> 0' });
}

/** lazyCF, lazyOF or lazyAF: one lazy flag of the recorded operation `op`, one case per distinct text. */
function lazyFlagFunction(flag: keyof LazyFlags, name: string, doc: string, width: string): string[] {
  const groups = new Map<string, LazyOp[]>();
  LAZY_OPS.forEach((op) => {
    const text = flagText(LAZY_FLAGS[op]![flag]);
    groups.set(text, [...(groups.get(text) ?? []), op]);
  });
  const out = [`/** ${doc} */`, `export function ${name}(op: LazyOp, a: number, b: number, r: number${width}): boolean {`, '  switch (op) {'];
  // The group holding LOGIC (the last) is the default.
  const ordered = [...groups].sort(([, x], [, y]) => Number(x.includes(LazyOp.LOGIC)) - Number(y.includes(LazyOp.LOGIC)));
  for (const [text, ops] of ordered) {
    if (ops.includes(LazyOp.LOGIC)) out.push('    default:');
    else for (const op of ops) out.push(`    case LazyOp.${LAZY_NAMES[op]}:`);
    out.push(`      return ${text};`);
  }
  out.push('  }', '}');
  return out;
}

/** cond: the interpreter's condition codes from CONDITIONS, each flag read through the cpu (lazily). */
function condFunction(): string[] {
  const out = [
    '/** Condition code cc (0-15, as in Jcc, SETcc and CMOVcc) of the flags now. */',
    'export function cond(cpu: Cpu, cc: number): boolean {',
    '  let r: boolean;',
    '  switch (cc >> 1) {',
  ];
  CONDITIONS.forEach((t, k) => {
    out.push(k === CONDITIONS.length - 1 ? '    default:' : `    case ${k}:`, `      r = ${renderBoolean(t, (f) => `cpu.${f}()`)};`, '      break;');
  });
  out.push('  }', '  return cc & 1 ? !r : r;', '}');
  return out;
}

/** The text of vmm/cpu/ops/integer-ops.generated.ts. */
export function renderIntegerOps(): string {
  const out = [
    '// GENERATED from vmm/cpu/gen/integer-table.ts and flags-table.ts by scripts/gen-ops.ts: do not edit.',
    '// Regenerate with `node --import tsx scripts/gen-ops.ts`; vmm/cpu/gen/gen.test.ts fails while this file is stale.',
    '// The interpreter\'s flag-setting integer operations and its evaluation of the lazy flags; the',
    '// translators fill the same templates.',
    '',
    "import type { Cpu } from '../cpu.ts';",
    "import { LazyOp } from '../flags.ts';",
    "import { rcl, rcr, setCfOf } from './rotate-carry.ts';",
    '',
    'const MASK = [0xff, 0xffff, -1] as const;',
    'const BITS = [8, 16, 32] as const;',
    '',
    ...aluFunction(),
    '',
    ...unaryFunction(TEST, 'TEST: the flags of `a & b`, nothing written.', true),
    '',
    ...unaryFunction(INC, 'INC: `a + 1`, CF kept.', false),
    '',
    ...unaryFunction(DEC, 'DEC: `a - 1`, CF kept.', false),
    '',
    ...unaryFunction(NOT, 'NOT: no flags.', false),
    '',
    ...unaryFunction(NEG, 'NEG: the flags of `0 - a`.', false),
    '',
    ...shiftFunction(),
    '',
    ...mulFunction(MUL, 'MUL: AL, AX or EAX times b into AX, DX:AX or EDX:EAX.'),
    '',
    ...mulFunction(IMUL1, 'IMUL with one operand: AL, AX or EAX times b, signed, into AX, DX:AX or EDX:EAX.'),
    '',
    ...mulFunction(IMUL_TRUNC, 'IMUL r, r/m[, imm]: the signed product of a and b truncated to sz bits.'),
    '',
    ...lazyFlagFunction('cf', 'lazyCF', 'CF of the recorded operation `op` (gen/flags-table.ts), at operand mask m.', ', m: number'),
    '',
    ...lazyFlagFunction('of', 'lazyOF', 'OF of the recorded operation `op`, with s the operand\'s sign bit.', ', s: number'),
    '',
    ...lazyFlagFunction('af', 'lazyAF', 'AF of the recorded operation `op`.', ''),
    '',
    ...condFunction(),
  ];
  return out.join('\n') + '\n';
}
