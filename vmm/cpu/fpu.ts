// The x87 floating-point unit of a P6 (Pentium Pro / Pentium II), as one module the CPU calls per
// escape instruction (D8..DF). Intel SDM vol. 1 ch. 8 "Programming with the x87 FPU", vol. 2 the
// instruction pages; vol. 1 §8.5 for the exception responses.
//
// Arithmetic is exact 80-bit extended precision (softfloat80.ts); transcendentals are computed to
// about 200 bits and rounded once (fpu-transcendental.ts).
//
// Exceptions: a masked exception delivers the SDM's default result; an unmasked one sets ES and B and
// leaves the operands as the SDM says (no result for #I/#D/#Z; a result with its exponent wrapped by
// 24576 for #O/#U into a register; nothing stored to memory), and the next waiting instruction calls
// host.mathFault(). ES and B are always derived from the flags and masks, so FLDCW, FLDENV, FRSTOR
// and FNSTENV change them as the hardware does.
//
// Choices where the SDM is silent or the test host (an AMD processor) differs from it:
// - The data pointer's selector (FDS, and the real-mode linear data address) needs the segment
//   register's value; the host may give it through the optional `selector(seg)`, else FDS is 0 and a
//   real-mode FDP is the bare offset.
// - Undocumented aliases a P6 executes (D9 D8+i FSTP, DC D0+i FCOM, DC D8+i FCOMP, DD C8+i FXCH,
//   DE D0+i FCOMP, DF C8+i FXCH, DF D0+i and DF D8+i FSTP, DF C0+i FFREEP) are valid; FENI, FDISI and
//   FSETPM (DB E0, E1, E4) are no-ops, as on every x87 since the 387. The D9 D8+i alias does not
//   check for an empty ST(0) (it then only pops), as observed on hardware.
// - FCOM/FUCOM/FCOMI with an unmasked #IA leave the condition codes (EFLAGS) unset, and FCOMI
//   clears C1, both as the SDM says; the AMD host sets the codes and keeps C1.
// - Where the SDM leaves a condition code undefined, the model does what the host does (mostly:
//   unchanged). F2XM1 and FYL2XP1 outside their documented domains return the mathematical value.
// - FSIN/FCOS/FSINCOS/FPTAN reduce their argument with the 66-bit pi of the hardware. An incomplete
//   FPREM/FPREM1 (exponent difference >= 64) develops 32 + (difference - 64) mod 32 quotient bits.
// - Loads of single/double denormals complete even with #D unmasked; stores never raise #D.

import type { Snapshotable, StateRecord } from '../device.ts';
import { defineState, loadBySchema, saveBySchema, type StateSchema } from '../state/schema.ts';
import {
  abs,
  add,
  bitLength,
  classify,
  Cls,
  compare,
  DE,
  div,
  Env,
  type Exact,
  type F80,
  fromBcd,
  fromBigInt,
  fromExact,
  fromIeee,
  IE,
  ieeeOperand,
  INDEFINITE,
  infinity,
  isNaN80,
  mul,
  neg,
  ONE,
  precisionFormat,
  propagateNaN,
  quiet,
  readF80,
  roundInt,
  roundToF80,
  roundToInteger,
  sqrt,
  toBcd,
  toIeee,
  toInt,
  topExp,
  unpack,
  writeF80,
  zero,
  ZE,
  ZERO,
  PE,
  UE,
  BIAS,
} from './softfloat80.ts';
import * as tr from './fpu-transcendental.ts';
import { exactArith, exactCompare, exactIeee, fromDoubleBits, fromSingleBits } from './f80-double.ts';

export interface FpuHost {
  // Memory at segment register index (0=ES,1=CS,2=SS,3=DS,4=FS,5=GS) : offset, through the CPU's
  // segmentation and paging. These may throw the CPU's fault object: it propagates untouched, and
  // FPU state is unchanged when a memory operand faults.
  read8(seg: number, off: number): number;
  read16(seg: number, off: number): number;
  read32(seg: number, off: number): number; // returns int32 (may be negative)
  write8(seg: number, off: number, v: number): void;
  write16(seg: number, off: number, v: number): void;
  write32(seg: number, off: number, v: number): void;
  /** For FCOMI/FUCOMI/FCOMIP/FUCOMIP: set ZF, PF, CF to these values, clear OF, SF, AF. */
  setComparisonFlags(zf: boolean, pf: boolean, cf: boolean): void;
  /** For FCMOVcc: the EFLAGS value (CF bit 0, PF bit 2, ZF bit 6). */
  eflags(): number;
  /** Called when an unmasked exception is pending at a waiting instruction; it throws (#MF or IRQ13). */
  mathFault(): never;
  /** Optional: the selector in segment register `seg`, for FDS and real-mode data pointers. */
  selector?(seg: number): number;
}

/** Bytes of an FXSAVE image that hold x87 state: the header and ST(0)-ST(7). */
export const FXSAVE_X87_BYTES = 160;

/** CS:EIP of this instruction, for FIP/FCS. In virtual-8086 mode `protectedMode` is false: the
 *  environment images then use the real-mode layout (SDM vol. 1 §8.1.10). */
export interface FpuContext {
  opsize32: boolean;
  protectedMode: boolean;
  cs: number;
  eip: number;
}

// Status word (SDM vol. 1 §8.1.3).
const SW_SF = 0x0040;
const SW_ES = 0x0080;
const SW_C0 = 0x0100;
const SW_C1 = 0x0200;
const SW_C2 = 0x0400;
const SW_C3 = 0x4000;
const SW_B = 0x8000;
const SW_CC = SW_C0 | SW_C1 | SW_C2 | SW_C3;
const SW_TOP = 0x3800;

const CW_FNINIT = 0x037f;
const CW_POWER_ON = 0x0040;

// EFLAGS bits FCMOVcc reads.
const CF = 0x01;
const PF = 0x04;
const ZF = 0x40;

/** FSIN, FCOS, FSINCOS, FPTAN take |x| < 2^63 (SDM vol. 1 §8.3.10); beyond, C2 = 1. */
const TRIG_MAX_EXP = 63;
/** The single-real QNaN indefinite, stored for a masked stack underflow. */
const SINGLE_INDEFINITE = 0xffc00000 | 0;
/** Scratch for the bytes of a host number stored as a real (writeReal). */
const realBits = new DataView(new ArrayBuffer(8));

/** The 64 bits of a quadword read as its low and high dwords. */
function join64(lo: number, hi: number): bigint {
  return (BigInt(hi >>> 0) << 32n) | BigInt(lo >>> 0);
}

export class Fpu implements Snapshotable {
  readonly stateId = 'fpu';
  get stateVersion(): number {
    return this.stateSchema.version;
  }

  /** Physical registers R0..R7; ST(i) is R((top + i) & 7). */
  private regs: F80[] = new Array<F80>(8).fill(ZERO);
  /** Bit i set: R(i) is not empty. The 2-bit tags of images are computed from the contents. */
  private valid = 0;
  private top = 0;
  private cw = CW_POWER_ON;
  /** Status word without TOP; ES and B always follow the unmasked flags. */
  private sw = 0;
  private fip = 0;
  private fcs = 0;
  private fop = 0;
  private fdp = 0;
  private fds = 0;

  constructor(private readonly host: FpuHost) {
    this.reset();
  }

  /** Power-on / RESET state (SDM vol. 3 table 9-1): control word 0040H, status 0, tag word 5555H,
   *  that is every register holding a valid +0.0. */
  reset(): void {
    this.fninit();
    this.cw = CW_POWER_ON;
    this.regs.fill(ZERO);
    this.valid = 0xff;
  }

  get statusWord(): number {
    return (this.sw & ~SW_TOP) | (this.top << 11);
  }

  get controlWord(): number {
    return this.cw;
  }

  /** ST(i) for debuggers and tests, null when empty; no side effects. */
  peek(i: number): F80 | null {
    return this.empty(i) ? null : this.st(i);
  }

  // ---- Stack helpers ------------------------------------------------------------------------------

  private phys(i: number): number {
    return (this.top + i) & 7;
  }
  private empty(i: number): boolean {
    return !(this.valid & (1 << this.phys(i)));
  }
  private st(i: number): F80 {
    return this.regs[this.phys(i)]!;
  }
  private setSt(i: number, v: F80): void {
    const p = this.phys(i);
    this.regs[p] = v;
    this.valid |= 1 << p;
  }
  private push(v: F80): void {
    this.top = (this.top - 1) & 7;
    this.regs[this.top] = v;
    this.valid |= 1 << this.top;
  }
  private pop(): void {
    this.valid &= ~(1 << this.top);
    this.top = (this.top + 1) & 7;
  }

  private updateES(): void {
    if (this.sw & ~this.cw & 0x3f) this.sw |= SW_ES | SW_B;
    else this.sw &= ~(SW_ES | SW_B);
  }

  private setC1(on: boolean): void {
    if (on) this.sw |= SW_C1;
    else this.sw &= ~SW_C1;
  }

  private setCC(c3: boolean, c2: boolean, c1: boolean, c0: boolean): void {
    this.sw = (this.sw & ~SW_CC) | (c3 ? SW_C3 : 0) | (c2 ? SW_C2 : 0) | (c1 ? SW_C1 : 0) | (c0 ? SW_C0 : 0);
  }

  private newEnv(): Env {
    return new Env((this.cw >> 10) & 3, this.cw & 0x3f);
  }

  /** Merges an operation's flags; C1 becomes its round-up bit. */
  private finish(env: Env): void {
    this.sw |= env.flags;
    this.setC1(env.c1);
    this.updateES();
  }

  /** Stack underflow (#IS, C1=0). True when masked: the caller stores the indefinite. */
  private underflow(): boolean {
    this.sw |= IE | SW_SF;
    this.setC1(false);
    this.updateES();
    return (this.cw & IE) !== 0;
  }

  /** Stack overflow (#IS, C1=1). True when masked. */
  private overflow(): boolean {
    this.sw |= IE | SW_SF;
    this.setC1(true);
    this.updateES();
    return (this.cw & IE) !== 0;
  }

  private get fmt() {
    return precisionFormat((this.cw >> 8) & 3);
  }

  // ---- MMX aliasing (SDM vol. 1 §9.5, table 9-2) ------------------------------------------------
  // MM0-MM7 are the significands (bits 63:0) of the physical registers R0-R7, not of ST(i). Every MMX
  // instruction but EMMS sets TOP to 0 and tags all eight registers valid; a write to MMi also sets
  // bits 79:64 of Ri (sign and exponent) to all ones, so the x87 sees a NaN or infinity there. EMMS
  // tags all eight empty. Tags in FSTENV/FSAVE images are computed from the contents, as the x87
  // does, so registers written by MMX show as special (10b).

  /** MMi as a 64-bit value. */
  readMm(i: number): bigint {
    return this.regs[i & 7]!.sig;
  }

  /** The state change of an MMX instruction other than EMMS: TOP = 0, every tag valid. */
  enterMmx(): void {
    this.top = 0;
    this.valid = 0xff;
  }

  writeMm(i: number, v: bigint): void {
    this.regs[i & 7] = { sign: 1, exp: 0x7fff, sig: BigInt.asUintN(64, v) };
  }

  emms(): void {
    this.valid = 0;
  }

  // ---- Public entry points ---------------------------------------------------------------------

  wait(): void {
    if (this.sw & SW_ES) this.host.mathFault();
  }

  isValid(esc: number, modrm: number): boolean {
    const reg = (modrm >> 3) & 7;
    if (modrm < 0xc0) {
      switch (esc) {
        case 0xd9:
          return reg !== 1;
        case 0xdb:
          return reg !== 1 && reg !== 4 && reg !== 6;
        case 0xdd:
          return reg !== 1 && reg !== 5;
        case 0xdf:
          return reg !== 1;
        default:
          return true;
      }
    }
    switch (esc) {
      case 0xd9:
        if (modrm >= 0xd1 && modrm <= 0xd7) return false;
        return ![0xe2, 0xe3, 0xe6, 0xe7, 0xef].includes(modrm);
      case 0xda:
        return modrm < 0xe0 || modrm === 0xe9;
      case 0xdb:
        if (modrm >= 0xe5 && modrm <= 0xe7) return false;
        return modrm < 0xf8;
      case 0xdd:
        return modrm < 0xf0;
      case 0xde:
        return reg !== 3 || modrm === 0xd9;
      case 0xdf:
        if (modrm >= 0xe1 && modrm <= 0xe7) return false;
        return modrm < 0xf8;
      default:
        return true;
    }
  }

  execute(esc: number, modrm: number, seg: number, off: number, ctx: FpuContext): void {
    const reg = (modrm >> 3) & 7;
    if (modrm < 0xc0) this.execMem(esc, modrm, reg, seg, off, ctx);
    else this.execReg(esc, modrm, reg, modrm & 7, ctx);
  }

  // ---- Pointers ------------------------------------------------------------------------------------

  private notePointers(esc: number, modrm: number, ctx: FpuContext, seg?: number, off?: number): void {
    this.fop = ((esc & 7) << 8) | modrm;
    if (ctx.protectedMode) {
      this.fip = ctx.eip >>> 0;
      this.fcs = ctx.cs & 0xffff;
    } else {
      this.fip = (((ctx.cs & 0xffff) << 4) + (ctx.eip >>> 0)) >>> 0;
      this.fcs = 0;
    }
    if (seg !== undefined && off !== undefined) {
      const sel = this.host.selector ? this.host.selector(seg) & 0xffff : 0;
      if (ctx.protectedMode) {
        this.fdp = off >>> 0;
        this.fds = sel;
      } else {
        this.fdp = ((sel << 4) + (off >>> 0)) >>> 0;
        this.fds = 0;
      }
    }
  }

  // ---- Memory access -----------------------------------------------------------------------------

  private read64(seg: number, off: number): bigint {
    return join64(this.host.read32(seg, off), this.host.read32(seg, off + 4));
  }
  /**
   * Multi-byte stores touch their last byte first: a store crossing into a page that faults then
   * writes nothing, as the hardware checks both pages before storing. (If the first page faults
   * instead, only that last byte has been written, with the value the restarted store writes.)
   */
  private probeLast(seg: number, off: number, n: number, lastByte: number): void {
    this.host.write8(seg, off + n - 1, lastByte);
  }
  /** A host number as a single or double real (write64's order: the last byte probed first). */
  private writeReal(seg: number, off: number, k: 32 | 64, x: number): void {
    if (k === 32) {
      realBits.setFloat32(0, x, true);
      this.host.write32(seg, off, realBits.getInt32(0, true));
      return;
    }
    realBits.setFloat64(0, x, true);
    this.probeLast(seg, off, 8, realBits.getUint8(7));
    this.host.write32(seg, off, realBits.getInt32(0, true));
    this.host.write32(seg, off + 4, realBits.getInt32(4, true));
  }
  private write64(seg: number, off: number, v: bigint): void {
    this.probeLast(seg, off, 8, Number((v >> 56n) & 0xffn));
    this.host.write32(seg, off, Number(v & 0xffffffffn) | 0);
    this.host.write32(seg, off + 4, Number((v >> 32n) & 0xffffffffn) | 0);
  }
  private readBytes(seg: number, off: number, n: number): Uint8Array {
    const b = new Uint8Array(n);
    let i = 0;
    for (; i + 4 <= n; i += 4) {
      const v = this.host.read32(seg, off + i);
      b[i] = v & 0xff;
      b[i + 1] = (v >>> 8) & 0xff;
      b[i + 2] = (v >>> 16) & 0xff;
      b[i + 3] = (v >>> 24) & 0xff;
    }
    for (; i + 2 <= n; i += 2) {
      const v = this.host.read16(seg, off + i);
      b[i] = v & 0xff;
      b[i + 1] = (v >>> 8) & 0xff;
    }
    return b;
  }
  /**
   * Writes `b` at seg:off after probing its last byte, leaving bytes [skipFrom, skipTo) (whole
   * dwords) as they were: FXSAVE's MXCSR fields, which this CPU does not have.
   */
  private writeBytes(seg: number, off: number, b: Uint8Array, skipFrom = b.length, skipTo = b.length): void {
    this.probeLast(seg, off, b.length, b[b.length - 1]!);
    let i = 0;
    for (; i + 4 <= b.length; i += 4)
      if (i < skipFrom || i >= skipTo)
        this.host.write32(seg, off + i, b[i]! | (b[i + 1]! << 8) | (b[i + 2]! << 16) | (b[i + 3]! << 24));
    for (; i + 2 <= b.length; i += 2) this.host.write16(seg, off + i, b[i]! | (b[i + 1]! << 8));
  }

  // ---- Memory forms ------------------------------------------------------------------------------

  private execMem(esc: number, modrm: number, reg: number, seg: number, off: number, ctx: FpuContext): void {
    const h = this.host;
    // Non-waiting control instructions first.
    if (esc === 0xd9 && reg === 6) return this.fnstenv(seg, off, ctx);
    if (esc === 0xd9 && reg === 7) return h.write16(seg, off, this.cw);
    if (esc === 0xdd && reg === 6) return this.fnsave(seg, off, ctx);
    if (esc === 0xdd && reg === 7) return h.write16(seg, off, this.statusWord);
    this.wait();
    if (esc === 0xd9 && reg === 5) {
      this.cw = (h.read16(seg, off) & 0x1f3f) | 0x0040;
      this.updateES();
      return;
    }
    if (esc === 0xd9 && reg === 4) return this.fldenv(seg, off, ctx, false);
    if (esc === 0xdd && reg === 4) return this.fldenv(seg, off, ctx, true);

    switch (esc) {
      case 0xd8:
      case 0xda:
      case 0xdc:
      case 0xde: {
        let y: F80;
        let den = false;
        if (esc === 0xd8) {
          const bits = h.read32(seg, off);
          const quick = fromSingleBits(bits);
          const o = quick ? { v: quick, den: false } : ieeeOperand(BigInt(bits >>> 0), 32);
          y = o.v;
          den = o.den;
        } else if (esc === 0xdc) {
          const lo = h.read32(seg, off);
          const hi = h.read32(seg, off + 4);
          const quick = fromDoubleBits(hi, lo);
          const o = quick ? { v: quick, den: false } : ieeeOperand(join64(lo, hi), 64);
          y = o.v;
          den = o.den;
        } else if (esc === 0xda) y = fromBigInt(BigInt(h.read32(seg, off) | 0));
        else y = fromBigInt(BigInt((h.read16(seg, off) << 16) >> 16));
        this.notePointers(esc, modrm, ctx, seg, off);
        if (reg === 2 || reg === 3) return this.fcom(y, den, false, reg === 3 ? 1 : 0, false, true);
        return this.arith(reg, y, den, 0, false, true);
      }
      case 0xd9:
        if (reg === 0) {
          const bits = h.read32(seg, off);
          this.notePointers(esc, modrm, ctx, seg, off);
          const quick = fromSingleBits(bits);
          return quick ? this.loadValue(quick) : this.loadReal(BigInt(bits >>> 0), 32);
        }
        this.notePointers(esc, modrm, ctx, seg, off);
        return this.storeReal(seg, off, 32, reg === 3);
      case 0xdd:
        if (reg === 0) {
          const lo = h.read32(seg, off);
          const hi = h.read32(seg, off + 4);
          this.notePointers(esc, modrm, ctx, seg, off);
          const quick = fromDoubleBits(hi, lo);
          return quick ? this.loadValue(quick) : this.loadReal(join64(lo, hi), 64);
        }
        this.notePointers(esc, modrm, ctx, seg, off);
        return this.storeReal(seg, off, 64, reg === 3);
      case 0xdb:
        if (reg === 0) {
          const v = BigInt(h.read32(seg, off) | 0);
          this.notePointers(esc, modrm, ctx, seg, off);
          return this.loadValue(fromBigInt(v));
        }
        if (reg === 5) {
          const v = readF80(this.readBytes(seg, off, 10), 0);
          this.notePointers(esc, modrm, ctx, seg, off);
          return this.loadValue(v);
        }
        this.notePointers(esc, modrm, ctx, seg, off);
        if (reg === 7) return this.storeF80(seg, off);
        return this.storeInt(seg, off, 32, reg === 3);
      case 0xdf:
        if (reg === 0 || reg === 5 || reg === 4) {
          let v: F80;
          if (reg === 0) v = fromBigInt(BigInt((h.read16(seg, off) << 16) >> 16));
          else if (reg === 5) v = fromBigInt(BigInt.asIntN(64, this.read64(seg, off)));
          else v = fromBcd(this.readBytes(seg, off, 10));
          this.notePointers(esc, modrm, ctx, seg, off);
          return this.loadValue(v);
        }
        this.notePointers(esc, modrm, ctx, seg, off);
        if (reg === 6) return this.storeBcd(seg, off);
        if (reg === 7) return this.storeInt(seg, off, 64, true);
        return this.storeInt(seg, off, 16, reg === 3);
    }
  }

  private loadValue(v: F80): void {
    if (!this.empty(7)) {
      if (this.overflow()) this.push(INDEFINITE);
      return;
    }
    this.push(v);
    this.setC1(false);
  }

  private loadReal(bits: bigint, k: 32 | 64): void {
    if (!this.empty(7)) {
      if (this.overflow()) this.push(INDEFINITE);
      return;
    }
    const env = this.newEnv();
    const v = fromIeee(env, bits, k);
    if (v) this.push(v);
    this.finish(env);
  }

  private storeReal(seg: number, off: number, k: 32 | 64, pop: boolean): void {
    if (this.empty(0)) {
      if (!(this.cw & IE)) return void this.underflow();
      if (k === 32) this.host.write32(seg, off, SINGLE_INDEFINITE);
      else this.write64(seg, off, 0xfff8000000000000n);
      this.underflow();
      if (pop) this.pop();
      return;
    }
    const env = this.newEnv();
    // A value the format holds exactly (f80-double.ts) is stored as the host has it: no rounding, no flags.
    const x = exactIeee(this.st(0), k);
    if (x === x) {
      this.writeReal(seg, off, k, x);
      if (pop) this.pop();
    } else {
      const v = toIeee(env, this.st(0), k);
      if (v !== null) {
        if (k === 32) this.host.write32(seg, off, Number(v) | 0);
        else this.write64(seg, off, v);
        if (pop) this.pop();
      }
    }
    this.finish(env);
  }

  private storeInt(seg: number, off: number, bits: 16 | 32 | 64, pop: boolean): void {
    const write = (v: bigint): void => {
      if (bits === 16) this.host.write16(seg, off, Number(BigInt.asUintN(16, v)));
      else if (bits === 32) this.host.write32(seg, off, Number(BigInt.asIntN(32, v)));
      else this.write64(seg, off, BigInt.asUintN(64, v));
    };
    if (this.empty(0)) {
      if (!(this.cw & IE)) return void this.underflow();
      write(-(1n << BigInt(bits - 1)));
      this.underflow();
      if (pop) this.pop();
      return;
    }
    const env = this.newEnv();
    const v = toInt(env, this.st(0), bits);
    if (v !== null) {
      write(v);
      if (pop) this.pop();
    }
    this.finish(env);
  }

  private storeF80(seg: number, off: number): void {
    const b = new Uint8Array(10);
    if (this.empty(0)) {
      if (!(this.cw & IE)) return void this.underflow();
      writeF80(b, 0, INDEFINITE);
      this.writeBytes(seg, off, b);
      this.underflow();
      this.pop();
      return;
    }
    writeF80(b, 0, this.st(0));
    this.writeBytes(seg, off, b);
    this.setC1(false);
    this.pop();
  }

  private storeBcd(seg: number, off: number): void {
    if (this.empty(0)) {
      if (!(this.cw & IE)) return void this.underflow();
      this.writeBytes(seg, off, Uint8Array.of(0, 0, 0, 0, 0, 0, 0, 0xc0, 0xff, 0xff));
      this.underflow();
      this.pop();
      return;
    }
    const env = this.newEnv();
    const b = toBcd(env, this.st(0));
    if (b) {
      this.writeBytes(seg, off, b);
      this.pop();
    }
    this.finish(env);
  }

  // ---- Arithmetic ----------------------------------------------------------------------------------

  /**
   * op (the reg field): 0 add, 1 mul, 4 x-y, 5 y-x, 6 x/y, 7 y/x with x = ST(0) and y the other
   * operand; the result goes to ST(dest), then pops when `pop`.
   */
  private arith(op: number, y: F80, yDen: boolean, dest: number, pop: boolean, yIsMem: boolean, yIndex = 0): void {
    if (this.empty(0) || (!yIsMem && this.empty(yIndex))) {
      if (this.underflow()) {
        this.setSt(dest, INDEFINITE);
        if (pop) this.pop();
      }
      return;
    }
    const x = this.st(0);
    const env = this.newEnv();
    const fmt = this.fmt;
    // Exact in doubles (f80-double.ts): the full path's result, which raises nothing.
    let r = yDen ? null : exactArith(op, x, y, fmt.p);
    if (!r) switch (op) {
      case 0:
        r = add(env, x, y, fmt, false, yDen);
        break;
      case 1:
        r = mul(env, x, y, fmt, yDen);
        break;
      case 4:
        r = add(env, x, y, fmt, true, yDen);
        break;
      case 5:
        r = add(env, y, x, fmt, true, yDen);
        break;
      case 6:
        r = div(env, x, y, fmt, false, yDen);
        break;
      default:
        r = div(env, y, x, fmt, yDen, false);
        break;
    }
    if (r) {
      this.setSt(dest, r);
      if (pop) this.pop();
    }
    this.finish(env);
  }

  /** FCOM family: x = ST(0) against y; pops `pops` times; FCOMI forms set EFLAGS instead. The
   *  result is reported even when an unmasked exception stops the pops (observed on hardware). */
  private fcom(y: F80, yDen: boolean, unordered: boolean, pops: number, eflags: boolean, yIsMem: boolean, yIndex = 0): void {
    // An unmasked #IA (stack fault included) leaves the condition codes or EFLAGS alone and the
    // stack unpopped (SDM vol. 2 FCOM, FCOMI: "flags not set if unmasked #IA").
    if (this.empty(0) || (!yIsMem && this.empty(yIndex))) {
      if (!this.underflow()) return;
      this.report(3, eflags);
      for (let i = 0; i < pops; i++) this.pop();
      return;
    }
    const env = this.newEnv();
    let c = yDen ? NaN : exactCompare(this.st(0), y);
    if (c !== c) c = compare(env, this.st(0), y, !unordered, yDen);
    this.sw |= env.flags;
    this.setC1(false);
    this.updateES();
    if (env.flags & ~env.masks & IE) return;
    // An unmasked #D still reports the comparison (observed on hardware), but nothing pops.
    this.report(c, eflags);
    if (env.mustAbort) return;
    for (let i = 0; i < pops; i++) this.pop();
  }

  /** c: -1 less, 0 equal, 1 greater, 2 (or 3) unordered. */
  private report(c: number, eflags: boolean): void {
    const un = c >= 2;
    if (eflags) this.host.setComparisonFlags(un || c === 0, un, un || c < 0);
    else this.setCC(un || c === 0, un, false, un || c < 0);
  }

  // ---- Register forms ----------------------------------------------------------------------------

  private execReg(esc: number, modrm: number, reg: number, i: number, ctx: FpuContext): void {
    // Non-waiting: FNCLEX, FNINIT, FNSTSW AX, and the 8087/287 leftovers that are no-ops.
    if (esc === 0xdb && modrm >= 0xe0 && modrm <= 0xe4) {
      if (modrm === 0xe2) {
        this.sw &= ~(0x3f | SW_SF | SW_ES | SW_B);
      } else if (modrm === 0xe3) this.fninit();
      return;
    }
    if (esc === 0xdf && modrm === 0xe0) return;
    this.wait();
    this.notePointers(esc, modrm, ctx);
    switch (esc) {
      case 0xd8:
        if (reg === 2 || reg === 3) return this.fcom(this.st(i), false, false, reg - 2, false, false, i);
        return this.arith(reg, this.st(i), false, 0, false, false, i);
      case 0xdc:
        if (reg === 2 || reg === 3) return this.fcom(this.st(i), false, false, reg - 2, false, false, i);
        return this.arith(reg, this.st(i), false, i, false, false, i);
      case 0xde:
        if (reg === 2) return this.fcom(this.st(i), false, false, 1, false, false, i);
        if (reg === 3) return this.fcom(this.st(1), false, false, 2, false, false, 1);
        return this.arith(reg, this.st(i), false, i, true, false, i);
      case 0xd9:
        return this.execD9(modrm, reg, i);
      case 0xda:
        if (modrm === 0xe9) return this.fcom(this.st(1), false, true, 2, false, false, 1);
        return this.fcmov(reg, false, i);
      case 0xdb:
        if (reg < 4) return this.fcmov(reg, true, i);
        if (reg === 5) return this.fcom(this.st(i), false, true, 0, true, false, i);
        return this.fcom(this.st(i), false, false, 0, true, false, i);
      case 0xdd:
        switch (reg) {
          case 0:
            this.valid &= ~(1 << this.phys(i));
            this.setC1(false);
            return;
          case 1:
            return this.fxch(i);
          case 2:
            return this.fstReg(i, false);
          case 3:
            return this.fstReg(i, true);
          case 4:
            return this.fcom(this.st(i), false, true, 0, false, false, i);
          default:
            return this.fcom(this.st(i), false, true, 1, false, false, i);
        }
      case 0xdf:
        switch (reg) {
          case 0:
            this.valid &= ~(1 << this.phys(i));
            this.pop();
            this.setC1(false);
            return;
          case 1:
            return this.fxch(i);
          case 2:
          case 3:
            return this.fstReg(i, true);
          case 5:
            return this.fcom(this.st(i), false, true, 1, true, false, i);
          default:
            return this.fcom(this.st(i), false, false, 1, true, false, i);
        }
    }
  }

  private fxch(i: number): void {
    if (this.empty(0) || this.empty(i)) {
      if (!this.underflow()) return;
      if (this.empty(0)) this.setSt(0, INDEFINITE);
      if (this.empty(i)) this.setSt(i, INDEFINITE);
    } else this.setC1(false);
    const a = this.st(0);
    this.setSt(0, this.st(i));
    this.setSt(i, a);
  }

  private fstReg(i: number, pop: boolean): void {
    if (this.empty(0)) {
      if (!this.underflow()) return;
      this.setSt(i, INDEFINITE);
    } else {
      this.setSt(i, this.st(0));
      this.setC1(false);
    }
    if (pop) this.pop();
  }

  private fcmov(reg: number, negate: boolean, i: number): void {
    const f = this.host.eflags();
    let cond: boolean;
    switch (reg) {
      case 0:
        cond = (f & CF) !== 0;
        break;
      case 1:
        cond = (f & ZF) !== 0;
        break;
      case 2:
        cond = (f & (CF | ZF)) !== 0;
        break;
      default:
        cond = (f & PF) !== 0;
        break;
    }
    if (negate) cond = !cond;
    if (this.empty(0) || this.empty(i)) {
      if (this.underflow()) this.setSt(0, INDEFINITE);
      return;
    }
    if (cond) this.setSt(0, this.st(i));
  }

  private execD9(modrm: number, reg: number, i: number): void {
    switch (reg) {
      case 0: {
        // FLD ST(i): an empty source is reported before a full stack.
        if (this.empty(i)) {
          if (this.underflow()) this.push(INDEFINITE);
          return;
        }
        if (!this.empty(7)) {
          if (this.overflow()) this.push(INDEFINITE);
          return;
        }
        this.push(this.st(i));
        this.setC1(false);
        return;
      }
      case 1:
        return this.fxch(i);
      case 2:
        return; // FNOP
      case 3:
        // FSTP1, the undocumented alias, does not check for an empty ST(0): it only pops then.
        if (this.empty(0)) {
          this.pop();
          this.setC1(false);
          return;
        }
        return this.fstReg(i, true);
    }
    switch (modrm) {
      case 0xe0:
      case 0xe1:
        if (this.empty(0)) {
          if (this.underflow()) this.setSt(0, INDEFINITE);
          return;
        }
        this.setSt(0, modrm === 0xe0 ? neg(this.st(0)) : abs(this.st(0)));
        this.setC1(false);
        return;
      case 0xe4:
        return this.fcom(ZERO, false, false, 0, false, true);
      case 0xe5:
        return this.fxam();
      case 0xe8:
        return this.loadValue(ONE);
      case 0xe9:
        return this.loadConstant(tr.CONSTANTS.l2t);
      case 0xea:
        return this.loadConstant(tr.CONSTANTS.l2e);
      case 0xeb:
        return this.loadConstant(tr.CONSTANTS.pi);
      case 0xec:
        return this.loadConstant(tr.CONSTANTS.lg2);
      case 0xed:
        return this.loadConstant(tr.CONSTANTS.ln2);
      case 0xee:
        return this.loadValue(ZERO);
      case 0xf0:
        return this.unary((env, a) => this.f2xm1(env, a));
      case 0xf1:
        return this.binary((env, x, y) => this.fyl2x(env, x, y, false));
      case 0xf2:
        return this.fptan();
      case 0xf3:
        return this.binary((env, x, y) => this.fpatan(env, x, y));
      case 0xf4:
        return this.fxtract();
      case 0xf5:
        return this.fprem(true);
      case 0xf6:
        this.top = (this.top - 1) & 7;
        this.setC1(false);
        return;
      case 0xf7:
        this.top = (this.top + 1) & 7;
        this.setC1(false);
        return;
      case 0xf8:
        return this.fprem(false);
      case 0xf9:
        return this.binary((env, x, y) => this.fyl2x(env, x, y, true));
      case 0xfa:
        return this.unary((env, a) => sqrt(env, a, this.fmt));
      case 0xfb:
        return this.fsincos();
      case 0xfc:
        return this.unary((env, a) => roundInt(env, a));
      case 0xfd:
        return this.fscale();
      case 0xfe:
        return this.trig(false);
      case 0xff:
        return this.trig(true);
    }
  }

  private fxam(): void {
    const a = this.st(0);
    const sign = a.sign === 1;
    if (this.empty(0)) return this.setCC(true, false, sign, true);
    switch (classify(a)) {
      case Cls.Unsupported:
        return this.setCC(false, false, sign, false);
      case Cls.QNaN:
      case Cls.SNaN:
        return this.setCC(false, false, sign, true);
      case Cls.Normal:
        return this.setCC(false, true, sign, false);
      case Cls.Inf:
        return this.setCC(false, true, sign, true);
      case Cls.Zero:
        return this.setCC(true, false, sign, false);
      case Cls.Denormal:
        return this.setCC(true, true, sign, false);
    }
  }

  /** The constants are held with more bits than the format and rounded per RC, without #P. */
  private loadConstant(c: Exact): void {
    if (!this.empty(7)) {
      if (this.overflow()) this.push(INDEFINITE);
      return;
    }
    const env = new Env((this.cw >> 10) & 3, 0x3f);
    this.push(roundToF80(env, c, true));
    this.setC1(false);
  }

  /** One operand in ST(0), result replaces it. */
  private unary(fn: (env: Env, a: F80) => F80 | null): void {
    if (this.empty(0)) {
      if (this.underflow()) this.setSt(0, INDEFINITE);
      return;
    }
    const env = this.newEnv();
    const r = fn(env, this.st(0));
    if (r) this.setSt(0, r);
    this.finish(env);
  }

  /** x = ST(0), y = ST(1); the result replaces ST(1) and the stack pops. */
  private binary(fn: (env: Env, x: F80, y: F80) => F80 | null): void {
    if (this.empty(0) || this.empty(1)) {
      if (this.underflow()) {
        this.setSt(1, INDEFINITE);
        this.pop();
      }
      return;
    }
    const env = this.newEnv();
    const r = fn(env, this.st(0), this.st(1));
    if (r) {
      this.setSt(1, r);
      this.pop();
    }
    this.finish(env);
  }

  // ---- Transcendentals and friends ------------------------------------------------------------------

  /** Special operands common to one-operand functions: returns the result, or undefined to go on. */
  private special1(env: Env, a: F80, c: Cls): F80 | null | undefined {
    if (c === Cls.Unsupported) {
      env.raise(IE);
      return env.mustAbort ? null : INDEFINITE;
    }
    if (isNaN80(c)) {
      if (c === Cls.SNaN) env.raise(IE);
      return env.mustAbort ? null : quiet(a);
    }
    return undefined;
  }

  private special2(env: Env, x: F80, cx: Cls, y: F80, cy: Cls): F80 | null | undefined {
    if (cx === Cls.Unsupported || cy === Cls.Unsupported) {
      env.raise(IE);
      return env.mustAbort ? null : INDEFINITE;
    }
    if (isNaN80(cx) || isNaN80(cy)) {
      const r = propagateNaN(env, x, cx, y, cy);
      return env.mustAbort ? null : r;
    }
    return undefined;
  }

  private invalid(env: Env): F80 | null {
    env.raise(IE);
    return env.mustAbort ? null : INDEFINITE;
  }

  private denormals(env: Env, ...cs: Cls[]): boolean {
    for (const c of cs) if (c === Cls.Denormal) env.raise(DE);
    return env.mustAbort;
  }

  private f2xm1(env: Env, a: F80): F80 | null {
    const c = classify(a);
    const s = this.special1(env, a, c);
    if (s !== undefined) return s;
    if (c === Cls.Zero) return a;
    if (c === Cls.Inf) return a.sign ? neg(ONE) : a;
    if (this.denormals(env, c)) return null;
    const u = unpack(a);
    const t = topExp(u);
    if (t === 0 && u.m === 1n << BigInt(bitLength(u.m) - 1)) {
      // exactly +-1: exact results, still reported inexact as for every transcendental
      env.raise(PE);
      return a.sign ? { sign: 1, exp: BIAS - 1, sig: 1n << 63n } : ONE;
    }
    if (t >= 15) {
      // Far outside the documented domain: 2^x overflows or 2^x - 1 is -1 to within any rounding.
      if (a.sign) return roundToF80(env, { sign: 1, m: 1n, e: 0 }, true);
      return roundToF80(env, { sign: 0, m: 1n, e: 1 << 16 }, true);
    }
    if (t >= 0) {
      // |x| >= 1: 2^x - 1 = 2^n (2^f - 1) + 2^n - 1, with n the integer part of x.
      const r = roundToInteger(u, 3);
      const n = Number(r.v);
      const f = { sign: u.sign, m: u.m, e: u.e };
      const fracVal = fracPart(f, n);
      const em = fracVal ? tr.exp2m1(fracVal) : { sign: 0, m: 0n, e: 0 };
      // 2^n * (em + 1) - 1, all exact on the ~200-bit approximation
      const lo = Math.min(em.e + n, 0) - 2;
      const emv = em.m === 0n ? 0n : (em.sign ? -em.m : em.m) << BigInt(em.e + n - lo);
      const total = emv + (1n << BigInt(n - lo)) - (1n << BigInt(-lo));
      const sign = total < 0n ? 1 : 0;
      return roundToF80(env, { sign, m: sign ? -total : total, e: lo }, true);
    }
    return roundToF80(env, tr.exp2m1(u), true);
  }

  private fyl2x(env: Env, x: F80, y: F80, plus1: boolean): F80 | null {
    const cx = classify(x);
    const cy = classify(y);
    const s = this.special2(env, x, cx, y, cy);
    if (s !== undefined) return s;
    const yInf = cy === Cls.Inf;
    const yZero = cy === Cls.Zero;
    if (plus1) {
      if (cx === Cls.Inf) {
        if (x.sign || yZero) return this.invalid(env);
        if (this.denormals(env, cy)) return null;
        return infinity(y.sign);
      }
      if (cx === Cls.Zero) {
        if (yInf) return this.invalid(env);
        if (this.denormals(env, cy)) return null;
        return zero(x.sign ^ y.sign);
      }
      if (this.denormals(env, cx, cy)) return null;
      const u = unpack(x);
      // log2(1 + x) < 0 exactly when x < 0
      if (x.sign && topExp(u) >= 0) {
        if (topExp(u) === 0 && u.m === 1n << BigInt(bitLength(u.m) - 1)) {
          // x = -1: log2(0)
          if (yZero) return this.invalid(env);
          env.raise(ZE);
          return env.mustAbort ? null : infinity(y.sign ^ 1);
        }
        return this.invalid(env);
      }
      if (yInf) return infinity(y.sign ^ x.sign);
      if (yZero) return zero(y.sign ^ x.sign);
      let l: Exact;
      if (topExp(u) >= -1) {
        // Large |x| (outside the documented domain): log2 of 1 + x formed exactly.
        const lo = Math.min(u.e, 0);
        const m = (1n << BigInt(-lo)) + ((x.sign ? -u.m : u.m) << BigInt(u.e - lo));
        const w = { sign: 0, m, e: lo };
        if (isPow2(w)) return this.scaleExact(env, y, BigInt(topExp(w)));
        l = tr.log2(w);
      } else l = tr.log2p1(u);
      return roundToF80(env, tr.mulExact(unpack(y), l), true);
    }
    // FYL2X
    if (cx !== Cls.Zero && x.sign) return this.invalid(env);
    if (cx === Cls.Zero) {
      if (yZero) return this.invalid(env);
      if (yInf) return infinity(y.sign ^ 1);
      // Zero divide outranks a denormal y.
      env.raise(ZE);
      return env.mustAbort ? null : infinity(y.sign ^ 1);
    }
    if (cx === Cls.Inf) {
      if (yZero) return this.invalid(env);
      if (this.denormals(env, cy)) return null;
      return infinity(y.sign);
    }
    if (this.denormals(env, cx, cy)) return null;
    const u = unpack(x);
    const t = topExp(u);
    const one = isPow2(u) && t === 0;
    if (one) {
      if (yInf) return this.invalid(env);
      return zero(y.sign);
    }
    const below1 = t < 0;
    if (yInf) return infinity(y.sign ^ (below1 ? 1 : 0));
    if (yZero) return zero(y.sign ^ (below1 ? 1 : 0));
    if (isPow2(u)) return this.scaleExact(env, y, BigInt(t));
    return roundToF80(env, tr.mulExact(unpack(y), tr.log2(u)), true);
  }

  /** y * k for an integer k (log2 of a power of two), rounded once. */
  private scaleExact(env: Env, y: F80, k: bigint): F80 | null {
    const uy = unpack(y);
    const neg = k < 0n;
    const m = neg ? -k : k;
    // The hardware reports these exact results as inexact too (SDM: transcendentals are inexact).
    const r = roundToF80(env, { sign: uy.sign ^ (neg ? 1 : 0), m: uy.m * m, e: uy.e }, false);
    env.raise(PE);
    // ...and so a tiny one underflows as an inexact tiny result would.
    if (r.exp === 0 && r.sig !== 0n) env.raise(UE);
    return r;
  }

  private fpatan(env: Env, x: F80, y: F80): F80 | null {
    const cx = classify(x);
    const cy = classify(y);
    const s = this.special2(env, x, cx, y, cy);
    if (s !== undefined) return s;
    if (this.denormals(env, cx, cy)) return null;
    const quarter = (k: number): F80 => roundToF80(env, tr.piQuarters(k, y.sign), true);
    if (cy === Cls.Zero) {
      if (x.sign) return quarter(4);
      return zero(y.sign);
    }
    if (cy === Cls.Inf) {
      if (cx === Cls.Inf) return quarter(x.sign ? 3 : 1);
      return quarter(2);
    }
    if (cx === Cls.Zero) return quarter(2);
    if (cx === Cls.Inf) return x.sign ? quarter(4) : zero(y.sign);
    return roundToF80(env, tr.atan2(unpack(y), unpack(x)), true);
  }

  private trigArg(env: Env, a: F80, c: Cls): 'range' | 'zero' | F80 | null | Exact {
    const s = this.special1(env, a, c);
    if (s !== undefined) return s;
    if (c === Cls.Inf) return this.invalid(env);
    if (c === Cls.Zero) return 'zero';
    if (this.denormals(env, c)) return null;
    const u = unpack(a);
    if (topExp(u) >= TRIG_MAX_EXP) return 'range';
    return u;
  }

  private trig(cos: boolean): void {
    this.sw &= ~SW_C2;
    if (this.empty(0)) {
      if (this.underflow()) this.setSt(0, INDEFINITE);
      return;
    }
    const a = this.st(0);
    const env = this.newEnv();
    const t = this.trigArg(env, a, classify(a));
    this.sw &= ~SW_C2;
    if (t === 'range') {
      this.sw |= SW_C2;
      return;
    }
    let r: F80 | null;
    if (t === 'zero') r = cos ? ONE : a;
    else if (t === null || 'exp' in t) r = t;
    else {
      const sc = tr.sinCos(t);
      r = roundToF80(env, cos ? sc.cos : sc.sin, true);
    }
    if (r) this.setSt(0, r);
    this.finish(env);
  }

  private fsincos(): void {
    this.sw &= ~SW_C2;
    if (this.empty(0)) {
      if (this.underflow()) {
        this.setSt(0, INDEFINITE);
        this.push(INDEFINITE);
      }
      return;
    }
    if (!this.empty(7)) {
      if (this.overflow()) {
        this.setSt(0, INDEFINITE);
        this.push(INDEFINITE);
      }
      return;
    }
    const a = this.st(0);
    const env = this.newEnv();
    const t = this.trigArg(env, a, classify(a));
    this.sw &= ~SW_C2;
    if (t === 'range') {
      this.sw |= SW_C2;
      return;
    }
    let s: F80 | null;
    let c: F80 | null;
    if (t === 'zero') {
      s = a;
      c = ONE;
    } else if (t === null || 'exp' in t) s = c = t;
    else {
      const sc = tr.sinCos(t);
      s = roundToF80(env, sc.sin, true);
      const c1 = env.c1;
      c = roundToF80(env, sc.cos, true);
      env.c1 = env.c1 || c1;
    }
    if (s && c) {
      this.setSt(0, s);
      this.push(c);
    }
    this.finish(env);
  }

  private fptan(): void {
    this.sw &= ~SW_C2;
    if (this.empty(0)) {
      if (this.underflow()) {
        this.setSt(0, INDEFINITE);
        this.push(INDEFINITE);
      }
      return;
    }
    if (!this.empty(7)) {
      if (this.overflow()) {
        this.setSt(0, INDEFINITE);
        this.push(INDEFINITE);
      }
      return;
    }
    const a = this.st(0);
    const env = this.newEnv();
    const t = this.trigArg(env, a, classify(a));
    this.sw &= ~SW_C2;
    if (t === 'range') {
      this.sw |= SW_C2;
      return;
    }
    let r: F80 | null;
    let one: F80 | null = ONE;
    if (t === 'zero') r = a;
    else if (t === null || 'exp' in t) {
      r = t;
      one = t;
    } else r = roundToF80(env, tr.tan(t), true);
    if (r && one) {
      this.setSt(0, r);
      this.push(one);
    }
    this.finish(env);
  }

  private fxtract(): void {
    if (this.empty(0)) {
      if (this.underflow()) {
        this.setSt(0, INDEFINITE);
        this.push(INDEFINITE);
      }
      return;
    }
    if (!this.empty(7)) {
      if (this.overflow()) {
        this.setSt(0, INDEFINITE);
        this.push(INDEFINITE);
      }
      return;
    }
    const a = this.st(0);
    const c = classify(a);
    const env = this.newEnv();
    let e: F80 | null;
    let m: F80 | null;
    const s = this.special1(env, a, c);
    if (s !== undefined) e = m = s;
    else if (c === Cls.Zero) {
      env.raise(ZE);
      e = env.mustAbort ? null : infinity(1);
      m = a;
    } else if (c === Cls.Inf) {
      e = infinity(0);
      m = a;
    } else if (this.denormals(env, c)) e = m = null;
    else {
      const u = unpack(a);
      const t = topExp(u);
      e = fromBigInt(BigInt(t));
      m = fromExact({ sign: u.sign, m: u.m, e: u.e - t });
    }
    if (e && m) {
      this.setSt(0, e);
      this.push(m);
    }
    this.finish(env);
  }

  private fscale(): void {
    if (this.empty(0) || this.empty(1)) {
      if (this.underflow()) this.setSt(0, INDEFINITE);
      return;
    }
    const a = this.st(0);
    const b = this.st(1);
    const ca = classify(a);
    const cb = classify(b);
    const env = this.newEnv();
    const r = ((): F80 | null => {
      const s = this.special2(env, a, ca, b, cb);
      if (s !== undefined) return s;
      if (cb === Cls.Inf) {
        if (b.sign) {
          if (ca === Cls.Inf) return this.invalid(env);
          if (this.denormals(env, ca)) return null;
          return zero(a.sign);
        }
        if (ca === Cls.Zero) return this.invalid(env);
        if (this.denormals(env, ca)) return null;
        return infinity(a.sign);
      }
      if (this.denormals(env, ca, cb)) return null;
      if (ca === Cls.Inf || ca === Cls.Zero) return a;
      let n = 0n;
      if (cb !== Cls.Zero) n = roundToInteger(unpack(b), 3).v;
      const lim = 1n << 20n;
      if (n > lim) n = lim;
      if (n < -lim) n = -lim;
      const u = unpack(a);
      return roundToF80(env, { sign: u.sign, m: u.m, e: u.e + Number(n) }, false);
    })();
    if (r) this.setSt(0, r);
    this.finish(env);
  }

  /** FPREM (truncating quotient) and FPREM1 (IEEE remainder, quotient rounded to nearest). */
  private fprem(ieee: boolean): void {
    this.sw &= ~SW_C2;
    if (this.empty(0) || this.empty(1)) {
      if (this.underflow()) this.setSt(0, INDEFINITE);
      return;
    }
    const a = this.st(0);
    const b = this.st(1);
    const ca = classify(a);
    const cb = classify(b);
    const env = this.newEnv();
    let q = 0n;
    let partial = false;
    let done = false;
    let r: F80 | null;
    const s = this.special2(env, a, ca, b, cb);
    if (s !== undefined) r = s;
    else if (ca === Cls.Inf || cb === Cls.Zero) r = this.invalid(env);
    else if (this.denormals(env, ca, cb)) r = null;
    else if (ca === Cls.Zero || cb === Cls.Inf) {
      // The dividend comes back through the rounder: a pseudo-denormal leaves normalized.
      r = ca === Cls.Zero ? a : roundToF80(env, unpack(a), false);
      done = true;
    } else {
      done = true;
      const ua = unpack(a);
      const ub = unpack(b);
      const d = topExp(ua) - topExp(ub);
      const e = Math.min(ua.e, ub.e);
      const A = ua.m << BigInt(ua.e - e);
      let B = ub.m << BigInt(ub.e - e);
      if (d >= 64) {
        // Partial remainder: reduce by a quotient with a bounded number of bits, the rest to be
        // done by the next FPREM (SDM vol. 2 FPREM: N between 32 and 63).
        partial = true;
        B <<= BigInt(d - PREM_PARTIAL_N(d));
      }
      q = A / B;
      let R = A - q * B;
      if (ieee && !partial) {
        const twice = 2n * R;
        if (twice > B || (twice === B && (q & 1n) === 1n)) {
          q += 1n;
          R -= B;
        }
      }
      if (R === 0n) r = zero(a.sign);
      else {
        const sign = R < 0n ? a.sign ^ 1 : a.sign;
        r = roundToF80(env, { sign, m: R < 0n ? -R : R, e }, false);
      }
    }
    if (r) this.setSt(0, r);
    if (partial) this.sw |= SW_C2;
    else if (done) this.setCC((q & 2n) !== 0n, false, (q & 1n) !== 0n, (q & 4n) !== 0n);
    else this.setC1(false); // invalid or NaN operands: C0 and C3 keep their values
    this.sw |= env.flags;
    this.updateES();
  }

  // ---- Control -----------------------------------------------------------------------------------

  private fninit(): void {
    this.cw = CW_FNINIT;
    this.sw = 0;
    this.top = 0;
    this.valid = 0;
    this.fip = this.fcs = this.fop = this.fdp = this.fds = 0;
  }

  /** The tag word with full 2-bit tags, computed from the registers (SDM vol. 1 §8.1.7). */
  get tagWord(): number {
    let tw = 0;
    for (let p = 0; p < 8; p++) {
      let t: number;
      if (!(this.valid & (1 << p))) t = 3;
      else {
        const c = classify(this.regs[p]!);
        t = c === Cls.Zero ? 1 : c === Cls.Normal ? 0 : 2;
      }
      tw |= t << (2 * p);
    }
    return tw;
  }

  /** The environment image (14 or 28 bytes), SDM vol. 1 figures 8-9 to 8-12. */
  private envImage(ctx: FpuContext): Uint8Array {
    const b = new Uint8Array(ctx.opsize32 ? 28 : 14);
    const dv = new DataView(b.buffer);
    const sw = this.statusWord;
    const tw = this.tagWord;
    if (ctx.opsize32) {
      dv.setUint32(0, 0xffff0000 | this.cw, true);
      dv.setUint32(4, 0xffff0000 | sw, true);
      dv.setUint32(8, 0xffff0000 | tw, true);
      if (ctx.protectedMode) {
        dv.setUint32(12, this.fip, true);
        dv.setUint32(16, (this.fop << 16) | this.fcs, true);
        dv.setUint32(20, this.fdp, true);
        dv.setUint32(24, 0xffff0000 | this.fds, true);
      } else {
        dv.setUint32(12, 0xffff0000 | (this.fip & 0xffff), true);
        dv.setUint32(16, ((this.fip >>> 16) << 12) | this.fop, true);
        dv.setUint32(20, 0xffff0000 | (this.fdp & 0xffff), true);
        dv.setUint32(24, (this.fdp >>> 16) << 12, true);
      }
    } else {
      dv.setUint16(0, this.cw, true);
      dv.setUint16(2, sw, true);
      dv.setUint16(4, tw, true);
      if (ctx.protectedMode) {
        dv.setUint16(6, this.fip & 0xffff, true);
        dv.setUint16(8, this.fcs, true);
        dv.setUint16(10, this.fdp & 0xffff, true);
        dv.setUint16(12, this.fds, true);
      } else {
        dv.setUint16(6, this.fip & 0xffff, true);
        dv.setUint16(8, (((this.fip >>> 16) & 0xf) << 12) | this.fop, true);
        dv.setUint16(10, this.fdp & 0xffff, true);
        dv.setUint16(12, ((this.fdp >>> 16) & 0xf) << 12, true);
      }
    }
    return b;
  }

  private fnstenv(seg: number, off: number, ctx: FpuContext): void {
    this.writeBytes(seg, off, this.envImage(ctx));
    // FNSTENV leaves every exception masked (SDM vol. 2 FSTENV).
    this.cw |= 0x3f;
    this.updateES();
  }

  private fnsave(seg: number, off: number, ctx: FpuContext): void {
    const env = this.envImage(ctx);
    const img = new Uint8Array(env.length + 80);
    img.set(env);
    for (let i = 0; i < 8; i++) writeF80(img, env.length + 10 * i, this.st(i));
    this.writeBytes(seg, off, img);
    this.fninit();
  }

  // ---- FXSAVE and FXRSTOR (SDM vol. 1 §10.5.1, table 10-2; vol. 2 FXSAVE) --------------------------
  // The 512-byte image of a processor with FXSR and no SSE: the x87 (and MMX, its aliases) in bytes
  // 0-159. This CPU has no MXCSR and no XMM registers, so FXSAVE leaves bytes 24-31 (MXCSR and its
  // mask) and 160-511 as they were and FXRSTOR ignores them. Unlike FSAVE, FXSAVE does not
  // initialize the FPU, and neither waits for a pending x87 exception.

  /** FXSAVE: the image's first 160 bytes at seg:off (the caller has checked CR0 and the alignment). */
  fxsave(seg: number, off: number): void {
    const img = new Uint8Array(FXSAVE_X87_BYTES);
    const dv = new DataView(img.buffer);
    dv.setUint16(0, this.cw, true);
    dv.setUint16(2, this.statusWord, true);
    // The abridged tag word: one bit per physical register, set when it is not empty.
    img[4] = this.valid;
    dv.setUint16(6, this.fop & 0x7ff, true);
    dv.setUint32(8, this.fip, true);
    dv.setUint16(12, this.fcs, true);
    dv.setUint32(16, this.fdp, true);
    dv.setUint16(20, this.fds, true);
    // ST(0)-ST(7) in stack order, 16 bytes apart (their upper six bytes reserved, written as 0).
    for (let i = 0; i < 8; i++) writeF80(img, 32 + 16 * i, this.st(i));
    this.writeBytes(seg, off, img, 24, 32);
  }

  /** FXRSTOR: the x87 state from the image at seg:off. */
  fxrstor(seg: number, off: number): void {
    const img = this.readBytes(seg, off, FXSAVE_X87_BYTES);
    const dv = new DataView(img.buffer);
    this.loadControlStatus(dv.getUint16(0, true), dv.getUint16(2, true));
    this.valid = img[4]!;
    this.fop = dv.getUint16(6, true) & 0x7ff;
    this.fip = dv.getUint32(8, true);
    this.fcs = dv.getUint16(12, true);
    this.fdp = dv.getUint32(16, true);
    this.fds = dv.getUint16(20, true);
    for (let i = 0; i < 8; i++) this.regs[this.phys(i)] = readF80(img, 32 + 16 * i);
    this.updateES();
  }

  /** The control and status words of a saved image (FLDENV, FRSTOR, FXRSTOR); TOP is in the status word. */
  private loadControlStatus(cw: number, sw: number): void {
    this.cw = (cw & 0x1f3f) | 0x0040;
    this.top = (sw >> 11) & 7;
    this.sw = sw & ~SW_TOP;
  }

  private fldenv(seg: number, off: number, ctx: FpuContext, withRegs: boolean): void {
    const n = ctx.opsize32 ? 28 : 14;
    const img = this.readBytes(seg, off, withRegs ? n + 80 : n);
    const dv = new DataView(img.buffer);
    const cw = dv.getUint16(0, true);
    const sw = dv.getUint16(ctx.opsize32 ? 4 : 2, true);
    const tw = dv.getUint16(ctx.opsize32 ? 8 : 4, true);
    let fip: number, fcs: number, fop: number, fdp: number, fds: number;
    if (ctx.opsize32) {
      if (ctx.protectedMode) {
        fip = dv.getUint32(12, true);
        fcs = dv.getUint16(16, true);
        fop = dv.getUint16(18, true) & 0x7ff;
        fdp = dv.getUint32(20, true);
        fds = dv.getUint16(24, true);
      } else {
        const w = dv.getUint32(16, true);
        fip = (dv.getUint16(12, true) | (((w >>> 12) & 0xffff) << 16)) >>> 0;
        fop = w & 0x7ff;
        fcs = 0;
        fdp = (dv.getUint16(20, true) | (((dv.getUint32(24, true) >>> 12) & 0xffff) << 16)) >>> 0;
        fds = 0;
      }
    } else if (ctx.protectedMode) {
      fip = dv.getUint16(6, true);
      fcs = dv.getUint16(8, true);
      fop = this.fop;
      fdp = dv.getUint16(10, true);
      fds = dv.getUint16(12, true);
    } else {
      const w = dv.getUint16(8, true);
      fip = dv.getUint16(6, true) | ((w >>> 12) << 16);
      fop = w & 0x7ff;
      fcs = 0;
      fdp = dv.getUint16(10, true) | ((dv.getUint16(12, true) >>> 12) << 16);
      fds = 0;
    }
    this.loadControlStatus(cw, sw);
    let valid = 0;
    for (let p = 0; p < 8; p++) if (((tw >> (2 * p)) & 3) !== 3) valid |= 1 << p;
    this.valid = valid;
    this.fip = fip;
    this.fcs = fcs;
    this.fop = fop;
    this.fdp = fdp;
    this.fds = fds;
    if (withRegs) for (let i = 0; i < 8; i++) this.regs[this.phys(i)] = readF80(img, n + 10 * i);
    this.updateES();
  }

  // ---- Saved state ---------------------------------------------------------------------------------

  /** The schema save and load follow; the contract test reads it too. */
  get stateSchema(): StateSchema<unknown> {
    return FPU_STATE as StateSchema<unknown>;
  }

  saveState(): StateRecord {
    return saveBySchema(FPU_STATE, this);
  }

  loadState(state: StateRecord, version: number): void {
    loadBySchema(FPU_STATE, this, state, version);
  }
}

/** Bits of quotient one partial FPREM step develops when the exponents differ by d >= 64. */
function PREM_PARTIAL_N(d: number): number {
  return 32 + ((d - 64) % 32);
}

function isPow2(x: Exact): boolean {
  return (x.m & (x.m - 1n)) === 0n;
}

/** x - n for the integer part n of x (both of x's sign), or null when x is an integer. */
function fracPart(x: Exact, n: number): Exact | null {
  const lo = Math.min(x.e, 0);
  const v = (x.sign ? -x.m : x.m) << BigInt(x.e - lo);
  const f = v - (BigInt(n) << BigInt(-lo));
  if (f === 0n) return null;
  return { sign: f < 0n ? 1 : 0, m: f < 0n ? -f : f, e: lo };
}

export type { F80 };

/**
 * The x87 unit's saved state: the eight physical registers as 80-bit extended values (the file
 * never depends on how F80 is held in memory), tags, TOP, control and status words, and the last
 * instruction and operand pointers. An MMX or SSE state would join as fields with since: 2.
 */
export const FPU_STATE: StateSchema<Fpu> = defineState<Fpu>({
  id: 'fpu',
  version: 1,
  fields: [
    {
      name: 'regs',
      type: 'bytes',
      since: 1,
      length: 80,
      get: (f) => {
        const regs = new Uint8Array(80);
        for (let p = 0; p < 8; p++) writeF80(regs, 10 * p, f['regs'][p]!);
        return regs;
      },
      set: (f, v) => {
        for (let p = 0; p < 8; p++) f['regs'][p] = readF80(v as Uint8Array, 10 * p);
      },
    },
    { name: 'valid', type: 'u8', since: 1 },
    { name: 'top', type: 'u8', since: 1, mask: 7 },
    { name: 'cw', type: 'u16', since: 1 },
    { name: 'sw', type: 'u16', since: 1, mask: 0xffff & ~SW_TOP },
    { name: 'fip', type: 'x32', since: 1, mask: 0xffffffff },
    { name: 'fcs', type: 'u16', since: 1 },
    { name: 'fop', type: 'u16', since: 1, mask: 0x7ff },
    { name: 'fdp', type: 'x32', since: 1, mask: 0xffffffff },
    { name: 'fds', type: 'u16', since: 1 },
  ],
  postLoad: (f) => f['updateES'](),
});
