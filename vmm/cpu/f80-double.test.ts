// The double shortcuts against the exact BigInt path: wherever a shortcut answers, the answer is the
// full path's, bit for bit, and the full path raised nothing and rounded nothing up; and the common
// cases (integers, short fractions) are answered.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { add, compare, div, Env, fromIeee, ieeeOperand, mul, precisionFormat, RC_DOWN, RC_NEAREST, RC_UP, RC_ZERO, toIeee, type F80 } from './softfloat80.ts';
import { exactArith, exactCompare, exactDouble, exactIeee, fromDouble, fromDoubleBits, fromSingleBits } from './f80-double.ts';
import { Xorshift32 } from './xorshift.ts';

const ALL_MASKED = 0x3f;

/** Doubles of the shapes programs compute with, and some that no shortcut may take. */
function values(r: Xorshift32): number[] {
  const out = [0, -0, 1, -1, 2, Number.MAX_VALUE, -Number.MAX_VALUE, 2 ** -1022, 2 ** 1023 * 1.5, 3, 10, 0.5, 0.1, 1 / 3, 150000, 1e15, 2 ** 53, 2 ** 53 + 2, 2 ** 400, 2 ** -400, 2 ** 401, 2 ** -401, 1e300, 1e-300, Math.PI];
  for (let k = 0; k < 60; k++) {
    const kind = r.below(4);
    if (kind === 0) out.push(r.below(1 << 20) - (1 << 19));
    else if (kind === 1) out.push((r.below(1 << 16) + 1) / 2 ** r.below(20));
    else if (kind === 2) out.push((r.next() / 2 ** 32) * 2 ** (r.below(200) - 100));
    else out.push(-(r.next() * 2 ** 21 + r.below(1 << 21)) * 2 ** (r.below(60) - 30));
  }
  return out;
}

function full(op: number, x: F80, y: F80, rc: number, pc: number): { r: F80 | null; flags: number; c1: boolean } {
  const env = new Env(rc, ALL_MASKED);
  const fmt = precisionFormat(pc);
  const r = [
    () => add(env, x, y, fmt),
    () => mul(env, x, y, fmt),
    null,
    null,
    () => add(env, x, y, fmt, true),
    () => add(env, y, x, fmt, true),
    () => div(env, x, y, fmt),
    () => div(env, y, x, fmt),
  ][op]!();
  return { r, flags: env.flags, c1: env.c1 };
}

test('each double shortcut gives the exact path\'s result and flags wherever it answers, at every precision and rounding', () => {
  const r = new Xorshift32(0x5eed0f80);
  const vs = values(r);
  let answered = 0;
  let cases = 0;
  for (const a of vs) {
    for (const b of vs) {
      const x = fromDouble(a);
      const y = fromDouble(b);
      for (const op of [0, 1, 4, 5, 6, 7]) {
        for (const pc of [0, 2, 3]) {
          const fast = exactArith(op, x, y, precisionFormat(pc).p);
          cases++;
          if (!fast) continue;
          answered++;
          for (const rc of [RC_NEAREST, RC_DOWN, RC_UP, RC_ZERO]) {
            const want = full(op, x, y, rc, pc);
            assert.deepEqual(fast, want.r, `op ${op} of ${a} and ${b}, pc ${pc}, rc ${rc}`);
            assert.equal(want.flags, 0, `op ${op} of ${a} and ${b}: the exact path raised ${want.flags}`);
            assert.equal(want.c1, false);
          }
        }
      }
      const c = exactCompare(x, y);
      if (c === c) assert.equal(c, compare(new Env(RC_NEAREST, ALL_MASKED), x, y, true));
    }
  }
  // Integers and short fractions are the common case: most pairs above are taken.
  assert.ok(answered > cases / 4, `${answered} of ${cases} answered`);
});

test('the shortcuts answer what a C program counting in doubles computes, and decline the rest', () => {
  const p = precisionFormat(3).p;
  const f = fromDouble;
  assert.deepEqual(exactArith(0, f(149999), f(1), p), f(150000));
  assert.deepEqual(exactArith(1, f(15000), f(10), p), f(150000));
  assert.deepEqual(exactArith(6, f(150000), f(10), p), f(15000));
  assert.deepEqual(exactArith(4, f(0.75), f(0.5), p), f(0.25));
  // Inexact (1/3), a zero result (its sign follows the rounding), beyond double precision: declined.
  assert.equal(exactArith(6, f(1), f(3), p), null);
  assert.equal(exactArith(4, f(5), f(5), p), null);
  assert.equal(exactArith(0, f(2 ** 53), f(1), p), null);
  // Exact in doubles but not at single precision (24 bits).
  assert.equal(exactArith(0, f(2 ** 24), f(1), precisionFormat(0).p), null);
  // A zero operand: the product's sign is the operands'; a division by zero raises #Z (declined).
  assert.deepEqual(exactArith(1, f(-3), f(0), p), f(-0));
  assert.equal(exactArith(6, f(3), f(0), p), null);
  assert.deepEqual(exactArith(7, f(3), f(0), p), f(0));
  assert.equal(exactCompare(f(0), f(-0)), 0);
  // Operands the shortcut does not know: denormal, infinity, NaN, a significand beyond 53 bits.
  const zero: F80 = { sign: 0, exp: 0, sig: 0n };
  const inf: F80 = { sign: 0, exp: 0x7fff, sig: 1n << 63n };
  const nan: F80 = { sign: 0, exp: 0x7fff, sig: 3n << 62n };
  const denormal: F80 = { sign: 0, exp: 0, sig: 1n << 40n };
  const wide: F80 = { sign: 0, exp: 16383, sig: (1n << 63n) | 1n };
  assert.equal(exactDouble(zero), 0);
  for (const v of [inf, nan, denormal, wide]) assert.ok(Number.isNaN(exactDouble(v)));
  assert.equal(exactCompare(f(1), nan), NaN);
  assert.equal(exactCompare(f(-2), f(1)), -1);
  // Compares and stores take any double (seq compares with DBL_MAX); arithmetic only EXP_LIMIT's.
  assert.equal(exactCompare(f(150000), f(Number.MAX_VALUE)), -1);
  assert.equal(exactIeee(f(Number.MAX_VALUE), 64), Number.MAX_VALUE);
  assert.equal(exactArith(0, f(Number.MAX_VALUE), f(1), p), null);
});

test('loads and stores of single and double reals take the shortcut only where the value is a normal one, and agree with the exact path', () => {
  const r = new Xorshift32(0x57023e);
  const view = new DataView(new ArrayBuffer(8));
  for (const v of [...values(r), 5e-324, 1e-310, 1e-40, 3e38, 4e38, Infinity, NaN]) {
    // Stores: the host's bits of the value, where a real of that size holds it exactly.
    if (v === 0 || (v === v && Math.abs(v) !== Infinity && Math.abs(v) >= 2 ** -1022)) {
      const x = fromDouble(v);
      for (const k of [32, 64] as const) {
        const fast = exactIeee(x, k);
        if (fast !== fast) continue;
        if (k === 32) view.setFloat32(0, fast);
        else view.setFloat64(0, fast);
        const env = new Env(RC_NEAREST, ALL_MASKED);
        assert.equal(k === 32 ? BigInt(view.getUint32(0)) : view.getBigUint64(0), toIeee(env, x, k), `${v} to a ${k}-bit real`);
        assert.equal(env.flags, 0);
      }
    }
    // Loads: the F80 of a normal real; denormals, infinities and NaNs are left to the exact path.
    view.setFloat64(0, v);
    const hi = view.getUint32(0);
    const lo = view.getUint32(4);
    const d = fromDoubleBits(hi, lo);
    const env = new Env(RC_NEAREST, ALL_MASKED);
    const want = fromIeee(env, view.getBigUint64(0), 64);
    if (d) assert.deepEqual(d, want, `${v} loaded`);
    assert.equal(d !== null, v === 0 || (v === v && Math.abs(v) !== Infinity && Math.abs(v) >= 2 ** -1022), `${v} taken or not`);
    if (d) assert.deepEqual(d, ieeeOperand(view.getBigUint64(0), 64).v);
    view.setFloat32(0, v);
    const single = view.getUint32(0);
    const s = fromSingleBits(single);
    const f = Math.fround(v);
    assert.equal(s !== null, f === 0 || (f === f && Math.abs(f) !== Infinity && Math.abs(f) >= 2 ** -126), `${v} as a single taken or not`);
    if (s) assert.deepEqual(s, fromIeee(new Env(RC_NEAREST, ALL_MASKED), BigInt(single), 32));
  }
  assert.equal(exactIeee(fromDouble(0.1), 64), 0.1);
  assert.ok(Number.isNaN(exactIeee(fromDouble(0.1), 32)));
  assert.equal(exactIeee(fromDouble(1.5), 32), 1.5);
});
