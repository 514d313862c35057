// The host API behind both faces (Electron preload, web-mode WebSocket): running VMs, their serial
// consoles and screens. Each VM's VMM runs in its own worker; one that crashes is marked crashed with
// its error and the others go on. (The persistent VM library in SQLite comes with issue 5.)

import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { randomUUID } from 'node:crypto';
import { VmmHost, packageRoot, type VmHandlers, type VmLaunchSpec } from './vmm-host.ts';
import { HOST_API_METHODS, type HostApi, type HostEvent, type VmInfo, type VmStartSpec } from './api-types.ts';

/** Starts a VMM for a VM; tests inject a fake. */
export type VmmLauncher = (spec: VmLaunchSpec, handlers: VmHandlers) => Promise<Pick<VmmHost, 'sendSerial' | 'sendKeys' | 'reset' | 'stop'>>;

const SERIAL_HISTORY = 256 * 1024;

interface Running {
  info: VmInfo;
  vmm: Awaited<ReturnType<VmmLauncher>> | null;
  log: string;
  /** Characters of serial output so far (the stream position after `log`). */
  total: number;
}

export function createHostApi(opts: { launcher?: VmmLauncher } = {}): {
  api: HostApi;
  methods: readonly (keyof HostApi)[];
  subscribe(listener: (e: HostEvent) => void): () => void;
  close(): Promise<void>;
} {
  const launch: VmmLauncher = opts.launcher ?? ((spec, handlers) => VmmHost.start(spec, handlers));
  const vms = new Map<string, Running>();
  const listeners = new Set<(e: HostEvent) => void>();
  const emit = (e: HostEvent): void => {
    for (const l of listeners) l(e);
  };
  const get = (id: string): Running => {
    const r = vms.get(id);
    if (!r) throw new Error(`no VM with id ${id}`);
    return r;
  };
  const setPower = (r: Running, power: VmInfo['power'], error?: string): void => {
    r.info = { ...r.info, power, ...(error ? { error } : {}) };
    emit({ type: 'vm', vm: r.info });
  };
  const decoder = new TextDecoder('latin1');

  const api: HostApi = {
    async version() {
      const pkg = JSON.parse(readFileSync(join(packageRoot(), 'package.json'), 'utf8')) as { version: string };
      return { name: 'hostbox', version: pkg.version };
    },
    async listVms() {
      return [...vms.values()].map((r) => r.info);
    },
    async startVm(spec: VmStartSpec) {
      if (typeof spec?.name !== 'string' || !spec.name.trim()) throw new Error('name: give the VM a name');
      if (typeof spec.kernelPath !== 'string' || !spec.kernelPath) throw new Error('kernel: give the path of a Linux bzImage');
      const id = randomUUID();
      const r: Running = {
        info: { id, name: spec.name.trim(), memoryMiB: spec.memoryMiB, kernelPath: spec.kernelPath, initrdPath: spec.initrdPath || undefined, cmdline: spec.cmdline, power: 'starting', startedAt: new Date().toISOString() },
        vmm: null,
        log: '',
        total: 0,
      };
      vms.set(id, r);
      try {
        r.vmm = await launch(
          { memoryMiB: spec.memoryMiB, engine: 'auto', kernelPath: spec.kernelPath, initrdPath: spec.initrdPath || undefined, cmdline: spec.cmdline },
          {
            serial: (port, data) => {
              if (port !== 0) return;
              const text = decoder.decode(data);
              const offset = r.total;
              r.total += text.length;
              r.log = (r.log + text).slice(-SERIAL_HISTORY);
              emit({ type: 'serial', id, data: text, offset });
            },
            screen: (screen) => emit({ type: 'screen', id, screen }),
            state: (s, detail) => {
              if (s === 'running') setPower(r, 'running');
              else if (s === 'poweroff') setPower(r, 'poweroff');
              else if (s === 'stopped') setPower(r, 'stopped');
              else if (s === 'crashed') setPower(r, 'crashed', (detail ?? 'unknown error').split('\n')[0]);
            },
          },
        );
        if (r.info.power === 'starting') setPower(r, 'running');
      } catch (e) {
        // The caller shows the error next to the form; a VM that never started is not listed.
        vms.delete(id);
        throw e;
      }
      return r.info;
    },
    async stopVm(id) {
      const r = get(id);
      await r.vmm?.stop();
      if (r.info.power === 'running' || r.info.power === 'starting') setPower(r, 'stopped');
    },
    async resetVm(id) {
      get(id).vmm?.reset();
    },
    async sendSerial(id, text) {
      if (typeof text !== 'string') throw new Error('sendSerial: text must be a string');
      get(id).vmm?.sendSerial(0, new TextEncoder().encode(text));
    },
    async sendKeys(id, codes) {
      if (!Array.isArray(codes) || !codes.every((c) => Number.isInteger(c) && c >= 0 && c <= 0xff)) throw new Error('sendKeys: scancodes must be bytes');
      get(id).vmm?.sendKeys(codes);
    },
    async serialLog(id) {
      const r = get(id);
      return { text: r.log, end: r.total };
    },
  };
  return {
    api,
    methods: HOST_API_METHODS,
    subscribe(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
    async close() {
      for (const r of vms.values()) await r.vmm?.stop();
      vms.clear();
      listeners.clear();
    },
  };
}
