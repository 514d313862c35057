// ACPI fixed-hardware power management registers, as a PIIX4 function 3 provides them: the PM1a
// event block, the PM1a control block and the 24-bit ACPI PM timer. The FADT built by
// vmm/boot/acpi.ts points at them; ACPI is always enabled (SCI_EN reads 1 from reset, no SMI_CMD).
//
// Ports, relative to `base` (default 0x600, so 0x600-0x60B):
//   +0  PM1_STS  16 bit  status, write 1 to clear        (ACPI 4.8.3.1.1, table 4-16)
//   +2  PM1_EN   16 bit  enables for the status bits     (table 4-17)
//   +4  PM1_CNT  16 bit  SCI_EN, SLP_TYP, SLP_EN         (4.8.3.2.1, table 4-18)
//   +6  unused (reads 0)
//   +8  PM_TMR   32 bit  3.579545 MHz counter, bits 23-0 (4.8.3.3)
// Any access width 1, 2 or 4 works at any offset: drivers use words for PM1 and a dword for the
// timer, but the registers behave byte by byte like the chip's.
//
// Time comes from the injected Clock, so the timer is exact: tick = floor(ns * 3579545 / 1e9).
// The SCI is a level: asserted while SCI_EN is set and any status bit is set with its enable.

import type { AccessSize, IoRange } from '../../bus.ts';
import type { Clock, Timer } from '../../clock.ts';
import type { Device, ResetKind, StateRecord } from '../../device.ts';
import { StateError, defineState, loadBySchema, saveBySchema, type StateSchema } from '../../state/schema.ts';
import type { IrqLine } from '../../irq.ts';

export const ACPI_PM_DEFAULT_BASE = 0x600;
export const PM_TIMER_HZ = 3579545;

// PM1_STS / PM1_EN bits
export const TMR_STS = 1 << 0;
export const BM_STS = 1 << 4;
export const GBL_STS = 1 << 5;
export const PWRBTN_STS = 1 << 8;
export const SLPBTN_STS = 1 << 9;
export const RTC_STS = 1 << 10;
export const WAK_STS = 1 << 15;
/** Status bits that have an enable bit at the same position and can raise the SCI. */
const SCI_SOURCES = TMR_STS | GBL_STS | PWRBTN_STS | SLPBTN_STS | RTC_STS;
const STS_WRITABLE = TMR_STS | BM_STS | GBL_STS | PWRBTN_STS | SLPBTN_STS | RTC_STS | WAK_STS;
const EN_WRITABLE = SCI_SOURCES;

// PM1_CNT bits
export const SCI_EN = 1 << 0;
export const BM_RLD = 1 << 1;
export const GBL_RLS = 1 << 2;
export const SLP_TYP_SHIFT = 10;
export const SLP_TYP_MASK = 7 << SLP_TYP_SHIFT;
export const SLP_EN = 1 << 13;
const CNT_WRITABLE = SCI_EN | BM_RLD | SLP_TYP_MASK;

/** The SLP_TYP the DSDT's \_S5 object names (vmm/boot/acpi.ts). */
export const SLP_TYP_S5 = 5;

const TIMER_BITS = 24;
/** TMR_STS is set each time bit 23 of the counter changes. */
const TMR_PERIOD_TICKS = 2 ** (TIMER_BITS - 1);

/** Ticks of the 3.579545 MHz clock since guest time 0, exact for any realistic ns value. */
export function pmTicks(ns: number): number {
  const sec = Math.floor(ns / 1e9);
  const rest = ns - sec * 1e9;
  return sec * PM_TIMER_HZ + Math.floor((rest * PM_TIMER_HZ) / 1e9);
}

/** The earliest guest time (ns) at which pmTicks reaches `ticks`. */
function nsForTicks(ticks: number): number {
  const t = BigInt(ticks) * 1_000_000_000n;
  const hz = BigInt(PM_TIMER_HZ);
  return Number((t + hz - 1n) / hz);
}

export interface AcpiPmOptions {
  clock: Clock;
  /** The SCI (ISA IRQ 9 on a PC, level-triggered). */
  sci: IrqLine;
  /** Called when the guest enters S5 (soft off). */
  powerOff: () => void;
  base?: number;
}

export class AcpiPm implements Device {
  readonly stateId = 'acpi-pm';
  static readonly STATE: StateSchema<AcpiPm> = defineState<AcpiPm>({
    id: 'acpi-pm',
    version: 1,
    fields: [
      { name: 'sts', type: 'u16', since: 1, mask: STS_WRITABLE & ~TMR_STS },
      { name: 'en', type: 'u16', since: 1, mask: EN_WRITABLE },
      { name: 'cnt', type: 'u16', since: 1, mask: CNT_WRITABLE },
      { name: 'tmrAckPeriod', type: 'f64', since: 1 },
    ],
    postLoad: (pm) => {
      // A count of timer periods; anything else (an edited file) would throw when the overflow is armed.
      const p = pm['tmrAckPeriod'];
      if (!Number.isSafeInteger(p) || p < 0) throw new StateError(`acpi-pm: saved timer period ${p} is not a count of periods`);
      // The line is driven again in reassertInterrupts, after every device is loaded.
      pm['sciAsserted'] = false;
      pm['armOverflow']();
    },
  });
  readonly stateVersion = AcpiPm.STATE.version;
  readonly ioRanges: IoRange[];

  private readonly clock: Clock;
  private readonly sci: IrqLine;
  private readonly powerOff: () => void;
  private readonly overflowTimer: Timer;

  /** PM1_STS without TMR_STS, which is derived from time and tmrAckPeriod. */
  private sts = 0;
  private en = 0;
  private cnt = SCI_EN;
  /** TMR_STS is set while the counter's current half-period is past this one. */
  private tmrAckPeriod = 0;
  private sciAsserted = false;

  constructor(opts: AcpiPmOptions) {
    this.clock = opts.clock;
    this.sci = opts.sci;
    this.powerOff = opts.powerOff;
    this.overflowTimer = opts.clock.createTimer('acpi-pm timer overflow', () => this.updateSci());
    const base = opts.base ?? ACPI_PM_DEFAULT_BASE;
    this.ioRanges = [
      {
        name: 'acpi-pm',
        base,
        length: 12,
        sizes: [1, 2, 4],
        read: (offset, size) => this.read(offset, size),
        write: (offset, size, value) => this.write(offset, size, value),
        peek: (offset, size) => this.read(offset, size),
      },
    ];
    this.reset('power');
  }

  /** The 24-bit PM timer value now. */
  timerValue(): number {
    return pmTicks(this.clock.now()) % 2 ** TIMER_BITS;
  }

  private currentPeriod(): number {
    return Math.floor(pmTicks(this.clock.now()) / TMR_PERIOD_TICKS);
  }

  /** PM1_STS as the guest reads it. */
  status(): number {
    return this.sts | (this.currentPeriod() > this.tmrAckPeriod ? TMR_STS : 0);
  }

  /** A press of the power button: the OS sees PWRBTN_STS (and an SCI if PWRBTN_EN). */
  pressPowerButton(): void {
    this.sts |= PWRBTN_STS;
    this.updateSci();
  }

  reset(_kind: ResetKind): void {
    this.sts = 0;
    this.en = 0;
    this.cnt = SCI_EN;
    this.tmrAckPeriod = this.currentPeriod();
    this.updateSci();
  }

  private read(offset: number, size: AccessSize): number {
    // One snapshot of the registers so a dword read of the timer is a single sample.
    const regs = [this.status(), this.en, this.cnt & ~SLP_EN, 0];
    const tmr = this.timerValue();
    let v = 0;
    for (let i = 0; i < size; i++) {
      const o = offset + i;
      const byte = o < 8 ? (regs[o >> 1]! >>> ((o & 1) * 8)) & 0xff : o < 12 ? (tmr >>> ((o - 8) * 8)) & 0xff : 0;
      v |= byte << (8 * i);
    }
    return v >>> 0;
  }

  private write(offset: number, size: AccessSize, value: number): void {
    let sleep = false;
    for (let i = 0; i < size; i++) {
      const o = offset + i;
      const shift = (o & 1) * 8;
      const bits = ((value >>> (8 * i)) & 0xff) << shift;
      switch (o >> 1) {
        case 0: // PM1_STS: write 1 to clear
          if (bits & TMR_STS) this.tmrAckPeriod = this.currentPeriod();
          this.sts &= ~(bits & STS_WRITABLE);
          break;
        case 1: // PM1_EN
          this.en = (this.en & ~(0xff << shift)) | (bits & EN_WRITABLE);
          break;
        case 2: // PM1_CNT: SLP_EN is write-only and acts with the SLP_TYP written with it
          this.cnt = (this.cnt & ~(0xff << shift)) | (bits & CNT_WRITABLE);
          if (bits & SLP_EN) sleep = true;
          break;
        default: // PM_TMR is read-only
          break;
      }
    }
    this.updateSci();
    if (sleep && (this.cnt & SLP_TYP_MASK) >>> SLP_TYP_SHIFT === SLP_TYP_S5) this.powerOff();
  }

  private updateSci(): void {
    const level = (this.cnt & SCI_EN) !== 0 && (this.status() & this.en & SCI_SOURCES) !== 0;
    if (level !== this.sciAsserted) {
      this.sciAsserted = level;
      if (level) this.sci.raise();
      else this.sci.lower();
    }
    this.armOverflow();
  }

  /** With TMR_EN set and TMR_STS clear, wake at the next bit-23 change to raise the SCI. */
  private armOverflow(): void {
    if (this.en & TMR_STS && !(this.status() & TMR_STS))
      this.overflowTimer.arm(nsForTicks((this.tmrAckPeriod + 1) * TMR_PERIOD_TICKS));
    else if (this.overflowTimer.armed) this.overflowTimer.cancel();
  }

  /** The schema save and load follow; the contract test reads it too. */
  get stateSchema(): StateSchema<unknown> {
    return AcpiPm.STATE as StateSchema<unknown>;
  }

  saveState(): StateRecord {
    return saveBySchema(AcpiPm.STATE, this);
  }

  loadState(s: StateRecord, version: number): void {
    loadBySchema(AcpiPm.STATE, this, s, version);
  }

  reassertInterrupts(): void {
    this.sciAsserted = false;
    const level = (this.cnt & SCI_EN) !== 0 && (this.status() & this.en & SCI_SOURCES) !== 0;
    if (level) {
      this.sciAsserted = true;
      this.sci.raise();
    }
  }
}
