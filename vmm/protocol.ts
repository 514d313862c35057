// The one protocol between the host (main/) and a VMM process (ARCHITECTURE.md, "Processes and what
// crosses between them"). One discriminated union per concern; every message crossing the process
// boundary is checked by parseToVmm/parseFromVmm before anything acts on it.

import type { BlockReply, BlockRequest, MachineStats, PowerEvent, RamRun, Screen, StateSection, VmConfig } from './machine-api.ts';

/** Test-only stand-ins for the emulated PC, chosen by the host (never by a guest). */
export type FakeMachineKind = 'echo' | 'crash';

export type LifecycleCommand =
  /** `restore`: build the machine but run nothing until a saved state has been loaded into it. */
  | { kind: 'lifecycle'; op: 'start'; config: VmConfig; fake?: FakeMachineKind; restore?: boolean }
  | { kind: 'lifecycle'; op: 'pause' | 'resume' | 'reset' | 'stop' | 'status' };

export type ToVmm =
  | LifecycleCommand
  | { kind: 'console'; port: number; data: Uint8Array }
  | { kind: 'input'; scancodes: number[] }
  | { kind: 'block'; reply: BlockReply }
  | StateCommand;

/**
 * Suspend and resume, streamed: 'save' makes the VMM finish in-flight IDE commands, stop the guest
 * and send its sections and RAM runs one message each; a restore sends 'load' (the sections), RAM
 * runs in batches, then 'commit', which loads everything at once or fails as a whole.
 */
export type StateCommand =
  | { kind: 'state'; op: 'save' }
  | { kind: 'state'; op: 'load'; sections: StateSection[] }
  | { kind: 'state'; op: 'ram'; runs: RamRun[] }
  | { kind: 'state'; op: 'commit' };

export type StateEvent =
  | { kind: 'state'; event: 'section'; section: StateSection }
  | { kind: 'state'; event: 'ram'; run: RamRun }
  /** Every section and RAM run has been sent; the guest is stopped. */
  | { kind: 'state'; event: 'saved'; stats: MachineStats }
  | { kind: 'state'; event: 'loaded' }
  /** The save or load did not happen; after a failed save the guest runs on. */
  | { kind: 'state'; event: 'failed'; message: string };

export type LifecycleEvent =
  | { kind: 'lifecycle'; event: 'started' | 'paused' | 'resumed' | 'stopped' }
  | { kind: 'lifecycle'; event: PowerEvent; detail?: string }
  | { kind: 'status'; running: boolean; stats: MachineStats };

export type FromVmm =
  | LifecycleEvent
  | { kind: 'console'; port: number; data: Uint8Array }
  | { kind: 'display'; screen: Screen }
  | { kind: 'block'; req: BlockRequest }
  | StateEvent
  | { kind: 'log'; level: 'info' | 'warn' | 'error'; message: string }
  /** The VMM cannot go on (bad config, internal error); the host reports it and stops the process. */
  | { kind: 'fatal'; message: string };

function bad(what: string): never {
  throw new Error(`protocol: ${what}`);
}

function isObj(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null;
}

function bytes(v: unknown, what: string): Uint8Array {
  if (v instanceof Uint8Array) return v;
  return bad(`${what} must be bytes`);
}

function port(v: unknown): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 0 || v > 3) bad('serial port must be 0-3');
  return v as number;
}

function section(v: unknown): StateSection {
  if (!isObj(v) || typeof v.id !== 'string' || !Number.isInteger(v.version)) return bad('a state section needs an id and a version');
  return { id: v.id, version: v.version as number, data: bytes(v.data, `section ${v.id}`) };
}

function ramRun(v: unknown): RamRun {
  if (!isObj(v) || !Number.isInteger(v.firstPage) || (v.firstPage as number) < 0) return bad('a RAM run needs a first page');
  return { firstPage: v.firstPage as number, data: bytes(v.data, 'RAM run') };
}

/** Checks a message arriving at the VMM. */
export function parseToVmm(m: unknown): ToVmm {
  if (!isObj(m)) return bad('message is not an object');
  switch (m.kind) {
    case 'lifecycle': {
      if (m.op === 'start') {
        if (!isObj(m.config)) bad('start needs a config');
        const c = m.config as Record<string, unknown>;
        if (typeof c.memoryMiB !== 'number') bad('config.memoryMiB must be a number');
        if (c.kernel !== undefined) bytes(c.kernel, 'config.kernel');
        if (c.initrd !== undefined) bytes(c.initrd, 'config.initrd');
        if (c.fake !== undefined && c.fake !== 'echo' && c.fake !== 'crash') bad('unknown fake machine');
        return m as ToVmm;
      }
      if (m.op === 'pause' || m.op === 'resume' || m.op === 'reset' || m.op === 'stop' || m.op === 'status') return m as ToVmm;
      return bad(`unknown lifecycle op ${String(m.op)}`);
    }
    case 'console':
      return { kind: 'console', port: port(m.port), data: bytes(m.data, 'console data') };
    case 'input': {
      const sc = m.scancodes;
      if (!Array.isArray(sc) || sc.length > 64 || !sc.every((x) => Number.isInteger(x) && x >= 0 && x <= 0xff)) bad('scancodes must be up to 64 bytes');
      return { kind: 'input', scancodes: sc as number[] };
    }
    case 'block':
      if (!isObj(m.reply) || typeof (m.reply as Record<string, unknown>).tag !== 'number') bad('block reply needs a tag');
      return m as ToVmm;
    case 'state':
      if (m.op === 'save' || m.op === 'commit') return { kind: 'state', op: m.op };
      if (m.op === 'load') {
        if (!Array.isArray(m.sections)) bad('state load needs sections');
        return { kind: 'state', op: 'load', sections: (m.sections as unknown[]).map(section) };
      }
      if (m.op === 'ram') {
        if (!Array.isArray(m.runs)) bad('state ram needs runs');
        return { kind: 'state', op: 'ram', runs: (m.runs as unknown[]).map(ramRun) };
      }
      return bad(`unknown state op ${String(m.op)}`);
    default:
      return bad(`unknown message kind ${String(m.kind)}`);
  }
}

/** Checks a message arriving at the host. */
export function parseFromVmm(m: unknown): FromVmm {
  if (!isObj(m)) return bad('message is not an object');
  switch (m.kind) {
    case 'lifecycle':
    case 'status':
    case 'display':
    case 'block':
    case 'log':
    case 'fatal':
    case 'state':
      return m as FromVmm;
    case 'console':
      return { kind: 'console', port: port(m.port), data: bytes(m.data, 'console data') };
    default:
      return bad(`unknown message kind ${String(m.kind)}`);
  }
}
