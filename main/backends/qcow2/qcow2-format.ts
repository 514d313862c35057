// The qcow2 format's on-disk layout (QEMU's docs/interop/qcow2.txt): the header and its
// extensions, the feature bits Hostbox refuses, the big-endian 64-bit table entries and the
// refcount entries of every width. The engine that uses them is qcow2.ts.

import type { FileHandle } from 'node:fs/promises';

export const QCOW2_MAGIC = 0x514649fb; // "QFI\xfb"
export const EXT_END = 0;
export const EXT_BACKING_FORMAT = 0xe2792aca;
export const EXT_FEATURE_NAMES = 0x6803f857;
export const EXT_EXTERNAL_DATA = 0x44415441;

export const INCOMPAT_DIRTY = 1n << 0n;
export const INCOMPAT_CORRUPT = 1n << 1n;
export const INCOMPAT_EXTERNAL_DATA = 1n << 2n;
export const INCOMPAT_COMPRESSION_TYPE = 1n << 3n;
export const INCOMPAT_EXTENDED_L2 = 1n << 4n;

export const TWO32 = 2 ** 32;
/** L1/L2 entry and refcount table entry: host offset, bits 9..55. */
export const OFFSET_HI_MASK = 0x00ffffff;
export const OFFSET_LO_MASK = 0xfffffe00;
/** Bit 63 (COPIED: refcount exactly 1) and bit 62 (compressed) in the high word. */
export const HI_COPIED = 0x80000000;
export const HI_COMPRESSED = 0x40000000;
/** Bit 0 of a standard L2 entry (v3): the cluster reads as zeros. */
export const LO_ZERO = 1;

/** A refusal to open or use an image: one line, for the user. */
export class Qcow2Error extends Error {}

export async function readFully(fh: FileHandle, buf: Uint8Array, pos: number): Promise<void> {
  let done = 0;
  while (done < buf.length) {
    const { bytesRead } = await fh.read(buf, done, buf.length - done, pos + done);
    if (bytesRead === 0) {
      buf.fill(0, done);
      return; // a sparse file's tail, or a cluster allocated but never written: zeros
    }
    done += bytesRead;
  }
}

export async function writeFully(fh: FileHandle, buf: Uint8Array, pos: number): Promise<void> {
  let done = 0;
  while (done < buf.length) {
    const { bytesWritten } = await fh.write(buf, done, buf.length - done, pos + done);
    done += bytesWritten;
  }
}

export const hostOffset = (hi: number, lo: number): number => (hi & OFFSET_HI_MASK) * TWO32 + ((lo & OFFSET_LO_MASK) >>> 0);

export interface Qcow2Header {
  version: number;
  clusterBits: number;
  size: number;
  l1Size: number;
  l1Offset: number;
  refcountTableOffset: number;
  refcountTableClusters: number;
  snapshots: number;
  refcountOrder: number;
  headerLength: number;
  incompatible: bigint;
  compatible: bigint;
  autoclear: bigint;
  /** As written in the file (relative names are relative to the image's folder). */
  backingFile: string | null;
  backingFormat: string | null;
}

export function setU64(dv: DataView, at: number, v: number): void {
  dv.setUint32(at, Math.floor(v / TWO32));
  dv.setUint32(at + 4, v >>> 0);
}

export function getU64(dv: DataView, at: number): number {
  const hi = dv.getUint32(at);
  if (hi >= 0x200000) return Number.MAX_SAFE_INTEGER; // beyond 2^53: no real file has it
  return hi * TWO32 + dv.getUint32(at + 4);
}

/** Big-endian 64-bit words as [hi, lo] pairs. */
export function toWords(b: Uint8Array): Uint32Array {
  const dv = new DataView(b.buffer, b.byteOffset, b.byteLength);
  const w = new Uint32Array(b.length / 4);
  for (let i = 0; i < w.length; i++) w[i] = dv.getUint32(i * 4);
  return w;
}

export function fromWords(w: Uint32Array): Uint8Array {
  const b = new Uint8Array(w.length * 4);
  const dv = new DataView(b.buffer);
  for (let i = 0; i < w.length; i++) dv.setUint32(i * 4, w[i]!);
  return b;
}

export function readRefcount(block: Uint8Array, i: number, bits: number): number {
  const dv = new DataView(block.buffer, block.byteOffset, block.byteLength);
  if (bits === 8) return block[i]!;
  if (bits === 16) return dv.getUint16(i * 2);
  if (bits === 32) return dv.getUint32(i * 4);
  if (bits === 64) return getU64(dv, i * 8);
  // 1, 2 or 4 bits: the lowest-order bits of a byte hold the first entry.
  const per = 8 / bits;
  return (block[Math.floor(i / per)]! >> ((i % per) * bits)) & ((1 << bits) - 1);
}

export function writeRefcount(block: Uint8Array, i: number, bits: number, v: number): void {
  const dv = new DataView(block.buffer, block.byteOffset, block.byteLength);
  if (bits === 8) block[i] = v;
  else if (bits === 16) dv.setUint16(i * 2, v);
  else if (bits === 32) dv.setUint32(i * 4, v);
  else if (bits === 64) setU64(dv, i * 8, v);
  else {
    const per = 8 / bits;
    const shift = (i % per) * bits;
    const mask = ((1 << bits) - 1) << shift;
    block[Math.floor(i / per)] = (block[Math.floor(i / per)]! & ~mask) | ((v << shift) & mask);
  }
}

export async function readHeader(fh: FileHandle, path: string, fileSize: number): Promise<Qcow2Header> {
  const head = new Uint8Array(Math.min(fileSize, 64 * 1024));
  await readFully(fh, head, 0);
  const dv = new DataView(head.buffer);
  const bad = (why: string): never => {
    throw new Qcow2Error(`${path}: ${why}`);
  };
  if (head.length < 72 || dv.getUint32(0) !== QCOW2_MAGIC) bad('not a qcow2 image (wrong magic)');
  const version = dv.getUint32(4);
  if (version !== 2 && version !== 3) bad(`qcow2 version ${version} is not one Hostbox reads (2 and 3)`);
  const clusterBits = dv.getUint32(20);
  if (clusterBits < 9 || clusterBits > 21) bad(`cluster size 2^${clusterBits} is outside what qcow2 allows (512 bytes to 2 MiB)`);
  const cs = 2 ** clusterBits;
  const h: Qcow2Header = {
    version,
    clusterBits,
    size: getU64(dv, 24),
    l1Size: dv.getUint32(36),
    l1Offset: getU64(dv, 40),
    refcountTableOffset: getU64(dv, 48),
    refcountTableClusters: dv.getUint32(56),
    snapshots: dv.getUint32(60),
    refcountOrder: 4,
    headerLength: 72,
    incompatible: 0n,
    compatible: 0n,
    autoclear: 0n,
    backingFile: null,
    backingFormat: null,
  };
  if (dv.getUint32(32) !== 0) bad('the image is encrypted, which Hostbox does not support');
  if (version === 3) {
    if (head.length < 104) bad('the header is truncated');
    h.incompatible = dv.getBigUint64(72);
    h.compatible = dv.getBigUint64(80);
    h.autoclear = dv.getBigUint64(88);
    h.refcountOrder = dv.getUint32(96);
    h.headerLength = dv.getUint32(100);
    if (h.headerLength < 104 || h.headerLength > head.length || h.headerLength % 8) bad(`the header length ${h.headerLength} is not possible`);
    if (h.refcountOrder > 6) bad(`refcount order ${h.refcountOrder} is not possible (at most 6)`);
  }
  if (h.size > 2 ** 50 || h.size % 512) bad(`the virtual size ${h.size} is not a size Hostbox handles`);
  const l2Covers = (cs / 8) * cs;
  if (h.l1Size < Math.ceil(h.size / l2Covers) || h.l1Size > 32 * 1024 * 1024 / 8) bad(`the L1 table's ${h.l1Size} entries do not fit the virtual size`);
  for (const [what, at] of [['L1 table', h.l1Offset], ['refcount table', h.refcountTableOffset]] as const)
    if (at % cs || at === 0 || at >= Math.max(fileSize, cs)) bad(`the ${what} offset ${at} is not a cluster inside the file`);
  if (h.refcountTableClusters === 0 || h.refcountTableClusters * cs > 32 * 1024 * 1024) bad(`a refcount table of ${h.refcountTableClusters} clusters is not possible`);
  // Header extensions, up to the end marker.
  let p = version === 3 ? h.headerLength : 72;
  const dec = new TextDecoder('utf-8', { fatal: true });
  for (;;) {
    if (p + 8 > head.length || p + 8 > cs) bad('the header extensions run past the first cluster');
    const type = dv.getUint32(p);
    const len = dv.getUint32(p + 4);
    if (type === EXT_END) break;
    if (p + 8 + len > head.length) bad('a header extension runs past the first cluster');
    if (type === EXT_BACKING_FORMAT) h.backingFormat = dec.decode(head.subarray(p + 8, p + 8 + len));
    else if (type === EXT_EXTERNAL_DATA) bad('the image keeps its data in an external file, which Hostbox does not support');
    else if (type === EXT_FEATURE_NAMES) {
      // Names for the feature bits, used only in messages.
    }
    p += 8 + Math.ceil(len / 8) * 8;
  }
  const backingAt = getU64(dv, 8);
  const backingLen = dv.getUint32(16);
  if (backingAt !== 0) {
    if (backingLen === 0 || backingLen > 1023 || backingAt + backingLen > head.length) bad('the backing file name is not where the header says');
    try {
      h.backingFile = dec.decode(head.subarray(backingAt, backingAt + backingLen));
    } catch {
      bad('the backing file name is not text');
    }
  }
  return h;
}

export function checkFeatures(h: Qcow2Header, path: string, writable: boolean): void {
  const bad = (why: string): never => {
    throw new Qcow2Error(`${path}: ${why}`);
  };
  const inc = h.incompatible;
  if (inc & INCOMPAT_CORRUPT) bad('the image is marked corrupt; repair it with qemu-img check -r all');
  if (inc & INCOMPAT_EXTERNAL_DATA) bad('the image keeps its data in an external file, which Hostbox does not support');
  if (inc & INCOMPAT_EXTENDED_L2) bad('the image uses extended L2 entries (subclusters), which Hostbox does not support');
  if (inc & INCOMPAT_COMPRESSION_TYPE) bad('the image uses a compression type other than deflate (zstd), which Hostbox does not support');
  const unknown = inc & ~(INCOMPAT_DIRTY | INCOMPAT_CORRUPT | INCOMPAT_EXTERNAL_DATA | INCOMPAT_COMPRESSION_TYPE | INCOMPAT_EXTENDED_L2);
  if (unknown) bad(`the image uses incompatible features Hostbox does not know (bits 0x${unknown.toString(16)})`);
  if (writable && inc & INCOMPAT_DIRTY) bad('the image was not closed cleanly and its refcounts may be stale; repair it with qemu-img check -r all');
  if (writable && h.snapshots > 0) bad(`the image holds ${h.snapshots} internal snapshots, which Hostbox does not write around; remove them with qemu-img snapshot -d`);
}
