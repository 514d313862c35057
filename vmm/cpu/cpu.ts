// The i686-class CPU: register file, lazy flags, segmentation checks, the software TLB, the
// decoded-instruction cache and the run loop. Instruction semantics live in ops/*.ts, exception and
// interrupt delivery in interrupts.ts, descriptor loading in segments.ts, the page walker in paging.ts.
// The interpreter is precise at every instruction boundary: a fault rewinds EIP to the faulting
// instruction and leaves no partial register updates (handlers read and check memory before they
// commit), so it plays the paper's direct-execution role for the translator added later.

import type { IoBus } from '../bus.ts';
import type { InterruptController } from '../irq.ts';
import type { LocalApic } from '../devices/local-apic/local-apic.ts';
import { PAGE_RAM, type PhysicalMemory } from '../memory.ts';
import { AF, ARITH, CF, DF, FLAGS_FIXED, IF, LazyOp, OF, PARITY, PF, SF, SIZE_MASK, SIZE_SIGN, TF, VM, ZF } from './flags.ts';
import { FAULT, TripleFault, Vec } from './fault.ts';
import { CS, SS, Instr, decode, type OpTable } from './decode.ts';
import { DecodedPage } from './decoded-page.ts';
import { buildOpTable } from './optable.ts';
import { cond, lazyAF, lazyCF, lazyOF } from './ops/integer-ops.generated.ts';
import { deliverException, deliverInterrupt, InterruptKind } from './interrupts.ts';
import { walkPageTables } from './paging.ts';
import { Fpu, type FpuHost } from './fpu.ts';
import { Mtrrs } from './mtrr.ts';
import { CPUID_SIGNATURE } from './cpuid.ts';
import { loadSegmentReal, type SegmentIndex } from './segments.ts';
import { modeKey } from './bt/mode.ts';
import type { BtEngine } from './bt/engine.ts';

// Register numbers, TLB bits and control-register bits live in regs.ts so opcode modules can use them
// at load time without a cycle through this file.
import {
  CR0_CD, CR0_ET, CR0_NE, CR0_NW, CR0_PE, CR0_PG, EDX, ESP, TLB_GLOBAL, TLB_IO, TLB_SUP_WRITE,
  TLB_USER_READ, TLB_USER_WRITE, TLB_VALID,
} from './regs.ts';
export * from './regs.ts';

const TLB_PAGES = 1 << 20;
const TLB_TRACK = 8192;
/**
 * Decoded instructions, and pages holding them, kept at most (an instruction is about 100 bytes, a
 * page's table 8 KiB): bounds the VMM's memory at a few tens of MiB. Beyond either, the pages not
 * entered since the last sweep go, and pages spread over the rest if that frees too little
 * (Cpu.dropDecoded). 300 fork + exec keep 87,000 instructions on 570 pages busy.
 */
const MAX_DECODED = 96 * 1024;
const MAX_CODE_PAGES = 2048;
const MAX_SPARE_CODE_PAGES = 64;
/** Slots of Cpu.recentCode (a power of two). */
const RECENT_CODE_PAGES = 256;
/** What an empty slot of Cpu.recentCode holds (its phys is -1). */
const NO_CODE_PAGE = new DecodedPage();
/**
 * Every SWEEP_INSNS instructions, the translations that have not run since the sweep before go
 * (Cpu.sweep), and every DECODED_SWEEP_INSNS the decoded instructions of pages not entered since
 * (Cpu.sweepDecoded). Code run for a while and never again (a boot's initialisation, a program that
 * exited) stayed until the caches filled. Decoding a page again costs far less than translating it:
 * its period is the shorter (with the translations', a boot left 111,000 decoded instructions,
 * 25 MiB, most of them its initialisation's).
 */
const SWEEP_INSNS = 1 << 28;
const DECODED_SWEEP_INSNS = 1 << 26;

/** What the CPU needs from the machine around it. */
export interface CpuEnv {
  readonly mem: PhysicalMemory;
  readonly io: IoBus;
  /** Guest time in ns, for the TSC. */
  readonly nowNs: () => number;
  pic: InterruptController | null;
  /** Math fault reported the PC way (FERR# -> IRQ13) when CR0.NE is clear. */
  ferr?: () => void;
}

/** The TSC runs at this rate against guest time; Linux calibrates it against the PIT. */
export const TSC_HZ = 1_000_000_000;

export class Cpu {
  readonly mem: PhysicalMemory;
  readonly io: IoBus;
  readonly env: CpuEnv;
  readonly table: OpTable;
  readonly fpu: Fpu;

  // Saved state: cpu-state.ts lists the architectural fields below; a new one is declared there too.

  // General registers; r16 and r8 alias r32 (little-endian).
  /** In guest memory's WebAssembly.Memory when the CPU area there is this CPU's (PhysicalMemory.claimCpuArea). */
  readonly r32: Int32Array;
  readonly r16: Uint16Array;
  readonly r8: Uint8Array;
  eip = 0;
  /** EIP of the instruction being executed (faults rewind to it). */
  prevEip = 0;
  /** Instructions the current interpretRun has begun (a fault leaves the count here). */
  private interpreted = 0;
  /** Where in that count the current block began (interpretBlock: a fault fetching a block's first instruction counts as one). */
  private blockBegan = 0;

  // EFLAGS: the arithmetic bits named in `lazy` are stale in `flagsRaw` and computed on demand.
  flagsRaw = FLAGS_FIXED;
  lazy = 0;
  lop: LazyOp = LazyOp.LOGIC;
  lres = 0;
  la = 0;
  lb = 0;
  /** 0: 8-bit, 1: 16-bit, 2: 32-bit. */
  lsz = 2;

  // Segment registers ES CS SS DS FS GS: visible selector and the hidden descriptor cache.
  readonly sel = new Uint16Array(6);
  readonly segBase: Int32Array;
  /** Limit in bytes after granularity. */
  readonly segLimit = new Uint32Array(6);
  /** Access rights: descriptor byte 5 in bits 0-7, byte 6's flags (AVL, L, D/B, G) in bits 12-15. */
  readonly segAr = new Uint16Array(6);
  /** Offsets allowed for reads and writes: [lo, hi] inclusive, empty when not allowed. */
  readonly readLo = new Float64Array(6);
  readonly readHi = new Float64Array(6);
  readonly writeLo = new Float64Array(6);
  readonly writeHi = new Float64Array(6);

  gdtrBase = 0;
  gdtrLimit = 0xffff;
  idtrBase = 0;
  idtrLimit = 0x3ff;
  ldtrSel = 0;
  ldtrBase = 0;
  ldtrLimit = 0;
  trSel = 0;
  trBase = 0;
  trLimit = 0;
  /** TSS descriptor type (9/11 for 32-bit, 1/3 for 16-bit). */
  trType = 11;

  cr0 = CR0_ET;
  cr2 = 0;
  cr3 = 0;
  cr4 = 0;
  /** The PDPTE registers of PAE paging (paging.ts): low and high dword of entries 0-3. */
  readonly pdpte = new Int32Array(8);
  readonly dr = new Int32Array(8);

  // Mode, derived from CR0, EFLAGS and CS/SS.
  cpl = 0;
  /** CS default operand/address size is 32 bits. */
  csD = false;
  /** SS B bit: the stack pointer is ESP (else SP). */
  ssB = false;
  /** EIP is masked to 16 bits when executing 16-bit code. */
  ipMask = 0xffff;
  /** Copies of CS base and limit for the fetch path (plain numbers, no typed-array reads). */
  csBase = 0;
  csLimit = 0xffff;
  /** csLimit as an int32, for the translator's dispatcher (Translation.csLimit). */
  csLimit32 = 0xffff;
  /** Segments (bit per index) with base 0 and every offset readable and writable. */
  flatSegs = 0;
  /** Segments spanning 4 GiB whatever their base (mode.ts, key bits 12-17); the flat ones among them. */
  wideSegs = 0;
  /** What translated code may take as fixed (bt/mode.ts); recomputed with the mode and segments. */
  modeKey = 0;

  // Binary translation (bt/engine.ts): null runs the interpreter alone.
  bt: BtEngine | null = null;
  /** Bumped whenever translated code is thrown away: a translation that sees it change stops. */
  codeEpoch = 0;
  /** Set by translated code on a fault: instructions it completed before the faulting one. */
  btDone = 0;
  /** Set by translated code when one of its slow-path counts reached the retranslation threshold. */
  btSlow = false;
  /** Set with a FAULT thrown by btRead: the instruction is left undone, with no exception, for runFetched. */
  btRestart = false;
  /** With btRestart: that instruction, decoded as the translation had it (the translation's fault path sets it). */
  btInstr: Instr | null = null;

  // Software TLB.
  /** In guest memory's WebAssembly.Memory when it is the CPU's there (PhysicalMemory.claimCpuArea): WebAssembly translations read it. */
  readonly tlb: Int32Array;
  private readonly tlbPages = new Int32Array(TLB_TRACK);
  private tlbCount = 0;
  /** TLB changes as (page, old entry) while the check engine records them (beginTlbJournal), with the count and list of pages then. */
  private tlbJournal: number[] | null = null;
  private tlbJournalCount = 0;
  private tlbJournalPages: Int32Array | null = null;
  /** Rights needed for reads and writes at the current privilege. */
  readMask = TLB_VALID;
  writeMask = TLB_SUP_WRITE;
  a20Mask = -1;

  // Decoded-instruction cache, by physical page (decoded-page.ts). The page being run's table and
  // instructions are also held apart, for fetchInstr.
  private readonly codeCache = new Map<number, DecodedPage>();
  /**
   * The cache's pages by physical page number modulo RECENT_CODE_PAGES, in front of the Map (whose
   * lookup, at every entry into a code page, was 4% of the interpreter's time in fork + exec). An
   * entry is good while its page's `phys` is still that number: an emptied page's is -1.
   */
  private readonly recentCode: DecodedPage[] = new Array<DecodedPage>(RECENT_CODE_PAGES).fill(NO_CODE_PAGE);
  private curLinPage = -1;
  private curPhysPage = -1;
  private curCode = new DecodedPage();
  private curSlots = this.curCode.slots;
  private curInstrs = this.curCode.instrs;
  private decodedCount = 0;
  /** Emptied pages kept for reuse: pages are dropped and entered again all the time. */
  private readonly spareCodePages: DecodedPage[] = [];
  /** When the last translation sweep was (sweep). */
  private sweptAt = 0;
  sweepInsns = SWEEP_INSNS;
  /** Decoded-cache periods (sweepDecoded), counted from 1, and when the last sweep was. */
  private sweepPeriod = 1;
  private decodedSweptAt = 0;
  decodedSweepInsns = DECODED_SWEEP_INSNS;
  /** Which eighth of the cache dropSpreadCodePages drops next. */
  private dropTurn = 0;

  // Machine-specific registers.
  sysenterCs = 0;
  sysenterEsp = 0;
  sysenterEip = 0;
  tscOffset = 0;
  /** The local APIC on this chip, where the board has wired one (IA32_APIC_BASE, CPUID's APIC flag). */
  apic: LocalApic | null = null;
  readonly mtrr = new Mtrrs();
  /** IA32_MCG_STATUS (msr.ts). */
  mcgStatus = 0n;

  // Run state.
  halted = false;
  /**
   * Shutdown after a triple fault: the CPU executes nothing and takes no interrupt until reset (SDM
   * vol. 3 §6.15, interrupt 8); a PC's chipset answers with a reset, which the machine does.
   */
  shutdown = false;
  /** Something outside the instruction stream needs attention: interrupt, NMI, halt, mode change. */
  brk = false;
  /** The instruction just executed blocks interrupts for one more instruction (STI, MOV SS). */
  shadow = false;
  /** EFLAGS.TF was set when the current instruction started: a #DB trap follows it. */
  stepArmed = false;
  nmiPending = false;
  nmiBlocked = false;
  /** Exception state for the current fault. */
  excVector = 0;
  excCode = 0;
  excHasCode = false;
  /** Nesting of exception delivery for the double/triple-fault rules. */
  delivering = -1;
  instructions = 0;
  /** Debugging hook: every exception before delivery (vector, error code, EIP of the instruction). */
  onException: ((vector: number, code: number, eip: number) => void) | null = null;
  /** Called on a triple fault; the machine resets. */
  onShutdown: (detail: string) => void = (d) => {
    throw new TripleFault(d);
  };

  constructor(env: CpuEnv, table: OpTable = buildOpTable()) {
    this.env = env;
    this.mem = env.mem;
    const area = env.mem.claimCpuArea();
    this.tlb = area?.tlb ?? new Int32Array(TLB_PAGES);
    this.r32 = area?.regs ?? new Int32Array(8);
    this.segBase = area?.segBase ?? new Int32Array(6);
    this.r16 = new Uint16Array(this.r32.buffer, this.r32.byteOffset, 16);
    this.r8 = new Uint8Array(this.r32.buffer, this.r32.byteOffset, 32);
    this.io = env.io;
    this.table = table;
    this.fpu = new Fpu(this.fpuHost());
    this.mem.onCodeWrite = (page) => this.invalidateCodePage(page);
    this.reset();
  }

  // ---------------------------------------------------------------- reset

  /** RESET state (SDM vol. 3 §9.1.1, table 9-1): real mode at F000:FFF0 with CS base FFFF0000. */
  reset(): void {
    this.r32.fill(0);
    this.r32[EDX] = CPUID_SIGNATURE; // processor signature (SDM vol. 3 §9.1.4)
    this.eip = 0xfff0;
    this.flagsRaw = FLAGS_FIXED;
    this.lazy = 0;
    this.cr0 = CR0_ET | CR0_CD | CR0_NW;
    this.cr2 = this.cr3 = this.cr4 = 0;
    this.pdpte.fill(0);
    this.dr.fill(0);
    this.dr[6] = 0xffff0ff0 | 0;
    this.dr[7] = 0x400;
    for (let s = 0; s < 6; s++) {
      this.sel[s] = 0;
      this.segBase[s] = 0;
      this.segLimit[s] = 0xffff;
      this.segAr[s] = s === CS ? 0x9b : 0x93;
    }
    this.sel[CS] = 0xf000;
    this.segBase[CS] = 0xffff0000 | 0;
    this.gdtrBase = 0;
    this.gdtrLimit = 0xffff;
    this.idtrBase = 0;
    this.idtrLimit = 0x3ff;
    this.ldtrSel = this.ldtrBase = 0;
    this.ldtrLimit = 0xffff;
    this.trSel = this.trBase = 0;
    this.trLimit = 0xffff;
    this.trType = 11;
    this.sysenterCs = this.sysenterEsp = this.sysenterEip = 0;
    this.tscOffset = -this.rawTsc();
    this.mtrr.reset();
    this.mcgStatus = 0n;
    this.halted = false;
    this.shutdown = false;
    this.brk = true;
    this.shadow = false;
    this.nmiPending = false;
    this.nmiBlocked = false;
    this.delivering = -1;
    this.fpu.reset();
    for (let s = 0; s < 6; s++) this.updateSegmentChecks(s);
    this.updateMode();
    this.flushTlb(true);
  }

  // ---------------------------------------------------------------- flags

  /** EFLAGS with every lazy flag computed. */
  getFlags(): number {
    let f = this.flagsRaw;
    if (this.lazy) {
      const lazy = this.lazy;
      f &= ~lazy;
      if (lazy & CF && this.cf()) f |= CF;
      if (lazy & PF && this.pf()) f |= PF;
      if (lazy & AF && this.af()) f |= AF;
      if (lazy & ZF && this.zf()) f |= ZF;
      if (lazy & SF && this.sf()) f |= SF;
      if (lazy & OF && this.of()) f |= OF;
    }
    return f | FLAGS_FIXED;
  }

  /** Sets every flag bit from `f` (no privilege filtering; callers apply POPF/IRET rules). */
  setFlags(f: number): void {
    const old = this.flagsRaw;
    this.flagsRaw = (f & 0x3f7fd7) | FLAGS_FIXED;
    this.lazy = 0;
    if ((old ^ this.flagsRaw) & (VM | IF | TF)) {
      if ((old ^ this.flagsRaw) & VM) this.updateMode();
      this.brk = true;
    }
  }

  /** Makes the named lazy flags concrete, e.g. before INC keeps CF. */
  materialize(mask: number): void {
    const lazy = this.lazy & mask;
    if (!lazy) return;
    let f = this.flagsRaw & ~lazy;
    if (lazy & CF && this.cf()) f |= CF;
    if (lazy & PF && this.pf()) f |= PF;
    if (lazy & AF && this.af()) f |= AF;
    if (lazy & ZF && this.zf()) f |= ZF;
    if (lazy & SF && this.sf()) f |= SF;
    if (lazy & OF && this.of()) f |= OF;
    this.flagsRaw = f;
    this.lazy &= ~lazy;
  }

  /** Records a result whose six flags follow from (op, a, b, res, size). */
  setLazy(op: LazyOp, a: number, b: number, res: number, size: number): void {
    this.lop = op;
    this.la = a;
    this.lb = b;
    this.lres = res;
    this.lsz = size;
    this.lazy = ARITH;
  }

  /** Like setLazy but CF keeps its current value (INC, DEC). */
  setLazyKeepCF(op: LazyOp, a: number, b: number, res: number, size: number): void {
    if (this.lazy & CF) this.materialize(CF);
    this.lop = op;
    this.la = a;
    this.lb = b;
    this.lres = res;
    this.lsz = size;
    this.lazy = ARITH & ~CF;
  }

  /** Sets CF and OF explicitly and leaves SF, ZF, PF lazy from `res` (shifts, multiplies). */
  setResultFlags(res: number, size: number, cf: boolean, of: boolean, af = false): void {
    this.lop = LazyOp.LOGIC;
    this.lres = res;
    this.lsz = size;
    this.lazy = PF | ZF | SF;
    let f = this.flagsRaw & ~(CF | OF | AF);
    if (cf) f |= CF;
    if (of) f |= OF;
    if (af) f |= AF;
    this.flagsRaw = f;
  }

  cf(): boolean {
    if (!(this.lazy & CF)) return (this.flagsRaw & CF) !== 0;
    return lazyCF(this.lop, this.la, this.lb, this.lres, SIZE_MASK[this.lsz]!);
  }

  zf(): boolean {
    if (!(this.lazy & ZF)) return (this.flagsRaw & ZF) !== 0;
    return (this.lres & SIZE_MASK[this.lsz]!) === 0;
  }

  sf(): boolean {
    if (!(this.lazy & SF)) return (this.flagsRaw & SF) !== 0;
    return (this.lres & SIZE_SIGN[this.lsz]!) !== 0;
  }

  pf(): boolean {
    if (!(this.lazy & PF)) return (this.flagsRaw & PF) !== 0;
    return PARITY[this.lres & 0xff] === 1;
  }

  af(): boolean {
    if (!(this.lazy & AF)) return (this.flagsRaw & AF) !== 0;
    return lazyAF(this.lop, this.la, this.lb, this.lres);
  }

  of(): boolean {
    if (!(this.lazy & OF)) return (this.flagsRaw & OF) !== 0;
    return lazyOF(this.lop, this.la, this.lb, this.lres, SIZE_SIGN[this.lsz]!);
  }

  /** Condition codes 0-15 as in Jcc/SETcc/CMOVcc (SDM vol. 1 appendix B; gen/flags-table.ts CONDITIONS). */
  cond(cc: number): boolean {
    return cond(this, cc);
  }

  get iopl(): number {
    return (this.flagsRaw >> 12) & 3;
  }

  get df(): boolean {
    return (this.flagsRaw & DF) !== 0;
  }

  get ifFlag(): boolean {
    return (this.flagsRaw & IF) !== 0;
  }

  // ---------------------------------------------------------------- mode

  get protectedMode(): boolean {
    return (this.cr0 & CR0_PE) !== 0;
  }

  get v86(): boolean {
    return (this.flagsRaw & VM) !== 0;
  }

  /** Recomputes CPL, code and stack sizes and TLB rights after CR0, EFLAGS.VM, CS or SS change. */
  updateMode(): void {
    const oldCpl = this.cpl;
    if (!(this.cr0 & CR0_PE)) this.cpl = 0;
    else if (this.flagsRaw & VM) this.cpl = 3;
    else this.cpl = (this.segAr[CS]! >> 5) & 3;
    // In real and v86 mode the hidden CS size bit still decides (unreal big-code is not a P6 thing).
    this.csD = !(this.flagsRaw & VM) && (this.segAr[CS]! & 0x4000) !== 0 && (this.cr0 & CR0_PE) !== 0;
    this.ssB = (this.segAr[SS]! & 0x4000) !== 0;
    this.ipMask = this.csD ? -1 : 0xffff;
    this.csBase = this.segBase[CS]!;
    this.csLimit = this.segLimit[CS]!;
    this.csLimit32 = this.csLimit | 0;
    this.readMask = this.cpl === 3 ? TLB_USER_READ : TLB_VALID;
    this.writeMask = this.cpl === 3 ? TLB_USER_WRITE : TLB_SUP_WRITE;
    if (oldCpl !== this.cpl) this.curLinPage = -1;
    this.updateModeKey();
    this.brk = true;
  }

  private updateModeKey(): void {
    this.modeKey = modeKey(
      this.flatSegs, this.wideSegs, this.csD, this.ssB, this.cpl, (this.cr0 & CR0_PE) !== 0, (this.flagsRaw & VM) !== 0,
      !(this.cr0 & CR0_PG) && this.a20Mask === -1,
    );
  }

  /** Recomputes the allowed offset ranges of segment `s` from its hidden descriptor cache. */
  updateSegmentChecks(s: SegmentIndex): void {
    const ar = this.segAr[s]!;
    const limit = this.segLimit[s]!;
    const present = (ar & 0x80) !== 0;
    const codeOrData = (ar & 0x10) !== 0;
    let lo = 0;
    let hi = limit;
    if (codeOrData && !(ar & 0x08) && ar & 0x04) {
      // Expand-down data: valid offsets are limit+1 .. 0xFFFF or 0xFFFFFFFF by the B bit.
      lo = limit + 1;
      hi = ar & 0x4000 ? 0xffffffff : 0xffff;
    }
    let readable = present && codeOrData;
    let writable = present && codeOrData;
    if (this.protectedMode && !this.v86) {
      if (ar & 0x08) {
        readable &&= (ar & 0x02) !== 0;
        writable = false;
      } else {
        writable &&= (ar & 0x02) !== 0;
      }
    }
    this.readLo[s] = readable ? lo : Infinity;
    this.readHi[s] = readable ? hi : -1;
    this.writeLo[s] = writable ? lo : Infinity;
    this.writeHi[s] = writable ? hi : -1;
    const wide = readable && writable && lo === 0 && hi === 0xffffffff;
    const flat = wide && this.segBase[s] === 0;
    this.wideSegs = wide ? this.wideSegs | (1 << s) : this.wideSegs & ~(1 << s);
    this.flatSegs = flat ? this.flatSegs | (1 << s) : this.flatSegs & ~(1 << s);
    this.updateModeKey();
  }

  // ---------------------------------------------------------------- faults

  raise(vector: number, code = 0, hasCode = false): never {
    this.excVector = vector;
    this.excCode = code;
    this.excHasCode = hasCode;
    throw FAULT;
  }
  raiseUD(): never {
    return this.raise(Vec.UD);
  }
  raiseGP(code: number): never {
    return this.raise(Vec.GP, code, true);
  }
  raiseSS(code: number): never {
    return this.raise(Vec.SS, code, true);
  }
  raiseNP(code: number): never {
    return this.raise(Vec.NP, code, true);
  }
  raiseTS(code: number): never {
    return this.raise(Vec.TS, code, true);
  }
  /** A segment-limit or rights violation on a data access: #SS for the stack segment, else #GP. */
  segFault(s: number): never {
    if (s === SS) return this.raise(Vec.SS, 0, true);
    return this.raise(Vec.GP, 0, true);
  }

  // ---------------------------------------------------------------- linear memory (after segmentation)

  /** Makes sure `lin` is in the TLB with the rights for this access, walking the tables if needed. */
  translate(lin: number, write: boolean, user: boolean): number {
    const page = lin >>> 12;
    const e = this.tlb[page]!;
    const need = write ? (user ? TLB_USER_WRITE : TLB_SUP_WRITE) : user ? TLB_USER_READ : TLB_VALID;
    if (e & need) return e;
    return this.fillTlb(lin, write, user);
  }

  private fillTlb(lin: number, write: boolean, user: boolean): number {
    let entry: number;
    if (!(this.cr0 & CR0_PG)) {
      const phys = lin & this.a20Mask & ~0xfff;
      entry = phys | TLB_VALID | TLB_USER_READ | TLB_SUP_WRITE | TLB_USER_WRITE;
    } else {
      entry = walkPageTables(this, lin, write, user);
    }
    if (this.mem.kind[(entry >>> 12) & 0xfffff] !== PAGE_RAM) entry |= TLB_IO;
    const page = lin >>> 12;
    if (this.tlb[page] === 0) {
      if (this.tlbCount >= TLB_TRACK) this.flushTlb(true);
      this.tlbPages[this.tlbCount++] = page;
    }
    if (this.tlbJournal) this.tlbJournal.push(page, this.tlb[page]!);
    this.tlb[page] = entry;
    return entry;
  }

  /** Drops TLB entries: all of them, or all but global pages (CR3 write with CR4.PGE). */
  flushTlb(includeGlobal: boolean): void {
    const journal = this.tlbJournal;
    if (journal) {
      // Fills since the journal began only appended to the list: its first part is still the one then.
      this.tlbJournalPages ??= this.tlbPages.slice(0, this.tlbJournalCount);
      for (let i = 0; i < this.tlbCount; i++) journal.push(this.tlbPages[i]!, this.tlb[this.tlbPages[i]!]!);
    }
    let keep = 0;
    for (let i = 0; i < this.tlbCount; i++) {
      const p = this.tlbPages[i]!;
      if (!includeGlobal && this.tlb[p]! & TLB_GLOBAL) this.tlbPages[keep++] = p;
      else this.tlb[p] = 0;
    }
    this.tlbCount = keep;
    this.curLinPage = -1;
  }

  /**
   * Starts recording every change to the TLB, for undoTlb: the check engine replays a translation
   * from the TLB it started with, since an entry left behind by the first run would spare the replay
   * a page walk and the accessed bit the walk sets. (Emptying the TLB instead is not the same: guests
   * run on stale entries, and a translation runs where the dispatcher found its page mapped.)
   */
  beginTlbJournal(): void {
    this.tlbJournal = [];
    this.tlbJournalCount = this.tlbCount;
    this.tlbJournalPages = null;
  }

  /** Puts the TLB back as it was at beginTlbJournal, and stops recording. */
  undoTlb(): void {
    const j = this.tlbJournal!;
    this.tlbJournal = null;
    for (let k = j.length - 2; k >= 0; k -= 2) this.tlb[j[k]!] = j[k + 1]!;
    if (this.tlbJournalPages) this.tlbPages.set(this.tlbJournalPages);
    this.tlbCount = this.tlbJournalCount;
    this.tlbJournalPages = null;
    this.curLinPage = -1;
  }

  /** Stops recording, keeping the TLB as it is. */
  endTlbJournal(): void {
    this.tlbJournal = null;
    this.tlbJournalPages = null;
  }

  invalidatePage(lin: number): void {
    if (this.tlbJournal) this.tlbJournal.push(lin >>> 12, this.tlb[lin >>> 12]!);
    this.tlb[lin >>> 12] = 0;
    this.curLinPage = -1;
  }

  setA20(enabled: boolean): void {
    const mask = enabled ? -1 : ~(1 << 20);
    if (mask === this.a20Mask) return;
    this.a20Mask = mask;
    this.flushTlb(true);
    // Translations made with linear = physical (mode key bit 18) stop at once (a JavaScript one after the OUT that did this).
    this.updateModeKey();
    this.brk = true;
  }

  private physOf(e: number, lin: number): number {
    return ((e & ~0xfff) | (lin & 0xfff)) >>> 0;
  }

  readLin8(lin: number): number {
    const e = this.tlb[lin >>> 12]!;
    if ((e & (this.readMask | TLB_IO)) === this.readMask) return this.mem.u8[this.physOf(e, lin)]!;
    return this.mem.read8(this.physOf(this.translate(lin, false, this.cpl === 3), lin));
  }

  readLin16(lin: number): number {
    if ((lin & 0xfff) === 0xfff) return this.readLin8(lin) | (this.readLin8((lin + 1) | 0) << 8);
    const e = this.tlb[lin >>> 12]!;
    if ((e & (this.readMask | TLB_IO)) === this.readMask) {
      const pa = this.physOf(e, lin);
      const u = this.mem.u8;
      return u[pa]! | (u[pa + 1]! << 8);
    }
    return this.mem.read16(this.physOf(this.translate(lin, false, this.cpl === 3), lin));
  }

  /**
   * For translated code: `v`, read by a slow path, unless that read moved codeEpoch (its page walk
   * set an accessed bit in a page table sharing a page with translated code, whose bytes the
   * translation running may then hold stale). Then the instruction is abandoned before any effect
   * of its own, as a fault would leave it, and runFetched runs it (the walk is not repeated: the TLB
   * entry is made and the bit set).
   */
  btRead(epoch: number, v: number): number {
    if (this.codeEpoch === epoch) return v;
    this.btRestart = true;
    throw FAULT;
  }

  readLin32(lin: number): number {
    if ((lin & 0xfff) > 0xffc) return this.readLin16(lin) | (this.readLin16((lin + 2) | 0) << 16);
    const e = this.tlb[lin >>> 12]!;
    if ((e & (this.readMask | TLB_IO)) === this.readMask) {
      const pa = this.physOf(e, lin);
      if ((pa & 3) === 0) return this.mem.i32[pa >>> 2]!;
      const u = this.mem.u8;
      return u[pa]! | (u[pa + 1]! << 8) | (u[pa + 2]! << 16) | (u[pa + 3]! << 24);
    }
    return this.mem.read32(this.physOf(this.translate(lin, false, this.cpl === 3), lin));
  }

  writeLin8(lin: number, v: number): void {
    const e = this.tlb[lin >>> 12]!;
    if ((e & (this.writeMask | TLB_IO)) === this.writeMask) {
      const pa = this.physOf(e, lin);
      if (this.mem.codePage[pa >>> 12]) this.invalidateCodePage(pa >>> 12);
      this.mem.u8[pa] = v;
      return;
    }
    this.mem.write8(this.physOf(this.translate(lin, true, this.cpl === 3), lin), v);
  }

  writeLin16(lin: number, v: number): void {
    if ((lin & 0xfff) === 0xfff) {
      // Both pages must be writable before either byte changes.
      this.translate((lin + 1) | 0, true, this.cpl === 3);
      this.writeLin8(lin, v);
      this.writeLin8((lin + 1) | 0, v >>> 8);
      return;
    }
    const e = this.tlb[lin >>> 12]!;
    if ((e & (this.writeMask | TLB_IO)) === this.writeMask) {
      const pa = this.physOf(e, lin);
      if (this.mem.codePage[pa >>> 12]) this.invalidateCodePage(pa >>> 12);
      const u = this.mem.u8;
      u[pa] = v;
      u[pa + 1] = v >>> 8;
      return;
    }
    this.mem.write16(this.physOf(this.translate(lin, true, this.cpl === 3), lin), v);
  }

  writeLin32(lin: number, v: number): void {
    if ((lin & 0xfff) > 0xffc) {
      this.translate(lin, true, this.cpl === 3);
      this.translate((lin + 3) | 0, true, this.cpl === 3);
      this.writeLin16(lin, v);
      this.writeLin16((lin + 2) | 0, v >>> 16);
      return;
    }
    const e = this.tlb[lin >>> 12]!;
    if ((e & (this.writeMask | TLB_IO)) === this.writeMask) {
      const pa = this.physOf(e, lin);
      if (this.mem.codePage[pa >>> 12]) this.invalidateCodePage(pa >>> 12);
      if ((pa & 3) === 0) this.mem.i32[pa >>> 2] = v;
      else {
        const u = this.mem.u8;
        u[pa] = v;
        u[pa + 1] = v >>> 8;
        u[pa + 2] = v >>> 16;
        u[pa + 3] = v >>> 24;
      }
      return;
    }
    this.mem.write32(this.physOf(this.translate(lin, true, this.cpl === 3), lin), v);
  }

  // Accesses through a flat segment from translated code: of the interpreter's limit check only the
  // 4 GiB end is left (an access may not wrap past it), and it can only matter when the access
  // crosses a page, so it costs nothing on the common path.
  rf16(lin: number, seg: number): number {
    if (lin === -1) this.segFault(seg);
    return this.readLin16(lin);
  }
  rf32(lin: number, seg: number): number {
    if ((lin & 0xfff) > 0xffc && lin >>> 0 > 0xfffffffc) this.segFault(seg);
    return this.readLin32(lin);
  }
  wf16(lin: number, v: number, seg: number): void {
    if (lin === -1) this.segFault(seg);
    this.writeLin16(lin, v);
  }
  wf32(lin: number, v: number, seg: number): void {
    if ((lin & 0xfff) > 0xffc && lin >>> 0 > 0xfffffffc) this.segFault(seg);
    this.writeLin32(lin, v);
  }
  /** probeWrite through a flat segment (rmwLin's checks for one). */
  pwf(lin: number, size: number, seg: number): void {
    if (lin >>> 0 > 0x100000000 - size) this.segFault(seg);
    this.probeWrite(lin, size);
  }

  /** Checks a write of `size` bytes at lin can complete (both pages), for read-modify-write. */
  probeWrite(lin: number, size: number): void {
    this.translate(lin, true, this.cpl === 3);
    if (((lin & 0xfff) + size) > 0x1000) this.translate((lin + size - 1) | 0, true, this.cpl === 3);
  }

  /** Supervisor-mode accesses to system structures (GDT, IDT, TSS) regardless of CPL. */
  readSys8(lin: number): number {
    return this.mem.read8(this.physOf(this.translate(lin, false, false), lin));
  }
  readSys16(lin: number): number {
    return this.readSys8(lin) | (this.readSys8((lin + 1) | 0) << 8);
  }
  readSys32(lin: number): number {
    return this.readSys16(lin) | (this.readSys16((lin + 2) | 0) << 16);
  }
  writeSys8(lin: number, v: number): void {
    this.mem.write8(this.physOf(this.translate(lin, true, false), lin), v);
  }
  writeSys16(lin: number, v: number): void {
    this.writeSys8(lin, v);
    this.writeSys8((lin + 1) | 0, v >>> 8);
  }
  writeSys32(lin: number, v: number): void {
    this.writeSys16(lin, v);
    this.writeSys16((lin + 2) | 0, v >>> 16);
  }

  // ---------------------------------------------------------------- segmented memory

  /** Linear address of a read of `size` bytes at seg:off, after the limit and rights check. */
  linR(seg: number, off: number, size: number): number {
    const o = off >>> 0;
    if (o < this.readLo[seg]! || o + size - 1 > this.readHi[seg]!) this.segFault(seg);
    return (this.segBase[seg]! + o) | 0;
  }

  linW(seg: number, off: number, size: number): number {
    const o = off >>> 0;
    if (o < this.writeLo[seg]! || o + size - 1 > this.writeHi[seg]!) this.segFault(seg);
    return (this.segBase[seg]! + o) | 0;
  }

  read8(seg: number, off: number): number {
    return this.readLin8(this.linR(seg, off, 1));
  }
  read16(seg: number, off: number): number {
    return this.readLin16(this.linR(seg, off, 2));
  }
  read32(seg: number, off: number): number {
    return this.readLin32(this.linR(seg, off, 4));
  }
  write8(seg: number, off: number, v: number): void {
    this.writeLin8(this.linW(seg, off, 1), v);
  }
  write16(seg: number, off: number, v: number): void {
    this.writeLin16(this.linW(seg, off, 2), v);
  }
  write32(seg: number, off: number, v: number): void {
    this.writeLin32(this.linW(seg, off, 4), v);
  }

  /** Effective address (offset within the segment) of the instruction's memory operand. */
  ea(i: Instr): number {
    let a = i.disp;
    if (i.base >= 0) a += this.r32[i.base]!;
    if (i.index >= 0) a += this.r32[i.index]! << i.scale;
    return i.a32 ? a | 0 : a & 0xffff;
  }

  // Operand helpers for ModRM forms: E is register or memory, selected by mod.
  readE8(i: Instr): number {
    return i.mod === 3 ? this.r8[i.rmb]! : this.read8(i.seg, this.ea(i));
  }
  readE16(i: Instr): number {
    return i.mod === 3 ? this.r16[i.rm << 1]! : this.read16(i.seg, this.ea(i));
  }
  readE32(i: Instr): number {
    return i.mod === 3 ? this.r32[i.rm]! : this.read32(i.seg, this.ea(i));
  }
  writeE8(i: Instr, v: number): void {
    if (i.mod === 3) this.r8[i.rmb] = v;
    else this.write8(i.seg, this.ea(i), v);
  }
  writeE16(i: Instr, v: number): void {
    if (i.mod === 3) this.r16[i.rm << 1] = v;
    else this.write16(i.seg, this.ea(i), v);
  }
  writeE32(i: Instr, v: number): void {
    if (i.mod === 3) this.r32[i.rm] = v;
    else this.write32(i.seg, this.ea(i), v);
  }

  /**
   * Read-modify-write of a memory operand: returns the linear address after checking that the
   * write will succeed, so a fault comes before anything changes (and with the W bit in #PF).
   */
  rmwLin(i: Instr, size: number): number {
    const lin = this.linW(i.seg, this.ea(i), size);
    if (this.readHi[i.seg]! < 0) this.segFault(i.seg);
    this.probeWrite(lin, size);
    return lin;
  }

  // ---------------------------------------------------------------- stack

  get sp(): number {
    return this.ssB ? this.r32[ESP]! : this.r16[ESP << 1]!;
  }

  /** Stack pointer after pushing `size` bytes, as an offset in SS (not yet committed). */
  pushOffset(size: number): number {
    return this.ssB ? (this.r32[ESP]! - size) | 0 : (this.r16[ESP << 1]! - size) & 0xffff;
  }

  setSp(v: number): void {
    if (this.ssB) this.r32[ESP] = v;
    else this.r16[ESP << 1] = v;
  }

  push16(v: number): void {
    const sp = this.pushOffset(2);
    this.write16(SS, sp, v);
    this.setSp(sp);
  }
  push32(v: number): void {
    const sp = this.pushOffset(4);
    this.write32(SS, sp, v);
    this.setSp(sp);
  }
  pop16(): number {
    const v = this.read16(SS, this.sp);
    this.setSp(this.sp + 2);
    return v;
  }
  pop32(): number {
    const v = this.read32(SS, this.sp);
    this.setSp(this.sp + 4);
    return v;
  }
  /** Reads the stack at sp + delta without popping (for multi-part pops that must not half-commit). */
  peek16(delta: number): number {
    const off = this.ssB ? (this.r32[ESP]! + delta) | 0 : (this.r16[ESP << 1]! + delta) & 0xffff;
    return this.read16(SS, off);
  }
  peek32(delta: number): number {
    const off = this.ssB ? (this.r32[ESP]! + delta) | 0 : (this.r16[ESP << 1]! + delta) & 0xffff;
    return this.read32(SS, off);
  }
  adjustSp(delta: number): void {
    if (this.ssB) this.r32[ESP] = (this.r32[ESP]! + delta) | 0;
    else this.r16[ESP << 1] = this.r16[ESP << 1]! + delta;
  }

  // ---------------------------------------------------------------- control transfer helpers

  /** Near jump to `target` within CS, with the limit check (#GP(0) beyond it). */
  jumpNear(target: number): void {
    const t = target & this.ipMask;
    if (t >>> 0 > this.segLimit[CS]!) this.raiseGP(0);
    this.eip = t;
  }

  // ---------------------------------------------------------------- I/O

  /** The I/O privilege check: IOPL, then the TSS permission bitmap (SDM vol. 1 §18.5). */
  checkIo(port: number, size: number): void {
    if (!this.protectedMode || (this.cpl <= this.iopl && !this.v86)) return;
    // 32-bit TSS only: the bitmap offset is at 0x66; a 16-bit TSS has no bitmap.
    if ((this.trType & 8) === 0 || this.trLimit < 0x67) this.raiseGP(0);
    const mapBase = this.readSys16((this.trBase + 0x66) | 0);
    const byteOff = mapBase + (port >>> 3);
    if (byteOff + 1 > this.trLimit) this.raiseGP(0);
    const bits = this.readSys16((this.trBase + byteOff) | 0);
    const mask = ((1 << size) - 1) << (port & 7);
    if (bits & mask) this.raiseGP(0);
  }

  in(port: number, size: 1 | 2 | 4): number {
    this.checkIo(port, size);
    return this.io.read(port, size);
  }

  out(port: number, size: 1 | 2 | 4, v: number): void {
    this.checkIo(port, size);
    this.io.write(port, size, v);
    // A device may have raised an interrupt or changed A20: look again before the next instruction.
    this.brk = true;
  }

  // ---------------------------------------------------------------- TSC

  rawTsc(): number {
    return Math.floor(this.env.nowNs() * (TSC_HZ / 1e9));
  }

  readTsc(): bigint {
    return BigInt(this.rawTsc() + this.tscOffset);
  }

  // ---------------------------------------------------------------- decoded instruction cache

  invalidateCodePage(physPage: number): void {
    const dropped = this.codeCache.get(physPage);
    // What is gone no longer counts toward MAX_DECODED: code rewritten in place (a page freed and
    // reused, a process image loaded over an old one) otherwise filled the cache.
    if (dropped) this.dropCodePage(physPage, dropped);
    this.mem.codePage[physPage] = 0;
    if (physPage === this.curPhysPage) this.curLinPage = -1;
    this.bt?.invalidatePage(physPage);
  }

  /**
   * Physical pages [first, first + count) now decode to something else (RAM shadowed by a ROM, a
   * device window moved over them): what the CPU cached of them, code and TLB entries, goes.
   */
  pagesRemapped(first: number, count: number): void {
    for (let p = first; p < first + count; p++) this.invalidateCodePage(p);
    this.flushTlb(true);
  }

  /** Decoded instructions held (MAX_DECODED). */
  get decodedInstructions(): number {
    return this.decodedCount;
  }

  /** Physical pages holding decoded instructions (for memory accounting). */
  get cachedCodePages(): number {
    return this.codeCache.size;
  }

  /** Drops every decoded instruction (after a restore or a wholesale memory change). */
  invalidateAllCode(): void {
    this.emptyDecoded();
    this.bt?.flushAll();
  }

  /**
   * Makes room in a full decoded-instruction cache: drops the pages not entered since the last sweep,
   * and if that frees less than a quarter, pages spread over the rest (dropSpreadCodePages). Pages
   * that still hold translations stay traced.
   */
  private dropDecoded(): void {
    const before = this.decodedCount;
    const pages = this.codeCache.size;
    // The period goes on: had a refill begun a new one, code run round and round through more than
    // the cache holds would find most of its pages "idle" at the next refill, entered only before it.
    this.dropIdleCodePages(false);
    if (this.decodedCount > before - (MAX_DECODED >>> 2) && this.codeCache.size > pages - (MAX_CODE_PAGES >>> 2)) this.dropSpreadCodePages();
    this.bt?.retracePages();
  }

  /**
   * Drops every eighth page in the cache's order, a different eighth each time, until an eighth of
   * the cache is free. Code busier than the cache holds, run round and round (a large program's or
   * kernel's working set), then still finds most of its pages decoded at the next pass. Emptying the
   * whole cache, as it did before, made every pass decode all of it again, and the garbage collector
   * take back all of it: a loop through 108,000 instructions ran at 3.5 MIPS against 55 for 36,000.
   */
  private dropSpreadCodePages(): void {
    for (let pass = 0; pass < 8; pass++) {
      const turn = (this.dropTurn = (this.dropTurn + 1) & 7);
      let k = 0;
      for (const [page, c] of this.codeCache) if ((k++ & 7) === turn) this.dropCodePage(page, c);
      if (this.decodedCount <= MAX_DECODED - (MAX_DECODED >>> 3) && this.codeCache.size <= MAX_CODE_PAGES - (MAX_CODE_PAGES >>> 3)) return;
    }
  }

  /** Drops the pages not entered in the current period, and begins the next if asked; returns how many went. */
  private dropIdleCodePages(newPeriod = true): number {
    const period = this.sweepPeriod;
    let dropped = 0;
    for (const [page, c] of this.codeCache) {
      if (c.stamp === period) continue;
      this.dropCodePage(page, c);
      dropped++;
    }
    // Wrapping to 0 would make every page's stamp (0 when new) look current.
    if (newPeriod) this.sweepPeriod = (period & 0xffff) === 0xffff ? 1 : period + 1;
    // The page run now is entered again (and stamped, or made again if it went).
    this.curLinPage = -1;
    return dropped;
  }

  /** Ends a sweep period (SWEEP_INSNS): the translator drops its idle translations. */
  sweep(): void {
    this.sweptAt = this.instructions;
    this.bt?.sweepIdle();
  }

  /** Ends a decoded-cache period (DECODED_SWEEP_INSNS): the decoded instructions of pages not entered in it go. */
  sweepDecoded(): void {
    this.decodedSweptAt = this.instructions;
    if (this.dropIdleCodePages()) this.bt?.retracePages();
  }

  /** Takes a page out of the cache (and its write trap: see retracePages) and keeps it, emptied, for reuse. */
  private dropCodePage(physPage: number, c: DecodedPage): void {
    this.decodedCount -= c.count;
    this.codeCache.delete(physPage);
    this.mem.codePage[physPage] = 0;
    const slot = physPage & (RECENT_CODE_PAGES - 1);
    if (this.recentCode[slot] === c) this.recentCode[slot] = NO_CODE_PAGE;
    this.spareCodePage(c);
  }

  private spareCodePage(c: DecodedPage): void {
    c.clear();
    if (this.spareCodePages.length < MAX_SPARE_CODE_PAGES) this.spareCodePages.push(c);
  }

  private emptyDecoded(): void {
    for (const [p, c] of this.codeCache) {
      this.mem.codePage[p] = 0;
      this.spareCodePage(c);
    }
    this.codeCache.clear();
    this.recentCode.fill(NO_CODE_PAGE);
    this.curLinPage = -1;
    this.decodedCount = 0;
  }

  /** Fetch one byte at CS:eip+n for the decoder, checking the CS limit and page rights. */
  private fetchByte(eip: number, n: number): number {
    const off = (eip + n) & this.ipMask;
    if (off >>> 0 > this.csLimit) this.raiseGP(0);
    const lin = (this.csBase + off) | 0;
    const e = this.translate(lin, false, this.cpl === 3);
    return this.mem.read8(this.physOf(e, lin));
  }

  private fetchInstr(): Instr {
    const eip = this.eip;
    const lin = (this.csBase + eip) | 0;
    if (lin >>> 12 !== this.curLinPage) this.enterCodePage(eip, lin);
    if (this.curPhysPage >= 0) {
      const k = this.curSlots[lin & 0xfff]!;
      const cached = this.curInstrs[k]!;
      if (k !== 0 && cached.d32 === this.csD) {
        if ((eip >>> 0) + cached.len - 1 > this.csLimit) this.raiseGP(0);
        return cached;
      }
    }
    return this.decodeAt(eip, lin);
  }

  private enterCodePage(eip: number, lin: number): void {
    if (eip >>> 0 > this.csLimit) this.raiseGP(0);
    const e = this.translate(lin, false, this.cpl === 3);
    const phys = (e >>> 12) & 0xfffff;
    this.curLinPage = lin >>> 12;
    this.curPhysPage = e & TLB_IO && !this.mem.codeCacheable(phys) ? -1 : phys;
    if (this.curPhysPage >= 0) {
      const slot = phys & (RECENT_CODE_PAGES - 1);
      let c: DecodedPage | undefined = this.recentCode[slot]!;
      if (c.phys !== phys) {
        c = this.codeCache.get(phys);
        if (!c) {
          if (this.codeCache.size >= MAX_CODE_PAGES) this.dropDecoded();
          c = this.spareCodePages.pop() ?? new DecodedPage();
          c.phys = phys;
          this.codeCache.set(phys, c);
          this.mem.codePage[phys] = 1;
        }
        this.recentCode[slot] = c;
      }
      c.stamp = this.sweepPeriod;
      this.curCode = c;
      this.curSlots = c.slots;
      this.curInstrs = c.instrs;
    }
  }

  private decodeAt(eip: number, lin: number): Instr {
    const i = decode(this.table, (n) => this.fetchByte(eip, n), this.csD, this);
    // Across a page end (never cached): the block ends here, so that the code after it, on the next
    // page, is an entry the translator can take. A chacha20 round, straight-line code over a page
    // boundary, otherwise ran interpreted to its end: 8 M instructions of the hash workload.
    if ((lin & 0xfff) + i.len > 0x1000) i.ends = true;
    if (this.curPhysPage >= 0 && (lin & 0xfff) + i.len <= 0x1000 && (eip >>> 0) + i.len - 1 <= this.csLimit) {
      if (this.decodedCount >= MAX_DECODED) this.dropDecoded();
      // Only cache into the live page: it may have been dropped meanwhile.
      if (this.codeCache.get(this.curPhysPage) !== this.curCode) return i;
      this.decodedCount += this.curCode.put(lin & 0xfff, i);
    }
    return i;
  }

  // ---------------------------------------------------------------- run loop

  /**
   * Executes up to `budget` instructions. Returns the number executed. Stops early when the CPU
   * halts. Exceptions are delivered inside; a triple fault calls onShutdown.
   */
  run(budget: number): number {
    // A halted CPU goes on only for an interrupt (or NMI): look before running anything, since the
    // halt's own request for attention was taken when it stopped, and the machine may call again
    // before anything is due.
    if (this.halted) this.brk = true;
    if (this.instructions - this.sweptAt >= this.sweepInsns) this.sweep();
    if (this.instructions - this.decodedSweptAt >= this.decodedSweepInsns) this.sweepDecoded();
    if (this.bt) return this.bt.run(budget);
    let done = 0;
    while (done < budget) {
      if (this.brk) {
        this.brk = false;
        if (this.serviceEvents()) break;
      }
      const start = done;
      try {
        done += this.interpretRun(budget - done, false);
      } catch (e) {
        done += this.interpreted;
        if (done === start) done++;
        this.deliverFault(e);
      }
    }
    this.instructions += done;
    return done;
  }

  /**
   * Interprets instructions up to the end of a basic block (a control transfer), something that
   * needs attention (cpu.brk), or `budget`; delivers a fault if one happens. Returns the number
   * executed, a fault counting as one when it comes before its block's first instruction began. The
   * translation engine's way of running code it has not translated; with `cold` (its cold runs) it
   * goes on block after block for as long as the engine's continueCold agrees at each block's end.
   */
  interpretBlock(budget: number, cold = false): number {
    try {
      return this.interpretRun(budget, true, cold);
    } catch (e) {
      this.deliverFault(e);
      return this.interpreted === this.blockBegan ? this.interpreted + 1 : this.interpreted;
    }
  }

  /**
   * Runs `i`, decoded at EIP, as interpretRun runs an instruction, delivering a fault. For an
   * instruction whose own read rewrote code (btRead): it completes as it was fetched, as it does in
   * the interpreter, even if the rewritten bytes are its own.
   */
  runFetched(i: Instr): number {
    this.prevEip = this.eip;
    try {
      this.eip = (this.eip + i.len) & this.ipMask;
      i.h(this, i);
    } catch (e) {
      this.deliverFault(e);
    }
    return 1;
  }

  /** An instruction threw `e`: a fault is delivered from the instruction's start (prevEip); anything else goes on up. */
  private deliverFault(e: unknown): void {
    if (e !== FAULT) throw e;
    this.eip = this.prevEip;
    this.handleFault();
  }

  /**
   * Runs instructions until `budget`, cpu.brk, or (if `toBlockEnd`) the end of a basic block, or with
   * `cold` the end of a block after which bt.continueCold says stop. Returns how many ran; a fault is
   * thrown with this.interpreted holding how many ran before it.
   *
   * An instruction that falls through to the next on its page keeps a link to it (Instr.next), and
   * the next fetch follows the link instead of reading the page's tables: the interpreter's fetch
   * was a third of its time in fork + exec. The link is followed only while the linear code page is
   * still the one it was made on (curLinPage: reset when that page's decoded code is dropped, the TLB
   * is flushed or the CPL changes), so a rewritten or remapped page is decoded afresh. A jump within
   * the page keeps one link likewise, to where it last went.
   */
  private interpretRun(budget: number, toBlockEnd: boolean, cold = false): number {
    let done = 0;
    this.interpreted = 0;
    this.blockBegan = 0;
    if (budget <= 0) return 0;
    this.prevEip = this.eip;
    let i = this.fetchInstr();
    let page = this.curLinPage;
    for (;;) {
      const fall = (this.eip + i.len) & this.ipMask;
      this.eip = fall;
      this.interpreted = ++done;
      i.h(this, i);
      if (this.brk || done >= budget) return done;
      if (toBlockEnd && i.ends) {
        if (!cold || !this.bt!.continueCold(done)) return done;
        this.blockBegan = done;
      }
      const eip = this.eip;
      this.prevEip = eip;
      const next = eip === fall ? i.next : eip === i.jumpEip && ((this.csBase + eip) | 0) >>> 12 === page ? i.jump : null;
      if (next !== null && this.curLinPage === page && (eip >>> 0) + next.len - 1 <= this.csLimit) {
        i = next;
        continue;
      }
      const prev = i;
      i = this.fetchInstr();
      if (page !== -1 && this.curLinPage === page && this.isCached(eip, i)) {
        if (eip === fall) prev.next = i;
        else {
          prev.jump = i;
          prev.jumpEip = eip;
        }
      }
      page = this.curLinPage;
    }
  }

  /** Whether `i` is the decoded cache's instruction at `eip` on the current code page. */
  private isCached(eip: number, i: Instr): boolean {
    return this.curPhysPage >= 0 && this.curInstrs[this.curSlots[(this.csBase + eip) & 0xfff]!] === i;
  }

  /**
   * Executes exactly `n` instructions (a fault and its delivery count as one), servicing no
   * interrupts: the check engine's replay of a translation.
   */
  stepExactly(n: number): void {
    for (let k = 0; k < n; k++) {
      this.prevEip = this.eip;
      let i: Instr;
      try {
        i = this.fetchInstr();
      } catch (e) {
        this.deliverFault(e);
        continue;
      }
      this.runFetched(i);
    }
  }

  /** Interrupts, NMI, single-step traps and halt between instructions. Returns true if halted. */
  serviceEvents(): boolean {
    if (this.shutdown) return true;
    if (this.stepArmed) {
      // Single-step trap after an instruction that began with TF set (SDM vol. 3 §17.3.1.4).
      this.stepArmed = false;
      this.dr[6] = this.dr[6]! | (1 << 14);
      this.deliverExternal(Vec.DB, InterruptKind.Exception);
    }
    if (this.shadow) {
      // STI / MOV SS: one more instruction runs before any interrupt is taken.
      this.shadow = false;
      this.brk = true;
      if (!this.halted) return false;
    }
    if (this.nmiPending && !this.nmiBlocked) {
      this.nmiPending = false;
      this.nmiBlocked = true;
      this.halted = false;
      this.deliverExternal(Vec.NMI, InterruptKind.NMI);
    } else if (this.flagsRaw & IF && this.env.pic?.hasInterrupt()) {
      this.halted = false;
      const vector = this.env.pic.acknowledge();
      this.deliverExternal(vector, InterruptKind.External);
    }
    if (this.halted) return true;
    if (this.flagsRaw & TF) {
      this.stepArmed = true;
      this.brk = true;
    }
    return false;
  }

  private deliverExternal(vector: number, kind: InterruptKind): void {
    try {
      deliverInterrupt(this, vector, kind, false, 0);
    } catch (e) {
      if (e !== FAULT) throw e;
      this.handleFault();
    }
  }

  /** Delivers the recorded exception, applying the double- and triple-fault rules. */
  handleFault(): void {
    this.stepArmed = false;
    this.onException?.(this.excVector, this.excCode, this.eip);
    for (;;) {
      try {
        deliverException(this, this.excVector, this.excHasCode, this.excCode);
        this.delivering = -1;
        return;
      } catch (e) {
        if (e !== FAULT) throw e;
        if (this.delivering === Vec.DF) {
          this.delivering = -1;
          this.shutdown = true;
          this.halted = true;
          this.brk = true;
          this.onShutdown(`exception ${this.excVector} while delivering a double fault`);
          return;
        }
        // deliverException set `delivering` to the first vector; it decides #DF for the second.
      }
    }
  }

  /** Interrupt request from the machine (the PIC's INTR changed, a device was poked). */
  notifyInterrupt(): void {
    this.brk = true;
  }

  /** An NMI from the machine (the local APIC: an NMI IPI, an I/O APIC entry in NMI mode). */
  raiseNmi(): void {
    this.nmiPending = true;
    this.brk = true;
  }

  // ---------------------------------------------------------------- FPU glue

  private fpuHost(): FpuHost {
    return {
      read8: (s, o) => this.read8(s, o),
      read16: (s, o) => this.read16(s, o),
      read32: (s, o) => this.read32(s, o),
      write8: (s, o, v) => this.write8(s, o, v),
      write16: (s, o, v) => this.write16(s, o, v),
      write32: (s, o, v) => this.write32(s, o, v),
      setComparisonFlags: (zf, pf, cf) => {
        this.materialize(ARITH);
        let f = this.flagsRaw & ~ARITH;
        if (zf) f |= ZF;
        if (pf) f |= PF;
        if (cf) f |= CF;
        this.flagsRaw = f;
      },
      eflags: () => this.getFlags(),
      mathFault: () => {
        if (this.cr0 & CR0_NE) this.raise(Vec.MF);
        // PC-style: FERR# raises IRQ13 and the instruction is retried after the handler.
        this.env.ferr?.();
        return this.raise(Vec.MF);
      },
    };
  }

  // ---------------------------------------------------------------- real-mode helper

  loadSegmentReal(s: SegmentIndex, selector: number): void {
    loadSegmentReal(this, s, selector);
  }
}

export { CS, SS };
export { SF, ZF, CF, OF, PF, AF, TF, DF, IF };
