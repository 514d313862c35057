// System instructions: descriptor-table registers, control and debug registers, CLI/STI/HLT, port I/O,
// software interrupts, RDTSC; CPUID is in cpuid.ts and the model-specific registers in msr.ts.

import {
  CR0_EM,
  CR0_MP,
  CR0_PE,
  CR0_PG,
  CR0_TS,
  CR0_WP,
  CR4_PAE,
  CR4_PGE,
  CR4_PSE,
  CR4_TSD,
  EAX,
  EDX,
} from '../regs.ts';
import type { Cpu } from '../cpu.ts';
import { DS, ES, FS, GS, SS, CS, Imm, type Instr, type OpTable } from '../decode.ts';
import { IF, OF } from '../flags.ts';
import { Vec } from '../fault.ts';
import { deliverInterrupt, InterruptKind } from '../interrupts.ts';
import { rdmsr, wrmsr } from '../msr.ts';
import { cpuid } from '../cpuid.ts';
import { pagingModeChanged } from '../paging.ts';
import { desc, descBase, descLimit, descPresent, descType, readDescriptor } from '../segments.ts';


/** The CR4 bits this P6 has; MOV CR4 refuses the others (and so does a saved state, cpu-state.ts). */
export const CR4_VALID =
  CR4_TSD | (1 << 3) /* DE */ | CR4_PSE | CR4_PAE | (1 << 6) /* MCE */ | CR4_PGE | (1 << 8) /* PCE */ | (1 << 9); /* OSFXSR */

function requireCpl0(cpu: Cpu): void {
  if (cpu.v86 || (cpu.protectedMode && cpu.cpl !== 0)) cpu.raiseGP(0);
}

function memOnly(i: Instr, cpu: Cpu): void {
  if (i.mod === 3) cpu.raiseUD();
}

// ---------------------------------------------------------------- 0F 01: descriptor tables, MSW, INVLPG

function sgdtSidt(which: 'g' | 'i') {
  return (cpu: Cpu, i: Instr): void => {
    memOnly(i, cpu);
    const off = cpu.ea(i);
    const base = which === 'g' ? cpu.gdtrBase : cpu.idtrBase;
    const limit = which === 'g' ? cpu.gdtrLimit : cpu.idtrLimit;
    cpu.linW(i.seg, off, 6);
    cpu.write16(i.seg, off, limit);
    // With a 16-bit operand the P6 stores the high byte of the base as zero... of the 24-bit base.
    cpu.write32(i.seg, (off + 2) | 0, i.o32 ? base : base & 0x00ffffff);
  };
}

function lgdtLidt(which: 'g' | 'i') {
  return (cpu: Cpu, i: Instr): void => {
    memOnly(i, cpu);
    requireCpl0(cpu);
    const off = cpu.ea(i);
    const limit = cpu.read16(i.seg, off);
    let base = cpu.read32(i.seg, (off + 2) | 0);
    if (!i.o32) base &= 0x00ffffff;
    if (which === 'g') {
      cpu.gdtrBase = base;
      cpu.gdtrLimit = limit;
    } else {
      cpu.idtrBase = base;
      cpu.idtrLimit = limit;
    }
  };
}

function smsw(cpu: Cpu, i: Instr): void {
  if (i.mod === 3 && i.o32) cpu.r32[i.rm] = cpu.cr0;
  else cpu.writeE16(i, cpu.cr0 & 0xffff);
}

function lmsw(cpu: Cpu, i: Instr): void {
  requireCpl0(cpu);
  const v = cpu.readE16(i);
  // LMSW sets PE but cannot clear it; it changes only PE, MP, EM, TS.
  const cr0 = (cpu.cr0 & ~0xe) | (v & 0xf) | (cpu.cr0 & CR0_PE);
  writeCr0(cpu, cr0);
}

function invlpg(cpu: Cpu, i: Instr): void {
  memOnly(i, cpu);
  requireCpl0(cpu);
  const lin = (cpu.segBase[i.seg]! + cpu.ea(i)) | 0;
  cpu.invalidatePage(lin);
}

// ---------------------------------------------------------------- 0F 00: LDTR and TR

function sldt(cpu: Cpu, i: Instr): void {
  if (!cpu.protectedMode || cpu.v86) cpu.raiseUD();
  if (i.mod === 3 && i.o32) cpu.r32[i.rm] = cpu.ldtrSel;
  else cpu.writeE16(i, cpu.ldtrSel);
}

function str(cpu: Cpu, i: Instr): void {
  if (!cpu.protectedMode || cpu.v86) cpu.raiseUD();
  if (i.mod === 3 && i.o32) cpu.r32[i.rm] = cpu.trSel;
  else cpu.writeE16(i, cpu.trSel);
}

function lldt(cpu: Cpu, i: Instr): void {
  if (!cpu.protectedMode || cpu.v86) cpu.raiseUD();
  requireCpl0(cpu);
  const sel = cpu.readE16(i);
  if ((sel & 0xfffc) === 0) {
    cpu.ldtrSel = sel;
    cpu.ldtrBase = 0;
    cpu.ldtrLimit = 0;
    return;
  }
  if (sel & 4) cpu.raiseGP(sel & 0xfffc);
  if (!readDescriptor(cpu, sel)) cpu.raiseGP(sel & 0xfffc);
  if (desc.hi & (1 << 12) || descType(desc.hi) !== 2) cpu.raiseGP(sel & 0xfffc);
  if (!descPresent(desc.hi)) cpu.raiseNP(sel & 0xfffc);
  cpu.ldtrSel = sel;
  cpu.ldtrBase = descBase(desc.lo, desc.hi);
  cpu.ldtrLimit = descLimit(desc.lo, desc.hi);
}

function ltr(cpu: Cpu, i: Instr): void {
  if (!cpu.protectedMode || cpu.v86) cpu.raiseUD();
  requireCpl0(cpu);
  const sel = cpu.readE16(i);
  if ((sel & 0xfffc) === 0) cpu.raiseGP(0);
  if (sel & 4) cpu.raiseGP(sel & 0xfffc);
  if (!readDescriptor(cpu, sel)) cpu.raiseGP(sel & 0xfffc);
  const type = descType(desc.hi);
  if (desc.hi & (1 << 12) || (type !== 1 && type !== 9)) cpu.raiseGP(sel & 0xfffc);
  if (!descPresent(desc.hi)) cpu.raiseNP(sel & 0xfffc);
  // Mark the TSS busy.
  cpu.writeSys8((desc.addr + 5) | 0, ((desc.hi >>> 8) & 0xff) | 2);
  cpu.trSel = sel;
  cpu.trBase = descBase(desc.lo, desc.hi);
  cpu.trLimit = descLimit(desc.lo, desc.hi);
  cpu.trType = type | 2;
}

// ---------------------------------------------------------------- control and debug registers

export function writeCr0(cpu: Cpu, v: number): void {
  v |= 0x10; // ET is hard-wired on a P6
  if (v & CR0_PG && !(v & CR0_PE)) cpu.raiseGP(0);
  // NW without CD is invalid.
  if (v & (1 << 29) && !(v & (1 << 30))) cpu.raiseGP(0);
  const old = cpu.cr0;
  cpu.cr0 = v;
  // Turning paging on with PAE loads the PDPTEs; bad ones make the MOV fault with nothing changed.
  if (v & CR0_PG && !(old & CR0_PG) && !pagingModeChanged(cpu)) {
    cpu.cr0 = old;
    cpu.raiseGP(0);
  }
  if ((old ^ v) & (CR0_PG | CR0_WP | CR0_PE)) {
    cpu.flushTlb(true);
    for (let s = 0; s < 6; s++) cpu.updateSegmentChecks(s);
    cpu.updateMode();
  }
}

function movRdCr(cpu: Cpu, i: Instr): void {
  requireCpl0(cpu);
  switch (i.reg) {
    case 0: cpu.r32[i.rm] = cpu.cr0; break;
    case 2: cpu.r32[i.rm] = cpu.cr2; break;
    case 3: cpu.r32[i.rm] = cpu.cr3; break;
    case 4: cpu.r32[i.rm] = cpu.cr4; break;
    default: cpu.raiseUD();
  }
}

function movCrRd(cpu: Cpu, i: Instr): void {
  requireCpl0(cpu);
  const v = cpu.r32[i.rm]!;
  switch (i.reg) {
    case 0:
      writeCr0(cpu, v);
      break;
    case 2:
      cpu.cr2 = v;
      break;
    case 3: {
      // Bits 31:5 are the PDPT's address under PAE (31:12 the page directory's otherwise).
      const old = cpu.cr3;
      cpu.cr3 = v & ~0x7;
      if (!pagingModeChanged(cpu)) {
        cpu.cr3 = old;
        cpu.raiseGP(0);
      }
      cpu.flushTlb(false);
      break;
    }
    case 4: {
      if (v & ~CR4_VALID) cpu.raiseGP(0);
      const old = cpu.cr4;
      cpu.cr4 = v;
      if ((old ^ v) & (CR4_PGE | CR4_PSE | CR4_PAE)) {
        if (!pagingModeChanged(cpu)) {
          cpu.cr4 = old;
          cpu.raiseGP(0);
        }
        cpu.flushTlb(true);
      }
      break;
    }
    default:
      cpu.raiseUD();
  }
  cpu.brk = true;
}

function movRdDr(cpu: Cpu, i: Instr): void {
  requireCpl0(cpu);
  let r = i.reg;
  if (r === 4 || r === 5) {
    if (cpu.cr4 & (1 << 3)) cpu.raiseUD();
    r += 2;
  }
  cpu.r32[i.rm] = cpu.dr[r]!;
}

function movDrRd(cpu: Cpu, i: Instr): void {
  requireCpl0(cpu);
  let r = i.reg;
  if (r === 4 || r === 5) {
    if (cpu.cr4 & (1 << 3)) cpu.raiseUD();
    r += 2;
  }
  let v = cpu.r32[i.rm]!;
  if (r === 6) v = (v & 0xe00f) | 0xffff0ff0;
  else if (r === 7) v = (v & ~0xd800) | 0x400;
  cpu.dr[r] = v;
}

function clts(cpu: Cpu): void {
  requireCpl0(cpu);
  cpu.cr0 &= ~CR0_TS;
}

function invdWbinvd(cpu: Cpu): void {
  requireCpl0(cpu);
}

// ---------------------------------------------------------------- interrupts flag, halt

function cli(cpu: Cpu): void {
  if (cpu.protectedMode && (cpu.v86 ? cpu.iopl < 3 : cpu.cpl > cpu.iopl)) cpu.raiseGP(0);
  cpu.flagsRaw &= ~IF;
}

function sti(cpu: Cpu): void {
  if (cpu.protectedMode && (cpu.v86 ? cpu.iopl < 3 : cpu.cpl > cpu.iopl)) cpu.raiseGP(0);
  if (!(cpu.flagsRaw & IF)) {
    cpu.flagsRaw |= IF;
    cpu.shadow = true;
    cpu.brk = true;
  }
}

function hlt(cpu: Cpu): void {
  requireCpl0(cpu);
  cpu.halted = true;
  cpu.brk = true;
}

// ---------------------------------------------------------------- port I/O

function inImm(size: 1 | 2 | 4) {
  return (cpu: Cpu, i: Instr): void => {
    const v = cpu.in(i.imm & 0xff, size);
    if (size === 1) cpu.r8[0] = v;
    else if (size === 2) cpu.r16[0] = v;
    else cpu.r32[EAX] = v;
  };
}
function inDx(size: 1 | 2 | 4) {
  return (cpu: Cpu): void => {
    const v = cpu.in(cpu.r16[EDX << 1]!, size);
    if (size === 1) cpu.r8[0] = v;
    else if (size === 2) cpu.r16[0] = v;
    else cpu.r32[EAX] = v;
  };
}
function outImm(size: 1 | 2 | 4) {
  return (cpu: Cpu, i: Instr): void => {
    cpu.out(i.imm & 0xff, size, size === 1 ? cpu.r8[0]! : size === 2 ? cpu.r16[0]! : cpu.r32[EAX]! >>> 0);
  };
}
function outDx(size: 1 | 2 | 4) {
  return (cpu: Cpu): void => {
    cpu.out(cpu.r16[EDX << 1]!, size, size === 1 ? cpu.r8[0]! : size === 2 ? cpu.r16[0]! : cpu.r32[EAX]! >>> 0);
  };
}

// ---------------------------------------------------------------- software interrupts

function intN(cpu: Cpu, i: Instr): void {
  deliverSoftware(cpu, i.imm & 0xff);
}
function int3(cpu: Cpu): void {
  deliverSoftware(cpu, Vec.BP);
}
function into(cpu: Cpu): void {
  if (cpu.getFlags() & OF) deliverSoftware(cpu, Vec.OF);
}
function icebp(cpu: Cpu): void {
  // INT1 is delivered like a hardware exception: no gate DPL check.
  deliverInterrupt(cpu, Vec.DB, InterruptKind.Exception, false, 0);
  cpu.brk = true;
}

function deliverSoftware(cpu: Cpu, vector: number): void {
  // INT n executes in v86 mode only with IOPL 3 (no VME); the check is in the delivery.
  deliverInterrupt(cpu, vector, InterruptKind.Software, false, 0);
  cpu.brk = true;
}

// ---------------------------------------------------------------- CPUID, TSC, MSRs (msr.ts)

function rdtsc(cpu: Cpu): void {
  if (cpu.cr4 & CR4_TSD && cpu.cpl !== 0 && cpu.protectedMode) cpu.raiseGP(0);
  // In doubles, not BigInt: the kernel's delay loops read the TSC millions of times during a boot,
  // and each BigInt was garbage. The count is an integer well below 2^53; negative (after WRMSR)
  // wraps modulo 2^64 as the BigInt did.
  const t = cpu.rawTsc() + cpu.tscOffset;
  const hi = Math.floor(t / 0x1_0000_0000);
  cpu.r32[EAX] = (t - hi * 0x1_0000_0000) | 0;
  cpu.r32[EDX] = hi | 0;
}

// ---------------------------------------------------------------- x87 escape and WAIT

const fpuCtx = { opsize32: false, protectedMode: false, cs: 0, eip: 0 };

function esc(cpu: Cpu, i: Instr): void {
  if (cpu.cr0 & (CR0_EM | CR0_TS)) cpu.raise(Vec.NM);
  const opc = i.opcode;
  const m = i.modrmByte;
  if (!cpu.fpu.isValid(opc, m)) cpu.raiseUD();
  if (opc === 0xdf && m === 0xe0) {
    // FNSTSW AX
    cpu.r16[0] = cpu.fpu.statusWord;
    return;
  }
  fpuCtx.opsize32 = i.o32;
  fpuCtx.protectedMode = cpu.protectedMode && !cpu.v86;
  fpuCtx.cs = cpu.sel[CS]!;
  fpuCtx.eip = cpu.prevEip;
  if (i.mod === 3) cpu.fpu.execute(opc, m, 0, 0, fpuCtx);
  else cpu.fpu.execute(opc, m, i.seg, cpu.ea(i), fpuCtx);
}

/**
 * FXSAVE and FXRSTOR (0F AE /0 and /1, SDM vol. 2): the x87 and MMX state to or from a 512-byte
 * image (fpu.ts). #NM when CR0.EM or CR0.TS is set, then #GP(0) when the image is not on a 16-byte
 * boundary (in every mode, whatever the segment); the register forms are #UD.
 */
function fxsaveOrRestore(restore: boolean) {
  return (cpu: Cpu, i: Instr): void => {
    if (i.mod === 3) cpu.raiseUD();
    if (cpu.cr0 & (CR0_EM | CR0_TS)) cpu.raise(Vec.NM);
    const off = cpu.ea(i);
    if ((cpu.segBase[i.seg]! + off) & 15) cpu.raiseGP(0);
    if (restore) cpu.fpu.fxrstor(i.seg, off);
    else cpu.fpu.fxsave(i.seg, off);
  };
}

function fwait(cpu: Cpu): void {
  if ((cpu.cr0 & (CR0_MP | CR0_TS)) === (CR0_MP | CR0_TS)) cpu.raise(Vec.NM);
  cpu.fpu.wait();
}

function ud(cpu: Cpu): void {
  cpu.raiseUD();
}

export function registerSystem(t: OpTable): void {
  t.defineGroup(0x0f01, 0, { name: 'sgdt_Ms', h: sgdtSidt('g') });
  t.defineGroup(0x0f01, 1, { name: 'sidt_Ms', h: sgdtSidt('i') });
  t.defineGroup(0x0f01, 2, { name: 'lgdt_Ms', h: lgdtLidt('g') });
  t.defineGroup(0x0f01, 3, { name: 'lidt_Ms', h: lgdtLidt('i') });
  t.defineGroup(0x0f01, 4, { name: 'smsw_Ew', h: smsw });
  t.defineGroup(0x0f01, 6, { name: 'lmsw_Ew', h: lmsw, flow: true });
  t.defineGroup(0x0f01, 7, { name: 'invlpg_M', h: invlpg, flow: true });
  t.defineGroup(0x0f00, 0, { name: 'sldt_Ew', h: sldt });
  t.defineGroup(0x0f00, 1, { name: 'str_Ew', h: str });
  t.defineGroup(0x0f00, 2, { name: 'lldt_Ew', h: lldt });
  t.defineGroup(0x0f00, 3, { name: 'ltr_Ew', h: ltr });
  // MOV to/from control and debug registers always use the register form (mod is ignored).
  t.define(0x0f20, { name: 'mov_RdCd', modrm: true, modrmRegOnly: true, h: movRdCr });
  t.define(0x0f22, { name: 'mov_CdRd', modrm: true, modrmRegOnly: true, h: movCrRd, flow: true });
  t.define(0x0f21, { name: 'mov_RdDd', modrm: true, modrmRegOnly: true, h: movRdDr });
  t.define(0x0f23, { name: 'mov_DdRd', modrm: true, modrmRegOnly: true, h: movDrRd });
  t.define(0x0f06, { name: 'clts', h: clts });
  t.define(0x0f08, { name: 'invd', h: invdWbinvd });
  t.define(0x0f09, { name: 'wbinvd', h: invdWbinvd });
  t.define(0x0f0b, { name: 'ud2', h: ud });
  t.define(0x0fa2, { name: 'cpuid', h: cpuid });
  t.defineGroup(0x0fae, 0, { name: 'fxsave', h: fxsaveOrRestore(false) });
  t.defineGroup(0x0fae, 1, { name: 'fxrstor', h: fxsaveOrRestore(true) });
  t.define(0x0f31, { name: 'rdtsc', h: rdtsc });
  t.define(0x0f32, { name: 'rdmsr', h: rdmsr });
  t.define(0x0f30, { name: 'wrmsr', h: wrmsr });
  t.define(0xfa, { name: 'cli', h: cli });
  t.define(0xfb, { name: 'sti', h: sti, flow: true });
  t.define(0xf4, { name: 'hlt', h: hlt, flow: true });
  t.define(0xe4, { name: 'in_ALIb', imm: Imm.Ib, h: inImm(1) });
  t.define(0xe5, { name: 'in_eAXIb', imm: Imm.Ib, h16: inImm(2), h32: inImm(4) });
  t.define(0xe6, { name: 'out_IbAL', imm: Imm.Ib, h: outImm(1) });
  t.define(0xe7, { name: 'out_IbeAX', imm: Imm.Ib, h16: outImm(2), h32: outImm(4) });
  t.define(0xec, { name: 'in_ALDX', h: inDx(1) });
  t.define(0xed, { name: 'in_eAXDX', h16: inDx(2), h32: inDx(4) });
  t.define(0xee, { name: 'out_DXAL', h: outDx(1) });
  t.define(0xef, { name: 'out_DXeAX', h16: outDx(2), h32: outDx(4) });
  t.define(0xcd, { name: 'int_Ib', imm: Imm.Ib, h: intN, flow: true });
  t.define(0xcc, { name: 'int3', h: int3, flow: true });
  t.define(0xce, { name: 'into', h: into, flow: true });
  t.define(0xf1, { name: 'int1', h: icebp, flow: true });
  for (let e = 0xd8; e <= 0xdf; e++) t.define(e, { name: `esc_${e.toString(16)}`, modrm: true, h: esc });
  t.define(0x9b, { name: 'fwait', h: fwait });
}

export { DS, ES, FS, GS, SS };
