import { test } from 'node:test';
import assert from 'node:assert/strict';
import { IoBus } from '../../bus.ts';
import type { IrqLine } from '../../irq.ts';
import { I440fx, SMRAM_D_CLS, SMRAM_D_LCK, SMRAM_D_OPEN } from './i440fx.ts';
import { PCI_ROM_BAR, PciBus, PciConfigSpace, pirqForSlot } from './pci-bus.ts';
import { Piix3 } from './piix3.ts';

class LevelIrq implements IrqLine {
  level = false;
  raise(): void {
    this.level = true;
  }
  lower(): void {
    this.level = false;
  }
}

function setup() {
  const io = new IoBus();
  const pci = new PciBus();
  const isa = Array.from({ length: 16 }, () => new LevelIrq());
  const resets: string[] = [];
  const pams: number[][] = [];
  const piix3 = new Piix3(pci, (n) => isa[n]!, { requestReset: (k) => resets.push(k) });
  const host = new I440fx(pci, { resetControl: piix3.resetControl, onPamChange: (p) => pams.push([...p]) });
  for (const r of host.ioRanges) io.register(r);
  host.reset('power');
  piix3.reset('power');
  pams.length = 0;
  const addr = (bus: number, dev: number, fn: number, reg: number) =>
    (0x80000000 | (bus << 16) | (dev << 11) | (fn << 8) | (reg & 0xfc)) >>> 0;
  const cfgRead = (dev: number, fn: number, reg: number, size: 1 | 2 | 4 = 4, bus = 0) => {
    io.write(0xcf8, 4, addr(bus, dev, fn, reg));
    return io.read(0xcfc + (reg & 3), size) >>> 0; // IoBus returns dwords as int32
  };
  const cfgWrite = (dev: number, fn: number, reg: number, size: 1 | 2 | 4, v: number) => {
    io.write(0xcf8, 4, addr(0, dev, fn, reg));
    io.write(0xcfc + (reg & 3), size, v);
  };
  return { io, pci, isa, resets, pams, piix3, host, cfgRead, cfgWrite };
}

/** A NIC-like test function: an I/O BAR, a memory BAR, a ROM, INTA. */
function testDevice(pci: PciBus, dev: number) {
  const cfg = new PciConfigSpace({ vendorId: 0x10ec, deviceId: 0x8029, classCode: 0x020000, interruptPin: 1 });
  cfg.defineBar(0, { kind: 'io', size: 32 });
  cfg.defineBar(1, { kind: 'mem', size: 4096, prefetchable: true });
  cfg.defineBar(PCI_ROM_BAR, { kind: 'mem', size: 0x8000 });
  pci.addFunction(dev, 0, cfg);
  return cfg;
}

test('enumeration of bus 0 as Linux does it: vendor/device, class, header type; absent functions read all ones', () => {
  const { cfgRead } = setup();
  const found: string[] = [];
  for (let dev = 0; dev < 32; dev++) {
    const fns = cfgRead(dev, 0, 0x0e, 1) & 0x80 ? 8 : 1;
    for (let fn = 0; fn < fns; fn++) {
      const id = cfgRead(dev, fn, 0);
      if ((id & 0xffff) === 0xffff) {
        assert.equal(cfgRead(dev, fn, 0, 2), 0xffff);
        continue;
      }
      const cls = cfgRead(dev, fn, 0x08) >>> 8;
      found.push(`${dev}.${fn} ${id.toString(16)} ${cls.toString(16).padStart(6, '0')}`);
    }
  }
  assert.deepEqual(found, ['0.0 12378086 060000', '1.0 70008086 060100']);
  assert.equal(cfgRead(0, 0, 0x08, 1), 0x02, '440FX revision');
  assert.equal(cfgRead(1, 0, 0x0e, 1), 0x80, 'PIIX3 is multi-function');
  assert.equal(cfgRead(0, 0, 0x04, 2), 0x0006);
  assert.equal(cfgRead(0, 0, 0x06, 2), 0x0280);
  assert.equal(cfgRead(0, 0, 0, 4, 1), 0xffffffff, 'no bus 1');
});

test("Linux's pci_check_type1 and pci_sanity_check find mechanism #1; type 2 probing fails", () => {
  const { io } = setup();
  io.write(0xcfb, 1, 0x01);
  const tmp = io.read(0xcf8, 4) >>> 0;
  io.write(0xcf8, 4, 0x80000000);
  assert.equal(io.read(0xcf8, 4) >>> 0, 0x80000000);
  let sane = false;
  for (let devfn = 0; devfn < 256 && !sane; devfn++) {
    io.write(0xcf8, 4, (0x80000000 | (devfn << 8) | 0x08) >>> 0);
    if (io.read(0xcfe, 2) === 0x0600) sane = true;
  }
  assert.ok(sane, 'a host bridge is found');
  io.write(0xcf8, 4, tmp);
  // Type 2 probe: byte writes to 0xCF8/0xCFA are not decoded, so 0xCF8 does not read back 0.
  io.write(0xcfb, 1, 0x00);
  io.write(0xcf8, 1, 0x00);
  io.write(0xcfa, 1, 0x00);
  assert.notEqual(io.read(0xcf8, 1), 0x00);
});

test('mechanism #1 decoding: CONFADD dword only, byte/word data access at any offset, enable bit', () => {
  const { io, cfgRead } = setup();
  io.write(0xcf8, 4, 0x80000000);
  assert.equal((io.read(0xcf8, 4) >>> 0), 0x80000000);
  io.write(0xcf8, 4, 0x80000003);
  assert.equal((io.read(0xcf8, 4) >>> 0), 0x80000000, 'bits 1:0 read 0');
  io.write(0xcf8, 2, 0x1234);
  io.write(0xcf8, 1, 0x55);
  assert.equal((io.read(0xcf8, 4) >>> 0), 0x80000000, 'byte and word writes do not reach CONFADD');
  assert.equal(io.read(0xcf8, 1), 0xff);
  assert.equal((io.read(0xcfc, 4) >>> 0), 0x12378086);
  assert.equal(io.read(0xcfd, 1), 0x80);
  assert.equal(io.read(0xcfe, 2), 0x1237);
  assert.equal(io.read(0xcfd, 2), 0x3780);
  io.write(0xcf8, 4, 0x00000000);
  assert.equal((io.read(0xcfc, 4) >>> 0), 0xffffffff, 'enable bit clear: no configuration cycle');
  assert.equal(cfgRead(0, 0, 0x0a, 2), 0x0600);
});

test('BAR sizing by writing all ones; read-only IDs; command and RW1C status', () => {
  const { pci, cfgRead, cfgWrite } = setup();
  const cfg = testDevice(pci, 3);
  assert.equal(cfgRead(3, 0, 0x10), 0x00000001, 'I/O BAR type bit');
  cfgWrite(3, 0, 0x10, 4, 0xffffffff);
  assert.equal(cfgRead(3, 0, 0x10), 0xffffffe1, '32-byte I/O BAR (a 32-bit decoder, as QEMU and SeaBIOS expect)');
  cfgWrite(3, 0, 0x14, 4, 0xffffffff);
  assert.equal(cfgRead(3, 0, 0x14), 0xfffff008, '4 KiB prefetchable memory BAR');
  cfgWrite(3, 0, 0x18, 4, 0xffffffff);
  assert.equal(cfgRead(3, 0, 0x18), 0, 'unimplemented BAR reads 0');
  cfgWrite(3, 0, 0x30, 4, 0xffffffff);
  assert.equal(cfgRead(3, 0, 0x30), 0xffff8001, '32 KiB ROM');
  cfgWrite(3, 0, 0x10, 4, 0xc100);
  cfgWrite(3, 0, 0x14, 4, 0xfebf1234);
  assert.equal(cfg.barAddress(0), null, 'not decoded until the command register enables I/O');
  cfgWrite(3, 0, 0x04, 2, 0xffff);
  assert.equal(cfgRead(3, 0, 0x04, 2), 0x0547);
  assert.equal(cfg.barAddress(0), 0xc100);
  assert.equal(cfg.barAddress(1), 0xfebf1000);
  assert.equal(cfg.barAddress(PCI_ROM_BAR), 0xffff8000);
  cfgWrite(3, 0, 0x00, 4, 0);
  assert.equal(cfgRead(3, 0, 0x00), 0x802910ec, 'IDs are read-only');
  cfgWrite(3, 0, 0x3d, 1, 4);
  assert.equal(cfgRead(3, 0, 0x3d, 1), 1, 'interrupt pin is read-only');
  cfgWrite(3, 0, 0x3c, 1, 11);
  assert.equal(cfgRead(3, 0, 0x3c, 1), 11);
  cfg.bytes[0x07] |= 0x20; // received master abort
  cfgWrite(3, 0, 0x06, 2, 0x0000);
  assert.equal(cfgRead(3, 0, 0x06, 2) & 0x2000, 0x2000, 'writing 0 leaves RW1C bits');
  cfgWrite(3, 0, 0x06, 2, 0x2000);
  assert.equal(cfgRead(3, 0, 0x06, 2) & 0x2000, 0, 'writing 1 clears');
});

test('INTx through the slot swizzle and PIIX3 PIRQ routing, shared and disabled', () => {
  const { pci, isa, piix3, cfgRead, cfgWrite } = setup();
  const a = testDevice(pci, 3); // INTA of slot 3 -> PIRQC
  const b = testDevice(pci, 4); // INTA of slot 4 -> PIRQD
  assert.equal(pirqForSlot(3, 1), 2);
  assert.equal(pirqForSlot(4, 1), 3);
  assert.equal(pirqForSlot(1, 1), 0);
  assert.equal(cfgRead(1, 0, 0x60), 0x80808080, 'PIRQ routing disabled at reset');
  a.setIntx(true);
  assert.ok(isa.every((l) => !l.level), 'unrouted PIRQ reaches nothing');
  assert.equal(cfgRead(3, 0, 0x06, 2) & 0x08, 0x08, 'interrupt status bit');
  cfgWrite(1, 0, 0x62, 1, 11);
  assert.ok(isa[11]!.level, 'routing it delivers the pending level');
  cfgWrite(1, 0, 0x63, 1, 11);
  b.setIntx(true);
  a.setIntx(false);
  assert.ok(isa[11]!.level, 'still held by the other device sharing IRQ 11');
  b.setIntx(false);
  assert.ok(!isa[11]!.level);
  a.setIntx(true);
  cfgWrite(3, 0, 0x04, 2, 0x0400);
  assert.ok(!isa[11]!.level, 'command bit 10 disables INTx');
  cfgWrite(3, 0, 0x04, 2, 0x0000);
  assert.ok(isa[11]!.level);
  cfgWrite(1, 0, 0x62, 1, 10);
  assert.ok(!isa[11]!.level && isa[10]!.level, 'rerouting moves the level');
  cfgWrite(1, 0, 0x62, 1, 0x82);
  assert.ok(isa.every((l) => !l.level));
  assert.equal(piix3.pirqRoute(2), -1);
  cfgWrite(1, 0, 0x62, 1, 0x0d);
  assert.equal(piix3.pirqRoute(2), -1, 'IRQ 13 is reserved');
  assert.equal(cfgRead(1, 0, 0x62, 1), 0x0d);
});

test('PIIX3 reset control at 0xCF9 and 440FX PAM/SMRAM', () => {
  const { io, resets, pams, host, cfgRead, cfgWrite } = setup();
  io.write(0xcf9, 1, 0x02);
  assert.deepEqual(resets, []);
  io.write(0xcf9, 1, 0x06);
  assert.deepEqual(resets, ['hard']);
  assert.equal(io.read(0xcf9, 1), 0x02);
  io.write(0xcf9, 1, 0x04);
  assert.deepEqual(resets, ['hard', 'soft']);
  cfgWrite(0, 0, 0x59, 1, 0xff);
  assert.equal(cfgRead(0, 0, 0x59, 1), 0x30);
  cfgWrite(0, 0, 0x5a, 2, 0xffff);
  cfgWrite(0, 0, 0x5c, 2, 0xffff);
  assert.deepEqual(pams.at(-1), [0x30, 0x33, 0x33, 0x33, 0x33, 0x00, 0x00]);
  assert.equal(cfgRead(0, 0, 0x72, 1), 0x02);
  cfgWrite(0, 0, 0x72, 1, SMRAM_D_OPEN | 0x05);
  assert.equal(cfgRead(0, 0, 0x72, 1), SMRAM_D_OPEN | 0x02, 'C_BASE_SEG is fixed');
  cfgWrite(0, 0, 0x72, 1, SMRAM_D_OPEN | SMRAM_D_LCK);
  assert.equal(host.smram, SMRAM_D_LCK | 0x02, 'D_LCK forces D_OPEN off');
  cfgWrite(0, 0, 0x72, 1, SMRAM_D_OPEN | SMRAM_D_CLS);
  assert.equal(host.smram, SMRAM_D_LCK | SMRAM_D_CLS | 0x02, 'locked: only D_CLS changes');
  host.reset('hard');
  assert.equal(host.smram, 0x02, 'reset unlocks');
});

test('save/restore of the bridges re-drives routed levels; reset is idempotent', () => {
  const a = setup();
  const dev = testDevice(a.pci, 5); // INTA of slot 5 -> PIRQA
  a.cfgWrite(1, 0, 0x60, 1, 9);
  dev.setIntx(true);
  assert.ok(a.isa[9]!.level);
  const hostState = a.host.saveState();
  const piixState = a.piix3.saveState();
  const devState = dev.saveState();

  const b = setup();
  const dev2 = testDevice(b.pci, 5);
  b.host.loadState(structuredClone(hostState), 1);
  b.piix3.loadState(structuredClone(piixState), 1);
  dev2.loadState(structuredClone(devState));
  assert.ok(!b.isa[9]!.level, 'loading raises nothing');
  b.piix3.reassertInterrupts();
  assert.ok(b.isa[9]!.level);
  assert.deepEqual(b.host.saveState(), hostState);
  assert.deepEqual(b.piix3.saveState(), piixState);
  assert.equal(b.io.read(0xcf8, 4), a.io.read(0xcf8, 4));
  assert.throws(() => b.piix3.loadState(piixState, 7), /version 7/);

  b.piix3.reset('hard');
  const once = b.piix3.saveState();
  b.piix3.reset('hard');
  assert.deepEqual(b.piix3.saveState(), once);
  assert.ok(!b.isa[9]!.level, 'reset disables routing');
});

test('hostile configuration accesses do not throw', () => {
  const { io } = setup();
  for (let i = 0; i < 512; i++) {
    const a = (Math.imul(i, 0x9e3779b1) >>> 0) | 0x80000000;
    io.write(0xcf8, 4, a);
    io.read(0xcfc + (i & 3), ([1, 2, 4] as const)[i % 3]!);
    io.write(0xcfc + (i & 3), ([1, 2, 4] as const)[i % 3]!, 0xffffffff);
  }
  assert.throws(() => new PciBus().addFunction(32, 0, new PciConfigSpace({ vendorId: 1, deviceId: 2, classCode: 0 })));
});
