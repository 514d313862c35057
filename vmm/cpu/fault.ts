// How an instruction stops with an exception. Handlers call cpu.raise*(), which records the vector and
// error code and throws the single CpuFault object; the run loop catches it, rewinds EIP to the start
// of the instruction and delivers the exception through the IDT or IVT. One preallocated object keeps
// throwing cheap; anything else thrown is a host bug and propagates.

export class CpuFault {
  readonly isCpuFault = true;
}
export const FAULT = new CpuFault();

export const enum Vec {
  DE = 0,
  DB = 1,
  NMI = 2,
  BP = 3,
  OF = 4,
  BR = 5,
  UD = 6,
  NM = 7,
  DF = 8,
  TS = 10,
  NP = 11,
  SS = 12,
  GP = 13,
  PF = 14,
  MF = 16,
  AC = 17,
  MC = 18,
}

/** Vectors that push an error code (SDM vol. 3 §6.13, table 6-1). */
export function hasErrorCode(vector: number): boolean {
  return vector === 8 || (vector >= 10 && vector <= 14) || vector === 17;
}

/** Contributory exceptions for the double-fault rules (SDM vol. 3 table 6-4). */
export function isContributory(vector: number): boolean {
  return vector === 0 || (vector >= 10 && vector <= 13);
}

/** The machine must be reset: the CPU shut down (triple fault). */
export class TripleFault extends Error {
  constructor(detail: string) {
    super(`triple fault: ${detail}`);
  }
}
