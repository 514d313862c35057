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
}

export async function measurePass(
  runner: GuestRunner,
  run: number,
  workloads: readonly Workload[],
  guest: { readyMarker: string; prompt: string },
  timeoutMs: number,
): Promise<PassResult> {
  const t0 = performance.now();
  await runner.start();
  try {
    const ready = await runner.waitFor(guest.readyMarker, timeoutMs);
    await runner.waitFor(guest.prompt, timeoutMs);
    const result: PassResult = { engine: runner.engine, run, bootMs: ready - t0, overheadMiB: runner.overheadMiB?.() ?? null, workloads: {} };
    for (const w of workloads) {
      const m = markers(w.name, run);
      runner.send(commandLine(w, run));
      // The typed line's echo cannot contain the markers (the shell assembles them), so the bare
      // marker is the guest's own output.
      const start = await runner.waitFor(m.start, timeoutMs);
      const i0 = runner.instructions();
      const end = await runner.waitFor(m.end, timeoutMs);
      const i1 = runner.instructions();
      // v86's counter is 32 bits and wraps; a negative difference means one wrap.
      const delta = i0 !== null && i1 !== null ? (i1 - i0 < 0 ? i1 - i0 + 2 ** 32 : i1 - i0) : null;
      result.workloads[w.name] = { ms: end - start, instructions: delta };
      await runner.waitFor(guest.prompt, timeoutMs);
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
