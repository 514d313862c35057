// The x86 decoder: bytes -> one decoded instruction (Instr). The same decoded form serves the
// interpreter (which calls i.h) and later the translator (which reads i.spec for block ends and
// operand forms). Decoding follows SDM vol. 2 ch. 2: legacy prefixes, one- or two-byte opcode, ModRM,
// SIB, displacement, immediate. Deviations from the manual are listed here:
// - More than 15 bytes raises #GP(0) as the P6 does (not #UD).
// - Redundant prefixes are accepted; the last segment override wins.

import type { Cpu } from './cpu.ts';
import { FAULT } from './fault.ts';

export type Handler = (cpu: Cpu, i: Instr) => void;

export const enum Imm {
  None = 0,
  /** 8-bit immediate, zero-extended. */
  Ib,
  /** 8-bit immediate, sign-extended to the operand size. */
  Ibs,
  Iw,
  /** 16 or 32 bits by operand size. */
  Iz,
  /** 8-bit relative branch displacement (sign-extended). */
  Jb,
  /** 16 or 32-bit relative branch displacement by operand size. */
  Jz,
  /** Far pointer: offset by operand size, then a 16-bit selector (imm2). */
  Ap,
  /** ENTER: 16-bit size then 8-bit nesting level (imm2). */
  IwIb,
  /** MOV moffs: an address-size offset with no ModRM, decoded as a memory operand. */
  Moffs,
}

export interface OpSpec {
  /** SDM-style handler name (add_EbGb); used by traces and the disassembler. */
  readonly name: string;
  readonly modrm?: boolean;
  readonly imm?: Imm;
  /** Handler for byte or size-independent forms. */
  readonly h?: Handler;
  /** Handlers by operand size. */
  readonly h16?: Handler;
  readonly h32?: Handler;
  /** Sub-operations selected by ModRM.reg (group opcodes). */
  readonly group?: readonly (OpSpec | undefined)[];
  /** Ends a basic block: branches, calls, returns, interrupts, HLT, mode switches. */
  readonly flow?: boolean;
  /** LOCK is allowed (with a memory destination). */
  readonly lockable?: boolean;
  /** ModRM always names registers whatever mod says (MOV to/from CRn and DRn). */
  readonly modrmRegOnly?: boolean;
}

export const enum Rep {
  None = 0,
  REPE = 1,
  REPNE = 2,
}

/** Segment register numbers as encoded in instructions. */
export const ES = 0,
  CS = 1,
  SS = 2,
  DS = 3,
  FS = 4,
  GS = 5;

/** Byte-register offsets into the register file for AL, CL, DL, BL, AH, CH, DH, BH (little-endian). */
export const BYTE_REG = [0, 4, 8, 12, 1, 5, 9, 13] as const;

// Instr.x: the decoded fields that fit in a few bits each, packed into one small integer (below 2^29,
// a small integer to V8 on every host) and read through getters. A decoded instruction is held for as
// long as its page stays in the decoded-instruction cache (about 90,000 after a boot); with a field
// each (8 bytes on a 64-bit host) they took 21 MB, a third of the VMM's memory beyond guest RAM, and
// the larger they were the more the interpreter's fetches missed the processor's caches.
// Bits 0-7: the opcode's last byte; bit 8: a 0x0F opcode.
const X_TWO_BYTE = 1 << 8;
const X_MODRM_SHIFT = 9;
const X_SCALE_SHIFT = 17;
const X_REP_SHIFT = 19;
const X_A32 = 1 << 21;
const X_LOCK = 1 << 22;
const X_SEG_OVERRIDE = 1 << 23;
const X_D32 = 1 << 24;
const X_O32 = 1 << 25;
const X_SEG_SHIFT = 26;
const X_SEG_MASK = 7 << X_SEG_SHIFT;

export class Instr {
  // V8 lays the fields out in this order. What the run loop reads after every instruction, and x,
  // which nearly every handler reads, come first, so that in lukewarm code (where the instruction is
  // a cache miss) they more often share one line; then the operands; then what only the translator
  // reads.
  h: Handler = undefinedOpcode;
  len = 0;
  /**
   * The cached instruction that follows this one on its page, once the interpreter has run from this
   * one into it (Cpu.interpretRun): its next fetch is then this field, not two table reads.
   */
  next: Instr | null = null;
  /** Opcode, ModRM byte, SIB scale, prefixes, operand size and segment, packed (see X_*). */
  x = 0;
  /**
   * Ends a basic block (a control transfer, or undefined): the translator's cold loop reads this
   * after every instruction, where `spec.flow` cost a second dependent load.
   */
  ends = true;
  /** Like `next`, the cached instruction at `jumpEip`, on the same page, where this one last jumped to. */
  jump: Instr | null = null;
  jumpEip = -1;
  /** The displacement; for far pointers and ENTER (which have no ModRM), the second immediate (imm2). */
  disp = 0;
  /** Effective address = disp + r32[base] + (r32[index] << scale), masked to 16 bits if !a32. */
  base = -1;
  index = -1;
  imm = 0;
  spec: OpSpec | null = null;

  /** Opcode: 0x00-0xFF, or 0x0F00 | second byte. */
  get opcode(): number {
    return this.x & X_TWO_BYTE ? 0x0f00 | (this.x & 0xff) : this.x & 0xff;
  }
  get o32(): boolean {
    return (this.x & X_O32) !== 0;
  }
  /** Segment of the memory operand, after defaults (SS for BP/ESP/EBP bases) and overrides. */
  get seg(): number {
    return this.x >>> X_SEG_SHIFT;
  }
  /**
   * The ModRM byte as fetched (x87 instructions select by all of it); for instructions without one,
   * 0xC0 (mod 3: no memory operand), or mod 0 for MOV moffs; mod 3 where ModRM always names registers.
   */
  get modrmByte(): number {
    return (this.x >> X_MODRM_SHIFT) & 0xff;
  }
  get mod(): number {
    return (this.x >> (X_MODRM_SHIFT + 6)) & 3;
  }
  get reg(): number {
    return (this.x >> (X_MODRM_SHIFT + 3)) & 7;
  }
  get rm(): number {
    return (this.x >> X_MODRM_SHIFT) & 7;
  }
  get scale(): number {
    return (this.x >> X_SCALE_SHIFT) & 3;
  }
  get rep(): Rep {
    return (this.x >> X_REP_SHIFT) & 3;
  }
  get a32(): boolean {
    return (this.x & X_A32) !== 0;
  }
  get lock(): boolean {
    return (this.x & X_LOCK) !== 0;
  }
  get segOverride(): boolean {
    return (this.x & X_SEG_OVERRIDE) !== 0;
  }
  /** CS default size this was decoded for (the decoded-instruction cache's mode key). */
  get d32(): boolean {
    return (this.x & X_D32) !== 0;
  }
  /** Byte-register offsets for reg and rm: BYTE_REG's values, computed (no table read on the byte handlers' path). */
  get rb(): number {
    return ((this.reg & 3) << 2) | (this.reg >> 2);
  }
  get rmb(): number {
    return ((this.rm & 3) << 2) | (this.rm >> 2);
  }
  /** The second immediate: a far pointer's selector, ENTER's nesting level. */
  get imm2(): number {
    return this.disp;
  }
}

export function undefinedOpcode(cpu: Cpu): void {
  cpu.raiseUD();
}

export class OpTable {
  readonly one: (OpSpec | undefined)[] = new Array(256).fill(undefined);
  readonly two: (OpSpec | undefined)[] = new Array(256).fill(undefined);

  /** Registers an opcode (0x00-0xFF, or 0x0F00-0x0FFF for two-byte opcodes). */
  define(opcode: number, spec: OpSpec): void {
    const t = opcode >= 0x0f00 ? this.two : this.one;
    const k = opcode & 0xff;
    if (t[k]) throw new Error(`opcode ${opcode.toString(16)} is defined twice (${t[k]!.name}, ${spec.name})`);
    t[k] = spec;
  }

  /** Registers one member (ModRM.reg = reg) of a group opcode. */
  defineGroup(opcode: number, reg: number, spec: OpSpec): void {
    const t = opcode >= 0x0f00 ? this.two : this.one;
    const k = opcode & 0xff;
    let parent = t[k];
    if (!parent) {
      parent = { name: `group_${opcode.toString(16)}`, modrm: true, group: new Array(8).fill(undefined) };
      t[k] = parent;
    }
    const g = parent.group as (OpSpec | undefined)[] | undefined;
    if (!g) throw new Error(`opcode ${opcode.toString(16)} is not a group`);
    if (g[reg]) throw new Error(`opcode ${opcode.toString(16)} /${reg} is defined twice`);
    g[reg] = { modrm: true, ...spec };
  }
}

/**
 * Decodes one instruction. `fetch(n)` returns the n-th byte from the start of the instruction and may
 * throw the CPU fault (#PF, #GP on the CS limit). Returns a fresh Instr.
 */
export function decode(table: OpTable, fetch: (n: number) => number, d32: boolean, cpu: Cpu): Instr {
  const i = new Instr();
  let o32 = d32;
  let a32 = d32;
  let n = 0;
  let b: number;
  let seg = DS;
  let segOverride = false;
  let lock = false;
  let rep = Rep.None;
  for (;;) {
    if (n >= 15) cpu.raiseGP(0);
    b = fetch(n++);
    switch (b) {
      case 0x26: seg = ES; segOverride = true; continue;
      case 0x2e: seg = CS; segOverride = true; continue;
      case 0x36: seg = SS; segOverride = true; continue;
      case 0x3e: seg = DS; segOverride = true; continue;
      case 0x64: seg = FS; segOverride = true; continue;
      case 0x65: seg = GS; segOverride = true; continue;
      case 0x66: o32 = !d32; continue;
      case 0x67: a32 = !d32; continue;
      case 0xf0: lock = true; continue;
      case 0xf2: rep = Rep.REPNE; continue;
      case 0xf3: rep = Rep.REPE; continue;
    }
    break;
  }
  let spec: OpSpec | undefined;
  let opcode = b;
  if (b === 0x0f) {
    if (n >= 15) cpu.raiseGP(0);
    const b2 = fetch(n++);
    opcode = X_TWO_BYTE | b2;
    spec = table.two[b2];
  } else {
    spec = table.one[b];
  }
  i.x =
    opcode | (rep << X_REP_SHIFT) | (a32 ? X_A32 : 0) | (lock ? X_LOCK : 0) | (segOverride ? X_SEG_OVERRIDE : 0) |
    (d32 ? X_D32 : 0) | (o32 ? X_O32 : 0) | (seg << X_SEG_SHIFT);
  if (spec && spec.modrm) {
    if (n >= 15) cpu.raiseGP(0);
    const m = fetch(n++);
    const regOnly = spec.modrmRegOnly === true;
    i.x |= (regOnly ? m | 0xc0 : m) << X_MODRM_SHIFT;
    if (!regOnly && m < 0xc0) n = a32 ? decodeEa32(i, fetch, n, cpu) : decodeEa16(i, fetch, n, cpu);
    if (spec.group) spec = spec.group[i.reg];
  } else i.x |= 0xc0 << X_MODRM_SHIFT;
  if (!spec) {
    i.len = n;
    i.h = undefinedOpcode;
    return i;
  }
  i.spec = spec;
  i.ends = !!spec.flow;
  const need = (k: number): void => {
    if (n + k > 15) cpu.raiseGP(0);
  };
  switch (spec.imm ?? Imm.None) {
    case Imm.None:
      break;
    case Imm.Ib:
      need(1);
      i.imm = fetch(n++);
      break;
    case Imm.Ibs:
    case Imm.Jb:
      need(1);
      i.imm = (fetch(n++) << 24) >> 24;
      break;
    case Imm.Iw:
      need(2);
      i.imm = fetch(n) | (fetch(n + 1) << 8);
      n += 2;
      break;
    case Imm.Iz:
    case Imm.Jz:
      if (o32) {
        need(4);
        i.imm = fetch(n) | (fetch(n + 1) << 8) | (fetch(n + 2) << 16) | (fetch(n + 3) << 24);
        n += 4;
      } else {
        need(2);
        i.imm = fetch(n) | (fetch(n + 1) << 8);
        if (spec.imm === Imm.Jz) i.imm = (i.imm << 16) >> 16;
        n += 2;
      }
      break;
    case Imm.Ap:
      if (o32) {
        need(6);
        i.imm = fetch(n) | (fetch(n + 1) << 8) | (fetch(n + 2) << 16) | (fetch(n + 3) << 24);
        n += 4;
      } else {
        need(4);
        i.imm = fetch(n) | (fetch(n + 1) << 8);
        n += 2;
      }
      i.disp = fetch(n) | (fetch(n + 1) << 8); // imm2
      n += 2;
      break;
    case Imm.IwIb:
      need(3);
      i.imm = fetch(n) | (fetch(n + 1) << 8);
      i.disp = fetch(n + 2); // imm2
      n += 3;
      break;
    case Imm.Moffs:
      i.x &= ~(0xc0 << X_MODRM_SHIFT); // mod 0: a memory operand at disp
      if (a32) {
        need(4);
        i.disp = fetch(n) | (fetch(n + 1) << 8) | (fetch(n + 2) << 16) | (fetch(n + 3) << 24);
        n += 4;
      } else {
        need(2);
        i.disp = fetch(n) | (fetch(n + 1) << 8);
        n += 2;
      }
      break;
  }
  i.len = n;
  if (spec.h) i.h = spec.h;
  else i.h = (o32 ? spec.h32 : spec.h16) ?? undefinedOpcode;
  if (i.lock && (!spec.lockable || i.mod === 3)) i.h = undefinedOpcode;
  return i;
}

/** A BP-, EBP- or ESP-based operand is in SS unless a prefix named its segment. */
function ssByDefault(i: Instr): void {
  if (!i.segOverride) i.x = (i.x & ~X_SEG_MASK) | (SS << X_SEG_SHIFT);
}

// 16-bit ModRM memory forms (SDM vol. 2 table 2-1).
const EA16_BASE = [3, 3, 5, 5, 6, 7, 5, 3] as const; // BX, BX, BP, BP, SI, DI, BP, BX
const EA16_INDEX = [6, 7, 6, 7, -1, -1, -1, -1] as const; // SI, DI, SI, DI

function decodeEa16(i: Instr, fetch: (n: number) => number, n: number, cpu: Cpu): number {
  const rm = i.rm;
  if (i.mod === 0 && rm === 6) {
    if (n + 2 > 15) cpu.raiseGP(0);
    i.disp = fetch(n) | (fetch(n + 1) << 8);
    n += 2;
  } else {
    i.base = EA16_BASE[rm]!;
    i.index = EA16_INDEX[rm]!;
    if (rm === 2 || rm === 3 || rm === 6) ssByDefault(i);
    if (i.mod === 1) {
      if (n + 1 > 15) cpu.raiseGP(0);
      i.disp = (fetch(n++) << 24) >> 24;
    } else if (i.mod === 2) {
      if (n + 2 > 15) cpu.raiseGP(0);
      i.disp = fetch(n) | (fetch(n + 1) << 8);
      n += 2;
    }
  }
  return n;
}

function decodeEa32(i: Instr, fetch: (n: number) => number, n: number, cpu: Cpu): number {
  let rm = i.rm;
  let baseIsBp = false;
  if (rm === 4) {
    if (n + 1 > 15) cpu.raiseGP(0);
    const sib = fetch(n++);
    i.x |= (sib >> 6) << X_SCALE_SHIFT;
    const idx = (sib >> 3) & 7;
    i.index = idx === 4 ? -1 : idx;
    const base = sib & 7;
    if (base === 5 && i.mod === 0) {
      i.base = -1;
      rm = -1; // disp32 follows
    } else {
      i.base = base;
      baseIsBp = base === 4 || base === 5;
    }
  } else if (rm === 5 && i.mod === 0) {
    i.base = -1;
    rm = -1;
  } else {
    i.base = rm;
    baseIsBp = rm === 5;
  }
  if (baseIsBp) ssByDefault(i);
  if (i.mod === 1) {
    if (n + 1 > 15) cpu.raiseGP(0);
    i.disp = (fetch(n++) << 24) >> 24;
  } else if (i.mod === 2 || rm === -1) {
    if (n + 4 > 15) cpu.raiseGP(0);
    i.disp = fetch(n) | (fetch(n + 1) << 8) | (fetch(n + 2) << 16) | (fetch(n + 3) << 24);
    n += 4;
  }
  return n;
}

export { FAULT };
