// Translations of the near control transfers that end a block: Jcc, JMP, CALL, RET, LOOP and JCXZ
// (semantics of ops/control.ts). A target known when translating is checked against the CS limit
// then (the key fixes CS); a target read at run time is checked as the interpreter checks it.

import type { Instr } from '../decode.ts';
import type { BlockWriter } from './block-writer.ts';
import { condExpr } from './flags-emit.ts';

/** Code that continues at a constant EIP: a jump to another translation, or the loop back edge. */
export type JumpTo = (target: number, done: number) => string;

/**
 * Code that continues at an EIP known only at run time (RET, indirect JMP/CALL): inside the region if
 * a block starts there (the switch's default arm leaves otherwise), else back to the dispatcher.
 */
function dynamicJump(w: BlockWriter, t: string, done: number): string {
  const f = w.pendingFlush();
  return `{ n += ${done}; ${f} if (n < budget) { pc = ${t}; continue; } cpu.eip = ${t}; return n; }`;
}

/** Near target as the interpreter's control.ts computes it, or null if it lies beyond the CS limit. */
function constTarget(w: BlockWriter, i: Instr, next: number): number | null {
  const t = i.o32 ? (next + i.imm) | 0 : (next + i.imm) & 0xffff;
  return t >>> 0 > w.mode.csLimit ? null : t;
}

/** Checks a run-time target against the CS limit (no check needed when the limit is 4 GiB). */
function checkTarget(w: BlockWriter, t: string): void {
  if (w.mode.csLimit >>> 0 !== 0xffffffff) w.emit(`if (${t} >>> 0 > ${w.mode.csLimit >>> 0}) cpu.raiseGP(0);`);
}

/** Emits `i`, which ends the block, if it is one of these; false leaves it to the interpreter. */
export function emitFlow(w: BlockWriter, i: Instr, jumpTo: JumpTo): boolean {
  const o = i.opcode;
  const { next, k } = w.cur;
  const done = k + 1;
  if ((o >= 0x70 && o < 0x80) || (o >= 0x0f80 && o < 0x0f90)) {
    const t = constTarget(w, i, next);
    if (t === null) return false;
    w.emit(`if (${condExpr(w.pending, o & 15)}) ${jumpTo(t, done)}`);
    w.emit(jumpTo(next, done));
    return true;
  }
  switch (o) {
    case 0xeb:
    case 0xe9: {
      const t = constTarget(w, i, next);
      if (t === null) return false;
      w.emit(jumpTo(t, done));
      return true;
    }
    case 0xe8: {
      const t = constTarget(w, i, next);
      if (t === null) return false;
      w.push(i.o32 ? 2 : 1, String(next), w.eipLit(t));
      w.emit(jumpTo(t, done));
      return true;
    }
    case 0xc3:
    case 0xc2: {
      const sz = i.o32 ? 2 : 1;
      w.peek(sz, 'v');
      w.emit(`const t = ${i.o32 ? 'v | 0' : 'v & 65535'};`);
      checkTarget(w, 't');
      w.adjustSp((i.o32 ? 4 : 2) + (o === 0xc2 ? i.imm : 0));
      w.emit(dynamicJump(w, 't', done));
      return true;
    }
    case 0xff: {
      if (i.reg !== 2 && i.reg !== 4) return false;
      const sz = i.o32 ? 2 : 1;
      const v = w.readE(i, sz, 'm');
      w.emit(`const t = ${i.o32 ? `${v} | 0` : `${v} & 65535`};`);
      w.mayFault();
      checkTarget(w, 't');
      if (i.reg === 2) w.push(sz, String(next), 't');
      w.emit(dynamicJump(w, 't', done));
      return true;
    }
    case 0xe2:
    case 0xe3: {
      const t = constTarget(w, i, next);
      if (t === null) return false;
      if (o === 0xe3) {
        w.emit(`if (${i.a32 ? 'r32[1]' : 'r16[2]'} === 0) ${jumpTo(t, done)}`);
      } else if (i.a32) {
        w.emit(`const c = r32[1] = (r32[1] - 1) | 0; if (c !== 0) ${jumpTo(t, done)}`);
      } else {
        w.emit(`const c = r16[2] = (r16[2] - 1) & 65535; if (c !== 0) ${jumpTo(t, done)}`);
      }
      w.emit(jumpTo(next, done));
      return true;
    }
  }
  return false;
}
