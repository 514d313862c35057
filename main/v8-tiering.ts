// V8's tiering, tuned for the binary translator's generated functions (vmm/cpu/bt). Called first
// thing in every process that runs a VMM; V8's flags are per process, so it also applies to the
// host code there, which only gets optimized sooner.
//
// Why: V8 optimizes a function once it has run 3 + (bytecode length / 150) "ticks" of 66 KiB of
// bytecode each. A translation is a switch over up to 32 guest blocks (bytecode of 5-20 KiB) of which
// one call runs a few: the threshold came to 35-140 ticks, millions of bytecodes, and each time
// V8's optimized code met a guest path it had not seen it deoptimized and counted again from zero.
// Hot translations ran in V8's baseline tier for good (in the compress workload, 15% of the
// translations' runs; the tests in bt.test.ts show why that is slower than the interpreter). With
// the size left out (3 ticks for any size), the shell loop ran 20% faster; the boot and the other
// workloads alike or faster (README, "The binary translator").
//
// Branch hints: the WebAssembly translations mark their slow paths (a TLB miss, an exit to the
// interpreter) unlikely in the module's "metadata.code.branch_hint" section, which the V8 of Node 20
// (11.3) reads only with this flag, and ignores without. Its optimizing compiler then
// places those paths apart and keeps the spills they need, around the call that fills the TLB, off
// the hot path: the kernel's XZ decompressor ran 20-35% faster (README, "The binary translator").

import { setFlagsFromString } from 'node:v8';

/** Ticks that V8 waives per byte of bytecode: large enough that every translation needs the base 3. */
const BYTECODE_SIZE_ALLOWANCE_PER_TICK = 1_000_000;

export function tuneV8ForTranslatedCode(): void {
  setFlagsFromString(`--bytecode-size-allowance-per-tick=${BYTECODE_SIZE_ALLOWANCE_PER_TICK}`);
  setFlagsFromString('--experimental-wasm-branch-hinting');
}
