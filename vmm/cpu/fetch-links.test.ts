// The interpreter's fetch follows links between decoded instructions (Instr.next and Instr.jump,
// Cpu.interpretRun). A link must never outlive the code or the mapping it was made under, and a
// fault while fetching must still report the instruction that was to run. The transfers to another
// page below are what a link across pages would have to get right (tried: docs/performance-log.md,
// "Where the first runs' time goes"): code rewritten, a frame remapped, another return address, the
// privilege, the code size and the CS limit changed since the last time.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { asm, CODE, flatBox, identityPaging, runToHalt } from './bt/test-kit.ts';
import { Vec } from './fault.ts';
import type { Box } from './system-tests/box.ts';
import { setSegmentCache } from './segments.ts';
import { CS, DS, ES, SS } from './decode.ts';

const PD = 0x200000;
/** The page table entry of linear page `page` under identityPaging(box, PD). */
const pteOf = (page: number): number => PD + 0x1000 + 4 * page;

/**
 * At CODE + 0x2000, the handler the tests' exceptions go to (installGate): the error code
 * to ESI, the pushed EIP to EBX, CR2 to EDI, then HLT.
 */
const FAULT_HANDLER = `
        times 0x2000 - ($ - $$) db 0x90
        pop esi
        mov ebx, [esp]
        mov edi, cr2
        hlt`;

// The page-end jump and its target for the 16-bit and CS-limit tests: 66 B8 34 12 is MOV AX, 0x1234
// in 32-bit code and MOV EAX, imm32 (taking the two HLTs after it) in 16-bit code. Assembled once.
const pageEndJump = asm(`
      times 0xff0 db 0x90
      jmp short x
      times 0x1000 - ($ - $$) db 0x90
    x:
      db 0x66, 0xb8, 0x34, 0x12, 0xf4, 0xf4, 0xf4
      ${FAULT_HANDLER}`);

// The interpreter, and the translator's cold path (nothing gets hot at this threshold).
const engines = [
  ['interpreter', 0],
  ['bt', 1e9],
] as const;

for (const [engine, hot] of engines) {
  test(`${engine}: an instruction rewritten by the one before it runs as rewritten`, () => {
    // The store before the ADD writes elsewhere in the first pass (so the pass links the two) and
    // into the ADD's immediate in the second: 5, then 1.
    const box = flatBox(
      asm(`
        mov ecx, 2
        xor ebx, ebx
        mov edi, 0x${(CODE + 0x2000).toString(16)}
      l:
        mov [edi], cl
        add ebx, 5
      imm equ $ - 1
        mov edi, imm
        jmp short j
      j:
        loop l
        hlt`),
      engine,
      hot,
    );
    runToHalt(box);
    assert.equal(box.cpu.r32[3], 6);
  });

  test(`${engine}: a jump within the page lands on its target as rewritten from another page`, () => {
    // The function on the next page rewrites the immediate at the jump's target between passes.
    const box = flatBox(
      asm(`
        mov ecx, 3
        xor ebx, ebx
      l:
        jmp short t
        nop
      t:
        add ebx, 1
      imm equ $ - 1
        call patch
        loop l
        hlt
        times 0x1000 - ($ - $$) db 0x90
      patch:
        add byte [imm], 10
        ret`),
      engine,
      hot,
    );
    runToHalt(box);
    assert.equal(box.cpu.r32[3], 1 + 11 + 21);
  });

  test(`${engine}: code that remaps its own page runs the new page's instructions next`, () => {
    // The same loop on two physical pages, adding 1 on one and 100 on the other. The first pass
    // writes the page's own mapping back unchanged (so the pass links its instructions); the second
    // maps the linear page to the other frame and invalidates it: the ADD after INVLPG is the new one.
    const loop = (k: number): number[] =>
      asm(`
        times 0x1000 db 0x90
        mov ecx, 2
        mov edx, 0x${(CODE + 0x1000).toString(16)} | 3
        xor eax, eax
      l:
        mov [0x${pteOf((CODE + 0x1000) >>> 12).toString(16)}], edx
        invlpg [0x${(CODE + 0x1000).toString(16)}]
        add eax, ${k}
        mov edx, 0x${(CODE + 0x3000).toString(16)} | 3
        loop l
        hlt`);
    const box = flatBox(loop(1), engine, hot);
    box.mem.u8.set(loop(100).slice(0x1000), CODE + 0x3000);
    identityPaging(box, PD);
    box.cpu.eip = CODE + 0x1000;
    runToHalt(box);
    assert.equal(box.cpu.r32[0], 101);
  });

  test(`${engine}: a page fault fetching a jump's target reports the target, not the jump's end`, () => {
    // A near jump into a page that is not present (it was present in the first pass): #PF with CR2
    // and the pushed EIP at the target, not where the jump ends.
    const box = pagedBoxWithFaultHandler(
      `
        mov ecx, 2
      l:
        jmp short t
      back:
        mov dword [0x${pteOf((CODE + 0x1000) >>> 12).toString(16)}], 0
        invlpg [0x${(CODE + 0x1000).toString(16)}]
        loop l
        hlt
      t:
        jmp far_away
        times 0x1000 - ($ - $$) db 0x90
      far_away:
        jmp back`,
      engine,
      hot,
    );
    runToHalt(box);
    assert.equal(box.cpu.r32[1], 1, 'the fault came in the second pass');
    assert.equal(box.cpu.r32[7], CODE + 0x1000, 'CR2');
    assert.equal(box.cpu.r32[3], CODE + 0x1000, 'the pushed EIP is the jump target');
  });

  test(`${engine}: a call to another page runs the callee as rewritten`, () => {
    // The CALL reaches the ADD on the next page in the first pass; the store after it rewrites the
    // ADD's immediate, which empties that page's decoded code: 1, then 10.
    const box = flatBox(
      asm(`
        mov ecx, 2
        xor ebx, ebx
      l:
        call f
        mov byte [imm], 10
        loop l
        hlt
        times 0x1000 - ($ - $$) db 0x90
      f:
        add ebx, 1
      imm equ $ - 1
        ret`),
      engine,
      hot,
    );
    runToHalt(box);
    assert.equal(box.cpu.r32[3], 11);
  });

  test(`${engine}: a call to a page mapped to another frame since runs the new frame's code`, () => {
    // The callee's linear page maps the frame adding 1 in the first pass and the one adding 100 in
    // the second; neither frame is written, so only the mapping tells them apart. The read after
    // INVLPG puts the new mapping in the TLB before the call.
    const callee = (k: number): number[] => asm(`add eax, ${k}\n ret`);
    const box = flatBox(
      asm(`
        mov ecx, 2
        mov edx, 0x${(CODE + 0x3000).toString(16)} | 3
        xor eax, eax
      l:
        call 0x${(CODE + 0x1000).toString(16)}
        mov [0x${pteOf((CODE + 0x1000) >>> 12).toString(16)}], edx
        invlpg [0x${(CODE + 0x1000).toString(16)}]
        mov esi, [0x${(CODE + 0x1000).toString(16)}]
        loop l
        hlt`),
      engine,
      hot,
    );
    box.mem.u8.set(callee(1), CODE + 0x1000);
    box.mem.u8.set(callee(100), CODE + 0x3000);
    identityPaging(box, PD);
    runToHalt(box);
    assert.equal(box.cpu.r32[0], 101);
  });

  test(`${engine}: a jump that reached a supervisor page at ring 0 faults when it runs at ring 3`, () => {
    // The jump to x runs at ring 0, then again at ring 3, where the fetch at x is a #PF (present,
    // user, read): x's page is mapped by the same TLB entry both times.
    const box = pagedBoxWithFaultHandler(
      `
        jmp x
      back:
        hlt
        times 0x1000 - ($ - $$) db 0x90
      x:
        inc edx
        jmp back`,
      engine,
      hot,
    );
    const { cpu, mem } = box;
    // Everything user-accessible but x's page.
    mem.i32[PD >> 2] = (PD + 0x1000) | 7;
    for (let p = 0; p < 1024; p++) mem.i32[pteOf(p) >> 2] = (p << 12) | ((CODE + 0x1000) >>> 12 === p ? 3 : 7);
    cpu.flushTlb(true);
    cpu.r32[2] = 0;
    runToHalt(box);
    assert.equal(cpu.r32[2], 1, 'x ran at ring 0');
    const tss = 0x5000;
    mem.i32[(tss + 4) >> 2] = 0x70000;
    mem.i32[(tss + 8) >> 2] = 0x10;
    cpu.trBase = tss;
    cpu.trLimit = 0x67;
    cpu.trType = 11;
    setSegmentCache(cpu, CS, 0x1b, 0, 0xffffffff, 0xc0fb);
    for (const s of [ES, SS, DS]) setSegmentCache(cpu, s, 0x23, 0, 0xffffffff, 0xc0f3);
    cpu.eip = CODE;
    cpu.halted = false;
    runToHalt(box);
    assert.equal(cpu.r32[2], 1, 'x did not run at ring 3');
    assert.equal(cpu.cpl, 0, 'the fault went to the ring-0 handler');
    assert.equal(cpu.r32[6], 5, 'error code: present, user, read');
    assert.equal(cpu.r32[7], CODE + 0x1000, 'CR2');
    assert.equal(cpu.r32[3], CODE + 0x1000, 'the pushed EIP');
  });

  test(`${engine}: a return to another page lands at its own caller, not the last one`, () => {
    // Both calls are on the first page, so the second return goes to the same page as the first,
    // at another address.
    const box = flatBox(
      asm(`
        xor ebx, ebx
        call f
        add ebx, 1
        call f
        add ebx, 10
        hlt
        times 0x1000 - ($ - $$) db 0x90
      f:
        ret`),
      engine,
      hot,
    );
    runToHalt(box);
    assert.equal(box.cpu.r32[3], 11);
  });

  test(`${engine}: the same jump run again in 16-bit code reaches its target decoded as 16-bit code`, () => {
    const box = flatBox(pageEndJump, engine, hot);
    const { cpu } = box;
    cpu.eip = CODE + 0xff0;
    cpu.r32[0] = 0;
    runToHalt(box);
    assert.equal(cpu.r32[0], 0x1234);
    // The same bytes again, from a 16-bit code segment based at CODE.
    setSegmentCache(cpu, CS, 0x08, CODE, 0xffff, 0x009b);
    cpu.eip = 0xff0;
    cpu.halted = false;
    runToHalt(box);
    assert.equal(cpu.r32[0], 0xf4f41234 | 0);
  });

  test(`${engine}: a jump to an instruction that now crosses the CS limit faults`, () => {
    const box = flatBox(pageEndJump, engine, hot);
    installGate(box, CODE + 0x2000, Vec.GP);
    const { cpu } = box;
    cpu.eip = CODE + 0xff0;
    runToHalt(box);
    cpu.r32[0] = 0;
    // x's first byte is within the limit, its last is not: #GP(0) at x.
    setSegmentCache(cpu, CS, 0x08, 0, CODE + 0x1001, 0x409b);
    cpu.eip = CODE + 0xff0;
    cpu.halted = false;
    runToHalt(box);
    assert.equal(cpu.r32[0], 0, 'the MOV did not run');
    assert.equal(cpu.r32[6], 0, 'error code');
    assert.equal(cpu.r32[3], CODE + 0x1000, 'the pushed EIP');
  });
}

/** flatBox with `source` and FAULT_HANDLER after it, the #PF gate to that handler, and identity paging. */
function pagedBoxWithFaultHandler(source: string, engine: 'interpreter' | 'bt', hot: number): Box {
  const box = flatBox(asm(source + FAULT_HANDLER), engine, hot);
  installGate(box, CODE + 0x2000);
  identityPaging(box, PD);
  return box;
}

/** A GDT with flat code (0x08) and data (0x10) and an IDT whose interrupt gate for `vector` (#PF unless given) goes to `handler`. */
function installGate(box: Box, handler: number, vector: number = Vec.PF): void {
  const { cpu, mem } = box;
  const gdt = 0x3000;
  const idt = 0x4000;
  mem.i32.set([0, 0, 0x0000ffff, 0x00cf9b00, 0x0000ffff, 0x00cf9300], gdt >> 2);
  mem.i32[(idt + vector * 8) >> 2] = (8 << 16) | (handler & 0xffff);
  mem.i32[(idt + vector * 8 + 4) >> 2] = (handler & 0xffff0000) | 0x8e00;
  cpu.gdtrBase = gdt;
  cpu.gdtrLimit = 0x17;
  cpu.idtrBase = idt;
  cpu.idtrLimit = 0x7ff;
}
