// Developer tool: boots the test guest in-process under one engine and prints the time to the shell
// prompt and the translator's counters. `npm run bench` is the measurement of record; this is for
// looking quickly while working on the translator.
//   npx esbuild scripts/engine-probe.ts --bundle --platform=node --format=esm --outfile=dist/engine-probe.mjs
//   node dist/engine-probe.mjs [interpreter|bt|check] [seconds]
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { PcMachine } from '../vmm/machine.ts';
import type { EngineKind } from '../vmm/machine-api.ts';
import { WORKLOADS } from './bench/workloads.ts';
import type { Translation } from '../vmm/cpu/bt/translate.ts';
import { tuneV8ForTranslatedCode } from '../main/v8-tiering.ts';

// As the VMM process does (NO_TUNE=1 leaves V8's defaults, to compare).
if (!process.env.NO_TUNE) tuneV8ForTranslatedCode();
// NO_HINTS=1: V8 ignores the WebAssembly translations' branch hints (to measure what they do).
if (process.env.NO_HINTS) (await import('node:v8')).setFlagsFromString('--no-experimental-wasm-branch-hinting');

const engine = (process.argv[2] ?? 'bt') as EngineKind;
const seconds = Number(process.argv[3] ?? 300);
const root = new URL('..', import.meta.url).pathname;
// GUEST=guest-686-pae: the PAE kernel's test guest instead of the default one.
const guest = process.env.GUEST ?? 'guest';
let out = '';
const started = performance.now();
let prompt = 0;
const m = new PcMachine(
  {
    memoryMiB: 256,
    engine,
    kernel: new Uint8Array(readFileSync(`${root}.cache/${guest}/vmlinuz`)),
    initrd: new Uint8Array(readFileSync(`${root}.cache/${guest}/initrd.img`)),
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
// DECODES=1: how many instructions the interpreter decoded, and how often its decoded cache was dropped.
const decodes = { n: 0, drops: 0 };
const decodedPages = new Map<string, number>();
if (process.env.DECODES) {
  const c = m.cpu as unknown as Record<string, (...a: unknown[]) => unknown>;
  const fetch = c.decodeAt!.bind(c);
  c.decodeAt = (eip: unknown, lin: unknown) => {
    // DECODES=eip: by instruction instead of by page.
    const k = process.env.DECODES === 'eip' ? `${m.cpu.cpl}:${((lin as number) >>> 0).toString(16)}` : `${m.cpu.cpl}:${(((lin as number) >>> 12) >>> 0).toString(16)}`;
    decodedPages.set(k, (decodedPages.get(k) ?? 0) + 1);
    return fetch(eip, lin);
  };
  for (const [k, key] of [['decodeAt', 'n'], ['dropDecoded', 'drops']] as const) {
    const f = c[k]!.bind(c);
    c[k] = (...a: unknown[]) => {
      decodes[key]++;
      return f(...a);
    };
  }
}
// ALLOC_PROF=file: V8's sampling allocation profile of the run, collected objects included.
const allocSession = process.env.ALLOC_PROF ? new (await import('node:inspector/promises')).Session() : null;
if (allocSession) {
  allocSession.connect();
  await allocSession.post('HeapProfiler.startSampling', { samplingInterval: 4096, includeObjectsCollectedByMajorGC: true, includeObjectsCollectedByMinorGC: true });
}
// BY_BLOCK=n: at the end, the n translations that ran the most guest instructions, with their EIPs.
const byBlock = new Map<number, number>();
// EXITS=n (with BY_BLOCK): the n transitions from a translation (region@entry) to the next EIP that happen most.
const exits = new Map<string, [number, number]>();
if (process.env.BY_BLOCK && m.bt) {
  const bt = m.bt;
  const run = bt.runTranslation.bind(bt);
  bt.runTranslation = (t, budget) => {
    const n = run(t, budget);
    byBlock.set(t.home.eip, (byBlock.get(t.home.eip) ?? 0) + n);
    if (process.env.EXITS) {
      // Which exits of which translations send the most dispatches back (the dispatcher's work).
      const k = `${(t.home.eip >>> 0).toString(16)}@${(t.eip >>> 0).toString(16)}->${(m.cpu.eip >>> 0).toString(16)}`;
      const e = exits.get(k);
      if (e) { e[0]++; e[1] += n; } else exits.set(k, [1, n]);
    }
    return n;
  };
}
// COUNT_CALLS=fillTlb,flushTlb,...: how often each of these Cpu methods was called, printed after each workload run.
const callCounts = new Map<string, number>();
for (const name of (process.env.COUNT_CALLS ?? '').split(',').filter(Boolean)) {
  const c = m.cpu as unknown as Record<string, (...a: unknown[]) => unknown>;
  const f = c[name]!.bind(c);
  callCounts.set(name, 0);
  c[name] = (...a: unknown[]) => {
    callCounts.set(name, callCounts.get(name)! + 1);
    return f(...a);
  };
}
// INTERP_PAGES=n: at the end, the n linear pages (with CPL) where the most instructions ran interpreted
// (INTERP_EIPS=1: the blocks, by the EIP each began at).
const interpPages = new Map<string, number>();
if (process.env.INTERP_PAGES) {
  // (A cold run is one call, many blocks: its instructions all go to the EIP it began at.)
  const c = m.cpu as unknown as { interpretBlock: (budget: number, cold?: boolean) => number };
  const block = c.interpretBlock.bind(m.cpu);
  c.interpretBlock = (budget: number, cold?: boolean) => {
    const lin = (m.cpu.csBase + m.cpu.eip) >>> 0;
    const k = process.env.INTERP_EIPS ? `${m.cpu.cpl}:${lin.toString(16)}` : `${m.cpu.cpl}:${(lin >>> 12).toString(16)}`;
    const n = block(budget, cold);
    interpPages.set(k, (interpPages.get(k) ?? 0) + n);
    return n;
  };
}
/** An instruction's opcode with its operand size, memory operand's segment, prefixes and ModRM reg field (OPCODES, WASM_STOPS). */
function opcodeKey(i: { opcode: number; o32: boolean; mod: number; seg: number; rep: number; lock: boolean; reg: number }): string {
  return `${i.opcode.toString(16)}${i.o32 ? '' : '/16'}${i.mod === 3 ? '' : '/m' + i.seg}${i.rep ? '/rep' : ''}${i.lock ? '/lock' : ''}/r${i.reg}`;
}
// OPCODES=n: at the end, the n opcodes the interpreter ran most often, each with its operand size,
// memory operand's segment, prefixes and ModRM reg field, as shares of what it ran (what a
// translator's subset would have to take to take in the interpreted code).
const opcodes = new Map<string, number>();
if (process.env.OPCODES) {
  const c = m.cpu as unknown as { fetchInstr: () => { opcode: number; o32: boolean; mod: number; seg: number; rep: number; lock: boolean; reg: number } };
  const fetch = c.fetchInstr.bind(m.cpu);
  c.fetchInstr = () => {
    const i = fetch();
    const k = opcodeKey(i);
    opcodes.set(k, (opcodes.get(k) ?? 0) + 1);
    return i;
  };
}
/**
 * Calls `seen` after the engine makes each translation (the engine's private `translate`, wrapped),
 * with the time it took and whether a WebAssembly one was made.
 */
function onTranslate(seen: (eip: number, t: Translation, ms: number, wasm: boolean) => void): void {
  const bt = m.bt as unknown as { translate: (eip: number, phys: number) => Translation };
  const tr = bt.translate.bind(bt);
  bt.translate = (eip: number, phys: number) => {
    const t0 = performance.now();
    const wasm0 = m.bt!.stats.wasmMade;
    const t = tr(eip, phys);
    seen(eip >>> 0, t, performance.now() - t0, m.bt!.stats.wasmMade > wasm0);
    return t;
  };
}
// RETRANS=1: after each workload, how many of the translations it made hold code made before in
// this process (same physical address, mode key, CS base and code bytes), and their making's time.
const noneMade = () => ({ made: 0, again: 0, ms: 0, againMs: 0 });
const retrans = noneMade();
const madeBefore = new Set<string>();
if (process.env.RETRANS && m.bt) {
  onTranslate((_eip, t, ms) => {
    if (!t.length) return;
    const mem = m.cpu.mem.u8;
    let h = 2166136261;
    for (let k = t.codeStart; k < t.codeStart + t.bytes; k++) h = Math.imul(h ^ mem[k]!, 16777619);
    const made = `${t.phys}:${t.key}:${t.csBase}:${t.bytes}:${h >>> 0}`;
    retrans.made++;
    retrans.ms += ms;
    if (madeBefore.has(made)) {
      retrans.again++;
      retrans.againMs += ms;
    }
    madeBefore.add(made);
  });
}
// WASM_SAVE=dir: each WebAssembly translation's module goes to dir/<eip>.wasm (for wasm2wat).
if (process.env.WASM_SAVE && m.bt) {
  let last: Uint8Array | null = null;
  const Module = WebAssembly.Module;
  WebAssembly.Module = function (bytes: Uint8Array<ArrayBuffer>) {
    last = bytes;
    return new Module(bytes);
  } as unknown as typeof WebAssembly.Module;
  onTranslate((eip, _t, _ms, wasm) => {
    if (wasm && last) writeFileSync(`${process.env.WASM_SAVE}/${eip.toString(16)}.wasm`, last);
    last = null;
  });
}
// CAPTURE=hex,hex: each time a translation is made at one of these EIPs, its source goes to
// /tmp/cap-<eip>-<ms>.js (translations made and flushed during the boot, such as the decompressor's).
if (process.env.CAPTURE && m.bt) {
  const want = process.env.CAPTURE.split(',').map((h) => parseInt(h, 16));
  m.bt.keepSource = true;
  onTranslate((eip, t) => {
    if (want.includes(eip)) writeFileSync(`/tmp/cap-${eip.toString(16)}-${Date.now()}.js`, t.source);
  });
}
// TRANSLATE_MS=n: at the end, the n translations that took longest to make (ms, EIP, instructions).
const translateTimes: [number, number, number, string][] = [];
if (process.env.TRANSLATE_MS && m.bt) onTranslate((eip, t, ms, wasm) => translateTimes.push([ms, eip, t.length, wasm ? 'wasm' : 'js']));
// RAN_BLOCKS=1: at the end, how many of the translated regions' blocks (on the entry's page) had run
// in the interpreter when the region was made (their first instruction in the decoded cache).
const ranBlocks = { regions: 0, blocks: 0, ran: 0, chars: 0 };
if (process.env.RAN_BLOCKS && m.bt) {
  const cache = (m.cpu as unknown as { codeCache: Map<number, { slots: Uint16Array }> }).codeCache;
  onTranslate((eip, t) => {
    const base = m.cpu.csBase;
    const page = ((base + eip) | 0) >>> 12;
    const slots = cache.get(t.phys >>> 12)?.slots;
    ranBlocks.regions++;
    ranBlocks.chars += t.sourceChars;
    for (const b of t.entries) {
      const lin = (base + b) | 0;
      if (lin >>> 12 !== page) continue;
      ranBlocks.blocks++;
      if (slots && slots[lin & 0xfff] !== 0) ranBlocks.ran++;
    }
  });
}
// WASM_COVER=1: for each region offered to the WebAssembly tier, how much of it (instructions) its
// subset covers whether or not it loops: what a WebAssembly tier for lukewarm code could take.
const wasmCover = { offered: 0, js: 0, covered: 0, most: 0, cpl0: 0, cpl0js: 0, cpl0covered: 0, made: 0, bytes: 0, ms: 0 };
if (process.env.WASM_COVER && m.bt?.wasm) {
  const { translateWasm } = await import('../vmm/cpu/bt/wasm/translate-wasm.ts');
  const tier = m.bt.wasm as unknown as { translate: (...a: unknown[]) => unknown; pages: number; layout: unknown };
  const orig = tier.translate.bind(tier);
  tier.translate = (eip: unknown, phys: unknown, facts: unknown, decodeAt: unknown, rival: unknown) => {
    let covered = 0;
    const t0 = performance.now();
    const w = translateWasm(eip as number, phys as number, facts as never, decodeAt as never, tier.pages, tier.layout as never, { accept: (n: number) => ((covered = n), true) });
    if (w) {
      new WebAssembly.Module(w.bytes as Uint8Array<ArrayBuffer>);
      wasmCover.made++;
      wasmCover.bytes += w.bytes.length;
      wasmCover.ms += performance.now() - t0;
    }
    const js = rival as number;
    const took = Math.min(covered, js);
    wasmCover.offered++;
    wasmCover.js += js;
    wasmCover.covered += took;
    if (covered >= js * 0.75) wasmCover.most++;
    if (m.cpu.cpl === 0) {
      wasmCover.cpl0++;
      wasmCover.cpl0js += js;
      wasmCover.cpl0covered += took;
    }
    return orig(eip, phys, facts, decodeAt, rival);
  };
}
// TRACE_PAGES=hex,hex: each translation made at an EIP on one of these linear pages, with its length,
// blocks and the other entries it serves (why code there runs where it does).
if (process.env.TRACE_PAGES && m.bt) {
  const pages = process.env.TRACE_PAGES.split(',').map((h) => parseInt(h, 16));
  const hex = (v: number): string => (v >>> 0).toString(16);
  onTranslate((eip, t) => {
    if (pages.includes(eip >>> 12)) console.log(`translated ${hex(eip)}: ${t.length} instructions, ${t.blocks} blocks, entries ${t.entries.map(hex).join(' ')}, other pages ${t.otherPages.map(hex).join(' ')}`);
  });
}
// WASM_STOPS=n (with BY_BLOCK): at the end, the n instructions that most often stop a WebAssembly region
// short, each weighted by the guest instructions the JavaScript translations made instead then ran
// (what widening the WebAssembly subset by that instruction could move), and how many ran in each kind.
const wasmStops = new Map<number, Map<string, number>>();
if (process.env.WASM_STOPS && m.bt?.wasm) {
  m.bt.keepSource = true;
  m.bt.wasm.onStop = (eip, i, outside) => {
    const k = outside ? opcodeKey(i) : 'flags from before the block';
    let stops = wasmStops.get(eip >>> 0);
    if (!stops) wasmStops.set(eip >>> 0, (stops = new Map()));
    stops.set(k, (stops.get(k) ?? 0) + 1);
  };
}
// SNAPSHOT=file: the first run saves the machine at the prompt there; later runs start from it.
const snapshot = process.env.SNAPSHOT;
if ((process.env.DUMP || process.env.DUMP_ALL) && m.bt) m.bt.keepSource = true;
// HOT=n: translate at a hotness of n, user and kernel code alike, instead of HOT_THRESHOLD and USER_HOT_THRESHOLD.
if (process.env.HOT && m.bt) Object.assign(m.bt, { options: { ...m.bt.options, hotThreshold: Number(process.env.HOT) } });
// HOT_USER=n: the threshold for code at CPL 3 alone (USER_HOT_THRESHOLD).
if (process.env.HOT_USER && m.bt) Object.assign(m.bt, { options: { ...m.bt.options, userHotThreshold: Number(process.env.HOT_USER) } });
// SWEEP=n: sweep idle translations and decoded pages every n instructions instead of the default.
if (process.env.SWEEP) m.cpu.sweepInsns = Number(process.env.SWEEP);
if (process.env.DECODED_SWEEP) m.cpu.decodedSweepInsns = Number(process.env.DECODED_SWEEP);
if (process.env.HALF && m.bt) Object.assign(m.bt, { options: { ...m.bt.options, halfLifeInsns: Number(process.env.HALF) } });
if (snapshot && existsSync(snapshot)) {
  const buf = readFileSync(snapshot);
  const sections: { id: string; version: number; data: Uint8Array }[] = [];
  const ram: { firstPage: number; data: Uint8Array }[] = [];
  for (let at = 0; at < buf.length; ) {
    const kind = buf[at]!;
    const len = buf.readUInt32LE(at + 1);
    const head = buf.readUInt32LE(at + 5);
    const name = buf.subarray(at + 9, at + 9 + head).toString();
    const data = new Uint8Array(buf.subarray(at + 9 + head, at + 9 + head + len));
    at += 9 + head + len;
    if (kind === 0) sections.push({ id: name.split(':')[0]!, version: Number(name.split(':')[1]), data });
    else ram.push({ firstPage: Number(name), data });
  }
  m.loadState(sections, ram);
  prompt = performance.now();
  out = '/ # ';
}
/** After a slice that ended in HLT: wait for the next timer, as the VMM process does (at most maxMs). */
async function rest(r: string, maxMs: number): Promise<void> {
  const ms = r === 'halted' ? Math.min(m.idleMs(), maxMs) : 0;
  if (ms > 0) {
    const from = performance.now();
    await new Promise((res) => setTimeout(res, ms));
    if (!prompt) waitedBeforePrompt += performance.now() - from;
  }
}
/** Wall time spent waiting for the guest's timers (it had halted) before the prompt. */
let waitedBeforePrompt = 0;
// The host time at which the guest first turned paging on: the end of the kernel's decompressor.
// STOP_AT_PAGING=1 stops there (DUMP_MEM=file: with the 64 KiB below 32 MiB, where it runs, written out).
// BOOT_PROFILE=file: a CPU profile of the boot (to paging with STOP_AT_PAGING).
const bootProfile = process.env.BOOT_PROFILE ? new (await import('node:inspector/promises')).Session() : null;
if (bootProfile) {
  bootProfile.connect();
  await bootProfile.post('Profiler.enable');
  await bootProfile.post('Profiler.start');
}
let pagingAt = 0;
let pagingInsns = 0;
// MARK_AT=n: also the host time at which the guest passed n M instructions (with paging on, the
// decompressor's warm stretch from there on, without the start's translating).
const markAt = Number(process.env.MARK_AT ?? 0) * 1e6;
let markedAt = 0;
for (;;) {
  const r = m.runSlice(50);
  if (markAt && !markedAt && m.cpu.instructions >= markAt) markedAt = performance.now();
  if (!pagingAt && m.cpu.cr0 & 0x80000000) {
    if (markedAt) console.log(`from ${markAt / 1e6} M instructions to paging on: ${((performance.now() - markedAt) / 1000).toFixed(2)} s, ${((m.cpu.instructions - markAt) / ((performance.now() - markedAt) * 1000)).toFixed(0)} MIPS`);
    pagingAt = performance.now();
    pagingInsns = m.cpu.instructions;
    if (process.env.STOP_AT_PAGING) {
      if (process.env.DUMP_MEM) writeFileSync(process.env.DUMP_MEM, m.mem.u8.subarray(0x1ff0000, 0x2000000));
      break;
    }
  }
  if (prompt || r === 'off' || performance.now() > deadline) break;
  await rest(r, 10);
}
if (bootProfile) writeFileSync(process.env.BOOT_PROFILE!, JSON.stringify((await bootProfile.post('Profiler.stop')).profile));
if (snapshot && prompt && !existsSync(snapshot)) {
  const { sections, ram } = m.saveState();
  const parts: Buffer[] = [];
  const put = (kind: number, name: string, data: Uint8Array) => {
    const h = Buffer.alloc(9);
    h[0] = kind;
    h.writeUInt32LE(data.length, 1);
    h.writeUInt32LE(Buffer.byteLength(name), 5);
    parts.push(h, Buffer.from(name), Buffer.from(data));
  };
  for (const sct of sections) put(0, `${sct.id}:${sct.version}`, sct.data);
  for (const r of ram) put(1, String(r.firstPage), r.data);
  writeFileSync(snapshot, Buffer.concat(parts));
}
const t = ((prompt || performance.now()) - started) / 1000;
if (pagingAt) console.log(`\npaging on after ${((pagingAt - started) / 1000).toFixed(1)} s, ${(pagingInsns / 1e6).toFixed(0)} M instructions`);
console.log(`\n${engine}: ${prompt ? 'prompt' : 'no prompt'} after ${t.toFixed(1)} s, ${(m.cpu.instructions / 1e6).toFixed(0)} M instructions, ${(waitedBeforePrompt / 1000).toFixed(1)} s of it waiting for the guest's timers`);
/** The translator's counters moved since `before` (a copy of m.bt.stats), to a tenth. */
function countersMoved(before: object): Record<string, number> {
  const now = m.bt!.stats as unknown as Record<string, number>;
  const moved: Record<string, number> = {};
  for (const [k, v] of Object.entries(before)) if (typeof v === 'number') moved[k] = Math.round((now[k]! - v) * 10) / 10;
  return moved;
}
/**
 * Idles the guest at its prompt for `seconds`, as the VMM process does, and prints what that cost the
 * host: CPU time (this process, every thread) in all and second by second, the time in runSlice, the
 * wakes, the guest instructions, and the translator's counters moved. `profileTo`: a V8 CPU profile of
 * it there (which puts most of an idle guest's time in "(idle)": `perf` sees it better).
 */
async function idleAtPrompt(label: string, seconds: number, profileTo: string | undefined): Promise<void> {
  const { Session } = await import('node:inspector/promises');
  const session = new Session();
  if (profileTo) {
    session.connect();
    await session.post('Profiler.enable');
    await session.post('Profiler.start');
  }
  const c0 = process.cpuUsage();
  const i0 = m.cpu.instructions;
  const stats0 = m.bt ? { ...m.bt.stats } : null;
  const perSecond: number[] = [];
  let wakes = 0;
  let sliceMs = 0;
  for (let sec = 0; sec < seconds; sec++) {
    const s0 = process.cpuUsage();
    const end = performance.now() + 1000;
    while (performance.now() < end) {
      const t0 = performance.now();
      const r = m.runSlice(10);
      sliceMs += performance.now() - t0;
      wakes++;
      await rest(r, 20);
    }
    const c = process.cpuUsage(s0);
    perSecond.push(Math.round((c.user + c.system) / 1000));
  }
  const c = process.cpuUsage(c0);
  if (profileTo) {
    const { profile } = await session.post('Profiler.stop');
    writeFileSync(profileTo, JSON.stringify(profile));
  }
  if (stats0) console.log(`${label} counters:`, JSON.stringify(countersMoved(stats0)));
  console.log(`${label} ${seconds} s: cpu ${((c.user + c.system) / 1e6).toFixed(2)} s (ms each second: ${perSecond.join(' ')}), in runSlice ${(sliceMs / 1000).toFixed(2)} s, ${wakes} wakes, ${((m.cpu.instructions - i0) / 1e6).toFixed(1)} M instructions`);
}
// IDLE=seconds idles at the prompt before any workload (PROFILE=file profiles it).
if (prompt && process.env.IDLE) {
  // IDLE_WARM=seconds idles unmeasured first, so the measure is of the steady state.
  const warmUntil = performance.now() + Number(process.env.IDLE_WARM ?? 0) * 1000;
  while (performance.now() < warmUntil) await rest(m.runSlice(10), 20);
  await idleAtPrompt('idle', Number(process.env.IDLE), process.env.PROFILE);
}
// WORKLOAD=name runs one of the bench's workloads at the prompt and prints its time and the counters it moved.
// WORKLOAD=a,b,c runs several in turn (as the bench does, each after the ones before it).
const workloads = process.env.WORKLOAD_CMD
  ? [{ name: 'custom', command: process.env.WORKLOAD_CMD }]
  : (process.env.WORKLOAD ?? '').split(',').flatMap((n) => WORKLOADS.filter((w) => w.name === n));
// MISSES=n: the n entry points that most often found no translation during the workload.
const missAt = new Map<string, number>();
if (process.env.MISSES && m.bt) {
  const bt = m.bt;
  const find = bt.find.bind(bt);
  bt.find = () => {
    const before = bt.stats.misses;
    const t = find();
    if (bt.stats.misses !== before) {
      const k = `${m.cpu.cpl}:${(m.cpu.eip >>> 0).toString(16)}`;
      missAt.set(k, (missAt.get(k) ?? 0) + 1);
    }
    return t;
  };
}
let runProfile: import('node:inspector/promises').Session | null = null;
// REPEAT=n runs the workload n times (the later runs show the translations warm).
for (let run = 0; prompt && run < Number(process.env.REPEAT ?? 1) * workloads.length; run++) {
  const workload = workloads[run % workloads.length]!;
  // PROFILE_RUN=n (with PROFILE=file): a CPU profile of the nth run only (0-based; the later runs are warm).
  if (process.env.PROFILE_RUN && run === Number(process.env.PROFILE_RUN)) {
    const { Session } = await import('node:inspector/promises');
    runProfile = new Session();
    runProfile.connect();
    await runProfile.post('Profiler.enable');
    await runProfile.post('Profiler.start');
  }
  const before = m.bt ? { ...m.bt.stats } : null;
  // INTERP_PAGES counts the workloads' runs only, not the boot before them.
  if (run === 0) interpPages.clear();
  const c0 = process.cpuUsage();
  const i0 = m.cpu.instructions;
  out = '';
  m.serialIn(0, new TextEncoder().encode(`${workload.command}; echo DONE$((6*7))\n`));
  const w0 = performance.now();
  while (!out.includes('DONE42') && performance.now() < deadline) {
    const r = m.runSlice(50);
    if (r === 'off') break;
    await rest(r, Number(process.env.REST_MS ?? 10));
  }
  const c = process.cpuUsage(c0);
  if (runProfile) {
    const { profile } = await runProfile.post('Profiler.stop');
    writeFileSync(process.env.PROFILE!, JSON.stringify(profile));
    runProfile = null;
  }
  if (process.env.RETRANS) {
    console.log('made again:', JSON.stringify(Object.fromEntries(Object.entries(retrans).map(([k, v]) => [k, Math.round(v)]))));
    Object.assign(retrans, noneMade());
  }
  console.log(`${workload.name}: ${((performance.now() - w0) / 1000).toFixed(2)} s, cpu ${((c.user + c.system) / 1e6).toFixed(2)} s, ${((m.cpu.instructions - i0) / 1e6).toFixed(0)} M instructions`);
  if (before) console.log(JSON.stringify(countersMoved(before)));
  if (callCounts.size) {
    console.log('calls', JSON.stringify(Object.fromEntries(callCounts)));
    for (const k of callCounts.keys()) callCounts.set(k, 0);
  }
  if (process.env.DUMP && m.bt) {
    const all = [...m.bt.translations()];
    const chars = all.reduce((a, t) => a + t.sourceChars, 0);
    const insns = all.reduce((a, t) => a + t.length, 0);
    console.log(`${all.length} translations, ${insns} instructions, ${chars} characters (${(chars / insns).toFixed(0)} per instruction)`);
    // DUMP_EIP=hex picks the translation at that EIP instead of the biggest.
    const big = process.env.DUMP_EIP ? all.find((t) => t.eip >>> 0 === parseInt(process.env.DUMP_EIP!, 16)) : all.sort((a, b) => b.sourceChars - a.sourceChars)[0];
    if (big) (await import('node:fs')).writeFileSync(process.env.DUMP, big.source);
  }
  if (missAt.size) console.log(`${missAt.size} entry points missed:`, [...missAt].sort((a, b) => b[1] - a[1]).slice(0, Number(process.env.MISSES)).map(([k, n]) => `${k} ${n}`).join(', '));
}
// IDLE_AFTER=seconds idles at the prompt after the workloads, as the bench's idle figure does
// (IDLE_PROFILE=file profiles it).
if (prompt && process.env.IDLE_AFTER) await idleAtPrompt('idle after the workloads', Number(process.env.IDLE_AFTER), process.env.IDLE_PROFILE);
if (allocSession) {
  const { profile } = await allocSession.post('HeapProfiler.stopSampling');
  writeFileSync(process.env.ALLOC_PROF!, JSON.stringify(profile));
}
if (process.env.DECODES) console.log(`decoded ${decodes.n} instructions, cache dropped ${decodes.drops} times; by CPL:linear page`, [...decodedPages].sort((a, b) => b[1] - a[1]).slice(0, 12).map(([k, n]) => `${k} ${n}`).join(', '), `(${decodedPages.size} pages)`);
if (opcodes.size) {
  const all = [...opcodes].sort((a, b) => b[1] - a[1]);
  const total = all.reduce((a, r) => a + r[1], 0);
  console.log(`interpreted opcodes (${(total / 1e6).toFixed(1)} M):`, all.slice(0, Number(process.env.OPCODES)).map(([k, n]) => `${k} ${((n / total) * 100).toFixed(1)}%`).join(', '));
}
// DISASM=hex[:bytes]: at the end, the guest code at that linear address (through the page tables of
// whatever runs then: kernel addresses are the same in every process), disassembled by ndisasm.
if (process.env.DISASM) {
  const [at, len] = process.env.DISASM.split(':');
  const lin = parseInt(at!, 16), n = Number(len ?? 256);
  const cpu = m.cpu as unknown as { translate: (lin: number, write: boolean, user: boolean) => number };
  const bytes = new Uint8Array(n);
  for (let k = 0; k < n; k++) bytes[k] = m.mem.u8[((cpu.translate((lin + k) | 0, false, false) & ~0xfff) | ((lin + k) & 0xfff)) >>> 0]!;
  writeFileSync('/tmp/disasm.bin', bytes);
  console.log((await import('node:child_process')).execFileSync('ndisasm', ['-b', '32', '-o', String(lin), '/tmp/disasm.bin']).toString());
}
if (translateTimes.length) {
  const all = translateTimes.reduce((a, t) => a + t[0], 0);
  console.log(`translations made: ${translateTimes.length}, ${all.toFixed(0)} ms; longest:`, translateTimes.sort((a, b) => b[0] - a[0]).slice(0, Number(process.env.TRANSLATE_MS)).map(([ms, eip, n, kind]) => `${eip.toString(16)} ${n} ${kind} ${ms.toFixed(1)} ms`).join(', '));
}
if (ranBlocks.regions) console.log('ran blocks', JSON.stringify(ranBlocks));
if (wasmCover.offered) console.log('wasm cover', JSON.stringify(wasmCover));
if (interpPages.size) console.log('interpreted by CPL:page', [...interpPages].sort((a, b) => b[1] - a[1]).slice(0, Number(process.env.INTERP_PAGES)).map(([k, n]) => `${k} ${(n / 1e6).toFixed(process.env.INTERP_EIPS ? 4 : 1)}M`).join(', '));
if (byBlock.size) {
  const rows = [...byBlock].sort((a, b) => b[1] - a[1]).slice(0, Number(process.env.BY_BLOCK));
  console.log(rows.map(([eip, n]) => `${(eip >>> 0).toString(16)} ${(n / 1e6).toFixed(0)}M`).join(', '));
  // BY_BLOCK_HIST=1: the regions by how many guest instructions ran in them (a power of ten each), with
  // the instructions translated for them: how much translating went to code that ran little after.
  if (process.env.BY_BLOCK_HIST) {
    const made = new Map<number, number>();
    for (const t of m.bt!.translations()) made.set(t.eip, t.length);
    const decades = new Map<number, { regions: number; translated: number; ran: number }>();
    for (const [eip, n] of byBlock) {
      const d = n > 0 ? Math.floor(Math.log10(n)) : 0;
      const row = decades.get(d) ?? { regions: 0, translated: 0, ran: 0 };
      row.regions++;
      row.translated += made.get(eip) ?? 0;
      row.ran += n;
      decades.set(d, row);
    }
    for (const [d, r] of [...decades].sort((a, b) => a[0] - b[0])) console.log(`ran 1e${d}-1e${d + 1}: ${r.regions} regions, ${r.translated} instructions translated, ${(r.ran / 1e6).toFixed(2)} M run`);
  }
  if (exits.size && process.env.EXIT_KINDS) {
    const live = new Set([...m.bt!.translations()].map((t) => t.eip >>> 0));
    let all = 0, same = 0, sameLive = 0, near = 0;
    for (const [k, [runs]] of exits) {
      const [from, to] = k.split('@')[1]!.split('->').map((x) => parseInt(x, 16));
      all += runs;
      if (from! >>> 12 === to! >>> 12) { same += runs; if (live.has(to!)) sameLive += runs; if (Math.abs(to! - from!) < 64) near += runs; }
    }
    console.log(`exits ${(all / 1e6).toFixed(2)}M, to the same page ${(same / 1e6).toFixed(2)}M (translated there ${(sameLive / 1e6).toFixed(2)}M, within 64 bytes ${(near / 1e6).toFixed(2)}M)`);
  }
  // EXIT_CLASSES=1: the exits by where they go (kernel addresses from 0xC0000000, user below; page: the same 4 KiB page or another).
  if (exits.size && process.env.EXIT_CLASSES) {
    const classes = new Map<string, number>();
    for (const [k, [runs]] of exits) {
      const [from, to] = k.split('@')[1]!.split('->').map((x) => parseInt(x, 16));
      const side = (a: number) => (a >= 0xc0000000 ? 'kernel' : 'user');
      const c = `${side(from!)}->${side(to!)} ${from! >>> 12 === to! >>> 12 ? 'same page' : 'other page'}`;
      classes.set(c, (classes.get(c) ?? 0) + runs);
    }
    for (const [c, n] of [...classes].sort((a, b) => b[1] - a[1])) console.log(`exits ${c}: ${(n / 1e6).toFixed(2)}M`);
  }
  if (exits.size) {
    const top = [...exits].sort((a, b) => b[1][0] - a[1][0]).slice(0, Number(process.env.EXITS));
    for (const [k, [runs, n]] of top) console.log(`exit ${k}: ${(runs / 1e6).toFixed(2)}M runs, ${(n / runs).toFixed(1)} insns/run`);
  }
  // With DUMP=file, the source of the one that ran the most.
  const top = [...m.bt!.translations()].find((t) => t.eip === rows[0]![0]);
  if (process.env.DUMP && top) writeFileSync(process.env.DUMP, top.source);
}
if (wasmStops.size && byBlock.size) {
  const weight = new Map<string, number>();
  const wasmEips = new Set([...m.bt!.translations()].filter((t) => t.source.startsWith('/* WebAssembly')).map((t) => t.eip >>> 0));
  let inWasm = 0;
  let inJs = 0;
  for (const [eip, n] of byBlock) {
    if (wasmEips.has(eip >>> 0)) {
      inWasm += n;
      continue;
    }
    inJs += n;
    const stops = wasmStops.get(eip >>> 0);
    if (!stops) continue;
    const all = [...stops.values()].reduce((a, b) => a + b, 0);
    for (const [k, c] of stops) weight.set(k, (weight.get(k) ?? 0) + (n * c) / all);
  }
  console.log(`translated: ${(inWasm / 1e6).toFixed(0)} M instructions in WebAssembly, ${(inJs / 1e6).toFixed(0)} M in JavaScript; WebAssembly regions stopped by`);
  console.log([...weight].sort((a, b) => b[1] - a[1]).slice(0, Number(process.env.WASM_STOPS)).map(([k, n]) => `${k} ${(n / 1e6).toFixed(1)}M`).join(', '));
}
if (m.bt) console.log(JSON.stringify(m.bt.stats), JSON.stringify((m.bt as { checkStats?: unknown }).checkStats ?? null));
// DUMP_ALL=file: every live translation's source after the run (to see what the generated code spends characters on).
if (process.env.DUMP_ALL && m.bt) writeFileSync(process.env.DUMP_ALL, [...m.bt.translations()].map((t) => t.source).join('\n'));
// OVERLAP=1: how much guest code the live translations cover more than once (regions reach into each other).
if (process.env.OVERLAP && m.bt) {
  const covered = new Set<number>();
  let spans = 0, chars = 0, insns = 0, n = 0;
  for (const t of m.bt.translations()) {
    n++;
    spans += t.bytes;
    chars += t.sourceChars;
    insns += t.length;
    for (let b = 0; b < t.bytes; b++) covered.add(t.codeStart + b);
  }
  console.log(`${n} live translations, ${insns} instructions, ${chars} characters; guest bytes spanned ${spans}, distinct ${covered.size}`);
}
// Memory beyond guest RAM, as the bench counts it (run node with --expose-gc for live data only;
// twice, as the bench does: pages freed by the first are swept by the second).
(globalThis as { gc?: () => void }).gc?.();
(globalThis as { gc?: () => void }).gc?.();
const mu = process.memoryUsage();
console.log(`memory beyond guest RAM: ${((mu.heapUsed + mu.external) / 1048576 - 256).toFixed(0)} MiB; decoded instructions held ${m.cpu.decodedInstructions} on ${m.cpu.cachedCodePages} pages`);
if (m.bt) { const b = m.bt as unknown as { sourceChars: number; count: number }; console.log(`source chars live ${b.sourceChars} in ${b.count} entries`); }
if (process.env.HEAP_SPACES) {
  const v8 = await import('node:v8');
  console.log(v8.getHeapSpaceStatistics().map((h) => `${h.space_name} ${(h.space_used_size / 1048576).toFixed(1)}`).join(', '), `external ${(mu.external / 1048576).toFixed(1)} arrayBuffers ${(mu.arrayBuffers / 1048576).toFixed(1)}`);
}
// BUFFERS=1: the typed arrays reachable from the machine, largest first, by the path that reached them first.
if (process.env.BUFFERS) {
  const seen = new Set<unknown>();
  const buffers = new Map<ArrayBufferLike, string>();
  const walk = (o: unknown, path: string, depth: number): void => {
    if (o === null || typeof o !== 'object' || seen.has(o) || depth > 12) return;
    seen.add(o);
    if (ArrayBuffer.isView(o)) {
      if (!buffers.has(o.buffer)) buffers.set(o.buffer, path);
      return;
    }
    if (o instanceof ArrayBuffer) {
      if (!buffers.has(o)) buffers.set(o, path);
      return;
    }
    if (o instanceof Map) {
      let k = 0;
      for (const v of o.values()) if (k++ < 50_000) walk(v, `${path}{}`, depth + 1);
      return;
    }
    if (o instanceof Set) return;
    if (Array.isArray(o)) {
      for (let k = 0; k < Math.min(o.length, 50_000); k++) walk(o[k], `${path}[]`, depth + 1);
      return;
    }
    for (const k of Object.keys(o)) walk((o as Record<string, unknown>)[k], `${path}.${k}`, depth + 1);
  };
  walk(m, 'm', 0);
  const rows = [...buffers].map(([b, p]) => [b.byteLength, p] as const).sort((a, b) => b[0] - a[0]);
  console.log(`typed arrays reachable: ${rows.length}, ${(rows.reduce((a, r) => a + r[0], 0) / 1048576).toFixed(1)} MiB`);
  for (const [n, p] of rows.slice(0, 25)) console.log(`  ${(n / 1048576).toFixed(2)} MiB ${p}`);
}
// HEAP_SNAPSHOT=file writes V8's heap snapshot there (after the collection above), to see what holds the memory.
if (process.env.HEAP_SNAPSHOT) (await import('node:v8')).writeHeapSnapshot(process.env.HEAP_SNAPSHOT);
console.log(out.slice(-300));
if (process.env.OPT_STATUS && m.bt) {
  // With --allow-natives-syntax: how many translations V8 has optimized (bit 4: TurboFan, 5: Maglev... see V8's runtime).
  const status = new Function('f', 'return %GetOptimizationStatus(f)') as (f: unknown) => number;
  const hist = new Map<string, { n: number; runs: number }>();
  for (const t of m.bt.translations()) {
    const s = status(t.fn);
    // V8 11's bits: 16 optimized, 32 Maglev, 128 interpreted, 1 << 15 baseline (Sparkplug).
    const k = s & 16 ? 'turbofan' : s & 32 ? 'maglev' : s & (1 << 15) ? 'baseline' : s & 128 ? 'interpreted' : `other(${s.toString(2)})`;
    if (process.env.OPT_STATUS === 'each') console.log(`${(t.eip >>> 0).toString(16)} ${k} runs ${t.runs} insns ${t.length} chars ${t.sourceChars}`);
    const h = hist.get(k) ?? { n: 0, runs: 0 };
    h.n++;
    h.runs += t.runs;
    hist.set(k, h);
  }
  console.log(JSON.stringify([...hist]));
}
// HANDLER_STATUS=1 (with --allow-natives-syntax): the interpreter's handlers by V8 tier at the end.
if (process.env.HANDLER_STATUS) {
  const status = new Function('f', 'return %GetOptimizationStatus(f)') as (f: unknown) => number;
  const tiers = new Map<string, string[]>();
  const table = m.cpu.table as unknown as { one: (Record<string, unknown> | undefined)[]; two: (Record<string, unknown> | undefined)[] };
  const visit = (spec: Record<string, unknown> | undefined, where: string): void => {
    if (!spec) return;
    for (const f of ['h', 'h16', 'h32']) {
      if (typeof spec[f] !== 'function') continue;
      const st = status(spec[f]);
      const k = st & 16 ? 'turbofan' : st & 32 ? 'maglev' : st & (1 << 15) ? 'baseline' : st & 128 ? 'interpreted' : st & 1 ? 'function' : `other(${st.toString(2)})`;
      tiers.set(k, [...(tiers.get(k) ?? []), `${where}${spec.name as string}.${f}`]);
    }
    for (const [r, g] of ((spec.group as (Record<string, unknown> | undefined)[] | undefined) ?? []).entries()) visit(g, `/${r} `);
  };
  for (const spec of table.one) visit(spec, '');
  for (const spec of table.two) visit(spec, '0f ');
  for (const [k, v] of tiers) console.log(`${k} ${v.length}: ${v.slice(0, 400).join(', ')}`);
}
// DEBUG_PRINT=1 (with --allow-natives-syntax): V8's view of the engine's hot objects (field representations).
if (process.env.DEBUG_PRINT) {
  const print = new Function('o', '%DebugPrint(o)') as (o: unknown) => void;
  if (m.bt) print(m.bt.stats);
  if (m.bt) print(m.bt);
  const status = new Function('f', 'return %GetOptimizationStatus(f)') as (f: unknown) => number;
  const proto = m.bt ? (Object.getPrototypeOf(m.bt) as Record<string, unknown>) : {};
  for (const k of ['run', 'find', 'interpretCold', 'runTranslation', 'interpret']) if (proto[k]) console.log(k, status(proto[k]).toString(2));
  console.log('interpretBlock', status((m.cpu as unknown as Record<string, unknown>).interpretBlock).toString(2));
  // A decoded instruction, and one whose jump target is outside V8's small integers (±2^30) if any: their fields' representations and size.
  const pages = [...(m.cpu as unknown as { codeCache: Map<number, { instrs: { jumpEip: number }[] }> }).codeCache.values()];
  const all = pages.flatMap((c) => c.instrs.slice(1));
  print(all[0]);
  const far = all.find((i) => i.jumpEip < -0x40000000 || i.jumpEip >= 0x40000000);
  if (far) print(far);
}
