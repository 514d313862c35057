// The library commands of `hostbox`, as vmrun and VBoxManage give them: list, create, start, stop,
// reset, shutdown, delete, each naming a VM of the library by its name.
//
// They go through the app that has the data folder open when there is one (library-session.ts), so a
// VM never runs twice. Without one, list, create and delete open the library themselves (holding
// its lock meanwhile), and start starts the app in the background first (web mode, ending by itself
// once no VM has run for a while, as VBoxManage brings up VBoxSVC); stop, reset and shutdown then
// have nothing to act on. Exit status: 0 done, 1 the command could not be carried out (no such VM,
// already running, not running, the app unreachable), 2 bad arguments; each failure is one line.

import type { EngineSetting, HostApi, VmCreateSettings, VmInfo, VmPower } from './api-types.ts';
import type { AppEndpoint } from './app-endpoint.ts';
import { formatForward, type ParsedForward } from './backends/nat/forward-spec.ts';
import { defaultSettings } from './library/vm-settings.ts';
import type { VmLaunchSpec } from './vmm-host.ts';
import { openSession, type Session } from './library-session.ts';

export const LIBRARY_COMMANDS = ['list', 'create', 'start', 'stop', 'reset', 'shutdown', 'delete'] as const;
export type LibraryCommand = (typeof LIBRARY_COMMANDS)[number];

export const LIBRARY_USAGE = `Library commands (the VMs of the app; through the app when it is open):
  hostbox list [--json]             the VMs and their state (off, running, suspended, crashed)
  hostbox create NAME [options]     a new VM, with the options of run (not --bios, --state, --monitor)
  hostbox start NAME [--headless]   power it on, its first serial port on this terminal
                                    (Ctrl-A X powers it off, Ctrl-A D leaves it running);
                                    --headless returns at once and leaves it running
  hostbox stop NAME                 power it off at once (the plug)
  hostbox shutdown NAME             press its ACPI power button (the guest shuts down)
  hostbox reset NAME                reset it (the reset button)
  hostbox delete NAME               remove it and its folder (disks made for it); it must be off
`;

/** The state of a VM as `list` reports it: the four states vmrun and VBoxManage users script against. */
export type ListState = 'off' | 'running' | 'suspended' | 'crashed';

export function listState(power: VmPower): ListState {
  switch (power) {
    case 'starting':
    case 'running':
    // Halted guests still hold their VMM and can be reset, and a suspend under way can still fail
    // and leave the guest running: running, as far as a script is concerned.
    case 'halted':
    case 'suspending':
      return 'running';
    case 'crashed':
      return 'crashed';
    case 'suspended':
      return 'suspended';
    default:
      return 'off';
  }
}

const isRunning = (vm: VmInfo): boolean => listState(vm.power) === 'running';

class UsageError extends Error {}
class CommandError extends Error {}

async function findVm(api: HostApi, name: string, dataDir: string): Promise<VmInfo> {
  const vms = await api.listVms();
  // Names are unique regardless of case; an exact match wins, and a VM's id works too.
  const vm = vms.find((v) => v.name === name) ?? vms.find((v) => v.name.toLowerCase() === name.toLowerCase()) ?? vms.find((v) => v.id === name);
  if (!vm) throw new CommandError(`no VM named "${name}" in the library ${dataDir} (hostbox list shows them)`);
  return vm;
}

/** NAME and the switches a command allows; anything else is a usage error. */
function nameAndSwitches(cmd: string, args: string[], switches: string[]): { name: string; on: Set<string> } {
  const on = new Set<string>();
  const names: string[] = [];
  for (const a of args) {
    if (a.startsWith('--')) {
      if (!switches.includes(a)) throw new UsageError(`hostbox ${cmd}: unknown option ${a}${switches.length ? ` (it takes ${switches.join(', ')})` : ''}`);
      on.add(a);
    } else names.push(a);
  }
  if (names.length !== 1) throw new UsageError(`hostbox ${cmd} takes one VM name${names.length > 1 ? ` (quote a name with spaces: "${names.join(' ')}")` : ''}`);
  return { name: names[0]!, on };
}

/** Flag names as a user types them, for the settings fields the library checks. */
const FIELD_FLAGS: Record<string, string> = {
  name: 'NAME',
  memoryMiB: '--memory',
  engine: '--engine',
  boot: '--boot',
  kernelPath: '--kernel',
  initrdPath: '--initrd',
  cmdline: '--append',
  hdaPath: '--hda',
  cdromPath: '--cdrom',
  net: '--net',
  mac: '--mac',
  forwards: '--forward',
  folders: '--folder',
};

/** The run options as library settings; what a library VM cannot keep is refused by name. */
export function createSettings(name: string, spec: VmLaunchSpec, macGiven: boolean): VmCreateSettings {
  if (spec.biosPath !== undefined) throw new UsageError('hostbox create: --bios is not kept in the library (its VMs start Debian\'s SeaBIOS)');
  const d = defaultSettings();
  const forwards = (spec.net?.forwards ?? []) as ParsedForward[];
  return {
    ...d,
    name,
    memoryMiB: spec.memoryMiB,
    engine: spec.engine as EngineSetting,
    boot: spec.kernelPath !== undefined ? 'kernel' : (spec.bootFrom ?? 'disk'),
    kernelPath: spec.kernelPath ?? '',
    initrdPath: spec.initrdPath ?? '',
    cmdline: spec.cmdline ?? d.cmdline,
    hdaPath: spec.hdaPath ?? '',
    cdromPath: spec.cdromPath ?? '',
    net: spec.net?.mode ?? 'user',
    // Without --mac the library gives the VM its own address, made from its id.
    mac: macGiven ? (spec.net?.mac ?? '') : '',
    hostAccess: spec.net?.hostAccess === true,
    forwards: forwards.map((f) => formatForward(f)).join('\n'),
    // An address given on the command line is asked for, as with run (which warns the same way).
    exposeForwards: forwards.some((f) => f.exposed),
    folders: (spec.folders ?? []).map((f) => ({ path: f.path, readOnly: f.readOnly === true })),
  };
}

function describe(vm: VmInfo): string {
  if (vm.boot === 'kernel') return `kernel ${vm.kernelPath}`;
  return vm.boot === 'cdrom' ? `CD ${vm.cdromPath}` : `disk ${vm.hdaPath || vm.cdromPath}`;
}

async function list(s: Session, json: boolean, dataDir: string): Promise<number> {
  const vms = await s.api.listVms();
  if (json) {
    const rows = vms.map((v) => ({ name: v.name, state: listState(v.power), id: v.id, memoryMiB: v.memoryMiB, boot: v.boot, ...(v.error ? { error: v.error } : {}) }));
    process.stdout.write(JSON.stringify(rows, null, 2) + '\n');
    return 0;
  }
  if (vms.length === 0) {
    process.stdout.write(`No VMs in the library ${dataDir}.\n`);
    return 0;
  }
  const w = Math.max(4, ...vms.map((v) => v.name.length));
  process.stdout.write(`${'NAME'.padEnd(w)}  STATE      MEMORY    BOOTS\n`);
  for (const v of vms) process.stdout.write(`${v.name.padEnd(w)}  ${listState(v.power).padEnd(9)}  ${`${v.memoryMiB} MiB`.padEnd(8)}  ${describe(v)}\n`);
  return 0;
}

/** The VM's first serial port on this terminal until it powers off (0), crashes (1), or Ctrl-A D leaves it (0). */
async function attach(s: Session, vm: VmInfo): Promise<number> {
  const stdin = process.stdin;
  const tty = stdin.isTTY === true;
  let finish: (code: number) => void = () => {};
  const done = new Promise<number>((r) => (finish = r));
  s.onEvent((e) => {
    if (e.type === 'serial' && e.id === vm.id) process.stdout.write(Buffer.from(e.data, 'latin1'));
    else if (e.type === 'vm' && e.vm.id === vm.id) {
      if (e.vm.power === 'off') finish(0);
      else if (e.vm.power === 'crashed') {
        process.stderr.write(`\r\nhostbox: "${vm.name}" crashed: ${(e.vm.error ?? 'unknown error').split('\n')[0]}\r\n`);
        finish(1);
      }
    } else if (e.type === 'vm-deleted' && e.id === vm.id) finish(0);
  });
  s.onClose(() => {
    process.stderr.write('\r\nhostbox: the Hostbox app closed the connection\r\n');
    finish(1);
  });
  await s.api.powerOn(vm.id);
  if (tty) {
    process.stderr.write(`hostbox: "${vm.name}" is running; Ctrl-A X powers it off, Ctrl-A D leaves it running\r\n`);
    stdin.setRawMode(true);
  }
  let escape = false;
  stdin.on('data', (chunk: Buffer) => {
    if (!tty) {
      void s.api.sendSerial(vm.id, chunk.toString('utf8')).catch(() => {});
      return;
    }
    let pass = '';
    for (const b of chunk) {
      if (escape) {
        escape = false;
        if (b === 0x78 || b === 0x58) {
          process.stderr.write('\r\nhostbox: powering off\r\n');
          void s.api.powerOff(vm.id).catch(() => {});
        } else if (b === 0x64 || b === 0x44) {
          process.stderr.write(`\r\nhostbox: "${vm.name}" runs on (hostbox stop "${vm.name}" powers it off)\r\n`);
          finish(0);
        } else if (b === 0x01) pass += '\x01';
        continue;
      }
      if (b === 0x01) escape = true;
      else pass += String.fromCharCode(b);
    }
    // Bytes as typed: the API takes text and sends it as UTF-8, so the terminal's UTF-8 goes back through a UTF-8 decode.
    if (pass) void s.api.sendSerial(vm.id, Buffer.from(pass, 'latin1').toString('utf8')).catch(() => {});
  });
  // EOF on a pipe leaves the VM running, as with run: a script may feed commands and wait for poweroff.
  stdin.on('end', () => {});
  const code = await done;
  if (tty) stdin.setRawMode(false);
  stdin.pause();
  return code;
}

export async function libraryCommand(
  cmd: LibraryCommand,
  args: string[],
  ctx: { dataDir: string; parseRunArgs(args: string[]): VmLaunchSpec; runDefaultMac: string },
): Promise<number> {
  const { dataDir } = ctx;
  let session: (Session & { startedApp: AppEndpoint | null }) | null = null;
  try {
    // Arguments are checked before anything is opened or started.
    let plan: (s: Session) => Promise<number>;
    switch (cmd) {
      case 'list': {
        const extra = args.filter((a) => a !== '--json');
        if (extra.length) throw new UsageError(`hostbox list: unknown argument ${extra[0]} (it takes --json)`);
        plan = (s) => list(s, args.includes('--json'), dataDir);
        break;
      }
      case 'create': {
        const [name, ...flags] = args;
        if (name === undefined || name.startsWith('--')) throw new UsageError('hostbox create takes the new VM\'s name first: hostbox create NAME [options as for run]');
        let spec: VmLaunchSpec;
        try {
          spec = ctx.parseRunArgs(flags);
        } catch (e) {
          throw new UsageError((e as Error).message);
        }
        // run's default address is one for all; a library VM gets its own unless one was asked for.
        const macGiven = flags.some((f) => f === '--mac' || f.startsWith('--mac=')) || (spec.net !== undefined && spec.net.mac !== ctx.runDefaultMac);
        const settings = createSettings(name, spec, macGiven);
        plan = async (s) => {
          const r = await s.api.createVm(settings);
          if (!r.ok) {
            for (const e of r.errors) process.stderr.write(`hostbox: create: ${FIELD_FLAGS[e.field] ? `${FIELD_FLAGS[e.field]}: ` : ''}${e.message}\n`);
            return 2;
          }
          process.stdout.write(`Created "${r.vm.name}" (${r.vm.memoryMiB} MiB, boots ${describe(r.vm)}); start it with: hostbox start "${r.vm.name}"\n`);
          return 0;
        };
        break;
      }
      case 'start': {
        const { name, on } = nameAndSwitches(cmd, args, ['--headless']);
        plan = async (s) => {
          let vm = await findVm(s.api, name, dataDir);
          if (isRunning(vm)) throw new CommandError(`"${vm.name}" is already running${s.appPid ? ` (in the Hostbox app, pid ${s.appPid})` : ''}`);
          if (s.appPid === null) {
            // The VM is there and off: now start the app in the background to run it.
            session = null;
            await s.close();
            session = await openSession(dataDir, `hostbox ${cmd}`, true);
            s = session;
            vm = await findVm(s.api, name, dataDir);
          }
          if (on.has('--headless')) {
            await s.api.powerOn(vm.id);
            return 0;
          }
          return attach(s, vm);
        };
        break;
      }
      case 'stop':
      case 'reset':
      case 'shutdown': {
        const { name } = nameAndSwitches(cmd, args, []);
        plan = async (s) => {
          const vm = await findVm(s.api, name, dataDir);
          if (!isRunning(vm)) throw new CommandError(`"${vm.name}" is not running`);
          if (cmd === 'stop') await s.api.powerOff(vm.id);
          else if (cmd === 'reset') await s.api.resetVm(vm.id);
          else await s.api.shutdownGuest(vm.id);
          return 0;
        };
        break;
      }
      case 'delete': {
        const { name } = nameAndSwitches(cmd, args, []);
        plan = async (s) => {
          const vm = await findVm(s.api, name, dataDir);
          if (isRunning(vm)) throw new CommandError(`"${vm.name}" is running: power it off first (hostbox stop "${vm.name}")`);
          const p = await s.api.deletePlan(vm.id);
          await s.api.deleteVm(vm.id);
          process.stdout.write(`Deleted "${p.name}" and its folder ${p.folder} (${p.files.length} file${p.files.length === 1 ? '' : 's'})${p.kept.length ? `; left in place: ${p.kept.join(', ')}` : ''}\n`);
          return 0;
        };
        break;
      }
    }
    session = await openSession(dataDir, `hostbox ${cmd}`, false);
    return await plan(session);
  } catch (e) {
    const msg = (e as Error).message;
    process.stderr.write(`hostbox: ${e instanceof UsageError ? msg : msg.replace(/^(\S.*?) is already running$/, '"$1" is already running')}\n`);
    return e instanceof UsageError ? 2 : 1;
  } finally {
    await session?.close();
  }
}
