// `npm start`: the desktop window when Electron's binary is installed, otherwise web mode on
// 127.0.0.1 (the same renderer and API in a browser), printing the URL with its access token.

import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { packageRoot } from './vmm-host.ts';
import { createHostApi } from './api.ts';
import { startWebServer } from './server.ts';
import { resolveDataDir } from './library/data-dir.ts';
import { paramsProblem } from './api-params.ts';
import type { HostApi } from './api-types.ts';

function electronBinary(): string | null {
  try {
    // The electron package exports the path of its binary; it is absent when the download failed.
    const p = createRequire(import.meta.url)('electron') as unknown;
    return typeof p === 'string' && existsSync(p) ? p : null;
  } catch {
    return null;
  }
}

function parsePort(argv: string[]): number | undefined {
  const i = argv.indexOf('--port');
  if (i < 0) return undefined;
  const v = argv[i + 1];
  if (!v || !/^\d+$/.test(v) || Number(v) > 65535) {
    process.stderr.write(`hostbox: --port needs a port number 0-65535, not "${v ?? ''}"\n`);
    process.exit(2);
  }
  return Number(v);
}

async function main(): Promise<void> {
  const argv = process.argv.slice(2);
  const root = packageRoot();
  const electron = argv.includes('--web') ? null : electronBinary();
  if (electron) {
    const child = spawn(electron, [join(root, 'dist', 'main', 'electron.cjs')], { stdio: 'inherit' });
    child.on('exit', (code) => process.exit(code ?? 0));
    return;
  }
  const rendererDir = join(root, 'dist', 'renderer');
  if (!existsSync(join(rendererDir, 'index.html'))) {
    process.stderr.write(`hostbox: the UI is not built (${rendererDir} is missing): run \`npm run build\`\n`);
    process.exit(2);
  }
  const host = createHostApi({ dataDir: resolveDataDir() });
  const server = await startWebServer({
    port: parsePort(argv),
    rendererDir,
    api: host.api,
    methods: host.methods,
    checkParams: (method, params) => paramsProblem(method as keyof HostApi, params),
    subscribe: host.subscribe,
  });
  process.stdout.write(`Hostbox is running in web mode (Electron is not installed).\nVM library: ${host.library.dataDir}\nOpen: ${server.url}\n`);
  // Stopping web mode (Ctrl-C, or a service manager's SIGTERM) suspends the running VMs, as
  // quitting the desktop app offers to: Power on continues each one when Hostbox runs again. A
  // second signal while that is under way powers the rest off and ends at once.
  let stopping = false;
  const stop = async (): Promise<void> => {
    if (stopping) {
      process.stdout.write('Hostbox: stopping now; VMs not yet suspended are powered off.\n');
      await host.close();
      process.exit(1);
    }
    stopping = true;
    const running = host.running();
    if (running.length) process.stdout.write(`Hostbox: suspending ${running.join(', ')} (signal again to power off instead)...\n`);
    for (const line of await host.suspendAll()) process.stdout.write(`  ${line}\n`);
    await host.close();
    await server.close();
    process.exit(0);
  };
  // The last line of defence for the VMs in this process: a promise nobody handled is reported,
  // not allowed to end them all (Node's default). A thrown exception still ends the process: after
  // one, nothing says the host's state is sound.
  process.on('unhandledRejection', (e) => process.stderr.write(`hostbox: unhandled error (reported, not fatal): ${e instanceof Error ? e.message : String(e)}\n`));
  process.on('SIGINT', () => void stop());
  process.on('SIGTERM', () => void stop());
}

main().catch((e: unknown) => {
  process.stderr.write(`hostbox: ${(e as Error).message}\n`);
  process.exit(1);
});
