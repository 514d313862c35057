// Writes the committed compatibility fixture for the current state format: the checksum guest
// (tests/state-guest/checksum.asm, small build) suspended in the middle of its run, as
// tests/state-guest/format-N/{checksum.bin,checksum.state}. The state names its BIOS by a path
// relative to its own folder, so the folder works wherever the repository is. Run once per new
// format version and commit the result; never regenerate an old one (tests/state-fixtures.test.ts).
//
//   node --import tsx scripts/make-state-fixture.ts
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { checksumGuest, runSlices, startGuest } from '../tests/state-guest/state-guest.ts';
import { StateFileBuilder, STATE_FORMAT_VERSION } from '../main/state-file.ts';
import { hostboxVersion } from '../main/vmm-host.ts';

export const FIXTURE_DEFINES = { ROUNDS: 400, WORDS: 0x400 };

const dir = new URL(`../tests/state-guest/format-${STATE_FORMAT_VERSION}/`, import.meta.url).pathname;
mkdirSync(dir, { recursive: true });
const image = checksumGuest(FIXTURE_DEFINES);
writeFileSync(join(dir, 'checksum.bin'), image);
const g = startGuest(image);
runSlices(g, 3);
if (g.off()) throw new Error('the fixture guest finished before it could be suspended');
g.machine.pause();
const saved = g.machine.saveState!();
const b = new StateFileBuilder();
for (const s of saved.sections) b.addSection(s);
for (const r of saved.ram) b.addRam(r);
const bytes = await b.write(join(dir, 'checksum.state'), {
  hostbox: hostboxVersion(),
  created: new Date().toISOString(),
  memoryMiB: 16,
  config: { memoryMiB: 16, engine: 'interpreter', biosPath: 'checksum.bin', biosSerialConsole: true },
  disks: [],
});
process.stdout.write(`${join(dir, 'checksum.state')}: ${bytes} bytes, suspended after ${JSON.stringify(g.output())}\n`);
