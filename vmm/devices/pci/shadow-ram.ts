// The i440FX's Programmable Attribute Map: for each part of 0xC0000-0xFFFFF, whether reads and
// writes reach DRAM ("shadow RAM") or go to the ISA/PCI bus, where the BIOS flash and option ROMs
// answer. A BIOS starts from ROM, turns on DRAM writes, copies itself down and then runs from RAM
// (SeaBIOS does this from its high flash alias, as its comments note for QEMU).
//
// Reference: Intel 440FX PCIset 82441FX PMC datasheet, PAM registers (59h-5Fh): PAM0 bits 5:4 for
// 0F0000-0FFFFF; PAM1-6 two 16 KiB segments each from 0C0000 up to 0EFFFF, low nibble first. In
// each nibble bit 0 is RE (read enable: DRAM answers reads) and bit 1 is WE (write enable: writes
// go to DRAM). With RE clear reads go to the bus; with WE clear writes go to the bus, which ROM
// ignores.

import type { AccessSize } from '../../bus.ts';
import { PAGE_MMIO, PAGE_RAM, PAGE_ROM, type MmioRange, type PhysicalMemory } from '../../memory.ts';

export const SHADOW_BASE = 0xc0000;
export const SHADOW_SIZE = 0x40000;
const FIRST_PAGE = SHADOW_BASE >>> 12;
const PAGES = SHADOW_SIZE >>> 12;

const RE = 1;
const WE = 2;

/** The RE/WE bits that apply to each 4 KiB page of 0xC0000-0xFFFFF under these PAM registers. */
export function pamAccess(pam: readonly number[]): Uint8Array {
  const out = new Uint8Array(PAGES);
  for (let p = 0; p < PAGES; p++) {
    const addr = SHADOW_BASE + p * 4096;
    if (addr >= 0xf0000) out[p] = (pam[0]! >> 4) & 3;
    else {
      const seg = (addr - SHADOW_BASE) >> 14; // 16 KiB segments from 0xC0000
      out[p] = (pam[1 + (seg >> 1)]! >> ((seg & 1) * 4)) & 3;
    }
  }
  return out;
}

export class ShadowRam {
  /** What the bus answers at 0xC0000-0xFFFFF: option ROMs and the BIOS, all ones where nothing is. */
  readonly rom = new Uint8Array(SHADOW_SIZE).fill(0xff);
  private access: Uint8Array = new Uint8Array(PAGES);
  readonly mmio: MmioRange;

  constructor(
    private readonly mem: PhysicalMemory,
    /** Called after the map changes, so the CPU drops TLB entries and code decoded from these pages. */
    private readonly onMapChange: (firstPage: number, pages: number) => void,
  ) {
    this.mmio = {
      name: 'shadow-rom',
      base: SHADOW_BASE,
      length: SHADOW_SIZE,
      read: (off, size) => this.read(off, size),
      write: (off, size, v) => this.write(off, size, v),
      // The ROM array changes only in loadRom, which drops the CPU's code for the window.
      romReads: true,
    };
    mem.mapMmio(this.mmio);
    this.apply([0, 0, 0, 0, 0, 0, 0]);
  }

  /** Puts a ROM image on the bus at `addr` (within 0xC0000-0xFFFFF). */
  loadRom(addr: number, data: Uint8Array): void {
    const off = addr - SHADOW_BASE;
    if (off < 0 || off + data.length > SHADOW_SIZE) throw new Error(`a ROM of ${data.length} bytes does not fit at 0x${addr.toString(16)}`);
    this.rom.set(data, off);
    this.onMapChange(FIRST_PAGE, PAGES);
  }

  /** Follows PAM0-6: pages reading DRAM are RAM (or ROM-kind when writes go to the bus), the rest decode here. */
  apply(pam: readonly number[]): void {
    this.access = pamAccess(pam);
    for (let p = 0; p < PAGES; p++) {
      const a = this.access[p]!;
      this.mem.setPageKind(FIRST_PAGE + p, a === (RE | WE) ? PAGE_RAM : a === RE ? PAGE_ROM : PAGE_MMIO);
    }
    this.onMapChange(FIRST_PAGE, PAGES);
  }

  // Only pages whose reads go to the bus come here (RE clear).
  private read(off: number, size: AccessSize): number {
    let v = 0;
    for (let i = size - 1; i >= 0; i--) v = (v << 8) | this.rom[(off + i) & (SHADOW_SIZE - 1)]!;
    return v >>> 0;
  }

  private write(off: number, size: AccessSize, value: number): void {
    for (let i = 0; i < size; i++) {
      const o = off + i;
      if (o >= SHADOW_SIZE || !(this.access[o >>> 12]! & WE)) continue;
      const phys = SHADOW_BASE + o;
      if (this.mem.codePage[phys >>> 12]) this.mem.onCodeWrite(phys >>> 12);
      this.mem.u8[phys] = (value >>> (8 * i)) & 0xff;
    }
  }
}
