// FXSAVE and FXRSTOR (SDM vol. 1 §10.5.1 table 10-2, vol. 2 FXSAVE/FXRSTOR) on a CPU with FXSR and
// no SSE, in both engines: the image's x87 fields, the bytes it must leave alone, the round trip,
// and the faults in the order the manual gives (#UD register form, #NM, #GP alignment).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { asm, flatBox, runToHalt } from '../bt/test-kit.ts';
import type { EngineName } from '../bt/attach.ts';
import { EAX, EDX } from '../regs.ts';

const IMAGE = 0x20000;
const OUT = 0x30000;

for (const engine of ['interpreter', 'bt'] as EngineName[]) {
  test(`FXSAVE writes the x87 state in the 512-byte layout and FXRSTOR loads it back (${engine})`, () => {
    const code = asm(`
      fninit
      fld1
      fldpi
      mov ecx, 300            ; run the middle enough times for the translator to take it
    l:
      fxsave [${IMAGE}]
      fninit
      fxrstor [${IMAGE}]
      dec ecx
      jnz l
      fstp dword [${OUT}]
      fstp dword [${OUT + 4}]
      fnstsw ax
      mov [${OUT + 8}], ax
      hlt`);
    const box = flatBox(code, engine);
    box.mem.u8.fill(0xaa, IMAGE, IMAGE + 512);
    runToHalt(box);
    const dv = new DataView(box.mem.u8.buffer);
    assert.equal(dv.getUint16(IMAGE, true), 0x037f, 'FCW');
    assert.equal(dv.getUint16(IMAGE + 2, true), 6 << 11, 'FSW: TOP 6');
    // Abridged tag word: physical registers 6 and 7 hold values.
    assert.equal(box.mem.u8[IMAGE + 4], 0xc0, 'FTW');
    // FOP of the last non-control x87 instruction, FLDPI (D9 EB).
    assert.equal(dv.getUint16(IMAGE + 6, true), 0x1eb, 'FOP');
    // ST(0) = pi rounded to nearest (SDM vol. 1 §8.3.8), ST(1) = 1.0, each in 16 bytes.
    assert.deepEqual([...box.mem.u8.subarray(IMAGE + 32, IMAGE + 42)], [0x35, 0xc2, 0x68, 0x21, 0xa2, 0xda, 0x0f, 0xc9, 0x00, 0x40]);
    assert.deepEqual([...box.mem.u8.subarray(IMAGE + 42, IMAGE + 48)], [0, 0, 0, 0, 0, 0]);
    assert.deepEqual([...box.mem.u8.subarray(IMAGE + 48, IMAGE + 58)], [0, 0, 0, 0, 0, 0, 0, 0x80, 0xff, 0x3f]);
    // No MXCSR and no XMM registers on this CPU: those bytes, and the rest, are left alone.
    assert.ok(box.mem.u8.subarray(IMAGE + 24, IMAGE + 32).every((b) => b === 0xaa), 'MXCSR and its mask untouched');
    assert.ok(box.mem.u8.subarray(IMAGE + 160, IMAGE + 512).every((b) => b === 0xaa), 'bytes 160-511 untouched');
    // After FNINIT and FXRSTOR the stack is as it was: pi, then 1.0; TOP back to 0 after two pops.
    assert.equal(dv.getUint32(OUT, true), 0x40490fdb);
    assert.equal(dv.getUint32(OUT + 4, true), 0x3f800000);
    assert.equal(dv.getUint16(OUT + 8, true) & 0x3800, 0);
  });

  test(`FXSAVE faults: register form #UD, CR0.TS or EM #NM, an image off a 16-byte boundary #GP(0) (${engine})`, () => {
    const cases: [string, number][] = [
      ['db 0x0f, 0xae, 0xc0', 6],
      [`mov eax, cr0\n or eax, 8\n mov cr0, eax\n fxsave [${IMAGE}]`, 7],
      [`mov eax, cr0\n or eax, 4\n mov cr0, eax\n fxrstor [${IMAGE}]`, 7],
      [`fxsave [${IMAGE + 8}]`, 13],
      [`fxrstor [${IMAGE + 4}]`, 13],
    ];
    for (const [source, vector] of cases) {
      const box = flatBox(asm(`${source}\n hlt`), engine);
      const seen: number[] = [];
      box.cpu.onException = (v) => void seen.push(v);
      box.mem.u8.fill(0xaa, IMAGE, IMAGE + 512);
      runToHalt(box);
      assert.equal(seen[0], vector, source);
      assert.ok(box.mem.u8.subarray(IMAGE, IMAGE + 512).every((b) => b === 0xaa), `${source}: nothing written`);
    }
  });
}

test('CPUID reports FXSR (leaf 1 EDX bit 24) and CR4.OSFXSR can be set', () => {
  const box = flatBox(asm(`mov eax, 1\n cpuid\n mov ebx, cr4\n or ebx, 0x200\n mov cr4, ebx\n mov eax, cr4\n mov [${OUT}], edx\n hlt`), 'interpreter');
  const seen: number[] = [];
  box.cpu.onException = (v) => void seen.push(v);
  runToHalt(box);
  assert.deepEqual(seen, []);
  assert.ok(new DataView(box.mem.u8.buffer).getUint32(OUT, true) & (1 << 24));
  assert.equal(box.cpu.r32[EAX]! & 0x200, 0x200);
  assert.ok(box.cpu.r32[EDX]! & (1 << 23), 'MMX still');
});
