import { test } from 'node:test';
import assert from 'node:assert/strict';
import { loadBySchema, saveBySchema } from '../../state/schema.ts';
import { IoApic, IOAPIC_DEFAULT_BASE, RTE_LEVEL, RTE_MASKED, type ApicMessage } from './ioapic.ts';

function setup() {
  const sent: ApicMessage[] = [];
  const io = new IoApic({ deliver: (m) => sent.push(m) });
  const write = (index: number, value: number): void => {
    io.mmio.write(0x00, 4, index);
    io.mmio.write(0x10, 4, value);
  };
  const read = (index: number): number => {
    io.mmio.write(0x00, 4, index);
    return io.mmio.read(0x10, 4) >>> 0;
  };
  return { io, sent, write, read };
}

test('identity, version and the redirection table after reset', () => {
  const { io, read, write } = setup();
  assert.equal(io.mmio.base, IOAPIC_DEFAULT_BASE);
  assert.equal(read(1), 0x00170011, '24 entries, version 11h');
  for (let pin = 0; pin < 24; pin++) assert.equal(read(0x10 + 2 * pin), RTE_MASKED, `entry ${pin} masked`);
  write(0, 0x0f000000 | 0xff);
  assert.equal(read(0), 0x0f000000, 'only the ID bits');
  write(0x13, 0xffffffff);
  assert.equal(read(0x13), 0xff000000, 'the destination field');
  write(0x12, 0xffffffff);
  assert.equal(read(0x12), 0x1afff, 'delivery status and remote IRR are read-only');
  assert.equal(io.mmio.read(0x10, 1), 0, 'byte reads are not decoded');
});

test('an edge on an unmasked input sends one message; an edge while masked is lost', () => {
  const { io, sent, write } = setup();
  const line = io.input(4);
  line.raise();
  line.lower();
  assert.equal(sent.length, 0, 'masked');
  write(0x10 + 8, 0x34 | (1 << 11));
  write(0x10 + 9, 0x01000000);
  assert.equal(sent.length, 0, 'unmasking does not replay the lost edge');
  line.raise();
  line.raise();
  line.lower();
  assert.deepEqual(sent, [{ vector: 0x34, deliveryMode: 0, logical: true, destination: 1, level: false }]);
});

test('a level input sends again after the EOI only while it is still asserted', () => {
  const { io, sent, write, read } = setup();
  const line = io.input(11);
  write(0x10 + 22, 0x59 | RTE_LEVEL | (1 << 13) | RTE_MASKED);
  line.raise();
  assert.equal(sent.length, 0);
  write(0x10 + 22, 0x59 | RTE_LEVEL | (1 << 13));
  assert.equal(sent.length, 1, 'unmasked while asserted: sent at once');
  assert.equal(sent[0]!.level, true);
  assert.equal(read(0x10 + 22) & (1 << 14), 1 << 14, 'remote IRR');
  line.raise();
  assert.equal(sent.length, 1, 'not again before the EOI');
  io.endOfInterrupt(0x59);
  assert.equal(sent.length, 2, 'still asserted at the EOI');
  line.lower();
  io.endOfInterrupt(0x59);
  assert.equal(read(0x10 + 22) & (1 << 14), 0);
  assert.equal(sent.length, 2);
  io.endOfInterrupt(0x60);
  line.raise();
  assert.equal(sent.length, 3);
});

test('the saved state keeps the table, remote IRR and the input levels, so lines driven again are not new edges', () => {
  const a = setup();
  a.write(0x10 + 4, 0x41); // edge, unmasked
  a.write(0x10 + 22, 0x59 | RTE_LEVEL);
  a.io.input(2).raise();
  a.io.input(11).raise();
  const saved = saveBySchema(IoApic.STATE, a.io);
  const b = setup();
  loadBySchema(IoApic.STATE, b.io, saved, 2, true);
  assert.equal(b.read(0x10 + 22) & (1 << 14), 1 << 14);
  b.io.input(2).raise();
  b.io.input(11).raise();
  assert.equal(b.sent.length, 0, 'reasserted lines send nothing new');
  b.io.endOfInterrupt(0x59);
  assert.equal(b.sent.length, 1);
});
