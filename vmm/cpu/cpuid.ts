// CPUID (SDM vol. 2 CPUID): the identity and features of the processor this CPU models, a Pentium II.
// README.md's machine description says the same in prose; keep the two together.

import type { Cpu } from './cpu.ts';
import { EAX, EBX, ECX, EDX } from './regs.ts';

/**
 * CPUID leaf 1 EDX (SDM vol. 2 CPUID, table 3-11): a Pentium II less what this CPU does not
 * implement, so a guest never takes a path that is not there. Not set: VME and PVI (CR4.VME is
 * refused), DE (no breakpoints), PAT, PSE-36 and everything after the Pentium II. APIC is added
 * while the board's local APIC is globally enabled (IA32_APIC_BASE bit 11, set from reset), as on
 * the hardware. FXSR as on QEMU's pentium2 model: FXSAVE/FXRSTOR and CR4.OSFXSR, with no SSE state.
 * MCE with MCA: CR4.MCE is accepted and IA32_MCG_CAP reports no banks, so no machine check can be
 * raised or logged.
 */
export const CPUID_FEATURES =
  (1 << 0) | // FPU
  (1 << 3) | // PSE
  (1 << 4) | // TSC
  (1 << 5) | // MSR
  (1 << 6) | // PAE
  (1 << 7) | // MCE
  (1 << 8) | // CX8
  (1 << 11) | // SEP
  (1 << 12) | // MTRR
  (1 << 13) | // PGE
  (1 << 14) | // MCA
  (1 << 15) | // CMOV
  (1 << 23) | // MMX
  (1 << 24); // FXSR
export const CPUID_APIC = 1 << 9;
/** Family 6, model 5 (Pentium II "Deschutes"), stepping 2. Also EDX after RESET. */
export const CPUID_SIGNATURE = 0x0652;

export function cpuid(cpu: Cpu): void {
  let leaf = cpu.r32[EAX]! >>> 0;
  if (leaf > 2) leaf = 2; // beyond the highest leaf, Intel returns the highest basic leaf
  let a = 0, b = 0, c = 0, d = 0;
  switch (leaf) {
    case 0:
      a = 2;
      b = 0x756e6547; // "Genu"
      d = 0x49656e69; // "ineI"
      c = 0x6c65746e; // "ntel"
      break;
    case 1:
      a = CPUID_SIGNATURE;
      d = CPUID_FEATURES | (cpu.apic?.hwEnabled ? CPUID_APIC : 0);
      break;
    case 2:
      // Cache and TLB descriptors of a Pentium II: 512 KiB L2, 16 KiB L1 I and D, TLBs.
      a = 0x03020101;
      d = 0x0c040843;
      break;
  }
  cpu.r32[EAX] = a;
  cpu.r32[EBX] = b;
  cpu.r32[ECX] = c;
  cpu.r32[EDX] = d;
}

