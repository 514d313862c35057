// Two cascaded Intel 8259A programmable interrupt controllers (datasheet 231468: "Programming the
// 8259A" — ICW1-ICW4, OCW1-OCW3, priority resolution, EOI and rotation, poll command, special mask
// mode), as on the PC/AT: master at 0x20-0x21, slave at 0xA0-0xA1 cascaded on master IR2, and the
// PIIX3 ELCR registers at 0x4D0-0x4D1 selecting edge or level sensing per input.

import type { IoRange } from '../../bus.ts';
import type { Device, ResetKind, StateRecord } from '../../device.ts';
import { defineState, loadBySchema, saveBySchema, type FieldSpec, type StateSchema } from '../../state/schema.ts';
import type { InterruptController, IrqLine } from '../../irq.ts';

// ICW1 bits
const ICW1_IC4 = 0x01;
const ICW1_SNGL = 0x02;
const ICW1_INIT = 0x10;
// ICW4 bits
const ICW4_AEOI = 0x02;
const ICW4_SFNM = 0x10;
// OCW3 bits
const OCW3_RIS = 0x01;
const OCW3_RR = 0x02;
const OCW3_P = 0x04;
const OCW3_SMM = 0x20;
const OCW3_ESMM = 0x40;
const OCW_SELECT_OCW3 = 0x08;

/** ELCR bits that must read as edge: IRQ0-2 on the master, IRQ8 and IRQ13 on the slave. */
const ELCR_MASK = [0xf8, 0xde] as const;

const MODE_BITS = ['icw4Needed', 'single', 'autoEoi', 'rotateOnAutoEoi', 'specialFullyNested', 'specialMask', 'readIsr', 'poll'] as const;
const reg8 = (name: string): FieldSpec<Pic8259> => ({ name, type: 'u8', since: 1 });

/** One 8259A's saved state: its registers, and its mode bits packed as `flags` (bit n: MODE_BITS[n]). */
const CHIP_STATE: StateSchema<Pic8259> = defineState<Pic8259>({
  id: 'i8259 chip',
  version: 1,
  fields: [
    ...['irr', 'imr', 'isr', 'lines', 'elcr'].map(reg8),
    { name: 'vectorBase', type: 'u8', since: 1, mask: 0xf8 },
    { name: 'priorityAdd', type: 'u8', since: 1, mask: 7 },
    { name: 'initStep', type: 'u8', since: 1 },
    reg8('icw3'),
    {
      name: 'flags',
      type: 'u8',
      since: 1,
      get: (c) => MODE_BITS.reduce((f, k, i) => f | (c[k] ? 1 << i : 0), 0),
      set: (c, v) => MODE_BITS.forEach((k, i) => (c[k] = ((v as number) & (1 << i)) !== 0)),
    },
  ],
});

/** One 8259A. */
class Pic8259 {
  irr = 0;
  imr = 0;
  isr = 0;
  /** Input levels as the lines drive them (for edge detection). */
  lines = 0;
  elcr = 0;
  vectorBase = 0;
  /** Bottom priority is IR((priorityAdd - 1) & 7): rotation moves this. */
  priorityAdd = 0;
  /** Which ICW the next odd-port write is: 0 means OCW1. */
  initStep = 0;
  icw4Needed = false;
  single = false;
  autoEoi = false;
  rotateOnAutoEoi = false;
  specialFullyNested = false;
  specialMask = false;
  readIsr = false;
  poll = false;
  icw3 = 0;

  constructor(readonly isMaster: boolean) {}

  reset(): void {
    this.irr = this.imr = this.isr = this.lines = 0;
    this.vectorBase = this.priorityAdd = this.initStep = this.icw3 = 0;
    this.icw4Needed = this.single = this.autoEoi = this.rotateOnAutoEoi = false;
    this.specialFullyNested = this.specialMask = this.readIsr = this.poll = false;
  }

  setLine(n: number, level: boolean): void {
    const bit = 1 << n;
    if (this.elcr & bit) {
      if (level) this.irr |= bit;
      else this.irr &= ~bit;
    } else if (level && !(this.lines & bit)) {
      this.irr |= bit;
    }
    if (level) this.lines |= bit;
    else this.lines &= ~bit;
  }

  /**
   * A level-sensitive input's request is its line, whatever it was before: a line already high when
   * it becomes level-sensitive requests at once (an SCI still asserted when an OS, booted by kexec
   * say, sets its ELCR bit), and a latched edge on a line now low is gone. Edge inputs keep their
   * latch.
   */
  setElcr(v: number): void {
    this.elcr = v;
    this.irr = (this.irr & ~v) | (this.lines & v);
  }

  /** Highest-priority set bit of mask as a priority level 0-7, or 8 if none. */
  private priorityOf(mask: number): number {
    if (!mask) return 8;
    let p = 0;
    while (!(mask & (1 << ((p + this.priorityAdd) & 7)))) p++;
    return p;
  }

  /** The IR number this chip would present, or -1. */
  pending(): number {
    const req = this.irr & ~this.imr;
    const p = this.priorityOf(req);
    if (p === 8) return -1;
    let inService = this.isr;
    if (this.specialMask) inService &= ~this.imr;
    // In special fully nested mode the master lets a higher slave request through IR2 while IR2 is in service.
    if (this.specialFullyNested && this.isMaster) inService &= ~(1 << 2);
    if (p < this.priorityOf(inService)) return (p + this.priorityAdd) & 7;
    return -1;
  }

  /** INTA for IR n: move the request into service. */
  acknowledge(n: number): void {
    const bit = 1 << n;
    if (this.autoEoi) {
      if (this.rotateOnAutoEoi) this.priorityAdd = (n + 1) & 7;
    } else {
      this.isr |= bit;
    }
    if (!(this.elcr & bit)) this.irr &= ~bit;
  }

  writeCommand(v: number): void {
    if (v & ICW1_INIT) {
      this.imr = 0;
      this.isr = 0;
      this.priorityAdd = 0;
      this.specialMask = false;
      this.readIsr = false;
      this.poll = false;
      this.autoEoi = false;
      this.rotateOnAutoEoi = false;
      // Edge detection restarts: a line already high must go low and high again.
      this.irr &= this.elcr;
      this.icw4Needed = (v & ICW1_IC4) !== 0;
      this.single = (v & ICW1_SNGL) !== 0;
      this.initStep = 2;
      return;
    }
    if (v & OCW_SELECT_OCW3) {
      if (v & OCW3_P) this.poll = true;
      if (v & OCW3_RR) this.readIsr = (v & OCW3_RIS) !== 0;
      if (v & OCW3_ESMM) this.specialMask = (v & OCW3_SMM) !== 0;
      return;
    }
    // OCW2: R SL EOI in bits 7-5, level in bits 2-0.
    const cmd = v >> 5;
    switch (cmd) {
      case 0: // rotate in automatic EOI mode (clear)
        this.rotateOnAutoEoi = false;
        break;
      case 4: // rotate in automatic EOI mode (set)
        this.rotateOnAutoEoi = true;
        break;
      case 1: // non-specific EOI
      case 5: {
        // rotate on non-specific EOI
        const p = this.priorityOf(this.isr);
        if (p !== 8) {
          const n = (p + this.priorityAdd) & 7;
          this.isr &= ~(1 << n);
          if (cmd === 5) this.priorityAdd = (n + 1) & 7;
        }
        break;
      }
      case 3: // specific EOI
      case 7: {
        // rotate on specific EOI
        const n = v & 7;
        this.isr &= ~(1 << n);
        if (cmd === 7) this.priorityAdd = (n + 1) & 7;
        break;
      }
      case 6: // set priority: IR n becomes the lowest
        this.priorityAdd = ((v & 7) + 1) & 7;
        break;
      default: // 2: no operation
        break;
    }
  }

  writeData(v: number): void {
    switch (this.initStep) {
      case 2:
        this.vectorBase = v & 0xf8;
        this.initStep = this.single ? (this.icw4Needed ? 4 : 0) : 3;
        return;
      case 3:
        this.icw3 = v;
        this.initStep = this.icw4Needed ? 4 : 0;
        return;
      case 4:
        this.autoEoi = (v & ICW4_AEOI) !== 0;
        this.specialFullyNested = (v & ICW4_SFNM) !== 0;
        this.initStep = 0;
        return;
      default:
        this.imr = v;
    }
  }

  readStatus(): number {
    return this.readIsr ? this.isr : this.irr;
  }
}

export class I8259Pair implements Device, InterruptController {
  readonly stateId = 'i8259';
  get stateVersion(): number {
    return this.stateSchema.version;
  }
  readonly ioRanges: IoRange[];
  private readonly master = new Pic8259(true);
  private readonly slave = new Pic8259(false);
  private readonly lines: IrqLine[] = [];
  /** The INTR pin went high: the CPU should look for an interrupt. */
  onInterruptChange: (() => void) | null = null;

  constructor() {
    for (let n = 0; n < 16; n++) {
      this.lines.push({ raise: () => this.setIrq(n, true), lower: () => this.setIrq(n, false) });
    }
    const chip = (name: string, base: number, pic: Pic8259): IoRange => ({
      name,
      base,
      length: 2,
      read: (off) => this.readPort(pic, off),
      write: (off, _size, v) => this.writePort(pic, off, v & 0xff),
      peek: (off) => (off === 0 ? pic.readStatus() : pic.imr),
    });
    this.ioRanges = [
      chip('i8259 master', 0x20, this.master),
      chip('i8259 slave', 0xa0, this.slave),
      {
        name: 'i8259 ELCR',
        base: 0x4d0,
        length: 2,
        read: (off) => (off === 0 ? this.master.elcr : this.slave.elcr),
        write: (off, _size, v) => {
          const pic = off === 0 ? this.master : this.slave;
          pic.setElcr(v & ELCR_MASK[off]!);
          this.update();
        },
        peek: (off) => (off === 0 ? this.master.elcr : this.slave.elcr),
      },
    ];
  }

  irq(n: number): IrqLine {
    const line = this.lines[n];
    if (!line) throw new Error(`the PIC pair has IRQ lines 0-15, not ${n}`);
    return line;
  }

  private setIrq(n: number, level: boolean): void {
    if (n < 8) this.master.setLine(n, level);
    else this.slave.setLine(n - 8, level);
    this.update();
  }

  /**
   * Propagates the slave's INT output to master IR2 and tells the CPU about INTR. The cascade input
   * follows the slave's output level: a slave request that goes away withdraws the master's too.
   */
  private update(): void {
    if (this.slave.pending() >= 0) this.master.irr |= 1 << 2;
    else this.master.irr &= ~(1 << 2);
    if (this.master.pending() >= 0) this.onInterruptChange?.();
  }

  hasInterrupt(): boolean {
    return this.master.pending() >= 0;
  }

  /** An edge on IRQ n was latched and not yet acknowledged (IRR bit set). */
  requested(n: number): boolean {
    return n < 8 ? (this.master.irr & (1 << n)) !== 0 : (this.slave.irr & (1 << (n - 8))) !== 0;
  }

  acknowledge(): number {
    const m = this.master.pending();
    let vector: number;
    if (m < 0) {
      // The request vanished before INTA: the master answers with IR7 and sets no ISR bit.
      vector = this.master.vectorBase | 7;
    } else if (m === 2 && !this.master.single) {
      const s = this.slave.pending();
      if (s >= 0) {
        this.slave.acknowledge(s);
        vector = this.slave.vectorBase | s;
      } else {
        vector = this.slave.vectorBase | 7;
      }
      this.master.acknowledge(2);
    } else {
      this.master.acknowledge(m);
      vector = this.master.vectorBase | m;
    }
    this.update();
    return vector;
  }

  private readPort(pic: Pic8259, off: number): number {
    if (off === 1) return pic.imr;
    if (pic.poll) {
      pic.poll = false;
      const n = pic.pending();
      if (n < 0) return 0;
      pic.acknowledge(n);
      // Polling the master for a cascaded request also polls the slave.
      if (pic === this.master && n === 2) {
        const s = this.slave.pending();
        if (s >= 0) this.slave.acknowledge(s);
      }
      this.update();
      return 0x80 | n;
    }
    return pic.readStatus();
  }

  private writePort(pic: Pic8259, off: number, v: number): void {
    if (off === 0) pic.writeCommand(v);
    else pic.writeData(v);
    this.update();
  }

  reset(_kind: ResetKind): void {
    this.master.reset();
    this.slave.reset();
    this.master.elcr = 0;
    this.slave.elcr = 0;
  }

  static readonly STATE: StateSchema<I8259Pair> = defineState<I8259Pair>({
    id: 'i8259',
    version: 1,
    fields: [
      { name: 'master', type: 'record', since: 1, record: CHIP_STATE, of: (p) => p.master },
      { name: 'slave', type: 'record', since: 1, record: CHIP_STATE, of: (p) => p.slave },
    ],
  });

  /** The schema save and load follow; the contract test reads it too. */
  get stateSchema(): StateSchema<unknown> {
    return I8259Pair.STATE as StateSchema<unknown>;
  }

  saveState(): StateRecord {
    return saveBySchema(I8259Pair.STATE, this);
  }

  loadState(s: StateRecord, version: number): void {
    loadBySchema(I8259Pair.STATE, this, s, version);
  }

  reassertInterrupts(): void {
    this.update();
  }
}
