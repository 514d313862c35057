import { test } from 'node:test';
import assert from 'node:assert/strict';
import { IoBus } from '../../bus.ts';
import { FW_CFG_FILE_DIR, FW_CFG_ID, FW_CFG_NB_CPUS, FW_CFG_SIGNATURE, FwCfg } from './fw-cfg.ts';

function setup() {
  const io = new IoBus();
  const cfg = new FwCfg();
  for (const r of cfg.ioRanges) io.register(r);
  const read = (key: number, n: number): number[] => {
    io.write(0x510, 2, key);
    return Array.from({ length: n }, () => io.read(0x511, 1));
  };
  return { io, cfg, read };
}

test('signature "QEMU", the traditional interface only, and little-endian numbered items', () => {
  const { cfg, read } = setup();
  assert.equal(String.fromCharCode(...read(FW_CFG_SIGNATURE, 4)), 'QEMU');
  assert.deepEqual(read(FW_CFG_ID, 4), [1, 0, 0, 0]);
  cfg.setInt(FW_CFG_NB_CPUS, 0x0102, 2);
  assert.deepEqual(read(FW_CFG_NB_CPUS, 2), [2, 1]);
  // Past the end, and for unknown keys, the data port reads 0.
  assert.deepEqual(read(FW_CFG_NB_CPUS, 4), [2, 1, 0, 0]);
  assert.deepEqual(read(0x7fff, 2), [0, 0]);
  assert.throws(() => cfg.setItem(0x20, new Uint8Array(1)), /file range/);
});

test('the file directory: big-endian count, then size, selector and a 56-byte name per file', () => {
  const { cfg, read } = setup();
  cfg.addFile('vgaroms/vgabios.bin', new Uint8Array([0x55, 0xaa, 1]));
  cfg.addFile('etc/sercon-port', new Uint8Array([0xf8, 0x03]));
  const dir = read(FW_CFG_FILE_DIR, 4 + 2 * 64);
  assert.deepEqual(dir.slice(0, 4), [0, 0, 0, 2]);
  const entry = (i: number) => {
    const e = dir.slice(4 + i * 64, 4 + (i + 1) * 64);
    const size = (e[0]! << 24) | (e[1]! << 16) | (e[2]! << 8) | e[3]!;
    const select = (e[4]! << 8) | e[5]!;
    const name = String.fromCharCode(...e.slice(8, 8 + e.slice(8).indexOf(0)));
    return { size, select, name };
  };
  // Sorted by name, as QEMU lists them.
  assert.deepEqual(entry(0), { size: 2, select: 0x21, name: 'etc/sercon-port' });
  assert.deepEqual(entry(1), { size: 3, select: 0x20, name: 'vgaroms/vgabios.bin' });
  assert.deepEqual(read(0x20, 3), [0x55, 0xaa, 1]);
  // Replacing a file keeps its selector.
  cfg.addFile('vgaroms/vgabios.bin', new Uint8Array([9]));
  assert.deepEqual(read(0x20, 2), [9, 0]);
  assert.throws(() => cfg.addFile('x'.repeat(56), new Uint8Array(1)), /too long/);
});

test('selecting rewinds; an 8-bit selector write takes the low byte; writes to data are ignored', () => {
  const { io, read } = setup();
  assert.deepEqual(read(FW_CFG_SIGNATURE, 2), [0x51, 0x45]);
  io.write(0x511, 1, 0x00);
  io.write(0x510, 1, 0x00);
  assert.equal(io.read(0x511, 1), 0x51);
});
