// Reads a FAT16 or FAT32 file system back from a disk the guest may have written anything on. It
// follows fatgen103 (MBR partition, BPB, FAT type by cluster count, chains, short and long
// directory entries) and trusts nothing: every cluster number is range-checked, a cluster used twice
// (a loop, or two files sharing it) stops the walk, chains must hold the file's bytes, names must
// be names, and directories are bounded in size and depth. Any of these raises FatCorruption with
// where it was found, so the caller can refuse to sync rather than carry garbage to the host.

import {
  ATTR_DIRECTORY,
  ATTR_LONG_NAME,
  ATTR_LONG_NAME_MASK,
  ATTR_VOLUME_ID,
  DIR_ENTRY_SIZE,
  DIR_FREE,
  LAST_LONG_ENTRY,
  LFN_CHARS_PER_ENTRY,
  fromFatTime,
  longEntryUnits,
  shortDisplayName,
  shortNameBytesValid,
  shortNameChecksum,
} from './dir-entries.ts';

const SECTOR = 512;
const MAX_DEPTH = 128;
/** fatgen103's limit on a directory's size. */
const MAX_DIR_BYTES = 65536 * DIR_ENTRY_SIZE;
/** A FAT larger than this is not one Hostbox made or a guest would make on such a disk. */
const MAX_FAT_BYTES = 512 * 2 ** 20;
/**
 * Files and directories a volume may hold by default. Each costs the host a few hundred bytes of
 * memory while a sync runs, and a disk of directories holds one per 32 bytes: without a bound a
 * guest could make the host run out of memory (a 512 MiB disk holds 16 million entries).
 */
export const MAX_ENTRIES = 1 << 20;

export class FatCorruption extends Error {
  override name = 'FatCorruption';
}

export interface FatFile {
  readonly kind: 'file';
  readonly name: string;
  readonly cluster: number;
  /** The clusters holding the file's bytes, in order (exactly ceil(size / cluster size) of them). */
  readonly chain: readonly number[];
  readonly size: number;
  readonly mtimeMs: number;
  readonly attr: number;
}

export interface FatDir {
  readonly kind: 'dir';
  readonly name: string;
  readonly cluster: number;
  readonly mtimeMs: number;
  readonly children: FatNode[];
}

export type FatNode = FatFile | FatDir;

export interface FatVolume {
  readonly fatType: 16 | 32;
  readonly partitionStart: number;
  readonly clusterBytes: number;
  readonly sectorsPerCluster: number;
  readonly root: FatDir;
  /**
   * Why the file system looks mounted read-write in the guest right now, or null: Linux sets bit 0
   * of the boot sector's state byte (BS_Reserved1) at mount and clears it at unmount; Windows and
   * fatgen103 clear the "clean shutdown" bit of FAT entry 1 while the volume is in use.
   */
  readonly inUse: string | null;
  /** First disk sector of a cluster. */
  clusterLba(cluster: number): number;
}

export type SectorReader = (lba: number, count: number) => Uint8Array;

/**
 * The form two names of one directory must not share: each UTF-16 unit up-cased on its own, as
 * Windows' up-case table does it. String.toUpperCase's full mapping would make "ß" and "SS" one
 * name, which FAT keeps apart.
 */
function upcase(name: string): string {
  let out = '';
  for (let i = 0; i < name.length; i++) {
    const c = name[i]!;
    const u = c.toUpperCase();
    out += u.length === 1 ? u : c;
  }
  return out;
}

function u16(b: Uint8Array, o: number): number {
  return b[o]! | (b[o + 1]! << 8);
}
function u32(b: Uint8Array, o: number): number {
  return (b[o]! | (b[o + 1]! << 8) | (b[o + 2]! << 16) | (b[o + 3]! << 24)) >>> 0;
}

/**
 * Parses the whole file system tree; throws FatCorruption when anything is not as FAT allows, or
 * when it holds more than `maxEntries` files and directories.
 */
export function readFatVolume(read: SectorReader, diskSectors: number, { maxEntries = MAX_ENTRIES }: { maxEntries?: number } = {}): FatVolume {
  const mbr = read(0, 1);
  if (u16(mbr, 510) !== 0xaa55) throw new FatCorruption('the partition table (MBR) has lost its 55AAh signature');
  const type = mbr[446 + 4]!;
  if (![0x01, 0x04, 0x06, 0x0b, 0x0c, 0x0e].includes(type)) throw new FatCorruption(`the first partition has type ${type.toString(16)}h, not FAT`);
  const partStart = u32(mbr, 446 + 8);
  const partSize = u32(mbr, 446 + 12);
  if (partStart < 1 || partSize < 1 || partStart + partSize > diskSectors) throw new FatCorruption('the first partition lies outside the disk');

  const bs = read(partStart, 1);
  const bad = (what: string): never => {
    throw new FatCorruption(`the boot sector is damaged: ${what}`);
  };
  if (u16(bs, 510) !== 0xaa55) bad('no 55AAh signature');
  if (u16(bs, 11) !== SECTOR) bad(`${u16(bs, 11)} bytes per sector`);
  const spc = bs[13]!;
  if (spc === 0 || (spc & (spc - 1)) !== 0) bad(`${spc} sectors per cluster`);
  const reserved = u16(bs, 14);
  const numFats = bs[16]!;
  const rootEntries = u16(bs, 17);
  const totalSectors = u16(bs, 19) || u32(bs, 32);
  const fatSize = u16(bs, 22) || u32(bs, 36);
  if (reserved < 1) bad('no reserved sectors');
  if (numFats < 1 || numFats > 2) bad(`${numFats} FATs`);
  if (totalSectors < 1 || totalSectors > partSize) bad('its sector count does not fit the partition');
  if (fatSize < 1 || fatSize * SECTOR > MAX_FAT_BYTES) bad(`a FAT of ${fatSize} sectors`);
  const rootDirSectors = Math.ceil((rootEntries * DIR_ENTRY_SIZE) / SECTOR);
  const firstData = reserved + numFats * fatSize + rootDirSectors;
  if (firstData >= totalSectors) bad('its regions are larger than the volume');
  const clusterCount = Math.floor((totalSectors - firstData) / spc);
  const fatType: 16 | 32 = clusterCount < 65525 ? 16 : 32;
  if (clusterCount < 4085) bad('it describes a FAT12 volume, which Hostbox never presents');
  if (fatType === 16 && rootEntries === 0) bad('a FAT16 volume without a root directory');
  if ((fatType === 16 ? 2 : 4) * (clusterCount + 2) > fatSize * SECTOR) bad('the FAT is too small for the clusters');
  const cb = spc * SECTOR;
  // Only the part of the FAT that has entries for clusters: BPB_FATSz may claim nearly the whole
  // volume, and reading that would cost the host as much memory and time as the disk is large.
  const fat = read(partStart + reserved, Math.ceil(((fatType === 16 ? 2 : 4) * (clusterCount + 2)) / SECTOR));
  const maxCluster = clusterCount + 1;
  const entry = fatType === 16 ? (c: number) => u16(fat, c * 2) : (c: number) => u32(fat, c * 4) & 0x0fffffff;
  const eocMin = fatType === 16 ? 0xfff8 : 0x0ffffff8;
  const badMark = fatType === 16 ? 0xfff7 : 0x0ffffff7;
  const owner = new Uint8Array(clusterCount + 2);
  const lbaOf = (c: number): number => partStart + firstData + (c - 2) * spc;

  /** Follows a chain, claiming its clusters; at most `limit` clusters (files: what their size needs). */
  const chain = (first: number, where: string, limit: number): number[] => {
    const out: number[] = [];
    let c = first;
    for (;;) {
      if (c < 2 || c > maxCluster) throw new FatCorruption(`${where}: cluster ${c} is outside the volume (2-${maxCluster})`);
      if (owner[c]) throw new FatCorruption(`${where}: cluster ${c} is used twice (a loop, or shared with another file)`);
      owner[c] = 1;
      out.push(c);
      if (out.length > limit) throw new FatCorruption(`${where}: its cluster chain is longer than its size allows`);
      const next = entry(c);
      if (next >= eocMin) return out;
      if (next === badMark) throw new FatCorruption(`${where}: its chain reaches a cluster marked bad`);
      if (next === 0) throw new FatCorruption(`${where}: its chain runs into a free cluster`);
      c = next;
    }
  };

  let entries = 0;
  const readDir = (bytes: Uint8Array, path: string, isRoot: boolean, depth: number): FatNode[] => {
    const out: FatNode[] = [];
    const names = new Set<string>();
    let lfn: { units: number[]; checksum: number; expect: number } | null = null;
    for (let off = 0; off + DIR_ENTRY_SIZE <= bytes.length; off += DIR_ENTRY_SIZE) {
      const first = bytes[off]!;
      if (first === 0x00) break;
      if (first === DIR_FREE) {
        lfn = null;
        continue;
      }
      const attr = bytes[off + 11]!;
      if ((attr & ATTR_LONG_NAME_MASK) === ATTR_LONG_NAME) {
        const ord = first & 0x3f;
        const units = longEntryUnits(bytes, off);
        if (first & LAST_LONG_ENTRY) {
          if (ord < 1 || ord > 20) throw new FatCorruption(`${path || '/'}: a long-name entry has ordinal ${ord}`);
          lfn = { units: [], checksum: bytes[off + 13]!, expect: ord };
        }
        // A set interrupted or out of order is an orphan: fatgen103 says to fall back on the short name.
        if (!lfn || ord !== lfn.expect || bytes[off + 13] !== lfn.checksum) lfn = null;
        else {
          lfn.units = units.concat(lfn.units);
          lfn.expect--;
        }
        continue;
      }
      const name11 = bytes.subarray(off, off + 11);
      const where = `${path}/${shortDisplayName(name11, 0)}`;
      if (attr & 0xc0) throw new FatCorruption(`${where}: reserved attribute bits are set (${attr.toString(16)}h)`);
      if (attr & ATTR_VOLUME_ID) {
        if ((attr & ATTR_DIRECTORY) !== 0) throw new FatCorruption(`${where}: an entry is both a directory and a volume label`);
        lfn = null;
        continue;
      }
      if (!isRoot && off < 2 * DIR_ENTRY_SIZE && (name11[0] === 0x2e)) {
        lfn = null;
        continue; // "." and ".."
      }
      if (!shortNameBytesValid(name11)) throw new FatCorruption(`${path || '/'}: an entry's short name holds bytes no FAT name may hold`);
      let name = shortDisplayName(name11, bytes[off + 12]!);
      if (lfn && lfn.expect === 0 && lfn.checksum === shortNameChecksum(name11)) {
        const end = lfn.units.indexOf(0);
        name = String.fromCharCode(...(end < 0 ? lfn.units : lfn.units.slice(0, end)));
        if (end < 0 && lfn.units.length % LFN_CHARS_PER_ENTRY !== 0) throw new FatCorruption(`${where}: a damaged long name`);
      }
      lfn = null;
      if (++entries > maxEntries) throw new FatCorruption(`the file system holds more than ${maxEntries} files and directories, more than Hostbox syncs`);
      const key = upcase(name);
      if (names.has(key)) throw new FatCorruption(`${path || '/'}: two entries are named "${name}"`);
      names.add(key);
      const v = new DataView(bytes.buffer, bytes.byteOffset + off, DIR_ENTRY_SIZE);
      const cluster = (fatType === 32 ? v.getUint16(20, true) << 16 : 0) | v.getUint16(26, true);
      const size = v.getUint32(28, true);
      const mtimeMs = fromFatTime(v.getUint16(24, true), v.getUint16(22, true));
      const childPath = `${path}/${name}`;
      if (attr & ATTR_DIRECTORY) {
        if (depth >= MAX_DEPTH) throw new FatCorruption(`${childPath}: directories nest deeper than ${MAX_DEPTH}`);
        const clusters = chain(cluster, childPath, MAX_DIR_BYTES / cb);
        const children = readDir(readChain(clusters), childPath, false, depth + 1);
        out.push({ kind: 'dir', name, cluster, mtimeMs, children });
      } else {
        const need = Math.ceil(size / cb);
        if (size === 0) {
          if (cluster !== 0) chain(cluster, childPath, Infinity); // claims them, so sharing is seen
          out.push({ kind: 'file', name, cluster: 0, chain: [], size, mtimeMs, attr });
          continue;
        }
        if (cluster === 0) throw new FatCorruption(`${childPath}: ${size} bytes but no clusters`);
        const clusters = chain(cluster, childPath, need);
        if (clusters.length < need) throw new FatCorruption(`${childPath}: ${size} bytes but only ${clusters.length} clusters`);
        out.push({ kind: 'file', name, cluster, chain: clusters, size, mtimeMs, attr });
      }
    }
    return out;
  };

  const readChain = (clusters: number[]): Uint8Array => {
    const out = new Uint8Array(clusters.length * cb);
    clusters.forEach((c, i) => out.set(read(lbaOf(c), spc), i * cb));
    return out;
  };

  const stateByte = bs[fatType === 32 ? 65 : 37]!;
  const cleanBit = fatType === 16 ? 0x8000 : 0x08000000;
  const inUse = stateByte & 0x01 ? 'its boot sector is marked dirty (mounted read-write)' : (entry(1) & cleanBit) === 0 ? 'its FAT is marked not cleanly unmounted' : null;
  let rootBytes: Uint8Array;
  let rootCluster = 0;
  if (fatType === 16) rootBytes = read(partStart + reserved + numFats * fatSize, rootDirSectors);
  else {
    rootCluster = u32(bs, 44);
    rootBytes = readChain(chain(rootCluster, 'the root directory', MAX_DIR_BYTES / cb));
  }
  const root: FatDir = { kind: 'dir', name: '', cluster: rootCluster, mtimeMs: 0, children: readDir(rootBytes, '', true, 0) };
  return { fatType, partitionStart: partStart, clusterBytes: cb, sectorsPerCluster: spc, root, inUse, clusterLba: lbaOf };
}

/** Bytes [offset, offset + length) of a file, read through its chain. */
export function readFileRange(vol: FatVolume, read: SectorReader, f: FatFile, offset: number, length: number): Uint8Array {
  const out = new Uint8Array(length);
  const cb = vol.clusterBytes;
  let done = 0;
  while (done < length) {
    const pos = offset + done;
    const idx = Math.floor(pos / cb);
    // Consecutive clusters are read in one request.
    let run = 1;
    while (idx + run < f.chain.length && f.chain[idx + run] === f.chain[idx]! + run && run * cb < length - done + cb) run++;
    const bytes = read(vol.clusterLba(f.chain[idx]!), run * vol.sectorsPerCluster);
    const from = pos - idx * cb;
    const n = Math.min(length - done, bytes.length - from);
    out.set(bytes.subarray(from, from + n), done);
    done += n;
  }
  return out;
}
