import { test } from 'node:test';
import assert from 'node:assert/strict';
import { IoBus } from '../../bus.ts';
import { ManualClock } from '../../clock.ts';
import { Mc146818 } from './mc146818.ts';

const T0 = Date.UTC(2026, 10, 24, 13, 59, 58); // Tue 24 Nov 2026 13:59:58 UTC

function setup(): { io: IoBus; clock: ManualClock; rtc: Mc146818; irqs: () => number } {
  const clock = new ManualClock();
  let n = 0;
  const rtc = new Mc146818(clock, { raise: () => n++, lower() {} }, () => T0);
  const io = new IoBus();
  for (const r of rtc.ioRanges) io.register(r);
  return { io, clock, rtc, irqs: () => n };
}
const rd = (io: IoBus, i: number): number => {
  io.write(0x70, 1, i);
  return io.read(0x71, 1);
};
const wr = (io: IoBus, i: number, v: number): void => {
  io.write(0x70, 1, i);
  io.write(0x71, 1, v);
};

test('time reads in BCD from the wall clock and advances with guest time', () => {
  const { io, clock } = setup();
  assert.equal(rd(io, 0), 0x58);
  assert.equal(rd(io, 2), 0x59);
  assert.equal(rd(io, 4), 0x13);
  assert.equal(rd(io, 7), 0x24);
  assert.equal(rd(io, 8), 0x11);
  assert.equal(rd(io, 9), 0x26);
  assert.equal(rd(io, 0x32), 0x20);
  clock.advance(3e9);
  assert.equal(rd(io, 0), 0x01);
  assert.equal(rd(io, 2), 0x00);
  assert.equal(rd(io, 4), 0x14);
});

test('binary and 12-hour modes', () => {
  const { io } = setup();
  wr(io, 0x0b, 0x04); // binary, 12-hour
  assert.equal(rd(io, 0), 58);
  assert.equal(rd(io, 4), 0x80 | 1, '1 PM');
});

test('UIP is set in the 244 us before each update', () => {
  const { io, clock } = setup();
  clock.advanceTo(0.5e9);
  assert.equal(rd(io, 0x0a) & 0x80, 0);
  clock.advanceTo(1e9 - 100_000);
  assert.equal(rd(io, 0x0a) & 0x80, 0x80);
  assert.equal(rd(io, 0x0a) & 0x7f, 0x26);
});

test('SET mode lets the guest set the time', () => {
  const { io, clock } = setup();
  wr(io, 0x0b, 0x82);
  wr(io, 0x04, 0x08);
  wr(io, 0x02, 0x30);
  wr(io, 0x00, 0x00);
  wr(io, 0x0b, 0x02);
  clock.advance(2e9);
  assert.equal(rd(io, 4), 0x08);
  assert.equal(rd(io, 2), 0x30);
  assert.equal(rd(io, 0), 0x02);
});

test('periodic and update-ended interrupts set flags, raise IRQ8, and register C read clears them', () => {
  const { io, clock, irqs } = setup();
  wr(io, 0x0b, 0x42); // PIE
  clock.advance(10e6); // 1024 Hz: ~10 periods
  assert.ok(irqs() >= 1);
  const c = rd(io, 0x0c);
  assert.equal(c & 0xc0, 0xc0, 'IRQF and PF');
  assert.equal(rd(io, 0x0c) & 0x80, 0, 'cleared by the read');
  wr(io, 0x0b, 0x12); // UIE only
  const before = irqs();
  clock.advance(1e9);
  assert.ok(irqs() > before);
  assert.equal(rd(io, 0x0c) & 0x90, 0x90);
});

test('CMOS memory size fields and checksum', () => {
  const { io, rtc } = setup();
  rtc.setMemorySize(256 * 1024 * 1024);
  assert.equal(rd(io, 0x15) | (rd(io, 0x16) << 8), 640);
  assert.equal(rd(io, 0x17) | (rd(io, 0x18) << 8), 0xffff);
  assert.equal(rd(io, 0x34) | (rd(io, 0x35) << 8), (256 - 16) * 16);
  let sum = 0;
  for (let i = 0x10; i <= 0x2d; i++) sum += rd(io, i);
  assert.equal((rd(io, 0x2e) << 8) | rd(io, 0x2f), sum);
  io.write(0x70, 1, 0x8f);
  assert.equal(rtc.nmiMasked, true);
});

test('boot order bytes as SeaBIOS reads them: 3Dh first and second device, 38h the third', () => {
  const { io, rtc } = setup();
  rtc.setBootOrder(['disk', 'cdrom', 'floppy']);
  assert.equal(rd(io, 0x3d), 0x32);
  assert.equal(rd(io, 0x38), 0x11);
  rtc.setBootOrder(['cdrom']);
  assert.equal(rd(io, 0x3d), 0x03);
  assert.equal(rd(io, 0x38), 0x01);
});

test('a saved RTC keeps time across the suspension, the guest offset kept; a version-1 state resumes where it stopped', () => {
  const clock = new ManualClock();
  let wall = T0;
  const a = new Mc146818(clock, { raise() {}, lower() {} }, () => wall);
  const io = new IoBus();
  for (const r of a.ioRanges) io.register(r);
  // The guest sets its clock one hour ahead of UTC (local time), then is suspended.
  wr(io, 0x0b, 0x82);
  wr(io, 4, 0x14);
  wr(io, 0x0b, 0x02);
  const saved = a.saveState();
  // Restored two hours and ten seconds later, in a fresh RTC.
  wall = T0 + 2 * 3600_000 + 10_000;
  const b = new Mc146818(new ManualClock(), { raise() {}, lower() {} }, () => wall);
  const io2 = new IoBus();
  for (const r of b.ioRanges) io2.register(r);
  b.loadState(saved, 2);
  assert.deepEqual([rd(io2, 4), rd(io2, 2), rd(io2, 0)], [0x17, 0x00, 0x08], '14:59:58 + 2 h 10 s');
  const v1 = { ...saved };
  delete v1.savedAtMs;
  b.loadState(v1, 1);
  assert.deepEqual([rd(io2, 4), rd(io2, 2), rd(io2, 0)], [0x14, 0x59, 0x58], 'version 1: where it stopped');
  assert.throws(() => b.loadState(saved, 3), /mc146818: saved state version 3/);
});
