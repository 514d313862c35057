// Memtest86+ (Debian's memtest86+ package, its 32-bit BIOS ISO), a guest nobody here wrote: SeaBIOS
// boots the CD, memtest turns on PAE paging and sweeps the RAM with pattern loops (moving
// inversions, walking ones, random sequences) that run billions of guest memory accesses through
// the binary translator's hottest code. A translator that loses or misplaces one store, or gets a
// flag wrong in a compare, shows as an error on memtest's own screen; the check engine replays
// each translation in the interpreter and stops at the first difference.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { createMachine, type PcMachine } from '../vmm/machine.ts';
import type { EngineKind, TextScreen } from '../vmm/machine-api.ts';
import { DEFAULT_BIOS } from '../main/vmm-host.ts';
import { skipOrFailInCi } from './prerequisites.ts';
import { screenText, sliceAndYield } from './text-screen.ts';

const MEMTEST_ISO = '/usr/lib/memtest86+/memtest86+ia32.iso';
// The Bochs BIOS (rombios) and the LGPL VGABIOS, from Debian's bochsbios and vgabios packages: a
// legacy BIOS that probes the IDE channels itself and finds the VGA BIOS by scanning 0xC0000.
const BOCHS_BIOS = { bios: '/usr/share/bochs/BIOS-bochs-latest', vgaBios: '/usr/share/vgabios/vgabios.bin' };

const skip = skipOrFailInCi(
  !existsSync(MEMTEST_ISO) ? 'memtest86+ is not installed (apt-get install memtest86+)' : !existsSync(DEFAULT_BIOS.bios) ? 'SeaBIOS is not installed (apt-get install seabios)' : false,
);

/** Boots memtest86+'s ISO on `engine` and runs until its screen matches `until`; returns the screen's lines and the firmware's log. */
async function runMemtest(engine: EngineKind, until: RegExp, withinMs: number, firmware = DEFAULT_BIOS): Promise<{ lines: string[]; m: PcMachine; log: string[] }> {
  const iso = new Uint8Array(readFileSync(MEMTEST_ISO));
  const log: string[] = [];
  let screen: TextScreen | null = null;
  const m = createMachine(
    {
      memoryMiB: 32,
      engine,
      bios: new Uint8Array(readFileSync(firmware.bios)),
      vgaBios: new Uint8Array(readFileSync(firmware.vgaBios)),
      cdrom: { id: 'cdrom', sectors: iso.length / 2048, sectorSize: 2048, readOnly: true },
    },
    {
      serialOut: () => {},
      display: (s) => void (s.kind === 'text' && (screen = s)),
      block: (req) => queueMicrotask(() => m.blockReply({ tag: req.tag, ok: true, data: iso.slice(req.lba * 2048, (req.lba + req.count) * 2048) })),
      power: () => {},
      log: (_level, line) => void log.push(line),
    },
    () => performance.now(),
  ) as PcMachine;
  const lines = (): string[] => (screen ? screenText(screen) : []);
  const deadline = performance.now() + withinMs;
  while (!until.test(lines().join('\n'))) {
    assert.ok(performance.now() < deadline, `memtest's screen never showed ${until}:\n${lines().join('\n')}`);
    await sliceAndYield(m);
  }
  return { lines: lines(), m, log };
}

/** What memtest says about the errors it found: its status line, and the list it opens below the header when there are any. */
function assertNoErrors(lines: string[]): void {
  const screen = lines.join('\n');
  assert.match(screen, /Memtest86\+ v6\.\d+/);
  // CPUID's family, model and vendor as memtest names them.
  assert.match(lines[0]!, /Pentium II/);
  assert.match(screen, /\[PAE\]/);
  assert.match(screen, /Errors: 0\b/, screen);
  assert.doesNotMatch(screen, /pCPU\s+Pass\s+Test\s+Failing Address/, screen);
}

test('memtest86+ from its CD runs its first six tests under the translator and finds no errors', { skip, timeout: 300_000 }, async () => {
  // Test #6 starts once #0-#5 (address walks and moving inversions over all 32 MiB) have finished.
  const { lines, m } = await runMemtest('auto', /Test #[6-9]/, 240_000);
  assertNoErrors(lines);
  // The sweeps ran as translations, not in the interpreter.
  const stats = m.bt!.stats;
  assert.ok(stats.btInsns > 10 * stats.interpInsns, `translated ${stats.btInsns}, interpreted ${stats.interpInsns}`);
});

test('memtest86+ under the check engine: its first tests, every translation replayed, no divergence', { skip, timeout: 300_000 }, async () => {
  // A divergence throws out of runSlice and fails the test with the check engine's report.
  const { lines } = await runMemtest('check', /Test #[3-9]/, 240_000);
  assertNoErrors(lines);
});

test('memtest86+ booted by the Bochs BIOS and the LGPL VGABIOS instead of SeaBIOS', { skip: skip || skipOrFailInCi(!existsSync(BOCHS_BIOS.bios) || !existsSync(BOCHS_BIOS.vgaBios) ? 'the Bochs BIOS or the LGPL VGABIOS is not installed (apt-get install bochsbios vgabios)' : false), timeout: 300_000 }, async () => {
  // rombios takes an absent IDE device for a second CD unless its registers read FFh/FFh after a
  // reset (it then waited on it for ever), and prints nothing unless the VGA BIOS is at 0xC0000.
  const { lines, log } = await runMemtest('auto', /Test #[2-9]/, 240_000, BOCHS_BIOS);
  assertNoErrors(lines);
  assert.ok(log.some((l) => /Booting from 07c0:0000/.test(l)), log.join('\n'));
});
