// What in-process machine tests share: the VGA text screen as lines, and one slice of guest time
// that then gives the event loop its turn (waiting for the guest's next timer when it halted).
import type { Machine, TextScreen } from '../vmm/machine-api.ts';

/** The screen's rows as text (character bytes only, trailing blanks dropped). */
export const screenText = (s: TextScreen): string[] =>
  Array.from({ length: s.rows }, (_, r) => Array.from(s.cells.subarray(r * s.cols, (r + 1) * s.cols), (c) => String.fromCharCode(c & 0xff || 32)).join('').trimEnd());

/** Runs `m` for a 20 ms slice, then yields: until its next timer (at most 5 ms) if it halted. */
export async function sliceAndYield(m: Machine): Promise<void> {
  if (m.runSlice(20) === 'halted') await new Promise((r) => setTimeout(r, Math.min(5, m.idleMs())));
  else await new Promise((r) => setImmediate(r));
}
