// The chipset and ISA devices of the PC and their wiring: which port ranges, which IRQ lines, A20,
// reset, ACPI tables, firmware. One place lists the whole board so a reader sees it at a glance.
//
//   IRQ 0 PIT ch0    IRQ 1 keyboard   IRQ 2 cascade   IRQ 3 COM2   IRQ 4 COM1   IRQ 8 RTC
//   IRQ 9 ACPI SCI   IRQ 12 PS/2 mouse   IRQ 13 FPU (FERR#)   IRQ 14/15 IDE primary/secondary
//   Each ISA IRQ also goes to the 82093AA I/O APIC's input of the same number (IRQ 0 to input 2,
//   as on QEMU's PC); the 8259A pair's INTR goes to the CPU's local APIC (LINT0, virtual wire).
//
//   PCI 00:00.0 i440FX host bridge   00:01.0 PIIX3 ISA bridge   00:01.1 PIIX3 IDE (hda: primary
//   master, hdb: primary slave, CD-ROM or hdc: secondary master, hdd: secondary slave, as QEMU
//   places them)   00:03.0 PCnet-PCI II (INTA# -> PIRQC -> IRQ 11), in the slot QEMU gives its
//   first NIC

import type { Device, ResetKind } from './device.ts';
import { defineState, StateError, type StateSchema } from './state/schema.ts';
import { SHADOW_SIZE } from './devices/pci/shadow-ram.ts';
import { noIrq, type IrqLine } from './irq.ts';
import type { PcMachine } from './machine.ts';
import type { AcpiPlacement } from './boot/linux.ts';
import type { BlockReply } from './machine-api.ts';
import { Ns16550a } from './devices/ns16550a/ns16550a.ts';
import { I8042 } from './devices/i8042/i8042.ts';
import { Port92 } from './devices/i8042/port92.ts';
import { AcpiPm, ACPI_PM_DEFAULT_BASE } from './devices/acpi-pm/acpi-pm.ts';
import { buildAcpiTables, defaultAcpiPlacement, piixPciRoutes, relocatableAcpi } from './boot/acpi.ts';
import { tableLoaderFiles } from './boot/acpi-loader.ts';
import { biosSizeProblem } from './boot/bios-image.ts';
import { PciBus } from './devices/pci/pci-bus.ts';
import { I440fx, I440FX_PAM0, I440FX_PAM_COUNT } from './devices/pci/i440fx.ts';
import { ShadowRam } from './devices/pci/shadow-ram.ts';
import { PiixIde } from './devices/piix-ide/piix-ide.ts';
import type { DriveSpec } from './devices/piix-ide/ata-channel.ts';
import type { DiskInfo } from './machine-api.ts';
import { DebugCon, DEBUGCON_SEABIOS_PORT } from './devices/debugcon/debugcon.ts';
import { FwCfg, FW_CFG_MAX_CPUS, FW_CFG_NB_CPUS, FW_CFG_RAM_SIZE } from './devices/fw-cfg/fw-cfg.ts';
import type { MmioRange } from './memory.ts';
import { Piix3, PIIX3_PIRQRC } from './devices/pci/piix3.ts';
import { Vga } from './devices/vga/vga.ts';
import { I8259Pair } from './devices/i8259/i8259.ts';
import { I8254 } from './devices/i8254/i8254.ts';
import { Port61 } from './devices/i8254/port61.ts';
import { Mc146818 } from './devices/mc146818/mc146818.ts';
import { Pcnet } from './devices/pcnet/pcnet.ts';
import { LocalApic } from './devices/local-apic/local-apic.ts';
import { IoApic } from './devices/ioapic/ioapic.ts';

/** What a BIOS programs into PIIX3's PIRQ route registers; the DSDT's _PRT says the same. */
const PIRQ_IRQS = [10, 10, 11, 11] as const;
const NIC_SLOT = 3;
/** PCI slots the ACPI _PRT describes (device numbers on bus 0). */
const PCI_SLOTS = [1, 2, 3, 4, 5] as const;

export class PcDevices {
  /**
   * The board's own state: the two A20 sources, and the ROMs on the bus (the BIOS flash and what
   * the shadow window reads while PAM sends reads to the bus), so a resumed machine runs the firmware
   * it was suspended with even if the host's file changed. Shadow RAM itself is DRAM, saved with RAM.
   */
  static readonly STATE: StateSchema<PcDevices> = defineState<PcDevices>({
    id: 'board',
    version: 2,
    fields: [
      // Version 2: the I/O APIC (a state from before it loads with the I/O APIC as after power-on).
      { name: 'ioapic', type: 'record', since: 2, record: IoApic.STATE, of: (b) => b.ioapic },
      { name: 'kbcA20', type: 'bool', since: 1, get: (b) => b.kbcA20, set: (b, v) => (b.kbcA20 = v as boolean) },
      { name: 'fastA20', type: 'bool', since: 1, get: (b) => b.fastA20, set: (b, v) => (b.fastA20 = v as boolean) },
      {
        name: 'biosFlash',
        type: 'bytes',
        since: 1,
        maxLength: 0x200000,
        get: (b) => b.biosImage,
        set: (b, v) => {
          const img = v as Uint8Array;
          if ((b.biosFlash?.length ?? 0) !== img.length)
            throw new StateError(`board: the saved BIOS flash is ${img.length} bytes, this machine's ${b.biosFlash?.length ?? 0}`);
          b.biosImage = img;
        },
      },
      { name: 'shadowRom', type: 'bytes', since: 1, length: SHADOW_SIZE, get: (b) => b.shadow.rom, set: (b, v) => b.shadow.rom.set(v as Uint8Array) },
    ],
  });

  readonly pic = new I8259Pair();
  /** On the CPU's chip, saved with the CPU; the PIC's INTR reaches the CPU through its LINT0. */
  readonly lapic: LocalApic;
  readonly ioapic: IoApic;
  private readonly isaLines: IrqLine[] = [];
  readonly pit: I8254;
  readonly port61: Port61;
  readonly rtc: Mc146818;
  readonly uarts: Ns16550a[];
  readonly kbc: I8042;
  readonly port92: Port92;
  readonly acpiPm: AcpiPm;
  readonly pci = new PciBus();
  readonly hostBridge: I440fx;
  readonly isaBridge: Piix3;
  readonly vga: Vga;
  readonly ide: PiixIde;
  readonly nic: Pcnet | null = null;
  /** 0xC0000-0xFFFFF: DRAM or the ROMs on the bus, as the i440FX's PAM registers say. */
  readonly shadow: ShadowRam;
  readonly debugCon: DebugCon;
  readonly fwCfg = new FwCfg();
  private readonly all: Device[] = [];
  private kbcA20 = true;
  private fastA20 = false;

  constructor(private readonly m: PcMachine) {
    const clock = m.clock;
    const irq = (n: number): IrqLine => this.irq(n);
    this.ioapic = new IoApic({ deliver: (msg) => this.lapic.receive(msg) });
    m.mem.mapMmio(this.ioapic.mmio);
    this.lapic = new LocalApic({
      clock,
      mem: m.mem,
      pic: this.pic,
      cpu: m.cpu,
      windowMoved: (page) => m.cpu.pagesRemapped(page, 1),
      eoiBroadcast: (vector) => this.ioapic.endOfInterrupt(vector),
    });
    m.cpu.apic = this.lapic;
    m.cpu.env.pic = this.lapic;
    this.pic.onInterruptChange = () => m.cpu.notifyInterrupt();
    m.cpu.env.ferr = () => {
      const l = this.irq(13);
      l.raise();
      l.lower();
    };
    this.add(this.pic);
    this.pit = new I8254(clock, irq(0), () => this.pic.requested(0));
    this.port61 = new Port61(this.pit, clock);
    this.rtc = new Mc146818(clock, irq(8), m.wallMs);
    this.rtc.setMemorySize(m.mem.size);
    // By default hard disk, then CD, then floppy: a bootable disk boots, a CD alone boots the CD.
    this.rtc.setBootOrder(m.config.bootOrder ?? ['disk', 'cdrom', 'floppy']);
    for (const d of [this.pit, this.port61, this.rtc]) this.add(d);
    this.uarts = [
      new Ns16550a(0x3f8, irq(4), clock, (b) => m.host.serialOut(0, b)),
      new Ns16550a(0x2f8, irq(3), clock, (b) => m.host.serialOut(1, b)),
    ];
    const a20Host = {
      setA20: (on: boolean) => this.setA20(on, 'kbc'),
      requestReset: () => m.reset(),
    };
    this.kbc = new I8042(irq(1), irq(12), a20Host);
    this.port92 = new Port92({ setA20: (on) => this.setA20(on, 'fast'), requestReset: () => m.reset() });
    this.acpiPm = new AcpiPm({ clock, sci: irq(9), powerOff: () => m.powerOff(), base: ACPI_PM_DEFAULT_BASE });
    this.isaBridge = new Piix3(this.pci, irq, { requestReset: () => m.reset() });
    this.shadow = new ShadowRam(m.mem, (first, pages) => m.cpu.pagesRemapped(first, pages));
    this.hostBridge = new I440fx(this.pci, { resetControl: this.isaBridge.resetControl, onPamChange: (pam) => this.shadow.apply(pam) });
    this.debugCon = new DebugCon(DEBUGCON_SEABIOS_PORT, (line) => m.host.log('info', `firmware: ${line}`));
    const drive = (kind: DriveSpec['kind'], d: DiskInfo | undefined): DriveSpec | null => (d ? { kind, diskId: d.id, sectors: d.sectors, readOnly: d.readOnly } : null);
    this.ide = new PiixIde({
      pci: this.pci,
      device: 1,
      function: 1,
      mem: m.mem,
      io: m.io,
      isaIrq: irq,
      drives: [
        drive('disk', m.config.hda),
        drive('disk', m.config.hdb),
        m.config.cdrom ? drive('cdrom', m.config.cdrom) : drive('disk', m.config.hdc),
        drive('disk', m.config.hdd),
      ],
      block: (req) => m.host.block(req),
    });
    this.vga = new Vga(clock, (screen) => m.host.display(screen));
    m.mem.mapMmio(this.vga.mmio);
    m.mem.mapMmio(this.vga.dispi.lfbRange);
    for (const d of [...this.uarts, this.kbc, this.port92, this.acpiPm, this.hostBridge, this.isaBridge, this.ide, this.vga, this.debugCon, this.fwCfg]) this.add(d);
    const nic = m.config.nic;
    if (nic) {
      this.nic = new Pcnet({ pci: this.pci, device: NIC_SLOT, mem: m.mem, io: m.io, clock, mac: Uint8Array.from(nic.mac), send: (f) => m.host.net?.(f) });
      this.nic.setLink(nic.link !== false);
      this.add(this.nic);
    }
    this.fwCfg.setInt(FW_CFG_RAM_SIZE, m.mem.size, 8);
    this.fwCfg.setInt(FW_CFG_NB_CPUS, 1, 2);
    this.fwCfg.setInt(FW_CFG_MAX_CPUS, 1, 2);
    // SeaBIOS's MP table then routes ISA IRQ 0 to I/O APIC input 2, where the 8254 is wired.
    this.fwCfg.addFile('etc/irq0-override', new Uint8Array([1, 0, 0, 0, 0, 0, 0, 0]));
  }

  private add(d: Device & { ioRanges?: readonly import('./bus.ts').IoRange[] }): void {
    this.all.push(d);
    for (const r of d.ioRanges ?? []) this.m.io.register(r);
  }

  /** ISA IRQ line n as devices drive it: to the 8259A pair and to the I/O APIC. */
  irq(n: number): IrqLine {
    if (n === 2) return noIrq;
    let line = this.isaLines[n];
    if (!line) {
      const pic = this.pic.irq(n);
      const io = this.ioapic.input(n === 0 ? 2 : n);
      line = this.isaLines[n] = {
        raise: () => {
          pic.raise();
          io.raise();
        },
        lower: () => {
          pic.lower();
          io.lower();
        },
      };
    }
    return line;
  }

  private setA20(on: boolean, source: 'kbc' | 'fast'): void {
    if (source === 'kbc') this.kbcA20 = on;
    else this.fastA20 = on;
    this.m.cpu.setA20(this.kbcA20 || this.fastA20);
  }

  /**
   * After a load, once the host bridge is loaded: the shadow window follows the loaded PAM registers
   * and the CPU's A20 gate the loaded sources (the board's wiring, not a device touching another).
   */
  rewire(): void {
    this.shadow.apply(this.hostBridge.pam());
    this.lapic.remap();
    this.m.cpu.setA20(this.kbcA20 || this.fastA20);
  }

  reset(kind: ResetKind): void {
    for (const d of this.all) d.reset(kind);
    this.lapic.reset(kind);
    this.ioapic.reset(kind);
    this.kbcA20 = true;
    this.fastA20 = false;
    this.m.cpu.setA20(true);
  }

  /** The configuration a BIOS leaves behind, for guests booted without one (direct kernel boot). */
  firmwareSetup(): void {
    // DRAM everywhere below 1 MiB, read and write, as a BIOS leaves it once it has shadowed itself.
    this.pci.configWrite(0, 0, I440FX_PAM0, 1, 0x30);
    for (let i = 1; i < I440FX_PAM_COUNT; i++) this.pci.configWrite(0, 0, I440FX_PAM0 + i, 1, 0x33);
    for (let i = 0; i < 4; i++) this.pci.configWrite(0, 1 << 3, PIIX3_PIRQRC + i, 1, PIRQ_IRQS[i]!);
  }

  /** Writes the ACPI tables for this board into RAM; returns where they are for the e820 map. */
  installFirmwareTables(): AcpiPlacement {
    const place = defaultAcpiPlacement(this.m.mem.size);
    const t = buildAcpiTables(this.m.mem, {
      tablesBase: place.tablesBase,
      tablesSize: place.tablesSize,
      rsdpAddress: place.rsdpAddress,
      pmBase: ACPI_PM_DEFAULT_BASE,
      pci: { routes: piixPciRoutes(PCI_SLOTS, PIRQ_IRQS) },
    });
    return { rsdp: t.rsdp, reservedStart: t.reservedStart, reservedEnd: t.reservedEnd };
  }

  /**
   * Puts a BIOS image in the flash at the top of the 4 GiB space (where the reset vector points)
   * and its last 128 KiB on the bus at 0xE0000-0xFFFFF, and a VGA BIOS at 0xC0000, as a PC's ISA
   * VGA card carries it. The PAM registers then decide when DRAM shadows them.
   */
  loadBios(bios: Uint8Array, vgaBios?: Uint8Array, opts: { serialConsole?: boolean } = {}): void {
    const problem = biosSizeProblem(bios.length);
    if (problem) throw new Error(problem);
    const flash = bios.slice();
    if (!this.biosFlash) {
      const base = 0x100000000 - flash.length;
      this.biosFlash = {
        name: 'bios-flash',
        base,
        length: flash.length,
        read: (off, size) => {
          let v = 0;
          for (let i = size - 1; i >= 0; i--) v = (v << 8) | (this.biosImage[off + i] ?? 0xff);
          return v >>> 0;
        },
        write: () => {},
      };
      this.m.mem.mapMmio(this.biosFlash);
    } else if (this.biosFlash.length !== flash.length) throw new Error('the BIOS image cannot change size while the machine exists');
    this.biosImage = flash;
    const low = flash.subarray(Math.max(0, flash.length - 0x20000));
    this.shadow.loadRom(0x100000 - low.length, low);
    if (vgaBios) {
      if (vgaBios.length > 0x20000 || vgaBios[0] !== 0x55 || vgaBios[1] !== 0xaa)
        throw new Error('the VGA BIOS is not an option ROM (no 55 AA signature, or over 128 KiB)');
      // On the bus at 0xC0000, where a BIOS that scans for option ROMs (the Bochs BIOS) finds it, and
      // as the fw_cfg file QEMU hands SeaBIOS, which copies it into shadow RAM there.
      this.shadow.loadRom(0xc0000, vgaBios);
      this.fwCfg.addFile('vgaroms/vgabios.bin', vgaBios.slice());
    }
    // The same ACPI tables a directly booted kernel gets, for the BIOS to place and link.
    for (const f of tableLoaderFiles(relocatableAcpi({ pmBase: ACPI_PM_DEFAULT_BASE, pci: { routes: piixPciRoutes(PCI_SLOTS, PIRQ_IRQS) } }))) this.fwCfg.addFile(f.name, f.data);
    // SeaBIOS's serial console: its screen output also goes to COM1 and COM1 input acts as keys.
    if (opts.serialConsole) this.fwCfg.addFile('etc/sercon-port', new Uint8Array([0xf8, 0x03, 0, 0, 0, 0, 0, 0]));
  }
  private biosFlash: MmioRange | null = null;
  private biosImage: Uint8Array = new Uint8Array(0);

  serialIn(port: number, bytes: Uint8Array): void {
    this.uarts[port]?.receive(bytes);
  }

  keyboard(scancodes: readonly number[]): void {
    this.kbc.keyboardInput(scancodes);
  }

  blockReply(reply: BlockReply): void {
    this.ide.blockReply(reply);
  }

  get devices(): readonly Device[] {
    return this.all;
  }
}
