// Tests of the CPU core itself: lazy flags through the ALU, near branches, the page walker and the
// software TLB, and exception delivery in real and protected mode.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { PhysicalMemory } from '../memory.ts';
import { IoBus } from '../bus.ts';
import { ManualClock } from '../clock.ts';
import { Cpu } from './cpu.ts';
import { CR0_PE, CR0_PG, CR0_WP, CR4_PSE, EAX, ECX, EBX, EDX } from './regs.ts';
import { setSegmentCache } from './segments.ts';
import { CF, OF, SF, ZF, AF, PF } from './flags.ts';
import { CS } from './decode.ts';
import { Vec } from './fault.ts';

function flatCpu(clock = new ManualClock(), bytes = 8 << 20): { cpu: Cpu; mem: PhysicalMemory } {
  const mem = new PhysicalMemory(bytes);
  const cpu = new Cpu({ mem, io: new IoBus(), nowNs: () => clock.now(), pic: null });
  cpu.cr0 |= CR0_PE;
  for (let s = 0; s < 6; s++) setSegmentCache(cpu, s, s === CS ? 8 : 16, 0, 0xffffffff, s === CS ? 0xc09b : 0xc093);
  return { cpu, mem };
}

function runCode(cpu: Cpu, mem: PhysicalMemory, code: number[], at = 0x1000, max = 1000): void {
  mem.u8.set(code, at);
  cpu.eip = at;
  for (let n = 0; n < max && !cpu.halted; ) n += cpu.run(max - n);
}

test('ADD sets carry, overflow, zero, sign, parity and adjust lazily', () => {
  const { cpu, mem } = flatCpu();
  cpu.r32[EAX] = 0x7fffffff;
  runCode(cpu, mem, [0x83, 0xc0, 0x01, 0xf4]); // add eax,1; hlt
  assert.equal(cpu.r32[EAX], -0x80000000);
  const f = cpu.getFlags();
  assert.equal(f & (CF | ZF | SF | OF | AF | PF), SF | OF | AF | PF);
});

test('SUB borrow and CMP leave the destination alone', () => {
  const { cpu, mem } = flatCpu();
  cpu.r32[EAX] = 1;
  cpu.r32[EBX] = 2;
  runCode(cpu, mem, [0x39, 0xd8, 0xf4]); // cmp eax,ebx; hlt
  assert.equal(cpu.r32[EAX], 1);
  assert.equal(cpu.getFlags() & (CF | ZF | SF), CF | SF);
});

test('ADC and SBB chain the carry at 8 and 16 bits', () => {
  const { cpu, mem } = flatCpu();
  cpu.r32[EAX] = 0xff;
  // add al,1 (CF=1) ; adc ah,0 ; cmp al,1 (CF=1) ; 66 sbb cx,0 (borrows 1 from 0) ; hlt
  runCode(cpu, mem, [0x04, 0x01, 0x80, 0xd4, 0x00, 0x3c, 0x01, 0x66, 0x83, 0xd9, 0x00, 0xf4]);
  assert.equal(cpu.r32[EAX], 0x100);
  assert.equal(cpu.r16[ECX << 1], 0xffff);
  assert.ok(cpu.getFlags() & CF);
});

test('a counted loop of SUB/JNZ runs to completion', () => {
  const { cpu, mem } = flatCpu();
  cpu.r32[ECX] = 1000;
  runCode(cpu, mem, [0x83, 0xe9, 0x01, 0x75, 0xfb, 0xf4], 0x1000, 10000);
  assert.equal(cpu.r32[ECX], 0);
  assert.ok(cpu.halted);
  assert.equal(cpu.instructions, 2001);
});

test('#UD for an undefined opcode goes through the IDT with EIP of the faulting instruction', () => {
  const { cpu, mem } = flatCpu();
  // IDT at 0x8000: vector 6 -> 0x08:0x3000 interrupt gate.
  const idt = 0x8000;
  const gate = (vec: number, off: number): void => {
    const lo = (8 << 16) | (off & 0xffff);
    const hi = (off & 0xffff0000) | 0x8e00;
    mem.i32[(idt + vec * 8) >> 2] = lo;
    mem.i32[(idt + vec * 8 + 4) >> 2] = hi;
  };
  gate(Vec.UD, 0x3000);
  // GDT with a flat code (0x08) and data (0x10) descriptor for the gate's target.
  const gdt = 0x9000;
  mem.i32[(gdt + 8) >> 2] = 0x0000ffff;
  mem.i32[(gdt + 12) >> 2] = 0x00cf9b00;
  mem.i32[(gdt + 16) >> 2] = 0x0000ffff;
  mem.i32[(gdt + 20) >> 2] = 0x00cf9300;
  cpu.gdtrBase = gdt;
  cpu.gdtrLimit = 0x17;
  cpu.idtrBase = idt;
  cpu.idtrLimit = 0x7ff;
  cpu.r32[4] = 0x7000;
  mem.u8[0x3000] = 0xf4;
  runCode(cpu, mem, [0x0f, 0x0b]); // ud2
  assert.equal(cpu.eip, 0x3001);
  assert.equal(mem.i32[(0x7000 - 12) >> 2], 0x1000, 'pushed EIP is the faulting instruction');
  assert.equal(mem.i32[(0x7000 - 8) >> 2], 8, 'pushed CS');
});

test('page walk: 4 KiB and 4 MiB pages, accessed/dirty bits, #PF error code and CR2', () => {
  const { cpu, mem } = flatCpu();
  const pd = 0x10000;
  const pt = 0x11000;
  // Identity-map the first 4 MiB with a page table; page 0x5000 read-only; 4 MiB page at 4 MiB -> 0.
  mem.i32[pd >> 2] = pt | 0x7;
  for (let p = 0; p < 1024; p++) mem.i32[(pt >> 2) + p] = (p << 12) | (p === 5 ? 0x5 : 0x7);
  mem.i32[(pd >> 2) + 1] = 0x00000087; // 4 MiB page, user, writable, maps physical 0
  cpu.cr3 = pd;
  cpu.cr4 |= CR4_PSE;
  cpu.cr0 |= CR0_PG | CR0_WP;
  cpu.flushTlb(true);
  assert.equal(cpu.readLin32(0x400000 + 0x1234) , cpu.readLin32(0x1234));
  assert.ok(mem.i32[(pd >> 2) + 1]! & 0x20, 'accessed bit set on the 4 MiB PDE');
  cpu.writeLin32(0x2000, 42);
  assert.ok(mem.i32[(pt >> 2) + 2]! & 0x40, 'dirty bit set on write');
  assert.throws(() => cpu.writeLin32(0x5000, 1));
  assert.equal(cpu.excVector, Vec.PF);
  assert.equal(cpu.excCode, 0x3, 'present + write, supervisor');
  assert.equal(cpu.cr2, 0x5000);
  mem.i32[(pt >> 2) + 6] = 0; // not present
  assert.throws(() => cpu.readLin32(0x6000));
  assert.equal(cpu.excCode, 0);
});

test('real-mode interrupt through the IVT pushes FLAGS, CS, IP and clears IF', () => {
  const mem = new PhysicalMemory(1 << 20);
  const clock = new ManualClock();
  const cpu = new Cpu({ mem, io: new IoBus(), nowNs: () => clock.now(), pic: null });
  cpu.loadSegmentReal(CS, 0);
  cpu.r32[4] = 0x8000;
  mem.u8[0x21 * 4] = 0x00;
  mem.u8[0x21 * 4 + 1] = 0x05; // handler at 0000:0500
  mem.u8[0x500] = 0xf4;
  cpu.setFlags(0x202);
  runCode(cpu, mem, [0xcd, 0x21], 0x100);
  assert.equal(cpu.eip, 0x501);
  assert.equal(mem.u16[(0x8000 - 2) >> 1], 0x202);
  assert.equal(mem.u16[(0x8000 - 6) >> 1], 0x102, 'return IP after INT');
  assert.equal(cpu.getFlags() & 0x200, 0);
});

test('EFLAGS.TF traps with #DB after each instruction, and the handler runs without TF', () => {
  const { cpu, mem } = flatCpu();
  const idt = 0x8000;
  const gdt = 0x9000;
  mem.i32[(gdt + 8) >> 2] = 0x0000ffff;
  mem.i32[(gdt + 12) >> 2] = 0x00cf9b00;
  cpu.gdtrBase = gdt;
  cpu.gdtrLimit = 0x17;
  // #DB -> 0x08:0x3000, a handler that counts in EDI and returns.
  mem.i32[(idt + 8) >> 2] = (8 << 16) | 0x3000;
  mem.i32[(idt + 12) >> 2] = 0x8e00;
  cpu.idtrBase = idt;
  cpu.idtrLimit = 0x7ff;
  mem.u8.set([0x47, 0xcf], 0x3000); // inc edi ; iret
  cpu.r32[4] = 0x7000;
  cpu.r32[7] = 0;
  // pushfd; or dword [esp], 0x100; popfd (TF on: traps start after the next instruction); 3 NOPs;
  // pushfd; and dword [esp], ~0x100; popfd (traps after all three: each began with TF set); hlt
  const tfOn = [0x9c, 0x81, 0x0c, 0x24, 0x00, 0x01, 0x00, 0x00, 0x9d];
  const tfOff = [0x9c, 0x81, 0x24, 0x24, 0xff, 0xfe, 0xff, 0xff, 0x9d];
  runCode(cpu, mem, [...tfOn, 0x90, 0x90, 0x90, ...tfOff, 0xf4], 0x1000, 200);
  assert.ok(cpu.halted);
  assert.equal(cpu.r32[7], 6, 'one trap after each instruction that began with TF set');
  assert.ok(cpu.dr[6]! & (1 << 14), 'DR6.BS');
});

test('RDTSC reads the count the TSC was set to plus the time since, carrying into EDX', () => {
  const clock = new ManualClock();
  clock.advance(123_456_789);
  const { cpu, mem } = flatCpu(clock);
  // wrmsr (TSC := 0xfffffff0), then 0x20 ns later (TSC_HZ is 1 GHz) rdtsc; hlt
  cpu.r32[ECX] = 0x10;
  cpu.r32[EAX] = 0xfffffff0;
  runCode(cpu, mem, [0x0f, 0x30, 0xf4]);
  clock.advance(0x20);
  cpu.halted = false;
  runCode(cpu, mem, [0x0f, 0x31, 0xf4], 0x2000);
  assert.equal(cpu.r32[EAX]! >>> 0, 0x10);
  assert.equal(cpu.r32[EDX]! >>> 0, 1);
  // Far on: 2^40 + 5 ticks after the write.
  clock.advance(2 ** 40 - 0x20 + 5);
  cpu.halted = false;
  runCode(cpu, mem, [0x0f, 0x31, 0xf4], 0x3000);
  const expected = 0xfffffff0n + (1n << 40n) + 5n;
  assert.equal(cpu.r32[EAX]! >>> 0, Number(expected & 0xffffffffn));
  assert.equal(cpu.r32[EDX]! >>> 0, Number(expected >> 32n));
});

test('instructions decoded from a page that was then written no longer count toward the cache bound', () => {
  const { cpu, mem } = flatCpu();
  cpu.r32[4] = 0x8000;
  // 100 times: rewrite the immediate of the function at 0x2000 (mov al, imm8; ret), then call it.
  mem.u8.set([0xb0, 0x00, 0xc3], 0x2000);
  // mov ecx, 100; l: mov [0x2001], cl; call 0x2000; loop l; hlt
  runCode(cpu, mem, [0xb9, 100, 0, 0, 0, 0x88, 0x0d, 0x01, 0x20, 0, 0, 0xe8, 0xf0, 0x0f, 0, 0, 0xe2, 0xf3, 0xf4], 0x1000, 10_000);
  assert.ok(cpu.halted);
  assert.equal(cpu.r32[EAX]! & 0xff, 1);
  // Five instructions at 0x1000 and the two of the function's last version.
  assert.equal(cpu.decodedInstructions, 7);
});

test('the decoded instructions of pages not entered for a sweep period are let go', () => {
  const { cpu, mem } = flatCpu();
  cpu.r32[4] = 0x8000;
  cpu.decodedSweepInsns = 1000;
  // 0x1000: call 0x2000; jmp 0x3000. 0x2000: mov al, 5; ret. 0x3000: mov ecx, 5000; l: inc ebx; loop l; hlt
  mem.u8.set([0xe8, 0xfb, 0x0f, 0, 0, 0xe9, 0xf6, 0x1f, 0, 0], 0x1000);
  mem.u8.set([0xb0, 0x05, 0xc3], 0x2000);
  mem.u8.set([0xb9, 0x88, 0x13, 0, 0, 0x43, 0xe2, 0xfd, 0xf4], 0x3000);
  cpu.eip = 0x1000;
  for (let n = 0; n < 20_000 && !cpu.halted; ) n += cpu.run(100);
  assert.ok(cpu.halted);
  assert.equal(cpu.r32[EBX], 5000);
  // Only the loop's page is left, and writes to the others no longer stop at the cache.
  assert.equal(cpu.cachedCodePages, 1);
  assert.equal(cpu.decodedInstructions, 4);
  assert.equal(mem.codePage[1], 0);
  assert.equal(mem.codePage[2], 0);
  assert.equal(mem.codePage[3], 1);
});

/** Runs from `eip` until HLT. */
function runUntilHalt(cpu: Cpu, eip: number): void {
  cpu.halted = false;
  cpu.eip = eip;
  for (let n = 0; n < 1_000_000 && !cpu.halted; ) n += cpu.run(10_000);
  assert.ok(cpu.halted);
}

test('a working set of 90,000 instructions stays decoded from one pass to the next', () => {
  const { cpu, mem } = flatCpu();
  // 0x100000: 90,000 × inc ebx; dec ecx; jnz 0x100000; hlt (ECX = 2: two passes).
  const at = 0x100000, n = 90_000;
  mem.u8.fill(0x43, at, at + n);
  const jnz = at + n + 1;
  mem.u8.set([0x49, 0x0f, 0x85, ...new Uint8Array(new Int32Array([at - (jnz + 6)]).buffer), 0xf4], at + n);
  cpu.r32[ECX] = 2;
  runUntilHalt(cpu, at);
  assert.equal(cpu.r32[EBX], 2 * n);
  // With the cache bounded at 64 Ki instructions and emptied whole when full, it held the tail only.
  assert.equal(cpu.decodedInstructions, n + 3);
});

test('code run round and round through more instructions than the decoded cache holds still finds most of them decoded', () => {
  const { cpu, mem } = flatCpu(new ManualClock(), 4 << 20);
  // 0x100000: 120,000 × inc ebx; dec ecx; jnz 0x100000; hlt (ECX = 6: six passes), past the bound of 98,304.
  const at = 0x100000, n = 120_000;
  mem.u8.fill(0x43, at, at + n);
  const jnz = at + n + 1;
  mem.u8.set([0x49, 0x0f, 0x85, ...new Uint8Array(new Int32Array([at - (jnz + 6)]).buffer), 0xf4], at + n);
  cpu.r32[ECX] = 6;
  let decodes = 0;
  const spy = cpu as unknown as { decodeAt: (eip: number, lin: number) => unknown };
  const decodeAt = spy.decodeAt.bind(cpu);
  spy.decodeAt = (eip, lin) => {
    decodes++;
    return decodeAt(eip, lin);
  };
  runUntilHalt(cpu, at);
  assert.equal(cpu.r32[EBX], 6 * n);
  // The first pass decodes every instruction; the five after it, with the whole cache emptied at
  // each refill, decoded them all again (720,000 in all; 368,000 with an eighth dropped at a time).
  assert.ok(decodes < n + 5 * (n / 2), `${decodes} decodes in six passes`);
  assert.ok(cpu.decodedInstructions <= 98_304);
});

test('a full decoded-instruction cache lets go of the pages not entered since the last sweep first', () => {
  const { cpu, mem } = flatCpu();
  // 60,001 instructions at 1 MiB (inc ebx ...; hlt), then a sweep, then 40,001 at 2 MiB (inc esi ...; hlt).
  mem.u8.fill(0x43, 0x100000, 0x100000 + 60_000);
  mem.u8[0x100000 + 60_000] = 0xf4;
  mem.u8.fill(0x46, 0x200000, 0x200000 + 40_000);
  mem.u8[0x200000 + 40_000] = 0xf4;
  runUntilHalt(cpu, 0x100000);
  cpu.sweepDecoded();
  assert.equal(cpu.decodedInstructions, 60_001);
  runUntilHalt(cpu, 0x200000);
  assert.equal(cpu.r32[6], 40_000);
  // The bound (98,304) was reached in the second run: the first run's pages went, the second's all stayed.
  assert.equal(cpu.decodedInstructions, 40_001);
  assert.equal(cpu.cachedCodePages, 10);
  assert.equal(mem.codePage[0x100], 0);
  assert.equal(mem.codePage[0x200], 1);
});

test('the decoded-instruction cache holds at most 2,048 pages, however few instructions each has', () => {
  const { cpu, mem } = flatCpu(new ManualClock(), 16 << 20);
  // From 1 MiB, 3,000 pages that each hold one instruction: inc ebx, jmp to the next page; then hlt.
  const pages = 3000;
  for (let p = 0; p < pages; p++) mem.u8.set([0x43, 0xe9, 0xfa, 0x0f, 0, 0], 0x100000 + p * 0x1000);
  mem.u8[0x100000 + pages * 0x1000] = 0xf4;
  runUntilHalt(cpu, 0x100000);
  assert.equal(cpu.r32[EBX], pages);
  assert.ok(cpu.cachedCodePages > 0 && cpu.cachedCodePages <= 2048, `${cpu.cachedCodePages} pages held`);
  assert.equal(cpu.decodedInstructions, 2 * (cpu.cachedCodePages - 1) + 1);
});
