// The ACPI tables as a BIOS gets them through fw_cfg: the table block and the RSDP as two files,
// and a script for the firmware's table loader saying where to put them and how to link them.
// This is the interface SeaBIOS (and OVMF) implement for QEMU: with it a BIOS-booted OS finds the
// same RSDT, FADT and DSDT a directly booted kernel gets.
//
// Reference: QEMU hw/acpi/bios-linker-loader.c (the format) and SeaBIOS src/fw/romfile_loader.c.
// Each command is 128 bytes, little-endian: a 32-bit command, then
//   1 ALLOCATE:     file[56], align (u32), zone (u8: 1 high memory, 2 the F segment)
//   2 ADD_POINTER:  dest file[56], src file[56], offset (u32), size (u8): the pointer of `size`
//                   bytes at dest+offset gets the address of src added to it
//   3 ADD_CHECKSUM: file[56], offset (u32), start (u32), length (u32): the byte at offset is
//                   adjusted so that [start, start+length) sums to zero.

import type { RelocatableAcpi } from './acpi.ts';

export const ACPI_TABLES_FILE = 'etc/acpi/tables';
export const ACPI_RSDP_FILE = 'etc/acpi/rsdp';
export const TABLE_LOADER_FILE = 'etc/table-loader';

const ENTRY = 128;
const NAME = 56;
const ZONE_HIGH = 1;
const ZONE_FSEG = 2;

export function tableLoaderFiles(acpi: RelocatableAcpi): { name: string; data: Uint8Array }[] {
  const entries: Uint8Array[] = [];
  const entry = (command: number, fill: (e: Uint8Array, dv: DataView) => void): void => {
    const e = new Uint8Array(ENTRY);
    const dv = new DataView(e.buffer);
    dv.setUint32(0, command, true);
    fill(e, dv);
    entries.push(e);
  };
  const name = (e: Uint8Array, at: number, n: string): void => {
    e.set(new TextEncoder().encode(n).subarray(0, NAME - 1), at);
  };
  const file = (which: 'tables' | 'rsdp'): string => (which === 'tables' ? ACPI_TABLES_FILE : ACPI_RSDP_FILE);
  entry(1, (e, dv) => {
    name(e, 4, ACPI_RSDP_FILE);
    dv.setUint32(4 + NAME, 16, true);
    e[4 + NAME + 4] = ZONE_FSEG;
  });
  entry(1, (e, dv) => {
    name(e, 4, ACPI_TABLES_FILE);
    dv.setUint32(4 + NAME, 64, true); // the FACS needs 64-byte alignment
    e[4 + NAME + 4] = ZONE_HIGH;
  });
  for (const p of acpi.pointers)
    entry(2, (e, dv) => {
      name(e, 4, file(p.in));
      name(e, 4 + NAME, ACPI_TABLES_FILE);
      dv.setUint32(4 + 2 * NAME, p.at, true);
      e[4 + 2 * NAME + 4] = 4;
    });
  for (const c of acpi.checksums)
    entry(3, (e, dv) => {
      name(e, 4, file(c.in));
      dv.setUint32(4 + NAME, c.at, true);
      dv.setUint32(4 + NAME + 4, c.start, true);
      dv.setUint32(4 + NAME + 8, c.length, true);
    });
  const loader = new Uint8Array(entries.length * ENTRY);
  entries.forEach((e, i) => loader.set(e, i * ENTRY));
  return [
    { name: ACPI_RSDP_FILE, data: acpi.rsdp.slice() },
    { name: ACPI_TABLES_FILE, data: acpi.tables.slice() },
    { name: TABLE_LOADER_FILE, data: loader },
  ];
}
