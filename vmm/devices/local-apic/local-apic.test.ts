import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ManualClock } from '../../clock.ts';
import { PhysicalMemory } from '../../memory.ts';
import type { InterruptController } from '../../irq.ts';
import { loadBySchema, saveBySchema } from '../../state/schema.ts';
import {
  APIC_BASE_BSP, APIC_BASE_ENABLE, APIC_DEFAULT_BASE, APIC_TICK_NS, LocalApic, LVT_MASKED, LVT_PERIODIC, REG_APR, REG_DFR, REG_EOI, REG_ESR, REG_ICR_HI,
  REG_ICR_LO, REG_ID, REG_IRR, REG_ISR, REG_LDR, REG_LVT_ERROR, REG_LVT_LINT0, REG_LVT_TIMER, REG_PPR, REG_SVR, REG_TIMER_CURRENT, REG_TIMER_DIVIDE,
  REG_TIMER_INITIAL, REG_TMR, REG_TPR, REG_VERSION, SVR_ENABLE, timerDivisor,
} from './local-apic.ts';

const msr = (v: number): bigint => BigInt(v >>> 0);

/** A PIC with one request the tests raise and drop by hand. */
class FakePic implements InterruptController {
  pending = -1;
  acks = 0;
  hasInterrupt(): boolean {
    return this.pending >= 0;
  }
  acknowledge(): number {
    this.acks++;
    const v = this.pending;
    this.pending = -1;
    return v;
  }
}

function setup() {
  const clock = new ManualClock();
  const mem = new PhysicalMemory(1 << 20);
  const pic = new FakePic();
  const cpu = { notes: 0, nmis: 0, notifyInterrupt() { this.notes++; }, raiseNmi() { this.nmis++; } };
  const apic = new LocalApic({ clock, mem, pic, cpu });
  const reg = (r: number): number => mem.read32(APIC_DEFAULT_BASE + r) >>> 0;
  const set = (r: number, v: number): void => mem.write32(APIC_DEFAULT_BASE + r, v);
  /** Globally and software enabled, spurious vector FFh. */
  const enable = (): void => {
    assert.equal(apic.writeBaseMsr(msr(APIC_DEFAULT_BASE | APIC_BASE_ENABLE)), true);
    set(REG_SVR, 0x1ff);
  };
  return { clock, mem, pic, cpu, apic, reg, set, enable };
}

test('at power-on the APIC is enabled at FEE00000h, software-disabled, with LINT0 passing the PIC on', () => {
  const { apic, pic, reg } = setup();
  assert.equal(apic.hwEnabled, true);
  assert.equal(apic.baseMsr, msr(APIC_DEFAULT_BASE | APIC_BASE_BSP | APIC_BASE_ENABLE));
  assert.equal(reg(REG_VERSION), 0x00040014);
  assert.equal(reg(REG_ID), 0);
  assert.equal(reg(REG_SVR), 0xff);
  assert.equal(reg(REG_DFR), 0xffffffff);
  for (const r of [REG_LVT_TIMER, REG_LVT_ERROR]) assert.equal(reg(r), LVT_MASKED);
  assert.equal(reg(REG_LVT_LINT0), 0x700, 'ExtINT, as QEMU resets the BSP');
  pic.pending = 0x30;
  assert.equal(apic.hasInterrupt(), true);
  assert.equal(apic.acknowledge(), 0x30);
});

test('globally disabled: no register window, the PIC straight to the CPU; enabled again at power-up values', () => {
  const { apic, mem, pic, reg, set } = setup();
  set(REG_TPR, 0x20);
  set(REG_LVT_LINT0, LVT_MASKED);
  assert.equal(apic.writeBaseMsr(msr(APIC_DEFAULT_BASE)), true);
  assert.equal(apic.hwEnabled, false);
  assert.equal(mem.read32(APIC_DEFAULT_BASE + REG_VERSION) >>> 0, 0xffffffff, 'nothing decodes the window');
  pic.pending = 0x31;
  assert.equal(apic.hasInterrupt(), true, 'LINT0 is INTR again');
  assert.equal(apic.acknowledge(), 0x31);
  assert.equal(apic.writeBaseMsr(msr(APIC_DEFAULT_BASE | APIC_BASE_ENABLE)), true);
  assert.equal(apic.baseMsr & msr(APIC_BASE_BSP), msr(APIC_BASE_BSP), 'the BSP flag is read-only');
  assert.equal(reg(REG_TPR), 0);
  assert.equal(apic.writeBaseMsr(msr(APIC_DEFAULT_BASE | APIC_BASE_ENABLE | 1)), false, 'reserved bit 0');
  assert.equal(apic.writeBaseMsr(1n << 36n), false, 'beyond 36 address bits');
});

test('a self-IPI is accepted, delivered by priority class, and leaves service at EOI', () => {
  const { apic, reg, set, enable, cpu } = setup();
  enable();
  const before = cpu.notes;
  set(REG_ICR_LO, (1 << 18) | 0x45); // shorthand self, fixed, vector 45h
  assert.ok(cpu.notes > before, 'the CPU is told');
  assert.equal(reg(REG_IRR + 0x20) & (1 << 5), 1 << 5, 'IRR bit 45h');
  assert.equal(reg(REG_ICR_LO) & (1 << 12), 0, 'delivery status idle');
  assert.equal(apic.hasInterrupt(), true);
  assert.equal(apic.acknowledge(), 0x45);
  assert.equal(reg(REG_ISR + 0x20) & (1 << 5), 1 << 5, 'ISR bit 45h');
  assert.equal(reg(REG_PPR), 0x40);
  // A request in the same class waits; a higher class nests.
  set(REG_ICR_LO, (1 << 18) | 0x42);
  assert.equal(apic.hasInterrupt(), false);
  set(REG_ICR_HI, 0);
  set(REG_ICR_LO, 0x61); // physical destination 0: this APIC
  assert.equal(apic.acknowledge(), 0x61);
  set(REG_EOI, 0);
  assert.equal(reg(REG_PPR), 0x40, 'EOI ends the highest vector in service');
  set(REG_EOI, 0);
  assert.equal(reg(REG_ISR + 0x20), 0);
  assert.equal(apic.acknowledge(), 0x42);
  set(REG_EOI, 0);
  assert.equal(apic.hasInterrupt(), false);
  // An IPI to another APIC ID, or to all but self, reaches nobody on this board.
  set(REG_ICR_HI, 3 << 24);
  set(REG_ICR_LO, 0x50);
  set(REG_ICR_LO, (3 << 18) | 0x51);
  assert.equal(apic.hasInterrupt(), false);
  // NMI to self.
  set(REG_ICR_LO, (1 << 18) | (4 << 8));
  assert.equal(cpu.nmis, 1);
});

test('TPR holds back lower classes; a request that loses to it before INTA gets the spurious vector', () => {
  const { apic, reg, set, enable } = setup();
  enable();
  set(REG_TPR, 0x50);
  set(REG_ICR_LO, (1 << 18) | 0x55);
  assert.equal(apic.hasInterrupt(), false, 'class 5 is not above TPR class 5');
  assert.equal(reg(REG_PPR), 0x50);
  assert.equal(reg(REG_APR), 0x50);
  set(REG_TPR, 0x40);
  assert.equal(apic.hasInterrupt(), true);
  set(REG_TPR, 0x60);
  assert.equal(apic.acknowledge(), 0xff, 'spurious');
  assert.equal(reg(REG_ISR + 0x20), 0, 'no vector goes in service');
  set(REG_TPR, 0);
  assert.equal(apic.acknowledge(), 0x55);
});

test('software disable masks the LVT and holds interrupts', () => {
  const { apic, reg, set, enable } = setup();
  enable();
  set(REG_LVT_TIMER, 0x20);
  assert.equal(reg(REG_LVT_TIMER), 0x20);
  set(REG_SVR, 0x0f0);
  assert.equal(reg(REG_SVR), 0xf0);
  assert.equal(reg(REG_LVT_TIMER), 0x20 | LVT_MASKED);
  set(REG_LVT_TIMER, 0x21);
  assert.equal(reg(REG_LVT_TIMER), 0x21 | LVT_MASKED, 'the mask cannot be cleared while disabled');
  set(REG_SVR, SVR_ENABLE | 0x3f);
  set(REG_ICR_LO, (1 << 18) | 0x70);
  assert.equal(apic.hasInterrupt(), true);
  set(REG_SVR, 0x3f);
  assert.equal(apic.hasInterrupt(), false);
});

test('the timer counts the divided bus clock, one-shot and periodic', () => {
  const { apic, clock, reg, set, enable } = setup();
  enable();
  assert.deepEqual([0, 1, 2, 3, 8, 9, 10, 11].map(timerDivisor), [2, 4, 8, 16, 32, 64, 128, 1]);
  set(REG_TIMER_DIVIDE, 3); // by 16
  set(REG_LVT_TIMER, 0x30);
  set(REG_TIMER_INITIAL, 1000);
  const tick = APIC_TICK_NS * 16;
  clock.advance(250 * tick);
  assert.equal(reg(REG_TIMER_CURRENT), 750);
  assert.equal(apic.hasInterrupt(), false);
  clock.advance(750 * tick);
  assert.equal(reg(REG_TIMER_CURRENT), 0);
  assert.equal(apic.acknowledge(), 0x30);
  set(REG_EOI, 0);
  clock.advance(5000 * tick);
  assert.equal(apic.hasInterrupt(), false, 'one-shot fires once');

  set(REG_LVT_TIMER, 0x31 | LVT_PERIODIC);
  set(REG_TIMER_INITIAL, 100);
  let fired = 0;
  for (let i = 0; i < 5; i++) {
    clock.advance(100 * tick);
    if (apic.hasInterrupt()) {
      assert.equal(apic.acknowledge(), 0x31);
      set(REG_EOI, 0);
      fired++;
    }
  }
  assert.equal(fired, 5);
  clock.advance(30 * tick);
  assert.equal(reg(REG_TIMER_CURRENT), 70, 'reloaded each period');
  // A new divide keeps the count where it is and goes on at the new rate.
  set(REG_TIMER_DIVIDE, 0xb); // by 1
  assert.equal(reg(REG_TIMER_CURRENT), 70);
  clock.advance(10 * APIC_TICK_NS);
  assert.equal(reg(REG_TIMER_CURRENT), 60);
  // Masked: counts, raises nothing.
  set(REG_LVT_TIMER, 0x31 | LVT_PERIODIC | LVT_MASKED);
  clock.advance(1000 * APIC_TICK_NS);
  assert.equal(apic.hasInterrupt(), false);
  set(REG_TIMER_INITIAL, 0);
  assert.equal(reg(REG_TIMER_CURRENT), 0, 'a zero initial count stops it');
});

test('the PIC reaches the CPU through LINT0 only in unmasked ExtINT mode while the APIC is on', () => {
  const { apic, pic, set, enable } = setup();
  enable();
  set(REG_LVT_LINT0, LVT_MASKED | 0x700);
  pic.pending = 0x08;
  assert.equal(apic.hasInterrupt(), false, 'LINT0 masked');
  set(REG_LVT_LINT0, 0x8400); // NMI mode: not the PIC's way in
  assert.equal(apic.hasInterrupt(), false);
  set(REG_LVT_LINT0, 0x700);
  assert.equal(apic.hasInterrupt(), true);
  // An APIC request is taken before the PIC's.
  set(REG_ICR_LO, (1 << 18) | 0x90);
  assert.equal(apic.acknowledge(), 0x90);
  assert.equal(apic.acknowledge(), 0x08);
  assert.equal(pic.acks, 1);
});

test('illegal vectors are errors the ESR shows after a write, and the error entry raises its vector', () => {
  const { apic, reg, set, enable } = setup();
  enable();
  set(REG_LVT_ERROR, 0xe0);
  set(REG_ICR_LO, (1 << 18) | 0x05);
  assert.equal(reg(REG_ESR), 0, 'not latched until ESR is written');
  set(REG_ESR, 0);
  assert.equal(reg(REG_ESR), 0x60, 'send and receive illegal vector');
  assert.equal(apic.acknowledge(), 0xe0);
  set(REG_ESR, 0);
  assert.equal(reg(REG_ESR), 0);
  set(0x3f0, 1); // no register there
  set(REG_ESR, 0);
  assert.equal(reg(REG_ESR), 0x80, 'illegal register address');
});

test('logical destinations: flat and cluster models', () => {
  const { apic, set, enable } = setup();
  enable();
  set(REG_LDR, 0x04 << 24);
  set(REG_ICR_HI, 0x06 << 24);
  set(REG_ICR_LO, (1 << 11) | 0x40);
  assert.equal(apic.acknowledge(), 0x40, 'flat: any shared bit');
  set(REG_DFR, 0x0fffffff);
  set(REG_LDR, 0x21 << 24);
  set(REG_ICR_HI, 0x31 << 24);
  set(REG_ICR_LO, (1 << 11) | 0x50);
  assert.equal(apic.hasInterrupt(), false, 'cluster 3 is not cluster 2');
  set(REG_ICR_HI, 0x23 << 24);
  set(REG_ICR_LO, (1 << 11) | 0x50);
  assert.equal(apic.acknowledge(), 0x50);
});

test('a global disable returns the registers to power-up; the window moves with the base', () => {
  const { apic, mem, reg, set, enable } = setup();
  enable();
  set(REG_TPR, 0x20);
  set(REG_ICR_LO, (1 << 18) | 0x40);
  apic.writeBaseMsr(msr(APIC_DEFAULT_BASE));
  assert.equal(apic.hwEnabled, false);
  apic.writeBaseMsr(msr(APIC_DEFAULT_BASE | APIC_BASE_ENABLE));
  assert.equal(reg(REG_TPR), 0);
  assert.equal(reg(REG_SVR), 0xff);
  assert.equal(reg(REG_IRR + 0x20), 0);
  assert.equal(reg(REG_LVT_TIMER), LVT_MASKED);
  apic.writeBaseMsr(msr(0xfed00000 | APIC_BASE_ENABLE));
  assert.equal(mem.read32(0xfed00000 + REG_VERSION) >>> 0, 0x00040014);
  assert.equal(mem.read32(APIC_DEFAULT_BASE + REG_VERSION) >>> 0, 0xffffffff);
  // A base over RAM shadows it while enabled and gives it back when moved away.
  mem.write32(0x80000, 0x12345678);
  apic.writeBaseMsr(msr(0x80000 | APIC_BASE_ENABLE));
  assert.equal(mem.read32(0x80000 + REG_VERSION) >>> 0, 0x00040014);
  apic.writeBaseMsr(msr(APIC_DEFAULT_BASE | APIC_BASE_ENABLE));
  assert.equal(mem.read32(0x80000) >>> 0, 0x12345678);
});

test('sub-dword reads give the register bytes; sub-dword writes do nothing', () => {
  const { mem, reg, enable } = setup();
  enable();
  assert.equal(mem.read8(APIC_DEFAULT_BASE + REG_VERSION + 2), 0x04);
  assert.equal(mem.read16(APIC_DEFAULT_BASE + REG_VERSION), 0x0014);
  assert.equal(mem.read32(APIC_DEFAULT_BASE + REG_VERSION + 4), 0, 'the rest of each 16 bytes is reserved');
  mem.write8(APIC_DEFAULT_BASE + REG_TPR, 0x30);
  assert.equal(reg(REG_TPR), 0);
});

test('the saved state carries requests, service, the timer and the base; a load restores them', () => {
  const a = setup();
  a.enable();
  a.set(REG_TPR, 0x10);
  a.set(REG_ICR_LO, (1 << 18) | 0x41);
  a.set(REG_ICR_LO, (1 << 18) | 0x82);
  assert.equal(a.apic.acknowledge(), 0x82);
  a.set(REG_LVT_TIMER, 0x33 | LVT_PERIODIC);
  a.set(REG_TIMER_INITIAL, 500);
  a.clock.advance(123 * 2 * APIC_TICK_NS);
  const saved = saveBySchema(LocalApic.STATE, a.apic);

  const b = setup();
  b.clock.advanceTo(a.clock.now());
  loadBySchema(LocalApic.STATE, b.apic, saved, 4, true);
  b.apic.remap();
  assert.equal(b.reg(REG_TIMER_CURRENT), 500 - 123);
  assert.equal(b.reg(REG_ISR + 0x40), 1 << 2, 'vector 82h in service');
  assert.equal(b.reg(REG_IRR + 0x20), 1 << 1, 'vector 41h waiting');
  assert.equal(b.reg(REG_TPR), 0x10);
  b.set(REG_EOI, 0);
  assert.equal(b.apic.acknowledge(), 0x41);
  assert.deepEqual(saveBySchema(LocalApic.STATE, a.apic), saved, 'saving has no side effects');
});

test('messages from the I/O APIC: fixed edge and level (EOI goes back), NMI, ExtINT, and only when addressed', () => {
  const clock = new ManualClock();
  const mem = new PhysicalMemory(1 << 20);
  const pic = new FakePic();
  const eois: number[] = [];
  const cpu = { nmis: 0, notifyInterrupt() {}, raiseNmi() { this.nmis++; } };
  const apic = new LocalApic({ clock, mem, pic, cpu, eoiBroadcast: (v) => eois.push(v) });
  const set = (r: number, v: number): void => mem.write32(APIC_DEFAULT_BASE + r, v);
  const reg = (r: number): number => mem.read32(APIC_DEFAULT_BASE + r) >>> 0;
  set(REG_SVR, 0x1ff);
  const msg = { vector: 0x51, deliveryMode: 0, logical: false, destination: 0, level: false };
  apic.receive(msg);
  assert.equal(apic.acknowledge(), 0x51);
  assert.equal(reg(REG_TMR + 0x20), 0, 'edge: TMR clear');
  set(REG_EOI, 0);
  assert.deepEqual(eois, [], 'an edge vector sends no EOI message');
  apic.receive({ ...msg, vector: 0x62, level: true });
  assert.equal(reg(REG_TMR + 0x30), 1 << 2, 'level: TMR set');
  assert.equal(apic.acknowledge(), 0x62);
  set(REG_EOI, 0);
  assert.deepEqual(eois, [0x62]);
  apic.receive({ ...msg, destination: 1 });
  assert.equal(apic.hasInterrupt(), false, 'physical destination 1 is another APIC');
  apic.receive({ ...msg, deliveryMode: 4 });
  assert.equal(cpu.nmis, 1);
  set(REG_LVT_LINT0, LVT_MASKED);
  pic.pending = 0x20;
  assert.equal(apic.hasInterrupt(), false);
  apic.receive({ ...msg, deliveryMode: 7 });
  assert.equal(apic.acknowledge(), 0x20, 'ExtINT: the vector comes from the PIC');
  assert.equal(apic.hasInterrupt(), false);
  apic.writeBaseMsr(msr(APIC_DEFAULT_BASE));
  apic.receive(msg);
  apic.writeBaseMsr(msr(APIC_DEFAULT_BASE | APIC_BASE_ENABLE));
  set(REG_SVR, 0x1ff);
  assert.equal(apic.hasInterrupt(), false, 'a disabled APIC takes no message');
});
