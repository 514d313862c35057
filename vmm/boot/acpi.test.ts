import { test } from 'node:test';
import assert from 'node:assert/strict';
import { PhysicalMemory } from '../memory.ts';
import { ACPI_TABLES_SIZE, buildAcpiTables, checksum, defaultAcpiPlacement, dsdtAml, piixPciRoutes } from './acpi.ts';
import { buildE820, loadLinux } from './linux.ts';

const MiB = 1024 * 1024;

function sig(mem: PhysicalMemory, addr: number, n = 4): string {
  return String.fromCharCode(...mem.u8.subarray(addr, addr + n));
}
const u32 = (mem: PhysicalMemory, a: number): number => mem.read32(a) >>> 0;

/** Finds the RSDP the way an OS without boot_params does: 16-byte steps through 0xE0000-0xFFFFF. */
function scanRsdp(mem: PhysicalMemory): number {
  for (let a = 0xe0000; a < 0x100000; a += 16) {
    if (sig(mem, a, 8) === 'RSD PTR ' && checksum(mem.u8.subarray(a, a + 20)) === 0) return a;
  }
  return -1;
}

function table(mem: PhysicalMemory, addr: number, signature: string): Uint8Array {
  assert.equal(sig(mem, addr), signature);
  const len = u32(mem, addr + 4);
  assert.ok(len >= 36 && len < 0x10000, `${signature} length ${len}`);
  const t = mem.u8.subarray(addr, addr + len);
  assert.equal(checksum(t), 0, `${signature} checksum`);
  return t;
}

// ---- a small AML reader, from the grammar, to read the DSDT back ------------------------------

type Value = number | string | Value[] | { buffer: number[] };

class AmlReader {
  pos = 0;
  readonly names = new Map<string, Value>();
  constructor(private readonly b: Uint8Array) {}

  pkgLength(): number {
    const start = this.pos;
    const lead = this.b[this.pos++]!;
    const follow = lead >> 6;
    if (follow === 0) return start + (lead & 0x3f);
    let v = lead & 0x0f;
    for (let i = 0; i < follow; i++) v |= this.b[this.pos++]! << (4 + 8 * i);
    return start + v;
  }

  nameString(scope: string): string {
    let prefix = '';
    if (this.b[this.pos] === 0x5c) {
      this.pos++;
      prefix = '\\';
    }
    const seg = (): string => {
      const s = String.fromCharCode(...this.b.subarray(this.pos, this.pos + 4));
      this.pos += 4;
      return s;
    };
    let segs: string[];
    const c = this.b[this.pos]!;
    if (c === 0x2e) {
      this.pos++;
      segs = [seg(), seg()];
    } else if (c === 0x2f) {
      this.pos++;
      const n = this.b[this.pos++]!;
      segs = Array.from({ length: n }, seg);
    } else if (c === 0x00) {
      this.pos++;
      segs = [];
    } else segs = [seg()];
    if (prefix) return '\\' + segs.join('.');
    return (scope === '\\' ? '\\' : scope + '.') + segs.join('.');
  }

  data(): Value {
    const op = this.b[this.pos++]!;
    switch (op) {
      case 0x00:
        return 0;
      case 0x01:
        return 1;
      case 0xff:
        return 0xffffffff;
      case 0x0a:
        return this.b[this.pos++]!;
      case 0x0b: {
        const v = this.b[this.pos]! | (this.b[this.pos + 1]! << 8);
        this.pos += 2;
        return v;
      }
      case 0x0c: {
        const v = new DataView(this.b.buffer, this.b.byteOffset + this.pos, 4).getUint32(0, true);
        this.pos += 4;
        return v;
      }
      case 0x0d: {
        const end = this.b.indexOf(0, this.pos);
        const s = String.fromCharCode(...this.b.subarray(this.pos, end));
        this.pos = end + 1;
        return s;
      }
      case 0x12: {
        const end = this.pkgLength();
        const n = this.b[this.pos++]!;
        const out: Value[] = [];
        while (this.pos < end) out.push(this.data());
        assert.equal(this.pos, end, 'package ends where its PkgLength says');
        assert.equal(out.length, n, 'NumElements');
        return out;
      }
      case 0x11: {
        const end = this.pkgLength();
        const size = this.data() as number;
        const bytes = [...this.b.subarray(this.pos, end)];
        assert.equal(bytes.length, size, 'buffer size');
        this.pos = end;
        return { buffer: bytes };
      }
      default:
        throw new Error(`unexpected data opcode 0x${op.toString(16)} at ${this.pos - 1}`);
    }
  }

  terms(end: number, scope: string): void {
    while (this.pos < end) {
      const op = this.b[this.pos++]!;
      if (op === 0x08) {
        const n = this.nameString(scope);
        this.names.set(n, this.data());
      } else if (op === 0x10) {
        const e = this.pkgLength();
        this.terms(e, this.nameString(scope));
      } else if (op === 0x5b && this.b[this.pos] === 0x82) {
        this.pos++;
        const e = this.pkgLength();
        const n = this.nameString(scope);
        this.names.set(n, 'Device');
        this.terms(e, n);
      } else throw new Error(`unexpected term opcode 0x${op.toString(16)} at ${this.pos - 1}`);
      assert.ok(this.pos <= end, 'term stays inside its parent');
    }
  }
}

function readDsdt(body: Uint8Array): Map<string, Value> {
  const r = new AmlReader(body);
  r.terms(body.length, '\\');
  assert.equal(r.pos, body.length);
  return r.names;
}

test('RSDP, RSDT, FADT, FACS and DSDT are found, checksummed and linked', () => {
  const mem = new PhysicalMemory(64 * MiB);
  const place = defaultAcpiPlacement(mem.size);
  const res = buildAcpiTables(mem, { ...place, pmBase: 0x600 });
  assert.deepEqual(res, { rsdp: 0xe0000, reservedStart: 64 * MiB - ACPI_TABLES_SIZE, reservedEnd: 64 * MiB });

  const rsdp = scanRsdp(mem);
  assert.equal(rsdp, res.rsdp);
  assert.equal(sig(mem, rsdp + 9, 6), 'HOSTBX');
  assert.equal(mem.read8(rsdp + 15), 0, 'RSDP revision 0 (ACPI 1.0)');

  const rsdtAddr = u32(mem, rsdp + 16);
  assert.ok(rsdtAddr >= res.reservedStart && rsdtAddr < res.reservedEnd);
  const rsdt = table(mem, rsdtAddr, 'RSDT');
  assert.equal(rsdt.length, 40, 'one entry');
  const fadtAddr = u32(mem, rsdtAddr + 36);
  const fadt = table(mem, fadtAddr, 'FACP');
  assert.equal(fadt.length, 116);
  assert.equal(fadt[8], 1, 'FADT revision 1');
  assert.equal(sig(mem, fadtAddr + 10, 6), 'HOSTBX');

  const f = new DataView(fadt.buffer, fadt.byteOffset, fadt.length);
  const facsAddr = f.getUint32(36, true);
  const dsdtAddr = f.getUint32(40, true);
  assert.equal(f.getUint16(46, true), 9, 'SCI_INT');
  assert.equal(f.getUint32(48, true), 0, 'SMI_CMD');
  assert.equal(fadt[52], 0, 'ACPI_ENABLE');
  assert.equal(fadt[53], 0, 'ACPI_DISABLE');
  assert.equal(f.getUint32(56, true), 0x600, 'PM1a_EVT_BLK');
  assert.equal(f.getUint32(60, true), 0, 'PM1b_EVT_BLK');
  assert.equal(f.getUint32(64, true), 0x604, 'PM1a_CNT_BLK');
  assert.equal(f.getUint32(68, true), 0, 'PM1b_CNT_BLK');
  assert.equal(f.getUint32(72, true), 0, 'PM2_CNT_BLK');
  assert.equal(f.getUint32(76, true), 0x608, 'PM_TMR_BLK');
  assert.equal(f.getUint32(80, true), 0, 'GPE0_BLK');
  assert.equal(fadt[88], 4, 'PM1_EVT_LEN');
  assert.equal(fadt[89], 2, 'PM1_CNT_LEN');
  assert.equal(fadt[91], 4, 'PM_TMR_LEN');
  assert.ok(f.getUint16(96, true) > 100, 'no C2');
  assert.ok(f.getUint16(98, true) > 1000, 'no C3');
  const flags = f.getUint32(112, true);
  assert.equal(flags & 1, 1, 'WBINVD');
  assert.equal(flags & (1 << 8), 0, 'TMR_VAL_EXT clear: 24-bit timer');
  assert.equal(flags & (1 << 4), 0, 'power button is a fixed feature');
  assert.equal(flags & (1 << 5), 1 << 5, 'no fixed sleep button');
  assert.equal(flags & (1 << 6), 1 << 6, 'RTC alarms do not use RTC_STS');

  assert.equal(facsAddr % 64, 0, 'FACS 64-byte aligned');
  assert.equal(sig(mem, facsAddr), 'FACS');
  assert.equal(u32(mem, facsAddr + 4), 64);

  const dsdt = table(mem, dsdtAddr, 'DSDT');
  for (const a of [facsAddr, dsdtAddr, fadtAddr, rsdtAddr]) assert.ok(a >= res.reservedStart && a < res.reservedEnd);
  const names = readDsdt(dsdt.subarray(36));
  assert.deepEqual(names.get('\\_S5_'), [5, 5, 0, 0]);
  assert.deepEqual(names.get('\\_S0_'), [0, 0, 0, 0]);
  assert.equal(names.has('\\_SB_.PCI0'), false, 'no PCI bridge unless asked');
});

test('the DSDT describes the PCI host bridge with _CRS and a _PRT when asked', () => {
  const body = dsdtAml({
    pci: {
      routes: [
        { slot: 1, pin: 0, irq: 10 },
        { slot: 2, pin: 0, irq: 11 },
        { slot: 3, pin: 1, irq: 10 },
      ],
    },
  });
  const names = readDsdt(body);
  assert.equal(names.get('\\_SB_.PCI0'), 'Device');
  assert.equal(names.get('\\_SB_.PCI0._HID'), 0x030ad041);
  assert.equal(names.get('\\_SB_.PCI0._UID'), 0);
  assert.equal(names.get('\\_SB_.PCI0._BBN'), 0);
  assert.deepEqual(names.get('\\_SB_.PCI0._PRT'), [
    [0x0001ffff, 0, 0, 10],
    [0x0002ffff, 0, 0, 11],
    [0x0003ffff, 1, 0, 10],
  ]);
  const crs = (names.get('\\_SB_.PCI0._CRS') as { buffer: number[] }).buffer;
  // Walk the descriptors: every one must be well-formed and the template must end with End Tag.
  const kinds: number[] = [];
  let i = 0;
  while (i < crs.length) {
    const tag = crs[i]!;
    kinds.push(tag);
    if (tag & 0x80) i += 3 + (crs[i + 1]! | (crs[i + 2]! << 8));
    else i += 1 + (tag & 7);
    if (tag === 0x79) break;
  }
  assert.equal(i, crs.length);
  assert.deepEqual(kinds, [0x88, 0x47, 0x88, 0x88, 0x87, 0x87, 0x79]);
  assert.throws(() => dsdtAml({ pci: { routes: [{ slot: 32, pin: 0, irq: 10 }] } }), /slot 32/);
  assert.throws(() => dsdtAml({ pci: { routes: [{ slot: 1, pin: 0, irq: 16 }] } }), /IRQ 16/);
});

test('tables with a PCI bridge still fit and checksum', () => {
  const mem = new PhysicalMemory(32 * MiB);
  const res = buildAcpiTables(mem, {
    tablesBase: 16 * MiB,
    rsdpAddress: 0xf0000,
    pmBase: 0xb000,
    pci: { routes: Array.from({ length: 32 }, (_, s) => ({ slot: s, pin: 0 as const, irq: 11 })) },
  });
  assert.deepEqual(res, { rsdp: 0xf0000, reservedStart: 16 * MiB, reservedEnd: 16 * MiB + 4096 });
  const fadtAddr = u32(mem, u32(mem, res.rsdp + 16) + 36);
  assert.equal(sig(mem, fadtAddr), 'FACP');
  const dsdtAddr = u32(mem, fadtAddr + 40);
  const dsdt = table(mem, dsdtAddr, 'DSDT');
  assert.equal((readDsdt(dsdt.subarray(36)).get('\\_SB_.PCI0._PRT') as Value[]).length, 32);
  assert.equal(u32(mem, fadtAddr + 56), 0xb000);
});

test('bad placements are refused', () => {
  const mem = new PhysicalMemory(8 * MiB);
  assert.throws(() => buildAcpiTables(mem, { tablesBase: 0x1234, rsdpAddress: 0xe0000, pmBase: 0x600 }), /page-aligned RAM above 1 MiB/);
  assert.throws(() => buildAcpiTables(mem, { tablesBase: 8 * MiB, rsdpAddress: 0xe0000, pmBase: 0x600 }), /page-aligned RAM above 1 MiB/);
  assert.throws(() => buildAcpiTables(mem, { tablesBase: 7 * MiB, rsdpAddress: 0xd0000, pmBase: 0x600 }), /0xE0000-0xFFFFF/);
  assert.throws(() => buildAcpiTables(mem, { tablesBase: 7 * MiB, rsdpAddress: 0xe0008, pmBase: 0x600 }), /16-byte aligned/);
  assert.throws(() => buildAcpiTables(mem, { tablesBase: 7 * MiB, rsdpAddress: 0xe0000, pmBase: 0xfffc }), /PM base port/);
  assert.throws(
    () => buildAcpiTables(mem, { tablesBase: 8 * MiB - 4096, tablesSize: 8192, rsdpAddress: 0xe0000, pmBase: 0x600 }),
    /do not fit in RAM/,
  );
});

test('the loader reports the tables to the kernel: e820 type 3 and acpi_rsdp_addr', () => {
  const mem = new PhysicalMemory(32 * MiB);
  const acpi = buildAcpiTables(mem, { ...defaultAcpiPlacement(mem.size), pmBase: 0x600 });
  assert.deepEqual(buildE820(mem.size, acpi)[3], { addr: 32 * MiB - 0x10000, size: 0x10000, type: 3 });
  // A minimal bzImage: setup header only.
  const k = new Uint8Array(5 * 512 + 0x1000);
  const dv = new DataView(k.buffer);
  k[0x1f1] = 4;
  dv.setUint32(0x1f4, 0x100, true);
  dv.setUint16(0x1fe, 0xaa55, true);
  k[0x201] = 0x6a;
  dv.setUint32(0x202, 0x53726448, true);
  dv.setUint16(0x206, 0x20f, true);
  k[0x211] = 1;
  dv.setUint32(0x22c, 0x7fffffff, true);
  dv.setUint32(0x238, 255, true);
  const entry = loadLinux(mem, k, { acpi });
  assert.equal(u32(mem, entry.esi + 0x70), 0xe0000);
  assert.equal(sig(mem, u32(mem, entry.esi + 0x70), 8), 'RSD PTR ');
});

test('PIIX PIRQ swizzle: slot s pin p uses link (s + p - 1) mod 4', () => {
  const r = piixPciRoutes([1, 3], [5, 9, 10, 11]);
  assert.deepEqual(r, [
    { slot: 1, pin: 0, irq: 5 },
    { slot: 1, pin: 1, irq: 9 },
    { slot: 1, pin: 2, irq: 10 },
    { slot: 1, pin: 3, irq: 11 },
    { slot: 3, pin: 0, irq: 10 },
    { slot: 3, pin: 1, irq: 11 },
    { slot: 3, pin: 2, irq: 5 },
    { slot: 3, pin: 3, irq: 9 },
  ]);
  assert.equal(piixPciRoutes([0])[0]!.irq, 11, 'slot 0 INTA# is PIRQD');
  assert.throws(() => piixPciRoutes([1], [10, 11]), /four/);
});
