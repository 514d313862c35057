// qcow2 images (QEMU's "QEMU Copy-On-Write" format, version 2 and 3, as docs/interop/qcow2.txt in
// QEMU's tree specifies it): the format of Hostbox's snapshot overlays, chosen so that qemu-img can
// check and read every file Hostbox writes.
//
// What is read: the header and its extensions (backing file name and format), the two-level cluster
// map (L1 table -> L2 tables -> data clusters), clusters that read as zero (v3's flag), compressed
// clusters (raw deflate), and the backing file for clusters the image does not hold (a raw file or a
// qcow2 chain; past its end, zeros). What is written: data clusters, L2 tables and refcount blocks
// allocated at the end of the file, each with refcount 1 and the COPIED flag, and a cluster written
// in part gets the rest from the backing file (copy-on-write).
//
// Crash safety: a new cluster is written with its data before anything points to it, and the
// metadata (refcounts, then L2 tables, then L1) is kept in memory and written at flush() in that
// order, with an fsync before each step. So the file on disk always describes a consistent image:
// a crash can at most leak clusters that were allocated after the last flush (qemu-img check calls
// them leaks, harmless; `qemu-img check -r leaks` reclaims them), never point at a cluster whose
// data or refcount is not there. That is what a disk promises too: writes since the last flush may
// be lost.
//
// Refused with one line at open: encryption, an external data file, extended L2 entries, a
// compression type other than deflate, any unknown incompatible feature, an image marked corrupt,
// and, for writing, one with internal snapshots or left dirty (lazy refcounts). Writing into a
// compressed cluster is refused (the write fails with a line saying so).

import { open, type FileHandle } from 'node:fs/promises';
import { dirname, isAbsolute, join } from 'node:path';
import { constants as zlibConstants, createInflateRaw } from 'node:zlib';
import {
  EXT_BACKING_FORMAT,
  EXT_END,
  HI_COMPRESSED,
  HI_COPIED,
  LO_ZERO,
  QCOW2_MAGIC,
  Qcow2Error,
  TWO32,
  checkFeatures,
  fromWords,
  hostOffset,
  readFully,
  readHeader,
  readRefcount,
  setU64,
  toWords,
  writeFully,
  writeRefcount,
  type Qcow2Header,
} from './qcow2-format.ts';

export { QCOW2_MAGIC, Qcow2Error, type Qcow2Header } from './qcow2-format.ts';

/**
 * L2 tables kept in memory once read, beyond those written and not yet flushed (as QEMU's default
 * l2-cache-size): an image's L1 may name millions of distinct tables, most past the file's end.
 */
const L2_CACHE_BYTES = 32 << 20;

/** Something sectors can be read from: a raw file or a qcow2 image (a backing file). */
export interface ReadableImage {
  readonly size: number;
  readAt(buf: Uint8Array, offset: number): Promise<void>;
  close(): Promise<void>;
}

/** A raw image opened read-only (a backing file). */
export class RawImage implements ReadableImage {
  private constructor(
    private readonly fh: FileHandle,
    readonly size: number,
  ) {}

  static async open(path: string): Promise<RawImage> {
    const fh = await open(path, 'r');
    const st = await fh.stat();
    return new RawImage(fh, st.size);
  }

  /** Past the end of the file reads zeros. */
  async readAt(buf: Uint8Array, offset: number): Promise<void> {
    buf.fill(0);
    const n = Math.max(0, Math.min(buf.length, this.size - offset));
    if (n > 0) await readFully(this.fh, buf.subarray(0, n), offset);
  }

  close(): Promise<void> {
    return this.fh.close();
  }
}

/** Does the file start with the qcow2 magic? */
export async function isQcow2(path: string): Promise<boolean> {
  const fh = await open(path, 'r');
  try {
    const b = new Uint8Array(4);
    const { bytesRead } = await fh.read(b, 0, 4, 0);
    return bytesRead === 4 && new DataView(b.buffer).getUint32(0) === QCOW2_MAGIC;
  } finally {
    await fh.close();
  }
}

export interface OpenOptions {
  writable: boolean;
  /** Checks each backing file before it is opened (the image policy); returns why not, or null. */
  checkBacking?: (path: string) => string | null;
}

/** What qemu-img's file is made of, as Hostbox needs it: a header, L1, cached L2s and refcounts. */
export class Qcow2Image implements ReadableImage {
  readonly clusterSize: number;
  private readonly l2Entries: number;
  private readonly l1: Uint32Array; // two words per entry: hi, lo
  private readonly l1Dirty = new Set<number>();
  private readonly l2Cache = new Map<number, Uint32Array>();
  private readonly l2Dirty = new Set<number>();
  private refTable: Uint32Array;
  private refTableDirty = false;
  private readonly refBlocks = new Map<number, Uint8Array>();
  private readonly refDirty = new Set<number>();
  private readonly refcountBits: number;
  /** Clusters from here on are free: new ones are appended. */
  private endCluster: number;
  private dataWritten = false;
  /** One request at a time: allocation and the metadata caches are not safe to interleave. */
  private tail: Promise<unknown> = Promise.resolve();

  private constructor(
    readonly path: string,
    private readonly fh: FileHandle,
    readonly header: Qcow2Header,
    readonly writable: boolean,
    readonly backing: ReadableImage | null,
    /** The backing file's path as opened (resolved against this image's folder). */
    readonly backingPath: string | null,
    l1: Uint32Array,
    refTable: Uint32Array,
    fileSize: number,
  ) {
    this.clusterSize = 2 ** header.clusterBits;
    this.l2Entries = this.clusterSize / 8;
    this.l1 = l1;
    this.refTable = refTable;
    this.refcountBits = 2 ** header.refcountOrder;
    this.endCluster = Math.ceil(fileSize / this.clusterSize);
  }

  get size(): number {
    return this.header.size;
  }

  /** Opens an image and its backing chain; throws a Qcow2Error with one line naming the problem. */
  static open(path: string, opts: OpenOptions): Promise<Qcow2Image> {
    return Qcow2Image.openInChain(path, opts, []);
  }

  /** `above`: the images of the chain opened so far, top first (a file met again is a loop). */
  private static async openInChain(path: string, opts: OpenOptions, above: { path: string; file: string }[]): Promise<Qcow2Image> {
    let fh: FileHandle;
    try {
      fh = await open(path, opts.writable ? 'r+' : 'r');
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      throw new Qcow2Error(code === 'ENOENT' ? `${path} does not exist` : `${path} cannot be opened (${(e as Error).message})`);
    }
    let backing: ReadableImage | null = null;
    try {
      const st = await fh.stat();
      // The file itself (device and inode), so links and other spellings of a name are caught too.
      const file = `${st.dev}:${st.ino}`;
      const again = above.find((a) => a.file === file);
      if (again) throw new Qcow2Error(`${above[above.length - 1]!.path}: its backing chain loops back to ${again.path} (${[...above.map((a) => a.path), path].join(' -> ')})`);
      const header = await readHeader(fh, path, st.size);
      checkFeatures(header, path, opts.writable);
      const cs = 2 ** header.clusterBits;
      const l1 = new Uint8Array(header.l1Size * 8);
      if (header.l1Size) await readFully(fh, l1, header.l1Offset);
      const refTable = new Uint8Array(header.refcountTableClusters * cs);
      await readFully(fh, refTable, header.refcountTableOffset);
      let backingPath: string | null = null;
      if (header.backingFile !== null) {
        backingPath = isAbsolute(header.backingFile) ? header.backingFile : join(dirname(path), header.backingFile);
        const refusal = opts.checkBacking?.(backingPath);
        if (refusal) throw new Qcow2Error(`${path}: its backing file ${refusal}`);
        const format = header.backingFormat ?? ((await isQcow2(backingPath).catch(() => false)) ? 'qcow2' : 'raw');
        try {
          if (format === 'qcow2') backing = await Qcow2Image.openInChain(backingPath, { writable: false, checkBacking: opts.checkBacking }, [...above, { path, file }]);
          else if (format === 'raw') backing = await RawImage.open(backingPath);
          else throw new Qcow2Error(`${path}: its backing file ${backingPath} is in the ${format} format, which Hostbox does not read`);
        } catch (e) {
          if (e instanceof Qcow2Error) throw e;
          const code = (e as NodeJS.ErrnoException).code;
          throw new Qcow2Error(`${path}: its backing file ${backingPath} ${code === 'ENOENT' ? 'does not exist' : `cannot be opened (${(e as Error).message})`}`);
        }
      }
      const image = new Qcow2Image(path, fh, header, opts.writable, backing, backingPath, toWords(l1), toWords(refTable), st.size);
      // An autoclear bit this writer does not understand must be cleared, so a reader that knows it
      // sees that the extension (such as persistent bitmaps) may be stale.
      if (opts.writable && header.version === 3 && header.autoclear !== 0n) {
        const b = new Uint8Array(8);
        await writeFully(fh, b, 88);
        header.autoclear = 0n;
      }
      return image;
    } catch (e) {
      await backing?.close().catch(() => {});
      await fh.close().catch(() => {});
      if (e instanceof Qcow2Error) throw e;
      throw new Qcow2Error(`${path}: ${(e as Error).message}`);
    }
  }

  /**
   * Makes an empty version-3 image of `size` bytes (a multiple of 512), over `backing` when given:
   * its name as it will be written (relative to the new image's folder, or absolute) and format.
   * Written to a temporary name, fsynced and renamed, so the path holds a whole image or nothing.
   */
  static async create(path: string, opts: { size: number; backing?: { name: string; format: 'raw' | 'qcow2' }; clusterBits?: number }): Promise<void> {
    const bits = opts.clusterBits ?? 16;
    const cs = 2 ** bits;
    if (!Number.isSafeInteger(opts.size) || opts.size <= 0 || opts.size % 512) throw new Qcow2Error(`a qcow2 image cannot be ${opts.size} bytes: give a positive multiple of 512`);
    const l2Covers = (cs / 8) * cs;
    const l1Size = Math.ceil(opts.size / l2Covers);
    const l1Clusters = Math.max(1, Math.ceil((l1Size * 8) / cs));
    // Layout: header, refcount table (one cluster), first refcount block, L1.
    const refTableAt = cs;
    const refBlockAt = 2 * cs;
    const l1At = 3 * cs;
    const used = 3 + l1Clusters;
    const head = new Uint8Array(cs);
    const dv = new DataView(head.buffer);
    dv.setUint32(0, QCOW2_MAGIC);
    dv.setUint32(4, 3);
    dv.setUint32(20, bits);
    setU64(dv, 24, opts.size);
    dv.setUint32(32, 0);
    dv.setUint32(36, l1Size);
    setU64(dv, 40, l1At);
    setU64(dv, 48, refTableAt);
    dv.setUint32(56, 1);
    dv.setUint32(96, 4); // 16-bit refcounts
    dv.setUint32(100, 112);
    head[104] = 0; // compression type: deflate
    let p = 112;
    const enc = new TextEncoder();
    if (opts.backing) {
      const fmt = enc.encode(opts.backing.format);
      dv.setUint32(p, EXT_BACKING_FORMAT);
      dv.setUint32(p + 4, fmt.length);
      head.set(fmt, p + 8);
      p += 8 + Math.ceil(fmt.length / 8) * 8;
    }
    dv.setUint32(p, EXT_END);
    dv.setUint32(p + 4, 0);
    p += 8;
    if (opts.backing) {
      const name = enc.encode(opts.backing.name);
      if (name.length > 1023 || p + name.length > cs) throw new Qcow2Error(`the backing file name ${opts.backing.name} is too long for a qcow2 header`);
      head.set(name, p);
      setU64(dv, 8, p);
      dv.setUint32(16, name.length);
    }
    const refTable = new Uint8Array(cs);
    setU64(new DataView(refTable.buffer), 0, refBlockAt);
    const refBlock = new Uint8Array(cs);
    for (let i = 0; i < used; i++) new DataView(refBlock.buffer).setUint16(i * 2, 1);
    const tmp = join(dirname(path), `.${path.split('/').pop()}.${process.pid}.tmp`);
    const fh = await open(tmp, 'wx', 0o600);
    try {
      await writeFully(fh, head, 0);
      await writeFully(fh, refTable, refTableAt);
      await writeFully(fh, refBlock, refBlockAt);
      await fh.truncate(used * cs); // the L1 table: zeros, nothing allocated
      await fh.sync();
    } catch (e) {
      await fh.close().catch(() => {});
      const { unlink } = await import('node:fs/promises');
      await unlink(tmp).catch(() => {});
      throw e;
    }
    await fh.close();
    const { rename } = await import('node:fs/promises');
    await rename(tmp, path);
    await syncDir(dirname(path));
  }

  private serial<T>(f: () => Promise<T>): Promise<T> {
    const next = this.tail.then(f);
    this.tail = next.catch(() => {});
    return next;
  }

  /** Reads the guest's view of bytes `offset` .. `offset + buf.length` (beyond the end: zeros). */
  readAt(buf: Uint8Array, offset: number): Promise<void> {
    return this.serial(() => this.readNow(buf, offset));
  }

  private async readNow(buf: Uint8Array, offset: number): Promise<void> {
    const cs = this.clusterSize;
    let done = 0;
    while (done < buf.length) {
      const at = offset + done;
      const inCluster = at % cs;
      const n = Math.min(cs - inCluster, buf.length - done);
      const part = buf.subarray(done, done + n);
      if (at >= this.size) part.fill(0);
      else await this.readCluster(Math.floor(at / cs), inCluster, part);
      done += n;
    }
  }

  private async readCluster(cluster: number, inCluster: number, part: Uint8Array): Promise<void> {
    const e = await this.l2Entry(cluster);
    if (e && e.hi & HI_COMPRESSED) {
      const data = await this.decompress(e.hi, e.lo, cluster);
      part.set(data.subarray(inCluster, inCluster + part.length));
      return;
    }
    if (e && this.header.version >= 3 && e.lo & LO_ZERO) {
      part.fill(0);
      return;
    }
    const host = e ? hostOffset(e.hi, e.lo) : 0;
    if (host === 0) await this.readBacking(cluster * this.clusterSize + inCluster, part);
    else await readFully(this.fh, part, host + inCluster);
  }

  private async readBacking(offset: number, part: Uint8Array): Promise<void> {
    if (this.backing) await this.backing.readAt(part, offset);
    else part.fill(0);
  }

  private async decompress(hi: number, lo: number, cluster: number): Promise<Uint8Array> {
    const desc = (BigInt(hi & 0x3fffffff) << 32n) | BigInt(lo >>> 0);
    const x = BigInt(62 - (this.header.clusterBits - 8));
    const off = Number(desc & ((1n << x) - 1n));
    const sectors = Number(desc >> x) + 1;
    const end = (Math.floor(off / 512) + sectors) * 512;
    const stored = new Uint8Array(end - off);
    await readFully(this.fh, stored, off);
    const out = await inflateCluster(stored, this.clusterSize);
    if (!out) throw new Qcow2Error(`${this.path}: compressed cluster ${cluster} does not decompress (the image is damaged)`);
    return out;
  }

  /** The L2 entry of a guest cluster, or null when its L2 table is not allocated. */
  private async l2Entry(cluster: number): Promise<{ table: Uint32Array; index: number; hi: number; lo: number } | null> {
    const l1i = Math.floor(cluster / this.l2Entries);
    if (l1i >= this.header.l1Size) throw new Qcow2Error(`${this.path}: cluster ${cluster} lies beyond the L1 table`);
    const l2At = hostOffset(this.l1[l1i * 2]!, this.l1[l1i * 2 + 1]!);
    if (l2At === 0) return null;
    const table = await this.l2Table(l2At);
    const index = cluster % this.l2Entries;
    return { table, index, hi: table[index * 2]!, lo: table[index * 2 + 1]! };
  }

  private async l2Table(at: number): Promise<Uint32Array> {
    let t = this.l2Cache.get(at);
    if (t) {
      // Most recently used last: eviction takes the oldest first.
      this.l2Cache.delete(at);
      this.l2Cache.set(at, t);
      return t;
    }
    if (at % this.clusterSize) throw new Qcow2Error(`${this.path}: an L2 table at ${at} is not cluster-aligned (the image is damaged)`);
    const raw = new Uint8Array(this.clusterSize);
    await readFully(this.fh, raw, at);
    t = toWords(raw);
    // Clean tables are what the file holds, so they can be dropped and read again; dirty ones stay until flush.
    let over = this.l2Cache.size + 1 - Math.max(1, Math.floor(L2_CACHE_BYTES / this.clusterSize));
    for (const old of this.l2Cache.keys()) {
      if (over <= 0) break;
      if (this.l2Dirty.has(old)) continue;
      this.l2Cache.delete(old);
      over--;
    }
    this.l2Cache.set(at, t);
    return t;
  }

  /** Bytes of L2 tables held in memory (for tests and checks). */
  get l2CacheBytes(): number {
    return this.l2Cache.size * this.clusterSize;
  }

  /** Writes `data` at guest byte `offset` (both multiples of 512 in practice; any bytes work). */
  writeAt(data: Uint8Array, offset: number): Promise<void> {
    return this.serial(() => this.writeNow(data, offset));
  }

  private async writeNow(data: Uint8Array, offset: number): Promise<void> {
    if (!this.writable) throw new Qcow2Error(`${this.path} is open read-only`);
    if (offset + data.length > this.size) throw new Qcow2Error(`${this.path}: a write at ${offset} runs past the image's end (${this.size} bytes)`);
    const cs = this.clusterSize;
    let done = 0;
    while (done < data.length) {
      const at = offset + done;
      const cluster = Math.floor(at / cs);
      const inCluster = at % cs;
      const n = Math.min(cs - inCluster, data.length - done);
      await this.writeCluster(cluster, inCluster, data.subarray(done, done + n));
      done += n;
    }
  }

  private async writeCluster(cluster: number, inCluster: number, part: Uint8Array): Promise<void> {
    const cs = this.clusterSize;
    let e = await this.l2Entry(cluster);
    if (e && e.hi & HI_COMPRESSED)
      throw new Qcow2Error(`${this.path}: guest cluster ${cluster} is compressed, and Hostbox does not write into compressed clusters (convert the image with qemu-img convert -O qcow2 first)`);
    const host = e ? hostOffset(e.hi, e.lo) : 0;
    const zeroFlag = e !== null && (e.lo & LO_ZERO) !== 0 && this.header.version >= 3;
    if (host !== 0) this.checkDataCluster(host, cluster);
    if (host !== 0 && !zeroFlag) {
      await writeFully(this.fh, part, host + inCluster);
      this.dataWritten = true;
      return;
    }
    // A new cluster (or one that read as zeros): its whole content is written before anything points to it.
    const whole = new Uint8Array(cs);
    if (part.length < cs) {
      if (!zeroFlag) await this.readBacking(cluster * cs, whole);
      whole.set(part, inCluster);
    } else whole.set(part);
    if (!e) {
      const l2At = await this.allocate();
      const l1i = Math.floor(cluster / this.l2Entries);
      this.l2Cache.set(l2At, new Uint32Array(this.l2Entries * 2));
      this.l2Dirty.add(l2At);
      this.l1[l1i * 2] = HI_COPIED | Math.floor(l2At / TWO32);
      this.l1[l1i * 2 + 1] = l2At >>> 0;
      this.l1Dirty.add(l1i);
      e = (await this.l2Entry(cluster))!;
    }
    const at = host !== 0 ? host : await this.allocate();
    await writeFully(this.fh, whole, at);
    this.dataWritten = true;
    e.table[e.index * 2] = HI_COPIED | Math.floor(at / TWO32);
    e.table[e.index * 2 + 1] = at >>> 0;
    const l1i = Math.floor(cluster / this.l2Entries);
    this.l2Dirty.add(hostOffset(this.l1[l1i * 2]!, this.l1[l1i * 2 + 1]!));
  }

  /**
   * A damaged (or hostile) image may map a guest cluster onto its own header or tables: the guest's
   * write would then rewrite them. Refused, as QEMU's overlap checks do.
   */
  private checkDataCluster(host: number, cluster: number): void {
    const cs = this.clusterSize;
    const h = this.header;
    const inside = (start: number, bytes: number): boolean => host + cs > start && host < start + Math.ceil(bytes / cs) * cs;
    if (host % cs || inside(0, cs) || inside(h.l1Offset, h.l1Size * 8) || inside(h.refcountTableOffset, h.refcountTableClusters * cs) || this.l2Cache.has(host) || this.refBlocks.has(host))
      throw new Qcow2Error(`${this.path}: guest cluster ${cluster} is mapped onto the image's own metadata (the image is damaged); not written`);
  }

  /** A new cluster at the end of the file, its refcount 1 (in memory until flush). */
  private async allocate(): Promise<number> {
    const c = this.endCluster++;
    await this.setRefcount(c, 1);
    return c * this.clusterSize;
  }

  private async setRefcount(cluster: number, value: number): Promise<void> {
    const perBlock = (this.clusterSize * 8) / this.refcountBits;
    const bi = Math.floor(cluster / perBlock);
    if (bi >= this.refTable.length / 2)
      throw new Qcow2Error(`${this.path} has grown past what its refcount table covers; Hostbox does not grow it (qemu-img convert makes a copy with room)`);
    let blockAt = hostOffset(this.refTable[bi * 2]!, this.refTable[bi * 2 + 1]!);
    if (blockAt === 0) {
      // The block describing this cluster is new too; it is described by itself or by the next one.
      const bc = this.endCluster++;
      blockAt = bc * this.clusterSize;
      this.refBlocks.set(blockAt, new Uint8Array(this.clusterSize));
      this.refTable[bi * 2] = Math.floor(blockAt / TWO32);
      this.refTable[bi * 2 + 1] = blockAt >>> 0;
      this.refTableDirty = true;
      this.refDirty.add(blockAt);
      await this.setRefcount(bc, 1);
    }
    writeRefcount(await this.refBlock(blockAt), cluster % perBlock, this.refcountBits, value);
    this.refDirty.add(blockAt);
  }

  private async refBlock(at: number): Promise<Uint8Array> {
    let b = this.refBlocks.get(at);
    if (!b) {
      if (at % this.clusterSize) throw new Qcow2Error(`${this.path}: a refcount block at ${at} is not cluster-aligned (the image is damaged)`);
      b = new Uint8Array(this.clusterSize);
      await readFully(this.fh, b, at);
      this.refBlocks.set(at, b);
    }
    return b;
  }

  /** The refcount of a host cluster as stored (for tests and checks). */
  async refcount(cluster: number): Promise<number> {
    return this.serial(async () => {
      const perBlock = (this.clusterSize * 8) / this.refcountBits;
      const bi = Math.floor(cluster / perBlock);
      if (bi >= this.refTable.length / 2) return 0;
      const at = hostOffset(this.refTable[bi * 2]!, this.refTable[bi * 2 + 1]!);
      if (at === 0) return 0;
      return readRefcount(await this.refBlock(at), cluster % perBlock, this.refcountBits);
    });
  }

  /**
   * Makes everything written so far durable and described: data, then refcounts, then L2 tables,
   * then L1, each step fsynced before the next points to it.
   */
  flush(): Promise<void> {
    return this.serial(() => this.flushNow());
  }

  private async flushNow(): Promise<void> {
    if (!this.writable) return;
    const meta = this.refDirty.size + this.l2Dirty.size + this.l1Dirty.size > 0 || this.refTableDirty;
    if (!meta) {
      if (this.dataWritten) await this.fh.sync();
      this.dataWritten = false;
      return;
    }
    await this.fh.sync();
    for (const at of this.refDirty) await writeFully(this.fh, this.refBlocks.get(at)!, at);
    if (this.refTableDirty) await writeFully(this.fh, fromWords(this.refTable), this.header.refcountTableOffset);
    await this.fh.sync();
    for (const at of this.l2Dirty) await writeFully(this.fh, fromWords(this.l2Cache.get(at)!), at);
    await this.fh.sync();
    // L1 entries as whole 8-byte words, each write of one entry atomic on the disks that matter.
    const l1Bytes = fromWords(this.l1);
    for (const i of [...this.l1Dirty].sort((a, b) => a - b)) await writeFully(this.fh, l1Bytes.subarray(i * 8, i * 8 + 8), this.header.l1Offset + i * 8);
    await this.fh.sync();
    this.refDirty.clear();
    this.refTableDirty = false;
    this.l2Dirty.clear();
    this.l1Dirty.clear();
    this.dataWritten = false;
  }

  /** Guest byte ranges this image holds itself (allocated or zero clusters), for merging into its backing file. */
  async allocatedRanges(): Promise<{ offset: number; length: number; zero: boolean }[]> {
    return this.serial(async () => {
      const out: { offset: number; length: number; zero: boolean }[] = [];
      const cs = this.clusterSize;
      for (let l1i = 0; l1i < this.header.l1Size; l1i++) {
        const l2At = hostOffset(this.l1[l1i * 2]!, this.l1[l1i * 2 + 1]!);
        if (!l2At) continue;
        const t = await this.l2Table(l2At);
        for (let i = 0; i < this.l2Entries; i++) {
          const hi = t[i * 2]!;
          const lo = t[i * 2 + 1]!;
          const zero = this.header.version >= 3 && (lo & LO_ZERO) !== 0 && !(hi & HI_COMPRESSED);
          if (!zero && hostOffset(hi, lo) === 0 && !(hi & HI_COMPRESSED)) continue;
          const offset = (l1i * this.l2Entries + i) * cs;
          if (offset >= this.size) break;
          out.push({ offset, length: Math.min(cs, this.size - offset), zero });
        }
      }
      return out;
    });
  }

  /** Flushes (when writable), then closes the file and the backing chain. */
  async close(): Promise<void> {
    try {
      await this.flush();
    } finally {
      await this.tail;
      await this.fh.close().catch(() => {});
      await this.backing?.close().catch(() => {});
    }
  }
}

/**
 * Inflates a compressed cluster's raw deflate stream; null when it does not give a whole cluster.
 * Decompression stops once it has produced a cluster (qcow2.txt), so a stream that would inflate to
 * gigabytes costs one cluster of memory, not gigabytes.
 */
function inflateCluster(stored: Uint8Array, size: number): Promise<Uint8Array | null> {
  return new Promise((resolve) => {
    const out = new Uint8Array(size);
    let got = 0;
    // Z_SYNC_FLUSH at the end: the stored area is whole sectors and may end past the stream, or cut it.
    const z = createInflateRaw({ finishFlush: zlibConstants.Z_SYNC_FLUSH });
    let settled = false;
    const settle = (): void => {
      if (settled) return;
      settled = true;
      z.destroy();
      resolve(got === size ? out : null);
    };
    z.on('data', (chunk: Buffer) => {
      const n = Math.min(chunk.length, size - got);
      out.set(chunk.subarray(0, n), got);
      got += n;
      if (got === size) settle();
    });
    z.on('end', settle);
    z.on('error', settle);
    z.end(stored);
  });
}

async function syncDir(dir: string): Promise<void> {
  try {
    const d = await open(dir, 'r');
    await d.sync().catch(() => {});
    await d.close();
  } catch {
    // Some file systems cannot open or fsync a folder; the rename has still happened.
  }
}
