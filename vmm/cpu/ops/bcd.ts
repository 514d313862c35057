// Decimal arithmetic adjustments: DAA DAS AAA AAS AAM AAD (SDM vol. 2, "Operation" of each).
//
// Undefined results, each chosen to match P6 hardware as QEMU and Bochs model it:
// - Invalid BCD operands (a nibble above 9, AL above 99h) are not rejected: the SDM's Operation
//   pseudocode is applied as written, which is what the hardware does with them; AAM 0 raises #DE.
// - DAA/DAS: OF is undefined; the P6 reports the signed overflow of the whole adjustment.
// - AAA/AAS: OF, SF, ZF and PF are undefined; SF, ZF and PF follow the final AL (after the high
//   nibble is cleared) and OF is cleared.
// - AAM: OF, AF and CF are undefined; they are cleared, as after a logical operation on AL.
// - AAD: OF, AF and CF are undefined; they come from the 8-bit addition that forms AL.

import type { Cpu } from '../cpu.ts';
import { Imm, type OpTable } from '../decode.ts';
import { AF, ARITH, CF, LazyOp, OF, PARITY, PF, SF, ZF } from '../flags.ts';
import { Vec } from '../fault.ts';

/** Sets all six arithmetic flags explicitly. */
function setFlags6(cpu: Cpu, al: number, cf: boolean, af: boolean, of: boolean): void {
  cpu.materialize(ARITH);
  let f = cpu.flagsRaw & ~ARITH;
  if (cf) f |= CF;
  if (af) f |= AF;
  if (of) f |= OF;
  if ((al & 0xff) === 0) f |= ZF;
  if (al & 0x80) f |= SF;
  if (PARITY[al & 0xff]) f |= PF;
  cpu.flagsRaw = f;
}

export function registerBcd(t: OpTable): void {
  t.define(0x27, {
    name: 'daa',
    h: (cpu) => {
      const old = cpu.r8[0]!;
      const oldCf = cpu.cf();
      let al = old;
      let cf = false;
      let af = false;
      if ((al & 0x0f) > 9 || cpu.af()) {
        al += 6;
        cf = oldCf || al > 0xff;
        af = true;
      }
      if (old > 0x99 || oldCf) {
        al += 0x60;
        cf = true;
      }
      al &= 0xff;
      cpu.r8[0] = al;
      // OF is undefined; the P6 reports signed overflow of the adjustment.
      setFlags6(cpu, al, cf, af, (~old & al & 0x80) !== 0);
    },
  });
  t.define(0x2f, {
    name: 'das',
    h: (cpu) => {
      const old = cpu.r8[0]!;
      const oldCf = cpu.cf();
      let al = old;
      let cf = false;
      let af = false;
      if ((al & 0x0f) > 9 || cpu.af()) {
        cf = oldCf || al < 6;
        al -= 6;
        af = true;
      }
      if (old > 0x99 || oldCf) {
        al -= 0x60;
        cf = true;
      }
      al &= 0xff;
      cpu.r8[0] = al;
      setFlags6(cpu, al, cf, af, (old & ~al & 0x80) !== 0);
    },
  });
  t.define(0x37, {
    name: 'aaa',
    h: (cpu) => {
      const adjust = (cpu.r8[0]! & 0x0f) > 9 || cpu.af();
      if (adjust) {
        cpu.r16[0] = cpu.r16[0]! + 0x106;
      }
      cpu.r8[0] = cpu.r8[0]! & 0x0f;
      setFlags6(cpu, cpu.r8[0]!, adjust, adjust, false);
    },
  });
  t.define(0x3f, {
    name: 'aas',
    h: (cpu) => {
      const adjust = (cpu.r8[0]! & 0x0f) > 9 || cpu.af();
      if (adjust) {
        cpu.r16[0] = cpu.r16[0]! - 6;
        cpu.r8[1] = cpu.r8[1]! - 1;
      }
      cpu.r8[0] = cpu.r8[0]! & 0x0f;
      setFlags6(cpu, cpu.r8[0]!, adjust, adjust, false);
    },
  });
  t.define(0xd4, {
    name: 'aam_Ib',
    imm: Imm.Ib,
    h: (cpu, i) => {
      const base = i.imm & 0xff;
      if (base === 0) cpu.raise(Vec.DE);
      const al = cpu.r8[0]!;
      cpu.r8[1] = Math.floor(al / base);
      cpu.r8[0] = al % base;
      cpu.setLazy(LazyOp.LOGIC, 0, 0, cpu.r8[0]!, 0);
    },
  });
  t.define(0xd5, {
    name: 'aad_Ib',
    imm: Imm.Ib,
    h: (cpu, i) => {
      const al = cpu.r8[0]!;
      const prod = (cpu.r8[1]! * (i.imm & 0xff)) & 0xff;
      const r = (al + prod) & 0xff;
      // Flags as the P6 sets them: those of the 8-bit ADD that forms AL.
      cpu.setLazy(LazyOp.ADD, al, prod, r, 0);
      cpu.r8[0] = r;
      cpu.r8[1] = 0;
    },
  });
}
