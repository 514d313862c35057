// Stack instructions: PUSH/POP of registers, immediates, memory and segment registers, PUSHA/POPA,
// ENTER/LEAVE, and BOUND (SDM vol. 2). Pops read before they commit ESP so a fault leaves it alone.

import type { Cpu } from '../cpu.ts';
import { CS, DS, ES, FS, GS, Imm, SS, type Instr, type OpTable } from '../decode.ts';
import { Vec } from '../fault.ts';
import { loadSegment } from '../segments.ts';

const ESP = 4, EBP = 5;

/**
 * POP of a segment register. The pop belongs to the stack it reads: SP or ESP moves by the size of
 * the stack that held the value (SP wraps at 64 KiB on a 16-bit stack and ESP's upper half is kept),
 * and only then does a popped SS take effect, with its own B bit for what follows (SDM vol. 2 POP:
 * the increment is part of the pop, before "SS <- selector").
 */
function popSreg(s: number) {
  const pop = (cpu: Cpu, w: number): void => {
    const v = w === 4 ? cpu.peek32(0) & 0xffff : cpu.peek16(0);
    const oldBig = cpu.ssB;
    const esp = cpu.r32[ESP]!;
    const next = oldBig ? (esp + w) | 0 : (esp & ~0xffff) | ((esp + w) & 0xffff);
    loadSegment(cpu, s, v);
    cpu.r32[ESP] = next;
    if (s === SS) {
      cpu.shadow = true;
      cpu.brk = true;
    }
  };
  return { h16: (cpu: Cpu): void => pop(cpu, 2), h32: (cpu: Cpu): void => pop(cpu, 4) };
}

function pushSreg(s: number) {
  return {
    h16: (cpu: Cpu): void => cpu.push16(cpu.sel[s]!),
    // A 32-bit push of a segment register moves ESP by 4 but writes only the selector's 16 bits.
    h32: (cpu: Cpu): void => {
      const sp = cpu.pushOffset(4);
      cpu.write16(SS, sp, cpu.sel[s]!);
      cpu.setSp(sp);
    },
  };
}

export function registerStack(t: OpTable): void {
  for (let r = 0; r < 8; r++) {
    t.define(0x50 + r, {
      name: `push_r${r}`,
      h16: (cpu) => cpu.push16(cpu.r16[r << 1]!),
      h32: (cpu) => cpu.push32(cpu.r32[r]!),
    });
    t.define(0x58 + r, {
      name: `pop_r${r}`,
      h16: (cpu) => {
        const v = cpu.peek16(0);
        cpu.adjustSp(2);
        cpu.r16[r << 1] = v;
      },
      h32: (cpu) => {
        const v = cpu.peek32(0);
        cpu.adjustSp(4);
        cpu.r32[r] = v;
      },
    });
  }
  t.define(0x68, { name: 'push_Iz', imm: Imm.Iz, h16: (cpu, i) => cpu.push16(i.imm), h32: (cpu, i) => cpu.push32(i.imm) });
  t.define(0x6a, { name: 'push_Ib', imm: Imm.Ibs, h16: (cpu, i) => cpu.push16(i.imm), h32: (cpu, i) => cpu.push32(i.imm) });
  t.defineGroup(0xff, 6, {
    name: 'push_Ev',
    h16: (cpu, i) => cpu.push16(cpu.readE16(i)),
    h32: (cpu, i) => cpu.push32(cpu.readE32(i)),
  });
  t.defineGroup(0x8f, 0, {
    name: 'pop_Ev',
    // The destination address is computed with ESP already incremented.
    h16: (cpu, i) => {
      const v = cpu.peek16(0);
      if (i.mod === 3) {
        cpu.adjustSp(2);
        cpu.r16[i.rm << 1] = v;
        return;
      }
      const sp0 = cpu.r32[ESP]!;
      cpu.adjustSp(2);
      try {
        cpu.write16(i.seg, cpu.ea(i), v);
      } catch (e) {
        cpu.r32[ESP] = sp0;
        throw e;
      }
    },
    h32: (cpu, i) => {
      const v = cpu.peek32(0);
      if (i.mod === 3) {
        cpu.adjustSp(4);
        cpu.r32[i.rm] = v;
        return;
      }
      const sp0 = cpu.r32[ESP]!;
      cpu.adjustSp(4);
      try {
        cpu.write32(i.seg, cpu.ea(i), v);
      } catch (e) {
        cpu.r32[ESP] = sp0;
        throw e;
      }
    },
  });
  t.define(0x06, { name: 'push_ES', ...pushSreg(ES) });
  t.define(0x0e, { name: 'push_CS', ...pushSreg(CS) });
  t.define(0x16, { name: 'push_SS', ...pushSreg(SS) });
  t.define(0x1e, { name: 'push_DS', ...pushSreg(DS) });
  t.define(0x0fa0, { name: 'push_FS', ...pushSreg(FS) });
  t.define(0x0fa8, { name: 'push_GS', ...pushSreg(GS) });
  t.define(0x07, { name: 'pop_ES', ...popSreg(ES) });
  t.define(0x17, { name: 'pop_SS', flow: true, ...popSreg(SS) });
  t.define(0x1f, { name: 'pop_DS', ...popSreg(DS) });
  t.define(0x0fa1, { name: 'pop_FS', ...popSreg(FS) });
  t.define(0x0fa9, { name: 'pop_GS', ...popSreg(GS) });

  t.define(0x60, {
    name: 'pusha',
    h16: (cpu) => {
      const sp = cpu.sp;
      const vals = [0, 1, 2, 3].map((r) => cpu.r16[r << 1]!);
      vals.push(cpu.r16[ESP << 1]!, cpu.r16[EBP << 1]!, cpu.r16[6 << 1]!, cpu.r16[7 << 1]!);
      writeFrame(cpu, sp, vals, 2);
    },
    h32: (cpu) => {
      const sp = cpu.sp;
      const vals = [0, 1, 2, 3, 4, 5, 6, 7].map((r) => cpu.r32[r]!);
      writeFrame(cpu, sp, vals, 4);
    },
  });
  t.define(0x61, {
    name: 'popa',
    h16: (cpu) => {
      const v: number[] = [];
      for (let k = 0; k < 8; k++) v.push(cpu.peek16(k * 2));
      cpu.adjustSp(16);
      const order = [7, 6, 5, -1, 3, 2, 1, 0];
      order.forEach((r, k) => {
        if (r >= 0) cpu.r16[r << 1] = v[k]!;
      });
    },
    h32: (cpu) => {
      const v: number[] = [];
      for (let k = 0; k < 8; k++) v.push(cpu.peek32(k * 4));
      cpu.adjustSp(32);
      const order = [7, 6, 5, -1, 3, 2, 1, 0];
      order.forEach((r, k) => {
        if (r >= 0) cpu.r32[r] = v[k]!;
      });
    },
  });

  t.define(0xc8, { name: 'enter_IwIb', imm: Imm.IwIb, h16: (cpu, i) => enter(cpu, i, 2), h32: (cpu, i) => enter(cpu, i, 4) });
  t.define(0xc9, {
    name: 'leave',
    h16: (cpu) => {
      const bp = cpu.ssB ? cpu.r32[EBP]! : cpu.r16[EBP << 1]!;
      const v = cpu.read16(SS, bp);
      if (cpu.ssB) cpu.r32[ESP] = bp + 2;
      else cpu.r16[ESP << 1] = bp + 2;
      cpu.r16[EBP << 1] = v;
    },
    h32: (cpu) => {
      const bp = cpu.ssB ? cpu.r32[EBP]! : cpu.r16[EBP << 1]!;
      const v = cpu.read32(SS, bp);
      if (cpu.ssB) cpu.r32[ESP] = bp + 4;
      else cpu.r16[ESP << 1] = bp + 4;
      cpu.r32[EBP] = v;
    },
  });

  t.define(0x62, {
    name: 'bound_GvMa',
    modrm: true,
    h16: (cpu, i) => {
      if (i.mod === 3) cpu.raiseUD();
      const off = cpu.ea(i);
      const lo = (cpu.read16(i.seg, off) << 16) >> 16;
      const hi = (cpu.read16(i.seg, (off + 2) & (i.a32 ? -1 : 0xffff)) << 16) >> 16;
      const v = (cpu.r16[i.reg << 1]! << 16) >> 16;
      if (v < lo || v > hi) cpu.raise(Vec.BR);
    },
    h32: (cpu, i) => {
      if (i.mod === 3) cpu.raiseUD();
      const off = cpu.ea(i);
      const lo = cpu.read32(i.seg, off);
      const hi = cpu.read32(i.seg, (off + 4) & (i.a32 ? -1 : 0xffff));
      const v = cpu.r32[i.reg]!;
      if (v < lo || v > hi) cpu.raise(Vec.BR);
    },
  });
}

/** Writes values as consecutive pushes from sp (first value highest), then commits SP. */
function writeFrame(cpu: Cpu, sp: number, vals: number[], w: number): void {
  const mask = cpu.ssB ? -1 : 0xffff;
  const total = vals.length * w;
  const bottom = (sp - total) & mask;
  cpu.linW(SS, bottom, 1);
  cpu.linW(SS, (sp - 1) & mask, 1);
  let p = sp;
  for (const v of vals) {
    p = (p - w) & mask;
    if (w === 4) cpu.write32(SS, p, v);
    else cpu.write16(SS, p, v);
  }
  cpu.setSp(bottom);
}

/**
 * ENTER imm16, imm8 (SDM vol. 2 ENTER): push the frame pointer, copy level-1 frame pointers from the
 * enclosing frame, push the new frame pointer, allocate imm16 bytes.
 * - The operand size decides what is pushed and which of EBP/BP is loaded; the stack size decides
 *   how SP/ESP and the reads through BP/EBP wrap. FrameTemp is ESP after the first push, so a 32-bit
 *   ENTER on a 16-bit stack pushes, and loads into EBP, ESP's upper half with the new SP.
 * - The enclosing frame pointers are read through a copy of (E)BP: a 16-bit ENTER changes only BP.
 * - The whole frame is checked before anything is written, and the processor also checks a write at
 *   the final stack pointer, after the allocation (the manual's #SS/#PF conditions "a write using the
 *   final value of the stack pointer"): a fault leaves registers and memory as they were. Bochs
 *   probes the same way; the probe is w bytes, the size of a push.
 */
function enter(cpu: Cpu, i: Instr, w: number): void {
  const size = i.imm & 0xffff;
  const level = i.imm2 & 31;
  const big = cpu.ssB;
  const mask = big ? -1 : 0xffff;
  const esp = cpu.r32[ESP]!;
  const sp0 = cpu.sp;
  const frameSp = (sp0 - w) & mask;
  const frameTemp = big ? frameSp : w === 4 ? (esp & ~0xffff) | frameSp : frameSp;
  const vals: number[] = [w === 4 ? cpu.r32[EBP]! : cpu.r16[EBP << 1]!];
  let b = big ? cpu.r32[EBP]! : cpu.r16[EBP << 1]!;
  for (let k = 1; k < level; k++) {
    b = (b - w) & mask;
    vals.push(w === 4 ? cpu.read32(SS, b) : cpu.read16(SS, b));
  }
  if (level > 0) vals.push(frameTemp);
  const framed = (sp0 - vals.length * w) & mask;
  const final = (framed - size) & mask;
  // Segment limits first (#SS), then pages (#PF): every slot of the frame and the final pointer.
  const lins: number[] = [cpu.linW(SS, final, w)];
  let p = sp0;
  for (let k = 0; k < vals.length; k++) {
    p = (p - w) & mask;
    lins.push(cpu.linW(SS, p, w));
  }
  for (const lin of lins) cpu.probeWrite(lin, w);
  p = sp0;
  for (const v of vals) {
    p = (p - w) & mask;
    if (w === 4) cpu.write32(SS, p, v);
    else cpu.write16(SS, p, v);
  }
  if (w === 4) cpu.r32[EBP] = frameTemp;
  else cpu.r16[EBP << 1] = frameTemp;
  if (big) cpu.r32[ESP] = final;
  else cpu.r16[ESP << 1] = final;
}
