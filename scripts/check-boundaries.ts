// The process-boundary lint (STYLE.md §1): vmm/ is pure computation (no node:*, no electron, no
// DOM-only globals at runtime), renderer/ is the browser (no node:*, nothing from main/ at runtime).
// Type-only imports are allowed; test files, and the test-kit.ts files only tests import, may use node:*.
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';

const root = new URL('..', import.meta.url).pathname;
const problems: string[] = [];

function files(dir: string): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (name === 'node_modules') continue;
    if (statSync(p).isDirectory()) out.push(...files(p));
    else if (/\.(ts|tsx)$/.test(name) && !/\.test\.tsx?$/.test(name) && name !== 'test-kit.ts') out.push(p);
  }
  return out;
}

/** Runtime import specifiers (import/export ... from, dynamic import, require), skipping `import type`. */
function runtimeImports(src: string): string[] {
  const specs: string[] = [];
  const re = /(?:^|\n)\s*(import|export)\s+(type\s+)?([^'"]*?)\s*from\s*['"]([^'"]+)['"]|import\(\s*['"]([^'"]+)['"]\s*\)|require\(\s*['"]([^'"]+)['"]\s*\)|(?:^|\n)\s*import\s+['"]([^'"]+)['"]/g;
  for (const m of src.matchAll(re)) {
    if (m[2]) continue; // import type
    if (m[3] && /^\{\s*(type\s+[\w$]+\s*,?\s*)+\}$/.test(m[3])) continue; // only type specifiers
    const spec = m[4] ?? m[5] ?? m[6] ?? m[7];
    if (spec) specs.push(spec);
  }
  return specs;
}

// The VMM's time comes from the clocks the host hands it (STYLE.md §4): a host clock read inside
// vmm/ makes a device's behaviour depend on the host's speed and defeats stepped-time tests.
const HOST_CLOCK = /\b(Date\.now|performance\.now|process\.hrtime)\s*\(|\bnew\s+Date\s*\(\s*\)|\bDate\s*\(\s*\)/;
const NODE_BUILTINS = /^(node:|fs$|path$|os$|child_process$|worker_threads$|net$|http$|crypto$|url$|module$)/;
const DOM_GLOBALS = /\b(document|window|localStorage|navigator)\s*\./;

for (const f of files(join(root, 'vmm'))) {
  const src = readFileSync(f, 'utf8');
  for (const s of runtimeImports(src)) {
    if (NODE_BUILTINS.test(s) || s === 'electron') problems.push(`${relative(root, f)}: vmm/ must not import ${s}`);
    if (s.includes('/main/') || s.startsWith('../main') || s.includes('renderer/')) problems.push(`${relative(root, f)}: vmm/ must not import ${s}`);
  }
  const code = src.replace(/\/\/.*$/gm, '').replace(/\/\*[\s\S]*?\*\//g, '');
  if (DOM_GLOBALS.test(code)) problems.push(`${relative(root, f)}: vmm/ must not use DOM globals`);
  const clock = HOST_CLOCK.exec(code);
  if (clock) problems.push(`${relative(root, f)}: vmm/ must not read the host's clock (${clock[0].replace(/\s*\(.*$/, '')}): take time from the Clock or the clocks the host passes in`);
}
const rendererDir = join(root, 'renderer');
try {
  for (const f of files(rendererDir)) {
    for (const s of runtimeImports(readFileSync(f, 'utf8'))) {
      if (NODE_BUILTINS.test(s) || s === 'electron') problems.push(`${relative(root, f)}: renderer/ must not import ${s}`);
      if (/(^|\/)main\//.test(s) || s.startsWith('../main') || s.startsWith('../../main')) problems.push(`${relative(root, f)}: renderer/ must not import ${s} at runtime (use import type)`);
    }
  }
} catch {
  // no renderer yet
}
if (problems.length) {
  for (const p of problems) console.error(p);
  console.error(`boundary check: ${problems.length} problem(s)`);
  process.exit(1);
}
console.log('boundary check: vmm/ and renderer/ stay inside their worlds');
