// The host API behind both faces (Electron preload, web-mode WebSocket): the VM library, and the
// VMs running from it with their consoles and screens. Each running VM's VMM is its own process
// (worker thread or Electron utility process); one that crashes is marked crashed with its error and
// everything else goes on.

import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { VmmHost, packageRoot, type VmHandlers, type VmLaunchSpec } from './vmm-host.ts';
import { VmLibrary } from './library/library.ts';
import { defaultSettings } from './library/vm-settings.ts';
import { HostPty, ptyUnavailable } from './backends/pty.ts';
import { describeSync } from './backends/host-folder/sync-summary.ts';
import { HOST_API_METHODS, type HostApi, type HostEvent, type VmInfo } from './api-types.ts';

/** Starts a VMM for a VM; tests inject a fake. */
export type VmmLauncher = (spec: VmLaunchSpec, handlers: VmHandlers) => Promise<Pick<VmmHost, 'sendSerial' | 'sendKeys' | 'reset' | 'stop'>>;

const SERIAL_HISTORY = 256 * 1024;

interface Session {
  vmm: Awaited<ReturnType<VmmLauncher>> | null;
  pty: HostPty | null;
  /** Set once the session has ended, so late messages from its VMM change nothing. */
  over: boolean;
}

/** A VM's serial output this host session, across power cycles. */
interface ConsoleLog {
  text: string;
  /** Characters of output so far (the stream position after `text`). */
  total: number;
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
  const emit = (e: HostEvent): void => {
    for (const l of listeners) l(e);
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
    if (!c) consoles.set(id, (c = { text: '', total: 0 }));
    return c;
  };
  const decoder = new TextDecoder('latin1');

  /** Ends a session once: releases its pty and records how the VM stopped. */
  const end = (id: string, s: Session, power: 'off' | 'crashed', error?: string): void => {
    if (s.over) return;
    s.over = true;
    s.pty?.close();
    sessions.delete(id);
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
            folders: vm.folders,
            // The guest's writes to folder disks wait beside the VM until it powers off.
            folderOverlayDir: vm.folder,
          },
          {
            serial: (port, data) => {
              if (port !== 0 || s.over) return;
              s.pty?.write(data);
              const text = decoder.decode(data);
              const offset = log.total;
              log.total += text.length;
              log.text = (log.text + text).slice(-SERIAL_HISTORY);
              emit({ type: 'serial', id, data: text, offset });
            },
            folderSync: (f, report, error) => {
              const lines = error ? [`folder ${f.disk.folder} was not synced: ${error.message}; the folder is unchanged`] : describeSync(f.disk.folder, f.disk.readOnly, report);
              syncNotes.set(id, [...(syncNotes.get(id) ?? []), ...lines]);
            },
            log: (level, msg) => {
              // Host folder notes (entries left out, writes dropped) go to the VM's console history.
              void level;
              if (!/^(host )?folder /.test(msg)) return;
              const text = `\r\n[hostbox] ${msg}\r\n`;
              const offset = log.total;
              log.total += text.length;
              log.text = (log.text + text).slice(-SERIAL_HISTORY);
              emit({ type: 'serial', id, data: text, offset });
            },
            screen: (screen) => {
              if (!s.over) emit({ type: 'screen', id, screen });
            },
            state: (state, detail) => {
              if (state === 'running' && !s.over) publish(library.setPower(id, 'running'));
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
    async serialLog(id) {
      library.get(id);
      const c = consoleOf(id);
      return { text: c.text, end: c.total };
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
