// Intel 8042-based keyboard controller of the PC/AT and PS/2 (data port 0x60, status/command
// port 0x64), with a PS/2 keyboard on its first port and a PS/2 mouse on its auxiliary port.
//
// References: IBM PS/2 Hardware Interface Technical Reference, "Keyboard and Auxiliary Device
// Controller": status register, controller command byte (read 20h / write 60h), commands A7-AB,
// AD/AE, C0, D0-D4, E0, F0-FF (pulse output port), the output port (bit 0 system reset, bit 1
// gate A20, bits 4/5 output buffer full for IRQ1/IRQ12) and scan code translation. Linux's
// drivers/input/serio/i8042.c is the guest whose probe sequence the tests replay.
//
// Data from the controller itself (command responses) goes to the output buffer before anything
// waiting on the keyboard or mouse link. A device's bytes move into the output buffer only while
// its interface clock is enabled in the command byte; IRQ1/IRQ12 follow "output buffer full" for
// the byte's source, gated by the command byte's interrupt enables, as the 8042's P24/P25 pins do.

import type { IoRange } from '../../bus.ts';
import type { Device, ResetKind, StateRecord } from '../../device.ts';
import { defineState, loadBySchema, saveBySchema, type StateSchema } from '../../state/schema.ts';
import type { IrqLine } from '../../irq.ts';
import { KEYBOARD_STATE, Ps2Keyboard } from './ps2-keyboard.ts';
import { MOUSE_STATE, Ps2Mouse } from './ps2-mouse.ts';
import { translateToSet1 } from './scancodes.ts';

export const I8042_DATA_PORT = 0x60;
export const I8042_STATUS_PORT = 0x64;

// Status register
export const STAT_OBF = 0x01; // output buffer full
export const STAT_IBF = 0x02; // input buffer full (never seen: writes are consumed at once)
export const STAT_SYS = 0x04; // system flag
export const STAT_CMD = 0x08; // A2: last write was to the command port
export const STAT_INH = 0x10; // 1 = keyboard not inhibited (keylock open)
export const STAT_AUXB = 0x20; // output buffer holds auxiliary-device data
export const STAT_TIMEOUT = 0x40;
export const STAT_PARITY = 0x80;

// Controller command byte ("CTR" in Linux)
export const CCB_KBD_INT = 0x01;
export const CCB_AUX_INT = 0x02;
export const CCB_SYS = 0x04;
export const CCB_IGNORE_KEYLOCK = 0x08;
export const CCB_KBD_DISABLE = 0x10;
export const CCB_AUX_DISABLE = 0x20;
export const CCB_XLATE = 0x40;

// Output port
export const OUT_RESET = 0x01; // low = CPU held in reset
export const OUT_A20 = 0x02;
export const OUT_KBD_OBF = 0x10;
export const OUT_AUX_OBF = 0x20;

/**
 * What a BIOS leaves in the command byte: keyboard interrupt on, system flag, translation on,
 * mouse interface off. A machine booted without firmware (direct kernel boot) starts from it.
 */
export const CCB_AFTER_POST = CCB_KBD_INT | CCB_SYS | CCB_AUX_DISABLE | CCB_XLATE;

/** The rest of the machine, as the output port's wires reach it. */
export interface I8042Host {
  /** Output port bit 1 changed. The machine ORs it with port 0x92's fast A20. */
  setA20(enabled: boolean): void;
  /** Output port bit 0 was driven low (command D1 or a pulse): reset the CPU. */
  requestReset(): void;
}

const AUX_FLAG = 0x100;
const CTRL_QUEUE_LIMIT = 16;

export class I8042 implements Device {
  static readonly STATE: StateSchema<I8042> = defineState<I8042>({
    id: 'i8042',
    // 2: ctrlQueue as 16-bit entries; version 1 (format-1 files) kept it as a list of numbers.
    version: 2,
    upgrade: (rec, from) => {
      if (from !== 1) return null;
      const q = Array.isArray(rec['ctrlQueue']) ? rec['ctrlQueue'].filter((x): x is number => typeof x === 'number' && Number.isInteger(x) && x >= 0) : [];
      const bytes = new Uint8Array(2 * Math.min(q.length, CTRL_QUEUE_LIMIT));
      for (let i = 0; i < bytes.length / 2; i++) new DataView(bytes.buffer).setUint16(2 * i, q[i]! & 0x1ff, true);
      return { ...rec, ctrlQueue: bytes };
    },
    fields: [
      { name: 'ram', type: 'bytes', since: 1, length: 32 },
      { name: 'outPort', type: 'u8', since: 1 },
      { name: 'lastWasCommand', type: 'bool', since: 1 },
      { name: 'pendingCommand', type: 'u8', since: 1 },
      { name: 'obf', type: 'bool', since: 1 },
      { name: 'outByte', type: 'u8', since: 1 },
      { name: 'outAux', type: 'bool', since: 1 },
      // Each entry: the byte, with bit 8 set when it is for the mouse.
      { name: 'ctrlQueue', type: 'u16[]', since: 1, maxLength: CTRL_QUEUE_LIMIT, get: (c) => Uint16Array.from(c.ctrlQueue), set: (c, v) => (c.ctrlQueue = Array.from(v as Uint16Array, (x) => x & 0x1ff)) },
      { name: 'xlateBreak', type: 'bool', since: 1 },
      { name: 'irq1High', type: 'bool', since: 1 },
      { name: 'irq12High', type: 'bool', since: 1 },
      { name: 'keyboard', type: 'record', since: 1, record: KEYBOARD_STATE, of: (c) => c.keyboard },
      { name: 'mouse', type: 'record', since: 1, record: MOUSE_STATE, of: (c) => c.mouse },
    ],
  });
  readonly stateId = 'i8042';
  readonly stateVersion = I8042.STATE.version;
  readonly ioRanges: IoRange[];
  readonly keyboard: Ps2Keyboard;
  readonly mouse: Ps2Mouse;

  /** Controller RAM; byte 0 is the command byte. */
  private readonly ram = new Uint8Array(32);
  private outPort = 0xcf;
  private lastWasCommand = false;
  private pendingCommand = 0;
  private obf = false;
  private outByte = 0;
  private outAux = false;
  /** Controller responses (bit 8 set: present it as auxiliary-device data). */
  private ctrlQueue: number[] = [];
  /** Translation saw F0 and will set bit 7 of the next code. */
  private xlateBreak = false;
  private irq1High = false;
  private irq12High = false;

  constructor(
    private readonly irq1: IrqLine,
    private readonly irq12: IrqLine,
    private readonly host: I8042Host,
  ) {
    this.keyboard = new Ps2Keyboard(() => this.pump());
    this.mouse = new Ps2Mouse(() => this.pump());
    this.ram[0] = CCB_AFTER_POST;
    this.ioRanges = [
      {
        name: 'i8042 data',
        base: I8042_DATA_PORT,
        length: 1,
        read: () => this.readData(),
        write: (_o, _s, v) => this.writeData(v & 0xff),
        peek: () => this.outByte,
      },
      {
        name: 'i8042 status/command',
        base: I8042_STATUS_PORT,
        length: 1,
        read: () => this.status(),
        write: (_o, _s, v) => this.writeCommand(v & 0xff),
        peek: () => this.status(),
      },
    ];
  }

  // ---- host input ----

  /** A key event as PC/AT set-1 make/break codes (with E0/E1 prefixes). */
  keyboardInput(set1Scancodes: readonly number[]): void {
    this.keyboard.input(set1Scancodes);
  }

  /** Mouse motion (dx right, dy down), buttons bit 0 left, 1 right, 2 middle; dz wheel. */
  mouseInput(dx: number, dy: number, buttons: number, dz = 0): void {
    this.mouse.input(dx, dy, buttons, dz);
  }

  get commandByte(): number {
    return this.ram[0]!;
  }

  get a20(): boolean {
    return (this.outPort & OUT_A20) !== 0;
  }

  // ---- ports ----

  private status(): number {
    return (
      (this.obf ? STAT_OBF : 0) |
      (this.ram[0]! & CCB_SYS ? STAT_SYS : 0) |
      (this.lastWasCommand ? STAT_CMD : 0) |
      STAT_INH |
      (this.obf && this.outAux ? STAT_AUXB : 0)
    );
  }

  private readData(): number {
    // Reading an empty buffer returns the last byte again, as the 8042's output latch does.
    const v = this.outByte;
    if (this.obf) {
      this.obf = false;
      // The IRQ line drops with OBF before the next byte refills it, so an edge-triggered 8259
      // sees one edge per byte.
      this.updateIrqs();
      this.pump();
    }
    return v;
  }

  private writeData(v: number): void {
    this.lastWasCommand = false;
    const cmd = this.pendingCommand;
    this.pendingCommand = 0;
    if (cmd >= 0x60 && cmd <= 0x7f) {
      this.ram[cmd & 0x1f] = cmd === 0x60 ? v & 0x7f : v;
      this.pump();
      return;
    }
    switch (cmd) {
      case 0xd1:
        this.writeOutputPort(v);
        return;
      case 0xd2:
        this.respond(v);
        return;
      case 0xd3:
        this.respond(v | AUX_FLAG);
        return;
      case 0xd4:
        this.mouse.write(v);
        return;
      default:
        // Sending to the keyboard drives its clock line, which re-enables the interface; QEMU's
        // controller behaves the same, so guests tested there get the reply they wait for.
        this.ram[0] &= ~CCB_KBD_DISABLE;
        this.keyboard.write(v);
        this.pump();
    }
  }

  private writeCommand(c: number): void {
    this.lastWasCommand = true;
    this.pendingCommand = 0;
    if (c >= 0x20 && c <= 0x3f) {
      this.respond(this.ram[c & 0x1f]!);
      return;
    }
    if (c >= 0x60 && c <= 0x7f) {
      this.pendingCommand = c;
      return;
    }
    if (c >= 0xf0) {
      // Pulse output port bits 3-0 low for 6 us where the command's bit is 0; bit 0 is CPU reset.
      if (!(c & 0x01)) this.host.requestReset();
      return;
    }
    switch (c) {
      case 0xa1: // controller firmware version
        this.respond(0x00);
        return;
      case 0xa4: // password installed test: not installed
        this.respond(0xf1);
        return;
      case 0xa7:
        this.ram[0] |= CCB_AUX_DISABLE;
        break;
      case 0xa8:
        this.ram[0] &= ~CCB_AUX_DISABLE;
        break;
      case 0xa9: // auxiliary interface test: no error
        this.respond(0x00);
        return;
      case 0xaa: // self test
        this.ram[0] |= CCB_SYS;
        this.respond(0x55);
        return;
      case 0xab: // keyboard interface test: no error
        this.respond(0x00);
        return;
      case 0xad:
        this.ram[0] |= CCB_KBD_DISABLE;
        break;
      case 0xae:
        this.ram[0] &= ~CCB_KBD_DISABLE;
        break;
      case 0xc0: // input port: bit 7 keyboard not inhibited
        this.respond(0x80);
        return;
      case 0xd0:
        this.respond(this.outputPort());
        return;
      case 0xd1:
      case 0xd2:
      case 0xd3:
      case 0xd4:
        this.pendingCommand = c;
        return;
      case 0xdd: // HP Vectra style A20 gate control
        this.writeOutputPort(this.outPort & ~OUT_A20);
        return;
      case 0xdf:
        this.writeOutputPort(this.outPort | OUT_A20);
        return;
      case 0xe0: // test inputs
        this.respond(0x00);
        return;
      default:
        // Unknown commands are ignored by the controller firmware.
        return;
    }
    this.pump();
  }

  private outputPort(): number {
    return (
      (this.outPort & ~(OUT_KBD_OBF | OUT_AUX_OBF)) |
      (this.obf && !this.outAux ? OUT_KBD_OBF : 0) |
      (this.obf && this.outAux ? OUT_AUX_OBF : 0)
    );
  }

  private writeOutputPort(v: number): void {
    const before = this.outPort;
    this.outPort = v & ~(OUT_KBD_OBF | OUT_AUX_OBF);
    if ((before ^ v) & OUT_A20) this.host.setA20((v & OUT_A20) !== 0);
    // The reset line is active low: writing 0 to bit 0 resets the CPU (the 286 way back to real mode).
    if (!(v & OUT_RESET)) {
      this.outPort |= OUT_RESET;
      this.host.requestReset();
    }
  }

  private respond(v: number): void {
    // The real controller stalls (IBF) until its output buffer is read; here a guest that keeps
    // issuing commands without reading loses the excess replies instead of growing the queue.
    if (this.ctrlQueue.length < CTRL_QUEUE_LIMIT) this.ctrlQueue.push(v);
    this.pump();
  }

  /**
   * Fills the output buffer when it is empty and something is waiting. Taking a mouse byte can make
   * the mouse queue held-back motion and notify again; that nested call must not fill the buffer
   * under the byte this one is about to put there.
   */
  private pump(): void {
    if (this.pumping) return;
    this.pumping = true;
    while (!this.obf) {
      const ccb = this.ram[0]!;
      if (this.ctrlQueue.length) {
        const v = this.ctrlQueue.shift()!;
        this.fill(v & 0xff, (v & AUX_FLAG) !== 0);
      } else if (!(ccb & CCB_KBD_DISABLE) && this.keyboard.hasData) {
        const b = this.keyboard.read();
        if (ccb & CCB_XLATE) {
          if (b === 0xf0) {
            this.xlateBreak = true;
            continue;
          }
          const t = translateToSet1(b) | (this.xlateBreak ? 0x80 : 0);
          this.xlateBreak = false;
          this.fill(t, false);
        } else this.fill(b, false);
      } else if (!(ccb & CCB_AUX_DISABLE) && this.mouse.hasData) {
        this.fill(this.mouse.read(), true);
      } else break;
    }
    this.pumping = false;
    this.updateIrqs();
  }
  private pumping = false;

  private fill(v: number, aux: boolean): void {
    this.outByte = v;
    this.outAux = aux;
    this.obf = true;
  }

  private updateIrqs(): void {
    const ccb = this.ram[0]!;
    const kbd = this.obf && !this.outAux && (ccb & CCB_KBD_INT) !== 0;
    const aux = this.obf && this.outAux && (ccb & CCB_AUX_INT) !== 0;
    if (kbd !== this.irq1High) {
      this.irq1High = kbd;
      if (kbd) this.irq1.raise();
      else this.irq1.lower();
    }
    if (aux !== this.irq12High) {
      this.irq12High = aux;
      if (aux) this.irq12.raise();
      else this.irq12.lower();
    }
  }

  // ---- Device ----

  reset(kind: ResetKind): void {
    // INIT reaches only the CPU; the controller keeps running (and keeps what it was told).
    if (kind === 'soft') return;
    this.ram.fill(0);
    this.ram[0] = CCB_AFTER_POST;
    this.lastWasCommand = false;
    this.pendingCommand = 0;
    this.obf = false;
    this.outByte = 0;
    this.outAux = false;
    this.ctrlQueue = [];
    this.xlateBreak = false;
    this.outPort = 0xcf;
    this.host.setA20(true);
    this.keyboard.reset();
    this.mouse.reset();
    this.updateIrqs();
  }

  reassertInterrupts(): void {
    if (this.irq1High) this.irq1.raise();
    if (this.irq12High) this.irq12.raise();
  }

  /** The schema save and load follow; the contract test reads it too. */
  get stateSchema(): StateSchema<unknown> {
    return I8042.STATE as StateSchema<unknown>;
  }

  saveState(): StateRecord {
    return saveBySchema(I8042.STATE, this);
  }

  loadState(s: StateRecord, version: number): void {
    loadBySchema(I8042.STATE, this, s, version);
  }
}
