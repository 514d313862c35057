// The one build: esbuild bundles the host entry points and the VMM worker into dist/ (the emulator
// must run from a bundle: through a TypeScript loader every imported binding becomes a getter call),
// and Vite builds the renderer into dist/renderer when it exists.
import { build } from 'esbuild';
import { existsSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';

const root = fileURLToPath(new URL('..', import.meta.url));
const external = ['better-sqlite3', 'node-pty', 'electron', 'bufferutil', 'utf-8-validate'];
const common = { bundle: true, platform: 'node', target: 'node20', logLevel: 'warning', external, sourcemap: 'linked' };
const requireShim = { js: "import { createRequire as __hostboxRequire } from 'node:module'; const require = __hostboxRequire(import.meta.url);" };

const esm = [
  ['main/cli.ts', 'dist/main/cli.js'],
  ['main/vmm-entry-worker.ts', 'dist/vmm-worker.mjs'],
  // Tests only (stand-in machines); left out of packages.
  ['main/vmm-entry-test-worker.ts', 'dist/vmm-worker-test.mjs'],
  ['main/start.ts', 'dist/main/start.js'],
];
await Promise.all(
  esm
    .filter(([src]) => existsSync(join(root, src)))
    .map(([src, out]) => build({ ...common, entryPoints: [join(root, src)], outfile: join(root, out), format: 'esm', banner: requireShim })),
);
// Electron loads its main and preload scripts as CommonJS.
const cjs = [
  ['main/electron.ts', 'dist/main/electron.cjs'],
  ['main/preload.ts', 'dist/main/preload.cjs'],
  ['main/vmm-entry-utility.ts', 'dist/vmm-utility.cjs'],
];
await Promise.all(
  cjs
    .filter(([src]) => existsSync(join(root, src)))
    .map(([src, out]) =>
      build({
        ...common,
        entryPoints: [join(root, src)],
        outfile: join(root, out),
        format: 'cjs',
        // Shared host code finds the installation through import.meta.url; give CommonJS the same.
        define: { 'import.meta.url': '__hostboxImportMetaUrl' },
        banner: { js: 'var __hostboxImportMetaUrl = require("node:url").pathToFileURL(__filename).href;' },
      }),
    ),
);
if (existsSync(join(root, 'renderer', 'index.html')) && existsSync(join(root, 'vite.config.ts'))) {
  const r = spawnSync(process.execPath, [join(root, 'node_modules', 'vite', 'bin', 'vite.js'), 'build', '--logLevel', 'warn'], { cwd: root, stdio: 'inherit' });
  if (r.status !== 0) process.exit(r.status ?? 1);
}
