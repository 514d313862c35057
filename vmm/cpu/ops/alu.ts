// The eight classic ALU operations (ADD OR ADC SBB AND SUB XOR CMP) in their opcode block 00-3F and the
// immediate group 80/81/83 (SDM vol. 2; opcode map table A-2): their operand forms. What each
// operation computes is `alu()`, generated from the table the translator also reads
// (gen/integer-table.ts); one switch computes every operation so the hot path stays monomorphic.

import type { Cpu } from '../cpu.ts';
import { Imm, type Instr, type OpTable } from '../decode.ts';
import { ALU_OPS } from '../gen/integer-table.ts';
import { alu } from './integer-ops.generated.ts';

export const enum Alu {
  ADD = 0,
  OR = 1,
  ADC = 2,
  SBB = 3,
  AND = 4,
  SUB = 5,
  XOR = 6,
  CMP = 7,
}

const NAMES = ALU_OPS.map((op) => op.name);

function ebGb(op: number) {
  return (cpu: Cpu, i: Instr): void => {
    const b = cpu.r8[i.rb]!;
    if (i.mod === 3) {
      const r = alu(cpu, op, cpu.r8[i.rmb]!, b, 0);
      if (op !== Alu.CMP) cpu.r8[i.rmb] = r;
    } else if (op === Alu.CMP) {
      alu(cpu, op, cpu.read8(i.seg, cpu.ea(i)), b, 0);
    } else {
      const lin = cpu.rmwLin(i, 1);
      cpu.writeLin8(lin, alu(cpu, op, cpu.readLin8(lin), b, 0));
    }
  };
}

function evGv16(op: number) {
  return (cpu: Cpu, i: Instr): void => {
    const b = cpu.r16[i.reg << 1]!;
    if (i.mod === 3) {
      const r = alu(cpu, op, cpu.r16[i.rm << 1]!, b, 1);
      if (op !== Alu.CMP) cpu.r16[i.rm << 1] = r;
    } else if (op === Alu.CMP) {
      alu(cpu, op, cpu.read16(i.seg, cpu.ea(i)), b, 1);
    } else {
      const lin = cpu.rmwLin(i, 2);
      cpu.writeLin16(lin, alu(cpu, op, cpu.readLin16(lin), b, 1));
    }
  };
}

function evGv32(op: number) {
  return (cpu: Cpu, i: Instr): void => {
    const b = cpu.r32[i.reg]!;
    if (i.mod === 3) {
      const r = alu(cpu, op, cpu.r32[i.rm]!, b, 2);
      if (op !== Alu.CMP) cpu.r32[i.rm] = r;
    } else if (op === Alu.CMP) {
      alu(cpu, op, cpu.read32(i.seg, cpu.ea(i)), b, 2);
    } else {
      const lin = cpu.rmwLin(i, 4);
      cpu.writeLin32(lin, alu(cpu, op, cpu.readLin32(lin), b, 2));
    }
  };
}

function gbEb(op: number) {
  return (cpu: Cpu, i: Instr): void => {
    const r = alu(cpu, op, cpu.r8[i.rb]!, cpu.readE8(i), 0);
    if (op !== Alu.CMP) cpu.r8[i.rb] = r;
  };
}
function gvEv16(op: number) {
  return (cpu: Cpu, i: Instr): void => {
    const r = alu(cpu, op, cpu.r16[i.reg << 1]!, cpu.readE16(i), 1);
    if (op !== Alu.CMP) cpu.r16[i.reg << 1] = r;
  };
}
function gvEv32(op: number) {
  return (cpu: Cpu, i: Instr): void => {
    const r = alu(cpu, op, cpu.r32[i.reg]!, cpu.readE32(i), 2);
    if (op !== Alu.CMP) cpu.r32[i.reg] = r;
  };
}
function alIb(op: number) {
  return (cpu: Cpu, i: Instr): void => {
    const r = alu(cpu, op, cpu.r8[0]!, i.imm & 0xff, 0);
    if (op !== Alu.CMP) cpu.r8[0] = r;
  };
}
function axIz16(op: number) {
  return (cpu: Cpu, i: Instr): void => {
    const r = alu(cpu, op, cpu.r16[0]!, i.imm & 0xffff, 1);
    if (op !== Alu.CMP) cpu.r16[0] = r;
  };
}
function eaxIz32(op: number) {
  return (cpu: Cpu, i: Instr): void => {
    const r = alu(cpu, op, cpu.r32[0]!, i.imm, 2);
    if (op !== Alu.CMP) cpu.r32[0] = r;
  };
}

/** Group 1 (80/81/83): E op immediate. */
function ebIb(op: number) {
  return (cpu: Cpu, i: Instr): void => {
    const b = i.imm & 0xff;
    if (i.mod === 3) {
      const r = alu(cpu, op, cpu.r8[i.rmb]!, b, 0);
      if (op !== Alu.CMP) cpu.r8[i.rmb] = r;
    } else if (op === Alu.CMP) {
      alu(cpu, op, cpu.read8(i.seg, cpu.ea(i)), b, 0);
    } else {
      const lin = cpu.rmwLin(i, 1);
      cpu.writeLin8(lin, alu(cpu, op, cpu.readLin8(lin), b, 0));
    }
  };
}
function evI16(op: number) {
  return (cpu: Cpu, i: Instr): void => {
    const b = i.imm & 0xffff;
    if (i.mod === 3) {
      const r = alu(cpu, op, cpu.r16[i.rm << 1]!, b, 1);
      if (op !== Alu.CMP) cpu.r16[i.rm << 1] = r;
    } else if (op === Alu.CMP) {
      alu(cpu, op, cpu.read16(i.seg, cpu.ea(i)), b, 1);
    } else {
      const lin = cpu.rmwLin(i, 2);
      cpu.writeLin16(lin, alu(cpu, op, cpu.readLin16(lin), b, 1));
    }
  };
}
function evI32(op: number) {
  return (cpu: Cpu, i: Instr): void => {
    const b = i.imm;
    if (i.mod === 3) {
      const r = alu(cpu, op, cpu.r32[i.rm]!, b, 2);
      if (op !== Alu.CMP) cpu.r32[i.rm] = r;
    } else if (op === Alu.CMP) {
      alu(cpu, op, cpu.read32(i.seg, cpu.ea(i)), b, 2);
    } else {
      const lin = cpu.rmwLin(i, 4);
      cpu.writeLin32(lin, alu(cpu, op, cpu.readLin32(lin), b, 2));
    }
  };
}

export function registerAlu(t: OpTable): void {
  for (let op = 0; op < 8; op++) {
    const base = op << 3;
    const n = NAMES[op]!;
    const lockable = op !== Alu.CMP;
    t.define(base + 0, { name: `${n}_EbGb`, modrm: true, h: ebGb(op), lockable });
    t.define(base + 1, { name: `${n}_EvGv`, modrm: true, h16: evGv16(op), h32: evGv32(op), lockable });
    t.define(base + 2, { name: `${n}_GbEb`, modrm: true, h: gbEb(op) });
    t.define(base + 3, { name: `${n}_GvEv`, modrm: true, h16: gvEv16(op), h32: gvEv32(op) });
    t.define(base + 4, { name: `${n}_ALIb`, imm: Imm.Ib, h: alIb(op) });
    t.define(base + 5, { name: `${n}_eAXIz`, imm: Imm.Iz, h16: axIz16(op), h32: eaxIz32(op) });
    t.defineGroup(0x80, op, { name: `${n}_EbIb`, imm: Imm.Ib, h: ebIb(op), lockable });
    t.defineGroup(0x81, op, { name: `${n}_EvIz`, imm: Imm.Iz, h16: evI16(op), h32: evI32(op), lockable });
    // 82 is an alias of 80 on 32-bit processors.
    t.defineGroup(0x82, op, { name: `${n}_EbIb`, imm: Imm.Ib, h: ebIb(op), lockable });
    t.defineGroup(0x83, op, { name: `${n}_EvIb`, imm: Imm.Ibs, h16: evI16(op), h32: evI32(op), lockable });
  }
}
