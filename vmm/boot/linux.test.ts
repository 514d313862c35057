import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { PhysicalMemory } from '../memory.ts';
import {
  BOOT_GDT_ADDR,
  CMDLINE_ADDR,
  ZERO_PAGE_ADDR,
  buildE820,
  loadLinux,
  parseBzImage,
} from './linux.ts';
import { fakeBzImage } from './fake-bzimage.ts';

const MiB = 1024 * 1024;

const u32 = (m: PhysicalMemory, a: number): number => m.read32(a) >>> 0;
const zp = (m: PhysicalMemory, off: number): number => m.read8(ZERO_PAGE_ADDR + off);
const zp16 = (m: PhysicalMemory, off: number): number => m.read16(ZERO_PAGE_ADDR + off);
const zp32 = (m: PhysicalMemory, off: number): number => u32(m, ZERO_PAGE_ADDR + off);

test('rejects files that are not bzImages', () => {
  const mem = new PhysicalMemory(16 * MiB);
  assert.throws(() => loadLinux(mem, new Uint8Array([0x7f, 0x45, 0x4c, 0x46, 1, 1, 1, 0])), /ELF file \(vmlinux\)/);
  assert.throws(() => loadLinux(mem, new Uint8Array(100)), /only 100 bytes/);
  assert.throws(() => loadLinux(mem, new Uint8Array(4096)), /no "HdrS" signature/);
  const noBootFlag = fakeBzImage();
  noBootFlag[0x1fe] = 0;
  assert.throws(() => loadLinux(mem, noBootFlag), /0xAA55/);
  assert.throws(() => loadLinux(mem, fakeBzImage({ loadflags: 0 })), /zImage.*LOADED_HIGH/);
});

test('rejects x86-64 kernels with a hint', () => {
  const mem = new PhysicalMemory(16 * MiB);
  assert.throws(() => loadLinux(mem, fakeBzImage({ xloadflags: 0x1f })), /64-bit \(x86-64\) kernel.*i386/);
  // Protocols before 2.12 have no xloadflags: the field is something else there.
  assert.doesNotThrow(() => loadLinux(mem, fakeBzImage({ protocol: 0x20b, xloadflags: 0x1f })));
  assert.doesNotThrow(() => loadLinux(mem, fakeBzImage({ xloadflags: 0x04 })));
});

test('rejects boot protocols older than 2.06', () => {
  const mem = new PhysicalMemory(16 * MiB);
  assert.throws(() => loadLinux(mem, fakeBzImage({ protocol: 0x205 })), /boot protocol 2\.05.*2\.06 or newer/);
  assert.doesNotThrow(() => loadLinux(mem, fakeBzImage({ protocol: 0x206 })));
});

test('rejects truncated kernels', () => {
  const mem = new PhysicalMemory(16 * MiB);
  // The header itself is cut off.
  assert.throws(() => loadLinux(mem, fakeBzImage({ truncateTo: 0x220 })), /truncated.*setup header/);
  // setup_sects claims more setup code than the file holds.
  assert.throws(() => loadLinux(mem, fakeBzImage({ setupSects: 30, pmSize: 0x100, truncateTo: 0x1000 })), /setup code takes 15872 bytes.*only 4096/);
  // syssize claims more protected-mode code than follows the setup code.
  assert.throws(() => loadLinux(mem, fakeBzImage({ pmSize: 0x1000, syssize: 0x200 })), /should be 8192 bytes \(syssize\).*only 4096/);
  // syssize rounds up to paragraphs: up to 15 missing bytes are normal.
  assert.doesNotThrow(() => loadLinux(mem, fakeBzImage({ pmSize: 0x1001, syssize: 0x101 })));
  assert.throws(() => loadLinux(mem, fakeBzImage({ syssize: 0 })), /syssize is 0/);
});

test('setup_sects 0 means 4', () => {
  const h = parseBzImage(fakeBzImage({ setupSects: 0 }));
  assert.equal(h.setupSects, 4);
  assert.equal(h.setupSize, 5 * 512);
});

test('rejects a kernel that does not fit in RAM', () => {
  const mem = new PhysicalMemory(4 * MiB);
  assert.throws(
    () => loadLinux(mem, fakeBzImage({ initSize: 8 * MiB })),
    /kernel does not fit in guest RAM: it needs memory up to 0x900000 \(9\.0 MiB\) but usable RAM ends at 0x400000/,
  );
  // A relocatable kernel still runs at or above pref_address.
  assert.throws(
    () => loadLinux(mem, fakeBzImage({ relocatable: true, prefAddress: 16 * MiB, alignment: 0x200000 })),
    /does not fit in guest RAM/,
  );
  // The ACPI tables take the top of RAM away from the kernel.
  const small = new PhysicalMemory(2 * MiB);
  assert.throws(
    () => loadLinux(small, fakeBzImage({ initSize: 0xf1000 }), { acpi: { rsdp: 0xe0000, reservedStart: 0x1f0000, reservedEnd: 0x200000 } }),
    /usable RAM ends at 0x1f0000/,
  );
});

test('rejects an initrd that does not fit below initrd_addr_max and RAM', () => {
  const mem = new PhysicalMemory(16 * MiB);
  assert.throws(
    () => loadLinux(mem, fakeBzImage({ initrdAddrMax: 0x1fffff }), { initrd: new Uint8Array(2 * MiB) }),
    /initrd \(2\.0 MiB\) does not fit.*initrd_addr_max 0x1fffff/,
  );
  assert.throws(() => loadLinux(mem, fakeBzImage(), { initrd: new Uint8Array(16 * MiB) }), /initrd \(16\.0 MiB\) does not fit/);
});

test('rejects a command line longer than cmdline_size or containing NUL', () => {
  const mem = new PhysicalMemory(16 * MiB);
  assert.throws(
    () => loadLinux(mem, fakeBzImage({ cmdlineSize: 10 }), { cmdline: 'console=ttyS0' }),
    /command line is 13 bytes; this kernel accepts at most 10/,
  );
  assert.doesNotThrow(() => loadLinux(mem, fakeBzImage({ cmdlineSize: 13 }), { cmdline: 'console=ttyS0' }));
  assert.throws(() => loadLinux(mem, fakeBzImage(), { cmdline: 'a\0b' }), /NUL/);
});

test('rejects a relocatable kernel with a bad kernel_alignment', () => {
  assert.throws(() => parseBzImage(fakeBzImage({ relocatable: true, alignment: 0x300000 })), /not a power of two/);
});

test('loads kernel, initrd, command line, zero page and GDT', () => {
  const mem = new PhysicalMemory(64 * MiB);
  const kernel = fakeBzImage({ pmSize: 0x5000, version: '6.1.0-test (hostbox@test) #1' });
  const initrd = new Uint8Array(0x12345).map((_, i) => (i * 13) & 0xff);
  const acpi = { rsdp: 0xe0000, reservedStart: 64 * MiB - 0x10000, reservedEnd: 64 * MiB };
  const entry = loadLinux(mem, kernel, { initrd, cmdline: 'console=ttyS0 quiet', acpi });

  assert.deepEqual(entry, { eip: 0x100000, esi: ZERO_PAGE_ADDR, gdt: { base: BOOT_GDT_ADDR, limit: 31 }, cs: 0x10, ds: 0x18 });
  assert.deepEqual(mem.u8.subarray(0x100000, 0x105000), kernel.subarray(5 * 512));

  // Initrd: highest page-aligned address below the ACPI tables.
  const initrdAddr = Math.floor((acpi.reservedStart - initrd.length) / 4096) * 4096;
  assert.equal(zp32(mem, 0x218), initrdAddr);
  assert.equal(zp32(mem, 0x21c), initrd.length);
  assert.deepEqual(mem.u8.subarray(initrdAddr, initrdAddr + initrd.length), initrd);

  // Command line.
  assert.equal(zp32(mem, 0x228), CMDLINE_ADDR);
  assert.equal(new TextDecoder().decode(mem.u8.subarray(CMDLINE_ADDR, CMDLINE_ADDR + 19)), 'console=ttyS0 quiet');
  assert.equal(mem.read8(CMDLINE_ADDR + 19), 0);

  // Setup header copied from the image, then the loader's fields.
  assert.equal(zp16(mem, 0x1fe), 0xaa55);
  assert.equal(zp32(mem, 0x202), 0x53726448);
  assert.equal(zp16(mem, 0x206), 0x20f);
  assert.equal(zp32(mem, 0x238), 2047);
  assert.equal(zp(mem, 0x210), 0xff, 'type_of_loader');
  assert.equal(zp(mem, 0x211), 0x81, 'loadflags: LOADED_HIGH | CAN_USE_HEAP');
  assert.equal(zp16(mem, 0x224), 0xfe00, 'heap_end_ptr');
  assert.equal(zp32(mem, 0x214), 0x100000, 'code32_start');
  assert.equal(zp(mem, 0x26c), 0, 'nothing past the header is copied');
  assert.equal(zp(mem, 0x1ef), 0, 'sentinel stays 0');

  // screen_info: 80x25 VGA text.
  assert.equal(zp(mem, 0x00), 0);
  assert.equal(zp(mem, 0x01), 0);
  assert.equal(zp(mem, 0x06), 3);
  assert.equal(zp(mem, 0x07), 80);
  assert.equal(zp16(mem, 0x0a), 3);
  assert.equal(zp(mem, 0x0e), 25);
  assert.equal(zp(mem, 0x0f), 1);
  assert.equal(zp16(mem, 0x10), 16);
  const extKib = (acpi.reservedStart - MiB) / 1024;
  assert.equal(zp16(mem, 0x02), Math.min(extKib, 0xffff));
  assert.equal(zp32(mem, 0x1e0), extKib);

  // ACPI RSDP (protocol 2.14+).
  assert.equal(zp32(mem, 0x70), 0xe0000);
  assert.equal(zp32(mem, 0x74), 0);

  // e820 map.
  assert.equal(zp(mem, 0x1e8), 5);
  const e820: number[][] = [];
  for (let i = 0; i < 5; i++) {
    const o = 0x2d0 + i * 20;
    e820.push([zp32(mem, o), zp32(mem, o + 4), zp32(mem, o + 8), zp32(mem, o + 12), zp32(mem, o + 16)]);
  }
  assert.deepEqual(e820, [
    [0, 0, 0x9f000, 0, 1],
    [0x9f000, 0, 0x61000, 0, 2],
    [0x100000, 0, acpi.reservedStart - 0x100000, 0, 1],
    [acpi.reservedStart, 0, 0x10000, 0, 3],
    [0xfec00000, 0, 0x01400000, 0, 2],
  ]);

  // GDT: flat code at 0x10, flat data at 0x18.
  assert.equal(u32(mem, BOOT_GDT_ADDR + 0x10), 0x0000ffff);
  assert.equal(u32(mem, BOOT_GDT_ADDR + 0x14), 0x00cf9a00);
  assert.equal(u32(mem, BOOT_GDT_ADDR + 0x18), 0x0000ffff);
  assert.equal(u32(mem, BOOT_GDT_ADDR + 0x1c), 0x00cf9200);
  assert.equal(u32(mem, BOOT_GDT_ADDR), 0);
  assert.equal(u32(mem, BOOT_GDT_ADDR + 8), 0);
});

test('without ACPI tables or initrd those fields stay zero and RAM is usable to the top', () => {
  const mem = new PhysicalMemory(32 * MiB);
  mem.u8.fill(0xaa, ZERO_PAGE_ADDR, ZERO_PAGE_ADDR + 4096);
  loadLinux(mem, fakeBzImage());
  assert.equal(zp32(mem, 0x70), 0);
  assert.equal(zp32(mem, 0x218), 0);
  assert.equal(zp32(mem, 0x21c), 0);
  assert.equal(zp(mem, 0x1e8), 4);
  assert.equal(zp32(mem, 0x2d0 + 2 * 20 + 8), 31 * MiB);
  assert.equal(zp32(mem, 0x2d0 + 4 * 20), 0, 'the rest of the zero page is cleared');
  assert.equal(mem.read8(CMDLINE_ADDR), 0, 'empty command line');
});

test('acpi_rsdp_addr is only written for protocol 2.14 and later', () => {
  const mem = new PhysicalMemory(32 * MiB);
  const acpi = { rsdp: 0xe0000, reservedStart: 31 * MiB, reservedEnd: 32 * MiB };
  loadLinux(mem, fakeBzImage({ protocol: 0x20d }), { acpi });
  assert.equal(zp32(mem, 0x70), 0);
  assert.equal(zp32(mem, 0x2d0 + 3 * 20 + 16), 3, 'the tables are still reserved in e820');
});

test('a relocatable kernel loads at pref_address when it fits there', () => {
  const mem = new PhysicalMemory(64 * MiB);
  const kernel = fakeBzImage({ relocatable: true, prefAddress: 16 * MiB, alignment: 0x200000, initSize: 8 * MiB });
  const entry = loadLinux(mem, kernel, { initrd: new Uint8Array(4096) });
  assert.equal(entry.eip, 16 * MiB);
  assert.equal(zp32(mem, 0x214), 16 * MiB);
  assert.equal(mem.read8(16 * MiB + 1), 10);
  // The initrd must stay clear of [runtime start, runtime start + init_size).
  assert.throws(
    () => loadLinux(mem, kernel, { initrd: new Uint8Array(40 * MiB + 1) }),
    /initrd \(40\.0 MiB\) does not fit: it must lie between the kernel's end at 0x1800000/,
  );
  // A non-relocatable kernel stays at 1 MiB.
  const fixed = loadLinux(mem, fakeBzImage({ prefAddress: 16 * MiB, initSize: 8 * MiB }));
  assert.equal(fixed.eip, 0x100000);
});

test('reads the kernel version string', () => {
  assert.equal(parseBzImage(fakeBzImage({ version: '6.1.0-50-686 (debian-kernel@lists.debian.org) #1' })).version,
    '6.1.0-50-686 (debian-kernel@lists.debian.org) #1');
  assert.equal(parseBzImage(fakeBzImage()).version, '');
});

test('buildE820 without ACPI', () => {
  assert.deepEqual(buildE820(8 * MiB), [
    { addr: 0, size: 0x9f000, type: 1 },
    { addr: 0x9f000, size: 0x61000, type: 2 },
    { addr: 0x100000, size: 7 * MiB, type: 1 },
    { addr: 0xfec00000, size: 0x1400000, type: 2 },
  ]);
});

const guestDir = fileURLToPath(new URL('../../.cache/guest/', import.meta.url));
const haveGuest = existsSync(guestDir + 'vmlinuz') && existsSync(guestDir + 'manifest.json');

test('parses and loads the Debian test guest kernel', { skip: haveGuest ? false : 'no .cache/guest/vmlinuz: run `npm run guest` first' }, () => {
  const kernel = new Uint8Array(readFileSync(guestDir + 'vmlinuz'));
  const manifest = JSON.parse(readFileSync(guestDir + 'manifest.json', 'utf8')) as { kernelRelease: string };
  const h = parseBzImage(kernel);
  assert.ok(h.protocol >= 0x20f, `protocol ${h.protocol.toString(16)}`);
  assert.ok(h.version.startsWith(manifest.kernelRelease + ' '), h.version);
  assert.ok(h.relocatable);
  assert.equal(h.code32Start, 0x100000);
  assert.ok(h.initSize > h.kernelSize);
  const mem = new PhysicalMemory(128 * MiB);
  const initrd = existsSync(guestDir + 'initrd.img') ? new Uint8Array(readFileSync(guestDir + 'initrd.img')) : undefined;
  const entry = loadLinux(mem, kernel, { initrd, cmdline: 'console=ttyS0' });
  assert.ok(entry.eip >= 0x100000);
  assert.deepEqual(mem.u8.subarray(entry.eip, entry.eip + 64), kernel.subarray(h.setupSize, h.setupSize + 64));
  assert.throws(() => loadLinux(new PhysicalMemory(8 * MiB), kernel), /does not fit in guest RAM/);
});
