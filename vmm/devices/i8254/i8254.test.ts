import { test } from 'node:test';
import assert from 'node:assert/strict';
import { IoBus } from '../../bus.ts';
import { ManualClock, TimerQueue } from '../../clock.ts';

/** Time that jumps, then fires whatever is due at the new time: how the machine's run loop behaves. */
class LateClock extends TimerQueue {
  t = 0;
  now(): number {
    return this.t;
  }
  jump(ns: number): void {
    this.t += ns;
    this.runDue();
  }
}
import type { IrqLine } from '../../irq.ts';
import { I8254, PIT_HZ } from './i8254.ts';
import { Port61 } from './port61.ts';

/** An IRQ line recording the guest time of each rising edge. */
function edgeRecorder(clock: { now(): number }): { line: IrqLine; edges: number[] } {
  const edges: number[] = [];
  let level = false;
  return {
    edges,
    line: {
      raise: () => {
        if (!level) edges.push(clock.now());
        level = true;
      },
      lower: () => {
        level = false;
      },
    },
  };
}

function setup(): { io: IoBus; clock: ManualClock; pit: I8254; edges: number[] } {
  const clock = new ManualClock();
  const { line, edges } = edgeRecorder(clock);
  const pit = new I8254(clock, line);
  const io = new IoBus();
  for (const r of pit.ioRanges) io.register(r);
  const p61 = new Port61(pit, clock);
  for (const r of p61.ioRanges) io.register(r);
  return { io, clock, pit, edges };
}

const ns = (clocks: number): number => (clocks * 1e9) / PIT_HZ;

test('mode 2 on counter 0 interrupts every N clocks without drift (HZ=250)', () => {
  const { io, clock, edges } = setup();
  const latch = Math.round(PIT_HZ / 250);
  io.write(0x43, 1, 0x34); // counter 0, LSB/MSB, mode 2
  io.write(0x40, 1, latch & 0xff);
  io.write(0x40, 1, latch >> 8);
  clock.advance(1e9);
  // Programming mode 2 drives OUT high at once (that first edge is at t=0); then one per period.
  const ticks = edges.filter((t) => t > 0);
  // 4773 clocks is 4.0002 ms, so 249 whole periods fit in one second.
  assert.equal(ticks.length, 249);
  const last = ticks[ticks.length - 1]!;
  assert.ok(Math.abs(last - ns(latch * 249)) < 2000, `249th tick at ${last} ns`);
});

test('mode 0 raises OUT once at terminal count (one-shot clock event)', () => {
  const { io, clock, edges } = setup();
  io.write(0x43, 1, 0x30); // counter 0, LSB/MSB, mode 0
  io.write(0x40, 1, 0xe8);
  io.write(0x40, 1, 0x03); // 1000 clocks
  clock.advance(ns(999));
  assert.equal(edges.length, 0);
  clock.advance(ns(2));
  assert.equal(edges.length, 1);
  clock.advance(1e8);
  assert.equal(edges.length, 1);
});

test('counter latch and read-back freeze the count; LSB/MSB flip-flop', () => {
  const { io, clock } = setup();
  io.write(0x43, 1, 0x34);
  io.write(0x40, 1, 0x00);
  io.write(0x40, 1, 0x10); // 0x1000
  clock.advance(ns(0x100));
  io.write(0x43, 1, 0x00); // latch counter 0
  clock.advance(ns(0x80));
  const lo = io.read(0x40, 1);
  const hi = io.read(0x40, 1);
  assert.equal((hi << 8) | lo, 0x1000 - 0x100);
  // Read-back: status + count of counter 0.
  io.write(0x43, 1, 0xc2);
  const status = io.read(0x40, 1);
  assert.equal(status & 0x3f, 0x34, 'rw mode 3, mode 2, binary');
  const v = io.read(0x40, 1) | (io.read(0x40, 1) << 8);
  assert.equal(v, 0x1000 - 0x180);
});

test("Linux's TSC calibration: counter 2 in mode 0 gated by port 0x61, polled through bit 5", () => {
  const { io, clock } = setup();
  // pit_calibrate_tsc: gate high, speaker off; mode 0 with a 50 ms latch; poll OUT.
  io.write(0x61, 1, (io.read(0x61, 1) & ~0x02) | 0x01);
  io.write(0x43, 1, 0xb0);
  const latch = Math.floor(PIT_HZ / 20);
  io.write(0x42, 1, latch & 0xff);
  io.write(0x42, 1, latch >> 8);
  let polls = 0;
  while ((io.read(0x61, 1) & 0x20) === 0) {
    clock.advance(10_000);
    polls++;
    assert.ok(polls < 10_000);
  }
  assert.ok(Math.abs(clock.now() - 50e6) < 20_000, `OUT rose at ${clock.now()} ns`);
  // pit_expect_msb: the MSB of counter 2 counts down steadily in mode 0 from 0xFFFF.
  io.write(0x43, 1, 0xb0);
  io.write(0x42, 1, 0xff);
  io.write(0x42, 1, 0xff);
  let prev = 0x100;
  for (let k = 0; k < 5; k++) {
    io.read(0x42, 1);
    const msb = io.read(0x42, 1);
    assert.ok(msb < prev);
    prev = msb;
    clock.advance(ns(300));
  }
});

test('gate low stops counter 2; the refresh bit toggles', () => {
  const { io, clock } = setup();
  io.write(0x61, 1, 0x00);
  io.write(0x43, 1, 0xb0);
  io.write(0x42, 1, 0x10);
  io.write(0x42, 1, 0x00);
  clock.advance(ns(0x100));
  assert.equal(io.read(0x61, 1) & 0x20, 0, 'gated off: never reaches terminal count');
  const a = io.read(0x61, 1) & 0x10;
  clock.advance(15_085);
  assert.notEqual(io.read(0x61, 1) & 0x10, a);
});

test('gate low holds OUT: low in mode 0 for any count (0 included), high in mode 4', () => {
  const { io, clock } = setup();
  const out2 = () => (io.read(0x61, 1) & 0x20) !== 0;
  io.write(0x61, 1, 0x00);
  // Mode 0, count 0 (65536): loaded while gated off, nothing counted, OUT stays low.
  io.write(0x43, 1, 0xb0);
  io.write(0x42, 1, 0x00);
  io.write(0x42, 1, 0x00);
  clock.advance(ns(10));
  assert.equal(out2(), false, 'mode 0, count 0, gate low');
  // Mode 4, count 16: its strobe comes only after 16 counted clocks; gated off, none are counted.
  io.write(0x43, 1, 0xb8);
  io.write(0x42, 1, 16);
  io.write(0x42, 1, 0);
  clock.advance(ns(16.5));
  assert.equal(out2(), true, 'mode 4, gate low, at the clock the strobe would have been');
});

test('saved state round-trips', () => {
  const { io, pit, clock } = setup();
  io.write(0x43, 1, 0x34);
  io.write(0x40, 1, 0x34);
  io.write(0x40, 1, 0x12);
  clock.advance(12345);
  const s = pit.saveState();
  const again = new I8254(clock, { raise() {}, lower() {} });
  again.loadState(s, pit.stateVersion);
  assert.deepEqual(again.saveState(), s);
});

test('mode 4 (Linux one-shot clockevent) delivers its one-clock strobe even when the timer runs late', () => {
  const clock = new LateClock();
  const { line, edges } = edgeRecorder(clock);
  const pit = new I8254(clock, line);
  const io = new IoBus();
  for (const r of pit.ioRanges) io.register(r);
  io.write(0x43, 1, 0x38); // counter 0, LSB/MSB, mode 4
  for (let k = 0; k < 3; k++) {
    const before = edges.length;
    io.write(0x40, 1, 0xe8);
    io.write(0x40, 1, 0x03); // 1000 clocks
    // Jump far past the strobe in one step, as a busy run loop does.
    clock.jump(ns(5000));
    assert.equal(edges.length, before + 1, `strobe ${k} delivered once`);
  }
});

test('mode 2 keeps ticking when timers are serviced only every few hundred clocks', () => {
  const clock = new LateClock();
  const { line, edges } = edgeRecorder(clock);
  const pit = new I8254(clock, line);
  const io = new IoBus();
  for (const r of pit.ioRanges) io.register(r);
  io.write(0x43, 1, 0x34);
  io.write(0x40, 1, 0x00);
  io.write(0x40, 1, 0x01); // 256 clocks
  const first = edges.length;
  for (let k = 0; k < 100; k++) clock.jump(ns(400));
  // Late service loses ticks (one per service at most) but never stops them.
  assert.ok(edges.length - first >= 99, `${edges.length - first} ticks in 100 late services`);
});

test('periodic ticks lost to a late host come back, one per acknowledgement, until the count is whole', () => {
  const clock = new LateClock();
  // The PIC's IRR bit for IRQ0: an edge sets it, the CPU's acknowledgement clears it. An edge while
  // it is set merges into the pending request: the guest sees one tick, not two.
  let requested = false;
  let taken = 0;
  let level = false;
  const pic: IrqLine = {
    raise: () => {
      if (!level && !requested) requested = true;
      level = true;
    },
    lower: () => {
      level = false;
    },
  };
  const pit = new I8254(clock, pic, () => requested);
  const io = new IoBus();
  for (const r of pit.ioRanges) io.register(r);
  const latch = Math.round(PIT_HZ / 250); // 4 ms
  io.write(0x43, 1, 0x34);
  io.write(0x40, 1, latch & 0xff);
  io.write(0x40, 1, latch >> 8);
  const ack = (): void => {
    if (requested) taken++;
    requested = false;
  };
  ack();
  taken = 0;
  // The host stalls for 100 ms; then the guest runs normally, taking each request within 50 us.
  clock.jump(100e6);
  for (let t = 0; t < 100e6; t += 50e3) {
    ack();
    clock.jump(50e3);
  }
  ack();
  const expected = Math.floor(200e6 / ns(latch));
  assert.ok(Math.abs(taken - expected) <= 1, `the guest took ${taken} ticks in 200 ms of guest time; ${expected} happened`);
});

test('reprogramming the counter forgets lost ticks of the old program', () => {
  const clock = new LateClock();
  const { line, edges } = edgeRecorder(clock);
  const pit = new I8254(clock, line, () => false);
  const io = new IoBus();
  for (const r of pit.ioRanges) io.register(r);
  io.write(0x43, 1, 0x34);
  io.write(0x40, 1, 0xa9);
  io.write(0x40, 1, 0x12);
  clock.jump(100e6);
  io.write(0x43, 1, 0x38); // one-shot mode 4, as Linux switches to when it goes tickless
  io.write(0x40, 1, 0xff);
  io.write(0x40, 1, 0xff);
  const n = edges.length;
  clock.jump(10e6);
  assert.equal(edges.length, n, 'no stale periodic ticks after the switch');
});

test('a one-shot strobe is never lost, even when guest time passes its deadline while the count is being loaded', () => {
  // A host so slow that every look at the clock finds 5 ms gone (a descheduled VM process).
  class SlowClock extends TimerQueue {
    t = 0;
    now(): number {
      this.t += 5e6;
      return this.t;
    }
  }
  const clock = new SlowClock();
  let edges = 0;
  let level = false;
  const pit = new I8254(clock, {
    raise: () => {
      if (!level) edges++;
      level = true;
    },
    lower: () => {
      level = false;
    },
  });
  const io = new IoBus();
  for (const r of pit.ioRanges) io.register(r);
  io.write(0x43, 1, 0x38); // counter 0, mode 4, as Linux's tickless clockevent programs it
  const before = edges;
  io.write(0x40, 1, 2775 & 0xff); // about 2.3 ms
  io.write(0x40, 1, 2775 >> 8);
  clock.runDue();
  assert.equal(edges - before, 1, 'the strobe arrives late rather than never');
  clock.runDue();
  assert.equal(edges - before, 1, 'and only once');
});
