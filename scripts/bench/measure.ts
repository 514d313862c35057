// One benchmark pass over a runner: boot to the shell, then each workload between its markers.

import { commandLine, markers, type Workload } from './workloads.ts';
import type { GuestRunner } from './runner.ts';

export interface PassResult {
  engine: string;
  run: number;
  /** ms from start() to the guest's ready marker. */
  bootMs: number;
  /** Memory beyond guest RAM after the boot (MiB), when the runner can tell. */
  overheadMiB: number | null;
  workloads: Record<string, { ms: number; instructions: number | null }>;
  /** The translator's counters at the end of the pass (Hostbox's bt engine). */
  bt?: Record<string, number> | null;
  /**
   * The guest left at its prompt after the workloads, step by step: this process's CPU time (every
   * thread: the engine's and V8's compilers) over each step's wall time, and the guest instructions
   * run in it.
   */
  idle: IdleStep[] | null;
}

export interface IdleStep {
  ms: number;
  cpuMs: number;
  instructions: number | null;
}

/**
 * How long a pass leaves the guest idle at its prompt, measured in steps. Long enough to see both the
 * first seconds, while V8 may still be compiling the last workload's code, and the steady state.
 */
export interface IdleWindow {
  ms: number;
  stepMs: number;
}

export const IDLE_WINDOW: IdleWindow = { ms: 15000, stepMs: 1000 };

/** The share of a core (100 = one core) over some of a pass's idle steps. */
export function idleCpuPercent(steps: readonly IdleStep[]): number {
  const ms = steps.reduce((a, s) => a + s.ms, 0);
  return ms > 0 ? (100 * steps.reduce((a, s) => a + s.cpuMs, 0)) / ms : NaN;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Instructions between two readings of a counter that may be 32 bits and wrap (v86's). */
function counted(i0: number | null, i1: number | null): number | null {
  if (i0 === null || i1 === null) return null;
  return i1 - i0 < 0 ? i1 - i0 + 2 ** 32 : i1 - i0;
}

export async function measurePass(
  runner: GuestRunner,
  run: number,
  workloads: readonly Workload[],
  guest: { readyMarker: string; prompt: string },
  timeoutMs: number,
  idle: IdleWindow | null = IDLE_WINDOW,
): Promise<PassResult> {
  const t0 = performance.now();
  await runner.start();
  try {
    const ready = await runner.waitFor(guest.readyMarker, timeoutMs);
    await runner.waitFor(guest.prompt, timeoutMs);
    const result: PassResult = { engine: runner.engine, run, bootMs: ready - t0, overheadMiB: runner.overheadMiB?.() ?? null, workloads: {}, idle: null };
    for (const w of workloads) {
      const m = markers(w.name, run);
      runner.send(commandLine(w, run));
      // The typed line's echo cannot contain the markers (the shell assembles them), so the bare
      // marker is the guest's own output.
      const start = await runner.waitFor(m.start, timeoutMs);
      const i0 = runner.instructions();
      const end = await runner.waitFor(m.end, timeoutMs);
      result.workloads[w.name] = { ms: end - start, instructions: counted(i0, runner.instructions()) };
      await runner.waitFor(guest.prompt, timeoutMs);
    }
    if (idle) {
      // The "an idle guest must stay as cheap as it is today": the translator's idle guest
      // beside the interpreter's, in the same run. Not a time the guest reports: the host's cost.
      result.idle = [];
      for (let t = 0; t + idle.stepMs <= idle.ms; t += idle.stepMs) {
        const c0 = process.cpuUsage();
        const t0 = performance.now();
        const i0 = runner.instructions();
        await sleep(idle.stepMs);
        const c = process.cpuUsage(c0);
        result.idle.push({ ms: performance.now() - t0, cpuMs: (c.user + c.system) / 1000, instructions: counted(i0, runner.instructions()) });
      }
    }
    result.bt = runner.btStats?.() ?? null;
    return result;
  } finally {
    await runner.stop();
  }
}

export function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const n = s.length;
  if (n === 0) return NaN;
  return n % 2 ? s[(n - 1) / 2]! : (s[n / 2 - 1]! + s[n / 2]!) / 2;
}
