// What the translator's tests share: nasm for the guest code, a CPU in flat 32-bit protected mode,
// running to HLT, and identity paging.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { makeBox, type Box } from '../system-tests/box.ts';
import { setSegmentCache } from '../segments.ts';
import { CR0_PE, CR0_PG } from '../regs.ts';
import { attachEngine, type EngineName } from './attach.ts';

/** Where the test code is placed and starts. */
export const CODE = 0x10000;

/** Assembles 32-bit code placed at CODE with nasm (the CPU tests need it; CI installs it). */
export function asm(source: string): number[] {
  const dir = mkdtempSync(join(tmpdir(), 'hostbox-bt-'));
  try {
    writeFileSync(join(dir, 'a.asm'), `bits 32\norg ${CODE}\n${source}\n`);
    execFileSync('nasm', ['-f', 'bin', '-o', join(dir, 'a.bin'), join(dir, 'a.asm')]);
    return Array.from(readFileSync(join(dir, 'a.bin')));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** A CPU in flat 32-bit protected mode (no paging) with `code` at CODE and ESP at 0x80000. */
export function flatBox(code: number[], engine: EngineName, hotThreshold = 2): Box {
  const box = makeBox(4 << 20, undefined, engine);
  if (box.cpu.bt) (box.cpu.bt.options as { hotThreshold?: number }).hotThreshold = hotThreshold;
  const cpu = box.cpu;
  cpu.cr0 |= CR0_PE;
  for (let s = 0; s < 6; s++) setSegmentCache(cpu, s as 0, s === 1 ? 8 : 16, 0, 0xffffffff, s === 1 ? 0xc09b : 0xc093);
  box.mem.u8.set(code, CODE);
  cpu.eip = CODE;
  cpu.r32[4] = 0x80000;
  return box;
}

/** How a run ended: registers, EIP, EFLAGS and all of RAM. */
export interface Outcome {
  readonly regs: number[];
  readonly eip: number;
  readonly flags: number;
  readonly ram: Uint8Array;
  readonly box: Box;
}

/** The engines every translator test compares, the interpreter (the reference) first. */
export const EVERY_ENGINE = ['interpreter', 'bt', 'check'] as const satisfies readonly EngineName[];

/**
 * Runs `code` to its HLT under the interpreter, the translator and the check engine, in that order.
 * `wasm`: the two translating engines make WebAssembly translations or not (else attach.ts decides).
 */
export function runEveryEngine(code: number[], setup: (b: Box, engine: EngineName) => void = () => {}, wasm?: boolean): Outcome[] {
  return EVERY_ENGINE.map((e) => {
    const box = flatBox(code, e);
    if (wasm !== undefined && e !== 'interpreter') attachEngine(box.cpu, e, { hotThreshold: 2, wasm });
    setup(box, e);
    runToHalt(box);
    return { regs: Array.from(box.cpu.r32), eip: box.cpu.eip, flags: box.cpu.getFlags(), ram: box.mem.u8.slice(), box };
  });
}

/** The translator and the check engine (runEveryEngine's second and third) ended as the interpreter did. */
export function assertSameOutcomes(outcomes: Outcome[], what: string): void {
  const [i, b, c] = outcomes as [Outcome, Outcome, Outcome];
  for (const [name, o] of [['bt', b], ['check', c]] as const) {
    assert.deepEqual(o.regs, i.regs, `${what}: ${name} registers`);
    assert.equal(o.eip, i.eip, `${what}: ${name} EIP`);
    assert.equal(o.flags, i.flags, `${what}: ${name} EFLAGS`);
    const at = o.ram.findIndex((v, k) => v !== i.ram[k]);
    assert.equal(at, -1, `${what}: ${name} RAM differs first at ${at.toString(16)}`);
  }
}

export function runToHalt(box: Box, limit = 5_000_000): void {
  let n = 0;
  while (!box.cpu.halted && n < limit) n += box.cpu.run(10_000);
  assert.ok(box.cpu.halted, `the program did not finish (eip ${box.cpu.eip.toString(16)})`);
}

/** Turns paging on with the first 4 MiB identity-mapped: page directory at `pd`, its one table after it. */
export function identityPaging(b: Box, pd: number): void {
  const dv = new DataView(b.mem.u8.buffer);
  dv.setUint32(pd, (pd + 0x1000) | 3, true);
  for (let p = 0; p < 1024; p++) dv.setUint32(pd + 0x1000 + 4 * p, (p << 12) | 3, true);
  b.cpu.cr3 = pd;
  b.cpu.cr0 |= CR0_PG;
  // As MOV CR0 does: the TLB's entries and the mode key (linear = physical no more) follow.
  b.cpu.flushTlb(true);
  b.cpu.updateMode();
}

/**
 * Compares generated code with its golden file, `expect/NAME.js` beside this file. HOSTBOX_ACCEPT=1
 * rewrites the file. A missing file fails: writing it and passing would let a deleted golden file
 * (or a renamed snippet) pass unseen.
 */
export function assertGolden(name: string, source: string): void {
  const file = new URL(`./expect/${name}.js`, import.meta.url).pathname;
  if (process.env.HOSTBOX_ACCEPT) writeFileSync(file, source + '\n');
  assert.ok(existsSync(file), `${name}: no golden file ${file}; review the code and run with HOSTBOX_ACCEPT=1 to write it`);
  assert.equal(source + '\n', readFileSync(file, 'utf8'), `${name}: the generated code changed; review it and run with HOSTBOX_ACCEPT=1 to accept`);
}
