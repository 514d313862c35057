import { defineState, StateError } from './state/schema.ts';

// Virtual time. Devices never read the host's clock: they get a Clock, read now() in nanoseconds
// of guest time and arm timers on it. The machine's run loop fires due timers between slices of
// guest execution; tests use ManualClock and step time exactly.

export interface Timer {
  /** Fire at the given absolute guest time (ns); re-arming replaces the previous deadline. */
  arm(deadlineNs: number): void;
  cancel(): void;
  readonly armed: boolean;
  readonly deadline: number;
}

export interface Clock {
  /** Guest time in nanoseconds since power-on. Monotonic, stops while the VM is paused. */
  now(): number;
  createTimer(name: string, callback: (nowNs: number) => void): Timer;
}

class TimerImpl implements Timer {
  armed = false;
  deadline = Infinity;
  constructor(
    readonly name: string,
    readonly callback: (nowNs: number) => void,
    private readonly owner: TimerQueue,
  ) {}
  arm(deadlineNs: number): void {
    this.armed = true;
    this.deadline = deadlineNs;
    this.owner.changed();
  }
  cancel(): void {
    this.armed = false;
    this.deadline = Infinity;
    this.owner.changed();
  }
}

/** The timers of one machine; shared by the real and the manual clock. */
export abstract class TimerQueue implements Clock {
  private readonly timers: TimerImpl[] = [];
  private nextCache = Infinity;
  private dirty = false;

  abstract now(): number;

  createTimer(name: string, callback: (nowNs: number) => void): Timer {
    const t = new TimerImpl(name, callback, this);
    this.timers.push(t);
    return t;
  }

  changed(): void {
    this.dirty = true;
  }

  /** Every armed timer by name, for a saved state (names are unique within a machine). */
  armedTimers(): { name: string; deadline: number }[] {
    return this.timers.filter((t) => t.armed).map((t) => ({ name: t.name, deadline: t.deadline }));
  }

  /**
   * Makes exactly these timers armed, at these deadlines, and every other one idle: after a load
   * the clock's saved list is the truth, whatever a device's loadState armed on the way.
   */
  restoreTimers(list: readonly { name: string; deadline: number }[]): void {
    const byName = new Map(this.timers.map((t) => [t.name, t]));
    for (const { name } of list) if (!byName.has(name)) throw new Error(`clock: the saved state has a timer "${name}" that this machine does not have`);
    for (const t of this.timers) {
      t.armed = false;
      t.deadline = Infinity;
    }
    for (const { name, deadline } of list) {
      const t = byName.get(name)!;
      t.armed = true;
      t.deadline = deadline;
    }
    this.dirty = true;
  }

  /** Earliest armed deadline, or Infinity. */
  nextDeadline(): number {
    if (this.dirty) {
      let next = Infinity;
      for (const t of this.timers) if (t.armed && t.deadline < next) next = t.deadline;
      this.nextCache = next;
      this.dirty = false;
    }
    return this.nextCache;
  }

  /** Fire every timer whose deadline has passed; a callback may re-arm its own timer. */
  runDue(): void {
    const now = this.now();
    if (this.nextDeadline() > now) return;
    for (let round = 0; round < 64; round++) {
      let fired = false;
      for (const t of this.timers) {
        if (t.armed && t.deadline <= now) {
          t.armed = false;
          this.dirty = true;
          fired = true;
          t.callback(now);
        }
      }
      if (!fired || this.nextDeadline() > now) return;
    }
  }
}

/** Guest time that follows a host monotonic source (ms, like performance.now) while running. */
export class VirtualClock extends TimerQueue {
  /** The timers of a state being loaded, armed by restoreTimers after the devices. */
  loadedTimers: { name: string; deadline: number }[] = [];
  private offsetNs = 0;
  private pausedAt: number | null = 0;
  constructor(private readonly hostMs: () => number) {
    super();
  }
  now(): number {
    if (this.pausedAt !== null) return this.pausedAt;
    return this.hostMs() * 1e6 - this.offsetNs;
  }
  get running(): boolean {
    return this.pausedAt === null;
  }
  resume(): void {
    if (this.pausedAt === null) return;
    this.offsetNs = this.hostMs() * 1e6 - this.pausedAt;
    this.pausedAt = null;
  }
  pause(): void {
    if (this.pausedAt !== null) return;
    this.pausedAt = this.now();
  }
  /** Used when a saved state is restored: guest time continues from where it was saved. */
  setNow(ns: number): void {
    if (this.pausedAt !== null) this.pausedAt = ns;
    else this.offsetNs = this.hostMs() * 1e6 - ns;
  }
}

/** Armed timers as saved: (u16 name length, UTF-8 name, f64 deadline) each. */
function timersToBytes(list: readonly { name: string; deadline: number }[]): Uint8Array {
  const enc = new TextEncoder();
  const parts = list.map((t) => ({ name: enc.encode(t.name), deadline: t.deadline }));
  const out = new Uint8Array(parts.reduce((n, p) => n + 10 + p.name.length, 0));
  const dv = new DataView(out.buffer);
  let at = 0;
  for (const p of parts) {
    dv.setUint16(at, p.name.length, true);
    out.set(p.name, at + 2);
    dv.setFloat64(at + 2 + p.name.length, p.deadline, true);
    at += 10 + p.name.length;
  }
  return out;
}

function timersFromBytes(b: Uint8Array): { name: string; deadline: number }[] {
  const dv = new DataView(b.buffer, b.byteOffset, b.length);
  const dec = new TextDecoder('utf-8', { fatal: true });
  const out: { name: string; deadline: number }[] = [];
  for (let at = 0; at < b.length; ) {
    if (at + 2 > b.length) throw new StateError('clock: the saved timer list ends early');
    const n = dv.getUint16(at, true);
    if (at + 10 + n > b.length) throw new StateError('clock: the saved timer list ends early');
    let name: string;
    try {
      name = dec.decode(b.subarray(at + 2, at + 2 + n));
    } catch {
      throw new StateError('clock: a saved timer name is not UTF-8');
    }
    const deadline = dv.getFloat64(at + 2 + n, true);
    if (!Number.isFinite(deadline) || deadline < 0) throw new StateError(`clock: the saved timer "${name}" has no usable deadline`);
    out.push({ name, deadline });
    at += 10 + n;
  }
  return out;
}

/**
 * Guest time and the armed timers. Guest time continues from where it was saved (however long the
 * file sat on disk); the timers are put back by restoreTimers once every device is loaded.
 */
export const CLOCK_STATE = defineState<VirtualClock>({
  id: 'clock',
  version: 1,
  fields: [
    {
      name: 'nowNs',
      type: 'f64',
      since: 1,
      get: (c) => c.now(),
      set: (c, v) => {
        if (!Number.isFinite(v as number) || (v as number) < 0) throw new StateError(`clock: saved guest time ${String(v)} is not a time`);
        c.setNow(v as number);
      },
    },
    { name: 'timers', type: 'bytes', since: 1, get: (c) => timersToBytes(c.armedTimers()), set: (c, v) => (c.loadedTimers = timersFromBytes(v as Uint8Array)) },
  ],
});

/** Time that moves only when a test says so. */
export class ManualClock extends TimerQueue {
  private t = 0;
  now(): number {
    return this.t;
  }
  /** Advance to an absolute time, firing timers in deadline order on the way. */
  advanceTo(ns: number): void {
    for (;;) {
      const next = this.nextDeadline();
      if (next > ns) break;
      this.t = Math.max(this.t, next);
      this.runDue();
    }
    this.t = ns;
  }
  advance(ns: number): void {
    this.advanceTo(this.t + ns);
  }
}
