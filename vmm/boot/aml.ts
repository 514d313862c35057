// A tiny encoder for the ACPI Machine Language: just the data objects a static DSDT needs (names,
// integers, strings, packages, buffers, scopes and devices) and the resource descriptors a PCI host
// bridge's _CRS uses. Each function returns the encoded bytes of one term.
//
// Reference: ACPI Specification 6.x, section 20 "ACPI Machine Language (AML) Specification"
// (20.2 grammar: NameString, PkgLength, DataObject, PackageOp, BufferOp, ScopeOp, DeviceOp) and
// section 6.4 "Resource Data Types for ACPI" (small and large resource descriptors).

export type Aml = Uint8Array;

const ZERO_OP = 0x00;
const ONE_OP = 0x01;
const ONES_OP = 0xff;
const BYTE_PREFIX = 0x0a;
const WORD_PREFIX = 0x0b;
const DWORD_PREFIX = 0x0c;
const STRING_PREFIX = 0x0d;
const NAME_OP = 0x08;
const SCOPE_OP = 0x10;
const BUFFER_OP = 0x11;
const PACKAGE_OP = 0x12;
const EXT_OP_PREFIX = 0x5b;
const DEVICE_OP = 0x82;
const ROOT_CHAR = 0x5c; // '\'
const PARENT_PREFIX = 0x5e; // '^'
const DUAL_NAME_PREFIX = 0x2e;
const MULTI_NAME_PREFIX = 0x2f;
const NULL_NAME = 0x00;

export function concat(parts: readonly Aml[]): Aml {
  let n = 0;
  for (const p of parts) n += p.length;
  const out = new Uint8Array(n);
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

/**
 * PkgLength for a body of `bodyLength` bytes. The encoded length counts its own bytes: one byte
 * holds up to 63; otherwise bits 7-6 of the lead byte give 1-3 following bytes, its bits 3-0 are
 * the low nibble and each following byte carries 8 more bits.
 */
export function pkgLength(bodyLength: number): Aml {
  if (bodyLength + 1 <= 0x3f) return Uint8Array.of(bodyLength + 1);
  for (let extra = 1; extra <= 3; extra++) {
    const total = bodyLength + 1 + extra;
    if (total < 1 << (4 + 8 * extra)) {
      const out = new Uint8Array(1 + extra);
      out[0] = (extra << 6) | (total & 0x0f);
      for (let i = 1; i <= extra; i++) out[i] = (total >>> (4 + 8 * (i - 1))) & 0xff;
      return out;
    }
  }
  throw new Error(`AML package of ${bodyLength} bytes is longer than PkgLength can express`);
}

function nameSeg(seg: string): number[] {
  if (!/^[A-Z_][A-Z0-9_]{0,3}$/.test(seg)) throw new Error(`"${seg}" is not a valid ACPI name segment`);
  const s = seg.padEnd(4, '_');
  return [...s].map((c) => c.charCodeAt(0));
}

/** A NameString: optional root '\' or parent '^' prefixes, then dot-separated 1-4 character segments. */
export function nameString(path: string): Aml {
  const out: number[] = [];
  let rest = path;
  if (rest.startsWith('\\')) {
    out.push(ROOT_CHAR);
    rest = rest.slice(1);
  } else {
    while (rest.startsWith('^')) {
      out.push(PARENT_PREFIX);
      rest = rest.slice(1);
    }
  }
  const segs = rest === '' ? [] : rest.split('.');
  if (segs.length === 0) out.push(NULL_NAME);
  else if (segs.length === 1) out.push(...nameSeg(segs[0]!));
  else if (segs.length === 2) out.push(DUAL_NAME_PREFIX, ...nameSeg(segs[0]!), ...nameSeg(segs[1]!));
  else {
    if (segs.length > 255) throw new Error('ACPI name path has too many segments');
    out.push(MULTI_NAME_PREFIX, segs.length);
    for (const s of segs) out.push(...nameSeg(s));
  }
  return Uint8Array.from(out);
}

/** The shortest integer encoding: Zero, One, Ones (all bits set), or a Byte/Word/DWord constant. */
export function integer(value: number): Aml {
  if (!Number.isInteger(value) || value < 0 || value > 0xffffffff)
    throw new Error(`AML integer ${value} is not a 32-bit unsigned value`);
  if (value === 0) return Uint8Array.of(ZERO_OP);
  if (value === 1) return Uint8Array.of(ONE_OP);
  if (value <= 0xff) return Uint8Array.of(BYTE_PREFIX, value);
  if (value <= 0xffff) return Uint8Array.of(WORD_PREFIX, value & 0xff, value >>> 8);
  return Uint8Array.of(DWORD_PREFIX, value & 0xff, (value >>> 8) & 0xff, (value >>> 16) & 0xff, value >>> 24);
}

/** Ones: all bits set at the table's integer width. */
export function ones(): Aml {
  return Uint8Array.of(ONES_OP);
}

export function string(s: string): Aml {
  const out = [STRING_PREFIX];
  for (const ch of s) {
    const c = ch.charCodeAt(0);
    if (c < 0x01 || c > 0x7f) throw new Error(`AML strings are ASCII without NUL: ${JSON.stringify(s)}`);
    out.push(c);
  }
  out.push(0);
  return Uint8Array.from(out);
}

export function pkg(elements: readonly Aml[]): Aml {
  if (elements.length > 255) throw new Error('AML Package has more than 255 elements');
  const body = concat([Uint8Array.of(elements.length), ...elements]);
  return concat([Uint8Array.of(PACKAGE_OP), pkgLength(body.length), body]);
}

export function buffer(bytes: Uint8Array): Aml {
  const body = concat([integer(bytes.length), bytes]);
  return concat([Uint8Array.of(BUFFER_OP), pkgLength(body.length), body]);
}

export function name(path: string, value: Aml): Aml {
  return concat([Uint8Array.of(NAME_OP), nameString(path), value]);
}

export function scope(path: string, terms: readonly Aml[]): Aml {
  const body = concat([nameString(path), ...terms]);
  return concat([Uint8Array.of(SCOPE_OP), pkgLength(body.length), body]);
}

export function device(path: string, terms: readonly Aml[]): Aml {
  const body = concat([nameString(path), ...terms]);
  return concat([Uint8Array.of(EXT_OP_PREFIX, DEVICE_OP), pkgLength(body.length), body]);
}

/** A compressed EISA id such as "PNP0A03", as the 32-bit integer _HID expects. */
export function eisaId(id: string): Aml {
  if (!/^[A-Z]{3}[0-9A-F]{4}$/.test(id)) throw new Error(`"${id}" is not an EISA id (three letters, four hex digits)`);
  const c = (i: number): number => id.charCodeAt(i) - 0x40;
  const hi = (c(0) << 10) | (c(1) << 5) | c(2);
  const b0 = hi >>> 8;
  const b1 = hi & 0xff;
  const b2 = parseInt(id.slice(3, 5), 16);
  const b3 = parseInt(id.slice(5, 7), 16);
  return integer((b0 | (b1 << 8) | (b2 << 16) | (b3 << 24)) >>> 0);
}

// ---- resource descriptors (ACPI 6.4) ------------------------------------------------------------

function le(bytes: number[], value: number, size: number): void {
  for (let i = 0; i < size; i++) bytes.push((value >>> (8 * i)) & 0xff);
}

/** I/O Port Descriptor (6.4.2.5), 16-bit decode. */
export function ioPort(min: number, max: number, align: number, length: number): Aml {
  const b = [0x47, 0x01];
  le(b, min, 2);
  le(b, max, 2);
  b.push(align, length);
  return Uint8Array.from(b);
}

// General flags of the address space descriptors: fixed minimum and maximum, positive decode,
// and "produced" by the bridge for its children (bit 0 clear).
const ADDR_FIXED = 0x0c;

/** Word Bus Number Descriptor (6.4.3.5.3 with resource type 2). */
export function wordBusNumber(min: number, max: number): Aml {
  const b = [0x88];
  le(b, 13, 2);
  b.push(2, ADDR_FIXED, 0);
  le(b, 0, 2);
  le(b, min, 2);
  le(b, max, 2);
  le(b, 0, 2);
  le(b, max - min + 1, 2);
  return Uint8Array.from(b);
}

/** Word I/O Descriptor (6.4.3.5.3 with resource type 1), ISA and non-ISA ranges. */
export function wordIo(min: number, max: number): Aml {
  const b = [0x88];
  le(b, 13, 2);
  b.push(1, ADDR_FIXED, 0x03);
  le(b, 0, 2);
  le(b, min, 2);
  le(b, max, 2);
  le(b, 0, 2);
  le(b, max - min + 1, 2);
  return Uint8Array.from(b);
}

/** DWord Memory Descriptor (6.4.3.5.2 with resource type 0), cacheable, read-write. */
export function dwordMemory(min: number, max: number): Aml {
  const b = [0x87];
  le(b, 23, 2);
  b.push(0, ADDR_FIXED, 0x03);
  le(b, 0, 4);
  le(b, min, 4);
  le(b, max, 4);
  le(b, 0, 4);
  le(b, (max - min + 1) >>> 0, 4);
  return Uint8Array.from(b);
}

/** A ResourceTemplate: the descriptors, an End Tag (checksum 0 = "treat as valid"), as a Buffer. */
export function resourceTemplate(descriptors: readonly Aml[]): Aml {
  return buffer(concat([...descriptors, Uint8Array.of(0x79, 0x00)]));
}
