import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Xorshift32 } from './xorshift.ts';
import {
  add,
  bitLength,
  compare,
  div,
  DE,
  Env,
  EXT64,
  EXT53,
  type F80,
  fromBcd,
  fromIeee,
  IE,
  mul,
  OE,
  PE,
  RC_DOWN,
  RC_NEAREST,
  RC_UP,
  RC_ZERO,
  sqrt,
  toBcd,
  toIeee,
  toInt,
  UE,
} from './softfloat80.ts';

const J = 1n << 63n;
const f = (se: number, sig: bigint): F80 => ({ sign: se >> 15, exp: se & 0x7fff, sig });
const hex = (a: F80 | null): string =>
  a ? `${((a.sign << 15) | a.exp).toString(16).padStart(4, '0')}:${a.sig.toString(16).padStart(16, '0')}` : 'null';
const env = (rc = RC_NEAREST, masks = 0x3f): Env => new Env(rc, masks);
const ONE = f(0x3fff, J);
const THREE = f(0x4000, 0xc000000000000000n);
const MIN_NORMAL = f(0x0001, J);

test('a half-ulp addend rounds to even, or up when rounding up', () => {
  const tiny = f(0x3fff - 64, J);
  let e = env();
  assert.equal(hex(add(e, ONE, tiny, EXT64)), '3fff:8000000000000000');
  assert.equal(e.flags, PE);
  assert.equal(e.c1, false);
  e = env(RC_UP);
  assert.equal(hex(add(e, ONE, tiny, EXT64)), '3fff:8000000000000001');
  assert.equal(e.c1, true);
});

test('exact cancellation gives +0, or -0 rounding down', () => {
  assert.equal(hex(add(env(), THREE, THREE, EXT64, true)), '0000:0000000000000000');
  assert.equal(hex(add(env(RC_DOWN), THREE, THREE, EXT64, true)), '8000:0000000000000000');
});

test('masked overflow: infinity or the largest finite value by rounding mode', () => {
  const big = f(0x7ffe, 0xc000000000000000n);
  let e = env();
  assert.equal(hex(mul(e, big, big, EXT64)), '7fff:8000000000000000');
  assert.equal(e.flags, OE | PE);
  e = env(RC_ZERO);
  assert.equal(hex(mul(e, big, big, EXT53)), '7ffe:fffffffffffff800');
});

test('unmasked overflow into a register wraps the exponent by 24576', () => {
  const big = f(0x7ffe, J);
  const e = env(RC_NEAREST, 0x3f & ~OE);
  assert.equal(hex(mul(e, big, f(0x4000, J), EXT64)), (0x7fff - 24576).toString(16).padStart(4, '0') + ':8000000000000000');
  assert.equal(e.flags, OE);
});

test('underflow is reported for tiny inexact results only while masked', () => {
  let e = env();
  assert.equal(hex(div(e, MIN_NORMAL, f(0x4000, J), EXT64)), '0000:4000000000000000');
  assert.equal(e.flags, 0, 'exact denormal: no #U');
  e = env();
  assert.equal(hex(div(e, f(0x0001, 0xc000000000000001n), f(0x4001, J), EXT64)), '0000:3000000000000000');
  assert.equal(e.flags, UE | PE);
  e = env(RC_NEAREST, 0x3f & ~UE);
  div(e, MIN_NORMAL, f(0x4000, J), EXT64);
  assert.equal(e.flags, UE, 'unmasked: exact tiny results underflow too');
});

test('denormal operands raise #D; unsupported encodings and 0/0 are invalid', () => {
  let e = env();
  add(e, f(0x0000, 1n), ONE, EXT64);
  assert.equal(e.flags & DE, DE);
  e = env();
  assert.equal(hex(add(e, f(0x3fff, 0x4000000000000000n), ONE, EXT64)), 'ffff:c000000000000000');
  assert.equal(e.flags, IE);
  e = env();
  assert.equal(hex(div(e, f(0, 0n), f(0x8000, 0n), EXT64)), 'ffff:c000000000000000');
  e = env();
  assert.equal(hex(sqrt(e, f(0xbfff, J), EXT64)), 'ffff:c000000000000000');
  assert.equal(e.flags, IE);
});

test('NaN operands: a QNaN wins over an SNaN, else the larger significand', () => {
  const q = f(0x7fff, 0xc000000000000001n);
  const s = f(0xffff, 0xb000000000000000n);
  let e = env();
  assert.equal(hex(add(e, s, q, EXT64)), hex(q));
  assert.equal(e.flags, IE);
  e = env();
  assert.equal(hex(mul(e, f(0x7fff, 0xc000000000000002n), q, EXT64)), '7fff:c000000000000002');
  assert.equal(e.flags, 0);
});

test('single and double stores and loads', () => {
  const third = div(env(), ONE, THREE, EXT64)!;
  assert.equal(toIeee(env(), third, 32), 0x3eaaaaabn);
  assert.equal(toIeee(env(), third, 64), 0x3fd5555555555555n);
  assert.equal(toIeee(env(RC_UP), third, 64), 0x3fd5555555555556n);
  const e = env();
  assert.equal(hex(fromIeee(e, 0x7f800001n, 32)), '7fff:c000010000000000');
  assert.equal(e.flags, IE);
  const d = env();
  assert.equal(hex(fromIeee(d, 1n, 64)), (0x3fff - 1074).toString(16) + ':8000000000000000');
  assert.equal(d.flags, DE);
  // largest double rounding up overflows to infinity in the double format
  const e2 = env(RC_UP);
  assert.equal(toIeee(e2, f(0x43fe, 0xfffffffffffff801n), 64), 0x7ff0000000000000n);
  assert.equal(e2.flags, OE | PE);
});

test('integer stores round per RC and give the indefinite out of range', () => {
  const twoAndHalf = f(0x4000, 0xa000000000000000n);
  assert.equal(toInt(env(), twoAndHalf, 16), 2n);
  assert.equal(toInt(env(RC_UP), twoAndHalf, 16), 3n);
  assert.equal(toInt(env(), f(0xc000, 0xe000000000000000n), 32), -4n);
  const e = env();
  assert.equal(toInt(e, f(0x3fff + 15, J), 16), -32768n);
  assert.equal(e.flags, IE);
  assert.equal(toInt(env(), f(0xbfff + 15, J), 16), -32768n, '-2^15 fits');
});

test('packed BCD', () => {
  const b = Uint8Array.of(0x21, 0x43, 0, 0, 0, 0, 0, 0, 0x99, 0x80);
  const v = fromBcd(b);
  assert.equal(v.sign, 1);
  assert.deepEqual([...toBcd(env(), v)!], [...b]);
  const e = env();
  assert.deepEqual([...toBcd(e, f(0x3fff + 60, J))!], [0, 0, 0, 0, 0, 0, 0, 0xc0, 0xff, 0xff]);
  assert.equal(e.flags, IE);
});

test('comparisons ignore the sign of zero and order pseudo-denormals with their value', () => {
  assert.equal(compare(env(), f(0x8000, 0n), f(0, 0n), false), 0);
  assert.equal(compare(env(), f(0x0000, J), MIN_NORMAL, false), 0);
  assert.equal(compare(env(), f(0xbfff, J), ONE, false), -1);
  const e = env();
  assert.equal(compare(e, f(0x7fff, 0xc000000000000000n), ONE, false), 2);
  assert.equal(e.flags, 0, 'FUCOM: no #IA for a QNaN');
});

test('bitLength is exact at every power of two and either side of it, where a double rounds up', () => {
  for (let k = 0; k < 1100; k++) {
    const p = 1n << BigInt(k);
    assert.equal(bitLength(p), k + 1, `2^${k}`);
    if (k > 0) assert.equal(bitLength(p - 1n), k, `2^${k} - 1`);
    assert.equal(bitLength(p + 1n), k === 0 ? 2 : k + 1, `2^${k} + 1`);
  }
  const r = new Xorshift32(0x5eed);
  for (let k = 0; k < 2000; k++) {
    let m = 1n;
    for (let w = 0; w < 1 + (k % 9); w++) m = (m << 32n) | BigInt(r.next() >>> 0);
    m >>= BigInt(r.below(32));
    assert.equal(bitLength(m), m.toString(2).length, m.toString(16));
  }
});
