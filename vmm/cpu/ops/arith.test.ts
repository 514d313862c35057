import { test } from 'node:test';
import assert from 'node:assert/strict';
import { divU64 } from './arith.ts';
import { MUL } from '../gen/integer-table.ts';

/** The table's 32-bit MUL steps (what both engines run) as a function of the two operands. */
const steps = MUL.sizes[2]!.steps.map(([name, value]) => `const ${name} = ${value};`).join(' ');
const mulU32 = new Function('a', 'b', `${steps} return [lo, hi];`) as (a: number, b: number) => [number, number];

test('the table\'s 32-bit MUL and divU64 agree with BigInt on random and edge operands', () => {
  let s = 12345;
  const rnd = (): number => {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    return s >>> 0;
  };
  const edges = [0, 1, 2, 0xffff, 0x10000, 0x7fffffff, 0x80000000, 0xfffffffe, 0xffffffff];
  for (let k = 0; k < 20000; k++) {
    const a = k < 81 ? edges[k % 9]! : rnd();
    const b = k < 81 ? edges[Math.floor(k / 9)]! : rnd();
    const p = BigInt(a) * BigInt(b);
    const [lo, hi] = mulU32(a, b);
    assert.equal(BigInt(lo >>> 0) + (BigInt(hi >>> 0) << 32n), p, `${a}*${b}`);
    const d = b === 0 ? 1 : b;
    const h = a % d;
    const l = rnd();
    const n = (BigInt(h) << 32n) | BigInt(l);
    const qr = new Int32Array(2);
    divU64(h, l, d, qr);
    const [q, r] = qr as unknown as [number, number];
    assert.equal(BigInt(q >>> 0), n / BigInt(d), `${n}/${d}`);
    assert.equal(BigInt(r >>> 0), n % BigInt(d));
  }
});
