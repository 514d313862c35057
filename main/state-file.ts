// The saved-state file (docs/state-format.md): a header naming the Hostbox that wrote it, the VM's
// configuration and its disks' identities, then one checksummed section per component and RAM as
// deflated runs of non-zero pages, then a trailer with a checksum over the whole file. It is written
// to a temporary file in the same folder, fsynced and renamed over the target, so a crash or a kill
// at any moment leaves the previous state or none, never a half file that loads. Reading checks
// everything (magic, format version, every checksum, the disks) before any of it reaches a VMM.

import { closeSync, fsyncSync, linkSync, openSync, readFileSync, readSync, renameSync, statSync, unlinkSync, writeSync, fstatSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { createHash, randomBytes } from 'node:crypto';
import { crc32, deflateRaw, inflateRawSync } from 'node:zlib';
import { promisify } from 'node:util';
import type { RamRun, StateSection } from '../vmm/machine-api.ts';
import type { VmLaunchSpec } from './vmm-host.ts';

export const STATE_MAGIC = 'HBXSTATE';
/** The container's version. Section versions are separate: each component versions its own fields. */
export const STATE_FORMAT_VERSION = 1;
const SECTION_TAG = 'SECT';
const TRAILER_TAG = 'HEND';
const ENC_FIELDS = 0;
const ENC_RAM = 1;
const PAGE = 4096;
/** No section of this machine inflates to more: a RAM run is 1 MiB, VGA memory 256 KiB. */
const MAX_SECTION_BYTES = 16 << 20;

/** A refusal to load or write a state file: one line, for the user. */
export class StateFileError extends Error {}

export interface DiskIdentity {
  /** Which drive: 'hda' or 'cdrom'. */
  readonly slot: string;
  readonly path: string;
  readonly size: number;
  readonly mtimeMs: number;
  /** SHA-256 of 16 blocks of 4 KiB spread over the image, first and last included. */
  readonly sample: string;
}

export interface StateHeader {
  /** The Hostbox version that wrote the file. */
  readonly hostbox: string;
  readonly created: string;
  readonly memoryMiB: number;
  /** How the VM was started, with absolute paths: resume starts it the same way. */
  readonly config: VmLaunchSpec;
  readonly disks: readonly DiskIdentity[];
  /**
   * Present in a snapshot's state: its hard disk (config.hdaPath) is frozen under overlays, so a
   * resume runs on a fresh overlay over it and never writes to it. Added in Hostbox 0.1 without a
   * format change: a reader that does not know it resumes such a file as an ordinary suspend.
   */
  readonly snapshot?: SnapshotLabel;
}

export interface SnapshotLabel {
  readonly name: string;
  /** The snapshot the VM was running from when this one was taken. */
  readonly parent?: string;
}

export interface LoadedState {
  readonly header: StateHeader;
  readonly sections: StateSection[];
  readonly ram: RamRun[];
  /** Bytes of the file, for reports. */
  readonly fileBytes: number;
}

const SAMPLES = 16;
const SAMPLE_BYTES = 4096;

/** A disk's identity now: its size, modification time and a hash of sampled blocks. */
export function diskIdentity(slot: string, path: string): DiskIdentity {
  const fd = openSync(path, 'r');
  try {
    const st = fstatSync(fd);
    const h = createHash('sha256');
    const buf = new Uint8Array(SAMPLE_BYTES);
    const span = Math.max(0, st.size - SAMPLE_BYTES);
    for (let i = 0; i < SAMPLES; i++) {
      const at = Math.floor((span * i) / (SAMPLES - 1));
      const n = readSync(fd, buf, 0, SAMPLE_BYTES, at);
      h.update(buf.subarray(0, n));
    }
    return { slot, path, size: st.size, mtimeMs: st.mtimeMs, sample: h.digest('hex') };
  } finally {
    closeSync(fd);
  }
}

/** What differs between a disk's identity then and now ('' when nothing): size, sampled contents, then time. */
export function identityChange(was: Pick<DiskIdentity, 'size' | 'mtimeMs' | 'sample'>, now: Pick<DiskIdentity, 'size' | 'mtimeMs' | 'sample'>): string {
  if (now.size !== was.size) return `its size is ${now.size} bytes, was ${was.size}`;
  if (now.sample !== was.sample) return 'its contents differ';
  return Math.abs(now.mtimeMs - was.mtimeMs) >= 1 ? 'its modification time differs' : '';
}

/**
 * Throws a StateFileError naming the disk and what about it changed since the suspend. Times are
 * compared to the millisecond: copying tools keep no finer, and the sampled hash is checked too.
 */
export function checkDisks(file: string, disks: readonly DiskIdentity[]): void {
  for (const d of disks) {
    let now: DiskIdentity;
    try {
      now = diskIdentity(d.slot, d.path);
    } catch {
      throw new StateFileError(`${file}: disk ${d.slot} (${d.path}) is gone since the suspend; the state cannot be resumed without it`);
    }
    const what = identityChange(d, now);
    if (what) throw new StateFileError(`${file}: disk ${d.slot} (${d.path}) changed since the suspend (${what}); resuming would corrupt it`);
  }
}

const enc = new TextEncoder();

function u32(v: number): Uint8Array {
  const b = new Uint8Array(4);
  new DataView(b.buffer).setUint32(0, v >>> 0, true);
  return b;
}

function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

const deflate = promisify(deflateRaw);

/**
 * One section as stored: tag, id, version, encoding, compression, lengths, data, CRC. Compressed
 * on libuv's thread pool: the sections of a suspend compress side by side, off the main thread
 * (the app's UI and the other VMs keep going).
 */
async function sectionBytes(id: string, version: number, encoding: number, raw: Uint8Array): Promise<Uint8Array> {
  const idb = enc.encode(id);
  // Level 1 with a 4 KiB window and the largest hash table: on the Debian guest's RAM 38% faster than
  // level 1's defaults for a file 3% larger; any inflater reads it (the window only shrinks).
  const stored = new Uint8Array(await deflate(raw, { level: 1, windowBits: 12, memLevel: 9 }));
  const head = new Uint8Array(4 + 2 + idb.length + 4 + 1 + 1 + 4 + 4);
  const dv = new DataView(head.buffer);
  head.set(enc.encode(SECTION_TAG), 0);
  dv.setUint16(4, idb.length, true);
  head.set(idb, 6);
  let p = 6 + idb.length;
  dv.setUint32(p, version, true);
  head[p + 4] = encoding;
  head[p + 5] = 1; // deflate (raw)
  dv.setUint32(p + 6, stored.length, true);
  dv.setUint32(p + 10, raw.length, true);
  const body = concat([head, stored]);
  return concat([body, u32(crc32(body))]);
}

/**
 * Puts `tmp` in place at `path` unless something is there already: link(2) fails rather than
 * replace, so a check before the write and another writer finishing first cannot both win. On file
 * systems without hard links the check and the rename are apart, as before.
 */
function publishNew(tmp: string, path: string): void {
  const taken = (): Error => new Error(`${basename(path)} exists already (written meanwhile by another process)`);
  try {
    linkSync(tmp, path);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'EEXIST') throw taken();
    if (code !== 'EPERM' && code !== 'ENOTSUP' && code !== 'EOPNOTSUPP' && code !== 'ENOSYS') throw e;
    if (statSync(path, { throwIfNoEntry: false })) throw taken();
    renameSync(tmp, path);
    return;
  }
  try {
    unlinkSync(tmp);
  } catch {
    // The state is in place; a leftover temporary name is only untidy.
  }
}

/**
 * Collects a state as the VMM streams it, compressing each piece as it arrives; `write` then puts
 * the file in place atomically.
 */
export class StateFileBuilder {
  private readonly parts: Promise<Uint8Array>[] = [];
  private count = 0;
  /** Where the last write's time went, in ms: waiting for compression, writing, fsync and rename. */
  timing = { compress: 0, write: 0, sync: 0 };

  addSection(s: StateSection): void {
    this.keep(sectionBytes(s.id, s.version, ENC_FIELDS, s.data));
  }

  addRam(run: RamRun): void {
    if (run.data.length % PAGE) throw new StateFileError(`a RAM run of ${run.data.length} bytes is not whole pages`);
    this.keep(sectionBytes('ram', 1, ENC_RAM, concat([u32(run.firstPage), run.data])));
  }

  private keep(p: Promise<Uint8Array>): void {
    // Failures surface in write(); until then a rejected piece must not count as unhandled.
    p.catch(() => {});
    this.parts.push(p);
    this.count++;
  }

  /**
   * Writes temp file, fsync, rename, fsync of the folder. Returns the file's size. With `keep`, a
   * file already at `path` is never replaced: the write fails instead (a snapshot's name belongs to
   * the first snapshot to finish, even when two processes share its folder).
   */
  async write(path: string, header: StateHeader, opts: { keep?: boolean } = {}): Promise<number> {
    let parts: Uint8Array[];
    const t0 = performance.now();
    try {
      parts = await Promise.all(this.parts);
    } catch (e) {
      throw new StateFileError(`cannot compress the state: ${(e as Error).message}`);
    }
    const json = enc.encode(JSON.stringify(header));
    const pre = new Uint8Array(16);
    pre.set(enc.encode(STATE_MAGIC), 0);
    new DataView(pre.buffer).setUint32(8, STATE_FORMAT_VERSION, true);
    new DataView(pre.buffer).setUint32(12, json.length, true);
    const headBlock = concat([pre, json]);
    let crc = crc32(headBlock);
    const pieces: Uint8Array[] = [headBlock, u32(crc32(headBlock))];
    crc = crc32(pieces[1]!, crc);
    for (const p of parts) {
      pieces.push(p);
      crc = crc32(p, crc);
    }
    const trailer = new Uint8Array(8);
    trailer.set(enc.encode(TRAILER_TAG), 0);
    new DataView(trailer.buffer).setUint32(4, this.count, true);
    crc = crc32(trailer, crc);
    pieces.push(trailer, u32(crc));

    const dir = dirname(path);
    const tmp = join(dir, `.${basename(path)}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`);
    let fd: number;
    try {
      fd = openSync(tmp, 'wx', 0o600);
    } catch (e) {
      throw new StateFileError(`cannot write the state next to ${path}: ${(e as Error).message}`);
    }
    let size = 0;
    const t1 = performance.now();
    let t2 = t1;
    try {
      for (const p of pieces) {
        let off = 0;
        while (off < p.length) off += writeSync(fd, p, off, p.length - off);
        size += p.length;
      }
      t2 = performance.now();
      fsyncSync(fd);
      closeSync(fd);
      if (opts.keep) publishNew(tmp, path);
      else renameSync(tmp, path);
    } catch (e) {
      try {
        closeSync(fd);
      } catch {
        // already closed
      }
      try {
        unlinkSync(tmp);
      } catch {
        // never created or already gone
      }
      throw new StateFileError(`cannot write the state to ${path}: ${(e as Error).message}`);
    }
    // The rename is durable only once the folder is on disk too.
    try {
      const dfd = openSync(dir, 'r');
      fsyncSync(dfd);
      closeSync(dfd);
    } catch {
      // Some file systems cannot fsync a folder; the rename has still happened.
    }
    this.timing = { compress: t1 - t0, write: t2 - t1, sync: performance.now() - t2 };
    return size;
  }
}

/**
 * The whole file, read in pieces: readFileSync stops at 2 GiB, and the state of a 3 GiB VM whose
 * RAM does not compress is larger than that.
 */
function readWhole(path: string): Uint8Array {
  const fd = openSync(path, 'r');
  try {
    const size = fstatSync(fd).size;
    const buf = new Uint8Array(size);
    let at = 0;
    while (at < size) {
      const n = readSync(fd, buf, at, Math.min(size - at, 1 << 30), at);
      if (n === 0) throw new StateFileError(`${path} became shorter while it was read`);
      at += n;
    }
    return buf;
  } finally {
    closeSync(fd);
  }
}

/** Reads and checks a state file completely; throws a StateFileError with one line for any fault. */
export function readStateFile(path: string): LoadedState {
  let buf: Uint8Array;
  try {
    if (!statSync(path).isFile()) throw new StateFileError(`${path} is not a regular file`);
    buf = readWhole(path);
  } catch (e) {
    if (e instanceof StateFileError) throw e;
    const code = (e as NodeJS.ErrnoException).code;
    throw new StateFileError(code === 'ENOENT' ? `state file ${path} does not exist` : `cannot read the state file ${path}: ${(e as Error).message}`);
  }
  return parseState(buf, path);
}

/**
 * Only the header of a state file (for listings): magic, version and the header's CRC are checked,
 * the sections are not read. Throws a StateFileError.
 */
export function readStateHeader(path: string): StateHeader {
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch (e) {
    throw new StateFileError(`cannot read the state file ${path}: ${(e as Error).message}`);
  }
  try {
    const pre = new Uint8Array(16);
    const n = readSync(fd, pre, 0, 16, 0);
    const len = n === 16 ? new DataView(pre.buffer).getUint32(12, true) : 0;
    if (len > MAX_SECTION_BYTES) throw new StateFileError(`${path}: the header is damaged (it claims ${len} bytes)`);
    const buf = new Uint8Array(16 + len + 4);
    const got = readSync(fd, buf, 0, buf.length, 0);
    return parseFrame(buf.subarray(0, got), path, { headerOnly: true }).header;
  } finally {
    closeSync(fd);
  }
}

/** A section as stored, checked but not yet inflated. */
interface StoredSection {
  id: string;
  version: number;
  encoding: number;
  stored: Uint8Array;
  rawLen: number;
}

interface StateFrame {
  header: StateHeader;
  stored: StoredSection[];
  fileBytes: number;
  fail: (why: string) => never;
}

/** Bytes as Latin-1, for comparing with a tag: any byte is a character, where a UTF-8 decoder would throw on damage. */
function ascii(buf: Uint8Array, at: number, n: number): string {
  return String.fromCharCode(...buf.subarray(at, at + n));
}

/** Every check of the container (magic, version, header, each section's CRC and encoding, the trailer) short of inflating. */
function parseFrame(buf: Uint8Array, name: string, opts: { headerOnly?: boolean }): StateFrame {
  const fail = (why: string): never => {
    throw new StateFileError(`${name}: ${why}`);
  };
  const dv = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const dec = new TextDecoder('utf-8', { fatal: true });
  const truncated = (): never => fail(`the file is truncated (${buf.length} bytes): the suspend that wrote it did not finish, or it was cut short`);
  if (buf.length < 8 || ascii(buf, 0, 8) !== STATE_MAGIC) fail('not a Hostbox saved state (wrong magic)');
  if (buf.length < 16) truncated();
  const format = dv.getUint32(8, true);
  const headerLen = dv.getUint32(12, true);
  let header: StateHeader | null = null;
  if (16 + headerLen + 4 <= buf.length) {
    try {
      header = JSON.parse(dec.decode(buf.subarray(16, 16 + headerLen))) as StateHeader;
    } catch {
      header = null;
    }
  }
  if (format > STATE_FORMAT_VERSION)
    fail(`written by a newer Hostbox${header && typeof header.hostbox === 'string' ? ` (${header.hostbox})` : ''}: state format ${format}, this Hostbox reads format 1 to ${STATE_FORMAT_VERSION}`);
  if (format < 1) fail(`state format ${format} does not exist`);
  if (16 + headerLen + 4 > buf.length) truncated();
  if (crc32(buf.subarray(0, 16 + headerLen)) !== dv.getUint32(16 + headerLen, true)) fail('the header is damaged (checksum mismatch)');
  if (!header || typeof header !== 'object') fail('the header is not valid JSON');
  const h = header as StateHeader;
  if (!Number.isInteger(h.memoryMiB) || !h.config || typeof h.config !== 'object' || !Array.isArray(h.disks)) fail('the header lacks the VM configuration');
  if (h.config.memoryMiB !== h.memoryMiB) fail(`the header disagrees with itself about RAM (${h.memoryMiB} and ${h.config.memoryMiB} MiB)`);
  const c = h.config as unknown as Record<string, unknown>;
  for (const k of ['kernelPath', 'initrdPath', 'cmdline', 'hdaPath', 'cdromPath', 'biosPath', 'engine', 'bootFrom'])
    if (c[k] !== undefined && typeof c[k] !== 'string') fail(`the header's configuration has a bad "${k}"`);
  for (const d of h.disks as unknown[]) {
    const r = d as Record<string, unknown>;
    if (typeof d !== 'object' || d === null || typeof r.slot !== 'string' || typeof r.path !== 'string' || typeof r.size !== 'number' || typeof r.mtimeMs !== 'number' || typeof r.sample !== 'string')
      fail("the header's disk list is malformed");
  }
  const snap = h.snapshot as unknown as Record<string, unknown> | undefined;
  if (snap !== undefined && (typeof snap !== 'object' || snap === null || typeof snap.name !== 'string' || (snap.parent !== undefined && typeof snap.parent !== 'string')))
    fail("the header's snapshot label is malformed");

  const found: StoredSection[] = [];
  if (opts.headerOnly) return { header: h, stored: found, fileBytes: buf.length, fail };
  let p = 16 + headerLen + 4;
  let count = 0;
  for (;;) {
    if (p + 4 > buf.length) truncated();
    const tag = ascii(buf, p, 4);
    if (tag === TRAILER_TAG) break;
    if (tag !== SECTION_TAG) fail(`damaged at byte ${p} (no section starts there)`);
    const start = p;
    if (p + 6 > buf.length) truncated();
    const idLen = dv.getUint16(p + 4, true);
    if (p + 6 + idLen + 14 > buf.length) truncated();
    let id: string;
    try {
      id = dec.decode(buf.subarray(p + 6, p + 6 + idLen));
    } catch {
      return fail(`damaged at byte ${p} (a section name is not text)`);
    }
    p += 6 + idLen;
    const version = dv.getUint32(p, true);
    const encoding = buf[p + 4]!;
    const compression = buf[p + 5]!;
    const storedLen = dv.getUint32(p + 6, true);
    const rawLen = dv.getUint32(p + 10, true);
    p += 14;
    if (p + storedLen + 4 > buf.length) truncated();
    const stored = buf.subarray(p, p + storedLen);
    p += storedLen;
    if (crc32(buf.subarray(start, p)) !== dv.getUint32(p, true)) fail(`section ${id} is damaged (checksum mismatch)`);
    p += 4;
    if (compression !== 1 || (encoding !== ENC_FIELDS && encoding !== ENC_RAM) || rawLen > MAX_SECTION_BYTES)
      fail(`section ${id} uses an encoding this Hostbox does not know (${encoding}/${compression})`);
    found.push({ id, version, encoding, stored, rawLen });
    count++;
  }
  if (p + 12 > buf.length) truncated();
  if (dv.getUint32(p + 4, true) !== count) fail(`the trailer counts ${dv.getUint32(p + 4, true)} sections, the file holds ${count}`);
  if (crc32(buf.subarray(0, p + 8)) !== dv.getUint32(p + 8, true)) fail('the file is damaged (checksum over the whole file mismatches)');
  if (p + 12 !== buf.length) fail(`${buf.length - p - 12} bytes follow the trailer`);
  return { header: h, stored: found, fileBytes: buf.length, fail };
}

/** Inflates one section: null when it does not decompress. */
function inflateOne(s: StoredSection): Uint8Array | null {
  try {
    return new Uint8Array(inflateRawSync(s.stored, { maxOutputLength: Math.max(1, s.rawLen) }));
  } catch {
    return null;
  }
}

/** The sections and RAM runs of a checked frame, once each section is inflated (`raws`, in order). */
function decodeSections(frame: StateFrame, raws: (Uint8Array | null)[]): LoadedState {
  const { header: h, fail } = frame;
  const sections: StateSection[] = [];
  const ram: RamRun[] = [];
  frame.stored.forEach(({ id, version, encoding, rawLen }, i) => {
    const raw = raws[i];
    if (!raw) return fail(`section ${id} is damaged (it does not decompress)`);
    if (raw.length !== rawLen) fail(`section ${id} is damaged (${raw.length} bytes decompressed, ${rawLen} expected)`);
    if (encoding === ENC_RAM) {
      if (id !== 'ram' || version !== 1) fail(`RAM section ${id} version ${version} is not one this Hostbox reads`);
      if (raw.length < 4 || (raw.length - 4) % PAGE) fail('a RAM section is not whole pages');
      const firstPage = new DataView(raw.buffer, raw.byteOffset).getUint32(0, true);
      // Multiplied, not shifted: 2048 << 20 is negative in 32 bits, which refused every VM of 2 GiB or more.
      if (firstPage + (raw.length - 4) / PAGE > (h.memoryMiB * 1024 * 1024) / PAGE) fail(`a RAM section lies beyond the VM's ${h.memoryMiB} MiB`);
      ram.push({ firstPage, data: raw.subarray(4) });
    } else sections.push({ id, version, data: raw });
  });
  return { header: h, sections, ram, fileBytes: frame.fileBytes };
}

/** The checks of readStateFile on bytes already read (`name` is used in messages). */
export function parseState(buf: Uint8Array, name: string, opts: { headerOnly?: boolean } = {}): LoadedState {
  const frame = parseFrame(buf, name, opts);
  return decodeSections(frame, frame.stored.map(inflateOne));
}
