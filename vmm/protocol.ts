// The one protocol between the host (main/) and a VMM process (ARCHITECTURE.md, "Processes and what
// crosses between them"). One discriminated union per concern; every message crossing the process
// boundary is checked by parseToVmm/parseFromVmm before anything acts on it.

import type { BlockReply, BlockRequest, MachineStats, PowerEvent, Screen, VmConfig } from './machine-api.ts';

/** Test-only stand-ins for the emulated PC, chosen by the host (never by a guest). */
export type FakeMachineKind = 'echo' | 'crash';

export type LifecycleCommand =
  | { kind: 'lifecycle'; op: 'start'; config: VmConfig; fake?: FakeMachineKind }
  | { kind: 'lifecycle'; op: 'pause' | 'resume' | 'reset' | 'stop' | 'status' };

export type ToVmm =
  | LifecycleCommand
  | { kind: 'console'; port: number; data: Uint8Array }
  | { kind: 'input'; scancodes: number[] }
  | { kind: 'block'; reply: BlockReply }
  | NetToVmm;

/** The net channel toward the guest: a frame for the NIC, or its cable plugged in or pulled. */
export type NetToVmm = { kind: 'net'; frame: Uint8Array } | { kind: 'net'; link: boolean };

/** Longest frame either way: 1514 bytes of Ethernet plus an 802.1Q tag, no FCS. */
export const NET_MAX_FRAME = 1518;

export type LifecycleEvent =
  | { kind: 'lifecycle'; event: 'started' | 'paused' | 'resumed' | 'stopped' }
  | { kind: 'lifecycle'; event: PowerEvent; detail?: string }
  | { kind: 'status'; running: boolean; stats: MachineStats };

export type FromVmm =
  | LifecycleEvent
  | { kind: 'console'; port: number; data: Uint8Array }
  | { kind: 'display'; screen: Screen }
  | { kind: 'block'; req: BlockRequest }
  /** A frame the guest's NIC sent. */
  | { kind: 'net'; frame: Uint8Array }
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

function frame(v: unknown): Uint8Array {
  const f = bytes(v, 'net frame');
  if (f.length < 14 || f.length > NET_MAX_FRAME) bad(`net frame of ${f.length} bytes is not 14-${NET_MAX_FRAME}`);
  return f;
}

function port(v: unknown): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 0 || v > 3) bad('serial port must be 0-3');
  return v as number;
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
        if (c.nic !== undefined) {
          const mac = isObj(c.nic) ? (c.nic as Record<string, unknown>).mac : undefined;
          if (!Array.isArray(mac) || mac.length !== 6 || !mac.every((x) => Number.isInteger(x) && x >= 0 && x <= 0xff)) bad('config.nic.mac must be 6 bytes');
        }
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
    case 'net':
      if (typeof m.link === 'boolean' && m.frame === undefined) return { kind: 'net', link: m.link };
      return { kind: 'net', frame: frame(m.frame) };
    case 'block':
      if (!isObj(m.reply) || typeof (m.reply as Record<string, unknown>).tag !== 'number') bad('block reply needs a tag');
      return m as ToVmm;
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
      return m as FromVmm;
    case 'console':
      return { kind: 'console', port: port(m.port), data: bytes(m.data, 'console data') };
    case 'net':
      return { kind: 'net', frame: frame(m.frame) };
    default:
      return bad(`unknown message kind ${String(m.kind)}`);
  }
}
