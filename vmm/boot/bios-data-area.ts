// The BIOS data area (0x400-0x4FF) and extended BIOS data area a PC BIOS leaves behind, written for
// a kernel booted without one. QEMU's -kernel runs SeaBIOS first, so kernels started that way find
// these filled in, and some read them: Xen's Multiboot entry places its trampoline below the base
// memory size at 0x413, and wrapped around to 4 GiB when it read zero.
//
// Reference: IBM PC AT Technical Reference, "BIOS data area"; Ralf Brown's memory map (MEMORY.LST)
// for 40:00-40:85.

import type { PhysicalMemory } from '../memory.ts';
import { LOW_RAM_END } from './linux.ts';

/** Where the EBDA starts: the end of the low RAM the e820 map reports, 4 KiB below 640 KiB. */
const EBDA_ADDR = LOW_RAM_END;
const EBDA_KIB = (0xa0000 - EBDA_ADDR) / 1024;

export function writeBiosDataArea(mem: PhysicalMemory, comPorts: readonly number[]): void {
  const dv = new DataView(mem.u8.buffer, mem.u8.byteOffset + 0x400, 0x100);
  comPorts.slice(0, 4).forEach((port, i) => dv.setUint16(0x00 + 2 * i, port, true));
  dv.setUint16(0x0e, EBDA_ADDR >>> 4, true); // EBDA segment
  // Equipment word: x87 present (bit 1), 80x25 colour at power-on (bits 5:4 = 10b), serial ports (bits 11:9).
  dv.setUint16(0x10, 0x0002 | (2 << 4) | (Math.min(comPorts.length, 7) << 9), true);
  dv.setUint16(0x13, EBDA_ADDR / 1024, true); // base memory in KiB
  dv.setUint8(0x49, 3); // video mode
  dv.setUint16(0x4a, 80, true); // columns
  dv.setUint16(0x4c, 80 * 25 * 2, true); // bytes per page
  dv.setUint16(0x63, 0x3d4, true); // CRTC index port (colour)
  dv.setUint8(0x84, 24); // rows - 1
  dv.setUint16(0x85, 16, true); // character height
  mem.u8[EBDA_ADDR] = EBDA_KIB; // the EBDA's first byte: its size in KiB
}
