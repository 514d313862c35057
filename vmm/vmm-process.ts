// The VMM side of the process split: receives protocol messages, drives one Machine in slices and
// yields to the event loop between them, sleeps while the guest halts, and turns everything the
// machine reports into protocol messages. Runs unchanged in a worker thread, an Electron utility
// process or in-process; the caller supplies `post` and the two timer functions.

import { createMachine } from './machine.ts';
import type { Machine, MachineHost, RamRun, StateSection, VmConfig } from './machine-api.ts';
import { NET_MAX_BATCH, netBatch, parseToVmm, type FakeMachineKind, type FromVmm, type StateCommand } from './protocol.ts';

/** Makes a test stand-in machine; only test builds pass one (see main/vmm-entry-test-worker.ts). */
export type StandInFactory = (kind: FakeMachineKind, config: VmConfig, host: MachineHost) => Machine;

/** Host time given to the guest before the loop yields for messages. */
const SLICE_MS = 10;
/** Longest sleep while halted, so input and timers are never far away. */
const MAX_IDLE_MS = 20;
/** Pages Machine.prefault reads between looks at the clock. */
const PREFAULT_PAGES = 64;
/** Host time a suspend lets the guest run on to finish its IDE commands before giving up. */
const QUIESCE_LIMIT_MS = 10_000;
/** Host time between the unasked status reports (instructions retired, busy time) while the guest runs. */
const STATUS_EVERY_MS = 1000;
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
  /** When the last save was asked for (for the figures its log line gives). */
  private savedRequestedAt: number | null = null;
  /** Guest RAM not yet all mapped by the host (Machine.prefault). */
  private prefaulting = true;
  private sleeper: unknown = null;
  private scheduled = false;
  /** A suspend is waiting for the machine to be between IDE commands; since this host time. */
  private savingSince: number | null = null;
  /** Started for a restore: nothing runs until the saved state is committed. */
  private restoring: { sections: StateSection[]; ram: RamRun[] } | null = null;
  /** Serial output not yet posted, per port; posted after the slice, or before any other message so order holds. */
  private readonly consoleOut = new Map<number, number[]>();
  private consoleBytes = 0;
  private flushScheduled = false;
  /** Frames the NIC sent, not yet posted: they leave together after the slice, like serial output. */
  private netOut: Uint8Array[] = [];
  /** Host ms spent in runSlice since start, and when the last status report went out. */
  private busyMs = 0;
  private lastStatusAt = 0;

  /** `postNow` may move the listed buffers rather than copy them (a worker's postMessage transfer list). */
  constructor(
    private readonly postNow: (m: FromVmm, transfer?: ArrayBuffer[]) => void,
    private readonly sched: VmmScheduler,
    private readonly standIns?: StandInFactory,
  ) {}

  private post(m: FromVmm): void {
    this.flushOut();
    this.postNow(m);
  }

  private queueNet(frame: Uint8Array): void {
    this.netOut.push(frame);
    if (this.netOut.length >= NET_MAX_BATCH) this.flushOut();
    else this.flushSoon();
  }

  /** Output made outside a slice (while handling a message) leaves on the next turn. */
  private flushSoon(): void {
    if (this.flushScheduled) return;
    this.flushScheduled = true;
    this.sched.soon(() => {
      this.flushScheduled = false;
      this.flushOut();
    });
  }

  private queueConsole(port: number, data: Uint8Array): void {
    let q = this.consoleOut.get(port);
    if (!q) this.consoleOut.set(port, (q = []));
    for (const b of data) q.push(b);
    this.consoleBytes += data.length;
    if (this.consoleBytes >= CONSOLE_BATCH) this.flushOut();
    else this.flushSoon();
  }

  /** Posts the serial output and frames made so far (the NIC's frames are its own copies, so they are moved). */
  private flushOut(): void {
    if (this.netOut.length) {
      const { frames, transfer } = netBatch(this.netOut);
      this.netOut = [];
      this.postNow({ kind: 'net', frames }, transfer);
    }
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
        if (msg.op === 'start') this.start(msg.config, msg.fake, msg.restore === true);
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
        } else if (msg.op === 'power-button') {
          this.machine?.powerButton();
          this.wake();
        } else if (msg.op === 'stop') {
          this.stop();
        } else {
          const stats = this.machine?.stats() ?? { instructions: 0, guestTimeNs: 0 };
          this.post({ kind: 'status', running: this.running && !this.paused, stats, busyMs: this.busyMs });
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
      case 'mouse':
        this.machine?.mouse(msg.dx, msg.dy, msg.buttons, msg.dz);
        this.wake();
        return;
      case 'media':
        if (this.machine && !this.machine.changeCdrom(msg.sectors)) this.post({ kind: 'log', level: 'warn', message: 'this VM has no CD drive: the disc was not changed' });
        this.wake();
        return;
      case 'block':
        this.machine?.blockReply(msg.reply);
        this.wake();
        return;
      case 'state':
        this.state(msg);
        return;
      case 'net':
        if ('frames' in msg) for (const f of msg.frames) this.machine?.netIn(f);
        else this.machine?.setLink(msg.link);
        this.wake();
        return;
    }
  }

  private state(msg: StateCommand): void {
    const m = this.machine;
    const failed = (message: string): void => this.post({ kind: 'state', event: 'failed', message });
    if (msg.op === 'save') {
      if (!m || !m.saveState || !m.quiescent) return failed('this VM cannot be suspended (no machine, or one without saved state)');
      if (!this.running) return failed('the VM is not running');
      if (this.paused) return failed('the VM is paused: resume it first, so that its disk commands can finish');
      this.savingSince = this.sched.now();
      this.savedRequestedAt = this.savingSince;
      this.wake();
      return;
    }
    const r = this.restoring;
    if (!m || !r) return failed('no restore is under way');
    if (msg.op === 'load') r.sections.push(...msg.sections);
    else if (msg.op === 'ram') r.ram.push(...msg.runs);
    else {
      this.restoring = null;
      try {
        if (!m.loadState) throw new Error('this machine cannot load a saved state');
        m.loadState(r.sections, r.ram);
      } catch (e) {
        // The machine may be half loaded: it must never run.
        this.machine = null;
        this.running = false;
        this.post({ kind: 'fatal', message: (e as Error).message });
        return;
      }
      this.running = true;
      this.post({ kind: 'state', event: 'loaded' });
      this.wake();
    }
  }

  /** The suspend's second half, between slices once the machine is quiescent: stop and stream it all. */
  private finishSave(m: Machine): void {
    this.savingSince = null;
    // Paused, not stopped: if the host cannot write the file it sends 'resume' and the guest runs on.
    m.pause();
    this.paused = true;
    let saved;
    try {
      const t0 = this.sched.now();
      saved = m.saveState!();
      for (const section of saved.sections) this.post({ kind: 'state', event: 'section', section });
      const t1 = this.sched.now();
      // Each run is a copy of its own: moved to the host, not copied again.
      for (const run of saved.ram) this.postNow({ kind: 'state', event: 'ram', run }, [run.data.buffer as ArrayBuffer]);
      this.post({ kind: 'log', level: 'info', message: `save (ms): waiting for the guest to be between disk commands ${(t0 - (this.savedRequestedAt ?? t0)).toFixed(0)}, sections ${(t1 - t0).toFixed(0)}, RAM ${(this.sched.now() - t1).toFixed(0)}` });
    } catch (e) {
      this.paused = false;
      m.resume();
      this.post({ kind: 'state', event: 'failed', message: `the VMM could not save the machine: ${(e as Error).message}` });
      this.wake();
      return;
    }
    this.post({ kind: 'state', event: 'saved', stats: m.stats() });
  }

  private start(config: VmConfig, fake?: FakeMachineKind, restore = false): void {
    if (this.machine) {
      this.post({ kind: 'log', level: 'warn', message: 'start ignored: the VM is already running' });
      return;
    }
    const host: MachineHost = {
      serialOut: (port, data) => this.queueConsole(port, data),
      display: (screen) => this.post({ kind: 'display', screen }),
      block: (req) => this.post({ kind: 'block', req }),
      net: (frame) => this.queueNet(frame),
      power: (event, detail) => {
        this.post({ kind: 'lifecycle', event, detail });
        if (event === 'poweroff') this.running = false;
      },
      log: (level, message) => this.post({ kind: 'log', level, message }),
    };
    try {
      const wallMs = (): number => this.sched.wallMs?.() ?? 0;
      if (fake && !this.standIns) throw new Error('stand-in machines are not part of this build');
      this.machine = fake ? this.standIns!(fake, config, host) : createMachine(config, host, () => this.sched.now(), wallMs, { forRestore: restore });
    } catch (e) {
      this.post({ kind: 'fatal', message: (e as Error).message });
      return;
    }
    if (restore) {
      this.restoring = { sections: [], ram: [] };
      this.post({ kind: 'lifecycle', event: 'started' });
      return;
    }
    this.running = true;
    this.lastStatusAt = this.sched.now();
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
    if (this.savingSince !== null) {
      if (m.quiescent!()) return this.finishSave(m);
      if (this.sched.now() - this.savingSince > QUIESCE_LIMIT_MS) {
        this.savingSince = null;
        this.post({ kind: 'state', event: 'failed', message: `the guest did not finish its disk commands within ${QUIESCE_LIMIT_MS / 1000} s; the VM runs on` });
      }
    }
    let state;
    try {
      const t0 = this.sched.now();
      state = m.runSlice(this.savingSince !== null ? 1 : SLICE_MS);
      const t1 = this.sched.now();
      this.busyMs += t1 - t0;
      this.flushOut();
      if (t1 - this.lastStatusAt >= STATUS_EVERY_MS) {
        this.lastStatusAt = t1;
        this.postNow({ kind: 'status', running: state !== 'off', stats: m.stats(), busyMs: this.busyMs });
      }
    } catch (e) {
      // A host-side bug in the VMM: report it with its stack so it can be fixed, and stop.
      this.running = false;
      const err = e as Error;
      this.post({ kind: 'fatal', message: `the VMM failed: ${err.message}\n${err.stack ?? ''}` });
      return;
    }
    if (state === 'off') {
      this.running = false;
      if (this.savingSince !== null) {
        this.savingSince = null;
        this.post({ kind: 'state', event: 'failed', message: 'the guest powered off before it could be suspended' });
      }
      return;
    }
    if (state === 'halted') {
      // Idle: map more of guest RAM, in up to half the time the guest will sleep (10 ms at most).
      const idleMs = m.idleMs();
      if (this.prefaulting && idleMs > 2) {
        const t0 = this.sched.now();
        const budget = Math.min(10, idleMs / 2);
        while (this.prefaulting && this.sched.now() - t0 < budget) this.prefaulting = m.prefault?.(PREFAULT_PAGES) ?? false;
      }
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
