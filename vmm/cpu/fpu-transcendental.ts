// Transcendental kernels for the x87 (FSIN, FCOS, FSINCOS, FPTAN, FPATAN, F2XM1, FYL2X, FYL2XP1)
// and the constants of FLDPI/FLDL2E/FLDL2T/FLDLG2/FLDLN2.
//
// Values are carried as binary floats with a BigInt significand of about 200 bits, far beyond the
// 64 bits of the result, so the final single rounding in softfloat80 is almost always the correctly
// rounded one. The hardware is within about 1 ulp of that.
//
// Argument reduction for FSIN/FCOS/FSINCOS/FPTAN follows the hardware, which reduces with a 66-bit
// approximation of pi (SDM vol. 1 §8.3.10): results near multiples of pi/2 carry the same error the
// real processor shows, instead of being "too good".

import { bitLength, type Exact } from './softfloat80.ts';

const PREC = 200;
// Significands are kept with some bits beyond PREC so that a series' remainder, folded in as one
// bit below PREC (see `settle`), survives: when the sum is exactly representable in 64 bits (sin x
// for tiny x, say) that bit gives the rounding its direction.
const STORE = PREC + 16;

/** A binary float: m * 2^e, m a signed BigInt (0 allowed). */
interface BF {
  m: bigint;
  e: number;
}

function norm(m: bigint, e: number): BF {
  if (m === 0n) return { m: 0n, e: 0 };
  const n = bitLength(m < 0n ? -m : m);
  if (n > STORE) {
    const s = n - STORE;
    return { m: m >> BigInt(s), e: e + s };
  }
  return { m, e };
}

function bf(x: Exact): BF {
  return norm(x.sign ? -x.m : x.m, x.e);
}

function top(a: BF): number {
  return a.e + bitLength(a.m < 0n ? -a.m : a.m) - 1;
}

function bmul(a: BF, b: BF): BF {
  return norm(a.m * b.m, a.e + b.e);
}

function badd(a: BF, b: BF): BF {
  if (a.m === 0n) return b;
  if (b.m === 0n) return a;
  if (top(a) - top(b) > STORE + 8) return a;
  if (top(b) - top(a) > STORE + 8) return b;
  const e = Math.min(a.e, b.e);
  return norm((a.m << BigInt(a.e - e)) + (b.m << BigInt(b.e - e)), e);
}

function bneg(a: BF): BF {
  return { m: -a.m, e: a.e };
}

function bsub(a: BF, b: BF): BF {
  return badd(a, bneg(b));
}

function bdiv(a: BF, b: BF): BF {
  const bl = bitLength(b.m < 0n ? -b.m : b.m);
  const k = STORE + bl + 2;
  return norm((a.m << BigInt(k)) / b.m, a.e - b.e - k);
}

function bsqrt(a: BF): BF {
  let { m, e } = a;
  let k = 2 * STORE + 4 - bitLength(m);
  if ((e - k) & 1) k++;
  m <<= BigInt(k);
  e -= k;
  let x = 1n << BigInt(Math.ceil(bitLength(m) / 2));
  for (;;) {
    const y = (x + m / x) >> 1n;
    if (y >= x) break;
    x = y;
  }
  return norm(x, e / 2);
}

function bint(v: number | bigint): BF {
  return norm(BigInt(v), 0);
}

/** The sum of a series whose first omitted term is `rest`: one low bit of that term's sign. */
function settle(sum: BF, rest: BF): BF {
  if (rest.m === 0n || sum.m === 0n) return sum;
  return badd(sum, { m: rest.m < 0n ? -1n : 1n, e: top(sum) - PREC - 4 });
}

/** Negligible relative to a result near `ref`: stop summing a series. */
function negligible(term: BF, ref: BF): boolean {
  return term.m === 0n || top(term) < top(ref) - PREC - 4;
}

// ---- Constants ------------------------------------------------------------------------------------

/** atanh(1/k) for an integer k > 1, by its series. */
function atanhInv(k: number): BF {
  const k2 = bint(k * k);
  let term = bdiv(bint(1), bint(k));
  let sum = term;
  for (let n = 3; ; n += 2) {
    term = bdiv(term, k2);
    const t = bdiv(term, bint(n));
    if (negligible(t, sum)) break;
    sum = badd(sum, t);
  }
  return sum;
}

function atanInv(k: number): BF {
  const k2 = bint(k * k);
  let term = bdiv(bint(1), bint(k));
  let sum = term;
  for (let n = 3, s = -1; ; n += 2, s = -s) {
    term = bdiv(term, k2);
    const t = bdiv(term, bint(n));
    if (negligible(t, sum)) break;
    sum = s < 0 ? bsub(sum, t) : badd(sum, t);
  }
  return sum;
}

const LN2 = bmul(bint(2), atanhInv(3));
// ln 10 = 3 ln 2 + ln(5/4), ln(5/4) = 2 atanh(1/9)
const LN10 = badd(bmul(bint(3), LN2), bmul(bint(2), atanhInv(9)));
// Machin: pi = 16 atan(1/5) - 4 atan(1/239)
const PI = bsub(bmul(bint(16), atanInv(5)), bmul(bint(4), atanInv(239)));
const HALF_PI = { m: PI.m, e: PI.e - 1 };

function toExact(a: BF): Exact {
  return a.m < 0n ? { sign: 1, m: -a.m, e: a.e } : { sign: 0, m: a.m, e: a.e };
}

/** The constants FLDPI, FLDL2E, FLDL2T, FLDLG2, FLDLN2 load, to be rounded per RC. */
export const CONSTANTS = {
  pi: toExact(PI),
  l2e: toExact(bdiv(bint(1), LN2)),
  l2t: toExact(bdiv(LN10, LN2)),
  lg2: toExact(bdiv(LN2, LN10)),
  ln2: toExact(LN2),
};

// ---- Kernels --------------------------------------------------------------------------------------

/** sin and cos of |r| <= ~pi/4 by their Taylor series. */
function sinCosSmall(r: BF): { s: BF; c: BF } {
  const r2 = bmul(r, r);
  let term = r;
  let s = r;
  for (let k = 1; ; k++) {
    term = bneg(bdiv(bmul(term, r2), bint((2 * k) * (2 * k + 1))));
    if (negligible(term, s)) {
      s = settle(s, term);
      break;
    }
    s = badd(s, term);
  }
  let cterm = bint(1);
  let c = cterm;
  for (let k = 1; ; k++) {
    cterm = bneg(bdiv(bmul(cterm, r2), bint((2 * k - 1) * (2 * k))));
    if (negligible(cterm, c)) {
      c = settle(c, cterm);
      break;
    }
    c = badd(c, cterm);
  }
  return { s, c };
}

// pi * 2^64 to 66 significant bits: the processor's internal reduction constant.
const PI66 = 0x3243f6a8885a308d3n;

/**
 * sin and cos of x (|x| < 2^63), reduced as the hardware does: x - n * (pi66 / 2), n the nearest
 * integer to x / (pi / 2), computed exactly.
 */
export function sinCos(x: Exact): { sin: Exact; cos: Exact } {
  // x = m 2^e; pi66/2 = PI66 2^-65. Work in units of 2^lo.
  const lo = Math.min(x.e, -65);
  const xm = (x.sign ? -x.m : x.m) << BigInt(x.e - lo);
  const hp = PI66 << BigInt(-65 - lo);
  let n = 0n;
  // |x| < pi/4: no reduction at all.
  if (2n * (xm < 0n ? -xm : xm) >= hp) {
    n = (2n * xm + (xm < 0n ? -hp : hp)) / (2n * hp); // nearest, ties away (never exact)
  }
  const r = norm(xm - n * hp, lo);
  const { s, c } = r.m === 0n ? { s: bint(0), c: bint(1) } : sinCosSmall(r);
  const q = Number(((n % 4n) + 4n) % 4n);
  const sin = q === 0 ? s : q === 1 ? c : q === 2 ? bneg(s) : bneg(c);
  const cos = q === 0 ? c : q === 1 ? bneg(s) : q === 2 ? bneg(c) : s;
  return { sin: toExact(sin), cos: toExact(cos) };
}

export function tan(x: Exact): Exact {
  const bx = bf(x);
  if (top(bx) < -40) {
    // tan x = x + x^3/3 + 2x^5/15 + ...; the quotient sin/cos would cancel the remainders' bits.
    const x3 = bdiv(bmul(bmul(bx, bx), bx), bint(3));
    return toExact(negligible(x3, bx) ? settle(bx, x3) : badd(bx, x3));
  }
  const { sin, cos } = sinCos(x);
  return toExact(bdiv(bf(sin), bf(cos)));
}

/** atan(t) for 0 < t <= 1. */
function atanUnit(t: BF): BF {
  // Three halvings: atan(t) = 2 atan(t / (1 + sqrt(1 + t^2))), down to t <= tan(pi/32).
  const one = bint(1);
  for (let i = 0; i < 3; i++) t = bdiv(t, badd(one, bsqrt(badd(one, bmul(t, t)))));
  const t2 = bmul(t, t);
  let pow = t;
  let sum = t;
  for (let n = 3, s = -1; ; n += 2, s = -s) {
    pow = bmul(pow, t2);
    const term = bdiv(pow, bint(n));
    if (negligible(term, sum)) {
      sum = settle(sum, s < 0 ? bneg(term) : term);
      break;
    }
    sum = s < 0 ? bsub(sum, term) : badd(sum, term);
  }
  return { m: sum.m, e: sum.e + 3 };
}

/** atan2(y, x) for finite nonzero y and x (FPATAN: ST(1) = y, ST(0) = x). */
export function atan2(y: Exact, x: Exact): Exact {
  const ay = bf({ sign: 0, m: y.m, e: y.e });
  const ax = bf({ sign: 0, m: x.m, e: x.e });
  const yLeX = top(ay) < top(ax) || (top(ay) === top(ax) && compareMag(ay, ax) <= 0);
  let a = yLeX ? atanUnit(bdiv(ay, ax)) : bsub(HALF_PI, atanUnit(bdiv(ax, ay)));
  if (x.sign) a = bsub(PI, a);
  return toExact(y.sign ? bneg(a) : a);
}

function compareMag(a: BF, b: BF): number {
  const e = Math.min(a.e, b.e);
  const ma = a.m << BigInt(a.e - e);
  const mb = b.m << BigInt(b.e - e);
  return ma < mb ? -1 : ma > mb ? 1 : 0;
}

/** atan2 of the special cases that are exact multiples of pi/4: k * pi / 4. */
export function piQuarters(k: number, sign: number): Exact {
  const v = bmul(PI, bint(k));
  return toExact(sign ? bneg({ m: v.m, e: v.e - 2 }) : { m: v.m, e: v.e - 2 });
}

/** 2^x - 1 for finite nonzero x with |x| <= 1. */
export function exp2m1(x: Exact): Exact {
  const y = bmul(bf(x), LN2);
  let term = y;
  let sum = y;
  for (let k = 2; ; k++) {
    term = bdiv(bmul(term, y), bint(k));
    if (negligible(term, sum)) {
      sum = settle(sum, term);
      break;
    }
    sum = badd(sum, term);
  }
  return toExact(sum);
}

/** ln(f) for f around 1, by ln f = 2 atanh((f - 1) / (f + 1)). */
function lnNear1(zNum: BF, zDen: BF): BF {
  const z = bdiv(zNum, zDen);
  if (z.m === 0n) return z;
  const z2 = bmul(z, z);
  let pow = z;
  let sum = z;
  for (let n = 3; ; n += 2) {
    pow = bmul(pow, z2);
    const term = bdiv(pow, bint(n));
    if (negligible(term, sum)) {
      sum = settle(sum, term);
      break;
    }
    sum = badd(sum, term);
  }
  return { m: sum.m, e: sum.e + 1 };
}

/** log2(x) for a finite positive x that is not a power of two. */
export function log2(x: Exact): Exact {
  let k = x.e + bitLength(x.m) - 1;
  let f = norm(x.m, x.e - k); // [1, 2)
  // Keep f within [sqrt(1/2), sqrt(2)) so that k and ln(f) never cancel.
  if (bmul(f, f).m !== 0n && top(bmul(f, f)) >= 1) {
    f = { m: f.m, e: f.e - 1 };
    k += 1;
  }
  const one = bint(1);
  const lnf = lnNear1(bsub(f, one), badd(f, one));
  return toExact(badd(bint(k), bdiv(lnf, LN2)));
}

/** log2(1 + x) for finite nonzero x with |x| < 1. */
export function log2p1(x: Exact): Exact {
  const bx = bf(x);
  const lnv = lnNear1(bx, badd(bint(2), bx));
  return toExact(bdiv(lnv, LN2));
}

export function mulExact(a: Exact, b: Exact): Exact {
  return { sign: a.sign ^ b.sign, m: a.m * b.m, e: a.e + b.e };
}
