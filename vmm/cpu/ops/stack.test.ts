// ENTER against the SDM's own pseudocode (vol. 2 ENTER, "Operation"), transcribed here a step at a
// time with its own stack model: every nesting level 0-31, both operand sizes, both stack sizes,
// stacks that wrap at 64 KiB, and limits that make the frame fault part-way (then nothing may change:
// the interpreter checks the whole frame and the final stack pointer before writing).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { makeBox } from '../system-tests/box.ts';
import { setSegmentCache } from '../segments.ts';
import { CS, DS, SS } from '../decode.ts';
import { CR0_PE, EBP, ESP } from '../regs.ts';
import { Vec } from '../fault.ts';
import { Xorshift32 } from '../xorshift.ts';

const SS_BASE = 0x40000;
const CODE = 0x1000;

interface Start {
  o32: boolean;
  big: boolean;
  limit: number;
  alloc: number;
  level: number;
  esp: number;
  ebp: number;
}

interface Outcome {
  fault: number | null;
  esp: number;
  ebp: number;
  /** The stack segment's first 64 KiB (a 32-bit stack here never reaches beyond them). */
  stack: Uint8Array;
}

/** The SDM's Operation section, with the stack as a byte array and every offset checked on use. */
function model(s: Start, stack0: Uint8Array): Outcome {
  const stack = stack0.slice();
  const w = s.o32 ? 4 : 2;
  const mask = s.big ? 0xffffffff : 0xffff;
  let esp = s.esp >>> 0;
  let ebp = s.ebp >>> 0;
  const writes: [number, number][] = [];
  const sp = (): number => (s.big ? esp : esp & 0xffff);
  const push = (v: number): void => {
    const off = (sp() - w) & mask;
    writes.push([off >>> 0, v]);
    esp = s.big ? off >>> 0 : ((esp & 0xffff0000) | off) >>> 0;
  };
  let readFault = false;
  const read = (off: number): number => {
    if (off + w - 1 > s.limit) readFault = true;
    let v = 0;
    for (let k = w - 1; k >= 0; k--) v = v * 256 + stack[(off + k) & 0xffff]!;
    return v;
  };
  const level = s.level % 32;
  push(s.o32 ? ebp : ebp & 0xffff);
  const frameTemp = s.o32 ? esp : esp & 0xffff;
  if (level > 0) {
    let tmp = ebp;
    for (let i = 1; i < level; i++) {
      if (s.big) tmp = (tmp - w) >>> 0;
      else tmp = ((tmp & 0xffff0000) | ((tmp - w) & 0xffff)) >>> 0;
      push(read(s.big ? tmp : tmp & 0xffff));
    }
    push(frameTemp);
  }
  ebp = s.o32 ? frameTemp : ((ebp & 0xffff0000) | frameTemp) >>> 0;
  const finalSp = (sp() - s.alloc) & mask;
  esp = s.big ? finalSp >>> 0 : ((esp & 0xffff0000) | finalSp) >>> 0;
  // #SS(0) when a read of the enclosing frame, a write of the new one or a write at the final stack
  // pointer would leave the segment.
  if (readFault) return { fault: Vec.SS, esp: s.esp >>> 0, ebp: s.ebp >>> 0, stack: stack0 };
  for (const off of [...writes.map(([o]) => o), finalSp >>> 0]) {
    if (off + w - 1 > s.limit) return { fault: Vec.SS, esp: s.esp >>> 0, ebp: s.ebp >>> 0, stack: stack0 };
  }
  for (const [off, v] of writes) for (let k = 0; k < w; k++) stack[(off + k) & 0xffff] = Math.floor(v / 256 ** k) & 0xff;
  return { fault: null, esp, ebp, stack };
}

function run(s: Start, stack0: Uint8Array): Outcome {
  const box = makeBox(1 << 20);
  const cpu = box.cpu;
  cpu.cr0 |= CR0_PE;
  cpu.idtrLimit = 0; // any exception ends in a shutdown, after onException has seen it
  setSegmentCache(cpu, CS, 0x08, 0, 0xffffffff, 0xc09b);
  setSegmentCache(cpu, DS, 0x10, 0, 0xffffffff, 0xc093);
  setSegmentCache(cpu, SS, 0x10, SS_BASE, s.limit, s.big ? 0x4093 : 0x0093);
  box.mem.u8.set(stack0, SS_BASE);
  box.mem.u8.set([...(s.o32 ? [] : [0x66]), 0xc8, s.alloc & 0xff, s.alloc >> 8, s.level, 0xf4], CODE);
  cpu.invalidateAllCode();
  cpu.eip = CODE;
  cpu.r32[ESP] = s.esp;
  cpu.r32[EBP] = s.ebp;
  let fault: number | null = null;
  cpu.onException = (v) => {
    if (fault === null) fault = v;
  };
  for (let n = 0; !cpu.halted && n < 100; n++) cpu.run(10);
  if (fault !== null) assert.equal(cpu.eip >>> 0, CODE, 'a fault leaves EIP at the ENTER');
  return { fault, esp: cpu.r32[ESP]! >>> 0, ebp: cpu.r32[EBP]! >>> 0, stack: box.mem.u8.slice(SS_BASE, SS_BASE + 0x10000) };
}

const hex = (n: number): string => (n >>> 0).toString(16);

test('ENTER matches the SDM pseudocode at every nesting level, operand size and stack size', () => {
  const r = new Xorshift32(0x5eed1e);
  let faults = 0;
  let cases = 0;
  for (let level = 0; level < 64; level++) {
    for (const o32 of [false, true]) {
      for (const big of [false, true]) {
        for (let rep = 0; rep < 6; rep++) {
          const stack0 = new Uint8Array(0x10000);
          for (let k = 0; k < stack0.length; k++) stack0[k] = r.next() & 0xff;
          let s: Start;
          if (big) {
            // 32-bit stack: offsets stay inside the segment's first 64 KiB unless the limit is small.
            const esp = 0x2000 + r.below(0xd000);
            s = { o32, big, limit: rep === 5 ? esp - 8 - r.below(200) : 0xffff, alloc: r.below(0x1000), level, esp, ebp: 0x200 + r.below(0xfc00) };
          } else {
            // 16-bit stack: random upper halves, SP and BP anywhere (frames wrap at 64 KiB), and a
            // limit below 64 KiB now and then so that part of the frame is outside.
            const sp = rep < 2 ? r.below(0x100) : r.below(0x10000);
            s = {
              o32, big, limit: rep === 5 ? 0x8000 + r.below(0x7000) : 0xffff, alloc: r.below(0x10000), level,
              esp: ((r.next() & 0xffff0000) | sp) >>> 0, ebp: ((r.next() & 0xffff0000) | r.below(0x10000)) >>> 0,
            };
          }
          const want = model(s, stack0);
          const got = run(s, stack0);
          const where = `level ${level} o${o32 ? 32 : 16} ${big ? '32' : '16'}-bit stack limit ${hex(s.limit)} alloc ${hex(s.alloc)} esp ${hex(s.esp)} ebp ${hex(s.ebp)}`;
          assert.equal(got.fault, want.fault, `${where}: exception`);
          assert.equal(hex(got.esp), hex(want.esp), `${where}: ESP`);
          assert.equal(hex(got.ebp), hex(want.ebp), `${where}: EBP`);
          const diff = got.stack.findIndex((b, k) => b !== want.stack[k]);
          assert.equal(diff, -1, `${where}: stack byte ${hex(diff)}`);
          cases++;
          if (want.fault !== null) faults++;
        }
      }
    }
  }
  // The sweep must have exercised both outcomes.
  assert.ok(faults > 20 && faults < cases / 2, `${faults} of ${cases} cases faulted`);
});
