// The PIIX3 IDE interface (PCI function 1 of the PIIX3, 8086:7010): two legacy-mode channels at the
// ISA addresses every PC driver knows (primary 1F0h-1F7h + 3F6h on IRQ 14, secondary 170h-177h +
// 376h on IRQ 15) and the bus master IDE function that moves sectors to and from guest memory
// through a table of physical region descriptors.
//
// Reference: Intel 82371FB/SB (PIIX/PIIX3) datasheet: IDE configuration registers (class 01 01 80:
// mass storage, IDE, bus master capable; BMIBA at 20h, a 16-byte I/O block; IDETIM at 40h/42h with
// IDE decode enable in bit 15), bus master IDE registers (BMICOM: bit 0 start/stop, bit 3 read/write
// control, 1 = the bus master writes memory; BMISTA: bit 0 active, bit 1 error and bit 2 interrupt
// (both write 1 to clear), bits 5-6 drive DMA capable; BMIDTP: descriptor table pointer, dword
// aligned), and the PRD format (dword 0: region base, bit 0 zero; dword 1: bits 15:1 byte count,
// 0 meaning 64 KiB, bit 31 end of table). When the drive finishes before the table is used up the
// active bit stays set; every memory access goes through PhysicalMemory, so a descriptor pointing
// anywhere touches guest RAM only.

import type { AccessSize, IoBus, IoRange } from '../../bus.ts';
import type { Device, ResetKind, StateRecord } from '../../device.ts';
import { defineState, loadBySchema, saveBySchema, type FieldSpec, type StateSchema } from '../../state/schema.ts';
import type { IrqLine } from '../../irq.ts';
import type { BlockReply, BlockRequest } from '../../machine-api.ts';
import type { PhysicalMemory } from '../../memory.ts';
import { PciConfigSpace, type PciBus } from '../pci/pci-bus.ts';
import { AtaChannel, type BlockIo, type DmaEngine, type DriveSpec } from './ata-channel.ts';

export const PIIX3_IDE_DEVICE_ID = 0x7010;
const BMIBA_BAR = 4;
const IDETIM = 0x40;

const BM_START = 0x01;
const BM_WRITE_MEMORY = 0x08;
const BMS_ACTIVE = 0x01;
const BMS_ERROR = 0x02;
const BMS_INTERRUPT = 0x04;
const BMS_CAPABLE = 0x60;
/** Descriptors followed per table before giving up: a table has at most 64 KiB / 8 entries. */
const MAX_PRDS = 8192;

const LEGACY = [
  { base: 0x1f0, ctrl: 0x3f6, irq: 14 },
  { base: 0x170, ctrl: 0x376, irq: 15 },
] as const;

const bmField = (name: keyof BusMaster & string, type: FieldSpec<BusMaster>['type']): FieldSpec<BusMaster> => ({ name, type, since: 1 });

/** One channel's bus master registers and its walk through the descriptor table. */
class BusMaster implements DmaEngine {
  static readonly STATE: StateSchema<BusMaster> = defineState<BusMaster>({
    id: 'ide bus master',
    version: 1,
    fields: [bmField('command', 'u8'), bmField('status', 'u8'), bmField('table', 'u32'), bmField('prd', 'u32'), bmField('addr', 'u32'), bmField('left', 'u32'), bmField('last', 'bool'), bmField('count', 'u32')],
  });

  command = 0;
  status = 0;
  table = 0;
  // The descriptor in use: where its region continues and how many bytes it has left.
  prd = 0;
  addr = 0;
  left = 0;
  last = false;
  count = 0;
  channel: AtaChannel | null = null;

  constructor(
    private readonly mem: PhysicalMemory,
    private readonly canMaster: () => boolean,
  ) {}

  writeCommand(v: number): void {
    const was = this.command;
    this.command = v & (BM_START | BM_WRITE_MEMORY);
    if (v & BM_START && !(was & BM_START)) {
      this.status |= BMS_ACTIVE;
      this.prd = this.table;
      this.left = 0;
      this.last = false;
      this.count = 0;
      this.channel?.dmaStarted();
    } else if (!(v & BM_START) && was & BM_START) this.status &= ~BMS_ACTIVE;
  }

  writeStatus(v: number): void {
    this.status = (this.status & ~(v & (BMS_ERROR | BMS_INTERRUPT))) & ~BMS_CAPABLE;
    this.status |= v & BMS_CAPABLE;
  }

  ready(toMemory: boolean): boolean {
    return (this.command & BM_START) !== 0 && (this.status & BMS_ACTIVE) !== 0 && ((this.command & BM_WRITE_MEMORY) !== 0) === toMemory && this.canMaster();
  }

  /** Loads the next descriptor; false at the end of the table. */
  private nextRegion(): boolean {
    if (this.last || this.count >= MAX_PRDS) return false;
    const base = this.mem.read32(this.prd) >>> 0;
    const ctl = this.mem.read32(this.prd + 4) >>> 0;
    this.prd = (this.prd + 8) >>> 0;
    this.count++;
    this.addr = base & ~1;
    this.left = ctl & 0xfffe || 0x10000;
    this.last = (ctl & 0x80000000) !== 0;
    return true;
  }

  toMemory(data: Uint8Array): boolean {
    let at = 0;
    while (at < data.length) {
      if (this.left === 0 && !this.nextRegion()) return this.overrun();
      const n = Math.min(this.left, data.length - at);
      this.mem.writeBytes(this.addr, data.subarray(at, at + n));
      this.addr = (this.addr + n) >>> 0;
      this.left -= n;
      at += n;
    }
    return true;
  }

  fromMemory(length: number): Uint8Array | null {
    const out = new Uint8Array(length);
    let at = 0;
    while (at < length) {
      if (this.left === 0 && !this.nextRegion()) {
        this.overrun();
        return null;
      }
      const n = Math.min(this.left, length - at);
      out.set(this.mem.readBytes(this.addr, n), at);
      this.addr = (this.addr + n) >>> 0;
      this.left -= n;
      at += n;
    }
    return out;
  }

  /** The table is shorter than the transfer: the engine stops with its error bit set. */
  private overrun(): false {
    this.status = (this.status & ~BMS_ACTIVE) | BMS_ERROR;
    return false;
  }

  done(error: boolean): void {
    this.status |= BMS_INTERRUPT;
    if (error) this.status |= BMS_ERROR;
    // Active clears only when the table was used up exactly (the datasheet's "PRD exhausted").
    if (error || (this.left === 0 && this.last)) this.status &= ~BMS_ACTIVE;
  }

  /** The drive raised its interrupt: the bus master status shows it too. */
  noteInterrupt(): void {
    this.status |= BMS_INTERRUPT;
  }

  reset(): void {
    this.command = 0;
    this.status = 0;
    this.table = 0;
    this.left = 0;
    this.last = false;
  }
}

export interface PiixIdeOptions {
  readonly pci: PciBus;
  readonly device: number;
  readonly function: number;
  readonly mem: PhysicalMemory;
  readonly isaIrq: (n: number) => IrqLine;
  /** Drives: [primary master, primary slave, secondary master, secondary slave]. */
  readonly drives: readonly (DriveSpec | null)[];
  /** Sends a request to the host's block back end; the reply comes to blockReply. */
  readonly block: (req: BlockRequest) => void;
  /** The port bus, where the bus master block is mapped wherever the guest puts BAR 4. */
  readonly io: IoBus;
}

export class PiixIde implements Device {
  /**
   * Configuration space, both bus masters and both channels between commands: save() is only
   * called once `quiescent` holds (the VMM lets the guest finish its commands first), so no block
   * request or continuation is ever part of a saved state.
   */
  static readonly STATE: StateSchema<PiixIde> = defineState<PiixIde>({
    id: 'piix3-ide',
    // 2: a CD drive's disc can change while the VM runs (its size, unit attention and media event are saved).
    version: 2,
    fields: [
      { name: 'config', type: 'bytes', since: 1, length: 256, get: (d) => d.config.bytes, set: (d, v) => d.config.bytes.set(v as Uint8Array) },
      { name: 'configWritable', type: 'bytes', since: 1, length: 256, get: (d) => d.config.writable, set: (d, v) => d.config.writable.set(v as Uint8Array) },
      { name: 'nextTag', type: 'u32', since: 1, get: (d) => d.nextTag, set: (d, v) => (d.nextTag = Math.max(1, v as number)) },
      ...[0, 1].flatMap((i): FieldSpec<PiixIde>[] => [
        { name: `busMaster${i}`, type: 'record', since: 1, record: BusMaster.STATE, of: (d) => d.bm[i]! },
        { name: `channel${i}`, type: 'record', since: 1, record: AtaChannel.STATE, of: (d) => d.channels[i]! },
      ]),
    ],
    postLoad: (d) => {
      d.pending.clear();
      d.mapBusMaster();
    },
  });
  readonly stateId = 'piix3-ide';
  readonly stateVersion = PiixIde.STATE.version;
  readonly config: PciConfigSpace;
  readonly ioRanges: IoRange[] = [];
  readonly channels: AtaChannel[];
  private readonly bm: BusMaster[];
  private nextTag = 1;
  private readonly pending = new Map<number, (reply: BlockReply) => void>();

  constructor(private readonly o: PiixIdeOptions) {
    const cfg = new PciConfigSpace({ vendorId: 0x8086, deviceId: PIIX3_IDE_DEVICE_ID, classCode: 0x010180, commandMask: 0x0005 });
    cfg.defineBar(BMIBA_BAR, { kind: 'io', size: 16 });
    // IDETIM for each channel; decode enabled at reset, as firmware and QEMU leave it.
    cfg.define(IDETIM, 2, 0x8000, 0xf37f);
    cfg.define(IDETIM + 2, 2, 0x8000, 0xf37f);
    cfg.define(0x44, 1, 0, 0x0f); // SIDETIM
    this.config = cfg;
    cfg.onWrite = () => this.mapBusMaster();
    o.pci.addFunction(o.device, o.function, cfg);
    const io = this.blockIo();
    this.bm = LEGACY.map(() => new BusMaster(o.mem, () => cfg.busMaster));
    this.channels = LEGACY.map((l, i) => {
      const line = o.isaIrq(l.irq);
      const bm = this.bm[i]!;
      const irq: IrqLine = {
        raise: () => {
          bm.noteInterrupt();
          line.raise();
        },
        lower: () => line.lower(),
      };
      const ch = new AtaChannel(i === 0 ? 'primary' : 'secondary', irq, [o.drives[2 * i] ?? null, o.drives[2 * i + 1] ?? null], io, bm);
      bm.channel = ch;
      return ch;
    });
    LEGACY.forEach((l, i) => {
      const ch = this.channels[i]!;
      this.ioRanges.push(
        {
          name: `ide ${ch.name}`,
          base: l.base,
          length: 8,
          sizes: [1, 2, 4],
          read: (off: number, size: AccessSize) => {
            if (!this.decodes(i)) return size === 4 ? 0xffffffff : size === 2 ? 0xffff : 0xff;
            if (off === 0) return ch.readData(size);
            let v = 0;
            for (let b = 0; b < size; b++) v |= ch.readRegister(off + b) << (8 * b);
            return v >>> 0;
          },
          write: (off: number, size: AccessSize, v: number) => {
            if (!this.decodes(i)) return;
            if (off === 0) return ch.writeData(size, v);
            for (let b = 0; b < size; b++) ch.writeRegister(off + b, (v >>> (8 * b)) & 0xff);
          },
        },
        {
          name: `ide ${ch.name} control`,
          base: l.ctrl,
          length: 1,
          read: () => (this.decodes(i) ? ch.altStatus() : 0xff),
          write: (_off: number, _size: AccessSize, v: number) => {
            if (this.decodes(i)) ch.writeControl(v);
          },
        },
      );
    });
  }

  /** The legacy ports answer while I/O space is on and the channel's IDETIM decode bit is set. */
  private decodes(channel: number): boolean {
    return (this.config.command & 1) !== 0 && (this.config.read(IDETIM + 2 * channel, 2) & 0x8000) !== 0;
  }

  private mapped: IoRange | null = null;

  /** Follows BAR 4 and the I/O enable bit: the bus master block answers where the guest put it. */
  private mapBusMaster(): void {
    const base = this.config.barAddress(BMIBA_BAR);
    if (this.mapped && this.mapped.base === base) return;
    if (this.mapped) this.o.io.unregister(this.mapped);
    this.mapped = null;
    if (base === null || base + 16 > 0x10000) return;
    const range: IoRange = {
      name: 'ide bus master',
      base,
      length: 16,
      sizes: [1, 2, 4],
      read: (off: number, size: AccessSize) => this.bmRead(off, size),
      write: (off: number, size: AccessSize, v: number) => this.bmWrite(off, size, v),
    };
    try {
      this.o.io.register(range);
      this.mapped = range;
    } catch {
      // The guest put the block over ports another device owns: like a bus conflict, it does not decode.
    }
  }

  private bmRead(off: number, size: AccessSize): number {
    let v = 0;
    for (let b = 0; b < size; b++) {
      const bm = this.bm[((off + b) >> 3) & 1]!;
      const r = (off + b) & 7;
      const byte = r === 0 ? bm.command : r === 2 ? bm.status : r >= 4 ? (bm.table >>> ((r - 4) * 8)) & 0xff : 0;
      v |= byte << (8 * b);
    }
    return v >>> 0;
  }

  private bmWrite(off: number, size: AccessSize, v: number): void {
    for (let b = 0; b < size; b++) {
      const bm = this.bm[((off + b) >> 3) & 1]!;
      const r = (off + b) & 7;
      const byte = (v >>> (8 * b)) & 0xff;
      if (r === 0) bm.writeCommand(byte);
      else if (r === 2) bm.writeStatus(byte);
      else if (r >= 4) {
        // BMIDTP: bits 1:0 read as zero.
        const shift = (r - 4) * 8;
        bm.table = (((bm.table & ~(0xff << shift)) | (byte << shift)) & ~3) >>> 0;
      }
    }
  }

  private blockIo(): BlockIo {
    const send = (req: Omit<BlockRequest, 'tag'>, done: (r: BlockReply) => void): void => {
      const tag = this.nextTag;
      this.nextTag = (this.nextTag % 0x7fffffff) + 1;
      this.pending.set(tag, done);
      this.o.block({ ...req, tag });
    };
    return {
      read: (disk, lba, count, done) => send({ disk, op: 'read', lba, count }, (r) => done(r.ok && r.data ? r.data : null, r.error)),
      write: (disk, lba, data, count, done) => send({ disk, op: 'write', lba, count, data }, (r) => done(r.ok, r.error)),
      flush: (disk, done) => send({ disk, op: 'flush', lba: 0, count: 0 }, (r) => done(r.ok)),
    };
  }

  /** A reply from the host's block back end; unknown or stale tags are ignored. */
  /** The host changed the CD: a disc of `sectors` 2048-byte sectors, or none (0). False if there is no CD drive. */
  changeCdrom(sectors: number): boolean {
    return this.channels.some((c) => c.changeMedium(sectors));
  }

  blockReply(reply: BlockReply): void {
    const done = this.pending.get(reply.tag);
    if (!done) return;
    this.pending.delete(reply.tag);
    done(reply);
  }

  reset(kind: ResetKind): void {
    if (kind === 'soft') return;
    this.config.reset();
    this.mapBusMaster();
    for (const b of this.bm) b.reset();
    for (const c of this.channels) c.reset();
    // Replies still on their way belong to commands that no longer exist.
    this.pending.clear();
  }

  /** No block request awaited and no command between its phases: the state can be saved. */
  get quiescent(): boolean {
    return this.pending.size === 0 && this.channels.every((c) => c.quiescent);
  }

  get stateSchema(): StateSchema<unknown> {
    return PiixIde.STATE as StateSchema<unknown>;
  }

  saveState(): StateRecord {
    if (!this.quiescent) throw new Error('piix3-ide: a command is in flight; the machine saves only between commands');
    return saveBySchema(PiixIde.STATE, this);
  }

  loadState(s: StateRecord, version: number): void {
    loadBySchema(PiixIde.STATE, this, s, version);
  }

  reassertInterrupts(): void {
    // Driving the line again is not a new interrupt: the bus masters' status stays as loaded.
    const status = this.bm.map((b) => b.status);
    for (const c of this.channels) c.reassert();
    this.bm.forEach((b, i) => (b.status = status[i]!));
  }
}
