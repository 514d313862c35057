// Unit tests of the protection instructions and task switches (ops/protection.ts, ops/far.ts,
// tasks.ts): state set up from the test, one instruction stepped at a time, the resulting registers,
// stack frames and descriptor bits checked against the SDM's "Operation" sections. Also checks that a
// faulting instruction leaves no partial state behind.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { makeBox, type Box } from './system-tests/box.ts';
import { CODE, GDT, GDT_ENTRIES, HANDLER, IDT, LDT, LDT_ENTRIES, PD, PT, TSS_A, TSS_B, TSS_C, gate, write16, write32 } from './system-tests/fixture.ts';
import { CS, DS, ES, SS } from './decode.ts';
import { CR0_PE, CR0_PG, CR0_TS, CR0_WP, EAX, EBX, ECX, EDX, ESP } from './regs.ts';
import { setSegmentCache } from './segments.ts';
import { IF, IOPL, NT, VM, ZF } from './flags.ts';
import { Vec } from './fault.ts';
import type { EngineName } from './bt/attach.ts';
import { EVERY_ENGINE } from './bt/test-kit.ts';

const R0_STACK = 0x20000;
const R3_STACK = 0x30000;

/** Protected mode with the fixture's tables; IDT vector v goes to HANDLER + 16*v, a HLT. */
function pmBox(ring: 0 | 3, engine?: EngineName): Box {
  const box = makeBox(4 << 20, undefined, engine);
  const { cpu, mem } = box;
  GDT_ENTRIES.forEach(([lo, hi], k) => {
    write32(box, GDT + k * 8, lo);
    write32(box, GDT + k * 8 + 4, hi);
  });
  LDT_ENTRIES.forEach(([lo, hi], k) => {
    write32(box, LDT + k * 8, lo);
    write32(box, LDT + k * 8 + 4, hi);
  });
  for (let v = 0; v < 256; v++) {
    const [lo, hi] = gate(0x08, HANDLER + v * 16, 0xee, 0);
    write32(box, IDT + v * 8, lo);
    write32(box, IDT + v * 8 + 4, hi);
  }
  mem.u8.fill(0xf4, HANDLER, HANDLER + 0x1000);
  write32(box, TSS_A + 4, R0_STACK);
  write32(box, TSS_A + 8, 0x10);
  write16(box, TSS_A + 0x66, 0x68);
  cpu.cr0 |= CR0_PE;
  cpu.gdtrBase = GDT;
  cpu.gdtrLimit = GDT_ENTRIES.length * 8 - 1;
  cpu.idtrBase = IDT;
  cpu.idtrLimit = 0x7ff;
  cpu.trSel = 0x38;
  cpu.trBase = TSS_A;
  cpu.trLimit = 0x87;
  cpu.trType = 11;
  cpu.ldtrSel = 0x68;
  cpu.ldtrBase = LDT;
  cpu.ldtrLimit = 0x17;
  cpu.setFlags(2);
  const flat = (s: number, sel: number, ar: number): void => setSegmentCache(cpu, s, sel, 0, 0xffffffff, ar);
  if (ring === 0) {
    flat(CS, 0x08, 0xc09b);
    for (const s of [0, 2, 3, 4, 5]) flat(s, 0x10, 0xc093);
    cpu.r32[ESP] = R0_STACK - 0x100;
  } else {
    flat(CS, 0x1b, 0xc0fb);
    for (const s of [0, 2, 3, 4, 5]) flat(s, 0x23, 0xc0f3);
    cpu.r32[ESP] = R3_STACK;
  }
  cpu.eip = CODE;
  return box;
}

/**
 * IDT vector `v` becomes a task gate to TSS B: a 32-bit task at HANDLER + 0x800, EFLAGS 2, ESP
 * 0x1e000, with ES, CS, SS and DS selectors `segs`.
 */
function taskGateToB(box: Box, v: number, segs: readonly [number, number, number, number]): void {
  const [lo, hi] = gate(0x40, 0, 0x85, 0);
  write32(box, IDT + v * 8, lo);
  write32(box, IDT + v * 8 + 4, hi);
  write32(box, TSS_B + 0x20, HANDLER + 0x800);
  write32(box, TSS_B + 0x24, 2);
  write32(box, TSS_B + 0x38, 0x1e000);
  segs.forEach((sel, k) => write32(box, TSS_B + 0x48 + 4 * k, sel));
}

function code(box: Box, bytes: number[], at = CODE): void {
  box.mem.u8.set(bytes, at);
  box.cpu.invalidateAllCode();
}

function step(box: Box, n = 1): void {
  for (let k = 0; k < n; k++) box.cpu.run(1);
}

/** The vector whose HLT stub the CPU is at (or just after), or -1. */
function vectorTaken(box: Box): number {
  const off = box.cpu.eip - HANDLER;
  return off >= 0 && off % 16 <= 1 && off < 0x1000 ? off >> 4 : -1;
}

const rd32 = (box: Box, a: number): number => box.mem.i32[a >>> 2]!;

test('CALL through a call gate from ring 3 copies parameters to the ring-0 stack; RETF 8 returns', () => {
  const box = pmBox(3);
  const { cpu } = box;
  cpu.r32[ESP] = R3_STACK - 8;
  write32(box, R3_STACK - 8, 0xbbbb);
  write32(box, R3_STACK - 4, 0xaaaa);
  code(box, [0x9a, 0, 0, 0, 0, 0x53, 0x00]); // call 0x53:0 (gate 0x50, RPL 3)
  code(box, [0xca, 0x08, 0x00], HANDLER); // retf 8
  step(box);
  assert.equal(cpu.sel[CS], 0x08);
  assert.equal(cpu.cpl, 0);
  assert.equal(cpu.sel[SS], 0x10);
  assert.equal(cpu.eip, HANDLER);
  const sp = cpu.r32[ESP]!;
  assert.equal(sp, R0_STACK - 24);
  assert.deepEqual([0, 4, 8, 12, 16, 20].map((o) => rd32(box, sp + o)), [CODE + 7, 0x1b, 0xbbbb, 0xaaaa, R3_STACK - 8, 0x23]);
  step(box);
  assert.equal(cpu.sel[CS], 0x1b);
  assert.equal(cpu.cpl, 3);
  assert.equal(cpu.sel[SS], 0x23);
  assert.equal(cpu.r32[ESP], R3_STACK);
  assert.equal(cpu.eip, CODE + 7);
  assert.equal(cpu.sel[DS], 0x23, 'a DPL-3 data segment survives the return');
});

test('a 16-bit call gate to 16-bit code pushes words and copies one parameter word', () => {
  const box = pmBox(3);
  const { cpu } = box;
  cpu.r32[ESP] = R3_STACK - 2;
  box.mem.u16[(R3_STACK - 2) >> 1] = 0x7777;
  code(box, [0x9a, 0, 0, 0, 0, 0x5b, 0x00]); // call 0x5b:0 (16-bit gate to 0x28:0)
  step(box);
  assert.equal(cpu.sel[CS], 0x28);
  assert.equal(cpu.segBase[CS], CODE);
  assert.equal(cpu.eip, 0);
  const sp = cpu.r32[ESP]!;
  assert.equal(sp, R0_STACK - 10);
  const w = (o: number): number => box.mem.u16[(sp + o) >> 1]!;
  assert.deepEqual([w(0), w(2), w(4), w(6), w(8)], [7, 0x1b, 0x7777, (R3_STACK - 2) & 0xffff, 0x23]);
});

test('INT from ring 3 switches to the TSS stack; IRET returns to ring 3 and nulls ring-0 data segments', () => {
  const box = pmBox(3);
  const { cpu } = box;
  cpu.setFlags(2 | IF);
  code(box, [0xcd, 0x30]); // int 0x30
  code(box, [0xcf], HANDLER + 0x30 * 16); // iretd
  step(box);
  assert.equal(cpu.cpl, 0);
  assert.equal(cpu.r32[ESP], R0_STACK - 20);
  assert.deepEqual([0, 4, 8, 12, 16].map((o) => rd32(box, R0_STACK - 20 + o)), [CODE + 2, 0x1b, 2 | IF, R3_STACK, 0x23]);
  assert.equal(cpu.getFlags() & IF, 0, 'interrupt gate clears IF');
  // A ring-0 data segment in ES must not survive the return to ring 3.
  setSegmentCache(cpu, ES, 0x10, 0, 0xffffffff, 0xc093);
  step(box);
  assert.equal(cpu.cpl, 3);
  assert.equal(cpu.eip, CODE + 2);
  assert.equal(cpu.r32[ESP], R3_STACK);
  assert.equal(cpu.sel[SS], 0x23);
  assert.equal(cpu.sel[ES], 0, 'ES nulled');
  assert.equal(cpu.sel[DS], 0x23);
  assert.ok(cpu.getFlags() & IF);
});

test('IRET at ring 3 cannot change IOPL or (with IOPL 0) IF; at ring 0 it can', () => {
  const box = pmBox(3);
  const { cpu } = box;
  cpu.r32[ESP] = R3_STACK - 12;
  write32(box, R3_STACK - 12, CODE + 0x10);
  write32(box, R3_STACK - 8, 0x1b);
  write32(box, R3_STACK - 4, 2 | IF | IOPL | VM);
  code(box, [0xcf]);
  step(box);
  assert.equal(cpu.eip, CODE + 0x10);
  assert.equal(cpu.getFlags() & (IF | IOPL | VM), 0);
  const b0 = pmBox(0);
  const sp = b0.cpu.r32[ESP]!;
  write32(b0, sp, CODE + 0x10);
  write32(b0, sp + 4, 0x08);
  write32(b0, sp + 8, 2 | IF | IOPL);
  code(b0, [0xcf]);
  step(b0);
  assert.equal(b0.cpu.getFlags() & (IF | IOPL), IF | IOPL);
});

test('POPF: ring 3 with IOPL 0 keeps IF and IOPL; ring 0 changes both; v86 with IOPL < 3 faults', () => {
  const box = pmBox(3);
  const { cpu } = box;
  cpu.r32[ESP] = R3_STACK - 4;
  write32(box, R3_STACK - 4, 0xffffffff);
  code(box, [0x9d]);
  step(box);
  const f = cpu.getFlags();
  assert.equal(f & (IF | IOPL | VM), 0);
  assert.ok(f & NT && f & ZF);
  assert.equal(cpu.r32[ESP], R3_STACK);
  const b0 = pmBox(0);
  write32(b0, b0.cpu.r32[ESP]!, IF | IOPL);
  code(b0, [0x9d]);
  step(b0);
  assert.equal(b0.cpu.getFlags() & (IF | IOPL | VM), IF | IOPL);
});

test('RETF to an outer level with a bad SS faults #GP(SS) and changes nothing', () => {
  const box = pmBox(0);
  const { cpu } = box;
  const sp = cpu.r32[ESP]!;
  write32(box, sp, CODE + 0x20);
  write32(box, sp + 4, 0x1b);
  write32(box, sp + 8, R3_STACK);
  write32(box, sp + 12, 0x13); // ring-0 data with RPL 3: DPL mismatch
  code(box, [0xcb]);
  code(box, [0xcf], HANDLER + Vec.GP * 16);
  const esBefore = cpu.sel[ES];
  step(box);
  assert.equal(cpu.eip, HANDLER + Vec.GP * 16);
  assert.equal(rd32(box, cpu.r32[ESP]!), 0x10, 'error code names the SS selector');
  assert.equal(rd32(box, cpu.r32[ESP]! + 4), CODE, 'EIP of the RETF');
  assert.equal(cpu.sel[ES], esBefore);
  assert.equal(cpu.r32[ESP], sp - 16);
});

test('far JMP to a non-conforming code segment of another privilege is #GP(selector)', () => {
  const box = pmBox(0);
  code(box, [0xea, 0, 0, 0, 0, 0x1b, 0]); // jmp 0x1b:0
  step(box);
  assert.equal(vectorTaken(box), Vec.GP);
  assert.equal(rd32(box, box.cpu.r32[ESP]!), 0x18);
  assert.equal(box.cpu.cpl, 0);
});

test('far JMP into conforming ring-0 code from ring 3 keeps CPL 3', () => {
  const box = pmBox(3);
  code(box, [0xea, 0x40, 0, 1, 0, 0x73, 0]); // jmp 0x73:0x10040 (conforming, DPL 0)
  step(box);
  assert.equal(box.cpu.eip, CODE + 0x40);
  assert.equal(box.cpu.sel[CS], 0x73);
  assert.equal(box.cpu.cpl, 3);
});

test('CALL to a TSS: NT, back link, busy bits, CR0.TS; IRET returns and restores the caller', () => {
  const box = pmBox(0);
  const { cpu } = box;
  write32(box, TSS_B + 0x20, HANDLER + 0x800);
  write32(box, TSS_B + 0x24, 2);
  write32(box, TSS_B + 0x38, 0x1e000);
  write32(box, TSS_B + 0x28, 0x1111); // EAX
  for (const [o, s] of [[0x48, 0x10], [0x4c, 0x08], [0x50, 0x10], [0x54, 0x10], [0x58, 0x10], [0x5c, 0x10]] as const) write32(box, TSS_B + o, s);
  code(box, [0x9a, 0, 0, 0, 0, 0x40, 0]); // call 0x40:0
  code(box, [0xcf], HANDLER + 0x800); // iretd in task B
  cpu.r32[EAX] = 0x2222;
  cpu.r32[EBX] = 0x3333;
  step(box);
  assert.equal(cpu.trSel, 0x40);
  assert.equal(cpu.eip, HANDLER + 0x800);
  assert.equal(cpu.r32[EAX], 0x1111);
  assert.equal(cpu.r32[ESP], 0x1e000);
  assert.ok(cpu.getFlags() & NT);
  assert.ok(cpu.cr0 & CR0_TS);
  assert.equal(box.mem.u16[TSS_B >> 1], 0x38, 'back link');
  assert.equal(box.mem.u8[GDT + 0x40 + 5], 0x8b, 'new task busy');
  assert.equal(box.mem.u8[GDT + 0x38 + 5], 0x8b, 'caller stays busy');
  assert.equal(rd32(box, TSS_A + 0x20), CODE + 7, 'caller EIP saved');
  assert.equal(rd32(box, TSS_A + 0x34), 0x3333, 'caller EBX saved');
  step(box);
  assert.equal(cpu.trSel, 0x38);
  assert.equal(cpu.eip, CODE + 7);
  assert.equal(cpu.r32[EAX], 0x2222);
  assert.equal(cpu.r32[EBX], 0x3333);
  assert.equal(cpu.getFlags() & NT, 0);
  assert.equal(box.mem.u8[GDT + 0x40 + 5], 0x89, 'returned-from task idle');
  assert.equal(rd32(box, TSS_B + 0x24) & NT, 0, 'NT cleared in the saved image');
});

test('JMP to a busy TSS is #GP(selector); to a 16-bit TSS loads its state', () => {
  const box = pmBox(0);
  code(box, [0xea, 0, 0, 0, 0, 0x38, 0]);
  step(box);
  assert.equal(vectorTaken(box), Vec.GP);
  assert.equal(rd32(box, box.cpu.r32[ESP]!), 0x38);
  const b2 = pmBox(0);
  const w16 = (o: number, v: number): void => write16(b2, TSS_C + o, v);
  w16(0x0e, 0x20);
  w16(0x10, 2);
  w16(0x1a, 0xe000);
  w16(0x22, 0x30);
  w16(0x24, 0x28);
  w16(0x26, 0x30);
  w16(0x28, 0x30);
  code(b2, [0xea, 0, 0, 0, 0, 0x48, 0]);
  step(b2);
  const c = b2.cpu;
  assert.equal(c.trSel, 0x48);
  assert.equal(c.trType, 3);
  assert.equal(c.sel[CS], 0x28);
  assert.equal(c.eip, 0x20);
  assert.equal(c.r16[ESP << 1], 0xe000);
  assert.equal(b2.mem.u8[GDT + 0x38 + 5], 0x89, 'JMP frees the old task');
});

test('a #GP through a task gate switches tasks and pushes the error code on the new stack', () => {
  const box = pmBox(0);
  const { cpu } = box;
  taskGateToB(box, Vec.GP, [0x10, 0x08, 0x10, 0x10]);
  code(box, [0xea, 0, 0, 0, 0, 0x1b, 0]); // #GP(0x18)
  step(box);
  assert.equal(cpu.trSel, 0x40);
  assert.equal(cpu.r32[ESP], 0x1e000 - 4);
  assert.equal(rd32(box, 0x1e000 - 4), 0x18);
  assert.equal(rd32(box, TSS_A + 0x20), CODE, 'faulting EIP saved in the old TSS');
});

test('a #GP whose gate is not present becomes #DF; with no #DF gate the CPU shuts down', () => {
  const box = pmBox(0);
  write32(box, IDT + Vec.GP * 8 + 4, 0); // not present
  code(box, [0xea, 0, 0, 0, 0, 0x1b, 0]);
  step(box);
  assert.equal(vectorTaken(box), Vec.DF);
  assert.equal(rd32(box, box.cpu.r32[ESP]!), 0);
  const b2 = pmBox(0);
  write32(b2, IDT + Vec.GP * 8 + 4, 0);
  write32(b2, IDT + Vec.DF * 8 + 4, 0);
  code(b2, [0xea, 0, 0, 0, 0, 0x1b, 0]);
  step(b2);
  assert.notEqual(b2.shutdown, null);
});

test('v86: IRETD from ring 0 enters it; INT with IOPL 3 reaches the ring-0 monitor; IRETD goes back', () => {
  const box = pmBox(0);
  const { cpu } = box;
  const sp = cpu.r32[ESP]!;
  // EIP, CS, EFLAGS, ESP, SS, ES, DS, FS, GS
  [0x10, 0x1000, VM | IOPL | 2, 0x8000, 0x2000, 0x111, 0x222, 0x333, 0x444].forEach((v, k) => write32(box, sp + 4 * k, v));
  code(box, [0xcf]);
  code(box, [0xcd, 0x31], CODE + 0x10); // int 0x31 at 1000:0010
  code(box, [0xcf], HANDLER + 0x31 * 16);
  step(box);
  assert.ok(cpu.v86);
  assert.equal(cpu.cpl, 3);
  assert.equal(cpu.segBase[CS], 0x10000);
  assert.equal(cpu.segBase[DS], 0x2220);
  assert.equal(cpu.r32[ESP], 0x8000);
  step(box);
  assert.ok(!cpu.v86);
  assert.equal(cpu.cpl, 0);
  assert.equal(cpu.r32[ESP], R0_STACK - 36);
  assert.deepEqual(
    Array.from({ length: 9 }, (_, k) => rd32(box, R0_STACK - 36 + 4 * k)),
    [0x12, 0x1000, VM | IOPL | 2, 0x8000, 0x2000, 0x111, 0x222, 0x333, 0x444],
  );
  assert.deepEqual([cpu.sel[ES], cpu.sel[DS], cpu.sel[4], cpu.sel[5]], [0, 0, 0, 0]);
  step(box);
  assert.ok(cpu.v86);
  assert.equal(cpu.eip, 0x12);
  assert.equal(cpu.sel[DS], 0x222);
  assert.equal(cpu.sel[SS], 0x2000);
});

test('v86 with IOPL 0: CLI, STI, PUSHF, POPF, INT n, INT3 and IRET trap with #GP(0); I/O follows the TSS bitmap', () => {
  for (const op of [[0xfa], [0xfb], [0x9c], [0x9d], [0xcd, 0x21], [0xcc], [0xcf]]) {
    const box = pmBox(0);
    const { cpu } = box;
    cpu.setFlags(2 | VM);
    for (let s = 0; s < 6; s++) cpu.loadSegmentReal(s, s === CS ? 0x1000 : 0);
    cpu.r32[ESP] = 0x8000;
    cpu.eip = 0;
    code(box, op);
    step(box);
    assert.equal(vectorTaken(box), Vec.GP, `opcode ${op[0]!.toString(16)}`);
    assert.equal(rd32(box, cpu.r32[ESP]!), 0);
    assert.equal(rd32(box, cpu.r32[ESP]! + 4), 0, 'EIP of the trapping instruction');
  }
  const box = pmBox(0);
  const { cpu } = box;
  box.mem.u8.fill(0, TSS_A + 0x68, TSS_A + 0x88);
  box.mem.u8[TSS_A + 0x68 + (0x80 >> 3)] = 1; // deny port 0x80
  cpu.setFlags(2 | VM | IOPL);
  for (let s = 0; s < 6; s++) cpu.loadSegmentReal(s, s === CS ? 0x1000 : 0);
  cpu.r32[ESP] = 0x8000;
  cpu.eip = 0;
  code(box, [0xe6, 0xe9, 0xe6, 0x80]); // out 0xe9, al; out 0x80, al
  cpu.r32[EAX] = 0x41;
  step(box);
  assert.equal(box.console, 'A');
  step(box);
  assert.equal(vectorTaken(box), Vec.GP);
  assert.equal(rd32(box, cpu.r32[ESP]! + 4), 2);
});

test('LAR, LSL, VERR, VERW and ARPL', () => {
  const box = pmBox(3);
  const { cpu } = box;
  cpu.r32[EAX] = 0x1b;
  code(box, [
    0x0f, 0x02, 0xd8, // lar ebx, eax
    0x0f, 0x03, 0xc8, // lsl ecx, eax
    0x0f, 0x00, 0xe0, // verr ax
  ]);
  step(box);
  assert.ok(cpu.getFlags() & ZF);
  assert.equal(cpu.r32[EBX], 0x00c0fa00, 'masked with 00F0FF00');
  step(box);
  assert.equal(cpu.r32[ECX], -1);
  step(box);
  assert.ok(cpu.getFlags() & ZF);
  // Ring 3 cannot see ring-0 data, nor the LDT descriptor; VERW wants writable data.
  cpu.r32[EAX] = 0x10;
  code(box, [0x0f, 0x02, 0xd8, 0x0f, 0x03, 0xc8, 0x0f, 0x00, 0xe8], CODE + 9);
  step(box);
  assert.equal(cpu.getFlags() & ZF, 0);
  cpu.r32[EAX] = 0x6b;
  step(box);
  assert.equal(cpu.getFlags() & ZF, 0);
  cpu.r32[EAX] = 0x1b;
  step(box);
  assert.equal(cpu.getFlags() & ZF, 0, 'code is not writable');
  const b0 = pmBox(0);
  b0.cpu.r32[EAX] = 0x68;
  code(b0, [0x0f, 0x03, 0xc8, 0x63, 0xd8]); // lsl ecx, eax; arpl ax, bx
  step(b0);
  assert.ok(b0.cpu.getFlags() & ZF);
  assert.equal(b0.cpu.r32[ECX], 0x17);
  b0.cpu.r32[EBX] = 3;
  step(b0);
  assert.equal(b0.cpu.r16[0], 0x6b);
  assert.ok(b0.cpu.getFlags() & ZF);
});

test('ARPL on memory in a read-only segment: no fault when the RPL stays, #GP(0) when it must be written', () => {
  const box = pmBox(0);
  const { cpu, mem } = box;
  // DS read-only (type 1), as test386.asm's ARPL test makes it; the word at 0x5000 holds RPL 2.
  setSegmentCache(cpu, DS, 0x10, 0, 0xffffffff, 0xc091);
  cpu.updateSegmentChecks(DS);
  write16(box, 0x5000, 0x1232);
  code(box, [0x63, 0x1d, 0x00, 0x50, 0x00, 0x00, 0x63, 0x0d, 0x00, 0x50, 0x00, 0x00]); // arpl [0x5000], bx; arpl [0x5000], cx
  cpu.r32[EBX] = 1;
  cpu.r32[ECX] = 3;
  step(box);
  assert.equal(vectorTaken(box), -1, 'RPL 2 >= 1: nothing to write, no fault');
  assert.equal(cpu.getFlags() & ZF, 0);
  assert.equal(mem.u8[0x5000], 0x32);
  step(box);
  assert.equal(vectorTaken(box), Vec.GP, 'RPL 2 < 3: the write faults');
  assert.equal(rd32(box, cpu.r32[ESP]!), 0, 'error code 0');
  assert.equal(mem.u8[0x5000], 0x32);
});

test('SYSENTER and SYSEXIT load flat segments from SYSENTER_CS; SYSENTER_CS 0 is #GP(0)', () => {
  const box = pmBox(3);
  const { cpu } = box;
  code(box, [0x0f, 0x34]);
  step(box);
  assert.equal(vectorTaken(box), Vec.GP);
  const b = pmBox(3);
  b.cpu.sysenterCs = 0x08;
  b.cpu.sysenterEsp = 0x1f000;
  b.cpu.sysenterEip = HANDLER + 0x800;
  b.cpu.setFlags(2 | IF);
  code(b, [0x0f, 0x34]);
  code(b, [0x0f, 0x35], HANDLER + 0x800);
  step(b);
  assert.equal(b.cpu.cpl, 0);
  assert.equal(b.cpu.sel[CS], 0x08);
  assert.equal(b.cpu.sel[SS], 0x10);
  assert.equal(b.cpu.r32[ESP], 0x1f000);
  assert.equal(b.cpu.getFlags() & IF, 0);
  b.cpu.r32[ECX] = 0x2fff0;
  b.cpu.r32[EDX] = CODE + 0x40;
  step(b);
  assert.equal(b.cpu.cpl, 3);
  assert.equal(b.cpu.sel[CS], 0x1b);
  assert.equal(b.cpu.sel[SS], 0x23);
  assert.equal(b.cpu.eip, CODE + 0x40);
  assert.equal(b.cpu.r32[ESP], 0x2fff0);
  void cpu;
});

test('real mode: far CALL, RETF and IRET', () => {
  const box = makeBox(1 << 20);
  const { cpu } = box;
  cpu.loadSegmentReal(CS, 0x1000);
  cpu.loadSegmentReal(SS, 0);
  cpu.r32[ESP] = 0x8000;
  cpu.eip = 0;
  code(box, [0x9a, 0x00, 0x01, 0x00, 0x20], 0x10000); // call 2000:0100
  code(box, [0xcb], 0x20100);
  step(box);
  assert.equal(cpu.sel[CS], 0x2000);
  assert.equal(cpu.segBase[CS], 0x20000);
  assert.equal(cpu.eip, 0x100);
  assert.equal(box.mem.u16[(0x8000 - 2) >> 1], 0x1000);
  assert.equal(box.mem.u16[(0x8000 - 4) >> 1], 5);
  step(box);
  assert.equal(cpu.sel[CS], 0x1000);
  assert.equal(cpu.eip, 5);
  assert.equal(cpu.r32[ESP], 0x8000);
  // IRET: IP, CS, FLAGS (IOPL and NT load in real mode).
  box.mem.u16.set([0x10, 0x3000, 0x7202], (0x8000 - 6) >> 1);
  cpu.r32[ESP] = 0x8000 - 6;
  code(box, [0xcf], 0x10005);
  step(box);
  assert.equal(cpu.sel[CS], 0x3000);
  assert.equal(cpu.eip, 0x10);
  assert.equal(cpu.getFlags() & 0xffff, 0x7202);
  void EDX;
});

test('a bad CS in the new TSS faults #TS(CS) in the new task, after the switch committed', () => {
  const box = pmBox(0);
  const { cpu } = box;
  write32(box, TSS_B + 0x20, HANDLER + 0x800);
  write32(box, TSS_B + 0x24, 2);
  write32(box, TSS_B + 0x38, 0x1e000);
  for (const [o, s] of [[0x48, 0x10], [0x4c, 0x10], [0x50, 0x10], [0x54, 0x10]] as const) write32(box, TSS_B + o, s);
  code(box, [0xea, 0, 0, 0, 0, 0x40, 0]); // jmp 0x40:0; CS in TSS B is a data segment
  step(box);
  assert.equal(cpu.trSel, 0x40, 'TR already names the new task');
  assert.equal(vectorTaken(box), Vec.TS);
  const sp = cpu.r32[ESP]!;
  assert.equal(rd32(box, sp), 0x10, 'error code names the CS selector');
  assert.equal(rd32(box, sp + 4), HANDLER + 0x800, 'EIP of the new task');
  assert.equal(rd32(box, TSS_A + 0x20), CODE + 7, 'old task saved');
});

for (const engine of EVERY_ENGINE) {
  test(`INTO through a task gate whose new task faults after the commit point: the fault is the new task's (${engine})`, () => {
    // The loop runs INTO with OF clear until ECX reaches 51 (translated by then under bt and check);
    // then #OF goes through a task gate to TSS B, whose CS is a data segment: #TS in the new task.
    const box = pmBox(0, engine);
    const { cpu } = box;
    taskGateToB(box, Vec.OF, [0x10, 0x10, 0x10, 0x10]);
    // l: inc ecx; mov eax, 0x7fffffcd; add eax, ecx; into; jmp l
    code(box, [0x41, 0xb8, 0xcd, 0xff, 0xff, 0x7f, 0x01, 0xc8, 0xce, 0xeb, 0xf5]);
    cpu.r32[ECX] = 0;
    for (let k = 0; k < 100 && !cpu.halted; k++) cpu.run(1000);
    assert.equal(cpu.trSel, 0x40, 'TR names the new task');
    assert.equal(rd32(box, TSS_A + 0x2c), 51, 'the old task saved ECX of the 51st pass');
    assert.equal(vectorTaken(box), Vec.TS);
    assert.equal(rd32(box, cpu.r32[ESP]! + 4), HANDLER + 0x800, 'EIP of the new task');
    assert.equal(rd32(box, TSS_A + 0x20), CODE + 9, 'the old task saved the EIP after INTO');
    if (engine !== 'interpreter') assert.ok(cpu.bt!.stats.btInsns > 100, 'the loop ran translated');
  });
}

test('IRET with NT set and a back link that is not a busy TSS raises #TS(link) in the old task', () => {
  const box = pmBox(0);
  const { cpu } = box;
  cpu.setFlags(2 | NT);
  write16(box, TSS_A, 0x40); // TSS B is available, not busy
  code(box, [0xcf]);
  const esp = cpu.r32[ESP]!;
  step(box);
  assert.equal(vectorTaken(box), Vec.TS);
  assert.equal(cpu.trSel, 0x38);
  assert.equal(rd32(box, cpu.r32[ESP]!), 0x40);
  assert.equal(cpu.r32[ESP], esp - 16);
});

test('16-bit protected mode: far CALL and RETF push and pop words; IRET pops a 16-bit frame', () => {
  const box = pmBox(0);
  const { cpu } = box;
  setSegmentCache(cpu, CS, 0x28, CODE, 0xffff, 0x9b);
  for (const s of [0, 2, 3, 4, 5]) setSegmentCache(cpu, s, 0x30, 0, 0xffff, 0x93);
  cpu.r32[ESP] = 0xf000;
  cpu.eip = 0;
  code(box, [0x9a, 0x00, 0x01, 0x28, 0x00]); // call 0x28:0x100
  code(box, [0xcb], CODE + 0x100); // retf
  step(box);
  assert.equal(cpu.eip, 0x100);
  assert.equal(cpu.r32[ESP], 0xf000 - 4);
  assert.deepEqual([box.mem.u16[(0xf000 - 4) >> 1], box.mem.u16[(0xf000 - 2) >> 1]], [5, 0x28]);
  step(box);
  assert.equal(cpu.eip, 5);
  assert.equal(cpu.r32[ESP], 0xf000);
  box.mem.u16.set([0x40, 0x28, 0x0202], (0xf000 - 6) >> 1);
  cpu.r32[ESP] = 0xf000 - 6;
  code(box, [0xcf], CODE + 5);
  step(box);
  assert.equal(cpu.eip, 0x40);
  assert.ok(cpu.getFlags() & IF);
  assert.equal(cpu.r32[ESP], 0xf000);
});

test('a task switch with paging loads CR3 from the new TSS and flushes the TLB', () => {
  const box = pmBox(0);
  const { cpu } = box;
  const pd1 = 0x100000;
  const pd2 = 0x101000;
  write32(box, pd1, 0x87); // 4 MiB identity page
  write32(box, pd2, 0x87);
  write32(box, pd2 + 4, 0x87); // linear 4 MiB -> physical 0 in the new task only
  write32(box, 0x1234, 0xabcd);
  cpu.cr4 |= 1 << 4; // PSE
  cpu.cr3 = pd1;
  cpu.cr0 |= 1 << 31;
  cpu.flushTlb(true);
  write32(box, TSS_B + 0x1c, pd2);
  write32(box, TSS_B + 0x20, HANDLER + 0x800);
  write32(box, TSS_B + 0x24, 2);
  write32(box, TSS_B + 0x38, 0x1e000);
  for (const [o, s] of [[0x48, 0x10], [0x4c, 0x08], [0x50, 0x10], [0x54, 0x10]] as const) write32(box, TSS_B + o, s);
  assert.throws(() => cpu.readLin32(0x401234), 'not mapped in the old task');
  code(box, [0xea, 0, 0, 0, 0, 0x40, 0]);
  step(box);
  assert.equal(cpu.trSel, 0x40);
  assert.equal(cpu.cr3, pd2);
  assert.equal(rd32(box, TSS_A + 0x1c), 0, 'CR3 is not saved in the old TSS');
  assert.equal(cpu.readLin32(0x401234), 0xabcd);
});

for (const engine of EVERY_ENGINE) {
  test(`an INT whose code descriptor cannot be marked accessed faults #PF before it pushes or loads anything (${engine})`, () => {
    // Found by the protection fuzzer (seed da5b21ba): the accessed bit was written after CS, EIP and
    // ESP had been committed, so the #PF from a read-only GDT page left ESP 12 lower and CS loaded.
    const box = pmBox(0, engine);
    const { cpu } = box;
    // Paging with the GDT's page read-only, and CR0.WP so that ring 0 honours it.
    write32(box, PD, PT | 3);
    for (let k = 0; k < 1024; k++) write32(box, PT + k * 4, (k << 12) | (k === GDT >>> 12 ? 1 : 3));
    cpu.cr3 = PD;
    cpu.cr0 |= CR0_PG | CR0_WP;
    cpu.flushTlb(true);
    // INT3 goes to the conforming ring-0 code at 0x70 (accessed bit clear); #PF to 0x08, already accessed.
    const [lo3, hi3] = gate(0x70, HANDLER + Vec.BP * 16, 0x8e, 0);
    write32(box, IDT + Vec.BP * 8, lo3);
    write32(box, IDT + Vec.BP * 8 + 4, hi3);
    box.mem.u8[GDT + 0x08 + 5] |= 1;
    const esp = cpu.r32[ESP]!;
    code(box, [0xcc]); // int3
    step(box);
    assert.equal(vectorTaken(box), Vec.PF);
    assert.equal(cpu.cr2, GDT + 0x70 + 5, 'the write to the descriptor faulted');
    assert.equal(cpu.r32[ESP], esp - 16, 'only the #PF frame is on the stack');
    assert.deepEqual([0, 4, 8, 12].map((o) => rd32(box, esp - 16 + o)), [3, CODE, 0x08, 2], 'error code (write, present), then INT3 itself as the return address');
    assert.equal(box.mem.u8[GDT + 0x70 + 5], 0x9e, 'the descriptor is still not accessed');
  });
}

test('an interrupt caches its code segment with the accessed bit it set, as a far jump does', () => {
  const box = pmBox(0);
  const { cpu } = box;
  code(box, [0xcd, 0x30]); // int 0x30, through the fixture's gate to 0x08 (accessed bit clear in the GDT)
  step(box);
  assert.equal(vectorTaken(box), 0x30);
  assert.equal(box.mem.u8[GDT + 0x08 + 5], 0x9b, 'the GDT entry is marked accessed');
  assert.equal(cpu.segAr[CS]! & 0xff, 0x9b, 'and the cached access rights say so too');
});
