import { test } from 'node:test';
import assert from 'node:assert/strict';
import { checksum, piixPciRoutes, relocatableAcpi } from './acpi.ts';
import { ACPI_RSDP_FILE, ACPI_TABLES_FILE, TABLE_LOADER_FILE, tableLoaderFiles } from './acpi-loader.ts';

/** Runs the loader script the way SeaBIOS's romfile_loader does, placing files at given addresses. */
function runLoader(files: { name: string; data: Uint8Array }[], placeAt: Record<string, number>) {
  const byName = new Map(files.map((f) => [f.name, { data: f.data.slice(), addr: 0 }]));
  const script = byName.get(TABLE_LOADER_FILE)!.data;
  const str = (b: Uint8Array, at: number) => new TextDecoder().decode(b.subarray(at, at + 56)).replace(/\0.*$/s, '');
  const allocs: { file: string; align: number; zone: number }[] = [];
  for (let off = 0; off < script.length; off += 128) {
    const e = script.subarray(off, off + 128);
    const dv = new DataView(e.buffer, e.byteOffset, 128);
    const cmd = dv.getUint32(0, true);
    if (cmd === 1) {
      const file = str(e, 4);
      allocs.push({ file, align: dv.getUint32(60, true), zone: e[64]! });
      byName.get(file)!.addr = placeAt[file]!;
    } else if (cmd === 2) {
      const dest = byName.get(str(e, 4))!;
      const src = byName.get(str(e, 60))!;
      const at = dv.getUint32(116, true);
      assert.equal(e[120], 4);
      const p = new DataView(dest.data.buffer);
      p.setUint32(at, (p.getUint32(at, true) + src.addr) >>> 0, true);
    } else if (cmd === 3) {
      const f = byName.get(str(e, 4))!;
      const at = dv.getUint32(60, true);
      const start = dv.getUint32(64, true);
      const len = dv.getUint32(68, true);
      f.data[at] = (f.data[at]! - checksum(f.data.subarray(start, start + len))) & 0xff;
    } else assert.fail(`unknown loader command ${cmd}`);
  }
  return { byName, allocs };
}

test('the table loader places the RSDP in the F segment and links RSDP -> RSDT -> FADT -> FACS/DSDT', () => {
  const acpi = relocatableAcpi({ pmBase: 0x600, pci: { routes: piixPciRoutes([1, 2], [10, 10, 11, 11]) } });
  const files = tableLoaderFiles(acpi);
  assert.deepEqual(files.map((f) => f.name), [ACPI_RSDP_FILE, ACPI_TABLES_FILE, TABLE_LOADER_FILE]);
  const tablesAt = 0x7ff0000;
  const { byName, allocs } = runLoader(files, { [ACPI_RSDP_FILE]: 0xf5000, [ACPI_TABLES_FILE]: tablesAt });
  assert.deepEqual(allocs, [
    { file: ACPI_RSDP_FILE, align: 16, zone: 2 },
    { file: ACPI_TABLES_FILE, align: 64, zone: 1 },
  ]);
  const rsdp = byName.get(ACPI_RSDP_FILE)!.data;
  const tables = byName.get(ACPI_TABLES_FILE)!.data;
  assert.equal(checksum(rsdp), 0);
  const at = (addr: number) => addr - tablesAt;
  const table = (addr: number) => {
    const o = at(addr);
    const len = new DataView(tables.buffer).getUint32(o + 4, true);
    return { sig: String.fromCharCode(...tables.subarray(o, o + 4)), body: tables.subarray(o, o + len), o };
  };
  const rsdt = table(new DataView(rsdp.buffer).getUint32(16, true));
  assert.equal(rsdt.sig, 'RSDT');
  assert.equal(checksum(rsdt.body), 0);
  const fadt = table(new DataView(tables.buffer).getUint32(rsdt.o + 36, true));
  assert.equal(fadt.sig, 'FACP');
  assert.equal(checksum(fadt.body), 0);
  const fdv = new DataView(tables.buffer);
  const facsAddr = fdv.getUint32(fadt.o + 36, true);
  assert.equal(facsAddr % 64, 0);
  assert.equal(String.fromCharCode(...tables.subarray(at(facsAddr), at(facsAddr) + 4)), 'FACS');
  const dsdt = table(fdv.getUint32(fadt.o + 40, true));
  assert.equal(dsdt.sig, 'DSDT');
  assert.equal(checksum(dsdt.body), 0);
  // The PM block the FADT names is the board's.
  assert.equal(fdv.getUint32(fadt.o + 56, true), 0x600);
});
