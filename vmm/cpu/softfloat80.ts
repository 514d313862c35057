// Soft-float for the x87 double extended-precision format (Intel SDM vol. 1 §4.2.2, §4.8, §8.5):
// sign, 15-bit biased exponent, 64-bit significand with an explicit integer bit. Every operation is
// computed exactly (BigInt) and rounded once, so results match the hardware bit for bit.
//
// Operands the P6 treats specially (SDM vol. 1 §8.2.2, table 8-3):
// - denormal (exponent 0, J=0) and pseudo-denormal (exponent 0, J=1): usable values with the
//   exponent of 2^-16382; both raise #D as operands.
// - unnormal (exponent 1..7FFE, J=0), pseudo-NaN and pseudo-infinity (exponent 7FFF, J=0): not
//   supported since the 387; any arithmetic on them is an invalid operation.

export interface F80 {
  readonly sign: number; // 0 or 1
  readonly exp: number; // 0..0x7FFF
  readonly sig: bigint; // 64 bits, bit 63 is the integer bit J
}

/** Status word exception bits (and control word mask bits at the same positions). */
export const IE = 0x01;
export const DE = 0x02;
export const ZE = 0x04;
export const OE = 0x08;
export const UE = 0x10;
export const PE = 0x20;

export const enum Cls {
  Zero,
  Denormal, // includes pseudo-denormals
  Normal,
  Inf,
  QNaN,
  SNaN,
  Unsupported,
}

export const BIAS = 16383;
const MIN_NORMAL_EXP = -16382;
const J = 1n << 63n;
const SIG_MASK = (1n << 64n) - 1n;
const QUIET = 1n << 62n;

/** Rounding control values (control word bits 11:10). */
export const RC_NEAREST = 0;
export const RC_DOWN = 1;
export const RC_UP = 2;
export const RC_ZERO = 3;

export const INDEFINITE: F80 = { sign: 1, exp: 0x7fff, sig: 0xc000000000000000n };
export const ZERO: F80 = { sign: 0, exp: 0, sig: 0n };
export const ONE: F80 = { sign: 0, exp: BIAS, sig: J };

export function f80(sign: number, exp: number, sig: bigint): F80 {
  return { sign, exp, sig };
}

export function classify(a: F80): Cls {
  if (a.exp === 0x7fff) {
    if (!(a.sig & J)) return Cls.Unsupported;
    if ((a.sig & ~J) === 0n) return Cls.Inf;
    return a.sig & QUIET ? Cls.QNaN : Cls.SNaN;
  }
  if (a.exp === 0) return a.sig === 0n ? Cls.Zero : Cls.Denormal;
  return a.sig & J ? Cls.Normal : Cls.Unsupported;
}

export function isNaN80(c: Cls): boolean {
  return c === Cls.QNaN || c === Cls.SNaN;
}

export function infinity(sign: number): F80 {
  return { sign, exp: 0x7fff, sig: J };
}
export function zero(sign: number): F80 {
  return { sign, exp: 0, sig: 0n };
}
export function neg(a: F80): F80 {
  return { sign: a.sign ^ 1, exp: a.exp, sig: a.sig };
}
export function abs(a: F80): F80 {
  return { sign: 0, exp: a.exp, sig: a.sig };
}
export function quiet(a: F80): F80 {
  return { sign: a.sign, exp: a.exp, sig: a.sig | QUIET };
}

const f64 = new DataView(new ArrayBuffer(8));
/** 2^k as BigInts, for the check in bitLength. */
const POW2: bigint[] = Array.from({ length: 1024 }, (_, k) => 1n << BigInt(k));

/** The number of bits of m > 0. */
export function bitLength(m: bigint): number {
  // The double nearest m has m's top bit, or the one above it when rounding carried into it. (The
  // x87 paths call this several times per operation; a string conversion was a fifth of their time.)
  f64.setFloat64(0, Number(m));
  const e = ((f64.getUint32(0) >>> 20) & 0x7ff) - 1023;
  if (e < 1024) return m < POW2[e]! ? e : e + 1;
  const h = m.toString(16);
  return (h.length - 1) * 4 + (32 - Math.clz32(parseInt(h[0]!, 16)));
}

/** A finite nonzero value as (-1)^sign * m * 2^e, m > 0. */
export interface Exact {
  sign: number;
  m: bigint;
  e: number;
}

/** Value of a finite nonzero operand (normal, denormal or pseudo-denormal). */
export function unpack(a: F80): Exact {
  return { sign: a.sign, m: a.sig, e: Math.max(a.exp, 1) - BIAS - 63 };
}

/** Exponent of the leading bit of a finite nonzero value. */
export function topExp(x: Exact): number {
  return x.e + bitLength(x.m) - 1;
}

/**
 * The per-operation state: the rounding control, the exception masks and the flags raised so far.
 * `c1` records "rounded up" (SDM vol. 1 §8.1.3.1).
 */
export class Env {
  flags = 0;
  c1 = false;
  constructor(
    public rc: number,
    public masks: number,
  ) {}
  raise(bits: number): void {
    this.flags |= bits;
  }
  /** An unmasked invalid, zero-divide or denormal exception stops the operation before any result. */
  get mustAbort(): boolean {
    return (this.flags & ~this.masks & (IE | ZE | DE)) !== 0;
  }
}

/** A destination format for rounding: significand precision and normal exponent range. */
export interface Format {
  p: number;
  emin: number;
  emax: number;
  /** True for register destinations: unmasked #O/#U store a result with the exponent biased by 24576. */
  reg: boolean;
}
export const EXT64: Format = { p: 64, emin: MIN_NORMAL_EXP, emax: 16383, reg: true };
export const EXT53: Format = { p: 53, emin: MIN_NORMAL_EXP, emax: 16383, reg: true };
export const EXT24: Format = { p: 24, emin: MIN_NORMAL_EXP, emax: 16383, reg: true };
export const DOUBLE: Format = { p: 53, emin: -1022, emax: 1023, reg: false };
export const SINGLE: Format = { p: 24, emin: -126, emax: 127, reg: false };

/** Precision control (control word bits 9:8): 00 single, 10 double, 11 extended; 01 is reserved
 *  and the P6 rounds to extended there as for 11. */
export function precisionFormat(pc: number): Format {
  return pc === 0 ? EXT24 : pc === 2 ? EXT53 : EXT64;
}

/** A rounded result: (-1)^sign * q * 2^qe, or an infinity; null when an unmasked exception leaves
 *  a memory destination unwritten. */
export interface Rounded {
  sign: number;
  inf: boolean;
  q: bigint;
  qe: number;
}

const WRAP = 24576;

/** Rounds m*2^e (plus a nonzero tail below m's last bit when `sticky`) to lsb weight 2^lsb. */
function roundAt(
  sign: number,
  m: bigint,
  e: number,
  sticky: boolean,
  lsb: number,
  rc: number,
): { q: bigint; inexact: boolean; up: boolean } {
  const shift = lsb - e;
  let q: bigint;
  let half: number; // -1 below half, 0 exactly half, 1 above half (of the discarded part)
  let inexact: boolean;
  if (shift <= 0) {
    q = m << BigInt(-shift);
    inexact = sticky;
    half = -1;
  } else {
    const s = BigInt(shift);
    q = m >> s;
    const rem = m & ((1n << s) - 1n);
    const h = 1n << (s - 1n);
    inexact = rem !== 0n || sticky;
    half = rem > h ? 1 : rem < h ? -1 : sticky ? 1 : 0;
  }
  let up = false;
  if (inexact) {
    switch (rc) {
      case RC_NEAREST:
        up = half > 0 || (half === 0 && (q & 1n) === 1n);
        break;
      case RC_DOWN:
        up = sign === 1;
        break;
      case RC_UP:
        up = sign === 0;
        break;
      default:
        up = false;
    }
  }
  if (up) q += 1n;
  return { q, inexact, up };
}

/**
 * Rounds an exact nonzero value to `fmt` under `env`, raising #O/#U/#P and setting C1 as the x87
 * does (SDM vol. 1 §4.9.1.4-6, §8.5.4-6): tininess after rounding with unbounded exponent; a masked
 * underflow is reported only when the result is also inexact; an unmasked overflow or underflow
 * into a register stores the result with its exponent wrapped by 24576.
 */
export function roundExact(env: Env, x: Exact, sticky: boolean, fmt: Format): Rounded | null {
  const { sign } = x;
  let { m, e } = x;
  const n = bitLength(m);
  const top = e + n - 1;
  // Rounded with unbounded exponent, to detect tininess and overflow.
  const free = roundAt(sign, m, e, sticky, top - fmt.p + 1, env.rc);
  let freeTop = top;
  if (bitLength(free.q) > fmt.p) freeTop++;
  const tiny = freeTop < fmt.emin;
  if (freeTop > fmt.emax) {
    env.raise(OE);
    if (!(env.masks & OE)) {
      if (!fmt.reg) return null;
      if (freeTop - WRAP > fmt.emax) {
        // Still out of range after wrapping (FSCALE): an infinity (SDM vol. 1 §8.5.4).
        env.raise(PE);
        env.c1 = true;
        return { sign, inf: true, q: 0n, qe: 0 };
      }
      // Rounding is position-relative, so the wrapped result rounds the same way.
      if (free.inexact) env.raise(PE);
      env.c1 = free.up;
      return normalizeRounded(sign, free.q, top - fmt.p + 1 - WRAP, fmt.p);
    }
    env.raise(PE);
    const toInf =
      env.rc === RC_NEAREST || (env.rc === RC_UP && sign === 0) || (env.rc === RC_DOWN && sign === 1);
    env.c1 = toInf;
    if (toInf) return { sign, inf: true, q: 0n, qe: 0 };
    return { sign, inf: false, q: (1n << BigInt(fmt.p)) - 1n, qe: fmt.emax - fmt.p + 1 };
  }
  if (tiny && !(env.masks & UE)) {
    env.raise(UE);
    if (!fmt.reg) return null;
    if (freeTop + WRAP < fmt.emin) {
      // Massive underflow (FSCALE): a signed zero (SDM vol. 1 §8.5.5).
      env.raise(PE);
      env.c1 = false;
      return { sign, inf: false, q: 0n, qe: 0 };
    }
    if (free.inexact) env.raise(PE);
    env.c1 = free.up;
    return normalizeRounded(sign, free.q, top - fmt.p + 1 + WRAP, fmt.p);
  }
  const lsb = Math.max(top, fmt.emin) - fmt.p + 1;
  const r = roundAt(sign, m, e, sticky, lsb, env.rc);
  if (r.inexact) {
    env.raise(PE);
    if (tiny) env.raise(UE);
  }
  env.c1 = r.up;
  m = r.q;
  e = lsb;
  return { sign, inf: false, q: m, qe: e };
}

function normalizeRounded(sign: number, q: bigint, qe: number, p: number): Rounded {
  if (bitLength(q) > p) return { sign, inf: false, q: q >> 1n, qe: qe + 1 };
  return { sign, inf: false, q, qe };
}

/** Packs a rounded value into the 80-bit format (denormal when below the normal range). */
export function packF80(r: Rounded): F80 {
  if (r.inf) return infinity(r.sign);
  if (r.q === 0n) return zero(r.sign);
  const n = bitLength(r.q);
  const top = r.qe + n - 1;
  if (top >= MIN_NORMAL_EXP) {
    if (top + BIAS >= 0x7fff) return infinity(r.sign); // beyond even a wrapped result (FSCALE)
    return { sign: r.sign, exp: top + BIAS, sig: (r.q << BigInt(64 - n)) & SIG_MASK };
  }
  const sh = r.qe - (MIN_NORMAL_EXP - 63);
  if (sh < 0) return zero(r.sign); // far below even a wrapped result (FSCALE)
  return { sign: r.sign, exp: 0, sig: r.q << BigInt(sh) };
}

/** Rounds an exact value to the register format; null never happens for register formats except
 *  when the caller passes a memory format. */
export function roundToF80(env: Env, x: Exact, sticky: boolean, fmt: Format = EXT64): F80 {
  return packF80(roundExact(env, x, sticky, fmt)!);
}

/** NaN result of a two-operand operation (SDM vol. 1 table 4-7): a QNaN wins over an SNaN, else
 *  the larger significand; equal significands give the positive one. */
export function propagateNaN(env: Env, a: F80, ca: Cls, b: F80, cb: Cls): F80 {
  if (ca === Cls.SNaN || cb === Cls.SNaN) env.raise(IE);
  const an = isNaN80(ca);
  const bn = isNaN80(cb);
  let r: F80;
  if (an && bn) {
    if (ca === Cls.QNaN && cb === Cls.SNaN) r = a;
    else if (ca === Cls.SNaN && cb === Cls.QNaN) r = b;
    else if (a.sig > b.sig) r = a;
    else if (b.sig > a.sig) r = b;
    else r = a.sign <= b.sign ? a : b;
  } else r = an ? a : b;
  return quiet(r);
}

/**
 * Common front of two-operand arithmetic: unsupported encodings and NaNs. Returns the result when
 * it is decided by them, else null. Also raises #D for denormal operands.
 */
function specials2(env: Env, a: F80, ca: Cls, b: F80, cb: Cls): F80 | null {
  if (ca === Cls.Unsupported || cb === Cls.Unsupported) {
    env.raise(IE);
    return INDEFINITE;
  }
  if (isNaN80(ca) || isNaN80(cb)) return propagateNaN(env, a, ca, b, cb);
  return null;
}

function denormCheck(env: Env, ...cs: Cls[]): void {
  for (const c of cs) if (c === Cls.Denormal) env.raise(DE);
}

/** Sum of two finite nonzero values, exact unless one is far below the other's last bit. */
function addExact(a: Exact, b: Exact): { x: Exact | null; sticky: boolean } {
  let ta = topExp(a);
  let tb = topExp(b);
  if (ta < tb) {
    [a, b] = [b, a];
    [ta, tb] = [tb, ta];
  }
  // A value that far below only decides the rounding direction; a small stand-in of the same sign
  // keeps the BigInt short.
  if (ta - tb > 160) b = { sign: b.sign, m: 1n, e: ta - 160 };
  const e = Math.min(a.e, b.e);
  const ma = a.m << BigInt(a.e - e);
  const mb = b.m << BigInt(b.e - e);
  const s = (a.sign ? -ma : ma) + (b.sign ? -mb : mb);
  if (s === 0n) return { x: null, sticky: false };
  return { x: { sign: s < 0n ? 1 : 0, m: s < 0n ? -s : s, e }, sticky: false };
}

export function add(env: Env, a: F80, b: F80, fmt: Format, subtract = false, bDen = false): F80 | null {
  const ca = classify(a);
  const cb = classify(b);
  // NaNs propagate with their own sign, so the subtrahend is negated only after this.
  const sp = specials2(env, a, ca, b, cb);
  if (sp) return env.mustAbort ? null : sp;
  if (subtract) b = neg(b);
  if (ca === Cls.Inf || cb === Cls.Inf) {
    if (ca === Cls.Inf && cb === Cls.Inf && a.sign !== b.sign) {
      env.raise(IE);
      return env.mustAbort ? null : INDEFINITE;
    }
    denormCheck(env, ca, cb); if (bDen) env.raise(DE);
    if (env.mustAbort) return null;
    return ca === Cls.Inf ? a : b;
  }
  denormCheck(env, ca, cb); if (bDen) env.raise(DE);
  if (env.mustAbort) return null;
  if (ca === Cls.Zero && cb === Cls.Zero) {
    if (a.sign === b.sign) return zero(a.sign);
    return zero(env.rc === RC_DOWN ? 1 : 0);
  }
  if (ca === Cls.Zero) return roundToF80(env, unpack(b), false, fmt);
  if (cb === Cls.Zero) return roundToF80(env, unpack(a), false, fmt);
  const { x } = addExact(unpack(a), unpack(b));
  if (!x) return zero(env.rc === RC_DOWN ? 1 : 0);
  return roundToF80(env, x, false, fmt);
}

export function mul(env: Env, a: F80, b: F80, fmt: Format, bDen = false): F80 | null {
  const ca = classify(a);
  const cb = classify(b);
  const sp = specials2(env, a, ca, b, cb);
  if (sp) return env.mustAbort ? null : sp;
  const sign = a.sign ^ b.sign;
  if (ca === Cls.Inf || cb === Cls.Inf) {
    if (ca === Cls.Zero || cb === Cls.Zero) {
      env.raise(IE);
      return env.mustAbort ? null : INDEFINITE;
    }
    denormCheck(env, ca, cb); if (bDen) env.raise(DE);
    return env.mustAbort ? null : infinity(sign);
  }
  denormCheck(env, ca, cb); if (bDen) env.raise(DE);
  if (env.mustAbort) return null;
  if (ca === Cls.Zero || cb === Cls.Zero) return zero(sign);
  const ua = unpack(a);
  const ub = unpack(b);
  return roundToF80(env, { sign, m: ua.m * ub.m, e: ua.e + ub.e }, false, fmt);
}

/** Exact quotient to at least 130 significant bits plus a sticky remainder. */
export function divExact(a: Exact, b: Exact): { x: Exact; sticky: boolean } {
  const k = 130 + bitLength(b.m) - bitLength(a.m);
  const num = k > 0 ? a.m << BigInt(k) : a.m;
  const kk = k > 0 ? k : 0;
  const q = num / b.m;
  const r = num % b.m;
  return { x: { sign: a.sign ^ b.sign, m: q, e: a.e - b.e - kk }, sticky: r !== 0n };
}

export function div(env: Env, a: F80, b: F80, fmt: Format, aDen = false, bDen = false): F80 | null {
  const ca = classify(a);
  const cb = classify(b);
  const sp = specials2(env, a, ca, b, cb);
  if (sp) return env.mustAbort ? null : sp;
  const sign = a.sign ^ b.sign;
  if (ca === Cls.Inf) {
    if (cb === Cls.Inf) {
      env.raise(IE);
      return env.mustAbort ? null : INDEFINITE;
    }
    denormCheck(env, cb); if (aDen || bDen) env.raise(DE);
    return env.mustAbort ? null : infinity(sign);
  }
  if (cb === Cls.Inf) {
    denormCheck(env, ca); if (aDen || bDen) env.raise(DE);
    return env.mustAbort ? null : zero(sign);
  }
  if (cb === Cls.Zero) {
    if (ca === Cls.Zero) {
      env.raise(IE);
      return env.mustAbort ? null : INDEFINITE;
    }
    // Zero divide outranks the denormal operand (SDM vol. 1 §8.7.1, exception priority).
    env.raise(ZE);
    return env.mustAbort ? null : infinity(sign);
  }
  denormCheck(env, ca, cb); if (aDen || bDen) env.raise(DE);
  if (env.mustAbort) return null;
  if (ca === Cls.Zero) return zero(sign);
  const { x, sticky } = divExact(unpack(a), unpack(b));
  return roundToF80(env, x, sticky, fmt);
}

export function isqrt(n: bigint): bigint {
  if (n < 2n) return n;
  let x = 1n << BigInt(Math.ceil(bitLength(n) / 2));
  for (;;) {
    const y = (x + n / x) >> 1n;
    if (y >= x) return x;
    x = y;
  }
}

/** Square root of a positive exact value to >= 130 bits plus sticky. */
export function sqrtExact(a: Exact): { x: Exact; sticky: boolean } {
  let { m, e } = a;
  let k = 264 - bitLength(m);
  if (k < 0) k = 0;
  if ((e - k) & 1) k++;
  m <<= BigInt(k);
  e -= k;
  const r = isqrt(m);
  return { x: { sign: 0, m: r, e: e / 2 }, sticky: r * r !== m };
}

export function sqrt(env: Env, a: F80, fmt: Format): F80 | null {
  const ca = classify(a);
  if (ca === Cls.Unsupported) {
    env.raise(IE);
    return env.mustAbort ? null : INDEFINITE;
  }
  if (isNaN80(ca)) {
    if (ca === Cls.SNaN) env.raise(IE);
    return env.mustAbort ? null : quiet(a);
  }
  if (ca === Cls.Zero) return a;
  if (a.sign) {
    env.raise(IE);
    return env.mustAbort ? null : INDEFINITE;
  }
  if (ca === Cls.Inf) return a;
  denormCheck(env, ca);
  if (env.mustAbort) return null;
  const { x, sticky } = sqrtExact(unpack(a));
  return roundToF80(env, x, sticky, fmt);
}

/** Compares two values: -1, 0, 1, or 2 for unordered. Raises #IA for SNaNs (any NaN when
 *  `signalQuiet`) and unsupported encodings, #D for denormals. */
export function compare(env: Env, a: F80, b: F80, signalQuiet: boolean, bDen = false): number {
  const ca = classify(a);
  const cb = classify(b);
  if (ca === Cls.Unsupported || cb === Cls.Unsupported) {
    env.raise(IE);
    return 2;
  }
  if (isNaN80(ca) || isNaN80(cb)) {
    if (signalQuiet || ca === Cls.SNaN || cb === Cls.SNaN) env.raise(IE);
    return 2;
  }
  denormCheck(env, ca, cb); if (bDen) env.raise(DE);
  return compareOrdered(a, ca, b, cb);
}

function compareOrdered(a: F80, ca: Cls, b: F80, cb: Cls): number {
  if (ca === Cls.Zero && cb === Cls.Zero) return 0;
  const va = magnitudeKey(a, ca);
  const vb = magnitudeKey(b, cb);
  const sa = ca === Cls.Zero ? 0 : a.sign ? -1 : 1;
  const sb = cb === Cls.Zero ? 0 : b.sign ? -1 : 1;
  if (sa !== sb) return sa < sb ? -1 : 1;
  if (va === vb) return 0;
  const less = va < vb;
  return (sa < 0 ? !less : less) ? -1 : 1;
}

/** A key ordering magnitudes, treating pseudo-denormals as exponent 1. */
function magnitudeKey(a: F80, c: Cls): bigint {
  if (c === Cls.Zero) return 0n;
  return (BigInt(Math.max(a.exp, 1)) << 64n) + a.sig;
}

/** Rounds a finite value to an integer per `rc`: the integer and whether it was inexact / rounded up. */
export function roundToInteger(x: Exact, rc: number): { v: bigint; inexact: boolean; up: boolean } {
  const r = roundAt(x.sign, x.m, x.e, false, 0, rc);
  return { v: x.sign ? -r.q : r.q, inexact: r.inexact, up: r.up };
}

export function fromBigInt(v: bigint): F80 {
  if (v === 0n) return ZERO;
  const sign = v < 0n ? 1 : 0;
  const m = sign ? -v : v;
  const n = bitLength(m);
  return { sign, exp: n - 1 + BIAS, sig: m << BigInt(64 - n) };
}

/** Converts an exact value known to fit without rounding. */
export function fromExact(x: Exact): F80 {
  return packF80({ sign: x.sign, inf: false, q: x.m, qe: x.e });
}

/** FRNDINT. */
export function roundInt(env: Env, a: F80): F80 | null {
  const ca = classify(a);
  if (ca === Cls.Unsupported) {
    env.raise(IE);
    return env.mustAbort ? null : INDEFINITE;
  }
  if (isNaN80(ca)) {
    if (ca === Cls.SNaN) env.raise(IE);
    return env.mustAbort ? null : quiet(a);
  }
  if (ca === Cls.Zero || ca === Cls.Inf) return a;
  denormCheck(env, ca);
  if (env.mustAbort) return null;
  const u = unpack(a);
  if (u.e >= 0) return a;
  const r = roundToInteger(u, env.rc);
  if (r.inexact) env.raise(PE);
  env.c1 = r.up;
  if (r.v === 0n) return zero(a.sign);
  return fromBigInt(r.v);
}

// ---- Conversions with the memory formats --------------------------------------------------------

/** Loads a single (k=32) or double (k=64) real: SNaNs are quieted with #IA, denormals raise #D. */
export function fromIeee(env: Env, bits: bigint, k: 32 | 64): F80 | null {
  const fb = k === 32 ? 23 : 52;
  const eb = k === 32 ? 8 : 11;
  const ebias = k === 32 ? 127 : 1023;
  const sign = Number((bits >> BigInt(k - 1)) & 1n);
  const e = Number((bits >> BigInt(fb)) & ((1n << BigInt(eb)) - 1n));
  const f = bits & ((1n << BigInt(fb)) - 1n);
  const emaxField = (1 << eb) - 1;
  if (e === emaxField) {
    if (f === 0n) return infinity(sign);
    const nan = { sign, exp: 0x7fff, sig: J | (f << BigInt(63 - fb)) };
    if (!(f & (1n << BigInt(fb - 1)))) {
      env.raise(IE);
      if (env.mustAbort) return null;
      return quiet(nan);
    }
    return nan;
  }
  if (e === 0) {
    if (f === 0n) return zero(sign);
    // The load completes even when #D is unmasked (observed on hardware).
    env.raise(DE);
    return fromExact({ sign, m: f, e: 1 - ebias - fb });
  }
  return { sign, exp: e - ebias + BIAS, sig: (f | (1n << BigInt(fb))) << BigInt(63 - fb) };
}

/** A single or double real as an arithmetic operand: SNaNs stay signaling (the operation reports
 *  them), and `den` tells that the operand was a denormal before widening (it raises #D there). */
export function ieeeOperand(bits: bigint, k: 32 | 64): { v: F80; den: boolean } {
  const fb = k === 32 ? 23 : 52;
  const eb = k === 32 ? 8 : 11;
  const ebias = k === 32 ? 127 : 1023;
  const sign = Number((bits >> BigInt(k - 1)) & 1n);
  const e = Number((bits >> BigInt(fb)) & ((1n << BigInt(eb)) - 1n));
  const f = bits & ((1n << BigInt(fb)) - 1n);
  if (e === (1 << eb) - 1) {
    if (f === 0n) return { v: infinity(sign), den: false };
    return { v: { sign, exp: 0x7fff, sig: J | (f << BigInt(63 - fb)) }, den: false };
  }
  if (e === 0) {
    if (f === 0n) return { v: zero(sign), den: false };
    return { v: fromExact({ sign, m: f, e: 1 - ebias - fb }), den: true };
  }
  return { v: { sign, exp: e - ebias + BIAS, sig: (f | (1n << BigInt(fb))) << BigInt(63 - fb) }, den: false };
}

/** Stores to a single or double real; null when an unmasked exception leaves memory unwritten. */
export function toIeee(env: Env, a: F80, k: 32 | 64): bigint | null {
  const fb = k === 32 ? 23 : 52;
  const eb = k === 32 ? 8 : 11;
  const ebias = k === 32 ? 127 : 1023;
  const fmt = k === 32 ? SINGLE : DOUBLE;
  const ca = classify(a);
  const signBit = BigInt(a.sign) << BigInt(k - 1);
  const expAll = ((1n << BigInt(eb)) - 1n) << BigInt(fb);
  const nanOf = (x: F80): bigint => signBit | expAll | ((x.sig >> BigInt(63 - fb)) & ((1n << BigInt(fb)) - 1n));
  switch (ca) {
    case Cls.Unsupported:
      env.raise(IE);
      if (env.mustAbort) return null;
      return nanOf(INDEFINITE) | (1n << BigInt(k - 1));
    case Cls.QNaN:
      return nanOf(a);
    case Cls.SNaN:
      env.raise(IE);
      if (env.mustAbort) return null;
      return nanOf(quiet(a));
    case Cls.Inf:
      return signBit | expAll;
    case Cls.Zero:
      return signBit;
    default:
      break;
  }
  const r = roundExact(env, unpack(a), false, fmt);
  if (!r) return null;
  if (r.inf) return signBit | expAll;
  if (r.q === 0n) return signBit;
  const n = bitLength(r.q);
  const top = r.qe + n - 1;
  if (top >= fmt.emin) {
    const frac = (r.q << BigInt(fmt.p - n)) & ((1n << BigInt(fb)) - 1n);
    return signBit | (BigInt(top + ebias) << BigInt(fb)) | frac;
  }
  return signBit | (r.q << BigInt(r.qe - (fmt.emin - fb)));
}

/** Integer store (FIST/FISTP): rounds per RC; out of range or NaN gives the integer indefinite. */
export function toInt(env: Env, a: F80, bits: 16 | 32 | 64): bigint | null {
  const indefinite = -(1n << BigInt(bits - 1));
  const ca = classify(a);
  if (ca === Cls.Zero) return 0n;
  if (ca === Cls.Unsupported || ca === Cls.Inf || isNaN80(ca)) {
    env.raise(IE);
    return env.mustAbort ? null : indefinite;
  }
  const r = roundToInteger(unpack(a), env.rc);
  const lim = 1n << BigInt(bits - 1);
  if (r.v >= lim || r.v < -lim) {
    env.raise(IE);
    return env.mustAbort ? null : indefinite;
  }
  if (r.inexact) env.raise(PE);
  env.c1 = r.up;
  return r.v;
}

/** FBLD: 18 packed BCD digits and a sign byte; digits above 9 are weighted as they come. */
export function fromBcd(bytes: Uint8Array): F80 {
  let v = 0n;
  for (let i = 8; i >= 0; i--) {
    const b = bytes[i]!;
    v = v * 100n + BigInt((b >> 4) * 10 + (b & 15));
  }
  const f = fromBigInt(v);
  return bytes[9]! & 0x80 ? { sign: 1, exp: f.exp, sig: f.sig } : f;
}

/** FBSTP: null when an unmasked exception stops the store; the BCD indefinite on masked #IA. */
export function toBcd(env: Env, a: F80): Uint8Array | null {
  const out = new Uint8Array(10);
  const indefinite = (): Uint8Array => {
    out.set([0, 0, 0, 0, 0, 0, 0, 0xc0, 0xff, 0xff]);
    return out;
  };
  const ca = classify(a);
  if (ca === Cls.Unsupported || ca === Cls.Inf || isNaN80(ca)) {
    env.raise(IE);
    return env.mustAbort ? null : indefinite();
  }
  let v = 0n;
  if (ca !== Cls.Zero) {
    const r = roundToInteger(unpack(a), env.rc);
    if (r.v >= 10n ** 18n || r.v <= -(10n ** 18n)) {
      env.raise(IE);
      return env.mustAbort ? null : indefinite();
    }
    if (r.inexact) env.raise(PE);
    env.c1 = r.up;
    v = r.v < 0n ? -r.v : r.v;
  }
  for (let i = 0; i < 9; i++) {
    const d = Number(v % 100n);
    v /= 100n;
    out[i] = ((Math.floor(d / 10) << 4) | d % 10) & 0xff;
  }
  out[9] = a.sign ? 0x80 : 0;
  return out;
}

// ---- Byte images ----------------------------------------------------------------------------------

export function readF80(b: Uint8Array, off: number): F80 {
  let sig = 0n;
  for (let i = 7; i >= 0; i--) sig = (sig << 8n) | BigInt(b[off + i]!);
  const se = b[off + 8]! | (b[off + 9]! << 8);
  return { sign: se >> 15, exp: se & 0x7fff, sig };
}

export function writeF80(b: Uint8Array, off: number, a: F80): void {
  let s = a.sig;
  for (let i = 0; i < 8; i++) {
    b[off + i] = Number(s & 0xffn);
    s >>= 8n;
  }
  const se = (a.sign << 15) | a.exp;
  b[off + 8] = se & 0xff;
  b[off + 9] = se >> 8;
}
