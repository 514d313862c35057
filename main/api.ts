// The host API behind both faces (Electron preload, web-mode WebSocket): the VM library, and the
// VMs running from it with their consoles and screens. Each running VM's VMM is its own process
// (worker thread or Electron utility process); one that crashes is marked crashed with its error and
// everything else goes on.

import { existsSync, readFileSync, statSync, unlinkSync } from 'node:fs';
import { fsyncDir } from './backends/host-folder/folder-sync.ts';
import { isAbsolute, join } from 'node:path';
import { VmmHost, packageRoot, type VmHandlers, type VmLaunchSpec } from './vmm-host.ts';
import { VmLibrary } from './library/library.ts';
import { defaultSettings, forwardLines } from './library/vm-settings.ts';
import { parseForward } from './backends/nat/forward-spec.ts';
import { HostPty, ptyUnavailable } from './backends/pty.ts';
import { describeSync } from './backends/host-folder/sync-summary.ts';
import { HOST_API_METHODS, SAMPLE_VM_NAME, type HostApi, type HostEvent, type SnapshotList, type VmInfo, type VmSettings } from './api-types.ts';
import { listDir, RecentFiles } from './file-browser.ts';
import { SerialHistory, latin1 } from './serial-history.ts';
import { checkSnapshotFiles, collectSnapshotFolders, copyState, createOverlay, fileBytes, frozenIdentity, holdImage, keepSnapshotFolders, mergeOverlay, remove } from './snapshot-files.ts';
import { KEPT_DIR } from './backends/host-folder/kept-files.ts';
import { randomUUID } from 'node:crypto';
import { dirname, sep } from 'node:path';
import { ScreenStream } from './screen-stream.ts';

/** Continuing a VM from a saved state, its hard disk (when given) the overlay put over the disk the state recorded. */
export interface ResumeFrom {
  file: string;
  hda?: string;
}

/**
 * Starts a VMM for a VM, or with `resume` continues one from its saved state (the state's own
 * configuration, checked against the disks); tests inject a fake.
 */
export type VmmLauncher = (
  spec: VmLaunchSpec,
  handlers: VmHandlers,
  resume?: ResumeFrom,
) => Promise<Pick<VmmHost, 'sendSerial' | 'sendKeys' | 'reset' | 'stop'> & Partial<Pick<VmmHost, 'setLink' | 'linkUp' | 'netCounters' | 'powerButton' | 'suspend' | 'snapshot' | 'sendMouse' | 'changeCd' | 'syncFoldersNow'>>>;

const SERIAL_HISTORY = 256 * 1024;
/** C0 and C1 controls, DEL, and the marks and overrides that reorder text around them. */
const UNSHOWABLE = /[\u0000-\u001f\u007f-\u009f\u200e\u200f\u202a-\u202e\u2066-\u2069]/;
/** Serial output goes to the UI once per event-loop turn, or sooner when this much has gathered. */
const SERIAL_BATCH = 64 * 1024;

interface Session {
  vmm: Awaited<ReturnType<VmmLauncher>> | null;
  pty: HostPty | null;
  /** Set once the session has ended, so late messages from its VMM change nothing. */
  over: boolean;
  /** Host time of power-on, and the last stats report (for rates over the period between two). */
  startedAt: number;
  lastStats: { at: number; instructions: number; busyMs: number; cpuUs: number } | null;
}

/**
 * The console's mark for a power event: a cyan rule with what happened and when (dim text would be
 * too faint to read on the console's dark background). ASCII, as the
 * console stream is bytes shown as Latin-1 (what a serial line carries).
 */
function separator(what: string): Uint8Array {
  const time = new Date().toTimeString().slice(0, 8);
  return new TextEncoder().encode(`\r\n\x1b[36m-------- ${what} at ${time} --------\x1b[0m\r\n`);
}

/**
 * The sample VM's kernel command line. The kernel's messages go to the screen as well, and the shell
 * is on the serial console (the last console=); earlycon puts the kernel's output on COM1 from its
 * first instructions, long before the serial driver starts, so the console shows the boot from the start.
 */
export const SAMPLE_CMDLINE = 'console=tty0 console=ttyS0 earlycon=uart8250,io,0x3f8,115200';

/** The test guest's boot files (scripts/build-guest.sh); the 686 flavour has had both names. */
function sampleGuestFiles(): { kernelPath: string; initrdPath: string } | null {
  for (const dir of ['guest-686', 'guest']) {
    const base = join(packageRoot(), '.cache', dir);
    const kernelPath = join(base, 'vmlinuz');
    const initrdPath = join(base, 'initrd.img');
    if (existsSync(join(base, 'manifest.json')) && existsSync(kernelPath) && existsSync(initrdPath)) return { kernelPath, initrdPath };
  }
  return null;
}

/** CPU time of this process so far, user and system, in microseconds. */
function cpuUs(): number {
  const u = process.cpuUsage();
  return u.user + u.system;
}

/** Paths a VM's settings name, for the recent-files list. */
function pathsOf(s: VmSettings): string[] {
  return [s.kernelPath, s.initrdPath, s.hdaPath, s.cdromPath];
}

/** A VM's serial output this host session, across power cycles, and what is still to be sent to the UI. */
interface ConsoleLog {
  history: SerialHistory;
  /** Output gathered for the next event (SERIAL_BATCH bytes, allocated while output flows). */
  pending: Uint8Array | null;
  pendingBytes: number;
  /** Where the pending bytes start in the stream. */
  pendingOffset: number;
  flushScheduled: boolean;
}

export interface HostOptions {
  /** The data folder holding the library (see library/data-dir.ts). */
  dataDir: string;
  launcher?: VmmLauncher;
  /** Tests: pretend host ptys are unavailable (or available) whatever node-pty says. */
  ptyUnavailable?: () => string | null;
}

export function createHostApi(opts: HostOptions): {
  api: HostApi;
  methods: readonly (keyof HostApi)[];
  library: VmLibrary;
  subscribe(listener: (e: HostEvent) => void): () => void;
  /** Suspends every running VM (quitting the app); one that cannot be is powered off. One line per VM. */
  suspendAll(): Promise<string[]>;
  /** The names of the VMs running now. */
  running(): string[];
  close(): Promise<void>;
} {
  const library = VmLibrary.open(opts.dataDir);
  const recent = new RecentFiles(library.dataDir);
  const remember = (s: VmSettings): void => {
    try {
      recent.add(pathsOf(s));
    } catch (e) {
      // The list is a convenience: a full disk must not fail the save that was already made.
      process.stderr.write(`hostbox: the recent-files list was not updated: ${(e as Error).message}\n`);
    }
  };
  const launch: VmmLauncher =
    opts.launcher ?? ((spec, handlers, resume) => (resume ? VmmHost.resume(resume.file, handlers, { memoryMiB: spec.memoryMiB, hdaPath: resume.hda }) : VmmHost.start(spec, handlers)));
  const noPty = opts.ptyUnavailable ?? ptyUnavailable;
  const sessions = new Map<string, Session>();
  const consoles = new Map<string, ConsoleLog>();
  /** Each VM's last picture this host session, kept after power-off like its console. */
  const screens = new Map<string, ScreenStream>();
  const listeners = new Set<(e: HostEvent) => void>();
  // A listener that throws (a socket gone bad) must not reach the VMM's message handler, where it would end the process.
  const emit = (e: HostEvent): void => {
    for (const l of listeners) {
      try {
        l(e);
      } catch (err) {
        process.stderr.write(`hostbox: an event listener failed: ${(err as Error).message}\n`);
      }
    }
  };
  /** The last folder sync's summary per VM, shown on its page until it powers on again. */
  const syncNotes = new Map<string, string[]>();
  const info = (vm: VmInfo): VmInfo => {
    const path = sessions.get(vm.id)?.pty?.path;
    const notes = syncNotes.get(vm.id);
    return { ...vm, ...(path ? { ptyPath: path } : {}), ...(notes ? { folderSync: notes } : {}) };
  };
  const publish = (vm: VmInfo): VmInfo => {
    const v = info(vm);
    emit({ type: 'vm', vm: v });
    return v;
  };
  const running = (id: string): Session => {
    const s = sessions.get(id);
    if (!s || s.over || !s.vmm) throw new Error(`${library.get(id).name} is not running`);
    return s;
  };
  const consoleOf = (id: string): ConsoleLog => {
    let c = consoles.get(id);
    if (!c) consoles.set(id, (c = { history: new SerialHistory(SERIAL_HISTORY), pending: null, pendingBytes: 0, pendingOffset: 0, flushScheduled: false }));
    return c;
  };
  /** Sends what gathered as one event. */
  const flushSerial = (id: string, log: ConsoleLog): void => {
    log.flushScheduled = false;
    if (log.pendingBytes === 0 || !log.pending) {
      log.pending = null;
      return;
    }
    const text = latin1.decode(log.pending.subarray(0, log.pendingBytes));
    const offset = log.pendingOffset;
    log.pendingBytes = 0;
    emit({ type: 'serial', id, data: text, offset });
  };
  const serialOut = (id: string, log: ConsoleLog, data: Uint8Array): void => {
    log.history.append(data);
    for (let done = 0; done < data.length; ) {
      if (log.pendingBytes === 0) log.pendingOffset = log.history.total - data.length + done;
      log.pending ??= new Uint8Array(SERIAL_BATCH);
      const n = Math.min(data.length - done, SERIAL_BATCH - log.pendingBytes);
      log.pending.set(n === data.length ? data : data.subarray(done, done + n), log.pendingBytes);
      log.pendingBytes += n;
      done += n;
      if (log.pendingBytes === SERIAL_BATCH) flushSerial(id, log);
    }
    if (log.pendingBytes > 0 && !log.flushScheduled) {
      log.flushScheduled = true;
      setImmediate(() => flushSerial(id, log));
    }
  };

  /** Ends a session once: releases its pty and records how the VM stopped. */
  const end = (id: string, s: Session, power: 'off' | 'crashed' | 'suspended', error?: string): void => {
    if (s.over) return;
    s.over = true;
    s.pty?.close();
    sessions.delete(id);
    // The last output, and the mark of the power-off, reach the UI before the VM shows as off.
    const log = consoles.get(id);
    if (log) {
      if (s.vmm) serialOut(id, log, separator(power === 'crashed' ? 'crashed' : 'powered off'));
      flushSerial(id, log);
    }
    publish(library.setPower(id, power, error));
  };

  /**
   * Starts a VM's VMM, or continues it from `resume`; `consume`: the state is the VM's suspended
   * state, deleted once loaded, and kept (the VM stays suspended) when resuming fails.
   */
  const boot = async (id: string, resume: ResumeFrom | undefined, consume: boolean): Promise<VmInfo> => {
    const vm = library.get(id);
    const s: Session = { vmm: null, pty: null, over: false, startedAt: performance.now(), lastStats: null };
    const cpuAtStart = cpuUs();
    syncNotes.delete(id);
    sessions.set(id, s);
    const log = consoleOf(id);
    try {
      if (vm.serial === 'pty') s.pty = HostPty.open((bytes) => s.vmm?.sendSerial(0, bytes));
      publish(library.setPower(id, 'starting'));
      s.vmm = await launch(
        {
          memoryMiB: vm.memoryMiB,
          engine: vm.engine,
          // Without a kernel the VM starts its BIOS, which boots the hard disk or the CD first.
          ...(vm.boot === 'kernel' ? { kernelPath: vm.kernelPath, initrdPath: vm.initrdPath || undefined, cmdline: vm.cmdline } : { bootFrom: vm.boot }),
          hdaPath: vm.currentDisk || vm.hdaPath || undefined,
          cdromPath: vm.cdromPath || undefined,
          // A drive even without a disc, so that one can be inserted while the VM runs.
          cdromDrive: true,
          diskOwner: `VM "${vm.name}" in the Hostbox app`,
          imageScope: { dataDir: library.dataDir, ownFolder: vm.folder },
          net: { mode: vm.net, mac: vm.mac, hostAccess: vm.hostAccess, forwards: forwardLines(vm.forwards).map((l) => parseForward(l)) },
          folders: vm.folders,
          // The guest's writes to folder disks wait beside the VM until it powers off.
          folderOverlayDir: vm.folder,
        },
        {
          serial: (port, data) => {
            if (port !== 0 || s.over) return;
            s.pty?.write(data);
            serialOut(id, log, data);
          },
          folderSync: (f, report, error, moment) => {
            const lines = describeSync(f.disk.folder, f.disk.readOnly, report, moment, error);
            syncNotes.set(id, [...(syncNotes.get(id) ?? []), ...lines]);
          },
          log: (level, msg) => {
            // Host folder notes (entries left out, writes dropped) go to the VM's console history.
            void level;
            if (!/^(host )?folder /.test(msg)) return;
            if (!s.over) serialOut(id, log, new TextEncoder().encode(`\r\n[hostbox] ${msg}\r\n`));
          },
          screen: (screen) => {
            if (s.over) return;
            let stream = screens.get(id);
            if (!stream) screens.set(id, (stream = new ScreenStream()));
            if (stream.update(screen)) emit({ type: 'screen', id, version: stream.version });
          },
          stats: (stats, busyMs) => {
            if (s.over) return;
            const now = performance.now();
            const last = s.lastStats ?? { at: s.startedAt, instructions: 0, busyMs: 0, cpuUs: cpuAtStart };
            const dt = now - last.at;
            if (dt <= 0) return;
            const busy = busyMs ?? last.busyMs;
            const cpu = cpuUs();
            s.lastStats = { at: now, instructions: stats.instructions, busyMs: busy, cpuUs: cpu };
            emit({
              type: 'activity',
              id,
              activity: {
                // A reset restarts the count: the first period after it shows no negative rate.
                mips: Math.max(0, stats.instructions - last.instructions) / dt / 1000,
                cpuPercent: Math.min(100, Math.max(0, ((busy - last.busyMs) / dt) * 100)),
                hostCpuPercent: Math.max(0, (cpu - last.cpuUs) / 1000 / dt) * 100,
                uptimeMs: now - s.startedAt,
                instructions: stats.instructions,
              },
            });
          },
          state: (state, detail) => {
            if (state === 'running' && !s.over) publish(library.setPower(id, 'running'));
            else if (state === 'halted' && !s.over)
              publish(library.setPower(id, 'halted', `The guest halted with interrupts off at ${detail ?? '?'}: it will not go on. Reset it or power it off.`));
            else if (state === 'reset' && !s.over) {
              serialOut(id, log, separator('reset'));
              if (library.get(id).power === 'halted') publish(library.setPower(id, 'running'));
            } else if (state === 'poweroff' || state === 'stopped') end(id, s, 'off');
            else if (state === 'crashed') end(id, s, 'crashed', (detail ?? 'unknown error').split('\n')[0]);
          },
        },
        resume,
      );
      if (resume && consume) {
        try {
          unlinkSync(resume.file);
        } catch {
          // Left behind, it is never used again: the VM is no longer marked suspended, and a suspend or snapshot deletes it before the VM shows as suspending (dropStaleState).
        }
      }
      if (!s.over && library.get(id).power === 'starting') publish(library.setPower(id, 'running'));
      // The console says at once that the machine is on (or continues), before the guest has anything to say.
      if (!s.over) serialOut(id, log, separator(resume ? 'resumed' : 'powered on'));
    } catch (e) {
      // The VM never ran: it stays off (or suspended, its state untouched), with the reason shown on it.
      const message = (e as Error).message;
      end(id, s, resume && consume ? 'suspended' : 'off', message);
      throw new Error(message);
    }
    return info(library.get(id));
  };

  /** VMs in the middle of a snapshot operation: a second one waits its turn by being refused. */
  const snapshotBusy = new Set<string>();
  const exclusive = async <T,>(id: string, f: () => Promise<T>): Promise<T> => {
    if (snapshotBusy.has(id)) throw new Error(`${library.get(id).name} is busy with a snapshot; try again when it is done`);
    snapshotBusy.add(id);
    try {
      return await f();
    } finally {
      snapshotBusy.delete(id);
    }
  };
  /**
   * Deletes the host files the VM's store keeps (kept-files.ts) that no snapshot and no saved state
   * reads any more. Only while the VM is off or suspended and no snapshot operation is under way: a
   * running folder disk may read from the store, and a snapshot being taken is not yet listed. A
   * state that cannot be read keeps everything (what it needs is not known), with one line saying so.
   * `ownOp`: called by the snapshot operation that holds the VM, once its rows are written.
   */
  const collectKeptFiles = (id: string, ownOp = false): void => {
    const vm = library.get(id);
    const store = join(vm.folder, KEPT_DIR);
    if (sessions.has(id) || (snapshotBusy.has(id) && !ownOp) || !existsSync(store)) return;
    const states = library.snapshots(id).flatMap((r) => (r.state ? [r.state] : []));
    if (vm.power === 'suspended') states.push(library.statePath(id));
    try {
      collectSnapshotFolders(store, states);
    } catch (e) {
      process.stderr.write(`hostbox: the host files kept for ${vm.name}'s snapshots are left as they are: ${(e as Error).message}\n`);
    }
  };
  /** A disk Hostbox made for snapshots: a qcow2 overlay in the VM's folder, never the user's own image. */
  const ownOverlay = (vm: VmInfo, path: string): boolean => path !== '' && path !== vm.hdaPath && dirname(path) + sep === vm.folder + sep;
  /**
   * Before a VM shows as suspending: a state file at its suspend path is from another moment (a
   * resume that could not delete it, a revert cut off), and after a kill the next start would take
   * it for this suspend's (library.ts, reconcileSuspended) and resume it. It goes first, in the
   * same turn as the checks before it and the power change after it.
   */
  const dropStaleState = (id: string): void => {
    try {
      unlinkSync(library.statePath(id));
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return;
      throw new Error(`cannot delete the old saved state ${library.statePath(id)}: ${(e as Error).message}`);
    }
    // Gone for good before the power change is committed, which a power cut must not reorder.
    fsyncDir(library.folderOf(id));
  };
  /** Another VM of the library whose snapshots or present disk build on image `path` (read through their overlays), if any. */
  const builtOnBy = (id: string, path: string): VmInfo | undefined => {
    const file = (p: string): string => {
      try {
        const st = statSync(p);
        return `${st.dev}:${st.ino}`;
      } catch {
        return `path:${p}`;
      }
    };
    const target = file(path);
    return library.list().find((v) => v.id !== id && ((v.currentDisk !== undefined && v.hdaPath !== '' && file(v.hdaPath) === target) || library.snapshots(v.id).some((r) => r.disk !== '' && file(r.disk) === target)));
  };
  const snapshotList = async (id: string): Promise<SnapshotList> => {
    const vm = library.get(id);
    const rows = library.snapshots(id);
    return {
      snapshots: await Promise.all(
        rows.map(async (r) => ({
          id: r.id,
          parentId: r.parent_id,
          name: r.name,
          createdAt: r.created_at,
          withMemory: r.state !== '',
          bytes: (ownOverlay(vm, r.disk) ? await fileBytes(r.disk) : 0) + (await fileBytes(r.state)),
        })),
      ),
      current: vm.currentSnapshot ?? null,
      currentBytes: vm.currentDisk ? await fileBytes(vm.currentDisk) : 0,
    };
  };

  const api: HostApi = {
    async version() {
      const pkg = JSON.parse(readFileSync(join(packageRoot(), 'package.json'), 'utf8')) as { version: string };
      return { name: 'hostbox', version: pkg.version, dataDir: library.dataDir };
    },
    async listVms() {
      return library.list().map(info);
    },
    async defaultSettings() {
      return defaultSettings();
    },
    async createVm(settings) {
      const r = library.create(settings, { ptyUnavailable: noPty });
      if (r.ok) {
        publish(r.vm);
        remember(r.vm);
      }
      return r;
    },
    async updateVm(id, settings) {
      // A snapshot operation under way is about to record the VM's disk and state as they were.
      if (snapshotBusy.has(id)) return { ok: false, errors: [{ field: 'form', message: `${library.get(id).name} is busy with a snapshot; try again when it is done.` }] };
      const r = library.update(id, settings, { ptyUnavailable: noPty });
      if (r.ok) {
        publish(r.vm);
        remember(r.vm);
      }
      return r;
    },
    async browseDir(path) {
      if (typeof path !== 'string') throw new Error('browseDir: path must be text');
      return listDir(path);
    },
    async recentFiles() {
      return recent.list();
    },
    async sampleGuest() {
      return sampleGuestFiles();
    },
    async createSampleVm() {
      const files = sampleGuestFiles();
      if (!files) throw new Error('the sample VM needs the Debian test guest, which is not built: run `npm run guest`');
      if (library.list().some((v) => v.name === SAMPLE_VM_NAME)) throw new Error(`the library already has a VM named "${SAMPLE_VM_NAME}"`);
      const r = library.create({ ...defaultSettings(), name: SAMPLE_VM_NAME, memoryMiB: 256, boot: 'kernel', ...files, cmdline: SAMPLE_CMDLINE }, { ptyUnavailable: noPty });
      if (r.ok) publish(r.vm);
      return r;
    },
    async deletePlan(id) {
      return library.deletePlan(id);
    },
    async deleteVm(id) {
      if (sessions.has(id)) throw new Error(`power ${library.get(id).name} off before deleting it`);
      library.delete(id);
      consoles.delete(id);
      screens.delete(id);
      emit({ type: 'vm-deleted', id });
    },
    async powerOn(id) {
      const vm = library.get(id);
      if (sessions.has(id)) throw new Error(`${vm.name} is already running`);
      // A snapshot, revert or merge under way is moving the VM to another disk (or deleting the one it has).
      if (snapshotBusy.has(id)) throw new Error(`${vm.name} is busy with a snapshot; try again when it is done`);
      // A disk another VM's snapshots froze is only read from then on: running on it would change it under them.
      const frozenBy = vm.currentDisk === undefined && vm.hdaPath ? builtOnBy(id, vm.hdaPath) : undefined;
      if (frozenBy) throw new Error(`${vm.name}'s hard disk ${vm.hdaPath} is frozen under the snapshots of VM "${frozenBy.name}": running on it would change them (delete them, or give ${vm.name} a copy of the disk)`);
      // Host files kept for snapshots that were deleted while it ran go now.
      collectKeptFiles(id);
      // A suspended VM continues from its saved state; the file goes once the state is loaded (the
      // guest's disks move on from there, and the state would no longer fit them).
      return boot(id, vm.power === 'suspended' ? { file: library.statePath(id), hda: vm.currentDisk } : undefined, true);
    },
    async powerOff(id) {
      const s = running(id);
      await s.vmm!.stop();
      end(id, s, 'off');
    },
    async suspendVm(id) {
      const s = running(id);
      const vm = library.get(id);
      if (vm.power === 'suspending') throw new Error(`${vm.name} is already being suspended`);
      if (!s.vmm!.suspend) throw new Error(`${vm.name} cannot be suspended`);
      // A revert under way is about to write the snapshot's state where the suspend's goes.
      if (snapshotBusy.has(id)) throw new Error(`${vm.name} is busy with a snapshot; try again when it is done`);
      const before = vm.power;
      dropStaleState(id);
      publish(library.setPower(id, 'suspending'));
      try {
        await s.vmm!.suspend(library.statePath(id));
      } catch (e) {
        // Nothing was written over: the guest runs on, and the reason is shown on the VM.
        const message = `Suspend failed: ${(e as Error).message}`;
        if (!s.over) publish(library.setPower(id, before === 'halted' ? 'halted' : 'running', message));
        throw new Error(message);
      }
      end(id, s, 'suspended');
      return info(library.get(id));
    },
    async discardState(id) {
      const vm = library.get(id);
      if (vm.power !== 'suspended') throw new Error(`${vm.name} is not suspended`);
      try {
        unlinkSync(library.statePath(id));
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw new Error(`cannot delete the saved state ${library.statePath(id)}: ${(e as Error).message}`);
      }
      const off = publish(library.setPower(id, 'off'));
      collectKeptFiles(id);
      return off;
    },
    async listSnapshots(id) {
      return snapshotList(id);
    },
    async takeSnapshot(id, name) {
      const label = name.trim();
      if (!label) throw new Error('give the snapshot a name');
      // The name is written into the console's history (the mark of the snapshot) and listed in the UI.
      if (UNSHOWABLE.test(label)) throw new Error('a snapshot name cannot hold control characters or direction overrides (line breaks, tabs, escapes)');
      return exclusive(id, async () => {
        const vm = library.get(id);
        if (vm.power === 'suspended') throw new Error(`${vm.name} is suspended: power it on (or discard its saved state) to take a snapshot`);
        if (vm.power === 'starting' || vm.power === 'suspending') throw new Error(`${vm.name} is ${vm.power}; try again in a moment`);
        const s = sessions.get(id);
        const sid = randomUUID();
        const row = { id: sid, vm_id: id, parent_id: vm.currentSnapshot ?? null, name: label, created_at: new Date().toISOString() };
        if (s) {
          // The machine's state at this moment (VmmHost.snapshot, as `hostbox run`'s monitor takes
          // one): the guest pauses while its disk is frozen under a new overlay, recorded with the
          // snapshot, then runs on on that overlay in the same VMM.
          if (!s.vmm?.snapshot) throw new Error(`${vm.name} cannot be snapshotted while it runs`);
          const state = join(vm.folder, `snapshot-${sid}.hbstate`);
          const before = vm.power;
          dropStaleState(id);
          publish(library.setPower(id, 'suspending'));
          try {
            const r = await s.vmm.snapshot(state, async (frozen) => {
              const overlay = await createOverlay(vm.folder, frozen);
              try {
                library.addSnapshot({ ...row, disk: frozen, disk_identity: frozenIdentity(frozen), state }, overlay);
              } catch (e) {
                await remove(overlay).catch(() => {});
                throw e;
              }
              return overlay;
            });
            // A VM without a hard disk: only its state is the snapshot.
            if (!r.frozenDisk) library.addSnapshot({ ...row, disk: '', state }, '');
          } catch (e) {
            // The VM runs on as before, on its old disk: the snapshot must not stay recorded.
            if (library.snapshots(id).some((x) => x.id === sid)) library.removeSnapshot(id, sid, { disk: vm.currentDisk ?? '', snapshotId: vm.currentSnapshot ?? null });
            await remove(state).catch(() => {});
            throw new Error(`the snapshot was not taken: ${(e as Error).message}`);
          } finally {
            if (!s.over) publish(library.setPower(id, before === 'halted' ? 'halted' : 'running'));
          }
          // The snapshot is recorded and the VM runs on its overlay: nothing from here may take it
          // back, or the library would name a disk the VM no longer writes. The host files its folder
          // disks read are kept at this moment's versions, so a revert shows them as they are now
          // (nothing has synced since: the VM syncs at set moments only); where they cannot be, the
          // revert reads the host's files as they are then, and the console says so.
          let notes: string[] = [];
          try {
            if (vm.folders.length) notes = keepSnapshotFolders(state, join(vm.folder, KEPT_DIR));
          } catch (e) {
            notes = [`the host folder files snapshot ${label} reads could not be kept (${(e as Error).message}): reverting to it, the guest reads them as the host has them then`];
          }
          for (const note of notes) serialOut(id, consoleOf(id), new TextEncoder().encode(`\r\n[hostbox] ${note}\r\n`));
          // The guest's output up to the snapshot came before the save: the mark sits at its moment.
          if (!s.over) serialOut(id, consoleOf(id), separator(`snapshot ${label} taken`));
          return snapshotList(id);
        }
        const disk = vm.currentDisk || vm.hdaPath;
        let overlay = '';
        let lock: ReturnType<typeof holdImage> = null;
        try {
          // Not frozen under a VM (or `hostbox run`) writing it: the snapshot would not hold still.
          if (disk) lock = holdImage(disk, `VM "${vm.name}" in the Hostbox app`);
          // A powered-off VM's snapshot holds nothing of its folders: each power-on builds them afresh.
          const identity = disk ? frozenIdentity(disk) : '';
          if (disk) overlay = await createOverlay(vm.folder, disk);
          library.addSnapshot({ ...row, disk, disk_identity: identity, state: '' }, overlay);
        } catch (e) {
          await remove(overlay).catch(() => {});
          throw new Error(`the snapshot was not taken: ${(e as Error).message}`);
        } finally {
          lock?.release();
        }
        publish(library.get(id));
        return snapshotList(id);
      });
    },
    async revertSnapshot(id, snapshotId) {
      return exclusive(id, async () => {
        const snap = library.snapshot(id, snapshotId);
        const vm = library.get(id);
        if (vm.power === 'starting' || vm.power === 'suspending') throw new Error(`${vm.name} is ${vm.power}; try again in a moment`);
        // A damaged snapshot, or one whose disk was changed or moved since, is found before the
        // present state is given up for it; so is a full disk, before a running VM is stopped.
        const old = vm.currentDisk ?? '';
        let overlay = '';
        const wasSuspended = vm.power === 'suspended';
        try {
          checkSnapshotFiles(snap);
          if (snap.disk) overlay = await createOverlay(vm.folder, snap.disk);
          // The saved state the VM has is given up before its file is replaced: at no moment may the
          // library show the VM suspended in the snapshot's state on its present disk.
          if (wasSuspended) publish(library.setPower(id, 'off'));
          if (snap.state) await copyState(snap.state, library.statePath(id));
          else await remove(library.statePath(id));
        } catch (e) {
          await remove(overlay).catch(() => {});
          // The saved state's file is untouched when the copy over it failed.
          if (wasSuspended && existsSync(library.statePath(id)) && library.get(id).power === 'off') publish(library.setPower(id, 'suspended'));
          throw new Error(`cannot revert to ${snap.name}: ${(e as Error).message}`);
        }
        const s = sessions.get(id);
        if (s) {
          // Reverting discards the present state: the running VM stops as at a power cut.
          await s.vmm?.stop();
          end(id, s, 'off');
        }
        // The snapshot's state and the fresh overlay it fits, recorded in one write.
        library.setCurrent(id, overlay, snap.id, snap.state ? 'suspended' : 'off');
        publish(library.get(id));
        // The overlay left behind held only changes since some snapshot, now discarded.
        if (ownOverlay(vm, old) && !library.snapshots(id).some((r) => r.disk === old)) await remove(old).catch(() => {});
        collectKeptFiles(id, true);
        return snapshotList(id);
      });
    },
    async deleteSnapshot(id, snapshotId) {
      return exclusive(id, async () => {
        const vm = library.get(id);
        const snap = library.snapshot(id, snapshotId);
        const rows = library.snapshots(id);
        if (rows.some((r) => r.parent_id === snap.id)) throw new Error(`later snapshots build on ${snap.name}: delete them first`);
        if (vm.currentSnapshot !== snap.id) {
          // Nothing builds on its disk: its files simply go.
          library.removeSnapshot(id, snap.id);
          if (ownOverlay(vm, snap.disk)) await remove(snap.disk);
          await remove(snap.state);
        } else {
          // The VM's present disk is an overlay over this snapshot's: merge it down, then drop it.
          if (sessions.has(id) || vm.power === 'suspended' || vm.power === 'suspending')
            throw new Error(`power ${vm.name} off first: deleting the snapshot it descends from merges its disk changes into the snapshot's disk`);
          if (vm.currentDisk && snap.disk) {
            // The merge writes into the snapshot's disk: another VM's snapshots or overlays reading it would change under them.
            const other = builtOnBy(id, snap.disk);
            if (other) throw new Error(`cannot delete ${snap.name}: merging the disk changes would write into ${snap.disk}, which VM "${other.name}"'s snapshots build on`);
            try {
              await mergeOverlay(vm.currentDisk, snap.disk, `VM "${vm.name}" in the Hostbox app`);
            } catch (e) {
              // The overlay still shows the whole disk (snapshot-files.ts, mergeOverlay): the VM lost nothing, and the delete can be tried again.
              throw new Error(`cannot delete ${snap.name}: its disk changes were not merged into ${snap.disk}: ${(e as Error).message}`);
            }
          }
          library.removeSnapshot(id, snap.id, { disk: snap.disk === vm.hdaPath ? '' : snap.disk, snapshotId: snap.parent_id });
          if (vm.currentDisk && ownOverlay(vm, vm.currentDisk)) await remove(vm.currentDisk);
          await remove(snap.state);
        }
        collectKeptFiles(id, true);
        publish(library.get(id));
        return snapshotList(id);
      });
    },
    async resetVm(id) {
      running(id).vmm!.reset();
    },
    async shutdownGuest(id) {
      const vmm = running(id).vmm!;
      if (!vmm.powerButton) throw new Error(`${library.get(id).name} has no ACPI power button`);
      vmm.powerButton();
    },
    async sendSerial(id, text) {
      if (typeof text !== 'string') throw new Error('sendSerial: text must be a string');
      running(id).vmm!.sendSerial(0, new TextEncoder().encode(text));
    },
    async sendKeys(id, codes) {
      if (!Array.isArray(codes) || !codes.every((c) => Number.isInteger(c) && c >= 0 && c <= 0xff)) throw new Error('sendKeys: scancodes must be bytes');
      running(id).vmm!.sendKeys(codes);
    },
    async sendMouse(id, dx, dy, dz, buttons) {
      const vmm = running(id).vmm!;
      if (!vmm.sendMouse) throw new Error(`${library.get(id).name} has no mouse`);
      vmm.sendMouse(dx, dy, dz, buttons);
    },
    async screenUpdate(id, since) {
      library.get(id);
      const stream = screens.get(id);
      return stream ? stream.updateSince(since) : { kind: 'none', version: 0 };
    },
    async changeCd(id, path) {
      if (typeof path !== 'string') throw new Error('changeCd: path must be text');
      if (path !== '' && !isAbsolute(path)) throw new Error(`give the CD image's full path (${path} is relative)`);
      const vmm = running(id).vmm!;
      if (!vmm.changeCd) throw new Error(`${library.get(id).name} has no CD drive`);
      await vmm.changeCd(path === '' ? null : path);
      return publish(library.setCdrom(id, path));
    },
    async netStatus(id) {
      const vmm = sessions.get(id)?.vmm;
      const counters = vmm?.netCounters;
      if (!vmm || !counters) return null;
      const { framesFromGuest, framesToGuest, bytesFromGuest, bytesToGuest, malformed, refused } = counters;
      return { cable: vmm.linkUp !== false, framesFromGuest, framesToGuest, bytesFromGuest, bytesToGuest, dropped: malformed + counters.fragments, refused };
    },
    async setCable(id, connected) {
      if (typeof connected !== 'boolean') throw new Error('setCable: connected must be true or false');
      const vmm = running(id).vmm!;
      if (!vmm.setLink || vmm.netCounters === null) throw new Error(`${library.get(id).name} has no network card`);
      vmm.setLink(connected);
    },
    async syncFolders(id) {
      const vmm = running(id).vmm!;
      if (!vmm.syncFoldersNow || !library.get(id).folders.length) throw new Error(`${library.get(id).name} has no host folders`);
      const results = await vmm.syncFoldersNow();
      const lines = results.flatMap((r) => describeSync(r.folder.disk.folder, r.folder.disk.readOnly, r.report, 'now', r.error));
      return { ok: results.every((r) => !r.error), lines };
    },
    async serialLog(id) {
      library.get(id);
      const c = consoleOf(id);
      return { text: c.history.text(), end: c.history.total };
    },
  };
  return {
    api,
    methods: HOST_API_METHODS,
    library,
    subscribe(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
    async suspendAll() {
      const report: string[] = [];
      await Promise.all(
        [...sessions.keys()].map(async (id) => {
          const name = library.get(id).name;
          try {
            const vm = await api.suspendVm(id);
            report.push(`${name}: suspended to ${library.statePath(id)}${vm.suspended ? ` (${vm.suspended.bytes} bytes)` : ''}`);
          } catch (e) {
            // It could not be suspended (a failed write, a disk that would not settle): it is powered off, as close() would.
            const s = sessions.get(id);
            if (s) {
              await s.vmm?.stop();
              end(id, s, 'off');
            }
            report.push(`${name}: powered off, as it could not be suspended (${(e as Error).message})`);
          }
        }),
      );
      return report;
    },
    running() {
      return [...sessions.keys()].map((id) => library.get(id).name);
    },
    async close() {
      for (const [id, s] of [...sessions]) {
        await s.vmm?.stop();
        end(id, s, 'off');
      }
      listeners.clear();
      library.close();
    },
  };
}
