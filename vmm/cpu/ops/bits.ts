// Bit test and scan: BT/BTS/BTR/BTC with register or immediate bit offsets (a register offset reaches
// outside the addressed operand in memory), BSF/BSR (SDM vol. 2).
//
// Undefined results, chosen as QEMU models a P6:
// - BSF/BSR with a zero source leave the destination unchanged (what P6 processors do, and what AMD
//   documents) and set ZF.
// - Their CF, OF, SF, AF and PF are undefined: they come out as after a logical operation on the
//   source (CF = OF = AF = 0, SF and PF from the source), with ZF set exactly when the source is 0.
// - BT/BTS/BTR/BTC leave OF, SF, AF and PF unchanged (the SDM's "undefined"; QEMU and Bochs keep them).

import type { Cpu } from '../cpu.ts';
import { Imm, type Instr, type OpTable } from '../decode.ts';
import { CF, LazyOp } from '../flags.ts';

function setCf(cpu: Cpu, on: boolean): void {
  cpu.materialize(CF);
  if (on) cpu.flagsRaw |= CF;
  else cpu.flagsRaw &= ~CF;
}

/** op: 0 BT, 1 BTS, 2 BTR, 3 BTC. bitOffset is the signed offset from the register or the immediate. */
function bitOp(cpu: Cpu, i: Instr, op: number, sz: number, bitOffset: number, fromReg: boolean): void {
  const bits = sz === 1 ? 16 : 32;
  if (i.mod === 3) {
    const b = bitOffset & (bits - 1);
    const v = sz === 1 ? cpu.r16[i.rm << 1]! : cpu.r32[i.rm]!;
    setCf(cpu, ((v >>> b) & 1) !== 0);
    if (op === 0) return;
    const r = op === 1 ? v | (1 << b) : op === 2 ? v & ~(1 << b) : v ^ (1 << b);
    if (sz === 1) cpu.r16[i.rm << 1] = r;
    else cpu.r32[i.rm] = r;
    return;
  }
  let off = cpu.ea(i);
  let b: number;
  if (fromReg) {
    const signed = sz === 1 ? (bitOffset << 16) >> 16 : bitOffset | 0;
    off = off + (signed >> (sz === 1 ? 4 : 5)) * (bits / 8);
    off = i.a32 ? off | 0 : off & 0xffff;
    b = signed & (bits - 1);
  } else {
    b = bitOffset & (bits - 1);
  }
  if (op === 0) {
    const v = sz === 1 ? cpu.read16(i.seg, off) : cpu.read32(i.seg, off);
    setCf(cpu, ((v >>> b) & 1) !== 0);
    return;
  }
  const lin = cpu.linW(i.seg, off, bits / 8);
  cpu.probeWrite(lin, bits / 8);
  const v = sz === 1 ? cpu.readLin16(lin) : cpu.readLin32(lin);
  setCf(cpu, ((v >>> b) & 1) !== 0);
  const r = op === 1 ? v | (1 << b) : op === 2 ? v & ~(1 << b) : v ^ (1 << b);
  if (sz === 1) cpu.writeLin16(lin, r);
  else cpu.writeLin32(lin, r);
}

function scan(forward: boolean) {
  const run = (sz: number) => (cpu: Cpu, i: Instr): void => {
    // As an int32 like every lazy-flags value: one unsigned source above 2^31 made V8 keep cpu.lres
    // as a boxed double from then on, for every flag-setting instruction in both engines.
    const v = sz === 1 ? cpu.readE16(i) : cpu.readE32(i) | 0;
    cpu.setLazy(LazyOp.LOGIC, 0, 0, v, sz);
    if (v === 0) return;
    const idx = forward ? 31 - Math.clz32(v & -v) : 31 - Math.clz32(v);
    if (sz === 1) cpu.r16[i.reg << 1] = idx;
    else cpu.r32[i.reg] = idx;
  };
  return { h16: run(1), h32: run(2) };
}

export function registerBits(t: OpTable): void {
  const regForm = (op: number) => ({
    modrm: true,
    lockable: op !== 0,
    h16: (cpu: Cpu, i: Instr) => bitOp(cpu, i, op, 1, cpu.r16[i.reg << 1]!, true),
    h32: (cpu: Cpu, i: Instr) => bitOp(cpu, i, op, 2, cpu.r32[i.reg]!, true),
  });
  t.define(0x0fa3, { name: 'bt_EvGv', ...regForm(0) });
  t.define(0x0fab, { name: 'bts_EvGv', ...regForm(1) });
  t.define(0x0fb3, { name: 'btr_EvGv', ...regForm(2) });
  t.define(0x0fbb, { name: 'btc_EvGv', ...regForm(3) });
  const names = ['bt', 'bts', 'btr', 'btc'];
  for (let op = 0; op < 4; op++) {
    t.defineGroup(0x0fba, 4 + op, {
      name: `${names[op]}_EvIb`,
      imm: Imm.Ib,
      lockable: op !== 0,
      h16: (cpu, i) => bitOp(cpu, i, op, 1, i.imm, false),
      h32: (cpu, i) => bitOp(cpu, i, op, 2, i.imm, false),
    });
  }
  t.define(0x0fbc, { name: 'bsf_GvEv', modrm: true, ...scan(true) });
  t.define(0x0fbd, { name: 'bsr_GvEv', modrm: true, ...scan(false) });
}
