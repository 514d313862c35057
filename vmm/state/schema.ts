// Saved state declared once, by name, beside the fields it describes (STYLE.md section 5, after
// QEMU's VMState): each component lists its fields with a type and the state version that added
// them, and save, load, the version checks and the shared contract test are all driven from that
// list. A hand-written save/load pair can drift from the fields; a schema cannot, because adding a
// field without declaring it is caught by the contract test (the round trip differs) and declaring
// one changes save and load together.
//
// Values go into a StateRecord (plain data, see vmm/device.ts) that vmm/state/codec.ts turns into
// bytes. Typed arrays are stored as their little-endian bytes, 64-bit MSRs as 8 bytes: the file
// never depends on JavaScript's number formatting.

import type { StateRecord, StateValue } from '../device.ts';

/**
 * x32: a 32-bit register the code keeps signed in some places and unsigned in others (a `| 0` here,
 * a `>>> 0` there); saved exactly as held, so the round trip keeps the representation.
 */
export type ScalarType = 'u8' | 'u16' | 'u32' | 'i32' | 'x32' | 'f64' | 'bool' | 'u64' | 'string';
export type ArrayType = 'bytes' | 'u16[]' | 'i32[]' | 'u32[]' | 'f64[]';
/**
 * record: a part with its own schema (a drive in a channel), versioned with its owner: the part's
 * `since` values count the owner's versions, and its own `version` is only the newest it declares.
 */
export type FieldType = ScalarType | ArrayType | 'record';

type Value = number | boolean | bigint | string | Uint8Array | Uint16Array | Int32Array | Uint32Array | Float64Array;

export interface FieldSpec<T> {
  readonly name: string;
  readonly type: FieldType;
  /** The state version that added the field; older states do not carry it. */
  readonly since: number;
  /** Arrays: the exact element count a load must find (a saved array never resizes the live one). */
  readonly length?: number;
  /** Arrays without a fixed length: the most elements a load accepts. */
  readonly maxLength?: number;
  /** Integers: only these bits are loaded (the bits a register can hold), as hardware ignores the rest. */
  readonly mask?: number;
  /** Where the value lives; by default the property of the same name. */
  readonly get?: (o: T) => Value;
  readonly set?: (o: T, v: Value) => void;
  /** record fields: the part's schema, and the part (null where this machine has none). */
  readonly record?: StateSchema<any>;
  readonly of?: (o: T) => unknown;
}

export interface StateSchema<T> {
  /** The section name in a state file. */
  readonly id: string;
  /** The newest version this build writes; every version from 1 up to it loads. */
  readonly version: number;
  readonly fields: readonly FieldSpec<T>[];
  /**
   * Runs after the fields are in place: recomputes derived fields, and fills fields an older version
   * lacked. Never touches another component and never drives an interrupt line.
   */
  readonly postLoad?: (o: T, fromVersion: number) => void;
  /**
   * For a version whose layout differs (not just fewer fields): turns its record into the current
   * version's, which is then checked and loaded as usual. Throws a StateError if it cannot.
   */
  readonly upgrade?: (rec: StateRecord, fromVersion: number, o: T) => StateRecord | null;
}

export function defineState<T>(schema: StateSchema<T>): StateSchema<T> {
  if (!Number.isInteger(schema.version) || schema.version < 1) throw new Error(`state schema ${schema.id}: version ${schema.version} is not a version`);
  const seen = new Set<string>();
  for (const f of schema.fields) {
    if (seen.has(f.name)) throw new Error(`state schema ${schema.id}: field "${f.name}" is declared twice`);
    seen.add(f.name);
    if ((f.type === 'record') !== (f.record !== undefined && f.of !== undefined))
      throw new Error(`state schema ${schema.id}: field "${f.name}" needs both a record schema and a part, and only a record field has them`);
    if (!Number.isInteger(f.since) || f.since < 1 || f.since > schema.version)
      throw new Error(`state schema ${schema.id}: field "${f.name}" says it was added in version ${f.since}, outside 1-${schema.version}`);
  }
  return schema;
}

/** The error a bad or foreign saved state gives: it names the component and the field. */
export class StateError extends Error {}

const ARRAY_CTORS = {
  'u16[]': Uint16Array,
  'i32[]': Int32Array,
  'u32[]': Uint32Array,
  'f64[]': Float64Array,
} as const;

function readProp<T>(o: T, f: FieldSpec<T>): Value {
  return f.get ? f.get(o) : ((o as Record<string, unknown>)[f.name] as Value);
}

function encode(id: string, f: FieldSpec<unknown>, v: Value): StateValue {
  switch (f.type) {
    case 'bool':
      return v === true;
    case 'string':
      return String(v);
    case 'u64': {
      const out = new Uint8Array(8);
      new DataView(out.buffer).setBigUint64(0, BigInt.asUintN(64, v as bigint), true);
      return out;
    }
    case 'bytes':
      return (v as Uint8Array).slice();
    case 'u16[]':
    case 'i32[]':
    case 'u32[]':
    case 'f64[]': {
      const a = v as Uint16Array | Int32Array | Uint32Array | Float64Array;
      // Copy through a DataView so the bytes are little-endian on any host.
      const out = new Uint8Array(a.length * a.BYTES_PER_ELEMENT);
      const dv = new DataView(out.buffer);
      for (let i = 0; i < a.length; i++) {
        const x = a[i]!;
        if (f.type === 'u16[]') dv.setUint16(2 * i, x, true);
        else if (f.type === 'i32[]') dv.setInt32(4 * i, x, true);
        else if (f.type === 'u32[]') dv.setUint32(4 * i, x, true);
        else dv.setFloat64(8 * i, x, true);
      }
      return out;
    }
    default: {
      const n = v as number;
      if (typeof n !== 'number') throw new StateError(`${id}: field "${f.name}" is not a number while saving (a bug)`);
      return n;
    }
  }
}

const RANGES: Record<string, [number, number]> = {
  u8: [0, 0xff],
  u16: [0, 0xffff],
  u32: [0, 0xffffffff],
  i32: [-0x80000000, 0x7fffffff],
  x32: [-0x80000000, 0xffffffff],
};

function decode(id: string, f: FieldSpec<unknown>, v: StateValue): Value {
  const bad = (why: string): never => {
    throw new StateError(`${id}: saved field "${f.name}" ${why}`);
  };
  switch (f.type) {
    case 'bool':
      if (typeof v !== 'boolean') bad('is not a boolean');
      return v as boolean;
    case 'string':
      if (typeof v !== 'string') bad('is not text');
      return v as string;
    case 'f64':
      // No saved quantity is infinite or NaN; one that is would poison arithmetic (a TSC, a deadline).
      if (typeof v !== 'number' || !Number.isFinite(v)) bad(`is not a finite number (${String(v)})`);
      return v as number;
    case 'u8':
    case 'u16':
    case 'u32':
    case 'i32':
    case 'x32': {
      const [lo, hi] = RANGES[f.type]!;
      if (typeof v !== 'number' || !Number.isInteger(v) || v < lo || v > hi) bad(`is not a ${f.type} (${String(v)})`);
      return f.mask === undefined ? (v as number) : ((v as number) & f.mask) >>> 0;
    }
    case 'u64':
      if (!(v instanceof Uint8Array) || v.length !== 8) bad('is not 8 bytes');
      return new DataView((v as Uint8Array).buffer, (v as Uint8Array).byteOffset, 8).getBigUint64(0, true);
    case 'bytes': {
      if (!(v instanceof Uint8Array)) bad('is not bytes');
      const b = v as Uint8Array;
      if (f.length !== undefined && b.length !== f.length) bad(`holds ${b.length} bytes, expected ${f.length}`);
      if (f.maxLength !== undefined && b.length > f.maxLength) bad(`holds ${b.length} bytes, at most ${f.maxLength} fit`);
      return b.slice();
    }
    case 'record':
      return bad('is a record (a bug: records are loaded by their own schema)');
    default: {
      if (!(v instanceof Uint8Array)) bad('is not an array');
      const b = v as Uint8Array;
      const Ctor = ARRAY_CTORS[f.type];
      const size = Ctor.BYTES_PER_ELEMENT;
      if (b.length % size) bad(`is ${b.length} bytes, not whole ${f.type} elements`);
      const n = b.length / size;
      if (f.length !== undefined && n !== f.length) bad(`holds ${n} elements, expected ${f.length}`);
      if (f.maxLength !== undefined && n > f.maxLength) bad(`holds ${n} elements, at most ${f.maxLength} fit`);
      const out = new Ctor(n);
      const dv = new DataView(b.buffer, b.byteOffset, b.length);
      for (let i = 0; i < n; i++) {
        if (f.type === 'u16[]') out[i] = dv.getUint16(2 * i, true);
        else if (f.type === 'i32[]') out[i] = dv.getInt32(4 * i, true);
        else if (f.type === 'u32[]') out[i] = dv.getUint32(4 * i, true);
        else out[i] = dv.getFloat64(8 * i, true);
      }
      return out;
    }
  }
}

function writeProp<T>(o: T, f: FieldSpec<T>, v: Value): void {
  if (f.set) return f.set(o, v);
  const rec = o as Record<string, unknown>;
  const cur = rec[f.name];
  // Typed arrays are often readonly members that other views alias: fill them in place.
  if (ArrayBuffer.isView(cur) && ArrayBuffer.isView(v)) {
    const live = cur as unknown as { set(a: ArrayLike<number>): void; length: number };
    const src = v as unknown as ArrayLike<number>;
    if (src.length !== live.length) throw new StateError(`field "${f.name}" holds ${src.length} elements, the live one ${live.length}`);
    live.set(src);
    return;
  }
  rec[f.name] = v;
}

/** The component's state as this build writes it (version `schema.version`). */
export function saveBySchema<T>(schema: StateSchema<T>, o: T): StateRecord {
  const out: StateRecord = {};
  for (const f of schema.fields) {
    if (f.type === 'record') {
      const part = f.of!(o);
      out[f.name] = part === null || part === undefined ? null : saveBySchema(f.record!, part);
    } else out[f.name] = encode(schema.id, f as FieldSpec<unknown>, readProp(o, f));
  }
  return out;
}

/** Checks the version, then every field, and only then changes the component: all or nothing. */
export function loadBySchema<T>(schema: StateSchema<T>, o: T, rec: StateRecord, version: number, nested = false): void {
  // A part's fields are versioned with its owner: its `since` values are the owner's versions.
  if (!nested) checkVersion(schema, version);
  const upgraded = version < schema.version ? schema.upgrade?.(rec, version, o) : null;
  if (upgraded) {
    rec = upgraded;
    version = schema.version;
  }
  const expected = schema.fields.filter((f) => f.since <= version);
  const names = new Set(expected.map((f) => f.name));
  for (const k of Object.keys(rec)) if (!names.has(k)) throw new StateError(`${schema.id}: saved state version ${version} has an unknown field "${k}"`);
  const values: [FieldSpec<T>, Value][] = [];
  const parts: [FieldSpec<T>, unknown, StateRecord][] = [];
  for (const f of expected) {
    if (!Object.hasOwn(rec, f.name)) throw new StateError(`${schema.id}: saved state version ${version} lacks the field "${f.name}"`);
    const v = rec[f.name]!;
    if (f.type === 'record') {
      const part = f.of!(o) ?? null;
      if ((part === null) !== (v === null))
        throw new StateError(`${schema.id}: the saved "${f.name}" is ${v === null ? 'absent' : 'present'}, in this machine it is ${part === null ? 'absent' : 'present'}`);
      if (v === null) continue;
      if (typeof v !== 'object' || Array.isArray(v) || v instanceof Uint8Array) throw new StateError(`${schema.id}: saved field "${f.name}" is not a record`);
      parts.push([f, part, v]);
    } else values.push([f, decode(schema.id, f as FieldSpec<unknown>, v)]);
  }
  for (const [f, v] of values) writeProp(o, f, v);
  for (const [f, part, v] of parts) loadBySchema(f.record!, part, v, version, true);
  schema.postLoad?.(o, version);
}

export function checkVersion(schema: { id: string; version: number }, version: number): void {
  if (!Number.isInteger(version) || version < 1)
    throw new StateError(`${schema.id}: saved state version ${version} is not a version`);
  if (version > schema.version)
    throw new StateError(`${schema.id}: saved state version ${version} comes from a newer Hostbox (this one reads versions 1-${schema.version})`);
}

/** A state as an older version wrote it: the fields that version had. For the contract test. */
export function asVersion<T>(schema: StateSchema<T>, rec: StateRecord, version: number): StateRecord {
  const out: StateRecord = {};
  for (const f of schema.fields) {
    if (f.since > version || !Object.hasOwn(rec, f.name)) continue;
    const v = rec[f.name]!;
    out[f.name] = f.type === 'record' && v !== null ? asVersion(f.record!, v as StateRecord, version) : v;
  }
  return out;
}
