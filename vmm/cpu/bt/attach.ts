// Choosing a CPU engine: the interpreter alone, the translator (bt; auto means bt), or the check
// engine, which runs each translation and then the interpreter over the same instructions and stops
// at the first difference.

import type { Cpu } from '../cpu.ts';
import { BtEngine } from './engine.ts';
import { installCheck, type CheckOptions } from './check.ts';

export type EngineName = 'interpreter' | 'bt' | 'auto' | 'check';

export interface EngineOptions extends CheckOptions {
  readonly hotThreshold?: number;
  /** The host's monotonic clock in ms, to account the time spent translating (the VMM reads no clock of its own). */
  readonly hostMs?: () => number;
  /** WebAssembly translations where the subset allows (default true). */
  readonly wasm?: boolean;
}

export function attachEngine(cpu: Cpu, engine: EngineName, opts: EngineOptions = {}): BtEngine | null {
  if (engine === 'interpreter') {
    cpu.bt = null;
    return null;
  }
  // HOSTBOX_WASM=0 keeps every translation JavaScript (to compare the two; README, "The binary translator").
  const wasm = opts.wasm ?? (typeof process === 'undefined' || process.env.HOSTBOX_WASM !== '0');
  const bt = new BtEngine(cpu, { hotThreshold: opts.hotThreshold, hostMs: opts.hostMs, replayable: engine === 'check', wasm });
  if (engine === 'check') installCheck(bt, opts);
  cpu.bt = bt;
  return bt;
}
