// Paging off with A20 on (mode.ts, key bit 18): linear addresses are physical, and both translators
// address the RAM that runs unbroken from 1 MiB up (PhysicalMemory.plainSpan) without a TLB entry.
// Against the interpreter, in JavaScript and in WebAssembly: up to the last dword of RAM and across
// its end, with A20 turned off inside the loop, and with a device mapped over that RAM inside it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { AccessSize } from '../../bus.ts';
import { PLAIN_BASE, type MmioRange } from '../../memory.ts';
import type { Box } from '../system-tests/box.ts';
import { CODE, asm, assertSameOutcomes, flatBox, identityPaging, runEveryEngine, runToHalt, type Outcome } from './test-kit.ts';

/** RAM of the test box (test-kit's flatBox): 4 MiB. */
const RAM_TOP = 4 << 20;

/**
 * Port 0x92 as on a PC (bit 1: A20), and port 0x90, whose write maps `device` over 0x300000 and
 * then drops the CPU's TLB entries, as the owner of a map that changes does (pc-devices.ts, ShadowRam).
 */
function ports(box: Box, device: MmioRange): void {
  box.io.register({ name: 'system control A', base: 0x92, length: 1, read: () => 2, write: (_o, _s, v) => box.cpu.setA20((v & 2) !== 0) });
  const map = (): void => {
    box.mem.mapMmio(device);
    box.cpu.flushTlb(true);
  };
  box.io.register({ name: 'map the device', base: 0x90, length: 1, read: () => 0, write: map });
}

/** A 4 KiB device at 0x300000: reads give 0x5000 plus the offset, writes are logged. */
function device(log: number[]): MmioRange {
  return {
    name: 'test device',
    base: 0x300000,
    length: 0x1000,
    read: (offset: number) => 0x5000 + offset,
    write: (offset: number, _size: AccessSize, value: number) => void log.push(offset, value >>> 0),
  };
}

/** Runs `code` under every engine, WebAssembly translations allowed or not; returns the outcomes and each box's device log. */
function runEach(code: number[], wasm: boolean): { outcomes: Outcome[]; logs: number[][] } {
  const logs: number[][] = [];
  const outcomes = runEveryEngine(code, (box) => {
    const log: number[] = [];
    logs.push(log);
    ports(box, device(log));
  }, wasm);
  return { outcomes, logs };
}

// Reads, writes and adds through EBX from 1 MiB up, the last dword of RAM, and the dword across its
// end (the bytes past it read as all ones). The body is long enough, and all in the WebAssembly
// subset, for a WebAssembly region.
const SPAN = asm(`
    mov ecx, 3000
    mov ebx, ${PLAIN_BASE}
    xor edx, edx
  l: mov eax, [ebx]
    add edx, eax
    mov [ebx + 0x1000], ecx
    add dword [ebx + 0x2000], 7
    mov eax, [${RAM_TOP - 4}]
    xor edx, eax
    mov [${RAM_TOP - 4}], edx
    mov esi, [${RAM_TOP - 2}]
    add edx, esi
    movzx eax, byte [ebx + 3]
    add edx, eax
    lea ebx, [ebx + 4]
    lea edi, [edx + ecx]
    xor edi, 0x3333
    add edx, edi
    dec ecx
    jnz l
    hlt`);

for (const wasm of [false, true]) {
  const kind = wasm ? 'WebAssembly' : 'JavaScript';
  test(`${kind}: with linear addresses physical, RAM from 1 MiB up to its last dword is addressed inline, and past its end as the interpreter does`, () => {
    const { outcomes } = runEach(SPAN, wasm);
    assertSameOutcomes(outcomes, kind);
    const bt = outcomes[1]!.box.cpu.bt!;
    assert.ok(bt.stats.btInsns > 20 * bt.stats.interpInsns, `${kind}: ran interpreted: ${JSON.stringify(bt.stats)}`);
    if (wasm) assert.ok(bt.stats.wasmMade > 0, `no WebAssembly translation: ${JSON.stringify(bt.stats)}`);
  });
}

// A20 turned off halfway: from then on 0x100000 + x is x, and a translation made with it on is
// not run again.
const A20 = asm(`
    mov ecx, 2000
    xor edx, edx
  l: mov eax, [${PLAIN_BASE} + 0x10]
    add edx, eax
    mov [${PLAIN_BASE} + 0x20], ecx
    add dword [${PLAIN_BASE} + 0x24], 3
    lea esi, [edx + ecx]
    xor esi, 0x5555
    add edx, esi
    mov edi, [${PLAIN_BASE} + 0x28]
    add edi, edx
    mov [${PLAIN_BASE} + 0x28], edi
    shl edx, 1
    adc edx, 0
    cmp ecx, 1000
    jne s
    xor eax, eax
    out 0x92, al
  s: dec ecx
    jnz l
    hlt`);

// A device mapped over RAM at 0x300000 halfway (as a PCI BAR moved there would be): from then on
// the accesses there reach it.
const MAPPED = asm(`
    mov ecx, 2000
    xor edx, edx
  l: mov eax, [0x300000]
    add edx, eax
    mov [0x300004], ecx
    mov eax, [0x300ffc]
    xor edx, eax
    lea esi, [edx + ecx]
    xor esi, 0x5555
    add edx, esi
    mov edi, [0x200000]
    add edi, edx
    mov [0x200000], edi
    shl edx, 1
    adc edx, 0
    cmp ecx, 1000
    jne s
    out 0x90, al
  s: dec ecx
    jnz l
    hlt`);

for (const wasm of [false, true]) {
  const kind = wasm ? 'WebAssembly' : 'JavaScript';
  test(`${kind}: A20 turned off inside a translated loop wraps its addresses from then on`, () => {
    const { outcomes } = runEach(A20, wasm);
    assertSameOutcomes(outcomes, `${kind}, A20`);
    const bt = outcomes[1]!.box;
    assert.ok(bt.cpu.bt!.stats.btInsns > 10 * bt.cpu.bt!.stats.interpInsns, JSON.stringify(bt.cpu.bt!.stats));
    // The loop's second half wrote below 1 MiB, the first above it.
    assert.equal(new DataView(bt.mem.u8.buffer).getUint32(0x20, true), 1);
    assert.equal(new DataView(bt.mem.u8.buffer).getUint32(PLAIN_BASE + 0x20, true), 1000);
  });

  test(`${kind}: a device mapped over RAM inside a translated loop gets the accesses from then on`, () => {
    const { outcomes, logs } = runEach(MAPPED, wasm);
    const [i, b] = outcomes as [Outcome, Outcome];
    assert.deepEqual(b.regs, i.regs, `${kind}: registers`);
    assert.equal(b.flags, i.flags, `${kind}: flags`);
    assert.equal(logs[1]!.length, 2 * 999, `${kind}: the device saw the writes`);
    assert.deepEqual(logs[1], logs[0], `${kind}: the device saw what it saw under the interpreter`);
    assert.equal(b.box.mem.plainSpan[0], 0x300000 - PLAIN_BASE - 3, 'RAM now runs unbroken from 1 MiB to the device');
    assert.ok(b.box.cpu.bt!.stats.btInsns > 5 * b.box.cpu.bt!.stats.interpInsns, JSON.stringify(b.box.cpu.bt!.stats));
  });
}

test('with paging off the mode key says linear is physical, and not once A20 is off or paging on', () => {
  const box = flatBox(asm('hlt'), 'bt');
  const KEY_IDENTITY = 1 << 18;
  assert.ok(box.cpu.modeKey & KEY_IDENTITY);
  box.cpu.setA20(false);
  assert.equal(box.cpu.modeKey & KEY_IDENTITY, 0);
  box.cpu.setA20(true);
  assert.ok(box.cpu.modeKey & KEY_IDENTITY);
  identityPaging(box, 0x200000);
  assert.equal(box.cpu.modeKey & KEY_IDENTITY, 0);
  box.cpu.eip = CODE;
  runToHalt(box);
});
