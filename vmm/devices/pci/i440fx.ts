// Intel 82441FX PMC (the 440FX "Natoma" host bridge) at 00:00.0, and PCI configuration
// mechanism #1 which it decodes at I/O ports 0xCF8 (CONFADD) and 0xCFC-0xCFF (CONFDATA).
//
// Reference: Intel 440FX PCIset 82441FX PMC / 82442FX DBX datasheet, the I/O mapped registers
// (CONFADD: bit 31 configuration enable, 23:16 bus, 15:11 device, 10:8 function, 7:2 register;
// only dword accesses address it, anything else goes to the ISA bus), the PCI configuration
// registers (VID 8086, DID 1237, RID 02, CLASSC 060000, PCICMD 0006, PCISTS 0280), PAM0-6
// (59h-5Fh: read enable / write enable for the BIOS and expansion areas), SMRAM (72h:
// D_OPEN, D_CLS, D_LCK, G_SMRAME, C_BASE_SEG fixed at 010b; D_LCK makes the rest read-only).
// PCI Local Bus Specification 2.3, 3.2.2.3.2 configuration mechanism #1.

import type { AccessSize, IoRange } from '../../bus.ts';
import type { Device, ResetKind, StateRecord } from '../../device.ts';
import { defineState, loadBySchema, saveBySchema, type StateSchema } from '../../state/schema.ts';
import { PCI_CONFIG_STATE, PciConfigSpace, type PciBus } from './pci-bus.ts';

export const I440FX_VENDOR_ID = 0x8086;
export const I440FX_DEVICE_ID = 0x1237;
export const CONFADD_PORT = 0xcf8;
export const CONFDATA_PORT = 0xcfc;
export const CONFADD_ENABLE = 0x80000000;

export const I440FX_PAM0 = 0x59;
export const I440FX_PAM_COUNT = 7;
export const I440FX_SMRAM = 0x72;
export const SMRAM_D_OPEN = 0x40;
export const SMRAM_D_CLS = 0x20;
export const SMRAM_D_LCK = 0x10;
export const SMRAM_G_SMRAME = 0x08;
export const SMRAM_C_BASE_SEG = 0x02;

export interface I440fxOptions {
  /** A byte register sharing the CONFADD dword at 0xCF9 (PIIX3's Reset Control). */
  readonly resetControl?: { read(): number; write(value: number): void };
  /** PAM0-6 changed: the memory map of 0xC0000-0xFFFFF (shadow RAM vs ROM) should follow. */
  readonly onPamChange?: (pam: readonly number[]) => void;
  /** SMRAM register changed (D_OPEN decides whether 0xA0000 reaches SMRAM or VGA). */
  readonly onSmramChange?: (smram: number) => void;
}

export class I440fx implements Device {
  readonly stateId = 'i440fx';
  static readonly STATE: StateSchema<I440fx> = defineState<I440fx>({
    id: 'i440fx',
    version: 1,
    fields: [
      { name: 'confadd', type: 'u32', since: 1, mask: 0x80fffffc },
      { name: 'config', type: 'record', since: 1, record: PCI_CONFIG_STATE, of: (d) => d.config },
    ],
  });
  readonly stateVersion = I440fx.STATE.version;
  readonly config: PciConfigSpace;
  readonly ioRanges: IoRange[];
  private confadd = 0;

  constructor(
    private readonly bus: PciBus,
    private readonly options: I440fxOptions = {},
  ) {
    const cfg = new PciConfigSpace({
      vendorId: I440FX_VENDOR_ID,
      deviceId: I440FX_DEVICE_ID,
      classCode: 0x060000,
      revision: 0x02,
      status: 0x0280,
      commandMask: 0x0140,
    });
    cfg.define(0x04, 2, 0x0006, 0x0140);
    // 50h-FFh: DRAM, cache and error registers are kept as written; only PAM and SMRAM matter here.
    for (let o = 0x40; o < 0x100; o++) cfg.define(o, 1, 0, 0xff);
    cfg.define(I440FX_PAM0, 1, 0x00, 0x30);
    for (let i = 1; i < I440FX_PAM_COUNT; i++) cfg.define(I440FX_PAM0 + i, 1, 0x00, 0x33);
    cfg.define(I440FX_SMRAM, 1, SMRAM_C_BASE_SEG, SMRAM_D_OPEN | SMRAM_D_CLS | SMRAM_D_LCK | SMRAM_G_SMRAME);
    cfg.onWrite = (offset, size) => this.afterWrite(offset, size);
    this.config = cfg;
    bus.addFunction(0, 0, cfg);

    this.ioRanges = [
      {
        name: 'pci CONFADD',
        base: CONFADD_PORT,
        length: 4,
        sizes: [4],
        read: (off, size) => {
          if (size === 4) return this.confadd;
          if (off === 1 && this.options.resetControl) return this.options.resetControl.read() & 0xff;
          return 0xff;
        },
        write: (off, size, v) => {
          if (size === 4) this.confadd = (v & 0x80fffffc) >>> 0;
          else if (off === 1) this.options.resetControl?.write(v & 0xff);
        },
        peek: (off, size) => (size === 4 ? this.confadd : off === 1 && this.options.resetControl ? this.options.resetControl.read() & 0xff : 0xff),
      },
      {
        name: 'pci CONFDATA',
        base: CONFDATA_PORT,
        length: 4,
        sizes: [1, 2, 4],
        read: (off, size) => this.dataRead(off, size),
        write: (off, size, v) => this.dataWrite(off, size, v),
        peek: (off, size) => this.dataRead(off, size),
      },
    ];
  }

  private dataRead(off: number, size: AccessSize): number {
    const a = this.confadd;
    if (!(a & CONFADD_ENABLE)) return size === 4 ? 0xffffffff : size === 2 ? 0xffff : 0xff;
    return this.bus.configRead((a >>> 16) & 0xff, (a >>> 8) & 0xff, (a & 0xfc) + off, size) >>> 0;
  }

  private dataWrite(off: number, size: AccessSize, v: number): void {
    const a = this.confadd;
    if (!(a & CONFADD_ENABLE)) return;
    this.bus.configWrite((a >>> 16) & 0xff, (a >>> 8) & 0xff, (a & 0xfc) + off, size, v);
  }

  private afterWrite(offset: number, size: number): void {
    const end = offset + size;
    const cfg = this.config;
    if (offset <= I440FX_SMRAM && end > I440FX_SMRAM) {
      if (cfg.bytes[I440FX_SMRAM]! & SMRAM_D_LCK) {
        // Locked until the next reset: D_OPEN is forced off and only D_CLS stays writable.
        cfg.bytes[I440FX_SMRAM] = cfg.bytes[I440FX_SMRAM]! & ~SMRAM_D_OPEN;
        cfg.writable[I440FX_SMRAM] = SMRAM_D_CLS;
      }
      this.options.onSmramChange?.(cfg.bytes[I440FX_SMRAM]!);
    }
    if (offset < I440FX_PAM0 + I440FX_PAM_COUNT && end > I440FX_PAM0) this.options.onPamChange?.(this.pam());
  }

  pam(): number[] {
    return Array.from(this.config.bytes.subarray(I440FX_PAM0, I440FX_PAM0 + I440FX_PAM_COUNT));
  }

  get smram(): number {
    return this.config.bytes[I440FX_SMRAM]!;
  }

  reset(kind: ResetKind): void {
    if (kind === 'soft') return;
    this.confadd = 0;
    this.config.reset();
    this.options.onPamChange?.(this.pam());
    this.options.onSmramChange?.(this.smram);
  }

  /** The schema save and load follow; the contract test reads it too. */
  get stateSchema(): StateSchema<unknown> {
    return I440fx.STATE as StateSchema<unknown>;
  }

  saveState(): StateRecord {
    return saveBySchema(I440fx.STATE, this);
  }

  loadState(s: StateRecord, version: number): void {
    loadBySchema(I440fx.STATE, this, s, version);
  }
}
