import { test } from 'node:test';
import assert from 'node:assert/strict';
import { CPU_PLAIN_SPAN, PAGE_MMIO, PAGE_RAM, PLAIN_BASE, PhysicalMemory } from './memory.ts';

const MiB = 1024 * 1024;

test('DMA copies: runs across pages, ROM readable but not writable, MMIO through its handler, nothing beyond RAM', () => {
  const mem = new PhysicalMemory(2 * MiB);
  const data = Uint8Array.from({ length: 10000 }, (_, i) => (i * 31 + 7) & 0xff);
  mem.writeBytes(0x1ff0, data);
  assert.deepEqual(mem.readBytes(0x1ff0, data.length), data);
  // ROM pages take no writes but read back their contents.
  mem.mapRom(0x10000, new Uint8Array(4096).fill(0xab));
  mem.writeBytes(0x10ffe, Uint8Array.of(1, 2, 3, 4));
  assert.deepEqual([...mem.readBytes(0x10ffe, 4)], [0xab, 0xab, 3, 4]);
  // MMIO pages see each byte.
  const seen: number[] = [];
  mem.mapMmio({ name: 't', base: 0x20000, length: 4096, read: (o) => o & 0xff, write: (_o, _s, v) => seen.push(v) });
  mem.writeBytes(0x20000, Uint8Array.of(9, 8));
  assert.deepEqual(seen, [9, 8]);
  assert.deepEqual([...mem.readBytes(0x20010, 2)], [0x10, 0x11]);
  // Beyond RAM: all ones, and writes vanish; addresses wrap at 4 GiB as 32-bit bus addresses do.
  mem.writeBytes(0xfffffffe, Uint8Array.of(1, 2, 3, 4));
  assert.deepEqual([...mem.readBytes(0xfffffffe, 4)], [0xff, 0xff, 3, 4]);
  mem.writeBytes(2 * MiB - 1, Uint8Array.of(5, 6));
  assert.deepEqual([...mem.readBytes(2 * MiB - 1, 2)], [5, 0xff]);
});

test('DMA into a page holding decoded code tells the CPU once per page', () => {
  const mem = new PhysicalMemory(MiB);
  const pages: number[] = [];
  mem.onCodeWrite = (p) => pages.push(p);
  mem.codePage[3] = 1;
  mem.codePage[4] = 1;
  mem.writeBytes(0x3800, new Uint8Array(0x1000));
  assert.deepEqual(pages, [3, 4]);
});

test('code may be decoded once from RAM, ROM and bus ROMs, never from a device whose reads can change', () => {
  const mem = new PhysicalMemory(2 * MiB);
  mem.mapRom(0x10000, new Uint8Array(4096));
  const range = (name: string, base: number, romReads?: boolean) => ({ name, base, length: 4096, read: () => 0, write: () => {}, ...(romReads === undefined ? {} : { romReads }) });
  mem.mapMmio(range('option-rom', 0x300000, true));
  mem.mapMmio(range('device', 0x301000));
  mem.mapMmio(range('not-rom', 0x302000, false));
  assert.deepEqual([0x0, 0x10, 0x300, 0x301, 0x302].map((p) => mem.codeCacheable(p)), [true, true, true, false, false]);
});

test('plainSpan follows the RAM that runs unbroken from 1 MiB: a ROM or a device mapped there cuts it, unmapping restores it', () => {
  const mem = new PhysicalMemory(8 << 20);
  const span = (): number => mem.plainSpan[0]!;
  assert.equal(span(), (8 << 20) - PLAIN_BASE - 3, 'a dword may begin up to 4 bytes before the end of RAM');
  const device = { name: 'dev', base: 0x500000, length: 0x2000, read: () => 0, write: () => {} };
  mem.mapMmio(device);
  assert.equal(span(), 0x500000 - PLAIN_BASE - 3);
  mem.mapRom(0x300000, new Uint8Array(10));
  assert.equal(span(), 0x300000 - PLAIN_BASE - 3);
  mem.unmapMmio(device);
  assert.equal(span(), 0x300000 - PLAIN_BASE - 3, 'the ROM still cuts it');
  mem.mapMmio({ name: 'low', base: 0xa0000, length: 0x20000, read: () => 0, write: () => {} });
  assert.equal(span(), 0x300000 - PLAIN_BASE - 3, 'nothing below 1 MiB counts');
  mem.setPageKind(0x200, PAGE_MMIO);
  assert.equal(span(), 0x200000 - PLAIN_BASE - 3, 'one page set to another kind cuts it');
  mem.setPageKind(0x200, PAGE_RAM);
  assert.equal(span(), 0x300000 - PLAIN_BASE - 3);
  mem.mapRom(PLAIN_BASE, new Uint8Array(1));
  assert.equal(span(), 0, 'none left');
  assert.equal(new PhysicalMemory(1 << 20).plainSpan[0], 0, '1 MiB of RAM has none above 1 MiB');
  // Past 2^31 with 3 GiB: read as an unsigned number by both code generators.
  assert.equal(new PhysicalMemory(3 * 2 ** 30).plainSpan[0], 3 * 2 ** 30 - PLAIN_BASE - 3);
  // Where the WebAssembly translations read it: in the CPU state area after RAM.
  assert.equal(mem.plainSpan.buffer, mem.wasm.buffer);
  assert.equal(mem.plainSpan.byteOffset, mem.cpuStateOffset + CPU_PLAIN_SPAN);
});

test('an MMIO range mapped again after an unmap keeps one place: unmapping it then gives the pages back to RAM', () => {
  const mem = new PhysicalMemory(4 << 20);
  const device = { name: 'dev', base: 0x200000, length: 0x2000, read: () => 0x5a, write: () => {} };
  for (let round = 0; round < 3; round++) {
    mem.mapMmio(device);
    assert.equal(mem.read8(0x200001), 0x5a);
    mem.unmapMmio(device);
    assert.equal(mem.kind[0x200], PAGE_RAM, `round ${round}`);
    mem.write8(0x200001, 7);
    assert.equal(mem.read8(0x200001), 7);
  }
  // Distinct ranges have a bound, met with an error at set-up rather than a wrong device later.
  for (let k = 1; k < 127; k++) mem.mapMmio({ name: `r${k}`, base: 0x10000000 + k * 4096, length: 4096, read: () => k, write: () => {} });
  assert.equal(mem.read8(0x10000000 + 126 * 4096), 126);
  assert.throws(() => mem.mapMmio({ name: 'one too many', base: 0x20000000, length: 4096, read: () => 0, write: () => {} }), /more than 127/);
});
