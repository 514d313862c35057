// The Bochs VBE display interface ("DISPI"), as Bochs and QEMU's VGA cards add it beside the IBM
// registers: an index port at 0x1CE and a 16-bit data port at 0x1CF (0x1D0 too), a linear framebuffer, and a
// 64 KiB bank of it at 0xA0000. SeaVGABIOS (Debian's vgabios-isavga.bin included) finds it by its ID
// register and offers VESA BIOS Extensions modes on it, with the framebuffer at the fixed ISA
// address 0xE0000000.
//
// Reference: Bochs iodev/display/vga.h and the DISPI register list QEMU documents in
// include/hw/display/bochs-vbe.h (ID B0C0h-B0C5h, XRES, YRES, BPP, ENABLE with GETCAPS, 8BIT_DAC,
// LFB_ENABLED and NOCLEARMEM, BANK, VIRT_WIDTH, VIRT_HEIGHT, X_OFFSET, Y_OFFSET, VIDEO_MEMORY_64K).
// The register semantics below follow that list; where Bochs and QEMU differ in detail (QEMU shares
// one VRAM between the planes and the framebuffer), this card keeps the framebuffer apart.

import type { AccessSize, IoRange } from '../../bus.ts';
import type { StateRecord } from '../../device.ts';
import { StateError, defineState, loadBySchema, saveBySchema, type StateSchema } from '../../state/schema.ts';
import type { GraphicsScreen } from '../../machine-api.ts';
import type { MmioRange } from '../../memory.ts';
import { dacColours } from './graphics-scanout.ts';

export const DISPI_INDEX_PORT = 0x1ce;
export const DISPI_DATA_PORT = 0x1cf;
export const DISPI_LFB_ADDRESS = 0xe0000000;
/** 8 MiB: every SeaVGABIOS mode up to 1600x1200 in 32 bits. */
export const DISPI_VRAM_SIZE = 8 << 20;
export const DISPI_MAX_XRES = 1600;
export const DISPI_MAX_YRES = 1200;

export const DISPI_INDEX_ID = 0;
export const DISPI_INDEX_XRES = 1;
export const DISPI_INDEX_YRES = 2;
export const DISPI_INDEX_BPP = 3;
export const DISPI_INDEX_ENABLE = 4;
export const DISPI_INDEX_BANK = 5;
export const DISPI_INDEX_VIRT_WIDTH = 6;
export const DISPI_INDEX_VIRT_HEIGHT = 7;
export const DISPI_INDEX_X_OFFSET = 8;
export const DISPI_INDEX_Y_OFFSET = 9;
export const DISPI_INDEX_VIDEO_MEMORY_64K = 10;
const DISPI_INDEX_COUNT = 11;

export const DISPI_ID0 = 0xb0c0;
export const DISPI_ID5 = 0xb0c5;
export const DISPI_ENABLED = 0x01;
export const DISPI_GETCAPS = 0x02;
export const DISPI_8BIT_DAC = 0x20;
export const DISPI_LFB_ENABLED = 0x40;
export const DISPI_NOCLEARMEM = 0x80;

const VALID_BPP = new Set([8, 15, 16, 24, 32]);

export class BochsDispi {
  readonly ioRanges: IoRange[];
  readonly lfbRange: MmioRange;
  private index = 0;
  private readonly regs = new Uint16Array(DISPI_INDEX_COUNT);
  /** Bytes from one line of the framebuffer to the next. */
  private lineOffset = 0;
  /** Allocated when the guest first uses it, so a text-only guest pays nothing for it. */
  private vram: Uint8Array | null = null;

  /**
   * `changed`: the picture may differ. `enabled`: a VBE mode was switched on, and the VGA in front of
   * the framebuffer must decode the 64 KiB window at A0000h for its banks, as Bochs's card sets it.
   */
  constructor(
    private readonly changed: () => void,
    private readonly switchedOn: () => void = () => {},
  ) {
    this.ioRanges = [
      {
        name: 'vbe dispi',
        base: DISPI_INDEX_PORT,
        // 0x1D0 is the data port's alias (for machines without unaligned I/O); a 16-bit access there
        // covers 0x1D1 too.
        length: 4,
        sizes: [1, 2],
        read: (off, size) => this.portRead(off, size),
        write: (off, size, v) => this.portWrite(off, size, v),
        peek: (off, size) => this.portRead(off, size),
      },
    ];
    this.lfbRange = {
      name: 'vbe framebuffer',
      base: DISPI_LFB_ADDRESS,
      length: DISPI_VRAM_SIZE,
      read: (off, size) => {
        if (!this.vram) return 0;
        let v = 0;
        for (let i = 0; i < size; i++) v |= this.vram[off + i]! << (8 * i);
        return v >>> 0;
      },
      write: (off, size, value) => {
        const m = this.memory();
        for (let i = 0; i < size; i++) m[off + i] = (value >>> (8 * i)) & 0xff;
        if (this.enabled) this.changed();
      },
    };
    this.reset();
  }

  get enabled(): boolean {
    return (this.regs[DISPI_INDEX_ENABLE]! & DISPI_ENABLED) !== 0;
  }

  /** The DAC takes 8-bit components while a VBE mode asked for them (VBE function 08h). */
  get dac8(): boolean {
    return this.enabled && (this.regs[DISPI_INDEX_ENABLE]! & DISPI_8BIT_DAC) !== 0;
  }

  reset(): void {
    this.index = 0;
    this.regs.fill(0);
    this.regs[DISPI_INDEX_ID] = DISPI_ID5;
    this.regs[DISPI_INDEX_BPP] = 8;
    this.lineOffset = 0;
    this.vram?.fill(0);
  }

  private memory(): Uint8Array {
    return (this.vram ??= new Uint8Array(DISPI_VRAM_SIZE));
  }

  private get bytesPerPixel(): number {
    return (this.regs[DISPI_INDEX_BPP]! + 7) >> 3;
  }

  private portRead(off: number, size: AccessSize): number {
    if (off === 0) return size === 1 ? this.index & 0xff : this.index;
    if (off === 3) return 0xff;
    let v: number;
    const caps = (this.regs[DISPI_INDEX_ENABLE]! & DISPI_GETCAPS) !== 0;
    switch (this.index) {
      case DISPI_INDEX_XRES:
        v = caps ? DISPI_MAX_XRES : this.regs[DISPI_INDEX_XRES]!;
        break;
      case DISPI_INDEX_YRES:
        v = caps ? DISPI_MAX_YRES : this.regs[DISPI_INDEX_YRES]!;
        break;
      case DISPI_INDEX_BPP:
        v = caps ? 32 : this.regs[DISPI_INDEX_BPP]!;
        break;
      case DISPI_INDEX_VIDEO_MEMORY_64K:
        v = DISPI_VRAM_SIZE >> 16;
        break;
      default:
        v = this.index < DISPI_INDEX_COUNT ? this.regs[this.index]! : 0;
    }
    return size === 1 ? v & 0xff : v;
  }

  private portWrite(off: number, size: AccessSize, value: number): void {
    const v = size === 1 ? value & 0xff : value & 0xffff;
    if (off === 0) {
      this.index = v;
      return;
    }
    if (off === 3) return;
    const r = this.regs;
    switch (this.index) {
      case DISPI_INDEX_ID:
        if (v >= DISPI_ID0 && v <= DISPI_ID5) r[DISPI_INDEX_ID] = v;
        return;
      case DISPI_INDEX_XRES:
      case DISPI_INDEX_YRES:
      case DISPI_INDEX_BPP: {
        // The geometry is fixed while a mode is on, as on Bochs.
        if (this.enabled) return;
        if (this.index === DISPI_INDEX_XRES && (v === 0 || v > DISPI_MAX_XRES || v & 7)) return;
        if (this.index === DISPI_INDEX_YRES && (v === 0 || v > DISPI_MAX_YRES)) return;
        const bpp = this.index === DISPI_INDEX_BPP ? v || 8 : 0;
        if (this.index === DISPI_INDEX_BPP && !VALID_BPP.has(bpp)) return;
        r[this.index] = this.index === DISPI_INDEX_BPP ? bpp : v;
        return;
      }
      case DISPI_INDEX_ENABLE: {
        const was = this.enabled;
        r[DISPI_INDEX_ENABLE] = v & (DISPI_ENABLED | DISPI_GETCAPS | DISPI_8BIT_DAC | DISPI_LFB_ENABLED | DISPI_NOCLEARMEM);
        if (this.enabled && !was) {
          const width = r[DISPI_INDEX_XRES]! || 640;
          const height = r[DISPI_INDEX_YRES]! || 480;
          r[DISPI_INDEX_XRES] = width;
          r[DISPI_INDEX_YRES] = height;
          this.lineOffset = width * this.bytesPerPixel;
          if (this.lineOffset * height > DISPI_VRAM_SIZE) {
            // Larger than the framebuffer: the card refuses the mode.
            r[DISPI_INDEX_ENABLE] &= ~DISPI_ENABLED;
            return;
          }
          r[DISPI_INDEX_VIRT_WIDTH] = width;
          r[DISPI_INDEX_VIRT_HEIGHT] = Math.min(0xffff, Math.floor(DISPI_VRAM_SIZE / this.lineOffset));
          r[DISPI_INDEX_X_OFFSET] = r[DISPI_INDEX_Y_OFFSET] = r[DISPI_INDEX_BANK] = 0;
          if (!(v & DISPI_NOCLEARMEM)) this.memory().fill(0, 0, this.lineOffset * height);
          this.switchedOn();
        } else if (!this.enabled) {
          r[DISPI_INDEX_BANK] = 0;
        }
        this.changed();
        return;
      }
      case DISPI_INDEX_BANK:
        if (v < DISPI_VRAM_SIZE >> 16) r[DISPI_INDEX_BANK] = v;
        return;
      case DISPI_INDEX_VIRT_WIDTH: {
        if (!this.enabled || v < r[DISPI_INDEX_XRES]!) return;
        const lineOffset = v * this.bytesPerPixel;
        if (lineOffset * r[DISPI_INDEX_YRES]! > DISPI_VRAM_SIZE) return;
        this.lineOffset = lineOffset;
        r[DISPI_INDEX_VIRT_WIDTH] = v;
        r[DISPI_INDEX_VIRT_HEIGHT] = Math.min(0xffff, Math.floor(DISPI_VRAM_SIZE / lineOffset));
        this.changed();
        return;
      }
      case DISPI_INDEX_X_OFFSET:
      case DISPI_INDEX_Y_OFFSET:
        r[this.index] = v;
        this.changed();
        return;
      default:
        return;
    }
  }

  /** A byte of the 64 KiB bank the legacy window shows while a VBE mode is on. */
  bankRead(off: number): number {
    if (off >= 0x10000 || !this.vram) return off >= 0x10000 ? 0xff : 0;
    return this.vram[this.regs[DISPI_INDEX_BANK]! * 0x10000 + off]!;
  }

  bankWrite(off: number, v: number): void {
    if (off >= 0x10000) return;
    this.memory()[this.regs[DISPI_INDEX_BANK]! * 0x10000 + off] = v;
    this.changed();
  }

  /** The picture of the VBE mode: DAC indices at 8 bits a pixel, else RGBA. */
  scanOut(palette: Uint8Array, pelMask: number): GraphicsScreen {
    const r = this.regs;
    const width = r[DISPI_INDEX_XRES]!;
    const height = r[DISPI_INDEX_YRES]!;
    const bpp = r[DISPI_INDEX_BPP]!;
    const bytes = this.bytesPerPixel;
    const m = this.memory();
    const start = r[DISPI_INDEX_Y_OFFSET]! * this.lineOffset + r[DISPI_INDEX_X_OFFSET]! * bytes;
    if (bpp === 8) {
      const pixels = new Uint8Array(width * height);
      for (let y = 0; y < height; y++) {
        const from = start + y * this.lineOffset;
        for (let x = 0; x < width; x++) pixels[y * width + x] = m[(from + x) % DISPI_VRAM_SIZE]! & pelMask;
      }
      return { kind: 'graphics', format: 'indexed', width, height, pixels, palette: dacColours(palette, this.dac8) };
    }
    const pixels = new Uint8Array(width * height * 4);
    for (let y = 0; y < height; y++) {
      let a = start + y * this.lineOffset;
      for (let x = 0, o = (y * width) * 4; x < width; x++, o += 4, a += bytes) {
        const p = a % DISPI_VRAM_SIZE;
        let red: number, green: number, blue: number;
        if (bpp === 15 || bpp === 16) {
          const w = m[p]! | (m[(p + 1) % DISPI_VRAM_SIZE]! << 8);
          if (bpp === 15) {
            red = (w >> 10) & 0x1f;
            green = (w >> 5) & 0x1f;
            blue = w & 0x1f;
            green = (green << 3) | (green >> 2);
          } else {
            red = (w >> 11) & 0x1f;
            green = (w >> 5) & 0x3f;
            blue = w & 0x1f;
            green = (green << 2) | (green >> 4);
          }
          red = (red << 3) | (red >> 2);
          blue = (blue << 3) | (blue >> 2);
        } else {
          blue = m[p]!;
          green = m[(p + 1) % DISPI_VRAM_SIZE]!;
          red = m[(p + 2) % DISPI_VRAM_SIZE]!;
        }
        pixels[o] = red;
        pixels[o + 1] = green;
        pixels[o + 2] = blue;
        pixels[o + 3] = 255;
      }
    }
    return { kind: 'graphics', format: 'rgba', width, height, pixels, palette: new Uint8Array(0) };
  }

  saveState(): StateRecord {
    return saveBySchema(DISPI_STATE, this);
  }

  loadState(s: StateRecord, version = 1): void {
    loadBySchema(DISPI_STATE, this, s, version);
  }
}

/**
 * The VBE interface's saved state: its index and registers, the scan-line length, and its 8 MiB
 * of video memory, which exists only once a guest has used it (an empty field means never).
 */
export const DISPI_STATE: StateSchema<BochsDispi> = defineState<BochsDispi>({
  id: 'bochs-dispi',
  version: 1,
  fields: [
    { name: 'index', type: 'u16', since: 1 },
    { name: 'regs', type: 'bytes', since: 1, length: DISPI_INDEX_COUNT * 2, get: (d) => new Uint8Array(d['regs'].buffer.slice(0)), set: (d, v) => d['regs'].set(new Uint16Array((v as Uint8Array).slice().buffer)) },
    { name: 'lineOffset', type: 'u32', since: 1, set: (d, v) => (d['lineOffset'] = Math.min(DISPI_VRAM_SIZE, v as number)) },
    {
      name: 'vram',
      type: 'bytes',
      since: 1,
      maxLength: DISPI_VRAM_SIZE,
      get: (d) => (d['vram'] ? d['vram'].slice() : new Uint8Array(0)),
      set: (d, v) => {
        const b = v as Uint8Array;
        if (b.length === DISPI_VRAM_SIZE) d['memory']().set(b);
        else d['vram'] = null;
      },
    },
  ],
  postLoad: (d) => checkLoaded(d['regs'], d['lineOffset']),
});

/**
 * Refuses registers the card's writes never leave (an edited file): the scan-out sizes its picture
 * from them, so a mode of 65535 x 65535 would ask the host for 16 GiB at the next refresh.
 */
function checkLoaded(r: Uint16Array, lineOffset: number): void {
  const bad = (what: string): never => {
    throw new StateError(`bochs-dispi: saved ${what}, which the card never holds`);
  };
  const xres = r[DISPI_INDEX_XRES]!;
  const yres = r[DISPI_INDEX_YRES]!;
  const bytes = (r[DISPI_INDEX_BPP]! + 7) >> 3;
  if (r[DISPI_INDEX_ID]! < DISPI_ID0 || r[DISPI_INDEX_ID]! > DISPI_ID5) bad(`ID ${r[DISPI_INDEX_ID]!.toString(16)}`);
  if (xres > DISPI_MAX_XRES || xres & 7) bad(`XRES ${xres}`);
  if (yres > DISPI_MAX_YRES) bad(`YRES ${yres}`);
  if (!VALID_BPP.has(r[DISPI_INDEX_BPP]!)) bad(`BPP ${r[DISPI_INDEX_BPP]}`);
  if (r[DISPI_INDEX_BANK]! >= DISPI_VRAM_SIZE >> 16) bad(`bank ${r[DISPI_INDEX_BANK]}`);
  if (r[DISPI_INDEX_ENABLE]! & ~(DISPI_ENABLED | DISPI_GETCAPS | DISPI_8BIT_DAC | DISPI_LFB_ENABLED | DISPI_NOCLEARMEM)) bad(`ENABLE ${r[DISPI_INDEX_ENABLE]!.toString(16)}`);
  if (r[DISPI_INDEX_ENABLE]! & DISPI_ENABLED && (xres === 0 || yres === 0 || lineOffset < xres * bytes || lineOffset * yres > DISPI_VRAM_SIZE))
    bad(`mode ${xres}x${yres}x${r[DISPI_INDEX_BPP]} with ${lineOffset} bytes a line`);
}
