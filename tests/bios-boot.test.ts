// Booting without a kernel: the PC starts Debian's SeaBIOS (the stock bios.bin built for QEMU's
// i440FX machine) from its reset vector. It shadows itself through the PAM registers, finds fw_cfg,
// runs the ISA VGA BIOS, sets up PCI, the PIC, the PIT, the RTC, the keyboard and the serial ports,
// and with no disk to boot says so. Checked on the VGA text screen (in-process) and on COM1 (through
// the command line, where SeaBIOS's serial console is on).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { createMachine } from '../vmm/machine.ts';
import type { TextScreen } from '../vmm/machine-api.ts';
import { DEFAULT_BIOS } from '../main/vmm-host.ts';

const root = new URL('..', import.meta.url).pathname;

function skipReason(): string | false {
  const missing = !existsSync(DEFAULT_BIOS.bios) || !existsSync(DEFAULT_BIOS.vgaBios) ? 'SeaBIOS is not installed (apt-get install seabios)' : false;
  if (missing && process.env.CI) throw new Error(`BIOS boot test cannot run in CI: ${missing}`);
  return missing;
}

const screenText = (s: TextScreen): string[] =>
  Array.from({ length: s.rows }, (_, r) => Array.from(s.cells.subarray(r * s.cols, (r + 1) * s.cols), (c) => String.fromCharCode(c & 0xff || 32)).join('').trimEnd());

test('SeaBIOS runs its POST and the VGA BIOS, and says there is nothing to boot', { skip: skipReason(), timeout: 120_000 }, async () => {
  let screen: TextScreen | null = null;
  const firmware: string[] = [];
  const m = createMachine(
    { memoryMiB: 32, engine: 'interpreter', bios: new Uint8Array(readFileSync(DEFAULT_BIOS.bios)), vgaBios: new Uint8Array(readFileSync(DEFAULT_BIOS.vgaBios)) },
    {
      serialOut: () => {},
      display: (s) => (screen = s),
      block: () => {},
      power: () => {},
      log: (_l, msg) => firmware.push(msg),
    },
  );
  const deadline = performance.now() + 90_000;
  const text = (): string => (screen ? screenText(screen).join('\n') : '');
  while (!/No bootable device/.test(text())) {
    assert.ok(performance.now() < deadline, `no "No bootable device" on the screen; screen:\n${text()}\nfirmware log tail:\n${firmware.slice(-20).join('\n')}`);
    if (m.runSlice(20) === 'halted') await new Promise((r) => setTimeout(r, Math.min(5, m.idleMs())));
  }
  const lines = screenText(screen!);
  assert.match(lines[0]!, /^SeaBIOS \(version 1\.\d+/);
  // What SeaBIOS found, from its debug port: our fw_cfg, the RAM size, both PCI functions, the VGA BIOS.
  const log = firmware.join('\n');
  assert.match(log, /Found QEMU fw_cfg/);
  assert.match(log, /RamSize: 0x02000000/);
  assert.match(log, /init bdf=00:00\.0 id=8086:1237/);
  assert.match(log, /init bdf=00:01\.0 id=8086:7000/);
  assert.match(log, /Start SeaVGABIOS/);
  assert.match(log, /Found 2 serial ports/);
  assert.match(log, /PS2 keyboard initialized/);
  assert.match(log, /1: 0000000000100000 - 0000000002000000 = 1 RAM|3: 0000000000100000 - 0000000002000000 = 1 RAM/);
});

test('hostbox run without --kernel: SeaBIOS on the terminal through its serial console', { skip: skipReason() || (!existsSync(join(root, 'dist', 'vmm-worker.mjs')) && 'not built'), timeout: 60_000 }, async () => {
  const child = spawn(process.execPath, [join(root, 'bin', 'hostbox.js'), 'run', '--memory', '32'], { stdio: ['pipe', 'pipe', 'pipe'] });
  let out = '';
  try {
    await new Promise<void>((resolve, reject) => {
      const t = setTimeout(() => reject(new Error(`timed out; output: ${JSON.stringify(out.slice(-500))}`)), 50_000);
      child.stdout.on('data', (d: Buffer) => {
        out += d.toString('latin1');
        if (/No bootable device/.test(out)) {
          clearTimeout(t);
          resolve();
        }
      });
      child.on('exit', (code) => reject(new Error(`exited with ${code}: ${out}`)));
    });
    assert.match(out, /SeaBIOS \(version/);
  } finally {
    child.kill('SIGTERM');
  }
});
