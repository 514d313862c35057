// The module writer's branch hints (the branch hinting proposal's "metadata.code.branch_hint"
// section): read back from the bytes, each names an `if` or `br_if` of its function by the offset
// from the body's start, and a region's slow paths are among them.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { setFlagsFromString } from 'node:v8';
import { decode } from '../../decode.ts';
import { factsOf } from '../mode.ts';
import { CODE, asm, flatBox, identityPaging } from '../test-kit.ts';
import { translateWasm } from './translate-wasm.ts';
import { Code, I32, Op, moduleBytes } from './wasm-module.ts';

/** Reads an unsigned LEB128 at `at`: [value, next offset]. */
function uleb(b: Uint8Array, at: number): [number, number] {
  let v = 0;
  let shift = 0;
  for (;;) {
    const x = b[at++]!;
    v += (x & 0x7f) * 2 ** shift;
    shift += 7;
    if (!(x & 0x80)) return [v, at];
  }
}

interface Hint {
  readonly func: number;
  readonly offset: number;
  readonly likely: number;
  /** The opcode at that offset of the function's body. */
  readonly opcode: number;
}

/** The module's branch hints, each with the opcode found where it points. */
function hintsOf(bytes: Uint8Array, importedFuncs: number): Hint[] {
  const raw: Omit<Hint, 'opcode'>[] = [];
  const bodies: number[] = [];
  for (let at = 8; at < bytes.length; ) {
    const id = bytes[at]!;
    const [size, start] = uleb(bytes, at + 1);
    const end = start + size;
    if (id === 0) {
      const [nameLen, n] = uleb(bytes, start);
      const name = new TextDecoder().decode(bytes.subarray(n, n + nameLen));
      if (name === 'metadata.code.branch_hint') {
        let p = n + nameLen;
        let funcs: number, func: number, count: number, offset: number, len: number;
        [funcs, p] = uleb(bytes, p);
        for (let f = 0; f < funcs; f++) {
          [func, p] = uleb(bytes, p);
          [count, p] = uleb(bytes, p);
          for (let k = 0; k < count; k++) {
            [offset, p] = uleb(bytes, p);
            [len, p] = uleb(bytes, p);
            assert.equal(len, 1, 'a hint is one byte');
            raw.push({ func, offset, likely: bytes[p++]! });
          }
        }
        assert.equal(p, end, 'the section holds nothing after its hints');
        assert.ok(!bodies.length, 'the hints come before the code section');
      }
    }
    if (id === 10) {
      let [count, p] = uleb(bytes, start);
      for (let k = 0; k < count; k++) {
        const [bodySize, body] = uleb(bytes, p);
        bodies.push(body);
        p = body + bodySize;
      }
    }
    at = end;
  }
  return raw.map((h) => ({ ...h, opcode: bytes[bodies[h.func - importedFuncs]! + h.offset]! }));
}

test('each branch hint names an if or br_if of its function, counted from the start of the body', () => {
  const c = new Code();
  c.get(0).openHinted(false);
  c.i32(1).set(1);
  c.close();
  const out = c.open(Op.block);
  c.get(0).brIfHinted(out, true);
  c.close();
  c.get(1);
  // Two locals of two types make the body's header longer than one byte: the offsets must count it.
  const spec = { memoryPages: 1, importFuncs: [], funcs: [{ name: 'f', type: { params: [I32], results: [I32] }, locals: [I32, 0x7e], code: c }] };
  const bytes = moduleBytes(spec);
  const hints = hintsOf(bytes, 0);
  assert.deepEqual(hints.map((h) => [h.opcode, h.likely]), [[Op.if, 0], [Op.br_if, 1]]);
  // V8 accepts the section, and the function runs as written, with or without reading the hints.
  for (const flag of ['--no-experimental-wasm-branch-hinting', '--experimental-wasm-branch-hinting']) {
    setFlagsFromString(flag);
    const f = new WebAssembly.Instance(new WebAssembly.Module(bytes), { e: { mem: new WebAssembly.Memory({ initial: 1 }) } }).exports.f as (x: number) => number;
    assert.deepEqual([f(0), f(5)], [0, 1], flag);
  }
});

test('a region marks its TLB misses and exits unlikely, and its branch back to the loop likely', () => {
  const code = asm(`
    mov ecx, 100
  l: mov eax, [esi]
    add eax, ecx
    mov [edi], eax
    dec ecx
    jnz l
    hlt`);
  for (const paging of [true, false]) {
    const box = flatBox(code, 'interpreter');
    if (paging) identityPaging(box, 0x200000);
    const cpu = box.cpu;
    const w = translateWasm(CODE + 5, CODE + 5, factsOf(cpu.modeKey, cpu.csBase, cpu.csLimit), (e) => decode(cpu.table, (n) => box.mem.u8[e + n]!, true, cpu), 1);
    assert.ok(w);
    const hints = hintsOf(w.bytes, 2);
    // The load and the store: a miss each (br_if twice), the fill failing (if); the store's page of
    // code (if). With paging on, each fill's walk writing to a page of code (if); with it off, each
    // access first: outside the RAM from 1 MiB up (if). The branch back: likely while the budget lasts.
    assert.equal(hints.filter((h) => h.opcode === Op.br_if && h.likely === 0).length, 4);
    assert.equal(hints.filter((h) => h.opcode === Op.if && h.likely === 0).length, 5);
    assert.equal(hints.filter((h) => h.opcode === Op.if && h.likely === 1).length, 1);
    assert.ok(hints.every((h) => h.opcode === Op.if || h.opcode === Op.br_if));
  }
});
