// Segments that span 4 GiB but have a base (mode.ts, key bits 12-17): Linux's per-CPU FS in the
// kernel and the TLS GS of i386 programs. Both translators address through them inline, adding the
// base as it is when the access runs: against the interpreter, in JavaScript and in WebAssembly, with
// the segment reloaded to another base inside the loop, and at an offset that wraps past 4 GiB.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { decode } from '../decode.ts';
import { setSegmentCache } from '../segments.ts';
import type { Box } from '../system-tests/box.ts';
import { factsOf } from './mode.ts';
import { CODE, asm, assertGolden, assertSameOutcomes, flatBox, identityPaging, runEveryEngine, type Outcome } from './test-kit.ts';
import { translateBlock } from './translate.ts';

/**
 * GDT at 0x2000: flat code (8) and data (16); 4 GiB data based at 0x1000 (24), at 0x3000 (32) and
 * at 0x3002 (40); and data based at 0x1000 with a 1 MiB limit (48), which does not span 4 GiB. IDT
 * at 0x1000 whose #GP gate goes to 0x20000.
 */
function tables(box: Box): void {
  const data = (base: number, g: number): number[] => [0xff, 0xff, base & 0xff, (base >> 8) & 0xff, 0, 0x93, g, 0];
  box.mem.u8.set([
    ...[0, 0, 0, 0, 0, 0, 0, 0], ...[0xff, 0xff, 0, 0, 0, 0x9b, 0xcf, 0], ...data(0, 0xcf),
    ...data(0x1000, 0xcf), ...data(0x3000, 0xcf), ...data(0x3002, 0xcf), ...data(0x1000, 0x4f),
  ], 0x2000);
  box.cpu.gdtrBase = 0x2000;
  box.cpu.gdtrLimit = 7 * 8 - 1;
  const h = 0x20000;
  box.mem.u8.set([h & 0xff, (h >> 8) & 0xff, 8, 0, 0, 0x8e, (h >> 16) & 0xff, h >>> 24], 0x1000 + 13 * 8);
  box.cpu.idtrBase = 0x1000;
  box.cpu.idtrLimit = 0x7ff;
}

/** Runs `code` to its HLT under every engine (WebAssembly translations or not), with the tables above. */
function runEach(code: number[], wasm: boolean): Outcome[] {
  return runEveryEngine(code, tables, wasm);
}

// A loop that reads, writes and adds to memory through FS; halfway it reloads FS with another base.
// The body is long enough, and all in the WebAssembly subset, for a WebAssembly region.
const RELOADED = asm(`
    mov ax, 24
    mov fs, ax
    mov ecx, 2000
    xor ebx, ebx
  l: mov eax, [fs:0x20000]
    add ebx, eax
    mov [fs:0x20004], ecx
    add dword [fs:0x20008], 3
    mov edx, [fs:ecx * 4 + 0x20010]
    xor ebx, edx
    mov [fs:ecx * 4 + 0x28000], ebx
    add byte [fs:0x2000c], cl
    lea esi, [ebx + ecx]
    xor esi, 0x5555
    add ebx, esi
    shl ebx, 1
    adc ebx, 0
    cmp ecx, 1000
    jne s
    mov ax, 32
    mov fs, ax
  s: dec ecx
    jnz l
    hlt`);

for (const wasm of [false, true]) {
  const kind = wasm ? 'WebAssembly' : 'JavaScript';
  test(`${kind}: accesses through a 4 GiB segment with a base use the base it has when they run`, () => {
    const outcomes = runEach(RELOADED, wasm);
    assertSameOutcomes(outcomes, kind);
    const stats = outcomes[1]!.box.cpu.bt!.stats;
    // Without the inline path the WebAssembly subset refuses the loop; the JavaScript one would call
    // the cpu's segment methods, which the golden translation below shows it does not.
    if (wasm) assert.ok(stats.wasmMade >= 1, JSON.stringify(stats));
    assert.ok(stats.btInsns > 20 * stats.interpInsns, JSON.stringify(stats));
    // Both bases were written: the last store through the first (ECX 1000) at 0x21004, through the second at 0x23004.
    const mem = outcomes[0]!.box.mem.u8;
    assert.deepEqual([mem[0x21004], mem[0x23004]], [1000 & 0xff, 1]);
  });

  test(`${kind}: an offset through a based 4 GiB segment that wraps past 4 GiB faults as the interpreter does`, () => {
    // FS based at 0x3002: offsets 0xFFFFD13E.. 0xFFFFFFFE are linear 0x140.. 0x3000, in RAM and within
    // a page each, but the last dword runs past offset 0xFFFFFFFF: #GP(0) at that MOV. The handler
    // takes the error code and the pushed EIP into EDX and EDI.
    const code = asm(`
      mov ax, 40
      mov fs, ax
      mov esi, 0xfffffffe - 4 * 2999
      mov ecx, 3000
      xor ebx, ebx
    l: mov eax, [fs:esi]
      add ebx, eax
      xor ebx, ecx
      rol ebx, 3
      add esi, 4
      lea edx, [ebx + esi]
      sub edx, ecx
      xor edx, 0x1234
      add ebx, edx
      mov edx, ebx
      and edx, 0xff
      or ebx, edx
      sub ebx, 5
      add ebx, ecx
      dec ecx
      jnz l
      hlt
      times 0x10000 - ($ - $$) db 0x90
      pop edx
      pop edi
      hlt`);
    const outcomes = runEach(code, wasm);
    assertSameOutcomes(outcomes, kind);
    if (wasm) assert.ok(outcomes[1]!.box.cpu.bt!.stats.wasmMade >= 1, 'the loop ran as WebAssembly');
    const [i] = outcomes as [Outcome];
    assert.equal(i.regs[7], CODE + code.indexOf(0x64), 'EIP pushed: the MOV through FS');
    assert.equal(i.regs[2], 0, 'error code');
    assert.equal(i.regs[6], 0xfffffffe | 0, 'ESI: the offset that wrapped');
  });
}

test('a segment with a base that does not span 4 GiB is still checked on every access, and agrees', () => {
  const code = asm(`
      mov ax, 48
      mov fs, ax
      mov ecx, 2000
      xor ebx, ebx
    l: mov eax, [fs:ecx * 4 + 0x20000]
      add ebx, eax
      mov [fs:ecx * 4 + 0x30000], ebx
      dec ecx
      jnz l
      hlt`);
  for (const wasm of [false, true]) assertSameOutcomes(runEach(code, wasm), `limited FS, ${wasm ? 'WebAssembly' : 'JavaScript'}`);
});

test('golden translation: fs-based', () => {
  // mov eax, [fs:0x14] ; mov [fs:ebx+4], eax ; add dword [fs:0x18], 1 ; inc byte [fs:ecx] ; ret
  const bytes = [0x64, 0xa1, 0x14, 0, 0, 0, 0x64, 0x89, 0x43, 0x04, 0x64, 0x83, 0x05, 0x18, 0, 0, 0, 0x01, 0x64, 0xfe, 0x01, 0xc3];
  const box = flatBox(bytes, 'bt');
  identityPaging(box, 0x200000);
  setSegmentCache(box.cpu, 4, 24, 0x1000, 0xffffffff, 0xc093);
  const cpu = box.cpu;
  const t = translateBlock(CODE, CODE, factsOf(cpu.modeKey, cpu.csBase, cpu.csLimit), (e) => {
    const off = e - CODE;
    return off >= 0 && off < bytes.length ? decode(cpu.table, (n) => box.mem.u8[e + n]!, true, cpu) : null;
  });
  assert.ok(t);
  assertGolden('fs-based', t.source);
  assert.match(t.source, /cpu\.segBase\[4\]/, 'the base is read where the access runs');
});
