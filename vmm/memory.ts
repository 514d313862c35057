// Guest physical memory: one WebAssembly.Memory for RAM (so a WebAssembly translator can share it),
// and a map saying for each 4 KiB page whether it is RAM, ROM, MMIO or nothing. Reads of nothing
// return all ones and writes to it vanish, as on a PC bus with no device answering.

import type { AccessSize } from './bus.ts';

export const PAGE_RAM = 0;
export const PAGE_ROM = 1;
export const PAGE_MMIO = 2;
export const PAGE_NONE = 3;

export interface MmioRange {
  readonly name: string;
  readonly base: number;
  readonly length: number;
  read(offset: number, size: AccessSize): number;
  write(offset: number, size: AccessSize, value: number): void;
  /**
   * A ROM on the bus: reads have no side effects and return the same bytes until the device itself
   * drops the CPU's code for these pages (CPU.invalidateCodePage), so code run from it can be
   * decoded once instead of at every fetch.
   */
  readonly romReads?: boolean;
}

const PAGES = 1 << 20;
/** The CPU state area after RAM (one 4 KiB page, so what follows stays page-aligned). */
const CPU_STATE_BYTES = 4096;
/** Byte offset of the segment bases in the CPU state area (after the WebAssembly translator's fields). */
export const CPU_SEGMENT_BASES = 128;
/** Byte offset of plainSpan's value in the CPU state area (after the six segment bases). */
export const CPU_PLAIN_SPAN = 152;
/** Where the RAM that translations address without a TLB entry begins (mode.ts bit 18): above the PC's holes. */
export const PLAIN_BASE = 0x100000;

export class PhysicalMemory {
  readonly size: number;
  readonly wasm: WebAssembly.Memory;
  u8!: Uint8Array;
  u16!: Uint16Array;
  i32!: Int32Array;
  /** Page kind per 4 KiB physical page (PAGE_*). */
  readonly kind = new Uint8Array(PAGES);
  /**
   * MMIO handler index per page, for PAGE_MMIO pages. One byte: a PC has a handful of MMIO ranges
   * (VGA, its framebuffer, the BIOS flash, the shadow area), each mapped once and mapped again in
   * place, and the table is 1 MiB of the memory beyond guest RAM per byte of it.
   */
  private readonly mmioIndex = new Int8Array(PAGES).fill(-1);
  private readonly mmio: MmioRange[] = [];
  /**
   * Pages whose bytes the CPU has decoded instructions from. A write to such a page calls
   * onCodeWrite so decoded or translated code from it is dropped (the paper's traced pages).
   */
  readonly codePage: Uint8Array;
  /**
   * Byte offsets in `wasm` of what follows RAM there: the CPU state a WebAssembly translation reads
   * and writes (vmm/cpu/bt/wasm), codePage, and the CPU's TLB (claimCpuArea). In one memory with RAM, a
   * translation reaches them all at fixed offsets.
   */
  readonly cpuStateOffset: number;
  readonly codePageOffset: number;
  readonly tlbOffset: number;
  private cpuAreaClaimed = false;
  /**
   * plainSpan[0]: how far past PLAIN_BASE a dword may begin and lie wholly in RAM, RAM running unbroken
   * from PLAIN_BASE (no ROM, MMIO or hole); 0 when there is none. While paging is off and A20 on, a
   * translation tests `(address - PLAIN_BASE) >>> 0 < plainSpan[0]` instead of reading a TLB entry,
   * so the access no longer waits on a load before it. In the CPU state area of `wasm`, kept
   * up to date by every change of a page's kind, read where the access is made. Unsigned: with more
   * than 2 GiB of RAM it passes 2^31.
   */
  readonly plainSpan: Uint32Array;
  onCodeWrite: (page: number) => void = () => {};
  /** Device (MMIO) accesses so far: the check engine cannot re-execute code that touched a device. */
  mmioAccesses = 0;

  constructor(sizeBytes: number) {
    if (!Number.isInteger(sizeBytes) || sizeBytes < 1 << 20 || sizeBytes > 3 * 1024 * 1024 * 1024 || sizeBytes % 4096)
      throw new Error(`memory size ${sizeBytes} bytes is not possible: use 1 MiB to 3 GiB in whole pages`);
    this.size = sizeBytes;
    this.cpuStateOffset = sizeBytes;
    this.codePageOffset = sizeBytes + CPU_STATE_BYTES;
    this.tlbOffset = this.codePageOffset + PAGES;
    const pages64k = Math.ceil((this.tlbOffset + PAGES * 4) / 65536);
    this.wasm = new WebAssembly.Memory({ initial: pages64k, maximum: pages64k });
    this.codePage = new Uint8Array(this.wasm.buffer, this.codePageOffset, PAGES);
    this.refreshViews();
    this.kind.fill(PAGE_NONE);
    this.kind.fill(PAGE_RAM, 0, sizeBytes >>> 12);
    this.plainSpan = new Uint32Array(this.wasm.buffer, this.cpuStateOffset + CPU_PLAIN_SPAN, 1);
    this.measurePlainSpan();
  }

  /** Pages below physical address `end` changed kind: plainSpan is measured again if any lie at or above PLAIN_BASE. */
  private kindsChanged(end: number): void {
    if (end > PLAIN_BASE) this.measurePlainSpan();
  }

  private measurePlainSpan(): void {
    let page = PLAIN_BASE >>> 12;
    while (page < PAGES && this.kind[page] === PAGE_RAM) page++;
    this.plainSpan[0] = Math.max(0, page * 4096 - PLAIN_BASE - 3);
  }

  /**
   * The CPU's TLB (2^20 entries), its eight registers (at the start of the state area) and its six
   * segment bases (at CPU_SEGMENT_BASES in it), in this memory so that WebAssembly translations read
   * them in place: for the first CPU that asks; null after (that CPU keeps its own, and runs no
   * WebAssembly).
   */
  claimCpuArea(): { readonly tlb: Int32Array; readonly regs: Int32Array; readonly segBase: Int32Array } | null {
    if (this.cpuAreaClaimed) return null;
    this.cpuAreaClaimed = true;
    const b = this.wasm.buffer;
    return { tlb: new Int32Array(b, this.tlbOffset, PAGES), regs: new Int32Array(b, this.cpuStateOffset, 8), segBase: new Int32Array(b, this.cpuStateOffset + CPU_SEGMENT_BASES, 6) };
  }

  private refreshViews(): void {
    this.u8 = new Uint8Array(this.wasm.buffer, 0, this.size);
    this.u16 = new Uint16Array(this.wasm.buffer, 0, this.size >>> 1);
    this.i32 = new Int32Array(this.wasm.buffer, 0, this.size >>> 2);
  }

  /** Marks [base, base+length) as read-only; `data` (if given) is copied in first. */
  mapRom(base: number, data: Uint8Array): void {
    if (base % 4096 || base + data.length > this.size) throw new Error(`ROM at ${base.toString(16)} does not fit in RAM`);
    this.u8.set(data, base);
    this.kind.fill(PAGE_ROM, base >>> 12, (base + data.length + 4095) >>> 12);
    this.kindsChanged(base + data.length);
  }

  mapMmio(range: MmioRange): void {
    if (range.base % 4096 || range.length % 4096) throw new Error(`MMIO range ${range.name} is not page-aligned`);
    const first = range.base >>> 12;
    const last = (range.base + range.length - 1) >>> 12;
    for (let p = first; p <= last; p++)
      if (this.mmioIndex[p]! >= 0) throw new Error(`MMIO range ${range.name} overlaps ${this.mmio[this.mmioIndex[p]!]!.name}`);
    // A range mapped again (after unmapMmio) keeps its index: unmapMmio finds it by that index.
    let idx = this.mmio.indexOf(range);
    if (idx < 0) {
      if (this.mmio.length >= 127) throw new Error(`MMIO range ${range.name}: more than 127 ranges`);
      idx = this.mmio.length;
      this.mmio.push(range);
    }
    for (let p = first; p <= last; p++) {
      this.mmioIndex[p] = idx;
      this.kind[p] = PAGE_MMIO;
    }
    this.kindsChanged(range.base + range.length);
  }

  /** Sets one page's kind (PAGE_RAM, PAGE_ROM, PAGE_MMIO): the chipset's shadow RAM below 1 MiB. */
  setPageKind(page: number, kind: number): void {
    this.kind[page] = kind;
    this.kindsChanged((page + 1) * 4096);
  }

  /** Restores what a page was before an MMIO mapping (used by PCI BAR moves and VGA windows). */
  unmapMmio(range: MmioRange): void {
    const idx = this.mmio.indexOf(range);
    if (idx < 0) return;
    const first = range.base >>> 12;
    const last = (range.base + range.length - 1) >>> 12;
    for (let p = first; p <= last; p++) {
      if (this.mmioIndex[p] !== idx) continue;
      this.mmioIndex[p] = -1;
      this.kind[p] = p < this.size >>> 12 ? PAGE_RAM : PAGE_NONE;
    }
    this.kindsChanged(range.base + range.length);
  }

  /**
   * Whether instructions decoded from this page stay valid until a write the CPU sees (RAM) or an
   * invalidation from the page's owner: RAM, ROM, and bus ROMs; not devices, whose reads may change.
   */
  codeCacheable(page: number): boolean {
    const k = this.kind[page]!;
    if (k <= PAGE_ROM) return true;
    return k === PAGE_MMIO && this.mmio[this.mmioIndex[page]!]!.romReads === true;
  }

  // Slow-path accessors: any physical address, any kind of page. The CPU's fast path goes
  // straight to u8/i32 for RAM pages and comes here for everything else.

  read8(addr: number): number {
    addr >>>= 0;
    const p = addr >>> 12;
    const k = this.kind[p]!;
    if (k <= PAGE_ROM) return this.u8[addr]!;
    if (k === PAGE_MMIO) {
      this.mmioAccesses++;
      const r = this.mmio[this.mmioIndex[p]!]!;
      return r.read(addr - r.base, 1) & 0xff;
    }
    return 0xff;
  }

  read16(addr: number): number {
    addr >>>= 0;
    if ((addr & 0xfff) <= 0xffe) {
      const k = this.kind[addr >>> 12]!;
      if (k <= PAGE_ROM) return this.u8[addr]! | (this.u8[addr + 1]! << 8);
      if (k === PAGE_MMIO) {
        this.mmioAccesses++;
        const r = this.mmio[this.mmioIndex[addr >>> 12]!]!;
        return r.read(addr - r.base, 2) & 0xffff;
      }
      return 0xffff;
    }
    return this.read8(addr) | (this.read8(addr + 1) << 8);
  }

  read32(addr: number): number {
    addr >>>= 0;
    if ((addr & 0xfff) <= 0xffc) {
      const k = this.kind[addr >>> 12]!;
      if (k <= PAGE_ROM) {
        if ((addr & 3) === 0) return this.i32[addr >>> 2]!;
        const u = this.u8;
        return u[addr]! | (u[addr + 1]! << 8) | (u[addr + 2]! << 16) | (u[addr + 3]! << 24);
      }
      if (k === PAGE_MMIO) {
        this.mmioAccesses++;
        const r = this.mmio[this.mmioIndex[addr >>> 12]!]!;
        return r.read(addr - r.base, 4) | 0;
      }
      return -1;
    }
    return this.read16(addr) | (this.read16(addr + 2) << 16);
  }

  write8(addr: number, value: number): void {
    addr >>>= 0;
    const p = addr >>> 12;
    const k = this.kind[p]!;
    if (k === PAGE_RAM) {
      if (this.codePage[p]) this.onCodeWrite(p);
      this.u8[addr] = value;
    } else if (k === PAGE_MMIO) {
      this.mmioAccesses++;
      const r = this.mmio[this.mmioIndex[p]!]!;
      r.write(addr - r.base, 1, value & 0xff);
    }
  }

  write16(addr: number, value: number): void {
    addr >>>= 0;
    if ((addr & 0xfff) <= 0xffe && this.kind[addr >>> 12] === PAGE_MMIO) {
      this.mmioAccesses++;
      const r = this.mmio[this.mmioIndex[addr >>> 12]!]!;
      r.write(addr - r.base, 2, value & 0xffff);
      return;
    }
    this.write8(addr, value);
    this.write8(addr + 1, value >>> 8);
  }

  write32(addr: number, value: number): void {
    addr >>>= 0;
    if ((addr & 0xfff) <= 0xffc) {
      const p = addr >>> 12;
      const k = this.kind[p]!;
      if (k === PAGE_RAM && (addr & 3) === 0) {
        if (this.codePage[p]) this.onCodeWrite(p);
        this.i32[addr >>> 2] = value;
        return;
      }
      if (k === PAGE_MMIO) {
        this.mmioAccesses++;
        const r = this.mmio[this.mmioIndex[p]!]!;
        r.write(addr - r.base, 4, value >>> 0);
        return;
      }
    }
    this.write16(addr, value);
    this.write16(addr + 2, value >>> 16);
  }

  /** Copies guest RAM out for DMA; addresses outside RAM read as 0xFF, never host memory. */
  readBytes(addr: number, length: number): Uint8Array {
    const out = new Uint8Array(length);
    let i = 0;
    while (i < length) {
      const a = (addr + i) >>> 0;
      const n = Math.min(length - i, 4096 - (a & 0xfff));
      // Whole runs within a RAM or ROM page are copied at once; anything else goes byte by byte.
      if (this.kind[a >>> 12]! <= PAGE_ROM && a + n <= this.size) out.set(this.u8.subarray(a, a + n), i);
      else for (let k = 0; k < n; k++) out[i + k] = this.read8(a + k);
      i += n;
    }
    return out;
  }

  /** DMA into guest memory: only RAM pages take the bytes; anything else is dropped. */
  writeBytes(addr: number, data: Uint8Array): void {
    let i = 0;
    while (i < data.length) {
      const a = (addr + i) >>> 0;
      const n = Math.min(data.length - i, 4096 - (a & 0xfff));
      const p = a >>> 12;
      if (this.kind[p] === PAGE_RAM && a + n <= this.size) {
        if (this.codePage[p]) this.onCodeWrite(p);
        this.u8.set(data.subarray(i, i + n), a);
      } else for (let k = 0; k < n; k++) this.write8(a + k, data[i + k]!);
      i += n;
    }
  }

}
