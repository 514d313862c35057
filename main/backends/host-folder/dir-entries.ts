// FAT directory entries as Microsoft's FAT specification (fatgen103, "FAT Directory Structure" and
// "FAT Long Directory Entries") lays them out: the 32-byte short entry (DIR_Name 8.3, DIR_Attr,
// DIR_NTRes, times, DIR_FstClusHI/LO, DIR_FileSize), the long-name entries (LDIR_Ord, LDIR_Name1..3
// in UTF-16LE, LDIR_Attr = 0Fh, LDIR_Chksum) that precede it, the short-name checksum, the
// basis-name and numeric-tail ("~n") algorithm for aliases, and the packed date and time words.
// Both the image builder and the FAT reader use this module, so what one writes the other reads.

export const DIR_ENTRY_SIZE = 32;

// DIR_Attr bits.
export const ATTR_READ_ONLY = 0x01;
export const ATTR_HIDDEN = 0x02;
export const ATTR_SYSTEM = 0x04;
export const ATTR_VOLUME_ID = 0x08;
export const ATTR_DIRECTORY = 0x10;
export const ATTR_ARCHIVE = 0x20;
export const ATTR_LONG_NAME = ATTR_READ_ONLY | ATTR_HIDDEN | ATTR_SYSTEM | ATTR_VOLUME_ID;
export const ATTR_LONG_NAME_MASK = ATTR_LONG_NAME | ATTR_DIRECTORY | ATTR_ARCHIVE;

// DIR_NTRes bits Windows NT (and Linux's vfat) read as "show this part of the 8.3 name in lower case".
export const NTRES_LOWER_BASE = 0x08;
export const NTRES_LOWER_EXT = 0x10;

/** First byte of a free entry; 00h also means no entry follows. */
export const DIR_FREE = 0xe5;
/** LDIR_Ord bit marking the last (physically first) long-name entry of a set. */
export const LAST_LONG_ENTRY = 0x40;
/** Characters of the long name one long entry carries. */
export const LFN_CHARS_PER_ENTRY = 13;
/** The longest long name, in UTF-16 code units. */
export const LFN_MAX = 255;

// Characters a short name may hold besides A-Z and 0-9 (fatgen103, DIR_Name). Bytes above 7Fh are
// allowed there too, but their meaning depends on the guest's OEM code page, so aliases never use them.
const SHORT_EXTRA = "$%'-_@~`!(){}^#&";
// Characters no long name may hold (besides those below 20h).
const LFN_FORBIDDEN = '"*/:<>?\\|';

function shortCharOk(c: string): boolean {
  return (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || SHORT_EXTRA.includes(c);
}

/** Why a host name cannot be a FAT long name, or null when it can. */
export function longNameProblem(name: string): string | null {
  if (name.length === 0) return 'the name is empty';
  if (name.length > LFN_MAX) return `the name is longer than FAT's ${LFN_MAX} characters`;
  for (const c of name) {
    if (c.charCodeAt(0) < 0x20) return 'the name holds a control character';
    if (LFN_FORBIDDEN.includes(c)) return `FAT names cannot hold "${c}"`;
  }
  // Windows and Linux's vfat both drop trailing dots and spaces when they look a name up, so such a
  // name could never be opened in the guest.
  if (/[. ]$/.test(name)) return 'FAT names cannot end in a dot or a space';
  return null;
}

/** The 11-byte DIR_Name of an 8.3 name, or null when `name` is not one (any case accepted). */
export function exactShortName(name: string): Uint8Array | null {
  const up = name.toUpperCase();
  const dot = up.indexOf('.');
  const base = dot < 0 ? up : up.slice(0, dot);
  const ext = dot < 0 ? '' : up.slice(dot + 1);
  if (base.length < 1 || base.length > 8 || ext.length > 3 || (dot >= 0 && ext.length === 0)) return null;
  for (const c of base + ext) if (!shortCharOk(c)) return null;
  const out = new Uint8Array(11).fill(0x20);
  for (let i = 0; i < base.length; i++) out[i] = base.charCodeAt(i);
  for (let i = 0; i < ext.length; i++) out[8 + i] = ext.charCodeAt(i);
  // A first byte of E5h is stored as 05h (fatgen103); no alias here can start with it, being ASCII.
  return out;
}

/**
 * DIR_NTRes case bits that make `name` display exactly from its 8.3 form, or null when the name mixes
 * cases within its base or its extension (then it needs a long name).
 */
export function caseBits(name: string): number | null {
  const dot = name.indexOf('.');
  const parts = dot < 0 ? [name, ''] : [name.slice(0, dot), name.slice(dot + 1)];
  let bits = 0;
  for (const [i, p] of parts.entries()) {
    const lower = p !== p.toUpperCase();
    const upper = p !== p.toLowerCase();
    if (lower && upper) return null;
    if (lower) bits |= i === 0 ? NTRES_LOWER_BASE : NTRES_LOWER_EXT;
  }
  return bits;
}

/** The short-name checksum stored in every long entry of a set (fatgen103, ChkSum). */
export function shortNameChecksum(name11: Uint8Array): number {
  let sum = 0;
  for (let i = 0; i < 11; i++) sum = (((sum & 1) << 7) + (sum >> 1) + name11[i]!) & 0xff;
  return sum;
}

/** DIR_Name as a string key (for uniqueness sets). */
export function shortKey(name11: Uint8Array): string {
  return String.fromCharCode(...name11);
}

/**
 * Picks a short alias for a long name that is not itself 8.3, unique among `taken` (keys of names
 * already in the directory), and adds it there. fatgen103's basis name: upper case, spaces and
 * leading dots removed, characters a short name cannot hold become "_", base cut to 8 and extension
 * (after the last dot) to 3; then the first free numeric tail "~1", "~2", ... cut into the base.
 */
export function makeAlias(longName: string, taken: Set<string>, nextTail?: Map<string, number>): Uint8Array {
  const noSpaces = longName.replace(/ /g, '').replace(/^\.+/, '');
  const lastDot = noSpaces.lastIndexOf('.');
  const rawBase = lastDot < 0 ? noSpaces : noSpaces.slice(0, lastDot);
  const rawExt = lastDot < 0 ? '' : noSpaces.slice(lastDot + 1);
  const oem = (s: string): string => {
    let out = '';
    for (const c of s.toUpperCase()) {
      if (c === '.') continue;
      out += shortCharOk(c) ? c : '_';
    }
    return out;
  };
  const base = oem(rawBase).slice(0, 8) || '_';
  const ext = oem(rawExt).slice(0, 3);
  const name = new Uint8Array(11).fill(0x20);
  for (let i = 0; i < ext.length; i++) name[8 + i] = ext.charCodeAt(i);
  // A mixed-case name whose upper-case form is a free 8.3 name keeps it, as Windows does.
  const plain = exactShortName(longName);
  if (plain && !taken.has(shortKey(plain))) {
    taken.add(shortKey(plain));
    return plain;
  }
  // `nextTail` remembers, per basis, where the search stopped: a thousand names sharing a basis
  // would otherwise each try every tail before theirs.
  const basisKey = base + '.' + ext;
  for (let n = nextTail?.get(basisKey) ?? 1; n <= 999999; n++) {
    const tail = `~${n}`;
    const b = base.slice(0, 8 - tail.length) + tail;
    name.fill(0x20, 0, 8);
    for (let i = 0; i < b.length; i++) name[i] = b.charCodeAt(i);
    const key = shortKey(name);
    if (!taken.has(key)) {
      taken.add(key);
      nextTail?.set(basisKey, n + 1);
      return name.slice();
    }
  }
  // fatgen103 stops at ~999999 as well; a directory never gets that full here (see the entry limit).
  throw new Error(`no free short alias for "${longName}"`);
}

/**
 * Bytes 80h-FFh of IBM code page 437, the OEM code page of DOS and of Windows in the US and Linux's
 * default `codepage=`. A short name with such bytes and no long name is what DOS and Windows write
 * for an 8.3 name with accented letters; read as Latin-1 instead, "É" (90h) would reach the host as
 * a control character. Code page 850 agrees on the accented letters most names use (80h-9Ah, A0h-A5h, E1h).
 */
const CP437_HIGH =
  'ÇüéâäàåçêëèïîìÄÅÉæÆôöòûùÿÖÜ¢£¥₧ƒáíóúñÑªº¿⌐¬½¼¡«»░▒▓│┤╡╢╖╕╣║╗╝╜╛┐└┴┬├─┼╞╟╚╔╩╦╠═╬╧╨╤╥╙╘╒╓╫╪┘┌█▄▌▐▀αßΓπΣσµτΦΘΩδ∞φε∩≡±≥≤⌠⌡÷≈°∙·√ⁿ²■\u00a0';

/** The display form of a DIR_Name ("README.TXT", with DIR_NTRes case bits applied). */
export function shortDisplayName(name11: Uint8Array, ntres: number): string {
  const part = (from: number, to: number): string => {
    let s = '';
    for (let i = from; i < to; i++) {
      const b = i === 0 && name11[0] === 0x05 ? 0xe5 : name11[i]!;
      s += b < 0x80 ? String.fromCharCode(b) : CP437_HIGH[b - 0x80]!;
    }
    return s.replace(/ +$/, '');
  };
  let base = part(0, 8);
  let ext = part(8, 11);
  if (ntres & NTRES_LOWER_BASE) base = base.toLowerCase();
  if (ntres & NTRES_LOWER_EXT) ext = ext.toLowerCase();
  return ext ? `${base}.${ext}` : base;
}

/** A short name's bytes as fatgen103 allows them in DIR_Name (checked by the reader on guest data). */
export function shortNameBytesValid(name11: Uint8Array): boolean {
  for (let i = 0; i < 11; i++) {
    const b = name11[i]!;
    if (i === 0 && (b === 0x20 || b === 0x2e)) return false;
    if (b < 0x20 && !(i === 0 && b === 0x05)) return false;
    if (b < 0x80 && '"*+,./:;<=>?[\\]|'.includes(String.fromCharCode(b))) return false;
  }
  return true;
}

export interface FatTimestamp {
  date: number;
  time: number;
  /** Tenths of a second past `time`'s even second, 0-199 (DIR_CrtTimeTenth). */
  tenths: number;
}

/** A host time as FAT stores it: local time, two-second resolution, clamped to 1980-2107. */
export function toFatTime(ms: number): FatTimestamp {
  const d = new Date(ms);
  const year = d.getFullYear();
  if (year < 1980) return { date: (0 << 9) | (1 << 5) | 1, time: 0, tenths: 0 };
  if (year > 2107) return { date: (127 << 9) | (12 << 5) | 31, time: (23 << 11) | (59 << 5) | 29, tenths: 100 };
  return {
    date: ((year - 1980) << 9) | ((d.getMonth() + 1) << 5) | d.getDate(),
    time: (d.getHours() << 11) | (d.getMinutes() << 5) | (d.getSeconds() >> 1),
    tenths: (d.getSeconds() & 1) * 100 + Math.floor(d.getMilliseconds() / 10),
  };
}

/** A FAT date and time as host milliseconds (local time), for carrying guest times back. */
export function fromFatTime(date: number, time: number): number {
  const year = 1980 + (date >> 9);
  const month = Math.max(1, Math.min(12, (date >> 5) & 15));
  const day = Math.max(1, date & 31);
  return new Date(year, month - 1, day, Math.min(23, time >> 11), Math.min(59, (time >> 5) & 63), Math.min(59, (time & 31) * 2)).getTime();
}

export interface ShortEntryFields {
  name11: Uint8Array;
  attr: number;
  ntres: number;
  cluster: number;
  size: number;
  mtimeMs: number;
}

/** Writes one short entry at `off`. */
export function writeShortEntry(buf: Uint8Array, off: number, f: ShortEntryFields): void {
  const v = new DataView(buf.buffer, buf.byteOffset + off, DIR_ENTRY_SIZE);
  buf.set(f.name11, off);
  v.setUint8(11, f.attr);
  v.setUint8(12, f.ntres);
  const t = toFatTime(f.mtimeMs);
  v.setUint8(13, t.tenths);
  v.setUint16(14, t.time, true);
  v.setUint16(16, t.date, true);
  v.setUint16(18, t.date, true);
  v.setUint16(20, (f.cluster >>> 16) & 0xffff, true);
  v.setUint16(22, t.time, true);
  v.setUint16(24, t.date, true);
  v.setUint16(26, f.cluster & 0xffff, true);
  v.setUint32(28, f.size, true);
}

/** Number of long entries a long name takes. */
export function longEntryCount(longName: string): number {
  return Math.ceil(longName.length / LFN_CHARS_PER_ENTRY);
}

// Offsets of the 13 UTF-16 characters inside a long entry: LDIR_Name1 (5), LDIR_Name2 (6), LDIR_Name3 (2).
const LFN_OFFSETS = [1, 3, 5, 7, 9, 14, 16, 18, 20, 22, 24, 28, 30];

/** Writes the long entries of `longName` at `off`, last one first as on disk; returns the bytes used. */
export function writeLongEntries(buf: Uint8Array, off: number, longName: string, checksum: number): number {
  const n = longEntryCount(longName);
  const v = new DataView(buf.buffer, buf.byteOffset);
  for (let k = 0; k < n; k++) {
    const ord = n - k; // physical order: highest ordinal first
    const e = off + k * DIR_ENTRY_SIZE;
    buf[e] = ord | (k === 0 ? LAST_LONG_ENTRY : 0);
    buf[e + 11] = ATTR_LONG_NAME;
    buf[e + 12] = 0;
    buf[e + 13] = checksum;
    v.setUint16(e + 26, 0, true);
    for (let i = 0; i < LFN_CHARS_PER_ENTRY; i++) {
      const idx = (ord - 1) * LFN_CHARS_PER_ENTRY + i;
      // After the name: one 0000h terminator, then FFFFh padding (fatgen103).
      const unit = idx < longName.length ? longName.charCodeAt(idx) : idx === longName.length ? 0x0000 : 0xffff;
      v.setUint16(e + LFN_OFFSETS[i]!, unit, true);
    }
  }
  return n * DIR_ENTRY_SIZE;
}

/** The 13 UTF-16 units of one long entry (for the reader). */
export function longEntryUnits(buf: Uint8Array, off: number): number[] {
  const v = new DataView(buf.buffer, buf.byteOffset);
  return LFN_OFFSETS.map((o) => v.getUint16(off + o, true));
}
