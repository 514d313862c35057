// One IDE channel: the command block (eight ports: data, error/features, sector count, LBA low/mid/
// high, device, status/command) and the control block (alternate status / device control), with up
// to two devices behind them: an ATA disk or an ATAPI CD-ROM. Commands run against the host's block
// back end asynchronously: the device stays BSY until the reply arrives, as a real drive does while
// its platters turn, then raises DRQ or its interrupt.
//
// Reference: ATA/ATAPI-6 (T13 1410D rev 3b): 7 register descriptions (status BSY/DRDY/DF/DRQ/ERR;
// error ABRT/IDNF/UNC; device control nIEN/SRST/HOB; the 48-bit "previous content" registers), 8
// command descriptions, 9.2 software reset protocol and signatures (ATA 00h/00h, PACKET 14h/EBh),
// 9.5-9.10 PIO data-in, PIO data-out, DMA and PACKET protocols. An absent device's position keeps a
// register file of its own, as Bochs and QEMU have it: written with the present device's, read back
// while that position is selected (status 00h), and holding the "no device" signature FFh/FFh after a
// reset. ATA/ATAPI-6 7.1 has device 0 answer for an absent device 1 instead, but the Bochs BIOS
// takes device 0's PACKET signature read that way for a second CD and waits for it for ever.

import type { IrqLine } from '../../irq.ts';
import { AtapiCdrom, SECTOR as CD_SECTOR, SENSE_ILLEGAL_REQUEST, SENSE_MEDIUM_ERROR, SENSE_NOT_READY, SENSE_UNIT_ATTENTION, ASC_MEDIUM_MAY_HAVE_CHANGED, ASC_MEDIUM_NOT_PRESENT, ASC_UNRECOVERED_READ, type PacketResult, type Sense } from './atapi.ts';
import { defineState, StateError, type FieldSpec, type StateSchema } from '../../state/schema.ts';
import { defaultGeometry, identifyDisk, identifyPacket, MAX_MULTIPLE, type ChsGeometry } from './identify.ts';

// Status register
export const ST_BSY = 0x80;
export const ST_DRDY = 0x40;
export const ST_DF = 0x20;
export const ST_DSC = 0x10;
export const ST_DRQ = 0x08;
export const ST_ERR = 0x01;
// Error register
export const ER_UNC = 0x40;
export const ER_IDNF = 0x10;
export const ER_ABRT = 0x04;
// Device control register
export const DC_NIEN = 0x02;
export const DC_SRST = 0x04;
export const DC_HOB = 0x80;
// Device register
const DEV_LBA = 0x40;
const DEV_DRV = 0x10;
// ATAPI interrupt reason (sector count register)
const IR_COD = 0x01;
const IR_IO = 0x02;

const DISK_SECTOR = 512;
/** Sectors fetched from the host per request, bounding message sizes (64 KiB of disk, 128 KiB of CD). */
const DISK_CHUNK = 128;
const CD_CHUNK = 64;

export interface DriveSpec {
  kind: 'disk' | 'cdrom';
  /** Back-end id the host routes block requests by ('hda', 'cdrom'). */
  diskId: string;
  /** Medium size in the drive's own sectors (512 for disks, 2048 for CDs). */
  sectors: number;
  readOnly: boolean;
}

export interface BlockIo {
  read(disk: string, lba: number, count: number, done: (data: Uint8Array | null, error?: string) => void): void;
  write(disk: string, lba: number, data: Uint8Array, count: number, done: (ok: boolean, error?: string) => void): void;
  flush(disk: string, done: (ok: boolean) => void): void;
}

/** The channel's side of the PIIX bus master: moves bytes between the drive and guest memory. */
export interface DmaEngine {
  /** Started by the guest (BMICOM bit 0) in the given direction. */
  ready(toMemory: boolean): boolean;
  /** Copies bytes into the PRD regions; false if the table ended first. */
  toMemory(data: Uint8Array): boolean;
  /** Collects bytes from the PRD regions; null if the table ended first. */
  fromMemory(length: number): Uint8Array | null;
  /** The drive finished (or failed) the transfer and raised its interrupt. */
  done(error: boolean): void;
}

const reg = (name: keyof Drive & string): FieldSpec<Drive> => ({ name, type: 'u8', since: 1 });

/** The taskfile registers a host writes to both positions of a channel at once. */
class TaskFile {
  feature = 0;
  nsect = 0;
  lbal = 0;
  lbam = 0;
  lbah = 0;
  hobFeature = 0;
  hobNsect = 0;
  hobLbal = 0;
  hobLbam = 0;
  hobLbah = 0;
  device = 0;

  /** What a reset leaves: sector count and number 1, then the kind's cylinder pair. */
  protected setSignature(lbam: number, lbah: number): void {
    this.nsect = 1;
    this.lbal = 1;
    this.lbam = lbam;
    this.lbah = lbah;
    this.device &= DEV_DRV;
  }

  /** An absent device's signature. */
  signature(): void {
    this.setSignature(0xff, 0xff);
  }
}

class Drive extends TaskFile {
  /** A drive's registers and settings; saved only between commands (see AtaChannel.quiescent). */
  static readonly STATE: StateSchema<Drive> = defineState<Drive>({
    id: 'ata drive',
    // 2: a CD drive's medium can change while the VM runs; its size and the pending unit attention and media event are saved.
    version: 2,
    fields: [
      ...(['feature', 'nsect', 'lbal', 'lbam', 'lbah', 'hobFeature', 'hobNsect', 'hobLbal', 'hobLbam', 'hobLbah', 'device', 'status', 'error', 'multiple'] as const).map(reg),
      { name: 'kind', type: 'string', since: 1, get: (d) => d.spec.kind, set: (d, v) => {
        if (v !== d.spec.kind) throw new StateError(`ide: the saved drive is a ${String(v)}, this one a ${d.spec.kind}`);
      } },
      { name: 'cylinders', type: 'u16', since: 1, get: (d) => d.geometry.cylinders, set: (d, v) => (d.geometry = { ...d.geometry, cylinders: v as number }) },
      { name: 'heads', type: 'u8', since: 1, get: (d) => d.geometry.heads, set: (d, v) => (d.geometry = { ...d.geometry, heads: v as number }) },
      { name: 'sectors', type: 'u8', since: 1, get: (d) => d.geometry.sectors, set: (d, v) => (d.geometry = { ...d.geometry, sectors: v as number }) },
      { name: 'transferMode', type: 'u8', since: 1, get: (d) => d.transfer.mode, set: (d, v) => (d.transfer.mode = v as number) },
      // ATAPI: what REQUEST SENSE will report (zero for a disk).
      { name: 'sense', type: 'bytes', since: 1, length: 3, get: (d) => Uint8Array.of(d.atapi?.sense.key ?? 0, d.atapi?.sense.asc ?? 0, d.atapi?.sense.ascq ?? 0), set: (d, v) => {
        const b = v as Uint8Array;
        if (d.atapi) d.atapi.sense = { key: b[0]!, asc: b[1]!, ascq: b[2]! };
      } },
      { name: 'cdSectors', type: 'u32', since: 2, get: (d) => d.atapi?.sectors ?? 0, set: (d, v) => {
        if (d.atapi) d.atapi.sectors = v as number;
      } },
      { name: 'unitAttention', type: 'bool', since: 2, get: (d) => d.atapi?.unitAttention ?? false, set: (d, v) => {
        if (d.atapi) d.atapi.unitAttention = v as boolean;
      } },
      { name: 'mediaEvent', type: 'u8', since: 2, get: (d) => d.atapi?.mediaEvent ?? 0, set: (d, v) => {
        if (d.atapi) d.atapi.mediaEvent = (v as number) & 0x0f;
      } },
    ],
  });

  status = 0;
  error = 0;
  multiple = 0;
  geometry: ChsGeometry;
  transfer = { mode: 0x0c };
  readonly atapi: AtapiCdrom | null;

  constructor(readonly spec: DriveSpec) {
    super();
    this.geometry = defaultGeometry(spec.kind === 'disk' ? spec.sectors : 0);
    this.atapi = spec.kind === 'cdrom' ? new AtapiCdrom(spec.sectors) : null;
  }

  override signature(): void {
    if (this.atapi) this.setSignature(0x14, 0xeb);
    else this.setSignature(0, 0);
    this.error = 0x01; // diagnostics passed
    this.status = this.atapi ? 0 : ST_DRDY | ST_DSC;
  }
}

export class AtaChannel {
  /**
   * A channel between commands: which drive is selected, device control, the pending interrupt and
   * each drive's registers. Commands in flight hold continuations (the next block, a DMA waiting
   * for the bus master), so the machine saves only once every channel is quiescent.
   */
  static readonly STATE: StateSchema<AtaChannel> = defineState<AtaChannel>({
    id: 'ata channel',
    version: 2,
    fields: [
      { name: 'devctl', type: 'u8', since: 1, get: (c) => c.devctl, set: (c, v) => (c.devctl = v as number) },
      { name: 'selected', type: 'u8', since: 1, get: (c) => c.selected, set: (c, v) => (c.selected = (v as number) & 1) },
      { name: 'intrq', type: 'bool', since: 1, get: (c) => c.intrq, set: (c, v) => (c.intrq = v as boolean) },
      ...[0, 1].map((i): FieldSpec<AtaChannel> => ({
        name: `drive${i}`,
        type: 'record',
        since: 1,
        record: Drive.STATE,
        of: (c) => c.drives[i] ?? null,
      })),
    ],
    postLoad: (c) => {
      // The line is driven again by reassert(), after every device is loaded.
      c.lineHigh = false;
      c.stopTransfer();
      for (const t of c.taskFiles) if (!(t instanceof Drive)) t.signature();
    },
  });

  private readonly drives: (Drive | null)[];
  /** Each position's registers: its drive's, or an absent device's own (not saved: a load resets them). */
  private readonly taskFiles: TaskFile[];
  private devctl = 0;
  private selected = 0;
  private intrq = false;
  private lineHigh = false;
  /** Bumped by resets: replies to requests of an aborted command are dropped. */
  private generation = 0;
  // The PIO data phase: a buffer the guest reads or fills through the data port.
  private buf: Uint8Array = new Uint8Array(0);
  private pos = 0;
  private end = 0;
  private onBlockDone: (() => void) | null = null;
  /** A DMA transfer waiting for the guest to start the bus master. */
  private dmaWaiting: (() => void) | null = null;

  constructor(
    readonly name: string,
    private readonly irq: IrqLine,
    specs: readonly (DriveSpec | null)[],
    private readonly io: BlockIo,
    private readonly dma: DmaEngine,
  ) {
    this.drives = [specs[0] ? new Drive(specs[0]) : null, specs[1] ? new Drive(specs[1]) : null];
    this.taskFiles = this.drives.map((d) => d ?? new TaskFile());
    this.reset();
  }

  get present(): boolean {
    return this.drives[0] !== null || this.drives[1] !== null;
  }

  /** Puts a disc of `sectors` 2048-byte sectors into this channel's CD drive (0: takes it out); false without one. */
  changeMedium(sectors: number): boolean {
    const d = this.drives.find((x) => x?.atapi);
    if (!d) return false;
    d.atapi!.changeMedium(sectors);
    return true;
  }

  reset(): void {
    this.generation++;
    this.devctl = 0;
    this.selected = 0;
    this.stopTransfer();
    for (const d of this.drives) {
      if (!d) continue;
      d.multiple = 0;
      d.transfer.mode = 0x0c;
      d.geometry = defaultGeometry(d.spec.kind === 'disk' ? d.spec.sectors : 0);
      if (d.atapi) d.atapi.sense = { key: 0, asc: 0, ascq: 0 };
    }
    for (const t of this.taskFiles) t.signature();
    this.setIntrq(false);
  }

  /** No command in flight: nothing awaited from the host, no data phase, no DMA waiting. */
  get quiescent(): boolean {
    return this.onBlockDone === null && this.dmaWaiting === null && !this.drives.some((d) => d && d.status & ST_BSY && !(this.devctl & DC_SRST));
  }

  /** After a load: drives the interrupt line as the loaded state says. */
  reassert(): void {
    this.lineHigh = false;
    this.setIntrq(this.intrq);
  }

  private get cur(): Drive | null {
    return this.drives[this.selected]!;
  }

  private stopTransfer(): void {
    this.buf = new Uint8Array(0);
    this.pos = this.end = 0;
    this.onBlockDone = null;
    this.dmaWaiting = null;
  }

  // ---- interrupt ----

  private setIntrq(v: boolean): void {
    this.intrq = v;
    const high = v && !(this.devctl & DC_NIEN);
    if (high === this.lineHigh) return;
    this.lineHigh = high;
    if (high) this.irq.raise();
    else this.irq.lower();
  }

  private raiseIrq(): void {
    this.setIntrq(true);
  }

  // ---- registers (offsets within the command block) ----

  readRegister(off: number): number {
    if (!this.present) return 0xff;
    const d = this.cur;
    const hob = (this.devctl & DC_HOB) !== 0;
    const t = this.taskFiles[this.selected]!;
    switch (off) {
      case 1:
        return hob ? t.hobFeature : d ? d.error : 0;
      case 2:
        return hob ? t.hobNsect : t.nsect;
      case 3:
        return hob ? t.hobLbal : t.lbal;
      case 4:
        return hob ? t.hobLbam : t.lbam;
      case 5:
        return hob ? t.hobLbah : t.lbah;
      case 6:
        return t.device | 0xa0;
      case 7:
        if (!d) return 0;
        this.setIntrq(false);
        return d.status;
      default:
        return 0xff;
    }
  }

  altStatus(): number {
    if (!this.present) return 0xff;
    return this.cur?.status ?? 0;
  }

  writeRegister(off: number, v: number): void {
    v &= 0xff;
    if (off >= 1 && off <= 6) this.devctl &= ~DC_HOB;
    for (const d of this.taskFiles) {
      switch (off) {
        case 1:
          d.hobFeature = d.feature;
          d.feature = v;
          break;
        case 2:
          d.hobNsect = d.nsect;
          d.nsect = v;
          break;
        case 3:
          d.hobLbal = d.lbal;
          d.lbal = v;
          break;
        case 4:
          d.hobLbam = d.lbam;
          d.lbam = v;
          break;
        case 5:
          d.hobLbah = d.lbah;
          d.lbah = v;
          break;
        case 6:
          d.device = v & ~0xa0;
          break;
      }
    }
    if (off === 6) this.selected = (v & DEV_DRV) >> 4;
    if (off === 7) this.command(v);
  }

  writeControl(v: number): void {
    const was = this.devctl;
    this.devctl = v & (DC_NIEN | DC_SRST | DC_HOB);
    if (v & DC_SRST && !(was & DC_SRST)) {
      // Software reset asserted: every device goes busy and drops what it was doing.
      this.generation++;
      this.stopTransfer();
      for (const d of this.drives) if (d) d.status = ST_BSY;
    } else if (!(v & DC_SRST) && was & DC_SRST) {
      for (const d of this.drives) if (d) d.multiple = 0;
      for (const t of this.taskFiles) t.signature();
      this.selected = 0;
    }
    this.setIntrq(this.intrq);
  }

  // ---- data port ----

  readData(size: 1 | 2 | 4): number {
    if (!this.cur || !(this.cur.status & ST_DRQ) || this.pos >= this.end || this.onBlockDone === null) return size === 4 ? 0xffffffff : size === 2 ? 0xffff : 0xff;
    if (this.isOut) return 0;
    let v = 0;
    for (let i = 0; i < size && this.pos < this.end; i++) v |= this.buf[this.pos++]! << (8 * i);
    if (this.pos >= this.end) this.blockDone();
    return v >>> 0;
  }

  writeData(size: 1 | 2 | 4, v: number): void {
    if (!this.cur || !(this.cur.status & ST_DRQ) || this.pos >= this.end || !this.isOut) return;
    for (let i = 0; i < size && this.pos < this.end; i++) this.buf[this.pos++] = (v >>> (8 * i)) & 0xff;
    if (this.pos >= this.end) this.blockDone();
  }

  private isOut = false;

  private blockDone(): void {
    const next = this.onBlockDone;
    this.onBlockDone = null;
    const d = this.cur;
    if (d) d.status &= ~ST_DRQ;
    next?.();
  }

  /** Starts a PIO data phase on `bytes` (in: the guest reads it; out: the guest fills it). */
  private pio(d: Drive, dir: 'in' | 'out', bytes: Uint8Array, then: () => void, interrupt: boolean): void {
    this.buf = bytes;
    this.pos = 0;
    this.end = bytes.length;
    this.isOut = dir === 'out';
    this.onBlockDone = then;
    d.status = (d.status & ~(ST_BSY | ST_ERR)) | ST_DRQ | ST_DRDY | ST_DSC;
    if (interrupt) this.raiseIrq();
  }

  // ---- command completion ----

  private complete(d: Drive, interrupt = true): void {
    d.status = ST_DRDY | ST_DSC;
    d.error = 0;
    if (interrupt) this.raiseIrq();
  }

  private abort(d: Drive, error = ER_ABRT): void {
    this.stopTransfer();
    d.error = error;
    d.status = ST_DRDY | ST_ERR;
    this.raiseIrq();
  }

  // ---- commands ----

  private command(cmd: number): void {
    const d = this.cur;
    if (!d) return;
    // A command written while busy is ignored, except DEVICE RESET for a PACKET device.
    if (d.status & ST_BSY && !(d.atapi && cmd === 0x08)) return;
    this.stopTransfer();
    this.setIntrq(false);
    if (d.atapi) return this.packetDeviceCommand(d, cmd);
    switch (cmd) {
      case 0xec:
        return this.pio(d, 'in', identifyDisk({ sectors: d.spec.sectors, serial: `HB${d.spec.diskId.toUpperCase()}0001`, model: 'HOSTBOX HARDDISK', firmware: '0.1', multiple: d.multiple, geometry: d.geometry, transfer: d.transfer }), () => this.complete(d, false), true);
      case 0x20:
      case 0x21:
        return this.readPio(d, false, false);
      case 0x24:
        return this.readPio(d, true, false);
      case 0xc4:
        return this.readPio(d, false, true);
      case 0x29:
        return this.readPio(d, true, true);
      case 0x30:
      case 0x31:
        return this.writePio(d, false, false);
      case 0x34:
        return this.writePio(d, true, false);
      case 0xc5:
        return this.writePio(d, false, true);
      case 0x39:
        return this.writePio(d, true, true);
      case 0xc8:
      case 0xc9:
        return this.readDma(d, false);
      case 0x25:
        return this.readDma(d, true);
      case 0xca:
      case 0xcb:
        return this.writeDma(d, false);
      case 0x35:
        return this.writeDma(d, true);
      case 0x40:
      case 0x41:
      case 0x42: {
        // READ VERIFY SECTORS (EXT): the medium is always readable; check the range only.
        const r = this.range(d, cmd === 0x42);
        return r ? this.complete(d) : undefined;
      }
      case 0xc6: {
        // SET MULTIPLE MODE: a power of two up to the maximum, or 0 to disable.
        const n = d.nsect;
        if (n > MAX_MULTIPLE || (n & (n - 1)) !== 0) return this.abort(d);
        d.multiple = n;
        return this.complete(d);
      }
      case 0xe7:
      case 0xea:
        d.status = ST_BSY | ST_DRDY;
        return this.io.flush(d.spec.diskId, this.current(() => this.complete(d)));
      case 0xef:
        return this.setFeatures(d);
      case 0x91: {
        // INITIALIZE DEVICE PARAMETERS: the CHS translation the host will use
        const heads = (d.device & 0x0f) + 1;
        const spt = d.nsect;
        if (spt === 0) return this.abort(d);
        d.geometry = { heads, sectors: spt, cylinders: Math.max(1, Math.min(65535, Math.floor(d.spec.sectors / (heads * spt)))) };
        return this.complete(d);
      }
      case 0x70: // SEEK
      case 0xe0: // STANDBY IMMEDIATE
      case 0xe1: // IDLE IMMEDIATE
      case 0xe2: // STANDBY
      case 0xe3: // IDLE
      case 0xe6: // SLEEP
        return this.complete(d);
      case 0xe5: // CHECK POWER MODE: active or idle
        d.nsect = 0xff;
        return this.complete(d);
      case 0x90:
        return this.diagnostic();
      case 0xf8: // READ NATIVE MAX ADDRESS
      case 0x27: {
        // READ NATIVE MAX ADDRESS EXT
        const max = d.spec.sectors - 1;
        if (cmd === 0xf8) {
          if (!(d.device & DEV_LBA)) return this.abort(d);
          this.setLba28(d, Math.min(max, 0x0fffffff));
        } else this.setLba48(d, max);
        return this.complete(d);
      }
      default:
        if (cmd >= 0x10 && cmd <= 0x1f) return this.complete(d); // RECALIBRATE
        return this.abort(d);
    }
  }

  private diagnostic(): void {
    for (const t of this.taskFiles) t.signature();
    this.selected = 0;
    this.raiseIrq();
  }

  private setFeatures(d: Drive): void {
    switch (d.feature) {
      case 0x03: {
        const mode = d.nsect;
        const ok = (mode >= 0x08 && mode <= 0x0c) || mode <= 0x01 || (mode >= 0x20 && mode <= 0x22) || (mode >= 0x40 && mode <= 0x45);
        if (!ok) return this.abort(d);
        d.transfer.mode = mode <= 0x01 ? 0x0c : mode;
        return this.complete(d);
      }
      case 0x02: // write cache on / off
      case 0x82:
      case 0xaa: // read look-ahead on / off
      case 0x55:
      case 0x66: // keep / revert to power-on defaults
      case 0xcc:
        return this.complete(d);
      default:
        return this.abort(d);
    }
  }

  /** Wraps a back-end callback so a reply for a command that a reset abandoned changes nothing. */
  private current<A extends unknown[]>(f: (...a: A) => void): (...a: A) => void {
    const gen = this.generation;
    return (...a: A) => {
      if (gen === this.generation) f(...a);
    };
  }

  // ---- ATA addressing ----

  private setLba28(d: Drive, lba: number): void {
    d.lbal = lba & 0xff;
    d.lbam = (lba >>> 8) & 0xff;
    d.lbah = (lba >>> 16) & 0xff;
    d.device = (d.device & 0xf0) | ((lba >>> 24) & 0x0f);
  }

  private setLba48(d: Drive, lba: number): void {
    d.lbal = lba & 0xff;
    d.lbam = (lba >>> 8) & 0xff;
    d.lbah = (lba >>> 16) & 0xff;
    d.hobLbal = Math.floor(lba / 2 ** 24) & 0xff;
    d.hobLbam = Math.floor(lba / 2 ** 32) & 0xff;
    d.hobLbah = Math.floor(lba / 2 ** 40) & 0xff;
  }

  /** The command's first sector and count, or null after aborting with IDNF when out of range. */
  private range(d: Drive, ext: boolean): { lba: number; count: number } | null {
    let lba: number;
    let count: number;
    if (ext) {
      lba = d.lbal + d.lbam * 2 ** 8 + d.lbah * 2 ** 16 + d.hobLbal * 2 ** 24 + d.hobLbam * 2 ** 32 + d.hobLbah * 2 ** 40;
      count = d.nsect | (d.hobNsect << 8) || 65536;
    } else {
      count = d.nsect || 256;
      if (d.device & DEV_LBA) lba = d.lbal | (d.lbam << 8) | (d.lbah << 16) | ((d.device & 0x0f) * 2 ** 24);
      else {
        // CHS through the geometry set by INITIALIZE DEVICE PARAMETERS (or the default one).
        const cyl = d.lbam | (d.lbah << 8);
        const head = d.device & 0x0f;
        const sector = d.lbal;
        const g = d.geometry;
        if (sector === 0 || sector > g.sectors || head >= g.heads) {
          this.abort(d, ER_IDNF | ER_ABRT);
          return null;
        }
        lba = (cyl * g.heads + head) * g.sectors + sector - 1;
      }
    }
    if (lba + count > d.spec.sectors) {
      this.abort(d, ER_IDNF);
      return null;
    }
    return { lba, count };
  }

  /** Leaves the taskfile pointing at `lba` (the next sector, or the failing one), as drives do. */
  private advance(d: Drive, ext: boolean, lba: number): void {
    if (ext) this.setLba48(d, lba);
    else if (d.device & DEV_LBA) this.setLba28(d, lba);
  }

  private readPio(d: Drive, ext: boolean, multiple: boolean): void {
    if (multiple && d.multiple === 0) return this.abort(d);
    const r = this.range(d, ext);
    if (!r) return;
    const perBlock = multiple ? d.multiple : 1;
    let lba = r.lba;
    let left = r.count;
    const fetch = (): void => {
      const n = Math.min(left, DISK_CHUNK);
      d.status = ST_BSY | ST_DRDY;
      this.io.read(
        d.spec.diskId,
        lba,
        n,
        this.current((data) => {
          if (!data || data.length !== n * DISK_SECTOR) {
            this.advance(d, ext, lba);
            return this.abort(d, ER_UNC);
          }
          let at = 0;
          const present = (): void => {
            const sectors = Math.min(perBlock, n - at / DISK_SECTOR);
            const block = data.subarray(at, at + sectors * DISK_SECTOR);
            at += block.length;
            this.pio(d, 'in', block, () => {
              lba += sectors;
              left -= sectors;
              this.advance(d, ext, lba);
              if (at < data.length) present();
              else if (left > 0) fetch();
              else d.status = ST_DRDY | ST_DSC;
            }, true);
          };
          present();
        }),
      );
    };
    fetch();
  }

  private writePio(d: Drive, ext: boolean, multiple: boolean): void {
    if (multiple && d.multiple === 0) return this.abort(d);
    if (d.spec.readOnly) return this.abort(d);
    const r = this.range(d, ext);
    if (!r) return;
    const perBlock = multiple ? d.multiple : 1;
    let lba = r.lba;
    let left = r.count;
    const next = (interrupt: boolean): void => {
      const sectors = Math.min(perBlock, left);
      const block = new Uint8Array(sectors * DISK_SECTOR);
      this.pio(d, 'out', block, () => {
        d.status = ST_BSY | ST_DRDY;
        this.io.write(
          d.spec.diskId,
          lba,
          block,
          sectors,
          this.current((ok) => {
            if (!ok) {
              this.advance(d, ext, lba);
              return this.abort(d, ER_ABRT);
            }
            lba += sectors;
            left -= sectors;
            this.advance(d, ext, lba);
            if (left > 0) next(true);
            else this.complete(d);
          }),
        );
      }, interrupt);
    };
    // The first block of a PIO write is asked for without an interrupt (9.6, state HPIOO1).
    next(false);
  }

  private readDma(d: Drive, ext: boolean): void {
    const r = this.range(d, ext);
    if (!r) return;
    let lba = r.lba;
    let left = r.count;
    d.status = ST_BSY | ST_DRDY;
    const fetch = (): void => {
      const n = Math.min(left, DISK_CHUNK);
      this.io.read(
        d.spec.diskId,
        lba,
        n,
        this.current((data) => {
          if (!data || data.length !== n * DISK_SECTOR) {
            this.advance(d, ext, lba);
            return this.dmaFinish(d, ER_UNC);
          }
          this.whenDma(true, () => {
            if (!this.dma.toMemory(data)) return this.dmaFinish(d, ER_ABRT);
            lba += n;
            left -= n;
            this.advance(d, ext, lba);
            if (left > 0) fetch();
            else this.dmaFinish(d, 0);
          });
        }),
      );
    };
    fetch();
  }

  private writeDma(d: Drive, ext: boolean): void {
    if (d.spec.readOnly) return this.abort(d);
    const r = this.range(d, ext);
    if (!r) return;
    let lba = r.lba;
    let left = r.count;
    d.status = ST_BSY | ST_DRDY;
    const step = (): void => {
      const n = Math.min(left, DISK_CHUNK);
      this.whenDma(false, () => {
        const data = this.dma.fromMemory(n * DISK_SECTOR);
        if (!data) return this.dmaFinish(d, ER_ABRT);
        this.io.write(
          d.spec.diskId,
          lba,
          data,
          n,
          this.current((ok) => {
            if (!ok) {
              this.advance(d, ext, lba);
              return this.dmaFinish(d, ER_ABRT);
            }
            lba += n;
            left -= n;
            this.advance(d, ext, lba);
            if (left > 0) step();
            else this.dmaFinish(d, 0);
          }),
        );
      });
    };
    step();
  }

  /** Runs `f` once the guest has started the bus master in this direction (now, or when it does). */
  private whenDma(toMemory: boolean, f: () => void): void {
    if (this.dma.ready(toMemory)) f();
    else this.dmaWaiting = () => this.dma.ready(toMemory) && (this.dmaWaiting = null, f(), true);
  }

  /** The bus master was started: a transfer waiting for it goes on. */
  dmaStarted(): void {
    this.dmaWaiting?.();
  }

  private dmaFinish(d: Drive, error: number): void {
    this.dmaWaiting = null;
    if (error) {
      d.error = error;
      d.status = ST_DRDY | ST_ERR;
    } else {
      d.error = 0;
      d.status = ST_DRDY | ST_DSC;
    }
    this.raiseIrq();
    this.dma.done(error !== 0);
  }

  // ---- PACKET devices ----

  private packetDeviceCommand(d: Drive, cmd: number): void {
    switch (cmd) {
      case 0xa1:
        return this.pio(d, 'in', identifyPacket({ serial: `HB${d.spec.diskId.toUpperCase()}0001`, model: 'HOSTBOX CD-ROM', firmware: '0.1', transfer: d.transfer }), () => this.complete(d, false), true);
      case 0xa0:
        return this.packet(d);
      case 0x08: // DEVICE RESET
        // Accepted while busy: a reply to the command it abandons must not start a data phase later.
        this.generation++;
        this.stopTransfer();
        d.signature();
        return;
      case 0x90:
        return this.diagnostic();
      case 0xef:
        return this.setFeatures(d);
      case 0xe0:
      case 0xe1:
      case 0xe2:
      case 0xe3:
      case 0xe6:
      case 0x00:
        return this.complete(d);
      case 0xe5:
        d.nsect = 0xff;
        return this.complete(d);
      default:
        // An ATA command to a PACKET device: aborted, with the signature left so drivers recognise it (9.12).
        d.signature();
        return this.abort(d);
    }
  }

  private packet(d: Drive): void {
    const useDma = (d.feature & 0x01) !== 0;
    // The byte count limit is the one written with the PACKET command, for the whole command; the
    // registers themselves then carry each DRQ block's count.
    const limit = this.byteLimit(d);
    const cdb = new Uint8Array(12);
    d.nsect = IR_COD;
    // DRQ for the packet, with no interrupt: the drive reports 50 us DRQ in IDENTIFY PACKET DEVICE.
    this.pio(d, 'out', cdb, () => {
      d.status = ST_BSY | ST_DRDY;
      this.runPacket(d, cdb, useDma, limit);
    }, false);
  }

  private byteLimit(d: Drive): number {
    const limit = d.lbam | (d.lbah << 8);
    // 0 is not allowed; drives treat it as the largest even count, as does 0xFFFF.
    return limit === 0 || limit === 0xffff ? 0xfffe : limit & ~1 || 2;
  }

  private runPacket(d: Drive, cdb: Uint8Array, useDma: boolean, limit: number): void {
    const a = d.atapi!;
    const res: PacketResult = a.command(cdb);
    if (res.kind === 'error') return this.packetError(d, res.sense);
    if (cdb[0] !== 0x03) a.sense = { key: 0, asc: 0, ascq: 0 };
    if (res.kind === 'none') return this.packetDone(d);
    if (res.kind === 'data') {
      if (cdb[0] === 0x03) a.sense = { key: 0, asc: 0, ascq: 0 };
      return this.dataIn(d, res.data, useDma, limit, () => this.packetDone(d));
    }
    // READ: the medium, in chunks from the host.
    let lba = res.lba;
    let left = res.count;
    const generation = a.generation;
    const fetch = (): void => {
      const n = Math.min(left, CD_CHUNK);
      d.status = ST_BSY | ST_DRDY;
      this.io.read(
        d.spec.diskId,
        lba,
        n,
        this.current((data) => {
          // The disc was changed while this read was out: what came back is the old disc's (or nothing).
          if (a.generation !== generation) {
            a.unitAttention = false;
            return this.packetError(d, a.sectors > 0 ? { key: SENSE_UNIT_ATTENTION, asc: ASC_MEDIUM_MAY_HAVE_CHANGED, ascq: 0 } : { key: SENSE_NOT_READY, asc: ASC_MEDIUM_NOT_PRESENT, ascq: 0 });
          }
          if (!data || data.length !== n * CD_SECTOR) return this.packetError(d, { key: SENSE_MEDIUM_ERROR, asc: ASC_UNRECOVERED_READ, ascq: 0 });
          lba += n;
          left -= n;
          this.dataIn(d, data, useDma, limit, () => (left > 0 ? fetch() : this.packetDone(d)));
        }),
      );
    };
    fetch();
  }

  /** Hands `data` to the host: through the bus master, or in DRQ blocks of at most the byte count limit. */
  private dataIn(d: Drive, data: Uint8Array, useDma: boolean, limit: number, then: () => void): void {
    // An allocation length of 0 asks for nothing, which SPC-3 says is not an error: no DRQ block of 0 bytes.
    if (data.length === 0) return then();
    if (useDma) {
      return this.whenDma(true, () => {
        if (!this.dma.toMemory(data)) {
          this.dmaWaiting = null;
          this.packetError(d, { key: SENSE_ILLEGAL_REQUEST, asc: 0x00, ascq: 0 }, true);
          return;
        }
        then();
      });
    }
    let at = 0;
    const chunk = (): void => {
      const n = Math.min(data.length - at, limit);
      const part = data.subarray(at, at + n);
      at += n;
      d.lbam = n & 0xff;
      d.lbah = n >> 8;
      d.nsect = IR_IO;
      this.pio(d, 'in', part, () => (at < data.length ? chunk() : then()), true);
    };
    chunk();
  }

  private packetDone(d: Drive): void {
    d.nsect = IR_IO | IR_COD;
    d.error = 0;
    d.status = ST_DRDY | ST_DSC;
    this.raiseIrq();
    if (d.feature & 0x01) this.dma.done(false);
  }

  private packetError(d: Drive, sense: Sense, dmaError = false): void {
    this.stopTransfer();
    d.atapi!.sense = sense;
    d.nsect = IR_IO | IR_COD;
    d.error = (sense.key << 4) | (sense.key === SENSE_ILLEGAL_REQUEST ? ER_ABRT : 0);
    d.status = ST_DRDY | ST_ERR;
    this.raiseIrq();
    if (d.feature & 0x01) this.dma.done(dmaError);
  }
}
