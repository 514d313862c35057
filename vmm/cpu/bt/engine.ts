// The binary-translation engine: the translation cache, the hotness counters, the dispatcher that runs
// translations and hands everything else to the interpreter, and invalidation of translations whose
// guest bytes were written (the paper's traced pages, here through PhysicalMemory.codePage).
//
// Code runs in the interpreter until its entry point has been reached HOT_THRESHOLD times, then it is
// translated (translate.ts), and the other blocks of the region it became are entry points into the
// same code (aliases), so that code entered there (a return from a call out of the page, say) is not
// translated a second time. The cache holds at most MAX_TRANSLATIONS entry points and
// MAX_SOURCE_CHARS of JavaScript; when it is full the least-run half goes (evictCold). A page
// whose translations keep being thrown away unused (code and hot data on one page) is demoted: it
// stays with the interpreter until the next full flush.
//
// Adaptive retranslation (the paper's): a memory access whose inline fast path keeps being refused
// (a device register, an unaligned or page-crossing dword, a store into a page holding code) has its
// translation made again with that access calling the slow path directly (retranslate). Which
// accesses those are is remembered per entry point, physical address and mode key, so a translation
// made again after an eviction starts with them slow, as does one of another entry point on the page
// that runs the same instructions.

import { FAULT } from '../fault.ts';
import { TF } from '../flags.ts';
import { decode, type Instr } from '../decode.ts';
import { CR0_PG, TLB_IO } from '../regs.ts';
import type { Cpu } from '../cpu.ts';
import { factsOf } from './mode.ts';
import { EntryMap } from './entry-map.ts';
import { makeTranslation, NO_SLOW_COUNTS, translateBlock, type OtherPage, type Translation, type TranslateOptions } from './translate.ts';
import { RETRANSLATE_AFTER } from './block-writer.ts';
import { WasmTier, wasmLayoutOf } from './wasm/wasm-tier.ts';

/**
 * When an entry point is translated: its count, the guest instructions the interpreter ran from it
 * (a visit of a block of n instructions adds n; MISS_WEIGHT more when the dispatcher's lookup
 * missed first), reaches HOT_THRESHOLD. All counts halve every
 * HALF_LIFE_INSNS guest instructions, and every HALF_LIFE_HALTS times the guest halts (goes idle).
 *
 * Why: a new translation costs V8 a compilation, and runs in V8's slow tiers until V8 has seen it
 * run often enough to optimize it; it repays that only when it goes on running. An idle guest runs its
 * timer tick a few hundred times a second and halts between ticks: halving at the halts keeps that
 * code interpreted (translated, it cost an idle guest more CPU than interpreted). A busy guest halts
 * seldom, and what it runs over and over is translated: a hash function's block transform (hundreds of
 * instructions, visited once per 64 bytes) within a few hundred visits, where a count of visits (20000
 * were needed to keep the tick out) left it mostly interpreted. The half-life in instructions is long:
 * at 4 Mi, code that a long job runs throughout but thinly (seq's number formatting under gzip's
 * workload) never got there, and the compress workload ran 1.5 times slower than at 64 Mi. Host time
 * would be a worse clock: on a loaded host it translated almost nothing.
 */
export const HOT_THRESHOLD = 50_000;
/**
 * The threshold for code running at CPL 3. The kernel's lukewarm paths (fork, exec, exit, page
 * faults: each visited a few times per process) are what lost when all code was translated sooner
 * (fork + exec at 10,000: 16-22 s against 9-10); a program's own code that runs often enough to
 * get this hot is mostly a loop that goes on, and the bench's first runs were the shorter for
 * translating it sooner (the shell loop 4.7-4.8 s against 5.3-5.9, from one saved machine; README).
 */
export const USER_HOT_THRESHOLD = 15_000;
/**
 * What a visit that starts at the dispatcher adds to its entry's count, beside the instructions run
 * from it: the lookup that missed costs about as much as interpreting this many instructions. Short
 * blocks reached from the dispatcher (a return site after a call to another page, one or two
 * instructions before the next call) otherwise never got hot: at one or two per visit the halving
 * kept them below the threshold, and the busybox shell's loop missed 2.3 M times a warm run, 14.6 M
 * instructions interpreted a block at a time. At 8: 0.09 M misses, 3.8 M instructions.
 */
export const MISS_WEIGHT = 8;
export const HALF_LIFE_INSNS = 1 << 26;
export const HALF_LIFE_HALTS = 64;
/** Entry points held at once, translations and their aliases. */
export const MAX_TRANSLATIONS = 16384;
/**
 * The largest region (its instructions) that a region made later on its page takes in, in place of
 * stopping where its code begins (absorb).
 */
const ABSORB_INSNS = 32;
/**
 * V8 keeps each translation's JavaScript text beside its compiled code, so the cache is also bounded
 * by the text it holds: past this many characters its colder half goes (evictCold).
 */
export const MAX_SOURCE_CHARS = 16 << 20;
/**
 * Characters of translations dropped (by a write, a retranslation, a new variant) after which the
 * successor links to them from live translations are cut (cutDeadLinks), so that V8 can let go of
 * their code. A link goes by itself only when its holder runs again, and a dropped translation's own
 * links go nowhere: a guest that wrote each translation's page after it had run into the next one
 * kept every one it ever made reachable from the first until the next sweep.
 */
export const MAX_DROPPED_CHARS = MAX_SOURCE_CHARS / 8;
/** Translations of one entry point for different modes kept at once (kernel code entered from processes with different segments, say). */
const MAX_VARIANTS = 4;
/** Wasted invalidations (translations dropped after fewer runs than they cost) before a page is demoted. */
const DEMOTE_AFTER = 8;
const HOT_BITS = 16;
/**
 * Retranslations of one entry point (physical address and mode key) for its slow accesses. Each one
 * turns at least one more access slow: once for what is slow from the start, at most twice more for
 * accesses that turn slow later (a pointer that moves onto a device page or an unaligned buffer);
 * past that the entry keeps its translation, since every retranslation costs a compilation.
 */
const MAX_RETRANSLATIONS = 3;
/**
 * Entry points whose slow accesses are remembered. Past this many, what was learned is forgotten at
 * once (then learned again at the cost of a retranslation each), keeping the engine's memory bounded.
 */
const MAX_SLOW_ENTRIES = 4096;

export interface BtStats {
  /** Live entry points: translations and their aliases (MAX_TRANSLATIONS). */
  translations: number;
  /** Translations made since the start (including ones since dropped). */
  made: number;
  /** Of those, made in WebAssembly (wasm/wasm-tier.ts). */
  wasmMade: number;
  /** WebAssembly translations made again in JavaScript for running too few instructions a call. */
  wasmRefused: number;
  translatedInsns: number;
  /** Instructions executed inside translations and in the interpreter. */
  btInsns: number;
  interpInsns: number;
  /** Dispatches that found a translation, and ones that did not. */
  hits: number;
  /** Dispatches that followed a successor link without a lookup. */
  chained: number;
  misses: number;
  /** Blocks the interpreter ran one after another in cold code, without a dispatcher lookup. */
  coldBlocks: number;
  invalidations: number;
  flushes: number;
  /** Times the full cache kept its hottest translations and dropped the rest. */
  evictions: number;
  /** Translations dropped for not having run between two sweeps (Cpu.sweep). */
  swept: number;
  /** Small regions taken into a larger one made later on their page (absorb). */
  absorbed: number;
  demotedPages: number;
  /** Translations made again with accesses that kept taking the slow path calling it directly. */
  retranslations: number;
  /** Host time spent translating and compiling, ms (when the host lends its clock). */
  translateMs: number;
}

/** A physical page holding translations: kept only while it does (BtEngine.pages). */
interface PageEntry {
  /** By page offset: the translations starting there, one per mode (chained through Translation.alt). */
  readonly byOffset: Map<number, Translation>;
}

/** What is known of an entry point's memory accesses that keep taking the slow path. */
interface SlowEntry {
  readonly phys: number;
  /** The mode key and its consulted bits, as in Translation. */
  readonly key: number;
  readonly keyMask: number;
  /** Their ids (BlockWriter.site). */
  readonly sites: Set<number>;
  retranslations: number;
}

const STOP = new Error('stop decoding');

export class BtEngine {
  /**
   * By physical page, the pages that hold translations now; a page's entry goes with its last one.
   * (Kept for good, they were about 260 bytes for every page ever translated: a guest running code
   * once on each page of a 3 GiB machine would have left 200 MB of them.)
   */
  private readonly pages = new Map<number, PageEntry>();
  /** By physical page: the regions entered on other pages that hold code of this one (Translation.otherPages). */
  private readonly borrowers = new Map<number, Set<Translation>>();
  /** Pages demoted since the last decay, which then gives them another chance. */
  private readonly demoted: number[] = [];
  /**
   * By physical page number: PAGE_TRANSLATED, PAGE_DEMOTED or 0 (a Map lookup costs more). Only
   * RAM's pages, as in `entries`: code elsewhere (ROM, MMIO) is only interpreted, and tables for all
   * 4 GiB were 4 MiB of the memory beyond a 256 MiB guest's RAM.
   */
  private readonly pageState: Uint8Array;
  /**
   * By physical page number: translations dropped from the page after little use, in a row (demotion:
   * pageState). Beside pageState rather than in the page's entry, which goes when the page is emptied.
   */
  private readonly pageWaste: Uint8Array;
  /**
   * Direct-mapped by physical address (lookupIndex): the translation the dispatcher found there last,
   * which spares it the page's Map and variant chain when the same entry point is reached again.
   * A dropped translation is taken out (it would keep its code alive).
   */
  private readonly lookup: (Translation | null)[] = new Array<Translation | null>(1 << LOOKUP_BITS).fill(null);
  /**
   * The physical addresses where a translation of any mode begins (kept beside `pages`): a cold run
   * goes on through the other blocks of a page holding translations, and the dispatcher skips the
   * page's variants there. Nine in ten of the dispatcher's misses in lukewarm code had been such
   * blocks (kernel pages hold translations and cold code side by side).
   */
  private readonly entries: EntryMap;
  private readonly hot = new Uint32Array(1 << HOT_BITS);
  /**
   * A cold run's state (interpretCold): the current block's entry in `hot` (-1: none), where in the
   * interpreter's count it began, the run's threshold, the blocks it counted, whether continueCold
   * ended it.
   */
  private coldHeat = -1;
  private coldMark = 0;
  private coldThreshold = 0;
  private coldBlocks = 0;
  private coldStopped = false;
  /** The counter of the entry the dispatcher just missed (it gets the instructions interpreted there), or -1. */
  private heating = -1;
  private count = 0;
  /** cpu.instructions when the hotness counts were last halved, and the halts since. */
  private decayedAt = 0;
  private halts = 0;
  /** Characters of JavaScript in the live translations (MAX_SOURCE_CHARS). */
  private sourceChars = 0;
  /** Characters of the translations dropped since links to dropped ones were last cut (MAX_DROPPED_CHARS). */
  private droppedChars = 0;
  /** The translation run last, whose successor link the dispatcher tries first. */
  private last: Translation | null = null;
  /** Times the hotness counts were halved: a translation's slow counts belong to one such period. */
  private decays = 0;
  /** By physical page: its entry points' slow accesses (SlowEntry), and how many entries there are. */
  private readonly slowEntries = new Map<number, SlowEntry[]>();
  private slowEntryCount = 0;
  readonly stats: BtStats = {
    translations: 0, made: 0, wasmMade: 0, wasmRefused: 0, translatedInsns: 0, btInsns: 0, interpInsns: 0, hits: 0, chained: 0, misses: 0, coldBlocks: 0,
    invalidations: 0, flushes: 0, evictions: 0, swept: 0, absorbed: 0, demotedPages: 0, retranslations: 0, translateMs: 0,
  };
  /** Keep each translation's JavaScript text (for dumps and check reports; costs memory). */
  keepSource = false;
  /**
   * Runs a translation in place of runTranslation: the check engine's, which compares it with the
   * interpreter. (Null otherwise, so the dispatcher calls runTranslation itself: one call fewer on
   * every dispatch.)
   */
  execute: ((t: Translation, budget: number) => number) | null = null;

  /** Makes regions in WebAssembly's subset into WebAssembly (wasm/wasm-tier.ts); null when off or the TLB is not in guest memory. */
  readonly wasm: WasmTier | null;

  constructor(
    readonly cpu: Cpu,
    readonly options: TranslateOptions & {
      /** Both thresholds, user and kernel (tests), unless userHotThreshold is given too. */
      readonly hotThreshold?: number;
      readonly userHotThreshold?: number;
      readonly halfLifeInsns?: number;
      readonly hostMs?: () => number;
      /** Whether to make WebAssembly translations where the subset allows (default true). */
      readonly wasm?: boolean;
    } = {},
  ) {
    const ramPages = cpu.mem.size >>> 12;
    this.pageState = new Uint8Array(ramPages);
    this.pageWaste = new Uint8Array(ramPages);
    this.entries = new EntryMap(ramPages);
    const layout = options.wasm === false ? null : wasmLayoutOf(cpu);
    this.wasm = layout ? new WasmTier(cpu, layout, options.replayable ?? false) : null;
  }

  /** Executes up to `budget` instructions (the Cpu.run contract). */
  run(budget: number): number {
    const cpu = this.cpu;
    this.decay();
    let done = 0;
    while (done < budget) {
      if (cpu.brk) {
        cpu.brk = false;
        if (cpu.serviceEvents()) {
          // Went idle after running something (not a wake-up that found the CPU still halted).
          if (done > 0) this.halts++;
          break;
        }
        // An interrupt shadow (STI, MOV SS) or a single-step trap: one instruction, then look again.
        if (cpu.brk) {
          done += this.interpret(1);
          continue;
        }
      }
      if (cpu.flagsRaw & TF || cpu.dr[7]! & 0xff) {
        done += this.interpret(budget - done);
        continue;
      }
      // Chaining: the block that follows the last translation is usually one of the two that
      // followed it before, on the same page under the same mapping; then no lookup is needed.
      const last = this.last;
      let t: Translation | null = null;
      if (last !== null) {
        // (Written out twice rather than called: V8 left a helper uninlined in this loop.)
        const eip = cpu.eip;
        const lin = (cpu.csBase + eip) | 0;
        t = last.succ;
        if (
          t === null || t.eip !== eip || !t.valid || (cpu.modeKey & t.keyMask) !== t.key || t.csBase !== cpu.csBase ||
          t.csLimit !== cpu.csLimit32 || lin >>> 12 !== t.linPage || cpu.tlb[t.linPage]! !== t.tlbEntry
        ) {
          t = last.succ2;
          if (
            t !== null && (t.eip !== eip || !t.valid || (cpu.modeKey & t.keyMask) !== t.key || t.csBase !== cpu.csBase ||
            t.csLimit !== cpu.csLimit32 || lin >>> 12 !== t.linPage || cpu.tlb[t.linPage]! !== t.tlbEntry)
          ) t = null;
        }
      }
      if (t === null) {
        t = this.find();
        // Also when nothing was found: a link to a dropped translation would keep its code alive.
        if (last !== null) {
          last.succ2 = last.succ;
          last.succ = t;
        }
      } else this.stats.chained++;
      if (t && t.wantsRetranslation) {
        const old = t;
        t = this.retranslate(t);
        if (last !== null) {
          if (last.succ === old) last.succ = t;
          else last.succ2 = t;
        }
      }
      if (t) {
        const n = this.execute === null ? this.runTranslation(t, budget - done) : this.execute(t, budget - done);
        done += n;
        this.last = t;
        if (cpu.btSlow) {
          cpu.btSlow = false;
          if (t.slow[0] !== 0) for (const v of [t.home, ...t.home.aliases]) v.wantsRetranslation = true;
        }
        // Nothing ran: the translation begins with an instruction that runs on into a page no longer
        // mapped as when it was made (its test, before anything is done); the interpreter runs it.
        if (n === 0) {
          done += this.interpret(1);
          this.last = null;
        }
      } else {
        done += this.interpretCold(budget - done);
        this.last = null;
      }
    }
    cpu.instructions += done;
    return done;
  }

  /** Halves the hotness counts once per half-life, so that they measure a share of execution (HOT_THRESHOLD). */
  private decay(): void {
    const now = this.cpu.instructions;
    if (now - this.decayedAt < (this.options.halfLifeInsns ?? HALF_LIFE_INSNS) && this.halts < HALF_LIFE_HALTS) return;
    this.decayedAt = now;
    this.halts = 0;
    this.decays++;
    const hot = this.hot;
    for (let k = 0; k < hot.length; k++) hot[k] = hot[k]! >>> 1;
    // Demoted pages get another chance (their physical page may hold other code by now), one that a
    // single wasted invalidation ends.
    for (const page of this.demoted) {
      if (this.pageState[page] !== PAGE_DEMOTED) continue;
      this.pageState[page] = 0;
      this.pageWaste[page] = DEMOTE_AFTER - 1;
    }
    this.demoted.length = 0;
  }

  /**
   * Interprets from the entry the dispatcher just missed, block after block, for as long as the code
   * stays cold: each block's instructions go to its entry's count, and the run ends (back to the
   * dispatcher) at a page that holds translations, at an entry that has become hot, or when something
   * needs attention. Lukewarm code (a shell's parser, fork and exec in the kernel) runs in blocks of
   * a few instructions, and a dispatcher lookup for each one cost more than interpreting it.
   */
  private interpretCold(budget: number): number {
    const cpu = this.cpu;
    this.coldHeat = this.heating;
    this.coldThreshold = this.threshold();
    this.coldBlocks = 0;
    let done = 0;
    for (;;) {
      this.coldMark = 0;
      this.coldStopped = false;
      const n = cpu.interpretBlock(budget - done, true);
      done += n;
      if (this.coldStopped) break;
      // Ended inside a block (a fault, cpu.brk, the budget): its instructions still count.
      if (this.coldHeat >= 0) this.hot[this.coldHeat] += n - this.coldMark - 1;
      if (done >= budget || cpu.brk || !this.enterColdBlock()) break;
    }
    // Counted once a run, not per block: this is the cost of every cold instruction.
    this.stats.interpInsns += done;
    this.stats.coldBlocks += this.coldBlocks;
    return done;
  }

  /**
   * Cpu.interpretBlock's question (in a cold run) at the end of each block of a cold run, `done` instructions into
   * its call: whether to go on into the next block. Asked there rather than after a return, so that
   * the interpreter follows its links from block to block instead of fetching each block's first
   * instruction afresh, and a cold block costs no call and no `try` (with nothing translated, fork +
   * exec ran 7% faster).
   */
  continueCold(done: number): boolean {
    if (this.coldHeat >= 0) this.hot[this.coldHeat] += done - this.coldMark - 1;
    this.coldMark = done;
    if (this.enterColdBlock()) return true;
    this.coldStopped = true;
    return false;
  }

  /** Counts the block about to start at CS:EIP as cold, or returns false if the dispatcher should look at it. */
  private enterColdBlock(): boolean {
    const cpu = this.cpu;
    if (cpu.flagsRaw & TF || cpu.dr[7]! & 0xff) return false;
    const lin = (cpu.csBase + cpu.eip) | 0;
    const e = cpu.tlb[lin >>> 12]!;
    // Not mapped for this CPL yet: the interpreter fills the TLB (or faults) and the block goes uncounted.
    if ((e & (cpu.readMask | TLB_IO)) !== cpu.readMask) {
      this.coldHeat = -1;
      return true;
    }
    const phys = ((e & ~0xfff) | (lin & 0xfff)) >>> 0;
    if (this.entries.has(phys)) return false;
    const h = hotIndex(phys, cpu.modeKey);
    const heat = this.hot[h]! + 1;
    if (heat >= this.coldThreshold) return false;
    this.hot[h] = heat;
    this.coldHeat = h;
    this.coldBlocks++;
    return true;
  }

  /** The hotness an entry point is translated at, for the current CPL (constant within a cold run: a CPL change sets cpu.brk). */
  private threshold(): number {
    const both = this.options.hotThreshold;
    if (this.cpu.cpl === 3) return this.options.userHotThreshold ?? both ?? USER_HOT_THRESHOLD;
    return both ?? HOT_THRESHOLD;
  }

  private interpret(budget: number): number {
    const n = this.cpu.interpretBlock(budget);
    this.stats.interpInsns += n;
    return n;
  }

  /**
   * Runs translation `t`; a fault inside it is delivered as the interpreter would deliver it, and an
   * instruction a slow read abandoned (Cpu.btRead) is run as it was decoded (Cpu.runFetched).
   */
  runTranslation(t: Translation, budget: number): number {
    const cpu = this.cpu;
    t.home.runs++;
    let n: number;
    try {
      n = t.fn(cpu, budget);
    } catch (e) {
      if (e !== FAULT) throw e;
      cpu.eip = cpu.prevEip;
      if (cpu.btRestart) {
        // Cpu.btRead: the instruction runs now, outside the translation, as it was decoded (so the
        // check engine's replay of n instructions ends where this run did).
        cpu.btRestart = false;
        n = cpu.btDone + cpu.runFetched(cpu.btInstr!);
        cpu.btInstr = null;
      } else {
        n = cpu.btDone + 1;
        cpu.handleFault();
      }
    }
    this.stats.btInsns += n;
    return n;
  }

  /** The translation for the current CS:EIP and mode, making one if the entry point is hot. */
  find(): Translation | null {
    const cpu = this.cpu;
    const eip = cpu.eip;
    const lin = (cpu.csBase + eip) | 0;
    this.heating = -1;
    const e = cpu.tlb[lin >>> 12]!;
    if ((e & (cpu.readMask | TLB_IO)) !== cpu.readMask) return null;
    const phys = ((e & ~0xfff) | (lin & 0xfff)) >>> 0;
    const state = this.pageState[phys >>> 12];
    if (state === PAGE_DEMOTED) return null;
    if (state === PAGE_TRANSLATED) {
      // The translation found here last, if it serves this mode; else the page's variants.
      const slot = lookupIndex(phys);
      let t: Translation | null | undefined = this.lookup[slot]!;
      if (t === null || t.phys !== phys || !this.serves(t, eip)) {
        t = this.entries.has(phys) ? this.servingAt(phys, eip) : null;
        if (t) this.lookup[slot] = t;
      }
      if (t) {
        this.stats.hits++;
        if (!t.length) return null;
        // Remember under which mapping it was found, for successor links to it.
        t.linPage = lin >>> 12;
        t.tlbEntry = e;
        return t;
      }
    }
    this.stats.misses++;
    const h = hotIndex(phys, cpu.modeKey);
    const heat = this.hot[h]! + MISS_WEIGHT;
    if (heat < this.threshold()) {
      this.hot[h] = heat;
      this.heating = h;
      return null;
    }
    this.hot[h] = 0;
    const t = this.translate(eip, phys);
    t.linPage = lin >>> 12;
    t.tlbEntry = e;
    return t.length ? t : null;
  }

  /** The translation at physical address `phys` that serves EIP `eip` in the current mode (the page's chains hold only live ones). */
  private servingAt(phys: number, eip: number): Translation | null {
    for (let t: Translation | null | undefined = this.pages.get(phys >>> 12)?.byOffset.get(phys & 0xfff); t; t = t.alt) if (this.serves(t, eip)) return t;
    return null;
  }

  /** Whether `t`, a translation at the current physical address, serves EIP `eip` in the current mode. */
  private serves(t: Translation, eip: number): boolean {
    const cpu = this.cpu;
    return t.eip === eip && (cpu.modeKey & t.keyMask) === t.key && t.csBase === cpu.csBase && t.csLimit === cpu.csLimit32;
  }

  private translate(eip: number, phys: number): Translation {
    const cpu = this.cpu;
    if (this.count >= MAX_TRANSLATIONS || this.sourceChars >= MAX_SOURCE_CHARS) this.evictCold();
    const hostMs = this.options.hostMs;
    const started = hostMs ? hostMs() : 0;
    const facts = factsOf(cpu.modeKey, cpu.csBase, cpu.csLimit);
    const pageOff = phys & 0xfff;
    const physBase = phys - pageOff;
    const ipMask = facts.csD ? -1 : 0xffff;
    const homeLin = ((cpu.csBase + eip) | 0) >>> 12;
    // Another page a region may take code from: mapped readable RAM now, not left to the interpreter.
    // Any code while paging is off (the kernel's decompressor, whose hottest loop runs across a page
    // end: 30 M of a boot's 90 M chained dispatches); with paging on only short leaf functions, such
    // as PIC code's get_pc_thunk (taking any code lost in the bench: fork + exec 2.30 times v86's
    // time against 1.86; README, "Regions").
    const leafOnly = (cpu.cr0 & CR0_PG) !== 0;
    const mapped = (linPage: number): OtherPage | null => {
      const e = cpu.tlb[linPage]!;
      if ((e & (cpu.readMask | TLB_IO)) !== cpu.readMask) return null;
      const physPage = (e & ~0xfff) >>> 12;
      if (this.pageState[physPage] === PAGE_DEMOTED) return null;
      return { linPage, physPage, mask: ~0xfff | cpu.readMask | TLB_IO, want: (e & ~0xfff) | cpu.readMask, leafOnly };
    };
    const otherPage = (at: number): OtherPage | null => {
      const linPage = ((cpu.csBase + at) | 0) >>> 12;
      return linPage === homeLin ? null : mapped(linPage);
    };
    // The page after EIP `at`'s, for an instruction on the entry's page whose bytes run on into it
    // (in 16-bit code, not one whose IP wraps past 0xffff: decodeAt's fetch stops there).
    const crossing = (at: number): OtherPage | null => mapped(((((cpu.csBase + at) | 0) >>> 12) + 1) & 0xfffff);
    const decodeAt = (at: number): Instr | null => {
      const rel = facts.csD ? (at - eip) | 0 : (at & 0xffff) - (eip & 0xffff);
      let base = physBase;
      let start = pageOff + rel;
      if (start < 0 || start >= 0x1000) {
        const other = facts.csD ? otherPage(at) : null;
        if (!other) return null;
        base = other.physPage * 0x1000;
        start = (cpu.csBase + at) & 0xfff;
      }
      let next = -1;
      const fetch = (n: number): number => {
        const o = start + n;
        const off = (at + n) & ipMask;
        // 16-bit code whose instruction runs past offset 0xffff goes on at offset 0 of CS (the
        // interpreter's fetch wraps IP), not at the next byte of the page: left to the interpreter.
        if (off !== ((at + n) | 0) || off >>> 0 > facts.csLimit >>> 0) throw STOP;
        if (o < 0x1000) return cpu.mem.read8(base + o);
        // On into the next page: only from the entry's page, and where that page is mapped now.
        if (next < 0) next = base === physBase ? (crossing(at)?.physPage ?? -1) : -1;
        if (next < 0) throw STOP;
        return cpu.mem.read8(next * 0x1000 + o - 0x1000);
      };
      try {
        return decode(cpu.table, fetch, facts.csD, cpu);
      } catch (err) {
        if (err === STOP || err === FAULT) return null;
        throw err;
      }
    };
    const slowSites = this.slowSitesOn(phys >>> 12, cpu.modeKey);
    // A region stops where another one's code begins, unless that one is small and on this page
    // and the code runs at CPL 3: then its code is taken in, and it goes once this region is made
    // (absorb). Kernel code keeps its regions apart: taken in there too, the kernel's lukewarm
    // paths were translated again and fork + exec ran slower (README, "Regions").
    const absorbed = new Set<Translation>();
    const user = cpu.cpl === 3;
    const translatedAt = (at: number, p: number): boolean => {
      const s = this.servingAt(p, at);
      if (!s?.length) return false;
      const h = s.home;
      if (user && h.length <= ABSORB_INSNS && !h.otherPages.length && h.phys >>> 12 === phys >>> 12) {
        absorbed.add(h);
        return false;
      }
      return true;
    };
    // The same region in WebAssembly, when its subset covers nearly all the JavaScript region would
    // (then no JavaScript is made).
    const wasm = this.wasm;
    const instead = wasm && !slowSites
      ? (length: number, otherPages: number): Translation | null => {
        const w = otherPages ? null : wasm.translate(eip, phys, facts, decodeAt, length);
        // A translation taken ends the making: counted once.
        if (w) this.stats.wasmMade++;
        return w;
      }
      : undefined;
    let t = translateBlock(eip, phys, facts, decodeAt, { ...this.options, translatedAt, otherPage, crossing, ...(slowSites ? { slowSites } : {}), ...(instead ? { instead } : {}) });
    if (!t) {
      // Nothing here can be translated (an instruction across the page end into one not mapped now,
      // port I/O in check mode):
      // remember that, so the dispatcher does not try again on every visit.
      t = makeTranslation({
        eip, phys, key: facts.key, keyMask: -1, csBase: facts.csBase, csLimit: facts.csLimit, length: 0, blocks: 0, entries: [], home: null,
        codeStart: phys, bytes: 0, otherPages: [], source: '', fn: () => 0, slow: NO_SLOW_COUNTS, sites: [], touchesFpu: false,
      });
    } else {
      this.absorb(t, absorbed);
      this.stats.made++;
      this.stats.translatedInsns += t.length;
      t.slowSince = this.decays;
      this.sourceChars += t.sourceChars;
      if (!this.keepSource) (t as { source: string }).source = '';
    }
    const page = this.pageEntry(phys >>> 12);
    // The newest first; beyond MAX_VARIANTS the oldest goes.
    t.alt = page.byOffset.get(pageOff) ?? null;
    page.byOffset.set(pageOff, t);
    this.entries.add(phys);
    this.pageState[phys >>> 12] = PAGE_TRANSLATED;
    this.count++;
    let v = t;
    for (let k = 1; v.alt; k++) {
      if (k < MAX_VARIANTS) {
        v = v.alt;
        continue;
      }
      const gone: Translation[] = [];
      for (let old: Translation | null = v.alt; old; old = old.alt) gone.push(old);
      v.alt = null;
      for (const old of gone) this.drop(old);
    }
    if (t.length) this.addAliases(t, page, facts.csD);
    cpu.mem.codePage[phys >>> 12] = 1;
    this.lend(t);
    for (const p of t.otherPages) cpu.mem.codePage[p] = 1;
    this.stats.translations = this.count;
    if (hostMs) this.stats.translateMs += hostMs() - started;
    return t;
  }

  /**
   * `t` has an access whose slow-path count reached RETRANSLATE_AFTER (its flag, slow[0], shared by a
   * region and its aliases, and told to them all by wantsRetranslation): if the counts are from this
   * decay period, the accesses that reached it join the region's slow ones and the region is translated again in its old place, those accesses
   * calling the slow path directly. Returns what is to run now: `t`, its replacement (or the
   * replacement's entry at `t`'s block), or null (interpret). A WebAssembly translation judged too
   * short (Translation.wasmTooShort) is made again in JavaScript.
   */
  private retranslate(t: Translation): Translation | null {
    const home = t.home;
    if (home.wasmTooShort) {
      home.wantsRetranslation = false;
      this.wasm!.refuse(home);
      this.stats.wasmRefused++;
      const r = this.translateAgain(home, t);
      return r.length ? r : null;
    }
    t.slow[0] = 0;
    for (const v of [home, ...home.aliases]) v.wantsRetranslation = false;
    if (home.slowSince !== this.decays) {
      // Counted over more than a half-life: not an access that keeps taking the slow path.
      t.slow.fill(0);
      home.slowSince = this.decays;
      return t;
    }
    const entry = this.slowEntry(home.phys, this.cpu.modeKey) ?? this.newSlowEntry(home);
    if (entry.retranslations >= MAX_RETRANSLATIONS) return t;
    for (let k = 1; k < t.slow.length; k++) if (t.slow[k]! >= RETRANSLATE_AFTER) entry.sites.add(t.sites[k - 1]!);
    entry.retranslations++;
    this.stats.retranslations++;
    const r = this.translateAgain(home, t);
    if (t === home) return r.length ? r : null;
    // Entered at another block: the new region's entry there, if it still has one.
    return this.find();
  }

  /** Translates region `home` again in its place: the same code under the mapping `t` was found under, as hot as before. */
  private translateAgain(home: Translation, t: Translation): Translation {
    this.unlink(home);
    const r = this.translate(home.eip, home.phys);
    r.runs = home.runs;
    r.linPage = t.linPage;
    r.tlbEntry = t.tlbEntry;
    return r;
  }

  /** The slow accesses known for the entry point at `phys` under mode key `key`. */
  private slowEntry(phys: number, key: number): SlowEntry | undefined {
    const list = this.slowEntries.get(phys >>> 12);
    if (list) for (const e of list) if (e.phys === phys && (key & e.keyMask) === e.key) return e;
    return undefined;
  }

  /**
   * The slow accesses known on physical page `page` under mode key `key`, of every entry point there:
   * a site is named by its page offset, and an entry whose region overlaps another's runs the same
   * instructions (a loop entered at its top and at its condition, say), so it need not learn them
   * again at the cost of a retranslation of its own.
   */
  private slowSitesOn(page: number, key: number): ReadonlySet<number> | undefined {
    const list = this.slowEntries.get(page);
    if (!list) return undefined;
    const sites = new Set<number>();
    for (const e of list) if ((key & e.keyMask) === e.key) for (const s of e.sites) sites.add(s);
    return sites.size ? sites : undefined;
  }

  private newSlowEntry(t: Translation): SlowEntry {
    if (this.slowEntryCount >= MAX_SLOW_ENTRIES) {
      this.slowEntries.clear();
      this.slowEntryCount = 0;
    }
    const entry: SlowEntry = { phys: t.phys, key: t.key, keyMask: t.keyMask, sites: new Set(), retranslations: 0 };
    const page = t.phys >>> 12;
    const list = this.slowEntries.get(page);
    if (list) list.push(entry);
    else this.slowEntries.set(page, [entry]);
    this.slowEntryCount++;
    return entry;
  }

  /**
   * Drops the small regions whose entry blocks new region `t` took in (translate's translatedAt), so
   * that their entries become `t`'s aliases. Regions made from the tail of a function first (a block
   * after a call returns, reached from the dispatcher each time) had cut every later region made
   * at the function's entry: in compress, chains of three regions on one page, a dispatch between
   * each, were run 0.8 M times a run.
   */
  private absorb(t: Translation, absorbed: ReadonlySet<Translation>): void {
    for (const s of absorbed) {
      if (!s.valid || !t.entries.includes(s.eip)) continue;
      this.unlink(s);
      this.stats.absorbed++;
    }
  }

  /** Takes live translation `t` out of its page's variants and out of the counts. */
  private unlink(t: Translation): void {
    this.unchain(t);
    this.drop(t);
    this.stats.translations = this.count;
  }

  /** Takes `t` out of the variant chain at its page offset (and the page's entry with its last one). */
  private unchain(t: Translation): void {
    const byOffset = this.pages.get(t.phys >>> 12)!.byOffset;
    const off = t.phys & 0xfff;
    const head = byOffset.get(off);
    if (head === t) {
      if (t.alt) byOffset.set(off, t.alt);
      else {
        byOffset.delete(off);
        this.entries.remove(t.phys);
        if (!byOffset.size) this.pages.delete(t.phys >>> 12);
      }
    } else for (let v: Translation | null | undefined = head; v; v = v.alt) if (v.alt === t) v.alt = t.alt;
  }

  /** Physical page `page`'s entry, made if it has none. */
  private pageEntry(page: number): PageEntry {
    let entry = this.pages.get(page);
    if (!entry) this.pages.set(page, (entry = { byOffset: new Map() }));
    return entry;
  }

  /**
   * Makes the other blocks of `t`'s region entry points into its code, where no translation for
   * this mode starts yet and the offset has room for another variant: the region already runs from
   * there when its own jumps go there, with the flags in the cpu, as a new translation from there
   * would.
   */
  private addAliases(t: Translation, page: PageEntry, csD: boolean): void {
    const pageOff = t.phys & 0xfff;
    for (const eip of t.entries) {
      const off = pageOff + (csD ? (eip - t.eip) | 0 : (eip & 0xffff) - (t.eip & 0xffff));
      let variants = 0;
      let taken = false;
      for (let v: Translation | null | undefined = page.byOffset.get(off); v; v = v.alt) {
        variants++;
        if (v.eip === eip && (t.key & v.keyMask) === v.key && v.csBase === t.csBase && v.csLimit === t.csLimit) taken = true;
      }
      if (taken || variants >= MAX_VARIANTS) continue;
      const a = makeTranslation({ ...t, eip, phys: t.phys - pageOff + off, entries: [], home: t, source: '' });
      a.alt = page.byOffset.get(off) ?? null;
      page.byOffset.set(off, a);
      this.entries.add(a.phys);
      t.aliases.push(a);
      this.count++;
    }
  }

  /**
   * Takes `t` out of the counts and marks it dead (its caller unlinks it); with a region's own
   * translation go its aliases, which are unlinked here.
   */
  private drop(t: Translation): void {
    if (!t.valid) return;
    t.valid = false;
    this.forget(t);
    // A dropped translation (an alias a region still lists, say) leads nowhere.
    t.succ = null;
    t.succ2 = null;
    this.sourceChars -= t.sourceChars;
    this.count--;
    if (t.home !== t) return;
    for (const p of t.otherPages) {
      const set = this.borrowers.get(p);
      if (set?.delete(t) && !set.size) this.borrowers.delete(p);
    }
    for (const a of t.aliases) {
      if (!a.valid) continue;
      a.valid = false;
      this.forget(a);
      a.succ = null;
      a.succ2 = null;
      this.count--;
      this.unchain(a);
    }
    this.droppedChars += t.sourceChars;
    if (this.droppedChars >= MAX_DROPPED_CHARS) this.cutDeadLinks();
  }

  /**
   * Cuts the links from live translations (and their aliases, dropped ones included) to dropped
   * ones: then no dropped translation is reachable, and V8 can let go of its code (MAX_DROPPED_CHARS).
   */
  private cutDeadLinks(): void {
    for (const t of this.translations()) {
      for (const v of [t, ...t.aliases]) {
        if (v.succ && !v.succ.valid) v.succ = null;
        if (v.succ2 && !v.succ2.valid) v.succ2 = null;
      }
    }
    if (this.last && !this.last.valid) this.last = null;
    this.droppedChars = 0;
  }

  /** Records the pages other than its own that region `t` took code from (borrowers). */
  private lend(t: Translation): void {
    for (const p of t.otherPages) {
      let set = this.borrowers.get(p);
      if (!set) this.borrowers.set(p, (set = new Set()));
      set.add(t);
    }
  }

  /** Takes dropped translation `t` out of the lookup, where it would keep its code alive. */
  private forget(t: Translation): void {
    const slot = lookupIndex(t.phys);
    if (this.lookup[slot] === t) this.lookup[slot] = null;
  }

  /** A write reached physical page `page`: its translations are stale. */
  invalidatePage(page: number): void {
    let runs = 0;
    let n = 0;
    const borrowers = this.borrowers.get(page);
    if (borrowers) {
      // Regions entered elsewhere that took code from here.
      for (const t of [...borrowers]) {
        runs += t.runs;
        n++;
        this.unlink(t);
      }
      this.borrowers.delete(page);
    }
    // The code there changed: what was learned of its accesses is about code that is gone.
    const slow = this.slowEntries.get(page);
    if (slow) {
      this.slowEntryCount -= slow.length;
      this.slowEntries.delete(page);
    }
    const entry = this.pages.get(page);
    // Only borrowed from, the drops still count toward demoting the page: a loop that calls a leaf
    // function on a page whose data it writes every pass had its region made again at every pass.
    if (!entry && !n) return;
    if (entry) {
      for (const t of [...variants(entry)]) {
        if (t.home !== t) continue;
        runs += t.runs;
        n++;
        this.drop(t);
      }
      this.pages.delete(page);
    }
    this.stats.translations = this.count;
    this.stats.invalidations++;
    this.entries.clearPage(page);
    // A demoted page stays so until the next decay (it holds no translations to drop): a write to it
    // had made it a candidate again, so mixed code and data were translated again after every second
    // write or so, and the page demoted again each time.
    if (this.pageState[page] !== PAGE_DEMOTED) this.pageState[page] = 0;
    // Translations that ran less than twice each before being thrown away cost more than they gave.
    if (n > 0 && runs < 2 * n) {
      if (++this.pageWaste[page]! >= DEMOTE_AFTER && this.pageState[page] !== PAGE_DEMOTED) {
        this.pageState[page] = PAGE_DEMOTED;
        this.demoted.push(page);
        this.stats.demotedPages++;
      }
    } else if (n > 0) this.pageWaste[page] = 0;
    this.cpu.codeEpoch++;
  }

  /** Marks every page holding translations as code again (after the decoded cache let go of its pages). */
  retracePages(): void {
    for (const page of this.pages.keys()) this.cpu.mem.codePage[page] = 1;
    for (const page of this.borrowers.keys()) this.cpu.mem.codePage[page] = 1;
  }

  /**
   * Drops the translations that have not run since the last sweep (Cpu.sweep, every SWEEP_INSNS guest
   * instructions). Code a guest ran once for a while (the kernel's decompressor and its
   * initialisation, a program that has exited) would otherwise hold V8's memory until the cache
   * filled: after a Linux boot that was most of it. Code that runs less often gains little from its
   * translation.
   */
  sweepIdle(): void {
    const idle: Translation[] = [];
    for (const t of this.translations()) {
      if (t.runs === t.runsAtSweep) idle.push(t);
      else t.runsAtSweep = t.runs;
    }
    if (!idle.length) return;
    for (const t of idle) this.unlink(t);
    // A link to a dropped translation would keep its code alive.
    this.cutDeadLinks();
    for (const t of idle) {
      const page = t.phys >>> 12;
      if (!this.pages.has(page) && this.pageState[page] === PAGE_TRANSLATED) this.pageState[page] = 0;
    }
    this.stats.swept += idle.length;
  }

  /**
   * The cache is full: keeps the translations that ran most since the last sweep, up to half of each
   * bound, and drops the rest. A full flush would throw away the hot code with the cold (the timer
   * interrupt path of an idle guest, say), which then runs in the interpreter and in V8's slow tiers
   * again until it is hot once more. The kept ones' counts are halved, so what was hot long ago
   * gives way to what is hot now.
   */
  private evictCold(): void {
    const all: Translation[] = [];
    for (const entry of this.pages.values()) for (const t of variants(entry)) if (t.home === t) all.push(t);
    all.sort((a, b) => b.runs - a.runs);
    this.lookup.fill(null);
    this.entries.clear();
    // Demoted pages stay demoted; the kept translations mark their pages again below.
    for (const page of this.pages.keys()) if (this.pageState[page] === PAGE_TRANSLATED) this.pageState[page] = 0;
    this.pages.clear();
    let chars = 0;
    let kept = 0;
    for (const t of all) {
      const aliases = t.aliases.filter((a) => a.valid);
      if (kept + 1 + aliases.length <= MAX_TRANSLATIONS / 2 && chars + t.sourceChars <= MAX_SOURCE_CHARS / 2 && t.runs > 0) {
        kept += 1 + aliases.length;
        chars += t.sourceChars;
        t.runs >>>= 1;
        // Halved, the count may meet its mark by chance: the next sweep takes it as having run.
        t.runsAtSweep = -1;
        // Relinked hottest first, so the hottest variant is found first.
        for (const v of [t, ...aliases]) {
          const byOffset = this.pageEntry(v.phys >>> 12).byOffset;
          const off = v.phys & 0xfff;
          let tail = byOffset.get(off);
          v.alt = null;
          v.succ = null;
          v.succ2 = null;
          this.pageState[v.phys >>> 12] = PAGE_TRANSLATED;
          if (!tail) {
            byOffset.set(off, v);
            this.entries.add(v.phys);
          } else {
            while (tail.alt) tail = tail.alt;
            tail.alt = v;
          }
        }
      } else {
        t.valid = false;
        for (const a of aliases) a.valid = false;
      }
    }
    this.borrowers.clear();
    for (const t of all) if (t.valid) this.lend(t);
    this.count = kept;
    this.sourceChars = chars;
    this.stats.translations = kept;
    this.stats.evictions++;
    // The kept ones' links were cut above: nothing dropped is reachable.
    this.droppedChars = 0;
    this.last = null;
    this.hot.fill(0);
    this.cpu.codeEpoch++;
  }

  /** Drops every translation (cache full, restore, reset). */
  flushAll(): void {
    for (const entry of this.pages.values()) for (const t of variants(entry)) t.valid = false;
    this.pages.clear();
    this.entries.clear();
    this.borrowers.clear();
    this.pageState.fill(0);
    this.pageWaste.fill(0);
    this.demoted.length = 0;
    this.lookup.fill(null);
    // A reset or a restore: the guest's code is another.
    this.slowEntries.clear();
    this.slowEntryCount = 0;
    this.wasm?.tooShort.clear();
    this.last = null;
    this.count = 0;
    this.sourceChars = 0;
    this.droppedChars = 0;
    this.stats.translations = 0;
    this.stats.flushes++;
    this.hot.fill(0);
    this.cpu.codeEpoch++;
  }

  /** Physical pages the engine keeps an entry for: those holding translations (memory accounting, tests). */
  get pagesHeld(): number {
    return this.pages.size;
  }

  /** Every live translation (for dumps and tests), not its aliases. */
  *translations(): IterableIterator<Translation> {
    for (const entry of this.pages.values()) for (const t of variants(entry)) if (t.length && t.home === t) yield t;
  }
}

const LOOKUP_BITS = 14;
/** BtEngine.pageState: the page holds translations; the page is left to the interpreter (demoted). */
const PAGE_TRANSLATED = 1;
const PAGE_DEMOTED = 2;

/** An entry point's slot in BtEngine.lookup. */
function lookupIndex(phys: number): number {
  return Math.imul(phys, 0x9e3779b1) >>> (32 - LOOKUP_BITS);
}

/** The hotness counter of an entry point: physical address and mode key, hashed. */
function hotIndex(phys: number, key: number): number {
  return Math.imul(phys ^ (key << 20), 0x9e3779b1) >>> (32 - HOT_BITS);
}

/** Every translation of a page, all modes. */
function* variants(entry: PageEntry): IterableIterator<Translation> {
  for (const head of entry.byOffset.values()) for (let t: Translation | null = head; t; t = t.alt) yield t;
}
