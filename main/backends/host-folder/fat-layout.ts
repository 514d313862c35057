// The shape of a host-folder disk: an MBR with one partition, and inside it a FAT16 or FAT32 volume
// whose regions (reserved sectors, two FATs, the FAT16 root directory, the data clusters) are placed
// as Microsoft's FAT specification (fatgen103) defines them. The FAT type is decided by the cluster
// count alone, as fatgen103 says every driver must: fewer than 4085 is FAT12, fewer than 65525 is
// FAT16, else FAT32. Counts are kept at least 16 away from those edges, because some drivers
// (older Windows, some firmware) count slightly differently there.
//
// Which type: FAT16 whenever the folder and the free space fit in a FAT16 volume of at most 2 GiB
// with a 512-entry root directory, because DOS before 7.1, Windows 95 before OSR2 and many boot
// loaders read FAT16 only; FAT32 otherwise (large folders, or a root with more entries than 512).

export const SECTOR = 512;
/** Where the partition starts: track 1 of a 63-sector-per-track disk, the classic DOS layout. */
export const PARTITION_START = 63;
export const SECTORS_PER_TRACK = 63;
export const HEADS = 255;

const FAT16_MIN_CLUSTERS = 4085 + 16;
const FAT16_MAX_CLUSTERS = 65524 - 16;
const FAT32_MIN_CLUSTERS = 65525 + 16;
/** fatgen103: the top four bits of a FAT32 entry are reserved, and 0FFFFFF7h marks a bad cluster. */
const FAT32_MAX_CLUSTERS = 0x0ffffff5 - 2;
const FAT16_ROOT_ENTRIES = 512;
/** The MBR and the BPB hold sector counts in 32 bits. */
const MAX_DISK_SECTORS = 0xffffffff;

export interface FatGeometry {
  readonly fatType: 16 | 32;
  /** Sectors of the whole disk (MBR track plus volume). */
  readonly diskSectors: number;
  readonly partitionStart: number;
  /** Sectors of the volume (BPB_TotSec32). */
  readonly totalSectors: number;
  readonly sectorsPerCluster: number;
  readonly reservedSectors: number;
  readonly numFats: number;
  readonly fatSectors: number;
  /** BPB_RootEntCnt: 512 on FAT16, 0 on FAT32. */
  readonly rootEntries: number;
  readonly rootDirSectors: number;
  /** First sector of cluster 2, relative to the volume. */
  readonly firstDataSector: number;
  readonly clusterCount: number;
  readonly clusterBytes: number;
}

/** What the folder needs, as a function of the cluster size (small files waste more in large clusters). */
export interface SpaceNeed {
  /** Clusters taken by files and directories (on FAT32 including the root directory). */
  clustersFor(clusterBytes: number): number;
  /** 32-byte entries the root directory needs, with long-name entries and the volume label. */
  readonly rootEntries: number;
  /** Free space to leave for the guest, in bytes. */
  readonly freeBytes: number;
}

/** fatgen103's FAT32 cluster sizes by volume size (in sectors): up to 260 MiB 512 bytes, up to 8 GiB 4 KiB, ... */
function fat32SectorsPerCluster(totalSectors: number): number {
  if (totalSectors <= 532480) return 1;
  if (totalSectors <= 16777216) return 8;
  if (totalSectors <= 33554432) return 16;
  if (totalSectors <= 67108864) return 32;
  return 64;
}

function layout(fatType: 16 | 32, totalSectors: number, spc: number): FatGeometry {
  const reservedSectors = fatType === 32 ? 32 : 1;
  const numFats = 2;
  const rootEntries = fatType === 16 ? FAT16_ROOT_ENTRIES : 0;
  const rootDirSectors = Math.ceil((rootEntries * 32) / SECTOR);
  // Size the FAT for every cluster the volume could hold without FATs: a few sectors more than
  // needed, which fatgen103 allows (its own formula over-estimates the same way).
  const upper = Math.floor((totalSectors - reservedSectors - rootDirSectors) / spc);
  const fatSectors = Math.ceil(((upper + 2) * (fatType === 32 ? 4 : 2)) / SECTOR);
  const firstDataSector = reservedSectors + numFats * fatSectors + rootDirSectors;
  const clusterCount = Math.floor((totalSectors - firstDataSector) / spc);
  return {
    fatType,
    diskSectors: PARTITION_START + totalSectors,
    partitionStart: PARTITION_START,
    totalSectors,
    sectorsPerCluster: spc,
    reservedSectors,
    numFats,
    fatSectors,
    rootEntries,
    rootDirSectors,
    firstDataSector,
    clusterCount,
    clusterBytes: spc * SECTOR,
  };
}

/** The smallest layout of this type and cluster size with at least `wanted` clusters. */
function fit(fatType: 16 | 32, spc: number, wanted: number): FatGeometry {
  const fixed = fatType === 32 ? 32 : 1 + 32;
  let total = fixed + 2 * Math.ceil(((wanted + 2) * (fatType === 32 ? 4 : 2)) / SECTOR) + wanted * spc;
  for (;;) {
    const g = layout(fatType, total, spc);
    if (g.clusterCount >= wanted) return g;
    total += (wanted - g.clusterCount) * spc;
  }
}

/** The FAT16 layout for the folder, or null when it does not fit one. */
function tryFat16(need: SpaceNeed): FatGeometry | null {
  if (need.rootEntries > FAT16_ROOT_ENTRIES) return null;
  for (const spc of [2, 4, 8, 16, 32, 64]) {
    const clusters = need.clustersFor(spc * SECTOR) + Math.ceil(need.freeBytes / (spc * SECTOR));
    const wanted = Math.max(clusters, FAT16_MIN_CLUSTERS);
    if (wanted > FAT16_MAX_CLUSTERS) continue;
    const g = fit(16, spc, wanted);
    if (g.clusterCount <= FAT16_MAX_CLUSTERS && g.totalSectors <= 4194304) return g;
  }
  return null;
}

function tryFat32(need: SpaceNeed): FatGeometry {
  let spc = 1;
  for (;;) {
    const clusters = need.clustersFor(spc * SECTOR) + Math.ceil(need.freeBytes / (spc * SECTOR));
    const wanted = Math.max(clusters, FAT32_MIN_CLUSTERS);
    const fat = Math.ceil(((wanted + 2) * 4) / SECTOR);
    const total = 32 + 2 * fat + wanted * spc;
    const better = fat32SectorsPerCluster(total);
    if (better > spc) {
      spc = better;
      continue;
    }
    if (wanted > FAT32_MAX_CLUSTERS || PARTITION_START + total > MAX_DISK_SECTORS)
      throw new Error(`the folder needs ${formatBytes(clusters * spc * SECTOR)} of FAT space, more than a FAT32 disk can hold (2 TiB)`);
    return fit(32, spc, wanted);
  }
}

/** Chooses FAT16 or FAT32 and the cluster size for what the folder needs (see the header). */
export function chooseGeometry(need: SpaceNeed): FatGeometry {
  return tryFat16(need) ?? tryFat32(need);
}

/** First disk sector (LBA) of a cluster. */
export function clusterLba(g: FatGeometry, cluster: number): number {
  return g.partitionStart + g.firstDataSector + (cluster - 2) * g.sectorsPerCluster;
}

export function formatBytes(n: number): string {
  if (n >= 2 ** 30) return `${(n / 2 ** 30).toFixed(1)} GiB`;
  if (n >= 2 ** 20) return `${(n / 2 ** 20).toFixed(1)} MiB`;
  return `${Math.ceil(n / 1024)} KiB`;
}
