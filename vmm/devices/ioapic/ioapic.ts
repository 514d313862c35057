// Intel 82093AA I/O APIC (datasheet 290566): 24 interrupt inputs, each with a redirection entry that
// sends it to the local APIC as a message: vector, delivery mode, destination, edge or level.
//
// Registers, through an index/data pair at `base` (0xFEC00000 on a PC):
//   +00h IOREGSEL  (bits 7:0 select the register)      +10h IOWIN  (the selected register, 32 bits)
//   00h IOAPICID (bits 27:24)   01h IOAPICVER (11h, 17h = 24 entries)   02h IOAPICARB (ro)
//   10h-3Fh the redirection table, two registers an entry (low: vector 7:0, delivery mode 10:8,
//   destination mode 11, delivery status 12 ro, polarity 13, remote IRR 14 ro, trigger mode 15,
//   mask 16; high: destination 63:56).
//
// An edge on an unmasked input sends its message once; an edge on a masked input is lost (datasheet:
// "not delivered or held pending"). A level input sends its message, sets Remote IRR, and sends again
// only after the local APIC's EOI for that vector clears it while the input is still asserted. The
// inputs here are the ISA and PCI lines as devices drive them (asserted or not), so the polarity bit
// is stored but no line is inverted by it.
//
// Wiring on this board, as QEMU's PC does it: ISA IRQ n to input n, except the 8254's IRQ 0, which
// goes to input 2 (where the cascade would be); PCI INTx through PIIX3's PIRQ routing to the ISA IRQ
// it selects. Accesses other than 32-bit ones at 00h and 10h read 0 and are ignored.

import type { AccessSize } from '../../bus.ts';
import type { ResetKind } from '../../device.ts';
import type { IrqLine } from '../../irq.ts';
import type { MmioRange } from '../../memory.ts';
import { defineState, type StateSchema } from '../../state/schema.ts';

export const IOAPIC_DEFAULT_BASE = 0xfec00000;
export const IOAPIC_PINS = 24;
const VERSION = ((IOAPIC_PINS - 1) << 16) | 0x11;

export const RTE_MASKED = 1 << 16;
export const RTE_LEVEL = 1 << 15;
const RTE_REMOTE_IRR = 1 << 14;
/** What software may write in an entry's low half (remote IRR and delivery status are read-only). */
const RTE_LOW_WRITABLE = 0x1afff;

/** What a redirection entry sends: the local APICs on the bus decide whether it is theirs. */
export interface ApicMessage {
  vector: number;
  /** 0 fixed, 1 lowest priority, 2 SMI, 4 NMI, 5 INIT, 7 ExtINT. */
  deliveryMode: number;
  logical: boolean;
  destination: number;
  level: boolean;
}

export interface ApicBus {
  /** Delivers a message to the local APICs it addresses. */
  deliver(m: ApicMessage): void;
}

export class IoApic {
  static readonly STATE: StateSchema<IoApic> = defineState<IoApic>({
    id: 'ioapic',
    // Versioned with its owner, the board's section: the I/O APIC came with the board's version 2.
    version: 2,
    fields: [
      { name: 'select', type: 'u8', since: 2 },
      { name: 'id', type: 'u8', since: 2, mask: 0x0f },
      { name: 'low', type: 'u32[]', since: 2, length: IOAPIC_PINS },
      { name: 'high', type: 'u32[]', since: 2, length: IOAPIC_PINS },
      // The inputs' levels, so that lines driven again after a load are not taken for new edges.
      { name: 'levels', type: 'x32', since: 2, mask: (1 << IOAPIC_PINS) - 1 },
    ],
    postLoad: (a) => {
      for (let i = 0; i < IOAPIC_PINS; i++) {
        a.low[i] = a.low[i]! & (RTE_LOW_WRITABLE | RTE_REMOTE_IRR);
        a.high[i] = (a.high[i]! & 0xff000000) >>> 0;
      }
    },
  });

  readonly mmio: MmioRange;
  private select = 0;
  private id = 0;
  private readonly low = new Uint32Array(IOAPIC_PINS);
  private readonly high = new Uint32Array(IOAPIC_PINS);
  /** Bit n: input n asserted. */
  private levels = 0;

  constructor(
    private readonly bus: ApicBus,
    base = IOAPIC_DEFAULT_BASE,
  ) {
    this.mmio = {
      name: 'ioapic',
      base,
      length: 0x1000,
      read: (offset, size) => this.read(offset, size),
      write: (offset, size, value) => this.write(offset, size, value),
    };
    this.reset('power');
  }

  reset(_kind: ResetKind): void {
    this.select = 0;
    this.id = 0;
    this.low.fill(RTE_MASKED);
    this.high.fill(0);
  }

  /** Input `pin` as a line a device drives. */
  input(pin: number): IrqLine {
    return {
      raise: () => this.setLevel(pin, true),
      lower: () => this.setLevel(pin, false),
    };
  }

  private setLevel(pin: number, on: boolean): void {
    const bit = 1 << pin;
    const was = (this.levels & bit) !== 0;
    if (on) this.levels |= bit;
    else this.levels &= ~bit;
    if (on && (!was || this.low[pin]! & RTE_LEVEL)) this.service(pin, !was);
  }

  /** Sends pin's message if it should go now: `edge` is true on a rising edge. */
  private service(pin: number, edge: boolean): void {
    const lo = this.low[pin]!;
    if (lo & RTE_MASKED) return;
    const level = (lo & RTE_LEVEL) !== 0;
    if (level) {
      if (!(this.levels & (1 << pin)) || lo & RTE_REMOTE_IRR) return;
      this.low[pin] = lo | RTE_REMOTE_IRR;
    } else if (!edge) return;
    this.bus.deliver({
      vector: lo & 0xff,
      deliveryMode: (lo >>> 8) & 7,
      logical: (lo & (1 << 11)) !== 0,
      destination: this.high[pin]! >>> 24,
      level,
    });
  }

  /** The local APIC's EOI for a level-triggered vector: clears Remote IRR of the entries using it. */
  endOfInterrupt(vector: number): void {
    for (let pin = 0; pin < IOAPIC_PINS; pin++) {
      const lo = this.low[pin]!;
      if ((lo & 0xff) !== vector || !(lo & RTE_REMOTE_IRR)) continue;
      this.low[pin] = lo & ~RTE_REMOTE_IRR;
      this.service(pin, false);
    }
  }

  readRegister(index: number): number {
    if (index === 0) return (this.id << 24) >>> 0;
    if (index === 1) return VERSION;
    if (index === 2) return (this.id << 24) >>> 0; // arbitration ID: loaded from the APIC ID
    if (index >= 0x10 && index < 0x10 + 2 * IOAPIC_PINS) {
      const pin = (index - 0x10) >>> 1;
      // Delivery status (bit 12) reads idle: a message is delivered at once.
      return index & 1 ? this.high[pin]! : this.low[pin]!;
    }
    return 0;
  }

  writeRegister(index: number, value: number): void {
    if (index === 0) {
      this.id = (value >>> 24) & 0x0f;
      return;
    }
    if (index < 0x10 || index >= 0x10 + 2 * IOAPIC_PINS) return;
    const pin = (index - 0x10) >>> 1;
    if (index & 1) {
      this.high[pin] = (value & 0xff000000) >>> 0;
      return;
    }
    let lo = (this.low[pin]! & RTE_REMOTE_IRR) | (value & RTE_LOW_WRITABLE);
    // Remote IRR means nothing for an edge-triggered entry.
    if (!(lo & RTE_LEVEL)) lo &= ~RTE_REMOTE_IRR;
    this.low[pin] = lo >>> 0;
    // An unmasked level input that is asserted sends now (an edge seen while masked stays lost).
    if (lo & RTE_LEVEL) this.service(pin, false);
  }

  private read(offset: number, size: AccessSize): number {
    if (size !== 4) return 0;
    if (offset === 0x00) return this.select;
    if (offset === 0x10) return this.readRegister(this.select) >>> 0;
    return 0;
  }

  private write(offset: number, size: AccessSize, value: number): void {
    if (size !== 4) return;
    if (offset === 0x00) this.select = value & 0xff;
    else if (offset === 0x10) this.writeRegister(this.select, value >>> 0);
  }
}
