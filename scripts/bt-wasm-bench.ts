// PROTOTYPE figures: the three loops under the interpreter, the JavaScript translator and the
// WebAssembly prototype, and what translating a region costs each way (issue 10: "pick by the
// figures"). Usage: node --import tsx scripts/bt-wasm-bench.ts [rounds]
//
// Every engine starts each run from the same saved state. The rounds interleave the engines so that
// a busy host slows them alike; the table gives the first (cold) run and the median of the rest.
// Only the runs are timed: putting the state back, and the prototype's copying of it into its memory,
// are not.

import { decode } from '../vmm/cpu/decode.ts';
import { ADDMUL, CODE, LOOPS, type GuestLoop } from '../vmm/cpu/bt/wasm/loops.ts';
import type { Box } from '../vmm/cpu/system-tests/box.ts';
import { BUDGET, JsRunner, Snapshot, WasmRunner, loopBox, outcome, runInterpreter } from '../vmm/cpu/bt/wasm/machine.ts';
import { CODE_PAGE_BASE, RAM_BASE, STATE, TLB_BASE, translateWasm } from '../vmm/cpu/bt/wasm/translate-wasm.ts';
import { translateBlock } from '../vmm/cpu/bt/translate.ts';
import { factsOf } from '../vmm/cpu/bt/mode.ts';

/** Outer iterations per run: about 9-10 million guest instructions each. */
const SCALE: Record<string, number> = { mpihelp_addmul_1: 4000, 'xz range decoder': 70000, 'md5 round steps': 120000 };
const ROUNDS = Number(process.argv[2] ?? 7);
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
  /** The fastest of the samples' totals: the cost with the least interference from a busy host. */
  fastest: number;
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
    js.push({ translate: t1 - t0 - fnMs, compile: fnMs, first: t2 - t1, size: t.source.length, insns: t.length, fastest: t2 - t0 });

    t0 = now();
    const w = translateWasm(eip, eip, facts, decodeAt, wasm.pages)!;
    t1 = now();
    const run = wasm.instantiate(w);
    t2 = now();
    new Int32Array(wasm.memory.buffer)[STATE.eip >>> 2] = eip;
    run(1);
    wa.push({ translate: t1 - t0, compile: t2 - t1, first: now() - t2, size: w.bytes.length, insns: w.length, fastest: now() - t0 });
  }
  const med = (xs: CompileCost[]): CompileCost => ({
    translate: median(xs.map((x) => x.translate)),
    compile: median(xs.map((x) => x.compile)),
    first: median(xs.map((x) => x.first)),
    size: xs[0]!.size,
    insns: xs[0]!.insns,
    fastest: Math.min(...xs.map((x) => x.fastest)),
  });
  return { js: med(js), wasm: med(wa) };
}

/**
 * The prototype's translation of mpihelp_addmul_1's loops (from `outer`), written by hand as
 * JavaScript over the same memory: registers in locals, MUL inline (JavaScript has no 32x32->64
 * multiply, so the high half comes from 16-bit halves), the flags flushed at each block end, the same
 * TLB test. It separates what WebAssembly gains from what the prototype's design gains.
 */
function addmulByHand(m: Int32Array, u8: Uint8Array, budget: number, fill: (lin: number, write: number) => void): number {
  const TLB = TLB_BASE >>> 2, RAM = RAM_BASE >>> 2;
  const S = (off: number): number => off >>> 2;
  let eax = m[0]!, ecx = m[1]!, edx = m[2]!, ebx = m[3]!, esi = m[6]!, edi = m[7]!;
  const ebp = m[5]!;
  let n = 0, fa = 0, fb = 0, fr = 0, fc = 0, pc = m[S(STATE.eip)]!, status = 0;
  const flushIncDec = (dec: boolean): void => {
    m[S(STATE.flagsRaw)] = (m[S(STATE.flagsRaw)]! & ~1) | fc;
    m[S(STATE.lop)] = dec ? 2 : 0;
    m[S(STATE.la)] = fa;
    m[S(STATE.lb)] = fb;
    m[S(STATE.lres)] = fr;
    m[S(STATE.lsz)] = 2;
    m[S(STATE.lazy)] = 0x8d4 & ~1;
  };
  out: for (;;) {
    switch (pc) {
      case 0x10011:
        ebx = -256;
        n += 1;
        pc = 0x10016;
        continue;
      case 0x10016: {
        const x = (esi + (ebx << 2)) | 0;
        if ((m[TLB + (x >>> 12)]! & 17) !== 1) fill(x, 0);
        const e = m[TLB + (x >>> 12)]!;
        if ((e & 17) !== 1 || (x & 3) !== 0) {
          status = 1;
          break out;
        }
        const a = m[RAM + (((e & -4096) | (x & 4095)) >>> 2)]! >>> 0, b = ebp >>> 0;
        const aL = a & 0xffff, aH = a >>> 16, bL = b & 0xffff, bH = b >>> 16;
        eax = Math.imul(a, b);
        edx = (aH * bH + Math.floor((aH * bL + aL * bH + ((aL * bL) >>> 16)) / 65536)) | 0;
        fa = eax; fb = ecx; fr = (eax + ecx) | 0; eax = fr;
        let c = (fr >>> 0) < (fa >>> 0) ? 1 : 0;
        fa = edx; fb = 0; fr = (edx + c) | 0; edx = fr; fc = c;
        const y = (edi + (ebx << 2)) | 0;
        if ((m[TLB + (y >>> 12)]! & 21) !== 5) fill(y, 1);
        const f = m[TLB + (y >>> 12)]!, p = ((f & -4096) | (y & 4095)) >>> 0;
        if ((f & 21) !== 5 || (y & 3) !== 0 || u8[CODE_PAGE_BASE + (p >>> 12)] !== 0) {
          // The flags of the ADC before: as the prototype flushes them (lop ADC or ADD by the carry).
          m[S(STATE.lop)] = fc ? 1 : 0; m[S(STATE.la)] = fa; m[S(STATE.lb)] = fb; m[S(STATE.lres)] = fr; m[S(STATE.lsz)] = 2; m[S(STATE.lazy)] = 0x8d5;
          n += 4; pc = 0x10020; status = 1;
          break out;
        }
        fa = m[RAM + (p >>> 2)]!; fb = eax; fr = (fa + fb) | 0; m[RAM + (p >>> 2)] = fr;
        c = (fr >>> 0) < (fa >>> 0) ? 1 : 0;
        fa = edx; fb = 0; fr = (edx + c) | 0; edx = fr; fc = c;
        ecx = edx;
        c = (fc ? (fr >>> 0) <= (fa >>> 0) : (fr >>> 0) < (fa >>> 0)) ? 1 : 0;
        fa = ebx; fb = 1; fr = (ebx + 1) | 0; ebx = fr; fc = c;
        n += 9;
        flushIncDec(false);
        pc = fr !== 0 ? 0x10016 : 0x1002b;
        if (n >= budget) break out;
        continue;
      }
      case 0x1002b: {
        if ((m[TLB + 0x30]! & 21) !== 5) fill(0x30000, 1);
        const e = m[TLB + 0x30]!, p = (e & -4096) >>> 0;
        if ((e & 21) !== 5 || u8[CODE_PAGE_BASE + (p >>> 12)] !== 0) {
          status = 1;
          break out;
        }
        const c = m[S(STATE.lazy)]! & 1 ? -1 : m[S(STATE.flagsRaw)]! & 1;
        if (c < 0) throw new Error('by hand: CF is lazy here only after a flush this loop never makes');
        fa = m[RAM + (p >>> 2)]!; fb = 1; fr = (fa - 1) | 0; m[RAM + (p >>> 2)] = fr; fc = c;
        n += 2;
        flushIncDec(true);
        pc = fr !== 0 ? 0x10011 : 0x10033;
        if (pc === 0x10033 || n >= budget) break out;
        continue;
      }
      default:
        break out;
    }
  }
  m[0] = eax; m[1] = ecx; m[2] = edx; m[3] = ebx; m[6] = esi; m[7] = edi;
  m[S(STATE.eip)] = pc;
  m[S(STATE.status)] = status;
  return n;
}

/** MIPS of addmulByHand (median of the warm runs, first in brackets), checked against the interpreter. */
function byHand(): string {
  const scale = SCALE[ADDMUL.name]!;
  const a = loopBox(ADDMUL, scale), c = loopBox(ADDMUL, scale);
  runInterpreter(a.cpu);
  while (c.cpu.eip !== 0x10011) c.cpu.run(1);
  const start = new Snapshot(c.cpu);
  const wasm = new WasmRunner(c.cpu);
  const m = new Int32Array(wasm.memory.buffer), u8 = new Uint8Array(wasm.memory.buffer);
  const times: number[] = [];
  let n = 0;
  for (let r = 0; r < ROUNDS; r++) {
    start.restore();
    wasm.load();
    n = 0;
    let t = 0;
    while (m[STATE.eip >>> 2] !== 0x10033) {
      const t0 = now();
      n += addmulByHand(m, u8, BUDGET, wasm.fill);
      t += now() - t0;
      if (m[STATE.status >>> 2]) throw new Error('by hand: the loop left to the interpreter');
    }
    times.push(t);
  }
  wasm.run();
  check(ADDMUL, [a, c]);
  const mips = (t: number): string => (n / t / 1000).toFixed(0);
  return `${mips(median(times.slice(1)))} (${mips(times[0]!)})`;
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
      `| ${loop.name} | ${name} | ${c.insns} | ${c.size} ${name === 'JavaScript' ? 'chars' : 'bytes'} | ${ms(c.translate)} | ${ms(c.compile)} | ${ms(c.first)} | ${ms(c.translate + c.compile + c.first)} | ${ms(c.fastest)} |`,
    );
}

console.log(`Guest MIPS, median of ${ROUNDS - 1} warm runs (first, cold run in brackets); budget ${BUDGET} instructions per call\n`);
console.log('| loop | instructions per run | interpreter | JavaScript translation | WebAssembly prototype |');
console.log('| --- | --- | --- | --- | --- |');
for (const r of rows) console.log(r);
console.log(`\nThe prototype's translation of ${ADDMUL.name} written by hand as JavaScript: ${byHand()} MIPS`);
console.log(`\nTranslating one region (the loop's whole code), median of ${COMPILES}, ms\n`);
console.log('| loop | emitted as | guest instructions | size | decode + emit | compile | first call | total | fastest total |');
console.log('| --- | --- | --- | --- | --- | --- | --- | --- | --- |');
for (const r of costRows) console.log(r);
