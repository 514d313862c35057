// The PC as a whole: what it tells the host about the guest's power state.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createMachine } from './machine.ts';
import type { MachineHost, PowerEvent } from './machine-api.ts';
import { SLP_EN, SLP_TYP_S5, SLP_TYP_SHIFT } from './devices/acpi-pm/acpi-pm.ts';

/** A 64 KiB BIOS whose reset vector (F000:FFF0) runs `code`. */
function bios(code: number[]): Uint8Array {
  const img = new Uint8Array(0x10000).fill(0x90);
  img.set(code, 0xfff0);
  return img;
}

function boot(code: number[]): { events: [PowerEvent, string | undefined][]; run: () => string; machine: ReturnType<typeof createMachine> } {
  const events: [PowerEvent, string | undefined][] = [];
  let now = 0;
  const host: MachineHost = {
    serialOut: () => {},
    display: () => {},
    block: () => {},
    power: (e, d) => events.push([e, d]),
    log: () => {},
  };
  const m = createMachine({ memoryMiB: 4, engine: 'interpreter', bios: bios(code) }, host, () => (now += 1));
  return { events, run: () => m.runSlice(50), machine: m };
}

test('HLT with interrupts off is reported once as the guest halting for good, at the HLT', () => {
  const vm = boot([0xfa, 0xf4, 0xeb, 0xfd]); // cli; hlt; jmp $-1
  assert.equal(vm.run(), 'halted');
  assert.equal(vm.run(), 'halted');
  assert.deepEqual(vm.events, [['halted', 'f000:fff1']]);
});

test('HLT with interrupts on is waiting, not stopped', () => {
  const vm = boot([0xfb, 0xf4, 0xeb, 0xfd]); // sti; hlt; jmp $-1
  vm.run();
  vm.run();
  assert.deepEqual(vm.events, []);
});

test('the ACPI power button sets PWRBTN_STS in PM1_STS, where a guest polling it sees the press', () => {
  const events: PowerEvent[] = [];
  let now = 0;
  const host: MachineHost = { serialOut: () => {}, display: () => {}, block: () => {}, power: (e) => events.push(e), log: () => {} };
  // mov dx, 0x600 (PM1_STS); in ax, dx; test ax, 0x100 (PWRBTN_STS); jz back to the in; cli; hlt
  const code = [0xba, 0x00, 0x06, 0xed, 0xa9, 0x00, 0x01, 0x74, 0xfa, 0xfa, 0xf4, 0xeb, 0xfd];
  const m = createMachine({ memoryMiB: 4, engine: 'interpreter', bios: bios(code) }, host, () => (now += 1));
  m.runSlice(50);
  assert.deepEqual(events, [], 'no press yet: the guest keeps polling');
  m.powerButton();
  m.runSlice(50);
  assert.deepEqual(events, ['halted']);
});

test('the power button reaches the guest as PWRBTN_STS, and a guest that answers with S5 powers off', () => {
  const s5 = SLP_EN | (SLP_TYP_S5 << SLP_TYP_SHIFT);
  // mov dx, 0x600; wait: in ax, dx; test ah, 1 (PWRBTN_STS is bit 8); jz wait; mov dx, 0x604; mov ax, S5|SLP_EN; out dx, ax
  const vm = boot([0xba, 0x00, 0x06, 0xed, 0xf6, 0xc4, 0x01, 0x74, 0xfa, 0xba, 0x04, 0x06, 0xb8, s5 & 0xff, s5 >> 8, 0xef]);
  assert.equal(vm.run(), 'running');
  assert.deepEqual(vm.events, [], 'no button press yet: the guest keeps polling');
  vm.machine.powerButton!();
  assert.equal(vm.run(), 'off');
  assert.deepEqual(vm.events, [['poweroff', undefined]]);
});
