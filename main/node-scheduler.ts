// The VMM loop's clock and timers on Node (worker thread or Electron utility process).
import type { VmmScheduler } from '../vmm/vmm-process.ts';

export const nodeScheduler: VmmScheduler = {
  now: () => performance.now(),
  wallMs: () => Date.now(),
  soon: (f) => setImmediate(f),
  later: (f, ms) => setTimeout(f, ms),
  cancel: (h) => clearTimeout(h as NodeJS.Timeout),
};
