// The VMM side of the process split: receives protocol messages, drives one Machine in slices and
// yields to the event loop between them, sleeps while the guest halts, and turns everything the
// machine reports into protocol messages. Runs unchanged in a worker thread, an Electron utility
// process or in-process; the caller supplies `post` and the two timer functions.

import { createMachine } from './machine.ts';
import type { Machine, MachineHost, VmConfig } from './machine-api.ts';
import { parseToVmm, type FakeMachineKind, type FromVmm } from './protocol.ts';

/** Makes a test stand-in machine; only test builds pass one (see main/vmm-entry-test-worker.ts). */
export type StandInFactory = (kind: FakeMachineKind, config: VmConfig, host: MachineHost) => Machine;

/** Host time given to the guest before the loop yields for messages. */
const SLICE_MS = 10;
/** Longest sleep while halted, so input and timers are never far away. */
const MAX_IDLE_MS = 20;
/** A UART hands over its output a byte at a time; it leaves as one message per slice, or at this size. */
const CONSOLE_BATCH = 64 * 1024;

export interface VmmScheduler {
  /** The host's monotonic clock, ms. */
  now(): number;
  /** The host's calendar time, ms since the epoch (the RTC's setting). */
  wallMs?(): number;
  soon(f: () => void): void;
  later(f: () => void, ms: number): unknown;
  cancel(handle: unknown): void;
}

export class VmmProcess {
  private machine: Machine | null = null;
  private running = false;
  private paused = false;
  private sleeper: unknown = null;
  private scheduled = false;
  /** Serial output not yet posted, per port; posted after the slice, or before any other message so order holds. */
  private readonly consoleOut = new Map<number, number[]>();
  private consoleBytes = 0;
  private consoleFlushScheduled = false;

  constructor(
    private readonly postNow: (m: FromVmm) => void,
    private readonly sched: VmmScheduler,
    private readonly standIns?: StandInFactory,
  ) {}

  private post(m: FromVmm): void {
    this.flushConsole();
    this.postNow(m);
  }

  private queueConsole(port: number, data: Uint8Array): void {
    let q = this.consoleOut.get(port);
    if (!q) this.consoleOut.set(port, (q = []));
    for (const b of data) q.push(b);
    this.consoleBytes += data.length;
    if (this.consoleBytes >= CONSOLE_BATCH) this.flushConsole();
    else if (!this.consoleFlushScheduled) {
      // Output made outside a slice (while handling a message) leaves on the next turn.
      this.consoleFlushScheduled = true;
      this.sched.soon(() => {
        this.consoleFlushScheduled = false;
        this.flushConsole();
      });
    }
  }

  private flushConsole(): void {
    if (this.consoleBytes === 0) return;
    for (const [port, q] of this.consoleOut) if (q.length) this.postNow({ kind: 'console', port, data: Uint8Array.from(q) });
    this.consoleOut.clear();
    this.consoleBytes = 0;
  }

  /** Entry point for every message from the host. Malformed messages are reported, not obeyed. */
  receive(raw: unknown): void {
    let msg;
    try {
      msg = parseToVmm(raw);
    } catch (e) {
      this.post({ kind: 'log', level: 'warn', message: (e as Error).message });
      return;
    }
    switch (msg.kind) {
      case 'lifecycle':
        if (msg.op === 'start') this.start(msg.config, msg.fake);
        else if (msg.op === 'pause') {
          this.paused = true;
          this.machine?.pause();
          this.post({ kind: 'lifecycle', event: 'paused' });
        } else if (msg.op === 'resume') {
          this.paused = false;
          this.machine?.resume();
          this.post({ kind: 'lifecycle', event: 'resumed' });
          this.wake();
        } else if (msg.op === 'reset') {
          this.machine?.reset();
          this.wake();
        } else if (msg.op === 'stop') {
          this.stop();
        } else {
          const stats = this.machine?.stats() ?? { instructions: 0, guestTimeNs: 0 };
          this.post({ kind: 'status', running: this.running && !this.paused, stats });
        }
        return;
      case 'console':
        this.machine?.serialIn(msg.port, msg.data);
        this.wake();
        return;
      case 'input':
        this.machine?.keyboard(msg.scancodes);
        this.wake();
        return;
      case 'block':
        this.machine?.blockReply(msg.reply);
        this.wake();
        return;
    }
  }

  private start(config: VmConfig, fake?: FakeMachineKind): void {
    if (this.machine) {
      this.post({ kind: 'log', level: 'warn', message: 'start ignored: the VM is already running' });
      return;
    }
    const host: MachineHost = {
      serialOut: (port, data) => this.queueConsole(port, data),
      display: (screen) => this.post({ kind: 'display', screen }),
      block: (req) => this.post({ kind: 'block', req }),
      power: (event, detail) => {
        this.post({ kind: 'lifecycle', event, detail });
        if (event === 'poweroff') this.running = false;
      },
      log: (level, message) => this.post({ kind: 'log', level, message }),
    };
    try {
      const wallMs = (): number => this.sched.wallMs?.() ?? 0;
      if (fake && !this.standIns) throw new Error('stand-in machines are not part of this build');
      this.machine = fake ? this.standIns!(fake, config, host) : createMachine(config, host, () => this.sched.now(), wallMs);
    } catch (e) {
      this.post({ kind: 'fatal', message: (e as Error).message });
      return;
    }
    this.running = true;
    this.post({ kind: 'lifecycle', event: 'started' });
    this.wake();
  }

  private stop(): void {
    this.running = false;
    this.machine?.pause();
    if (this.sleeper !== null) this.sched.cancel(this.sleeper);
    this.sleeper = null;
    this.post({ kind: 'lifecycle', event: 'stopped' });
  }

  /** Makes sure the loop runs soon (after input arrives while the guest sleeps in HLT). */
  private wake(): void {
    if (this.sleeper !== null) {
      this.sched.cancel(this.sleeper);
      this.sleeper = null;
    }
    if (!this.scheduled) {
      this.scheduled = true;
      this.sched.soon(this.loop);
    }
  }

  private loop = (): void => {
    this.scheduled = false;
    const m = this.machine;
    if (!m || !this.running || this.paused) return;
    let state;
    try {
      state = m.runSlice(SLICE_MS);
      this.flushConsole();
    } catch (e) {
      // A host-side bug in the VMM: report it with its stack so it can be fixed, and stop.
      this.running = false;
      const err = e as Error;
      this.post({ kind: 'fatal', message: `the VMM failed: ${err.message}\n${err.stack ?? ''}` });
      return;
    }
    if (state === 'off') {
      this.running = false;
      return;
    }
    if (state === 'halted') {
      const idle = Math.min(MAX_IDLE_MS, m.idleMs());
      this.sleeper = this.sched.later(() => {
        this.sleeper = null;
        this.wake();
      }, Math.max(0, idle));
      return;
    }
    this.scheduled = true;
    this.sched.soon(this.loop);
  };
}
