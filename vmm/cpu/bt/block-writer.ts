// What every instruction emitter writes through: the JavaScript text of one translation, the flag
// state known at this point of it, and the bookkeeping that makes a fault inside translated code look
// exactly like a fault in the interpreter (EIP of the faulting instruction, the instructions before it
// committed, the lazy flags as the interpreter would have left them).

import { BYTE_REG, type Instr } from '../decode.ts';
import { flushCode, type Pending } from './flags-emit.ts';
import type { ModeFacts } from './mode.ts';
import { PLAIN_BASE } from '../../memory.ts';
import { TLB_IO, TLB_SUP_WRITE, TLB_USER_READ, TLB_USER_WRITE, TLB_VALID } from '../regs.ts';

export interface BlockInsn {
  readonly i: Instr;
  /** EIP of the instruction and of the one after it. */
  readonly eip: number;
  readonly next: number;
  /** Position in its block: instructions of the block completed before it. */
  readonly k: number;
  /** Position in the whole translation (names its decoded form, i<g>, in the generated code). */
  readonly g: number;
  /** Offset of the instruction in its 4 KiB page (names its memory-access sites, BlockWriter.site). */
  readonly off: number;
}

/**
 * When a memory access whose inline fast path was refused this many times asks for its translation to
 * be made again with the access calling the slow path directly (the paper's adaptive retranslation;
 * the engine counts only the hits since its last hotness decay, BtEngine.retranslate).
 *
 * Why 4096: a retranslation costs a compilation, and the new function runs in V8's slow tiers until V8
 * optimizes it again, while what it saves is one inline test per access; so it must be kept for
 * accesses that are slow for good (a device register, an unaligned or page-crossing dword, a store into
 * a page holding code). An access whose slow path is only a TLB refill takes it about once per
 * address-space switch, and reaching 4096 within one hotness half-life (64 Mi instructions) would need
 * a switch every 16 Ki instructions; one that runs in a loop over a device reaches it in 4096 passes.
 */
export const RETRANSLATE_AFTER = 4096;

const SIZE_BYTES = [1, 2, 4] as const;

export class BlockWriter {
  readonly lines: string[] = [];
  /** `case` arms of the fault path, one per instruction that can fault. */
  readonly faultCases: string[] = [];
  /** Characters written so far to `lines` and `faultCases` (with their line ends): the text's length. */
  chars = 0;
  pending: Pending | null = null;
  /** Instructions (decoded forms) the generated code refers to as i0, i1, ...: handler operands. */
  readonly instrs: Instr[] = [];
  /** Which of them the code names (only those are bound, keeping the text short). */
  readonly named = new Set<number>();
  cur!: BlockInsn;
  private faultMarked = false;
  /**
   * The current instruction wrote memory through a call with no inline fast path in front of it, so
   * its check of codeEpoch (afterWrite) must not rest on `ws` alone.
   */
  private unguardedWrite = false;
  /** Numbers temporaries so that two in one instruction never clash. */
  private tmp = 0;
  /**
   * The segments whose flatness (mode key bits 0-5) the emitted code was shaped by: the translation is
   * used under any key that agrees on these and on the other facts (Translation.keyMask).
   */
  segsConsulted = 0;

  /**
   * Ids (BlockWriter.site) of the memory accesses emitted with an inline fast path, by slow-path
   * counter: counter k counts sites[k - 1] (counter 0 is the "retranslate me" flag).
   */
  readonly sites: number[] = [];
  /** Memory-access sites of the current instruction so far. */
  private siteOrd = 0;

  /**
   * `inlineWrites`: dword stores and read-modify-writes to RAM through flat segments bypass the cpu's
   * methods (loads always may). Off for the check engine, whose write log sits in those methods.
   * `slowSites`: ids of accesses that kept taking the slow path in an earlier translation of this
   * entry; they call it directly, with no TLB test and no counting.
   */
  constructor(
    readonly mode: ModeFacts,
    readonly inlineWrites = true,
    readonly slowSites: ReadonlySet<number> = new Set(),
  ) {}

  begin(ins: BlockInsn): void {
    this.cur = ins;
    this.faultMarked = false;
    this.unguardedWrite = false;
    this.siteOrd = 0;
    this.instrs[ins.g] = ins.i;
  }

  /**
   * The next memory access of this instruction that could take the inline fast path: its counter
   * (Translation.slow), or -1 if it is one of slowSites. A site is named by the page offset of its
   * instruction and its place among the instruction's accesses, so the name survives a retranslation
   * that cuts the region differently, and does not depend on CS base or EIP.
   */
  private site(): number {
    const id = this.cur.off * 8 + this.siteOrd++;
    if (this.slowSites.has(id)) return -1;
    return this.sites.push(id);
  }

  /**
   * Counts a refused fast path at counter `c`; the count reaching RETRANSLATE_AFTER raises the flag,
   * and cpu.btSlow tells the dispatcher to look at it when the translation returns. It also sets `ws`:
   * only a slow path can write to a page holding translations (the inline store tests codePage), so
   * afterWrite's test of codeEpoch is needed only once one has run.
   */
  private countSlow(c: number): string {
    return `ws = 1, ++slow[${c}] === ${RETRANSLATE_AFTER} && (slow[0] = 1, cpu.btSlow = true)`;
  }

  /** The name of the current instruction's decoded form in the generated code. */
  instrName(): string {
    this.named.add(this.cur.g);
    return `i${this.cur.g}`;
  }

  emit(line: string): void {
    this.lines.push(line);
    this.chars += line.length + 1;
  }

  hex(v: number): string {
    return '0x' + (v >>> 0).toString(16);
  }

  /** An EIP as the interpreter keeps it (int32, so 32-bit addresses above 2 GiB are negative). */
  eipLit(v: number): string {
    return String(v | 0);
  }

  /**
   * This instruction may fault from here on: EIP rewinds to it, the instructions before it count as
   * done, and the flags pending before it are written back. `handlerSetsEip`: the instruction runs
   * through its interpreter handler, which was given prevEip before the call and may move it (a
   * task switch that faults after its commit point leaves prevEip at the new task's EIP, SDM vol. 3
   * §7.3), so the fault path must not set it again.
   */
  mayFault(handlerSetsEip = false): void {
    if (this.faultMarked) return;
    this.faultMarked = true;
    const { eip, k, g } = this.cur;
    // The cpu learns the faulting EIP only on the fault path: nothing else inline reads prevEip.
    this.emit(`at = ${g};`);
    const rewind = handlerSetsEip ? '' : ` cpu.prevEip = ${this.eipLit(eip)};`;
    const arm = `case ${g}: ${flushCode(this.pending)}${rewind} cpu.btDone = n + ${k}; break;`;
    this.faultCases.push(arm);
    this.chars += arm.length + 1;
  }

  /** Writes the pending flags to the cpu and forgets them (before handing the cpu to other code). */
  flush(): void {
    const c = flushCode(this.pending);
    if (c) this.emit(c);
    this.pending = null;
  }

  /** Statements that write the pending flags back, without forgetting them. */
  pendingFlush(): string {
    return flushCode(this.pending);
  }

  /** Leaves the translation at `eipExpr` after `done` instructions of this pass (flags written back, state kept for the code after it). */
  exitCode(eipExpr: string, done: number): string {
    return `{ ${flushCode(this.pending)} cpu.eip = ${eipExpr}; return n + ${done}; }`;
  }

  /** After a guest write: if it hit a page with translations, this code may be stale; leave. */
  afterWrite(): void {
    this.emit(`if (${this.epochMoved()}) ${this.exitCode(this.eipLit(this.cur.next), this.cur.k + 1)}`);
  }

  /**
   * Whether a write may have dropped translations (codeEpoch moved). When every write of the
   * instruction had an inline fast path, which never stores to a page holding translations, the
   * epoch is read only after some slow path ran (`ws`, set by countSlow): V8 then drops the test
   * from code whose slow paths never ran, instead of loading the epoch after every store.
   */
  private epochMoved(): string {
    return this.unguardedWrite ? 'cpu.codeEpoch !== epoch' : 'ws !== 0 && cpu.codeEpoch !== epoch';
  }

  // ------------------------------------------------------------ operands

  reg(sz: number, r: number): string {
    return sz === 0 ? `r8[${BYTE_REG[r]}]` : sz === 1 ? `r16[${r << 1}]` : `r32[${r}]`;
  }

  /** The instruction's effective address (offset in its segment), as the interpreter's cpu.ea. */
  ea(i: Instr): string {
    const parts: string[] = [];
    if (i.base >= 0) parts.push(`r32[${i.base}]`);
    if (i.index >= 0) parts.push(i.scale ? `(r32[${i.index}] << ${i.scale})` : `r32[${i.index}]`);
    if (i.disp !== 0 || parts.length === 0) parts.push(`(${i.disp})`);
    const s = parts.join(' + ');
    return i.a32 ? (parts.length === 1 && i.base >= 0 && i.disp === 0 ? s : `((${s}) | 0)`) : `((${s}) & 65535)`;
  }

  private isFlat(seg: number): boolean {
    this.segsConsulted |= 1 << seg;
    return (this.mode.flat & (1 << seg)) !== 0;
  }

  /** Linear address of a read of `sz` at the memory operand, limit-checked unless the segment is flat. */
  linRead(i: Instr, sz: number): string {
    return this.isFlat(i.seg) ? this.ea(i) : `cpu.linR(${i.seg}, ${this.ea(i)}, ${SIZE_BYTES[sz]})`;
  }

  linWrite(i: Instr, sz: number): string {
    return this.isFlat(i.seg) ? this.ea(i) : `cpu.linW(${i.seg}, ${this.ea(i)}, ${SIZE_BYTES[sz]})`;
  }

  /**
   * Whether segment `seg` spans 4 GiB but is not flat (mode.ts): its accesses are made inline with
   * its base read where they are made, when the offset is aligned (so it cannot wrap past 4 GiB).
   */
  private isBasedWide(seg: number): boolean {
    this.segsConsulted |= 1 << seg;
    return (this.mode.flat & (1 << seg)) === 0 && (this.mode.wide & (1 << seg)) !== 0;
  }

  /** Names the offset of the memory operand; returns it and the linear address through its 4 GiB segment. */
  private basedAddress(i: Instr): { o: string; lin: string } {
    const o = `o${this.tmp++}`;
    this.emit(`const ${o} = ${this.ea(i)};`);
    return { o, lin: `((cpu.segBase[${i.seg}] + ${o}) | 0)` };
  }

  /** Reads the memory operand into a new constant; returns its name. */
  readMem(i: Instr, sz: number, name = 'm'): string {
    this.mayFault();
    if (this.isFlat(i.seg)) this.flatReadInto(name, sz, this.ea(i), i.seg);
    else if (this.isBasedWide(i.seg)) this.basedReadInto(name, sz, i);
    else this.emit(`const ${name} = ${this.walkChecked(`cpu.readLin${8 << sz}(${this.linRead(i, sz)})`)};`);
    return name;
  }

  /**
   * A read that may walk the page tables (paging on), through Cpu.btRead: if the walk set an accessed
   * bit in a page holding translations, this code may be stale, and the engine runs the instruction
   * outside it (Cpu.runFetched). The only test of it, and on slow paths alone.
   */
  private walkChecked(read: string): string {
    return this.mode.identity ? read : `cpu.btRead(epoch, ${read})`;
  }

  /** `const name =` a read through a 4 GiB segment with a base: flatReadInto's inline path at base + offset. */
  private basedReadInto(name: string, sz: number, i: Instr): void {
    const { o, lin } = this.basedAddress(i);
    const slow = `cpu.readLin${8 << sz}(cpu.linR(${i.seg}, ${o}, ${SIZE_BYTES[sz]}))`;
    this.inlineReadInto(name, sz, lin, (x) => `(${x} | ${o})`, () => slow);
  }

  writeMem(i: Instr, sz: number, value: string): void {
    this.mayFault();
    if (this.isFlat(i.seg)) this.flatWriteStmt(sz, this.ea(i), value, i.seg);
    else if (this.isBasedWide(i.seg)) this.basedWriteStmt(sz, i, value);
    else {
      this.unguardedWrite = true;
      this.emit(`cpu.writeLin${8 << sz}(${this.linWrite(i, sz)}, ${value});`);
    }
  }

  /**
   * `const name =` a read through a flat segment. An aligned byte, word or dword in plain RAM through
   * a TLB entry with the rights this CPL needs is read inline (the interpreter's fast path, with the
   * rights known from the mode key); everything else goes through Cpu.rf32 and friends, and is
   * counted (site).
   */
  flatReadInto(name: string, sz: number, lin: string, seg: number): void {
    this.inlineReadInto(name, sz, lin, (x) => x, (x) => this.flatRead(sz, x, seg));
  }

  /**
   * `const name =` the operand of size `sz` at linear address `lin`: read from RAM inline when the
   * TLB allows it and `alignedPart(x)` is aligned, else (and always at a slow site) by `slow(x)`.
   */
  private inlineReadInto(name: string, sz: number, lin: string, alignedPart: (x: string) => string, slow: (x: string) => string): void {
    const c = this.site();
    if (c < 0) {
      this.emit(`const ${name} = ${this.walkChecked(slow(lin))};`);
      return;
    }
    const { x, ok, p } = this.probe(lin, this.mode.cpl === 3 ? TLB_USER_READ : TLB_VALID);
    this.emit(`const ${name} = ${ok}${aligned(alignedPart(x), sz)} ? ${ramAt(sz, p)} : (${this.countSlow(c)}, ${this.walkChecked(slow(x))});`);
  }

  /** A write through a flat segment, inline when aligned in plain RAM on a page without translations or decoded code. */
  flatWriteStmt(sz: number, lin: string, value: string, seg: number): void {
    this.inlineWriteStmt(sz, lin, value, '', (x) => this.flatWrite(sz, x, value, seg));
  }

  /** A write through a 4 GiB segment with a base: flatWriteStmt's inline path at base + offset. */
  private basedWriteStmt(sz: number, i: Instr, value: string): void {
    const { o, lin } = this.basedAddress(i);
    const slow = `cpu.writeLin${8 << sz}(cpu.linW(${i.seg}, ${o}, ${SIZE_BYTES[sz]}), ${value})`;
    this.inlineWriteStmt(sz, lin, value, aligned(o, sz), () => slow);
  }

  /**
   * Stores `value` at linear address `lin`: into RAM inline when storeProbe allows it and `alsoTest`
   * (a further condition, or '') holds, else (and always at a slow site) by `slow(x)`.
   */
  private inlineWriteStmt(sz: number, lin: string, value: string, alsoTest: string, slow: (x: string) => string): void {
    const c = this.inlineWrites ? this.site() : -1;
    if (c < 0) {
      this.unguardedWrite = true;
      this.emit(`${slow(lin)};`);
      return;
    }
    const { x, p, fast } = this.storeProbe(lin, this.mode.cpl === 3 ? TLB_USER_WRITE : TLB_SUP_WRITE, sz);
    this.emit(`if (${fast}${alsoTest}) ${ramAt(sz, p)} = ${value}; else { ${this.countSlow(c)}; ${slow(x)}; }`);
  }

  /**
   * Names the linear address `lin`, its TLB entry and physical address; `fast`: the operand of size
   * `sz` there may be stored to RAM inline (the entry grants `need`, not I/O, aligned, no
   * translations on the page).
   */
  private storeProbe(lin: string, need: number, sz: number): { x: string; p: string; fast: string } {
    const { x, ok, p } = this.probe(lin, need, true);
    return { x, p, fast: `${ok}${aligned(x, sz)} && codePage[${p} >>> 12] === 0` };
  }

  /**
   * Names linear address `lin` (x) and writes the test `ok` that an access there of up to a dword may
   * be made in RAM inline, at physical address `p`: the TLB entry grants `need` and is not I/O. While
   * linear is physical (mode.ts bit 18), p is x, and the TLB entry is read only for an address outside
   * the RAM from PLAIN_BASE up (PhysicalMemory.plainSpan). `named`: p is a constant of its own.
   */
  private probe(lin: string, need: number, named = false): { x: string; ok: string; p: string } {
    const k = this.tmp++;
    const x = `x${k}`;
    if (this.mode.identity) {
      this.emit(`const ${x} = ${lin};`);
      return { x, ok: `(((${x} - ${PLAIN_BASE}) >>> 0) < plain[0] || (tlb[${x} >>> 12] & ${need | TLB_IO}) === ${need})`, p: x };
    }
    const e = `e${k}`, phys = `(${e} & -4096) | (${x} & 4095)`;
    this.emit(`const ${x} = ${lin}, ${e} = tlb[${x} >>> 12]${named ? `, p${k} = ${phys}` : ''};`);
    return { x, ok: `(${e} & ${need | TLB_IO}) === ${need}`, p: named ? `p${k}` : `(${phys})` };
  }

  /** A read through a flat segment: only an access wrapping past 4 GiB faults (Cpu.rf16/rf32). */
  flatRead(sz: number, lin: string, seg: number): string {
    return sz === 0 ? `cpu.readLin8(${lin})` : `cpu.rf${8 << sz}(${lin}, ${seg})`;
  }

  flatWrite(sz: number, lin: string, value: string, seg: number): string {
    return sz === 0 ? `cpu.writeLin8(${lin}, ${value})` : `cpu.wf${8 << sz}(${lin}, ${value}, ${seg})`;
  }

  /**
   * Read-modify-write: checks first that the write can complete (as the interpreter's rmwLin), so a
   * fault has the write bit in its error code and nothing changes. Returns the address's name.
   */
  rmwAddress(i: Instr, sz: number): string {
    this.mayFault();
    if (this.isFlat(i.seg)) this.emit(`const lin = ${this.ea(i)}; cpu.pwf(lin, ${SIZE_BYTES[sz]}, ${i.seg});`);
    else this.emit(`const lin = cpu.rmwLin(${this.instrName()}, ${SIZE_BYTES[sz]});`);
    return 'lin';
  }

  /**
   * Read-modify-write of the memory operand: reads it into `name` and returns the statement maker for
   * the write of the result. A dword through a flat segment in plain RAM, on a page without
   * translations, with the rights this CPL needs to write, is read and written inline; anything else
   * checks that the write can complete first (rmwAddress) and goes through the cpu's methods.
   */
  rmw(i: Instr, sz: number, name: string): (value: string) => string {
    const flat = this.isFlat(i.seg);
    const based = !flat && this.isBasedWide(i.seg);
    const c = this.inlineWrites && (flat || based) ? this.site() : -1;
    if (c < 0) {
      this.unguardedWrite = true;
      const lin = this.rmwAddress(i, sz);
      this.emit(`const ${name} = cpu.readLin${8 << sz}(${lin});`);
      return (v) => `cpu.writeLin${8 << sz}(${lin}, ${v});`;
    }
    this.mayFault();
    const need = this.mode.cpl === 3 ? TLB_USER_READ | TLB_USER_WRITE : TLB_VALID | TLB_SUP_WRITE;
    const at = based ? this.basedAddress(i) : null;
    const { x, p, fast } = this.storeProbe(at ? at.lin : this.ea(i), need, sz);
    const f = `f${p.slice(1)}`;
    this.emit(`const ${f} = ${fast}${at ? aligned(at.o, sz) : ''};`);
    // The slow path's checks: a flat segment's wrap past 4 GiB, or a based one's limits (rmwLin); both then probe the write.
    const check = at ? `cpu.rmwLin(${this.instrName()}, ${SIZE_BYTES[sz]})` : `cpu.pwf(${x}, ${SIZE_BYTES[sz]}, ${i.seg})`;
    this.emit(`if (!${f}) { ${this.countSlow(c)}; ${check}; }`);
    this.emit(`const ${name} = ${f} ? ${ramAt(sz, p)} : cpu.readLin${8 << sz}(${x});`);
    return (v) => `if (${f}) ${ramAt(sz, p)} = ${v}; else cpu.writeLin${8 << sz}(${x}, ${v});`;
  }

  /** Reads the E operand (register or memory) into a new constant; returns an expression. */
  readE(i: Instr, sz: number, name = 'm'): string {
    if (i.mod === 3) return this.reg(sz, i.rm);
    return this.readMem(i, sz, name);
  }

  // ------------------------------------------------------------ stack

  /** Whether the stack is a flat 32-bit one (SS.B and a flat SS), which the inline stack code needs. */
  flatStack(): boolean {
    return this.mode.ssB && this.isFlat(2);
  }

  /**
   * Pushes `value`; the instruction goes on at `then` (a CALL's target; by default the next one),
   * where the translation leaves if the push wrote over code it was made from.
   */
  push(sz: 1 | 2, value: string, then = this.eipLit(this.cur.next)): void {
    this.mayFault();
    if (this.flatStack()) {
      const b = sz === 2 ? 4 : 2;
      this.emit(`const sp = (r32[4] - ${b}) | 0;`);
      this.flatWriteStmt(sz, 'sp', value, 2);
      this.emit('r32[4] = sp;');
    } else {
      this.unguardedWrite = true;
      this.emit(`cpu.push${8 << sz}(${value});`);
    }
    this.emit(`if (${this.epochMoved()}) ${this.exitCode(then, this.cur.k + 1)}`);
  }

  /** Reads the top of the stack into `name` without popping. */
  peek(sz: 1 | 2, name: string): void {
    this.mayFault();
    if (this.flatStack()) this.flatReadInto(name, sz, 'r32[4]', 2);
    else this.emit(`const ${name} = ${this.walkChecked(`cpu.peek${8 << sz}(0)`)};`);
  }

  adjustSp(delta: number): void {
    if (this.mode.ssB) this.emit(`r32[4] = (r32[4] + ${delta}) | 0;`);
    else this.emit(`r16[8] = r16[8] + ${delta};`);
  }
}

/** ` && ` the test that linear address `x` is aligned for an operand of size `sz` (none for a byte). */
function aligned(x: string, sz: number): string {
  return sz === 0 ? '' : ` && (${x} & ${SIZE_BYTES[sz]! - 1}) === 0`;
}

/** The element of guest RAM at physical address `p` (an int32 expression), as an operand of size `sz`. */
function ramAt(sz: number, p: string): string {
  return `ram${8 << sz}[${p} >>> ${sz}]`;
}
