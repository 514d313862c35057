// The interpreter's fetch follows links between decoded instructions (Instr.next and Instr.jump,
// Cpu.interpretRun). A link must never outlive the code or the mapping it was made under, and a
// fault while fetching must still report the instruction that was to run.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { asm, CODE, flatBox, identityPaging, runToHalt } from './bt/test-kit.ts';
import { Vec } from './fault.ts';
import type { Box } from './system-tests/box.ts';

const PD = 0x200000;
/** The page table entry of linear page `page` under identityPaging(box, PD). */
const pteOf = (page: number): number => PD + 0x1000 + 4 * page;

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
    const box = flatBox(
      asm(`
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
        jmp back
        times 0x2000 - ($ - $$) db 0x90
      pf:
        pop esi
        mov ebx, [esp]
        mov edi, cr2
        hlt`),
      engine,
      hot,
    );
    installPageFaultGate(box, CODE + 0x2000);
    identityPaging(box, PD);
    runToHalt(box);
    assert.equal(box.cpu.r32[1], 1, 'the fault came in the second pass');
    assert.equal(box.cpu.r32[7], CODE + 0x1000, 'CR2');
    assert.equal(box.cpu.r32[3], CODE + 0x1000, 'the pushed EIP is the jump target');
  });
}

/** A GDT with flat code (0x08) and data (0x10) and an IDT whose #PF gate goes to `handler`. */
function installPageFaultGate(box: Box, handler: number): void {
  const { cpu, mem } = box;
  const gdt = 0x3000;
  const idt = 0x4000;
  mem.i32.set([0, 0, 0x0000ffff, 0x00cf9b00, 0x0000ffff, 0x00cf9300], gdt >> 2);
  mem.i32[(idt + Vec.PF * 8) >> 2] = (8 << 16) | (handler & 0xffff);
  mem.i32[(idt + Vec.PF * 8 + 4) >> 2] = (handler & 0xffff0000) | 0x8e00;
  cpu.gdtrBase = gdt;
  cpu.gdtrLimit = 0x17;
  cpu.idtrBase = idt;
  cpu.idtrLimit = 0x7ff;
}
