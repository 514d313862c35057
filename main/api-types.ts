// The host API as the renderer sees it, identical over the Electron preload and the web-mode
// WebSocket. Types only: the renderer imports nothing from main/ at runtime.

import type { TextScreen } from '../vmm/machine-api.ts';

export interface VmStartSpec {
  name: string;
  memoryMiB: number;
  kernelPath: string;
  initrdPath?: string;
  cmdline?: string;
}

export type VmPower = 'starting' | 'running' | 'poweroff' | 'stopped' | 'crashed';

export interface VmInfo {
  id: string;
  name: string;
  memoryMiB: number;
  kernelPath: string;
  initrdPath?: string;
  cmdline?: string;
  power: VmPower;
  error?: string;
  startedAt: string;
}

export interface HostApi {
  version(): Promise<{ name: 'hostbox'; version: string }>;
  listVms(): Promise<VmInfo[]>;
  /** Boots a VM; rejects with a message naming the bad setting or missing file. */
  startVm(spec: VmStartSpec): Promise<VmInfo>;
  stopVm(id: string): Promise<void>;
  resetVm(id: string): Promise<void>;
  sendSerial(id: string, text: string): Promise<void>;
  sendKeys(id: string, set1Scancodes: number[]): Promise<void>;
  /** Serial output so far (so a page opened later sees the console history) and where it ends in the stream. */
  serialLog(id: string): Promise<{ text: string; end: number }>;
}

export type HostEvent =
  | { type: 'vm'; vm: VmInfo }
  /** `offset`: where `data` starts in the VM's serial stream, so a client can join history and live output. */
  | { type: 'serial'; id: string; data: string; offset: number }
  | { type: 'screen'; id: string; screen: TextScreen };

export const HOST_API_METHODS = ['version', 'listVms', 'startVm', 'stopVm', 'resetVm', 'sendSerial', 'sendKeys', 'serialLog'] as const satisfies readonly (keyof HostApi)[];
