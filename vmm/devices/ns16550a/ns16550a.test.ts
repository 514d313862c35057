import { test } from 'node:test';
import assert from 'node:assert/strict';
import { IoBus } from '../../bus.ts';
import { ManualClock } from '../../clock.ts';
import { IrqProbe } from '../../irq.ts';
import { Ns16550a } from './ns16550a.ts';

const COM1 = 0x3f8;


function setup() {
  const bus = new IoBus();
  const clock = new ManualClock();
  const irq = new IrqProbe();
  const out: number[] = [];
  const uart = new Ns16550a(COM1, irq, clock, (b) => out.push(...b));
  for (const r of uart.ioRanges) bus.register(r);
  uart.reset('power');
  const inb = (off: number) => bus.read(COM1 + off, 1);
  const outb = (off: number, v: number) => bus.write(COM1 + off, 1, v);
  return { bus, clock, irq, out, uart, inb, outb };
}

test('Linux 8250 autoconfig identifies a 16550A', () => {
  const { inb, outb } = setup();
  // IER test: upper nibble reads 0, low nibble holds what is written.
  outb(1, 0);
  assert.equal(inb(1) & 0x0f, 0);
  outb(1, 0x0f);
  assert.equal(inb(1) & 0x0f, 0x0f);
  outb(1, 0xff);
  assert.equal(inb(1), 0x0f);
  outb(1, 0);
  // Loopback MSR test: MCR = LOOP | OUT2 | RTS must read CTS | DCD.
  outb(4, 0x10 | 0x0a);
  assert.equal(inb(6) & 0xf0, 0x90);
  outb(4, 0);
  // Scratch register.
  outb(7, 0xa5);
  assert.equal(inb(7), 0xa5);
  outb(7, 0x5a);
  assert.equal(inb(7), 0x5a);
  // LCR 0xBF then "EFR" at offset 2 is FCR on a 16550A; then FIFO detection.
  outb(3, 0xbf);
  outb(2, 0);
  outb(3, 0);
  outb(2, 0x01);
  assert.equal(inb(2) >> 6, 3, 'IIR bits 7-6 = 11: FIFOs work (16550A)');
  // autoconfig_16550a: with DLAB set, offset 2 must not read 0 (no EFR: it's IIR).
  outb(3, 0x80);
  assert.notEqual(inb(2), 0);
  outb(3, 0xbf);
  assert.notEqual(inb(2), 0);
  // 16750 test: FCR bit 5 does not show up as IIR bit 5.
  outb(3, 0);
  outb(2, 0x01 | 0x20);
  assert.equal(inb(2) & 0xe0, 0xc0);
  // ... and not with DLAB set either.
  outb(3, 0x80);
  outb(2, 0x01 | 0x20);
  assert.equal(inb(2) & 0x20, 0);
  outb(2, 0x01);
  outb(3, 0);
  // National SuperIO test: "EXCR1" at LCR=0xE0 is IIR here, whose bit 4 never follows MCR.LOOP.
  const mcr = inb(4);
  outb(3, 0xe0);
  assert.equal((inb(2) ^ mcr) & 0x10, 0);
  outb(3, 0);
  outb(4, mcr ^ 0x10);
  outb(3, 0xe0);
  assert.equal((inb(2) ^ mcr) & 0x10, 0, 'not a SuperIO');
  outb(3, 0);
  outb(4, mcr);
  // XScale UUE test: IER bit 6 does not stick.
  outb(1, 0x40);
  assert.equal(inb(1) & 0x40, 0);
  // serial8250_do_startup: LSR is not 0xFF, and enabling THRI shows an interrupt (no UART_BUG_TXEN).
  outb(2, 0x07);
  assert.notEqual(inb(5), 0xff);
  outb(1, 0x02);
  const lsr = inb(5);
  const iir = inb(2);
  outb(1, 0);
  assert.ok(lsr & 0x40 && !(iir & 0x01));
});

test('divisor latch is reached through DLAB and does not disturb IER', () => {
  const { inb, outb, uart } = setup();
  outb(1, 0x05);
  outb(3, 0x83);
  outb(0, 0x01);
  outb(1, 0x00);
  assert.equal(inb(0), 1);
  assert.equal(inb(1), 0);
  outb(3, 0x03);
  assert.equal(inb(1), 0x05);
  // 115200 baud, 8N1: 10 bits per character.
  assert.equal(Math.round(uart.charTimeNs()), Math.round(1e10 / 115200));
});

test('transmit keeps byte order and LSR shows THRE|TEMT', () => {
  const { inb, outb, out } = setup();
  for (const c of 'hello') outb(0, c.charCodeAt(0));
  assert.equal(String.fromCharCode(...out), 'hello');
  assert.equal(inb(5) & 0x60, 0x60);
});

test('THRE interrupt: raised by enabling ETBEI, cleared by IIR read, re-raised by re-enabling (UART_BUG_THRE probe)', () => {
  const { inb, outb, irq } = setup();
  outb(4, 0x08); // OUT2
  outb(1, 0x02);
  assert.equal(inb(2) & 0x0f, 0x02);
  assert.ok(!irq.level, 'IIR read that reported THRE cleared it');
  assert.equal(inb(2) & 0x0f, 0x01);
  outb(1, 0);
  outb(1, 0x02);
  assert.equal(inb(2) & 0x0f, 0x02, 'a working 16550 re-asserts THRE when ETBEI is re-enabled');
  // A THR write clears it and the (instant) transmission sets it again: a fresh edge.
  const edges = irq.edges;
  outb(0, 0x41);
  assert.ok(irq.level);
  assert.equal(irq.edges, edges + 1);
});

test('OUT2 gates the IRQ line; loopback also disconnects it', () => {
  const { inb, outb, irq } = setup();
  outb(1, 0x02);
  assert.ok(!irq.level, 'no OUT2: INTRPT does not reach the PIC');
  assert.equal(inb(2) & 0x0f, 0x02, 'but the interrupt is pending in IIR');
  outb(1, 0);
  outb(1, 0x02);
  outb(4, 0x08);
  assert.ok(irq.level);
  outb(4, 0x08 | 0x10);
  assert.ok(!irq.level);
  outb(4, 0x08);
  assert.ok(irq.level);
  outb(4, 0);
  assert.ok(!irq.level);
});

test('loopback: TX goes to RX, modem outputs to inputs with delta bits', () => {
  const { inb, outb, out } = setup();
  outb(4, 0x10);
  inb(6);
  outb(0, 0x5a);
  assert.deepEqual(out, [], 'nothing leaves the chip in loopback');
  assert.equal(inb(5) & 1, 1);
  assert.equal(inb(0), 0x5a);
  assert.equal(inb(5) & 1, 0);
  outb(4, 0x10 | 0x01); // DTR -> DSR
  assert.equal(inb(6), 0x20 | 0x02);
  assert.equal(inb(6), 0x20, 'MSR read clears the deltas');
  outb(4, 0x10 | 0x04); // OUT1 -> RI, DTR falls
  assert.equal(inb(6), 0x40 | 0x02);
  outb(4, 0x10); // RI trailing edge
  assert.equal(inb(6) & 0x0f, 0x04);
  // Non-FIFO mode holds one byte: a second one overruns.
  outb(0, 1);
  outb(0, 2);
  assert.equal(inb(5) & 0x03, 0x03);
  assert.equal(inb(5) & 0x02, 0, 'LSR read clears OE');
  assert.equal(inb(0), 1);
});

test('RX FIFO: trigger level interrupt and host buffer beyond 16 bytes, delivered in bursts with IRQ edges', () => {
  const { inb, outb, irq, uart, clock } = setup();
  outb(4, 0x08);
  outb(2, 0xc7); // FIFO on, reset both, trigger 14
  outb(1, 0x01);
  const charNs = uart.charTimeNs();
  const text = new Uint8Array(100).map((_, i) => 32 + (i % 90));
  uart.receive(text.subarray(0, 10));
  assert.equal(inb(5) & 1, 0, 'a character takes a character time to arrive');
  clock.advance(charNs);
  assert.equal(inb(5) & 1, 1);
  assert.ok(!irq.level, '10 < 14: no trigger yet');
  uart.receive(text.subarray(10));
  clock.advance(charNs);
  assert.ok(irq.level, 'FIFO topped up to 16');
  assert.equal(inb(2) & 0x0f, 0x04);
  // A Linux-like handler: on each interrupt, drain while LSR.DR.
  const got: number[] = [];
  const edges = irq.edges;
  for (let guard = 0; guard < 1000 && got.length < text.length; guard++) {
    if (irq.level) {
      inb(2);
      while (inb(5) & 1) got.push(inb(0));
      assert.ok(!irq.level, 'drained FIFO drops the line');
    }
    clock.advance(charNs / 4);
  }
  assert.deepEqual(got, [...text], 'no byte lost past the 16-byte FIFO');
  assert.ok(irq.edges - edges >= 5, 'each burst is a new edge');
  assert.equal(inb(5) & 0x02, 0, 'no overrun');
  assert.equal(uart.hostBacklog, 0);
});

test('character timeout after four character times of guest time', () => {
  const { inb, outb, irq, uart, clock } = setup();
  outb(3, 0x80);
  outb(0, 12); // 9600 baud
  outb(1, 0);
  outb(3, 0x03); // 8N1
  outb(4, 0x08);
  outb(2, 0xc1); // trigger 14
  outb(1, 0x01);
  uart.receive(Uint8Array.of(0x61, 0x62));
  const charNs = (10 * 12 * 1e9) / 115200;
  clock.advance(charNs);
  assert.equal(inb(5) & 1, 1, 'both bytes arrived, below the trigger level');
  clock.advance(4 * charNs - 1000);
  assert.ok(!irq.level);
  assert.equal(inb(2) & 0x0f, 0x01);
  clock.advance(2000);
  assert.ok(irq.level);
  assert.equal(inb(2), 0xcc);
  assert.equal(inb(0), 0x61, 'reading RBR clears the timeout');
  assert.ok(!irq.level);
  clock.advance(4 * charNs + 1);
  assert.equal(inb(2) & 0x0f, 0x0c, 'one left: times out again');
  assert.equal(inb(0), 0x62);
  clock.advance(10 * charNs);
  assert.equal(inb(2) & 0x0f, 0x01, 'empty FIFO: no timeout');
});

test('modem status and line status interrupts, by priority', () => {
  const { inb, outb, irq, uart } = setup();
  outb(4, 0x08);
  outb(1, 0x08 | 0x04 | 0x02);
  assert.equal(inb(2) & 0x0f, 0x02);
  uart.setModemInputs({ cts: false, dsr: true, ri: false, dcd: true });
  assert.ok(irq.level);
  assert.equal(inb(2) & 0x0f, 0x00, 'modem status');
  assert.equal(inb(6) & 0x11, 0x01, 'DCTS set, CTS dropped');
  assert.equal(inb(2) & 0x0f, 0x01);
  // Overrun in loopback (non-FIFO) gives a line status interrupt, the highest priority.
  outb(4, 0x18);
  outb(0, 1);
  outb(0, 2);
  assert.equal(inb(2) & 0x0f, 0x06);
  inb(5);
  assert.notEqual(inb(2) & 0x0f, 0x06);
});

test('a break from the host arrives in order as 0x00 with BI, shown when it reaches the top of the FIFO', () => {
  const { inb, outb, irq, uart, clock } = setup();
  outb(4, 0x08);
  outb(2, 0x07);
  outb(1, 0x05); // ERBFI | ELSI
  uart.receive(Uint8Array.of(0x61));
  uart.receiveBreak();
  uart.receive(Uint8Array.of(0x62));
  clock.advance(uart.charTimeNs());
  assert.equal(inb(5), 0x61 | 0x80, 'DR, THRE, TEMT and "error in FIFO", but no BI yet');
  assert.equal(inb(2) & 0x0f, 0x04);
  assert.equal(inb(0), 0x61);
  assert.ok(irq.level);
  assert.equal(inb(2) & 0x0f, 0x06, 'receiver line status: the break is on top');
  assert.equal(inb(5), 0x61 | 0x80 | 0x10);
  assert.equal(inb(5), 0x61, 'LSR read clears BI and bit 7');
  assert.equal(inb(0), 0x00);
  assert.equal(inb(0), 0x62);
  // Non-FIFO mode: BI comes with the character in RBR.
  outb(2, 0x00);
  uart.receiveBreak();
  clock.advance(uart.charTimeNs());
  assert.equal(inb(5) & 0x11, 0x11);
  assert.equal(inb(0), 0);
});

test('bad accesses do not throw and word reads split', () => {
  const { bus } = setup();
  for (let p = 0; p < 8; p++) {
    bus.read(COM1 + p, 2);
    bus.read(COM1 + p, 4);
    bus.write(COM1 + p, 4, 0xffffffff);
  }
});

test('save/restore round trip keeps FIFO, host backlog and the pending timeout', () => {
  const a = setup();
  a.outb(4, 0x08);
  a.outb(2, 0x81); // trigger 8
  a.outb(1, 0x01);
  a.outb(7, 0x33);
  a.uart.receive(new Uint8Array(20).map((_, i) => i + 1));
  a.clock.advance(a.uart.charTimeNs());
  a.inb(0);
  const saved = a.uart.saveState();

  const b = setup();
  b.uart.loadState(structuredClone(saved), a.uart.stateVersion);
  b.uart.reassertInterrupts();
  assert.deepEqual(b.uart.saveState(), saved);
  assert.ok(b.irq.level);
  assert.equal(b.inb(7), 0x33);
  const got: number[] = [];
  for (let i = 0; i < 10; i++) {
    while (b.inb(5) & 1) got.push(b.inb(0));
    b.clock.advance(b.uart.charTimeNs());
  }
  assert.deepEqual(got, Array.from({ length: 19 }, (_, i) => i + 2));
  assert.throws(() => b.uart.loadState(saved, 99), /version 99/);
});

test('reset is idempotent and keeps the divisor except at power-on', () => {
  const { uart, outb, inb } = setup();
  outb(3, 0x80);
  outb(0, 3);
  outb(3, 0);
  outb(7, 9);
  uart.reset('hard');
  const once = uart.saveState();
  uart.reset('hard');
  assert.deepEqual(uart.saveState(), once);
  outb(3, 0x80);
  assert.equal(inb(0), 3);
  assert.equal(inb(3), 0x80);
  outb(3, 0);
  assert.equal(inb(2), 0x01);
  assert.equal(inb(5), 0x60);
});
