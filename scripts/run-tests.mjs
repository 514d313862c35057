// Runs every *.test.ts in the project with Node's test runner (TypeScript through tsx).
// Usage: node scripts/run-tests.mjs [filter-substring...]
//
// Two phases: everything else two files at a time, then the tests that boot the whole Debian guest
// one at a time. Each guest keeps a host core busy for minutes, and a guest whose host falls behind
// loses timer ticks (see the i8254's lost-tick re-delivery), so they are not run side by side.
//
// Under CI (CI set) a skipped test fails the run: tests skip when a prerequisite is missing (nasm,
// gcc-multilib, Chromium, SeaBIOS, the built bundle, the test guest), and a green run with suites
// skipped proves nothing. Each skip is listed with its reason, which names what is missing.
import { mkdtempSync, readFileSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { spawnSync } from 'node:child_process';

const root = new URL('..', import.meta.url).pathname;
const skip = new Set(['node_modules', 'dist', '.git', '.cache', 'test-artifacts', 'bench-results']);
const files = [];
(function walk(dir) {
  for (const name of readdirSync(dir)) {
    if (skip.has(name)) continue;
    const p = join(dir, name);
    if (statSync(p).isDirectory()) walk(p);
    else if (name.endsWith('.test.ts')) files.push(relative(root, p));
  }
})(root);
const filters = process.argv.slice(2);
const chosen = files.sort().filter((f) => filters.length === 0 || filters.some((s) => f.includes(s)));
if (chosen.length === 0) {
  console.error('no test files matched');
  process.exit(1);
}
const bootsGuest = (f) => /^tests\/(guest-[^/]*|browser-guest|browser-first-run)\.test\.ts$/.test(f);
const ci = Boolean(process.env.CI);
const tapDir = ci ? mkdtempSync(join(tmpdir(), 'hostbox-tests-')) : null;
const skipped = [];
let failed = false;
for (const [i, [group, concurrency]] of [
  [chosen.filter((f) => !bootsGuest(f)), 2],
  [chosen.filter(bootsGuest), 1],
].entries()) {
  if (group.length === 0) continue;
  const reporters = ['--test-reporter=spec', '--test-reporter-destination=stdout'];
  const tap = tapDir ? join(tapDir, `phase${i}.tap`) : null;
  if (tap) reporters.push('--test-reporter=tap', `--test-reporter-destination=${tap}`);
  const r = spawnSync(process.execPath, ['--import', 'tsx', '--test', `--test-concurrency=${concurrency}`, ...reporters, ...group], { cwd: root, stdio: 'inherit' });
  if (r.status !== 0) failed = true;
  if (tap) for (const m of readFileSync(tap, 'utf8').matchAll(/^\s*ok \d+ - (.*?) # SKIP ?(.*)$/gm)) skipped.push(`${m[1]}: ${m[2] || 'no reason given'}`);
}
if (tapDir) rmSync(tapDir, { recursive: true, force: true });
if (skipped.length) {
  console.error(`\nCI: ${skipped.length} test(s) skipped, which CI does not allow; install what they need:`);
  for (const s of skipped) console.error(`  - ${s}`);
  failed = true;
}
process.exit(failed ? 1 : 0);
