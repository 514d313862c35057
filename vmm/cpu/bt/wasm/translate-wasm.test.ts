// The WebAssembly prototype against the interpreter: the measured loops must end in exactly the
// interpreter's registers, EIP, EFLAGS and RAM (and the JavaScript translator's, run the same way),
// so the figures in the README cannot come from a translation that is quietly wrong.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Xorshift32 } from '../../xorshift.ts';
import { CODE, LOOPS, ADDMUL, type GuestLoop } from './loops.ts';
import { JsRunner, Snapshot, WasmRunner, loopBox, outcome, runInterpreter, type Outcome } from './machine.ts';
import { moduleBytes, Code, I32, Op } from './wasm-module.ts';

function same(got: Outcome, want: Outcome, what: string): void {
  assert.deepEqual(got.regs.map((r) => r >>> 0), want.regs.map((r) => r >>> 0), `${what}: registers`);
  assert.equal(got.eip, want.eip, `${what}: EIP`);
  assert.equal(got.flags, want.flags, `${what}: EFLAGS`);
  assert.equal(got.insns, want.insns, `${what}: instructions executed`);
  assert.ok(Buffer.compare(got.ram, want.ram) === 0, `${what}: RAM differs`);
}

for (const loop of LOOPS) {
  test(`${loop.name}: the WebAssembly translation and the JavaScript one end in the interpreter's state`, () => {
    const scale = 20;
    const a = loopBox(loop, scale);
    const want = outcome(a.cpu, runInterpreter(a.cpu));
    assert.ok(want.insns > 1000, 'the loop ran');

    const b = loopBox(loop, scale);
    same(outcome(b.cpu, new JsRunner(b.cpu).run()), want, 'JavaScript');

    const c = loopBox(loop, scale);
    const w = new WasmRunner(c.cpu);
    w.load();
    const n = w.run();
    same(outcome(c.cpu, n), want, 'WebAssembly');
    // Everything but the final HLT ran translated: the figures measure the translation.
    assert.equal(w.interpreted, 1);
  });
}

test('a store to a page with translations leaves to the interpreter (status return) and the result is still exact', () => {
  const scale = 3;
  const a = loopBox(ADDMUL, scale);
  const want = outcome(a.cpu, runInterpreter(a.cpu));
  const c = loopBox(ADDMUL, scale);
  // The result array's page, marked as holding translated code: every store to it must go through
  // the interpreter, which sees the mark.
  c.cpu.mem.codePage[0x101] = 1;
  const w = new WasmRunner(c.cpu);
  w.load();
  same(outcome(c.cpu, w.run()), want, 'WebAssembly with status exits');
  assert.ok(w.interpreted > 1, `${w.interpreted} instructions interpreted`);
});

test('CF from the interpreter\'s lazy state (ADC, SBB, INC at the start of a translation) as the interpreter computes it', () => {
  // A byte's ADD or SUB (XADD AL, BL; NEG AL), a word's ADD or SUB (XADD AX, BX; CMPXCHG BX, AX), a
  // dword's SUB (CMPXCHG EBX, EAX), or STC, which the prototype leaves to the interpreter, then the
  // region: adc ecx, edx ; sbb esi, edi ; inc ecx ; hlt, or inc ecx ; adc ecx, edx ; hlt.
  const firsts = [[0x0f, 0xc0, 0xd8], [0xf6, 0xd8], [0x66, 0x0f, 0xc1, 0xd8], [0x66, 0x0f, 0xb1, 0xc3], [0x0f, 0xb1, 0xc3], [0xf9]];
  const tails = [[0x11, 0xd1, 0x19, 0xfe, 0x41, 0xf4], [0x41, 0x11, 0xd1, 0xf4]];
  const r = new Xorshift32(7);
  for (const first of firsts) for (const tail of tails) {
    const loop: GuestLoop = { name: 'cf', code: [...first, ...tail], setup: () => {}, ramBytes: () => 1 << 20 };
    const a = loopBox(loop, 0), c = loopBox(loop, 0);
    const startA = new Snapshot(a.cpu), startC = new Snapshot(c.cpu);
    const w = new WasmRunner(c.cpu);
    for (let k = 0; k < 6; k++) {
      const regs = [r.next(), r.next() & (k & 1 ? 0xff : -1), r.next(), r.next(), 0x80000, 0, r.next(), r.next()];
      startA.restore();
      a.cpu.r32.set(regs);
      const want = outcome(a.cpu, runInterpreter(a.cpu));
      startC.restore();
      c.cpu.r32.set(regs);
      w.load();
      w.interpreted = 0;
      same(outcome(c.cpu, w.run()), want, `after ${first.map((b) => b.toString(16)).join(' ')}, case ${k}`);
      assert.equal(w.interpreted, 2, 'the first instruction and HLT interpreted, the rest translated');
    }
  }
});

test('the module emitter: LEB128 numbers and nested branches as the WebAssembly engine reads them', () => {
  // f(x) = x + -12345678, then a loop that counts down from 200 (a two-byte LEB) to 0 with br_if.
  const c = new Code();
  c.get(0).i32(-12345678).op(Op.i32_add).set(0);
  const out = c.open(Op.block);
  const top = c.open(Op.loop);
  c.get(1).op(Op.i32_eqz, Op.br_if, 1);
  c.get(1).i32(1).op(Op.i32_sub).set(1);
  c.get(0).i32(3).op(Op.i32_add).set(0);
  c.br(top);
  c.close();
  c.close();
  assert.equal(out, 0);
  c.get(0);
  const bytes = moduleBytes({ memoryPages: 1, importFuncs: [], funcs: [{ name: 'f', type: { params: [I32, I32], results: [I32] }, locals: [], code: c }] });
  const memory = new WebAssembly.Memory({ initial: 1 });
  const f = new WebAssembly.Instance(new WebAssembly.Module(bytes), { e: { mem: memory } }).exports.f as (x: number, n: number) => number;
  assert.equal(f(5, 200), 5 - 12345678 + 600);
  assert.equal(f(0x7fffffff, 0), (0x7fffffff - 12345678) | 0);
  assert.equal(CODE, 0x10000);
});

test('a branch forward inside a region goes straight on; only a branch back looks at the budget', () => {
  // 0: cmp eax, ebx ; 2: jb 5 ; 4: inc ecx ; 5: inc edx ; 6: dec esi ; 7: jnz 0 ; 9: hlt
  const loop: GuestLoop = { name: 'diamond', code: [0x39, 0xd8, 0x72, 0x01, 0x41, 0x42, 0x4e, 0x75, 0xf7, 0xf4], setup: () => {}, ramBytes: () => 1 << 20 };
  for (const [eax, ebx, perIteration] of [[1, 2, 5], [2, 1, 6]] as const) {
    const c = loopBox(loop, 0);
    c.cpu.r32.set([eax, 0, 0, ebx, 0x80000, 0, 3, 0]);
    const w = new WasmRunner(c.cpu);
    w.load();
    const t = w.translate(CODE)!;
    assert.ok(t.loops, 'the region holds the loop');
    // A budget of one instruction: the whole iteration runs (its branches are forward), then the
    // branch back to the entry finds the budget spent and leaves there.
    assert.equal(w.instantiate(t)(1), perIteration, `EAX ${eax}, EBX ${ebx}: one whole iteration`);
    w.save();
    assert.equal(c.cpu.eip, CODE);
    assert.deepEqual([c.cpu.r32[1], c.cpu.r32[2], c.cpu.r32[6]], [eax < ebx ? 0 : 1, 1, 2]);
  }
});
