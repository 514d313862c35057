// A bare machine for the system tests and the fuzz test: a Cpu on PhysicalMemory and an IoBus with a
// debug console at port 0xE9 and a result port at 0xF4 (what the system-test programs report through).

import { IoBus } from '../../bus.ts';
import { ManualClock } from '../../clock.ts';
import { PhysicalMemory } from '../../memory.ts';
import { Cpu } from '../cpu.ts';
import { CS, type OpTable } from '../decode.ts';
import { attachEngine, type EngineName } from '../bt/attach.ts';

export interface Box {
  cpu: Cpu;
  mem: PhysicalMemory;
  io: IoBus;
  /** Text written to port 0xE9. */
  console: string;
  /** Values written to port 0xF4, in order. */
  results: number[];
  /** Set when the CPU shut down (triple fault). */
  shutdown: string | null;
}

/**
 * `table` replaces the shared instruction table (tests of a partial or instrumented table); `engine`
 * picks the CPU engine (HOSTBOX_TEST_ENGINE by default, so a whole suite can run under the translator).
 */
export function makeBox(memBytes = 16 << 20, table?: OpTable, engine: EngineName = testEngine()): Box {
  const mem = new PhysicalMemory(memBytes);
  const io = new IoBus();
  const clock = new ManualClock();
  const cpu = new Cpu({ mem, io, nowNs: () => clock.now(), pic: null }, table);
  const box: Box = { cpu, mem, io, console: '', results: [], shutdown: null };
  attachEngine(cpu, engine, { hotThreshold: 2 });
  io.register({
    name: 'debug console',
    base: 0xe9,
    length: 1,
    read: () => 0xe9,
    write: (_o, _s, v) => {
      box.console += String.fromCharCode(v & 0xff);
    },
  });
  io.register({
    name: 'test result',
    base: 0xf4,
    length: 1,
    read: () => 0xff,
    write: (_o, _s, v) => {
      box.results.push(v & 0xff);
    },
  });
  cpu.onShutdown = (detail) => {
    box.shutdown = detail;
    cpu.halted = true;
  };
  return box;
}

/** Puts `image` at `at` and starts the CPU in real mode at 0:at. */
export function loadReal(box: Box, image: Uint8Array, at: number): void {
  box.mem.u8.set(image, at);
  box.cpu.invalidateAllCode();
  box.cpu.loadSegmentReal(CS, 0);
  box.cpu.eip = at;
}

/** Runs until a result is reported, the CPU halts or shuts down, or `budget` instructions pass. */
export function runUntilDone(box: Box, budget = 2_000_000): number {
  let n = 0;
  while (n < budget && box.results.length === 0 && box.shutdown === null) {
    const done = box.cpu.run(Math.min(10_000, budget - n));
    n += done;
    if (box.cpu.halted) break;
  }
  return n;
}

/** The engine tests use unless they name one: HOSTBOX_TEST_ENGINE, else the interpreter. */
export function testEngine(): EngineName {
  const e = process.env.HOSTBOX_TEST_ENGINE;
  return e === 'bt' || e === 'check' || e === 'auto' ? e : 'interpreter';
}
