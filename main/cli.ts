// `hostbox`: the headless face of the host code. `hostbox run` boots a VM with its first serial port
// on this terminal, as `qemu-system-i386 -nographic` does: raw mode on a TTY, Ctrl-A X quits,
// Ctrl-A Ctrl-A sends a literal Ctrl-A. The exit code is 0 when the guest powers itself off.

import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { IDE_POSITIONS, VmmHost, packageRoot, type FolderSpec, type VmLaunchSpec } from './vmm-host.ts';
import { describeSync } from './backends/host-folder/sync-summary.ts';
import type { EngineKind } from '../vmm/machine-api.ts';
import type { FakeMachineKind } from '../vmm/protocol.ts';

const USAGE = `Usage: hostbox run [options]
       hostbox --help | --version

Boots a virtual PC with its first serial port on this terminal.

Options for run:
  --config FILE     JSON with any of: memory, kernel, initrd, append, hda, cdrom, engine, bios
  --memory MIB      guest RAM in MiB (${4}-${3072}, default 256)
  --kernel FILE     Linux bzImage to boot directly (boot protocol 2.06+)
  --initrd FILE     initial ramdisk for the kernel
  --append TEXT     kernel command line (e.g. "console=ttyS0")
  --hda FILE        raw disk image (first IDE disk)
  --cdrom FILE      ISO image (IDE CD-ROM)
  --folder DIR[,readonly]
                    a host folder as a FAT disk on the next free IDE position (repeatable);
                    what the guest changed is written back to DIR when the guest powers off
                    (with ,readonly the guest's changes are dropped instead)
  --engine NAME     interpreter | bt | auto (default auto)
  --boot DEVICE     without --kernel, what the BIOS boots first: disk (default) or cdrom
  --bios FILE       BIOS image for booting without --kernel (default: Debian's SeaBIOS,
                    /usr/share/seabios/bios.bin, with its ISA VGA BIOS)

Without --kernel the PC starts its BIOS, which boots from its disks.

In the console: Ctrl-A X quits, Ctrl-A Ctrl-A sends Ctrl-A, Ctrl-A H shows this help.
`;

class UsageError extends Error {}

interface RunOptions {
  memory?: number;
  kernel?: string;
  initrd?: string;
  append?: string;
  hda?: string;
  cdrom?: string;
  engine?: string;
  bios?: string;
  boot?: string;
  folder?: string[];
}

const VALUE_FLAGS = ['config', 'memory', 'kernel', 'initrd', 'append', 'hda', 'cdrom', 'engine', 'bios', 'boot', 'folder'] as const;
/** Flags that may be given more than once. */
const LIST_FLAGS = ['folder'];

/** `DIR` or `DIR,readonly`. */
function parseFolder(value: string, resolve: (p: string) => string): FolderSpec {
  const m = /^(.*?)(,readonly|,ro)?$/.exec(value)!;
  if (m[1] === '') throw new UsageError(`--folder ${value}: give a directory (DIR or DIR,readonly)`);
  if (m[1]!.includes(',') && !existsSync(m[1]!)) throw new UsageError(`--folder ${value}: the only option after a comma is readonly`);
  return { path: resolve(m[1]!), readOnly: m[2] !== undefined };
}

export function parseRunArgs(args: string[], cwd = process.cwd()): VmLaunchSpec {
  const flags: Record<string, string> = {};
  const lists: Record<string, string[]> = {};
  for (let k = 0; k < args.length; k++) {
    const a = args[k]!;
    const eq = a.indexOf('=');
    const name = a.startsWith('--') ? a.slice(2, eq > 0 ? eq : undefined) : '';
    if (!(VALUE_FLAGS as readonly string[]).includes(name)) throw new UsageError(`unknown option ${a} (see hostbox --help)`);
    let value: string | undefined = eq > 0 ? a.slice(eq + 1) : args[++k];
    if (value === undefined) throw new UsageError(`option --${name} needs a value`);
    if (LIST_FLAGS.includes(name)) (lists[name] ??= []).push(value);
    else flags[name] = value;
  }
  let opts: RunOptions = {};
  if (flags.config) {
    const path = flags.config;
    if (!existsSync(path)) throw new UsageError(`config file ${path} does not exist`);
    let parsed: unknown;
    try {
      parsed = JSON.parse(readFileSync(path, 'utf8'));
    } catch (e) {
      throw new UsageError(`config file ${path} is not valid JSON: ${(e as Error).message}`);
    }
    if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw new UsageError(`config file ${path} must hold a JSON object`);
    for (const key of Object.keys(parsed)) {
      if (!['memory', 'kernel', 'initrd', 'append', 'hda', 'cdrom', 'engine', 'bios', 'boot', 'folder'].includes(key)) throw new UsageError(`config file ${path}: unknown setting "${key}"`);
    }
    opts = parsed as RunOptions;
  }
  for (const k of ['kernel', 'initrd', 'append', 'hda', 'cdrom', 'engine', 'bios', 'boot'] as const) if (flags[k] !== undefined) opts[k] = flags[k];
  let memory = opts.memory ?? 256;
  if (flags.memory !== undefined) {
    if (!/^\d+$/.test(flags.memory)) throw new UsageError(`--memory ${flags.memory} is not a whole number of MiB`);
    memory = Number(flags.memory);
  }
  const engine = (opts.engine ?? 'auto') as EngineKind;
  // QEMU's letters are accepted too: c is the hard disk, d the CD.
  const bootNames: Record<string, 'disk' | 'cdrom'> = { disk: 'disk', c: 'disk', cdrom: 'cdrom', d: 'cdrom' };
  if (opts.boot !== undefined && !bootNames[opts.boot]) throw new UsageError(`--boot ${opts.boot} is not a boot device: use disk or cdrom`);
  const resolve = (p?: string): string | undefined => (p === undefined ? undefined : p.startsWith('/') ? p : join(cwd, p));
  const configFolders = opts.folder === undefined ? [] : Array.isArray(opts.folder) && opts.folder.every((f) => typeof f === 'string') ? opts.folder : null;
  if (configFolders === null) throw new UsageError('config setting "folder" must be a list of "DIR" or "DIR,readonly" strings');
  const folders = lists.folder ?? configFolders;
  return {
    memoryMiB: memory,
    engine,
    kernelPath: resolve(opts.kernel),
    initrdPath: resolve(opts.initrd),
    cmdline: opts.append,
    hdaPath: resolve(opts.hda),
    cdromPath: resolve(opts.cdrom),
    biosPath: resolve(opts.bios),
    bootFrom: opts.boot === undefined ? undefined : bootNames[opts.boot],
    folders: folders.map((f) => parseFolder(f, (p) => resolve(p)!)),
    // This terminal is the only screen: let the BIOS show itself on it.
    biosSerialConsole: true,
  };
}

function version(): string {
  try {
    return (JSON.parse(readFileSync(join(packageRoot(), 'package.json'), 'utf8')) as { version: string }).version;
  } catch {
    return 'unknown';
  }
}

async function run(spec: VmLaunchSpec): Promise<number> {
  const out = process.stdout;
  const stdin = process.stdin;
  const fake = process.env.HOSTBOX_FAKE_MACHINE as FakeMachineKind | undefined;
  let finish: (code: number) => void = () => {};
  const done = new Promise<number>((r) => (finish = r));
  const vm = await VmmHost.start(
    spec,
    {
      serial: (port, data) => {
        if (port === 0) out.write(data);
      },
      screen: () => {},
      state: (s, detail) => {
        if (s === 'poweroff') finish(0);
        else if (s === 'crashed') {
          process.stderr.write(`\r\nhostbox: the VM crashed: ${(detail ?? '').split('\n')[0]}\r\n`);
          finish(1);
        }
      },
      log: (level, msg) => {
        if (level !== 'info' || process.env.HOSTBOX_VERBOSE) process.stderr.write(`\r\nhostbox: ${msg}\r\n`);
      },
      folderSync: (f, report, error) => {
        const lines = error ? [`folder ${f.disk.folder} was not synced: ${error.message}; the folder is unchanged`] : describeSync(f.disk.folder, f.disk.readOnly, report);
        for (const l of lines) process.stderr.write(`hostbox: ${l}\r\n`);
      },
    },
    fake ? { fake } : {},
  );
  for (const f of vm.folders) {
    const s = f.disk.scan;
    process.stderr.write(
      `hostbox: folder ${f.disk.folder}${f.disk.readOnly ? ' (read-only)' : ''} is IDE ${IDE_POSITIONS[f.slot]} (${f.slot}): FAT${f.disk.image.geometry.fatType}, ${s.files} files, ${s.dirs} directories, attached in ${f.disk.attachMs.toFixed(0)} ms${s.skipped.length ? `, ${s.skipped.length} entries left out (HOSTBOX_VERBOSE=1 lists them)` : ''}\r\n`,
    );
  }
  const tty = stdin.isTTY === true;
  if (tty) stdin.setRawMode(true);
  let escape = false;
  stdin.on('data', (chunk: Buffer) => {
    if (!tty) {
      vm.sendSerial(0, new Uint8Array(chunk));
      return;
    }
    const pass: number[] = [];
    for (const b of chunk) {
      if (escape) {
        escape = false;
        if (b === 0x78 || b === 0x58) {
          process.stderr.write('\r\nhostbox: terminated\r\n');
          void vm.stop().then(() => finish(0));
          return;
        }
        if (b === 0x68 || b === 0x48) process.stderr.write('\r\n' + USAGE.split('\n').slice(-2).join('\r\n'));
        else if (b === 0x01) pass.push(0x01);
        continue;
      }
      if (b === 0x01) escape = true;
      else pass.push(b);
    }
    if (pass.length) vm.sendSerial(0, new Uint8Array(pass));
  });
  // EOF on a pipe leaves the VM running: a script may feed commands and then wait for poweroff.
  stdin.on('end', () => {});
  const code = await done;
  if (tty) stdin.setRawMode(false);
  stdin.pause();
  await vm.stop();
  return code;
}

export async function main(argv: string[]): Promise<number> {
  const [cmd, ...rest] = argv;
  try {
    if (cmd === undefined || cmd === '--help' || cmd === '-h' || cmd === 'help') {
      process.stdout.write(USAGE);
      return cmd === undefined ? 2 : 0;
    }
    if (cmd === '--version' || cmd === '-V') {
      process.stdout.write(`hostbox ${version()}\n`);
      return 0;
    }
    if (cmd !== 'run') throw new UsageError(`unknown command "${cmd}" (see hostbox --help)`);
    return await run(parseRunArgs(rest));
  } catch (e) {
    process.stderr.write(`hostbox: ${(e as Error).message}\n`);
    return 2;
  }
}

const invokedDirectly = process.argv[1] !== undefined && /cli\.(js|ts|mjs)$/.test(process.argv[1]);
if (invokedDirectly) {
  main(process.argv.slice(2)).then(
    (code) => process.exit(code),
    (e: unknown) => {
      process.stderr.write(`hostbox: ${(e as Error).message}\n`);
      process.exit(1);
    },
  );
}
