// Bundles the benchmark with esbuild (the emulator must run as one optimized module, not through a
// TypeScript loader) and runs it with the given arguments.
import { build } from 'esbuild';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';

const root = fileURLToPath(new URL('..', import.meta.url));
const out = join(root, 'dist', 'bench.mjs');
await build({
  entryPoints: [join(root, 'scripts', 'bench', 'main.ts')],
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node20',
  outfile: out,
  external: ['v86'],
  logLevel: 'warning',
  banner: { js: "import { createRequire as __cr } from 'module'; const require = __cr(import.meta.url);" },
});
const r = spawnSync(process.execPath, ['--expose-gc', out, ...process.argv.slice(2)], { stdio: 'inherit', cwd: root, env: { ...process.env, HOSTBOX_ROOT: root } });
process.exit(r.status ?? 1);
