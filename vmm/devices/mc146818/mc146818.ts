// Motorola MC146818A real-time clock with 128 bytes of CMOS RAM (datasheet: "Address Map", "Time,
// Calendar and Alarm Locations", registers A-D, "Update Cycle", "Interrupts"), at ports 0x70 (index;
// bit 7 masks NMI on the PC) and 0x71 (data), IRQ8. The time of day starts from the injected wall
// clock and then advances with guest time, so a paused VM's clock stands still like a suspended PC's.

import type { IoRange } from '../../bus.ts';
import type { Clock, Timer } from '../../clock.ts';
import type { Device, ResetKind, StateRecord } from '../../device.ts';
import { defineState, loadBySchema, saveBySchema, type StateSchema } from '../../state/schema.ts';
import type { IrqLine } from '../../irq.ts';

export const RTC_SECONDS = 0x00;
export const RTC_SECONDS_ALARM = 0x01;
export const RTC_MINUTES = 0x02;
export const RTC_MINUTES_ALARM = 0x03;
export const RTC_HOURS = 0x04;
export const RTC_HOURS_ALARM = 0x05;
export const RTC_DAY_OF_WEEK = 0x06;
export const RTC_DAY_OF_MONTH = 0x07;
export const RTC_MONTH = 0x08;
export const RTC_YEAR = 0x09;
export const RTC_REG_A = 0x0a;
export const RTC_REG_B = 0x0b;
export const RTC_REG_C = 0x0c;
export const RTC_REG_D = 0x0d;
export const CMOS_CENTURY = 0x32;

const REG_A_UIP = 0x80;
const REG_B_SET = 0x80;
const REG_B_PIE = 0x40;
const REG_B_AIE = 0x20;
const REG_B_UIE = 0x10;
const REG_B_DM = 0x04; // binary
const REG_B_24H = 0x02;
const REG_C_IRQF = 0x80;
const REG_C_PF = 0x40;
const REG_C_AF = 0x20;
const REG_C_UF = 0x10;
const REG_D_VRT = 0x80;

/** UIP is set this long before each update (tBUC, 32.768 kHz time base). */
const UIP_NS = 244_000;
const SECOND_NS = 1_000_000_000;

function toBcd(v: number): number {
  return ((Math.floor(v / 10) % 10) << 4) | v % 10;
}
function fromBcd(v: number): number {
  return ((v >> 4) & 0xf) * 10 + (v & 0xf);
}

export class Mc146818 implements Device {
  readonly stateId = 'mc146818';
  get stateVersion(): number {
    return this.stateSchema.version;
  }
  readonly ioRanges: IoRange[];
  private readonly cmos = new Uint8Array(128);
  private index = 0;
  private nmiMask = false;
  /** Seconds since the epoch at guest time 0 (UTC). */
  private baseSeconds = 0;
  /** Guest ns of the last register C read, to report flags of events since then. */
  private lastFlagsNs = 0;
  private flags = 0;
  private irqHigh = false;
  private readonly periodicTimer: Timer;
  private readonly secondTimer: Timer;

  constructor(
    private readonly clock: Clock,
    private readonly irq: IrqLine,
    private readonly wallClockMs: () => number,
  ) {
    this.periodicTimer = clock.createTimer('rtc periodic', () => this.onPeriodic());
    this.secondTimer = clock.createTimer('rtc update', () => this.onSecond());
    this.ioRanges = [
      {
        name: 'mc146818',
        base: 0x70,
        length: 2,
        read: (off) => (off === 0 ? 0xff : this.readData()),
        write: (off, _s, v) => (off === 0 ? this.writeIndex(v & 0xff) : this.writeData(v & 0xff)),
        peek: (off) => (off === 0 ? 0xff : this.cmos[this.index]!),
      },
    ];
    this.powerOn();
  }

  private powerOn(): void {
    this.cmos.fill(0);
    this.cmos[RTC_REG_A] = 0x26; // 32.768 kHz time base, 1024 Hz periodic rate
    this.cmos[RTC_REG_B] = REG_B_24H;
    this.cmos[RTC_REG_D] = REG_D_VRT;
    this.baseSeconds = Math.floor(this.wallClockMs() / 1000) - Math.floor(this.clock.now() / SECOND_NS);
  }

  /** NMI masked by bit 7 of the last index write. */
  get nmiMasked(): boolean {
    return this.nmiMask;
  }

  /** The CMOS fields a BIOS fills for memory size (KiB below 1 MiB, above 1 MiB, above 16 MiB). */
  setMemorySize(bytes: number): void {
    const c = this.cmos;
    c[0x15] = 640 & 0xff;
    c[0x16] = 640 >> 8;
    const ext = Math.min(0xffff, Math.max(0, Math.floor((bytes - 0x100000) / 1024)));
    c[0x17] = c[0x30] = ext & 0xff;
    c[0x18] = c[0x31] = ext >> 8;
    const above16 = Math.min(0xffff, Math.max(0, Math.floor((bytes - 0x1000000) / 65536)));
    c[0x34] = above16 & 0xff;
    c[0x35] = above16 >> 8;
    c[0x10] = 0; // no floppy drives
    c[0x14] = 0x06; // equipment: math coprocessor, VGA/EGA, no floppies
    this.updateChecksum();
  }

  /**
   * The boot device order a BIOS built for QEMU's PC reads from CMOS (SeaBIOS's boot_init): byte
   * 3Dh holds the first device in its low nibble and the second in its high nibble, byte 38h the
   * third in its high nibble; 1 = floppy, 2 = hard disk, 3 = CD-ROM. Bit 0 of 38h set skips the
   * floppy boot-signature check. Both bytes are outside the checksummed range.
   */
  setBootOrder(devices: readonly ('floppy' | 'disk' | 'cdrom')[]): void {
    const code = { floppy: 1, disk: 2, cdrom: 3 } as const;
    const [a, b, c] = devices.map((d) => code[d]);
    this.cmos[0x3d] = (a ?? 0) | ((b ?? 0) << 4);
    this.cmos[0x38] = ((c ?? 0) << 4) | 0x01;
  }

  private updateChecksum(): void {
    let sum = 0;
    for (let i = 0x10; i <= 0x2d; i++) sum += this.cmos[i]!;
    this.cmos[0x2e] = (sum >> 8) & 0xff;
    this.cmos[0x2f] = sum & 0xff;
  }

  private writeIndex(v: number): void {
    this.index = v & 0x7f;
    this.nmiMask = (v & 0x80) !== 0;
  }

  private binaryMode(): boolean {
    return (this.cmos[RTC_REG_B]! & REG_B_DM) !== 0;
  }

  private enc(v: number): number {
    return this.binaryMode() ? v : toBcd(v);
  }
  private dec(v: number): number {
    return this.binaryMode() ? v : fromBcd(v);
  }

  /** Seconds since the epoch now, by the RTC's own count. */
  private nowSeconds(): number {
    return this.baseSeconds + Math.floor(this.clock.now() / SECOND_NS);
  }

  private timeRegister(idx: number): number {
    const d = new Date(this.nowSeconds() * 1000);
    switch (idx) {
      case RTC_SECONDS: return this.enc(d.getUTCSeconds());
      case RTC_MINUTES: return this.enc(d.getUTCMinutes());
      case RTC_HOURS: {
        const h = d.getUTCHours();
        if (this.cmos[RTC_REG_B]! & REG_B_24H) return this.enc(h);
        const h12 = h % 12 === 0 ? 12 : h % 12;
        return this.enc(h12) | (h >= 12 ? 0x80 : 0);
      }
      case RTC_DAY_OF_WEEK: return this.enc(d.getUTCDay() + 1);
      case RTC_DAY_OF_MONTH: return this.enc(d.getUTCDate());
      case RTC_MONTH: return this.enc(d.getUTCMonth() + 1);
      case RTC_YEAR: return this.enc(d.getUTCFullYear() % 100);
      default: return this.enc(Math.floor(d.getUTCFullYear() / 100));
    }
  }

  private isTimeRegister(idx: number): boolean {
    return idx === 0 || idx === 2 || idx === 4 || (idx >= 6 && idx <= 9) || idx === CMOS_CENTURY;
  }

  private readData(): number {
    const idx = this.index;
    const setMode = (this.cmos[RTC_REG_B]! & REG_B_SET) !== 0;
    if (this.isTimeRegister(idx) && !setMode) return this.timeRegister(idx);
    if (idx === RTC_REG_A) {
      const inSecond = this.clock.now() % SECOND_NS;
      const uip = !setMode && inSecond >= SECOND_NS - UIP_NS;
      return (this.cmos[RTC_REG_A]! & 0x7f) | (uip ? REG_A_UIP : 0);
    }
    if (idx === RTC_REG_C) {
      this.collectFlags();
      const v = this.flags;
      this.flags = 0;
      this.setIrq(false);
      return v;
    }
    return this.cmos[idx]!;
  }

  private writeData(v: number): void {
    const idx = this.index;
    if (idx === RTC_REG_C || idx === RTC_REG_D) return;
    if (idx === RTC_REG_A) {
      this.cmos[idx] = v & 0x7f;
      this.rearm();
      return;
    }
    if (idx === RTC_REG_B) {
      const old = this.cmos[RTC_REG_B]!;
      if (!(old & REG_B_SET) && v & REG_B_SET) {
        // Entering SET: freeze the current time into the registers so the guest can edit them.
        for (const r of [0, 2, 4, 6, 7, 8, 9, CMOS_CENTURY]) this.cmos[r] = this.timeRegister(r);
      }
      this.cmos[RTC_REG_B] = v;
      if (old & REG_B_SET && !(v & REG_B_SET)) this.commitSetTime();
      // SET also clears UIE (datasheet: "SET ... UIE is cleared").
      if (v & REG_B_SET) this.cmos[RTC_REG_B] &= ~REG_B_UIE;
      this.rearm();
      return;
    }
    if (this.isTimeRegister(idx) && !(this.cmos[RTC_REG_B]! & REG_B_SET)) {
      // Writing a time register outside SET mode: apply it to the running time at once.
      for (const r of [0, 2, 4, 6, 7, 8, 9, CMOS_CENTURY]) this.cmos[r] = this.timeRegister(r);
      this.cmos[idx] = v;
      this.commitSetTime();
      return;
    }
    this.cmos[idx] = v;
  }

  /** Turns the time registers written by the guest into the running clock. */
  private commitSetTime(): void {
    const c = this.cmos;
    let hour = c[RTC_HOURS]!;
    let h: number;
    if (c[RTC_REG_B]! & REG_B_24H) h = this.dec(hour);
    else {
      const pm = (hour & 0x80) !== 0;
      hour &= 0x7f;
      h = this.dec(hour) % 12 + (pm ? 12 : 0);
    }
    const century = this.dec(c[CMOS_CENTURY]!) || 20;
    const year = century * 100 + this.dec(c[RTC_YEAR]!);
    const ms = Date.UTC(year, Math.max(0, this.dec(c[RTC_MONTH]!) - 1), this.dec(c[RTC_DAY_OF_MONTH]!) || 1, h, this.dec(c[RTC_MINUTES]!), this.dec(c[RTC_SECONDS]!));
    if (Number.isFinite(ms)) this.baseSeconds = Math.floor(ms / 1000) - Math.floor(this.clock.now() / SECOND_NS);
  }

  /** Periodic interrupt period in ns, or 0 when RS is 0 or the divider is stopped. */
  private periodNs(): number {
    const a = this.cmos[RTC_REG_A]!;
    const rs = a & 0x0f;
    if (rs === 0 || ((a >> 4) & 7) !== 2) return 0;
    const r = rs <= 2 ? rs + 7 : rs;
    return (SECOND_NS * (1 << (r - 1))) / 32768;
  }

  /** Sets PF/UF/AF for events between the last look and now. */
  private collectFlags(): void {
    const now = this.clock.now();
    const from = this.lastFlagsNs;
    this.lastFlagsNs = now;
    const p = this.periodNs();
    if (p > 0 && Math.floor(now / p) > Math.floor(from / p)) this.flags |= REG_C_PF;
    const setMode = (this.cmos[RTC_REG_B]! & REG_B_SET) !== 0;
    if (!setMode && Math.floor(now / SECOND_NS) > Math.floor(from / SECOND_NS)) {
      this.flags |= REG_C_UF;
      if (this.alarmMatches()) this.flags |= REG_C_AF;
    }
    this.updateIrqf();
  }

  private alarmMatches(): boolean {
    const c = this.cmos;
    const match = (alarm: number, reg: number): boolean => (alarm & 0xc0) === 0xc0 || alarm === this.timeRegister(reg);
    return match(c[RTC_SECONDS_ALARM]!, RTC_SECONDS) && match(c[RTC_MINUTES_ALARM]!, RTC_MINUTES) && match(c[RTC_HOURS_ALARM]!, RTC_HOURS);
  }

  private updateIrqf(): void {
    const b = this.cmos[RTC_REG_B]!;
    const active = (this.flags & REG_C_PF && b & REG_B_PIE) || (this.flags & REG_C_AF && b & REG_B_AIE) || (this.flags & REG_C_UF && b & REG_B_UIE);
    if (active) {
      this.flags |= REG_C_IRQF;
      this.setIrq(true);
    }
  }

  private setIrq(high: boolean): void {
    if (high === this.irqHigh) return;
    this.irqHigh = high;
    if (high) this.irq.raise();
    else this.irq.lower();
  }

  private rearm(): void {
    const now = this.clock.now();
    const b = this.cmos[RTC_REG_B]!;
    const p = this.periodNs();
    if (b & REG_B_PIE && p > 0) this.periodicTimer.arm((Math.floor(now / p) + 1) * p);
    else this.periodicTimer.cancel();
    if (b & (REG_B_UIE | REG_B_AIE) && !(b & REG_B_SET)) this.secondTimer.arm((Math.floor(now / SECOND_NS) + 1) * SECOND_NS);
    else this.secondTimer.cancel();
  }

  private onPeriodic(): void {
    this.collectFlags();
    this.rearm();
  }

  private onSecond(): void {
    this.collectFlags();
    this.rearm();
  }

  reset(kind: ResetKind): void {
    // RESET clears the interrupt enables and flags; time and RAM survive (the chip is battery-backed).
    this.cmos[RTC_REG_B] &= ~(REG_B_PIE | REG_B_AIE | REG_B_UIE);
    this.flags = 0;
    this.lastFlagsNs = this.clock.now();
    this.setIrq(false);
    this.index = 0;
    this.nmiMask = false;
    if (kind === 'power') this.updateChecksum();
    this.rearm();
  }

  /** The host's wall time when the state being loaded was saved (version 2), for postLoad. */
  private savedAtMs: number | null = null;

  static readonly STATE: StateSchema<Mc146818> = defineState<Mc146818>({
    id: 'mc146818',
    // 2: adds savedAtMs, the host's wall time at the save.
    version: 2,
    fields: [
      { name: 'cmos', type: 'bytes', since: 1, length: 128 },
      { name: 'index', type: 'u8', since: 1, mask: 0x7f },
      { name: 'nmiMask', type: 'bool', since: 1 },
      { name: 'baseSeconds', type: 'f64', since: 1 },
      { name: 'lastFlagsNs', type: 'f64', since: 1 },
      { name: 'flags', type: 'u8', since: 1, mask: 0xf0 },
      { name: 'irqHigh', type: 'bool', since: 1 },
      { name: 'savedAtMs', type: 'f64', since: 2, get: (r) => r.wallClockMs(), set: (r, v) => (r.savedAtMs = v as number) },
    ],
    postLoad: (r, version) => {
      // Version 2 knows when it was saved: the clock keeps time across the suspension, as a PC's
      // battery-backed RTC does while the machine is off (the guest's own offset from UTC is kept).
      // Version 1 resumes the clock where it stopped.
      if (version >= 2 && r.savedAtMs !== null) {
        const away = Math.floor((r.wallClockMs() - r.savedAtMs) / 1000);
        if (away > 0) r.baseSeconds += away;
      }
      r.savedAtMs = null;
    },
  });

  /** The schema save and load follow; the contract test reads it too. */
  get stateSchema(): StateSchema<unknown> {
    return Mc146818.STATE as StateSchema<unknown>;
  }

  saveState(): StateRecord {
    return saveBySchema(Mc146818.STATE, this);
  }

  loadState(s: StateRecord, version: number): void {
    loadBySchema(Mc146818.STATE, this, s, version);
  }

  reassertInterrupts(): void {
    if (this.irqHigh) this.irq.raise();
    this.rearm();
  }
}
