// IBM VGA: registers, the four 64 KiB memory planes behind the 0xA0000-0xBFFFF window, and a
// text-mode scan-out to a TextScreen.
//
// Reference: IBM VGA Technical Reference (Personal System/2 Display Adapter / VGA, 1988):
// "Programming Considerations" and register chapters: General registers (Miscellaneous Output
// 3C2/3CC with I/O address select bit 0 and RAM enable bit 1, Feature Control, Input Status 0
// and 1), Sequencer (3C4/3C5: reset, clocking mode, map mask, character map select, memory
// mode with chain 4 and odd/even), CRT Controller (3B4/3D4: 00-18h, write protect in 11h bit
// 7, start address 0Ch/0Dh, cursor start/end/location 0Ah/0Bh/0Eh/0Fh, offset 13h), Graphics
// Controller (3CE/3CF: set/reset, enable set/reset, color compare, data rotate, read map select,
// graphics mode with write modes 0-3 and read modes 0-1, miscellaneous with memory map select,
// color don't care, bit mask), Attribute Controller (3C0/3C1 with its index/data flip-flop reset
// by reading Input Status 1), and the DAC (3C6 PEL mask, 3C7/3C8 read/write index, 3C9 data).
//
// Memory is modelled per plane, with the 32-bit latch, so planar graphics and font loading land
// where hardware puts them. Text modes are scanned out as cells, graphics modes as pixels
// (graphics-scanout.ts). The retrace bits in Input
// Status 1 toggle on every read, which is all polling guests need to make progress.

import type { AccessSize, IoRange } from '../../bus.ts';
import type { Clock, Timer } from '../../clock.ts';
import type { Device, ResetKind, StateRecord } from '../../device.ts';
import { defineState, loadBySchema, saveBySchema, type FieldSpec, type StateSchema } from '../../state/schema.ts';
import type { GraphicsScreen, Screen, TextScreen } from '../../machine-api.ts';
import { BochsDispi, DISPI_STATE } from './bochs-dispi.ts';
import { sameGraphics, scanGraphics } from './graphics-scanout.ts';
import type { MmioRange } from '../../memory.ts';

export const VGA_WINDOW_BASE = 0xa0000;
export const VGA_WINDOW_SIZE = 0x20000;
const PLANE_SIZE = 0x10000;

// Port addresses
export const VGA_ATT_W = 0x3c0;
export const VGA_ATT_R = 0x3c1;
export const VGA_MIS_W = 0x3c2;
export const VGA_IS0_R = 0x3c2;
export const VGA_SEQ_I = 0x3c4;
export const VGA_SEQ_D = 0x3c5;
export const VGA_PEL_MSK = 0x3c6;
export const VGA_PEL_IR = 0x3c7;
export const VGA_PEL_IW = 0x3c8;
export const VGA_PEL_D = 0x3c9;
export const VGA_FTC_R = 0x3ca;
export const VGA_MIS_R = 0x3cc;
export const VGA_GFX_I = 0x3ce;
export const VGA_GFX_D = 0x3cf;
export const VGA_CRT_IC = 0x3d4;
export const VGA_CRT_DC = 0x3d5;
export const VGA_IS1_RC = 0x3da;
export const VGA_CRT_IM = 0x3b4;
export const VGA_CRT_DM = 0x3b5;
export const VGA_IS1_RM = 0x3ba;

// Miscellaneous Output
export const MIS_IOADDR_COLOR = 0x01;
export const MIS_RAM_ENABLE = 0x02;

// Sequencer
export const SEQ_MAP_MASK = 2;
export const SEQ_MEMORY_MODE = 4;
export const SEQ_MM_ODD_EVEN_DISABLE = 0x04;
export const SEQ_MM_CHAIN4 = 0x08;

// Graphics controller
export const GFX_SR_VALUE = 0;
export const GFX_SR_ENABLE = 1;
export const GFX_COMPARE_VALUE = 2;
export const GFX_DATA_ROTATE = 3;
export const GFX_PLANE_READ = 4;
export const GFX_MODE = 5;
export const GFX_MISC = 6;
export const GFX_COMPARE_MASK = 7;
export const GFX_BIT_MASK = 8;
export const GFX_MODE_READ_MODE_1 = 0x08;
export const GFX_MODE_HOST_ODD_EVEN = 0x10;
export const GFX_MISC_GRAPHICS = 0x01;

// Attribute controller
export const ATC_MODE = 0x10;
export const ATC_PAS = 0x20;

// CRT controller
export const CRTC_H_DISP = 0x01;
export const CRTC_OVERFLOW = 0x07;
export const CRTC_MAX_SCAN = 0x09;
export const CRTC_CURSOR_START = 0x0a;
export const CRTC_CURSOR_END = 0x0b;
export const CRTC_START_HI = 0x0c;
export const CRTC_START_LO = 0x0d;
export const CRTC_CURSOR_HI = 0x0e;
export const CRTC_CURSOR_LO = 0x0f;
export const CRTC_V_SYNC_END = 0x11;
export const CRTC_V_DISP_END = 0x12;
export const CRTC_OFFSET = 0x13;
export const CRTC_MODE = 0x17;
export const CRTC_V_SYNC_END_PROTECT = 0x80;

const SEQ_COUNT = 5;
const GFX_COUNT = 9;
const ATC_COUNT = 0x15;
const CRTC_COUNT = 0x19;

// Mode 3 (80x25 colour text) as the VGA BIOS programs it; the card powers up this way here so a
// machine without a video BIOS (direct kernel boot) has a working text console.
// prettier-ignore
const MODE3_SEQ = [0x03, 0x00, 0x03, 0x00, 0x02];
// prettier-ignore
const MODE3_CRTC = [
  0x5f, 0x4f, 0x50, 0x82, 0x55, 0x81, 0xbf, 0x1f, 0x00, 0x4f, 0x0d, 0x0e, 0x00, 0x00, 0x00, 0x00,
  0x9c, 0x8e, 0x8f, 0x28, 0x1f, 0x96, 0xb9, 0xa3, 0xff,
];
// prettier-ignore
const MODE3_GFX = [0x00, 0x00, 0x00, 0x00, 0x00, 0x10, 0x0e, 0x00, 0xff];
// prettier-ignore
const MODE3_ATC = [
  0x00, 0x01, 0x02, 0x03, 0x04, 0x05, 0x14, 0x07, 0x38, 0x39, 0x3a, 0x3b, 0x3c, 0x3d, 0x3e, 0x3f,
  0x0c, 0x00, 0x0f, 0x08, 0x00,
];
const MODE3_MISC = 0x67;

/** Guest time between two scan-outs, and so between two screens sent to the sink. */
export const REFRESH_INTERVAL_NS = 20_000_000;
/** A graphics picture is up to 768 KiB, so it goes at most 25 times a second. */
export const GRAPHICS_REFRESH_INTERVAL_NS = 40_000_000;
/** A VBE picture is up to 7.5 MiB: at most 10 a second. */
export const VBE_REFRESH_INTERVAL_NS = 100_000_000;
const MAX_COLS = 256;
const MAX_ROWS = 128;

export type ScreenSink = (screen: Screen) => void;

export class Vga implements Device {
  readonly stateId = 'vga';
  /** 2: the VBE display interface (dispi) joined. */
  get stateVersion(): number {
    return this.stateSchema.version;
  }
  /** The Bochs VBE interface beside the IBM registers, with its framebuffer. */
  readonly dispi: BochsDispi;
  readonly ioRanges: IoRange[];
  readonly mmio: MmioRange;

  /** Planes 0-3, 64 KiB each. */
  readonly vram = new Uint8Array(4 * PLANE_SIZE);
  private readonly latch = new Uint8Array(4);
  private misc = MODE3_MISC;
  private featureCtrl = 0;
  private seqIndex = 0;
  private readonly seq = new Uint8Array(8);
  private gfxIndex = 0;
  private readonly gfx = new Uint8Array(16);
  private atcIndex = 0;
  /** false: the next 0x3C0 write is an index; true: it is data. */
  private atcFlipFlop = false;
  private readonly atc = new Uint8Array(32);
  private crtcIndex = 0;
  private readonly crtc = new Uint8Array(64);
  private pelMask = 0xff;
  private dacReadIndex = 0;
  private dacWriteIndex = 0;
  /** 0x3C7 read: 0 after a write-index write, 3 after a read-index write. */
  private dacState = 0;
  private dacComponent = 0;
  private readonly dacLatch = new Uint8Array(3);
  readonly palette = new Uint8Array(256 * 3);
  private retrace = false;

  private dirty = true;
  /**
   * Guest time of the last scan-out. The refresh interval spaces the scans, not only the screens
   * that differ: each walks the whole picture, and a guest may rewrite the same one for ever.
   */
  private lastScan = -Infinity;
  private last: Screen | null = null;
  private readonly refresh: Timer;

  constructor(
    private readonly clock: Clock,
    private readonly sink: ScreenSink,
  ) {
    this.refresh = clock.createTimer('vga refresh', (now) => this.onRefresh(now));
    this.dispi = new BochsDispi(
      () => this.markDirty(),
      () => (this.gfx[GFX_MISC] = (this.gfx[GFX_MISC]! & ~0x0c) | 0x04 | GFX_MISC_GRAPHICS),
    );
    const ports = (name: string, base: number, length: number): IoRange => ({
      name,
      base,
      length,
      read: (off) => this.portRead(base + off, false),
      write: (off, _size, v) => this.portWrite(base + off, v & 0xff),
      peek: (off, size: AccessSize) => (size === 1 ? this.portRead(base + off, true) : 0xff),
    });
    this.ioRanges = [
      ports('vga mono crtc', 0x3b4, 2),
      ports('vga mono status', 0x3ba, 1),
      ports('vga', 0x3c0, 16),
      ports('vga color crtc', 0x3d4, 2),
      ports('vga color status', 0x3da, 1),
      ...this.dispi.ioRanges,
    ];
    this.mmio = {
      name: 'vga memory',
      base: VGA_WINDOW_BASE,
      length: VGA_WINDOW_SIZE,
      read: (off, size) => {
        let v = 0;
        for (let i = 0; i < size; i++) v |= this.memRead(off + i) << (8 * i);
        return v >>> 0;
      },
      write: (off, size, value) => {
        for (let i = 0; i < size; i++) this.memWrite(off + i, (value >>> (8 * i)) & 0xff);
      },
    };
    this.setMode3();
  }

  // ---- ports ----

  private get colorIo(): boolean {
    return (this.misc & MIS_IOADDR_COLOR) !== 0;
  }

  private portRead(port: number, peek: boolean): number {
    switch (port) {
      case VGA_ATT_W:
        return this.atcIndex;
      case VGA_ATT_R: {
        const i = this.atcIndex & 0x1f;
        return i < ATC_COUNT ? this.atc[i]! : 0xff;
      }
      case VGA_IS0_R:
        return 0x00;
      case VGA_SEQ_I:
        return this.seqIndex;
      case VGA_SEQ_D:
        return this.seqIndex < SEQ_COUNT ? this.seq[this.seqIndex]! : 0xff;
      case VGA_PEL_MSK:
        return this.pelMask;
      case VGA_PEL_IR:
        return this.dacState;
      case VGA_PEL_IW:
        return this.dacWriteIndex;
      case VGA_PEL_D: {
        const v = this.palette[this.dacReadIndex * 3 + this.dacComponent]!;
        if (!peek && ++this.dacComponent === 3) {
          this.dacComponent = 0;
          this.dacReadIndex = (this.dacReadIndex + 1) & 0xff;
        }
        return v;
      }
      case VGA_FTC_R:
        return this.featureCtrl;
      case VGA_MIS_R:
        return this.misc;
      case VGA_GFX_I:
        return this.gfxIndex;
      case VGA_GFX_D:
        return this.gfxIndex < GFX_COUNT ? this.gfx[this.gfxIndex]! : 0xff;
      case VGA_CRT_IC:
      case VGA_CRT_IM:
        return this.crtcPorts(port) ? this.crtcIndex : 0xff;
      case VGA_CRT_DC:
      case VGA_CRT_DM:
        if (!this.crtcPorts(port)) return 0xff;
        return this.crtcIndex < CRTC_COUNT ? this.crtc[this.crtcIndex]! : 0xff;
      case VGA_IS1_RC:
      case VGA_IS1_RM: {
        if (!this.crtcPorts(port)) return 0xff;
        if (peek) return this.retrace ? 0x09 : 0x00;
        // Reading Input Status 1 resets the attribute flip-flop to "index".
        this.atcFlipFlop = false;
        this.retrace = !this.retrace;
        // Bit 3 vertical retrace, bit 0 display disabled (true during retrace too).
        return this.retrace ? 0x09 : 0x00;
      }
      default:
        return 0xff;
    }
  }

  /** True when the port belongs to the CRTC/status block selected by Misc Output bit 0. */
  private crtcPorts(port: number): boolean {
    return (port >= 0x3d0) === this.colorIo;
  }

  private portWrite(port: number, v: number): void {
    switch (port) {
      case VGA_ATT_W:
        if (!this.atcFlipFlop) this.atcIndex = v & 0x3f;
        else {
          const i = this.atcIndex & 0x1f;
          if (i < ATC_COUNT) this.atc[i] = v;
        }
        this.atcFlipFlop = !this.atcFlipFlop;
        break;
      case VGA_MIS_W:
        this.misc = v;
        break;
      case VGA_SEQ_I:
        this.seqIndex = v & 0x07;
        return;
      case VGA_SEQ_D:
        if (this.seqIndex < SEQ_COUNT) this.seq[this.seqIndex] = v;
        break;
      case VGA_PEL_MSK:
        this.pelMask = v;
        break;
      case VGA_PEL_IR:
        this.dacReadIndex = v;
        this.dacComponent = 0;
        this.dacState = 3;
        return;
      case VGA_PEL_IW:
        this.dacWriteIndex = v;
        this.dacComponent = 0;
        this.dacState = 0;
        return;
      case VGA_PEL_D:
        this.dacLatch[this.dacComponent] = this.dispi.dac8 ? v : v & 0x3f;
        if (++this.dacComponent === 3) {
          this.palette.set(this.dacLatch, this.dacWriteIndex * 3);
          this.dacComponent = 0;
          this.dacWriteIndex = (this.dacWriteIndex + 1) & 0xff;
          // A graphics picture carries the DAC's colours, so a palette change is a new picture.
          this.markDirty();
        }
        return;
      case VGA_GFX_I:
        this.gfxIndex = v & 0x0f;
        return;
      case VGA_GFX_D:
        if (this.gfxIndex < GFX_COUNT) this.gfx[this.gfxIndex] = v;
        break;
      case VGA_CRT_IC:
      case VGA_CRT_IM:
        if (this.crtcPorts(port)) this.crtcIndex = v & 0x3f;
        return;
      case VGA_CRT_DC:
      case VGA_CRT_DM:
        if (this.crtcPorts(port)) this.writeCrtc(this.crtcIndex, v);
        break;
      case VGA_IS1_RC:
      case VGA_IS1_RM:
        if (this.crtcPorts(port)) this.featureCtrl = v;
        return;
      default:
        return;
    }
    this.markDirty();
  }

  private writeCrtc(i: number, v: number): void {
    if (i >= CRTC_COUNT) return;
    if (i <= 7 && this.crtc[CRTC_V_SYNC_END]! & CRTC_V_SYNC_END_PROTECT) {
      // Protect bit: CR00-CR07 are read-only except the line compare bit 8 in the overflow register.
      if (i === CRTC_OVERFLOW) this.crtc[i] = (this.crtc[i]! & ~0x10) | (v & 0x10);
      return;
    }
    this.crtc[i] = v;
  }

  // ---- memory ----

  /** Window offset -> offset inside the mapped aperture, or -1 when the address is not decoded. */
  private aperture(off: number): number {
    if (!(this.misc & MIS_RAM_ENABLE)) return -1;
    switch ((this.gfx[GFX_MISC]! >> 2) & 3) {
      case 0:
        return off;
      case 1:
        return off < 0x10000 ? off : -1;
      case 2:
        return off >= 0x10000 && off < 0x18000 ? off - 0x10000 : -1;
      default:
        return off >= 0x18000 ? off - 0x18000 : -1;
    }
  }

  private memRead(off: number): number {
    const a = this.aperture(off);
    if (a < 0) return 0xff;
    if (this.dispi.enabled) return this.dispi.bankRead(a);
    const mm = this.seq[SEQ_MEMORY_MODE]!;
    if (mm & SEQ_MM_CHAIN4) {
      const o = (a >> 2) & 0xffff;
      this.loadLatch(o);
      return this.latch[a & 3]!;
    }
    if (this.gfx[GFX_MODE]! & GFX_MODE_HOST_ODD_EVEN) {
      const o = a & 0xfffe;
      this.loadLatch(o);
      return this.latch[(this.gfx[GFX_PLANE_READ]! & 2) | (a & 1)]!;
    }
    const o = a & 0xffff;
    this.loadLatch(o);
    if (!(this.gfx[GFX_MODE]! & GFX_MODE_READ_MODE_1)) return this.latch[this.gfx[GFX_PLANE_READ]! & 3]!;
    // Read mode 1: a 1 for each pixel whose colour matches Color Compare in the planes Color Don't Care selects.
    const cmp = this.gfx[GFX_COMPARE_VALUE]!;
    const care = this.gfx[GFX_COMPARE_MASK]!;
    let diff = 0;
    for (let p = 0; p < 4; p++) if (care & (1 << p)) diff |= this.latch[p]! ^ (cmp & (1 << p) ? 0xff : 0);
    return ~diff & 0xff;
  }

  private loadLatch(o: number): void {
    for (let p = 0; p < 4; p++) this.latch[p] = this.vram[p * PLANE_SIZE + o]!;
  }

  private memWrite(off: number, v: number): void {
    const a = this.aperture(off);
    if (a < 0) return;
    if (this.dispi.enabled) {
      this.dispi.bankWrite(a, v);
      return;
    }
    const mapMask = this.seq[SEQ_MAP_MASK]! & 0x0f;
    const mm = this.seq[SEQ_MEMORY_MODE]!;
    if (mm & SEQ_MM_CHAIN4) {
      const p = a & 3;
      if (mapMask & (1 << p)) this.vram[p * PLANE_SIZE + ((a >> 2) & 0xffff)] = v;
      this.markDirty();
      return;
    }
    if (!(mm & SEQ_MM_ODD_EVEN_DISABLE)) {
      // Odd/even: even addresses reach planes 0 and 2, odd ones planes 1 and 3.
      const mask = mapMask & (a & 1 ? 0x0a : 0x05);
      const o = a & 0xfffe;
      for (let p = 0; p < 4; p++) if (mask & (1 << p)) this.vram[p * PLANE_SIZE + o] = v;
      this.markDirty();
      return;
    }
    this.planarWrite(a & 0xffff, v, mapMask);
    this.markDirty();
  }

  /** Write modes 0-3 through set/reset, rotate, the ALU and the bit mask (Graphics Controller). */
  private planarWrite(o: number, v: number, mapMask: number): void {
    const g = this.gfx;
    const mode = g[GFX_MODE]! & 3;
    const rot = g[GFX_DATA_ROTATE]! & 7;
    const op = (g[GFX_DATA_ROTATE]! >> 3) & 3;
    const rotated = ((v >> rot) | (v << (8 - rot))) & 0xff;
    let bitMask = g[GFX_BIT_MASK]!;
    if (mode === 3) bitMask &= rotated;
    for (let p = 0; p < 4; p++) {
      if (!(mapMask & (1 << p))) continue;
      const latch = this.latch[p]!;
      let d: number;
      if (mode === 1) {
        this.vram[p * PLANE_SIZE + o] = latch;
        continue;
      } else if (mode === 0) {
        d = g[GFX_SR_ENABLE]! & (1 << p) ? (g[GFX_SR_VALUE]! & (1 << p) ? 0xff : 0) : rotated;
      } else if (mode === 2) {
        d = v & (1 << p) ? 0xff : 0;
      } else {
        d = g[GFX_SR_VALUE]! & (1 << p) ? 0xff : 0;
      }
      if (op === 1) d &= latch;
      else if (op === 2) d |= latch;
      else if (op === 3) d ^= latch;
      this.vram[p * PLANE_SIZE + o] = (d & bitMask) | (latch & ~bitMask & 0xff);
    }
  }

  // ---- scan-out ----

  /** True while the CRTC and attribute controller are in an alphanumeric mode. */
  get textMode(): boolean {
    return !this.dispi.enabled && !(this.gfx[GFX_MISC]! & GFX_MISC_GRAPHICS) && !(this.atc[ATC_MODE]! & 0x01);
  }

  /** The text screen as the CRTC would scan it out now, or null in a graphics mode. */
  textScreen(): TextScreen | null {
    if (!this.textMode) return null;
    const c = this.crtc;
    const cols = Math.min(MAX_COLS, c[CRTC_H_DISP]! + 1);
    const vde = c[CRTC_V_DISP_END]! | ((c[CRTC_OVERFLOW]! & 0x02) << 7) | ((c[CRTC_OVERFLOW]! & 0x40) << 3);
    const maxScan = c[CRTC_MAX_SCAN]!;
    const lineHeight = ((maxScan & 0x1f) + 1) * (maxScan & 0x80 ? 2 : 1);
    const rows = Math.max(1, Math.min(MAX_ROWS, Math.floor((vde + 1) / lineHeight)));
    const stride = c[CRTC_OFFSET]! * 2 || cols;
    const start = (c[CRTC_START_HI]! << 8) | c[CRTC_START_LO]!;
    const cells = new Uint16Array(cols * rows);
    for (let r = 0; r < rows; r++) {
      for (let col = 0; col < cols; col++) {
        // Word mode: the CRTC's character address is doubled into plane memory.
        const o = ((start + r * stride + col) * 2) & 0xffff;
        cells[r * cols + col] = this.vram[o]! | (this.vram[PLANE_SIZE + o]! << 8);
      }
    }
    const loc = (c[CRTC_CURSOR_HI]! << 8) | c[CRTC_CURSOR_LO]!;
    const rel = (loc - start) & 0xffff;
    const row = Math.floor(rel / stride);
    const col = rel % stride;
    const cs = c[CRTC_CURSOR_START]!;
    const ce = c[CRTC_CURSOR_END]! & 0x1f;
    const visible = !(cs & 0x20) && (cs & 0x1f) <= ce && row < rows && col < cols;
    return { kind: 'text', cols, rows, cells, cursor: { row: Math.min(row, rows - 1), col: Math.min(col, cols - 1), visible } };
  }

  /** The graphics picture as the card scans it out now, or null in a text mode. */
  graphicsScreen(): GraphicsScreen | null {
    if (this.textMode) return null;
    if (this.dispi.enabled) return this.dispi.scanOut(this.palette, this.pelMask);
    return scanGraphics({ gfx: this.gfx, atc: this.atc, crtc: this.crtc, pelMask: this.pelMask, palette: this.palette }, this.vram);
  }

  private markDirty(): void {
    if (this.dirty && this.refresh.armed) return;
    this.dirty = true;
    const interval = this.dispi.enabled ? VBE_REFRESH_INTERVAL_NS : this.textMode ? REFRESH_INTERVAL_NS : GRAPHICS_REFRESH_INTERVAL_NS;
    if (!this.refresh.armed) this.refresh.arm(Math.max(this.clock.now(), this.lastScan + interval));
  }

  private onRefresh(now: number): void {
    if (!this.dirty) return;
    this.dirty = false;
    this.lastScan = now;
    const screen: Screen | null = this.textScreen() ?? this.graphicsScreen();
    if (!screen || sameScreen(screen, this.last)) return;
    this.last = screen;
    this.sink(screen);
  }

  // ---- Device ----

  private setMode3(): void {
    this.misc = MODE3_MISC;
    this.featureCtrl = 0;
    this.seq.fill(0);
    this.seq.set(MODE3_SEQ);
    this.crtc.fill(0);
    this.crtc.set(MODE3_CRTC);
    this.gfx.fill(0);
    this.gfx.set(MODE3_GFX);
    this.atc.fill(0);
    this.atc.set(MODE3_ATC);
    this.seqIndex = this.gfxIndex = this.crtcIndex = 0;
    this.atcIndex = ATC_PAS;
    this.atcFlipFlop = false;
    this.pelMask = 0xff;
    this.dacReadIndex = this.dacWriteIndex = this.dacComponent = this.dacState = 0;
    this.latch.fill(0);
    this.retrace = false;
    // The EGA-compatible 64-colour palette: two intensity bits per primary.
    for (let i = 0; i < 256; i++) {
      const e = i & 0x3f;
      this.palette[i * 3] = ((e >> 2) & 1) * 0x2a + ((e >> 5) & 1) * 0x15;
      this.palette[i * 3 + 1] = ((e >> 1) & 1) * 0x2a + ((e >> 4) & 1) * 0x15;
      this.palette[i * 3 + 2] = (e & 1) * 0x2a + ((e >> 3) & 1) * 0x15;
    }
  }

  reset(kind: ResetKind): void {
    if (kind === 'soft') return;
    this.setMode3();
    this.dispi.reset();
    if (kind === 'power') {
      this.vram.fill(0);
      // Blank 80x25 pages (space, light grey on black) in the text area of planes 0 and 1.
      this.vram.fill(0x20, 0, 0x8000);
      this.vram.fill(0x07, PLANE_SIZE, PLANE_SIZE + 0x8000);
    }
    this.last = null;
    this.markDirty();
  }

  /** The schema save and load follow; the contract test reads it too. */
  get stateSchema(): StateSchema<unknown> {
    return VGA_STATE as StateSchema<unknown>;
  }

  saveState(): StateRecord {
    return saveBySchema(VGA_STATE, this);
  }

  loadState(s: StateRecord, version: number): void {
    loadBySchema(VGA_STATE, this, s, version);
  }
}

function sameScreen(a: Screen, b: Screen | null): boolean {
  if (!b || a.kind !== b.kind) return false;
  if (a.kind === 'graphics') return sameGraphics(a, b as GraphicsScreen);
  if (b.kind !== 'text' || a.cols !== b.cols || a.rows !== b.rows) return false;
  const ca = a.cursor;
  const cb = b.cursor;
  if (ca.row !== cb.row || ca.col !== cb.col || ca.visible !== cb.visible) return false;
  const x = a.cells;
  const y = b.cells;
  for (let i = 0; i < x.length; i++) if (x[i] !== y[i]) return false;
  return true;
}

const reg = (name: string, mask?: number): FieldSpec<Vga> => ({ name, type: 'u8', since: 1, mask });
const regs = (name: string, length: number): FieldSpec<Vga> => ({ name, type: 'bytes', since: 1, length });

/**
 * The card's saved state: the four planes and latches, every register file and index, the DAC and
 * its access state, the retrace phase; version 2 adds the VBE interface (a version-1 state comes from
 * a card without it, which loads as switched off).
 */
const VGA_STATE: StateSchema<Vga> = defineState<Vga>({
  id: 'vga',
  version: 2,
  fields: [
    regs('vram', 4 * PLANE_SIZE),
    regs('latch', 4),
    reg('misc'),
    reg('featureCtrl'),
    reg('seqIndex', 0x07),
    regs('seq', 8),
    reg('gfxIndex', 0x0f),
    regs('gfx', 16),
    reg('atcIndex', 0x3f),
    { name: 'atcFlipFlop', type: 'bool', since: 1 },
    regs('atc', 32),
    reg('crtcIndex', 0x3f),
    regs('crtc', 64),
    reg('pelMask'),
    reg('dacReadIndex'),
    reg('dacWriteIndex'),
    { name: 'dacState', type: 'u8', since: 1, set: (g, v) => (g['dacState'] = v === 3 ? 3 : 0) },
    { name: 'dacComponent', type: 'u8', since: 1, set: (g, v) => (g['dacComponent'] = ((v as number) & 3) % 3) },
    regs('dacLatch', 3),
    regs('palette', 768),
    { name: 'retrace', type: 'bool', since: 1 },
    { name: 'dispi', type: 'record', since: 2, record: DISPI_STATE, of: (g) => g.dispi },
  ],
  postLoad: (g, version) => {
    if (version < 2) g.dispi.reset();
    // The display host may have been reconnected: send the restored screen again.
    g['last'] = null;
    g['markDirty']();
  },
});
