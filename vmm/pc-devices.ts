// The chipset and ISA devices of the PC and their wiring: which port ranges, which IRQ lines, A20,
// reset, ACPI tables, firmware. One place lists the whole board so a reader sees it at a glance.
//
//   IRQ 0 PIT ch0    IRQ 1 keyboard   IRQ 2 cascade   IRQ 3 COM2   IRQ 4 COM1   IRQ 8 RTC
//   IRQ 9 ACPI SCI   IRQ 12 PS/2 mouse   IRQ 13 FPU (FERR#)   IRQ 14/15 IDE (later)

import type { Device, ResetKind } from './device.ts';
import { noIrq, type IrqLine } from './irq.ts';
import type { PcMachine } from './machine.ts';
import type { AcpiPlacement } from './boot/linux.ts';
import type { BlockReply } from './machine-api.ts';
import { Ns16550a } from './devices/ns16550a/ns16550a.ts';
import { I8042 } from './devices/i8042/i8042.ts';
import { Port92 } from './devices/i8042/port92.ts';
import { AcpiPm, ACPI_PM_DEFAULT_BASE } from './devices/acpi-pm/acpi-pm.ts';
import { buildAcpiTables, defaultAcpiPlacement, piixPciRoutes } from './boot/acpi.ts';
import { PciBus } from './devices/pci/pci-bus.ts';
import { I440fx } from './devices/pci/i440fx.ts';
import { Piix3, PIIX3_PIRQRC } from './devices/pci/piix3.ts';
import { Vga } from './devices/vga/vga.ts';
import { I8259Pair } from './devices/i8259/i8259.ts';
import { I8254 } from './devices/i8254/i8254.ts';
import { Port61 } from './devices/i8254/port61.ts';
import { Mc146818 } from './devices/mc146818/mc146818.ts';

/** What a BIOS programs into PIIX3's PIRQ route registers; the DSDT's _PRT says the same. */
const PIRQ_IRQS = [10, 10, 11, 11] as const;
/** PCI slots the ACPI _PRT describes (device numbers on bus 0). */
const PCI_SLOTS = [1, 2, 3, 4, 5] as const;

export class PcDevices {
  readonly pic = new I8259Pair();
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
  private readonly all: Device[] = [];
  private kbcA20 = true;
  private fastA20 = false;

  constructor(private readonly m: PcMachine) {
    const clock = m.clock;
    const irq = (n: number): IrqLine => this.irq(n);
    m.cpu.env.pic = this.pic;
    this.pic.onInterruptChange = () => m.cpu.notifyInterrupt();
    m.cpu.env.ferr = () => {
      const l = this.pic.irq(13);
      l.raise();
      l.lower();
    };
    this.add(this.pic);
    this.pit = new I8254(clock, irq(0));
    this.port61 = new Port61(this.pit, clock);
    this.rtc = new Mc146818(clock, irq(8), () => Date.now());
    this.rtc.setMemorySize(m.mem.size);
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
    this.hostBridge = new I440fx(this.pci, { resetControl: this.isaBridge.resetControl });
    this.vga = new Vga(clock, (screen) => m.host.display(screen));
    m.mem.mapMmio(this.vga.mmio);
    for (const d of [...this.uarts, this.kbc, this.port92, this.acpiPm, this.hostBridge, this.isaBridge, this.vga]) this.add(d);
  }

  private add(d: Device & { ioRanges?: readonly import('./bus.ts').IoRange[] }): void {
    this.all.push(d);
    for (const r of d.ioRanges ?? []) this.m.io.register(r);
  }

  /** ISA IRQ line n as devices drive it. */
  irq(n: number): IrqLine {
    return n === 2 ? noIrq : this.pic.irq(n);
  }

  private setA20(on: boolean, source: 'kbc' | 'fast'): void {
    if (source === 'kbc') this.kbcA20 = on;
    else this.fastA20 = on;
    this.m.cpu.setA20(this.kbcA20 || this.fastA20);
  }

  reset(kind: ResetKind): void {
    for (const d of this.all) d.reset(kind);
    this.kbcA20 = true;
    this.fastA20 = false;
    this.m.cpu.setA20(true);
  }

  /** The configuration a BIOS leaves behind, for guests booted without one (direct kernel boot). */
  firmwareSetup(): void {
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

  loadBios(_bios: Uint8Array, _vgaBios?: Uint8Array): void {
    throw new Error('booting from a BIOS image is not supported yet: use direct kernel boot (--kernel)');
  }

  serialIn(port: number, bytes: Uint8Array): void {
    this.uarts[port]?.receive(bytes);
  }

  keyboard(scancodes: readonly number[]): void {
    this.kbc.keyboardInput(scancodes);
  }

  blockReply(_reply: BlockReply): void {}

  get devices(): readonly Device[] {
    return this.all;
  }
}
