// Near control transfers: Jcc, JMP, CALL, RET, LOOPcc, JCXZ (SDM vol. 2). A 16-bit operand size
// truncates the target to 16 bits; the target must lie within the CS limit (#GP(0)).

import type { Cpu } from '../cpu.ts';
import { CS } from '../decode.ts';
import { Imm, type Instr, type OpTable } from '../decode.ts';

const ECX = 1;

function target(cpu: Cpu, i: Instr, t: number): number {
  t = i.o32 ? t | 0 : t & 0xffff;
  if (t >>> 0 > cpu.segLimit[CS]!) cpu.raiseGP(0);
  return t;
}

function jcc(cc: number) {
  return (cpu: Cpu, i: Instr): void => {
    if (cpu.cond(cc)) cpu.eip = target(cpu, i, cpu.eip + i.imm);
  };
}

function jmpRel(cpu: Cpu, i: Instr): void {
  cpu.eip = target(cpu, i, cpu.eip + i.imm);
}

function callRel(cpu: Cpu, i: Instr): void {
  const t = target(cpu, i, cpu.eip + i.imm);
  if (i.o32) cpu.push32(cpu.eip);
  else cpu.push16(cpu.eip);
  cpu.eip = t;
}

function callE(cpu: Cpu, i: Instr): void {
  const t = target(cpu, i, i.o32 ? cpu.readE32(i) : cpu.readE16(i));
  if (i.o32) cpu.push32(cpu.eip);
  else cpu.push16(cpu.eip);
  cpu.eip = t;
}

function jmpE(cpu: Cpu, i: Instr): void {
  cpu.eip = target(cpu, i, i.o32 ? cpu.readE32(i) : cpu.readE16(i));
}

function retNear(cpu: Cpu, i: Instr): void {
  const v = i.o32 ? cpu.peek32(0) : cpu.peek16(0);
  const t = target(cpu, i, v);
  cpu.adjustSp((i.o32 ? 4 : 2) + (i.opcode === 0xc2 ? i.imm : 0));
  cpu.eip = t;
}

/** LOOP/LOOPE/LOOPNE/JCXZ count in CX or ECX by the address size. */
function loop(kind: number) {
  return (cpu: Cpu, i: Instr): void => {
    let count: number;
    if (kind === 3) {
      count = i.a32 ? cpu.r32[ECX]! : cpu.r16[ECX << 1]!;
      if (count === 0) cpu.eip = target(cpu, i, cpu.eip + i.imm);
      return;
    }
    if (i.a32) count = cpu.r32[ECX] = cpu.r32[ECX]! - 1;
    else count = cpu.r16[ECX << 1] = cpu.r16[ECX << 1]! - 1;
    let take = count !== 0;
    if (kind === 0) take &&= !cpu.zf(); // LOOPNE
    else if (kind === 1) take &&= cpu.zf(); // LOOPE
    if (take) cpu.eip = target(cpu, i, cpu.eip + i.imm);
  };
}

const CC = ['o', 'no', 'b', 'nb', 'z', 'nz', 'be', 'nbe', 's', 'ns', 'p', 'np', 'l', 'nl', 'le', 'nle'];

export function registerControl(t: OpTable): void {
  for (let cc = 0; cc < 16; cc++) {
    t.define(0x70 + cc, { name: `j${CC[cc]}_Jb`, imm: Imm.Jb, h: jcc(cc), flow: true });
    t.define(0x0f80 + cc, { name: `j${CC[cc]}_Jz`, imm: Imm.Jz, h: jcc(cc), flow: true });
  }
  t.define(0xeb, { name: 'jmp_Jb', imm: Imm.Jb, h: jmpRel, flow: true });
  t.define(0xe9, { name: 'jmp_Jz', imm: Imm.Jz, h: jmpRel, flow: true });
  t.define(0xe8, { name: 'call_Jz', imm: Imm.Jz, h: callRel, flow: true });
  t.define(0xc3, { name: 'ret', h: retNear, flow: true });
  t.define(0xc2, { name: 'ret_Iw', imm: Imm.Iw, h: retNear, flow: true });
  t.define(0xe0, { name: 'loopne_Jb', imm: Imm.Jb, h: loop(0), flow: true });
  t.define(0xe1, { name: 'loope_Jb', imm: Imm.Jb, h: loop(1), flow: true });
  t.define(0xe2, { name: 'loop_Jb', imm: Imm.Jb, h: loop(2), flow: true });
  t.define(0xe3, { name: 'jcxz_Jb', imm: Imm.Jb, h: loop(3), flow: true });
  t.defineGroup(0xff, 2, { name: 'call_Ev', h: callE, flow: true });
  t.defineGroup(0xff, 4, { name: 'jmp_Ev', h: jmpE, flow: true });
}
