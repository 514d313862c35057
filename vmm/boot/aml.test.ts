import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as aml from './aml.ts';

const bytes = (a: Uint8Array): number[] => [...a];

/** PkgLength decoder written from the grammar, independent of the encoder. */
function decodePkgLength(b: Uint8Array, at: number): { value: number; size: number } {
  const lead = b[at]!;
  const follow = lead >> 6;
  if (follow === 0) return { value: lead & 0x3f, size: 1 };
  let value = lead & 0x0f;
  for (let i = 0; i < follow; i++) value |= b[at + 1 + i]! << (4 + 8 * i);
  return { value, size: 1 + follow };
}

test('\\_S5 encodes as the ACPI specification shows', () => {
  // Name (\_S5, Package (0x04) { 0x05, 0x05, Zero, Zero })
  const s5 = aml.name('\\_S5', aml.pkg([aml.integer(5), aml.integer(5), aml.integer(0), aml.integer(0)]));
  assert.deepEqual(bytes(s5), [0x08, 0x5c, 0x5f, 0x53, 0x35, 0x5f, 0x12, 0x08, 0x04, 0x0a, 0x05, 0x0a, 0x05, 0x00, 0x00]);
  const relative = aml.name('_S5', aml.pkg([aml.integer(5), aml.integer(5), aml.integer(0), aml.integer(0)]));
  assert.deepEqual(bytes(relative), [0x08, 0x5f, 0x53, 0x35, 0x5f, 0x12, 0x08, 0x04, 0x0a, 0x05, 0x0a, 0x05, 0x00, 0x00]);
});

test('integers use the shortest encoding', () => {
  assert.deepEqual(bytes(aml.integer(0)), [0x00]);
  assert.deepEqual(bytes(aml.integer(1)), [0x01]);
  assert.deepEqual(bytes(aml.integer(2)), [0x0a, 0x02]);
  assert.deepEqual(bytes(aml.integer(0xff)), [0x0a, 0xff]);
  assert.deepEqual(bytes(aml.integer(0x100)), [0x0b, 0x00, 0x01]);
  assert.deepEqual(bytes(aml.integer(0x12345678)), [0x0c, 0x78, 0x56, 0x34, 0x12]);
  assert.deepEqual(bytes(aml.integer(0xffffffff)), [0x0c, 0xff, 0xff, 0xff, 0xff]);
  assert.deepEqual(bytes(aml.ones()), [0xff]);
  assert.throws(() => aml.integer(-1), /32-bit/);
  assert.throws(() => aml.integer(2 ** 32), /32-bit/);
  assert.throws(() => aml.integer(1.5), /32-bit/);
});

test('PkgLength counts its own bytes and round-trips at every size boundary', () => {
  assert.deepEqual(bytes(aml.pkgLength(0)), [0x01]);
  assert.deepEqual(bytes(aml.pkgLength(62)), [0x3f]);
  assert.deepEqual(bytes(aml.pkgLength(63)), [0x41, 0x04]); // 65 = 0x41
  assert.deepEqual(bytes(aml.pkgLength(4094)), [0x81, 0x00, 0x01]); // 4097 = 0x1001
  for (const n of [0, 1, 61, 62, 63, 64, 200, 4093, 4094, 4095, 70000, 1 << 20, (1 << 20) - 3, (1 << 28) - 5]) {
    const enc = aml.pkgLength(n);
    const { value, size } = decodePkgLength(enc, 0);
    assert.equal(size, enc.length);
    assert.equal(value, n + enc.length, `body ${n}`);
  }
  assert.throws(() => aml.pkgLength(1 << 28), /longer than PkgLength/);
});

test('name strings', () => {
  assert.deepEqual(bytes(aml.nameString('PCI0')), [0x50, 0x43, 0x49, 0x30]);
  assert.deepEqual(bytes(aml.nameString('_SB')), [0x5f, 0x53, 0x42, 0x5f]);
  assert.deepEqual(bytes(aml.nameString('\\_SB.PCI0')), [0x5c, 0x2e, 0x5f, 0x53, 0x42, 0x5f, 0x50, 0x43, 0x49, 0x30]);
  assert.deepEqual(bytes(aml.nameString('A.B.C')), [0x2f, 0x03, 0x41, 0x5f, 0x5f, 0x5f, 0x42, 0x5f, 0x5f, 0x5f, 0x43, 0x5f, 0x5f, 0x5f]);
  assert.deepEqual(bytes(aml.nameString('^^FOO')), [0x5e, 0x5e, 0x46, 0x4f, 0x4f, 0x5f]);
  assert.deepEqual(bytes(aml.nameString('\\')), [0x5c, 0x00]);
  assert.throws(() => aml.nameString('pci0'), /not a valid ACPI name segment/);
  assert.throws(() => aml.nameString('TOOLONG'), /not a valid ACPI name segment/);
  assert.throws(() => aml.nameString('0ABC'), /not a valid ACPI name segment/);
});

test('EISA ids, strings and buffers', () => {
  assert.deepEqual(bytes(aml.eisaId('PNP0A03')), [0x0c, 0x41, 0xd0, 0x0a, 0x03]);
  assert.deepEqual(bytes(aml.eisaId('PNP0C0F')), [0x0c, 0x41, 0xd0, 0x0c, 0x0f]);
  assert.throws(() => aml.eisaId('PNP0A0'), /EISA id/);
  assert.deepEqual(bytes(aml.string('AB')), [0x0d, 0x41, 0x42, 0x00]);
  assert.throws(() => aml.string('a\0b'), /ASCII/);
  assert.deepEqual(bytes(aml.buffer(Uint8Array.of(9, 8, 7))), [0x11, 0x06, 0x0a, 0x03, 0x09, 0x08, 0x07]);
});

test('scopes and devices wrap their terms with the right lengths', () => {
  const dev = aml.device('PCI0', [aml.name('_ADR', aml.integer(0))]);
  // ExtOp DeviceOp PkgLength 'PCI0' Name('_ADR', Zero)
  assert.deepEqual(bytes(dev), [0x5b, 0x82, 0x0b, 0x50, 0x43, 0x49, 0x30, 0x08, 0x5f, 0x41, 0x44, 0x52, 0x00]);
  const sc = aml.scope('\\_SB', [dev]);
  assert.equal(sc[0], 0x10);
  assert.equal(decodePkgLength(sc, 1).value, sc.length - 1);
  // A package long enough to need a two-byte PkgLength.
  const big = aml.pkg(Array.from({ length: 40 }, (_, i) => aml.integer(0x100 + i)));
  const { value, size } = decodePkgLength(big, 1);
  assert.equal(size, 2);
  assert.equal(value, big.length - 1);
  assert.equal(big[1 + size], 40);
});

test('resource descriptors have the lengths and layouts of ACPI 6.4', () => {
  assert.deepEqual(bytes(aml.ioPort(0xcf8, 0xcf8, 1, 8)), [0x47, 0x01, 0xf8, 0x0c, 0xf8, 0x0c, 0x01, 0x08]);
  const bus = aml.wordBusNumber(0, 0xff);
  assert.deepEqual(bytes(bus), [0x88, 0x0d, 0x00, 0x02, 0x0c, 0x00, 0, 0, 0x00, 0x00, 0xff, 0x00, 0, 0, 0x00, 0x01]);
  const io = aml.wordIo(0x0d00, 0xffff);
  assert.equal(io.length, 16);
  assert.deepEqual(bytes(io.subarray(8)), [0x00, 0x0d, 0xff, 0xff, 0, 0, 0x00, 0xf3]);
  const m = aml.dwordMemory(0xc0000000, 0xfebfffff);
  assert.equal(m.length, 26);
  assert.deepEqual(bytes(m.subarray(0, 6)), [0x87, 0x17, 0x00, 0x00, 0x0c, 0x03]);
  const dv = new DataView(m.buffer, m.byteOffset);
  assert.equal(dv.getUint32(10, true), 0xc0000000);
  assert.equal(dv.getUint32(14, true), 0xfebfffff);
  assert.equal(dv.getUint32(22, true), 0x3ec00000);
  const rt = aml.resourceTemplate([aml.ioPort(0x60, 0x60, 1, 1)]);
  assert.deepEqual(bytes(rt), [0x11, 0x0d, 0x0a, 0x0a, 0x47, 0x01, 0x60, 0x00, 0x60, 0x00, 0x01, 0x01, 0x79, 0x00]);
});
