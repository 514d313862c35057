// Developer tool: boots the test guest in-process under one engine and prints the time to the shell
// prompt and the translator's counters. `npm run bench` is the measurement of record; this is for
// looking quickly while working on the translator.
//   npx esbuild scripts/engine-probe.ts --bundle --platform=node --format=esm --outfile=dist/engine-probe.mjs
//   node dist/engine-probe.mjs [interpreter|bt|check] [seconds]
import { readFileSync } from 'node:fs';
import { PcMachine } from '../vmm/machine.ts';
import type { EngineKind } from '../vmm/machine-api.ts';

const engine = (process.argv[2] ?? 'bt') as EngineKind;
const seconds = Number(process.argv[3] ?? 300);
const root = new URL('..', import.meta.url).pathname;
let out = '';
const started = performance.now();
let prompt = 0;
const m = new PcMachine(
  {
    memoryMiB: 256,
    engine,
    kernel: new Uint8Array(readFileSync(root + '.cache/guest/vmlinuz')),
    initrd: new Uint8Array(readFileSync(root + '.cache/guest/initrd.img')),
    cmdline: 'console=ttyS0',
  },
  {
    serialOut: (_p, b) => {
      const s = Buffer.from(b).toString('latin1');
      if (process.env.SHOW) process.stdout.write(s);
      out += s;
      if (!prompt && /[#$] $/.test(out.slice(-4))) prompt = performance.now();
    },
    display: () => {},
    block: () => {},
    power: (e, d) => console.log(`\n[power ${e} ${d ?? ''}]`),
    log: (l, msg) => console.log(`\n[${l}] ${msg}`),
  },
  () => performance.now(),
);
const deadline = started + seconds * 1000;
for (;;) {
  const r = m.runSlice(50);
  if (prompt || r === 'off' || performance.now() > deadline) break;
  if (r === 'halted') {
    const ms = Math.min(m.idleMs(), 10);
    if (ms > 0) await new Promise((res) => setTimeout(res, ms));
  }
}
const t = ((prompt || performance.now()) - started) / 1000;
console.log(`\n${engine}: ${prompt ? 'prompt' : 'no prompt'} after ${t.toFixed(1)} s, ${(m.cpu.instructions / 1e6).toFixed(0)} M instructions`);
if (m.bt) console.log(JSON.stringify(m.bt.stats), JSON.stringify((m.bt as { checkStats?: unknown }).checkStats ?? null));
// Memory beyond guest RAM, as the bench counts it (run node with --expose-gc for live data only).
(globalThis as { gc?: () => void }).gc?.();
const mu = process.memoryUsage();
console.log(`memory beyond guest RAM: ${((mu.heapUsed + mu.external) / 1048576 - 256).toFixed(0)} MiB`);
console.log(out.slice(-300));
if (process.env.OPT_STATUS && m.bt) {
  // With --allow-natives-syntax: how many translations V8 has optimized (bit 4: TurboFan, 5: Maglev... see V8's runtime).
  const status = new Function('f', 'return %GetOptimizationStatus(f)') as (f: unknown) => number;
  const hist = new Map<string, { n: number; runs: number }>();
  for (const t of m.bt.translations()) {
    const s = status(t.fn);
    const k = s & 16 ? 'turbofan' : s & 32 ? 'interpreted' : s & (1 << 15) ? 'maglev' : s & (1 << 14) ? 'baseline' : `other(${s.toString(2)})`;
    const h = hist.get(k) ?? { n: 0, runs: 0 };
    h.n++;
    h.runs += t.runs;
    hist.set(k, h);
  }
  console.log(JSON.stringify([...hist]));
}
