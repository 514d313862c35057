// Disk images for the BIOS tests: a master boot record assembled by nasm from tests/boot-sectors/,
// optionally a text in the second sector for it to read through INT 13h.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const sources = new URL('./boot-sectors/', import.meta.url).pathname;

/** `size` bytes: the MBR nasm makes of tests/boot-sectors/`source`, then `sector2` at offset 512. */
export function bootSectorImage(source: string, size: number, sector2?: string): Uint8Array {
  const dir = mkdtempSync(join(tmpdir(), 'hostbox-mbr-'));
  try {
    const mbr = join(dir, 'mbr.bin');
    const asm = spawnSync('nasm', ['-f', 'bin', '-o', mbr, join(sources, source)], { encoding: 'utf8' });
    assert.equal(asm.status, 0, `nasm: ${asm.error?.message ?? asm.stderr}`);
    const image = new Uint8Array(size);
    image.set(readFileSync(mbr), 0);
    if (sector2) image.set(new TextEncoder().encode(sector2), 512);
    return image;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
