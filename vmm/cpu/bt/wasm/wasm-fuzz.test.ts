// Lockstep fuzzing of the WebAssembly translations: random loops of instructions from the subset
// (ALU, shifts and rotates by a constant, shifts by CL and of words, MUL and IMUL, moves of every width it has, LEA,
// NOPs, CMOVcc and SETcc, PUSH and POP, conditional branches forward) over registers and a buffer that straddles a page end,
// addressed through DS (flat) or FS (4 GiB with a base), with paging off (linear is physical: no
// TLB entry is read above 1 MiB) in even programs and on (identity-mapped) in odd ones, run under the interpreter, the
// translator and the check engine, which must end in the same registers, flags and memory. PUSHFD
// after a producer now and then makes the block leave there and keeps the flags it left. A fixed
// seed runs every time; a fresh one is printed and can be replayed with HOSTBOX_FUZZ_SEED
// (HOSTBOX_FUZZ_RUNS sets the number of programs).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Xorshift32 } from '../../xorshift.ts';
import type { Box } from '../../system-tests/box.ts';
import { asm, assertSameOutcomes, identityPaging, runEveryEngine } from '../test-kit.ts';
import { setSegmentCache } from '../../segments.ts';

const REGS = ['eax', 'ebx', 'ecx', 'edx', 'esi', 'edi'];
const WORDS = ['ax', 'bx', 'cx', 'dx', 'si', 'di'];
const BYTES = ['al', 'bl', 'cl', 'dl', 'ah', 'bh', 'ch', 'dh'];
const ALU = ['add', 'or', 'adc', 'sbb', 'and', 'sub', 'xor', 'cmp'];
const SHIFTS = ['shl', 'shr', 'sar', 'rol', 'ror'];
/**
 * PUSHFD reads the flags a producer left; it is outside the WebAssembly subset, so a WebAssembly
 * block leaves there. STI after it ends the JavaScript region too, which goes on past PUSHFD: else
 * the JavaScript region would hold the whole loop and be preferred to the WebAssembly one.
 */
const readFlags = (into: string): string[] => ['pushfd', 'sti', `pop ${into}`];
const CC = ['o', 'no', 'b', 'ae', 'e', 'ne', 'be', 'a', 's', 'ns', 'p', 'np', 'l', 'ge', 'le', 'g'];
/** EBP points at the buffer, 128 bytes before a page end: some operands cross it. */
const BUFFER = 0x100f80;
const COUNTER = 0x200000;
/** FS spans 4 GiB with this base (Linux's per-CPU segment is such a one): translations add it where the access runs. */
const FS_BASE = 0x1000;
const ITERATIONS = 30;

/** One random program: a loop of `n` instructions, each from the subset. */
function program(r: Xorshift32, n: number): string {
  const reg = (): string => r.pick(REGS);
  const imm = (): string => String(r.below(3) === 0 ? r.pick([0, 1, 2, 7, -1, -2, 0x7fffffff, -0x80000000]) : r.next() | 0);
  // Mostly aligned dwords, sometimes any byte offset (unaligned, or across the page end).
  const at = (): number => (r.below(4) === 0 ? r.below(140) : 4 * r.below(35));
  // A quarter through FS, a 4 GiB segment based at FS_BASE (setState): the same buffer.
  const mem = (size = 'dword'): string => (r.below(4) === 0 ? `${size} [fs:ebp + ${at() - FS_BASE}]` : `${size} [ebp + ${at()}]`);
  const lines = ['cmp eax, ebx'];
  let flagsKnown = true;
  let pushed = 0;
  const readsFlags = (): void => {
    if (!flagsKnown) lines.push(`cmp ${reg()}, ${reg()}`);
    flagsKnown = true;
  };
  /** Forward branches not yet landed: each label is placed after `left` more of the loop's steps. */
  const forward: { label: string; left: number }[] = [];
  const land = (): void => {
    for (const f of forward) if (--f.left === 0) {
      lines.push(`${f.label}:`);
      // Two ways in: which producer set the flags is not known here.
      flagsKnown = false;
    }
    forward.splice(0, forward.length, ...forward.filter((f) => f.left > 0));
  };
  for (let k = 0; k < n; k++, land()) {
    const op = r.pick(ALU);
    // Now and then a conditional branch forward over the next few steps: the region's blocks then
    // reach each other by branches forward, as compiled code's do.
    if (r.below(6) === 0) {
      readsFlags();
      forward.push({ label: `f${k}`, left: 1 + r.below(4) });
      lines.push(`j${r.pick(CC)} f${k}`);
      flagsKnown = false;
    }
    switch (r.below(22)) {
      case 0: lines.push(`${op} ${reg()}, ${reg()}`); break;
      case 1: lines.push(`${op} ${reg()}, ${imm()}`); break;
      case 2: lines.push(r.below(2) ? `${op} ${reg()}, ${mem()}` : `${op} ${mem()}, ${reg()}`); break;
      case 3: lines.push(`${op} ${mem()}, ${imm()}`); break;
      case 4: lines.push(r.pick([`test ${reg()}, ${reg()}`, `test ${reg()}, ${imm()}`, `test ${mem()}, ${reg()}`])); break;
      case 5: lines.push(`${r.pick(['inc', 'dec', 'not'])} ${r.below(2) ? reg() : mem()}`); break;
      case 6:
        lines.push(r.pick([
          `mul ${reg()}`, `mul ${mem()}`, `imul ${reg()}, ${reg()}`, `imul ${reg()}, ${mem()}`, `imul ${reg()}, ${reg()}, ${imm()}`,
          `imul ${reg()}, ${mem()}, ${r.pick([-128, -1, 3, 127])}`, `neg ${r.below(2) ? reg() : mem()}`, `test eax, ${imm()}`,
        ]));
        break;
      case 7: {
        const s = r.pick(SHIFTS);
        lines.push(`${s} ${r.below(3) ? reg() : mem()}, ${1 + r.below(31)}`);
        if (s === 'rol' || s === 'ror') {
          // Rotates leave the producer unknown: a condition after them ends the WebAssembly block.
          flagsKnown = false;
          continue;
        }
        break;
      }
      case 8: lines.push(r.pick([`mov ${reg()}, ${reg()}`, `mov ${reg()}, ${imm()}`, `mov ${reg()}, ${mem()}`])); continue;
      case 9: lines.push(r.pick([`mov ${mem()}, ${reg()}`, `mov ${mem()}, ${imm()}`, `mov ${mem('word')}, ${r.pick(WORDS)}`])); continue;
      case 10: {
        const x = r.pick(['movzx', 'movsx']);
        lines.push(r.pick([`${x} ${reg()}, ${r.pick(BYTES)}`, `${x} ${reg()}, ${r.pick(WORDS)}`, `${x} ${reg()}, ${mem('byte')}`, `${x} ${reg()}, ${mem('word')}`]));
        continue;
      }
      case 11: lines.push(`lea ${reg()}, [${reg()} + ${reg()} * ${r.pick([1, 2, 4, 8])} + ${imm()}]`); continue;
      case 12:
        readsFlags();
        lines.push(`cmov${r.pick(CC)} ${reg()}, ${r.below(2) ? reg() : mem()}`);
        continue;
      case 13:
        readsFlags();
        lines.push(`set${r.pick(CC)} ${r.below(2) ? r.pick(BYTES) : mem('byte')}`);
        continue;
      case 14:
        lines.push(r.pick([`push ${reg()}`, `push ${imm()}`, `push byte ${r.pick([-128, -1, 5, 127])}`, `push ${mem()}`, 'push dword [esp + 4]']));
        pushed++;
        continue;
      case 15:
        // A frame made and left with LEAVE (EBP, the buffer's pointer, comes back).
        if (r.below(4) === 0) lines.push('push ebp', 'mov ebp, esp', `push ${reg()}`, 'leave');
        else if (pushed) {
          lines.push(`pop ${reg()}`);
          pushed--;
        }
        continue;
      case 16:
        lines.push(r.pick([
          `mov ${r.pick(BYTES)}, ${r.pick(BYTES)}`, `mov ${r.pick(BYTES)}, ${mem('byte')}`, `mov ${mem('byte')}, ${r.pick(BYTES)}`,
          `mov ${mem('byte')}, ${r.below(256)}`, `mov ${r.pick(BYTES)}, ${r.below(256)}`,
          `mov ${r.pick(WORDS)}, ${r.pick(WORDS)}`,
          `mov ${r.pick(WORDS)}, ${mem('word')}`,
          // MOV with a memory offset (A0-A3).
          `mov eax, [${BUFFER + at()}]`, `mov [${BUFFER + at()}], eax`, `mov al, [${BUFFER + at()}]`, `mov [${BUFFER + at()}], al`,
          `mov eax, [fs:${BUFFER + at() - FS_BASE}]`, `mov [fs:${BUFFER + at() - FS_BASE}], al`,
        ]));
        continue;
      case 17:
        lines.push(r.pick(['nop', 'xchg ax, ax', `nop dword [${reg()} + ${reg()} * 2 + 8]`]));
        continue;
      case 18: {
        // By CL: the count masked to 5 bits, 0 included (nothing changes, not even the flags).
        if (r.below(3) === 0) lines.push(`mov ecx, ${r.pick([0, 1, 31, 32, 33, -1, 64])}`);
        if (r.below(3) === 0) lines.push(`${r.pick(['shl', 'shr', 'sar'])} ${r.below(3) ? r.pick(WORDS) : mem('word')}, ${1 + r.below(31)}`);
        else lines.push(`${r.pick(['shl', 'shr', 'sar'])} ${r.below(3) ? r.pick(REGS.filter((x) => x !== 'ecx')) : mem()}, cl`);
        // Which operation set the flags is known only at run time, or they are a word's: a condition
        // after it ends the block. PUSHFD reads the flags it left in the state.
        if (r.below(3) === 0) lines.push(...readFlags(reg()));
        flagsKnown = false;
        continue;
      }
      case 19:
      case 20: {
        // Bytes: the flags a byte's operation records, read by the conditions and PUSHFD below.
        // And words: a word's record, its sign bit 15.
        const word = r.below(2) === 0;
        const b = (): string => r.pick(word ? WORDS : BYTES);
        const size = word ? 'word' : 'byte';
        const acc = word ? 'ax' : 'al';
        const imm8 = (): number => (word ? r.pick([0, 1, 0x7fff, 0x8000, 0xffff, r.below(0x10000)]) : r.pick([0, 1, 0x7f, 0x80, 0xff, r.below(256)]));
        lines.push(r.pick([
          `${op} ${b()}, ${b()}`, `${op} ${b()}, ${mem(size)}`, `${op} ${mem(size)}, ${b()}`, `${op} ${mem(size)}, ${imm8()}`,
          `${op} ${b()}, ${imm8()}`, `${op} ${acc}, ${imm8()}`, `test ${b()}, ${b()}`, `test ${mem(size)}, ${b()}`,
          `test ${mem(size)}, ${imm8()}`, `test ${acc}, ${imm8()}`, `${r.pick(['inc', 'dec'])} ${r.below(2) ? b() : mem(size)}`,
          ...(word ? [`neg ${r.below(2) ? b() : mem(size)}`, `${op} ${b()}, byte ${r.pick([-128, -1, 1, 127])}`] : []),
        ]));
        break;
      }
      default: {
        // Where ADC's carry out differs from ADD's (all ones added with a carry in) and SBB's from
        // SUB's (equal operands with a borrow in: SBB r, r, the compilers' idiom).
        const dst = reg();
        const edge = r.below(3) === 0 ? String(r.pick([-1, 0, 1, -0x80000000, 0x7fffffff])) : r.below(3) === 0 ? dst : null;
        lines.push(`${r.pick(['adc', 'sbb'])} ${dst}, ${edge ?? (r.below(2) ? reg() : imm())}`);
      }
    }
    flagsKnown = true;
    // Now and then the flags as the producer left them, read by PUSHFD (outside the subset: the
    // WebAssembly block leaves there, and the interpreter reads the lazy flags it wrote to the state).
    if (r.below(5) === 0) lines.push(...readFlags(reg()));
  }
  for (const f of forward) lines.push(`${f.label}:`);
  for (; pushed > 0; pushed--) lines.push(`pop ${reg()}`);
  // In half the programs, an instruction outside the subset late in the loop: the WebAssembly block
  // ends there, and the lazy flags it leaves are read by code translated otherwise or interpreted.
  if (r.below(2)) lines.splice(Math.floor(lines.length * 0.85), 0, `bswap ${reg()}`);
  return `mov ebp, ${BUFFER}\n l: ${lines.join('\n ')}\n dec dword [${COUNTER}]\n jnz l\n hlt`;
}

/** The program's starting state from `seed`, with paging on or off (runEveryEngine's setup). */
function setState(box: Box, seed: number, paging: boolean): void {
  if (paging) identityPaging(box, 0x300000);
  setSegmentCache(box.cpu, 4, 16, FS_BASE, 0xffffffff, 0xc093);
  const r = new Xorshift32(seed);
  for (let k = 0; k < 7; k++) if (k !== 4) box.cpu.r32[k] = r.next() | 0;
  for (let a = BUFFER - 16; a < BUFFER + 256; a += 4) box.mem.i32[a >>> 2] = r.next() | 0;
  box.mem.i32[COUNTER >>> 2] = ITERATIONS;
}

/** Runs `runs` programs from `seed`; returns how many were made (in part) WebAssembly. */
function fuzz(seed: number, runs: number): number {
  const r = new Xorshift32(seed);
  let withWasm = 0;
  for (let k = 0; k < runs; k++) {
    const source = program(r, 16 + r.below(40));
    const code = asm(source);
    const stateSeed = r.next() || 1;
    const outcomes = runEveryEngine(code, (box) => setState(box, stateSeed, (k & 1) === 1));
    assertSameOutcomes(outcomes, `seed ${seed.toString(16)} program ${k}:\n${source}\n`);
    if (outcomes[2]!.box.cpu.bt!.stats.wasmMade > 0) withWasm++;
  }
  return withWasm;
}

test('WebAssembly fuzz: fixed seed', () => {
  const runs = 120;
  const withWasm = fuzz(0x3a5e0001, runs);
  // Not every program is made WebAssembly (a region the subset cuts short, or one entered where the
  // subset cannot start, stays JavaScript): about two in five are.
  assert.ok(withWasm > runs / 4, `only ${withWasm} of ${runs} programs ran as WebAssembly`);
});

test('WebAssembly fuzz: fresh seed', () => {
  const env = process.env.HOSTBOX_FUZZ_SEED;
  const seed = env ? parseInt(env, 16) : (Math.random() * 0xffffffff) >>> 0 || 1;
  console.log(`WebAssembly fuzz seed ${seed.toString(16)} (replay with HOSTBOX_FUZZ_SEED=${seed.toString(16)})`);
  fuzz(seed, Number(process.env.HOSTBOX_FUZZ_RUNS ?? 40));
});
