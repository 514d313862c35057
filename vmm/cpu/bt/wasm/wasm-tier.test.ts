// WebAssembly translations inside the engine, against the interpreter: hot loops in the subset run as
// WebAssembly and leave the interpreter's registers, flags and memory; CMOVcc and SETcc for every
// condition after every producer; the lazy flags left at an exit after every producer; a page fault
// and a store into the code's own page inside such a translation; and the check engine over all of it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { PhysicalMemory } from '../../../memory.ts';
import { IoBus } from '../../../bus.ts';
import { ManualClock } from '../../../clock.ts';
import { Cpu } from '../../cpu.ts';
import { SS, decode, type Instr } from '../../decode.ts';
import type { Box } from '../../system-tests/box.ts';
import { attachEngine } from '../attach.ts';
import { CODE, EVERY_ENGINE, asm, assertSameOutcomes, flatBox, identityPaging, runEveryEngine, type Outcome } from '../test-kit.ts';
import { wasmLayoutOf } from './wasm-tier.ts';
import { translateWasm } from './translate-wasm.ts';
import { factsOf } from '../mode.ts';

/** The translator and the check engine end as the interpreter does, and the translator made WebAssembly. */
function assertSame(outcomes: Outcome[], what: string): { bt: Box; check: Box } {
  assertSameOutcomes(outcomes, what);
  const [, b, c] = outcomes as [Outcome, Outcome, Outcome];
  assert.ok(b.box.cpu.bt!.stats.wasmMade > 0, `${what}: no WebAssembly translation was made: ${JSON.stringify(b.box.cpu.bt!.stats)}`);
  assert.ok(c.box.cpu.bt!.stats.wasmMade > 0, `${what}: the check engine made no WebAssembly translation`);
  return { bt: b.box, check: c.box };
}

/** Fills [at, at+bytes) with a fixed Xorshift sequence. */
function fill(box: Box, at: number, bytes: number, seed: number): void {
  let x = seed;
  for (let k = 0; k < bytes; k += 4) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    box.mem.i32[(at + k) >>> 2] = x;
  }
}

test('a multiply-and-subtract loop over arrays runs as WebAssembly with the interpreter\'s results', () => {
  const code = asm(`
    mov esi, 0x100000
    mov edi, 0x200000
    mov ebp, 3000
    mov ebx, 0x9e3779b9
    xor ecx, ecx
  l: mov eax, [esi]
    mul ebx
    add eax, ecx
    adc edx, 0
    mov ecx, [edi]
    sub ecx, eax
    mov [edi], ecx
    sbb eax, eax
    and eax, 1
    add edx, eax
    mov ecx, edx
    imul eax, ecx
    shr eax, 3
    xor [edi + 0x40000], eax
    cmp eax, ecx
    cmovb eax, ecx
    seta dl
    setc dh
    movzx edx, dx
    add [esi], edx
    rol eax, 5
    not eax
    lea ecx, [ecx + eax * 2 + 7]
    movzx eax, byte [esi + 1]
    inc ecx
    add esi, 4
    add edi, 4
    dec ebp
    jnz l
    hlt`);
  const { check } = assertSame(
    runEveryEngine(code, (b) => {
      fill(b, 0x100000, 0x4000, 1);
      fill(b, 0x200000, 0x4000, 2);
      fill(b, 0x240000, 0x4000, 3);
    }),
    'multiply-and-subtract',
  );
  // (The check engine keeps each translation's source.)
  const loop = CODE + 22;
  const t = [...check.cpu.bt!.translations()].find((x) => x.eip === loop);
  assert.ok(t && t.source.startsWith('/* WebAssembly'), `the loop's translation is not WebAssembly: ${t?.source.slice(0, 80)}`);
});

const CONDITIONS = ['o', 'no', 'b', 'ae', 'e', 'ne', 'be', 'a', 's', 'ns', 'p', 'np', 'l', 'ge', 'le', 'g'];
const PRODUCERS = [
  'add eax, ebx', 'or eax, ebx', 'adc eax, ebx', 'sbb eax, ebx', 'and eax, ebx', 'sub eax, ebx', 'xor eax, ebx', 'cmp eax, ebx',
  'test eax, ebx', 'inc eax', 'dec eax', 'shl eax, 1', 'shl eax, 7', 'shr eax, 1', 'shr eax, 9', 'sar eax, 1', 'sar eax, 31',
  'imul eax, ebx', 'mul ebx', 'cmp eax, 0x80000000', 'add eax, 1', 'sub dword [esi], 1',
];
/** Producers whose record is a byte's: the sign is bit 7, and OF, CF and the signed conditions are a byte's. */
const BYTE_PRODUCERS = [
  'add al, bl', 'or al, bl', 'adc al, bl', 'sbb al, bl', 'and ah, bh', 'sub al, bl', 'xor al, bh', 'cmp al, bl', 'cmp ah, bl',
  'cmp al, 0x80', 'sub al, 0x7f', 'add al, 1', 'test al, bl', 'test al, 0x81', 'inc al', 'dec bh', 'cmp byte [esi], 0x7f',
  'sub byte [esi + 4], al', 'add bl, [esi]', 'adc byte [esi], 0x80',
];
/** Producers whose record is a word's: the sign is bit 15. */
const WORD_PRODUCERS = [
  'add ax, bx', 'adc ax, bx', 'sbb ax, bx', 'and ax, bx', 'sub ax, bx', 'cmp ax, bx', 'cmp ax, 0x8000', 'sub ax, 0x7fff',
  'add ax, 1', 'test ax, bx', 'test ax, 0x8001', 'inc ax', 'dec bx', 'neg ax', 'cmp word [esi], 0x7fff', 'sub word [esi + 4], ax',
  'add bx, [esi]', 'cmp ax, -1', 'shl ax, 1', 'shr ax, 3', 'sar bx, 15',
];
/** Dwords whose low words are word edges. */
const WORD_VALUES = [0, 1, 0x7fff, 0x8000, 0xffff, 0x12345678];
/** Dwords whose two low bytes are each one of the byte edges: 0, 1, 0x7f, 0x80, 0xff. */
const BYTE_VALUES = [0, 1, 0x7f, 0x80, 0xff].flatMap((lo) => [0, 0x7f, 0x80, 0xff].map((hi) => lo | (hi << 8)));
const VALUES_A = [0, 1, 5, 0x7fffffff, 0x80000000, 0xffffffff, 0x12345678];
const VALUES_B = [0, 1, 3, 0x7fffffff, 0x80000000, 0xffffffff];

/**
 * Runs `body` once for each row of three dwords at ESI (EAX and EBX loaded from the first two), EDI
 * moving on by `stride` a row for its results, under each engine; they must agree.
 */
function overRows(rows: readonly number[][], body: string, stride: number, what: string): void {
  const code = asm(`
    mov esi, 0x100000
    mov edi, 0x200000
    mov ebp, ${rows.length}
  l: mov eax, [esi]
    mov ebx, [esi + 4]
    ${body}
    add esi, 12
    add edi, ${stride}
    dec ebp
    jnz l
    hlt`);
  assertSame(runEveryEngine(code, (b) => rows.forEach((r, k) => r.forEach((v, j) => (b.mem.i32[(0x100000 >>> 2) + 3 * k + j] = v)))), what);
}

test('CMOVcc and SETcc as WebAssembly agree with the interpreter for every condition after every producer', () => {
  const rows = VALUES_A.flatMap((a) => VALUES_B.map((b) => [a, b, (a ^ 0x5a5a5a5a) >>> 0]));
  // Eight conditions a program: sixteen would make a block longer than a translation takes (MAX_INSNS).
  const byteRows = BYTE_VALUES.flatMap((a) => [0, 1, 0x7f, 0x80, 0xff, 0x7f80].map((b) => [a, b, a ^ 0x5a5a5a5a]));
  const wordRows = WORD_VALUES.flatMap((a) => WORD_VALUES.map((b) => [a, b, a ^ 0x5a5a5a5a]));
  for (const [producers, over] of [[PRODUCERS, rows], [BYTE_PRODUCERS, byteRows], [WORD_PRODUCERS, wordRows]] as const) {
    for (const producer of producers) for (const half of [CONDITIONS.slice(0, 8), CONDITIONS.slice(8)]) {
      // A producer of AH or BH: the conditions' SETcc writes DL and DH, which no producer reads.
      const body = half.map((cc, k) => `set${cc} dl\n cmov${cc} ecx, [esi + 8]\n mov [edi + ${4 * k}], ecx\n set${cc} dh\n mov [edi + ${32 + 2 * k}], dx\n`).join('');
      overRows(over, `${producer}\n ${body}`, 64, producer);
    }
  }
});

test('the lazy flags a WebAssembly translation leaves where it exits after each producer are the interpreter\'s', () => {
  // PUSHFD is outside the subset: the WebAssembly region (entered after it, looping back to l) leaves
  // just before it, with the producer's operands in the state, and the interpreter reads EFLAGS
  // from them. (STI ends the JavaScript region there too, which would otherwise go on past PUSHFD,
  // hold the whole loop and be preferred.) Each row runs with the carry in clear and set (CMP EDX, 1
  // with EDX 1 or 0).
  const rows = VALUES_A.flatMap((a) => VALUES_B.flatMap((b) => [[a, b, 1], [a, b, 0]]));
  const producers = [...PRODUCERS, ...BYTE_PRODUCERS, ...WORD_PRODUCERS, 'adc eax, -1', 'adc eax, eax', 'adc eax, 0', 'sbb eax, eax', 'sbb eax, -1', 'sbb eax, 0', 'adc dword [esi], -1', 'sbb [esi], eax'];
  for (const producer of producers) {
    const body = `mov edx, [esi + 8]
      mov [edi + 8], eax
      mov [edi + 12], ebx
      lea ecx, [eax + ebx]
      mov [edi + 16], ecx
      cmp edx, 1
      ${producer}
      pushfd
      sti
      pop ecx
      mov [edi], ecx
      mov [edi + 4], eax`;
    overRows(rows, body, 32, producer);
  }
});

/** A GDT with flat code (8) and data (16), and an IDT whose #PF gate goes to `handler` (IDT at 0x1000, GDT at 0x2000). */
function pageFaultGate(box: Box, handler: number): void {
  const cpu = box.cpu;
  box.mem.u8.set([0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0, 0, 0, 0x9b, 0xcf, 0, 0xff, 0xff, 0, 0, 0, 0x93, 0xcf, 0], 0x2000);
  cpu.gdtrBase = 0x2000;
  cpu.gdtrLimit = 23;
  box.mem.u8.set([handler & 0xff, (handler >> 8) & 0xff, 8, 0, 0, 0x8e, (handler >> 16) & 0xff, handler >>> 24], 0x1000 + 14 * 8);
  cpu.idtrBase = 0x1000;
  cpu.idtrLimit = 0x7ff;
}

test('a page fault inside a WebAssembly translation is taken at the faulting instruction, the work before it done', () => {
  // Stores walk page by page; the 30th page is not present. The handler takes the error code and the
  // pushed EIP into EDX and EDI, CR2 into EBP, and halts.
  const pd = 0x200000;
  const code = asm(`
    mov esi, 0x300000
    mov ecx, 60
    xor eax, eax
    xor ebx, ebx
  l: add eax, ecx
    mov [esi], eax
    mov edx, [esi + 8]
    xor ebx, eax
    shl ebx, 3
    lea edi, [ebx + eax * 2]
    add ebx, edi
    sub ebx, edx
    or ebx, 1
    xor edx, ebx
    and edx, 0xffff
    add ebx, edx
    xor ebx, ecx
    add esi, 0x1000
    dec ecx
    jnz l
    hlt
    times 0x200 - ($ - $$) db 0x90
  h: pop edx
    pop edi
    mov ebp, cr2
    hlt`);
  const outcomes = runEveryEngine(code, (b) => {
    identityPaging(b, pd);
    pageFaultGate(b, CODE + 0x200);
    new DataView(b.mem.u8.buffer).setUint32(pd + 0x1000 + 4 * (0x300 + 29), 0, true);
  });
  const box = assertSame(outcomes, 'page fault').bt;
  assert.equal(box.cpu.r32[5]! >>> 0, 0x300000 + 29 * 0x1000, 'CR2');
  assert.equal(box.cpu.r32[2], 2, 'error code: a write to a page not present');
  assert.equal(box.cpu.r32[7], CODE + 16, 'the pushed EIP is the store\'s');
});

test('a store into the page of a WebAssembly translation\'s code goes to the interpreter, and the new code runs', () => {
  // At ECX = 1000 the loop rewrites the immediate of its own MOV EDX: the sum goes on with the new value.
  const code = asm(`
    mov ecx, 2000
    xor edi, edi
    mov ebx, 7
  l: add edi, edx
  p: mov edx, 1
    add eax, edi
    xor eax, ecx
    shl eax, 1
    add eax, ebx
    lea ebx, [ebx + 1]
    sub eax, edx
    or eax, 3
    xor eax, edi
    add eax, ecx
    and eax, 0xfffff
    cmp ecx, 1000
    jne n
    mov [p + 1], ebx
  n: dec ecx
    jnz l
    hlt`);
  const box = assertSame(runEveryEngine(code), 'self-modifying').bt;
  assert.ok(box.cpu.bt!.stats.invalidations >= 1, JSON.stringify(box.cpu.bt!.stats));
});

test('PUSH, POP, CALL and RET as WebAssembly: calls inside the region return inside it, a RET elsewhere leaves', () => {
  // The loop calls f (and f calls g, which drops its argument with RET 4) on the same page; the loop
  // itself is entered by a CALL from outside it and returns there at the end.
  const code = asm(`
    mov esp, 0x80000
    call loop
    hlt
  loop: mov ecx, 3000
    xor eax, eax
  l: push ecx
    push eax
    call f
    pop ebx
    pop ecx
    add eax, ebx
    push esp
    pop edx
    sub edx, esp
    add eax, edx
    dec ecx
    jnz l
    ret
  f: mov edx, [esp + 4]
    imul edx, edx
    add eax, edx
    push eax
    call g
    xor eax, ecx
    ret
  g: mov edx, [esp + 4]
    shr edx, 1
    add eax, edx
    ret 4`);
  const { bt } = assertSame(runEveryEngine(code), 'calls');
  const stats = bt.cpu.bt!.stats;
  assert.ok(stats.btInsns > 20 * stats.interpInsns, JSON.stringify(stats));
  // 3000 iterations with three RETs each: a RET that left the region would cost a dispatch each.
  assert.ok(stats.hits + stats.chained + stats.misses < 300, `dispatches: ${JSON.stringify(stats)}`);
});

test('a WebAssembly translation with stack operations serves only modes whose SS is flat', () => {
  // No memory operand names SS here: only PUSH and POP use it.
  const code = asm(`l: ${'push eax\n pop ebx\n add eax, ecx\n xor ecx, ebx\n '.repeat(5)} dec edx\n jnz l\n hlt`);
  const box = flatBox(code, 'bt');
  const cpu = box.cpu;
  const w = translateWasm(CODE, CODE, factsOf(cpu.modeKey, cpu.csBase, cpu.csLimit), (e) => decode(cpu.table, (n) => box.mem.u8[e + n]!, true, cpu), 1);
  assert.ok(w && w.loops && w.length === 22, `region: ${w?.length}`);
  assert.notEqual(w.segs & (1 << SS), 0, 'the region does not depend on a flat SS');
});

test('a WebAssembly translation that runs few instructions a call is made again in JavaScript', () => {
  // A loop of 18 instructions run in slices of 8 instructions (as if interrupts kept arriving): each
  // call of its translation runs one pass or less, too few to repay the call.
  const code = asm(`
    mov ecx, 3000
    xor eax, eax
  l: add eax, ecx
    xor ebx, eax
    shl ebx, 3
    add ebx, 7
    sub eax, ebx
    and eax, 0xffffff
    or ebx, eax
    lea esi, [eax + ebx * 2]
    add esi, ecx
    xor eax, esi
    inc ebx
    add eax, ebx
    rol esi, 3
    sub ebx, esi
    xor eax, ebx
    add edx, eax
    dec ecx
    jnz l
    hlt`);
  const results = EVERY_ENGINE.map((e) => {
    const box = flatBox(code, e);
    while (!box.cpu.halted) box.cpu.run(8);
    return box;
  });
  for (const box of results.slice(1)) assert.deepEqual(Array.from(box.cpu.r32), Array.from(results[0]!.cpu.r32));
  const stats = results[1]!.cpu.bt!.stats;
  assert.ok(stats.wasmMade >= 1 && stats.wasmRefused === 1, JSON.stringify(stats));
  // The JavaScript translation made in its place is kept.
  assert.equal(stats.made, stats.wasmMade + 1, JSON.stringify(stats));
});

test('a second CPU on the same memory keeps its own TLB, and its engine makes no WebAssembly', () => {
  const mem = new PhysicalMemory(4 << 20);
  const make = (): Cpu => new Cpu({ mem, io: new IoBus(), nowNs: () => new ManualClock().now(), pic: null });
  const first = make();
  const second = make();
  assert.equal(first.tlb.buffer, mem.wasm.buffer);
  assert.notEqual(second.tlb.buffer, mem.wasm.buffer);
  assert.ok(wasmLayoutOf(first));
  assert.equal(wasmLayoutOf(second), null);
  assert.ok(attachEngine(first, 'bt')!.wasm);
  assert.equal(attachEngine(second, 'bt')!.wasm, null);
  assert.equal(attachEngine(first, 'bt', { wasm: false })!.wasm, null);
});

test('a region is judged by the tier before its module is written, on its length and whether it loops', () => {
  const code = asm(`l: add eax, ecx\n xor ecx, eax\n dec edx\n jnz l\n hlt`);
  const box = flatBox(code, 'bt');
  const cpu = box.cpu;
  const facts = factsOf(cpu.modeKey, cpu.csBase, cpu.csLimit);
  const decodeAt = (e: number): Instr => decode(cpu.table, (n) => box.mem.u8[e + n]!, true, cpu);
  const asked: [number, boolean][] = [];
  assert.equal(translateWasm(CODE, CODE, facts, decodeAt, 1, undefined, { accept: (n, loops) => (asked.push([n, loops]), false) }), null);
  assert.deepEqual(asked, [[4, true]]);
  const w = translateWasm(CODE, CODE, facts, decodeAt, 1, undefined, { accept: () => true });
  assert.ok(w && w.length === 4 && w.bytes.length > 0);
});
