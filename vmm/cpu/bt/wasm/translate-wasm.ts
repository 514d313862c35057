// A region of guest code translated to a WebAssembly module (v86's way) instead of a JavaScript
// function. The engine uses it through wasm-tier.ts for regions its subset covers; the prototype
// harness (machine.ts, scripts/bt-wasm-bench.ts) measures it against the JavaScript translator. The
// instructions it takes are subset.ts's.
//
// Anything else ends the block before it, and the region leaves to the dispatcher there.
//
// The CPU state lives in the memory at fixed offsets (WasmLayout.state), beside the software TLB
// (the interpreter's entry format), a byte per physical page saying it holds decoded or translated
// code, and guest RAM: one WebAssembly.Memory, as the issue requires of a WebAssembly design. Inside
// a translation the eight registers are WebAssembly locals, loaded on entry and stored on every exit;
// the lazy flags are handled as the JavaScript translator does (flags-emit.ts): the producing
// operation is known when translating, its operands and result sit in locals, and the interpreter's
// lazy-flag fields are locals too, written at block ends and copied to the state on the way out.
//
// No JavaScript exception crosses translated code: an access the inline path cannot do (a TLB miss
// the host cannot fill, I/O, a page crossing, a store to a page with code) leaves with status
// STATUS_INTERPRET and EIP at that instruction, the instructions before it done, and the caller runs
// it in the interpreter (the status-return protocol).

import { SS, type Instr } from '../../decode.ts';
import { CPU_PLAIN_SPAN, CPU_SEGMENT_BASES, PLAIN_BASE } from '../../../memory.ts';
import { AF, ARITH, CF, LazyOp, OF, PF, SF, ZF } from '../../flags.ts';
import { TLB_IO, TLB_SUP_WRITE, TLB_USER_READ, TLB_USER_WRITE, TLB_VALID } from '../../regs.ts';
import type { ModeFacts } from '../mode.ts';
import { MAX_BLOCKS, MAX_INSNS, MAX_REGION_INSNS, regionOrder } from '../translate.ts';
import { Code, I32, I64, Op, moduleBytes, type Label } from './wasm-module.ts';
import { ALU_OPS, DEC, INC, NEG, NOT, PRODUCERS, SHIFT_OPS, TEST, readsCarry, type IntOp, type Producer } from '../../gen/integer-table.ts';
import { parse, type Expr } from '../../gen/template.ts';
import { CONDITIONS, LAZY_FLAGS, LAZY_OPS, flagSource } from '../../gen/flags-table.ts';
import { emitTemplate, type Binding } from './template-wasm.ts';
import { plan, successors, usesStack, type Insn } from './subset.ts';
import { shiftSteps, shiftStepsByCount } from './shift-steps.ts';

/** Byte offsets of the CPU state from the layout's `state` (the interpreter's fields of the same names). */
export const STATE = { regs: 0, eip: 32, flagsRaw: 36, lazy: 40, lop: 44, la: 48, lb: 52, lres: 56, lsz: 60, status: 64 } as const;
/** Bytes of the state area. */
export const STATE_BYTES = 128;
type StateOffsets = { readonly [K in keyof typeof STATE]: number };
function stateAt(base: number): StateOffsets {
  return Object.fromEntries(Object.entries(STATE).map(([k, v]) => [k, base + v])) as StateOffsets;
}

/**
 * Where in the one memory each part is, in bytes: the CPU state (STATE), 2^20 TLB entries of 4 bytes
 * (Cpu.tlb), one byte per physical page that is non-zero when the page holds decoded or translated
 * code (PhysicalMemory.codePage), and guest RAM.
 */
export interface WasmLayout {
  readonly state: number;
  readonly tlb: number;
  readonly codePage: number;
  readonly ram: number;
}
/** The prototype harness's own memory (machine.ts): state, TLB, code-page marks, then RAM. */
export const TLB_BASE = 0x1000;
export const CODE_PAGE_BASE = 0x401000;
export const RAM_BASE = 0x600000;
export const PROTOTYPE_LAYOUT: WasmLayout = { state: 0, tlb: TLB_BASE, codePage: CODE_PAGE_BASE, ram: RAM_BASE };

export const STATUS_DONE = 0;
/** The instruction at STATE.eip was not run: the interpreter must run it. */
export const STATUS_INTERPRET = 1;
/**
 * The instruction at STATE.eip was not run, and its own TLB fill wrote to a page holding translations
 * (an accessed bit in a page table beside code): it must run as it was decoded from the bytes the
 * region was made of, since its own may have changed, and the interpreter goes on after it.
 */
export const STATUS_FETCHED = 2;

/** Function indexes: the host's TLB fill and write log (imports), the CF helper, the translation. */
const F_FILL = 0;
const F_LOG = 1;
const F_CF = 2;

// Locals of the translation: parameter 0 is the budget.
const BUDGET = 0;
const R = (r: number): number => 1 + r;
const PC = 9, N = 10, FA = 11, FB = 12, FR = 13, FC = 14, LIN = 15, ENT = 16, PHYS = 17, T0 = 18, T1 = 19, P64 = 20, K = 21, OFF = 26;
/**
 * The interpreter's lazy-flag fields, held in locals from entry to exit: a block's end writes its
 * pending flags there (V8 keeps them in registers, and drops what the next block overwrites), and
 * only the way out writes them to the state, beside the registers. The record's operands and result
 * (la, lb, lres) are the producer's own locals FA, FB and FR: a producer leaves them where the
 * interpreter's record keeps them, and a block's end has only the constants of its record to write.
 */
const FLAG_LOCALS: ReadonlyMap<number, number> = new Map([
  [STATE.flagsRaw, 22], [STATE.lazy, 23], [STATE.lop, 24], [STATE.la, FA], [STATE.lb, FB], [STATE.lres, FR], [STATE.lsz, 25],
]);
const LOCALS = [...new Array<number>(19).fill(I32), I64, I32, ...new Array<number>(5).fill(I32)];

/** The table's operand names in its integer templates: a and b in FA and FB, the carry-in in T1. */
const OPERANDS: ReadonlyMap<string, Binding> = new Map([
  ['a', { local: FA, kind: 'signed' }],
  ['b', { local: FB, kind: 'signed' }],
  ['c', { local: T1, kind: 'small' }],
]);

/** The names of the flags table's templates (gen/flags-table.ts): the pending producer's record, 32 bits. */
const RECORD: ReadonlyMap<string, Binding> = new Map<string, Binding>([
  ['a', { local: FA, kind: 'signed' }],
  ['b', { local: FB, kind: 'signed' }],
  ['r', { local: FR, kind: 'signed' }],
  ['ua', { local: FA, kind: 'unsigned' }],
  ['ub', { local: FB, kind: 'unsigned' }],
  ['ur', { local: FR, kind: 'unsigned' }],
  ['s', { value: -0x80000000 }],
]);

/** A shift's operand, `v` in the table's shift templates: a dword, or a word (0-0xFFFF). */
const SHIFTED: ReadonlyMap<string, Binding> = new Map([['v', { local: T0, kind: 'signed' }]]);
const SHIFTED_WORD: ReadonlyMap<string, Binding> = new Map([['v', { local: T0, kind: 'small' }]]);

/** The same for a byte's or a word's record: the operands and result held cut to their size, and its sign bit. */
function narrowRecord(sign: number): ReadonlyMap<string, Binding> {
  return new Map<string, Binding>([
    ...['a', 'ua'].map((n): [string, Binding] => [n, { local: FA, kind: 'small' }]),
    ...['b', 'ub'].map((n): [string, Binding] => [n, { local: FB, kind: 'small' }]),
    ...['r', 'ur'].map((n): [string, Binding] => [n, { local: FR, kind: 'small' }]),
    ['s', { value: sign }],
  ]);
}
/** The flags table's names for a record by the interpreter's size code (lsz): a byte's, a word's, a dword's. */
const RECORDS: readonly ReadonlyMap<string, Binding>[] = [narrowRecord(0x80), narrowRecord(0x8000), RECORD];
/** Stores by operand size code. */
const STORES: readonly Op[] = [Op.i32_store8, Op.i32_store16, Op.i32_store];

/** `v` cut to operand size code `size` (a dword as it is). */
function cut(v: number, size: number): number {
  return size === 2 ? v : v & (size === 1 ? 0xffff : 0xff);
}

/** A shift's operand and its count from CL (1-31), `v` and `k` in the table's shift templates. */
const SHIFTED_BY_K: ReadonlyMap<string, Binding> = new Map([['v', { local: T0, kind: 'signed' }], ['k', { local: K, kind: 'small' }]]);

/** NOT's operand, `a`, in T0 (NOT leaves the flags' locals alone). */
const IN_T0: ReadonlyMap<string, Binding> = new Map([['a', { local: T0, kind: 'signed' }]]);

export interface WasmTranslation {
  readonly eip: number;
  readonly length: number;
  readonly blocks: number;
  readonly bytes: Uint8Array<ArrayBuffer>;
  /** Guest bytes covered: page offset of the lowest instruction, and the span to the end of the highest. */
  readonly codeStart: number;
  readonly codeBytes: number;
  /** Segments its memory operands address through (bits as in the mode key). */
  readonly segs: number;
  /** A branch of the region goes back to one of its blocks at or before its own start (a loop). */
  readonly loops: boolean;
}

export interface WasmOptions {
  /**
   * Call the host's `log(phys, size)` before every store (the check engine records the bytes a
   * translation overwrites, to undo them before the interpreter runs the same instructions).
   */
  readonly logWrites?: boolean;
  /** Whether a region of `length` instructions (with a loop inside it, or not) is wanted; no bytes are written for one that is not. */
  readonly accept?: (length: number, loops: boolean) => boolean;
  /**
   * Told of each instruction a block of the region stops before: one outside the subset, or
   * (`outside` false) a condition whose flags were set before the block (the engine probe's WASM_STOPS).
   */
  readonly stopped?: (i: Instr, outside: boolean) => void;
}

/**
 * Translates the region at `eip` (physical `phys`) into a module's bytes, or null when not even its
 * first instruction is in the subset. Region discovery follows translate.ts: the entry block and the
 * blocks of the same page its direct jumps reach, within the same limits.
 */
export function translateWasm(
  eip: number,
  phys: number,
  mode: ModeFacts,
  decodeAt: (eip: number) => Instr | null,
  memoryPages: number,
  layout: WasmLayout = PROTOTYPE_LAYOUT,
  opts: WasmOptions = {},
): WasmTranslation | null {
  // Jump targets are checked against no CS limit: only where there is none.
  if (!mode.csD || mode.csLimit >>> 0 !== 0xffffffff) return null;
  const pageOff = phys & 0xfff;
  const offsetOf = (e: number): number => {
    const o = pageOff + ((e - eip) | 0);
    return o >= 0 && o < 0x1000 ? o : -1;
  };
  const blocks = new Map<number, Insn[]>();
  const work = [eip];
  let total = 0;
  while (work.length && blocks.size < MAX_BLOCKS && total < MAX_REGION_INSNS) {
    const start = work.shift()!;
    if (blocks.has(start)) continue;
    const insns: Insn[] = [];
    let e = start;
    let producerKnown = false;
    while (insns.length < MAX_INSNS) {
      const o = offsetOf(e);
      if (o < 0) break;
      const i = decodeAt(e);
      if (!i || o + i.len > 0x1000) break;
      const p = plan(i, mode);
      if (!p || (p.needsProducer && !producerKnown)) {
        opts.stopped?.(i, !p);
        break;
      }
      const next = (e + i.len) | 0;
      insns.push({ i, eip: e, next, k: insns.length });
      e = next;
      if (p.flags === 'set') producerKnown = true;
      else if (p.flags === 'cfof') producerKnown = false;
      if (p.flow) break;
    }
    if (insns.length === 0) {
      if (start === eip) return null;
      continue;
    }
    blocks.set(start, insns);
    total += insns.length;
    for (const t of successors(insns[insns.length - 1]!)) if (offsetOf(t) >= 0 && !blocks.has(t)) work.push(t);
  }
  let lo = 0x1000, hi = 0, segs = 0, loops = false;
  for (const [start, insns] of blocks) {
    for (const to of successors(insns[insns.length - 1]!)) if (blocks.has(to) && offsetOf(to) <= offsetOf(start)) loops = true;
    for (const ins of insns) {
      const o = offsetOf(ins.eip);
      lo = Math.min(lo, o);
      hi = Math.max(hi, o + ins.i.len);
      if (ins.i.mod !== 3 && ins.i.opcode !== 0x8d) segs |= 1 << ins.i.seg;
      if (usesStack(ins.i)) segs |= 1 << SS;
    }
  }
  // Judged before any byte is written: most regions the engine offers are refused.
  if (opts.accept && !opts.accept(total, loops)) return null;
  const ordered = new Map(regionOrder(blocks.keys(), eip, offsetOf).map((start) => [start, blocks.get(start)!]));
  const w = new RegionWriter(mode, [...ordered.keys()], layout, opts.logWrites ?? false);
  const bytes = moduleBytes({
    memoryPages,
    importFuncs: [
      { name: 'fill', type: { params: [I32, I32], results: [I32] } },
      { name: 'log', type: { params: [I32, I32], results: [] } },
    ],
    funcs: [
      { name: 'cf', type: { params: [], results: [I32] }, locals: [I32, I32, I32, I32, I32, I32], code: cfHelper(stateAt(layout.state)) },
      { name: 'run', type: { params: [I32], results: [I32] }, locals: LOCALS, code: w.region(ordered) },
    ],
  });
  return { eip, length: total, blocks: blocks.size, bytes, codeStart: (phys - pageOff) + lo, codeBytes: hi - lo, segs, loops };
}

// The CF helper's locals: the size mask, the LazyOp, the record cut to its width, the answer.
const M = 0, OPL = 1, A = 2, B = 3, RES = 4, CARRY = 5;
const CF_HELPER_NAMES: ReadonlyMap<string, Binding> = new Map([
  ['ua', { local: A, kind: 'unsigned' }],
  ['ub', { local: B, kind: 'unsigned' }],
  ['ur', { local: RES, kind: 'unsigned' }],
]);

/** The interpreter's Cpu.cf() over the state in memory: CF when no producer is known. */
function cfHelper(S: StateOffsets): Code {
  const c = new Code();
  const field = (off: number): Code => c.i32(0).mem(Op.i32_load, 2, off);
  field(S.lazy).i32(CF).op(Op.i32_and, Op.i32_eqz);
  c.open(Op.if, I32);
  field(S.flagsRaw).i32(CF).op(Op.i32_and);
  c.else();
  // The size mask: 0xFF, 0xFFFF or all ones for lsz 0, 1, 2.
  c.i32(-1).i32(0xffff).i32(0xff);
  field(S.lsz).i32(1).op(Op.i32_eq, Op.select);
  field(S.lsz).i32(2).op(Op.i32_eq, Op.select).set(M);
  field(S.lop).set(OPL);
  field(S.la).get(M).op(Op.i32_and).set(A);
  field(S.lb).get(M).op(Op.i32_and).set(B);
  field(S.lres).get(M).op(Op.i32_and).set(RES);
  // Each LazyOp's CF from the one flags table, the one recorded chosen.
  c.i32(0).set(CARRY);
  for (const op of LAZY_OPS) {
    emitTemplate(c, LAZY_FLAGS[op]!.cf, CF_HELPER_NAMES);
    c.get(CARRY).get(OPL).i32(op).op(Op.i32_eq, Op.select).set(CARRY);
  }
  c.get(CARRY);
  c.close();
  return c;
}

class RegionWriter {
  private readonly c = new Code();
  private pending: Producer | null = null;
  /** The interpreter's size code of the pending producer's record (lsz): 0 a byte, 1 a word, 2 a dword. */
  private size = 2;
  private top: Label = 0;
  private out: Label = 0;
  /** Each block's label: a branch to it leaves that label's construct and lands on the block's first instruction. */
  private labels: Label[] = [];
  /** The index of the block being written. */
  private at = 0;
  private readonly index = new Map<number, number>();
  /** Where the region's calls return to, when that is one of its blocks (RET goes on there inside). */
  private readonly returnPoints: number[] = [];
  private cur!: Insn;

  private readonly S: StateOffsets;

  constructor(
    private readonly mode: ModeFacts,
    starts: number[],
    private readonly L: WasmLayout,
    private readonly logWrites: boolean,
  ) {
    this.S = stateAt(L.state);
    starts.forEach((s, k) => this.index.set(s, k));
  }

  region(blocks: Map<number, Insn[]>): Code {
    const c = this.c;
    for (const insns of blocks.values()) {
      const last = insns[insns.length - 1]!;
      if (last.i.opcode === 0xe8 && blocks.has(last.next)) this.returnPoints.push(last.next);
    }
    for (let r = 0; r < 8; r++) c.i32(0).mem(Op.i32_load, 2, this.S.regs + 4 * r).set(R(r));
    for (const [off, local] of FLAG_LOCALS) c.i32(0).mem(Op.i32_load, 2, this.L.state + off).set(local);
    this.out = c.open(Op.block);
    this.top = c.open(Op.loop);
    const list = [...blocks.values()];
    const labels: Label[] = (this.labels = new Array<Label>(list.length));
    for (let k = list.length - 1; k >= 0; k--) labels[k] = c.open(Op.block);
    c.get(PC).brTable(labels, this.out);
    for (const [k, insns] of list.entries()) {
      c.close();
      this.at = k;
      this.pending = null;
      for (const ins of insns) {
        this.cur = ins;
        this.insn(ins.i);
      }
      const last = insns[insns.length - 1]!;
      if (!plan(last.i, this.mode)!.flow) this.jumpTo(last.next, insns.length);
    }
    c.close(); // loop
    c.close(); // out
    for (let r = 0; r < 8; r++) c.i32(0).get(R(r)).mem(Op.i32_store, 2, this.S.regs + 4 * r);
    this.spillFlags();
    c.get(N);
    return c;
  }

  // ------------------------------------------------------------ exits and jumps

  /** Writes a field of the state: a lazy-flag field goes to its local (FLAG_LOCALS). */
  private store(off: number, value: () => void): void {
    const local = FLAG_LOCALS.get(off - this.L.state);
    if (local !== undefined) {
      value();
      this.c.set(local);
      return;
    }
    this.c.i32(0);
    value();
    this.c.mem(Op.i32_store, 2, off);
  }

  /** Pushes a lazy-flag field of the state (from its local). */
  private flagField(off: number): void {
    this.c.get(FLAG_LOCALS.get(off - this.L.state)!);
  }

  /** The lazy-flag locals to the state, where the interpreter and the CF helper read them. */
  private spillFlags(): void {
    for (const [off, local] of FLAG_LOCALS) this.c.i32(0).get(local).mem(Op.i32_store, 2, this.L.state + off);
  }

  /** Producer `p` (of a record of size code `size`) is pending. */
  private produce(p: Producer, size = 2): void {
    this.pending = p;
    this.size = size;
  }

  /** Writes the pending flags to the state as the interpreter keeps them (flags-emit.ts flushCode). */
  private flush(): void {
    const lsz = this.size;
    const p = this.pending;
    if (!p) return;
    const c = this.c;
    const raw = (keep: number, bits: () => void): void =>
      this.store(this.S.flagsRaw, () => {
        this.flagField(this.S.flagsRaw);
        c.i32(keep).op(Op.i32_and);
        bits();
        c.op(Op.i32_or);
      });
    if (p === 'shift') {
      raw(~(CF | OF | AF), () => c.get(FC).get(FB).i32(11).op(Op.i32_shl, Op.i32_or));
      this.store(this.S.lop, () => c.i32(LazyOp.LOGIC));
      this.store(this.S.lsz, () => c.i32(lsz));
      this.store(this.S.lazy, () => c.i32(PF | ZF | SF));
      return;
    }
    // The interpreter's record of this producer (the one table's PRODUCERS, as flags-emit.ts flushCode).
    const spec = PRODUCERS[p];
    if (spec.keepsCF) raw(~CF, () => c.get(FC));
    const [lazy0, lazy1] = spec.lazy;
    // The record's operands and result are in FA, FB and FR already (FLAG_LOCALS).
    this.store(this.S.lop, () => (lazy0 === lazy1 ? c.i32(lazy0) : c.i32(lazy1).i32(lazy0).get(FC).op(Op.select)));
    this.store(this.S.lsz, () => c.i32(lsz));
    this.store(this.S.lazy, () => c.i32(spec.keepsCF ? ARITH & ~CF : ARITH));
  }

  /** Leaves with EIP = `eip`, `done` more instructions counted, and `status`. */
  private exit(eip: number, done: number, status: number): void {
    const c = this.c;
    this.flush();
    if (done) c.get(N).i32(done).op(Op.i32_add).set(N);
    this.store(this.S.eip, () => c.i32(eip));
    this.store(this.S.status, () => c.i32(status));
    c.br(this.out);
  }

  /** Leaves with EIP = T0 (a return address), `done` more instructions counted. */
  private exitToT0(done: number): void {
    const c = this.c;
    this.flush();
    if (done) c.get(N).i32(done).op(Op.i32_add).set(N);
    this.store(this.S.eip, () => c.get(T0));
    this.store(this.S.status, () => c.i32(STATUS_DONE));
    c.br(this.out);
  }

  /**
   * Goes on at `target` after `done` instructions of this block: inside the region while the budget
   * lasts. A block later in the module is reached by a branch straight to its label; only a branch
   * back to this block or an earlier one (which every loop has) goes through the loop's `br_table`,
   * with the budget looked at there. Forward branches alone cannot run longer than the region.
   */
  private jumpTo(target: number, done: number): void {
    const k = this.index.get(target);
    if (k === undefined) {
      this.exit(target, done, STATUS_DONE);
      return;
    }
    const c = this.c;
    this.flush();
    if (k > this.at) {
      c.get(N).i32(done).op(Op.i32_add).set(N).br(this.labels[k]!);
      return;
    }
    c.get(N).i32(done).op(Op.i32_add).tee(N).get(BUDGET).op(Op.i32_lt_s);
    c.openHinted(true);
    c.i32(k).set(PC).br(this.top);
    c.close();
    this.store(this.S.eip, () => c.i32(target));
    this.store(this.S.status, () => c.i32(STATUS_DONE));
    c.br(this.out);
  }

  // ------------------------------------------------------------ memory

  /** Pushes the effective address (flat segment: also the linear address). */
  private ea(i: Instr): void {
    const c = this.c;
    let parts = 0;
    if (i.base >= 0) {
      c.get(R(i.base));
      parts++;
    }
    if (i.index >= 0) {
      c.get(R(i.index));
      if (i.scale) c.i32(i.scale).op(Op.i32_shl);
      if (parts++) c.op(Op.i32_add);
    }
    if (i.disp !== 0 || parts === 0) {
      c.i32(i.disp);
      if (parts) c.op(Op.i32_add);
    }
  }

  /**
   * Leaves PHYS = the physical address of the memory operand, after checking the TLB entry grants the
   * access (the JavaScript translation's inline test, BlockWriter.flatReadInto/storeProbe): the rights
   * this CPL needs, not I/O, not crossing the page, and for a store no translations on the page.
   * Otherwise the host is asked to fill the entry, and if it cannot, the instruction is left to the
   * interpreter (or run as decoded, when the page walk wrote to a page holding translations).
   */
  private probe(i: Instr, size: number, write: boolean, read: boolean): void {
    const c = this.c;
    this.ea(i);
    if (this.mode.flat & (1 << i.seg)) c.set(LIN);
    else {
      // A 4 GiB segment with a base (subset.ts): the base as it is now, and the offset may not wrap
      // past 4 GiB (the interpreter raises the fault).
      c.tee(OFF).i32(0).mem(Op.i32_load, 2, this.L.state + CPU_SEGMENT_BASES + 4 * i.seg).op(Op.i32_add).set(LIN);
      if (size > 1) {
        c.get(OFF).i32(-size).op(Op.i32_gt_u);
        c.openHinted(false);
        this.exit(this.cur.eip, this.cur.k, STATUS_INTERPRET);
        c.close();
      }
    }
    this.probeLin(size, write, read);
  }

  /** probe for the linear address in LIN. */
  private probeLin(size: number, write: boolean, read: boolean): void {
    const c = this.c;
    const user = this.mode.cpl === 3;
    let need = 0;
    if (read) need |= user ? TLB_USER_READ : TLB_VALID;
    if (write) need |= user ? TLB_USER_WRITE : TLB_SUP_WRITE;
    if (this.mode.identity) {
      // Linear is physical (mode.ts): RAM from PLAIN_BASE up needs no TLB entry, and the access
      // waits on no load; anything else takes the TLB's way below.
      c.get(LIN).i32(PLAIN_BASE).op(Op.i32_sub).i32(0).mem(Op.i32_load, 2, this.L.state + CPU_PLAIN_SPAN).op(Op.i32_ge_u);
      c.openHinted(false);
      this.probeTlb(size, write, need);
      c.else();
      c.get(LIN).set(PHYS);
      c.close();
    } else this.probeTlb(size, write, need);
    if (write) {
      c.get(PHYS).i32(12).op(Op.i32_shr_u).mem(Op.i32_load8_u, 0, this.L.codePage);
      c.openHinted(false);
      this.exit(this.cur.eip, this.cur.k, STATUS_INTERPRET);
      c.close();
    }
  }

  /** probeLin's test of the TLB entry: leaves PHYS, or leaves the region for the interpreter. */
  private probeTlb(size: number, write: boolean, need: number): void {
    const c = this.c;
    const entry = (): void => {
      c.get(LIN).i32(12).op(Op.i32_shr_u).i32(2).op(Op.i32_shl).mem(Op.i32_load, 2, this.L.tlb);
      c.tee(ENT).i32(need | TLB_IO).op(Op.i32_and).i32(need).op(Op.i32_ne);
    };
    const crosses = (): void => {
      c.get(LIN).i32(0xfff).op(Op.i32_and).i32(0x1000 - size).op(Op.i32_gt_u);
    };
    // Two branches rather than one on the two tests or-ed: each compiles to a compare and a jump.
    const usable = c.open(Op.block);
    const miss = c.open(Op.block);
    entry();
    c.brIfHinted(miss, false);
    crosses();
    c.brIfHinted(miss, false);
    c.br(usable);
    c.close();
    // The fill says whether its walk wrote to a page holding translations (an accessed or dirty bit in
    // a page table that shares a page with code): this code may be stale (STATUS_FETCHED). With
    // linear as physical (paging off) there is no walk.
    c.get(LIN).i32(write ? 1 : 0).call(F_FILL);
    if (this.mode.identity) c.op(Op.drop);
    else {
      c.openHinted(false);
      this.exit(this.cur.eip, this.cur.k, STATUS_FETCHED);
      c.close();
    }
    entry();
    crosses();
    c.op(Op.i32_or);
    c.openHinted(false);
    this.exit(this.cur.eip, this.cur.k, STATUS_INTERPRET);
    c.close();
    c.close();
    c.get(ENT).i32(-4096).op(Op.i32_and).get(LIN).i32(0xfff).op(Op.i32_and, Op.i32_or).set(PHYS);
  }

  private load32(): void {
    this.c.get(PHYS).mem(Op.i32_load, 2, this.L.ram);
  }

  /** Stores the value `value` pushes at PHYS. */
  private store32(value: () => void, op: Op = Op.i32_store): void {
    if (this.logWrites) this.c.get(PHYS).i32(op === Op.i32_store ? 4 : op === Op.i32_store16 ? 2 : 1).call(F_LOG);
    this.c.get(PHYS);
    value();
    this.c.mem(op, op === Op.i32_store ? 2 : op === Op.i32_store16 ? 1 : 0, this.L.ram);
  }

  /** PUSH: the dword `value` pushes goes to SS:ESP-4 (a flat SS), then ESP moves; a fault changes nothing. */
  private push(value: () => void): void {
    const c = this.c;
    c.get(R(4)).i32(4).op(Op.i32_sub).set(LIN);
    this.probeLin(4, true, false);
    this.store32(value);
    c.get(LIN).set(R(4));
  }

  /** POP into T0: the dword at SS:ESP, then ESP moves on by 4 + `extra`. */
  private pop(extra = 0): void {
    const c = this.c;
    c.get(R(4)).set(LIN);
    this.probeLin(4, false, true);
    this.load32();
    c.set(T0);
    c.get(R(4)).i32(4 + extra).op(Op.i32_add).set(R(4));
  }

  /** Reads the 32-bit E operand into T0. */
  private readE(i: Instr): void {
    this.loadE(i, 2);
    this.c.set(T0);
  }

  /** Pushes E, a register or memory of operand size code `size`, zero-extended. */
  private loadE(i: Instr, size: number): void {
    if (i.mod === 3) return this.readReg(i.rm, size);
    this.probe(i, 1 << size, false, true);
    this.loadAt(size);
  }

  /** E, a register or memory of operand size code `size`, = what `value` pushes. */
  private storeE(i: Instr, size: number, value: () => void): void {
    if (i.mod === 3) return this.writeReg(i.rm, size, value);
    this.probe(i, 1 << size, true, false);
    this.store32(value, STORES[size]);
  }

  // ------------------------------------------------------------ flags

  /** Pushes CF or OF of producer p, 0 or 1, from the one flags table (flags-emit.ts producerFlag). */
  private producerFlag(p: Producer, flag: 'cf' | 'of'): void {
    const c = this.c;
    const src = flagSource(p, flag);
    if ('held' in src) {
      c.get(src.held === 'fc' ? FC : FB);
      return;
    }
    const [lazy0, lazy1] = src.lazy;
    const record = RECORDS[this.size]!;
    if (lazy0 !== lazy1) emitTemplate(c, LAZY_FLAGS[lazy1]![flag], record);
    emitTemplate(c, LAZY_FLAGS[lazy0]![flag], record);
    if (lazy0 !== lazy1) c.get(FC).op(Op.select);
  }

  private cf(p: Producer): void {
    this.producerFlag(p, 'cf');
  }

  private of(p: Producer): void {
    this.producerFlag(p, 'of');
  }

  /** Pushes condition `cc` (as in Jcc) of the pending producer, 0 or 1 (flags-emit.ts condExpr). */
  private cond(cc: number): void {
    const p = this.pending!;
    const c = this.c;
    const k = cc >> 1;
    const neg = (cc & 1) !== 0;
    // A byte's or a word's record holds its operands and result cut to its size: its sign is bit 7
    // or 15, and only the unsigned comparisons of CMP's operands stand for its conditions.
    const narrow = this.size < 2;
    const zf = (): Code => c.get(FR).op(Op.i32_eqz);
    const sf = (): Code => (narrow ? c.get(FR).i32(this.size === 0 ? 7 : 15).op(Op.i32_shr_u) : c.get(FR).i32(0).op(Op.i32_lt_s));
    if (p === 'sub' && (narrow ? [1, 2, 3] : [1, 2, 3, 6, 7]).includes(k)) {
      const cmp = { 1: [Op.i32_lt_u, Op.i32_ge_u], 2: [Op.i32_eq, Op.i32_ne], 3: [Op.i32_le_u, Op.i32_gt_u], 6: [Op.i32_lt_s, Op.i32_ge_s], 7: [Op.i32_le_s, Op.i32_gt_s] }[k as 1]!;
      c.get(FA).get(FB).op(cmp[neg ? 1 : 0]!);
      return;
    }
    // The condition from the one table (gen/flags-table.ts): its flags, 0 or 1, combined by | and ^.
    const flag = (f: string): void => {
      switch (f) {
        case 'of': this.of(p); return;
        case 'cf': this.cf(p); return;
        case 'zf': zf(); return;
        case 'sf': sf(); return;
        case 'pf': c.get(FR).i32(0xff).op(Op.i32_and, Op.i32_popcnt).i32(1).op(Op.i32_and, Op.i32_eqz); return;
      }
      throw new Error(`no flag ${f}`);
    };
    const condition = (e: Expr): void => {
      if (e.kind === 'name') return flag(e.name);
      if (e.kind !== 'binary' || (e.op !== '|' && e.op !== '^')) throw new Error('a condition combines flags with | and ^ only');
      condition(e.l);
      condition(e.r);
      c.op(e.op === '|' ? Op.i32_or : Op.i32_xor);
    };
    condition(parse(CONDITIONS[k]!));
    if (neg) c.op(Op.i32_eqz);
  }

  /** Pushes CF as 0 or 1: from the pending producer, or from the state (the CF helper). */
  private carry(): void {
    if (this.pending) this.cf(this.pending);
    else {
      this.spillFlags();
      this.c.call(F_CF);
    }
  }

  // ------------------------------------------------------------ instructions

  /**
   * Operation `op` of the one table on the operands in FA and FB (and the carry in T1, where it reads
   * one): the result into FR, the operands its flags record into FA and FB, and it becomes the
   * pending producer.
   */
  private intOp(op: IntOp, size = 2): void {
    const c = this.c;
    emitTemplate(c, op.result, OPERANDS);
    // A byte's or a word's result cut to its size, as the interpreter's & m (a dword's is the i32 already).
    if (size < 2) c.i32(size === 0 ? 0xff : 0xffff).op(Op.i32_and);
    c.set(FR);
    const f = op.flags!;
    if (f.a !== 'a' || f.b !== 'b') {
      emitTemplate(c, f.a, OPERANDS);
      emitTemplate(c, f.b, OPERANDS);
      c.set(FB).set(FA);
    }
    // ADC and SBB: the carry-in; INC and DEC: the CF they keep.
    if (readsCarry(op)) c.get(T1).set(FC);
    this.produce(f.producer, size);
  }

  /** The carry `op` reads, into T1, before its operands replace the pending producer's. */
  private carryFor(op: IntOp): void {
    if (!readsCarry(op)) return;
    this.carry();
    this.c.set(T1);
  }

  /** Pushes register `n` at operand size code `size`: a dword, a word (zero-extended) or a byte register. */
  private readReg(n: number, size: number): void {
    if (size === 0) return this.byteReg(n);
    this.c.get(R(n));
    if (size === 1) this.c.i32(0xffff).op(Op.i32_and);
  }

  /** Register `n` at operand size code `size` = what `value` pushes (a word's or a byte's other bits stay). */
  private writeReg(n: number, size: number, value: () => void): void {
    const c = this.c;
    if (size === 2) {
      value();
      c.set(R(n));
      return;
    }
    value();
    c.set(T1);
    if (size === 0) return this.setByteReg(n);
    c.get(R(n)).i32(-0x10000).op(Op.i32_and).get(T1).i32(0xffff).op(Op.i32_and, Op.i32_or).set(R(n));
  }

  /** Pushes the operand at PHYS, of operand size code `size`, zero-extended. */
  private loadAt(size: number): void {
    if (size === 2) return this.load32();
    this.c.get(PHYS).mem(size === 1 ? Op.i32_load16_u : Op.i32_load8_u, size, this.L.ram);
  }

  /**
   * E = E op `src` (a register's or a constant, cut to the operand's size), E a register or memory
   * of operand size code `size` (E alone: `src` null).
   */
  private intOpE(i: Instr, op: IntOp, src: (() => void) | null, size = 2): void {
    const c = this.c;
    if (i.mod !== 3) this.probe(i, 1 << size, op.writes, true);
    this.carryFor(op);
    if (i.mod === 3) this.readReg(i.rm, size);
    else this.loadAt(size);
    c.set(FA);
    if (src) {
      src();
      c.set(FB);
    }
    this.intOp(op, size);
    if (!op.writes) return;
    if (i.mod === 3) this.writeReg(i.rm, size, () => c.get(FR));
    else this.store32(() => c.get(FR), STORES[size]);
  }

  /** Register `reg` = `reg` op E, of operand size code `size`. */
  private intOpG(i: Instr, op: IntOp, size = 2): void {
    const c = this.c;
    if (i.mod !== 3) this.probe(i, 1 << size, false, true);
    this.carryFor(op);
    this.readReg(i.reg, size);
    c.set(FA);
    if (i.mod === 3) this.readReg(i.rm, size);
    else this.loadAt(size);
    c.set(FB);
    this.intOp(op, size);
    if (op.writes) this.writeReg(i.reg, size, () => c.get(FR));
  }

  /** Register `reg` = `reg` op `imm` (`reg` op itself: `imm` null), of operand size code `size`. */
  private intOpR(reg: number, op: IntOp, imm: number | null, size = 2): void {
    const c = this.c;
    this.carryFor(op);
    this.readReg(reg, size);
    c.set(FA);
    if (imm !== null) c.i32(cut(imm, size)).set(FB);
    this.intOp(op, size);
    if (op.writes) this.writeReg(reg, size, () => c.get(FR));
  }

  /** SHL, SHR, SAR, ROL or ROR of the dword E by the constant `count` (1-31), from the one table. */
  private shift(i: Instr, count: number): void {
    if (!i.o32) return this.shiftWord(i, count);
    const c = this.c;
    const op = SHIFT_OPS[i.reg]!;
    const steps = shiftSteps(op, count);
    if (i.mod === 3) c.get(R(i.rm)).set(T0);
    else {
      this.probe(i, 4, true, true);
      this.load32();
      c.set(T0);
    }
    emitTemplate(c, steps.get('r')!, SHIFTED);
    c.set(T1);
    if (i.mod === 3) c.get(T1).set(R(i.rm));
    else this.store32(() => c.get(T1));
    if (op.flags === 'result') {
      c.get(T1).set(FR);
      emitTemplate(c, steps.get('cf')!, SHIFTED);
      c.set(FC);
      emitTemplate(c, steps.get('of')!, SHIFTED);
      c.set(FB);
      this.produce('shift');
      return;
    }
    // ROL and ROR change CF and OF only: the flags pending before go to the state first, and the new
    // CF (into T0, once both are computed from it) and OF (T1) replace the lazy ones there.
    emitTemplate(c, steps.get('cf')!, SHIFTED);
    emitTemplate(c, steps.get('of')!, SHIFTED);
    c.set(T1).set(T0);
    this.flush();
    this.pending = null;
    this.store(this.S.lazy, () => {
      this.flagField(this.S.lazy);
      c.i32(~(CF | OF)).op(Op.i32_and);
    });
    this.store(this.S.flagsRaw, () => {
      this.flagField(this.S.flagsRaw);
      c.i32(~(CF | OF)).op(Op.i32_and).get(T0).op(Op.i32_or).get(T1).i32(11).op(Op.i32_shl, Op.i32_or);
    });
  }

  /** SHL, SHR or SAR of the word E by the constant `count` (1-31), from the one table: a word's record. */
  private shiftWord(i: Instr, count: number): void {
    const c = this.c;
    const steps = shiftSteps(SHIFT_OPS[i.reg]!, count, 16);
    if (i.mod === 3) this.readReg(i.rm, 1);
    else {
      this.probe(i, 2, true, true);
      this.loadAt(1);
    }
    c.set(T0);
    emitTemplate(c, steps.get('r')!, SHIFTED_WORD);
    c.set(FR);
    if (i.mod === 3) this.writeReg(i.rm, 1, () => c.get(FR));
    else this.store32(() => c.get(FR), Op.i32_store16);
    emitTemplate(c, steps.get('cf')!, SHIFTED_WORD);
    c.set(FC);
    emitTemplate(c, steps.get('of')!, SHIFTED_WORD);
    c.set(FB);
    this.produce('shift', 1);
  }

  /** IMUL's truncated form: register `reg` = T0 times what `by` pushes; CF = OF = the product does not fit in 32 signed bits. */
  private imul(by: () => void, reg: number): void {
    const c = this.c;
    by();
    c.op(Op.i64_extend_i32_s).get(T0).op(Op.i64_extend_i32_s, Op.i64_mul).set(P64);
    c.get(P64).op(Op.i32_wrap_i64).tee(FR).set(R(reg));
    c.get(P64).get(FR).op(Op.i64_extend_i32_s, Op.i64_ne).tee(FC).set(FB);
    this.produce('shift');
  }

  /** Pushes byte register `n`: AL, CL, DL, BL (0-3) or AH, CH, DH, BH (4-7). */
  private byteReg(n: number): void {
    const c = this.c;
    c.get(R(n & 3));
    if (n & 4) c.i32(8).op(Op.i32_shr_u);
    c.i32(0xff).op(Op.i32_and);
  }

  /** Byte register `n` = T1 (a byte). */
  private setByteReg(n: number): void {
    const c = this.c;
    const shift = n & 4 ? 8 : 0;
    c.get(R(n & 3)).i32(~(0xff << shift)).op(Op.i32_and).get(T1);
    if (shift) c.i32(shift).op(Op.i32_shl);
    c.op(Op.i32_or).set(R(n & 3));
  }

  /**
   * SHL, SHR or SAR of the dword E by CL, from the one table. A count of 0 (CL masked to 5 bits)
   * changes nothing, the flags included, but still accesses a memory operand, as the interpreter
   * does. So the flags pending before go to the state first, and the shift's own go there when it
   * shifts: after it no producer is known.
   */
  private shiftByCl(i: Instr): void {
    const c = this.c;
    const steps = shiftStepsByCount(SHIFT_OPS[i.reg]!);
    if (i.mod !== 3) this.probe(i, 4, true, true);
    this.flush();
    this.pending = null;
    c.get(R(1)).i32(31).op(Op.i32_and).tee(K);
    c.open(Op.if);
    if (i.mod === 3) c.get(R(i.rm)).set(T0);
    else {
      this.load32();
      c.set(T0);
    }
    emitTemplate(c, steps.get('r')!, SHIFTED_BY_K);
    c.tee(FR);
    if (i.mod === 3) c.set(R(i.rm));
    else {
      c.set(T1);
      this.store32(() => c.get(T1));
    }
    emitTemplate(c, steps.get('cf')!, SHIFTED_BY_K);
    c.set(FC);
    emitTemplate(c, steps.get('of')!, SHIFTED_BY_K);
    c.set(FB);
    this.produce('shift');
    this.flush();
    this.pending = null;
    c.close();
  }

  private insn(i: Instr): void {
    const c = this.c;
    const o = i.opcode;
    if (o < 0x40) {
      const op = ALU_OPS[o >> 3]!;
      // Bytes (even opcodes) or the operand size (odd).
      const size = (o & 1) === 0 ? 0 : i.o32 ? 2 : 1;
      switch (o & 7) {
        case 0: case 1: return this.intOpE(i, op, () => this.readReg(i.reg, size), size);
        case 2: case 3: return this.intOpG(i, op, size);
        default: return this.intOpR(0, op, i.imm, size);
      }
    }
    if (o < 0x50) return this.intOpR(o & 7, o >= 0x48 ? DEC : INC, null, i.o32 ? 2 : 1);
    if (o < 0x58) {
      // PUSH ESP pushes the value ESP had before.
      this.push(() => c.get(R(o & 7)));
      return;
    }
    if (o < 0x60) {
      // POP ESP: ESP is the value read (the increment comes first).
      this.pop();
      c.get(T0).set(R(o & 7));
      return;
    }
    if (o >= 0xb8 && o < 0xc0) {
      c.i32(i.imm).set(R(o & 7));
      return;
    }
    if (o >= 0xb0 && o < 0xb8) {
      c.i32(i.imm & 0xff).set(T1);
      this.setByteReg(o & 7);
      return;
    }
    if ((o >= 0x70 && o < 0x80) || (o >= 0x0f80 && o < 0x0f90)) {
      this.cond(o & 15);
      c.open(Op.if);
      this.jumpTo((this.cur.next + i.imm) | 0, this.cur.k + 1);
      c.close();
      this.jumpTo(this.cur.next, this.cur.k + 1);
      return;
    }
    if (o >= 0x0f40 && o < 0x0f50) {
      // CMOVcc: the source is read (and may fault) whatever the condition.
      this.readE(i);
      c.get(T0).get(R(i.reg));
      this.cond(o & 15);
      c.op(Op.select).set(R(i.reg));
      return;
    }
    if (o >= 0x0f90 && o < 0x0fa0) {
      this.cond(o & 15);
      c.set(T1);
      if (i.mod !== 3) {
        this.probe(i, 1, true, false);
        this.store32(() => c.get(T1), Op.i32_store8);
        return;
      }
      this.setByteReg(i.rm);
      return;
    }
    switch (o) {
      case 0x81: case 0x83: return this.intOpE(i, ALU_OPS[i.reg]!, () => c.i32(cut(i.imm, i.o32 ? 2 : 1)), i.o32 ? 2 : 1);
      case 0x85:
        // TEST's operands in the interpreter's order: E, then G.
        return this.intOpE(i, TEST, () => this.readReg(i.reg, i.o32 ? 2 : 1), i.o32 ? 2 : 1);
      // MOV E, G (88, 89) and MOV moffs, AL/EAX (A2, A3): bytes for even opcodes, else the operand size.
      case 0x88: case 0x89: case 0xa2: case 0xa3: {
        const size = o & 1 ? (i.o32 ? 2 : 1) : 0;
        const src = o >= 0xa0 ? 0 : i.reg;
        return this.storeE(i, size, () => this.readReg(src, size));
      }
      // MOV G, E (8A, 8B) and MOV AL/EAX, moffs (A0, A1).
      case 0x8a: case 0x8b: case 0xa0: case 0xa1: {
        const size = o & 1 ? (i.o32 ? 2 : 1) : 0;
        this.loadE(i, size);
        c.set(T0);
        return this.writeReg(o >= 0xa0 ? 0 : i.reg, size, () => c.get(T0));
      }
      case 0x80: return this.intOpE(i, ALU_OPS[i.reg]!, () => c.i32(i.imm & 0xff), 0);
      case 0x84: return this.intOpE(i, TEST, () => this.byteReg(i.reg), 0);
      case 0xa8: return this.intOpR(0, TEST, i.imm, 0);
      case 0xf6: return this.intOpE(i, TEST, () => c.i32(i.imm & 0xff), 0);
      case 0xfe: return this.intOpE(i, i.reg === 1 ? DEC : INC, null, 0);
      case 0xc6: case 0xc7: {
        const size = o === 0xc6 ? 0 : 2;
        return this.storeE(i, size, () => c.i32(cut(i.imm, size)));
      }
      case 0x90: case 0x0f1f:
        return;
      case 0xd3:
        return this.shiftByCl(i);
      case 0x8d:
        this.ea(i);
        c.set(R(i.reg));
        return;
      case 0x0fb6: case 0x0fb7:
        this.loadE(i, o === 0x0fb6 ? 0 : 1);
        c.set(R(i.reg));
        return;
      case 0x0faf:
        // IMUL r32, r/m32: the low half; CF = OF = the product does not fit in 32 signed bits.
        this.readE(i);
        this.imul(() => c.get(R(i.reg)), i.reg);
        return;
      case 0x69: case 0x6b:
        // IMUL r32, r/m32, imm (6B's byte sign-extended by the decoder).
        this.readE(i);
        this.imul(() => c.i32(i.imm), i.reg);
        return;
      case 0xa9: return this.intOpR(0, TEST, i.imm, i.o32 ? 2 : 1);
      case 0x68: case 0x6a:
        this.push(() => c.i32(i.imm));
        return;
      case 0xc9:
        // LEAVE: EBP = [EBP], ESP = EBP + 4; a fault changes nothing.
        c.get(R(5)).set(LIN);
        this.probeLin(4, false, true);
        this.load32();
        c.set(T0);
        c.get(R(5)).i32(4).op(Op.i32_add).set(R(4));
        c.get(T0).set(R(5));
        return;
      case 0x0fbe: case 0x0fbf: {
        // MOVSX r32 from r/m8 or r/m16.
        const word = o === 0x0fbf;
        if (i.mod === 3) {
          if (word) c.get(R(i.rm)).i32(16).op(Op.i32_shl).i32(16).op(Op.i32_shr_s);
          else {
            this.byteReg(i.rm);
            c.i32(24).op(Op.i32_shl).i32(24).op(Op.i32_shr_s);
          }
        } else {
          this.probe(i, word ? 2 : 1, false, true);
          c.get(PHYS).mem(word ? Op.i32_load16_s : Op.i32_load8_s, word ? 1 : 0, this.L.ram);
        }
        c.set(R(i.reg));
        return;
      }
      case 0xf7:
        if (i.reg === 2) {
          // NOT leaves the flags alone: its operand goes through T0, not FA.
          if (i.mod === 3) c.get(R(i.rm)).set(T0);
          else {
            this.probe(i, 4, true, true);
            this.load32();
            c.set(T0);
          }
          emitTemplate(c, NOT.result, IN_T0);
          if (i.mod === 3) c.set(R(i.rm));
          else {
            c.set(T0);
            this.store32(() => c.get(T0));
          }
          return;
        }
        if (i.reg === 3) return this.intOpE(i, NEG, null, i.o32 ? 2 : 1);
        if (i.reg === 0) return this.intOpE(i, TEST, () => c.i32(cut(i.imm, i.o32 ? 2 : 1)), i.o32 ? 2 : 1);
        this.readE(i);
        // MUL r/m32: EDX:EAX = EAX * src; CF = OF = EDX is not zero.
        c.get(R(0)).op(Op.i64_extend_i32_u).get(T0).op(Op.i64_extend_i32_u, Op.i64_mul).set(P64);
        c.get(P64).op(Op.i32_wrap_i64).tee(FR).set(R(0));
        c.get(P64).i64(32).op(Op.i64_shr_u, Op.i32_wrap_i64).tee(T1).set(R(2));
        c.get(T1).i32(0).op(Op.i32_ne).tee(FC).set(FB);
        this.produce('shift');
        return;
      case 0xff:
        if (i.reg === 6) {
          // PUSH r/m32: the operand is read (with ESP as it was) before the push.
          this.readE(i);
          this.push(() => c.get(T0));
          return;
        }
        return this.intOpE(i, i.reg === 1 ? DEC : INC, null, i.o32 ? 2 : 1);
      case 0xc1: case 0xd1:
        return this.shift(i, (o === 0xc1 ? i.imm : 1) & 31);
      case 0xeb: case 0xe9:
        this.jumpTo((this.cur.next + i.imm) | 0, this.cur.k + 1);
        return;
      case 0xe8:
        this.push(() => c.i32(this.cur.next));
        this.jumpTo((this.cur.next + i.imm) | 0, this.cur.k + 1);
        return;
      case 0xc3: case 0xc2:
        this.pop(o === 0xc2 ? i.imm : 0);
        for (const at of this.returnPoints) {
          c.get(T0).i32(at).op(Op.i32_eq);
          c.open(Op.if);
          this.jumpTo(at, this.cur.k + 1);
          c.close();
        }
        this.exitToT0(this.cur.k + 1);
        return;
    }
    throw new Error(`the WebAssembly prototype has no translation for opcode ${o.toString(16)}`);
  }
}
