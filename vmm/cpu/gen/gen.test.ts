// The interpreter's generated code is what the one table and its generator produce now: a change to
// vmm/cpu/gen/ without `node --import tsx scripts/gen-ops.ts` fails here, so the interpreter cannot
// keep running an older copy of the table while the translator reads the new one.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { renderIntegerOps } from './render-ops.ts';
import { ALU_OPS, fill } from './integer-table.ts';
import { fillNames, renderBoolean } from './template.ts';

const GENERATED = new URL('../ops/integer-ops.generated.ts', import.meta.url).pathname;

test('ops/integer-ops.generated.ts is what scripts/gen-ops.ts writes from the table', () => {
  const have = readFileSync(GENERATED, 'utf8').split('\n');
  const want = renderIntegerOps().split('\n');
  const at = want.findIndex((line, n) => have[n] !== line);
  assert.ok(
    at < 0 && have.length === want.length,
    `vmm/cpu/ops/integer-ops.generated.ts is stale from line ${at + 1} (has ${JSON.stringify(have[at])}, the table gives ${JSON.stringify(want[at])}): ` +
      'run `node --import tsx scripts/gen-ops.ts` and review the diff',
  );
});

test('templates are filled with operands as expressions', () => {
  assert.equal(fill(ALU_OPS[2]!.result, { a: 'x', b: 'r32[1]', c: 'c' }), 'x + r32[1] + c');
  assert.equal(fill('a - b', { a: 'a', b: '-5' }), 'a - -5');
  assert.equal(fill('-a', { a: '-5' }), '-(-5)');
  assert.equal(fill('a + b', { a: 'a', b: 'x + 1' }), 'a + (x + 1)');
  assert.throws(() => fill('a + c', { a: 'a' }), /no value for c/);
});

test('any template names are filled, a group kept as it is and anything else parenthesized', () => {
  assert.equal(fillNames('ur < ua', { ur: '(fr >>> 0)', ua: 'fa & 255' }), '(fr >>> 0) < (fa & 255)');
  assert.equal(fillNames('a - b', { b: '-5' }), 'a - -5');
  assert.equal(fillNames('-a', { a: '-5' }), '-(-5)');
  assert.equal(fillNames('a ^ s', { a: '(x) + (y)', s: '-2147483648' }), '((x) + (y)) ^ -2147483648');
  // Names are whole words, and members are not names.
  assert.equal(fillNames('ua + a.b + aa', { a: 'q', ua: 'u' }), 'u + a.b + aa');
});

test('conditions render as booleans with || and !==, parenthesized only where the binding needs it', () => {
  const name = (f: string): string => f;
  assert.equal(renderBoolean('zf | (sf ^ of)', name), '(zf || sf !== of)');
  assert.equal(renderBoolean('(a ^ b) | c', name), '(a !== b || c)');
  assert.equal(renderBoolean('a ^ (b | c)', name), '(a !== (b || c))');
  assert.equal(renderBoolean('cf', (f) => `cpu.${f}()`), 'cpu.cf()');
  assert.throws(() => renderBoolean('cf & zf', name), /only flags, \| and \^/);
});
