// AMD Am79C970A PCnet-PCI II: a 10 Mbit/s Ethernet controller on PCI (vendor 1022h, device 2000h),
// the NIC the original VMware Workstation emulated ("vlance"); Linux's pcnet32, and DOS and Windows
// drivers, drive it.
//
// Reference: AMD Am79C970A PCnet-PCI II data sheet (publication 19436): "I/O Resources" (the
// 16-byte address PROM, then RDP, RAP, RESET and BDP at 10h/12h/14h/16h in word I/O mode, or at
// 10h/14h/18h/1Ch in double-word mode, entered by a double-word write to RDP and left only by
// H_RESET; reading RESET is S_RESET), "Initialization Block" (28 bytes with SSIZE32, 24 without),
// "Descriptor Rings" (see descriptors.ts), and the CSR and BCR descriptions:
//
//   CSR0  controller status: INIT STRT STOP TDMD TXON RXON IENA INTR IDON TINT RINT MERR MISS CERR
//         BABL ERR (bits 0-15); IDON..BABL are cleared by writing 1; INTA is driven while INTR
//         and IENA are both set.
//   CSR1/2 IADR, the initialization block's address; CSR3 interrupt masks (BABLM MISSM MERRM RINTM
//   TINTM IDONM) and DXSUFLO; CSR4 APAD_XMT, TXDPOLL, and the MFCO/UINT/RCVCCO/TXSTRT/JAB
//   interrupts with their masks; CSR5 SPND; CSR8-11 LADRF; CSR12-14 PADR; CSR15 MODE (PROM DRCVBC
//   DRCVPA ... LOOP DTX DRX); CSR24/25 BADR and CSR30/31 BADX, the ring bases; CSR72/74 and
//   CSR76/78 the ring counters and lengths (two's complement); CSR58 = BCR20; CSR88/89 the chip ID
//   (part 2621h, AMD's 003h); CSR112 missed frames.
//   BCR2 ASEL, APROMWE; BCR4-7 LED status (BCR4 LEDOUT follows link status through LNKSTE); BCR9
//   full duplex; BCR18 with the read-only DWIO bit; BCR20 SWSTYLE with SSIZE32 and CSRPCNET
//   following it.
//
// Where this model departs from the chip, and why:
// - No memory BAR (BAR1): it is 32 bytes and this machine maps MMIO in whole pages; every driver
//   above uses the I/O BAR.
// - Time on the wire is not modelled: a frame goes out when its descriptors are handed over. The
//   rings are still polled on a timer (about every 2 ms, the chip's default order of magnitude;
//   CSR47 is kept but not used), so a driver that turns off TDMD and relies on polling works.
// - Receive frames that find no descriptor wait in a small queue (standing in for the receive FIFO)
//   and are dropped with MISS only when it is full.
// - ASTRP_RCV (pad stripping), BSWP (big-endian descriptors) and the EEPROM are not implemented;
//   the MAC address is what the host puts in the APROM, and PADR starts out with it, as an EEPROM
//   load leaves it.
//
// Guest input is hostile: every ring walk is bounded (descriptors per frame, frames and
// descriptors per poll), frames longer than Ethernet allows are refused (BABL), and guest memory is
// only reached through PhysicalMemory, so a descriptor pointing anywhere touches guest RAM only.

import type { AccessSize, IoBus, IoRange } from '../../bus.ts';
import type { Clock, Timer } from '../../clock.ts';
import type { Device, ResetKind, StateRecord } from '../../device.ts';
import { stateBool, stateBytes, stateNumber } from '../../device.ts';
import type { PhysicalMemory } from '../../memory.ts';
import { PciConfigSpace, type PciBus } from '../pci/pci-bus.ts';
import { DescriptorFormat, ENP, ERR, FRAM_ADD_FCS, OFLO, OWN, STP, BUFF_RX, TMD2_BUFF, TMD2_LCAR, TMD2_UFLO } from './descriptors.ts';
import { ethernetCrc, ladrfIndex } from './ethernet-crc.ts';

export const PCNET_VENDOR_ID = 0x1022;
export const PCNET_DEVICE_ID = 0x2000;

// CSR0
export const CSR0_INIT = 0x0001;
export const CSR0_STRT = 0x0002;
export const CSR0_STOP = 0x0004;
export const CSR0_TDMD = 0x0008;
export const CSR0_TXON = 0x0010;
export const CSR0_RXON = 0x0020;
export const CSR0_IENA = 0x0040;
export const CSR0_INTR = 0x0080;
export const CSR0_IDON = 0x0100;
export const CSR0_TINT = 0x0200;
export const CSR0_RINT = 0x0400;
export const CSR0_MERR = 0x0800;
export const CSR0_MISS = 0x1000;
export const CSR0_CERR = 0x2000;
export const CSR0_BABL = 0x4000;
export const CSR0_ERR = 0x8000;
const CSR0_W1C = CSR0_BABL | CSR0_CERR | CSR0_MISS | CSR0_MERR | CSR0_RINT | CSR0_TINT | CSR0_IDON;

// CSR3: the masks sit at the same bit positions as their CSR0 causes.
const CSR3_WRITABLE = 0x5f7c;
const CSR3_DXSUFLO = 0x0040;

// CSR4
const CSR4_TXDPOLL = 0x1000;
const CSR4_APAD_XMT = 0x0800;
const CSR4_MFCO = 0x0200;
const CSR4_MFCOM = 0x0100;
const CSR4_UINTCMD = 0x0080;
const CSR4_UINT = 0x0040;
const CSR4_RCVCCO = 0x0020;
const CSR4_RCVCCOM = 0x0010;
const CSR4_TXSTRT = 0x0008;
const CSR4_TXSTRTM = 0x0004;
const CSR4_JAB = 0x0002;
const CSR4_JABM = 0x0001;
const CSR4_W1C = CSR4_MFCO | CSR4_UINT | CSR4_RCVCCO | CSR4_TXSTRT | CSR4_JAB;
const CSR4_WRITABLE = 0xdd15;
const CSR4_DEFAULT = 0x0115;

const CSR5_SPND = 0x0001;

// CSR15 MODE
const MODE_PROM = 0x8000;
const MODE_DRCVBC = 0x4000;
const MODE_DRCVPA = 0x2000;
const MODE_DXMTFCS = 0x0008;
const MODE_LOOP = 0x0004;
const MODE_DTX = 0x0002;
const MODE_DRX = 0x0001;

const BCR_DWIO = 0x0080;
const BCR4_LEDOUT = 0x8000;
const BCR4_LNKSTE = 0x0040;
const BCR20_SSIZE32 = 0x0100;
const BCR20_CSRPCNET = 0x0200;
const BCR2_APROMWE = 0x0100;

/** CSRs the chip only lets a driver change while it is stopped or suspended. */
const WHILE_STOPPED = new Set([1, 2, 8, 9, 10, 11, 12, 13, 14, 15, 24, 25, 30, 31, 47, 72, 74, 76, 78, 112, 114]);
/** CSRs kept as written (beyond those with their own handling). */
const PLAIN_CSRS = new Set([1, 2, 8, 9, 10, 11, 12, 13, 14, 15, 24, 25, 30, 31, 47, 80, 82, 100, 112, 114, 122, 124]);

/** Longest frame accepted from a driver, without FCS: 1514 bytes plus an 802.1Q tag. */
export const MAX_FRAME = 1518;
/** Shortest frame on the wire without FCS: short frames are padded to it. */
const MIN_FRAME = 60;
/** Frames waiting for a receive descriptor before MISS: the receive FIFO stand-in. */
const RX_QUEUE = 64;
/** Bounds on one pass over a ring, whatever the guest put there. */
const MAX_DESCRIPTORS_PER_FRAME = 2048;
const MAX_FRAMES_PER_POLL = 128;
const MAX_DESCRIPTORS_PER_POLL = 8192;
const POLL_NS = 2_000_000;

export interface PcnetOptions {
  readonly pci: PciBus;
  /** Slot on bus 0 (function 0, INTA#). */
  readonly device: number;
  readonly mem: PhysicalMemory;
  readonly io: IoBus;
  readonly clock: Clock;
  /** The station address the APROM holds. */
  readonly mac: Uint8Array;
  /** A frame (no FCS) leaves on the wire. */
  readonly send: (frame: Uint8Array) => void;
}

export interface PcnetCounters {
  txFrames: number;
  rxFrames: number;
  /** Frames from the wire this station did not take: filtered, receiver off, or no room. */
  rxDropped: number;
}

export class Pcnet implements Device {
  readonly stateId = 'pcnet';
  readonly stateVersion = 1;
  readonly config: PciConfigSpace;
  readonly counters: PcnetCounters = { txFrames: 0, rxFrames: 0, rxDropped: 0 };
  private readonly aprom = new Uint8Array(16);
  private readonly csr = new Uint16Array(128);
  private readonly bcr = new Uint16Array(32);
  private rap = 0;
  private dwio = false;
  private link = true;
  private rxIndex = 0;
  private txIndex = 0;
  private readonly rxQueue: Uint8Array[] = [];
  private readonly poll: Timer;
  private mapped: IoRange | null = null;

  constructor(private readonly o: PcnetOptions) {
    if (o.mac.length !== 6) throw new Error('a PCnet needs a 6-byte MAC address');
    const cfg = new PciConfigSpace({
      vendorId: PCNET_VENDOR_ID,
      deviceId: PCNET_DEVICE_ID,
      classCode: 0x020000,
      revision: 0x10,
      interruptPin: 1,
      commandMask: 0x0145,
      status: 0x0280,
    });
    cfg.defineBar(0, { kind: 'io', size: 32 });
    // MIN_GNT and MAX_LAT as the chip reports them.
    cfg.define(0x3e, 1, 0x06);
    cfg.define(0x3f, 1, 0xff);
    cfg.onWrite = () => this.mapIo();
    o.pci.addFunction(o.device, 0, cfg);
    this.config = cfg;
    this.poll = o.clock.createTimer('pcnet poll', () => this.onPoll());
    this.loadAprom(o.mac);
  }

  /** The APROM: the MAC, then bytes AMD's drivers check: a checksum word at 12 and 'WW' at 14. */
  private loadAprom(mac: Uint8Array): void {
    this.aprom.fill(0);
    this.aprom.set(mac, 0);
    this.aprom[14] = this.aprom[15] = 0x57;
    let sum = 0;
    for (let i = 0; i < 16; i++) if (i !== 12 && i !== 13) sum += this.aprom[i]!;
    this.aprom[12] = sum & 0xff;
    this.aprom[13] = (sum >> 8) & 0xff;
  }

  get mac(): Uint8Array {
    return this.aprom.slice(0, 6);
  }

  /** Cable plugged in or pulled. */
  setLink(up: boolean): void {
    this.link = up;
  }

  get linkUp(): boolean {
    return this.link;
  }

  // ---- I/O space ----

  private mapIo(): void {
    const base = this.config.barAddress(0);
    if (this.mapped && this.mapped.base === base) return;
    if (this.mapped) this.o.io.unregister(this.mapped);
    this.mapped = null;
    if (base === null || base + 32 > 0x10000) return;
    const range: IoRange = {
      name: 'pcnet',
      base,
      length: 32,
      sizes: [1, 2, 4],
      read: (off, size) => this.ioRead(off, size, false),
      write: (off, size, v) => this.ioWrite(off, size, v),
      peek: (off, size) => this.ioRead(off, size, true),
    };
    try {
      this.o.io.register(range);
      this.mapped = range;
    } catch {
      // Placed over another device's ports: as on a bus conflict, it does not decode.
    }
  }

  /** Port offset of RAP, RESET and BDP in the current I/O mode. */
  private get layout(): { rap: number; reset: number; bdp: number; size: AccessSize } {
    return this.dwio ? { rap: 0x14, reset: 0x18, bdp: 0x1c, size: 4 } : { rap: 0x12, reset: 0x14, bdp: 0x16, size: 2 };
  }

  ioRead(off: number, size: AccessSize, peek: boolean): number {
    if (off < 16) {
      let v = 0;
      for (let i = 0; i < size && off + i < 16; i++) v |= this.aprom[off + i]! << (8 * i);
      return v >>> 0;
    }
    const l = this.layout;
    // Accesses of the other width (or bytes) to the register block are not decoded.
    if (size !== l.size) return size === 4 ? 0xffffffff : size === 2 ? 0xffff : 0xff;
    if (off === 0x10) return this.readCsr(this.rap);
    if (off === l.rap) return this.rap;
    if (off === l.reset) {
      if (!peek) this.softReset();
      return 0;
    }
    if (off === l.bdp) return this.readBcr(this.rap);
    return 0;
  }

  ioWrite(off: number, size: AccessSize, v: number): void {
    if (off < 16) {
      // The APROM is writable only while BCR2 APROMWE is set.
      if (!(this.bcr[2]! & BCR2_APROMWE)) return;
      for (let i = 0; i < size && off + i < 16; i++) this.aprom[off + i] = (v >>> (8 * i)) & 0xff;
      return;
    }
    if (!this.dwio && size === 4 && off === 0x10) {
      // A double-word write to RDP selects DWIO; the write itself carries no register data.
      this.dwio = true;
      return;
    }
    const l = this.layout;
    if (size !== l.size) return;
    v &= 0xffff;
    if (off === 0x10) this.writeCsr(this.rap, v);
    else if (off === l.rap) this.rap = v & 0xff;
    else if (off === l.bdp) this.writeBcr(this.rap, v);
  }

  // ---- registers ----

  private get stopped(): boolean {
    return (this.csr[0]! & CSR0_STOP) !== 0;
  }

  private get suspended(): boolean {
    return (this.csr[5]! & CSR5_SPND) !== 0;
  }

  readCsr(n: number): number {
    n &= 0x7f;
    switch (n) {
      case 0:
        return this.csr[0]!;
      case 58:
        return this.bcr[20]!;
      case 72:
        return -(this.rxLength - this.rxIndex) & 0xffff;
      case 74:
        return -(this.txLength - this.txIndex) & 0xffff;
      case 88:
        return 0x1003;
      case 89:
        return 0x0262;
      default:
        return this.csr[n]!;
    }
  }

  writeCsr(n: number, v: number): void {
    n &= 0x7f;
    if (WHILE_STOPPED.has(n) && !this.stopped && !this.suspended) return;
    switch (n) {
      case 0:
        return this.writeCsr0(v);
      case 3:
        this.csr[3] = v & CSR3_WRITABLE;
        break;
      case 4: {
        let c = (this.csr[4]! & ~CSR4_WRITABLE) | (v & CSR4_WRITABLE);
        c &= ~(v & CSR4_W1C);
        if (v & CSR4_UINTCMD) c |= CSR4_UINT;
        this.csr[4] = c;
        break;
      }
      case 5: {
        const was = this.suspended;
        this.csr[5] = v & CSR5_SPND;
        // Suspend takes effect at once (no frame is ever half on the wire here); leaving it
        // resumes both rings.
        if (was && !this.suspended) this.kick();
        break;
      }
      case 58:
        return this.writeBcr(20, v);
      case 72:
        this.rxIndex = this.indexFromCounter(v, this.rxLength);
        break;
      case 74:
        this.txIndex = this.indexFromCounter(v, this.txLength);
        break;
      case 76:
      case 78:
        this.csr[n] = v;
        this.rxIndex %= this.rxLength;
        this.txIndex %= this.txLength;
        break;
      default:
        if (PLAIN_CSRS.has(n)) this.csr[n] = v;
    }
    this.updateInterrupt();
  }

  private indexFromCounter(v: number, length: number): number {
    const left = -v & 0xffff || 0x10000;
    return (((length - left) % length) + length) % length;
  }

  /** Ring lengths: CSR76/78 hold their two's complement (0 stands for 65536). */
  private get rxLength(): number {
    return -this.csr[76]! & 0xffff || 0x10000;
  }

  private get txLength(): number {
    return -this.csr[78]! & 0xffff || 0x10000;
  }

  private writeCsr0(v: number): void {
    if (v & CSR0_STOP) {
      // STOP halts both rings and clears every other bit, IENA included.
      this.csr[0] = CSR0_STOP;
      this.csr[5] &= ~CSR5_SPND;
      this.rxQueue.length = 0;
      this.poll.cancel();
      this.updateInterrupt();
      return;
    }
    let c = this.csr[0]!;
    c &= ~(v & CSR0_W1C);
    c = (c & ~CSR0_IENA) | (v & CSR0_IENA);
    this.csr[0] = c;
    if (v & CSR0_INIT && !(c & CSR0_INIT)) this.initialize();
    if (v & CSR0_STRT && !(this.csr[0]! & CSR0_STRT)) this.start();
    if (v & CSR0_TDMD && this.csr[0]! & CSR0_TXON) {
      this.csr[0] |= CSR0_TDMD;
      this.transmit();
    }
    this.deliverQueued();
    this.updateInterrupt();
  }

  readBcr(n: number): number {
    n &= 0x7f;
    if (n >= 32) return 0;
    let v = this.bcr[n]!;
    if (n === 4) v = this.link && v & BCR4_LNKSTE ? v | BCR4_LEDOUT : v & ~BCR4_LEDOUT;
    if (n === 18) v = this.dwio ? v | BCR_DWIO : v & ~BCR_DWIO;
    return v;
  }

  writeBcr(n: number, v: number): void {
    n &= 0x7f;
    switch (n) {
      case 0:
      case 1:
      case 3:
      case 8:
      case 10:
      case 11:
      case 12:
      case 13:
      case 14:
      case 15:
        return; // read-only or reserved
      case 4:
      case 5:
      case 6:
      case 7:
        this.bcr[n] = v & 0x7fff;
        return;
      case 18:
        this.bcr[18] = v & ~BCR_DWIO;
        return;
      case 20: {
        const style = v & 0xff;
        let sws = style;
        if (style === 1 || style === 2 || style === 3) sws |= BCR20_SSIZE32;
        if (style !== 1) sws |= BCR20_CSRPCNET;
        this.bcr[20] = sws;
        return;
      }
      default:
        if (n < 32) this.bcr[n] = v;
    }
  }

  // ---- operation ----

  private get ssize32(): boolean {
    return (this.bcr[20]! & BCR20_SSIZE32) !== 0;
  }

  private format(): DescriptorFormat {
    const style = this.bcr[20]! & 0xff;
    return new DescriptorFormat(this.o.mem, style === 1 ? 2 : style > 3 ? 0 : style, this.ssize32 ? 0 : ((this.csr[2]! & 0xff00) << 16) >>> 0);
  }

  /** INIT: reads the initialization block at IADR into MODE, PADR, LADRF and the ring registers. */
  private initialize(): void {
    const m = this.o.mem;
    const iadr = (this.csr[1]! | (this.csr[2]! << 16)) >>> 0;
    const csr = this.csr;
    if (this.ssize32) {
      const w0 = m.read32(iadr) >>> 0;
      csr[15] = w0 & 0xffff;
      const rlen = Math.min((w0 >>> 20) & 0xf, 9);
      const tlen = Math.min((w0 >>> 28) & 0xf, 9);
      for (let i = 0; i < 3; i++) csr[12 + i] = m.read16(iadr + 4 + 2 * i);
      for (let i = 0; i < 4; i++) csr[8 + i] = m.read16(iadr + 12 + 2 * i);
      const rdra = m.read32(iadr + 20) >>> 0;
      const tdra = m.read32(iadr + 24) >>> 0;
      csr[24] = rdra & 0xffff;
      csr[25] = rdra >>> 16;
      csr[30] = tdra & 0xffff;
      csr[31] = tdra >>> 16;
      csr[76] = -(1 << rlen) & 0xffff;
      csr[78] = -(1 << tlen) & 0xffff;
    } else {
      csr[15] = m.read16(iadr);
      for (let i = 0; i < 3; i++) csr[12 + i] = m.read16(iadr + 2 + 2 * i);
      for (let i = 0; i < 4; i++) csr[8 + i] = m.read16(iadr + 8 + 2 * i);
      const r = m.read32(iadr + 16) >>> 0;
      const t = m.read32(iadr + 20) >>> 0;
      // 24-bit ring addresses; the top byte comes from IADR's, as for every 16-bit-style address.
      const hi = csr[2]! & 0xff00;
      csr[24] = r & 0xffff;
      csr[25] = hi | ((r >>> 16) & 0xff);
      csr[30] = t & 0xffff;
      csr[31] = hi | ((t >>> 16) & 0xff);
      csr[76] = -(1 << Math.min(r >>> 29, 7)) & 0xffff;
      csr[78] = -(1 << Math.min(t >>> 29, 7)) & 0xffff;
    }
    this.rxIndex = 0;
    this.txIndex = 0;
    csr[0] = (csr[0]! & ~CSR0_STOP) | CSR0_INIT | CSR0_IDON;
  }

  private start(): void {
    const mode = this.csr[15]!;
    let c = (this.csr[0]! & ~CSR0_STOP) | CSR0_STRT;
    if (!(mode & MODE_DRX)) c |= CSR0_RXON;
    if (!(mode & MODE_DTX)) c |= CSR0_TXON;
    this.csr[0] = c;
    this.armPoll();
  }

  private armPoll(): void {
    const running = (this.csr[0]! & (CSR0_RXON | CSR0_TXON)) !== 0;
    const txPolling = (this.csr[0]! & CSR0_TXON) !== 0 && !(this.csr[4]! & CSR4_TXDPOLL);
    if (running && (txPolling || this.rxQueue.length > 0)) {
      if (!this.poll.armed) this.poll.arm(this.o.clock.now() + POLL_NS);
    } else this.poll.cancel();
  }

  private onPoll(): void {
    this.kick();
    this.armPoll();
  }

  /** Looks at both rings again: queued frames may find descriptors, the driver may have queued frames. */
  private kick(): void {
    if (this.csr[0]! & CSR0_TXON && !(this.csr[4]! & CSR4_TXDPOLL)) this.transmit();
    this.deliverQueued();
    this.updateInterrupt();
  }

  private get canMaster(): boolean {
    return this.config.busMaster && !this.suspended;
  }

  private ringAddress(base: number, index: number, f: DescriptorFormat): number {
    return (base + index * f.size) >>> 0;
  }

  /** Sends what the driver handed over on the transmit ring, bounded per call. */
  private transmit(): void {
    this.csr[0] &= ~CSR0_TDMD;
    if (!(this.csr[0]! & CSR0_TXON) || !this.canMaster) return;
    const f = this.format();
    const base = ((this.csr[30]! | (this.csr[31]! << 16)) & ~(f.size - 1)) >>> 0;
    const len = this.txLength;
    let budget = MAX_DESCRIPTORS_PER_POLL;
    for (let frames = 0; frames < MAX_FRAMES_PER_POLL && budget >= MAX_DESCRIPTORS_PER_FRAME; frames++) {
      const first = this.ringAddress(base, this.txIndex, f);
      const d = f.read(first);
      if (!(d.flags & OWN)) return;
      if (!(d.flags & STP)) {
        // A descriptor in the middle of nowhere: handed back untouched so the ring moves on.
        f.completeTransmit(first, d.flags & ~OWN, 0);
        this.txIndex = (this.txIndex + 1) % len;
        budget--;
        continue;
      }
      this.csr[4] |= CSR4_TXSTRT;
      const parts: Uint8Array[] = [];
      let total = 0;
      let addr = first;
      let desc = d;
      let used = 0;
      let errors = 0;
      let chain = true;
      let addFcs = (d.flags & FRAM_ADD_FCS) !== 0;
      for (;;) {
        if (total <= MAX_FRAME + 4) parts.push(this.o.mem.readBytes(desc.buffer, Math.min(desc.length, MAX_FRAME + 8 - total)));
        total += desc.length;
        used++;
        if (desc.flags & ENP) break;
        const nextIndex = (this.txIndex + used) % len;
        const next = this.ringAddress(base, nextIndex, f);
        const nd = used < Math.min(len, MAX_DESCRIPTORS_PER_FRAME) ? f.read(next) : null;
        if (!nd || !(nd.flags & OWN)) {
          // The frame's next buffer is not there: a transmit underflow, which (unless DXSUFLO)
          // turns the transmitter off until the driver restarts it.
          errors = TMD2_BUFF | TMD2_UFLO;
          chain = false;
          break;
        }
        f.completeTransmit(addr, desc.flags & ~OWN, 0);
        addr = next;
        desc = nd;
      }
      this.txIndex = (this.txIndex + used) % len;
      budget -= used;
      if (chain) {
        const frame = concat(parts, Math.min(total, MAX_FRAME + 8));
        const mode = this.csr[15]!;
        // With DXMTFCS the driver supplied the FCS itself unless this frame asks for ADD_FCS.
        addFcs ||= !(mode & MODE_DXMTFCS);
        const body = addFcs ? frame : frame.subarray(0, Math.max(0, frame.length - 4));
        if (body.length > MAX_FRAME) this.csr[0] |= CSR0_BABL;
        else if (mode & MODE_LOOP) this.receiveFrame(this.pad(body));
        else if (!this.link) errors |= TMD2_LCAR;
        // A runt too short for an Ethernet header goes on the wire, but no station takes it.
        else if (body.length >= 14) {
          this.counters.txFrames++;
          this.o.send(this.pad(body));
        }
      }
      f.completeTransmit(addr, (desc.flags & ~OWN) | (errors ? ERR : 0), errors);
      this.csr[0] |= CSR0_TINT;
      if (!chain && !(this.csr[3]! & CSR3_DXSUFLO)) {
        this.csr[0] &= ~CSR0_TXON;
        return;
      }
    }
  }

  private pad(frame: Uint8Array): Uint8Array {
    if (frame.length >= MIN_FRAME || !(this.csr[4]! & CSR4_APAD_XMT)) return frame.slice();
    const out = new Uint8Array(MIN_FRAME);
    out.set(frame);
    return out;
  }

  /** A frame arrives from the wire (no FCS). */
  receive(frame: Uint8Array): void {
    if (!this.link || this.csr[15]! & MODE_LOOP) {
      this.counters.rxDropped++;
      return;
    }
    this.receiveFrame(frame);
    this.updateInterrupt();
  }

  private receiveFrame(frame: Uint8Array): void {
    if (!(this.csr[0]! & CSR0_RXON) || frame.length < 14 || frame.length > MAX_FRAME || !this.accepts(frame)) {
      this.counters.rxDropped++;
      return;
    }
    if (this.rxQueue.length === 0 && this.place(frame)) return;
    if (this.rxQueue.length >= RX_QUEUE) {
      this.missed();
      return;
    }
    this.rxQueue.push(frame.slice());
    this.armPoll();
  }

  private missed(): void {
    this.counters.rxDropped++;
    this.csr[0] |= CSR0_MISS;
    this.csr[112] = (this.csr[112]! + 1) & 0xffff;
    if (this.csr[112] === 0) this.csr[4] |= CSR4_MFCO;
  }

  private deliverQueued(): void {
    while (this.rxQueue.length && this.csr[0]! & CSR0_RXON) {
      if (!this.place(this.rxQueue[0]!)) break;
      this.rxQueue.shift();
    }
  }

  /** Address filter (CSR15 PROM, DRCVPA, DRCVBC; LADRF for multicast). */
  private accepts(frame: Uint8Array): boolean {
    const mode = this.csr[15]!;
    if (mode & MODE_PROM) return true;
    if (frame[0]! & 1) {
      let broadcast = true;
      for (let i = 0; i < 6; i++) if (frame[i] !== 0xff) broadcast = false;
      if (broadcast) return !(mode & MODE_DRCVBC);
      const bit = ladrfIndex(frame);
      return ((this.csr[8 + (bit >> 4)]! >> (bit & 15)) & 1) === 1;
    }
    if (mode & MODE_DRCVPA) return false;
    for (let i = 0; i < 3; i++) if (frame[2 * i]! !== (this.csr[12 + i]! & 0xff) || frame[2 * i + 1]! !== this.csr[12 + i]! >> 8) return false;
    return true;
  }

  /** Writes a frame into the receive ring; false when the current descriptor is not the chip's. */
  private place(frame: Uint8Array): boolean {
    if (!this.canMaster || this.suspended) return false;
    const f = this.format();
    const base = ((this.csr[24]! | (this.csr[25]! << 16)) & ~(f.size - 1)) >>> 0;
    const len = this.rxLength;
    const first = f.read(this.ringAddress(base, this.rxIndex, f));
    if (!(first.flags & OWN)) return false;
    // What the wire carried: the frame padded to the minimum, then its FCS.
    const wire = new Uint8Array(Math.max(frame.length, MIN_FRAME) + 4);
    wire.set(frame);
    new DataView(wire.buffer).setUint32(wire.length - 4, ethernetCrc(wire, 0, wire.length - 4), true);
    let at = 0;
    let used = 0;
    let index = this.rxIndex;
    let d = first;
    for (;;) {
      const addr = this.ringAddress(base, index, f);
      const n = Math.min(d.length, wire.length - at);
      this.o.mem.writeBytes(d.buffer, wire.subarray(at, at + n));
      at += n;
      used++;
      index = (index + 1) % len;
      const flags = used === 1 ? STP : 0;
      if (at >= wire.length) {
        f.completeReceive(addr, flags | ENP, wire.length);
        break;
      }
      const next = used < Math.min(len, MAX_DESCRIPTORS_PER_FRAME) ? f.read(this.ringAddress(base, index, f)) : null;
      if (!next || !(next.flags & OWN)) {
        // No buffer for the rest: the frame is cut short with BUFF and OFLO, as the chip does when
        // chaining runs into a descriptor it does not own.
        f.completeReceive(addr, flags | ERR | BUFF_RX | OFLO, 0);
        break;
      }
      f.completeReceive(addr, flags, 0);
      d = next;
    }
    this.rxIndex = index;
    this.counters.rxFrames++;
    this.csr[0] |= CSR0_RINT;
    return true;
  }

  // ---- interrupts and reset ----

  private updateInterrupt(): void {
    let c = this.csr[0]!;
    const masks = this.csr[3]!;
    const c4 = this.csr[4]!;
    c &= ~(CSR0_ERR | CSR0_INTR);
    if (c & (CSR0_BABL | CSR0_CERR | CSR0_MISS | CSR0_MERR)) c |= CSR0_ERR;
    const causes = c & (CSR0_BABL | CSR0_MISS | CSR0_MERR | CSR0_RINT | CSR0_TINT | CSR0_IDON) & ~masks;
    const c4causes =
      (c4 & CSR4_MFCO && !(c4 & CSR4_MFCOM)) ||
      c4 & CSR4_UINT ||
      (c4 & CSR4_RCVCCO && !(c4 & CSR4_RCVCCOM)) ||
      (c4 & CSR4_TXSTRT && !(c4 & CSR4_TXSTRTM)) ||
      (c4 & CSR4_JAB && !(c4 & CSR4_JABM));
    if (causes || c4causes) c |= CSR0_INTR;
    this.csr[0] = c;
    this.config.setIntx((c & (CSR0_INTR | CSR0_IENA)) === (CSR0_INTR | CSR0_IENA));
  }

  /** S_RESET (a read of the RESET register): the controller stops; BCRs and the I/O mode stay. */
  private softReset(): void {
    this.csr[0] = CSR0_STOP;
    this.csr[3] = 0;
    this.csr[4] = CSR4_DEFAULT;
    this.csr[5] = 0;
    this.csr[15] &= ~(MODE_LOOP | MODE_DTX | MODE_DRX);
    this.csr[112] = 0;
    this.rxQueue.length = 0;
    this.poll.cancel();
    this.updateInterrupt();
  }

  reset(kind: ResetKind): void {
    if (kind === 'soft') return;
    // H_RESET: everything, BCRs and the I/O mode included.
    this.config.reset();
    this.mapIo();
    this.csr.fill(0);
    this.bcr.fill(0);
    this.bcr[0] = this.bcr[1] = 0x0005;
    this.bcr[2] = 0x0002;
    this.bcr[4] = 0x00c0;
    this.bcr[5] = 0x0084;
    this.bcr[6] = 0x0088;
    this.bcr[7] = 0x0090;
    this.bcr[18] = 0x9001;
    this.bcr[20] = BCR20_CSRPCNET;
    this.bcr[22] = 0xff06;
    this.rap = 0;
    this.dwio = false;
    this.rxIndex = this.txIndex = 0;
    this.csr[76] = this.csr[78] = 0xffff;
    this.loadAprom(this.aprom.slice(0, 6));
    for (let i = 0; i < 3; i++) this.csr[12 + i] = this.aprom[2 * i]! | (this.aprom[2 * i + 1]! << 8);
    this.softReset();
  }

  reassertInterrupts(): void {
    this.updateInterrupt();
  }

  // Frames queued for a descriptor are not saved: to the guest they are frames lost on the wire.
  saveState(): StateRecord {
    return {
      config: this.config.saveState(),
      aprom: this.aprom.slice(),
      csr: new Uint8Array(this.csr.buffer.slice(0)),
      bcr: new Uint8Array(this.bcr.buffer.slice(0)),
      rap: this.rap,
      dwio: this.dwio,
      link: this.link,
      rxIndex: this.rxIndex,
      txIndex: this.txIndex,
      poll: this.poll.armed ? this.poll.deadline : -1,
    };
  }

  loadState(s: StateRecord, version: number): void {
    if (version !== 1) throw new Error(`pcnet: saved state version ${version} is not supported (expected 1)`);
    const c = s['config'];
    if (!c || typeof c !== 'object' || Array.isArray(c) || c instanceof Uint8Array) throw new Error('saved state: field "config" is missing or not a record');
    this.config.loadState(c);
    this.aprom.set(stateBytes(s, 'aprom', 16));
    this.csr.set(new Uint16Array(stateBytes(s, 'csr', 256).slice().buffer));
    this.bcr.set(new Uint16Array(stateBytes(s, 'bcr', 64).slice().buffer));
    this.rap = stateNumber(s, 'rap') & 0xff;
    this.dwio = stateBool(s, 'dwio');
    this.link = stateBool(s, 'link');
    this.rxIndex = stateNumber(s, 'rxIndex') % this.rxLength;
    this.txIndex = stateNumber(s, 'txIndex') % this.txLength;
    this.rxQueue.length = 0;
    const poll = stateNumber(s, 'poll');
    if (poll >= 0) this.poll.arm(poll);
    else this.poll.cancel();
    this.mapIo();
  }
}

function concat(parts: Uint8Array[], length: number): Uint8Array {
  const out = new Uint8Array(length);
  let at = 0;
  for (const p of parts) {
    const n = Math.min(p.length, length - at);
    out.set(p.subarray(0, n), at);
    at += n;
  }
  return out;
}
