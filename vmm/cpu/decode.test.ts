// The decoder's output read back through Instr's packed fields (Instr.x): every field of forms that
// set each of them (prefixes, SIB, segment defaults, far pointers, moffs, register-only ModRM, x87),
// and the instruction's size, which bounds the decoded-instruction cache's memory.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { decode, Instr, Rep, ES, SS, DS, FS, BYTE_REG } from './decode.ts';
import { buildOpTable } from './optable.ts';
import type { Cpu } from './cpu.ts';

const table = buildOpTable();
const cpu = {
  raiseGP(): never {
    throw new Error('#GP');
  },
} as unknown as Cpu;

function dec(bytes: number[], d32: boolean): Instr {
  return decode(table, (n) => bytes[n]!, d32, cpu);
}

function fields(i: Instr): Record<string, unknown> {
  return {
    opcode: i.opcode, len: i.len, o32: i.o32, a32: i.a32, rep: i.rep, lock: i.lock, seg: i.seg,
    segOverride: i.segOverride, mod: i.mod, reg: i.reg, rm: i.rm, rb: i.rb, rmb: i.rmb, base: i.base,
    index: i.index, scale: i.scale, disp: i.disp, imm: i.imm, d32: i.d32, modrmByte: i.modrmByte,
  };
}

const plain = { o32: true, a32: true, rep: Rep.None, lock: false, seg: DS, segOverride: false, base: -1, index: -1, scale: 0, disp: 0, imm: 0, d32: true };

test('LOCK CMPXCHG [FS:ESI+EBX*4+disp32], ECX: prefixes, SIB and displacement', () => {
  const i = dec([0x64, 0xf0, 0x0f, 0xb1, 0x8c, 0x9e, 0x78, 0x56, 0x34, 0x12], true);
  assert.deepEqual(fields(i), {
    ...plain, opcode: 0x0fb1, len: 10, lock: true, seg: FS, segOverride: true, mod: 2, reg: 1, rm: 4,
    rb: BYTE_REG[1], rmb: BYTE_REG[4], base: 6, index: 3, scale: 2, disp: 0x12345678, modrmByte: 0x8c,
  });
  assert.notEqual(i.h.name, 'undefinedOpcode');
});

test('16-bit code: REP MOVSD with both size prefixes; BP-based operands default to SS unless overridden', () => {
  assert.deepEqual(fields(dec([0x67, 0x66, 0xf3, 0xa5], false)), {
    ...plain, opcode: 0xa5, len: 4, rep: Rep.REPE, d32: false, mod: 3, reg: 0, rm: 0, rb: 0, rmb: 0, modrmByte: 0xc0,
  });
  const bp = { ...plain, opcode: 0x8b, o32: false, a32: false, d32: false, mod: 1, reg: 0, rm: 6, rb: 0, rmb: BYTE_REG[6], base: 5, index: -1, disp: -2, modrmByte: 0x46 };
  assert.deepEqual(fields(dec([0x8b, 0x46, 0xfe], false)), { ...bp, len: 3, seg: SS });
  assert.deepEqual(fields(dec([0x26, 0x8b, 0x46, 0xfe], false)), { ...bp, len: 4, seg: ES, segOverride: true });
  assert.deepEqual(fields(dec([0x8b, 0x47, 0x02], false)), { ...bp, len: 3, rm: 7, rmb: BYTE_REG[7], base: 3, disp: 2, modrmByte: 0x47 });
  const sib = fields(dec([0x8b, 0x44, 0x25, 0x10], true));
  assert.equal(sib.seg, SS, '[EBP+disp8] through a SIB byte');
  assert.equal(fields(dec([0xf2, 0xae], true)).rep, Rep.REPNE);
});

test('second immediates: far JMP ptr16:32 and ENTER', () => {
  const far = dec([0xea, 0x78, 0x56, 0x34, 0x12, 0x08, 0x00], true);
  assert.deepEqual([far.opcode, far.len, far.imm, far.imm2, far.mod], [0xea, 7, 0x12345678, 8, 3]);
  const enter = dec([0xc8, 0x10, 0x00, 0x02], true);
  assert.deepEqual([enter.opcode, enter.len, enter.imm, enter.imm2], [0xc8, 4, 16, 2]);
});

test('MOV EAX, moffs32 is a memory operand at the offset; MOV from CR0 names registers whatever mod says', () => {
  assert.deepEqual(fields(dec([0xa1, 0x44, 0x33, 0x22, 0x11], true)), {
    ...plain, opcode: 0xa1, len: 5, mod: 0, reg: 0, rm: 0, rb: 0, rmb: 0, disp: 0x11223344, modrmByte: 0,
  });
  const cr = dec([0x0f, 0x20, 0x01], true);
  assert.deepEqual([cr.opcode, cr.len, cr.mod, cr.reg, cr.rm, cr.base], [0x0f20, 3, 3, 0, 1, -1]);
});

test('x87 escapes keep their whole ModRM byte', () => {
  const fld1 = dec([0xd9, 0xe8], true);
  assert.deepEqual([fld1.opcode, fld1.modrmByte, fld1.mod, fld1.reg, fld1.rm, fld1.len], [0xd9, 0xe8, 3, 5, 0, 2]);
});

test('a decoded instruction holds at most 12 fields (the decoded-instruction cache keeps about 90,000)', () => {
  const i = dec([0x64, 0xf0, 0x0f, 0xb1, 0x8c, 0x9e, 0x78, 0x56, 0x34, 0x12], true);
  assert.ok(Object.keys(i).length <= 12, `fields: ${Object.keys(i).join(', ')}`);
  // What the run loop reads after every instruction, and x, come first (the reason is at Instr).
  assert.deepEqual(Object.keys(i).slice(0, 5), ['h', 'len', 'next', 'x', 'ends']);
});
