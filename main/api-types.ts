// The host API as the renderer sees it, identical over the Electron preload and the web-mode
// WebSocket. Types only: the renderer imports nothing from main/ at runtime.

import type { Screen } from '../vmm/machine-api.ts';

export type EngineSetting = 'auto' | 'interpreter' | 'bt' | 'check';

/** What a VM boots: a Linux kernel loaded directly (like QEMU -kernel), or through the BIOS its hard disk first or its CD first. */
export type BootSource = 'kernel' | 'disk' | 'cdrom';

/** Where a VM's first serial port goes: the console in the app, or a host pseudo-terminal as well. */
export type SerialMode = 'console' | 'pty';

/** A VM's settings as the New VM and Settings forms edit them; '' means "none" for the paths. */
export interface VmSettings {
  name: string;
  memoryMiB: number;
  engine: EngineSetting;
  boot: BootSource;
  kernelPath: string;
  initrdPath: string;
  cmdline: string;
  /** Hard disk image (raw). */
  hdaPath: string;
  /** CD-ROM image (ISO 9660, raw 2048-byte sectors). */
  cdromPath: string;
  serial: SerialMode;
  /** An AMD PCnet network card on user-mode NAT, or no network card. */
  net: NetMode;
  /** The card's address; '' when creating means "one made from the VM's id". */
  mac: string;
  /** "Guest may reach services on this host": 10.0.2.2 reaches the host's loopback. */
  hostAccess: boolean;
  /** Port forwards, one a line: tcp:HOSTPORT:GUESTPORT, udp:..., tcp:[::1]:HOSTPORT:GUESTPORT, tcp:ADDRESS:HOSTPORT:GUESTPORT. */
  forwards: string;
  /** Forwards may bind addresses other than loopback (other machines can then connect). */
  exposeForwards: boolean;
  /** Host folders presented as FAT disks on the free IDE positions (see README, "Host folders as disks"). */
  folders: HostFolderSetting[];
}

export interface HostFolderSetting {
  /** Absolute path of the host folder. */
  path: string;
  /** The guest's writes are dropped at power-off instead of written back. */
  readOnly: boolean;
}

export type NetMode = 'user' | 'none';

/** At creation only: also make a blank raw disk of this size in the VM's folder and attach it as the hard disk. */
export interface VmCreateSettings extends VmSettings {
  newDiskMiB?: number;
}

/** 'halted': running, but the guest halted with interrupts off and will not go on (reset or power off). */
export type VmPower = 'off' | 'starting' | 'running' | 'halted' | 'crashed';

export interface VmInfo extends VmSettings {
  id: string;
  power: VmPower;
  /** Why the VM last stopped abnormally (a crash, a failed power-on). */
  error?: string;
  createdAt: string;
  lastRunAt?: string;
  /** The VM's own folder: disks created for it, overlays, saved states. */
  folder: string;
  /** The host pseudo-terminal its serial port is on, while it runs with serial 'pty'. */
  ptyPath?: string;
  /** What the last power-off's folder sync did (one line per folder, then conflicts), this host session. */
  folderSync?: string[];
}

export type SettingsField = keyof VmCreateSettings | 'form';

export interface FieldError {
  field: SettingsField;
  message: string;
}

/** A form's outcome: the stored VM, or every problem found, each tied to its field. Nothing is saved unless ok. */
export type SaveResult = { ok: true; vm: VmInfo } | { ok: false; errors: FieldError[] };

/** What deleting a VM would do, for the confirmation. */
export interface DeletePlan {
  name: string;
  folder: string;
  /** Files inside the VM's folder that will be deleted, with their sizes. */
  files: { name: string; bytes: number }[];
  /** Files the VM uses outside its folder, which are left alone. */
  kept: string[];
}

export interface HostApi {
  version(): Promise<{ name: 'hostbox'; version: string; dataDir: string }>;
  listVms(): Promise<VmInfo[]>;
  /** Defaults for a new VM's form. */
  defaultSettings(): Promise<VmCreateSettings>;
  createVm(settings: VmCreateSettings): Promise<SaveResult>;
  /** Only while the VM is off or crashed. */
  updateVm(id: string, settings: VmSettings): Promise<SaveResult>;
  deletePlan(id: string): Promise<DeletePlan>;
  /** Removes the VM from the library and deletes its folder; only while it is not running. */
  deleteVm(id: string): Promise<void>;
  /** Rejects with a message naming the missing file or bad setting; the VM stays off. */
  powerOn(id: string): Promise<VmInfo>;
  powerOff(id: string): Promise<void>;
  resetVm(id: string): Promise<void>;
  sendSerial(id: string, text: string): Promise<void>;
  sendKeys(id: string, set1Scancodes: number[]): Promise<void>;
  /** Serial output so far this session (so a page opened later sees the console history) and where it ends in the stream. */
  serialLog(id: string): Promise<{ text: string; end: number }>;
  /** A running VM's network: cable state and traffic so far; null when it is off or has no card. */
  netStatus(id: string): Promise<NetStatus | null>;
  /** Plugs the VM's network cable in or pulls it, while it runs. */
  setCable(id: string, connected: boolean): Promise<void>;
  /**
   * "Sync to host now": carries what the guest changed on its host folders since the last sync.
   * A folder the guest still has mounted, or whose file system is damaged, is not synced and left
   * unchanged (ok false); `lines` says what each folder did.
   */
  syncFolders(id: string): Promise<{ ok: boolean; lines: string[] }>;
}

export interface NetStatus {
  cable: boolean;
  framesFromGuest: number;
  framesToGuest: number;
  bytesFromGuest: number;
  bytesToGuest: number;
  /** Malformed frames and IP fragments the NAT dropped. */
  dropped: number;
  /** Connections and datagrams refused (host access off, forbidden addresses, caps). */
  refused: number;
}

export type HostEvent =
  | { type: 'vm'; vm: VmInfo }
  | { type: 'vm-deleted'; id: string }
  /** `offset`: where `data` starts in the VM's serial stream, so a client can join history and live output. */
  | { type: 'serial'; id: string; data: string; offset: number }
  | { type: 'screen'; id: string; screen: Screen };

export const HOST_API_METHODS = [
  'version',
  'listVms',
  'defaultSettings',
  'createVm',
  'updateVm',
  'deletePlan',
  'deleteVm',
  'powerOn',
  'powerOff',
  'resetVm',
  'sendSerial',
  'sendKeys',
  'serialLog',
  'netStatus',
  'setCable',
  'syncFolders',
] as const satisfies readonly (keyof HostApi)[];
