// The Pentium II's local APIC (SDM vol. 3, chapter "Advanced Programmable Interrupt Controller",
// xAPIC behaviour): its registers at IA32_APIC_BASE (default 0xFEE00000), the local vector table,
// the timer, interrupt acceptance with IRR/ISR/TPR priorities, EOI, self-IPIs through the ICR, and the
// PIC's INTR reaching the CPU through LINT0 in ExtINT (virtual-wire) mode.
//
// It comes out of reset globally enabled (IA32_APIC_BASE bit 11), as on the hardware; CPUID's APIC
// flag follows that bit. Cleared, the PIC's INTR goes straight to the CPU, the register window is not
// decoded, and the registers return to their power-up values; set again, the APIC works again (the
// SDM allows that to the xAPIC on the system bus, which this one reports itself to be: VERSION).
// Messages from the I/O APIC arrive through receive(); the EOI of a level-triggered vector goes back
// to it.
//
// Deviations, where the manual leaves the behaviour undefined or a single CPU cannot see it:
// - Register accesses narrower than 32 bits: reads return the bytes of the register, writes are
//   ignored (QEMU does the same).
// - IPIs: this is the only CPU, so an IPI reaches the sender or nobody. INIT, SIPI and SMI sent to
//   itself are dropped (INIT level de-assert is what a BIOS sends; there is no SMM); NMI sets the CPU's
//   NMI; fixed and lowest-priority set the IRR. The delivery status bit is always idle.
// - The timer counts the 100 MHz bus clock of a Pentium II (10 ns a tick before the divider). A
//   periodic timer shorter than MIN_PERIOD_NS still counts exactly, but its interrupts are raised at
//   most once per MIN_PERIOD_NS of guest time (they would coalesce in the IRR anyway).

import type { Clock, Timer } from '../../clock.ts';
import type { ResetKind } from '../../device.ts';
import type { InterruptController } from '../../irq.ts';
import type { MmioRange, PhysicalMemory } from '../../memory.ts';
import type { AccessSize } from '../../bus.ts';
import { defineState, StateError, type StateSchema } from '../../state/schema.ts';
import type { ApicMessage } from '../ioapic/ioapic.ts';

export const APIC_DEFAULT_BASE = 0xfee00000;
/** IA32_APIC_BASE bits (SDM vol. 4, table 2-2): BSP flag, global enable, base address 35:12. */
export const APIC_BASE_BSP = 1 << 8;
export const APIC_BASE_ENABLE = 1 << 11;
/** The writable bits: enable and base bits 35:12 (a P6 has 36 physical address bits). */
const APIC_BASE_WRITABLE = 0xffffff000n | BigInt(APIC_BASE_ENABLE);

// Register offsets in the 4 KiB window.
export const REG_ID = 0x20;
export const REG_VERSION = 0x30;
export const REG_TPR = 0x80;
export const REG_APR = 0x90;
export const REG_PPR = 0xa0;
export const REG_EOI = 0xb0;
export const REG_LDR = 0xd0;
export const REG_DFR = 0xe0;
export const REG_SVR = 0xf0;
export const REG_ISR = 0x100;
export const REG_TMR = 0x180;
export const REG_IRR = 0x200;
export const REG_ESR = 0x280;
export const REG_ICR_LO = 0x300;
export const REG_ICR_HI = 0x310;
export const REG_LVT_TIMER = 0x320;
export const REG_LVT_PERF = 0x340;
export const REG_LVT_LINT0 = 0x350;
export const REG_LVT_LINT1 = 0x360;
export const REG_LVT_ERROR = 0x370;
export const REG_TIMER_INITIAL = 0x380;
export const REG_TIMER_CURRENT = 0x390;
export const REG_TIMER_DIVIDE = 0x3e0;

/**
 * Version 14h, highest LVT entry 4 (timer, perf, LINT0/1, error). A P6 reports 1xh (an APIC on the
 * three-wire APIC bus); 14h is an xAPIC on the system bus, as QEMU reports for its Pentium II too.
 * SeaBIOS's MP table gives the I/O APIC the ID of CPU 0, which only an xAPIC allows: with 1xh Linux
 * (acpi=off) renumbers the I/O APIC and then finds no route for the timer's IRQ.
 */
const VERSION = 0x00040014;
export const SVR_ENABLE = 1 << 8;
const SVR_FOCUS_DISABLE = 1 << 9;
export const LVT_MASKED = 1 << 16;
export const LVT_PERIODIC = 1 << 17;
const DM_FIXED = 0;
const DM_LOWEST = 1;
const DM_NMI = 4;
const DM_EXTINT = 7;

// The LVT in saved order, and the bits each entry holds (SDM "Local Vector Table").
const LVT_TIMER = 0;
const LVT_LINT0 = 2;
const LVT_ERROR = 4;
const LVT_REGS = [REG_LVT_TIMER, REG_LVT_PERF, REG_LVT_LINT0, REG_LVT_LINT1, REG_LVT_ERROR] as const;
const LVT_WRITABLE = [0x300ff, 0x107ff, 0x1a7ff, 0x1a7ff, 0x100ff] as const;

// ESR bits (SDM "Error Handling").
const ESR_SEND_ILLEGAL_VECTOR = 1 << 5;
const ESR_RECEIVE_ILLEGAL_VECTOR = 1 << 6;
const ESR_ILLEGAL_REGISTER = 1 << 7;

/** Bus clock ticks: a 100 MHz front-side bus. */
export const APIC_TICK_NS = 10;
const MIN_PERIOD_NS = 10_000;

export interface LocalApicCpu {
  /** The APIC has something for the CPU to look at (a new request, a lower priority). */
  notifyInterrupt(): void;
  /** An NMI arrived (an NMI IPI to itself, an I/O APIC entry in NMI mode). */
  raiseNmi(): void;
}

export interface LocalApicOptions {
  clock: Clock;
  mem: PhysicalMemory;
  /** The 8259A pair whose INTR is wired to LINT0. */
  pic: InterruptController;
  cpu: LocalApicCpu;
  /**
   * The register window appeared on or left this physical page: the CPU drops what it cached of the
   * page (TLB entries that reach RAM directly, code decoded from it).
   */
  windowMoved?: (page: number) => void;
  /** The EOI of a level-triggered vector, which the local APIC sends on to the I/O APIC. */
  eoiBroadcast?: (vector: number) => void;
}

function highestBit(words: Uint32Array): number {
  for (let w = 7; w >= 0; w--) {
    const x = words[w]!;
    if (x) return w * 32 + 31 - Math.clz32(x);
  }
  return -1;
}

const testBit = (words: Uint32Array, v: number): boolean => (words[v >>> 5]! & (1 << (v & 31))) !== 0;
const setBit = (words: Uint32Array, v: number): void => void (words[v >>> 5] = words[v >>> 5]! | (1 << (v & 31)));
const clearBit = (words: Uint32Array, v: number): void => void (words[v >>> 5] = words[v >>> 5]! & ~(1 << (v & 31)));

/** Divide configuration (bits 0, 1 and 3) to the divisor: 000 = 2 ... 110 = 128, 111 = 1. */
export function timerDivisor(dcr: number): number {
  const code = (dcr & 3) | ((dcr >>> 1) & 4);
  return code === 7 ? 1 : 2 << code;
}

export class LocalApic implements InterruptController {
  static readonly STATE: StateSchema<LocalApic> = defineState<LocalApic>({
    id: 'local-apic',
    // Versioned with its owner, the CPU's section: the APIC came with the CPU's version 4.
    version: 4,
    fields: [
      { name: 'base', type: 'u64', since: 4, get: (a) => a.baseMsr, set: (a, v) => a.loadBase(v as bigint) },
      { name: 'id', type: 'u8', since: 4 },
      { name: 'tpr', type: 'u8', since: 4 },
      { name: 'ldr', type: 'u8', since: 4 },
      { name: 'dfrModel', type: 'u8', since: 4, mask: 0x0f },
      { name: 'svr', type: 'u16', since: 4, mask: 0x3ff },
      { name: 'irr', type: 'u32[]', since: 4, length: 8 },
      { name: 'isr', type: 'u32[]', since: 4, length: 8 },
      { name: 'tmr', type: 'u32[]', since: 4, length: 8 },
      { name: 'esr', type: 'u8', since: 4 },
      { name: 'esrPending', type: 'u8', since: 4 },
      { name: 'icrLo', type: 'x32', since: 4, mask: 0x000ccfff },
      { name: 'icrHi', type: 'x32', since: 4 },
      { name: 'lvt', type: 'u32[]', since: 4, length: 5 },
      { name: 'initialCount', type: 'x32', since: 4 },
      { name: 'divideConfig', type: 'u8', since: 4, mask: 0x0b },
      { name: 'timerStart', type: 'f64', since: 4 },
      { name: 'extIntPending', type: 'bool', since: 4 },
    ],
    postLoad: (a) => {
      for (let i = 0; i < 5; i++) a.lvt[i] = a.lvt[i]! & LVT_WRITABLE[i]!;
      for (const v of [a.irr, a.isr, a.tmr]) v[0] = v[0]! & ~0xffff; // vectors 0-15 are never accepted
      a.icrHi = (a.icrHi & 0xff000000) >>> 0;
      if (!Number.isFinite(a.timerStart) || a.timerStart < 0) throw new StateError(`local-apic: saved timer start ${a.timerStart} is not a guest time`);
      // The register window follows the base when the board rewires after the load (remap()).
    },
  });

  private readonly clock: Clock;
  private readonly mem: PhysicalMemory;
  private readonly pic: InterruptController;
  private readonly cpu: LocalApicCpu;
  private readonly timer: Timer;
  private readonly windowMoved: (page: number) => void;
  private readonly eoiBroadcast: (vector: number) => void;
  /** An ExtINT message arrived (an I/O APIC entry in ExtINT mode): the next INTA goes to the PIC. */
  private extIntPending = false;
  private readonly mmio: MmioRange & { base: number };
  private mapped = false;

  /** IA32_APIC_BASE as a 64-bit MSR value (set through setBase, which keeps `enabled` with it). */
  baseMsr = 0n;
  /** Its bit 11, read at every interrupt check, so kept as a boolean. */
  private enabled = false;
  private id = 0;
  private tpr = 0;
  private ldr = 0;
  /** DFR bits 31:28 (1111 flat, 0000 cluster); the rest read as ones. */
  private dfrModel = 0xf;
  private svr = 0xff;
  private readonly irr = new Uint32Array(8);
  private readonly isr = new Uint32Array(8);
  private readonly tmr = new Uint32Array(8);
  /** ESR as last latched by a write, and errors seen since. */
  private esr = 0;
  private esrPending = 0;
  private icrLo = 0;
  private icrHi = 0;
  private readonly lvt = new Uint32Array(5);
  private initialCount = 0;
  private divideConfig = 0;
  /** Guest time (ns) at which the current count was last loaded from the initial count. */
  private timerStart = 0;

  constructor(opts: LocalApicOptions) {
    this.clock = opts.clock;
    this.mem = opts.mem;
    this.pic = opts.pic;
    this.cpu = opts.cpu;
    this.windowMoved = opts.windowMoved ?? (() => {});
    this.eoiBroadcast = opts.eoiBroadcast ?? (() => {});
    this.timer = opts.clock.createTimer('local-apic timer', () => this.timerFired());
    const read = (offset: number, size: AccessSize): number => this.readWindow(offset, size);
    const write = (offset: number, size: AccessSize, value: number): void => this.writeWindow(offset, size, value);
    this.mmio = { name: 'local-apic', base: APIC_DEFAULT_BASE, length: 0x1000, read, write };
    this.reset('power');
  }

  /** Global enable (IA32_APIC_BASE bit 11): CPUID's APIC flag follows it. */
  get hwEnabled(): boolean {
    return this.enabled;
  }

  private setBase(v: bigint): void {
    this.baseMsr = v;
    this.enabled = (v & BigInt(APIC_BASE_ENABLE)) !== 0n;
  }

  private get swEnabled(): boolean {
    return (this.svr & SVR_ENABLE) !== 0;
  }

  reset(kind: ResetKind): void {
    // Power-up and RESET: enabled at the default base, this CPU the BSP. INIT keeps the MSR (SDM
    // "Local APIC State After an INIT Reset").
    if (kind !== 'soft') this.setBase(BigInt((APIC_DEFAULT_BASE | APIC_BASE_BSP | APIC_BASE_ENABLE) >>> 0));
    if (kind === 'power') this.id = 0;
    this.registersToPowerUp();
    this.remap();
  }

  /** The register values of SDM "Local APIC State After Power-Up or Reset" (ID and base kept). */
  private registersToPowerUp(): void {
    this.tpr = this.ldr = 0;
    this.dfrModel = 0xf;
    this.svr = 0xff;
    this.irr.fill(0);
    this.isr.fill(0);
    this.tmr.fill(0);
    this.esr = this.esrPending = 0;
    this.icrLo = this.icrHi = 0;
    this.lvt.fill(LVT_MASKED);
    // QEMU's choice, for firmware that never programs the APIC: the BSP's LINT0 passes the PIC on
    // (ExtINT) from reset, where the hardware has it masked until the BIOS sets up virtual wire mode.
    this.lvt[LVT_LINT0] = DM_EXTINT << 8;
    this.extIntPending = false;
    this.initialCount = this.divideConfig = 0;
    this.timerStart = this.clock.now();
    this.timer.cancel();
  }

  // ---------------------------------------------------------------- IA32_APIC_BASE

  /** WRMSR to IA32_APIC_BASE; false for reserved bits (#GP). */
  writeBaseMsr(value: bigint): boolean {
    if (value & ~(APIC_BASE_WRITABLE | BigInt(APIC_BASE_BSP))) return false;
    const wasEnabled = this.hwEnabled;
    // BSP is read-only: it says which processor this is.
    this.setBase((value & APIC_BASE_WRITABLE) | (this.baseMsr & BigInt(APIC_BASE_BSP)));
    if (wasEnabled !== this.hwEnabled) this.registersToPowerUp();
    this.remap();
    this.cpu.notifyInterrupt();
    return true;
  }

  private loadBase(v: bigint): void {
    if (v & ~(APIC_BASE_WRITABLE | BigInt(APIC_BASE_BSP))) throw new StateError(`local-apic: saved IA32_APIC_BASE ${v.toString(16)} sets reserved bits`);
    this.setBase(v);
  }

  /**
   * Decodes the register window where the MSR says, while the APIC is enabled. A base over another
   * device's MMIO (or above 4 GiB) is not decoded: the CPU's accesses go to the bus, a choice the
   * manual leaves open (it says only that such a base is not supported).
   */
  remap(): void {
    const want = this.hwEnabled && !(this.baseMsr >> 32n) ? Number(this.baseMsr & 0xfffff000n) : -1;
    if (want === (this.mapped ? this.mmio.base : -1)) return;
    if (this.mapped) {
      this.mem.unmapMmio(this.mmio);
      this.mapped = false;
      this.windowMoved(this.mmio.base >>> 12);
    }
    if (want < 0) return;
    this.mmio.base = want;
    try {
      this.mem.mapMmio(this.mmio);
      this.mapped = true;
      this.windowMoved(want >>> 12);
    } catch {
      this.mapped = false;
    }
  }

  // ---------------------------------------------------------------- the CPU's INTR and INTA

  /** The highest vector waiting in the IRR that the processor priority lets through, or -1. */
  private deliverable(): number {
    if (!this.swEnabled) return -1;
    const v = highestBit(this.irr);
    if (v < 0) return -1;
    return (v & 0xf0) > (this.ppr() & 0xf0) ? v : -1;
  }

  /** The PIC reaches the CPU: straight while the APIC is off, through LINT0 in ExtINT mode otherwise. */
  private picOpen(): boolean {
    if (!this.hwEnabled || this.extIntPending) return true;
    const l = this.lvt[LVT_LINT0]!;
    return !(l & LVT_MASKED) && ((l >>> 8) & 7) === DM_EXTINT;
  }

  hasInterrupt(): boolean {
    if (!this.hwEnabled) return this.pic.hasInterrupt();
    return this.deliverable() >= 0 || (this.picOpen() && this.pic.hasInterrupt());
  }

  acknowledge(): number {
    if (!this.hwEnabled) return this.pic.acknowledge();
    const v = this.deliverable();
    if (v >= 0) {
      clearBit(this.irr, v);
      setBit(this.isr, v);
      return v;
    }
    if (this.picOpen() && this.pic.hasInterrupt()) {
      this.extIntPending = false;
      return this.pic.acknowledge();
    }
    // The request went away between INTR and INTA (a TPR write): the spurious vector, nothing in service.
    return this.svr & 0xff;
  }

  /** Accepts a fixed interrupt with this vector into the IRR (SDM "Interrupt Acceptance"). */
  private accept(vector: number, level: boolean): void {
    if (vector < 16) {
      this.error(ESR_RECEIVE_ILLEGAL_VECTOR);
      return;
    }
    setBit(this.irr, vector);
    if (level) setBit(this.tmr, vector);
    else clearBit(this.tmr, vector);
    this.cpu.notifyInterrupt();
  }

  private isrVector(): number {
    return highestBit(this.isr);
  }

  private ppr(): number {
    const isrv = Math.max(this.isrVector(), 0);
    return (this.tpr & 0xf0) >= (isrv & 0xf0) ? this.tpr : isrv & 0xf0;
  }

  private apr(): number {
    const isrv = Math.max(this.isrVector(), 0) & 0xf0;
    const irrv = Math.max(highestBit(this.irr), 0) & 0xf0;
    const tpr = this.tpr & 0xf0;
    if (tpr >= irrv && tpr > isrv) return this.tpr;
    return Math.max(tpr, isrv, irrv);
  }

  private eoi(): void {
    const v = this.isrVector();
    if (v < 0) return;
    clearBit(this.isr, v);
    if (testBit(this.tmr, v)) {
      clearBit(this.tmr, v);
      this.eoiBroadcast(v);
    }
    this.cpu.notifyInterrupt();
  }

  private error(bits: number): void {
    const fresh = bits & ~this.esrPending;
    this.esrPending |= bits;
    const l = this.lvt[LVT_ERROR]!;
    if (fresh && !(l & LVT_MASKED)) this.accept(l & 0xff, false);
  }

  // ---------------------------------------------------------------- the timer

  private divisor(): number {
    return timerDivisor(this.divideConfig);
  }

  /** Ticks of the divided clock since the count was loaded. */
  private ticksSinceStart(now: number): number {
    return Math.floor((now - this.timerStart) / (APIC_TICK_NS * this.divisor()));
  }

  currentCount(): number {
    const init = this.initialCount >>> 0;
    if (init === 0) return 0;
    const t = this.ticksSinceStart(this.clock.now());
    if (this.lvt[LVT_TIMER]! & LVT_PERIODIC) return init - (t % init);
    return t >= init ? 0 : init - t;
  }

  /** Arms the host-side event for the next time the count reaches zero, if it still will. */
  private armTimer(): void {
    const init = this.initialCount >>> 0;
    if (init === 0) return this.timer.cancel();
    const tickNs = APIC_TICK_NS * this.divisor();
    const now = this.clock.now();
    const t = this.ticksSinceStart(now);
    let next: number;
    const lvt = this.lvt[LVT_TIMER]!;
    if (lvt & LVT_PERIODIC) {
      // A masked periodic timer raises nothing: it is armed again when the entry is unmasked.
      if (lvt & LVT_MASKED) return this.timer.cancel();
      const periods = Math.floor(t / init) + 1;
      next = this.timerStart + periods * init * tickNs;
      if (init * tickNs < MIN_PERIOD_NS) next = Math.max(next, now + MIN_PERIOD_NS);
    } else {
      if (t >= init) return this.timer.cancel();
      next = this.timerStart + init * tickNs;
    }
    this.timer.arm(next);
  }

  private timerFired(): void {
    const l = this.lvt[LVT_TIMER]!;
    if (!(l & LVT_MASKED) && this.swEnabled) this.accept(l & 0xff, false);
    // The next period, or nothing once a one-shot count has run out.
    this.armTimer();
  }

  /** Goes on from `fromCount` ticks at the current rate (after a new divide configuration). */
  private restartTimer(fromCount: number): void {
    const now = this.clock.now();
    const tickNs = APIC_TICK_NS * this.divisor();
    // Place the start so that the count now reads fromCount.
    this.timerStart = now - ((this.initialCount >>> 0) - fromCount) * tickNs;
    this.armTimer();
  }

  // ---------------------------------------------------------------- IPIs

  private sendIpi(): void {
    const lo = this.icrLo;
    const mode = (lo >>> 8) & 7;
    const shorthand = (lo >>> 18) & 3;
    const vector = lo & 0xff;
    let toSelf: boolean;
    if (shorthand === 1 || shorthand === 2) toSelf = true;
    else if (shorthand === 3) toSelf = false;
    else toSelf = this.matchesDestination(this.icrHi >>> 24, (lo & (1 << 11)) !== 0);
    if ((mode === DM_FIXED || mode === DM_LOWEST) && vector < 16) {
      this.error(ESR_SEND_ILLEGAL_VECTOR);
      if (toSelf) this.error(ESR_RECEIVE_ILLEGAL_VECTOR);
      return;
    }
    if (!toSelf) return;
    // An IPI is an edge: the level bit only tells INIT assert from de-assert.
    if (mode === DM_FIXED || mode === DM_LOWEST) this.accept(vector, false);
    else if (mode === DM_NMI) this.cpu.raiseNmi();
  }

  /** A message from the I/O APIC: taken when it addresses this APIC and the APIC is enabled. */
  receive(m: ApicMessage): void {
    if (!this.hwEnabled || !this.matchesDestination(m.destination, m.logical)) return;
    switch (m.deliveryMode) {
      case DM_FIXED:
      case DM_LOWEST:
        this.accept(m.vector, m.level);
        return;
      case DM_NMI:
        this.cpu.raiseNmi();
        return;
      case DM_EXTINT:
        this.extIntPending = true;
        this.cpu.notifyInterrupt();
        return;
      default: // SMI (no SMM here), INIT and start-up: nothing for the only CPU to do
        return;
    }
  }

  private matchesDestination(dest: number, logical: boolean): boolean {
    if (!logical) return dest === 0xff || dest === this.id;
    if (dest === 0xff) return true;
    if (this.dfrModel === 0xf) return (this.ldr & dest) !== 0;
    // Cluster model: the high nibbles name the cluster, the low ones select within it.
    return (this.ldr & 0xf0) === (dest & 0xf0) && (this.ldr & dest & 0x0f) !== 0;
  }

  // ---------------------------------------------------------------- the register window

  /** A register's 32-bit value as the CPU reads it (offset 16-byte aligned within the window). */
  readRegister(reg: number): number {
    switch (reg) {
      case REG_ID: return (this.id << 24) >>> 0;
      case REG_VERSION: return VERSION;
      case REG_TPR: return this.tpr;
      case REG_APR: return this.apr();
      case REG_PPR: return this.ppr();
      case REG_EOI: return 0;
      case REG_LDR: return (this.ldr << 24) >>> 0;
      case REG_DFR: return ((this.dfrModel << 28) | 0x0fffffff) >>> 0;
      case REG_SVR: return this.svr;
      case REG_ESR: return this.esr;
      case REG_ICR_LO: return this.icrLo; // delivery status (bit 12) always idle
      case REG_ICR_HI: return this.icrHi >>> 0;
      case REG_TIMER_INITIAL: return this.initialCount >>> 0;
      case REG_TIMER_CURRENT: return this.currentCount() >>> 0;
      case REG_TIMER_DIVIDE: return this.divideConfig;
    }
    if (reg >= REG_ISR && reg < REG_ISR + 0x80) return this.isr[(reg - REG_ISR) >>> 4]!;
    if (reg >= REG_TMR && reg < REG_TMR + 0x80) return this.tmr[(reg - REG_TMR) >>> 4]!;
    if (reg >= REG_IRR && reg < REG_IRR + 0x80) return this.irr[(reg - REG_IRR) >>> 4]!;
    const i = LVT_REGS.indexOf(reg as (typeof LVT_REGS)[number]);
    if (i >= 0) return this.lvt[i]!;
    return 0;
  }

  writeRegister(reg: number, value: number): void {
    value >>>= 0;
    switch (reg) {
      case REG_ID: this.id = value >>> 24; return;
      case REG_TPR: this.tpr = value & 0xff; this.cpu.notifyInterrupt(); return;
      case REG_EOI: this.eoi(); return;
      case REG_LDR: this.ldr = value >>> 24; return;
      case REG_DFR: this.dfrModel = value >>> 28; return;
      case REG_SVR: this.writeSvr(value); return;
      case REG_ESR:
        // A write latches the errors seen since the last one and starts collecting anew.
        this.esr = this.esrPending;
        this.esrPending = 0;
        return;
      case REG_ICR_HI: this.icrHi = value & 0xff000000; return;
      case REG_ICR_LO:
        this.icrLo = value & 0x000ccfff & ~(1 << 12);
        this.sendIpi();
        return;
      case REG_TIMER_INITIAL:
        this.initialCount = value;
        this.timerStart = this.clock.now();
        this.armTimer();
        return;
      case REG_TIMER_DIVIDE: {
        const count = this.currentCount();
        this.divideConfig = value & 0x0b;
        if (this.initialCount >>> 0) this.restartTimer(count);
        return;
      }
      case REG_VERSION: case REG_APR: case REG_PPR: case REG_TIMER_CURRENT:
        return; // read-only
    }
    if (reg >= REG_ISR && reg < REG_IRR + 0x80) return; // ISR, TMR, IRR are read-only
    const i = LVT_REGS.indexOf(reg as (typeof LVT_REGS)[number]);
    if (i >= 0) {
      let v = value & LVT_WRITABLE[i]!;
      if (!this.swEnabled) v |= LVT_MASKED;
      this.lvt[i] = v >>> 0;
      if (i === LVT_TIMER) this.armTimer();
      this.cpu.notifyInterrupt();
      return;
    }
    this.error(ESR_ILLEGAL_REGISTER);
  }

  private writeSvr(value: number): void {
    this.svr = value & (0xff | SVR_ENABLE | SVR_FOCUS_DISABLE);
    // Software disable masks every LVT entry, and they stay masked until it is enabled again.
    if (!this.swEnabled) for (let i = 0; i < 5; i++) this.lvt[i] = this.lvt[i]! | LVT_MASKED;
    this.cpu.notifyInterrupt();
  }

  private readWindow(offset: number, size: AccessSize): number {
    const reg = offset & 0xff0;
    const within = offset & 0xf;
    if (within + size > 4) return 0; // bytes 4-15 of every 16 are reserved
    const v = this.readRegister(reg);
    return size === 4 ? v >>> 0 : (v >>> (8 * within)) & (size === 1 ? 0xff : 0xffff);
  }

  private writeWindow(offset: number, size: AccessSize, value: number): void {
    if (size !== 4 || offset & 0xf) return;
    this.writeRegister(offset, value);
  }
}
