// The PC as a whole: what it tells the host about the guest's power state.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createMachine, type PcMachine } from './machine.ts';
import type { MachineHost, PowerEvent } from './machine-api.ts';
import { SLP_EN, SLP_TYP_S5, SLP_TYP_SHIFT } from './devices/acpi-pm/acpi-pm.ts';

/** A 64 KiB BIOS whose reset vector (F000:FFF0) runs `code`. */
function bios(code: number[]): Uint8Array {
  const img = new Uint8Array(0x10000).fill(0x90);
  img.set(code, 0xfff0);
  return img;
}

function boot(code: number[], engine: 'interpreter' | 'bt' = 'interpreter'): { events: [PowerEvent, string | undefined][]; run: () => string; machine: ReturnType<typeof createMachine> } {
  const events: [PowerEvent, string | undefined][] = [];
  let now = 0;
  const host: MachineHost = {
    serialOut: () => {},
    display: () => {},
    block: () => {},
    power: (e, d) => events.push([e, d]),
    log: () => {},
  };
  const m = createMachine({ memoryMiB: 4, engine, bios: bios(code) }, host, () => (now += 1));
  return { events, run: () => m.runSlice(50), machine: m };
}

test('HLT with interrupts off is reported once as the guest halting for good, at the HLT', () => {
  const vm = boot([0xfa, 0xf4, 0xeb, 0xfd]); // cli; hlt; jmp $-1
  assert.equal(vm.run(), 'halted');
  assert.equal(vm.run(), 'halted');
  assert.deepEqual(vm.events, [['halted', 'f000:fff1']]);
});

test('a triple fault stops the CPU until the reset it brings; a guest that does it after every reset is left shut down', () => {
  // cs lidt [0xfff8] (an IDT of limit 0 at 0xfff8); int3: #GP, then #DF, then shutdown. After every
  // reset the BIOS does it again, as a PC whose firmware triple-faults would reboot for ever.
  const vm = boot([0x2e, 0x0f, 0x01, 0x1e, 0xf8, 0xff, 0xcc, 0x90, 0, 0, 0, 0, 0, 0]);
  assert.equal(vm.run(), 'halted');
  const fault = ['triple-fault', 'exception 13 while delivering a double fault'];
  // One fault per reset (before the fix the CPU went on and faulted thousands of times a slice),
  // and after the third in a row, each at once after its reset, no more resets: stopped for good.
  assert.deepEqual(vm.events, [fault, ['reset', undefined], fault, ['reset', undefined], fault, ['halted', 'f000:fff6']]);
  assert.equal(vm.run(), 'halted');
  assert.equal(vm.events.length, 6);
  // Suspended and resumed in a fresh machine, it is still shut down.
  vm.machine.pause();
  const saved = vm.machine.saveState!();
  const again = boot([0x2e, 0x0f, 0x01, 0x1e, 0xf8, 0xff, 0xcc, 0x90, 0, 0, 0, 0, 0, 0]);
  again.machine.loadState!(saved.sections, [...saved.ram]);
  assert.ok((again.machine as PcMachine).cpu.shutdown);
  assert.equal(again.run(), 'halted');
  assert.ok(!again.events.some(([e]) => e === 'triple-fault' || e === 'reset'));
  // A reset from the user starts it again.
  vm.machine.reset();
  vm.run();
  assert.deepEqual(vm.events.slice(6, 8), [['reset', undefined], fault]);
});

test('the VGA BIOS is on the bus at 0xC0000, where a BIOS that scans for option ROMs finds it', () => {
  // mov ax, 0xc000; mov ds, ax; mov ax, [2] (the ROM's length byte and its first code byte); cli; hlt
  const code = [0xb8, 0x00, 0xc0, 0x8e, 0xd8, 0xa1, 0x02, 0x00, 0xfa, 0xf4];
  const vgaBios = new Uint8Array(0x8000);
  vgaBios.set([0x55, 0xaa, 0x40, 0xeb]);
  const host: MachineHost = { serialOut: () => {}, display: () => {}, block: () => {}, power: () => {}, log: () => {} };
  let now = 0;
  const m = createMachine({ memoryMiB: 4, engine: 'interpreter', bios: bios(code), vgaBios }, host, () => (now += 1)) as PcMachine;
  assert.equal(m.runSlice(50), 'halted');
  assert.equal(m.cpu.r32[0]! & 0xffff, 0xeb40);
});

test('code decoded from an option ROM on the bus is dropped when PAM turns its segment into DRAM', () => {
  // Call C000:0100 in the VGA BIOS on the bus (mov al, 1; retf): AL into BL. With PAM1 sending
  // writes for 0xC0000-0xC3FFF to DRAM, write mov al, 2; retf there and call again: still the ROM,
  // AL into CL. With PAM1 sending reads to DRAM too, call once more: the new bytes, AL into BH.
  const pam1 = (v: number) => [0xba, 0xf8, 0x0c, 0x66, 0xb8, 0x58, 0x00, 0x00, 0x80, 0x66, 0xef, 0xba, 0xfe, 0x0c, 0xb0, v, 0xee];
  const call = [0x9a, 0x00, 0x01, 0x00, 0xc0]; // call far c000:0100
  const code = [
    ...call, 0x88, 0xc3, // mov bl, al
    ...pam1(0x02),
    0x68, 0x00, 0xc0, 0x1f, // push 0xc000; pop ds
    0xc7, 0x06, 0x00, 0x01, 0xb0, 0x02, 0xc6, 0x06, 0x02, 0x01, 0xcb, // mov word [0x100], 0x02b0; mov byte [0x102], 0xcb
    ...call, 0x88, 0xc1, // mov cl, al
    ...pam1(0x03),
    ...call, 0x88, 0xc7, 0xfa, 0xf4, // mov bh, al; cli; hlt
  ];
  const vgaBios = new Uint8Array(0x8000);
  vgaBios.set([0x55, 0xaa, 0x40]);
  vgaBios.set([0xb0, 0x01, 0xcb], 0x100);
  const img = new Uint8Array(0x10000).fill(0x90);
  img.set(code, 0);
  img.set([0xe9, 0x0d, 0x00], 0xfff0); // jmp 0 (IP wraps to 0)
  for (const engine of ['interpreter', 'bt'] as const) {
    let now = 0;
    const host: MachineHost = { serialOut: () => {}, display: () => {}, block: () => {}, power: () => {}, log: () => {} };
    const m = createMachine({ memoryMiB: 4, engine, bios: img, vgaBios }, host, () => (now += 1)) as PcMachine;
    assert.equal(m.runSlice(50), 'halted', engine);
    assert.equal(m.cpu.r32[3]! & 0xffff, 0x0201, engine);
    assert.equal(m.cpu.r32[1]! & 0xff, 1, engine);
  }
});

test('a Multiboot kernel starts with the magic in EAX, its information in EBX and a BIOS data area as a BIOS leaves it', () => {
  // A flat image with the header's address fields, loaded at 1 MiB. It keeps the information's flags
  // in ECX, the base memory size (0x413) in DX and COM1's port (0x400) in SI, then halts.
  const load = 0x100000;
  const flags = 0x10003;
  const hdr = [0x1badb002, flags, -(0x1badb002 + flags) >>> 0, load, load, 0, 0, load + 32];
  const code = [0x8b, 0x0b, 0x66, 0x8b, 0x15, 0x13, 0x04, 0x00, 0x00, 0x66, 0x8b, 0x35, 0x00, 0x04, 0x00, 0x00, 0xf4];
  const kernel = new Uint8Array(32 + code.length);
  hdr.forEach((w, i) => new DataView(kernel.buffer).setUint32(i * 4, w >>> 0, true));
  kernel.set(code, 32);
  let now = 0;
  const host: MachineHost = { serialOut: () => {}, display: () => {}, block: () => {}, power: () => {}, log: () => {} };
  const m = createMachine({ memoryMiB: 8, engine: 'interpreter', kernel, cmdline: 'hello' }, host, () => (now += 1)) as PcMachine;
  const start = [m.cpu.r32[0]! >>> 0, m.cpu.eip, m.cpu.cr0 & 0x80000001, m.cpu.ifFlag];
  assert.deepEqual(start, [0x2badb002, load + 32, 1, false]);
  const mbi = m.cpu.r32[3]! >>> 0;
  m.runSlice(5);
  assert.equal(m.cpu.r32[1]! >>> 0, 0x245); // memory, command line, memory map, loader name
  assert.equal(m.cpu.r32[2]! & 0xffff, 636);
  assert.equal(m.cpu.r32[6]! & 0xffff, 0x3f8);
  assert.equal(m.mem.read32(mbi + 16) >>> 0 > 0 && String.fromCharCode(...m.mem.u8.subarray(m.mem.read32(mbi + 16) >>> 0, (m.mem.read32(mbi + 16) >>> 0) + 5)), 'hello');
});

test('HLT with interrupts on is waiting, not stopped', () => {
  const vm = boot([0xfb, 0xf4, 0xeb, 0xfd]); // sti; hlt; jmp $-1
  vm.run();
  vm.run();
  assert.deepEqual(vm.events, []);
});

test('a CPU halted with interrupts on stays halted when the host runs it again with nothing due', () => {
  // sti; hlt; cli; hlt. Nothing ever interrupts it, so it must never reach the CLI: before the fix a
  // second slice ran on past the first HLT and the guest was reported stopped for good (iPXE was).
  for (const engine of ['interpreter', 'bt'] as const) {
    const vm = boot([0xfb, 0xf4, 0xfa, 0xf4], engine);
    for (let k = 0; k < 3; k++) assert.equal(vm.run(), 'halted');
    assert.deepEqual(vm.events, [], engine);
    assert.ok((vm.machine as PcMachine).cpu.ifFlag, engine);
  }
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

/** Assembles real-mode code for F000:0000 with nasm, or null where nasm is missing. */
function firmware(source: string): Uint8Array | null {
  const dir = mkdtempSync(join(tmpdir(), 'hostbox-machine-'));
  try {
    writeFileSync(join(dir, 'a.asm'), `bits 16\norg 0\n${source}\n`);
    execFileSync('nasm', ['-f', 'bin', '-o', join(dir, 'a.bin'), join(dir, 'a.asm')], { stdio: 'pipe' });
    const img = new Uint8Array(0x10000).fill(0x90);
    img.set(readFileSync(join(dir, 'a.bin')));
    img.set([0xea, 0x00, 0x00, 0x00, 0xf0], 0xfff0); // jmp far F000:0000
    return img;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT' && !process.env.CI) return null;
    throw e;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

// What an ACPI OS on the 8259s does with the fixed power button (Linux: acpi_pic_sci_set_trigger,
// then ACPICA's fixed event handler): the SCI, IRQ 9, level-triggered in the ELCR; PWRBTN_EN; on the
// interrupt, PM1_STS read and written back (write 1 to clear), EOI to both PICs; then S5. A line
// that stayed high would bring the handler back at once, forever; a second interrupt for the one
// press halts the guest instead of S5.
const SCI_GUEST = `
  cli
  xor ax, ax
  mov ds, ax
  mov ss, ax
  mov sp, 0x7000
  mov word [0x71*4], sci          ; IRQ 9 is slave IR1: vector 0x71
  mov word [0x71*4+2], 0xf000
  mov al, 0x11                    ; ICW1: ICW4 follows
  out 0x20, al
  out 0xa0, al
  mov al, 0x08                    ; ICW2: vectors
  out 0x21, al
  mov al, 0x70
  out 0xa1, al
  mov al, 0x04                    ; ICW3: slave on IR2
  out 0x21, al
  mov al, 0x02
  out 0xa1, al
  mov al, 0x01                    ; ICW4: 8086 mode
  out 0x21, al
  out 0xa1, al
  mov al, 0xfb                    ; OCW1: only the cascade and IRQ 9 unmasked
  out 0x21, al
  mov al, 0xfd
  out 0xa1, al
  mov dx, 0x4d1                   ; ELCR2: IRQ 9 level-triggered
  mov al, 0x02
  out dx, al
  mov dx, 0x602                   ; PM1_EN: PWRBTN_EN
  mov ax, 0x0100
  out dx, ax
  sti
idle:
  hlt
  mov al, [0x500]                 ; interrupts taken
  cmp al, 0
  je idle
  cmp al, 1
  jne stop                        ; more than one for one press
  mov dx, 0x604                   ; PM1_CNT: SLP_TYP 5 (S5), SLP_EN, SCI_EN
  mov ax, 0x3401
  out dx, ax
stop:
  cli
  hlt
sci:
  push ax
  push dx
  mov dx, 0x600                   ; PM1_STS: clear what is set
  in ax, dx
  out dx, ax
  inc byte [0x500]
  mov al, 0x20                    ; EOI, slave then master
  out 0xa0, al
  out 0x20, al
  pop dx
  pop ax
  iret
`;

const sciFirmware = firmware(SCI_GUEST);

test('the power button interrupts a guest through the SCI (IRQ 9, level), and one that answers with S5 powers off', { skip: sciFirmware ? false : 'nasm is not installed' }, () => {
  const events: PowerEvent[] = [];
  let now = 0;
  const host: MachineHost = { serialOut: () => {}, display: () => {}, block: () => {}, power: (e) => events.push(e), log: () => {} };
  const m = createMachine({ memoryMiB: 4, engine: 'interpreter', bios: sciFirmware! }, host, () => (now += 1));
  for (let i = 0; i < 5; i++) assert.equal(m.runSlice(50), 'halted', 'waiting in HLT for the SCI');
  assert.deepEqual(events, [], 'no interrupt before the press: waiting, not stopped');
  m.powerButton();
  assert.equal(m.runSlice(50), 'off');
  assert.deepEqual(events, ['poweroff'], 'one interrupt for one press, then S5');
});
