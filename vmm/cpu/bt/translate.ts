// Turns a run of guest instructions into one JavaScript function (compiled with `new Function`; see
// the README's design section for why JavaScript and not WebAssembly). A translation covers a basic
// block within one 4 KiB page, up to MAX_INSNS instructions; when the block ends with a branch back
// to its own start (a loop) the loop runs inside the function until the budget is spent. A region
// may take in code of up to MAX_OTHER_PAGES other pages that its direct calls and jumps reach (a
// function called across a page boundary and its return stay inside) where the engine allows it
// (TranslateOptions.otherPage: any code while paging is off, only short leaf functions with it on);
// each block there first tests that the page is still mapped as it was when translated. Instructions
// without an emitter call the interpreter's handler (the same decoded form, the same code), so
// everything the interpreter does the translator does too; the ones that change the CPU's mode end
// the block, so the code after them is looked up again under the new mode key.
//
// The generated function: (cpu, budget) => instructions executed, starting at cpu.eip, which is the
// entry or the start of any other block of the region (every block starts with the flags in the cpu,
// so the engine enters the region there too rather than translating the same code again from that
// point; Translation.entries). On a fault it sets cpu.prevEip to
// the faulting instruction, cpu.btDone to the instructions completed before it, writes the pending
// flags back, and rethrows to the engine, which delivers the fault as the interpreter would.

import { FAULT } from '../fault.ts';
import { PARITY } from '../flags.ts';
import { undefinedOpcode, type Instr } from '../decode.ts';
import { BlockWriter, type BlockInsn } from './block-writer.ts';
import { emitAlu } from './emit-alu.ts';
import { emitMove } from './emit-move.ts';
import { emitFlow } from './emit-flow.ts';
import { emitShift } from './emit-shift.ts';
import { emitMul } from './emit-mul.ts';
import { segmentKeyMask, type ModeFacts } from './mode.ts';

export const MAX_INSNS = 64;
/** A region: the entry block and up to this many more blocks of the same page that its jumps reach. */
export const MAX_BLOCKS = 32;
export const MAX_REGION_INSNS = 384;
/**
 * Longest JavaScript text of one translation. V8 does not optimize a function whose bytecode exceeds
 * --max-optimized-bytecode-size (60 KiB in Node 20), and waits longer the bigger a function is: a
 * 400-instruction region of a hash function's straight-line transform (110,000 characters) ran
 * unoptimized for good. A region whose text grows longer is made again with the instructions written
 * before that point, less a sixteenth (the text of a jump depends on where it goes).
 */
export const MAX_SOURCE_LENGTH = 64_000;
/**
 * Pages other than the entry's that one region may take code from. Each is a page whose write drops
 * the region too, so few: most calls out of a page go to one or two others (a library's helpers).
 */
export const MAX_OTHER_PAGES = 2;
/**
 * The most instructions of a function on another page that a region takes in where only leaf calls
 * may cross (OtherPage.leafOnly): one block ending in RET, such as i386 position-independent code's
 * `__x86.get_pc_thunk.bx` (`mov ebx, [esp]; ret`), called at the start of nearly every function.
 */
export const MAX_LEAF_INSNS = 8;

/**
 * Another page's code as a region found it: its linear and physical page numbers, and the TLB test
 * that it is still mapped so, `(tlb[linPage] & mask) === want` (the frame and the read permission of
 * the translation's CPL).
 */
export interface OtherPage {
  readonly linPage: number;
  readonly physPage: number;
  readonly mask: number;
  readonly want: number;
  /** Only a called function that is one short block ending in RET may be taken from this page (MAX_LEAF_INSNS). */
  readonly leafOnly: boolean;
}

export type TranslatedFn = (cpu: unknown, budget: number) => number;

export interface Translation {
  /** Guest EIP and physical address of the first instruction. */
  readonly eip: number;
  readonly phys: number;
  /**
   * The mode key it was made for, and the bits of it the code depends on: it serves any CPU whose
   * `modeKey & keyMask` equals `key`. Segments it never addresses through are left out, so kernel
   * code runs from one translation whatever FS and GS the interrupted process had.
   */
  readonly key: number;
  readonly keyMask: number;
  readonly csBase: number;
  /**
   * CS's limit as an int32 (a flat segment's 0xFFFFFFFF is -1), compared with Cpu.csLimit32: held as
   * 0xFFFFFFFF it is a double, which V8 keeps boxed in an object of its own, one more cache line for
   * every chained dispatch to read.
   */
  readonly csLimit: number;
  /** Instructions and basic blocks translated. */
  readonly length: number;
  /** EIPs of the region's other blocks: the code may be entered there too (the engine's aliases). */
  readonly entries: readonly number[];
  /**
   * The translation whose code this is: itself, or for an alias (an entry at another block of a
   * region) the region's own translation, which owns the code and its cost in the cache.
   */
  home: Translation;
  /** Aliases of this region the engine made (empty for an alias). */
  readonly aliases: Translation[];
  readonly blocks: number;
  /** Guest bytes covered on the entry's page: physical address of the lowest, and the span to the highest. */
  readonly codeStart: number;
  readonly bytes: number;
  /** Physical pages of other pages' code in the region (a write there drops it too). */
  readonly otherPages: readonly number[];
  readonly source: string;
  readonly fn: TranslatedFn;
  /** Cleared when the page it came from is written. */
  valid: boolean;
  runs: number;
  /** `runs` at the engine's last sweep: a translation still at it by the next one has gone idle (BtEngine.sweepIdle). */
  runsAtSweep: number;
  /** The engine's next translation of the same entry point for another mode. */
  alt: Translation | null;
  /**
   * The two translations that ran after this one most recently (chaining: a block ending in a
   * conditional branch out of the region has two), and the mapping each was found under.
   */
  succ: Translation | null;
  succ2: Translation | null;
  linPage: number;
  tlbEntry: number;
  /** Length of the JavaScript V8 holds for it (the cache's memory bound). */
  sourceChars: number;
  /**
   * Times each memory access with an inline fast path took the slow path instead: slow[k] counts the
   * access named sites[k - 1] (BlockWriter.site); slow[0] is set when one of them reaches
   * RETRANSLATE_AFTER, asking the engine to translate the entry again (BtEngine.retranslate).
   */
  readonly slow: Int32Array;
  readonly sites: readonly number[];
  /** It holds an instruction that may change the x87/MMX state (the check engine compares that state only then). */
  readonly touchesFpu: boolean;
  /** The engine's hotness decay period the counts were started in (read on the region's own translation, home). */
  slowSince: number;
  /**
   * slow[0] was raised: set by the engine on the region and its aliases when the translation
   * returns, so the dispatcher tests a field of the translation in hand instead of its counts.
   */
  wantsRetranslation: boolean;
  /**
   * A WebAssembly translation that leaves after too few instructions a call (its hot path runs into
   * what its subset cuts off): with wantsRetranslation, the engine makes the region JavaScript.
   */
  wasmTooShort: boolean;
}

/** The counts of a translation without counted accesses: never written. */
export const NO_SLOW_COUNTS = new Int32Array(1);

/**
 * Opcodes left to the interpreter after which the block may go on: they change registers, flags and
 * memory but not the mode, CS or the way memory is addressed. (The code after such a call still
 * checks that EIP moved on by one instruction and nothing asked for attention.) Every other opcode
 * without an emitter ends the block.
 */
function mayContinueAfter(op: number): boolean {
  // PUSH of a segment register (06 0E 16 1E) and PUSHF (9C) read the mode, and CLI (FA) only masks
  // interrupts: the kernel's entry code and every irq-save lock run them, and each ended a region
  // (a dispatch for one instruction).
  if (op < 0x40) return (op & 7) < 6 || (op & 0xe7) === 0x06 || op === 0x27 || op === 0x2f || op === 0x37 || op === 0x3f;
  if (op < 0x100) {
    return (
      (op >= 0x40 && op <= 0x61) || (op >= 0x68 && op <= 0x6b) || (op >= 0x80 && op <= 0x8d) || op === 0x8f ||
      (op >= 0x90 && op <= 0x99) || op === 0x9c || op === 0x9e || op === 0x9f || (op >= 0xa0 && op <= 0xaf) ||
      (op >= 0xb0 && op <= 0xc1) || op === 0xc6 || op === 0xc7 || op === 0xc8 || op === 0xc9 ||
      (op >= 0xd0 && op <= 0xdf) || op === 0xf5 || op === 0xf6 || op === 0xf7 || op === 0xf8 ||
      op === 0xf9 || op === 0xfa || op === 0xfc || op === 0xfd || op === 0xfe || op === 0xff
    );
  }
  const b = op & 0xff;
  return (
    (b >= 0x40 && b <= 0x4f) || (b >= 0x90 && b <= 0x9f) || b === 0xa0 || b === 0xa2 || b === 0xa3 || b === 0xa4 ||
    b === 0xa5 || b === 0xa8 || (b >= 0xab && b <= 0xad) || (b >= 0xaf && b <= 0xb1) || b === 0xb3 ||
    (b >= 0xb6 && b <= 0xbf) || b === 0xc0 || b === 0xc1 || (b >= 0xc8 && b <= 0xcf) || b === 0x31 ||
    (b >= 0x18 && b <= 0x1f)
  );
}

/**
 * A load of ES, DS, FS or GS (MOV, POP, LES, LDS, LFS, LGS). It can change the mode key (a segment's
 * flatness) and nothing else the code depends on, so the code after it goes on when the key still
 * serves the translation (Translation.keyMask) and leaves otherwise. The kernel reloads DS, ES and FS
 * on every entry and exit, each of which ended a region. Loads of SS end it (the interrupt shadow,
 * the stack size), as do those of CS and the invalid forms.
 */
function loadsDataSegment(i: Instr): boolean {
  const o = i.opcode;
  if (o === 0x8e) return i.reg === 0 || (i.reg >= 3 && i.reg <= 5);
  return o === 0x07 || o === 0x1f || o === 0x0fa1 || o === 0x0fa9 || ((o === 0xc4 || o === 0xc5 || o === 0x0fb4 || o === 0x0fb5) && i.mod !== 3);
}

/**
 * Whether the block goes on after `i` (an instruction no emitter ends the block at). POPF is a flow
 * instruction for the interpreter, but it asks for attention itself (cpu.brk, Cpu.setFlags) when it
 * changes IF, TF or VM, which the code after a fallback tests: irq-restore in the kernel (PUSH, POPF)
 * had ended a region each time.
 */
function goesOnAfter(i: Instr): boolean {
  return loadsDataSegment(i) || i.opcode === 0x9d || (!i.spec?.flow && mayContinueAfter(i.opcode));
}

/**
 * Instructions that cannot be run twice with the same outcome: port I/O (a device sees it), string
 * instructions (their fast paths write RAM past the write log), RDTSC (time moves on) and WRMSR
 * (IA32_APIC_BASE belongs to the local APIC, a device the replay's snapshot does not hold).
 */
export function notReplayable(op: number): boolean {
  return (op >= 0xe4 && op <= 0xe7) || (op >= 0xec && op <= 0xef) || (op >= 0x6c && op <= 0x6f) ||
    (op >= 0xa4 && op <= 0xa7) || (op >= 0xaa && op <= 0xaf) || op === 0x0f31 || op === 0x0f30;
}

export interface TranslateOptions {
  /** Leave out what the check engine cannot replay (notReplayable). */
  readonly replayable?: boolean;
  /** Memory accesses (BlockWriter.site ids) to emit as direct calls to the slow path. */
  readonly slowSites?: ReadonlySet<number>;
  /**
   * Whether a block the region reaches (EIP, physical address) already starts a live translation: the
   * region then ends there with an exit (chained) instead of holding a second copy of that code.
   */
  readonly translatedAt?: (eip: number, phys: number) => boolean;
  /** How EIP `eip`, off the entry's page, is mapped, or null when the region must not take code from there. */
  readonly otherPage?: (eip: number) => OtherPage | null;
  /**
   * How the page after the one holding EIP `eip` (on the entry's page) is mapped, for an instruction
   * there whose bytes run on into it (decodeAt returns it whole only then), or null when the
   * region must not take such an instruction.
   */
  readonly crossing?: (eip: number) => OtherPage | null;
  /**
   * Called once the region is found, before any code is written: a translation returned here (the
   * engine's WebAssembly one) is taken instead, and no JavaScript is made. `length` is the region's
   * instructions, `otherPages` the other pages it takes code from.
   */
  readonly instead?: (length: number, otherPages: number) => Translation | null;
}

/**
 * Translates the block at `eip` (physical address `phys`). `decodeAt(eip)` returns the decoded
 * instruction there if it lies wholly in one page (this one, or one opts.otherPage maps) and can be
 * fetched, else null. Returns null when
 * not even the first instruction can be translated usefully.
 */
export function translateBlock(
  eip: number,
  phys: number,
  mode: ModeFacts,
  decodeAt: (eip: number) => Instr | null,
  opts: TranslateOptions = {},
): Translation | null {
  for (let most = MAX_REGION_INSNS; ; ) {
    const t = translateRegion(eip, phys, mode, decodeAt, opts, most, most > MAX_INSNS ? MAX_SOURCE_LENGTH : Infinity);
    if (typeof t !== 'number') return t;
    most = Math.max(1, Math.min(most - 1, t));
  }
}

/**
 * Room in MAX_SOURCE_LENGTH for what assemble puts around the blocks' text (the function's head, its
 * bindings, the fault path's frame), so that a region cut where its blocks' text reaches the rest fits.
 */
const FRAME_CHARS = 1_000;

/**
 * translateBlock's work, for a region of at most `most` instructions; when its text passes
 * `maxSource`, nothing is compiled and the result is how many instructions to try instead: those
 * written before the text grew too long, less a sixteenth. (Blocks are written in the order they were
 * found, and a region of fewer instructions is found as the same blocks cut shorter.) The writing stops
 * there: a hash function's unrolled rounds gave 384-instruction texts of 110,000 characters, each
 * written whole only to be thrown away.
 */
function translateRegion(
  eip: number,
  phys: number,
  mode: ModeFacts,
  decodeAt: (eip: number) => Instr | null,
  opts: TranslateOptions,
  most: number,
  maxSource: number,
): Translation | null | number {
  const ipMask = mode.csD ? -1 : 0xffff;
  const pageOff = phys & 0xfff;
  const others: OtherPage[] = [];
  /**
   * Where the code at an EIP lies, as BlockInsn.off: its offset on the entry's page, or 0x1000 plus
   * its physical address on another page (the low 12 bits are the page offset either way); -1 if the
   * region cannot take it.
   */
  const placeOf = (e: number): number => {
    const rel = mode.csD ? (e - eip) | 0 : (e & 0xffff) - (eip & 0xffff);
    const o = pageOff + rel;
    if (o >= 0 && o < 0x1000) return o;
    const other = mode.csD ? opts.otherPage?.(e) : null;
    if (!other) return -1;
    const known = others.find((p) => p.physPage === other.physPage);
    if (known && known.linPage !== other.linPage) return -1; // one physical page mapped twice: its code is placed by physical address
    if (!known) {
      if (others.length >= MAX_OTHER_PAGES) return -1;
      candidates.set(other.physPage, other);
    }
    return 0x1000 + other.physPage * 0x1000 + (((mode.csBase + e) | 0) & 0xfff);
  };
  /**
   * Every other page seen, by physical page; it joins `others` only with a block the region takes
   * (a rejected leaf must not use up a page). Never replaced once in `others`.
   */
  const candidates = new Map<number, OtherPage>();
  /**
   * Blocks of one instruction that runs on into the next page, by EIP, and how that page was mapped:
   * each such block first tests that it still is, and a write there drops the region. Before they
   * were taken, such an instruction in a loop left the region at every pass and ran in the interpreter,
   * decoded afresh each time (the decoded cache holds no instruction across a page end): seq's number
   * formatting has two, 300,000 exits in one compress run.
   */
  const crossings = new Map<number, OtherPage>();
  /** The physical page of a place on another page; -1 for the entry's. */
  const pageOfPlace = (off: number): number => Math.floor(off / 0x1000) - 1;
  /** The guest physical address of a place. */
  const physOf = (off: number): number => (off < 0x1000 ? phys - pageOff + off : off - 0x1000);
  // Discover the region: the entry block and the blocks its direct jumps reach within the page.
  const blocks = new Map<number, BlockInsn[]>();
  const work = [eip];
  /** Call targets: copied into the region even when translated already, so that call and return stay inside it. */
  const called = new Set<number>();
  let total = 0;
  let g = 0;
  let lo = pageOff, hi = pageOff;
  while (work.length && blocks.size < MAX_BLOCKS && total < most) {
    const start = work.shift()!;
    if (blocks.has(start)) continue;
    const at = placeOf(start);
    if (at < 0 || (start !== eip && !called.has(start) && opts.translatedAt?.(start, physOf(at)))) continue;
    const insns: BlockInsn[] = [];
    let e = start;
    while (insns.length < Math.min(MAX_INSNS, most - total)) {
      const o = placeOf(e);
      // A block stays on one page (the test at its start covers it).
      if (o < 0 || pageOfPlace(o) !== pageOfPlace(at)) break;
      const i = decodeAt(e);
      if (!i || i.h === undefinedOpcode) break;
      // Across the page end: a block of its own, on the entry's page only. (At the entry, a test that
      // fails returns with nothing done: the engine then interprets the instruction.)
      let span: OtherPage | null = null;
      if ((o & 0xfff) + i.len > 0x1000) {
        if (insns.length === 0 && o < 0x1000) span = opts.crossing?.(e) ?? null;
        if (!span) break;
      }
      if (opts.replayable && notReplayable(i.opcode)) break;
      const next = (e + i.len) & ipMask;
      insns.push({ i, eip: e, next, k: insns.length, g: g++, off: o });
      if (span) crossings.set(start, span);
      if (o < 0x1000) {
        lo = Math.min(lo, o);
        hi = Math.min(0x1000, Math.max(hi, o + i.len));
      }
      e = next;
      if (!goesOnAfter(i)) break;
    }
    if (insns.length === 0) {
      if (start === eip) return null;
      continue;
    }
    const page = pageOfPlace(at);
    if (page >= 0) {
      const other = candidates.get(page)!;
      if (other.leafOnly && !isLeaf(insns, called.has(start))) continue;
      if (!others.includes(other)) {
        if (others.length >= MAX_OTHER_PAGES) continue;
        others.push(other);
      }
    }
    blocks.set(start, insns);
    total += insns.length;
    const last = insns[insns.length - 1]!;
    const next = successors(last, mode);
    if (last.i.opcode === 0xe8 && next.length === 2) called.add(next[0]!);
    for (const t of next) if (!blocks.has(t) && placeOf(t) >= 0) work.push(t);
  }
  const replacement = opts.instead?.(total, others.length);
  if (replacement) return replacement;
  const w = new BlockWriter(mode, !opts.replayable, opts.slowSites);
  const order = regionOrder(blocks.keys(), eip, placeOf);
  const index = new Map(order.map((start, k) => [start, k]));
  let current = 0;
  const jumpTo = (target: number, done: number): string => {
    const k = index.get(target);
    if (k === undefined) return w.exitCode(w.eipLit(target), done);
    // Within the region (flags to the cpu, as every block starts with them there). A block later in
    // the function is reached straight; a branch back (every loop has one) goes through the switch,
    // on while the budget lasts. Forward branches alone cannot run longer than the region.
    const f = w.pendingFlush();
    if (k > current) return `{ n += ${done}; ${f} break b${k}; }`;
    return `{ n += ${done}; ${f} if (n < budget) { pc = ${w.eipLit(target)}; continue; } cpu.eip = ${w.eipLit(target)}; return n; }`;
  };
  let written = 0;
  for (const [k, start] of order.entries()) {
    const insns = blocks.get(start)!;
    current = k;
    // Closes block k's label: a `break b${k}` lands here.
    w.emit(`} // b${k}`);
    const page = pageOfPlace(insns[0]!.off);
    // Another page's code, or an instruction running on into the next page: still mapped where it
    // was? (Else the dispatcher looks it up; the interpreter runs it.)
    const p = page >= 0 ? others.find((q) => q.physPage === page)! : crossings.get(start);
    if (p) w.emit(`if ((tlb[${p.linPage}] & ${p.mask}) !== ${p.want}) { cpu.eip = ${w.eipLit(start)}; return n; }`);
    w.pending = null;
    for (const ins of insns) {
      w.begin(ins);
      w.emit(`{ // ${ins.i.spec?.name ?? 'undefined'} @${w.hex(ins.eip)}`);
      const last = ins.k === insns.length - 1;
      const handled = ins.i.spec?.flow ? emitFlow(w, ins.i, jumpTo) : emitAlu(w, ins.i) || emitMove(w, ins.i) || emitShift(w, ins.i) || emitMul(w, ins.i);
      if (!handled) emitFallback(w, ins, last && !goesOnAfter(ins.i));
      w.emit('}');
      if (w.chars > maxSource - FRAME_CHARS) return Math.floor((written * 15) / 16);
      written++;
    }
    const lastIns = insns[insns.length - 1]!;
    // Fell off the end (page end, length limit; unreachable after a block-ending instruction).
    w.emit(jumpTo(lastIns.next, insns.length));
  }
  // Every fact of the key but the flatness of segments the translation never addressed through.
  const keyMask = segmentKeyMask(w.segsConsulted);
  const source = assemble(w, eip, mode, keyMask, order);
  if (source.length > maxSource) return Math.floor(total / 2);
  const slow = w.sites.length ? new Int32Array(w.sites.length + 1) : NO_SLOW_COUNTS;
  const fn = compile(source, w.instrs, slow);
  return makeTranslation({
    eip, phys, key: mode.key & keyMask, keyMask, csBase: mode.csBase, csLimit: mode.csLimit, length: total, blocks: blocks.size,
    entries: [...blocks].filter(([b, insns]) => b !== eip && insns[0]!.off < 0x1000).map(([b]) => b), home: null,
    codeStart: phys - pageOff + lo, bytes: hi - lo,
    otherPages: [...new Set([...[...blocks.values()].map((b) => pageOfPlace(b[0]!.off)).filter((p) => p >= 0), ...[...crossings.values()].map((c) => c.physPage)])],
    source, fn,
    slow, sites: w.sites, touchesFpu: [...blocks.values()].some((insns) => insns.some((b) => mayTouchFpu(b.i.opcode))),
  });
}

/**
 * x87 escapes, FWAIT, and the two-byte ranges of MMX and SSE, FXSAVE/FXRSTOR and EMMS (generously:
 * a miss here would hide a difference from the check engine; a false hit only costs it time).
 */
function mayTouchFpu(o: number): boolean {
  if ((o >= 0xd8 && o <= 0xdf) || o === 0x9b) return true;
  if (o < 0x0f00) return false;
  const b = o & 0xff;
  return (b >= 0x0e && b <= 0x2f) || (b >= 0x50 && b <= 0x7f) || b === 0xae || (b >= 0xc2 && b <= 0xc6) || b >= 0xd0;
}

/**
 * The order a region's blocks are written in, by their starts: the entry first (the code starts
 * there), then the rest by `place` (their offsets), so that a fall-through or a branch forward in the
 * guest's code is a branch forward in the generated code, straight to the block's label.
 */
export function regionOrder(starts: Iterable<number>, entry: number, place: (start: number) => number): number[] {
  return [...starts].sort((a, b) => (a === entry ? -1 : b === entry ? 1 : place(a) - place(b)));
}

/**
 * What a translation is made of; the engine's bookkeeping fields start empty. `home` is the region
 * whose code an alias enters, or null for a region's own translation.
 */
export type TranslationParts = Pick<
  Translation,
  | 'eip' | 'phys' | 'key' | 'keyMask' | 'csBase' | 'csLimit' | 'length' | 'blocks' | 'entries' | 'codeStart' | 'bytes' | 'otherPages' | 'source' | 'fn'
  | 'slow' | 'sites' | 'touchesFpu'
> & { readonly home: Translation | null };

/**
 * Every translation, region or alias, is made here, with its fields in one order: the dispatcher
 * reads them on every dispatch, and objects of one shape keep those reads monomorphic (aliases made
 * by spreading a region came out in two other hidden classes).
 */
export function makeTranslation(p: TranslationParts): Translation {
  // The dispatcher's fields first, in the order it reads them: a chained dispatch tests the successor's
  // first eight and calls its fn, and they then share two of the processor's cache lines, not four.
  const t: Translation = {
    eip: p.eip, valid: true, key: p.key, keyMask: p.keyMask, csBase: p.csBase, csLimit: p.csLimit | 0, linPage: -1, tlbEntry: 0,
    fn: p.fn, succ: null, succ2: null, wantsRetranslation: false, home: p.home!, runs: 0, slow: p.slow,
    phys: p.phys, length: p.length, blocks: p.blocks, entries: p.entries, aliases: [], codeStart: p.codeStart, bytes: p.bytes,
    otherPages: p.otherPages, source: p.source, runsAtSweep: 0, alt: null, sourceChars: p.source.length,
    sites: p.sites, touchesFpu: p.touchesFpu, slowSince: 0, wasmTooShort: false,
  };
  if (!p.home) t.home = t;
  return t;
}

/** Constant EIPs a block can continue at: branch targets and the fall-through. */
function successors(last: BlockInsn, mode: ModeFacts): number[] {
  const i = last.i;
  const o = i.opcode;
  const rel = (): number => (i.o32 ? (last.next + i.imm) | 0 : (last.next + i.imm) & 0xffff);
  if ((o >= 0x70 && o < 0x80) || (o >= 0x0f80 && o < 0x0f90) || o === 0xe2 || o === 0xe3) return [rel(), last.next].filter((t) => t >>> 0 <= mode.csLimit >>> 0);
  if (o === 0xeb || o === 0xe9) return [rel()].filter((t) => t >>> 0 <= mode.csLimit >>> 0);
  // A call's target, and where its RET will come back to (RET jumps through the region's switch).
  if (o === 0xe8) return [rel(), last.next].filter((t) => t >>> 0 <= mode.csLimit >>> 0);
  if (o === 0xff && (i.reg === 2 || i.reg === 3)) return [last.next];
  if (goesOnAfter(i)) return [last.next];
  return [];
}

/**
 * A called function that is one block of at most MAX_LEAF_INSNS instructions ending in RET; or a
 * procedure linkage table's stub (a called JMP through memory: a static binary's calls to memcpy,
 * strlen and the rest go through one, and each cost a dispatch into it and another out of it); or a
 * called block of one CALL, whose target is then taken only if it is itself a leaf: the kernel's
 * retpoline thunks (`call 1f; ...; 1: mov [esp], eax; ret`), through which every indirect call of
 * the kernel goes.
 */
function isLeaf(insns: readonly BlockInsn[], called: boolean): boolean {
  const last = insns[insns.length - 1]!.i;
  const o = last.opcode;
  const stub = insns.length === 1 && o === 0xff && last.reg === 4 && last.mod !== 3;
  const thunk = insns.length === 1 && o === 0xe8;
  return called && insns.length <= MAX_LEAF_INSNS && (o === 0xc3 || o === 0xc2 || stub || thunk);
}

function emitFallback(w: BlockWriter, ins: BlockInsn, ends: boolean): void {
  w.flush();
  w.mayFault(true);
  const name = w.instrName();
  // Handlers read prevEip (string restarts, the FPU's last instruction, HLT reports).
  w.emit(`cpu.prevEip = ${w.eipLit(ins.eip)}; cpu.eip = ${w.eipLit(ins.next)}; ${name}.h(cpu, ${name});`);
  const keyChanged = loadsDataSegment(ins.i) ? ' || (cpu.modeKey & KEY_MASK) !== KEY' : '';
  if (ends) w.emit(`return n + ${ins.k + 1};`);
  else w.emit(`if (cpu.eip !== ${w.eipLit(ins.next)} || cpu.brk || cpu.codeEpoch !== epoch${keyChanged}) return n + ${ins.k + 1};`);
}

/** What a translation may bind on entry; only the ones its code names are bound (each costs a load on every run). */
const BINDINGS: readonly [string, string][] = [
  ['r32', 'cpu.r32'], ['r16', 'cpu.r16'], ['r8', 'cpu.r8'], ['epoch', 'cpu.codeEpoch'], ['tlb', 'cpu.tlb'], ['ram8', 'cpu.mem.u8'],
  ['ram16', 'cpu.mem.u16'], ['ram32', 'cpu.mem.i32'], ['codePage', 'cpu.mem.codePage'], ['plain', 'cpu.mem.plainSpan'],
];

/**
 * The function's source. Its loop opens one labelled block per region block (`starts`, in the order
 * their code follows), and a switch on EIP inside them all breaks out to the block it names: entries,
 * branches back and returns come in there, branches forward break to their label directly.
 */
function assemble(w: BlockWriter, eip: number, mode: ModeFacts, keyMask: number, starts: readonly number[]): string {
  const body = w.lines.join('\n') + '\n' + w.faultCases.join('\n');
  // The key test after a segment load (emitFallback) compares with what the translation serves.
  const keyTest = /\bKEY_MASK\b/.test(body) ? [`KEY_MASK = ${keyMask}`, `KEY = ${mode.key & keyMask}`] : [];
  const consts = [...[...w.named].map((k) => `i${k} = I[${k}]`), ...keyTest].join(', ');
  const bound = BINDINGS.filter(([name]) => new RegExp(`\\b${name}\\b`).test(body)).map(([name, from]) => `${name} = ${from}`);
  // The function in parentheses: V8 then compiles it along with `new Function`'s body. Bare, it was
  // pre-parsed there and parsed again at its first call, 70 ms against 40 for the 74 translations
  // of one hash run (the second parse showed in the profiles as time at runTranslation's call).
  return [
    `// block at eip ${w.hex(eip)}, key ${w.hex(mode.key)}`,
    ...(consts ? [`const ${consts};`] : []),
    ...(w.sites.length ? ['const slow = SLOW;'] : []),
    `return (function block_${(eip >>> 0).toString(16)}(cpu, budget) {`,
    ...(bound.length ? [`const ${bound.join(', ')};`] : []),
    `let fa = 0, fb = 0, fr = 0, fc = 0, n = 0, at = 0, pc = cpu.eip${/\bws\b/.test(body) ? ', ws = 0' : ''};`,
    `try { for (;;) { ${starts.map((_, k) => `b${k}: {`).reverse().join(' ')} switch (pc) {`,
    ...starts.map((start, k) => `case ${w.eipLit(start)}: break b${k};`),
    `default: cpu.eip = pc; return n;`,
    `}`,
    ...w.lines,
    `} } catch (e) {`,
    `if (e === FAULT) switch (at) {`,
    ...w.faultCases,
    `}`,
    // Cpu.btRead abandoned instruction `at`: the engine runs it as decoded here (Cpu.runFetched).
    ...(/\bbtRead\b/.test(body) ? ['if (cpu.btRestart) cpu.btInstr = I[at];'] : []),
    `throw e; }`,
    `});`,
  ].join('\n');
}

function compile(source: string, instrs: Instr[], slow: Int32Array): TranslatedFn {
  // eslint-disable-next-line @typescript-eslint/no-implied-eval
  const factory = new Function('I', 'FAULT', 'PARITY', 'SLOW', source) as (I: Instr[], f: unknown, p: Uint8Array, s: Int32Array) => TranslatedFn;
  return factory(instrs, FAULT, PARITY, slow);
}
