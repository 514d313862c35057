// The check engine (--engine check): every translation runs, then the interpreter runs the same
// instructions again from the same starting state, and the two outcomes are compared: registers,
// flags, segment and control registers, the FPU, and every byte either of them wrote. The first
// difference stops the VM with a report: the guest bytes, the translation, both states.
//
// Re-running needs the first run's effects undone, so in this mode translations leave out what cannot
// be undone or repeated: port I/O, string instructions (their fast paths write RAM directly) and
// RDTSC (time moves on). A translation that touched MMIO (a device) is not re-run; it is counted as
// unchecked.

import type { Cpu } from '../cpu.ts';
import type { StateRecord } from '../../device.ts';
import type { BtEngine } from './engine.ts';
import type { Translation } from './translate.ts';
import { describeKey } from './mode.ts';

export interface CheckOptions {
  /** Called with the report at the first divergence; by default it throws BtDivergence. */
  readonly onDivergence?: (report: string) => void;
}

export class BtDivergence extends Error {}

export interface CheckStats {
  checked: number;
  unchecked: number;
  divergences: number;
}

interface Snap {
  readonly r32: Int32Array;
  readonly eip: number;
  readonly flags: number;
  readonly raw: readonly number[];
  readonly sel: Uint16Array;
  readonly segBase: Int32Array;
  readonly segLimit: Uint32Array;
  readonly segAr: Uint16Array;
  readonly sys: readonly number[];
  /** PAE's PDPTE registers, loaded by a MOV to CR3 (a translation may write CR3 through the interpreter's handler). */
  readonly pdpte: Int32Array;
  /** Only for a translation that may touch it (Translation.touchesFpu): saving and comparing it was three quarters of the check engine's time. */
  readonly fpu: StateRecord | null;
}

function snap(cpu: Cpu, withFpu: boolean): Snap {
  return {
    r32: cpu.r32.slice(),
    eip: cpu.eip,
    flags: cpu.getFlags(),
    raw: [cpu.flagsRaw, cpu.lazy, cpu.lop, cpu.la, cpu.lb, cpu.lres, cpu.lsz],
    sel: cpu.sel.slice(),
    segBase: cpu.segBase.slice(),
    segLimit: cpu.segLimit.slice(),
    segAr: cpu.segAr.slice(),
    sys: [
      cpu.cr0, cpu.cr2, cpu.cr3, cpu.cr4, cpu.gdtrBase, cpu.gdtrLimit, cpu.idtrBase, cpu.idtrLimit, cpu.ldtrSel,
      cpu.ldtrBase, cpu.ldtrLimit, cpu.trSel, cpu.trBase, cpu.trLimit, cpu.trType, cpu.halted ? 1 : 0,
      cpu.shadow ? 1 : 0, cpu.delivering, cpu.sysenterCs, cpu.sysenterEsp, cpu.sysenterEip, cpu.a20Mask,
    ],
    pdpte: cpu.pdpte.slice(),
    fpu: withFpu ? cpu.fpu.saveState() : null,
  };
}

const SYS_NAMES = [
  'cr0', 'cr2', 'cr3', 'cr4', 'gdtr.base', 'gdtr.limit', 'idtr.base', 'idtr.limit', 'ldtr', 'ldtr.base',
  'ldtr.limit', 'tr', 'tr.base', 'tr.limit', 'tr.type', 'halted', 'shadow', 'delivering', 'sysenter_cs',
  'sysenter_esp', 'sysenter_eip', 'a20',
];
const REG_NAMES = ['eax', 'ecx', 'edx', 'ebx', 'esp', 'ebp', 'esi', 'edi'];
const SEG_NAMES = ['es', 'cs', 'ss', 'ds', 'fs', 'gs'];

function restore(cpu: Cpu, s: Snap): void {
  cpu.r32.set(s.r32);
  cpu.eip = s.eip;
  [cpu.flagsRaw, cpu.lazy, cpu.lop, cpu.la, cpu.lb, cpu.lres, cpu.lsz] = s.raw as [number, number, number, number, number, number, number];
  cpu.sel.set(s.sel);
  cpu.segBase.set(s.segBase);
  cpu.segLimit.set(s.segLimit);
  cpu.segAr.set(s.segAr);
  const y = s.sys;
  [cpu.cr0, cpu.cr2, cpu.cr3, cpu.cr4, cpu.gdtrBase, cpu.gdtrLimit, cpu.idtrBase, cpu.idtrLimit, cpu.ldtrSel,
    cpu.ldtrBase, cpu.ldtrLimit, cpu.trSel, cpu.trBase, cpu.trLimit, cpu.trType] = y as number[];
  cpu.halted = y[15] === 1;
  cpu.shadow = y[16] === 1;
  cpu.delivering = y[17]!;
  [cpu.sysenterCs, cpu.sysenterEsp, cpu.sysenterEip] = [y[18]!, y[19]!, y[20]!];
  cpu.a20Mask = y[21]!;
  cpu.pdpte.set(s.pdpte);
  if (s.fpu) cpu.fpu.loadState(s.fpu, 1);
  for (let seg = 0; seg < 6; seg++) cpu.updateSegmentChecks(seg as 0);
  cpu.updateMode();
}

function hex(v: number): string {
  return '0x' + (v >>> 0).toString(16).padStart(8, '0');
}

function differences(a: Snap, b: Snap): string[] {
  const out: string[] = [];
  const cmp = (name: string, x: number, y: number): void => {
    if (x !== y) out.push(`${name}: translated ${hex(x)}, interpreter ${hex(y)}`);
  };
  for (let r = 0; r < 8; r++) cmp(REG_NAMES[r]!, a.r32[r]!, b.r32[r]!);
  cmp('eip', a.eip, b.eip);
  cmp('eflags', a.flags, b.flags);
  for (let s = 0; s < 6; s++) {
    cmp(SEG_NAMES[s]!, a.sel[s]!, b.sel[s]!);
    cmp(`${SEG_NAMES[s]}.base`, a.segBase[s]!, b.segBase[s]!);
    cmp(`${SEG_NAMES[s]}.limit`, a.segLimit[s]!, b.segLimit[s]!);
    cmp(`${SEG_NAMES[s]}.rights`, a.segAr[s]!, b.segAr[s]!);
  }
  for (let k = 0; k < SYS_NAMES.length; k++) cmp(SYS_NAMES[k]!, a.sys[k]!, b.sys[k]!);
  for (let k = 0; k < 8; k++) cmp(`pdpte${k >> 1}.${k & 1 ? 'hi' : 'lo'}`, a.pdpte[k]!, b.pdpte[k]!);
  if (a.fpu && b.fpu && JSON.stringify(a.fpu, fpuJson) !== JSON.stringify(b.fpu, fpuJson)) out.push('fpu state differs');
  return out;
}

function fpuJson(_k: string, v: unknown): unknown {
  return v instanceof Uint8Array ? Array.from(v) : v;
}

/** Byte writes by physical address, each with the value it replaced (first write wins on undo). */
class WriteLog {
  readonly addrs: number[] = [];
  readonly old: number[] = [];
  record(cpu: Cpu, phys: number, size: number): void {
    for (let k = 0; k < size; k++) {
      const a = phys + k;
      if (a >= cpu.mem.size) continue;
      this.addrs.push(a);
      this.old.push(cpu.mem.u8[a]!);
    }
  }
  undo(cpu: Cpu): void {
    for (let k = this.addrs.length - 1; k >= 0; k--) cpu.mem.u8[this.addrs[k]!] = this.old[k]!;
  }
}

/** Wraps the cpu's write paths so every guest write is logged while `log` is set. */
function instrumentWrites(cpu: Cpu, current: () => WriteLog | null): void {
  const physOf = (lin: number, sys: boolean): number => {
    const e = cpu.translate(lin, true, sys ? false : cpu.cpl === 3);
    return ((e & ~0xfff) | (lin & 0xfff)) >>> 0;
  };
  const proto = Object.getPrototypeOf(cpu) as Cpu;
  const wrap = (name: 'writeLin8' | 'writeLin16' | 'writeLin32' | 'writeSys8', size: number, sys: boolean): void => {
    const orig = proto[name] as (lin: number, v: number) => void;
    (cpu as unknown as Record<string, unknown>)[name] = function (this: Cpu, lin: number, v: number): void {
      const log = current();
      if (log) {
        // Page by page: the first byte's page, then (for a split access) the last byte's.
        const first = Math.min(size, 0x1000 - (lin & 0xfff));
        log.record(cpu, physOf(lin, sys), first);
        if (first < size) log.record(cpu, physOf((lin + first) | 0, sys), size - first);
      }
      orig.call(this, lin, v);
    };
  };
  // The page walker sets accessed and dirty bits with physical writes.
  const mem = cpu.mem;
  const write32 = Object.getPrototypeOf(mem).write32 as (phys: number, v: number) => void;
  mem.write32 = function (this: typeof mem, phys: number, v: number): void {
    current()?.record(cpu, phys >>> 0, 4);
    write32.call(this, phys, v);
  };
  wrap('writeLin8', 1, false);
  wrap('writeLin16', 2, false);
  wrap('writeLin32', 4, false);
  wrap('writeSys8', 1, true);
}

/** Makes `bt` check each translation against the interpreter. Returns the running counts. */
export function installCheck(bt: BtEngine, opts: CheckOptions = {}): CheckStats {
  const cpu = bt.cpu;
  const stats: CheckStats = { checked: 0, unchecked: 0, divergences: 0 };
  let log: WriteLog | null = null;
  instrumentWrites(cpu, () => log);
  // WebAssembly translations store to RAM themselves; in this mode they report each store first.
  if (bt.wasm) bt.wasm.onWrite = (phys, size) => log?.record(cpu, phys, size);
  bt.keepSource = true;
  (bt as { checkStats?: CheckStats }).checkStats = stats;
  bt.execute = (t: Translation, budget: number): number => {
    const before = snap(cpu, t.touchesFpu);
    cpu.beginTlbJournal();
    const mmio = cpu.mem.mmioAccesses;
    const logA = (log = new WriteLog());
    const n = bt.runTranslation(t, budget);
    log = null;
    if (cpu.mem.mmioAccesses !== mmio) {
      cpu.endTlbJournal();
      stats.unchecked++;
      return n;
    }
    const afterA = snap(cpu, t.touchesFpu);
    const bytesA = logA.addrs.map((a) => cpu.mem.u8[a]!);
    logA.undo(cpu);
    restore(cpu, before);
    cpu.undoTlb();
    const logB = (log = new WriteLog());
    try {
      cpu.stepExactly(n);
    } finally {
      log = null;
    }
    const afterB = snap(cpu, t.touchesFpu);
    const diffs = differences(afterA, afterB);
    const touched = new Set([...logA.addrs, ...logB.addrs]);
    const valueA = new Map<number, number>();
    logA.addrs.forEach((a, k) => valueA.set(a, bytesA[k]!));
    for (const a of touched) {
      // An address only B wrote kept its old value in A.
      const va = valueA.get(a) ?? logB.old[logB.addrs.indexOf(a)]!;
      const vb = cpu.mem.u8[a]!;
      if (va !== vb) diffs.push(`memory ${hex(a)}: translated ${va.toString(16)}, interpreter ${vb.toString(16)}`);
    }
    stats.checked++;
    if (diffs.length) {
      stats.divergences++;
      const report = divergenceReport(cpu, t, n, before, diffs);
      if (opts.onDivergence) opts.onDivergence(report);
      else throw new BtDivergence(report);
    }
    return n;
  };
  return stats;
}

function divergenceReport(cpu: Cpu, t: Translation, n: number, start: Snap, diffs: string[]): string {
  const code = Array.from(cpu.mem.u8.subarray(t.codeStart, t.codeStart + t.bytes), (b) => b.toString(16).padStart(2, '0')).join(' ');
  const regs = REG_NAMES.map((r, k) => `${r}=${hex(start.r32[k]!)}`).join(' ');
  return [
    `the translator and the interpreter disagree after ${n} instructions of the block at eip ${hex(t.eip)} (physical ${hex(t.phys)}, ${describeKey(t.key)})`,
    ...diffs.map((d) => `  ${d}`),
    `start: ${regs} eip=${hex(start.eip)} eflags=${hex(start.flags)}`,
    `guest code: ${code}`,
    'translation:',
    t.source,
  ].join('\n');
}
