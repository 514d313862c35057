// RDMSR and WRMSR: the model-specific registers of a Pentium II (SDM vol. 4, "MSRs in the P6 Family
// Processors"), limited to what this CPU implements. An MSR it does not have raises #GP(0), as on the
// hardware, so a guest probing with rdmsr_safe sees the truth; so does a write of reserved bits.
//
// - TSC (10h): writes set the low 32 bits and clear the high ones, as on a P6.
// - PLATFORM_ID, EBL_CR_POWERON, BIOS_SIGN_ID: read as 0 (no microcode update, no platform bits).
// - SYSENTER_CS/ESP/EIP (174h-176h).
// - IA32_APIC_BASE (1Bh): the local APIC's base and global enable (devices/local-apic).
// - Machine check: IA32_MCG_CAP (179h) says no banks and no MCG_CTL, so there is nothing else to
//   program; IA32_MCG_STATUS (17Ah) holds RIPV/EIPV/MCIP (never set: no machine check happens).
// - MTRRs (mtrr.ts).

import type { Cpu } from './cpu.ts';
import { ECX, EAX, EDX } from './regs.ts';

const MSR_TSC = 0x10;
const MSR_PLATFORM_ID = 0x17;
/** IA32_APIC_BASE: only where the board gave the CPU its local APIC. */
const MSR_APIC_BASE = 0x1b;
const MSR_EBL_CR_POWERON = 0x2a;
const MSR_BIOS_SIGN_ID = 0x8b;
const MSR_SYSENTER_CS = 0x174;
const MSR_SYSENTER_ESP = 0x175;
const MSR_SYSENTER_EIP = 0x176;
export const MSR_MCG_CAP = 0x179;
export const MSR_MCG_STATUS = 0x17a;
/** No error-reporting banks (count 0 in bits 7:0) and no IA32_MCG_CTL (bit 8 clear). */
const MCG_CAP = 0n;

function requireCpl0(cpu: Cpu): void {
  if (cpu.v86 || (cpu.protectedMode && cpu.cpl !== 0)) cpu.raiseGP(0);
}

/** The MSR's value, or undefined when this CPU has no such MSR. */
export function readMsr(cpu: Cpu, index: number): bigint | undefined {
  switch (index) {
    case MSR_TSC: return cpu.readTsc();
    case MSR_PLATFORM_ID: return 0n;
    case MSR_APIC_BASE: return cpu.apic?.baseMsr;
    case MSR_EBL_CR_POWERON: return 0n;
    case MSR_BIOS_SIGN_ID: return 0n;
    case MSR_SYSENTER_CS: return BigInt(cpu.sysenterCs >>> 0);
    case MSR_SYSENTER_ESP: return BigInt(cpu.sysenterEsp >>> 0);
    case MSR_SYSENTER_EIP: return BigInt(cpu.sysenterEip >>> 0);
    case MSR_MCG_CAP: return MCG_CAP;
    case MSR_MCG_STATUS: return cpu.mcgStatus;
    default: return cpu.mtrr.read(index);
  }
}

/** Writes an MSR; false when this CPU has no such MSR or refuses the value (#GP). */
export function writeMsr(cpu: Cpu, index: number, value: bigint): boolean {
  const lo = Number(value & 0xffffffffn);
  switch (index) {
    case MSR_TSC:
      cpu.tscOffset = lo - cpu.rawTsc();
      return true;
    case MSR_BIOS_SIGN_ID:
    case MSR_EBL_CR_POWERON:
      return true;
    case MSR_APIC_BASE: return cpu.apic?.writeBaseMsr(value) ?? false;
    case MSR_SYSENTER_CS: cpu.sysenterCs = lo & 0xffff; return true;
    case MSR_SYSENTER_ESP: cpu.sysenterEsp = lo | 0; return true;
    case MSR_SYSENTER_EIP: cpu.sysenterEip = lo | 0; return true;
    case MSR_MCG_STATUS:
      // RIPV, EIPV and MCIP; the rest is reserved.
      if (value & ~7n) return false;
      cpu.mcgStatus = value;
      return true;
    default:
      return cpu.mtrr.write(index, value) === 'ok';
  }
}

export function rdmsr(cpu: Cpu): void {
  requireCpl0(cpu);
  const v = readMsr(cpu, cpu.r32[ECX]! >>> 0);
  if (v === undefined) return cpu.raiseGP(0);
  cpu.r32[EAX] = Number(v & 0xffffffffn) | 0;
  cpu.r32[EDX] = Number((v >> 32n) & 0xffffffffn) | 0;
}

export function wrmsr(cpu: Cpu): void {
  requireCpl0(cpu);
  const value = (BigInt(cpu.r32[EDX]! >>> 0) << 32n) | BigInt(cpu.r32[EAX]! >>> 0);
  if (!writeMsr(cpu, cpu.r32[ECX]! >>> 0, value)) cpu.raiseGP(0);
}
