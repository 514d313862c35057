// PCI bus 0 of a PC: the configuration spaces of its functions and the INTx wires to PIRQ A-D.
//
// Reference: PCI Local Bus Specification 2.3, 6.1 configuration space organization, 6.2.1
// device identification, 6.2.2 command register, 6.2.3 status register (RW1C error bits,
// bit 3 Interrupt Status), 6.2.4 miscellaneous (interrupt line/pin), 6.2.5 base address
// registers (sizing by writing all ones: the address bits below the size read back 0), 6.2.5.2
// expansion ROM BAR. The slot-to-PIRQ rotation is the one PCI-to-PCI bridges use for their
// secondary bus (device number + pin, modulo 4), which PIIX boards apply to bus 0.
//
// A function's configuration space is 256 bytes with a per-bit mask of what the guest may write
// and a per-bit mask of RW1C bits. Owners describe their registers once (define/defineBar); the
// guest path enforces the masks, so a device never sees a write to a read-only bit.

import type { StateRecord } from '../../device.ts';
import { defineState, loadBySchema, saveBySchema, type StateSchema } from '../../state/schema.ts';

// Type 0 header offsets (PCI 2.3 figure 6-1)
export const PCI_VENDOR_ID = 0x00;
export const PCI_DEVICE_ID = 0x02;
export const PCI_COMMAND = 0x04;
export const PCI_STATUS = 0x06;
export const PCI_REVISION_ID = 0x08;
export const PCI_CLASS_PROG = 0x09;
export const PCI_CLASS_DEVICE = 0x0a;
export const PCI_CACHE_LINE_SIZE = 0x0c;
export const PCI_LATENCY_TIMER = 0x0d;
export const PCI_HEADER_TYPE = 0x0e;
export const PCI_BASE_ADDRESS_0 = 0x10;
export const PCI_SUBSYSTEM_VENDOR_ID = 0x2c;
export const PCI_SUBSYSTEM_ID = 0x2e;
export const PCI_ROM_ADDRESS = 0x30;
export const PCI_INTERRUPT_LINE = 0x3c;
export const PCI_INTERRUPT_PIN = 0x3d;

// Command register
export const PCI_COMMAND_IO = 0x0001;
export const PCI_COMMAND_MEMORY = 0x0002;
export const PCI_COMMAND_MASTER = 0x0004;
export const PCI_COMMAND_SPECIAL = 0x0008;
export const PCI_COMMAND_INVALIDATE = 0x0010;
export const PCI_COMMAND_VGA_PALETTE = 0x0020;
export const PCI_COMMAND_PARITY = 0x0040;
export const PCI_COMMAND_SERR = 0x0100;
export const PCI_COMMAND_FAST_BACK = 0x0200;
export const PCI_COMMAND_INTX_DISABLE = 0x0400;

// Status register
export const PCI_STATUS_INTERRUPT = 0x0008;
export const PCI_STATUS_CAP_LIST = 0x0010;
export const PCI_STATUS_DEVSEL_MEDIUM = 0x0200;
/** Master data parity error, signaled/received target abort, received master abort, SERR, parity error. */
export const PCI_STATUS_RW1C = 0xf900;

export const PCI_HEADER_TYPE_MULTI_FUNCTION = 0x80;

export const PCI_BASE_ADDRESS_SPACE_IO = 0x01;
export const PCI_BASE_ADDRESS_MEM_PREFETCH = 0x08;
export const PCI_ROM_ADDRESS_ENABLE = 0x01;

export interface PciIdentity {
  readonly vendorId: number;
  readonly deviceId: number;
  /** Base class << 16 | subclass << 8 | programming interface. */
  readonly classCode: number;
  readonly revision?: number;
  readonly headerType?: number;
  readonly subsystemVendorId?: number;
  readonly subsystemId?: number;
  /** 0 none, 1-4 INTA#-INTD#. */
  readonly interruptPin?: number;
  /** Command bits the device implements (default: I/O, memory, bus master, parity, SERR, INTx disable). */
  readonly commandMask?: number;
  readonly status?: number;
}

export interface PciBarSpec {
  readonly kind: 'io' | 'mem';
  /** Bytes decoded; a power of two (at least 4 for I/O, 16 for memory, 2 KiB for a ROM). */
  readonly size: number;
  readonly prefetchable?: boolean;
}

/** Index of the expansion ROM BAR in defineBar/barAddress. */
export const PCI_ROM_BAR = 6;

export class PciConfigSpace {
  readonly bytes = new Uint8Array(256);
  /** Bits the guest may change. */
  readonly writable = new Uint8Array(256);
  /** Bits the guest clears by writing 1 (RW1C). */
  readonly clearOnWrite = new Uint8Array(256);
  private readonly defaults = new Uint8Array(256);
  private readonly defaultWritable = new Uint8Array(256);
  private readonly bars: (PciBarSpec | null)[] = [null, null, null, null, null, null, null];
  private bus: PciBus | null = null;
  private devfn = -1;
  /** Called after the guest wrote [offset, offset + size): remap BARs, react to command bits. */
  onWrite: ((offset: number, size: number) => void) | null = null;

  constructor(id: PciIdentity) {
    this.define(PCI_VENDOR_ID, 2, id.vendorId);
    this.define(PCI_DEVICE_ID, 2, id.deviceId);
    this.define(PCI_COMMAND, 2, 0, id.commandMask ?? 0x0547);
    this.define(PCI_STATUS, 2, id.status ?? PCI_STATUS_DEVSEL_MEDIUM);
    this.clearOnWrite[PCI_STATUS + 1] = PCI_STATUS_RW1C >> 8;
    this.define(PCI_REVISION_ID, 1, id.revision ?? 0);
    this.define(PCI_CLASS_PROG, 3, id.classCode);
    this.define(PCI_CACHE_LINE_SIZE, 1, 0, 0xff);
    this.define(PCI_LATENCY_TIMER, 1, 0, 0xff);
    this.define(PCI_HEADER_TYPE, 1, id.headerType ?? 0);
    this.define(PCI_SUBSYSTEM_VENDOR_ID, 2, id.subsystemVendorId ?? 0);
    this.define(PCI_SUBSYSTEM_ID, 2, id.subsystemId ?? 0);
    const pin = id.interruptPin ?? 0;
    this.define(PCI_INTERRUPT_LINE, 1, 0, pin ? 0xff : 0);
    this.define(PCI_INTERRUPT_PIN, 1, pin & 7);
  }

  /** Sets a register's reset value and which of its bits the guest may write (little-endian). */
  define(offset: number, size: number, value: number, writableMask = 0): void {
    for (let i = 0; i < size; i++) {
      const o = offset + i;
      const v = Math.floor(value / 2 ** (8 * i)) & 0xff;
      const m = Math.floor(writableMask / 2 ** (8 * i)) & 0xff;
      this.bytes[o] = this.defaults[o] = v;
      this.writable[o] = this.defaultWritable[o] = m;
    }
  }

  defineBar(index: number, spec: PciBarSpec): void {
    const size = spec.size;
    const rom = index === PCI_ROM_BAR;
    const min = rom ? 2048 : spec.kind === 'io' ? 4 : 16;
    if (!Number.isInteger(index) || index < 0 || index > 6) throw new Error(`PCI BAR index ${index} is not 0-5 or 6 (ROM)`);
    if (size < min || size > 0x80000000 || (size & (size - 1)) !== 0)
      throw new Error(`PCI BAR ${index} size ${size} is not a power of two of at least ${min}`);
    if (rom && spec.kind !== 'mem') throw new Error('the PCI expansion ROM BAR decodes memory');
    if (!rom && spec.kind === 'io' && size > 256) throw new Error(`PCI I/O BAR ${index} of ${size} bytes is larger than PCI allows`);
    this.bars[index] = spec;
    const offset = rom ? PCI_ROM_ADDRESS : PCI_BASE_ADDRESS_0 + 4 * index;
    // I/O BARs decode 32 bits, as QEMU's devices do: SeaBIOS (built for QEMU) sizes a BAR from all
    // 32 bits and would take a 16-bit decoder's zero upper half for a 4 GiB request.
    const addrMask = (~(size - 1) >>> 0) & (rom ? 0xfffff800 : spec.kind === 'io' ? 0xfffffffc : 0xfffffff0);
    const typeBits = rom ? 0 : spec.kind === 'io' ? PCI_BASE_ADDRESS_SPACE_IO : spec.prefetchable ? PCI_BASE_ADDRESS_MEM_PREFETCH : 0;
    this.define(offset, 4, typeBits, (addrMask | (rom ? PCI_ROM_ADDRESS_ENABLE : 0)) >>> 0);
  }

  /** The address a BAR decodes, or null while it is not decoded (space disabled, ROM disabled, unassigned). */
  barAddress(index: number): number | null {
    const spec = this.bars[index];
    if (!spec) return null;
    const rom = index === PCI_ROM_BAR;
    const raw = this.read(rom ? PCI_ROM_ADDRESS : PCI_BASE_ADDRESS_0 + 4 * index, 4);
    const cmd = this.read(PCI_COMMAND, 2);
    // An I/O BAR placed above the 64 KiB port space decodes nothing on an x86 PC.
    if (spec.kind === 'io') return cmd & PCI_COMMAND_IO && (raw & 0xfffc) !== 0 && raw >>> 0 <= 0xffff ? raw & 0xfffc : null;
    if (!(cmd & PCI_COMMAND_MEMORY)) return null;
    if (rom && !(raw & PCI_ROM_ADDRESS_ENABLE)) return null;
    const addr = (raw & (rom ? 0xfffff800 : 0xfffffff0)) >>> 0;
    return addr === 0 ? null : addr;
  }

  barSpec(index: number): PciBarSpec | null {
    return this.bars[index] ?? null;
  }

  get command(): number {
    return this.read(PCI_COMMAND, 2);
  }

  get busMaster(): boolean {
    return (this.command & PCI_COMMAND_MASTER) !== 0;
  }

  /** Little-endian read of 1, 2 or 4 bytes; bytes past 0xFF read as all ones. */
  read(offset: number, size: number): number {
    let v = 0;
    for (let i = size - 1; i >= 0; i--) {
      const o = offset + i;
      v = v * 256 + (o >= 0 && o < 256 ? this.bytes[o]! : 0xff);
    }
    return v;
  }

  /** A guest write: writable bits take the value, RW1C bits clear where a 1 is written. */
  write(offset: number, size: number, value: number): void {
    for (let i = 0; i < size; i++) {
      const o = offset + i;
      if (o < 0 || o >= 256) continue;
      const v = (value >>> (8 * i)) & 0xff;
      const m = this.writable[o]!;
      this.bytes[o] = ((this.bytes[o]! & ~m) | (v & m)) & ~(v & this.clearOnWrite[o]!);
    }
    this.onWrite?.(offset, size);
    // Command bit 10 (INTx disable) gates the pin.
    if (offset <= PCI_COMMAND + 1 && offset + size > PCI_COMMAND + 1) this.bus?.intxChanged();
  }

  /** Drives the function's INTx pin (level); reflected in status bit 3 and gated by command bit 10. */
  setIntx(level: boolean): void {
    const before = this.bytes[PCI_STATUS]!;
    this.bytes[PCI_STATUS] = level ? before | PCI_STATUS_INTERRUPT : before & ~PCI_STATUS_INTERRUPT;
    if (this.bytes[PCI_STATUS] !== before) this.bus?.intxChanged();
  }

  /** True while the pin is asserted and not disabled by the command register. */
  get intxAsserted(): boolean {
    return (
      (this.bytes[PCI_STATUS]! & PCI_STATUS_INTERRUPT) !== 0 &&
      (this.read(PCI_COMMAND, 2) & PCI_COMMAND_INTX_DISABLE) === 0 &&
      this.interruptPin >= 1 &&
      this.interruptPin <= 4
    );
  }

  get interruptPin(): number {
    return this.bytes[PCI_INTERRUPT_PIN]!;
  }

  /** The bus slot (device number) this function sits in, or -1 before addFunction. */
  get device(): number {
    return this.devfn < 0 ? -1 : this.devfn >> 3;
  }

  /** Back to the defined reset values; the INTx pin drops. */
  reset(): void {
    const wasAsserted = this.intxAsserted;
    this.bytes.set(this.defaults);
    this.writable.set(this.defaultWritable);
    if (wasAsserted) this.bus?.intxChanged();
  }

  /** @internal called by PciBus.addFunction. */
  attach(bus: PciBus, devfn: number): void {
    if (this.bus) throw new Error('this PCI configuration space is already on a bus');
    this.bus = bus;
    this.devfn = devfn;
  }

  saveState(): StateRecord {
    return saveBySchema(PCI_CONFIG_STATE, this);
  }

  /** Restores the bytes; like every loadState it leaves interrupt lines to reassertInterrupts. */
  loadState(s: StateRecord): void {
    loadBySchema(PCI_CONFIG_STATE, this, s, PCI_CONFIG_STATE.version);
  }
}

/** A function's configuration space as saved: its bytes and which bits the guest may write (BAR sizing). */
export const PCI_CONFIG_STATE: StateSchema<PciConfigSpace> = defineState<PciConfigSpace>({
  id: 'pci config',
  version: 1,
  fields: [
    { name: 'bytes', type: 'bytes', since: 1, length: 256 },
    { name: 'writable', type: 'bytes', since: 1, length: 256 },
  ],
});

/** PIRQ line (0-3 = A-D) an INTx pin (1-4) of a slot on bus 0 is wired to, as on PIIX boards. */
export function pirqForSlot(slot: number, pin: number): number {
  // Slot 1 INTA is PIRQA; each slot shifts by one, the PCI-to-PCI bridge swizzle applied to bus 0.
  return (pin - 1 + slot - 1) & 3;
}

export class PciBus {
  private readonly functions: (PciConfigSpace | undefined)[] = new Array(256);
  private readonly pirq = [false, false, false, false];
  /** The PIRQ router (PIIX3) listens here for PIRQ A-D level changes. */
  onPirqChange: ((pirq: number, level: boolean) => void) | null = null;

  addFunction(dev: number, fn: number, config: PciConfigSpace): void {
    if (!Number.isInteger(dev) || dev < 0 || dev > 31 || !Number.isInteger(fn) || fn < 0 || fn > 7)
      throw new Error(`PCI address 00:${dev}.${fn} is not a device 0-31, function 0-7`);
    const devfn = (dev << 3) | fn;
    if (this.functions[devfn]) throw new Error(`PCI slot 00:${hex2(dev)}.${fn} is already taken`);
    config.attach(this, devfn);
    this.functions[devfn] = config;
    this.intxChanged();
  }

  function(dev: number, fn: number): PciConfigSpace | undefined {
    return this.functions[((dev & 31) << 3) | (fn & 7)];
  }

  /** A configuration read as a host bridge issues it; absent functions answer all ones (master abort). */
  configRead(bus: number, devfn: number, offset: number, size: 1 | 2 | 4): number {
    const f = bus === 0 ? this.functions[devfn & 0xff] : undefined;
    if (!f) return size === 4 ? 0xffffffff : size === 2 ? 0xffff : 0xff;
    return f.read(offset & 0xff, size);
  }

  configWrite(bus: number, devfn: number, offset: number, size: 1 | 2 | 4, value: number): void {
    const f = bus === 0 ? this.functions[devfn & 0xff] : undefined;
    f?.write(offset & 0xff, size, value);
  }

  /** Current level of PIRQ A-D (wired-OR of every INTx routed to it). */
  pirqLevel(pirq: number): boolean {
    return this.pirq[pirq & 3]!;
  }

  /** Recomputes PIRQ A-D from every function's INTx and reports changes. */
  intxChanged(): void {
    const next = [false, false, false, false];
    for (let devfn = 0; devfn < 256; devfn++) {
      const f = this.functions[devfn];
      if (f?.intxAsserted) next[pirqForSlot(devfn >> 3, f.interruptPin)] = true;
    }
    for (let p = 0; p < 4; p++) {
      if (next[p] === this.pirq[p]) continue;
      this.pirq[p] = next[p]!;
      this.onPirqChange?.(p, next[p]!);
    }
  }
}

function hex2(n: number): string {
  return n.toString(16).padStart(2, '0');
}
