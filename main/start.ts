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
import { VmmHost } from './vmm-host.ts';
import type { FakeMachineKind } from '../vmm/protocol.ts';
import { ImageLockedError } from './backends/image-lock.ts';
import { claimLibrary, endpointUrl, publishEndpoint, readEndpoint } from './app-endpoint.ts';
import { addSampleVm } from './library/sample-vm.ts';
import { exitWhenIdle } from './idle-exit.ts';
import { parseStartArgs, type StartOptions } from './start-args.ts';

function electronBinary(): string | null {
  try {
    // The electron package exports the path of its binary; it is absent when the download failed.
    const p = createRequire(import.meta.url)('electron') as unknown;
    return typeof p === 'string' && existsSync(p) ? p : null;
  } catch {
    return null;
  }
}

async function main(): Promise<void> {
  let args: StartOptions;
  try {
    args = parseStartArgs(process.argv.slice(2));
  } catch (e) {
    process.stderr.write(`hostbox: ${(e as Error).message}\n`);
    process.exit(2);
  }
  const root = packageRoot();
  const electron = args.web ? null : electronBinary();
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
  const dataDir = resolveDataDir();
  // One app per data folder: a second `npm start` points at the first rather than open the library
  // again (which would take the first one's running VMs for crashed ones).
  let lock;
  // A library command holds the lock for a moment, and an app that is starting has not published
  // its address yet: both are waited for a few seconds.
  for (const end = Date.now() + 5000; ; ) {
    try {
      lock = claimLibrary(dataDir, 'the Hostbox app');
      break;
    } catch (e) {
      if (!(e instanceof ImageLockedError)) throw e;
      const ep = readEndpoint(dataDir);
      if (ep) {
        process.stdout.write(`Hostbox is already running for this data folder (pid ${ep.pid}).\nVM library: ${dataDir}\nOpen: ${endpointUrl(ep)}\n`);
        process.exit(0);
      }
      if (Date.now() > end) throw e;
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  const heldLock = lock;
  process.on('exit', () => heldLock.release());
  // Tests only: stand-in machines, which exist only in the test build of the VMM (not in packages).
  const fake = process.env.HOSTBOX_FAKE_MACHINE as FakeMachineKind | undefined;
  if (fake !== undefined && fake !== 'echo' && fake !== 'crash') throw new Error(`HOSTBOX_FAKE_MACHINE=${fake} is not a stand-in machine (echo or crash)`);
  const host = createHostApi({ dataDir, ...(fake ? { launcher: (spec, handlers) => VmmHost.start(spec, handlers, { fake }) } : {}) });
  let sample = null;
  try {
    sample = addSampleVm(host.library, join(root, '.cache', 'guest'));
  } catch (e) {
    // The app is usable without it.
    process.stderr.write(`hostbox: ${(e as Error).message}\n`);
  }
  const server = await startWebServer({
    port: args.port,
    rendererDir,
    api: host.api,
    methods: host.methods,
    checkParams: (method, params) => paramsProblem(method as keyof HostApi, params),
    subscribe: host.subscribe,
  });
  const unpublish = publishEndpoint(dataDir, { pid: process.pid, port: server.port, token: server.token });
  process.on('exit', unpublish);
  process.stdout.write(
    `Hostbox is running in web mode (Electron is not installed).\nVM library: ${host.library.dataDir}\n${sample ? `Added the sample VM "${sample.name}" (the Debian test guest).\n` : ''}Open: ${server.url}\n`,
  );
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
    // Unpublished first: a command arriving now starts a new app rather than reach a closing one.
    unpublish();
    const running = host.running();
    if (running.length) process.stdout.write(`Hostbox: suspending ${running.join(', ')} (signal again to power off instead)...\n`);
    for (const line of await host.suspendAll()) process.stdout.write(`  ${line}\n`);
    await host.close();
    await server.close();
    heldLock.release();
    process.exit(0);
  };
  if (args.exitWhenIdle) exitWhenIdle(host, () => void stop());
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
