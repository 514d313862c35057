// The translator against the interpreter on code written for it: self-modifying and cross-modifying
// code, faults inside translated code, the check engine catching a wrong translation, and golden
// translations (the JavaScript a few snippets become, kept in expect/ so a change in code
// generation shows in review; HOSTBOX_ACCEPT=1 rewrites them).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { makeBox, type Box } from '../system-tests/box.ts';
import { loadSegmentReal, setSegmentCache } from '../segments.ts';
import { TLB_IO, TLB_VALID } from '../regs.ts';
import { CS, decode } from '../decode.ts';
import type { EngineName } from './attach.ts';
import { BtDivergence } from './check.ts';
import { factsOf } from './mode.ts';
import { MAX_SOURCE_LENGTH, translateBlock, type OtherPage, type Translation, type TranslateOptions } from './translate.ts';
import { HOT_THRESHOLD, USER_HOT_THRESHOLD } from './engine.ts';
import { CODE, EVERY_ENGINE, asm, assertGolden, assertSameOutcomes, type Outcome, flatBox, identityPaging, runEveryEngine, runToHalt } from './test-kit.ts';

/**
 * A GDT at 0x2000: flat code (selector 8), flat data (16), data based at 0x1000 with a 1 MiB limit
 * (24), so its accesses are checked on every access (based-segments.test.ts has those that span 4 GiB).
 */
function gdtWithBasedData(box: Box): void {
  box.mem.u8.set([0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0, 0, 0, 0x9b, 0xcf, 0, 0xff, 0xff, 0, 0, 0, 0x93, 0xcf, 0, 0xff, 0xff, 0, 0x10, 0, 0x93, 0x4f, 0], 0x2000);
  box.cpu.gdtrBase = 0x2000;
  box.cpu.gdtrLimit = 31;
}

function sameEverywhere(code: number[], setup?: (b: Box) => void): Box {
  const [i, b, c] = runEveryEngine(code, setup);
  assert.deepEqual(b!.regs, i!.regs, 'translator registers');
  assert.deepEqual(c!.regs, i!.regs, 'check engine registers');
  assert.equal(b!.flags, i!.flags, 'translator flags');
  return b!.box;
}

/**
 * Runs `code` under every engine and checks that the translator and the check engine end with the
 * interpreter's registers, flags and the bytes of `ranges` ([from, to) each), and that the translator
 * ran at least `ratio` times as many instructions translated as interpreted.
 */
function translatedAsInterpreted(code: number[], ranges: readonly (readonly [number, number])[], ratio: number, setup?: (b: Box) => void): void {
  const [i, b, c] = runEveryEngine(code, setup);
  for (const [r, e] of [[b!, 'translator'], [c!, 'check engine']] as const) {
    assert.deepEqual(r.regs, i!.regs, `${e} registers`);
    assert.equal(r.flags, i!.flags, `${e} flags`);
    for (const [from, to] of ranges) assert.deepEqual(r.box.mem.u8.subarray(from, to), i!.box.mem.u8.subarray(from, to), `${e} memory at ${from.toString(16)}`);
  }
  const stats = b!.box.cpu.bt!.stats;
  assert.ok(stats.btInsns > ratio * stats.interpInsns, JSON.stringify(stats));
}

test('a hot loop is translated and gives the interpreter\'s answer', () => {
  // mov ecx, 5000; xor eax, eax; l: add eax, ecx; adc edx, 0; cmp eax, 0x1000000; jb s; sub eax, 7; s: dec ecx; jnz l; hlt
  const code = [0xb9, 0x88, 0x13, 0, 0, 0x31, 0xc0, 0x01, 0xc8, 0x83, 0xd2, 0x00, 0x3d, 0, 0, 0, 1, 0x72, 0x03, 0x83, 0xe8, 0x07, 0x49, 0x75, 0xee, 0xf4];
  const box = sameEverywhere(code);
  assert.ok(box.cpu.bt!.stats.made > 0, 'something was translated');
  assert.ok(box.cpu.bt!.stats.btInsns > box.cpu.bt!.stats.interpInsns, 'most of it ran translated');
});

test('self-modifying code: an instruction rewrites the immediate of the next one, every iteration', () => {
  const code = asm(`
    mov ecx, 300
    xor ebx, ebx
  l: mov [p + 2], cl
  p: add ebx, byte 0
    dec ecx
    jnz l
    hlt`);
  const box = sameEverywhere(code);
  // Each pass adds the count it wrote into the immediate: CL, sign-extended, for ECX = 300 down to 1.
  let want = 0;
  for (let c = 1; c <= 300; c++) want += ((c & 0xff) << 24) >> 24;
  assert.equal(box.cpu.r32[3], want);
});

test('self-modifying code: the same rewrite through a segment that is not flat', () => {
  // ES based at 0x1000 with a 1 MiB limit (GDT entry 24): the store has no inline fast path, so
  // nothing marks a slow path having run, and the test of codeEpoch after it must be made
  // unconditionally.
  const code = asm(`
    mov ax, 24
    mov es, ax
    mov ecx, 300
    xor ebx, ebx
  l: mov [es:p + 2 - 0x1000], cl
  p: add ebx, byte 0
    dec ecx
    jnz l
    hlt`);
  const box = sameEverywhere(code, gdtWithBasedData);
  let want = 0;
  for (let c = 1; c <= 300; c++) want += ((c & 0xff) << 24) >> 24;
  assert.equal(box.cpu.r32[3], want);
  assert.ok(box.cpu.bt!.stats.invalidations >= 1, JSON.stringify(box.cpu.bt!.stats));
});

test('a write to translated code still reaches the translation after the interpreter let go of the page', () => {
  // The loop runs translated, so the interpreter's decoded page is swept; the write at the halfway
  // count must still find the translation (the page stays traced while translations are on it).
  const code = asm(`
    mov ecx, 20000
    xor ebx, ebx
  l: add ebx, 1
  p: cmp ecx, 10000
    jne s
    mov byte [l + 2], 3
  s: dec ecx
    jnz l
    hlt`);
  const box = sameEverywhere(code, (b) => {
    b.cpu.sweepInsns = 1000;
  });
  assert.equal(box.cpu.r32[3], 10001 + 3 * 9999);
  assert.ok(box.cpu.bt!.stats.invalidations >= 1);
});

test('the code after an instruction that crosses a page end is translated', () => {
  // The loop starts with a mov whose bytes end on the next page, and goes on there in a straight line
  // of 50 adds: only the mov itself should be left to the interpreter.
  const code = asm(`mov ecx, 20000\n jmp l\n times 0xffc - ($ - $$) db 0x90\n l: mov ebx, 0x12345678\n times 50 add edx, ecx\n dec ecx\n jnz l\n hlt`);
  const box = sameEverywhere(code);
  const { btInsns, interpInsns } = box.cpu.bt!.stats;
  assert.ok(btInsns > 20 * interpInsns, `the straight line ran interpreted: ${JSON.stringify(box.cpu.bt!.stats)}`);
});

/**
 * A loop with paging on (identity-mapped) whose MOV EBX, imm32 has its opcode and first two bytes of
 * immediate at the end of one page and the last two at the start of the next (1 until `change` runs
 * at the 3000th pass and makes it 65,537), followed there by the rest of the loop. Returns the code;
 * `change` is assembled on the second page.
 */
function loopAcrossPageEnd(change: string): number[] {
  return asm(
    `mov ecx, 6000\n xor eax, eax\n jmp l\n times 0xff0 - ($ - $$) db 0x90\n l: add edx, 1\n times 0xffd - ($ - $$) db 0x90\n` +
      `m: mov ebx, 1\n add eax, ebx\n cmp ecx, 3000\n jne s\n ${change}\n s: dec ecx\n jnz l\n hlt`,
  );
}

test('an instruction across a page end runs inside its region, and a write to its bytes on the next page drops the region', () => {
  const pd = 0x200000;
  const box = sameEverywhere(loopAcrossPageEnd('mov byte [m + 3], 1'), (b) => identityPaging(b, pd));
  assert.equal(box.cpu.r32[0], 3001 + 2999 * 65537);
  const stats = box.cpu.bt!.stats;
  // Before, the MOV left its region every pass and ran in the interpreter: a fifth of the loop.
  assert.ok(stats.btInsns > 50 * stats.interpInsns, JSON.stringify(stats));
  assert.ok(stats.invalidations >= 1);
});

test('an instruction across a page end, the next page remapped meanwhile: the bytes now mapped there run', () => {
  // Halfway, the loop maps the second page's linear page onto a copy of it whose first two bytes (the
  // MOV's last two) make the immediate 65,537, and flushes that TLB entry. Nothing is written to
  // either page, so only the test at the MOV's block sees it.
  const pd = 0x200000;
  const pte = pd + 0x1000 + 4 * ((CODE + 0x1000) >>> 12);
  const code = loopAcrossPageEnd(`mov dword [${pte}], ${CODE + 0x2000 + 3}\n invlpg [${CODE + 0x1000}]`);
  const copy = [...code, ...new Array(0x3000 - code.length).fill(0x90)];
  for (let k = 0; k < 0x1000; k++) copy[0x2000 + k] = copy[0x1000 + k]!;
  copy[0x2000] = 1;
  const box = sameEverywhere(copy, (b) => identityPaging(b, pd));
  assert.equal(box.cpu.r32[0], 3001 + 2999 * 65537);
  assert.equal(box.cpu.bt!.stats.invalidations, 0);
  const region = [...box.cpu.bt!.translations()].find((t) => t.otherPages.includes((CODE + 0x1000) >>> 12) && t.eip <= CODE + 0xffd && CODE + 0xffd < t.eip + 0x1000);
  assert.ok(region, 'no region took the MOV in');
});

test('an instruction across a page end where code is entered (a call\'s return), the next page remapped: the interpreter runs it', () => {
  // The MOV is where f, on a third page and not a leaf, returns to: each return enters a translation
  // there through the dispatcher. After the remap that translation's test fails before it has done
  // anything, and the engine must run the instruction itself (without that it entered the same
  // translation again for ever; the watch below turns that into a failure).
  const pd = 0x200000;
  const pte = pd + 0x1000 + 4 * ((CODE + 0x1000) >>> 12);
  const code = asm(
    `mov ecx, 6000\n xor eax, eax\n jmp l\n times 0xff0 - ($ - $$) db 0x90\n l: add edx, 1\n times 0xff8 - ($ - $$) db 0x90\n call f\n` +
      `m: mov ebx, 1\n add eax, ebx\n cmp ecx, 3000\n jne s\n mov dword [${pte}], ${CODE + 0x2000 + 3}\n invlpg [${CODE + 0x1000}]\n s: dec ecx\n jnz l\n hlt\n` +
      `times 0x3000 - ($ - $$) db 0x90\n f: test ecx, 1\n jz r\n inc esi\n r: ret`,
  );
  for (let k = 0; k < 0x1000; k++) code[0x2000 + k] = code[0x1000 + k]!;
  code[0x2000] = 1;
  const box = sameEverywhere(code, (b) => {
    identityPaging(b, pd);
    const bt = b.cpu.bt;
    if (!bt) return;
    // The check engine runs translations through runTranslation too.
    const run = bt.runTranslation.bind(bt);
    let idle = 0;
    bt.runTranslation = (t, budget) => {
      const n = run(t, budget);
      idle = n === 0 ? idle + 1 : 0;
      if (idle > 1000) throw new Error(`the translation at ${t.eip.toString(16)} was entered 1000 times in a row and ran nothing`);
      return n;
    };
  });
  assert.equal(box.cpu.r32[0], 3001 + 2999 * 65537);
});

test('an instruction across a page end into a page of code and data written in the loop: the regions stop being made again', () => {
  // The MOV runs on into the page whose data the loop writes every pass: that page goes back to the
  // interpreter, and the region on the first page is then made without the MOV instead of being
  // dropped at every write.
  const code = asm(
    `mov ecx, 20000\n xor eax, eax\n jmp l\n times 0xff0 - ($ - $$) db 0x90\n l: add edx, 1\n times 0xffd - ($ - $$) db 0x90\n` +
      `m: mov ebx, 1\n add eax, ebx\n mov [d], ecx\n dec ecx\n jnz l\n hlt\n d: dd 0`,
  );
  const box = sameEverywhere(code, (b) => identityPaging(b, 0x200000));
  assert.equal(box.cpu.r32[0], 20000);
  const stats = box.cpu.bt!.stats;
  assert.ok(stats.demotedPages >= 1 && stats.made < 50, JSON.stringify(stats));
});

test('self-modifying code: a PUSH writes over the instruction after it, every iteration', () => {
  // The stack is pointed just past p, so the push stores p's four bytes: INC EAX and three NOPs, or
  // ADD EAX, 100 and a NOP, in turn. A translation that ran on after the push ran the old bytes.
  const code = asm(`
    mov ecx, 300
    xor eax, eax
    mov edx, 0x90909040
  l: mov esp, p + 4
    push edx
  p: add eax, byte 100
    nop
    xor edx, 0x90909040 ^ 0x9064c083
    dec ecx
    jnz l
    hlt`);
  const box = sameEverywhere(code);
  assert.equal(box.cpu.r32[0], 150 * 1 + 150 * 100);
});

test('self-modifying code: a loop body rewritten while it runs', () => {
  const code = asm(`
    mov ecx, 2000
    xor eax, eax
  l: add eax, byte 1
    cmp ecx, 1000
    jne n
    mov byte [l + 2], 3
  n: dec ecx
    jnz l
    hlt`);
  const box = sameEverywhere(code);
  // ECX 2000..1000 add 1 (the rewrite comes after the add of the pass with ECX = 1000), 999..1 add 3.
  assert.equal(box.cpu.r32[0], 1001 * 1 + 999 * 3);
});

/**
 * Paging with the page table of linear 4-8 MiB (PDE 1) in the code's own page, so that an entry of
 * it is the immediate of an instruction the loop runs: a load's page walk sets that entry's accessed
 * bit, which changes the immediate. The interpreter runs the new bytes at once.
 */
function pageTableInCode(b: Box): void {
  identityPaging(b, 0x100000);
  new DataView(b.mem.u8.buffer).setUint32(0x100004, CODE | 3, true);
}

/** Runs `code` (with pageTableInCode) translated to JavaScript, then to WebAssembly, and compares each with the interpreter. */
function sameInBothTiers(code: number[], checkReference: (o: Outcome) => void): void {
  for (const wasm of [false, true]) {
    const [i, b, c] = runEveryEngine(code, pageTableInCode, wasm);
    checkReference(i!);
    assertSameOutcomes([i!, b!, c!], wasm ? 'WebAssembly' : 'JavaScript');
    const stats = b!.box.cpu.bt!.stats;
    assert.ok(stats.btInsns > stats.interpInsns, 'the loop ran translated');
    assert.equal(stats.wasmMade > 0, wasm, `WebAssembly translations made: ${stats.wasmMade}`);
  }
}

test('self-modifying code: a load whose page walk sets an accessed bit in the code after it, translated, runs the new bytes', () => {
  // The last pass reads through a page whose table entry is the immediate of `mov eax`, not yet
  // accessed: the walk sets bit 5 of that immediate (0x00020003 becomes 0x00020023).
  const code = asm(`
    mov ecx, 40
    xor esi, esi
  l: mov edi, 0x20000
    cmp ecx, 1
    jne go
    mov edi, 0x400000 + (((pte + 1 - $$) >> 2) << 12)
  go: mov ebx, [edi]
    times (3 - ($ - $$)) & 3 nop
  pte: mov eax, 0x00020003
    add esi, eax
    dec ecx
    jnz l
    hlt`);
  sameInBothTiers(code, (i) => assert.equal(i.regs[0], 0x00020023, 'the interpreter ran the changed immediate'));
});

test('self-modifying code: a load whose page walk sets an accessed bit in its own first byte completes as it was fetched', () => {
  // The table entry is the load's own bytes and the next instruction's (8b 1f 04 00: present,
  // writable, frame 0x41000); the walk turns 8b into ab (STOSD), which runs only from the next pass.
  const code = asm(`
    mov ecx, 40
    xor esi, esi
  l: mov edi, 0x20000
    cmp ecx, 1
    jne go
    mov edi, 0x400000 + (((ld - $$) >> 2) << 12)
  go: times (0 - ($ - $$)) & 3 nop
  ld: mov ebx, [edi]
    add al, 0
    add esi, ebx
    dec ecx
    jnz l
    hlt`);
  sameInBothTiers(code, (i) => assert.equal(i.ram[CODE + ((i.ram.indexOf(0x1f, CODE) - CODE) & ~3)], 0xab, 'the walk set the accessed bit in the load\'s first byte'));
});

test('self-modifying code: a RET whose page walk sets an accessed bit in the code it returns to, translated, runs the new bytes', () => {
  // The last pass's RET reads the return address through a second mapping of the stack's page, whose
  // table entry is the immediate of the instruction returned to (0x0007f003 becomes 0x0007f023).
  const code = asm(`
    mov ecx, 40
    xor esi, esi
  l: xor ebp, ebp
    cmp ecx, 1
    jne go
    mov ebp, 0x400000 + (((after + 1 - $$) >> 2) << 12) - 0x7f000
  go: times (3 - ($ - $$) - 5) & 3 nop
    call f
  after: mov edx, 0x0007f003
    mov esp, 0x80000
    add esi, edx
    dec ecx
    jnz l
    hlt
  f: add esp, ebp
    ret`);
  sameInBothTiers(code, (i) => assert.equal(i.regs[2], 0x0007f023, 'the interpreter ran the changed immediate'));
});

test('DMA over code that has run: the translation is dropped and the new bytes run', () => {
  // mov eax, 1 ; l: dec ecx ; jnz l ; hlt  -- run, then a "disk read" replaces mov eax,1 with mov eax,2
  const code = [0xb8, 1, 0, 0, 0, 0x49, 0x75, 0xfd, 0xf4];
  for (const e of ['bt', 'check'] as const) {
    const box = flatBox(code, e);
    for (let pass = 1; pass <= 2; pass++) {
      box.cpu.halted = false;
      box.cpu.eip = CODE;
      box.cpu.r32[1] = 1000;
      runToHalt(box);
      assert.equal(box.cpu.r32[0], pass, `${e} pass ${pass}`);
      // IDE bus-master DMA writes guest RAM through PhysicalMemory.writeBytes.
      box.mem.writeBytes(CODE, new Uint8Array([0xb8, 2, 0, 0, 0]));
    }
    assert.ok(box.cpu.bt!.stats.invalidations > 0);
  }
});

test('code sharing a page with data written in a loop runs right and the page goes back to the interpreter', () => {
  const code = asm(`
    mov ecx, 20000
  l: mov [d], ecx
    add eax, [d]
    dec ecx
    jnz l
    hlt
  d: dd 0`);
  const box = sameEverywhere(code);
  assert.equal(box.cpu.r32[0] >>> 0, ((20000 * 20001) / 2) >>> 0);
  // Demoted once and for the rest of the loop: a write to the demoted page had made it a candidate
  // again, and it was translated anew after every second write (10,003 translations).
  const stats = box.cpu.bt!.stats;
  assert.ok(stats.demotedPages === 1 && stats.made < 50, JSON.stringify(stats));
});

test('a demoted page is translated again after the next decay once its data writes have stopped', () => {
  // 2,000 passes writing data on the loop's own page (demoted), then 200,000 passes of a loop on the
  // same page that writes elsewhere; the counts halve every 100,000 instructions.
  const code = asm(`
    mov ecx, 2000
  l: mov [d], ecx
    add eax, [d]
    dec ecx
    jnz l
    mov ecx, 200000
  k: add ebx, ecx
    mov [0x30000], ebx
    dec ecx
    jnz k
    hlt
  d: dd 0`);
  const box = flatBox(code, 'bt');
  Object.assign(box.cpu.bt!, { options: { ...box.cpu.bt!.options, halfLifeInsns: 100_000 } });
  runToHalt(box, 2_000_000);
  const stats = box.cpu.bt!.stats;
  assert.equal(stats.demotedPages, 1);
  assert.ok(stats.btInsns > 600_000, JSON.stringify(stats));
});

test('a fault inside translated code leaves the interpreter\'s state: EIP of the faulting instruction, earlier work done', () => {
  // A #GP from a push that wraps past 4 GiB, after registers were changed in the same block; the
  // handler (IDT in real memory) records EIP and EAX and halts.
  // l: inc eax ; mov ebx, eax ; push ebx ; pop ebx ; dec ecx ; jnz l ; mov esp, 2 ; inc eax ; push eax ; hlt
  const code = [0x40, 0x89, 0xc3, 0x53, 0x5b, 0x49, 0x75, 0xf8, 0xbc, 2, 0, 0, 0, 0x40, 0x50, 0xf4];
  const handler = [0x8b, 0x14, 0x24, 0xf4]; // mov edx, [esp] (the pushed EIP... of the error code) ; hlt
  const setup = (box: Box): void => {
    const cpu = box.cpu;
    // IDT at 0x1000 with a 32-bit interrupt gate for #SS (12) to 0x20000; GDT at 0x2000.
    const gdt = 0x2000;
    box.mem.u8.set([0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0, 0, 0, 0x9b, 0xcf, 0, 0xff, 0xff, 0, 0, 0, 0x93, 0xcf, 0], gdt);
    cpu.gdtrBase = gdt;
    cpu.gdtrLimit = 23;
    const h = 0x20000;
    box.mem.u8.set(handler, h);
    const g = 0x1000 + 12 * 8;
    box.mem.u8.set([h & 0xff, (h >> 8) & 0xff, 8, 0, 0, 0x8e, (h >> 16) & 0xff, h >>> 24], g);
    cpu.idtrBase = 0x1000;
    cpu.idtrLimit = 0x7ff;
    cpu.r32[1] = 3000;
  };
  const [i, b, c] = runEveryEngine(code, (box) => {
    setup(box);
    // The #SS handler needs a stack: the fault happens with ESP = 2, so the CPU cannot push at all at
    // CPL 0 (same stack): that is a double fault... give the handler its own way out instead: the
    // #SS vector's gate is all we test; a double fault shuts down, which the box records.
  });
  for (const r of [b!, c!]) {
    assert.deepEqual(r.regs, i!.regs);
    assert.equal(r.box.shutdown !== null, i!.box.shutdown !== null);
    assert.equal(r.box.cpu.eip, i!.box.cpu.eip);
  }
});

test('PUSH r/m, LEAVE, MOV with moffs, CBW/CWD and CLD/STD: translated, they give the interpreter\'s registers and memory', () => {
  // Data at 0x3000, off the code's page (a store there would send the page back to the interpreter).
  const code = asm(`
    mov ecx, 3000
    mov esi, 0x3000
  l: push ebp
    mov ebp, esp
    push dword [esi + 8]
    push word [esi + 12]
    mov eax, [0x3000]
    add eax, ecx
    mov [0x3004], eax
    mov al, [0x3008]
    add al, cl
    mov [0x3009], al
    mov ax, [0x300a]
    add ax, cx
    mov [0x300c], ax
    cdq
    cwd
    cwde
    cbw
    add [esi + 16], edx
    std
    cld
    pop bx
    pop edx
    add [esi + 20], edx
    o16 leave
    add esp, 2
    mov ebp, esp
    push ecx
    leave
    dec ecx
    jnz l
    hlt`);
  const setup = (b: Box): void => b.mem.u8.set([0x90, 0x81, 0x72, 0x63, 0, 0, 0, 0, 0xf0, 0x01, 0x02, 0x83, 0x44, 0x55, 0x66, 0x77], 0x3000);
  // The data, and the stack below ESP's start.
  translatedAsInterpreted(code, [[0x3000, 0x3020], [0x7ff00, 0x80000]], 20, setup);
});

test('shifts and rotates of a register by CL, every count from 0 to 40 at every size, and BSWAP: translated, exactly the interpreter\'s results and flags', () => {
  // Each case folds the result and all of EFLAGS into EDI; a count that masks to zero must leave the
  // flags of the CMP before it.
  const cases: string[] = [];
  for (const op of ['rol', 'ror', 'shl', 'shr', 'sal', 'sar'])
    for (const reg of ['bl', 'bx', 'ebx'])
      cases.push(`mov ebx, esi\n imul ebx, ebx, 0x9e3779b1\n mov ecx, esi\n cmp ebx, ecx\n ${op} ${reg}, cl\n pushfd\n pop edx\n add edi, edx\n rol edi, 5\n add edi, ebx`);
  const code = asm(`
    xor edi, edi
    mov esi, 40
  l: ${cases.join('\n')}
    bswap edi
    dec esi
    jns l
    hlt`);
  translatedAsInterpreted(code, [], 10);
});

test('CMPXCHG and XADD, register and memory, every size, equal and not, and BSF/BSR: translated, exactly the interpreter\'s registers, flags and memory', () => {
  const cases: string[] = [];
  for (const [acc, dst, src, mem] of [['al', 'bl', 'dl', 'byte'], ['ax', 'bx', 'dx', 'word'], ['eax', 'ebx', 'edx', 'dword']])
    cases.push(
      `mov eax, esi\n and eax, 3\n mov ebx, ecx\n and ebx, 3\n mov edx, esi\n cmpxchg ${dst}, ${src}\n pushfd\n pop ebp\n add edi, ebp\n add edi, eax\n rol edi, 3\n add edi, ebx`,
      `mov eax, esi\n and eax, 1\n lock cmpxchg ${mem} [0x3000], ${src}\n pushfd\n pop ebp\n add edi, ebp\n add edi, eax\n rol edi, 3`,
      `mov edx, ecx\n xadd ${dst}, ${src}\n pushfd\n pop ebp\n add edi, ebp\n add edi, edx\n add edi, ebx\n rol edi, 7`,
      `mov edx, esi\n lock xadd ${mem} [0x3004], ${src}\n pushfd\n pop ebp\n add edi, ebp\n add edi, edx\n rol edi, 5`,
      `xadd ${acc}, ${acc}\n add edi, eax`,
    );
  // BSF and BSR over 0, one bit, the sign bit and random values, 16- and 32-bit, register and
  // memory: the destination kept for 0, the flags read by a SETcc and by PUSHFD.
  for (const [op, reg, src, mem] of [['bsf', 'ebx', 'edx', 'dword'], ['bsr', 'ebx', 'edx', 'dword'], ['bsf', 'bx', 'dx', 'word'], ['bsr', 'bx', 'dx', 'word']])
    cases.push(
      `mov ebx, edi\n mov edx, esi\n imul edx, edx, 0x9e3779b1\n mov ebp, esi\n and ebp, 3\n and edx, [0x3010 + ebp * 4]\n ${op} ${reg}, ${src}\n sets al\n setz ah\n pushfd\n pop ebp\n add edi, ebp\n add edi, ebx\n add edi, eax\n rol edi, 3`,
      `mov [0x3020], edx\n ${op} ${reg}, ${mem} [0x3020]\n sets al\n pushfd\n pop ebp\n add edi, ebp\n add edi, ebx\n add edi, eax\n rol edi, 5`,
    );
  const code = asm(`
    xor edi, edi
    mov ecx, 0x10
    mov esi, 3000
  l: ${cases.join('\n')}
    dec esi
    jnz l
    hlt`);
  // Masks for the scans' operands: none, one bit, the sign bits, all.
  const masks = (b: Box): void => b.mem.u8.set([0, 0, 0, 0, 0, 1, 0, 0, 0, 0x80, 0, 0x80, 0xff, 0xff, 0xff, 0xff], 0x3010);
  translatedAsInterpreted(code, [[0x3000, 0x3008]], 10, masks);
});

test('the check engine stops at the first difference with the guest bytes, the translation and both states', () => {
  const code = [0xb9, 0x10, 0x27, 0, 0, 0x01, 0xc8, 0x49, 0x75, 0xfb, 0xf4]; // mov ecx, 10000; l: add eax, ecx; dec ecx; jnz l; hlt
  const box = flatBox(code, 'check');
  const bt = box.cpu.bt!;
  // Corrupt every translation once it exists: EAX off by one after it runs.
  const run = bt.runTranslation.bind(bt);
  bt.runTranslation = (t, budget) => {
    const n = run(t, budget);
    box.cpu.r32[0] = box.cpu.r32[0]! + 1;
    return n;
  };
  assert.throws(
    () => runToHalt(box),
    (e: Error) =>
      e instanceof BtDivergence && /eax: translated 0x[0-9a-f]+, interpreter/.test(e.message) && /guest code: .*01 c8 49 75 fb/.test(e.message) && /function block_/.test(e.message),
  );
});

test('the check engine replays from the same TLB, so a page walk inside a translation is walked again', () => {
  // Paging on, identity-mapped. Each pass clears the page directory entry's accessed bit and reads a
  // page not touched before: the walk sets the bit again. A replay that kept the first run's TLB
  // entries would not walk, and would leave the bit clear.
  const pd = 0x200000;
  const code = asm(`mov esi, 0x300000\n mov ecx, 200\n l: and byte [${pd}], 0xdf\n mov eax, [esi]\n add esi, 0x1000\n dec ecx\n jnz l\n hlt`);
  const box = sameEverywhere(code, (b) => identityPaging(b, pd));
  assert.equal(box.mem.u8[pd]! & 0x20, 0x20);
});

test('the check engine compares the x87 state after a translation that runs x87 instructions', () => {
  // FNINIT first: the x87's RESET state (all exceptions unmasked, every tag valid) makes the first
  // FLD1 a stack overflow and the next x87 instruction #MF, which this IDT-less box cannot deliver.
  const code = asm(`fninit\n mov ecx, 10000\n l: fld1\n fstp st0\n dec ecx\n jnz l\n hlt`);
  const box = flatBox(code, 'check');
  const bt = box.cpu.bt!;
  // Corrupt the control word after every translation: only the x87 comparison can see it.
  const run = bt.runTranslation.bind(bt);
  bt.runTranslation = (t, budget) => {
    const n = run(t, budget);
    (box.cpu.fpu as unknown as { cw: number }).cw ^= 0x100;
    return n;
  };
  assert.throws(() => runToHalt(box), (e: Error) => e instanceof BtDivergence && /fpu state differs/.test(e.message));
});

// ------------------------------------------------------------ golden translations

const SNIPPETS: Record<string, number[]> = {
  // A counted loop: dec/jnz becomes one comparison of the locals, the back edge stays inside.
  'count-loop': [0x01, 0xc8, 0x49, 0x75, 0xfb, 0xf4],
  // CMP then JB and JLE on memory operands through flat segments.
  'compare-branch': [0x8b, 0x46, 0x08, 0x3b, 0x47, 0x04, 0x72, 0x02, 0x7e, 0x00, 0xc3],
  // Push, call, pop: the flat 32-bit stack.
  'call-frame': [0x55, 0x89, 0xe5, 0x53, 0x8b, 0x5d, 0x08, 0xe8, 0x00, 0x00, 0x00, 0x00, 0x5b, 0x5d, 0xc3],
  // An instruction without an emitter (RCL) called through the interpreter's handler.
  'fallback': [0xc1, 0xd0, 0x03, 0x09, 0xc3, 0xeb, 0xf9],
  // ROL: the flags before it go to the cpu, and it replaces CF and OF there.
  'rotate': [0xc1, 0xc0, 0x05, 0x09, 0xc3, 0xeb, 0xf9],
  // IMUL from memory, MUL into EDX:EAX, NEG: the multiplies' flags as the 'shift' producer's.
  'multiply': [0x0f, 0xaf, 0x46, 0x04, 0xf7, 0xe1, 0xf7, 0xda, 0x0f, 0x92, 0xc0, 0xc3],
  // Shifts by constants folded from the one table's templates (SHL, SHR by one of a byte, SAR of a
  // word by more than its width), then ADC and SBB reading the carry they leave.
  'shift-carry': [0xc1, 0xe0, 0x03, 0xd0, 0xeb, 0x66, 0xc1, 0xf9, 0x14, 0x11, 0xf2, 0x1c, 0x05, 0xc3],
  // Byte and word loads, a byte store, a word and a byte read-modify-write: inline in RAM, each counted.
  'bytes-words': [0x0f, 0xb6, 0x06, 0x88, 0x07, 0x0f, 0xb7, 0x5e, 0x02, 0x66, 0x01, 0x5f, 0x04, 0xfe, 0x47, 0x06, 0xc3],
  // Shifts and a rotate of registers by CL (the guards tested at run time, nothing done for a zero
  // count), then BSWAP.
  'shift-cl': [0xd3, 0xe0, 0x66, 0xd3, 0xfb, 0xd2, 0xca, 0x0f, 0xc9, 0xc3],
  // LOCK CMPXCHG to memory, XADD and CMPXCHG of registers: CMP's and ADD's flags as pending ones;
  // then BSF from memory and BSR of a register, whose flags a SETS reads.
  'exchange-add': [0xf0, 0x0f, 0xb1, 0x0b, 0x0f, 0xc1, 0xd0, 0x0f, 0xb1, 0xfe, 0x0f, 0xbc, 0x06, 0x66, 0x0f, 0xbd, 0xca, 0x0f, 0x98, 0xc0, 0xc3],
  // A frame: PUSH r/m, MOV EAX with moffs both ways, CDQ, CBW, CLD and LEAVE, all inline (no handler calls).
  'frame-moffs': [0x55, 0x89, 0xe5, 0xff, 0x76, 0x04, 0xa1, 0x00, 0x30, 0, 0, 0xa3, 0x04, 0x30, 0, 0, 0x99, 0x66, 0x98, 0xfc, 0xc9, 0xc3],
};

/**
 * Snippets translated as after an adaptive retranslation: the accesses named (BlockWriter.site: page
 * offset of the instruction times 8, plus its place among the instruction's accesses) call the slow
 * path directly.
 */
const SLOW_SNIPPETS: Record<string, { bytes: number[]; slowSites: number[] }> = {
  // mov eax, [esi+4] (slow) ; mov [edi], eax (counted) ; add [ebx], eax (slow) ; jmp back
  'retranslated': { bytes: [0x8b, 0x46, 0x04, 0x89, 0x07, 0x01, 0x03, 0xeb, 0xf7], slowSites: [0, 5 * 8] },
};

/**
 * A call to a function on the next page (identity-mapped, readable at CPL 0), which the region takes
 * in: its block first tests that page's TLB entry.
 */
const otherPageSnippet = (): number[] => {
  const bytes = new Array<number>(0x1004).fill(0x90);
  bytes.splice(0, 6, 0xe8, 0xfb, 0x0f, 0, 0, 0xc3); // call CODE + 0x1000 ; ret
  bytes.splice(0x1000, 4, 0x83, 0xc0, 0x01, 0xc3); // add eax, 1 ; ret
  return bytes;
};
const identity = (e: number): OtherPage => ({ linPage: e >>> 12, physPage: e >>> 12, mask: ~0xfff | TLB_VALID | TLB_IO, want: (e & ~0xfff) | TLB_VALID, leafOnly: false });

/**
 * Each snippet translated with paging on (identity-mapped), as an operating system's code runs: its
 * accesses test TLB entries. `unpaged`: with paging off, where linear is physical (mode.ts bit 18).
 */
const GOLDEN: [string, number[], TranslateOptions, { unpaged?: boolean }?][] = [
  ...Object.entries(SNIPPETS).map(([name, bytes]) => [name, bytes, {}] as [string, number[], TranslateOptions]),
  ...Object.entries(SLOW_SNIPPETS).map(([name, s]) => [name, s.bytes, { slowSites: new Set(s.slowSites) }] as [string, number[], TranslateOptions]),
  ['other-page', otherPageSnippet(), { otherPage: identity }],
  ['call-frame-unpaged', SNIPPETS['call-frame']!, {}, { unpaged: true }],
];

/** Translates the code `bytes` that `box` holds at CODE, as the engine would in the box's current mode. */
function translateCode(box: Box, bytes: readonly number[] | Uint8Array, opts: TranslateOptions = {}): Translation | null {
  const cpu = box.cpu;
  return translateBlock(CODE, CODE, factsOf(cpu.modeKey, cpu.csBase, cpu.csLimit), (e) => {
    const off = e - CODE;
    if (off < 0 || off >= bytes.length) return null;
    return decode(cpu.table, (n) => box.mem.u8[CODE + off + n]!, true, cpu);
  }, opts);
}

for (const [name, bytes, opts, how] of GOLDEN) {
  test(`golden translation: ${name}`, () => {
    const box = flatBox(bytes, 'bt');
    if (!how?.unpaged) identityPaging(box, 0x200000);
    const t = translateCode(box, bytes, opts);
    assert.ok(t);
    assertGolden(name, t.source);
  });
}

test('a branch forward inside a region goes straight on; only a branch back looks at the budget', () => {
  // 0: cmp eax, ebx ; 2: jb 5 ; 4: inc ecx ; 5: inc edx ; 6: dec esi ; 7: jnz 0 ; 9: hlt
  const bytes = [0x39, 0xd8, 0x72, 0x01, 0x41, 0x42, 0x4e, 0x75, 0xf7, 0xf4];
  for (const [eax, ebx, perIteration] of [[1, 2, 5], [2, 1, 6]] as const) {
    const box = flatBox(bytes, 'bt');
    const t = translateCode(box, bytes);
    assert.ok(t && t.blocks >= 3, 'one region: the entry, the fall-through and the branch target');
    box.cpu.r32.set([eax, 0, 0, ebx, 0x8000, 0, 3, 0]);
    // A budget of one instruction: the whole iteration runs (its branches are forward), then the
    // branch back to the entry finds the budget spent and leaves there.
    assert.equal(t.fn(box.cpu, 1), perIteration, `EAX ${eax}, EBX ${ebx}: one whole iteration`);
    assert.equal(box.cpu.eip, CODE);
    assert.deepEqual([box.cpu.r32[1], box.cpu.r32[2], box.cpu.r32[6]], [eax < ebx ? 0 : 1, 1, 2]);
  }
});

test('a translation is compiled when it is made: V8 parses its text once, not a pre-parse then a parse at the first call', () => {
  // V8 pre-parses a function expression inside `new Function`'s body and compiles it only when it is
  // first called, parsing its text a second time; a parenthesized one it compiles at once. Bit 7 of
  // V8's optimization status: the function has bytecode.
  setFlagsFromString('--allow-natives-syntax');
  const status = new Function('f', 'return %GetOptimizationStatus(f)') as (f: unknown) => number;
  const bytes = SNIPPETS['compare-branch']!;
  const t = translateCode(flatBox(bytes, 'bt'), bytes);
  assert.ok(t);
  const s = status(t.fn);
  assert.ok(s & (1 << 7), `V8's status of the new translation: ${s.toString(2)}`);
});

test("a translation's fields that the dispatcher reads come first, in the order it reads them, and all small integers", () => {
  // V8 lays an object literal's fields out in the order written: these then share the processor's
  // cache lines (the warm shell loop ran 5% faster than with them spread over four lines).
  const bytes = SNIPPETS['count-loop']!;
  const box = flatBox(bytes, 'bt');
  const cpu = box.cpu;
  const t = translateCode(box, bytes);
  assert.ok(t);
  assert.deepEqual(Object.keys(t).slice(0, 11), ['eip', 'valid', 'key', 'keyMask', 'csBase', 'csLimit', 'linPage', 'tlbEntry', 'fn', 'succ', 'succ2']);
  // A flat code segment's limit, 0xFFFFFFFF, as an int32: as a double V8 would box it apart.
  assert.equal(cpu.csLimit, 0xffffffff);
  assert.equal(t.csLimit, -1);
  assert.equal(cpu.csLimit32, -1);
});

// ------------------------------------------------------------ the cache's policy

/** Runs the program at CODE again from the start with ECX = `count`, under the box's current segments. */
function rerun(box: Box, count: number): void {
  box.cpu.eip = CODE;
  box.cpu.halted = false;
  box.cpu.r32[1] = count;
  runToHalt(box);
}

test('one translation serves every mode that agrees on the segments it uses; one per mode where it uses them', () => {
  const dsLoop = asm('l: add eax, [ebx]\n dec ecx\n jnz l\n hlt');
  const gsLoop = asm('l: add eax, [gs:ebx]\n dec ecx\n jnz l\n hlt');
  const gsAt = (box: Box, base: number): void => setSegmentCache(box.cpu, 5, 16, base, base ? 0xffff : 0xffffffff, 0xc093);
  for (const [code, variants] of [[dsLoop, 1], [gsLoop, 2]] as const) {
    const box = flatBox(code, 'bt');
    const ref = flatBox(code, 'interpreter');
    for (const b of [box, ref]) {
      b.cpu.r32[3] = 0x2000;
      b.mem.u8.set([1, 2, 3, 4], 0x2000);
      b.mem.u8.set([5, 6, 7, 8], 0x3000);
    }
    // GS flat (as a kernel entered from one process), then not (another), then flat again.
    for (const base of [0, 0x1000, 0, 0x1000]) {
      for (const b of [box, ref]) {
        gsAt(b, base);
        rerun(b, 100);
      }
      assert.equal(box.cpu.r32[0], ref.cpu.r32[0], `the sum with GS at ${base}`);
    }
    assert.equal(box.cpu.bt!.stats.made, variants, code === dsLoop ? 'the DS loop was translated once' : 'the GS loop once per GS, both kept');
  }
});

test('PUSH of segment registers, PUSHF, CLI, POPF and loads of DS, ES, FS, GS go on inside a translation; a load that makes a segment not flat leaves it', () => {
  // A load of selector 24 (data based at 0x1000) changes the mode key.
  const gdt = (box: Box): void => {
    gdtWithBasedData(box);
    box.mem.i32[0x3000 >>> 2] = 3;
    box.mem.i32[0x4000 >>> 2] = 1000;
  };
  // The kernel's entry and exit in miniature: every instruction of the loop stays in one region.
  const entry = asm(`
    mov ecx, 2000
    xor edi, edi
  l: push ds
    push es
    push fs
    push gs
    pushfd
    cli
    pushfd
    popfd
    mov ax, 16
    mov ds, ax
    mov es, ax
    mov fs, ax
    lgs ebx, [pointer]
    pop edx
    add edi, edx
    pop gs
    pop fs
    pop es
    pop ds
    add edi, [0x3000]
    dec ecx
    jnz l
    hlt
  pointer: dd 0, 16`);
  translatedAsInterpreted(entry, [[0x7f000, 0x80000]], 50, gdt);
  const box = flatBox(entry, 'bt');
  gdt(box);
  runToHalt(box);
  const { hits, chained, misses } = box.cpu.bt!.stats;
  // Each instruction above had ended the region: six dispatches an iteration, 12,000 in all.
  assert.ok(hits + chained + misses < 200, `dispatches: ${JSON.stringify(box.cpu.bt!.stats)}`);
  // DS based at 0x1000, then flat again, in one loop: the code after each load was made for the key
  // before it, so it must leave (else it would read 0x3000 where DS now points at 0x4000).
  const based = asm(`
    mov ecx, 2000
    xor edi, edi
  l: mov ax, 24
    mov ds, ax
    add edi, [0x3000]
    mov ax, 16
    mov ds, ax
    add edi, [0x3000]
    dec ecx
    jnz l
    hlt`);
  translatedAsInterpreted(based, [], 5, gdt);
  const b = flatBox(based, 'bt');
  gdt(b);
  runToHalt(b);
  assert.equal(b.cpu.r32[7], 2000 * 1003);
});

test('a region too long for V8 to optimize is cut where its text passes the bound, and runs the same', () => {
  // Read-modify-write instructions, about 800 characters of text each: regions of 384, 192 and 96 of
  // them are all too long, so halving ends at 48 (three texts written and thrown away).
  const code = asm(`${'add [esi+4], eax\n xor [esi+8], ebx\n rol dword [esi+12], 3\n sub [esi+16], ecx\n'.repeat(120)} hlt`);
  const attempts: number[] = [];
  const t = translateCode(flatBox(code, 'interpreter'), code, { instead: (length) => (attempts.push(length), null) });
  assert.ok(t);
  assert.ok(t.sourceChars <= MAX_SOURCE_LENGTH, `${t.sourceChars} characters`);
  // One attempt at the longest region, stopped where its text passed the bound; then one that fits
  // and takes nearly all of it.
  assert.equal(attempts.length, 2, `attempts of ${attempts.join(', ')} instructions`);
  assert.ok(t.sourceChars > MAX_SOURCE_LENGTH * 0.85, `${t.length} instructions, ${t.sourceChars} characters`);
  sameEverywhere(code, (b) => (b.cpu.r32[6] = 0x4000));
});

test('code the guest runs between halts stays interpreted; the same code run busily is translated', () => {
  // Ten instructions, then HLT (an idle guest's timer tick) or not (a busy loop).
  const body = 'add eax, 1\n add ebx, eax\n xor edx, ebx\n add esi, edx\n sub edi, esi\n'.repeat(2);
  const idle = flatBox(asm(`l: ${body} hlt\n jmp l`), 'bt', HOT_THRESHOLD);
  for (let k = 0; k < 8000; k++) {
    idle.cpu.halted = false;
    idle.cpu.run(1000);
  }
  assert.equal(idle.cpu.bt!.stats.made, 0, 'a tick between halts was translated');
  const busy = flatBox(asm(`l: ${body} dec ecx\n jnz l\n hlt`), 'bt', HOT_THRESHOLD);
  busy.cpu.r32[1] = 8000;
  runToHalt(busy);
  assert.ok(busy.cpu.bt!.stats.made > 0, 'the busy loop was not translated');
});

/** flatBox's segments at ring 3: flat code and data with DPL 3, so CPL is 3 (HLT then faults). */
function toRing3(box: Box): void {
  for (let s = 0; s < 6; s++) setSegmentCache(box.cpu, s as 0, s === 1 ? 0x1b : 0x23, 0, 0xffffffff, s === 1 ? 0xc0fb : 0xc0f3);
}

/** Runs until EIP is `eip` (a program at CPL 3 ends in a loop on itself there), at most a million instructions. */
function runUntilEip(box: Box, eip: number): void {
  for (let n = 0; box.cpu.eip !== eip && n < 1_000_000; ) n += box.cpu.run(1000);
}

test('code at CPL 3 is translated at USER_HOT_THRESHOLD, kernel code at HOT_THRESHOLD', () => {
  // Three instructions an iteration: enough iterations to pass the user threshold with room, not
  // the kernel's. (No HLT at the end: at CPL 3 it would fault; the run stops when ECX reaches 0.)
  const iterations = Math.ceil((USER_HOT_THRESHOLD + (HOT_THRESHOLD - USER_HOT_THRESHOLD) / 2) / 3);
  assert.ok(3 * iterations < HOT_THRESHOLD);
  const code = asm(`l: add eax, ecx\n dec ecx\n jnz l\n jmp $`);
  for (const cpl of [0, 3]) {
    const box = flatBox(code, 'bt');
    (box.cpu.bt!.options as { hotThreshold?: number }).hotThreshold = undefined;
    if (cpl === 3) toRing3(box);
    assert.equal(box.cpu.cpl, cpl);
    box.cpu.r32[1] = iterations;
    for (let n = 0; box.cpu.r32[1] !== 0 && n < 10 * iterations; ) n += box.cpu.run(1000);
    assert.equal(box.cpu.r32[1], 0);
    const { made } = box.cpu.bt!.stats;
    if (cpl === 3) assert.ok(made > 0, 'the user-mode loop was not translated');
    else assert.equal(made, 0, 'the kernel loop was translated short of HOT_THRESHOLD');
  }
});

test('a short block reached from the dispatcher over and over is translated', () => {
  // f, on another page, is made hot by the first loop. In the second, every return from f's
  // translation goes to the dispatcher at `site`, two instructions that begin no translation: 9000
  // visits of 2 instructions count 18000, short of the threshold, unless each miss also counts for
  // the lookup it cost (MISS_WEIGHT). Paging is on, so the regions take no more than a leaf of f's page.
  const code = asm(`mov ecx, 100000\n w: call f\n dec ecx\n jnz w\n mov ecx, 9000\n mov eax, l\n jmp eax
    l: call f\n site: dec ecx\n jnz l\n hlt\n times 8192 nop\n f: call g\n ret\n g: ret`);
  const box = flatBox(code, 'bt', HOT_THRESHOLD);
  identityPaging(box, 0x200000);
  runToHalt(box);
  // mov ecx (5 bytes), call (5), dec (1), jnz (2), mov ecx (5), mov eax (5), jmp eax (2), call (5).
  const site = CODE + 30;
  assert.equal(code[site - CODE], 0x49, 'site is not at the dec ecx');
  assert.ok([...box.cpu.bt!.translations()].some((t) => t.eip === site), 'the return site was not translated');
  assert.ok(box.cpu.bt!.stats.misses < 20000, `${box.cpu.bt!.stats.misses} misses`);
});

// ------------------------------------------------------------ adaptive retranslation

/** The generated code of the instruction `name` at `eip` in translation source `source`. */
function insnCode(source: string, name: string, eip: number): string {
  const chunk = source.split('\n{ // ').find((c) => c.startsWith(`${name} @0x${eip.toString(16)}\n`));
  assert.ok(chunk, `${name} at ${eip.toString(16)} is not in the translation`);
  return chunk;
}

/** The live translation holding the instruction at `eip` (its text kept: engine.keepSource). */
function translationAt(box: Box, eip: number): Translation {
  const found = [...box.cpu.bt!.translations()].filter((t) => t.source.includes(` @0x${eip.toString(16)}\n`));
  assert.equal(found.length, 1, `translations holding ${eip.toString(16)}`);
  return found[0]!;
}

const DEVICE = 0xfe000000;

/** A device register page at DEVICE: a read returns the reads so far; writes are recorded. */
function mapDevice(box: Box): number[] {
  const writes: number[] = [];
  let reads = 0;
  box.mem.mapMmio({
    name: 'test register',
    base: DEVICE,
    length: 4096,
    read: () => reads++,
    write: (offset, _size, value) => writes.push(offset, value),
  });
  return writes;
}

test('a device register accessed in a loop is retranslated once to call the slow path directly, with the interpreter\'s results', () => {
  const code = asm(`
    mov ecx, 6000
  l: mov edx, [${DEVICE}]
    add ebx, edx
    mov [${DEVICE + 4}], ebx
    mov [0x3000], ebx
    add [0x3004], edx
    dec ecx
    jnz l
    hlt`);
  const at = (insn: number): number => CODE + [5, 11, 13, 19, 25][insn]!;
  const runs = EVERY_ENGINE.map((e) => {
    const box = flatBox(code, e);
    if (box.cpu.bt) box.cpu.bt.keepSource = true;
    const writes = mapDevice(box);
    runToHalt(box);
    return { box, writes, regs: Array.from(box.cpu.r32), ram: Array.from(box.mem.u8.subarray(0x3000, 0x3008)) };
  });
  const [ref, bt, check] = runs;
  for (const r of [bt!, check!]) {
    assert.deepEqual(r.regs, ref!.regs);
    assert.deepEqual(r.writes, ref!.writes);
    assert.deepEqual(r.ram, ref!.ram);
    assert.equal(r.box.cpu.getFlags(), ref!.box.cpu.getFlags());
    assert.equal(r.box.cpu.bt!.stats.retranslations, 1, JSON.stringify(r.box.cpu.bt!.stats));
  }
  const source = translationAt(bt!.box, at(0)).source;
  const load = insnCode(source, 'mov_GvEv', at(0));
  assert.match(load, /const m = cpu\.rf32\(/);
  assert.doesNotMatch(load, /tlb\[|slow\[/, 'the device load still tests the TLB');
  const store = insnCode(source, 'mov_EvGv', at(2));
  assert.match(store, /cpu\.wf32\(/);
  assert.doesNotMatch(store, /tlb\[|slow\[/, 'the device store still tests the TLB');
  // The RAM accesses beside them keep their inline fast path.
  assert.match(insnCode(source, 'mov_EvGv', at(3)), /tlb\[.*ram32\[/s);
  assert.match(insnCode(source, 'add_EvGv', at(4)), /tlb\[.*ram32\[/s);
});

test('a device access reached through an alias (a block of a region entered from outside) retranslates the region itself', () => {
  // The first loop makes the region; in the second, each return from the function on the next page
  // enters the region at the device load's block.
  const code = asm(`
    mov ecx, 3000
  l: add eax, ecx
    dec ecx
    jnz l
    mov ecx, 6000
  m: call f
    mov edx, [${DEVICE}]
    add ebx, edx
    dec ecx
    jnz m
    hlt
    times 0x1000 - ($ - $$) db 0x90
  f: ret`);
  const runs = (['interpreter', 'bt'] as const).map((e) => {
    const box = flatBox(code, e);
    if (box.cpu.bt) box.cpu.bt.keepSource = true;
    mapDevice(box);
    runToHalt(box);
    return box;
  });
  const [ref, bt] = runs;
  assert.deepEqual(Array.from(bt!.cpu.r32), Array.from(ref!.cpu.r32));
  assert.equal(bt!.cpu.bt!.stats.retranslations, 1, JSON.stringify(bt!.cpu.bt!.stats));
  // One translation holds the load (retranslating the alias alone would have made a second region
  // from the load's block beside the old one), and it calls the slow path there.
  const region = translationAt(bt!, CODE + 20);
  assert.notEqual(region.eip, CODE + 20, 'the region was not made again from its own entry');
  assert.doesNotMatch(insnCode(region.source, 'mov_GvEv', CODE + 20), /tlb\[|slow\[/, 'the region still tests the TLB at the device load');
});

test('unaligned and page-crossing accesses are retranslated, and the check engine finds the new code exact', () => {
  const code = asm(`
    mov ecx, 6000
  l: mov eax, [esi]
    add eax, ecx
    mov [edi], eax
    add [ebx], eax
    add edx, [edi]
    dec ecx
    jnz l
    hlt`);
  // ESI: a dword across the 0x2000/0x3000 page boundary; EDI and EBX: unaligned.
  const setup = (b: Box): void => {
    b.cpu.r32[6] = 0x2ffe;
    b.cpu.r32[7] = 0x4001;
    b.cpu.r32[3] = 0x5003;
    b.mem.u8.set([1, 2, 3, 4], 0x2ffe);
    const bt = b.cpu.bt;
    if (!bt) return;
    bt.keepSource = true;
    const execute = bt.execute;
    bt.execute = (t, budget) => {
      ran.add(t);
      return execute ? execute(t, budget) : bt.runTranslation(t, budget);
    };
  };
  const ran = new Set<Translation>();
  const [i, b, c] = runEveryEngine(code, setup);
  for (const r of [b!, c!]) {
    assert.deepEqual(r.regs, i!.regs);
    assert.equal(r.flags, i!.flags);
    assert.deepEqual(Array.from(r.box.mem.u8.subarray(0x4000, 0x5008)), Array.from(i!.box.mem.u8.subarray(0x4000, 0x5008)));
    assert.equal(r.box.cpu.bt!.stats.retranslations, 1, JSON.stringify(r.box.cpu.bt!.stats));
  }
  const checked = (c!.box.cpu.bt as { checkStats?: { checked: number; divergences: number } }).checkStats!;
  assert.equal(checked.divergences, 0);
  // The retranslated code ran under the check engine: the load across the page calls rf32 directly.
  const retranslated = translationAt(c!.box, CODE + 5);
  assert.doesNotMatch(insnCode(retranslated.source, 'mov_GvEv', CODE + 5), /tlb\[/);
  assert.ok(ran.has(retranslated), 'the check engine did not run the retranslated code');
  const bt = translationAt(b!.box, CODE + 5).source;
  for (const [name, eip] of [['mov_GvEv', 5], ['mov_EvGv', 9], ['add_EvGv', 11], ['add_GvEv', 13]] as const) {
    assert.doesNotMatch(insnCode(bt, name, CODE + eip), /tlb\[/, `${name} still tests the TLB`);
  }
});

test('a loop whose accesses are all aligned dwords in RAM is never retranslated', () => {
  const code = asm(`
    mov ecx, 20000
  l: mov eax, [esi]
    add eax, ecx
    mov [edi], eax
    add [ebx], eax
    push eax
    pop edx
    dec ecx
    jnz l
    hlt`);
  const box = sameEverywhere(code, (b) => {
    b.cpu.r32[6] = 0x2000;
    b.cpu.r32[7] = 0x4000;
    b.cpu.r32[3] = 0x5000;
  });
  assert.ok(box.cpu.bt!.stats.made > 0);
  assert.equal(box.cpu.bt!.stats.retranslations, 0);
});

test('an entry point is retranslated at most three times, and what it learned outlives an eviction but not a flush', () => {
  const code = asm(`
  l: mov eax, [esi]
    add eax, [edi]
    add eax, [ebx]
    add eax, [ebp]
    add edx, eax
    dec ecx
    jnz l
    hlt`);
  const box = flatBox(code, 'bt');
  const ref = flatBox(code, 'interpreter');
  const bt = box.cpu.bt!;
  bt.keepSource = true;
  for (const b of [box, ref]) [6, 7, 3, 5].forEach((r, k) => (b.cpu.r32[r] = 0x2000 + 16 * k));
  // Each phase makes one more of the four loads unaligned: three retranslations, then no more.
  for (const [phase, reg] of [6, 7, 3, 5].entries()) {
    for (const b of [box, ref]) {
      b.cpu.r32[reg]! |= 1;
      rerun(b, 6000);
    }
    assert.deepEqual(Array.from(box.cpu.r32), Array.from(ref.cpu.r32), `phase ${phase}`);
    assert.equal(bt.stats.retranslations, Math.min(phase + 1, 3), `phase ${phase}`);
  }
  const slowLoads = (): number => [0, 2, 4, 6].filter((off) => !/tlb\[/.test(insnCode(translationAt(box, CODE).source, off ? 'add_GvEv' : 'mov_GvEv', CODE + off))).length;
  assert.equal(slowLoads(), 3);
  // Gone cold and evicted, then translated again: the three loads are slow from the start (ten passes
  // are far too few to learn it again).
  for (const t of bt.translations()) t.runs = 0;
  (bt as unknown as { evictCold(): void }).evictCold();
  assert.equal([...bt.translations()].length, 0);
  const made = bt.stats.made;
  rerun(box, 10);
  assert.equal(bt.stats.made, made + 1);
  assert.equal(slowLoads(), 3, 'an eviction forgot the slow loads');
  // A reset or a restore flushes everything, and the code there may be another: it is forgotten.
  bt.flushAll();
  rerun(box, 10);
  assert.equal(slowLoads(), 0, 'a flush kept the slow loads');
  assert.equal(bt.stats.retranslations, 3);
});

test('another entry point on the page whose region runs the same slow access starts with it slow', () => {
  // Two loops calling one function (in both regions): the first learns that its load is slow.
  const code = asm(`
  l1: call f
    dec ecx
    jnz l1
    hlt
  l2: call f
    dec ecx
    jnz l2
    hlt
  f: mov eax, [esi]
    add edx, eax
    ret`);
  const box = flatBox(code, 'bt');
  const ref = flatBox(code, 'interpreter');
  box.cpu.bt!.keepSource = true;
  for (const b of [box, ref]) {
    b.cpu.r32[6] = 0x2ffe;
    rerun(b, 6000);
    b.cpu.eip = CODE + 9;
    b.cpu.halted = false;
    b.cpu.r32[1] = 6000;
    runToHalt(b);
  }
  assert.deepEqual(Array.from(box.cpu.r32), Array.from(ref.cpu.r32));
  const second = [...box.cpu.bt!.translations()].find((t) => t.eip === CODE + 9);
  assert.ok(second, 'the second loop was not translated');
  assert.doesNotMatch(insnCode(second.source, 'mov_GvEv', CODE + 18), /tlb\[/);
  assert.equal(box.cpu.bt!.stats.retranslations, 1, 'the second loop learned the slow load again');
});

test('code entered at another block of a region (the return from a call out of the page) runs in that region, not a second translation', () => {
  // The first loop makes the region; the second, in it, calls a function on the next page, and each
  // return lands at a block of that region.
  const code = asm(`mov ecx, 3000\n l: add eax, ecx\n dec ecx\n jnz l\n mov ecx, 3000\n m: call f\n add eax, ecx\n dec ecx\n jnz m\n hlt\n times 0x1000 - ($ - $$) db 0x90\n f: add ebx, 1\n ret`);
  const box = sameEverywhere(code);
  const bt = box.cpu.bt!;
  assert.equal(bt.stats.made, 2, `the loop's region and the function, nothing more: ${JSON.stringify(bt.stats)}`);
  assert.ok(bt.stats.btInsns > bt.stats.interpInsns * 10, `the returns ran translated: ${JSON.stringify(bt.stats)}`);
});

test('a dropped translation is not kept alive by the link from the one that ran before it', async () => {
  // A loop that runs from one page into the next and back, by jumps a region cannot follow
  // (indirect): each translation links the other.
  const code = asm(`mov edx, f\n mov esi, l\n l: add eax, 1\n jmp edx\n times 0x1000 - ($ - $$) db 0x90\n f: add ebx, eax\n dec ecx\n jz e\n jmp esi\n e: hlt`);
  const box = flatBox(code, 'bt');
  const bt = box.cpu.bt!;
  box.cpu.r32[1] = 1 << 30;
  box.cpu.run(20_000);
  const dropped = ((): WeakRef<object> => {
    const t = [...bt.translations()].find((x) => x.eip === CODE + 0x1000);
    assert.ok(t, 'the second page was translated');
    return new WeakRef(t.fn);
  })();
  // As a write to the second page would; then the loop runs on without translating it again.
  bt.invalidatePage((CODE + 0x1000) >>> 12);
  (bt.options as { hotThreshold?: number }).hotThreshold = 1e9;
  box.cpu.run(20_000);
  assert.ok(await collected(dropped), 'the dropped code is still reachable');
});

/**
 * Whether `ref`'s target is collected within a second. A WeakRef holds its target until the current
 * job ends, and under load a V8 compiler thread may still hold a function for a job begun before it
 * was dropped (the full suite failed once on a busy machine): a second of collections lets that
 * finish; a real reference keeps it for good.
 */
async function collected(ref: WeakRef<object>): Promise<boolean> {
  setFlagsFromString('--expose-gc');
  const gc = runInNewContext('gc') as () => void;
  for (let tries = 0; tries < 20 && ref.deref() !== undefined; tries++) {
    await new Promise((resolve) => setTimeout(resolve, 50));
    gc();
  }
  return ref.deref() === undefined;
}

test('translations that stopped running are dropped at the next sweep but one, and their code is let go', async () => {
  // The first loop is translated and runs out; the second, on the next page, runs on for many sweeps.
  const code = asm(`mov ecx, 3000\n a: add eax, ecx\n dec ecx\n jnz a\n jmp b\n times 0x1000 - ($ - $$) db 0x90\n b: mov ecx, 200000\n l: add ebx, ecx\n dec ecx\n jnz l\n hlt`);
  const box = sameEverywhere(code, (b) => {
    b.cpu.sweepInsns = 100_000;
  });
  const bt = box.cpu.bt!;
  const live = [...bt.translations()].map((t) => t.eip);
  assert.ok(!live.includes(CODE + 5), `the first loop is still translated: ${live.map((e) => e.toString(16))}`);
  assert.ok(live.includes(CODE + 0x1005), `the second loop was dropped: ${live.map((e) => e.toString(16))}`);
  assert.ok(bt.stats.swept >= 1);
  // The same program, stopped while the second loop runs: the first loop's code must become garbage.
  const box2 = flatBox(code, 'bt');
  const bt2 = box2.cpu.bt!;
  box2.cpu.sweepInsns = 100_000;
  box2.cpu.run(20_000);
  const first = ((): WeakRef<object> => {
    const t = [...bt2.translations()].find((x) => x.eip === CODE + 5);
    assert.ok(t, 'the first loop was translated');
    return new WeakRef(t.fn);
  })();
  while (box2.cpu.r32[1]! > 1000 || box2.cpu.eip < CODE + 0x1000) box2.cpu.run(10_000);
  assert.ok(await collected(first), 'the swept code is still reachable');
});

test('cold code on a page that holds a translation runs on in the cold loop, not back through the dispatcher', () => {
  // The loop at the start is translated; then a cold chain of ten blocks on the same page is called
  // 100 times from the next page. Each of its blocks is missed once, then remembered as no entry.
  const code = asm(`mov ecx, 20000\n l: add ebx, ecx\n dec ecx\n jnz l\n jmp d\n c1: add eax, 1\n jmp c2\n c2: add eax, 1\n jmp c3\n c3: add eax, 1\n jmp c4\n c4: add eax, 1\n jmp c5\n c5: add eax, 1\n jmp c6\n c6: add eax, 1\n jmp c7\n c7: add eax, 1\n jmp c8\n c8: add eax, 1\n jmp c9\n c9: add eax, 1\n jmp c10\n c10: ret\n times 0x1000 - ($ - $$) db 0x90\n d: mov ecx, 100\n x: call c1\n dec ecx\n jnz x\n hlt`);
  const box = flatBox(code, 'bt', 50_000);
  const bt = box.cpu.bt!;
  runToHalt(box);
  assert.equal(box.cpu.r32[0], 900);
  assert.ok([...bt.translations()].some((t) => t.eip === CODE + 5), 'the loop was translated');
  assert.ok(bt.stats.misses < 100, `the chain's blocks went back to the dispatcher: ${bt.stats.misses} misses`);
});

test('a cold run goes on through the blocks of a translated page that begin no translation, without the dispatcher', () => {
  // The loop at l gets hot in the first pass and its page holds translations from then on. Its region
  // takes in the first of the 200 blocks after it (the region's limit); the rest run cold, ten times
  // over. Each begins no translation, so the cold run goes on through them: once the dispatcher
  // learned that one block at a time, a lookup that missed for each.
  const code = asm(`mov edx, 10\n outer: mov ecx, 10000\n l: add eax, 1\n dec ecx\n jnz l\n %rep 200\n inc ebx\n jmp short $+2\n %endrep\n dec edx\n jnz outer\n hlt`);
  const box = flatBox(code, 'bt', 20_000);
  runToHalt(box);
  assert.equal(box.cpu.r32[3], 2000);
  const { made, misses, coldBlocks } = box.cpu.bt!.stats;
  assert.ok(made > 0, 'the loop never got hot');
  assert.ok(coldBlocks > 1000, `${coldBlocks} cold blocks`);
  assert.ok(misses < 100, `${misses} lookups missed`);
});

test('a cold run goes from block to block inside the interpreter, and each block still counts toward its entry', () => {
  // Two blocks of two instructions an iteration. Asked at each block's end (BtEngine.continueCold),
  // the engine lets the interpreter run on, so one call into it runs many blocks; and the loop still
  // gets hot from the instructions its blocks run.
  const code = asm(`mov ecx, 20000\n l: add eax, 1\n jmp m\n m: dec ecx\n jnz l\n hlt`);
  for (const threshold of [1e9, 20_000]) {
    const box = flatBox(code, 'bt', threshold);
    const cpu = box.cpu as unknown as { interpretBlock(budget: number, cold?: boolean): number };
    const inner = cpu.interpretBlock.bind(cpu);
    let calls = 0;
    cpu.interpretBlock = (budget, cold) => {
      if (cold) calls++;
      return inner(budget, cold);
    };
    runToHalt(box);
    assert.equal(box.cpu.r32[0], 20000);
    const { coldBlocks, made } = box.cpu.bt!.stats;
    if (threshold === 1e9) {
      assert.equal(made, 0);
      assert.ok(coldBlocks >= 40_000 && calls * 100 < coldBlocks, `${calls} calls into the interpreter for ${coldBlocks} cold blocks`);
    } else assert.ok(made > 0, 'the loop never got hot');
  }
});

test('a translation whose exit alternates between two others reaches both without a lookup', () => {
  // The loop's region leaves for the second page on odd counts and for the third on even ones (by an
  // indirect jump, which no region follows), and each comes back into it: with one successor link,
  // every other exit would be looked up again.
  const code = asm(
    `mov ecx, 20000\n mov esi, b\n mov edi, c\n back: dec ecx\n jz done\n mov edx, esi\n test ecx, 1\n cmovnz edx, edi\n jmp edx\n done: hlt\n` +
      `times 0x1000 - ($ - $$) db 0x90\n b: add eax, 1\n jmp back\n` +
      `times 0x2000 - ($ - $$) db 0x90\n c: add ebx, 1\n jmp back`,
  );
  const box = sameEverywhere(code);
  const { hits, misses, chained } = box.cpu.bt!.stats;
  assert.equal(box.cpu.r32[0]! + box.cpu.r32[3]!, 19999);
  assert.ok(chained > 35_000 && hits + misses < 100, `dispatches went through lookups: ${JSON.stringify(box.cpu.bt!.stats)}`);
});

test('a region that reaches code translated already ends there instead of holding a second copy', () => {
  // The loop at b is translated first (it runs three times as often); a, which jumps to it, later.
  const code = asm(
    `mov esi, 3000\n a: mov ecx, 3\n jmp b\n times 0x40 - ($ - $$) db 0x90\n b: add eax, ecx\n dec ecx\n jnz b\n jmp there\n` +
      `times 0x1000 - ($ - $$) db 0x90\n there: dec esi\n jnz a\n hlt`,
  );
  const box = sameEverywhere(code, (b) => {
    if (b.cpu.bt) b.cpu.bt.keepSource = true;
  });
  assert.equal(box.cpu.r32[0], 3000 * 6);
  // One translation holds the loop (translationAt fails on two), and one holds a (its own region, or
  // that of the code on the next page that jumps to it): that one ends at the jump to b.
  const loop = translationAt(box, CODE + 0x40);
  assert.notEqual(translationAt(box, CODE + 5), loop, 'the region holding a took in the loop too');
});

test('a function translated already is still copied into a region that calls it, so call and return stay inside', () => {
  // f is made hot from the second page first; then the loop at m calls it 3000 times.
  const code = asm(
    `jmp warm\n back: mov ecx, 3000\n m: call f\n dec ecx\n jnz m\n hlt\n f: add eax, 1\n ret\n` +
      `times 0x1000 - ($ - $$) db 0x90\n warm: mov edx, 20\n w: call f\n dec edx\n jnz w\n jmp back`,
  );
  const box = sameEverywhere(code);
  const { hits, misses, chained } = box.cpu.bt!.stats;
  assert.equal(box.cpu.r32[0], 3020);
  assert.ok(hits + misses + chained < 1000, `calls left the loop's region: ${JSON.stringify(box.cpu.bt!.stats)}`);
});

test('at CPL 3, a small region made first at the tail of a function is taken into the region made later that reaches it, and dropped', () => {
  // t, the tail that f jumps to, is made hot first from the second page, as a region of its own;
  // then the loop at m (CODE + 10) calls f 3000 times. Its region takes f and t in (no second copy
  // of t stays), so call and return stay inside it; stopping at t cost two dispatches an iteration.
  // At CPL 3, where absorb works, the program ends in a loop on itself at CODE + 0x80 (HLT faults).
  const code = asm(
    `jmp warm\n back: mov ecx, 3000\n m: call f\n dec ecx\n jnz m\n jmp done\n f: add ebx, 1\n jmp t\n times 0x40 - ($ - $$) db 0x90\n t: add eax, 1\n ret\n` +
      `times 0x80 - ($ - $$) db 0x90\n done: jmp done\n times 0x1000 - ($ - $$) db 0x90\n warm: mov edx, 3000\n w: call t\n dec edx\n jnz w\n jmp back`,
  );
  const boxes = EVERY_ENGINE.map((engine) => {
    const box = flatBox(code, engine);
    if (box.cpu.bt) box.cpu.bt.keepSource = true;
    toRing3(box);
    runUntilEip(box, CODE + 0x80);
    assert.equal(box.cpu.eip, CODE + 0x80, `${engine}: the program did not finish`);
    assert.equal(box.cpu.r32[0], 6000, engine);
    assert.equal(box.cpu.r32[3], 3000, engine);
    return box;
  });
  const stats = boxes[1]!.cpu.bt!.stats;
  assert.ok(stats.absorbed >= 1, `nothing was taken in: ${JSON.stringify(stats)}`);
  // Of the translations on t's page one holds its code, the loop's region: the warm loop's call
  // enters it at t by an alias. (The warm loop's own region, on the second page, copies t as the
  // function it calls.)
  const onPage = [...boxes[1]!.cpu.bt!.translations()].filter((x) => x.phys >>> 12 === CODE >>> 12 && x.source.includes(` @0x${(CODE + 0x40).toString(16)}\n`));
  assert.equal(onPage.length, 1, onPage.map((x) => x.eip.toString(16)).join(' '));
  assert.ok(onPage[0]!.source.includes(` @0x${(CODE + 10).toString(16)}\n`), 'the region holding t is not the loop\'s');
  assert.ok(stats.hits + stats.misses + stats.chained < 1500, `the calls left the loop's region: ${JSON.stringify(stats)}`);
  // The same at CPL 0 keeps its regions apart: absorbing kernel code lost fork + exec its time.
  const kernel = flatBox(code, 'bt');
  runUntilEip(kernel, CODE + 0x80);
  assert.equal(kernel.cpu.r32[0], 6000);
  assert.equal(kernel.cpu.bt!.stats.absorbed, 0);
});

test('16-bit code: an instruction whose bytes run past IP 0xffff takes them from offset 0 of CS, translated or not', () => {
  // Real mode, CS base 0x10070 (not page-aligned, so the wrap falls inside a page). At CS:ffff an
  // ADD AX, imm16 whose immediate is at CS:0000 (1); the bytes after it in the page, at 0x20070, are
  // a decoy (0x1111). The loop runs it 1000 times.
  const base = 0x10070;
  const box = (engine: EngineName): Box => {
    const b = makeBox(4 << 20, undefined, engine);
    loadSegmentReal(b.cpu, CS, base >>> 4);
    b.mem.u8.set([0x01, 0x00, 0x49, 0x75, 0xfa, 0xf4], base); // imm16 = 1; dec cx; jnz ffff; hlt
    b.mem.u8[base + 0xffff] = 0x05; // add ax, imm16
    b.mem.u8.set([0x11, 0x11], base + 0x10000);
    b.cpu.eip = 0xffff;
    b.cpu.r32[1] = 1000;
    return b;
  };
  for (const engine of EVERY_ENGINE) {
    const b = box(engine);
    runToHalt(b);
    assert.equal(b.cpu.r16[0], 1000, engine);
  }
});

test('16-bit code: an instruction across a page end runs inside its region', () => {
  // Real mode, CS = 0x1000: MOV BX, imm16 at CS:0fff has its immediate on the next page.
  const code = asm(`bits 16\n mov cx, 20000\n jmp l\n times 0xff0 - ($ - $$) db 0x90\n l: add dx, 1\n times 0xfff - ($ - $$) db 0x90\n m: mov bx, 1\n add ax, bx\n dec cx\n jnz l\n hlt`);
  const results = EVERY_ENGINE.map((engine) => {
    const b = makeBox(4 << 20, undefined, engine);
    b.mem.u8.set(code, CODE);
    loadSegmentReal(b.cpu, CS, CODE >>> 4);
    b.cpu.eip = 0;
    runToHalt(b, 1_000_000);
    return b;
  });
  for (const b of results) assert.equal(b.cpu.r16[0], 20000);
  const stats = results[1]!.cpu.bt!.stats;
  // Before, the MOV ran in the interpreter on every pass: one instruction in sixteen.
  assert.ok(stats.btInsns > 50 * stats.interpInsns, JSON.stringify(stats));
});

test('a function on another page is taken into the region that calls it, so call and return stay inside', () => {
  const code = asm(`mov ecx, 20000\n m: call f\n dec ecx\n jnz m\n hlt\n times 0x1000 - ($ - $$) db 0x90\n f: add eax, 1\n ret`);
  const box = sameEverywhere(code);
  const { hits, misses, chained } = box.cpu.bt!.stats;
  assert.equal(box.cpu.r32[0], 20000);
  assert.ok(hits + misses + chained < 1000, `calls left the loop's region: ${JSON.stringify(box.cpu.bt!.stats)}`);
});

test('a write to another page\'s code drops the region that took it in, and the new code runs', () => {
  // Halfway, the loop rewrites the immediate of f's add (on the next page) from 1 to 5.
  const code = asm(
    `mov ecx, 6000\n m: call f\n cmp ecx, 3000\n jne s\n mov byte [f + 2], 5\n s: dec ecx\n jnz m\n hlt\n` +
      `times 0x1000 - ($ - $$) db 0x90\n f: add eax, byte 1\n ret`,
  );
  const box = sameEverywhere(code);
  assert.equal(box.cpu.r32[0], 3001 + 2999 * 5);
  assert.ok(box.cpu.bt!.stats.invalidations >= 1);
});

test('a leaf function on another page taken in with paging on: remapped meanwhile, the code now mapped there runs', () => {
  // Paging on, identity-mapped; halfway, the loop maps f's linear page onto the page holding g, which
  // adds 100 where f added 1, and flushes that TLB entry. The region that took f in must not run it on.
  const pd = 0x200000;
  const pte = pd + 0x1000 + 4 * ((CODE + 0x1000) >>> 12);
  const code = asm(
    `mov ecx, 6000\n m: call f\n cmp ecx, 3000\n jne s\n mov dword [${pte}], ${CODE + 0x2000 + 3}\n invlpg [f]\n s: dec ecx\n jnz m\n hlt\n` +
      `times 0x1000 - ($ - $$) db 0x90\n f: add eax, 1\n ret\n times 0x2000 - ($ - $$) db 0x90\n g: add eax, 100\n ret`,
  );
  const box = sameEverywhere(code, (b) => identityPaging(b, pd));
  assert.equal(box.cpu.r32[0], 3001 + 2999 * 100);
  const region = [...box.cpu.bt!.translations()].find((t) => t.otherPages.includes((CODE + 0x1000) >>> 12));
  assert.ok(region, 'no region took in f\'s page');
});

test('a leaf function on another page whose data the loop writes every pass: that page is demoted, not taken in again and again', () => {
  // Each write to f's page drops the region that took f in; those drops count toward the page's
  // demotion as its own translations' do (the region had been made again at every pass: 20,003).
  const code = asm(`mov ecx, 20000\n l: call f\n mov [d], ecx\n dec ecx\n jnz l\n hlt\n times 0x1000 - ($ - $$) db 0x90\n f: add eax, 1\n ret\n d: dd 0`);
  const box = sameEverywhere(code, (b) => identityPaging(b, 0x200000));
  assert.equal(box.cpu.r32[0], 20000);
  const stats = box.cpu.bt!.stats;
  assert.ok(stats.demotedPages === 1 && stats.made < 50, JSON.stringify(stats));
});

test('with paging on, PIC code\'s get_pc_thunk on another page stays inside the caller\'s region; a function with a branch does not', () => {
  // t: mov ebx, [esp]; ret (i386 PIC's __x86.get_pc_thunk.bx). h: a leaf with a branch in it.
  const pd = 0x200000;
  const code = asm(
    `xor eax, eax\n xor edx, edx\n mov ecx, 20000\n m: call t\n add eax, ebx\n dec ecx\n jnz m\n mov ecx, 3000\n k: call h\n dec ecx\n jnz k\n hlt\n` +
      `times 0x1000 - ($ - $$) db 0x90\n t: mov ebx, [esp]\n ret\n h: test ecx, 1\n jz z\n inc edx\n z: ret`,
  );
  const box = sameEverywhere(code, (b) => identityPaging(b, pd));
  const { hits, misses, chained } = box.cpu.bt!.stats;
  assert.equal(box.cpu.r32[0], (20000 * (CODE + 14)) | 0);
  assert.equal(box.cpu.r32[2], 1500);
  const thunkPage = (CODE + 0x1000) >>> 12;
  const withThunk = [...box.cpu.bt!.translations()].filter((t) => t.otherPages.includes(thunkPage));
  assert.equal(withThunk.length, 1, 'one region (the first loop\'s) took in the thunk, none took h');
  assert.ok(hits + misses + chained > 3000 && hits + misses + chained < 12000, `dispatches: ${JSON.stringify(box.cpu.bt!.stats)}`);
});

/**
 * Runs `code`, a loop of 20000 calls into the page at CODE + 0x1000 that go on to a function with a
 * branch on the page after it, with paging on, and checks that a region took the middle page in (a
 * dispatch out to the function and one back an iteration, not a third into the middle page) and
 * that register `reg` ends at `want`.
 */
function takenIntoCaller(code: number[], what: string, reg: number, want: number): void {
  const box = sameEverywhere(code, (b) => identityPaging(b, 0x200000));
  assert.equal(box.cpu.r32[reg], want);
  const { hits, misses, chained } = box.cpu.bt!.stats;
  const middle = (CODE + 0x1000) >>> 12;
  assert.ok([...box.cpu.bt!.translations()].some((t) => t.otherPages.includes(middle)), `no region took in the ${what}`);
  assert.ok(hits + misses + chained < 2.2 * 20000, `dispatches: ${JSON.stringify(box.cpu.bt!.stats)}`);
}

test('with paging on, a call through a procedure linkage table\'s stub on another page takes the stub into the caller\'s region', () => {
  // p: jmp [got] (a static binary's stub for memcpy and the like), got holding f.
  const code = asm(
    `xor eax, eax\n mov ecx, 20000\n m: call p\n dec ecx\n jnz m\n hlt\n got: dd f\n` +
      `times 0x1000 - ($ - $$) db 0x90\n p: jmp [got]\n` +
      `times 0x2000 - ($ - $$) db 0x90\n f: test ecx, 1\n jz z\n inc eax\n z: ret`,
  );
  takenIntoCaller(code, 'stub', 0, 10000);
});

test('with paging on, a retpoline thunk on another page (CALL to a MOV [ESP] and RET) is taken into the caller\'s region', () => {
  // r: the kernel's __x86_indirect_thunk_eax, calling f through EAX.
  const code = asm(
    `xor edx, edx\n mov ecx, 20000\n m: mov eax, f\n call r\n dec ecx\n jnz m\n hlt\n` +
      `times 0x1000 - ($ - $$) db 0x90\n r: call l\n p: pause\n lfence\n jmp p\n l: mov [esp], eax\n ret\n` +
      `times 0x2000 - ($ - $$) db 0x90\n f: test ecx, 1\n jz z\n inc edx\n z: ret`,
  );
  takenIntoCaller(code, 'thunk', 2, 10000);
});
