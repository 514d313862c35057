// Intel 8254 programmable interval timer (datasheet 231164: operating modes 0-5, control word,
// counter latch and read-back commands, the read/write sequences), as on the PC: ports 0x40-0x43,
// 1.193182 MHz input on all three counters, counter 0's OUT on IRQ0, counter 1 the (ignored) DRAM
// refresh, counter 2 gated and read through port 0x61 (port61.ts).
//
// Counts are derived from guest time rather than ticked: each counter remembers when it was loaded,
// and its value and OUT level follow from the elapsed input clocks. Only counter 0 arms a Timer, at
// the next rising edge of OUT, so an idle guest costs nothing between interrupts.

import type { IoRange } from '../../bus.ts';
import type { Clock, Timer } from '../../clock.ts';
import type { Device, ResetKind, StateRecord } from '../../device.ts';
import { defineState, loadBySchema, saveBySchema, StateError, type FieldSpec, type StateSchema } from '../../state/schema.ts';
import type { IrqLine } from '../../irq.ts';

export const PIT_HZ = 1_193_182;
/** At most this many lost periodic ticks are kept for re-delivery (a few seconds at common rates). */
const MAX_LOST_TICKS = 1000;
/** Guest time between re-delivery attempts: the guest's tick handler runs in between. */
const CATCH_UP_NS = 200_000;

/** Input clocks elapsed between two guest times (ns). */
function clocksBetween(fromNs: number, toNs: number): number {
  return Math.floor(((toNs - fromNs) * PIT_HZ) / 1e9);
}
/** Guest time of the given number of input clocks after `fromNs` (rounded up). */
function timeOfClock(fromNs: number, clocks: number): number {
  return fromNs + Math.ceil((clocks * 1e9) / PIT_HZ);
}

// Access modes (control word bits 5-4).
const RW_LATCH = 0;
const RW_LSB = 1;
const RW_MSB = 2;
const RW_WORD = 3;

class Counter {
  mode = 0;
  rw = RW_WORD;
  bcd = false;
  /** The count register (CR) as written: 0 means 0x10000 (or 10000 in BCD). */
  reload = 0;
  /** Guest time at which counting from `reload` began; null while waiting for a count or trigger. */
  start: number | null = null;
  gate = true;
  /** Mode 0/4 counting paused by the gate: the value the counter holds. */
  frozen: number | null = null;
  writeLow = true;
  pendingLsb = 0;
  readLow = true;
  latched: number | null = null;
  latchedHighNext = false;
  statusLatched: number | null = null;
  nullCount = true;
  /** Mode 0 OUT stays high after terminal count until reprogrammed. */
  constructor(readonly index: number) {}

  period(): number {
    if (this.reload === 0) return this.bcd ? 10000 : 0x10000;
    return this.bcd ? bcdToBin(this.reload) || 10000 : this.reload;
  }

  /** Clocks counted since start (0 if not counting). */
  elapsed(now: number): number {
    return this.start === null ? 0 : clocksBetween(this.start, now);
  }

  /** The counting element's value now (binary), as a read would see it. */
  value(now: number): number {
    if (this.frozen !== null) return this.frozen;
    const n = this.period();
    if (this.start === null) return this.reload & 0xffff;
    const t = this.elapsed(now);
    switch (this.mode) {
      case 0:
      case 1:
      case 4:
      case 5: {
        // Counts down from N and wraps through 0xFFFF (or 9999 in BCD) after terminal count.
        const mod = this.bcd ? 10000 : 0x10000;
        return (((n - t) % mod) + mod) % mod;
      }
      case 2:
        return n - (t % n);
      default: {
        // Mode 3 decrements by two; each half period reloads (odd counts: the high half is one longer).
        const d = t % n;
        const high = Math.ceil(n / 2);
        const v = d < high ? n - 2 * d : n - 2 * (d - high);
        return (v & ~1) === 0 ? n : v & 0xfffe;
      }
    }
  }

  out(now: number): boolean {
    const n = this.period();
    switch (this.mode) {
      case 0:
        if (this.start === null) return false;
        // Gated off, OUT keeps what the clocks counted so far made it: a count of 0 (65536) that
        // has not run reads 0 but has not reached terminal count.
        if (this.frozen !== null) return this.elapsedAtFreeze >= n;
        return this.elapsed(now) >= n;
      case 1:
        if (this.start === null) return true;
        return this.elapsed(now) >= n;
      case 2:
        if (this.start === null || !this.gate) return true;
        return this.elapsed(now) % n !== n - 1;
      case 3:
        if (this.start === null || !this.gate) return true;
        return this.elapsed(now) % n < Math.ceil(n / 2);
      default:
        // Modes 4 and 5: one clock low at terminal count, which a gated-off mode 4 never reaches.
        if (this.start === null || this.frozen !== null) return true;
        return this.elapsed(now) !== n;
    }
  }

  elapsedAtFreeze = 0;
}

function bcdToBin(v: number): number {
  return ((v >> 12) & 0xf) * 1000 + ((v >> 8) & 0xf) * 100 + ((v >> 4) & 0xf) * 10 + (v & 0xf);
}
function binToBcd(v: number): number {
  v %= 10000;
  return ((Math.floor(v / 1000) % 10) << 12) | ((Math.floor(v / 100) % 10) << 8) | ((Math.floor(v / 10) % 10) << 4) | v % 10;
}

/** A number-or-nothing field, saved as the number or -1 (every real value is non-negative). */
function orNone(name: 'start' | 'frozen' | 'latched' | 'statusLatched'): FieldSpec<Counter> {
  return {
    name,
    type: 'f64',
    since: 1,
    get: (c) => c[name] ?? -1,
    set: (c, v) => {
      const n = v as number;
      if (!Number.isFinite(n) || n < -1) throw new StateError(`i8254: saved field "${name}" is ${n}`);
      c[name] = n < 0 ? null : n;
    },
  };
}

/** A version-1 state (format-1 files): `counters` as a list, each start relative to the save. */
function upgradeV1(rec: StateRecord, now: number): StateRecord {
  const list = rec['counters'];
  if (!Array.isArray(list) || list.length !== 3 || !list.every((c) => typeof c === 'object' && c !== null && !Array.isArray(c) && !(c instanceof Uint8Array)))
    throw new StateError('i8254: saved state version 1 does not hold three counters');
  const out: StateRecord = { irqHigh: rec['irqHigh'] ?? null, armedEdge: -1, firedEdge: -1, lostTicks: 0 };
  (list as StateRecord[]).forEach((c, i) => {
    const { sinceStart, ...rest } = c;
    out[`counter${i}`] = { ...rest, start: typeof sinceStart === 'number' && sinceStart >= 0 ? now - sinceStart : -1, latchedHighNext: false };
  });
  return out;
}

const COUNTER_STATE: StateSchema<Counter> = defineState<Counter>({
  id: 'i8254 counter',
  version: 2,
  fields: [
    { name: 'mode', type: 'u8', since: 1, mask: 7 },
    { name: 'rw', type: 'u8', since: 1, mask: 3 },
    { name: 'bcd', type: 'bool', since: 1 },
    { name: 'reload', type: 'u16', since: 1 },
    orNone('start'),
    { name: 'gate', type: 'bool', since: 1 },
    orNone('frozen'),
    { name: 'elapsedAtFreeze', type: 'f64', since: 1 },
    { name: 'writeLow', type: 'bool', since: 1 },
    { name: 'pendingLsb', type: 'u8', since: 1 },
    { name: 'readLow', type: 'bool', since: 1 },
    orNone('latched'),
    { name: 'latchedHighNext', type: 'bool', since: 1 },
    orNone('statusLatched'),
    { name: 'nullCount', type: 'bool', since: 1 },
  ],
});

export class I8254 implements Device {
  readonly stateId = 'i8254';
  get stateVersion(): number {
    return this.stateSchema.version;
  }
  readonly ioRanges: IoRange[];
  private readonly counters = [new Counter(0), new Counter(1), new Counter(2)];
  private readonly timer: Timer;
  private irqHigh = false;

  constructor(
    private readonly clock: Clock,
    private readonly irq0: IrqLine,
    /**
     * Whether IRQ0's last request still waits in the interrupt controller (not yet acknowledged).
     * With it, periodic ticks that would merge into a pending request are counted and delivered
     * later, one at a time (see `lostTicks`).
     */
    private readonly tickPending: () => boolean = () => false,
  ) {
    this.timer = clock.createTimer('i8254 counter 0', () => this.onTimer());
    this.catchUp = clock.createTimer('i8254 lost ticks', () => this.onCatchUp());
    this.ioRanges = [
      {
        name: 'i8254',
        base: 0x40,
        length: 4,
        read: (off) => (off === 3 ? 0xff : this.readCounter(this.counters[off]!)),
        write: (off, _size, v) => (off === 3 ? this.writeControl(v & 0xff) : this.writeCounter(this.counters[off]!, v & 0xff)),
        peek: (off) => (off === 3 ? 0xff : this.counters[off]!.value(this.clock.now()) & 0xff),
      },
    ];
  }

  // ---- counter 2 as port 0x61 sees it ----

  setGate2(level: boolean): void {
    this.setGate(this.counters[2]!, level);
  }
  gate2(): boolean {
    return this.counters[2]!.gate;
  }
  out2(): boolean {
    return this.counters[2]!.out(this.clock.now());
  }

  private setGate(c: Counter, level: boolean): void {
    if (c.gate === level) return;
    const now = this.clock.now();
    c.gate = level;
    switch (c.mode) {
      case 0:
      case 4:
        // The gate pauses counting.
        if (!level) {
          if (c.start !== null) {
            c.elapsedAtFreeze = c.elapsed(now);
            c.frozen = c.value(now);
          }
        } else if (c.frozen !== null && c.start !== null) {
          const done = c.elapsedAtFreeze;
          c.start = now - Math.floor((done * 1e9) / PIT_HZ);
          c.frozen = null;
        }
        break;
      case 1:
      case 5:
        // A rising edge (re)triggers the count.
        if (level) c.start = now;
        break;
      case 2:
      case 3:
        // Low stops the counter with OUT high; a rising edge reloads and restarts.
        if (level) c.start = now;
        break;
    }
    if (c.index === 0) {
      this.firedEdge = -1;
      this.reschedule();
    }
  }

  private writeControl(v: number): void {
    const sc = v >> 6;
    if (sc === 3) {
      this.readBack(v);
      return;
    }
    const c = this.counters[sc]!;
    const rw = (v >> 4) & 3;
    const now = this.clock.now();
    if (rw === RW_LATCH) {
      if (c.latched === null) {
        c.latched = this.readableValue(c, now);
        c.latchedHighNext = c.rw === RW_MSB;
      }
      return;
    }
    c.rw = rw;
    c.mode = (v >> 1) & 7;
    if (c.mode > 5) c.mode -= 4; // 6 and 7 are aliases of 2 and 3
    c.bcd = (v & 1) !== 0;
    c.start = null;
    c.frozen = null;
    c.writeLow = true;
    c.readLow = true;
    c.latched = null;
    c.statusLatched = null;
    c.nullCount = true;
    if (sc === 0) {
      this.firedEdge = -1;
      this.lostTicks = 0;
      this.reschedule();
    }
  }

  private readBack(v: number): void {
    const now = this.clock.now();
    for (let i = 0; i < 3; i++) {
      if (!(v & (2 << i))) continue;
      const c = this.counters[i]!;
      if (!(v & 0x10) && c.statusLatched === null) {
        c.statusLatched =
          (c.out(now) ? 0x80 : 0) | (c.nullCount ? 0x40 : 0) | (c.rw << 4) | (c.mode << 1) | (c.bcd ? 1 : 0);
      }
      if (!(v & 0x20) && c.latched === null) {
        c.latched = this.readableValue(c, now);
        c.latchedHighNext = c.rw === RW_MSB;
      }
    }
  }

  private readableValue(c: Counter, now: number): number {
    const v = c.value(now) & 0xffff;
    return c.bcd ? binToBcd(v) : v;
  }

  private writeCounter(c: Counter, v: number): void {
    let complete = false;
    switch (c.rw) {
      case RW_LSB:
        c.reload = v;
        complete = true;
        break;
      case RW_MSB:
        c.reload = v << 8;
        complete = true;
        break;
      default:
        if (c.writeLow) {
          c.pendingLsb = v;
          c.writeLow = false;
          // Mode 0: writing the first byte stops the count (OUT stays low).
          if (c.mode === 0) {
            c.start = null;
            c.frozen = null;
          }
        } else {
          c.reload = c.pendingLsb | (v << 8);
          c.writeLow = true;
          complete = true;
        }
    }
    if (!complete) return;
    c.nullCount = false;
    const now = this.clock.now();
    // Modes 1 and 5 wait for a gate trigger; the others start on the clock after the write.
    if (c.mode === 1 || c.mode === 5) {
      if (c.start === null) return;
    } else {
      c.start = now;
      c.frozen = null;
      if (!c.gate && (c.mode === 0 || c.mode === 4)) {
        c.elapsedAtFreeze = 0;
        c.frozen = c.period() & 0xffff;
      }
    }
    if (c.index === 0) {
      this.firedEdge = -1;
      this.lostTicks = 0;
      this.reschedule();
    }
  }

  private readCounter(c: Counter): number {
    if (c.statusLatched !== null) {
      const s = c.statusLatched;
      c.statusLatched = null;
      return s;
    }
    const now = this.clock.now();
    let v: number;
    let fromLatch = false;
    if (c.latched !== null) {
      v = c.latched;
      fromLatch = true;
    } else {
      v = this.readableValue(c, now);
    }
    let byte: number;
    switch (c.rw) {
      case RW_LSB:
        byte = v & 0xff;
        if (fromLatch) c.latched = null;
        break;
      case RW_MSB:
        byte = (v >> 8) & 0xff;
        if (fromLatch) c.latched = null;
        break;
      default:
        if (c.readLow) {
          byte = v & 0xff;
          c.readLow = false;
        } else {
          byte = (v >> 8) & 0xff;
          c.readLow = true;
          if (fromLatch) c.latched = null;
        }
    }
    return byte;
  }

  /**
   * Arms the timer at counter 0's next OUT rising edge, which is when IRQ0 is requested. Edges are
   * events, not samples: the timer may run late by many input clocks, and a one-clock pulse (modes 2
   * and 4) must still reach the PIC as an edge.
   */
  private reschedule(): void {
    const c = this.counters[0]!;
    const now = this.clock.now();
    // The line follows OUT's steady level; pulses are generated in onTimer.
    const steady = c.mode === 0 || c.mode === 1 ? c.out(now) : true;
    if (steady !== this.irqHigh) this.driveIrq(steady);
    const edge = this.nextEdge(c, now);
    if (edge === null) {
      this.timer.cancel();
      return;
    }
    this.armedEdge = edge;
    this.timer.arm(timeOfClock(c.start!, edge));
  }

  /** Input-clock count (since start) of counter 0's next rising OUT edge after the last one fired. */
  private nextEdge(c: Counter, now: number): number | null {
    if (c.start === null || c.frozen !== null || (!c.gate && c.mode >= 2)) return null;
    const n = c.period();
    const t = Math.max(c.elapsed(now), this.firedEdge);
    switch (c.mode) {
      case 0:
      case 1:
        return t < n ? n : null;
      case 2:
      case 3:
        return (Math.floor(t / n) + 1) * n;
      default:
        // Modes 4 and 5: one strobe per count. It is delivered even when the host was so late that
        // its time has already passed, since guest time can move on between the count being loaded
        // and this look at the clock; a lost strobe would stop a tickless guest's timer for good.
        return this.firedEdge <= n ? n + 1 : null;
    }
  }

  private armedEdge = -1;
  /** The edge (clock count since start) last delivered, so a late timer never delivers it twice. */
  private firedEdge = -1;

  private onTimer(): void {
    const c = this.counters[0]!;
    if (c.start === null) return;
    this.firedEdge = this.armedEdge;
    if (c.mode === 0 || c.mode === 1) {
      this.driveIrq(true);
    } else {
      if (c.mode === 2 || c.mode === 3) {
        // The host ran late (a busy machine): every periodic edge that passed unseen, or that would
        // merge into a request the guest has not taken yet, is a tick the guest's clock would lose.
        const n = c.period();
        const passed = Math.floor(c.elapsed(this.clock.now()) / n) - Math.floor(this.armedEdge / n);
        this.lostTicks = Math.min(MAX_LOST_TICKS, this.lostTicks + Math.max(0, passed) + (this.tickPending() ? 1 : 0));
      }
      this.pulse();
    }
    this.reschedule();
    if (this.lostTicks > 0 && !this.catchUp.armed) this.catchUp.arm(this.clock.now() + CATCH_UP_NS);
  }

  /** A fresh rising edge even though the steady level is high. */
  private pulse(): void {
    this.irq0.lower();
    this.irq0.raise();
    this.irqHigh = true;
  }

  /** Lost periodic ticks, re-delivered one at a time once the previous one was taken (QEMU's "delay" policy). */
  private lostTicks = 0;
  private readonly catchUp: Timer;

  private onCatchUp(): void {
    const c = this.counters[0]!;
    if (this.lostTicks === 0 || c.start === null || (c.mode !== 2 && c.mode !== 3)) {
      this.lostTicks = 0;
      return;
    }
    if (!this.tickPending()) {
      this.pulse();
      this.lostTicks--;
    }
    if (this.lostTicks > 0) this.catchUp.arm(this.clock.now() + CATCH_UP_NS);
  }

  private driveIrq(high: boolean): void {
    this.irqHigh = high;
    if (high) this.irq0.raise();
    else this.irq0.lower();
  }

  reset(_kind: ResetKind): void {
    for (let i = 0; i < 3; i++) {
      const c = new Counter(i);
      Object.assign(this.counters[i]!, c);
    }
    this.timer.cancel();
    this.catchUp.cancel();
    this.lostTicks = 0;
    if (this.irqHigh) this.driveIrq(false);
  }

  /**
   * The three counters, the IRQ 0 level and the tick bookkeeping. Guest time is restored before any
   * device, so a counter's start is kept as the absolute guest time it began.
   */
  static readonly STATE: StateSchema<I8254> = defineState<I8254>({
    id: 'i8254',
    // 2: one record per counter, absolute start times, the half-read latch and the edge and lost-tick
    // bookkeeping; version 1 (format-1 files) kept a list of counters with times relative to the save.
    version: 2,
    upgrade: (rec, from, pit) => (from === 1 ? upgradeV1(rec, pit['clock'].now()) : null),
    fields: [
      ...[0, 1, 2].map((i): FieldSpec<I8254> => ({ name: `counter${i}`, type: 'record', since: 2, record: COUNTER_STATE, of: (p) => p.counters[i]! })),
      { name: 'irqHigh', type: 'bool', since: 1 },
      { name: 'armedEdge', type: 'f64', since: 2 },
      { name: 'firedEdge', type: 'f64', since: 2 },
      { name: 'lostTicks', type: 'u32', since: 2 },
    ],
  });

  /** The schema save and load follow; the contract test reads it too. */
  get stateSchema(): StateSchema<unknown> {
    return I8254.STATE as StateSchema<unknown>;
  }

  saveState(): StateRecord {
    return saveBySchema(I8254.STATE, this);
  }

  loadState(s: StateRecord, version: number): void {
    loadBySchema(I8254.STATE, this, s, version);
  }

  reassertInterrupts(): void {
    this.reschedule();
  }
}
