// The one table's templates read as trees (gen/template.ts) and run as WebAssembly
// (template-wasm.ts): each template the WebAssembly translator takes from the table gives, compiled,
// what JavaScript gives for it, over edge and random operands; what the i32 cannot stand for exactly
// is refused when the module is written.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ALU_OPS, DEC, INC, NEG, NOT, SHIFT_OPS, TEST, type Alt, type ShiftOp } from '../../gen/integer-table.ts';
import { evaluate, parse, type Expr } from '../../gen/template.ts';
import { LAZY_FLAGS, LAZY_OPS } from '../../gen/flags-table.ts';
import { LazyOp } from '../../flags.ts';
import { lazyCF, lazyOF } from '../../ops/integer-ops.generated.ts';
import { Xorshift32 } from '../../xorshift.ts';
import { emitTemplate, type Binding } from './template-wasm.ts';
import { shiftSteps, shiftStepsByCount } from './shift-steps.ts';
import { Code, I32, moduleBytes } from './wasm-module.ts';

const EDGES = [0, 1, 2, -1, -2, 0x7fffffff, -0x80000000, 0x80000001 | 0, 0xffff, 0x10000, 0xff, 0x100, 0x55555555, 0xaaaaaaaa | 0];

/** The operand rows: every pair of edge values, then random ones from a fixed seed. */
function rows(): [number, number][] {
  const out: [number, number][] = [];
  for (const a of EDGES) for (const b of EDGES) out.push([a, b]);
  const rng = new Xorshift32(0x7e3a1);
  for (let k = 0; k < 200; k++) out.push([rng.next() | 0, rng.next() | 0]);
  return out;
}

const memory = new WebAssembly.Memory({ initial: 1 });

/** The function of `params` i32 parameters whose body `emit` writes, ready to call. */
function wasmFunction(params: number, emit: (c: Code) => void): (...args: number[]) => number {
  const c = new Code();
  emit(c);
  const type = { params: new Array<number>(params).fill(I32), results: [I32] };
  const bytes = moduleBytes({ memoryPages: 1, importFuncs: [], funcs: [{ name: 'f', type, locals: [], code: c }] });
  return new WebAssembly.Instance(new WebAssembly.Module(bytes), { e: { mem: memory } }).exports.f as (...args: number[]) => number;
}

/** `template` compiled into a function of `names`, bound in order as signed locals (`c`, a carry, as small). */
function compiled(template: string, names: readonly string[]): (...args: number[]) => number {
  const bindings = new Map<string, Binding>(names.map((n, k) => [n, { local: k, kind: n === 'c' ? 'small' : 'signed' }]));
  return wasmFunction(names.length, (c) => emitTemplate(c, template, bindings));
}

/** An expression over `v` (a shift's operand), compiled into a function of it. */
function compiledTree(e: Expr, kind: 'signed' | 'small' = 'signed'): (v: number) => number {
  return wasmFunction(1, (c) => emitTemplate(c, e, new Map([['v', { local: 0, kind }]])));
}

/** JavaScript's own reading of `template` (the text the interpreter's generated code holds). */
function javascript(template: string, names: readonly string[]): (...args: number[]) => number {
  return new Function(...names, `return (${template});`) as (...args: number[]) => number;
}

test('the integer operations the WebAssembly translator takes from the table compute what JavaScript computes', () => {
  const templates = [...ALU_OPS, TEST, INC, DEC, NOT, NEG].flatMap((op) => [op.result, ...(op.flags ? [op.flags.a, op.flags.b] : [])]);
  let checked = 0;
  for (const t of new Set(templates)) {
    const names = ['a', 'b', 'c'];
    const wasm = compiled(t, names);
    const js = javascript(t, names);
    for (const [a, b] of rows()) {
      for (const c of [0, 1]) {
        assert.equal(wasm(a, b, c), js(a, b, c) | 0, `${t} with a=${a} b=${b} c=${c}`);
        checked++;
      }
    }
  }
  assert.ok(checked > 4000);
});

test('the shift steps, with the count put in and the guards decided, compute what the steps compute in turn', () => {
  for (const op of SHIFT_OPS) {
    if (!op) continue;
    for (const bits of [32, 16] as const) {
      // Words: SHL, SHR and SAR (the translator leaves word rotates to the interpreter).
      if (bits === 16 && op.flags === 'cfof') continue;
      const m = bits === 32 ? -1 : 0xffff;
      for (let k = 1; k < 32; k++) {
        // As the translator does: the steps written into each other, then compiled.
        const steps = shiftSteps(op, k, bits);
        for (const out of ['r', 'cf', 'of']) {
          const wasm = compiledTree(steps.get(out)!, bits === 16 ? 'small' : 'signed');
          for (const [v] of rows()) {
            const operand = v & m;
            assert.equal(wasm(operand), stepsInTurn(op, operand, k, bits).get(out)! | 0, `${op.name} ${bits} ${k}: ${out} of ${operand}`);
          }
        }
      }
    }
  }
});

test('the shift steps by a count known only at run time (SHL, SHR, SAR by CL) compute what the steps compute in turn', () => {
  for (const op of SHIFT_OPS) {
    if (!op || op.flags === 'cfof') continue;
    const steps = shiftStepsByCount(op);
    for (const out of ['r', 'cf', 'of']) {
      const names = new Map<string, Binding>([['v', { local: 0, kind: 'signed' }], ['k', { local: 1, kind: 'small' }]]);
      const wasm = wasmFunction(2, (c) => emitTemplate(c, steps.get(out)!, names));
      for (let k = 1; k < 32; k++) for (const [v] of rows()) assert.equal(wasm(v, k), stepsInTurn(op, v, k, 32).get(out)! | 0, `${op.name} by ${k}: ${out} of ${v}`);
    }
  }
});

/** As the interpreter's generated shiftOp does: each step's value from the ones before, the operand cut to its width. */
function stepsInTurn(op: ShiftOp, v: number, k: number, bits: 16 | 32): Map<string, number> {
  const m = bits === 32 ? -1 : 0xffff;
  const values = new Map([['v', v & m], ['k', k], ['bits', bits], ['sign', bits - 1], ['m', m]]);
  for (const [name, value] of op.steps) {
    const alt = typeof value === 'string' ? { value } : value.find((a: Alt) => a.when === undefined || evaluate(parse(a.when), values))!;
    const x = evaluate(parse(alt.value), values);
    values.set(name, 'cut' in alt && alt.cut ? x & m : x);
  }
  return values;
}

test('the flags table\'s CF and OF, compiled for a dword record, are the interpreter\'s', () => {
  // Bound as the translator binds them: the record's locals, as signed and as unsigned, and the sign bit.
  const record = new Map<string, Binding>([
    ['a', { local: 0, kind: 'signed' }], ['b', { local: 1, kind: 'signed' }], ['r', { local: 2, kind: 'signed' }],
    ['ua', { local: 0, kind: 'unsigned' }], ['ub', { local: 1, kind: 'unsigned' }], ['ur', { local: 2, kind: 'unsigned' }],
    ['s', { value: -0x80000000 }],
  ]);
  for (const op of LAZY_OPS) {
    for (const flag of ['cf', 'of'] as const) {
      const wasm = wasmFunction(3, (c) => emitTemplate(c, LAZY_FLAGS[op]![flag], record));
      const interpreter = flag === 'cf' ? (a: number, b: number, r: number) => lazyCF(op, a, b, r, -1) : (a: number, b: number, r: number) => lazyOF(op, a, b, r, -0x80000000);
      for (const [a, b] of rows()) {
        // The result the operation would have recorded, and an arbitrary one.
        for (const r of [op === LazyOp.SUB || op === LazyOp.SBB ? (a - b - (op === LazyOp.SBB ? 1 : 0)) | 0 : (a + b + (op === LazyOp.ADC ? 1 : 0)) | 0, a ^ b]) {
          assert.equal(wasm(a, b, r), Number(interpreter(a, b, r)), `${flag} of LazyOp ${op}: a=${a} b=${b} r=${r}`);
        }
      }
    }
  }
});

test('what an i32 cannot stand for exactly is refused when the module is written', () => {
  const signed = new Map<string, Binding>([['a', { local: 0, kind: 'signed' }], ['b', { local: 1, kind: 'signed' }]]);
  for (const t of ['(a >>> 0) < b', 'a * b', 'a + b < b', '!(a - b)', '(a - b) ? a : b', '-(a + b)', '(a >>> 0) === b'])
    assert.throws(() => emitTemplate(new Code(), t, signed), /no exact i32 form/, t);
  for (const t of ['(a >>> 0) < (b >>> 0)', '(a & 255) < b', 'a < b', 'Math.imul(a, b)', '(a + b) | 0', '((a ^ b) & 128) !== 0'])
    assert.doesNotThrow(() => emitTemplate(new Code(), t, signed), t);
  assert.throws(() => parse('a ** b'), /template a \*\* b/);
  assert.throws(() => emitTemplate(new Code(), 'a + d', signed), /no binding for d/);
});

test('comparisons take the signed or unsigned instruction their operands call for', () => {
  const cases = ['(a >>> 0) < (b >>> 0)', 'a < b', '(a >>> 0) <= (b & 65535)', '(a | 0) >= -1', '(a & 255) > (b >> 4)', 'a === (b | 0)', '(a >>> 0) !== (b >>> 0)', 'a ? (b >>> 0) : 7'];
  for (const t of cases) {
    const wasm = compiled(t, ['a', 'b']);
    const js = javascript(t, ['a', 'b']);
    for (const [a, b] of rows()) assert.equal(wasm(a, b), js(a, b) | 0, `${t} with a=${a} b=${b}`);
  }
});

test('templates parse with JavaScript precedence', () => {
  const values = new Map([['a', 0x1234], ['b', -7], ['c', 1]]);
  for (const t of ['a + b << 1 & c', 'a - -b', '~a ^ b | c', 'a < b === c < a', 'a ? b : c ? a : b', '-a >>> 3', '!a + c', 'a & b ^ c | a', 'Math.imul(a + 1, b)'])
    assert.equal(evaluate(parse(t), values), Number(javascript(t, ['a', 'b', 'c'])(0x1234, -7, 1)), t);
});
