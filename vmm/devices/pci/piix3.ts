// Intel 82371SB PIIX3, function 0: the PCI-to-ISA bridge at 00:01.0, with its PIRQ router and
// the Reset Control register at I/O port 0xCF9.
//
// Reference: Intel 82371FB (PIIX) and 82371SB (PIIX3) PCI ISA IDE Xcelerator datasheet, the
// PCI-to-ISA bridge configuration registers (VID 8086, DID 7000, CLASSC 060100, HEDT 80h
// multi-function), PIRQRC[A:D] (60h-63h): bit 7 IRQROUTEN (1 = routing disabled), bits
// 3:0 IRQ; IRQ 0, 1, 2, 8 and 13 are reserved; the Reset Control register at I/O CF9h: bit 1
// SRST system reset, bit 2 RCPU resets the CPU on a 0->1 transition. The ISA IRQs a PIRQ is routed to must be programmed level
// sensitive in the ELCR (the 8259's business, not this module's).

import type { Device, ResetKind, StateRecord } from '../../device.ts';
import { defineState, loadBySchema, saveBySchema, type StateSchema } from '../../state/schema.ts';
import type { IrqLine } from '../../irq.ts';
import { PCI_CONFIG_STATE, PCI_HEADER_TYPE_MULTI_FUNCTION, PciConfigSpace, type PciBus } from './pci-bus.ts';

export const PIIX3_VENDOR_ID = 0x8086;
export const PIIX3_DEVICE_ID = 0x7000;
export const PIIX3_PIRQRC = 0x60;
export const PIRQRC_IRQROUTEN_DISABLE = 0x80;
export const PIIX3_RC_PORT = 0xcf9;
export const RC_SRST = 0x02;
export const RC_RCPU = 0x04;

/** ISA IRQs a PIRQ may be steered to (PIRQRC bits 3:0). */
const ROUTABLE = new Set([3, 4, 5, 6, 7, 9, 10, 11, 12, 14, 15]);

export interface Piix3Options {
  /** Slot on bus 0 (default 1). */
  readonly device?: number;
  /** Reset Control register at 0xCF9: 'hard' with SRST set, 'soft' (CPU only) without. */
  readonly requestReset?: (kind: 'hard' | 'soft') => void;
}

export class Piix3 implements Device {
  readonly stateId = 'piix3';
  static readonly STATE: StateSchema<Piix3> = defineState<Piix3>({
    id: 'piix3',
    version: 1,
    fields: [
      { name: 'config', type: 'record', since: 1, record: PCI_CONFIG_STATE, of: (d) => d.config },
      { name: 'rc', type: 'u8', since: 1, mask: RC_SRST },
    ],
  });
  readonly stateVersion = Piix3.STATE.version;
  readonly config: PciConfigSpace;
  /** The Reset Control register; the host bridge decodes byte accesses to 0xCF9 into it. */
  readonly resetControl: { read(): number; write(value: number): void };
  private rc = 0;
  private readonly lines: (IrqLine | undefined)[] = new Array(16);
  private readonly isaLevel = new Array<boolean>(16).fill(false);

  constructor(
    private readonly bus: PciBus,
    private readonly isaIrq: (n: number) => IrqLine,
    private readonly options: Piix3Options = {},
  ) {
    const cfg = new PciConfigSpace({
      vendorId: PIIX3_VENDOR_ID,
      deviceId: PIIX3_DEVICE_ID,
      classCode: 0x060100,
      headerType: PCI_HEADER_TYPE_MULTI_FUNCTION,
      commandMask: 0x0000,
    });
    cfg.define(0x04, 2, 0x0007);
    // Device-specific registers 40h-FFh: kept as written (ISA clock, XBCS, TOM, MBIRQ, APICBASE,
    // SMI control...); none of them changes what this model does.
    for (let o = 0x40; o < 0x100; o++) cfg.define(o, 1, 0, 0xff);
    cfg.define(0x4c, 1, 0x4d, 0x7f); // IORT
    cfg.define(0x4e, 2, 0x0003, 0x07ff); // XBCS
    cfg.define(PIIX3_PIRQRC, 4, 0x80808080, 0x8f8f8f8f);
    cfg.define(0x69, 1, 0x02, 0xfe); // TOM
    cfg.define(0x70, 2, 0x8080, 0xefef); // MBIRQ0/1
    cfg.define(0x76, 2, 0x0c0c, 0x8f8f); // MBDMA0/1
    cfg.define(0x78, 2, 0x0002, 0xffff); // PCSC
    cfg.define(0xa0, 1, 0x08, 0x1f); // SMICNTL
    cfg.define(0xa8, 1, 0x0f, 0xff); // FTMR
    cfg.onWrite = (offset, size) => {
      if (offset < PIIX3_PIRQRC + 4 && offset + size > PIIX3_PIRQRC) this.route();
    };
    this.config = cfg;
    bus.addFunction(options.device ?? 1, 0, cfg);
    bus.onPirqChange = () => this.route();
    this.resetControl = {
      read: () => this.rc,
      write: (v) => this.writeRc(v & 0xff),
    };
  }

  /** The ISA IRQ PIRQ A-D (0-3) is steered to, or -1 while its routing is disabled. */
  pirqRoute(pirq: number): number {
    const r = this.config.bytes[PIIX3_PIRQRC + (pirq & 3)]!;
    if (r & PIRQRC_IRQROUTEN_DISABLE) return -1;
    const irq = r & 0x0f;
    return ROUTABLE.has(irq) ? irq : -1;
  }

  private line(n: number): IrqLine {
    let l = this.lines[n];
    if (!l) l = this.lines[n] = this.isaIrq(n);
    return l;
  }

  /** Drives each ISA IRQ as the OR of the PIRQs steered to it. */
  private route(): void {
    const want = new Array<boolean>(16).fill(false);
    for (let p = 0; p < 4; p++) {
      const irq = this.pirqRoute(p);
      if (irq >= 0 && this.bus.pirqLevel(p)) want[irq] = true;
    }
    for (let n = 0; n < 16; n++) {
      if (want[n] === this.isaLevel[n]) continue;
      this.isaLevel[n] = want[n]!;
      if (want[n]) this.line(n).raise();
      else this.line(n).lower();
    }
  }

  private writeRc(v: number): void {
    const before = this.rc;
    this.rc = v & RC_SRST;
    if (v & RC_RCPU && !(before & RC_RCPU)) this.options.requestReset?.(v & RC_SRST ? 'hard' : 'soft');
  }

  reset(kind: ResetKind): void {
    if (kind === 'soft') return;
    this.config.reset();
    this.rc = 0;
    this.route();
  }

  reassertInterrupts(): void {
    this.bus.intxChanged();
    this.route();
    for (let n = 0; n < 16; n++) if (this.isaLevel[n]) this.line(n).raise();
  }

  /** The schema save and load follow; the contract test reads it too. */
  get stateSchema(): StateSchema<unknown> {
    return Piix3.STATE as StateSchema<unknown>;
  }

  saveState(): StateRecord {
    return saveBySchema(Piix3.STATE, this);
  }

  loadState(s: StateRecord, version: number): void {
    loadBySchema(Piix3.STATE, this, s, version);
  }
}
