// The host side of one running VM (the paper's VMX driver role): reads the boot files, opens the disk
// back ends, starts the VMM in its own worker thread (or in this process for tests), and carries every
// message between it and the rest of the host. A VMM that dies is reported through the state handler
// with its error; the host process goes on.

import { closeSync, constants, existsSync, fstatSync, openSync, readFileSync, readSync, realpathSync, statSync } from 'node:fs';
import { unlink } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { dirname, isAbsolute, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import type { BlockReply, BlockRequest, DiskInfo, EngineKind, Screen, VmConfig } from '../vmm/machine-api.ts';
import { biosSizeProblem } from '../vmm/boot/bios-image.ts';
import { MAX_MOUSE_DELTA, NET_MAX_BATCH, netBatch, parseFromVmm, type FakeMachineKind, type FromVmm, type ToVmm } from '../vmm/protocol.ts';
import { DiskImage } from './backends/disk-image.ts';
import { Qcow2Disk } from './backends/qcow2/qcow2-disk.ts';
import { QCOW2_MAGIC } from './backends/qcow2/qcow2.ts';
import { checkDisks, diskIdentity, readStateFile, StateFileBuilder, StateFileError, type SnapshotLabel, type StateHeader } from './state-file.ts';
import { folderRefusal, type ImageScope } from './backends/image-policy.ts';
import { Nat, type NatCounters, type PortForward } from './backends/nat/nat.ts';
import { parseMac } from './backends/nat/forward-spec.ts';
import { FolderDisk } from './backends/host-folder/folder-disk.ts';
import type { SyncReport } from './backends/host-folder/folder-sync.ts';
import { folderSections, splitFolderSections, type SavedFolder } from './backends/host-folder/folder-state.ts';
import { KEPT_DIR } from './backends/host-folder/kept-files.ts';

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
  /** Named in the hard disk's lock, so a second user of the image learns who holds it. */
  diskOwner?: string;
  /** Where the VM's disks may live in Hostbox's data folder (see backends/image-policy.ts). */
  imageScope?: ImageScope;
  /** A PCnet NIC on user-mode NAT; absent or 'none': no network card. */
  net?: NetSpec;
  /** Host folders presented as FAT disks, each on the next free IDE position (see ideSlotsForFolders). */
  folders?: readonly FolderSpec[];
  /** Where folder disks keep the guest's writes until power-off (default: a private temporary directory). */
  folderOverlayDir?: string;
  /**
   * A CD drive even without a disc (a disc can then be inserted while the VM runs), unless host
   * folders took its position (the secondary master).
   */
  cdromDrive?: boolean;
}

export interface NetSpec {
  readonly mode: 'user' | 'none';
  /** aa:bb:cc:dd:ee:ff */
  readonly mac: string;
  /** "Guest may reach services on this host": 10.0.2.2 reaches host loopback. */
  readonly hostAccess: boolean;
  readonly forwards: readonly PortForward[];
  /** Cable connected at power-on (default true). */
  readonly link?: boolean;
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

/**
 * A block back end: a raw image (asynchronous I/O, locked, checked by the image policy) or a host
 * folder disk (synthesized in memory, its overlay one of the VM's own files).
 */
interface BlockBackend {
  readonly info: DiskInfo;
  handle(req: BlockRequest): BlockReply | Promise<BlockReply>;
  close(): void | Promise<void>;
}

export interface AttachedFolder {
  readonly slot: IdeDisk;
  readonly disk: FolderDisk;
}

/** What one folder disk's sync did: its report (null: read-only, nothing carried), or why it did not happen. */
export interface FolderSyncResult {
  readonly folder: AttachedFolder;
  readonly report: SyncReport | null;
  readonly error?: Error;
}

/** Debian's seabios package: the BIOS built for QEMU's i440FX PC, and the BIOS of an ISA VGA card. */
export const DEFAULT_BIOS = { bios: '/usr/share/seabios/bios.bin', vgaBios: '/usr/share/seabios/vgabios-isavga.bin' };

function loadBios(spec: VmLaunchSpec): { bios: Uint8Array; vgaBios?: Uint8Array } {
  if (spec.biosPath) return { bios: readBios(spec.biosPath), vgaBios: existsSync(DEFAULT_BIOS.vgaBios) ? readBootFile('VGA BIOS', DEFAULT_BIOS.vgaBios) : undefined };
  if (!existsSync(DEFAULT_BIOS.bios))
    throw new Error(`booting without a kernel needs a BIOS: install SeaBIOS (apt-get install seabios, which provides ${DEFAULT_BIOS.bios}) or give one with --bios`);
  return { bios: readBios(DEFAULT_BIOS.bios), vgaBios: existsSync(DEFAULT_BIOS.vgaBios) ? readBootFile('VGA BIOS', DEFAULT_BIOS.vgaBios) : undefined };
}

/** A CD drive with no disc in it. */
const EMPTY_CD_DRIVE: DiskInfo = { id: 'cdrom', sectors: 0, sectorSize: 2048, readOnly: true };

/** 'halted': the guest stopped for good (HLT with interrupts off); the detail is CS:EIP. */
export type VmState = 'running' | 'poweroff' | 'reset' | 'crashed' | 'stopped' | 'halted' | 'suspended';

/** What a finished suspend reports. */
export interface SuspendResult {
  readonly file: string;
  readonly bytes: number;
  /** Host time from the request to the file being in place. */
  readonly ms: number;
  /**
   * Where that time went, in ms: the VMM stopping the guest and streaming its state ("vmm"), the
   * disks' flush, then the state file's compress (what was still compressing), write and sync.
   */
  readonly phases?: { vmm: number; flush: number; compress: number; write: number; sync: number };
}

/** What a finished snapshot reports: its state file, and the hard disk the VM now runs on. */
export interface SnapshotResult extends SuspendResult {
  /** The image frozen under the snapshot (only read from now on), if the VM has a hard disk. */
  readonly frozenDisk?: string;
  /** The new overlay over it that takes the guest's writes. */
  readonly hdaPath?: string;
}

/** Makes the overlay a snapshot puts over the frozen hard disk; returns its path. */
export type OverlayMaker = (frozen: string) => Promise<string>;

/** The version in package.json, written into every state file. */
export function hostboxVersion(): string {
  try {
    return (JSON.parse(readFileSync(join(packageRoot(), 'package.json'), 'utf8')) as { version: string }).version;
  } catch {
    return 'unknown';
  }
}

/** RAM runs per message when a state is loaded: up to 16 MiB, so no message is giant. */
const RAM_RUNS_PER_MESSAGE = 16;

export interface VmHandlers {
  serial(port: number, data: Uint8Array): void;
  screen(s: Screen): void;
  state(s: VmState, detail?: string): void;
  log?(level: string, msg: string): void;
  /** About once a second while the guest runs: instructions retired so far and host ms the VMM spent running it. */
  stats?(stats: { instructions: number; guestTimeNs: number }, busyMs: number | undefined): void;
  /**
   * A folder disk was synced to its host folder at power-off or suspend (report null: read-only,
   * nothing carried), or could not be.
   */
  folderSync?(folder: AttachedFolder, report: SyncReport | null, error?: Error, moment?: 'poweroff' | 'suspend'): void;
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

/** The most readFileSync reads (2 GiB less a byte); a larger file would fail with Node's words, naming no file. */
export const MAX_BOOT_FILE = 2 ** 31 - 1;

export const sizeText = (bytes: number): string => (bytes >= 2 ** 30 ? `${(bytes / 2 ** 30).toFixed(1)} GiB` : `${(bytes / 2 ** 20).toFixed(1)} MiB`);

/**
 * Reads a kernel, initrd or BIOS whole. `sizeProblem` gives the line refusing a file of a size that
 * cannot be one (an initrd larger than RAM, a BIOS no flash holds) before any of it is read, so a
 * wrong path to a large file costs neither the time nor the host memory of reading it.
 */
function readBootFile(what: string, path: string, sizeProblem?: (bytes: number) => string | null): Uint8Array {
  if (!existsSync(path)) throw new Error(`${what} ${path} does not exist`);
  const st = statSync(path);
  if (!st.isFile()) throw new Error(`${what} ${path} is not a regular file`);
  const problem = sizeProblem?.(st.size);
  if (problem) throw new Error(problem);
  if (st.size > MAX_BOOT_FILE) throw new Error(`${what} ${path} is ${sizeText(st.size)}; a boot file can be at most 2 GiB`);
  return new Uint8Array(readFileSync(path));
}

/** It goes whole into guest RAM (as Linux's initrd or the Multiboot module), or the loader refuses it. */
function readInitrd(path: string, memoryMiB: number): Uint8Array {
  return readBootFile('initrd', path, (bytes) => (bytes > memoryMiB * 2 ** 20 ? `initrd ${path} is ${sizeText(bytes)}, more than the VM's ${memoryMiB} MiB of RAM` : null));
}

function readBios(path: string): Uint8Array {
  return readBootFile('BIOS', path, (bytes) => {
    const problem = biosSizeProblem(bytes);
    return problem && `BIOS ${path}: ${problem}`;
  });
}

/** Does the file start with qcow2's magic? (A missing file or one that is not a file is left to the opener to report.) */
function looksQcow2(path: string): boolean {
  try {
    // O_NONBLOCK: a FIFO in the disk's place must not hang the host in open(2) waiting for a writer.
    const fd = openSync(path, constants.O_RDONLY | constants.O_NONBLOCK);
    try {
      if (!fstatSync(fd).isFile()) return false;
      const b = new Uint8Array(4);
      return readSync(fd, b, 0, 4, 0) === 4 && new DataView(b.buffer).getUint32(0) === QCOW2_MAGIC;
    } finally {
      closeSync(fd);
    }
  } catch {
    return false;
  }
}

/** A hard disk's back end: a qcow2 image (a snapshot's overlay, or one qemu-img made) through the qcow2 engine, else raw. */
async function openHardDisk(path: string, opts: { owner?: string; scope?: ImageScope }): Promise<BlockBackend & { path: string }> {
  return looksQcow2(path) ? Qcow2Disk.open(path, 'hda', opts) : new DiskImage(path, 'hda', opts);
}

/** Checks a launch spec and loads what the VMM needs; throws an Error naming the problem. */
export async function prepareConfig(
  spec: VmLaunchSpec,
  log?: (msg: string) => void,
  /** Folder disks saved by a suspend, by IDE position: restored instead of built from the folder. */
  restored?: ReadonlyMap<string, SavedFolder>,
): Promise<{ config: VmConfig; disks: Map<string, BlockBackend>; folders: AttachedFolder[] }> {
  if (!Number.isInteger(spec.memoryMiB) || spec.memoryMiB < MIN_MEMORY_MIB || spec.memoryMiB > MAX_MEMORY_MIB)
    throw new Error(`memory ${spec.memoryMiB} MiB is not possible: give a whole number of MiB from ${MIN_MEMORY_MIB} to ${MAX_MEMORY_MIB}`);
  if (!['interpreter', 'bt', 'auto', 'check'].includes(spec.engine)) throw new Error(`engine "${spec.engine}" is unknown: use interpreter, bt, auto or check`);
  if (spec.initrdPath && !spec.kernelPath) throw new Error('an initrd needs a kernel (--kernel)');
  const disks = new Map<string, BlockBackend>();
  const folders: AttachedFolder[] = [];
  try {
    const imageOpts = { owner: spec.diskOwner, scope: spec.imageScope };
    if (spec.hdaPath) disks.set('hda', await openHardDisk(spec.hdaPath, imageOpts));
    if (spec.cdromPath) disks.set('cdrom', new DiskImage(spec.cdromPath, 'cdrom', imageOpts));
    const slots = ideSlotsForFolders(spec, spec.folders?.length ?? 0);
    for (const [i, f] of (spec.folders ?? []).entries()) {
      const slot = slots[i]!;
      const refusal = folderRefusal(f.path, spec.imageScope ?? {});
      if (refusal) throw new Error(`host folder ${refusal}`);
      const opts = {
        readOnly: f.readOnly,
        overlayDir: spec.folderOverlayDir,
        // Where the app keeps the host files its snapshots read (kept-files.ts), beside the overlays.
        keptDir: spec.folderOverlayDir !== undefined ? join(spec.folderOverlayDir, KEPT_DIR) : undefined,
        log: (m: string) => log?.(m),
      };
      const saved = restored?.get(slot);
      let disk: FolderDisk;
      if (saved) {
        let real: string;
        try {
          real = realpathSync(f.path);
        } catch {
          throw new Error(`host folder ${f.path} is gone since the suspend; the VM cannot go on without it`);
        }
        if (real !== saved.state.root) throw new Error(`host folder ${f.path} is now ${real}, not the folder the VM was suspended with (${saved.state.root})`);
        disk = FolderDisk.restore(f.path, slot, opts, saved.state, saved.sectors);
      } else disk = new FolderDisk(f.path, slot, opts);
      disks.set(slot, disk);
      folders.push({ slot, disk });
    }
    const config: VmConfig = {
      memoryMiB: spec.memoryMiB,
      engine: spec.engine,
      ...(spec.kernelPath
        ? {
            kernel: readBootFile('kernel', spec.kernelPath),
            initrd: spec.initrdPath ? readInitrd(spec.initrdPath, spec.memoryMiB) : undefined,
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
      cdrom: disks.get('cdrom')?.info ?? (spec.cdromDrive && !disks.has('hdc') ? EMPTY_CD_DRIVE : undefined),
      ...(spec.net && spec.net.mode === 'user' ? { nic: { mac: parseMac(spec.net.mac), link: spec.net.link !== false } } : {}),
    };
    return { config, disks, folders };
  } catch (e) {
    for (const d of disks.values()) void d.close();
    throw e;
  }
}

interface Channel {
  /** `transfer`: buffers in `m` that may be moved rather than copied (the sender lets go of them). */
  send(m: ToVmm, transfer?: ArrayBuffer[]): void;
  terminate(): Promise<void>;
}

export class VmmHost {
  private finished = false;
  private saving: {
    builder: StateFileBuilder;
    path: string;
    t0: number;
    syncFolders: boolean;
    /** A snapshot: the VM runs on afterwards, its hard disk under a new overlay made by this. */
    snapshot: { overlay: OverlayMaker; about?: SnapshotLabel } | null;
    resolve: (r: SnapshotResult) => void;
    reject: (e: Error) => void;
  } | null = null;
  private loading: { resolve: () => void; reject: (e: Error) => void } | null = null;
  private nat: Nat | null = null;

  private constructor(
    private readonly channel: Channel,
    private readonly disks: Map<string, BlockBackend>,
    private readonly handlers: VmHandlers,
    /** What the VM was started with; the CD's path follows disc changes, so a suspend records the disc in the drive. */
    private spec: VmLaunchSpec,
    private readonly hasCdDrive: boolean,
    /** Host folders attached as disks, synced when the guest powers off. */
    readonly folders: readonly AttachedFolder[],
  ) {}

  /** The NAT's traffic counters, or null without a network. */
  get netCounters(): NatCounters | null {
    return this.nat?.counters ?? null;
  }

  /** Plugs the virtual cable in or pulls it, while the VM runs. */
  setLink(up: boolean): void {
    if (this.finished || !this.nat) return;
    this.cable = up;
    this.channel.send({ kind: 'net', link: up });
  }

  /** The cable's state, or null without a network card. */
  get linkUp(): boolean | null {
    return this.nat ? this.cable : null;
  }
  private cable = true;

  /** Starts a VM; rejects with a clear Error for bad settings, missing files or a VMM that fails to start. */
  static async start(spec: VmLaunchSpec, handlers: VmHandlers, opts: VmmHostOptions = {}): Promise<VmmHost> {
    const host = await VmmHost.launch(spec, handlers, opts, false);
    handlers.state('running');
    return host;
  }

  /**
   * Continues a VM from a state file: checks the whole file and the disks first (any fault is a
   * StateFileError with one line, and the file is left as it is), starts a VMM for its
   * configuration, streams the state into it and lets it run.
   */
  /**
   * `hdaPath`: the hard disk to run on instead of the one the state names: a fresh qcow2 overlay
   * over it (a snapshot's), so the disk the guest sees is the one it recorded, which is checked.
   */
  static async resume(path: string, handlers: VmHandlers, opts: VmmHostOptions & { memoryMiB?: number; hdaPath?: string } = {}): Promise<VmmHost> {
    const t0 = performance.now();
    const state = readStateFile(path);
    // Relative paths in a state are relative to its folder: a folder of state and images can move.
    const here = (p?: string): string | undefined => (p === undefined || isAbsolute(p) ? p : join(dirname(path), p));
    const h: StateHeader = {
      ...state.header,
      config: { ...state.header.config, kernelPath: here(state.header.config.kernelPath), initrdPath: here(state.header.config.initrdPath), hdaPath: here(state.header.config.hdaPath), cdromPath: here(state.header.config.cdromPath), biosPath: here(state.header.config.biosPath) },
      disks: state.header.disks.map((d) => ({ ...d, path: here(d.path)! })),
    };
    if (opts.memoryMiB !== undefined && opts.memoryMiB !== h.memoryMiB)
      throw new StateFileError(`${path}: the state was saved with ${h.memoryMiB} MiB of RAM, this VM has ${opts.memoryMiB} MiB`);
    let split: ReturnType<typeof splitFolderSections>;
    try {
      split = splitFolderSections(state.sections);
    } catch (e) {
      throw new StateFileError(`${path}: ${(e as Error).message}`);
    }
    const wanted = ideSlotsForFolders(h.config, h.config.folders?.length ?? 0);
    for (const slot of wanted) if (!split.folders.has(slot)) throw new StateFileError(`${path}: the state lists host folders but holds no saved folder disk for ${slot}`);
    if (split.folders.size !== wanted.length) throw new StateFileError(`${path}: the state holds folder disks its configuration does not list`);
    checkDisks(path, h.disks);
    const config = opts.hdaPath && h.config.hdaPath ? { ...h.config, hdaPath: opts.hdaPath } : h.config;
    const t1 = performance.now();
    let host: VmmHost;
    try {
      host = await VmmHost.launch(config, handlers, opts, true, split.folders);
    } catch (e) {
      throw new StateFileError(`${path}: ${(e as Error).message}`);
    }
    for (const f of host.folders) {
      const changed = f.disk.changedSources();
      if (changed.length)
        handlers.log?.(
          'warn',
          `folder ${f.disk.folder}: ${changed.length} file${changed.length === 1 ? '' : 's'} the guest reads changed on the host while the VM was suspended (${changed.slice(0, 3).join(', ')}${changed.length > 3 ? ', …' : ''}): the guest sees their new bytes, or read errors where one was replaced or deleted, until it powers off; its own changes to them go beside them at the next sync`,
        );
    }
    const t2 = performance.now();
    const loaded = new Promise<void>((resolve, reject) => (host.loading = { resolve, reject }));
    host.channel.send({ kind: 'state', op: 'load', sections: split.vmm });
    // Each run was inflated into a buffer of its own (readStateFile): moved to the VMM, not copied.
    for (let i = 0; i < state.ram.length; i += RAM_RUNS_PER_MESSAGE) {
      const runs = state.ram.slice(i, i + RAM_RUNS_PER_MESSAGE);
      host.channel.send({ kind: 'state', op: 'ram', runs }, [...new Set(runs.map((r) => r.data.buffer as ArrayBuffer))]);
    }
    host.channel.send({ kind: 'state', op: 'commit' });
    try {
      await loaded;
    } catch (e) {
      await host.shutdown();
      throw new StateFileError(`${path}: ${(e as Error).message}`);
    }
    const t3 = performance.now();
    handlers.log?.('info', `resume phases (ms): read and check ${(t1 - t0).toFixed(0)}, start the VMM ${(t2 - t1).toFixed(0)}, load ${(t3 - t2).toFixed(0)}`);
    handlers.state('running');
    return host;
  }

  private static async launch(spec: VmLaunchSpec, handlers: VmHandlers, opts: VmmHostOptions, restore: boolean, savedFolders?: ReadonlyMap<string, SavedFolder>): Promise<VmmHost> {
    const { config, disks, folders } = await prepareConfig(spec, (m) => handlers.log?.('info', m), savedFolders);
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
        else if (host?.loading) {
          host.loading.reject(new Error(m.message));
          host.loading = null;
        } else host?.die(m.message);
        return;
      }
      try {
        host?.dispatch(m);
      } catch (e) {
        // A handler's bug must not end the host process, where the other VMs and the server live.
        handlers.log?.('error', `handling a ${m.kind} message failed: ${(e as Error).message}`);
      }
    };
    const onDeath = (err: Error | null, code: number): void => {
      const message = err ? `the VMM process failed: ${err.message}` : `the VMM process exited (code ${code})`;
      if (!isStarted) failed?.(new Error(message));
      else host?.die(message);
    };
    const mode = opts.mode ?? (process.versions.electron ? 'utility' : 'worker');
    const channel =
      mode === 'inprocess'
        ? await inProcessChannel(onMessage, opts.fake !== undefined)
        : mode === 'utility'
          ? utilityChannel(onMessage, onDeath)
          : workerChannel(onMessage, onDeath, opts.fake !== undefined);
    host = new VmmHost(channel, disks, handlers, spec, config.cdrom !== undefined, folders);
    const net = spec.net;
    if (net && net.mode === 'user') {
      const mac = Uint8Array.from(parseMac(net.mac));
      host.nat = new Nat({ guestMac: mac, hostAccess: net.hostAccess, forwards: net.forwards, toGuest: (frame) => host?.sendFrame(frame) });
      host.cable = net.link !== false;
    }
    channel.send({ kind: 'lifecycle', op: 'start', config, fake: opts.fake, restore });
    try {
      await ready;
      // A forward that cannot be opened (its port taken) is reported; the VM runs without it.
      for (const problem of (await host.nat?.start()) ?? []) handlers.log?.('warn', problem);
    } catch (e) {
      await host.shutdown();
      throw e;
    }
    return host;
  }

  /**
   * Suspends the VM to `path`: the VMM lets in-flight disk commands finish, stops the guest and
   * streams its state; the file is written atomically, then the VMM is shut down. If anything fails
   * the previous file at `path` is untouched and the guest runs on. `syncFolders: false` (a
   * snapshot's save) records the folder disks as they are without syncing them first: taking a
   * snapshot never writes to a host folder.
   */
  suspend(path: string, opts: { syncFolders?: boolean } = {}): Promise<SuspendResult> {
    if (this.finished) return Promise.reject(new Error('the VM is not running'));
    if (this.saving) return Promise.reject(new Error('a suspend is already under way'));
    return new Promise((resolve, reject) => {
      this.saving = { builder: new StateFileBuilder(), path, t0: performance.now(), syncFolders: opts.syncFolders !== false, snapshot: null, resolve, reject };
      this.channel.send({ kind: 'state', op: 'save' });
    });
  }

  /**
   * Takes a snapshot of the running VM: its state goes to `path` as a suspend writes it, its hard
   * disk (if any) is closed and frozen, `overlay` puts a qcow2 overlay over it, and the guest runs
   * on from the same moment on that overlay, in the same VMM. If anything fails the VM runs on
   * as before on its old disk, and no file is left at `path` (a previous one is untouched).
   */
  snapshot(path: string, overlay: OverlayMaker, about?: SnapshotLabel): Promise<SnapshotResult> {
    if (this.finished) return Promise.reject(new Error('the VM is not running'));
    if (this.saving) return Promise.reject(new Error('a suspend or snapshot is already under way'));
    return new Promise((resolve, reject) => {
      this.saving = { builder: new StateFileBuilder(), path, t0: performance.now(), syncFolders: false, snapshot: { overlay, about }, resolve, reject };
      this.channel.send({ kind: 'state', op: 'save' });
    });
  }

  /**
   * A snapshot's second half, once its state file is in place and the hard disk closed: the overlay
   * over the frozen disk becomes the VM's disk. On failure the old disk is opened again.
   */
  private async switchToOverlay(frozen: string, make: OverlayMaker): Promise<string> {
    const imageOpts = { owner: this.spec.diskOwner, scope: this.spec.imageScope };
    let overlay = '';
    try {
      overlay = await make(frozen);
      this.disks.set('hda', await openHardDisk(overlay, imageOpts));
    } catch (e) {
      if (overlay) await unlink(overlay).catch(() => {});
      this.disks.set('hda', await openHardDisk(frozen, imageOpts));
      throw e;
    }
    this.spec = { ...this.spec, hdaPath: overlay };
    return overlay;
  }

  private onState(m: Extract<FromVmm, { kind: 'state' }>): void {
    if (m.event === 'loaded') {
      this.loading?.resolve();
      this.loading = null;
      return;
    }
    if (m.event === 'failed' && this.loading) {
      this.loading.reject(new Error(m.message));
      this.loading = null;
      return;
    }
    const s = this.saving;
    if (!s) return;
    try {
      if (m.event === 'section') s.builder.addSection(m.section);
      else if (m.event === 'ram') s.builder.addRam(m.run);
      else if (m.event === 'failed') {
        this.saving = null;
        s.reject(new Error(`suspend failed: ${m.message}`));
      } else if (m.event === 'saved') {
        this.saving = null;
        // The guest is stopped: make its disk writes durable (a qcow2 image writes its metadata
        // then, changing the file), and only then take the disks' identities.
        const flushed = Promise.all([...this.disks].map(async ([id, d]) => ({ id, reply: await d.handle({ tag: 0, disk: id, op: 'flush', lba: 0, count: 0 }) })));
        const hda = this.disks.get('hda') as (BlockBackend & { path: string }) | undefined;
        const frozen = s.snapshot && hda ? hda.path : undefined;
        let closedFrozen = false;
        const savedAt = performance.now();
        let flushedAt = savedAt;
        flushed.then(async (replies) => {
          flushedAt = performance.now();
          // A disk that could not make the guest's writes durable (a full host disk) is neither
          // recorded nor closed: a qcow2 image would drop the metadata it still holds in memory, and
          // the guest, running on, would read its last writes as never made.
          const failed = replies.find((r) => !r.reply.ok);
          if (failed) throw new Error(`disk ${failed.id} could not be flushed: ${failed.reply.error ?? 'unknown error'}`);
          // A snapshot freezes the hard disk: closed now (a qcow2 image's last metadata written, its
          // lock released), so the identity below is that of the image as it stays.
          closedFrozen = frozen !== undefined;
          if (frozen) await hda!.close();
          // Folders: what the guest changed reaches the host now if its file system is not mounted
          // (else it is kept with the VM, for a later sync); the disk itself goes into the file. A
          // snapshot leaves the syncing to the running VM's usual moments.
          for (const f of this.folders) {
            if (s.syncFolders && !s.snapshot) this.syncOne(f, 'suspend');
            for (const sec of folderSections(f.slot, f.disk)) s.builder.addSection(sec);
          }
          const folderSlots = new Set<string>(this.folders.map((f) => f.slot));
          const header: StateHeader = {
            hostbox: hostboxVersion(),
            created: new Date().toISOString(),
            memoryMiB: this.spec.memoryMiB,
            config: this.spec,
            // Folder disks are in their own sections; the others are image files, checked at resume.
            disks: [...this.disks].filter(([id]) => !folderSlots.has(id)).map(([id, d]) => diskIdentity(id, (d as DiskImage).path)),
            ...(s.snapshot?.about ? { snapshot: s.snapshot.about } : {}),
          };
          // A snapshot never replaces a file (another `hostbox run` may share its folder); a suspend
          // replaces the state it resumed from.
          return s.builder.write(s.path, header, { keep: s.snapshot !== null });
        }).then(
          async (bytes) => {
            const result = { file: s.path, bytes, ms: performance.now() - s.t0, phases: { vmm: savedAt - s.t0, flush: flushedAt - savedAt, ...s.builder.timing } };
            if (s.snapshot) {
              let hdaPath: string | undefined;
              try {
                if (frozen) hdaPath = await this.switchToOverlay(frozen, s.snapshot.overlay);
              } catch (e) {
                await unlink(s.path).catch(() => {});
                this.saveFailed(s, new Error(`the snapshot was not taken: ${(e as Error).message}`));
                return;
              }
              if (!this.finished) this.channel.send({ kind: 'lifecycle', op: 'resume' });
              s.resolve({ ...result, ms: performance.now() - s.t0, frozenDisk: frozen, hdaPath });
              return;
            }
            this.suspended = true;
            this.handlers.state('suspended', s.path);
            void this.shutdown().then(() => s.resolve(result));
          },
          async (e: unknown) => {
            // A snapshot's disk was closed for it: the guest runs on, on that disk again.
            if (closedFrozen && frozen) await openHardDisk(frozen, { owner: this.spec.diskOwner, scope: this.spec.imageScope }).then((d) => this.disks.set('hda', d), () => {});
            this.saveFailed(s, e as Error);
          },
        );
      }
    } catch (e) {
      this.saveFailed(s, e as Error);
    }
  }

  /** The file was not written (or not renamed into place): the guest runs on. */
  private saveFailed(s: { reject: (e: Error) => void }, e: Error): void {
    this.saving = null;
    if (!this.finished) this.channel.send({ kind: 'lifecycle', op: 'resume' });
    s.reject(e);
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
      case 'net':
        for (const f of m.frames) this.nat?.fromGuest(f);
        return;
      case 'block': {
        const disk = this.disks.get(m.req.disk);
        if (!disk) {
          this.channel.send({ kind: 'block', reply: { tag: m.req.tag, ok: false, error: `no disk ${m.req.disk}` } });
          return;
        }
        // The reply goes back when the I/O is done; the event loop serves everything else meanwhile.
        void Promise.resolve(disk.handle(m.req)).then((reply) => {
          if (!this.finished) this.channel.send({ kind: 'block', reply });
        });
        return;
      }
      case 'state':
        this.onState(m);
        return;
      case 'status':
        h.stats?.(m.stats, m.busyMs);
        return;
      case 'lifecycle':
        if (m.event === 'poweroff') {
          // The guest shut down: its file systems are unmounted and consistent, so now is when
          // folder disks carry its changes back. Told once the disks are closed and unlocked, so
          // the VM can be powered on again at once.
          this.syncFolders();
          void this.shutdown().then(() => h.state('poweroff', m.detail));
        } else if (m.event === 'reset') h.state('reset', m.detail);
        else if (m.event === 'halted') h.state('halted', m.detail);
        else if (m.event === 'triple-fault') h.log?.('warn', `triple fault: ${m.detail ?? ''}`);
        return;
      default:
        return;
    }
  }

  /** Syncs each folder disk to its host folder (once; a second power-off of this VM cannot happen). */
  private syncFolders(): void {
    for (const f of this.folders) this.syncOne(f, 'poweroff');
  }

  private syncOne(f: AttachedFolder, moment: 'poweroff' | 'suspend'): void {
    try {
      const report = moment === 'poweroff' ? f.disk.sync() : f.disk.syncNow();
      this.handlers.folderSync?.(f, report, undefined, moment);
    } catch (e) {
      this.handlers.folderSync?.(f, null, e as Error, moment);
    }
  }

  private syncing = false;
  /** The VM went into a state file: its folder disks' unsynced changes are kept there, not dropped. */
  private suspended = false;

  /**
   * "Sync to host now": carries what the guest changed on each folder disk since the last sync
   * (see FolderDisk.syncNow). The guest is paused meanwhile, so its disk commands wait without its
   * clock running out their timeouts. A disk the guest still has mounted is refused (one line in
   * its result, the folder unchanged) unless `force`.
   */
  async syncFoldersNow(opts: { force?: boolean } = {}): Promise<FolderSyncResult[]> {
    if (this.finished) throw new Error('the VM is not running');
    if (this.folders.length === 0) throw new Error('the VM has no host folders');
    if (this.saving) throw new Error('a suspend is under way');
    if (this.syncing) throw new Error('a sync is already under way');
    this.syncing = true;
    this.channel.send({ kind: 'lifecycle', op: 'pause' });
    try {
      // A turn of the event loop first: block requests already on their way are answered before.
      await new Promise((r) => setImmediate(r));
      // Stopped meanwhile (a power-off, a revert): its folder disks are closed, and a read from one
      // could land in whatever file took its descriptor, which a sync would carry to the host.
      if (this.finished) throw new Error('the VM was powered off before its folders were synced; nothing was written to them');
      return this.folders.map((f) => {
        try {
          return { folder: f, report: f.disk.syncNow({ force: opts.force }) };
        } catch (e) {
          return { folder: f, report: null, error: e as Error };
        }
      });
    } finally {
      this.syncing = false;
      if (!this.finished) this.channel.send({ kind: 'lifecycle', op: 'resume' });
    }
  }

  private die(message: string): void {
    if (this.finished) return;
    this.saving?.reject(new Error(`suspend failed: ${message}`));
    this.saving = null;
    void this.shutdown().then(() => this.handlers.state('crashed', message));
  }

  /**
   * Frames for the guest leave in one message per turn of the event loop (what the NAT made from
   * every socket event of that turn). The NAT builds each frame in a buffer of its own and keeps
   * no reference, so the buffers are moved, not copied (netBatch).
   */
  private sendFrame(frame: Uint8Array): void {
    if (this.finished) return;
    this.netOut.push(frame);
    if (this.netOut.length >= NET_MAX_BATCH) this.flushFrames();
    else this.netFlush ??= setImmediate(() => this.flushFrames());
  }
  private netOut: Uint8Array[] = [];
  private netFlush: NodeJS.Immediate | null = null;

  private flushFrames(): void {
    if (this.netFlush) clearImmediate(this.netFlush);
    this.netFlush = null;
    const { frames, transfer } = netBatch(this.netOut);
    this.netOut = [];
    if (this.finished || frames.length === 0) return;
    this.channel.send({ kind: 'net', frames }, transfer);
  }

  sendSerial(port: number, data: Uint8Array): void {
    if (!this.finished) this.channel.send({ kind: 'console', port, data });
  }

  sendKeys(set1Scancodes: number[]): void {
    if (!this.finished) this.channel.send({ kind: 'input', scancodes: set1Scancodes });
  }

  /** PS/2 mouse motion and buttons; motion beyond what one message carries goes as several. */
  sendMouse(dx: number, dy: number, dz: number, buttons: number): void {
    if (this.finished || ![dx, dy, dz, buttons].every(Number.isInteger)) return;
    const part = (v: number): number => Math.max(-MAX_MOUSE_DELTA, Math.min(MAX_MOUSE_DELTA, v));
    do {
      const m = { kind: 'mouse' as const, dx: part(dx), dy: part(dy), dz: part(dz), buttons };
      this.channel.send(m);
      dx -= m.dx;
      dy -= m.dy;
      dz -= m.dz;
    } while (dx || dy || dz);
  }

  /** The hard disk image the VM runs on now (a snapshot moves it to a new overlay). */
  get hdaPath(): string | undefined {
    return this.spec.hdaPath;
  }

  /** The image in the CD drive now, or undefined when it is empty. */
  get cdromPath(): string | undefined {
    return this.spec.cdromPath;
  }

  /**
   * Ejects the disc (path null) or inserts the ISO image at `path`, as the user swaps discs in a
   * running PC: the guest is told by the drive (a media change), reads already under way end with
   * an error there. Throws a clear Error (no CD drive, an image that cannot be used) and leaves the
   * drive as it was.
   */
  async changeCd(path: string | null): Promise<void> {
    if (this.finished) throw new Error('the VM is not running');
    if (!this.hasCdDrive) throw new Error('this VM has no CD drive (host folders take its position, the secondary master)');
    if (this.saving) throw new Error('the VM is being suspended: change the disc once it has resumed');
    const image = path === null ? null : new DiskImage(path, 'cdrom', { owner: this.spec.diskOwner, scope: this.spec.imageScope });
    const old = this.disks.get('cdrom');
    if (image) this.disks.set('cdrom', image);
    else this.disks.delete('cdrom');
    this.spec = { ...this.spec, cdromPath: path ?? undefined, cdromDrive: true };
    this.channel.send({ kind: 'media', sectors: image ? image.info.sectors : 0 });
    // Requests already queued on the old image finish on it; the drive refuses their data.
    await old?.close();
  }

  reset(): void {
    if (!this.finished) this.channel.send({ kind: 'lifecycle', op: 'reset' });
  }

  /** Presses the ACPI power button: a guest that handles it shuts down and powers off by itself. */
  powerButton(): void {
    if (!this.finished) this.channel.send({ kind: 'lifecycle', op: 'power-button' });
  }

  /** Stops the VM (power cut, as pulling the plug) and releases its process and files. */
  async stop(): Promise<void> {
    if (this.finished) return this.closing ?? undefined;
    await this.shutdown();
    this.handlers.state('stopped');
  }

  private closing: Promise<void> | null = null;

  /** Ends the VMM and closes the disks, once; every caller waits for the same end. */
  private shutdown(): Promise<void> {
    this.finished = true;
    this.nat?.close();
    if (!this.closing && !this.suspended)
      for (const f of this.folders)
        if (!f.disk.syncTried && !f.disk.readOnly && f.disk.pendingSectors > 0)
          this.handlers.log?.('warn', `folder ${f.disk.folder}: the VM did not power itself off, so the guest's changes since the last sync (${f.disk.pendingSectors} sectors written) are dropped, not synced`);
    this.closing ??= (async () => {
      await this.channel.terminate();
      await Promise.all([...this.disks.values()].map((d) => d.close()));
    })();
    return this.closing;
  }
}

function workerChannel(onMessage: (m: unknown) => void, onDeath: (err: Error | null, code: number) => void, standIns: boolean): Channel {
  const entry = join(packageRoot(), 'dist', standIns ? 'vmm-worker-test.mjs' : 'vmm-worker.mjs');
  if (!existsSync(entry))
    throw new Error(standIns ? `stand-in machines need the test build of the VMM (${entry}), which packages leave out` : `the VMM is not built (${entry} is missing): run \`npm run build\``);
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
    send: (m, transfer) => w.postMessage(m, transfer),
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

async function inProcessChannel(onMessage: (m: unknown) => void, standIns: boolean): Promise<Channel> {
  // Tests only (they run the sources): the paths are not literals, so bundles do not take these
  // modules, the stand-in machines above all, in.
  const vmmDir = '../vmm/';
  const { VmmProcess } = (await import(vmmDir + 'vmm-process.ts')) as typeof import('../vmm/vmm-process.ts');
  const fakes = standIns ? ((await import(vmmDir + 'fake-machine.ts')) as typeof import('../vmm/fake-machine.ts')).createFakeMachine : undefined;
  let alive = true;
  const timers = new Set<NodeJS.Timeout>();
  const vmm = new VmmProcess((m) => alive && queueMicrotask(() => onMessage(m)), {
    now: () => performance.now(),
    wallMs: () => Date.now(),
    soon: (f) => setImmediate(() => alive && f()),
    later: (f, ms) => {
      const t = setTimeout(() => alive && f(), ms);
      timers.add(t);
      return t;
    },
    cancel: (h) => clearTimeout(h as NodeJS.Timeout),
  }, fakes);
  return {
    send: (m) => vmm.receive(structuredClone(m)),
    terminate: async () => {
      alive = false;
      for (const t of timers) clearTimeout(t);
    },
  };
}
