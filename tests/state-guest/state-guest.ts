// The checksum guest (checksum.asm) for the suspend and resume tests: assembled with nasm into a
// 64 KiB image the PC starts as its BIOS, and a driver that runs it in-process on a machine whose
// host time is a counter, so a run is the same every time.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createMachine } from '../../vmm/machine.ts';
import type { Machine, MachineHost, VmConfig } from '../../vmm/machine-api.ts';

const source = new URL('./checksum.asm', import.meta.url).pathname;

/** The guest image; `defines` shortens or lengthens the run (ROUNDS, WORDS). */
export function checksumGuest(defines: Record<string, number> = {}): Uint8Array {
  const dir = mkdtempSync(join(tmpdir(), 'hostbox-state-guest-'));
  try {
    const out = join(dir, 'checksum.bin');
    const args = ['-f', 'bin', '-o', out, ...Object.entries(defines).map(([k, v]) => `-D${k}=${v}`), source];
    const r = spawnSync('nasm', args, { encoding: 'utf8' });
    assert.equal(r.status, 0, `nasm: ${r.error?.message ?? r.stderr}`);
    return new Uint8Array(readFileSync(out));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

export interface GuestRun {
  machine: Machine;
  output: () => string;
  off: () => boolean;
}

/**
 * A machine running the image, with host time advancing 0.05 ms at each look and the calendar
 * fixed at `wallMs` (deterministic).
 */
export function startGuest(bios: Uint8Array, memoryMiB = 16, wallMs = 1_764_000_000_000, engine: VmConfig['engine'] = 'interpreter'): GuestRun {
  let text = '';
  let off = false;
  const host: MachineHost = {
    serialOut: (port, b) => {
      if (port === 0) text += Buffer.from(b).toString('latin1');
    },
    display: () => {},
    block: () => {},
    power: (e) => {
      if (e === 'poweroff') off = true;
    },
    log: () => {},
  };
  let t = 0;
  const config: VmConfig = { memoryMiB, engine, bios };
  const machine = createMachine(config, host, () => (t += 0.05), () => wallMs);
  return { machine, output: () => text, off: () => off };
}

/** Runs slices until the guest powers off (or `slices` have run); returns whether it is off. */
export function runSlices(g: GuestRun, slices = Infinity): boolean {
  for (let i = 0; i < slices && !g.off(); i++) g.machine.runSlice(5);
  return g.off();
}
