// The host API behind both faces (Electron preload, web-mode WebSocket): the VM library, and the
// VMs running from it with their consoles and screens. Each running VM's VMM is its own process
// (worker thread or Electron utility process); one that crashes is marked crashed with its error and
// everything else goes on.

import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { VmmHost, packageRoot, type VmHandlers, type VmLaunchSpec } from './vmm-host.ts';
import { VmLibrary } from './library/library.ts';
import { defaultSettings, forwardLines } from './library/vm-settings.ts';
import { parseForward } from './backends/nat/forward-spec.ts';
import { HostPty, ptyUnavailable } from './backends/pty.ts';
import { describeSync } from './backends/host-folder/sync-summary.ts';
import { HOST_API_METHODS, type HostApi, type HostEvent, type VmInfo } from './api-types.ts';
import { SerialHistory, latin1 } from './serial-history.ts';

/** Starts a VMM for a VM; tests inject a fake. */
export type VmmLauncher = (
  spec: VmLaunchSpec,
  handlers: VmHandlers,
) => Promise<Pick<VmmHost, 'sendSerial' | 'sendKeys' | 'reset' | 'stop'> & Partial<Pick<VmmHost, 'setLink' | 'linkUp' | 'netCounters' | 'syncFoldersNow'>>>;

const SERIAL_HISTORY = 256 * 1024;
/** Serial output goes to the UI once per event-loop turn, or sooner when this much has gathered. */
const SERIAL_BATCH = 64 * 1024;

interface Session {
  vmm: Awaited<ReturnType<VmmLauncher>> | null;
  pty: HostPty | null;
  /** Set once the session has ended, so late messages from its VMM change nothing. */
  over: boolean;
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
  close(): Promise<void>;
} {
  const library = VmLibrary.open(opts.dataDir);
  const launch: VmmLauncher = opts.launcher ?? ((spec, handlers) => VmmHost.start(spec, handlers));
  const noPty = opts.ptyUnavailable ?? ptyUnavailable;
  const sessions = new Map<string, Session>();
  const consoles = new Map<string, ConsoleLog>();
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
  const end = (id: string, s: Session, power: 'off' | 'crashed', error?: string): void => {
    if (s.over) return;
    s.over = true;
    s.pty?.close();
    sessions.delete(id);
    // The last output reaches the UI before the VM shows as off.
    const log = consoles.get(id);
    if (log) flushSerial(id, log);
    publish(library.setPower(id, power, error));
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
      if (r.ok) publish(r.vm);
      return r;
    },
    async updateVm(id, settings) {
      const r = library.update(id, settings, { ptyUnavailable: noPty });
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
      emit({ type: 'vm-deleted', id });
    },
    async powerOn(id) {
      const vm = library.get(id);
      if (sessions.has(id)) throw new Error(`${vm.name} is already running`);
      const s: Session = { vmm: null, pty: null, over: false };
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
            hdaPath: vm.hdaPath || undefined,
            cdromPath: vm.cdromPath || undefined,
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
              if (!s.over) emit({ type: 'screen', id, screen });
            },
            state: (state, detail) => {
              if (state === 'running' && !s.over) publish(library.setPower(id, 'running'));
              else if (state === 'halted' && !s.over)
                publish(library.setPower(id, 'halted', `The guest halted with interrupts off at ${detail ?? '?'}: it will not go on. Reset it or power it off.`));
              else if (state === 'reset' && !s.over && library.get(id).power === 'halted') publish(library.setPower(id, 'running'));
              else if (state === 'poweroff' || state === 'stopped') end(id, s, 'off');
              else if (state === 'crashed') end(id, s, 'crashed', (detail ?? 'unknown error').split('\n')[0]);
            },
          },
        );
        if (!s.over && library.get(id).power === 'starting') publish(library.setPower(id, 'running'));
      } catch (e) {
        // The VM never ran: it stays off, with the reason shown on it.
        const message = (e as Error).message;
        end(id, s, 'off', message);
        throw new Error(message);
      }
      return info(library.get(id));
    },
    async powerOff(id) {
      const s = running(id);
      await s.vmm!.stop();
      end(id, s, 'off');
    },
    async resetVm(id) {
      running(id).vmm!.reset();
    },
    async sendSerial(id, text) {
      if (typeof text !== 'string') throw new Error('sendSerial: text must be a string');
      running(id).vmm!.sendSerial(0, new TextEncoder().encode(text));
    },
    async sendKeys(id, codes) {
      if (!Array.isArray(codes) || !codes.every((c) => Number.isInteger(c) && c >= 0 && c <= 0xff)) throw new Error('sendKeys: scancodes must be bytes');
      running(id).vmm!.sendKeys(codes);
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
