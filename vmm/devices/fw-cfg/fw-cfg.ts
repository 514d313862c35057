// QEMU's firmware configuration device (fw_cfg), legacy I/O interface: how the host hands SeaBIOS
// (the stock Debian bios.bin, built for QEMU) what it cannot probe: the VGA option ROM of an ISA
// VGA card ("vgaroms/"), the CPU count, and later ACPI tables and the boot order. Hostbox models
// it because the firmware it runs expects it, as QEMU's i440FX machine provides it.
//
// Reference: QEMU docs/specs/fw_cfg.rst. Selector register: port 0x510, 16 bits, little-endian;
// selecting an item rewinds it. Data register: port 0x511, 8 bits; each read returns the next byte
// and reads past the end return 0; writes are ignored (as in QEMU since 2.4). Item 0x0000 is the
// signature "QEMU", 0x0001 the feature bits (bit 0: this traditional interface; DMA is not offered),
// 0x0019 the file directory: a big-endian count, then per file a big-endian size, selector and
// reserved word and a 56-byte NUL-padded name. File selectors start at 0x0020.

import type { AccessSize, IoRange } from '../../bus.ts';
import type { Device, ResetKind, StateRecord } from '../../device.ts';
import { defineState, loadBySchema, saveBySchema, type StateSchema } from '../../state/schema.ts';

export const FW_CFG_PORT_SEL = 0x510;
export const FW_CFG_PORT_DATA = 0x511;

export const FW_CFG_SIGNATURE = 0x0000;
export const FW_CFG_ID = 0x0001;
export const FW_CFG_RAM_SIZE = 0x0003;
export const FW_CFG_NOGRAPHIC = 0x0004;
export const FW_CFG_NB_CPUS = 0x0005;
export const FW_CFG_MAX_CPUS = 0x000f;
export const FW_CFG_FILE_DIR = 0x0019;
export const FW_CFG_FILE_FIRST = 0x0020;
const FILE_NAME_LEN = 56;
const MAX_FILES = 0x100;

export class FwCfg implements Device {
  readonly stateId = 'fw-cfg';
  static readonly STATE: StateSchema<FwCfg> = defineState<FwCfg>({
    id: 'fw-cfg',
    version: 1,
    fields: [
      { name: 'selector', type: 'u16', since: 1 },
      { name: 'offset', type: 'u32', since: 1 },
    ],
  });
  readonly stateVersion = FwCfg.STATE.version;
  readonly ioRanges: IoRange[];
  private readonly items = new Map<number, Uint8Array>();
  private readonly files: { name: string; select: number }[] = [];
  private selector = 0;
  private offset = 0;

  constructor() {
    this.items.set(FW_CFG_SIGNATURE, new TextEncoder().encode('QEMU'));
    this.items.set(FW_CFG_ID, le(1, 4));
    this.updateDirectory();
    // One range for both registers: a 16-bit access at 0x510 is the selector, a byte at 0x511 the data.
    this.ioRanges = [
      {
        name: 'fw_cfg',
        base: FW_CFG_PORT_SEL,
        length: 2,
        sizes: [1, 2],
        read: (off: number, size: AccessSize) => (off === 1 && size === 1 ? this.readData() : size === 2 ? 0xffff : 0xff),
        write: (off: number, size: AccessSize, v: number) => {
          if (off === 0) this.select(size === 2 ? v & 0xffff : v & 0xff);
        },
      },
    ];
  }

  /** A numbered item (the legacy keys below 0x20): little-endian integers in QEMU's layout. */
  setItem(key: number, data: Uint8Array): void {
    if (key >= FW_CFG_FILE_FIRST) throw new Error(`fw_cfg key 0x${key.toString(16)} is in the file range`);
    this.items.set(key, data);
  }

  setInt(key: number, value: number, bytes: 2 | 4 | 8): void {
    this.setItem(key, le(value, bytes));
  }

  /** A named file in the directory (names as QEMU uses them: "vgaroms/...", "etc/...", "bootorder"). */
  addFile(name: string, data: Uint8Array): void {
    if (new TextEncoder().encode(name).length >= FILE_NAME_LEN) throw new Error(`fw_cfg file name "${name}" is too long`);
    const existing = this.files.find((f) => f.name === name);
    if (existing) {
      this.items.set(existing.select, data);
      this.updateDirectory();
      return;
    }
    if (this.files.length >= MAX_FILES) throw new Error('fw_cfg: too many files');
    const select = FW_CFG_FILE_FIRST + this.files.length;
    this.files.push({ name, select });
    this.items.set(select, data);
    this.updateDirectory();
  }

  private updateDirectory(): void {
    // QEMU keeps the directory sorted by name; SeaBIOS does not care, but a reader comparing does.
    const sorted = [...this.files].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    const dir = new Uint8Array(4 + sorted.length * 64);
    const dv = new DataView(dir.buffer);
    dv.setUint32(0, sorted.length);
    sorted.forEach((f, i) => {
      const at = 4 + i * 64;
      dv.setUint32(at, this.items.get(f.select)!.length);
      dv.setUint16(at + 4, f.select);
      dir.set(new TextEncoder().encode(f.name), at + 8);
    });
    this.items.set(FW_CFG_FILE_DIR, dir);
  }

  private select(key: number): void {
    this.selector = key;
    this.offset = 0;
  }

  private readData(): number {
    // Bit 14 marks a write selector and bit 15 the architecture-specific keys: neither holds data here.
    const item = this.items.get(this.selector);
    if (!item || this.offset >= item.length) return 0;
    return item[this.offset++]!;
  }

  reset(_kind: ResetKind): void {
    this.selector = 0;
    this.offset = 0;
  }

  /** The schema save and load follow; the contract test reads it too. */
  get stateSchema(): StateSchema<unknown> {
    return FwCfg.STATE as StateSchema<unknown>;
  }

  saveState(): StateRecord {
    return saveBySchema(FwCfg.STATE, this);
  }

  loadState(s: StateRecord, version: number): void {
    loadBySchema(FwCfg.STATE, this, s, version);
  }
}

function le(value: number, bytes: number): Uint8Array {
  const out = new Uint8Array(bytes);
  let v = BigInt(value);
  for (let i = 0; i < bytes; i++, v >>= 8n) out[i] = Number(v & 0xffn);
  return out;
}
