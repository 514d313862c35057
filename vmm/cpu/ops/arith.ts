// Integer arithmetic beyond the ALU block: INC/DEC, group 3 (TEST NOT NEG MUL IMUL DIV IDIV), the
// two- and three-operand IMUL, XADD, CMPXCHG and CMPXCHG8B (SDM vol. 2). MUL/IMUL set CF=OF for a
// significant upper half. Their SF, ZF, AF and PF are undefined in the SDM; as QEMU and Bochs model
// the P6, SF, ZF and PF follow the low half of the result (AL, AX, EAX or the truncated destination)
// and AF is cleared. DIV/IDIV leave all six undefined; they keep their previous values here.
// What INC, DEC, TEST, NOT, NEG, MUL and IMUL compute is generated from the table the translator also
// reads (gen/integer-table.ts, integer-ops.generated.ts); here are their operand forms.

import type { Cpu } from '../cpu.ts';
import { Imm, type Instr, type OpTable } from '../decode.ts';
import { LazyOp, ZF } from '../flags.ts';
import { Vec } from '../fault.ts';
import { dec, imul1, imulTrunc, inc, mul, neg, not, test } from './integer-ops.generated.ts';

const EAX = 0, ECX = 1, EDX = 2, EBX = 3;
const MASK = [0xff, 0xffff, -1] as const;

/** Applies f to the E operand of size sz (0/1/2) in place, as one read-modify-write. */
/** Read-modify-write of the r/m operand through `f`, which is made once, not per execution (garbage). */
function rmw(cpu: Cpu, i: Instr, sz: number, f: (cpu: Cpu, v: number) => number): void {
  if (i.mod === 3) {
    if (sz === 0) cpu.r8[i.rmb] = f(cpu, cpu.r8[i.rmb]!);
    else if (sz === 1) cpu.r16[i.rm << 1] = f(cpu, cpu.r16[i.rm << 1]!);
    else cpu.r32[i.rm] = f(cpu, cpu.r32[i.rm]!);
    return;
  }
  const size = 1 << sz;
  const lin = cpu.rmwLin(i, size);
  if (sz === 0) cpu.writeLin8(lin, f(cpu, cpu.readLin8(lin)));
  else if (sz === 1) cpu.writeLin16(lin, f(cpu, cpu.readLin16(lin)));
  else cpu.writeLin32(lin, f(cpu, cpu.readLin32(lin)));
}

/** Where divU64 leaves its results (a tuple per DIV was garbage): quotient, remainder. */
const QR = new Int32Array(2);

/** Unsigned (hi:lo) / d for hi < d (so the quotient fits 32 bits): quotient and remainder into `out`. */
export function divU64(hi: number, lo: number, d: number, out: Int32Array): void {
  hi >>>= 0;
  lo >>>= 0;
  d >>>= 0;
  // Two 16-bit quotient digits; every dividend below is < 2^48, so double division is exact enough
  // and the correction step settles the last unit.
  let a = hi * 65536 + (lo >>> 16);
  let q1 = Math.floor(a / d);
  let r = a - q1 * d;
  if (r < 0) {
    q1--;
    r += d;
  } else if (r >= d) {
    q1++;
    r -= d;
  }
  a = r * 65536 + (lo & 0xffff);
  let q0 = Math.floor(a / d);
  r = a - q0 * d;
  if (r < 0) {
    q0--;
    r += d;
  } else if (r >= d) {
    q0++;
    r -= d;
  }
  out[0] = q1 * 65536 + q0;
  out[1] = r;
}

function readE(cpu: Cpu, i: Instr, sz: number): number {
  return sz === 0 ? cpu.readE8(i) : sz === 1 ? cpu.readE16(i) : cpu.readE32(i);
}

function div(cpu: Cpu, i: Instr, sz: number): void {
  const d = readE(cpu, i, sz);
  if (d === 0) cpu.raise(Vec.DE);
  if (sz === 0) {
    const n = cpu.r16[0]!;
    const q = Math.floor(n / d);
    if (q > 0xff) cpu.raise(Vec.DE);
    cpu.r8[0] = q;
    cpu.r8[1] = n % d;
  } else if (sz === 1) {
    const n = ((cpu.r16[EDX << 1]! << 16) | cpu.r16[0]!) >>> 0;
    const q = Math.floor(n / d);
    if (q > 0xffff) cpu.raise(Vec.DE);
    cpu.r16[0] = q;
    cpu.r16[EDX << 1] = n % d;
  } else {
    const hi = cpu.r32[EDX]! >>> 0;
    const lo = cpu.r32[EAX]! >>> 0;
    const dv = d >>> 0;
    if (hi >= dv) cpu.raise(Vec.DE);
    if (hi === 0) {
      cpu.r32[EAX] = Math.floor(lo / dv);
      cpu.r32[EDX] = lo % dv;
    } else {
      divU64(hi, lo, dv, QR);
      cpu.r32[EAX] = QR[0]!;
      cpu.r32[EDX] = QR[1]!;
    }
  }
}

function idiv(cpu: Cpu, i: Instr, sz: number): void {
  const raw = readE(cpu, i, sz);
  if (raw === 0) cpu.raise(Vec.DE);
  if (sz === 0) {
    const n = (cpu.r16[0]! << 16) >> 16;
    const d = (raw << 24) >> 24;
    const q = Math.trunc(n / d);
    if (q > 127 || q < -128) cpu.raise(Vec.DE);
    cpu.r8[0] = q;
    cpu.r8[1] = n % d;
  } else if (sz === 1) {
    const n = (cpu.r16[EDX << 1]! << 16) | cpu.r16[0]!;
    const d = (raw << 16) >> 16;
    const q = Math.trunc(n / d);
    if (q > 32767 || q < -32768) cpu.raise(Vec.DE);
    cpu.r16[0] = q;
    cpu.r16[EDX << 1] = n % d;
  } else {
    // Divide magnitudes, then fix the signs: quotient negative when the signs differ, remainder
    // takes the dividend's sign.
    let hi = cpu.r32[EDX]! | 0;
    let lo = cpu.r32[EAX]! >>> 0;
    const negN = hi < 0;
    if (negN) {
      lo = (~lo + 1) >>> 0;
      hi = (~hi + (lo === 0 ? 1 : 0)) | 0;
    }
    const d = raw | 0;
    const negD = d < 0;
    const dm = negD ? -d >>> 0 : d >>> 0;
    if (hi >>> 0 >= dm) cpu.raise(Vec.DE);
    divU64(hi, lo, dm, QR);
    const qu = QR[0]!;
    const ru = QR[1]!;
    const q = negN !== negD ? -(qu >>> 0) : qu >>> 0;
    if (q > 0x7fffffff || q < -0x80000000) cpu.raise(Vec.DE);
    cpu.r32[EAX] = q;
    cpu.r32[EDX] = negN ? -(ru >>> 0) : ru;
  }
}

function group3(sz: number) {
  const notF = (_cpu: Cpu, v: number): number => not(v, sz);
  const negF = (cpu: Cpu, v: number): number => neg(cpu, v, sz);
  return (reg: number) => (cpu: Cpu, i: Instr): void => {
    switch (reg) {
      case 0:
      case 1:
        test(cpu, readE(cpu, i, sz), i.imm & MASK[sz]!, sz);
        return;
      case 2:
        rmw(cpu, i, sz, notF);
        return;
      case 3:
        rmw(cpu, i, sz, negF);
        return;
      case 4:
        mul(cpu, readE(cpu, i, sz), sz);
        return;
      case 5:
        imul1(cpu, readE(cpu, i, sz), sz);
        return;
      case 6:
        div(cpu, i, sz);
        return;
      default:
        idiv(cpu, i, sz);
    }
  };
}

export function registerArith(t: OpTable): void {
  for (let r = 0; r < 8; r++) {
    t.define(0x40 + r, {
      name: `inc_r${r}`,
      h16: (cpu) => (cpu.r16[r << 1] = inc(cpu, cpu.r16[r << 1]!, 1)),
      h32: (cpu) => (cpu.r32[r] = inc(cpu, cpu.r32[r]!, 2)),
    });
    t.define(0x48 + r, {
      name: `dec_r${r}`,
      h16: (cpu) => (cpu.r16[r << 1] = dec(cpu, cpu.r16[r << 1]!, 1)),
      h32: (cpu) => (cpu.r32[r] = dec(cpu, cpu.r32[r]!, 2)),
    });
  }
  const incF = [0, 1, 2].map((sz) => (cpu: Cpu, v: number): number => inc(cpu, v, sz));
  const decF = [0, 1, 2].map((sz) => (cpu: Cpu, v: number): number => dec(cpu, v, sz));
  t.defineGroup(0xfe, 0, { name: 'inc_Eb', lockable: true, h: (cpu, i) => rmw(cpu, i, 0, incF[0]!) });
  t.defineGroup(0xfe, 1, { name: 'dec_Eb', lockable: true, h: (cpu, i) => rmw(cpu, i, 0, decF[0]!) });
  t.defineGroup(0xff, 0, {
    name: 'inc_Ev',
    lockable: true,
    h16: (cpu, i) => rmw(cpu, i, 1, incF[1]!),
    h32: (cpu, i) => rmw(cpu, i, 2, incF[2]!),
  });
  t.defineGroup(0xff, 1, {
    name: 'dec_Ev',
    lockable: true,
    h16: (cpu, i) => rmw(cpu, i, 1, decF[1]!),
    h32: (cpu, i) => rmw(cpu, i, 2, decF[2]!),
  });

  const g3b = group3(0);
  const g3w = group3(1);
  const g3d = group3(2);
  const names = ['test', 'test', 'not', 'neg', 'mul', 'imul', 'div', 'idiv'];
  for (let r = 0; r < 8; r++) {
    const imm = r < 2;
    const lockable = r === 2 || r === 3;
    t.defineGroup(0xf6, r, { name: `${names[r]}_Eb`, imm: imm ? Imm.Ib : Imm.None, h: g3b(r), lockable });
    t.defineGroup(0xf7, r, { name: `${names[r]}_Ev`, imm: imm ? Imm.Iz : Imm.None, h16: g3w(r), h32: g3d(r), lockable });
  }
  t.define(0x84, { name: 'test_EbGb', modrm: true, h: (cpu, i) => test(cpu, cpu.readE8(i), cpu.r8[i.rb]!, 0) });
  t.define(0x85, {
    name: 'test_EvGv',
    modrm: true,
    h16: (cpu, i) => test(cpu, cpu.readE16(i), cpu.r16[i.reg << 1]!, 1),
    h32: (cpu, i) => test(cpu, cpu.readE32(i), cpu.r32[i.reg]!, 2),
  });
  t.define(0xa8, { name: 'test_ALIb', imm: Imm.Ib, h: (cpu, i) => test(cpu, cpu.r8[0]!, i.imm, 0) });
  t.define(0xa9, {
    name: 'test_eAXIz',
    imm: Imm.Iz,
    h16: (cpu, i) => test(cpu, cpu.r16[0]!, i.imm & 0xffff, 1),
    h32: (cpu, i) => test(cpu, cpu.r32[0]!, i.imm, 2),
  });

  t.define(0x0faf, {
    name: 'imul_GvEv',
    modrm: true,
    h16: (cpu, i) => (cpu.r16[i.reg << 1] = imulTrunc(cpu, cpu.r16[i.reg << 1]!, cpu.readE16(i), 1)),
    h32: (cpu, i) => (cpu.r32[i.reg] = imulTrunc(cpu, cpu.r32[i.reg]!, cpu.readE32(i), 2)),
  });
  t.define(0x69, {
    name: 'imul_GvEvIz',
    modrm: true,
    imm: Imm.Iz,
    h16: (cpu, i) => (cpu.r16[i.reg << 1] = imulTrunc(cpu, cpu.readE16(i), i.imm, 1)),
    h32: (cpu, i) => (cpu.r32[i.reg] = imulTrunc(cpu, cpu.readE32(i), i.imm, 2)),
  });
  t.define(0x6b, {
    name: 'imul_GvEvIb',
    modrm: true,
    imm: Imm.Ibs,
    h16: (cpu, i) => (cpu.r16[i.reg << 1] = imulTrunc(cpu, cpu.readE16(i), i.imm, 1)),
    h32: (cpu, i) => (cpu.r32[i.reg] = imulTrunc(cpu, cpu.readE32(i), i.imm, 2)),
  });

  // XADD: temp <- dest + src, src <- dest, dest <- temp (dest last: XADD r,r with one register
  // leaves the sum).
  const xadd = (sz: number) => (cpu: Cpu, i: Instr): void => {
    const m = MASK[sz]!;
    const src = sz === 0 ? cpu.r8[i.rb]! : sz === 1 ? cpu.r16[i.reg << 1]! : cpu.r32[i.reg]!;
    if (i.mod === 3) {
      const d = sz === 0 ? cpu.r8[i.rmb]! : sz === 1 ? cpu.r16[i.rm << 1]! : cpu.r32[i.rm]!;
      const r = (d + src) & m;
      cpu.setLazy(LazyOp.ADD, d, src, r, sz);
      if (sz === 0) {
        cpu.r8[i.rb] = d;
        cpu.r8[i.rmb] = r;
      } else if (sz === 1) {
        cpu.r16[i.reg << 1] = d;
        cpu.r16[i.rm << 1] = r;
      } else {
        cpu.r32[i.reg] = d;
        cpu.r32[i.rm] = r;
      }
      return;
    }
    let old = 0;
    rmw(cpu, i, sz, (_cpu, d) => {
      old = d;
      const r = (d + src) & m;
      cpu.setLazy(LazyOp.ADD, d, src, r, sz);
      return r;
    });
    if (sz === 0) cpu.r8[i.rb] = old;
    else if (sz === 1) cpu.r16[i.reg << 1] = old;
    else cpu.r32[i.reg] = old;
  };
  t.define(0x0fc0, { name: 'xadd_EbGb', modrm: true, lockable: true, h: xadd(0) });
  t.define(0x0fc1, { name: 'xadd_EvGv', modrm: true, lockable: true, h16: xadd(1), h32: xadd(2) });

  // CMPXCHG: compare the accumulator with dest; equal -> dest = src, else acc = dest (dest is
  // written back either way, as the locked bus cycle does).
  const cmpxchg = (sz: number) => (cpu: Cpu, i: Instr): void => {
    const m = MASK[sz]!;
    const acc = sz === 0 ? cpu.r8[0]! : sz === 1 ? cpu.r16[0]! : cpu.r32[EAX]!;
    const src = sz === 0 ? cpu.r8[i.rb]! : sz === 1 ? cpu.r16[i.reg << 1]! : cpu.r32[i.reg]!;
    let dest = 0;
    rmw(cpu, i, sz, (_cpu, d) => {
      dest = d;
      cpu.setLazy(LazyOp.SUB, acc, d, (acc - d) & m, sz);
      return (acc & m) === (d & m) ? src : d;
    });
    if ((acc & m) !== (dest & m)) {
      if (sz === 0) cpu.r8[0] = dest;
      else if (sz === 1) cpu.r16[0] = dest;
      else cpu.r32[EAX] = dest;
    }
  };
  t.define(0x0fb0, { name: 'cmpxchg_EbGb', modrm: true, lockable: true, h: cmpxchg(0) });
  t.define(0x0fb1, { name: 'cmpxchg_EvGv', modrm: true, lockable: true, h16: cmpxchg(1), h32: cmpxchg(2) });

  t.defineGroup(0x0fc7, 1, {
    name: 'cmpxchg8b_Mq',
    lockable: true,
    h: (cpu, i) => {
      if (i.mod === 3) cpu.raiseUD();
      const lin = cpu.rmwLin(i, 8);
      const lo = cpu.readLin32(lin);
      const hi = cpu.readLin32((lin + 4) | 0);
      cpu.materialize(ZF);
      if (lo === cpu.r32[EAX] && hi === cpu.r32[EDX]) {
        cpu.writeLin32(lin, cpu.r32[EBX]!);
        cpu.writeLin32((lin + 4) | 0, cpu.r32[ECX]!);
        cpu.flagsRaw |= ZF;
      } else {
        cpu.writeLin32(lin, lo);
        cpu.writeLin32((lin + 4) | 0, hi);
        cpu.r32[EAX] = lo;
        cpu.r32[EDX] = hi;
        cpu.flagsRaw &= ~ZF;
      }
    },
  });
}
