// IDENTIFY DEVICE and IDENTIFY PACKET DEVICE data: 256 little-endian words describing a drive.
//
// Reference: ATA/ATAPI-6 (T13 1410D rev 3b), 8.15 IDENTIFY DEVICE (table 27) and 8.16 IDENTIFY
// PACKET DEVICE (table 30). Strings are ASCII, space-padded, with the two bytes of each word
// swapped. Word 255 is the integrity word: A5h in the low byte and a checksum in the high byte
// that makes all 512 bytes sum to zero.

export const MAX_MULTIPLE = 16;

export interface ChsGeometry {
  cylinders: number;
  heads: number;
  sectors: number;
}

/** The default translation a BIOS and a driver agree on: 16 heads, 63 sectors per track. */
export function defaultGeometry(totalSectors: number): ChsGeometry {
  return { cylinders: Math.max(1, Math.min(16383, Math.floor(totalSectors / (16 * 63)))), heads: 16, sectors: 63 };
}

function putString(w: Uint16Array, first: number, words: number, text: string): void {
  const s = text.padEnd(words * 2, ' ').slice(0, words * 2);
  for (let i = 0; i < words; i++) w[first + i] = (s.charCodeAt(2 * i) << 8) | s.charCodeAt(2 * i + 1);
}

function finish(w: Uint16Array): Uint8Array {
  const bytes = new Uint8Array(512);
  for (let i = 0; i < 255; i++) {
    bytes[2 * i] = w[i]! & 0xff;
    bytes[2 * i + 1] = w[i]! >> 8;
  }
  bytes[510] = 0xa5;
  let sum = 0;
  for (let i = 0; i < 511; i++) sum += bytes[i]!;
  bytes[511] = -sum & 0xff;
  return bytes;
}

export interface TransferModes {
  /** Set by SET FEATURES subcommand 03h: 08h-0Ch PIO, 20h-22h multiword DMA, 40h-45h Ultra DMA. */
  mode: number;
}

function dmaWords(w: Uint16Array, t: TransferModes): void {
  const mw = t.mode >= 0x20 && t.mode <= 0x22 ? 1 << (t.mode - 0x20) : 0;
  const udma = t.mode >= 0x40 && t.mode <= 0x45 ? 1 << (t.mode - 0x40) : 0;
  w[63] = 0x0007 | (mw << 8); // multiword DMA 0-2 supported, the selected one
  w[64] = 0x0003; // PIO 3 and 4
  w[65] = w[66] = w[67] = w[68] = 120; // cycle times in ns
  w[88] = 0x003f | (udma << 8); // Ultra DMA 0-5 supported, the selected one
}

export function identifyDisk(opts: { sectors: number; serial: string; model: string; firmware: string; multiple: number; geometry: ChsGeometry; transfer: TransferModes }): Uint8Array {
  const w = new Uint16Array(256);
  const def = defaultGeometry(opts.sectors);
  w[0] = 0x0040; // fixed device
  w[1] = def.cylinders;
  w[3] = def.heads;
  w[6] = def.sectors;
  putString(w, 10, 10, opts.serial);
  putString(w, 23, 4, opts.firmware);
  putString(w, 27, 20, opts.model);
  w[47] = 0x8000 | MAX_MULTIPLE;
  w[49] = 0x0300; // LBA and DMA supported
  w[51] = 0x0200; // PIO timing mode 2 (obsolete field, still read)
  w[53] = 0x0007; // words 54-58, 64-70 and 88 are valid
  const g = opts.geometry;
  const chs = Math.min(opts.sectors, g.cylinders * g.heads * g.sectors);
  w[54] = g.cylinders;
  w[55] = g.heads;
  w[56] = g.sectors;
  w[57] = chs & 0xffff;
  w[58] = chs >>> 16;
  w[59] = opts.multiple ? 0x0100 | opts.multiple : 0;
  const lba28 = Math.min(opts.sectors, 0x0fffffff);
  w[60] = lba28 & 0xffff;
  w[61] = lba28 >>> 16;
  dmaWords(w, opts.transfer);
  w[80] = 0x007e; // ATA-1 to ATA-6
  w[82] = 0x4000 | 0x0020 | 0x0008; // NOP, write cache, power management
  w[83] = 0x4000 | 0x2000 | 0x1000 | 0x0400; // FLUSH CACHE EXT, FLUSH CACHE, 48-bit addressing
  w[84] = 0x4000;
  w[85] = w[82];
  w[86] = w[83];
  w[87] = 0x4000;
  const lba48 = BigInt(opts.sectors);
  for (let i = 0; i < 4; i++) w[100 + i] = Number((lba48 >> BigInt(16 * i)) & 0xffffn);
  return finish(w);
}

export function identifyPacket(opts: { serial: string; model: string; firmware: string; transfer: TransferModes }): Uint8Array {
  const w = new Uint16Array(256);
  // ATAPI, CD-ROM device type (05h), removable, 50 us DRQ after PACKET, 12-byte packets.
  w[0] = 0x8000 | (0x05 << 8) | 0x0080 | (0b10 << 5);
  putString(w, 10, 10, opts.serial);
  putString(w, 23, 4, opts.firmware);
  putString(w, 27, 20, opts.model);
  w[49] = 0x0300; // LBA (always for ATAPI) and DMA supported
  w[53] = 0x0006; // words 64-70 and 88 are valid
  dmaWords(w, opts.transfer);
  w[80] = 0x007e;
  w[82] = 0x4000 | 0x0010 | 0x0004; // NOP, PACKET, removable media
  w[83] = 0x4000;
  w[84] = 0x4000;
  w[85] = w[82];
  w[86] = 0;
  w[87] = 0x4000;
  return finish(w);
}
