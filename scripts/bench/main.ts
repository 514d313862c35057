// `npm run bench`: Hostbox's binary translator (bt) and its interpreter (hostbox) beside v86 on the
// same Debian guest. Alternates engines, at least three passes each, and reports medians, the time
// ratios of the first engine to each other one per workload, guest instructions per second, and the
// translator's counters. Then (folder-read.ts) the guest reads a 256 MiB file from a host-folder
// disk and the same file from a raw disk image, in MB/s; and (net-throughput.ts, through `hostbox
// run`, which needs `npm run build`) TCP through the PCnet and the NAT each way beside the guest's own
// loopback, in MB/s. Writes bench-results/bench-<date>.json.
//
// Options: --runs N (default 3), --only name,name (workloads; folder-read for the folder disk
//          alone, net for the network alone), --engines bt,hostbox,v86, --timeout-s N (per wait,
//          default 600), --memory MiB (default 256), --idle-s N (how long each pass leaves the
//          guest idle at its prompt after the workloads for the idle figures, default 15; 0: none).

import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import os from 'node:os';
import { HostboxRunner } from './hostbox-runner.ts';
import { V86Runner } from './v86-runner.ts';
import { IDLE_WINDOW, idleCpuPercent, measurePass, median, type PassResult } from './measure.ts';
import { WORKLOADS } from './workloads.ts';
import type { GuestRunner } from './runner.ts';
import { mixedWorkload, tightLoop } from './cpu-loops.ts';
import { folderRead, type FolderReadResult } from './folder-read.ts';
import { netThroughput, type NetThroughputResult } from './net-throughput.ts';
import { tuneV8ForTranslatedCode } from '../../main/v8-tiering.ts';

// Hostbox's machines run here, in this process, so V8 is tuned as in the VMM process. V8's flags
// are per process: v86 runs under the same setting (it touches the tiering of JavaScript only, and
// v86's generated code is WebAssembly).
tuneV8ForTranslatedCode();

function arg(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && process.argv[i + 1] ? process.argv[i + 1]! : fallback;
}

async function main(): Promise<void> {
  const root = process.env.HOSTBOX_ROOT ?? process.cwd();
  const guestDir = join(root, '.cache', 'guest');
  const manifestPath = join(guestDir, 'manifest.json');
  if (!existsSync(manifestPath)) {
    console.error(`no test guest at ${guestDir}: run \`npm run guest\` first`);
    process.exit(2);
  }
  const manifest = JSON.parse(readFileSync(manifestPath, 'utf8')) as { readyMarker: string; prompt: string; kernelRelease: string };
  const runs = Math.max(1, Number(arg('runs', '3')));
  const only = arg('only', '');
  const workloads = only ? WORKLOADS.filter((w) => only.split(',').includes(w.name)) : WORKLOADS;
  const withFolderRead = !only || only.split(',').includes('folder-read');
  const withNet = !only || only.split(',').includes('net');
  if (withNet && !existsSync(join(root, 'dist', 'main', 'cli.js'))) {
    console.error('the network figures run `hostbox run`: run `npm run build` first');
    process.exit(2);
  }
  const engines = arg('engines', 'bt,hostbox,v86').split(',');
  const timeoutMs = Number(arg('timeout-s', '600')) * 1000;
  const idleS = Number(arg('idle-s', String(IDLE_WINDOW.ms / 1000)));
  const idleWindow = idleS >= 1 ? { ...IDLE_WINDOW, ms: idleS * 1000 } : null;
  const guest = {
    kernel: join(guestDir, 'vmlinuz'),
    initrd: join(guestDir, 'initrd.img'),
    cmdline: 'console=ttyS0 quiet',
    memoryMiB: Number(arg('memory', '256')),
  };
  const v86Missing = V86Runner.available();
  if (engines.includes('v86') && v86Missing) {
    console.error(`cannot run the v86 reference: ${v86Missing}`);
    process.exit(2);
  }
  const make: Record<string, () => GuestRunner> = {
    hostbox: () => new HostboxRunner(guest, 'interpreter'),
    bt: () => new HostboxRunner(guest, 'bt'),
    v86: () => new V86Runner(guest),
  };
  // Each CPU engine alone on fixed programs, before any guest runs (median of three each).
  const loops: Record<string, { tight: number; mixed: number }> = {};
  for (const e of ['interpreter', 'bt'] as const) {
    const tight = median([0, 1, 2].map(() => tightLoop(e).mips));
    const mixed = median([0, 1, 2].map(() => mixedWorkload(e, 4000).mips));
    loops[e] = { tight, mixed };
    console.log(`${e}: tight loop ${tight.toFixed(1)} MIPS, mixed workload ${mixed.toFixed(1)} MIPS`);
  }
  const results: PassResult[] = [];
  for (let run = 1; run <= (workloads.length ? runs : 0); run++) {
    for (const e of engines) {
      const factory = make[e];
      if (!factory) throw new Error(`unknown engine ${e}`);
      process.stderr.write(`pass ${run}/${runs} ${e}... `);
      const r = await measurePass(factory(), run, workloads, manifest, timeoutMs, idleWindow);
      process.stderr.write(`boot ${(r.bootMs / 1000).toFixed(1)} s${r.overheadMiB === null ? '' : `, ${r.overheadMiB.toFixed(0)} MiB beyond guest RAM`}\n`);
      // Named by the key it was asked for (hostbox-bt and hostbox-interpreter share a prefix).
      results.push({ ...r, engine: e });
    }
  }
  const rows: { workload: string; [engine: string]: string | number }[] = [];
  const names = results.length ? ['boot', ...workloads.map((w) => w.name)] : [];
  const summary: Record<string, Record<string, { medianMs: number; mips: number | null }>> = {};
  for (const n of names) {
    summary[n] = {};
    for (const e of engines) {
      const mine = results.filter((r) => r.engine === e);
      const ms = mine.map((r) => (n === 'boot' ? r.bootMs : r.workloads[n]!.ms));
      const ins = mine.map((r) => (n === 'boot' ? null : r.workloads[n]!.instructions));
      const mips = ins.every((x) => x !== null) && n !== 'boot' ? median(ins.map((x, k) => x! / ms[k]! / 1000)) : null;
      summary[n]![e] = { medianMs: median(ms), mips };
    }
  }
  if (names.length) console.log(`\nHostbox (bt: translator, hostbox: interpreter) vs v86 on Debian ${manifest.kernelRelease} + busybox (${runs} passes each, medians)`);
  console.log(`${os.cpus()[0]?.model ?? 'unknown CPU'}, ${os.cpus().length} cores, node ${process.version}\n`);
  const others = engines.slice(1);
  const header = ['workload', ...engines.map((e) => `${e} s`), ...others.map((o) => `${engines[0]}/${o}`), ...engines.map((e) => `${e} MIPS`)];
  const table: string[][] = [header];
  for (const n of names) {
    const s = summary[n]!;
    const cells = [n, ...engines.map((e) => (s[e]!.medianMs / 1000).toFixed(2))];
    for (const o of others) cells.push((s[engines[0]!]!.medianMs / s[o]!.medianMs).toFixed(2));
    cells.push(...engines.map((e) => (s[e]!.mips === null ? '-' : s[e]!.mips!.toFixed(1))));
    table.push(cells);
  }
  const widths = header.map((_, c) => Math.max(...table.map((r) => r[c]!.length)));
  if (names.length) for (const r of table) console.log(r.map((x, c) => x.padStart(widths[c]!)).join('  '));
  void rows;
  // What an idle guest costs the host: CPU time over wall time (100% is one core), in its first five
  // seconds (V8 may still be compiling the last workload's code) and its last five, and how many
  // guest instructions a second it ran (its timer ticks between halts).
  const idleSummary: Record<string, { firstPercent: number; lastPercent: number; guestMips: number | null }> = {};
  for (const e of engines) {
    const mine = results.filter((r) => r.engine === e && r.idle?.length).map((r) => r.idle!);
    if (!mine.length) continue;
    const firstPercent = median(mine.map((steps) => idleCpuPercent(steps.slice(0, 5))));
    const lastPercent = median(mine.map((steps) => idleCpuPercent(steps.slice(-5))));
    const counts = mine.flat();
    const guestMips = counts.every((x) => x.instructions !== null) ? median(mine.map((steps) => steps.reduce((a, x) => a + x.instructions!, 0) / steps.reduce((a, x) => a + x.ms, 0) / 1000)) : null;
    idleSummary[e] = { firstPercent, lastPercent, guestMips };
  }
  if (Object.keys(idleSummary).length)
    console.log(
      `\nIdle at the prompt after the workloads (${(idleWindow?.ms ?? 0) / 1000} s each pass; share of a core in the first 5 s / the last 5 s, medians): ` +
        Object.entries(idleSummary)
          .map(([e, s]) => `${e} ${s.firstPercent.toFixed(1)}% / ${s.lastPercent.toFixed(1)}%${s.guestMips === null ? '' : ` (${s.guestMips.toFixed(2)} M guest instructions a second)`}`)
          .join(', '),
    );
  // The translator's counters after each bt pass: how much ran translated, what translating cost.
  for (const r of results.filter((x) => x.bt)) {
    const b = r.bt!;
    const pass = r.bootMs + Object.values(r.workloads).reduce((a, w) => a + w.ms, 0);
    const lookups = b.hits + b.chained + b.misses;
    console.log(
      `bt pass ${r.run}: ${((100 * b.btInsns) / (b.btInsns + b.interpInsns)).toFixed(1)}% of instructions translated; ` +
        `${b.made} translations made (${b.translatedInsns} guest instructions), ${b.translations} entry points live (translations and aliases), ${b.flushes} full flushes, ${b.invalidations} page invalidations, ${b.demotedPages} pages demoted, ${b.retranslations ?? 0} retranslations for slow accesses; ` +
        `dispatch: ${((100 * b.chained) / lookups).toFixed(1)}% chained, ${((100 * b.hits) / lookups).toFixed(1)}% looked up, ${((100 * b.misses) / lookups).toFixed(1)}% missed; ` +
        `translating took ${(b.translateMs / 1000).toFixed(1)} s (${((100 * b.translateMs) / pass).toFixed(1)}% of the pass)`,
    );
  }
  let folder: FolderReadResult | null = null;
  if (withFolderRead) {
    folder = await folderRead(guest, manifest, { rounds: runs, timeoutMs });
    console.log(
      `\nReading a ${folder.mib} MiB file in the guest (bt, vfat, caches dropped; median of ${folder.rounds.length}): ` +
        `raw disk image ${folder.rawMBps.toFixed(1)} MB/s, host-folder disk ${folder.folderMBps.toFixed(1)} MB/s ` +
        `(${((100 * folder.folderMBps) / folder.rawMBps).toFixed(0)}% of the raw image); the folder attached in ${folder.attachMs.toFixed(0)} ms`,
    );
  }
  let net: NetThroughputResult | null = null;
  if (withNet) {
    net = await netThroughput({ rounds: runs, timeoutMs });
    console.log(
      `\nTCP through the PCnet and the NAT (bt, ${net.mib} MiB each way, discarded at both ends; median of ${net.rounds.length}): ` +
        `host to guest ${net.hostToGuestMBps.toFixed(2)} MB/s, guest to host ${net.guestToHostMBps.toFixed(2)} MB/s; ` +
        `the same over the guest's loopback at MTU 1500 ${net.guestLoopbackMBps.toFixed(2)} MB/s ` +
        `(both NAT transfers together took ${net.natOverLoopback.toFixed(2)} times as long as the loopback one)`,
    );
  }
  const outDir = join(root, 'bench-results');
  mkdirSync(outDir, { recursive: true });
  const file = join(outDir, `bench-${new Date().toISOString().replace(/[:.]/g, '-')}.json`);
  writeFileSync(
    file,
    JSON.stringify(
      { date: new Date().toISOString(), machine: { cpu: os.cpus()[0]?.model, cores: os.cpus().length, node: process.version }, guest: manifest.kernelRelease, runs, loops, summary, idle: idleSummary, passes: results, folderRead: folder, net },
      null,
      2,
    ),
  );
  console.log(`\nresults: ${file}`);
}

main().catch((e: unknown) => {
  console.error(e instanceof Error ? e.message : String(e));
  process.exit(1);
});
