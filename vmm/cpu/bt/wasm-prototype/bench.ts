// PROTOTYPE figures: the three loops under the interpreter, the JavaScript translator and the
// WebAssembly prototype, and what translating a region costs each way (issue 10: "pick by the
// figures"). Usage: node --import tsx vmm/cpu/bt/wasm-prototype/bench.ts [rounds]
//
// Every engine starts each run from the same saved state. The rounds interleave the engines so that
// a busy host slows them alike; the table gives the first (cold) run and the median of the rest.
// Only the runs are timed: putting the state back, and the prototype's copying of it into its memory,
// are not.

import { decode } from '../../decode.ts';
import { CODE, LOOPS, type GuestLoop } from './loops.ts';
import type { Box } from '../../system-tests/box.ts';
import { BUDGET, JsRunner, Snapshot, WasmRunner, loopBox, outcome, runInterpreter } from './machine.ts';
import { STATE, translateWasm } from './translate-wasm.ts';
import { translateBlock } from '../translate.ts';
import { factsOf } from '../mode.ts';

/** Outer iterations per run: about 9-10 million guest instructions each. */
const SCALE: Record<string, number> = { mpihelp_addmul_1: 4000, 'xz range decoder': 70000, 'md5 round steps': 120000 };
const ROUNDS = Number(globalThis.process?.argv[2] ?? 7);
/** Fresh translations timed per loop (each at another address, so V8 caches nothing between them). */
const COMPILES = 15;

const now = (): number => performance.now();
const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[xs.length >> 1]!;

interface Engine {
  readonly name: string;
  /** Runs once from the saved state; returns [instructions, milliseconds]. */
  run(): [number, number];
}

/** After the timed runs: each engine's last run, finished, against the interpreter's (the figures come from exact code). */
function check(loop: GuestLoop, boxes: Box[]): void {
  const [want, ...others] = boxes.map((b) => outcome(b.cpu, 0));
  for (const got of others)
    if (JSON.stringify(got.regs) !== JSON.stringify(want!.regs) || got.flags !== want!.flags || Buffer.compare(got.ram, want!.ram) !== 0)
      throw new Error(`${loop.name}: a translation ended in another state than the interpreter`);
}

function engines(loop: GuestLoop, scale: number): { list: Engine[]; finish: () => void } {
  const a = loopBox(loop, scale), b = loopBox(loop, scale), c = loopBox(loop, scale);
  const sa = new Snapshot(a.cpu), sb = new Snapshot(b.cpu), sc = new Snapshot(c.cpu);
  const js = new JsRunner(b.cpu);
  const wasm = new WasmRunner(c.cpu);
  const hlt = CODE + loop.code.length - 1;
  const timed = (f: () => number): [number, number] => {
    const t0 = now();
    const n = f();
    return [n, now() - t0];
  };
  const list: Engine[] = [
    { name: 'interpreter', run: () => (sa.restore(), timed(() => runInterpreter(a.cpu))) },
    { name: 'JavaScript', run: () => (sb.restore(), timed(() => js.run())) },
    {
      name: 'WebAssembly',
      run: () => {
        sc.restore();
        wasm.load();
        // Up to the HLT, which the interpreter would run after copying all of RAM back.
        const r = timed(() => wasm.run(hlt));
        if (wasm.interpreted) throw new Error(`${loop.name}: the prototype left ${wasm.interpreted} instructions to the interpreter`);
        return r;
      },
    },
  ];
  // The last WebAssembly run stopped before the HLT: the interpreter runs it and the state comes back.
  return { list, finish: () => (wasm.run(), check(loop, [a, b, c])) };
}

interface CompileCost {
  /** Decoding and emitting, compiling (new Function; WebAssembly.Module + Instance), the first call (budget 1), ms. */
  translate: number;
  compile: number;
  first: number;
  /** JavaScript characters or module bytes, and guest instructions, of one region. */
  size: number;
  insns: number;
}

function compileCosts(loop: GuestLoop): { js: CompileCost; wasm: CompileCost } {
  const box = loopBox(loop, 1);
  const cpu = box.cpu;
  // Copies of the code one page apart; the data addresses in it are absolute, so each copy runs alike.
  for (let k = 1; k <= COMPILES; k++) box.mem.u8.set(loop.code, CODE + k * 0x1000);
  const facts = factsOf(cpu.modeKey, cpu.csBase, cpu.csLimit);
  const decodeAt = (e: number) => decode(cpu.table, (n) => box.mem.u8[e + n]!, true, cpu);
  const wasm = new WasmRunner(cpu);
  wasm.load();
  const js: CompileCost[] = [], wa: CompileCost[] = [];
  for (let k = 1; k <= COMPILES; k++) {
    const eip = CODE + k * 0x1000;
    let t0 = now();
    const t = translateBlock(eip, eip, facts, decodeAt)!;
    let t1 = now();
    cpu.eip = eip;
    t.fn(cpu, 1);
    let t2 = now();
    // new Function is inside translateBlock: its share is measured by compiling the same text again
    // under another name (V8 caches by source).
    const src = t.source.replace(/block_/, 'again_');
    const t3 = now();
    // eslint-disable-next-line @typescript-eslint/no-implied-eval
    new Function('I', 'FAULT', 'PARITY', src);
    const fnMs = now() - t3;
    js.push({ translate: t1 - t0 - fnMs, compile: fnMs, first: t2 - t1, size: t.source.length, insns: t.length });

    t0 = now();
    const w = translateWasm(eip, eip, facts, decodeAt, wasm.pages)!;
    t1 = now();
    const run = wasm.instantiate(w);
    t2 = now();
    new Int32Array(wasm.memory.buffer)[STATE.eip >>> 2] = eip;
    run(1);
    wa.push({ translate: t1 - t0, compile: t2 - t1, first: now() - t2, size: w.bytes.length, insns: w.length });
  }
  const med = (xs: CompileCost[]): CompileCost => ({
    translate: median(xs.map((x) => x.translate)),
    compile: median(xs.map((x) => x.compile)),
    first: median(xs.map((x) => x.first)),
    size: xs[0]!.size,
    insns: xs[0]!.insns,
  });
  return { js: med(js), wasm: med(wa) };
}

const ms = (x: number): string => x.toFixed(2);
const rows: string[] = [];
const costRows: string[] = [];
for (const loop of LOOPS) {
  const scale = SCALE[loop.name]!;
  const { list, finish } = engines(loop, scale);
  const times = list.map(() => [] as number[]);
  const insns = list.map(() => 0);
  for (let r = 0; r < ROUNDS; r++)
    list.forEach((e, k) => {
      const [n, t] = e.run();
      insns[k] = n;
      times[k]!.push(t);
    });
  finish();
  const mips = (k: number, t: number): string => (insns[k]! / t / 1000).toFixed(0);
  const cells = list.map((_, k) => `${mips(k, median(times[k]!.slice(1)))} (${mips(k, times[k]![0]!)})`);
  rows.push(`| ${loop.name} | ${(insns[0]! / 1e6).toFixed(1)} M | ${cells.join(' | ')} |`);
  const { js, wasm } = compileCosts(loop);
  for (const [name, c] of [['JavaScript', js], ['WebAssembly', wasm]] as const)
    costRows.push(
      `| ${loop.name} | ${name} | ${c.insns} | ${c.size} ${name === 'JavaScript' ? 'chars' : 'bytes'} | ${ms(c.translate)} | ${ms(c.compile)} | ${ms(c.first)} | ${ms(c.translate + c.compile + c.first)} |`,
    );
}

console.log(`Guest MIPS, median of ${ROUNDS - 1} warm runs (first, cold run in brackets); budget ${BUDGET} instructions per call\n`);
console.log('| loop | instructions per run | interpreter | JavaScript translation | WebAssembly prototype |');
console.log('| --- | --- | --- | --- | --- |');
for (const r of rows) console.log(r);
console.log(`\nTranslating one region (the loop's whole code), median of ${COMPILES}, ms\n`);
console.log('| loop | emitted as | guest instructions | size | decode + emit | compile | first call | total |');
console.log('| --- | --- | --- | --- | --- | --- | --- | --- |');
for (const r of costRows) console.log(r);
