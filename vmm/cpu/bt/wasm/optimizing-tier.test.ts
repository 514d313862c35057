// The WebAssembly translations' tests again, with every module compiled by V8's optimizing tier
// (TurboFan) from its first call. Everywhere else a module runs in V8's baseline code (Liftoff) until
// it is hot, and short tests end before that: yet the guest's hot loops run in the optimized code.
// A control-flow shape tried on 2026-12-06 (a block looping on itself inside a region) ended a loop
// with a word of its result other than the interpreter's under TurboFan alone, Node 20 and 22 alike,
// and right again with --no-turbo-move-optimization (docs/performance-log.md): this test saw it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

test("the WebAssembly translations end in the interpreter's state when V8 compiles them optimized at once", () => {
  const here = (name: string): string => fileURLToPath(new URL(name, import.meta.url));
  // A test runner of its own (without NODE_TEST_CONTEXT the child reports to its stdout, not to ours).
  const { NODE_TEST_CONTEXT: _, ...env } = process.env;
  const files = [here('translate-wasm.test.ts'), here('wasm-fuzz.test.ts'), here('wasm-tier.test.ts'), here('../based-segments.test.ts')];
  // With the branch hints read, as every VMM process reads them (main/v8-tiering.ts): they change
  // how the optimizing tier lays out and allocates a module's code.
  const flags = ['--no-liftoff', '--experimental-wasm-branch-hinting'];
  const r = spawnSync(process.execPath, [...flags, '--import', 'tsx', '--test', '--test-reporter=tap', ...files], {
    encoding: 'utf8',
    env: { ...env, HOSTBOX_FUZZ_RUNS: '20' },
  });
  assert.equal(r.status, 0, `under --no-liftoff:\n${r.stdout.slice(-4000)}\n${r.stderr.slice(-2000)}`);
  assert.match(r.stdout, /# pass [1-9]/);
  assert.match(r.stdout, /# fail 0/);
});
