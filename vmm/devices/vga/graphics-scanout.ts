// The VGA's scan-out in its graphics modes: what the CRT controller, the sequencer's serializer, the
// attribute controller and the DAC make of the four planes, one scan line at a time.
//
// Reference: IBM VGA Technical Reference, "CRT Controller Registers" (Horizontal Display Enable End
// 01h, Overflow 07h, Maximum Scan Line 09h with its double-scan bit, Start Address 0Ch/0Dh, Vertical
// Display Enable End 12h, Offset 13h, Underline Location 14h with doubleword mode and count by 4,
// CRTC Mode Control 17h with word/byte mode, address wrap, count by 2 and the CGA/Hercules row-scan
// substitutions for memory address bits 13 and 14, Line Compare 18h); "Graphics Controller
// Registers" (Graphics Mode 05h: shift register interleave for the CGA 4-colour modes, 256-colour
// shift); "Attribute Controller Registers" (palette 00h-0Fh, Mode Control 10h with 8-bit colour
// and P5-P4 select, Color Plane Enable 12h, Color Select 14h) and the DAC (PEL mask, 6-bit
// components).
//
// Plane memory is laid out as the VGA model keeps it (vga.ts): in chain 4 the byte the CPU writes
// at A lives in plane A&3 at offset A>>2, so the doubleword-mode address counter reads its four
// pixels at offset `counter`, which is where a chained or an unchained ("mode X") program put them.

import type { GraphicsScreen } from '../../machine-api.ts';

const PLANE_SIZE = 0x10000;
/** Larger than any mode a VGA monitor syncs to; bounds the work a hostile guest can ask for. */
export const MAX_GRAPHICS_WIDTH = 1024;
export const MAX_GRAPHICS_HEIGHT = 768;

export interface VgaScanRegisters {
  readonly gfx: Uint8Array;
  readonly atc: Uint8Array;
  readonly crtc: Uint8Array;
  readonly pelMask: number;
  /** 256 entries of three 6-bit components, as the guest wrote them. */
  readonly palette: Uint8Array;
}

/** The picture the card sends to the monitor now, in DAC indices with the DAC's colours (8-bit). */
export function scanGraphics(r: VgaScanRegisters, vram: Uint8Array): GraphicsScreen {
  const { crtc: c, gfx, atc } = r;
  const mode256 = (gfx[5]! & 0x40) !== 0;
  const interleave = !mode256 && (gfx[5]! & 0x20) !== 0;
  const charClocks = c[0x01]! + 1;
  const width = Math.max(1, Math.min(MAX_GRAPHICS_WIDTH, mode256 ? charClocks * 4 : charClocks * 8));
  const scanLines = (c[0x12]! | ((c[0x07]! & 0x02) << 7) | ((c[0x07]! & 0x40) << 3)) + 1;
  const doubleScan = (c[0x09]! & 0x80) !== 0;
  const rowHeight = (c[0x09]! & 0x1f) + 1;
  // Scan lines that repeat by construction are sent once: double scanning, and the row scan counter
  // when it does not select a CGA bank.
  const cgaBanks = (c[0x17]! & 0x03) !== 0x03;
  const repeat = (doubleScan ? 2 : 1) * (cgaBanks ? 1 : rowHeight);
  const height = Math.max(1, Math.min(MAX_GRAPHICS_HEIGHT, Math.floor(scanLines / repeat)));
  const lineCompare = c[0x18]! | ((c[0x07]! & 0x10) << 4) | ((c[0x09]! & 0x40) << 3);
  const start = (c[0x0c]! << 8) | c[0x0d]!;
  const pitch = c[0x13]! * 2;
  const dword = (c[0x14]! & 0x40) !== 0;
  const byteMode = (c[0x17]! & 0x40) !== 0;
  const wrapBit = c[0x17]! & 0x20 ? 15 : 13;
  const countShift = c[0x14]! & 0x20 ? 2 : c[0x17]! & 0x08 ? 1 : 0;

  // Attribute controller: the 16-entry palette, planes enabled, P5-P4 and P7-P6.
  const planeEnable = atc[0x12]! & 0x0f;
  const p54 = (atc[0x10]! & 0x80) !== 0;
  const colorSelect = atc[0x14]!;
  const attr = new Uint8Array(16);
  for (let i = 0; i < 16; i++) {
    const p = atc[i]! & 0x3f;
    attr[i] = (p54 ? (p & 0x0f) | ((colorSelect & 0x03) << 4) : p) | ((colorSelect & 0x0c) << 4);
  }

  const pixels = new Uint8Array(width * height);
  const mask = r.pelMask;
  for (let y = 0; y < height; y++) {
    // Below Line Compare the screen is split: the lower part starts over at address 0.
    const split = y * repeat >= lineCompare;
    const line = split ? y * repeat - lineCompare : y * repeat;
    const scanned = doubleScan ? line >> 1 : line;
    const row = Math.floor(scanned / rowHeight);
    const rowScan = scanned % rowHeight;
    const base = (split ? 0 : start) + row * pitch;
    const out = y * width;
    for (let x = 0, clock = 0; x < width; clock++) {
      const counter = (base + (clock >> countShift)) & 0xffff;
      let addr: number;
      if (dword || byteMode) addr = counter;
      else addr = ((counter << 1) | ((counter >> wrapBit) & 1)) & 0xffff;
      if (!(c[0x17]! & 0x01)) addr = (addr & ~0x2000) | ((rowScan & 1) << 13);
      if (!(c[0x17]! & 0x02)) addr = (addr & ~0x4000) | ((rowScan & 2) << 13);
      const b0 = vram[addr]!;
      const b1 = vram[PLANE_SIZE + addr]!;
      const b2 = vram[2 * PLANE_SIZE + addr]!;
      const b3 = vram[3 * PLANE_SIZE + addr]!;
      if (mode256) {
        // Four 8-bit pixels per character clock, one from each plane, straight to the DAC.
        if (x < width) pixels[out + x++] = b0 & mask;
        if (x < width) pixels[out + x++] = b1 & mask;
        if (x < width) pixels[out + x++] = b2 & mask;
        if (x < width) pixels[out + x++] = b3 & mask;
        continue;
      }
      for (let bit = 7; bit >= 0 && x < width; bit--) {
        let v: number;
        if (interleave) {
          // CGA 320x200x4: two bits per pixel, four pixels from the even plane then four from the odd.
          const k = 7 - bit;
          const sh = 6 - 2 * (k & 3);
          const lo = k < 4 ? b0 : b1;
          const hi = k < 4 ? b2 : b3;
          v = ((lo >> sh) & 3) | (((hi >> sh) & 3) << 2);
        } else {
          v = ((b0 >> bit) & 1) | (((b1 >> bit) & 1) << 1) | (((b2 >> bit) & 1) << 2) | (((b3 >> bit) & 1) << 3);
        }
        pixels[out + x++] = attr[v & planeEnable]! & mask;
      }
    }
  }
  return { kind: 'graphics', format: 'indexed', width, height, pixels, palette: dacColours(r.palette, false) };
}

/** The DAC's 256 colours as 8-bit components: 6-bit ones (the VGA's) widened, or 8-bit ones as written. */
export function dacColours(palette: Uint8Array, eightBit: boolean): Uint8Array {
  const out = new Uint8Array(256 * 3);
  for (let i = 0; i < out.length; i++) {
    const v = palette[i]!;
    out[i] = eightBit ? v : ((v & 0x3f) << 2) | ((v & 0x3f) >> 4);
  }
  return out;
}

export function sameGraphics(a: GraphicsScreen, b: GraphicsScreen): boolean {
  if (a.format !== b.format || a.width !== b.width || a.height !== b.height) return false;
  for (let i = 0; i < a.palette.length; i++) if (a.palette[i] !== b.palette[i]) return false;
  for (let i = 0; i < a.pixels.length; i++) if (a.pixels[i] !== b.pixels[i]) return false;
  return true;
}
