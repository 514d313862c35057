import { test } from 'node:test';
import assert from 'node:assert/strict';
import { IoBus } from '../../bus.ts';
import { IrqProbe } from '../../irq.ts';
import { I8042 } from './i8042.ts';
import { Port92 } from './port92.ts';
import { SET1_TO_SET2, SET2_TO_SET1, set1ToSet2, translateToSet1 } from './scancodes.ts';


function setup() {
  const bus = new IoBus();
  const irq1 = new IrqProbe();
  const irq12 = new IrqProbe();
  const events: string[] = [];
  const kbc = new I8042(irq1, irq12, {
    setA20: (on) => events.push(`a20:${on}`),
    requestReset: () => events.push('reset'),
  });
  for (const r of kbc.ioRanges) bus.register(r);
  kbc.reset('power');
  events.length = 0;
  const status = () => bus.read(0x64, 1);
  const data = () => bus.read(0x60, 1);
  const cmd = (c: number, param?: number) => {
    bus.write(0x64, 1, c);
    if (param !== undefined) bus.write(0x60, 1, param);
  };
  /** Everything waiting in the output buffer, as a polling driver reads it. */
  const drain = () => {
    const out: number[] = [];
    for (let i = 0; i < 64 && status() & 1; i++) out.push(data());
    return out;
  };
  const kbdSend = (b: number) => {
    bus.write(0x60, 1, b);
    return drain();
  };
  const auxSend = (b: number) => {
    cmd(0xd4, b);
    return drain();
  };
  return { bus, irq1, irq12, events, kbc, status, data, cmd, drain, kbdSend, auxSend };
}

test('translation table is a permutation and set1 <-> set2 round-trips through it', () => {
  const seen = new Set(SET2_TO_SET1.slice(1));
  assert.equal(seen.size, 127);
  for (let m = 1; m < 0x80; m++) {
    assert.equal(translateToSet1(SET1_TO_SET2[m]!), m, `set-1 make ${m.toString(16)}`);
  }
  assert.deepEqual(set1ToSet2([0x1e, 0x9e]), [0x1c, 0xf0, 0x1c]); // A
  assert.deepEqual(set1ToSet2([0xe0, 0x48, 0xe0, 0xc8]), [0xe0, 0x75, 0xe0, 0xf0, 0x75]); // Up
  assert.deepEqual(set1ToSet2([0x41, 0xc1]), [0x83, 0xf0, 0x83]); // F7
  assert.deepEqual(set1ToSet2([0xe1, 0x1d, 0x45, 0xe1, 0x9d, 0xc5]), [0xe1, 0x14, 0x77, 0xe1, 0xf0, 0x14, 0xf0, 0x77]); // Pause
});

test('Linux i8042 probe: flush, self test, CTR read/write, AUX loop, AUX bit test, AUX IRQ test', () => {
  const { status, data, cmd, drain, irq1, irq12, kbc } = setup();
  drain();
  cmd(0xaa);
  assert.equal(status() & 0x01, 1);
  assert.equal(data(), 0x55);
  assert.equal(status() & 0x04, 0x04, 'system flag set after self test');
  cmd(0x20);
  let ctr = data();
  cmd(0x20);
  assert.equal(data(), ctr, 'two reads of the CTR agree');
  assert.equal(ctr & 0x40, 0x40, 'translation on, as a BIOS leaves it');
  // Disable keyboard interface and its interrupt while probing.
  ctr = (ctr | 0x10) & ~0x01;
  cmd(0x60, ctr);
  cmd(0x20);
  assert.equal(data(), ctr);
  // AUX loopback: the byte comes back as mouse data.
  cmd(0xd3, 0x5a);
  assert.equal(status() & 0x21, 0x21, 'OBF and AUXB');
  assert.equal(data(), 0x5a);
  // Bit assignment test: A7 sets CTR bit 5, A8 clears it.
  cmd(0xa7);
  cmd(0x20);
  assert.equal(data() & 0x20, 0x20);
  cmd(0xa8);
  cmd(0x20);
  ctr = data();
  assert.equal(ctr & 0x20, 0);
  // AUX IRQ delivery test.
  cmd(0x60, ctr | 0x02);
  cmd(0xd3, 0xa5);
  assert.ok(irq12.level, 'IRQ12 delivered');
  assert.ok(!irq1.level);
  assert.equal(data(), 0xa5);
  assert.ok(!irq12.level, 'reading the data lowers it');
  // Enable the keyboard port with its interrupt.
  cmd(0x60, (ctr | 0x03) & ~0x10);
  assert.equal(kbc.commandByte & 0x13, 0x03);
  cmd(0xa9);
  assert.equal(data(), 0x00, 'AUX interface test passes');
  cmd(0xab);
  assert.equal(data(), 0x00, 'keyboard interface test passes');
});

test('atkbd: reset, get ID (translated), set LEDs, typematic, enable; responses raise IRQ1', () => {
  const { bus, kbdSend, irq1, status, data, kbc } = setup();
  assert.deepEqual(kbdSend(0xff), [0xfa, 0xaa]);
  const edges = irq1.edges;
  bus.write(0x60, 1, 0xf2);
  assert.ok(irq1.level);
  assert.equal(data(), 0xfa);
  assert.ok(irq1.level, 'next byte refills the buffer');
  assert.equal(data(), 0xab);
  assert.equal(data(), 0x41, 'ID 0x83 arrives translated as 0x41');
  assert.ok(!irq1.level);
  assert.equal(irq1.edges, edges + 3, 'one edge per byte');
  assert.equal(status() & 1, 0);
  assert.deepEqual(kbdSend(0xed), [0xfa]);
  assert.deepEqual(kbdSend(0x07), [0xfa]);
  assert.equal(kbc.keyboard.ledState, 7);
  assert.deepEqual(kbdSend(0xf3), [0xfa]);
  assert.deepEqual(kbdSend(0x00), [0xfa]);
  assert.deepEqual(kbdSend(0xf4), [0xfa]);
  assert.deepEqual(kbdSend(0xee), [0xee]);
  assert.deepEqual(kbdSend(0x12), [0xfe], 'unknown command: resend');
});

test('scancode sets: F0 get/set, translation on and off', () => {
  const { kbdSend, drain, cmd, data, kbc } = setup();
  assert.deepEqual(kbdSend(0xf0), [0xfa]);
  assert.deepEqual(kbdSend(0x00), [0xfa, 0x41], 'set 2, translated');
  kbc.keyboardInput([0x1e]);
  kbc.keyboardInput([0x9e]);
  assert.deepEqual(drain(), [0x1e, 0x9e], 'translation gives set 1 back');
  kbc.keyboardInput([0xe0, 0x48]);
  kbc.keyboardInput([0xe0, 0xc8]);
  assert.deepEqual(drain(), [0xe0, 0x48, 0xe0, 0xc8]);
  kbc.keyboardInput([0x41, 0xc1]);
  assert.deepEqual(drain(), [0x41, 0xc1], 'F7 survives its 0x83 set-2 code');
  // Translation off: raw set 2.
  cmd(0x20);
  const ctr = data();
  cmd(0x60, ctr & ~0x40);
  kbc.keyboardInput([0x1e]);
  kbc.keyboardInput([0x9e]);
  assert.deepEqual(drain(), [0x1c, 0xf0, 0x1c]);
  assert.deepEqual(kbdSend(0xf0), [0xfa]);
  assert.deepEqual(kbdSend(0x00), [0xfa, 0x02]);
  // Set 1 selected on the keyboard: codes go out as given.
  kbdSend(0xf0);
  assert.deepEqual(kbdSend(0x01), [0xfa]);
  kbc.keyboardInput([0x1e, 0x9e]);
  assert.deepEqual(drain(), [0x1e, 0x9e]);
  kbdSend(0xf0);
  assert.deepEqual(kbdSend(0x07), [0xfe], 'no set 7');
});

test('keyboard interface disabled holds keys back; F5 stops scanning', () => {
  const { cmd, drain, kbc, kbdSend } = setup();
  cmd(0xad);
  kbc.keyboardInput([0x1e]);
  assert.deepEqual(drain(), []);
  cmd(0xae);
  assert.deepEqual(drain(), [0x1e]);
  cmd(0xad);
  assert.deepEqual(kbdSend(0xee), [0xee], 'writing to the keyboard re-enables its interface');
  assert.equal(kbc.commandByte & 0x10, 0);
  assert.deepEqual(kbdSend(0xf5), [0xfa]);
  kbc.keyboardInput([0x1e]);
  assert.deepEqual(drain(), []);
  kbdSend(0xf4);
  kbc.keyboardInput([0x1f]);
  assert.deepEqual(drain(), [0x1f]);
});

test('psmouse: reset, ID, IntelliMouse and Explorer knocks, status, resolution', () => {
  const { auxSend, irq12, irq1, bus, status } = setup();
  bus.write(0x64, 1, 0xa8);
  bus.write(0x64, 1, 0x60);
  bus.write(0x60, 1, 0x47);
  bus.write(0x64, 1, 0xd4);
  bus.write(0x60, 1, 0xff);
  assert.ok(irq12.level && !irq1.level);
  assert.equal(status() & 0x21, 0x21);
  assert.deepEqual([bus.read(0x60, 1), bus.read(0x60, 1), bus.read(0x60, 1)], [0xfa, 0xaa, 0x00]);
  assert.deepEqual(auxSend(0xf2), [0xfa, 0x00]);
  for (const r of [200, 100, 80]) assert.deepEqual([...auxSend(0xf3), ...auxSend(r)], [0xfa, 0xfa]);
  assert.deepEqual(auxSend(0xf2), [0xfa, 0x03], 'IntelliMouse');
  for (const r of [200, 200, 80]) auxSend(0xf3), auxSend(r);
  assert.deepEqual(auxSend(0xf2), [0xfa, 0x04], 'IntelliMouse Explorer');
  auxSend(0xe8);
  auxSend(0x03);
  auxSend(0xe7);
  assert.deepEqual(auxSend(0xe9), [0xfa, 0x10, 0x03, 80]);
  auxSend(0xe6);
  auxSend(0xf4);
  assert.deepEqual(auxSend(0xe9), [0xfa, 0x20, 0x03, 80]);
  assert.deepEqual(auxSend(0xab), [0xfe]);
  // Wrap mode echoes.
  auxSend(0xee);
  assert.deepEqual(auxSend(0x42), [0x42]);
  assert.deepEqual(auxSend(0xec), [0xfa]);
});

test('mouse packets: 3-byte stream, 4-byte with wheel, large motion split, remote mode read', () => {
  const { auxSend, kbc, drain, cmd } = setup();
  cmd(0xa8);
  kbc.mouseInput(5, 3, 1);
  assert.deepEqual(drain(), [], 'reporting disabled after reset');
  auxSend(0xf4);
  kbc.mouseInput(5, 3, 1);
  assert.deepEqual(drain(), [0x08 | 0x01 | 0x20, 5, 0xfd], 'dy down on screen is negative on the wire');
  kbc.mouseInput(300, 0, 0);
  assert.deepEqual(drain(), [0x08, 255, 0, 0x08, 45, 0]);
  kbc.mouseInput(-1, 0, 2);
  assert.deepEqual(drain(), [0x08 | 0x10 | 0x02, 0xff, 0]);
  for (const r of [200, 100, 80]) auxSend(0xf3), auxSend(r);
  auxSend(0xf4);
  kbc.mouseInput(0, 0, 4, 1);
  assert.deepEqual(drain(), [0x08 | 0x04, 0, 0, 1]);
  auxSend(0xf0);
  kbc.mouseInput(7, 0, 0);
  assert.deepEqual(drain(), []);
  assert.deepEqual(auxSend(0xeb), [0xfa, 0x08, 7, 0, 0]);
  kbc.mouseInput(Number.NaN, Infinity, -1);
});

test('output port: A20 and reset through D1, D0 read, pulses, DD/DF', () => {
  const { cmd, data, events, kbc } = setup();
  cmd(0xd0);
  assert.equal(data() & 0x03, 0x03);
  cmd(0xd1, 0xdd);
  assert.deepEqual(events, ['a20:false']);
  assert.equal(kbc.a20, false);
  cmd(0xd1, 0xdf);
  assert.deepEqual(events, ['a20:false', 'a20:true']);
  events.length = 0;
  cmd(0xd1, 0xde);
  assert.deepEqual(events, ['reset']);
  events.length = 0;
  cmd(0xfe);
  assert.deepEqual(events, ['reset']);
  cmd(0xff);
  cmd(0xfd);
  assert.deepEqual(events, ['reset'], 'pulses that leave bit 0 alone do not reset');
  events.length = 0;
  cmd(0xdd);
  cmd(0xdf);
  assert.deepEqual(events, ['a20:false', 'a20:true']);
  cmd(0xd0);
  assert.equal(data() & 0x10, 0, 'OBF bit of the output port reads 0 once the buffer is read');
});

test('D2 writes the keyboard buffer, status A2 bit follows the last port written', () => {
  const { cmd, status, data, irq1, bus } = setup();
  cmd(0xd2, 0x99);
  assert.ok(irq1.level);
  assert.equal(status() & 0x28, 0x00, 'data write clears A2, not aux data');
  assert.equal(data(), 0x99);
  bus.write(0x64, 1, 0xa7);
  assert.equal(status() & 0x08, 0x08);
  assert.equal(data(), 0x99, 'reading an empty buffer returns the last byte');
});

test('save/restore mid-response and reset idempotence', () => {
  const a = setup();
  a.cmd(0xa8);
  a.bus.write(0x60, 1, 0xf2);
  a.auxSend(0xf4);
  a.kbc.mouseInput(1, 1, 0);
  a.bus.write(0x60, 1, 0xff);
  a.data();
  const saved = a.kbc.saveState();
  const b = setup();
  b.kbc.loadState(structuredClone(saved), b.kbc.stateVersion);
  assert.deepEqual(b.kbc.saveState(), saved);
  b.kbc.reassertInterrupts();
  assert.ok(b.irq1.level);
  assert.deepEqual(b.drain(), a.drain());
  assert.throws(() => b.kbc.loadState(saved, 3), /version 3/);
  b.kbc.reset('hard');
  const once = b.kbc.saveState();
  b.kbc.reset('hard');
  assert.deepEqual(b.kbc.saveState(), once);
});

test('hostile port accesses do not throw', () => {
  const { bus } = setup();
  for (let v = 0; v < 256; v++) {
    bus.write(0x64, 1, v);
    bus.write(0x60, 1, v ^ 0x5a);
    bus.read(0x60, 1);
    bus.write(0x64, 1, 0xd4);
    bus.write(0x60, 1, v);
  }
  bus.read(0x60, 4);
  bus.write(0x64, 2, 0xffff);
});

test('a guest that never reads cannot grow the queues', () => {
  const { bus, kbc } = setup();
  for (let i = 0; i < 10000; i++) {
    bus.write(0x64, 1, 0x20);
    bus.write(0x60, 1, 0xfe);
    bus.write(0x64, 1, 0xd4);
    bus.write(0x60, 1, 0xfe);
  }
  const s = kbc.saveState();
  assert.ok((s['ctrlQueue'] as Uint8Array).length / 2 <= 16, 'at most 16 entries of two bytes');
  const kq = (s['keyboard'] as Record<string, Uint8Array>)['queue']!;
  const mq = (s['mouse'] as Record<string, Uint8Array>)['queue']!;
  assert.ok(kq.length <= 256 && mq.length <= 256);
});

test('port 0x92: fast A20 and fast reset', () => {
  const bus = new IoBus();
  const events: string[] = [];
  const p = new Port92({ setA20: (on) => events.push(`a20:${on}`), requestReset: () => events.push('reset') });
  for (const r of p.ioRanges) bus.register(r);
  p.reset('power');
  events.length = 0;
  assert.equal(bus.read(0x92, 1), 0);
  bus.write(0x92, 1, bus.read(0x92, 1) | 0x02);
  assert.deepEqual(events, ['a20:true']);
  assert.equal(bus.read(0x92, 1), 0x02);
  bus.write(0x92, 1, bus.read(0x92, 1) | 0x01);
  assert.deepEqual(events, ['a20:true', 'reset']);
  assert.equal(bus.read(0x92, 1) & 1, 0, 'reset bit reads back 0');
  const saved = p.saveState();
  p.reset('hard');
  assert.equal(bus.read(0x92, 1), 0);
  p.loadState(saved, 1);
  assert.equal(bus.read(0x92, 1), 0x02);
});

test('motion held back by a full mouse queue reaches the guest without losing a byte', () => {
  // More motion than 256 queued bytes carry: the rest is sent as the guest drains the queue, from
  // inside the controller's own refill of its output buffer.
  const { auxSend, kbc, status, data, cmd } = setup();
  cmd(0xa8);
  auxSend(0xf4);
  kbc.mouseInput(30000, 0, 0);
  const bytes: number[] = [];
  for (let i = 0; i < 1000 && status() & 1; i++) bytes.push(data());
  assert.equal(bytes.length % 3, 0, 'whole 3-byte packets');
  let dx = 0;
  for (let i = 0; i < bytes.length; i += 3) {
    assert.equal(bytes[i]! & 0x08, 0x08, `byte ${i} starts a packet`);
    dx += bytes[i + 1]!;
  }
  assert.equal(dx, 30000);
});
