// Runs every *.test.ts in the project with Node's test runner (TypeScript through tsx).
// Usage: node scripts/run-tests.mjs [filter-substring...]
//
// Two phases: everything else two files at a time, then the tests that boot the whole Debian guest
// one at a time. Each guest keeps a host core busy for minutes, and a guest whose host falls behind
// loses timer ticks (see the i8254's lost-tick re-delivery), so they are not run side by side.
import { readdirSync, statSync } from 'node:fs';
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
const bootsGuest = (f) => /^tests\/(guest-[^/]*|browser-guest)\.test\.ts$/.test(f);
let failed = false;
for (const [group, concurrency] of [
  [chosen.filter((f) => !bootsGuest(f)), 2],
  [chosen.filter(bootsGuest), 1],
]) {
  if (group.length === 0) continue;
  const r = spawnSync(process.execPath, ['--import', 'tsx', '--test', `--test-concurrency=${concurrency}`, '--test-reporter=spec', ...group], { cwd: root, stdio: 'inherit' });
  if (r.status !== 0) failed = true;
}
process.exit(failed ? 1 : 0);
