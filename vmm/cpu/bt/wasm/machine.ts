// PROTOTYPE harness: runs a guest loop under each of the three ways Hostbox could execute it (the
// interpreter, the JavaScript translator of translate.ts, the WebAssembly prototype) from the same
// starting state, so that their results can be compared and their speeds measured.
//
// The WebAssembly side keeps its own memory (translate-wasm.ts's layout) and copies the CPU state,
// TLB and RAM in from the interpreter's structures and back out around every instruction the
// interpreter runs for it. That copying stands in for what an engine would do instead: give the
// interpreter views on the same memory. It happens only outside the measured translated runs.

import type { Cpu } from '../../cpu.ts';
import { decode, type Instr } from '../../decode.ts';
import { CR0_PE, CR0_PG } from '../../regs.ts';
import { setSegmentCache } from '../../segments.ts';
import { makeBox, type Box } from '../../system-tests/box.ts';
import { factsOf, type ModeFacts } from '../mode.ts';
import { translateBlock, type Translation } from '../translate.ts';
import { CODE, type GuestLoop } from './loops.ts';
import { CODE_PAGE_BASE, RAM_BASE, STATE, STATUS_DONE, TLB_BASE, translateWasm, type WasmTranslation } from './translate-wasm.ts';

/** Instructions a translation may run per call: the machine's slice, as the engine gives it. */
export const BUDGET = 16384;

/** A CPU in flat 32-bit protected mode without paging, the loop's code and data in RAM (bt.test.ts's flatBox). */
export function loopBox(loop: GuestLoop, scale: number): Box {
  const box = makeBox(loop.ramBytes(scale), undefined, 'interpreter');
  const cpu = box.cpu;
  cpu.cr0 |= CR0_PE;
  for (let s = 0; s < 6; s++) setSegmentCache(cpu, s as 0, s === 1 ? 8 : 16, 0, 0xffffffff, s === 1 ? 0xc09b : 0xc093);
  box.mem.u8.set(loop.code, CODE);
  loop.setup(box.mem.u8, scale);
  cpu.eip = CODE;
  cpu.r32[4] = 0x80000;
  return box;
}

/** The state a run is compared by: registers, EIP, EFLAGS and all of RAM. */
export interface Outcome {
  readonly regs: number[];
  readonly eip: number;
  readonly flags: number;
  readonly ram: Uint8Array;
  readonly insns: number;
}

export function outcome(cpu: Cpu, insns: number): Outcome {
  return { regs: Array.from(cpu.r32), eip: cpu.eip, flags: cpu.getFlags(), ram: cpu.mem.u8.slice(), insns };
}

/** Restores a box to the state it was in when `saved` was taken, for repeated runs. */
export class Snapshot {
  private readonly ram: Uint8Array;
  private readonly regs: Int32Array;
  private readonly eip: number;
  private readonly flags: number;

  constructor(private readonly cpu: Cpu) {
    this.ram = cpu.mem.u8.slice();
    this.regs = cpu.r32.slice();
    this.eip = cpu.eip;
    this.flags = cpu.getFlags();
  }

  restore(): void {
    const cpu = this.cpu;
    cpu.mem.u8.set(this.ram);
    cpu.r32.set(this.regs);
    cpu.eip = this.eip;
    cpu.setFlags(this.flags);
    cpu.halted = false;
    cpu.brk = false;
  }
}

export function runInterpreter(cpu: Cpu): number {
  let n = 0;
  while (!cpu.halted) n += cpu.run(BUDGET);
  return n;
}

function decoderFor(cpu: Cpu, bytes: Uint8Array, base: number): (eip: number) => Instr | null {
  return (eip) => {
    const at = (cpu.csBase + eip) >>> 0;
    if (at + 16 > cpu.mem.size) return null;
    return decode(cpu.table, (n) => bytes[base + at + n]!, true, cpu);
  };
}

function modeOf(cpu: Cpu): ModeFacts {
  if (cpu.cr0 & CR0_PG) throw new Error('the prototype harness runs without paging');
  return factsOf(cpu.modeKey, cpu.csBase, cpu.csLimit);
}

/** The JavaScript translator as the engine calls it, every entry translated on first sight. */
export class JsRunner {
  private readonly cache = new Map<number, Translation | null>();

  constructor(private readonly cpu: Cpu) {}

  translate(eip: number): Translation | null {
    const cpu = this.cpu;
    return translateBlock(eip, (cpu.csBase + eip) >>> 0, modeOf(cpu), decoderFor(cpu, cpu.mem.u8, 0));
  }

  run(): number {
    const cpu = this.cpu;
    let n = 0;
    while (!cpu.halted) {
      // As the engine's dispatcher: what a handler asked for (HLT, an interrupt window) is looked at
      // between translations; a fallback inside one returns early while it is pending.
      if (cpu.brk) {
        cpu.brk = false;
        if (cpu.serviceEvents()) break;
      }
      let t = this.cache.get(cpu.eip);
      if (t === undefined) this.cache.set(cpu.eip, (t = this.translate(cpu.eip)));
      n += t ? t.fn(cpu, BUDGET) : cpu.run(1);
    }
    return n;
  }
}

type RunFn = (budget: number) => number;

/** The WebAssembly prototype, with the status-return protocol: what it leaves, the interpreter runs. */
export class WasmRunner {
  readonly memory: WebAssembly.Memory;
  readonly pages: number;
  private readonly i32: Int32Array;
  private readonly u8: Uint8Array;
  private readonly cache = new Map<number, RunFn | null>();
  /** Instructions the interpreter ran for it (status exits, untranslatable code). */
  interpreted = 0;

  constructor(private readonly cpu: Cpu) {
    this.pages = Math.ceil((RAM_BASE + cpu.mem.size) / 65536);
    this.memory = new WebAssembly.Memory({ initial: this.pages, maximum: this.pages });
    this.i32 = new Int32Array(this.memory.buffer);
    this.u8 = new Uint8Array(this.memory.buffer);
  }

  /** The host side of a TLB miss: fills the entry as the interpreter would, when that cannot fault. */
  readonly fill = (lin: number, write: number): number => {
    const cpu = this.cpu;
    // With paging on a walk may fault; the prototype leaves that instruction to the interpreter.
    if (cpu.cr0 & CR0_PG) return 0;
    const e = cpu.translate(lin, write !== 0, cpu.cpl === 3);
    this.i32[(TLB_BASE >>> 2) + (lin >>> 12)] = e;
    // Paging is off: no walk, so nothing written.
    return 0;
  };

  /** CPU state, TLB, code-page marks and RAM from the interpreter's structures into the memory. */
  load(): void {
    const cpu = this.cpu, s = this.i32;
    for (let r = 0; r < 8; r++) s[(STATE.regs >>> 2) + r] = cpu.r32[r]!;
    s[STATE.eip >>> 2] = cpu.eip;
    s[STATE.flagsRaw >>> 2] = cpu.flagsRaw;
    s[STATE.lazy >>> 2] = cpu.lazy;
    s[STATE.lop >>> 2] = cpu.lop;
    s[STATE.la >>> 2] = cpu.la;
    s[STATE.lb >>> 2] = cpu.lb;
    s[STATE.lres >>> 2] = cpu.lres;
    s[STATE.lsz >>> 2] = cpu.lsz;
    s.set(cpu.tlb, TLB_BASE >>> 2);
    this.u8.set(cpu.mem.codePage, CODE_PAGE_BASE);
    this.u8.set(cpu.mem.u8, RAM_BASE);
  }

  /** The memory's CPU state and RAM back to the interpreter (the TLB is filled through it already). */
  save(): void {
    const cpu = this.cpu, s = this.i32;
    for (let r = 0; r < 8; r++) cpu.r32[r] = s[(STATE.regs >>> 2) + r]!;
    cpu.eip = s[STATE.eip >>> 2]!;
    cpu.flagsRaw = s[STATE.flagsRaw >>> 2]!;
    cpu.lazy = s[STATE.lazy >>> 2]!;
    cpu.lop = s[STATE.lop >>> 2]!;
    cpu.la = s[STATE.la >>> 2]!;
    cpu.lb = s[STATE.lb >>> 2]!;
    cpu.lres = s[STATE.lres >>> 2]!;
    cpu.lsz = s[STATE.lsz >>> 2]!;
    cpu.mem.u8.set(this.u8.subarray(RAM_BASE, RAM_BASE + cpu.mem.size));
  }

  /** The module's bytes for the region at `eip`. */
  translate(eip: number): WasmTranslation | null {
    const cpu = this.cpu;
    return translateWasm(eip, (cpu.csBase + eip) >>> 0, modeOf(cpu), decoderFor(cpu, this.u8, RAM_BASE), this.pages);
  }

  instantiate(t: WasmTranslation): RunFn {
    const module = new WebAssembly.Module(t.bytes);
    const instance = new WebAssembly.Instance(module, { e: { mem: this.memory, fill: this.fill, log: () => {} } });
    return instance.exports.run as RunFn;
  }

  /** Runs from the state in the memory until the CPU halts or EIP reaches `stopAt`; instructions run. */
  run(stopAt = -1): number {
    const s = this.i32;
    let n = 0;
    for (;;) {
      const eip = s[STATE.eip >>> 2]!;
      if (eip === stopAt || this.cpu.halted) return n;
      if (this.cpu.brk) {
        this.save();
        this.cpu.brk = false;
        const halted = this.cpu.serviceEvents();
        this.load();
        if (halted) return n;
        continue;
      }
      let fn = this.cache.get(eip);
      if (fn === undefined) {
        const t = this.translate(eip);
        this.cache.set(eip, (fn = t && this.instantiate(t)));
      }
      if (fn) {
        n += fn(BUDGET);
        if (s[STATE.status >>> 2] === STATUS_DONE) continue;
      }
      this.save();
      const k = this.cpu.run(1);
      this.load();
      this.interpreted += k;
      n += k;
    }
  }
}
