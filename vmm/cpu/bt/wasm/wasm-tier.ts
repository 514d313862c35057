// WebAssembly translations inside the engine. A region whose code lies in translate-wasm.ts's subset
// (32-bit ALU, moves, multiplies, shifts by a constant, jumps; memory through flat segments) becomes a
// module instance over guest memory's own WebAssembly.Memory, and is wrapped as a Translation like
// any other: the dispatcher, chaining, invalidation and the check engine see no difference.
//
// Why: V8 compiles a WebAssembly function with its baseline compiler (Liftoff) on the spot, and that
// code already runs the hot loops several times faster than a new JavaScript translation ever does
// (README, "JavaScript or WebAssembly"): a JavaScript function starts in V8's bytecode interpreter
// and waits for TurboFan. The subset covers the hottest loops of the boot (the kernel's RSA
// multiprecision code) and of hashing; everything else stays with the JavaScript translator.
//
// The wrapper copies the lazy flags into the state area (layout.state) before the call and back after
// it. The registers, the TLB and the code-page marks are the CPU's own arrays (they live in the same
// memory), so nothing else moves. The translation never throws: an access its inline
// path cannot do leaves with STATUS_INTERPRET and EIP at that instruction, and the wrapper runs that
// one instruction in the interpreter, which takes the fault or does the device access as it always
// does.

import type { Cpu } from '../../cpu.ts';
import { CPU_SEGMENT_BASES } from '../../../memory.ts';
import { decode, type Instr } from '../../decode.ts';
import { FAULT } from '../../fault.ts';
import { segmentKeyMask, type ModeFacts } from '../mode.ts';
import { makeTranslation, NO_SLOW_COUNTS, type Translation } from '../translate.ts';
import { STATE, STATE_BYTES, STATUS_FETCHED, STATUS_INTERPRET, translateWasm, type WasmLayout } from './translate-wasm.ts';

/**
 * A region shorter than this stays JavaScript: the subset ends regions early (at a PUSH, a CALL, a
 * byte store), and a short one would send control back to the dispatcher where a JavaScript region
 * runs on.
 */
export const MIN_WASM_INSNS = 16;
/**
 * Nor when it covers less than this share of what the JavaScript translator would make the region:
 * a loop the subset stops short of (at a PUSH, say) would then cost a WebAssembly and a JavaScript
 * call per iteration instead of one.
 */
const MIN_SHARE = 0.75;
/**
 * After this many calls, a translation that ran fewer than MIN_INSNS_PER_CALL instructions a call on
 * average is made again in JavaScript: where the subset ends its blocks on the hot path, every few
 * instructions cost a return to the dispatcher and a JavaScript translation (gzip's match loop: 10.7
 * instructions a call, where the JavaScript region runs on). The loops it is for run hundreds.
 */
const JUDGED_AFTER_CALLS = 1024;
const MIN_INSNS_PER_CALL = 24;
/**
 * V8 holds a module's bytes, its compiled code and the instance: counted as this many characters of
 * JavaScript per byte against the cache's bound (MAX_SOURCE_CHARS). Liftoff's code is a few times the
 * size of the module.
 */
const CHARS_PER_BYTE = 4;

const MAX_TOO_SHORT = 4096;

/** Where the CPU's parts are in guest memory's WebAssembly.Memory, or null if its TLB and registers are not there. */
export function wasmLayoutOf(cpu: Cpu): WasmLayout | null {
  const mem = cpu.mem;
  if (cpu.tlb.buffer !== mem.wasm.buffer || cpu.tlb.byteOffset !== mem.tlbOffset) return null;
  if (cpu.r32.buffer !== mem.wasm.buffer || cpu.r32.byteOffset !== mem.cpuStateOffset + STATE.regs) return null;
  if (cpu.segBase.buffer !== mem.wasm.buffer || cpu.segBase.byteOffset !== mem.cpuStateOffset + CPU_SEGMENT_BASES) return null;
  return { state: mem.cpuStateOffset, tlb: mem.tlbOffset, codePage: mem.codePageOffset, ram: 0 };
}

const S_EIP = STATE.eip >>> 2, S_FLAGS = STATE.flagsRaw >>> 2, S_LAZY = STATE.lazy >>> 2, S_LOP = STATE.lop >>> 2;
const S_LA = STATE.la >>> 2, S_LB = STATE.lb >>> 2, S_LRES = STATE.lres >>> 2, S_LSZ = STATE.lsz >>> 2, S_STATUS = STATE.status >>> 2;

/** What the modules of one CPU import, made once per CPU. */
export class WasmTier {
  readonly layout: WasmLayout;
  private readonly state: Int32Array;
  private readonly pages: number;
  private readonly imports: WebAssembly.Imports;
  /**
   * Physical addresses of entry points whose WebAssembly translation ran too few instructions a call
   * (Translation.wasmTooShort): they are made in JavaScript from then on. Emptied when it reaches
   * MAX_TOO_SHORT (then learned again) and at a flush.
   */
  readonly tooShort = new Set<number>();
  /** The check engine's log of bytes about to be overwritten (when translations are made with logWrites). */
  onWrite: ((phys: number, size: number) => void) | null = null;
  /** Told where each region offered stops short (translateWasm's `stopped`), with the region's entry EIP: a tool's hook. */
  onStop: ((eip: number, i: Instr, outside: boolean) => void) | null = null;

  constructor(
    private readonly cpu: Cpu,
    layout: WasmLayout,
    private readonly logWrites: boolean,
  ) {
    this.layout = layout;
    const buffer = cpu.mem.wasm.buffer;
    this.state = new Int32Array(buffer, layout.state, STATE_BYTES >>> 2);
    this.pages = buffer.byteLength / 65536;
    // A TLB miss: the walk the interpreter would do, when it succeeds. When it would fault, the
    // translation leaves at that instruction and the interpreter runs it (and faults). 1: the walk's
    // accessed or dirty bit went to a page holding translations (codeEpoch moved), so the translation
    // running may hold old bytes: it leaves with STATUS_FETCHED.
    const fill = (lin: number, write: number): number => {
      const epoch = cpu.codeEpoch;
      try {
        cpu.translate(lin, write !== 0, cpu.cpl === 3);
      } catch (e) {
        if (e !== FAULT) throw e;
      }
      return cpu.codeEpoch !== epoch ? 1 : 0;
    };
    const log = (phys: number, size: number): void => this.onWrite?.(phys >>> 0, size);
    this.imports = { e: { mem: cpu.mem.wasm, fill, log } };
  }

  /** Translation `t` ran too few instructions a call: its entry point is made in JavaScript from now on. */
  refuse(t: Translation): void {
    if (this.tooShort.size >= MAX_TOO_SHORT) this.tooShort.clear();
    this.tooShort.add(t.phys);
  }

  /**
   * The WebAssembly translation of the region at `eip`, or null when the subset does not cover enough
   * of it: `rival` instructions are what the JavaScript translator took into the region.
   */
  translate(eip: number, phys: number, facts: ModeFacts, decodeAt: (eip: number) => Instr | null, rival: number): Translation | null {
    if (!facts.csD || this.tooShort.has(phys)) return null;
    const accept = (length: number, loops: boolean): boolean => loops && length >= MIN_WASM_INSNS && length >= rival * MIN_SHARE;
    const onStop = this.onStop;
    const stopped = onStop ? (i: Instr, outside: boolean): void => onStop(eip, i, outside) : undefined;
    const w = translateWasm(eip, phys, facts, decodeAt, this.pages, this.layout, { logWrites: this.logWrites, accept, ...(stopped ? { stopped } : {}) });
    if (!w) return null;
    const instance = new WebAssembly.Instance(new WebAssembly.Module(w.bytes), this.imports);
    const run = instance.exports.run as (budget: number) => number;
    // The region's bytes as translated (it lies in one page): an instruction that leaves with
    // STATUS_FETCHED is decoded from them, since its own page walk may have changed it in RAM. Bytes,
    // not the decoded instructions, which link to others and would keep whole pages of them alive.
    const code = facts.identity ? null : this.cpu.mem.u8.slice(w.codeStart, w.codeStart + w.codeBytes);
    const fetched = (): Instr => {
      const at = phys + (cpu.eip - eip) - w.codeStart;
      return decode(cpu.table, (k) => code![at + k] ?? 0, true, cpu);
    };
    const s = this.state;
    const cpu = this.cpu;
    let calls = 0;
    let insns = 0;
    let self: Translation | null = null;
    const fn = (_cpu: unknown, budget: number): number => {
      s[S_FLAGS] = cpu.flagsRaw; s[S_LAZY] = cpu.lazy; s[S_LOP] = cpu.lop; s[S_LA] = cpu.la; s[S_LB] = cpu.lb; s[S_LRES] = cpu.lres; s[S_LSZ] = cpu.lsz;
      let n = run(budget);
      cpu.flagsRaw = s[S_FLAGS]!; cpu.lazy = s[S_LAZY]!; cpu.lop = s[S_LOP]!; cpu.la = s[S_LA]!; cpu.lb = s[S_LB]!; cpu.lres = s[S_LRES]!; cpu.lsz = s[S_LSZ]!;
      cpu.eip = s[S_EIP]!;
      const status = s[S_STATUS];
      if (status === STATUS_INTERPRET) n += cpu.interpretBlock(1);
      else if (status === STATUS_FETCHED) n += cpu.runFetched(fetched());
      if (calls < JUDGED_AFTER_CALLS) {
        insns += n;
        if (++calls === JUDGED_AFTER_CALLS && insns < JUDGED_AFTER_CALLS * MIN_INSNS_PER_CALL) {
          self!.wasmTooShort = true;
          self!.wantsRetranslation = true;
        }
      }
      return n;
    };
    const keyMask = segmentKeyMask(w.segs);
    const t = makeTranslation({
      eip, phys, key: facts.key & keyMask, keyMask, csBase: facts.csBase, csLimit: facts.csLimit, length: w.length, blocks: w.blocks,
      entries: [], home: null, codeStart: w.codeStart, bytes: w.codeBytes, otherPages: [],
      source: `/* WebAssembly: ${w.length} instructions in ${w.blocks} blocks, ${w.bytes.length} bytes */`,
      fn, slow: NO_SLOW_COUNTS, sites: [], touchesFpu: false,
    });
    t.sourceChars = w.bytes.length * CHARS_PER_BYTE;
    self = t;
    return t;
  }
}
