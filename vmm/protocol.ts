// The one protocol between the host (main/) and a VMM process (ARCHITECTURE.md, "Processes and what
// crosses between them"). One discriminated union per concern; every message crossing the process
// boundary is checked by parseToVmm/parseFromVmm before anything acts on it.

import type { BlockReply, BlockRequest, MachineStats, PowerEvent, RamRun, Screen, StateSection, VmConfig } from './machine-api.ts';

/** Test-only stand-ins for the emulated PC, chosen by the host (never by a guest). */
export type FakeMachineKind = 'echo' | 'crash';

export type LifecycleCommand =
  /** `restore`: build the machine but run nothing until a saved state has been loaded into it. */
  | { kind: 'lifecycle'; op: 'start'; config: VmConfig; fake?: FakeMachineKind; restore?: boolean }
  /** 'power-button': a press of the ACPI power button (the guest decides what it means, usually a clean shutdown). */
  | { kind: 'lifecycle'; op: 'pause' | 'resume' | 'reset' | 'stop' | 'status' | 'power-button' };

export type ToVmm =
  | LifecycleCommand
  | { kind: 'console'; port: number; data: Uint8Array }
  | { kind: 'input'; scancodes: number[] }
  /** PS/2 mouse: relative motion (dx right, dy down), wheel steps (dz down), buttons (bit 0 left, 1 right, 2 middle). */
  | { kind: 'mouse'; dx: number; dy: number; dz: number; buttons: number }
  /** The CD drive's disc changed: one of `sectors` 2048-byte sectors went in, or (0) it was taken out. */
  | { kind: 'media'; sectors: number }
  | { kind: 'block'; reply: BlockReply }
  | StateCommand
  | NetToVmm;

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

/**
 * The net channel toward the guest: frames for the NIC, or its cable plugged in or pulled. Frames
 * travel in batches (what one side produced in one turn or one slice): a message per frame cost
 * more than the frame itself.
 */
export type NetToVmm = { kind: 'net'; frames: Uint8Array[] } | { kind: 'net'; link: boolean };

/** Largest mouse motion in one message, either way on each axis (the host splits larger ones). */
export const MAX_MOUSE_DELTA = 4096;

/** Longest frame either way: 1514 bytes of Ethernet plus an 802.1Q tag, no FCS. */
export const NET_MAX_FRAME = 1518;
/** Most frames in one message. */
export const NET_MAX_BATCH = 512;

export type LifecycleEvent =
  | { kind: 'lifecycle'; event: 'started' | 'paused' | 'resumed' | 'stopped' }
  | { kind: 'lifecycle'; event: PowerEvent; detail?: string }
  /**
   * The answer to 'status', and sent unasked about once a second while the guest runs. `busyMs`:
   * host time the VMM spent running the guest since it started (idle HLT sleeps excluded).
   */
  | { kind: 'status'; running: boolean; stats: MachineStats; busyMs?: number };

export type FromVmm =
  | LifecycleEvent
  | { kind: 'console'; port: number; data: Uint8Array }
  | { kind: 'display'; screen: Screen }
  | { kind: 'block'; req: BlockRequest }
  | StateEvent
  /** Frames the guest's NIC sent, in order. */
  | { kind: 'net'; frames: Uint8Array[] }
  | { kind: 'log'; level: 'info' | 'warn' | 'error'; message: string }
  /** The VMM cannot go on (bad config, internal error); the host reports it and stops the process. */
  | { kind: 'fatal'; message: string };

/**
 * A batch of frames ready to post, with the buffers that may be moved rather than copied: each
 * frame that is a whole buffer of its own. A frame that is a view into something larger (guest
 * RAM, say) is copied first, so posting never takes a buffer anyone else still uses.
 */
export function netBatch(frames: readonly Uint8Array[]): { frames: Uint8Array[]; transfer: ArrayBuffer[] } {
  const out = frames.map((f) => (f.byteOffset === 0 && f.buffer instanceof ArrayBuffer && f.byteLength === f.buffer.byteLength ? f : f.slice()));
  return { frames: out, transfer: [...new Set(out.map((f) => f.buffer as ArrayBuffer))] };
}

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

function frames(v: unknown): Uint8Array[] {
  if (!Array.isArray(v) || v.length === 0 || v.length > NET_MAX_BATCH) bad(`net frames must be a list of 1-${NET_MAX_BATCH} frames`);
  return (v as unknown[]).map(frame);
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
        if (m.fake !== undefined && m.fake !== 'echo' && m.fake !== 'crash') bad('unknown fake machine');
        if (c.nic !== undefined) {
          const mac = isObj(c.nic) ? (c.nic as Record<string, unknown>).mac : undefined;
          if (!Array.isArray(mac) || mac.length !== 6 || !mac.every((x) => Number.isInteger(x) && x >= 0 && x <= 0xff)) bad('config.nic.mac must be 6 bytes');
        }
        return m as ToVmm;
      }
      if (m.op === 'pause' || m.op === 'resume' || m.op === 'reset' || m.op === 'stop' || m.op === 'status' || m.op === 'power-button') return m as ToVmm;
      return bad(`unknown lifecycle op ${String(m.op)}`);
    }
    case 'console':
      return { kind: 'console', port: port(m.port), data: bytes(m.data, 'console data') };
    case 'input': {
      const sc = m.scancodes;
      if (!Array.isArray(sc) || sc.length > 64 || !sc.every((x) => Number.isInteger(x) && x >= 0 && x <= 0xff)) bad('scancodes must be up to 64 bytes');
      return { kind: 'input', scancodes: sc as number[] };
    }
    case 'mouse': {
      const delta = (v: unknown, what: string): number => {
        if (typeof v !== 'number' || !Number.isInteger(v) || Math.abs(v) > MAX_MOUSE_DELTA) bad(`mouse ${what} must be a whole number within ${MAX_MOUSE_DELTA}`);
        return v as number;
      };
      const buttons = m.buttons;
      if (typeof buttons !== 'number' || !Number.isInteger(buttons) || buttons < 0 || buttons > 0x1f) bad('mouse buttons must be 0-31');
      return { kind: 'mouse', dx: delta(m.dx, 'dx'), dy: delta(m.dy, 'dy'), dz: delta(m.dz, 'dz'), buttons: buttons as number };
    }
    case 'media': {
      const sectors = m.sectors;
      if (typeof sectors !== 'number' || !Number.isInteger(sectors) || sectors < 0 || sectors > 0xffffffff) bad('media sectors must be a whole number of 2048-byte sectors');
      return { kind: 'media', sectors: sectors as number };
    }
    case 'net':
      if (typeof m.link === 'boolean' && m.frames === undefined) return { kind: 'net', link: m.link };
      return { kind: 'net', frames: frames(m.frames) };
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

function count(v: unknown, what: string, max = Number.MAX_SAFE_INTEGER): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 0 || v > max) bad(`${what} must be a whole number from 0 to ${max}`);
  return v as number;
}

function text(v: unknown, what: string, max = 1 << 20): string {
  if (typeof v !== 'string' || v.length > max) bad(`${what} must be text of at most ${max} characters`);
  return v as string;
}

/** The largest picture the display channel carries: the VBE modes' 1600x1200 at 4 bytes a pixel. */
const MAX_PIXELS = 1600 * 1200;

function screen(v: unknown): Screen {
  if (!isObj(v)) return bad('screen must be an object');
  if (v.kind === 'text') {
    const cols = count(v.cols, 'screen.cols', 256);
    const rows = count(v.rows, 'screen.rows', 256);
    if (!(v.cells instanceof Uint16Array) || v.cells.length !== cols * rows) bad('screen.cells must be cols * rows 16-bit cells');
    const c = v.cursor;
    if (!isObj(c) || typeof c.visible !== 'boolean') bad('screen.cursor must be {row, col, visible}');
    const cur = c as Record<string, unknown>;
    return { kind: 'text', cols, rows, cells: v.cells as Uint16Array, cursor: { row: count(cur.row, 'cursor.row', 255), col: count(cur.col, 'cursor.col', 255), visible: cur.visible as boolean } };
  }
  if (v.kind === 'graphics') {
    const width = count(v.width, 'screen.width', 4096);
    const height = count(v.height, 'screen.height', 4096);
    if (width * height > MAX_PIXELS) bad('screen is larger than any mode the VGA offers');
    if (v.format !== 'indexed' && v.format !== 'rgba') bad('screen.format must be indexed or rgba');
    const pixels = bytes(v.pixels, 'screen.pixels');
    if (pixels.length !== width * height * (v.format === 'rgba' ? 4 : 1)) bad('screen.pixels does not match the size');
    const palette = bytes(v.palette, 'screen.palette');
    if (palette.length !== (v.format === 'indexed' ? 768 : 0)) bad('screen.palette must be 256 RGB colours (indexed) or empty (rgba)');
    return { kind: 'graphics', format: v.format as 'indexed' | 'rgba', width, height, pixels, palette };
  }
  return bad(`unknown screen kind ${String(v.kind)}`);
}

function blockRequest(v: unknown): BlockRequest {
  if (!isObj(v)) return bad('block request must be an object');
  if (v.op !== 'read' && v.op !== 'write' && v.op !== 'flush') bad('block op must be read, write or flush');
  const req: BlockRequest = {
    tag: count(v.tag, 'block tag'),
    disk: text(v.disk, 'block disk', 16),
    op: v.op as BlockRequest['op'],
    lba: count(v.lba, 'block lba'),
    count: count(v.count, 'block count', 1 << 16),
    ...(v.data !== undefined ? { data: bytes(v.data, 'block data') } : {}),
  };
  if (req.op === 'write' && !req.data) bad('a block write needs data');
  return req;
}

const POWER_EVENTS = new Set(['started', 'paused', 'resumed', 'stopped', 'poweroff', 'reset', 'triple-fault', 'halted']);

/**
 * Checks a message arriving at the host. The VMM runs guest code, so a bug there (or a guest that
 * found one) must meet a wall here: every field the host acts on is checked and copied.
 */
export function parseFromVmm(m: unknown): FromVmm {
  if (!isObj(m)) return bad('message is not an object');
  switch (m.kind) {
    case 'lifecycle': {
      if (typeof m.event !== 'string' || !POWER_EVENTS.has(m.event)) bad(`unknown lifecycle event ${String(m.event)}`);
      const detail = m.detail === undefined ? undefined : text(m.detail, 'lifecycle detail', 4096);
      return { kind: 'lifecycle', event: m.event, ...(detail !== undefined ? { detail } : {}) } as FromVmm;
    }
    case 'status': {
      if (typeof m.running !== 'boolean' || !isObj(m.stats)) bad('status needs running and stats');
      const st = m.stats as Record<string, unknown>;
      if (typeof st.instructions !== 'number' || typeof st.guestTimeNs !== 'number') bad('status stats must be numbers');
      const busyMs = m.busyMs === undefined ? undefined : typeof m.busyMs === 'number' && Number.isFinite(m.busyMs) && m.busyMs >= 0 ? m.busyMs : bad('status busyMs must be a number of ms');
      return { kind: 'status', running: m.running as boolean, stats: { instructions: st.instructions as number, guestTimeNs: st.guestTimeNs as number }, ...(busyMs !== undefined ? { busyMs } : {}) };
    }
    case 'display':
      return { kind: 'display', screen: screen(m.screen) };
    case 'block':
      return { kind: 'block', req: blockRequest(m.req) };
    case 'log':
      if (m.level !== 'info' && m.level !== 'warn' && m.level !== 'error') bad('log level must be info, warn or error');
      return { kind: 'log', level: m.level, message: text(m.message, 'log message', 64 * 1024) };
    case 'fatal':
      return { kind: 'fatal', message: text(m.message, 'fatal message', 64 * 1024) };
    case 'state':
      switch (m.event) {
        case 'section':
          return { kind: 'state', event: 'section', section: section(m.section) };
        case 'ram':
          return { kind: 'state', event: 'ram', run: ramRun(m.run) };
        case 'saved': {
          const st = isObj(m.stats) ? (m.stats as Record<string, unknown>) : {};
          if (typeof st.instructions !== 'number' || typeof st.guestTimeNs !== 'number') bad('saved stats must be numbers');
          return { kind: 'state', event: 'saved', stats: { instructions: st.instructions as number, guestTimeNs: st.guestTimeNs as number } };
        }
        case 'loaded':
          return { kind: 'state', event: 'loaded' };
        case 'failed':
          return { kind: 'state', event: 'failed', message: text(m.message, 'state failure', 64 * 1024) };
      }
      return bad(`unknown state event ${String(m.event)}`);
    case 'console':
      return { kind: 'console', port: port(m.port), data: bytes(m.data, 'console data') };
    case 'net':
      return { kind: 'net', frames: frames(m.frames) };
    default:
      return bad(`unknown message kind ${String(m.kind)}`);
  }
}
