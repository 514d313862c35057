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
