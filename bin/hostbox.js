#!/usr/bin/env node
// The `hostbox` command: runs the built command line (npm run build puts it in dist/).
import { existsSync } from 'node:fs';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { dirname, join } from 'node:path';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const cli = join(root, 'dist', 'main', 'cli.js');
if (!existsSync(cli)) {
  process.stderr.write(`hostbox: not built yet: run \`npm run build\` in ${root}\n`);
  process.exit(2);
}
const { main } = await import(pathToFileURL(cli).href);
process.exit(await main(process.argv.slice(2)));
