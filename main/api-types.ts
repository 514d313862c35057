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

/** One entry of a listed folder; links are shown as what they point to. */
export interface DirEntry {
  name: string;
  kind: 'dir' | 'file' | 'other';
  /** Size of a file; null for folders and others. */
  bytes: number | null;
  link?: boolean;
}

export interface DirListing {
  /** The folder listed, absolute and normalised. */
  path: string;
  /** Its parent, or null at the root. */
  parent: string | null;
  home: string;
  entries: DirEntry[];
  /** More entries than the host lists at once. */
  truncated: boolean;
}

/** What a running VM is doing, sent about once a second. */
export interface VmActivity {
  /** Guest instructions retired per second over the last period, in millions. */
  mips: number;
  /**
   * Share of the last period the VMM spent running the guest rather than idle in HLT (0-100). It is
   * host time, so on a host with too little CPU to go round it counts time the VMM waited for one.
   */
  cpuPercent: number;
  /** CPU time the Hostbox host process used over the last period, every thread (VMM workers in web mode, the server), in % of one core. */
  hostCpuPercent: number;
  /** Host time since power-on. */
  uptimeMs: number;
  instructions: number;
}

/** The name the first-run page's sample VM has in the library (a type, so the renderer can check its copy). */
export type SampleVmName = 'Debian sample';
export const SAMPLE_VM_NAME: SampleVmName = 'Debian sample';

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
  /** Presses the VM's ACPI power button: the guest's OS decides to shut down (or not). */
  shutdownGuest(id: string): Promise<void>;
  /** Lists a host folder for the web page's file picker ('' = the home folder); never reads a file. */
  browseDir(path: string): Promise<DirListing>;
  /** Files the library's VMs were saved with, newest first. */
  recentFiles(): Promise<string[]>;
  /** The test guest's boot files, when built (`npm run guest`); null when not. */
  sampleGuest(): Promise<{ kernelPath: string; initrdPath: string } | null>;
  /** Adds the sample VM (SAMPLE_VM_NAME) booting the test guest to the library. */
  createSampleVm(): Promise<SaveResult>;
  sendSerial(id: string, text: string): Promise<void>;
  sendKeys(id: string, set1Scancodes: number[]): Promise<void>;
  /** Serial output so far this session (so a page opened later sees the console history) and where it ends in the stream. */
  serialLog(id: string): Promise<{ text: string; end: number }>;
  /** A running VM's network: cable state and traffic so far; null when it is off or has no card. */
  netStatus(id: string): Promise<NetStatus | null>;
  /** Plugs the VM's network cable in or pulls it, while it runs. */
  setCable(id: string, connected: boolean): Promise<void>;
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
  | { type: 'screen'; id: string; screen: Screen }
  | { type: 'activity'; id: string; activity: VmActivity };

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
  'shutdownGuest',
  'browseDir',
  'recentFiles',
  'sampleGuest',
  'createSampleVm',
  'sendSerial',
  'sendKeys',
  'serialLog',
  'netStatus',
  'setCable',
] as const satisfies readonly (keyof HostApi)[];
