// The ACPI tables a guest OS reads at boot: RSDP -> RSDT -> FADT -> {FACS, DSDT}. They describe a
// PC without an APIC (no MADT: the 8259 pair is the interrupt model) whose fixed-hardware ACPI
// registers are the PM1a event/control blocks and the PM timer of vmm/devices/acpi-pm/. ACPI is
// already enabled at boot (SMI_CMD = 0, SCI_EN set by the PM device's reset), so the OS never
// hands over from a BIOS; poweroff is the \_S5 sleep type written to PM1a_CNT.
//
// Reference: ACPI Specification 1.0b/2.0 layouts: 5.2.4 RSDP (revision 0, 20 bytes), 5.2.6 system
// description table header, 5.2.7 RSDT, 5.2.8 FADT (revision 1, 116 bytes), 5.2.9 FACS, 5.2.11.1
// DSDT; 7.3.4 \_Sx system states; 6.2/6.4 for the PCI host bridge's _HID, _CRS and _PRT.

import type { PhysicalMemory } from '../memory.ts';
import * as aml from './aml.ts';

export const OEM_ID = 'HOSTBX';
export const OEM_TABLE_ID = 'HOSTBOX ';
const CREATOR_ID = 'HBOX';

/** The SCI is ISA IRQ 9, level-triggered, as on PIIX4 boards. */
export const SCI_IRQ = 9;
/** \_S5's SLP_TYP value; the PM device powers off on SLP_EN with this type. */
export const SLP_TYP_S5 = 5;
/** \_S0's SLP_TYP value (working state). */
export const SLP_TYP_S0 = 0;

/** Where a default machine puts the tables: the RSDP in the BIOS area Linux scans, the rest at the top of RAM. */
export const DEFAULT_RSDP_ADDR = 0xe0000;
export const ACPI_TABLES_SIZE = 0x10000;

/** The usual placement for a machine with `ramSize` bytes of RAM: the last 64 KiB hold the tables. */
export function defaultAcpiPlacement(ramSize: number): { tablesBase: number; tablesSize: number; rsdpAddress: number } {
  return { tablesBase: ramSize - ACPI_TABLES_SIZE, tablesSize: ACPI_TABLES_SIZE, rsdpAddress: DEFAULT_RSDP_ADDR };
}

// FADT flags (5.2.8.1)
const FADT_WBINVD = 1 << 0;
const FADT_PROC_C1 = 1 << 2;
/** Set: the sleep button is not a fixed-feature button (this machine has none). */
const FADT_SLP_BUTTON = 1 << 5;
/**
 * Set: the RTC alarm does not report through RTC_STS. The MC146818 model has no wire to the PM
 * block, and with this clear Linux's rtc-cmos would arm the ACPI RTC event for alarms.
 */
const FADT_FIX_RTC = 1 << 6;

const RSDP_SIZE = 20;
const HEADER_SIZE = 36;
const FADT_SIZE = 116;
const FACS_SIZE = 64;

/** One PCI interrupt pin's wiring: device (slot) number, pin 0-3 for INTA#-INTD#, ISA IRQ. */
export interface PciIrqRoute {
  slot: number;
  pin: 0 | 1 | 2 | 3;
  irq: number;
}

/**
 * The PIIX3 wiring of PCI slots to its four PIRQ links, rotated per slot so that the INTA# of
 * neighbouring slots land on different links: slot s pin p drives PIRQ[(s + p - 1) mod 4]. With
 * the links steered to `linkIrqs` (what a BIOS would program into the PIRQRC registers), this is
 * the routing table to give the DSDT. A PCI bus model wired the same way agrees with it.
 */
export function piixPciRoutes(slots: readonly number[], linkIrqs: readonly number[] = [10, 10, 11, 11]): PciIrqRoute[] {
  if (linkIrqs.length !== 4) throw new Error('PIIX has four PIRQ links: give four IRQs');
  const routes: PciIrqRoute[] = [];
  for (const slot of slots)
    for (const pin of [0, 1, 2, 3] as const) routes.push({ slot, pin, irq: linkIrqs[(slot + pin - 1) & 3]! });
  return routes;
}

export interface PciHostBridge {
  /** Every pin of every slot that has a device; pins without a route get no interrupt. */
  routes: readonly PciIrqRoute[];
  /** The memory window BARs may be placed in; default 0xC0000000-0xFEBFFFFF. */
  mmio?: { start: number; end: number };
}

export interface AcpiTablesOptions {
  /** Page-aligned RAM for RSDT, FADT, FACS and DSDT (reported as ACPI memory in e820). */
  tablesBase: number;
  /** Bytes reserved from tablesBase on (whole pages); default: just the pages the tables fill. */
  tablesSize?: number;
  /** 16-byte aligned, in 0xE0000-0xFFFFF so an OS scanning the BIOS area finds it too. */
  rsdpAddress: number;
  /** First port of the PM register block: PM1a_EVT at +0, PM1a_CNT at +4, PM_TMR at +8. */
  pmBase: number;
  /**
   * Describe PCI bus 0 as \_SB.PCI0. With ACPI enabled Linux only scans PCI buses the DSDT names
   * and routes their interrupts through _PRT, so a machine with PCI devices must pass this.
   */
  pci?: PciHostBridge;
}

export interface AcpiTables {
  rsdp: number;
  reservedStart: number;
  reservedEnd: number;
}

/** The header every system description table starts with (checksum filled in by finishTable). */
function sdtHeader(signature: string, length: number, revision: number): Uint8Array {
  const t = new Uint8Array(length);
  const dv = new DataView(t.buffer);
  ascii(t, 0, signature, 4);
  dv.setUint32(4, length, true);
  t[8] = revision;
  ascii(t, 10, OEM_ID, 6);
  ascii(t, 16, OEM_TABLE_ID, 8);
  dv.setUint32(24, 1, true);
  ascii(t, 28, CREATOR_ID, 4);
  dv.setUint32(32, 1, true);
  return t;
}

function ascii(t: Uint8Array, offset: number, s: string, width: number): void {
  for (let i = 0; i < width; i++) t[offset + i] = i < s.length ? s.charCodeAt(i) : 0x20;
}

/** Sets the byte at `at` so that all bytes of `t` sum to zero modulo 256. */
export function fixChecksum(t: Uint8Array, at: number, length = t.length): void {
  t[at] = 0;
  let sum = 0;
  for (let i = 0; i < length; i++) sum += t[i]!;
  t[at] = (0x100 - (sum & 0xff)) & 0xff;
}

export function checksum(bytes: Uint8Array): number {
  let sum = 0;
  for (const b of bytes) sum += b;
  return sum & 0xff;
}

/** The AML of the DSDT body: sleep states and, if asked, the PCI host bridge. */
export function dsdtAml(opts: { pci?: PciHostBridge } = {}): Uint8Array {
  // Each \_Sx package: SLP_TYP for PM1a_CNT, SLP_TYP for PM1b_CNT, two reserved.
  const terms = [
    aml.name('\\_S0', aml.pkg([aml.integer(SLP_TYP_S0), aml.integer(SLP_TYP_S0), aml.integer(0), aml.integer(0)])),
    aml.name('\\_S5', aml.pkg([aml.integer(SLP_TYP_S5), aml.integer(SLP_TYP_S5), aml.integer(0), aml.integer(0)])),
  ];
  if (opts.pci) terms.push(pciHostBridge(opts.pci));
  return aml.concat(terms);
}

function pciHostBridge(pci: PciHostBridge): Uint8Array {
  const mmio = pci.mmio ?? { start: 0xc0000000, end: 0xfebfffff };
  if (mmio.end <= mmio.start) throw new Error('PCI memory window is empty');
  const crs = aml.resourceTemplate([
    aml.wordBusNumber(0, 0xff),
    // The configuration mechanism #1 ports belong to the bridge itself, not to its children.
    aml.ioPort(0xcf8, 0xcf8, 1, 8),
    aml.wordIo(0x0000, 0x0cf7),
    aml.wordIo(0x0d00, 0xffff),
    aml.dwordMemory(0xa0000, 0xbffff),
    aml.dwordMemory(mmio.start, mmio.end),
  ]);
  // _PRT entries: {address 0xSSSSFFFF (any function of slot S), pin, source, source index}. Source
  // 0 means the pin is wired straight to the interrupt whose number is the source index, which in
  // the PIC model is the ISA IRQ; the OS then programs it level-triggered in the ELCR.
  const prt = pci.routes.map((r) => {
    if (!Number.isInteger(r.slot) || r.slot < 0 || r.slot > 31) throw new Error(`PCI slot ${r.slot} is not 0-31`);
    if (!Number.isInteger(r.irq) || r.irq < 0 || r.irq > 15) throw new Error(`PCI IRQ ${r.irq} is not an ISA IRQ 0-15`);
    return aml.pkg([aml.integer(((r.slot << 16) | 0xffff) >>> 0), aml.integer(r.pin), aml.integer(0), aml.integer(r.irq)]);
  });
  return aml.scope('\\_SB', [
    aml.device('PCI0', [
      aml.name('_HID', aml.eisaId('PNP0A03')),
      aml.name('_UID', aml.integer(0)),
      aml.name('_ADR', aml.integer(0)),
      aml.name('_BBN', aml.integer(0)),
      aml.name('_CRS', crs),
      aml.name('_PRT', aml.pkg(prt)),
    ]),
  ]);
}

/**
 * The tables laid out from offset 0 of one block (FACS, DSDT, FADT, RSDT) plus the RSDP, with
 * every pointer holding an offset into the block and a list of where those pointers are. Whoever
 * places the block adds its address to each pointer and fixes the checksums: buildAcpiTables for
 * direct kernel boot, and the firmware's table loader (fw_cfg "etc/table-loader") for a BIOS.
 */
export interface RelocatableAcpi {
  tables: Uint8Array;
  rsdp: Uint8Array;
  /** 32-bit pointers to patch: in the block, or in the RSDP; each holds an offset into the block. */
  pointers: { in: 'tables' | 'rsdp'; at: number }[];
  /** Checksum bytes to recompute after patching: over [start, start + length) of the block or RSDP. */
  checksums: { in: 'tables' | 'rsdp'; at: number; start: number; length: number }[];
}

export function relocatableAcpi(opts: Pick<AcpiTablesOptions, 'pmBase' | 'pci'>): RelocatableAcpi {
  const { pmBase } = opts;
  if (!Number.isInteger(pmBase) || pmBase <= 0 || pmBase + 12 > 0x10000 || pmBase % 4 !== 0)
    throw new Error(`ACPI PM base port ${hex(pmBase)} must be a 4-aligned port below 0xFFF4`);

  // FACS first: it must be 64-byte aligned, and the block is placed page- (or 64-byte) aligned.
  const facsOff = 0;
  const facs = new Uint8Array(FACS_SIZE);
  ascii(facs, 0, 'FACS', 4);
  new DataView(facs.buffer).setUint32(4, FACS_SIZE, true);

  const body = dsdtAml({ pci: opts.pci });
  const dsdtOff = facsOff + FACS_SIZE;
  const dsdt = sdtHeader('DSDT', HEADER_SIZE + body.length, 1);
  dsdt.set(body, HEADER_SIZE);

  const fadtOff = align(dsdtOff + dsdt.length, 16);
  const fadt = sdtHeader('FACP', FADT_SIZE, 1);
  const f = new DataView(fadt.buffer);
  f.setUint32(36, facsOff, true); // FIRMWARE_CTRL
  f.setUint32(40, dsdtOff, true); // DSDT
  fadt[44] = 0; // INT_MODEL: dual 8259
  f.setUint16(46, SCI_IRQ, true); // SCI_INT
  f.setUint32(48, 0, true); // SMI_CMD: no SMM handover, ACPI is always on
  f.setUint32(56, pmBase, true); // PM1a_EVT_BLK
  f.setUint32(64, pmBase + 4, true); // PM1a_CNT_BLK
  f.setUint32(76, pmBase + 8, true); // PM_TMR_BLK
  fadt[88] = 4; // PM1_EVT_LEN: PM1_STS + PM1_EN
  fadt[89] = 2; // PM1_CNT_LEN
  fadt[91] = 4; // PM_TMR_LEN
  // Latencies above 100 and 1000 us say C2 and C3 are not supported.
  f.setUint16(96, 101, true); // P_LVL2_LAT
  f.setUint16(98, 1001, true); // P_LVL3_LAT
  f.setUint32(112, FADT_WBINVD | FADT_PROC_C1 | FADT_SLP_BUTTON | FADT_FIX_RTC, true); // 24-bit timer: TMR_VAL_EXT clear

  const rsdtOff = align(fadtOff + fadt.length, 16);
  const rsdt = sdtHeader('RSDT', HEADER_SIZE + 4, 1);
  new DataView(rsdt.buffer).setUint32(HEADER_SIZE, fadtOff, true);

  const tables = new Uint8Array(rsdtOff + rsdt.length);
  tables.set(facs, facsOff);
  tables.set(dsdt, dsdtOff);
  tables.set(fadt, fadtOff);
  tables.set(rsdt, rsdtOff);

  const rsdp = new Uint8Array(RSDP_SIZE);
  ascii(rsdp, 0, 'RSD PTR ', 8);
  ascii(rsdp, 9, OEM_ID, 6);
  rsdp[15] = 0; // revision 0: ACPI 1.0, RSDT only
  new DataView(rsdp.buffer).setUint32(16, rsdtOff, true);

  return {
    tables,
    rsdp,
    pointers: [
      { in: 'tables', at: fadtOff + 36 },
      { in: 'tables', at: fadtOff + 40 },
      { in: 'tables', at: rsdtOff + HEADER_SIZE },
      { in: 'rsdp', at: 16 },
    ],
    checksums: [
      { in: 'tables', at: dsdtOff + 9, start: dsdtOff, length: dsdt.length },
      { in: 'tables', at: fadtOff + 9, start: fadtOff, length: fadt.length },
      { in: 'tables', at: rsdtOff + 9, start: rsdtOff, length: rsdt.length },
      { in: 'rsdp', at: 8, start: 0, length: RSDP_SIZE },
    ],
  };
}

/** Sets `t[at]` so that the bytes [start, start + length) of `t` sum to zero. */
function fixRange(t: Uint8Array, at: number, start: number, length: number): void {
  t[at] = 0;
  let sum = 0;
  for (let i = start; i < start + length; i++) sum += t[i]!;
  t[at] = (0x100 - (sum & 0xff)) & 0xff;
}

/**
 * Writes RSDP, RSDT, FADT, FACS and DSDT into guest RAM. The tables are firmware content, so they
 * are written straight into RAM even where the page map later says ROM.
 */
export function buildAcpiTables(mem: PhysicalMemory, opts: AcpiTablesOptions): AcpiTables {
  const { tablesBase, rsdpAddress } = opts;
  if (tablesBase % 4096 !== 0 || tablesBase < 0x100000 || tablesBase >= mem.size)
    throw new Error(`ACPI tables base ${hex(tablesBase)} must be page-aligned RAM above 1 MiB`);
  if (rsdpAddress % 16 !== 0 || rsdpAddress < 0xe0000 || rsdpAddress + RSDP_SIZE > 0x100000)
    throw new Error(`RSDP address ${hex(rsdpAddress)} must be 16-byte aligned within 0xE0000-0xFFFFF`);
  const r = relocatableAcpi(opts);

  const end = tablesBase + r.tables.length;
  const reservedEnd = tablesBase + (opts.tablesSize ?? align(r.tables.length, 4096));
  if (reservedEnd % 4096 !== 0 || end > reservedEnd)
    throw new Error(`ACPI tables need ${r.tables.length} bytes; tablesSize ${opts.tablesSize} is too small or not whole pages`);
  if (reservedEnd > mem.size) throw new Error(`ACPI tables at ${hex(tablesBase)} do not fit in RAM (they end at ${hex(reservedEnd)})`);

  // What a firmware table loader does: add the block's address to every pointer, then checksum.
  for (const p of r.pointers) {
    const t = p.in === 'tables' ? r.tables : r.rsdp;
    const dv = new DataView(t.buffer);
    dv.setUint32(p.at, (dv.getUint32(p.at, true) + tablesBase) >>> 0, true);
  }
  for (const c of r.checksums) fixRange(c.in === 'tables' ? r.tables : r.rsdp, c.at, c.start, c.length);

  const u8 = mem.u8;
  u8.fill(0, tablesBase, reservedEnd);
  u8.set(r.tables, tablesBase);
  u8.set(r.rsdp, rsdpAddress);
  return { rsdp: rsdpAddress, reservedStart: tablesBase, reservedEnd };
}

function align(n: number, a: number): number {
  return Math.ceil(n / a) * a;
}

function hex(n: number): string {
  return '0x' + (n >>> 0).toString(16);
}
