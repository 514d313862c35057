// Receive and transmit descriptors of the PCnet-PCI II in guest memory, in the three layouts the
// software style (BCR20 SWSTYLE) selects. Am79C970A datasheet, "Descriptor Rings" and the RMD/TMD
// tables:
//
//   style 0 (LANCE, 16-bit, 8 bytes): word 0 LADR (buffer address 15:0); word 1 bits 15:8 the
//     flags (OWN ERR ... STP ENP), bits 7:0 HADR (address 23:16); word 2 bits 11:0 BCNT (buffer
//     length, two's complement), 15:12 ONES; word 3 bits 11:0 MCNT (received byte count) or, for
//     a transmit descriptor, the error bits BUFF UFLO EXDEF LCOL LCAR RTRY in 15:10.
//   style 2 (PCnet-PCI, 32-bit, 16 bytes): dword 0 the buffer address; dword 1 bits 31:24 flags,
//     11:0 BCNT; dword 2 MCNT (receive) or the error bits in 31:26 (transmit); dword 3 free for
//     the driver. Style 1 (ILACC) places the fields the same way.
//   style 3: style 2 with dwords 0 and 2 swapped, so the flags and counts come before the address.
//
// Addresses in style 0 are 24 bits; the upper 8 come from CSR2 bits 15:8, the same byte that
// completes the initialization block's address. The device writes the count before the flags so a
// driver that sees OWN clear also sees the length.

import type { PhysicalMemory } from '../../memory.ts';

/** Flag bits as they sit in bits 31:24 of RMD1/TMD1 (bits 15:8 of style 0's word 1). */
export const OWN = 0x80;
export const ERR = 0x40;
/** Receive: framing error; transmit: ADD_FCS (append the FCS even when CSR15 DXMTFCS is set). */
export const FRAM_ADD_FCS = 0x20;
export const OFLO = 0x10;
export const BUFF_RX = 0x04;
export const STP = 0x02;
export const ENP = 0x01;

/** Transmit error bits in the style-2 TMD2 positions. */
export const TMD2_BUFF = 0x80000000;
export const TMD2_UFLO = 0x40000000;
export const TMD2_LCAR = 0x08000000;

export interface Descriptor {
  /** Buffer address in guest physical memory. */
  readonly buffer: number;
  /** Buffer length in bytes, 1-4096 (BCNT is the two's complement; 0 means 4096). */
  readonly length: number;
  /** OWN ERR ... STP ENP (bits 7:0 here). */
  readonly flags: number;
}

export class DescriptorFormat {
  /** style: BCR20 SWSTYLE (1 is laid out as 2; reserved values as 0, a 16-bit LANCE layout). */
  constructor(
    private readonly mem: PhysicalMemory,
    readonly style: number,
    /** CSR2 bits 15:8 << 24: the top address byte in style 0. */
    private readonly highByte: number,
  ) {}

  get size(): number {
    return this.style === 0 ? 8 : 16;
  }

  read(addr: number): Descriptor {
    const m = this.mem;
    if (this.style === 0) {
      const w1 = m.read16(addr + 2);
      return {
        buffer: (this.highByte | ((w1 & 0xff) << 16) | m.read16(addr)) >>> 0,
        length: bufferLength(m.read16(addr + 4)),
        flags: (w1 >> 8) & 0xff,
      };
    }
    const d1 = m.read32(addr + 4) >>> 0;
    return { buffer: m.read32(addr + (this.style === 3 ? 8 : 0)) >>> 0, length: bufferLength(d1), flags: d1 >>> 24 };
  }

  /** Hands a receive descriptor back: message count (ENP only, 0 otherwise), then the flags. */
  completeReceive(addr: number, flags: number, mcnt: number): void {
    const m = this.mem;
    if (this.style === 0) {
      m.write16(addr + 6, mcnt & 0xfff);
      m.write8(addr + 3, flags);
      return;
    }
    m.write32(addr + (this.style === 3 ? 0 : 8), mcnt & 0xfff);
    // Bits 23:16 (BPE and the 79C971's match bits) are reserved on this chip and written as 0.
    m.write16(addr + 6, (flags << 8) & 0xff00);
  }

  /** Hands a transmit descriptor back: its error bits (style-2 TMD2 positions), then the flags. */
  completeTransmit(addr: number, flags: number, errors: number): void {
    const m = this.mem;
    if (this.style === 0) {
      m.write16(addr + 6, (errors >>> 16) & 0xfc00);
      m.write8(addr + 3, flags);
      return;
    }
    m.write32(addr + (this.style === 3 ? 0 : 8), errors >>> 0);
    m.write8(addr + 7, flags);
  }
}

function bufferLength(bcnt: number): number {
  return (0x1000 - (bcnt & 0xfff)) & 0xfff || 0x1000;
}
