// Unit tests of the x87 model with known bit patterns (the constants and arithmetic results below
// were checked on a real x87). The bulk of the checking is fpu.diff.test.ts against the host FPU;
// this file covers what that cannot: environment formats other than 32-bit protected mode, the
// instruction and data pointers, waiting instructions, faults, RESET and saved state.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Fpu, type FpuContext } from './fpu.ts';
import { readF80, writeF80, type F80 } from './softfloat80.ts';
import { MathFault, PM32, TestHost } from './fpu-testhost.ts';

const RM16: FpuContext = { opsize32: false, protectedMode: false, cs: 0x1234, eip: 0x5678 };
const RM32: FpuContext = { opsize32: true, protectedMode: false, cs: 0xf000, eip: 0x1fff0 };
const PM16: FpuContext = { opsize32: false, protectedMode: true, cs: 0x0010, eip: 0xbeef };

function v(se: number, sig: bigint): F80 {
  return { sign: se >> 15, exp: se & 0x7fff, sig };
}
function fmt(a: F80 | null): string {
  if (!a) return 'empty';
  return `${((a.sign << 15) | a.exp).toString(16).padStart(4, '0')}:${a.sig.toString(16).padStart(16, '0')}`;
}

function setup(): { host: TestHost; fpu: Fpu } {
  const host = new TestHost();
  const fpu = new Fpu(host);
  fpu.execute(0xdb, 0xe3, 0, 0, PM32); // FNINIT
  return { host, fpu };
}
function fld(host: TestHost, fpu: Fpu, a: F80, ctx = PM32): void {
  writeF80(host.mem, 0x300, a);
  fpu.execute(0xdb, 0x28, 3, 0x300, ctx); // FLD m80
}
function fldcw(host: TestHost, fpu: Fpu, cw: number): void {
  host.write16(3, 0x310, cw);
  fpu.execute(0xd9, 0x28, 3, 0x310, PM32);
}
const ONE = v(0x3fff, 1n << 63n);
const TWO = v(0x4000, 1n << 63n);
const THREE = v(0x4000, 0xc000000000000000n);
const SEVEN = v(0x4001, 0xe000000000000000n);

test('RESET gives control word 0040H and eight valid zeros; FNINIT gives 037FH and empty tags', () => {
  const host = new TestHost();
  const fpu = new Fpu(host);
  fpu.execute(0xd9, 0x30, 3, 0x100, PM32); // FNSTENV
  assert.equal(host.read16(3, 0x100), 0x0040);
  assert.equal(host.read16(3, 0x104), 0x0000);
  assert.equal(host.read16(3, 0x108), 0x5555);
  assert.equal(fmt(fpu.peek(0)), '0000:0000000000000000');
  fpu.execute(0xdb, 0xe3, 0, 0, PM32);
  fpu.execute(0xd9, 0x38, 3, 0x120, PM32); // FNSTCW
  assert.equal(host.read16(3, 0x120), 0x037f);
  assert.equal(fpu.tagWord, 0xffff);
  assert.equal(fpu.statusWord, 0);
});

test('constants follow the rounding control in their last bit, without #P', () => {
  const want: Record<number, string[]> = {
    0: ['4000:c90fdaa22168c235', '3fff:b8aa3b295c17f0bc', '4000:d49a784bcd1b8afe', '3ffd:9a209a84fbcff799', '3ffe:b17217f7d1cf79ac'],
    1: ['4000:c90fdaa22168c234', '3fff:b8aa3b295c17f0bb', '4000:d49a784bcd1b8afe', '3ffd:9a209a84fbcff798', '3ffe:b17217f7d1cf79ab'],
    2: ['4000:c90fdaa22168c235', '3fff:b8aa3b295c17f0bc', '4000:d49a784bcd1b8aff', '3ffd:9a209a84fbcff799', '3ffe:b17217f7d1cf79ac'],
  };
  for (const rc of [0, 1, 2]) {
    const { host, fpu } = setup();
    fldcw(host, fpu, 0x037f | (rc << 10));
    const got = [0xeb, 0xea, 0xe9, 0xec, 0xed].map((m) => {
      fpu.execute(0xd9, m, 0, 0, PM32);
      return fmt(fpu.peek(0));
    });
    assert.deepEqual(got, want[rc]);
    assert.equal(fpu.statusWord & 0x3f, 0);
  }
});

test('division rounds to the precision control', () => {
  const cases: [number, string][] = [
    [0x037f, '3ffd:aaaaaaaaaaaaaaab'],
    [0x027f, '3ffd:aaaaaaaaaaaaa800'],
    [0x007f, '3ffd:aaaaab0000000000'],
    [0x0f7f, '3ffd:aaaaaaaaaaaaaaaa'], // toward zero
  ];
  for (const [cw, want] of cases) {
    const { host, fpu } = setup();
    fldcw(host, fpu, cw);
    fld(host, fpu, THREE);
    fpu.execute(0xd9, 0xe8, 0, 0, PM32); // FLD1
    fpu.execute(0xd8, 0xf1, 0, 0, PM32); // FDIV ST, ST(1)
    assert.equal(fmt(fpu.peek(0)), want, `cw ${cw.toString(16)}`);
    assert.equal(fpu.statusWord & 0x20, 0x20, '#P');
  }
});

test('FSQRT of 2 and the round-up bit C1', () => {
  const { host, fpu } = setup();
  fld(host, fpu, TWO);
  fpu.execute(0xd9, 0xfa, 0, 0, PM32);
  assert.equal(fmt(fpu.peek(0)), '3fff:b504f333f9de6484');
  assert.equal(fpu.statusWord & 0x0220, 0x0020, 'inexact, rounded down');
  fldcw(host, fpu, 0x0b7f); // round up
  fld(host, fpu, TWO);
  fpu.execute(0xd9, 0xfa, 0, 0, PM32);
  assert.equal(fmt(fpu.peek(0)), '3fff:b504f333f9de6485');
  assert.equal(fpu.statusWord & 0x0200, 0x0200, 'C1: rounded up');
});

test('masked zero divide gives an infinity; unmasked leaves the operands and faults at the next waiting instruction', () => {
  const { host, fpu } = setup();
  fpu.execute(0xd9, 0xee, 0, 0, PM32); // FLDZ
  fpu.execute(0xd9, 0xe8, 0, 0, PM32); // FLD1
  fpu.execute(0xd8, 0xf1, 0, 0, PM32); // FDIV ST, ST(1): 1/0
  assert.equal(fmt(fpu.peek(0)), '7fff:8000000000000000');
  assert.equal(fpu.statusWord & 0x80ff, 0x0004);

  fldcw(host, fpu, 0x037b); // unmask #Z
  assert.equal(fpu.statusWord & 0x8080, 0x8080, 'ES and B follow the newly unmasked flag');
  fpu.execute(0xdb, 0xe2, 0, 0, PM32); // FNCLEX
  fpu.execute(0xd9, 0xe8, 0, 0, PM32); // FLD1
  fpu.execute(0xd8, 0xf2, 0, 0, PM32); // FDIV ST, ST(2): 1/0 again
  assert.equal(fmt(fpu.peek(0)), '3fff:8000000000000000', 'destination unchanged');
  assert.equal(fpu.statusWord & 0x80ff, 0x8084);
  fpu.execute(0xdd, 0x38, 3, 0x100, PM32); // FNSTSW does not wait
  assert.equal(host.read16(3, 0x100), fpu.statusWord);
  assert.throws(() => fpu.wait(), MathFault);
  assert.throws(() => fpu.execute(0xd9, 0xe8, 0, 0, PM32), MathFault, 'FLD1 waits');
  assert.equal(host.faults, 2);
  fpu.execute(0xdb, 0xe2, 0, 0, PM32); // FNCLEX
  fpu.wait();
  assert.equal(fpu.statusWord & 0x80ff, 0);
});

test('stack overflow and underflow set SF with C1 telling which, and load the indefinite', () => {
  const { fpu, host } = setup();
  for (let i = 0; i < 8; i++) fpu.execute(0xd9, 0xe8, 0, 0, PM32);
  fpu.execute(0xd9, 0xe8, 0, 0, PM32);
  assert.equal(fpu.statusWord & 0x0241, 0x0241, 'IE, SF, C1=1');
  assert.equal(fmt(fpu.peek(0)), 'ffff:c000000000000000');
  const f2 = setup().fpu;
  f2.execute(0xd8, 0xc1, 0, 0, PM32); // FADD ST, ST(1) on an empty stack
  assert.equal(f2.statusWord & 0x0241, 0x0041, 'IE, SF, C1=0');
  void host;
});

test('integer and BCD stores: rounding, range and the indefinites', () => {
  const { host, fpu } = setup();
  fld(host, fpu, v(0x400e, 0xfffe000000000000n)); // 65534
  fpu.execute(0xdf, 0x10, 3, 0x100, PM32); // FIST m16
  assert.equal(host.read16(3, 0x100), 0x8000, 'out of range');
  assert.equal(fpu.statusWord & 1, 1);
  const b = setup();
  // 123456789012345678 and -2.5 (round to even: -2)
  fld(b.host, b.fpu, { sign: 0, exp: 0x3fff + 56, sig: 123456789012345678n << 7n });
  b.fpu.execute(0xdf, 0x30, 3, 0x100, PM32); // FBSTP
  assert.deepEqual([...b.host.mem.slice(0x100, 0x10a)], [0x78, 0x56, 0x34, 0x12, 0x90, 0x78, 0x56, 0x34, 0x12, 0x00]);
  b.fpu.execute(0xdf, 0x20, 3, 0x100, PM32); // FBLD
  assert.equal(b.fpu.peek(0)!.sig, 123456789012345678n << 7n);
  fld(b.host, b.fpu, v(0xc000, 0xa000000000000000n));
  b.fpu.execute(0xdb, 0x18, 3, 0x110, PM32); // FISTP m32
  assert.equal(b.host.read32(3, 0x110), -2);
});

test('FPREM reports the low quotient bits in C0, C3, C1 and C2 for an incomplete reduction', () => {
  const { host, fpu } = setup();
  fld(host, fpu, TWO);
  fld(host, fpu, SEVEN);
  fpu.execute(0xd9, 0xf8, 0, 0, PM32); // 7 rem 2: q = 3, r = 1
  assert.equal(fmt(fpu.peek(0)), '3fff:8000000000000000');
  assert.equal(fpu.statusWord & 0x4700, 0x4200, 'C3=Q1 C1=Q0, C0=Q2=0, C2=0');
  const g = setup();
  fld(g.host, g.fpu, SEVEN);
  fld(g.host, g.fpu, v(0x3fff + 100, 0xc000000000000000n));
  g.fpu.execute(0xd9, 0xf8, 0, 0, PM32);
  assert.equal(g.fpu.statusWord & 0x0400, 0x0400, 'incomplete');
  let n = 1;
  while (g.fpu.statusWord & 0x0400) {
    g.fpu.execute(0xd9, 0xf8, 0, 0, PM32);
    n++;
  }
  // 1.5 * 2^100 mod 7: 2^100 = 2^(3*33+1) = 2 (mod 7); 1.5 * 2^100 = 3 * 2^99 = 3 * 1 = 3 (mod 7)
  assert.equal(fmt(g.fpu.peek(0)), fmt(THREE));
  assert.ok(n >= 2);
});

test('FSIN of |x| >= 2^63 sets C2 and leaves the operand', () => {
  const { host, fpu } = setup();
  const big = v(0x3fff + 63, 0x8000000000000001n);
  fld(host, fpu, big);
  fpu.execute(0xd9, 0xfe, 0, 0, PM32);
  assert.equal(fpu.statusWord & 0x0400, 0x0400);
  assert.equal(fmt(fpu.peek(0)), fmt(big));
  fld(host, fpu, ONE);
  fpu.execute(0xd9, 0xfe, 0, 0, PM32);
  assert.equal(fpu.statusWord & 0x0400, 0);
  assert.equal(fmt(fpu.peek(0)), '3ffe:d76aa47848677021'); // sin 1
});

test('FXAM classes', () => {
  const cls = (a: F80 | null): number => {
    const { host, fpu } = setup();
    if (a) fld(host, fpu, a);
    fpu.execute(0xd9, 0xe5, 0, 0, PM32);
    return fpu.statusWord & 0x4700;
  };
  assert.equal(cls(null), 0x4100, 'empty');
  assert.equal(cls(ONE), 0x0400, 'normal');
  assert.equal(cls(v(0x8000, 0n)), 0x4200, 'negative zero');
  assert.equal(cls(v(0x7fff, 1n << 63n)), 0x0500, 'infinity');
  assert.equal(cls(v(0x7fff, 0xc000000000000000n)), 0x0100, 'NaN');
  assert.equal(cls(v(0x0000, 0x8000000000000000n)), 0x4400, 'pseudo-denormal is a denormal');
  assert.equal(cls(v(0x3fff, 0x4000000000000000n)), 0x0000, 'unnormal is unsupported');
});

test('FCOMI sets ZF PF CF; FCMOVcc reads them', () => {
  const { host, fpu } = setup();
  fld(host, fpu, TWO);
  fld(host, fpu, ONE);
  fpu.execute(0xdb, 0xf1, 0, 0, PM32); // FCOMI ST, ST(1): 1 < 2
  assert.equal(host.flags & 0x45, 0x01);
  fpu.execute(0xda, 0xc1, 0, 0, PM32); // FCMOVB ST, ST(1)
  assert.equal(fmt(fpu.peek(0)), fmt(TWO));
  fld(host, fpu, v(0x7fff, 0xc000000000000000n));
  fpu.execute(0xdf, 0xe9, 0, 0, PM32); // FUCOMIP with a QNaN: unordered, no #IA, pops
  assert.equal(host.flags & 0x45, 0x45);
  assert.equal(fpu.statusWord & 1, 0);
  assert.equal(fmt(fpu.peek(0)), fmt(TWO));
});

test('FIP, FCS, FOP, FDP, FDS as FNSTENV reports them in the four formats', () => {
  const { host, fpu } = setup();
  host.selector = (seg: number): number => [0x1111, 0x2222, 0x3333, 0x4444, 0x5555, 0x6666][seg]!;
  host.write32(4, 0x200, 0x3f800000); // 1.0f
  fpu.execute(0xd9, 0x06, 4, 0x200, { ...PM32, cs: 0x1b, eip: 0xc0001234 }); // FLD m32 [FS:0x200], modrm 06
  fpu.execute(0xd9, 0x30, 3, 0x100, PM32); // FNSTENV, 32-bit protected
  assert.equal(host.read32(3, 0x10c) >>> 0, 0xc0001234, 'FIP');
  assert.equal(host.read32(3, 0x110) >>> 0, (0x106 << 16) | 0x1b, 'FOP:FCS');
  assert.equal(host.read32(3, 0x114) >>> 0, 0x200, 'FDP');
  assert.equal(host.read16(3, 0x118), 0x5555, 'FDS');
  // Control instructions keep the pointers: FNSTENV above, FLDCW here.
  fldcw(host, fpu, 0x037f);

  const r = setup();
  r.host.selector = (): number => 0x2000;
  r.fpu.execute(0xd9, 0xe8, 0, 0, RM16); // FLD1 at 1234:5678
  r.host.write16(3, 0x200, 7);
  r.fpu.execute(0xde, 0x06, 3, 0x200, RM16); // FIADD m16 at 1234:5678, data 2000:0200
  r.fpu.execute(0xd9, 0x30, 3, 0x100, RM16); // FNSTENV, 16-bit real
  const lin = 0x12340 + 0x5678;
  assert.equal(r.host.read16(3, 0x106), lin & 0xffff);
  assert.equal(r.host.read16(3, 0x108), ((lin >>> 16) << 12) | 0x606);
  assert.equal(r.host.read16(3, 0x10a), 0x20200 & 0xffff);
  assert.equal(r.host.read16(3, 0x10c), (0x20200 >>> 16) << 12);
  assert.equal(r.host.read16(3, 0x100), 0x037f | 0x3f);

  r.fpu.execute(0xd9, 0x30, 3, 0x140, RM32); // 32-bit real: FNSTENV itself leaves the pointers alone
  assert.equal(r.host.read16(3, 0x14c), lin & 0xffff);
  assert.equal(r.host.read32(3, 0x150) >>> 0, ((lin >>> 16) << 12) | 0x606);
  assert.equal(r.host.read32(3, 0x158) >>> 0, (0x20200 >>> 16) << 12);

  r.fpu.execute(0xd9, 0x30, 3, 0x180, PM16); // 16-bit protected
  assert.equal(r.host.read16(3, 0x186), lin & 0xffff);
  assert.equal(r.host.read16(3, 0x188), 0);
});

test('FSAVE/FRSTOR round trip in every format, FSAVE reinitializes', () => {
  for (const ctx of [PM32, PM16, RM16, RM32]) {
    const { host, fpu } = setup();
    fldcw(host, fpu, 0x0a7f);
    fld(host, fpu, SEVEN, ctx);
    fld(host, fpu, v(0x0000, 0x123n), ctx);
    fpu.execute(0xd9, 0xfc, 0, 0, ctx); // FRNDINT, rounding up: denormal -> 1.0 with #D #P
    const sw = fpu.statusWord;
    const tw = fpu.tagWord;
    const st = [0, 1, 2].map((i) => fmt(fpu.peek(i)));
    fpu.execute(0xdd, 0x30, 3, 0x400, ctx); // FNSAVE
    assert.equal(fpu.tagWord, 0xffff);
    assert.equal(fpu.controlWord, 0x037f);
    fpu.execute(0xdd, 0x20, 3, 0x400, ctx); // FRSTOR
    assert.equal(fpu.statusWord, sw);
    assert.equal(fpu.tagWord, tw);
    assert.equal(fpu.controlWord, 0x0a7f);
    assert.deepEqual([0, 1, 2].map((i) => fmt(fpu.peek(i))), st);
    const size = ctx.opsize32 ? 28 : 14;
    assert.equal(fmt(readF80(host.mem, 0x400 + size)), fmt(ONE), 'ST(0) right after the environment');
    assert.equal(sw & 0x3f, 0x22);
  }
});

test('a faulting memory operand leaves the FPU unchanged', () => {
  const { host, fpu } = setup();
  fld(host, fpu, ONE);
  const before = JSON.stringify(fpu.saveState(), (_k, x) => (x instanceof Uint8Array ? [...x] : x));
  const fault = new Error('#PF');
  host.read32 = (): number => {
    throw fault;
  };
  assert.throws(() => fpu.execute(0xdc, 0x00, 3, 0x200, PM32), (e) => e === fault); // FADD m64
  assert.throws(() => fpu.execute(0xdd, 0x20, 3, 0x200, PM32), (e) => e === fault); // FRSTOR
  const after = JSON.stringify(fpu.saveState(), (_k, x) => (x instanceof Uint8Array ? [...x] : x));
  assert.equal(after, before);
});

test('isValid: P6 encodings, undocumented aliases, and the undefined ones', () => {
  const { fpu } = setup();
  for (const [esc, modrm] of [
    [0xd9, 0x08], // D9 /1 mem
    [0xdb, 0x20], // DB /4 mem
    [0xdd, 0x28], // DD /5 mem
    [0xdf, 0x08], // FISTTP (SSE3)
    [0xd9, 0xd1],
    [0xd9, 0xe2],
    [0xd9, 0xef],
    [0xda, 0xe8],
    [0xda, 0xf0],
    [0xdb, 0xe5],
    [0xdb, 0xf8],
    [0xdd, 0xf0],
    [0xde, 0xd8],
    [0xdf, 0xe1],
    [0xdf, 0xf8],
  ])
    assert.equal(fpu.isValid(esc!, modrm!), false, `${esc!.toString(16)} ${modrm!.toString(16)}`);
  for (const [esc, modrm] of [
    [0xd9, 0xd0],
    [0xd9, 0xd8],
    [0xda, 0xe9],
    [0xdb, 0xe0],
    [0xdb, 0xe4],
    [0xdc, 0xd0],
    [0xdd, 0xc8],
    [0xde, 0xd9],
    [0xdf, 0xc0],
    [0xdf, 0xe0],
    [0xdf, 0xf7],
    [0xdd, 0x20],
  ])
    assert.equal(fpu.isValid(esc!, modrm!), true, `${esc!.toString(16)} ${modrm!.toString(16)}`);
});

test('saved state round trip', () => {
  const { host, fpu } = setup();
  fld(host, fpu, THREE);
  fld(host, fpu, v(0x7fff, 0x8000000000000001n));
  fldcw(host, fpu, 0x0c72);
  const s = fpu.saveState();
  const g = setup();
  g.fpu.loadState(s, fpu.stateVersion);
  assert.equal(g.fpu.statusWord, fpu.statusWord);
  assert.equal(g.fpu.controlWord, fpu.controlWord);
  assert.equal(g.fpu.tagWord, fpu.tagWord);
  assert.equal(fmt(g.fpu.peek(1)), fmt(THREE));
  assert.throws(() => g.fpu.loadState(s, 99), /fpu: saved state version 99/);
});

test('a store crossing into a faulting page writes nothing', () => {
  const { host, fpu } = setup();
  fld(host, fpu, THREE);
  const fault = new Error('#PF');
  const realWrite8 = host.write8.bind(host);
  const realWrite32 = host.write32.bind(host);
  const guard = (off: number): void => {
    if (off >= 0x1000 - 0) throw fault;
  };
  host.write8 = (seg, off, val): void => {
    guard(off);
    realWrite8(seg, off, val);
  };
  host.write32 = (seg, off, val): void => {
    guard(off + 3);
    realWrite32(seg, off, val);
  };
  host.write16 = (seg, off, val): void => {
    guard(off + 1);
    realWrite8(seg, off, val);
    realWrite8(seg, off + 1, val >> 8);
  };
  const mem = new Uint8Array(8192);
  mem.set(host.mem);
  (host as { mem: Uint8Array }).mem = mem;
  host.mem.fill(0xaa, 0xff8, 0x1000);
  assert.throws(() => fpu.execute(0xdd, 0x18, 3, 0xffc, PM32), (e) => e === fault); // FSTP m64
  assert.throws(() => fpu.execute(0xdb, 0x38, 3, 0xff8, PM32), (e) => e === fault); // FSTP m80
  assert.deepEqual([...host.mem.slice(0xff8, 0x1000)], new Array(8).fill(0xaa));
  assert.equal(fmt(fpu.peek(0)), fmt(THREE), 'not popped');
});
