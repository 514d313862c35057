// The host API as the renderer sees it, identical over the Electron preload and the web-mode
// WebSocket. Types only: the renderer imports nothing from main/ at runtime.


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

/**
 * 'halted': running, but the guest halted with interrupts off and will not go on (reset or power off).
 * 'suspending': its state is being written; 'suspended': off, with a saved state in its folder that
 * Power on continues from.
 */
export type VmPower = 'off' | 'starting' | 'running' | 'halted' | 'crashed' | 'suspending' | 'suspended';

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
  /** With snapshots: the qcow2 overlay the VM writes now, over its current snapshot's disk. */
  currentDisk?: string;
  /** The snapshot the VM's present state descends from. */
  currentSnapshot?: string;
  /** While suspended: when the state was saved, and the state file's size. */
  suspended?: { at: string; bytes: number };
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
  /**
   * Saves a running VM's whole state to a file in its folder (written atomically) and stops it; it
   * shows as suspended, and Power on continues it. Rejects with the reason, the guest running on.
   */
  suspendVm(id: string): Promise<VmInfo>;
  /** Deletes a suspended VM's saved state: it is then off, as after a power cut. */
  discardState(id: string): Promise<VmInfo>;
  resetVm(id: string): Promise<void>;
  /** Presses the ACPI power button; the VM shows as off once the guest has shut down and powered off. */
  shutdownGuest(id: string): Promise<void>;
  listSnapshots(id: string): Promise<SnapshotList>;
  /**
   * Freezes the VM's disk under a new qcow2 overlay and, while it runs, saves its machine state
   * beside (the guest pauses for the save, then runs on).
   */
  takeSnapshot(id: string, name: string): Promise<SnapshotList>;
  /**
   * Returns the VM to a snapshot, discarding what changed since (a running VM is powered off first).
   * Host folders are never written: a running snapshot's folder disks come back as the guest saw them.
   */
  revertSnapshot(id: string, snapshotId: string): Promise<SnapshotList>;
  /** Deletes a snapshot no later snapshot builds on, merging the VM's changes into its disk when the VM descends from it. */
  deleteSnapshot(id: string, snapshotId: string): Promise<SnapshotList>;
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
  /** PS/2 mouse: relative motion (dx right, dy down), wheel steps (dz down), buttons held (bit 0 left, 1 right, 2 middle). */
  sendMouse(id: string, dx: number, dy: number, dz: number, buttons: number): Promise<void>;
  /** The changes to the VM's screen since the picture `since` (0: the whole current picture). */
  screenUpdate(id: string, since: number): Promise<ScreenUpdate>;
  /** Changes the disc in a running VM's CD drive: an ISO image's path, or '' to eject. The guest sees a media change. */
  changeCd(id: string, path: string): Promise<VmInfo>;
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

/** One snapshot in a VM's tree. */
export interface SnapshotInfo {
  id: string;
  /** The snapshot it was taken after (null: the first of its branch). */
  parentId: string | null;
  name: string;
  createdAt: string;
  /** Taken while the VM ran: reverting to it continues the VM from that moment. */
  withMemory: boolean;
  /** Disk space it holds: the disk changes frozen at it (an overlay in the VM's folder) and its machine state. */
  bytes: number;
}

export interface SnapshotList {
  snapshots: SnapshotInfo[];
  /** The snapshot the VM's present state descends from. */
  current: string | null;
  /** Disk space the changes since then take (the current overlay). */
  currentBytes: number;
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
  /** The VM's screen changed; `version` names the new picture (ask screenUpdate for it). */
  | { type: 'screen'; id: string; version: number }
  | { type: 'activity'; id: string; activity: VmActivity };

/**
 * What a page needs to bring its copy of a VM's screen to the current picture (main/screen-stream.ts).
 * 'text': the whole text screen, cells as char, attribute byte pairs. 'graphics': `rects` is a flat
 * list of x, y, width, height; `data` is zlib (deflate) of their RGBA pixels, one rectangle after the
 * other, row by row; `full` means the rectangles cover the whole picture (a new mode or size).
 */
export type ScreenUpdate =
  | { kind: 'none'; version: number }
  | { kind: 'text'; version: number; cols: number; rows: number; cells: Uint8Array; cursor: { row: number; col: number; visible: boolean } }
  | { kind: 'graphics'; version: number; width: number; height: number; full: boolean; rects: number[]; data: Uint8Array; rawBytes: number };

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
  'suspendVm',
  'discardState',
  'resetVm',
  'shutdownGuest',
  'listSnapshots',
  'takeSnapshot',
  'revertSnapshot',
  'deleteSnapshot',
  'browseDir',
  'recentFiles',
  'sampleGuest',
  'createSampleVm',
  'sendSerial',
  'sendKeys',
  'sendMouse',
  'screenUpdate',
  'changeCd',
  'serialLog',
  'netStatus',
  'setCable',
  'syncFolders',
] as const satisfies readonly (keyof HostApi)[];
