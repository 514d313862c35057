// The whole PC as named sections: what a state file holds besides its header (docs/state-format.md).
// Saving happens between run slices with every IDE command finished (see PcMachine.quiescent), so
// each section is plain data. Loading goes into a freshly built machine of the same configuration,
// in a fixed order: RAM, guest time, CPU, devices, the board's wiring, then the timers, and only
// when every part is in place are interrupt lines driven again. If anything fails the machine is
// thrown away by the caller: a half-loaded machine never runs.

import type { Snapshotable, StateRecord } from '../device.ts';
import type { PcMachine } from '../machine.ts';
import type { RamRun, StateSection } from '../machine-api.ts';
import { PcDevices } from '../pc-devices.ts';
import { CLOCK_STATE } from '../clock.ts';
import { CPU_STATE } from '../cpu/cpu-state.ts';
import { decodeRecord, encodeRecord } from './codec.ts';
import { checkVersion, loadBySchema, saveBySchema, StateError, type StateSchema } from './schema.ts';

/** One component's state: the unit a state file stores, checksums and versions. */
export type Section = StateSection;
/** A run of guest RAM pages that are not all zero (zero pages are never sent or stored). */
export type { RamRun };

export const PAGE = 4096;
/** Pages per run at most: 1 MiB, a message size the host handles without a stall. */
export const MAX_RUN_PAGES = 256;

export interface Part {
  readonly id: string;
  readonly version: number;
  /** The declared fields, and the object they live on (for the contract test); null if hand-written. */
  readonly schema: StateSchema<unknown> | null;
  readonly target: unknown;
  save(): StateRecord;
  load(rec: StateRecord, version: number): void;
}

function schemaPart<T>(schema: StateSchema<T>, o: T): Part {
  return { id: schema.id, version: schema.version, schema: schema as StateSchema<unknown>, target: o, save: () => saveBySchema(schema, o), load: (r, v) => loadBySchema(schema, o, r, v) };
}

function devicePart(d: Snapshotable): Part {
  return {
    id: d.stateId,
    version: d.stateVersion,
    schema: d.stateSchema ?? null,
    target: d,
    save: () => d.saveState(),
    load: (r, v) => {
      checkVersion({ id: d.stateId, version: d.stateVersion }, v);
      d.loadState(r, v);
    },
  };
}

/** Every part in load order (RAM aside). */
export function parts(m: PcMachine): Part[] {
  return [
    schemaPart(CLOCK_STATE, m.clock),
    schemaPart(CPU_STATE, m.cpu),
    devicePart(m.cpu.fpu),
    ...m.devices.devices.map(devicePart),
    schemaPart(PcDevices.STATE, m.devices),
  ];
}

/** The sections of every component; RAM comes separately, from ramRuns. */
export function saveSections(m: PcMachine): Section[] {
  return parts(m).map((p) => ({ id: p.id, version: p.version, data: encodeRecord(p.save()) }));
}

function pageIsZero(words: Int32Array, page: number): boolean {
  const end = (page + 1) * (PAGE >> 2);
  // Eight words a test: this scan reads all of guest RAM at every suspend.
  for (let i = page * (PAGE >> 2); i < end; i += 8)
    if ((words[i]! | words[i + 1]! | words[i + 2]! | words[i + 3]! | words[i + 4]! | words[i + 5]! | words[i + 6]! | words[i + 7]!) !== 0) return false;
  return true;
}

/** Guest RAM as runs of non-zero pages, each a copy (the machine may run on while they travel). */
export function* ramRuns(m: PcMachine, maxPages = MAX_RUN_PAGES): Generator<RamRun> {
  const pages = m.mem.size / PAGE;
  const words = m.mem.i32;
  let p = 0;
  while (p < pages) {
    if (pageIsZero(words, p)) {
      p++;
      continue;
    }
    const first = p;
    while (p < pages && p - first < maxPages && !pageIsZero(words, p)) p++;
    yield { firstPage: first, data: m.mem.u8.slice(first * PAGE, p * PAGE) };
  }
}

/**
 * Loads sections and RAM into `m`, a machine just built from the same configuration. Throws a
 * StateError naming the section for anything missing, unknown, too new or malformed.
 */
export function loadMachine(m: PcMachine, sections: readonly Section[], ram: Iterable<RamRun>): void {
  const want = parts(m);
  const byId = new Map<string, Section>();
  for (const s of sections) {
    if (byId.has(s.id)) throw new StateError(`the state has two sections named ${s.id}`);
    byId.set(s.id, s);
  }
  for (const s of sections) if (!want.some((p) => p.id === s.id)) throw new StateError(`the state has a section ${s.id} that this machine has no part for`);
  // Decode and version-check everything before touching the machine.
  const records = want.map((p) => {
    const s = byId.get(p.id);
    if (!s) throw new StateError(`the state lacks the section ${p.id}`);
    checkVersion(p, s.version);
    return { part: p, version: s.version, rec: decodeRecord(s.data, p.id) };
  });

  const pages = m.mem.size / PAGE;
  // Clearing RAM nobody wrote would only make the host commit every page of it.
  if (!m.ramUntouched) m.mem.u8.fill(0);
  m.ramUntouched = false;
  for (const run of ram) {
    if (run.data.length % PAGE || run.firstPage < 0 || run.firstPage + run.data.length / PAGE > pages)
      throw new StateError(`RAM: a saved run of ${run.data.length} bytes at page ${run.firstPage} does not fit the ${m.mem.size / (1 << 20)} MiB of this machine`);
    m.mem.u8.set(run.data, run.firstPage * PAGE);
  }
  for (const { part, version, rec } of records) part.load(rec, version);
  m.devices.rewire();
  m.clock.restoreTimers(m.clock.loadedTimers);
  m.clock.loadedTimers = [];
  for (const d of m.devices.devices) d.reassertInterrupts?.();
  // Derived state: nothing decoded or translated, and no TLB entry, survives a load.
  m.cpu.invalidateAllCode();
  m.cpu.flushTlb(true);
  m.cpu.brk = true;
}
