// String instructions MOVS CMPS STOS LODS SCAS INS OUTS with REP/REPE/REPNE (SDM vol. 2). Address size
// picks SI/DI/CX or ESI/EDI/ECX; the source segment may be overridden, ES:DI may not. A long REP runs
// in bounded chunks and then re-executes itself, so interrupts are taken between chunks; registers are
// updated per element, so a fault leaves them describing the completed elements. REP MOVS and REP
// STOS forward over plain RAM copy whole runs within a page at a time.

import type { Cpu } from '../cpu.ts';
import { TLB_IO } from '../regs.ts';
import { ES, Rep, type Instr, type OpTable } from '../decode.ts';
import { DF, LazyOp } from '../flags.ts';

const ECX = 1, EDX = 2, ESI = 6, EDI = 7;
const MASK = [0xff, 0xffff, -1] as const;
/** Elements per execution before a REP yields to pending interrupts. */
const CHUNK = 4096;

function si(cpu: Cpu, i: Instr): number {
  return i.a32 ? cpu.r32[ESI]! : cpu.r16[ESI << 1]!;
}
function di(cpu: Cpu, i: Instr): number {
  return i.a32 ? cpu.r32[EDI]! : cpu.r16[EDI << 1]!;
}
function addSi(cpu: Cpu, i: Instr, d: number): void {
  if (i.a32) cpu.r32[ESI] = cpu.r32[ESI]! + d;
  else cpu.r16[ESI << 1] = cpu.r16[ESI << 1]! + d;
}
function addDi(cpu: Cpu, i: Instr, d: number): void {
  if (i.a32) cpu.r32[EDI] = cpu.r32[EDI]! + d;
  else cpu.r16[EDI << 1] = cpu.r16[EDI << 1]! + d;
}
function count(cpu: Cpu, i: Instr): number {
  return i.a32 ? cpu.r32[ECX]! >>> 0 : cpu.r16[ECX << 1]!;
}
function setCount(cpu: Cpu, i: Instr, c: number): void {
  if (i.a32) cpu.r32[ECX] = c;
  else cpu.r16[ECX << 1] = c;
}

function rd(cpu: Cpu, seg: number, off: number, sz: number): number {
  return sz === 0 ? cpu.read8(seg, off) : sz === 1 ? cpu.read16(seg, off) : cpu.read32(seg, off);
}
function wr(cpu: Cpu, seg: number, off: number, sz: number, v: number): void {
  if (sz === 0) cpu.write8(seg, off, v);
  else if (sz === 1) cpu.write16(seg, off, v);
  else cpu.write32(seg, off, v);
}
function acc(cpu: Cpu, sz: number): number {
  return sz === 0 ? cpu.r8[0]! : sz === 1 ? cpu.r16[0]! : cpu.r32[0]!;
}
function setAcc(cpu: Cpu, sz: number, v: number): void {
  if (sz === 0) cpu.r8[0] = v;
  else if (sz === 1) cpu.r16[0] = v;
  else cpu.r32[0] = v;
}

/** One element of a string instruction; `step` is the signed element size. */
type Element = (cpu: Cpu, i: Instr, step: number) => void;

/**
 * Runs `one` for each element under the instruction's REP prefix. `cond` (for CMPS/SCAS) says
 * whether to go on after an element. Returns nothing; re-executes itself after CHUNK elements.
 * The element functions are made once per handler, not per execution: a closure per string
 * instruction was a tenth of the garbage of a Linux boot.
 */
function repeat(cpu: Cpu, i: Instr, one: Element, sz: number, cond: boolean): void {
  const step = cpu.flagsRaw & DF ? -(1 << sz) : 1 << sz;
  if (i.rep === Rep.None) {
    one(cpu, i, step);
    return;
  }
  let c = count(cpu, i);
  for (let n = 0; c !== 0; n++) {
    if (n >= CHUNK) {
      cpu.eip = cpu.prevEip;
      return;
    }
    one(cpu, i, step);
    c = (c - 1) >>> 0;
    setCount(cpu, i, c);
    if (cond) {
      const zf = cpu.zf();
      if (i.rep === Rep.REPE ? !zf : zf) return;
    }
  }
}

/** Bulk REP MOVS/STOS over RAM pages: returns false when the fast path does not apply. */
function bulk(cpu: Cpu, i: Instr, sz: number, isMovs: boolean): boolean {
  if (i.rep === Rep.None || !i.a32 || cpu.flagsRaw & DF) return false;
  const size = 1 << sz;
  let c = count(cpu, i);
  let moved = 0;
  while (c !== 0 && moved < CHUNK * 4) {
    const dOff = cpu.r32[EDI]! >>> 0;
    const dLin = cpu.linW(ES, dOff, size);
    const room = Math.min(0x1000 - (dLin & 0xfff), c * size);
    let n = Math.floor(room / size);
    if (n === 0) return moved > 0 ? finishChunk(cpu, c) : false;
    let sLin = 0;
    if (isMovs) {
      const sOff = cpu.r32[ESI]! >>> 0;
      sLin = cpu.linR(i.seg, sOff, size);
      n = Math.min(n, Math.floor((0x1000 - (sLin & 0xfff)) / size));
      if (n === 0) return moved > 0 ? finishChunk(cpu, c) : false;
      cpu.linR(i.seg, sOff, n * size);
    }
    cpu.linW(ES, dOff, n * size);
    const de = cpu.translate(dLin, true, cpu.cpl === 3);
    if (de & TLB_IO) return moved > 0 ? finishChunk(cpu, c) : false;
    const dPhys = ((de & ~0xfff) | (dLin & 0xfff)) >>> 0;
    if (cpu.mem.codePage[dPhys >>> 12]) cpu.invalidateCodePage(dPhys >>> 12);
    const u8 = cpu.mem.u8;
    if (isMovs) {
      const se = cpu.translate(sLin, false, cpu.cpl === 3);
      if (se & TLB_IO) return moved > 0 ? finishChunk(cpu, c) : false;
      const sPhys = ((se & ~0xfff) | (sLin & 0xfff)) >>> 0;
      if (dPhys > sPhys && dPhys < sPhys + n * size) {
        // Overlapping forward copy: element by element, so earlier stores feed later loads as on
        // the hardware (the pattern-replicating idiom), unlike memmove.
        for (let k = 0; k < n * size; k += size) {
          let v = 0;
          for (let b = 0; b < size; b++) v |= u8[sPhys + k + b]! << (8 * b);
          for (let b = 0; b < size; b++) u8[dPhys + k + b] = v >>> (8 * b);
        }
      } else {
        u8.copyWithin(dPhys, sPhys, sPhys + n * size);
      }
      cpu.r32[ESI] = cpu.r32[ESI]! + n * size;
    } else if (sz === 0) {
      u8.fill(cpu.r8[0]!, dPhys, dPhys + n);
    } else {
      const a = cpu.r32[0]!;
      for (let k = 0; k < n; k++) {
        const p = dPhys + k * size;
        u8[p] = a;
        u8[p + 1] = a >>> 8;
        if (sz === 2) {
          u8[p + 2] = a >>> 16;
          u8[p + 3] = a >>> 24;
        }
      }
    }
    cpu.r32[EDI] = cpu.r32[EDI]! + n * size;
    c = (c - n) >>> 0;
    setCount(cpu, i, c);
    moved += n;
  }
  return finishChunk(cpu, c);
}

function finishChunk(cpu: Cpu, c: number): boolean {
  if (c !== 0) cpu.eip = cpu.prevEip;
  return true;
}

function movs(sz: number) {
  const one: Element = (cpu, i, step) => {
    const v = rd(cpu, i.seg, si(cpu, i), sz);
    wr(cpu, ES, di(cpu, i), sz, v);
    addSi(cpu, i, step);
    addDi(cpu, i, step);
  };
  return (cpu: Cpu, i: Instr): void => {
    if (!bulk(cpu, i, sz, true)) repeat(cpu, i, one, sz, false);
  };
}

function stos(sz: number) {
  const one: Element = (cpu, i, step) => {
    wr(cpu, ES, di(cpu, i), sz, acc(cpu, sz));
    addDi(cpu, i, step);
  };
  return (cpu: Cpu, i: Instr): void => {
    if (!bulk(cpu, i, sz, false)) repeat(cpu, i, one, sz, false);
  };
}

function lods(sz: number) {
  const one: Element = (cpu, i, step) => {
    setAcc(cpu, sz, rd(cpu, i.seg, si(cpu, i), sz));
    addSi(cpu, i, step);
  };
  return (cpu: Cpu, i: Instr): void => repeat(cpu, i, one, sz, false);
}

function cmps(sz: number) {
  const m = MASK[sz]!;
  const one: Element = (cpu, i, step) => {
    const a = rd(cpu, i.seg, si(cpu, i), sz);
    const b = rd(cpu, ES, di(cpu, i), sz);
    cpu.setLazy(LazyOp.SUB, a, b, (a - b) & m, sz);
    addSi(cpu, i, step);
    addDi(cpu, i, step);
  };
  return (cpu: Cpu, i: Instr): void => repeat(cpu, i, one, sz, true);
}

function scas(sz: number) {
  const m = MASK[sz]!;
  const one: Element = (cpu, i, step) => {
    const a = acc(cpu, sz);
    const b = rd(cpu, ES, di(cpu, i), sz);
    cpu.setLazy(LazyOp.SUB, a, b, (a - b) & m, sz);
    addDi(cpu, i, step);
  };
  return (cpu: Cpu, i: Instr): void => repeat(cpu, i, one, sz, true);
}

function ins(sz: number) {
  const size = (1 << sz) as 1 | 2 | 4;
  const one: Element = (cpu, i, step) => {
    const port = cpu.r16[EDX << 1]!;
    // The destination must be writable before the port is read (a read can have side effects).
    cpu.probeWrite(cpu.linW(ES, di(cpu, i), size), size);
    const v = cpu.in(port, size);
    wr(cpu, ES, di(cpu, i), sz, v);
    addDi(cpu, i, step);
  };
  return (cpu: Cpu, i: Instr): void => repeat(cpu, i, one, sz, false);
}

function outs(sz: number) {
  const size = (1 << sz) as 1 | 2 | 4;
  const one: Element = (cpu, i, step) => {
    const v = rd(cpu, i.seg, si(cpu, i), sz);
    cpu.out(cpu.r16[EDX << 1]!, size, v >>> 0);
    addSi(cpu, i, step);
  };
  return (cpu: Cpu, i: Instr): void => repeat(cpu, i, one, sz, false);
}

export function registerString(t: OpTable): void {
  const pair = (name: string, b: number, f: (sz: number) => (cpu: Cpu, i: Instr) => void): void => {
    t.define(b, { name: `${name}b`, h: f(0) });
    t.define(b + 1, { name: `${name}v`, h16: f(1), h32: f(2) });
  };
  pair('movs', 0xa4, movs);
  pair('cmps', 0xa6, cmps);
  pair('stos', 0xaa, stos);
  pair('lods', 0xac, lods);
  pair('scas', 0xae, scas);
  pair('ins', 0x6c, ins);
  pair('outs', 0x6e, outs);
}
