import { test } from 'node:test';
import assert from 'node:assert/strict';
import { IoBus } from '../../bus.ts';
import { I8259Pair } from './i8259.ts';

function setup(): { pic: I8259Pair; io: IoBus } {
  const pic = new I8259Pair();
  const io = new IoBus();
  for (const r of pic.ioRanges) io.register(r);
  // Linux's init_8259A: ICW1 edge+ICW4, ICW2 vectors 0x30/0x38, ICW3 cascade on IR2, ICW4 8086 mode.
  io.write(0x21, 1, 0xff);
  io.write(0xa1, 1, 0xff);
  io.write(0x20, 1, 0x11);
  io.write(0x21, 1, 0x30);
  io.write(0x21, 1, 0x04);
  io.write(0x21, 1, 0x01);
  io.write(0xa0, 1, 0x11);
  io.write(0xa1, 1, 0x38);
  io.write(0xa1, 1, 0x02);
  io.write(0xa1, 1, 0x01);
  io.write(0x21, 1, 0x00);
  io.write(0xa1, 1, 0x00);
  return { pic, io };
}

test('an edge on IRQ0 is delivered with the ICW2 vector and stays in service until EOI', () => {
  const { pic, io } = setup();
  assert.equal(pic.hasInterrupt(), false);
  pic.irq(0).raise();
  pic.irq(0).lower();
  assert.equal(pic.hasInterrupt(), true);
  assert.equal(pic.acknowledge(), 0x30);
  assert.equal(pic.hasInterrupt(), false);
  io.write(0x20, 1, 0x0b); // OCW3: read ISR
  assert.equal(io.read(0x20, 1), 0x01);
  io.write(0x20, 1, 0x20); // non-specific EOI
  assert.equal(io.read(0x20, 1), 0x00);
});

test('priority: a lower-priority request waits while a higher one is in service', () => {
  const { pic, io } = setup();
  pic.irq(4).raise();
  assert.equal(pic.acknowledge(), 0x34);
  pic.irq(3).raise(); // higher priority than 4: nests
  assert.equal(pic.hasInterrupt(), true);
  assert.equal(pic.acknowledge(), 0x33);
  pic.irq(5).raise(); // lower than both
  assert.equal(pic.hasInterrupt(), false);
  io.write(0x20, 1, 0x20); // EOI for 3
  io.write(0x20, 1, 0x20); // EOI for 4
  assert.equal(pic.acknowledge(), 0x35);
});

test('the slave cascades through IR2 and needs EOI on both chips', () => {
  const { pic, io } = setup();
  pic.irq(12).raise();
  pic.irq(12).lower();
  assert.equal(pic.acknowledge(), 0x3c);
  io.write(0xa0, 1, 0x0b);
  assert.equal(io.read(0xa0, 1), 1 << 4);
  io.write(0x20, 1, 0x0b);
  assert.equal(io.read(0x20, 1), 1 << 2);
  pic.irq(14).raise();
  assert.equal(pic.hasInterrupt(), false, 'IRQ14 is below IRQ12 in the slave');
  io.write(0xa0, 1, 0x20);
  io.write(0x20, 1, 0x20);
  assert.equal(pic.acknowledge(), 0x3e);
});

test('masked lines are held in IRR; a vanished request gives spurious IRQ7 without ISR', () => {
  const { pic, io } = setup();
  io.write(0x21, 1, 0x02);
  pic.irq(1).raise();
  assert.equal(pic.hasInterrupt(), false);
  io.write(0x20, 1, 0x0a); // read IRR
  assert.equal(io.read(0x20, 1) & 0x02, 0x02);
  io.write(0x21, 1, 0x00);
  assert.equal(pic.acknowledge(), 0x31);
  assert.equal(pic.acknowledge(), 0x37, 'nothing pending: spurious IR7');
  io.write(0x20, 1, 0x0b);
  assert.equal(io.read(0x20, 1), 0x02, 'spurious IR7 sets no ISR bit');
});

test('level-triggered inputs via ELCR re-request while the line is high', () => {
  const { pic, io } = setup();
  io.write(0x4d1, 1, 0xff);
  assert.equal(io.read(0x4d1, 1), 0xde, 'IRQ8 and IRQ13 cannot be level');
  pic.irq(11).raise();
  assert.equal(pic.acknowledge(), 0x3b);
  io.write(0xa0, 1, 0x20);
  io.write(0x20, 1, 0x20);
  assert.equal(pic.hasInterrupt(), true, 'still asserted');
  pic.irq(11).lower();
  assert.equal(pic.hasInterrupt(), false);
});

test('an input made level-sensitive requests while its line is high, and forgets an edge whose line is low', () => {
  const { pic, io } = setup();
  // IRQ 9 high in edge mode: its edge is taken and ended, the line stays high.
  pic.irq(9).raise();
  assert.equal(pic.acknowledge(), 0x39);
  io.write(0xa0, 1, 0x20);
  io.write(0x20, 1, 0x20);
  assert.equal(pic.hasInterrupt(), false, 'edge: one request per rising edge');
  io.write(0x4d1, 1, 0x02);
  assert.equal(pic.hasInterrupt(), true, 'level: the high line requests at once');
  assert.equal(pic.acknowledge(), 0x39);
  io.write(0xa0, 1, 0x20);
  io.write(0x20, 1, 0x20);
  pic.irq(9).lower();
  assert.equal(pic.hasInterrupt(), false);
  // IRQ 10: an edge latched while masked, the line low again; level mode drops the request.
  io.write(0xa1, 1, 0x04);
  pic.irq(10).raise();
  pic.irq(10).lower();
  io.write(0xa0, 1, 0x0a); // OCW3: read IRR
  assert.equal(io.read(0xa0, 1) & 0x04, 0x04);
  io.write(0x4d1, 1, 0x06);
  assert.equal(io.read(0xa0, 1) & 0x04, 0, 'nothing asserts IRQ 10 now');
  // Back to edge: the latch is left alone.
  pic.irq(11).raise();
  io.write(0x4d1, 1, 0x00);
  assert.equal(io.read(0xa0, 1) & 0x08, 0x08);
});

test('automatic EOI, specific EOI, rotation and the poll command', () => {
  const { pic, io } = setup();
  // Re-init the master with AEOI.
  io.write(0x20, 1, 0x11);
  io.write(0x21, 1, 0x08);
  io.write(0x21, 1, 0x04);
  io.write(0x21, 1, 0x03);
  pic.irq(0).raise();
  assert.equal(pic.acknowledge(), 0x08);
  io.write(0x20, 1, 0x0b);
  assert.equal(io.read(0x20, 1), 0, 'AEOI leaves nothing in service');
  // Set priority so IR3 is lowest: IR4 is now the highest.
  io.write(0x20, 1, 0xc3);
  pic.irq(3).raise();
  pic.irq(5).raise();
  assert.equal(pic.acknowledge(), 0x0d);
  // Poll: returns 0x80 | level and acknowledges.
  pic.irq(6).raise();
  io.write(0x20, 1, 0x0c);
  assert.equal(io.read(0x20, 1), 0x86);
});

test('saved state round-trips and reset clears it', () => {
  const { pic, io } = setup();
  io.write(0x21, 1, 0x5a);
  pic.irq(3).raise();
  const s = pic.saveState();
  const other = new I8259Pair();
  other.loadState(s, 1);
  assert.deepEqual(other.saveState(), s);
  pic.reset('hard');
  const r1 = JSON.stringify(pic.saveState());
  pic.reset('hard');
  assert.equal(JSON.stringify(pic.saveState()), r1);
  assert.equal(io.read(0x21, 1), 0);
});
