// Developer tool: boots the test guest in-process and prints serial output, with exception traces.
// Usage: node scripts/bench.mjs is for speed; this one is for finding where a boot goes wrong:
//   npx esbuild scripts/boot-probe.ts --bundle --platform=node --format=esm --outfile=dist/boot-probe.mjs && node dist/boot-probe.mjs [seconds] [--trace-exc]
import { readFileSync, writeFileSync } from 'node:fs';
import { PcMachine } from '../vmm/machine.ts';

const seconds = Number(process.argv[2] ?? 30);
let stallMs = 0;
if (process.env.STALL) setInterval(() => (stallMs += 50 + Math.random() * 250), 150).unref();
const traceExc = process.argv.includes('--trace-exc');
const root = new URL('..', import.meta.url).pathname;
const m = new PcMachine(
  {
    memoryMiB: 256,
    engine: 'interpreter',
    kernel: new Uint8Array(readFileSync(root + '.cache/guest/vmlinuz')),
    initrd: new Uint8Array(readFileSync(root + '.cache/guest/initrd.img')),
    cmdline: process.env.CMDLINE ?? 'console=ttyS0 earlyprintk=serial,ttyS0',
  },
  {
    serialOut: (_p, b) => process.stdout.write(Buffer.from(b).toString('latin1')),
    display: () => {},
    block: () => {},
    power: (e, d) => console.log(`\n[power ${e} ${d ?? ''}]`),
    log: (l, msg) => console.log(`\n[${l}] ${msg}`),
  },
  // STALL=1 imitates a busy host: every so often the host "deschedules" the VMM for 50-300 ms,
  // so guest time jumps as it does when the VM process waits for a CPU.
  process.env.STALL ? () => performance.now() + stallMs : () => performance.now(),
);
const seen = new Map<string, number>();
m.cpu.onException = (v, code, eip) => {
  const key = `${v}@${(eip >>> 0).toString(16)}`;
  const n = (seen.get(key) ?? 0) + 1;
  seen.set(key, n);
  if (traceExc && n <= 3) {
    const lin = (m.cpu.csBase + eip) | 0;
    let bytes = '';
    try {
      for (let k = 0; k < 8; k++) bytes += m.cpu.readLin8((lin + k) | 0).toString(16).padStart(2, '0') + ' ';
    } catch {
      bytes = '?';
    }
    console.log(`\n[exc ${v} code ${code.toString(16)} at ${m.cpu.sel[1]!.toString(16)}:${(eip >>> 0).toString(16)} bytes ${bytes} cr2 ${(m.cpu.cr2 >>> 0).toString(16)}]`);
  }
};
const vectors = new Map<number, number>();
const pic = m.devices.pic;
const ack = pic.acknowledge.bind(pic);
pic.acknowledge = () => {
  const v = ack();
  vectors.set(v, (vectors.get(v) ?? 0) + 1);
  return v;
};
let lastTicks = -1;
setInterval(() => {
  const s = [...vectors].map(([v, n]) => `${v.toString(16)}:${n}`).join(' ');
  if (process.env.TRACE_IRQ) console.log(`\n[t=${(m.clock.now() / 1e9).toFixed(1)}s irqs ${s} halted=${m.cpu.halted} if=${(m.cpu.getFlags() >> 9) & 1}]`);
  // A guest whose timer interrupt stopped: show the PIT and PIC as they are.
  const ticks = vectors.get(0x30) ?? 0;
  if (ticks === lastTicks && ticks > 0) {
    const p = m.devices.pic as unknown as Record<string, Record<string, unknown>>;
    const pit = m.devices.pit as unknown as { counters: Record<string, unknown>[]; timer: Record<string, unknown>; firedEdge: number; armedEdge: number; irqHigh: boolean };
    const c = pit.counters[0]!;
    console.log(`\n[FROZEN? t=${m.clock.now()} halted=${m.cpu.halted} if=${(m.cpu.getFlags() >> 9) & 1} master irr=${p.master!.irr} imr=${p.master!.imr} isr=${p.master!.isr} lines=${p.master!.lines} slave irr=${p.slave!.irr} imr=${p.slave!.imr} isr=${p.slave!.isr}]`);
    console.log(`[pit0 mode=${c.mode} start=${c.start} reload=${c.reload} frozen=${c.frozen} gate=${c.gate} armed=${pit.timer.armed} deadline=${pit.timer.deadline} fired=${pit.firedEdge} armedEdge=${pit.armedEdge} irqHigh=${pit.irqHigh} next=${m.clock.nextDeadline()}]`);
  }
  lastTicks = ticks;
}, 2000).unref();
const samples = new Map<number, number>();
if (process.env.SAMPLE) {
  const [from, to] = process.env.SAMPLE.split('-').map(Number);
  setInterval(() => {
    const t = m.clock.now() / 1e9;
    if (t < from! || t > to!) return;
    const key = m.cpu.cpl === 0 ? m.cpu.eip >>> 0 : 0;
    samples.set(key, (samples.get(key) ?? 0) + 1);
  }, 20).unref();
  process.on('exit', () => {
    const out = [...samples].map(([e, n]) => `${e.toString(16)} ${n}`).join('\n');
    writeFileSync('/tmp/hostbox-samples.txt', out);
  });
}
const t0 = performance.now();
const tick = (): void => {
  const s = m.runSlice(50);
  const el = (performance.now() - t0) / 1000;
  if (s === 'off' || el > seconds) {
    console.log(`\n[${s} after ${el.toFixed(1)} s, ${m.cpu.instructions} instructions, ${(m.cpu.instructions / el / 1e6).toFixed(1)} MIPS, eip ${m.cpu.sel[1]!.toString(16)}:${(m.cpu.eip >>> 0).toString(16)}]`);
    (globalThis as { gc?: () => void }).gc?.();
    const mu = process.memoryUsage();
    console.log(`memory: rss ${(mu.rss / 1048576).toFixed(0)} MiB, heap ${(mu.heapUsed / 1048576).toFixed(0)} MiB, external ${(mu.external / 1048576).toFixed(0)} MiB, array buffers ${(mu.arrayBuffers / 1048576).toFixed(0)} MiB; decoded code pages ${m.cpu.cachedCodePages}`);
    const top = [...seen].sort((a, b) => b[1] - a[1]).slice(0, 10);
    console.log('exceptions:', top.map(([k, n]) => `${k} x${n}`).join(', '));
    process.exit(0);
  }
  if (s === 'halted') setTimeout(tick, Math.min(10, m.idleMs()));
  else setImmediate(tick);
};
tick();
