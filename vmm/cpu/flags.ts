// EFLAGS bits and lazy evaluation of the six arithmetic flags. An arithmetic instruction records
// its operation, operands and result; a flag is computed only when something reads it (Jcc, PUSHF,
// ADC...). Only ADD/ADC/SUB/SBB/LOGIC shapes are kept lazily; INC, DEC and NEG are recorded as ADD or
// SUB with CF excluded from the lazy set or handled by the recorder, and shifts, rotates and
// multiplies write their CF/OF directly (Intel SDM vol. 1 §3.4.3, appendix A).

export const CF = 1 << 0;
export const PF = 1 << 2;
export const AF = 1 << 4;
export const ZF = 1 << 6;
export const SF = 1 << 7;
export const TF = 1 << 8;
export const IF = 1 << 9;
export const DF = 1 << 10;
export const OF = 1 << 11;
export const IOPL = 3 << 12;
export const NT = 1 << 14;
export const RF = 1 << 16;
export const VM = 1 << 17;
export const AC = 1 << 18;
export const VIF = 1 << 19;
export const VIP = 1 << 20;
export const ID = 1 << 21;

export const ARITH = CF | PF | AF | ZF | SF | OF;
/** Bit 1 always reads as one. */
export const FLAGS_FIXED = 1 << 1;

export const enum LazyOp {
  ADD = 0,
  ADC = 1,
  SUB = 2,
  SBB = 3,
  LOGIC = 4,
}

/** Parity of the low byte: 1 when the count of set bits is even (PF). */
export const PARITY = new Uint8Array(256);
for (let i = 0; i < 256; i++) {
  let b = i;
  b ^= b >> 4;
  b ^= b >> 2;
  b ^= b >> 1;
  PARITY[i] = b & 1 ? 0 : 1;
}

/** Operand size encodings: mask and sign bit for 8/16/32-bit results. */
export const SIZE_MASK = [0xff, 0xffff, -1] as const;
export const SIZE_SIGN = [0x80, 0x8000, -0x80000000] as const;
export const SIZE_BITS = [8, 16, 32] as const;
