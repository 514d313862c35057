// `hostbox`: the headless face of the host code. `hostbox run` boots a VM with its first serial port
// on this terminal, as `qemu-system-i386 -nographic` does: raw mode on a TTY, Ctrl-A X quits,
// Ctrl-A S suspends to the --state file, Ctrl-A Ctrl-A sends a literal Ctrl-A. `hostbox resume FILE`
// continues a suspended VM. The exit code is 0 when the guest powers itself off or is suspended, 3
// when it halts with interrupts off (it can never go on).

import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { VmmHost, packageRoot, type VmHandlers, type VmLaunchSpec } from './vmm-host.ts';
import { openMonitor, type Monitor } from './monitor.ts';
import type { EngineKind } from '../vmm/machine-api.ts';
import type { FakeMachineKind } from '../vmm/protocol.ts';

const USAGE = `Usage: hostbox run [options]
       hostbox resume FILE [--state FILE] [--monitor PATH]
       hostbox --help | --version

Boots a virtual PC with its first serial port on this terminal, or continues one from a state file.

Options for run:
  --config FILE     JSON with any of: memory, kernel, initrd, append, hda, cdrom, engine, bios
  --memory MIB      guest RAM in MiB (${4}-${3072}, default 256)
  --kernel FILE     Linux bzImage to boot directly (boot protocol 2.06+)
  --initrd FILE     initial ramdisk for the kernel
  --append TEXT     kernel command line (e.g. "console=ttyS0")
  --hda FILE        raw disk image (first IDE disk)
  --cdrom FILE      ISO image (IDE CD-ROM)
  --engine NAME     auto (= bt) | bt | interpreter | check (bt verified against the interpreter)
  --boot DEVICE     without --kernel, what the BIOS boots first: disk (default) or cdrom
  --bios FILE       BIOS image for booting without --kernel (default: Debian's SeaBIOS,
                    /usr/share/seabios/bios.bin, with its ISA VGA BIOS)
  --state FILE      where Ctrl-A S suspends the VM (resume: default the file resumed from)
  --monitor PATH    a Unix socket (mode 0600) taking one JSON command a line: status, suspend, quit

Without --kernel the PC starts its BIOS, which boots from its disks.

In the console: Ctrl-A X quits, Ctrl-A S suspends, Ctrl-A Ctrl-A sends Ctrl-A, Ctrl-A H shows this help.
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
}

const VALUE_FLAGS = ['config', 'memory', 'kernel', 'initrd', 'append', 'hda', 'cdrom', 'engine', 'bios', 'boot'] as const;

export function parseRunArgs(args: string[], cwd = process.cwd()): VmLaunchSpec {
  const flags: Record<string, string> = {};
  for (let k = 0; k < args.length; k++) {
    const a = args[k]!;
    const eq = a.indexOf('=');
    const name = a.startsWith('--') ? a.slice(2, eq > 0 ? eq : undefined) : '';
    if (!(VALUE_FLAGS as readonly string[]).includes(name)) throw new UsageError(`unknown option ${a} (see hostbox --help)`);
    let value: string | undefined = eq > 0 ? a.slice(eq + 1) : args[++k];
    if (value === undefined) throw new UsageError(`option --${name} needs a value`);
    flags[name] = value;
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
      if (!['memory', 'kernel', 'initrd', 'append', 'hda', 'cdrom', 'engine', 'bios', 'boot'].includes(key)) throw new UsageError(`config file ${path}: unknown setting "${key}"`);
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
    // This terminal is the only screen: let the BIOS show itself on it.
    biosSerialConsole: true,
  };
}

/** Takes --state and --monitor out of the arguments (they are about this session, not the VM). */
function sessionArgs(args: string[]): { rest: string[]; state?: string; monitor?: string } {
  const rest: string[] = [];
  const out: { state?: string; monitor?: string } = {};
  for (let k = 0; k < args.length; k++) {
    const a = args[k]!;
    const m = /^--(state|monitor)(?:=(.*))?$/.exec(a);
    if (!m) {
      rest.push(a);
      continue;
    }
    const value = m[2] ?? args[++k];
    if (value === undefined || value === '') throw new UsageError(`option --${m[1]} needs a value`);
    out[m[1] as 'state' | 'monitor'] = value.startsWith('/') ? value : join(process.cwd(), value);
  }
  return { rest, ...out };
}

function version(): string {
  try {
    return (JSON.parse(readFileSync(join(packageRoot(), 'package.json'), 'utf8')) as { version: string }).version;
  } catch {
    return 'unknown';
  }
}

interface Session {
  /** Where Ctrl-A S and a monitor "suspend" without a file write the state. */
  stateFile?: string;
  monitorPath?: string;
}

async function run(launch: VmLaunchSpec | { resume: string }, session: Session): Promise<number> {
  const out = process.stdout;
  const stdin = process.stdin;
  const fake = process.env.HOSTBOX_FAKE_MACHINE as FakeMachineKind | undefined;
  let finish: (code: number) => void = () => {};
  const done = new Promise<number>((r) => (finish = r));
  const handlers: VmHandlers = {
    serial: (port, data) => {
      if (port === 0) out.write(data);
    },
    screen: () => {},
    state: (s, detail) => {
      if (s === 'poweroff') finish(0);
      else if (s === 'halted') {
        // Nothing can wake it: say so and end, rather than look like a slow guest.
        process.stderr.write(`\r\nhostbox: the guest halted with interrupts off at ${detail ?? '?'}\r\n`);
        finish(3);
      } else if (s === 'crashed') {
        process.stderr.write(`\r\nhostbox: the VM crashed: ${(detail ?? '').split('\n')[0]}\r\n`);
        finish(1);
      }
    },
    log: (level: string, msg: string) => {
      if (level !== 'info' || process.env.HOSTBOX_VERBOSE) process.stderr.write(`\r\nhostbox: ${msg}\r\n`);
    },
  };
  // The monitor socket exists before the VM starts, so a script can wait for it to appear.
  let monitor: Monitor | null = null;
  let vm: VmmHost | null = null;
  let suspending = false;
  const suspend = async (file: string): Promise<string> => {
    if (!vm) throw new Error('the VM is not running yet');
    if (suspending) throw new Error('a suspend is already under way');
    suspending = true;
    try {
      const r = await vm.suspend(file);
      process.stderr.write(`\r\nhostbox: suspended to ${r.file} (${(r.bytes / 1048576).toFixed(1)} MiB in ${(r.ms / 1000).toFixed(2)} s); continue with: hostbox resume ${r.file}\r\n`);
      return r.file;
    } finally {
      suspending = false;
    }
  };
  if (session.monitorPath) {
    monitor = await openMonitor(session.monitorPath, {
      status: () => (vm ? (suspending ? 'suspending' : 'running') : 'starting'),
      suspend: async (file) => {
        const target = file ?? session.stateFile;
        if (!target) throw new Error('say where: {"cmd":"suspend","file":PATH} (or start with --state FILE)');
        return suspend(target);
      },
      afterSuspend: () => finish(0),
      quit: () => {
        void vm?.stop().then(() => finish(0));
        if (!vm) finish(0);
      },
    });
  }
  try {
    const t0 = performance.now();
    if ('resume' in launch) {
      vm = await VmmHost.resume(launch.resume, handlers, fake ? { fake } : {});
      process.stderr.write(`hostbox: resumed from ${launch.resume} in ${((performance.now() - t0) / 1000).toFixed(2)} s\r\n`);
    } else vm = await VmmHost.start(launch, handlers, fake ? { fake } : {});
  } catch (e) {
    await monitor?.close();
    throw e;
  }
  const theVm = vm;
  const tty = stdin.isTTY === true;
  if (tty) stdin.setRawMode(true);
  let escape = false;
  stdin.on('data', (chunk: Buffer) => {
    if (!tty) {
      theVm.sendSerial(0, new Uint8Array(chunk));
      return;
    }
    const pass: number[] = [];
    for (const b of chunk) {
      if (escape) {
        escape = false;
        if (b === 0x78 || b === 0x58) {
          process.stderr.write('\r\nhostbox: terminated\r\n');
          void theVm.stop().then(() => finish(0));
          return;
        }
        if (b === 0x73 || b === 0x53) {
          if (!session.stateFile) process.stderr.write('\r\nhostbox: nowhere to suspend to: start with --state FILE\r\n');
          else
            suspend(session.stateFile).then(
              () => finish(0),
              (e: unknown) => process.stderr.write(`\r\nhostbox: ${(e as Error).message}; the VM runs on\r\n`),
            );
          continue;
        }
        if (b === 0x68 || b === 0x48) process.stderr.write('\r\n' + USAGE.split('\n').slice(-2).join('\r\n'));
        else if (b === 0x01) pass.push(0x01);
        continue;
      }
      if (b === 0x01) escape = true;
      else pass.push(b);
    }
    if (pass.length) theVm.sendSerial(0, new Uint8Array(pass));
  });
  // EOF on a pipe leaves the VM running: a script may feed commands and then wait for poweroff.
  stdin.on('end', () => {});
  const code = await done;
  if (tty) stdin.setRawMode(false);
  stdin.pause();
  await theVm.stop();
  await monitor?.close();
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
    if (cmd === 'resume') {
      const { rest: files, state, monitor } = sessionArgs(rest);
      if (files.length !== 1 || files[0]!.startsWith('--')) throw new UsageError('hostbox resume takes one state file (and optionally --state FILE, --monitor PATH)');
      const file = files[0]!.startsWith('/') ? files[0]! : join(process.cwd(), files[0]!);
      return await run({ resume: file }, { stateFile: state ?? file, monitorPath: monitor });
    }
    if (cmd !== 'run') throw new UsageError(`unknown command "${cmd}" (see hostbox --help)`);
    const { rest: vmArgs, state, monitor } = sessionArgs(rest);
    return await run(parseRunArgs(vmArgs), { stateFile: state, monitorPath: monitor });
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
