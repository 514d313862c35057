// A section's fields as bytes: a small self-describing encoding of a StateRecord (names, type tags,
// little-endian values), so a loader can name a missing or mistyped field instead of misreading
// bytes, and a newer build can read an older section field by field. Layout in docs/state-format.md.

import type { StateRecord, StateValue } from '../device.ts';
import { StateError } from './schema.ts';

const T_NULL = 0;
const T_NUMBER = 1; // f64
const T_TRUE = 2;
const T_FALSE = 3;
const T_STRING = 4; // u32 length, UTF-8
const T_BYTES = 5; // u32 length, bytes
const T_LIST = 6; // u32 count, values
const T_RECORD = 7; // u32 count, (u16 name length, UTF-8 name, value)*

/** Deeper nesting than any component uses: a hostile file cannot recurse the loader to death. */
const MAX_DEPTH = 16;

class Writer {
  private buf = new Uint8Array(4096);
  private dv = new DataView(this.buf.buffer);
  len = 0;
  private room(n: number): void {
    if (this.len + n <= this.buf.length) return;
    let size = this.buf.length * 2;
    while (size < this.len + n) size *= 2;
    const next = new Uint8Array(size);
    next.set(this.buf.subarray(0, this.len));
    this.buf = next;
    this.dv = new DataView(next.buffer);
  }
  u8(v: number): void {
    this.room(1);
    this.buf[this.len++] = v;
  }
  u16(v: number): void {
    this.room(2);
    this.dv.setUint16(this.len, v, true);
    this.len += 2;
  }
  u32(v: number): void {
    this.room(4);
    this.dv.setUint32(this.len, v, true);
    this.len += 4;
  }
  f64(v: number): void {
    this.room(8);
    this.dv.setFloat64(this.len, v, true);
    this.len += 8;
  }
  bytes(b: Uint8Array): void {
    this.room(b.length);
    this.buf.set(b, this.len);
    this.len += b.length;
  }
  done(): Uint8Array {
    return this.buf.slice(0, this.len);
  }
}

const utf8 = new TextEncoder();
const fromUtf8 = new TextDecoder('utf-8', { fatal: true });

function put(w: Writer, v: StateValue, depth: number): void {
  if (depth > MAX_DEPTH) throw new Error('saved state nests too deeply (a bug)');
  if (v === null) w.u8(T_NULL);
  else if (typeof v === 'number') {
    w.u8(T_NUMBER);
    w.f64(v);
  } else if (typeof v === 'boolean') w.u8(v ? T_TRUE : T_FALSE);
  else if (typeof v === 'string') {
    const b = utf8.encode(v);
    w.u8(T_STRING);
    w.u32(b.length);
    w.bytes(b);
  } else if (v instanceof Uint8Array) {
    w.u8(T_BYTES);
    w.u32(v.length);
    w.bytes(v);
  } else if (Array.isArray(v)) {
    w.u8(T_LIST);
    w.u32(v.length);
    for (const x of v) put(w, x, depth + 1);
  } else {
    const keys = Object.keys(v);
    w.u8(T_RECORD);
    w.u32(keys.length);
    for (const k of keys) {
      const b = utf8.encode(k);
      w.u16(b.length);
      w.bytes(b);
      put(w, v[k]!, depth + 1);
    }
  }
}

export function encodeRecord(rec: StateRecord): Uint8Array {
  const w = new Writer();
  put(w, rec, 0);
  return w.done();
}

/** Decodes a section's bytes; any inconsistency is a StateError naming the section. */
export function decodeRecord(bytes: Uint8Array, section: string): StateRecord {
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let p = 0;
  const bad = (why: string): never => {
    throw new StateError(`section ${section}: ${why} at byte ${p}`);
  };
  const need = (n: number): void => {
    if (p + n > bytes.length) bad('the fields end early');
  };
  const get = (depth: number): StateValue => {
    if (depth > MAX_DEPTH) bad('fields nest too deeply');
    need(1);
    const tag = bytes[p++]!;
    switch (tag) {
      case T_NULL:
        return null;
      case T_NUMBER: {
        need(8);
        const v = dv.getFloat64(p, true);
        p += 8;
        return v;
      }
      case T_TRUE:
        return true;
      case T_FALSE:
        return false;
      case T_STRING:
      case T_BYTES: {
        need(4);
        const n = dv.getUint32(p, true);
        p += 4;
        need(n);
        const b = bytes.slice(p, p + n);
        p += n;
        if (tag === T_BYTES) return b;
        try {
          return fromUtf8.decode(b);
        } catch {
          return bad('text is not UTF-8');
        }
      }
      case T_LIST: {
        need(4);
        const n = dv.getUint32(p, true);
        p += 4;
        // Every element takes at least one byte: a count larger than what is left is a lie.
        if (n > bytes.length - p) bad('a list is longer than the section');
        const out: StateValue[] = [];
        for (let i = 0; i < n; i++) out.push(get(depth + 1));
        return out;
      }
      case T_RECORD: {
        need(4);
        const n = dv.getUint32(p, true);
        p += 4;
        if (n > bytes.length - p) bad('a record is longer than the section');
        const out: StateRecord = {};
        for (let i = 0; i < n; i++) {
          need(2);
          const kl = dv.getUint16(p, true);
          p += 2;
          need(kl);
          let key: string;
          try {
            key = fromUtf8.decode(bytes.subarray(p, p + kl));
          } catch {
            return bad('a field name is not UTF-8');
          }
          p += kl;
          // No component has such a name; on a plain object it would replace the prototype.
          if (key === '__proto__') bad('a field is named __proto__');
          if (Object.hasOwn(out, key)) bad(`field "${key}" appears twice`);
          out[key] = get(depth + 1);
        }
        return out;
      }
      default:
        return bad(`unknown value tag ${tag}`);
    }
  };
  const v = get(0);
  if (typeof v !== 'object' || v === null || Array.isArray(v) || v instanceof Uint8Array) bad('the section is not a record');
  if (p !== bytes.length) bad('bytes follow the fields');
  return v as StateRecord;
}
