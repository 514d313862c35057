// `hostbox`: the headless face of the host code. `hostbox run` boots a VM with its first serial port
// on this terminal, as `qemu-system-i386 -nographic` does: raw mode on a TTY, Ctrl-A X quits,
// Ctrl-A S suspends to the --state file, Ctrl-A F syncs host folders now, Ctrl-A Ctrl-A sends a
// literal Ctrl-A. `hostbox resume FILE`
// continues a suspended VM, or goes back to a snapshot the monitor took (cli-snapshots.ts). The exit code is 0 when the guest powers itself off or is suspended, 3
// when it halts with interrupts off (it can never go on).

import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { IDE_POSITIONS, VmmHost, packageRoot, type FolderSpec, type VmHandlers, type VmLaunchSpec } from './vmm-host.ts';
import { openMonitor, type Monitor } from './monitor.ts';
import { isSnapshotState, listSnapshots, revertTarget, snapshotFolder, takeSnapshot } from './cli-snapshots.ts';
import { remove } from './snapshot-files.ts';
import { parseForward, parseMac, type ParsedForward } from './backends/nat/forward-spec.ts';
import { describeSync } from './backends/host-folder/sync-summary.ts';
import type { EngineKind } from '../vmm/machine-api.ts';
import type { FakeMachineKind } from '../vmm/protocol.ts';
import { resolveDataDir } from './library/data-dir.ts';
import { LIBRARY_COMMANDS, LIBRARY_USAGE, libraryCommand, type LibraryCommand } from './cli-library.ts';

const USAGE = `Usage: hostbox run [options]
       hostbox resume FILE [--state FILE] [--monitor PATH] [--snapshots DIR]
       hostbox list|create|start|stop|shutdown|reset|delete ... (below)
       hostbox --help | --version

Boots a virtual PC with its first serial port on this terminal, or continues one from a state file
(resuming a snapshot's state goes back to that snapshot, on a fresh overlay over its disk).

Options for run:
  --config FILE     JSON with any of: memory, kernel, initrd, append, hda, cdrom, engine, bios
  --memory MIB      guest RAM in MiB (${4}-${3072}, default 256)
  --kernel FILE     Linux bzImage (boot protocol 2.06+) or Multiboot kernel to boot directly
  --initrd FILE     initial ramdisk for the kernel
  --append TEXT     kernel command line (e.g. "console=ttyS0")
  --hda FILE        raw disk image (first IDE disk)
  --cdrom FILE      ISO image (IDE CD-ROM)
  --folder DIR[,readonly]
                    a host folder as a FAT disk on the next free IDE position (repeatable);
                    what the guest changed is written back to DIR when the guest powers off,
                    at a suspend, and on Ctrl-A F or the monitor's sync (unmount it in the
                    guest first); with ,readonly the guest's changes are dropped instead
  --engine NAME     auto (= bt) | bt | interpreter | check (bt verified against the interpreter)
  --boot DEVICE     without --kernel, what the BIOS boots first: disk (default) or cdrom
  --bios FILE       BIOS image for booting without --kernel (default: Debian's SeaBIOS,
                    /usr/share/seabios/bios.bin, with its ISA VGA BIOS)
  --state FILE      where Ctrl-A S suspends the VM (resume: default the file resumed from)
  --monitor PATH    a Unix socket (mode 0600) taking one JSON command a line: status, suspend,
                    snapshot, snapshots, sync (host folders, now), power-button (ACPI), quit
  --snapshots DIR   where the monitor's snapshots go (default: DISK.snapshots beside the hard
                    disk, or ./hostbox-snapshots for a VM without one)
  --net MODE        user (default: an AMD PCnet NIC on user-mode NAT, 10.0.2.15 by DHCP)
                    or none (no network card)
  --mac MAC         the NIC's address (default 52:54:00:12:34:56)
  --host-access     the guest may reach this host's loopback services at 10.0.2.2
  --forward SPEC    host port to guest port, repeatable: tcp:HOSTPORT:GUESTPORT,
                    udp:HOSTPORT:GUESTPORT, tcp:[::1]:HOSTPORT:GUESTPORT, tcp:ADDR:HOSTPORT:GUESTPORT
                    (host side on 127.0.0.1 unless an address is given)
  --hostfwd SPEC    the same in QEMU's spelling: tcp:127.0.0.1:8080-:80

Without --kernel the PC starts its BIOS, which boots from its disks.

${LIBRARY_USAGE}
In the console: Ctrl-A X quits, Ctrl-A S suspends, Ctrl-A F syncs host folders now (unmount them in
the guest first), Ctrl-A Ctrl-A sends Ctrl-A, Ctrl-A H shows this help.
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
  net?: string;
  mac?: string;
  hostAccess?: boolean;
  forwards?: string[];
  folder?: string[];
}

const VALUE_FLAGS = ['config', 'memory', 'kernel', 'initrd', 'append', 'hda', 'cdrom', 'engine', 'bios', 'boot', 'net', 'mac', 'folder'] as const;
const REPEATED_FLAGS = ['forward', 'hostfwd'] as const;
/** Value flags that may be given more than once. */
const LIST_FLAGS = ['folder'];
const SWITCHES = ['host-access'] as const;
/** The NIC's address on the command line, QEMU's default, unless --mac says otherwise. */
export const CLI_MAC = '52:54:00:12:34:56';

/** The settings --config may hold: each checks its value, returning what it must be, or null when it is fine. */
const text = (v: unknown): string | null => (typeof v === 'string' ? null : 'a string');
const strings = (v: unknown): string | null => (Array.isArray(v) && v.every((s) => typeof s === 'string') ? null : 'a list of strings');
const CONFIG_SETTINGS: Record<string, (v: unknown) => string | null> = {
  memory: (v) => (typeof v === 'number' && Number.isInteger(v) ? null : 'a whole number of MiB'),
  kernel: text,
  initrd: text,
  append: text,
  hda: text,
  cdrom: text,
  engine: text,
  bios: text,
  boot: text,
  net: text,
  mac: text,
  hostAccess: (v) => (typeof v === 'boolean' ? null : 'true or false'),
  forwards: strings,
  folder: (v) => (strings(v) ? 'a list of "DIR" or "DIR,readonly" strings' : null),
};

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
  const forwardSpecs: string[] = [];
  let hostAccessFlag = false;
  for (let k = 0; k < args.length; k++) {
    const a = args[k]!;
    const eq = a.indexOf('=');
    const name = a.startsWith('--') ? a.slice(2, eq > 0 ? eq : undefined) : '';
    if ((SWITCHES as readonly string[]).includes(name) && eq < 0) {
      hostAccessFlag = true;
      continue;
    }
    const repeated = (REPEATED_FLAGS as readonly string[]).includes(name);
    if (!(VALUE_FLAGS as readonly string[]).includes(name) && !repeated) throw new UsageError(`unknown option ${a} (see hostbox --help)`);
    let value: string | undefined = eq > 0 ? a.slice(eq + 1) : args[++k];
    if (value === undefined) throw new UsageError(`option --${name} needs a value`);
    if (repeated) forwardSpecs.push(value);
    else if (LIST_FLAGS.includes(name)) (lists[name] ??= []).push(value);
    else flags[name] = value;
  }
  let opts: RunOptions = {};
  if (flags.config !== undefined) {
    const path = flags.config;
    if (!existsSync(path)) throw new UsageError(`config file ${path} does not exist`);
    let parsed: unknown;
    try {
      parsed = JSON.parse(readFileSync(path, 'utf8'));
    } catch (e) {
      throw new UsageError(`config file ${path} is not valid JSON: ${(e as Error).message}`);
    }
    if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw new UsageError(`config file ${path} must hold a JSON object`);
    for (const [key, value] of Object.entries(parsed)) {
      if (!Object.hasOwn(CONFIG_SETTINGS, key)) throw new UsageError(`config file ${path}: unknown setting "${key}"`);
      const problem = CONFIG_SETTINGS[key]!(value);
      if (problem) throw new UsageError(`config file ${path}: "${key}" must be ${problem}`);
    }
    opts = parsed as RunOptions;
  }
  for (const k of ['kernel', 'initrd', 'append', 'hda', 'cdrom', 'engine', 'bios', 'boot', 'net', 'mac'] as const) if (flags[k] !== undefined) opts[k] = flags[k];
  const netMode = opts.net ?? 'user';
  if (netMode !== 'user' && netMode !== 'none') throw new UsageError(`--net ${netMode} is not a network mode: use user or none`);
  const forwards: ParsedForward[] = [];
  for (const spec of [...(opts.forwards ?? []), ...forwardSpecs]) {
    try {
      forwards.push(parseForward(spec));
    } catch (e) {
      throw new UsageError((e as Error).message);
    }
  }
  const mac = opts.mac ?? CLI_MAC;
  try {
    parseMac(mac);
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
  if (netMode === 'none' && (forwards.length || hostAccessFlag)) throw new UsageError('--forward and --host-access need a network: drop --net none');
  let memory = opts.memory ?? 256;
  if (flags.memory !== undefined) {
    if (!/^\d+$/.test(flags.memory)) throw new UsageError(`--memory ${flags.memory} is not a whole number of MiB`);
    memory = Number(flags.memory);
  }
  const engine = (opts.engine ?? 'auto') as EngineKind;
  // QEMU's letters are accepted too: c is the hard disk, d the CD.
  const bootNames: Record<string, 'disk' | 'cdrom'> = { disk: 'disk', c: 'disk', cdrom: 'cdrom', d: 'cdrom' };
  if (opts.boot !== undefined && !Object.hasOwn(bootNames, opts.boot)) throw new UsageError(`--boot ${opts.boot} is not a boot device: use disk or cdrom`);
  const resolve = (p?: string): string | undefined => (p === undefined ? undefined : p.startsWith('/') ? p : join(cwd, p));
  const folders = lists.folder ?? opts.folder ?? [];
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
    diskOwner: 'hostbox run',
    // Disks of the app's VMs may be run here (their locks keep the app off them meanwhile); its other files may not.
    imageScope: { dataDir: resolveDataDir() },
    net: { mode: netMode, mac, hostAccess: hostAccessFlag || opts.hostAccess === true, forwards },
  };
}

/** Takes --state, --monitor and --snapshots out of the arguments (they are about this session, not the VM). */
function sessionArgs(args: string[]): { rest: string[]; state?: string; monitor?: string; snapshots?: string } {
  const rest: string[] = [];
  const out: { state?: string; monitor?: string; snapshots?: string } = {};
  for (let k = 0; k < args.length; k++) {
    const a = args[k]!;
    const m = /^--(state|monitor|snapshots)(?:=(.*))?$/.exec(a);
    if (!m) {
      rest.push(a);
      continue;
    }
    const value = m[2] ?? args[++k];
    if (value === undefined || value === '') throw new UsageError(`option --${m[1]} needs a value`);
    out[m[1] as 'state' | 'monitor' | 'snapshots'] = value.startsWith('/') ? value : join(process.cwd(), value);
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
  /** --snapshots DIR, if given. */
  snapshotDir?: string;
}

async function run(launch: VmLaunchSpec | { resume: string }, session: Session): Promise<number> {
  // Resuming a snapshot's state goes back to it: on a fresh overlay, its own disk left frozen.
  const revert = 'resume' in launch ? await revertTarget(launch.resume) : null;
  /** The snapshot the VM runs from (the parent of the next one), and the overlay its disk writes go to. */
  let current: { name: string; overlay?: string } | null = revert ? { name: revert.label.name, overlay: revert.hdaPath } : null;
  if (revert)
    process.stderr.write(`hostbox: back to snapshot ${revert.label.name}${revert.hdaPath ? `; the disk's writes go to ${revert.hdaPath}` : ''}\r\n`);
  const out = process.stdout;
  if (!('resume' in launch))
    for (const f of launch.net?.forwards ?? [])
    if ((f as ParsedForward).exposed) process.stderr.write(`hostbox: warning: port forward ${f.proto} ${f.hostAddress}:${f.hostPort} accepts connections from other machines\n`);
  const stdin = process.stdin;
  // Tests only: a stand-in machine, which exists only in the test build of the VMM (not in packages).
  const fake = process.env.HOSTBOX_FAKE_MACHINE as FakeMachineKind | undefined;
  if (fake !== undefined && fake !== 'echo' && fake !== 'crash') throw new UsageError(`HOSTBOX_FAKE_MACHINE=${fake} is not a stand-in machine (echo or crash)`);
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
    folderSync: (f, report, error, moment) => {
      for (const l of describeSync(f.disk.folder, f.disk.readOnly, report, moment, error)) process.stderr.write(`\r\nhostbox: ${l}\r\n`);
    },
  };
  // The monitor socket exists before the VM starts, so a script can wait for it to appear.
  let monitor: Monitor | null = null;
  let vm: VmmHost | null = null;
  let suspending = false;
  let snapshotting = false;
  const suspend = async (file: string): Promise<string> => {
    if (!vm) throw new Error('the VM is not running yet');
    if (suspending || snapshotting) throw new Error(`a ${suspending ? 'suspend' : 'snapshot'} is already under way`);
    suspending = true;
    try {
      const r = await vm.suspend(file);
      process.stderr.write(`\r\nhostbox: suspended to ${r.file} (${(r.bytes / 1048576).toFixed(1)} MiB in ${(r.ms / 1000).toFixed(2)} s); continue with: hostbox resume ${r.file}\r\n`);
      if (process.env.HOSTBOX_VERBOSE && r.phases) process.stderr.write(`hostbox: suspend phases (ms): ${Object.entries(r.phases).map(([k, v]) => `${k} ${v.toFixed(0)}`).join(', ')}\r\n`);
      return r.file;
    } finally {
      suspending = false;
    }
  };
  const snapshotsFolder = (): string => snapshotFolder(session.snapshotDir ?? revert?.folder, vm?.hdaPath);
  const snapshot = async (name: string): Promise<object> => {
    if (!vm) throw new Error('the VM is not running yet');
    if (suspending || snapshotting) throw new Error(`a ${suspending ? 'suspend' : 'snapshot'} is already under way`);
    snapshotting = true;
    try {
      const folder = snapshotsFolder();
      const r = await takeSnapshot(vm, folder, name, current?.name);
      current = { name, overlay: r.hdaPath };
      process.stderr.write(
        `\r\nhostbox: snapshot ${name} taken (${(r.bytes / 1048576).toFixed(1)} MiB in ${(r.ms / 1000).toFixed(2)} s)${r.hdaPath ? `; the disk's writes now go to ${r.hdaPath}` : ''}; go back to it with: hostbox resume ${r.file}\r\n`,
      );
      return { name, file: r.file, folder, ...(r.hdaPath ? { disk: r.hdaPath, frozen: r.frozenDisk } : {}), bytes: r.bytes, ms: Math.round(r.ms) };
    } finally {
      snapshotting = false;
    }
  };
  const syncNow = async (force: boolean): Promise<{ lines: string[]; error?: string }> => {
    if (!vm) throw new Error('the VM is not running yet');
    const results = await vm.syncFoldersNow({ force });
    const lines = results.flatMap((r) => describeSync(r.folder.disk.folder, r.folder.disk.readOnly, r.report, 'now', r.error));
    for (const l of lines) process.stderr.write(`\r\nhostbox: ${l}\r\n`);
    const failed = results.find((r) => r.error);
    return failed ? { lines, error: `folder ${failed.folder.disk.folder} was not synced: ${failed.error!.message}` } : { lines };
  };
  if (session.monitorPath) {
    monitor = await openMonitor(session.monitorPath, {
      status: () => (vm ? (suspending ? 'suspending' : snapshotting ? 'snapshotting' : 'running') : 'starting'),
      suspend: async (file) => {
        const target = file ?? session.stateFile;
        if (!target) throw new Error('say where: {"cmd":"suspend","file":PATH} (or start with --state FILE)');
        return suspend(target);
      },
      afterSuspend: () => finish(0),
      snapshot,
      snapshots: async () => {
        const folder = snapshotsFolder();
        return { folder, snapshots: listSnapshots(folder), ...(current ? { current: current.name } : {}) };
      },
      sync: syncNow,
      powerButton: () => {
        if (!vm) throw new Error('the VM is not running yet');
        vm.powerButton();
      },
      quit: () => {
        void vm?.stop().then(() => finish(0));
        if (!vm) finish(0);
      },
    });
  }
  try {
    const t0 = performance.now();
    if ('resume' in launch) {
      vm = await VmmHost.resume(launch.resume, handlers, { ...(fake ? { fake } : {}), ...(revert?.hdaPath ? { hdaPath: revert.hdaPath } : {}) });
      process.stderr.write(`hostbox: resumed from ${launch.resume} in ${((performance.now() - t0) / 1000).toFixed(2)} s\r\n`);
    } else vm = await VmmHost.start(launch, handlers, fake ? { fake } : {});
  } catch (e) {
    await monitor?.close();
    if (revert?.hdaPath) await remove(revert.hdaPath).catch(() => {});
    throw e;
  }
  const theVm = vm;
  for (const f of theVm.folders) {
    const s = f.disk.scan;
    const what = s
      ? `${s.files} files, ${s.dirs} directories, attached in ${f.disk.attachMs.toFixed(0)} ms${s.skipped.length ? `, ${s.skipped.length} entries left out (HOSTBOX_VERBOSE=1 lists them)` : ''}`
      : 'as it was at the suspend';
    process.stderr.write(`hostbox: folder ${f.disk.folder}${f.disk.readOnly ? ' (read-only)' : ''} is IDE ${IDE_POSITIONS[f.slot]} (${f.slot}): FAT${f.disk.fatType}, ${what}\r\n`);
  }
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
        if (b === 0x66 || b === 0x46) {
          syncNow(false).catch((e: unknown) => process.stderr.write(`\r\nhostbox: ${(e as Error).message}\r\n`));
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
  // The user's own disk is frozen under the snapshots: say where its later changes are.
  if (current?.overlay) process.stderr.write(`hostbox: the disk's changes since snapshot ${current.name} are in ${current.overlay}\n`);
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
      const { rest: files, state, monitor, snapshots } = sessionArgs(rest);
      if (files.length !== 1 || files[0]!.startsWith('--')) throw new UsageError('hostbox resume takes one state file (and optionally --state FILE, --monitor PATH)');
      const file = files[0]!.startsWith('/') ? files[0]! : join(process.cwd(), files[0]!);
      // Ctrl-A S never writes over a snapshot: it suspends to --state only.
      return await run({ resume: file }, { stateFile: state ?? (isSnapshotState(file) ? undefined : file), monitorPath: monitor, snapshotDir: snapshots });
    }
    if ((LIBRARY_COMMANDS as readonly string[]).includes(cmd)) return await libraryCommand(cmd as LibraryCommand, rest, { dataDir: resolveDataDir(), parseRunArgs: (a) => parseRunArgs(a), runDefaultMac: CLI_MAC });
    if (cmd !== 'run') throw new UsageError(`unknown command "${cmd}" (see hostbox --help)`);
    const { rest: vmArgs, state, monitor, snapshots } = sessionArgs(rest);
    return await run(parseRunArgs(vmArgs), { stateFile: state, monitorPath: monitor, snapshotDir: snapshots });
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
