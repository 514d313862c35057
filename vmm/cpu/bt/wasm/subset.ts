// Which instructions the WebAssembly translator takes (its subset) and what each does to the flags
// and to control flow: translateWasm finds its regions with these, and RegionWriter emits exactly
// these. The subset:
//
//   MOV r/m32 (89 8B B8+r C7/0 A1 A3), MOV m16,r16 and r16,r/m16, the byte moves (88 8A B0+r C6/0
//   A0 A2), MOVZX and MOVSX from r/m8 and r/m16, LEA, NOP (90, 0F 1F), the eight ALU operations on
//   dwords and words (01-3D odd, 81, 83) and bytes (00-3C even, 80), TEST (85 A9 F7/0, and of bytes
//   84 A8 F6/0), INC/DEC (40-4F, FF/0-1, FE/0-1), NEG (F7/3), NOT r/m32, MUL r/m32, IMUL r32,r/m32
//   (and with an immediate),
//   SHL/SHR/SAR/ROL/ROR of dwords by a constant, SHL/SHR/SAR of words by a constant and of dwords
//   by CL, PUSH (registers, immediates, r/m32), POP, LEAVE, CALL, RET, Jcc, JMP, CMOVcc, SETcc;
//   32-bit code and addresses, memory through segments that span 4 GiB only (flat, or with a base:
//   Linux's per-CPU FS, the TLS GS of i386 programs).
//
// Anything else ends a block before it.

import { SS, type Instr } from '../../decode.ts';
import type { ModeFacts } from '../mode.ts';

/** What an instruction does to the flags, for deciding whether the prototype can translate it. */
export interface Plan {
  /** Reads a flag: a Jcc needs the producer known; ADC/SBB/INC/DEC can read CF from the state. */
  readonly needsProducer: boolean;
  /** 'set': becomes the known producer; 'cfof': writes CF/OF into the state (producer unknown after). */
  readonly flags: 'none' | 'set' | 'cfof';
  readonly flow: boolean;
}

export interface Insn {
  readonly i: Instr;
  readonly eip: number;
  readonly next: number;
  /** Instructions of its block before it. */
  readonly k: number;
}

/** PUSH, POP, CALL, RET and LEAVE address through SS (and the subset takes them only where SS is flat). */
export function usesStack(i: Instr): boolean {
  const o = i.opcode;
  return (o >= 0x50 && o < 0x60) || o === 0xe8 || o === 0xc2 || o === 0xc3 || o === 0x68 || o === 0x6a || o === 0xc9 || (o === 0xff && i.reg === 6);
}

/** PUSH, POP, CALL and RET: a 32-bit stack through a flat SS. */
function stackOk(mode: ModeFacts): boolean {
  return mode.ssB && (mode.flat & (1 << SS)) !== 0;
}

/** A memory operand through a segment spanning 4 GiB: flat, or with a base read where it is used. */
function memoryOk(i: Instr, mode: ModeFacts): boolean {
  return i.mod === 3 || (i.a32 && (mode.wide & (1 << i.seg)) !== 0);
}

/** The prototype's subset; null for anything else. */
export function plan(i: Instr, mode: ModeFacts): Plan | null {
  if (i.lock || i.rep || !memoryOk(i, mode)) return null;
  const o = i.opcode;
  const none: Plan = { needsProducer: false, flags: 'none', flow: false };
  const set: Plan = { needsProducer: false, flags: 'set', flow: false };
  const jump: Plan = { needsProducer: false, flags: 'none', flow: true };
  // The ALU operations on bytes, words and dwords (a record of the operand's size), and INC and DEC.
  if (o < 0x40 && (o & 7) < 6) return set;
  if (o >= 0x40 && o < 0x50) return set;
  if (o >= 0xb8 && o < 0xc0) return i.o32 ? none : null;
  if (o >= 0xb0 && o < 0xb8) return none;
  // With an operand-size prefix a jump's target wraps to 16 bits: left to the interpreter.
  if ((o >= 0x70 && o < 0x80) || (o >= 0x0f80 && o < 0x0f90)) return i.o32 ? { needsProducer: true, flags: 'none', flow: true } : null;
  // CMOVcc and SETcc read the flags like a Jcc and leave them as they are.
  if (o >= 0x0f40 && o < 0x0f50) return i.o32 ? { needsProducer: true, flags: 'none', flow: false } : null;
  if (o >= 0x0f90 && o < 0x0fa0) return { needsProducer: true, flags: 'none', flow: false };
  if (o >= 0x50 && o < 0x60) return i.o32 && stackOk(mode) ? none : null;
  switch (o) {
    case 0xe8: case 0xc3: case 0xc2: return i.o32 && stackOk(mode) ? jump : null;
    case 0x68: case 0x6a: case 0xc9: return i.o32 && stackOk(mode) ? none : null;
    case 0x0fbe: case 0x0fbf: return i.o32 ? none : null;
    case 0x69: case 0x6b: case 0x0faf: return i.o32 ? set : null;
    case 0x81: case 0x83: case 0x85: case 0xa9: return set;
    case 0x89: return i.o32 || i.mod !== 3 ? none : null;
    case 0x8b: case 0x88: case 0x8a: case 0x90: case 0x0f1f: return none;
    case 0xc6: return i.reg === 0 ? none : null;
    case 0x80: case 0x84: case 0xa8: return set;
    // MOV between AL or EAX and a memory offset (no ModRM).
    case 0xa0: case 0xa2: return none;
    case 0xa1: case 0xa3: return i.o32 ? none : null;
    case 0xf6: return i.reg === 0 ? set : null;
    case 0xfe: return i.reg <= 1 ? set : null;
    // By CL: a count of 0 leaves the flags as they were, so which operation set them is known only
    // at run time (as after ROL and ROR, the flags are then in the state).
    case 0xd3: return i.o32 && i.reg >= 4 ? { needsProducer: false, flags: 'cfof', flow: false } : null;
    case 0x8d: return i.o32 && i.mod !== 3 ? none : null;
    case 0xc7: return i.o32 && i.reg === 0 ? none : null;
    case 0x0fb6: case 0x0fb7: return i.o32 ? none : null;
    case 0xeb: case 0xe9: return i.o32 ? jump : null;
    case 0xf7: return i.reg === 0 || i.reg === 3 ? set : !i.o32 ? null : i.reg === 2 ? none : i.reg === 4 ? set : null;
    case 0xff: return i.reg <= 1 ? set : i.o32 && i.reg === 6 && stackOk(mode) ? none : null;
    case 0xc1: case 0xd1: {
      const count = (o === 0xc1 ? i.imm : 1) & 31;
      if (count === 0 || i.reg === 2 || i.reg === 3 || (!i.o32 && i.reg < 4)) return null;
      return i.reg < 2 ? { needsProducer: false, flags: 'cfof', flow: false } : set;
    }
  }
  return null;
}

/** Constant EIPs a block can continue at. */
export function successors(last: Insn): number[] {
  const o = last.i.opcode;
  const target = (last.next + last.i.imm) | 0;
  if ((o >= 0x70 && o < 0x80) || (o >= 0x0f80 && o < 0x0f90)) return [target, last.next];
  if (o === 0xeb || o === 0xe9) return [target];
  // A call's target, and where its return comes back to (RET looks for it among the region's blocks).
  if (o === 0xe8) return [target, last.next];
  if (o === 0xc3 || o === 0xc2) return [];
  return [last.next];
}
