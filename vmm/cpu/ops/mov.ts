// Data movement: MOV in all its forms, XCHG, LEA, MOVZX/MOVSX, CMOVcc, SETcc, BSWAP, XLAT, the
// sign-extension pair CBW/CWD, LAHF/SAHF, the flag bit instructions, segment-register loads
// (MOV Sreg, LDS/LES/LSS/LFS/LGS) and the NOPs (SDM vol. 2).

import type { Cpu } from '../cpu.ts';
import { BYTE_REG, CS, DS, ES, FS, GS, Imm, SS, type Instr, type OpTable } from '../decode.ts';
import { AF, ARITH, CF, DF, PF, SF, ZF } from '../flags.ts';
import { loadSegment } from '../segments.ts';

const EAX = 0, EDX = 2, EBX = 3;

function noMemLea(cpu: Cpu, i: Instr): void {
  if (i.mod === 3) cpu.raiseUD();
}

function loadSreg(cpu: Cpu, s: number, sel: number): void {
  loadSegment(cpu, s, sel);
  if (s === SS) {
    // MOV SS / POP SS hold off interrupts (and debug traps) for one instruction.
    cpu.shadow = true;
    cpu.brk = true;
  }
}

export function registerMov(t: OpTable): void {
  t.define(0x88, { name: 'mov_EbGb', modrm: true, h: (cpu, i) => cpu.writeE8(i, cpu.r8[i.rb]!) });
  t.define(0x89, {
    name: 'mov_EvGv',
    modrm: true,
    h16: (cpu, i) => cpu.writeE16(i, cpu.r16[i.reg << 1]!),
    h32: (cpu, i) => {
      if (i.mod === 3) cpu.r32[i.rm] = cpu.r32[i.reg]!;
      else cpu.write32(i.seg, cpu.ea(i), cpu.r32[i.reg]!);
    },
  });
  t.define(0x8a, { name: 'mov_GbEb', modrm: true, h: (cpu, i) => (cpu.r8[i.rb] = cpu.readE8(i)) });
  t.define(0x8b, {
    name: 'mov_GvEv',
    modrm: true,
    h16: (cpu, i) => (cpu.r16[i.reg << 1] = cpu.readE16(i)),
    h32: (cpu, i) => (cpu.r32[i.reg] = i.mod === 3 ? cpu.r32[i.rm]! : cpu.read32(i.seg, cpu.ea(i))),
  });
  const movEwSw = (cpu: Cpu, i: Instr): void => {
    if (i.reg > 5) cpu.raiseUD();
    const v = cpu.sel[i.reg]!;
    // The register form with a 32-bit operand zero-extends on the P6; memory stores 16 bits.
    if (i.mod === 3 && i.o32) cpu.r32[i.rm] = v;
    else cpu.writeE16(i, v);
  };
  t.define(0x8c, { name: 'mov_EwSw', modrm: true, h: movEwSw });
  t.define(0x8e, {
    name: 'mov_SwEw',
    modrm: true,
    flow: true,
    h: (cpu, i) => {
      if (i.reg > 5 || i.reg === CS) cpu.raiseUD();
      loadSreg(cpu, i.reg, cpu.readE16(i));
    },
  });
  t.define(0xa0, { name: 'mov_ALOb', imm: Imm.Moffs, h: (cpu, i) => (cpu.r8[0] = cpu.read8(i.seg, cpu.ea(i))) });
  t.define(0xa1, {
    name: 'mov_eAXOv',
    imm: Imm.Moffs,
    h16: (cpu, i) => (cpu.r16[0] = cpu.read16(i.seg, cpu.ea(i))),
    h32: (cpu, i) => (cpu.r32[EAX] = cpu.read32(i.seg, cpu.ea(i))),
  });
  t.define(0xa2, { name: 'mov_ObAL', imm: Imm.Moffs, h: (cpu, i) => cpu.write8(i.seg, cpu.ea(i), cpu.r8[0]!) });
  t.define(0xa3, {
    name: 'mov_OveAX',
    imm: Imm.Moffs,
    h16: (cpu, i) => cpu.write16(i.seg, cpu.ea(i), cpu.r16[0]!),
    h32: (cpu, i) => cpu.write32(i.seg, cpu.ea(i), cpu.r32[EAX]!),
  });
  for (let r = 0; r < 8; r++) {
    const rb = BYTE_REG[r]!;
    t.define(0xb0 + r, { name: `mov_r8Ib_${r}`, imm: Imm.Ib, h: (cpu, i) => (cpu.r8[rb] = i.imm) });
    t.define(0xb8 + r, {
      name: `mov_rvIv_${r}`,
      imm: Imm.Iz,
      h16: (cpu, i) => (cpu.r16[r << 1] = i.imm),
      h32: (cpu, i) => (cpu.r32[r] = i.imm),
    });
  }
  t.defineGroup(0xc6, 0, { name: 'mov_EbIb', imm: Imm.Ib, h: (cpu, i) => cpu.writeE8(i, i.imm) });
  t.defineGroup(0xc7, 0, {
    name: 'mov_EvIz',
    imm: Imm.Iz,
    h16: (cpu, i) => cpu.writeE16(i, i.imm),
    h32: (cpu, i) => cpu.writeE32(i, i.imm),
  });

  // XCHG: with a memory operand it is always locked (atomic) and so a read-modify-write.
  t.define(0x86, {
    name: 'xchg_EbGb',
    modrm: true,
    lockable: true,
    h: (cpu, i) => {
      const r = cpu.r8[i.rb]!;
      if (i.mod === 3) {
        cpu.r8[i.rb] = cpu.r8[i.rmb]!;
        cpu.r8[i.rmb] = r;
      } else {
        const lin = cpu.rmwLin(i, 1);
        cpu.r8[i.rb] = cpu.readLin8(lin);
        cpu.writeLin8(lin, r);
      }
    },
  });
  t.define(0x87, {
    name: 'xchg_EvGv',
    modrm: true,
    lockable: true,
    h16: (cpu, i) => {
      const r = cpu.r16[i.reg << 1]!;
      if (i.mod === 3) {
        cpu.r16[i.reg << 1] = cpu.r16[i.rm << 1]!;
        cpu.r16[i.rm << 1] = r;
      } else {
        const lin = cpu.rmwLin(i, 2);
        const m = cpu.readLin16(lin);
        cpu.writeLin16(lin, r);
        cpu.r16[i.reg << 1] = m;
      }
    },
    h32: (cpu, i) => {
      const r = cpu.r32[i.reg]!;
      if (i.mod === 3) {
        cpu.r32[i.reg] = cpu.r32[i.rm]!;
        cpu.r32[i.rm] = r;
      } else {
        const lin = cpu.rmwLin(i, 4);
        const m = cpu.readLin32(lin);
        cpu.writeLin32(lin, r);
        cpu.r32[i.reg] = m;
      }
    },
  });
  // 90 is NOP (XCHG eAX,eAX; with F3 it is PAUSE, also a NOP here).
  t.define(0x90, { name: 'nop', h: () => {} });
  for (let r = 1; r < 8; r++) {
    t.define(0x90 + r, {
      name: `xchg_eAX_${r}`,
      h16: (cpu) => {
        const a = cpu.r16[0]!;
        cpu.r16[0] = cpu.r16[r << 1]!;
        cpu.r16[r << 1] = a;
      },
      h32: (cpu) => {
        const a = cpu.r32[0]!;
        cpu.r32[0] = cpu.r32[r]!;
        cpu.r32[r] = a;
      },
    });
  }

  t.define(0x8d, {
    name: 'lea_GvM',
    modrm: true,
    h16: (cpu, i) => {
      noMemLea(cpu, i);
      cpu.r16[i.reg << 1] = cpu.ea(i);
    },
    h32: (cpu, i) => {
      noMemLea(cpu, i);
      cpu.r32[i.reg] = cpu.ea(i);
    },
  });

  t.define(0x0fb6, {
    name: 'movzx_GvEb',
    modrm: true,
    h16: (cpu, i) => (cpu.r16[i.reg << 1] = cpu.readE8(i)),
    h32: (cpu, i) => (cpu.r32[i.reg] = cpu.readE8(i)),
  });
  t.define(0x0fb7, {
    name: 'movzx_GvEw',
    modrm: true,
    h16: (cpu, i) => (cpu.r16[i.reg << 1] = cpu.readE16(i)),
    h32: (cpu, i) => (cpu.r32[i.reg] = cpu.readE16(i)),
  });
  t.define(0x0fbe, {
    name: 'movsx_GvEb',
    modrm: true,
    h16: (cpu, i) => (cpu.r16[i.reg << 1] = (cpu.readE8(i) << 24) >> 24),
    h32: (cpu, i) => (cpu.r32[i.reg] = (cpu.readE8(i) << 24) >> 24),
  });
  t.define(0x0fbf, {
    name: 'movsx_GvEw',
    modrm: true,
    h16: (cpu, i) => (cpu.r16[i.reg << 1] = cpu.readE16(i)),
    h32: (cpu, i) => (cpu.r32[i.reg] = (cpu.readE16(i) << 16) >> 16),
  });

  for (let cc = 0; cc < 16; cc++) {
    // CMOVcc reads its source whether or not it moves (a bad address faults either way).
    t.define(0x0f40 + cc, {
      name: `cmov${cc}_GvEv`,
      modrm: true,
      h16: (cpu, i) => {
        const v = cpu.readE16(i);
        if (cpu.cond(cc)) cpu.r16[i.reg << 1] = v;
      },
      h32: (cpu, i) => {
        const v = cpu.readE32(i);
        if (cpu.cond(cc)) cpu.r32[i.reg] = v;
      },
    });
    t.define(0x0f90 + cc, { name: `set${cc}_Eb`, modrm: true, h: (cpu, i) => cpu.writeE8(i, cpu.cond(cc) ? 1 : 0) });
  }

  for (let r = 0; r < 8; r++) {
    t.define(0x0fc8 + r, {
      name: `bswap_${r}`,
      // BSWAP with a 16-bit operand is undefined; the P6 clears the register's low word.
      h16: (cpu) => (cpu.r16[r << 1] = 0),
      h32: (cpu) => {
        const v = cpu.r32[r]!;
        cpu.r32[r] = ((v & 0xff) << 24) | ((v & 0xff00) << 8) | ((v >>> 8) & 0xff00) | (v >>> 24);
      },
    });
  }

  t.define(0xd7, {
    name: 'xlat',
    h: (cpu, i) => {
      const off = i.a32 ? (cpu.r32[EBX]! + cpu.r8[0]!) | 0 : (cpu.r16[EBX << 1]! + cpu.r8[0]!) & 0xffff;
      cpu.r8[0] = cpu.read8(i.seg, off);
    },
  });
  t.define(0x98, {
    name: 'cbw',
    h16: (cpu) => (cpu.r16[0] = (cpu.r8[0]! << 24) >> 24),
    h32: (cpu) => (cpu.r32[EAX] = (cpu.r16[0]! << 16) >> 16),
  });
  t.define(0x99, {
    name: 'cwd',
    h16: (cpu) => (cpu.r16[EDX << 1] = cpu.r16[0]! & 0x8000 ? 0xffff : 0),
    h32: (cpu) => (cpu.r32[EDX] = cpu.r32[EAX]! >> 31),
  });
  t.define(0x9f, { name: 'lahf', h: (cpu) => (cpu.r8[1] = cpu.getFlags() & 0xff) });
  t.define(0x9e, {
    name: 'sahf',
    h: (cpu) => {
      cpu.materialize(ARITH);
      const mask = SF | ZF | AF | PF | CF;
      cpu.flagsRaw = (cpu.flagsRaw & ~mask) | (cpu.r8[1]! & mask);
    },
  });
  const setFlag = (bit: number, how: 'set' | 'clear' | 'toggle') => (cpu: Cpu) => {
    if (bit & ARITH) cpu.materialize(bit);
    if (how === 'set') cpu.flagsRaw |= bit;
    else if (how === 'clear') cpu.flagsRaw &= ~bit;
    else cpu.flagsRaw ^= bit;
  };
  t.define(0xf8, { name: 'clc', h: setFlag(CF, 'clear') });
  t.define(0xf9, { name: 'stc', h: setFlag(CF, 'set') });
  t.define(0xf5, { name: 'cmc', h: setFlag(CF, 'toggle') });
  t.define(0xfc, { name: 'cld', h: setFlag(DF, 'clear') });
  t.define(0xfd, { name: 'std', h: setFlag(DF, 'set') });
  // SALC: undocumented but present since the 8086: AL = CF ? 0xFF : 0.
  t.define(0xd6, { name: 'salc', h: (cpu) => (cpu.r8[0] = cpu.cf() ? 0xff : 0) });

  // Far pointer loads: offset then selector from memory; the segment load checks come first.
  const lfp = (s: number) => ({
    name: `l${['es', 'cs', 'ss', 'ds', 'fs', 'gs'][s]}_GvMp`,
    modrm: true,
    h16: (cpu: Cpu, i: Instr) => {
      if (i.mod === 3) cpu.raiseUD();
      const off = cpu.ea(i);
      const v = cpu.read16(i.seg, off);
      const sel = cpu.read16(i.seg, (off + 2) & (i.a32 ? -1 : 0xffff));
      loadSreg(cpu, s, sel);
      cpu.r16[i.reg << 1] = v;
    },
    h32: (cpu: Cpu, i: Instr) => {
      if (i.mod === 3) cpu.raiseUD();
      const off = cpu.ea(i);
      const v = cpu.read32(i.seg, off);
      const sel = cpu.read16(i.seg, (off + 4) & (i.a32 ? -1 : 0xffff));
      loadSreg(cpu, s, sel);
      cpu.r32[i.reg] = v;
    },
  });
  t.define(0xc4, lfp(ES));
  t.define(0xc5, lfp(DS));
  t.define(0x0fb2, lfp(SS));
  t.define(0x0fb4, lfp(FS));
  t.define(0x0fb5, lfp(GS));

  // Multi-byte NOP (0F 1F /0) and the other hint-NOP rows of the P6 map.
  for (let op = 0x0f19; op <= 0x0f1f; op++) t.define(op, { name: 'nop_Ev', modrm: true, h: () => {} });
  t.define(0x0f18, { name: 'hint_nop_Ev', modrm: true, h: () => {} });
}
