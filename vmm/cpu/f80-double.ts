// The x87's common case in host doubles: operands that are doubles exactly, and a result that is one
// too. A C program's double arithmetic on integers and short binary fractions (busybox seq's
// counting, printf's digit loop) is nearly all such, and the exact BigInt path of softfloat80.ts cost
// about a microsecond an operation. Each shortcut here either gives the very value and flags that
// path would give (an exact result raises nothing and rounds nothing up) or declines (NaN or null),
// and the caller takes the full path.
//
// Why exactness can be tested in doubles: the error of a double sum (Knuth's TwoSum) and of a double
// product (Dekker's TwoProduct, with Veltkamp's split) are themselves doubles, computed exactly,
// provided nothing overflows or underflows; EXP_LIMIT keeps every intermediate well inside the
// normal range (products of two operands, and their 27-bit halves, stay above 2^-1000).
import type { F80 } from './softfloat80.ts';

const BIAS = 16383;
const J = 1n << 63n;
/** Operands with a larger unbiased exponent (in magnitude) go the full way. */
const EXP_LIMIT = 400;
const SPLIT = 134217729; // 2^27 + 1
const view = new DataView(new ArrayBuffer(8));

/** 2^k for -1022 <= k <= 1023. */
function pow2(k: number): number {
  view.setUint32(0, (k + 1023) << 20);
  view.setUint32(4, 0);
  return view.getFloat64(0);
}

/**
 * The value of `a` when it is a double exactly: a zero, or normal (J set) with its significand's low
 * 11 bits clear and its exponent within EXP_LIMIT (arithmetic's operands). Otherwise NaN (denormals,
 * infinities, NaNs and unsupported encodings included, whose exponents lie outside).
 */
export function exactDouble(a: F80): number {
  return doubleWithin(a, EXP_LIMIT, EXP_LIMIT);
}

/** As exactDouble, over the whole normal range of doubles (compares and stores do no arithmetic). */
function heldDouble(a: F80): number {
  return doubleWithin(a, 1022, 1023);
}

function doubleWithin(a: F80, below: number, above: number): number {
  const e = a.exp - BIAS;
  if (e < -below || e > above || a.sig < J || (a.sig & 0x7ffn) !== 0n) {
    if (a.exp === 0 && a.sig === 0n) return a.sign ? -0 : 0;
    return NaN;
  }
  const m = Number(a.sig) * 2 ** -63 * pow2(e);
  return a.sign ? -m : m;
}

/** The F80 of a zero or a normal double (exact: the register format is wider). */
export function fromDouble(x: number): F80 {
  if (x === 0) return { sign: Object.is(x, -0) ? 1 : 0, exp: 0, sig: 0n };
  view.setFloat64(0, x);
  return fromDoubleBits(view.getUint32(0), view.getUint32(4))!;
}

/**
 * The F80 of the double real with these high and low dwords when it is a zero or normal (what FLD
 * m64 and the m64 operands load); else null, for softfloat80.ts's fromIeee and ieeeOperand to take.
 */
export function fromDoubleBits(hi: number, lo: number): F80 | null {
  const e = (hi >>> 20) & 0x7ff;
  if (e === 0 && (hi & 0xfffff) === 0 && lo === 0) return { sign: hi >>> 31, exp: 0, sig: 0n };
  if (e === 0 || e === 0x7ff) return null;
  const sig = (BigInt((hi & 0xfffff) | 0x100000) << 43n) | (BigInt(lo >>> 0) << 11n);
  return { sign: hi >>> 31, exp: e - 1023 + BIAS, sig };
}

/** The F80 of a zero or normal single real (FLD m32, the m32 operands); else null. */
export function fromSingleBits(bits: number): F80 | null {
  const e = (bits >>> 23) & 0xff;
  if ((bits & 0x7fffffff) === 0) return { sign: bits >>> 31, exp: 0, sig: 0n };
  if (e === 0 || e === 0xff) return null;
  return { sign: bits >>> 31, exp: e - 127 + BIAS, sig: BigInt((bits & 0x7fffff) | 0x800000) << 40n };
}

/** a*b - p, exactly, for p the double product of a and b. */
function productError(a: number, b: number, p: number): number {
  let t = SPLIT * a;
  const ah = t - (t - a);
  const al = a - ah;
  t = SPLIT * b;
  const bh = t - (t - b);
  const bl = b - bh;
  return ah * bh - p + ah * bl + al * bh + al * bl;
}

/** Whether a double result fits the precision `p` (64, 53 or 24 significant bits). */
function fits(r: number, p: number): boolean {
  return p >= 53 || Math.fround(r) === r;
}

/**
 * x + y (x - y when `subtract`) when x, y and the sum are exact doubles and the sum is not zero (a
 * zero sum's sign depends on the rounding control); else null.
 */
function exactSum(a: F80, b: F80, subtract: boolean, p: number): F80 | null {
  const x = exactDouble(a);
  const y = subtract ? -exactDouble(b) : exactDouble(b);
  const s = x + y;
  if (s !== s || s === 0) return null;
  const yy = s - x;
  if (x - (s - yy) + (y - yy) !== 0 || !fits(s, p)) return null;
  return fromDouble(s);
}

/** a * b when both and the product are exact doubles (a zero operand gives the zero of the signs); else null. */
function exactProduct(a: F80, b: F80, p: number): F80 | null {
  const x = exactDouble(a);
  const y = exactDouble(b);
  const r = x * y;
  if (r !== r || productError(x, y, r) !== 0 || !fits(r, p)) return null;
  return fromDouble(r);
}

/** a / b when both and the quotient are exact doubles and b is not zero (#Z); else null. */
function exactQuotient(a: F80, b: F80, p: number): F80 | null {
  const x = exactDouble(a);
  const y = exactDouble(b);
  const q = x / y;
  if (q !== q || y === 0) return null;
  // q is the quotient exactly when q * y gives x back with no error.
  const back = q * y;
  if (back !== x || productError(q, y, back) !== 0 || !fits(q, p)) return null;
  return fromDouble(q);
}

/** -1, 0 or 1 when both are doubles exactly (no flag can arise; the zeros are equal); else NaN. */
export function exactCompare(a: F80, b: F80): number {
  const x = heldDouble(a);
  const y = heldDouble(b);
  if (x !== x || y !== y) return NaN;
  return x < y ? -1 : x > y ? 1 : 0;
}

/**
 * The x87 arithmetic operation `op` (the reg field of D8/DC: 0 add, 1 mul, 4 x-y, 5 y-x, 6 x/y, 7
 * y/x) at precision `p`, when exact in doubles; else null.
 */
export function exactArith(op: number, x: F80, y: F80, p: number): F80 | null {
  switch (op) {
    case 0:
      return exactSum(x, y, false, p);
    case 1:
      return exactProduct(x, y, p);
    case 4:
      return exactSum(x, y, true, p);
    case 5:
      return exactSum(y, x, true, p);
    case 6:
      return exactQuotient(x, y, p);
    case 7:
      return exactQuotient(y, x, p);
    default:
      return null;
  }
}

/** The value of `a` when a single (k=32) or double (k=64) real holds it exactly, as a normal number; else NaN. */
export function exactIeee(a: F80, k: 32 | 64): number {
  const x = heldDouble(a);
  if (k === 32 && (Math.fround(x) !== x || (x !== 0 && Math.abs(x) < 2 ** -126))) return NaN;
  return x;
}
