// National Semiconductor / TI PC16550D UART ("16550A": the part whose FIFOs work), as wired on a
// PC's COM1 (0x3F8, IRQ4) and COM2 (0x2F8, IRQ3).
//
// Datasheet: PC16550D Universal Asynchronous Receiver/Transmitter with FIFOs (National, June 1995;
// TI SNLS378), section 8 "Registers": the register summary table, Line Control, Programmable Baud
// Generator, Line Status, FIFO Control, Interrupt Identification (with its priority table),
// Interrupt Enable, Modem Control (loopback), Modem Status, Scratchpad, and FIFO interrupt mode
// operation (trigger level, character timeout); the reset configuration table.
//
// Model choices:
// - Transmission is instantaneous: a byte written to THR goes to the sink at once and THRE/TEMT
//   come back immediately, as QEMU does. Pacing output at the baud rate would make every kernel
//   printk on a serial console cost guest time for nothing the guest can observe usefully.
// - Host input waits in a host-side buffer (up to HOST_BUFFER_LIMIT bytes) and moves into the
//   16-byte RX FIFO as the guest drains it, so pasted text is not lost to overrun: one character
//   time after the FIFO has room, whatever fits arrives at once. The pause lets the FIFO run
//   empty between bursts, so the IRQ line falls and an edge-triggered 8259 sees the next burst.
// - The character timeout runs on guest time: four character times computed from the divisor latch
//   and LCR (start bit + data bits + parity + stop bits at 115200/divisor baud).
// - On a PC the INTRPT pin reaches the 8259 only through a buffer enabled by OUT2; Linux's 8250
//   driver sets OUT2 on open and relies on this gate, so the IrqLine is driven only while MCR.OUT2
//   is set and loopback is off (loopback forces the modem outputs, OUT2 included, inactive).

import type { AccessSize, IoRange } from '../../bus.ts';
import type { Clock, Timer } from '../../clock.ts';
import type { Device, ResetKind, StateRecord } from '../../device.ts';
import { defineState, loadBySchema, saveBySchema, StateError, type FieldSpec, type StateSchema } from '../../state/schema.ts';
import type { IrqLine } from '../../irq.ts';

// Register offsets (Table II); DLAB = LCR bit 7 selects the divisor latch at 0 and 1.
export const RBR = 0; // read, DLAB=0
export const THR = 0; // write, DLAB=0
export const DLL = 0; // DLAB=1
export const IER = 1; // DLAB=0
export const DLM = 1; // DLAB=1
export const IIR = 2; // read
export const FCR = 2; // write
export const LCR = 3;
export const MCR = 4;
export const LSR = 5;
export const MSR = 6;
export const SCR = 7;

// IER
export const IER_ERBFI = 0x01; // received data available
export const IER_ETBEI = 0x02; // transmitter holding register empty
export const IER_ELSI = 0x04; // receiver line status
export const IER_EDSSI = 0x08; // modem status

// IIR (Table IV): bit 0 clear = pending; bits 3-1 identify the highest-priority cause.
export const IIR_NO_INT = 0x01;
export const IIR_RLS = 0x06; // receiver line status, priority 1
export const IIR_RDA = 0x04; // received data available / trigger level, priority 2
export const IIR_CTI = 0x0c; // character timeout, priority 2
export const IIR_THRE = 0x02; // THR empty, priority 3
export const IIR_MS = 0x00; // modem status, priority 4
export const IIR_FIFOS_ENABLED = 0xc0;

// FCR
export const FCR_FIFO_ENABLE = 0x01;
export const FCR_RCVR_RESET = 0x02;
export const FCR_XMIT_RESET = 0x04;
export const FCR_DMA_MODE = 0x08;
const RCVR_TRIGGER = [1, 4, 8, 14] as const;

// LCR
export const LCR_DLAB = 0x80;

// MCR
export const MCR_DTR = 0x01;
export const MCR_RTS = 0x02;
export const MCR_OUT1 = 0x04;
export const MCR_OUT2 = 0x08;
export const MCR_LOOP = 0x10;

// LSR
export const LSR_DR = 0x01;
export const LSR_OE = 0x02;
export const LSR_PE = 0x04;
export const LSR_FE = 0x08;
export const LSR_BI = 0x10;
export const LSR_THRE = 0x20;
export const LSR_TEMT = 0x40;
export const LSR_RCVR_FIFO_ERROR = 0x80;

// MSR
export const MSR_DCTS = 0x01;
export const MSR_DDSR = 0x02;
export const MSR_TERI = 0x04;
export const MSR_DDCD = 0x08;
export const MSR_CTS = 0x10;
export const MSR_DSR = 0x20;
export const MSR_RI = 0x40;
export const MSR_DCD = 0x80;

const FIFO_SIZE = 16;
/** The 1.8432 MHz crystal divided by 16: the baud rate for divisor 1. */
const BAUD_BASE = 115200;
/** Host bytes kept for the guest beyond the FIFO; more than this is dropped (the host is told nothing). */
export const HOST_BUFFER_LIMIT = 1 << 20;

export type ByteSink = (bytes: Uint8Array) => void;

/** What is connected to the modem inputs when loopback is off (default: a terminal that is ready). */
export interface ModemInputs {
  cts: boolean;
  dsr: boolean;
  ri: boolean;
  dcd: boolean;
}

export class Ns16550a implements Device {
  readonly stateId: string;
  get stateVersion(): number {
    return this.stateSchema.version;
  }
  readonly ioRanges: IoRange[];

  private ier = 0;
  private lcr = 0;
  private mcr = 0;
  private lsr = LSR_THRE | LSR_TEMT;
  /** MSR delta bits (3-0); the state bits are computed from the inputs or loopback. */
  private msrDelta = 0;
  private scr = 0;
  private dll = 12;
  private dlm = 0;
  private fifoEnabled = false;
  private rxTrigger = 1;
  /** FCR bit 3 is write-only; kept so a saved state round-trips it. */
  private dmaMode = false;
  /** THRE interrupt latch: set when THR empties (or ETBEI is enabled while empty), cleared by an IIR read that reports it or a THR write. */
  private thrIpending = true;
  private timeoutPending = false;
  /** RX FIFO as a ring; in non-FIFO mode it holds at most one byte (the RBR). */
  private readonly rx = new Uint8Array(FIFO_SIZE);
  private rxHead = 0;
  private rxCount = 0;
  /** Per-byte error bits in the RX FIFO (LSR bits 1-4 travel with the byte they belong to). */
  private readonly rxErr = new Uint8Array(FIFO_SIZE);
  private hostBuf: Uint8Array = new Uint8Array(0);
  private hostLen = 0;
  /** Offsets in hostBuf of the 0x00 characters that stand for a received break. */
  private hostBreaks: number[] = [];
  private modem: ModemInputs = { cts: true, dsr: true, ri: false, dcd: true };
  private irqHigh = false;
  private readonly timeoutTimer: Timer;
  private readonly feedTimer: Timer;

  constructor(
    readonly base: number,
    private readonly irq: IrqLine,
    private readonly clock: Clock,
    private readonly sink: ByteSink,
  ) {
    this.stateId = `ns16550a@${base.toString(16)}`;
    this.timeoutTimer = clock.createTimer(`${this.stateId} character timeout`, () => this.onTimeout());
    this.feedTimer = clock.createTimer(`${this.stateId} receive`, () => this.feedFromHost());
    this.ioRanges = [
      {
        name: `ns16550a ${base.toString(16)}`,
        base,
        length: 8,
        read: (off) => this.readReg(off),
        write: (off, _size, v) => this.writeReg(off, v & 0xff),
        peek: (off, size: AccessSize) => (size === 1 ? this.peekReg(off) : 0xff),
      },
    ];
  }

  // ---- host side ----

  /** Bytes from the host (terminal, pty). They reach the guest in order as it reads them. */
  receive(bytes: Uint8Array): void {
    const room = HOST_BUFFER_LIMIT - this.hostLen;
    const n = Math.min(room, bytes.length);
    if (n <= 0) return;
    if (this.hostLen + n > this.hostBuf.length) {
      const grown = new Uint8Array(Math.min(HOST_BUFFER_LIMIT, Math.max(256, (this.hostLen + n) * 2)));
      grown.set(this.hostBuf.subarray(0, this.hostLen));
      this.hostBuf = grown;
    }
    this.hostBuf.set(bytes.subarray(0, n), this.hostLen);
    this.hostLen += n;
    this.scheduleFeed();
  }

  /**
   * A break on the line (the host's "send break"): arrives after the bytes already waiting, as a
   * 0x00 character with LSR.BI, which Linux turns into a SysRq prefix on a serial console.
   */
  receiveBreak(): void {
    if (this.hostLen >= HOST_BUFFER_LIMIT) return;
    this.receive(Uint8Array.of(0));
    this.hostBreaks.push(this.hostLen - 1);
  }

  /** Bytes waiting on the host side of the FIFO (for flow control in the back end). */
  get hostBacklog(): number {
    return this.hostLen;
  }

  /** Changes what the modem inputs see; edges set the MSR delta bits as the pins would. */
  setModemInputs(inputs: ModemInputs): void {
    const before = this.msrState();
    this.modem = { ...inputs };
    this.noteMsrChange(before);
    this.update();
  }

  // ---- registers ----

  private readReg(off: number): number {
    switch (off) {
      case 0: {
        if (this.lcr & LCR_DLAB) return this.dll;
        return this.readRbr();
      }
      case 1:
        return this.lcr & LCR_DLAB ? this.dlm : this.ier;
      case 2: {
        const iir = this.iir();
        // Reading IIR while it reports THRE is one of the two ways that interrupt is cleared.
        if ((iir & 0x0f) === IIR_THRE) {
          this.thrIpending = false;
          this.update();
        }
        return iir;
      }
      case 3:
        return this.lcr;
      case 4:
        return this.mcr;
      case 5: {
        const v = this.lsrValue();
        // Reading LSR clears the error bits (and with them the line status interrupt); in FIFO
        // mode those are the errors of the character at the top of the FIFO.
        this.lsr &= ~(LSR_OE | LSR_PE | LSR_FE | LSR_BI);
        if (this.fifoEnabled && this.rxCount) this.rxErr[this.rxHead] = 0;
        this.update();
        return v;
      }
      case 6: {
        const v = this.msrState() | this.msrDelta;
        this.msrDelta = 0;
        this.update();
        return v;
      }
      default:
        return this.scr;
    }
  }

  private peekReg(off: number): number {
    switch (off) {
      case 0:
        return this.lcr & LCR_DLAB ? this.dll : this.rxCount ? this.rx[this.rxHead]! : 0;
      case 1:
        return this.lcr & LCR_DLAB ? this.dlm : this.ier;
      case 2:
        return this.iir();
      case 3:
        return this.lcr;
      case 4:
        return this.mcr;
      case 5:
        return this.lsrValue();
      case 6:
        return this.msrState() | this.msrDelta;
      default:
        return this.scr;
    }
  }

  private writeReg(off: number, v: number): void {
    switch (off) {
      case 0:
        if (this.lcr & LCR_DLAB) {
          this.dll = v;
          this.armTimeout();
        } else this.writeThr(v);
        break;
      case 1:
        if (this.lcr & LCR_DLAB) {
          this.dlm = v;
          this.armTimeout();
        } else {
          const before = this.ier;
          this.ier = v & 0x0f;
          // Enabling ETBEI with THR empty raises the THRE interrupt at once; Linux's 8250 driver
          // probes for this (UART_BUG_THRE) and drives its transmitter with it.
          if (!(before & IER_ETBEI) && this.ier & IER_ETBEI && this.lsr & LSR_THRE) this.thrIpending = true;
        }
        break;
      case 2:
        this.writeFcr(v);
        break;
      case 3:
        this.lcr = v;
        this.armTimeout();
        break;
      case 4: {
        const before = this.msrState();
        this.mcr = v & 0x1f;
        this.noteMsrChange(before);
        // Host bytes held back during loopback flow again once it ends.
        this.scheduleFeed();
        break;
      }
      case 5:
        // LSR is for factory test only; writes do nothing on a working part.
        return;
      case 6:
        return;
      default:
        this.scr = v;
        return;
    }
    this.update();
  }

  private writeThr(v: number): void {
    this.thrIpending = false;
    this.update();
    if (this.mcr & MCR_LOOP) this.pushRx(v, 0);
    else this.sink(Uint8Array.of(v));
    // The shift register finished instantly: THR and the transmitter are empty again.
    this.lsr |= LSR_THRE | LSR_TEMT;
    this.thrIpending = true;
  }

  private writeFcr(v: number): void {
    const enable = (v & FCR_FIFO_ENABLE) !== 0;
    if (enable !== this.fifoEnabled) {
      // Changing FCR bit 0 clears both FIFOs.
      this.clearRx();
      this.fifoEnabled = enable;
    }
    if (!enable) {
      // The other FCR bits are only written while bit 0 is being set.
      this.scheduleFeed();
      return;
    }
    if (v & FCR_RCVR_RESET) this.clearRx();
    // Transmit FIFO reset: the transmit FIFO is always empty in this model.
    this.dmaMode = (v & FCR_DMA_MODE) !== 0;
    this.rxTrigger = RCVR_TRIGGER[(v >> 6) & 3]!;
    this.scheduleFeed();
  }

  private readRbr(): number {
    if (this.rxCount === 0) return this.lastRx;
    const v = this.rx[this.rxHead]!;
    this.rxHead = (this.rxHead + 1) % FIFO_SIZE;
    this.rxCount--;
    this.lastRx = v;
    this.timeoutPending = false;
    this.scheduleFeed();
    this.armTimeout();
    this.update();
    return v;
  }
  /** What RBR reads when empty: the last byte received, as the holding register keeps it. */
  private lastRx = 0;

  // ---- receive path ----

  private get rxCapacity(): number {
    return this.fifoEnabled ? FIFO_SIZE : 1;
  }

  private clearRx(): void {
    this.rxHead = 0;
    this.rxCount = 0;
    this.rxErr.fill(0);
    this.timeoutPending = false;
    this.timeoutTimer.cancel();
  }

  /** A byte arriving at the receiver shift register (from the host or looped back). */
  private pushRx(v: number, errBits: number): void {
    if (this.rxCount >= this.rxCapacity) {
      // Overrun: the new character is lost, the FIFO contents are kept.
      this.lsr |= LSR_OE;
      this.update();
      return;
    }
    const at = (this.rxHead + this.rxCount) % FIFO_SIZE;
    this.rx[at] = v;
    this.rxErr[at] = errBits;
    this.rxCount++;
    if (!this.fifoEnabled) this.lsr |= errBits;
    this.armTimeout();
    this.update();
  }

  /** Arms the delivery of host bytes one character time from now, if there are any and room for them. */
  private scheduleFeed(): void {
    if (this.hostLen === 0 || this.mcr & MCR_LOOP || this.rxCount >= this.rxCapacity || this.feedTimer.armed) return;
    this.feedTimer.arm(this.clock.now() + this.charTimeNs());
  }

  private feedFromHost(): void {
    if (this.hostLen === 0 || this.mcr & MCR_LOOP) return;
    let n = 0;
    while (this.rxCount < this.rxCapacity && n < this.hostLen) {
      const at = (this.rxHead + this.rxCount) % FIFO_SIZE;
      const err = this.hostBreaks[0] === n ? LSR_BI : 0;
      if (err) this.hostBreaks.shift();
      this.rx[at] = this.hostBuf[n++]!;
      this.rxErr[at] = err;
      if (!this.fifoEnabled) this.lsr |= err;
      this.rxCount++;
    }
    if (n === 0) return;
    this.hostBuf.copyWithin(0, n, this.hostLen);
    this.hostLen -= n;
    for (let i = 0; i < this.hostBreaks.length; i++) this.hostBreaks[i]! -= n;
    this.armTimeout();
    this.update();
  }

  /** One character time in ns at the current divisor and line format. */
  charTimeNs(): number {
    const divisor = (this.dlm << 8) | this.dll || 0x10000; // divisor 0 behaves as 65536 on the baud generator
    const dataBits = 5 + (this.lcr & 3);
    const parity = this.lcr & 0x08 ? 1 : 0;
    const stop = this.lcr & 0x04 ? (dataBits === 5 ? 1.5 : 2) : 1;
    const bits = 1 + dataBits + parity + stop;
    return (bits * divisor * 1e9) / BAUD_BASE;
  }

  private armTimeout(): void {
    // The timeout counts from the last character into or out of the FIFO; only in FIFO mode.
    if (this.fifoEnabled && this.rxCount > 0) this.timeoutTimer.arm(this.clock.now() + 4 * this.charTimeNs());
    else this.timeoutTimer.cancel();
  }

  private onTimeout(): void {
    if (this.fifoEnabled && this.rxCount > 0) {
      this.timeoutPending = true;
      this.update();
    }
  }

  // ---- derived registers ----

  /** LSR bits 1-4: overrun, and the errors of the received character (the FIFO's top one in FIFO mode). */
  private lineErrors(): number {
    if (!this.fifoEnabled) return this.lsr & (LSR_OE | LSR_PE | LSR_FE | LSR_BI);
    return (this.lsr & LSR_OE) | (this.rxCount ? this.rxErr[this.rxHead]! : 0);
  }

  private lsrValue(): number {
    let v = (this.lsr & (LSR_THRE | LSR_TEMT)) | this.lineErrors();
    if (this.rxCount) v |= LSR_DR;
    if (this.fifoEnabled) {
      // Bit 7: some character in the FIFO carries an error.
      for (let i = 0; i < this.rxCount; i++) if (this.rxErr[(this.rxHead + i) % FIFO_SIZE]) v |= LSR_RCVR_FIFO_ERROR;
    }
    return v;
  }

  private msrState(): number {
    if (this.mcr & MCR_LOOP) {
      // Loopback: RTS->CTS, DTR->DSR, OUT1->RI, OUT2->DCD.
      return (
        (this.mcr & MCR_RTS ? MSR_CTS : 0) |
        (this.mcr & MCR_DTR ? MSR_DSR : 0) |
        (this.mcr & MCR_OUT1 ? MSR_RI : 0) |
        (this.mcr & MCR_OUT2 ? MSR_DCD : 0)
      );
    }
    const m = this.modem;
    return (m.cts ? MSR_CTS : 0) | (m.dsr ? MSR_DSR : 0) | (m.ri ? MSR_RI : 0) | (m.dcd ? MSR_DCD : 0);
  }

  private noteMsrChange(before: number): void {
    const after = this.msrState();
    const changed = before ^ after;
    if (changed & MSR_CTS) this.msrDelta |= MSR_DCTS;
    if (changed & MSR_DSR) this.msrDelta |= MSR_DDSR;
    if (changed & MSR_DCD) this.msrDelta |= MSR_DDCD;
    // TERI is set on the trailing edge of RI only.
    if (before & MSR_RI && !(after & MSR_RI)) this.msrDelta |= MSR_TERI;
  }

  private iir(): number {
    const fifo = this.fifoEnabled ? IIR_FIFOS_ENABLED : 0;
    return this.pendingCause() | fifo;
  }

  private pendingCause(): number {
    const ier = this.ier;
    if (ier & IER_ELSI && this.lineErrors()) return IIR_RLS;
    if (ier & IER_ERBFI) {
      if (this.fifoEnabled ? this.rxCount >= this.rxTrigger : this.rxCount > 0) return IIR_RDA;
      if (this.timeoutPending) return IIR_CTI;
    }
    if (ier & IER_ETBEI && this.thrIpending) return IIR_THRE;
    if (ier & IER_EDSSI && this.msrDelta) return IIR_MS;
    return IIR_NO_INT;
  }

  private update(): void {
    const gate = (this.mcr & (MCR_OUT2 | MCR_LOOP)) === MCR_OUT2;
    const level = gate && this.pendingCause() !== IIR_NO_INT;
    if (level === this.irqHigh) return;
    this.irqHigh = level;
    if (level) this.irq.raise();
    else this.irq.lower();
  }

  // ---- Device ----

  reset(kind: ResetKind): void {
    // Master reset (the datasheet's reset configuration table) clears IER, IIR, FCR, LCR, MCR, LSR and the MSR deltas;
    // the divisor latch and scratchpad keep their contents except at power-on.
    this.ier = 0;
    this.lcr = 0;
    this.mcr = 0;
    this.lsr = LSR_THRE | LSR_TEMT;
    this.msrDelta = 0;
    this.fifoEnabled = false;
    this.rxTrigger = 1;
    this.dmaMode = false;
    this.thrIpending = true;
    this.clearRx();
    this.lastRx = 0;
    if (kind === 'power') {
      this.scr = 0;
      this.dll = 12;
      this.dlm = 0;
      this.hostLen = 0;
      this.hostBreaks = [];
    }
    this.feedTimer.cancel();
    this.scheduleFeed();
    this.update();
  }

  reassertInterrupts(): void {
    if (this.irqHigh) this.irq.raise();
  }

  /** The schema save and load follow; the contract test reads it too. */
  get stateSchema(): StateSchema<unknown> {
    return UART_STATE as StateSchema<unknown>;
  }

  saveState(): StateRecord {
    return saveBySchema(UART_STATE, this);
  }

  loadState(s: StateRecord, version: number): void {
    loadBySchema(UART_STATE, this, s, version);
  }
}

const u8 = (name: string, mask?: number): FieldSpec<Ns16550a> => ({ name, type: 'u8', since: 1, mask });
const flag = (name: string): FieldSpec<Ns16550a> => ({ name, type: 'bool', since: 1 });
const pin = (name: keyof ModemInputs): FieldSpec<Ns16550a> => ({
  name: `modem${name.toUpperCase()}`,
  type: 'bool',
  since: 1,
  get: (u) => u['modem'][name],
  set: (u, v) => (u['modem'] = { ...u['modem'], [name]: v as boolean }),
});

/**
 * A UART's saved state: its registers, the RX FIFO in order (oldest first) with each byte's error
 * bits, what the host sent that the guest has not read yet (and where its breaks are), and the
 * modem inputs. Its timers (character timeout, receive pacing) are saved by the clock.
 */
const UART_STATE: StateSchema<Ns16550a> = defineState<Ns16550a>({
  id: 'ns16550a',
  // 2: the modem inputs as four fields, the timers left to the clock; version 1 (format-1 files)
  // kept the inputs as one record and the timer deadlines here too.
  version: 2,
  upgrade: (rec, from) => {
    if (from !== 1) return null;
    const { timeoutDeadline: _t, feedDeadline: _f, modem, ...rest } = rec;
    const m = modem && typeof modem === 'object' && !Array.isArray(modem) && !(modem instanceof Uint8Array) ? modem : {};
    const hb = rest['hostBreaks'];
    const breaks = Array.isArray(hb) ? hb.filter((x): x is number => typeof x === 'number' && Number.isInteger(x) && x >= 0 && x < 2 ** 32) : [];
    const hostBreaks = new Uint8Array(4 * breaks.length);
    breaks.forEach((x, i) => new DataView(hostBreaks.buffer).setUint32(4 * i, x, true));
    return { ...rest, hostBreaks, modemCTS: m['cts'] !== false, modemDSR: m['dsr'] !== false, modemRI: m['ri'] === true, modemDCD: m['dcd'] !== false };
  },
  fields: [
    u8('ier', 0x0f),
    u8('lcr'),
    u8('mcr', 0x1f),
    u8('lsr', 0x7e),
    u8('msrDelta', 0x0f),
    u8('scr'),
    u8('dll'),
    u8('dlm'),
    flag('fifoEnabled'),
    {
      name: 'rxTrigger',
      type: 'u8',
      since: 1,
      set: (u, v) => (u['rxTrigger'] = RCVR_TRIGGER.includes(v as 1) ? (v as number) : 1),
    },
    flag('dmaMode'),
    flag('thrIpending'),
    flag('timeoutPending'),
    u8('lastRx'),
    {
      name: 'rx',
      type: 'bytes',
      since: 1,
      maxLength: FIFO_SIZE,
      get: (u) => Uint8Array.from({ length: u['rxCount'] }, (_, i) => u['rx'][(u['rxHead'] + i) % FIFO_SIZE]!),
      set: (u, v) => {
        u['rx'].fill(0);
        u['rx'].set(v as Uint8Array);
        u['rxHead'] = 0;
        u['rxCount'] = (v as Uint8Array).length;
      },
    },
    {
      name: 'rxErr',
      type: 'bytes',
      since: 1,
      maxLength: FIFO_SIZE,
      get: (u) => Uint8Array.from({ length: u['rxCount'] }, (_, i) => u['rxErr'][(u['rxHead'] + i) % FIFO_SIZE]!),
      set: (u, v) => {
        const b = v as Uint8Array;
        if (b.length !== u['rxCount']) throw new StateError(`${u.stateId}: saved RX FIFO has ${u['rxCount']} bytes but ${b.length} error entries`);
        u['rxErr'].fill(0);
        u['rxErr'].set(b);
      },
    },
    {
      name: 'host',
      type: 'bytes',
      since: 1,
      maxLength: HOST_BUFFER_LIMIT,
      get: (u) => u['hostBuf'].slice(0, u['hostLen']),
      set: (u, v) => {
        u['hostBuf'] = (v as Uint8Array).slice();
        u['hostLen'] = (v as Uint8Array).length;
      },
    },
    {
      name: 'hostBreaks',
      type: 'u32[]',
      since: 1,
      maxLength: HOST_BUFFER_LIMIT,
      get: (u) => Uint32Array.from(u['hostBreaks']),
      set: (u, v) => (u['hostBreaks'] = [...(v as Uint32Array)].filter((x) => x < u['hostLen']).sort((a, b) => a - b)),
    },
    pin('cts'),
    pin('dsr'),
    pin('ri'),
    pin('dcd'),
    flag('irqHigh'),
  ],
});
