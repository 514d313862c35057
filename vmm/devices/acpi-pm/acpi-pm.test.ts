import { test } from 'node:test';
import assert from 'node:assert/strict';
import { IoBus } from '../../bus.ts';
import { ManualClock } from '../../clock.ts';
import { IrqProbe } from '../../irq.ts';
import {
  AcpiPm,
  PM_TIMER_HZ,
  PWRBTN_STS,
  SCI_EN,
  SLP_EN,
  TMR_STS,
  pmTicks,
} from './acpi-pm.ts';


function setup(base = 0x600) {
  const clock = new ManualClock();
  const sci = new IrqProbe();
  let offs = 0;
  const pm = new AcpiPm({ clock, sci, powerOff: () => offs++, base });
  const bus = new IoBus();
  for (const r of pm.ioRanges) bus.register(r);
  return { clock, sci, pm, bus, powerOffs: () => offs };
}

const S5 = (5 << 10) | SLP_EN;

test('occupies ports 0x600-0x60B by default', () => {
  const { pm } = setup();
  assert.equal(pm.ioRanges.length, 1);
  assert.equal(pm.ioRanges[0]!.base, 0x600);
  assert.equal(pm.ioRanges[0]!.length, 12);
});

test('PM timer counts at 3.579545 MHz from the injected clock, exactly', () => {
  const { clock, bus } = setup();
  assert.equal(bus.read(0x608, 4), 0);
  clock.advanceTo(279); // 0.9987 ticks
  assert.equal(bus.read(0x608, 4), 0);
  clock.advanceTo(280); // 1.0023 ticks
  assert.equal(bus.read(0x608, 4), 1);
  clock.advanceTo(1_000_000); // 1 ms: 3579.545 ticks
  assert.equal(bus.read(0x608, 4), 3579);
  clock.advanceTo(1_000_000_000);
  assert.equal(bus.read(0x608, 4), PM_TIMER_HZ);
});

test('PM timer is 24 bits wide and wraps', () => {
  const { clock, bus } = setup();
  const wrapNs = Math.ceil((2 ** 24 * 1e9) / PM_TIMER_HZ);
  clock.advanceTo(wrapNs - 1000);
  const before = bus.read(0x608, 4);
  assert.ok(before > 0xfff000 && before <= 0xffffff, before.toString(16));
  clock.advanceTo(wrapNs);
  assert.equal(bus.read(0x608, 4), 0);
  assert.equal(bus.read(0x608, 4) >>> 24, 0, 'bits 31-24 read 0');
});

test('PM timer is monotonic between wraps and exact far from boot', () => {
  let last = -1;
  for (let ns = 0; ns < 50_000; ns += 37) {
    const t = pmTicks(ns);
    assert.ok(t >= last);
    last = t;
  }
  // A month of guest time: float multiplication alone would lose the low ticks here.
  const ns = 30 * 86400 * 1e9 + 123_456_789;
  assert.equal(pmTicks(ns), Number((BigInt(ns) * BigInt(PM_TIMER_HZ)) / 1_000_000_000n));
});

test('byte reads of the timer and of PM1 registers compose', () => {
  const { clock, bus } = setup();
  clock.advanceTo(2_000_000_000); // 7159090 = 0x6d3d32
  assert.equal(bus.read(0x608, 1), 0x32);
  assert.equal(bus.read(0x609, 1), 0x3d);
  assert.equal(bus.read(0x60a, 1), 0x6d);
  assert.equal(bus.read(0x60b, 1), 0x00);
  assert.equal(bus.read(0x604, 2), SCI_EN);
  assert.equal(bus.read(0x604, 1), SCI_EN);
  assert.equal(bus.read(0x606, 2), 0);
});

test('SCI_EN reads 1 from reset: ACPI is already enabled', () => {
  const { bus, pm } = setup();
  assert.equal(bus.read(0x604, 2) & SCI_EN, 1);
  bus.write(0x604, 2, 0);
  assert.equal(bus.read(0x604, 2) & SCI_EN, 0);
  pm.reset('hard');
  assert.equal(bus.read(0x604, 2) & SCI_EN, 1);
});

test('writing SLP_TYP=5 with SLP_EN powers off; other sleep types are ignored', () => {
  const { bus, powerOffs } = setup();
  // Linux writes the type first, then the type with SLP_EN.
  bus.write(0x604, 2, SCI_EN | (5 << 10));
  assert.equal(powerOffs(), 0);
  for (const typ of [0, 1, 2, 3, 4, 6, 7]) bus.write(0x604, 2, SCI_EN | (typ << 10) | SLP_EN);
  assert.equal(powerOffs(), 0);
  bus.write(0x604, 2, SCI_EN | S5);
  assert.equal(powerOffs(), 1);
  assert.equal(bus.read(0x604, 2) & SLP_EN, 0, 'SLP_EN reads 0');
  assert.equal((bus.read(0x604, 2) >> 10) & 7, 5, 'SLP_TYP reads back');
  // A byte write of the high half does the same.
  bus.write(0x605, 1, S5 >> 8);
  assert.equal(powerOffs(), 2);
  // SLP_EN written through PM1_EN/PM1_STS is nothing.
  bus.write(0x600, 4, S5 | (S5 << 16));
  assert.equal(powerOffs(), 2);
});

test('TMR_STS sets when bit 23 of the counter changes and clears on write 1', () => {
  const { clock, bus } = setup();
  const halfNs = Math.ceil((2 ** 23 * 1e9) / PM_TIMER_HZ);
  clock.advanceTo(halfNs - 1);
  assert.equal(bus.read(0x600, 2) & TMR_STS, 0);
  clock.advanceTo(halfNs);
  assert.equal(bus.read(0x600, 2) & TMR_STS, TMR_STS);
  bus.write(0x600, 2, 0); // writing 0 clears nothing
  assert.equal(bus.read(0x600, 2) & TMR_STS, TMR_STS);
  bus.write(0x600, 2, TMR_STS);
  assert.equal(bus.read(0x600, 2) & TMR_STS, 0);
  clock.advanceTo(2 * halfNs);
  assert.equal(bus.read(0x600, 2) & TMR_STS, TMR_STS);
});

test('SCI follows enabled status bits while SCI_EN is set; timer overflow raises it on time', () => {
  const { clock, bus, sci } = setup();
  const halfNs = Math.ceil((2 ** 23 * 1e9) / PM_TIMER_HZ);
  bus.write(0x602, 2, TMR_STS); // TMR_EN
  assert.equal(sci.level, false);
  clock.advanceTo(halfNs - 1);
  assert.equal(sci.level, false);
  clock.advanceTo(halfNs);
  assert.equal(sci.level, true, 'raised by the overflow timer at the exact tick');
  bus.write(0x600, 2, TMR_STS);
  assert.equal(sci.level, false, 'cleared status lowers the line');
  clock.advanceTo(2 * halfNs + 5);
  assert.equal(sci.level, true);
  // Disabling the enable lowers the line although the status stays.
  bus.write(0x602, 2, 0);
  assert.equal(sci.level, false);
  assert.equal(bus.read(0x600, 2) & TMR_STS, TMR_STS);
  // SCI_EN clear: no SCI at all.
  bus.write(0x604, 2, 0);
  bus.write(0x602, 2, TMR_STS);
  assert.equal(sci.level, false);
  bus.write(0x604, 2, SCI_EN);
  assert.equal(sci.level, true);
});

test('power button: status, enable, SCI, write-1-to-clear', () => {
  const { bus, pm, sci } = setup();
  pm.pressPowerButton();
  assert.equal(bus.read(0x600, 2), PWRBTN_STS);
  assert.equal(sci.level, false, 'not enabled');
  bus.write(0x602, 2, PWRBTN_STS);
  assert.equal(sci.level, true);
  assert.equal(bus.read(0x602, 2), PWRBTN_STS);
  bus.write(0x601, 1, PWRBTN_STS >> 8); // byte write to the high half of PM1_STS
  assert.equal(bus.read(0x600, 2), 0);
  assert.equal(sci.level, false);
});

test('reset clears status and enables and lowers the SCI', () => {
  const { bus, pm, sci } = setup();
  bus.write(0x602, 2, PWRBTN_STS);
  pm.pressPowerButton();
  assert.equal(sci.level, true);
  pm.reset('hard');
  assert.equal(sci.level, false);
  assert.equal(bus.read(0x600, 2), 0);
  assert.equal(bus.read(0x602, 2), 0);
  pm.reset('hard');
  assert.equal(bus.read(0x604, 2), SCI_EN, 'reset is idempotent');
});

test('saved state round-trips and the SCI is driven again only by reassertInterrupts', () => {
  const a = setup();
  a.bus.write(0x602, 2, PWRBTN_STS | TMR_STS);
  a.bus.write(0x604, 2, SCI_EN | (5 << 10));
  a.pm.pressPowerButton();
  const saved = a.pm.saveState();

  const b = setup();
  b.pm.loadState(saved, b.pm.stateVersion);
  assert.equal(b.sci.level, false, 'loadState raises nothing');
  b.pm.reassertInterrupts();
  assert.equal(b.sci.level, true);
  assert.deepEqual(b.pm.saveState(), saved);
  for (const port of [0x600, 0x602, 0x604]) assert.equal(b.bus.read(port, 2), a.bus.read(port, 2));
  assert.throws(() => b.pm.loadState(saved, 2), /acpi-pm.*version 2/);
  // An edited period (not a whole count) is refused, where it threw a RangeError arming the overflow.
  for (const p of [0.5, -1, 2 ** 60]) assert.throws(() => b.pm.loadState({ ...saved, tmrAckPeriod: p }, 1), /acpi-pm: saved timer period/);
  assert.throws(() => b.pm.loadState({ sts: 0 }, 1), /"en"/);
});

test('the timer overflow keeps firing after a restore', () => {
  const a = setup();
  a.bus.write(0x602, 2, TMR_STS);
  const saved = a.pm.saveState();
  const b = setup();
  b.pm.loadState(saved, 1);
  b.pm.reassertInterrupts();
  const halfNs = Math.ceil((2 ** 23 * 1e9) / PM_TIMER_HZ);
  b.clock.advanceTo(halfNs);
  assert.equal(b.sci.level, true);
});
