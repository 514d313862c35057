// The one flags table against the arithmetic the SDM defines the flags by (vol. 1 §3.4.3): CF the
// unsigned sum or difference leaving the operand width, OF the signed one, AF a carry or borrow out
// of bit 3, computed here on whole numbers, not through the table's own comparisons. The
// interpreter's generated lazyCF, lazyOF and lazyAF are what is checked, and its condition codes
// against the SDM's table of them.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { LazyOp, SIZE_MASK, SIZE_SIGN, SIZE_BITS } from '../flags.ts';
import type { Cpu } from '../cpu.ts';
import { cond, lazyAF, lazyCF, lazyOF } from '../ops/integer-ops.generated.ts';
import { LAZY_OPS } from './flags-table.ts';

const EDGES = [0, 1, 2, 0x0f, 0x10, 0x7f, 0x80, 0xff, 0x7fff, 0x8000, 0xffff, 0x7fffffff, 0x80000000, 0xffffffff, 0x12345678, 0xedcba987];

/** What the flags are, by definition, for `op` on a and b at size sz (the carry-in is 1 for ADC and SBB). */
function defined(op: LazyOp, a: number, b: number, sz: number): { r: number; cf: boolean; of: boolean; af: boolean } {
  const bits = SIZE_BITS[sz]!;
  const m = 2 ** bits;
  const ua = (a >>> 0) % m, ub = (b >>> 0) % m;
  const sa = ua >= m / 2 ? ua - m : ua, sb = ub >= m / 2 ? ub - m : ub;
  const carry = op === LazyOp.ADC || op === LazyOp.SBB ? 1 : 0;
  if (op === LazyOp.LOGIC) return { r: ua & ub, cf: false, of: false, af: false };
  if (op === LazyOp.ADD || op === LazyOp.ADC) {
    const sum = ua + ub + carry, ssum = sa + sb + carry;
    return { r: sum % m, cf: sum >= m, of: ssum >= m / 2 || ssum < -m / 2, af: (ua & 15) + (ub & 15) + carry > 15 };
  }
  const diff = ua - ub - carry, sdiff = sa - sb - carry;
  return { r: (diff + m) % m, cf: diff < 0, of: sdiff >= m / 2 || sdiff < -m / 2, af: (ua & 15) - (ub & 15) - carry < 0 };
}

test('the interpreter evaluates each lazy operation\'s CF, OF and AF as the SDM defines them, at every width', () => {
  let checked = 0;
  for (const op of LAZY_OPS) {
    for (let sz = 0; sz < 3; sz++) {
      for (const a of EDGES) {
        for (const b of EDGES) {
          const want = defined(op, a, b, sz);
          const m = SIZE_MASK[sz]!;
          // As recorded: the operands reduced to the width (the result too), or as they were in a register.
          for (const [ra, rb] of [[a & m, b & m], [a | 0, b | 0]] as const) {
            const r = op === LazyOp.LOGIC ? want.r : want.r | 0;
            const at = `op ${op} sz ${sz} a ${a.toString(16)} b ${b.toString(16)}`;
            assert.equal(lazyCF(op, ra, rb, r, m), want.cf, `CF ${at}`);
            assert.equal(lazyOF(op, ra, rb, r, SIZE_SIGN[sz]!), want.of, `OF ${at}`);
            assert.equal(lazyAF(op, ra, rb, r), want.af, `AF ${at}`);
            checked++;
          }
        }
      }
    }
  }
  assert.equal(checked, LAZY_OPS.length * 3 * EDGES.length * EDGES.length * 2);
});

test('the interpreter\'s condition codes are the SDM\'s (vol. 1 appendix B) for every combination of flags', () => {
  // The conditions as the SDM's table lists them, mnemonic by mnemonic, over flags as booleans.
  const sdm: ((f: Record<'of' | 'cf' | 'zf' | 'sf' | 'pf', boolean>) => boolean)[] = [
    (f) => f.of, (f) => !f.of, // O, NO
    (f) => f.cf, (f) => !f.cf, // B, AE
    (f) => f.zf, (f) => !f.zf, // E, NE
    (f) => f.cf || f.zf, (f) => !f.cf && !f.zf, // BE, A
    (f) => f.sf, (f) => !f.sf, // S, NS
    (f) => f.pf, (f) => !f.pf, // P, NP
    (f) => f.sf !== f.of, (f) => f.sf === f.of, // L, GE
    (f) => f.zf || f.sf !== f.of, (f) => !f.zf && f.sf === f.of, // LE, G
  ];
  for (let bits = 0; bits < 32; bits++) {
    const f = { of: (bits & 1) !== 0, cf: (bits & 2) !== 0, zf: (bits & 4) !== 0, sf: (bits & 8) !== 0, pf: (bits & 16) !== 0 };
    const cpu = { of: () => f.of, cf: () => f.cf, zf: () => f.zf, sf: () => f.sf, pf: () => f.pf } as unknown as Cpu;
    for (let cc = 0; cc < 16; cc++) assert.equal(cond(cpu, cc), sdm[cc]!(f), `cc ${cc} with ${JSON.stringify(f)}`);
  }
});
