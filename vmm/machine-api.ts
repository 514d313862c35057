// The contract between a VMM process's message loop (vmm/vmm-process.ts) and the emulated PC
// (vmm/machine.ts). The machine never touches the host: everything it needs arrives as bytes in
// VmConfig or through MachineHost callbacks, which the process loop turns into protocol messages.

/** auto means bt; check runs bt and compares each translation with the interpreter (slow). */
export type EngineKind = 'interpreter' | 'bt' | 'auto' | 'check';

export interface DiskInfo {
  /** Back-end handle the host uses to route block requests. */
  readonly id: string;
  readonly sectors: number;
  readonly sectorSize: 512 | 2048;
  readonly readOnly: boolean;
}

export interface VmConfig {
  readonly memoryMiB: number;
  readonly engine: EngineKind;
  /** Direct kernel boot (like QEMU -kernel): the bytes of a bzImage, initrd, and command line. */
  readonly kernel?: Uint8Array;
  readonly initrd?: Uint8Array;
  readonly cmdline?: string;
  /** IDE hard disks by position, as QEMU names them: primary master and slave, secondary master and slave. */
  readonly hda?: DiskInfo;
  readonly hdb?: DiskInfo;
  /** A hard disk at the secondary master; only when there is no CD-ROM, which sits there. */
  readonly hdc?: DiskInfo;
  readonly hdd?: DiskInfo;
  readonly cdrom?: DiskInfo;
  /** Optional BIOS / option ROM images supplied by the host. */
  readonly bios?: Uint8Array;
  readonly vgaBios?: Uint8Array;
  /** Ask the BIOS to mirror its screen on COM1 and read keys from it (SeaBIOS's serial console), for serial-only front ends. */
  readonly biosSerialConsole?: boolean;
  /** The BIOS's boot device order (CMOS), first to last. Default: hard disk, CD, floppy. */
  readonly bootOrder?: readonly ('disk' | 'cdrom' | 'floppy')[];
  /** A PCnet-PCI II network card with this station address; none without it. */
  readonly nic?: NicConfig;
}

export interface NicConfig {
  /** Six bytes, e.g. 52:54:00:12:34:56 as [0x52, 0x54, 0x00, 0x12, 0x34, 0x56]. */
  readonly mac: readonly number[];
  /** Cable connected at power-on (default true). */
  readonly link?: boolean;
}

export interface BlockRequest {
  readonly tag: number;
  readonly disk: string;
  readonly op: 'read' | 'write' | 'flush';
  readonly lba: number;
  readonly count: number;
  readonly data?: Uint8Array;
}

export interface BlockReply {
  readonly tag: number;
  readonly ok: boolean;
  readonly data?: Uint8Array;
  readonly error?: string;
}

/** The VGA text screen as the display channel carries it: 16-bit cells (char | attr << 8). */
export interface TextScreen {
  readonly kind: 'text';
  readonly cols: number;
  readonly rows: number;
  readonly cells: Uint16Array;
  readonly cursor: { readonly row: number; readonly col: number; readonly visible: boolean };
}

/**
 * A graphics mode as the display channel carries it. 'indexed': one DAC index per pixel and the
 * DAC (256 entries of red, green, blue, 8 bits each); 'rgba': four bytes a pixel, palette empty.
 */
export interface GraphicsScreen {
  readonly kind: 'graphics';
  readonly format: 'indexed' | 'rgba';
  readonly width: number;
  readonly height: number;
  /** Row by row: width * height indices, or width * height * 4 bytes. */
  readonly pixels: Uint8Array;
  readonly palette: Uint8Array;
}

/** What the display channel carries: the text screen or a graphics picture. */
export type Screen = TextScreen | GraphicsScreen;

/**
 * 'halted': the CPU executed HLT with interrupts disabled and nothing can wake it (this PC has no NMI
 * source), so the guest has stopped for good; the detail is the HLT's address as CS:EIP in hex.
 */
export type PowerEvent = 'poweroff' | 'reset' | 'triple-fault' | 'halted';

export interface MachineHost {
  serialOut(port: number, bytes: Uint8Array): void;
  display(screen: Screen): void;
  block(req: BlockRequest): void;
  /** An Ethernet frame (no FCS) the NIC put on the wire. */
  net?(frame: Uint8Array): void;
  power(event: PowerEvent, detail?: string): void;
  log(level: 'info' | 'warn' | 'error', message: string): void;
}

export interface MachineStats {
  readonly instructions: number;
  readonly guestTimeNs: number;
  /** The NIC's traffic, when there is one. */
  readonly net?: { readonly txFrames: number; readonly rxFrames: number; readonly rxDropped: number; readonly link: boolean };
}

/** One component's saved state, and a run of non-zero RAM pages (vmm/state/machine-state.ts). */
export interface StateSection {
  readonly id: string;
  readonly version: number;
  readonly data: Uint8Array;
}
export interface RamRun {
  readonly firstPage: number;
  readonly data: Uint8Array;
}

export interface Machine {
  /** Runs guest code for about `budgetMs` of host time, or less if the CPU halts with nothing due. */
  runSlice(budgetMs: number): 'running' | 'halted' | 'off';
  /** Host ms until the next timer event when halted (Infinity if none), for sleeping the host. */
  idleMs(): number;
  pause(): void;
  resume(): void;
  reset(): void;
  /** A press of the ACPI power button (PM1 status PWRBTN_STS, and an SCI when the OS enabled it). */
  powerButton(): void;
  serialIn(port: number, bytes: Uint8Array): void;
  /** PC/AT scancode set 1 make/break sequence for one key (the i8042 translates as hardware does). */
  keyboard(scancodes: readonly number[]): void;
  blockReply(reply: BlockReply): void;
  /** An Ethernet frame (no FCS) arriving at the NIC from the host's network back end. */
  netIn(frame: Uint8Array): void;
  /** Plugs the NIC's cable in or pulls it. */
  setLink(up: boolean): void;
  /** PS/2 mouse: motion (dx right, dy down), buttons bit 0 left, 1 right, 2 middle, dz wheel steps down. */
  mouse(dx: number, dy: number, buttons: number, dz: number): void;
  /** The host ejected the CD (sectors 0) or inserted one of `sectors` 2048-byte sectors; false without a CD drive. */
  changeCdrom(sectors: number): boolean;
  stats(): MachineStats;
  /** Nothing in flight that a saved state could not hold (an IDE command between its phases, a reset). */
  quiescent?(): boolean;
  /**
   * Reads up to `pages` more pages of guest RAM that nothing has read yet, so that the host maps
   * them now, while the guest idles, and not during a suspend, whose zero-page scan would otherwise
   * pay for every page the guest never touched (see PcMachine.prefault). False once all are.
   */
  prefault?(pages: number): boolean;
  /** Every component's section and the RAM runs; the machine must be paused and quiescent. */
  saveState?(): { sections: StateSection[]; ram: Iterable<RamRun> };
  /** Replaces the whole state of a freshly built machine; throws (and must then be discarded) on any error. */
  loadState?(sections: readonly StateSection[], ram: Iterable<RamRun>): void;
}
