// The host side of one running VM (the paper's VMX driver role): reads the boot files, opens the disk
// back ends, starts the VMM in its own worker thread (or in this process for tests), and carries every
// message between it and the rest of the host. A VMM that dies is reported through the state handler
// with its error; the host process goes on.

import { existsSync, readFileSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import type { BlockReply, BlockRequest, DiskInfo, EngineKind, Screen, VmConfig } from '../vmm/machine-api.ts';
import { parseFromVmm, type FakeMachineKind, type FromVmm, type ToVmm } from '../vmm/protocol.ts';
import { DiskImage } from './backends/disk-image.ts';
import { FolderDisk } from './backends/host-folder/folder-disk.ts';
import type { SyncReport } from './backends/host-folder/folder-sync.ts';

export interface VmLaunchSpec {
  memoryMiB: number;
  engine: EngineKind;
  kernelPath?: string;
  initrdPath?: string;
  cmdline?: string;
  hdaPath?: string;
  cdromPath?: string;
  /** Without a kernel the PC starts this BIOS (default: Debian's SeaBIOS, see DEFAULT_BIOS). */
  biosPath?: string;
  /** The BIOS also talks on COM1 (for front ends with no screen, like the command line). */
  biosSerialConsole?: boolean;
  /** Which device the BIOS tries first (default the hard disk); the other follows, then the floppy. */
  bootFrom?: 'disk' | 'cdrom';
  /** Host folders presented as FAT disks, each on the next free IDE position (see ideSlotsForFolders). */
  folders?: readonly FolderSpec[];
  /** Where folder disks keep the guest's writes until power-off (default: a private temporary directory). */
  folderOverlayDir?: string;
}

export interface FolderSpec {
  path: string;
  readOnly?: boolean;
}

/** IDE positions by QEMU's names, with what a guest calls them. */
export const IDE_POSITIONS = {
  hda: 'primary master',
  hdb: 'primary slave',
  hdc: 'secondary master',
  hdd: 'secondary slave',
} as const;
export type IdeDisk = keyof typeof IDE_POSITIONS;

/** The positions folder disks take: the free ones in order (the CD-ROM holds the secondary master). */
export function ideSlotsForFolders(spec: Pick<VmLaunchSpec, 'hdaPath' | 'cdromPath'>, count: number): IdeDisk[] {
  const free = (['hda', 'hdb', 'hdc', 'hdd'] as const).filter((d) => !(d === 'hda' && spec.hdaPath) && !(d === 'hdc' && spec.cdromPath));
  if (count > free.length)
    throw new Error(`${count} host folders need ${count} free IDE positions, and only ${free.length} are free (${free.join(', ') || 'none'}): the IDE controller has four, the disk and CD-ROM take theirs`);
  return free.slice(0, count);
}

/** A block back end: a raw image or a host folder disk. */
interface BlockBackend {
  readonly info: DiskInfo;
  handle(req: BlockRequest): BlockReply;
  close(): void;
}

export interface AttachedFolder {
  readonly slot: IdeDisk;
  readonly disk: FolderDisk;
}

/** Debian's seabios package: the BIOS built for QEMU's i440FX PC, and the BIOS of an ISA VGA card. */
export const DEFAULT_BIOS = { bios: '/usr/share/seabios/bios.bin', vgaBios: '/usr/share/seabios/vgabios-isavga.bin' };

function loadBios(spec: VmLaunchSpec): { bios: Uint8Array; vgaBios?: Uint8Array } {
  if (spec.biosPath) return { bios: readBootFile('BIOS', spec.biosPath), vgaBios: existsSync(DEFAULT_BIOS.vgaBios) ? readBootFile('VGA BIOS', DEFAULT_BIOS.vgaBios) : undefined };
  if (!existsSync(DEFAULT_BIOS.bios))
    throw new Error(`booting without a kernel needs a BIOS: install SeaBIOS (apt-get install seabios, which provides ${DEFAULT_BIOS.bios}) or give one with --bios`);
  return { bios: readBootFile('BIOS', DEFAULT_BIOS.bios), vgaBios: existsSync(DEFAULT_BIOS.vgaBios) ? readBootFile('VGA BIOS', DEFAULT_BIOS.vgaBios) : undefined };
}

export type VmState = 'running' | 'poweroff' | 'reset' | 'crashed' | 'stopped';

export interface VmHandlers {
  serial(port: number, data: Uint8Array): void;
  screen(s: Screen): void;
  state(s: VmState, detail?: string): void;
  log?(level: string, msg: string): void;
  /** A folder disk was synced to its host folder (report null: read-only, dropped), or could not be. */
  folderSync?(folder: AttachedFolder, report: SyncReport | null, error?: Error): void;
}

export interface VmmHostOptions {
  /**
   * Where the VMM runs: 'utility' (an Electron utility process; the default inside Electron),
   * 'worker' (a worker thread running dist/vmm-worker.mjs; the default elsewhere), 'inprocess' (tests).
   */
  mode?: 'utility' | 'worker' | 'inprocess';
  /** Test-only stand-in machine. */
  fake?: FakeMachineKind;
}

export const MIN_MEMORY_MIB = 4;
export const MAX_MEMORY_MIB = 3072;

/** The repository (or installed package) root: dist/ and vmm/ live under it. */
export function packageRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 5; i++) {
    if (existsSync(join(dir, 'package.json'))) return dir;
    dir = dirname(dir);
  }
  throw new Error('cannot find the Hostbox installation (no package.json above ' + fileURLToPath(import.meta.url) + ')');
}

function readBootFile(what: string, path: string): Uint8Array {
  if (!existsSync(path)) throw new Error(`${what} ${path} does not exist`);
  if (!statSync(path).isFile()) throw new Error(`${what} ${path} is not a regular file`);
  return new Uint8Array(readFileSync(path));
}

/** Checks a launch spec and loads what the VMM needs; throws an Error naming the problem. */
export function prepareConfig(spec: VmLaunchSpec, log?: (msg: string) => void): { config: VmConfig; disks: Map<string, BlockBackend>; folders: AttachedFolder[] } {
  if (!Number.isInteger(spec.memoryMiB) || spec.memoryMiB < MIN_MEMORY_MIB || spec.memoryMiB > MAX_MEMORY_MIB)
    throw new Error(`memory ${spec.memoryMiB} MiB is not possible: give a whole number of MiB from ${MIN_MEMORY_MIB} to ${MAX_MEMORY_MIB}`);
  if (!['interpreter', 'bt', 'auto'].includes(spec.engine)) throw new Error(`engine "${spec.engine}" is unknown: use interpreter, bt or auto`);
  if (spec.initrdPath && !spec.kernelPath) throw new Error('an initrd needs a kernel (--kernel)');
  const disks = new Map<string, BlockBackend>();
  const folders: AttachedFolder[] = [];
  try {
    if (spec.hdaPath) disks.set('hda', new DiskImage(spec.hdaPath, 'hda'));
    if (spec.cdromPath) disks.set('cdrom', new DiskImage(spec.cdromPath, 'cdrom'));
    const slots = ideSlotsForFolders(spec, spec.folders?.length ?? 0);
    for (const [i, f] of (spec.folders ?? []).entries()) {
      const slot = slots[i]!;
      const disk = new FolderDisk(f.path, slot, { readOnly: f.readOnly, overlayDir: spec.folderOverlayDir, log: (m) => log?.(m) });
      disks.set(slot, disk);
      folders.push({ slot, disk });
    }
    const config: VmConfig = {
      memoryMiB: spec.memoryMiB,
      engine: spec.engine,
      ...(spec.kernelPath
        ? {
            kernel: readBootFile('kernel', spec.kernelPath),
            initrd: spec.initrdPath ? readBootFile('initrd', spec.initrdPath) : undefined,
            cmdline: spec.cmdline ?? '',
          }
        : {
            ...loadBios(spec),
            biosSerialConsole: spec.biosSerialConsole === true,
            bootOrder: spec.bootFrom === 'cdrom' ? (['cdrom', 'disk', 'floppy'] as const) : (['disk', 'cdrom', 'floppy'] as const),
          }),
      hda: disks.get('hda')?.info,
      hdb: disks.get('hdb')?.info,
      hdc: disks.get('hdc')?.info,
      hdd: disks.get('hdd')?.info,
      cdrom: disks.get('cdrom')?.info,
    };
    return { config, disks, folders };
  } catch (e) {
    for (const d of disks.values()) d.close();
    throw e;
  }
}

interface Channel {
  send(m: ToVmm): void;
  terminate(): Promise<void>;
}

export class VmmHost {
  private finished = false;

  private constructor(
    private readonly channel: Channel,
    private readonly disks: Map<string, BlockBackend>,
    private readonly handlers: VmHandlers,
    /** Host folders attached as disks, synced when the guest powers off. */
    readonly folders: readonly AttachedFolder[],
  ) {}

  /** Starts a VM; rejects with a clear Error for bad settings, missing files or a VMM that fails to start. */
  static async start(spec: VmLaunchSpec, handlers: VmHandlers, opts: VmmHostOptions = {}): Promise<VmmHost> {
    const { config, disks, folders } = prepareConfig(spec, (m) => handlers.log?.('info', m));
    let host: VmmHost | null = null;
    let isStarted = false;
    let started: (() => void) | null = null;
    let failed: ((e: Error) => void) | null = null;
    const ready = new Promise<void>((res, rej) => {
      started = res;
      failed = rej;
    });
    const onMessage = (raw: unknown): void => {
      let m: FromVmm;
      try {
        m = parseFromVmm(raw);
      } catch (e) {
        handlers.log?.('warn', (e as Error).message);
        return;
      }
      if (m.kind === 'lifecycle' && m.event === 'started') {
        isStarted = true;
        started?.();
      }
      if (m.kind === 'fatal') {
        if (!isStarted) failed?.(new Error(m.message));
        else host?.die(m.message);
        return;
      }
      host?.dispatch(m);
    };
    const onDeath = (err: Error | null, code: number): void => {
      const message = err ? `the VMM process failed: ${err.message}` : `the VMM process exited (code ${code})`;
      if (!isStarted) failed?.(new Error(message));
      else host?.die(message);
    };
    const mode = opts.mode ?? (process.versions.electron ? 'utility' : 'worker');
    const channel =
      mode === 'inprocess' ? await inProcessChannel(onMessage) : mode === 'utility' ? utilityChannel(onMessage, onDeath) : workerChannel(onMessage, onDeath);
    host = new VmmHost(channel, disks, handlers, folders);
    channel.send({ kind: 'lifecycle', op: 'start', config, fake: opts.fake });
    try {
      await ready;
    } catch (e) {
      await host.shutdown();
      throw e;
    }
    handlers.state('running');
    return host;
  }

  private dispatch(m: FromVmm): void {
    const h = this.handlers;
    switch (m.kind) {
      case 'console':
        h.serial(m.port, m.data);
        return;
      case 'display':
        h.screen(m.screen);
        return;
      case 'log':
        h.log?.(m.level, m.message);
        return;
      case 'block': {
        const disk = this.disks.get(m.req.disk);
        const reply = disk ? disk.handle(m.req) : { tag: m.req.tag, ok: false, error: `no disk ${m.req.disk}` };
        this.channel.send({ kind: 'block', reply });
        return;
      }
      case 'lifecycle':
        if (m.event === 'poweroff') {
          // The guest shut down: its file systems are unmounted and consistent, so now is when
          // folder disks carry its changes back.
          this.syncFolders();
          h.state('poweroff', m.detail);
          void this.shutdown();
        } else if (m.event === 'reset') h.state('reset', m.detail);
        else if (m.event === 'triple-fault') h.log?.('warn', `triple fault: ${m.detail ?? ''}`);
        return;
      default:
        return;
    }
  }

  /** Syncs each folder disk to its host folder (once; a second power-off of this VM cannot happen). */
  private syncFolders(): void {
    for (const f of this.folders) {
      try {
        const report = f.disk.sync();
        this.handlers.folderSync?.(f, report);
      } catch (e) {
        this.handlers.folderSync?.(f, null, e as Error);
      }
    }
  }

  private die(message: string): void {
    if (this.finished) return;
    this.handlers.state('crashed', message);
    void this.shutdown();
  }

  sendSerial(port: number, data: Uint8Array): void {
    if (!this.finished) this.channel.send({ kind: 'console', port, data });
  }

  sendKeys(set1Scancodes: number[]): void {
    if (!this.finished) this.channel.send({ kind: 'input', scancodes: set1Scancodes });
  }

  reset(): void {
    if (!this.finished) this.channel.send({ kind: 'lifecycle', op: 'reset' });
  }

  /** Stops the VM (power cut, as pulling the plug) and releases its process and files. */
  async stop(): Promise<void> {
    if (this.finished) return;
    this.handlers.state('stopped');
    await this.shutdown();
  }

  private async shutdown(): Promise<void> {
    if (this.finished) return;
    this.finished = true;
    for (const f of this.folders)
      if (!f.disk.syncTried && !f.disk.readOnly && f.disk.pendingSectors > 0)
        this.handlers.log?.('warn', `folder ${f.disk.folder}: the VM did not power itself off, so the guest's changes (${f.disk.pendingSectors} sectors written) are dropped, not synced`);
    await this.channel.terminate();
    for (const d of this.disks.values()) d.close();
  }
}

function workerChannel(onMessage: (m: unknown) => void, onDeath: (err: Error | null, code: number) => void): Channel {
  const entry = join(packageRoot(), 'dist', 'vmm-worker.mjs');
  if (!existsSync(entry)) throw new Error(`the VMM is not built (${entry} is missing): run \`npm run build\``);
  const w = new Worker(entry);
  let terminating = false;
  w.on('message', onMessage);
  w.on('error', (e) => {
    if (!terminating) onDeath(e, 1);
  });
  w.on('exit', (code) => {
    if (!terminating) onDeath(null, code);
  });
  return {
    send: (m) => w.postMessage(m),
    terminate: async () => {
      terminating = true;
      await w.terminate();
    },
  };
}

/** Electron's utilityProcess: a real OS process per VM, as the desktop app runs it. */
function utilityChannel(onMessage: (m: unknown) => void, onDeath: (err: Error | null, code: number) => void): Channel {
  const entry = join(packageRoot(), 'dist', 'vmm-utility.cjs');
  if (!existsSync(entry)) throw new Error(`the VMM is not built (${entry} is missing): run \`npm run build\``);
  interface UtilityProcess {
    postMessage(m: unknown): void;
    kill(): boolean;
    on(e: 'message', f: (m: unknown) => void): void;
    on(e: 'exit', f: (code: number) => void): void;
  }
  const { utilityProcess } = createRequire(import.meta.url)('electron') as { utilityProcess: { fork(path: string, args?: string[], opts?: object): UtilityProcess } };
  const child = utilityProcess.fork(entry, [], { serviceName: 'Hostbox VMM' });
  let terminating = false;
  child.on('message', onMessage);
  child.on('exit', (code) => {
    if (!terminating) onDeath(null, code);
  });
  return {
    send: (m) => child.postMessage(m),
    terminate: async () => {
      terminating = true;
      child.kill();
    },
  };
}

async function inProcessChannel(onMessage: (m: unknown) => void): Promise<Channel> {
  const { VmmProcess } = await import('../vmm/vmm-process.ts');
  let alive = true;
  const timers = new Set<NodeJS.Timeout>();
  const vmm = new VmmProcess((m) => alive && queueMicrotask(() => onMessage(m)), {
    now: () => performance.now(),
    soon: (f) => setImmediate(() => alive && f()),
    later: (f, ms) => {
      const t = setTimeout(() => alive && f(), ms);
      timers.add(t);
      return t;
    },
    cancel: (h) => clearTimeout(h as NodeJS.Timeout),
  });
  return {
    send: (m) => vmm.receive(structuredClone(m)),
    terminate: async () => {
      alive = false;
      for (const t of timers) clearTimeout(t);
    },
  };
}
